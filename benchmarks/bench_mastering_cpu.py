"""CPU time of one 10-minute take to ACX (FLAC master + MP3) against ffmpeg two-pass loudnorm + MP3.

On a shared machine wall-time ratios move with the other load; CPU seconds (user + system of the
process and its children: our ffmpeg MP3 encoder, or the two ffmpeg runs) do not, and they bound
what `--jobs N` can reach on N free cores: the session speed-up ≈ N × (ffmpeg CPU ÷ our CPU) when
one ffmpeg runs at a time, as a script would. Alternating rounds, each in a fresh process.

Run: .venv/bin/python benchmarks/bench_mastering_cpu.py [rounds]   (env BENCH_SPEED_S, default 600)
Prints one line per round and the medians (not written to docs/benchmarks.md by itself).
"""
from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
SPEED_S = float(os.environ.get("BENCH_SPEED_S", "600"))


def cpu_of(argv: list[str]) -> tuple[float, float]:
    """(wall s, CPU s of the child tree) of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (time.perf_counter() - t,
            (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "take.wav")
        subprocess.run([sys.executable, "-c", "import soundfile as sf; from bench_mastering import narration, RATE; "
                        f"sf.write({src!r}, narration({SPEED_S}, seed=21), RATE, subtype='PCM_24')"],
                       check=True, cwd=os.path.dirname(os.path.abspath(__file__)))
        ours = ("from mastering.runner import master_file; from delivery.ffmpeg import mp3_pipe; "
                f"master_file({src!r}, {os.path.join(tmp, 'm.flac')!r}, 'acx', "
                f"delivery={os.path.join(tmp, 'm.mp3')!r}, open_encoder=mp3_pipe)")
        theirs = ("import sys; sys.path.insert(0, 'benchmarks'); from bench_real_takes import ffmpeg_reference; "
                  "from mastering.profiles import get_profile; "
                  f"ffmpeg_reference({src!r}, {os.path.join(tmp, 'r.mp3')!r}, get_profile('acx'), False)")
        rows = []
        for r in range(rounds):
            a = cpu_of([sys.executable, "-c", ours])
            b = cpu_of([sys.executable, "-c", theirs])
            rows.append((a, b))
            print(f"round {r + 1}: ours {a[0]:.1f} s wall, {a[1]:.2f} CPU s; ffmpeg two-pass loudnorm + MP3 "
                  f"{b[0]:.1f} s wall, {b[1]:.2f} CPU s; CPU ratio {b[1] / a[1]:.2f}×, wall ratio {b[0] / a[0]:.2f}×",
                  flush=True)
        cpu = statistics.median(b[1] / a[1] for a, b in rows)
        wall = statistics.median(b[0] / a[0] for a, b in rows)
        print(f"median over {rounds} rounds: CPU ratio {cpu:.2f}×, wall ratio {wall:.2f}×; "
              f"our CPU {statistics.median(a[1] for a, _ in rows):.2f} s, ffmpeg's "
              f"{statistics.median(b[1] for _, b in rows):.2f} s per {SPEED_S / 60:.0f}-minute take")
    return 0


if __name__ == "__main__":
    sys.exit(main())
