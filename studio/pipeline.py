"""The production pipeline: the one place its stages are listed.

    ingest → mark chapters → master → QC → package → tag → catalogue draft

Each stage takes a book id, loads only what it needs, is idempotent (running it again gives the
same rows and files), and writes its outcome to the database. Human decisions (approve marks,
accept QC failures, publish) come in as a `Decisions` value, never from the web layer.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, TYPE_CHECKING

import soundfile as sf
from sqlalchemy import delete, select

from catalog.accounts import get_or_create_library
from catalog.books import create_book, publish
from catalog.states import BookState
from catalog.models import Book, Chapter, Mark, RecordingSession, Take
from catalog.talking_books import offered
from delivery import encoders
from delivery.ffmpeg import run
from mastering.audio import MASTER_RATES_HZ
from mastering.profiles import get_profile
from recordings.store import sha256_file
from studio import intake
from studio.context import Context, Decisions, Progress
from studio.edits import Pickup, edit_list, render, span, to_frames
from studio.errors import QCRejected, StudioError
from studio.intake import add_original_and_take
from studio.media_versions import publish as publish_media
from studio.markers import MAX_TIME_S, PauseMarking, pause_marks, take_marks
from studio.package import (
    PackageResult, finish_package, package_book, plan_package, run_encode, tag_book,
)
from studio.session_folder import SessionFolder, read_session_folder
from studio.talking_books import build_talking_books

if TYPE_CHECKING:
    from mastering.plan import ChainParams

HEAD_ROOM_TONE_S = 0.75  # room tone left before a chapter's first word when splitting at a pause


@dataclass(frozen=True)
class Parts:
    """A stage split into parts that may run on different machines (studio.worker): `plan` names
    them (book level, first), `run` runs one by name and returns what `finish` needs (JSON), `finish`
    runs once all are done (book level). Every part is idempotent: running one twice, even at the
    same time, gives the same files."""
    queue: str                                                   # the broker queue of its messages
    plan: Callable[[Context, int, Decisions], list[str]]
    run: Callable[[Context, int, str, Progress], dict[str, Any]]
    finish: Callable[[Context, int, Decisions, dict[str, dict[str, Any]], Progress], None]


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[Context, int, Decisions, Progress], None]
    label_vi: str
    parts: Parts | None = None


def _noop(_fraction: float) -> None:
    pass


# -- ingest ---------------------------------------------------------------------------------------
def ingest_folder(ctx: Context, folder: str | Path, *, library_code: str | None = None,
                  uploaded_by: int | None = None) -> int:
    """Check a session folder, store its takes as originals and create the draft book. Returns the book id.

    Every file passes `studio.intake`'s checks (size, disk, time-limited probe, decoded size; the
    quota when `uploaded_by` is given) before anything is stored, so a bad folder changes nothing.
    """
    limits = intake.IntakeLimits.from_settings(ctx.settings)
    session_folder = read_session_folder(
        folder, probe=lambda path: intake.admit_file(ctx, limits, path, user_id=uploaded_by))
    return ingest_checked(ctx, session_folder, library_code=library_code, uploaded_by=uploaded_by)


def ingest_checked(ctx: Context, folder: SessionFolder, *, library_code: str | None = None,
                   uploaded_by: int | None = None) -> int:
    marks = {info.path: take_marks(folder.path, info, folder.settings) for info in folder.takes}
    pickups = _pickup_config(folder)
    stored = [(info, *found) for info, found in
              zip(folder.takes, _each_take(lambda info: ctx.store.put_original(info.path), folder.takes))]
    meta = folder.book
    library_code = library_code or ctx.settings.default_library
    with ctx.sessions.begin() as db:
        library = get_or_create_library(db, library_code, ctx.settings.default_library_name)
        book = create_book(
            db, library=library, title=meta.get("title") or folder.path.name,
            subtitle=meta.get("subtitle", ""), authors=meta.get("authors", ()),
            narrators=meta.get("narrators", ()), language=meta.get("language", "vie"),
            summary=meta.get("summary", ""), subjects=meta.get("subjects", ()),
            publisher=meta.get("publisher", ""), year=meta.get("year"),
            access_policy=meta.get("access_policy", "public"),
            profile=meta.get("profile") or ctx.settings.default_profile,
        )
        db.flush()
        rec = RecordingSession(book_id=book.id, name=folder.path.name, source=str(folder.path),
                               settings=folder.settings)
        db.add(rec)
        db.flush()
        takes_by_name: dict[str, Take] = {}
        for info, sha, _key in stored:
            take = add_original_and_take(db, rec, sha=sha, filename=Path(info.path).name, audio=info,
                                         size_bytes=Path(info.path).stat().st_size, uploaded_by=uploaded_by)
            takes_by_name[take.filename] = take
            for spec in marks[info.path]:
                db.add(Mark(book_id=book.id, take_id=take.id, kind=spec.kind, start_s=spec.start_s,
                            end_s=spec.end_s, title=spec.title, source=spec.source, detail=spec.detail))
        for name, (replaces, start_s, end_s) in pickups.items():
            target = takes_by_name.get(replaces)
            if target is None or name not in takes_by_name:
                raise StudioError(f"session.toml: {name} thay cho {replaces}, tệp không có trong phiên "
                                  f"(pickup refers to a take that is not in the session)")
            pickup = takes_by_name[name]
            pickup.replaces_take_id, pickup.replace_start_s, pickup.replace_end_s = target.id, start_s, end_s
        db.flush()
        return book.id


def _pickup_config(folder: SessionFolder) -> dict[str, tuple[str, float, float]]:
    """{pickup file: (replaced file, start_s, end_s)} from `[[takes]] replaces = ...` in session.toml."""
    out = {}
    for item in folder.settings.get("takes", []):
        if not item.get("replaces"):
            continue
        try:
            start_s, end_s = float(item["replace_start_s"]), float(item["replace_end_s"])
        except (KeyError, TypeError, ValueError, OverflowError):
            raise StudioError(f"session.toml: bản thu bổ sung {item.get('file')} cần replace_start_s và "
                              f"replace_end_s (a pickup needs the range it replaces)") from None
        if not 0 <= start_s < end_s <= MAX_TIME_S:  # also refuses nan and inf
            raise StudioError(f"session.toml: khoảng thay thế không hợp lệ (bad pickup range) {start_s}–{end_s}")
        out[Path(item["file"]).name] = (Path(item["replaces"]).name, start_s, end_s)
    return out


def _takes(db, book_id: int, *, pickups: bool = False) -> list[Take]:
    """The book's takes in recording order; pickups (which only patch other takes) left out unless asked."""
    query = (select(Take).join(RecordingSession).where(RecordingSession.book_id == book_id)
             .order_by(RecordingSession.position, RecordingSession.id, Take.position))
    if not pickups:
        query = query.where(Take.replaces_take_id.is_(None))
    return list(db.scalars(query))


TAKES_AT_ONCE = 4   # a session's takes stored, fetched and measured at a time


def _each_take(fn: Callable[[Any], Any], items: list) -> Iterator[Any]:
    """`fn` over a session's takes, up to TAKES_AT_ONCE at a time, results in order (the first error
    raised). Uploads and downloads overlap, and hashing and numpy release the GIL: the ingest and
    the mark stage run before any chapter can, on one machine however many workers there are."""
    if len(items) <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=min(TAKES_AT_ONCE, len(items))) as pool:
        yield from pool.map(fn, items)


# -- mark chapters --------------------------------------------------------------------------------
def mark_chapters(ctx: Context, book_id: int, decisions: Decisions, progress: Progress = _noop) -> None:
    """Chapter starts for every take, by trust: labels, cue markers, session list (stored at ingest),
    else long pauses (recomputed here; see `studio.markers`).

    The audio is measured outside any transaction (SQLite takes its write lock at BEGIN), and the
    pause marks are replaced in one short transaction, so running the stage again gives the same rows.
    """
    with ctx.sessions() as db:
        takes = [(t.id, t.original_sha256, t.duration_s) for t in _takes(db, book_id)]
        settings: dict[str, Any] = {}
        for rec in db.scalars(select(RecordingSession).where(RecordingSession.book_id == book_id)):
            settings = rec.settings or settings
        trusted_takes = set(db.scalars(select(Mark.take_id).where(
            Mark.book_id == book_id, Mark.kind == "chapter", Mark.source != "pauses")))
    params = PauseMarking.from_settings(settings.get("chapters", {}), PauseMarking(
        ctx.settings.pause_threshold_dbfs, ctx.settings.pause_min_s, ctx.settings.chapter_min_s,
        ctx.settings.chapter_head_room_tone_s))
    paused = [(take_id, sha) for take_id, sha, _duration_s in takes if take_id not in trusted_takes]
    detected: dict[int, list] = {}
    found = _each_take(lambda take: pause_marks(ctx.store.find_original(take[1]), params), paused)
    for index, ((take_id, _sha), specs) in enumerate(zip(paused, found)):
        detected[take_id] = specs
        progress((index + 1) / max(1, len(paused)) * 0.99)
    with ctx.sessions.begin() as db:
        db.execute(delete(Mark).where(Mark.book_id == book_id, Mark.source == "pauses"))
        for take_id, specs in detected.items():
            for spec in specs:
                db.add(Mark(book_id=book_id, take_id=take_id, kind="chapter", start_s=spec.start_s,
                            title=spec.title, source="pauses", detail=spec.detail,
                            approved=decisions.approve_marks))
        if decisions.approve_marks:
            for mark in db.scalars(select(Mark).where(Mark.book_id == book_id, Mark.source != "pauses")):
                mark.approved = True
        db.flush()
        _title_untitled_chapters(db, book_id, settings.get("chapters", {}).get("titles", []))
    progress(1.0)


def _title_untitled_chapters(db, book_id: int, titles: list[str]) -> None:
    """Give every chapter mark without a title one, so staff review named chapters: the session's
    `[chapters] titles` in book order where listed, else "Chương N". Titles from labels, cue names,
    the session's chapter list or an edit are kept (they are not empty)."""
    for position, (_take, _start, _end, title, mark) in enumerate(chapter_spans(db, book_id), start=1):
        if not title.strip():
            mark.title = titles[position - 1] if position - 1 < len(titles) else f"Chương {position}"


def chapter_spans(db, book_id: int) -> list[tuple[Take, float, float | None, str, Mark]]:
    """(take, start_s, end_s or None for the take's end, title, mark) for every chapter, in order."""
    takes = _takes(db, book_id)
    marks = db.scalars(select(Mark).where(Mark.book_id == book_id, Mark.kind == "chapter")
                       .order_by(Mark.start_s, Mark.id)).all()
    spans = []
    for take in takes:
        starts = sorted((m for m in marks if m.take_id == take.id), key=lambda m: m.start_s)
        for i, mark in enumerate(starts):
            end = starts[i + 1].start_s if i + 1 < len(starts) else None
            # audio before a take's first mark belongs to its first chapter: only a cut removes audio
            spans.append((take, 0.0 if i == 0 else mark.start_s, end, mark.title, mark))
    return spans


# -- master -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _MasterPlan:
    profile: str
    chain: ChainParams
    prefix: str
    chapters: list[tuple[int, tuple, str]]   # (position, edit segments, title)


def _master_plan(ctx: Context, book_id: int, decisions: Decisions) -> _MasterPlan:
    with ctx.sessions.begin() as db:
        book = db.get_one(Book, book_id)
        spans = chapter_spans(db, book_id)
        if not spans:
            raise StudioError("Chưa có mốc chương nào (no chapter marks): chạy bước đánh dấu chương trước")
        if not decisions.approve_marks and not all(mark.approved for *_x, mark in spans):
            raise StudioError("Mốc chương chưa được duyệt (chapter marks are not approved yet)")
        settings = (db.scalars(select(RecordingSession.settings)
                               .where(RecordingSession.book_id == book_id)).first() or {})
        titles = list(settings.get("chapters", {}).get("titles", []))
        # per book: "off" | "spectral" | "neural" over the profile's choice (issue 18.1)
        from mastering.plan import ChainParams   # here: scipy is imported only where a master is made
        chain = ChainParams(denoise=settings.get("mastering", {}).get("denoise"))
        prefix = ctx.store.book_prefix(book.uuid)
        edits = _edit_lists(db, book_id)
        plan = []
        for position, (take, start_s, end_s, title, _mark) in enumerate(spans, start=1):
            title = title or (titles[position - 1] if position - 1 < len(titles) else f"Chương {position}")
            rate = take.original.sample_rate
            segments = span(edits[take.id], to_frames(start_s, rate),
                            None if end_s is None else to_frames(end_s, rate))
            plan.append((position, segments, title))
        return _MasterPlan(book.profile, chain, prefix, plan)


def master_part_name(position: int) -> str:
    return f"ch{position:02d}"


def plan_masters(ctx: Context, book_id: int, decisions: Decisions) -> list[str]:
    """The master stage's parts: one per chapter (refuses unapproved marks, as the stage does)."""
    return [master_part_name(position) for position, _s, _t in _master_plan(ctx, book_id, decisions).chapters]


def master_chapter(ctx: Context, book_id: int, name: str, progress: Progress = _noop) -> dict[str, Any]:
    """One chapter (part `name`, "chNN") cut from its takes and mastered to the book's profile; returns
    what `record_masters` stores on its row. Written atomically under the chapter's keys, so a second
    run, even at the same time, leaves the same files."""
    plan = _master_plan(ctx, book_id, Decisions(approve_marks=True))  # approval was checked by the plan
    position = int(name.removeprefix("ch"))
    found = [(segments, title) for pos, segments, title in plan.chapters if pos == position]
    if not found:
        raise StudioError(f"Không có chương {position} (no chapter {position})")
    segments, title = found[0]
    raw_key = edit_key(plan.prefix, position)
    with ctx.store.atomic_path(raw_key) as tmp:
        render(segments, ctx.store.find_original, tmp)
    profile = get_profile(plan.profile)
    _resample_for_mastering(ctx, raw_key, profile)
    master_key = f"{plan.prefix}/master/{position:02d}.flac"
    with ctx.store.atomic_path(master_key) as out:  # uploaded when done, in an object store
        from mastering.runner import master_file
        result = master_file(ctx.store.path(raw_key), out, profile, params=plan.chain, progress=progress)
    # measured here, outside any transaction: hashing an hour of FLAC inside one would hold SQLite's
    # one write lock, and every listener's progress write would wait behind it
    info = sf.info(str(ctx.store.path(master_key)))
    return {"position": position, "title": title, "master_key": master_key,
            "sha256": sha256_file(ctx.store.path(master_key)), "duration_s": info.frames / info.samplerate,
            "sample_rate": info.samplerate, "channels": info.channels,
            "qc": result.qc.to_dict(), "qc_passed": bool(result.qc.passed)}


def record_masters(ctx: Context, book_id: int, decisions: Decisions, results: dict[str, dict[str, Any]],
                   progress: Progress = _noop) -> None:
    """The chapters' rows from their masters, in one transaction; chapters no longer marked are removed."""
    with ctx.sessions.begin() as db:
        book = db.get_one(Book, book_id)
        existing = {c.position: c for c in book.chapters}
        offset = 0.0
        for done in sorted(results.values(), key=lambda r: int(r["position"])):
            position = int(done["position"])
            chapter = existing.pop(position, None) or Chapter(book_id=book_id, position=position)
            chapter.title = done["title"]
            chapter.start_s = offset
            chapter.duration_s = float(done["duration_s"])
            chapter.master_key = done["master_key"]
            chapter.master_sha256 = done["sha256"]
            chapter.sample_rate, chapter.channels = done.get("sample_rate"), done.get("channels")
            chapter.qc = done["qc"]
            chapter.qc_passed = bool(done["qc_passed"])
            if chapter.id is None:
                db.add(chapter)
            offset += chapter.duration_s
        for stale in existing.values():
            db.delete(stale)
        book.duration_s = offset
    progress(1.0)


def master_chapters(ctx: Context, book_id: int, decisions: Decisions, progress: Progress = _noop) -> None:
    """Cut each chapter from its take and master it to the book's profile; store QC on the chapter row."""
    names = plan_masters(ctx, book_id, decisions)
    results = {}
    for done, name in enumerate(names):
        def chapter_progress(fraction: float, done: int = done) -> None:
            progress((done + fraction) / len(names))
        results[name] = master_chapter(ctx, book_id, name, chapter_progress)
    record_masters(ctx, book_id, decisions, results)


def edit_key(book_prefix: str, position: int) -> str:
    """Media key of a chapter cut from its takes, before mastering (what staff compare a master with)."""
    return f"{book_prefix}/edit/{position:02d}.flac"


def _edit_lists(db, book_id: int) -> dict[int, tuple]:
    """Each take's edit list: its cut marks removed and its pickups spliced in (`studio.edits`)."""
    takes = _takes(db, book_id, pickups=True)
    cuts = db.scalars(select(Mark).where(Mark.book_id == book_id, Mark.kind == "cut")).all()
    out = {}
    for take in takes:
        if take.replaces_take_id is not None:
            continue
        rate = take.original.sample_rate
        take_cuts = [(to_frames(m.start_s, rate), to_frames(m.end_s, rate)) for m in cuts
                     if m.take_id == take.id and m.end_s is not None]
        pickups = [_pickup(p, take, rate) for p in takes if p.replaces_take_id == take.id]
        out[take.id] = edit_list(take.original_sha256, take.original.frames, take_cuts, pickups)
    return out


def _pickup(p: Take, take: Take, rate: int) -> Pickup:
    """Pickup take `p` as it replaces its range of `take` (frames at `rate`)."""
    if p.replace_start_s is None or p.replace_end_s is None:
        raise StudioError(f"Bản ghi bổ sung {p.id} thiếu đoạn cần thay (pickup take has no range to replace)")
    return Pickup(p.original_sha256, p.original.frames, to_frames(p.replace_start_s, rate),
                  min(take.original.frames, to_frames(p.replace_end_s, rate)))


def _resample_for_mastering(ctx: Context, key: str, profile) -> None:
    """Bring an edit whose rate the chain does not master (e.g. 22.05 kHz, 192 kHz) to the
    profile's delivery rate (or 44.1/48 kHz) with ffmpeg's SoX resampler, in place and atomically."""
    rate = sf.info(str(ctx.store.path(key))).samplerate
    low, high = MASTER_RATES_HZ
    if low <= rate <= high:
        return
    target = profile.sample_rate_hz or (44100 if rate % 11025 == 0 else 48000)
    with ctx.store.atomic_path(key) as tmp:
        run(encoders.resample_flac(ctx.store.path(key), tmp, sample_rate_hz=target), timeout_s=3600)


# -- QC -----------------------------------------------------------------------------------------------
def check_qc(ctx: Context, book_id: int, decisions: Decisions, progress: Progress = _noop) -> None:
    with ctx.sessions.begin() as db:
        book = db.get_one(Book, book_id)
        failing = [c for c in book.chapters if c.qc_passed is False]
        if failing and not decisions.accept_qc_failures:
            chapters: list[dict[str, Any]] = [
                {"chapter_id": c.id, "position": c.position, "title": c.title,
                 "rules": [str(f.get("rule", f)) if isinstance(f, dict) else str(f)
                           for f in (c.qc or {}).get("failures", [])]} for c in failing]
            reasons = "; ".join(f"{c['title']}: " + ", ".join(c["rules"]) for c in chapters)
            raise QCRejected(f"{len(failing)} chương không đạt QC (chapters failed QC): {reasons}", chapters)
    progress(1.0)


# -- package and tag ------------------------------------------------------------------------------------
def package(ctx: Context, book_id: int, decisions: Decisions, progress: Progress = _noop) -> None:
    package_book(ctx.sessions, ctx.store, book_id, workers=ctx.settings.workers, progress=progress)
    publish_media(ctx.sessions, ctx.store, book_id, grace_s=ctx.settings.media_version_grace_s)
    talking_books_if_offered(ctx, book_id)


def plan_encodes(ctx: Context, book_id: int, decisions: Decisions) -> list[str]:
    """The package stage's parts: one chapter × one output (HLS rung, MP3), and the M4B."""
    return [job.name for job in plan_package(ctx.sessions, ctx.store, book_id).jobs]


def encode(ctx: Context, book_id: int, name: str, progress: Progress = _noop) -> dict[str, Any]:
    """One encode of the package stage (`studio.package.run_encode`: skipped when its output is there)."""
    ran = run_encode(plan_package(ctx.sessions, ctx.store, book_id), name)
    progress(1.0)
    return {"ran": ran}


def finish_package_stage(ctx: Context, book_id: int, decisions: Decisions, results: dict[str, dict[str, Any]],
                         progress: Progress = _noop) -> None:
    """After every encode: HLS assembly, playlists, tags, the published media version, talking books
    (book level)."""
    plan = plan_package(ctx.sessions, ctx.store, book_id)
    finish_package(ctx.sessions, ctx.store, plan, PackageResult(book_id=book_id, prefix=plan.prefix), progress)
    publish_media(ctx.sessions, ctx.store, book_id, grace_s=ctx.settings.media_version_grace_s)
    talking_books_if_offered(ctx, book_id)


def talking_books_if_offered(ctx: Context, book_id: int) -> None:
    """EPUB 3 and DAISY 2.02 of a title that offers accessible copies (Marrakesh or print-disabled
    titles); other titles get them when staff ask (`sachnoi talking-book`). Kept when unchanged."""
    with ctx.sessions() as db:
        book = db.get_one(Book, book_id)
        wanted = offered(book) and any(r.kind == "mp3" for r in book.renditions)  # packaged
    if wanted:
        build_talking_books(ctx.sessions, ctx.store, book_id)


def tag(ctx: Context, book_id: int, decisions: Decisions, progress: Progress = _noop) -> None:
    tag_book(ctx.sessions, ctx.store, book_id)
    publish_media(ctx.sessions, ctx.store, book_id, grace_s=ctx.settings.media_version_grace_s)
    talking_books_if_offered(ctx, book_id)  # metadata may have changed
    progress(1.0)


# -- catalogue draft -----------------------------------------------------------------------------------
def catalogue(ctx: Context, book_id: int, decisions: Decisions, progress: Progress = _noop) -> None:
    with ctx.sessions.begin() as db:
        book = db.get_one(Book, book_id)
        book.duration_s = sum(c.duration_s for c in book.chapters)
        if decisions.publish and book.state != BookState.PUBLISHED:
            publish(db, book)
    talking_books_if_offered(ctx, book_id)  # kept unless the catalogue step changed what they carry
    progress(1.0)


STAGES: tuple[Stage, ...] = (
    Stage("mark", mark_chapters, "Đánh dấu chương"),
    Stage("master", master_chapters, "Xử lý âm thanh (mastering)",
          Parts("master", plan_masters, master_chapter, record_masters)),
    Stage("qc", check_qc, "Kiểm tra chất lượng"),
    Stage("package", package, "Đóng gói HLS và tệp tải về",
          Parts("encode", plan_encodes, encode, finish_package_stage)),
    Stage("tag", tag, "Gắn thẻ"),
    Stage("catalogue", catalogue, "Tạo biểu ghi thư mục"),
)


def run_stages(ctx: Context, book_id: int, decisions: Decisions,
               progress: Callable[[str, float], None] | None = None, *, start: str = "mark",
               stop: str | None = None) -> None:
    """Run the stages from `start` to `stop` (inclusive; default: the last), in order;
    `progress(stage_name, fraction)` reports each."""
    names = [s.name for s in STAGES]
    last = names.index(stop) if stop else len(names) - 1
    for stage in STAGES[names.index(start):last + 1]:
        report = (lambda f, n=stage.name: progress(n, f)) if progress else _noop
        stage.run(ctx, book_id, decisions, report)
