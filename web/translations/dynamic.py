"""Babel extractor for labels the code passes to `_()` through a variable.

Templates translate some labels held in module-level tables (`{{ _(label) }}` over NAV_LINKS,
`_(policy_labels[p])`, the pipeline stage names, ...). Babel only sees string literals, so those
tables are listed in `dynamic_labels.txt` (one `module:NAME[selector]` per line) and this extractor
imports each module and yields the strings it holds. babel.cfg wires it in:

    [extractors]
    sachnoi_labels = web.translations.dynamic:extract_labels
    [sachnoi_labels: web/translations/dynamic_labels.txt]

Selectors: nothing (a dict's values, or a tuple/list of strings), `[N]` (item N of each entry),
`.attr` (attribute of each entry).
"""
from __future__ import annotations

import importlib
import re

LINE = re.compile(r"^(?P<module>[\w.]+):(?P<name>\w+)(?:\[(?P<index>\d+)\]|\.(?P<attr>\w+))?$")


class LabelSpecError(ValueError):
    """A line of dynamic_labels.txt that does not name a table of strings."""


def labels_for(spec: str) -> list[str]:
    match = LINE.match(spec.strip())
    if not match:
        raise LabelSpecError(f"Dòng không hợp lệ (invalid line): {spec!r}")
    try:
        table = getattr(importlib.import_module(match["module"]), match["name"])
        entries = list(table.values()) if isinstance(table, dict) else list(table)
        if match["index"] is not None:
            entries = [entry[int(match["index"])] for entry in entries]
        elif match["attr"]:
            entries = [getattr(entry, match["attr"]) for entry in entries]
    except (ImportError, AttributeError, TypeError, IndexError, KeyError) as exc:
        raise LabelSpecError(f"Không đọc được bảng nhãn (cannot read the label table) {spec!r}: {exc}") from exc
    if not entries or not all(isinstance(text, str) and text for text in entries):
        raise LabelSpecError(f"Không phải bảng chuỗi (not a table of strings): {spec!r}")
    return entries


def extract_labels(fileobj, keywords, comment_tags, options):
    """Babel extraction method: yields (lineno, funcname, message, comments)."""
    for lineno, raw in enumerate(fileobj.read().decode("utf-8").splitlines(), start=1):
        spec = raw.split("#", 1)[0].strip()
        if not spec:
            continue
        for text in labels_for(spec):
            yield lineno, "_", text, [spec]
