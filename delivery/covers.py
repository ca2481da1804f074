"""The generated cover of a book that has none: players and the Readium manifest expect one."""
from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

COVER_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def default_cover(title: str, author: str = "", size: int = 1400) -> bytes:
    """A plain JPEG cover with the title (used when a book has none): players and the manifest
    expect one. DejaVu Sans has every Vietnamese letter; without it Pillow's own font is used."""
    img = Image.new("RGB", (size, size), (22, 64, 96))
    draw = ImageDraw.Draw(img)
    big: ImageFont.FreeTypeFont | ImageFont.ImageFont
    small: ImageFont.FreeTypeFont | ImageFont.ImageFont
    try:
        big = ImageFont.truetype(COVER_FONT, size // 12)
        small = ImageFont.truetype(COVER_FONT, size // 24)
    except OSError:
        big = small = ImageFont.load_default()
    words, lines, line = title.split(), [], ""
    for word in words:
        trial = f"{line} {word}".strip()
        if draw.textlength(trial, font=big) > size * 0.8 and line:
            lines.append(line)
            line = word
        else:
            line = trial
    lines.append(line)
    y = size // 4
    for text in lines[:6]:
        draw.text((size // 10, y), text, font=big, fill=(250, 250, 240))
        y += int(size / 10)
    if author:
        draw.text((size // 10, size - size // 5), author, font=small, fill=(220, 220, 200))
    draw.text((size // 10, size - size // 9), "SÁCH NÓI", font=small, fill=(240, 200, 90))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=88)
    return out.getvalue()
