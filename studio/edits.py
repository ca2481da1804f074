"""Edits on a take's timeline, sample-exact: cut ranges removed, pickups spliced in.

Times from labels and session.toml are seconds; they become frames once, with round(), at the
take's own rate, and from then on everything is integer frames, so the same marks always give
the same samples. An edit list is a tuple of `Segment`s — (which original, which frames) in
playing order — that can be shown, stored and rendered again; nothing here touches an original.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import soundfile as sf

from studio.errors import N_, StudioError


class EditError(StudioError):
    """Cuts or pickups that cannot be applied (overlapping pickups, mismatched formats, out of range)."""


@dataclass(frozen=True)
class Segment:
    sha256: str      # the original the frames come from
    start: int       # first frame (inclusive) in that original
    stop: int        # last frame (exclusive)
    at: int          # where it sits on the main take's timeline (frames)
    pickup: bool = False

    @property
    def frames(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Pickup:
    sha256: str
    frames: int      # length of the pickup take
    start: int       # replaced range of the main take, frames
    stop: int


def to_frames(seconds: float, rate: int) -> int:
    return int(round(seconds * rate))


def _merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for a, b in sorted(r for r in ranges if r[1] > r[0]):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def edit_list(sha256: str, frames: int, cuts: Iterable[tuple[int, int]] = (),
              pickups: Sequence[Pickup] = ()) -> tuple[Segment, ...]:
    """The take [0, frames) with `cuts` removed and each pickup's range replaced by the pickup take.

    Cuts may overlap each other (they are merged); pickups may not overlap each other. A cut
    inside a pickup's range has nothing left to cut there and is ignored.
    """
    for p in pickups:
        if not 0 <= p.start < p.stop <= frames:
            raise EditError(N_("Đoạn thay thế %(start)s–%(stop)s nằm ngoài bản ghi %(frames)s mẫu."),
                            start=p.start, stop=p.stop, frames=frames)
    ordered = sorted(pickups, key=lambda p: p.start)
    for earlier, later in zip(ordered, ordered[1:]):
        if later.start < earlier.stop:
            raise EditError(N_("Hai đoạn thay thế chồng lên nhau."))
    removed = _merge([(max(0, a), min(frames, b)) for a, b in cuts] + [(p.start, p.stop) for p in ordered])
    segments: list[Segment] = []
    pos = 0
    inserts = {p.start: p for p in ordered}
    for a, b in removed:
        if a > pos:
            segments.append(Segment(sha256, pos, a, pos))
        # a pickup whose range starts inside this removed stretch is played where its range starts
        for start in sorted(s for s in inserts if a <= s < b):
            p = inserts[start]
            segments.append(Segment(p.sha256, 0, p.frames, p.start, pickup=True))
        pos = max(pos, b)
    if pos < frames:
        segments.append(Segment(sha256, pos, frames, pos))
    return tuple(segments)


def span(segments: Sequence[Segment], start: int, stop: int | None) -> tuple[Segment, ...]:
    """The part of an edit list belonging to [start, stop) of the main take's timeline.

    A pickup belongs wholly to the span its replaced range starts in, so a chapter boundary never
    splits a replacement line.
    """
    result = []
    for seg in segments:
        if seg.pickup:
            if start <= seg.at and (stop is None or seg.at < stop):
                result.append(seg)
            continue
        a = max(seg.start, start)
        b = seg.stop if stop is None else min(seg.stop, stop)
        if b > a:
            result.append(Segment(seg.sha256, a, b, a))
    return tuple(result)


def render(segments: Sequence[Segment], open_original: Callable[[str], Path], out_path: str | Path,
           block_frames: int = 65536) -> int:
    """Write the segments, in order, to `out_path` as FLAC PCM_24; returns the frames written.

    All sources must share rate and channel count (checked first, before anything is written).
    """
    if not segments:
        raise EditError(N_("Đoạn rỗng: không còn âm thanh sau khi cắt."))
    shapes = {}
    for sha in dict.fromkeys(s.sha256 for s in segments):
        info = sf.info(str(open_original(sha)))
        shapes[sha] = (info.samplerate, info.channels)
    if len(set(shapes.values())) != 1:
        raise EditError(N_("Bản ghi thay thế khác tần số lấy mẫu hoặc số kênh: %(shapes)s"), shapes=", ".join(f"{sha[:8]}={r} Hz/{c} ch" for sha, (r, c) in shapes.items()))
    rate, channels = next(iter(shapes.values()))
    written = 0
    with sf.SoundFile(str(out_path), "w", samplerate=rate, channels=channels, format="FLAC",
                      subtype="PCM_24") as out:
        for seg in segments:
            with sf.SoundFile(str(open_original(seg.sha256))) as src:
                src.seek(seg.start)
                remaining = seg.frames
                while remaining > 0:
                    block = src.read(min(block_frames, remaining), dtype="float32", always_2d=True)
                    if block.shape[0] == 0:
                        raise EditError(N_("Bản gốc %(sha)s ngắn hơn dự kiến."), sha=seg.sha256[:12])
                    out.write(block)
                    remaining -= block.shape[0]
                    written += block.shape[0]
    return written
