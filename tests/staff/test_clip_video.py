"""Promotion clip video (issue 16.18): captions from the clip's WebVTT are burnt in, and a 1080×1920
story version exists beside the square one. The layout itself: tests/delivery/test_video.py."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from catalog.models import Clip
from delivery.ffmpeg import probe
from delivery.video import FORMATS
from test_clips import make_clip

LONG_TITLE = ("Sơn Tinh, Thủy Tinh và cuộc giao tranh muôn đời của núi với nước trong truyền thuyết "
              "Việt Nam thời Hùng Vương thứ mười tám — bản đọc đầy đủ cho thiếu nhi")


def _frame(path, at_s: float, tmp_path, name: str) -> np.ndarray:
    png = tmp_path / f"{name}.png"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-ss", f"{at_s}", "-i", str(path),
                    "-frames:v", "1", str(png)], check=True, timeout=60)
    return np.asarray(Image.open(png).convert("L"), dtype=np.int16)


@pytest.mark.slow
def test_clip_has_a_story_video_with_captions_burnt_in(login, app, published_book, tmp_path):
    staff = login("lib1")
    vtt = "WEBVTT\n\n00:00.000 --> 00:02.000\nTrăm năm trong cõi người ta, chữ tài chữ mệnh khéo là ghét nhau\n"
    assert make_clip(staff, published_book, title=LONG_TITLE, transcript_vtt=vtt).status_code == 302
    services = app.extensions["sachnoi"]
    with services.sessions() as s:
        clip = s.scalars(select(Clip)).one()
        uuid, square = clip.uuid, services.store.path(clip.mp4_key)
    story = services.store.path(f"derived/clips/{uuid}/clip-story.mp4")
    for path, size in ((square, (1080, 1080)), (story, (1080, 1920))):
        video = next(st for st in probe(path)["streams"] if st["codec_type"] == "video")
        assert (video["width"], video["height"]) == size
        fmt = FORMATS["square" if size[0] == size[1] else "story"]
        during, after = _frame(path, 1.0, tmp_path, "during"), _frame(path, 3.0, tmp_path, "after")
        # captions sit just above the waveform while the cue lasts, and are gone after it
        band = slice(fmt.wave_top_px - 260, fmt.wave_top_px - 20)
        assert np.abs(during[band] - after[band]).mean() > 3.0
        assert np.abs(during[:fmt.safe_top_px - 10] - after[:fmt.safe_top_px - 10]).mean() < 1.0
    anonymous = app.test_client()
    assert anonymous.get(f"/clips/{uuid}/clip-story.mp4").status_code == 404  # not published
    page = staff.get(f"/clips/{clip.id}/edit").get_data(as_text=True)
    assert f"/clips/{uuid}/clip-story.mp4" in page
    assert staff.get(f"/clips/{uuid}/clip-story.mp4").data == story.read_bytes()
