"""Per-tick float32 columns (one value per 10 ms) that stay out of memory, and exact statistics
over them worked out a stretch at a time.

A column is anything with `len()` whose slices `col[t0:t1]` give float32 arrays: a numpy array
(in memory) or a `TickFile` (a raw file beside the output, read back with plain reads into small
buffers, so a 10 h take's 3.6 million ticks never sit in RAM at once). `Store` makes the columns
a pass writes: `None` keeps them in memory.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Callable, Iterable, Iterator, Protocol

import numpy as np

STRETCH_TICKS = 65530    # ticks worked at a time: whole 100 ms frames (a multiple of 10), 262 kB per column


class Ticks(Protocol):
    def __len__(self) -> int: ...

    def __getitem__(self, s: slice) -> np.ndarray: ...


class TickFile:
    """A float32 column in a raw file: `append` in order, then read slices back (plain reads).
    `dtype` may be changed (float64 for per-frame work) while the file is still empty."""

    def __init__(self, path: str):
        self.path = path
        self.file = open(path, "w+b")
        self.n = 0
        self.dtype = np.dtype(np.float32)

    def append(self, x: np.ndarray) -> None:
        self.file.seek(0, 2)
        self.file.write(np.ascontiguousarray(x, self.dtype).data)
        self.n += len(x)

    def done(self) -> TickFile:
        self.file.flush()
        return self

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, s: slice) -> np.ndarray:
        t0, t1, step = s.indices(self.n)
        if step != 1:
            raise ValueError("TickFile: slices with step 1 only")
        out = np.empty(max(0, t1 - t0), self.dtype)
        if out.nbytes:
            self.file.flush()
            self.file.seek(t0 * self.dtype.itemsize)
            if self.file.readinto(out.data.cast("B")) != out.nbytes:
                raise OSError(f"{self.path}: shorter than written")
        return out

    def close(self) -> None:
        """Free the disk now (the file itself is removed by whoever named it)."""
        if not self.file.closed:
            self.file.truncate(0)
            self.file.close()


class TickList:
    """The in-memory column: chunks appended, one array when done."""

    def __init__(self, dtype=np.float32) -> None:
        self.chunks: list[np.ndarray] = []
        self.dtype = np.dtype(dtype)

    def append(self, x: np.ndarray) -> None:
        self.chunks.append(np.asarray(x, self.dtype))

    def done(self) -> np.ndarray:
        """One array; the chunks are let go as they are copied (peak: the column plus a chunk)."""
        out = np.empty(sum(len(c) for c in self.chunks), self.dtype)
        at = 0
        self.chunks.reverse()
        while self.chunks:
            c = self.chunks.pop()
            out[at:at + len(c)] = c
            at += len(c)
        return out


Store = Callable[[], TickFile] | None


def new_column(store: Store, dtype=np.float32) -> TickFile | TickList:
    if store is None:
        return TickList(dtype)
    col = store()
    col.dtype = np.dtype(dtype)
    return col


def close(col: object) -> None:
    """Free a column's file (a no-op for arrays)."""
    if isinstance(col, TickFile):
        col.close()


def stretches(n: int, size: int | None = None) -> Iterator[tuple[int, int]]:
    """[t0, t1) ranges covering 0 .. n, `STRETCH_TICKS` long unless `size` says."""
    size = size or STRETCH_TICKS
    for t0 in range(0, n, size):
        yield t0, min(n, t0 + size)


def _keys(x: np.ndarray) -> np.ndarray:
    """float32 -> uint32 in the same order (negative values below positive ones)."""
    b = np.ascontiguousarray(x, np.float32).view(np.uint32)
    return np.where(b >> 31, ~b, b | np.uint32(1 << 31))


def _value(key: int) -> float:
    b = key & 0x7FFFFFFF if key >> 31 else ~key & 0xFFFFFFFF
    return float(np.array([b], np.uint32).view(np.float32)[0])


def kth_smallest(chunks: Callable[[], Iterable[np.ndarray]], k: int) -> float:
    """The k-th smallest (0-based) of all float32 values the chunks give (no NaN), exactly:
    two sweeps of 65536-bin histograms (high then low 16 bits of an order-keeping key)."""
    hi = np.zeros(1 << 16, np.int64)
    for x in chunks():
        hi += np.bincount(_keys(x) >> 16, minlength=1 << 16)
    cum = np.cumsum(hi)
    if not 0 <= k < cum[-1]:
        raise IndexError(k)
    top = int(np.searchsorted(cum, k, "right"))
    below = int(cum[top - 1]) if top else 0
    lo = np.zeros(1 << 16, np.int64)
    for x in chunks():
        key = _keys(x)
        lo += np.bincount(key[(key >> 16) == top] & 0xFFFF, minlength=1 << 16)
    low = int(np.searchsorted(np.cumsum(lo), k - below, "right"))
    return _value((top << 16) | low)


class ExactSum:
    """The exact sum of float32 values, order-free: mantissas summed per exponent as integers."""

    def __init__(self) -> None:
        self.by_exp = [0] * 256
        self.count = 0

    def add(self, x: np.ndarray) -> None:
        b = np.ascontiguousarray(x, np.float32).view(np.uint32)
        exp = (b >> 23) & 0xFF
        mant = (b & 0x7FFFFF) | np.where(exp > 0, np.uint32(1 << 23), np.uint32(0))
        signed = np.where(b >> 31, -1.0, 1.0) * mant
        # mantissas under 2^24: float64 sums them exactly for fewer than 2^29 values a call
        sums = np.bincount(exp, weights=signed, minlength=256)
        for e in np.flatnonzero(sums):
            self.by_exp[e] += int(sums[e])
        self.count += len(b)

    def add_repeated(self, v: float, times: int) -> None:
        """Add the float32 value `v` `times` times (without an array of them)."""
        one = ExactSum()
        one.add(np.array([v], np.float32))
        self.by_exp = [s + t * times for s, t in zip(self.by_exp, one.by_exp)]
        self.count += times

    def value(self) -> float:
        """The sum, correctly rounded to float64."""
        total = sum(s << max(int(e), 1) - 1 for e, s in enumerate(self.by_exp) if s)
        return float(Fraction(total, 1 << 149)) if total else 0.0


def exact_mean(total: ExactSum) -> float:
    return total.value() / total.count if total.count else math.nan


PAIRWISE_BLOCK = 128     # numpy's PW_BLOCKSIZE


def pairwise_mean(col: Ticks) -> float:
    """`np.mean` of a float64 column, to the bit, read a stretch at a time: numpy's pairwise
    summation (halves rounded down to a multiple of 8, leaves of up to 128 values summed in 8
    lanes) done over the column, then divided by its length."""
    n = len(col)
    if not n:
        return math.nan
    w0, w1, buf = 0, 0, np.zeros(0)      # the stretch read last (leaves come in order)

    def values(i0: int, i1: int) -> np.ndarray:
        nonlocal w0, w1, buf
        if not w0 <= i0 <= i1 <= w1:
            w0, w1 = i0, min(n, max(i1, i0 + STRETCH_TICKS))
            buf = np.asarray(col[w0:w1], np.float64)
        return buf[i0 - w0:i1 - w0]

    def leaf(v: np.ndarray) -> float:
        if len(v) < 8:
            res = -0.0
            for x in v.tolist():
                res += x
            return res
        m8 = len(v) - len(v) % 8
        r = v[:8].copy()
        for i in range(8, m8, 8):
            r += v[i:i + 8]
        r0, r1, r2, r3, r4, r5, r6, r7 = r.tolist()
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        for x in v[m8:].tolist():
            res += x
        return res

    def psum(i0: int, k: int) -> float:
        if k <= PAIRWISE_BLOCK:
            return leaf(values(i0, i0 + k))
        h = k // 2
        h -= h % 8
        return psum(i0, h) + psum(i0 + h, k - h)
    try:
        return (0.0 + psum(0, n)) / n
    finally:
        # `psum` refers to itself: its closure is a reference cycle, freed only when the cyclic
        # GC runs; without this the last stretch read (up to 0.5 MB) would stay until then
        buf = np.zeros(0)
