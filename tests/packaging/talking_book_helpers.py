"""Generated narration for the talking-book tests: chapters of tone bursts ("sentences") separated
by silence, so every sentence's start and end are known, encoded to MP3 with the project's runner."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf

from delivery.talking_book import TalkingBook, TalkingChapter, TimedSentence
from delivery import encoders
from delivery.ffmpeg import probe, run

RATE = 22050
EPUBCHECK_JAR = Path("/usr/share/java/epubcheck.jar")
# (chapter title, paragraphs of (sentence text, seconds of speech)); 0.4 s lead-in, 0.3 s pauses
CHAPTERS = (
    ("Chương 1: Làng quê", [[("Làng tôi ở ven sông.", 1.2), ("Mùa nước, thuyền đi khắp nơi.", 1.5)],
                           [("Ông nói: “Con ơi, về đi!”", 1.1)]]),
    ("Chương 2: Đêm trăng & gió", [[("Trăng lên cao.", 0.8), ("Gió thổi < 3 m/s.", 1.0)],
                                  [("Hết chương.", 0.6)]]),
)
LEAD_IN_S = 0.4
PAUSE_S = 0.3
TAIL_S = 0.5


def sentence_times() -> list[list[tuple[float, float]]]:
    """Per chapter, (start, end) in seconds of every sentence in reading order."""
    out = []
    for _title, paragraphs in CHAPTERS:
        t, times = LEAD_IN_S, []
        for para in paragraphs:
            for _text, seconds in para:
                times.append((t, t + seconds))
                t += seconds + PAUSE_S
        out.append(times)
    return out


def chapter_audio(times: list[tuple[float, float]], freq: float) -> np.ndarray:
    end = times[-1][1] + TAIL_S
    x = np.zeros(int(round(end * RATE)), dtype=np.float32)
    for start, stop in times:
        a, b = int(round(start * RATE)), int(round(stop * RATE))
        t = np.arange(b - a) / RATE
        x[a:b] = 0.3 * np.sin(2 * np.pi * freq * t)
    return x[:, None]


def make_mp3s(folder: Path) -> list[tuple[Path, float]]:
    """(MP3 path, its duration) per chapter, written into `folder`."""
    out = []
    for n, times in enumerate(sentence_times(), start=1):
        wav, mp3 = folder / f"ch{n}.wav", folder / f"ch{n}.mp3"
        sf.write(str(wav), chapter_audio(times, 200.0 + 100 * n), RATE)
        run(encoders.mp3(wav, mp3, bitrate_kbps=64, sample_rate_hz=RATE, channels=1), 60)
        out.append((mp3, float(probe(mp3)["format"]["duration"])))
    return out


def make_book(mp3s: list[tuple[Path, float]], *, full_text: bool = True, cover: bytes | None = None) -> TalkingBook:
    chapters = []
    for (title, paragraphs), times, (mp3, duration) in zip(CHAPTERS, sentence_times(), mp3s):
        sentences, i = [], 0
        for p, para in enumerate(paragraphs, start=1):
            for text, _seconds in para:
                start, end = times[i] if full_text else (None, None)
                i += 1
                sentences.append(TimedSentence(i, p, text, start, end))
        chapters.append(TalkingChapter(title, mp3, duration, tuple(sentences) if full_text else ()))
    return TalkingBook(identifier="urn:uuid:0b6b7a4e-3c55-4f39-9d0e-1a2b3c4d5e6f", title="Tắt đèn & ánh trăng",
                       language="vi", authors=("Ngô Tất Tố",), narrators=("Nguyễn Thị Hoà",),
                       publisher="Thư viện tỉnh", date="2026-01-15",
                       modified=dt.datetime(2026, 12, 6, 8, 0, 0), chapters=tuple(chapters),
                       summary="Tiểu thuyết <hiện thực>", cover=cover, cover_type="image/jpeg" if cover else "")


def epubcheck(path: Path) -> list[dict]:
    """epubcheck's messages (JSON report) for the EPUB at `path`."""
    proc = subprocess.run(["java", "-jar", str(EPUBCHECK_JAR), str(path), "--json", "-"],
                          capture_output=True, text=True, timeout=300)
    start = proc.stdout.find("{")
    report = json.loads(proc.stdout[start:])
    return report["messages"]


def unzip(path: Path, dst: Path) -> Path:
    if dst.exists():
        shutil.rmtree(dst)
    with zipfile.ZipFile(path) as zf:
        zf.extractall(dst)
    return dst
