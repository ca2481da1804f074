"""Fixtures for the reader tests: a tiny packaged book (fMP4 HLS made by ffmpeg from a sine),
readers with different rights, and a logged-in client helper."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from catalog.accounts import create_user, get_or_create_library
from catalog.books import create_book, publish
from catalog.models import Chapter, Rendition, utcnow
from reader_helpers import BOOK_S, CHAPTER_S, CHAPTERS, RENDITIONS, build_hls_tree


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
