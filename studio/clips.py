"""Promotion clips: a range of a published book's masters made into a podcast MP3 and a square
social-media MP4 (cover, moving waveform, burnt-in title).

    range of masters → mono → fades → optional intro/outro jingle → loudness to the `podcast`
    profile (−16 LUFS, true peak ≤ −1 dBTP, limited) → WAV → MP3 (CBR) and MP4 (1080×1080 and
    1080×1920 stories, H.264+AAC; title and captions laid out by `delivery.video`)

`render_clip(ctx, clip_id)` loads the Clip row, renders, and writes the outcome back (keys, byte
length, duration); the same function runs from the web page, the CLI or a job worker. Outputs live
under `derived/clips/<clip uuid>/`, never beside the book's files, so a clip link reaches only
the clip. A clip is at most `MAX_CLIP_S` long and less than half of the book; the clips of a
restricted title (not `public`) together cover at most half of it.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly
from sqlalchemy import select

from catalog.errors import TagError
from catalog.states import ClipState
from catalog.models import Book, Clip, Jingle
from catalog.tags import AudioTags, write_mp3
from delivery import encoders
from delivery.encoders import mp3
from delivery.ffmpeg import FFmpegError, run
from delivery.video import FORMATS, VideoLayoutError, captions_ass, plain_background, title_overlay
from mastering.meter import measure
from mastering.profiles import get_profile
from mastering.stages import LimiterParams, limit
from studio.context import Context
from studio.errors import N_, StudioError

MAX_CLIP_S = 300.0          # a retail sample is at most 5 minutes
MIN_CLIP_S = 1.0
MAX_BOOK_SHARE = 0.5        # never more than half of the book
FADE_S = 0.5
RATE = 44100
VIDEO_SIZE = 1080
MP3_KBPS = 128


class ClipError(StudioError):
    """A clip that cannot be made (bad range, book not ready, encoder failure)."""


@dataclass(frozen=True)
class ClipResult:
    mp3_key: str
    mp3_bytes: int
    mp4_key: str
    mp4_bytes: int
    duration_s: float
    integrated_lufs: float
    true_peak_dbtp: float


def check_range(start_s: float, end_s: float, book_duration_s: float) -> None:
    """Raise ClipError unless [start_s, end_s) is a short part of the book."""
    if not (0 <= start_s < end_s <= book_duration_s + 1e-6):
        raise ClipError(N_("Đoạn %(start).1f–%(end).1f s nằm ngoài sách (%(book).1f s)."),
                        start=start_s, end=end_s, book=book_duration_s)
    length = end_s - start_s
    if length < MIN_CLIP_S:
        raise ClipError(N_("Đoạn quá ngắn (%(length).1f s)."), length=length)
    if length > MAX_CLIP_S:
        raise ClipError(N_("Đoạn dài tối đa %(max).0f s."), max=MAX_CLIP_S)
    if length > MAX_BOOK_SHARE * book_duration_s:
        raise ClipError(N_("Đoạn giới thiệu không được dài quá %(share)s cuốn sách."), share=f"{MAX_BOOK_SHARE:.0%}")


def covered_s(ranges: list[tuple[float, float]]) -> float:
    """Seconds of the book that `ranges` [(start_s, end_s)] cover together (overlaps counted once)."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(ranges):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def check_clip(db, book: Book, start_s: float, end_s: float, *, clip_id: int | None = None) -> None:
    """`check_range`, and for a title not everyone may hear (access policy other than `public`),
    the share limit over all its clips together, so many short clips cannot publish the whole book.
    `clip_id`: a clip already stored; only clips made before it count (the earlier clip keeps its
    place if two were cut at once). Raises ClipError."""
    check_range(start_s, end_s, book.duration_s)
    if book.access_policy == "public":
        return
    others = select(Clip.start_s, Clip.end_s).where(Clip.book_id == book.id)
    if clip_id is not None:
        others = others.where(Clip.id < clip_id)
    ranges = [(a, b) for a, b in db.execute(others)] + [(start_s, end_s)]
    if covered_s(ranges) > MAX_BOOK_SHARE * book.duration_s + 1e-6:
        raise ClipError(N_("Các đoạn giới thiệu của sách hạn chế truy cập cộng lại không được quá %(share)s "
                           "cuốn sách."), share=f"{MAX_BOOK_SHARE:.0%}")


def _mono(x: np.ndarray, rate: int) -> np.ndarray:
    x = np.asarray(x, np.float64)
    mono = x.mean(axis=1) if x.ndim == 2 else x
    if rate != RATE:
        g = gcd(RATE, rate)
        mono = resample_poly(mono, RATE // g, rate // g)
    return mono


def read_book_range(chapters: list[tuple[float, float, Path]], start_s: float, end_s: float) -> np.ndarray:
    """Mono samples at RATE of [start_s, end_s) of the book; chapters are (start_s, duration_s, master)."""
    parts = []
    for ch_start, ch_dur, path in chapters:
        a, b = max(start_s, ch_start), min(end_s, ch_start + ch_dur)
        if b <= a:
            continue
        with sf.SoundFile(str(path)) as fh:
            fh.seek(int(round((a - ch_start) * fh.samplerate)))
            data = fh.read(int(round((b - a) * fh.samplerate)), dtype="float32", always_2d=True)
            parts.append(_mono(data, fh.samplerate))
    if not parts:
        raise ClipError(N_("Không đọc được âm thanh của đoạn đã chọn."))
    return np.concatenate(parts)


def fade(x: np.ndarray, seconds: float = FADE_S) -> np.ndarray:
    """Raised-cosine fade in and out (pure)."""
    n = min(int(seconds * RATE), len(x) // 2)
    if n <= 0:
        return x.copy()
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n))
    out = x.copy()
    out[:n] *= ramp
    out[-n:] *= ramp[::-1]
    return out


def assemble(body: np.ndarray, intro: np.ndarray | None = None, outro: np.ndarray | None = None,
             gap_s: float = 0.3) -> np.ndarray:
    gap = np.zeros(int(gap_s * RATE))
    pieces = []
    if intro is not None and len(intro):
        pieces += [fade(intro, 0.05), gap]
    pieces.append(fade(body))
    if outro is not None and len(outro):
        pieces += [gap, fade(outro, 0.05)]
    return np.concatenate(pieces)


def to_podcast_loudness(x: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Gain to the `podcast` profile's target, then limit under its ceiling; (samples, LUFS, dBTP)."""
    profile = get_profile("podcast")
    before = measure(x[:, None].astype(np.float32), RATE, true_peak=False)
    if not np.isfinite(before.integrated_lufs):
        raise ClipError(N_("Đoạn đã chọn im lặng."))
    gained = x * 10 ** ((profile.target_lufs - before.integrated_lufs) / 20)
    ceiling = profile.ceiling_dbtp - profile.limiter_margin_db
    limited = limit(gained[:, None], RATE, LimiterParams(ceiling_dbtp=ceiling))[:, 0]
    after = measure(limited[:, None].astype(np.float32), RATE)
    return limited.astype(np.float32), float(after.integrated_lufs), float(after.true_peak_dbtp)


def video_key(clip_uuid: str, fmt: str) -> str:
    """Media key of a clip's MP4 in format `fmt` ("square" is the row's `mp4_key`; "story" 1080×1920)."""
    return f"derived/clips/{clip_uuid}/clip.mp4" if fmt == "square" else f"derived/clips/{clip_uuid}/clip-{fmt}.mp4"


def render_videos(ctx: Context, wav: Path, cover: Path | None, title: str, vtt: str, uuid: str,
                  duration: float, tmp: Path) -> dict[str, str]:
    """Encode the clip's MP4 in every format of `delivery.video.FORMATS`; {format: media key}."""
    image = cover if cover and cover.is_file() else plain_background(tmp / "bg.png", VIDEO_SIZE)
    keys = {}
    for name, fmt in FORMATS.items():
        title_png = tmp / f"title-{name}.png"
        title_overlay(title, fmt, title_png)
        captions = None
        if vtt.strip():
            captions = tmp / f"captions-{name}.ass"
            try:
                captions.write_text(captions_ass(vtt, fmt), encoding="utf-8")
            except VideoLayoutError as exc:
                raise ClipError(str(exc)) from None
        keys[name] = video_key(uuid, name)
        with ctx.store.atomic_path(keys[name]) as out:
            run(encoders.clip_mp4(wav, image, title_png, captions, out, duration, fmt), timeout_s=300 + 4 * duration)
    return keys


def mp3_args(audio: Path, dst: Path) -> list[str]:
    return mp3(audio, dst, bitrate_kbps=MP3_KBPS, sample_rate_hz=RATE, channels=1)


def _jingle(ctx: Context, jingle: Jingle | None) -> np.ndarray | None:
    if jingle is None:
        return None
    data, rate = sf.read(str(ctx.store.path(jingle.key)), dtype="float32", always_2d=True)
    return _mono(data, rate)


def render_clip(ctx: Context, clip_id: int) -> ClipResult:
    """Render clip `clip_id` and store its files and figures on the row. Raises ClipError."""
    with ctx.sessions() as db:
        clip = db.get(Clip, clip_id)
        if clip is None:
            raise ClipError(N_("Không có đoạn giới thiệu số %(id)s."), id=clip_id)
        book = db.get_one(Book, clip.book_id)
        chapters = [(c.start_s, c.duration_s, ctx.store.path(c.master_key)) for c in book.chapters
                    if c.master_key]
        if not chapters:
            raise ClipError(N_("Sách chưa có bản master."))
        check_range(clip.start_s, clip.end_s, sum(c[1] for c in chapters))
        check_clip(db, book, clip.start_s, clip.end_s, clip_id=clip.id)
        intro = _jingle(ctx, db.get(Jingle, clip.intro_jingle_id) if clip.intro_jingle_id else None)
        outro = _jingle(ctx, db.get(Jingle, clip.outro_jingle_id) if clip.outro_jingle_id else None)
        cover = ctx.store.path(book.cover_path) if book.cover_path else None
        title, uuid, book_title, description = clip.title, clip.uuid, book.title, clip.description
        vtt = clip.transcript_vtt or ""
        start_s, end_s = clip.start_s, clip.end_s

    body = read_book_range(chapters, start_s, end_s)
    samples, lufs, tp = to_podcast_loudness(assemble(body, intro, outro))
    duration = len(samples) / RATE
    prefix = f"derived/clips/{uuid}"
    mp3_key = f"{prefix}/clip.mp3"
    with tempfile.TemporaryDirectory(dir=ctx.store.tmp_dir) as tmp:
        wav = Path(tmp) / "clip.wav"
        sf.write(str(wav), samples, RATE, subtype="PCM_16")
        try:
            with ctx.store.atomic_path(mp3_key) as out:
                run(mp3_args(wav, out), timeout_s=120 + duration)
                try:  # tagged before it is moved into place (or uploaded)
                    write_mp3(out, AudioTags(title=title, album=book_title, description=description))
                except TagError as exc:
                    raise ClipError(str(exc)) from None
            mp4_key = render_videos(ctx, wav, cover, title, vtt, uuid, duration, Path(tmp))["square"]
        except FFmpegError as exc:
            raise ClipError(N_("Không tạo được tệp đoạn giới thiệu: %(reason)s"), reason=exc) from None
    mp3_bytes = os.path.getsize(ctx.store.path(mp3_key))
    mp4_bytes = os.path.getsize(ctx.store.path(mp4_key))
    with ctx.sessions.begin() as db:
        clip = db.get_one(Clip, clip_id)
        clip.mp3_key, clip.mp3_bytes, clip.mp4_key = mp3_key, mp3_bytes, mp4_key
        clip.duration_s = round(duration, 3)
        if clip.state == ClipState.DRAFT:
            clip.state = ClipState.READY
    return ClipResult(mp3_key, mp3_bytes, mp4_key, mp4_bytes, duration, lufs, tp)
