"""Room tone: never digital silence.

A `ToneLoop` is a seamless loop of room tone (frames, channels) indexed by absolute stream position,
so where a block starts never changes what is filled in. It is built either from the take's own
room tone (processed like the rest of the take) or, when the take has none (a DAW export, synthetic
speech), from comfort noise shaped like a quiet room at the profile's noise target.

`ZeroRuns` finds stretches of digital silence in the input (pass 1); `Filler` replaces them with
the loop in pass 2, with short ramps at the joins. Levels are dBFS RMS, lengths frames.
"""
from __future__ import annotations

import numpy as np
from scipy import signal

SILENCE_LIN = 1e-6          # |sample| under -120 dBFS counts as digital silence
MIN_RUN_S = 0.01            # shorter stretches of zeros are waveform zero crossings, not silence
RAMP_S = 0.005              # joins between the take and filled room tone
COMFORT_LOOP_S = 4.0        # long enough that the loop is not heard as a pattern
COMFORT_SEED = 1770


def _loopable(x: np.ndarray, crossfade: int) -> np.ndarray:
    """x[:L] whose end runs into its start without a seam: the first `crossfade` frames are an
    equal-power mix of x's extra tail (x[L:L+c]) fading out and x's head fading in."""
    c = max(0, min(crossfade, len(x) // 3))
    if c == 0:
        return x.copy()
    t = (np.arange(c) + 0.5) / c
    fo, fi = np.cos(0.5 * np.pi * t)[:, None], np.sin(0.5 * np.pi * t)[:, None]
    out = x[:len(x) - c].copy()
    out[:c] = x[:c] * fi + x[len(x) - c:] * fo
    return out


class ToneLoop:
    """Room tone repeated seamlessly; `values(start, n)` is the tone at stream frames start..start+n."""

    def __init__(self, loop: np.ndarray, kind: str):
        self.loop = np.asarray(loop, np.float64)
        self.kind = kind          # "take" or "comfort"

    def values(self, start: int, n: int) -> np.ndarray:
        L = len(self.loop)
        idx = np.arange(start, start + n) % L
        return self.loop[idx]

    def rms_db(self) -> float:
        p = float(np.mean(np.square(self.loop))) if len(self.loop) else 0.0
        return 10 * np.log10(p) if p > 0 else -np.inf


def from_take(tone: np.ndarray, rate: int) -> ToneLoop:
    """A loop from processed room tone of the take (at least ~0.2 s)."""
    return ToneLoop(_loopable(np.asarray(tone, np.float64), int(0.05 * rate)), "take")


def comfort_noise(rate: int, channels: int, level_db: float) -> ToneLoop:
    """Quiet-room noise at `level_db` RMS: pink above ~200 Hz, falling under 60 Hz (ventilation,
    traffic), and nothing above 12 kHz; the same for every run (fixed seed), uncorrelated channels."""
    rng = np.random.default_rng(COMFORT_SEED)
    n = int(COMFORT_LOOP_S * rate)
    c = int(0.1 * rate)
    white = rng.standard_normal((n + c, channels))
    # pink: -3 dB/octave with Kellet's economy filter (three poles), then a band limit
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1, -2.494956002, 2.017265875, -0.522189400]
    x = signal.lfilter(b, a, white, axis=0)
    x = signal.sosfilt(signal.butter(2, [60.0, min(12000.0, 0.45 * rate)], "bandpass", fs=rate,
                                     output="sos"), x, axis=0)
    loop = _loopable(x[c // 2:], c // 2)
    loop *= 10 ** (level_db / 20) / np.sqrt(np.mean(np.square(loop)))
    return ToneLoop(loop, "comfort")


class ZeroRuns:
    """Streaming detector of digital-silence runs (every channel under SILENCE_LIN) of at least
    MIN_RUN_S. `runs()` gives an (k, 2) int64 array of [start, stop) frames."""

    def __init__(self, rate: int):
        self.min_len = max(1, int(MIN_RUN_S * rate))
        self.pos = 0
        self.open_at: int | None = None
        self.found: list[tuple[int, int]] = []

    def add(self, block: np.ndarray) -> None:
        n = block.shape[0]
        if n == 0:
            return
        # mono: numpy's `all` over an axis of length one is a slow loop
        z = np.abs(block[:, 0]) < SILENCE_LIN if block.shape[1] == 1 else (np.abs(block) < SILENCE_LIN).all(axis=1)
        if self.open_at is None and not z.any():
            self.pos += n                              # no silence here nor running into it
            return
        d = np.diff(np.concatenate(([0], z.astype(np.int8), [0])))
        starts, stops = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
        prev, self.open_at = self.open_at, None
        if prev is not None and (len(starts) == 0 or starts[0] != 0):
            self._keep(prev, self.pos)                 # the run from the last block ended there
        for s, e in zip(starts, stops):
            a = prev if (s == 0 and prev is not None) else self.pos + int(s)
            if e == n:
                self.open_at = a                       # may go on in the next block
            else:
                self._keep(a, self.pos + int(e))
        self.pos += n

    def _keep(self, start: int, stop: int) -> None:
        if stop - start >= self.min_len:
            self.found.append((start, stop))

    def runs(self) -> np.ndarray:
        if self.open_at is not None:
            self._keep(self.open_at, self.pos)
            self.open_at = None
        return np.array(self.found, np.int64).reshape(-1, 2)


class Filler:
    """Pass 2: replaces the planned zero runs with the loop (ramped joins), and, when the loop is
    comfort noise, lays it under the whole take as a constant bed so no pause is emptier than a room."""

    def __init__(self, runs: np.ndarray, loop: ToneLoop | None, rate: int):
        self.runs = np.asarray(runs, np.int64).reshape(-1, 2)
        self.loop = loop
        self.ramp = max(1, int(RAMP_S * rate))
        self.pos = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        n = block.shape[0]
        s0 = self.pos
        self.pos += n
        if self.loop is None or n == 0:
            return block
        if self.loop.kind == "comfort":
            return block + self.loop.values(s0, n)
        r = self.runs
        lo = int(np.searchsorted(r[:, 1], s0, "right")) if len(r) else 0
        hi = int(np.searchsorted(r[:, 0], s0 + n, "left")) if len(r) else 0
        if hi <= lo:
            return block
        out = block.copy()
        idx = np.arange(s0, s0 + n)
        for a, b in r[lo:hi]:
            m = (idx >= a) & (idx < b)
            k = idx[m]
            w = np.minimum(np.minimum((k - a + 0.5) / self.ramp, (b - k - 0.5) / self.ramp), 1.0)
            # the ends of a run of zeros touch the take: ramp in/out there, full tone inside
            if a == 0:
                w = np.minimum((b - k - 0.5) / self.ramp, 1.0)
            w = np.clip(w, 0.0, 1.0)[:, None]
            out[m] = out[m] * (1 - w) + self.loop.values(int(k[0]), len(k)) * w
        return out
