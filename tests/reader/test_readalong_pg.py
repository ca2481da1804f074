"""The read-along text and search on PostgreSQL (LIKE escaping, outer join to chapters, ordering)."""
from __future__ import annotations

import pytest

from readalong_helpers import add_manuscript
from reader_helpers import login


@pytest.fixture
def settings(settings, pg_url):  # every fixture of this module runs on a fresh PostgreSQL schema
    return {**settings, "DATABASE_URL": pg_url}


def test_text_and_folded_search_on_postgresql(app, client, make_book):
    assert app.extensions["sachnoi"].engine.dialect.name == "postgresql"
    book_id = make_book("print-disabled")
    ids = add_manuscript(app, book_id)
    assert client.get(f"/api/books/{book_id}/text").status_code == 401
    login(client, "khiemthi")
    chapters = client.get(f"/api/books/{book_id}/text").get_json()["chapters"]
    assert [len(c["sentences"]) for c in chapters] == [4, 4, 3] and chapters[2]["sentences"][1]["start_s"] == 24.2
    hits = client.get(f"/api/books/{book_id}/text/search?q=son+tinh").get_json()["hits"]
    assert len(hits) == 4 and hits[1]["sentence_id"] == ids["Hôm sau, Sơn Tinh đến trước."]
    assert hits[1]["start_s"] == pytest.approx(13.6)
    assert client.get(f"/api/books/{book_id}/text/search?q=g_p").get_json()["hits"] == []
    assert len(client.get(f"/api/books/{book_id}/text/search?q=100_").get_json()["hits"]) == 1
    assert client.get(f"/api/books/{2**31}/text/search?q=a").status_code == 404
