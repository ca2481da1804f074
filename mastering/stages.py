"""Processing stages: parameters as frozen dataclasses, each stage a streaming object plus a pure
function on whole arrays (`highpass`, `remove_hum`, `limit`, ...) that equals running the stream.

Samples are float64 inside the chain, shaped (frames, channels); gains are dB unless named `_lin`.
Gain curves (expander, leveler, normalisation) are planned from the analysis pass at 10 ms
resolution (see `mastering.plan`) and applied here by absolute sample index, so where a block
starts never changes the output.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from mastering.filters import FirFilter, LatencyTrim, SosFilter, TruePeakEnvelope, highpass_fir, highpass_sos, notch_sos


# -- parameters -------------------------------------------------------------------------------
@dataclass(frozen=True)
class HighPassParams:
    cutoff_hz: float = 80.0
    order: int = 2                # Butterworth order when not linear phase
    linear_phase: bool = True     # FIR, 50 ms long (25 ms latency, removed): keeps the voice's crest factor


@dataclass(frozen=True)
class HumParams:
    mains_hz: float = 50.0        # Vietnam's grid
    harmonics: int = 4            # 50, 100, 150, 200 Hz
    q: float = 30.0               # at the fundamental: -3 dB width about 1.7 Hz at 50 Hz
    only: tuple[int, ...] | None = None   # harmonics found in the take (None: all of 1..harmonics)

    def freqs_hz(self) -> list[float]:
        ks = self.only if self.only is not None else range(1, self.harmonics + 1)
        return [self.mains_hz * k for k in ks]

    def qs(self) -> list[float]:
        """Each notch's Q: every harmonic as wide in Hz as the fundamental's notch (Q × k). With
        Q 30 at every harmonic the 150 and 200 Hz notches were 5 and 6.7 Hz wide, in the voice's
        own harmonics: STOI of the hum take fell 0.017 from the notches alone (bench_real_takes),
        0.002 with one width. The cost: a harmonic drifts k times as far as the mains frequency,
        so at 200 Hz a 0.2 Hz drift of the grid leaves about a third of that harmonic."""
        return [self.q * f / self.mains_hz for f in self.freqs_hz()]


@dataclass(frozen=True)
class ExpanderParams:
    ratio: float = 12.0           # below threshold, 1 dB under gives (ratio-1) dB more cut
    attack_ms: float = 5.0
    hold_ms: float = 150.0
    release_ms: float = 60.0
    lookahead_ms: float = 30.0    # opens before the word so onsets are never chopped
    max_range_db: float = 45.0    # room tone of a quiet, noisy take may need 35 dB to reach -66 dB


@dataclass(frozen=True)
class LevelerParams:
    window_s: float = 3.0         # phrase-length loudness window (speech only)
    strength: float = 0.7         # fraction of the deviation from the chapter's level removed
    max_gain_db: float = 6.0
    smooth_s: float = 1.0         # gain-curve smoothing: no pumping


@dataclass(frozen=True)
class LimiterParams:
    ceiling_dbtp: float = -1.0
    # fast, so it touches only the peaks: STOI of espeak-ng narration at -18 LUFS / -2 dBTP fell
    # 0.012-0.020 with 3 ms ramps and a 30 ms hold, 0.006-0.008 with a 5 ms hold (bench_real_takes
    # takes). Hold 2 ms (session 14): the peaks of one pitch period no longer hold the gain down
    # into the next; neural masters of the hum and level-swing takes 0.0010-0.0024 more STOI, the
    # limiter 0.2-0.4 dB less deep, PESQ-WB unchanged (benchmarks/bench_stoi_bound.py sweeps it)
    attack_ms: float = 1.5        # two cascaded ramps of this length = look-ahead
    hold_ms: float = 2.0


@dataclass(frozen=True)
class FadeParams:
    fade_in_ms: float = 10.0
    fade_out_ms: float = 30.0
    crossfade_ms: float = 50.0    # joins added room tone to the recording


# -- cleanup: DC/high-pass and hum notches -----------------------------------------------------
class Cleanup(LatencyTrim):
    """High-pass (removes DC and rumble) then 50 Hz hum notches, streaming, positions unchanged:
    the linear-phase high-pass's latency is removed, so the first `delay` frames come out only
    after later blocks, and `finish()` gives the last ones (then out == in).

    The high-pass comes first so that `Cleanup(hp, hum)` is exactly `Cleanup(None, hum)` run on
    the output of `Cleanup(hp, None)`: the runner's analysis pass (no notches yet: which to notch
    is learnt from it) keeps that output and the later passes add the notches to it instead of
    filtering the take again (both are linear: the order moves the master by float rounding only)."""

    def __init__(self, rate: int, channels: int, hp: HighPassParams | None, hum: HumParams | None):
        sos = [np.zeros((0, 6))]
        self.fir = None
        if hp is not None and hp.linear_phase:
            self.fir = FirFilter(highpass_fir(rate, hp.cutoff_hz), channels)
        elif hp is not None:
            sos.append(highpass_sos(rate, hp.cutoff_hz, hp.order))
        if hum is not None and hum.freqs_hz():
            sos.append(notch_sos(rate, hum.freqs_hz(), hum.qs()))
        self.filter = SosFilter(np.concatenate(sos), channels)
        self.channels = channels
        self.skip = self.fir.delay if self.fir else 0
        self.taken = self.given = 0
        self.last = np.zeros((1, channels))

    def process(self, block: np.ndarray) -> np.ndarray:
        if self.fir is None:
            return self.filter.process(block)
        self.taken += block.shape[0]
        if block.shape[0]:
            self.last = block[-1:]
        return self.filter.process(self._trim(self.fir.process(block)))

    def finish(self) -> np.ndarray:
        """The frames still held back by the high-pass's latency (none without one). The look-ahead
        past the end sees the last frame held, not zeros: a DC offset would otherwise step at the
        end and leave a 25 ms transient of half the offset."""
        if self.fir is None or self.given >= self.taken:
            return np.zeros((0, self.channels))
        y = self._trim(self.fir.process(np.repeat(self.last, self.fir.delay + self.skip, axis=0)))
        return self.filter.process(y[:max(0, y.shape[0] - (self.given - self.taken))])

    def run(self, samples: np.ndarray) -> np.ndarray:
        """A whole (frames, channels) array in one go."""
        x = np.asarray(samples, np.float64)
        return np.concatenate([self.process(x), self.finish()])


def highpass(samples: np.ndarray, rate: int, params: HighPassParams = HighPassParams()) -> np.ndarray:
    """DC removal and high-pass of a whole (frames, channels) array."""
    return Cleanup(rate, samples.shape[1], params, None).run(samples)


def remove_hum(samples: np.ndarray, rate: int, params: HumParams = HumParams()) -> np.ndarray:
    """Notch the mains frequency and its harmonics out of a whole array."""
    return Cleanup(rate, samples.shape[1], None, params).run(samples)


HUM_PROMINENCE_DB = 10.0   # a harmonic this far over its spectral neighbourhood is hum


def detect_hum(room_tone: np.ndarray, rate: int, params: HumParams) -> HumParams | None:
    """The harmonics of mains hum present in a stretch of room tone (frames, channels), or None.

    Notching a harmonic that is not there costs intelligibility for nothing: a 150 Hz notch sits in
    a male narrator's fundamental (STOI of clean narration fell 0.03 from the notches alone).
    """
    x = np.asarray(room_tone, np.float64).mean(axis=1)
    if len(x) < rate // 4:
        return None
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    hz = rate / len(x)
    found = []
    for k in range(1, params.harmonics + 1):
        f = params.mains_hz * k
        i = int(round(f / hz))
        near = max(1, int(round(1.5 / hz)))
        around = np.r_[spec[max(0, i - int(12 / hz)):max(0, i - 3 * near)], spec[i + 3 * near:i + int(12 / hz)]]
        if len(around) and spec[max(0, i - near):i + near + 1].max() > np.median(around) * 10 ** (HUM_PROMINENCE_DB / 10):
            found.append(k)
    return replace(params, only=tuple(found)) if found else None


# -- gain curve --------------------------------------------------------------------------------
class TickGrid:
    """The first frame of each of `n` ticks, `t * rate // per_s`, worked out when asked instead of
    stored: as an int64 array it was 29 MB of a 10-hour take's plan. Indexing (an int or a slice)
    gives what the array would; `searchsorted(v)` is `np.searchsorted(array, v, "right")`."""

    def __init__(self, n: int, rate: int, per_s: int):
        self.n, self.rate, self.per_s = n, rate, per_s

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return (np.arange(self.n, dtype=np.int64)[i] if i.step not in (None, 1) else
                    np.arange(*i.indices(self.n), dtype=np.int64)) * self.rate // self.per_s
        t = int(i) + self.n if int(i) < 0 else int(i)
        if not 0 <= t < self.n:
            raise IndexError(i)
        return t * self.rate // self.per_s

    def __array__(self, dtype=None, copy=None):
        return self[:].astype(dtype) if dtype is not None else self[:]

    def searchsorted(self, v: int) -> int:
        # frames t*rate//per_s <= v  <=>  t < (v + 1) * per_s / rate
        return min(self.n, max(0, -(-(int(v) + 1) * self.per_s // self.rate)))


def _search_right(tf, v: int) -> int:
    return tf.searchsorted(v) if isinstance(tf, TickGrid) else int(np.searchsorted(tf, v, "right"))


def interp_grid(start: int, n: int, c: np.ndarray, g: np.ndarray, step: int) -> np.ndarray:
    """`np.interp(np.arange(start, start + n), c, g)` to the bit, for points `c` exactly `step`
    frames apart: per segment `slope * (x - c[j]) + g[j]` as numpy computes it, but the segments
    that lie whole in the block are one (segments, step) broadcast product instead of a search
    per sample (a third of the CPU: 0.1 s per 10-minute take)."""
    out = np.empty(n)
    a = min(n, max(0, math.ceil(c[0]) - start))        # x < c[0]: g[0]
    b = min(n, max(a, math.ceil(c[-1]) - start))       # x >= c[-1]: g[-1]
    out[:a], out[b:] = g[0], g[-1]
    if a == b:
        return out
    slope = (g[1:] - g[:-1]) / (c[1:] - c[:-1])
    i = a
    while i < b:
        j = int((start + i - c[0]) // step)             # c[j] <= x < c[j + 1]
        first = math.ceil(c[j])                         # the frame segment j starts at
        if start + i == first and b - i >= 2 * step:    # whole segments j .. j + k - 1
            k = (b - i) // step
            d = (first - c[j]) + np.arange(step, dtype=np.float64)
            body = out[i:i + k * step].reshape(k, step)
            np.multiply(slope[j:j + k, None], d[None, :], out=body)
            body += g[j:j + k, None]
            i += k * step
            continue
        stop = min(b, math.ceil(c[j + 1]) - start)
        x = np.arange(start + i, start + stop, dtype=np.float64)
        out[i:stop] = slope[j] * (x - c[j]) + g[j]
        i = stop
    return out


class GainCurve:
    """Applies a gain curve given in dB at tick centres, linearly interpolated per sample.

    `gains_db` is anything whose slices give float32 arrays (an array, or a file read a stretch
    at a time: `mastering.ticks.TickFile`); only the few ticks around each block are read, and
    their centres and linear gains worked out then.
    """

    def __init__(self, gains_db, tick_frames: "np.ndarray | TickGrid"):
        # tick_frames[t] = first frame of tick t; the value applies at the tick's centre
        self.gains_db = gains_db
        self.tick_frames = tick_frames if isinstance(tick_frames, TickGrid) else np.asarray(tick_frames)
        tf = self.tick_frames
        self.last_end = float(tf[-1] + (tf[-1] - tf[-2] if len(tf) > 1 else 1))
        self.pos = 0

    def values(self, start: int, n: int) -> np.ndarray:
        tf = self.tick_frames
        nt = len(tf)
        lo = max(0, _search_right(tf, start) - 2)
        hi = min(nt, _search_right(tf, start + n) + 2)
        s = tf[lo:hi].astype(np.float64)
        e = np.empty_like(s)
        e[:-1] = s[1:]
        e[-1] = float(tf[hi]) if hi < nt else self.last_end
        lin = np.power(np.float32(10.0), np.asarray(self.gains_db[lo:hi], np.float32) / np.float32(20.0))
        centres = (s + e) / 2.0
        if isinstance(tf, TickGrid) and tf.rate % tf.per_s == 0 and hi < nt:
            return interp_grid(start, n, centres, lin.astype(np.float64), tf.rate // tf.per_s)
        return np.interp(np.arange(start, start + n, dtype=np.float64), centres, lin)

    def process(self, block: np.ndarray) -> np.ndarray:
        g = self.values(self.pos, block.shape[0])
        self.pos += block.shape[0]
        return block * g[:, None]


# -- look-ahead true-peak limiter -----------------------------------------------------------------
def _odd(n: float) -> int:
    n = max(1, int(round(n)))
    return n if n % 2 else n + 1


class Limiter:
    """Look-ahead true-peak limiter, streaming, latency `delay` frames.

    Required gain per inter-sample interval = ceiling / true peak; a running minimum over
    `attack+attack+hold` then two moving averages of `attack` give a smooth gain that is never
    above what any sample it touches requires (so the ceiling holds up to interpolation error).
    The gain is 1 wherever no required gain under 1 lies in the `window` frames before, so the
    filters run only on the stretches around the overs (a tenth of a speech block, typically).
    """

    def __init__(self, rate: int, channels: int, params: LimiterParams):
        self.ceiling = 10.0 ** (params.ceiling_dbtp / 20.0)
        self.tp = TruePeakEnvelope(rate, channels)
        self.l1 = _odd(params.attack_ms * 1e-3 * rate)
        self.l2 = self.l1
        self.m = _odd(self.l1 + self.l2 + params.hold_ms * 1e-3 * rate)
        self.delay = self.l1 + self.l2 - 2 + self.tp.delay
        # the gain at a frame depends on the required gains of the `window` frames up to it
        self.window = self.m + self.l1 + self.l2 - 2
        self.q_tail = np.ones(self.window - 1)      # the last required gains (1: none)
        self.tail_low = False                       # any of them under 1
        self.y_hist = np.zeros((self.delay, channels))
        self.gain_min = 1.0

    def _gain(self, q: np.ndarray) -> np.ndarray:
        """Gain for the last len(q) - window + 1 frames of the required gains `q`: trailing
        minimum over m, then trailing means over l1 and l2 (only frames with full windows)."""
        for fn, size in ((ndimage.minimum_filter1d, self.m), (ndimage.uniform_filter1d, self.l1),
                         (ndimage.uniform_filter1d, self.l2)):
            h = size // 2
            q = fn(q, size=size, mode="nearest")[h:len(q) - h]
        return np.minimum(q, 1.0)

    def process(self, block: np.ndarray) -> np.ndarray:
        n = block.shape[0]
        if n == 0:
            return block
        env = self.tp.process(block, threshold=self.ceiling)
        over = np.flatnonzero(env > self.ceiling)
        ext = np.concatenate([self.y_hist, block])
        y = ext[:n]
        self.y_hist = ext[n:]
        if not len(over) and not self.tail_low:
            # nothing to limit here nor still ramping from before: the gain is 1 everywhere
            return y
        w1 = self.window - 1
        q = np.ones(w1 + n)                          # required gains, the tail's first
        q[:w1] = self.q_tail
        q[w1 + over] = self.ceiling / env[over]
        self.q_tail = q[n:].copy()
        low = np.flatnonzero(q < 1.0)
        self.tail_low = bool(len(low)) and low[-1] >= n
        # a required gain at q[p] reaches the outputs p - w1 .. p: join the reaches that touch
        gaps = np.flatnonzero(np.diff(low) > w1 + 1)
        for i0, i1 in zip(np.concatenate(([0], gaps + 1)), np.concatenate((gaps, [len(low) - 1]))):
            a, b = max(int(low[i0]) - w1, 0), min(int(low[i1]) + 1, n)
            if a < b:
                g = self._gain(q[a:b + w1])
                self.gain_min = min(self.gain_min, float(g.min()))
                y[a:b] *= g[:, None]
        return y

    def flush(self) -> np.ndarray:
        """Push out the last `delay` frames (call once at the end)."""
        return self.process(np.zeros((self.delay, self.y_hist.shape[1])))


def limit(samples: np.ndarray, rate: int, params: LimiterParams) -> np.ndarray:
    """Limit a whole array; same length as the input (latency removed)."""
    lim = Limiter(rate, samples.shape[1], params)
    x = np.asarray(samples, np.float64)
    out = np.concatenate([lim.process(x), lim.flush()])
    return out[lim.delay:]


# -- room tone edit and fades ---------------------------------------------------------------------
def equal_power(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Fade-out and fade-in curves of length n whose powers sum to one (for uncorrelated noise)."""
    t = (np.arange(n) + 0.5) / max(n, 1)
    return np.cos(0.5 * np.pi * t), np.sin(0.5 * np.pi * t)


class Editor:
    """Turns the processed stream into the delivered file: trims the head and tail, adds room
    tone, crossfades the joins and applies the short end fades. Positions are frames."""

    def __init__(self, total_in: int, trim_head: int, trim_tail: int,
                 pad_head: np.ndarray, pad_tail: np.ndarray, rate: int, fades: FadeParams):
        self.k0, self.k1 = trim_head, total_in - trim_tail      # kept range of the stream
        self.content = self.k1 - self.k0
        self.c = min(int(fades.crossfade_ms * 1e-3 * rate), max(self.content // 4, 0))
        self.pad_head = pad_head if len(pad_head) > self.c else pad_head[:0]
        self.pad_tail = pad_tail if len(pad_tail) > self.c else pad_tail[:0]
        self.ch = self.c if len(self.pad_head) else 0
        self.ct = self.c if len(self.pad_tail) else 0
        self.out_len = (len(self.pad_head) - self.ch) + self.content + (len(self.pad_tail) - self.ct)
        self.fade_in = int(fades.fade_in_ms * 1e-3 * rate)
        self.fade_out = int(fades.fade_out_ms * 1e-3 * rate)
        self.pos = 0       # stream position
        self.written = 0   # output position
        self.started = False

    def _fades(self, y: np.ndarray) -> np.ndarray:
        n = y.shape[0]
        w0 = self.written
        self.written += n
        # only the frames inside the fades are touched (the rest of a block passes as it is)
        lo, hi = min(max(self.fade_in - w0, 0), n), max(min(self.out_len - self.fade_out - w0, n), 0)
        if lo == 0 and hi == n:
            return y
        y = y.copy()
        for a, b in ((0, lo), (max(hi, lo), n)):
            if b > a:
                o = np.arange(w0 + a, w0 + b)
                g = np.ones(b - a)
                if self.fade_in:
                    g = np.minimum(g, np.clip((o + 0.5) / self.fade_in, 0, 1))
                if self.fade_out:
                    g = np.minimum(g, np.clip((self.out_len - o - 0.5) / self.fade_out, 0, 1))
                y[a:b] *= g[:, None]
        return y

    def process(self, block: np.ndarray) -> np.ndarray:
        parts = []
        if not self.started:
            self.started = True
            if len(self.pad_head):
                parts.append(self.pad_head[:len(self.pad_head) - self.ch])
        n = block.shape[0]
        s0 = self.pos
        self.pos += n
        lo, hi = max(s0, self.k0), min(s0 + n, self.k1)
        if hi > lo:
            y = block[lo - s0:hi - s0].copy()
            k = np.arange(lo, hi) - self.k0          # content index
            if self.ch:
                m = k < self.ch
                if m.any():
                    fo, fi = equal_power(self.ch)
                    tail = self.pad_head[len(self.pad_head) - self.ch:]
                    y[m] = y[m] * fi[k[m], None] + tail[k[m]] * fo[k[m], None]
            if self.ct:
                m = k >= self.content - self.ct
                if m.any():
                    fo, fi = equal_power(self.ct)
                    j = k[m] - (self.content - self.ct)
                    y[m] = y[m] * fo[j, None] + self.pad_tail[j] * fi[j, None]
            parts.append(y)
        if not parts:
            return block[:0]
        return self._fades(np.concatenate(parts))

    def finish(self) -> np.ndarray:
        rest = self.pad_tail[self.ct:]
        if not self.started:
            rest = np.concatenate([self.process(np.zeros((0, rest.shape[1]))), rest])
        return self._fades(rest) if len(rest) else rest
