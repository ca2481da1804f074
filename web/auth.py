"""Login, logout and role checks (Flask-Login; passwords verified in catalog.accounts).

The id kept in the session is "<user id>:<session version>", so bumping a user's
session_version (logout everywhere, password change, disable) ends every old session.
"""
from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from catalog.accounts import authenticate
from catalog.models import User
from web.extensions import db_session

bp = Blueprint("auth", __name__)


class LoginUser(UserMixin):
    """The logged-in user as Flask-Login sees it; wraps the row's plain fields."""

    def __init__(self, row: User):
        self.row = row
        self.id = row.id
        self.username = row.username
        self.role = row.role
        self.library_id = row.library_id
        self.display_name = row.display_name or row.username
        self.locale = row.locale
        self.is_print_disabled = row.is_print_disabled

    def get_id(self) -> str:
        return f"{self.row.id}:{self.row.session_version}"

    @property
    def is_active(self) -> bool:
        return bool(self.row.is_active)

    def has_role(self, *roles: str) -> bool:
        return self.role == "admin" or self.role in roles


class LoginForm(FlaskForm):
    username = StringField("Tên đăng nhập", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Mật khẩu", validators=[DataRequired(), Length(max=1024)])


def init_auth(app: Flask) -> None:
    manager = LoginManager(app)
    manager.login_view = "auth.login"
    manager.login_message = None

    @manager.user_loader
    def load_user(user_id: str):
        uid, _sep, version = user_id.partition(":")
        if not uid.isdigit() or not version.isdigit():
            return None
        row = db_session().get(User, int(uid))
        if row is None or not row.is_active or row.session_version != int(version):
            return None
        return LoginUser(row)

    @manager.unauthorized_handler
    def unauthorized():
        if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
            return {"error": "unauthorized", "message": _("Cần đăng nhập.")}, 401
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))

    app.register_blueprint(bp)


def safe_next(target: str | None) -> str:
    """A local path to go to after login; anything pointing elsewhere becomes the home page."""
    if not target:
        return url_for("reader.home")
    target = target.replace("\\", "/")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("reader.home")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        session = db_session()
        row = authenticate(session, form.username.data, form.password.data)
        if row is not None:
            session.commit()
            login_user(LoginUser(row))
            return redirect(safe_next(request.args.get("next")))
        session.rollback()
        flash(_("Tên đăng nhập hoặc mật khẩu không đúng."), "error")
        return render_template("login.html", form=form), 401
    return render_template("login.html", form=form)


@bp.post("/logout")
def logout():
    logout_user()
    flash(_("Bạn đã đăng xuất."), "info")
    return redirect(url_for("reader.home"))


def role_required(*roles: str):
    """Allow only logged-in users with one of `roles` (admin always passes)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                from flask import current_app
                return current_app.login_manager.unauthorized()
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator
