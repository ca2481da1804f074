"""Fixtures for the reader tests: a tiny packaged book (fMP4 HLS made by ffmpeg from a sine),
readers with different rights, and a logged-in client helper."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from catalog.accounts import create_user, get_or_create_library
from catalog.books import create_book, publish
from catalog.models import Chapter, Rendition, utcnow

CHAPTER_S = 10.0
CHAPTERS = 3
BOOK_S = CHAPTER_S * CHAPTERS
RENDITIONS = (("aac-32k", 32000), ("aac-64k", 64000))


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


@pytest.fixture(scope="session")
def hls_tree(tmp_path_factory) -> Path:
    """The book's HLS tree (build_hls_tree)."""
    return build_hls_tree(tmp_path_factory.mktemp("hls") / "hls")


@pytest.fixture
def people(app):
    """Libraries and accounts: reader, verified print-disabled reader, librarian here and elsewhere."""
    sessions = app.extensions["sachnoi"].sessions
    ids = {}
    with sessions.begin() as s:
        lib = get_or_create_library(s, "THV", "Thư viện tỉnh")
        other = get_or_create_library(s, "HUYEN1", "Thư viện huyện", kind="district", parent=lib)
        for name, role, library in (("bandoc", "reader", lib), ("khiemthi", "reader", lib),
                                    ("thuthu", "librarian", lib), ("thuthu2", "librarian", other)):
            user = create_user(s, name, "mat-khau-" + name, role=role, library=library,
                               display_name=name.capitalize())
            ids[name] = user.id
        from catalog.models import User
        s.get(User, ids["khiemthi"]).print_disabled_verified_at = utcnow()
        ids["library"] = lib.id
    return ids


@pytest.fixture
def make_book(app, hls_tree, people):
    """make_book(policy="public", published=True, title=...) -> book id, with HLS in the media store."""
    services = app.extensions["sachnoi"]

    def make(policy: str = "public", published: bool = True, title: str = "Truyện Kiều nói",
             onsite: str | None = None) -> int:
        with services.sessions.begin() as s:
            book = create_book(s, library=people["library"], title=title, authors=["Nguyễn Du"],
                               narrators=["Lê Thị Hoà"], summary="Sách thử nghiệm.", access_policy=policy,
                               duration_s=BOOK_S)
            for i in range(CHAPTERS):
                s.add(Chapter(book_id=book.id, position=i + 1, title=f"Chương {i + 1}",
                              start_s=i * CHAPTER_S, duration_s=CHAPTER_S))
            for name, bitrate in RENDITIONS:
                s.add(Rendition(book_id=book.id, kind="hls", name=name, codec="aac", bitrate=bitrate,
                                key=f"derived/books/{book.uuid}/hls/{name}", duration_s=BOOK_S))
            if onsite is not None:
                book.library.onsite_networks = onsite
            if published:
                publish(s, book)
            with services.store.atomic_dir(f"derived/books/{book.uuid}/hls") as folder:  # any store
                shutil.copytree(hls_tree, folder, dirs_exist_ok=True)
            return book.id

    return make
