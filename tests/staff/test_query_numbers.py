"""Numbers in query strings and forms that no row or period can have (found by outside testing after
the no-500 round): a year of 10000 or 20 digits, ids past int4 in `book`, `subject`, `library`,
`book_id`, `intro` and `library_id` answered 500 (OverflowError, StatsError raised again)."""
from __future__ import annotations

import pytest

HUGE = "9" * 20


@pytest.mark.parametrize("path", [
    "/stats/?year=10000", f"/stats/?year={HUGE}", "/stats/report?year=99999", "/stats/export.csv?year=99999",
    "/stats/report.xlsx?year=99999", f"/stats/export.xlsx?year={HUGE}", f"/stats/?book={HUGE}",
    f"/stats/export.csv?book={HUGE}", f"/stats/?subject={HUGE}", f"/clips/new?book_id={HUGE}",
])
def test_librarian_query_numbers_never_500(login, app, published_book, path):
    response = login("lib1").get(path)
    assert response.status_code < 500, (path, response.status_code)


def test_form_numbers_never_500(login, app, published_book):
    lib = login("lib1")
    assert lib.post("/clips/", {"book_id": HUGE, "start": "1", "end": "3"}).status_code == 400
    assert lib.post("/clips/", {"book_id": str(published_book), "start": "1", "end": "3",
                                "intro": HUGE}).status_code < 500
    admin = login("admin1")
    assert admin.get(f"/stats/?library={HUGE}").status_code == 200
    assert admin.post("/admin/users", {"username": "moi", "password": "mat-khau-dai-du-9", "role": "reader",
                                       "library_id": HUGE}).status_code == 400
    assert admin.post("/admin/users/2", {"role": "reader", "library_id": HUGE}).status_code == 400


def test_stats_csv_names_its_charset_once(login, app, published_book):
    assert login("lib1").get("/stats/export.csv").headers["Content-Type"] == "text/csv; charset=utf-8"
