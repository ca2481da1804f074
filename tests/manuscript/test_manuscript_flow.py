"""End to end: `sachnoi manuscript attach` and `align` (and the `align` job) fill sentence timings in the
chapter master's time and the findings; the master offset follows mastering's head trim and padding."""
import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from sqlalchemy import select

from catalog.models import Chapter, Job, Manuscript
from narration import TEXT, narrate
from studio.espeak import Voice

pytestmark = pytest.mark.timeout(300)


def _book_with_chapter(ctx, audio, rate, *, edit_offset_s=None):
    """A book with one mastered chapter; with edit_offset_s the master starts that much later than an edit."""
    from catalog.accounts import get_or_create_library
    from catalog.books import create_book
    from studio.pipeline import edit_key
    with ctx.sessions.begin() as s:
        book = create_book(s, library=get_or_create_library(s, "THV", "Thư viện"), title="Hai anh em")
        prefix = ctx.store.book_prefix(book.uuid)
        master = audio
        qc = {}
        if edit_offset_s is not None:  # the edit has 2 s more head room tone; mastering trimmed 2 s
            edit = np.concatenate([np.zeros(int(2.0 * rate), np.float32), audio])
            with ctx.store.atomic_path(edit_key(prefix, 1)) as tmp:
                sf.write(str(tmp), edit, rate, format="FLAC")
            qc = {"processing": {"trim_head_s": 2.0, "pad_head_s": 0.0}}
        with ctx.store.atomic_path(f"{prefix}/master/01.flac") as tmp:
            sf.write(str(tmp), master, rate, format="FLAC")
        s.add(Chapter(book_id=book.id, position=1, title="Chương 1", start_s=0.0, duration_s=len(master) / rate,
                      master_key=f"{prefix}/master/01.flac", qc=qc))
        return book.id


def _manuscript_file(tmp_path):
    path = tmp_path / "hai-anh-em.txt"
    path.write_text("Chương 1\n\n" + " ".join(TEXT[:5]) + "\n\n" + " ".join(TEXT[5:]) + "\n", encoding="utf-8")
    return path


def test_cli_attach_and_align(ctx, home, tmp_path, monkeypatch):
    from web.cli import main
    audio, rate, truth = narrate(TEXT, Voice("vi-vn-x-central", 190, 40), skip={6})
    book_id = _book_with_chapter(ctx, audio, rate, edit_offset_s=2.0)
    monkeypatch.setenv("SACHNOI_HOME", str(home))
    runner = CliRunner()
    result = runner.invoke(main, ["manuscript", "attach", str(book_id), str(_manuscript_file(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "1 phần, 10 câu" in result.output
    result = runner.invoke(main, ["manuscript", "align", str(book_id)])
    assert result.exit_code == 0, result.output
    assert "9/10 câu đã căn chỉnh; 1 bỏ sót" in result.output
    with ctx.sessions() as s:
        manuscript = s.scalars(select(Manuscript)).one()
        assert manuscript.state == "aligned" and manuscript.aligned_at is not None
        section = manuscript.sections[0]
        assert section.chapter_id is not None
        sentences = section.sentences
        assert [x.paragraph for x in sentences] == [1] * 5 + [2] * 5
        assert sentences[6].issue == "skipped" and sentences[6].start_s is None
        for sentence, known in zip(sentences, truth):
            if known is not None:  # master time: the 2 s trimmed at the head are taken off
                assert sentence.start_s == pytest.approx(known[0], abs=0.3)
                assert sentence.end_s == pytest.approx(known[1], abs=0.3)


def test_cli_refuses_bad_input(ctx, home, tmp_path, monkeypatch):
    from web.cli import main
    monkeypatch.setenv("SACHNOI_HOME", str(home))
    garbage = tmp_path / "x.epub"
    garbage.write_bytes(b"\x00\x01garbage")
    book_id = _book_with_chapter(ctx, np.zeros(22050, np.float32), 22050)
    result = CliRunner().invoke(main, ["manuscript", "attach", str(book_id), str(garbage)])
    assert result.exit_code != 0 and "not an EPUB" in result.output
    result = CliRunner().invoke(main, ["manuscript", "attach", "999", str(_manuscript_file(tmp_path))])
    assert result.exit_code != 0 and "no such book" in result.output
    result = CliRunner().invoke(main, ["manuscript", "align", "abc"])
    assert result.exit_code != 0
    for args in (["manuscript", "align", "999"], ["manuscript", "align", "999", "--queue"]):
        result = CliRunner().invoke(main, args)  # found in QA: "has no manuscript" for a missing book
        assert result.exit_code != 0 and "Không có sách #999" in result.output and "no such book" in result.output
        assert "chưa có bản thảo" not in result.output
    with ctx.sessions() as s:
        assert s.scalars(select(Manuscript)).first() is None


def test_align_job_runs_in_the_worker(ctx, tmp_path):
    from studio.manuscripts import attach_manuscript
    from studio.worker import Worker, enqueue_align
    audio, rate, truth = narrate(TEXT, Voice("vi-vn-x-south+f3", 150, 55), repeat={2})
    book_id = _book_with_chapter(ctx, audio, rate)
    attach_manuscript(ctx, book_id, _manuscript_file(tmp_path))
    job_id = enqueue_align(ctx, book_id)
    assert Worker(ctx, lease_s=30).run_once()
    with ctx.sessions() as s:
        job = s.get(Job, job_id)
        assert job.state == "done", job.error
        assert job.result["sentences"] == 10 and job.result["aligned"] == 10
        sentences = s.scalars(select(Manuscript)).one().sections[0].sentences
        assert sentences[0].start_s == pytest.approx(truth[0][0], abs=0.3)  # the master itself (no edit kept)
        assert all(x.confidence is not None for x in sentences)


def test_align_without_manuscript_fails_clearly(ctx):
    from studio.manuscript_formats import ManuscriptError
    from studio.manuscripts import align_book
    audio = np.zeros(22050, np.float32)
    book_id = _book_with_chapter(ctx, audio, 22050)
    with pytest.raises(ManuscriptError, match="chưa có bản thảo"):
        align_book(ctx, book_id)


def test_master_offset_follows_head_trim_and_padding():
    from studio.manuscripts import master_offset_s
    assert master_offset_s({}) == 0.0
    assert master_offset_s({"processing": {"trim_head_s": 1.25, "pad_head_s": 0.0}}) == pytest.approx(-1.25)
    # padding overlaps the recording by one 50 ms crossfade (mastering.stages.Editor)
    assert master_offset_s({"processing": {"trim_head_s": 0.0, "pad_head_s": 0.55}}) == pytest.approx(0.5)


@pytest.mark.parametrize("head_s", [3.0, 0.1])  # trimmed to the profile's head room tone, or padded
def test_master_is_the_edit_shifted_by_the_offset(tmp_path, head_s):
    """What master_offset_s assumes, checked on a real master: the first word moves by exactly it."""
    from mastering.profiles import get_profile
    from mastering.runner import master_file
    from studio.manuscripts import master_offset_s
    rate = 48000
    rng = np.random.default_rng(4)
    room = lambda s: rng.standard_normal(int(s * rate)) * 10 ** (-65 / 20)  # noqa: E731
    t = np.arange(int(6 * rate)) / rate
    words = 0.1 * rng.standard_normal(len(t)) * (0.55 + 0.45 * np.sin(2 * np.pi * 4 * t) ** 2)
    edit = np.concatenate([room(head_s), words, room(2.0)]).astype(np.float32)[:, None]
    sf.write(str(tmp_path / "edit.flac"), edit, rate)
    result = master_file(tmp_path / "edit.flac", tmp_path / "master.flac", get_profile("library-streaming"))
    master, _ = sf.read(str(tmp_path / "master.flac"), dtype="float32")

    def onset(y):
        level = np.sqrt(np.convolve(y ** 2, np.ones(480) / 480, mode="same"))
        return np.argmax(level > 0.3 * level.max()) / rate
    offset = master_offset_s(result.qc.to_dict())
    assert onset(master) == pytest.approx(onset(edit[:, 0]) + offset, abs=0.02)


def test_heading_read_aloud_is_not_taken_for_the_first_sentence(ctx, tmp_path):
    """Narrators read the chapter heading first; the first sentence must start after it (found in QA:
    it started at the heading, 2 s early)."""
    from studio.manuscripts import align_book, attach_manuscript
    heading = "Chương 3. Thư viện trên sông"
    text = ["Chiếc thuyền thư viện đi dọc các bến sông mỗi tháng một lần.",
            "Trên thuyền có hơn hai nghìn cuốn sách và một góc sách nói.",
            "Các em nhỏ chạy ra bến từ sớm để chờ thuyền cập bến.",
            "Cô thủ thư đọc to một câu chuyện cho cả nhóm cùng nghe."]
    audio, rate, truth = narrate([heading] + text, Voice("vi+f2", 150))
    book_id = _book_with_chapter(ctx, audio, rate)
    path = tmp_path / "hai-anh-em.md"
    path.write_text(f"# {heading}\n\n" + " ".join(text) + "\n", encoding="utf-8")
    attach_manuscript(ctx, book_id, path)
    align_book(ctx, book_id)
    with ctx.sessions() as s:
        sentences = s.scalars(select(Manuscript)).one().sections[0].sentences
        assert len(sentences) == 4
        assert sentences[0].start_s == pytest.approx(truth[1][0], abs=0.3)
        for sentence, known in zip(sentences, truth[1:]):
            assert sentence.end_s == pytest.approx(known[1], abs=0.3)


def test_cli_align_warns_when_sections_and_chapters_differ(ctx, home, tmp_path, monkeypatch):
    from web.cli import main
    audio, rate, _truth = narrate(TEXT[:3], Voice("vi-vn-x-central", 190, 40))
    book_id = _book_with_chapter(ctx, audio, rate)
    path = tmp_path / "two.md"
    path.write_text("# Chương 1\n\n" + " ".join(TEXT[:3]) + "\n\n# Chương 2\n\nCâu cuối cùng.\n", encoding="utf-8")
    monkeypatch.setenv("SACHNOI_HOME", str(home))
    assert CliRunner().invoke(main, ["manuscript", "attach", str(book_id), str(path)]).exit_code == 0
    result = CliRunner().invoke(main, ["manuscript", "align", str(book_id), "-q"])
    assert result.exit_code == 0, result.output
    assert "2 phần văn bản nhưng 1 chương âm thanh" in result.output


def test_align_job_for_a_book_without_masters_fails_once_with_the_message(ctx, tmp_path):
    """Found in QA: the job was tried three times and staff read 'studio.manuscript_formats.ManuscriptError: …'."""
    from catalog.accounts import get_or_create_library
    from catalog.books import create_book
    from studio.manuscripts import attach_manuscript
    from studio.worker import Worker, enqueue_align
    with ctx.sessions.begin() as s:
        book_id = create_book(s, library=get_or_create_library(s, "THV", "Thư viện"), title="Chưa thu").id
    attach_manuscript(ctx, book_id, _manuscript_file(tmp_path))
    job_id = enqueue_align(ctx, book_id)
    assert Worker(ctx, lease_s=30).run_once()
    with ctx.sessions() as s:
        job = s.get(Job, job_id)
        assert job.state == "failed" and job.attempts == 1
        assert job.error.startswith("[lần 1] Sách chưa có chương đã xử lý âm thanh") and "Error" not in job.error


def test_a_finished_alignment_queues_the_talking_books_of_a_title_that_offers_them(ctx, tmp_path):
    """Found in QA: the EPUB 3 / DAISY kept the old text after a new manuscript or alignment."""
    from catalog.models import Book, Rendition
    from studio.manuscripts import align_book, attach_manuscript
    audio, rate, _truth = narrate(TEXT[:5], Voice("vi-vn-x-central", 190, 40))
    book_id = _book_with_chapter(ctx, audio, rate)
    with ctx.sessions.begin() as s:  # packaged (a chapter MP3), not yet offered
        chapter = s.scalars(select(Chapter).where(Chapter.book_id == book_id)).one()
        s.add(Rendition(book_id=book_id, chapter_id=chapter.id, kind="mp3", key="x/01.mp3", codec="mp3"))
    path = tmp_path / "m.txt"
    path.write_text("Chương 1\n\n" + " ".join(TEXT[:5]) + "\n", encoding="utf-8")
    attach_manuscript(ctx, book_id, path)
    assert "talking_book_job" not in align_book(ctx, book_id)
    with ctx.sessions() as s:
        assert s.scalars(select(Job).where(Job.kind == "talking_book")).first() is None
    with ctx.sessions.begin() as s:
        s.get(Book, book_id).marrakesh = True
    summary = align_book(ctx, book_id)
    again = align_book(ctx, book_id)  # a job still waiting is reused, not doubled
    with ctx.sessions() as s:
        jobs = s.scalars(select(Job).where(Job.kind == "talking_book")).all()
        assert [j.id for j in jobs] == [summary["talking_book_job"]] == [again["talking_book_job"]]
        assert jobs[0].book_id == book_id and jobs[0].state == "queued"
