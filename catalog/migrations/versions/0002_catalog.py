"""Catalogue extensions (issue 6: search index, OAI-PMH, imports)

The Vietnamese search index `book_search` (see catalog/search.py): an FTS5 virtual table on
SQLite; on PostgreSQL a table with a weighted `tsvector` over the same folded text, a GIN index,
and an immutable folding function `sachnoi_fold(text)` (unaccent when the extension can be
installed, so ad-hoc SQL can fold like the application does). Also an index on the OAI-PMH
datestamp with the id, for stable paging.

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa  # noqa: F401

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SQLITE = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS book_search USING fts5("
    "title_f, other_f, exact, tokenize = 'unicode61 remove_diacritics 0')",
]
POSTGRESQL = [
    "CREATE TABLE IF NOT EXISTS book_search ("
    " book_id integer PRIMARY KEY REFERENCES books(id) ON DELETE CASCADE,"
    " title_f text NOT NULL DEFAULT '', other_f text NOT NULL DEFAULT '', exact text NOT NULL DEFAULT '',"
    " tsv tsvector GENERATED ALWAYS AS ("
    "  setweight(to_tsvector('simple'::regconfig, title_f), 'A') ||"
    "  setweight(to_tsvector('simple'::regconfig, other_f), 'B')) STORED)",
    "CREATE INDEX IF NOT EXISTS ix_book_search_tsv ON book_search USING gin (tsv)",
]


def _fold_function(bind) -> str:
    """An IMMUTABLE folding function: unaccent if installable, else translate() over Vietnamese letters."""
    has_unaccent = False
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public")
        has_unaccent = True
    except Exception:  # no permission or not available: fall back to translate()
        has_unaccent = False
    if has_unaccent:
        schema = bind.exec_driver_sql(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'unaccent'").scalar()
        body = (f"SELECT lower(translate({schema}.unaccent('{schema}.unaccent'::regdictionary, $1), "
                "'đĐ', 'dD'))")
    else:
        src = ("àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ"
               "ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬÈÉẺẼẸÊỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÙÚỦŨỤƯỪỨỬỮỰỲÝỶỸỴĐ")
        dst = ("a" * 17 + "e" * 11 + "i" * 5 + "o" * 17 + "u" * 11 + "y" * 5 + "d"
               + "A" * 17 + "E" * 11 + "I" * 5 + "O" * 17 + "U" * 11 + "Y" * 5 + "D")
        body = f"SELECT lower(translate(normalize($1, NFC), '{src}', '{dst}'))"
    return (f"CREATE OR REPLACE FUNCTION sachnoi_fold(text) RETURNS text LANGUAGE sql IMMUTABLE "
            f"PARALLEL SAFE STRICT AS $f$ {body} $f$")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for ddl in SQLITE:
            op.execute(ddl)
    elif bind.dialect.name == "postgresql":
        for ddl in POSTGRESQL:
            op.execute(ddl)
        op.execute(_fold_function(bind))
    op.create_index("ix_books_updated_id", "books", ["updated_at", "id"])


def downgrade() -> None:
    bind = op.get_bind()
    op.drop_index("ix_books_updated_id", table_name="books")
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS sachnoi_fold(text)")
    op.execute("DROP TABLE IF EXISTS book_search")
