"""Worker "machines" for the multi-node test and the scale-out benchmark.

A machine is a `sachnoi worker` (or `sachnoi serve`) process with a HOME and media cache of its
own, in a network namespace of its own when the kernel lets us make one (`ip netns`, root): a veth
pair joins it to the host, where a forwarder of ours relays its connections to the services
(PostgreSQL, RabbitMQ, the S3 gateway listen on 127.0.0.1 only) and counts the bytes each machine
moved. Without namespaces the machines are separate processes on the host, each given a loopback
address of its own (127.0.0.2, 127.0.0.3 ...) where the forwarder listens, so the bytes are counted
the same way.

Killing a machine is `kill -9` of its whole process group (the worker and its ffmpeg children),
as when a machine loses power. Every event goes on one `Timeline`, in seconds from its start.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import random
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
SACHNOI = str(Path(sys.executable).with_name("sachnoi"))
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".m4a", ".m4b", ".m4s", ".aac", ".mp4", ".ts", ".audiobook", ".ogg")


# -- the timeline --------------------------------------------------------------------------------------
class Timeline:
    """Events in seconds since the timeline started (monotonic clock)."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.events: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 2)

    def mark(self, text: str) -> float:
        at = self.now()
        with self._lock:
            self.events.append((at, text))
        return at

    def first(self, prefix: str) -> float | None:
        return next((t for t, text in self.events if text.startswith(prefix)), None)

    def render(self, title: str = "timeline") -> str:
        lines = [f"{title} (s since start):"]
        lines += [f"  {t:8.2f}  {text}" for t, text in sorted(self.events)]
        return "\n".join(lines)


# -- a byte-counting TCP forwarder ---------------------------------------------------------------------
class Forwarder:
    """Relays TCP from (listen_host, port) to (127.0.0.1, port) for each service port, in one thread.

    Counts bytes per listening address and direction: `up` towards the service, `down` from it.
    Written by hand (selectors, ~60 lines): socat would not count per machine, and a proxy library
    would be one more dependency for the test alone."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.counts: dict[tuple[str, int], dict[str, int]] = {}
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self.selector.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._pending: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="forwarder", daemon=True)
        self.thread.start()

    def listen(self, host: str, port: int) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((host, port))
        server.listen(64)
        server.setblocking(False)
        with self._lock:
            self.counts[(host, port)] = {"up": 0, "down": 0}
        self.selector.register(server, selectors.EVENT_READ, ("accept", (host, port)))
        self._wake_w.send(b"x")

    def bytes_for(self, host: str) -> dict[int, dict[str, int]]:
        with self._lock:
            return {port: dict(c) for (h, port), c in self.counts.items() if h == host}

    def close(self) -> None:
        self._stop.set()
        self._wake_w.send(b"x")
        self.thread.join(timeout=5)
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self.selector.close()
        self._wake_w.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self.selector.select(timeout=0.5):
                what, data = key.data
                if what == "wake":
                    self._wake_r.recv(4096)
                elif what == "accept":
                    self._accept(key.fileobj, data)  # type: ignore[arg-type]
                else:
                    self._pump(key.fileobj, *data)  # type: ignore[arg-type]

    def _accept(self, server: socket.socket, address: tuple[str, int]) -> None:
        try:
            client, _ = server.accept()
        except BlockingIOError:
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", address[1]), timeout=5)
        except OSError:
            client.close()
            return
        for sock in (client, upstream):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.selector.register(client, selectors.EVENT_READ, ("pump", (upstream, address, "up")))
        self.selector.register(upstream, selectors.EVENT_READ, ("pump", (client, address, "down")))

    def _pump(self, source: socket.socket, target: socket.socket, address: tuple[str, int], direction: str) -> None:
        try:
            data = source.recv(262144)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            try:
                target.setblocking(True)  # a short blocking send keeps this relay simple and ordered
                target.sendall(data)
                target.setblocking(False)
                with self._lock:
                    self.counts[address][direction] += len(data)
                return
            except OSError:
                pass
        for sock in (source, target):
            try:
                self.selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()


# -- network namespaces --------------------------------------------------------------------------------
def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)


def netns_available() -> tuple[bool, str]:
    """Whether this process may make network namespaces (root, `ip netns`); and why not."""
    if shutil.which("ip") is None:
        return False, "no `ip` command (iproute2)"
    name = f"snprobe{os.getpid() % 100000}"
    made = _ip("netns", "add", name)
    if made.returncode:
        return False, f"`ip netns add` failed: {made.stderr.strip()}"
    _ip("netns", "del", name)
    return True, ""


@dataclass
class NetNS:
    """One namespace joined to the host by a veth pair: host side `host_ip`, namespace side `ns_ip`."""
    name: str
    host_ip: str
    ns_ip: str
    host_if: str

    @classmethod
    def create(cls, tag: str) -> NetNS:
        for _ in range(20):
            a, b = random.randrange(0, 256), random.randrange(0, 64) * 4
            suffix = uuid.uuid4().hex[:6]
            ns = cls(name=f"sn-{tag}-{suffix}", host_ip=f"10.231.{a}.{b + 1}", ns_ip=f"10.231.{a}.{b + 2}",
                     host_if=f"snh{suffix}")
            peer = f"snn{suffix}"
            steps = [("netns", "add", ns.name),
                     ("link", "add", ns.host_if, "type", "veth", "peer", "name", peer),
                     ("link", "set", peer, "netns", ns.name),
                     ("addr", "add", f"{ns.host_ip}/30", "dev", ns.host_if),
                     ("link", "set", ns.host_if, "up"),
                     ("-n", ns.name, "addr", "add", f"{ns.ns_ip}/30", "dev", peer),
                     ("-n", ns.name, "link", "set", peer, "up"),
                     ("-n", ns.name, "link", "set", "lo", "up")]
            for step in steps:
                done = _ip(*step)
                if done.returncode:
                    ns.delete()
                    if "exists" in done.stderr:
                        break  # address or name taken by another run: try another
                    raise RuntimeError(f"ip {' '.join(step)}: {done.stderr.strip()}")
            else:
                return ns
        raise RuntimeError("no free address for a veth pair")

    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def delete(self) -> None:
        _ip("netns", "del", self.name)
        _ip("link", "del", self.host_if)  # gone with the namespace normally


# -- services ------------------------------------------------------------------------------------------
def fresh_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    """CREATE DATABASE on the PostgreSQL server of `admin_url`; returns its URL and a drop function."""
    import psycopg
    base = admin_url.replace("postgresql+psycopg", "postgresql").split("?")[0]
    name = "sn_multinode_" + uuid.uuid4().hex[:10]
    with psycopg.connect(base, connect_timeout=3, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(base)
    url = urlunsplit(parts._replace(path="/" + name))

    def drop() -> None:
        with psycopg.connect(base, connect_timeout=3, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return url, drop


def rabbitmq_vhost(amqp_base: str = "amqp://guest:guest@127.0.0.1:5672") -> tuple[str, Callable[[], None]]:
    """A fresh RabbitMQ vhost (no message of an earlier run can reach this run's workers)."""
    vhost = "sn-" + uuid.uuid4().hex[:10]
    for args in (["add_vhost", vhost], ["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"]):
        subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)

    def drop() -> None:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True, timeout=60)
    return f"{amqp_base}/{vhost}", drop


def port_open(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- machines ------------------------------------------------------------------------------------------
URL_SETTINGS = ("SACHNOI_DATABASE_URL", "SACHNOI_BROKER_URL", "SACHNOI_S3_ENDPOINT_URL")


def _rehost(url: str, host: str) -> str:
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        return url
    netloc = parts.netloc.rsplit("@", 1)
    hostport = netloc[-1].replace(parts.hostname, host, 1)
    return urlunsplit(parts._replace(netloc="@".join([*netloc[:-1], hostport])))


def _service_ports(env: dict[str, str]) -> list[int]:
    ports = []
    for name in URL_SETTINGS:
        if env.get(name):
            parts = urlsplit(env[name])
            default = {"postgresql": 5432, "amqp": 5672, "http": 80, "https": 443}.get(parts.scheme.split("+")[0])
            port = parts.port or default
            if port:
                ports.append(port)
    return ports


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the test process dies, and a process group of its own."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class Machine:
    """A worker or app "machine": its own folder (HOME, media cache), optionally its own namespace."""
    name: str
    root: Path
    env: dict[str, str]
    forwarder: Forwarder
    netns: NetNS | None = None
    loopback: str = "127.0.0.1"  # without a namespace: the machine's own 127.x address
    proc: subprocess.Popen | None = None
    cpu_s: float | None = None
    exit_status: int | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        (self.root / "home").mkdir(parents=True, exist_ok=True)
        (self.root / "cache").mkdir(parents=True, exist_ok=True)
        self.log_path = self.root / "log.txt"
        # the machine reaches the services through the forwarder, on its veth address (or loopback)
        listen = self.address
        env = {**self.env, "SACHNOI_HOME": str(self.root / "home"), "SACHNOI_MEDIA_CACHE_DIR": str(self.root / "cache"),
               "HOME": str(self.root / "home")}
        for port in _service_ports(env):
            self.forwarder.listen(listen, port)
        for name in URL_SETTINGS:
            if env.get(name):
                env[name] = _rehost(env[name], listen)
        self.env = env

    @property
    def address(self) -> str:
        """Where this machine finds the services (the forwarder's side of its link)."""
        return self.netns.host_ip if self.netns else self.loopback

    def start(self, args: list[str]) -> subprocess.Popen:
        command = [*(self.netns.prefix() if self.netns else []), SACHNOI, *args]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=_die_with_parent, cwd=self.root)
        log.close()
        return self.proc

    def run(self, args: list[str], timeout: float = 300.0) -> subprocess.CompletedProcess:
        """A command of this machine in the foreground (e.g. `sachnoi ingest`), its output captured."""
        command = [*(self.netns.prefix() if self.netns else []), SACHNOI, *args]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=timeout,
                              cwd=self.root)

    @property
    def ip(self) -> str:
        """The machine's own address (where its servers listen)."""
        return self.netns.ns_ip if self.netns else "127.0.0.1"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        """Running (checked without reaping it, so that `_reap` can still read its CPU time)."""
        if self.proc is None or self.proc.returncode is not None:
            return False
        try:
            return os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        except ChildProcessError:
            return False

    def pids(self) -> list[int]:
        """The machine's process and every process below it."""
        if not self.alive():
            return []
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from procstat import descendants
        return [self.pid, *descendants(self.pid)]

    def kill9(self) -> None:
        """Power loss: SIGKILL to the whole process group (the worker and its ffmpeg children)."""
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._reap()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a worker finishes or gives back its message), SIGKILL after `timeout`."""
        if self.proc is None or self.cpu_s is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        """Wait for the process with wait4: its own CPU and that of the children it waited for."""
        assert self.proc is not None
        if self.cpu_s is not None:
            return
        if self.proc.returncode is None:
            try:
                _, status, usage = os.wait4(self.proc.pid, 0)
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                self.cpu_s = usage.ru_utime + usage.ru_stime
            except ChildProcessError:  # reaped elsewhere (Popen.poll): no usage to read
                self.cpu_s = float("nan")
        else:
            self.cpu_s = float("nan")
        self.exit_status = self.proc.returncode

    def store_bytes(self, s3_port: int | None) -> dict[str, int]:
        counts = self.forwarder.bytes_for(self.address).get(s3_port or -1, {"up": 0, "down": 0})
        return counts

    def open_files(self) -> list[str]:
        """Regular files the machine's processes hold open right now (from /proc/<pid>/fd)."""
        found = []
        for pid in self.pids():
            try:
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    try:
                        target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    except OSError:
                        continue
                    if target.startswith("/"):
                        found.append(target)
            except OSError:
                continue
        return found

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Cluster:
    """The machines of one run, their namespaces and the forwarder; `close()` stops and removes all."""

    def __init__(self, workdir: Path, env: dict[str, str], *, use_netns: bool | None = None) -> None:
        self.workdir = workdir
        self.env = env
        if use_netns is None:
            use_netns, self.netns_reason = netns_available()
        else:
            self.netns_reason = "" if use_netns else "namespaces not asked for"
        self.use_netns = use_netns
        self.forwarder = Forwarder()
        self.machines: list[Machine] = []
        self.timeline = Timeline()
        self._count = 0

    @property
    def mode(self) -> str:
        return ("separate network namespaces (ip netns + veth)" if self.use_netns
                else f"separate processes on the host ({self.netns_reason})")

    def machine(self, role: str, *, own_netns: bool = True) -> Machine:
        self._count += 1
        name = f"{role}{self._count}"
        netns = NetNS.create(f"{self._count}") if (self.use_netns and own_netns) else None
        machine = Machine(name=name, root=self.workdir / name, env=dict(self.env), forwarder=self.forwarder,
                          netns=netns, loopback=f"127.0.{os.getpid() % 250 + 1}.{self._count + 1}")
        self.machines.append(machine)
        return machine

    def close(self) -> None:
        for machine in self.machines:
            if machine.alive():
                machine.stop(timeout=10)
        for machine in self.machines:
            if machine.netns:
                machine.netns.delete()
        self.forwarder.close()


# -- the session and the outputs -----------------------------------------------------------------------
def write_session(folder: Path, chapter_s: float, chapters: int = 4, takes: int = 2,
                  title: str = "Thử nhiều máy") -> Path:
    """A session folder of `takes` takes (44.1 kHz 24-bit WAV): `chapters` chapters of `chapter_s` seconds
    of the mastering benchmark's synthetic narration, each followed by 2.5 s of room tone (−70 dBFS),
    where the mark stage splits them (the narration's own pauses keep its −48 dBFS hum)."""
    import numpy as np
    import soundfile as sf
    sys.path.insert(0, str(ROOT / "benchmarks"))
    sys.path.insert(0, str(ROOT / "tests" / "studio"))
    from bench_mastering import RATE, narration
    from studio_helpers import room
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(1, takes + 1):
        count = chapters // takes + (1 if n <= chapters % takes else 0)
        parts = [room(0.6, RATE, seed=n)]
        for c in range(count):
            parts += [narration(chapter_s, seed=100 * n + c), room(2.5, RATE, seed=100 * n + c)]
        sf.write(str(folder / f"take-{n:02d}.wav"), np.concatenate(parts), RATE, subtype="PCM_24")
    (folder / "session.toml").write_text(
        f'[book]\ntitle = "{title}"\naccess_policy = "public"\n[chapters]\nmin_chapter_s = 4\n', encoding="utf-8")
    return folder


UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
VERSION_RE = re.compile(r"/v/[0-9a-f]{8,64}/")  # a published version's prefix (derived/books/<uuid>/v/<version>/)


def _blind(text: str) -> str:
    return VERSION_RE.sub("/v/V/", UUID_RE.sub("B", text))


def normalized_sha256(key: str, data: bytes) -> str:
    """SHA-256 of an output, blind to what two productions of one session may differ in: the
    book's UUID and its published version's name (in keys, playlists and the manifest) and the
    manifest's `modified` time."""
    if key.endswith("manifest.json"):
        manifest = json.loads(data)
        manifest.get("metadata", {}).pop("modified", None)
        data = _blind(json.dumps(manifest, sort_keys=True)).encode()
    elif key.endswith(".m3u8"):
        data = _blind(data.decode("utf-8")).encode()
    elif key.endswith(".audiobook"):
        import io
        import zipfile
        with zipfile.ZipFile(io.BytesIO(data)) as bundle:
            data = json.dumps({name: normalized_sha256(name, bundle.read(name))
                               for name in sorted(bundle.namelist())}).encode()
    return hashlib.sha256(data).hexdigest()


def normalize_key(key: str) -> str:
    return _blind(key)


def local_outputs(media_root: Path) -> dict[str, str]:
    """{normalized key: normalized SHA-256} of every file under a local media root."""
    return {normalize_key(p.relative_to(media_root).as_posix()): normalized_sha256(p.name, p.read_bytes())
            for p in sorted(media_root.rglob("*")) if p.is_file() and ".tmp" not in p.name}
