"""Libraries and user accounts: creation, argon2id password hashing, the password and username
policies, who may manage whose account, one-time passwords, reset-by-email tokens, self-registration.

Every rule about accounts lives here; `web/` and the CLI call one function per action.
"""
from __future__ import annotations

import re

import datetime as dt
import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from catalog.access import is_admin, managed_by, may_manage
from catalog.errors import N_, CatalogError
from catalog.models import ROLES, Library, PasswordReset, User, utcnow
from catalog.states import Role
from catalog.text import fold, nfc

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# One-time passwords are generated (60 bits from `secrets`), never chosen by a person, so a
# dictionary cannot shorten the search and argon2's cost can be small (1 pass over 1 MiB): bulk
# registration of 1 000 readers then takes seconds, not minutes. The first login replaces the hash.
_one_time_hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so unknown users cost the same time as wrong
    passwords. Made on first use: an argon2id hash costs ~0.1-0.5 s, which every `sachnoi` start and
    every import of this module paid when it was a module constant."""
    return _hasher.hash("sachnoi-dummy-password")


MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
MAX_USERNAME_LENGTH = 64
ROLE_LABELS = {"reader": "Bạn đọc", "studio": "Phòng thu", "librarian": "Thủ thư", "admin": "Quản trị viên"}
SELF_REGISTRATION = ("closed", "approval", "open")  # Library.self_registration
RESET_TOKEN_TTL = dt.timedelta(hours=1)
_USERNAME_PUNCTUATION = frozenset("._-@")
_COMMON_PASSWORDS = Path(__file__).with_name("common_passwords.txt")


class AccountError(CatalogError):
    """A bad account request (unknown library or role, weak password, duplicate name, not allowed)."""


# -- usernames and passwords ---------------------------------------------------------------------
def normalize_username(raw: str | None) -> str:
    """The stored form of a user name: NFC, lower case; raises AccountError for names that could
    impersonate another one (invisible characters, compatibility forms, mixed scripts).

    Vietnamese letters with diacritics are letters of the Latin script and stay allowed."""
    name = nfc(raw).lower()
    if not name or len(name) > MAX_USERNAME_LENGTH:
        raise AccountError(f"Tên đăng nhập cần từ 1 đến {MAX_USERNAME_LENGTH} ký tự.")
    for ch in name:
        # Zero-width and bidi controls are category Cf, spaces Zs: both make two names look alike.
        if not (unicodedata.category(ch)[0] in "LN" or ch in _USERNAME_PUNCTUATION):
            raise AccountError(f"Tên đăng nhập chỉ gồm chữ, số và . _ - @ (ký tự không dùng được: "
                               f"U+{ord(ch):04X}).")
    # Full-width letters, ligatures, superscripts: NFKC folds them onto a plain name they imitate.
    if unicodedata.normalize("NFKC", name) != name:
        raise AccountError("Tên đăng nhập có ký tự trông giống ký tự khác (dạng tương thích Unicode).")
    # imported on first use: confusable_homoglyphs loads its whole Unicode table (~0.4 s) at import
    from confusable_homoglyphs import confusables
    if confusables.is_dangerous(name, preferred_aliases=["latin", "common"]):
        raise AccountError("Tên đăng nhập trộn chữ của nhiều hệ chữ viết hoặc có chữ dễ nhầm với chữ Latinh.")
    return name


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of the most common passwords (lower case)."""
    lines = _COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def check_password(password: str | None, *, username: str = "", current_hash: str | None = None) -> str:
    """`password` if the policy accepts it, else AccountError saying why (length, common, reuse)."""
    password = password or ""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Mật khẩu phải có ít nhất {MIN_PASSWORD_LENGTH} ký tự.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"Mật khẩu dài quá {MAX_PASSWORD_LENGTH} ký tự.")
    lowered = nfc(password).lower()
    if lowered in common_passwords() or (username and lowered == nfc(username).lower()):
        raise AccountError("Mật khẩu này quá phổ biến, dễ bị đoán: hãy chọn mật khẩu khác.")
    if current_hash and _verifies(current_hash, password):
        raise AccountError("Mật khẩu mới phải khác mật khẩu hiện tại.")
    return password


def _verifies(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


def one_time_password() -> str:
    """A random password for staff to hand over, e.g. 'k7dq-2mfx-9wpa' (60 bits; no 0/o, 1/l)."""
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))


def user_search_text(username: str, display_name: str | None, email: str | None, card: str | None) -> str:
    """What the user list searches, folded: 'Nguyễn Văn Đức' is found by 'nguyen van duc' too."""
    return fold(" ".join(part for part in (username, display_name, email, card) if part))[:700]


# -- libraries -----------------------------------------------------------------------------------
def get_or_create_library(session: Session, code: str, name: str | None = None, *,
                          kind: str = "province", parent: Library | None = None) -> Library:
    code = nfc(code).upper()
    library = session.scalar(select(Library).where(Library.code == code))
    if library is None:
        library = Library(code=code, name=nfc(name or code), kind=kind,
                          parent_id=parent.id if parent else None)
        session.add(library)
        session.flush()
    return library


def create_library(session: Session, code: str, name: str, *, parent: Library | None = None) -> Library:
    """A new library; AccountError when the code is empty, too long or already taken."""
    code, name = nfc(code).upper(), nfc(name)
    if not code or not name or len(code) > 32 or len(name) > 255:
        raise AccountError("Cần mã (tối đa 32 ký tự) và tên thư viện.")
    existing = session.scalar(select(Library).where(Library.code == code))
    if existing is not None:
        raise AccountError(f"Mã thư viện {code} đã được dùng cho “{existing.name}”: chọn mã khác.")
    return get_or_create_library(session, code, name, kind="district" if parent else "province", parent=parent)


# -- users ---------------------------------------------------------------------------------------
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")


def check_email(email: str) -> str:
    """`email` stripped (NFC), '' for none; AccountError when it cannot be an address mail reaches
    (a reset link sent there would be lost): name@domain.tld, no spaces."""
    email = nfc((email or "").strip())
    if email and (len(email) > 254 or not _EMAIL.fullmatch(email)):
        raise AccountError(f"Địa chỉ thư điện tử không hợp lệ: {email}")
    return email


def create_user(session: Session, username: str, password: str | None, *, role: str = Role.READER,
                library: Library, display_name: str = "", card_number: str | None = None,
                pending_approval: bool = False, email: str = "") -> User:
    """A new account; with `password=None` it has no usable password until `set_one_time_password`."""
    username = normalize_username(username)
    email = check_email(email)
    if role not in ROLES:
        raise AccountError(f"Vai trò không hợp lệ: {role}; chọn một trong {', '.join(ROLES)}.")
    if session.scalar(select(User.id).where(User.username == username)):
        raise AccountError(f"Tên đăng nhập đã tồn tại: {username}")
    # No password yet ("!" never verifies): the caller sets a one-time one right away.
    password_hash = hash_password(password) if password is not None else "!"
    user = User(username=username, password_hash=password_hash, role=role, library_id=library.id,
                display_name=nfc(display_name)[:255] or username, card_number=card_number,
                pending_approval=pending_approval,
                is_active=not pending_approval, email=nfc(email)[:255])
    user.search_folded = user_search_text(user.username, user.display_name, user.email, card_number)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this name and password, else None (same work either way)."""
    user = session.scalar(select(User).where(User.username == nfc(username or "").lower()))
    stored = user.password_hash if user is not None else _dummy_hash()
    if not _verifies(stored, password or ""):
        return None
    if user is None or not user.is_active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    return user


def set_password(user: User, password: str) -> None:
    """The user's own new password (policy checked, reuse refused); every other session ends."""
    check_password(password, username=user.username, current_hash=user.password_hash)
    user.password_hash = _hasher.hash(password)
    user.must_change_password = False
    user.session_version += 1  # every other session of this user ends


def one_time_credentials() -> tuple[str, str]:
    """(a new one-time password, its hash); no database, so bulk work can hash before it writes."""
    password = one_time_password()
    return password, _one_time_hasher.hash(password)


def set_one_time_password(user: User) -> str:
    """Give `user` a generated password that must be changed at next login; returns it."""
    password, user.password_hash = one_time_credentials()
    user.must_change_password = True
    user.session_version += 1
    return password


@dataclass(frozen=True)
class Operator:
    """The person at the server's command line (`sachnoi user ...`): manages every account."""
    id: None = None
    role: str = Role.ADMIN
    library_id: None = None


OPERATOR = Operator()


def may_manage_account(actor, target: User) -> bool:
    """Admins manage every other account; a librarian manages the readers of their own library."""
    if actor is None or actor.id == target.id:
        return False  # one's own password goes through the change page, with the current one
    if is_admin(actor):
        return True
    return target.role == Role.READER and may_manage(actor, target.library_id, roles=(Role.LIBRARIAN,))


def _require_manage(actor, target: User) -> None:
    if not may_manage_account(actor, target):
        raise AccountError("Bạn không có quyền quản lý tài khoản này.")


def set_role(user: User, role: str, *, library_id: int, active: bool) -> None:
    """An admin's change of an account's role, library and whether it is active; a change of any
    of them ends the user's open sessions."""
    if role not in ROLES:
        raise AccountError(f"Vai trò không hợp lệ: {role}; chọn một trong {', '.join(ROLES)}.")
    if (role, library_id, active) != (user.role, user.library_id, user.is_active):
        user.session_version += 1
    user.role, user.library_id, user.is_active = role, library_id, active


def reset_by_staff(actor, target: User) -> str:
    """A one-time password set by staff for `target` (who must change it at next login)."""
    _require_manage(actor, target)
    return set_one_time_password(target)


def set_active(actor, target: User, active: bool) -> None:
    """Disable (ends every session at once) or enable an account; enabling also approves it."""
    _require_manage(actor, target)
    if target.is_active != active:
        target.session_version += 1
    target.is_active = active
    target.pending_approval = False


# -- the user list -------------------------------------------------------------------------------
@dataclass(frozen=True)
class UserPage:
    """One page of a user search: `users` (at most `per_page`), `total` matches, 1-based `page`."""
    users: list
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def search_users(session: Session, actor, *, query: str = "", role: str = "", library_id: int | None = None,
                 page: int = 1, per_page: int = 50) -> UserPage:
    """Accounts `actor` may see (admin: all; librarian: readers of their library), filtered by a
    name/card/e-mail substring (with or without diacritics), role and library, ordered by user name."""
    where = []
    if not is_admin(actor):
        where += [User.role == Role.READER, managed_by(actor, User.library_id)]
    if role in ROLES:
        where.append(User.role == role)
    if library_id:
        where.append(User.library_id == library_id)
    words = fold(query[:100])
    if words:
        # fold() leaves words of letters, digits and "_" only; "_" alone is a LIKE wildcard.
        where.append(User.search_folded.like(f"%{words.replace('_', '/_')}%", escape="/"))
    total = session.scalar(select(func.count(User.id)).where(*where)) or 0
    page = max(1, min(int(page), max(1, -(-total // per_page))))
    users = session.scalars(select(User).where(*where).order_by(User.username)
                            .offset((page - 1) * per_page).limit(per_page)).all()
    return UserPage(list(users), total, page, per_page)


# -- reset by e-mail -----------------------------------------------------------------------------
def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def start_password_reset(session: Session, identifier: str, now: dt.datetime | None = None):
    """(user, token) for an active account with this user name or e-mail and an address to write
    to, else None. Only the token's SHA-256 is stored; the caller mails the token."""
    now = now or utcnow()
    key = nfc(identifier).lower()[:255]
    if not key:
        return None
    user = session.scalar(select(User).where(or_(User.username == key, func.lower(User.email) == key),
                                             User.is_active.is_(True), User.email != ""))
    if user is None:
        return None
    token = secrets.token_urlsafe(32)
    session.add(PasswordReset(user_id=user.id, token_hash=_token_hash(token), created_at=now,
                              expires_at=now + RESET_TOKEN_TTL))
    session.flush()
    return user, token


def reset_token_user(session: Session, token: str, now: dt.datetime | None = None) -> User | None:
    """The user a reset link belongs to while it is unused and unexpired, else None."""
    now = now or utcnow()
    row = session.scalar(select(PasswordReset).where(PasswordReset.token_hash == _token_hash(token or "")))
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    return user if user is not None and user.is_active else None


def finish_password_reset(session: Session, token: str, password: str, now: dt.datetime | None = None) -> User:
    """Set the new password through a reset link; the link and every other open one are spent."""
    now = now or utcnow()
    user = reset_token_user(session, token, now)
    if user is None:
        raise AccountError("Liên kết đặt lại mật khẩu không hợp lệ, đã dùng hoặc đã hết hạn: hãy yêu cầu liên kết mới.")
    set_password(user, password)
    for row in session.scalars(select(PasswordReset).where(PasswordReset.user_id == user.id,
                                                           PasswordReset.used_at.is_(None))):
        row.used_at = now
    return user


# -- print-disabled readers (Marrakesh Treaty) ------------------------------------------------------
def verify_print_disabled(actor, reader: User, evidence: str) -> None:
    """Record that `actor` saw the papers showing `reader` is print-disabled (`evidence` says which)."""
    evidence = nfc(evidence)[:2000]
    if not evidence:
        raise AccountError(N_("Cần ghi căn cứ xác minh (giấy tờ đã xem)."))
    reader.print_disabled_verified_at = utcnow()
    reader.print_disabled_verified_by = actor.id
    reader.print_disabled_evidence = evidence


def revoke_print_disabled(reader: User) -> None:
    reader.print_disabled_verified_at = None
    reader.print_disabled_verified_by = None
    reader.print_disabled_evidence = ""


# -- readers registered by the library, or by themselves -------------------------------------------
def may_register_readers(actor, library: Library) -> bool:
    """Admins register readers anywhere; a librarian at their own library."""
    return may_manage(actor, library.id, roles=(Role.LIBRARIAN,))


def create_reader(session: Session, actor, library: Library, card_number: str, name: str, *,
                  email: str = "") -> tuple[User, str]:
    """A reader account for a library card, made by staff: (user, one-time password).
    The user name is the card number."""
    if not may_register_readers(actor, library):
        raise AccountError("Bạn không có quyền tạo tài khoản bạn đọc cho thư viện này.")
    card = nfc(card_number)
    if not nfc(name):
        raise AccountError("Cần họ tên bạn đọc.")
    user = create_user(session, card, None, role=Role.READER, library=library,
                       display_name=name, card_number=card, email=email)
    return user, set_one_time_password(user)


def register_self(session: Session, library: Library, username: str, password: str, *,
                  display_name: str = "", email: str = "") -> User:
    """A reader registering themselves, as the library's `self_registration` setting allows:
    "open" gives an active account, "approval" one that waits for a librarian."""
    if library.self_registration not in ("open", "approval"):
        raise AccountError("Thư viện này chưa cho phép bạn đọc tự đăng ký: hãy đến thư viện để làm thẻ.")
    check_password(password, username=username)
    return create_user(session, username, password, role=Role.READER, library=library, display_name=display_name,
                       email=email, pending_approval=library.self_registration == "approval")

