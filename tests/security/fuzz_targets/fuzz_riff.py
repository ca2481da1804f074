"""atheris target: the RIFF cue/labl walker (`recordings.riff`) on arbitrary bytes in a .wav file.

Accepted outcome: a list of markers, `None`/an extent for `data_chunk_extent`, or `NotAudioError`
naming the file. Anything else is a bug.
"""
from __future__ import annotations

import atheris

import harness

with atheris.instrument_imports(include=["recordings.riff"]):
    from recordings import riff
from recordings.errors import NotAudioError

PATH = harness.workdir() / "take.wav"


def one_input(data: bytes) -> None:
    PATH.write_bytes(data)
    try:
        markers = riff.read_cue_markers(PATH)
    except NotAudioError as exc:
        assert PATH.name in str(exc), exc
        markers = None
    if markers is not None:
        assert markers == sorted(markers, key=lambda m: (m.frame, m.cue_id))
        for m in markers:
            assert isinstance(m.label, str) and 0 <= m.frame < 2 ** 32 and 0 <= m.length_frames < 2 ** 32, m
    extent = riff.data_chunk_extent(PATH)
    if extent is not None:
        offset, declared, present = extent
        assert 0 < offset <= len(data) and declared >= 0 and present == len(data) - offset, extent


if __name__ == "__main__":
    harness.run(one_input)
