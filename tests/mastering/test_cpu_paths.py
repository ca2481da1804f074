"""Issue 18 (speed): the shortcuts taken for CPU give what the plain computation gives — the
limiter filtering only around its overs, the gain curve's grid interpolation, the window views,
the repair's second difference, per-column tick sums and the meter's batched ticks."""
from __future__ import annotations

import numpy as np
import pytest
from mastering.filters import TruePeakEnvelope, hop_frames, windows
from mastering.meter import Meter
from mastering.plan import TickSums
from mastering.repair import _second_difference
from mastering.stages import Limiter, LimiterParams, interp_grid

RATE = 44100


def _trailing(q: np.ndarray, size: int, reduce) -> np.ndarray:
    """reduce over q[i - size + 1 .. i] for every i from size - 1 on (plain windows, no filters)."""
    return reduce(np.lib.stride_tricks.sliding_window_view(q, size), axis=1)


def _limited_directly(x: np.ndarray, lim: Limiter) -> np.ndarray:
    """The limiter's definition on the whole signal at once: required gain per frame from the
    true-peak envelope (1 before the start), trailing minimum over m, trailing means over l1 and
    l2; frame i of the output is input frame i times the gain `delay` frames later."""
    env = TruePeakEnvelope(RATE, x.shape[1]).process(np.concatenate([x, np.zeros((lim.delay, x.shape[1]))]),
                                                     threshold=lim.ceiling)
    q = np.where(env > lim.ceiling, lim.ceiling / np.maximum(env, 1e-30), 1.0)
    q = np.concatenate([np.ones(lim.window), q])
    g = _trailing(_trailing(_trailing(q, lim.m, np.min), lim.l1, np.mean), lim.l2, np.mean)
    g = np.minimum(g[len(g) - len(env):], 1.0)
    return x * g[lim.delay:, None]


def _speech_like(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    env = np.repeat(rng.uniform(0.0, 1.0, n // 2000 + 1) ** 3, 2000)[:n]
    return (0.9 * env * np.sin(2 * np.pi * 180 * np.arange(n) / RATE) + 0.01 * rng.standard_normal(n))[:, None]


@pytest.mark.parametrize("block", [65536, 3000, 777])
def test_limiter_equals_its_definition_and_leaves_frames_far_from_overs_alone(block):
    x = _speech_like(6.0, 1)
    params = LimiterParams(ceiling_dbtp=-6.0)
    lim = Limiter(RATE, 1, params)
    out = [lim.process(x[i:i + block]) for i in range(0, len(x), block)]
    y = np.concatenate(out + [lim.flush()])[lim.delay:]
    ref = _limited_directly(x, Limiter(RATE, 1, params))
    assert y.shape == x.shape
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-6)     # float32 interpolation aside
    assert lim.gain_min < 0.9                       # it did limit
    # frames whose whole gain window saw no over are the input, to the bit
    env = TruePeakEnvelope(RATE, 1).process(np.concatenate([x, np.zeros((lim.delay, 1))]))
    over = np.flatnonzero(env > lim.ceiling) - TruePeakEnvelope(RATE, 1).delay
    far = np.ones(len(x), bool)
    for o in over:
        far[max(0, o - lim.window):o + lim.window] = False
    assert far.sum() > len(x) // 4
    assert np.array_equal(y[far], x[far])


def test_interp_grid_is_numpys_interp_to_the_bit():
    rng = np.random.default_rng(5)
    for _ in range(200):
        step = int(rng.choice([441, 480, 7]))
        c = float(rng.integers(0, 40)) + float(rng.choice([0.0, 0.5])) + step * np.arange(int(rng.integers(1, 25)))
        g = rng.uniform(0.1, 3.0, len(c)).astype(np.float32).astype(np.float64)
        start, n = int(rng.integers(0, int(c[-1]) + 3 * step)), int(rng.integers(0, 6 * step))
        want = np.interp(np.arange(start, start + n, dtype=np.float64), c, g)
        assert np.array_equal(interp_grid(start, n, c, g, step), want), (step, c[0], len(c), start, n)


def test_window_views_are_numpys():
    x = np.arange(50, dtype=np.float32)
    assert np.array_equal(windows(x, 12), np.lib.stride_tricks.sliding_window_view(x, 12))
    assert windows(x[:5], 12).shape == (0, 12)
    s = np.arange(80.0).reshape(40, 2)
    want = np.lib.stride_tricks.sliding_window_view(s, 8, axis=0)[::4].transpose(0, 2, 1)
    assert np.array_equal(hop_frames(s, 8, 4, 9), want[:9])
    with pytest.raises(ValueError):
        hop_frames(s, 8, 4, 10)
    with pytest.raises(ValueError):
        windows(s[:, 0], 3)                         # not contiguous: refused, not misread


@pytest.mark.parametrize("n", [1, 2, 3, 9216])
def test_second_difference_is_numpys(n):
    x = np.random.default_rng(n).standard_normal(n)
    assert np.array_equal(_second_difference(x), np.abs(np.diff(x, 2, prepend=x[0], append=x[-1])))


@pytest.mark.parametrize("rate", [44100, 22050])
def test_tick_sums_by_column_with_counts(rate):
    rng = np.random.default_rng(4)
    a, b = rng.random(rate * 2 + 77), rng.random(rate * 2 + 77)
    edges = np.arange(0, len(a), dtype=np.int64)
    starts = np.unique(((np.arange(1000) * rate) // 100)[((np.arange(1000) * rate) // 100) < len(a)])
    for block in (len(a), 1000, 333):
        ts = TickSums(rate, 2, counts=True)
        for i in range(0, len(a), block):
            ts.add(a[i:i + block], b[i:i + block])
        ka, kb, cnt = ts.finish()
        assert len(ka) == len(starts)
        np.testing.assert_allclose(ka, np.add.reduceat(a, starts), rtol=1e-6)
        np.testing.assert_allclose(kb, np.add.reduceat(b, starts), rtol=1e-6)
        assert np.array_equal(cnt, np.diff(np.append(starts, len(edges))).astype(np.float32))


def test_meter_batches_give_the_same_records(monkeypatch):
    x = _speech_like(30.0, 2) * 0.5
    results = []
    for batch in (1, 7, 100000):
        monkeypatch.setattr(Meter, "BATCH_TICKS", batch)
        m = Meter(RATE, 1)
        for i in range(0, len(x), 4096):
            m.add(x[i:i + 4096])
        results.append(m.result())
    a, b, c = results
    for r in (b, c):
        for col in ("k_power", "power", "count", "peak", "short_term"):
            np.testing.assert_allclose(getattr(r.frames, col), getattr(a.frames, col), rtol=1e-6, equal_nan=True)
        assert abs(r.integrated_lufs - a.integrated_lufs) < 1e-9
        assert abs(r.momentary_max_lufs - a.momentary_max_lufs) < 1e-9
        assert abs(r.short_term_max_lufs - a.short_term_max_lufs) < 1e-9
        assert r.loudness_range_lu == pytest.approx(a.loudness_range_lu, abs=1e-6)


@pytest.mark.parametrize("channels", [1, 2])
def test_zero_runs_across_blocks(channels):
    """Digital-silence runs found the same whatever the block size, one running across blocks
    and through a block with no silence at all after it."""
    from mastering.roomtone import ZeroRuns
    rate = 8000
    x = np.full((rate * 6, channels), 0.01)
    x[0:4000] = 0.0                      # head: 0.5 s
    x[9000:17500] = 0.0                  # runs over the 4096-frame blocks' edges
    x[20000:20050] = 0.0                 # too short to count (under 10 ms)
    x[-4000:, 0] = 0.0                   # only one channel silent when stereo
    want = [[0, 4000], [9000, 17500]] + ([[len(x) - 4000, len(x)]] if channels == 1 else [])
    for block in (len(x), 4096, 1000):
        z = ZeroRuns(rate)
        for i in range(0, len(x), block):
            z.add(x[i:i + block])
        runs = z.runs()
        assert runs.tolist() == [r for r in want if r[1] - r[0] >= z.min_len], block
