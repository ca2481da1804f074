"""Pages a reader uses without staff: forgot password (reset link by e-mail) and self-registration.

The rules (tokens, expiry, who may register where) are in catalog.accounts; this module only
reads forms, sends the mail and renders."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from catalog.accounts import AccountError, finish_password_reset, register_self, reset_token_user, start_password_reset
from catalog.models import Library
from web.extensions import db_session
from web.mail import MailError, mail_configured, send_mail
from web.security import login_throttle
from web.labels import error_text

bp = Blueprint("self_service", __name__)


def _count_request(key: str) -> int:
    """Count this request like a failed login under `key` and this address; the seconds to wait
    (with the message flashed) when there were too many. Mailing a victim over and over, or
    creating accounts in a loop (each costs an argon2 hash), is throttled like guessing."""
    session, throttle, address = db_session(), login_throttle(), request.remote_addr
    wait = throttle.retry_after(session, key, address)
    if wait:
        session.rollback()
        flash(_("Quá nhiều yêu cầu. Vui lòng thử lại sau %(s)s giây.", s=wait), "error")
        return wait
    throttle.record_failure(session, key, address)
    session.commit()  # counted even when what follows is rolled back
    return 0


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    """Ask for a reset link. The answer is the same whether the account exists or not."""
    configured = mail_configured(current_app.config)
    if request.method == "GET" or not configured:
        return render_template("password_forgot.html", configured=configured)
    identifier = request.form.get("identifier", "")[:255]
    session = db_session()
    wait = _count_request("reset:" + identifier)
    if wait:
        return render_template("password_forgot.html", configured=True), 429, {"Retry-After": str(wait)}
    found = start_password_reset(session, identifier)
    if found is not None:
        user, token = found
        link = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + url_for(".reset_password", token=token)
        body = _("Chào %(name)s,\n\nĐể đặt mật khẩu mới cho tài khoản %(user)s, hãy mở liên kết sau "
                 "(dùng được một lần, trong 1 giờ):\n\n%(link)s\n\nNếu bạn không yêu cầu, hãy bỏ qua thư này.",
                 name=user.display_name, user=user.username, link=link)
        try:
            send_mail(current_app.config, user.email, _("Đặt lại mật khẩu Sách Nói"), body)
        except MailError as exc:
            session.rollback()
            current_app.logger.warning("password reset mail failed: %s", exc)
            flash(_("Không gửi được thư lúc này. Vui lòng thử lại sau hoặc liên hệ thủ thư."), "error")
            return render_template("password_forgot.html", configured=True), 503
    session.commit()
    flash(_("Nếu tài khoản có địa chỉ e-mail, chúng tôi đã gửi liên kết đặt lại mật khẩu. Hãy kiểm tra hộp thư."),
          "info")
    return redirect(url_for(".forgot_password"))


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    session = db_session()
    if reset_token_user(session, token) is None:
        return render_template("password_reset.html", valid=False), 404
    if request.method == "GET":
        return render_template("password_reset.html", valid=True)
    new, confirm = request.form.get("new", ""), request.form.get("confirm", "")
    try:
        if new != confirm:
            raise AccountError(_("Hai mật khẩu mới không khớp."))
        finish_password_reset(session, token, new)
    except AccountError as exc:
        session.rollback()
        flash(error_text(exc), "error")
        return render_template("password_reset.html", valid=True), 400
    session.commit()
    flash(_("Đã đặt mật khẩu mới. Hãy đăng nhập."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/register", methods=["GET", "POST"])
def register():
    """Self-registration, only at libraries whose setting allows it."""
    session = db_session()
    libraries = session.scalars(select(Library).where(Library.self_registration.in_(("open", "approval")))
                                .order_by(Library.name)).all()
    if request.method == "GET" or not libraries:
        return render_template("register.html", libraries=libraries, form={})
    form = request.form
    wait = _count_request("register:")
    if wait:
        return render_template("register.html", libraries=libraries, form=form), 429, {"Retry-After": str(wait)}
    library = next((lib for lib in libraries if str(lib.id) == form.get("library_id")), None)
    try:
        if library is None:
            raise AccountError(_("Hãy chọn thư viện."))
        if form.get("new", "") != form.get("confirm", ""):
            raise AccountError(_("Hai mật khẩu không khớp."))
        user = register_self(session, library, form.get("username", ""), form.get("new", ""),
                             display_name=form.get("display_name", "")[:255], email=form.get("email", "")[:255])
    except AccountError as exc:
        session.rollback()
        flash(error_text(exc), "error")
        return render_template("register.html", libraries=libraries, form=form), 400
    session.commit()
    if user.pending_approval:
        flash(_("Đã gửi đăng ký. Thủ thư sẽ duyệt tài khoản của bạn; sau đó bạn đăng nhập được."), "info")
    else:
        flash(_("Đã tạo tài khoản. Hãy đăng nhập."), "info")
    return redirect(url_for("auth.login"))
