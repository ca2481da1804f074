"""Analysis pass and the plan it yields (pass 1 of 2).

`Analyser` streams the cleaned-up signal into 10 ms ticks (K-weighted and plain power), then
`make_plan(analysis, profile, params)` decides, as plain data: the expander, leveler and
normalisation gain curve (dB per tick), where speech starts and ends, how much head/tail to trim
or pad with room tone, and where the room tone comes from. The plan is stored in the QC report.
The plan is worked out a stretch of ticks at a time (`mastering.ticks`); given a store, the
per-tick analysis and gain curve live in files, so memory does not grow with the take's length.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np
from scipy import ndimage

from mastering.filters import SosFilter, k_weighting_sos
from mastering.meter import (FRAME_TICKS, TICKS_PER_S, GatedLoudness, channel_weights, mean_square,
                              weighted_power)
from mastering.profiles import Profile
from mastering.bands import DeEsserParams, PlosiveParams
from mastering.repair import RepairParams
from mastering.roomtone import ZeroRuns
from mastering.stages import (Cleanup, ExpanderParams, FadeParams, HighPassParams, HumParams,
                              LevelerParams, LimiterParams, TickGrid)
from mastering.ticks import (STRETCH_TICKS, ExactSum, Store, Ticks, close, exact_mean, kth_smallest,
                             new_column, stretches)

PREDICT_TICKS = STRETCH_TICKS    # ticks per chunk of `predict`: whole 100 ms frames (a multiple of 10)


@dataclass(frozen=True)
class ChainParams:
    """Every stage's parameters; the profile supplies targets, this supplies the sound."""

    highpass: HighPassParams | None = HighPassParams()
    hum: HumParams | None = HumParams()
    expander: ExpanderParams | None = ExpanderParams()
    leveler: LevelerParams | None = LevelerParams()
    fades: FadeParams = FadeParams()
    room_tone_snippet_s: float = 1.0
    denoise: str | None = None        # "off" | "spectral" | "neural"; None: the profile's choice
    repair: RepairParams | None = RepairParams()
    # used when the profile asks for the stage; None turns it off for this book
    plosive: PlosiveParams | None = PlosiveParams()
    deesser: DeEsserParams | None = DeEsserParams()
    # loudness on target: the plan may drive speech this much harder into the limiter than plain
    # normalisation would, to make up what the limiter takes off the peaks
    max_limiter_push_db: float = 4.0
    limiter: LimiterParams = LimiterParams()     # its ceiling comes from the profile
    # the neural enhancer may take this much level out of the speech ticks before the chain
    # decides it is eating words and uses the spectral stage instead. Measured on the corpus
    # (bench_real_takes, STOI with the master lined up with the take): noise 12-20 dB under the
    # speech 0.2-0.3 dB; rooms with RT60 0.2 s 1.4 dB (STOI 0.772 -> 0.786) and 0.6 s 3.6 dB
    # (0.589 -> 0.629): taking the room's tail out of the "speech" is what it should do. 3 dB
    # here made the 0.6 s room fall back to spectral (0.589), on a STOI lined up with the clean
    # speech, which on reverberant takes measured the lag rather than the model (0.513)
    max_speech_loss_db: float = 6.0


class TickSums:
    """Sums (or, with `ufunc=np.maximum`, maxima of) per-sample values into 10 ms ticks
    (tick t covers frames floor(t·rate/100) ...). Values must be >= 0 for maxima.
    `width` columns are given to `add`; `counts`: one more column, the frames in each tick."""

    def __init__(self, rate: int, width: int, ufunc=np.add, store: Store = None, counts: bool = False):
        self.rate, self.pos, self.tick = rate, 0, 0
        self.ufunc, self.counts = ufunc, counts
        self.acc = np.zeros(width + counts)
        self.done: list[np.ndarray] = []
        # with a store, finished ticks go straight to one column file each
        self.files = [store() for _ in range(width + counts)] if store is not None else None

    def _emit(self, sums: np.ndarray) -> None:
        if self.files is None:
            self.done.append(sums)
            return
        for j, f in enumerate(self.files):
            f.append(sums[:, j])

    def _tail(self, cols: tuple[np.ndarray, ...], m: int) -> np.ndarray:
        """Per column, the sum (maximum) of its frames from `m` on; with `counts`, their number."""
        t = [self.ufunc.reduce(c[m:], initial=0.0) for c in cols]
        return np.array(t + [cols[0].shape[0] - m] if self.counts else t, np.float64)

    def add(self, *cols: np.ndarray) -> None:
        """Feed the next frames: one 1-D array per column, all of one length (a column each, not
        one (frames, columns) array: the sums then run over contiguous memory)."""
        n = cols[0].shape[0]
        end = self.pos + n
        last = (TICKS_PER_S * (end + 1) - 1) // self.rate - 1
        if last >= self.tick:
            ts = np.arange(self.tick, last + 1)
            cuts = ((ts + 1) * self.rate) // TICKS_PER_S - self.pos
            starts = np.concatenate(([0], cuts[:-1]))
            m = int(cuts[-1])
            sums = np.empty((len(starts), self.acc.shape[0]))
            for j, c in enumerate(cols):
                sums[:, j] = self.ufunc.reduceat(c[:m], starts)
            if self.counts:
                sums[:, -1] = cuts - starts
            sums[0] = self.ufunc(sums[0], self.acc)
            self._emit(sums.astype(np.float32))
            self.acc = self._tail(cols, m)
            self.tick = last + 1
        else:
            self.acc = self.ufunc(self.acc, self._tail(cols, 0))
        self.pos = end

    def finish(self) -> list[Ticks]:
        """One float32 column each: the store's files, or arrays filled chunk by chunk (the chunks
        are freed as it goes)."""
        if self.pos > (self.tick * self.rate) // TICKS_PER_S:
            self._emit(self.acc[None].astype(np.float32))
        if self.files is not None:
            return [f.done() for f in self.files]
        total = sum(len(d) for d in self.done)
        cols = [np.empty(total, np.float32) for _ in range(self.acc.shape[0])]
        at = 0
        self.done.reverse()
        while self.done:
            d = self.done.pop()
            for j, c in enumerate(cols):
                c[at:at + len(d)] = d[:, j]
            at += len(d)
        return list(cols)


@dataclass
class Analysis:
    rate: int
    channels: int
    frames: int
    k_power: Ticks   # per tick, sum of channel-weighted K-filtered squares (cleaned signal)
    power: Ticks     # per tick, sum of mean-over-channels squares (cleaned signal)
    count: Ticks     # frames per tick
    peak: Ticks      # per tick, largest |sample| of the cleaned signal (linear)
    zero_runs: np.ndarray  # (k, 2) [start, stop) frames of digital silence in the input

    def tick_frames(self) -> TickGrid:
        return TickGrid(len(self.count), self.rate, TICKS_PER_S)

    def close(self) -> None:
        """Free the columns' files (when a store keeps them on disk)."""
        for col in (self.k_power, self.power, self.count, self.peak):
            close(col)


class Analyser:
    """Pass 1: clean up (high-pass, hum) and sum powers per 10 ms tick. `store`: where the
    per-tick columns go (see `mastering.ticks`; None: memory)."""

    def __init__(self, rate: int, channels: int, params: ChainParams, store: Store = None):
        self.rate, self.channels = rate, channels
        self.cleanup = Cleanup(rate, channels, params.highpass, params.hum)
        self.kf = SosFilter(k_weighting_sos(rate), channels)
        self.w = np.asarray(channel_weights(channels))
        self.sums = TickSums(rate, 2, store=store, counts=True)
        self.peaks = TickSums(rate, 1, np.maximum, store=store)
        self.zeros = ZeroRuns(rate)

    def add(self, block: np.ndarray, cleaned: np.ndarray | None = None) -> None:
        """Feed the next input block (`cleaned`: the same block already cleaned up and enhanced)."""
        # digital silence as the rest of the chain will see it: an enhancer may zero what was noise
        self.zeros.add(block if cleaned is None else cleaned)
        x = self.cleanup.process(np.asarray(block, np.float64)) if cleaned is None else cleaned
        self._sum(x)

    def _sum(self, x: np.ndarray) -> None:
        kz = weighted_power(self.kf.process(x), self.w)
        u = mean_square(x)
        self.sums.add(kz, u)
        if x.shape[0]:
            self.peaks.add(np.abs(x[:, 0]) if x.shape[1] == 1 else np.abs(x).max(axis=1))

    def finish(self) -> Analysis:
        self._sum(self.cleanup.finish())      # what its high-pass still held (nothing if unused)
        k, u, c = self.sums.finish()
        (pk,) = self.peaks.finish()
        # float32 per tick (the sums are float32 already): 16 bytes per 10 ms, 5.8 MB per hour
        # (in files beside the output when a store is given)
        return Analysis(self.rate, self.channels, self.sums.pos, k, u, c, pk, self.zeros.runs())


@dataclass
class Plan:
    gains_db: Ticks                   # per tick: expander + leveler + normalisation (may be a TickFile)
    tick_frames: TickGrid             # first frame of each tick (computed, not stored)
    trim_head: int                    # frames cut from the start of the stream
    trim_tail: int
    pad_head: int                     # frames of room tone added (before crossfade overlap)
    pad_tail: int
    snippet: tuple[int, int]          # frames [start, stop) of the room tone used for padding
    report: dict = field(default_factory=dict)
    room_tone: str = "take"           # "take": the snippet; "comfort": generated quiet-room noise
    zero_runs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))


def _window_sum(x: np.ndarray, before: int, after: int, dtype=np.float64) -> np.ndarray:
    """out[i] = sum of x[i-before .. i+after] (clipped at the ends); slices only, no index arrays."""
    m = len(x)
    c = np.empty(m + 1, dtype)
    c[0] = 0
    np.cumsum(x, dtype=dtype, out=c[1:])
    out = np.empty(m, c.dtype)
    if m == 0:
        return out
    # out[i] = c[min(i+after+1, m)] - c[max(i-before, 0)]
    i0 = min(before, m)                  # i < before: lower end clipped to 0
    i1 = max(i0, m - after - 1)          # i >= m-after-1: upper end clipped to m
    out[:i0] = c[np.minimum(np.arange(i0) + after + 1, m)] - c[0]
    out[i0:i1] = c[i0 + after + 1:i1 + after + 1] - c[i0 - before:i1 - before]
    out[i1:] = c[m] - c[np.maximum(np.arange(i1, m) - before, 0)]
    return out


def _sum3(x: np.ndarray) -> np.ndarray:
    """x[i-1] + x[i] + x[i+1] with zeros beyond the ends, float32."""
    s = np.array(x, dtype=np.float32)
    s[1:] += x[:-1]
    s[:-1] += x[1:]
    return s


def _db(p: np.ndarray | float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.maximum(p, 0.0))


def speech_activity(level_db: np.ndarray, noise_db: float, speech_db: float) -> tuple[np.ndarray, float]:
    """Boolean per tick (speech) and the threshold used: 40 % of the way from noise to speech, and
    never more than 30 dB under the speech (an enhanced take's pauses may be near silence, and what
    is left in them is residue, not words)."""
    thr = max(noise_db + max(6.0, 0.4 * (speech_db - noise_db)), speech_db - 30.0)
    return level_db > thr, thr


class _Ticks:
    """What the plan derives per tick from an analysis, for any stretch [t0, t1) (with the context
    each value needs, so a stretch gives exactly what the whole array would)."""

    def __init__(self, a: Analysis):
        self.a, self.n = a, len(a.count)
        zr = np.asarray(a.zero_runs, np.int64).reshape(-1, 2)
        # ticks not live around each run of digital silence (and the tick either side)
        self.z0 = np.maximum(0, zr[:, 0] * TICKS_PER_S // a.rate - 1)
        self.z1 = np.minimum(self.n, -(-zr[:, 1] * TICKS_PER_S // a.rate) + 1)

    def per(self, t0: int, t1: int) -> np.ndarray:
        """Mean power per sample of each tick."""
        return self.a.power[t0:t1] / np.maximum(self.a.count[t0:t1], 1)

    def level(self, t0: int, t1: int) -> np.ndarray:
        """Detector level (dB): 30 ms power around each tick."""
        lo, hi = max(0, t0 - 1), min(self.n, t1 + 1)
        lvl = _db(_sum3(self.a.power[lo:hi]) / np.maximum(_sum3(self.a.count[lo:hi]), 1))
        return lvl[t0 - lo:t0 - lo + (t1 - t0)]

    def live(self, t0: int, t1: int, lvl: np.ndarray) -> np.ndarray:
        """Neither digital silence nor a tick touching it (filter ringing and partial ticks next
        to a DAW's zeros are not the room's noise, and would pull the noise estimate far down)."""
        live = lvl > -140.0
        j0 = int(np.searchsorted(self.z1, t0, "right"))
        j1 = int(np.searchsorted(self.z0, t1, "left"))
        for z0, z1 in zip(self.z0[j0:j1], self.z1[j0:j1]):
            live[max(0, int(z0) - t0):max(0, int(z1) - t0)] = False
        return live


def _noise_db(tk: _Ticks) -> float:
    """Mean power of the quietest 10 % of the live ticks (dB); -inf when none is live. The k-th
    smallest found exactly by histograms, the mean from the exact sum (numpy summed them in
    `np.partition`'s order: at most a rounding apart)."""
    def quiet_candidates() -> Iterator[np.ndarray]:
        for t0, t1 in stretches(tk.n):
            yield tk.per(t0, t1)[tk.live(t0, t1, tk.level(t0, t1))]
    n_live = sum(len(x) for x in quiet_candidates())
    if not n_live:
        return float(_db(0.0))
    k = max(1, int(n_live * 0.10))
    v = np.float32(kth_smallest(quiet_candidates, k - 1))
    total = ExactSum()
    for x in quiet_candidates():
        total.add(x[x < v])
    total.add_repeated(float(v), k - total.count)
    return float(_db(exact_mean(total)))


def _median(chunks: Callable[[], Iterable[np.ndarray]], n: int) -> float:
    """`np.median` of all float32 values the chunks give (n of them), a stretch at a time."""
    if n % 2:
        return kth_smallest(chunks, n // 2)
    a, b = np.float32(kth_smallest(chunks, n // 2 - 1)), np.float32(kth_smallest(chunks, n // 2))
    return float((a + b) / 2)


def _cumsum(col: Ticks, store: Store) -> Ticks:
    """[0, x0, x0+x1, ...] in float64 (as `np.cumsum(x, dtype=float64)` adds), a stretch at a time."""
    out = new_column(store, np.float64)
    out.append(np.zeros(1))
    carry = np.zeros(1)
    for f0, f1 in stretches(len(col)):
        c = np.cumsum(np.concatenate([carry, col[f0:f1].astype(np.float64)]))
        out.append(c[1:])
        carry = c[-1:]
    return out.done()


def _window_sum_at(c: Ticks, m: int, f0: int, f1: int, before: int, after: int) -> np.ndarray:
    """`_window_sum(x, before, after)[f0:f1]` from the cumulative sums `c` of x (m values)."""
    i = np.arange(f0, f1)
    lo, hi = max(0, f0 - before), min(m, f1 + after) + 1
    cc = c[lo:hi]
    return cc[np.minimum(i + after + 1, m) - lo] - cc[np.maximum(i - before, 0) - lo]


def _leveler(a: Analysis, lp: LevelerParams, active: Callable[[int, int], np.ndarray], speech_lufs: float,
             store: Store) -> Ticks | None:
    """The leveler's gain per 100 ms frame (dB, float64), or None when no frame has enough speech:
    the phrase loudness of the speech ticks in a centred window, interpolated over frames without
    enough of it, then smoothed. Stage by stage over the frames a stretch at a time (each stage's
    result in a column), the same to the bit as over whole arrays."""
    n = len(a.count)
    nfr = n // FRAME_TICKS
    fps = TICKS_PER_S // FRAME_TICKS
    w = _odd(lp.window_s * fps)
    ekf, enf = new_column(store), new_column(store)
    for t0, t1 in stretches(n):
        act = active(t0, t1)
        ekf.append(_frames(np.where(act, a.k_power[t0:t1], np.float32(0))))
        enf.append(_frames(np.where(act, a.count[t0:t1], np.float32(0))))
    ck, cn = _cumsum(ekf.done(), store), _cumsum(enf.done(), store)
    close(ekf)
    close(enf)
    # loudness where the window holds enough speech (NaN elsewhere)
    fp_col = new_column(store, np.float64)
    valid = 0
    for f0, f1 in stretches(nfr):
        ek = _window_sum_at(ck, nfr, f0, f1, w // 2, w // 2)
        en = _window_sum_at(cn, nfr, f0, f1, w // 2, w // 2)
        fp = np.full(f1 - f0, np.nan)
        have = en > 0.25 * w * a.rate / fps * 0.2
        fp[have] = -0.691 + _db(ek[have] / en[have])
        fp[~np.isfinite(fp)] = np.nan
        valid += int(np.count_nonzero(~np.isnan(fp)))
        fp_col.append(fp)
    fps_db = fp_col.done()
    close(ck)
    close(cn)
    if not valid:
        close(fps_db)
        return None
    # interpolated over the frames without (np.interp over the valid ones: only the valid frames
    # either side of a frame count), clipped
    raw = new_column(store, np.float64)
    prev: tuple[list[float], list[float]] = ([], [])
    nxt: tuple[list[float], list[float]] = ([], [])   # the first valid frame at or after a position
    nxt_at = -1                                       # where (-1: not looked yet, -2: none left)

    def next_valid(f: int) -> tuple[list[float], list[float]]:
        nonlocal nxt, nxt_at
        if nxt_at >= f or (nxt_at == -2):
            return nxt
        for g0, g1 in stretches(nfr - f):
            v = fps_db[f + g0:f + g1]
            ok = np.flatnonzero(~np.isnan(v))
            if len(ok):
                nxt_at = f + g0 + int(ok[0])
                nxt = ([float(nxt_at)], [float(v[ok[0]])])
                return nxt
        nxt_at, nxt = -2, ([], [])        # none after f
        return nxt
    for f0, f1 in stretches(nfr):
        v = fps_db[f0:f1]
        ok = np.flatnonzero(~np.isnan(v))
        after = next_valid(f1) if f1 < nfr else ([], [])
        xp = np.concatenate([prev[0], f0 + ok, after[0]])
        yp = np.concatenate([prev[1], v[ok], after[1]])
        local = np.interp(np.arange(f0, f1, dtype=np.float64), xp, yp)
        raw.append(np.clip((speech_lufs - local) * lp.strength, -lp.max_gain_db, lp.max_gain_db))
        if len(ok):
            prev = ([float(f0 + ok[-1])], [float(v[ok[-1]])])
    close(fps_db)
    raw_db = raw.done()
    # smoothed: centred moving average of s frames
    s = _odd(lp.smooth_s * fps)
    cs = _cumsum(raw_db, store)
    close(raw_db)
    out = new_column(store, np.float64)
    for f0, f1 in stretches(nfr):
        i = np.arange(f0, f1)
        cnt = (np.float32(s) - np.maximum(0, s // 2 - i) - np.maximum(0, s // 2 - (nfr - 1 - i))).astype(np.float32)
        out.append(_window_sum_at(cs, nfr, f0, f1, s // 2, s // 2) / cnt)
    close(cs)
    return out.done()


def make_plan(a: Analysis, profile: Profile, params: ChainParams, store: Store = None) -> Plan:
    """Decide gains and edits from the analysis (pure; no audio is touched).

    Worked out `STRETCH_TICKS` at a time: the global figures (noise, speech loudness, the
    normalisation) from sweeps over the take, the local ones (levels, expander, limiter) per
    stretch with the context they need, so the result is the same as over whole arrays while
    memory stays flat with length (per-frame arrays, a tenth of per-tick ones, are kept).
    `store`: where the per-tick gain curve goes (a `TickFile` beside the output; None: memory)."""
    n = len(a.count)
    tk = _Ticks(a)
    noise_db = _noise_db(tk)
    # a take whose pauses between phrases are digital zeros (gated DAW export, synthetic speech)
    # has no room noise to reduce and no room tone to continue: comfort noise fills it instead
    zr = a.zero_runs
    inner = zr[(zr[:, 0] > 0) & (zr[:, 1] < a.frames)] if len(zr) else zr
    inner_s = float((inner[:, 1] - inner[:, 0]).sum()) / a.rate if len(inner) else 0.0
    gated = inner_s >= 0.5 and inner_s >= 0.05 * a.frames / a.rate
    if gated:
        noise_db = -140.0
    gate = GatedLoudness(store)
    for t0, t1 in stretches(n):
        gate.add(_frames(a.k_power[t0:t1]), _frames(a.count[t0:t1]))
    speech_lufs = gate.result()
    if not math.isfinite(speech_lufs) or not math.isfinite(noise_db):
        speech_lufs = speech_lufs if math.isfinite(speech_lufs) else -70.0
        noise_db = noise_db if math.isfinite(noise_db) else -140.0
    thr = speech_activity(np.zeros(0), noise_db, speech_lufs)[1]

    def active(t0: int, t1: int) -> np.ndarray:
        return speech_activity(tk.level(t0, t1), noise_db, speech_lufs)[0]
    n_active = sum(int(np.count_nonzero(active(t0, t1))) for t0, t1 in stretches(n))

    # leveler: phrase loudness over speech ticks only, centred window; worked out per 100 ms
    # frame (it moves slowly: 3 s window, 1 s smoothing) and interpolated to ticks
    nfr = n // FRAME_TICKS
    lev: Ticks | None = None       # per frame, dB (float64)
    if params.leveler is not None and n_active and nfr:
        lev = _leveler(a, params.leveler, active, speech_lufs, store)

    def lev_at(t0: int, t1: int) -> np.ndarray:
        """The leveler's gain (dB, float32) at ticks [t0, t1), from the frames around them."""
        if lev is None:
            return np.zeros(t1 - t0, np.float32)
        f0, f1 = max(0, t0 // FRAME_TICKS - 1), min(nfr, (t1 - 1) // FRAME_TICKS + 2)
        centres = np.arange(f0, f1) * FRAME_TICKS + (FRAME_TICKS - 1) / 2.0
        return np.interp(np.arange(t0, t1, dtype=np.float64), centres, lev[f0:f1]).astype(np.float32)

    by_rms = profile.normalize_to == "rms_db" and profile.target_rms_db is not None
    target_level = profile.target_rms_db if by_rms and profile.target_rms_db is not None else profile.target_lufs
    ceiling_lin = 10.0 ** ((profile.ceiling_dbtp - profile.limiter_margin_db) / 20.0)

    # frames in the take (whole numbers per tick: the same in any order of summing)
    count_total = float(sum(a.count[t0:t1].sum(dtype=np.float64) for t0, t1 in stretches(n)))
    lim = params.limiter
    reach = 2 * int(np.ceil((2 * lim.attack_ms + lim.hold_ms) / 20.0)) + 1    # ticks its gain reaches
    # a limiter faster than a tick cuts only part of the tick it acts in
    cover = min(1.0, (2 * lim.attack_ms + lim.hold_ms) / 10.0)

    def predict(g_db: Callable[[int, int], np.ndarray], limited: bool = False, offset_db: float = 0.0) -> float:
        """Output level (LUFS or RMS dB, as the profile normalises) for a per-tick gain (dB at
        ticks [t0, t1) from `g_db`) plus `offset_db`; with `limited`, the limiter's cut is
        estimated per tick from the tick's sample peak (the gain it needs, spread over the
        neighbouring ticks its hold and ramps reach). `PREDICT_TICKS` at a time with `reach`
        ticks of context."""
        h = reach // 2
        gate = GatedLoudness(store)
        total = 0.0
        for t0 in range(0, n, PREDICT_TICKS):
            t1 = min(n, t0 + PREDICT_TICKS)
            lo, hi = max(0, t0 - h), min(n, t1 + h)
            g = np.power(np.float32(10.0), (g_db(lo, hi) + np.float32(offset_db)) / np.float32(10.0))
            if limited:
                with np.errstate(divide="ignore", over="ignore"):
                    need = np.minimum(np.float32(1.0), np.float32(ceiling_lin) / (a.peak[lo:hi] * np.sqrt(g)))
                g *= np.power(ndimage.minimum_filter1d(need, reach, mode="nearest"), np.float32(2.0 * cover))
            g = g[t0 - lo:t1 - lo]
            if by_rms:
                total += float(np.dot(a.power[t0:t1].astype(np.float64), g))
            else:
                gate.add(_frames(a.k_power[t0:t1] * g), _frames(a.count[t0:t1]))
        if by_rms:
            return float(_db(total / max(count_total, 1.0)))
        return gate.result()

    def norm_for(g_db: Callable[[int, int], np.ndarray]) -> float:
        level = predict(g_db)
        return target_level - level if math.isfinite(level) else 0.0

    def norm_limited(g_db: Callable[[int, int], np.ndarray], plain: float) -> float:
        """The normalisation gain that lands on target after the limiter (secant steps)."""
        x0, f0 = plain, predict(g_db, True, plain) - target_level
        if not math.isfinite(f0) or abs(f0) < 0.02:
            return plain
        x1 = plain - f0
        for _ in range(8):
            x1 = min(x1, plain + params.max_limiter_push_db)
            f1 = predict(g_db, True, x1) - target_level
            if abs(f1) < 0.02 or x1 >= plain + params.max_limiter_push_db:
                break
            slope = (f1 - f0) / (x1 - x0) if x1 != x0 else 1.0
            x0, f0, x1 = x1, f1, x1 - f1 / max(slope, 0.05)
        return x1

    norm_db = norm_for(lev_at)
    lev_range: list[float] = [0, 0]
    if n:
        lows, highs = zip(*((float(v.min()), float(v.max())) for v in (lev_at(t0, t1) for t0, t1 in stretches(n))))
        lev_range = [round(min(lows), 2), round(max(highs), 2)]
    # lev_db + exp_db per tick (the expander's curve is recursive: worked out once, kept)
    col = new_column(store)
    closed_gain_db = 0.0
    if params.expander is not None and n_active:
        ep = params.expander
        # how far room tone must come down to land at the profile's noise target
        floor = profile.noise_floor_target_db
        lev_median = _median(lambda: (lev_at(t0, t1) for t0, t1 in stretches(n)), n)
        need = min(ep.max_range_db, max(0.0, noise_db + norm_db + lev_median - floor))
        closed_gain_db = -need
        # look-ahead and hold: open early, stay open through short gaps (this covers `active`)
        ahead = int(round(ep.lookahead_ms / 10.0))
        hold = int(round(ep.hold_ms / 10.0))
        a_up = math.exp(-10.0 / max(ep.attack_ms, 1e-3))
        a_dn = math.exp(-10.0 / max(ep.release_ms, 1e-3))
        g_state = None
        for t0, t1 in stretches(n):
            lvl = tk.level(t0, t1)
            lev_db = lev_at(t0, t1)
            target = np.maximum(np.float32(-need), (lvl - np.float32(thr)) * np.float32(ep.ratio - 1.0))
            # the floor is the profile's noise target: a tick already near or under it is not pushed
            # further down (a clean take's pauses would otherwise sink towards -120 dB)
            with np.errstate(invalid="ignore"):
                guard = np.float32(floor - norm_db) - lvl - lev_db
            np.maximum(target, np.nan_to_num(guard, copy=False, nan=0.0, neginf=-need), out=target)
            np.minimum(target, 0.0, out=target)
            lo, hi = max(0, t0 - hold), min(n, t1 + ahead)
            target[ndimage_max(active(lo, hi), ahead, hold)[t0 - lo:t1 - lo]] = 0.0
            if g_state is None:
                g_state = float(target[0])
            exp_db, g_state = _attack_release_run(target, a_up, a_dn, g_state)
            col.append(lev_db + exp_db)
    else:
        for t0, t1 in stretches(n):
            col.append(lev_at(t0, t1) + np.zeros(t1 - t0, np.float32))
    le = col.done()

    def le_at(t0: int, t1: int) -> np.ndarray:
        return le[t0:t1]
    if params.expander is not None and n_active:
        norm_db = norm_for(le_at)
    plain_norm_db = norm_db
    norm_db = norm_limited(le_at, norm_db)
    predicted = predict(le_at, True, norm_db)
    out = new_column(store)
    for t0, t1 in stretches(n):
        out.append(le[t0:t1] + np.float32(norm_db))
    close(le)
    gains = out.done()

    # room tone at the ends
    r = a.rate
    tf = a.tick_frames()

    def tick_end(t: int) -> int:
        return int(tf[t + 1]) if t + 1 < n else int(a.frames)
    # words last longer than 50 ms: a lone blip (an enhancer's start-up, a click) is not where
    # speech starts or ends (an opening by 5 ticks: 4 ticks of context either side)
    first = last = -1
    for t0, t1 in stretches(n):
        lo, hi = max(0, t0 - 4), min(n, t1 + 4)
        act = active(lo, hi)
        words = (ndimage.binary_opening(act, structure=np.ones(5, bool)) if n >= 5 else act)[t0 - lo:t1 - lo]
        if words.any():
            if first < 0:
                first = t0 + int(np.argmax(words))
            last = t1 - 1 - int(np.argmax(words[::-1]))
    if first >= 0:
        head_s = tf[first] / r
        tail_s = (a.frames - tick_end(last)) / r
    else:
        head_s = tail_s = a.frames / r / 2
        first, last = 0, n - 1
    hmin, hmax = profile.head_room_tone_s
    tmin, tmax = profile.tail_room_tone_s
    head_target = head_s if hmin <= head_s <= hmax else (hmin + hmax) / 2
    tail_target = tail_s if tmin <= tail_s <= tmax else min(tmax, tmin + 0.5)
    trim_head = int(max(0.0, head_s - head_target) * r)
    trim_tail = int(max(0.0, tail_s - tail_target) * r)
    c = int(params.fades.crossfade_ms * 1e-3 * r)
    pad_head = int(max(0.0, head_target - head_s) * r)
    pad_tail = int(max(0.0, tail_target - tail_s) * r)
    pad_head = pad_head + c if pad_head else 0
    pad_tail = pad_tail + c if pad_tail else 0

    # room tone snippet: the quietest stretch that is not digital silence
    # (1 s when the take has a pause that long, else the longest of 0.5 s and 0.25 s it has)
    # chosen after processing: where the expander has fully closed, not where it is releasing
    def cand(t0: int, t1: int) -> np.ndarray:
        lvl = tk.level(t0, t1)
        quiet = tk.live(t0, t1, lvl) & ~speech_activity(lvl, noise_db, speech_lufs)[0]
        return np.where(quiet, tk.per(t0, t1) * np.power(np.float32(10.0), gains[t0:t1] / np.float32(10.0)),
                        np.float32(np.inf))
    widths = [max(1, int(params.room_tone_snippet_s * TICKS_PER_S * f)) for f in (1.0, 0.5, 0.25)]
    for w in widths:
        if w >= n:
            i0, w = 0, n
            break
        best, i0 = _window_argmin(cand, n, w, np.ones(w, np.float32))
        if math.isfinite(best):
            break
    else:
        i0 = _window_argmin(tk.per, n, w, np.ones(w))[1]
    snippet = (int(tf[i0]), tick_end(min(i0 + w, n) - 1))
    # the take's own room tone, if it has any worth continuing: not digital silence, and not far
    # under the floor after processing (a DAW export or synthetic speech has no room to continue)
    s0, s1 = i0, min(i0 + w, n)
    tone_db = float(_db(float(np.sum(a.power[s0:s1] * 10.0 ** (gains[s0:s1] / 10.0)))
                        / max(float(np.sum(a.count[s0:s1])), 1)))
    lvl = tk.level(s0, s1)
    quiet = tk.live(s0, s1, lvl) & ~speech_activity(lvl, noise_db, speech_lufs)[0]
    has_room = bool(quiet.mean() > 0.9) if n else False
    room_tone = ("take" if has_room and not gated and tone_db > profile.noise_floor_target_db - 10.0
                 else "comfort")

    report = {
        "noise_floor_in_db": round(noise_db, 2),
        "speech_loudness_in_lufs": round(float(speech_lufs), 2),
        "speech_threshold_db": round(thr, 2),
        "speech_fraction": round(n_active / n if n else 0.0, 3),
        "normalisation_gain_db": round(float(norm_db), 2),
        "limiter_push_db": round(float(norm_db - plain_norm_db), 2),
        "predicted_level": round(float(predicted), 2) if math.isfinite(predicted) else None,
        "room_tone": room_tone,
        "room_tone_level_db": round(tone_db, 2) if math.isfinite(tone_db) else None,
        "digital_silence_in_s": round(float((a.zero_runs[:, 1] - a.zero_runs[:, 0]).sum()) / r, 3),
        "leveler_gain_range_db": lev_range,
        "expander_closed_gain_db": round(closed_gain_db, 2),
        "head_room_tone_in_s": round(float(head_s), 3), "tail_room_tone_in_s": round(float(tail_s), 3),
        "trim_head_s": round(trim_head / r, 3), "trim_tail_s": round(trim_tail / r, 3),
        "pad_head_s": round(pad_head / r, 3), "pad_tail_s": round(pad_tail / r, 3),
        "room_tone_source_s": [round(snippet[0] / r, 3), round(snippet[1] / r, 3)],
    }
    return Plan(gains, tf, trim_head, trim_tail, pad_head, pad_tail, snippet, report, room_tone,
                a.zero_runs)


def _window_argmin(values: Callable[[int, int], np.ndarray], n: int, w: int, ones: np.ndarray) -> tuple[float, int]:
    """Smallest sum of `w` consecutive ticks of `values(t0, t1)` and where it starts (the first
    such start), as `np.argmin(np.convolve(whole, ones, "valid"))` would find it."""
    best: float | None = None
    at = 0
    for t0, t1 in stretches(n):
        if t0 > n - w:
            break
        sums = np.convolve(values(t0, min(n, t1 + w - 1)), ones, mode="valid")[:t1 - t0]
        i = int(np.argmin(sums))
        if best is None or sums[i] < best:
            best, at = float(sums[i]), t0 + i
    return (math.inf if best is None else best), at


def speech_change_db(before: Analysis, after: Analysis, threshold_db: float) -> float:
    """Level change (dB) an enhancer made over the ticks where `before` is speech (per-tick
    level over `threshold_db`, the plan's speech threshold); 0.0 when there is no speech."""
    n = min(len(before.power), len(after.power))
    s0, s1 = ExactSum(), ExactSum()
    for t0, t1 in stretches(n):
        speech = _db(before.power[t0:t1] / np.maximum(before.count[t0:t1], 1)) > threshold_db
        s0.add(before.power[t0:t1][speech])
        s1.add(after.power[t0:t1][speech])
    p0, p1 = s0.value(), s1.value()
    return float(_db(p1 / p0)) if p0 > 0 and p1 > 0 else 0.0


def _frames(per_tick: np.ndarray) -> np.ndarray:
    """Whole 100 ms frames (10 ticks) from per-tick sums; a trailing partial frame is dropped."""
    m = len(per_tick) // 10
    return per_tick[:m * 10].reshape(m, 10).sum(axis=1)


def _odd(x: float) -> int:
    k = max(1, int(round(x)))
    return k if k % 2 else k + 1


def ndimage_max(active: np.ndarray, ahead: int, hold: int) -> np.ndarray:
    """True where speech is within `ahead` ticks in the future or `hold` ticks in the past."""
    return _window_sum(active, hold, ahead, dtype=np.int32) > 0


def _attack_release_run(target_db: np.ndarray, a_up: float, a_dn: float, g: float) -> tuple[np.ndarray, float]:
    """One-pole smoothing per 10 ms tick of one stretch, from state `g` (dB): fast when the gain
    rises (opening, `a_up`), slow when it falls (`a_dn`); returns (float32 curve, new state)."""
    out = np.empty(len(target_db), np.float32)
    step = 1 << 15   # a recursive filter: Python floats, converted a slice at a time
    for s0 in range(0, len(target_db), step):
        vals = target_db[s0:s0 + step].tolist()
        res = []
        for t in vals:
            g = t + (a_up if t > g else a_dn) * (g - t)
            res.append(g)
        out[s0:s0 + len(res)] = res
    return out, g
