"""Block runner: two passes over the input (analyse, then process), bounded memory.

`master_file(src, dst, profile)` writes a FLAC PCM_24 master atomically; `master(samples, rate,
profile)` does the same in memory. Both run the identical stream code, so any block size gives
the same output. Samples are float32 (frames, channels) at the edges, float64 inside.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import soundfile as sf

from mastering.audio import MASTER_RATES_HZ, AudioInfo, check_finite, check_format, open_info, read_blocks
from mastering.errors import AudioInputError, OutputError, UnsupportedAudioError, where
from mastering.meter import Measurements, Meter
from mastering.plan import Analyser, ChainParams, Plan, make_plan
from mastering.profiles import Profile, get_profile
from mastering.qc import QCReport, check
from mastering.stages import Cleanup, Editor, GainCurve, Limiter, LimiterParams, loop_room_tone

Progress = Callable[[float], None]


@dataclass
class MasterResult:
    qc: QCReport
    measurements: Measurements          # of the output
    input_measurements: Measurements
    plan: Plan
    path: str | None = None


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


def _room_tone(src, plan: Plan, params: ChainParams, frames: int) -> np.ndarray:
    """Processed room tone (cleanup + the planned gain at its source) continued to `frames`."""
    if frames <= 0:
        return np.zeros((0, src.channels))
    a, b = plan.snippet
    warm = min(a, src.rate // 2)
    raw = src.read(a - warm, b)
    x = Cleanup(src.rate, src.channels, params.highpass, params.hum).process(raw)[warm:]
    g = GainCurve(plan.gains_db, plan.tick_frames).values(a, x.shape[0])
    x = x * g[:, None]
    if x.shape[0] == 0:
        raise AudioInputError(f"{where(src.path)}không tìm thấy khoảng lặng nền (no room tone found)")
    return loop_room_tone(x, frames, int(params.fades.crossfade_ms * 1e-3 * src.rate))


def _run(src, profile: Profile, params: ChainParams, block_frames: int,
         sink: Callable[[np.ndarray], None], progress: Progress | None) -> MasterResult:
    if block_frames < 1:
        raise ValueError("block_frames must be >= 1")
    check_format(src.rate, src.channels, src.path, rates=MASTER_RATES_HZ)
    if src.frames == 0:
        raise AudioInputError(f"{where(src.path)}không có mẫu âm thanh nào (zero-length audio)")
    if src.frames < profile.min_duration_s * src.rate:
        raise UnsupportedAudioError(
            f"{where(src.path)}quá ngắn ({src.frames / src.rate:.2f} s < {profile.min_duration_s:g} s) "
            f"(too short to master)")
    total = 2 * src.frames

    # pass 1: measure the input and analyse the cleaned-up signal
    meter_in = Meter(src.rate, src.channels, path=src.path)
    analyser = Analyser(src.rate, src.channels, params)
    done = 0
    for block in src.blocks(block_frames):
        meter_in.add(block)
        analyser.add(block)
        done += block.shape[0]
        if progress:
            progress(0.5 * done / src.frames)
    input_m = meter_in.result()
    analysis = analyser.finish()
    plan = make_plan(analysis, profile, params)
    pad_head = _room_tone(src, plan, params, plan.pad_head)
    pad_tail = _room_tone(src, plan, params, plan.pad_tail)

    # pass 2: process, edit, measure the output, hand blocks to the sink
    cleanup = Cleanup(src.rate, src.channels, params.highpass, params.hum)
    gain = GainCurve(plan.gains_db, plan.tick_frames)
    limiter = Limiter(src.rate, src.channels,
                      LimiterParams(ceiling_dbtp=profile.ceiling_dbtp - profile.limiter_margin_db))
    editor = Editor(src.frames, plan.trim_head, plan.trim_tail, pad_head, pad_tail, src.rate, params.fades)
    meter_out = Meter(src.rate, src.channels, path=src.path)
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

    done = 0
    for block in src.blocks(block_frames):
        x = cleanup.process(np.asarray(block, np.float64))
        emit(limiter.process(gain.process(x)))
        done += block.shape[0]
        if progress:
            progress(0.5 + 0.5 * done / src.frames)
    emit(limiter.flush())
    tail = editor.finish()
    if tail.shape[0]:
        tail = tail.astype(np.float32)
        meter_out.add(tail)
        sink(tail)
    out_m = meter_out.result()
    processing = dict(plan.report)
    processing["limiter_max_reduction_db"] = round(float(-20 * np.log10(max(limiter.gain_min, 1e-9))), 2)
    processing["input"] = input_m.details()
    report = check(out_m, profile, processing=processing)
    return MasterResult(qc=report, measurements=out_m, input_measurements=input_m, plan=plan)


def master(samples: np.ndarray, rate: int, profile: Profile | str, *, block_frames: int | None = None,
           params: ChainParams = ChainParams()) -> tuple[np.ndarray, QCReport]:
    """Master an in-memory (frames, channels) array; returns (float32 master, QC report)."""
    prof = get_profile(profile) if isinstance(profile, str) else profile
    x = np.asarray(samples)
    if x.ndim == 1:
        x = x[:, None]
    check_finite(x, 0, rate)
    out: list[np.ndarray] = []
    res = _run(_ArraySource(x, rate), prof, params, block_frames or max(1, x.shape[0]), out.append, None)
    y = np.concatenate(out) if out else np.zeros((0, x.shape[1]), np.float32)
    return y, res.qc


def master_file(src: str | os.PathLike, dst: str | os.PathLike, profile: Profile | str, *,
                block_frames: int = 65536, progress: Progress | None = None,
                params: ChainParams = ChainParams()) -> MasterResult:
    """Master `src` into `dst` (FLAC PCM_24, written to a temp name in dst's folder then renamed)."""
    prof = get_profile(profile) if isinstance(profile, str) else profile
    info = open_info(src, rates=MASTER_RATES_HZ)
    dst = os.fspath(dst)
    folder = os.path.dirname(os.path.abspath(dst))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".flac", dir=folder)
    os.close(fd)
    try:
        with sf.SoundFile(tmp, "w", samplerate=info.sample_rate, channels=info.channels,
                          format="FLAC", subtype="PCM_24") as out:
            res = _run(_FileSource(info), prof, params, block_frames, out.write, progress)
        os.replace(tmp, dst)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    res.path = dst
    return res
