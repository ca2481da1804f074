"""`sachnoi ingest`: bad input is refused with a clear message and changes nothing; the demo
session becomes a published book whose HLS playlist ffprobe reads."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, SACHNOI_HOME=str(home), SACHNOI_SECRET_KEY="x" * 40)
    return subprocess.run([sys.executable, "-m", "web.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def store_files(home: Path) -> list[Path]:
    media = home / "media"
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def book_count(home: Path) -> int:
    import sqlite3
    db = home / "sachnoi.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM books").fetchone()[0]


@pytest.mark.parametrize("case", ["missing", "no-audio", "not-audio", "truncated"])
def test_ingest_bad_input_is_refused_and_changes_nothing(tmp_path, case):
    home = tmp_path / "instance"
    folder = tmp_path / "session"
    if case != "missing":
        folder.mkdir()
    if case == "no-audio":
        (folder / "notes.txt").write_text("ghi chú")
        expected = "không có tệp âm thanh"
    elif case == "not-audio":
        good = np.zeros((44100, 1), dtype=np.float32)
        sf.write(folder / "take-01.wav", good, 44100)
        (folder / "take-02.wav").write_bytes(b"PK\x03\x04" + os.urandom(4000))  # a renamed ZIP
        expected = "take-02.wav"
    elif case == "truncated":
        sf.write(folder / "take-01.wav", np.full((88200, 1), 0.1, dtype=np.float32), 44100, subtype="PCM_16")
        data = (folder / "take-01.wav").read_bytes()
        (folder / "take-01.wav").write_bytes(data[:40])  # header only: the data chunk is cut off
        expected = "take-01.wav"
    else:
        expected = "không tìm thấy thư mục"
    result = run_cli(home, "ingest", str(folder), "--quiet")
    assert result.returncode != 0
    assert expected in result.stderr.lower() or expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert store_files(home) == []
    assert book_count(home) == 0


def test_demo_ingest_gives_a_published_book_with_a_playlist_ffprobe_reads(demo_home):
    import sqlite3
    with sqlite3.connect(demo_home / "sachnoi.db") as conn:
        uuid, state, duration = conn.execute("SELECT uuid, state, duration_s FROM books").fetchone()
        chapters = conn.execute("SELECT title, duration_s FROM chapters ORDER BY position").fetchall()
    assert state == "published"
    expected = json.loads((ROOT / "examples/demo-session/expected-chapters.json").read_text())
    assert len(chapters) == len(expected)
    assert 150 < duration < 220
    master = demo_home / "media" / "derived" / "books" / uuid / "hls" / "master.m3u8"
    assert master.is_file()
    probe = subprocess.run(["ffprobe", "-v", "error", "-protocol_whitelist", "file,crypto,data",
                            "-show_entries", "format=duration:stream=codec_name", "-of", "json", str(master)],
                           capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    info = json.loads(probe.stdout)
    assert any(s["codec_name"] == "aac" for s in info["streams"])
    assert abs(float(info["format"]["duration"]) - duration) < 1.0
