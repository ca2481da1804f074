"""catalog.access: one `may_manage`, one library-scoped clause, one visibility rule whose SQL form
selects exactly the books its per-book form admits (SQLite and PostgreSQL)."""
from __future__ import annotations

import datetime as dt
import itertools
from types import SimpleNamespace

from sqlalchemy import select

from catalog.access import is_visible, managed_by, may_manage, visible
from catalog.accounts import OPERATOR, get_or_create_library
from catalog.books import create_book
from catalog.models import Book, User
from catalog.states import BookState, Role

NOW = dt.datetime(2026, 6, 1, 12, 0, 0)


def person(role, library_id=1):
    return SimpleNamespace(role=role, library_id=library_id)


def test_may_manage_admin_everywhere_staff_in_their_library_only():
    assert may_manage(person(Role.ADMIN, 9), 1) and may_manage(OPERATOR, 1)
    for role in (Role.STUDIO, Role.LIBRARIAN):
        assert may_manage(person(role, 1), 1)
        assert not may_manage(person(role, 2), 1)
        assert not may_manage(person(role, 1), None)
    assert not may_manage(person(Role.READER, 1), 1)
    assert not may_manage(None, 1)
    assert not may_manage(person(Role.STUDIO, 1), 1, roles=(Role.LIBRARIAN,))  # a narrower rule


def test_states_are_the_stored_strings():
    assert BookState.PUBLISHED == "published" and f"{Role.ADMIN}" == "admin"
    assert [r.value for r in Role] == ["reader", "studio", "librarian", "admin"]


def _books(session):
    """One book for every combination of state, deletion and schedule around NOW."""
    library = get_or_create_library(session, "THV", "Thư viện thử")
    other = get_or_create_library(session, "KHAC", "Thư viện khác")
    combos = itertools.product(BookState, (None, NOW - dt.timedelta(days=1)),
                               (None, NOW - dt.timedelta(seconds=1), NOW, NOW + dt.timedelta(seconds=1)))
    for n, (state, deleted_at, publish_at) in enumerate(combos):
        book = create_book(session, library=library if n % 2 else other, title=f"Sách {n}")
        book.state, book.deleted_at, book.publish_at = state, deleted_at, publish_at
    session.flush()
    return library, list(session.scalars(select(Book)))


def test_visible_clause_selects_exactly_the_visible_books(any_session):
    _library, books = _books(any_session)
    expected = {b.id for b in books if is_visible(b, NOW)}
    assert 0 < len(expected) < len(books)
    assert set(any_session.scalars(select(Book.id).where(visible(NOW)))) == expected
    b = Book.__table__.alias("b")
    assert set(any_session.scalars(select(b.c.id).where(visible(NOW, table=b)))) == expected


def test_managed_by_clause_matches_may_manage(any_session):
    library, books = _books(any_session)
    for who in (person(Role.ADMIN, None), person(Role.LIBRARIAN, library.id), person(Role.STUDIO, library.id),
                person(Role.READER, library.id)):
        expected = {b.id for b in books if may_manage(who, b.library_id)}
        assert set(any_session.scalars(select(Book.id).where(managed_by(who, Book.library_id)))) == expected
    assert set(any_session.scalars(select(User.id).where(managed_by(person(Role.READER), User.library_id)))) == set()
