"""A real S3 server for the tests: Ceph's RADOS Gateway from Debian's packages, on loopback.

One monitor, one OSD on `memstore` (objects in RAM, nothing on disk but logs and the monitor's
small database) and radosgw with the beast frontend, all started by us in the foreground as
children of this process, bounded in time, and stopped by pid. Cephx is off; radosgw then needs
`ms mon client mode = crc secure` or it loops on an authentication error with the monitor.
S3 authentication is RGW's own (a user with an access key made by `radosgw-admin`), so tampered
and expired signatures are refused as on any S3 service — which moto and s3rver do not do.

Packages: ceph-mon ceph-osd radosgw ceph-common (the Makefile's APT_PACKAGES installs them).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

BINARIES = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph", "ceph-authtool", "monmaptool")
ACCESS_KEY, SECRET_KEY = "sachnoi-test", "sachnoi-test-secret-" + "0" * 20
START_TIMEOUT_S = 120.0


class RGWUnavailable(RuntimeError):
    """Ceph is not installed or would not start; the message says which step failed."""


@dataclass
class RGW:
    endpoint: str                       # http://127.0.0.1:<port>
    access_key: str
    secret_key: str
    workdir: Path
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def env(self) -> dict[str, str]:
        """The standard AWS variables a client of this server needs."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}

    def stop(self) -> None:
        """SIGTERM every daemon we started (radosgw first), then SIGKILL what is left after 10 s."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in reversed(self.procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.procs.clear()


def missing_binaries() -> list[str]:
    return [name for name in BINARIES if shutil.which(name) is None]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _conf(workdir: Path, fsid: str, mon_port: int, rgw_port: int) -> str:
    w = workdir
    return f"""[global]
fsid = {fsid}
mon host = v2:127.0.0.1:{mon_port}
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc secure
osd pool default size = 1
osd pool default min size = 1
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
run dir = {w}/run
admin socket = {w}/run/$name.asok
log file = {w}/log/$name.log
osd objectstore = memstore
memstore device bytes = {8 << 30}
osd data = {w}/osd/$cluster-$id
mon data = {w}/mon/$cluster-$id
keyring = {w}/keyring
[client.rgw.t]
rgw frontends = beast endpoint=127.0.0.1:{rgw_port}
rgw data = {w}/rgw
"""


def _run(args: list[str], workdir: Path, timeout_s: float = 30.0) -> str:
    try:
        done = subprocess.run(args, cwd=workdir, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise RGWUnavailable(f"{args[0]} did not finish in {timeout_s:.0f} s") from exc
    if done.returncode != 0:
        raise RGWUnavailable(f"{' '.join(args[:3])} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return done.stdout.strip()


def _wait(check, what: str, deadline: float, procs: list[subprocess.Popen], workdir: Path) -> None:
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise RGWUnavailable(f"{proc.args[0]} exited ({proc.returncode}) while waiting for {what}; "
                                     f"logs in {workdir}/log")
        if check():
            return
        time.sleep(0.25)
    raise RGWUnavailable(f"timed out waiting for {what}; logs in {workdir}/log")


def start_rgw(workdir: str | os.PathLike, timeout_s: float = START_TIMEOUT_S) -> RGW:
    """Start a monitor, a memstore OSD and radosgw under `workdir`; return once S3 answers.

    Raises RGWUnavailable (with everything started so far stopped) when a binary is missing or a
    step fails or takes longer than `timeout_s` in all."""
    missing = missing_binaries()
    if missing:
        raise RGWUnavailable(f"Ceph is not installed (missing {', '.join(missing)}; `make install` adds "
                             f"ceph-mon ceph-osd radosgw ceph-common)")
    w = Path(workdir).resolve()
    for sub in ("run", "log", "mon", "osd", "rgw"):
        (w / sub).mkdir(parents=True, exist_ok=True)
    fsid, mon_port, rgw_port = str(uuid.uuid4()), free_port(), free_port()
    conf = w / "ceph.conf"
    conf.write_text(_conf(w, fsid, mon_port, rgw_port))
    c = ["-c", str(conf)]
    deadline = time.monotonic() + timeout_s
    server = RGW(f"http://127.0.0.1:{rgw_port}", ACCESS_KEY, SECRET_KEY, w)
    try:
        _run(["ceph-authtool", "--create-keyring", str(w / "keyring"), "--gen-key", "-n", "mon.",
              "--cap", "mon", "allow *"], w)
        _run(["monmaptool", "--create", "--addv", "a", f"[v2:127.0.0.1:{mon_port}]", "--fsid", fsid,
              str(w / "monmap")], w)
        _run(["ceph-mon", *c, "--mkfs", "-i", "a", "--monmap", str(w / "monmap")], w)
        server.procs.append(_daemon(["ceph-mon", *c, "-f", "-i", "a"], w, "mon"))
        osd_uuid = str(uuid.uuid4())
        osd_id = _run(["ceph", *c, "--connect-timeout", "20", "osd", "new", osd_uuid], w)
        (w / "osd" / f"ceph-{osd_id}").mkdir(exist_ok=True)
        _run(["ceph-osd", *c, "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid], w)
        server.procs.append(_daemon(["ceph-osd", *c, "-f", "-i", osd_id], w, "osd"))
        server.procs.append(_daemon(["radosgw", *c, "-f", "-n", "client.rgw.t"], w, "rgw"))
        _wait(lambda: _answers(server.endpoint), "radosgw to answer", deadline, server.procs, w)
        _run(["radosgw-admin", *c, "-n", "client.rgw.t", "user", "create", "--uid=sachnoi",
              "--display-name=sachnoi tests", f"--access-key={ACCESS_KEY}", f"--secret-key={SECRET_KEY}"], w)
    except BaseException:
        server.stop()
        raise
    return server


def _daemon(args: list[str], workdir: Path, name: str) -> subprocess.Popen:
    out = open(workdir / "log" / f"{name}.stdout", "ab")  # noqa: SIM115 - the child keeps it open
    # a new session: a ^C in the terminal stops pytest, which stops us; the daemons are not in its group
    return subprocess.Popen(args, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(endpoint + "/", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def new_bucket(server: RGW, prefix: str = "sachnoi") -> str:
    """Create an empty bucket with a fresh name (S3 names: 3–63 lowercase letters, digits, hyphens)."""
    import boto3  # only the S3 tests need boto3; this module is imported by every conftest
    name = f"{prefix}-{uuid.uuid4().hex[:16]}"
    client = boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=server.access_key,
                          aws_secret_access_key=server.secret_key, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    return name
