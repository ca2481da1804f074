"""`sachnoi serve --processes 2` as a real subprocess: both web processes answer, login and progress
work, the job workers run once (in the job process), an approval queues a job from either web process,
SIGTERM stops everything, and client addresses follow TRUST_PROXY with one or several processes.

Which web process served a connection is read from /proc (the server-side socket of the client's
port belongs to one process), so the site itself exposes no process ids.
"""
from __future__ import annotations

import http.client
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from test_crash_safety import Server, _login

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc (Linux)")


def start_server(home: Path, processes: int, **env: str) -> Server:
    return Server(home, args=("--processes", str(processes)), **env)


def stop_server(server: Server) -> None:
    """kill -9 of the server (first: it would start a killed web process again), then of its
    children, which would follow it within a second anyway."""
    alive = server.proc.poll() is None
    children = web_processes(server.proc.pid) + job_processes(server.proc.pid) if alive else []
    server.kill()
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _children(pid: int) -> list[int]:
    found = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as fh:
            found += [int(x) for x in fh.read().split()]
    return found


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return b""


def web_processes(parent: int) -> list[int]:
    """The parent's children that are web processes (granian forks them: same command line)."""
    return [pid for pid in _children(parent) if _cmdline(pid) == _cmdline(parent)]


def job_processes(parent: int) -> list[int]:
    return [pid for pid in _children(parent) if b"job_process_main" in _cmdline(pid)]


def serving_pid(server_port: int, conn: http.client.HTTPConnection, pids: list[int]) -> int | None:
    """Which of `pids` holds the server side of the (open, keep-alive) connection `conn`."""
    client_port = conn.sock.getsockname()[1]
    inode = None
    with open("/proc/net/tcp") as fh:
        for line in fh.read().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(f":{server_port:04X}") and fields[2].endswith(f":{client_port:04X}"):
                inode = fields[9]
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def _failed_login_key(url: str, forwarded_for: str) -> None:
    http = requests.Session()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', http.get(url + "/login").text).group(1)
    response = http.post(url + "/login", headers={"X-Forwarded-For": forwarded_for},
                         data={"username": "bandoc", "password": "wrong", "csrf_token": token})
    assert response.status_code == 401


def _db(world) -> sqlite3.Connection:
    return sqlite3.connect(world.home / "sachnoi.db", timeout=15)


def _address_keys(world) -> set[str]:
    with _db(world) as conn:
        return {k for (k,) in conn.execute("SELECT key FROM login_attempts WHERE key LIKE 'ip:%'")}


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_two_web_processes_one_worker_pool(world):
    """Several web processes that each start the job workers (jobs then claimed by any of them,
    N pools instead of one), or that do not know the workers run (approval runs the pipeline in
    the request instead of queueing it); and children left behind after SIGTERM."""
    from catalog.db import make_engine, make_sessionmaker
    from studio import jobs
    with _db(world) as conn:  # test-only: a trigger notes the owner (host:pid:…) of every job claim
        conn.executescript("""
            CREATE TABLE claim_log (owner TEXT);
            CREATE TRIGGER log_claims AFTER UPDATE OF lease_owner ON jobs WHEN NEW.lease_owner != ''
            BEGIN INSERT INTO claim_log(owner) VALUES (NEW.lease_owner); END;
        """)
    engine = make_engine(f"sqlite:///{world.home / 'sachnoi.db'}")
    for _ in range(3):  # jobs that fail at once (no book), each claimed once
        jobs.enqueue(make_sessionmaker(engine), "produce", payload={}, max_attempts=1)
    engine.dispose()
    server = start_server(world.home, 2, SACHNOI_WORKERS="1")
    try:
        parent = server.proc.pid
        web, job_process = web_processes(parent), job_processes(parent)
        assert len(web) == 2 and len(job_process) == 1

        # Login and a progress write.
        reader, csrf = _login(server.url, "bandoc")
        book = world.ids["book"]
        r = reader.put(f"{server.url}/api/books/{book}/progress", headers={"X-CSRFToken": csrf},
                     json={"position_s": 7.5, "event_time_ms": int(time.time() * 1000), "seq": 1,
                           "device_id": "multi"})
        assert r.status_code == 200 and r.json()["accepted"], r.text
        with _db(world) as conn:
            assert conn.execute("SELECT position_s FROM progress WHERE user_id = ? AND book_id = ?",
                                (world.ids["reader"], book)).fetchone()[0] == 7.5

        # Both processes answer; an approval in each queues a job (JOB_WORKERS_RUNNING reached both).
        studio, studio_csrf = _login(server.url, "phongthu")
        cookie = "; ".join(f"{c.name}={c.value}" for c in studio.cookies)
        conns, by_pid = [], {}
        # up to 20 s: a web process still starting (importing the app) accepts nothing yet, and the
        # kernel hands every connection to the one that is ready (seen once in CI: 40 in a row to one)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
            conn.request("GET", "/healthz")
            assert conn.getresponse().read()
            conns.append(conn)
            by_pid.setdefault(serving_pid(server.port, conn, web), conn)
            if set(by_pid) >= set(web):
                break
            time.sleep(0.05)
        assert set(by_pid) == set(web), f"connections went to {set(by_pid)}, web processes {web}"
        draft = world.ids["draft"]
        for conn in (by_pid[pid] for pid in web):
            conn.request("POST", f"/studio/books/{draft}/approve", body="",
                         headers={"Cookie": cookie, "X-CSRFToken": studio_csrf,
                                  "Content-Type": "application/x-www-form-urlencoded"})
            response = conn.getresponse()
            response.read()
            assert response.status == 302, response.status
        with _db(world) as conn:
            assert conn.execute("SELECT COUNT(*) FROM jobs WHERE book_id = ? AND kind = 'produce'",
                                (draft,)).fetchone()[0] == 2

        # The job workers run once, in the job process: every claim is owned by its pid.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with _db(world) as conn:
                owners = [o for (o,) in conn.execute("SELECT owner FROM claim_log")]
            if len(owners) >= 3:
                break
            time.sleep(0.3)
        assert len(owners) >= 3, owners
        assert {int(o.split(":")[1]) for o in owners} == set(job_process), owners

        # A job process that dies (the OOM killer during mastering) is started again.
        os.kill(job_process[0], signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not set(job_processes(parent)) - set(job_process):
            time.sleep(0.2)
        restarted = job_processes(parent)
        assert len(restarted) == 1 and restarted[0] != job_process[0], restarted
        job_process = restarted

        # X-Forwarded-For is ignored without TRUST_PROXY.
        _failed_login_key(server.url, "203.0.113.9")
        assert _address_keys(world) == {"ip:127.0.0.1"}

        for conn in conns:
            conn.close()
        os.kill(parent, signal.SIGTERM)
        assert server.proc.wait(timeout=30) == 0
        assert not [pid for pid in web + job_process if Path(f"/proc/{pid}").exists()]
    finally:
        stop_server(server)


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_tus_upload_is_streamed_to_the_app_across_processes(world):
    """Upload chunks spooled by the server before the app sees them (a second full copy on disk,
    and no progress on the server while a slow phone sends): with several processes the app
    writes a PATCH body while it is still arriving, and chunks sent on new connections (to
    either process) continue the same upload to a stored original with the right SHA-256."""
    import base64
    import hashlib
    from security_world import _tone_wav
    audio = _tone_wav(seconds=30.0)  # 2.6 MB: the app reads PATCH bodies in 1 MiB blocks
    server = start_server(world.home, 2)
    try:
        studio, _csrf = _login(server.url, "phongthu")
        cookie = "; ".join(f"{c.name}={c.value}" for c in studio.cookies)
        created = studio.post(server.url + "/api/uploads/", headers={
            "Tus-Resumable": "1.0.0", "Upload-Length": str(len(audio)),
            "Upload-Metadata": "filename " + base64.b64encode(b"take-multi.wav").decode()})
        assert created.status_code == 201, created.text
        path = "/api/uploads/" + created.headers["Location"].rstrip("/").rsplit("/", 1)[1]
        part = world.home / "media" / "tmp" / f"tus-{path.rsplit('/', 1)[1]}.part"
        offset = 0
        for chunk in (audio[:2_000_000], audio[2_000_000:]):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
            conn.putrequest("PATCH", path)
            for name, value in (("Cookie", cookie), ("Tus-Resumable", "1.0.0"), ("Upload-Offset", str(offset)),
                                ("Content-Type", "application/offset+octet-stream"),
                                ("Content-Length", str(len(chunk)))):
                conn.putheader(name, value)
            conn.endheaders()
            first = 1_500_000 if offset == 0 else len(chunk) // 2
            conn.send(chunk[:first])
            if offset == 0:  # the request is not complete yet: the app already has the first bytes
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and not (part.exists() and part.stat().st_size > 0):
                    time.sleep(0.05)
                assert part.exists() and part.stat().st_size > 0, "the body was held back until complete"
            conn.send(chunk[first:])
            response = conn.getresponse()
            response.read()
            assert response.status == 204, response.status
            offset += len(chunk)
            assert response.getheader("Upload-Offset") == str(offset)
            conn.close()
        assert response.getheader("Upload-Sha256") == hashlib.sha256(audio).hexdigest()
        stored = list((world.home / "media" / "originals").rglob(hashlib.sha256(audio).hexdigest() + "*"))
        assert stored and stored[0].read_bytes() == audio
    finally:
        stop_server(server)


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("processes", [1, 2])
def test_trusted_proxy_address_reaches_the_app(world, processes):
    """Behind the proxy TRUST_PROXY names, the client address is the one the proxy puts in
    X-Forwarded-For, with one process (waitress) as with several (granian): a server that drops
    the header first makes every reader the proxy's 127.0.0.1 for the login back-off and for
    on-site access."""
    server = start_server(world.home, processes, SACHNOI_TRUST_PROXY="1")
    try:
        _failed_login_key(server.url, "203.0.113.9")
        assert _address_keys(world) == {"ip:203.0.113.9"}
    finally:
        stop_server(server)


@pytest.mark.parametrize("entry", ["web_process_app", "job_process_main"])
def test_a_child_whose_server_is_gone_exits(tmp_path, entry):
    """A web process left serving the port, or a job process left claiming jobs, after the server
    was killed (kill -9, or killed while it was starting one): each exits by itself once its
    server is not its parent any more."""
    gone = subprocess.Popen(["sleep", "0"])
    gone.wait()
    code = f"import time; from web.serve import {entry}; {entry}(); time.sleep(30)"
    env = {**os.environ, "SACHNOI_HOME": str(tmp_path), "_SACHNOI_SERVE_PID": str(gone.pid)}
    child = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=Path(__file__).resolve().parents[2])
    try:
        assert child.wait(timeout=20) == 1
    finally:
        if child.poll() is None:
            child.kill()
