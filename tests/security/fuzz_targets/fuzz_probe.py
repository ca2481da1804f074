"""atheris target: the upload door's magic-byte sniff and the audio probe (`recordings.probe`).

`sniff_audio`/`describe_non_audio` run on the first 64 bytes, as the tus upload does; `probe_audio`
(libsndfile through soundfile, plus the RIFF data-chunk check and a decode of the last second) runs
in-process on the bytes written under the sniffed format's extension, so a native crash in
libsndfile also ends the run. Accepted outcome: an `AudioInfo` inside the documented limits, or
`NotAudioError` naming the file.
"""
from __future__ import annotations

import atheris

import harness

with atheris.instrument_imports(include=["recordings.probe", "recordings.riff"]):
    from recordings import probe, riff  # noqa: F401  (riff: imported by the probe when it runs)
from recordings.errors import NotAudioError

FOLDER = harness.workdir()
KINDS = ("WAV", "FLAC", "AIFF", "MP3", None)


def one_input(data: bytes) -> None:
    head = data[:64]
    kind = probe.sniff_audio(head)
    assert kind in KINDS, kind
    assert isinstance(probe.describe_non_audio(head), str)
    path = FOLDER / f"take.{probe.FORMAT_EXTENSIONS.get(kind or '', 'bin')}"
    path.write_bytes(data)
    try:
        info = probe.probe_audio(path, min_duration_s=0.01)
    except NotAudioError as exc:
        assert path.name in str(exc), exc
        return
    assert info.format in probe.ACCEPTED_FORMATS, info
    assert probe.MIN_RATE_HZ <= info.sample_rate <= probe.MAX_RATE_HZ, info
    assert 1 <= info.channels <= probe.MAX_CHANNELS and info.frames > 0, info


if __name__ == "__main__":
    harness.run(one_input)
