"""The tag step of the package stage: tagged downloads (MP3s, M4B), cover, Readium manifest and the
`.audiobook` zip, written from the encoded work files. Only outputs whose inputs changed are rewritten."""
from __future__ import annotations

import hashlib
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from sqlalchemy import select

from catalog import readium, tags
from catalog.errors import TagError
from catalog.models import Book, Rendition
from delivery.audiobook import write_audiobook_zip
from delivery.covers import default_cover
from recordings.errors import RecordingsError
from recordings.store import MediaStore, sha256_file
from studio.package_spec import (
    ChapterSpec,
    Mp3Settings,
    PackageError,
    PackageResult,
    load_book,
    m4b_settings,
    mp3_settings,
    read_meta,
    source_hash,
)
from studio.renditions import current_rendition, reading, write_renditions

TAG_COPIES = 4   # tagged downloads written at once


def tag_book(session_factory, store: MediaStore, book_id: int, *, _result: PackageResult | None = None,
             _specs: list[ChapterSpec] | None = None, _mp3: Mp3Settings | None = None) -> PackageResult:
    """Write the tagged downloads (MP3s, M4B), cover, manifest and `.audiobook` zip from the encoded
    work files. Cheap; only outputs whose inputs (audio or metadata) changed are rewritten.

    Files are copied, tagged, hashed and zipped outside any write transaction (on SQLite a write
    transaction holds the one write lock, and listeners' progress writes would wait behind a
    long-book tagging run): the catalogue is read in read-only sessions, and the rendition rows
    are written in two short transactions."""
    pending: list[tuple[tuple, dict]] = []  # upsert arguments, applied in one short transaction
    copies: list[tuple] = []                # (work key, final key, tag writer, (upsert args, fields))
    stale: list[int] = []                   # rendition ids of chapters that no longer exist
    with reading(session_factory) as db:
        book, specs = (db.get(Book, book_id), _specs) if _specs else load_book(db, store, book_id)
        if book is None:
            raise PackageError(f"Không có sách id={book_id} (no book with id {book_id})")
        prefix = MediaStore.book_prefix(book.uuid)
        result = _result or PackageResult(book_id=book_id, prefix=prefix)
        mp3 = _mp3 or mp3_settings(book.profile, specs[0].channels)
        authors = ", ".join(c.name for c in book.contributors("aut"))
        narrators = ", ".join(c.name for c in book.contributors("nrt"))
        cover, cover_mime = _cover_bytes(store, book)
        cover_hash = hashlib.sha256(cover).hexdigest()

        cover_key = f"{prefix}/cover.{'png' if cover_mime == 'image/png' else 'jpg'}"
        if current_rendition(db, book_id, "cover", "cover", cover_hash, store) is None:
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
            audio_source = read_meta(store, work + ".json").get("source", "")
            source = source_hash(audio_source, _tags_signature(chapter_tags), cover_hash)
            if current_rendition(db, book_id, "mp3", "mp3", source, store, chapter_id=spec.id):
                result.unchanged.append(final)
                continue
            copies.append((work, final, lambda p, t=chapter_tags: tags.write_mp3(p, t),
                           ((book_id, "mp3", "mp3", final, source),
                            dict(chapter_id=spec.id, codec="mp3", bitrate=mp3.bitrate_kbps * 1000,
                                 channels=mp3.channels, duration_s=spec.duration_s))))
        for row in db.execute(select(Rendition).where(
                Rendition.book_id == book_id, Rendition.kind == "mp3")).scalars():
            if row.key not in mp3_keys:   # a chapter that no longer exists
                store.delete(row.key)
                stale.append(row.id)

        work = f"{prefix}/work/book.m4a"
        m4b_tags = _replace(base, chapters=tuple(
            tags.TagChapter(s.title, s.start_s, s.start_s + s.duration_s) for s in specs))
        audio_source = read_meta(store, work + ".json").get("source", "")
        source = source_hash(audio_source, _tags_signature(m4b_tags), cover_hash)
        key = f"{prefix}/book.m4b"
        if current_rendition(db, book_id, "m4b", "m4b", source, store):
            result.unchanged.append(key)
        else:
            bitrate, channels = m4b_settings(specs[0].channels)
            copies.insert(0, (work, key, lambda p: tags.write_m4b(p, m4b_tags),   # the longest first
                              ((book_id, "m4b", "m4b", key, source),
                               dict(codec="aac", bitrate=bitrate, channels=channels,
                                    duration_s=sum(s.duration_s for s in specs)))))
    # each copy is a download, a tag write and an upload on an object store: waits, run side by side
    with ThreadPoolExecutor(max_workers=TAG_COPIES, thread_name_prefix="tags") as pool:
        done = list(pool.map(lambda c: _tagged_copy(store, c[0], c[1], c[2]), copies))
    for (_work, final, _write, (args, fields)), (sha, size) in zip(copies, done):
        pending.append((args, {**fields, "size_bytes": size, "sha256": sha}))
        result.written.append(final)
    write_renditions(session_factory, pending, stale)

    with reading(session_factory) as db:
        book = db.get(Book, book_id)
        manifest = readium.build_manifest(book)
        manifest_bytes = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
        store.write_bytes(f"{prefix}/manifest.json", manifest_bytes)
        mp3_shas = [r.sha256 for r in sorted(
            (r for r in book.renditions if r.kind == "mp3"), key=lambda r: r.key)]
        source = source_hash(hashlib.sha256(manifest_bytes).hexdigest(), mp3_shas, cover_hash)
        key = f"{prefix}/book.audiobook"
        current = current_rendition(db, book_id, "audiobook", "audiobook", source, store) is not None
    if current:
        result.unchanged.append(key)
    else:
        with store.atomic_path(key) as tmp:
            write_audiobook_zip(tmp, manifest_bytes,
                                [(k.split(f"{prefix}/", 1)[1], store.path(k)) for k in mp3_keys]
                                + [(cover_key.rsplit("/", 1)[1], store.path(cover_key))])
        path = store.path(key)  # the file just written (an object store keeps it as its cached copy)
        write_renditions(session_factory, [((book_id, "audiobook", "audiobook", key, source), dict(
            codec="zip", bitrate=0, channels=0, duration_s=sum(s.duration_s for s in specs),
            size_bytes=path.stat().st_size, sha256=sha256_file(path)))], [])
        result.written.append(key)
    return result


def _cover_bytes(store: MediaStore, book: Book) -> tuple[bytes, str]:
    """(bytes, mime) of the book's cover: `cover_path` is a media-store key."""
    if book.cover_path:
        try:
            data = store.read_bytes(book.cover_path)
        except (RecordingsError, OSError) as exc:
            raise PackageError(f"Không đọc được ảnh bìa (cannot read cover) {book.cover_path}: {exc}") from exc
        if data.startswith(b"\x89PNG"):
            return data, "image/png"
        if data.startswith(b"\xff\xd8"):
            return data, "image/jpeg"
        raise PackageError(f"Ảnh bìa phải là JPEG hoặc PNG (cover must be JPEG or PNG): {book.cover_path}")
    names = [c.name for c in book.contributors("aut")]
    return default_cover(book.title, ", ".join(names)), "image/jpeg"


def _replace(t: tags.AudioTags, **changes) -> tags.AudioTags:
    return replace(t, **changes)


def _tags_signature(t: tags.AudioTags) -> str:
    return source_hash(_replace(t, cover=None))


def _tagged_copy(store: MediaStore, work_key: str, final_key: str, write) -> tuple[str, int]:
    """Copy an encoded work file to its final name with tags written, atomically."""
    work = store.path(work_key)
    if not work.is_file():  # path(): a local copy, downloaded from an object store
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
