"""Studio pages through the test client: upload, detect, edit boundaries, approve, QC review."""
from __future__ import annotations

from sqlalchemy import select

from catalog.models import Book, Chapter, Mark, Take
from web.runtime import wait_for_jobs


def make_book(staff, title="Sách thử phòng thu"):
    response = staff.post("/studio/books", {"title": title})
    assert response.status_code == 302
    return int(response.headers["Location"].rstrip("/").split("/")[-1])


def upload(staff, book_id, files):
    data = {"name": "Buổi 1", "files": [(open(p, "rb"), p.name) for p in files]}
    response = staff.post(f"/studio/books/{book_id}/sessions", data, content_type="multipart/form-data")
    assert response.status_code == 302


def test_upload_detect_move_approve(login, app, session_files):
    staff = login("studio1")
    book_id = make_book(staff)
    upload(staff, book_id, session_files)
    sessions = app.extensions["sachnoi"].sessions
    with sessions() as s:
        assert len(s.scalars(select(Take)).all()) == 2
    assert staff.post(f"/studio/books/{book_id}/detect").status_code == 302
    with sessions() as s:
        marks = s.scalars(select(Mark).where(Mark.book_id == book_id).order_by(Mark.take_id, Mark.start_s)).all()
        assert [m.source for m in marks] == ["pauses"] * 3
        assert 7.0 < marks[1].start_s < 8.7  # inside the 2.5 s pause, room tone kept before speech
        second = marks[1].id
    page = staff.get(f"/studio/books/{book_id}/chapters").get_data(as_text=True)
    assert "Tự động (khoảng lặng)" in page and "<polygon" in page
    assert staff.post(f"/studio/marks/{second}/move", {"start": "0:08"}).status_code == 302
    assert staff.post(f"/studio/marks/{second}/move", {"start": "99"}).status_code == 303  # after the end
    with sessions() as s:
        mark = s.get(Mark, second)
        assert (mark.start_s, mark.source, mark.detail["from_source"]) == (8.0, "manual", "pauses")
    page = staff.get(f"/studio/books/{book_id}/chapters").get_data(as_text=True)
    assert "ban đầu" in page
    assert staff.post(f"/studio/books/{book_id}/approve").status_code == 302
    assert wait_for_jobs(app, 180.0)  # mastering is a job, run by the app's job thread
    with sessions() as s:
        book = s.get(Book, book_id)
        assert [round(c.duration_s, 1) for c in book.chapters][:1] == [8.0]
        assert len(book.chapters) == 3 and all(c.qc for c in book.chapters)
        chapter_id = book.chapters[0].id
    qc = staff.get(f"/studio/chapters/{chapter_id}/qc").get_data(as_text=True)
    assert 'class="band"' in qc and "Đo được và giới hạn" in qc
    assert staff.post(f"/studio/chapters/{chapter_id}/review", {"decision": "reject"}).status_code == 303
    assert staff.post(f"/studio/chapters/{chapter_id}/review",
                      {"decision": "reject", "comment": "Tiếng ồn ở giây thứ 3"}).status_code == 302
    with sessions() as s:
        assert s.get(Chapter, chapter_id).review_state == "rejected"


def test_bad_file_is_refused_and_nothing_stored(login, app, tmp_path):
    staff = login("studio1")
    book_id = make_book(staff)
    bad = tmp_path / "not-audio.wav"
    bad.write_bytes(b"PK\x03\x04 this is a zip")
    response = staff.post(f"/studio/books/{book_id}/sessions",
                          {"files": [(open(bad, "rb"), bad.name)]}, content_type="multipart/form-data",
                          headers={"Accept": "application/json"})
    assert response.status_code == 400 and response.get_json()["error"] == "bad-audio"
    with app.extensions["sachnoi"].sessions() as s:
        assert s.scalars(select(Take)).all() == []


def test_approve_queues_a_durable_job_when_workers_run(login, app, session_files):
    """With the server's worker pool running, approval returns at once and the work is a job row
    that a worker then completes (the same function the CLI and tests run)."""
    from catalog.models import Job
    from studio.worker import Worker
    from web.runtime import app_context as studio_context
    app.config["JOB_WORKERS_RUNNING"] = True
    staff = login("studio1")
    book_id = make_book(staff)
    upload(staff, book_id, session_files)
    assert staff.post(f"/studio/books/{book_id}/detect").status_code == 302
    assert staff.post(f"/studio/books/{book_id}/approve").status_code == 302
    sessions = app.extensions["sachnoi"].sessions
    with sessions() as s:
        job = s.scalars(select(Job).where(Job.book_id == book_id)).one()
        assert (job.kind, job.state, job.payload["start"]) == ("produce", "queued", "master")
        assert s.get(Book, book_id).chapters == []
    with app.app_context():
        worker = Worker(studio_context(), lease_s=60)
    assert worker.run_once() is True
    with sessions() as s:
        assert s.get(Job, job.id).state in ("done", "failed")
        assert len(s.get(Book, book_id).chapters) == 3
