"""Issue 18 (speed and memory): the computed tick grid equals the array it replaced, STFT hops
left uncut are the input itself, and hum notches keep one width in Hz."""
from __future__ import annotations

import numpy as np
import pytest

from mastering.bands import PlosiveParams, make_tamer
from mastering.stages import GainCurve, HumParams, TickGrid


@pytest.mark.parametrize("rate", [44100, 48000, 22050])
def test_tick_grid_equals_the_array(rate):
    n = 1234
    arr = np.arange(n, dtype=np.int64) * rate // 100
    grid = TickGrid(n, rate, 100)
    assert len(grid) == n and np.array_equal(grid[:], arr) and np.array_equal(grid[5:40], arr[5:40])
    assert grid[-1] == arr[-1] and grid[-2] == arr[-2] and grid[7] == arr[7]
    for v in [-5, -1, 0, 1, rate // 100 - 1, rate // 100, 12345, int(arr[-1]), int(arr[-1]) + 10 ** 6]:
        assert grid.searchsorted(v) == np.searchsorted(arr, v, "right"), v
    with pytest.raises(IndexError):
        grid[n]
    # the gain curve reads the same values off either
    gains = np.random.default_rng(1).normal(0, 3, n).astype(np.float32)
    a, b = GainCurve(gains, arr), GainCurve(gains, grid)
    for start, m in [(0, 1000), (5000, 70000), (int(arr[-1]) - 300, 1000)]:
        assert np.array_equal(a.values(start, m), b.values(start, m))


def test_uncut_hops_are_the_input_and_cut_ones_are_not():
    """The plosive stage leaves speech without pops exactly as it was (no transform round trip),
    cuts the pops, and does so whatever the block size."""
    rate = 44100
    rng = np.random.default_rng(3)
    x = 0.01 * rng.standard_normal((rate * 3, 1))
    pop = slice(rate + 100, rate + 2100)
    x[pop, 0] += 0.5 * np.sin(2 * np.pi * 60 * np.arange(2000) / rate) * np.hanning(2000)
    outs = []
    for block in (4096, 1000, rate * 3):
        st = make_tamer(rate, 1, PlosiveParams(), None)
        outs.append(np.concatenate([st.process(x[i:i + block]) for i in range(0, len(x), block)] + [st.finish()]))
        assert st.stage.cuts["plosive_frames"] > 0
    y = outs[0]
    assert np.array_equal(y, outs[1]) and np.array_equal(y, outs[2])
    far = np.r_[0:rate // 2, 2 * rate:3 * rate]
    assert np.array_equal(y[far], x[far])                         # bit-exact away from the pop
    assert np.sqrt(np.mean(y[pop] ** 2)) < 0.5 * np.sqrt(np.mean(x[pop] ** 2))


def test_hum_notches_one_width_in_hz():
    h = HumParams()
    assert h.freqs_hz() == [50.0, 100.0, 150.0, 200.0]
    assert h.qs() == pytest.approx([30.0, 60.0, 90.0, 120.0])    # f / Q = 1.67 Hz at each
