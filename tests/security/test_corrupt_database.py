"""A corrupted database (issue 14, "Reliability"): every `sachnoi` command that opens it says so in
one sentence with what to do (restore from backup), never a traceback; `/healthz` reports SQLite's
`quick_check`, run when the app starts."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from security_world import SECRET, make_app

SACHNOI = str(Path(sys.executable).with_name("sachnoi"))
# Every command that opens the database, with the arguments it needs (restore is the remedy;
# measure, master and check-config do not open the database).
COMMANDS = [["db", "upgrade"], ["user", "create", "nguoimoi", "--role", "reader"], ["export", "marc"],
            ["import", "marc", "{marc}"], ["catalog", "reindex"], ["fixity"], ["worker"], ["watch"],
            ["ingest", "{session}"], ["backup", "{backup}"], ["serve", "--port", "0"], ["demo"]]


def _garble_header(db: Path) -> None:
    """What a bad disk block or a half-copied file does: the first page no longer says SQLite."""
    with open(db, "r+b") as f:
        f.write(os.urandom(100))


def _garble_pages(db: Path) -> None:
    """Damage inside the file (page 3 onwards), header intact: it opens, and queries fail later."""
    with open(db, "r+b") as f:
        page = int.from_bytes(open(db, "rb").read(18)[16:18], "big") or 65536
        f.seek(page * 2)
        f.write(b"\xff" * page * 4)


@pytest.fixture
def corrupted(world):
    db = world.home / "sachnoi.db"
    with sqlite3.connect(db) as conn:  # fold the WAL in, so the damage is not papered over by it
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return world, db


@pytest.mark.parametrize("damage", [_garble_header, _garble_pages])
def test_every_command_says_the_database_is_corrupted_in_one_sentence(corrupted, tmp_path, damage):
    """Before: a 40-line sqlite3.DatabaseError traceback ("file is not a database", "database disk
    image is malformed") from every command. Now: exit status 1 and one sentence, Vietnamese
    first, that names the file and says to restore from a backup."""
    world, db = corrupted
    damage(db)
    (tmp_path / "session").mkdir()
    (tmp_path / "print.xml").write_text('<record xmlns="http://www.loc.gov/MARC21/slim"/>')
    env = {**os.environ, "SACHNOI_HOME": str(world.home), "SACHNOI_SECRET_KEY": SECRET,
           "SACHNOI_INBOX": str(tmp_path / "inbox"), "SACHNOI_PASSWORD": "mat-khau-moi-12"}
    names = {"marc": str(tmp_path / "print.xml"), "session": str(tmp_path / "session"),
             "backup": str(tmp_path / "backup")}
    for command in COMMANDS:
        argv = [SACHNOI, *(part.format(**names) for part in command)]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        output = done.stdout + done.stderr
        assert done.returncode == 1, (command, done.returncode, output[-2000:])
        assert "Traceback" not in output, (command, output[-2000:])
        assert "Cơ sở dữ liệu bị hỏng" in output and "backup" in output and str(db) in output, (command, output)


@pytest.mark.parametrize("damage", [_garble_header, _garble_pages])
def test_healthz_reports_quick_check_from_start(corrupted, damage):
    """/healthz said "ok" over a damaged file as long as `SELECT 1` worked. Now the app runs
    `PRAGMA quick_check` when it starts, and /healthz answers 503 with its findings."""
    world, db = corrupted
    healthy = make_app(world).test_client().get("/healthz")
    assert healthy.status_code == 200 and healthy.get_json()["quick_check"] == "ok"
    damage(db)
    response = make_app(world).test_client().get("/healthz")
    body = response.get_json()
    assert response.status_code == 503 and body["status"] == "error", body
    assert body["quick_check"] != "ok" and "Cơ sở dữ liệu bị hỏng" in body["message"]


def test_healthz_reports_low_disk(world):
    """Disk full during a job went unnoticed on /healthz. Free space below DISK_LOW_MB (here set
    above what this machine has, as on a nearly full disk) is reported as "low", status degraded."""
    free_mb = shutil.disk_usage(world.home).free / 1e6
    body = make_app(world, DISK_LOW_MB=free_mb * 10).test_client().get("/healthz").get_json()
    assert body["disk"] == "low" and body["status"] == "degraded" and body["disk_free_mb"]["media"] > 0
    body = make_app(world, DISK_LOW_MB=1).test_client().get("/healthz").get_json()
    assert "disk" not in body and body["status"] == "ok"
