"""Issue 18: real takes. Never digital silence (18.3), the expander's floor is the profile's noise
target, loudness exactly on target after the limiter (18.2), bad input named (18 "Bad input")."""
from __future__ import annotations

import dataclasses
import re
import subprocess

import numpy as np
import pytest
import soundfile as sf

from mastering.meter import measure
from mastering.profiles import get_profile
from delivery.ffmpeg import mp3_pipe
from mastering.runner import master, master_file
from signals_for_tests import daw_export, gated, narration

FFMPEG = "/usr/bin/ffmpeg"
RATE = 44100


def _ebur128(path: str) -> tuple[float, float]:
    """Integrated loudness and true peak measured by ffmpeg alone."""
    out = subprocess.run([FFMPEG, "-nostats", "-hide_banner", "-i", path, "-af", "ebur128=peak=true",
                          "-f", "null", "-"], capture_output=True, text=True, timeout=120).stderr
    return (float(re.findall(r"I:\s+(-?[\d.]+) LUFS", out)[-1]),
            float(re.findall(r"Peak:\s+(-?[\d.]+) dBFS", out)[-1]))


def _quietest_100ms_db(y: np.ndarray) -> float:
    fr = measure(y, RATE, true_peak=False).frames
    return float(np.min(fr.rms_db[1:-1]))   # the first and last frames hold the 10/30 ms fades


@pytest.mark.parametrize("kind", ["daw", "gated"])
def test_no_digital_silence_anywhere(kind):
    """18.3: a DAW export's zeros at head and tail (room tone continued from the take) and a gated
    take's zeros between phrases (no room: comfort noise) become room tone at the floor; the old
    chain left zeros (QC "dead air") and pushed room tone to about -117 dB."""
    x = daw_export(14.0, seed=1) if kind == "daw" else gated(14.0, seed=2)
    prof = get_profile("library-streaming")
    y, rep = master(x, RATE, prof)
    assert rep.passed, [r.message for r in rep.failures]
    assert rep.processing["room_tone"] == ("take" if kind == "daw" else "comfort")
    assert rep.processing["digital_silence_in_s"] > 1.0
    floor = prof.noise_floor_target_db
    # no 100 ms anywhere quieter than 8 dB under the profile's noise target, nothing above its limit
    assert _quietest_100ms_db(y) > floor - 8.0
    assert rep.measurements["noise_floor_db"] <= prof.noise_floor_max_db
    assert rep.measurements["noise_floor_db"] == pytest.approx(floor, abs=3.0)


def test_zeros_filled_the_same_in_any_block_size():
    """Audio contract: room tone filled into zeros by absolute position, so blocks never change it."""
    x = daw_export(6.0, seed=3, head_s=1.3, tail_s=2.2)
    x[int(4.0 * RATE):int(4.6 * RATE)] = 0.0     # a gap of zeros between phrases
    whole, _ = master(x, RATE, "podcast")
    for block in (4096, 33333):
        parts, _ = master(x, RATE, "podcast", block_frames=block)
        assert np.max(np.abs(whole - parts)) < 1e-6


def test_expander_floor_is_the_noise_target():
    """The expander brings a noisy take's room tone down to the profile's target, not below it."""
    prof = get_profile("acx")
    x = narration(14.0, RATE, seed=4, noise_db=-45.0, hum_db=-300.0)
    y, rep = master(x, RATE, prof)
    assert rep.processing["room_tone"] == "take"
    assert rep.measurements["noise_floor_db"] == pytest.approx(prof.noise_floor_target_db, abs=2.5)
    assert _quietest_100ms_db(y) > prof.noise_floor_target_db - 6.0


TAKES = {
    "noisy": lambda: narration(16.0, RATE, seed=5, noise_db=-48.0),
    "clipped": lambda: np.clip(narration(16.0, RATE, seed=6) * 14.0, -1.0, 1.0).astype(np.float32),
    "quiet": lambda: (narration(16.0, RATE, seed=7, noise_db=-70.0) * 0.35).astype(np.float32),
    "daw": lambda: daw_export(14.0, seed=8),
}


@pytest.mark.parametrize("take,name", [("noisy", "library-streaming"), ("quiet", "library-streaming"),
                                       ("clipped", "podcast"), ("daw", "podcast"), ("quiet", "acx"),
                                       ("daw", "acx")])
def test_loudness_lands_on_target(tmp_path, take, name):
    """18.2: within ±0.3 LU of target by ffmpeg's own ebur128 (ACX: RMS within 0.3 dB of -20.5,
    inside its -23..-18 window), true peak under the ceiling; the old chain gave -19.06 LUFS at -18."""
    prof = get_profile(name)
    src = tmp_path / "in.wav"
    sf.write(src, TAKES[take](), RATE, subtype="FLOAT")
    res = master_file(src, tmp_path / "m.flac", prof)
    assert res.qc.passed, [r.message for r in res.qc.failures]
    lufs, tp = _ebur128(str(tmp_path / "m.flac"))
    if prof.normalize_to == "rms_db":
        assert res.measurements.rms_db == pytest.approx(prof.target_rms_db, abs=0.3)
    else:
        assert lufs == pytest.approx(prof.target_lufs, abs=0.3)
    assert tp <= prof.ceiling_dbtp


def test_limiter_push_is_bounded_and_reported():
    """A take that would need far more than the limiter may take stays honest: QC, not crushing."""
    x = np.clip(narration(12.0, RATE, seed=9) * 200.0, -1, 1).astype(np.float32)
    prof = dataclasses.replace(get_profile("library-streaming"), target_lufs=-8.0, loudness_tolerance_lu=0.5)
    _, rep = master(x, RATE, prof)
    assert rep.processing["limiter_push_db"] <= 4.0 + 1e-6
    # QC's loudness verdict is the truth about the master: failed exactly when it is off target
    # (the 1.5 ms limiter reaches -8 LUFS on this take; the 3 ms / 30 ms one fell 0.49 short)
    err = abs(rep.processing["level_error_db"])
    failed = "integrated_loudness" in {r.rule for r in rep.failures}
    assert failed if err > 0.51 else (not failed if err < 0.49 else True)


@pytest.fixture(scope="module")
def clean_vi():
    """Vietnamese narration by espeak-ng (clean reference) and the same in a quiet room (-62 dBFS)."""
    from signals_for_tests import espeak_narration
    ref = espeak_narration(RATE)
    rng = np.random.default_rng(0)
    return ref, (ref + 10 ** (-62 / 20) * rng.standard_normal(ref.shape)).astype(np.float32)


def test_stoi_on_clean_narration_not_harmed(clean_vi):
    """18.4: on clean narration the chain keeps intelligibility (STOI within 0.01 of the take's)
    where the profile needs no limiting (EBU R128); the old chain's hum notches alone cost 0.03."""
    from pystoi import stoi
    from signals_for_tests import align
    ref, x = clean_vi
    s_in = stoi(ref[:, 0], x[:, 0], RATE)
    y, rep = master(x, RATE, "ebu-r128")
    assert rep.passed, [r.message for r in rep.failures]
    assert rep.processing["hum_notches_hz"] == []
    assert stoi(ref[:, 0], align(ref, y, RATE), RATE) >= s_in - 0.01


def test_stoi_on_clean_narration_at_the_default_profile(clean_vi):
    """18.4: at library streaming (-18 LUFS, -1.5 dBTP: espeak-ng's peaky voice needs about 4 dB
    of limiting) the master keeps STOI within 0.01 of the take's, and the limiting it needed
    really happened (the test would pass trivially without it)."""
    from pystoi import stoi
    from signals_for_tests import align
    ref, x = clean_vi
    s_in = stoi(ref[:, 0], x[:, 0], RATE)
    y, rep = master(x, RATE, "library-streaming")
    assert rep.passed, [r.message for r in rep.failures]
    assert rep.processing["limiter_max_reduction_db"] > 2.0
    assert stoi(ref[:, 0], align(ref, y, RATE), RATE) >= s_in - 0.01


def test_stoi_with_mains_hum_notched(clean_vi):
    """18.4 on a take with 50 Hz hum and three harmonics (bench_real_takes' levels): all four
    harmonics are found and notched, STOI stays within 0.01 of the take's, and within 0.02 of the
    same take without hum (0.996 -> 0.981 measured; with Q 30 at every harmonic, the 150 and 200 Hz
    notches 5 and 6.7 Hz wide in the voice's own harmonics, 0.965)."""
    from pystoi import stoi
    from signals_for_tests import align
    ref, x = clean_vi
    s_clean = stoi(ref[:, 0], x[:, 0], RATE)
    n = np.arange(len(x))
    hum = sum(10 ** ((-40 - 4 * k) / 20) * np.sin(2 * np.pi * 50 * (k + 1) * n / RATE) for k in range(4))
    x = (x + hum[:, None]).astype(np.float32)
    s_in = stoi(ref[:, 0], x[:, 0], RATE)
    y, rep = master(x, RATE, "library-streaming")
    assert rep.passed, [r.message for r in rep.failures]
    assert rep.processing["hum_notches_hz"] == [50.0, 100.0, 150.0, 200.0]
    s_out = stoi(ref[:, 0], align(ref, y, RATE), RATE)
    assert s_out >= s_in - 0.01 and s_out >= s_clean - 0.02


def test_linear_phase_highpass_keeps_the_waveform():
    """The default high-pass is linear phase: a voice-like pulse train (120 Hz, all harmonics in
    phase) keeps its peak-to-RMS ratio within 0.2 dB, where a Butterworth's phase shift changes
    it (the limiter then takes off more: STOI fell 0.02 on the bench corpus)."""
    from mastering.stages import HighPassParams, highpass
    n = np.arange(RATE * 2)
    x = sum(np.cos(2 * np.pi * 120 * k * n / RATE) / k for k in range(1, 30))[:, None]

    def crest_db(y):
        y = y[RATE // 2:-RATE // 2, 0]
        return 20 * np.log10(np.abs(y).max() / np.sqrt(np.mean(y ** 2)))
    fir = highpass(x, RATE)
    iir = highpass(x, RATE, HighPassParams(linear_phase=False))
    assert fir.shape == x.shape
    assert abs(crest_db(fir) - crest_db(x)) < 0.2
    assert abs(crest_db(iir) - crest_db(x)) > abs(crest_db(fir) - crest_db(x))


def test_expander_and_leveler_keep_onsets_and_tails(clean_vi):
    """18.4: at the default profile, the expander and leveler (look-ahead, hold) cost no more than
    0.01 STOI against the same chain without them (the limiter's share is the profile's loudness)."""
    from pystoi import stoi
    from mastering.plan import ChainParams
    from signals_for_tests import align
    ref, x = clean_vi
    full, _ = master(x, RATE, "library-streaming")
    bare, _ = master(x, RATE, "library-streaming", params=ChainParams(expander=None, leveler=None))
    s_full = stoi(ref[:, 0], align(ref, full, RATE), RATE)
    s_bare = stoi(ref[:, 0], align(ref, bare, RATE), RATE)
    assert s_full >= s_bare - 0.01


def test_hum_notched_only_where_found():
    """Only the mains harmonics the room tone carries are notched, and they are removed."""
    x = narration(12.0, RATE, seed=11, noise_db=-60.0, hum_db=-300.0)
    n = np.arange(len(x))
    x = x + (10 ** (-40 / 20) * (np.sin(2 * np.pi * 50 * n / RATE) + 0.5 * np.sin(2 * np.pi * 100 * n / RATE)))[:, None].astype(np.float32)
    y, rep = master(x, RATE, "library-streaming")
    assert rep.processing["hum_notches_hz"] == [50.0, 100.0]
    tail = y[-RATE:, 0].astype(np.float64)
    spec = np.abs(np.fft.rfft(tail * np.hanning(len(tail))))
    assert spec[50] < 10 * np.median(spec[30:70])      # 1 Hz bins: no 50 Hz line left


def _bad(kind: str) -> tuple[np.ndarray, int]:
    rng = np.random.default_rng(12)
    n = np.arange(6 * RATE)
    if kind == "all_noise":
        return (0.05 * rng.standard_normal((len(n), 1))).astype(np.float32), RATE
    if kind == "all_silence":
        return np.zeros((len(n), 1), np.float32), RATE
    if kind == "pure_tone":
        return (0.3 * np.sin(2 * np.pi * 440 * n / RATE))[:, None].astype(np.float32), RATE
    if kind == "clipped_throughout":
        return np.clip(narration(6.0, RATE, seed=13) * 400.0, -1, 1).astype(np.float32), RATE
    if kind == "six_channels":
        x = narration(6.0, RATE, seed=14)
        return np.repeat(x, 6, axis=1), RATE
    raise AssertionError(kind)


@pytest.mark.parametrize("kind,reason,name", [
    ("all_noise", "speech_over_noise", "ebu-r128"), ("all_noise", "speech_over_noise", "acx"),
    ("all_silence", "speech_present", "acx"),
    ("pure_tone", "speech_over_noise", "ebu-r128"), ("pure_tone", "speech_over_noise", "acx"),
    ("clipped_throughout", "input_clipping", "library-streaming"),
    ("six_channels", "channels", "library-streaming"),
])
def test_bad_takes_fail_naming_the_reason(kind, reason, name):
    """Issue 18, bad input: never a crash, never a silent pass; the failing rule says why."""
    x, rate = _bad(kind)
    y, rep = master(x, rate, name)
    assert not rep.passed
    failed = {r.rule for r in rep.failures}
    assert reason in failed or (reason == "speech_over_noise" and "speech_present" in failed), \
        [r.message for r in rep.failures]
    assert np.isfinite(y).all() and len(y) > 0


def test_telephone_rate_is_a_clear_error(tmp_path):
    """8 kHz: the chain says which rate it masters instead of mastering a telephone recording."""
    from mastering.errors import UnsupportedAudioError
    p = tmp_path / "tel.wav"
    sf.write(p, narration(4.0, 8000, seed=15), 8000, subtype="PCM_16")
    with pytest.raises(UnsupportedAudioError, match="8000 Hz"):
        master_file(p, tmp_path / "m.flac", "acx")
    assert not (tmp_path / "m.flac").exists()


def test_delivery_mp3_encoded_while_mastering(tmp_path):
    """18.6: the ACX MP3 is piped from the same blocks as the FLAC master (no second decode);
    it is CBR 192 kbps at 44.1 kHz and measures like the master; nothing temporary is left."""
    src = tmp_path / "in.wav"
    sf.write(src, daw_export(10.0, seed=16), RATE, subtype="PCM_24")
    out = tmp_path / "out"
    res = master_file(src, out / "ch.flac", "acx", delivery=out / "ch.mp3", open_encoder=mp3_pipe,
                      block_frames=8192)
    assert res.qc.passed and res.delivery == str(out / "ch.mp3")
    assert sorted(p.name for p in out.iterdir()) == ["ch.flac", "ch.mp3"]
    probe = subprocess.run([FFMPEG, "-hide_banner", "-i", str(out / "ch.mp3")], capture_output=True,
                           text=True).stderr
    assert "mp3" in probe and "44100 Hz" in probe and "192 kb/s" in probe
    # the same as encoding the written master afterwards (the old way), within ebur128's 0.1 print
    subprocess.run([FFMPEG, "-v", "error", "-i", str(out / "ch.flac"), "-c:a", "libmp3lame", "-b:a", "192k",
                    str(tmp_path / "after.mp3")], check=True, timeout=120)
    assert _ebur128(str(out / "ch.mp3")) == pytest.approx(_ebur128(str(tmp_path / "after.mp3")), abs=0.11)


def test_delivery_encoder_failure_leaves_nothing(tmp_path, monkeypatch):
    """A failing encoder raises with ffmpeg's words and leaves neither master nor MP3 behind."""
    from delivery import encoders
    from delivery.ffmpeg import FFmpegError
    monkeypatch.setattr(encoders, "mp3_from_pipe", lambda dst, **kw: ["-c:a", "no-such-codec", "-f", "mp3", str(dst)])
    src = tmp_path / "in.wav"
    sf.write(src, narration(4.0, RATE, seed=17), RATE, subtype="PCM_24")
    out = tmp_path / "out"
    with pytest.raises(FFmpegError):
        master_file(src, out / "ch.flac", "acx", delivery=out / "ch.mp3", open_encoder=mp3_pipe)
    assert list(out.iterdir()) == []
