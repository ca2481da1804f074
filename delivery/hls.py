"""HLS as a file format: segment planning, fMP4 segment timing, playlist text (write, parse, rewrite URIs).

Knows nothing about books: a rendition is a list of segments with durations, a master playlist a
list of variants. The package stage (`studio.package`) strings chapters together with it; on the
way out the web side only rewrites URIs (`rewrite_uris`, e.g. to append a signed `?t=<token>`).
Every URI is relative to its playlist, so `/books/<id>/hls/master.m3u8` and
`/books/<id>/hls/<rendition>/<file>` are served straight from the book's `hls/` folder.
Times are seconds, rates bits per second.

Container choice: fragmented MP4 (CMAF-style `init.mp4` + `.m4s` media segments), not MPEG-TS.
- hls.js appends fMP4 to Media Source Extensions as it is; MPEG-TS would be transmuxed in
  JavaScript on every reader's phone.
- Safari's native HLS plays fMP4 audio since iOS 10 / macOS 10.12, and Apple's HLS authoring
  specification lists fMP4 for new content.
- Each TS segment repeats tables and wraps audio in 188-byte packets; for a 32 kbps rung that
  overhead is a noticeable share of the bytes a weak rural link has to carry. fMP4 pays a few
  hundred bytes per segment instead, plus one shared init segment.
- The timeline is plain: each segment carries its start time (`tfdt`), which lets chapters encoded
  separately (in parallel) be placed on one continuous book timeline by rewriting 8 bytes.
"""
from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

TARGET_SEGMENT_S = 6.0      # Apple authoring spec target
MAX_SEGMENT_S = 6.5         # our hard limit: never more than 0.5 s over the target
# Extra room in the plan for the AAC priming/padding frames ffmpeg adds after the last input sample,
# so that they never spill into a short extra segment of their own.
PLAN_SLACK_S = 0.1


class HlsFormatError(ValueError):
    """Playlist text or segment bytes that are not what this module writes."""


def segment_length(duration_s: float, target_s: float = TARGET_SEGMENT_S) -> float:
    """Equal segment length (<= target) that splits a chapter of `duration_s` into whole segments.

    A chapter of 13 s becomes three segments of about 4.37 s rather than 6 + 6 + 1: the chapter
    then starts on a segment boundary and no segment is tiny.
    """
    if duration_s <= 0:
        raise ValueError("duration_s must be positive")
    span = duration_s + PLAN_SLACK_S
    count = max(1, math.ceil(span / target_s))
    return span / count


# -- fMP4 segment timing ------------------------------------------------------------------------
_CONTAINERS = {b"moof", b"traf"}


def shift_fmp4_segment(data: bytes, offset_ticks: int) -> bytes:
    """Return segment bytes with every `tfdt` (baseMediaDecodeTime) moved by `offset_ticks`.

    A chapter encoded alone starts at time 0; its segments are moved to the chapter's place in the
    book (ticks of the track time scale, i.e. samples for audio); a `sidx` earliest presentation time
    moves with it. Raises `HlsFormatError` when there is no `tfdt`.
    """
    buf = bytearray(data)
    found = 0

    def walk(start: int, end: int) -> None:
        nonlocal found
        pos = start
        while pos + 8 <= end:
            size, kind = struct.unpack_from(">I4s", buf, pos)
            header = 8
            if size == 1:
                size = struct.unpack_from(">Q", buf, pos + 8)[0]
                header = 16
            elif size == 0:
                size = end - pos
            if size < header or pos + size > end:
                raise HlsFormatError("hỏng cấu trúc hộp MP4 (corrupt MP4 box structure)")
            if kind == b"sidx":
                # version(1) flags(3) reference_ID(4) timescale(4) earliest_presentation_time(4|8)
                version = buf[pos + header]
                field = pos + header + 12
                fmt = ">Q" if version == 1 else ">I"
                value = struct.unpack_from(fmt, buf, field)[0] + offset_ticks
                if value < 0 or (version == 0 and value >= 1 << 32):
                    raise HlsFormatError("shifted sidx time out of range")
                struct.pack_into(fmt, buf, field, value)
            elif kind in _CONTAINERS:
                walk(pos + header, pos + size)
            elif kind == b"tfdt":
                version = buf[pos + header]
                field = pos + header + 4
                if version == 1:
                    value = struct.unpack_from(">Q", buf, field)[0] + offset_ticks
                    struct.pack_into(">Q", buf, field, value)
                else:
                    value = struct.unpack_from(">I", buf, field)[0] + offset_ticks
                    if value >= 1 << 32:
                        raise HlsFormatError("tfdt version 0 cannot hold the shifted time")
                    struct.pack_into(">I", buf, field, value)
                if value < 0:
                    raise HlsFormatError("shifted tfdt would be negative")
                found += 1
            pos += size

    walk(0, len(buf))
    if not found:
        raise HlsFormatError("no tfdt box in segment")
    return bytes(buf)


def fmp4_decode_time(data: bytes) -> int:
    """The first `tfdt` (baseMediaDecodeTime, in time-scale ticks) of a media segment."""
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        if kind in _CONTAINERS:
            pos += 8
            continue
        if kind == b"tfdt":
            version = data[pos + 8]
            fmt = ">Q" if version == 1 else ">I"
            return struct.unpack_from(fmt, data, pos + 12)[0]
        if size < 8:
            break
        pos += size
    raise HlsFormatError("no tfdt box in segment")


def fmp4_timescale(init: bytes) -> int:
    """The audio track's time scale (ticks per second) from an init segment's `mdhd`."""
    idx = init.find(b"mdhd")
    if idx < 4:
        raise HlsFormatError("no mdhd box in init segment")
    version = init[idx + 4]
    at = idx + 4 + 4 + (16 if version == 1 else 8)
    return struct.unpack_from(">I", init, at)[0]


# -- playlists ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    uri: str
    duration_s: float
    title: str = ""   # written after the comma of EXTINF (chapter title on a chapter's first segment)


@dataclass(frozen=True)
class Variant:
    uri: str                   # relative URI of the media playlist
    bandwidth: int             # peak segment bit rate, bits/s
    average_bandwidth: int     # whole-rendition bit rate, bits/s
    codecs: str
    channels: int
    name: str = ""


def media_playlist(segments: Sequence[Segment], *, init_uri: str, version: int = 7) -> str:
    """A VOD media playlist over `segments` (relative URIs) sharing one init segment."""
    if not segments:
        raise HlsFormatError("a media playlist needs at least one segment")
    longest = max(s.duration_s for s in segments)
    if longest > MAX_SEGMENT_S:
        raise HlsFormatError(f"segment of {longest:.3f} s is longer than {MAX_SEGMENT_S} s")
    target = max(1, math.floor(longest + 0.5))  # each EXTINF rounded to nearest must be <= target
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{version}", f"#EXT-X-TARGETDURATION:{target}",
             "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-INDEPENDENT-SEGMENTS",
             f'#EXT-X-MAP:URI="{init_uri}"']
    for seg in segments:
        title = seg.title.replace("\n", " ").replace("\r", " ")
        lines.append(f"#EXTINF:{seg.duration_s:.6f},{title}")
        lines.append(seg.uri)
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def master_playlist(variants: Sequence[Variant], *, version: int = 7) -> str:
    """Master playlist listing each rendition with BANDWIDTH, AVERAGE-BANDWIDTH, CODECS, CHANNELS."""
    if not variants:
        raise HlsFormatError("a master playlist needs at least one variant")
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{version}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for v in variants:
        attrs = [f"BANDWIDTH={int(v.bandwidth)}", f"AVERAGE-BANDWIDTH={int(v.average_bandwidth)}",
                 f'CODECS="{v.codecs}"']
        if v.name:
            attrs.append(f'NAME="{v.name}"')
        lines.append("#EXT-X-STREAM-INF:" + ",".join(attrs))
        lines.append(v.uri)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class MediaPlaylist:
    target_duration: int
    init_uri: str | None
    segments: tuple[Segment, ...]
    ended: bool
    playlist_type: str

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.segments)

    def starts(self) -> list[float]:
        """Start time of each segment on the playlist timeline."""
        out, t = [], 0.0
        for seg in self.segments:
            out.append(t)
            t += seg.duration_s
        return out


_ATTR = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def parse_attributes(text: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in _ATTR.findall(text)}


def parse_media_playlist(text: str) -> MediaPlaylist:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise HlsFormatError("not an M3U8 playlist (no #EXTM3U)")
    target, init, ended, kind = None, None, False, ""
    segments: list[Segment] = []
    pending: tuple[float, str] | None = None
    for line in lines[1:]:
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-MAP:"):
            init = parse_attributes(line.split(":", 1)[1]).get("URI")
        elif line.startswith("#EXT-X-PLAYLIST-TYPE:"):
            kind = line.split(":", 1)[1]
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif line.startswith("#EXTINF:"):
            dur, _, title = line[len("#EXTINF:"):].partition(",")
            pending = (float(dur), title)
        elif not line.startswith("#"):
            if pending is None:
                raise HlsFormatError(f"URI without #EXTINF: {line}")
            segments.append(Segment(line, pending[0], pending[1]))
            pending = None
    if target is None:
        raise HlsFormatError("missing #EXT-X-TARGETDURATION")
    return MediaPlaylist(target, init, tuple(segments), ended, kind)


def parse_master_playlist(text: str) -> list[tuple[dict[str, str], str]]:
    """[(STREAM-INF attributes, URI)] in order."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise HlsFormatError("not an M3U8 playlist (no #EXTM3U)")
    out, attrs = [], None
    for line in lines[1:]:
        if line.startswith("#EXT-X-STREAM-INF:"):
            attrs = parse_attributes(line.split(":", 1)[1])
        elif not line.startswith("#") and attrs is not None:
            out.append((attrs, line))
            attrs = None
    return out


def bandwidths(sizes_bytes: Iterable[int], durations_s: Iterable[float]) -> tuple[int, int]:
    """(peak, average) bit rate over segments: BANDWIDTH is the largest segment rate,
    AVERAGE-BANDWIDTH the total bits over the total time."""
    peak, total_bits, total_s = 0.0, 0.0, 0.0
    for size, dur in zip(sizes_bytes, durations_s):
        bits = size * 8
        total_bits += bits
        total_s += dur
        if dur > 0.5:  # a sliver's rate says nothing about the stream
            peak = max(peak, bits / dur)
    average = total_bits / total_s if total_s else 0.0
    return int(math.ceil(max(peak, average))), int(math.ceil(average))


# -- serving: URIs rewritten on the way out --------------------------------------------------------
_URI_ATTR = re.compile(r'URI="([^"]*)"')


def rewrite_uris(playlist_text: str, fn: Callable[[str], str]) -> str:
    """Map every URI line and every `URI="..."` attribute (EXT-X-MAP, EXT-X-MEDIA, ...) through `fn`.

    Tags, comments and blank lines are kept as they are; line endings are normalised to LF.
    """
    out = []
    for line in playlist_text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            out.append(fn(stripped))
        elif stripped.startswith("#") and 'URI="' in stripped:
            out.append(_URI_ATTR.sub(lambda m: f'URI="{fn(m.group(1))}"', stripped))
        else:
            out.append(line)
    return "\n".join(out) + ("\n" if playlist_text.endswith(("\n", "\r")) else "")


def add_query(uri: str, query: str) -> str:
    """`uri` with `query` (e.g. "t=abc") appended, keeping any query it already has."""
    if not query:
        return uri
    return f"{uri}{'&' if '?' in uri else '?'}{query}"
