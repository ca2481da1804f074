"""Staff page of production jobs (`/jobs/`), its JSON feed (`/api/jobs`) polled by jobs.js, and retry.

HTTP only: the job rules live in `studio.jobs`.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user
from flask_babel import gettext as _
from sqlalchemy import select

from catalog.models import Book, Job
from studio import jobs as job_rules
from studio.pipeline import STAGES
from web.auth import role_required
from web.extensions import db_session, services

bp = Blueprint("jobs", __name__)
STAFF = ("studio", "librarian")
STATE_LABELS = {"queued": "Đang chờ", "running": "Đang chạy", "done": "Xong", "failed": "Lỗi"}


def _rows(limit: int = 100) -> list[dict]:
    session = db_session()
    labels = {s.name: s.label_vi for s in STAGES}
    query = (select(Job, Book.title).outerjoin(Book, Book.id == Job.book_id)
             .order_by(Job.id.desc()).limit(limit))
    if current_user.role != "admin":  # staff see their own library's jobs only
        query = query.where((Book.library_id == current_user.library_id) | Job.book_id.is_(None))
    rows = []
    for job, title in session.execute(query):
        rows.append({
            "id": job.id, "kind": job.kind, "book_id": job.book_id, "book_title": title or "",
            "state": job.state, "state_label": _(STATE_LABELS.get(job.state, job.state)),
            "stage": job.stage, "stage_label": _(labels[job.stage]) if job.stage in labels else job.stage,
            "progress": round(job.progress or 0.0, 1), "attempts": job.attempts,
            "max_attempts": job.max_attempts, "message": job.message or "",
            "error": (job.error or "").strip().splitlines()[-1] if job.error else "",
            "updated_at": job.updated_at.isoformat() + "Z" if job.updated_at else None,
        })
    return rows


def _summary(rows: list[dict]) -> dict:
    counts = {state: 0 for state in STATE_LABELS}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    return counts


@bp.get("/jobs/")
@role_required(*STAFF)
def index():
    rows = _rows()
    return render_template("jobs.html", jobs=rows, summary=_summary(rows), state_labels=STATE_LABELS)


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
    if job is None or (current_user.role != "admin" and book is not None
                       and book.library_id != current_user.library_id):
        abort(404)
    db_session().commit()  # end the request's transaction: SQLite's write lock is taken at BEGIN
    if not job_rules.retry(services().sessions, job_id):
        abort(409)
    flash(_("Đã xếp lại việc #%(id)s.", id=job_id), "info")
    return redirect(url_for("jobs.index"))
