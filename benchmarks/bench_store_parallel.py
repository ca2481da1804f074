"""How many object-store requests to keep in flight: a book's publication is one server-side copy per
served file (~1 800 HLS segments for a 60-minute book), each a round trip that waits on RGW, not on
this machine's CPU.

    .venv/bin/python benchmarks/bench_store_parallel.py [--objects 1200] [--rounds 2] [--in-flight 8,16,24,32]

Starts the test RGW (tests/rgw_server.py), writes `--objects` segments of 16 kB, then copies them
all with `S3MediaStore.copy_many` at each `--in-flight` value in turn, `--rounds` times (alternating,
so the machine's load falls on every value alike). Prints wall and CPU seconds per value (medians);
docs/benchmarks.md quotes them by hand ("Scale-out: what the runs found").
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=1200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--in-flight", default="8,16,24,32")
    args = parser.parse_args()
    from rgw_server import new_bucket, start_rgw

    import recordings.s3store as s3store

    values = [int(v) for v in args.in_flight.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-parallel-") as work:
        rgw = start_rgw(work)
        try:
            os.environ.update(rgw.env())
            bucket = new_bucket(rgw)

            def store(name: str) -> s3store.S3MediaStore:
                return s3store.S3MediaStore(bucket, "", endpoint_url=rgw.endpoint, region="us-east-1",
                                            cache_dir=Path(work) / name)
            files = {f"derived/books/b/hls/a/seg-{n:04d}.m4s": os.urandom(16_000) for n in range(args.objects)}
            store("writer").write_many(files)
            wall: dict[int, list[float]] = {v: [] for v in values}
            cpu: dict[int, list[float]] = {v: [] for v in values}
            for run in range(args.rounds):
                for value in values:
                    s3store.PARALLEL_UPLOADS = value          # read when the pool and the client are made
                    copier = store(f"copier-{value}-{run}")
                    target = f"derived/books/b/v/{value:03d}{run}"
                    t0, c0 = time.perf_counter(), time.process_time()
                    copier.copy_many([(key, key.replace("derived/books/b/hls", target)) for key in files])
                    wall[value].append(time.perf_counter() - t0)
                    cpu[value].append(time.process_time() - c0)
                    print(f"round {run + 1}, {value} in flight: {wall[value][-1]:.2f} s, "
                          f"{cpu[value][-1]:.2f} CPU s", flush=True)
        finally:
            rgw.stop()
    print(f"\n{args.objects} copies, medians of {args.rounds} round(s); load average {os.getloadavg()[0]:.1f}")
    print("| in flight | wall s | CPU s | ms CPU per copy |\n|---:|---:|---:|---:|")
    for value in values:
        w, c = statistics.median(wall[value]), statistics.median(cpu[value])
        print(f"| {value} | {w:.2f} | {c:.2f} | {1000 * c / args.objects:.1f} |")


if __name__ == "__main__":
    main()
