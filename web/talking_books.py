"""Downloads of a title's talking books: `/books/<id>/talking-book/epub3` (EPUB 3 with Media
Overlays) and `/books/<id>/talking-book/daisy202` (DAISY 2.02 fileset, zipped).

The requester is the login cookie, or an app's HTTP Basic / bearer app credential (web.opds_auth);
`streaming.access.can_take_talking_book` decides. Others get a 403 page that says who may have
these copies (an app without credentials gets the OPDS 401 challenge instead).
"""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import gettext as _

from catalog.access import is_visible
from catalog import talking_books
from catalog.models import Book
from streaming.access import can_see, can_take_talking_book
from web import opds_auth
from web.extensions import db_session, public_base
from web.media import RENAMED_CACHE, _send_file

bp = Blueprint("talking_books", __name__)


def _refuse(reason: str, book_id: int):
    heading = _("Bản sách nói dành cho người khuyết tật đọc chữ in")
    if reason == "not-offered":
        explanation = _("Sách này không có bản EPUB 3 hoặc DAISY để tải về.")
    else:
        explanation = _("Bản EPUB 3 và DAISY của sách này chỉ dành cho bạn đọc khuyết tật đọc chữ in đã được "
                        "thư viện xác minh và cho các thư viện được ủy quyền theo Hiệp ước Marrakesh. "
                        "Hãy đăng nhập bằng tài khoản phù hợp hoặc liên hệ thư viện.")
    return render_template("error.html", code=403, heading=heading, explanation=explanation,
                           back=url_for("reader.book", book_id=book_id)), 403


@bp.get("/books/<int:book_id>/talking-book/<any(epub3, daisy202):kind>")
def download(book_id: int, kind: str):
    found = talking_books.KINDS.get(kind)
    if found is None:
        abort(404)
    who = opds_auth.requester(public_base())
    book = db_session().get(Book, book_id)
    if book is None or not (is_visible(book) if who.via_app else can_see(book, who.account)):
        abort(404)
    decision = can_take_talking_book(book, who.account)
    if not decision.allowed:
        if who.account is None and not request.accept_mimetypes.accept_html:
            abort(opds_auth.challenge(public_base()))
        return _refuse(decision.reason, book.id)
    if found.kind not in {k.kind for k in talking_books.available(book)}:
        abort(404)
    key, name = talking_books.key(book.uuid, found), f"book-{book.id}-{found.file_name}"
    db_session().rollback()
    return _send_file(key, download_name=name, cache=RENAMED_CACHE)
