"""User-facing messages live in the message catalogue (issue 15.6): a Vietnamese sentence followed by
its English translation in brackets, "Tệp rỗng (empty file)", is a message the reader cannot get in
their language. The msgid is Vietnamese, the English is in web/translations/en/.../messages.po.

The walk reads every string constant (implicitly joined pieces and f-string text included) with `ast`.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("catalog", "studio", "streaming", "web", "recordings", "delivery", "mastering")
VIETNAMESE = re.compile(r"[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ]", re.I)
# "(file too large)", "(not allowed)": ASCII words in brackets after Vietnamese text; a unit or a
# name alone ("(LUFS)", "(dBTP)", "(Marrakesh)") is not a translation
ENGLISH = re.compile(r"(?<!%)\((?=[^)]*[a-z]{3})(?![A-Z][a-z]+\))[A-Za-z][\x20-\x28\x2a-\x7e]*\)")

# Where the bilingual form stays, and why. Keep it short: a new entry needs a reason.
ALLOWED = {
    # the command line runs without a request and without a locale: its own output stays bilingual
    # (our errors reach it through web.labels.cli_text, Vietnamese then the catalogue's English)
    "web/cli.py", "web/cli_core.py", "web/cli_users.py", "web/cli_ops.py", "web/cli_mastering.py",
    "web/cli_studio.py", "web/cli_catalog.py", "web/cli_manuscript.py", "web/runtime.py", "web/serve.py",
    # start-up refusals read by the operator in the log before any request (web.security, web.config)
    "web/security.py", "web/config.py",
    # OAI-PMH error texts: protocol strings for harvesting machines, next to their error code
    "catalog/oai.py",
    # "(Media Overlays)" is the EPUB 3 feature's name in a MARC note and a package label, not a gloss
    "catalog/marc.py", "catalog/talking_books.py",
}

# Not moved yet (issue 15.6 left over): messages of the lower layers, which import nothing of ours
# and so have no catalogue hook yet (recordings, delivery, mastering); job-failure texts stored in
# job rows and logs (packaging, talking books, espeak, the worker); backup/restore (CLI); session
# folders and markers (their tests match the English half of str(exc)). A file here that becomes
# clean must leave the list; no file may join it.
PENDING = {
    "catalog/backup.py", "catalog/backup_database.py", "catalog/backup_media.py", "catalog/integrity.py",
    "catalog/tags.py",
    "studio/espeak.py", "studio/jobs.py", "studio/package_hls.py",
    "studio/package_jobs.py", "studio/package_spec.py", "studio/package_tags.py", "studio/pipeline.py",
    "studio/session_folder.py", "studio/talking_books.py", "studio/watch.py", "studio/worker.py",
    "recordings/disk.py", "recordings/probe.py", "recordings/riff.py", "recordings/store.py",
    "delivery/ffmpeg.py", "delivery/hls.py", "delivery/talking_book.py", "delivery/video.py",
    "mastering/audio.py", "mastering/plots.py", "mastering/profiles.py", "mastering/qc.py", "mastering/runner.py",
    "web/app.py", "web/media.py", "web/translations/dynamic.py",
}


def _texts(tree: ast.AST):
    """(line, text) of each string; docstrings (a string alone as a statement) are not messages."""
    docstrings = {id(node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    for node in ast.walk(tree):
        if id(node) in docstrings:
            continue
        if isinstance(node, ast.JoinedStr):
            yield node.lineno, "".join(v.value for v in node.values
                                       if isinstance(v, ast.Constant) and isinstance(v.value, str))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def inline_english(path: Path) -> list[str]:
    """'line: text' for each string in `path` with Vietnamese then a bracketed English gloss."""
    found: dict[int, str] = {}
    for lineno, text in _texts(ast.parse(path.read_text(encoding="utf-8"))):
        for match in ENGLISH.finditer(text):
            if VIETNAMESE.search(text[:match.start()]):
                found.setdefault(lineno, f"{lineno}: {text[:90]!r}")
                break
    return [found[line] for line in sorted(found)]


def test_the_detector_sees_a_gloss_and_not_a_unit(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text('A = "Tệp rỗng (empty file)"\nB = ("Không có sách "\n     "(no such book)")\n'
                      'C = f"{x}: tệp quá lớn (file too large, > {n} MB)"\n'
                      'D = "Độ to tích hợp (LUFS)"\nE = "Đỉnh thực (dBTP)"\nF = "Hiệp ước (Marrakesh)"\n'
                      'G = "Empty file (no data)"\nH = "Quá %(limit)s MB (%(name)s)"\n', encoding="utf-8")
    assert [line.split(":")[0] for line in inline_english(sample)] == ["1", "2", "4"]


def _hits() -> dict[str, list[str]]:
    hits = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel not in ALLOWED and "/migrations/" not in rel:
                hits[rel] = inline_english(path)
    return hits


def test_no_inline_vietnamese_english_messages():
    found = [f"{rel}:{hit}" for rel, lines in _hits().items() if rel not in PENDING for hit in lines]
    assert not found, "move these to the message catalogue (msgid Vietnamese, English in messages.po):\n" + \
        "\n".join(found)


def test_the_pending_list_only_shrinks():
    hits = _hits()
    cleaned = sorted(rel for rel in PENDING if not hits.get(rel))
    assert not cleaned, f"no inline messages left: take these off PENDING: {cleaned}"
