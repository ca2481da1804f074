"""Studio pages for narration QC (issue 20.3): attach a manuscript, its alignment state, decisions on
the retake list, the list as CSV and as a printable page, chapter marks proposed from headings.

Each view calls one function of `studio.narration`; the rules (who may decide, valid decisions) live
there. The interactive retake list itself is drawn on the chapter's QC page (`studio_views.qc`).
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from catalog.ids import parse_id
from catalog.models import Sentence
from catalog.spreadsheet import csv_text
from studio import narration
from web.auth import own_book, role_required
from web.extensions import db_session
from web.runtime import app_context

bp = Blueprint("narration", __name__, url_prefix="/studio")


@bp.app_template_filter("clock")
def clock_filter(seconds) -> str:
    return narration.clock(seconds)


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


@bp.post("/books/<int:book_id>/manuscript")
@role_required("studio")
def attach(book_id: int):
    """Upload a manuscript (.txt, .md) to the book or one of its sessions, and queue its alignment."""
    row = own_book(book_id)
    upload = request.files.get("manuscript")
    raw_session = request.form.get("session_id", "")
    session_id = parse_id(raw_session) if raw_session else None
    if raw_session and session_id is None:
        flash(_("Buổi ghi âm không hợp lệ."), "error")
        return redirect(url_for("studio_views.book", book_id=row.id) + "#manuscript-h"), 303
    if upload is None or not upload.filename:
        flash(_("Chưa chọn tệp bản thảo."), "error")
        return redirect(url_for("studio_views.book", book_id=row.id) + "#manuscript-h"), 303
    db_session().commit()  # attach writes in a transaction of its own (SQLite: one writer)
    try:
        narration.attach_and_queue(app_context(), row.id, upload.stream, upload.filename, session_id=session_id)
    except narration.NarrationError as exc:
        flash(str(exc), "error")
        return redirect(url_for("studio_views.book", book_id=row.id) + "#manuscript-h"), 303
    flash(_("Đã nhận bản thảo; việc căn chỉnh với âm thanh đã được xếp hàng."), "info")
    return redirect(url_for("studio_views.book", book_id=row.id) + "#manuscript-h")


@bp.get("/books/<int:book_id>/manuscript/status")
@role_required("studio")
def manuscript_status(book_id: int):
    """The manuscript's state as JSON, polled by the book page while alignment runs."""
    row = own_book(book_id)
    state = narration.status(db_session(), row.id)
    if state is None:
        return jsonify(state="none")
    return jsonify(state=state.state, label=_(narration.STATES[state.state]), message=state.message,
                   progress=state.progress_pct, sentences=state.sentences, findings=state.findings,
                   undecided=state.undecided)


@bp.post("/sentences/<int:sentence_id>/decision")
@role_required("studio")
def decide(sentence_id: int):
    """Mark a finding accepted, to re-record, or undecided again ("")."""
    session = db_session()
    sentence = session.get(Sentence, sentence_id)
    if sentence is None:
        abort(404)
    own_book(sentence.section.manuscript.book_id)
    chapter_id = sentence.section.chapter_id
    try:
        narration.decide(session, current_user, sentence_id, request.form.get("decision", ""))
    except narration.NotAllowed:
        session.rollback()
        abort(403)
    except narration.NarrationError as exc:
        session.rollback()
        if _wants_json():
            return jsonify(error="refused", message=str(exc)), 400
        flash(str(exc), "error")
        return _back(sentence_id, chapter_id), 303
    session.commit()
    label = _(narration.DECISIONS[sentence.decision])
    if _wants_json():
        return jsonify(sentence_id=sentence_id, decision=sentence.decision, label=label,
                       message=_("Đã ghi quyết định: %(d)s.", d=label))
    flash(_("Đã ghi quyết định: %(d)s.", d=label), "info")
    return _back(sentence_id, chapter_id)


def _back(sentence_id: int, chapter_id: int | None):
    if chapter_id is not None:
        return redirect(url_for("studio_views.qc", chapter_id=chapter_id) + f"#finding-{sentence_id}")
    sentence = db_session().get(Sentence, sentence_id)
    return redirect(url_for(".retakes_print", book_id=sentence.section.manuscript.book_id))


@bp.get("/books/<int:book_id>/retakes.csv")
@role_required("studio")
def retakes_csv(book_id: int):
    row = own_book(book_id)
    body = "\ufeff" + csv_text(narration.retake_rows(narration.findings(db_session(), row.id)))
    return Response(body, content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="can-thu-lai-{row.id}.csv"'})


@bp.get("/books/<int:book_id>/retakes")
@role_required("studio")
def retakes_print(book_id: int):
    """The whole book's retake list as a page to print (A4, no buttons)."""
    row = own_book(book_id)
    return render_template("staff/narration_retakes.html", book=row,
                           findings=narration.findings(db_session(), row.id),
                           status=narration.status(db_session(), row.id), kinds=narration.KINDS,
                           decisions=narration.DECISIONS)


@bp.post("/books/<int:book_id>/manuscript/propose-chapters")
@role_required("studio")
def propose_chapters(book_id: int):
    row = own_book(book_id)
    session = db_session()
    try:
        marks = narration.propose_chapter_marks(session, row.id)
    except narration.NarrationError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("studio_views.book", book_id=row.id) + "#manuscript-h"), 303
    session.commit()
    if not marks:
        flash(_("Bản thảo không gợi ý thêm mốc chương nào."), "info")
        return redirect(url_for("studio_views.book", book_id=row.id) + "#manuscript-h")
    flash(_("Đã gợi ý %(n)d mốc chương theo đề mục của bản thảo. Hãy kiểm tra rồi duyệt.", n=len(marks)), "info")
    return redirect(url_for("studio_views.editor", book_id=row.id))
