"""ffmpeg discovery (PATH, then the imageio-ffmpeg wheel, else a clear error) and safety at the edge."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import soundfile as sf

from delivery import encoders, ffmpeg


@pytest.fixture
def flac(tmp_path):
    path = tmp_path / "tone.flac"
    t = np.arange(44100 * 2) / 44100
    sf.write(str(path), (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 44100, format="FLAC")
    return path


def test_path_first(monkeypatch):
    tools = ffmpeg.find_tools()
    if tools.source != "PATH":
        pytest.skip("ffmpeg is not on PATH here")
    assert os.path.basename(tools.ffmpeg) == "ffmpeg" and tools.ffprobe


def test_falls_back_to_imageio_ffmpeg_when_not_on_path(monkeypatch, tmp_path, flac):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    tools = ffmpeg.find_tools()
    assert tools.source == "imageio-ffmpeg"
    assert "imageio_ffmpeg" in tools.ffmpeg and tools.ffprobe is None
    # The bundled binary really runs, and probe() works without ffprobe.
    out = tmp_path / "x.mp3"
    ffmpeg.run(encoders.mp3(flac, out, bitrate_kbps=64, sample_rate_hz=44100, channels=1), 60)
    info = ffmpeg.probe(out)
    assert info["streams"][0]["codec_name"] == "mp3"
    assert float(info["format"]["duration"]) == pytest.approx(2.0, abs=0.1)


def test_clear_error_when_neither_is_found(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)   # import fails
    with pytest.raises(ffmpeg.FFmpegNotFoundError) as err:
        ffmpeg.find_tools()
    assert "ffmpeg" in str(err.value) and "imageio-ffmpeg" in str(err.value)
    with pytest.raises(ffmpeg.FFmpegNotFoundError):
        ffmpeg.run(["-version"], 10)


def test_failure_carries_ffmpegs_last_lines(tmp_path):
    bad = tmp_path / "bad.flac"
    bad.write_bytes(b"this is not a flac file" * 10)
    with pytest.raises(ffmpeg.FFmpegError) as err:
        ffmpeg.run(encoders.mp3(bad, tmp_path / "o.mp3", bitrate_kbps=64, sample_rate_hz=44100,
                                channels=1), 30)
    assert err.value.returncode not in (None, 0)
    assert err.value.stderr_tail and err.value.stderr_tail[-1] in str(err.value)
    with pytest.raises(ffmpeg.FFmpegError) as err:
        ffmpeg.run(["-i", str(tmp_path / "missing.flac"), "-f", "null", "-"], 30)
    assert "missing.flac: No such file or directory" in err.value.stderr_tail[-1]


def test_time_limit_kills_the_run(tmp_path):
    # An endless generated input (lavfi is not reachable through `-i` here, so loop a real file).
    src = tmp_path / "s.flac"
    sf.write(str(src), np.zeros(44100, np.float32), 44100, format="FLAC")
    args = ["-stream_loop", "-1", "-re", "-i", str(src), "-f", "null", "-"]
    with pytest.raises(ffmpeg.FFmpegTimeoutError):
        ffmpeg.run(args, 1.0)


@pytest.mark.parametrize("src", ["http://example.org/a.mp3", "relative.flac", "concat:/a|/b",
                                 "pipe:0", "subfile,,start,0,end,10,,:/etc/passwd"])
def test_inputs_must_be_local_absolute_paths(src):
    with pytest.raises(ffmpeg.UnsafeArgumentError):
        ffmpeg.run(["-i", src, "-f", "null", "-"], 10)


def test_protocol_whitelist_is_put_before_every_input():
    guarded = ffmpeg._guard_inputs(["-i", "/a.flac", "-f", "ffmetadata", "-i", "/m.txt"])
    assert guarded == ["-protocol_whitelist", "file", "-i", "/a.flac", "-f", "ffmetadata",
                       "-protocol_whitelist", "file", "-i", "/m.txt"]


def test_no_shell(monkeypatch, flac, tmp_path):
    calls = []
    real = ffmpeg.subprocess.Popen

    def spy(argv, **kw):
        calls.append((argv, kw))
        return real(argv, **kw)

    monkeypatch.setattr(ffmpeg.subprocess, "Popen", spy)
    ffmpeg.run(encoders.mp3(flac, tmp_path / "o.mp3", bitrate_kbps=64, sample_rate_hz=44100, channels=1), 60)
    argv, kw = calls[0]
    assert isinstance(argv, list) and kw.get("shell") is False and kw.get("stdin") == ffmpeg.subprocess.DEVNULL


def test_parse_ffmpeg_description():
    text = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from '/x/book.m4b':
  Metadata:
    title           : Tắt đèn
  Duration: 00:01:05.30, start: 0.000000, bitrate: 66 kb/s
  Chapters:
    Chapter #0:0: start 0.000000, end 7.300000
      Metadata:
        title           : Chương 1
    Chapter #0:1: start 7.300000, end 65.300000
      Metadata:
        title           : Chương 2
  Stream #0:0[0x1](vie): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, mono, fltp, 64 kb/s (default)
"""
    info = ffmpeg.parse_ffmpeg_description(text)
    assert float(info["format"]["duration"]) == pytest.approx(65.3)
    assert info["format"]["tags"]["title"] == "Tắt đèn"
    assert [c["tags"]["title"] for c in info["chapters"]] == ["Chương 1", "Chương 2"]
    s = info["streams"][0]
    assert (s["codec_name"], s["sample_rate"], s["channels"], s["bit_rate"]) == ("aac", "44100", 1, "64000")
    assert s["tags"]["language"] == "vie"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pipe sizes are a Linux fcntl")
def test_mp3_pipe_is_widened_and_the_mp3_is_whole(tmp_path):
    """The encoder's pipe holds several blocks (1 MB, not 64 kB), and every sample written
    reaches the MP3: 3 s of tone in 0.1 s blocks give a 3 s MP3 at 192 kbit/s CBR."""
    import fcntl
    from types import SimpleNamespace

    dst = tmp_path / "ch.mp3"
    acx = SimpleNamespace(bitrate_kbps=192, sample_rate_hz=44100, channels=1)   # ACX's delivery format
    enc = ffmpeg.mp3_pipe(dst, 44100, 1, 3.0, acx)
    assert fcntl.fcntl(enc.stdin.fileno(), fcntl.F_GETPIPE_SZ) >= ffmpeg.PipeEncoder.PIPE_BYTES
    t = np.arange(44100 * 3) / 44100
    x = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None]
    for i in range(0, len(x), 4410):
        enc.write(x[i:i + 4410])
    enc.close()
    info = ffmpeg.probe(dst)
    assert abs(float(info["format"]["duration"]) - 3.0) < 0.1
    assert abs(int(info["format"]["bit_rate"]) - 192000) < 8000
