"""Librarian pages (role `librarian`): metadata, MARC import of the print record, cover upload,
access policy and publication schedule, publish/withdraw, and the register of print-disabled readers.

Every change goes through `catalog.books` (which keeps folded text, datestamps and the search
index in step). Librarians work on their own library's books and readers; admins on all.
Times typed by people are Vietnam time (UTC+7, no daylight saving) and stored as UTC.
"""
from __future__ import annotations

import datetime as dt
import io
import tempfile

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select

from catalog import accounts, marc_import
from catalog.accounts import AccountError, verify_print_disabled
from catalog.books import publish_for_readers, update_book, withdraw
from catalog.errors import CatalogError
from catalog.marc import exportable_books, write_collection
from catalog.access import is_admin, managed_by, may_manage
from catalog.states import Role
from catalog.models import ACCESS_POLICIES, Book, User, utcnow
from streaming.access import can_see
from web.auth import own_book as _own
from web.auth import role_required
from web.extensions import db_session, media_store, public_base
from web.formats import from_zone, to_zone
from web.labels import error_text

bp = Blueprint("librarian", __name__)

POLICY_LABELS = {"public": "Mọi người", "members": "Bạn đọc có tài khoản",
                 "print-disabled": "Chỉ người khuyết tật đọc chữ in đã xác minh (Marrakesh)",
                 "on-site": "Chỉ trong mạng của thư viện"}
COVER_MAX_PX = 1400
COVER_MIN_PX = 300
COVER_MAX_BYTES = 15 * 1024 * 1024
MARC_MAX_BYTES = 5 * 1024 * 1024


class CoverError(CatalogError):
    """An uploaded cover that is not a usable image."""


def to_utc(local_text: str) -> dt.datetime | None:
    """'2026-04-21T08:00' typed in the library's time zone → naive UTC; '' → None."""
    text = (local_text or "").strip()
    if not text:
        return None
    try:
        return from_zone(dt.datetime.fromisoformat(text))
    except ValueError:
        raise CatalogError(_("Ngày giờ không hợp lệ: %(v)s", v=text)) from None


def to_local(value: dt.datetime | None) -> str:
    """Naive UTC → '2026-04-21T08:00' in the library's time zone (a datetime-local value)."""
    return to_zone(value).strftime("%Y-%m-%dT%H:%M") if value else ""


def _names(text: str) -> list[str]:
    return [n.strip() for n in (text or "").replace(";", "\n").splitlines() if n.strip()]


@bp.get("/librarian/")
@role_required("librarian")
def index():
    query = select(Book).where(Book.deleted_at.is_(None), managed_by(current_user, Book.library_id))
    books = db_session().scalars(query.order_by(Book.updated_at.desc()).limit(500)).all()
    return render_template("staff/librarian_index.html", books=books, now=utcnow(), base=public_base())


@bp.get("/librarian/export/catalog-marc")
@role_required("librarian")
def export_marc():
    """The library's published catalogue as one MARC 21 file (MARCXML or ISO 2709) for Koha, iLib
    or Libol: the web twin of `sachnoi export marc`. An admin gets every library's books.
    `?format=mrc` (default) or `?format=xml`."""
    fmt = request.args.get("format", "mrc")
    if fmt not in ("mrc", "xml"):
        abort(404)
    library_id = None if is_admin(current_user) else current_user.library_id
    with tempfile.TemporaryDirectory(dir=media_store().tmp_dir) as tmp:
        out = f"{tmp}/catalog-marc.{fmt}"
        write_collection(exportable_books(db_session(), library_id=library_id), out, public_base(),
                              fmt="xml" if fmt == "xml" else "iso2709")
        data = open(out, "rb").read()
    return send_file(io.BytesIO(data), as_attachment=True, download_name=f"catalog-marc.{fmt}",
                     mimetype="application/marcxml+xml" if fmt == "xml" else "application/marc")


@bp.get("/librarian/books/<int:book_id>")
@role_required("librarian")
def book(book_id: int):
    row = _own(book_id)
    return render_template("staff/librarian_book.html", book=row, policies=ACCESS_POLICIES,
                           policy_labels=POLICY_LABELS,
                           publish_local=to_local(row.publish_at), now=utcnow(),
                           authors="\n".join(c.name for c in row.contributors("aut")),
                           narrators="\n".join(c.name for c in row.contributors("nrt")),
                           subjects="\n".join(s.subject.term for s in row.subjects))


@bp.post("/librarian/books/<int:book_id>")
@role_required("librarian")
def save(book_id: int):
    row = _own(book_id)
    form = request.form
    session = db_session()
    policy = form.get("access_policy", row.access_policy)
    fields = {"title": form.get("title", ""), "subtitle": form.get("subtitle", ""),
              "summary": form.get("summary", ""), "publisher": form.get("publisher", ""),
              "year": form.get("year", "").strip() or None, "isbn_print": form.get("isbn_print", ""),
              "isbn_audio": form.get("isbn_audio", ""), "ddc": form.get("ddc", ""),
              "language": form.get("language", "vie") or "vie", "access_policy": policy,
              "marrakesh": form.get("marrakesh") == "on" or policy == "print-disabled",
              "authors": _names(form.get("authors", "")), "narrators": _names(form.get("narrators", "")),
              "subjects": _names(form.get("subjects", ""))}
    try:
        update_book(session, row, **fields)
    except CatalogError as exc:
        session.rollback()
        flash(error_text(exc), "error")
        return redirect(url_for(".book", book_id=book_id)), 303
    session.commit()
    flash(_("Đã lưu biểu ghi."), "info")
    return redirect(url_for(".book", book_id=book_id))


@bp.post("/librarian/books/<int:book_id>/publish")
@role_required("librarian")
def do_publish(book_id: int):
    row = _own(book_id)
    session = db_session()
    try:
        publish_for_readers(session, row, at=to_utc(request.form.get("publish_at", "")))
    except CatalogError as exc:
        session.rollback()
        flash(error_text(exc), "error")
        return redirect(url_for(".book", book_id=book_id)), 303
    session.commit()
    if row.publish_at:
        flash(_("Đã hẹn xuất bản lúc %(t)s.", t=to_local(row.publish_at).replace("T", " ")), "info")
    else:
        flash(_("Đã xuất bản. Bạn đọc đã thấy sách."), "info")
    return redirect(url_for(".book", book_id=book_id))


@bp.post("/librarian/books/<int:book_id>/withdraw")
@role_required("librarian")
def do_withdraw(book_id: int):
    row = _own(book_id)
    session = db_session()
    try:
        withdraw(session, row)
    except CatalogError as exc:
        session.rollback()
        flash(error_text(exc), "error")
        return redirect(url_for(".book", book_id=book_id)), 303
    session.commit()
    flash(_("Đã rút sách khỏi danh mục bạn đọc."), "info")
    return redirect(url_for(".book", book_id=book_id))


@bp.post("/librarian/books/<int:book_id>/marc")
@role_required("librarian")
def marc(book_id: int):
    """Fill empty fields from the print record (MARCXML or ISO 2709), and keep the record on the book."""
    row = _own(book_id)
    upload = request.files.get("marcxml")
    data = upload.read(MARC_MAX_BYTES + 1) if upload else request.form.get("marcxml_text", "").encode()
    session = db_session()
    try:
        if not data.strip() or len(data) > MARC_MAX_BYTES:
            raise CatalogError(_("Cần một tệp MARC 21 (MARCXML hoặc ISO 2709, tối đa 5 MB)."))
        marc_import.link_print_data(session, row, data)
    except CatalogError as exc:
        session.rollback()
        flash(_("Không nhập được biểu ghi MARC: %(e)s", e=str(exc)), "error")
        return redirect(url_for(".book", book_id=book_id)), 303
    session.commit()
    flash(_("Đã nhập biểu ghi sách in."), "info")
    return redirect(url_for(".book", book_id=book_id))


def process_cover(data: bytes) -> bytes:
    """Check that `data` is a real image of sensible size; return it as an RGB JPEG ≤ COVER_MAX_PX."""
    if not data or len(data) > COVER_MAX_BYTES:
        raise CoverError(_("Ảnh bìa phải có và nhỏ hơn 15 MB."))
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in ("JPEG", "PNG", "WEBP"):
                raise CoverError(_("Ảnh bìa phải là JPEG, PNG hoặc WebP."))
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > 50_000_000:
                raise CoverError(_("Ảnh quá lớn."))
            if min(image.size) < COVER_MIN_PX:
                raise CoverError(_("Ảnh bìa cần ít nhất %(n)d×%(n)d điểm ảnh.", n=COVER_MIN_PX))
            image = image.convert("RGB")
            image.thumbnail((COVER_MAX_PX, COVER_MAX_PX))
            out = io.BytesIO()
            image.save(out, "JPEG", quality=88, optimize=True)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise CoverError(_("Tệp không phải ảnh hợp lệ.")) from None
    return out.getvalue()


@bp.post("/librarian/books/<int:book_id>/cover")
@role_required("librarian")
def cover(book_id: int):
    row = _own(book_id)
    upload = request.files.get("cover")
    session = db_session()
    try:
        jpeg = process_cover(upload.read(COVER_MAX_BYTES + 1) if upload else b"")
        key = f"{media_store().book_prefix(row.uuid)}/cover.jpg"
        media_store().write_bytes(key, jpeg)
        update_book(session, row, cover_path=key)
    except CatalogError as exc:
        session.rollback()
        flash(error_text(exc), "error")
        return redirect(url_for(".book", book_id=book_id)), 303
    session.commit()
    flash(_("Đã cập nhật ảnh bìa."), "info")
    return redirect(url_for(".book", book_id=book_id))


@bp.get("/covers/<int:book_id>.jpg")
def cover_image(book_id: int):
    row = db_session().get(Book, book_id)
    user = current_user if current_user.is_authenticated else None
    if row is None or not row.cover_path or not can_see(row, user):
        abort(404)
    path = media_store().path(row.cover_path)
    if not path.is_file():
        abort(404)
    return send_file(path, mimetype="image/jpeg", conditional=True, max_age=3600)


# -- print-disabled readers (Marrakesh Treaty) ---------------------------------------------------------
@bp.get("/librarian/readers")
@role_required("librarian")
def readers():
    query = select(User).where(User.role == Role.READER, managed_by(current_user, User.library_id))
    rows = db_session().scalars(query.order_by(User.username).limit(1000)).all()
    verifiers = {u.id: u for u in db_session().scalars(
        select(User).where(User.id.in_({r.print_disabled_verified_by for r in rows} - {None})))}
    return render_template("staff/librarian_readers.html", readers=rows, verifiers=verifiers,
                           to_local=to_local)


def _reader(user_id: int) -> User:
    row = db_session().get(User, user_id)
    if row is None or row.role != Role.READER:
        abort(404)
    if not may_manage(current_user, row.library_id):
        abort(403)
    return row


@bp.post("/librarian/readers/<int:user_id>/print-disabled")
@role_required("librarian")
def register_print_disabled(user_id: int):
    row = _reader(user_id)
    try:
        verify_print_disabled(current_user, row, request.form.get("evidence", ""))
    except AccountError as exc:
        db_session().rollback()
        flash(error_text(exc), "error")
        return redirect(url_for(".readers")), 303
    db_session().commit()
    flash(_("Đã ghi nhận %(u)s là người khuyết tật đọc chữ in.", u=row.username), "info")
    return redirect(url_for(".readers"))


@bp.post("/librarian/readers/<int:user_id>/print-disabled/revoke")
@role_required("librarian")
def revoke_print_disabled(user_id: int):
    row = _reader(user_id)
    accounts.revoke_print_disabled(row)
    db_session().commit()
    flash(_("Đã huỷ ghi nhận của %(u)s.", u=row.username), "info")
    return redirect(url_for(".readers"))
