"""Peak memory of `sachnoi master --profile acx --jobs 2` on a 1-hour and a 10-hour session.

A session is its chapters (one file each, as recorded and split); the 10-hour session repeats the
1-hour session's six 10-minute chapters ten times as separate inputs. Reports wall time, the peak
RSS of the largest process and the peak PSS of the whole process tree, and writes the
"Mastering: session length" section of docs/benchmarks.md.
Run: .venv/bin/python benchmarks/bench_mastering_session.py
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_mastering import timed  # noqa: E402  (the same measurement as the main benchmark)
from docsection import write_section  # noqa: E402

SACHNOI = str(Path(sys.executable).with_name("sachnoi"))


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-session-"))
    try:
        base = work / "chapters"
        base.mkdir()
        # Generated in a child process: a child forked from a parent holding the signals would
        # report the parent's pages in its own peak RSS before it execs.
        code = ("import sys, soundfile as sf; from bench_mastering import narration, RATE; "
                f"[sf.write(r'{base}/ch%02d.wav' % (i + 1), narration(600.0, seed=100 + i), RATE, "
                "subtype='PCM_24') for i in range(6)]")
        subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(os.path.abspath(__file__)))
        rows = []
        for hours in (1, 10):
            session = work / f"session-{hours}h"
            session.mkdir()
            for r in range(hours):
                for i in range(6):
                    os.link(base / f"ch{i + 1:02d}.wav", session / f"ch{r * 6 + i + 1:03d}.wav")
            out = work / f"out-{hours}h"
            wall, rss, pss, log = timed([SACHNOI, "master", str(session), "--profile", "acx", "--out", str(out),
                                         "--jobs", "2", "--quiet"])
            masters = len(list(out.rglob("*.flac")))
            print(f"{hours} h: {wall:.1f} s, largest process {rss:.0f} MB, tree PSS {pss:.0f} MB, "
                  f"{masters} masters", flush=True)
            rows.append((hours, wall, rss, pss, masters))
            shutil.rmtree(out, ignore_errors=True)
        lines = ["## Mastering: session length", "",
                 "`.venv/bin/python benchmarks/bench_mastering_session.py` — `sachnoi master SESSION --profile acx "
                 "--jobs 2` on a 1-hour session (6 × 10 min chapters, 44.1 kHz 24-bit) and a 10-hour session (the "
                 "same six chapters ten times, 60 inputs). Peak RSS of the largest process (os.wait4) and peak PSS "
                 "of the whole process tree (sampled every 0.2 s).", "",
                 "| session | wall s | largest process MB | tree PSS MB | masters |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {h} h | {w:.1f} | {r:.0f} | {p:.0f} | {m} |" for h, w, r, p, m in rows]
        lines += ["", "Target: under 400 MB for 1 h and unchanged for 10 h.", ""]
        write_section("## Mastering: session length", "\n".join(lines))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
