"""Versioned media: what readers are served is published under a content-derived version and
switched to in one database update; replaced versions are removed after a grace period.

The package and tag stages write a book's outputs under `derived/books/<uuid>/` (HLS ladder,
chapter MP3s, M4B, `.audiobook`, cover), reusing what did not change. `publish` then copies the
served files that keep their names when re-made to

    derived/books/<uuid>/v/<version>/hls/master.m3u8, hls/<rung>/index.m3u8, mp3/NN.mp3, book.m4b, ...

(a hard link on a local folder, a server-side copy on an object store), playlists last, and sets
`books.media_version` in one short transaction. HLS segments named by their content
(`recordings.store.SHARED_HLS`, as the package stage names them) are not copied: one name is only
ever one set of bytes, so every version that names one is served it from where the encode placed
it (`recordings.store.hls_key`), and a 60-minute book publishes ~20 copies instead of ~1 800.
Such a segment is removed only when no playlist still names it: neither the package's own nor
any version's not yet collected (`kept_keys`; the HLS assembly and `collect` both ask).

`version` is 16 hex digits of a SHA-256 over what the outputs were made from and are (each
rendition row's source and content hash, the master playlist), so the same package publishes the
same version again and any change to any served byte gives a new one: a path is never reused
for other bytes, and caches (nginx's `proxy_cache`, a CDN, the browser: segments are served as
immutable) can never hand out a stale segment for a new version. Players hold playlists of one
version, whose URLs carry it (`/m/<token>/<uuid>/<version>/hls/...`, web.media), so a switch
mid-listen never mixes versions.

A replaced version is marked `retired_at` in the same transaction and removed by `collect` only
once it has been retired longer than MEDIA_VERSION_GRACE_S (default a day, above the life of a
media token, MEDIA_TOKEN_TTL_S, so no player can still hold one of its playlists). A version row
is written (retired) before its files are copied, so the files of a publication that crashed
half-way are collected the same way. Books packaged before versions existed have no
`media_version` and are served from the unversioned layout until they are published again
(`sachnoi media publish`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import delete, select, update

from catalog.db import session_scope
from catalog.models import Book, MediaVersion, Rendition, utcnow
from delivery import hls
from recordings.errors import RecordingsError
from recordings.store import SHARED_HLS, MediaStore, served_prefix
from studio.errors import N_, StudioError
from studio.renditions import reading

VERSION = re.compile(r"^[0-9a-f]{16}$")
SERVED_KINDS = ("hls", "mp3", "m4b", "audiobook", "cover")  # talking books stay unversioned downloads


class PublishError(StudioError):
    """The book's outputs cannot be published (missing playlist or file)."""


@dataclass(frozen=True)
class Published:
    book_id: int
    version: str
    files: int        # files the version serves (copied under its prefix or shared)
    changed: bool     # False: this version was already the current one
    copied: int = 0   # files copied under the version's prefix (the rest are shared segments)


def _read_text(store: MediaStore, key: str) -> str:
    try:
        with store.open(key) as fh:
            return fh.read().decode("utf-8")
    except (RecordingsError, OSError, UnicodeDecodeError) as exc:
        raise PublishError(N_("Không đọc được tệp %(key)s của sách: %(error)s"), key=key, error=str(exc)) from exc


def _hls_files(store: MediaStore, prefix: str) -> tuple[list[str], str]:
    """(every HLS file under `prefix`, relative to it, playlists last; the master playlist's text),
    named by the playlists (the master, then each rung's index), not by listing a folder, so
    leftovers of an older encode are never counted. PublishError when a playlist cannot be read."""
    master = _read_text(store, f"{prefix}/hls/master.m3u8")
    files: list[str] = []
    playlists = []
    for _attrs, uri in hls.parse_master_playlist(master):
        rung = uri.rsplit("/", 1)[0]
        playlist = hls.parse_media_playlist(_read_text(store, f"{prefix}/hls/{uri}"))
        files += [f"hls/{rung}/{playlist.init_uri}"] if playlist.init_uri else []
        files += [f"hls/{rung}/{s.uri}" for s in playlist.segments]
        playlists.append(f"hls/{uri}")
    return files + playlists + ["hls/master.m3u8"], master


def served_files(store: MediaStore, prefix: str, rows: list[Rendition]) -> tuple[list[str], str]:
    """(every served file relative to `prefix`, playlists last; the master playlist's text or "")."""
    files, master = _hls_files(store, prefix) if any(r.kind == "hls" for r in rows) else ([], "")
    own = f"{prefix}/"
    downloads = sorted(r.key[len(own):] for r in rows if r.kind != "hls" and r.key.startswith(own))
    return downloads + files, master


def _shared(rel: str) -> bool:
    """Is `rel` (relative to a book's prefix) a content-named HLS segment, stored once per book?"""
    return rel.startswith("hls/") and SHARED_HLS.match(rel.rsplit("/", 1)[-1]) is not None


def _check_shared(store: MediaStore, prefix: str, shared: list[str]) -> None:
    """Refuse (PublishError) when a shared segment a playlist names is not stored: one listing per rung."""
    present: set[str] = set()
    for folder in sorted({rel.rsplit("/", 1)[0] for rel in shared}):
        present.update(key for key, _size in store.list(f"{prefix}/{folder}"))
    missing = [rel for rel in shared if f"{prefix}/{rel}" not in present]
    if missing:
        raise PublishError(N_("Thiếu %(count)s tệp HLS của sách, ví dụ %(key)s."),
                           count=len(missing), key=f"{prefix}/{missing[0]}")


def shared_keys(store: MediaStore, book_uuid: str, version: str | None = None) -> set[str]:
    """The keys of the shared (content-named) segments that the playlists of `version` (None: the
    package's own, unversioned playlists) name. Playlists that cannot be read name nothing (only a
    publication that crashed before its master playlist was copied, never served, has none)."""
    try:
        files, _master = _hls_files(store, served_prefix(book_uuid, version))
    except (PublishError, hls.HlsFormatError):
        return set()
    base = MediaStore.book_prefix(book_uuid)
    return {f"{base}/{rel}" for rel in files if _shared(rel)}


def kept_keys(store: MediaStore, book_uuid: str, versions: Iterable[str]) -> set[str]:
    """The shared segments still named by any of `versions` (the book's version rows not yet
    collected): what an assembly or a collection must not remove."""
    kept: set[str] = set()
    for version in versions:
        kept |= shared_keys(store, book_uuid, version)
    return kept


def version_of(rows: list[Rendition], master_text: str) -> str:
    """The content-derived version of a book's served media (16 hex digits)."""
    lines = sorted(f"{r.kind}|{r.name}|{r.chapter_id or ''}|{r.key}|{r.sha256}|{r.source_sha256}" for r in rows)
    lines.append("master|" + hashlib.sha256(master_text.encode("utf-8")).hexdigest())
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:16]


def publish(session_factory, store: MediaStore, book_id: int, *, grace_s: float | None = None,
            now: dt.datetime | None = None) -> Published | None:
    """Publish book `book_id`'s current outputs as a version and switch readers to it. None when
    the book has nothing packaged. With `grace_s`, the book's versions retired longer ago than that
    are collected afterwards. Idempotent: publishing an unchanged package changes nothing."""
    with reading(session_factory) as db:
        book = db.get(Book, book_id)
        if book is None:
            raise PublishError(N_("Không có sách số %(id)s."), id=book_id)
        uuid, current = book.uuid, book.media_version
        rows = [r for r in book.renditions if r.kind in SERVED_KINDS]
        for row in rows:
            db.expunge(row)
    if not any(r.kind in ("hls", "mp3") for r in rows):
        return None
    prefix = MediaStore.book_prefix(uuid)
    files, master = served_files(store, prefix, rows)
    version = version_of(rows, master)
    target = served_prefix(uuid, version)
    if version == current and store.exists(f"{target}/{files[-1]}"):
        return Published(book_id, version, len(files), changed=False)
    copies = [rel for rel in files if not _shared(rel)]
    _check_shared(store, prefix, [rel for rel in files if _shared(rel)])
    moment = now or utcnow()
    with session_scope(session_factory) as db:   # recorded first: a crash below leaves it collectable
        if db.execute(select(MediaVersion.id).where(MediaVersion.book_id == book_id,
                                                    MediaVersion.version == version)).first() is None:
            db.add(MediaVersion(book_id=book_id, version=version, created_at=moment, retired_at=moment))
    # playlists come last in `files`: a playlist never names a file not yet there
    store.copy_many([(f"{prefix}/{rel}", f"{target}/{rel}") for rel in copies])
    with session_scope(session_factory) as db:   # the switch: one short transaction
        db.execute(update(MediaVersion).where(MediaVersion.book_id == book_id, MediaVersion.version != version,
                                              MediaVersion.retired_at.is_(None)).values(retired_at=moment))
        db.execute(update(MediaVersion).where(MediaVersion.book_id == book_id, MediaVersion.version == version)
                   .values(retired_at=None))
        # updated_at kept: a new encode is not a catalogue change (OAI-PMH datestamps follow renditions)
        db.execute(update(Book).where(Book.id == book_id)
                   .values(media_version=version, updated_at=Book.updated_at))
    if grace_s is not None:
        collect(session_factory, store, grace_s=grace_s, book_id=book_id, now=moment)
    return Published(book_id, version, len(files), changed=True, copied=len(copies))


def collect(session_factory, store: MediaStore, *, grace_s: float, book_id: int | None = None,
            now: dt.datetime | None = None) -> list[tuple[int, str]]:
    """Remove versions retired more than `grace_s` seconds before `now` (of one book or all):
    files first (the shared segments only this version named, then its prefix), then the row, so
    a crash leaves the row to collect again. Returns (book id, version)."""
    cutoff = (now or utcnow()) - dt.timedelta(seconds=max(0.0, grace_s))
    with reading(session_factory) as db:
        query = select(MediaVersion.id, MediaVersion.book_id, MediaVersion.version, Book.uuid, Book.media_version) \
            .join(Book, Book.id == MediaVersion.book_id).where(MediaVersion.retired_at <= cutoff)
        if book_id is not None:
            query = query.where(MediaVersion.book_id == book_id)
        found = db.execute(query).all()
    removed = []
    for row_id, owner, version, uuid, current in found:
        if version == current or not VERSION.match(version):
            continue  # never the version readers are served (a publish switched back meanwhile)
        named = shared_keys(store, uuid, version)
        if named:
            with reading(session_factory) as db:
                others = list(db.execute(select(MediaVersion.version).where(
                    MediaVersion.book_id == owner, MediaVersion.id != row_id)).scalars())
            named -= shared_keys(store, uuid) | kept_keys(store, uuid, others)
            store.delete_many(sorted(named))
        store.delete_tree(served_prefix(uuid, version))
        with session_scope(session_factory) as db:
            db.execute(delete(MediaVersion).where(MediaVersion.id == row_id, MediaVersion.retired_at <= cutoff))
        removed.append((owner, version))
    return removed


def publish_all(session_factory, store: MediaStore, *, grace_s: float | None = None) -> list[Published]:
    """Publish every packaged book that has no version yet or whose outputs changed (the backfill
    for books packaged before versions: `sachnoi media publish`)."""
    with reading(session_factory) as db:
        ids = list(db.execute(select(Rendition.book_id).where(Rendition.kind.in_(("hls", "mp3")))
                              .distinct().order_by(Rendition.book_id)).scalars())
    done = []
    for book_id in ids:
        published = publish(session_factory, store, book_id, grace_s=grace_s)
        if published is not None:
            done.append(published)
    return done
