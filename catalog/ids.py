"""Row ids: the range every supported database holds. The models' id columns are `Integer`, which
PostgreSQL stores as int4 (SQLAlchemy even casts the parameter: `id = %(pk)s::INTEGER`), so an id
from outside — a URL, OAI identifier, tus metadata — above 2^31 − 1 is refused before it reaches a
query, where it would be an "integer out of range" error (a 500) instead of "no such row"."""
from __future__ import annotations

ID_MAX = 2**31 - 1


def parse_id(text: str) -> int | None:
    """`text` as a row id (ASCII digits, 1 ≤ n ≤ ID_MAX), or None."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(ID_MAX)):
        return None
    value = int(text)
    return value if 1 <= value <= ID_MAX else None
