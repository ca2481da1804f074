"""Every CSV and XLSX file the platform writes, written so a spreadsheet never runs a cell.

Titles, notes and names come from people outside the library's control; a title such as
`=HYPERLINK("http://x","y")` would otherwise become a live formula in the librarian's spreadsheet
program (CSV / formula injection, OWASP). The rules:

- CSV: a text cell starting with `= + - @`, tab, carriage return or NUL gets a leading `'`
  (OWASP "CSV Injection"; ASVS 5.0 1.2.10), which Excel and LibreOffice show as text.
  Numbers stay numbers, so a negative figure is not touched.
- XLSX: text cells are written with the string data type (openpyxl would otherwise store a
  string starting with `=` as a formula) and, when they look like a formula, the cell style's
  `quotePrefix`, so editing the cell in Excel keeps it text.
"""
from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Iterator, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")


def looks_like_formula(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def csv_cell(value: Any) -> Any:
    """A CSV cell value a spreadsheet shows as written: text that would start a formula gets `'`."""
    return "'" + value if looks_like_formula(value) else value


def csv_lines(rows: Iterable[Sequence[Any]], *, lineterminator: str = "\r\n") -> Iterator[str]:
    """One CSV line (RFC 4180 quoting, CRLF by default) per row, cells made safe; streams."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=lineterminator)
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([csv_cell(v) for v in row])
        yield buffer.getvalue()


def csv_text(rows: Iterable[Sequence[Any]], *, lineterminator: str = "\r\n") -> str:
    """The whole CSV as one string (see `csv_lines`)."""
    return "".join(csv_lines(rows, lineterminator=lineterminator))


def append_row(sheet, row: Sequence[Any]) -> None:
    """Append `row` to an openpyxl worksheet with every `str` written as text, never a formula."""
    sheet.append(list(row))
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"
            if looks_like_formula(cell.value):
                cell.quotePrefix = True
