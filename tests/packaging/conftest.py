"""Fixtures for the packaging tests: the generated book packaged once per test run (encoding is
the slow part); tests only read it."""
from __future__ import annotations

from pathlib import Path

import pytest

from catalog.db import make_engine, make_sessionmaker, session_scope
from catalog.migrate import upgrade
from catalog.models import Book
from packaging_helpers import make_book
from recordings.store import MediaStore


@pytest.fixture(scope="session")
def packaged(tmp_path_factory):
    """(session factory, store, book id, PackageResult, book folder) of a packaged 4-chapter book."""
    from studio.package import package_book
    root = tmp_path_factory.mktemp("pkg")
    url = f"sqlite:///{root / 'db.sqlite'}"
    upgrade(url)
    store = MediaStore(root / "media")
    book_id = make_book(url, store)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    seen = []
    result = package_book(factory, store, book_id, workers=2, progress=seen.append)
    with session_scope(factory) as session:
        folder = store.path(MediaStore.book_prefix(session.get(Book, book_id).uuid))
    yield factory, store, book_id, result, Path(folder), seen
    engine.dispose()
