"""Who may manage what, and what readers may see: the access words every package uses.

- `has_role(user, *roles)`: the role check of every staff page (admins pass them all).
- `may_manage(user, library_id)`: admins manage every library; studio and librarian staff
  manage their own library's books, clips, jobs, jingles and readers.
- `managed_by(user, column)`: the same rule as a SQL clause over a library id column, for listings.
- `is_visible(book, now)` / `visible(now)`: whether readers see a book (published, not deleted,
  its scheduled time come), per row and as a SQL clause; search, listings, OPDS, OAI-PMH, MARC
  and open data filter with the clause, the per-book checks call the function.

`user` is anything with `role` and `library_id` (a `User` row, the login, the CLI's operator);
None means nobody is logged in.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, and_, false, or_, true

from catalog.models import Book, utcnow
from catalog.states import STAFF_ROLES, BookState, Role


def may_manage(user, library_id: int | None, roles=STAFF_ROLES) -> bool:
    """Admin, or an account with one of `roles` (default: any staff role) in library `library_id`."""
    if user is None:
        return False
    return user.role == Role.ADMIN or (user.role in roles and library_id is not None
                                       and user.library_id == library_id)


def has_role(user, *roles: str) -> bool:
    """Whether `user` has one of `roles`; admins have every role."""
    return user is not None and (user.role == Role.ADMIN or user.role in roles)


def is_admin(user) -> bool:
    return user is not None and user.role == Role.ADMIN


def is_staff(user) -> bool:
    return user is not None and user.role in STAFF_ROLES


def managed_by(user, column) -> ColumnElement[bool]:
    """SQL: rows whose library id `column` `user` may manage (`may_manage` as a WHERE clause)."""
    if is_admin(user):
        return true()
    if not is_staff(user):
        return false()
    return column == user.library_id


def is_visible(book, now: dt.datetime | None = None) -> bool:
    """Whether readers see `book` (a Book or a row with its columns) at `now` (UTC, naive)."""
    now = now or utcnow()
    return (book.state == BookState.PUBLISHED and book.deleted_at is None
            and (book.publish_at is None or book.publish_at <= now))


def visible(now=None, table=Book) -> ColumnElement[bool]:
    """SQL: `is_visible` as a WHERE clause over `table` (Book, or a Table/alias of `books`);
    `now` is a datetime (UTC, naive; default: now) or a bind parameter."""
    now = utcnow() if now is None else now
    c = getattr(table, "c", table)
    return and_(c.state == BookState.PUBLISHED, c.deleted_at.is_(None),
                or_(c.publish_at.is_(None), c.publish_at <= now))
