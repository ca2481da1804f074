"""Audio edges of the chain: open files, read them in blocks, check samples and formats.

Samples leave here as float32 arrays shaped (frames, channels); rates are Hz.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import soundfile as sf

from mastering.errors import AudioInputError, InvalidSamplesError, UnsupportedAudioError, where

MAX_CHANNELS = 6
METER_RATES_HZ = (8000, 384000)      # the meter measures anything in this range
MASTER_RATES_HZ = (32000, 96000)     # the chain masters only these (speech delivery rates)


@dataclass(frozen=True)
class AudioInfo:
    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def check_format(rate: int, channels: int, path: object | None = None, *,
                 rates: tuple[int, int] = METER_RATES_HZ) -> None:
    """Raise `UnsupportedAudioError` for channel counts or rates the chain does not handle."""
    if channels < 1 or channels > MAX_CHANNELS:
        raise UnsupportedAudioError(
            f"{where(path)}có {channels} kênh, chỉ hỗ trợ 1–{MAX_CHANNELS} kênh (mono đến 5.1) "
            f"({channels} channels; only 1–{MAX_CHANNELS}, mono to 5.1, are supported)")
    lo, hi = rates
    if not lo <= rate <= hi:
        raise UnsupportedAudioError(
            f"{where(path)}tần số lấy mẫu {rate} Hz nằm ngoài khoảng {lo}–{hi} Hz "
            f"(sample rate {rate} Hz outside the supported {lo}–{hi} Hz)")


def check_finite(block: np.ndarray, offset_frames: int, rate: float, path: object | None = None) -> None:
    """Raise `InvalidSamplesError` naming the time of the first NaN/inf sample."""
    if not np.isfinite(block).all():
        bad = int(np.argmax(~np.isfinite(block).all(axis=1)))
        t = (offset_frames + bad) / rate
        raise InvalidSamplesError(
            f"{where(path)}mẫu không hợp lệ (NaN/vô cực) tại {t:.3f} s "
            f"(NaN or infinite sample at {t:.3f} s)")


def open_info(path: str | os.PathLike, *, rates: tuple[int, int] = METER_RATES_HZ) -> AudioInfo:
    """Probe `path`; raises `AudioInputError` when it is missing, unreadable, empty or unsupported."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise AudioInputError(f"{p}: không tìm thấy tệp (file not found)")
    try:
        info = sf.info(p)
    except Exception as exc:  # soundfile raises RuntimeError/LibsndfileError/TypeError
        raise AudioInputError(
            f"{p}: không đọc được tệp âm thanh ({exc}) (unreadable audio file)") from None
    if info.frames <= 0:
        raise AudioInputError(f"{p}: tệp không có mẫu âm thanh nào (zero-length audio)")
    check_format(info.samplerate, info.channels, p, rates=rates)
    if info.format in ("WAV", "WAVEX"):
        _check_wav_complete(p)
    return AudioInfo(p, int(info.samplerate), int(info.channels), int(info.frames),
                     info.format, info.subtype)


def read_blocks(info: AudioInfo, block_frames: int) -> Iterator[np.ndarray]:
    """Yield float32 (frames, channels) blocks; raises `AudioInputError` if the file is truncated."""
    got = 0
    try:
        with sf.SoundFile(info.path) as f:
            while True:
                block = f.read(block_frames, dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    break
                check_finite(block, got, info.sample_rate, info.path)
                got += block.shape[0]
                yield block
    except AudioInputError:
        raise
    except Exception as exc:
        raise AudioInputError(
            f"{info.path}: lỗi khi đọc tại khung {got} ({exc}) (read error at frame {got})") from None
    if got < info.frames:
        raise AudioInputError(
            f"{info.path}: tệp bị cắt cụt, đọc được {got}/{info.frames} khung "
            f"(truncated file: read {got} of {info.frames} frames)")


def _check_wav_complete(path: str) -> None:
    """libsndfile silently shortens a truncated WAV; compare the data chunk size with the file."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] != b"RIFF":
            return
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            hdr = f.read(8)
            cid, clen = hdr[:4], int.from_bytes(hdr[4:8], "little")
            if cid == b"data":
                if clen != 0xFFFFFFFF and pos + 8 + clen > size:
                    raise AudioInputError(
                        f"{path}: tệp WAV bị cắt cụt, thiếu {pos + 8 + clen - size} byte dữ liệu "
                        f"(truncated WAV: {pos + 8 + clen - size} data bytes missing)")
                return
            pos += 8 + clen + (clen & 1)
