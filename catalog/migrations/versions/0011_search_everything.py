"""Search over summary, publisher, ISBN and chapter titles (issue 16.5)

The index table `book_search` gains `chapters_f` and `summary_f` (publisher and ISBNs go into
`other_f`); on PostgreSQL its `tsvector` weights them C and D. An FTS5 table cannot gain columns,
so the table is made again in its new shape and refilled from the book rows.

Revision ID: 0011
Revises: 0004
"""
from alembic import op
from sqlalchemy.orm import Session

revision = "0011"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from catalog import search  # the index is filled by the same code that keeps it
    bind = op.get_bind()
    search.create_table(bind)
    session = Session(bind=bind)
    search.rebuild_index(session)
    session.flush()


def downgrade() -> None:
    # the older shape is rebuilt on first use by catalog.search.ensure_index of that version
    op.execute("DROP TABLE IF EXISTS book_search")
