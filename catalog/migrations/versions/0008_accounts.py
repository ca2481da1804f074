"""Accounts (issue 16.1-16.2): one-time passwords, reset-by-email tokens, library cards, self-registration

Revision ID: 0008
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("pending_approval", sa.Boolean(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("card_number", sa.String(64), nullable=True))
    with op.batch_alter_table("libraries") as batch:
        batch.add_column(sa.Column("self_registration", sa.String(16), nullable=False, server_default="closed"))
    op.create_table(
        "password_resets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_password_resets_user_id", "password_resets", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_password_resets_user_id", table_name="password_resets")
    op.drop_table("password_resets")
    with op.batch_alter_table("libraries") as batch:
        batch.drop_column("self_registration")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("card_number")
        batch.drop_column("pending_approval")
        batch.drop_column("must_change_password")
