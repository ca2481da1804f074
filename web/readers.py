"""Account pages for staff: the user list (search, filters, paging), readers registered by the
library (one card, or a CSV of cards), one-time passwords, disable/enable and approval.

Librarians see and manage the readers of their own library; admins everyone (catalog.accounts
decides, `may_manage_account`). Admin-only edits (role, library) stay in web.admin."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from catalog.access import is_admin
from catalog.states import Role
from catalog.accounts import (ROLE_LABELS, AccountError, create_reader, may_manage_account, reset_by_staff, search_users,
                              set_active)
from catalog.models import ROLES, Library, User
from catalog.reader_import import import_readers
from web.auth import role_required, safe_next
from web.extensions import db_session
from web.labels import error_text

bp = Blueprint("readers", __name__, url_prefix="/librarian/accounts")
PER_PAGE = 50


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


def render_user_list(endpoint: str, *, created=None, report=None, status: int = 200):
    """The user list page for `endpoint` (this blueprint's or the admin's), filtered by the query string."""
    session = db_session()
    admin = is_admin(current_user)
    role = request.args.get("role", "") if admin else Role.READER
    page = search_users(session, current_user, query=request.args.get("q", ""), role=role,
                        library_id=_int_arg("library") if admin else None, page=_int_arg("page") or 1,
                        per_page=PER_PAGE)
    libraries = session.scalars(select(Library).order_by(Library.name)).all()
    args = {k: v for k, v in request.args.items() if k in ("q", "role", "library") and v}
    return render_template("staff/users.html", page=page, libraries=libraries, roles=ROLES, role_labels=ROLE_LABELS,
                           is_admin=admin, endpoint=endpoint, args=args, created=created, report=report,
                           library_names={lib.id: lib.name for lib in libraries}), status


@bp.get("/")
@role_required("librarian")
def index():
    return render_user_list("readers.index")


def _chosen_library_id() -> int:
    """The library a new reader joins: the admin's choice in the form, else one's own."""
    raw = request.form.get("library_id", "")
    chosen = int(raw) if is_admin(current_user) and raw.isdigit() and len(raw) < 10 else None
    return chosen or current_user.library_id


def _own_library() -> Library:
    library = db_session().get(Library, _chosen_library_id())
    if library is None:
        abort(400)
    return library


@bp.post("/new")
@role_required("librarian")
def new_reader():
    session = db_session()
    try:
        user, password = create_reader(session, current_user, _own_library(), request.form.get("card_number", ""),
                                       request.form.get("name", ""), email=request.form.get("email", ""))
    except AccountError as exc:
        session.rollback()
        flash(error_text(exc), "error")
        return render_user_list("readers.index", status=400)
    session.commit()
    return render_user_list("readers.index", created=[(user.card_number, user.display_name, password)])


@bp.post("/import")
@role_required("librarian")
def import_csv():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Hãy chọn tệp CSV danh sách thẻ."), "error")
        return render_user_list("readers.index", status=400)
    session = db_session()
    report = import_readers(session, current_user, _chosen_library_id(), upload.read(2 * 1024 * 1024 + 1))
    if report.errors:
        session.rollback()
        flash(_("Chưa nhập bạn đọc nào: tệp có %(n)d lỗi, hãy sửa rồi gửi lại.", n=len(report.errors)), "error")
        return render_user_list("readers.index", report=report, status=400)
    session.commit()
    flash(_("Đã tạo %(n)d tài khoản bạn đọc.", n=len(report.created)), "info")
    return render_user_list("readers.index", created=[(r.card_number, r.name, r.one_time_password)
                                                      for r in report.created])


def _managed(user_id: int) -> User:
    user = db_session().get(User, user_id)
    if user is None:
        abort(404)
    if not may_manage_account(current_user, user):
        abort(403)
    return user


def _back():
    """Back to the list page the form was on (a local path only)."""
    return redirect(safe_next(request.form.get("back")) if request.form.get("back") else url_for(".index"), 303)


@bp.post("/<int:user_id>/one-time-password")
@role_required("librarian")
def one_time_password(user_id: int):
    user = _managed(user_id)
    password = reset_by_staff(current_user, user)
    db_session().commit()
    flash(_("Mật khẩu dùng một lần của %(u)s: %(p)s — đưa cho bạn đọc; lần đăng nhập tới phải đổi.",
            u=user.username, p=password), "info")
    return _back()


@bp.post("/<int:user_id>/active")
@role_required("librarian")
def toggle_active(user_id: int):
    user = _managed(user_id)
    active = request.form.get("active") == "1"
    set_active(current_user, user, active)
    db_session().commit()
    flash(_("Đã mở khoá %(u)s.", u=user.username) if active else _("Đã khoá %(u)s.", u=user.username), "info")
    return _back()
