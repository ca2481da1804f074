"""A manuscript with known sentence times for the reader fixtures' 3 × 10 s book (issue 20.4)."""
from __future__ import annotations

from sqlalchemy import select

from catalog.manuscripts import ParsedSection, store_parsed
from catalog.models import Chapter

# (title, paragraphs); each sentence is (text, start_s, end_s) in its CHAPTER's master, None = not found
SECTIONS = [
    ("Chương một: Sơn Tinh, Thủy Tinh", [
        [("Đời Hùng Vương thứ mười tám có người con gái tên là Mị Nương.", 0.5, 2.4),
         ("Vua muốn kén cho con một người chồng thật xứng đáng.", 2.6, 4.4)],
        [("Một hôm có hai chàng trai đến cầu hôn.", 4.6, 6.4),
         ("Một người ở vùng núi Tản Viên, tên là Sơn Tinh.", 6.6, 9.5)]]),
    ("Chương hai: Lễ vật", [
        [("Vua phán: «Ai đem lễ vật đến trước thì được lấy Mị Nương».", 0.5, 3.4),
         ("Hôm sau, Sơn Tinh đến trước.", 3.6, 5.4)],
        [("Câu này người đọc bỏ qua.", None, None),
         ("Thủy Tinh đến sau, không lấy được vợ, đùng đùng nổi giận.", 6.0, 9.5)]]),
    ("Chương ba: Nước dâng", [
        [("Thủy Tinh hô mưa gọi gió, dâng nước đánh Sơn Tinh.", 0.5, 4.0),
         ("Nước ngập ruộng đồng, 100_% nhà cửa.", 4.2, 6.0),
         ("Sơn Tinh bốc từng quả đồi, dời từng dãy núi.", 6.2, 9.5)]]),
]


def add_manuscript(app, book_id: int) -> dict[str, int]:
    """Store SECTIONS as the book's aligned manuscript; returns {sentence text: id}."""
    with app.extensions["sachnoi"].sessions.begin() as s:
        parsed = [ParsedSection(title, [[text for text, _a, _b in para] for para in paras])
                  for title, paras in SECTIONS]
        manuscript = store_parsed(s, book_id, parsed, filename="son-tinh.md", format="markdown")
        chapters = s.scalars(select(Chapter).where(Chapter.book_id == book_id).order_by(Chapter.position)).all()
        for section, chapter, (_title, paras) in zip(manuscript.sections, chapters, SECTIONS):
            section.chapter_id = chapter.id
            times = [(a, b) for para in paras for _t, a, b in para]
            for sentence, (start, end) in zip(section.sentences, times):
                sentence.start_s, sentence.end_s = start, end
                sentence.confidence = None if start is None else 0.9
        manuscript.state = "aligned"
        s.flush()
        return {sentence.text: sentence.id for section in manuscript.sections for sentence in section.sentences}
