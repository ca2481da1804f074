"""A small world for the security tests, built once per run and copied per test (argon2 is slow):

two libraries (THV, and the district library HUYEN2), one account per identity of the access
matrix, a published public book of THV with chapters, HLS/MP3/M4B files, a bookmark, progress, a
recording session with a take and a mark, a clip and a job; and a print-disabled-only title.
"""
from __future__ import annotations

import hashlib
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path


IDENTITIES = ("anonymous", "reader", "pd_reader", "studio", "librarian", "admin", "other_studio",
              "other_librarian")
ACCOUNTS = {  # identity -> (username, role, library code)
    "reader": ("bandoc", "reader", "THV"),
    "pd_reader": ("khiemthi", "reader", "THV"),
    "studio": ("phongthu", "studio", "THV"),
    "librarian": ("thuthu", "librarian", "THV"),
    "admin": ("quantri", "admin", "THV"),
    "other_studio": ("phongthu2", "studio", "HUYEN2"),
    "other_librarian": ("thuthu2", "librarian", "HUYEN2"),
}
PASSWORD = "mat-khau-{}"
SECRET = "security-tests-" + "k" * 40


@dataclass
class World:
    home: Path
    ids: dict = field(default_factory=dict)

    def settings(self, **extra) -> dict:
        return {"HOME": str(self.home), "SECRET_KEY": SECRET, "TESTING": True, **extra}


def _tone_wav(seconds: float, rate: int = 44100) -> bytes:
    import io

    import numpy as np
    import soundfile as sf
    t = np.arange(int(seconds * rate)) / rate
    buf = io.BytesIO()
    sf.write(buf, (0.1 * np.sin(2 * np.pi * 440 * t)).astype("float32"), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _write(store, key: str, data: bytes) -> None:
    store.write_bytes(key, data)


def build_world(home: Path) -> World:
    from catalog.accounts import create_user, get_or_create_library
    from catalog.books import create_book, publish
    from catalog.db import make_engine, make_sessionmaker
    from catalog.migrate import upgrade
    from catalog.models import (Bookmark, Chapter, Clip, Jingle, Job, Mark, Original, Progress, RecordingSession,
                                Rendition, Take, User, utcnow)
    from recordings.store import MediaStore
    from web.config import load_settings

    home.mkdir(parents=True, exist_ok=True)
    world = World(home)
    settings = load_settings(world.settings())
    upgrade(settings["DATABASE_URL"])
    engine = make_engine(settings["DATABASE_URL"])
    sessions = make_sessionmaker(engine)
    store = MediaStore(settings["MEDIA_ROOT"])
    ids = world.ids
    with sessions.begin() as s:
        thv = get_or_create_library(s, "THV", "Thư viện tỉnh")
        other = get_or_create_library(s, "HUYEN2", "Thư viện huyện", kind="district", parent=thv)
        libs = {"THV": thv, "HUYEN2": other}
        ids["library"], ids["other_library"] = thv.id, other.id
        for identity, (name, role, code) in ACCOUNTS.items():
            user = create_user(s, name, PASSWORD.format(name), role=role, library=libs[code])
            ids[identity] = user.id
        s.get(User, ids["pd_reader"]).print_disabled_verified_at = utcnow()

        def book(title: str, library, policy: str = "public", published: bool = True):
            row = create_book(s, library=library.id, title=title, authors=["Nguyễn Du"], narrators=["Lê Hoà"],
                              summary="Sách thử.", access_policy=policy, duration_s=20.0)
            for i in (1, 2):
                s.add(Chapter(book_id=row.id, position=i, title=f"Chương {i}", start_s=(i - 1) * 10.0,
                              duration_s=10.0, qc={"passed": True}, qc_passed=True))
            s.add(Rendition(book_id=row.id, kind="hls", name="aac-64k", codec="aac", bitrate=64000,
                            key=f"derived/books/{row.uuid}/hls/aac-64k", duration_s=20.0))
            if published:
                publish(s, row)
            s.flush()
            prefix = f"derived/books/{row.uuid}"
            _write(store, f"{prefix}/hls/master.m3u8",
                   b'#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=70000,CODECS="mp4a.40.2"\naac-64k/index.m3u8\n')
            _write(store, f"{prefix}/hls/aac-64k/index.m3u8",
                   b"#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.0,\nseg_000.m4s\n#EXT-X-ENDLIST\n")
            _write(store, f"{prefix}/hls/aac-64k/seg_000.m4s", b"\x00" * 2048)
            _write(store, f"{prefix}/mp3/001.mp3", b"ID3" + b"\x00" * 1024)
            _write(store, f"{prefix}/book.m4b", b"\x00" * 1024)
            if policy == "print-disabled":  # a Marrakesh title: its talking book (EPUB 3) is there
                s.add(Rendition(book_id=row.id, kind="epub3", name="epub3", codec="zip",
                                key=f"{prefix}/talking/book.epub"))
                _write(store, f"{prefix}/talking/book.epub", b"PK\x03\x04" + b"\x00" * 1024)
            return row

        pub = book("Truyện Kiều", thv)
        ids["book"], ids["book_uuid"] = pub.id, pub.uuid
        ids["draft"] = book("Bản nháp", thv, published=False).id
        ids["pd_book"] = book("Sách Marrakesh", thv, policy="print-disabled").id
        from catalog.manuscripts import ParsedSection, store_parsed  # its text, for the read-along routes
        store_parsed(s, ids["pd_book"], [ParsedSection("Chương 1", [["Câu một.", "Câu hai."]])])
        ids["other_book"] = book("Sách huyện", other).id
        ids["chapter"] = pub.chapters[0].id
        ids["subject"] = 1

        audio = _tone_wav(seconds=2.0)
        digest = hashlib.sha256(audio).hexdigest()
        _write(store, store.original_key(digest, "wav"), audio)
        s.add(Original(sha256=digest, size_bytes=len(audio), filename="take1.wav", format="WAV",
                       sample_rate=44100, channels=1, frames=88200))
        session = RecordingSession(book_id=ids["draft"], name="Buổi 1", position=1, source="upload")
        s.add(session)
        s.flush()
        take = Take(session_id=session.id, position=1, original_sha256=digest, filename="take1.wav",
                    duration_s=2.0)
        s.add(take)
        s.flush()
        mark = Mark(book_id=ids["draft"], take_id=take.id, kind="chapter", start_s=1.0, title="Chương 1",
                    source="manual")
        s.add(mark)
        bookmark = Bookmark(user_id=ids["reader"], book_id=pub.id, position_s=5.0, title="Đoạn hay")
        s.add(bookmark)
        s.add(Progress(user_id=ids["reader"], book_id=pub.id, position_s=3.0, device_id="d1"))
        clip = Clip(book_id=pub.id, title="Giới thiệu", start_s=0.0, end_s=5.0, state="published",
                    created_by=ids["librarian"], mp3_key=f"derived/clips/{pub.uuid}/clip.mp3", mp3_bytes=1027)
        _write(store, clip.mp3_key, b"ID3" + b"\x00" * 1024)
        s.add(clip)
        job = Job(kind="master", book_id=ids["draft"], state="done")
        s.add(job)
        jingle = Jingle(library_id=thv.id, name="Nhạc hiệu", key="derived/jingles/intro.mp3", duration_s=2.0)
        s.add(jingle)
        s.flush()
        from catalog.manuscripts import ParsedSection, store_parsed
        manuscript = store_parsed(s, ids["draft"], [ParsedSection("Chương 1", [["Câu một.", "Câu hai."]])],
                                  filename="sach.txt")
        sentence = manuscript.sections[0].sentences[1]
        sentence.issue, sentence.issue_detail = "skipped", {"at_s": 1.0}
        s.flush()
        ids.update(session=session.id, take=take.id, mark=mark.id, bookmark=bookmark.id, clip=clip.id,
                   clip_uuid=clip.uuid, job=job.id, jingle=jingle.id, sentence=sentence.id)
    engine.dispose()
    return world


def copy_world(template: World, target: Path) -> World:
    shutil.copytree(template.home, target)
    return World(target, dict(template.ids))


def make_app(world: World, **extra):
    from web.app import create_app
    return create_app(world.settings(**extra))


def login_as(client, world: World, identity: str) -> None:
    """Put the identity's session in the client's cookie (as a successful login would)."""
    if identity == "anonymous":
        return
    with client.session_transaction() as sess:
        sess["_user_id"] = f"{world.ids[identity]}:1"
        sess["_fresh"] = True
        sess["_id"] = uuid.uuid4().hex


def media_token(app, world: World, book_key: str = "book", identity: str = "anonymous", use: str = "s") -> str:
    from streaming import tokens
    # login_as puts session version 1 in the cookie: a reader's token names the same version
    subject = tokens.PUBLIC if identity == "anonymous" else tokens.subject_for(world.ids[identity], 1)
    return tokens.issue(app.config["SECRET_KEY"], book_id=world.ids[book_key], subject=subject, ttl_s=600,
                        use=use)
