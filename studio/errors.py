"""Errors of the studio workflow."""


class StudioError(Exception):
    """Base class: a production step could not be done; the message says why."""


class SessionFolderError(StudioError):
    """A session folder that cannot be ingested (missing, no audio, a file that is not audio, bad session.toml)."""


class QCRejected(StudioError):
    """Chapters failed QC and nobody accepted the failures: a human decision is needed, not a retry.

    `chapters`: [{"chapter_id": int, "position": int, "title": str, "rules": [str, ...]}, ...]
    """

    def __init__(self, message: str, chapters: list[dict] | None = None):
        super().__init__(message)
        self.chapters = list(chapters or [])
