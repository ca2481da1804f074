"""Settings a library keeps for itself: the time zone its pages, reports and exports use."""
from __future__ import annotations

from functools import lru_cache
from zoneinfo import available_timezones

from sqlalchemy.orm import Session

from catalog.errors import CatalogError
from catalog.models import Library


@lru_cache(maxsize=1)
def time_zones() -> tuple[str, ...]:
    """IANA zone names this machine knows (tzdata), sorted."""
    return tuple(sorted(available_timezones()))


def set_time_zone(session: Session, library: Library, name: str) -> Library:
    """Set `library`'s time zone to the IANA name `name` ('Asia/Ho_Chi_Minh'); refuses unknown names."""
    name = (name or "").strip()
    if name not in time_zones():
        raise CatalogError(f"Múi giờ không hợp lệ: {name!r}. Hãy chọn tên múi giờ như Asia/Ho_Chi_Minh.")
    library.time_zone = name
    session.flush()
    return library
