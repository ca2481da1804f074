"""Manuscripts in production: attach the book's text (stored as an original, parsed into sentences)
and align it to the chapters' audio, filling each sentence's timing, confidence and narration-QC finding.

Which audio: the chapter's edit (`studio.pipeline.edit_key`: cut from its takes, before any
enhancement), so noise reduction and levelling never change what the aligner hears. Times are then
moved to the chapter master's timeline: mastering neither stretches nor resamples time, it only trims
or pads room tone at the head (`mastering.plan`: `trim_head_s`, `pad_head_s` in the QC report's
`processing`, the padding overlapped by one crossfade), so

    master time = edit time − trim_head_s + (pad_head_s − crossfade_s if pad_head_s else 0)

clipped to the master's length. When the edit is missing (media cleaned up), the master is used as is.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from sqlalchemy import select

from catalog.manuscripts import current, store_parsed
from catalog.models import Book, Chapter, Manuscript, Original, utcnow
from mastering.stages import FadeParams
from studio.align import AlignParams, align_text, features_of_file
from studio.context import Context
from studio.errors import N_
from studio.manuscript_formats import ManuscriptError, parse_manuscript
from studio.pipeline import edit_key
from studio.talking_books import queue_rebuild

Progress = Callable[[float], None]


def attach_manuscript(ctx: Context, book_id: int, path: str | Path, session_id: int | None = None,
                      filename: str | None = None) -> int:
    """Parse the file, then keep it as an original (by SHA-256) and store its sentences. Returns the
    manuscript id. A file that cannot be parsed raises ManuscriptError and nothing is stored."""
    path = Path(path)
    with ctx.sessions() as db:
        if db.get(Book, book_id) is None:
            raise ManuscriptError(N_("Không có sách #%(id)s."), id=book_id)
    fmt, sections = parse_manuscript(path)
    sha, _key = ctx.store.put_original(path)
    name = filename or path.name
    with ctx.sessions.begin() as db:
        if db.get(Original, sha) is None:  # so the fixity audit checks the manuscript too
            db.add(Original(sha256=sha, size_bytes=path.stat().st_size, filename=name[:500], format=fmt))
        manuscript = store_parsed(db, book_id, sections, filename=name, format=fmt, source_sha256=sha,
                                  session_id=session_id)
        manuscript_id = manuscript.id
    queue_rebuild(ctx, book_id)  # existing talking books carry the previous manuscript's text
    return manuscript_id


def master_offset_s(qc: dict | None) -> float:
    """Seconds to add to a time in the chapter's edit to land on the same sound in its master."""
    processing = (qc or {}).get("processing") or {}
    pad = float(processing.get("pad_head_s") or 0.0)
    trim = float(processing.get("trim_head_s") or 0.0)
    return (pad - FadeParams().crossfade_ms / 1000.0 if pad > 0 else 0.0) - trim


def align_book(ctx: Context, book_id: int, progress: Progress = lambda _f: None) -> dict:
    """Align the book's newest manuscript to its chapters, section i to chapter i, and queue the
    rebuild of its talking books (`studio.talking_books.queue_rebuild`). Returns a summary
    {"sentences", "aligned", "skipped", "repeated", "low_confidence", "sections", "chapters"}, plus
    "talking_book_job" when one was queued."""
    with ctx.sessions() as db:
        book = db.get(Book, book_id)
        if book is None:  # found in QA: "has no manuscript" for a book that does not exist
            raise ManuscriptError(N_("Không có sách #%(id)s."), id=book_id)
        manuscript = current(db, book_id)
        if manuscript is None:
            raise ManuscriptError(N_("Sách #%(id)s chưa có bản thảo."), id=book_id)
        prefix = ctx.store.book_prefix(book.uuid)
        chapters = list(db.scalars(select(Chapter).where(Chapter.book_id == book_id, Chapter.master_key != "")
                                   .order_by(Chapter.position)))
        if not chapters:
            raise ManuscriptError(N_("Sách chưa có chương đã xử lý âm thanh: chạy bước mastering trước."))
        plan = []
        for section, chapter in zip(manuscript.sections, chapters):
            edit = edit_key(prefix, chapter.position)
            use_edit = ctx.store.exists(edit)
            # narrators read the chapter heading first: it is aligned too (paragraph 0), then dropped,
            # so its speech is not taken for the first sentence's
            heading = [section.title] if section.title.strip() else []
            plan.append((section.id, heading + [s.text for s in section.sentences],
                         [0] * len(heading) + [s.paragraph for s in section.sentences], len(heading),
                         chapter.id, ctx.store.path(edit if use_edit else chapter.master_key),
                         master_offset_s(chapter.qc) if use_edit else 0.0, chapter.duration_s))
        manuscript_id, counts = manuscript.id, (len(manuscript.sections), len(chapters))
    params = AlignParams(margin_s=ctx.settings.align_margin_s)
    results = {}
    try:
        for index, (section_id, texts, paragraphs, lead, chapter_id, audio, offset, duration) in enumerate(plan):
            def report(f: float, i: int = index) -> None:
                progress((i + f) / len(plan) * 0.99)
            real = features_of_file(audio, params)
            report(0.3)
            def aligning(f: float, report: Callable[[float], None] = report) -> None:
                report(0.3 + 0.5 * f)
            timings = align_text(real, texts, paragraphs, params, progress=aligning)
            results[section_id] = (chapter_id, offset, duration, timings[lead:])
            report(1.0)
    except Exception as exc:
        with ctx.sessions.begin() as db:
            manuscript = db.get_one(Manuscript, manuscript_id)
            manuscript.state, manuscript.message = "failed", f"{exc.__class__.__name__}: {exc}"[:2000]
        raise
    summary = {"sections": counts[0], "chapters": counts[1], "sentences": 0, "aligned": 0, "skipped": 0,
               "repeated": 0, "low_confidence": 0}
    with ctx.sessions.begin() as db:
        manuscript = db.get_one(Manuscript, manuscript_id)
        for section in manuscript.sections:
            found = results.get(section.id)
            section.chapter_id = found[0] if found else None
            for k, sentence in enumerate(section.sentences):
                summary["sentences"] += 1
                timing = found[3][k] if found else None
                if found is None or timing is None:
                    sentence.start_s = sentence.end_s = sentence.confidence = None
                    sentence.issue, sentence.issue_detail = "", {}
                    continue
                moved = (lambda t, o=found[1], d=found[2]: None if t is None else round(min(d, max(0.0, t + o)), 3))
                sentence.start_s, sentence.end_s = moved(timing.start_s), moved(timing.end_s)
                sentence.confidence = round(float(timing.confidence), 3)
                if sentence.issue != timing.issue:
                    sentence.decision = ""  # a new finding needs a new decision
                sentence.issue = timing.issue
                sentence.issue_detail = {key: moved(value) for key, value in timing.detail.items()}
                summary["aligned"] += sentence.start_s is not None
                if timing.issue:
                    summary[timing.issue] += 1
        manuscript.state, manuscript.aligned_at = "aligned", utcnow()
        manuscript.message = (f"{summary['aligned']}/{summary['sentences']} câu đã căn chỉnh; "
                              f"{summary['skipped']} bỏ sót, {summary['repeated']} đọc lặp, "
                              f"{summary['low_confidence']} độ tin cậy thấp")
        if counts[0] != counts[1]:
            manuscript.message += (f" ({counts[0]} phần văn bản, {counts[1]} chương âm thanh: "
                                   f"ghép theo thứ tự / sections and chapters paired in order)")
    rebuild = queue_rebuild(ctx, book_id)  # the talking books carry the new timings (found in QA: stale)
    if rebuild is not None:
        summary["talking_book_job"] = rebuild
    progress(1.0)
    return summary
