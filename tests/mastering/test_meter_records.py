"""The meter's per-100 ms records: kept as float32 in fixed chunks (memory flat with duration),
summed in float64 (the integrated loudness of a long file is exact, not a float32 running sum's)."""
from __future__ import annotations

import math

import numpy as np

from mastering.meter import Meter, _integrated, _Records, measure


def test_records_across_chunks_come_back_in_order(monkeypatch):
    monkeypatch.setattr(_Records, "CHUNK", 7)
    rng = np.random.default_rng(1)
    rec, parts = _Records(), []
    for k in (3, 5, 0, 1, 14, 6, 9):
        rows = rng.standard_normal((k, 6))
        rec.append(rows)
        parts.append(rows)
    want = np.concatenate(parts).astype(np.float32).T
    last = np.arange(6.0)
    got = rec.series(last)
    assert got.dtype == np.float32 and got.shape == (6, 39)
    assert np.array_equal(got[:, :38], want) and np.array_equal(got[:, 38], last)
    assert rec.chunks == [] and rec.n == 0     # the chunks were handed over, not kept twice


def test_records_sized_for_the_length_are_handed_out_without_a_copy():
    rows = np.random.default_rng(3).standard_normal((20, 6))
    rec = _Records(capacity=21)
    rec.append(rows[:13])
    rec.append(rows[13:])
    first = rec.chunks[0]
    got = rec.series(np.ones(6))
    assert np.shares_memory(got, first) and got.shape == (6, 21)
    assert np.array_equal(got[:, :20], rows.astype(np.float32).T)
    over = _Records(capacity=4)      # a wrong guess still gives every row
    over.append(rows)
    assert np.array_equal(over.series(None), rows.astype(np.float32).T)


def test_integrated_sums_frames_in_float64():
    """5000 frames of widely spread energies: a float32 running sum is 0.007 dB off here."""
    rng = np.random.default_rng(6)
    k = (4410 * 10 ** rng.uniform(-9, -1, 5000)).astype(np.float32)
    n = np.full(5000, 4410, np.float32)
    ck = np.concatenate(([0.0], np.cumsum(k.astype(np.float64))))
    e = (ck[4:] - ck[:-4]) / (4 * 4410.0)
    loud = -0.691 + 10 * np.log10(np.maximum(e, 1e-300))
    gated = e[loud > -70]
    rel = -0.691 + 10 * np.log10(gated.mean()) - 10
    exact = -0.691 + 10 * math.log10(e[(loud > -70) & (loud > rel)].mean())
    assert abs(_integrated(k, n) - exact) < 1e-6


def test_blocks_of_any_size_give_the_same_records(monkeypatch):
    monkeypatch.setattr(_Records, "CHUNK", 16)      # many chunks for a 5 s signal (50 frames)
    rate = 8000
    rng = np.random.default_rng(2)
    x = (0.1 * rng.standard_normal(5 * rate + 123))[:, None]
    whole = measure(x, rate)
    for block in (97, 800, 4000):
        m = Meter(rate, 1)
        for i in range(0, len(x), block):
            m.add(x[i:i + block])
        r = m.result()
        assert len(r.frames) == len(whole.frames) == 51       # 50 whole frames and the partial one
        for col in ("k_power", "power", "count", "peak", "clipped"):
            np.testing.assert_allclose(getattr(r.frames, col), getattr(whole.frames, col), rtol=1e-6)
        assert abs(r.integrated_lufs - whole.integrated_lufs) < 1e-6


def test_records_in_files_until_the_result(tmp_path, monkeypatch):
    """With a store the meter keeps its records in files while it runs (no memory that grows with
    the take) and hands back the same measurements; the files are emptied afterwards."""
    import mastering.ticks as ticks
    from mastering.ticks import TickFile
    monkeypatch.setattr(ticks, "STRETCH_TICKS", 30)       # several stretches read back
    monkeypatch.setattr(Meter, "BATCH_TICKS", 50)         # records handed on every 0.5 s
    made: list[TickFile] = []

    def store() -> TickFile:
        made.append(TickFile(str(tmp_path / f"c{len(made)}")))
        return made[-1]

    rate = 8000
    x = (0.1 * np.random.default_rng(4).standard_normal(12 * rate + 321))[:, None]
    x[3 * rate:4 * rate] *= 20
    plain, filed = Meter(rate, 1), Meter(rate, 1, store=store)
    for i in range(0, len(x), 999):
        plain.add(x[i:i + 999])
        filed.add(x[i:i + 999])
    assert len(made) == 6 and filed.records.chunks == []
    assert all(len(f) > 0 for f in made)                 # written as it ran, before the result
    a, b = plain.result(), filed.result()
    n = len(a.frames)
    assert len(b.frames) == n and isinstance(b.frames.power, TickFile)     # left in the files
    for col in ("k_power", "power", "count", "peak", "clipped", "short_term"):
        assert np.array_equal(getattr(a.frames, col), getattr(b.frames, col)[0:n], equal_nan=True), col
    assert a.to_dict() == b.to_dict() and a.clipped_samples == b.clipped_samples
    assert np.array_equal(a.frames.rms_db, b.frames.rms_db, equal_nan=True)
    assert np.array_equal(a.frames.positive("peak"), b.frames.positive("peak"))
    assert a.plot_data(max_points=7) == b.plot_data(max_points=7)
    b.frames.close()
    assert all(f.file.closed for f in made) and all((tmp_path / f"c{i}").stat().st_size == 0 for i in range(6))
