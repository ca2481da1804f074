"""Helpers for the reader tests (log in, CSRF token, media tokens)."""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

CHAPTER_S = 10.0
CHAPTERS = 3
BOOK_S = CHAPTER_S * CHAPTERS
RENDITIONS = (("aac-32k", 32000), ("aac-64k", 64000))


def csrf_from(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def login(client, username: str) -> str:
    """Log `client` in; returns the CSRF token for API calls."""
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"username": username, "password": "mat-khau-" + username,
                                           "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return csrf_from(client.get("/").get_data(as_text=True))


def media_token(app, book_id: int, user_id: int | None, ttl_s: int = 600, now: float | None = None,
                use: str = "s") -> str:
    """A token as the site would hand it out: a reader's is bound to the account's current session version."""
    from catalog.models import User
    from streaming import tokens
    version = None
    if user_id is not None:
        with app.extensions["sachnoi"].sessions() as s:
            version = s.get(User, user_id).session_version
    return tokens.issue(app.config["SECRET_KEY"], book_id=book_id, subject=tokens.subject_for(user_id, version),
                        ttl_s=ttl_s, now=now, use=use)


def build_hls_tree(root: Path, volume: float = 0.2) -> Path:
    """hls/master.m3u8 + two renditions of a 30 s tone (a different pitch per chapter), 2 s segments,
    under `root`; another `volume` gives other bytes under the same names (a re-encode)."""
    tone = ";".join(f"sine=frequency={300 + 200 * i}:duration={CHAPTER_S}:sample_rate=44100"
                    for i in range(CHAPTERS))
    for name, bitrate in RENDITIONS:
        folder = root / name
        folder.mkdir(parents=True)
        graph = "".join(f"[{i}:a]" for i in range(CHAPTERS)) + f"concat=n={CHAPTERS}:v=0:a=1,volume={volume}[out]"
        args = ["ffmpeg", "-v", "error", "-y"]
        for part in tone.split(";"):
            args += ["-f", "lavfi", "-i", part]
        args += ["-filter_complex", graph, "-map", "[out]", "-c:a", "aac", "-b:a", str(bitrate), "-ac", "1",
                 "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
                 "-hls_fmp4_init_filename", "init.mp4", "-hls_segment_filename", "seg_%03d.m4s", "index.m3u8"]
        subprocess.run(args, cwd=folder, check=True)
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for name, bitrate in RENDITIONS:
        lines += [f'#EXT-X-STREAM-INF:BANDWIDTH={int(bitrate * 1.1)},AVERAGE-BANDWIDTH={bitrate},'
                  f'CODECS="mp4a.40.2"', f"{name}/index.m3u8"]
    (root / "master.m3u8").write_text("\n".join(lines) + "\n")
    return root


def content_named(tree: Path, root: Path) -> Path:
    """A copy of `tree` (build_hls_tree) under `root` with its segments and init segments named by
    their content as the package stage names them (`c001-<8 hex>-000.m4s`, `init-<10 hex>.mp4`),
    so published versions share them (recordings.store.SHARED_HLS)."""
    shutil.copytree(tree, root)
    for name, _bitrate in RENDITIONS:
        folder = root / name
        renamed = {}
        for path in sorted(folder.iterdir()):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if path.name == "init.mp4":
                renamed[path.name] = f"init-{digest[:10]}.mp4"
            elif path.suffix == ".m4s":
                renamed[path.name] = f"c001-{digest[:8]}-{path.stem.rsplit('_', 1)[1]}.m4s"
        for old, new in renamed.items():
            (folder / old).rename(folder / new)
        text = (folder / "index.m3u8").read_text()
        for old, new in renamed.items():
            text = re.sub(rf"\b{re.escape(old)}\b", new, text)
        (folder / "index.m3u8").write_text(text)
    return root
