"""Narration QC as staff work with it: attach a manuscript, follow its alignment, the retake list,
a person's decision on each finding, and chapter marks proposed from the manuscript's headings.

Parsing and alignment live in `studio.manuscript_formats`, `studio.manuscripts` and `studio.align`;
alignment (and the detection that fills `Sentence.issue`) runs as a job of kind `align` with payload
`{"manuscript_id": int}` (`studio.worker.enqueue_align`); this module queues it and reads its row.
Times: `Finding.at_s` and friends are seconds of the chapter MASTER; proposed marks are seconds of
the take (`Mark.start_s`), mapped back through the chapter's span, cuts and the mastering trim.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import BinaryIO

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from catalog.db import rowcount
from catalog.manuscripts import current
from catalog.access import may_manage
from catalog.states import JobState, Role
from catalog.models import Book, Chapter, Job, Manuscript, ManuscriptSection, Mark, RecordingSession, Sentence
from studio.context import Context
from studio.errors import N_, StudioError
from studio.manuscript_formats import FORMATS, MAX_BYTES, ManuscriptError
from studio.manuscripts import attach_manuscript
from studio.pipeline import chapter_spans
from studio.worker import enqueue_align

ALIGN_JOB = "align"
KINDS = {"skipped": "Bỏ sót câu", "repeated": "Đọc lặp", "low_confidence": "Độ tin cậy thấp"}
DECISIONS = {"": "Chưa quyết định", "accepted": "Chấp nhận", "rerecord": "Cần thu lại"}
STATES = {"parsed": "Đã tách câu", "aligning": "Đang căn chỉnh", "aligned": "Đã căn chỉnh", "failed": "Lỗi"}
PLAY_MARGIN_S = 1.0  # listen a little before and after a finding
PROPOSAL_LEAD_S = 0.5  # a proposed boundary sits this far after the previous section's last word
SAME_MARK_S = 2.0  # an existing chapter mark this close to a proposal already is that boundary


class NarrationError(StudioError):
    """A manuscript or a decision that cannot be taken; the message says why (Vietnamese, then English)."""


class NotAllowed(NarrationError):
    """The user may not decide on this book's findings."""


# -- attach ---------------------------------------------------------------------------------------
def attach_and_queue(ctx: Context, book_id: int, stream: BinaryIO, filename: str, *,
                     session_id: int | None = None) -> int:
    """Parse an uploaded manuscript (EPUB, DOCX, Markdown or text), keep the file as an original,
    store its sentences and queue its alignment; returns the manuscript id. Nothing is written when
    the file is refused."""
    suffix = PurePath(filename or "").suffix.lower()
    if suffix not in FORMATS:
        raise NarrationError(N_("Chưa đọc được loại tệp này: %(suffix)s; dùng .epub, .docx, .md hoặc .txt."),
                             suffix=suffix[:20] or "(không có đuôi)")
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise NarrationError(N_("Tệp bản thảo quá lớn (quá %(limit)s MB)."), limit=MAX_BYTES // 2**20)
    with ctx.sessions() as db:
        if db.get(Book, book_id) is None:
            raise NarrationError(N_("Không có sách này."))
        if session_id is not None:
            rec = db.get(RecordingSession, session_id)
            if rec is None or rec.book_id != book_id:
                raise NarrationError(N_("Buổi ghi âm không thuộc sách này."))
    with tempfile.TemporaryDirectory(prefix="manuscript-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            manuscript_id = attach_manuscript(ctx, book_id, path, session_id=session_id,
                                              filename=PurePath(filename).name[:500])
        except ManuscriptError as exc:
            raise NarrationError(str(exc).replace("upload" + suffix, PurePath(filename).name)) from None
    enqueue_align(ctx, book_id)
    return manuscript_id


# -- state ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ManuscriptStatus:
    manuscript_id: int
    filename: str
    state: str  # parsed | aligning | aligned | failed
    message: str
    progress_pct: float | None  # 0..100 while aligning
    sentences: int
    findings: int
    undecided: int
    job_id: int | None  # the newest align job of this manuscript
    left_out: list[str] = field(default_factory=list)  # aligned sections with no audio chapter (not in talking books)


def status(db: Session, book_id: int) -> ManuscriptStatus | None:
    """The book's newest manuscript and where its alignment is, from its row and its job's row."""
    manuscript = current(db, book_id)
    if manuscript is None:
        return None
    state, message, progress = manuscript.state, manuscript.message, None
    job = _align_job(db, manuscript)
    if manuscript.state == "parsed" and job is not None:
        if job.state in (JobState.QUEUED, JobState.RUNNING):
            state, message, progress = "aligning", job.message, float(job.progress or 0.0)
        elif job.state == JobState.FAILED:
            state, message = "failed", job.error.strip().splitlines()[-1] if job.error.strip() else job.message
    sentences = [s for section in manuscript.sections for s in section.sentences]
    found = [s for s in sentences if s.issue]
    left_out = [section.title or f"#{section.position}" for section in manuscript.sections
                if manuscript.state == "aligned" and section.chapter_id is None and section.sentences]
    return ManuscriptStatus(manuscript.id, manuscript.filename, state, message or "", progress, len(sentences),
                            len(found), sum(1 for s in found if not s.decision), job.id if job else None, left_out)


def _align_job(db: Session, manuscript: Manuscript) -> Job | None:
    rows = db.scalars(select(Job).where(Job.book_id == manuscript.book_id, Job.kind == ALIGN_JOB)
                      .order_by(Job.id.desc()).limit(20))
    return next((j for j in rows if (j.payload or {}).get("manuscript_id") == manuscript.id), None)


# -- the retake list ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    sentence_id: int
    chapter_id: int | None
    chapter_position: int | None
    chapter_title: str
    section_title: str
    kind: str  # skipped | repeated | low_confidence
    at_s: float | None  # chapter-master seconds where it happens (a skip: where the sentence belongs)
    repeat_at_s: float | None  # a repeat: where the second reading starts
    text: str  # what the narrator should read
    confidence: float | None
    decision: str  # "" | accepted | rerecord
    play_start_s: float | None
    play_end_s: float | None


def findings_per_chapter(db: Session, book_id: int) -> dict[int, int]:
    """{chapter id: number of findings nobody has decided on yet}."""
    counts: dict[int, int] = {}
    for f in findings(db, book_id):
        if f.chapter_id is not None and not f.decision:
            counts[f.chapter_id] = counts.get(f.chapter_id, 0) + 1
    return counts


def findings(db: Session, book_id: int, chapter_id: int | None = None) -> list[Finding]:
    """The newest manuscript's findings, in chapter then time order (one chapter when asked)."""
    manuscript = current(db, book_id)
    if manuscript is None:
        return []
    # keyed so that a section's chapter_id, None until it is aligned, finds nothing
    chapters: dict[int | None, Chapter] = {
        c.id: c for c in db.scalars(select(Chapter).where(Chapter.book_id == book_id))}
    out = []
    for section in manuscript.sections:
        if chapter_id is not None and section.chapter_id != chapter_id:
            continue
        chapter = chapters.get(section.chapter_id)
        previous_end = 0.0
        for s in section.sentences:
            if s.issue in KINDS:
                out.append(_finding(s, section, chapter, previous_end))
            if s.end_s is not None:
                previous_end = s.end_s
    return sorted(out, key=lambda f: (f.chapter_position or 10**9, f.at_s if f.at_s is not None else 0.0,
                                      f.sentence_id))


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _finding(s: Sentence, section: ManuscriptSection, chapter: Chapter | None, previous_end: float) -> Finding:
    detail = s.issue_detail or {}
    at_s = _number(detail.get("at_s"))
    if at_s is None:
        at_s = s.start_s if s.start_s is not None else (previous_end if chapter else None)
    repeat_at_s = _number(detail.get("repeat_at_s"))
    play_start = play_end = None
    if at_s is not None:
        length = (s.end_s - s.start_s) if s.start_s is not None and s.end_s is not None else 0.0
        last = max(at_s + length, (repeat_at_s + length) if repeat_at_s is not None else 0.0,
                   s.end_s if s.end_s is not None else 0.0)
        play_start, play_end = max(0.0, at_s - PLAY_MARGIN_S), last + PLAY_MARGIN_S
        if chapter is not None and chapter.duration_s:
            play_end = min(play_end, chapter.duration_s)
    return Finding(s.id, chapter.id if chapter else None, chapter.position if chapter else None,
                   chapter.title if chapter else "", section.title, s.issue, at_s, repeat_at_s, s.text,
                   s.confidence, s.decision or "", play_start, play_end)


def clock(seconds: float | None) -> str:
    """Seconds as h:mm:ss,s with the Vietnamese decimal comma: 75.34 → '0:01:15,3'; None → '—'."""
    if seconds is None:
        return "—"
    tenths = int(round(max(0.0, seconds) * 10))
    h, rest = divmod(tenths, 36000)
    m, rest = divmod(rest, 600)
    return f"{h}:{m:02d}:{rest // 10:02d},{rest % 10}"


# like the other exports (statistics), seconds and confidence stay machine-readable numbers; the
# header says so, since the page and the time columns write the Vietnamese decimal comma
RETAKE_HEADER = ("Chương", "Tên chương", "Thời điểm", "Giây (số, dấu chấm thập phân)", "Loại",
                 "Câu trong bản thảo", "Đọc lặp lúc", "Độ tin cậy (số 0–1, dấu chấm thập phân)", "Quyết định")


def retake_rows(items: list[Finding]) -> list[tuple]:
    """The retake list as spreadsheet rows (header first); pass them through `catalog.spreadsheet`."""
    rows: list[tuple] = [RETAKE_HEADER]
    for f in items:
        rows.append((f.chapter_position or "", f.chapter_title or f.section_title, clock(f.at_s),
                     "" if f.at_s is None else round(f.at_s, 2), KINDS[f.kind], f.text,
                     "" if f.repeat_at_s is None else clock(f.repeat_at_s),
                     "" if f.confidence is None else round(f.confidence, 2), DECISIONS[f.decision]))
    return rows


# -- decisions ------------------------------------------------------------------------------------
def may_decide(user, book: Book) -> bool:
    """Studio staff of the book's library, and admins."""
    if not getattr(user, "is_authenticated", False):
        return False
    return may_manage(user, book.library_id, roles=(Role.STUDIO,))


def decide(db: Session, user, sentence_id: int, decision: str) -> Sentence:
    """Record `decision` (accepted | rerecord, or "" to undo) on a finding; flushed, not committed."""
    if decision not in DECISIONS:
        raise NarrationError(N_("Quyết định không hợp lệ: %(decision)s"), decision=repr(decision))
    sentence = db.get(Sentence, sentence_id)
    if sentence is None:
        raise NarrationError(N_("Không có câu này."))
    book = db.get_one(Book, sentence.section.manuscript.book_id)
    if not may_decide(user, book):
        raise NotAllowed(N_("Chỉ nhân viên phòng thu của thư viện này được quyết định."))
    if not sentence.issue:
        raise NarrationError(N_("Câu này không có lỗi cần quyết định."))
    sentence.decision = decision
    db.flush()
    return sentence


# -- chapter proposals ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Proposal:
    section_position: int
    title: str
    take_id: int
    start_s: float  # seconds of the take
    chapter_id: int  # the chapter the section was aligned to


def proposals(db: Session, book_id: int) -> list[Proposal]:
    """Chapter starts the manuscript's headings call for and no chapter mark has yet.

    A section starts just after the last aligned sentence before it in the same chapter master
    (`PROPOSAL_LEAD_S` into the pause, where the heading is read); a section that opens its chapter
    already has its boundary. Master time goes back to take time by the chapter's span on its take,
    the mastering trim (`qc.processing.trim_head_s - pad_head_s`) and the cut ranges before it.
    """
    manuscript = current(db, book_id)
    if manuscript is None:
        return []
    chapters: dict[int | None, Chapter] = {
        c.id: c for c in db.scalars(select(Chapter).where(Chapter.book_id == book_id))}
    spans = chapter_spans(db, book_id)
    marks = db.scalars(select(Mark).where(Mark.book_id == book_id)).all()
    out = []
    previous_end: dict[int, float] = {}
    for section in manuscript.sections:
        chapter = chapters.get(section.chapter_id)
        timed = [(s.start_s, s.end_s) for s in section.sentences if s.start_s is not None and s.end_s is not None]
        if chapter is None or not timed:
            continue
        before = previous_end.get(chapter.id)
        previous_end[chapter.id] = max(end for _start, end in timed)
        if before is None or not 1 <= chapter.position <= len(spans):
            continue
        master_s = min(before + PROPOSAL_LEAD_S, (before + timed[0][0]) / 2)
        take, span_start, _end, _title, _mark = spans[chapter.position - 1]
        processing = (chapter.qc or {}).get("processing") or {}
        take_s = span_start + master_s + (_number(processing.get("trim_head_s")) or 0.0) \
            - (_number(processing.get("pad_head_s")) or 0.0)
        for cut_start, cut_end in sorted((m.start_s, m.end_s) for m in marks
                                         if m.kind == "cut" and m.take_id == take.id and m.end_s is not None):
            if cut_start <= take_s:
                take_s += cut_end - cut_start
        take_s = round(min(max(take_s, 0.0), take.duration_s), 3)
        if any(m.kind == "chapter" and m.take_id == take.id and m.source != "manuscript"
               and abs(m.start_s - take_s) < SAME_MARK_S for m in marks):
            continue
        out.append(Proposal(section.position, section.title or f"Phần {section.position}", take.id, take_s,
                            chapter.id))
    return out


def propose_chapter_marks(db: Session, book_id: int) -> list[Mark]:
    """Replace the book's manuscript-proposed chapter marks with fresh ones (unapproved, source
    "manuscript"), for staff to keep, move or delete in the chapter editor; flushed, not committed."""
    if current(db, book_id) is None:
        raise NarrationError(N_("Sách chưa có bản thảo."))
    found = proposals(db, book_id)
    removed = rowcount(db.execute(delete(Mark).where(Mark.book_id == book_id, Mark.source == "manuscript")))
    marks = [Mark(book_id=book_id, take_id=p.take_id, kind="chapter", start_s=p.start_s, title=p.title[:500],
                  source="manuscript", approved=False,
                  detail={"section": p.section_position, "chapter_id": p.chapter_id}) for p in found]
    db.add_all(marks)
    if marks or removed:
        for mark in db.scalars(select(Mark).where(Mark.book_id == book_id)):
            mark.approved = False  # a new boundary needs a person's approval of the whole set
    db.flush()
    return marks
