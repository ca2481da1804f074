"""Probing and block reading of audio files (libsndfile through soundfile).

`probe_audio` decides whether a file is audio we accept, without reading it whole; every
refusal is a `NotAudioError` whose message names the file and the problem.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf

from recordings.errors import NotAudioError

AUDIO_EXTENSIONS = (".wav", ".bwf", ".rf64", ".flac", ".aif", ".aiff", ".mp3")
MIN_RATE_HZ, MAX_RATE_HZ = 22_050, 192_000
MAX_CHANNELS = 8


@dataclass(frozen=True)
class AudioInfo:
    path: str
    format: str        # libsndfile major format: WAV, RF64, FLAC, AIFF, MP3, ...
    subtype: str       # PCM_16, PCM_24, FLOAT, ...
    sample_rate: int   # Hz
    channels: int
    frames: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def probe_audio(path: str | os.PathLike, *, min_duration_s: float = 0.5,
                max_duration_s: float = 6 * 3600) -> AudioInfo:
    """Check that `path` decodes as accepted audio and return its shape."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise NotAudioError(f"{name}: không tìm thấy tệp (file not found)")
    if path.stat().st_size == 0:
        raise NotAudioError(f"{name}: tệp rỗng, 0 byte (empty file)")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise NotAudioError(f"{name}: không phải tệp âm thanh đọc được (not readable audio): {exc}") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise NotAudioError(f"{name}: không có mẫu âm thanh nào (no audio samples)")
    if not MIN_RATE_HZ <= info.samplerate <= MAX_RATE_HZ:
        raise NotAudioError(f"{name}: tần số lấy mẫu {info.samplerate} Hz nằm ngoài "
                            f"{MIN_RATE_HZ}–{MAX_RATE_HZ} Hz (sample rate out of range)")
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise NotAudioError(f"{name}: {info.channels} kênh, tối đa {MAX_CHANNELS} (too many channels)")
    duration = info.frames / info.samplerate
    if duration < min_duration_s:
        raise NotAudioError(f"{name}: quá ngắn ({duration:.2f} s) (too short)")
    if duration > max_duration_s:
        raise NotAudioError(f"{name}: quá dài ({duration / 3600:.1f} giờ) (too long)")
    _check_readable_tail(path, info)
    return AudioInfo(str(path), info.format, info.subtype, info.samplerate, info.channels, info.frames)


def _check_readable_tail(path: Path, info) -> None:
    """Decode the last second: a truncated data chunk fails here rather than mid-mastering."""
    try:
        with sf.SoundFile(str(path)) as fh:
            fh.seek(max(0, info.frames - info.samplerate))
            tail = fh.read(info.samplerate, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise NotAudioError(f"{path.name}: dữ liệu bị cắt cụt hoặc hỏng (truncated or corrupt data): {exc}") from None
    if tail.shape[0] == 0:
        raise NotAudioError(f"{path.name}: dữ liệu bị cắt cụt (truncated data)")


def read_range(path: str | os.PathLike, start_frame: int, stop_frame: int) -> tuple[np.ndarray, int]:
    """Samples [start_frame, stop_frame) as float32 (frames, channels), and the rate."""
    with sf.SoundFile(str(path)) as fh:
        fh.seek(start_frame)
        data = fh.read(stop_frame - start_frame, dtype="float32", always_2d=True)
        return data, fh.samplerate


def iter_blocks(path: str | os.PathLike, block_frames: int = 65536) -> Iterator[np.ndarray]:
    """The whole file as float32 blocks shaped (frames, channels)."""
    with sf.SoundFile(str(path)) as fh:
        while True:
            block = fh.read(block_frames, dtype="float32", always_2d=True)
            if block.shape[0] == 0:
                return
            yield block
