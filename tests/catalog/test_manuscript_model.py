"""The manuscript shapes issue 20 builds on: sections, paragraphs, sentences and book times."""
from catalog.manuscripts import ParsedSection, read_along, store_parsed
from catalog.models import Book, Chapter, Library


def test_read_along_gives_book_times_per_sentence(any_session):
    db = any_session
    lib = Library(code="THV", name="Thư viện tỉnh", kind="province")
    db.add(lib)
    db.flush()
    book = Book(library_id=lib.id, title="Sơn Tinh, Thủy Tinh")
    db.add(book)
    db.flush()
    ch1 = Chapter(book_id=book.id, position=1, title="Chương 1", start_s=0.0, duration_s=60.0)
    ch2 = Chapter(book_id=book.id, position=2, title="Chương 2", start_s=60.0, duration_s=40.0)
    db.add_all([ch1, ch2])
    db.flush()
    assert read_along(db, book.id) is None
    manuscript = store_parsed(db, book.id, [
        ParsedSection("Chương một", [["Ngày xưa.", "Vua Hùng có con gái."], ["Tên là Mị Nương."]]),
        ParsedSection("Chương hai", [["Thủy Tinh nổi giận."]]),
    ], filename="son-tinh.md", format="markdown")
    first, second = manuscript.sections
    first.chapter_id, second.chapter_id = ch1.id, ch2.id
    second.sentences[0].start_s, second.sentences[0].end_s = 1.5, 3.0
    db.flush()
    chapters = read_along(db, book.id)
    assert [c.title for c in chapters] == ["Chương một", "Chương hai"]
    assert [(s.position, s.paragraph) for s in chapters[0].sentences] == [(1, 1), (2, 1), (3, 2)]
    assert chapters[0].sentences[0].start_s is None
    assert (chapters[1].sentences[0].start_s, chapters[1].sentences[0].end_s) == (61.5, 63.0)
    assert manuscript.sections[0].sentences[1].text_folded == "vua hung co con gai"
