"""Peak memory of `make_plan` alone on a synthetic analysis of a long take (issue 18.4).

The plan's per-10 ms arrays are what grows with one input's length; this builds an `Analysis` of
`hours` (speech 2 s on, 0.5 s off) and reports, with tracemalloc, the plan's peak allocation over
its input arrays, with its per-tick columns in files in a temporary folder as `master_file` keeps
them (`mastering.ticks.TickFile`). Run: .venv/bin/python benchmarks/bench_plan_memory.py [hours ...]
(default 1 10)
"""
from __future__ import annotations

import itertools
import os
import sys
import tempfile
import time
import tracemalloc

import numpy as np

from mastering.plan import Analysis, ChainParams, make_plan
from mastering.profiles import get_profile
from mastering.ticks import TickFile

RATE = 44100


def measure(hours: float) -> str:
    n = int(hours * 3600 * 100)
    rng = np.random.default_rng(0)
    count = np.full(n, RATE // 100, np.float32)
    on = (np.arange(n) % 250) < 200
    power = np.where(on, 441 * 0.01 * rng.random(n) ** 2 + 1e-4, 441 * 1e-6).astype(np.float32)
    a = Analysis(RATE, 1, n * 441, power * np.float32(1.1), power, count,
                 np.sqrt(power / 441 * 8).astype(np.float32), np.zeros((0, 2), np.int64))
    inputs = sum(x.nbytes for x in (a.k_power, a.power, a.count, a.peak)) / 1e6
    names = itertools.count()
    with tempfile.TemporaryDirectory() as folder:
        tracemalloc.start()
        cpu = time.process_time()
        make_plan(a, get_profile("library-streaming"), ChainParams(),
                  lambda: TickFile(os.path.join(folder, f"{next(names)}.ticks")))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return (f"- {hours:g} h ({n} ticks): input arrays {inputs:.0f} MB; make_plan peak {peak / 1e6:.0f} MB "
            f"over them; {time.process_time() - cpu:.1f} CPU s")


if __name__ == "__main__":
    for h in [float(v) for v in sys.argv[1:]] or [1.0, 10.0]:
        print(measure(h), flush=True)
