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
