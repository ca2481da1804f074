"""Streaming BS.1770-4 / EBU R128 meter with ACX-style measures.

`Meter(rate, channels)` takes float (frames, channels) blocks in order and keeps only O(1) state
plus one small record per 100 ms frame (six float32: 0.86 MB per hour, never copied while the
meter runs), so memory grows by under 1 MB per hour of input. Levels are dB: LUFS (K-weighted,
gated), LU, dBTP (4× oversampled below 96 kHz), dBFS.
`measure(samples, rate)` and `measure_file(path)` wrap it.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace

import numpy as np

from mastering.audio import check_finite, check_format, open_info, read_blocks
from mastering.filters import SosFilter, TruePeakEnvelope, k_weighting_sos
from mastering.ticks import STRETCH_TICKS, Store, Ticks, close, new_column, pairwise_mean, stretches

TICKS_PER_S = 100          # momentary and short-term are updated every 10 ms
FRAME_TICKS = 10           # 100 ms frames: gating-block step (BS.1770) and QC resolution
MOMENTARY_TICKS = 40       # 400 ms
SHORT_TERM_TICKS = 300     # 3 s
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
LRA_RELATIVE_GATE_LU = -20.0
CLIP_LEVEL = 0.99995       # |sample| at or above this counts as clipped (about -0.0004 dBFS)
SILENCE_DB = -140.0        # frames below this are digital silence (dead air), not room tone
NOISE_WINDOW_FRAMES = 5      # noise floor = RMS of the quietest 0.5 s window (ACX Check), on a 0.5 s grid
_TP_CHUNK = 4096


def channel_weights(channels: int) -> np.ndarray:
    """BS.1770 channel weights: surrounds 1.41, LFE 0 (order L R C LFE Ls Rs for 6 channels)."""
    return np.asarray({
        1: [1.0], 2: [1.0, 1.0], 3: [1.0, 1.0, 1.0], 4: [1.0, 1.0, 1.41, 1.41],
        5: [1.0, 1.0, 1.0, 1.41, 1.41], 6: [1.0, 1.0, 1.0, 0.0, 1.41, 1.41],
    }[channels])


def weighted_power(y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per frame, the channel-weighted sum of squares of (frames, channels) `y`: shape (frames,).
    Mono (weight 1) skips the matrix product (a tenth of its CPU, the same values)."""
    if y.shape[1] == 1 and weights[0] == 1.0:
        return np.square(y[:, 0])
    return np.square(y) @ weights


def mean_square(x: np.ndarray) -> np.ndarray:
    """Per frame, the mean over channels of the squares of (frames, channels) `x`: (frames,)."""
    return np.square(x[:, 0]) if x.shape[1] == 1 else np.square(x).mean(axis=1)


def db(power_or_amplitude: float, *, power: bool) -> float:
    """10·log10 of a power or 20·log10 of an amplitude; -inf for zero."""
    v = float(power_or_amplitude)
    if v <= 0.0:
        return -math.inf
    return (10.0 if power else 20.0) * math.log10(v)


def _lufs(mean_power: np.ndarray | float) -> np.ndarray | float:
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(mean_power)


@dataclass(frozen=True)
class FrameSeries:
    """Per-100 ms records, each a float32 column of length n_frames (sum them in float64): arrays,
    or `mastering.ticks.TickFile`s when the meter had a store (then read a stretch at a time)."""

    frame_s: float
    k_power: np.ndarray      # sum of channel-weighted K-filtered squares
    power: np.ndarray        # sum over samples of mean-over-channels squares (unweighted)
    count: np.ndarray        # samples in the frame (the last frame may be short)
    peak: np.ndarray         # largest |sample|
    clipped: np.ndarray      # clipped samples (any channel)
    short_term: np.ndarray   # short-term loudness at the frame's end, LUFS (nan before 3 s)

    @property
    def rms_db(self) -> np.ndarray:
        """Per frame, float32 (0.36 MB per hour, not a float64's 0.72: QC holds it whole)."""
        out = np.empty(len(self), np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            for t0, t1 in stretches(len(self)):
                out[t0:t1] = np.float32(10.0) * np.log10(self.power[t0:t1] / np.maximum(self.count[t0:t1], np.float32(1)))
        return out

    def close(self) -> None:
        """Free the columns' files (a no-op for arrays)."""
        for col in (self.k_power, self.power, self.count, self.peak, self.clipped, self.short_term):
            close(col)

    def positive(self, name: str) -> np.ndarray:
        """Per frame, column `name` > 0 (bool)."""
        col, out = getattr(self, name), np.empty(len(self), bool)
        for t0, t1 in stretches(len(self)):
            out[t0:t1] = col[t0:t1] > 0
        return out

    def largest(self, name: str) -> float:
        """The largest value of column `name` (0 for none)."""
        col = getattr(self, name)
        return max((float(col[t0:t1].max()) for t0, t1 in stretches(len(self))), default=0.0)

    def total(self, name: str) -> float:
        """Column `name` summed in float64."""
        col = getattr(self, name)
        return math.fsum(float(col[t0:t1].sum(dtype=np.float64)) for t0, t1 in stretches(len(self)))

    def __len__(self) -> int:
        return len(self.count)


@dataclass(frozen=True)
class Measurements:
    """What the meter found. `to_dict()` gives exactly the keys of `sachnoi measure --json`."""

    integrated_lufs: float
    loudness_range_lu: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    rms_db: float
    noise_floor_db: float
    momentary_max_lufs: float
    short_term_max_lufs: float
    duration_s: float
    sample_rate: int
    channels: int
    dc_offset: float = 0.0          # largest per-channel mean, linear full scale
    clipped_samples: int = 0
    frames: FrameSeries | None = field(default=None, repr=False, compare=False)

    def without_frames(self, close: bool = False) -> Measurements:
        """The same figures without the per-100 ms records; `close`: free their files first."""
        if close and self.frames is not None:
            self.frames.close()
        return replace(self, frames=None)

    KEYS = ("integrated_lufs", "loudness_range_lu", "true_peak_dbtp", "sample_peak_dbfs", "rms_db",
            "noise_floor_db", "momentary_max_lufs", "short_term_max_lufs", "duration_s",
            "sample_rate", "channels")

    def to_dict(self) -> dict:
        """The 11 public keys; levels rounded to 0.01 dB, undefined levels (silence) as None."""
        out: dict = {}
        for k in self.KEYS:
            v = getattr(self, k)
            if isinstance(v, float):
                v = round(v, 2) if math.isfinite(v) else None
            out[k] = v
        out["duration_s"] = round(self.duration_s, 3)
        return out

    def details(self) -> dict:
        """`to_dict()` plus DC offset and clipped-sample count (for QC reports)."""
        d = self.to_dict()
        d["dc_offset"] = round(self.dc_offset, 6)
        d["dc_offset_dbfs"] = _round_or_none(db(self.dc_offset, power=False))
        d["clipped_samples"] = int(self.clipped_samples)
        return d

    def plot_data(self, max_points: int = 1200) -> dict:
        """Short-term loudness over time and waveform envelope, bucketed to <= max_points."""
        fr = self.frames
        if fr is None or len(fr) == 0:
            return {"time_s": [], "short_term_lufs": [], "peak_dbfs": [], "rms_db": []}
        n = len(fr)
        per = max(1, math.ceil(n / max_points), int(round(1.0 / fr.frame_s)) if n > max_points else 1)
        idx = np.arange(0, n, per)
        parts = []
        for t0, t1 in stretches(n, max(per, STRETCH_TICKS // per * per)):   # whole buckets each
            i = np.arange(0, t1 - t0, per)
            parts.append((np.maximum.reduceat(fr.peak[t0:t1], i),
                          np.add.reduceat(fr.power[t0:t1], i, dtype=np.float64)
                          / np.maximum(np.add.reduceat(fr.count[t0:t1], i, dtype=np.float64), 1),
                          fr.short_term[t0:t1][np.minimum(i + per - 1, t1 - t0 - 1)]))
        peak, power, st = (np.concatenate([p[j] for p in parts]) for j in range(3))
        with np.errstate(divide="ignore"):
            peak_db = 20 * np.log10(peak)
            rms = 10 * np.log10(power)
        return {
            "time_s": [round(float(i * fr.frame_s), 2) for i in idx],
            "short_term_lufs": [_round_or_none(v) for v in st],
            "peak_dbfs": [_round_or_none(v) for v in peak_db],
            "rms_db": [_round_or_none(v) for v in rms],
        }


def _round_or_none(v: float, nd: int = 2) -> float | None:
    v = float(v)
    return round(v, nd) if math.isfinite(v) else None


class _Records:
    """The meter's per-100 ms rows (k_power, power, count, peak, clipped, short_term) as float32
    columns, appended into (6, size) chunks: no row is copied again while the meter runs. With
    `capacity` (the rows expected, when the length is known) the first chunk holds them all and
    `series()` hands out a view of it; otherwise chunks of `CHUNK` rows, moved into one array at
    the end a chunk at a time (peak: the rows once plus a chunk). Growing one array instead would
    copy every row again at each growth. float32 keeps each frame's sum to 6e-8 (3e-7 dB); totals
    are summed in float64."""

    COLUMNS = 6
    CHUNK = 1 << 15     # rows per chunk: 54.6 minutes, 786 kB

    def __init__(self, capacity: int = 0, store: Store = None) -> None:
        self.capacity = capacity
        self.chunks: list[np.ndarray] = []
        self.room = 0       # free rows in the last chunk
        self.n = 0
        # with a store, one file per column while the meter runs (read back by `series`)
        self.files = [new_column(store) for _ in range(self.COLUMNS)] if store is not None else None

    def append(self, rows: np.ndarray) -> None:
        """Add (k, 6) rows."""
        if self.files is not None:
            for j, f in enumerate(self.files):
                f.append(rows[:, j])
            self.n += len(rows)
            return
        done = 0
        while done < len(rows):
            if self.room == 0:
                size = self.capacity if not self.chunks and self.capacity else self.CHUNK
                self.chunks.append(np.empty((self.COLUMNS, size), np.float32))
                self.room = size
            last = self.chunks[-1]
            at = last.shape[1] - self.room
            k = min(self.room, len(rows) - done)
            last[:, at:at + k] = rows[done:done + k].T
            done += k
            self.room -= k
            self.n += k

    def series(self, last: np.ndarray | None) -> "np.ndarray | list":
        """All rows (plus `last`, one more row, if given) as a (6, n) float32 array, or with a
        store its six column files (the caller closes them); empties this."""
        n = self.n + (0 if last is None else 1)
        if self.files is not None:
            if last is not None:
                self.append(np.asarray(last, np.float64)[None])
            files, self.files = self.files, []
            self.n = 0
            return [f.done() for f in files]
        if len(self.chunks) == 1 and n <= self.chunks[0].shape[1]:
            out = self.chunks[0][:, :n]          # a view: nothing copied
        else:
            out = np.empty((self.COLUMNS, n), np.float32)
            at = 0
            self.chunks.reverse()
            while self.chunks:
                chunk = self.chunks.pop()
                k = min(chunk.shape[1], self.n - at)
                out[:, at:at + k] = chunk[:, :k]
                at += k
                del chunk
        if last is not None:
            out[:, n - 1] = last
        self.chunks, self.room, self.n = [], 0, 0
        return out


class Meter:
    """Streaming meter. Call `add(block)` for consecutive blocks, then `result()` once."""

    BATCH_TICKS = 2048        # finished ticks handed on together (20.48 s)

    def __init__(self, rate: int, channels: int, *, path: object | None = None, true_peak: bool = True,
                 expected_frames: int = 0, store: Store = None):
        """`expected_frames`: the samples per channel to come, when known (the records are then
        kept in one array sized for them; any length still works). `store`: where the records
        wait until `result()` (see `mastering.ticks`; None: memory): a long take's records then
        take no memory while the pass that meters it runs."""
        check_format(rate, channels, path)
        self.rate, self.channels, self.path = int(rate), int(channels), path
        self.weights = np.asarray(channel_weights(channels))
        self.kfilter = SosFilter(k_weighting_sos(rate), channels)
        self.tp = TruePeakEnvelope(rate, channels) if true_peak else None
        self.tp_max = 0.0
        self.pos = 0
        self.sum_x = np.zeros(channels)
        self.clipped = 0
        # open 10 ms tick (index, partial sums)
        self.tick = 0
        self.done_ticks = 0       # ticks handed to `_finished_ticks`
        self.t_acc = np.zeros(4)  # k_power, power, count, clipped
        self.t_peak = 0.0
        # rolling window of the last SHORT_TERM_TICKS-1 ticks (k_power, count)
        self.rk = np.zeros(0)
        self.rn = np.zeros(0)
        self.m_max = -math.inf
        self.s_max = -math.inf
        # open 100 ms frame made of finished ticks
        self.f_acc = np.zeros(4)
        self.f_peak = 0.0
        self.f_ticks = 0
        self.records = _Records(expected_frames * TICKS_PER_S // (FRAME_TICKS * int(rate)) + 2
                                if expected_frames > 0 else 0, store)
        self._pending = (np.zeros((0, 4)), np.zeros(0), np.zeros(0))
        # finished ticks not yet turned into loudness and frames: done BATCH_TICKS at a time
        self._batch: list[tuple[np.ndarray, np.ndarray]] = []
        self._batched = 0

    # -- feeding -----------------------------------------------------------------------------
    def add(self, block: np.ndarray) -> None:
        """Feed the next (frames, channels) block."""
        block = np.asarray(block)
        if block.ndim == 1:
            block = block[:, None]
        n = block.shape[0]
        if n == 0:
            return
        check_finite(block, self.pos, self.rate, self.path)
        x = block.astype(np.float64, copy=False)
        self.sum_x += x.sum(axis=0)
        kz = weighted_power(self.kfilter.process(x), self.weights)
        ax = np.abs(x)
        u = mean_square(x)
        a = ax[:, 0] if self.channels == 1 else ax.max(axis=1)
        clip = a >= CLIP_LEVEL
        n_clip = int(np.count_nonzero(clip))
        self.clipped += n_clip
        # per-tick clip counts only for a block that has any (most have none: zeros, not sums)
        c = clip.astype(np.float64) if n_clip else None
        if self.tp is not None:
            self._true_peak(self.tp, x, a)
        self._ticks(kz, u, a, c)
        self.pos += n

    def _true_peak(self, tp: TruePeakEnvelope, x: np.ndarray, a: np.ndarray) -> None:
        # only stretches that may pass the running maximum are oversampled (see TruePeakEnvelope)
        self.tp_max = max(self.tp_max, tp.peak(x, threshold=self.tp_max))

    def _ticks(self, kz, u, a, c: np.ndarray | None) -> None:
        """Sum per-frame values into ticks; `c`: clip flags (1.0/0.0), None for a block with none."""
        n = kz.shape[0]
        end = self.pos + n
        last = (TICKS_PER_S * (end + 1) - 1) // self.rate - 1  # last tick t with end(t) <= end
        if last < self.tick:
            self.t_acc += (kz.sum(), u.sum(), n, c.sum() if c is not None else 0.0)
            self.t_peak = max(self.t_peak, float(a.max()))
            return
        ts = np.arange(self.tick, last + 1)
        cuts = ((ts + 1) * self.rate) // TICKS_PER_S - self.pos
        starts = np.empty_like(cuts)
        starts[0], starts[1:] = 0, cuts[:-1]
        m = int(cuts[-1])
        sums = np.empty((len(starts), 4))
        sums[:, 0] = np.add.reduceat(kz[:m], starts)
        sums[:, 1] = np.add.reduceat(u[:m], starts)
        sums[:, 2] = cuts - starts
        sums[:, 3] = np.add.reduceat(c[:m], starts) if c is not None else 0.0
        peaks = np.maximum.reduceat(a[:m], starts)
        sums[0] += self.t_acc
        peaks[0] = max(peaks[0], self.t_peak)
        self._batch.append((sums, peaks))
        self._batched += len(sums)
        if self._batched >= self.BATCH_TICKS:
            self._flush()
        self.tick = last + 1
        rest = slice(m, n)
        self.t_acc = np.array([kz[rest].sum(), u[rest].sum(), n - m, c[rest].sum() if c is not None else 0.0])
        self.t_peak = float(a[rest].max()) if n > m else 0.0

    def _flush(self) -> None:
        """Hand the batched finished ticks on (a batch per call costs 40 numpy calls: once per
        20 s of audio rather than once per block)."""
        if not self._batch:
            return
        batch, self._batch, self._batched = self._batch, [], 0
        if len(batch) == 1:
            self._finished_ticks(*batch[0])
        else:
            self._finished_ticks(np.concatenate([b[0] for b in batch]), np.concatenate([b[1] for b in batch]))

    def _finished_ticks(self, sums: np.ndarray, peaks: np.ndarray) -> None:
        done_before = self.done_ticks  # ticks finished before these
        self.done_ticks += len(sums)
        k, cnt = sums[:, 0], sums[:, 2]
        bk = np.concatenate([self.rk, k])
        bn = np.concatenate([self.rn, cnt])
        ck = np.concatenate(([0.0], np.cumsum(bk)))
        cn = np.concatenate(([0.0], np.cumsum(bn)))
        base = len(self.rk)
        idx = np.arange(base, base + len(k))
        glob = done_before + (idx - base) + 1  # ticks finished up to and including this one
        st_vals = np.full(len(k), np.nan)
        for w in (MOMENTARY_TICKS, SHORT_TERM_TICKS):
            ok = glob >= w
            if not ok.any():
                continue
            i = idx[ok]
            e = (ck[i + 1] - ck[i + 1 - w]) / np.maximum(cn[i + 1] - cn[i + 1 - w], 1)
            loud = _lufs(np.maximum(e, 0.0))
            if w == MOMENTARY_TICKS:
                self.m_max = max(self.m_max, float(np.max(loud)))
            else:
                self.s_max = max(self.s_max, float(np.max(loud)))
                st_vals[ok] = loud
        keep = SHORT_TERM_TICKS - 1
        self.rk, self.rn = bk[-keep:].copy(), bn[-keep:].copy()
        # group ticks into 100 ms frames (the open frame's finished ticks wait in `_pending`)
        ps, pp, pst = self._pending
        sums = np.concatenate([ps, sums])
        peaks = np.concatenate([pp, peaks])
        st_vals = np.concatenate([pst, st_vals])
        nf = len(sums) // FRAME_TICKS
        if nf:
            m = nf * FRAME_TICKS
            fs = sums[:m].reshape(nf, FRAME_TICKS, 4).sum(axis=1)
            fp = peaks[:m].reshape(nf, FRAME_TICKS).max(axis=1)
            fst = st_vals[FRAME_TICKS - 1:m:FRAME_TICKS]
            self.records.append(np.column_stack([fs[:, 0], fs[:, 1], fs[:, 2], fp, fs[:, 3], fst]))
            sums, peaks, st_vals = sums[m:], peaks[m:], st_vals[m:]
        self._pending = (sums, peaks, st_vals)
        self.f_acc = sums.sum(axis=0) if len(sums) else np.zeros(4)
        self.f_peak = float(peaks.max()) if len(peaks) else 0.0
        self.f_ticks = len(sums)

    # -- results -----------------------------------------------------------------------------
    def result(self) -> Measurements:
        """Measurements of everything fed so far (call once, after the last block)."""
        if self.tp is not None:
            self.tp_max = max(self.tp_max, self.tp.peak(np.zeros((self.tp.delay + 1, self.channels))))
        self._flush()
        n_complete = self.records.n
        # partial frame: finished ticks of the open frame plus the open tick
        part = self.f_acc + self.t_acc
        last = (np.array([part[0], part[1], part[2], max(self.f_peak, self.t_peak), part[3], np.nan])
                if part[2] > 0 else None)
        cols = self.records.series(last)
        fr = FrameSeries(frame_s=FRAME_TICKS / TICKS_PER_S, k_power=cols[0], power=cols[1],
                         count=cols[2], peak=cols[3], clipped=cols[4], short_term=cols[5])
        total = max(self.pos, 1)
        integrated = _integrated(cols[0], cols[2], n_complete) if n_complete >= 4 else -math.inf
        lra = _loudness_range(cols[5], n_complete)
        sample_peak = fr.largest("peak")
        tp = max(self.tp_max, sample_peak) if self.tp is not None else sample_peak
        return Measurements(
            integrated_lufs=float(integrated),
            loudness_range_lu=float(lra),
            true_peak_dbtp=db(tp, power=False),
            sample_peak_dbfs=db(sample_peak, power=False),
            rms_db=db(fr.total("power") / total, power=True),
            noise_floor_db=_noise_floor(fr),
            momentary_max_lufs=self.m_max,
            short_term_max_lufs=self.s_max,
            duration_s=self.pos / self.rate,
            sample_rate=self.rate,
            channels=self.channels,
            dc_offset=float(np.abs(self.sum_x / total).max()),
            clipped_samples=self.clipped,
            frames=fr,
        )


class GatedLoudness:
    """BS.1770-4 gated loudness (400 ms blocks with 75 % overlap) from 100 ms frame sums fed a
    stretch at a time; any stretch sizes give the same value to the bit: float64 running sums,
    and the gates' means (numpy's pairwise sums) over columns of the blocks over each gate.
    `store`: where those columns go (None: memory, at most 8 bytes per frame each)."""

    def __init__(self, store: Store = None) -> None:
        self.store = store
        self.run = np.zeros(2)                    # running sums (k, n)
        self.tail = np.zeros((1, 2))              # the last (up to 4) cumulative sums, from 0.0
        self.frames = 0
        self.gated = new_column(store, np.float64)   # block energies over the absolute gate

    def add(self, k_power: np.ndarray, count: np.ndarray) -> None:
        if not len(k_power):
            return
        cs = np.cumsum(np.concatenate([self.run[None], np.stack([k_power, count], axis=1)]), axis=0)[1:]
        c = np.concatenate([self.tail, cs])
        e = np.maximum((c[4:, 0] - c[:-4, 0]) / (c[4:, 1] - c[:-4, 1]), 0.0)
        self.gated.append(e[_lufs(e) > ABSOLUTE_GATE_LUFS])
        self.run, self.tail = cs[-1], c[-4:]
        self.frames += len(k_power)

    def result(self) -> float:
        """Integrated loudness (LUFS); -inf with fewer than 4 frames or nothing over the gates."""
        gated = self.gated.done()
        if self.frames < 4 or not len(gated):
            close(gated)
            return -math.inf
        rel = _lufs(pairwise_mean(gated)) + RELATIVE_GATE_LU
        final = new_column(self.store, np.float64)
        for b0, b1 in stretches(len(gated)):
            g = gated[b0:b1]
            final.append(g[_lufs(g) > rel])
        close(gated)
        del gated
        fin = final.done()
        out = float(_lufs(pairwise_mean(fin))) if len(fin) else -math.inf
        close(fin)
        return out


def _integrated(k_power: Ticks, count: Ticks, n: int | None = None) -> float:
    """BS.1770-4 gated loudness from the first `n` (all) 100 ms frame sums, a stretch at a time
    (`GatedLoudness`): a 10 h file's float64 block energies never sit in memory four times over."""
    gate = GatedLoudness()
    for t0, t1 in stretches(len(k_power) if n is None else n):
        gate.add(k_power[t0:t1], count[t0:t1])
    return gate.result()


def _loudness_range(short_term: Ticks, n: int | None = None) -> float:
    """EBU Tech 3342 LRA from the first `n` (all) short-term values (3 s windows every 100 ms);
    float32 copies of those over the absolute gate only."""
    parts = []
    for t0, t1 in stretches(len(short_term) if n is None else n):
        s = short_term[t0:t1]
        parts.append(s[np.isfinite(s) & (s > ABSOLUTE_GATE_LUFS)])
    st = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if st.size == 0:
        return 0.0
    power = sum(float(np.sum(10.0 ** (st[a:b].astype(np.float64) / 10.0))) for a, b in stretches(len(st)))
    rel = 10.0 * math.log10(power / st.size) + LRA_RELATIVE_GATE_LU
    st = st[st > rel]
    if st.size == 0:
        return 0.0
    lo, hi = np.percentile(st, [10.0, 95.0])
    return float(hi - lo)


def _noise_floor(fr: FrameSeries) -> float:
    """RMS of the quietest whole 0.5 s window that is not digital silence, dB.

    This is how ACX Check measures the noise floor ("the quietest half second"). Windows sit on a
    0.5 s grid from the start of the file (five 100 ms frames each), the way an independent check
    such as ffmpeg `asetnsamples=n=rate/2,astats=reset=1` cuts them, so the two agree; a sliding
    window would find quieter spots than that check and pass what it fails. A file shorter than
    one window is measured whole.
    """
    w = NOISE_WINDOW_FRAMES
    n = len(fr)
    m = n // w
    # a trailing short frame (the file's last partial 100 ms) does not make a whole window
    if m and fr.count[m * w - 1:m * w][0] < 0.99 * fr.largest("count"):
        m -= 1
    if m == 0:
        p = fr.total("power") / max(fr.total("count"), 1)
        return db(float(p), power=True) if 10 * math.log10(max(p, 1e-300)) > SILENCE_DB else -math.inf
    best = math.inf
    for t0, t1 in stretches(m * w, STRETCH_TICKS // w * w):        # whole windows each
        p = (fr.power[t0:t1].reshape(-1, w).sum(axis=1, dtype=np.float64)
             / fr.count[t0:t1].reshape(-1, w).sum(axis=1, dtype=np.float64))
        with np.errstate(divide="ignore"):
            ok = 10.0 * np.log10(p) > SILENCE_DB
        if ok.any():
            best = min(best, float(p[ok].min()))
    return db(best, power=True) if math.isfinite(best) else -math.inf


def measure(samples: np.ndarray, rate: int, *, true_peak: bool = True) -> Measurements:
    """Measure a whole (frames, channels) array at `rate` Hz."""
    samples = np.asarray(samples)
    if samples.ndim == 1:
        samples = samples[:, None]
    m = Meter(rate, samples.shape[1], true_peak=true_peak, expected_frames=samples.shape[0])
    m.add(samples)
    return m.result()


def measure_file(path: str | os.PathLike, *, block_frames: int = 1 << 16, progress=None) -> Measurements:
    """Measure an audio file block by block (flat memory). `progress` gets floats 0..1."""
    info = open_info(path)
    m = Meter(info.sample_rate, info.channels, path=info.path, expected_frames=info.frames)
    done = 0
    for block in read_blocks(info, block_frames):
        m.add(block)
        done += block.shape[0]
        if progress is not None:
            progress(min(1.0, done / info.frames))
    return m.result()
