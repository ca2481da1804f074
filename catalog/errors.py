"""The catalogue's error classes: bad input to a catalogue operation raises one of these.

Keep this file additive: other areas subclass `CatalogError` (for example `TagError`).
"""
from __future__ import annotations


class CatalogError(Exception):
    """A catalogue operation was refused; nothing was changed."""


class MarcImportError(CatalogError):
    """A MARCXML document could not be read as bibliographic records."""


class TagError(CatalogError):
    """Tags could not be read or written (mutagen's errors, translated by `catalog.tags`)."""


class BackupError(CatalogError):
    """A backup or restore that cannot be done or checks out wrong; nothing half-done is left."""
