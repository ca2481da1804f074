"""Analysis pass and the plan it yields (pass 1 of 2).

`Analyser` streams the cleaned-up signal into 10 ms ticks (K-weighted and plain power), then
`make_plan(analysis, profile, params)` decides, as plain data: the expander, leveler and
normalisation gain curve (dB per tick), where speech starts and ends, how much head/tail to trim
or pad with room tone, and where the room tone comes from. The plan is stored in the QC report.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from mastering.filters import SosFilter, k_weighting_sos
from mastering.meter import FRAME_TICKS, TICKS_PER_S, channel_weights, mean_square, weighted_power, _integrated
from mastering.profiles import Profile
from mastering.bands import DeEsserParams, PlosiveParams
from mastering.repair import RepairParams
from mastering.roomtone import ZeroRuns
from mastering.stages import (Cleanup, ExpanderParams, FadeParams, HighPassParams, HumParams,
                              LevelerParams, LimiterParams, TickGrid)

PREDICT_TICKS = 65530    # ticks per chunk of `predict`: whole 100 ms frames (a multiple of 10)


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
    (tick t covers frames floor(t·rate/100) ...). Values must be >= 0 for maxima."""

    def __init__(self, rate: int, width: int, ufunc=np.add):
        self.rate, self.pos, self.tick = rate, 0, 0
        self.ufunc = ufunc
        self.acc = np.zeros(width)
        self.done: list[np.ndarray] = []

    def add(self, vals: np.ndarray) -> None:
        n = vals.shape[0]
        end = self.pos + n
        last = (TICKS_PER_S * (end + 1) - 1) // self.rate - 1
        if last >= self.tick:
            ts = np.arange(self.tick, last + 1)
            cuts = ((ts + 1) * self.rate) // TICKS_PER_S - self.pos
            starts = np.concatenate(([0], cuts[:-1]))
            m = int(cuts[-1])
            sums = self.ufunc.reduceat(vals[:m], starts, axis=0)
            sums[0] = self.ufunc(sums[0], self.acc)
            self.done.append(sums.astype(np.float32))
            self.acc = self.ufunc.reduce(vals[m:], axis=0, initial=0.0)
            self.tick = last + 1
        else:
            self.acc = self.ufunc(self.acc, self.ufunc.reduce(vals, axis=0, initial=0.0))
        self.pos = end

    def finish(self) -> list[np.ndarray]:
        """One float32 array per column, filled chunk by chunk (the chunks are freed as it goes)."""
        if self.pos > (self.tick * self.rate) // TICKS_PER_S:
            self.done.append(self.acc[None].astype(np.float32))
        total = sum(len(d) for d in self.done)
        cols = [np.empty(total, np.float32) for _ in range(self.acc.shape[0])]
        at = 0
        self.done.reverse()
        while self.done:
            d = self.done.pop()
            for j, c in enumerate(cols):
                c[at:at + len(d)] = d[:, j]
            at += len(d)
        return cols


@dataclass
class Analysis:
    rate: int
    channels: int
    frames: int
    k_power: np.ndarray   # per tick, sum of channel-weighted K-filtered squares (cleaned signal)
    power: np.ndarray     # per tick, sum of mean-over-channels squares (cleaned signal)
    count: np.ndarray     # frames per tick
    peak: np.ndarray      # per tick, largest |sample| of the cleaned signal (linear)
    zero_runs: np.ndarray  # (k, 2) [start, stop) frames of digital silence in the input

    def tick_frames(self) -> TickGrid:
        return TickGrid(len(self.count), self.rate, TICKS_PER_S)


class Analyser:
    """Pass 1: clean up (high-pass, hum) and sum powers per 10 ms tick."""

    def __init__(self, rate: int, channels: int, params: ChainParams):
        self.rate, self.channels = rate, channels
        self.cleanup = Cleanup(rate, channels, params.highpass, params.hum)
        self.kf = SosFilter(k_weighting_sos(rate), channels)
        self.w = np.asarray(channel_weights(channels))
        self.sums = TickSums(rate, 3)
        self.peaks = TickSums(rate, 1, np.maximum)
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
        self.sums.add(np.stack([kz, u, np.ones_like(u)], axis=1))
        if x.shape[0]:
            self.peaks.add(np.abs(x) if x.shape[1] == 1 else np.abs(x).max(axis=1)[:, None])

    def finish(self) -> Analysis:
        self._sum(self.cleanup.finish())      # what its high-pass still held (nothing if unused)
        k, u, c = self.sums.finish()
        (pk,) = self.peaks.finish()
        # float32 per tick (the sums are float32 already): 16 bytes per 10 ms, 5.8 MB per hour
        return Analysis(self.rate, self.channels, self.sums.pos, k, u, c, pk, self.zeros.runs())


@dataclass
class Plan:
    gains_db: np.ndarray              # per tick: expander + leveler + normalisation
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


def _window_count(m: int, before: int, after: int) -> np.ndarray:
    """How many ticks `_window_sum` adds at each of m positions (float32)."""
    out = np.full(m, before + after + 1, np.float32)
    for i in range(min(before, m)):
        out[i] -= before - i
    for j in range(min(after, m)):
        out[m - 1 - j] -= after - j
    return out


def _moving_sum(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving sum of odd length n with zero padding."""
    return _window_sum(x, n // 2, n // 2)


def _db(p: np.ndarray | float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.maximum(p, 0.0))


def speech_activity(level_db: np.ndarray, noise_db: float, speech_db: float) -> tuple[np.ndarray, float]:
    """Boolean per tick (speech) and the threshold used: 40 % of the way from noise to speech, and
    never more than 30 dB under the speech (an enhanced take's pauses may be near silence, and what
    is left in them is residue, not words)."""
    thr = max(noise_db + max(6.0, 0.4 * (speech_db - noise_db)), speech_db - 30.0)
    return level_db > thr, thr


def make_plan(a: Analysis, profile: Profile, params: ChainParams) -> Plan:
    """Decide gains and edits from the analysis (pure; no audio is touched)."""
    n = len(a.count)
    # per-tick arrays are float32 and freed early: a 10 h chapter has 3.6 million ticks
    per = a.power / np.maximum(a.count, 1)
    # detector: 30 ms power around each tick
    lvl = _db(_sum3(a.power) / np.maximum(_sum3(a.count), 1))
    # live: neither digital silence nor a tick touching it (filter ringing and partial ticks next
    # to a DAW's zeros are not the room's noise, and would pull the noise estimate far down)
    live = lvl > -140.0
    for z0, z1 in a.zero_runs:
        live[max(0, z0 * TICKS_PER_S // a.rate - 1):min(n, -(-z1 * TICKS_PER_S // a.rate) + 1)] = False
    if live.any():
        pl = per[live]
        k = max(1, int(len(pl) * 0.10))
        quiet = np.partition(pl, k - 1)[:k].astype(np.float64)
        del pl
    else:
        quiet = np.array([0.0])
    noise_db = float(_db(quiet.mean()))
    # a take whose pauses between phrases are digital zeros (gated DAW export, synthetic speech)
    # has no room noise to reduce and no room tone to continue: comfort noise fills it instead
    zr = a.zero_runs
    inner = zr[(zr[:, 0] > 0) & (zr[:, 1] < a.frames)] if len(zr) else zr
    inner_s = float((inner[:, 1] - inner[:, 0]).sum()) / a.rate if len(inner) else 0.0
    gated = inner_s >= 0.5 and inner_s >= 0.05 * a.frames / a.rate
    if gated:
        noise_db = -140.0
    frames_k = _frames(a.k_power)
    frames_n = _frames(a.count)
    speech_lufs = _integrated(frames_k, frames_n) if len(frames_k) >= 4 else -math.inf
    if not math.isfinite(speech_lufs) or not math.isfinite(noise_db):
        speech_lufs = speech_lufs if math.isfinite(speech_lufs) else -70.0
        noise_db = noise_db if math.isfinite(noise_db) else -140.0
    active, thr = speech_activity(lvl, noise_db, speech_lufs)

    # leveler: phrase loudness over speech ticks only, centred window; worked out per 100 ms
    # frame (it moves slowly: 3 s window, 1 s smoothing) and interpolated to ticks
    lev_db = np.zeros(n, np.float32)
    nfr = n // FRAME_TICKS
    if params.leveler is not None and active.any() and nfr:
        lp = params.leveler
        fps = TICKS_PER_S // FRAME_TICKS
        w = _odd(lp.window_s * fps)
        ek = _moving_sum(_frames(np.where(active, a.k_power, np.float32(0))), w)
        en = _moving_sum(_frames(np.where(active, a.count, np.float32(0))), w)
        have = en > 0.25 * w * a.rate / fps * 0.2
        if have.any():
            xp = np.flatnonzero(have)
            fp = -0.691 + _db(ek[xp] / en[xp])
            del ek, en, have
            ok = np.isfinite(fp)
            xp, fp = xp[ok], fp[ok]
        else:
            del ek, en, have
            xp, fp = np.zeros(0, dtype=np.intp), np.zeros(0)
        if len(xp):
            local = np.interp(np.arange(nfr, dtype=np.float64), xp, fp)
            lev = np.clip((speech_lufs - local) * lp.strength, -lp.max_gain_db, lp.max_gain_db)
            s = _odd(lp.smooth_s * fps)
            lev = _moving_sum(lev, s) / _window_count(nfr, s // 2, s // 2)
            centres = np.arange(nfr) * FRAME_TICKS + (FRAME_TICKS - 1) / 2.0
            for t0 in range(0, n, 1 << 20):
                t1 = min(n, t0 + (1 << 20))
                lev_db[t0:t1] = np.interp(np.arange(t0, t1, dtype=np.float64), centres, lev)

    by_rms = profile.normalize_to == "rms_db" and profile.target_rms_db is not None
    target_level = profile.target_rms_db if by_rms and profile.target_rms_db is not None else profile.target_lufs
    ceiling_lin = 10.0 ** ((profile.ceiling_dbtp - profile.limiter_margin_db) / 20.0)

    lim = params.limiter
    reach = 2 * int(np.ceil((2 * lim.attack_ms + lim.hold_ms) / 20.0)) + 1    # ticks its gain reaches
    # a limiter faster than a tick cuts only part of the tick it acts in
    cover = min(1.0, (2 * lim.attack_ms + lim.hold_ms) / 10.0)

    def predict(g_db: np.ndarray, limited: bool = False, offset_db: float = 0.0) -> float:
        """Output level (LUFS or RMS dB, as the profile normalises) for a per-tick gain plus
        `offset_db`; with `limited`, the limiter's cut is estimated per tick from the tick's sample
        peak (the gain it needs, spread over the neighbouring ticks its hold and ramps reach).
        Worked out `PREDICT_TICKS` at a time (with `reach` ticks of context), so a 10 h take's
        temporaries stay a few MB instead of a dozen arrays of its 3.6 million ticks."""
        h = reach // 2
        frames_k: list[np.ndarray] = []
        total = 0.0
        for t0 in range(0, n, PREDICT_TICKS):
            t1 = min(n, t0 + PREDICT_TICKS)
            lo, hi = max(0, t0 - h), min(n, t1 + h)
            g = np.power(np.float32(10.0), (g_db[lo:hi] + np.float32(offset_db)) / np.float32(10.0))
            if limited:
                with np.errstate(divide="ignore", over="ignore"):
                    need = np.minimum(np.float32(1.0), np.float32(ceiling_lin) / (a.peak[lo:hi] * np.sqrt(g)))
                g *= np.power(ndimage.minimum_filter1d(need, reach, mode="nearest"), np.float32(2.0 * cover))
            g = g[t0 - lo:t1 - lo]
            if by_rms:
                total += float(np.dot(a.power[t0:t1].astype(np.float64), g))
            else:
                frames_k.append(_frames(a.k_power[t0:t1] * g))
        if by_rms:
            return float(_db(total / max(float(a.count.sum(dtype=np.float64)), 1.0)))
        fk = np.concatenate(frames_k) if frames_k else np.zeros(0, np.float32)
        return _integrated(fk, frames_n) if len(fk) >= 4 else -math.inf

    def norm_for(g_db: np.ndarray) -> float:
        level = predict(g_db)
        return target_level - level if math.isfinite(level) else 0.0

    def norm_limited(g_db: np.ndarray, plain: float) -> float:
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

    norm_db = norm_for(lev_db)
    exp_db = np.zeros(n, np.float32)
    closed_gain_db = 0.0
    if params.expander is not None and active.any():
        ep = params.expander
        # how far room tone must come down to land at the profile's noise target
        floor = profile.noise_floor_target_db
        need = min(ep.max_range_db, max(0.0, noise_db + norm_db + float(np.median(lev_db)) - floor))
        closed_gain_db = -need
        target = np.maximum(np.float32(-need), (lvl - np.float32(thr)) * np.float32(ep.ratio - 1.0))
        # the floor is the profile's noise target: a tick already near or under it is not pushed
        # further down (a clean take's pauses would otherwise sink towards -120 dB)
        with np.errstate(invalid="ignore"):
            guard = np.float32(floor - norm_db) - lvl - lev_db
        np.maximum(target, np.nan_to_num(guard, copy=False, nan=0.0, neginf=-need), out=target)
        del guard
        np.minimum(target, 0.0, out=target)
        # look-ahead and hold: open early, stay open through short gaps (this covers `active`)
        ahead = int(round(ep.lookahead_ms / 10.0))
        hold = int(round(ep.hold_ms / 10.0))
        target[ndimage_max(active, ahead, hold)] = 0.0
        exp_db = _attack_release(target, ep.attack_ms, ep.release_ms)
        del target
        norm_db = norm_for(lev_db + exp_db)
    plain_norm_db = norm_db
    norm_db = norm_limited(lev_db + exp_db, norm_db)
    gains = lev_db + exp_db + np.float32(norm_db)
    predicted = predict(gains, True)
    lev_range = [round(float(lev_db.min()), 2), round(float(lev_db.max()), 2)] if n else [0, 0]
    del lev_db, exp_db

    # room tone at the ends
    r = a.rate
    tf = a.tick_frames()

    def tick_end(t: int) -> int:
        return int(tf[t + 1]) if t + 1 < n else int(a.frames)
    # words last longer than 50 ms: a lone blip (an enhancer's start-up, a click) is not where
    # speech starts or ends
    words = ndimage.binary_opening(active, structure=np.ones(5, bool)) if n >= 5 else active
    if words.any():
        first = int(np.argmax(words))
        last = int(n - 1 - np.argmax(words[::-1]))
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
    cand = np.where(live & ~active, per * np.power(np.float32(10.0), gains / np.float32(10.0)),
                    np.float32(np.inf))
    for w in [max(1, int(params.room_tone_snippet_s * TICKS_PER_S * f)) for f in (1.0, 0.5, 0.25)]:
        if w >= n:
            i0, w = 0, n
            break
        sums = np.convolve(cand, np.ones(w, np.float32), mode="valid")
        if np.isfinite(sums).any():
            i0 = int(np.argmin(sums))
            break
    else:
        i0 = int(np.argmin(np.convolve(per, np.ones(w), "valid")))
    snippet = (int(tf[i0]), tick_end(min(i0 + w, n) - 1))
    # the take's own room tone, if it has any worth continuing: not digital silence, and not far
    # under the floor after processing (a DAW export or synthetic speech has no room to continue)
    sl = slice(i0, min(i0 + w, n))
    tone_db = float(_db(float(np.sum(a.power[sl] * 10.0 ** (gains[sl] / 10.0))) / max(float(np.sum(a.count[sl])), 1)))
    has_room = bool((live & ~active)[sl].mean() > 0.9) if n else False
    room_tone = ("take" if has_room and not gated and tone_db > profile.noise_floor_target_db - 10.0
                 else "comfort")

    report = {
        "noise_floor_in_db": round(noise_db, 2),
        "speech_loudness_in_lufs": round(float(speech_lufs), 2),
        "speech_threshold_db": round(thr, 2),
        "speech_fraction": round(float(active.mean()) if n else 0.0, 3),
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


def speech_change_db(before: Analysis, after: Analysis, threshold_db: float) -> float:
    """Level change (dB) an enhancer made over the ticks where `before` is speech (per-tick
    level over `threshold_db`, the plan's speech threshold); 0.0 when there is no speech."""
    n = min(len(before.power), len(after.power))
    lvl = _db(before.power[:n] / np.maximum(before.count[:n], 1))
    speech = lvl > threshold_db
    p0 = float(before.power[:n][speech].sum(dtype=np.float64))
    p1 = float(after.power[:n][speech].sum(dtype=np.float64))
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


def _attack_release(target_db: np.ndarray, attack_ms: float, release_ms: float) -> np.ndarray:
    """One-pole smoothing per 10 ms tick: fast when the gain rises (opening), slow when it falls."""
    a_up = math.exp(-10.0 / max(attack_ms, 1e-3))
    a_dn = math.exp(-10.0 / max(release_ms, 1e-3))
    out = np.empty(len(target_db), np.float32)
    g = float(target_db[0]) if len(target_db) else 0.0
    step = 1 << 15   # a recursive filter: Python floats, converted a slice at a time
    for s0 in range(0, len(target_db), step):
        vals = target_db[s0:s0 + step].tolist()
        res = []
        for t in vals:
            g = t + (a_up if t > g else a_dn) * (g - t)
            res.append(g)
        out[s0:s0 + len(res)] = res
    return out
