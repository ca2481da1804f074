"""atheris target: MARCXML import (`catalog.marc_import.read_records` then `print_fields`), the
path a librarian's uploaded print-record file takes before any row is written.

Accepted outcome: records whose fields have the documented types, or `MarcImportError`.
"""
from __future__ import annotations

import lxml.etree  # noqa: F401  (imported before instrumenting: C extension)
import sqlalchemy.orm  # noqa: F401  (imported by catalog.models; not under test)

import atheris

import harness

with atheris.instrument_imports(include=["catalog.marc_import", "pymarc"]):
    from catalog.marc_import import print_fields, read_records
from catalog.errors import MarcImportError


def one_input(data: bytes) -> None:
    try:
        records = read_records(data)
        for record in records:
            fields = print_fields(record)
            assert fields["title"] and isinstance(fields["title"], str), fields
            assert fields["year"] is None or isinstance(fields["year"], int), fields
            assert len(fields["language"]) == 3 and len(fields["isbn_print"]) in (0, 10, 13), fields
            assert all(isinstance(a, str) and a for a in fields["authors"]), fields
            assert 0 <= fields.get("series_position", 0) < 2 ** 63, fields  # fits the database column
    except MarcImportError:
        return


if __name__ == "__main__":
    harness.run(one_input)
