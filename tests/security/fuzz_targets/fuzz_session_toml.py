"""atheris target: what ingest reads from a session folder's `session.toml` before it stores anything.

A fixed folder holds two short takes (`a.wav` with an Audacity label file `a.txt`, `b.wav` with
cue/labl chunks); each input becomes `session.toml`. Then, as `studio.pipeline.ingest_checked` and
the mark stage do: `read_session_folder`, the `[book]` table, `take_marks` per take, the pickup
ranges and the pause-marking settings. Accepted outcome: values of the documented shape, or a
`StudioError` (the session folder's own error class).

Input: first byte even → the rest is the file's text (run with `fuzz_session_toml.dict`); odd → the
rest drives a structure-aware builder (`atheris.FuzzedDataProvider`) that writes TOML with the keys
session.toml uses and values of every TOML type, so wrong types and odd numbers are reached quickly.
"""
from __future__ import annotations

import json
import math

import atheris

import harness

with atheris.instrument_imports(include=["tomllib", "studio.session_folder", "studio.markers",
                                         "studio.pipeline"]):
    from studio.markers import PauseMarking, take_marks
    from studio.pipeline import _pickup_config
    from studio.session_folder import read_session_folder
from recordings.probe import MAX_RATE_HZ
from studio.edits import to_frames
from studio.errors import StudioError

FOLDER = harness.workdir() / "session"
KEYS = ["book", "title", "takes", "file", "labels", "replaces", "replace_start_s", "replace_end_s",
        "chapters", "list", "titles", "take", "start_s", "end_s", "cuts", "threshold_dbfs", "min_pause_s",
        "min_chapter_s", "head_room_tone_s"]
STRINGS = ["a.wav", "b.wav", "a.txt", "../a.wav", "/etc/hosts", "a.wav\x00", "x" * 300, "", "cut", "1.5", "nan"]
FLOATS = [0.0, 0.1, 0.3, 0.6, -1.0, 1e308, math.inf, -math.inf, math.nan]


def _value(fdp: atheris.FuzzedDataProvider, depth: int):
    kind = fdp.ConsumeIntInRange(0, 7 if depth < 3 else 4)
    if kind == 0:
        return fdp.PickValueInList(STRINGS)
    if kind == 1:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 12))
    if kind == 2:
        return fdp.PickValueInList(FLOATS) if fdp.ConsumeBool() else fdp.ConsumeRegularFloat()
    if kind == 3:
        return fdp.ConsumeIntInRange(-2, 2) if fdp.ConsumeBool() else fdp.ConsumeInt(8)
    if kind == 4:
        return fdp.ConsumeBool()
    if kind == 5:
        return [_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    return _table(fdp, depth + 1)


def _table(fdp: atheris.FuzzedDataProvider, depth: int) -> dict:
    return {fdp.PickValueInList(KEYS): _value(fdp, depth) for _ in range(fdp.ConsumeIntInRange(0, 5))}


def _toml(value) -> str:
    """TOML for a value of the builder (inline tables and arrays; JSON string escapes are TOML's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else "inf" if value == math.inf else "-inf" if value == -math.inf \
            else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"


def session_toml(data: bytes) -> bytes:
    if not data or data[0] % 2 == 0:
        return data[1:]
    settings = _table(atheris.FuzzedDataProvider(data[1:]), 0)
    return "".join(f"{json.dumps(k)} = {_toml(v)}\n" for k, v in settings.items()).encode("utf-8")


def one_input(data: bytes) -> None:
    (FOLDER / "session.toml").write_bytes(session_toml(data))
    try:
        folder = read_session_folder(FOLDER)
        assert isinstance(folder.book, dict) and all(isinstance(t, str) for t in folder.chapter_titles)
        for info in folder.takes:
            for mark in take_marks(folder.path, info, folder.settings):
                assert mark.kind in ("chapter", "cut") and 0 <= mark.start_s <= info.duration_s, mark
                assert mark.end_s is None or mark.end_s > mark.start_s, mark
                to_frames(mark.end_s or mark.start_s, MAX_RATE_HZ)  # as the master stage does
        for start_s, end_s in [r[1:] for r in _pickup_config(folder).values()]:
            assert 0 <= start_s < end_s, (start_s, end_s)
            to_frames(end_s, MAX_RATE_HZ)
        params = PauseMarking.from_settings(folder.settings.get("chapters", {}))
        assert all(math.isfinite(v) for v in (params.threshold_dbfs, params.min_pause_s,
                                              params.min_chapter_s, params.head_room_tone_s)), params
    except StudioError:
        return


if __name__ == "__main__":
    harness.make_session_folder(FOLDER)
    harness.run(one_input)
