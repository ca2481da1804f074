"""Backup and restore drill: back up while writers run, restore onto an empty instance, compare."""
from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import func, select

from catalog.backup import BackupError, backup, restore
from catalog.backup_database import integrity_check, row_counts
from catalog.db import make_engine, make_sessionmaker
from catalog.migrate import upgrade
from catalog.models import Bookmark
from recordings.store import sha256_file
from security_world import World


def _writer(url: str, user_id: int, book_id: int, stop: threading.Event, acked: list) -> None:
    sessions = make_sessionmaker(make_engine(url))
    i = 0
    while not stop.is_set():
        i += 1
        with sessions.begin() as s:
            s.add(Bookmark(user_id=user_id, book_id=book_id, position_s=float(i), title=f"b{i}"))
        acked.append(i)


def test_restore_drill_with_writes_during_the_backup(world: World, tmp_path):
    """SQLite copied live (a peer's backup copied the .db file while the WAL held recent pages):
    the backup must be one consistent snapshot that passes integrity_check, and restore must give
    back the same rows and the same media bytes."""
    url = f"sqlite:///{world.home / 'sachnoi.db'}"
    media = world.home / "media"
    (media / "derived" / "books" / "big").mkdir(parents=True)
    (media / "derived" / "books" / "big" / "blob.bin").write_bytes(bytes(range(256)) * 8192)  # 2 MiB
    stop, acked = threading.Event(), []
    thread = threading.Thread(target=_writer, args=(url, world.ids["reader"], world.ids["book"], stop, acked))
    thread.start()
    try:
        time.sleep(0.3)
        before = len(acked)
        report = backup(url, media, tmp_path / "backup")
        during = len(acked) - before
    finally:
        stop.set()
        thread.join()
    assert during > 0 or before > 0, "the writer never ran"
    assert report.integrity == "ok"
    assert integrity_check(tmp_path / "backup" / "database.sqlite3") == "ok"
    assert not (tmp_path / "backup.partial").exists()
    snapshot_bookmarks = report.row_counts["bookmarks"]
    assert 1 <= snapshot_bookmarks <= 1 + len(acked)

    target = tmp_path / "restored"
    target_url = f"sqlite:///{target / 'sachnoi.db'}"
    target.mkdir()
    restore(tmp_path / "backup", target_url, target / "media")
    assert integrity_check(target / "sachnoi.db") == "ok"
    assert row_counts(target_url) == report.row_counts
    manifest = json.loads((tmp_path / "backup" / "media-manifest.json").read_text())["files"]
    assert {e["path"] for e in manifest} >= {"derived/books/big/blob.bin"}
    for entry in manifest:
        assert sha256_file(target / "media" / entry["path"]) == entry["sha256"] == \
            sha256_file(media / entry["path"])
    # the restored instance works: migrations see it as current, rows read back
    upgrade(target_url)
    with make_sessionmaker(make_engine(target_url))() as s:
        assert s.scalar(select(func.count(Bookmark.id))) == snapshot_bookmarks


def test_restore_refuses_a_non_empty_instance_and_a_tampered_backup(world: World, tmp_path):
    url = f"sqlite:///{world.home / 'sachnoi.db'}"
    backup(url, world.home / "media", tmp_path / "b")
    with pytest.raises(BackupError):
        restore(tmp_path / "b", url, world.home / "media")  # onto itself: not empty
    with pytest.raises(BackupError):
        backup(url, world.home / "media", tmp_path / "b")  # destination exists and is not empty
    entry = json.loads((tmp_path / "b" / "media-manifest.json").read_text())["files"][0]
    (tmp_path / "b" / "media" / entry["path"]).write_bytes(b"tampered")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BackupError):
        restore(tmp_path / "b", f"sqlite:///{empty / 'sachnoi.db'}", empty / "media")
    assert not (empty / "sachnoi.db").exists()


def test_logical_dump_round_trip(world: World, tmp_path):
    url = f"sqlite:///{world.home / 'sachnoi.db'}"
    report = backup(url, None, tmp_path / "b", method="logical")
    target = tmp_path / "r"
    target.mkdir()
    restore(tmp_path / "b", f"sqlite:///{target / 'sachnoi.db'}", target / "media")
    assert row_counts(f"sqlite:///{target / 'sachnoi.db'}") == report.row_counts


@pytest.mark.postgres
def test_pg_dump_drill(pg_url, tmp_path):
    import psycopg
    from catalog.accounts import create_user, get_or_create_library
    upgrade(pg_url)
    sessions = make_sessionmaker(make_engine(pg_url))
    with sessions.begin() as s:
        lib = get_or_create_library(s, "THV", "Thư viện tỉnh")
        create_user(s, "bandoc", "mat-khau-bandoc", library=lib)
    report = backup(pg_url, None, tmp_path / "b")
    assert report.method in ("pg_dump", "logical") and report.row_counts["users"] == 1
    # an empty instance with the same schema name: drop everything, then restore
    schema = pg_url.split("search_path%3D")[1]
    with psycopg.connect(pg_url.split("?")[0].replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema}"')
    restore(tmp_path / "b", pg_url, tmp_path / "media")
    assert row_counts(pg_url) == report.row_counts
