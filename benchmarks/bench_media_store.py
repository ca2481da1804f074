"""The media store on the local folder and on the object store (Ceph RGW from tests/rgw_server.py,
memstore OSD, loopback): what one worker pays to put and fetch media there.

    .venv/bin/python benchmarks/bench_media_store.py [--size-mb 128] [--runs 3] [--no-write]

Per store, medians of `--runs`: an original stored (`put_original`: SHA-256 + MD5 pass, then the
upload with Content-MD5), a derived file published (`atomic_path`; multipart by boto3's transfer
manager above 64 MiB), a cold `path()` on another machine's cache (download, size check, for an
original the SHA-256 check), a warm `path()` (one HEAD), an HLS folder of 300 × 64 KB segments
(`atomic_dir`) and the fixity audit of the original. Writes "## Media store" of docs/benchmarks.md.
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

SEGMENTS, SEGMENT_BYTES = 300, 64 * 1024


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(make_store, work: Path, size_mb: int, runs: int) -> dict[str, float]:
    """Seconds per operation (medians); `make_store(name)` gives a store with its own local cache."""
    results: dict[str, list[float]] = {}
    for run in range(runs):
        src = work / f"take-{run}.wav"
        with open(src, "wb") as fh:          # new bytes every run: a new original
            for _ in range(size_mb):
                fh.write(os.urandom(1 << 20))
        for name, seconds in one_run(make_store(f"w{run}"), make_store(f"r{run}"), src, run).items():
            results.setdefault(name, []).append(seconds)
        src.unlink()
    return {name: statistics.median(values) for name, values in results.items()}


def one_run(writer, reader, src: Path, run: int) -> dict[str, float]:
    from recordings.fixity import audit
    out = {}
    t0 = time.perf_counter()
    sha, _key = writer.put_original(src)
    out["put_original"] = time.perf_counter() - t0
    key = f"derived/books/bench/{run}/book.m4b"

    def publish() -> None:
        with writer.atomic_path(key) as tmp:
            tmp.write_bytes(src.read_bytes())
    out["publish"] = timed(publish)
    out["path_cold_original"] = timed(lambda: reader.find_original(sha))
    out["path_cold_derived"] = timed(lambda: reader.path(key))
    out["path_warm"] = timed(lambda: reader.path(key))
    segment = os.urandom(SEGMENT_BYTES)

    def folder() -> None:
        with writer.atomic_dir(f"derived/books/bench/{run}/hls/aac-64k") as tmp:
            for i in range(SEGMENTS):
                (tmp / f"seg-{i:03d}.m4s").write_bytes(segment)
            (tmp / "index.m3u8").write_text("#EXTM3U\n")
    out["hls_folder"] = timed(folder)
    out["fixity"] = timed(lambda: audit(reader)) / (run + 1)  # per original: the store holds run + 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from rgw_server import new_bucket, start_rgw
    from recordings.s3store import S3MediaStore
    from recordings.store import MediaStore

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        local = measure(lambda name: MediaStore(work / "media"), work, args.size_mb, args.runs)
        rgw = start_rgw(work / "rgw")
        try:
            os.environ.update(rgw.env())
            bucket = new_bucket(rgw)
            s3 = measure(lambda name: S3MediaStore(bucket, endpoint_url=rgw.endpoint, cache_dir=work / name),
                         work, args.size_mb, args.runs)
        finally:
            rgw.stop()

    mb = args.size_mb * (1 << 20) / 1e6
    hls_mb = SEGMENTS * SEGMENT_BYTES / 1e6
    rows = [("store an original (`put_original`)", "put_original", mb),
            ("publish a derived file (`atomic_path`)", "publish", mb),
            ("cold `path()` of an original (download + SHA-256)", "path_cold_original", mb),
            ("cold `path()` of a derived file (download)", "path_cold_derived", mb),
            ("warm `path()` (cached; object store: one HEAD)", "path_warm", 0),
            (f"HLS folder, {SEGMENTS} × 64 KB segments (`atomic_dir`)", "hls_folder", hls_mb),
            ("fixity of one original (streamed, re-hashed)", "fixity", mb)]

    def cell(seconds: float, size: float) -> str:
        return f"{seconds * 1000:.1f} ms" if not size else f"{seconds:.2f} s, {size / seconds:.0f} MB/s"

    lines = ["## Media store", "",
             f"`benchmarks/bench_media_store.py --size-mb {args.size_mb} --runs {args.runs}`: the same operations on "
             "the local folder and on the object store (Ceph RGW 16 from Debian, one memstore OSD, "
             "radosgw on loopback: no disk and no network in the object-store figures, only RGW and "
             "the HTTP round trips), each from a worker with its own cache; medians of "
             f"{args.runs} runs, a {args.size_mb} MiB file of random bytes.", "",
             "| operation | local folder | object store (RGW) |", "|---|---|---|"]
    lines += [f"| {label} | {cell(local[name], 0 if name.startswith('path') else size)} | {cell(s3[name], size)} |"
              for label, name, size in rows]
    lines += ["", "On the local folder a `path()` is a path (no copy), so its cold and warm figures are the "
              "key check alone; on the object store each worker keeps the copy it downloaded and pays one "
              "HEAD per later `path()`."]
    section = "\n".join(lines) + "\n"
    print(section)
    if not args.no_write:
        from docsection import write_section
        write_section("## Media store", section)


if __name__ == "__main__":
    main()
