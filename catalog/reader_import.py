"""Bulk registration of readers from a CSV of library cards: all rows or none.

Columns (header names in Vietnamese or English, any order, `,` `;` or tab separated, UTF-8):
card number (`Số thẻ` / `card_number`, required), name (`Họ tên` / `name`, required),
e-mail (optional), print-disabled (`Khuyết tật đọc chữ in` / `print_disabled`: có/không, yes/no, 1/0)
and its evidence (`Căn cứ` / `evidence`, required when print-disabled). Every row gets a one-time
password, returned once in the report for the librarian to hand over with the card.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from catalog.accounts import (AccountError, check_email, may_register_readers, normalize_username, one_time_credentials,
                              user_search_text)
from catalog.models import Library, User, utcnow
from catalog.states import Role
from catalog.text import fold, nfc

MAX_ROWS = 1000
MAX_BYTES = 2 * 1024 * 1024
_COLUMNS = {  # folded header -> field
    "so the": "card", "ma the": "card", "the": "card", "card": "card", "card number": "card", "card_number": "card",
    "ho ten": "name", "ho va ten": "name", "ten": "name", "name": "name",
    "email": "email", "e mail": "email", "thu dien tu": "email",
    "khuyet tat doc chu in": "print_disabled", "khuyet tat": "print_disabled", "print disabled": "print_disabled",
    "print_disabled": "print_disabled",
    "can cu": "evidence", "can cu xac minh": "evidence", "evidence": "evidence",
}
_YES = {"co", "x", "yes", "y", "1", "true"}
_NO = {"", "khong", "no", "n", "0", "false"}


@dataclass(frozen=True)
class ImportedReader:
    line: int
    card_number: str
    name: str
    one_time_password: str


@dataclass
class ImportReport:
    """`created` readers (empty when anything was wrong) and `errors` as (line, message); line 0 = the file."""
    created: list[ImportedReader] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


def _rows(data: bytes) -> tuple[list[str], list[tuple[int, dict]]]:
    if len(data) > MAX_BYTES:
        raise AccountError(f"Tệp lớn quá {MAX_BYTES // (1024 * 1024)} MB: hãy chia nhỏ.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AccountError("Tệp không phải văn bản UTF-8: hãy lưu lại dưới dạng “CSV UTF-8”.") from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    header = next(reader, None)
    if not header:
        raise AccountError("Tệp trống: dòng đầu phải là tên cột (Số thẻ, Họ tên, …).")
    fields = [_COLUMNS.get(fold(h)) for h in header]
    missing = [label for key, label in (("card", "Số thẻ"), ("name", "Họ tên")) if key not in fields]
    if missing:
        raise AccountError(f"Thiếu cột: {', '.join(missing)} (dòng đầu: {', '.join(header)[:200]}).")
    rows = []
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        rows.append((reader.line_num, {f: nfc(v) for f, v in zip(fields, values) if f}))
        if len(rows) > MAX_ROWS:
            raise AccountError(f"Tệp có hơn {MAX_ROWS} bạn đọc: hãy chia thành nhiều tệp.")
    if not rows:
        raise AccountError("Tệp không có dòng bạn đọc nào.")
    return header, rows


def _check_row(row: dict, seen: set[str]) -> tuple[str | None, str]:
    """(why this row cannot be imported or None, its user name); no database."""
    card = row.get("card", "")
    if not card:
        return "thiếu số thẻ", ""
    try:
        username = normalize_username(card)
    except AccountError as exc:
        return f"số thẻ “{card}”: {exc}", ""
    if username in seen:
        return f"số thẻ {card} lặp lại trong tệp", username
    seen.add(username)
    if not row.get("name"):
        return "thiếu họ tên", username
    try:
        check_email(row.get("email", ""))
    except AccountError as exc:
        return str(exc), username
    flag = fold(row.get("print_disabled", ""))
    if flag not in _YES | _NO:
        return f"cột khuyết tật đọc chữ in phải là “có” hoặc “không”, không phải “{row['print_disabled']}”", username
    if flag in _YES and not row.get("evidence"):
        return "bạn đọc khuyết tật đọc chữ in cần ghi căn cứ xác minh", username
    return None, username


def import_readers(session: Session, actor, library_id: int, data: bytes) -> ImportReport:
    """Check every row, then create the readers in one INSERT only when all rows are good (the
    caller commits when `errors` is empty, rolls back otherwise).

    Parsing, checks and hashing come before the first statement: on SQLite the request's write
    lock is taken by that statement, and progress writes must not wait for a thousand hashes."""
    report = ImportReport()
    try:
        _header, rows = _rows(data)
    except AccountError as exc:
        report.errors.append((0, str(exc)))
        return report
    seen: set[str] = set()
    checked = []
    for line, row in rows:
        problem, username = _check_row(row, seen)
        if problem:
            report.errors.append((line, problem))
        checked.append((line, row, username))
    credentials = [] if report.errors else [one_time_credentials() for _ in checked]
    library = session.get(Library, library_id)
    if library is None or not may_register_readers(actor, library):
        return ImportReport(errors=[(0, "Bạn không có quyền tạo tài khoản bạn đọc cho thư viện này.")])
    taken = set(session.scalars(select(User.username).where(User.username.in_([u for _l, _r, u in checked if u]))))
    report.errors += [(line, f"số thẻ {row['card']} đã có tài khoản") for line, row, username in checked
                      if username in taken]
    if report.errors:
        report.errors.sort()
        return report
    now = utcnow()
    values = []
    for (line, row, username), (password, password_hash) in zip(checked, credentials):
        disabled = fold(row.get("print_disabled", "")) in _YES
        values.append(dict(
            username=username, password_hash=password_hash, role=Role.READER, library_id=library.id,
            display_name=row["name"][:255], email=row.get("email", "")[:255], card_number=row["card"][:64],
            search_folded=user_search_text(username, row["name"], row.get("email"), row["card"]),
            must_change_password=True, pending_approval=False, is_active=True, session_version=1,
            print_disabled_verified_at=now if disabled else None,
            print_disabled_verified_by=actor.id if disabled else None,
            print_disabled_evidence=row.get("evidence", "")[:2000] if disabled else ""))
        report.created.append(ImportedReader(line, row["card"], row["name"], password))
    session.execute(insert(User), values)
    return report
