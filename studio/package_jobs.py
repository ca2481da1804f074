"""The package stage's encode jobs: one chapter × one output (HLS rung or MP3) plus the M4B, each an
ffmpeg process, run longest first by a thread pool. A job's result is kept under `work/` with the
hash of what it was made from, so a re-run redoes only missing or changed work."""
from __future__ import annotations

import json
import tempfile
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from delivery import encoders, hls
from delivery.ffmpeg import FFmpegError
from delivery.ffmpeg import run as run_ffmpeg
from recordings.errors import RecordingsError
from recordings.store import MediaStore
from studio.package_hls import place_chapter, placement_present
from studio.package_spec import (
    WORK_VERSION,
    ChapterSpec,
    Mp3Settings,
    PackageError,
    PackageResult,
    Progress,
    args_signature,
    m4b_settings,
    open_masters,
    read_meta,
    source_hash,
    stream_rate,
)


# stands for the master in the command a job's source hash is made from (blanked there, see
# `args_signature`): the hash is known without opening the master, and a plan opens only what it runs
PLACEHOLDER = Path("/MASTER")


@dataclass
class Job:
    name: str
    cost: float                        # seconds of audio × relative encoder cost, for scheduling
    source: str                        # hash of inputs + command
    done: Callable[[], bool]
    run: Callable[[], None]


def hls_job(store: MediaStore, prefix: str, spec: ChapterSpec, rung: encoders.AacRung) -> Job:
    work_key = f"{prefix}/work/hls/{rung.name}/{spec.position:03d}"
    seg_len = hls.segment_length(spec.duration_s)
    rate = stream_rate(spec.rate)
    probe_args = encoders.hls_chapter(PLACEHOLDER, "/OUT", rung, segment_s=seg_len, sample_rate_hz=rate)
    source = source_hash(WORK_VERSION, spec.master_sha256, args_signature(probe_args, PLACEHOLDER))
    rung_key = f"{prefix}/hls/{rung.name}"

    def done() -> bool:
        meta = read_meta(store, f"{work_key}/job.json")
        return meta.get("source") == source and placement_present(meta.get("placed") or {}, rung_key,
                                                                  dict(store.list(rung_key)))

    def run() -> None:
        # ffmpeg writes to local scratch; the segments are stored once, placed on the book timeline
        # (the assembly then only writes the playlist), and `work/` keeps only the job's record
        with tempfile.TemporaryDirectory(dir=store.tmp_dir, prefix=".hls-") as scratch:
            out = Path(scratch)
            run_ffmpeg(encoders.hls_chapter(spec.master, out, rung, segment_s=seg_len, sample_rate_hz=rate),
                       encoders.timeout_for(spec.duration_s))
            playlist = hls.parse_media_playlist((out / "chapter.m3u8").read_text("utf-8"))
            placed = place_chapter(store, rung_key, spec, source, (out / (playlist.init_uri or "init.mp4")).read_bytes(),
                                   [(out / s.uri).read_bytes() for s in playlist.segments])
        with store.atomic_dir(work_key) as tmp:   # replaces an older job's folder whole
            (tmp / "job.json").write_text(json.dumps({"source": source, "duration_s": spec.duration_s,
                                                      "placed": placed}))

    return Job(f"hls {rung.name} ch{spec.position:02d}", spec.duration_s * 1.0, source, done, run)


def mp3_job(store: MediaStore, prefix: str, spec: ChapterSpec, mp3: Mp3Settings) -> Job:
    key = f"{prefix}/work/mp3/{spec.position:03d}.mp3"
    sig = args_signature(encoders.mp3(PLACEHOLDER, "/OUT", bitrate_kbps=mp3.bitrate_kbps,
                                       sample_rate_hz=mp3.sample_rate_hz, channels=mp3.channels), PLACEHOLDER)
    source = source_hash(WORK_VERSION, spec.master_sha256, sig)
    def done() -> bool:
        return read_meta(store, key + ".json").get("source") == source and store.exists(key)

    def run() -> None:
        with store.atomic_path(key) as tmp:
            run_ffmpeg(encoders.mp3(spec.master, tmp, bitrate_kbps=mp3.bitrate_kbps,
                                    sample_rate_hz=mp3.sample_rate_hz, channels=mp3.channels),
                       encoders.timeout_for(spec.duration_s))
        store.write_bytes(key + ".json", json.dumps({"source": source}).encode())

    return Job(f"mp3 ch{spec.position:02d}", spec.duration_s * 1.4, source, done, run)


def m4b_job(store: MediaStore, prefix: str, specs: list[ChapterSpec]) -> Job:
    key = f"{prefix}/work/book.m4a"
    bitrate, channels = m4b_settings(specs[0].channels)
    rate = stream_rate(specs[0].rate)
    chapters = [(s.title, s.start_s, s.start_s + s.duration_s) for s in specs]
    metadata = encoders.ffmetadata(chapters)
    sig = args_signature(encoders.m4b(Path("/L"), Path("/M"), "/OUT", bitrate_bps=bitrate,
                                       channels=channels, sample_rate_hz=rate))
    source = source_hash(WORK_VERSION, [s.master_sha256 for s in specs], metadata, sig)
    total = sum(s.duration_s for s in specs)

    def done() -> bool:
        return read_meta(store, key + ".json").get("source") == source and store.exists(key)

    def run() -> None:
        # the concat list and chapter metadata are ffmpeg's inputs, not media: local scratch files
        with tempfile.TemporaryDirectory(dir=store.tmp_dir, prefix=".m4b-") as scratch:
            list_path, meta_file = Path(scratch) / "book.list", Path(scratch) / "book.meta"
            list_path.write_text(encoders.concat_list(open_masters(specs)), "utf-8")
            meta_file.write_text(metadata, "utf-8")
            with store.atomic_path(key) as tmp:
                run_ffmpeg(encoders.m4b(list_path, meta_file, tmp, bitrate_bps=bitrate, channels=channels,
                                        sample_rate_hz=rate, language="vie"), encoders.timeout_for(total))
        store.write_bytes(key + ".json", json.dumps({"source": source}).encode())

    return Job("m4b", total * 1.0, source, done, run)


def run_job(job: Job) -> None:
    """Run one encode job; its failures as `PackageError`, naming it."""
    try:
        job.run()
    except (FFmpegError, RecordingsError, OSError) as exc:
        raise PackageError(f"Mã hoá '{job.name}' thất bại (encoding '{job.name}' failed): {exc}") from exc


def run_jobs(jobs: list[Job], workers: int, result: PackageResult, progress: Progress,
              weight: float) -> None:
    pending = []
    for job in jobs:
        if job.done():
            result.reused.append(job.name)
        else:
            pending.append(job)
    if not pending:
        progress(weight)
        return
    pending.sort(key=lambda j: -j.cost)      # longest first: the pool ends evenly loaded
    total_cost = sum(j.cost for j in pending) or 1.0
    finished = [0.0]
    lock = threading.Lock()

    def execute(job: Job) -> str:
        run_job(job)
        with lock:
            finished[0] += job.cost
            progress(weight * finished[0] / total_cost)
        return job.name

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="package") as pool:
        futures = [pool.submit(execute, j) for j in pending]
        done, not_done = wait(futures, return_when=FIRST_EXCEPTION)
        for fut in not_done:
            fut.cancel()
        errors = [error for f in done if (error := f.exception()) is not None]
        if errors:
            pool.shutdown(wait=True, cancel_futures=True)
            raise errors[0]
    result.encoded += [j.name for j in pending]
