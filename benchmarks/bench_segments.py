"""Segment delivery benchmark: HLS segment requests/s and latency in every media serve mode.

On loopback, in a temporary instance with one published public title (64 kbps AAC fMP4, 6 s
segments of ~45 kB), one media token, bounded in time (`--seconds` per mode, default 8):

    direct        the app (waitress, 8 threads) checks the token and policy and sends the file
    x-accel       nginx in front; the app checks every request and answers X-Accel-Redirect
    auth-request  nginx in front; nginx asks the app once per token (/_authz/media), caches the
                  answer (MEDIA_AUTHZ_CACHE_S = 60) and sends the files itself
    signed-url    nginx in front; the segment URLs carry a signature nginx checks itself
                  (`secure_link`, streaming.signed_links): no request to the app, no cache
    plain nginx   the same files from a plain `alias` location: no check at all (the reference)

auth-request, signed-url and plain nginx are measured again with 128 kbps segments (~89 kB): the
check's cost is per request, so its share depends on the segment size.

nginx runs docs/nginx.conf itself, rendered for temporary paths (tests/reader/nginx_sample.py), one
worker process. The load generator is wrk (C, epoll; Debian package `wrk`) with
benchmarks/segments.lua cycling through the segment paths: 1 thread, 32 keep-alive connections.
All servers run at once and the modes take turns in `--rounds` slices (the machine is shared, so
its load drifts; interleaving spreads that over every mode). Every mode is probed first (status,
type, exact bytes); the app counts the media requests it handles, so the table shows how often
the check ran.

    .venv/bin/python benchmarks/bench_segments.py [--seconds 8] [--rounds 4] [--no-write]

Writes the "Reader: segment delivery" section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from procstat import cpu_seconds, descendants

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "reader"))
HEADING = "## Reader: segment delivery"
LUA = ROOT / "benchmarks" / "segments.lua"
CONNECTIONS, WRK_THREADS, APP_THREADS = 32, 1, 8
RENDITION, LARGE = "aac-64k", "aac-128k"  # every mode; auth-request, signed-url and plain nginx also at 128 kbps
BITRATES = {RENDITION: "64k", LARGE: "128k"}

# The app as `sachnoi serve` runs it with one process (waitress), in one mode, counting the media
# requests it handles (media routes and /_authz/media); on SIGTERM it writes the count to a file and
# exits at once (waiting for waitress's threads at interpreter exit could take longer than stop()).
SERVER_CODE = """
import itertools, os, signal, sys
from flask import request
from waitress import serve
from web.app import create_app
home, secret, port, mode, key, count_file, threads = sys.argv[1:8]
app = create_app({"HOME": home, "SECRET_KEY": secret, "MEDIA_SERVE_MODE": mode, "MEDIA_AUTHZ_KEY": key,
                  "MEDIA_AUTHZ_CACHE_S": 60, "TRUST_PROXY": 1, "RUN_WORKERS": False})
hits = itertools.count()

@app.before_request
def count_media_requests():
    if request.path.startswith("/books/") or request.path == "/_authz/media":
        next(hits)

def stop(*_):
    with open(count_file, "w") as fh:
        fh.write(str(next(hits)))
    os._exit(0)

signal.signal(signal.SIGTERM, stop)
serve(app, host="127.0.0.1", port=int(port), threads=int(threads), connection_limit=1000, backlog=2048,
      ident="sachnoi", _quiet=True)
"""


def make_segments(folder: Path, rendition: str, seconds: int = 60) -> None:
    """`folder`/<rendition>/: init.mp4, seg_000.m4s … and index.m3u8, from a 440 Hz tone."""
    out = folder / rendition
    out.mkdir(parents=True)
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                    "-af", "volume=0.2", "-ac", "1", "-c:a", "aac", "-b:a", BITRATES[rendition],
                    "-f", "hls", "-hls_time", "6", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
                    "-hls_fmp4_init_filename", "init.mp4", "-hls_segment_filename", "seg_%03d.m4s",
                    "index.m3u8"], cwd=out, check=True)


def published_book(settings: dict) -> tuple[int, str]:
    """A published public title in a fresh database. Returns (book id, uuid)."""
    from catalog.accounts import get_or_create_library
    from catalog.books import create_book, publish
    from catalog.db import make_engine, make_sessionmaker
    from catalog.migrate import upgrade
    upgrade(settings["DATABASE_URL"])
    engine = make_engine(settings["DATABASE_URL"])
    try:
        with make_sessionmaker(engine).begin() as s:
            library = get_or_create_library(s, "THV", "Thư viện tỉnh")
            book = create_book(s, library=library, title="Sách đo phân đoạn", authors=["Tác giả"],
                               duration_s=60.0)
            publish(s, book)
            return book.id, book.uuid
    finally:
        engine.dispose()


class App:
    """The app in a subprocess on `port`; `stop()` returns how many media requests it handled."""

    def __init__(self, settings: dict, port: int, mode: str, key: str, tmp: Path):
        from nginx_sample import wait_port
        self.count_file = tmp / f"app-{mode}-{port}.count"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER_CODE, settings["HOME"], settings["SECRET_KEY"], str(port), mode, key,
             str(self.count_file), str(APP_THREADS)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_port(port)
        except RuntimeError:
            self.proc.kill()
            raise RuntimeError(self.proc.stderr.read().decode()[-2000:]) from None

    def stop(self) -> int | None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return int(self.count_file.read_text()) if self.count_file.exists() else None


def nginx_workers(master_pid: int) -> list[int]:
    """The worker processes of the nginx whose master is `master_pid` (from /proc)."""
    found = []
    for pid in descendants(master_pid):
        try:
            if b"worker process" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:  # gone meanwhile
            continue
    return found


def probe(port: int, path: str, expected: bytes) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    return {"status": response.status, "type": response.getheader("Content-Type"),
            "cache": response.getheader("Cache-Control"), "same_bytes": body == expected}


def run_wrk(port: int, paths: list[str], seconds: int, tmp: Path) -> dict:
    """One wrk run of whole `seconds` (wrk takes no fractions) against `paths`, cycled."""
    paths_file = tmp / f"paths-{port}.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    run = subprocess.run(["wrk", f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s",
                          "-s", str(LUA), f"http://127.0.0.1:{port}", "--", str(paths_file)],
                         capture_output=True, text=True, timeout=seconds + 30)
    if run.returncode != 0:
        raise RuntimeError(f"wrk failed ({run.returncode}): {run.stderr.strip()[-500:]}")
    result = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("{")))
    result["per_s"] = result["requests"] / result["seconds"]
    return result


def measure(settings: dict, book_id: int, book_uuid: str, slice_s: int, rounds: int, tmp: Path) -> dict:
    """Start every mode's servers, probe each, then run wrk in `rounds` interleaved slices of
    `slice_s` seconds per mode (direct, x-accel, auth-request, plain nginx, the last two at 128 kbps,
    direct, …), so a change in the shared machine's load falls on every mode alike. Returns per mode: probe, slices (each with the
    CPU seconds the mode's server processes used: nginx worker and app), app request count."""
    from contextlib import ExitStack
    from nginx_sample import NginxProcess, free_port, render_site
    from streaming import signed_links, tokens
    hls = Path(settings["MEDIA_ROOT"]) / f"derived/books/{book_uuid}/hls"
    names = {r: sorted(p.name for p in (hls / r).glob("seg_*.m4s")) for r in BITRATES}
    token = tokens.issue(settings["SECRET_KEY"], book_id=book_id, subject=tokens.PUBLIC, ttl_s=3600)
    app_paths = {r: [f"/books/{book_id}/hls/{r}/{n}?t={token}" for n in names[r]] for r in BITRATES}
    plain_paths = {r: [f"/plain/{r}/{n}" for n in names[r]] for r in BITRATES}
    key = "bench-" + uuid.uuid4().hex
    plain_port = free_port()
    plain = (f"server {{ listen 127.0.0.1:{plain_port}; sendfile on; tcp_nopush on;\n"
             f"    location /plain/ {{ alias {hls}/; types {{ audio/mp4 m4s mp4; }} etag on; }} }}")
    targets: dict[str, tuple[int, list[str], list[int]]] = {}  # mode -> port, paths, server pids
    apps: dict[str, App] = {}
    results: dict[str, dict] = {}
    with ExitStack() as stack:
        for mode in ("direct", "x-accel", "auth-request", "signed-url"):
            app_port = free_port()
            apps[mode] = App(settings, app_port, mode, key, tmp)
            stack.callback(lambda m=mode: results.setdefault(m, {}).update(app_requests=apps[m].stop()))
            if mode == "direct":
                targets[mode] = (app_port, app_paths[RENDITION], [apps[mode].proc.pid])
                continue
            port, folder = free_port(), tmp / f"nginx-{mode}"
            site = render_site(mode=mode, media_root=settings["MEDIA_ROOT"], app_address=f"127.0.0.1:{app_port}",
                               port=port, tmp=folder, key=key)
            nginx = stack.enter_context(NginxProcess(folder, site, port=port, access_log=False,
                                                     extra=plain if mode == "auth-request" else ""))
            stack.callback(lambda n=nginx, m=mode: n.error_log().strip() and
                           print(f"nginx error log ({m}):\n{n.error_log()[-1500:]}", flush=True))
            workers = nginx_workers(nginx.proc.pid)
            targets[mode] = (port, app_paths[RENDITION], workers + [apps[mode].proc.pid])
            if mode == "signed-url":  # links as the app writes them into a media playlist
                expires = int(time.time()) + 3600
                signed = {r: [signed_links.segment_url(book_uuid, r, n, expires=expires, key=key) for n in names[r]]
                          for r in BITRATES}
                targets[mode] = (port, signed[RENDITION], workers)
                targets["signed-url 128k"] = (port, signed[LARGE], workers)
            if mode == "auth-request":  # the plain server lives in this nginx: same worker
                targets["plain nginx"] = (plain_port, plain_paths[RENDITION], workers)
                targets["auth-request 128k"] = (port, app_paths[LARGE], workers + [apps[mode].proc.pid])
                targets["plain nginx 128k"] = (plain_port, plain_paths[LARGE], workers)
        for mode, (port, paths, _pids) in targets.items():
            rendition = LARGE if mode.endswith("128k") else RENDITION
            expected = (hls / rendition / names[rendition][1]).read_bytes()
            results.setdefault(mode, {})["probe"] = probe(port, paths[1], expected)
            results[mode]["slices"] = []
        for _ in range(rounds):
            for mode, (port, paths, pids) in targets.items():
                before = cpu_seconds(pids)
                result = run_wrk(port, paths, slice_s, tmp)
                result["cpu_s"] = cpu_seconds(pids) - before
                results[mode]["slices"].append(result)
    results["auth-request 128k"]["app_requests"] = results["signed-url 128k"]["app_requests"] = "(above)"
    results["plain nginx"]["app_requests"] = results["plain nginx 128k"]["app_requests"] = 0
    results["_segment_kb"] = {BITRATES[r]: sum((hls / r / n).stat().st_size for n in names[r]) / len(names[r]) / 1000
                              for r in BITRATES}
    return results


def summary(slices: list[dict]) -> dict:
    """Totals over a mode's slices; p50/p99 as the median of the slices' own percentiles."""
    requests = sum(x["requests"] for x in slices)
    return {"requests": requests, "per_s": requests / sum(x["seconds"] for x in slices),
            "p50_ms": statistics.median(x["p50_ms"] for x in slices),
            "p99_ms": statistics.median(x["p99_ms"] for x in slices),
            "errors": sum(x["non_2xx"] + x["socket_errors"] for x in slices),
            "kb_per_response": sum(x["bytes"] for x in slices) / max(1, requests) / 1000,
            "cpu_us": sum(x["cpu_s"] for x in slices) / max(1, requests) * 1e6,
            "slice_per_s": [x["per_s"] for x in slices]}


LABELS = {"direct": "direct: the app checks and sends the file (waitress, 8 threads)",
          "x-accel": "x-accel: the app checks every request, nginx sends (X-Accel-Redirect)",
          "auth-request": "auth-request: nginx asks the app once per token, caches 60 s, sends",
          "plain nginx": "plain nginx: `alias`, no check (reference)",
          "auth-request 128k": "auth-request, 128 kbps segments",
          "plain nginx 128k": "plain nginx, 128 kbps segments (reference)",
          "signed-url": "signed-url: nginx checks the link's signature itself (`secure_link`), sends",
          "signed-url 128k": "signed-url, 128 kbps segments"}


def percent(fraction: float) -> str:
    return f"{fraction * 100:.0f} %" if fraction >= 0.1 else f"{fraction * 100:.1f} %"


def report(results: dict, slice_s: int, rounds: int, load_before: float, load_after: float) -> str:
    from nginx_sample import NGINX
    segment_kb = results.pop("_segment_kb")
    rows = {mode: {**summary(r["slices"]), "probe": r["probe"], "app_requests": r["app_requests"]}
            for mode, r in results.items()}
    plain = rows["plain nginx"]

    def reference(mode: str) -> dict:
        return rows["plain nginx 128k"] if mode.endswith("128k") else plain
    nginx_version = subprocess.run([NGINX, "-v"], capture_output=True, text=True).stderr.strip()
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    lines = [HEADING, "",
             f"`benchmarks/bench_segments.py --seconds {slice_s * rounds} --rounds {rounds}`: loopback, 2 shared "
             f"cores; one public title, one media token; {slice_s * rounds} s per mode, run as {rounds} interleaved "
             f"slice(s) of {slice_s} s, the modes taking turns, so changes in the machine's load fall on every "
             f"mode alike. Client: {wrk_version.split(' Copyright')[0]} with "
             f"`benchmarks/segments.lua` ({WRK_THREADS} thread, {CONNECTIONS} keep-alive connections, cycling "
             f"through the title's 6 s fMP4 segments: 64 kbps, {segment_kb['64k']:.0f} kB on average, for every "
             f"mode; 128 kbps, {segment_kb['128k']:.0f} kB, also for auth-request, signed-url and plain nginx). "
             f"Server: {nginx_version.replace('nginx version: ', '')} running docs/nginx.conf (1 worker process), "
             f"the app under waitress ({APP_THREADS} threads) on SQLite.", "",
             "| mode | requests | req/s | vs plain nginx | p50 ms | p99 ms | errors | kB per response | "
             "server CPU µs per request | app media requests |", "|---|---|---|---|---|---|---|---|---|---|"]
    for mode, r in rows.items():
        lines.append(f"| {LABELS[mode]} | {r['requests']} | {r['per_s']:.0f} | "
                     f"**{percent(r['per_s'] / reference(mode)['per_s'])}** | {r['p50_ms']:.2f} | "
                     f"{r['p99_ms']:.2f} | "
                     f"{r['errors']} | {r['kb_per_response']:.1f} | {r['cpu_us']:.1f} | {r['app_requests']} |")
    probes = "; ".join(f"{mode}: {r['probe']['status']} `{r['probe']['type']}`"
                       f"{'' if r['probe']['same_bytes'] else ' WRONG BYTES'}" for mode, r in rows.items())
    auth, large, plain_large = rows["auth-request"], rows["auth-request 128k"], rows["plain nginx 128k"]
    per_round = [a / p * 100 for a, p in zip(auth["slice_per_s"], plain["slice_per_s"])]
    ratio = auth["per_s"] / plain["per_s"] * 100
    cpu_ratio = plain["cpu_us"] / auth["cpu_us"] * 100
    large_ratio = large["per_s"] / plain_large["per_s"] * 100
    large_cpu_ratio = plain_large["cpu_us"] / large["cpu_us"] * 100
    signed, signed_large = rows["signed-url"], rows["signed-url 128k"]
    signed_round = [a / p * 100 for a, p in zip(signed["slice_per_s"], plain["slice_per_s"])]
    signed_ratio = signed["per_s"] / plain["per_s"] * 100
    signed_cpu_ratio = plain["cpu_us"] / signed["cpu_us"] * 100
    signed_large_ratio = signed_large["per_s"] / plain_large["per_s"] * 100
    lines += ["", "p50/p99: the median of the slices' own percentiles (wrk). Errors: non-2xx answers and "
              "socket errors. Server CPU: user + system time of the nginx worker and the app process during the "
              "slices (/proc), per request; less sensitive to the machine's other load than req/s. App media "
              "requests: requests the app handled for media in the whole run (media routes and "
              "`/_authz/media`, probes included).",
              "", f"Probe before the runs (one segment, compared byte for byte with the stored file): {probes}.",
              "", f"auth-request ÷ plain nginx per round: {', '.join(f'{x:.0f} %' for x in per_round)}; "
              f"by server CPU per request: {cpu_ratio:.0f} % (the rate auth-request would reach, relative to "
              f"plain, where nginx's CPU is the limit). With 128 kbps segments: {large_ratio:.0f} % by "
              f"requests/s, {large_cpu_ratio:.0f} % by CPU per request.",
              "", f"signed-url ÷ plain nginx per round: {', '.join(f'{x:.0f} %' for x in signed_round)}; by "
              f"server CPU per request: {signed_cpu_ratio:.0f} %. With 128 kbps segments: "
              f"{signed_large_ratio:.0f} % by requests/s. (signed-url runs in its own nginx with one worker, as "
              f"plain nginx does in the auth-request one.)",
              "", f"Load average (1 min): {load_before:.1f} before the run, {load_after:.1f} after, on "
              f"{os.cpu_count()} cores shared with other work; absolute rates scale with it, the ratios less so.",
              "", f"Target (issue #7): X-Accel mode ≥ 80 % of plain nginx. x-accel itself cannot: it runs one "
              "Python request (token, three primary-key reads, policy) per segment, so its rate is the app's "
              "request rate, whatever nginx does with the bytes. The nginx-served modes built instead: "
              f"signed-url **{signed_ratio:.0f} %** of plain nginx's requests/s in this run "
              f"({'met' if signed_ratio >= 80 else 'not met'}; {signed_cpu_ratio:.0f} % by CPU per request), "
              f"auth-request **{ratio:.0f} %** ({'met' if ratio >= 80 else 'not met'}; {cpu_ratio:.0f} % by CPU). "
              "What auth-request adds per segment is nginx's own work: the auth subrequest, a cache lookup "
              "and reading the cached answer's file; signed-url adds one MD5 over the URL.",
              "",
              "What the speed costs: in auth-request mode a policy change, unpublication or account "
              "change stops segments already being streamed with a token up to MEDIA_AUTHZ_CACHE_S (60 s) "
              "later; in signed-url mode only when the token expires (MEDIA_TOKEN_TTL_S, 6 h by default). "
              "In both, playlists and downloads are checked live, and on-site titles (whose answer depends "
              "on the address) are checked on every request. See docs/nginx.conf."]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=8, help="wrk time per mode, all slices together")
    ap.add_argument("--rounds", type=int, default=4, help="interleaved slices per mode (whole seconds each)")
    ap.add_argument("--no-write", action="store_true", help="print the section, do not write docs/benchmarks.md")
    args = ap.parse_args()
    rounds = max(1, min(args.rounds, args.seconds))
    slice_s = max(1, args.seconds // rounds)
    from nginx_sample import NGINX
    for tool in ("wrk", "ffmpeg", NGINX):
        if not shutil.which(tool):
            print(f"{tool} not found: run `make install` (Debian packages wrk, ffmpeg, nginx)", file=sys.stderr)
            return 2
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-segments-") as tmp_name:
        tmp = Path(tmp_name)
        home = tmp / "home"
        settings = {"HOME": str(home), "SECRET_KEY": "bench-" + uuid.uuid4().hex, "MEDIA_ROOT": str(home / "media"),
                    "DATABASE_URL": f"sqlite:///{home / 'sachnoi.db'}"}
        home.mkdir()
        book_id, book_uuid = published_book(settings)
        for rendition in BITRATES:
            make_segments(Path(settings["MEDIA_ROOT"]) / f"derived/books/{book_uuid}/hls", rendition)
        results = measure(settings, book_id, book_uuid, slice_s, rounds, tmp)
    for mode, r in results.items():
        print(mode, r, flush=True)
    body = report(results, slice_s, rounds, load_before, os.getloadavg()[0])
    print(body)
    if not args.no_write:
        from docsection import write_section
        write_section(HEADING, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
