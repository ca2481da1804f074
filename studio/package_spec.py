"""What the package stage reads and every part of it shares: the book's chapters checked against
their master files (`load_book`), output settings, the result, and the hash that names a job's
inputs (`source_hash`)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable

import soundfile as sf

from catalog.models import Book
from mastering.errors import MasteringError
from mastering.profiles import get_profile
from recordings.errors import RecordingsError
from recordings.store import MediaStore, sha256_file
from studio.errors import StudioError

Progress = Callable[[float], None]
TIMELINE_TOLERANCE_S = 0.05   # catalogue start/duration vs. the master file's real length
WORK_VERSION = "1"            # bump to invalidate every cached job after a format change


class PackageError(StudioError):
    """The package stage could not finish; the message names the chapter/output and the cause."""


@dataclass(frozen=True)
class ChapterSpec:
    id: int
    position: int
    title: str
    start_s: float
    duration_s: float       # the master's length: from its file, or from the row that recorded it
    master_key: str
    master_sha256: str
    rate: int
    channels: int
    store: MediaStore = field(compare=False, repr=False)

    @cached_property
    def master(self) -> Path:
        """The master as a local file, opened (and, from an object store, fetched) the first time a
        job reads it: an encode part needs only its own chapter's (the M4B needs every one)."""
        path, rate, channels, duration = open_master(self.store, self.position, self.master_key)
        if (rate, channels) != (self.rate, self.channels) or abs(duration - self.duration_s) > TIMELINE_TOLERANCE_S:
            raise PackageError(
                f"Chương {self.position}: tệp master ({rate} Hz, {channels} kênh, {duration:.3f} s) khác "
                f"thư mục ({self.rate} Hz, {self.channels} kênh, "
                f"{self.duration_s:.3f} s) (the master file differs from the catalogue)")
        return path


@dataclass(frozen=True)
class Mp3Settings:
    bitrate_kbps: int
    sample_rate_hz: int
    channels: int


@dataclass
class PackageResult:
    book_id: int
    prefix: str
    encoded: list[str] = field(default_factory=list)     # jobs that ran ffmpeg
    reused: list[str] = field(default_factory=list)      # jobs whose cached result was current
    written: list[str] = field(default_factory=list)     # final outputs (re)written
    unchanged: list[str] = field(default_factory=list)   # final outputs already current
    wall_s: float = 0.0


def source_hash(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def args_signature(args: list[str], *paths: Path) -> list[str]:
    """The command with our own paths blanked, so the hash depends on what is done, not where."""
    out = []
    for a in args:
        for i, p in enumerate(paths):
            a = a.replace(str(p), f"<{i}>")
        out.append(a)
    return out


# -- reading the book -------------------------------------------------------------------------------
def open_master(store: MediaStore, position: int, key: str) -> tuple[Path, int, int, float]:
    """Chapter `position`'s master file as (local path, rate Hz, channels, seconds); PackageError if
    absent or unreadable."""
    try:
        path = store.path(key)
    except RecordingsError as exc:
        raise PackageError(f"Chương {position}: {exc}") from exc
    if not path.is_file():
        raise PackageError(f"Chương {position}: thiếu tệp master (missing master) {key}")
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise PackageError(f"Chương {position}: master không đọc được (unreadable master): {exc}") from exc
    return path, info.samplerate, info.channels, info.frames / info.samplerate


def open_masters(specs: list[ChapterSpec]) -> list[Path]:
    """Every chapter's master as a local file, each checked against its row (`ChapterSpec.master`)."""
    return [s.master for s in specs]


def load_book(db, store: MediaStore, book_id: int):
    """The book and its chapters' specs, checked as one timeline. A chapter whose row records its
    master's hash, length, rate and channels is planned from the row, without touching the store
    (its file is checked against the row when a job opens it); an older row is read from its file."""
    book = db.get(Book, book_id)
    if book is None:
        raise PackageError(f"Không có sách id={book_id} (no book with id {book_id})")
    chapters = list(book.chapters)
    if not chapters:
        raise PackageError(f"Sách '{book.title}' chưa có chương nào (book has no chapters)")
    specs = []
    for ch in chapters:
        if not ch.master_key:
            raise PackageError(f"Chương {ch.position} chưa có bản master (chapter {ch.position} has no master)")
        title = ch.title or f"Chương {ch.position}"
        if ch.master_sha256 and ch.duration_s and ch.sample_rate and ch.channels:
            specs.append(ChapterSpec(ch.id, ch.position, title, ch.start_s, ch.duration_s, ch.master_key,
                                     ch.master_sha256, ch.sample_rate, ch.channels, store))
            continue
        path, rate, channels, duration = open_master(store, ch.position, ch.master_key)
        if ch.duration_s and abs(duration - ch.duration_s) > TIMELINE_TOLERANCE_S:
            raise PackageError(
                f"Chương {ch.position}: thời lượng trong thư mục ({ch.duration_s:.3f} s) khác tệp master "
                f"({duration:.3f} s) (catalogue duration differs from the master file)")
        specs.append(ChapterSpec(ch.id, ch.position, title, ch.start_s, duration, ch.master_key,
                                 ch.master_sha256 or sha256_file(path), rate, channels, store))
    for prev, nxt in zip(specs, specs[1:]):
        if abs(prev.start_s + prev.duration_s - nxt.start_s) > TIMELINE_TOLERANCE_S:
            raise PackageError(
                f"Chương {nxt.position} bắt đầu ở {nxt.start_s:.3f} s nhưng chương trước kết thúc ở "
                f"{prev.start_s + prev.duration_s:.3f} s (chapter timeline has a gap or overlap)")
    if len({(s.rate, s.channels) for s in specs}) > 1:
        raise PackageError("Các chương có tần số lấy mẫu hoặc số kênh khác nhau "
                           "(chapters differ in sample rate or channel count)")
    return book, specs


def mp3_settings(profile_name: str, channels: int) -> Mp3Settings:
    try:
        profile = get_profile(profile_name)
    except MasteringError as exc:
        raise PackageError(str(exc)) from exc
    if profile.delivery is not None and profile.delivery.codec == "mp3":
        d = profile.delivery
        return Mp3Settings(d.bitrate_kbps, d.sample_rate_hz, min(d.channels, channels) or 1)
    # Library default: speech at 64 kbps mono (128 kbps for a stereo master), 44.1 kHz CBR.
    return Mp3Settings(128 if channels >= 2 else 64, 44100, 2 if channels >= 2 else 1)


def stream_rate(rate: int) -> int:
    return rate if rate in (44100, 48000) else 44100


def m4b_settings(channels: int) -> tuple[int, int]:
    return (128_000, 2) if channels >= 2 else (64_000, 1)


def read_meta(store: MediaStore, key: str) -> dict:
    """The JSON object at `key` ({} when it is missing or unreadable)."""
    try:
        return json.loads(store.read_bytes(key))
    except (RecordingsError, OSError, ValueError):
        return {}
