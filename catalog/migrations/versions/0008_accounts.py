"""Accounts (issue 16.1-16.2): one-time passwords, reset-by-email tokens, library cards, self-registration

Revision ID: 0008
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE (SQLite >= 3.35 adds and drops such columns in place): a batch copy of
    # `libraries` or `users` would drop a table other tables' foreign keys point at.
    op.add_column("users", sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default="0"))
    op.add_column("users", sa.Column("pending_approval", sa.Boolean(), nullable=False, server_default="0"))
    op.add_column("users", sa.Column("card_number", sa.String(64), nullable=True))
    op.add_column("users", sa.Column("search_folded", sa.String(700), nullable=False, server_default=""))
    op.add_column("libraries", sa.Column("self_registration", sa.String(16), nullable=False, server_default="closed"))
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
    from catalog.accounts import user_search_text  # the same folding the app writes
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("username", sa.String),
                     sa.column("display_name", sa.String), sa.column("email", sa.String),
                     sa.column("search_folded", sa.String))
    conn = op.get_bind()
    for row in conn.execute(sa.select(users.c.id, users.c.username, users.c.display_name, users.c.email)).all():
        conn.execute(users.update().where(users.c.id == row.id).values(
            search_folded=user_search_text(row.username, row.display_name, row.email, None)))


def downgrade() -> None:
    op.drop_index("ix_password_resets_user_id", table_name="password_resets")
    op.drop_table("password_resets")
    op.drop_column("libraries", "self_registration")
    for column in ("search_folded", "card_number", "pending_approval", "must_change_password"):
        op.drop_column("users", column)
