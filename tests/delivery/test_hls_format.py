"""HLS format helpers and encoder argument lists (pure functions, no ffmpeg)."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, strategies as st

from delivery import encoders, hls
from delivery.hls import add_query, rewrite_uris


@given(st.floats(min_value=0.2, max_value=7200.0))
def test_segment_length_never_exceeds_target_and_splits_evenly(duration):
    length = hls.segment_length(duration)
    assert length <= hls.TARGET_SEGMENT_S + 1e-9
    count = (duration + hls.PLAN_SLACK_S) / length
    assert abs(count - round(count)) < 1e-6
    # one AAC frame over (ffmpeg cuts at the next frame) is still under the hard limit
    assert length + 1024 / 44100 < hls.MAX_SEGMENT_S


def test_media_playlist_refuses_long_segments_and_rounds_target():
    ok = hls.media_playlist([hls.Segment("a.m4s", 6.02), hls.Segment("b.m4s", 3.0)], init_uri="i.mp4")
    assert "#EXT-X-TARGETDURATION:6" in ok and '#EXT-X-MAP:URI="i.mp4"' in ok
    with pytest.raises(hls.HlsFormatError):
        hls.media_playlist([hls.Segment("a.m4s", 6.6)], init_uri="i.mp4")


def _segment(tfdt: int, version: int = 1, with_sidx: bool = False) -> bytes:
    if version == 1:
        tfdt_box = struct.pack(">I4sB3sQ", 20, b"tfdt", 1, b"\0\0\0", tfdt)
    else:
        tfdt_box = struct.pack(">I4sB3sI", 16, b"tfdt", 0, b"\0\0\0", tfdt)
    traf = struct.pack(">I4s", 8 + len(tfdt_box), b"traf") + tfdt_box
    moof = struct.pack(">I4s", 8 + len(traf), b"moof") + traf
    mdat = struct.pack(">I4s", 12, b"mdat") + b"abcd"
    sidx = b""
    if with_sidx:
        body = struct.pack(">B3sIIQQ", 1, b"\0\0\0", 1, 44100, tfdt, 0) + b"\0" * 4
        sidx = struct.pack(">I4s", 8 + len(body), b"sidx") + body
    return sidx + moof + mdat


@pytest.mark.parametrize("version", [0, 1])
def test_shift_fmp4_segment_moves_decode_time_only(version):
    data = _segment(1024, version)
    shifted = hls.shift_fmp4_segment(data, 44100 * 20)
    assert hls.fmp4_decode_time(shifted) == 1024 + 44100 * 20
    assert len(shifted) == len(data) and shifted.endswith(b"abcd")


def test_shift_moves_sidx_too_and_refuses_garbage():
    shifted = hls.shift_fmp4_segment(_segment(0, with_sidx=True), 500)
    assert struct.unpack_from(">Q", shifted, 8 + 12)[0] == 500
    with pytest.raises(hls.HlsFormatError):
        hls.shift_fmp4_segment(b"\x00\x00\x00\x10mdatxxxxxxxx", 5)
    with pytest.raises(hls.HlsFormatError):
        hls.shift_fmp4_segment(b"\x00\x00\x00\xffmoof", 5)


def test_rewrite_uris_adds_token_to_every_uri():
    text = hls.media_playlist([hls.Segment("c001-ab-000.m4s", 5.0, "Chương 1"),
                               hls.Segment("c001-ab-001.m4s", 4.0)], init_uri="init-x.mp4")
    out = rewrite_uris(text, lambda u: add_query(u, "t=abc"))
    assert '#EXT-X-MAP:URI="init-x.mp4?t=abc"' in out
    assert "c001-ab-000.m4s?t=abc" in out and "c001-ab-001.m4s?t=abc" in out
    assert "#EXTINF:5.000000,Chương 1" in out
    master = hls.master_playlist([hls.Variant("aac-64k-mono/index.m3u8", 70000, 66000, "mp4a.40.2", 1)])
    assert "aac-64k-mono/index.m3u8?t=abc" in rewrite_uris(master, lambda u: add_query(u, "t=abc"))
    assert add_query("a.m4s?x=1", "t=2") == "a.m4s?x=1&t=2"


def test_bandwidths_peak_and_average():
    peak, avg = hls.bandwidths([8000, 4000, 100], [1.0, 1.0, 0.1])
    assert peak == 64000 and avg == pytest.approx((12100 * 8) / 2.1, abs=1)


def test_ladder_and_encoder_args():
    assert [r.name for r in encoders.aac_ladder(1)] == ["aac-32k-mono", "aac-64k-mono", "aac-128k"]
    top = encoders.aac_ladder(2)[-1]
    assert (top.name, top.channels) == ("aac-128k-stereo", 2)
    args = encoders.hls_chapter("/m/01.flac", "/o", encoders.aac_ladder(1)[0], segment_s=4.37,
                                sample_rate_hz=44100)
    assert args[:2] == ["-i", "/m/01.flac"]
    assert args[args.index("-c:a") + 1] == "aac" and args[args.index("-profile:a") + 1] == "aac_low"
    assert args[args.index("-b:a") + 1] == "32000" and args[args.index("-ac") + 1] == "1"
    assert args[args.index("-hls_segment_type") + 1] == "fmp4"
    assert args[args.index("-hls_time") + 1] == "4.370000"
    assert args[-1] == "/o/chapter.m3u8"
    mp3 = encoders.mp3("/m/01.flac", "/o/x.tmp", bitrate_kbps=192, sample_rate_hz=44100, channels=1)
    assert mp3[mp3.index("-b:a") + 1] == "192k" and mp3[mp3.index("-f") + 1] == "mp3"
    assert "-abr" not in mp3 and "-q:a" not in mp3          # CBR: a fixed bit rate, no VBR quality
    m4b = encoders.m4b("/l.txt", "/m.txt", "/o/b.tmp", bitrate_bps=64000, channels=1,
                       sample_rate_hz=44100, cover="/c.jpg")
    assert m4b[m4b.index("-map_chapters") + 1] == "1" and m4b[m4b.index("-f", 8) + 1] == "ipod"
    assert "attached_pic" in m4b and "language=vie" in m4b
    for a in (args, mp3, m4b):
        assert all(isinstance(x, str) for x in a)


def test_ffmetadata_escapes_and_concat_list_quotes():
    text = encoders.ffmetadata([("Chương 1 = mở; đầu #1", 0.0, 7.3)], title="Sách\nthử")
    assert "title=Chương 1 \\= mở\\; đầu \\#1" in text and "START=0" in text and "END=7300" in text
    assert "title=Sách\\\nthử" in text
    assert encoders.concat_list(["/a/it's.flac"]).splitlines()[1] == "file '/a/it'\\''s.flac'"
    with pytest.raises(ValueError):
        encoders.concat_list(["relative.flac"])
