"""Offline download benchmark: time to download a long title at 64 kbps into the browser, and the
storage it takes.

In a temporary instance, one published public title of `--hours` hours (default 10) as the
`aac-64k-mono` HLS rendition (fMP4, 6 s segments): a 10-minute chunk of pink noise is encoded to
AAC 64 kbps mono once and repeated with stream copy (`-stream_loop`), so 10 hours are made in
seconds with real segments. The app runs as `sachnoi serve` does with one process (waitress,
8 threads, `direct` serve mode) on loopback. Headless Debian Chromium (Playwright, a persistent
profile in the temporary folder) opens the book page, waits for the service worker, presses
"Tải về nghe ngoại tuyến" and waits for "Đã tải xong": that is the time measured. Storage is read
three ways: offline.js's own byte count, `navigator.storage.estimate().usage`, and the size of the
profile's CacheStorage folder on disk.

Reference in the same run: curl (`--parallel --parallel-max 4`, the same 4 requests at a time
offline.js makes) fetching the same files with the same token to /dev/null, i.e. the server and
network side without the browser's cache writes.

    .venv/bin/python benchmarks/bench_offline.py [--hours 10] [--no-write]

Writes the "Offline: downloading a title" section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HEADING = "## Offline: downloading a title"
CHUNK_S = 600
RENDITION = "aac-64k-mono"
CHROMIUM = os.environ.get("SACHNOI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

SERVER_CODE = """
import sys
from waitress import serve
from web.app import create_app
home, secret, port = sys.argv[1:4]
app = create_app({"HOME": home, "SECRET_KEY": secret, "RUN_WORKERS": False})
serve(app, host="127.0.0.1", port=int(port), threads=8, _quiet=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def make_rendition(folder: Path, hours: float, tmp: Path) -> None:
    """`folder`/master.m3u8 and `folder`/aac-64k-mono/ (init.mp4, seg_NNNNN.m4s, index.m3u8)."""
    chunk = tmp / "chunk.m4a"
    seconds = min(CHUNK_S, hours * 3600)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"anoisesrc=d={seconds}:c=pink:r=44100:a=0.05",
                    "-c:a", "aac", "-b:a", "64k", "-ac", "1", str(chunk)], check=True)
    loops = max(1, round(hours * 3600 / seconds))
    out = folder / RENDITION
    out.mkdir(parents=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(chunk), "-c", "copy",
                    "-f", "hls", "-hls_time", "6", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
                    "-hls_fmp4_init_filename", "init.mp4", "-hls_segment_filename", "seg_%05d.m4s", "index.m3u8"],
                   cwd=out, check=True)
    (folder / "master.m3u8").write_text(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=70400,AVERAGE-BANDWIDTH=64000,CODECS="mp4a.40.2"\n'
        f"{RENDITION}/index.m3u8\n")


def published_book(settings: dict, hours: float) -> tuple[int, str]:
    from catalog.accounts import get_or_create_library
    from catalog.books import create_book, publish
    from catalog.db import make_engine, make_sessionmaker
    from catalog.migrate import upgrade
    from catalog.models import Chapter, Rendition
    upgrade(settings["DATABASE_URL"])
    engine = make_engine(settings["DATABASE_URL"])
    total = hours * 3600
    try:
        with make_sessionmaker(engine).begin() as s:
            library = get_or_create_library(s, "THV", "Thư viện tỉnh")
            book = create_book(s, library=library, title="Sách đo tải về", authors=["Tác giả"], duration_s=total)
            chapters = max(1, int(hours))
            for i in range(chapters):
                s.add(Chapter(book_id=book.id, position=i + 1, title=f"Chương {i + 1}",
                              start_s=i * total / chapters, duration_s=total / chapters))
            s.add(Rendition(book_id=book.id, kind="hls", name=RENDITION, codec="aac", bitrate=64000,
                            key=f"derived/books/{book.uuid}/hls/{RENDITION}", duration_s=total))
            publish(s, book)
            return book.id, book.uuid
    finally:
        engine.dispose()


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def browser_download(base: str, book_id: int, profile: Path, timeout_s: float) -> dict:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = context.new_page()
        page.goto(f"{base}/books/{book_id}")
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=20000)
        before = page.evaluate("navigator.storage.estimate().then(e => e.usage)")
        started = time.perf_counter()
        page.click("#offline-download")
        page.wait_for_function("() => document.getElementById('offline-status').textContent.includes('Đã tải xong')",
                               timeout=timeout_s * 1000, polling=250)
        elapsed = time.perf_counter() - started
        after = page.evaluate("navigator.storage.estimate().then(e => e.usage)")
        own = page.evaluate("window.sachnoiOffline.titles().then(rows => rows[0].bytes)")
        status = page.text_content("#offline-status")
        context.close()
    cache_dirs = [p for p in profile.rglob("CacheStorage") if p.is_dir()]
    return {"seconds": elapsed, "usage_before": before, "usage_after": after, "own_bytes": own,
            "disk_bytes": sum(folder_bytes(p) for p in cache_dirs), "status": status}


def curl_download(base: str, rendition_dir: Path, book_id: int, token: str, tmp: Path) -> dict:
    names = ["index.m3u8"] + sorted(p.name for p in rendition_dir.iterdir() if p.name != "index.m3u8")
    config = tmp / "curl.cfg"
    config.write_text("".join(f'url = "{base}/books/{book_id}/hls/{RENDITION}/{n}?t={token}"\noutput = "/dev/null"\n'
                              for n in names))
    started = time.perf_counter()
    result = subprocess.run(["curl", "-s", "-f", "--parallel", "--parallel-max", "4", "-K", str(config),
                             "-w", "%{size_download}\n"], capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    got = sum(int(x) for x in result.stdout.split())
    version = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return {"seconds": elapsed, "bytes": got, "requests": len(names), "version": " ".join(version.split()[:2])}


def whole(n: float) -> str:
    return f"{n:,.0f}".replace(",", " ")


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f}".replace(",", " ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=10.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-offline-"))
    proc = None
    try:
        from web.config import load_settings
        settings = load_settings({"HOME": str(tmp / "instance"), "SECRET_KEY": "bench-" + uuid.uuid4().hex})
        Path(settings["HOME"]).mkdir(parents=True, exist_ok=True)
        book_id, book_uuid = published_book(settings, args.hours)
        hls = Path(settings["MEDIA_ROOT"]) / "derived" / "books" / book_uuid / "hls"
        made = time.perf_counter()
        make_rendition(hls, args.hours, tmp)
        made = time.perf_counter() - made
        rendition_dir = hls / RENDITION
        files = len(list(rendition_dir.iterdir()))
        stored = folder_bytes(rendition_dir)
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-c", SERVER_CODE, settings["HOME"], settings["SECRET_KEY"], str(port)],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_port(port)
        base = f"http://127.0.0.1:{port}"
        load_before = os.getloadavg()[0]
        browser = browser_download(base, book_id, tmp / "profile", timeout_s=args.hours * 600 + 120)
        page = subprocess.run(["curl", "-s", f"{base}/api/books/{book_id}/offline"], capture_output=True, text=True).stdout
        token = re.search(r"t=([A-Za-z0-9_.-]+)", page).group(1)
        reference = curl_download(base, rendition_dir, book_id, token, tmp)
        load_after = os.getloadavg()[0]
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)

    hours = args.hours
    rate = stored / browser["seconds"] / 1e6
    lines = [
        HEADING, "",
        f"`benchmarks/bench_offline.py --hours {hours:g}`: loopback, 2 shared cores. One public title of {hours:g} h as "
        f"the `{RENDITION}` HLS rendition (AAC 64 kbps mono, fMP4, 6 s segments; pink noise, made in {made:.0f} s by "
        f"encoding {CHUNK_S // 60} min once and repeating it with stream copy): {files} files, {mb(stored)} MB stored. "
        "Server: the app under waitress (8 threads, `direct` serve mode: every playlist and segment request checks the "
        "token and the policy) on SQLite. Browser: headless Debian Chromium (Playwright, persistent profile), the book "
        "page's \"Tải về nghe ngoại tuyến\" (offline.js: 4 requests at a time into Cache Storage).", "",
        "| client | time | MB/s | × real time | requests |",
        "|---|---|---|---|---|",
        f"| Chromium, offline.js into Cache Storage | {browser['seconds']:.1f} s | {rate:.1f} | "
        f"{whole(hours * 3600 / browser['seconds'])} | {files + 1} (+ page, cover, manifest) |",
        f"| {reference['version']}, 4 parallel, to /dev/null (reference) | {reference['seconds']:.1f} s | "
        f"{reference['bytes'] / reference['seconds'] / 1e6:.1f} | {whole(hours * 3600 / reference['seconds'])} | "
        f"{reference['requests']} |", "",
        f"Browser ÷ curl time: {browser['seconds'] / reference['seconds']:.2f}.", "",
        "Storage of the downloaded title:", "",
        f"- offline.js's own count (bytes received: playlists, init segment, segments, page, cover, manifest): "
        f"{mb(browser['own_bytes'])} MB",
        f"- `navigator.storage.estimate().usage`: {mb(browser['usage_before'])} MB before, "
        f"{mb(browser['usage_after'])} MB after (+{mb(browser['usage_after'] - browser['usage_before'])} MB)",
        f"- the profile's CacheStorage folder on disk: {mb(browser['disk_bytes'])} MB "
        f"({browser['disk_bytes'] / stored:.2f} × the stored rendition)",
        f"- the rendition in the media store: {mb(stored)} MB, {stored * 8 / (hours * 3600) / 1000:.1f} kbit/s "
        "of audio on average", "",
        f"Load average (1 min): {load_before:.1f} before the browser run, {load_after:.1f} after the reference.",
        "",
        "What the browser adds over curl is its own work per file (a fetch from the page, reading the body, one "
        "Cache Storage write each); the download's requests skip the service worker (`X-Sachnoi-Download`), which "
        "halved the browser's time on a 30-minute title (10.4 s to 6.3 s, curl 1.4 to 2.1 s in those runs). "
        "A title is written to Cache Storage at about its own size: no re-encoding, no base64.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        from docsection import write_section
        write_section(HEADING, text)


if __name__ == "__main__":
    main()
