"""Studio pages (role `studio`): books in production, sessions and takes with resumable upload,
the chapter editor, QC reports with plots, and review (approve, or send back with a comment).

Staff see and change only their own library's books (admins: every library). Human decisions are
handed to the production pipeline as `studio.context.Decisions`; the pipeline itself decides
nothing from here. Boundary edits keep where a boundary came from: a moved boundary becomes
`manual` and remembers its first source in `Mark.detail["from_source"]`.
"""
from __future__ import annotations

from flask import (Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request,
                   send_file, url_for)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from catalog.books import create_book, drafts
from catalog.errors import CatalogError
from catalog.models import Book, Chapter, Library, Mark, RecordingSession, Take
from catalog.text import nfc
from mastering.plots import qc_svg
from studio import intake, mark_edits, narration, review as rules
from studio.errors import ReviewError, StudioError
from studio.pipeline import edit_key
from studio.waveform import ENVELOPE_POINTS, envelope_points, take_envelope
from web.auth import own_book, role_required
from web.extensions import db_session, media_store
from web.labels import JOB_STATES, error_text
from web.runtime import app_context, run_jobs_soon

bp = Blueprint("studio_views", __name__, url_prefix="/studio")

SOURCE_LABELS = {"manual": "Chỉnh tay", "audacity": "Nhãn Audacity", "cue": "Điểm cue trong WAV",
                 "session": "Danh sách trong session.toml", "pauses": "Tự động (khoảng lặng)",
                 "manuscript": "Gợi ý từ bản thảo"}
RULE_LABELS = {"integrated_loudness": "Độ to tích hợp (LUFS)", "true_peak": "Đỉnh thực (dBTP)", "rms": "RMS (dB)",
               "noise_floor": "Nền ồn (dB)", "duration_min": "Thời lượng tối thiểu", "duration_max": "Thời lượng tối đa",
               "clipping": "Mẫu bị xén", "no_dead_air": "Khoảng lặng số", "head_room_tone": "Khoảng lặng đầu (s)",
               "tail_room_tone": "Khoảng lặng cuối (s)", "speech_present": "Có tiếng nói",
               "speech_over_noise": "Tiếng nói trên nền ồn (dB)", "input_clipping": "Tỉ lệ mẫu bị xén trong bản thu",
               "channels": "Số kênh"}
PLAY_AROUND_S = 3.0


# -- access -----------------------------------------------------------------------------------------
def _take(take_id: int) -> Take:
    take = db_session().get(Take, take_id)
    if take is None:
        abort(404)
    own_book(take.session.book_id)
    return take


def _chapter(chapter_id: int) -> Chapter:
    chapter = db_session().get(Chapter, chapter_id)
    if chapter is None:
        abort(404)
    own_book(chapter.book_id)
    return chapter


def _takes(book: Book) -> list[Take]:
    return list(db_session().scalars(
        select(Take).join(RecordingSession).where(RecordingSession.book_id == book.id)
        .order_by(RecordingSession.position, RecordingSession.id, Take.position)))


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json" or request.is_json


# -- pages ------------------------------------------------------------------------------------------
@bp.get("/")
@role_required("studio")
def index():
    return render_template("staff/studio_index.html", books=drafts(db_session(), current_user))


@bp.post("/books")
@role_required("studio")
def new_book():
    title = nfc(request.form.get("title", ""))
    session = db_session()
    library = session.get(Library, current_user.library_id)
    try:
        book = create_book(session, library=library, title=title,
                           narrators=[n for n in [nfc(request.form.get("narrator", ""))] if n],
                           profile=library.delivery_profile or current_app.config["DEFAULT_PROFILE"])
    except CatalogError as exc:
        session.rollback()
        flash(error_text(exc), "error")
        return redirect(url_for(".index"))
    session.commit()
    flash(_("Đã tạo sách mới."), "info")
    return redirect(url_for(".book", book_id=book.id))


@bp.get("/books/<int:book_id>")
@role_required("studio")
def book(book_id: int):
    row = own_book(book_id)
    session = db_session()
    sessions = session.scalars(select(RecordingSession).where(RecordingSession.book_id == row.id)
                               .order_by(RecordingSession.position)).all()
    marks = session.scalar(select(func.count(Mark.id)).where(Mark.book_id == row.id, Mark.kind == "chapter"))
    tus = "uploads.create" in current_app.view_functions or any(
        r.rule.startswith("/api/uploads") for r in current_app.url_map.iter_rules())
    chapters = list(row.chapters)
    return render_template("staff/studio_book.html", book=row, sessions=sessions, marks=marks or 0,
                           chapters=chapters, tus_endpoint="/api/uploads/" if tus else "",
                           manuscript=narration.status(session, row.id), manuscript_states=narration.STATES,
                           open_findings=narration.findings_per_chapter(session, row.id),
                           all_reviewed=rules.all_approved(row), job=rules.production_job(session, row.id),
                           job_states=JOB_STATES)


# -- sessions and takes -------------------------------------------------------------------------------
@bp.post("/books/<int:book_id>/sessions")
@role_required("studio")
def new_session(book_id: int):
    """The no-JS path: the files sent with the form become the takes of a new recording session,
    which exists only once its first take is stored."""
    row = own_book(book_id)
    _allow_upload_body()
    files = [f for f in request.files.getlist("files") if f and f.filename]
    session_id, errors = None, [] if files else [_("Chưa chọn tệp.")]
    for upload in files:
        try:
            received = _receive(upload, session_id=session_id, book_id=row.id,
                                session_name=nfc(request.form.get("name", "")))
            session_id = received.session_id
        except StudioError as exc:
            errors.append(error_text(exc))
    if _wants_json():
        if errors:
            return jsonify(error="bad-audio", message="; ".join(errors)), 400
        return jsonify(session_id=session_id), 201
    if errors:
        flash("; ".join(errors), "error")
    return redirect(url_for(".book", book_id=row.id))


def _allow_upload_body() -> None:
    """The form upload routes take bodies up to MAX_UPLOAD_MB (every other route: MAX_REQUEST_MB)."""
    request.max_content_length = int(float(current_app.config["MAX_UPLOAD_MB"]) * 1e6) + (1 << 20)


def _receive(upload, **target) -> intake.Received:
    """One file of a form upload through `studio.intake` (the limits every way in shares)."""
    db_session().commit()  # the intake writes in a transaction of its own (SQLite: one writer)
    return intake.receive_take(app_context(), upload.stream, filename=upload.filename,
                               user_id=current_user.id, length=request.content_length, **target)


@bp.post("/sessions/<int:session_id>/takes")
@role_required("studio")
def add_take(session_id: int):
    """One file per request (the browser shows a progress bar per file) when tus is not offered.

    With tus (`/api/uploads/`), the upload carries `session_id` or `book_id` metadata and
    web.uploads adds the take.
    """
    rec = db_session().get(RecordingSession, session_id)
    if rec is None:
        abort(404)
    own_book(rec.book_id)
    _allow_upload_body()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return jsonify(error="no-file", message=_("Chưa chọn tệp.")), 400
    try:
        received = _receive(upload, session_id=rec.id)
    except intake.IntakeError as exc:
        return jsonify(error="refused", message=error_text(exc)), exc.status
    except StudioError as exc:
        return jsonify(error="bad-audio", message=error_text(exc)), 400
    return jsonify(take_id=received.take_id, filename=received.filename, duration_s=received.duration_s), 201


@bp.post("/sessions/<int:session_id>/delete")
@role_required("studio")
def delete_session(session_id: int):
    session = db_session()
    rec = session.get(RecordingSession, session_id)
    if rec is None:
        abort(404)
    book_id = own_book(rec.book_id).id
    try:
        intake.delete_recording_session(session, rec)
    except StudioError as exc:
        session.rollback()
        flash(error_text(exc), "error")
        return redirect(url_for(".book", book_id=book_id))
    session.commit()
    flash(_("Đã xoá buổi ghi âm."), "info")
    return redirect(url_for(".book", book_id=book_id))


@bp.get("/takes/<int:take_id>/audio")
@role_required("studio")
def take_audio(take_id: int):
    take = _take(take_id)
    path = media_store().find_original(take.original_sha256)
    return send_file(path, conditional=True, max_age=3600)


# -- chapter marks ---------------------------------------------------------------------------------
@bp.post("/books/<int:book_id>/detect")
@role_required("studio")
def detect(book_id: int):
    """Run the chapter-marking stage (labels, cue markers, session list, pauses) without approving."""
    own_book(book_id)
    db_session().close()  # the stage writes in sessions of its own (SQLite: one writer)
    try:
        rules.detect_marks(app_context(), book_id)
    except StudioError as exc:
        flash(error_text(exc), "error")
        return redirect(url_for(".book", book_id=book_id))
    flash(_("Đã tìm mốc chương. Hãy kiểm tra trước khi duyệt."), "info")
    return redirect(url_for(".editor", book_id=book_id))


@bp.get("/books/<int:book_id>/chapters")
@role_required("studio")
def editor(book_id: int):
    row = own_book(book_id)
    session = db_session()
    takes = _takes(row)
    marks = session.scalars(select(Mark).where(Mark.book_id == row.id, Mark.kind == "chapter")
                            .order_by(Mark.take_id, Mark.start_s)).all()
    cuts = session.scalars(select(Mark).where(Mark.book_id == row.id, Mark.kind == "cut")).all()
    views, number = [], 0
    for take in takes:
        take_marks = [m for m in marks if m.take_id == take.id]
        entries = []
        for mark in take_marks:
            number += 1
            entries.append({"mark": mark, "number": number,
                            "x": 1000 * mark.start_s / take.duration_s if take.duration_s else 0})
        env = take_envelope(media_store(), take.original_sha256, ENVELOPE_POINTS)
        views.append({"take": take, "marks": entries, "envelope": envelope_points(env),
                      "cuts": [c for c in cuts if c.take_id == take.id]})
    return render_template("staff/studio_editor.html", book=row, views=views, labels=SOURCE_LABELS,
                           approved=bool(marks) and all(m.approved for m in marks))


def _mark(mark_id: int) -> Mark:
    mark = db_session().get(Mark, mark_id)
    if mark is None:
        abort(404)
    own_book(mark.book_id)
    return mark


@bp.post("/marks/<int:mark_id>/move")
@role_required("studio")
def move_mark(mark_id: int):
    mark = _mark(mark_id)
    try:
        start = mark_edits.move_mark(db_session(), mark, request.form.get("start"))
    except StudioError as exc:
        return _edit_error(mark.book_id, exc)
    db_session().commit()
    flash(_("Đã dời mốc chương tới %(t).2f s.", t=start), "info")
    return redirect(url_for(".editor", book_id=mark.book_id) + f"#take-{mark.take_id}")


@bp.post("/takes/<int:take_id>/marks")
@role_required("studio")
def add_mark(take_id: int):
    take = _take(take_id)
    book_id = take.session.book_id
    try:
        mark = mark_edits.add_mark(db_session(), take, request.form.get("start"),
                                   request.form.get("title", ""), added_by=current_user.id)
    except StudioError as exc:
        return _edit_error(book_id, exc)
    db_session().commit()
    flash(_("Đã thêm mốc chương tại %(t).2f s.", t=mark.start_s), "info")
    return redirect(url_for(".editor", book_id=book_id) + f"#take-{take.id}")


@bp.post("/marks/<int:mark_id>/delete")
@role_required("studio")
def delete_mark(mark_id: int):
    mark = _mark(mark_id)
    book_id, take_id = mark.book_id, mark.take_id
    try:
        mark_edits.delete_mark(db_session(), mark)
    except StudioError as exc:
        return _edit_error(book_id, exc)
    db_session().commit()
    flash(_("Đã xoá mốc chương."), "info")
    return redirect(url_for(".editor", book_id=book_id) + f"#take-{take_id}")


@bp.post("/marks/<int:mark_id>/rename")
@role_required("studio")
def rename_mark(mark_id: int):
    mark = _mark(mark_id)
    mark_edits.rename_mark(db_session(), mark, request.form.get("title", ""))
    db_session().commit()
    flash(_("Đã đổi tên chương."), "info")
    return redirect(url_for(".editor", book_id=mark.book_id) + f"#mark-{mark.id}")


def _edit_error(book_id: int, exc: Exception):
    db_session().rollback()
    flash(error_text(exc), "error")
    return redirect(url_for(".editor", book_id=book_id)), 303


# -- approval and production -------------------------------------------------------------------------
def _produce(action, book_id: int, **options) -> StudioError | None:
    """Call `action(ctx, book_id, queue=True, **options)` (a `studio.review` decision that starts
    production) and flash what happened: queued, or the refusal. Returns the refusal, if any.

    Mastering and packaging are always a job, never run in the request: the server's worker pool
    runs it (`sachnoi serve`, RUN_WORKERS), else this app's on-demand job thread (`run_jobs_soon`);
    the book page follows its progress.
    """
    db_session().close()  # the decision writes in sessions of its own (SQLite: one writer)
    try:
        job_id = action(app_context(), book_id, queue=True, **options)
    except ReviewError as exc:
        flash(error_text(exc), "error")
        return exc
    except StudioError as exc:
        flash(error_text(exc), "error")
    else:
        run_jobs_soon()
        flash(_("Đã đưa vào hàng đợi xử lý (việc #%(id)d); xem tiến độ ở trang Tiến độ xử lý.", id=job_id), "info")
    return None


@bp.post("/books/<int:book_id>/approve")
@role_required("studio")
def approve(book_id: int):
    """Approve the chapter marks and master the book; QC failures stop for review."""
    own_book(book_id)
    if _produce(rules.approve_marks, book_id):
        return redirect(url_for(".editor", book_id=book_id))
    return redirect(url_for(".book", book_id=book_id))


@bp.post("/books/<int:book_id>/finish")
@role_required("studio")
def finish(book_id: int):
    """Every chapter approved by a person: accept their QC results and package the book."""
    own_book(book_id)
    _produce(rules.finish, book_id)
    return redirect(url_for(".book", book_id=book_id))


@bp.get("/chapters/<int:chapter_id>/qc")
@role_required("studio", "librarian")
def qc(chapter_id: int):
    chapter = _chapter(chapter_id)
    report = chapter.qc or {}
    svg = qc_svg(report, id_prefix=f"qc{chapter.id}") if report else ""
    return render_template("staff/studio_qc.html", chapter=chapter, book=chapter.book, report=report,
                           svg=svg, rule_labels=RULE_LABELS,
                           findings=narration.findings(db_session(), chapter.book_id, chapter.id),
                           kinds=narration.KINDS, decisions=narration.DECISIONS,
                           listen={which: bool(key) and media_store().exists(key)
                                   for which, key in _chapter_audio(chapter).items()})


def _chapter_audio(chapter: Chapter) -> dict[str, str]:
    """Media keys of a chapter's audio before mastering (the cut takes) and after (the master)."""
    return {"before": edit_key(media_store().book_prefix(chapter.book.uuid), chapter.position),
            "after": chapter.master_key or ""}


@bp.get("/chapters/<int:chapter_id>/audio/<any(before, after):which>")
@role_required("studio", "librarian")
def chapter_audio(chapter_id: int, which: str):
    """The chapter before or after mastering, for listening to a QC zone (Range requests: seekable)."""
    key = _chapter_audio(_chapter(chapter_id))[which]
    if not key or not media_store().exists(key):
        abort(404)
    return send_file(media_store().path(key), mimetype="audio/flac", conditional=True, max_age=0)


@bp.get("/chapters/<int:chapter_id>/qc.svg")
@role_required("studio", "librarian")
def qc_plot(chapter_id: int):
    chapter = _chapter(chapter_id)
    return current_app.response_class(qc_svg(chapter.qc or {}), mimetype="image/svg+xml")


@bp.post("/chapters/<int:chapter_id>/review")
@role_required("studio")
def review(chapter_id: int):
    chapter = _chapter(chapter_id)
    decision = request.form.get("decision")
    if decision not in ("approve", "reject"):
        abort(400)
    try:
        rules.review_chapter(db_session(), chapter, approve=decision == "approve",
                             comment=request.form.get("comment", ""))
    except ReviewError as exc:
        db_session().rollback()
        flash(error_text(exc), "error")
        return redirect(url_for(".qc", chapter_id=chapter_id)), 303
    db_session().commit()
    flash(_("Đã duyệt chương %(n)d.", n=chapter.position) if decision == "approve"
          else _("Đã trả lại chương %(n)d để ghi lại.", n=chapter.position), "info")
    return redirect(url_for(".book", book_id=chapter.book_id))


@bp.post("/books/<int:book_id>/approve-all")
@role_required("studio")
def approve_all(book_id: int):
    own_book(book_id)
    _produce(rules.finish, book_id, approve_rest=True)
    return redirect(url_for(".book", book_id=book_id))
