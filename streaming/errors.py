"""The streaming package's errors: bad listening input (progress, bookmarks, statistics requests).

`StreamingError` is a `ValueError` (callers that caught ValueError still do). `message` is the
Vietnamese text with `%(name)s` placeholders and `params` their values, so the web layer can show
it translated (it is the msgid in the message catalogue); `str(error)` has the values filled in.
"""


class StreamingError(ValueError):
    """Base class: a listening request was refused; nothing was written."""

    def __init__(self, message: str = "", **params):
        super().__init__(message % params if params else message)
        self.message, self.params = message, params


class ProgressError(StreamingError):
    """A progress report that is not well formed (nothing is written)."""


class BookmarkError(StreamingError):
    """Bad bookmark input, or a bookmark that is not the reader's (nothing is changed)."""


class BookmarkMissing(BookmarkError):
    """No such bookmark, or not the reader's."""


class StatsError(StreamingError):
    """A request for statistics that cannot be answered (unknown grouping, bad dates)."""


def N_(message: str) -> str:
    """Mark `message` for the message catalogue (`make translations` extracts it); returns it as is."""
    return message
