"""Probing and block reading of audio files (libsndfile through soundfile).

`probe_audio` decides whether a file is audio we accept, without reading it whole; every
refusal is a `NotAudioError` whose message names the file and the problem.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf

from recordings.errors import NotAudioError
from recordings.riff import data_chunk_extent

AUDIO_EXTENSIONS = (".wav", ".bwf", ".rf64", ".flac", ".aif", ".aiff", ".mp3")
MIN_RATE_HZ, MAX_RATE_HZ = 22_050, 192_000
MAX_CHANNELS = 8
# Decoded samples (frames × channels) a take may hold: 6 h of 48 kHz stereo. Compressed size says
# nothing about decoding cost (a few MB of FLAC silence can decode to hours of 96 kHz 8-channel
# audio), so the shape in the header is checked before a single frame is decoded.
MAX_DECODED_SAMPLES = 6 * 3600 * 48_000 * 2
ACCEPTED_FORMATS = ("WAV", "WAVEX", "RF64", "FLAC", "AIFF", "MP3")  # libsndfile major formats


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
                max_duration_s: float = 6 * 3600, max_samples: int = MAX_DECODED_SAMPLES) -> AudioInfo:
    """Check that `path` decodes as accepted audio and return its shape; `max_samples` bounds
    frames × channels (what decoding costs), checked from the header before anything is decoded."""
    path = Path(path)
    name = path.name
    try:
        if not path.is_file():
            raise NotAudioError(f"{name}: không tìm thấy tệp (file not found)")
        size = path.stat().st_size
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte, a folder we may not read
        raise NotAudioError(f"{name}: không mở được tệp (cannot open file): {exc}") from None
    if size == 0:
        raise NotAudioError(f"{name}: tệp rỗng, 0 byte (empty file)")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise NotAudioError(f"{name}: không phải tệp âm thanh đọc được (not readable audio: {_detail(exc)})") from None
    if info.format not in ACCEPTED_FORMATS:
        raise NotAudioError(f"{name}: định dạng {info.format} không được nhận; chỉ nhận WAV/BWF/RF64, FLAC, "
                            f"AIFF, MP3 (format not accepted)")
    if info.frames <= 0 or info.samplerate <= 0:
        raise NotAudioError(f"{name}: không có mẫu âm thanh nào (no audio samples)")
    if not MIN_RATE_HZ <= info.samplerate <= MAX_RATE_HZ:
        raise NotAudioError(f"{name}: tần số lấy mẫu {info.samplerate} Hz nằm ngoài "
                            f"{MIN_RATE_HZ}–{MAX_RATE_HZ} Hz (sample rate out of range)")
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise NotAudioError(f"{name}: {info.channels} kênh, tối đa {MAX_CHANNELS} (too many channels)")
    duration = info.frames / info.samplerate
    if info.frames * info.channels > max_samples:
        raise NotAudioError(f"{name}: giải mã ra quá nhiều mẫu ({_vi(duration / 3600)} giờ × {info.samplerate} Hz × "
                            f"{info.channels} kênh = {_vi(info.frames * info.channels / 1e9)} tỉ mẫu, tối đa "
                            f"{_vi(max_samples / 1e9)} tỉ) (decoded size too large: duration × rate × channels)")
    if duration < min_duration_s:
        raise NotAudioError(f"{name}: quá ngắn ({duration:.2f} s) (too short)")
    if duration > max_duration_s:
        raise NotAudioError(f"{name}: quá dài ({_vi(duration / 3600)} giờ) (too long)")
    if info.format in ("WAV", "WAVEX", "RF64"):
        _check_data_chunk(path)
    _check_readable_tail(path, info)
    return AudioInfo(str(path), info.format, info.subtype, info.samplerate, info.channels, info.frames)


def _detail(exc: Exception) -> str:
    """libsndfile's reason without the path it opened ("Error opening '/srv/…/tmp/x': …"): the
    file's server-side location is nobody's business, and staff know the file by its name."""
    return re.sub(r"^Error opening '[^']*': ", "", str(exc)).strip()


def _vi(value: float) -> str:
    """One decimal with the Vietnamese decimal comma: 5.8 → '5,8'."""
    return f"{value:.1f}".replace(".", ",")


def _check_data_chunk(path: Path) -> None:
    extent = data_chunk_extent(path)
    if extent is None:
        raise NotAudioError(f"{path.name}: không tìm thấy khối dữ liệu 'data' (no data chunk)")
    _offset, declared, present = extent
    if declared not in (0, 0xFFFFFFFF) and present < declared:
        raise NotAudioError(f"{path.name}: dữ liệu bị cắt cụt, khối 'data' khai báo {declared} byte nhưng chỉ có "
                            f"{present} byte (truncated data chunk)")


def _check_readable_tail(path: Path, info) -> None:
    """Decode the last second: a truncated data chunk fails here rather than mid-mastering."""
    try:
        with sf.SoundFile(str(path)) as fh:
            fh.seek(max(0, info.frames - info.samplerate))
            tail = fh.read(info.samplerate, dtype="float32", always_2d=True)
    # ValueError: libsndfile's position after the seek is past the length it declared (a corrupt MP3
    # that atheris found: soundfile then asks numpy for a negative number of frames)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise NotAudioError(f"{path.name}: dữ liệu bị cắt cụt hoặc hỏng (truncated or corrupt data: {_detail(exc)})") from None
    if tail.shape[0] == 0:
        raise NotAudioError(f"{path.name}: dữ liệu bị cắt cụt (truncated data)")


def iter_blocks(path: str | os.PathLike, block_frames: int = 65536) -> Iterator[np.ndarray]:
    """The whole file as float32 blocks shaped (frames, channels)."""
    with sf.SoundFile(str(path)) as fh:
        while True:
            block = fh.read(block_frames, dtype="float32", always_2d=True)
            if block.shape[0] == 0:
                return
            yield block


# -- door checks: magic bytes and a probe with a time limit -----------------------------------------
def sniff_audio(head: bytes) -> str | None:
    """The container named by a file's first bytes (≥ 12), or None when it is not one we accept.

    Lets an upload be refused at its first chunk instead of after gigabytes of a ZIP or a photo.
    """
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return "WAV"
    if head[:4] == b"fLaC":
        return "FLAC"
    if len(head) >= 12 and head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "MP3"
    return None


def describe_non_audio(head: bytes) -> str:
    """A short name for a refused file's real kind, for the error message."""
    kinds = ((b"PK\x03\x04", "ZIP"), (b"\x89PNG", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"),
             (b"%PDF", "PDF"), (b"OggS", "Ogg"), (b"\x1f\x8b", "gzip"), (b"Rar!", "RAR"))
    for magic, kind in kinds:
        if head.startswith(magic):
            return kind
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "MP4/M4A"
    return ""


FORMAT_EXTENSIONS = {"WAV": "wav", "WAVEX": "wav", "RF64": "rf64", "FLAC": "flac", "AIFF": "aiff",
                     "MPEG": "mp3", "MP3": "mp3"}


def probe_audio_limited(path: str | os.PathLike, timeout_s: float = 30.0, **limits) -> AudioInfo:
    """`probe_audio` in a child process killed after `timeout_s`: a hostile file cannot hang the server."""
    args = [sys.executable, "-m", "recordings.probe", str(path), json.dumps(limits)]
    try:
        done = subprocess.run(args, capture_output=True, timeout=timeout_s, text=True)
    except subprocess.TimeoutExpired:
        raise NotAudioError(f"{Path(path).name}: kiểm tra tệp quá thời gian {timeout_s:g} s "
                            f"(probe timed out)") from None
    if done.returncode == 2:
        raise NotAudioError(done.stdout.strip())
    if done.returncode != 0:
        raise NotAudioError(f"{Path(path).name}: không đọc được tệp (probe failed): {done.stderr.strip()[-300:]}")
    return AudioInfo(**json.loads(done.stdout))


def _main(argv: list[str]) -> int:
    limits = json.loads(argv[1]) if len(argv) > 1 else {}
    try:
        info = probe_audio(argv[0], **limits)
    except NotAudioError as exc:
        print(str(exc))
        return 2
    print(json.dumps(dataclasses.asdict(info)))
    return 0


if __name__ == "__main__":
    import sys
    raise SystemExit(_main(sys.argv[1:]))
