"""The one door audio enters by: tus uploads, the form upload, the hot folder and `sachnoi ingest`.

Every path calls `check_room` before it receives bytes (when it knows the length) and
`admit_file` once the file is on disk; the rows are written by `add_original_and_take`. So the
same limits hold everywhere:

    size        MAX_UPLOAD_MB per file
    quota       USER_QUOTA_MB per uploader: stored originals + tus uploads in progress
    pending     MAX_PENDING_UPLOADS unfinished tus uploads per uploader
    disk        UPLOAD_DISK_RESERVE_MB kept free after the file is stored
    probe       in a child process killed after PROBE_TIMEOUT_S (`recordings.probe.probe_audio_limited`)
    decoded     MAX_DECODED_SAMPLES frames × channels (duration × rate × channels), read from the
                header before anything decodes

A refusal is an `IntakeError` with the HTTP status a web view answers with; nothing is stored.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from sqlalchemy import Table, func, select

from catalog.models import Book, Mark, Original, RecordingSession, Take
from catalog.states import BookState
from recordings.errors import NotAudioError
from recordings.probe import FORMAT_EXTENSIONS, AudioInfo, probe_audio_limited
from studio.context import Context, StudioSettings
from studio.errors import N_, StudioError


class IntakeError(StudioError):
    """Audio refused at the door: `status` is the HTTP status to answer with, the message says why."""

    def __init__(self, status: int, message: str, **params):
        super().__init__(message, **params)
        self.status = status


@dataclass(frozen=True)
class IntakeLimits:
    max_bytes: int              # one file
    quota_bytes: int            # per uploader
    reserve_bytes: int          # free disk kept after storing
    probe_timeout_s: float
    max_samples: int            # frames × channels
    max_pending: int            # unfinished tus uploads per uploader

    @classmethod
    def from_settings(cls, settings: StudioSettings) -> IntakeLimits:
        return cls(max_bytes=int(settings.max_upload_mb * 1e6), quota_bytes=int(settings.user_quota_mb * 1e6),
                   reserve_bytes=int(settings.upload_disk_reserve_mb * 1e6),
                   probe_timeout_s=settings.probe_timeout_s, max_samples=settings.max_decoded_samples,
                   max_pending=settings.max_pending_uploads)


def _mb(n: float) -> str:
    return f"{n / 1e6:,.0f}".replace(",", ".")  # Vietnamese thousands separator


def check_room(ctx: Context, limits: IntakeLimits, *, name: str, length: int, user_id: int | None,
               already_on_disk: bool = False) -> None:
    """Size, quota and free disk for a file of `length` bytes about to enter (or already in tmp/)."""
    if length > limits.max_bytes:
        raise IntakeError(413, N_("%(name)s: tệp %(size)s MB vượt giới hạn %(limit)s MB."),
                          name=name, size=_mb(length), limit=_mb(limits.max_bytes))
    if user_id is not None:
        used = used_bytes(ctx, user_id)
        if used + length > limits.quota_bytes:
            raise IntakeError(413, N_("%(name)s: vượt hạn mức lưu trữ của bạn (%(used)s + %(size)s > %(quota)s MB)."),
                              name=name, used=_mb(used), size=_mb(length), quota=_mb(limits.quota_bytes))
    free = shutil.disk_usage(ctx.store.root).free
    if free - (0 if already_on_disk else length) < limits.reserve_bytes:
        raise IntakeError(507, N_("%(name)s: máy chủ không đủ dung lượng trống (%(free)s MB)."),
                          name=name, free=_mb(free))


def used_bytes(ctx: Context, user_id: int) -> int:
    """Bytes the user holds: stored originals they uploaded + tus uploads still in progress."""
    with ctx.sessions() as db:
        stored = db.scalar(select(func.coalesce(func.sum(Original.size_bytes), 0))
                           .where(Original.uploaded_by == user_id)) or 0
    return int(stored) + sum(int(u.get("length", 0)) for u in pending_uploads(ctx, user_id))


def pending_uploads(ctx: Context, user_id: int) -> list[dict]:
    """The user's unfinished tus uploads (their state files under tmp/tus/)."""
    out = []
    for path in (ctx.store.tmp_dir / "tus").glob("*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if data.get("user_id") == user_id and data.get("state") == "uploading":
            out.append(data)
    return out


def check_pending(ctx: Context, limits: IntakeLimits, user_id: int) -> None:
    """At most `max_pending` unfinished uploads each: a script cannot hold the disk with empty ones."""
    count = len(pending_uploads(ctx, user_id))
    if count >= limits.max_pending:
        raise IntakeError(429, N_("Bạn đang có %(count)s tệp tải lên chưa xong (tối đa %(limit)s): "
                                  "hoàn tất hoặc huỷ bớt trước khi tải tệp mới."),
                          count=count, limit=limits.max_pending)


def admit_file(ctx: Context, limits: IntakeLimits, path: str | Path, *, name: str = "",
               user_id: int | None = None, in_tmp: bool = False) -> AudioInfo:
    """Every check on a file already on disk: size, quota, free disk, then the time-limited probe
    with the decoded-size limit. Returns the probe's `AudioInfo`."""
    path = Path(path)
    name = name or path.name
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise IntakeError(422, N_("%(name)s: không mở được tệp: %(reason)s"), name=name, reason=exc) from None
    check_room(ctx, limits, name=name, length=size, user_id=user_id, already_on_disk=in_tmp)
    try:
        audio = probe_audio_limited(path, limits.probe_timeout_s, max_samples=limits.max_samples)
    except NotAudioError as exc:
        message = str(exc)
        if name != path.name:  # the message names the temporary file; staff know the file by its name
            message = message.replace(path.name, name)
        raise IntakeError(422, message) from None
    return audio


def store_file(ctx: Context, limits: IntakeLimits, path: str | Path, *, name: str, user_id: int | None,
               expected_sha256: str | None = None) -> tuple[str, str, AudioInfo]:
    """`admit_file`, then keep the file as an original (moved when it is in tmp/, named by the
    format the probe found). Returns (sha256, store key, audio)."""
    path = Path(path)
    in_tmp = path.resolve().parent == ctx.store.tmp_dir.resolve()
    audio = admit_file(ctx, limits, path, name=name, user_id=user_id, in_tmp=in_tmp)
    if in_tmp:
        named = path.with_suffix("." + FORMAT_EXTENSIONS.get(audio.format, "bin"))
        os.replace(path, named)
        path = named
    try:
        sha, key = ctx.store.put_original(path, move=in_tmp, expected_sha256=expected_sha256)
    except ValueError as exc:
        raise IntakeError(460, f"{name}: {exc}") from None
    finally:
        if in_tmp:
            path.unlink(missing_ok=True)
    return sha, key, audio


def add_original_and_take(db, rec: RecordingSession, *, sha: str, filename: str, audio: AudioInfo,
                          size_bytes: int, uploaded_by: int | None) -> Take:
    """The `originals` row (once per content) and the next take of `rec`."""
    add_original(db, sha=sha, filename=filename, audio=audio, size_bytes=size_bytes, uploaded_by=uploaded_by)
    position = (db.scalar(select(func.max(Take.position)).where(Take.session_id == rec.id)) or 0) + 1
    take = Take(session_id=rec.id, position=position, original_sha256=sha, filename=filename,
                duration_s=audio.duration_s)
    db.add(take)
    db.flush()
    return take


def add_original(db, *, sha: str, filename: str, audio: AudioInfo, size_bytes: int,
                 uploaded_by: int | None) -> None:
    """The `originals` row, once per content (the same bytes stored twice are one original)."""
    if db.get(Original, sha) is None:
        db.add(Original(sha256=sha, size_bytes=size_bytes, filename=filename, format=audio.format,
                        sample_rate=audio.sample_rate, channels=audio.channels, frames=audio.frames,
                        uploaded_by=uploaded_by))
        db.flush()


def new_recording_session(db, book_id: int, name: str = "") -> RecordingSession:
    """The book's next recording session. Created only together with its first take, so an
    abandoned or refused upload never leaves an empty session behind."""
    position = (db.scalar(select(func.max(RecordingSession.position))
                          .where(RecordingSession.book_id == book_id)) or 0) + 1
    rec = RecordingSession(book_id=book_id, name=(name.strip() or f"Buổi {position}")[:255], position=position,
                           source="upload", settings={})
    db.add(rec)
    db.flush()
    return rec


def safe_filename(raw: str) -> str:
    """The last part of a client's file name (Windows paths too), at most 200 characters."""
    return Path((raw or "").replace("\\", "/")).name[:200] or "take"


def delete_recording_session(db, rec: RecordingSession) -> None:
    """Remove a recording session of a draft book with its takes and their chapter marks.
    The originals stay: they are content-addressed and may be shared by other takes."""
    book = db.get(Book, rec.book_id)
    if book is None or book.state != BookState.DRAFT:
        raise IntakeError(409, N_("Chỉ xoá được buổi ghi âm của sách chưa xuất bản."))
    take_ids = [t.id for t in rec.takes]
    if take_ids:
        db.execute(cast(Table, Mark.__table__).delete().where(Mark.take_id.in_(take_ids)))
        for pickup in db.scalars(select(Take).where(Take.replaces_take_id.in_(take_ids))):
            pickup.replaces_take_id = pickup.replace_start_s = pickup.replace_end_s = None
    db.delete(rec)
    db.flush()


@dataclass(frozen=True)
class Received:
    take_id: int
    session_id: int
    filename: str
    duration_s: float


def receive_take(ctx: Context, stream: BinaryIO, *, filename: str, user_id: int, length: int | None,
                 session_id: int | None = None, book_id: int | None = None, session_name: str = "") -> Received:
    """A file sent in one request (the form upload): the checks, the original, and the next take of
    recording session `session_id`, or of a new session of `book_id` created with it. The caller
    has checked that the user may add to that book."""
    limits = IntakeLimits.from_settings(ctx.settings)
    name = safe_filename(filename)
    if length is not None:  # refuse before reading when the request says how large it is
        check_room(ctx, limits, name=name, length=length, user_id=user_id)
    tmp_dir = ctx.store.tmp_dir
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="form-", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            received = 0
            while chunk := stream.read(1 << 20):
                received += len(chunk)
                if received > limits.max_bytes:
                    raise IntakeError(413, N_("%(name)s: tệp vượt giới hạn %(limit)s MB."),
                                      name=name, limit=_mb(limits.max_bytes))
                out.write(chunk)
        if received == 0:
            raise IntakeError(400, N_("%(name)s: tệp rỗng, 0 byte."), name=name)
        sha, _key, audio = store_file(ctx, limits, tmp, name=name, user_id=user_id)
    finally:
        tmp.unlink(missing_ok=True)
    with ctx.sessions.begin() as db:
        rec = db.get(RecordingSession, session_id) if session_id else None
        if rec is None:
            if book_id is None:
                raise IntakeError(404, N_("Không tìm thấy buổi ghi âm."))
            rec = new_recording_session(db, book_id, session_name)
        take = add_original_and_take(db, rec, sha=sha, filename=name, audio=audio, size_bytes=received,
                                     uploaded_by=user_id)
        return Received(take.id, rec.id, name, round(audio.duration_s, 2))
