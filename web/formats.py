"""How numbers, durations and times are written on pages and in exports (Jinja filters).

Vietnamese writes decimals with a comma ("1,5 lần", "0,5 giờ"); Babel formats by the page's
locale, so English pages get "1.5". Times are stored as naive UTC and shown in the library's time
zone (`Library.time_zone`, default Asia/Ho_Chi_Minh): the reader's own library when logged in.
"""
from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, current_app, g
from babel.numbers import get_decimal_symbol
from flask_babel import format_decimal, get_locale
from flask_babel import gettext as _
from flask_login import current_user

from catalog.models import Library
from web.config import DEFAULTS
from web.extensions import db_session

_DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")


def decimal(value: float | None, places: int = 1) -> str:
    """1.5 → '1,5' on Vietnamese pages, '1.5' on English ones (no grouping surprises)."""
    pattern = "0." + "0" * places if places else "0"
    return format_decimal(float(value or 0), format=pattern)  # in the request's locale


def decimal_text(text: str | None) -> str:
    """Decimal points inside a text written by a lower layer ("≤ -1.5 dBTP") in the page's locale's
    decimal sign: '≤ -1,5 dBTP' on Vietnamese pages."""
    sign = get_decimal_symbol(get_locale())
    return _DECIMAL_POINT.sub(sign, text or "")


def hours_minutes(hours: float | None) -> str:
    """A number of hours as people say it: 0.01 → '1 phút', 2.5 → '2 giờ 30 phút', 3 → '3 giờ'."""
    minutes = int(round((hours or 0) * 60))
    h, m = divmod(minutes, 60)
    if h and m:
        return _("%(h)d giờ %(m)d phút", h=h, m=m)
    if h:
        return _("%(h)d giờ", h=h)
    return _("%(m)d phút", m=m)


def zone_name(library=None) -> str:
    """The IANA zone of `library` (or of the app's setting TIME_ZONE), falling back to Vietnam's."""
    name = getattr(library, "time_zone", "") or current_app.config["TIME_ZONE"] or DEFAULTS["TIME_ZONE"]
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return DEFAULTS["TIME_ZONE"]
    return name


def display_zone() -> str:
    """The zone times are shown in for this request: the logged-in user's library, else the app's."""
    if "time_zone" not in g:
        library = None
        if current_user.is_authenticated:
            library = db_session().get(Library, current_user.library_id)
        g.time_zone = zone_name(library)
    return g.time_zone


def to_zone(value: dt.datetime | None, zone: str | None = None) -> dt.datetime | None:
    """Naive UTC → naive wall time in `zone` (default: `display_zone()`)."""
    if value is None:
        return None
    tz = ZoneInfo(zone or display_zone())
    return value.replace(tzinfo=dt.timezone.utc).astimezone(tz).replace(tzinfo=None)


def from_zone(local: dt.datetime, zone: str | None = None) -> dt.datetime:
    """Naive wall time in `zone` (default: `display_zone()`) → naive UTC."""
    tz = ZoneInfo(zone or display_zone())
    return local.replace(tzinfo=tz).astimezone(dt.timezone.utc).replace(tzinfo=None)


def local_time(value: dt.datetime | None, pattern: str = "%d/%m/%Y %H:%M") -> str:
    """Naive UTC → '21/04/2026 15:00' in the library's zone; '' for None."""
    local = to_zone(value)
    return local.strftime(pattern) if local else ""


def init_formats(app: Flask) -> None:
    app.add_template_filter(decimal, "decimal")
    app.add_template_filter(decimal_text, "decimal_text")
    app.add_template_filter(hours_minutes, "hours_minutes")
    app.add_template_filter(local_time, "local_time")
