"""Mastering benchmark: 1 h synthetic narration session (6 × 10 min chapters, 44.1 kHz, 24-bit).

Times and measures, on this machine, in one run:
 (a) `sachnoi master SESSION --profile acx` (FLAC masters + ACX MP3s + qc.json), with --jobs 1 and
     with all cores;
 (b) ffmpeg two-pass `loudnorm` (measure, then linear normalise) to the same target, per chapter;
 (c) pyloudnorm integrated loudness of the whole hour (loaded in memory);
 plus the peak RSS of each (os.wait4 of a fresh process tree), and an independent ACX check of every
 output chapter with ffmpeg (`astats` RMS/peak/RMS trough over 0.5 s, `ebur128` true peak).
Writes the "Mastering" section of docs/benchmarks.md.  Run: .venv/bin/python benchmarks/bench_mastering.py
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.path.join(ROOT, ".venv", "bin", "python")
SACHNOI = os.path.join(ROOT, ".venv", "bin", "sachnoi")
FFMPEG = "/usr/bin/ffmpeg"
RATE = 44100
CHAPTERS = int(os.environ.get("BENCH_CHAPTERS", "6"))
CHAPTER_S = float(os.environ.get("BENCH_CHAPTER_S", "600"))


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


def timed(argv: list[str]) -> tuple[float, float, str]:
    """Run argv as a fresh process tree: (wall s, peak RSS MB of the tree, stdout+stderr)."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - t, ru.ru_maxrss / 1024.0, out


def ffmpeg_acx(path: str) -> dict:
    r = subprocess.run([FFMPEG, "-nostats", "-hide_banner", "-i", path, "-af",
                        "astats=metadata=0:reset=0:length=0.5,ebur128=peak=true", "-f", "null", "-"],
                       capture_output=True, text=True, timeout=600).stderr
    def last(pat):
        v = re.findall(pat, r)
        return float(v[-1]) if v else float("nan")
    d = {"rms_db": last(r"RMS level dB:\s+(-?[\d.]+)"), "peak_db": last(r"Peak level dB:\s+(-?[\d.]+)"),
         "noise_floor_db": last(r"RMS trough dB:\s+(-?[\d.inf]+)"),
         "integrated_lufs": last(r"I:\s+(-?[\d.]+) LUFS"), "true_peak_dbtp": last(r"Peak:\s+(-?[\d.]+) dBFS")}
    d["acx_pass"] = bool(-23 <= d["rms_db"] <= -18 and d["peak_db"] <= -3 and d["noise_floor_db"] <= -60)
    return d


def main() -> None:
    work = tempfile.mkdtemp(prefix="bench-mastering-")
    sess = os.path.join(work, "session")
    os.makedirs(sess)
    t = time.perf_counter()
    chapters = [os.path.join(sess, f"ch{i + 1:02d}.wav") for i in range(CHAPTERS)]
    big = os.path.join(work, "hour.wav")
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
"""], check=True)
    print(f"synthesised {CHAPTERS} × {CHAPTER_S:.0f} s in {time.perf_counter() - t:.1f} s", flush=True)
    hours = CHAPTERS * CHAPTER_S / 3600

    res = {}
    for jobs in (1, os.cpu_count() or 1):
        out = os.path.join(work, f"a-{jobs}")
        wall, rss, log = timed([SACHNOI, "master", sess, "--profile", "acx", "--out", out, "--quiet",
                                "--jobs", str(jobs)])
        res[f"a_jobs{jobs}"] = (wall, rss)
        print(f"(a) jobs={jobs}: {wall:.1f} s, peak RSS {rss:.0f} MB", flush=True)
    a_out = out
    a_checks = [ffmpeg_acx(os.path.join(a_out, f"ch{i + 1:02d}.mp3")) for i in range(CHAPTERS)]

    # (b) ffmpeg two-pass loudnorm to the same target (ACX: about -20 LUFS, -3 dBTP)
    b_out = os.path.join(work, "b")
    os.makedirs(b_out)
    script = f"""
import json, re, subprocess, sys
for src in {chapters!r}:
    r = subprocess.run([{FFMPEG!r}, '-nostats', '-hide_banner', '-i', src, '-af',
        'loudnorm=I=-20:TP=-3:LRA=11:print_format=json', '-f', 'null', '-'],
        capture_output=True, text=True).stderr
    m = json.loads(r[r.rindex('{{'):r.rindex('}}') + 1])
    f = ('loudnorm=I=-20:TP=-3:LRA=11:measured_I=%s:measured_TP=%s:measured_LRA=%s:'
         'measured_thresh=%s:offset=%s:linear=true' % (m['input_i'], m['input_tp'], m['input_lra'],
                                                       m['input_thresh'], m['target_offset']))
    dst = {b_out!r} + '/' + src.rsplit('/', 1)[1].replace('.wav', '.flac')
    subprocess.run([{FFMPEG!r}, '-v', 'error', '-y', '-i', src, '-af', f, '-ar', '44100',
                    '-c:a', 'flac', '-sample_fmt', 's32', dst], check=True)
"""
    wall, rss, log = timed([PY, "-c", script])
    res["b"] = (wall, rss)
    print(f"(b) ffmpeg loudnorm two-pass: {wall:.1f} s, peak RSS {rss:.0f} MB", flush=True)
    b_checks = [ffmpeg_acx(os.path.join(b_out, f"ch{i + 1:02d}.flac")) for i in range(CHAPTERS)]

    # (c) pyloudnorm on the whole session as one array
    script = f"""
import numpy as np, soundfile as sf, pyloudnorm
x = np.concatenate([sf.read(p, dtype='float64')[0] for p in {chapters!r}])
print(pyloudnorm.Meter({RATE}).integrated_loudness(x))
"""
    wall, rss, log = timed([PY, "-c", script])
    res["c"] = (wall, rss)
    print(f"(c) pyloudnorm integrated only: {wall:.1f} s, peak RSS {rss:.0f} MB -> {log.strip()[-20:]}", flush=True)

    # our own meter on one chapter vs a 6× longer file: memory must not grow with duration
    one = chapters[0]
    w1, r1, _ = timed([SACHNOI, "measure", one, "--json"])
    w6, r6, _ = timed([SACHNOI, "measure", big, "--json"])
    wm1, rm1, _ = timed([SACHNOI, "master", one, "--profile", "library-streaming", "--out",
                         os.path.join(work, "m1"), "--quiet", "--jobs", "1"])
    wm6, rm6, _ = timed([SACHNOI, "master", big, "--profile", "library-streaming", "--out",
                         os.path.join(work, "m6"), "--quiet", "--jobs", "1"])
    print(f"measure {CHAPTER_S:.0f} s: {r1:.0f} MB; {hours:.1f} h file: {r6:.0f} MB ({w6:.1f} s)")
    print(f"master {CHAPTER_S:.0f} s: {rm1:.0f} MB; {hours:.1f} h file: {rm6:.0f} MB ({wm6:.1f} s)")

    def row(name, c):
        return (f"| {name} | {c['integrated_lufs']:.2f} | {c['rms_db']:.2f} | {c['peak_db']:.2f} | "
                f"{c['true_peak_dbtp']:.2f} | {c['noise_floor_db']:.2f} | {'yes' if c['acx_pass'] else 'NO'} |")
    lines = [
        "## Mastering", "",
        f"What was measured: a {hours:.1f} h synthetic narration session ({CHAPTERS} chapters × "
        f"{CHAPTER_S / 60:.0f} min, 44.1 kHz 24-bit mono WAV: harmonic speech-like bursts at levels varying "
        "over 16 dB plus per-chapter drift, pauses 0.25-2 s, white room noise at -56 dBFS, 50 Hz hum at "
        f"-48 dBFS), on this machine ({os.cpu_count()} cores), one run. Wall time and peak RSS of a fresh "
        "process tree (os.wait4; for a worker pool this is the largest single process). Output figures are "
        "measured independently by ffmpeg: `astats` (RMS level, peak level, RMS trough over 0.5 s windows "
        "as the noise floor) and `ebur128` (integrated, true peak). ACX: RMS -23..-18 dB, peak <= -3 dB, "
        "noise floor <= -60 dB.", "",
        "| run | wall s | peak RSS MB |", "|---|---:|---:|",
        f"| (a) `sachnoi master --profile acx --jobs 1` (masters + MP3 + QC) | {res['a_jobs1'][0]:.1f} | {res['a_jobs1'][1]:.0f} |",
        f"| (a) same, `--jobs {os.cpu_count()}` | {res[f'a_jobs{os.cpu_count()}'][0]:.1f} | {res[f'a_jobs{os.cpu_count()}'][1]:.0f} |",
        f"| (b) ffmpeg two-pass loudnorm (I=-20, TP=-3, linear) | {res['b'][0]:.1f} | {res['b'][1]:.0f} |",
        f"| (c) pyloudnorm integrated loudness only | {res['c'][0]:.1f} | {res['c'][1]:.0f} |",
        f"| `sachnoi measure`, {CHAPTER_S / 60:.0f} min file / {hours:.1f} h file | {w1:.1f} / {w6:.1f} | {r1:.0f} / {r6:.0f} |",
        f"| `sachnoi master`, {CHAPTER_S / 60:.0f} min file / {hours:.1f} h file | {wm1:.1f} / {wm6:.1f} | {rm1:.0f} / {rm6:.0f} |",
        "",
        f"Speed-up of (a) over (b): {res['b'][0] / res['a_jobs1'][0]:.2f}× single process, "
        f"{res['b'][0] / res[f'a_jobs{os.cpu_count()}'][0]:.2f}× with all cores.", "",
        "| output chapter | I LUFS | RMS dB | peak dB | TP dBTP | noise floor dB | ACX |",
        "|---|---:|---:|---:|---:|---:|:-:|",
        *[row(f"(a) ch{i + 1:02d}.mp3", c) for i, c in enumerate(a_checks)],
        *[row(f"(b) ch{i + 1:02d}.flac", c) for i, c in enumerate(b_checks)],
        "",
    ]
    section = "\n".join(lines)
    print(section)
    doc = os.path.join(ROOT, "docs", "benchmarks.md")
    text = open(doc, encoding="utf-8").read() if os.path.exists(doc) else "# Benchmarks\n\n"
    if "## Mastering" in text:
        start = text.index("## Mastering")
        nxt = text.find("\n## ", start + 5)
        text = text[:start] + section + (text[nxt + 1:] if nxt != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    tmp = doc + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, doc)
    print(json.dumps({"work": work}))


if __name__ == "__main__":
    sys.exit(main())
