"""Open data: the public catalogue as Dublin Core terms, in JSON Lines and CSV.

Only titles anyone may listen to (published, live, not deleted, access policy `public`).
Multi-valued terms are lists in JSON Lines and joined by " | " in CSV. Rows stream, so the
whole catalogue never sits in memory.
"""
from __future__ import annotations

import itertools
import json
from typing import Iterable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from catalog.access import visible
from catalog.dublincore import terms
from catalog.models import Book, utcnow
from catalog.spreadsheet import csv_lines as safe_csv_lines

COLUMNS = ("identifier", "title", "creator", "contributor", "subject", "description", "publisher", "date",
           "issued", "modified", "type", "format", "extent", "language", "source", "isPartOf", "rights",
           "accessRights")
PREFIX = "dcterms:"


def public_books(session: Session, batch: int = 500) -> Iterator[Book]:
    """Published, live, public, not deleted; in id order, loaded in batches."""
    now, last = utcnow(), 0
    while True:
        rows = session.scalars(
            select(Book).where(visible(now), Book.access_policy == "public", Book.id > last)
            .order_by(Book.id).limit(batch)
            .options(selectinload(Book.credits), selectinload(Book.subjects), selectinload(Book.renditions),
                     selectinload(Book.series), selectinload(Book.library))).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].id


def row(book: Book, base_url: str) -> dict[str, list[str]]:
    t = terms(book, base_url)
    return {PREFIX + name: t.get(name, []) for name in COLUMNS}


def jsonl_lines(books: Iterable[Book], base_url: str) -> Iterator[str]:
    for book in books:
        yield json.dumps(row(book, base_url), ensure_ascii=False) + "\n"


def csv_lines(books: Iterable[Book], base_url: str) -> Iterator[str]:
    """CSV with a header row (UTF-8 text; the web layer adds a BOM for spreadsheet programs)."""
    header = [PREFIX + c for c in COLUMNS]
    rows = ([" | ".join(r[PREFIX + c]) for c in COLUMNS] for r in (row(book, base_url) for book in books))
    yield from safe_csv_lines(itertools.chain([header], rows))
