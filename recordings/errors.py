"""Errors raised by the media store and audio probing.

As in `catalog.errors`: `message` may be a Vietnamese msgid of the message catalogue (marked with
`N_`) with `%(name)s` placeholders and `params` their values, so the web layer and the CLI show it
translated; `str(error)` is the Vietnamese text with the values filled in.
"""


def N_(message: str) -> str:
    """Mark `message` for the message catalogue (`make translations` extracts it); returns it as is."""
    return message


class RecordingsError(Exception):
    """Base class for media-store errors."""

    def __init__(self, message: str = "", **params):
        super().__init__(message % params if params else message)
        self.message, self.params = message, params


class UnsafeKeyError(RecordingsError):
    """A media key that would leave the store (absolute, `..`, or through a symlink)."""


class NotAudioError(RecordingsError):
    """A file that does not decode as audio we accept; the message names the problem."""


class MissingMediaError(RecordingsError):
    """A key or original that is not in the store."""


class ObjectStoreError(RecordingsError):
    """The object store refused or failed a request (unreachable, denied, a checksum it rejected)."""
