"""A draft book with one take, two chapter masters and an aligned manuscript with known findings.

Take `take-01.wav` (20 s) has chapter marks at 0 s and 10 s and a cut at 11–12 s. The manuscript has
three sections; sections 2 and 3 were both aligned to chapter 2, so section 3's heading is a chapter
start the marks miss. Chapter 2's master was trimmed 0,3 s at the head and padded 0,5 s.
"""
from __future__ import annotations

import hashlib

import numpy as np
import soundfile as sf
from sqlalchemy import select

from catalog.manuscripts import ParsedSection, store_parsed

FORMULA = "=SUM(A1:A9) là công thức, không phải lời đọc."
SECTIONS = [
    ParsedSection("Chương 1", [["Câu một của chương một.", "Câu bị bỏ sót ở đây."], ["Câu ba đọc sai."]]),
    ParsedSection("Chương 2", [["Mở đầu chương hai.", "Câu này bị đọc lặp."]]),
    ParsedSection("Chương 3", [[FORMULA, "Câu cuối cùng."]]),
]
# (section, position) -> (start_s, end_s, confidence, issue, issue_detail); times in chapter-master seconds
TIMES = {
    (1, 1): (1.0, 3.0, 0.9, "", {}),
    (1, 2): (None, None, None, "skipped", {"at_s": 3.2}),
    (1, 3): (3.5, 6.0, 0.3, "low_confidence", {}),
    (2, 1): (0.8, 3.0, 0.9, "", {}),
    (2, 2): (3.4, 5.0, 0.8, "repeated", {"repeat_at_s": 5.3}),
    (3, 1): (6.0, 7.5, 0.25, "low_confidence", {}),
    (3, 2): (7.6, 9.0, 0.9, "", {}),
}
RATE = 16000


def build(app, library_code: str = "THV") -> dict:
    """Rows and files of the world; returns their ids."""
    from catalog.books import create_book
    from catalog.models import Chapter, Library, Mark, Original, RecordingSession, Take
    services = app.extensions["sachnoi"]
    rng = np.random.default_rng(5)
    take_audio = (rng.standard_normal(20 * RATE) * 0.05).astype(np.float32)
    with services.sessions.begin() as s:
        library = s.scalar(select(Library).where(Library.code == library_code))
        book = create_book(s, library=library, title="Sách soát lời đọc", authors=["Tác giả"])
        s.flush()
        path = services.store.path("incoming/take-01.wav")
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), take_audio, RATE, subtype="PCM_16")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if s.get(Original, digest) is None:
            services.store.write_bytes(services.store.original_key(digest, "wav"), path.read_bytes())
            s.add(Original(sha256=digest, size_bytes=path.stat().st_size, filename="take-01.wav", format="WAV",
                           sample_rate=RATE, channels=1, frames=len(take_audio)))
        rec = RecordingSession(book_id=book.id, name="Buổi 1", position=1, source="upload")
        s.add(rec)
        s.flush()
        take = Take(session_id=rec.id, position=1, original_sha256=digest, filename="take-01.wav", duration_s=20.0)
        s.add(take)
        s.flush()
        s.add_all([Mark(book_id=book.id, take_id=take.id, kind="chapter", start_s=0.0, title="Chương 1", source="pauses"),
                   Mark(book_id=book.id, take_id=take.id, kind="chapter", start_s=10.0, title="Chương 2", source="pauses"),
                   Mark(book_id=book.id, take_id=take.id, kind="cut", start_s=11.0, end_s=12.0, title="xoá",
                        source="audacity")])
        chapters = []
        for position in (1, 2):
            key = f"derived/books/{book.uuid}/master/{position:02d}.flac"
            master = services.store.path(key)
            master.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(master), take_audio[:10 * RATE], RATE, format="FLAC")
            chapter = Chapter(book_id=book.id, position=position, title=f"Chương {position}",
                              start_s=10.0 * (position - 1), duration_s=10.0, master_key=key, qc_passed=True,
                              qc={"passed": True, "rules": [], "processing": {"trim_head_s": 0.3, "pad_head_s": 0.5}})
            s.add(chapter)
            chapters.append(chapter)
        s.flush()
        manuscript = store_parsed(s, book.id, SECTIONS, filename="sach.txt", session_id=rec.id)
        ids = {"sentences": {}}
        for section in manuscript.sections:
            section.chapter_id = chapters[min(section.position, 2) - 1].id
            for sentence in section.sentences:
                start, end, conf, issue, detail = TIMES[(section.position, sentence.position)]
                sentence.start_s, sentence.end_s, sentence.confidence = start, end, conf
                sentence.issue, sentence.issue_detail = issue, detail
                s.flush()
                ids["sentences"][(section.position, sentence.position)] = sentence.id
        manuscript.state = "aligned"
        ids.update(book=book.id, take=take.id, session=rec.id, manuscript=manuscript.id,
                   chapter1=chapters[0].id, chapter2=chapters[1].id)
    return ids
