"""Login, logout and role checks (Flask-Login; passwords verified in catalog.accounts).

The id kept in the session is "<user id>:<session version>", so bumping a user's
session_version (logout everywhere, password change, disable) ends every old session.
"""
from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import bindparam, select
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from catalog.access import has_role, may_manage
from catalog.accounts import MIN_PASSWORD_LENGTH, AccountError, authenticate, set_password
from catalog.db import read_row
from catalog.models import Book, User
from catalog.text import nfc
from streaming.access import can_see
from web.extensions import db_session, services
from web.security import login_throttle
from web.labels import error_text

bp = Blueprint("auth", __name__)
_USER_BY_ID = select(*User.__table__.c).where(User.__table__.c.id == bindparam("uid"))


class LoginUser(UserMixin):
    """The logged-in user as Flask-Login sees it; wraps the row's plain fields (a User or a Row of its columns)."""

    def __init__(self, row):
        self.row = row
        self.id = row.id
        self.username = row.username
        self.role = row.role
        self.library_id = row.library_id
        self.display_name = row.display_name or row.username
        self.locale = row.locale
        self.is_print_disabled = row.print_disabled_verified_at is not None
        self.must_change_password = bool(row.must_change_password)

    def get_id(self) -> str:
        return f"{self.row.id}:{self.row.session_version}"

    @property
    def is_active(self) -> bool:
        return bool(self.row.is_active)

    def has_role(self, *roles: str) -> bool:
        return has_role(self, *roles)


class LoginForm(FlaskForm):
    username = StringField("Tên đăng nhập", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Mật khẩu", validators=[DataRequired(), Length(max=1024)])


class PasswordChangeForm(FlaskForm):
    current = PasswordField("Mật khẩu hiện tại", validators=[DataRequired(), Length(max=1024)])
    new = PasswordField("Mật khẩu mới", validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=1024)])
    confirm = PasswordField("Nhập lại mật khẩu mới", validators=[DataRequired(), EqualTo("new")])


def init_auth(app: Flask) -> None:
    manager = LoginManager(app)
    manager.login_view = "auth.login"
    manager.login_message = None

    @manager.user_loader
    def load_user(user_id: str):
        uid, _sep, version = user_id.partition(":")
        if not uid.isdigit() or not version.isdigit():
            return None
        # Its own one-statement read (every request runs this, so Core, not the ORM): the
        # request's session (and, for writes, SQLite's write lock) starts only when the view
        # needs it. The Row carries User's columns by name.
        row = read_row(services().engine, _USER_BY_ID, {"uid": int(uid)})
        if row is None or not row.is_active or row.session_version != int(version):
            return None
        return LoginUser(row)

    @manager.unauthorized_handler
    def unauthorized():
        if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
            return {"error": "unauthorized", "message": _("Cần đăng nhập.")}, 401
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))

    @app.before_request
    def _one_time_password_must_be_changed():
        """A one-time password from staff opens only the change page (and logout) until replaced."""
        if (getattr(current_user, "must_change_password", False)
                and request.endpoint not in ("auth.change_password", "auth.logout", "static")):
            if request.path.startswith("/api/"):
                return {"error": "password_change_required",
                        "message": _("Cần đổi mật khẩu dùng một lần trước khi tiếp tục.")}, 403
            return redirect(url_for("auth.change_password"))
        return None

    app.register_blueprint(bp)


def rotate_csrf_token() -> None:
    """A new CSRF token for the new login: a token planted or read before login (login CSRF,
    a shared computer) must not be good for the account afterwards. Flask-WTF makes a fresh one
    on the next `csrf_token()` when neither the session nor `g` holds one."""
    name = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    session.pop(name, None)
    g.pop(name, None)


DEVICE_COOKIE = "sachnoi_device"
DEVICE_MAX_AGE_S = 180 * 24 * 3600


def _device_serializer():
    return URLSafeTimedSerializer(current_app.secret_key, salt="sachnoi-known-device")


def _device_names() -> list[str]:
    """The user names this browser has logged in as (signed cookie; [] when absent or forged)."""
    try:
        names = _device_serializer().loads(request.cookies.get(DEVICE_COOKIE, ""), max_age=DEVICE_MAX_AGE_S)
    except BadData:
        return []
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def is_known_device(username: str | None) -> bool:
    """True when this browser's signed device cookie names `username` (it logged in here before)."""
    return nfc(username).lower() in _device_names()


def remember_device(response, username: str):
    """Add `username` to the device cookie (at most 5 names a browser: a shared library PC)."""
    names = ([username] + [n for n in _device_names() if n != username])[:5]
    response.set_cookie(DEVICE_COOKIE, _device_serializer().dumps(names), max_age=DEVICE_MAX_AGE_S,
                        httponly=True, samesite="Lax", secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response


def safe_next(target: str | None) -> str:
    """A local path to go to after login; anything pointing elsewhere becomes the home page."""
    if not target:
        return url_for("reader.home")
    target = target.replace("\\", "/")
    parts = urlsplit(target)
    if (parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//")
            or any(ord(c) < 32 or ord(c) == 127 for c in target)):  # CR/LF would split the Location header
        return url_for("reader.home")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        session = db_session()
        throttle = login_throttle()
        address = request.remote_addr  # the socket peer, or the proxy's X-Forwarded-For only if TRUST_PROXY
        wait = throttle.retry_after(session, form.username.data, address,
                                    known_device=is_known_device(form.username.data))
        if wait:
            # Checked before the password, so guesses made while blocked teach nothing.
            session.rollback()
            flash(_("Quá nhiều lần đăng nhập sai. Vui lòng thử lại sau %(s)s giây.", s=wait), "error")
            response = render_template("login.html", form=form), 429, {"Retry-After": str(wait)}
            return response
        row = authenticate(session, form.username.data, form.password.data)
        if row is not None:
            throttle.record_success(session, form.username.data, address)
            session.commit()
            rotate_csrf_token()
            login_user(LoginUser(row))
            target = safe_next(request.args.get("next"))
            if row.must_change_password:
                flash(_("Bạn đang dùng mật khẩu dùng một lần: hãy đặt mật khẩu mới."), "info")
                target = url_for("auth.change_password")
            return remember_device(redirect(target), row.username)
        session.rollback()
        throttle.record_failure(session, form.username.data, address)
        session.commit()
        flash(_("Tên đăng nhập hoặc mật khẩu không đúng."), "error")
        return render_template("login.html", form=form), 401
    return render_template("login.html", form=form)


@bp.post("/logout")
def logout():
    """End the session everywhere: a signed cookie cannot be recalled, so a copy of it (another
    device, a shared computer, a stolen cookie) only dies when the user's session version moves."""
    if current_user.is_authenticated:
        session = db_session()
        row = session.get(User, current_user.id)
        if row is not None:
            row.session_version += 1
            session.commit()
    logout_user()
    flash(_("Bạn đã đăng xuất."), "info")
    return redirect(url_for("reader.home"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change one's password; every other session of the account ends, this one continues.

    The current-password check backs off like the login (per account and address): a stolen
    session must not become a way to guess the password without limit."""
    form = PasswordChangeForm()
    if form.validate_on_submit():
        session = db_session()
        throttle, address = login_throttle(), request.remote_addr
        wait = throttle.retry_after(session, current_user.username, address)
        if wait:
            session.rollback()
            flash(_("Quá nhiều lần nhập sai. Vui lòng thử lại sau %(s)s giây.", s=wait), "error")
            return render_template("account_password.html", form=form), 429, {"Retry-After": str(wait)}
        row = authenticate(session, current_user.username, form.current.data)
        if row is None or row.id != current_user.id:
            session.rollback()
            throttle.record_failure(session, current_user.username, address)
            session.commit()
            flash(_("Mật khẩu hiện tại không đúng."), "error")
            return render_template("account_password.html", form=form), 400
        try:
            set_password(row, form.new.data)
        except AccountError as exc:
            session.rollback()
            flash(error_text(exc), "error")
            return render_template("account_password.html", form=form), 400
        throttle.record_success(session, current_user.username, address)
        session.commit()
        login_user(LoginUser(row))  # re-issue this session with the new version
        flash(_("Đã đổi mật khẩu. Các phiên đăng nhập khác đã kết thúc."), "info")
        return redirect(url_for("reader.home"))
    status = 400 if request.method == "POST" else 200
    return render_template("account_password.html", form=form), status


def own_book(book_id: int):
    """The book if the current staff member may work on it: same library, or admin.

    404 when it does not exist (or is a tombstone), 403 when it belongs to another library, except
    that another library's unpublished book answers 404 like a missing one (issue 14.11).
    """
    book = db_session().get(Book, book_id)
    if book is None or book.deleted_at is not None:
        abort(404)
    if not may_manage(current_user, book.library_id):
        abort(403 if can_see(book, current_user) else 404)
    return book


def role_required(*roles: str):
    """Allow only logged-in users with one of `roles` (admin always passes)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator
