"""Vietnamese catalogue search over title, contributors, series and subjects.

One index row per book in `book_search`, holding three texts built by `index_texts`:

- `title_f`, `other_f`: the folded words (`catalog.text.fold`: no marks, đ→d, lower case) of the
  title and subtitle, and of contributors, series and subjects. Matching runs on these, so
  `truong dinh` finds "Trương Định". SQLite indexes them with FTS5; PostgreSQL with a weighted
  `tsvector` (dictionary `simple`, so no stemming) in a GIN index. Both databases see the same
  folded text, so results agree.
- `exact`: every word as written, lower case, with its tone moved to a digit at the end
  ("Hoà" and "Hòa" → `hoa1`, "Định" → `đinh5`), between spaces. A query word written the same
  way scores an exact-diacritic match; those books rank first.

Ranking: number of exact-diacritic word matches (on SQLite looked up through the FTS index of
`exact`, one lookup per word), then number of query words found in the title, then Vietnamese
alphabet order (`Book.sort_key`); the same order on both databases. The last query word matches
as a prefix from MIN_PREFIX letters on, so results appear while typing.

The index is kept by `catalog.books` (every write calls `index_book`); `rebuild_index` refills it.
The table is created by migration 0002; a database made with `create_all` gets it on first use.
"""
from __future__ import annotations

import re
import unicodedata
import weakref
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session, selectinload

from catalog.models import Book, utcnow
from catalog.text import fold, nfc

TABLE = "book_search"
MIN_PREFIX = 3
_TONE_DIGITS = {"\u0300": "1", "\u0309": "2", "\u0303": "3", "\u0301": "4", "\u0323": "5"}

SQLITE_DDL = [
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
    "title_f, other_f, exact, tokenize = 'unicode61 remove_diacritics 0')",
]
POSTGRESQL_DDL = [
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " book_id integer PRIMARY KEY REFERENCES books(id) ON DELETE CASCADE,"
    " title_f text NOT NULL DEFAULT '', other_f text NOT NULL DEFAULT '', exact text NOT NULL DEFAULT '',"
    " tsv tsvector GENERATED ALWAYS AS ("
    "  setweight(to_tsvector('simple'::regconfig, title_f), 'A') ||"
    "  setweight(to_tsvector('simple'::regconfig, other_f), 'B')) STORED)",
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


def index_texts(book: Book) -> tuple[str, str, str]:
    """(title_f, other_f, exact) for `book`'s index row."""
    title = " ".join(filter(None, (book.title, book.subtitle)))
    others = [c.contributor.name for c in book.credits]
    if book.series is not None:
        others.append(book.series.title)
    others += [bs.subject.term for bs in book.subjects]
    other = " ; ".join(others)
    exact = " " + " ".join(exact_words(title + " " + " ".join(others))) + " "
    return fold(title), fold(other), exact


_READY: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def ensure_index(session: Session) -> None:
    """Create the index table if this database lacks it (databases made by `create_all`), and fill it."""
    engine = session.get_bind()
    engine = getattr(engine, "engine", engine)
    if _READY.get(engine):
        return
    conn = session.connection()
    if not inspect(conn).has_table(TABLE):
        for ddl in (SQLITE_DDL if conn.dialect.name == "sqlite" else POSTGRESQL_DDL):
            conn.execute(text(ddl))
        _READY[engine] = True
        rebuild_index(session)
    _READY[engine] = True


def _write_row(session: Session, book_id: int, texts: tuple[str, str, str]) -> None:
    params = {"id": book_id, "t": texts[0], "o": texts[1], "e": texts[2]}
    if _dialect(session) == "sqlite":
        session.execute(text(f"DELETE FROM {TABLE} WHERE rowid = :id"), {"id": book_id})
        session.execute(text(f"INSERT INTO {TABLE} (rowid, title_f, other_f, exact) VALUES (:id, :t, :o, :e)"),
                        params)
    else:
        session.execute(text(
            f"INSERT INTO {TABLE} (book_id, title_f, other_f, exact) VALUES (:id, :t, :o, :e) "
            "ON CONFLICT (book_id) DO UPDATE SET title_f = EXCLUDED.title_f, other_f = EXCLUDED.other_f, "
            "exact = EXCLUDED.exact"), params)


def index_book(session: Session, book: Book) -> None:
    """Refresh `book`'s index row (removed when the book is deleted)."""
    ensure_index(session)
    if book.deleted_at is not None:
        unindex_book(session, book.id)
        return
    _write_row(session, book.id, index_texts(book))


def unindex_book(session: Session, book_id: int) -> None:
    ensure_index(session)
    column = "rowid" if _dialect(session) == "sqlite" else "book_id"
    session.execute(text(f"DELETE FROM {TABLE} WHERE {column} = :id"), {"id": book_id})


def rebuild_index(session: Session, *, batch: int = 1000) -> int:
    """Refill the whole index from the book rows; returns the number of books indexed."""
    ensure_index(session)
    session.execute(text(f"DELETE FROM {TABLE}"))
    count, last_id = 0, 0
    while True:
        books = session.scalars(
            select(Book).where(Book.deleted_at.is_(None), Book.id > last_id).order_by(Book.id).limit(batch)
            .options(selectinload(Book.credits), selectinload(Book.subjects), selectinload(Book.series))
        ).all()
        if not books:
            return count
        rows = [{"id": b.id, "t": t, "o": o, "e": e} for b in books for (t, o, e) in [index_texts(b)]]
        if _dialect(session) == "sqlite":
            session.execute(text(f"INSERT INTO {TABLE} (rowid, title_f, other_f, exact) VALUES (:id, :t, :o, :e)"),
                            rows)
        else:
            session.execute(text(f"INSERT INTO {TABLE} (book_id, title_f, other_f, exact) VALUES (:id, :t, :o, :e)"),
                            rows)
        count += len(books)
        last_id = books[-1].id


def _visible_sql(include_unpublished: bool) -> str:
    if include_unpublished:
        return "b.deleted_at IS NULL"
    return ("b.deleted_at IS NULL AND b.state = 'published' "
            "AND (b.publish_at IS NULL OR b.publish_at <= :now)")


def search_ids(session: Session, q: str, *, limit: int = 20, offset: int = 0,
               include_unpublished: bool = False) -> list[int]:
    """Ids of matching books, best first. An empty query lists every visible book in alphabet order."""
    ensure_index(session)
    words = fold(q).split()
    params: dict = {"now": utcnow(), "limit": int(limit), "offset": int(offset)}
    visible = _visible_sql(include_unpublished)
    if not words:
        collate = "" if _dialect(session) == "sqlite" else ' COLLATE "C"'
        sql = f"SELECT b.id FROM books b WHERE {visible} ORDER BY b.sort_key{collate}, b.id LIMIT :limit OFFSET :offset"
        return list(session.scalars(text(sql), params))
    words = words[:16]
    # The last word matches as a prefix (results while typing), but only from MIN_PREFIX letters:
    # a one- or two-letter prefix matches most of a large catalogue and ranks nothing useful.
    prefix = len(words[-1]) >= MIN_PREFIX
    if not prefix and len(words) > 1:
        words = words[:-1]  # a short trailing fragment is still being typed: ignore it
    exact = exact_words(q)[:16]
    sqlite = _dialect(session) == "sqlite"
    pos = "instr" if sqlite else "strpos"
    cast = "" if sqlite else "::int"
    for i, word in enumerate(exact):
        params[f"e{i}"] = f" {word} "
    for i, word in enumerate(words):
        last = i == len(words) - 1 and prefix
        params[f"w{i}"] = f" {word}" if last else f" {word} "
    # rank: words written exactly as typed (marks and all), then words found in the title, then alphabet
    title_score = " + ".join(f"({pos}(' ' || b.title_folded || ' ', :w{i}) > 0){cast}" for i in range(len(words)))
    if sqlite:
        # exact words through the index itself (one small lookup per word), not per-row string scans
        exact_score = " + ".join(
            f"(s.rowid IN (SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH :x{i}))" for i in range(len(exact))) or "0"
        for i, word in enumerate(exact):
            params[f"x{i}"] = 'exact : "' + word + '"'
        exact_score = f"({exact_score})"
        terms = [f'"{w}"' for w in words]
        if prefix:
            terms[-1] += "*"
        params["match"] = "{title_f other_f} : (" + " AND ".join(terms) + ")"
        sql = (f"SELECT b.id FROM {TABLE} s JOIN books b ON b.id = s.rowid "
               f"WHERE {TABLE} MATCH :match AND {visible} "
               f"ORDER BY {exact_score} DESC, {title_score} DESC, b.sort_key, b.id "
               "LIMIT :limit OFFSET :offset")
    else:
        terms = [f"'{w}'" for w in words]
        if prefix:
            terms[-1] += ":*"
        params["tsq"] = " & ".join(terms)
        exact_score = " + ".join(f"(strpos(s.exact, :e{i}) > 0)::int" for i in range(len(exact))) or "0"
        sql = (f"SELECT b.id FROM {TABLE} s JOIN books b ON b.id = s.book_id "
               f"WHERE s.tsv @@ to_tsquery('simple'::regconfig, :tsq) AND {visible} "
               f"ORDER BY {exact_score} DESC, {title_score} DESC, "
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
