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

RPO/RTO for the embedded default are in docs/security.md.
"""
from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import inspect, select, text
from sqlalchemy.engine import make_url

from catalog.db import make_engine, normalise_url
from catalog.errors import CatalogError
from recordings.store import CHUNK

FORMAT_VERSION = 1
SKIP_MEDIA_DIRS = ("tmp",)
# Tables rebuilt from others (the search index and FTS5's shadow tables): not compared in counts.
DERIVED_TABLE_PREFIXES = ("book_search", "sqlite_")


def _counted(name: str) -> bool:
    return name != "alembic_version" and not name.startswith(DERIVED_TABLE_PREFIXES)
Progress = Callable[[str, int, int], None]  # (phase, done, total)


class BackupError(CatalogError):
    """A backup or restore that cannot be done or checks out wrong; nothing half-done is left."""


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


# -- helpers -----------------------------------------------------------------------------------
def _kind(url: str) -> str:
    return "sqlite" if normalise_url(url).startswith("sqlite") else "postgresql"


def sqlite_path(url: str) -> Path:
    database = make_url(normalise_url(url)).database
    if not database or database == ":memory:":
        raise BackupError("Không sao lưu được CSDL SQLite trong bộ nhớ (in-memory SQLite cannot be backed up)")
    return Path(database)


def integrity_check(path: str | os.PathLike) -> str:
    """`PRAGMA integrity_check` of a SQLite file: 'ok' or the problems found."""
    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()
    return "; ".join(str(r[0]) for r in rows)


def _copy_hashing(src: Path, dst: Path) -> tuple[str, int]:
    import hashlib
    digest, size = hashlib.sha256(), 0
    with open(src, "rb") as fh, open(dst, "wb") as out:
        while block := fh.read(CHUNK):
            digest.update(block)
            out.write(block)
            size += len(block)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), size


def _media_files(root: Path) -> Iterator[Path]:
    """Files of the store, without tmp/ and without in-progress temporaries (dot-names)."""
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if rel.parts and rel.parts[0] in SKIP_MEDIA_DIRS:
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and not name.endswith((".part", ".tmp")):
                yield Path(dirpath) / name


def _schema_revision(conn) -> str | None:
    try:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # no alembic table: not a migrated instance
        return None


def row_counts(url: str) -> dict[str, int]:
    """Rows per table (alembic_version left out), for comparing a restore with its source."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            names = sorted(n for n in inspect(conn).get_table_names() if _counted(n))
            return {n: int(conn.execute(text(f'SELECT COUNT(*) FROM "{n}"')).scalar()) for n in names}
    finally:
        engine.dispose()


# -- backup ---------------------------------------------------------------------------------------
LISTENER_KEY_FILE = "SECRET-listener-key.txt"
SECRET_NOTE = ("BÍ MẬT: khoá bí danh bạn nghe; cất riêng, không công bố, không gửi kèm bản sao ra ngoài "
               "(SECRET: listener pseudonym key; store apart, never publish)")


def backup(database_url: str, media_root: str | os.PathLike | None, dest: str | os.PathLike, *,
           method: str = "auto", progress: Progress | None = None, listener_key: str | None = None) -> BackupReport:
    """Take a consistent online backup into the new folder `dest` (must not exist, or be empty).
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
        kind = _kind(database_url)
        if method == "auto":
            method = "sqlite-backup-api" if kind == "sqlite" else _pg_method(database_url, notes)
        progress("database", 0, 1)
        if method == "sqlite-backup-api":
            if kind != "sqlite":
                raise BackupError("sqlite-backup-api chỉ dùng cho SQLite (only for SQLite)")
            _sqlite_backup(sqlite_path(database_url), partial / "database.sqlite3")
            integrity = integrity_check(partial / "database.sqlite3")
            if integrity != "ok":
                raise BackupError(f"Bản sao CSDL hỏng (backup copy failed integrity_check): {integrity}")
        elif method == "pg_dump":
            _pg_dump(database_url, partial / "database.sql")
            integrity = "ok"
        elif method == "logical":
            _logical_dump(database_url, partial / "database.jsonl.gz")
            integrity = "ok"
        else:
            raise BackupError(f"Phương pháp sao lưu không rõ (unknown method): {method}")
        progress("database", 1, 1)
        counts, revision = _counts_and_revision(partial, method, database_url)
        files, total_bytes = _backup_media(Path(media_root) if media_root else None, partial, progress)
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


def _sqlite_backup(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BackupError(f"Không tìm thấy CSDL (database not found): {source}")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        # One step (pages=-1): a single read transaction, i.e. one consistent snapshot. In WAL mode
        # writers carry on meanwhile; a stepwise copy would restart on every concurrent write.
        src.backup(dst, pages=-1)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        dst.commit()
    finally:
        dst.close()
        src.close()


def _counts_and_revision(folder: Path, method: str, database_url: str) -> tuple[dict[str, int], str | None]:
    if method == "sqlite-backup-api":
        conn = sqlite3.connect(folder / "database.sqlite3")
        try:
            names = sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
                           if _counted(r[0]))
            counts = {n: conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}
            try:
                revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
            except sqlite3.Error:
                revision = None
        finally:
            conn.close()
        return counts, revision
    meta = json.loads((folder / "database.meta.json").read_text())
    return meta["row_counts"], meta["revision"]


def _backup_media(root: Path | None, partial: Path, progress: Progress) -> tuple[list[dict], int]:
    files: list[dict] = []
    total = 0
    if root is None or not root.is_dir():
        return files, total
    paths = list(_media_files(root))
    out_root = partial / "media"
    for i, path in enumerate(paths, 1):
        rel = path.relative_to(root).as_posix()
        target = out_root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            digest, size = _copy_hashing(path, target)
        except FileNotFoundError:  # a derived folder swapped out while we walked: not in this backup
            continue
        files.append({"path": rel, "size": size, "sha256": digest})
        total += size
        progress("media", i, len(paths))
    return files, total


# -- PostgreSQL -----------------------------------------------------------------------------------
def _pg_conninfo(url: str) -> tuple[str, str]:
    """(libpq URI, schema) for a SQLAlchemy PostgreSQL URL; the schema comes from options=-csearch_path."""
    url = normalise_url(url).replace("postgresql+psycopg://", "postgresql://", 1)
    match = re.search(r"options=-csearch_path(?:%3D|=)([A-Za-z0-9_]+)", url)
    return url, (match.group(1) if match else "public")


def _major(version: str) -> int:
    match = re.search(r"(\d+)", version)
    return int(match.group(1)) if match else 0


def _pg_method(url: str, notes: list[str]) -> str:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        notes.append("pg_dump không có trên máy: dùng bản sao logic (pg_dump not installed: logical dump)")
        return "logical"
    client = _major(subprocess.run([pg_dump, "--version"], capture_output=True, text=True).stdout.split(")")[-1])
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            server = int(conn.execute(text("SHOW server_version_num")).scalar()) // 10000
    finally:
        engine.dispose()
    if client != server:
        notes.append(f"pg_dump {client} khác máy chủ PostgreSQL {server}: dùng bản sao logic "
                     f"(client/server major versions differ: logical dump)")
        return "logical"
    return "pg_dump"


def _pg_dump(url: str, target: Path) -> None:
    conninfo, schema = _pg_conninfo(url)
    tmp = target.with_suffix(".part")
    result = subprocess.run(["pg_dump", "--no-owner", "--no-privileges", "--schema", schema,
                             "--file", str(tmp), "--dbname", conninfo], capture_output=True, text=True)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BackupError(f"pg_dump thất bại (failed): {result.stderr.strip()[:500]}")
    os.replace(tmp, target)
    # pg_dump's snapshot is consistent; the counts are taken right after, for the drill's comparison.
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            revision = _schema_revision(conn)
    finally:
        engine.dispose()
    (target.parent / "database.meta.json").write_text(json.dumps(
        {"row_counts": _counts_from_sql(target), "revision": revision, "schema": schema}))


def _counts_from_sql(path: Path) -> dict[str, int]:
    """Rows per table in a plain pg_dump file (COPY blocks), so counts describe the dump itself."""
    counts: dict[str, int] = {}
    current = None
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if current is None:
                match = re.match(r'^COPY (?:[\w"]+\.)?"?(\w+)"? ', line)
                if match:
                    current = match.group(1)
                    counts[current] = 0
            elif line.startswith("\\."):
                current = None
            else:
                counts[current] += 1
    return {k: v for k, v in sorted(counts.items()) if _counted(k)}


# -- logical dump (any database) ------------------------------------------------------------------
def _json_default(value):
    if isinstance(value, (dt.datetime, dt.date)):
        return {"$dt": value.isoformat()}
    if isinstance(value, bytes):
        return {"$b": value.hex()}
    raise TypeError(type(value).__name__)


def _json_hook(obj):
    if "$dt" in obj and len(obj) == 1:
        return dt.datetime.fromisoformat(obj["$dt"])
    if "$b" in obj and len(obj) == 1:
        return bytes.fromhex(obj["$b"])
    return obj


def _logical_dump(url: str, target: Path) -> None:
    from catalog.models import Base
    engine = make_engine(url)
    counts: dict[str, int] = {}
    try:
        # One transaction: REPEATABLE READ on PostgreSQL, one read snapshot on SQLite.
        with engine.connect() as conn:
            if _kind(url) == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                revision = _schema_revision(conn)
                with gzip.open(target, "wt", encoding="utf-8") as out:
                    for table in Base.metadata.sorted_tables:
                        counts[table.name] = 0
                        for row in conn.execute(select(table)).mappings():
                            out.write(json.dumps({"t": table.name, "r": dict(row)}, default=_json_default,
                                                 ensure_ascii=False) + "\n")
                            counts[table.name] += 1
    finally:
        engine.dispose()
    counts = {k: v for k, v in sorted(counts.items()) if _counted(k)}
    (target.parent / "database.meta.json").write_text(json.dumps({"row_counts": counts,
                                                                  "revision": revision}))


def _logical_restore(url: str, source: Path, revision: str | None) -> None:
    from catalog.migrate import upgrade
    from catalog.models import Base
    upgrade(url, revision or "head")
    engine = make_engine(url)
    tables = {t.name: t for t in Base.metadata.sorted_tables}
    try:
        with engine.begin() as conn:
            batch: dict[str, list] = {}
            with gzip.open(source, "rt", encoding="utf-8") as fh:
                for line in fh:
                    item = json.loads(line, object_hook=_json_hook)
                    batch.setdefault(item["t"], []).append(item["r"])
            for name, table in tables.items():  # parents before children
                if batch.get(name):
                    conn.execute(table.insert(), batch[name])
            if _kind(url) == "postgresql":
                for name, table in tables.items():
                    for col in table.primary_key.columns:
                        if col.autoincrement is True or (col.autoincrement == "auto" and col.type.python_type is int):
                            conn.execute(text(
                                f"SELECT setval(pg_get_serial_sequence('\"{name}\"', '{col.name}'), "
                                f"COALESCE((SELECT MAX(\"{col.name}\") FROM \"{name}\"), 0) + 1, false)"))
    finally:
        engine.dispose()
    try:  # the search index is derived from the rows: rebuild it if the catalogue offers that
        from catalog.search import rebuild_index
    except ImportError:
        return
    engine = make_engine(url)
    try:
        from sqlalchemy.orm import Session
        with Session(engine) as session:
            rebuild_index(session)
            session.commit()
    finally:
        engine.dispose()


# -- verify and restore ---------------------------------------------------------------------------
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
    from recordings.store import sha256_file
    src = Path(src)
    report = read_report(src)
    progress = progress or (lambda phase, done, total: None)
    if report["method"] == "sqlite-backup-api":
        result = integrity_check(src / "database.sqlite3")
        if result != "ok":
            raise BackupError(f"CSDL trong bản sao lưu hỏng (integrity_check): {result}")
    files = json.loads((src / "media-manifest.json").read_text())["files"]
    for i, entry in enumerate(files, 1):
        path = src / "media" / entry["path"]
        if not path.is_file() or sha256_file(path) != entry["sha256"]:
            raise BackupError(f"Tệp trong bản sao lưu bị thiếu hoặc sai mã băm (missing or hash mismatch): "
                              f"{entry['path']}")
        progress("verify", i, len(files))
    return report


def _database_is_empty(url: str) -> bool:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            names = [n for n in inspect(conn).get_table_names() if n != "alembic_version"]
            if not names:
                return True
            # Migrated but unused (e.g. `serve` applied migrations): empty if no table has rows.
            return all(conn.execute(text(f'SELECT 1 FROM "{n}" LIMIT 1')).first() is None for n in names)
    finally:
        engine.dispose()


def restore(src: str | os.PathLike, database_url: str, media_root: str | os.PathLike, *,
            progress: Progress | None = None, instance_home: str | os.PathLike | None = None) -> dict:
    """Restore the backup `src` onto an empty instance; returns the backup's report. With
    `instance_home`, the backup's listener pseudonym key goes to `<instance_home>/listener_key`."""
    src = Path(src).resolve()
    media_root = Path(media_root).resolve()
    instance_home = Path(instance_home).resolve() if instance_home else None
    report = verify_backup(src, progress)
    _check_listener_key_target(src, instance_home)
    kind = _kind(database_url)
    if next(_media_files(media_root), None) is not None:
        raise BackupError(f"Kho tệp đích không trống, chỉ khôi phục vào bản cài đặt trống "
                          f"(media folder is not empty; restore goes onto an empty instance): {media_root}")
    if kind == "sqlite":
        target = sqlite_path(database_url)
        if target.exists() and not _database_is_empty(database_url):
            raise BackupError(f"CSDL đích đã có dữ liệu (target database is not empty): {target}")
    elif not _database_is_empty(database_url):
        raise BackupError("CSDL đích đã có dữ liệu (target database is not empty)")
    method = report["method"]
    if method == "sqlite-backup-api":
        if kind != "sqlite":
            _restore_sqlite_into_other(src, database_url, report)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            os.close(fd)
            try:
                shutil.copyfile(src / "database.sqlite3", tmp)
                for suffix in ("-wal", "-shm"):  # an empty, migrated target may have left these
                    Path(str(target) + suffix).unlink(missing_ok=True)
                os.replace(tmp, target)
            finally:
                Path(tmp).unlink(missing_ok=True)
            result = integrity_check(target)
            if result != "ok":
                raise BackupError(f"CSDL khôi phục hỏng (restored database failed integrity_check): {result}")
    elif method == "pg_dump":
        if kind != "postgresql":
            raise BackupError("Bản pg_dump chỉ khôi phục vào PostgreSQL (a pg_dump backup restores into PostgreSQL)")
        _pg_restore(src / "database.sql", database_url)
    elif method == "logical":
        _logical_restore(database_url, src / "database.jsonl.gz", report.get("schema_revision"))
    _restore_media(src, media_root, progress or (lambda phase, done, total: None))
    _restore_listener_key(src, instance_home)
    return report


def _restore_sqlite_into_other(src: Path, database_url: str, report: dict) -> None:
    """A SQLite backup into PostgreSQL (moving past one machine): through a logical dump."""
    tmp = Path(tempfile.mkdtemp())
    try:
        _logical_dump(f"sqlite:///{src / 'database.sqlite3'}", tmp / "database.jsonl.gz")
        _logical_restore(database_url, tmp / "database.jsonl.gz", report.get("schema_revision"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _pg_restore(dump: Path, database_url: str) -> None:
    conninfo, schema = _pg_conninfo(database_url)
    engine = make_engine(database_url)
    try:  # an empty-but-migrated target: drop its (row-less) tables so the dump can create them
        with engine.begin() as conn:
            for name in inspect(conn).get_table_names(schema=schema):
                conn.execute(text(f'DROP TABLE IF EXISTS "{schema}"."{name}" CASCADE'))
    finally:
        engine.dispose()
    sql = dump.read_text(encoding="utf-8")
    sql = re.sub(rf"^CREATE SCHEMA {re.escape(schema)};$", "", sql, flags=re.M)
    result = subprocess.run(["psql", "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1",
                             "--single-transaction", "--dbname", conninfo],
                            input=sql, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"psql thất bại khi khôi phục (restore failed): {result.stderr.strip()[:500]}")


def _restore_media(src: Path, media_root: Path, progress: Progress) -> None:
    files = json.loads((src / "media-manifest.json").read_text())["files"]
    for sub in ("originals", "derived", "tmp"):
        (media_root / sub).mkdir(parents=True, exist_ok=True)
    for i, entry in enumerate(files, 1):
        rel = Path(entry["path"])
        if rel.is_absolute() or ".." in rel.parts:
            raise BackupError(f"Đường dẫn trong manifest không hợp lệ (unsafe manifest path): {entry['path']}")
        target = media_root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        try:
            digest, _size = _copy_hashing(src / "media" / rel, Path(tmp))
            if digest != entry["sha256"]:
                raise BackupError(f"Mã băm sai khi khôi phục (hash mismatch): {entry['path']}")
            os.chmod(tmp, (src / "media" / rel).stat().st_mode & 0o777 or 0o644)
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        progress("media", i, len(files))
