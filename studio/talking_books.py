"""Talking books of a packaged title: EPUB 3 with Media Overlays and DAISY 2.02, each one file
under `derived/books/<uuid>/talking/` with a `Rendition` row (kind "epub3" / "daisy202").

Reads the book, its chapters, the chapter MP3s the package stage wrote (kind "mp3") and the
newest manuscript's read-along view (catalog.manuscripts.read_along); the writers in `delivery`
do the rest. With timed sentences the books are full text and audio; otherwise audio-only with
navigation by chapter. Nothing is rewritten when its sources did not change (source hash on the
row), and no file work happens inside a write transaction. Run by the package stage for titles
that offer accessible copies (catalog.talking_books.offered), by the "talking_book" job, or by
staff on demand (`sachnoi talking-book BOOK_ID`). A new manuscript or a new alignment changes the
text they carry: `queue_rebuild` queues the job then (found in QA: the books went stale).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sqlalchemy import select

from catalog import talking_books
from catalog.db import read_only_session, session_scope
from catalog.manuscripts import read_along
from catalog.models import Book, Chapter, Job, Rendition
from catalog.states import JobState
from catalog.opds import LANGUAGE_BCP47
from delivery import daisy, epub3
from delivery.ffmpeg import FFmpegError, probe
from delivery.talking_book import TalkingBook, TalkingBookError, TalkingChapter, TimedSentence
from recordings.errors import RecordingsError
from recordings.store import MediaStore, sha256_file
from studio import jobs
from studio.context import Context
from studio.errors import StudioError

JOB_KIND = "talking_book"
WRITER_VERSION = "1"   # bump when the writers' output changes, to rebuild every talking book
WRITERS: dict[str, Callable[[TalkingBook, Path], None]] = {
    "epub3": epub3.write_epub, "daisy202": daisy.write_daisy_zip}


class TalkingBookFailed(StudioError):
    """The talking books could not be made; the message names the cause (Vietnamese, then English)."""


@dataclass
class TalkingBookResult:
    written: list[str] = field(default_factory=list)     # media-store keys
    unchanged: list[str] = field(default_factory=list)
    full_text: bool = False
    left_out: list[str] = field(default_factory=list)    # manuscript sections with no audio chapter
    message: str = ""                                    # says so (Vietnamese, then English)


def _sentences(chapter: Chapter, read: dict[int, list]) -> tuple[TimedSentence, ...]:
    """The chapter's manuscript sentences with times in the chapter (s), renumbered when several
    sections were aligned to the same chapter."""
    out, position, paragraph_base = [], 0, 0
    for section in read.get(chapter.id, []):
        last = 0
        for s in section.sentences:
            position += 1
            start = None if s.start_s is None else s.start_s - section.start_s
            end = None if s.end_s is None else s.end_s - section.start_s
            out.append(TimedSentence(position, paragraph_base + s.paragraph, s.text, start, end))
            last = max(last, s.paragraph)
        paragraph_base += last
    return tuple(out)


def left_out_message(titles: list[str]) -> str:
    """What staff read when manuscript sections had no audio chapter and so are not in the books."""
    if not titles:
        return ""
    names = "; ".join(titles)
    return (f"{len(titles)} phần của bản thảo không có chương âm thanh nên không có trong sách nói: {names} "
            f"({len(titles)} manuscript sections have no audio chapter and are left out of the talking books)")


def _load(db, store: MediaStore, book_id: int) -> tuple[Book, TalkingBook, str, list[str]]:
    """(book, what the writers take, hash of every source, titles of the manuscript sections left out
    for want of an audio chapter) for a packaged book."""
    book = db.get(Book, book_id)
    if book is None:
        raise TalkingBookFailed(f"Không có sách id={book_id} (no book with id {book_id})")
    mp3s = {r.chapter_id: r for r in book.renditions if r.kind == "mp3" and r.chapter_id}
    chapters = sorted(book.chapters, key=lambda c: c.position)
    missing = [c.position for c in chapters if c.id not in mp3s]
    if not chapters or missing:
        raise TalkingBookFailed("Sách chưa được đóng gói đủ tệp MP3 theo chương; hãy chạy bước đóng gói trước "
                                f"(package the book first: chapters without MP3 {missing or 'all'})")
    read: dict[int, list] = {}
    left_out = []
    for section in read_along(db, book_id) or []:
        if section.chapter_id is not None:
            read.setdefault(section.chapter_id, []).append(section)
        elif section.sentences:  # found in QA: these were dropped without a word
            left_out.append(section.title or f"#{section.position}")
    talking_chapters = []
    for chapter in chapters:
        try:
            path = store.path(mp3s[chapter.id].key)
            duration = float(probe(path)["format"]["duration"])
        except (RecordingsError, FFmpegError, KeyError, ValueError) as exc:
            raise TalkingBookFailed(f"Chương {chapter.position}: không đọc được MP3 (unreadable MP3): {exc}") from exc
        talking_chapters.append(TalkingChapter(chapter.title or f"Chương {chapter.position}", path, duration,
                                               _sentences(chapter, read)))
    cover = next((r for r in book.renditions if r.kind == "cover"), None)
    cover_bytes = store.read_bytes(cover.key) if cover is not None and store.exists(cover.key) else None
    names = {role: tuple(c.contributor.name for c in sorted(book.credits, key=lambda c: c.position) if c.role == role)
             for role in ("aut", "nrt")}
    # the work's year, else the day the record was made: stable when the title is published later
    date = str(book.year) if book.year else book.created_at.strftime("%Y-%m-%d")
    talking = TalkingBook(
        identifier=f"urn:uuid:{book.uuid}", title=book.title, language=LANGUAGE_BCP47.get(book.language, book.language),
        authors=names["aut"], narrators=names["nrt"], publisher=book.publisher or book.library.name, date=date,
        modified=book.updated_at, chapters=tuple(talking_chapters), summary=book.summary,
        cover=cover_bytes, cover_type=(cover.codec if cover is not None else ""))
    source = hashlib.sha256(json.dumps({
        "version": WRITER_VERSION,
        "book": [talking.identifier, talking.title, talking.language, talking.authors, talking.narrators,
                 talking.publisher, talking.date, talking.summary],  # not `modified`: it moves with any edit
        "cover": cover.sha256 if cover is not None else "",
        "chapters": [[c.title, mp3s[ch.id].sha256, round(c.duration_s, 6),
                      [[s.position, s.paragraph, s.text, s.start_s, s.end_s] for s in c.sentences]]
                     for ch, c in zip(chapters, talking_chapters)],
    }, ensure_ascii=False).encode()).hexdigest()
    return book, talking, source, left_out


def build_talking_books(session_factory, store: MediaStore, book_id: int, *,
                        kinds: tuple[str, ...] = tuple(talking_books.KINDS),
                        progress: Callable[[float], None] = lambda _f: None) -> TalkingBookResult:
    """Write the talking books of `kinds` for a packaged book; returns what was written or kept."""
    unknown = [k for k in kinds if k not in WRITERS]
    if unknown:
        raise TalkingBookFailed(f"Loại sách nói không có (unknown talking-book kind): {', '.join(unknown)}")
    db = read_only_session(session_factory)
    try:
        book, talking, source, left_out = _load(db, store, book_id)
        uuid = book.uuid
        current = {r.kind: r for r in book.renditions if r.kind in kinds}
        fresh = {k for k, r in current.items() if r.source_sha256 == source and store.exists(r.key)}
    finally:
        db.close()
    result = TalkingBookResult(full_text=talking.has_text, left_out=left_out, message=left_out_message(left_out))
    for i, kind in enumerate(kinds):
        key = talking_books.key(uuid, talking_books.KINDS[kind])
        if kind in fresh:
            result.unchanged.append(key)
            continue
        try:
            with store.atomic_path(key) as tmp:
                WRITERS[kind](talking, Path(tmp))
        except TalkingBookError as exc:
            raise TalkingBookFailed(str(exc)) from exc
        path = store.path(key)
        _record(session_factory, book_id, kind, key, source, talking, sha256_file(path), path.stat().st_size)
        result.written.append(key)
        progress((i + 1) / len(kinds))
    return result


def _record(session_factory, book_id: int, kind: str, key: str, source: str, talking: TalkingBook,
            sha: str, size: int) -> None:
    with session_scope(session_factory) as db:
        row = db.execute(select(Rendition).where(Rendition.book_id == book_id, Rendition.kind == kind,
                                                 Rendition.chapter_id.is_(None))).scalars().first()
        if row is None:
            row = Rendition(book_id=book_id, kind=kind, key=key)
            db.add(row)
        row.name = talking_books.FULL_TEXT if talking.has_text else talking_books.AUDIO_ONLY
        row.key, row.source_sha256, row.sha256, row.size_bytes = key, source, sha, size
        row.codec, row.channels, row.bitrate = "zip", 0, 0
        row.duration_s = talking.duration_s


def queue_rebuild(ctx: Context, book_id: int) -> int | None:
    """Queue a "talking_book" job for a packaged title that offers talking books or already has
    some, since its manuscript or alignment changed; the id of the job (one already waiting is
    reused), or None when the title has none to rebuild."""
    with ctx.sessions() as db:
        book = db.get(Book, book_id)
        if book is None or not any(r.kind == "mp3" for r in book.renditions):
            return None
        if not (talking_books.offered(book) or talking_books.available(book)):
            return None
        waiting = db.scalar(select(Job.id).where(Job.book_id == book_id, Job.kind == JOB_KIND,
                                                 Job.state == JobState.QUEUED).limit(1))
    if waiting is not None:
        return waiting  # it reads the manuscript when it runs
    return jobs.enqueue(ctx.sessions, JOB_KIND, book_id=book_id, payload={"kinds": []},
                        max_attempts=ctx.settings.job_max_attempts,
                        message="Chờ tạo lại sách nói (talking books to rebuild)")
