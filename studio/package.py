"""The package stage: approved chapter masters in, what listeners and other apps consume out.

Under `derived/books/<uuid>/` it writes
    hls/master.m3u8, hls/<rung>/index.m3u8 + init-<h>.mp4 + c<NNN>-<h>-<k>.m4s   (streaming ladder)
    mp3/<NN>.mp3        one tagged MP3 per chapter (ID3v2.4, CHAP/CTOC)
    book.m4b            the whole book, AAC with chapter markers, cover, stik=audiobook
    cover.jpg|png       the book's cover (generated when the book has none)
    manifest.json       Readium audiobook manifest (relative links)
    book.audiobook      zip: manifest.json at the root, audio and cover stored uncompressed
and one `Rendition` row per output (kind hls | mp3 | m4b | cover | audiobook).

Work is split into jobs of one chapter × one output (HLS rung or MP3) plus the M4B, run on all
cores by a thread pool (each job is an ffmpeg process; threads only wait). Every job's result is
kept under `work/` with the hash of what it was made from (master SHA-256 + the exact command), so
a re-run after a crash redoes only missing work and a changed master re-encodes only its own
chapter. Assembly (placing chapters on the book timeline, tags, manifest, zip) is cheap and
checked the same way against the `source_sha256` of the Rendition rows.

Segment and init names carry a hash of their content's source: the web layer serves media files
as immutable, so a re-encoded chapter must get new names, never new bytes under an old name.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import threading
import time
import zipfile
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import soundfile as sf
from sqlalchemy import select

from catalog import readium, tags
from catalog.db import read_only_session, session_scope
from catalog.errors import TagError
from catalog.models import Book, Rendition
from mastering import encoders, hls
from mastering.errors import MasteringError
from mastering.ffmpeg import FFmpegError, run as run_ffmpeg
from mastering.profiles import get_profile
from recordings.errors import RecordingsError
from recordings.store import MediaStore, sha256_file
from studio.errors import StudioError

Progress = Callable[[float], None]
TIMELINE_TOLERANCE_S = 0.05   # catalogue start/duration vs. the master file's real length
WORK_VERSION = "1"            # bump to invalidate every cached job after a format change


class PackageError(StudioError):
    """The package stage could not finish; the message names the chapter/output and the cause."""


@dataclass(frozen=True)
class ChapterSpec:
    id: int
    position: int
    title: str
    start_s: float
    duration_s: float       # from the master file itself
    master: Path
    master_sha256: str
    rate: int
    channels: int


@dataclass(frozen=True)
class Mp3Settings:
    bitrate_kbps: int
    sample_rate_hz: int
    channels: int


@dataclass
class PackageResult:
    book_id: int
    prefix: str
    encoded: list[str] = field(default_factory=list)     # jobs that ran ffmpeg
    reused: list[str] = field(default_factory=list)      # jobs whose cached result was current
    written: list[str] = field(default_factory=list)     # final outputs (re)written
    unchanged: list[str] = field(default_factory=list)   # final outputs already current
    wall_s: float = 0.0


def _hash(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def _args_signature(args: list[str], *paths: Path) -> list[str]:
    """The command with our own paths blanked, so the hash depends on what is done, not where."""
    out = []
    for a in args:
        for i, p in enumerate(paths):
            a = a.replace(str(p), f"<{i}>")
        out.append(a)
    return out


# -- reading the book -------------------------------------------------------------------------------
def _load(session, store: MediaStore, book_id: int):
    book = session.get(Book, book_id)
    if book is None:
        raise PackageError(f"Không có sách id={book_id} (no book with id {book_id})")
    chapters = list(book.chapters)
    if not chapters:
        raise PackageError(f"Sách '{book.title}' chưa có chương nào (book has no chapters)")
    specs = []
    for ch in chapters:
        if not ch.master_key:
            raise PackageError(f"Chương {ch.position} chưa có bản master (chapter {ch.position} has no master)")
        try:
            path = store.path(ch.master_key)
        except RecordingsError as exc:
            raise PackageError(f"Chương {ch.position}: {exc}") from exc
        if not path.is_file():
            raise PackageError(f"Chương {ch.position}: thiếu tệp master (missing master) {ch.master_key}")
        try:
            info = sf.info(str(path))
        except (RuntimeError, sf.LibsndfileError) as exc:
            raise PackageError(f"Chương {ch.position}: master không đọc được (unreadable master): {exc}") from exc
        duration = info.frames / info.samplerate
        if ch.duration_s and abs(duration - ch.duration_s) > TIMELINE_TOLERANCE_S:
            raise PackageError(
                f"Chương {ch.position}: thời lượng trong thư mục ({ch.duration_s:.3f} s) khác tệp master "
                f"({duration:.3f} s) (catalogue duration differs from the master file)")
        specs.append(ChapterSpec(ch.id, ch.position, ch.title or f"Chương {ch.position}", ch.start_s,
                                 duration, path, ch.master_sha256 or sha256_file(path),
                                 info.samplerate, info.channels))
    for prev, nxt in zip(specs, specs[1:]):
        if abs(prev.start_s + prev.duration_s - nxt.start_s) > TIMELINE_TOLERANCE_S:
            raise PackageError(
                f"Chương {nxt.position} bắt đầu ở {nxt.start_s:.3f} s nhưng chương trước kết thúc ở "
                f"{prev.start_s + prev.duration_s:.3f} s (chapter timeline has a gap or overlap)")
    if len({(s.rate, s.channels) for s in specs}) > 1:
        raise PackageError("Các chương có tần số lấy mẫu hoặc số kênh khác nhau "
                           "(chapters differ in sample rate or channel count)")
    return book, specs


def _mp3_settings(profile_name: str, channels: int) -> Mp3Settings:
    try:
        profile = get_profile(profile_name)
    except MasteringError as exc:
        raise PackageError(str(exc)) from exc
    if profile.delivery is not None and profile.delivery.codec == "mp3":
        d = profile.delivery
        return Mp3Settings(d.bitrate_kbps, d.sample_rate_hz, min(d.channels, channels) or 1)
    # Library default: speech at 64 kbps mono (128 kbps for a stereo master), 44.1 kHz CBR.
    return Mp3Settings(128 if channels >= 2 else 64, 44100, 2 if channels >= 2 else 1)


def _stream_rate(rate: int) -> int:
    return rate if rate in (44100, 48000) else 44100


# -- encode jobs -----------------------------------------------------------------------------------
@dataclass
class _Job:
    name: str
    cost: float                        # seconds of audio × relative encoder cost, for scheduling
    source: str                        # hash of inputs + command
    done: Callable[[], bool]
    run: Callable[[], None]


def _read_meta(path: Path) -> dict:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def _hls_job(store: MediaStore, prefix: str, spec: ChapterSpec, rung: encoders.AacRung) -> _Job:
    work_key = f"{prefix}/work/hls/{rung.name}/{spec.position:03d}"
    seg_len = hls.segment_length(spec.duration_s)
    rate = _stream_rate(spec.rate)
    probe_args = encoders.hls_chapter(spec.master, "/OUT", rung, segment_s=seg_len, sample_rate_hz=rate)
    source = _hash(WORK_VERSION, spec.master_sha256, _args_signature(probe_args, spec.master))
    meta_path = store.path(work_key) / "job.json"

    def done() -> bool:
        return _read_meta(meta_path).get("source") == source

    def run() -> None:
        with store.atomic_dir(work_key) as tmp:
            args = encoders.hls_chapter(spec.master, tmp, rung, segment_s=seg_len, sample_rate_hz=rate)
            run_ffmpeg(args, encoders.timeout_for(spec.duration_s))
            (tmp / "job.json").write_text(json.dumps({"source": source, "duration_s": spec.duration_s}))

    return _Job(f"hls {rung.name} ch{spec.position:02d}", spec.duration_s * 1.0, source, done, run)


def _mp3_job(store: MediaStore, prefix: str, spec: ChapterSpec, mp3: Mp3Settings) -> _Job:
    key = f"{prefix}/work/mp3/{spec.position:03d}.mp3"
    sig = _args_signature(encoders.mp3(spec.master, "/OUT", bitrate_kbps=mp3.bitrate_kbps,
                                       sample_rate_hz=mp3.sample_rate_hz, channels=mp3.channels), spec.master)
    source = _hash(WORK_VERSION, spec.master_sha256, sig)
    meta_path = store.path(key + ".json")

    def done() -> bool:
        return store.path(key).is_file() and _read_meta(meta_path).get("source") == source

    def run() -> None:
        with store.atomic_path(key) as tmp:
            run_ffmpeg(encoders.mp3(spec.master, tmp, bitrate_kbps=mp3.bitrate_kbps,
                                    sample_rate_hz=mp3.sample_rate_hz, channels=mp3.channels),
                       encoders.timeout_for(spec.duration_s))
        store.write_bytes(key + ".json", json.dumps({"source": source}).encode())

    return _Job(f"mp3 ch{spec.position:02d}", spec.duration_s * 1.4, source, done, run)


def _m4b_settings(channels: int) -> tuple[int, int]:
    return (128_000, 2) if channels >= 2 else (64_000, 1)


def _m4b_job(store: MediaStore, prefix: str, specs: list[ChapterSpec]) -> _Job:
    key = f"{prefix}/work/book.m4a"
    bitrate, channels = _m4b_settings(specs[0].channels)
    rate = _stream_rate(specs[0].rate)
    chapters = [(s.title, s.start_s, s.start_s + s.duration_s) for s in specs]
    metadata = encoders.ffmetadata(chapters)
    sig = _args_signature(encoders.m4b(Path("/L"), Path("/M"), "/OUT", bitrate_bps=bitrate,
                                       channels=channels, sample_rate_hz=rate))
    source = _hash(WORK_VERSION, [s.master_sha256 for s in specs], metadata, sig)
    meta_path = store.path(key + ".json")
    total = sum(s.duration_s for s in specs)

    def done() -> bool:
        return store.path(key).is_file() and _read_meta(meta_path).get("source") == source

    def run() -> None:
        with store.atomic_path(key + ".list") as list_path, store.atomic_path(key + ".meta") as meta_file:
            list_path.write_text(encoders.concat_list([s.master for s in specs]), "utf-8")
            meta_file.write_text(metadata, "utf-8")
            with store.atomic_path(key) as tmp:
                run_ffmpeg(encoders.m4b(list_path, meta_file, tmp, bitrate_bps=bitrate, channels=channels,
                                        sample_rate_hz=rate, language="vie"), encoders.timeout_for(total))
        store.path(key + ".list").unlink(missing_ok=True)
        store.path(key + ".meta").unlink(missing_ok=True)
        store.write_bytes(key + ".json", json.dumps({"source": source}).encode())

    return _Job("m4b", total * 1.0, source, done, run)


def _run_jobs(jobs: list[_Job], workers: int, result: PackageResult, progress: Progress,
              weight: float) -> None:
    pending = []
    for job in jobs:
        if job.done():
            result.reused.append(job.name)
        else:
            pending.append(job)
    if not pending:
        progress(weight)
        return
    pending.sort(key=lambda j: -j.cost)      # longest first: the pool ends evenly loaded
    total_cost = sum(j.cost for j in pending) or 1.0
    finished = [0.0]
    lock = threading.Lock()

    def execute(job: _Job) -> str:
        try:
            job.run()
        except (FFmpegError, RecordingsError, OSError) as exc:
            raise PackageError(f"Mã hoá '{job.name}' thất bại (encoding '{job.name}' failed): {exc}") from exc
        with lock:
            finished[0] += job.cost
            progress(weight * finished[0] / total_cost)
        return job.name

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="package") as pool:
        futures = [pool.submit(execute, j) for j in pending]
        done, not_done = wait(futures, return_when=FIRST_EXCEPTION)
        for fut in not_done:
            fut.cancel()
        errors = [f.exception() for f in done if f.exception() is not None]
        if errors:
            pool.shutdown(wait=True, cancel_futures=True)
            raise errors[0]
    result.encoded += [j.name for j in pending]


# -- assembly: HLS ----------------------------------------------------------------------------------
def _chapter_segments(folder: Path) -> tuple[bytes, list[Path]]:
    playlist = hls.parse_media_playlist((folder / "chapter.m3u8").read_text("utf-8"))
    init = (folder / (playlist.init_uri or "init.mp4")).read_bytes()
    return init, [folder / s.uri for s in playlist.segments]


def _assemble_rung(store: MediaStore, prefix: str, specs: list[ChapterSpec], rung: encoders.AacRung,
                   job_sources: dict[str, str]) -> tuple[str, dict]:
    """Place every chapter's segments on the book timeline; returns (source hash, row fields)."""
    rung_key = f"{prefix}/hls/{rung.name}"
    sources = [job_sources[f"hls {rung.name} ch{s.position:02d}"] for s in specs]
    starts = [s.start_s for s in specs]
    source = _hash(WORK_VERSION, sources, starts, [s.title for s in specs])
    inits, chapter_segments = [], []
    for spec in specs:
        init, segs = _chapter_segments(store.path(f"{prefix}/work/hls/{rung.name}/{spec.position:03d}"))
        inits.append(init)
        chapter_segments.append(segs)
    if any(i != inits[0] for i in inits):
        raise PackageError(f"{rung.name}: các chương có init segment khác nhau "
                           "(chapter encodes produced different init segments)")
    scale = hls.fmp4_timescale(inits[0])
    init_name = f"init-{hashlib.sha256(inits[0]).hexdigest()[:10]}.mp4"
    end_ticks = round((specs[-1].start_s + specs[-1].duration_s) * scale)
    entries: list[tuple[str, bytes, int, str]] = []   # (name, shifted bytes, start ticks, title)
    for spec, segs, src in zip(specs, chapter_segments, sources):
        offset = round(spec.start_s * scale)
        for k, seg in enumerate(segs):
            data = seg.read_bytes()
            local = hls.fmp4_decode_time(data)
            entries.append((f"c{spec.position:03d}-{src[:8]}-{k:03d}.m4s",
                            hls.shift_fmp4_segment(data, offset), offset + local,
                            spec.title if k == 0 else ""))
    segments = []
    for i, (name, _data, start, title) in enumerate(entries):
        nxt = entries[i + 1][2] if i + 1 < len(entries) else end_ticks
        segments.append(hls.Segment(name, (nxt - start) / scale, title))
    text = hls.media_playlist(segments, init_uri=init_name)
    with store.atomic_dir(rung_key) as tmp:
        (tmp / init_name).write_bytes(inits[0])
        for name, data, _start, _title in entries:
            (tmp / name).write_bytes(data)
        (tmp / "index.m3u8").write_text(text, "utf-8")
    peak, average = hls.bandwidths([len(e[1]) for e in entries], [s.duration_s for s in segments])
    size = sum(len(e[1]) for e in entries) + len(inits[0])
    fields = dict(codec="aac", bitrate=rung.bitrate_bps, channels=rung.channels,
                  duration_s=sum(s.duration_s for s in segments), size_bytes=size,
                  sha256=hashlib.sha256(text.encode()).hexdigest(),
                  extra={"bandwidth": peak, "average_bandwidth": average})
    return source, fields


# -- rows -----------------------------------------------------------------------------------------
def _upsert(session, book_id: int, kind: str, name: str, key: str, source: str, chapter_id=None,
            **fields) -> Rendition:
    row = session.execute(select(Rendition).where(
        Rendition.book_id == book_id, Rendition.kind == kind, Rendition.name == name,
        Rendition.chapter_id.is_(None) if chapter_id is None else Rendition.chapter_id == chapter_id,
    )).scalars().first()
    if row is None:
        row = Rendition(book_id=book_id, kind=kind, name=name, chapter_id=chapter_id, key=key)
        session.add(row)
    row.key = key
    row.source_sha256 = source
    for k, v in fields.items():
        if k != "extra":
            setattr(row, k, v)
    return row


def _current(session, book_id: int, kind: str, name: str, source: str, store: MediaStore,
             chapter_id=None) -> Rendition | None:
    row = session.execute(select(Rendition).where(
        Rendition.book_id == book_id, Rendition.kind == kind, Rendition.name == name,
        Rendition.chapter_id.is_(None) if chapter_id is None else Rendition.chapter_id == chapter_id,
    )).scalars().first()
    if row is not None and row.source_sha256 == source and store.exists(row.key):
        return row
    return None


# -- cover -------------------------------------------------------------------------------------------
COVER_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def default_cover(title: str, author: str = "", size: int = 1400) -> bytes:
    """A plain JPEG cover with the title (used when a book has none): players and the manifest
    expect one. DejaVu Sans has every Vietnamese letter; without it Pillow's own font is used."""
    from PIL import Image, ImageDraw, ImageFont
    img = Image.new("RGB", (size, size), (22, 64, 96))
    draw = ImageDraw.Draw(img)
    try:
        big = ImageFont.truetype(COVER_FONT, size // 12)
        small = ImageFont.truetype(COVER_FONT, size // 24)
    except OSError:
        big = small = ImageFont.load_default()
    words, lines, line = title.split(), [], ""
    for word in words:
        trial = f"{line} {word}".strip()
        if draw.textlength(trial, font=big) > size * 0.8 and line:
            lines.append(line)
            line = word
        else:
            line = trial
    lines.append(line)
    y = size // 4
    for text in lines[:6]:
        draw.text((size // 10, y), text, font=big, fill=(250, 250, 240))
        y += int(size / 10)
    if author:
        draw.text((size // 10, size - size // 5), author, font=small, fill=(220, 220, 200))
    draw.text((size // 10, size - size // 9), "SÁCH NÓI", font=small, fill=(240, 200, 90))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=88)
    return out.getvalue()


def _cover_bytes(store: MediaStore, book: Book) -> tuple[bytes, str]:
    """(bytes, mime) of the book's cover: `cover_path` is a media-store key."""
    if book.cover_path:
        try:
            data = store.path(book.cover_path).read_bytes()
        except (RecordingsError, OSError) as exc:
            raise PackageError(f"Không đọc được ảnh bìa (cannot read cover) {book.cover_path}: {exc}") from exc
        if data.startswith(b"\x89PNG"):
            return data, "image/png"
        if data.startswith(b"\xff\xd8"):
            return data, "image/jpeg"
        raise PackageError(f"Ảnh bìa phải là JPEG hoặc PNG (cover must be JPEG or PNG): {book.cover_path}")
    names = [c.name for c in book.contributors("aut")]
    return default_cover(book.title, ", ".join(names)), "image/jpeg"


# -- the stage -------------------------------------------------------------------------------------
def package_book(session_factory, store: MediaStore, book_id: int, *, workers: int | None = None,
                 progress: Progress | None = None) -> PackageResult:
    """Encode, assemble, tag and describe book `book_id`; idempotent and resumable (module doc)."""
    started = time.perf_counter()
    report = progress or (lambda _f: None)
    workers = workers or os.cpu_count() or 1
    with session_scope(session_factory) as session:
        book, specs = _load(session, store, book_id)
        prefix = MediaStore.book_prefix(book.uuid)
        mp3 = _mp3_settings(book.profile, specs[0].channels)
    result = PackageResult(book_id=book_id, prefix=prefix)
    ladder = encoders.aac_ladder(specs[0].channels)

    jobs = [_m4b_job(store, prefix, specs)]
    for spec in specs:
        jobs += [_hls_job(store, prefix, spec, rung) for rung in ladder]
        jobs.append(_mp3_job(store, prefix, spec, mp3))
    job_sources = {j.name: j.source for j in jobs}
    _run_jobs(jobs, workers, result, report, 0.9)

    variants = []
    with session_scope(session_factory) as session:
        for rung in ladder:
            key = f"{prefix}/hls/{rung.name}"
            sources = [job_sources[f"hls {rung.name} ch{s.position:02d}"] for s in specs]
            source = _hash(WORK_VERSION, sources, [s.start_s for s in specs], [s.title for s in specs])
            row = _current(session, book_id, "hls", rung.name, source, store)
            if row is not None and store.exists(f"{key}/index.m3u8"):
                result.unchanged.append(key)
                text = store.path(f"{key}/index.m3u8").read_text("utf-8")
                pl = hls.parse_media_playlist(text)
                folder = store.path(key)
                peak, average = hls.bandwidths([(folder / s.uri).stat().st_size for s in pl.segments],
                                               [s.duration_s for s in pl.segments])
            else:
                try:
                    source, fields = _assemble_rung(store, prefix, specs, rung, job_sources)
                except (hls.HlsFormatError, OSError) as exc:
                    raise PackageError(f"Không ghép được HLS {rung.name} (cannot assemble HLS): {exc}") from exc
                peak, average = fields["extra"]["bandwidth"], fields["extra"]["average_bandwidth"]
                _upsert(session, book_id, "hls", rung.name, key, source, **fields)
                result.written.append(key)
            variants.append(hls.Variant(f"{rung.name}/index.m3u8", peak, average, rung.codecs,
                                        rung.channels, rung.name))
        # 64 kbps first: players start on the first listed variant, a safe start on a phone.
        variants.sort(key=lambda v: (v.name != "aac-64k-mono", v.average_bandwidth))
        store.write_bytes(f"{prefix}/hls/master.m3u8", hls.master_playlist(variants).encode())
        stale = [r for r in session.execute(select(Rendition).where(
            Rendition.book_id == book_id, Rendition.kind == "hls")).scalars()
            if r.name not in {rung.name for rung in ladder}]
        for row in stale:
            store.delete_tree(row.key)
            session.delete(row)
    report(0.93)
    tag_book(session_factory, store, book_id, _result=result, _specs=specs, _mp3=mp3)
    report(1.0)
    result.wall_s = time.perf_counter() - started
    return result


def tag_book(session_factory, store: MediaStore, book_id: int, *, _result: PackageResult | None = None,
             _specs: list[ChapterSpec] | None = None, _mp3: Mp3Settings | None = None) -> PackageResult:
    """Write the tagged downloads (MP3s, M4B), cover, manifest and `.audiobook` zip from the encoded
    work files. Cheap; only outputs whose inputs (audio or metadata) changed are rewritten.

    Files are copied, tagged, hashed and zipped outside any write transaction (on SQLite a write
    transaction holds the one write lock, and listeners' progress writes would wait behind a
    long-book tagging run): the catalogue is read in read-only sessions, and the rendition rows
    are written in two short transactions."""
    pending: list[tuple[tuple, dict]] = []  # _upsert arguments, applied in one short transaction
    stale: list[int] = []                   # rendition ids of chapters that no longer exist
    with _reading(session_factory) as session:
        book, specs = (session.get(Book, book_id), _specs) if _specs else _load(session, store, book_id)
        if book is None:
            raise PackageError(f"Không có sách id={book_id} (no book with id {book_id})")
        prefix = MediaStore.book_prefix(book.uuid)
        result = _result or PackageResult(book_id=book_id, prefix=prefix)
        mp3 = _mp3 or _mp3_settings(book.profile, specs[0].channels)
        authors = ", ".join(c.name for c in book.contributors("aut"))
        narrators = ", ".join(c.name for c in book.contributors("nrt"))
        cover, cover_mime = _cover_bytes(store, book)
        cover_hash = hashlib.sha256(cover).hexdigest()

        cover_key = f"{prefix}/cover.{'png' if cover_mime == 'image/png' else 'jpg'}"
        if _current(session, book_id, "cover", "cover", cover_hash, store) is None:
            store.write_bytes(cover_key, cover)
            pending.append(((book_id, "cover", "cover", cover_key, cover_hash),
                            dict(codec=cover_mime, bitrate=0, channels=0, duration_s=0.0, size_bytes=len(cover),
                                 sha256=cover_hash)))
            result.written.append(cover_key)

        base = tags.AudioTags(title=book.title, album=book.title, author=authors, narrator=narrators,
                              language=book.language or "vie", year=book.year, publisher=book.publisher,
                              description=book.summary, cover=cover, cover_mime=cover_mime)
        total = len(specs)
        mp3_keys = []
        for spec in specs:
            work = f"{prefix}/work/mp3/{spec.position:03d}.mp3"
            final = f"{prefix}/mp3/{readium.mp3_name(spec.position)}"
            mp3_keys.append(final)
            chapter_tags = _replace(base, title=spec.title, track=spec.position, track_total=total,
                                    chapters=(tags.TagChapter(spec.title, 0.0, spec.duration_s),))
            audio_source = _read_meta(store.path(work + ".json")).get("source", "")
            source = _hash(audio_source, _tags_signature(chapter_tags), cover_hash)
            if _current(session, book_id, "mp3", "mp3", source, store, chapter_id=spec.id):
                result.unchanged.append(final)
                continue
            sha, size = _tagged_copy(store, work, final, lambda p, t=chapter_tags: tags.write_mp3(p, t))
            pending.append(((book_id, "mp3", "mp3", final, source),
                            dict(chapter_id=spec.id, codec="mp3", bitrate=mp3.bitrate_kbps * 1000,
                                 channels=mp3.channels, duration_s=spec.duration_s, size_bytes=size, sha256=sha)))
            result.written.append(final)
        for row in session.execute(select(Rendition).where(
                Rendition.book_id == book_id, Rendition.kind == "mp3")).scalars():
            if row.key not in mp3_keys:   # a chapter that no longer exists
                store.path(row.key).unlink(missing_ok=True)
                stale.append(row.id)

        work = f"{prefix}/work/book.m4a"
        m4b_tags = _replace(base, chapters=tuple(
            tags.TagChapter(s.title, s.start_s, s.start_s + s.duration_s) for s in specs))
        audio_source = _read_meta(store.path(work + ".json")).get("source", "")
        source = _hash(audio_source, _tags_signature(m4b_tags), cover_hash)
        key = f"{prefix}/book.m4b"
        if _current(session, book_id, "m4b", "m4b", source, store):
            result.unchanged.append(key)
        else:
            sha, size = _tagged_copy(store, work, key, lambda p: tags.write_m4b(p, m4b_tags))
            bitrate, channels = _m4b_settings(specs[0].channels)
            pending.append(((book_id, "m4b", "m4b", key, source),
                            dict(codec="aac", bitrate=bitrate, channels=channels,
                                 duration_s=sum(s.duration_s for s in specs), size_bytes=size, sha256=sha)))
            result.written.append(key)
    _write_renditions(session_factory, pending, stale)

    with _reading(session_factory) as session:
        book = session.get(Book, book_id)
        manifest = readium.build_manifest(book)
        manifest_bytes = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
        store.write_bytes(f"{prefix}/manifest.json", manifest_bytes)
        mp3_shas = [r.sha256 for r in sorted(
            (r for r in book.renditions if r.kind == "mp3"), key=lambda r: r.key)]
        source = _hash(hashlib.sha256(manifest_bytes).hexdigest(), mp3_shas, cover_hash)
        key = f"{prefix}/book.audiobook"
        current = _current(session, book_id, "audiobook", "audiobook", source, store) is not None
    if current:
        result.unchanged.append(key)
    else:
        with store.atomic_path(key) as tmp:
            write_audiobook_zip(tmp, manifest_bytes,
                                [(k.split(f"{prefix}/", 1)[1], store.path(k)) for k in mp3_keys]
                                + [(cover_key.rsplit("/", 1)[1], store.path(cover_key))])
        path = store.path(key)
        _write_renditions(session_factory, [((book_id, "audiobook", "audiobook", key, source), dict(
            codec="zip", bitrate=0, channels=0, duration_s=sum(s.duration_s for s in specs),
            size_bytes=path.stat().st_size, sha256=sha256_file(path)))], [])
        result.written.append(key)
    return result


@contextmanager
def _reading(session_factory):
    """A read-only session (no write lock on SQLite), closed afterwards."""
    session = read_only_session(session_factory)
    try:
        yield session
    finally:
        session.close()


def _write_renditions(session_factory, pending: list[tuple[tuple, dict]], stale: list[int]) -> None:
    """Apply `_upsert` arguments and delete stale rendition rows, in one short transaction."""
    if not pending and not stale:
        return
    with session_scope(session_factory) as session:
        for args, kwargs in pending:
            _upsert(session, *args, **kwargs)
        for rendition_id in stale:
            row = session.get(Rendition, rendition_id)
            if row is not None:
                session.delete(row)


def _replace(t: tags.AudioTags, **changes) -> tags.AudioTags:
    from dataclasses import replace
    return replace(t, **changes)


def _tags_signature(t: tags.AudioTags) -> str:
    return _hash(_replace(t, cover=None))


def _tagged_copy(store: MediaStore, work_key: str, final_key: str, write) -> tuple[str, int]:
    """Copy an encoded work file to its final name with tags written, atomically."""
    work = store.path(work_key)
    if not work.is_file():
        raise PackageError(f"Thiếu tệp đã mã hoá (missing encoded file) {work_key}; chạy lại bước đóng gói "
                           "(run the package stage again)")
    with store.atomic_path(final_key) as tmp:
        shutil.copyfile(work, tmp)
        try:
            write(tmp)
        except TagError as exc:
            raise PackageError(str(exc)) from exc
    path = store.path(final_key)
    return sha256_file(path), path.stat().st_size


def write_audiobook_zip(dst: Path, manifest: bytes, files: list[tuple[str, Path]]) -> None:
    """A Readium `.audiobook` package: `manifest.json` first at the root, then the resources under
    the same relative paths the manifest uses. Audio is stored (already compressed); only the
    manifest is deflated."""
    with zipfile.ZipFile(dst, "w") as zf:
        zf.writestr(zipfile.ZipInfo("manifest.json", date_time=(2020, 1, 1, 0, 0, 0)), manifest,
                    compress_type=zipfile.ZIP_DEFLATED)
        for arcname, path in files:
            info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            with open(path, "rb") as src, zf.open(info, "w", force_zip64=True) as out:
                shutil.copyfileobj(src, out, 1 << 20)
