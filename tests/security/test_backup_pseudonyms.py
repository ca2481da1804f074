"""Backups keep statistics continuous (issue 14, "Reliability"): listener pseudonyms are an HMAC
under a key that lived only in the old instance (its SECRET_KEY), so a restore onto new hardware
counted every returning reader as a new listener. The backup now carries the key, marked secret."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from catalog.db import make_engine, make_sessionmaker
from catalog.models import ListeningEvent
from security_world import SECRET, login_as, make_app

SACHNOI = str(Path(sys.executable).with_name("sachnoi"))
NEW_SECRET = "a-different-instance-" + "z" * 40


def _listen(app, world, seq: int) -> None:
    client = app.test_client()
    login_as(client, world, "reader")
    csrf = client.get("/").get_data(as_text=True).split('name="csrf-token" content="')[1].split('"')[0]
    response = client.put(f"/api/books/{world.ids['book']}/progress", headers={"X-CSRFToken": csrf},
                          json={"position_s": 2.0 + seq, "event_time_ms": 1_800_000_000_000 + seq, "seq": seq,
                                "device_id": "pseudonym-test", "listened_s": 1})
    assert response.status_code == 200, response.get_data(as_text=True)


def _listeners(home: Path) -> set[str]:
    sessions = make_sessionmaker(make_engine(f"sqlite:///{home / 'sachnoi.db'}"))
    with sessions() as s:
        return set(s.scalars(select(ListeningEvent.listener)))


def _sachnoi(home: Path, secret: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SACHNOI_HOME": str(home), "SACHNOI_SECRET_KEY": secret}
    done = subprocess.run([SACHNOI, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_listener_pseudonyms_continue_after_restore_onto_a_new_instance(world, tmp_path):
    """Listen, back up with `sachnoi backup`, restore with `sachnoi restore` onto a new instance
    with another SECRET_KEY, listen again: the reader keeps one pseudonym. The key file in the
    backup is readable by its owner only and named and described as secret."""
    _listen(make_app(world), world, seq=1)
    (before,) = _listeners(world.home)
    done = _sachnoi(world.home, SECRET, "backup", str(tmp_path / "backup"), "--quiet")
    assert "BÍ MẬT" in done.stderr and "SECRET" in done.stderr
    key_file = tmp_path / "backup" / "SECRET-listener-key.txt"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "SECRET" in json.loads((tmp_path / "backup" / "backup.json").read_text())["secrets"][key_file.name]
    new_home = tmp_path / "new-instance"
    _sachnoi(new_home, NEW_SECRET, "restore", str(tmp_path / "backup"), "--quiet")
    assert stat.S_IMODE((new_home / "listener_key").stat().st_mode) == 0o600
    restored = type(world)(new_home, dict(world.ids))
    _listen(make_app(restored, SECRET_KEY=NEW_SECRET), restored, seq=2)
    assert _listeners(new_home) == {before}


def test_without_the_key_pseudonyms_would_change(world, tmp_path):
    """The control: the same reader under another key gets another pseudonym, so the test above
    measures the key's journey and not a constant."""
    _listen(make_app(world), world, seq=1)
    _listen(make_app(world, SECRET_KEY=NEW_SECRET), world, seq=2)
    assert len(_listeners(world.home)) == 2
