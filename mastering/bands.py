"""Plosive control and de-esser (issue 18.5): one band of the spectrum tamed, frame by frame,
when it stands out of the speech around it.

- plosive: a "p"/"b" pop is a short burst under `cutoff_hz` far louder than the speech's own
  body (150 Hz–4 kHz) in the same frame; voiced speech keeps its low band near or under the body.
- de-esser: sibilance (5–9 kHz) far louder than the body (150 Hz–5 kHz) in the same frame.

The band's gain cuts `cut_per_db_over` dB for each dB it stands over the body's level plus
`threshold_db` (continuous at the threshold), never deeper than `max_cut_db`, and only when the
band is louder than `min_level_dbfs` (rumble, hum or hiss in a pause is not a pop or an ess).
Frames under the threshold get gain one, so speech elsewhere is the input itself (to float
rounding). Runs on `enhance.StftStage` (frames at absolute positions: any block size
gives the same output). Samples float64 (frames, channels); `delay` frames of latency.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mastering.enhance import Aligned, StftStage

FRAME_MS = 21.3          # 1024 frames at 44.1/48 kHz: 43–47 Hz bins, so 150 Hz is 3 bins


@dataclass(frozen=True)
class PlosiveParams:
    cutoff_hz: float = 150.0
    body_low_hz: float = 150.0
    body_high_hz: float = 4000.0
    threshold_db: float = 6.0      # low band may stand this far over the body before it is cut
    cut_per_db_over: float = 2.0   # a pop is no speech: the further over, the deeper (speech's own
                                   # low band sits under its body, so cutting to the threshold is not enough)
    max_cut_db: float = 30.0
    min_level_dbfs: float = -40.0  # quieter low bands are rumble or hum in a pause, not pops


@dataclass(frozen=True)
class DeEsserParams:
    low_hz: float = 5000.0
    high_hz: float = 9000.0
    body_low_hz: float = 150.0
    body_high_hz: float = 5000.0
    threshold_db: float = 3.0      # sibilance may stand this far over the body before it is cut
    cut_per_db_over: float = 1.0   # down to the threshold: an ess stays an ess
    max_cut_db: float = 10.0       # deeper lisps
    min_level_dbfs: float = -50.0  # quieter sibilance is hiss in a pause, left to the denoiser


def _band(freqs: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (freqs >= lo) & (freqs < hi)


class BandTamer(StftStage):
    """Cuts each (name, band, body, threshold, dB per dB over, deepest cut, minimum level) rule's band where it stands out of its body."""

    def __init__(self, rate: int, channels: int, plosive: PlosiveParams | None, deesser: DeEsserParams | None):
        super().__init__(rate, channels, FRAME_MS)
        f = np.fft.rfftfreq(self.n, 1.0 / rate)
        # Parseval under the sqrt-Hann window (sum of squares n/2): band power -> mean square
        self.to_ms = 4.0 / self.n ** 2
        self.rules = []
        if plosive:
            self.rules.append(("plosive_frames", f < plosive.cutoff_hz, _band(f, plosive.body_low_hz, plosive.body_high_hz),
                               plosive.threshold_db, plosive.cut_per_db_over, plosive.max_cut_db, plosive.min_level_dbfs))
        if deesser and deesser.low_hz < rate / 2:
            self.rules.append(("sibilant_frames", _band(f, deesser.low_hz, deesser.high_hz),
                               _band(f, deesser.body_low_hz, deesser.body_high_hz),
                               deesser.threshold_db, deesser.cut_per_db_over, deesser.max_cut_db, deesser.min_level_dbfs))
        self.cuts = {rule[0]: 0 for rule in self.rules}      # frames cut, per stage that runs
        # the lowest band power (mean square) any rule acts on: quieter frames are never cut
        self.quietest = min((10 ** (rule[6] / 10) for rule in self.rules), default=np.inf)
        # bins the rules look at (the plosive rule: under 4 kHz); band powers are summed only there
        self.top = max((int(np.flatnonzero(band | body).max()) + 1 for _, band, body, *_ in self.rules), default=1)

    def may_cut(self, stream: np.ndarray, k: int) -> np.ndarray:
        """Frames whose samples are loud enough for some rule's minimum level (bool, k).

        A bound, not a guess: a band's power is part of the frame's whole spectrum, which by
        Parseval is n·Σ(x·w)², at most n·Σx² (w² ≤ 1), so a frame whose samples' sum of squares
        (two hops) is under n/4 times the quietest `min_level` can never be cut. In a take's
        pauses and quiet stretches no transform is taken (64 % of the frames of the
        bench_mastering_cpu take at the plosive control's -40 dBFS)."""
        hops = np.square(stream[:(k + 1) * self.hop]).reshape(k + 1, self.hop, -1).sum(axis=1)
        frames = hops[:-1] + hops[1:]                          # (k, channels): >= Σx² per frame
        return (frames * (self.to_ms * self.n * (1 + 1e-6)) > self.quietest).any(axis=1)

    def gains(self, spec: np.ndarray) -> np.ndarray | None:
        top = self.top
        p = np.square(spec[:, :top].real) + np.square(spec[:, :top].imag)
        g = None
        for key, band, body, thr_db, per_db, max_db, min_db in self.rules:
            e_band = p[:, band[:top]].sum(axis=1)              # (frames, channels)
            allowed = p[:, body[:top]].sum(axis=1) * 10 ** (thr_db / 10)
            over = (e_band > allowed) & (e_band * self.to_ms > 10 ** (min_db / 10))
            if over.any():
                self.cuts[key] += int(over.any(axis=1).sum())
                over_db = 10 * np.log10(np.maximum(e_band, 1e-30) / np.maximum(allowed, 1e-30))
                cut = np.where(over, 10 ** (-np.minimum(per_db * over_db, max_db) / 20), 1.0)
                if g is None:
                    g = np.ones(spec.shape)                    # (frames, bins, channels)
                g[:, band] = cut[:, None, :]
        return g


def make_tamer(rate: int, channels: int, plosive: PlosiveParams | None,
               deesser: DeEsserParams | None) -> Aligned | None:
    """The stage, latency removed; None when neither is asked for."""
    if plosive is None and deesser is None:
        return None
    return Aligned(BandTamer(rate, channels, plosive, deesser), channels)
