"""Promotion clip video layout (issue 16.18): the title is laid out inside the safe area (wrapped,
shrunk, never cropped) and captions from the clip's WebVTT become ASS that cannot inject tags.
The rendered clip (story and square MP4 with captions) is tested in tests/staff/test_clip_video.py."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest
from PIL import Image

from delivery.encoders import filter_path
from delivery.video import FORMATS, TITLE_PAD_PX, captions_ass, fit_title, title_overlay, _font

LONG_TITLE = ("Sơn Tinh, Thủy Tinh và cuộc giao tranh muôn đời của núi với nước trong truyền thuyết "
              "Việt Nam thời Hùng Vương thứ mười tám — bản đọc đầy đủ cho thiếu nhi")


@pytest.mark.parametrize("fmt", list(FORMATS.values()), ids=list(FORMATS))
def test_a_long_title_wraps_and_shrinks_inside_the_safe_area(fmt, tmp_path):
    """The old drawtext line (54 px, one line) ran off both edges of the frame for this title."""
    size, lines = fit_title(LONG_TITLE, fmt.text_width_px - 2 * TITLE_PAD_PX)
    assert 1 < len(lines) <= 3 and size < 72
    font = _font(size)
    assert all(font.getlength(line) <= fmt.text_width_px - 2 * TITLE_PAD_PX for line in lines)
    assert " ".join(lines).replace(" …", "") in LONG_TITLE  # words kept in order, nothing invented
    height, _size = title_overlay(LONG_TITLE, fmt, tmp_path / "t.png")
    band = np.asarray(Image.open(tmp_path / "t.png"))
    white = np.argwhere((band[..., :3] > 200).all(axis=2) & (band[..., 3] > 200))
    assert white[:, 1].min() >= fmt.margin_x_px and white[:, 1].max() < fmt.width - fmt.margin_x_px
    assert fmt.safe_top_px + height < fmt.wave_top_px  # the band ends above the waveform
    short_size, short_lines = fit_title("Tấm Cám", fmt.text_width_px)
    assert (short_size, short_lines) == (72, ["Tấm Cám"])


def test_a_title_of_one_endless_word_is_broken_and_ends_with_an_ellipsis():
    size, lines = fit_title("A" * 400, 900)
    assert len(lines) == 3 and lines[-1].endswith("…") and size == 36


def test_captions_are_sized_in_frame_pixels_and_cannot_inject_ass_tags():
    vtt = ("WEBVTT\n\n00:00.500 --> 00:02.250\n<v Người đọc>Trăm năm {\\b1}trong\\N cõi người ta\n\n"
           "00:03.000 --> 00:03.000\nempty cue\n")
    ass = captions_ass(vtt, FORMATS["story"])
    assert "PlayResX: 1080" in ass and "PlayResY: 1920" in ass
    (event,) = [line for line in ass.splitlines() if line.startswith("Dialogue:")]
    assert event.startswith("Dialogue: 0,0:00:00.50,0:00:02.25,Caption")
    assert "{" not in event and "\\N" not in event.split(",,", 1)[1] and "Trăm năm" in event


def test_filter_path_survives_quotes_colons_and_brackets(tmp_path):
    odd = tmp_path / "it's: [a],b;c.ass"
    odd.write_text(captions_ass("WEBVTT\n\n00:00.000 --> 00:01.000\nxin chào\n", FORMATS["square"]),
                   encoding="utf-8")
    out = tmp_path / "o.png"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=black:s=320x320:d=1", "-vf", f"subtitles=filename={filter_path(odd)}",
                    "-frames:v", "1", str(out)], check=True, timeout=60)
    assert out.stat().st_size > 0
