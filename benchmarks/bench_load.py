"""Load benchmark (loopback only, bounded in time): N simulated listeners against a real `sachnoi serve`.

Each listener fetches the master and media playlists, then one 6 s segment every 6 s (its bitrate's
pace) and writes its progress every 10 s, while a produce (mastering) job and an online backup run.
Reports error rate, p50/p99 per request kind, and whether any acknowledged progress write was lost
(the database is read after the run: every listener's row must be at or past its last 200).

    .venv/bin/python benchmarks/bench_load.py --listeners 1000 --duration 60 [--write-docs]

Listeners are scheduled on a thread pool (a heap of due times), not 1000 threads; sessions are
signed cookies made with the instance's key, so 1000 argon2 logins do not dominate the run.
"""
from __future__ import annotations

import argparse
import heapq
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "security"))

SEGMENT_S, PROGRESS_S = 6.0, 10.0


def percentile(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def make_listeners(world, n: int):
    """n reader accounts (one shared precomputed hash) and, for each, a session cookie + CSRF header."""
    from flask_wtf.csrf import generate_csrf  # noqa: F401  (same serializer settings as the app)
    from itsdangerous import URLSafeTimedSerializer
    from sqlalchemy import select
    from catalog.db import make_engine, make_sessionmaker
    from catalog.models import User
    from web.app import create_app
    app = create_app(world.settings())
    sessions = make_sessionmaker(make_engine(app.config["DATABASE_URL"]))
    with sessions.begin() as s:
        template = s.scalar(select(User).where(User.username == "bandoc"))
        rows = [User(username=f"nghe{i:04d}", password_hash=template.password_hash, role="reader",
                     library_id=template.library_id, display_name=f"Người nghe {i}") for i in range(n)]
        s.add_all(rows)
        s.flush()
        ids = [r.id for r in rows]
    signer = app.session_interface.get_signing_serializer(app)
    csrf_signer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="wtf-csrf-token")
    listeners = []
    for uid in ids:
        raw = os.urandom(20).hex()
        cookie = signer.dumps({"_user_id": f"{uid}:1", "_fresh": True, "csrf_token": raw})
        listeners.append({"id": uid, "cookie": cookie, "csrf": csrf_signer.dumps(raw), "seq": 0, "pos": 0.0,
                          "acked": 0.0, "segment": 0})
    app.extensions["sachnoi"].engine.dispose()
    return listeners


def run(listeners_n: int, duration_s: float, workers: int, keep: bool) -> dict:
    from security_world import SECRET, build_world
    from test_crash_safety import Server
    tmp = Path(tempfile.mkdtemp(prefix="sachnoi-load-"))
    world = build_world(tmp / "instance")
    # the test book is 20 s; make it long enough for the run
    from sqlalchemy import update
    from catalog.db import make_engine
    from catalog.models import Book
    engine = make_engine(f"sqlite:///{world.home / 'sachnoi.db'}")
    with engine.begin() as conn:
        conn.execute(update(Book).values(duration_s=36000.0))
    engine.dispose()
    listeners = make_listeners(world, listeners_n)
    server = Server(world.home, threads=workers)
    book = world.ids["book"]
    base = server.url
    from streaming import tokens
    token = tokens.issue(SECRET, book_id=book, subject=tokens.PUBLIC, ttl_s=3600)
    stats = {"playlist": [], "segment": [], "progress": []}
    errors = {"playlist": 0, "segment": 0, "progress": 0}
    lock = threading.Lock()
    local = threading.local()

    def http():
        if not hasattr(local, "s"):
            local.s = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=4)
            local.s.mount("http://", adapter)
        return local.s

    def timed(kind, fn):
        t0 = time.perf_counter()
        try:
            r = fn()
            ok = r.status_code == 200
            r.content
            if not ok and kind == "progress" and not errors[kind]:
                print("first progress error:", r.status_code, r.text[:200], file=sys.stderr)
        except requests.RequestException:
            ok, r = False, None
        dt_ms = (time.perf_counter() - t0) * 1000
        with lock:
            stats[kind].append(dt_ms)
            if not ok:
                errors[kind] += 1
        return ok

    def step(listener, what):
        s = http()
        s.cookies.clear()  # the session is shared by listeners on this thread: send only this listener's cookie
        cookies = {"session": listener["cookie"]}
        if what == "start":
            timed("playlist", lambda: s.get(f"{base}/books/{book}/hls/master.m3u8", params={"t": token},
                                            cookies=cookies, timeout=30))
            timed("playlist", lambda: s.get(f"{base}/books/{book}/hls/aac-64k/index.m3u8", params={"t": token},
                                            cookies=cookies, timeout=30))
        elif what == "segment":
            timed("segment", lambda: s.get(f"{base}/books/{book}/hls/aac-64k/seg_000.m4s", params={"t": token},
                                           cookies=cookies, timeout=30))
        elif what == "progress":
            listener["seq"] += 1
            listener["pos"] += PROGRESS_S
            pos = listener["pos"]
            ok = timed("progress", lambda: s.put(
                f"{base}/api/books/{book}/progress", cookies=cookies, timeout=30,
                headers={"X-CSRFToken": listener["csrf"]},
                json={"position_s": pos, "event_time_ms": int(time.time() * 1000), "seq": listener["seq"],
                      "device_id": f"bench-{listener['id']}"}))
            if ok:
                listener["acked"] = max(listener["acked"], pos)

    heap = []
    start = time.monotonic()
    ramp = min(10.0, duration_s / 3)
    for i, listener in enumerate(listeners):
        t = start + ramp * i / max(1, len(listeners))
        heapq.heappush(heap, (t, i, "start"))
        heapq.heappush(heap, (t + 0.01, i, "segment"))
        heapq.heappush(heap, (t + PROGRESS_S, i, "progress"))
    side = {}

    def side_jobs():
        from catalog.backup import backup
        from studio.context import Context, Decisions
        from studio.worker import Worker, enqueue_produce
        from web.cli_core import make_context
        from web.config import load_settings
        time.sleep(ramp)
        ctx = make_context(load_settings(world.settings()))
        t0 = time.monotonic()
        try:
            enqueue_produce(ctx, world.ids["draft"], Decisions(approve_marks=True, accept_qc_failures=True))
            Worker(ctx, lease_s=60).run_once()
            side["mastering_s"] = round(time.monotonic() - t0, 2)
        except Exception as exc:  # reported, not fatal to the load run
            side["mastering_error"] = repr(exc)[:200]
        t0 = time.monotonic()
        report = backup(ctx.settings["DATABASE_URL"], ctx.settings["MEDIA_ROOT"], tmp / "backup")
        side["backup_s"] = round(time.monotonic() - t0, 2)
        side["backup_integrity"] = report.integrity

    side_thread = threading.Thread(target=side_jobs)
    side_thread.start()
    end = start + duration_s
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = set()
        while heap and heap[0][0] < end:
            due, i, what = heapq.heappop(heap)
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(min(delay, 0.05))
                heapq.heappush(heap, (due, i, what))
                continue
            pending.add(pool.submit(step, listeners[i], what))
            pending = {f for f in pending if not f.done()}
            if what == "segment":
                heapq.heappush(heap, (due + SEGMENT_S, i, "segment"))
            elif what == "progress":
                heapq.heappush(heap, (due + PROGRESS_S, i, "progress"))
    side_thread.join()
    server.kill()
    # lost writes: compare every listener's last acknowledged position with the database
    from sqlalchemy import select
    from catalog.models import Progress
    engine = make_engine(f"sqlite:///{world.home / 'sachnoi.db'}")
    with engine.connect() as conn:
        stored = dict(conn.execute(select(Progress.user_id, Progress.position_s)).all())
    engine.dispose()
    lost = sum(1 for l in listeners if l["acked"] > 0 and stored.get(l["id"], -1) < l["acked"])
    if not keep:
        shutil.rmtree(tmp, ignore_errors=True)
    total = sum(len(v) for v in stats.values())
    result = {"listeners": listeners_n, "duration_s": duration_s, "requests": total,
              "errors": sum(errors.values()), "error_rate": sum(errors.values()) / max(1, total),
              "lost_writes": lost, **side}
    for kind, values in stats.items():
        result[kind] = {"n": len(values), "errors": errors[kind], "p50_ms": round(percentile(values, 50), 1),
                        "p99_ms": round(percentile(values, 99), 1),
                        "mean_ms": round(statistics.fmean(values), 1) if values else None}
    return result


def write_docs(result: dict) -> None:
    lines = ["## Load", "",
             f"`benchmarks/bench_load.py --listeners {result['listeners']} --duration {result['duration_s']:.0f}` "
             f"(loopback, `sachnoi serve` with waitress, SQLite WAL; a produce job and an online backup run "
             f"during the load). Targets: zero errors, zero lost writes, progress p99 < 250 ms, segment p99 < 500 ms.",
             "", "| kind | requests | errors | p50 ms | p99 ms |", "|---|---|---|---|---|"]
    for kind in ("playlist", "segment", "progress"):
        k = result[kind]
        lines.append(f"| {kind} | {k['n']} | {k['errors']} | {k['p50_ms']} | {k['p99_ms']} |")
    lines += ["", f"Error rate {result['error_rate']:.4%}; lost acknowledged progress writes: "
                  f"**{result['lost_writes']}**; mastering job {result.get('mastering_s', result.get('mastering_error'))} s; "
                  f"backup {result.get('backup_s')} s (integrity_check {result.get('backup_integrity')}).", ""]
    from docsection import write_section
    write_section("## Load", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=48, help="client threads (and server threads)")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    result = run(args.listeners, args.duration, args.workers, args.keep)
    import json
    print(json.dumps(result, indent=2))
    if args.write_docs:
        write_docs(result)


if __name__ == "__main__":
    main()
