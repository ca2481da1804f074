"""Alembic migrations apply, report the head and roll back, on SQLite and on PostgreSQL."""
import sqlalchemy as sa

from catalog.db import make_engine
from catalog.migrate import current_revision, downgrade, head_revision, upgrade
from catalog.models import Base


def _tables(url):
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def check_round_trip(url):
    upgrade(url)
    assert current_revision(url) == head_revision()
    assert set(Base.metadata.tables) <= _tables(url)
    downgrade(url, "base")
    assert not (set(Base.metadata.tables) & _tables(url))
    upgrade(url)
    assert current_revision(url) == head_revision()


def test_sqlite_round_trip(tmp_path):
    check_round_trip(f"sqlite:///{tmp_path / 'db.sqlite'}")


def test_sqlite_pragmas(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    engine.dispose()


def test_postgresql_round_trip(pg_url):
    check_round_trip(pg_url)


def test_schema_matches_models(tmp_path):
    """The migrations create what the models describe (no model change without a migration)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    tables_missing = [d for d in diff if d[0] in ("add_table", "add_column", "remove_column")]
    assert tables_missing == []


def test_sqlite_reads_do_not_wait_for_a_writer(tmp_path):
    """A read-only session reads its snapshot while another connection holds the write lock."""
    import time
    from catalog.db import make_sessionmaker, read_only_session
    from catalog.models import Library
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with factory.begin() as s:
        s.add(Library(code="A", name="A"))
    writer = factory()
    writer.add(Library(code="B", name="B"))
    writer.flush()  # BEGIN IMMEDIATE: the write lock is held until commit
    started = time.monotonic()
    reader = read_only_session(factory)
    codes = sorted(reader.scalars(sa.select(Library.code)))
    assert codes == ["A"] and time.monotonic() - started < 2.0
    reader.close()
    writer.commit()
    writer.close()
    engine.dispose()
