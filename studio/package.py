"""The package stage: approved chapter masters in, what listeners and other apps consume out.

Under `derived/books/<uuid>/` it writes
    hls/master.m3u8, hls/<rung>/index.m3u8 + init-<h>.mp4 + c<NNN>-<h>-<k>.m4s   (streaming ladder)
    mp3/<NN>.mp3        one tagged MP3 per chapter (ID3v2.4, CHAP/CTOC)
    book.m4b            the whole book, AAC with chapter markers, cover, stik=audiobook
    cover.jpg|png       the book's cover (generated when the book has none)
    manifest.json       Readium audiobook manifest (relative links)
    book.audiobook      zip: manifest.json at the root, audio and cover stored uncompressed
and one `Rendition` row per output (kind hls | mp3 | m4b | cover | audiobook).

Work is split into jobs of one chapter × one output (HLS rung or MP3) plus the M4B, run on all
cores by a thread pool (each job is an ffmpeg process; threads only wait). Every job's result is
kept under `work/` with the hash of what it was made from (master SHA-256 + the exact command), so
a re-run after a crash redoes only missing work and a changed master re-encodes only its own
chapter. Assembly (placing chapters on the book timeline, tags, manifest, zip) is cheap and
checked the same way against the `source_sha256` of the Rendition rows.

Segment and init names carry a hash of their content's source: the web layer serves media files
as immutable, so a re-encoded chapter must get new names, never new bytes under an old name.

The parts: `package_spec` (the book read and checked, settings, source hashes), `package_jobs`
(encode jobs and the pool), `package_hls` (the ladder on the book timeline), `package_tags`
(`tag_book`: tagged files, cover, manifest, zip), `renditions` (the rows). The commands, HLS
format, cover and zip writer are `delivery`'s.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from catalog.db import session_scope
from delivery import encoders
from recordings.store import MediaStore
from studio.package_hls import write_ladder
from studio.errors import N_
from studio.package_jobs import Job, hls_job, m4b_job, mp3_job, run_job, run_jobs
from studio.package_spec import (
    ChapterSpec, Mp3Settings, PackageError, PackageResult, Progress, load_book, mp3_settings, open_masters,
)
from studio.package_tags import tag_book

__all__ = ["PackageError", "PackagePlan", "PackageResult", "finish_package", "package_book", "plan_package",
           "run_encode", "tag_book"]


@dataclass
class PackagePlan:
    """What the package stage makes of a book: its chapters, the ladder, and the encode jobs (one
    chapter × one output, plus the M4B), named so each can run as a part of its own (studio.worker)."""
    book_id: int
    prefix: str
    specs: list[ChapterSpec]
    ladder: tuple[encoders.AacRung, ...]
    mp3: Mp3Settings
    jobs: list[Job]


def plan_package(session_factory, store: MediaStore, book_id: int) -> PackagePlan:
    with session_scope(session_factory) as db:
        book, specs = load_book(db, store, book_id)
        prefix = MediaStore.book_prefix(book.uuid)
        mp3 = mp3_settings(book.profile, specs[0].channels)
    ladder = encoders.aac_ladder(specs[0].channels)
    jobs = [m4b_job(store, prefix, specs)]
    for spec in specs:
        jobs += [hls_job(store, prefix, spec, rung) for rung in ladder]
        jobs.append(mp3_job(store, prefix, spec, mp3))
    return PackagePlan(book_id, prefix, specs, ladder, mp3, jobs)


def run_encode(plan: PackagePlan, name: str) -> bool:
    """Run the encode job `name` of `plan` unless its output is there already (content-keyed: a second
    run, even at the same time, is harmless). True when it ran."""
    job = next((j for j in plan.jobs if j.name == name), None)
    if job is None:
        raise PackageError(N_("Không có bước mã hoá %(name)s."), name=name)
    if job.done():
        return False
    run_job(job)
    return True


def finish_package(session_factory, store: MediaStore, plan: PackagePlan, result: PackageResult,
                   report: Progress) -> None:
    """After every encode: the HLS ladder and master playlist (the playlist last), then the tags."""
    with session_scope(session_factory) as db:
        write_ladder(db, store, plan.book_id, plan.prefix, plan.specs, plan.ladder,
                     {j.name: j.source for j in plan.jobs}, result)
    report(0.93)
    tag_book(session_factory, store, plan.book_id, _result=result, _specs=plan.specs, _mp3=plan.mp3)
    report(1.0)


def package_book(session_factory, store: MediaStore, book_id: int, *, workers: int | None = None,
                 progress: Progress | None = None) -> PackageResult:
    """Encode, assemble, tag and describe book `book_id`; idempotent and resumable (module doc)."""
    started = time.perf_counter()
    report = progress or (lambda _f: None)
    workers = workers or os.cpu_count() or 1
    plan = plan_package(session_factory, store, book_id)
    open_masters(plan.specs)   # every master is read here anyway: a bad one stops the stage before any encode
    result = PackageResult(book_id=book_id, prefix=plan.prefix)
    run_jobs(plan.jobs, workers, result, report, 0.9)
    finish_package(session_factory, store, plan, result, report)
    result.wall_s = time.perf_counter() - started
    return result
