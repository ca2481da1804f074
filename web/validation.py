"""The one validation layer at the HTTP boundary: ids in URLs and numbers in request bodies.

- `IdConverter` replaces Flask's `int` converter on every route: an id is 0 ≤ n ≤ 2^31 − 1 (what the
  id columns hold in every supported database, catalog.ids), so `/books/9223372036854775808` is a
  404 like any missing id, never an overflow deep in the database driver.
- `StrictJSONProvider` parses request bodies with a number policy taken from I-JSON (RFC 7493 §2.2):
  `NaN`, `Infinity`, numbers that overflow a double (`1e400`) and integers outside
  ±(2^53 − 1) are refused, so `request.get_json()` fails (400) instead of letting `inf` or a
  40-digit integer reach a column.
- `check_number_fields(values, names)` applies the same policy to number fields given as text
  (the player's `sendBeacon` progress report is form-encoded)
"""
from __future__ import annotations

import json
import math
import re
from typing import Any, Iterable, Mapping

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import IntegerConverter

from catalog.ids import ID_MAX

JSON_INT_MAX = 2**53 - 1  # I-JSON: integers a double (and so every JSON peer) holds exactly


class NumberPolicyError(ValueError):
    """A number in a request body that the platform does not accept (`message` is the msgid)."""

    def __init__(self, message: str, **params):
        super().__init__(message % params if params else message)
        self.message, self.params = message, params


def N_(message: str) -> str:
    """Mark `message` for the message catalogue; returns it as is."""
    return message


class IdConverter(IntegerConverter):
    """`<int:...>` with the range of an id column (catalog.ids); negatives never match (404)."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = 0, max: int | None = ID_MAX,
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def _refuse_constant(name: str) -> Any:
    raise NumberPolicyError(N_("%(name)s không phải số hợp lệ."), name=name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NumberPolicyError(N_("Số quá lớn: %(number)s"), number=text[:40])
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 16:  # refuse before converting a megabyte of digits
        raise NumberPolicyError(N_("Số quá lớn: %(number)s"), number=text[:40] + "…")
    value = int(text)
    if abs(value) > JSON_INT_MAX:
        raise NumberPolicyError(N_("Số quá lớn: %(number)s"), number=text)
    return value


def loads_strict(text: str | bytes, **kwargs: Any) -> Any:
    """`json.loads` with the number policy and a nesting limit. Raises `NumberPolicyError` (a ValueError)."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float,
                          parse_int=_bounded_int, **kwargs)
    except RecursionError:  # '[[[[…' a few thousand deep exhausts the parser's stack
        raise NumberPolicyError(N_("JSON lồng quá sâu.")) from None


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, reading with the number policy (writing is unchanged)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_strict(s, **kwargs)


_INTEGER = re.compile(r"\s*[-+]?\d+\s*")


def check_number_fields(values: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """`values` as a dict, after refusing any of the number fields `names` given as text that reads
    as a number outside the JSON policy ('inf', 'nan', '1e400', a 30-digit integer) — a form field,
    or a JSON string where a number belongs. Raises `NumberPolicyError`."""
    for name in names:
        value = values.get(name)
        if not isinstance(value, str):
            continue  # absent, or a JSON value already read under the policy
        try:
            if _INTEGER.fullmatch(value):
                _bounded_int(value.strip().lstrip("+"))
            else:
                _finite_float(value)
        except NumberPolicyError:
            raise NumberPolicyError(N_("%(name)s: số ngoài giới hạn."), name=name) from None
        except ValueError:
            continue  # not a number at all: the field's own check decides
    return dict(values)


def init_validation(app: Flask) -> None:
    """Install the id converter (before any blueprint adds its rules) and the strict JSON reader."""
    app.url_map.converters["int"] = IdConverter
    app.json = StrictJSONProvider(app)
