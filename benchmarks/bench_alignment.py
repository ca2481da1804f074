"""Alignment of manuscript to narration (issue 20): boundary error, injected skips and repeats, speed.

Narration is generated with known sentence times: every sentence spoken by espeak-ng in a voice, pace
and pitch the aligner does not use (it uses `-v vi -s 175 -p 50`), trimmed, joined with random pauses
(0,3–0,9 s; 1,2 s between paragraphs), in chapters of CHAPTER_S seconds. In each chapter some
sentences are left out (skips) and some read twice in a row (a retake left in). The same narration is
then degraded the ways of benchmarks/bench_real_takes.py (fan noise, reverb, hum). Measured per
condition: median and 95th percentile boundary error (start and end of every sentence read once,
against the speech extent of its synthetic reading), recall of skips and repeats, skips/repeats flagged
where none was injected (false alarms) and low-confidence flags, per hour of narration; speed as ×
real time of the whole alignment (synthesis, features, DTW, checks) on one core (numba and BLAS
limited to one thread). Reference in the same run: librosa's full-matrix `dtw` on one chapter's
features against ours (time and memory of the cost matrix).

Run: .venv/bin/python benchmarks/bench_alignment.py   (env BENCH_CHAPTERS: chapters per condition,
BENCH_CHAPTER_S: chapter length in s, BENCH_CONDITIONS: only the first N conditions)
Writes the "Manuscript alignment" section of docs/benchmarks.md.
"""
from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from docsection import write_section  # noqa: E402

from studio.align import (AlignParams, align_section, align_text, features_of_samples,  # noqa: E402
                          speech_extent, synthesise_section, voice_for)
from studio.espeak import Voice, synthesise  # noqa: E402

CHAPTERS = int(os.environ.get("BENCH_CHAPTERS", "3"))
CHAPTER_S = float(os.environ.get("BENCH_CHAPTER_S", "300"))
RATE = 22050

SUBJECTS = ["Người nông dân", "Cô giáo trẻ", "Ông lão đánh cá", "Bà cụ bán nước", "Thằng bé chăn trâu", "Anh bộ đội",
            "Chị Hoa", "Lão Hạc", "Những đứa trẻ trong xóm", "Vị bác sĩ già", "Người lái đò", "Cả làng"]
VERBS = ["đi ra cánh đồng", "ngồi bên bờ sông", "kể lại câu chuyện cũ", "nhìn về phía núi xa", "lặng lẽ nấu cơm",
         "chạy qua con đường đất đỏ", "viết một lá thư dài", "đợi chuyến xe cuối cùng", "hát một bài ru",
         "sửa lại mái nhà dột", "đếm từng đồng tiền lẻ", "trồng thêm mấy cây cau"]
TAILS = ["khi trời vừa sáng", "trong cơn mưa rả rích", "suốt một buổi chiều", "mà không nói một lời nào",
         "giữa tiếng gió thổi qua rặng tre", "vào ngày mùng một Tết", "như mọi năm", "khi mặt trời đã lặn",
         "với một nỗi buồn khó tả", "cho đến tận nửa đêm"]
EXTRA = ["Trời lại mưa.", "Vâng.", "Không ai trả lời.", "Năm ấy là năm 1945.", "Giá gạo lên tới 3,5 đồng một cân.",
         "“Về thôi!” bà nói.", "TS. Lan cũng có mặt.", "Mọi người đều im lặng, chờ đợi, hồi hộp."]


def sentence(rng) -> str:
    if rng.random() < 0.12:
        return str(rng.choice(EXTRA))
    s = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(TAILS)}"
    if rng.random() < 0.4:
        s += f", rồi {rng.choice(VERBS)}"
    return s + "."


@dataclass
class Chapter:
    texts: list[str]
    paragraphs: list[int]
    audio: np.ndarray
    truth: list[tuple[float, float] | None]   # first reading of each sentence; None when skipped
    skipped: set[int]
    repeated: set[int]


def make_chapter(voice: Voice, rng, seconds: float, faults: int) -> Chapter:
    parts, truth, t = [np.zeros(int(0.8 * RATE), np.float32)], [], 0.8
    n_target = int(seconds / 3.2)
    # faults at least 4 sentences apart: each is one fault to find (a run of skipped sentences is a
    # skipped passage, another test)
    faulty: list[int] = []
    for k in rng.permutation(np.arange(2, n_target - 2)):
        if len(faulty) < 2 * faults and all(abs(int(k) - f) > 3 for f in faulty):
            faulty.append(int(k))
    skipped, repeated = set(faulty[:faults]), set(faulty[faults:])
    texts = [sentence(rng) for _ in range(n_target)]
    paragraphs = list(np.cumsum([1] + [int(rng.random() < 0.2) for _ in range(n_target - 1)]))
    for k, text in enumerate(texts):
        if k in skipped:
            truth.append(None)
            continue
        for reading in range(2 if k in repeated else 1):
            y, rate = synthesise(text, voice)
            a, b = speech_extent(y)
            if reading == 0:
                truth.append((t, t + (b - a) / rate))
            new_paragraph = k + 1 < n_target and paragraphs[k + 1] != paragraphs[k] and reading == 0
            gap = int((1.2 if new_paragraph else rng.uniform(0.3, 0.9)) * rate)
            parts += [y[a:b], np.zeros(gap, np.float32)]
            t += (b - a + gap) / rate
    audio = np.concatenate(parts)
    return Chapter(texts, paragraphs, audio, truth, skipped, repeated)


def degrade(audio: np.ndarray, how: str, rng) -> np.ndarray:
    """The degradations of bench_real_takes (at its 44,1 kHz), returned at RATE."""
    import soxr
    if how == "clean":
        return audio + (rng.standard_normal(len(audio)) * 10 ** (-70 / 20)).astype(np.float32)
    import bench_real_takes as real
    x = soxr.resample(audio.astype(np.float64), RATE, real.RATE) * real.db(-6) / max(1e-6, np.abs(audio).max())
    room = real.fan(len(x), rng)
    if how == "fan noise -38 dBFS":
        y = x + real.db(-38) * room
    elif how == "reverb RT60 0.6 s":
        y = real.reverb(x, 0.6, rng) + real.db(-58) * room
    elif how == "hum 50 Hz -40 dBFS":
        n = np.arange(len(x))
        y = x + real.db(-58) * room + sum(real.db(-40 - 4 * k) * np.sin(2 * np.pi * 50 * (k + 1) * n / real.RATE)
                                          for k in range(4))
    else:
        raise ValueError(how)
    return soxr.resample(y, real.RATE, RATE).astype(np.float32)


CONDITIONS = [  # (narrator, degradation)
    (Voice("vi-vn-x-south+f3", 140, 60), "clean"),
    (Voice("vi-vn-x-central", 190, 40), "clean"),
    (Voice("vi+m3", 160, 70), "clean"),
    (Voice("vi-vn-x-south", 165, 30), "clean"),
    (Voice("vi+m3", 160, 70), "fan noise -38 dBFS"),
    (Voice("vi+m3", 160, 70), "reverb RT60 0.6 s"),
    (Voice("vi+m3", 160, 70), "hum 50 Hz -40 dBFS"),
]


def run_condition(voice: Voice, how: str, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    params = AlignParams()
    errors, found_skips, found_repeats, n_skips, n_repeats, false_alarms, low, audio_s, cpu_s = \
        [], 0, 0, 0, 0, 0, 0, 0.0, 0.0
    for _c in range(CHAPTERS):
        chapter = make_chapter(voice, rng, CHAPTER_S, faults=2)
        audio = degrade(chapter.audio, how, rng)
        audio_s += len(audio) / RATE
        t0 = time.process_time()
        timings = align_text(features_of_samples(audio, RATE, params), chapter.texts, chapter.paragraphs, params)
        cpu_s += time.process_time() - t0
        # espeak-ng runs in child processes: their CPU is not in process_time; counted by the wall clock below
        n_skips += len(chapter.skipped)
        n_repeats += len(chapter.repeated)
        for k, timing in enumerate(timings):
            if timing.issue == "skipped":
                found_skips += k in chapter.skipped
                false_alarms += k not in chapter.skipped
            elif timing.issue == "repeated":
                found_repeats += k in chapter.repeated
                false_alarms += k not in chapter.repeated
            elif timing.issue == "low_confidence":
                low += 1
            known = chapter.truth[k]
            if known is not None and k not in chapter.repeated and timing.start_s is not None:
                errors += [abs(timing.start_s - known[0]), abs(timing.end_s - known[1])]
    hours = audio_s / 3600
    return {"errors": np.array(errors), "skips": (found_skips, n_skips), "repeats": (found_repeats, n_repeats),
            "false_per_h": false_alarms / hours, "false": false_alarms, "low_per_h": low / hours,
            "audio_s": audio_s, "cpu_s": cpu_s}


def speed_of_one_chapter(seconds: float) -> tuple[list[str], float]:
    """Wall time of the whole alignment of one chapter (espeak-ng included), and our DTW against
    librosa's full-matrix DTW on the same features."""
    import resource

    import librosa

    from studio.align import _normalise, banded_dtw
    rng = np.random.default_rng(99)
    params = AlignParams()
    chapter = make_chapter(Voice("vi+m3", 160, 70), rng, seconds, faults=0)
    audio = degrade(chapter.audio, "clean", rng)
    t0 = time.perf_counter()
    real = features_of_samples(audio, RATE, params)
    t_feat = time.perf_counter() - t0
    from dataclasses import replace
    params = replace(params, voice=voice_for(real, params))
    synth = synthesise_section(chapter.texts, chapter.paragraphs, params)
    t_synth = time.perf_counter() - t0 - t_feat
    align_section(real, synth, params)
    wall = time.perf_counter() - t0
    x, y = _normalise(real.mfcc), _normalise(synth.features.mfcc)
    t1 = time.perf_counter()
    ours_path = banded_dtw(x, y, int(round(params.margin_s / params.hop_s)))
    ours = time.perf_counter() - t1
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t1 = time.perf_counter()
    _cost, ref_path = librosa.sequence.dtw(X=x.T, Y=y.T, metric="euclidean", backtrack=True)
    theirs = time.perf_counter() - t1
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    duration = len(audio) / RATE
    hour = 3600 / duration
    band_mb = len(x) * min(len(y), 2 * int(round(params.margin_s / params.hop_s)) + 1) / 1e6
    lines = [
        f"- One chapter of {fmt(duration / 60, 1)} min ({len(chapter.texts)} sentences), wall clock, one core: "
        f"{fmt(wall, 1)} s in all = **{fmt(duration / wall)}× real time** (features {fmt(t_feat, 1)} s, espeak-ng "
        f"synthesis {fmt(t_synth, 1)} s, DTW and checks {fmt(wall - t_synth - t_feat, 1)} s).",
        f"- DTW alone on its {len(x)} × {len(y)} frames: ours (band ±{params.margin_s:g} s) {fmt(ours, 2)} s, "
        f"back-pointers {fmt(band_mb)} MB; librosa `dtw` (full matrix, the reference) {fmt(theirs, 2)} s, cost "
        f"matrix {fmt(len(x) * len(y) * 8 / 1e6)} MB (peak RSS grew {fmt(max(0, rss1 - rss0) / 1024)} MB), "
        f"{'the same path' if np.array_equal(ref_path[::-1], ours_path) else 'a path that differs'}. "
        f"An hour at the same pace: ours {fmt(len(x) * hour * min(len(y) * hour, 1501) / 1e6)} MB of "
        f"back-pointers, librosa {fmt(len(x) * hour * len(y) * hour * 8 / 1e9)} GB.",
    ]
    return lines, duration / wall


FOUND = 'Found in QA and fixed: with 3 chapters per condition the first condition flagged sentence 68 as skipped beside the really skipped 69 (the path had split one reading between them); a skip candidate now competes with a collapsed neighbour and the one whose absence fits best is flagged, the other takes the shared time (studio/narration_qc.py; test_a_skip_beside_a_collapsed_neighbour_flags_only_the_skip). Known miss: under 50 Hz hum one repeat (chapter 2, sentence 57) is not found, as before this change.'

CAVEAT = ("Limits of this measure: the narrators are espeak-ng voices, not people; human narration (breaths, "
          "varied pace, misreadings) will align less well, and {hours} h of audio bound the false-alarm rate only "
          "loosely. Detection is tested on whole sentences skipped or read twice, at least 4 sentences apart; a "
          "restarted half sentence or a skipped passage of several sentences is not measured.")


def fmt(v: float, nd: int = 0) -> str:
    return f"{v:,.{nd}f}".replace(",", " ").replace(".", ",")


def main() -> int:
    only = int(os.environ.get("BENCH_CONDITIONS", "0"))
    conditions = CONDITIONS[:only] if only else CONDITIONS
    rows, all_errors, skips, repeats, false, hours = [], [], [0, 0], [0, 0], 0, 0.0
    for seed, (voice, how) in enumerate(conditions):
        r = run_condition(voice, how, seed)
        e = r["errors"] * 1000
        all_errors.append(e)
        skips = [skips[0] + r["skips"][0], skips[1] + r["skips"][1]]
        repeats = [repeats[0] + r["repeats"][0], repeats[1] + r["repeats"][1]]
        false += r["false"]
        hours += r["audio_s"] / 3600
        row = (f"| `{voice.name} -s {voice.rate_wpm} -p {voice.pitch}` | {how} | {fmt(r['audio_s'] / 60, 1)} | "
               f"{fmt(np.median(e))} | {fmt(np.percentile(e, 95))} | {r['skips'][0]}/{r['skips'][1]} | "
               f"{r['repeats'][0]}/{r['repeats'][1]} | {fmt(r['false_per_h'], 1)} | {fmt(r['low_per_h'], 1)} | "
               f"{fmt(r['audio_s'] / r['cpu_s'])}× |")
        print(row, flush=True)
        rows.append(row)
    e = np.concatenate(all_errors)
    speed_lines, _x = speed_of_one_chapter(CHAPTER_S)
    recall_skip = 100 * skips[0] / max(1, skips[1])
    recall_rep = 100 * repeats[0] / max(1, repeats[1])
    body = "\n".join([
        "## Manuscript alignment",
        "",
        "Command: `.venv/bin/python benchmarks/bench_alignment.py` (issue 20; "
        f"{CHAPTERS} chapters of {fmt(CHAPTER_S / 60, 0)} min per condition, 2 sentences skipped and 2 read twice in "
        "each, at least 4 sentences apart). Narration: generated sentences spoken by espeak-ng in other voices, paces and pitches than the "
        "aligner's (`-v vi -s 175 -p 50`), joined with random 0,3–0,9 s pauses; truth = each sentence's speech "
        "extent. Degradations as in bench_real_takes (fan noise, reverb, hum). Boundary error: start and end of every "
        "sentence read once. False alarms: skips/repeats flagged where none was injected; low-confidence flags "
        "are reported apart (they ask a person to listen, they are not claims of a fault). Speed column: audio "
        "seconds per CPU second of this process (espeak-ng's child processes not counted; see the wall clock "
        "below). Machine: 2 cores shared with other sessions.",
        "",
        "| narrator (espeak-ng) | degradation | audio min | median error ms | p95 error ms | skips found | "
        "repeats found | false alarms /h | low-confidence flags /h | speed (CPU) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"All conditions: median boundary error **{fmt(np.median(e))} ms** (target < 100), p95 **{fmt(np.percentile(e, 95))} "
        f"ms** (target < 300); skips found {skips[0]}/{skips[1]} ({fmt(recall_skip)} %), repeats found "
        f"{repeats[0]}/{repeats[1]} ({fmt(recall_rep)} %) (target ≥ 95 %); false alarms {false} in {fmt(hours, 2)} h = "
        f"**{fmt(false / max(hours, 1e-9), 1)} per hour** (target ≤ 1).",
        "",
        FOUND,
        "",
        "Speed (target ≥ 20× real time on one core):",
        *speed_lines,
        "",
        CAVEAT.format(hours=fmt(hours, 1)),
    ])
    write_section("## Manuscript alignment", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
