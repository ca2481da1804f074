"""Who may listen to a title: the access policy rule, applied to every playlist and segment.

Policies (catalog.models.ACCESS_POLICIES):
    public          anyone, logged in or not
    members         any logged-in account
    print-disabled  readers registered and verified as print-disabled (Marrakesh Treaty titles)
    on-site         requests from the owning library's networks (CIDR list on the library)
Staff of the owning library (and admins) may always listen, drafts included, to review.
`check_holder` adds what a media token's holder needs on top (streaming.tokens): the login or app
credential it was issued under must still hold.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from typing import Protocol

from catalog.access import is_visible, may_manage
from catalog.states import Role
from catalog.talking_books import offered
from streaming.tokens import APP, PUBLIC


class Listener(Protocol):
    id: int
    role: str
    library_id: int
    is_print_disabled: bool
    is_active: bool
    session_version: int


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # machine-readable: ok | staff | not-published | login-required | print-disabled-only | on-site-only


def in_networks(address: str | None, networks: str) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for line in (networks or "").split():
        try:
            if ip in ipaddress.ip_network(line.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def can_listen(book, user: Listener | None, remote_addr: str | None = None,
               onsite_networks: str = "", now: dt.datetime | None = None) -> Decision:
    if may_manage(user, book.library_id):
        return Decision(True, "staff")
    if not is_visible(book, now):
        return Decision(False, "not-published")
    policy = book.access_policy
    if policy == "public":
        return Decision(True, "ok")
    if policy == "members":
        return Decision(user is not None, "ok" if user is not None else "login-required")
    if policy == "print-disabled":
        if user is None:
            return Decision(False, "login-required")
        return Decision(bool(user.is_print_disabled), "ok" if user.is_print_disabled else "print-disabled-only")
    if policy == "on-site":
        inside = in_networks(remote_addr, onsite_networks)
        return Decision(inside, "ok" if inside else "on-site-only")
    return Decision(False, "unknown-policy")


def depends_on_address(book, decision: Decision) -> bool:
    """Whether `decision` (can_listen's answer for `book`) could change with the client's address:
    on-site titles, unless staff rights decided it. Such a decision must not be reused for other
    requests (e.g. cached by a proxy), since the next one may come from elsewhere."""
    return book.access_policy == "on-site" and decision.reason != "staff"


def can_see(book, user: Listener | None, now: dt.datetime | None = None) -> bool:
    """Whether the catalogue page of `book` is shown (restricted titles are listed, not playable)."""
    if may_manage(user, book.library_id):
        return book.deleted_at is None
    return is_visible(book, now)


def check_holder(book, claims, account: Listener | None, *, login_id: int | None, app_valid: bool,
                 remote_addr: str | None = None, onsite_networks: str = "",
                 now: dt.datetime | None = None) -> Decision:
    """May whoever holds a verified media token (streaming.tokens.Claims) use it for `book` now?

    `account` is the account the token names, re-loaded for this request (None for a public token
    or when the account is gone); `login_id` the account of the request's own login, if any;
    `app_valid` whether the app credential an app token names is still valid (catalog.apps).
    A reader's stream and download tokens work only beside that reader's login and session
    version; app links work without a login while the login they were issued under holds. Links
    that work without the login (public and app ones) never carry staff rights to unpublished titles.
    """
    if claims.subject == PUBLIC:
        return can_listen(book, None, remote_addr, onsite_networks, now)
    if claims.app_id is not None:
        if not app_valid:
            return Decision(False, "revoked")
    elif account is None or not account.is_active or account.session_version != claims.session_version:
        return Decision(False, "revoked")
    elif claims.use != APP and login_id != account.id:
        return Decision(False, "login-required" if login_id is None else "other-reader")
    decision = can_listen(book, account, remote_addr, onsite_networks, now)
    if decision.reason == "staff" and not is_visible(book, now) and (claims.use == APP or claims.app_id is not None):
        return Decision(False, "not-published")
    return decision


def can_take_talking_book(book, user: Listener | None, now: dt.datetime | None = None) -> Decision:
    """May `user` download the title's accessible talking book (EPUB 3 Media Overlays, DAISY 2.02)?

    Staff of the owning library (and admins) always: they make and check it. Beyond them only for
    titles that offer it (catalog.talking_books.offered: Marrakesh or print-disabled titles), live,
    to verified print-disabled readers (beneficiaries) and to staff of any other library, who act
    for their library as an authorised entity (Marrakesh exchange between libraries), in the
    browser or through an app credential issued to their account.
    """
    if may_manage(user, book.library_id):
        return Decision(True, "staff")
    if not is_visible(book, now):
        return Decision(False, "not-published")
    if not offered(book):
        return Decision(False, "not-offered")
    if user is None:
        return Decision(False, "login-required")
    if user.is_print_disabled:
        return Decision(True, "ok")
    if user.role in (Role.STUDIO, Role.LIBRARIAN):
        return Decision(True, "authorised-entity")
    return Decision(False, "print-disabled-only")


def listenable_policies(user: Listener | None) -> tuple[str, ...]:
    """The access policies of live titles `user` may hear wherever they are (on-site titles depend
    on the address, so they are left out): what an app's "my titles" list shows."""
    if user is None:
        return ("public",)
    return ("public", "members") + (("print-disabled",) if user.is_print_disabled else ())
