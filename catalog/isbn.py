"""ISBNs: check digits validated (ISBN-10 and ISBN-13), normalised to ISBN-13 digits, compared.

Built on python-stdnum's `stdnum.isbn` (check digits, ISBN-10 → 978 conversion). Hyphens and
spaces are accepted as typed ('978-604-1-23456-7', '0 306 40615 2'); what is stored and written
to MARC is the 13 digits ('9786041234567'). One place decides, so the librarian form, the MARC
import and the exports agree.
"""
from __future__ import annotations

import re

from stdnum import isbn as _isbn
from stdnum.exceptions import InvalidChecksum, ValidationError

from catalog.errors import CatalogError

# The ISBN at the start of a MARC 020 $a, before any qualifier: '978-604-1-23456-7 (bìa mềm)'.
_LEADING = re.compile(r"^\s*(?:ISBN[:\s]*)?([0-9][0-9\s\-]{8,}[0-9Xx])", re.IGNORECASE)


class ISBNError(CatalogError):
    """A value is not a valid ISBN-10 or ISBN-13."""


def normalise(value: str | None) -> str:
    """The ISBN-13 digits of `value`; '' for an empty value. Raises ISBNError for a bad one."""
    text = (value or "").strip()
    if not text:
        return ""
    try:
        return _isbn.to_isbn13(_isbn.validate(text))
    except InvalidChecksum:
        raise ISBNError(f"ISBN không hợp lệ: «{text}»: chữ số kiểm tra cuối không khớp; "
                        "hãy soát lại từng chữ số.") from None
    except ValidationError:  # wrong length, letters, an unknown prefix
        raise ISBNError(f"ISBN không hợp lệ: «{text}». Hãy nhập đủ 10 hoặc 13 chữ số "
                        "(có thể có dấu gạch ngang).") from None


def normalised_or_empty(value: str | None) -> str:
    """Like `normalise`, but '' for a bad ISBN: for values we read or write, never refuse."""
    try:
        return normalise(value)
    except ISBNError:
        return ""


def from_marc(subfield_a: str | None) -> str:
    """The normalised ISBN of a MARC 020 $a ('978-604-1-23456-7 (bìa mềm)'), '' when none is valid."""
    found = _LEADING.match(subfield_a or "")
    return normalised_or_empty(found.group(1)) if found else ""
