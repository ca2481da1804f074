"""The states a row can be in, and the account roles, as `StrEnum`s: one spelling for every module.

Each member equals the string stored in the database (`BookState.PUBLISHED == "published"`), so
rows, migrations and queries written with plain strings keep working; code writes the member.
Words people see for them are in `web/labels.py`.
"""
from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """`users.role`: what an account may do (admins: everything, in every library)."""
    READER = "reader"
    STUDIO = "studio"
    LIBRARIAN = "librarian"
    ADMIN = "admin"


STAFF_ROLES = (Role.STUDIO, Role.LIBRARIAN, Role.ADMIN)


class BookState(StrEnum):
    """`books.state`. Readers see only published books whose `publish_at` has come (catalog.access)."""
    DRAFT = "draft"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class ReviewState(StrEnum):
    """`chapters.review_state`: the studio's decision on a mastered chapter."""
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class JobState(StrEnum):
    """`jobs.state`: queued → running → done, or back to queued after a failed attempt, or failed."""
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ClipState(StrEnum):
    """`clips.state`: draft (rendering) → ready → published (and back to ready when taken down)."""
    DRAFT = "draft"
    READY = "ready"
    PUBLISHED = "published"
