"""Book covers as readers see them: the uploaded image, or a plain typographic cover made on demand.

`cover_link(book)` is the one place that says where a book's cover is served and as what type
(home, search and book pages, OPDS and the Readium manifest all ask it). `typographic_cover`
draws a square PNG: the title (wrapped and shrunk to fit), the first author, and "Sách nói",
white on a dark colour picked from the title, in DejaVu Sans (which has every Vietnamese letter).
"""
from __future__ import annotations

import hashlib
import io
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from catalog.models import Book

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")  # Debian fonts-dejavu-core (Makefile APT_PACKAGES)
FONT_BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
FONT_REGULAR = FONT_DIR / "DejaVuSans.ttf"
COVER_PX = 512
# Dark backgrounds: white text on each has a contrast ratio above 7:1 (WCAG AAA for text).
PALETTE = ((32, 78, 112), (94, 39, 80), (27, 94, 32), (110, 52, 24), (49, 46, 110), (70, 70, 70))
TEXT = (255, 255, 255)


def cover_link(book: Book) -> tuple[str, str]:
    """(path, media type) of `book`'s cover: '/covers/12.jpg' uploaded, else '/covers/12.png' generated."""
    if book.cover_path:
        return f"/covers/{book.id}.jpg", "image/jpeg"
    return f"/covers/{book.id}.png", "image/png"


def cover_url(book: Book, base: str = "") -> str:
    """Absolute (with `base`, e.g. 'https://sachnoi.example') or site-relative URL of the cover."""
    return base.rstrip("/") + cover_link(book)[0]


def _wrap(draw, text: str, font, width: int) -> list[str]:
    """Greedy word wrap of `text` into lines no wider than `width` pixels (a long word stays whole)."""
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and draw.textlength(candidate, font=font) <= width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines


def _fit(draw, text: str, path: Path, width: int, height: int, largest: int, smallest: int):
    """The biggest font (≤ largest px) at which `text` wraps into width × height; (font, lines)."""
    size = largest
    while True:
        font = ImageFont.truetype(str(path), size)
        lines = _wrap(draw, text, font, width)
        too_wide = any(draw.textlength(line, font=font) > width for line in lines)
        if size <= smallest or (not too_wide and len(lines) * size * 1.25 <= height):
            return font, lines
        size -= 2


def typographic_cover(title: str, author: str = "", *, size: int = COVER_PX) -> bytes:
    """A size × size PNG showing `title` and `author`: the cover for a book without an uploaded one."""
    return _typographic_cover(title.strip() or "Sách nói", author.strip(), size)


@lru_cache(maxsize=256)
def _typographic_cover(title: str, author: str, size: int) -> bytes:
    colour = PALETTE[hashlib.sha256(title.encode()).digest()[0] % len(PALETTE)]
    image = Image.new("RGB", (size, size), colour)
    draw = ImageDraw.Draw(image)
    margin = size // 10
    inner = size - 2 * margin
    # a thin frame, as on a printed cover
    draw.rectangle((margin // 2, margin // 2, size - margin // 2, size - margin // 2), outline=TEXT,
                   width=max(1, size // 170))
    font, lines = _fit(draw, title, FONT_BOLD, inner, int(size * 0.5), size // 8, size // 28)
    y = margin
    for line in lines:
        draw.text((margin, y), line, font=font, fill=TEXT)
        y += int(font.size * 1.25)
    if author:
        small, author_lines = _fit(draw, author, FONT_REGULAR, inner, int(size * 0.16), size // 16, size // 32)
        y = max(y + size // 30, int(size * 0.66))
        for line in author_lines[:2]:
            draw.text((margin, y), line, font=small, fill=TEXT)
            y += int(small.size * 1.25)
    label = ImageFont.truetype(str(FONT_REGULAR), size // 20)
    draw.text((margin, size - margin - label.size), "Sách nói", font=label, fill=TEXT)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def book_cover_png(book: Book) -> bytes:
    """The generated cover for `book` (title, subtitle left out, first author or narrator)."""
    people = book.contributors("aut") or book.contributors("nrt")
    return typographic_cover(book.title, people[0].name if people else "")
