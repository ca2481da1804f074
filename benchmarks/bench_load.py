"""Load benchmark (loopback only, bounded in time): N simulated listeners against a real deployment.

Each listener fetches the master and media playlists, then the next 6 s segment every 6 s (its
bitrate's pace, 64 kbps fMP4 segments of ~48 KB) and writes its progress every 10 s, while a produce
job (mastering + packaging a long take, run by the server's own job worker) and an online backup
(`sachnoi backup`, a separate process) run. Reports error rate, p50/p99 per request kind, and
whether any acknowledged progress write was lost (after the run every listener's stored position
must be at or past its last acknowledged one).

Two deployments are measured, one after the other:

- `embedded`: `sachnoi serve` as installed by `make run` (one process, media sent by the app);
- `nginx`: the deployment docs/nginx.conf describes: nginx in front, `sachnoi serve --processes 2`,
  `MEDIA_SERVE_MODE = "auth-request"` (nginx asks the app once per media token and sends the files).

    .venv/bin/python benchmarks/bench_load.py --listeners 1000 --duration 60 [--runs 5]
        [--only nginx|embedded|both] [--write-docs]

The client is one asyncio event loop with aiohttp (C-accelerated HTTP parsing), so 1 000 listeners
cost the shared two cores little; sessions are signed cookies made with the instance's key, so
1 000 argon2 logins do not dominate the run.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests" / "security"))
sys.path.insert(0, str(ROOT / "tests" / "reader"))

from bench_streaming import BENCH_UA  # noqa: E402

SEGMENT_S, PROGRESS_S = 6.0, 10.0
SACHNOI = str(Path(sys.executable).with_name("sachnoi"))
KINDS = ("playlist", "segment", "progress")


def percentile(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


# -- the instance -----------------------------------------------------------------------------------
def prepare(home: Path, listeners_n: int, take_minutes: float):
    """The security tests' world, with a 10 h public book carrying real HLS segments, a draft with a
    long take to master, and `listeners_n` reader accounts with signed session cookies."""
    import hashlib

    import numpy as np
    import soundfile as sf
    from sqlalchemy import select, update

    from bench_streaming import login_cookies, make_hls
    from catalog.db import make_engine, make_sessionmaker
    from catalog.models import Book, Mark, Original, RecordingSession, Take, User
    from recordings.store import MediaStore
    from security_world import SECRET, build_world
    from web.app import create_app

    world = build_world(home)
    store = MediaStore(home / "media")
    hls = home.parent / "hls-fixture"
    make_hls(hls, seconds=60)
    target = store.path(f"derived/books/{world.ids['book_uuid']}/hls")
    shutil.rmtree(target)
    shutil.copytree(hls, target)
    segments = sorted(p.name for p in (target / "aac-64k").glob("seg_*.m4s"))

    # A long take for the draft: speech-like bursts of noise with pauses, 44.1 kHz mono like the
    # world's first take (a book's chapters share one rate).
    rate = 44100
    rng = np.random.default_rng(7)
    take = home.parent / "long-take.flac"
    with sf.SoundFile(take, "w", rate, 1, subtype="PCM_24") as out:
        for _ in range(int(take_minutes * 60 / 4)):
            burst = rng.standard_normal(3 * rate) * 0.05 * np.hanning(3 * rate)
            out.write(np.concatenate([burst, rng.standard_normal(rate) * 0.0005]).astype("float32"))
    data = take.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    store.write_bytes(store.original_key(digest, "flac"), data)

    app = create_app(world.settings())
    engine = make_engine(app.config["DATABASE_URL"])
    sessions = make_sessionmaker(engine)
    with sessions.begin() as s:
        s.execute(update(Book).where(Book.id == world.ids["book"]).values(duration_s=36000.0))
        s.add(Original(sha256=digest, size_bytes=len(data), filename="long-take.flac", format="FLAC",
                       sample_rate=rate, channels=1, frames=int(take_minutes * 60) * rate))
        session = RecordingSession(book_id=world.ids["draft"], name="Buổi dài", position=2, source="upload")
        s.add(session)
        s.flush()
        long_take = Take(session_id=session.id, position=1, original_sha256=digest, filename="long-take.flac",
                         duration_s=take_minutes * 60)
        s.add(long_take)
        s.flush()
        s.add(Mark(book_id=world.ids["draft"], take_id=long_take.id, kind="chapter", start_s=0.0,
                   title="Chương dài", source="manual"))
        template = s.scalar(select(User).where(User.username == "bandoc"))
        rows = [User(username=f"nghe{i:04d}", password_hash=template.password_hash, role="reader",
                     library_id=template.library_id, display_name=f"Người nghe {i}") for i in range(listeners_n)]
        s.add_all(rows)
        s.flush()
        ids = [r.id for r in rows]
    engine.dispose()
    listeners = [{"id": uid, "cookie": cookie, "csrf": csrf, "seq": 0, "pos": 0.0, "acked": 0.0}
                 for uid, (cookie, csrf) in zip(ids, login_cookies(SECRET, ids))]
    app.extensions["sachnoi"].engine.dispose()
    return world, listeners, segments


# -- deployments ----------------------------------------------------------------------------------
def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    import urllib.request
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not become healthy: {log.read_text(errors='replace')[-2000:]}")


class Deployment:
    """`sachnoi serve` (and nginx for the `nginx` kind) on free loopback ports; `.url` is the entry point."""

    def __init__(self, kind: str, world, tmp: Path):
        from nginx_sample import NginxProcess, free_port, render_site
        from security_world import SECRET
        self.kind, self.nginx = kind, None
        app_port = free_port()
        env = {**os.environ, "SACHNOI_HOME": str(world.home), "SACHNOI_SECRET_KEY": SECRET}
        command = [SACHNOI, "serve", "--port", str(app_port)]
        if kind == "nginx":
            key = "load-" + os.urandom(8).hex()
            env.update(SACHNOI_MEDIA_SERVE_MODE="auth-request", SACHNOI_MEDIA_AUTHZ_KEY=key,
                       SACHNOI_TRUST_PROXY="true")
            command += ["--processes", "2"]
        self.log = tmp / f"serve-{kind}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        app_url = f"http://127.0.0.1:{app_port}"
        try:
            _wait_healthy(app_url, self.proc, self.log)
        except RuntimeError:
            self.close()
            raise
        self.url = app_url
        if kind == "nginx":
            port = free_port()
            site = render_site(mode="auth-request", media_root=world.home / "media",
                               app_address=f"127.0.0.1:{app_port}", port=port, key=key, tmp=tmp)
            # each proxied request holds a client and an upstream connection
            self.nginx = NginxProcess(tmp, site, worker_connections=8192)
            self.nginx.__enter__()
            self.url = f"http://127.0.0.1:{port}"

    def close(self) -> None:
        if self.nginx is not None:
            self.nginx.__exit__(None, None, None)
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


# -- the listeners --------------------------------------------------------------------------------
async def drive(base: str, book: int, token: str, listeners: list[dict], segments: list[str],
                duration_s: float, connections: int) -> tuple[dict, dict]:
    import aiohttp
    stats = {k: [] for k in KINDS}
    errors = {k: 0 for k in KINDS}
    timeline: list[tuple] = []
    first_error: dict[str, str] = {}
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     cookie_jar=aiohttp.DummyCookieJar()) as http:
        async def timed(kind: str, method: str, url: str, **kw) -> bool:
            started = time.perf_counter()
            ok = False
            try:
                async with http.request(method, url, **kw) as answer:
                    await answer.read()
                    ok = answer.status == 200
                    if not ok and kind not in first_error:
                        first_error[kind] = f"{answer.status} {url}"
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                first_error.setdefault(kind, repr(exc)[:200])
            stats[kind].append((time.perf_counter() - started) * 1000)
            timeline.append((started, kind, stats[kind][-1], ok))
            errors[kind] += not ok
            return ok

        async def listener(i: int, person: dict, start: float, end: float) -> None:
            await asyncio.sleep(max(0.0, start - time.monotonic()))
            headers = {"Cookie": f"session={person['cookie']}", "User-Agent": BENCH_UA}
            hls = f"{base}/books/{book}/hls"
            await timed("playlist", "GET", f"{hls}/master.m3u8?t={token}", headers=headers)
            await timed("playlist", "GET", f"{hls}/aac-64k/index.m3u8?t={token}", headers=headers)
            next_segment, next_progress, n = time.monotonic(), time.monotonic() + PROGRESS_S, i
            while True:
                due = min(next_segment, next_progress)
                if due >= end:
                    return
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if next_segment <= next_progress:
                    name = segments[n % len(segments)]
                    n += 1
                    await timed("segment", "GET", f"{hls}/aac-64k/{name}?t={token}", headers=headers)
                    next_segment += SEGMENT_S
                else:
                    person["seq"] += 1
                    person["pos"] += PROGRESS_S
                    position = person["pos"]
                    body = {"position_s": position, "event_time_ms": int(time.time() * 1000),
                            "seq": person["seq"], "device_id": f"bench-{person['id']}", "listened_s": PROGRESS_S}
                    if await timed("progress", "PUT", f"{base}/api/books/{book}/progress", json=body,
                                   headers={**headers, "X-CSRFToken": person["csrf"]}):
                        person["acked"] = max(person["acked"], position)
                    next_progress += PROGRESS_S

        now = time.monotonic()
        ramp = min(10.0, duration_s / 3)
        end = now + duration_s
        await asyncio.gather(*(listener(i, p, now + ramp * i / len(listeners), end)
                               for i, p in enumerate(listeners)))
    return stats, {"errors": errors, "first_error": first_error, "timeline": timeline}


# -- the side work: a produce job in the server's worker and an online backup -----------------------
def side_work(world, tmp: Path, delay_s: float, out: dict) -> None:
    from sqlalchemy import select

    from catalog.db import make_engine
    from catalog.models import Job
    from studio.context import Decisions
    from studio.worker import enqueue_produce
    from web.runtime import make_context
    from web.config import load_settings
    time.sleep(delay_s)
    events = out.setdefault("events", [])
    settings = load_settings(world.settings())
    ctx = make_context(settings)
    started = time.monotonic()
    events.append((time.perf_counter(), "produce queued"))
    job_id = enqueue_produce(ctx, world.ids["draft"], Decisions(approve_marks=True, accept_qc_failures=True))
    env = {**os.environ, "SACHNOI_HOME": str(world.home)}
    backup_started = time.monotonic()
    events.append((time.perf_counter(), "backup started"))
    done = subprocess.run([SACHNOI, "backup", str(tmp / f"backup-{os.getpid()}-{time.time_ns()}"), "--quiet"],
                          env=env, capture_output=True, text=True)
    events.append((time.perf_counter(), "backup ended"))
    out["backup_s"] = round(time.monotonic() - backup_started, 2)
    out["backup_ok"] = done.returncode == 0 or done.stderr[-300:]
    engine = make_engine(settings["DATABASE_URL"])
    deadline = time.monotonic() + 600
    state = None
    stage = None
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            state = conn.execute(select(Job.state, Job.stage).where(Job.id == job_id)).first()
        if state and state[1] != stage:
            stage = state[1]
            events.append((time.perf_counter(), f"stage {stage}"))
        if state and state[0] in ("done", "failed", "cancelled"):
            break
        time.sleep(0.5)
    events.append((time.perf_counter(), f"produce {state[0] if state else 'unknown'}"))
    out["mastering_state"] = state[0] if state else None
    if state and state[0] != "done":
        with engine.connect() as conn:
            out["mastering_error"] = str(conn.execute(select(Job.error).where(Job.id == job_id)).scalar())[-300:]
    engine.dispose()
    out["mastering_s"] = round(time.monotonic() - started, 2)


def lost_writes(world, listeners: list[dict]) -> int:
    from sqlalchemy import select

    from catalog.db import make_engine
    from catalog.models import Progress
    engine = make_engine(f"sqlite:///{world.home / 'sachnoi.db'}")
    with engine.connect() as conn:
        stored = dict(conn.execute(select(Progress.user_id, Progress.position_s)).all())
    engine.dispose()
    return sum(1 for p in listeners if p["acked"] > 0 and stored.get(p["id"], -1) < p["acked"])


def pressure_sampler(stop: threading.Event, out: list, every_s: float = 0.25) -> None:
    """(perf_counter, I/O stall µs, CPU stall µs, wake-up delay ms) until `stop`: Linux PSI from
    /proc/pressure, and how late this idle thread of the client process woke. A wake-up seconds
    late means the client itself stood still, so every latency it measured then includes its own
    delay (seen here on the shared VM: seconds in which nginx's plain file answers, the progress
    writes and this thread were all late together)."""
    def total(name: str) -> int:
        try:
            line = Path(f"/proc/pressure/{name}").read_text().splitlines()[0]
        except OSError:
            return 0
        return int(line.rsplit("total=", 1)[1])
    due = time.perf_counter() + every_s
    while not stop.wait(max(0.0, due - time.perf_counter())):
        now = time.perf_counter()
        out.append((now, total("io"), total("cpu"), max(0.0, now - due) * 1000))
        due = now + every_s


def write_timeline(path: Path, problems: dict, side: dict, pressure: list) -> None:
    """Every request as `t_s,kind,ms,ok`, then `t_s,pressure,io_stall_ms,cpu_stall_ms,late_ms` per sample and
    `t_s,event,name` for the side work (t_s from the first request), for finding what a slow second shared."""
    timeline = problems["timeline"]
    t0 = min(t for t, *_ in timeline) if timeline else 0.0
    lines = ["t_s,kind,ms,ok"] + [f"{t - t0:.3f},{kind},{ms:.1f},{int(ok)}" for t, kind, ms, ok in timeline]
    lines += [f"{t - t0:.3f},pressure,{(io - io0) / 1000:.1f},{(cpu - cpu0) / 1000:.1f},{late:.1f}"
              for (t, io, cpu, late), (_, io0, cpu0, _late) in zip(pressure[1:], pressure)]
    lines += [f"{t - t0:.3f},event,{name}" for t, name in side.get("events", [])]
    path.write_text("\n".join(lines) + "\n")


def run(kind: str, listeners_n: int, duration_s: float, take_minutes: float, connections: int,
        timeline: Path | None = None) -> dict:
    from security_world import SECRET
    from streaming import tokens
    tmp = Path(tempfile.mkdtemp(prefix=f"sachnoi-load-{kind}-"))
    tmp.chmod(0o755)  # nginx workers may run as another user
    try:
        world, listeners, segments = prepare(tmp / "instance", listeners_n, take_minutes)
        (tmp / "instance").chmod(0o755)
        deployment = Deployment(kind, world, tmp)
        side: dict = {}
        try:
            token = tokens.issue(SECRET, book_id=world.ids["book"], subject=tokens.PUBLIC, ttl_s=3600)
            helper = threading.Thread(target=side_work, args=(world, tmp, min(10.0, duration_s / 3), side))
            helper.start()
            pressure, sampling = [], threading.Event()
            sampler = threading.Thread(target=pressure_sampler, args=(sampling, pressure), daemon=True)
            sampler.start()
            load_started = time.monotonic()
            stats, problems = asyncio.run(drive(deployment.url, world.ids["book"], token, listeners, segments,
                                                duration_s, connections))
            load_s = time.monotonic() - load_started
            helper.join()
            sampling.set()
            if timeline is not None:
                write_timeline(timeline, problems, side, pressure)
            loadavg = os.getloadavg()[0]
        finally:
            deployment.close()
        lost = lost_writes(world, listeners)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = sum(len(v) for v in stats.values())
    errors = sum(problems["errors"].values())
    result = {"deployment": kind, "listeners": listeners_n, "duration_s": duration_s, "load_s": round(load_s, 1),
              "requests": total, "errors": errors, "error_rate": errors / max(1, total), "lost_writes": lost,
              "first_error": problems["first_error"], "connections": connections, "loadavg": round(loadavg, 1),
              "client_stall_max_ms": round(max((late for *_, late in pressure), default=0.0)),
              "client_stalls_over_100ms": sum(late > 100 for *_, late in pressure),
              **{k: v for k, v in side.items() if k != "events"}}
    for k, values in stats.items():
        result[k] = {"n": len(values), "errors": problems["errors"][k], "p50_ms": round(percentile(values, 50), 1),
                     "p99_ms": round(percentile(values, 99), 1), "max_ms": round(max(values), 1) if values else None,
                     "mean_ms": round(statistics.fmean(values), 1) if values else None}
    return result


def summary(runs: list[dict]) -> dict:
    """One deployment's runs: per request kind the summed counts, the median of the runs' p50 and
    p99, the worst p99 and max; lost writes and errors summed."""
    out = {"deployment": runs[0]["deployment"], "runs": len(runs), "errors": sum(r["errors"] for r in runs),
           "lost_writes": sum(r["lost_writes"] for r in runs), "requests": sum(r["requests"] for r in runs)}
    for k in KINDS:
        rows = [r[k] for r in runs]
        out[k] = {"n": sum(x["n"] for x in rows), "errors": sum(x["errors"] for x in rows),
                  "p50_ms": round(statistics.median(x["p50_ms"] for x in rows), 1),
                  "p99_ms": round(statistics.median(x["p99_ms"] for x in rows), 1),
                  "p99_each": [x["p99_ms"] for x in rows], "max_ms": max(x["max_ms"] or 0 for x in rows)}
    return out


def write_docs(results: list[dict], take_minutes: float) -> None:
    from docsection import write_section
    first = results[0]
    runs = len([r for r in results if r["deployment"] == first["deployment"]])
    lines = ["## Load", "",
             f"`benchmarks/bench_load.py --listeners {first['listeners']} --duration {first['duration_s']:.0f} "
             f"--runs {runs}` "
             f"(loopback, SQLite WAL, 2 shared cores; each listener fetches playlists, then a 64 kbps 6 s "
             f"segment every 6 s and writes its progress every 10 s; during the load the server's job worker "
             f"masters and packages a {take_minutes:.0f}-minute take and `sachnoi backup` runs). Client: one "
             f"asyncio loop with aiohttp, at most {', '.join(sorted({str(r['connections']) for r in results}))} "
             f"connections. Each deployment ran {runs} time(s), each on a fresh instance: p50 and p99 are the "
             f"median of the runs, with every run's p99 listed; max is the worst of all runs. Targets: zero "
             f"errors, zero lost writes, progress p99 < 250 ms, segment p99 < 500 ms.", "",
             "| deployment | kind | requests | errors | p50 ms | p99 ms | p99 ms of each run | max ms |",
             "|---|---|---|---|---|---|---|---|"]
    names = {"embedded": "embedded default (`sachnoi serve`, 1 process, app sends media)",
             "nginx": "nginx + `sachnoi serve --processes 2`, auth-request media"}
    kinds = [d for d in ("embedded", "nginx") if any(r["deployment"] == d for r in results)]
    for kind in kinds:
        s = summary([r for r in results if r["deployment"] == kind])
        for k in KINDS:
            row = s[k]
            lines.append(f"| {names[kind]} | {k} | {row['n']} | {row['errors']} | {row['p50_ms']} | "
                         f"{row['p99_ms']} | {', '.join(str(x) for x in row['p99_each'])} | {row['max_ms']} |")
    lines.append("")
    for r in results:
        lines.append(f"- {names[r['deployment']]}: {r['requests']} requests, error rate {r['error_rate']:.4%}; lost "
                     f"acknowledged progress writes **{r['lost_writes']}**; produce job {r.get('mastering_state')} "
                     f"after {r.get('mastering_s')} s; backup {r.get('backup_s')} s (ok: {r.get('backup_ok')}); "
                     f"load average at the end {r['loadavg']}; client stalls (an idle thread of the client woke "
                     f"> 100 ms late) {r['client_stalls_over_100ms']}, longest {r['client_stall_max_ms']} ms.")
    write_section("## Load", "\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--take-minutes", type=float, default=30.0, help="length of the take mastered meanwhile")
    parser.add_argument("--connections", type=int, default=0,
                        help="client connection limit (default: one per listener behind nginx; 800 for the "
                             "embedded server, whose waitress accepts 900)")
    parser.add_argument("--only", choices=("embedded", "nginx", "both"), default="nginx",
                        help="deployment(s) to load (default nginx; the embedded default does not hold 1 000 "
                             "listeners, see docs/benchmarks.md)")
    parser.add_argument("--runs", type=int, default=1, help="runs per deployment, each on a fresh instance")
    parser.add_argument("--timeline", type=Path, help="folder for one CSV per run: every request's start and "
                        "latency, I/O and CPU stall time (/proc/pressure) and the side work's events")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    results = []
    for kind in (["embedded", "nginx"] if args.only == "both" else [args.only]):
        connections = args.connections or (args.listeners if kind == "nginx" else min(args.listeners, 800))
        for n in range(args.runs):
            timeline = None
            if args.timeline:
                args.timeline.mkdir(parents=True, exist_ok=True)
                timeline = args.timeline / f"{kind}-{n + 1}.csv"
            result = run(kind, args.listeners, args.duration, args.take_minutes, connections, timeline)
            print(json.dumps(result, indent=2), flush=True)
            results.append(result)
    if args.write_docs:
        write_docs(results, args.take_minutes)


if __name__ == "__main__":
    main()
