"""atheris target: the Audacity label parser (`studio.markers.parse_audacity_labels`) and the
mapping of labels to chapter and cut marks, on a label file's bytes decoded as `take_marks` does.

Accepted outcome: labels with finite, ordered, non-negative times that convert to frame counts,
or `SessionFolderError` naming the file and line.
"""
from __future__ import annotations

import math

import atheris

import harness

with atheris.instrument_imports(include=["studio.markers"]):
    from studio import markers
from recordings.probe import MAX_RATE_HZ
from studio.edits import to_frames
from studio.errors import SessionFolderError


def one_input(data: bytes) -> None:
    text = data.decode("utf-8-sig", errors="replace")
    try:
        labels = markers.parse_audacity_labels(text, "take.txt")
    except SessionFolderError as exc:
        assert str(exc).startswith("take.txt:"), exc
        return
    assert [l.start_s for l in labels] == sorted(l.start_s for l in labels)
    for label in labels:
        assert math.isfinite(label.start_s) and math.isfinite(label.end_s), label
        assert 0 <= label.start_s <= label.end_s, label
        to_frames(label.end_s, MAX_RATE_HZ)  # what the master stage does with it: must not overflow
    for mark in markers.marks_from_labels(labels, "audacity"):
        assert mark.kind in ("chapter", "cut"), mark
        assert mark.end_s is None or mark.end_s > mark.start_s, mark


if __name__ == "__main__":
    harness.run(one_input)
