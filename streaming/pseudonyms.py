"""The key behind listener pseudonyms (streaming.events.listener_key), and where it comes from.

Statistics count listeners by an HMAC of their account or device under this key, so the key must
outlive a move to new hardware: a restore that brought the rows but not the key would count every
returning reader as new. It is a secret (with it and the database, pseudonyms can be linked back
to accounts), kept apart from the database, in this order:

    LISTENER_KEY            setting or SACHNOI_LISTENER_KEY
    <HOME>/listener_key     the file `sachnoi restore` writes from a backup (mode 0600)
    SECRET_KEY              what instances used before, so their pseudonyms carry on unchanged
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

KEY_FILE = "listener_key"


def listener_secret(settings: Mapping[str, Any]) -> str:
    """The pseudonym key for these settings (see the module docstring for the order)."""
    if settings.get("LISTENER_KEY"):
        return str(settings["LISTENER_KEY"])
    path = Path(settings["HOME"]) / KEY_FILE
    if path.is_file():
        return path.read_text().strip()
    return str(settings["SECRET_KEY"])
