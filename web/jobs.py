"""Staff page of production jobs (`/jobs/`), its JSON feed (`/api/jobs`) polled by jobs.js, and retry.

HTTP only: the job rules live in `studio.jobs`.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from catalog.access import managed_by, may_manage
from catalog.states import JobState, Role
from catalog.models import Book, Job
from studio import jobs as job_rules
from studio.pipeline import STAGES
from web.labels import JOB_STATES
from web.auth import role_required
from web.extensions import db_session, services
from web.studio_views import RULE_LABELS

bp = Blueprint("jobs", __name__)
STAFF = (Role.STUDIO, Role.LIBRARIAN)
STATE_LABELS = JOB_STATES
SHOWN_STATE_LABELS = {**STATE_LABELS, "review": "Cần duyệt"}  # review: failed QC, waits for staff
KIND_LABELS = {"produce": "Sản xuất", "clip": "Đoạn giới thiệu", "align": "Căn chỉnh bản thảo",
               "talking_book": "Sách nói EPUB 3 và DAISY", job_rules.HOTFOLDER: "Thư mục nhận"}


def _rows(limit: int = 100) -> list[dict]:
    session = db_session()
    labels = {s.name: s.label_vi for s in STAGES}
    query = (select(Job, Book.title).outerjoin(Book, Book.id == Job.book_id)
             .where(managed_by(current_user, Book.library_id) | Job.book_id.is_(None))
             .order_by(Job.id.desc()).limit(limit))
    rows = []
    for job, title in session.execute(query):
        state = "review" if job_rules.needs_review(job) else job.state
        review = [{"title": c.get("title", ""), "url": url_for("studio_views.qc", chapter_id=c["chapter_id"]),
                   "rules": [_(RULE_LABELS.get(r, r)) for r in c.get("rules", [])]}
                  for c in (job.result or {}).get("review", []) if isinstance(c.get("chapter_id"), int)]
        folder = (job.payload or {}).get("folder", "") if job.kind == job_rules.HOTFOLDER else ""
        rows.append({
            "id": job.id, "kind": job.kind, "kind_label": _(KIND_LABELS.get(job.kind, job.kind)),
            "book_id": job.book_id, "book_title": title or folder,
            "state": state, "state_label": _(SHOWN_STATE_LABELS.get(state, state)), "review": review,
            "retryable": job.state == JobState.FAILED and state != "review" and job.kind != job_rules.HOTFOLDER,
            "stage": job.stage, "stage_label": _(labels[job.stage]) if job.stage in labels else "",
            "progress": round(job.progress or 0.0, 1), "attempts": job.attempts,
            "max_attempts": job.max_attempts, "message": job.message or "",
            # a finished job's caveat (talking books leaving out manuscript sections) shows as its reason
            "error": "" if review else _last_line(job.error) or str((job.result or {}).get("message") or ""),
            "updated_at": job.updated_at.isoformat() + "Z" if job.updated_at else None,
        })
    return rows


def _last_line(error: str | None) -> str:
    """The newest attempt's reason, without the "[lần N]" prefix or an exception's module path."""
    lines = (error or "").strip().splitlines()
    text = lines[-1] if lines else ""
    if text.startswith("[lần ") and "] " in text:
        text = text.split("] ", 1)[1]
    head, sep, rest = text.partition(": ")
    if sep and "." in head and " " not in head:  # "studio.errors.StudioError: reason" -> "reason"
        text = rest
    return text


def _summary(rows: list[dict]) -> dict:
    counts = {state: 0 for state in SHOWN_STATE_LABELS}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    return counts


@bp.get("/jobs/")
@role_required(*STAFF)
def index():
    rows = _rows()
    return render_template("jobs.html", jobs=rows, summary=_summary(rows), state_labels=SHOWN_STATE_LABELS)


@bp.get("/api/jobs")
@role_required(*STAFF)
def feed():
    rows = _rows()
    return jsonify(jobs=rows, summary=_summary(rows))


@bp.post("/jobs/<int:job_id>/retry")
@role_required(*STAFF)
def retry(job_id: int):
    job = db_session().get(Job, job_id)
    book = db_session().get(Book, job.book_id) if job is not None and job.book_id else None
    if job is None or (book is not None and not may_manage(current_user, book.library_id)):
        abort(404)
    db_session().commit()  # end the request's transaction: SQLite's write lock is taken at BEGIN
    outcome = job_rules.retry(services().sessions, job_id, confirm_published=request.form.get("confirm") == "1")
    if outcome == job_rules.CONFIRM_PUBLISHED:
        return render_template("jobs_confirm.html", job=job, book=book), 409
    if outcome != job_rules.RETRIED:
        abort(409)
    flash(_("Đã xếp lại việc #%(id)s.", id=job_id), "info")
    return redirect(url_for("jobs.index"))
