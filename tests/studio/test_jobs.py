"""Durable jobs: exclusive claims, leases, retries up to three, and a worker killed mid-mastering."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from catalog.models import Chapter, Job, JobPart
from studio import jobs
from studio.context import Decisions
from studio.worker import HANDLERS, Worker, parts_of

ROOT = Path(__file__).resolve().parents[2]


def test_claim_is_exclusive_under_concurrency(ctx):
    ids = [jobs.enqueue(ctx.sessions, "produce", payload={"n": i}) for i in range(3)]
    claimed: list[int] = []
    lock = threading.Lock()

    def grab(owner):
        while (job := jobs.claim(ctx.sessions, owner, lease_s=30)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=grab, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == ids  # each job exactly once


def test_expired_lease_is_claimed_again_and_the_old_owner_loses_it(ctx):
    job_id = jobs.enqueue(ctx.sessions, "produce")
    first = jobs.claim(ctx.sessions, "dead-worker", lease_s=0.2)
    assert first.attempts == 1
    assert jobs.claim(ctx.sessions, "other", lease_s=30) is None  # still leased
    time.sleep(0.3)
    second = jobs.claim(ctx.sessions, "other", lease_s=30)
    assert (second.id, second.attempts) == (job_id, 2)
    assert not jobs.heartbeat(ctx.sessions, job_id, "dead-worker", progress=50)
    assert not jobs.complete(ctx.sessions, job_id, "dead-worker")
    assert jobs.heartbeat(ctx.sessions, job_id, "other", progress=50, stage="master")
    assert jobs.complete(ctx.sessions, job_id, "other", {"ok": True})
    with ctx.sessions() as session:
        row = session.get(Job, job_id)
        assert (row.state, row.progress, row.result) == ("done", 100.0, {"ok": True})


def test_abandoned_three_times_stays_failed(ctx):
    job_id = jobs.enqueue(ctx.sessions, "produce")
    for attempt in range(3):
        assert jobs.claim(ctx.sessions, f"dies-{attempt}", lease_s=0.05).attempts == attempt + 1
        time.sleep(0.1)
    assert jobs.claim(ctx.sessions, "late", lease_s=30) is None
    with ctx.sessions() as session:
        row = session.get(Job, job_id)
        assert row.state == "failed" and "lần thử cuối" in row.error


def test_failing_job_retries_then_stops_with_its_error(ctx, monkeypatch):
    calls = []

    def boom(_ctx, run):
        calls.append(run.job.attempts)
        raise RuntimeError("ổ đĩa đầy (disk full)")

    monkeypatch.setitem(HANDLERS, "boom", boom)
    job_id = jobs.enqueue(ctx.sessions, "boom")
    worker = Worker(ctx, lease_s=5)
    while worker.run_once():
        pass
    assert calls == [1, 2, 3]
    with ctx.sessions() as session:
        row = session.get(Job, job_id)
        assert row.state == "failed" and row.attempts == 3
        assert row.error.count("ổ đĩa đầy") == 3
    assert jobs.retry(ctx.sessions, job_id) == jobs.RETRIED
    with ctx.sessions() as session:
        assert session.get(Job, job_id).state == "queued"


def test_worker_runs_production_and_reports_progress(ctx):
    from studio.pipeline import ingest_folder
    from studio.worker import enqueue_produce
    seen = []

    book = ingest_folder(ctx, ROOT / "examples" / "demo-session")
    job_id = enqueue_produce(ctx, book, Decisions(approve_marks=True), stop="mark")
    worker = Worker(ctx, lease_s=3)
    original = jobs.heartbeat

    def spy(*args, **kwargs):
        seen.append((kwargs.get("stage"), kwargs.get("progress")))
        return original(*args, **kwargs)

    jobs.heartbeat = spy
    try:
        assert worker.run_once()
    finally:
        jobs.heartbeat = original
    with ctx.sessions() as session:
        row = session.get(Job, job_id)
        assert (row.state, row.stage, row.progress, row.attempts) == ("done", "mark", 100.0, 1)
    assert ("mark", 100.0) in seen


# -- the fault test -----------------------------------------------------------------------------------
def _instance(tmp_path: Path, name: str):
    from web.runtime import make_context
    from web.config import load_settings
    home = tmp_path / name
    settings = load_settings({"HOME": str(home), "SECRET_KEY": "t-" + uuid.uuid4().hex, "JOB_LEASE_S": 2})
    return home, make_context(settings)


def _session_folder(tmp_path: Path) -> Path:
    from studio_helpers import chapters_take, write_wav
    folder = tmp_path / "phien"
    folder.mkdir()
    for n in (1, 2):
        samples, _ = chapters_take([75, 75], seed=n)  # mastering must outlast several 1 s heartbeats
        write_wav(folder / f"take-0{n}.wav", samples)
    (folder / "session.toml").write_text('[book]\ntitle = "Thử lỗi"\n[chapters]\nmin_chapter_s = 4\n',
                                         encoding="utf-8")
    return folder


def _masters(ctx, book_id) -> list[tuple[int, str, str]]:
    with ctx.sessions() as session:
        chapters = session.scalars(select(Chapter).where(Chapter.book_id == book_id)
                                   .order_by(Chapter.position)).all()
        return [(c.position, c.master_sha256, hashlib.sha256(ctx.store.path(c.master_key).read_bytes()).hexdigest())
                for c in chapters]


def _originals(ctx) -> dict[str, tuple[str, int, int]]:
    return {sha: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns, p.stat().st_mode)
            for sha, p in ctx.store.iter_originals()}


@pytest.mark.slow
def test_worker_killed_mid_mastering_job_completes_identically(tmp_path):
    from studio.pipeline import ingest_folder, run_stages
    from studio.worker import enqueue_produce
    folder = _session_folder(tmp_path)
    decisions = Decisions(approve_marks=True, accept_qc_failures=True)

    # reference: the same production, uninterrupted, in another instance
    _ref_home, ref = _instance(tmp_path, "ref")
    ref_book = ingest_folder(ref, folder)
    run_stages(ref, ref_book, decisions, stop="qc")
    expected = _masters(ref, ref_book)
    assert len(expected) == 4

    home, ctx = _instance(tmp_path, "inst")
    book = ingest_folder(ctx, folder)
    job_id = enqueue_produce(ctx, book, decisions, stop="qc")
    before = _originals(ctx)
    env = {**os.environ, "SACHNOI_HOME": str(home), "SACHNOI_JOB_LEASE_S": "4",  # short, yet long enough for a busy machine
           "SACHNOI_SECRET_KEY": "fault-" + uuid.uuid4().hex}
    worker_cmd = [str(Path(sys.executable).with_name("sachnoi")), "worker", "--poll", "0.2", "--quiet"]
    timeline = []
    t0 = time.monotonic()

    def row():
        with ctx.sessions() as session:
            return session.get(Job, job_id)

    def part_attempts(part_id):
        with ctx.sessions() as session:
            return session.get(JobPart, part_id).attempts

    first = subprocess.Popen(worker_cmd, env=env)
    seen = []
    try:
        deadline = time.monotonic() + 120
        while True:
            job = row()
            # kill while a chapter's master part is running: a 75 s chapter now masters in about a
            # second, so a job progress (36 %) alone could be read between two parts
            if job.stage == "master" and any(p.state == "running" for p in parts_of(ctx, job_id)):
                break
            seen.append((round(time.monotonic() - t0, 2), job.stage, round(job.progress, 1)))
            assert job.state != "done", f"the job finished before it could be interrupted: {seen[-8:]}"
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
        timeline.append((round(time.monotonic() - t0, 2), f"SIGKILL at {job.stage} {job.progress}%"))
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    killed = row()
    assert (killed.state, killed.attempts) == ("running", 1)
    # the chapters' masters are parts of the job (studio.worker): the one the killed worker held is
    # claimed again by the next worker once its lease expired; the job itself was claimed once
    [held] = [p for p in parts_of(ctx, job_id) if p.state == "running"]

    second = subprocess.Popen(worker_cmd, env=env)
    try:
        deadline = time.monotonic() + 180
        claimed_at = None
        while (job := row()).state != "done":
            if claimed_at is None and part_attempts(held.id) == 2:
                claimed_at = round(time.monotonic() - t0, 2)
                timeline.append((claimed_at, "claimed again by the new worker"))
            assert job.state != "failed", job.error
            assert time.monotonic() < deadline and second.poll() is None
            time.sleep(0.05)
        timeline.append((round(time.monotonic() - t0, 2), "done"))
    finally:
        second.terminate()
        second.wait(timeout=30)
    print("fault-test timeline (s):", timeline)
    done = row()
    assert done.attempts == 1 and done.progress == 100.0
    assert part_attempts(held.id) == 2 and claimed_at is not None
    assert all(p.state == "done" and p.runs == 1 for p in parts_of(ctx, job_id))  # every part completed once
    assert _masters(ctx, book) == expected  # identical outputs, by hash
    assert _originals(ctx) == before        # originals untouched
    from recordings.fixity import audit
    assert audit(ctx.store).passed
