"""studio.talking_books on a packaged book: both formats in both variants (with an aligned
manuscript, and audio-only without one) pass epubcheck and the DAISY 2.02 rules, are recorded as
renditions, kept when nothing changed, and rebuilt when the alignment changes."""
from __future__ import annotations

import zipfile

import pytest
from sqlalchemy import select

from catalog.db import make_engine, make_sessionmaker, session_scope
from catalog.manuscripts import ParsedSection, store_parsed
from catalog.migrate import upgrade
from catalog.models import Book, Chapter, Job, Rendition, Sentence
from daisy202_rules import check_fileset
from packaging_helpers import make_book
from recordings.store import MediaStore
from studio.talking_books import TalkingBookFailed, build_talking_books
from talking_book_helpers import epubcheck, unzip
from web.config import DEFAULTS
from test_talking_book_writers import needs_epubcheck

DURATIONS = (4.2, 3.6)
TITLES = ("Chương 1: Làng quê", "Chương 2: Đêm trăng")
# (section title, paragraphs, start times of its sentences in its chapter master)
MANUSCRIPT = (
    ("Chương 1: Làng quê", [["Làng tôi ở ven sông.", "Mùa nước lên."], ["Ông nói: “Về đi!”"]], [0.5, 1.5, 2.6]),
    ("Chương 2: Đêm trăng", [["Trăng lên cao.", "Hết chương."]], [0.3, 2.0]),
)


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    from studio.package import package_book
    root = tmp_path_factory.mktemp("talking")
    url = f"sqlite:///{root / 'db.sqlite'}"
    upgrade(url)
    store = MediaStore(root / "media")
    book_id = make_book(url, store, durations=DURATIONS, titles=TITLES)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    package_book(factory, store, book_id, workers=2)
    yield factory, store, book_id, root
    engine.dispose()


def _align(factory, book_id: int, shift_s: float = 0.0) -> None:
    with session_scope(factory) as session:
        chapters = sorted(session.get(Book, book_id).chapters, key=lambda c: c.position)
        manuscript = store_parsed(session, book_id, [ParsedSection(t, p) for t, p, _ in MANUSCRIPT])
        for section, chapter, (_t, _p, starts) in zip(manuscript.sections, chapters, MANUSCRIPT):
            section.chapter_id = chapter.id
            ends = starts[1:] + [chapter.duration_s - 0.2]
            for sentence, start, end in zip(section.sentences, starts, ends):
                sentence.start_s, sentence.end_s, sentence.confidence = start + shift_s, end - 0.1, 0.9


def _rows(factory, book_id: int) -> dict[str, Rendition]:
    with factory() as session:
        rows = session.scalars(select(Rendition).where(Rendition.book_id == book_id,
                                                       Rendition.kind.in_(("epub3", "daisy202")))).all()
        session.expunge_all()
    return {r.kind: r for r in rows}


def _validate(store, rows, tmp_path) -> None:
    epub = store.path(rows["epub3"].key)
    bad = [(m["ID"], m["message"]) for m in epubcheck(epub) if m["severity"] in ("FATAL", "ERROR", "WARNING")]
    assert bad == []
    folder = unzip(store.path(rows["daisy202"].key), tmp_path / "daisy")
    assert check_fileset(folder) == []


@needs_epubcheck
def test_audio_only_then_full_text_then_kept_then_rebuilt(packaged, tmp_path):
    factory, store, book_id, _root = packaged
    result = build_talking_books(factory, store, book_id)
    assert not result.full_text and len(result.written) == 2
    rows = _rows(factory, book_id)
    assert {r.name for r in rows.values()} == {"audio-only"}
    _validate(store, rows, tmp_path / "a")
    with zipfile.ZipFile(store.path(rows["daisy202"].key)) as zf:
        assert "audioNcc" in zf.read("ncc.html").decode()
        assert not any(n.endswith(".html") and n != "ncc.html" for n in zf.namelist())

    _align(factory, book_id)
    result = build_talking_books(factory, store, book_id)
    assert result.full_text and len(result.written) == 2
    rows = _rows(factory, book_id)
    assert {r.name for r in rows.values()} == {"full-text"}
    _validate(store, rows, tmp_path / "b")
    with zipfile.ZipFile(store.path(rows["epub3"].key)) as zf:
        smil = zf.read("EPUB/c001.smil").decode()
        xhtml = zf.read("EPUB/c001.xhtml").decode()
        opf = zf.read("EPUB/package.opf").decode()
    assert 'src="c001.xhtml#s3"' in smil and 'clipBegin="0:00:02.600"' in smil
    assert "Ông nói: “Về đi!”" in xhtml
    assert "<dc:creator>Ngô Tất Tố</dc:creator>" in opf and "Nguyễn Thị Hoà" in opf
    assert rows["epub3"].duration_s == pytest.approx(sum(DURATIONS), abs=0.2)

    again = build_talking_books(factory, store, book_id)
    assert again.written == [] and len(again.unchanged) == 2

    with session_scope(factory) as session:  # a new alignment moves the sentences: rebuilt
        for sentence in session.scalars(select(Sentence)):
            if sentence.start_s is not None:
                sentence.start_s += 0.05
    assert len(build_talking_books(factory, store, book_id).written) == 2


def test_an_unpackaged_book_is_refused_and_nothing_is_recorded(packaged):
    factory, store, book_id, _root = packaged
    with session_scope(factory) as session:
        book = session.get(Book, book_id)
        extra = Chapter(book_id=book_id, position=9, title="Chưa đóng gói", start_s=99.0, duration_s=1.0)
        session.add(extra)
        session.flush()
        extra_id = extra.id
        before = len([r for r in book.renditions if r.kind in ("epub3", "daisy202")])
    try:
        with pytest.raises(TalkingBookFailed, match="đóng gói"):
            build_talking_books(factory, store, book_id)
        with pytest.raises(TalkingBookFailed):
            build_talking_books(factory, store, book_id, kinds=("pdf",))
        assert len(_rows(factory, book_id)) == before
    finally:
        with session_scope(factory) as session:
            session.delete(session.get(Chapter, extra_id))


def test_the_job_kind_runs_the_same_function(packaged):
    from studio.context import Context, StudioSettings
    from studio.worker import Worker, enqueue_talking_book
    factory, store, book_id, _root = packaged
    ctx = Context(sessions=factory, store=store, settings=StudioSettings.from_mapping(DEFAULTS))
    job_id = enqueue_talking_book(ctx, book_id, ("epub3",))
    assert Worker(ctx, owner="t").run_once()
    with factory() as session:
        job = session.get(Job, job_id)
        assert job.state == "done", job.error
        assert job.result["book_id"] == book_id and len(job.result["written"] + job.result["unchanged"]) == 1


def test_the_package_stage_writes_them_for_titles_that_offer_them_only(packaged):
    from studio.context import Context, StudioSettings
    from studio.pipeline import talking_books_if_offered
    factory, store, book_id, _root = packaged
    ctx = Context(sessions=factory, store=store, settings=StudioSettings.from_mapping(DEFAULTS))
    with session_scope(factory) as session:
        for row in session.scalars(select(Rendition).where(Rendition.kind.in_(("epub3", "daisy202")))):
            session.delete(row)
        session.get(Book, book_id).marrakesh = False
    talking_books_if_offered(ctx, book_id)
    assert _rows(factory, book_id) == {}
    with session_scope(factory) as session:
        session.get(Book, book_id).marrakesh = True
    talking_books_if_offered(ctx, book_id)
    assert set(_rows(factory, book_id)) == {"epub3", "daisy202"}


def test_a_section_without_an_audio_chapter_is_named_not_dropped_silently(packaged):
    """Found in QA: a manuscript section that had no audio chapter vanished from the books unannounced."""
    from studio.context import Context, StudioSettings
    from studio.worker import Worker, enqueue_talking_book
    factory, store, book_id, _root = packaged
    _align(factory, book_id)
    with session_scope(factory) as session:  # the newest manuscript, with a third section, aligned
        chapters = sorted(session.get(Book, book_id).chapters, key=lambda c: c.position)
        sections = [ParsedSection(t, p) for t, p, _ in MANUSCRIPT] + [ParsedSection("Phụ lục", [["Lời cuối."]])]
        manuscript = store_parsed(session, book_id, sections)
        manuscript.state = "aligned"
        for section, chapter, (_t, _p, starts) in zip(manuscript.sections, chapters, MANUSCRIPT):
            section.chapter_id = chapter.id
            for sentence, start in zip(section.sentences, starts):
                sentence.start_s, sentence.end_s, sentence.confidence = start, start + 0.5, 0.9
    result = build_talking_books(factory, store, book_id, kinds=("epub3",))
    assert result.left_out == ["Phụ lục"]
    assert "Phụ lục" in result.message and "không có trong sách nói" in result.message
    ctx = Context(sessions=factory, store=store, settings=StudioSettings.from_mapping(DEFAULTS))
    job_id = enqueue_talking_book(ctx, book_id, ("epub3",))
    assert Worker(ctx, owner="t").run_once()
    with factory() as session:
        job = session.get(Job, job_id)
        assert job.state == "done" and job.result["left_out"] == ["Phụ lục"]
        assert "Phụ lục" in job.message
        from studio.narration import status
        assert status(session, book_id).left_out == ["Phụ lục"]


def test_attaching_a_manuscript_queues_the_rebuild_of_existing_talking_books(packaged, tmp_path):
    from studio.context import Context, StudioSettings
    from studio.manuscripts import attach_manuscript
    factory, store, book_id, _root = packaged
    ctx = Context(sessions=factory, store=store, settings=StudioSettings.from_mapping(DEFAULTS))
    build_talking_books(factory, store, book_id)
    with session_scope(factory) as session:  # not offered, but its talking books exist
        session.get(Book, book_id).marrakesh = False
        session.get(Book, book_id).access_policy = "public"
        for job in session.scalars(select(Job).where(Job.kind == "talking_book")):
            job.state = "done"
    path = tmp_path / "m.md"
    path.write_text("# Chương 1\n\nCâu mới.\n", encoding="utf-8")
    attach_manuscript(ctx, book_id, path)
    with factory() as session:
        queued = session.scalars(select(Job).where(Job.kind == "talking_book", Job.state == "queued")).all()
        assert [j.book_id for j in queued] == [book_id]
