"""hls.js in Debian's headless Chromium plays the packaged master playlist, seeks into chapter 3 and
keeps playing there, then plays across a chapter boundary."""
from __future__ import annotations

import functools
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from packaging_helpers import DURATIONS

ROOT = Path(__file__).resolve().parents[2]
HLS_JS = ROOT / "node_modules/hls.js/dist/hls.min.js"
PAGE = """<!doctype html><meta charset="utf-8"><title>hls test</title>
<audio id="player" muted preload="auto"></audio>
<script src="hls.min.js"></script>
<script>
  window.events = [];
  const audio = document.getElementById("player");
  const hls = new Hls({ startPosition: -1 });
  hls.on(Hls.Events.MANIFEST_PARSED, (_e, d) => { window.levels = d.levels.length; });
  hls.on(Hls.Events.ERROR, (_e, d) => { window.events.push(d.details + (d.fatal ? ":fatal" : "")); });
  hls.loadSource("hls/master.m3u8");
  hls.attachMedia(audio);
</script>
"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.browser
def test_hls_js_plays_and_seeks_into_chapter_3(packaged, browser, tmp_path):
    if not HLS_JS.exists():
        pytest.fail(f"{HLS_JS} missing: install the npm packages (make install)")
    _, _, _, _, folder, _ = packaged
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(HLS_JS, site / "hls.min.js")
    (site / "index.html").write_text(PAGE, "utf-8")
    (site / "hls").symlink_to(folder / "hls")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{server.server_port}/index.html")
        page.wait_for_function("window.levels === 3", timeout=15_000)
        chapter3 = DURATIONS[0] + DURATIONS[1]
        target = chapter3 + 0.5
        page.evaluate(f"""() => {{ const a = document.getElementById('player');
            a.currentTime = {target}; return a.play(); }}""")
        page.wait_for_function(
            f"document.getElementById('player').currentTime > {target + 1.5}", timeout=20_000)
        now = page.evaluate("document.getElementById('player').currentTime")
        assert chapter3 < now < chapter3 + DURATIONS[2]          # still inside chapter 3
        assert page.evaluate("document.getElementById('player').paused") is False
        # Play across the chapter 3 -> 4 boundary: chapters were encoded separately, so this is
        # where a gap or a timestamp jump would stall the player.
        chapter4 = chapter3 + DURATIONS[2]
        page.evaluate(f"document.getElementById('player').currentTime = {chapter4 - 1.0}")
        page.wait_for_function(
            f"document.getElementById('player').currentTime > {chapter4 + 1.0}", timeout=20_000)
        assert page.evaluate("document.getElementById('player').paused") is False
        assert not [e for e in page.evaluate("window.events") if e.endswith(":fatal")]
    finally:
        context.close()
        server.shutdown()
        server.server_close()
