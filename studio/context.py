"""What every production step needs: the database session factory, the media store, settings."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy.orm import Session, sessionmaker

from recordings.store import MediaStore

Progress = Callable[[float], None]  # fraction done, 0..1


@dataclass
class Context:
    sessions: sessionmaker[Session]
    store: MediaStore
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decisions:
    """Human decisions passed into the pipeline (from the review pages, the CLI or a test)."""
    approve_marks: bool = False
    accept_qc_failures: bool = False
    publish: bool = False
