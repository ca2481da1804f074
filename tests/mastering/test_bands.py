"""Issue 18.5: plosive control and de-esser, each measured on a generated fault: the fault's band
cut in the fault, the speech elsewhere unchanged; the same output in any block size."""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy import signal

from mastering.bands import DeEsserParams, PlosiveParams, make_tamer
from mastering.enhance import FrameMemo
from mastering.runner import master
from signals_for_tests import narration

RATE = 44100


def _run(x: np.ndarray, plosive, deesser, block: int | None = None) -> np.ndarray:
    """x (frames,) through the stage in blocks of `block` frames (None: whole); same shape back."""
    st = make_tamer(RATE, 1, plosive, deesser)
    x2, b = x[:, None], block or len(x)
    return np.concatenate([st.process(x2[i:i + b]) for i in range(0, len(x), b)] + [st.finish()])[:, 0]


def _band_db(x: np.ndarray, lo: float, hi: float) -> float:
    """Energy (dB) of x's content between lo and hi Hz (zero-phase Butterworth band)."""
    if lo <= 0:
        sos = signal.butter(6, hi, "lowpass", fs=RATE, output="sos")
    else:
        sos = signal.butter(6, [lo, hi], "bandpass", fs=RATE, output="sos")
    return 10 * np.log10(np.sum(signal.sosfiltfilt(sos, x) ** 2) + 1e-30)


def _speech(seed: int) -> np.ndarray:
    return narration(8.0, RATE, seed=seed)[:, 0].astype(np.float64)


def _outside(n: int, a: int, b: int, guard: int) -> np.ndarray:
    keep = np.ones(n, bool)
    keep[max(0, a - guard):b + guard] = False
    return keep


def test_plosive_pop_cut_and_speech_elsewhere_unchanged():
    """A 'p' pop (40 ms, 40–120 Hz, 20 dB over the speech's body) in the middle of a phrase: its
    energy below 150 Hz falls by >= 10 dB; everywhere else the signal moves by < 0.5 dB."""
    x = _speech(11)
    rng = np.random.default_rng(5)
    a = int(3.0 * RATE)
    n = int(0.04 * RATE)
    burst = signal.sosfilt(signal.butter(4, [40, 120], "bandpass", fs=RATE, output="sos"),
                           rng.standard_normal(n + 4000))[4000:] * np.hanning(n)
    pop = np.zeros_like(x)
    pop[a:a + n] = burst / np.abs(burst).max() * 0.6
    faulty = x + pop
    y = _run(faulty, PlosiveParams(), None)
    assert y.shape == x.shape
    seg = slice(a - 200, a + n + 200)
    assert _band_db(faulty[seg], 0, 150) - _band_db(y[seg], 0, 150) >= 10.0
    keep = _outside(len(x), a, a + n, int(0.03 * RATE))
    # the rest is the input itself (bit for bit since uncut hops skip the transform)
    assert np.sum((y - faulty)[keep] ** 2) <= 1e-4 * np.sum(faulty[keep] ** 2)
    assert abs(10 * np.log10(np.sum(y[keep] ** 2) / np.sum(faulty[keep] ** 2))) < 0.5
    # clean narration (fundamentals from 100 Hz, 50 Hz hum, room noise) has no pop to cut
    assert np.max(np.abs(_run(x, PlosiveParams(), None) - x)) < 1e-9


def test_deesser_cuts_the_ess_and_leaves_speech_between():
    """Harsh esses (5–9 kHz noise 10 dB over the speech's body, 120 ms) in a phrase: the sibilant
    band falls by >= 6 dB in each ess; between them the signal moves by < 0.5 dB."""
    x = _speech(12)
    rng = np.random.default_rng(6)
    sos = signal.butter(4, [5000, 9000], "bandpass", fs=RATE, output="sos")
    n = int(0.12 * RATE)
    esses = [int(t * RATE) for t in (1.0, 3.3, 5.6)]
    faulty = x.copy()
    for a in esses:
        body = np.sqrt(np.mean(x[a - RATE // 4:a + RATE // 4] ** 2)) + 3e-3
        s = signal.sosfilt(sos, rng.standard_normal(n + 2000))[2000:] * np.hanning(n)
        faulty[a:a + n] += s / np.sqrt(np.mean(s ** 2)) * body * 10 ** (10 / 20)
    y = _run(faulty, None, DeEsserParams())
    for a in esses:
        seg = slice(a + n // 4, a + 3 * n // 4)
        assert _band_db(faulty[seg], 5000, 9000) - _band_db(y[seg], 5000, 9000) >= 6.0
    keep = np.ones(len(x), bool)
    for a in esses:
        keep &= _outside(len(x), a, a + n, int(0.03 * RATE))
    assert abs(10 * np.log10(np.sum(y[keep] ** 2) / np.sum(faulty[keep] ** 2))) < 0.5
    # away from the esses the output is the input (bit for bit since uncut hops skip the transform)
    assert np.sum((y - faulty)[keep] ** 2) <= 1e-4 * np.sum(faulty[keep] ** 2)


def test_bands_same_in_any_block_size():
    """Audio contract: frames at absolute positions, so the block size never changes the output."""
    x = _speech(13)
    x[RATE:RATE + 2000] += 0.5 * np.sin(2 * np.pi * 70 * np.arange(2000) / RATE) * np.hanning(2000)
    whole = _run(x, PlosiveParams(), DeEsserParams())
    for block in (1000, 8191, 30001):
        assert np.array_equal(_run(x, PlosiveParams(), DeEsserParams(), block), whole)


def test_profile_chooses_the_stages_and_the_report_counts_cuts():
    """Plosive control is on in the default profile and cuts the pop; the de-esser only when the
    profile asks; ChainParams(plosive=None) turns it off for one book."""
    from mastering.plan import ChainParams
    from mastering.profiles import get_profile
    x = narration(6.0, RATE, seed=14)
    a = int(2.0 * RATE)
    x[a:a + 2000, 0] += (0.6 * np.sin(2 * np.pi * 70 * np.arange(2000) / RATE) * np.hanning(2000)).astype(np.float32)
    _, rep = master(x, RATE, "library-streaming")
    assert rep.processing["plosive_frames"] >= 1
    assert "sibilant_frames" not in rep.processing
    _, off = master(x, RATE, "library-streaming", params=ChainParams(plosive=None))
    assert "plosive_frames" not in off.processing
    prof = dataclasses.replace(get_profile("library-streaming"), plosive_control=False, deesser=True)
    _, de = master(x, RATE, prof)
    assert "plosive_frames" not in de.processing and "sibilant_frames" in de.processing


def _count_analysed(stage) -> list[int]:
    """Wrap `stage.gains` to count the frames it is asked to analyse; the count is `[n]`."""
    seen = [0]
    gains = stage.gains

    def counting(spec):
        seen[0] += spec.shape[0]
        return gains(spec)
    stage.gains = counting
    return seen


def test_a_second_pass_with_the_memo_analyses_only_the_cut_frames():
    """The runner's later passes over the same input: given the first pass's `FrameMemo`, the same
    output (bit for bit) and the same cut counts, in another block size, while the spectrum is
    taken only of the frames the first pass cut."""
    x = _speech(13)
    x[RATE:RATE + 2000] += 0.5 * np.sin(2 * np.pi * 70 * np.arange(2000) / RATE) * np.hanning(2000)
    memo = FrameMemo()

    def run(block: int) -> tuple[np.ndarray, dict, int]:
        st = make_tamer(RATE, 1, PlosiveParams(), DeEsserParams())
        st.stage.memo = memo
        seen = _count_analysed(st.stage)
        x2 = x[:, None]
        y = np.concatenate([st.process(x2[i:i + block]) for i in range(0, len(x), block)] + [st.finish()])[:, 0]
        return y, dict(st.stage.cuts), seen[0]
    first, cuts, analysed = run(30001)
    again, cuts2, analysed2 = run(8191)
    assert cuts["plosive_frames"] >= 1
    assert np.array_equal(again, first) and cuts2 == cuts
    assert analysed2 == sum(cuts.values()) < analysed / 20


def test_frames_too_quiet_to_cut_are_not_transformed_and_nothing_changes():
    """`BandTamer.may_cut` rules out frames by a bound on their level: pops from just under to
    just over the plosive control's -40 dBFS minimum in quiet room noise give the same output and
    the same cuts as analysing every frame, while the quiet frames are not transformed."""
    rng = np.random.default_rng(8)
    x = 10 ** (-60 / 20) * rng.standard_normal(RATE * 4)
    n = 4000
    t = np.arange(n) / RATE
    for i, level_db in enumerate(np.arange(-44.0, -35.0, 1.0)):
        a = RATE // 4 + i * 8000
        # a 60 Hz pop whose mean square over the pop is `level_db` (all in the plosive band)
        x[a:a + n] += np.sqrt(2 * 10 ** (level_db / 10)) * np.sin(2 * np.pi * 60 * t) * np.hanning(n) * 1.63
    x2 = x[:, None]

    def run(rule_out: bool) -> tuple[np.ndarray, dict, int]:
        st = make_tamer(RATE, 1, PlosiveParams(), None)
        if not rule_out:
            st.stage.may_cut = lambda stream, k: None
        seen = _count_analysed(st.stage)
        y = np.concatenate([st.process(x2[i:i + 30001]) for i in range(0, len(x), 30001)] + [st.finish()])
        return y, dict(st.stage.cuts), seen[0]
    y, cuts, analysed = run(True)
    every, cuts_every, analysed_every = run(False)
    assert cuts == cuts_every and cuts["plosive_frames"] >= 4      # the louder pops are cut
    assert np.array_equal(y, every)
    assert analysed < analysed_every / 4                            # the noise between is not transformed
