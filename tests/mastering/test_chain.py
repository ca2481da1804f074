"""Meter cross-checks, block equivalence, stages, profiles, QC and bad input."""
from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from mastering import errors
from mastering.meter import Meter, measure, measure_file
from mastering.profiles import DEFAULT_PROFILE, PROFILES, get_profile
from mastering.qc import check
from mastering.runner import master, master_file
from mastering.stages import HumParams, LimiterParams, highpass, limit, remove_hum
from signals_for_tests import narration, tone

FFMPEG = "/usr/bin/ffmpeg"


def _ffmpeg_integrated(path: str) -> float:
    out = subprocess.run([FFMPEG, "-nostats", "-hide_banner", "-i", path, "-af", "ebur128",
                          "-f", "null", "-"], capture_output=True, text=True, timeout=120).stderr
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", out)[-1])


@pytest.mark.parametrize("rate,channels,seed", [(48000, 2, 1), (44100, 1, 2), (22050, 1, 3)])
def test_integrated_matches_pyloudnorm_and_ffmpeg(tmp_path, rate, channels, seed):
    x = narration(12.0, rate=rate, seed=seed)
    if channels == 2:
        x = np.concatenate([x, 0.7 * narration(12.0, rate=rate, seed=seed + 10)], axis=1)
    ours = measure(x, rate, true_peak=False).integrated_lufs
    ref = pyloudnorm.Meter(rate, filter_class="DeMan").integrated_loudness(x.astype(np.float64))
    assert ours == pytest.approx(ref, abs=0.1)
    p = str(tmp_path / "x.wav")
    sf.write(p, x, rate, subtype="FLOAT")
    assert ours == pytest.approx(_ffmpeg_integrated(p), abs=0.1)


def test_measure_file_keys_and_blocks(tmp_path):
    x = narration(5.0, seed=4)
    p = str(tmp_path / "a.flac")
    sf.write(p, x, 44100, subtype="PCM_24")
    m = measure_file(p, block_frames=4096)
    assert list(m.to_dict()) == ["integrated_lufs", "loudness_range_lu", "true_peak_dbtp",
                                 "sample_peak_dbfs", "rms_db", "noise_floor_db", "momentary_max_lufs",
                                 "short_term_max_lufs", "duration_s", "sample_rate", "channels"]
    whole = measure(sf.read(p, dtype="float32", always_2d=True)[0], 44100)
    for k in ("integrated_lufs", "true_peak_dbtp", "rms_db", "noise_floor_db", "momentary_max_lufs"):
        assert getattr(m, k) == pytest.approx(getattr(whole, k), abs=1e-6)


def test_meter_blocks_of_one_equal_whole():
    x = narration(0.7, rate=8000, seed=5, lead_s=0.05)
    m = Meter(8000, 1)
    for i in range(len(x)):
        m.add(x[i:i + 1])
    a, b = m.result(), measure(x, 8000)
    assert a.to_dict() == b.to_dict()


def test_rms_noise_floor_dc_and_clipping():
    rng = np.random.default_rng(0)
    x = np.concatenate([tone(-20, 2, channels=1), 1e-3 * rng.standard_normal((48000, 1))]) + 0.01
    x[1000:1010] = 1.0
    m = measure(x, 48000)
    assert m.noise_floor_db == pytest.approx(-40.0, abs=1.0)   # the 1e-3 noise (plus DC 0.01)
    assert m.dc_offset == pytest.approx(0.01, abs=2e-3)
    assert m.clipped_samples == 10


@pytest.mark.parametrize("block", [pytest.param(1, marks=pytest.mark.slow), 4096, 48000, 1_000_003])
def test_master_in_blocks_equals_whole(block):
    # block size 1 runs on a 0.5 s signal (one Python call per frame), the others on 6.5 s
    rate = 32000 if block == 1 else 44100
    x = narration(0.5, rate=rate, seed=6, lead_s=0.05) if block == 1 else narration(6.5, rate=rate, seed=6)
    # plosive control and the de-esser on too (issue 18.5): their frames sit at absolute positions
    prof = dataclasses.replace(get_profile("podcast"), min_duration_s=0.2, plosive_control=True, deesser=True)
    whole, rep = master(x, rate, prof)
    parts, rep2 = master(x, rate, prof, block_frames=block)
    assert whole.shape == parts.shape
    assert np.max(np.abs(whole - parts)) < 1e-6
    assert rep.passed == rep2.passed


def test_stages_highpass_hum_limiter():
    rate = 44100
    n = np.arange(rate * 2)
    dc = np.full((len(n), 1), 0.2)
    assert np.abs(highpass(dc, rate)[rate:]).max() < 1e-3
    hum = (0.1 * np.sin(2 * np.pi * 50 * n / rate) + 0.1 * np.sin(2 * np.pi * 1000 * n / rate))[:, None]
    y = remove_hum(hum, rate, HumParams())[rate:]
    # the 50 Hz part is gone (> 30 dB down) while 1 kHz passes
    spec = np.abs(np.fft.rfft(y[:, 0] * np.hanning(len(y))))
    f = np.fft.rfftfreq(len(y), 1 / rate)
    assert spec[np.argmin(abs(f - 50))] < spec[np.argmin(abs(f - 1000))] * 10 ** (-30 / 20)
    loud = tone(3, 1, rate=rate, channels=2, freq=3000)
    out = limit(loud, rate, LimiterParams(ceiling_dbtp=-1.0))
    assert out.shape == loud.shape
    assert measure(out, rate).true_peak_dbtp <= -0.9


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_masters_narration_to_pass(name):
    x = narration(12.0, rate=44100, seed=7)
    y, rep = master(x, 44100, name)
    assert rep.passed, [r.message for r in rep.failures]
    m = measure(y, 44100)
    p = get_profile(name)
    assert m.true_peak_dbtp <= p.ceiling_dbtp
    if p.rms_min_db is not None:
        assert p.rms_min_db <= m.rms_db <= p.rms_max_db
    # room tone stays room tone: no stretch of digital silence anywhere
    assert (np.abs(y) > 1e-6).mean() > 0.99
    json.dumps(rep.to_dict())


def test_room_tone_padded_and_trimmed():
    rate = 44100
    x = narration(8.0, rate=rate, seed=8, lead_s=0.05)          # too little head room tone
    x = np.concatenate([x, narration(9.0, rate=rate, seed=9)[-int(8 * rate):] * 0 +
                        (10 ** (-55 / 20) * np.random.default_rng(1).standard_normal((8 * rate, 1))).astype(np.float32)])
    y, rep = master(x, rate, "acx")
    assert rep.processing["pad_head_s"] > 0 and rep.processing["trim_tail_s"] > 0
    rules = {r.rule: r for r in rep.rules}
    assert rules["head_room_tone"].passed and rules["tail_room_tone"].passed
    head = y[:int(0.5 * rate)]
    assert np.sqrt(np.mean(head[int(0.02 * rate):] ** 2)) > 10 ** (-90 / 20)   # not dead air


def test_profiles_are_data():
    assert DEFAULT_PROFILE == "library-streaming"
    acx = get_profile("acx")
    assert acx.delivery.bitrate_kbps == 192 and acx.delivery.sample_rate_hz == 44100
    assert acx.ceiling_dbtp == -3.0 and acx.max_duration_s == 7200
    with pytest.raises(errors.MasteringError, match="không-có"):
        get_profile("không-có")


def test_qc_reports_failures_with_regions():
    x = narration(10.0, seed=10)
    x[44100:44100 + 4410] = 0.0   # 100 ms of dead air
    x[3 * 44100:3 * 44100 + 50] = 1.0
    m = measure(x, 44100)
    rep = check(m, get_profile("acx"))
    failed = {r.rule for r in rep.failures}
    assert {"clipping", "true_peak", "rms", "noise_floor"} <= failed
    kinds = {r["kind"] for r in rep.regions}
    assert "clipping" in kinds
    d = rep.to_dict()
    assert d["plot"]["short_term_lufs"] and d["plot"]["time_s"]
    assert any("KHÔNG ĐẠT" in r["message"] for r in d["rules"])


def test_master_file_atomic_flac(tmp_path):
    src = tmp_path / "in.wav"
    sf.write(src, narration(6.0, seed=11), 44100, subtype="PCM_24")
    dst = tmp_path / "out" / "ch.flac"
    seen = []
    res = master_file(src, dst, "acx", block_frames=8192, progress=seen.append)
    info = sf.info(str(dst))
    assert info.format == "FLAC" and info.subtype == "PCM_24"
    assert res.qc.passed and seen[-1] == pytest.approx(1.0)
    assert res.input_measurements.integrated_lufs < res.measurements.integrated_lufs
    assert [p.name for p in dst.parent.iterdir()] == ["ch.flac"]


def _write(path, data, rate):
    sf.write(str(path), data, rate, subtype="PCM_16")
    return str(path)


@pytest.mark.parametrize("kind,exc,needle", [
    ("missing", errors.AudioInputError, "not found"),
    ("garbage", errors.AudioInputError, "unreadable"),
    ("empty", errors.AudioInputError, "zero-length"),
    ("truncated", errors.AudioInputError, "truncated"),
    ("8k", errors.UnsupportedAudioError, "8000 Hz"),
    ("192k", errors.UnsupportedAudioError, "192000 Hz"),
    ("8ch", errors.UnsupportedAudioError, "8 channels"),
    ("nan", errors.InvalidSamplesError, "NaN"),
])
def test_bad_input_fails_clearly_and_writes_nothing(tmp_path, kind, exc, needle):
    p = tmp_path / "in.wav"
    if kind == "garbage":
        p.write_bytes(b"RIFF....not audio at all" * 10)
    elif kind == "empty":
        _write(p, np.zeros((0, 1)), 44100)
    elif kind == "truncated":
        _write(p, narration(2.0), 44100)
        p.write_bytes(p.read_bytes()[:-5000])
    elif kind == "8k":
        _write(p, narration(2.0, rate=8000), 8000)
    elif kind == "192k":
        _write(p, np.zeros((192000, 1)) + 0.01, 192000)
    elif kind == "8ch":
        _write(p, np.zeros((44100, 8)) + 0.01, 44100)
    elif kind == "nan":
        sf.write(str(p), np.full((44100, 1), np.nan, np.float32), 44100, subtype="FLOAT")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(exc, match=needle) as ei:
        master_file(p, out / "m.flac", "acx")
    assert "in.wav" in str(ei.value) or kind == "missing"
    assert list(out.iterdir()) == []


def test_all_silence_is_a_qc_failure():
    """All silence fails naming the reason (no speech, RMS), and is never turned up into loud noise:
    the delivered file is comfort noise at the noise target, not dead air (issue 18.3)."""
    y_in = np.zeros((44100 * 3, 1), np.float32)
    y, rep = master(y_in, 44100, "acx")
    assert not rep.passed
    assert {"speech_present", "rms"} <= {r.rule for r in rep.failures}
    assert measure(y, 44100).rms_db < -60.0


def test_cli_measure_and_master(tmp_path):
    from click.testing import CliRunner
    from web.cli import main
    src = tmp_path / "sess"
    src.mkdir()
    sf.write(src / "ch01.wav", narration(6.0, seed=12), 44100, subtype="PCM_24")
    r = CliRunner().invoke(main, ["measure", str(src / "ch01.wav"), "--json"])
    assert r.exit_code == 0, r.output
    assert set(json.loads(r.output)) == {"integrated_lufs", "loudness_range_lu", "true_peak_dbtp",
                                         "sample_peak_dbfs", "rms_db", "noise_floor_db",
                                         "momentary_max_lufs", "short_term_max_lufs", "duration_s",
                                         "sample_rate", "channels"}
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["master", str(src), "--profile", "acx", "--out", str(out),
                                  "--quiet", "--jobs", "1"])
    assert r.exit_code == 0, r.output
    assert sorted(os.listdir(out)) == ["ch01.flac", "ch01.mp3", "qc.json"]
    qc = json.loads((out / "qc.json").read_text())
    assert qc["passed"] and qc["chapters"][0]["qc"]["rules"]
    # a failing chapter: clipped input at the podcast profile is fixed, but a silent file fails
    sf.write(src / "ch02.wav", np.zeros((44100 * 2, 1)), 44100, subtype="PCM_24")
    r = CliRunner().invoke(main, ["master", str(src), "--out", str(out), "--quiet", "--jobs", "1"])
    assert r.exit_code == 1
    assert "ch02.wav: KHÔNG ĐẠT" in r.output


def test_fir_highpass_single_precision_transform_stays_under_a_24_bit_step():
    """The streaming high-pass (single-precision FFT) against the exact float64 convolution of the
    same taps, on full-scale noise in uneven blocks: the error's RMS within 2e-7 (-134 dBFS, about
    one step of 24 bits; measured 1.3e-7), every frame within 1e-6 (-120 dBFS)."""
    from mastering.filters import FirFilter, highpass_fir
    taps = highpass_fir(44100, 80.0)
    x = np.random.default_rng(7).uniform(-1.0, 1.0, (200_000, 1))
    f = FirFilter(taps, 1)
    y = np.concatenate([f.process(x[s:s + b]) for s, b in ((0, 65536), (65536, 1000), (66536, 133464))])
    exact = np.convolve(x[:, 0], taps)[:len(x)]
    assert y.shape == x.shape and y.dtype == np.float64
    err = y[:, 0] - exact
    assert np.sqrt(np.mean(err ** 2)) < 2e-7 and np.abs(err).max() < 1e-6


def test_limiter_blocks_it_leaves_alone_are_the_input_and_peaks_still_held():
    """Streaming in blocks: a loud burst in the second block is held under the ceiling; the blocks
    before it and those after its release are the (delayed) input bit for bit, and the gain
    reported is the burst's."""
    from mastering.stages import Limiter
    rate, block = 44100, 8192
    x = 0.3 * np.sin(2 * np.pi * 440 * np.arange(6 * block) / rate)[:, None]
    x[block + 2000:block + 2400] *= 3.0                     # 0.9, ceiling -6 dBTP (0.5)
    lim = Limiter(rate, 1, LimiterParams(ceiling_dbtp=-6.0))
    y = np.concatenate([lim.process(x[s:s + block]) for s in range(0, len(x), block)] + [lim.flush()])
    y = y[lim.delay:]
    assert y.shape == x.shape
    assert measure(y, rate).true_peak_dbtp <= -5.9
    assert np.array_equal(y[:block], x[:block])
    assert np.array_equal(y[3 * block:], x[3 * block:])
    assert -20 * np.log10(lim.gain_min) > 4.0

