"""Read-along benchmark (issue 20.4): the whole text of a 10-hour book for the player, search inside
it, and the panel in headless Chromium.

A temporary instance holds one published book of 40 chapters × 15 min with an aligned manuscript of
9,000 generated Vietnamese sentences (12–24 words each, a time for every sentence). Measured:

1. `GET /api/books/<id>/text` through the app (WSGI call, no HTTP server), asking for gzip as a
   browser does: median time of 7, and the body's size, raw and gzip-compressed. Reference in the same run: the same rows read with the
   sqlite3 module (one SELECT) and turned into JSON with `json.dumps`, the floor any way of serving
   this text has to pay.
2. `GET /api/books/<id>/text/search?q=…` for a common word, a rare phrase and an absent word:
   median of 21 each. Reference: the bare `LIKE` on `sentences.text_folded` with sqlite3.
3. With --browser: Chromium loads the book page; time from navigation until all 9,000 sentences are
   in the panel, and the cost of finding the sentence being read (`sentenceAt`, a binary search)
   per call, median of 5 runs of 10,000 calls.

Usage: python benchmarks/bench_readalong.py [--sentences 9000] [--browser] [--no-write]
Writes the "Reader: read-along" section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from docsection import write_section  # noqa: E402

WORDS = ("người con gái vua hùng vương thứ mười tám sơn tinh thủy tinh nước dâng núi đồi ruộng đồng "
         "làng xóm mưa gió sấm chớp cầu hôn lễ vật voi chín ngà gà chín cựa ngựa chín hồng mao "
         "đem đến trước được lấy mị nương đùng đùng nổi giận đánh nhau mấy tháng trời cuối cùng "
         "thua rút về năm nào cũng dâng nước báo thù").split()
CHAPTERS, CHAPTER_S = 40, 900.0


def build(home: Path, sentences: int):
    from catalog.books import create_book, publish
    from catalog.manuscripts import ParsedSection, store_parsed
    from catalog.migrate import upgrade
    from catalog.accounts import get_or_create_library
    from catalog.models import Chapter, Rendition
    from web.app import create_app
    from web.config import load_settings
    settings = {"HOME": str(home), "SECRET_KEY": "bench-" + "x" * 40, "WTF_CSRF_ENABLED": False}
    upgrade(load_settings(settings)["DATABASE_URL"])
    app = create_app(settings)
    rng = random.Random(20)
    per_chapter = sentences // CHAPTERS
    with app.extensions["sachnoi"].sessions.begin() as s:
        library = get_or_create_library(s, "THV", "Thư viện tỉnh")
        book = create_book(s, library=library.id, title="Sơn Tinh, Thủy Tinh (bản dài)", authors=["Khuyết danh"],
                           narrators=["Lê Thị Hoà"], access_policy="public", duration_s=CHAPTERS * CHAPTER_S)
        chapters = []
        for i in range(CHAPTERS):
            chapter = Chapter(book_id=book.id, position=i + 1, title=f"Chương {i + 1}", start_s=i * CHAPTER_S,
                              duration_s=CHAPTER_S)
            s.add(chapter)
            chapters.append(chapter)
        s.add(Rendition(book_id=book.id, kind="hls", name="aac-64k", codec="aac", bitrate=64000,
                        key=f"derived/books/{book.uuid}/hls/aac-64k", duration_s=CHAPTERS * CHAPTER_S))
        publish(s, book)
        s.flush()
        parsed = []
        for i in range(CHAPTERS):
            paragraphs = []
            for _p in range(per_chapter // 5):
                paragraphs.append([" ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 24))).capitalize() + "."
                                   for _ in range(5)])
            parsed.append(ParsedSection(f"Chương {i + 1}", paragraphs))
        parsed[-1].paragraphs[-1][-1] = "Ngọc Hoàng ban cho Sơn Tinh một bó lông ngỗng thần."  # the rare phrase
        manuscript = store_parsed(s, book.id, parsed)
        step = CHAPTER_S / (per_chapter + 1)
        for section, chapter in zip(manuscript.sections, chapters):
            section.chapter_id = chapter.id
            for k, sentence in enumerate(section.sentences):
                sentence.start_s, sentence.end_s = k * step, (k + 1) * step - 0.3
        manuscript.state = "aligned"
        book_id = book.id
    return app, book_id


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure_api(app, book_id: int, db_file: Path) -> dict:
    client = app.test_client()
    body = client.get(f"/api/books/{book_id}/text").data
    count = sum(len(c["sentences"]) for c in json.loads(body)["chapters"])
    out = {"sentences": count, "bytes": len(body), "gzip_bytes": len(gzip.compress(body, 6))}
    gz = {"Accept-Encoding": "gzip"}  # as a browser asks: the app compresses the text
    out["text_s"] = timed(lambda: client.get(f"/api/books/{book_id}/text", headers=gz).data, 7)

    def reference():
        with sqlite3.connect(db_file) as conn:
            rows = conn.execute(
                "SELECT ms.position, ms.title, s.id, s.paragraph, s.text, s.start_s, s.end_s FROM sentences s "
                "JOIN manuscript_sections ms ON ms.id = s.section_id ORDER BY ms.position, s.position").fetchall()
        json.dumps([list(r) for r in rows], ensure_ascii=False)
    out["text_ref_s"] = timed(reference, 7)
    out["search"] = {}
    for label, q in (("common word", "son tinh"), ("rare phrase", "long ngong than"), ("absent", "xyzq")):
        hits = len(client.get(f"/api/books/{book_id}/text/search", query_string={"q": q}).get_json()["hits"])
        app_s = timed(lambda q=q: client.get(f"/api/books/{book_id}/text/search", query_string={"q": q}).data, 21)

        def bare(q=q):
            with sqlite3.connect(db_file) as conn:
                conn.execute("SELECT id FROM sentences WHERE text_folded LIKE ? LIMIT 51",
                             (f"%{q}%",)).fetchall()
        out["search"][label] = {"q": q, "hits": hits, "app_s": app_s, "ref_s": timed(bare, 21)}
    return out


def measure_browser(app, book_id: int, sentences: int) -> dict:
    from werkzeug.serving import make_server
    from playwright.sync_api import sync_playwright
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import CHROMIUM, CHROMIUM_ARGS, ensure_vendor
    ensure_vendor()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    loads, lookups = [], []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for _ in range(5):
                page = browser.new_page()
                page.goto(f"{base}/books/{book_id}", wait_until="commit")
                page.wait_for_function(f"() => document.querySelectorAll('#readalong-text .ra-s').length === {sentences}",
                                       timeout=60000)
                loads.append(page.evaluate("performance.now()") / 1000)
                lookups.append(page.evaluate("""() => { const f = window.sachnoiReadAlong.sentenceAt;
                    const t0 = performance.now(); let n = 0;
                    for (let i = 0; i < 10000; i++) { if (f((i * 3.6) % 36000)) n++; }
                    return (performance.now() - t0) / 10000; }"""))
                page.close()
            browser.close()
    finally:
        server.shutdown()
    return {"load_s": statistics.median(loads), "lookup_ms": statistics.median(lookups)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sentences", type=int, default=9000)
    parser.add_argument("--browser", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="sachnoi-readalong-"))
    try:
        app, book_id = build(home, args.sentences)
        api = measure_api(app, book_id, home / "sachnoi.db")
        browser = measure_browser(app, book_id, api["sentences"]) if args.browser else None
        app.extensions["sachnoi"].engine.dispose()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    load = os.getloadavg()
    lines = ["## Reader: read-along", "",
             f"`.venv/bin/python benchmarks/bench_readalong.py{' --browser' if args.browser else ''}` — one book of "
             f"{CHAPTERS} chapters × 15 min (10 h) with an aligned manuscript of {api['sentences']:,} generated "
             "Vietnamese sentences (12–24 words), SQLite, through the app's WSGI call (no HTTP server). "
             "Reference in the same run: the same rows read with the sqlite3 module (and `json.dumps` for the "
             "text), the floor for any way of serving them.", "",
             "| request | app (median) | reference (median) | ratio | result |", "|---|---|---|---|---|",
             f"| `GET /api/books/<id>/text` (gzip) | {api['text_s'] * 1000:.0f} ms | {api['text_ref_s'] * 1000:.0f} ms | "
             f"{api['text_s'] / api['text_ref_s']:.1f}× | {api['bytes'] / 1e6:.2f} MB JSON, "
             f"{api['gzip_bytes'] / 1e6:.2f} MB gzip |"]
    for label, m in api["search"].items():
        lines.append(f"| search, {label} (`{m['q']}`) | {m['app_s'] * 1000:.1f} ms | {m['ref_s'] * 1000:.1f} ms | "
                     f"{m['app_s'] / m['ref_s']:.1f}× | {m['hits']} hits (50 at most) |")
    if browser:
        lines += ["", f"Chromium (headless, Debian's), median of 5 page loads: all {api['sentences']:,} sentences "
                      f"in the panel {browser['load_s']:.2f} s after navigation started; finding the sentence being "
                      f"read costs {browser['lookup_ms'] * 1000:.2f} µs per `timeupdate` (binary search)."]
    lines += ["", f"Load average at the end of the run: {load[0]:.1f} / 15 min {load[2]:.1f} on {os.cpu_count()} cores."]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_section("## Reader: read-along", text)


if __name__ == "__main__":
    main()
