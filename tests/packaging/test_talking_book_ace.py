"""Ace by DAISY (npm @daisy/ace, run with Debian's Chromium) on both EPUB variants: no serious or
critical violation. Skipped with the reason when Ace or Chromium is not installed."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from delivery import epub3
from talking_book_helpers import make_book, make_mp3s

ROOT = Path(__file__).resolve().parents[2]
ACE = ROOT / "node_modules" / ".bin" / "ace-puppeteer"
CHROMIUM = Path("/usr/bin/chromium")

needs_ace = pytest.mark.skipif(not ACE.exists() or not CHROMIUM.exists(),
                               reason="Ace by DAISY is not installed (npm install of @daisy/ace) or no /usr/bin/chromium")


def test_the_docs_name_the_puppeteer_runner_not_the_electron_one():
    """Found in QA: `ace` in node_modules/.bin is the Electron runner; the CLI on puppeteer is `ace-puppeteer`."""
    text = (ROOT / "docs" / "interop.md").read_text(encoding="utf-8")
    assert "node_modules/.bin/ace-puppeteer" in text and ACE.name == "ace-puppeteer"
    assert "node_modules/.bin/ace " not in text


@needs_ace
@pytest.mark.parametrize("full_text", [True, False], ids=["full-text", "audio-only"])
def test_ace_finds_no_serious_or_critical_violation(tmp_path, full_text):
    epub = tmp_path / "book.epub"
    epub3.write_epub(make_book(make_mp3s(tmp_path), full_text=full_text), epub)
    # Ace's puppeteer runner already launches with --no-sandbox; it must use Debian's Chromium
    # (no browser download at install time).
    env = dict(os.environ, PUPPETEER_EXECUTABLE_PATH=str(CHROMIUM))
    subprocess.run([str(ACE), "-s", "-o", str(tmp_path / "ace"), str(epub)], env=env, check=True, timeout=600)
    report = json.loads((tmp_path / "ace" / "report.json").read_text())
    found = [(x["earl:test"]["earl:impact"], x["earl:test"]["dct:title"])
             for doc in report["assertions"] for x in doc["assertions"]]
    assert [f for f in found if f[0] in ("serious", "critical")] == []
    assert found == []  # today not even a minor or moderate one
