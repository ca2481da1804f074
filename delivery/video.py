"""The promotion clip's video: a title laid out to fit, burnt-in captions, square and story formats.

    fmt = FORMATS["story"]                                  # 1080×1920; "square" is 1080×1080
    size, lines = fit_title("Sơn Tinh, Thủy Tinh …", fmt.text_width_px)
    title_overlay(title, fmt, "title.png")                 # RGBA band, lines centred, nothing cropped
    Path("captions.ass").write_text(captions_ass(vtt, fmt))  # WebVTT cues → ASS at the video's pixels
    run(encoders.clip_mp4(audio, cover, "title.png", "captions.ass", out, duration_s, fmt), timeout_s=...)

Text stays inside each format's safe area (the parts of the frame that social apps do not cover with
their own buttons and captions). ffmpeg's `drawtext` neither wraps nor shrinks text, so the title is
set with Pillow, which measures the real glyphs; captions go through libass (ffmpeg's `subtitles`
filter), which wraps cue text to the margins given here.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import webvtt
from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FONT_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
CAPTION_FONT_NAME = "DejaVu Sans"  # found by fontconfig for libass (Debian fonts-dejavu-core)


class VideoLayoutError(ValueError):
    """A caption file or title that cannot be laid out."""


@dataclass(frozen=True)
class VideoFormat:
    """Frame size and the margins (px) kept clear of the apps' own overlays."""
    name: str
    width: int
    height: int
    safe_top_px: int
    safe_bottom_px: int
    margin_x_px: int
    wave_height_px: int

    @property
    def text_width_px(self) -> int:
        return self.width - 2 * self.margin_x_px

    @property
    def wave_top_px(self) -> int:
        return self.height - self.safe_bottom_px - self.wave_height_px


# Stories (Instagram, Facebook, Zalo, TikTok) cover about the top 250 px and the bottom 340 px of a
# 1080×1920 frame with the profile line and the reply box; feeds crop little from a square.
FORMATS = {
    "square": VideoFormat("square", 1080, 1080, 60, 60, 72, 220),
    "story": VideoFormat("story", 1080, 1920, 250, 340, 72, 240),
}
TITLE_SIZES_PX = tuple(range(72, 34, -4))  # largest first; the first that fits in TITLE_MAX_LINES wins
TITLE_MAX_LINES = 3
TITLE_PAD_PX = 24
CAPTION_SIZE_PX = 50


def _font(size: int, bold: bool = True):
    path = FONT_BOLD if bold and FONT_BOLD.exists() else FONT
    return ImageFont.truetype(str(path), size) if path.exists() else ImageFont.load_default(size)


def wrap(text: str, font, width_px: int) -> list[str]:
    """Greedy word wrap by measured glyph width; a word wider than the line is broken by characters."""
    lines: list[str] = []
    for word in text.split():
        pieces = []
        while len(word) > 1 and font.getlength(word) > width_px:
            cut = max((i for i in range(1, len(word)) if font.getlength(word[:i]) <= width_px), default=1)
            pieces.append(word[:cut])
            word = word[cut:]
        for piece in [*pieces, word]:
            if lines and font.getlength(f"{lines[-1]} {piece}") <= width_px:
                lines[-1] = f"{lines[-1]} {piece}"
            else:
                lines.append(piece)
    return lines


def fit_title(text: str, width_px: int, *, max_lines: int = TITLE_MAX_LINES,
              sizes: tuple[int, ...] = TITLE_SIZES_PX) -> tuple[int, list[str]]:
    """(font size px, lines): the largest size at which `text` wraps into `max_lines` lines of at most
    `width_px`; at the smallest size, lines past the last are dropped and the last ends with "…"."""
    text = " ".join(text.split()) or "—"
    for size in sizes:
        lines = wrap(text, _font(size), width_px)
        if len(lines) <= max_lines:
            return size, lines
    size = sizes[-1]
    font = _font(size)
    lines = wrap(text, font, width_px)[:max_lines]
    last = lines[-1]
    while last and font.getlength(last + " …") > width_px:
        # drop whole words while there are several, characters of a lone word
        last = last.rsplit(" ", 1)[0] if " " in last else last[:-1]
    lines[-1] = (last + " …").strip()
    return size, lines


def title_overlay(text: str, fmt: VideoFormat, path: str | Path) -> tuple[int, int]:
    """Write the title band (RGBA PNG, frame width) to `path`; returns (band height px, font size px)."""
    size, lines = fit_title(text, fmt.text_width_px - 2 * TITLE_PAD_PX)
    font = _font(size)
    ascent, descent = font.getmetrics()
    line_px = int((ascent + descent) * 1.15)
    height = line_px * len(lines) + 2 * TITLE_PAD_PX
    band = Image.new("RGBA", (fmt.width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(band)
    draw.rounded_rectangle((fmt.margin_x_px, 0, fmt.width - fmt.margin_x_px, height - 1), radius=18,
                           fill=(0, 0, 0, 150))
    for i, line in enumerate(lines):
        x = (fmt.width - font.getlength(line)) / 2
        draw.text((x, TITLE_PAD_PX + i * line_px), line, font=font, fill=(255, 255, 255, 255))
    band.save(str(path), "PNG")
    return height, size


def _ass_time(seconds: float) -> str:
    centis = int(round(max(0.0, seconds) * 100))
    h, rest = divmod(centis, 360000)
    m, rest = divmod(rest, 6000)
    s, cs = divmod(rest, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"


def _ass_text(text: str) -> str:
    # ASS reads {…} as override tags and \N, \n, \h as breaks: cue text must not carry either
    text = re.sub(r"<[^>]*>", "", text)  # WebVTT voice/class/timestamp tags
    text = text.replace("\\", "\u29f5").replace("{", "(").replace("}", ")")
    return "\\N".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def captions_ass(vtt_text: str, fmt: VideoFormat) -> str:
    """An ASS script of the WebVTT cues, sized in the frame's pixels: white text on a dark box,
    wrapped between the side margins, its bottom line just above the waveform. Raises
    VideoLayoutError when the text is not WebVTT."""
    try:
        cues = webvtt.from_buffer(io.StringIO(vtt_text)).captions
    except Exception as exc:  # webvtt-py raises its own MalformedFileError/MalformedCaptionError
        raise VideoLayoutError(f"Bản chép lời WebVTT không đọc được (unreadable WebVTT): {exc}") from None
    margin_v = fmt.height - fmt.wave_top_px + 24
    header = "\n".join([
        "[Script Info]", "ScriptType: v4.00+", f"PlayResX: {fmt.width}", f"PlayResY: {fmt.height}",
        "WrapStyle: 0", "ScaledBorderAndShadow: yes", "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
        "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
        "Alignment, MarginL, MarginR, MarginV, Encoding",
        f"Style: Caption,{CAPTION_FONT_NAME},{CAPTION_SIZE_PX},&H00FFFFFF,&H00FFFFFF,&H80000000,&H80000000,"
        f"0,0,0,0,100,100,0,0,3,10,0,2,{fmt.margin_x_px},{fmt.margin_x_px},{margin_v},1",
        "", "[Events]", "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text"])
    events = []
    for cue in cues:
        # `start_in_seconds` is whole seconds in webvtt-py 0.6; the milliseconds keep cue timing exact
        start, end = cue.start_time.in_milliseconds() / 1000, cue.end_time.in_milliseconds() / 1000
        if end > start and cue.text.strip():
            events.append(f"Dialogue: 0,{_ass_time(start)},{_ass_time(end)},Caption,,0,0,0,,{_ass_text(cue.text)}")
    return header + "\n" + "\n".join(events) + "\n"


BACKGROUND_RGB = (11, 83, 148)   # the site's blue


def plain_background(path: Path, size_px: int = 1080) -> Path:
    """A square background in the site's blue (PNG at `path`), for books without a cover."""
    Image.new("RGB", (size_px, size_px), BACKGROUND_RGB).save(path, "PNG")
    return path
