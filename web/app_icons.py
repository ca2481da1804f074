"""The web app's icons (web/static/icons/*.png), drawn with Pillow like favicon.svg: a white "play"
triangle on the site's blue. Committed as small PNGs; `python -m web.app_icons` draws them again.

A maskable icon is cropped by the device to any shape inside the central circle of 80 % of its
width (the "safe zone"), so it is full-bleed blue with the triangle well inside that circle.
"""
from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw

BLUE, WHITE = (11, 83, 148, 255), (255, 255, 255, 255)  # site.css --accent (#0b5394)
FOLDER = Path(__file__).resolve().parent / "static" / "icons"
FILES = {"icon-192.png": (192, False), "icon-512.png": (512, False), "icon-maskable-512.png": (512, True)}


def draw_icon(size: int, maskable: bool = False) -> bytes:
    """PNG bytes of a `size` × `size` icon."""
    scale = 4  # draw large and shrink: smooth edges without an anti-aliasing option in ImageDraw
    big = size * scale
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if maskable:
        draw.rectangle((0, 0, big, big), fill=BLUE)
        unit = big * 0.6 / 64  # favicon's 64-unit drawing shrunk into the safe zone
    else:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=big * 12 // 64, fill=BLUE)
        unit = big / 64
    offset = (big - 64 * unit) / 2
    triangle = [(offset + x * unit, offset + y * unit) for x, y in ((22, 16), (22, 48), (48, 32))]
    draw.polygon(triangle, fill=WHITE)
    out = io.BytesIO()
    image.resize((size, size), Image.LANCZOS).save(out, "PNG", optimize=True)
    return out.getvalue()


def main() -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    for name, (size, maskable) in FILES.items():
        (FOLDER / name).write_bytes(draw_icon(size, maskable))


if __name__ == "__main__":
    main()
