"""The staff jobs page and its JSON feed."""
from __future__ import annotations

from studio import jobs
from studio_helpers import login


def test_jobs_page_and_feed_show_stage_and_percent(app, client, ctx, staff):
    job_id = jobs.enqueue(ctx.sessions, "produce")
    jobs.claim(ctx.sessions, "w", lease_s=30)
    jobs.heartbeat(ctx.sessions, job_id, "w", progress=42.5, stage="master")
    assert client.get("/api/jobs").status_code == 401
    login(client, "phongthu")
    page = client.get("/jobs/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'aria-live="polite"' in html and "jobs.js" in html and "Xử lý âm thanh" in html
    assert 'value="42.5"' in html
    data = client.get("/api/jobs").get_json()
    (row,) = data["jobs"]
    assert (row["stage"], row["progress"], row["state"]) == ("master", 42.5, "running")
    assert data["summary"]["running"] == 1


def test_failed_job_can_be_retried_by_staff(app, client, ctx, staff):
    job_id = jobs.enqueue(ctx.sessions, "produce", max_attempts=1)
    jobs.claim(ctx.sessions, "w", lease_s=30)
    jobs.fail(ctx.sessions, job_id, "w", "hỏng")
    login(client, "phongthu")
    html = client.get("/jobs/").get_data(as_text=True)
    assert "hỏng" in html
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post(f"/jobs/{job_id}/retry", data={"csrf_token": token}).status_code == 302
    assert client.get("/api/jobs").get_json()["jobs"][0]["state"] == "queued"
    reader = app.test_client()
    login(reader, "bandoc")
    assert reader.get("/jobs/").status_code == 403


def test_a_job_done_with_a_caveat_shows_it(app, client, ctx, staff):
    """Talking books that left out manuscript sections say so on the jobs page (found in QA)."""
    job_id = jobs.enqueue(ctx.sessions, "talking_book")
    jobs.claim(ctx.sessions, "w", lease_s=30)
    caveat = "1 phần của bản thảo không có chương âm thanh nên không có trong sách nói: Phụ lục"
    jobs.complete(ctx.sessions, job_id, "w", {"message": caveat}, message=caveat)
    login(client, "phongthu")
    assert caveat in client.get("/jobs/").get_data(as_text=True)
    (row,) = client.get("/api/jobs").get_json()["jobs"]
    assert row["state"] == "done" and row["error"] == caveat and row["message"] == caveat


def _csrf(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def _book(ctx, state: str = "draft") -> tuple[int, int]:
    from catalog.accounts import get_or_create_library
    from catalog.models import Book, Chapter
    with ctx.sessions.begin() as session:
        book = Book(title="Sơn Tinh Thủy Tinh", library=get_or_create_library(session, "THV", "Thư viện tỉnh"),
                    state=state)
        session.add(book)
        session.flush()
        chapter = Chapter(book_id=book.id, position=1, title="Chương 1", duration_s=10.0,
                          qc={"failures": ["no_dead_air"]}, qc_passed=False)
        session.add(chapter)
        session.flush()
        return book.id, chapter.id


def test_a_qc_rejection_is_shown_as_needing_review_with_links_not_as_an_error(app, client, ctx, staff, monkeypatch):
    """Issue 16.13: a job stopped by QC said "Lỗi" with `studio.errors.QCRejected`; it is "Cần duyệt",
    names the failing chapters and rules with a link to each QC page, and offers no blind retry."""
    from studio import worker
    from studio.errors import QCRejected
    book_id, chapter_id = _book(ctx)

    def rejects(_ctx, _run):
        raise QCRejected("1 chương không đạt QC", [{"chapter_id": chapter_id, "position": 1,
                                                    "title": "Chương 1", "rules": ["no_dead_air"]}])
    monkeypatch.setitem(worker.HANDLERS, "produce", rejects)
    job_id = jobs.enqueue(ctx.sessions, "produce", book_id=book_id)
    assert worker.Worker(ctx).run_once()
    login(client, "phongthu")
    (row,) = client.get("/api/jobs").get_json()["jobs"]
    assert (row["id"], row["state"], row["state_label"], row["retryable"]) == (job_id, "review", "Cần duyệt", False)
    assert row["error"] == "" and row["review"][0]["url"] == f"/studio/chapters/{chapter_id}/qc"
    html = client.get("/jobs/").get_data(as_text=True)
    assert "Cần duyệt" in html and f'href="/studio/chapters/{chapter_id}/qc"' in html
    assert "Khoảng lặng số" in html  # the rule's label, not its code
    assert "QCRejected" not in html and "studio.errors" not in html
    assert f'action="/jobs/{job_id}/retry"' not in html
    assert client.get("/api/jobs").get_json()["summary"]["review"] == 1


def test_retrying_a_published_book_asks_first(app, client, ctx, staff):
    """Issue 16.13: "Chạy lại" re-mastered a published book without asking."""
    book_id, _chapter = _book(ctx, state="published")
    job_id = jobs.enqueue(ctx.sessions, "produce", book_id=book_id, max_attempts=1)
    jobs.claim(ctx.sessions, "w", lease_s=30)
    jobs.fail(ctx.sessions, job_id, "w", "studio.errors.StudioError: hỏng")
    login(client, "phongthu")
    html = client.get("/jobs/").get_data(as_text=True)
    assert "studio.errors" not in html and "hỏng" in html
    asked = client.post(f"/jobs/{job_id}/retry", data={"csrf_token": _csrf(html)})
    assert asked.status_code == 409 and "đã xuất bản" in asked.get_data(as_text=True)
    assert client.get("/api/jobs").get_json()["jobs"][0]["state"] == "failed"  # nothing changed
    confirmed = client.post(f"/jobs/{job_id}/retry", data={"csrf_token": _csrf(html), "confirm": "1"})
    assert confirmed.status_code == 302
    assert client.get("/api/jobs").get_json()["jobs"][0]["state"] == "queued"


def test_hot_folder_failures_appear_beside_the_jobs(app, client, ctx, staff, tmp_path):
    """Issue 16.13: a session dropped in the hot folder that could not be ingested was visible only
    as `_failed/.../LOI.txt` on disk; staff see it on the jobs page with its reason."""
    from studio.context import Decisions
    from studio.watch import HotFolder
    inbox = tmp_path / "inbox"
    (inbox / "phien-hong").mkdir(parents=True)
    (inbox / "phien-hong" / "ghi-chu.txt").write_text("không có âm thanh", encoding="utf-8")
    watcher = HotFolder(ctx, inbox, settle_s=0, decisions=Decisions())
    watcher.scan(now=0)
    (result,) = watcher.scan(now=10**9)
    assert result.error
    login(client, "phongthu")
    (row,) = client.get("/api/jobs").get_json()["jobs"]
    assert row["kind"] == "hotfolder" and row["state"] == "failed" and row["book_title"] == "phien-hong"
    assert row["error"] == result.error and row["retryable"] is False
    html = client.get("/jobs/").get_data(as_text=True)
    assert "phien-hong" in html and "Thư mục nhận" in html


def test_queued_work_is_never_announced_as_done(app, client, ctx, staff):
    """Issue 16.13: with the job workers running, approving said "sách đã được xử lý" (and finishing
    said the book was ready) while the job was only queued."""
    from catalog.models import Chapter
    book_id, chapter_id = _book(ctx)
    with ctx.sessions.begin() as session:
        session.get(Chapter, chapter_id).review_state = "approved"
    app.config["JOB_WORKERS_RUNNING"] = True
    login(client, "phongthu")
    token = _csrf(client.get("/jobs/").get_data(as_text=True))
    page = client.post(f"/studio/books/{book_id}/finish", data={"csrf_token": token}, follow_redirects=True)
    html = page.get_data(as_text=True)
    assert "hàng đợi" in html
    assert "sẵn sàng để thư viện xuất bản" not in html and "đã được xử lý" not in html
    assert client.get("/api/jobs").get_json()["jobs"][0]["state"] == "queued"


def test_every_qc_rule_has_a_label():
    """Outside testing saw `input_clipping`, `speech_over_noise` and `channels` as raw codes on the jobs
    and QC pages: every rule the chain can report has a label."""
    import inspect
    import re
    from mastering import qc
    from web.studio_views import RULE_LABELS
    rules = set(re.findall(r'(?:_rule|RuleResult)\("([a-z_]+)"', inspect.getsource(qc)))
    assert rules and rules <= set(RULE_LABELS), sorted(rules - set(RULE_LABELS))
    # templates translate labels with newstyle gettext, which %-formats them: a bare "%" would be a 500
    assert not [label for label in RULE_LABELS.values() if "%" in label]
