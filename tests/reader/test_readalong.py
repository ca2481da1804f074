"""Read-along text and search inside a book (issue 20.4): who gets the text, folded search with
marked snippets in book time, and the panel on the book page."""
from __future__ import annotations

import pytest

from readalong_helpers import add_manuscript
from reader_helpers import login


def text(client, book_id):
    return client.get(f"/api/books/{book_id}/text")


def search(client, book_id, q):
    return client.get(f"/api/books/{book_id}/text/search", query_string={"q": q})


def test_text_in_chapters_paragraphs_and_book_time(app, client, make_book):
    book_id = make_book("public")
    ids = add_manuscript(app, book_id)
    response = text(client, book_id)  # anonymous: the book is public
    assert response.status_code == 200 and response.headers["Cache-Control"] == "private, no-cache"
    chapters = response.get_json()["chapters"]
    assert [c["title"] for c in chapters] == ["Chương một: Sơn Tinh, Thủy Tinh", "Chương hai: Lễ vật",
                                             "Chương ba: Nước dâng"]
    assert [c["start_s"] for c in chapters] == [0.0, 10.0, 20.0]
    second = chapters[1]["sentences"]
    assert [s["paragraph"] for s in second] == [1, 1, 2, 2]
    assert (second[1]["start_s"], second[1]["end_s"]) == (13.6, 15.4)  # 10 s chapter start + 3.6 s
    skipped = second[2]
    assert skipped["id"] == ids["Câu này người đọc bỏ qua."] and skipped["start_s"] is None
    assert "confidence" not in skipped  # a production figure, not for readers


@pytest.mark.parametrize("policy,who,status", [
    ("public", None, 200), ("public", "bandoc", 200),
    ("members", None, 401), ("members", "bandoc", 200),
    ("print-disabled", None, 401), ("print-disabled", "bandoc", 403), ("print-disabled", "khiemthi", 200),
    ("print-disabled", "thuthu", 200),   # staff of the owning library review it
    ("print-disabled", "thuthu2", 403),  # a librarian of another library is a reader there
    ("on-site", None, 403),              # the test client is not inside the library's network
])
def test_text_and_search_follow_the_listening_policy(app, client, make_book, policy, who, status):
    book_id = make_book(policy, onsite="10.9.0.0/16" if policy == "on-site" else None)
    add_manuscript(app, book_id)
    if who:
        login(client, who)
    assert text(client, book_id).status_code == status
    found = search(client, book_id, "son tinh")
    assert found.status_code == status
    if status != 200:
        body = found.get_json()
        assert body["error"] in ("login-required", "print-disabled-only", "on-site-only") and "hits" not in body


def test_on_site_text_inside_the_library_network(app, client, make_book):
    book_id = make_book("on-site", onsite="127.0.0.0/8")
    add_manuscript(app, book_id)
    assert text(client, book_id).status_code == 200


def test_unpublished_unknown_and_textless_books(app, client, make_book):
    draft = make_book("public", published=False)
    add_manuscript(app, draft)
    bare = make_book("public", title="Không có văn bản")
    assert text(client, draft).status_code == 404
    assert search(client, draft, "son").status_code == 404
    assert text(client, bare).status_code == 404 and text(client, bare).get_json()["error"] == "no-text"
    assert search(client, bare, "son").status_code == 404
    assert text(client, 2**31).status_code == 404
    login(client, "thuthu")  # staff see their library's draft, text included
    assert text(client, draft).status_code == 200


def test_search_folds_marks_and_gives_book_time(app, client, make_book):
    book_id = make_book("public")
    ids = add_manuscript(app, book_id)
    body = search(client, book_id, "son tinh").get_json()
    hits = body["hits"]
    assert body["more"] is False
    # "son tinh" finds "Sơn Tinh" wherever it is written with diacritics, in reading order
    assert [h["sentence_id"] for h in hits] == [
        ids["Một người ở vùng núi Tản Viên, tên là Sơn Tinh."], ids["Hôm sau, Sơn Tinh đến trước."],
        ids["Thủy Tinh hô mưa gọi gió, dâng nước đánh Sơn Tinh."], ids["Sơn Tinh bốc từng quả đồi, dời từng dãy núi."]]
    for hit in hits:
        a, b = hit["mark"]
        assert hit["snippet"][a:b] == "Sơn Tinh"
    assert [h["chapter"] for h in hits] == [1, 2, 3, 3]
    assert hits[1]["start_s"] == pytest.approx(13.6) and hits[3]["start_s"] == pytest.approx(26.2)
    assert hits[1]["chapter_title"] == "Chương hai: Lễ vật"
    # diacritics in the query, other case, punctuation between words, đ
    assert [h["snippet"][slice(*h["mark"])] for h in search(client, book_id, "THỦY  tinh, HÔ").get_json()["hits"]] \
        == ["Thủy Tinh hô"]
    dd = search(client, book_id, "dung dung").get_json()["hits"]
    assert [h["snippet"][slice(*h["mark"])] for h in dd] == ["đùng đùng"]
    # a sentence the narrator skipped is found, without a time
    skipped = search(client, book_id, "bo qua").get_json()["hits"]
    assert len(skipped) == 1 and skipped[0]["start_s"] is None


def test_search_wildcards_are_text_and_empty_queries_find_nothing(app, client, make_book):
    book_id = make_book("public")
    add_manuscript(app, book_id)
    assert search(client, book_id, "g_p").get_json()["hits"] == []      # not LIKE's one-character wildcard
    assert search(client, book_id, "vua%chong").get_json()["hits"] == []  # "%" folds to a word break
    assert len(search(client, book_id, "100_").get_json()["hits"]) == 1
    for q in ("", "   ", "%", "«»", "x" * 5000):
        response = search(client, book_id, q)
        assert response.status_code == 200 and response.get_json()["hits"] == []
    from catalog.text import fold
    from readalong_helpers import SECTIONS
    with_n = [t for _title, paras in SECTIONS for para in paras for t, _a, _b in para if "n" in fold(t)]
    assert len(search(client, book_id, "N").get_json()["hits"]) == len(with_n) == 11


def test_search_says_when_there_are_more_hits(app, make_book):
    from catalog.models import Book
    from streaming import readalong
    book_id = make_book("public")
    add_manuscript(app, book_id)
    with app.extensions["sachnoi"].sessions() as s:
        hits, more = readalong.search(s, s.get(Book, book_id), None, None, "tinh", limit=2)
        assert len(hits) == 2 and more
        hits, more = readalong.search(s, s.get(Book, book_id), None, None, "tinh", limit=20)
        assert len(hits) == 5 and not more


def test_snippet_cuts_long_sentences_at_words_around_the_match():
    from streaming.readalong import _snippet
    from catalog.text import fold
    sentence = "Mở đầu " * 30 + "Sơn Tinh, Thủy Tinh" + " kết thúc" * 40
    snippet, (a, b) = _snippet(sentence, fold("son tinh thuy"))
    assert snippet.startswith("…Mở") or snippet.startswith("…đầu")
    assert snippet.endswith("…") and len(snippet) < 200
    assert snippet[a:b] == "Sơn Tinh, Thủy"
    # NFC is stored, but a mark left uncomposed must not shift the match or be cut off it
    s2, (a2, b2) = _snippet("Ai là Sơ\u0301n?", fold("so"))
    assert s2[a2:b2] == "Sơ\u0301"


def test_panel_only_with_a_manuscript_and_the_right_to_listen(app, client, make_book):
    plain = make_book("public", title="Sách chỉ có tiếng")
    with_text = make_book("public")
    locked = make_book("print-disabled", title="Sách Marrakesh")
    add_manuscript(app, with_text)
    add_manuscript(app, locked)
    assert 'id="readalong"' not in client.get(f"/books/{plain}").get_data(as_text=True)
    assert "readalong.js" not in client.get(f"/books/{plain}").get_data(as_text=True)
    page = client.get(f"/books/{with_text}").get_data(as_text=True)
    assert 'id="readalong"' in page and "readalong.js" in page and "Tự cuộn theo giọng đọc" in page
    assert f'data-text="/api/books/{with_text}/text"' in page
    assert 'id="readalong"' not in client.get(f"/books/{locked}").get_data(as_text=True)
    login(client, "khiemthi")
    assert 'id="readalong"' in client.get(f"/books/{locked}").get_data(as_text=True)


def test_panel_text_in_english(app, client, make_book):
    book_id = make_book("public")
    add_manuscript(app, book_id)
    page = client.get(f"/books/{book_id}?lang=en").get_data(as_text=True)
    assert "Read along" in page and "Follow the narration" in page
    assert 'data-msg-found="Found {n} sentences."' in page  # placeholders reach the script unformatted


def test_text_is_sent_compressed_to_clients_that_accept_it(app, client, make_book):
    import gzip
    import json
    book_id = make_book("public")
    add_manuscript(app, book_id)
    plain = text(client, book_id)
    packed = client.get(f"/api/books/{book_id}/text", headers={"Accept-Encoding": "gzip, deflate"})
    assert "Content-Encoding" not in plain.headers and packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert json.loads(gzip.decompress(packed.data)) == plain.get_json()
