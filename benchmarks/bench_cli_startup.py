"""`sachnoi` start-up: median wall and CPU time (user + system, from the child's rusage) of five
runs of `sachnoi --version`, `sachnoi --help` and `sachnoi db upgrade` on a migrated instance.

    .venv/bin/python benchmarks/bench_cli_startup.py

Figures in docs/benchmarks.md ("CLI start-up")."""
from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SACHNOI = str(Path(sys.executable).with_name("sachnoi"))
COMMANDS = (["--version"], ["--help"], ["db", "upgrade"])
RUNS = 5


def _run(argv: list[str], env: dict) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([SACHNOI, *argv], env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "SACHNOI_HOME": home}
        _run(["db", "upgrade"], env)  # the schema exists: db upgrade then measures start-up, not migrations
        print(f"{'command':<22} {'wall s (median)':>16} {'CPU s (median)':>15}")
        for argv in COMMANDS:
            runs = [_run(argv, env) for _ in range(RUNS)]
            wall = statistics.median(w for w, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            print(f"{'sachnoi ' + ' '.join(argv):<22} {wall:>16.2f} {cpu:>15.2f}")


if __name__ == "__main__":
    main()
