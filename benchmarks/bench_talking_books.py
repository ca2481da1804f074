"""Benchmark: writing the EPUB 3 Media Overlays and DAISY 2.02 talking books of a long book, against
`zip -0` storing the same MP3s (the reference: the least any writer of these zips must do).

    .venv/bin/python benchmarks/bench_talking_books.py [--hours 2] [--chapters 20] [--repeat 3] [--no-write]

The chapter MP3s (64 kbps mono CBR, a tone per chapter) are made once by ffmpeg; every chapter has
one timed sentence per 8 s of audio. Timed per run (wall, `time.perf_counter`): `zip -0 -q` of the
MP3s, `delivery.epub3.write_epub`, `delivery.daisy.write_daisy_zip`; medians over `--repeat`
runs, in alternating order. Also the size of each output and epubcheck's run time on the EPUB.
Results go to the "Talking books" section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))
from docsection import write_section  # noqa: E402
from delivery import daisy, epub3  # noqa: E402
from delivery.talking_book import TalkingBook, TalkingChapter, TimedSentence  # noqa: E402
from delivery.ffmpeg import find_tools, probe  # noqa: E402

HEADING = "## Talking books"
SENTENCE_S = 8.0


def make_mp3s(folder: Path, hours: float, chapters: int) -> list[tuple[Path, float]]:
    seconds = hours * 3600 / chapters
    out = []
    for n in range(1, chapters + 1):
        path = folder / f"ch{n:03d}.mp3"
        subprocess.run([find_tools().ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"sine=frequency={200 + 10 * n}:duration={seconds}:sample_rate=22050",
                        "-c:a", "libmp3lame", "-b:a", "64k", "-ac", "1", str(path)], check=True)
        out.append((path, float(probe(path)["format"]["duration"])))
    return out


def make_book(mp3s: list[tuple[Path, float]]) -> TalkingBook:
    chapters = []
    for n, (path, duration) in enumerate(mp3s, start=1):
        count = int(duration // SENTENCE_S)
        sentences = tuple(TimedSentence(i + 1, i // 5 + 1, f"Câu thứ {i + 1} của chương {n}, đọc chậm rãi và rõ ràng.",
                                        i * SENTENCE_S, (i + 1) * SENTENCE_S - 0.5) for i in range(count))
        chapters.append(TalkingChapter(f"Chương {n}", path, duration, sentences))
    return TalkingBook(identifier="urn:uuid:00000000-0000-4000-8000-000000000000", title="Sách thử dài",
                       language="vi", authors=("Tác giả",), narrators=("Người đọc",), publisher="Thư viện",
                       date="2026", modified=dt.datetime(2026, 12, 6), chapters=tuple(chapters))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--chapters", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-talking-") as tmp:
        folder = Path(tmp)
        mp3s = make_mp3s(folder, args.hours, args.chapters)
        book = make_book(mp3s)
        audio_mb = sum(p.stat().st_size for p, _ in mp3s) / 1e6
        runs: dict[str, list[float]] = {"zip -0 (reference)": [], "EPUB 3": [], "DAISY 2.02": []}
        outputs = {"zip -0 (reference)": folder / "ref.zip", "EPUB 3": folder / "b.epub",
                   "DAISY 2.02": folder / "d.zip"}
        jobs = {
            "zip -0 (reference)": lambda: subprocess.run(["zip", "-0", "-q", "-j", str(outputs["zip -0 (reference)"]),
                                                          *[str(p) for p, _ in mp3s]], check=True),
            "EPUB 3": lambda: epub3.write_epub(book, outputs["EPUB 3"]),
            "DAISY 2.02": lambda: daisy.write_daisy_zip(book, outputs["DAISY 2.02"]),
        }
        for r in range(args.repeat):
            order = list(jobs) if r % 2 == 0 else list(reversed(jobs))
            for name in order:
                outputs[name].unlink(missing_ok=True)
                runs[name].append(timed(jobs[name]))
        sizes = {name: outputs[name].stat().st_size / 1e6 for name in jobs}
        checked: list[subprocess.CompletedProcess] = []
        check_s = timed(lambda: checked.append(subprocess.run(
            ["java", "-jar", "/usr/share/java/epubcheck.jar", str(outputs["EPUB 3"]), "-q"],
            check=False, capture_output=True, text=True)))
    load_after = os.getloadavg()[0]
    sentences = sum(len(c.sentences) for c in book.chapters)
    ref = statistics.median(runs["zip -0 (reference)"])
    lines = [HEADING, "",
             f"`benchmarks/bench_talking_books.py --hours {args.hours:g} --chapters {args.chapters} --repeat "
             f"{args.repeat}` — a {args.hours:g}-hour book of {args.chapters} chapter MP3s (64 kbps mono, "
             f"{audio_mb:.0f} MB) with {sentences} timed sentences, written as EPUB 3 with Media Overlays and as "
             "a DAISY 2.02 zip, against `zip -0` storing the same MP3s (the least either writer must do). "
             f"Shared machine: 1-minute load average {load_before:.1f} before, {load_after:.1f} after.", "",
             "| output | median wall (s) | vs zip -0 | size (MB) | every run (s) |", "|---|---:|---:|---:|---|"]
    for name in jobs:
        median = statistics.median(runs[name])
        lines.append(f"| {name} | {median:.2f} | {median / ref:.2f}× | {sizes[name]:.1f} | "
                     + ", ".join(f"{t:.2f}" for t in runs[name]) + " |")
    verdict = "no error or warning" if checked[0].returncode == 0 and not checked[0].stdout.strip() \
        else f"exit {checked[0].returncode}: {(checked[0].stdout + checked[0].stderr).strip()[:300]}"
    lines += ["", f"- epubcheck 4.2.6 on that EPUB: {verdict}; it took {check_s:.1f} s (once).",
              "- Both writers stream the MP3s into the zip uncompressed; the text files (XHTML, SMIL, NCC) "
              "are what they add."]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_section(HEADING, text)


if __name__ == "__main__":
    main()
