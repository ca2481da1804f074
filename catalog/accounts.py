"""Libraries and user accounts: creation, argon2id password hashing, role checks."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.errors import CatalogError
from catalog.models import ROLES, Library, User, utcnow
from catalog.text import nfc

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the user does not exist, so unknown users cost the same time as wrong passwords.
_DUMMY_HASH = _hasher.hash("sachnoi-dummy-password")

MIN_PASSWORD_LENGTH = 8
STAFF_ROLES = ("studio", "librarian", "admin")


class AccountError(CatalogError):
    """A bad account request (unknown library or role, weak password, duplicate name)."""


def hash_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Mật khẩu phải có ít nhất {MIN_PASSWORD_LENGTH} ký tự "
                           f"(password must have at least {MIN_PASSWORD_LENGTH} characters)")
    return _hasher.hash(password)


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


def create_user(session: Session, username: str, password: str, *, role: str = "reader",
                library: Library, display_name: str = "") -> User:
    username = nfc(username).lower()
    if role not in ROLES:
        raise AccountError(f"Vai trò không hợp lệ (unknown role): {role}; chọn một trong {', '.join(ROLES)}")
    if not username or len(username) > 64:
        raise AccountError("Tên đăng nhập không hợp lệ (invalid username)")
    if session.scalar(select(User).where(User.username == username)):
        raise AccountError(f"Tên đăng nhập đã tồn tại (username exists): {username}")
    user = User(username=username, password_hash=hash_password(password), role=role,
                library_id=library.id, display_name=nfc(display_name) or username)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this name and password, else None (same work either way)."""
    user = session.scalar(select(User).where(User.username == nfc(username or "").lower()))
    stored = user.password_hash if user is not None else _DUMMY_HASH
    try:
        _hasher.verify(stored, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or not user.is_active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    return user


def set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.session_version += 1  # every other session of this user ends


def is_staff(user: User | None) -> bool:
    return user is not None and user.role in STAFF_ROLES
