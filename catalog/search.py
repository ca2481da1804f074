"""Vietnamese catalogue search over everything a reader might type about a book.

One index row per book in `book_search`, holding five texts built by `index_texts`:

- `title_f`: the folded words (`catalog.text.fold`: no marks, đ→d, lower case) of the title and
  subtitle; `other_f`: of contributors (authors, narrators, …), series, subjects, publisher and
  ISBNs (as written and as bare digits); `chapters_f`: of the chapter titles; `summary_f`: of the
  summary. Matching runs on these, so `truong dinh` finds "Trương Định" and `son tinh` finds a
  chapter "Sơn Tinh, Thủy Tinh". SQLite indexes them with FTS5; PostgreSQL with a `tsvector`
  (dictionary `simple`, so no stemming) weighted A/B/C/D in that order, in a GIN index. Both
  databases see the same folded text, so results agree.
- `exact`: every word as written, lower case, with its tone moved to a digit at the end
  ("Hoà" and "Hòa" → `hoa1`, "Định" → `đinh5`), between spaces. A query word written the same
  way scores an exact-diacritic match; those books rank first.

Ranking, the same on both databases: number of exact-diacritic word matches, then number of
query words in the title, then whether all words are in the title and other metadata, then
whether all are in one chapter list (so title over chapter over summary), then Vietnamese
alphabet order (`Book.sort_key`). The last query word matches as a prefix from MIN_PREFIX
letters on, so results appear while typing.

The index is kept by `catalog.books` (every write calls `index_book`) and, for chapters written
anywhere (the studio pipeline adds them), by a session hook that re-indexes their books after
each flush; `rebuild_index` refills it. The table is created by migration 0002 and reshaped by
0011; a database made with `create_all` (or an older shape) gets it on first use.
"""
from __future__ import annotations

import re
import unicodedata
import weakref
from typing import Sequence
from functools import lru_cache

from sqlalchemy import bindparam, event, inspect, select, text
from sqlalchemy.orm import Session, load_only, selectinload

from catalog import isbn
from catalog.access import visible
from catalog.models import Book, Chapter, utcnow
from catalog.text import fold, nfc

TABLE = "book_search"
COLUMNS = ("title_f", "other_f", "chapters_f", "summary_f", "exact")
MIN_PREFIX = 3
_TONE_DIGITS = {"\u0300": "1", "\u0309": "2", "\u0303": "3", "\u0301": "4", "\u0323": "5"}

SQLITE_DDL = [
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
    "title_f, other_f, chapters_f, summary_f, exact, tokenize = 'unicode61 remove_diacritics 0')",
]
POSTGRESQL_DDL = [
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " book_id integer PRIMARY KEY REFERENCES books(id) ON DELETE CASCADE,"
    " title_f text NOT NULL DEFAULT '', other_f text NOT NULL DEFAULT '',"
    " chapters_f text NOT NULL DEFAULT '', summary_f text NOT NULL DEFAULT '', exact text NOT NULL DEFAULT '',"
    " tsv tsvector GENERATED ALWAYS AS ("
    "  setweight(to_tsvector('simple'::regconfig, title_f), 'A') ||"
    "  setweight(to_tsvector('simple'::regconfig, other_f), 'B') ||"
    "  setweight(to_tsvector('simple'::regconfig, chapters_f), 'C') ||"
    "  setweight(to_tsvector('simple'::regconfig, summary_f), 'D')) STORED)",
    f"CREATE INDEX IF NOT EXISTS ix_{TABLE}_tsv ON {TABLE} USING gin (tsv)",
]


def tone_key(word: str) -> str:
    """A word as written but with its tone as a trailing digit: 'Hoà', 'Hòa' → 'hoa1'; 'Trương' → 'trương0'."""
    tone = "0"
    kept = []
    for ch in unicodedata.normalize("NFD", word.lower()):
        if ch in _TONE_DIGITS:
            tone = _TONE_DIGITS[ch]
        else:
            kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept)) + tone


def _words(value: str) -> list[str]:
    # the same word boundaries as fold(): \w runs on NFC text
    return re.findall(r"\w+", nfc(value))


def exact_words(value: str) -> list[str]:
    return [tone_key(w) for w in _words(value)]


def _isbn_words(isbn: str) -> list[str]:
    """An ISBN as written ("978-604-1-23456-7") and as one bare word ("9786041234567")."""
    bare = re.sub(r"[^0-9Xx]", "", isbn or "")
    return [isbn, bare] if bare else []


def index_texts(book: Book, chapter_titles: Sequence[str] = ()) -> tuple[str, str, str, str, str]:
    """(title_f, other_f, chapters_f, summary_f, exact) for `book`'s index row."""
    title = " ".join(filter(None, (book.title, book.subtitle)))
    others = [c.contributor.name for c in book.credits]
    if book.series is not None:
        others.append(book.series.title)
    others += [bs.subject.term for bs in book.subjects]
    others += [book.publisher or ""] + _isbn_words(book.isbn_print) + _isbn_words(book.isbn_audio)
    other = " ; ".join(filter(None, others))
    chapters = " ; ".join(chapter_titles)
    summary = book.summary or ""
    exact = " " + " ".join(exact_words(" ".join((title, other, chapters, summary)))) + " "
    return fold(title), fold(other), fold(chapters), fold(summary), exact


def _chapter_titles(session: Session, book_ids: list[int]) -> dict[int, list[str]]:
    """{book id: chapter titles in order}, read from the rows (a book's loaded collection may be stale)."""
    found: dict[int, list[str]] = {i: [] for i in book_ids}
    rows = session.execute(select(Chapter.book_id, Chapter.title).where(Chapter.book_id.in_(book_ids))
                           .order_by(Chapter.book_id, Chapter.position))
    for book_id, title in rows:
        found[book_id].append(title or "")
    return found


_READY: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def create_table(conn) -> None:
    """Create the index table in its current shape, replacing an older shape (fewer columns)."""
    found = inspect(conn)
    if found.has_table(TABLE):
        if {c["name"] for c in found.get_columns(TABLE)} >= set(COLUMNS):
            return
        conn.execute(text(f"DROP TABLE {TABLE}"))
    for ddl in (SQLITE_DDL if conn.dialect.name == "sqlite" else POSTGRESQL_DDL):
        conn.execute(text(ddl))


def ensure_index(session: Session) -> None:
    """Create the index table if this database lacks it or has an older shape, and fill it."""
    engine = session.get_bind()
    engine = getattr(engine, "engine", engine)
    if _READY.get(engine):
        return
    conn = session.connection()
    found = inspect(conn)
    current = found.has_table(TABLE) and {c["name"] for c in found.get_columns(TABLE)} >= set(COLUMNS)
    _READY[engine] = True
    if not current:
        create_table(conn)
        rebuild_index(session)


def _insert_sql(session: Session) -> str:
    key = "rowid" if _dialect(session) == "sqlite" else "book_id"
    return (f"INSERT INTO {TABLE} ({key}, title_f, other_f, chapters_f, summary_f, exact) "
            "VALUES (:id, :t, :o, :c, :s, :e)")


def _row(book_id: int, texts: tuple[str, ...]) -> dict:
    return dict(zip(("id", "t", "o", "c", "s", "e"), (book_id, *texts)))


def _write_row(session: Session, book_id: int, texts: tuple[str, ...]) -> None:
    unindex_book(session, book_id)
    session.execute(text(_insert_sql(session)), _row(book_id, texts))


def index_book(session: Session, book: Book) -> None:
    """Refresh `book`'s index row (removed when the book is deleted)."""
    ensure_index(session)
    if book.deleted_at is not None:
        unindex_book(session, book.id)
        return
    _write_row(session, book.id, index_texts(book, _chapter_titles(session, [book.id])[book.id]))


def unindex_book(session: Session, book_id: int) -> None:
    ensure_index(session)
    column = "rowid" if _dialect(session) == "sqlite" else "book_id"
    session.execute(text(f"DELETE FROM {TABLE} WHERE {column} = :id"), {"id": book_id})


@event.listens_for(Session, "after_flush")
def _note_chapter_changes(session: Session, _context) -> None:
    """Remember the books whose chapters were added, renamed or removed in this flush."""
    changed = {obj.book_id for obj in (*session.new, *session.dirty, *session.deleted)
               if isinstance(obj, Chapter) and obj.book_id is not None}
    if changed:
        session.info.setdefault("search_reindex", set()).update(changed)


@event.listens_for(Session, "after_flush_postexec")
def _reindex_changed_books(session: Session, _context) -> None:
    """Re-index those books with the chapter rows as now flushed (SQL only, no ORM writes)."""
    for book_id in sorted(session.info.pop("search_reindex", ())):
        book = session.get(Book, book_id)
        if book is None or inspect(book).was_deleted:
            unindex_book(session, book_id)
        else:
            index_book(session, book)


def rebuild_index(session: Session, *, batch: int = 1000) -> int:
    """Refill the whole index from the book rows; returns the number of books indexed."""
    ensure_index(session)
    session.execute(text(f"DELETE FROM {TABLE}"))
    count, last_id = 0, 0
    while True:
        books = session.scalars(
            select(Book).where(Book.deleted_at.is_(None), Book.id > last_id).order_by(Book.id).limit(batch)
            .options(selectinload(Book.credits), selectinload(Book.subjects), selectinload(Book.series),
                     # only what index_texts reads: migration 0011 runs this before later
                     # migrations add columns to `books`, which the full model would select
                     load_only(Book.id, Book.title, Book.subtitle, Book.publisher, Book.isbn_print,
                               Book.isbn_audio, Book.summary, Book.series_id, Book.deleted_at))
        ).all()
        if not books:
            return count
        chapters = _chapter_titles(session, [b.id for b in books])
        session.execute(text(_insert_sql(session)), [_row(b.id, index_texts(b, chapters[b.id])) for b in books])
        count += len(books)
        last_id = books[-1].id


@lru_cache(maxsize=2)
def _visible_sql(include_unpublished: bool) -> tuple[str, dict]:
    """The WHERE text over `books b` (catalog.access.visible, or only "not deleted") and the
    parameters it needs besides `:now`; compiled once, since the search SQL is text."""
    b = Book.__table__.alias("b")
    clause = b.c.deleted_at.is_(None) if include_unpublished else visible(bindparam("now"), table=b)
    compiled = clause.compile()
    return str(compiled), {k: v for k, v in compiled.params.items() if k != "now"}


def search_ids(session: Session, q: str, *, limit: int = 20, offset: int = 0,
               include_unpublished: bool = False) -> list[int]:
    """Ids of matching books, best first. An empty query lists every visible book in alphabet order."""
    ensure_index(session)
    typed_isbn = isbn.normalised_or_empty(q) if any(c.isdigit() for c in q or "") else ""
    # an ISBN typed with hyphens or as ISBN-10 is the stored ISBN-13's digits, one word
    words = [typed_isbn] if typed_isbn else fold(q).split()
    params: dict = {"now": utcnow(), "limit": int(limit), "offset": int(offset)}
    shown, fixed = _visible_sql(include_unpublished)
    params.update(fixed)
    sqlite = _dialect(session) == "sqlite"
    if not words:
        collate = "" if sqlite else ' COLLATE "C"'
        sql = f"SELECT b.id FROM books b WHERE {shown} ORDER BY b.sort_key{collate}, b.id LIMIT :limit OFFSET :offset"
        return list(session.scalars(text(sql), params))
    words = words[:16]
    # The last word matches as a prefix (results while typing), but only from MIN_PREFIX letters:
    # a one- or two-letter prefix matches most of a large catalogue and ranks nothing useful.
    prefix = len(words[-1]) >= MIN_PREFIX
    if not prefix and len(words) > 1:
        words = words[:-1]  # a short trailing fragment is still being typed: ignore it
    exact = exact_words(q)[:16]
    pos = "instr" if sqlite else "strpos"
    cast = "" if sqlite else "::int"
    for i, word in enumerate(words):
        last = i == len(words) - 1 and prefix
        params[f"w{i}"] = f" {word}" if last else f" {word} "
    title_score = " + ".join(f"({pos}(' ' || b.title_folded || ' ', :w{i}) > 0){cast}" for i in range(len(words)))
    if sqlite:
        terms = [f'"{w}"' for w in words]
        if prefix:
            terms[-1] += "*"
        every = "(" + " AND ".join(terms) + ")"
        params["match"] = every
        params["in_meta"] = "{title_f other_f} : " + every
        params["in_chapters"] = "chapters_f : " + every
        # exact words through the index itself (one small lookup per word), not per-row string scans
        for i, word in enumerate(exact):
            params[f"x{i}"] = 'exact : "' + word + '"'
        exact_score = "(" + (" + ".join(
            f"(s.rowid IN (SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH :x{i}))" for i in range(len(exact))) or "0") + ")"
        in_meta = f"(s.rowid IN (SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH :in_meta))"
        in_chapters = f"(s.rowid IN (SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH :in_chapters))"
        sql = (f"SELECT b.id FROM {TABLE} s JOIN books b ON b.id = s.rowid "
               f"WHERE {TABLE} MATCH :match AND {shown} "
               f"ORDER BY {exact_score} DESC, {title_score} DESC, {in_meta} DESC, {in_chapters} DESC, "
               "b.sort_key, b.id LIMIT :limit OFFSET :offset")
    else:
        def tsquery(weights: str) -> str:
            labels = [weights] * len(words)
            if prefix:
                labels[-1] = "*" + weights
            return " & ".join(f"'{w}':{label}" if label else f"'{w}'" for w, label in zip(words, labels))
        params["tsq"] = tsquery("")
        params["in_meta"] = tsquery("AB")
        params["in_chapters"] = tsquery("C")
        for i, word in enumerate(exact):
            params[f"e{i}"] = f" {word} "
        exact_score = " + ".join(f"(strpos(s.exact, :e{i}) > 0)::int" for i in range(len(exact))) or "0"
        sql = (f"SELECT b.id FROM {TABLE} s JOIN books b ON b.id = s.book_id "
               f"WHERE s.tsv @@ to_tsquery('simple'::regconfig, :tsq) AND {shown} "
               f"ORDER BY {exact_score} DESC, {title_score} DESC, "
               "(s.tsv @@ to_tsquery('simple'::regconfig, :in_meta)) DESC, "
               "(s.tsv @@ to_tsquery('simple'::regconfig, :in_chapters)) DESC, "
               'b.sort_key COLLATE "C", b.id LIMIT :limit OFFSET :offset')
    return list(session.scalars(text(sql), params))


def search_books(session: Session, q: str, *, limit: int = 20, offset: int = 0,
                 include_unpublished: bool = False) -> list[Book]:
    """Books matching `q` (with or without diacritics), exact-diacritic matches first.

    Only published, non-deleted books unless `include_unpublished` (staff views; deleted books never).
    """
    ids = search_ids(session, q, limit=limit, offset=offset, include_unpublished=include_unpublished)
    if not ids:
        return []
    books = session.scalars(
        select(Book).where(Book.id.in_(ids))
        .options(selectinload(Book.credits), selectinload(Book.subjects), selectinload(Book.series))).all()
    by_id = {b.id: b for b in books}
    return [by_id[i] for i in ids if i in by_id]


def count_books(session: Session, q: str, *, include_unpublished: bool = False) -> int:
    """How many books `search_books` would find without paging."""
    return len(search_ids(session, q, limit=10**9, include_unpublished=include_unpublished))
