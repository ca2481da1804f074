"""Helpers for the packaging tests: a tiny generated book (FLAC masters in a media store, rows in a
temporary SQLite database)."""
from __future__ import annotations


import numpy as np
import soundfile as sf

from catalog.db import make_engine, make_sessionmaker, session_scope
from catalog.models import Book, Chapter, Contributor, Credit, Library
from recordings.store import MediaStore, sha256_file

RATE = 44100
DURATIONS = (7.3, 13.1, 9.4, 5.2)   # chapter 3 starts at 20.4 s
TITLES = ("Chương 1: Làng quê", "Chương 2: Đêm trăng", "Chương 3: Dòng sông", "Chương 4: Về nhà")


def tone_chapter(seconds: float, freq: float, seed: int, channels: int = 1) -> np.ndarray:
    """A speech-like test signal: an amplitude-modulated tone plus quiet noise, (frames, channels)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * RATE))) / RATE
    x = 0.25 * np.sin(2 * np.pi * freq * t) * (0.55 + 0.45 * np.sin(2 * np.pi * 1.7 * t))
    x += 0.01 * rng.standard_normal(t.size)
    return np.repeat(x[:, None], channels, axis=1).astype(np.float32)


def make_book(db_url: str, store: MediaStore, durations=DURATIONS, titles=TITLES, channels: int = 1,
              profile: str = "library-streaming", record_format: bool = False) -> int:
    """A book of generated chapters; `record_format` also records each master's rate and channels on
    its row, as the pipeline does (older rows lack them)."""
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as session:
        library = Library(code="THV", name="Thư viện tỉnh")
        session.add(library)
        session.flush()
        book = Book(library_id=library.id, title="Tắt đèn", language="vie", publisher="NXB Văn học",
                    year=1939, summary="Tiểu thuyết hiện thực", profile=profile)
        session.add(book)
        session.flush()
        for pos, (name, role) in enumerate((("Ngô Tất Tố", "aut"), ("Nguyễn Thị Hoà", "nrt"))):
            person = Contributor(name=name)
            session.add(person)
            session.flush()
            session.add(Credit(book_id=book.id, contributor_id=person.id, role=role, position=pos))
        start = 0.0
        for pos, (dur, title) in enumerate(zip(durations, titles), 1):
            key = f"{MediaStore.book_prefix(book.uuid)}/masters/{pos:02d}.flac"
            with store.atomic_path(key) as tmp:
                sf.write(str(tmp), tone_chapter(dur, 180.0 + 60 * pos, pos, channels), RATE,
                         format="FLAC", subtype="PCM_24")
            session.add(Chapter(book_id=book.id, position=pos, title=title, start_s=start, duration_s=dur,
                                master_key=key, master_sha256=sha256_file(store.path(key)),
                                sample_rate=RATE if record_format else None,
                                channels=channels if record_format else None))
            start += dur
        book.duration_s = start
        book_id = book.id
    engine.dispose()
    return book_id


def package_two_chapters(tmp_path):
    """(session factory, store, book id) of a 2-chapter book ("Một", "Hai") packaged in `tmp_path`."""
    from catalog.migrate import upgrade
    from studio.package import package_book
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    store = MediaStore(tmp_path / "media")
    book_id = make_book(url, store, durations=(2.0, 2.5), titles=("Một", "Hai"))
    factory = make_sessionmaker(make_engine(url))
    package_book(factory, store, book_id, workers=2)
    return factory, store, book_id
