"""Errors raised by the delivery package (messages Vietnamese first, English in parentheses)."""
from __future__ import annotations


class DeliveryError(Exception):
    """Base class for every error the delivery package raises on purpose."""
