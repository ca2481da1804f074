"""The runner encodes nothing itself: a delivery encoder handed in (`open_encoder`) gets exactly the
blocks written to the master, and a failing or missing one leaves no file behind. No ffmpeg here."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from mastering.profiles import get_profile
from mastering.runner import master_file
from signals_for_tests import daw_export

RATE = 44100


class FakeEncoder:
    def __init__(self, path: str, fail_after: int | None = None):
        self.path, self.fail_after = path, fail_after
        self.blocks: list[np.ndarray] = []
        self.closed = self.aborted = 0

    def write(self, block: np.ndarray) -> None:
        if self.fail_after is not None and len(self.blocks) >= self.fail_after:
            raise OSError("encoder gone")
        self.blocks.append(np.array(block))

    def close(self) -> None:
        self.closed += 1

    def abort(self) -> None:
        self.aborted += 1


def _take(tmp_path, seed: int):
    src = tmp_path / "in.wav"
    sf.write(src, daw_export(6.0, seed=seed), RATE, subtype="PCM_24")
    return src


def test_the_encoder_gets_the_blocks_of_the_master(tmp_path):
    src, out = _take(tmp_path, 31), tmp_path / "out"
    opened = []

    def open_encoder(path, rate, channels, duration_s, fmt):
        opened.append((rate, channels, round(duration_s, 3), fmt))
        enc = FakeEncoder(path)
        encoders.append(enc)
        return enc
    encoders: list[FakeEncoder] = []
    res = master_file(src, out / "ch.flac", "acx", delivery=out / "ch.mp3", open_encoder=open_encoder,
                      block_frames=4096)
    assert res.delivery == str(out / "ch.mp3") and sorted(p.name for p in out.iterdir()) == ["ch.flac", "ch.mp3"]
    assert opened[0] == (RATE, 1, round(sf.info(src).duration, 3), get_profile("acx").delivery)
    fed = encoders[-1]                       # a correction pass opens a fresh encoder, the first is aborted
    assert fed.closed == 1 and all(e.aborted == 1 for e in encoders[:-1])
    master, _rate = sf.read(out / "ch.flac", dtype="float32", always_2d=True)
    sent = np.concatenate(fed.blocks)
    assert sent.dtype == np.float32 and sent.shape == master.shape
    assert np.max(np.abs(sent - master)) < 2 ** -22   # the FLAC holds the same samples at 24 bits


def test_a_profile_without_a_delivery_format_opens_no_encoder(tmp_path):
    src = _take(tmp_path, 32)
    called = []
    res = master_file(src, tmp_path / "m.flac", "library-streaming", delivery=tmp_path / "m.mp3",
                      open_encoder=lambda *a: called.append(a))
    assert called == [] and res.delivery is None and not (tmp_path / "m.mp3").exists()


def test_delivery_without_an_encoder_is_refused_before_any_work(tmp_path):
    src = _take(tmp_path, 33)
    with pytest.raises(ValueError, match="open_encoder"):
        master_file(src, tmp_path / "out" / "m.flac", "acx", delivery=tmp_path / "out" / "m.mp3")
    assert not (tmp_path / "out").exists()


def test_a_failing_encoder_is_aborted_and_leaves_nothing(tmp_path):
    src, out = _take(tmp_path, 34), tmp_path / "out"
    encoders: list[FakeEncoder] = []

    def open_encoder(path, *_args):
        encoders.append(FakeEncoder(path, fail_after=3))
        return encoders[-1]
    with pytest.raises(OSError, match="encoder gone"):
        master_file(src, out / "ch.flac", "acx", delivery=out / "ch.mp3", open_encoder=open_encoder,
                     block_frames=4096)
    assert encoders and encoders[0].aborted == 1 and encoders[0].closed == 0
    assert list(out.iterdir()) == []
