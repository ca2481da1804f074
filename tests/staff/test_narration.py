"""Narration QC on the studio pages (issue 20.3): manuscript upload and state, the retake list with its
times, decisions and who may take them, CSV and printable exports, chapter marks from headings."""
from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from catalog.models import Job, Manuscript, Mark, Sentence
from narration_world import FORMULA, build
from studio import narration
from studio.manuscript_formats import parse_manuscript


@pytest.fixture
def world(app, users):
    return build(app)


def _db(app):
    return app.extensions["sachnoi"].sessions()


# -- pure functions -------------------------------------------------------------------------------
@pytest.mark.parametrize("seconds,text", [(75.34, "0:01:15,3"), (0.0, "0:00:00,0"), (59.96, "0:01:00,0"),
                                          (2 * 3600 + 5.06, "2:00:05,1"), (None, "—")])
def test_clock_is_hours_minutes_seconds_with_a_decimal_comma(seconds, text):
    assert narration.clock(seconds) == text


def test_plain_text_splits_at_headings_paragraphs_and_sentences(tmp_path):
    text = ("Lời nói đầu của sách.\n\nChương 1: Mở đầu\nTS. Lan nói: “Chào em.” Em đáp lại! Rồi sao?\n\n"
            "Đoạn hai… Hết.\nCHƯƠNG 2\nCâu cuối.")
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    sections = parse_manuscript(tmp_path / "a.txt")[1]
    assert [s.title for s in sections] == ["", "Chương 1: Mở đầu", "CHƯƠNG 2"]
    assert sections[1].paragraphs == [["TS. Lan nói: “Chào em.”", "Em đáp lại!", "Rồi sao?"], ["Đoạn hai…", "Hết."]]
    (tmp_path / "b.md").write_text("# Phần một\n\nMột **câu** đậm. Câu nữa.\n\n## Phần hai\nCâu.", encoding="utf-8")
    md = parse_manuscript(tmp_path / "b.md")[1]
    assert [(s.title, s.paragraphs) for s in md] == [("Phần một", [["Một câu đậm.", "Câu nữa."]]),
                                                      ("Phần hai", [["Câu."]])]


# -- upload and state -------------------------------------------------------------------------------
def test_upload_stores_the_manuscript_queues_alignment_and_shows_its_state(app, login, world):
    studio = login("studio1")
    book = world["book"]
    text = "Chương 1\nCâu một. Câu hai.\n\nChương 2\nCâu ba.".encode()
    response = studio.post(f"/studio/books/{book}/manuscript",
                           {"manuscript": (io.BytesIO(text), "sach-moi.txt"), "session_id": str(world["session"])},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    with _db(app) as db:
        manuscript = db.scalars(select(Manuscript).where(Manuscript.book_id == book).order_by(Manuscript.id.desc())).first()
        assert (manuscript.filename, manuscript.session_id, manuscript.state) == ("sach-moi.txt", world["session"], "parsed")
        assert [[s.text for s in sec.sentences] for sec in manuscript.sections] == [["Câu một.", "Câu hai."], ["Câu ba."]]
        assert app.extensions["sachnoi"].store.exists(
            app.extensions["sachnoi"].store.original_key(manuscript.source_sha256, "txt"))
        job = db.scalar(select(Job).where(Job.kind == "align", Job.book_id == book))
        assert job.payload == {"manuscript_id": manuscript.id} and job.state == "queued"
        manuscript_id, job_id = manuscript.id, job.id
    page = studio.get(f"/studio/books/{book}").get_data(as_text=True)
    assert "sach-moi.txt" in page and "Đang căn chỉnh" in page and 'data-state="aligning"' in page

    with app.extensions["sachnoi"].sessions.begin() as db:
        db.get(Job, job_id).state, db.get(Job, job_id).progress = "running", 40.0
    assert studio.get(f"/studio/books/{book}/manuscript/status").get_json()["progress"] == 40.0
    with app.extensions["sachnoi"].sessions.begin() as db:
        job = db.get(Job, job_id)
        job.state, job.error = "failed", "Traceback ...\nAlignError: espeak-ng không chạy được"
    state = studio.get(f"/studio/books/{book}/manuscript/status").get_json()
    assert state["state"] == "failed" and "espeak-ng" in state["message"]
    failed_page = studio.get(f"/studio/books/{book}").get_data(as_text=True)
    assert "espeak-ng không chạy được" in failed_page and 'href="/jobs/"' in failed_page
    with app.extensions["sachnoi"].sessions.begin() as db:
        db.get(Manuscript, manuscript_id).state = "aligned"
    assert studio.get(f"/studio/books/{book}/manuscript/status").get_json()["state"] == "aligned"
    assert 'id="propose-chapters"' in studio.get(f"/studio/books/{book}").get_data(as_text=True)


@pytest.mark.parametrize("name,data,message", [
    ("sach.pdf", b"%PDF-1.4", "Chưa đọc được loại tệp này"),
    ("sach.txt", "Tiêng Viêt Nam.".encode("latin-1"), "văn bản không phải UTF-8"),
    ("sach.md", b"  \n\n# \n", "không tìm thấy câu chữ nào"),
])
def test_a_refused_manuscript_changes_nothing(app, login, world, name, data, message):
    studio = login("studio1")
    response = studio.post(f"/studio/books/{world['book']}/manuscript",
                           {"manuscript": (io.BytesIO(data), name)}, content_type="multipart/form-data",
                           follow_redirects=True)
    assert response.status_code == 200 and message in response.get_data(as_text=True)
    with _db(app) as db:
        assert db.scalar(select(Manuscript.id).where(Manuscript.id != world["manuscript"])) is None
        assert db.scalar(select(Job.id).where(Job.kind == "align")) is None


def test_a_session_of_another_book_is_refused(app, login, world):
    other = build(app)
    studio = login("studio1")
    response = studio.post(f"/studio/books/{world['book']}/manuscript",
                           {"manuscript": (io.BytesIO(b"Cau."), "a.txt"), "session_id": str(other["session"])},
                           content_type="multipart/form-data", follow_redirects=True)
    assert "không thuộc sách này" in response.get_data(as_text=True)
    for bad in ("abc", "-1", str(2**70)):
        response = studio.post(f"/studio/books/{world['book']}/manuscript",
                               {"manuscript": (io.BytesIO(b"Cau."), "a.txt"), "session_id": bad},
                               content_type="multipart/form-data")
        assert response.status_code == 303
    with _db(app) as db:
        assert db.scalar(select(Job.id).where(Job.kind == "align")) is None


# -- the retake list ----------------------------------------------------------------------------------
def test_findings_have_chapter_times_kinds_and_the_expected_text(app, world):
    with _db(app) as db:
        found = narration.findings(db, world["book"])
    assert [(f.chapter_position, f.kind, f.at_s, f.repeat_at_s) for f in found] == [
        (1, "skipped", 3.2, None), (1, "low_confidence", 3.5, None),
        (2, "repeated", 3.4, 5.3), (2, "low_confidence", 6.0, None)]
    assert found[0].text == "Câu bị bỏ sót ở đây." and found[3].text == FORMULA
    assert found[2].play_start_s == pytest.approx(2.4) and found[2].play_end_s == pytest.approx(7.9)


def test_book_page_counts_open_findings_per_chapter_and_reads_in_english(app, login, world):
    studio = login("studio1")
    studio.post(f"/studio/sentences/{world['sentences'][(1, 2)]}/decision", {"decision": "accepted"})
    page = studio.get(f"/studio/books/{world['book']}").get_data(as_text=True)
    assert f'/studio/chapters/{world["chapter1"]}/qc#retakes-h">1<' in page
    assert f'/studio/chapters/{world["chapter2"]}/qc#retakes-h">2<' in page
    english = studio.get(f"/studio/books/{world['book']}?lang=en").get_data(as_text=True)
    assert "Manuscript and narration check" in english and "Aligned" in english
    qc = studio.get(f"/studio/chapters/{world['chapter2']}/qc?lang=en").get_data(as_text=True)
    assert "Repeated reading" in qc and "Re-record" in qc
    assert "Retake list" in studio.get(f"/studio/books/{world['book']}/retakes?lang=en").get_data(as_text=True)


def test_qc_page_lists_the_chapters_findings_with_play_buttons(app, login, world):
    studio = login("studio1")
    page = studio.get(f"/studio/chapters/{world['chapter1']}/qc").get_data(as_text=True)
    assert "Bỏ sót câu" in page and "0:00:03,2" in page and "Câu bị bỏ sót ở đây." in page
    assert "Độ tin cậy thấp" in page and "0:00:03,5" in page and "0,30" in page
    assert "Đọc lặp" not in page  # chapter 2's finding
    assert page.count('data-play="qc-after"') == 2 and 'aria-live="polite"' in page
    page2 = studio.get(f"/studio/chapters/{world['chapter2']}/qc").get_data(as_text=True)
    assert "Đọc lặp" in page2 and "0:00:05,3" in page2 and 'data-start="3.4"' in page2


# -- decisions ------------------------------------------------------------------------------------
def test_decisions_persist_and_answer_json(app, login, world):
    studio = login("studio1")
    sid = world["sentences"][(1, 2)]
    response = studio.post(f"/studio/sentences/{sid}/decision", {"decision": "rerecord"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"#finding-{sid}")
    with _db(app) as db:
        assert db.get(Sentence, sid).decision == "rerecord"
    answer = studio.post(f"/studio/sentences/{sid}/decision", {"decision": "accepted"},
                         headers={"Accept": "application/json"})
    assert answer.get_json()["decision"] == "accepted" and "Chấp nhận" in answer.get_json()["message"]
    page = studio.get(f"/studio/chapters/{world['chapter1']}/qc").get_data(as_text=True)
    assert 'value="accepted" aria-pressed="true"' in page
    admin = login("admin1")
    assert admin.post(f"/studio/sentences/{sid}/decision", {"decision": ""}).status_code == 302
    with _db(app) as db:
        assert db.get(Sentence, sid).decision == ""


def test_invalid_decisions_are_refused_and_change_nothing(app, login, world):
    studio = login("studio1")
    sid, clean = world["sentences"][(1, 3)], world["sentences"][(1, 1)]
    bad = studio.post(f"/studio/sentences/{sid}/decision", {"decision": "publish"}, headers={"Accept": "application/json"})
    assert bad.status_code == 400
    no_issue = studio.post(f"/studio/sentences/{clean}/decision", {"decision": "accepted"}, follow_redirects=True)
    assert "không có lỗi" in no_issue.get_data(as_text=True)
    assert studio.post("/studio/sentences/999999/decision", {"decision": "accepted"}).status_code == 404
    with _db(app) as db:
        assert db.get(Sentence, sid).decision == "" and db.get(Sentence, clean).decision == ""


@pytest.mark.parametrize("who,statuses", [("reader1", {403}), ("lib1", {403}), ("studio2", {403, 404}),
                                          ("lib2", {403, 404})])
def test_decisions_refused_for_readers_librarians_and_other_libraries(app, login, world, who, statuses):
    client = login(who)
    sid = world["sentences"][(2, 2)]
    assert client.post(f"/studio/sentences/{sid}/decision", {"decision": "accepted"}).status_code in statuses
    with _db(app) as db:
        assert db.get(Sentence, sid).decision == ""


def test_the_rule_itself_refuses_other_libraries(app, world):
    from catalog.models import User
    with _db(app) as db:
        other = db.scalar(select(User).where(User.username == "studio2"))
        with pytest.raises(narration.NotAllowed):
            narration.decide(db, other, world["sentences"][(2, 2)], "accepted")


# -- exports --------------------------------------------------------------------------------------
def test_csv_lists_every_finding_and_is_formula_safe(app, login, world):
    response = login("studio1").get(f"/studio/books/{world['book']}/retakes.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["Chương", "Tên chương", "Thời điểm"] and rows[0][4] == "Loại"
    # machine-readable seconds and confidence, as in the other exports; the header says so (found in QA)
    assert "dấu chấm thập phân" in rows[0][3] and "dấu chấm thập phân" in rows[0][7]
    assert float(rows[1][3]) == pytest.approx(3.2, abs=0.06)
    assert [r[2] for r in rows[1:]] == ["0:00:03,2", "0:00:03,5", "0:00:03,4", "0:00:06,0"]
    assert rows[3][6] == "0:00:05,3" and rows[1][4] == "Bỏ sót câu"
    assert rows[4][5] == "'" + FORMULA  # a spreadsheet shows it as text, never runs it
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row)


def test_printable_page_has_the_list_and_no_buttons_on_paper(app, login, world):
    page = login("studio1").get(f"/studio/books/{world['book']}/retakes").get_data(as_text=True)
    assert page.count("<tr id=\"row-") == 4 and FORMULA in page and "0:00:05,3" in page
    assert 'class="retake-page"' in page and 'class="row-actions no-print"' in page
    # the chapter named once: its title, not "1. Chương 1" (found in QA: "3. Chương 3. …")
    assert ". Chương 1</a>" not in page and ">Chương 1</a>" in page
    css = (app.static_folder + "/staff.css")
    text = open(css, encoding="utf-8").read()
    assert ".retake-page button, .retake-page form { display: none !important; }" in text
    assert "size: A4" in text


def test_book_page_names_the_sections_left_out_of_the_talking_books(app, login, world):
    """Found in QA: a section with no audio chapter was dropped from the EPUB 3 / DAISY without a word."""
    from catalog.models import ManuscriptSection
    studio = login("studio1")
    assert 'id="manuscript-left-out"' not in studio.get(f"/studio/books/{world['book']}").get_data(as_text=True)
    with _db(app) as db:
        section = db.scalars(select(ManuscriptSection).order_by(ManuscriptSection.position.desc())).first()
        section.chapter_id, title = None, section.title
        db.commit()
    page = studio.get(f"/studio/books/{world['book']}").get_data(as_text=True)
    assert 'id="manuscript-left-out"' in page and title in page.split('id="manuscript-left-out"')[1]
    english = studio.get(f"/studio/books/{world['book']}?lang=en").get_data(as_text=True)
    assert "left out of the EPUB 3 and DAISY talking books" in english


def test_qc_table_writes_measures_and_limits_with_the_decimal_comma(app, login, world):
    """Found in QA: "-17.88" on a Vietnamese page."""
    from catalog.models import Chapter
    with _db(app) as db:
        chapter = db.get(Chapter, world["chapter1"])
        chapter.qc = {**chapter.qc, "rules": [
            {"rule": "integrated_loudness", "passed": True, "measured": -17.88, "limit": "-19…-17 LUFS", "message": ""},
            {"rule": "true_peak", "passed": True, "measured": -2.5, "limit": "≤ -1.5 dBTP", "message": ""}]}
        db.commit()
    studio = login("studio1")
    page = studio.get(f"/studio/chapters/{world['chapter1']}/qc").get_data(as_text=True)
    assert "<td>-17,88</td>" in page and "<td>≤ -1,5 dBTP</td>" in page and "-17.88" not in page
    english = studio.get(f"/studio/chapters/{world['chapter1']}/qc?lang=en").get_data(as_text=True)
    assert "<td>-17.88</td>" in english and "<td>≤ -1.5 dBTP</td>" in english


# -- chapter proposals ----------------------------------------------------------------------------
def test_headings_propose_a_missing_chapter_mark_on_the_take(app, login, world):
    studio = login("studio1")
    response = studio.post(f"/studio/books/{world['book']}/manuscript/propose-chapters")
    assert response.status_code == 302 and response.headers["Location"].endswith("/chapters")
    with _db(app) as db:
        proposed = db.scalars(select(Mark).where(Mark.source == "manuscript")).all()
        # section 3 starts 0,5 s after section 2's last word (5,0 s of master 2): 10 + 5,5 + 0,3 trim
        # − 0,5 pad = 15,3 s on the take, + 1 s for the cut at 11–12 s
        assert [(m.take_id, m.start_s, m.title, m.approved) for m in proposed] == [
            (world["take"], pytest.approx(16.3), "Chương 3", False)]
        assert not any(m.approved for m in db.scalars(select(Mark)))
    studio.post(f"/studio/books/{world['book']}/manuscript/propose-chapters")  # again: replaced, not doubled
    with _db(app) as db:
        assert len(db.scalars(select(Mark).where(Mark.source == "manuscript")).all()) == 1
    editor = studio.get(f"/studio/books/{world['book']}/chapters").get_data(as_text=True)
    assert "Gợi ý từ bản thảo" in editor and "16.30" in editor


def test_no_proposal_where_a_mark_already_is(app, world):
    with app.extensions["sachnoi"].sessions.begin() as db:
        take = world["take"]
        db.add(Mark(book_id=world["book"], take_id=take, kind="chapter", start_s=17.0, title="x", source="manual"))
    with _db(app) as db:
        assert narration.proposals(db, world["book"]) == []


def test_findings_decisions_status_and_proposals_on_postgresql(pg_url, settings):
    """The same rules on PostgreSQL (JSON payloads, the job look-up, deletes and flushes)."""
    from catalog.migrate import upgrade
    from catalog.models import User
    from web.app import create_app
    upgrade(pg_url)
    app = create_app({**settings, "DATABASE_URL": pg_url})
    sessions = app.extensions["sachnoi"].sessions
    try:
        from catalog.accounts import create_user, get_or_create_library
        with sessions.begin() as s:
            lib = get_or_create_library(s, "THV", "Thư viện tỉnh")
            other = get_or_create_library(s, "HUYEN1", "Thư viện huyện", kind="district", parent=lib)
            create_user(s, "studio1", "mat-khau-studio1", role="studio", library=lib)
            create_user(s, "studio2", "mat-khau-studio2", role="studio", library=other)
        ids = build(app)
        with sessions.begin() as db:
            db.get(Manuscript, ids["manuscript"]).state = "parsed"
            db.add(Job(kind="align", book_id=ids["book"], state="running", progress=12.5,
                       payload={"manuscript_id": ids["manuscript"]}))
        with sessions.begin() as db:
            assert narration.status(db, ids["book"]).progress_pct == 12.5
            assert [f.kind for f in narration.findings(db, ids["book"])] == [
                "skipped", "low_confidence", "repeated", "low_confidence"]
            studio1 = db.scalar(select(User).where(User.username == "studio1"))
            studio2 = db.scalar(select(User).where(User.username == "studio2"))
            studio1.is_authenticated = studio2.is_authenticated = True  # as flask-login's user would be
            narration.decide(db, studio1, ids["sentences"][(2, 2)], "rerecord")
            with pytest.raises(narration.NotAllowed):
                narration.decide(db, studio2, ids["sentences"][(2, 2)], "accepted")
            assert [m.start_s for m in narration.propose_chapter_marks(db, ids["book"])] == [pytest.approx(16.3)]
        with sessions() as db:
            assert db.get(Sentence, ids["sentences"][(2, 2)]).decision == "rerecord"
    finally:
        app.extensions["sachnoi"].engine.dispose()
