"""Errors raised by the catalogue."""


class CatalogError(Exception):
    """Base class for catalogue errors."""
