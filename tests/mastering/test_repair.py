"""Issue 18.5: repair stages, each measured on generated faults (and harmless on clean speech)."""
from __future__ import annotations

import numpy as np

from mastering.enhance import Aligned
from mastering.repair import Chunked, RepairMemo, RepairParams, declick, declip
from mastering.runner import master
from signals_for_tests import espeak_narration, narration

RATE = 44100


def test_clicks_removed_and_speech_left_alone():
    """20 impulses of 0.3 in narration: the worst error against the clean take falls by >= 6 dB;
    on clean narration and espeak-ng speech (which starts words out of digital zeros) nothing moves."""
    x = narration(8.0, RATE, seed=1)[:, 0].astype(np.float64)
    rng = np.random.default_rng(0)
    faulty = x.copy()
    at = rng.integers(RATE, len(x) - RATE, 20)
    faulty[at] += 0.3 * rng.choice([-1.0, 1.0], 20)
    fixed, found = declick(faulty, RATE)
    assert found >= 18
    assert 20 * np.log10(np.abs(fixed - x).max()) < 20 * np.log10(np.abs(faulty - x).max()) - 6.0
    assert declick(x, RATE)[1] == 0
    assert declick(espeak_narration(RATE)[:, 0].astype(np.float64), RATE)[1] == 0


def test_short_clipped_runs_redrawn():
    """Peaks 1.6 dB over full scale, clipped: the clipped samples come closer to the true wave."""
    x = narration(8.0, RATE, seed=2)[:, 0].astype(np.float64)
    x *= 1.2 * 0.999 / np.abs(x).max()
    clipped = np.clip(x, -0.999, 0.999)
    stuck = np.abs(clipped) >= 0.999
    fixed, runs = declip(clipped, RATE)
    assert runs > 0
    before = np.mean((clipped - x)[stuck] ** 2)
    after = np.mean((fixed - x)[stuck] ** 2)
    assert 10 * np.log10(before / after) > 1.5
    assert np.all(np.abs(fixed[stuck]) >= 0.999)          # never under the level it was stuck at


def test_repair_is_block_size_independent():
    x = narration(3.0, RATE, seed=3)
    x[RATE:RATE + 2] += 0.4                                # a click across any block edge
    x = x.astype(np.float64)

    def run(block: int) -> np.ndarray:
        st = Aligned(Chunked(RATE, 1, RepairParams()), 1)
        return np.concatenate([st.process(x[i:i + block]) for i in range(0, len(x), block)] + [st.finish()])
    whole = run(len(x))
    assert whole.shape == x.shape
    for block in (1000, 8191, 20000):
        assert np.array_equal(run(block), whole)


def test_chain_repairs_a_clicky_take():
    """In the chain: a take with clicks masters with the clicks gone from the output's peaks."""
    x = narration(8.0, RATE, seed=4, noise_db=-60)
    x[int(0.15 * RATE)] += 0.5                             # a click in the room tone at the head
    y, rep = master(x, RATE, "library-streaming")
    assert rep.passed, [r.message for r in rep.failures]
    head = y[:int(0.5 * RATE), 0]
    # unrepaired the click reaches the limiter (0.79); the redraw leaves a residue of a few times
    # the room noise, whose peak the linear-phase high-pass keeps (0.010; the clean take's head 0.0035)
    assert np.abs(head).max() < 0.02


def test_a_second_pass_with_the_memo_searches_only_the_repaired_chunks():
    """The runner repairs the same take in every pass: with the first pass's `RepairMemo` a later
    pass gives the same output (bit for bit, in another block size) and searches again only the
    chunks where something was redrawn, or that hold stuck samples."""
    x = narration(3.0, RATE, seed=3).astype(np.float64)
    x[RATE:RATE + 2] += 0.4                                # a click in chunk RATE // 8192 = 5
    x[2 * RATE] = 1.0                                      # a lone full-scale sample in chunk 10
    memo = RepairMemo()

    def run(block: int) -> tuple[np.ndarray, int]:
        ch = Chunked(RATE, 1, RepairParams(), memo=memo)
        st = Aligned(ch, 1)
        y = np.concatenate([st.process(x[i:i + block]) for i in range(0, len(x), block)] + [st.finish()])
        return y, ch.repaired["clicks"]
    first, clicks = run(20000)
    assert clicks >= 1
    clean = np.frombuffer(bytes(memo.clean), np.uint8)
    assert list(np.flatnonzero(clean == 0)) == [5, 10]
    again, clicks2 = run(8191)
    assert np.array_equal(again, first) and clicks2 == clicks


def test_clicks_just_over_the_floor_found_just_under_not():
    """In silence a one-sample impulse of height a has a second difference of 2a against a local
    mean of about 4a / 883: it is a click from a ≈ 0.0322 on (30 × the 2e-3 floor). The shortcut
    that skips chunks with no second difference over 30 × the floor keeps that edge exactly."""
    for a, found in ((0.0315, 0), (0.0330, 1)):
        x = np.zeros(9216)
        x[4000] = a
        y, n = declick(x, RATE)
        assert n == found, a
        assert (y[4000] == 0.0) == bool(found)
