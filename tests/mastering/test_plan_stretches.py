"""The plan worked out a stretch at a time (issue 18: one long take's memory flat with length).

`make_plan` must give exactly what it gives over whole arrays (one stretch) for any stretch
length, keep its per-tick memory bounded by the stretch (not the take), and the exact statistics
it uses (k-th smallest, median, sum) must agree with numpy's.
"""
from __future__ import annotations

import itertools
import math
import tracemalloc

import numpy as np
import pytest

from mastering import ticks
from mastering.meter import GatedLoudness, _integrated
from mastering.plan import Analysis, ChainParams, _median, make_plan
from mastering.profiles import get_profile
from mastering.stages import GainCurve
from mastering.ticks import ExactSum, TickFile, kth_smallest, pairwise_mean

RATE = 44100


def synthetic(seconds: float, seed: int = 0, zeros: bool = False) -> Analysis:
    """Speech 2 s on, 0.5 s off (random levels), noisy pauses, optional runs of digital silence."""
    n = int(seconds * 100)
    rng = np.random.default_rng(seed)
    count = np.full(n, RATE // 100, np.float32)
    on = ((np.arange(n) % 250) < 200) & (rng.random(n) > 0.02)
    power = np.where(on, 441 * 0.01 * rng.random(n) ** 2 + 1e-4, 441e-6 * (1 + rng.random(n))).astype(np.float32)
    runs = np.zeros((0, 2), np.int64)
    if zeros:
        starts = np.sort(rng.choice(n - 200, 12, replace=False)) * 441
        runs = np.stack([starts, starts + 441 * 60], axis=1).astype(np.int64)
        for a, b in runs:
            power[a // 441:b // 441] = 0
    peak = np.sqrt(power / 441 * 8 * (1 + rng.random(n))).astype(np.float32)
    return Analysis(RATE, 1, n * 441, power * np.float32(1.1), power, count, peak, runs)


def plan_for(a: Analysis, profile: str, stretch: int, monkeypatch, store=None):
    monkeypatch.setattr(ticks, "STRETCH_TICKS", stretch)
    p = make_plan(a, get_profile(profile), ChainParams(), store)
    return p, np.asarray(p.gains_db[0:len(p.gains_db)])


@pytest.mark.parametrize("profile", ["library-streaming", "acx"])
@pytest.mark.parametrize("zeros", [False, True])
def test_plan_in_stretches_equals_whole_arrays(profile, zeros, monkeypatch):
    a = synthetic(300, seed=1, zeros=zeros)
    whole, g_whole = plan_for(a, profile, 10 ** 9, monkeypatch)      # one stretch: whole arrays
    for stretch in (130, 2000):
        p, g = plan_for(a, profile, stretch, monkeypatch)
        assert np.array_equal(g, g_whole)
        assert p.report == whole.report
        assert (p.snippet, p.trim_head, p.trim_tail, p.pad_head, p.pad_tail, p.room_tone) == \
               (whole.snippet, whole.trim_head, whole.trim_tail, whole.pad_head, whole.pad_tail, whole.room_tone)
    assert whole.report["speech_fraction"] > 0.5 and whole.report["expander_closed_gain_db"] < 0


def test_plan_with_columns_on_disk_equals_in_memory(tmp_path, monkeypatch):
    a = synthetic(200, seed=2, zeros=True)
    mem, g_mem = plan_for(a, "library-streaming", 500, monkeypatch)
    paths = (tmp_path / f"c{i}" for i in itertools.count())
    on_disk = Analysis(a.rate, a.channels, a.frames, *(_file(next(paths), x) for x in
                                                      (a.k_power, a.power, a.count, a.peak)), a.zero_runs)
    disk, g_disk = plan_for(on_disk, "library-streaming", 500, monkeypatch,
                            store=lambda: TickFile(str(next(paths))))
    assert isinstance(disk.gains_db, TickFile)
    assert np.array_equal(g_disk, g_mem) and disk.report == mem.report
    # pass 2 reads the curve a few ticks at a time: the same gains as from the array
    for start, n in [(0, 5000), (123_457, 70_000), (a.frames - 3000, 3000)]:
        assert np.array_equal(GainCurve(disk.gains_db, disk.tick_frames).values(start, n),
                              GainCurve(g_mem, mem.tick_frames).values(start, n))
    disk.gains_db.close()
    on_disk.close()


def _file(path, x: np.ndarray) -> TickFile:
    f = TickFile(str(path))
    for s in range(0, len(x), 777):
        f.append(x[s:s + 777])
    return f.done()


def test_plan_memory_does_not_grow_with_the_take(tmp_path, monkeypatch):
    """Peak allocation of planning 3 h vs 0.5 h with the columns on disk and stretches of 6550
    ticks (so both takes are many stretches long, per tick and per 100 ms frame): the same to
    within a small fraction of one per-tick array. Planning over whole arrays held a dozen
    per-tick arrays (0.14 GB at 10 h), per-frame ones a tenth of that each."""
    monkeypatch.setattr(ticks, "STRETCH_TICKS", 6550)
    peaks, names = {}, itertools.count()
    for hours in (0.5, 3.0):
        a = synthetic(hours * 3600, seed=3)
        for params in (ChainParams(), ChainParams(expander=None)):
            tracemalloc.start()
            make_plan(a, get_profile("library-streaming"), params, lambda: TickFile(str(tmp_path / f"t{next(names)}")))
            peaks[hours, params.expander is None] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    per_tick_array = 4 * 100 * 3600 * (3.0 - 0.5)      # bytes of one more float32 per-tick array
    for no_expander in (False, True):
        assert peaks[3.0, no_expander] - peaks[0.5, no_expander] < 0.05 * per_tick_array, peaks


def test_exact_statistics_agree_with_numpy():
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.standard_normal(5000), np.full(700, 0.25), -np.zeros(30), np.zeros(30),
                        rng.random(3000) * 1e-6]).astype(np.float32)
    rng.shuffle(x)
    parts = lambda: (x[s:s + 999] for s in range(0, len(x), 999))   # noqa: E731
    for k in (0, 1, 17, len(x) // 2, len(x) - 1):
        assert kth_smallest(parts, k) == np.partition(x, k)[k]
    assert _median(parts, len(x)) == float(np.median(x))
    assert _median(lambda: iter([x[:-1]]), len(x) - 1) == float(np.median(x[:-1]))
    total = ExactSum()
    for p in parts():
        total.add(p)
    assert total.value() == math.fsum(x.astype(np.float64).tolist())
    total.add_repeated(0.1, 1000)
    assert total.value() == math.fsum(x.astype(np.float64).tolist() + [float(np.float32(0.1))] * 1000)
    assert total.count == len(x) + 1000
    with pytest.raises(IndexError):
        kth_smallest(parts, len(x))


@pytest.mark.parametrize("n", [1, 7, 8, 9, 127, 128, 129, 300, 1001, 8192, 70_001])
def test_pairwise_mean_is_numpys(n, tmp_path):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n) * 10 ** rng.uniform(-6, 6, n)
    assert pairwise_mean(x) == x.mean()
    f = TickFile(str(tmp_path / "x"))
    f.dtype = np.dtype(np.float64)
    f.append(x)
    assert pairwise_mean(f.done()) == x.mean()
    f.close()


def test_gated_loudness_fed_in_stretches_is_the_meters():
    rng = np.random.default_rng(6)
    frames = 5000
    k = (4410 * 10 ** (rng.uniform(-9, -1, frames))).astype(np.float32)
    k[1000:1400] = 0.0                                  # under the absolute gate
    n = np.full(frames, 4410, np.float32)
    for size in (4, 7, 999, frames):
        gate = GatedLoudness()
        for s in range(0, frames, size):
            gate.add(k[s:s + size], n[s:s + size])
        assert gate.result() == _integrated(k, n)
    gate = GatedLoudness()
    gate.add(k[:3], n[:3])
    assert gate.result() == -math.inf
