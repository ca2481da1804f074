"""Our errors carry a Vietnamese msgid and its parameters; web.labels.error_text shows them in the
reader's language (str() stays Vietnamese, for logs and the CLI)."""
from __future__ import annotations

from catalog.errors import N_, CatalogError, PublicationRefused
from streaming.errors import BookmarkMissing
from studio.errors import ReviewError
from web.labels import error_text


def test_error_text_follows_the_language(app):
    error = CatalogError(N_("Không có sách số %(id)s."), id=5)
    assert str(error) == "Không có sách số 5."
    with app.test_request_context("/?lang=en"):
        assert error_text(error) == "No book number 5."
        assert error_text(ReviewError(N_("Trả lại cần ghi rõ lý do."))) != "Trả lại cần ghi rõ lý do."
        assert error_text(BookmarkMissing(N_("Không tìm thấy dấu trang."))) == "Bookmark not found."
        refused = PublicationRefused([CatalogError(N_("Sách chưa có bản master.")),
                                      CatalogError(N_("Chương chưa đạt QC và chưa được phòng thu duyệt: %(names)s."),
                                                   names="Chương 2")])
        assert error_text(refused) == ("The book has no masters yet. Chapters that failed QC and were not "
                                       "approved by the studio: Chương 2.")
        assert error_text(ValueError("khác")) == "khác"  # not ours: as it is
    with app.test_request_context("/"):
        assert error_text(error) == "Không có sách số 5."


def test_api_errors_follow_the_language(client):
    """A JSON error from the API: Vietnamese by default, English after the site's language switch."""
    login = client.get("/api/books/999999/progress")
    assert login.status_code == 401 and login.get_json()["message"] == "Cần đăng nhập."
    missing = client.get("/api/books/999999/token")
    assert missing.status_code == 404 and missing.get_json()["message"] == "Không tìm thấy sách."
    client.get("/?lang=en")  # the site's language switch, kept in the session
    assert client.get("/api/books/999999/progress").get_json()["message"] == "Login required."
    assert client.get("/api/books/999999/token").get_json()["message"] == "Book not found."


def test_number_policy_message_follows_the_language(app):
    from web.validation import NumberPolicyError, check_number_fields
    try:
        check_number_fields({"position_s": "1e400"}, ["position_s"])
    except NumberPolicyError as exc:
        error = exc
    assert str(error) == "position_s: số ngoài giới hạn."
    with app.test_request_context("/?lang=en"):
        assert error_text(error) == "position_s: number out of range."


def test_cli_text_is_vietnamese_then_english_from_the_catalogue():
    """The terminal has no locale: our errors print both languages, the English from messages.po."""
    from studio.manuscript_formats import ManuscriptError
    from web.labels import cli_text
    error = ManuscriptError(N_("%(name)s: không phải tệp EPUB."), name="x.epub")
    assert cli_text(error) == "x.epub: không phải tệp EPUB. (x.epub: not an EPUB file.)"
    assert cli_text(ValueError("khác")) == "khác"
