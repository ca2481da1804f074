"""The package stage's HLS assembly: every chapter's segments placed on the book timeline (one init
segment, names carrying a hash of their source), one media playlist per rung, the master playlist."""
from __future__ import annotations

import hashlib

from sqlalchemy import select

from catalog.models import Rendition
from delivery import encoders, hls
from recordings.errors import RecordingsError
from recordings.store import MediaStore
from studio.package_spec import WORK_VERSION, ChapterSpec, PackageError, PackageResult, source_hash
from studio.renditions import current_rendition, upsert


def _chapter_segments(store: MediaStore, folder: str) -> tuple[bytes, list[str]]:
    """(init segment, keys of the media segments) of one chapter's encode under the key `folder`."""
    playlist = hls.parse_media_playlist(store.read_bytes(f"{folder}/chapter.m3u8").decode("utf-8"))
    init = store.read_bytes(f"{folder}/{playlist.init_uri or 'init.mp4'}")
    return init, [f"{folder}/{s.uri}" for s in playlist.segments]


def assemble_rung(store: MediaStore, prefix: str, specs: list[ChapterSpec], rung: encoders.AacRung,
                  job_sources: dict[str, str]) -> tuple[str, dict]:
    """Place every chapter's segments on the book timeline; returns (source hash, row fields)."""
    rung_key = f"{prefix}/hls/{rung.name}"
    sources = [job_sources[f"hls {rung.name} ch{s.position:02d}"] for s in specs]
    starts = [s.start_s for s in specs]
    source = source_hash(WORK_VERSION, sources, starts, [s.title for s in specs])
    inits, chapter_segments = [], []
    for spec in specs:
        init, segs = _chapter_segments(store, f"{prefix}/work/hls/{rung.name}/{spec.position:03d}")
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
        for k, data in enumerate(store.read_many(segs)):
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


def write_ladder(db, store: MediaStore, book_id: int, prefix: str, specs: list[ChapterSpec],
                 ladder: tuple[encoders.AacRung, ...], job_sources: dict[str, str], result: PackageResult) -> None:
    """Assemble each rung whose encodes changed, write the master playlist, drop rungs no longer in
    the ladder; rows are written in `session`."""
    variants = []
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
                source, fields = assemble_rung(store, prefix, specs, rung, job_sources)
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
    for row in stale:
        store.delete_tree(row.key)
        db.delete(row)
