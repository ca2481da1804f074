"""ffmetadata escaping (issue 14.10): hostile chapter titles never add or cut chapters in the M4B.

Attack: metadata injection into ffmpeg's ffmetadata file. ffmpeg's reader ends a line at CR as well
as LF and stops a line at NUL, so a chapter title with `\\r[CHAPTER]\\rSTART=…` used to add chapters
of the attacker's choosing, and `A\\rB` or `N\\0UL` lost the rest of the title. Chapters are read
back from the built file with ffprobe and with mutagen (the Nero chapter list).
"""
from __future__ import annotations

import json
import subprocess

import numpy as np
import soundfile as sf
from mutagen.mp4 import MP4

from delivery import encoders
from delivery.ffmpeg import run

INJECTED = "\r[CHAPTER]\rTIMEBASE=1/1000\rSTART=100\rEND=200\rtitle=evil"
TITLES = ["Chương 1\rhai", "Chương 2\nba", "a = b; c # d \\ e", "N\x00UL", "T\tab\x0b\x0c\x1b[31m\x7f\x85x",
          INJECTED, "\r\n", "Chương cuối\r"]


def test_control_characters_and_specials_never_add_chapters(tmp_path):
    src = tmp_path / "a.flac"
    t = np.arange(44100 * len(TITLES)) / 44100
    sf.write(str(src), (0.2 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 44100, format="FLAC")
    (tmp_path / "list.txt").write_text(encoders.concat_list([src]))
    chapters = [(title, float(i), float(i + 1)) for i, title in enumerate(TITLES)]
    (tmp_path / "meta.txt").write_text(encoders.ffmetadata(chapters, title="Sách\r[CHAPTER]\x00"), newline="")
    m4b = tmp_path / "a.m4b"
    run(encoders.m4b(tmp_path / "list.txt", tmp_path / "meta.txt", m4b, bitrate_bps=64000, channels=1,
                     sample_rate_hz=44100), 60)

    probed = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_chapters", "-show_format", "-of", "json",
                                        str(m4b)], capture_output=True, text=True, check=True).stdout)
    got = [(round(float(c["start_time"]), 2), c["tags"]["title"]) for c in probed["chapters"]]
    # Line breaks and the specials survive as text; other control characters become a space.
    expected = [(float(i), title.replace("\x00", " ").replace("\x0b", " ").replace("\x0c", " ")
                 .replace("\x1b", " ").replace("\x7f", " ").replace("\x85", " ")) for i, title in enumerate(TITLES)]
    assert got == expected
    assert probed["format"]["tags"]["title"] == "Sách\r[CHAPTER] "
    nero = [(round(c.start, 2), c.title) for c in MP4(str(m4b)).chapters]
    assert nero == expected


def test_every_control_character_is_escaped_or_replaced():
    """No raw control character except tab reaches the file inside a value (each would be read as
    a line end, a line stop or garbage)."""
    every = "".join(chr(c) for c in [*range(0x20), *range(0x7f, 0xa0)])
    text = encoders.ffmetadata([(every, 0.0, 1.0)])
    value = text.split("title=", 1)[1][:-1]
    raw = [ch for i, ch in enumerate(value) if (ord(ch) < 0x20 or 0x7f <= ord(ch) < 0xa0) and ch != "\t"
           and not (i > 0 and value[i - 1] == "\\")]
    assert raw == []
    assert len(text.splitlines()) == 6 + 2  # header, [CHAPTER], 4 lines, and the escaped LF and CR
