"""Online backup and restore of an instance: the database plus a SHA-256 manifest of the media.

A backup is a folder:
    backup.json          what was taken: when, from what, schema revision, row counts, method
    database.sqlite3     SQLite: a consistent snapshot through the SQLite backup API (never a file copy)
    database.sql         PostgreSQL: `pg_dump` of the instance's schema (client and server majors match)
    database.jsonl.gz    logical dump (rows as JSON) when pg_dump cannot be used, or when asked for
    media/...            the media store's files (originals and derived), tmp/ and partial files left out
    media-manifest.json  every media file with its size and SHA-256
    SECRET-listener-key.txt   the statistics pseudonym key (mode 0600; see docs/security.md): a
                         restore writes it to the new instance so listener pseudonyms carry on

The folder is assembled under `<dest>.partial` and renamed when complete, so a crash never leaves
something that looks like a finished backup. Copying a live SQLite file (with its WAL beside it)
can yield a torn, corrupt database; the backup API reads one consistent snapshot while writers
carry on, and the copy is checked with `PRAGMA integrity_check` before the backup is declared good.

Restore goes onto an EMPTY instance only (no tables, no media files): it verifies every hash
first, then puts the database and the files in place (temporary names, then `os.replace`).

RPO/RTO for the embedded default are in docs/security.md. This module assembles a backup and
restores one; the database copies are `catalog.backup_database`, the media copies `catalog.backup_media`.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from catalog.backup_database import (counts_and_revision, database_is_empty, database_kind, integrity_check,
                                     logical_dump, logical_restore, pg_dump, pg_method, pg_restore,
                                     sqlite_into_other, sqlite_path, sqlite_restore, sqlite_snapshot)
from catalog.backup_media import Progress, as_store, copy_media_out, is_empty, restore_media, verify_media
from catalog.errors import BackupError
from recordings.store import MediaStore

__all__ = ["BackupError", "BackupReport", "LISTENER_KEY_FILE", "backup", "read_report", "restore", "verify_backup"]

FORMAT_VERSION = 1


@dataclass
class BackupReport:
    path: str
    database_kind: str            # sqlite | postgresql
    method: str                   # sqlite-backup-api | pg_dump | logical
    schema_revision: str | None
    row_counts: dict[str, int]
    media_files: int
    media_bytes: int
    seconds: float
    integrity: str = "ok"
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"format": FORMAT_VERSION, "created_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                **asdict(self)}


LISTENER_KEY_FILE = "SECRET-listener-key.txt"


SECRET_NOTE = ("BÍ MẬT: khoá bí danh bạn nghe; cất riêng, không công bố, không gửi kèm bản sao ra ngoài "
               "(SECRET: listener pseudonym key; store apart, never publish)")


def backup(database_url: str, media: MediaStore | str | os.PathLike | None, dest: str | os.PathLike, *,
           method: str = "auto", progress: Progress | None = None, listener_key: str | None = None) -> BackupReport:
    """Take a consistent online backup into the new folder `dest` (must not exist, or be empty), with
    the files of `media` (a store, local or object, or a media folder; None: the database only).
    `listener_key` (the statistics pseudonym key) is kept beside it, marked secret."""
    started = time.monotonic()
    dest = Path(dest).resolve()
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"Thư mục đích đã có dữ liệu (destination is not empty): {dest}")
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    progress = progress or (lambda phase, done, total: None)
    notes: list[str] = []
    try:
        kind = database_kind(database_url)
        if method == "auto":
            method = "sqlite-backup-api" if kind == "sqlite" else pg_method(database_url, notes)
        progress("database", 0, 1)
        if method == "sqlite-backup-api":
            if kind != "sqlite":
                raise BackupError("sqlite-backup-api chỉ dùng cho SQLite (only for SQLite)")
            sqlite_snapshot(sqlite_path(database_url), partial / "database.sqlite3")
            integrity = integrity_check(partial / "database.sqlite3")
            if integrity != "ok":
                raise BackupError(f"Bản sao CSDL hỏng (backup copy failed integrity_check): {integrity}")
        elif method == "pg_dump":
            pg_dump(database_url, partial / "database.sql")
            integrity = "ok"
        elif method == "logical":
            logical_dump(database_url, partial / "database.jsonl.gz")
            integrity = "ok"
        else:
            raise BackupError(f"Phương pháp sao lưu không rõ (unknown method): {method}")
        progress("database", 1, 1)
        counts, revision = counts_and_revision(partial, method, database_url)
        files, total_bytes = copy_media_out(as_store(media) if media else None, partial, progress)
        report = BackupReport(str(dest), kind, method, revision, counts, len(files), total_bytes,
                              round(time.monotonic() - started, 3), integrity, notes)
        (partial / "media-manifest.json").write_text(json.dumps({"files": files}, indent=1, ensure_ascii=False))
        meta = report.to_json()
        if listener_key:
            _write_secret(partial / LISTENER_KEY_FILE, listener_key)
            meta["secrets"] = {LISTENER_KEY_FILE: SECRET_NOTE}
        (partial / "backup.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
        if dest.exists():
            dest.rmdir()
        os.replace(partial, dest)
        report.seconds = round(time.monotonic() - started, 3)
        return report
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _write_secret(path: Path, value: str) -> None:
    """`value` in a new file readable by its owner only (never world-readable, not even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value.strip() + "\n")


def _restore_listener_key(src: Path, instance_home: Path | None) -> None:
    """Put the backup's pseudonym key where the new instance reads it (streaming.pseudonyms)."""
    key_file = src / LISTENER_KEY_FILE
    if instance_home is None or not key_file.is_file():
        return
    target = instance_home / "listener_key"
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".listener_key.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:  # mkstemp creates it 0600
            fh.write(key_file.read_text().strip() + "\n")
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _check_listener_key_target(src: Path, instance_home: Path | None) -> None:
    target = instance_home / "listener_key" if instance_home else None
    if (target is not None and target.exists() and (src / LISTENER_KEY_FILE).is_file()
            and target.read_text().strip() != (src / LISTENER_KEY_FILE).read_text().strip()):
        raise BackupError(f"Bản cài đặt đích đã có khoá bí danh khác (the instance already has another "
                          f"listener pseudonym key): {target}")


def read_report(src: str | os.PathLike) -> dict:
    path = Path(src) / "backup.json"
    if not path.is_file():
        raise BackupError(f"Không phải bản sao lưu (no backup.json): {src}")
    report = json.loads(path.read_text())
    if report.get("format") != FORMAT_VERSION:
        raise BackupError(f"Định dạng bản sao lưu không hỗ trợ (unsupported format): {report.get('format')}")
    return report


def verify_backup(src: str | os.PathLike, progress: Progress | None = None) -> dict:
    """Check the database copy and every media file's SHA-256 against the manifest; return backup.json."""
    src = Path(src)
    report = read_report(src)
    progress = progress or (lambda phase, done, total: None)
    if report["method"] == "sqlite-backup-api":
        result = integrity_check(src / "database.sqlite3")
        if result != "ok":
            raise BackupError(f"CSDL trong bản sao lưu hỏng (integrity_check): {result}")
    verify_media(src, progress)
    return report


def restore(src: str | os.PathLike, database_url: str, media: MediaStore | str | os.PathLike, *,
            progress: Progress | None = None, instance_home: str | os.PathLike | None = None) -> dict:
    """Restore the backup `src` onto an empty instance (database and `media`, a store or a media
    folder, both empty); returns the backup's report. With
    `instance_home`, the backup's listener pseudonym key goes to `<instance_home>/listener_key`."""
    src = Path(src).resolve()
    instance_home = Path(instance_home).resolve() if instance_home else None
    report = verify_backup(src, progress)
    _check_listener_key_target(src, instance_home)
    kind = database_kind(database_url)
    if not is_empty(media):
        raise BackupError(f"Kho tệp đích không trống, chỉ khôi phục vào bản cài đặt trống "
                          f"(media store is not empty; restore goes onto an empty instance): {media}")
    if kind == "sqlite":
        target = sqlite_path(database_url)
        if target.exists() and not database_is_empty(database_url):
            raise BackupError(f"CSDL đích đã có dữ liệu (target database is not empty): {target}")
    elif not database_is_empty(database_url):
        raise BackupError("CSDL đích đã có dữ liệu (target database is not empty)")
    method = report["method"]
    if method == "sqlite-backup-api":
        if kind != "sqlite":
            sqlite_into_other(src, database_url, report)
        else:
            sqlite_restore(src / "database.sqlite3", target)
    elif method == "pg_dump":
        if kind != "postgresql":
            raise BackupError("Bản pg_dump chỉ khôi phục vào PostgreSQL (a pg_dump backup restores into PostgreSQL)")
        pg_restore(src / "database.sql", database_url)
    elif method == "logical":
        logical_restore(database_url, src / "database.jsonl.gz", report.get("schema_revision"))
    restore_media(src, as_store(media), progress or (lambda phase, done, total: None))
    _restore_listener_key(src, instance_home)
    return report
