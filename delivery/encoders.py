"""ffmpeg commands built as data, the one place they are built: each function returns the argument
list (without the program name) that `delivery.ffmpeg.run` executes, so tests can read exactly what
will run. Also the AAC rendition ladder and the ffmetadata/ffconcat texts the M4B command reads.

Paths are absolute filesystem paths; `run` adds `-protocol_whitelist file` before every input and
refuses anything else. Outputs are temporary names, so every command names its muxer with `-f`.
Rates are bits per second, times seconds, sample rates Hz.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from delivery.video import VideoFormat

AAC_CODECS = "mp4a.40.2"   # AAC-LC, as written in an HLS CODECS attribute
# Deterministic bytes (no encoder version or creation time in the boxes): the init segment of every
# chapter encode is then identical, so one EXT-X-MAP serves the whole book.
BITEXACT = ["-fflags", "+bitexact", "-flags:a", "+bitexact"]


@dataclass(frozen=True)
class AacRung:
    """One rendition of the HLS ladder."""

    name: str          # folder name, e.g. "aac-64k-mono"
    bitrate_bps: int
    channels: int

    @property
    def codecs(self) -> str:
        return AAC_CODECS


def aac_ladder(source_channels: int) -> tuple[AacRung, ...]:
    """About 32, 64 and 128 kbps: mono for weak rural links; the top rung is stereo only when the
    master is stereo (upmixing mono to stereo would spend bits on a copy)."""
    top = AacRung("aac-128k-stereo", 128_000, 2) if source_channels >= 2 else AacRung("aac-128k", 128_000, 1)
    return (AacRung("aac-32k-mono", 32_000, 1), AacRung("aac-64k-mono", 64_000, 1), top)


def _p(path: str | os.PathLike) -> str:
    return os.fspath(path)


def hls_chapter(src: str | os.PathLike, out_dir: str | os.PathLike, rung: AacRung, *,
                segment_s: float, sample_rate_hz: int, init_name: str = "init.mp4",
                segment_pattern: str = "s%03d.m4s", playlist_name: str = "chapter.m3u8") -> list[str]:
    """One chapter of one rung as fMP4 HLS segments in `out_dir`.

    `segment_s` is the chapter's own segment length (see `delivery.hls.segment_length`): ffmpeg cuts
    at the first AAC frame at or after each multiple of it, so segments are at most one frame
    (23 ms at 44.1 kHz) longer. Edit lists are off so every chapter's init segment is the same
    bytes; the package stage moves each chapter to its place on the book timeline afterwards.
    """
    out_dir = _p(out_dir)
    return [
        "-i", _p(src),
        "-map", "0:a:0", "-map_metadata", "-1", "-map_chapters", "-1", "-vn", "-sn", "-dn",
        "-c:a", "aac", "-profile:a", "aac_low", "-b:a", str(rung.bitrate_bps),
        "-ac", str(rung.channels), "-ar", str(sample_rate_hz), "-threads", "1",
        *BITEXACT,
        "-f", "hls", "-hls_time", f"{segment_s:.6f}", "-hls_playlist_type", "vod",
        "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", init_name,
        "-hls_segment_options", "use_editlist=0",
        "-hls_flags", "independent_segments",
        "-hls_segment_filename", os.path.join(out_dir, segment_pattern),
        "-protocol_whitelist", "file",
        os.path.join(out_dir, playlist_name),
    ]


def mp3(src: str | os.PathLike, dst: str | os.PathLike, *, bitrate_kbps: int, sample_rate_hz: int,
        channels: int) -> list[str]:
    """A constant-bitrate MP3 (LAME) with no tags: `catalog.tags` writes ID3v2.4 afterwards."""
    return [
        "-i", _p(src),
        "-map", "0:a:0", "-map_metadata", "-1", "-map_chapters", "-1", "-vn", "-sn", "-dn",
        "-c:a", "libmp3lame", "-b:a", f"{bitrate_kbps}k", "-ar", str(sample_rate_hz),
        "-ac", str(channels), "-threads", "1",
        "-write_xing", "1", "-id3v2_version", "0", "-write_id3v1", "0",
        *BITEXACT,
        "-f", "mp3", "-protocol_whitelist", "file", _p(dst),
    ]


def mp3_from_pipe(dst: str | os.PathLike, *, bitrate_kbps: int, sample_rate_hz: int, channels: int) -> list[str]:
    """Output side of `mp3` for samples arriving on a pipe (`delivery.ffmpeg.PipeEncoder`)."""
    return mp3("/dev/stdin", dst, bitrate_kbps=bitrate_kbps, sample_rate_hz=sample_rate_hz,
               channels=channels)[2:]


def m4b(concat_list: str | os.PathLike, metadata: str | os.PathLike, dst: str | os.PathLike, *,
        bitrate_bps: int, channels: int, sample_rate_hz: int, language: str = "vie",
        cover: str | os.PathLike | None = None) -> list[str]:
    """The whole book as one AAC-LC file with chapter markers (ffmetadata) and optional cover art.

    `concat_list` is an ffconcat file naming the chapter masters in order (see `concat_list`);
    `metadata` an ffmetadata file (see `ffmetadata`). The `ipod` muxer writes both the Nero `chpl`
    chapter list and a QuickTime chapter track, which is what players and `ffprobe -show_chapters`
    read. `-safe 0` is needed for absolute paths inside the list; they come from the media store.
    """
    args = ["-f", "concat", "-safe", "0", "-i", _p(concat_list),
            "-f", "ffmetadata", "-i", _p(metadata)]
    if cover is not None:
        args += ["-i", _p(cover)]
    args += ["-map", "0:a:0"]
    if cover is not None:
        args += ["-map", "2:v:0", "-c:v", "copy", "-disposition:v:0", "attached_pic"]
    args += [
        "-map_metadata", "1", "-map_chapters", "1",
        "-c:a", "aac", "-profile:a", "aac_low", "-b:a", str(bitrate_bps),
        "-ac", str(channels), "-ar", str(sample_rate_hz), "-threads", "1",
        "-metadata:s:a:0", f"language={language}",
        "-movflags", "+faststart",
        "-f", "ipod", "-protocol_whitelist", "file", _p(dst),
    ]
    return args


_FFMETA_SPECIAL = re.compile(r"([=;#\\\n\r])")
# Other control characters (Unicode Cc: NUL ends ffmpeg's line reader early, the rest is noise a
# player would show) become a space.
_FFMETA_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _escape_ffmetadata(value: str) -> str:
    """One ffmetadata key or value: `= ; # \\`, LF and CR backslash-escaped (ffmpeg's reader
    ends a line at either), other control characters replaced by a space."""
    return _FFMETA_SPECIAL.sub(r"\\\1", _FFMETA_CONTROL.sub(" ", value))


def ffmetadata(chapters: Sequence[tuple[str, float, float]], **tags: str) -> str:
    """ffmetadata text: global `tags`, then one [CHAPTER] per (title, start_s, end_s), ms time base."""
    lines = [";FFMETADATA1"]
    for key, value in tags.items():
        if value:
            lines.append(f"{_escape_ffmetadata(key)}={_escape_ffmetadata(str(value))}")
    for title, start_s, end_s in chapters:
        lines += ["[CHAPTER]", "TIMEBASE=1/1000",
                  f"START={round(start_s * 1000)}", f"END={round(end_s * 1000)}",
                  f"title={_escape_ffmetadata(title)}"]
    return "\n".join(lines) + "\n"


def concat_list(paths: Sequence[str | os.PathLike]) -> str:
    """ffconcat text naming `paths` (absolute) in order."""
    lines = ["ffconcat version 1.0"]
    for path in paths:
        p = _p(path)
        if not os.path.isabs(p):
            raise ValueError(f"concat entries must be absolute paths: {p!r}")
        escaped = p.replace("\\", "\\\\").replace("'", "'\\''")
        lines.append(f"file '{escaped}'")
    return "\n".join(lines) + "\n"


def timeout_for(duration_s: float) -> float:
    """Time limit for one encode of `duration_s` of audio: generous (real time plus two minutes);
    an encoder slower than real time is stuck, not busy."""
    return 120.0 + max(0.0, duration_s)


def resample_flac(src: str | os.PathLike, dst: str | os.PathLike, *, sample_rate_hz: int) -> list[str]:
    """`src` at `sample_rate_hz` as a FLAC (32-bit samples) by ffmpeg's SoX resampler at its
    highest precision: an edit at a rate the mastering chain does not take (22.05 kHz, 192 kHz)."""
    return ["-i", _p(src), "-af", "aresample=resampler=soxr:precision=28",
            "-ar", str(sample_rate_hz), "-c:a", "flac", "-sample_fmt", "s32", "-f", "flac", _p(dst)]


# -- the promotion clip's video (layout: `delivery.video`) ---------------------------------------------
def filter_path(path: str | Path) -> str:
    """A file name as a filter option value inside a filtergraph (ffmpeg's two levels of quoting)."""
    quoted = "'" + str(path).replace("'", "'\\''") + "'"
    return re.sub(r"([\\'\[\],;])", r"\\\1", quoted)


def clip_mp4(audio: Path, background_image: Path, title_png: Path, captions: Path | None, dst: Path,
             duration_s: float, fmt: VideoFormat) -> list[str]:
    """ffmpeg arguments: the cover (filling a square; in a story over a blurred copy of itself),
    the title band at the top of the safe area, a moving waveform above the bottom safe margin,
    and captions burnt in above the waveform."""
    w, h = fmt.width, fmt.height
    if fmt.height == fmt.width:
        background = f"[0:v]scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},setsar=1[bg]"
    else:
        background = ";".join([
            "[0:v]split[c0][c1]",
            f"[c0]scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},boxblur=30:2,"
            f"colorlevels=romax=0.6:gomax=0.6:bomax=0.6[blur]",
            f"[c1]scale={w}:{w}:force_original_aspect_ratio=increase,crop={w}:{w},setsar=1[sq]",
            f"[blur][sq]overlay=0:({h}-{w})/2,setsar=1[bg]"])
    steps = [
        background,
        f"[2:a]aformat=channel_layouts=mono,showwaves=s={w}x{fmt.wave_height_px}:mode=cline:rate=25:"
        f"colors=white[wave]",
        f"[bg][wave]overlay=0:{fmt.wave_top_px}:format=auto[v1]",
        f"[v1][1:v]overlay=0:{fmt.safe_top_px}:format=auto[v2]",
    ]
    last = "v2"
    if captions is not None:
        steps.append(f"[v2]subtitles=filename={filter_path(captions)}[v3]")
        last = "v3"
    steps.append(f"[{last}]format=yuv420p[v]")
    return ["-loop", "1", "-framerate", "25", "-i", str(background_image),
            "-loop", "1", "-framerate", "25", "-i", str(title_png),
            "-i", str(audio), "-filter_complex", ";".join(steps), "-map", "[v]", "-map", "2:a",
            "-c:v", "libx264", "-preset", "veryfast", "-tune", "stillimage", "-pix_fmt", "yuv420p",
            "-r", "25", "-c:a", "aac", "-b:a", "128k", "-t", f"{duration_s:.3f}", "-shortest",
            "-movflags", "+faststart", "-f", "mp4", str(dst)]
