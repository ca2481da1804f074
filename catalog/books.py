"""Books: create and edit catalogue records, their credits, subjects and series; publication state.

Every write goes through here so that text is stored NFC, the folded and sort-key columns
(`title_folded`, `sort_key`, `name_folded`, `term_folded`) stay in step with the text, the change
datestamp (`updated_at`, what OAI-PMH harvesters see) moves on every change, and the search index
(`catalog.search`) is refreshed. Deleting keeps the row as a tombstone (`deleted_at`) so harvesters
learn of the deletion.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from catalog import isbn, search
from catalog.access import is_visible, managed_by, visible
from catalog.errors import N_, CatalogError, PublicationRefused
from catalog.models import (
    ACCESS_POLICIES, CONTRIBUTOR_ROLES, Book, BookSubject, Contributor, Credit, Library, Series,
    Subject, utcnow,
)
from catalog.states import BookState, ReviewState
from catalog.text import fold, nfc, sort_key

# Keyword arguments naming a list of people, and the MARC relator code each one gets.
ROLE_ARGUMENTS = {
    "authors": "aut", "narrators": "nrt", "translators": "trl", "producers": "pro", "engineers": "aue",
    "editors": "edt",
}
# Plain columns a caller may set through create_book/update_book.
_TEXT_FIELDS = ("subtitle", "isbn_print", "isbn_audio", "language", "summary", "ddc", "publisher",
                "cover_path", "profile", "print_record_marcxml")
_OTHER_FIELDS = ("year", "abridged", "marrakesh", "duration_s", "series_position", "publish_at",
                 "access_policy", "title", "uuid")
_ALLOWED = set(_TEXT_FIELDS) | set(_OTHER_FIELDS) | set(ROLE_ARGUMENTS) | {"series", "subjects", "credits", "library"}


def _resolve_library(session: Session, library: Library | int | str) -> Library:
    if isinstance(library, Library):
        return library
    if isinstance(library, int):
        found = session.get(Library, library)
    else:
        found = session.scalar(select(Library).where(Library.code == str(library)))
    if found is None:
        raise CatalogError(N_("Không có thư viện %(library)s."), library=repr(library))
    return found


def _get_or_create(session: Session, model, key_column: str, value: str, **extra):
    """The row whose unique `key_column` equals `value`, created if missing (safe under concurrency)."""
    column = getattr(model, key_column)
    with session.no_autoflush:
        found = session.scalar(select(model).where(column == value))
        if found is None:
            # A row added in this session but not yet flushed is not found by the query.
            for obj in session.new:
                if isinstance(obj, model) and getattr(obj, key_column) == value:
                    return obj
    if found is not None:
        return found
    try:
        with session.begin_nested():
            row = model(**{key_column: value}, **extra)
            session.add(row)
    except IntegrityError:  # another writer created it between our read and write
        found = session.scalar(select(model).where(column == value))
        if found is None:
            raise
        return found
    return row


def get_contributor(session: Session, name: str) -> Contributor:
    """The contributor called `name` (NFC), created if new."""
    name = nfc(name)
    if not name:
        raise CatalogError(N_("Tên người đóng góp trống."))
    return _get_or_create(session, Contributor, "name", name, name_folded=fold(name), sort_key=sort_key(name))


def get_subject(session: Session, term: str) -> Subject:
    """The subject heading `term` (NFC), created if new."""
    term = nfc(term)
    if not term:
        raise CatalogError(N_("Chủ đề trống."))
    return _get_or_create(session, Subject, "term", term, term_folded=fold(term))


def get_series(session: Session, library: Library, title: str, *, kind: str = "series", issn: str = "") -> Series:
    """The library's series (or periodical) titled `title`, created if new."""
    title = nfc(title)
    if not title:
        raise CatalogError(N_("Tên tùng thư trống."))
    if kind not in ("series", "periodical"):
        raise CatalogError(N_("Loại tùng thư không hợp lệ: %(kind)s (series hoặc periodical)."), kind=repr(kind))
    with session.no_autoflush:
        found = session.scalar(select(Series).where(Series.library_id == library.id, Series.title == title))
    if found is None:
        found = Series(library_id=library.id, title=title, title_folded=fold(title), kind=kind, issn=nfc(issn))
        session.add(found)
    return found


def _names(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    return [n for n in (nfc(v.name if isinstance(v, Contributor) else v) for v in value) if n]


def _check(fields: dict) -> None:
    """Refuse bad fields before anything changes; ISBNs are normalised to ISBN-13 in place."""
    unknown = set(fields) - _ALLOWED
    if unknown:
        raise CatalogError(N_("Trường không hợp lệ: %(fields)s."), fields=", ".join(sorted(unknown)))
    if "title" in fields and not nfc(fields["title"]):
        raise CatalogError(N_("Nhan đề trống: sách cần có nhan đề."))
    policy = fields.get("access_policy")
    if policy is not None and policy not in ACCESS_POLICIES:
        raise CatalogError(N_("Chính sách truy cập không hợp lệ: %(policy)s (chọn một trong %(choices)s)."),
                           policy=repr(policy), choices=", ".join(ACCESS_POLICIES))
    year = fields.get("year")
    # ASCII digits only ("²".isdigit() is true) and a year MARC 008 can hold: 4 digits at most
    if year not in (None, "") and not (str(year).isascii() and str(year).isdigit() and 0 < int(year) <= 9999):
        raise CatalogError(N_("Năm không hợp lệ: %(year)s (một số, tối đa 9999)."), year=repr(str(year)[:20]))
    if "language" in fields and len(nfc(fields["language"])) != 3:
        raise CatalogError(N_("Mã ngôn ngữ phải là ISO 639-2 (3 chữ): %(code)s"), code=repr(fields["language"]))
    for name in ("isbn_print", "isbn_audio"):
        if name in fields:
            fields[name] = isbn.normalise(fields[name])
    for role, _name in fields.get("credits") or ():
        if role not in CONTRIBUTOR_ROLES:
            raise CatalogError(N_("Vai trò không hợp lệ: %(role)s (mã vai trò MARC: %(choices)s)."),
                               role=repr(role), choices=", ".join(CONTRIBUTOR_ROLES))


def _set_credits(session: Session, book: Book, credits: Sequence[tuple[str, str]]) -> None:
    """Replace the book's credits by `credits`: (relator code, name) pairs in display order."""
    wanted, seen = [], set()
    for role, name in credits:
        person = get_contributor(session, name)
        if (person.name, role) in seen:
            continue
        seen.add((person.name, role))
        wanted.append((role, person))
    if book.credits:
        book.credits.clear()
        session.flush()  # unique (book, contributor, role): remove old rows before re-adding
    for position, (role, person) in enumerate(wanted):
        book.credits.append(Credit(contributor=person, role=role, position=position))


def _set_subjects(session: Session, book: Book, terms: Iterable[str]) -> None:
    chosen, seen = [], set()
    for term in terms:
        subject = get_subject(session, term)
        if subject.term not in seen:
            seen.add(subject.term)
            chosen.append(subject)
    if book.subjects:
        book.subjects.clear()
        session.flush()
    for subject in chosen:
        book.subjects.append(BookSubject(subject=subject))


def _apply(session: Session, book: Book, fields: dict) -> None:
    for name in _TEXT_FIELDS:
        if name in fields:
            value = fields[name]
            setattr(book, name, nfc(value) if name != "print_record_marcxml" else (value or ""))
    if "language" in fields:
        book.language = book.language.lower()
    if "title" in fields:
        book.title = nfc(fields["title"])
    if "year" in fields:
        book.year = int(fields["year"]) if fields["year"] not in (None, "") else None
    for name in ("abridged", "marrakesh"):
        if name in fields:
            setattr(book, name, bool(fields[name]))
    for name in ("duration_s", "series_position", "publish_at", "access_policy", "uuid"):
        if name in fields and fields[name] is not None:
            setattr(book, name, fields[name])
    if "series_position" in fields and fields["series_position"] is None:
        book.series_position = None
    if "series" in fields:
        series = fields["series"]
        if series in (None, ""):
            book.series = None
        elif isinstance(series, Series):
            book.series = series
        else:
            book.series = get_series(session, book.library, series)
    book.title_folded = fold(" ".join(filter(None, (book.title, book.subtitle))))[:1000]
    book.sort_key = sort_key(book.title)


def _credit_list(fields: dict, existing: Sequence[Credit] | None) -> list[tuple[str, str]] | None:
    """The credits requested by `fields`, or None when the caller did not touch credits."""
    if "credits" not in fields and not any(arg in fields for arg in ROLE_ARGUMENTS):
        return None
    if "credits" in fields:
        return [(role, nfc(name)) for role, name in fields["credits"]]
    current = [(c.role, c.contributor.name) for c in existing or ()]
    result = []
    for arg, role in ROLE_ARGUMENTS.items():
        if arg in fields:
            result += [(role, n) for n in _names(fields[arg])]
        else:
            result += [(r, n) for r, n in current if r == role]
    # keep credits with roles no argument names (none today, but the table allows them)
    result += [(r, n) for r, n in current if r not in ROLE_ARGUMENTS.values()]
    return result


def create_book(session: Session, *, library: Library | int | str, title: str, authors=(), narrators=(),
                subtitle: str = "", language: str = "vie", summary: str = "", subjects=(), publisher: str = "",
                year: int | None = None, access_policy: str = "public", **fields) -> Book:
    """Add a draft book with its credits, subjects and series; return it (flushed, so it has an id).

    `library` is a Library, its id or its code. `authors`/`narrators` (and `translators`,
    `producers`, `engineers`, `editors`) are names or Contributors. Other keyword fields are Book
    columns (`isbn_print`, `isbn_audio`, `ddc`, `abridged`, `cover_path`, `marrakesh`, `duration_s`,
    `profile`, ...), plus `series` (a Series or a title) with `series_position`, and `credits`
    as (relator code, name) pairs. Raises CatalogError on bad input, before anything is added.
    """
    fields.update(title=title, authors=authors, narrators=narrators, subtitle=subtitle, language=language,
                  summary=summary, publisher=publisher, year=year, access_policy=access_policy)
    _check(fields)
    lib = _resolve_library(session, library)
    book = Book(library=lib, state=BookState.DRAFT)
    _apply(session, book, fields)
    session.add(book)
    session.flush()
    _set_credits(session, book, _credit_list(fields, None) or [])
    _set_subjects(session, book, [subjects] if isinstance(subjects, str) else subjects)
    session.flush()
    search.index_book(session, book)
    return book


def update_book(session: Session, book: Book | int, **fields) -> Book:
    """Change a book's fields (same names as `create_book`); moves its change datestamp."""
    book = get_book(session, book)
    _check(fields)
    if "library" in fields:
        book.library = _resolve_library(session, fields.pop("library"))
    _apply(session, book, fields)
    credits = _credit_list(fields, book.credits)
    if credits is not None:
        _set_credits(session, book, credits)
    if "subjects" in fields:
        subjects = fields["subjects"]
        _set_subjects(session, book, [subjects] if isinstance(subjects, str) else subjects or ())
    touch(book)
    session.flush()
    search.index_book(session, book)
    return book


def get_book(session: Session, book: Book | int) -> Book:
    if isinstance(book, Book):
        return book
    found = session.get(Book, book)
    if found is None:
        raise CatalogError(N_("Không có sách số %(id)s."), id=book)
    return found


def touch(book: Book, when: dt.datetime | None = None) -> None:
    """Move the change datestamp (harvesters re-fetch the record)."""
    now = when or utcnow()
    # Datestamps are second-granular in OAI-PMH; never let a change share the old stamp's second
    # going backwards.
    if book.updated_at is None or now > book.updated_at:
        book.updated_at = now
    else:
        book.updated_at = book.updated_at + dt.timedelta(microseconds=1)


def drafts(session: Session, user, limit: int = 200) -> list[Book]:
    """The draft books `user` may manage (catalog.access), most recently changed first."""
    return list(session.scalars(select(Book).where(Book.deleted_at.is_(None), Book.state == BookState.DRAFT,
                                                   managed_by(user, Book.library_id))
                                .order_by(Book.updated_at.desc()).limit(limit)))


def newest_visible(session: Session, limit: int = 24) -> list[Book]:
    """The books readers see, most recently published first (at most `limit`)."""
    return list(session.scalars(select(Book).where(visible()).order_by(Book.published_at.desc(), Book.id.desc())
                                .limit(limit)))


def publish(session: Session, book: Book | int, *, at: dt.datetime | None = None) -> Book:
    """Publish now, or schedule for `at` (UTC): readers see it from then on."""
    book = get_book(session, book)
    if book.deleted_at is not None:
        raise CatalogError(N_("Sách đã bị xoá, không thể xuất bản."))
    now = utcnow()
    book.state = BookState.PUBLISHED
    book.publish_at = at if at and at > now else None
    book.published_at = at if at and at > now else now
    book.withdrawn_at = None
    touch(book)
    session.flush()
    search.index_book(session, book)
    return book


PLAYABLE_KINDS = ("hls", "mp3")


def publication_problems(book: Book, at: dt.datetime | None = None,
                         now: dt.datetime | None = None) -> list[CatalogError]:
    """Why a librarian may not publish `book` (for `at`, UTC, or now): [] when it may be.

    Readers must be able to hear what is published: every chapter mastered, its QC passed or a
    person's approval given (none sent back), and a rendition a player can open. A book readers
    already hear is not re-scheduled into the future (it would vanish until then): withdraw first.
    """
    now = now or utcnow()
    problems = []
    if not book.chapters:
        problems.append(CatalogError(N_("Sách chưa có chương nào đã xử lý, chưa thể xuất bản.")))
    unfinished = [c for c in book.chapters if not c.master_key or c.review_state == ReviewState.REJECTED
                  or not (c.qc_passed or c.review_state == ReviewState.APPROVED)]
    if unfinished:
        names = ", ".join(c.title or f"Chương {c.position}" for c in unfinished[:5])
        problems.append(CatalogError(N_("Chương chưa đạt QC và chưa được phòng thu duyệt: %(names)s."), names=names))
    if book.chapters and not any(r.kind in PLAYABLE_KINDS for r in book.renditions):
        problems.append(CatalogError(N_("Sách chưa được đóng gói để nghe (chưa có bản HLS hay MP3).")))
    if is_visible(book, now) and at is not None and at > now:
        problems.append(CatalogError(N_("Sách đang hiển thị cho bạn đọc; hẹn giờ lại sẽ làm sách biến mất tới lúc "
                                        "đó. Muốn hẹn lại, hãy rút sách trước.")))
    return problems


def publish_for_readers(session: Session, book: Book | int, *, at: dt.datetime | None = None) -> Book:
    """The librarian's publication: `publish` once `publication_problems` finds nothing (else PublicationRefused)."""
    book = get_book(session, book)
    problems = publication_problems(book, at)
    if problems:
        raise PublicationRefused(problems)
    return publish(session, book, at=at)


def withdraw(session: Session, book: Book | int) -> Book:
    """Take a published book away from readers; harvesters see it as deleted."""
    book = get_book(session, book)
    if book.state != BookState.PUBLISHED:
        raise CatalogError(N_("Chỉ rút được sách đã xuất bản."))
    book.state = BookState.WITHDRAWN
    book.withdrawn_at = utcnow()
    touch(book)
    session.flush()
    search.index_book(session, book)
    return book


def delete_book(session: Session, book: Book | int) -> Book:
    """Delete as a tombstone: the row stays (for OAI-PMH `deleted` status), readers never see it."""
    book = get_book(session, book)
    if book.deleted_at is None:
        book.deleted_at = utcnow()
        touch(book)
        session.flush()
    search.unindex_book(session, book.id)
    return book


