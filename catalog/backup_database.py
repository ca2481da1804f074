"""The database half of a backup: a consistent copy out of the instance's database, and back in.

Three ways: the SQLite backup API (one read snapshot while writers carry on, checked with
`PRAGMA integrity_check`), `pg_dump`/`psql` when client and server majors match, and a logical
dump (rows as gzipped JSON lines) that works for any database and carries SQLite into PostgreSQL.
Row counts and the schema revision describe every copy, so a restore can be compared with it.
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
from pathlib import Path

from sqlalchemy import inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from catalog.db import make_engine, normalise_url
from catalog.errors import BackupError
from catalog.migrate import upgrade
from catalog.models import Base
from catalog.search import rebuild_index

# Tables rebuilt from others (the search index and FTS5's shadow tables): not compared in counts.
DERIVED_TABLE_PREFIXES = ("book_search", "sqlite_")


def _counted(name: str) -> bool:
    return name != "alembic_version" and not name.startswith(DERIVED_TABLE_PREFIXES)


def database_kind(url: str) -> str:
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
            return {n: int(conn.execute(text(f'SELECT COUNT(*) FROM "{n}"')).scalar_one()) for n in names}
    finally:
        engine.dispose()


def database_is_empty(url: str) -> bool:
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


# -- SQLite -------------------------------------------------------------------------------------
def sqlite_snapshot(source: Path, target: Path) -> None:
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


def sqlite_restore(copy: Path, target: Path) -> None:
    """Put the backup's SQLite file `copy` in place of `target` (temporary name, then a move), and check it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(copy, tmp)
        for suffix in ("-wal", "-shm"):  # an empty, migrated target may have left these
            Path(str(target) + suffix).unlink(missing_ok=True)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    result = integrity_check(target)
    if result != "ok":
        raise BackupError(f"CSDL khôi phục hỏng (restored database failed integrity_check): {result}")


def counts_and_revision(folder: Path, method: str, database_url: str) -> tuple[dict[str, int], str | None]:
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


# -- PostgreSQL ---------------------------------------------------------------------------------
def _pg_conninfo(url: str) -> tuple[str, str]:
    """(libpq URI, schema) for a SQLAlchemy PostgreSQL URL; the schema comes from options=-csearch_path."""
    url = normalise_url(url).replace("postgresql+psycopg://", "postgresql://", 1)
    match = re.search(r"options=-csearch_path(?:%3D|=)([A-Za-z0-9_]+)", url)
    return url, (match.group(1) if match else "public")


def _major(version: str) -> int:
    match = re.search(r"(\d+)", version)
    return int(match.group(1)) if match else 0


def pg_method(url: str, notes: list[str]) -> str:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        notes.append("pg_dump không có trên máy: dùng bản sao logic (pg_dump not installed: logical dump)")
        return "logical"
    client = _major(subprocess.run([pg_dump, "--version"], capture_output=True, text=True).stdout.split(")")[-1])
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            server = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    finally:
        engine.dispose()
    if client != server:
        notes.append(f"pg_dump {client} khác máy chủ PostgreSQL {server}: dùng bản sao logic "
                     f"(client/server major versions differ: logical dump)")
        return "logical"
    return "pg_dump"


def pg_dump(url: str, target: Path) -> None:
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


def pg_restore(dump: Path, database_url: str) -> None:
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


# -- logical dump (any database) ----------------------------------------------------------------
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


def logical_dump(url: str, target: Path) -> None:
    engine = make_engine(url)
    counts: dict[str, int] = {}
    try:
        # One transaction: REPEATABLE READ on PostgreSQL, one read snapshot on SQLite.
        with engine.connect() as conn:
            if database_kind(url) == "postgresql":
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


def logical_restore(url: str, source: Path, revision: str | None) -> None:
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
            if database_kind(url) == "postgresql":
                for name, table in tables.items():
                    for col in table.primary_key.columns:
                        if col.autoincrement is True or (col.autoincrement == "auto" and col.type.python_type is int):
                            conn.execute(text(
                                f"SELECT setval(pg_get_serial_sequence('\"{name}\"', '{col.name}'), "
                                f"COALESCE((SELECT MAX(\"{col.name}\") FROM \"{name}\"), 0) + 1, false)"))
    finally:
        engine.dispose()
    engine = make_engine(url)
    try:  # the search index is derived from the rows
        with Session(engine) as session:
            rebuild_index(session)
            session.commit()
    finally:
        engine.dispose()


def sqlite_into_other(src: Path, database_url: str, report: dict) -> None:
    """A SQLite backup into PostgreSQL (moving past one machine): through a logical dump."""
    tmp = Path(tempfile.mkdtemp())
    try:
        logical_dump(f"sqlite:///{src / 'database.sqlite3'}", tmp / "database.jsonl.gz")
        logical_restore(database_url, tmp / "database.jsonl.gz", report.get("schema_revision"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
