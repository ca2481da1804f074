"""Admin pages (role `admin`): libraries (delivery profile, on-site networks, self-registration),
users and roles (the searchable list is web.readers' page), and the small library of jingles
used as clip intros and outros."""
from __future__ import annotations

import ipaddress
import os
import tempfile
from pathlib import Path

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from catalog.accounts import ROLE_LABELS, SELF_REGISTRATION, AccountError, create_library, create_user, set_role
from catalog.ids import parse_id
from catalog.states import Role
from catalog.models import ROLES, Jingle, Library, User
from catalog.text import nfc
from mastering.profiles import PROFILES
from recordings.errors import RecordingsError
from recordings.probe import probe_audio_limited
from recordings.store import sha256_file
from web.auth import role_required
from web.extensions import db_session, media_store
from web.readers import render_user_list
from web.labels import error_text

bp = Blueprint("admin", __name__, url_prefix="/admin")
REGISTRATION_LABELS = {"closed": "Không (thủ thư tạo tài khoản)", "approval": "Có, thủ thư duyệt",
                       "open": "Có, dùng được ngay"}


@bp.get("/")
@role_required("admin")
def index():
    session = db_session()
    libraries = session.scalars(select(Library).order_by(Library.name)).all()
    jingles = session.scalars(select(Jingle).order_by(Jingle.name)).all()
    return render_template("staff/admin.html", libraries=libraries, roles=ROLES, role_labels=ROLE_LABELS,
                           profiles=PROFILES, jingles=jingles, registration_labels=REGISTRATION_LABELS)


@bp.get("/users")
@role_required("admin")
def users():
    """Every account: search, filter by role and library, 50 a page."""
    return render_user_list("admin.users")


@bp.post("/libraries")
@role_required("admin")
def new_library():
    session = db_session()
    parent_raw = request.form.get("parent", "")
    parent = session.get(Library, parse_id(parent_raw)) if parse_id(parent_raw) is not None else None
    try:
        library = create_library(session, request.form.get("code", ""), request.form.get("name", ""), parent=parent)
    except AccountError as exc:
        session.rollback()
        flash(error_text(exc), "error")
        return redirect(url_for(".index")), 303
    session.commit()
    flash(_("Đã thêm thư viện %(n)s.", n=library.name), "info")
    return redirect(url_for(".index"))


@bp.post("/libraries/<int:library_id>")
@role_required("admin")
def save_library(library_id: int):
    library = db_session().get(Library, library_id)
    if library is None:
        abort(404)
    profile = request.form.get("delivery_profile", library.delivery_profile)
    if profile not in PROFILES:
        abort(400)
    networks = [line.strip() for line in request.form.get("onsite_networks", "").splitlines() if line.strip()]
    for line in networks:
        try:
            ipaddress.ip_network(line, strict=False)
        except ValueError:
            flash(_("Dải mạng không hợp lệ: %(n)s", n=line), "error")
            return redirect(url_for(".index")), 303
    library.name = nfc(request.form.get("name", library.name)).strip() or library.name
    library.delivery_profile = profile
    library.onsite_networks = "\n".join(networks)
    registration = request.form.get("self_registration", library.self_registration)
    if registration not in SELF_REGISTRATION:
        abort(400)
    library.self_registration = registration
    db_session().commit()
    flash(_("Đã lưu thư viện %(n)s.", n=library.name), "info")
    return redirect(url_for(".index"))


@bp.post("/users")
@role_required("admin")
def new_user():
    form = request.form
    session = db_session()
    library_id = parse_id(form.get("library_id", ""))
    library = session.get(Library, library_id) if library_id is not None else None
    if library is None:
        abort(400)
    try:
        create_user(session, form.get("username", ""), form.get("password", ""), role=form.get("role", Role.READER),
                    library=library, display_name=form.get("display_name", ""))
    except AccountError as exc:
        session.rollback()
        flash(error_text(exc), "error")
        return redirect(url_for(".users")), 303
    session.commit()
    flash(_("Đã tạo tài khoản."), "info")
    return redirect(url_for(".users", q=form.get("username", "")))


@bp.post("/users/<int:user_id>")
@role_required("admin")
def save_user(user_id: int):
    user = db_session().get(User, user_id)
    if user is None:
        abort(404)
    role = request.form.get("role", user.role)
    library_raw = request.form.get("library_id", "")
    library_id = parse_id(library_raw) if library_raw else user.library_id
    if role not in ROLES or library_id is None:
        abort(400)
    if not library_raw or db_session().get(Library, library_id) is None:
        library_id = user.library_id  # an unknown library keeps the one the account has
    set_role(user, role, library_id=library_id, active=request.form.get("is_active") == "on")
    db_session().commit()
    flash(_("Đã lưu tài khoản %(u)s.", u=user.username), "info")
    return redirect(url_for(".users", q=user.username))


@bp.post("/jingles")
@role_required("admin")
def new_jingle():
    upload = request.files.get("file")
    name = nfc(request.form.get("name", "")).strip()
    if not upload or not upload.filename or not name:
        flash(_("Cần tên và tệp âm thanh."), "error")
        return redirect(url_for(".index")), 303
    store = media_store()
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in (".wav", ".flac", ".mp3", ".aif", ".aiff"):
        flash(_("Nhạc hiệu phải là WAV, FLAC, AIFF hoặc MP3."), "error")
        return redirect(url_for(".index")), 303
    fd, tmp = tempfile.mkstemp(dir=store.tmp_dir, suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as out:
            upload.save(out)
        # in a child with a time limit, like every other way audio enters (studio.intake)
        info = probe_audio_limited(tmp, float(current_app.config["PROBE_TIMEOUT_S"]),
                                   min_duration_s=0.2, max_duration_s=30.0)
        key = f"derived/jingles/{sha256_file(tmp)}{suffix}"
        with store.atomic_path(key) as dst:
            Path(tmp).replace(dst)
    except RecordingsError as exc:
        flash(error_text(exc), "error")
        return redirect(url_for(".index")), 303
    finally:
        Path(tmp).unlink(missing_ok=True)
    library_raw = request.form.get("library_id", "")
    db_session().add(Jingle(name=name[:255], key=key, duration_s=info.duration_s,
                            library_id=parse_id(library_raw)))
    db_session().commit()
    flash(_("Đã thêm nhạc hiệu."), "info")
    return redirect(url_for(".index"))


@bp.post("/jingles/<int:jingle_id>/delete")
@role_required("admin")
def delete_jingle(jingle_id: int):
    jingle = db_session().get(Jingle, jingle_id)
    if jingle is None:
        abort(404)
    db_session().delete(jingle)
    db_session().commit()
    flash(_("Đã xoá nhạc hiệu."), "info")
    return redirect(url_for(".index"))
