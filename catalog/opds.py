"""OPDS 2.0 catalogue documents (JSON), built as plain dicts for the web layer to serve.

Feeds: the root navigation (`/opds/`), new titles, subjects and one subject, search results
(all paged), a publication document per book, and the authentication document readers'
apps follow before borrowing a restricted title. Publications link to the Readium audiobook
manifest: public titles with an open-access acquisition link, restricted ones (members,
print-disabled, on-site) with a borrow link that requires authentication.

Only published, non-deleted books ever reach these functions' callers' queries; the functions
themselves format what they are given. URLs are absolute, from `base_url`.
"""
from __future__ import annotations

import math
from typing import Any

from catalog import talking_books
from catalog.covers import COVER_PX, cover_link
from catalog.dublincore import iso_duration  # noqa: F401  (re-exported for callers)
from catalog.models import Book

OPDS_JSON = "application/opds+json"
OPDS_PUB = "application/opds-publication+json"
OPDS_AUTH = "application/opds-authentication+json"
AUDIOBOOK = "application/audiobook+json"
PACKAGE = "application/audiobook+zip"
OPEN_ACCESS = "http://opds-spec.org/acquisition/open-access"
BORROW = "http://opds-spec.org/acquisition/borrow"
AUDIOBOOK_PROFILE = "https://readium.org/webpub-manifest/profiles/audiobook"
LANGUAGE_BCP47 = {"vie": "vi", "eng": "en", "fre": "fr", "chi": "zh", "rus": "ru", "khm": "km", "lao": "lo"}


def _link(href: str, type_: str, rel: str | None = None, **extra) -> dict:
    link = {"href": href, "type": type_}
    if rel:
        link["rel"] = rel
    link.update(extra)
    return link


def publication(book: Book, base_url: str) -> dict:
    """The OPDS publication of `book`."""
    base = base_url.rstrip("/")
    credits = list(book.credits)
    metadata: dict = {
        "@type": "http://schema.org/Audiobook",
        "conformsTo": AUDIOBOOK_PROFILE,
        "identifier": f"urn:uuid:{book.uuid}",
        "title": book.title,
        "language": LANGUAGE_BCP47.get(book.language, book.language),
        "duration": round(float(book.duration_s or 0), 3),
    }
    if book.subtitle:
        metadata["subtitle"] = book.subtitle
    if book.updated_at:
        metadata["modified"] = book.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if book.published_at:
        metadata["published"] = book.published_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    for role, key in (("aut", "author"), ("nrt", "narrator"), ("trl", "translator"), ("edt", "editor")):
        # no `sortAs`: the stored sort key is a machine collation key, not text an app may show
        names = [{"name": c.contributor.name} for c in credits if c.role == role]
        if names:
            metadata[key] = names
    if book.publisher or book.library:
        metadata["publisher"] = {"name": book.publisher or book.library.name}
    if book.summary:
        metadata["description"] = book.summary
    subjects = [{"name": bs.subject.term} for bs in book.subjects]
    if book.ddc:
        subjects.append({"name": book.ddc, "code": book.ddc, "scheme": "http://dewey.info/"})
    if subjects:
        metadata["subject"] = subjects
    if book.series is not None:
        series: dict[str, Any] = {"name": book.series.title}
        if book.series_position is not None:
            series["position"] = book.series_position
        metadata["belongsTo"] = {"series": [series]}
    if book.isbn_audio:
        metadata["altIdentifier"] = [f"urn:isbn:{book.isbn_audio}"]

    def acquisition(href: str, type_: str) -> dict:
        if book.access_policy == "public":
            return _link(href, type_, OPEN_ACCESS)
        return _link(href, type_, BORROW, properties={
            "authenticate": {"href": f"{base}/opds/authentication", "type": OPDS_AUTH},
            "indirectAcquisition": [{"type": type_}],
        })

    acquisitions = [acquisition(f"{base}/books/{book.id}/manifest.json", AUDIOBOOK)]
    if any(r.kind == "audiobook" for r in book.renditions):
        acquisitions.append(acquisition(f"{base}/books/{book.id}/book.audiobook", PACKAGE))
    for kind in talking_books.listed(book):
        # accessible copies are never open access: only print-disabled readers and authorised
        # entities may take them (streaming.access.can_take_talking_book), so the app authenticates
        acquisitions.append(_link(talking_books.url(base, book.id, kind), kind.media_type, BORROW, title=kind.label,
                                  properties={"authenticate": {"href": f"{base}/opds/authentication", "type": OPDS_AUTH},
                                              "indirectAcquisition": [{"type": kind.media_type}]}))
    links = [
        _link(f"{base}/opds/books/{book.id}", OPDS_PUB, "self"),
        *acquisitions,
        _link(f"{base}/books/{book.id}", "text/html", "alternate", title="Trang sách"),
        _link(f"{base}/books/{book.id}/marc.xml", "application/marcxml+xml", "describedby"),
    ]
    href, media_type = cover_link(book)
    # the generated cover is square
    size: dict[str, Any] = {} if book.cover_path else {"height": COVER_PX, "width": COVER_PX}
    images = [_link(f"{base}{href}", media_type, **size)]
    return {"metadata": metadata, "links": links, "images": images}


def _feed_links(base: str, self_path: str, *, search: bool = True) -> list[dict]:
    links = [_link(f"{base}{self_path}", OPDS_JSON, "self"), _link(f"{base}/opds/", OPDS_JSON, "start")]
    if search:
        links.append(_link(f"{base}/opds/search{{?query}}", OPDS_JSON, "search", templated=True))
    return links


def navigation_feed(base_url: str, *, title: str = "Sách Nói — thư viện số", new_count: int = 0) -> dict:
    base = base_url.rstrip("/")
    return {
        "metadata": {"title": title},
        "links": _feed_links(base, "/opds/") + [
            _link(f"{base}/opds/authentication", OPDS_AUTH, "http://opds-spec.org/auth/document")],
        "navigation": [
            _link(f"{base}/opds/new", OPDS_JSON, "http://opds-spec.org/sort/new", title="Sách mới",
                  properties={"numberOfItems": new_count}),
            _link(f"{base}/opds/subjects", OPDS_JSON, "subsection", title="Theo chủ đề"),
            _link(f"{base}/opds/shelf", OPDS_JSON, "subsection", title="Sách tôi được nghe"),
        ],
    }


def publications_feed(books: list[Book], base_url: str, *, title: str, path: str, page: int, per_page: int,
                      total: int, query: str = "") -> dict:
    """A paged feed of publications (`path` is the feed's own path, e.g. '/opds/new')."""
    base = base_url.rstrip("/")
    last = max(1, math.ceil(total / per_page))
    sep = "&" if "?" in path else "?"

    def page_url(n: int) -> str:
        return f"{base}{path}{sep}page={n}"

    links = [_link(page_url(page), OPDS_JSON, "self"), _link(f"{base}/opds/", OPDS_JSON, "start"),
             _link(f"{base}/opds/search{{?query}}", OPDS_JSON, "search", templated=True),
             _link(page_url(1), OPDS_JSON, "first"), _link(page_url(last), OPDS_JSON, "last")]
    if page > 1:
        links.append(_link(page_url(page - 1), OPDS_JSON, "previous"))
    if page < last:
        links.append(_link(page_url(page + 1), OPDS_JSON, "next"))
    metadata = {"title": title, "numberOfItems": total, "itemsPerPage": per_page, "currentPage": page}
    if not books:  # the schema wants at least one publication, navigation link or group
        return {"metadata": metadata, "links": links, "navigation": [_new_titles(base)]}
    return {"metadata": metadata, "links": links, "publications": [publication(b, base) for b in books]}


def _new_titles(base: str) -> dict:
    return _link(f"{base}/opds/new", OPDS_JSON, "http://opds-spec.org/sort/new", title="Sách mới")


def subjects_feed(subjects: list[tuple[int, str, int]], base_url: str) -> dict:
    """Navigation over subjects: (subject id, term, number of published books)."""
    base = base_url.rstrip("/")
    return {
        "metadata": {"title": "Theo chủ đề", "numberOfItems": len(subjects)},
        "links": _feed_links(base, "/opds/subjects"),
        "navigation": [_link(f"{base}/opds/subjects/{sid}", OPDS_JSON, "subsection", title=term,
                             properties={"numberOfItems": count}) for sid, term, count in subjects]
        or [_new_titles(base)],
    }


def authentication_document(base_url: str, *, title: str = "Sách Nói") -> dict:
    """How readers' apps log in (Authentication for OPDS 1.0): the OAuth 2.0 password grant at
    `/opds/token` (a revocable app credential, preferred) or HTTP Basic on every request."""
    base = base_url.rstrip("/")
    labels = {"login": "Tên đăng nhập", "password": "Mật khẩu"}
    return {
        "id": f"{base}/opds/authentication",
        "title": title,
        "description": "Đăng nhập bằng tài khoản thư viện để nghe sách nói hạn chế truy cập.",
        "authentication": [
            {"type": "http://opds-spec.org/auth/oauth/password", "labels": labels,
             "links": [_link(f"{base}/opds/token", "application/json", "authenticate")]},
            {"type": "http://opds-spec.org/auth/basic", "labels": labels},
        ],
        "links": [_link(f"{base}/", "text/html", "start"),
                  _link(f"{base}/account", "text/html", "help", title="Ứng dụng đã kết nối")],
    }
