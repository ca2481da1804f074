"""Listening credited by the server's clock (issue 14.6)

`listening_events.credited_until_s`: for a `listen` row, the server time (Unix seconds) up to
which its listener's reports have been credited, so a burst of reports cannot add more listening
than wall-clock time allows (streaming.events). Older rows keep NULL (no claim yet).

Revision ID: 0006
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("listening_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credited_until_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("listening_events", schema=None) as batch_op:
        batch_op.drop_column("credited_until_s")
