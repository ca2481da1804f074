"""EBU Tech 3341 (cases 1-6, 9, 12, 13, 15-23) and Tech 3342 (cases 1-4), synthesised in numpy,
checked against the published values and tolerances."""
from __future__ import annotations

import numpy as np
import pytest

from mastering.meter import Meter, measure
from signals_for_tests import tone

FS = 48000


def seq(*parts):
    return np.concatenate([tone(db, s) for db, s in parts])


@pytest.mark.parametrize("case,signal", [
    (1, lambda: tone(-23, 20)),
    (2, lambda: tone(-33, 20)),
    (3, lambda: seq((-36, 10), (-23, 60), (-36, 10))),
    (4, lambda: seq((-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10))),
    (5, lambda: seq((-26, 20), (-20, 20.1), (-26, 20))),
])
def test_3341_integrated(case, signal):
    expected = -33.0 if case == 2 else -23.0
    m = measure(signal(), FS, true_peak=False)
    assert m.integrated_lufs == pytest.approx(expected, abs=0.1)
    if case in (1, 2):
        assert m.momentary_max_lufs == pytest.approx(expected, abs=0.1)
        assert m.short_term_max_lufs == pytest.approx(expected, abs=0.1)


def test_3341_case6_five_one():
    # L, R -28 dBFS; C -24; Ls, Rs -30; LFE carries a loud tone that must be ignored
    lv = {0: -28, 1: -28, 2: -24, 3: -10, 4: -30, 5: -30}
    x = np.concatenate([tone(lv[c], 20, channels=1) for c in range(6)], axis=1)
    assert measure(x, FS, true_peak=False).integrated_lufs == pytest.approx(-23.0, abs=0.1)


def _series(x, step_ticks=1):
    """Momentary and short-term loudness every 10 ms, via a meter fed in 10 ms blocks."""
    from mastering.meter import _lufs
    m = Meter(FS, x.shape[1])
    m.BATCH_TICKS = 1       # finished ticks handed on at every block: rk/rn current after each
    st, mo = [], []
    for i in range(0, len(x), 480):
        m.add(x[i:i + 480])
        k, n = m.rk, m.rn
        if m.tick >= 40:
            mo.append(float(_lufs(k[-40:].sum() / n[-40:].sum())))
        if m.tick >= 300:
            st.append(float(_lufs(k[-299:].sum() / n[-299:].sum())))  # buffer holds 299 ticks
    return np.array(mo), np.array(st), m


def test_3341_case9_short_term_constant():
    x = np.concatenate([seq((-20, 1.34), (-30, 1.66)) for _ in range(20)])
    m = measure(x, FS, true_peak=False)
    st = m.frames.short_term[np.isfinite(m.frames.short_term)]
    assert np.all(np.abs(st - -23.0) <= 0.1)
    assert m.short_term_max_lufs == pytest.approx(-23.0, abs=0.1)


def test_3341_case12_momentary_constant():
    x = np.concatenate([seq((-20, 0.18), (-30, 0.22)) for _ in range(50)])
    m = measure(x, FS, true_peak=False)
    assert m.momentary_max_lufs == pytest.approx(-23.0, abs=0.1)
    # every 400 ms window (10 ms updates) of the steady part reads -23
    mo, _, _ = _series(x)
    assert np.all(np.abs(mo - -23.0) <= 0.1)


@pytest.mark.parametrize("offset_ms", [0.0, 1.3, 2.7, 4.1, 5.5, 6.9, 8.3, 9.7])
def test_3341_case13_momentary_max_any_offset(offset_ms):
    # a tone burst at -23 LUFS of 410 ms at an offset that is not a multiple of the 10 ms update:
    # the maximum momentary loudness must still read -23 (a 100 ms-updated meter reads ~-24)
    lead = int(round((1.0 + offset_ms / 1000) * FS))
    x = np.concatenate([np.zeros((lead, 2)), tone(-23, 0.41), np.zeros((FS, 2))])
    assert measure(x, FS, true_peak=False).momentary_max_lufs == pytest.approx(-23.0, abs=0.1)


def _faded_sine(amplitude, period, phase_deg, seconds=1.0):
    n = np.arange(int(seconds * FS))
    ramp = np.minimum(1, np.minimum(n, len(n) - 1 - n) / 480.0)
    env = 0.5 - 0.5 * np.cos(np.pi * ramp)
    x = env * amplitude * np.sin(2 * np.pi * n / period + np.deg2rad(phase_deg))
    return np.repeat(x[:, None], 2, axis=1)


@pytest.mark.parametrize("case,amp,period,phase,expected", [
    (15, 0.5, 4, 0.0, -6.0), (16, 0.5, 4, 45.0, -6.0), (17, 0.5, 6, 60.0, -6.0),
    (18, 0.5, 8, 67.5, -6.0), (19, 1.41, 4, 45.0, 3.0),
])
def test_3341_true_peak_sines(case, amp, period, phase, expected):
    tp = measure(_faded_sine(amp, period, phase), FS).true_peak_dbtp
    assert expected - 0.4 <= tp <= expected + 0.2


@pytest.mark.parametrize("offset", [0, 1, 2, 3])
def test_3341_true_peak_intersample(offset):
    # cases 20-23: a band-limited pulse whose continuous peak is 0 dBFS and lies offset/4 of a
    # sample past a sampling instant; sample peaks are lower than the true peak
    n = np.arange(-64, 65)
    t = n - offset / 4.0
    pulse = np.sinc(0.9 * t) * np.kaiser(len(n), 8) * 1.0
    x = np.zeros((FS // 2, 2))
    x[1000:1000 + len(n), :] = pulse[:, None]
    m = measure(x, FS)
    assert -0.4 <= m.true_peak_dbtp <= 0.2
    if offset:
        assert m.sample_peak_dbfs < -0.1


@pytest.mark.parametrize("parts,expected", [
    (((-20, 20), (-30, 20)), 10.0),
    (((-20, 20), (-15, 20)), 5.0),
    (((-40, 20), (-20, 20)), 20.0),
    (((-50, 20), (-35, 20), (-20, 20), (-35, 20), (-50, 20)), 15.0),
])
def test_3342_loudness_range(parts, expected):
    assert measure(seq(*parts), FS, true_peak=False).loudness_range_lu == pytest.approx(expected, abs=1.0)


def test_per_frame_powers_mono_shortcut_equals_the_general_sums():
    """The mono shortcut of the meter's per-frame sums gives the general formula's values bit for
    bit; stereo and 5.1 still weight their channels (LFE 0, surrounds 1.41)."""
    from mastering.meter import channel_weights, mean_square, weighted_power
    rng = np.random.default_rng(3)
    for ch in (1, 2, 6):
        y = rng.standard_normal((1000, ch))
        w = channel_weights(ch)
        assert np.array_equal(weighted_power(y, w), np.square(y) @ w)
        assert np.array_equal(mean_square(y), np.square(y).mean(axis=1))
    y = rng.standard_normal((10, 6))
    assert np.allclose(weighted_power(y, channel_weights(6)),
                       (y[:, :3] ** 2).sum(axis=1) + 1.41 * (y[:, 4:] ** 2).sum(axis=1))


@pytest.mark.parametrize("channels", [1, 2])
def test_true_peak_max_equals_the_envelopes_max(channels):
    """`TruePeakEnvelope.peak` (the meter's running maximum without building the envelope) is
    the largest value `process` gives for the same blocks and thresholds, bit for bit: with
    everything oversampled, with chunks skipped under a running maximum, and for empty blocks."""
    from mastering.filters import TruePeakEnvelope
    rng = np.random.default_rng(4)
    x = rng.standard_normal((20000, channels)) * np.linspace(0.01, 0.3, 20000)[:, None]
    x[7001:7003] = 0.9      # an inter-sample peak well over its neighbours
    for block in (1, 777, 4096, 20000):
        a, b = TruePeakEnvelope(FS, channels), TruePeakEnvelope(FS, channels)
        top_a = top_b = 0.0
        for i in range(0, len(x), block):
            env = a.process(x[i:i + block], threshold=top_a)
            top_a = max(top_a, float(env.max(initial=0.0)))
            top_b = max(top_b, b.peak(x[i:i + block], threshold=top_b))
            assert top_a == top_b
        assert a.peak(np.zeros((0, channels))) == 0.0
        assert top_a > np.abs(x).max()        # the oversampled peak, not the samples'
        tail = np.zeros((a.delay + 1, channels))
        assert float(a.process(tail, threshold=0.5).max()) == b.peak(tail, threshold=0.5)


def test_clipped_samples_counted_per_frame_in_any_blocks():
    """Clip counts per 100 ms frame and in all are the same whether a block has clipped samples
    or none (blocks without any skip the per-tick clip sums)."""
    x = 0.1 * np.sin(2 * np.pi * 440 * np.arange(FS * 3) / FS)[:, None]
    x[FS // 2:FS // 2 + 7] = 1.0             # frame 5
    x[2 * FS + 100:2 * FS + 103] = -1.0      # frame 20
    whole = measure(x, FS, true_peak=False)
    assert whole.clipped_samples == 10
    for block in (1000, 4800, 44100):
        m = Meter(FS, 1, true_peak=False)
        for i in range(0, len(x), block):
            m.add(x[i:i + block])
        r = m.result()
        assert r.clipped_samples == 10
        assert np.array_equal(r.frames.clipped, whole.frames.clipped)
        assert np.flatnonzero(r.frames.clipped).tolist() == [5, 20]
