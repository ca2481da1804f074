"""A worker or a command pointed at a broker or object store that is down says so in one sentence
and exits 1: no traceback, no retry loop that looks like a running worker, no password echoed."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SACHNOI = str(Path(sys.executable).with_name("sachnoi"))


def run(tmp_path, *args, **env):
    full = {**os.environ, "SACHNOI_HOME": str(tmp_path / "home"), **env}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        full.setdefault(name, "test")
    return subprocess.run([SACHNOI, *args], env=full, capture_output=True, text=True, timeout=120)


def test_worker_with_the_broker_down_says_so_and_exits(tmp_path):
    done = run(tmp_path, "worker", "--exit-when-idle",
               SACHNOI_BROKER_URL="amqp://sachnoi:mat-khau-bi-mat@127.0.0.1:1/%2F")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Không kết nối được tới máy chủ hàng đợi 127.0.0.1:1" in output
    assert "Cannot connect to the message broker" in output
    assert "Traceback" not in output and "mat-khau-bi-mat" not in output


@pytest.mark.parametrize("command", [["fixity"], ["backup", "{dest}"]])
def test_commands_with_the_object_store_down_say_so_and_exit(tmp_path, command):
    args = [part.format(dest=tmp_path / "backup") for part in command]
    assert run(tmp_path, "db", "upgrade").returncode == 0
    done = run(tmp_path, *args, SACHNOI_MEDIA_URL="s3://sachnoi-media",
               SACHNOI_S3_ENDPOINT_URL="http://127.0.0.1:1")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output, output[-2000:]
    assert "kho đối tượng" in output and "object store" in output, output[-2000:]
    assert not (tmp_path / "backup").exists()  # no half-written backup left behind
