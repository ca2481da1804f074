"""The one module that finds and runs ffmpeg and ffprobe.

Discovery: `ffmpeg`/`ffprobe` on PATH first; otherwise the ffmpeg binary shipped inside the
`imageio-ffmpeg` wheel (a normal dependency), so `pip install` alone gives a working encoder. That
wheel carries no ffprobe, so `probe()` then falls back to reading `ffmpeg -i`'s description of the
file (format, streams, chapters: the fields this project uses).

Safety at the edge:
- commands are argument lists handed to `subprocess.run` without a shell;
- every input (`-i`) gets `-protocol_whitelist file` in front of it and must be an absolute path or a
  `file:` URL, so a crafted name cannot reach the network, a pipe or another protocol;
- every run has a time limit (the child is killed when it passes);
- the child dies with the thread that started it (Linux `PR_SET_PDEATHSIG`), so kill -9 of the
  server or worker leaves no ffmpeg running on, writing to a temporary file nobody will move;
- a failing run raises `FFmpegError` carrying ffmpeg's last stderr lines.
"""
from __future__ import annotations

import ctypes
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import queue
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Sequence, cast

import numpy as np

try:
    import fcntl
except ImportError:   # not POSIX
    fcntl = None  # type: ignore[assignment]

from delivery import encoders
from delivery.errors import DeliveryError

STDERR_TAIL_LINES = 20
PROTOCOLS = "file"


class FFmpegError(DeliveryError):
    """An ffmpeg/ffprobe run failed; `stderr_tail` holds its last lines of output."""

    def __init__(self, message: str, *, returncode: int | None = None, stderr_tail: Sequence[str] = ()):
        tail = list(stderr_tail)
        full = message + ("\n" + "\n".join(tail) if tail else "")
        super().__init__(full)
        self.returncode = returncode
        self.stderr_tail = tail


class FFmpegNotFoundError(FFmpegError):
    """Neither PATH nor the imageio-ffmpeg wheel provides the tool."""


class FFmpegTimeoutError(FFmpegError):
    """The run passed its time limit and was killed."""


class UnsafeArgumentError(FFmpegError):
    """An input that is not a local file path (URL, pipe, relative name)."""


@dataclass(frozen=True)
class Tools:
    ffmpeg: str
    ffprobe: str | None   # None: probe() reads `ffmpeg -i` output instead
    source: str           # "PATH" or "imageio-ffmpeg"


def _imageio_ffmpeg() -> str | None:
    try:
        import imageio_ffmpeg  # the wheel may be missing (a system ffmpeg is enough): then PATH decides
    except ImportError:
        return None
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except (RuntimeError, OSError):
        return None
    return exe if exe and os.path.isfile(exe) and os.access(exe, os.X_OK) else None


def find_tools() -> Tools:
    """Locate ffmpeg (and ffprobe when there is one). Looked up on every call: PATH may change."""
    on_path = shutil.which("ffmpeg")
    if on_path:
        probe = shutil.which("ffprobe")
        if probe is None:
            beside = Path(on_path).with_name("ffprobe")
            probe = str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None
        return Tools(ffmpeg=on_path, ffprobe=probe, source="PATH")
    bundled = _imageio_ffmpeg()
    if bundled:
        return Tools(ffmpeg=bundled, ffprobe=shutil.which("ffprobe"), source="imageio-ffmpeg")
    raise FFmpegNotFoundError(
        "Không tìm thấy ffmpeg: không có trong PATH và gói Python 'imageio-ffmpeg' không cung cấp "
        "tệp chạy. Hãy cài gói Debian 'ffmpeg' hoặc 'pip install imageio-ffmpeg'. "
        "(ffmpeg not found: not on PATH and no binary from the 'imageio-ffmpeg' wheel; "
        "install the Debian package 'ffmpeg' or 'pip install imageio-ffmpeg'.)")


def _guard_inputs(args: list[str]) -> list[str]:
    """Put `-protocol_whitelist file` before every `-i` and refuse inputs that are not local files."""
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "-i":
            if i + 1 >= len(args):
                raise UnsafeArgumentError("'-i' không có tệp (missing input after -i)")
            src = args[i + 1]
            if not (src.startswith("/") or src.startswith("file:/")):
                raise UnsafeArgumentError(
                    f"Đầu vào ffmpeg phải là đường dẫn tuyệt đối tới tệp (ffmpeg input must be an "
                    f"absolute file path): {src!r}")
            if not (len(out) >= 2 and out[-2] == "-protocol_whitelist"):
                out += ["-protocol_whitelist", PROTOCOLS]
            out += ["-i", src]
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def _tail(text: str, n: int = STDERR_TAIL_LINES) -> list[str]:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-n:]


def run(args: Sequence[str | os.PathLike], timeout_s: float, *, tool: str = "ffmpeg") -> str:
    """Run ffmpeg with `args` (everything after the program name); returns its stderr text.

    `-hide_banner -nostdin -nostats -loglevel error -y` are prepended: output names are temporary
    files created beforehand, and only errors are worth keeping. Raises `FFmpegTimeoutError` after
    `timeout_s` seconds, `FFmpegError` on a non-zero exit.
    """
    if timeout_s <= 0:
        raise ValueError("timeout_s must be positive")
    tools = find_tools()
    exe = tools.ffmpeg if tool == "ffmpeg" else tools.ffprobe
    if exe is None:
        raise FFmpegNotFoundError(f"Không tìm thấy {tool} ({tool} not found)")
    argv = [exe]
    if tool == "ffmpeg":
        argv += ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y"]
    argv += _guard_inputs([os.fspath(a) for a in args])
    return _exec(argv, timeout_s, tool)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Looked up once here: the child, between fork and exec, should only call into C.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _die_with_parent(parent_pid: int) -> None:
    """preexec_fn: SIGKILL this child when the thread that forked it ends (kill -9 of the server
    included). The getppid check covers a parent that died before the prctl took effect."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)


def child_options() -> dict:
    """`subprocess` keyword arguments that tie a child's life to ours (Linux); nothing elsewhere."""
    return {"preexec_fn": functools.partial(_die_with_parent, os.getpid())} if _prctl is not None else {}


WAIT_SLICE_S = 0.2  # how long the waiting thread stays in C at a time (see `_exec`)


def _exec(argv: list[str], timeout_s: float, tool: str, *, check: bool = True) -> str:
    """Run `argv`, killing the child after `timeout_s` or when the waiting thread is interrupted.

    The wait is cut in slices of WAIT_SLICE_S: an exception raised in this thread from outside
    (a task engine's time limit raises one asynchronously, Python delivers it only between
    bytecodes) then arrives within a slice, not when ffmpeg ends, and the child is killed on the way
    out whatever the exception. Hand-written around `Popen.communicate(timeout=...)` rather than
    `subprocess.run`, which waits in one call until the whole time limit."""
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, shell=False, **child_options())
    except OSError as exc:
        raise FFmpegNotFoundError(f"Không chạy được {tool} (cannot start {tool}): {exc}") from None
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                out, err = proc.communicate(timeout=max(0.0, min(WAIT_SLICE_S, deadline - time.monotonic())))
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() < deadline:
                    continue
                proc.kill()
                _out, late = proc.communicate()
                text = late.decode("utf-8", "replace") if late else ""
                raise FFmpegTimeoutError(
                    f"{tool} chạy quá {timeout_s:.0f} s và đã bị dừng ({tool} exceeded its {timeout_s:.0f} s "
                    f"time limit and was killed)", stderr_tail=_tail(text)) from None
    except BaseException:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        raise
    stderr = err.decode("utf-8", "replace")
    if check and proc.returncode != 0:
        raise FFmpegError(f"{tool} lỗi, mã thoát {proc.returncode} ({tool} failed, exit code "
                          f"{proc.returncode}):", returncode=proc.returncode, stderr_tail=_tail(stderr))
    proc_stdout = out.decode("utf-8", "replace")
    return proc_stdout if tool == "ffprobe" else stderr


def probe(path: str | os.PathLike, timeout_s: float = 60.0) -> dict:
    """What ffprobe says about a local file: {"format": {...}, "streams": [...], "chapters": [...]}.

    Numbers stay strings as ffprobe prints them (`float(d["format"]["duration"])`).
    Without ffprobe the same keys are filled from `ffmpeg -i` output (duration, bit_rate,
    codec_name, sample_rate, channels, stream bit_rate, chapters with title).
    """
    src = os.fspath(path)
    if not os.path.isabs(src):
        src = os.path.abspath(src)
    tools = find_tools()
    if tools.ffprobe:
        argv = [tools.ffprobe, "-v", "error", "-print_format", "json", "-show_format",
                "-show_streams", "-show_chapters", "-protocol_whitelist", PROTOCOLS, src]
        out = _exec(argv, timeout_s, "ffprobe")
        return json.loads(out or "{}")
    argv = [tools.ffmpeg, "-hide_banner", "-nostdin", "-protocol_whitelist", PROTOCOLS, "-i", src]
    # Without an output ffmpeg exits 1 after describing the input; that description is what we want.
    text = _exec(argv, timeout_s, "ffmpeg", check=False)
    info = parse_ffmpeg_description(text)
    if not info["streams"]:
        raise FFmpegError(f"ffmpeg không đọc được tệp (ffmpeg cannot read) {src}:",
                          stderr_tail=_tail(text))
    return info


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?), start: [-\d.]+, bitrate: (\d+|N/A)")
_STREAM = re.compile(r"Stream #\d+:(\d+)(?:\[\w+\])?(?:\((\w+)\))?: (Audio|Video): (\w+)(.*)")
_CHAPTER = re.compile(r"Chapter #\d+:(\d+): start (-?[\d.]+), end (-?[\d.]+)")


def parse_ffmpeg_description(text: str) -> dict:
    """Turn the input description `ffmpeg -i` prints into ffprobe-shaped JSON (subset)."""
    info: dict = {"format": {}, "streams": [], "chapters": []}
    last: dict | None = None
    for line in text.splitlines():
        if line.startswith("Input #"):
            last = info["format"]
        elif m := _DURATION.search(line):
            h, mi, s, br = m.groups()
            info["format"]["duration"] = f"{int(h) * 3600 + int(mi) * 60 + float(s):.6f}"
            if br != "N/A":
                info["format"]["bit_rate"] = str(int(br) * 1000)
            last = info["format"]
        elif m := _STREAM.search(line):
            index, lang, kind, codec, rest = m.groups()
            stream = {"index": int(index), "codec_type": kind.lower(), "codec_name": codec,
                      "tags": {"language": lang} if lang else {}}
            if rate := re.search(r"(\d+) Hz", rest):
                stream["sample_rate"] = rate.group(1)
            if "mono" in rest:
                stream["channels"] = 1
            elif "stereo" in rest:
                stream["channels"] = 2
            if kbps := re.search(r"(\d+) kb/s", rest):
                stream["bit_rate"] = str(int(kbps.group(1)) * 1000)
            info["streams"].append(stream)
            last = stream
        elif m := _CHAPTER.search(line):
            chapter: dict[str, Any] = {"id": int(m.group(1)), "start_time": m.group(2), "end_time": m.group(3), "tags": {}}
            info["chapters"].append(chapter)
            last = chapter
        elif last is not None and (m := re.match(r"\s+(\w+)\s*: (.*)$", line)):
            last.setdefault("tags", {})[m.group(1)] = m.group(2)
    return info


class PipeEncoder:
    """ffmpeg reading raw float32 samples from stdin while the chain makes them, so the delivery
    encode overlaps the DSP instead of following it (issue 18.6).

    `args` are the output-side arguments (codec, rate, muxer, destination); the input side is
    fixed here: `-f f32le -ar RATE -ac CHANNELS -i pipe:0`, only the pipe protocol allowed.
    `write(block)` feeds (frames, channels) float32; `close()` waits and raises `FFmpegError` on
    failure; `abort()` kills the encoder (its output is a temporary file the caller removes).

    A writer thread does the pipe writes from a bounded queue (`QUEUE_BLOCKS` blocks, 16 MB at the
    runner's 65536-frame mono blocks): the chain goes on with the next block while the encoder
    catches up, instead of waiting on a full 64 KB pipe (the largest item in the profile of an
    ACX take: 1.3 s of 5.1 s).
    """

    QUEUE_BLOCKS = 64
    PIPE_BYTES = 1 << 20   # Linux's default is 64 kB; 1 MB is the unprivileged maximum

    def __init__(self, rate: int, channels: int, args: Sequence[str | os.PathLike], timeout_s: float):
        exe = find_tools().ffmpeg
        argv = [exe, "-hide_banner", "-nostats", "-loglevel", "error", "-y",
                "-f", "f32le", "-ar", str(rate), "-ac", str(channels),
                "-protocol_whitelist", "pipe", "-i", "pipe:0", *[os.fspath(a) for a in args]]
        self.timeout_s = timeout_s
        self.err = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=self.err, shell=False)
        except OSError as exc:
            raise FFmpegNotFoundError(f"Không chạy được ffmpeg (cannot start ffmpeg): {exc}") from None
        self.stdin = cast(IO[bytes], self.proc.stdin)  # a pipe: stdin=PIPE above
        self._widen_pipe()
        self.queue: queue.Queue[bytes | None] = queue.Queue(self.QUEUE_BLOCKS)
        self.broken = threading.Event()
        self.writer = threading.Thread(target=self._pump, name="ffmpeg-pipe", daemon=True)
        self.writer.start()

    def _widen_pipe(self) -> None:
        """Make the pipe hold a few blocks: with 64 kB the writer thread and ffmpeg took turns
        four times per 256 kB block. Linux only; elsewhere, or past the system's limit, the pipe
        stays as it was (the same samples arrive either way)."""
        setsize = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
        if setsize is None:
            return
        try:
            fcntl.fcntl(self.stdin.fileno(), setsize, self.PIPE_BYTES)
        except OSError:
            pass

    def _pump(self) -> None:
        """Writer thread: queue -> pipe; after a broken pipe it only drains (nobody waits on it)."""
        while (data := self.queue.get()) is not None:
            if self.broken.is_set():
                continue
            try:
                self.stdin.write(data)
            except (BrokenPipeError, OSError, ValueError):
                self.broken.set()

    def _stop_writer(self) -> None:
        if self.writer.is_alive():
            self.queue.put(None)
            self.writer.join()

    def write(self, block: np.ndarray) -> None:
        if self.broken.is_set():
            self.close()          # raises with ffmpeg's own words
        self.queue.put(np.ascontiguousarray(block, np.float32).tobytes())

    def close(self) -> None:
        self._stop_writer()
        try:
            self.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass
        try:
            code = self.proc.wait(self.timeout_s)
        except subprocess.TimeoutExpired:
            self.abort()
            raise FFmpegTimeoutError(f"ffmpeg chạy quá {self.timeout_s:.0f} s (ffmpeg time limit)") from None
        self.err.seek(0)
        text = self.err.read().decode("utf-8", "replace")
        self.err.close()
        if code != 0:
            raise FFmpegError(f"ffmpeg lỗi, mã thoát {code} (ffmpeg failed, exit code {code}):",
                              returncode=code, stderr_tail=_tail(text))

    def abort(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.broken.set()         # the writer drops what is queued instead of writing it
        self._stop_writer()
        for f in (self.stdin, self.err):
            try:
                f.close()
            except (OSError, ValueError):
                pass


def mp3_pipe(dst: str | os.PathLike, rate: int, channels: int, duration_s: float, fmt) -> PipeEncoder:
    """A `PipeEncoder` writing the MP3 that `fmt` describes to `dst`: the delivery encode the
    mastering runner feeds while it writes the master (`mastering.runner.master_file`'s
    `open_encoder`). `fmt` has `bitrate_kbps`, `sample_rate_hz` and `channels` (a profile's
    `DeliveryFormat`); `rate`/`channels` are those of the samples written, `duration_s` sets the
    time limit."""
    return PipeEncoder(rate, channels, encoders.mp3_from_pipe(
        dst, bitrate_kbps=fmt.bitrate_kbps, sample_rate_hz=fmt.sample_rate_hz, channels=fmt.channels),
        encoders.timeout_for(duration_s))
