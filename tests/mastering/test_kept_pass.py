"""Pass 1 keeps the take repaired and high-passed (`runner._Kept`) and the later passes read it
instead of computing it again; with enhancement on, pass 1b keeps the enhanced take for pass 2.
The master must be the one recomputing gives, to the bit, and the kept files must be gone after
success, after an error and when they could not be written."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from mastering import runner
from mastering.enhance import SpectralDenoiser
from mastering.plan import ChainParams
from mastering.runner import master, master_file
from signals_for_tests import narration

RATE = 44100


def _take(tmp_path, seed: int = 41, seconds: float = 8.0):
    x = narration(seconds, RATE, seed=seed, hum_db=-45.0)     # hum: the later passes add notches
    x[RATE * 3:RATE * 3 + 40] = 0.9995                          # a clipped run for the repair
    src = tmp_path / "in.wav"
    sf.write(src, x, RATE, subtype="PCM_24")
    return src


def _spy(monkeypatch) -> list[str]:
    """Paths of the kept files made (and checks each was written and read)."""
    made: list[str] = []
    real = runner._Kept

    class Spy(real):  # type: ignore[misc, valid-type]
        def __init__(self, path, channels):
            super().__init__(path, channels)
            made.append(path)
    monkeypatch.setattr(runner, "_Kept", Spy)
    return made


def _recomputed(monkeypatch, src, dst, **kw):
    with monkeypatch.context() as m:
        m.setattr(runner, "_keep_fits", lambda info, folder: False)
        made = _spy(m)
        res = master_file(src, dst, "acx", **kw)
    assert made == []
    return res


@pytest.mark.parametrize("denoise", ["off", "spectral"])
def test_the_kept_pass_gives_the_master_recomputing_gives(tmp_path, monkeypatch, denoise):
    src, out = _take(tmp_path), tmp_path / "out"
    params = ChainParams(denoise=denoise)
    ref = _recomputed(monkeypatch, src, tmp_path / "ref.flac", params=params, block_frames=4096)
    made = _spy(monkeypatch)
    res = master_file(src, out / "m.flac", "acx", params=params, block_frames=4096)
    # the high-passed take, and the enhanced one when there is enhancement
    assert len(made) == (1 if denoise == "off" else 2) and all(p.startswith(str(out)) for p in made)
    assert sorted(p.name for p in out.iterdir()) == ["m.flac"]          # the kept file is gone
    assert res.plan.report["hum_notches_hz"] == [50.0]
    assert res.plan.report["denoise"] == denoise
    a, _ = sf.read(tmp_path / "ref.flac", dtype="float64")
    b, _ = sf.read(out / "m.flac", dtype="float64")
    assert np.array_equal(a, b)
    assert res.qc.to_dict() == ref.qc.to_dict()
    # and the in-memory master (never keeps anything) is the same at 24 bits
    x, _ = sf.read(src, dtype="float32", always_2d=True)
    y, _ = master(x, RATE, "acx", block_frames=4096, params=params)
    assert np.max(np.abs(y[:, 0] - b)) <= 2 ** -23


def test_the_kept_file_is_removed_after_an_error(tmp_path, monkeypatch):
    src, out = _take(tmp_path), tmp_path / "out"
    made = _spy(monkeypatch)
    seen: list[list[str]] = []

    class Failing:
        def __init__(self):
            self.n = 0

        def write(self, block):
            self.n += 1
            if self.n == 5:          # in pass 2, while it reads the kept file
                seen.append(sorted(p.suffix for p in out.iterdir()))
                raise OSError("encoder gone")

        def close(self):
            pass

        def abort(self):
            pass
    with pytest.raises(OSError, match="encoder gone"):
        master_file(src, out / "m.flac", "acx", delivery=out / "m.mp3",
                    open_encoder=lambda *a: Failing(), block_frames=4096)
    assert len(made) == 1 and ".f32" in seen[0]
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("denoise, which", [("off", 0), ("spectral", 1)])
def test_a_kept_file_that_cannot_be_written_is_dropped_and_recomputed(tmp_path, monkeypatch, denoise, which):
    """`which`: the file that finds the disk full (0: the high-passed take, 1: the enhanced one)."""
    src = _take(tmp_path)
    params = ChainParams(denoise=denoise)
    _recomputed(monkeypatch, src, tmp_path / "ref.flac", block_frames=4096, params=params)
    made = _spy(monkeypatch)
    writes = []

    class DiskFull:
        """The kept file, whose third write finds the disk full after a few bytes."""

        def __init__(self, f):
            self.f = f

        def write(self, data):
            writes.append(len(data))
            if len(writes) == 3:
                self.f.write(data[:10])
                raise OSError(28, "No space left on device")
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)
    real_init = runner._Kept.__init__

    def init(self, path, channels):
        real_init(self, path, channels)
        if len(made) == which + 1:      # this one was just made
            self.file = DiskFull(self.file)
    monkeypatch.setattr(runner._Kept, "__init__", init)
    master_file(src, tmp_path / "out" / "m.flac", "acx", block_frames=4096, params=params)
    assert len(made) == which + 1 and len(writes) == 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["m.flac"]
    a, _ = sf.read(tmp_path / "ref.flac", dtype="float64")
    b, _ = sf.read(tmp_path / "out" / "m.flac", dtype="float64")
    assert np.array_equal(a, b)


def test_a_take_too_large_for_the_free_space_is_not_kept(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple
    usage = namedtuple("usage", "total used free")
    info = runner.open_info(_take(tmp_path))
    need = info.frames * info.channels * 4
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10 * need, 6 * need, 4 * need))
    assert runner._keep_fits(info, str(tmp_path))
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10 * need, 7 * need, 4 * need - 4))
    assert not runner._keep_fits(info, str(tmp_path))


def test_the_heap_setting_takes_on_glibc_and_is_harmless_twice():
    import platform
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt thresholds are glibc's")
    assert runner._keep_freed_heap() and runner._keep_freed_heap()


def test_pcm24_gives_the_file_libsndfile_writes_from_floats(tmp_path):
    rng = np.random.default_rng(5)
    step = 1 / (1 << 23)
    x = np.concatenate([rng.uniform(-1.3, 1.3, (20000, 2)),
                        np.repeat(((np.arange(-500, 500) + 0.5) * step)[:, None], 2, axis=1),  # ties
                        [[1.0, -1.0], [1 - step / 2, -1 + step / 2], [1 + step, -1 - step], [3.0, -3.0]]]
                       ).astype(np.float32)
    sf.write(tmp_path / "a.flac", x, RATE, subtype="PCM_24")
    sf.write(tmp_path / "b.flac", runner.pcm24(x), RATE, subtype="PCM_24")
    assert (tmp_path / "a.flac").read_bytes() == (tmp_path / "b.flac").read_bytes()


class _Counted(SpectralDenoiser):
    """The spectral stage, counting the STFT frames it processes (class-wide)."""
    frames = 0

    def gains(self, spec):
        _Counted.frames += spec.shape[0]
        return super().gains(spec)


@pytest.mark.parametrize("guard", ["kept", "neural falls back"])
def test_pass_2_reads_the_enhanced_take_instead_of_enhancing_it_again(tmp_path, monkeypatch, guard):
    """With enhancement on, pass 1b's output is kept for pass 2: the enhancement stage runs over
    the take once in `master_file` (twice before: the neural model is the cost of a `neural`
    master), the master is the one recomputing gives, to the bit, and the report is the same.
    When the neural stage takes words for noise, the spectral stage's pass 1b is the one kept."""
    from mastering import enhance, neural
    monkeypatch.setattr(enhance, "SpectralDenoiser", _Counted)
    params = ChainParams(denoise="spectral")
    if guard != "kept":
        from test_enhance import _EatsSpeech
        monkeypatch.setattr(neural, "available", lambda: True)
        monkeypatch.setattr(neural, "NeuralDenoiser", _EatsSpeech)
        params = ChainParams(denoise="neural")
    src, out = _take(tmp_path, seconds=12.0), tmp_path / "out"
    frames = sf.info(src).frames
    _Counted.frames = 0
    ref = _recomputed(monkeypatch, src, tmp_path / "ref.flac", params=params, block_frames=4096)
    twice, _Counted.frames = _Counted.frames, 0
    made = _spy(monkeypatch)
    res = master_file(src, out / "m.flac", "acx", params=params, block_frames=4096)
    once = _Counted.frames
    hop = enhance._frame_len(RATE, enhance.SpectralParams().frame_ms) // 2
    assert frames / hop < once < 1.2 * frames / hop < twice     # the room-tone loop adds a little
    assert twice > 1.9 * frames / hop
    assert len(made) == (2 if guard == "kept" else 3)
    assert sorted(p.name for p in out.iterdir()) == ["m.flac"]
    assert res.plan.report["denoise"] == "spectral"
    assert res.qc.to_dict() == ref.qc.to_dict()
    a, _ = sf.read(tmp_path / "ref.flac", dtype="float64")
    b, _ = sf.read(out / "m.flac", dtype="float64")
    assert np.array_equal(a, b)
