"""A chapter master's sample rate and channel count, so the package stage plans a book from the
database alone instead of opening every master in the store (issue 19)

Revision ID: 0015
Revises: 0014
"""
from alembic import op
import sqlalchemy as sa

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL = not recorded (chapters mastered before this revision): the package stage reads the
    # master file's header, as it always did.
    with op.batch_alter_table("chapters") as batch:
        batch.add_column(sa.Column("sample_rate", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("channels", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chapters") as batch:
        batch.drop_column("channels")
        batch.drop_column("sample_rate")
