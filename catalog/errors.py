"""The catalogue's error classes: bad input to a catalogue operation raises one of these.

Keep this file additive: other areas subclass `CatalogError` (for example `TagError`).
`message` is the Vietnamese text with `%(name)s` placeholders and `params` their values, so the
web layer shows it translated (it is the msgid in the message catalogue, marked with `N_`);
`str(error)` is the Vietnamese text with the values filled in.
"""
from __future__ import annotations


class CatalogError(Exception):
    """A catalogue operation was refused; nothing was changed."""

    def __init__(self, message: str = "", **params):
        super().__init__(message % params if params else message)
        self.message, self.params = message, params


class PublicationRefused(CatalogError):
    """A book that may not be published yet; `problems` are the CatalogErrors saying why."""

    def __init__(self, problems: list[CatalogError]):
        super().__init__(" ".join(str(p) for p in problems))
        self.problems = list(problems)


class MarcImportError(CatalogError):
    """A MARCXML document could not be read as bibliographic records."""


class TagError(CatalogError):
    """Tags could not be read or written (mutagen's errors, translated by `catalog.tags`)."""


class BackupError(CatalogError):
    """A backup or restore that cannot be done or checks out wrong; nothing half-done is left."""
def N_(message: str) -> str:
    """Mark `message` for the message catalogue (`make translations` extracts it); returns it as is."""
    return message
