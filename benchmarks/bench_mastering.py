"""Mastering benchmark: 1 h synthetic narration session (6 × 10 min chapters, 44.1 kHz, 24-bit).

Times and measures, on this machine, in one run, in alternating rounds (medians reported):
 (a) `sachnoi master SESSION --profile acx` (FLAC masters + ACX MP3s + qc.json), with all cores and
     with --jobs 1;
 (b) ffmpeg two-pass `loudnorm` (measure, then linear normalise) to the same target, per chapter, to
     an ACX MP3 (the same deliverable) and to FLAC;
 (c) pyloudnorm integrated loudness of the whole hour (loaded in memory), once;
 plus peak memory (largest process via os.wait4, whole tree PSS sampled from /proc), memory against
 duration (one 10 min chapter, the 1 h file, a 10 h file), and an independent ACX check of every
 output chapter with ffmpeg only (`astats` RMS/peak, noise floor = quietest whole 0.5 s window cut by
 `asetnsamples`, `ebur128` true peak).
Writes the "Mastering" section of docs/benchmarks.md.  Run: .venv/bin/python benchmarks/bench_mastering.py
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.path.join(ROOT, ".venv", "bin", "python")
SACHNOI = os.path.join(ROOT, ".venv", "bin", "sachnoi")
FFMPEG = "/usr/bin/ffmpeg"
RATE = 44100
CHAPTERS = int(os.environ.get("BENCH_CHAPTERS", "6"))
CHAPTER_S = float(os.environ.get("BENCH_CHAPTER_S", "600"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
LONG_REPEAT = int(os.environ.get("BENCH_LONG_REPEAT", "10"))


def narration(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    x = np.zeros(n, np.float32)
    t = int(rng.uniform(0.1, 2.0) * RATE)
    drift = rng.uniform(-4, 4)
    while t < n - int(2 * RATE):
        d = min(int(rng.uniform(0.8, 4.0) * RATE), n - t - int(1.5 * RATE))
        lvl = 10 ** ((rng.uniform(-34, -18) + drift) / 20)
        k = np.arange(d)
        f0 = rng.uniform(90, 230)
        ph = 2 * np.pi * f0 * k / RATE * (1 + 0.03 * np.sin(2 * np.pi * 0.7 * k / RATE))
        s = sum(np.sin(h * ph + rng.uniform(0, 6)) / h for h in range(1, 14))
        am = 0.5 * (1 - np.cos(2 * np.pi * k / d)) * (0.55 + 0.45 * np.sin(2 * np.pi * rng.uniform(3, 6) * k / RATE))
        x[t:t + d] += (lvl * 0.5 * s * am).astype(np.float32)
        t += d + int(rng.uniform(0.25, 2.0) * RATE)
    x += (10 ** (-56 / 20) * rng.standard_normal(n)).astype(np.float32)
    x += (10 ** (-48 / 20) * np.sin(2 * np.pi * 50 * np.arange(n) / RATE)).astype(np.float32)
    return x[:, None]


def timed(argv: list[str]) -> tuple[float, float, float, str]:
    """Run argv as a fresh process tree: (wall s, peak RSS MB of its largest process, peak PSS MB of
    the whole tree sampled every 0.2 s, stdout+stderr)."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak_tree = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak_tree[0] = max(peak_tree[0], _tree_pss_mb(p.pid))
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    done.set()
    th.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - t, ru.ru_maxrss / 1024.0, peak_tree[0], out


def _tree_pss_mb(pid: int) -> float:
    """Proportional set size of pid and all its descendants, MB (shared pages counted once)."""
    total, todo = 0.0, [pid]
    while todo:
        q = todo.pop()
        try:
            with open(f"/proc/{q}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) / 1024.0
                        break
            for task in os.listdir(f"/proc/{q}/task"):
                with open(f"/proc/{q}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return total


def ffmpeg_windows_floor(path: str) -> float:
    """Noise floor as ACX Check defines it, measured by ffmpeg alone: RMS (dB) of the quietest whole
    0.5 s window, windows cut on a 0.5 s grid from the start (asetnsamples) and measured one by one
    (astats reset every window)."""
    out = subprocess.run(
        [FFMPEG, "-nostats", "-hide_banner", "-v", "error", "-i", path, "-af",
         f"aresample={RATE},asetnsamples=n={RATE // 2}:p=0,astats=metadata=1:reset=1:measure_perchannel=none:"
         "measure_overall=RMS_level+Number_of_samples,ametadata=mode=print:file=-",
         "-f", "null", "-"], capture_output=True, text=True, timeout=1800).stdout
    levels = [float(v) for v in re.findall(r"Overall\.RMS_level=(\S+)", out)]
    counts = [float(v) for v in re.findall(r"Overall\.Number_of_samples=(\S+)", out)]
    whole = [lv for lv, c in zip(levels, counts) if c >= RATE // 2]
    return min(whole) if whole else float("nan")


def ffmpeg_acx(path: str) -> dict:
    """ACX figures of one delivered file, measured by ffmpeg only (astats, ebur128)."""
    r = subprocess.run([FFMPEG, "-nostats", "-hide_banner", "-i", path, "-af",
                        "astats=metadata=0:reset=0:length=0.5,ebur128=peak=true", "-f", "null", "-"],
                       capture_output=True, text=True, timeout=1800).stderr

    def last(pat):
        v = re.findall(pat, r)
        return float(v[-1]) if v else float("nan")
    d = {"rms_db": last(r"RMS level dB:\s+(-?[\d.]+)"), "peak_db": last(r"Peak level dB:\s+(-?[\d.]+)"),
         "rms_trough_db": last(r"RMS trough dB:\s+(-?[\d.inf]+)"),
         "integrated_lufs": last(r"I:\s+(-?[\d.]+) LUFS"), "true_peak_dbtp": last(r"Peak:\s+(-?[\d.]+) dBFS")}
    d["noise_floor_db"] = ffmpeg_windows_floor(path)
    d["acx_pass"] = bool(-23 <= d["rms_db"] <= -18 and d["peak_db"] <= -3 and d["noise_floor_db"] <= -60)
    return d


def median(xs: list[float]) -> float:
    return float(np.median(xs))


def two_pass_script(chapters: list[str], out_dir: str, fmt: str) -> str:
    """(b): per chapter, ffmpeg loudnorm measure pass, then linear normalise to FLAC or ACX MP3."""
    enc = ("['-c:a', 'flac', '-sample_fmt', 's32']" if fmt == "flac" else
           "['-c:a', 'libmp3lame', '-b:a', '192k', '-ac', '1']")
    return f"""
import json, subprocess
for src in {chapters!r}:
    r = subprocess.run([{FFMPEG!r}, '-nostats', '-hide_banner', '-i', src, '-af',
        'loudnorm=I=-20:TP=-3:LRA=11:print_format=json', '-f', 'null', '-'],
        capture_output=True, text=True).stderr
    m = json.loads(r[r.rindex('{{'):r.rindex('}}') + 1])
    f = ('loudnorm=I=-20:TP=-3:LRA=11:measured_I=%s:measured_TP=%s:measured_LRA=%s:'
         'measured_thresh=%s:offset=%s:linear=true' % (m['input_i'], m['input_tp'], m['input_lra'],
                                                       m['input_thresh'], m['target_offset']))
    dst = {out_dir!r} + '/' + src.rsplit('/', 1)[1].replace('.wav', '.{fmt}')
    subprocess.run([{FFMPEG!r}, '-v', 'error', '-y', '-i', src, '-af', f, '-ar', '44100', *{enc}, dst],
                   check=True)
"""


def main() -> None:
    for line in subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout.splitlines()[1:]:
        pid, _, args = line.strip().partition(" ")
        if "bench_mastering.py" in args and "python" in args.split()[0] and int(pid) != os.getpid():
            print(f"another bench_mastering.py is running (pid {pid}); stop it first", file=sys.stderr)
            return 2
    work = tempfile.mkdtemp(prefix="bench-mastering-")
    sess = os.path.join(work, "session")
    os.makedirs(sess)
    t = time.perf_counter()
    chapters = [os.path.join(sess, f"ch{i + 1:02d}.wav") for i in range(CHAPTERS)]
    big = os.path.join(work, "hour.wav")
    long_path = os.path.join(work, "long.wav")
    # synthesise in a child so this process stays small: a forked child's peak RSS starts at
    # the parent's size, which would inflate every figure below
    subprocess.run([PY, "-c", f"""
import sys, soundfile as sf
sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
from bench_mastering import narration, RATE
with sf.SoundFile({big!r}, 'w', RATE, 1, subtype='PCM_24') as whole:
    for i, p in enumerate({chapters!r}):
        x = narration({CHAPTER_S!r}, seed=i)
        sf.write(p, x, RATE, subtype='PCM_24')
        whole.write(x)
# the long file repeats the session {LONG_REPEAT} times (memory must not grow with duration)
with sf.SoundFile({long_path!r}, 'w', RATE, 1, subtype='PCM_24', format='RF64') as out:
    for _ in range({LONG_REPEAT}):
        for b in sf.blocks({big!r}, blocksize=1 << 20, dtype='float32'):
            out.write(b)
"""], check=True)
    print(f"synthesised {CHAPTERS} × {CHAPTER_S:.0f} s (+ {LONG_REPEAT}× long file) in "
          f"{time.perf_counter() - t:.1f} s", flush=True)
    hours = CHAPTERS * CHAPTER_S / 3600
    ncpu = os.cpu_count() or 1

    # (a) and (b), alternating in rounds so load from other work on the machine hits both alike
    runs: dict[str, list[tuple[float, float, float]]] = {}
    order = [f"a{ncpu}", "b_mp3", "a1", "b_flac"]
    for rnd in range(ROUNDS):
        for name in (order if rnd % 2 == 0 else order[::-1]):
            out = os.path.join(work, f"{name}-{rnd}")
            os.makedirs(out, exist_ok=True)
            if name.startswith("a"):
                argv = [SACHNOI, "master", sess, "--profile", "acx", "--out", out, "--quiet",
                        "--jobs", name[1:]]
            else:
                argv = [PY, "-c", two_pass_script(chapters, out, name.split("_")[1])]
            wall, rss, pss, log = timed(argv)
            runs.setdefault(name, []).append((wall, rss, pss))
            print(f"round {rnd + 1} {name}: {wall:.1f} s, largest process {rss:.0f} MB, tree {pss:.0f} MB",
                  flush=True)
            if rnd < ROUNDS - 1:
                shutil.rmtree(out)
    last = ROUNDS - 1
    a_dir = os.path.join(work, f"a{ncpu}-{last}")
    a_checks = [ffmpeg_acx(os.path.join(a_dir, f"ch{i + 1:02d}.mp3")) for i in range(CHAPTERS)]
    qc = json.load(open(os.path.join(a_dir, "qc.json"), encoding="utf-8"))
    qc_floor = [e["qc"]["measurements"]["noise_floor_db"] for e in qc["chapters"]]
    qc_pass = [e["passed"] for e in qc["chapters"]]
    flac_floor = [ffmpeg_windows_floor(os.path.join(a_dir, f"ch{i + 1:02d}.flac")) for i in range(CHAPTERS)]
    bm_checks = [ffmpeg_acx(os.path.join(work, f"b_mp3-{last}", f"ch{i + 1:02d}.mp3")) for i in range(CHAPTERS)]
    bf_checks = [ffmpeg_acx(os.path.join(work, f"b_flac-{last}", f"ch{i + 1:02d}.flac")) for i in range(CHAPTERS)]

    # (c) pyloudnorm on the whole session as one array
    script = f"""
import numpy as np, soundfile as sf, pyloudnorm
x = np.concatenate([sf.read(p, dtype='float64')[0] for p in {chapters!r}])
print(pyloudnorm.Meter({RATE}).integrated_loudness(x))
"""
    wc, rc, pc, log = timed([PY, "-c", script])
    print(f"(c) pyloudnorm integrated only: {wc:.1f} s, peak RSS {rc:.0f} MB -> {log.strip()[-20:]}", flush=True)

    # memory against duration: one chapter, the whole hour, and the long file as single inputs
    mem = {}
    for label, path in ((f"{CHAPTER_S / 60:.0f} min", chapters[0]), (f"{hours:.0f} h", big),
                        (f"{hours * LONG_REPEAT:.0f} h", long_path)):
        w, r, pss, _ = timed([SACHNOI, "master", path, "--profile", "library-streaming", "--out",
                              os.path.join(work, "mem-" + label.replace(" ", "")), "--quiet", "--jobs", "1"])
        mem[label] = (w, r, pss)
        shutil.rmtree(os.path.join(work, "mem-" + label.replace(" ", "")), ignore_errors=True)
        print(f"master {label} single file: {w:.1f} s, peak RSS {r:.0f} MB", flush=True)
    wm, rm, _, _ = timed([SACHNOI, "measure", long_path, "--json"])
    print(f"measure {hours * LONG_REPEAT:.0f} h: {wm:.1f} s, peak RSS {rm:.0f} MB", flush=True)

    def med(name: str, i: int) -> float:
        return median([r[i] for r in runs[name]])
    ratio_mp3 = [b[0] / a[0] for a, b in zip(runs[f"a{ncpu}"], runs["b_mp3"])]
    ratio_flac = [b[0] / a[0] for a, b in zip(runs[f"a{ncpu}"], runs["b_flac"])]
    ratio1_mp3 = [b[0] / a[0] for a, b in zip(runs["a1"], runs["b_mp3"])]

    mp3_floor = [c["noise_floor_db"] for c in a_checks]

    def row(name, c):
        return (f"| {name} | {c['integrated_lufs']:.2f} | {c['rms_db']:.2f} | {c['peak_db']:.2f} | "
                f"{c['true_peak_dbtp']:.2f} | {c['noise_floor_db']:.2f} | {c['rms_trough_db']:.2f} | "
                f"{'yes' if c['acx_pass'] else 'NO'} |")
    cmd = "`.venv/bin/python benchmarks/bench_mastering.py`"
    lines = [
        "## Mastering", "",
        f"Command: {cmd} (env `BENCH_ROUNDS`, `BENCH_CHAPTERS`, `BENCH_CHAPTER_S`, `BENCH_LONG_REPEAT`).",
        "",
        f"Input: a {hours:.1f} h synthetic narration session ({CHAPTERS} chapters × {CHAPTER_S / 60:.0f} min, "
        "44.1 kHz 24-bit mono WAV: harmonic speech-like bursts at levels varying over 16 dB plus per-chapter "
        "drift, pauses 0.25-2 s, white room noise at -56 dBFS, 50 Hz hum at -48 dBFS). Machine: "
        f"{ncpu} cores, shared with other work while this ran, so each figure is the median of {ROUNDS} "
        "rounds in which (a) and (b) alternate, and speed-ups are per-round ratios. Wall time; peak RSS of "
        "the largest process (os.wait4) and peak PSS of the whole process tree (sampled every 0.2 s from "
        "/proc, shared pages counted once).", "",
        "| run | wall s (median) | largest process MB | tree PSS MB |", "|---|---:|---:|---:|",
        f"| (a) `sachnoi master SESSION --profile acx --jobs {ncpu}` (FLAC masters + ACX MP3 + qc.json) | "
        f"{med(f'a{ncpu}', 0):.1f} | {med(f'a{ncpu}', 1):.0f} | {med(f'a{ncpu}', 2):.0f} |",
        f"| (a) same, `--jobs 1` | {med('a1', 0):.1f} | {med('a1', 1):.0f} | {med('a1', 2):.0f} |",
        f"| (b) ffmpeg two-pass loudnorm (I=-20, TP=-3, linear) per chapter -> MP3 192k (same deliverable) | "
        f"{med('b_mp3', 0):.1f} | {med('b_mp3', 1):.0f} | {med('b_mp3', 2):.0f} |",
        f"| (b) same -> FLAC | {med('b_flac', 0):.1f} | {med('b_flac', 1):.0f} | {med('b_flac', 2):.0f} |",
        f"| (c) pyloudnorm integrated loudness of the hour only (one run) | {wc:.1f} | {rc:.0f} | {pc:.0f} |",
        "",
        f"Speed-up of (a) `--jobs {ncpu}` over (b): {median(ratio_mp3):.2f}× against (b) -> MP3 "
        f"(per round: {', '.join(f'{x:.2f}' for x in ratio_mp3)}), {median(ratio_flac):.2f}× against (b) -> FLAC "
        f"(per round: {', '.join(f'{x:.2f}' for x in ratio_flac)}). (b) is one ffmpeg process at a time, "
        f"as a script would run it; (a) `--jobs 1` alone: {median(ratio1_mp3):.2f}× against (b) -> MP3.", "While other work runs on the machine, the two workers of (a) share the two cores with it and the single ffmpeg process of (b) does not, so the ratio against (b) falls under load (compare the rounds).", "",
        "Memory against duration (`sachnoi master FILE --profile library-streaming --jobs 1` on one file; "
        f"the long file repeats the session {LONG_REPEAT}×):", "",
        "| input | wall s | peak RSS MB |", "|---|---:|---:|",
        *[f"| {k} | {v[0]:.1f} | {v[1]:.0f} |" for k, v in mem.items()],
        f"| `sachnoi measure`, {hours * LONG_REPEAT:.0f} h | {wm:.1f} | {rm:.0f} |",
        "",
        "A single input's peak RSS grew with its length (plan arrays at 10 ms resolution, about 25 MB per hour) until session 11 put the plan's per-tick columns in files and session 13 the meters' records (flat from 1 h to 10 h since, \"Mastering: scale\"); the chapters of a session are separate inputs, so (a) does not grow with the length of a session.", "",
        "ACX check of every output chapter, by ffmpeg only. RMS level and peak level: `astats` over the "
        "whole file. Noise floor: ACX Check's definition, the RMS of the quietest 0.5 s, with windows cut "
        "by ffmpeg on a 0.5 s grid (`asetnsamples=n=22050:p=0,astats=metadata=1:reset=1`, whole windows "
        "only); our QC's `noise_floor_db` uses the same windows. `astats` RMS trough (length 0.5) is shown "
        "for reference only: it is an exponential average with a 0.5 s time constant whose minimum is "
        "taken after 2.5 s, so it still carries the last word's energy in pauses shorter than about 5 s "
        "and is not a 0.5 s window. I and TP from `ebur128=peak=true`. "
        "ACX: RMS -23..-18 dB, peak <= -3 dB, noise floor <= -60 dB.", "",
        "| output chapter | I LUFS | RMS dB | peak dB | TP dBTP | noise floor dB | astats RMS trough dB | ACX |",
        "|---|---:|---:|---:|---:|---:|---:|:-:|",
        *[row(f"(a) ch{i + 1:02d}.mp3", c) for i, c in enumerate(a_checks)],
        *[row(f"(b) ch{i + 1:02d}.mp3", c) for i, c in enumerate(bm_checks)],
        *[row(f"(b) ch{i + 1:02d}.flac", c) for i, c in enumerate(bf_checks)],
        "",
        "Our QC against the independent check, per chapter of (a): QC noise floor (on the FLAC master) "
        f"{', '.join(f'{v:.2f}' for v in qc_floor)} dB; ffmpeg on the same FLAC "
        f"{', '.join(f'{v:.2f}' for v in flac_floor)} dB; ffmpeg on the MP3 "
        f"{', '.join(f'{v:.2f}' for v in mp3_floor)} dB. QC passed: "
        f"{sum(qc_pass)}/{CHAPTERS}; ffmpeg ACX check passed: {sum(c['acx_pass'] for c in a_checks)}/{CHAPTERS}.",
        "",
    ]
    section = "\n".join(lines)
    print(section)
    from docsection import write_section
    write_section("## Mastering", section)
    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"work": work}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
