"""Accessible-format talking books of a title (EPUB 3 with Media Overlays, DAISY 2.02): which
kinds exist, their media types and labels, and whether a title offers them beyond its own staff.

A title offers them when it was produced under the Marrakesh Treaty (`book.marrakesh`) or is
restricted to print-disabled readers (`access_policy == "print-disabled"`): accessible copies
for beneficiaries and authorised entities (IP Law art. 25a). Who may take one is decided in
`streaming.access.can_take_talking_book`; the files are written by `studio.talking_books`.
"""
from __future__ import annotations

from dataclasses import dataclass

from catalog.models import Book
from recordings.store import MediaStore


@dataclass(frozen=True)
class Kind:
    kind: str          # Rendition.kind and the URL's last segment
    file_name: str     # under the book's derived prefix, talking/<file_name>
    media_type: str
    label: str         # MARC 856 $3, link titles (Vietnamese)


EPUB3 = Kind("epub3", "book.epub", "application/epub+zip", "EPUB 3 toàn văn và âm thanh (Media Overlays)")
DAISY202 = Kind("daisy202", "book-daisy202.zip", "application/daisy+zip", "DAISY 2.02 (tệp nén)")
KINDS = {k.kind: k for k in (EPUB3, DAISY202)}
FULL_TEXT, AUDIO_ONLY = "full-text", "audio-only"   # Rendition.name of a talking book


def offered(book: Book) -> bool:
    """Whether the title offers accessible copies to readers and entities beyond its own staff."""
    return bool(book.marrakesh) or book.access_policy == "print-disabled"


def available(book: Book) -> list[Kind]:
    """The kinds written for `book` (a Rendition row exists), in KINDS order."""
    present = {r.kind for r in book.renditions}
    return [k for k in KINDS.values() if k.kind in present]


def listed(book: Book) -> list[Kind]:
    """What catalogue exports (OPDS, MARC) advertise: the written kinds of a title that offers them."""
    return available(book) if offered(book) else []


def full_text(book: Book) -> bool:
    """Whether the talking books carry the whole text synchronised with the audio (else audio-only)."""
    return any(r.kind in KINDS and r.name == FULL_TEXT for r in book.renditions)


def key(book_uuid: str, kind: Kind) -> str:
    """Media-store key of a talking book, under the book's derived prefix."""
    return f"{MediaStore.book_prefix(book_uuid)}/talking/{kind.file_name}"


def url(base_url: str, book_id: int, kind: Kind) -> str:
    return f"{base_url.rstrip('/')}/books/{book_id}/talking-book/{kind.kind}"
