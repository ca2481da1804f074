"""Manuscripts: the book's text in sections, paragraphs and sentences, and its read-along view.

The shapes every other part of issue 20 builds on: parsing (`studio`) stores `ParsedSection`s with
`store_parsed`; alignment fills `Sentence.start_s/end_s/confidence`; the player, EPUB 3 Media
Overlays and DAISY read `read_along(db, book_id)`, where times are seconds of the *book*
(chapter start + time in the chapter master).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.models import Chapter, Manuscript, ManuscriptSection, Sentence
from catalog.text import fold, nfc


@dataclass(frozen=True)
class ParsedSection:
    """One section as parsed: its heading and its paragraphs, each a list of sentences (NFC)."""
    title: str
    paragraphs: list[list[str]]


@dataclass(frozen=True)
class ReadAlongSentence:
    id: int
    position: int  # 1-based within the chapter
    paragraph: int  # 1-based within the chapter
    text: str
    start_s: float | None  # seconds of the book; None when the sentence was not found in the audio
    end_s: float | None
    confidence: float | None  # 0..1


@dataclass(frozen=True)
class ReadAlongChapter:
    chapter_id: int | None  # the audio chapter the section was aligned to
    position: int  # the section's 1-based position
    title: str
    start_s: float  # where the chapter starts in the book (s); 0.0 when it has no chapter
    duration_s: float
    sentences: list[ReadAlongSentence]


def current(db: Session, book_id: int) -> Manuscript | None:
    """The book's newest manuscript, or None."""
    return db.scalars(select(Manuscript).where(Manuscript.book_id == book_id)
                      .order_by(Manuscript.id.desc()).limit(1)).first()


def store_parsed(db: Session, book_id: int, sections: list[ParsedSection], *, filename: str = "",
                 format: str = "text", source_sha256: str = "", session_id: int | None = None) -> Manuscript:
    """Add a manuscript with its sections and sentences (flushed, not committed)."""
    manuscript = Manuscript(book_id=book_id, session_id=session_id, filename=nfc(filename), format=format,
                            source_sha256=source_sha256, state="parsed")
    for s_pos, parsed in enumerate(sections, start=1):
        section = ManuscriptSection(position=s_pos, title=nfc(parsed.title))
        position = 0
        for p_pos, paragraph in enumerate(parsed.paragraphs, start=1):
            for text in paragraph:
                position += 1
                section.sentences.append(Sentence(position=position, paragraph=p_pos, text=nfc(text),
                                                  text_folded=fold(text)))
        manuscript.sections.append(section)
    db.add(manuscript)
    db.flush()
    return manuscript


def read_along(db: Session, book_id: int) -> list[ReadAlongChapter] | None:
    """The newest manuscript of the book as chapters of timed sentences, or None without one.

    Sentences are read as plain rows in one query (a 10-hour book has about 9,000: loading them as
    ORM objects section by section took ten times as long, benchmarks/bench_readalong.py)."""
    manuscript = current(db, book_id)
    if manuscript is None:
        return None
    chapters = {c.id: c for c in db.scalars(select(Chapter).where(Chapter.book_id == book_id))}
    rows = db.execute(
        select(Sentence.section_id, Sentence.id, Sentence.position, Sentence.paragraph, Sentence.text,
               Sentence.start_s, Sentence.end_s, Sentence.confidence)
        .join(ManuscriptSection, ManuscriptSection.id == Sentence.section_id)
        .where(ManuscriptSection.manuscript_id == manuscript.id)
        .order_by(ManuscriptSection.position, Sentence.position)).all()
    by_section: dict[int, list] = {}
    for row in rows:
        by_section.setdefault(row.section_id, []).append(row)
    out = []
    for section in manuscript.sections:
        chapter = chapters.get(section.chapter_id) if section.chapter_id else None
        offset = chapter.start_s if chapter else 0.0
        out.append(ReadAlongChapter(
            chapter_id=chapter.id if chapter else None, position=section.position, title=section.title,
            start_s=offset, duration_s=chapter.duration_s if chapter else 0.0,
            sentences=[ReadAlongSentence(
                id=s.id, position=s.position, paragraph=s.paragraph, text=s.text,
                start_s=None if s.start_s is None else offset + s.start_s,
                end_s=None if s.end_s is None else offset + s.end_s, confidence=s.confidence)
                for s in by_section.get(section.id, [])]))
    return out
