"""Slowloris against `sachnoi serve` (one process, waitress with web/serve.py's guards), loopback only.

N sockets from 127.0.0.2 each send the first byte of a request line, then one more byte every
10 s; meanwhile /healthz is asked from 127.0.0.1 once a second for `--duration` seconds (5 s
timeout). Prints how many answered and their median and worst latency.

    .venv/bin/python benchmarks/bench_slowloris.py --sockets 950 [--duration 40] [SACHNOI_X=value ...]

`SACHNOI_WEB_CONNECTIONS_PER_ADDRESS=0 SACHNOI_HEADER_TIMEOUT_S=100000` turns the guards off
(the server as it was before them). Needs `ulimit -n` above the socket count.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockets", type=int, default=950)
    parser.add_argument("--duration", type=float, default=40.0)
    parser.add_argument("settings", nargs="*", help="SACHNOI_KEY=value for the server")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="sachnoi-slowloris-")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "SACHNOI_HOME": home, "SACHNOI_SECRET_KEY": "bench-" + "k" * 40,
           "SACHNOI_RUN_WORKERS": "false", **dict(s.split("=", 1) for s in args.settings)}
    server = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "sachnoi"), "serve", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url)
        attack = _open_slow_sockets(port, args.sockets)
        stop = threading.Event()
        threading.Thread(target=_drip, args=(attack, stop), daemon=True).start()
        latencies, timeouts = _ask_healthz(url, args.duration)
        stop.set()
    finally:
        server.kill()
        server.wait()
    median = f"{statistics.median(latencies) * 1000:.1f} ms" if latencies else "-"
    worst = f"{max(latencies) * 1000:.1f} ms" if latencies else "-"
    print(f"sockets={args.sockets} settings={args.settings or 'defaults'} answered={len(latencies)} "
          f"timed_out={timeouts} median={median} worst={worst}")


def _wait_ready(url: str) -> None:
    for _ in range(200):
        try:
            requests.get(url + "/healthz", timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.3)
    raise SystemExit("sachnoi serve did not start")


def _open_slow_sockets(port: int, n: int) -> list[socket.socket]:
    out = []
    for _ in range(n):
        sock = socket.socket()
        sock.settimeout(2)
        try:
            sock.bind(("127.0.0.2", 0))
            sock.connect(("127.0.0.1", port))
            sock.send(b"G")
            out.append(sock)
        except OSError:
            sock.close()
    return out


def _drip(sockets: list[socket.socket], stop: threading.Event) -> None:
    while not stop.wait(10):
        for sock in sockets:
            try:
                sock.send(b"E")
            except OSError:
                pass


def _ask_healthz(url: str, duration_s: float) -> tuple[list[float], int]:
    latencies, timeouts = [], 0
    started = time.monotonic()
    while time.monotonic() - started < duration_s:
        before = time.monotonic()
        try:
            requests.get(url + "/healthz", timeout=5).raise_for_status()
            latencies.append(time.monotonic() - before)
        except requests.RequestException:
            timeouts += 1
        time.sleep(1)
    return latencies, timeouts


if __name__ == "__main__":
    main()
