"""Podcast RSS 2.0 for promotion clips, with the iTunes tags Apple requires and Podcasting 2.0
`podcast:transcript` / `podcast:chapters`.

`build_feed(channel, items)` is pure: plain values in, UTF-8 XML bytes out. Apple requires on the
channel: title, description, itunes:image, language, itunes:category, itunes:explicit; on each
item: title, enclosure (url, length in bytes, type), guid. We also give itunes:author, itunes:owner
(name and e-mail: Apple and Spotify write to it to verify ownership), copyright, link, pubDate,
itunes:duration, itunes:episodeType (full, or trailer when the librarian marks one) and an atom:link
to the feed itself. `square_artwork` makes a cover fit Apple's artwork rule (square, 1400–3000 px).
"""
from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from email.utils import format_datetime

from lxml import etree
from PIL import Image, UnidentifiedImageError

from catalog.errors import N_, CatalogError

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
# Podcasting 2.0's first namespace URI. The spec now names https://podcastindex.org/namespace/1.0 and
# requires clients to treat this one as identical; gPodder's podcastparser (0.6.11) knows only this one.
PODCAST = "https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/1.0.md"
EPISODE_TYPES = ("full", "trailer", "bonus")   # itunes:episodeType
ARTWORK_MIN_PX, ARTWORK_MAX_PX = 1400, 3000     # Apple Podcasts artwork, square
ATOM = "http://www.w3.org/2005/Atom"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
NSMAP = {"itunes": ITUNES, "podcast": PODCAST, "atom": ATOM, "content": CONTENT}


@dataclass(frozen=True)
class Channel:
    title: str
    link: str               # the clips page
    feed_url: str           # this feed (atom:link rel=self)
    description: str
    image_url: str          # square artwork, 1400–3000 px (JPEG/PNG)
    author: str
    owner_name: str
    owner_email: str = ""
    copyright: str = ""
    language: str = "vi"
    category: str = "Arts"
    subcategory: str = "Books"
    explicit: bool = False


@dataclass(frozen=True)
class Item:
    guid: str
    title: str
    description: str
    link: str
    enclosure_url: str
    enclosure_length: int   # bytes
    enclosure_type: str
    published: dt.datetime  # UTC (naive means UTC)
    duration_s: float
    image_url: str = ""
    transcript_url: str = ""
    chapters_url: str = ""
    episode_type: str = "full"
    extra: dict = field(default_factory=dict)


def _sub(parent, tag: str, text: str | None = None, **attrs) -> etree._Element:
    el = etree.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def _duration(seconds: float) -> str:
    total = int(round(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}:{s:02d}"


def _rfc822(when: dt.datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return format_datetime(when)


def build_feed(channel: Channel, items: list[Item]) -> bytes:
    """The RSS document. Raises CatalogError for an item Apple would reject (no length, no URL)."""
    rss = etree.Element("rss", nsmap=NSMAP, version="2.0")
    ch = _sub(rss, "channel")
    _sub(ch, "title", channel.title)
    _sub(ch, "link", channel.link)
    _sub(ch, "description", channel.description)
    _sub(ch, "language", channel.language)
    if channel.copyright:
        _sub(ch, "copyright", channel.copyright)
    _sub(ch, f"{{{ATOM}}}link", href=channel.feed_url, rel="self", type="application/rss+xml")
    _sub(ch, f"{{{ITUNES}}}author", channel.author)
    owner = _sub(ch, f"{{{ITUNES}}}owner")
    _sub(owner, f"{{{ITUNES}}}name", channel.owner_name)
    if channel.owner_email:
        _sub(owner, f"{{{ITUNES}}}email", channel.owner_email)
    _sub(ch, f"{{{ITUNES}}}image", href=channel.image_url)
    category = _sub(ch, f"{{{ITUNES}}}category", text=channel.category)
    if channel.subcategory:
        _sub(category, f"{{{ITUNES}}}category", text=channel.subcategory)
    _sub(ch, f"{{{ITUNES}}}explicit", "true" if channel.explicit else "false")
    _sub(ch, f"{{{ITUNES}}}type", "episodic")
    _sub(ch, f"{{{PODCAST}}}locked", "no")
    for item in items:
        if not item.enclosure_url or item.enclosure_length <= 0:
            raise CatalogError(N_("Tập %(title)s thiếu tệp hoặc độ dài."), title=repr(item.title))
        if item.episode_type not in EPISODE_TYPES:
            raise CatalogError(N_("Loại tập không hợp lệ: %(kind)s"), kind=repr(item.episode_type))
        it = _sub(ch, "item")
        _sub(it, "title", item.title)
        _sub(it, "description", item.description or item.title)
        _sub(it, "link", item.link)
        _sub(it, "guid", item.guid, isPermaLink="false")
        _sub(it, "pubDate", _rfc822(item.published))
        _sub(it, "enclosure", url=item.enclosure_url, length=int(item.enclosure_length),
             type=item.enclosure_type)
        _sub(it, f"{{{ITUNES}}}duration", _duration(item.duration_s))
        _sub(it, f"{{{ITUNES}}}explicit", "false")
        _sub(it, f"{{{ITUNES}}}episodeType", item.episode_type)
        if item.image_url:
            _sub(it, f"{{{ITUNES}}}image", href=item.image_url)
        if item.transcript_url:
            _sub(it, f"{{{PODCAST}}}transcript", url=item.transcript_url, type="text/vtt", language="vi",
                 rel="captions")  # WebVTT cues are timed: apps may show them as captions
        if item.chapters_url:
            _sub(it, f"{{{PODCAST}}}chapters", url=item.chapters_url, type="application/json+chapters")
    return etree.tostring(rss, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def chapters_json(parts: list[tuple[float, str]]) -> dict:
    """Podcasting 2.0 JSON chapters from (start seconds, title) pairs."""
    return {"version": "1.2.0",
            "chapters": [{"startTime": round(start, 3), "title": title} for start, title in parts]}


def valid_webvtt(text: str) -> bool:
    """A transcript must start with the WEBVTT signature (optionally after a BOM)."""
    return text.lstrip("\ufeff").startswith("WEBVTT")


def square_artwork(data: bytes, background: tuple[int, int, int] = (11, 83, 148)) -> bytes:
    """A cover (JPEG/PNG bytes) as square JPEG artwork of 1400–3000 px: the image centred, scaled to
    fit, on `background`. Raises CatalogError for data Pillow cannot read."""
    try:
        opened = Image.open(io.BytesIO(data))
        opened.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise CatalogError(N_("Ảnh bìa không đọc được: %(reason)s"), reason=exc) from None
    image = opened.convert("RGB")
    side = min(max(image.width, image.height, ARTWORK_MIN_PX), ARTWORK_MAX_PX)
    scale = side / max(image.width, image.height)
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                         Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (side, side), background)
    canvas.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=88)
    return out.getvalue()
