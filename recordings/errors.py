"""Errors raised by the media store and audio probing."""


class RecordingsError(Exception):
    """Base class for media-store errors."""


class UnsafeKeyError(RecordingsError):
    """A media key that would leave the store (absolute, `..`, or through a symlink)."""


class NotAudioError(RecordingsError):
    """A file that does not decode as audio we accept; the message names the problem."""


class MissingMediaError(RecordingsError):
    """A key or original that is not in the store."""


class ObjectStoreError(RecordingsError):
    """The object store refused or failed a request (unreachable, denied, a checksum it rejected)."""
