"""Studio intake extensions (issue 5: uploads, sessions, jobs)

Upload state lives on disk beside the bytes (media tmp/), so no table is added; these are the
indexes the studio's queries need: the per-user upload quota sums `originals` by uploader,
chapter marking reads `marks` by book and take, the pipeline lists takes per session in order,
and the staff page lists recent jobs per book.

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa  # noqa: F401

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_originals_uploaded_by", "originals", ["uploaded_by"]),
    ("ix_marks_book_take", "marks", ["book_id", "take_id", "kind"]),
    ("ix_takes_session_position", "takes", ["session_id", "position"]),
    ("ix_jobs_book_created", "jobs", ["book_id", "created_at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
