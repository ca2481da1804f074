"""Vietnamese search on SQLite (FTS5) and PostgreSQL (tsvector): the same table of queries on both."""
from __future__ import annotations

import pytest

from catalog import books
from catalog.models import Library
from catalog.search import count_books, rebuild_index, search_books, tone_key
from catalog.text import fold, sort_key


def _seed(s):
    lib = Library(code="THV", name="Thư viện tỉnh", kind="province")
    s.add(lib)
    s.flush()
    made = {}
    for title, authors, narrators, subjects, series in [
        ("Trương Định", ["Nguyễn Văn Khánh"], ["Lê Thu"], ["Lịch sử"], "Danh nhân đất Việt"),
        ("Trường Đình", ["Phạm Hữu"], [], ["Kiến trúc"], None),
        ("Hoà bình", ["Vũ Hoà"], [], [], None),
        ("Hoa học trò", ["Ngọc Ánh"], [], ["Thơ"], None),
        ("Đất rừng phương Nam", ["Đoàn Giỏi"], ["Trần Đức"], ["Văn học thiếu nhi"], None),
        ("Dế Mèn phiêu lưu ký", ["Tô Hoài"], ["Lê Hoà"], ["Văn học thiếu nhi"], None),
    ]:
        b = books.create_book(s, library=lib, title=title, authors=authors, narrators=narrators,
                              subjects=subjects, series=series)
        books.publish(s, b)
        made[title] = b
    made["draft"] = books.create_book(s, library=lib, title="Số đỏ", authors=["Vũ Trọng Phụng"])
    gone = books.create_book(s, library=lib, title="Trương Định truyện cũ", authors=["Ai đó"])
    books.publish(s, gone)
    books.delete_book(s, gone)
    made["deleted"] = gone
    s.commit()
    return made


QUERIES = [
    # query, titles that must be found, title that must rank first (or None)
    ("truong dinh", {"Trương Định", "Trường Đình"}, None),
    ("Trương Định", {"Trương Định", "Trường Đình"}, "Trương Định"),
    ("TRƯƠNG ĐỊNH", {"Trương Định", "Trường Đình"}, "Trương Định"),
    ("trường đình", {"Trương Định", "Trường Đình"}, "Trường Đình"),
    ("TRUONG DINH", {"Trương Định", "Trường Đình"}, None),
    ("Hòa bình", {"Hoà bình"}, "Hoà bình"),          # new tone placement finds old
    ("hoà bình", {"Hoà bình"}, "Hoà bình"),
    ("hoa binh", {"Hoà bình"}, "Hoà bình"),
    ("hoa", {"Hoa học trò", "Hoà bình", "Dế Mèn phiêu lưu ký"}, "Hoa học trò"),  # narrator Lê Hoà, author Tô Hoài
    ("hòa", {"Hoà bình", "Dế Mèn phiêu lưu ký", "Hoa học trò"}, "Hoà bình"),  # marks rank, not filter
    ("đất rừng", {"Đất rừng phương Nam"}, "Đất rừng phương Nam"),
    ("dat rung", {"Đất rừng phương Nam"}, None),
    ("DOAN GIOI", {"Đất rừng phương Nam"}, None),      # contributor, đ folded by hand
    ("van hoc thieu nhi", {"Đất rừng phương Nam", "Dế Mèn phiêu lưu ký"}, None),  # subject
    ("danh nhan", {"Trương Định"}, None),               # series
    ("de men", {"Dế Mèn phiêu lưu ký"}, None),
    ("phieu lu", {"Dế Mèn phiêu lưu ký"}, None),      # last word as a prefix while typing
    ("so do", set(), None),                            # draft: not for readers
    ("truyen cu", set(), None),                        # deleted: never
    ("zzzz", set(), None),
    ("", {"Trương Định", "Trường Đình", "Hoà bình", "Hoa học trò", "Đất rừng phương Nam",
          "Dế Mèn phiêu lưu ký"}, None),
    ("  \"; DROP TABLE books; --", set(), None),      # punctuation is not query syntax
]


@pytest.mark.parametrize("q,expected,first", QUERIES)
def test_vietnamese_queries(any_session, q, expected, first):
    _seed(any_session)
    found = [b.title for b in search_books(any_session, q, limit=50)]
    assert set(found) == expected
    assert len(found) == len(set(found))
    if first:
        assert found[0] == first


def test_same_ranking_on_both_databases(session, pg_session):
    _seed(session)
    _seed(pg_session)
    for q, _, first in QUERIES:
        a = [b.title for b in search_books(session, q, limit=50)]
        b = [b.title for b in search_books(pg_session, q, limit=50)]
        assert set(a) == set(b), q
        if first:  # ties among equally good matches may break differently (bm25 vs ts_rank)
            assert a[:1] == b[:1], q


def test_unpublished_for_staff_but_never_deleted(any_session):
    _seed(any_session)
    assert [b.title for b in search_books(any_session, "so do", include_unpublished=True)] == ["Số đỏ"]
    assert search_books(any_session, "truyen cu", include_unpublished=True) == []


def test_empty_query_lists_in_vietnamese_alphabet_order(any_session):
    _seed(any_session)
    titles = [b.title for b in search_books(any_session, "", limit=50)]
    # d < đ; letters decide before tones ("Hoà b…" < "Hoa h…"); tones break ties (ngang < huyền)
    assert titles == ["Dế Mèn phiêu lưu ký", "Đất rừng phương Nam", "Hoà bình", "Hoa học trò",
                      "Trương Định", "Trường Đình"]
    assert sort_key("Hoa") < sort_key("Hòa") == sort_key("Hoà") < sort_key("Hoang")
    assert titles == sorted(titles, key=sort_key)


def test_paging_and_count(any_session):
    _seed(any_session)
    first = search_books(any_session, "", limit=4)
    rest = search_books(any_session, "", limit=4, offset=4)
    assert len(first) == 4 and len(rest) == 2
    assert not {b.id for b in first} & {b.id for b in rest}
    assert count_books(any_session, "truong dinh") == 2


def test_edits_reach_the_index(any_session):
    made = _seed(any_session)
    books.update_book(any_session, made["Hoa học trò"], title="Mùa thu vàng", narrators=["Hồng Nhung"])
    any_session.commit()
    assert search_books(any_session, "hoa hoc tro") == []
    assert [b.title for b in search_books(any_session, "mua thu")] == ["Mùa thu vàng"]
    assert [b.title for b in search_books(any_session, "hong nhung")] == ["Mùa thu vàng"]
    books.withdraw(any_session, made["Mùa thu vàng"] if "Mùa thu vàng" in made else made["Hoa học trò"])
    any_session.commit()
    assert search_books(any_session, "mua thu") == []
    assert rebuild_index(any_session) == 7  # all non-deleted books, drafts and withdrawn included
    assert [b.title for b in search_books(any_session, "mua thu", include_unpublished=True)] == ["Mùa thu vàng"]


def test_folding_and_tone_keys():
    assert fold("Trương Định") == "truong dinh"
    assert fold("ĐẶNG") == "dang"
    assert tone_key("Hoà") == tone_key("Hòa") == "hoa1"
    assert tone_key("Thuỷ") == tone_key("Thủy")
    assert tone_key("Hoa") != tone_key("Hòa")


# -- issue 16.5: summary, publisher, ISBN and chapter titles are searched, ranked title > chapter > summary

DEMO_TOML = __import__("pathlib").Path(__file__).resolve().parents[2] / "examples" / "demo-session" / "session.toml"


def _demo_book(s):
    """The demo book's record as `sachnoi demo` makes it (metadata and chapter titles from session.toml)."""
    import tomllib
    from catalog.models import Chapter
    meta = tomllib.loads(DEMO_TOML.read_text(encoding="utf-8"))
    book_meta = meta["book"]
    lib = Library(code="DEMO", name="Thư viện mẫu", kind="province")
    s.add(lib)
    s.flush()
    book = books.create_book(s, library=lib, title=book_meta["title"], subtitle=book_meta["subtitle"],
                             authors=book_meta["authors"], narrators=book_meta["narrators"],
                             summary=book_meta["summary"], publisher=book_meta["publisher"],
                             subjects=book_meta["subjects"], isbn_audio="978-604-1-23456-7")
    for i, title in enumerate(meta["chapters"]["titles"]):
        s.add(Chapter(book_id=book.id, position=i + 1, title=title))  # as the studio pipeline writes them
    books.publish(s, book)
    s.commit()
    return book


@pytest.mark.parametrize("q", ["Thánh Gióng", "thanh giong", "Son Tinh", "Sơn Tinh", "hai anh em", "HAI ANH EM",
                               "trau cau", "Bình Dương", "binh duong", "9786041234567", "978-604-1-23456-7"])
def test_demo_book_found_by_chapter_summary_publisher_and_isbn(any_session, q):
    """Issue 16.5: "Thánh Gióng", "Son Tinh", "hai anh em" (chapters, summary), publisher and ISBN returned nothing."""
    book = _demo_book(any_session)
    assert [b.id for b in search_books(any_session, q)] == [book.id]


def test_title_ranks_over_chapter_over_summary(any_session):
    """Issue 16.5: a title match ranks first, then a chapter title, then a summary mention."""
    from catalog.models import Chapter
    lib = Library(code="THV", name="Thư viện tỉnh", kind="province")
    any_session.add(lib)
    any_session.flush()
    # alphabet order alone would give the reverse: A… < B… < C…
    in_summary = books.create_book(any_session, library=lib, title="A di tích", summary="Kể về Sơn Tinh.")
    in_chapter = books.create_book(any_session, library=lib, title="B truyện cổ")
    any_session.add(Chapter(book_id=in_chapter.id, position=1, title="Sơn Tinh, Thủy Tinh"))
    in_title = books.create_book(any_session, library=lib, title="Chuyện Sơn Tinh")
    for b in (in_summary, in_chapter, in_title):
        books.publish(any_session, b)
    any_session.commit()
    for q in ("son tinh", "Sơn Tinh", "sơn tin"):
        assert [b.id for b in search_books(any_session, q)] == [in_title.id, in_chapter.id, in_summary.id], q


def test_chapter_changes_reach_the_index(any_session):
    """Issue 16.5: chapters written outside catalog.books (the studio pipeline) keep the index current."""
    from catalog.models import Chapter
    book = _demo_book(any_session)
    chapter = any_session.scalars(
        __import__("sqlalchemy").select(Chapter).where(Chapter.book_id == book.id, Chapter.position == 2)).one()
    chapter.title = "Chương 2: Ông Gióng nhổ tre"
    any_session.commit()
    assert search_books(any_session, "nho tre") != []
    assert [b.id for b in search_books(any_session, "thanh giong")] == [book.id]  # still in the summary
    any_session.delete(chapter)
    any_session.commit()
    assert search_books(any_session, "nho tre") == []


def test_an_index_of_the_older_shape_is_rebuilt(tmp_path):
    """A database whose index predates chapters/summary (migration 0002 only) is upgraded by 0011."""
    from sqlalchemy import insert
    from sqlalchemy import text as sql
    from catalog import migrate
    from catalog.models import Book
    from catalog.db import make_engine, make_sessionmaker
    url = f"sqlite:///{tmp_path}/old.db"
    migrate.upgrade(url, "0004")
    engine = make_engine(url)
    with engine.begin() as conn:
        # rows as the older code left them (the 0004 schema), without going through today's index
        conn.execute(sql("INSERT INTO libraries (code, name, kind, delivery_profile, onsite_networks, created_at, "
                         "updated_at) VALUES ('THV', 'Thư viện tỉnh', 'province', 'library-streaming', '', "
                         "'2020-01-01', '2020-01-01')"))
        conn.execute(insert(Book).values(library_id=1, title="Cũ", title_folded="cu", summary="Sơn Tinh",
                                         state="published"))
    engine.dispose()
    migrate.upgrade(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        assert [b.title for b in search_books(s, "son tinh")] == ["Cũ"]
    engine.dispose()
