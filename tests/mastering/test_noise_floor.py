"""The noise floor our QC reports is the one an independent check measures (ACX Check's "quietest
half second", cut by ffmpeg into 0.5 s windows), so QC never passes a file that check fails."""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
import soundfile as sf

from mastering.meter import measure
from mastering.plan import ChainParams
from mastering.runner import master, master_file

FFMPEG = "/usr/bin/ffmpeg"
RATE = 44100


def short_pause_narration(seconds: float, seed: int, noise_db: float = -50.0) -> np.ndarray:
    """Phrases 0.6-2 s long separated by short pauses (0.15-0.45 s), loud room noise and hum."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    x = np.zeros(n)
    t = int(0.6 * RATE)
    while t < n - int(2.0 * RATE):
        d = min(int(rng.uniform(0.6, 2.0) * RATE), n - t - int(1.6 * RATE))
        k = np.arange(d)
        f0 = rng.uniform(100, 220)
        s = sum(np.sin(2 * np.pi * f0 * h * k / RATE + rng.uniform(0, 6)) / h for h in range(1, 10))
        am = 0.5 * (1 - np.cos(2 * np.pi * k / d)) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * k / RATE))
        x[t:t + d] += 10 ** (rng.uniform(-30, -18) / 20) * s * am * 0.5
        t += d + int(rng.uniform(0.15, 0.45) * RATE)
    x += 10 ** (noise_db / 20) * rng.standard_normal(n)
    x += 10 ** ((noise_db + 6) / 20) * np.sin(2 * np.pi * 50 * np.arange(n) / RATE)
    return x[:, None].astype(np.float32)


def ffmpeg_noise_floor(path: str) -> float:
    """RMS (dB) of the quietest whole 0.5 s window, measured by ffmpeg alone."""
    out = subprocess.run(
        [FFMPEG, "-nostats", "-hide_banner", "-v", "error", "-i", path, "-af",
         f"asetnsamples=n={RATE // 2}:p=0,astats=metadata=1:reset=1:measure_perchannel=none:"
         "measure_overall=RMS_level+Number_of_samples,ametadata=mode=print:file=-",
         "-f", "null", "-"], capture_output=True, text=True, timeout=120).stdout
    levels = [float(v) for v in re.findall(r"Overall\.RMS_level=(\S+)", out)]
    counts = [float(v) for v in re.findall(r"Overall\.Number_of_samples=(\S+)", out)]
    whole = [lv for lv, c in zip(levels, counts) if c >= RATE // 2]
    return min(whole)


def test_short_pauses_pass_acx_noise_floor_both_ways(tmp_path):
    src = str(tmp_path / "in.wav")
    sf.write(src, short_pause_narration(14.0, seed=3), RATE, subtype="PCM_24")
    dst = str(tmp_path / "out.flac")
    res = master_file(src, dst, "acx")
    ours = res.measurements.noise_floor_db
    theirs = ffmpeg_noise_floor(dst)
    assert ours == pytest.approx(theirs, abs=0.05)
    rule = {r.rule: r for r in res.qc.rules}["noise_floor"]
    assert rule.passed and ours <= -60.0 and theirs <= -60.0
    # the delivered MP3 measures the same within coding noise
    mp3 = str(tmp_path / "out.mp3")
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", dst, "-c:a", "libmp3lame", "-b:a", "192k", mp3],
                   check=True, timeout=120)
    assert ffmpeg_noise_floor(mp3) <= -60.0
    # room tone is still room tone (not digital silence) in the quietest window
    assert ours > -90.0


def test_qc_fails_what_the_independent_check_fails(tmp_path):
    # without the expander the room noise stays 30 dB under the speech: both must say "too noisy"
    x = short_pause_narration(14.0, seed=4, noise_db=-46.0)
    y, rep = master(x, RATE, "acx", params=ChainParams(expander=None))
    p = str(tmp_path / "noisy.wav")
    sf.write(p, y, RATE, subtype="FLOAT")
    theirs = ffmpeg_noise_floor(p)
    ours = measure(y, RATE).noise_floor_db
    assert ours == pytest.approx(theirs, abs=0.05)
    assert theirs > -60.0
    assert "noise_floor" in [r.rule for r in rep.failures]


def test_noise_floor_uses_whole_half_second_windows():
    # 0.3 s of quiet between loud tones is no 0.5 s window of quiet: the floor stays high
    n = np.arange(RATE * 3)
    loud = 0.1 * np.sin(2 * np.pi * 440 * n / RATE)
    quiet = np.ones_like(loud)
    quiet[int(1.1 * RATE):int(1.4 * RATE)] = 1e-3
    m = measure((loud * quiet)[:, None], RATE, true_peak=False)
    assert m.noise_floor_db > -30.0
    quiet[int(1.0 * RATE):int(1.5 * RATE)] = 1e-3   # one aligned window [1.0, 1.5) of quiet
    m = measure((loud * quiet)[:, None], RATE, true_peak=False)
    assert m.noise_floor_db == pytest.approx(20 * np.log10(0.1e-3 / np.sqrt(2)), abs=0.1)
