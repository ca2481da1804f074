"""Streaming filters against scipy's whole-array functions."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from mastering import filters
from mastering.filters import SosFilter, k_weighting_sos, notch_sos


@pytest.mark.parametrize("kernel", [True, False])
@pytest.mark.parametrize("channels", [1, 2])
def test_sos_filter_in_blocks_equals_sosfilt_whole(monkeypatch, kernel, channels):
    """`SosFilter` (scipy's kernel called directly, or the public function when the kernel is not
    found) gives `signal.sosfilt` of the whole signal bit for bit, in any blocks, from float32 or
    float64 samples, and leaves its input alone."""
    if not kernel:
        monkeypatch.setattr(filters, "_sosfilt", None)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((30000, channels)).astype(np.float32)
    for sos in (k_weighting_sos(44100), notch_sos(44100, [50.0, 100.0], [30.0, 60.0])):
        whole = signal.sosfilt(sos, x.astype(np.float64), axis=0)
        for block in (1, 999, 30000):
            f = SosFilter(sos, channels)
            parts = []
            for i in range(0, len(x), block):
                b = x[i:i + block] if block != 999 else x[i:i + block].astype(np.float64)
                kept = b.copy()
                parts.append(f.process(b))
                assert np.array_equal(b, kept)
            y = np.concatenate(parts)
            assert y.shape == x.shape and y.dtype == np.float64
            assert np.array_equal(y, whole)
