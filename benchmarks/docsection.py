"""Write one section of docs/benchmarks.md: replace the block under `heading` (up to the next
`## ` heading) or append it, re-reading the file first and swapping it in atomically, so
benchmarks of different areas can each update their own section."""
from __future__ import annotations

import os
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def write_section(heading: str, body: str, doc: Path = DOC) -> None:
    """`heading` such as "## Reader"; `body` is the whole section, starting with that heading."""
    doc.parent.mkdir(parents=True, exist_ok=True)
    current = doc.read_text("utf-8") if doc.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _m: body.rstrip() + "\n\n", current, count=1)
    else:
        updated = current.rstrip() + "\n\n" + body.rstrip() + "\n"
    tmp = doc.with_name(f".{doc.name}.tmp")
    tmp.write_text(updated.rstrip() + "\n", "utf-8")
    os.replace(tmp, doc)
