"""Resumable uploads, tus 1.0.0 (core, creation, termination, checksum), without the HTTP framework.

The web layer (`web/uploads.py`) turns requests into calls here and `UploadError`s into
responses. State lives on disk under the media store's `tmp/`:
    tmp/tus-<id>.part     the bytes received so far; its size is the upload offset
    tmp/tus/<id>.json     length, owner, metadata, state; kept after completion so a late HEAD works
A finished upload goes through `studio.intake` like every other way audio enters: probed in
a child process with a time limit and a decoded-size limit, its SHA-256 checked against the
`sha256` metadata when the client sent one, and only then moved into the store as an original
with its `originals` row and its take. Anything refused is deleted: no file, no row.

Limits (`studio.intake.IntakeLimits`): size per upload, per-user quota, unfinished uploads per
user, free disk, checked at creation and again on the finished file.

A take joins the recording session named by `session_id` metadata, or, with `book_id` (and
`session_name`) metadata, a new session of that book created with its first take, so an
abandoned upload never leaves an empty session.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from catalog.ids import parse_id
from catalog.access import may_manage
from catalog.models import Book, RecordingSession, User
from recordings.probe import describe_non_audio, sniff_audio
from studio import intake
from studio.context import Context
from studio.errors import N_
from studio.intake import IntakeError, IntakeLimits

TUS_VERSION = "1.0.0"
EXTENSIONS = ("creation", "termination", "checksum")
CHECKSUMS = {"sha256": hashlib.sha256, "sha1": hashlib.sha1, "md5": hashlib.md5}
CHUNK = 1 << 20
SNIFF_BYTES = 12
ID_RE = re.compile(r"^[0-9a-f]{32}$")


class UploadError(IntakeError):
    """A refused tus request: `status` is the HTTP status to answer with, the message says why."""


@dataclass
class UploadInfo:
    id: str
    user_id: int
    length: int
    metadata: dict[str, str]
    created_at: str
    state: str = "uploading"           # uploading | done
    offset: int = 0
    sha256: str = ""
    key: str = ""
    format: str = ""
    duration_s: float = 0.0
    take_id: int | None = None
    session_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return Path(self.metadata.get("filename", "") or "").name


def parse_metadata(header: str | None) -> dict[str, str]:
    """`Upload-Metadata: key base64value,key2 base64value2` → dict (values decoded as UTF-8)."""
    out: dict[str, str] = {}
    for pair in (header or "").split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _sep, value = pair.partition(" ")
        if not key or key in out:
            raise UploadError(400, N_("Upload-Metadata không hợp lệ."))
        try:
            out[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8") if value else ""
        except (binascii.Error, UnicodeDecodeError):
            raise UploadError(400, N_("Upload-Metadata: giá trị của %(key)s không phải base64."), key=key) from None
    return out


def parse_checksum(header: str | None) -> tuple[str, bytes] | None:
    """`Upload-Checksum: sha256 <base64 digest>` → (algorithm, digest)."""
    if not header:
        return None
    algorithm, _sep, value = header.strip().partition(" ")
    if algorithm not in CHECKSUMS:
        raise UploadError(400, N_("Thuật toán kiểm tra không hỗ trợ: %(algorithm)s"),
                          algorithm=algorithm)
    try:
        return algorithm, base64.b64decode(value.strip(), validate=True)
    except binascii.Error:
        raise UploadError(400, N_("Upload-Checksum không hợp lệ.")) from None


class UploadManager:
    def __init__(self, ctx: Context, *, max_bytes: int | None = None, quota_bytes: int | None = None,
                 reserve_bytes: int | None = None, probe_timeout_s: float | None = None):
        self.ctx = ctx
        limits = IntakeLimits.from_settings(ctx.settings)
        overrides: dict[str, Any] = {"max_bytes": max_bytes, "quota_bytes": quota_bytes,
                                     "reserve_bytes": reserve_bytes, "probe_timeout_s": probe_timeout_s}
        self.limits = dataclasses.replace(limits, **{k: v for k, v in overrides.items() if v is not None})
        self.max_bytes = self.limits.max_bytes
        self.tmp = ctx.store.tmp_dir
        self.meta_dir = self.tmp / "tus"
        self.meta_dir.mkdir(parents=True, exist_ok=True)

    # -- files -----------------------------------------------------------------------------------
    def _part(self, upload_id: str) -> Path:
        return self.tmp / f"tus-{upload_id}.part"

    def _info_path(self, upload_id: str) -> Path:
        return self.meta_dir / f"{upload_id}.json"

    def _save(self, info: UploadInfo) -> None:
        path = self._info_path(info.id)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(info), ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)

    def _load(self, upload_id: str) -> UploadInfo | None:
        if not ID_RE.match(upload_id or ""):
            return None
        try:
            return UploadInfo(**json.loads(self._info_path(upload_id).read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None

    def _discard(self, upload_id: str) -> None:
        self._part(upload_id).unlink(missing_ok=True)
        self._info_path(upload_id).unlink(missing_ok=True)
        for stray in self.tmp.glob(f"tus-{upload_id}.*"):
            stray.unlink(missing_ok=True)

    @contextmanager
    def _locked(self, upload_id: str, wait_s: float = 10.0) -> Iterator[None]:
        """One request at a time per upload (a client retrying while its old PATCH is still read)."""
        lock_path = self.meta_dir / f"{upload_id}.lock"
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        deadline = time.monotonic() + wait_s
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise UploadError(423, N_("Tệp đang được tải lên ở yêu cầu khác.")) from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)

    # -- tus operations ------------------------------------------------------------------------
    def get(self, upload_id: str, user_id: int) -> UploadInfo:
        info = self._load(upload_id)
        if info is None or info.user_id != user_id:
            raise UploadError(404, N_("Không tìm thấy phiên tải lên."))
        if info.state == "uploading":
            part = self._part(upload_id)
            info.offset = part.stat().st_size if part.exists() else 0
        return info

    def used_bytes(self, user_id: int) -> int:
        return intake.used_bytes(self.ctx, user_id)

    def create(self, user_id: int, length_header: str | None, metadata_header: str | None) -> UploadInfo:
        if length_header is None:
            raise UploadError(400, N_("Thiếu Upload-Length (không hỗ trợ độ dài báo sau)."))
        try:
            length = int(length_header)
        except ValueError:
            raise UploadError(400, N_("Upload-Length không hợp lệ.")) from None
        if length < 0:
            raise UploadError(400, N_("Upload-Length không hợp lệ."))
        metadata = parse_metadata(metadata_header)
        name = Path(metadata.get("filename", "") or "tệp").name
        if length == 0:
            raise UploadError(400, N_("%(name)s: tệp rỗng, 0 byte."), name=name)
        sha = metadata.get("sha256", "").lower()
        if sha and not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise UploadError(400, N_("Metadata sha256 phải là 64 chữ số hex."))
        self._check_target(metadata, user_id)
        self.cleanup()
        try:
            intake.check_room(self.ctx, self.limits, name=name, length=length, user_id=user_id)
            intake.check_pending(self.ctx, self.limits, user_id)
        except IntakeError as exc:
            raise UploadError(exc.status, exc.message, **exc.params) from None
        info = UploadInfo(id=uuid.uuid4().hex, user_id=user_id, length=length, metadata=metadata,
                          created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
        self._part(info.id).touch()
        self._save(info)
        return info

    def append(self, upload_id: str, user_id: int, offset_header: str | None, content_type: str | None,
               body: BinaryIO, content_length: int | None, checksum_header: str | None = None) -> UploadInfo:
        """PATCH: append the body at the given offset; on the last byte, finish the upload."""
        if (content_type or "").split(";")[0].strip() != "application/offset+octet-stream":
            raise UploadError(415, N_("Content-Type phải là application/offset+octet-stream."))
        checksum = parse_checksum(checksum_header)
        with self._locked(upload_id):
            info = self.get(upload_id, user_id)
            if info.state == "done":
                raise UploadError(409, N_("Tệp đã tải xong."))
            try:
                offset = int(offset_header or "")
            except ValueError:
                raise UploadError(400, N_("Upload-Offset không hợp lệ.")) from None
            if offset != info.offset:
                raise UploadError(409, N_("Upload-Offset %(offset)s khác vị trí máy chủ %(server)s."),
                                  offset=offset, server=info.offset)
            remaining = info.length - offset
            if content_length is not None and content_length > remaining:
                raise UploadError(413, N_("Dữ liệu vượt Upload-Length."))
            part = self._part(upload_id)
            digest = CHECKSUMS[checksum[0]]() if checksum else None
            received = 0
            try:
                with open(part, "r+b") as out:
                    out.seek(offset)
                    while received < remaining:
                        block = body.read(min(CHUNK, remaining - received))
                        if not block:
                            break
                        out.write(block)
                        received += len(block)
                        if digest:
                            digest.update(block)
                    out.truncate(offset + received)
                    out.flush()
                    os.fsync(out.fileno())
            except (OSError, ValueError) as exc:
                # a dropped connection: keep what arrived (tus resumes from the server's offset),
                # unless a checksum was promised for the whole request
                if digest is not None:
                    _truncate(part, offset)
                if isinstance(exc, OSError) and exc.errno == 28:
                    self._discard(upload_id)
                    raise UploadError(507, N_("Máy chủ hết dung lượng.")) from None
                raise UploadError(400, N_("Kết nối bị ngắt khi đang nhận dữ liệu: %(reason)s"),
                                  reason=exc) from None
            if digest is not None and checksum is not None and digest.digest() != checksum[1]:
                _truncate(part, offset)
                raise UploadError(460, N_("Checksum không khớp, đoạn dữ liệu bị bỏ."))
            if offset == 0 and received:
                self._check_magic(info, part)
            info.offset = offset + received
            if info.offset == info.length:
                return self._finish(info)
            return info

    def _check_magic(self, info: UploadInfo, part: Path) -> None:
        with open(part, "rb") as fh:
            head = fh.read(64)
        if len(head) < min(SNIFF_BYTES, info.length):
            return  # checked again, in full, when the upload is complete
        if sniff_audio(head) is None:
            self._discard(info.id)
            kind = describe_non_audio(head)
            name = info.filename or "tệp"
            if kind:
                raise UploadError(415, N_("%(name)s: tệp %(kind)s, không phải âm thanh."), name=name, kind=kind)
            raise UploadError(415, N_("%(name)s: phần đầu tệp không phải WAV/FLAC/AIFF/MP3."), name=name)

    def _finish(self, info: UploadInfo) -> UploadInfo:
        """Probe, verify the SHA-256, store the original and its row; refuse and delete on any problem."""
        part = self._part(info.id)
        name = info.filename or "tệp"
        try:
            self._check_magic(info, part)
            # the quota was checked at creation, with this upload counted as in progress
            sha, key, audio = intake.store_file(self.ctx, self.limits, part, name=name, user_id=None,
                                           expected_sha256=info.metadata.get("sha256") or None)
        except IntakeError as exc:
            self._discard(info.id)
            raise UploadError(exc.status, exc.message, **exc.params) from None
        with self.ctx.sessions.begin() as db:
            rec = self._target_session(db, info)
            if rec is None:  # no session named (or no longer allowed): the original alone
                intake.add_original(db, sha=sha, filename=name, audio=audio, size_bytes=info.length,
                                    uploaded_by=info.user_id)
            else:
                take = intake.add_original_and_take(db, rec, sha=sha, filename=name, audio=audio,
                                                    size_bytes=info.length, uploaded_by=info.user_id)
                info.take_id, info.session_id = take.id, rec.id
        info.state, info.sha256, info.key, info.format = "done", sha, key, audio.format
        info.duration_s = round(audio.duration_s, 3)
        self._save(info)
        return info

    def _check_target(self, metadata: dict[str, str], user_id: int) -> None:
        """A take may only join a recording session (or start one for a book) in the uploader's
        library (admins: any)."""
        with self.ctx.sessions() as db:
            for key, allowed in (("session_id", _may_add_to_session), ("book_id", _may_add_to_book)):
                raw = metadata.get(key, "")
                if not raw:
                    continue
                target_id = parse_id(raw)
                if target_id is None:
                    raise UploadError(400, N_("%(key)s không hợp lệ."), key=key)
                if not allowed(db, target_id, user_id):
                    raise UploadError(403, N_("Không được thêm bản ghi vào sách hoặc buổi này."))

    @staticmethod
    def _target_session(db, info: UploadInfo) -> RecordingSession | None:
        """The session named by `session_id`, or a new one of `book_id` (created with this take).
        Checked at creation too; checked again here because the session may have moved since."""
        raw_session, raw_book = info.metadata.get("session_id", ""), info.metadata.get("book_id", "")
        session_id, book_id = parse_id(raw_session), parse_id(raw_book)
        if session_id is not None:
            rec = db.get(RecordingSession, session_id)
            if rec is not None and _may_add_to_session(db, rec.id, info.user_id):
                return rec
            return None
        if book_id is not None and _may_add_to_book(db, book_id, info.user_id):
            return intake.new_recording_session(db, book_id, info.metadata.get("session_name", ""))
        return None

    def terminate(self, upload_id: str, user_id: int) -> None:
        with self._locked(upload_id):
            self.get(upload_id, user_id)
            self._discard(upload_id)
        (self.meta_dir / f"{upload_id}.lock").unlink(missing_ok=True)

    def cleanup(self, max_age_s: float = 7 * 24 * 3600) -> int:
        """Forget uploads untouched for a week (their partial bytes too)."""
        removed = 0
        cutoff = time.time() - max_age_s
        for path in self.meta_dir.glob("*.json"):
            upload_id = path.stem
            part = self._part(upload_id)
            newest = max(path.stat().st_mtime, part.stat().st_mtime if part.exists() else 0)
            if newest < cutoff:
                self._discard(upload_id)
                (self.meta_dir / f"{upload_id}.lock").unlink(missing_ok=True)
                removed += 1
        return removed


def _may_add_to_session(db, session_id: int, user_id: int) -> bool:
    rec = db.get(RecordingSession, session_id)
    return rec is not None and _may_add_to_book(db, rec.book_id, user_id)


def _may_add_to_book(db, book_id: int, user_id: int) -> bool:
    book = db.get(Book, book_id)
    return book is not None and may_manage(db.get(User, user_id), book.library_id)


def _truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(size)
