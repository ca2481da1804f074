"""The tus 1.0.0 endpoint at /api/uploads/ (core, creation, termination, checksum) for studio staff.

HTTP only: every rule lives in `studio.uploads.UploadManager`.

CSRF: tus requests carry no form field, so this blueprint is exempt from Flask-WTF's check.
Instead every state-changing request must carry the custom `Tus-Resumable` header (the tus
protocol requires it anyway). A cross-site page cannot add a custom header without a CORS
preflight, and we answer no preflight with Access-Control-Allow-*, so the browser never sends
such a request; plain cross-site forms cannot set it at all. The session cookie is also
SameSite=Lax, so it is not sent on cross-site POST/PATCH/DELETE in the first place.
"""
from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from studio.uploads import CHECKSUMS, EXTENSIONS, TUS_VERSION, UploadError, UploadManager
from web.auth import role_required
from web.labels import error_text
from web.runtime import app_context

bp = Blueprint("uploads", __name__, url_prefix="/api/uploads")
ROLES = ("studio", "librarian")  # admin always passes role_required


@bp.record_once
def _exempt_from_csrf(state) -> None:
    csrf = state.app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)


def manager() -> UploadManager:
    """The upload manager, with the request's own transaction ended first: on SQLite every
    transaction takes the write lock at BEGIN, and the manager writes in sessions of its own."""
    if g.get("db_session") is not None:
        g.db_session.commit()
    return UploadManager(app_context())


def _tus(response: Response, status: int = 204) -> Response:
    response.status_code = status
    response.headers["Tus-Resumable"] = TUS_VERSION
    response.headers["Cache-Control"] = "no-store"
    return response


def _error(exc: UploadError) -> Response:
    response = Response(error_text(exc) + "\n", mimetype="text/plain")
    return _tus(response, exc.status)


@bp.before_request
def _require_tus_header():
    if request.method == "OPTIONS" or request.method == "GET":
        return None
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        response = Response(_("Cần header Tus-Resumable: %(version)s", version=TUS_VERSION) + "\n",
                            mimetype="text/plain")
        response.headers["Tus-Version"] = TUS_VERSION
        return _tus(response, 412)
    return None


@bp.route("/", methods=["OPTIONS"], provide_automatic_options=False)
@bp.route("/<upload_id>", methods=["OPTIONS"], provide_automatic_options=False)
def options(upload_id: str | None = None):
    response = Response()
    response.headers["Tus-Version"] = TUS_VERSION
    response.headers["Tus-Extension"] = ",".join(EXTENSIONS)
    response.headers["Tus-Checksum-Algorithm"] = ",".join(CHECKSUMS)
    response.headers["Tus-Max-Size"] = str(manager().max_bytes)
    return _tus(response)


@bp.post("/")
@role_required(*ROLES)
def create():
    try:
        info = manager().create(current_user.id, request.headers.get("Upload-Length"),
                                request.headers.get("Upload-Metadata"))
    except UploadError as exc:
        return _error(exc)
    response = Response()
    response.headers["Location"] = url_for("uploads.upload", upload_id=info.id, _external=True)
    response.headers["Upload-Offset"] = "0"
    return _tus(response, 201)


@bp.route("/<upload_id>", methods=["HEAD"])
@role_required(*ROLES)
def head(upload_id: str):
    try:
        info = manager().get(upload_id, current_user.id)
    except UploadError as exc:
        return _tus(Response(), exc.status)
    response = Response()
    response.headers["Upload-Offset"] = str(info.offset if info.state == "uploading" else info.length)
    response.headers["Upload-Length"] = str(info.length)
    return _tus(response, 200)


@bp.route("/<upload_id>", methods=["PATCH"])
@role_required(*ROLES)
def upload(upload_id: str):
    """PATCH: the one route (with the form upload) allowed a body past MAX_REQUEST_MB."""
    try:
        mgr = manager()
        request.max_content_length = mgr.max_bytes
        info = mgr.append(upload_id, current_user.id, request.headers.get("Upload-Offset"),
                                request.headers.get("Content-Type"), request.stream, request.content_length,
                                request.headers.get("Upload-Checksum"))
    except UploadError as exc:
        return _error(exc)
    response = Response()
    response.headers["Upload-Offset"] = str(info.offset if info.state == "uploading" else info.length)
    if info.state == "done":
        response.headers["Upload-Sha256"] = info.sha256
    return _tus(response)


@bp.route("/<upload_id>", methods=["DELETE"])
@role_required(*ROLES)
def terminate(upload_id: str):
    try:
        manager().terminate(upload_id, current_user.id)
    except UploadError as exc:
        return _error(exc)
    return _tus(Response())


@bp.get("/<upload_id>")
@role_required(*ROLES)
def status(upload_id: str):
    """JSON for the staff page: where the upload is, and the original it became."""
    try:
        info = manager().get(upload_id, current_user.id)
    except UploadError as exc:
        return jsonify(error=error_text(exc)), exc.status
    return jsonify(id=info.id, state=info.state, offset=info.offset if info.state == "uploading" else info.length,
                   length=info.length, filename=info.filename, sha256=info.sha256, format=info.format,
                   duration_s=info.duration_s, take_id=info.take_id,
                   session_id=info.session_id)
