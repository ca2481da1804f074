"""`studio.master.master_with_delivery` masters with one BLAS thread and restores the setting."""
from __future__ import annotations

import numpy as np
import soundfile as sf
from threadpoolctl import threadpool_info

import mastering.runner as runner
from studio.master import master_with_delivery


def _blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_master_with_delivery_uses_one_blas_thread_and_restores_it(tmp_path, monkeypatch):
    """Each small BLAS call (the plan's dot products) woke OpenBLAS's second thread, which then
    spun: one thread while the take is mastered, the process's own setting afterwards."""
    rng = np.random.default_rng(3)
    t = np.arange(44100 * 4) / 44100
    x = 0.1 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.7 * t) > 0) + 1e-3 * rng.standard_normal(len(t))
    src = tmp_path / "take.wav"
    sf.write(src, x.astype(np.float32), 44100, subtype="PCM_24")
    before = _blas_threads()
    assert before                                  # numpy's OpenBLAS at least
    seen: list[list[int]] = []
    make_plan = runner.make_plan

    def recording(*args, **kwargs):
        seen.append(_blas_threads())
        return make_plan(*args, **kwargs)
    monkeypatch.setattr(runner, "make_plan", recording)
    res = master_with_delivery(src, tmp_path / "m.flac", "library-streaming")
    assert res.path and seen and all(n == [1] * len(before) for n in seen)
    assert _blas_threads() == before
