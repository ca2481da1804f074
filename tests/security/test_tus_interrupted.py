"""Issue 17 point 8: a tus upload sent in one request (tus-js-client's default) and cut off half-way
keeps what arrived on the real server (`sachnoi serve`, waitress), and tuspy and tus-js-client
under Node resume from that non-zero offset.

waitress reads a whole request body before the app runs, so a PATCH cut off mid-body never
reached the app and every byte was lost. The proxy below cuts the first PATCH after a given
number of body bytes, as a dropped mobile connection would.
"""
from __future__ import annotations

import hashlib
import json
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests
import soundfile as sf

from test_crash_safety import Server, _login

ROOT = Path(__file__).resolve().parents[2]
TUS = {"Tus-Resumable": "1.0.0"}


class CuttingProxy:
    """A loopback TCP proxy to `port` that closes the first connection carrying a PATCH once
    `cut_after` bytes of its body have been forwarded; records the Upload-Offset of every PATCH."""

    def __init__(self, port: int, cut_after: int):
        self.port, self.cut_after = port, cut_after
        self.offsets: list[int] = []
        self.cut = False
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.port))
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        body_seen = None  # bytes of the PATCH body forwarded on this connection, once it is the one cut
        try:
            while data := src.recv(65536):
                if from_client:
                    for offset in re.findall(rb"(?i)\r\nUpload-Offset: (\d+)", data):
                        if data.startswith(b"PATCH ") or b"\r\n\r\nPATCH " in data:
                            self.offsets.append(int(offset))
                    if data.startswith(b"PATCH ") and not self.cut and body_seen is None:
                        self.cut = True
                        head, _sep, data = data.partition(b"\r\n\r\n")
                        dst.sendall(head + b"\r\n\r\n")
                        body_seen = 0
                    if body_seen is not None:
                        room = self.cut_after - body_seen
                        dst.sendall(data[:room])
                        body_seen += min(room, len(data))
                        if body_seen >= self.cut_after:
                            time.sleep(0.3)  # let the server read the last bytes, then drop the line
                            break
                        continue
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self.listener.close()


def _take(tmp_path: Path) -> Path:
    path = tmp_path / "buoi-1.wav"
    x = (np.random.default_rng(7).standard_normal((48_000 * 12, 2)) * 0.1).astype(np.float32)
    sf.write(path, x, 48_000, subtype="PCM_24")
    return path  # ~3.5 MB


def _server_offset(http: requests.Session, url: str) -> int:
    """The offset HEAD reports once the cut-off request has been handed to the app."""
    deadline, last = time.monotonic() + 10, -1
    while time.monotonic() < deadline:
        offset = int(http.head(url, headers=TUS).headers["Upload-Offset"])
        if offset and offset == last:
            return offset
        last = offset
        time.sleep(0.5)
    return last


@pytest.fixture(params=[1, 2], ids=["waitress", "granian-2-processes"])
def served(world, request):
    server = Server(world.home, args=("--processes", str(request.param)))
    http, _csrf = _login(server.url, "phongthu")
    yield server, http
    server.kill()


def test_tuspy_single_request_upload_cut_off_resumes_from_what_arrived(served, tmp_path):
    """Issue 17.8 with tuspy: one PATCH for the whole file, cut at 40 %; HEAD reports those bytes and
    a second client continues from there instead of from 0."""
    from tusclient import client as tus_client
    from tusclient.exceptions import TusCommunicationError
    server, http = served
    path = _take(tmp_path)
    data = path.read_bytes()
    cut = int(len(data) * 0.4)
    proxy = CuttingProxy(server.port, cut)
    try:
        cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
        tus = tus_client.TusClient(proxy.url + "/api/uploads/", headers={"Cookie": cookie})
        first = tus.uploader(str(path), chunk_size=len(data), metadata={"filename": path.name})
        with pytest.raises((TusCommunicationError, requests.RequestException)):
            first.upload()
        url = first.url.replace(proxy.url, server.url)
        assert _server_offset(http, url) == cut

        second = tus.uploader(str(path), chunk_size=len(data), url=first.url)
        assert second.offset == cut
        second.upload()
        assert proxy.offsets == [0, cut]
        status = http.get(url).json()
        assert status["state"] == "done" and status["sha256"] == hashlib.sha256(data).hexdigest()
    finally:
        proxy.close()


NODE_UPLOAD = """
const tus = require("tus-js-client");
const fs = require("fs");
const [path, endpoint, cookie] = process.argv.slice(2);
const data = fs.readFileSync(path);
const upload = new tus.Upload(data, {
  endpoint, headers: { Cookie: cookie }, retryDelays: [1000, 1000, 2000, 3000],
  metadata: { filename: "buoi-1.wav" },
  onSuccess: () => { console.log(JSON.stringify({ url: upload.url })); },
  onError: (err) => { console.error(String(err)); process.exit(1); },
});
upload.start();
"""


def test_tus_js_client_single_request_upload_cut_off_resumes_from_what_arrived(served, tmp_path):
    """Issue 17.8 with tus-js-client under Node, its default single request (chunkSize Infinity):
    the PATCH is cut at 40 %, the client's retry asks HEAD and sends only the rest."""
    server, http = served
    path = _take(tmp_path)
    data = path.read_bytes()
    cut = int(len(data) * 0.4)
    script = tmp_path / "upload.js"
    script.write_text(NODE_UPLOAD, encoding="utf-8")
    proxy = CuttingProxy(server.port, cut)
    try:
        cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
        done = subprocess.run(["node", str(script), str(path), proxy.url + "/api/uploads/", cookie],
                              cwd=ROOT, capture_output=True, text=True, timeout=60,
                              env={"NODE_PATH": str(ROOT / "node_modules"), "PATH": "/usr/bin:/bin"})
        assert done.returncode == 0, done.stderr
        url = json.loads(done.stdout)["url"].replace(proxy.url, server.url)
        assert proxy.offsets[0] == 0 and len(proxy.offsets) >= 2
        assert proxy.offsets[-1] == cut  # resumed from what arrived, not from 0
        status = http.get(url).json()
        assert status["state"] == "done" and status["sha256"] == hashlib.sha256(data).hexdigest()
    finally:
        proxy.close()
