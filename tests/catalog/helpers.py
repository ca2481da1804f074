"""Shared builders for catalogue tests."""
from __future__ import annotations

from lxml import etree

from catalog import books
from catalog.models import Library, Rendition

from pathlib import Path as _Path

# shared/ beside the repository (as CI lays it out), else the workplace's copy
STANDARDS = str(next((p for p in (_Path(__file__).resolve().parents[3] / "shared" / "standards",
                                  _Path("/work/shared/standards")) if p.is_dir()),
                     _Path("/work/shared/standards")))


def library(session, code="THV", name="Thư viện tỉnh Thái Bình", kind="province"):
    lib = Library(code=code, name=name, kind=kind)
    session.add(lib)
    session.flush()
    return lib


def full_book(session, lib, *, title="Trương Định", access_policy="public", publish=True, **extra):
    fields = dict(subtitle="Tiểu thuyết lịch sử", authors=["Nguyễn Văn Khánh"], narrators=["Lê Thị Hoà"],
                  translators=[], subjects=["Lịch sử Việt Nam", "Tiểu thuyết"], publisher="NXB Trẻ", year=2021,
                  summary="Cuộc đời anh hùng Trương Định.", isbn_print="9786041234567",
                  isbn_audio="9786049876547", ddc="895.9223", series="Danh nhân đất Việt", series_position=3,
                  duration_s=3 * 3600 + 12 * 60 + 5.4)
    fields.update(extra)
    book = books.create_book(session, library=lib, title=title, access_policy=access_policy, **fields)
    book.renditions.append(Rendition(kind="mp3", name="mp3-192k", key=f"b/{book.id}/1.mp3", codec="mp3",
                                     bitrate=192000, channels=1, duration_s=book.duration_s))
    book.renditions.append(Rendition(kind="hls", name="aac-64k", key=f"b/{book.id}/hls", codec="aac",
                                     bitrate=64000, channels=1, duration_s=book.duration_s))
    if publish:
        books.publish(session, book)
    session.flush()
    return book


def xsd(path: str) -> etree.XMLSchema:
    """An XML Schema from the local standards folder (imports resolved locally, no network)."""
    parser = etree.XMLParser(no_network=True)
    return etree.XMLSchema(etree.parse(path, parser))
