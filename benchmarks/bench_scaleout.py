"""Scale-out: a 60-minute book in 12 chapters produced by 1 and by 2 worker processes over RabbitMQ
with media on the Ceph S3 gateway (RGW), against the embedded default (SQLite, local media,
in-process jobs).

Per configuration: wall time from `sachnoi ingest` to the book published; CPU (user + sys, by
wait4, so ffmpeg children count) of the worker processes and of the ingesting process; bytes
moved to and from the store and the broker (counted per machine by the forwarder of
tests/services/cluster.py); and, against the embedded default, the added CPU per chapter. The
worker machines are network namespaces when `ip netns` works (root), else processes.
Writes the "Scale-out" section of docs/benchmarks.md.

Run: .venv/bin/python benchmarks/bench_scaleout.py [--minutes 60] [--chapters 12] [--rounds 1]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from docsection import write_section  # noqa: E402
from procstat import cpu_seconds  # noqa: E402
from services.cluster import Cluster, fresh_database, rabbitmq_vhost  # noqa: E402

PG_ADMIN = os.environ.get("SACHNOI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test").rsplit("/", 1)[0] \
    + "/postgres"
SECRET = "bench-scaleout-" + "k" * 40
HEADING = "## Scale-out: workers over RabbitMQ, media on S3 (RGW)"


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("SACHNOI_", "AWS_"))} | \
        {"SACHNOI_SECRET_KEY": SECRET}


def embedded(session: Path, work: Path) -> dict:
    """The embedded default: `sachnoi ingest --publish` in one process (its in-process workers)."""
    cluster = Cluster(work, base_env(), use_netns=False)
    try:
        machine = cluster.machine("embedded")
        started = time.monotonic()
        machine.start(["ingest", str(session), "--publish", "--accept-qc", "--quiet"])
        while machine.alive():
            time.sleep(0.1)
        wall = time.monotonic() - started
        machine.stop()
        assert machine.exit_status == 0, machine.tail()
        return {"wall_s": wall, "worker_cpu_s": machine.cpu_s, "ingest_cpu_s": 0.0, "store_up": 0,
                "store_down": 0, "broker": 0}
    finally:
        cluster.close()


def server_pids(name: str) -> list[int]:
    """Processes whose command name is `name` (RabbitMQ's Erlang VM is `beam.smp`)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == name:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def distributed(session: Path, work: Path, workers: int, s3: dict) -> dict:
    import boto3
    import psycopg
    db_url, drop_db = fresh_database(PG_ADMIN)
    broker_url, drop_vhost = rabbitmq_vhost()
    bucket = "bench-" + os.urandom(4).hex()
    client = boto3.client("s3", endpoint_url=s3["endpoint"], region_name="us-east-1",
                          aws_access_key_id=s3["access_key"], aws_secret_access_key=s3["secret_key"])
    client.create_bucket(Bucket=bucket)
    env = base_env() | {"SACHNOI_DATABASE_URL": db_url, "SACHNOI_BROKER_URL": broker_url,
                        "SACHNOI_MEDIA_URL": f"s3://{bucket}", "SACHNOI_S3_ENDPOINT_URL": s3["endpoint"],
                        "SACHNOI_RUN_WORKERS": "false",
                        "AWS_ACCESS_KEY_ID": s3["access_key"], "AWS_SECRET_ACCESS_KEY": s3["secret_key"]}
    cluster = Cluster(work, env)
    try:
        app = cluster.machine("app")
        done = app.run(["db", "upgrade"])
        assert done.returncode == 0, done.stdout + done.stderr
        pool = [cluster.machine("worker") for _ in range(workers)]
        for machine in pool:
            machine.start(["worker", "--quiet"])
        time.sleep(3.0)  # the workers' start-up (imports, broker connection) is not the book's time
        rabbit = server_pids("beam.smp")
        servers_before = cpu_seconds(s3["pids"]), cpu_seconds(rabbit)
        started = time.monotonic()
        app.start(["ingest", str(session), "--queue", "--publish", "--accept-qc", "--quiet"])
        seen: dict[tuple[str, str], float] = {}  # (part, state) → seconds after the ingest started
        with psycopg.connect(db_url, autocommit=True) as db:
            while True:
                row = db.execute("SELECT state FROM books ORDER BY id DESC LIMIT 1").fetchone()
                for phase, name, state in db.execute("SELECT phase, name, state FROM job_parts"):
                    seen.setdefault((f"{phase}:{name}", state), time.monotonic() - started)
                if row and row[0] == "published":
                    break
                failed = db.execute("SELECT count(*) FROM jobs WHERE state = 'failed'").fetchone()[0]
                assert not failed, "a job failed:\n" + "\n".join(m.tail() for m in pool)
                assert all(m.alive() for m in pool), "\n".join(m.tail() for m in pool)
                time.sleep(0.2)
        wall = time.monotonic() - started
        store_cpu, broker_cpu = cpu_seconds(s3["pids"]) - servers_before[0], cpu_seconds(rabbit) - servers_before[1]
        app.stop()
        for machine in pool:
            machine.stop()
        s3_port = int(s3["endpoint"].rsplit(":", 1)[1].split("/")[0])
        amqp_port = 5672
        moved = {"store_up": 0, "store_down": 0, "broker": 0}
        for machine in [app, *pool]:
            counts = cluster.forwarder.bytes_for(machine.address)
            moved["store_up"] += counts.get(s3_port, {}).get("up", 0)
            moved["store_down"] += counts.get(s3_port, {}).get("down", 0)
            moved["broker"] += sum(counts.get(amqp_port, {}).values())
        return {"wall_s": wall, "worker_cpu_s": sum(m.cpu_s or 0.0 for m in pool), "ingest_cpu_s": app.cpu_s,
                "phases": phases(seen, wall),
                "mode": cluster.mode, "store_server_cpu_s": store_cpu, "broker_server_cpu_s": broker_cpu, **moved}
    finally:
        cluster.close()
        drop_vhost()
        drop_db()
        # RGW's memstore OSD keeps objects in RAM: empty the bucket before the next run
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        client.delete_bucket(Bucket=bucket)


def phases(seen: dict[tuple[str, str], float], wall_s: float) -> dict[str, float]:
    """Where the wall time went (s after the ingest started, within the 0,2 s of the poll): per phase
    of parts, when its first part was seen running and its last seen done; then the book published."""
    out: dict[str, float] = {}
    for (part, state), t in sorted(seen.items(), key=lambda item: item[1]):
        phase = part.split(":", 1)[0]
        if state == "running":
            out.setdefault(f"{phase}_started", t)
        elif state == "done":
            out[f"{phase}_done"] = t
    return out | {"published": wall_s}


def configs_needed(args) -> bool:
    return bool([c for c in args.configs.split(",") if c])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--chapters", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--configs", default="embedded,1,2",
                        help="embedded and/or worker counts; empty: only report what --results holds")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--results", type=Path, default=None,
                        help="JSON file of earlier runs to add to (configurations measured at different times)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-scaleout-"))
    rgw = None
    try:
        from services.cluster import write_session
        session = work / "session" if not configs_needed(args) else write_session(work / "session", args.minutes * 60 / args.chapters, args.chapters,
                                takes=max(1, args.chapters // 3), title="Sách một giờ")
        configs = [c for c in args.configs.split(",") if c]
        s3: dict = {}
        if any(c != "embedded" for c in configs):
            from rgw_server import start_rgw
            rgw = start_rgw(work / "rgw")
            s3 = {"endpoint": rgw.endpoint, "access_key": rgw.access_key, "secret_key": rgw.secret_key,
                  "pids": rgw.pids}
        runs: dict[str, list[dict]] = {c: [] for c in configs}
        if args.results and args.results.exists():
            for config, results in json.loads(args.results.read_text()).items():
                runs.setdefault(config, []).extend(results)
        load = [os.getloadavg()[0]]
        for r in range(args.rounds):
            for config in configs:
                target = work / f"{config}-{r}"
                result = embedded(session, target) if config == "embedded" else \
                    distributed(session, target, int(config), s3)
                shutil.rmtree(target, ignore_errors=True)
                result["load"] = os.getloadavg()[0]
                load.append(result["load"])
                runs[config].append(result)
                if args.results:
                    args.results.write_text(json.dumps(runs, indent=1))
                print(config, {k: (round(v, 2) if isinstance(v, float) else v) for k, v in result.items()},
                      flush=True)
        load += [r["load"] for results in runs.values() for r in results]
        body = report(runs, args, load)
        print(body)
        if not args.no_write:
            write_section(HEADING, body)
        return 0
    finally:
        if rgw is not None:
            rgw.stop()
        shutil.rmtree(work, ignore_errors=True)


def fmt(value: float) -> str:
    return "—" if value != value else f"{value:.1f}"  # NaN: not measured in that run


def report(runs: dict[str, list[dict]], args, load: list[float]) -> str:
    def med(config: str, key: str) -> float:
        values = [r[key] for r in runs[config] if key in r]
        return statistics.median(values) if values else float("nan")

    runs = {c: r for c, r in sorted(runs.items(), key=lambda item: (item[0] != "embedded", item[0])) if r}

    mb = 1e6
    lines = [HEADING, "",
             f"`.venv/bin/python benchmarks/bench_scaleout.py --minutes {args.minutes:g} --chapters {args.chapters} "
             f"--rounds {args.rounds}` (configurations: {', '.join(runs)}) — a {args.minutes:g}-minute book in "
             f"{args.chapters} chapters (the mastering benchmark's synthetic narration, 44.1 kHz 24-bit WAV, "
             f"{max(1, args.chapters // 3)} takes) from `sachnoi ingest` to published. Embedded: one `sachnoi ingest "
             "--publish` process (SQLite, local media, the stages run in the foreground by `run_stages`, "
             "encodes `WORKERS` = 2 at a time). "
             "Distributed: `sachnoi ingest --queue` on an app machine, N `sachnoi worker` machines (one thread "
             "each) over RabbitMQ, PostgreSQL, media on Ceph RGW "
             f"({next((r['mode'] for c in runs if c != 'embedded' for r in runs[c]), 'n/a')}). CPU is user + sys "
             "of the processes and their ffmpeg children (wait4); bytes are counted per machine at the forwarder. "
             f"Medians of {', '.join(f'{len(r)} run(s) {c}' for c, r in runs.items())}.", "",
             "| configuration | wall s | speed-up | worker CPU s | ingest CPU s | total CPU s | store up MB | "
             "store down MB | broker kB | RGW CPU s | RabbitMQ CPU s | load at end |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    one = "1" if "1" in runs else None
    for config in runs:
        name = "embedded default" if config == "embedded" else f"{config} worker(s), RabbitMQ + RGW"
        speed = f"{med(one, 'wall_s') / med(config, 'wall_s'):.2f}×" if one else "—"
        total = med(config, "worker_cpu_s") + med(config, "ingest_cpu_s")
        lines.append(f"| {name} | {med(config, 'wall_s'):.1f} | {speed} | {med(config, 'worker_cpu_s'):.1f} | "
                     f"{med(config, 'ingest_cpu_s'):.1f} | {total:.1f} | {med(config, 'store_up') / mb:.0f} | "
                     f"{med(config, 'store_down') / mb:.0f} | {med(config, 'broker') / 1e3:.0f} | "
                     f"{fmt(med(config, 'store_server_cpu_s'))} | {fmt(med(config, 'broker_server_cpu_s'))} | "
                     f"{med(config, 'load'):.1f} |")
    lines.append("")
    if "embedded" in runs and one:
        base = med("embedded", "worker_cpu_s")
        added = med(one, "worker_cpu_s") + med(one, "ingest_cpu_s") - base
        lines.append(f"Added by the broker and the store, one worker against the embedded default: "
                     f"{added:+.1f} CPU s for the book ({added / base * 100:+.1f} %), "
                     f"{added / args.chapters:+.2f} CPU s and "
                     f"{(med(one, 'store_up') + med(one, 'store_down')) / mb / args.chapters:.0f} MB to/from the store "
                     "per chapter. Target: under 10 %.")
    if one and "2" in runs:
        ratio = med("1", "wall_s") / med("2", "wall_s")
        lines.append(f"2 workers against 1: {ratio:.2f}× (target ≥ 1.8×){'' if ratio >= 1.8 else ' — NOT met'}.")
    lines.append(f"Load average (1 min) over the runs: {min(load):.1f}–{max(load):.1f} on {os.cpu_count()} cores "
                 "shared with other sessions: two workers get two cores only when nothing else runs, so the "
                 "speed-up here says little about two machines; the CPU columns are the steadier figures.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
