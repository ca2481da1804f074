"""Interop (issue 17): a promotion clip the librarian marks as the podcast's trailer (`itunes:episodeType`
trailer, 17.9), and an index on a book's renditions by time: the newest one is part of the OAI-PMH
datestamp (17.4), looked up for every record of a harvest.

Revision ID: 0010
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clips") as batch:
        batch.add_column(sa.Column("trailer", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_renditions_book_created", "renditions", ["book_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_renditions_book_created", table_name="renditions")
    with op.batch_alter_table("clips") as batch:
        batch.drop_column("trailer")
