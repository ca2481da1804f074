"""Repair of the take before cleanup: declipping and click removal (issue 18.5).

Both work on fixed chunks at absolute positions with context on either side (`Chunked`), so a
fault that straddles two blocks is repaired the same way whatever the block size. Samples are
float64 (frames, channels); lengths are frames.

- declip: runs of samples stuck at full scale are redrawn by a cubic (Hermite) from the good
  samples and slopes on either side, kept at or above the clip level (the true wave went at least that far) and at most
  12 dB over it.
- clicks: samples whose second difference stands out of the local level by a wide margin (an
  impulse, not a consonant) are redrawn the same way from their neighbours.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


MAX_STUCK_FRACTION = 0.2     # of a chunk's samples
MAX_CLICK_FRACTION = 0.002   # of a chunk's samples flagged as impulses
CLICK_FLOOR = 2e-3           # added to the local mean of the second difference


@dataclass(frozen=True)
class RepairParams:
    declip: bool = True
    clip_level: float = 0.999         # |sample| at or over this is stuck at full scale
    max_clip_ms: float = 0.5          # longer flat tops are not redrawn: a cubic overshoots them
    max_overshoot_db: float = 12.0
    declick: bool = True
    click_ratio: float = 30.0         # second difference this many times its local median
    click_ms: float = 0.5             # samples redrawn each side of a detected impulse
    max_click_ms: float = 2.0


def _redraw(x: np.ndarray, bad: np.ndarray, anchors: int, max_run: int) -> tuple[np.ndarray, int]:
    """x (1-D) with each run of `bad` up to `max_run` long replaced by the cubic Hermite curve
    joining the good samples either side with their slopes (all runs at once, no Python loop);
    returns (new x, runs redrawn). `anchors` good samples must exist on each side."""
    d = np.diff(np.concatenate(([0], bad.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    keep = (stops - starts <= max_run) & (starts >= anchors) & (stops + anchors <= len(x))
    a, b = starts[keep], stops[keep]
    if len(a) == 0:
        return x, 0
    span = (b - a + 1).astype(np.float64)            # from the last good sample to the next good one
    p0, p1 = x[a - 1], x[b]
    m0, m1 = (x[a - 1] - x[a - 2]) * span, (x[b + 1] - x[b]) * span
    lengths = b - a
    k = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    t = (k + 1) / np.repeat(span, lengths)
    t2, t3 = t * t, t * t * t
    rep = lambda v: np.repeat(v, lengths)             # noqa: E731
    y = x.copy()
    y[np.repeat(a, lengths) + k] = ((2 * t3 - 3 * t2 + 1) * rep(p0) + (t3 - 2 * t2 + t) * rep(m0)
                                    + (-2 * t3 + 3 * t2) * rep(p1) + (t3 - t2) * rep(m1))
    return y, len(a)


def declip(x: np.ndarray, rate: int, params: RepairParams = RepairParams()) -> tuple[np.ndarray, int]:
    """Redraw clipped runs of a 1-D signal; returns (signal, runs repaired)."""
    stuck = np.abs(x) >= params.clip_level
    # a chunk mostly stuck at full scale has nothing left to fit (and QC fails the take anyway)
    if not stuck.any() or stuck.mean() > MAX_STUCK_FRACTION:
        return x, 0
    y, n = _redraw(x, stuck, 8, max(1, int(params.max_clip_ms * 1e-3 * rate)))
    top = params.clip_level * 10 ** (params.max_overshoot_db / 20)
    sign = np.sign(x[stuck])
    y[stuck] = sign * np.clip(np.abs(y[stuck]) * (np.sign(y[stuck]) == sign), params.clip_level, top)
    return y, n


def _second_difference(x: np.ndarray) -> np.ndarray:
    """|np.diff(x, 2, prepend=x[0], append=x[-1])| with the same arithmetic, without `np.diff`'s
    argument handling (60 µs a call, 0.2 CPU s per 10-minute take)."""
    e = np.empty(len(x) + 2)
    e[0], e[1:-1], e[-1] = x[0], x, x[-1]
    d = e[1:] - e[:-1]
    d2 = d[1:] - d[:-1]
    return np.abs(d2, out=d2)


def declick(x: np.ndarray, rate: int, params: RepairParams = RepairParams()) -> tuple[np.ndarray, int]:
    """Find impulses by their second difference against its 20 ms mean; redraw them."""
    d2 = _second_difference(x)
    # a hit stands over click_ratio × (its local mean, >= 0, plus the floor): a chunk with no
    # second difference that high has none, and its local mean is not needed (most chunks of
    # speech: 0.1 of 0.18 CPU s per 10-minute take; 1e-9 covers the running mean's rounding)
    if d2.max(initial=0.0) <= params.click_ratio * (CLICK_FLOOR - 1e-9):
        return x, 0
    w = max(3, int(0.02 * rate) | 1)
    # floor: digital silence has a median of zero, and a word starting out of it is no click
    # (a mean, not a median: O(n), and one impulse moves a 20 ms mean by under 1/200 of itself)
    local = ndimage.uniform_filter1d(d2, size=w, mode="nearest") + CLICK_FLOOR
    hit = d2 > params.click_ratio * local
    # clicks are rare; edges everywhere (a square wave from heavy clipping) are not clicks
    if not hit.any() or hit.mean() > MAX_CLICK_FRACTION:
        return x, 0
    half = max(1, int(params.click_ms * 1e-3 * rate))
    bad = ndimage.binary_dilation(hit, structure=np.ones(2 * half + 1, bool))
    return _redraw(x, bad, 16, max(1, int(params.max_click_ms * 1e-3 * rate)))


class RepairMemo:
    """Which chunks of one stream needed no repair, by chunk index (one byte per chunk: 190 kB for
    a 10 h take at 44.1 kHz). The runner passes the same take through the repair two or three
    times; a later pass given the memo of an earlier one over the same input returns such chunks
    as they are instead of searching them again (the same output: a chunk with nothing redrawn
    is returned unchanged anyway)."""

    def __init__(self) -> None:
        self.clean = bytearray()


class Chunked:
    """Runs a per-channel repair on chunks of `chunk` frames with `context` frames either side.
    Output frame i is input frame i (`delay` 0); it comes out once the chunk's context is in.
    `memo`: shared by streams of the identical input (see `RepairMemo`)."""

    def __init__(self, rate: int, channels: int, params: RepairParams, chunk: int = 8192, context: int = 512,
                 memo: RepairMemo | None = None):
        self.rate, self.params = rate, params
        self.chunk, self.context = chunk, context
        self.buf = np.zeros((context, channels))
        self.delay = 0
        self.first = True
        self.tail = chunk + 2 * context
        self.repaired = {"clipped_runs": 0, "clicks": 0}
        self.memo, self.index = memo, 0

    def _fix(self, seg: np.ndarray) -> np.ndarray:
        i, self.index = self.index, self.index + 1
        memo = self.memo
        if memo is not None and i < len(memo.clean) and memo.clean[i]:
            return seg
        out = seg.copy()
        runs = 0
        for ch in range(seg.shape[1]):
            x = seg[:, ch]
            if self.params.declip:
                x, n = declip(x, self.rate, self.params)
                self.repaired["clipped_runs"] += n
                runs += n
            if self.params.declick:
                x, n = declick(x, self.rate, self.params)
                self.repaired["clicks"] += n
                runs += n
            out[:, ch] = x
        if memo is not None and i == len(memo.clean):
            # declip rewrites stuck samples in place even when it redraws no run (|x| over
            # its top): such a chunk is searched again in every pass
            stuck = self.params.declip and float(np.abs(seg).max()) >= self.params.clip_level
            memo.clean.append(runs == 0 and not stuck)
        return out

    def process(self, block: np.ndarray) -> np.ndarray:
        self.buf = np.concatenate([self.buf, block])
        outs = []
        c, k = self.chunk, self.context
        while self.buf.shape[0] >= c + 2 * k:
            # the first chunk has no past: its zero context would read as a step into the take
            lo = k if self.first else 0
            outs.append(self._fix(self.buf[lo:c + 2 * k])[k - lo:k - lo + c])
            self.buf, self.first = self.buf[c:], False
        return np.concatenate(outs) if outs else np.zeros((0, block.shape[1]))
