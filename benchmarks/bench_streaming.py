"""Reader delivery benchmark: progress writes (storage layer and HTTP) and click-to-first-audio.

Everything runs on loopback in a temporary instance, bounded in count and time:

1. Progress writes for N simulated listeners (default 500), each with its own account and device,
   each write the listener's next (newer) report: (a) through `streaming.progress.record` (one
   transaction per write, 1 and 8 threads), (b) through the HTTP API (`PUT /api/books/<id>/progress`)
   of `sachnoi serve --processes N`, loaded by `wrk` (benchmarks/progress_writes.lua), (c) the app's
   own CPU per write (the WSGI call without a server). SQLite, and
   PostgreSQL when reachable (SACHNOI_TEST_PG_URL, default postgresql://postgres@127.0.0.1:5432/test).
2. Click-to-first-audio in headless Chromium: from the click on "Phát" to the `playing` event.

Segment delivery is benchmarks/bench_segments.py.

Usage: python benchmarks/bench_streaming.py [--listeners 500] [--seconds 8] [--connections 16]
                                            [--servers 1x8,2x8,2x2,2x1] [--repeat 3] [--no-write]
Writes the "Reader" section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "reader"))
from nginx_sample import free_port, wait_port  # noqa: E402  (the test harness's port helpers)
from procstat import tree_cpu_seconds  # noqa: E402
DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## Reader"
PG_URL = os.environ.get("SACHNOI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
WRK = os.environ.get("SACHNOI_WRK", "wrk")
CHROMIUM = os.environ.get("SACHNOI_CHROMIUM", "/usr/bin/chromium")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


# -- fixture data -------------------------------------------------------------------------------------
def make_hls(target: Path, seconds: int = 60) -> None:
    """Two renditions (32 and 64 kbps AAC, fMP4, 6 s segments) of a tone, plus a master playlist."""
    for name, rate in (("aac-32k", 32000), ("aac-64k", 64000)):
        folder = target / name
        folder.mkdir(parents=True)
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                        "-af", "volume=0.2", "-c:a", "aac", "-b:a", str(rate), "-ac", "1", "-f", "hls",
                        "-hls_time", "6", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
                        "-hls_fmp4_init_filename", "init.mp4", "-hls_segment_filename", "seg_%03d.m4s",
                        "index.m3u8"], cwd=folder, check=True)
    (target / "master.m3u8").write_text(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=36000,AVERAGE-BANDWIDTH=32000,CODECS="mp4a.40.2"\naac-32k/index.m3u8\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=70000,AVERAGE-BANDWIDTH=64000,CODECS="mp4a.40.2"\naac-64k/index.m3u8\n')


def seed(settings: dict, listeners: int, hls: Path, duration_s: float = 60.0) -> tuple[int, list[int], str]:
    """A published public book with HLS, and `listeners` reader accounts. Returns (book id, user ids, uuid)."""
    from catalog.accounts import get_or_create_library, hash_password
    from catalog.books import create_book, publish
    from catalog.db import make_engine, make_sessionmaker
    from catalog.migrate import upgrade
    from catalog.models import Chapter, Rendition, User
    from recordings.store import MediaStore
    upgrade(settings["DATABASE_URL"])
    engine = make_engine(settings["DATABASE_URL"])
    sessions = make_sessionmaker(engine)
    store = MediaStore(settings["MEDIA_ROOT"])
    pw_hash = hash_password("bench-password-not-used")  # hashed once: accounts are logged in by cookie
    with sessions.begin() as s:
        lib = get_or_create_library(s, "THV", "Thư viện tỉnh")
        book = create_book(s, library=lib, title="Sách đo hiệu năng", authors=["Tác giả"], duration_s=duration_s)
        for i in range(2):
            s.add(Chapter(book_id=book.id, position=i + 1, title=f"Chương {i + 1}", start_s=i * duration_s / 2,
                          duration_s=duration_s / 2))
        s.add(Rendition(book_id=book.id, kind="hls", name="aac-64k", key=f"derived/books/{book.uuid}/hls",
                        bitrate=64000))
        publish(s, book)
        users = [User(username=f"listener{i:04d}", password_hash=pw_hash, role="reader", library_id=lib.id)
                 for i in range(listeners)]
        s.add_all(users)
        s.flush()
        book_id, user_ids, book_uuid = book.id, [u.id for u in users], book.uuid
    shutil.copytree(hls, store.path(f"derived/books/{book_uuid}/hls"))
    engine.dispose()
    return book_id, user_ids, book_uuid


# -- 1a. progress through the storage layer ----------------------------------------------------------------
def progress_direct(database_url: str, book_id: int, user_ids: list[int], writes: int, seconds: float,
                    threads: int, base_ms: int, first_seq: int) -> dict:
    """`writes` reports through `progress.record`; each is the listener's next (event times from
    `base_ms`, sequence numbers from `first_seq`, both above any earlier run's), so every one is
    accepted. Returns writes, writes/s, p50/p99 ms and how many the account row took."""
    from catalog.db import make_engine, make_sessionmaker
    from streaming import progress
    engine = make_engine(database_url, pool_size=threads, max_overflow=0) \
        if not database_url.startswith("sqlite") else make_engine(database_url)
    sessions = make_sessionmaker(engine)
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(writes))
    deadline = time.monotonic() + seconds
    accepted = []

    def worker():
        mine = []
        while time.monotonic() < deadline:
            with lock:
                n = next(counter, None)
            if n is None:
                break
            user = user_ids[n % len(user_ids)]
            round_ = n // len(user_ids) + 1
            report = progress.Report(position_s=round_ * 10.0 % 60, event_time_ms=base_ms + round_ * 10_000,
                                     device_id=f"dev{user}", seq=first_seq + round_)
            started = time.perf_counter()
            with sessions.begin() as s:
                outcome = progress.record(s, user_id=user, book_id=book_id, report=report, duration_s=60.0)
            mine.append(time.perf_counter() - started)
            accepted.append(outcome.accepted)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    engine.dispose()
    return {"writes": len(latencies), "per_s": len(latencies) / elapsed, "p50_ms": pct(latencies, 50) * 1000,
            "p99_ms": pct(latencies, 99) * 1000, "accepted": sum(accepted)}


# -- servers ---------------------------------------------------------------------------------------------
SACHNOI = str(Path(sys.executable).with_name("sachnoi"))


def start_app(settings: dict, port: int, processes: int = 1, threads: int = 8, **extra: str) -> subprocess.Popen:
    """`sachnoi serve` as deployed, on `port`, with `processes` web processes of `threads` threads, no job workers."""
    env = {**os.environ, "SACHNOI_HOME": settings["HOME"], "SACHNOI_SECRET_KEY": settings["SECRET_KEY"],
           "SACHNOI_DATABASE_URL": settings["DATABASE_URL"], "SACHNOI_RUN_WORKERS": "false",
           **{f"SACHNOI_{k}": v for k, v in extra.items()}}
    proc = subprocess.Popen([SACHNOI, "serve", "--port", str(port), "--processes", str(processes),
                             "--threads", str(threads)], env=env,
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_port(port, timeout=20.0)
    except RuntimeError:
        stop(proc)
        raise RuntimeError(proc.stderr.read().decode()[-2000:]) from None
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


BENCH_UA = "sachnoi-bench"  # the User-Agent every benchmark client sends (see login_cookies)


def login_cookies(secret_key: str, user_ids: list[int]) -> list[tuple[str, str]]:
    """(session cookie, CSRF header) per user, signed with the app's key (no password hashing).

    The session is what a real login from 127.0.0.1 with User-Agent BENCH_UA leaves, including
    Flask-Login's `_id` fingerprint: without it every request would fail the session-protection
    check and re-sign the cookie, a cost real readers don't pay.
    """
    from flask import Flask
    from flask_login.utils import _create_identifier
    from itsdangerous import URLSafeTimedSerializer
    shim = Flask("bench")
    shim.secret_key = secret_key
    serializer = shim.session_interface.get_signing_serializer(shim)
    csrf = URLSafeTimedSerializer(secret_key, salt="wtf-csrf-token")
    with shim.test_request_context(environ_base={"REMOTE_ADDR": "127.0.0.1"}, headers={"User-Agent": BENCH_UA}):
        fingerprint = _create_identifier()
    out = []
    for uid in user_ids:
        raw = uuid.uuid4().hex
        cookie = serializer.dumps({"_user_id": f"{uid}:1", "_fresh": True, "_id": fingerprint, "csrf_token": raw})
        out.append((cookie, csrf.dumps(raw)))
    return out


# -- 1b. progress through HTTP (wrk) -------------------------------------------------------------------------
def progress_http(port: int, book_id: int, creds: list[tuple[str, str]], seconds: float, connections: int,
                  tmp: Path, base_ms: int, server_pid: int, first_seq: int) -> dict:
    """wrk (C, one thread) replays each listener's next report (benchmarks/progress_writes.lua)."""
    cred_file = tmp / "creds.txt"
    cred_file.write_text("".join(f"{cookie} {csrf}\n" for cookie, csrf in creds))
    cpu_before = tree_cpu_seconds(server_pid)
    done = subprocess.run([WRK, "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout", "10s",
                           "-s", str(ROOT / "benchmarks" / "progress_writes.lua"), f"http://127.0.0.1:{port}",
                           "--", str(cred_file), str(book_id), str(base_ms), str(first_seq)],
                          capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr[-1000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["server_cpu_ms"] = (tree_cpu_seconds(server_pid) - cpu_before) * 1000 / max(1, result["requests"])
    result["writes"] = result["requests"]
    result["per_s"] = result["requests"] / result["seconds"]
    return result


# -- 1c. CPU per write inside the app ------------------------------------------------------------------------
def app_cpu_per_write(settings: dict, book_id: int, creds: list[tuple[str, str]], base_ms: int, first_seq: int,
                      writes: int = 3000, chunks: int = 7) -> dict:
    """CPU ms per `PUT /api/books/<id>/progress` through the WSGI app itself (no server, one thread,
    this process): the app's own share of the HTTP figure. Median and min over `chunks` chunks."""
    from werkzeug.test import EnvironBuilder
    from web.app import create_app
    app = create_app({**settings, "RUN_WORKERS": False})
    environs = []
    for n in range(writes):
        idx, round_ = n % len(creds), n // len(creds) + 1
        body = json.dumps({"position_s": round_ * 7.0 % 60, "event_time_ms": base_ms + round_ * 10_000,
                           "device_id": f"app{idx}", "seq": first_seq + round_, "listened_s": 10})
        environs.append(EnvironBuilder(
            path=f"/api/books/{book_id}/progress", method="PUT", data=body,
            headers={"Content-Type": "application/json", "User-Agent": BENCH_UA, "X-CSRFToken": creds[idx][1],
                     "Cookie": "session=" + creds[idx][0]}, environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_environ())
    refused = 0

    def call(environ) -> None:
        nonlocal refused
        status = []
        body = b"".join(app(environ, lambda s, h, e=None: status.append(s)))
        if not status[0].startswith("200") or b'"accepted":true' not in body:
            refused += 1
    warm = len(environs) // 10
    for environ in environs[:warm]:
        call(environ)
    per = []
    size = (len(environs) - warm) // chunks
    for k in range(chunks):
        part = environs[warm + k * size: warm + (k + 1) * size]
        started = time.process_time()
        for environ in part:
            call(environ)
        per.append((time.process_time() - started) * 1000 / len(part))
    app.extensions["sachnoi"].engine.dispose()
    return {"median_ms": statistics.median(per), "min_ms": min(per), "writes": len(environs), "refused": refused}


# -- 3. click to first audio --------------------------------------------------------------------------------
def click_to_audio(settings: dict, book_id: int, runs: int = 5) -> list[float]:
    from playwright.sync_api import sync_playwright
    port = free_port()
    vendor = ROOT / "web" / "static" / "vendor"
    vendor.mkdir(parents=True, exist_ok=True)
    if not (vendor / "hls.min.js").exists():
        shutil.copy(ROOT / "node_modules/hls.js/dist/hls.min.js", vendor / "hls.min.js")
    server = start_app(settings, port)
    times = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"])
            for _ in range(runs):
                context = browser.new_context()
                page = context.new_page()
                page.goto(f"http://127.0.0.1:{port}/books/{book_id}")
                page.wait_for_load_state("networkidle")
                page.evaluate("""() => { window.__t = {};
                    document.getElementById('play').addEventListener('click', () => { __t.click = performance.now(); }, {capture: true});
                    document.getElementById('audio').addEventListener('playing', () => { __t.playing = performance.now(); }); }""")
                page.click("#play")
                page.wait_for_function("() => window.__t.playing && document.getElementById('audio').currentTime > 0",
                                       timeout=10000)
                t = page.evaluate("() => window.__t")
                times.append(t["playing"] - t["click"])
                context.close()
            browser.close()
    finally:
        stop(server)
    return times


# -- report ----------------------------------------------------------------------------------------------------
def write_section(body: str) -> None:
    from docsection import write_section as write_doc_section
    write_doc_section(HEADING, body)


def pg_schema_url() -> tuple[str, callable] | tuple[None, None]:
    try:
        import psycopg
        conn = psycopg.connect(PG_URL, connect_timeout=3, autocommit=True)
    except Exception as exc:  # any failure means "no server here"
        print(f"PostgreSQL not reachable ({exc.__class__.__name__}); skipped", flush=True)
        return None, None
    schema = "bench_" + uuid.uuid4().hex[:8]
    conn.execute(f'CREATE SCHEMA "{schema}"')

    def drop():
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()
    return f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}", drop


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listeners", type=int, default=500)
    ap.add_argument("--writes", type=int, default=5000, help="cap for the storage-layer runs")
    ap.add_argument("--seconds", type=float, default=8.0, help="cap per measurement")
    ap.add_argument("--connections", type=int, default=16, help="wrk connections for the HTTP runs")
    ap.add_argument("--servers", default="1x8,2x8,2x2,2x1",
                    help="`sachnoi serve` shapes to measure over HTTP: PROCESSESxTHREADS, comma-separated")
    ap.add_argument("--repeat", type=int, default=3,
                    help="measured wrk runs per server shape (the report gives their median)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    shapes = [tuple(int(n) for n in shape.split("x")) for shape in args.servers.split(",")]
    rows_layer, rows_http, app_cpu = [], [], {}
    clicks = None
    run_no = 0
    started_ms = int(time.time() * 1000)

    def base_ms(run: int) -> int:
        """Event times of one wrk run: later than every earlier run's (a run spans < 15 min of
        event time: 10 s per round of all listeners), never ahead of the server's clock."""
        return started_ms - 24 * 3_600_000 + run * 900_000
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as tmp_name:
        tmp = Path(tmp_name)
        hls = tmp / "hls"
        make_hls(hls)
        databases = [("SQLite", None)]
        pg_url, drop = pg_schema_url()
        if pg_url:
            databases.append(("PostgreSQL", pg_url))
        try:
            for label, url in databases:
                home = tmp / f"home-{label}"
                settings = {"HOME": str(home), "SECRET_KEY": "bench-" + uuid.uuid4().hex,
                            "MEDIA_ROOT": str(home / "media"),
                            "DATABASE_URL": url or f"sqlite:///{home / 'sachnoi.db'}"}
                home.mkdir()
                book_id, user_ids, _book_uuid = seed(settings, args.listeners, hls)
                for threads in (1, 8):
                    run_no += 1
                    layer = progress_direct(settings["DATABASE_URL"], book_id, user_ids, args.writes,
                                            args.seconds / 2, threads, base_ms(run_no), first_seq=run_no * 1000)
                    print(label, f"record() {threads} thread(s)", layer, flush=True)
                    rows_layer.append((label, threads, layer))
                creds = login_cookies(settings["SECRET_KEY"], user_ids)
                run_no += 1
                app_cpu[label] = app_cpu_per_write(settings, book_id, creds, base_ms(run_no), run_no * 1000)
                print(label, "CPU per write inside the app", app_cpu[label], flush=True)
                for n, threads in shapes:
                    port = free_port()
                    server = start_app(settings, port, processes=n, threads=threads)
                    try:
                        # warm-up (discarded): every web process forked, imported and connected
                        run_no += 1
                        progress_http(port, book_id, creds, 2, args.connections, tmp, base_ms(run_no), server.pid,
                                      first_seq=run_no * 1000)
                        runs = []
                        for _ in range(args.repeat):
                            run_no += 1
                            runs.append(progress_http(port, book_id, creds, args.seconds, args.connections, tmp,
                                                      base_ms(run_no), server.pid, first_seq=run_no * 1000))
                            print(label, f"HTTP, {n} process(es) x {threads} threads", runs[-1], flush=True)
                    finally:
                        stop(server)
                    rows_http.append((label, f"{n} × {threads}", runs))
                if label == "SQLite":
                    clicks = click_to_audio(settings, book_id)
                    print("click-to-first-audio ms", [round(c) for c in clicks], flush=True)
        finally:
            if drop:
                drop()
    body = report(args, rows_layer, rows_http, clicks, app_cpu)
    print(body)
    if not args.no_write:
        write_section(body)
    return 0


def median_run(runs: list[dict]) -> dict:
    """Per figure, the median over the runs (counts summed)."""
    out = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k not in ("writes", "requests")}
    out.update(writes=sum(r["writes"] for r in runs), requests=sum(r["requests"] for r in runs),
               **{k: sum(r[k] for r in runs) for k in ("non_2xx", "socket_errors", "refused")})
    return out


def meets_target(r: dict) -> bool:
    return r["per_s"] >= 1000 and r["p99_ms"] < 50 and not (r["non_2xx"] or r["socket_errors"] or r["refused"])


def report(args, rows_layer: list, rows_http: list, clicks: list[float] | None, app_cpu: dict) -> str:
    lines = [HEADING, "",
             f"`benchmarks/bench_streaming.py` (loopback, 2 shared cores; {args.listeners} listeners, each its own "
             f"account and device, reporting in turn; every write is the listener's next, newer report, so each "
             f"one is a real accepted write, not a cheaply refused duplicate).", "",
             "Progress writes, storage layer (`streaming.progress.record`, one transaction per write, at most "
             f"{args.writes} writes or {args.seconds / 2:.0f} s):", "",
             "| database | threads | writes | accepted | writes/s | p50 ms | p99 ms |", "|---|---|---|---|---|---|---|"]
    for label, threads, r in rows_layer:
        lines.append(f"| {label} | {threads} | {r['writes']} | {r['accepted']} | {r['per_s']:.0f} | "
                     f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")
    lines += ["", f"Progress writes over HTTP (`PUT /api/books/<id>/progress` with session cookie, CSRF header and "
              f"JSON body, to `sachnoi serve --processes N --threads T` (one process: waitress; several: granian); "
              f"load from `wrk` with one thread and {args.connections} keep-alive connections, script "
              f"`benchmarks/progress_writes.lua`; per server shape a 2 s warm-up, then {args.repeat} runs of "
              f"{args.seconds:.0f} s on the same server. Each figure is the median of the runs; the last column "
              f"lists every run as writes/s (p99 ms)):", "",
              "| database | processes × threads | writes | writes/s | p50 ms | p90 ms | p99 ms | max ms "
              "| server CPU ms/write | non-2xx | socket errors | refused | runs |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, n, runs in rows_http:
        r = median_run(runs)
        each = ", ".join(f"{x['per_s']:.0f} ({x['p99_ms']:.0f})" for x in runs)
        lines.append(f"| {label} | {n} | {r['writes']} | {r['per_s']:.0f} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | "
                     f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} | {r['server_cpu_ms']:.2f} | {r['non_2xx']} | "
                     f"{r['socket_errors']} | {r['refused']} | {each} |")
    lines += ["", "CPU per progress write inside the app (the WSGI call alone: no server, one thread; median of 7 "
              "chunks, `app_cpu_per_write`): " + "; ".join(
                  f"{label} {r['median_ms']:.2f} ms (min {r['min_ms']:.2f}, {r['writes']} writes, {r['refused']} "
                  f"refused)" for label, r in app_cpu.items()) + ". The HTTP rows' server CPU adds the server's share."]
    if clicks:
        lines += ["", f"Click-to-first-audio (headless Chromium, hls.js, click on “Phát” to the `playing` event, "
                  f"{len(clicks)} fresh contexts): median **{statistics.median(clicks):.0f} ms**, "
                  f"max {max(clicks):.0f} ms."]
    met = [shape for label, shape, runs in rows_http if label == "SQLite" and meets_target(median_run(runs))]
    every = [shape for label, shape, runs in rows_http if label == "SQLite" and all(map(meets_target, runs))]
    lines += ["", "Target (issue 7): ≥ 1 000 progress writes/s with p99 < 50 ms on SQLite over HTTP. "
              + (f"Met (median of the runs) by `sachnoi serve` with {', '.join(met)} (processes × threads)"
                 + (f"; in every run by {', '.join(every)}." if every else "; by no shape in every run.")
                 if met else "Not met in this run by any server shape measured.")
              + " Click-to-first-audio target < 1 s."]
    lines += ["", f"Load average when the run ended: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work "
              "shares the machine; absolute figures scale with it).", "",
              "Segment delivery (direct, X-Accel-Redirect, auth-request, plain nginx) is measured by "
              "`benchmarks/bench_segments.py` (section below)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
