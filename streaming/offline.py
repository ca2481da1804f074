"""Offline copies in the browser: which rendition a reader downloads, and whether they may keep it.

An offline copy is as good as a download: the browser keeps the bytes, and nothing the server does
reaches them while the device is offline. So the rule is checked when the copy is made and again
every time the device connects (the page asks `may_keep` for every title it holds and deletes the
copies it may no longer keep). It is the streaming rule (`can_listen`) with one addition: titles
heard only inside the library's networks (`on-site`) are never copied, since a copy would leave
the building with the phone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from catalog.models import Rendition
from recordings.errors import UnsafeKeyError
from streaming.access import Decision, can_listen, depends_on_address

OFFLINE_BITRATE = 64_000  # bits per second: speech at 64 kbps AAC, about 29 MB per hour


@dataclass(frozen=True)
class OfflineRendition:
    name: str        # folder under the book's hls/, e.g. "aac-64k-mono"
    bitrate: int     # bits per second
    size_bytes: int  # every file of the rendition (playlist, init segment, segments)


def may_keep(book, user, remote_addr: str | None = None, onsite_networks: str = "") -> Decision:
    """May `user` (None: nobody logged in) hold an offline copy of `book` now?"""
    decision = can_listen(book, user, remote_addr, onsite_networks)
    if decision.allowed and depends_on_address(book, decision):
        return Decision(False, "on-site-only")
    return decision


def pick_rendition(renditions: Iterable[Rendition]) -> Rendition | None:
    """The HLS rendition to download: the one nearest 64 kbps (mono preferred), else None.

    `renditions` are catalog Rendition rows (kind, name, bitrate)."""
    hls = [r for r in renditions if r.kind == "hls" and r.name]
    if not hls:
        return None
    return min(hls, key=lambda r: (abs((r.bitrate or 0) - OFFLINE_BITRATE), "mono" not in r.name, r.name))


def rendition_size(store, book_uuid: str, name: str) -> int:
    """Bytes of every file in the book's `hls/<name>/` folder (0 when it is missing)."""
    folder = f"derived/books/{book_uuid}/hls/{name}"
    try:
        return sum(size for key, size in store.list(folder) if key.count("/") == folder.count("/") + 1)
    except UnsafeKeyError:
        return 0


def offline_rendition(store, book) -> OfflineRendition | None:
    """What a download of `book` will fetch: its rendition nearest 64 kbps and that rendition's size."""
    chosen = pick_rendition(book.renditions)
    if chosen is None:
        return None
    return OfflineRendition(chosen.name, int(chosen.bitrate or 0), rendition_size(store, book.uuid, chosen.name))
