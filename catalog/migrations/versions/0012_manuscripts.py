"""Manuscripts, their sections and sentences, with alignment and narration QC columns (issue 20)

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "manuscripts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("book_id", sa.Integer(), sa.ForeignKey("books.id", ondelete="CASCADE"), nullable=False),
        sa.Column("session_id", sa.Integer(),
                  sa.ForeignKey("recording_sessions.id", ondelete="SET NULL"), nullable=True),
        sa.Column("filename", sa.String(500), nullable=False, server_default=""),
        sa.Column("format", sa.String(16), nullable=False, server_default="text"),
        sa.Column("source_sha256", sa.String(64), nullable=False, server_default=""),
        sa.Column("language", sa.String(8), nullable=False, server_default="vie"),
        sa.Column("state", sa.String(16), nullable=False, server_default="parsed"),
        sa.Column("message", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("aligned_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_manuscripts_book_id", "manuscripts", ["book_id"])
    op.create_table(
        "manuscript_sections",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("manuscript_id", sa.Integer(), sa.ForeignKey("manuscripts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(500), nullable=False, server_default=""),
        sa.Column("chapter_id", sa.Integer(), sa.ForeignKey("chapters.id", ondelete="SET NULL"), nullable=True),
        sa.UniqueConstraint("manuscript_id", "position"),
    )
    op.create_table(
        "sentences",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("section_id", sa.Integer(), sa.ForeignKey("manuscript_sections.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("paragraph", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_folded", sa.Text(), nullable=False, server_default=""),
        sa.Column("start_s", sa.Float(), nullable=True),
        sa.Column("end_s", sa.Float(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("issue", sa.String(16), nullable=False, server_default=""),
        sa.Column("issue_detail", sa.JSON(), nullable=False, server_default="{}"),
        sa.Column("decision", sa.String(16), nullable=False, server_default=""),
        sa.UniqueConstraint("section_id", "position"),
    )


def downgrade() -> None:
    op.drop_table("sentences")
    op.drop_table("manuscript_sections")
    op.drop_index("ix_manuscripts_book_id", table_name="manuscripts")
    op.drop_table("manuscripts")
