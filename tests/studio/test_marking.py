"""Chapter marks by trust order, and sample-exact cuts and pickups, on generated sessions."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import func, select

from catalog.models import Book, Mark
from recordings.riff import append_cue_markers, read_cue_markers
from studio.context import Decisions
from studio.edits import EditError, Pickup, edit_list, render, span
from studio.errors import SessionFolderError, StudioError
from studio.pipeline import _edit_lists, chapter_spans, ingest_folder, mark_chapters
from studio_helpers import RATE, chapters_take, speech, write_wav

ROOT = Path(__file__).resolve().parents[2]
TOML = '[book]\ntitle = "Sách thử"\n[chapters]\nmin_chapter_s = 4.0\n'


def spans_of(ctx, book_id):
    with ctx.sessions() as session:
        return [(take.filename, round(start, 3), None if end is None else round(end, 3), title, mark.source)
                for take, start, end, title, mark in chapter_spans(session, book_id)]


def test_pause_detection_finds_the_gaps(ctx, tmp_path):
    samples, gaps = chapters_take([6, 6, 6])
    write_wav(tmp_path / "take-01.wav", samples)
    (tmp_path / "session.toml").write_text(TOML, encoding="utf-8")
    book = ingest_folder(ctx, tmp_path)
    mark_chapters(ctx, book, Decisions(approve_marks=True))
    spans = spans_of(ctx, book)
    assert [s[4] for s in spans] == ["pauses"] * 3
    starts = [s[1] for s in spans]
    assert starts[0] == 0.0
    for start, (_gap_start, gap_end) in zip(starts[1:], gaps):
        assert gap_end - 0.75 - 0.05 <= start <= gap_end  # 0.75 s of room tone kept before the words
    mark_chapters(ctx, book, Decisions(approve_marks=True))  # idempotent
    assert spans_of(ctx, book) == spans


def test_demo_session_pause_marks_match_expected_chapters(ctx):
    folder = ROOT / "examples" / "demo-session"
    expected = json.loads((folder / "expected-chapters.json").read_text(encoding="utf-8"))
    book = ingest_folder(ctx, folder)
    mark_chapters(ctx, book, Decisions(approve_marks=True))
    spans = spans_of(ctx, book)
    assert [s[0] for s in spans] == [e["take"] for e in expected]
    for (_take, start, _end, _title, _source), want in zip(spans, expected):
        if want["gap_s"] is None:
            assert start == 0.0
        else:
            assert want["gap_s"][0] <= start < want["gap_s"][1]


def test_audacity_labels_win_over_pauses_and_carry_titles_and_cuts(ctx, tmp_path):
    samples, _gaps = chapters_take([6, 6, 6])
    write_wav(tmp_path / "take-01.wav", samples)
    (tmp_path / "take-01.txt").write_text(
        "0.000000\t0.000000\tMở đầu\n3,5\t4.25\tXoá\n9.1\t9.1\tChương hai\n\\ 100.0\t2000.0\n",
        encoding="utf-8")
    (tmp_path / "session.toml").write_text(TOML, encoding="utf-8")
    book = ingest_folder(ctx, tmp_path)
    mark_chapters(ctx, book, Decisions(approve_marks=True))
    assert spans_of(ctx, book) == [("take-01.wav", 0.0, 9.1, "Mở đầu", "audacity"),
                                   ("take-01.wav", 9.1, None, "Chương hai", "audacity")]
    with ctx.sessions() as session:
        cut = session.scalars(select(Mark).where(Mark.kind == "cut")).one()
        assert (cut.start_s, cut.end_s, cut.source) == (3.5, 4.25, "audacity")


def test_cue_markers_give_chapters(ctx, tmp_path):
    samples, gaps = chapters_take([6, 6, 6])
    path = write_wav(tmp_path / "take-01.wav", samples)
    frames = [0, int(gaps[0][1] * RATE), int(gaps[1][1] * RATE)]
    append_cue_markers(path, [(frames[0], "Chương 1"), (frames[1], "Chương 2"), (frames[2], "Chương 3")])
    assert [m.frame for m in read_cue_markers(path)] == frames
    assert sf.info(str(path)).frames == samples.shape[0]  # still a valid WAV for libsndfile
    (tmp_path / "session.toml").write_text(TOML, encoding="utf-8")
    book = ingest_folder(ctx, tmp_path)
    mark_chapters(ctx, book, Decisions(approve_marks=True))
    spans = spans_of(ctx, book)
    assert [(s[1], s[3], s[4]) for s in spans] == [
        (0.0, "Chương 1", "cue"), (round(frames[1] / RATE, 3), "Chương 2", "cue"),
        (round(frames[2] / RATE, 3), "Chương 3", "cue")]


def test_session_toml_list_beats_pauses_but_not_labels(ctx, tmp_path):
    samples, _ = chapters_take([6, 6])
    write_wav(tmp_path / "a.wav", samples)
    write_wav(tmp_path / "b.wav", samples)
    (tmp_path / "b.txt").write_text("0\t0\tNhãn B\n", encoding="utf-8")
    (tmp_path / "session.toml").write_text(TOML + '''
[[chapters.list]]
take = "a.wav"
start_s = 0
title = "Danh sách 1"
[[chapters.list]]
take = "a.wav"
start_s = 5.0
title = "Danh sách 2"
[[chapters.list]]
take = "b.wav"
start_s = 2.0
title = "Bị nhãn đè"
''', encoding="utf-8")
    book = ingest_folder(ctx, tmp_path)
    mark_chapters(ctx, book, Decisions(approve_marks=True))
    assert [(s[0], s[1], s[3], s[4]) for s in spans_of(ctx, book)] == [
        ("a.wav", 0.0, "Danh sách 1", "session"), ("a.wav", 5.0, "Danh sách 2", "session"),
        ("b.wav", 0.0, "Nhãn B", "audacity")]


# -- edits ----------------------------------------------------------------------------------------------
def _ramp(frames: int, offset: int = 0) -> np.ndarray:
    """Each sample a distinct 24-bit value, so any misplaced sample shows."""
    return (((np.arange(frames) + offset) % 4_000_000 - 2_000_000) / 2 ** 23).astype(np.float32)[:, None]


def test_cut_and_pickup_are_sample_exact(ctx, tmp_path):
    main = _ramp(RATE * 3)
    pickup = _ramp(RATE // 2, offset=5_000_000 % 4_000_000 + 1)
    write_wav(tmp_path / "take-01.wav", main)
    write_wav(tmp_path / "pickup-01.wav", pickup)
    (tmp_path / "take-01.txt").write_text("0.5\t0.75\tcut\n", encoding="utf-8")
    (tmp_path / "session.toml").write_text('''[book]
title = "Cắt và thu bổ sung"
[[takes]]
file = "take-01.wav"
[[takes]]
file = "pickup-01.wav"
replaces = "take-01.wav"
replace_start_s = 2.0
replace_end_s = 2.25
''', encoding="utf-8")
    book = ingest_folder(ctx, tmp_path)
    mark_chapters(ctx, book, Decisions(approve_marks=True))
    with ctx.sessions() as session:
        (take, start, end, _t, _m), = chapter_spans(session, book)  # the pickup is not a chapter of its own
        segments = span(_edit_lists(session, book)[take.id], 0, None)
    out = tmp_path / "out.flac"
    render(segments, ctx.store.find_original, out)
    got, rate = sf.read(str(out), dtype="float32", always_2d=True)
    want = np.concatenate([main[:24_000], main[36_000:96_000], pickup, main[108_000:]])
    assert rate == RATE and got.shape == want.shape
    assert np.array_equal(got, want)


def test_edit_list_rules():
    a, b = "a" * 64, "b" * 64
    edits = edit_list(a, 1000, cuts=[(100, 200), (150, 250)], pickups=[Pickup(b, 30, 500, 600)])
    assert [(s.sha256[0], s.start, s.stop) for s in edits] == [("a", 0, 100), ("a", 250, 500), ("b", 0, 30),
                                                               ("a", 600, 1000)]
    first, second = span(edits, 0, 550), span(edits, 550, None)
    assert sum(s.frames for s in first) == 100 + 250 + 30 and [s.start for s in second] == [600]
    with pytest.raises(EditError):
        edit_list(a, 1000, pickups=[Pickup(b, 10, 100, 300), Pickup(b, 10, 200, 400)])
    with pytest.raises(EditError):
        edit_list(a, 1000, pickups=[Pickup(b, 10, 900, 1200)])


def test_pickup_with_other_rate_is_refused(ctx, tmp_path):
    a = write_wav(tmp_path / "a.wav", speech(1.0))
    b = write_wav(tmp_path / "b.wav", speech(1.0, rate=44_100), rate=44_100)
    sha_a, _ = ctx.store.put_original(a)
    sha_b, _ = ctx.store.put_original(b)
    edits = edit_list(sha_a, RATE, pickups=[Pickup(sha_b, 44_100, 100, 200)])
    with pytest.raises(EditError, match="tần số"):
        render(edits, ctx.store.find_original, tmp_path / "x.flac")
    assert not (tmp_path / "x.flac").exists()


# -- session.toml and times that crashed ingest or mastering (found with tests/security/test_fuzz_atheris.py)
def _books(ctx) -> int:
    with ctx.sessions() as session:
        return session.scalar(select(func.count()).select_from(Book))


@pytest.mark.parametrize("toml, where", [
    ('book = "Sách"', "[book]"),
    ("chapters = 5", "[chapters]"),
    ('takes = ["a.wav"]', "[[takes]]"),
    ("[[takes]]\nfile = 5", "[[takes]] #1 file"),
    ('[[takes]]\nfile = "a\\u0000.wav"', "[[takes]] #1 file"),
    (f'[[takes]]\nfile = "{"x" * 300}.wav"', "[[takes]] #1 file"),
    ('[[takes]]\nfile = "a.wav"\nlabels = 3', "[[takes]] #1 labels"),
    ("[chapters]\ntitles = 5", "chapters.titles"),
    ('[chapters]\nmin_pause_s = "hai"', "chapters.min_pause_s"),
    ("[chapters]\nmin_pause_s = nan", "chapters.min_pause_s"),
    ("[chapters]\nmin_pause_s = " + "9" * 400, "chapters.min_pause_s"),
    ("[chapters]\nmin_pause_s = " + "9" * 5000, "invalid session.toml"),
    ("[chapters]\nlist = [1]", "[[chapters.list]]"),
    ("cuts = [1]", "[[cuts]]"),
])
def test_session_toml_of_the_wrong_shape_is_a_clear_error(ctx, tmp_path, toml, where):
    write_wav(tmp_path / "a.wav", speech(1.0))
    (tmp_path / "session.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(SessionFolderError, match=re.escape(where)):
        ingest_folder(ctx, tmp_path)
    assert _books(ctx) == 0


PICKUP = '[[takes]]\nfile = "a.wav"\n[[takes]]\nfile = "b.wav"\nreplaces = "a.wav"\nreplace_start_s = 0.1\n'


@pytest.mark.parametrize("toml, labels", [
    (PICKUP + "replace_end_s = inf", None),
    (PICKUP + "replace_end_s = 1e308", None),                # finite, but overflows a frame count
    (PICKUP + "replace_end_s = " + "9" * 400, None),         # an int float() cannot take
    ('[[cuts]]\ntake = "a.wav"\nstart_s = 0.1\nend_s = 1e308', None),
    ("", "0.1\t1e308\tcut\n"),
])
def test_times_that_overflow_frame_counts_are_refused_at_ingest(ctx, tmp_path, toml, labels):
    write_wav(tmp_path / "a.wav", speech(1.0))
    write_wav(tmp_path / "b.wav", speech(1.0))
    (tmp_path / "session.toml").write_text(toml, encoding="utf-8")
    if labels is not None:
        (tmp_path / "a.txt").write_text(labels, encoding="utf-8")
    with pytest.raises(StudioError):
        ingest_folder(ctx, tmp_path)
    assert _books(ctx) == 0


def test_detected_chapters_are_numbered_and_session_titles_override(ctx, tmp_path):
    """Issue 16.15: pause detection gave chapters with empty titles; they are numbered "Chương N" in
    book order, `[chapters] titles` from session.toml name them where listed, and empty label names
    are numbered too."""
    samples, _gaps = chapters_take([6, 6, 6])
    write_wav(tmp_path / "a.wav", samples)
    write_wav(tmp_path / "b.wav", samples)
    (tmp_path / "b.txt").write_text("0\t0\t\n", encoding="utf-8")  # a label with no name
    (tmp_path / "session.toml").write_text(
        TOML.replace("[chapters]\n", '[chapters]\ntitles = ["Mở đầu", "Sơn Tinh"]\n'), encoding="utf-8")
    book = ingest_folder(ctx, tmp_path)
    mark_chapters(ctx, book, Decisions(approve_marks=True))
    assert [s[3] for s in spans_of(ctx, book)] == ["Mở đầu", "Sơn Tinh", "Chương 3", "Chương 4"]

    plain = tmp_path / "plain"
    plain.mkdir()
    write_wav(plain / "take-01.wav", samples)
    (plain / "session.toml").write_text(TOML, encoding="utf-8")
    book = ingest_folder(ctx, plain)
    mark_chapters(ctx, book, Decisions(approve_marks=True))
    mark_chapters(ctx, book, Decisions(approve_marks=True))  # again: the same names, not doubled
    assert [s[3] for s in spans_of(ctx, book)] == ["Chương 1", "Chương 2", "Chương 3"]
