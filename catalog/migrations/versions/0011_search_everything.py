"""Search over summary, publisher, ISBN and chapter titles; heard coverage; library time zone (issue 16)

16.5: 
The index table `book_search` gains `chapters_f` and `summary_f` (publisher and ISBNs go into
`other_f`); on PostgreSQL its `tsvector` weights them C and D. An FTS5 table cannot gain columns,
so the table is made again in its new shape and refilled from the book rows.
16.9: `progress.heard`, the stretches of the book a reader has heard ("finished" needs 90 %).
16.10: `libraries.time_zone`, the IANA zone times are shown in (default Asia/Ho_Chi_Minh).

Revision ID: 0011
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.orm import Session

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("progress") as batch:
        batch.add_column(sa.Column("heard", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("libraries") as batch:
        batch.add_column(sa.Column("time_zone", sa.String(length=64), nullable=False,
                                   server_default="Asia/Ho_Chi_Minh"))
    from catalog import search  # the index is filled by the same code that keeps it
    bind = op.get_bind()
    search.create_table(bind)
    session = Session(bind=bind)
    search.rebuild_index(session)
    session.flush()


def downgrade() -> None:
    # Plain ALTER TABLE DROP COLUMN (SQLite >= 3.35): a batch copy of `libraries` would DROP TABLE
    # a parent of foreign keys, which SQLite refuses with foreign keys on (see 0008).
    op.drop_column("libraries", "time_zone")
    op.drop_column("progress", "heard")
    # the older shape is rebuilt on first use by catalog.search.ensure_index of that version
    op.execute("DROP TABLE IF EXISTS book_search")
