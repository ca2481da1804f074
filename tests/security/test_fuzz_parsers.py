"""Bounded fuzzing (hypothesis) of the parsers that read files staff drop in: the audio probe, the
WAV cue-marker reader and the Audacity label parser. Bad input must become our own clear error
(or an empty/valid result) quickly — never another exception, a hang or a crash.

Guards against the crafted-media class of bugs in peers' scanners (a malformed file taking down
the library scan or the whole server)."""
from __future__ import annotations

import io
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings, strategies as st

from recordings.errors import NotAudioError, RecordingsError
from recordings.probe import probe_audio

FUZZ = settings(max_examples=120, deadline=3000, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _wav(seconds=0.6, rate=22050, cues=()) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    sf.write(buf, (0.2 * np.sin(2 * np.pi * 440 * t)).astype("float32"), rate, format="WAV", subtype="PCM_16")
    data = buf.getvalue()
    if cues:
        from recordings.riff import cue_chunks
        extra = cue_chunks(list(cues))
        data = data[:4] + struct.pack("<I", len(data) - 8 + len(extra)) + data[8:] + extra
    return data


VALID = _wav(cues=((2205, "Chương 1"), (6615, "cut")))


@st.composite
def mutated_wav(draw):
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, min(len(data) - 1, 200) if draw(st.booleans()) else len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]
    return bytes(data)


@FUZZ
@given(st.one_of(st.binary(max_size=4096), mutated_wav()))
def test_probe_audio_gives_clear_errors(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("fuzz") / "take.wav"
    path.write_bytes(blob)
    try:
        info = probe_audio(path, min_duration_s=0.1)
    except RecordingsError as exc:
        assert "take.wav" in str(exc)
        return
    assert info.sample_rate > 0 and info.channels >= 1 and info.frames > 0


@FUZZ
@given(mutated_wav())
def test_cue_reader_never_crashes(tmp_path_factory, blob):
    riff = pytest.importorskip("recordings.riff")
    path = tmp_path_factory.mktemp("fuzz") / "take.wav"
    path.write_bytes(blob)
    try:
        markers = riff.read_cue_markers(path)
    except RecordingsError:
        return
    assert isinstance(markers, list)


def test_cue_reader_reads_the_unmutated_file(tmp_path):
    riff = pytest.importorskip("recordings.riff")
    path = tmp_path / "take.wav"
    path.write_bytes(VALID)
    assert len(riff.read_cue_markers(path)) == 2


LABEL_LINE = st.builds(lambda a, b, name, sep: f"{a}{sep}{b}{sep}{name}",
                       st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(str), st.text(max_size=8)),
                       st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(str), st.text(max_size=8)),
                       st.text(max_size=30), st.sampled_from(["\t", " ", ",", "\t\t"]))


@FUZZ
@given(st.one_of(st.text(max_size=500), st.lists(LABEL_LINE, max_size=20).map("\n".join)))
def test_audacity_label_parser_gives_clear_errors(text):
    markers = pytest.importorskip("studio.markers")
    from studio.errors import StudioError
    try:
        labels = markers.parse_audacity_labels(text, "labels.txt")
    except StudioError as exc:
        assert "labels.txt" in str(exc)
        return
    for label in labels:
        assert math.isfinite(label.start_s) and math.isfinite(label.end_s), label
        assert 0 <= label.start_s <= label.end_s


def test_audacity_label_parser_refuses_infinite_times():
    from studio.errors import StudioError
    from studio.markers import parse_audacity_labels
    with pytest.raises(StudioError):
        parse_audacity_labels("inf\tinf\tChương 1", "labels.txt")


def test_audacity_label_parser_refuses_times_that_overflow_frame_counts():
    """Found by test_fuzz_atheris: 1e308 s is finite, times the rate it is not (OverflowError in mastering)."""
    from studio.errors import StudioError
    from studio.markers import parse_audacity_labels
    with pytest.raises(StudioError, match="24"):
        parse_audacity_labels("0.1\t1e308\tcut", "labels.txt")
    assert parse_audacity_labels("0.1\t86400\tcut", "labels.txt")[0].end_s == 86400


@pytest.mark.parametrize("name", ["x" * 300 + ".wav", "a\x00.wav"])
def test_probe_turns_unopenable_names_into_clear_errors(tmp_path, name):
    """Found writing test_fuzz_atheris (a take named in session.toml): a name too long for the OS gave OSError."""
    with pytest.raises(RecordingsError, match="(?i)không"):
        probe_audio(tmp_path / name)


def test_probe_refuses_the_inputs_atheris_found(tmp_path):
    """Each file in fuzz_regressions/ once crashed the probe (here: an MP3 whose decoder ends up past
    the length it declared, and soundfile asked numpy for negative frames); now a clear error."""
    found = sorted((Path(__file__).parent / "fuzz_regressions").glob("probe-*"))
    assert found
    for blob in found:
        path = tmp_path / blob.name
        path.write_bytes(blob.read_bytes())
        with pytest.raises(NotAudioError, match=blob.name):
            probe_audio(path, min_duration_s=0.01)

