"""Versioned media: the book's published media version (a pointer) and every version made (issue 19)

Revision ID: 0014
Revises: 0013
"""
from alembic import op
import sqlalchemy as sa

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL = no version published yet: readers are served from the unversioned layout (books
    # packaged before this revision keep working unchanged).
    with op.batch_alter_table("books") as batch:
        batch.add_column(sa.Column("media_version", sa.String(32), nullable=True))
    op.create_table(
        "media_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("book_id", sa.Integer(), sa.ForeignKey("books.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("book_id", "version"),
    )
    op.create_index("ix_media_versions_retired_at", "media_versions", ["retired_at"])


def downgrade() -> None:
    op.drop_index("ix_media_versions_retired_at", table_name="media_versions")
    op.drop_table("media_versions")
    with op.batch_alter_table("books") as batch:
        batch.drop_column("media_version")
