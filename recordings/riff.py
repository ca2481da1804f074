"""WAV/BWF/RF64 marker reading: `cue ` points and their `labl` names from a RIFF file.

libsndfile (through soundfile) exposes neither cue points nor LIST/adtl labels, so this is a
small RIFF chunk walker: it reads only chunk headers and the few small chunks it needs,
seeking past the audio data, so a 2 GB take costs a handful of reads. It also handles RF64
(the `ds64` chunk carries the real 64-bit data size).
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from recordings.errors import NotAudioError


@dataclass(frozen=True)
class CueMarker:
    cue_id: int
    frame: int        # sample offset within the data chunk
    label: str        # from LIST/adtl `labl`, '' when unnamed
    length_frames: int = 0  # from LIST/adtl `ltxt` (a region), 0 for a point

    def start_s(self, rate: int) -> float:
        return self.frame / rate


def _decode(raw: bytes) -> str:
    raw = raw.split(b"\x00", 1)[0]
    for encoding in ("utf-8", "cp1258", "latin-1"):
        try:
            return raw.decode(encoding).strip()
        except UnicodeDecodeError:
            continue
    return ""


def read_cue_markers(path: str | os.PathLike) -> list[CueMarker]:
    """Cue markers of a WAV/BWF/RF64 file in time order; [] for other formats or no markers."""
    path = Path(path)
    points: dict[int, int] = {}
    labels: dict[int, str] = {}
    lengths: dict[int, int] = {}
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", b"RF64", b"BW64"):
            return []
        file_size = path.stat().st_size
        ds64_data_size = None
        pos = 12
        while pos + 8 <= file_size:
            fh.seek(pos)
            header = fh.read(8)
            if len(header) < 8:
                break
            chunk_id, size = header[:4], struct.unpack("<I", header[4:])[0]
            if chunk_id == b"ds64":
                body = fh.read(min(size, 28))
                if len(body) >= 16:
                    ds64_data_size = struct.unpack("<Q", body[8:16])[0]
            elif chunk_id == b"data" and size == 0xFFFFFFFF and ds64_data_size is not None:
                size = ds64_data_size
            elif chunk_id == b"cue " and size <= 1 << 20:
                body = fh.read(size)
                if len(body) < 4:
                    raise NotAudioError(f"{path.name}: khối cue bị hỏng (corrupt cue chunk)")
                count = struct.unpack("<I", body[:4])[0]
                for i in range(min(count, (len(body) - 4) // 24)):
                    cue_id, _pos, _chunk, _cstart, _bstart, offset = struct.unpack_from("<II4sIII", body, 4 + 24 * i)
                    points[cue_id] = offset
            elif chunk_id == b"LIST" and size <= 1 << 20:
                body = fh.read(size)
                if body[:4] == b"adtl":
                    _read_adtl(body[4:], labels, lengths)
            pos += 8 + size + (size & 1)  # chunks are word-aligned
    markers = [CueMarker(cid, frame, labels.get(cid, ""), lengths.get(cid, 0)) for cid, frame in points.items()]
    return sorted(markers, key=lambda m: (m.frame, m.cue_id))


def _read_adtl(body: bytes, labels: dict[int, str], lengths: dict[int, int]) -> None:
    pos = 0
    while pos + 8 <= len(body):
        sub_id, size = body[pos:pos + 4], struct.unpack("<I", body[pos + 4:pos + 8])[0]
        data = body[pos + 8:pos + 8 + size]
        if sub_id in (b"labl", b"note") and len(data) >= 4:
            cue_id = struct.unpack("<I", data[:4])[0]
            if sub_id == b"labl" or cue_id not in labels:
                labels[cue_id] = _decode(data[4:])
        elif sub_id == b"ltxt" and len(data) >= 8:
            cue_id, length = struct.unpack("<II", data[:8])
            lengths[cue_id] = length
        pos += 8 + size + (size & 1)


def cue_chunks(markers: list[tuple[int, str]]) -> bytes:
    """`cue ` + LIST/adtl chunks for (frame, label) points: the writer tests and tools use."""
    cue = struct.pack("<I", len(markers))
    adtl = b"adtl"
    for i, (frame, label) in enumerate(markers, start=1):
        cue += struct.pack("<II4sIII", i, frame, b"data", 0, 0, frame)
        text = label.encode("utf-8") + b"\x00"
        sub = struct.pack("<I", i) + text
        adtl += b"labl" + struct.pack("<I", len(sub)) + sub + (b"\x00" if len(sub) & 1 else b"")
    out = b"cue " + struct.pack("<I", len(cue)) + cue
    out += b"LIST" + struct.pack("<I", len(adtl)) + adtl + (b"\x00" if len(adtl) & 1 else b"")
    return out


def append_cue_markers(path: str | os.PathLike, markers: list[tuple[int, str]]) -> None:
    """Append cue/labl chunks to a RIFF WAV in place and fix the RIFF size (for tests and tools)."""
    extra = cue_chunks(markers)
    with open(path, "r+b") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() & 1:
            fh.write(b"\x00")
        fh.write(extra)
        total = fh.tell()
        fh.seek(4)
        fh.write(struct.pack("<I", total - 8))


def data_chunk_extent(path: str | os.PathLike) -> tuple[int, int, int] | None:
    """(data offset, declared data size, bytes actually present) of a RIFF/RF64 WAV; None if not one.

    libsndfile quietly shortens a WAV whose data chunk runs past the end of the file; a take cut
    short by a crash or a broken copy must be refused instead, so the probe compares the two.
    """
    path = Path(path)
    file_size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", b"RF64", b"BW64"):
            return None
        ds64_data_size = None
        pos = 12
        while pos + 8 <= file_size:
            fh.seek(pos)
            header = fh.read(8)
            chunk_id, size = header[:4], struct.unpack("<I", header[4:])[0]
            if chunk_id == b"ds64":
                body = fh.read(min(size, 28))
                if len(body) >= 16:
                    ds64_data_size = struct.unpack("<Q", body[8:16])[0]
            if chunk_id == b"data":
                if size == 0xFFFFFFFF and ds64_data_size is not None:
                    size = ds64_data_size
                return pos + 8, size, max(0, file_size - pos - 8)
            pos += 8 + size + (size & 1)
    return None
