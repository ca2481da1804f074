"""Readium Web Publication Manifest, audiobook profile (`application/audiobook+json`).

Built from a `Book` row (`build_manifest`) or from plain data (`manifest_from_info`). The
`readingOrder` lists the per-chapter MP3 downloads with `duration` (seconds) and `bitrate` (kbps,
as the Readium link schema defines it), `toc` the chapters, `resources` the cover.
With `base_url=""` every href is relative to the manifest (`mp3/01.mp3`), which is what goes into
the book folder and the `.audiobook` zip; with a base URL (the folder the web layer serves the
manifest from, e.g. `https://lib.example/books/7/`) links are absolute and a `self` link is added.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from urllib.parse import urljoin

from catalog.covers import cover_link

MEDIA_TYPE = "application/audiobook+json"
PACKAGE_TYPE = "application/audiobook+zip"
AUDIOBOOK_PROFILE = "https://readium.org/webpub-manifest/profiles/audiobook"
CONTEXT = "https://readium.org/webpub-manifest/context.jsonld"
SCHEMA_TYPE = "http://schema.org/Audiobook"

# ISO 639-2 (what the catalogue stores) to BCP 47 (what the manifest wants).
_BCP47 = {"vie": "vi", "eng": "en", "fra": "fr", "fre": "fr", "zho": "zh", "chi": "zh", "khm": "km",
          "lao": "lo", "tha": "th", "deu": "de", "ger": "de", "rus": "ru", "jpn": "ja", "kor": "ko",
          "spa": "es"}


def bcp47(code: str) -> str:
    code = (code or "vie").strip().lower()
    return _BCP47.get(code, code)


def mp3_name(position: int) -> str:
    """File name of a chapter's MP3 inside `mp3/` (shared with the package stage)."""
    return f"{position:02d}.mp3"


@dataclass(frozen=True)
class Track:
    href: str                       # relative to the manifest
    title: str
    duration_s: float
    bitrate_kbps: float | None = None
    size_bytes: int | None = None
    type: str = "audio/mpeg"


@dataclass(frozen=True)
class AudiobookInfo:
    identifier: str                 # a URI: urn:uuid:..., urn:isbn:...
    title: str
    tracks: tuple[Track, ...]
    authors: tuple[str, ...] = ()
    narrators: tuple[str, ...] = ()
    language: str = "vie"
    publisher: str = ""
    subtitle: str = ""
    description: str = ""
    published: str = ""             # ISO date (YYYY-MM-DD) or date-time; a bare year is not valid here
    modified: dt.datetime | None = None
    cover_href: str = ""
    cover_type: str = "image/jpeg"
    subjects: tuple[str, ...] = field(default_factory=tuple)
    package_href: str = ""          # the `.audiobook` package, linked as `alternate` in served manifests


def _href(base_url: str, rel: str) -> str:
    return urljoin(base_url, rel) if base_url else rel


def manifest_from_info(info: AudiobookInfo, base_url: str = "") -> dict:
    """The manifest as a JSON-ready dict."""
    duration = round(sum(t.duration_s for t in info.tracks), 3)
    metadata: dict = {
        "@type": SCHEMA_TYPE,
        "conformsTo": AUDIOBOOK_PROFILE,
        "identifier": info.identifier,
        "title": info.title,
        "language": bcp47(info.language),
        "duration": duration,
    }
    if info.subtitle:
        metadata["subtitle"] = info.subtitle
    if info.authors:
        metadata["author"] = [{"name": n} for n in info.authors]
    if info.narrators:
        metadata["readBy"] = [{"name": n} for n in info.narrators]
    if info.publisher:
        metadata["publisher"] = info.publisher
    if info.description:
        metadata["description"] = info.description
    if info.published:  # a bare year ("1939") fails the schema's date formats: its first day passes
        metadata["published"] = published_date(int(info.published)) if info.published.isdigit() else info.published
    if info.modified:
        metadata["modified"] = info.modified.replace(microsecond=0).isoformat() + (
            "Z" if info.modified.tzinfo is None else "")
    if info.subjects:
        metadata["subject"] = list(info.subjects)

    reading_order, toc = [], []
    for t in info.tracks:
        link: dict = {"href": _href(base_url, t.href), "type": t.type, "title": t.title,
                      "duration": round(t.duration_s, 3)}
        if t.bitrate_kbps:
            link["bitrate"] = t.bitrate_kbps
        if t.size_bytes:
            link["size"] = t.size_bytes
        reading_order.append(link)
        toc.append({"href": _href(base_url, t.href), "title": t.title})

    manifest: dict = {"@context": CONTEXT, "metadata": metadata}
    if base_url:
        manifest["links"] = [{"rel": "self", "href": _href(base_url, "manifest.json"), "type": MEDIA_TYPE}]
        if info.package_href:  # not inside the package itself: it would name itself
            manifest["links"].append({"rel": "alternate", "href": _href(base_url, info.package_href),
                                      "type": PACKAGE_TYPE, "title": "Gói sách nói (.audiobook)"})
    manifest["readingOrder"] = reading_order
    manifest["toc"] = toc
    if info.cover_href:
        manifest["resources"] = [{"rel": "cover", "href": _href(base_url, info.cover_href),
                                  "type": info.cover_type}]
    return manifest


def published_date(year: int | None) -> str:
    """`metadata.published` for a catalogue year: the schema takes a full date (or date-time)
    only, so a year is written as its first day ("1939" fails it, "1939-01-01" passes)."""
    return f"{int(year):04d}-01-01" if year and 0 < int(year) <= 9999 else ""


def book_info(book) -> AudiobookInfo:
    """Plain data for the manifest from a `catalog.models.Book` (credits, chapters, renditions loaded
    lazily, so call it inside a session). Chapter tracks use the `mp3` renditions when present."""
    mp3s = {r.chapter_id: r for r in book.renditions if r.kind == "mp3" and r.chapter_id is not None}
    covers = [r for r in book.renditions if r.kind == "cover"]
    tracks = []
    for ch in book.chapters:
        rend = mp3s.get(ch.id)
        tracks.append(Track(
            href=f"mp3/{mp3_name(ch.position)}", title=ch.title or f"Chương {ch.position}",
            duration_s=(rend.duration_s if rend and rend.duration_s else ch.duration_s),
            bitrate_kbps=(rend.bitrate / 1000 if rend and rend.bitrate else None),
            size_bytes=(rend.size_bytes if rend and rend.size_bytes else None)))
    if book.isbn_audio:
        identifier = f"urn:isbn:{book.isbn_audio.replace('-', '')}"
    else:
        identifier = f"urn:uuid:{book.uuid}"
    cover_href, cover_type = "", "image/jpeg"
    if covers:
        cover_href = covers[0].key.rsplit("/", 1)[-1]
        cover_type = "image/png" if cover_href.endswith(".png") else "image/jpeg"
    return AudiobookInfo(
        identifier=identifier, title=book.title, subtitle=book.subtitle or "",
        tracks=tuple(tracks),
        authors=tuple(c.name for c in book.contributors("aut")),
        narrators=tuple(c.name for c in book.contributors("nrt")),
        language=book.language or "vie", publisher=book.publisher or "",
        description=book.summary or "", published=published_date(book.year),
        modified=book.updated_at, cover_href=cover_href, cover_type=cover_type,
        subjects=tuple(s.subject.term for s in book.subjects),
        package_href="book.audiobook" if any(r.kind == "audiobook" for r in book.renditions) else "")


def build_manifest(book, base_url: str = "") -> dict:
    """The audiobook manifest of `book`; absolute links when `base_url` is given (see module doc)."""
    if base_url and not base_url.endswith("/"):
        base_url += "/"
    info = book_info(book)
    if base_url and not info.cover_href:  # on the web every book has a cover: the generated one
        href, media_type = cover_link(book)
        info = replace(info, cover_href=href, cover_type=media_type)
    return manifest_from_info(info, base_url)
