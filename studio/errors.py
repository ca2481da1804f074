"""Errors of the studio workflow.

`message` is the Vietnamese text with `%(name)s` placeholders and `params` their values, so the
web layer can show it translated (it is the msgid in the message catalogue); `str(error)` is the
Vietnamese text with the values filled in.
"""


class StudioError(Exception):
    """Base class: a production step could not be done; the message says why."""

    def __init__(self, message: str = "", **params):
        super().__init__(message % params if params else message)
        self.message, self.params = message, params


class SessionFolderError(StudioError):
    """A session folder that cannot be ingested (missing, no audio, a file that is not audio, bad session.toml)."""


class ReviewError(StudioError):
    """A review decision the rules refuse (no marks to approve, a chapter sent back without a reason)."""


class QCRejected(StudioError):
    """Chapters failed QC and nobody accepted the failures: a human decision is needed, not a retry.

    `chapters`: [{"chapter_id": int, "position": int, "title": str, "rules": [str, ...]}, ...]
    """

    def __init__(self, message: str, chapters: list[dict] | None = None):
        super().__init__(message)
        self.chapters = list(chapters or [])


def N_(message: str) -> str:
    """Mark `message` for the message catalogue (`make translations` extracts it); returns it as is."""
    return message
