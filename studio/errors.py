"""Errors of the studio workflow."""


class StudioError(Exception):
    """Base class: a production step could not be done; the message says why."""


class SessionFolderError(StudioError):
    """A session folder that cannot be ingested (missing, no audio, a file that is not audio, bad session.toml)."""


class QCRejected(StudioError):
    """Chapters failed QC and nobody accepted the failures."""
