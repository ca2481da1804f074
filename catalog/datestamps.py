"""When a book's harvestable form last changed: the OAI-PMH datestamp, MARC 005, DC `modified`.

A record changes when the book row changes (`Book.updated_at`: edits, publishing, withdrawing,
deleting), when a scheduled publication's time comes (`publish_at`, once it has passed: the record
goes live without any write), when its library or that library's province is renamed or recoded
(publisher, 003/040, set specs), when its series is renamed (490/830, DC relation) and when a
rendition is added (300/306/344/347, DC format). `changed_at` (Python, one book) and `changed_at_sql`
(a column expression, for `from`/`until` and paging) compute the same value; naive UTC.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, case, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased, object_session
from sqlalchemy.sql.functions import FunctionElement

from catalog.models import Book, Library, Rendition, Series, utcnow


class _greatest(FunctionElement):
    """GREATEST(a, b, ...) on PostgreSQL, the scalar max(a, b, ...) on SQLite (arguments never NULL)."""
    type = DateTime()
    inherit_cache = True


@compiles(_greatest)
def _greatest_default(element, compiler, **kw):
    return f"greatest({compiler.process(element.clauses, **kw)})"


@compiles(_greatest, "sqlite")
def _greatest_sqlite(element, compiler, **kw):
    return f"max({compiler.process(element.clauses, **kw)})"


def changed_at(book: Book, now: dt.datetime | None = None) -> dt.datetime | None:
    """The latest change to what harvesters receive for `book` (see the module docstring)."""
    if book.updated_at is None:
        return None
    now = now or utcnow()
    moments: list[dt.datetime | None] = [book.updated_at]
    if book.publish_at is not None and book.publish_at <= now:
        moments.append(book.publish_at)
    library = book.library
    if library is not None:
        moments.append(library.updated_at)
        session = object_session(book)
        if library.parent_id and session is not None:
            parent = session.get(Library, library.parent_id)
            moments.append(parent.updated_at if parent is not None else None)
    if book.series is not None:
        moments.append(book.series.updated_at)
    moments += [r.created_at for r in book.renditions]
    return max(m for m in moments if m is not None)


def changed_at_sql(now: dt.datetime):
    """`changed_at` as a SQL expression over `Book` (correlated subqueries; never NULL)."""
    own = aliased(Library)
    parent = aliased(Library)
    fallback = Book.updated_at
    library = select(own.updated_at).where(own.id == Book.library_id).scalar_subquery()
    province = (select(parent.updated_at).join(own, own.parent_id == parent.id)
                .where(own.id == Book.library_id).scalar_subquery())
    series = select(Series.updated_at).where(Series.id == Book.series_id).scalar_subquery()
    renditions = select(func.max(Rendition.created_at)).where(Rendition.book_id == Book.id).scalar_subquery()
    went_live = case((Book.publish_at <= now, Book.publish_at), else_=fallback)
    return _greatest(fallback, went_live, *(func.coalesce(q, fallback) for q in (library, province, series,
                                                                                 renditions)))
