"""Tags: the one module that talks to mutagen. Its errors become `catalog.errors.TagError`.

MP3 gets ID3v2.4 (UTF-8 text frames):
    TIT2 chapter title, TALB book title, TPE1 author, TPE2 author (album artist, so apps group the
    chapters as one book), TRCK "n/total", TLAN language (ISO 639-2, "vie"), TCON "Audiobook",
    TPUB publisher, TDRC year, COMM description, APIC front cover, CHAP + CTOC chapter frames.
    Narrator: TCOM (composer) *and* TXXX:NARRATOR. Audiobook players disagree on where to look:
    Audiobookshelf, Smart AudioBook Player and the files Audible/m4b-tool produce use the composer
    field for the reader, while tag-aware library tools read a NARRATOR user text frame. Writing
    both costs a few bytes and is read back from TXXX:NARRATOR first.
M4B gets MP4 atoms:
    ©nam title, ©alb book, ©ART / aART author, ©wrt narrator (composer, same convention as above)
    plus the freeform ----:com.apple.iTunes:NARRATOR, ©gen "Audiobook", ©day year, desc,
    ----:com.apple.iTunes:LANGUAGE, covr, trkn, and stik = 2 (media kind "Audiobook", which makes
    Apple's players file it under audiobooks). Chapter markers are written by ffmpeg at encode time
    and read back here from mutagen's view of them.
Times are seconds.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from mutagen import MutagenError
from mutagen.id3 import (
    APIC, CHAP, COMM, CTOC, ID3, TALB, TCOM, TCON, TDRC, TIT2, TLAN, TPE1, TPE2, TPUB, TRCK, TXXX,
    CTOCFlags, ID3NoHeaderError,
)
from mutagen.mp4 import MP4, MP4Cover, MP4FreeForm

from catalog.errors import TagError

GENRE = "Audiobook"
STIK_AUDIOBOOK = 2
_FREEFORM = "----:com.apple.iTunes:"


@dataclass(frozen=True)
class TagChapter:
    title: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class AudioTags:
    """What we write into (and read back from) a delivery file."""

    title: str                          # chapter title (MP3) or book title (M4B)
    album: str                          # book title
    author: str = ""
    narrator: str = ""
    track: int | None = None
    track_total: int | None = None
    language: str = "vie"               # ISO 639-2
    year: int | None = None
    publisher: str = ""
    description: str = ""
    genre: str = GENRE
    cover: bytes | None = None
    cover_mime: str = "image/jpeg"
    chapters: tuple[TagChapter, ...] = field(default_factory=tuple)
    media_kind: int | None = None       # MP4 stik; 2 = audiobook (read back only)


def _fail(path, action: str, exc: Exception) -> TagError:
    return TagError(f"Không {action} được thẻ của {os.fspath(path)} "
                    f"(cannot {'read' if action == 'đọc' else 'write'} tags of {os.fspath(path)}): {exc}")


# -- MP3 / ID3v2.4 -------------------------------------------------------------------------------
def write_mp3(path: str | os.PathLike, tags: AudioTags) -> None:
    """Replace the ID3 tag of an MP3 with `tags` as ID3v2.4."""
    try:
        try:
            id3 = ID3(path)
            id3.delete(path)
        except ID3NoHeaderError:
            pass
        id3 = ID3()
        id3.add(TIT2(encoding=3, text=tags.title))
        id3.add(TALB(encoding=3, text=tags.album))
        if tags.author:
            id3.add(TPE1(encoding=3, text=tags.author))
            id3.add(TPE2(encoding=3, text=tags.author))
        if tags.narrator:
            id3.add(TCOM(encoding=3, text=tags.narrator))
            id3.add(TXXX(encoding=3, desc="NARRATOR", text=tags.narrator))
        if tags.track is not None:
            total = f"/{tags.track_total}" if tags.track_total else ""
            id3.add(TRCK(encoding=3, text=f"{tags.track}{total}"))
        if tags.language:
            id3.add(TLAN(encoding=3, text=tags.language))
        if tags.genre:
            id3.add(TCON(encoding=3, text=tags.genre))
        if tags.publisher:
            id3.add(TPUB(encoding=3, text=tags.publisher))
        if tags.year:
            id3.add(TDRC(encoding=3, text=str(tags.year)))
        if tags.description:
            id3.add(COMM(encoding=3, lang=tags.language or "vie", desc="", text=tags.description))
        if tags.cover:
            id3.add(APIC(encoding=3, mime=tags.cover_mime, type=3, desc="Cover", data=tags.cover))
        ids = []
        for n, ch in enumerate(tags.chapters, 1):
            eid = f"ch{n}"
            ids.append(eid)
            id3.add(CHAP(element_id=eid, start_time=int(round(ch.start_s * 1000)),
                         end_time=int(round(ch.end_s * 1000)), start_offset=0xFFFFFFFF,
                         end_offset=0xFFFFFFFF, sub_frames=[TIT2(encoding=3, text=ch.title)]))
        if ids:
            id3.add(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                         child_element_ids=ids, sub_frames=[TIT2(encoding=3, text=tags.album)]))
        id3.save(path, v2_version=4, v1=0)
    except (MutagenError, OSError, ValueError) as exc:
        raise _fail(path, "ghi", exc) from exc


def _text(id3: ID3, key: str) -> str:
    frame = id3.get(key)
    return str(frame.text[0]) if frame is not None and frame.text else ""


def read_mp3(path: str | os.PathLike) -> AudioTags:
    try:
        id3 = ID3(path)
    except (MutagenError, OSError) as exc:
        raise _fail(path, "đọc", exc) from exc
    track = total = None
    if trck := _text(id3, "TRCK"):
        head, _, tail = trck.partition("/")
        track = int(head) if head.isdigit() else None
        total = int(tail) if tail.isdigit() else None
    year = _text(id3, "TDRC")
    apics = id3.getall("APIC")
    comments = id3.getall("COMM")
    chaps = sorted(id3.getall("CHAP"), key=lambda c: c.start_time)
    toc = id3.getall("CTOC")
    if toc:  # follow the table of contents' order when there is one
        by_id = {c.element_id: c for c in chaps}
        chaps = [by_id[e] for e in toc[0].child_element_ids if e in by_id]
    chapters = tuple(
        TagChapter(title=str(c.sub_frames["TIT2"].text[0]) if "TIT2" in c.sub_frames else "",
                   start_s=c.start_time / 1000, end_s=c.end_time / 1000) for c in chaps)
    return AudioTags(
        title=_text(id3, "TIT2"), album=_text(id3, "TALB"), author=_text(id3, "TPE1"),
        narrator=_text(id3, "TXXX:NARRATOR") or _text(id3, "TCOM"),
        track=track, track_total=total, language=_text(id3, "TLAN"),
        year=int(year[:4]) if year[:4].isdigit() else None, publisher=_text(id3, "TPUB"),
        description=str(comments[0].text[0]) if comments and comments[0].text else "",
        genre=_text(id3, "TCON"), cover=apics[0].data if apics else None,
        cover_mime=apics[0].mime if apics else "image/jpeg", chapters=chapters)


# -- M4B / MP4 atoms -----------------------------------------------------------------------------
def write_m4b(path: str | os.PathLike, tags: AudioTags) -> None:
    """Write MP4 metadata atoms (chapter markers already in the file are kept)."""
    try:
        mp4 = MP4(path)
        if mp4.tags is None:
            mp4.add_tags()
        t = mp4.tags
        assert t is not None  # add_tags() made them
        t.clear()
        t["©nam"] = [tags.title]
        t["©alb"] = [tags.album]
        if tags.author:
            t["©ART"] = [tags.author]
            t["aART"] = [tags.author]
        if tags.narrator:
            t["©wrt"] = [tags.narrator]
            t[_FREEFORM + "NARRATOR"] = [MP4FreeForm(tags.narrator.encode("utf-8"))]
        if tags.genre:
            t["©gen"] = [tags.genre]
        if tags.year:
            t["©day"] = [str(tags.year)]
        if tags.description:
            t["desc"] = [tags.description]
        if tags.publisher:
            t[_FREEFORM + "PUBLISHER"] = [MP4FreeForm(tags.publisher.encode("utf-8"))]
        if tags.language:
            t[_FREEFORM + "LANGUAGE"] = [MP4FreeForm(tags.language.encode("utf-8"))]
        if tags.track is not None:
            t["trkn"] = [(tags.track, tags.track_total or 0)]
        t["stik"] = [STIK_AUDIOBOOK]
        if tags.cover:
            fmt = MP4Cover.FORMAT_PNG if tags.cover_mime == "image/png" else MP4Cover.FORMAT_JPEG
            t["covr"] = [MP4Cover(tags.cover, imageformat=fmt)]
        mp4.save()
    except (MutagenError, OSError, ValueError, TypeError) as exc:
        raise _fail(path, "ghi", exc) from exc


def _first(tags, key: str, default=""):
    value = tags.get(key) if tags is not None else None
    return value[0] if value else default


def _freeform(tags, name: str) -> str:
    value = _first(tags, _FREEFORM + name, None)
    return bytes(value).decode("utf-8") if value is not None else ""


def read_m4b(path: str | os.PathLike) -> AudioTags:
    try:
        mp4 = MP4(path)
    except (MutagenError, OSError) as exc:
        raise _fail(path, "đọc", exc) from exc
    t = mp4.tags
    track, total = _first(t, "trkn", (None, None))
    cover = _first(t, "covr", None)
    year = str(_first(t, "©day"))
    chapters: tuple[TagChapter, ...] = ()
    if mp4.chapters:
        marks = list(mp4.chapters)
        length = mp4.info.length if mp4.info is not None else 0.0
        chapters = tuple(TagChapter(m.title, m.start, marks[i + 1].start if i + 1 < len(marks) else length)
                         for i, m in enumerate(marks))
    return AudioTags(
        title=_first(t, "©nam"), album=_first(t, "©alb"), author=_first(t, "©ART"),
        narrator=_freeform(t, "NARRATOR") or _first(t, "©wrt"),
        track=track or None, track_total=total or None, language=_freeform(t, "LANGUAGE"),
        year=int(year[:4]) if year[:4].isdigit() else None, publisher=_freeform(t, "PUBLISHER"),
        description=_first(t, "desc"), genre=_first(t, "©gen"),
        cover=bytes(cover) if cover is not None else None,
        cover_mime="image/png" if cover is not None and cover.imageformat == MP4Cover.FORMAT_PNG
        else "image/jpeg",
        chapters=chapters, media_kind=_first(t, "stik", None))


