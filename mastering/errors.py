"""Errors raised by the mastering chain.

Messages are Vietnamese first with English in parentheses, and name the file and the problem,
so the CLI and the web UI can show them as they are.
"""
from __future__ import annotations


class MasteringError(Exception):
    """Base class for every error the mastering chain raises on purpose."""


class UnknownProfileError(MasteringError, KeyError):
    """A delivery profile name that is not in `mastering.profiles.PROFILES`."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class AudioInputError(MasteringError):
    """The input audio cannot be used: unreadable, truncated, empty, or invalid samples."""


class UnsupportedAudioError(AudioInputError):
    """Readable audio outside what the chain supports (sample rate, channel count, duration)."""


class InvalidSamplesError(AudioInputError):
    """Samples contain NaN or infinity."""


def where(path: object | None) -> str:
    """Short prefix naming the file, for messages (empty when there is no file)."""
    return f"{path}: " if path else ""
