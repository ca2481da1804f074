"""A promotion clip the librarian marks as the podcast's trailer (`itunes:episodeType` trailer; issue 17.9)

Revision ID: 0010
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clips") as batch:
        batch.add_column(sa.Column("trailer", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("clips") as batch:
        batch.drop_column("trailer")
