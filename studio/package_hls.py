"""The package stage's HLS assembly: every chapter's segments placed on the book timeline (one init
segment, names carrying a hash of their source), one media playlist per rung, the master playlist."""
from __future__ import annotations

import hashlib
import json
from typing import AbstractSet

from sqlalchemy import select

from catalog.models import Book, MediaVersion, Rendition
from delivery import encoders, hls
from recordings.errors import RecordingsError
from recordings.store import MediaStore
from studio.media_versions import kept_keys
from studio.package_spec import WORK_VERSION, ChapterSpec, PackageError, PackageResult, read_meta, source_hash
from studio.renditions import current_rendition, upsert


def segment_name(position: int, placement: str, index: int) -> str:
    """A chapter segment's name on the book timeline: chapter, a hash of its encode and its place
    on the timeline, its number."""
    return f"c{position:03d}-{placement[:8]}-{index:03d}.m4s"


def init_name(init_hash: str) -> str:
    """The rung's init segment, named by (10 hex of) its SHA-256: every chapter's encode has the same."""
    return f"init-{init_hash}.mp4"


def place_chapter(store: MediaStore, rung_key: str, spec: ChapterSpec, source: str, init: bytes,
                  segments: list[bytes]) -> dict:
    """Write one chapter's encode onto the book timeline under `rung_key` (its segments' decode
    times moved to the chapter's start, and the rung's init segment), in parallel on an object
    store. These are the only stored copies of the encode's segments. Returns what assembly reuses,
    kept in the encode's `job.json`: {"scale": ticks per s, "offset": ticks, "init": 10 hex of the
    init's SHA-256, "names", "starts" (ticks), "sizes" (bytes)}."""
    scale = hls.fmp4_timescale(init)
    init_hash = hashlib.sha256(init).hexdigest()[:10]
    return _write_placement(store, rung_key, spec, source, scale, init_hash, segments,
                            round(spec.start_s * scale), {f"{rung_key}/{init_name(init_hash)}": init})


def _write_placement(store: MediaStore, rung_key: str, spec: ChapterSpec, source: str, scale: int,
                     init_hash: str, segments: list[bytes], shift: int, extra: dict[str, bytes]) -> dict:
    """Write `segments` moved by `shift` ticks to the chapter's start, named for this encode at this
    place (a chapter moved on the timeline gets new names, so its old placement stays readable until
    the playlist no longer names it)."""
    offset = round(spec.start_s * scale)
    placement = hashlib.sha256(f"{source}:{offset}".encode()).hexdigest()
    files = {f"{rung_key}/{segment_name(spec.position, placement, k)}": hls.shift_fmp4_segment(data, shift)
             for k, data in enumerate(segments)}
    store.write_many({**extra, **files})
    return {"scale": scale, "offset": offset, "init": init_hash,
            "names": [key.rsplit("/", 1)[1] for key in files],
            "starts": [hls.fmp4_decode_time(data) for data in files.values()],
            "sizes": [len(data) for data in files.values()]}


def placement_present(placed: dict, rung_key: str, present: dict[str, int]) -> bool:
    """Whether every file of a placement (its segments, at their sizes, and the init) is in `present`
    ({key: bytes}, a listing of the rung)."""
    return bool(placed.get("names")) and f"{rung_key}/{init_name(placed.get('init', ''))}" in present and all(
        present.get(f"{rung_key}/{name}") == size for name, size in zip(placed["names"], placed["sizes"]))


def _placed(store: MediaStore, rung_key: str, work_key: str, spec: ChapterSpec, source: str,
            present: dict[str, int]) -> dict:
    """The chapter's placement on the timeline: the one its encode made when the chapter starts where
    it did then, else that placement's segments moved to the chapter's new start (kept in `job.json`)."""
    meta = read_meta(store, f"{work_key}/job.json")
    placed = meta.get("placed") or {}
    if meta.get("source") != source or not placement_present(placed, rung_key, present):
        # the encode's done() checks the same: only a concurrent run of this stage gets here
        raise PackageError(f"{rung_key}: chương {spec.position} chưa mã hoá xong "
                           f"(chapter {spec.position} is not encoded yet)")
    offset = round(spec.start_s * placed["scale"])
    if placed["offset"] == offset:
        return placed
    segments = store.read_many([f"{rung_key}/{name}" for name in placed["names"]])
    moved = _write_placement(store, rung_key, spec, source, placed["scale"], placed["init"], segments,
                             offset - placed["offset"], {})
    store.write_bytes(f"{work_key}/job.json", json.dumps({**meta, "placed": moved}).encode())
    return moved


def assemble_rung(store: MediaStore, prefix: str, specs: list[ChapterSpec], rung: encoders.AacRung,
                  job_sources: dict[str, str], kept: AbstractSet[str] = frozenset()) -> tuple[str, dict]:
    """Place every chapter's segments on the book timeline (reusing where its encode put them),
    write the rung's init segment and playlist (last), remove what neither the playlist nor a
    published version (`kept`: keys, studio.media_versions.kept_keys) names; returns (source
    hash, row fields)."""
    rung_key = f"{prefix}/hls/{rung.name}"
    sources = [job_sources[f"hls {rung.name} ch{s.position:02d}"] for s in specs]
    source = source_hash(WORK_VERSION, sources, [s.start_s for s in specs], [s.title for s in specs])
    present = dict(store.list(rung_key))
    placed = [_placed(store, rung_key, f"{prefix}/work/hls/{rung.name}/{spec.position:03d}", spec, src, present)
              for spec, src in zip(specs, sources)]
    if len({p["init"] for p in placed}) > 1 or len({p["scale"] for p in placed}) > 1:
        raise PackageError(f"{rung.name}: các chương có init segment khác nhau "
                           "(chapter encodes produced different init segments)")
    init_uri = init_name(placed[0]["init"])
    init_key = f"{rung_key}/{init_uri}"
    init_size = present[init_key]   # placement_present checked it
    scale = placed[0]["scale"]
    end_ticks = round((specs[-1].start_s + specs[-1].duration_s) * scale)
    entries = [(name, start, size, spec.title if k == 0 else "")   # (name, start ticks, bytes, title)
               for spec, p in zip(specs, placed) for k, (name, start, size)
               in enumerate(zip(p["names"], p["starts"], p["sizes"]))]
    segments = [hls.Segment(name, ((entries[i + 1][1] if i + 1 < len(entries) else end_ticks) - start) / scale, title)
                for i, (name, start, _size, title) in enumerate(entries)]
    text = hls.media_playlist(segments, init_uri=init_uri)
    store.write_bytes(f"{rung_key}/index.m3u8", text.encode("utf-8"))   # after every file it names
    named = {f"{rung_key}/{name}" for name, *_rest in entries} | {init_key, f"{rung_key}/index.m3u8"}
    store.delete_many(sorted(set(present) - named - kept))
    sizes = [size for _name, _start, size, _title in entries]
    peak, average = hls.bandwidths(sizes, [s.duration_s for s in segments])
    fields = dict(codec="aac", bitrate=rung.bitrate_bps, channels=rung.channels,
                  duration_s=sum(s.duration_s for s in segments), size_bytes=sum(sizes) + init_size,
                  sha256=hashlib.sha256(text.encode()).hexdigest(),
                  extra={"bandwidth": peak, "average_bandwidth": average})
    return source, fields


def write_ladder(db, store: MediaStore, book_id: int, prefix: str, specs: list[ChapterSpec],
                 ladder: tuple[encoders.AacRung, ...], job_sources: dict[str, str], result: PackageResult) -> None:
    """Assemble each rung whose encodes changed, write the master playlist, drop rungs no longer in
    the ladder; rows are written in `session`."""
    variants = []
    kept: set[str] | None = None   # read once, and only when something is to be removed

    def kept_now() -> set[str]:
        nonlocal kept
        if kept is None:
            uuid = db.get(Book, book_id).uuid
            kept = kept_keys(store, uuid, db.execute(select(MediaVersion.version).where(
                MediaVersion.book_id == book_id)).scalars())
        return kept

    for rung in ladder:
        key = f"{prefix}/hls/{rung.name}"
        sources = [job_sources[f"hls {rung.name} ch{s.position:02d}"] for s in specs]
        source = source_hash(WORK_VERSION, sources, [s.start_s for s in specs], [s.title for s in specs])
        row = current_rendition(db, book_id, "hls", rung.name, source, store)
        if row is not None and store.exists(f"{key}/index.m3u8"):
            result.unchanged.append(key)
            text = store.read_bytes(f"{key}/index.m3u8").decode("utf-8")
            pl = hls.parse_media_playlist(text)
            sizes = dict(store.list(key))
            peak, average = hls.bandwidths([sizes[f"{key}/{s.uri}"] for s in pl.segments],
                                           [s.duration_s for s in pl.segments])
        else:
            try:
                source, fields = assemble_rung(store, prefix, specs, rung, job_sources, kept_now())
            except (hls.HlsFormatError, RecordingsError, OSError) as exc:
                raise PackageError(f"Không ghép được HLS {rung.name} (cannot assemble HLS): {exc}") from exc
            peak, average = fields["extra"]["bandwidth"], fields["extra"]["average_bandwidth"]
            upsert(db, book_id, "hls", rung.name, key, source, **fields)
            result.written.append(key)
        variants.append(hls.Variant(f"{rung.name}/index.m3u8", peak, average, rung.codecs,
                                    rung.channels, rung.name))
    # 64 kbps first: players start on the first listed variant, a safe start on a phone.
    variants.sort(key=lambda v: (v.name != "aac-64k-mono", v.average_bandwidth))
    store.write_bytes(f"{prefix}/hls/master.m3u8", hls.master_playlist(variants).encode())
    stale = [r for r in db.execute(select(Rendition).where(
        Rendition.book_id == book_id, Rendition.kind == "hls")).scalars()
        if r.name not in {rung.name for rung in ladder}]
    for row in stale:   # a rung dropped from the ladder: its segments stay while a version names them
        store.delete_many(sorted(key for key, _size in store.list(row.key) if key not in kept_now()))
        db.delete(row)
