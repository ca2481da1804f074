"""Jobs on the task engine (issue 19): the time limit stops ffmpeg, attempts stop at the maximum, the
last part of a phase continues the book exactly once, a part run twice gives the same files, and the
pipeline over RabbitMQ with two worker processes, one killed with -9 in a chapter's master, ends as
the in-process run does."""
from __future__ import annotations

import dataclasses
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import select

from catalog.models import Book, Chapter, Job, JobPart
from studio import jobs
from studio.broker import Broker
from studio.context import Context, Decisions
from studio.worker import HANDLERS, Worker, parts_of

ROOT = Path(__file__).resolve().parents[2]


def _children(name: str) -> set[int]:
    """Pids of our child processes called `name` (from /proc)."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            comm = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
        except (OSError, IndexError):
            continue
        if int(fields[1]) == os.getpid() and comm == name:
            out.add(int(stat.parent.name))
    return out


def _slow_ffmpeg(tmp_path: Path):
    """A run of ffmpeg that takes ~30 s: a 30 s file read at its own rate (-re)."""
    from delivery.ffmpeg import run
    src = tmp_path / "quiet.wav"
    if not src.exists():
        sf.write(src, np.zeros((30 * 8000, 1), np.float32), 8000)
    return lambda: run(["-re", "-i", str(src), "-f", "null", "-"], timeout_s=120)


def test_time_limit_kills_the_ffmpeg_child(tmp_path):
    slow = _slow_ffmpeg(tmp_path)
    seen: list[BaseException] = []
    pids: set[int] = set()
    started = threading.Event()

    def job(_job_id: int) -> None:
        started.set()
        try:
            slow()
        except BaseException as exc:  # the engine's TimeLimitExceeded, not an ffmpeg error
            seen.append(exc)
            raise

    broker = Broker("", time_limit_s=1.5, on_job=job, on_part=lambda _p: None)
    broker.start(threads=1, poll_ms=50)
    try:
        t0 = time.monotonic()
        broker.send("default", 1)
        assert started.wait(10)
        while not pids and time.monotonic() - t0 < 10:
            pids = _children("ffmpeg")
            time.sleep(0.05)
        assert pids, "ffmpeg never started"
        broker.join(timeout_s=30)
        elapsed = time.monotonic() - t0
    finally:
        broker.close()
    assert [type(e).__name__ for e in seen] == ["TimeLimitExceeded"]
    assert elapsed < 6, f"the limit took {elapsed:.1f} s to stop a 30 s run"
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"ffmpeg {pid} outlived the time limit"


def test_time_limit_counts_attempts_and_stops_at_the_maximum(ctx, tmp_path, monkeypatch):
    slow = _slow_ffmpeg(tmp_path)
    calls = []

    def handler(_ctx, run):
        calls.append(run.job.attempts)
        slow()
        return {}

    monkeypatch.setitem(HANDLERS, "slow", handler)
    quick = Context(ctx.sessions, ctx.store, dataclasses.replace(ctx.settings, job_time_limit_s=1.0))
    job_id = jobs.enqueue(ctx.sessions, "slow", max_attempts=3)
    worker = Worker(quick, lease_s=30)
    try:
        assert worker.run_once()
        assert not worker.run_once()
    finally:
        worker.close()
    assert calls == [1, 2, 3]
    with ctx.sessions() as db:
        row = db.get_one(Job, job_id)
        assert (row.state, row.attempts) == ("failed", 3)
        assert row.error.count("JOB_TIME_LIMIT_S") == 3
    assert not _children("ffmpeg")


def _waiting_job(ctx, names: list[str], phase: str = "master") -> int:
    job_id = jobs.enqueue(ctx.sessions, "produce", payload={"start": "master"}, max_attempts=3)
    assert jobs.claim_id(ctx.sessions, job_id, "w0", lease_s=30) is not None
    jobs.add_parts(ctx.sessions, job_id, phase, names, "master", max_attempts=3)
    assert jobs.release(ctx.sessions, job_id, "w0", phase, "waiting")
    return job_id


def test_part_attempts_stop_at_the_maximum_and_fail_the_job(ctx):
    job_id = _waiting_job(ctx, ["ch01", "ch02"])
    [part, _other] = parts_of(ctx, job_id)
    for attempt in (1, 2, 3):
        claimed = jobs.claim_part(ctx.sessions, part.id, f"w{attempt}", lease_s=30)
        assert claimed is not None and claimed.attempts == attempt
        state = jobs.fail_part(ctx.sessions, part.id, f"w{attempt}", "ổ đĩa hỏng (disk broken)")
        assert state == ("failed" if attempt == 3 else "queued")
    assert jobs.claim_part(ctx.sessions, part.id, "late", lease_s=30) is None
    with ctx.sessions() as db:
        job = db.get_one(Job, job_id)
        assert job.state == "failed" and "ch01" in job.error and "disk broken" in job.error
    # nothing of a failed job is sent again; a retry gives its failed part fresh attempts
    assert jobs.due(ctx.sessions, resend_after_s=0, kinds=("produce",)) == []
    assert jobs.retry(ctx.sessions, job_id) == jobs.RETRIED
    assert [(p.state, p.attempts) for p in parts_of(ctx, job_id)][0] == ("queued", 0)


def test_abandoned_part_is_sent_again_once_its_lease_expired(ctx):
    job_id = _waiting_job(ctx, ["ch01"])
    [part] = parts_of(ctx, job_id)
    assert [d.id for d in jobs.due(ctx.sessions, resend_after_s=300, kinds=("produce",))] == [part.id]
    assert jobs.due(ctx.sessions, resend_after_s=300, kinds=("produce",)) == []  # sent: not again
    assert jobs.claim_part(ctx.sessions, part.id, "dies", lease_s=2.0) is not None
    assert jobs.claim_part(ctx.sessions, part.id, "other", lease_s=30) is None  # a redelivered message: held
    assert jobs.due(ctx.sessions, resend_after_s=300, kinds=("produce",)) == []  # held by a live lease
    time.sleep(2.2)
    due = jobs.due(ctx.sessions, resend_after_s=300, kinds=("produce",))
    assert [(d.kind, d.id, d.queue) for d in due] == [("part", part.id, "master")]
    again = jobs.claim_part(ctx.sessions, part.id, "other", lease_s=30)
    assert again is not None and again.attempts == 2
    assert not jobs.complete_part(ctx.sessions, part.id, "dies", {})   # the dead owner's late write loses
    assert jobs.complete_part(ctx.sessions, part.id, "other", {"ok": 1})
    assert [(p.state, p.runs) for p in parts_of(ctx, job_id)] == [("done", 1)]


def _sessions_for(kind: str, ctx, request):
    if kind == "sqlite":
        return ctx.sessions
    from catalog.db import make_engine, make_sessionmaker
    from catalog.migrate import upgrade
    url = request.getfixturevalue("pg_url")
    upgrade(url)
    return make_sessionmaker(make_engine(url))


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_last_part_done_continues_the_book_exactly_once(ctx, request, database):
    sessions = _sessions_for(database, ctx, request)
    from catalog.accounts import get_or_create_library
    from catalog.books import create_book
    with sessions.begin() as db:
        book = create_book(db, library=get_or_create_library(db, "T", "T"), title="Một lần")
        db.flush()
        book_id = book.id
    ctx2 = Context(sessions, ctx.store, ctx.settings)
    for _round in range(8):
        job_id = jobs.enqueue(sessions, "produce", book_id=book_id, payload={"start": "master"})
        jobs.claim_id(sessions, job_id, "w0", lease_s=30)
        jobs.add_parts(sessions, job_id, "master", ["ch01", "ch02"], "master")
        jobs.release(sessions, job_id, "w0", "master", "waiting")
        parts = parts_of(ctx2, job_id)
        barrier = threading.Barrier(2)
        won: list[str] = []

        def finish(part_id: int, owner: str, barrier=barrier, job_id=job_id, won=won) -> None:
            assert jobs.claim_part(sessions, part_id, owner, lease_s=30) is not None
            barrier.wait()
            assert jobs.complete_part(sessions, part_id, owner, {})
            if jobs.advance(sessions, job_id, "master", owner, lease_s=30) is not None:
                won.append(owner)

        threads = [threading.Thread(target=finish, args=(p.id, f"w{i}")) for i, p in enumerate(parts)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1, won
        with sessions() as db:
            assert db.get_one(Job, job_id).lease_owner == won[0]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_a_part_run_twice_gives_the_same_files(ctx):
    from studio.package import plan_package
    from studio.pipeline import encode, ingest_folder, master_chapter, record_masters, run_stages
    book = ingest_folder(ctx, ROOT / "examples" / "demo-session")
    run_stages(ctx, book, Decisions(approve_marks=True), stop="mark")
    first = master_chapter(ctx, book, "ch01")
    again = master_chapter(ctx, book, "ch01")
    assert first == again and _sha(ctx.store.path(first["master_key"])) == first["sha256"]
    results = {f"ch{n:02d}": master_chapter(ctx, book, f"ch{n:02d}") for n in range(2, 5)}
    record_masters(ctx, book, Decisions(), {"ch01": first, **results})
    plan = plan_package(ctx.sessions, ctx.store, book)
    mp3 = next(j for j in plan.jobs if j.name == "mp3 ch01")
    hls = next(j for j in plan.jobs if j.name.startswith("hls ") and j.name.endswith("ch01"))
    assert encode(ctx, book, mp3.name) == {"ran": True}
    out = ctx.store.path(f"{plan.prefix}/work/mp3/001.mp3")
    before = _sha(out)
    assert encode(ctx, book, mp3.name) == {"ran": False}   # done: content-keyed, not run again
    out.unlink()
    assert encode(ctx, book, mp3.name) == {"ran": True} and _sha(out) == before
    # the same HLS encode twice at the same time (a duplicate message): one complete, equal result
    runs = [threading.Thread(target=encode, args=(ctx, book, hls.name)) for _ in range(2)]
    for t in runs:
        t.start()
    for t in runs:
        t.join()
    folder = ctx.store.path(f"{plan.prefix}/work/hls/{hls.name.split()[1]}/001")
    snapshot = {p.name: _sha(p) for p in folder.iterdir()}
    for p in folder.iterdir():
        p.unlink()
    folder.rmdir()
    assert encode(ctx, book, hls.name) == {"ran": True}
    assert {p.name: _sha(p) for p in folder.iterdir()} == snapshot


# -- the pipeline both ways ----------------------------------------------------------------------------
def _session_folder(tmp_path: Path) -> Path:
    from studio_helpers import chapters_take, write_wav
    folder = tmp_path / "phien"
    folder.mkdir()
    for n in (1, 2):
        samples, _ = chapters_take([60, 60], seed=n)  # a master must outlast a few heartbeats
        write_wav(folder / f"take-0{n}.wav", samples)
    (folder / "session.toml").write_text('[book]\ntitle = "Hai máy"\n[chapters]\nmin_chapter_s = 4\n',
                                         encoding="utf-8")
    return folder


def _outputs(ctx, book_id: int) -> dict[str, str]:
    """Masters and the encodes' work files by hash (the tagged files carry dates)."""
    with ctx.sessions() as db:
        chapters = db.scalars(select(Chapter).where(Chapter.book_id == book_id).order_by(Chapter.position)).all()
        book = db.get_one(Book, book_id)
        out = {c.master_key.rsplit("/", 2)[-1]: c.master_sha256 for c in chapters}
        prefix = ctx.store.book_prefix(book.uuid)
    work = ctx.store.path(f"{prefix}/work")
    for path in sorted(work.rglob("*")):
        if path.is_file() and path.suffix in (".mp3", ".m4s", ".mp4", ".m3u8"):
            out[str(path.relative_to(work))] = _sha(path)
    return out


def _instance(tmp_path: Path, name: str, database_url: str | None = None):
    from web.config import load_settings
    from web.runtime import make_context
    home = tmp_path / name
    overrides = {"HOME": str(home), "SECRET_KEY": "t-" + uuid.uuid4().hex, "JOB_LEASE_S": 3}
    if database_url:
        overrides["DATABASE_URL"] = database_url
    return home, make_context(load_settings(overrides))


@pytest.mark.slow
def test_pipeline_over_rabbitmq_two_workers_one_killed_ends_as_in_process(tmp_path, pg_url, rabbitmq_url):
    from studio.pipeline import ingest_folder
    from studio.worker import enqueue_produce
    folder = _session_folder(tmp_path)
    decisions = Decisions(approve_marks=True, accept_qc_failures=True, publish=True)

    # in-process: the embedded default, the same actors on Dramatiq's in-process broker
    _ref_home, ref = _instance(tmp_path, "ref")
    ref_book = ingest_folder(ref, folder)
    ref_job = enqueue_produce(ref, ref_book, decisions)
    worker = Worker(ref)
    try:
        assert worker.run_once()
    finally:
        worker.close()
    with ref.sessions() as db:
        assert db.get_one(Job, ref_job).state == "done"
    expected = _outputs(ref, ref_book)
    assert len([k for k in expected if k.endswith(".flac")]) == 4

    # RabbitMQ + PostgreSQL, two worker processes (one only for chapters), one killed mid-master
    home, ctx = _instance(tmp_path, "inst", pg_url)
    book = ingest_folder(ctx, folder)
    originals = {sha: _sha(p) for sha, p in ctx.store.iter_originals()}
    job_id = enqueue_produce(ctx, book, decisions)
    env = {**os.environ, "SACHNOI_HOME": str(home), "SACHNOI_DATABASE_URL": pg_url,
           "SACHNOI_BROKER_URL": rabbitmq_url, "SACHNOI_JOB_LEASE_S": "3",
           "SACHNOI_SECRET_KEY": "mq-" + uuid.uuid4().hex}
    sachnoi = str(Path(sys.executable).with_name("sachnoi"))
    procs = {"all": subprocess.Popen([sachnoi, "worker", "--poll", "0.3", "--quiet"], env=env),
             "chapters": subprocess.Popen([sachnoi, "worker", "--queues", "master,encode", "--poll", "0.3",
                                           "--quiet"], env=env)}
    timeline: list[tuple[float, str]] = []
    t0 = time.monotonic()
    try:
        deadline = t0 + 240
        victim = None
        while victim is None:  # a master under way whose worker is killed before it ends
            # running, whatever its progress: a 60 s chapter masters in about a second on a quiet
            # machine, within one heartbeat, so its row can show 0 until it is done
            candidate = next((part for part in parts_of(ctx, job_id) if part.phase == "master"
                              and part.state == "running"), None)
            if time.monotonic() >= deadline:
                with ctx.sessions() as db:
                    job = db.get_one(Job, job_id)
                    raise AssertionError(f"no master part got under way: job {job.state} {job.error!r}, parts "
                                         f"{[(p.phase, p.name, p.state, p.progress) for p in parts_of(ctx, job_id)]}, "
                                         f"workers' exit codes {[p.poll() for p in procs.values()]}")
            if candidate is None:
                time.sleep(0.05)
                continue
            pid = int(candidate.lease_owner.split(":")[1])
            name = next(k for k, p in procs.items() if p.pid == pid)
            os.kill(pid, signal.SIGKILL)
            procs[name].wait()
            procs[name] = subprocess.Popen(procs[name].args, env=env)
            after = next(p for p in parts_of(ctx, job_id) if p.id == candidate.id)
            if after.state == "running" and after.lease_owner == candidate.lease_owner:
                victim = candidate  # killed mid-run (on a quiet machine a master can end between poll and kill)
                timeline.append((round(time.monotonic() - t0, 2), f"SIGKILL worker '{name}' in {victim.name}"))
        while True:
            with ctx.sessions() as db:
                job = db.get_one(Job, job_id)
            assert job.state != "failed", job.error
            if job.state == "done":
                break
            assert time.monotonic() < deadline, f"not done: {job.stage} {job.progress}"
            time.sleep(0.1)
        timeline.append((round(time.monotonic() - t0, 2), "done"))
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(timeout=30)
    print("RabbitMQ fault timeline (s):", timeline)
    parts = {p.id: p for p in parts_of(ctx, job_id)}
    assert parts[victim.id].attempts == 2 and parts[victim.id].runs == 1
    assert all(p.state == "done" and p.runs == 1 for p in parts.values())  # no part completed twice
    assert len([p for p in parts.values() if p.phase == "master"]) == 4
    with ctx.sessions() as db:
        assert db.get_one(Book, book).state == "published"
        assert db.get_one(Job, job_id).attempts == 1
    assert _outputs(ctx, book) == expected                     # equal by hash to the in-process run
    assert {sha: _sha(p) for sha, p in ctx.store.iter_originals()} == originals
    with ctx.sessions() as db:
        assert db.scalar(select(JobPart.id).where(JobPart.state != "done")) is None


def test_worker_queues_option_is_checked_before_anything_runs(tmp_path):
    from studio.broker import BrokerError, parse_queues
    assert parse_queues("master, encode") == ("master", "encode")
    assert parse_queues("") == ("default", "master", "encode")
    with pytest.raises(BrokerError):
        parse_queues("master,foo")
    env = {**os.environ, "SACHNOI_HOME": str(tmp_path / "h"), "SACHNOI_SECRET_KEY": "q-" + uuid.uuid4().hex}
    done = subprocess.run([str(Path(sys.executable).with_name("sachnoi")), "worker", "--queues", "master,foo"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "foo" in done.stderr and "No such queue" in done.stderr
    assert not (tmp_path / "h").exists()  # refused before the instance was touched


def test_a_message_the_broker_refused_is_due_again(ctx):
    from studio.broker import BrokerError
    from studio.worker import Reconciler

    class Away:
        in_process = False

        def send(self, queue, row_id):
            raise BrokerError("Không gửi được việc tới hàng đợi: %(error)s", error="connection refused")

    job_id = jobs.enqueue(ctx.sessions, "align", max_attempts=3)
    with pytest.raises(BrokerError):
        Reconciler(ctx, Away()).send_due()  # type: ignore[arg-type]
    assert [d.id for d in jobs.due(ctx.sessions, resend_after_s=300, kinds=("align",))] == [job_id]
