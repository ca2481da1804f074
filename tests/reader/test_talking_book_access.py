"""streaming.access.can_take_talking_book: every reason, on plain objects."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from streaming.access import can_take_talking_book

NOW = dt.datetime(2026, 12, 6, 12, 0)


def _book(policy="public", marrakesh=False, state="published", publish_at=None, deleted_at=None):
    return SimpleNamespace(library_id=1, access_policy=policy, marrakesh=marrakesh, state=state,
                           publish_at=publish_at, deleted_at=deleted_at)


def _user(role="reader", library_id=1, pd=False):
    return SimpleNamespace(id=7, role=role, library_id=library_id, is_print_disabled=pd)


@pytest.mark.parametrize("book, user, allowed, reason", [
    (_book(), _user("librarian"), True, "staff"),
    (_book(state="draft"), _user("studio"), True, "staff"),
    (_book(), _user("admin", library_id=9), True, "staff"),
    (_book(marrakesh=True, state="draft"), _user(pd=True), False, "not-published"),
    (_book(marrakesh=True, publish_at=NOW + dt.timedelta(days=1)), _user(pd=True), False, "not-published"),
    (_book(), _user(pd=True), False, "not-offered"),
    (_book(policy="members"), _user("librarian", library_id=2), False, "not-offered"),
    (_book(marrakesh=True), None, False, "login-required"),
    (_book(marrakesh=True), _user(pd=True), True, "ok"),
    (_book(policy="print-disabled"), _user(pd=True), True, "ok"),
    (_book(marrakesh=True), _user(), False, "print-disabled-only"),
    (_book(policy="print-disabled"), _user("studio", library_id=2), True, "authorised-entity"),
    (_book(marrakesh=True, policy="public"), _user("librarian", library_id=2), True, "authorised-entity"),
])
def test_decisions(book, user, allowed, reason):
    decision = can_take_talking_book(book, user, now=NOW)
    assert (decision.allowed, decision.reason) == (allowed, reason)
