"""Index for the per-report listening roll-up (issue 7: progress writes are the busiest path)

Every accepted progress report adds its seconds to today's "listen" row for that listener, book
and channel; this index finds that row directly instead of scanning a book's events of the day.

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_listening_listener_book", "listening_events", ["listener", "book_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_listening_listener_book", table_name="listening_events")
