"""What the talking-book writers (EPUB 3 Media Overlays, DAISY 2.02) take: a book as plain values,
and the plan both of them follow to pair text with audio clips.

Times are seconds within the chapter's own audio file. A chapter with timed sentences is read
along sentence by sentence; one without is a single clip under its heading (audio-only).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

MIN_CLIP_S = 0.001        # shorter clips are dropped (players skip or choke on empty clips)
MIN_LEAD_IN_S = 0.1       # audio before the first sentence shorter than this joins that sentence
SENTENCE_ID = "s{}"       # ids in the content documents
PARAGRAPH_ID = "p{}"
HEADING_ID = "h"


class TalkingBookError(ValueError):
    """The book cannot be written as a talking book; the message says why."""


@dataclass(frozen=True)
class TimedSentence:
    position: int            # 1-based within the chapter
    paragraph: int           # 1-based within the chapter
    text: str                # NFC
    start_s: float | None    # seconds in the chapter's audio file; None when not found in the audio
    end_s: float | None


@dataclass(frozen=True)
class TalkingChapter:
    title: str
    audio: Path              # the chapter's MP3
    duration_s: float        # of that MP3
    sentences: tuple[TimedSentence, ...] = ()


@dataclass(frozen=True)
class TalkingBook:
    identifier: str          # e.g. "urn:uuid:…"
    title: str
    language: str            # BCP 47, e.g. "vi"
    authors: tuple[str, ...]
    narrators: tuple[str, ...]
    publisher: str
    date: str                # publication date, "YYYY" or "YYYY-MM-DD"
    modified: dt.datetime    # UTC
    chapters: tuple[TalkingChapter, ...]
    summary: str = ""
    cover: bytes | None = None
    cover_type: str = ""     # image/jpeg | image/png
    generator: str = "Sách Nói"

    @property
    def has_text(self) -> bool:
        """Whether any chapter is read along sentence by sentence (a full-text talking book)."""
        return any(s.start_s is not None for ch in self.chapters for s in ch.sentences)

    @property
    def duration_s(self) -> float:
        return sum(sum(p.end_s - p.begin_s for p in plan(ch)) for ch in self.chapters)


@dataclass(frozen=True)
class Par:
    """One text fragment and the audio clip read for it."""
    fragment: str            # id in the chapter's content document
    begin_s: float
    end_s: float


def check(book: TalkingBook) -> None:
    """Raise TalkingBookError for a book no writer should write."""
    if not book.chapters:
        raise TalkingBookError("Sách chưa có chương nào (the book has no chapters)")
    for n, ch in enumerate(book.chapters, start=1):
        if not ch.audio.is_file():
            raise TalkingBookError(f"Chương {n}: thiếu tệp âm thanh (missing audio) {ch.audio.name}")
        if not ch.duration_s > MIN_CLIP_S:
            raise TalkingBookError(f"Chương {n}: thời lượng không hợp lệ (bad duration) {ch.duration_s}")


def plan(chapter: TalkingChapter) -> list[Par]:
    """The chapter's pars in reading order, covering its audio from 0 to the end without gaps.

    Each timed sentence's clip runs from its start to the next timed sentence's start (the pause
    after a sentence belongs to it, so playback is continuous); the last one to the end of the file.
    Audio before the first sentence goes to the heading, or to the first sentence when it is
    shorter than MIN_LEAD_IN_S. Sentences not found in the audio, or found earlier than the one
    before them (a retake left in the wrong order), get no clip: their text stays in the document.
    """
    duration = chapter.duration_s
    timed: list[tuple[str, float]] = []
    for s in chapter.sentences:
        if s.start_s is None or not 0 <= s.start_s < duration:
            continue
        if timed and s.start_s <= timed[-1][1]:
            continue
        timed.append((SENTENCE_ID.format(s.position), s.start_s))
    if not timed:
        return [Par(HEADING_ID, 0.0, duration)]
    pars = []
    first = timed[0][1]
    if first >= MIN_LEAD_IN_S:
        pars.append(Par(HEADING_ID, 0.0, first))
    else:
        timed[0] = (timed[0][0], 0.0)
    for (fragment, start), nxt in zip(timed, [t for _, t in timed[1:]] + [duration]):
        if nxt - start >= MIN_CLIP_S:
            pars.append(Par(fragment, start, nxt))
    return pars


def paragraphs(chapter: TalkingChapter) -> list[tuple[int, list[TimedSentence]]]:
    """The chapter's sentences grouped by paragraph number, in order."""
    out: list[tuple[int, list[TimedSentence]]] = []
    for s in sorted(chapter.sentences, key=lambda s: s.position):
        if out and out[-1][0] == s.paragraph:
            out[-1][1].append(s)
        else:
            out.append((s.paragraph, [s]))
    return out


def clock(seconds: float) -> str:
    """A SMIL full clock value with milliseconds, e.g. 0:01:23.456."""
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h}:{m:02d}:{s:02d}.{ms:03d}"


def hms(seconds: float) -> str:
    """hh:mm:ss, rounded to the second (DAISY 2.02 ncc:totalTime and friends)."""
    total = round(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}:{s:02d}"
