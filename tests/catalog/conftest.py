"""Fixtures for catalogue tests: a migrated SQLite database per test, and a PostgreSQL schema.

SQLite: the schema is migrated once into a template file, copied for every test (fast, fresh).
PostgreSQL: a uniquely named schema in the shared `test` database, migrated once per session,
emptied before every test and dropped at the end. Skipped when the server is unreachable,
unless SACHNOI_REQUIRE_SERVICES=1 (then unreachable is a failure).
"""
from __future__ import annotations

import os
import shutil
import uuid

import pytest
from sqlalchemy import text

from catalog import migrate
from catalog.db import make_engine, make_sessionmaker
from catalog.models import Library

PG_URL = os.environ.get("SACHNOI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("catalog-template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(sqlite_template, tmp_path):
    path = tmp_path / "catalog.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def session(sqlite_url):
    engine = make_engine(sqlite_url)
    factory = make_sessionmaker(engine)
    with factory() as s:
        yield s
    engine.dispose()


def _pg_reachable() -> str | None:
    try:
        import psycopg
        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except Exception as exc:  # any failure to connect means: no server for this run
        return f"PostgreSQL unreachable at {PG_URL}: {exc.__class__.__name__}"


@pytest.fixture(scope="session")
def pg_schema_url():
    reason = _pg_reachable()
    if reason:
        if os.environ.get("SACHNOI_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    schema = f"catalog_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_session(pg_schema_url):
    engine = make_engine(pg_schema_url)
    with engine.begin() as conn:
        tables = conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'alembic_version'"
        )).scalars().all()
        conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    factory = make_sessionmaker(engine)
    with factory() as s:
        yield s
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_session(request):
    """The same test on both databases."""
    return request.getfixturevalue("session" if request.param == "sqlite" else "pg_session")


@pytest.fixture
def library(session):
    lib = Library(code="THV", name="Thư viện tỉnh Thái Bình", kind="province")
    session.add(lib)
    session.flush()
    return lib
