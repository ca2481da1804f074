"""Error pages (403, 404, 500) in the reader's language with the site's navigation and a way back,
JSON for the API, and the favicon.

A 500 page is drawn from the full template when it can be; if drawing it fails too (the database
is what broke), a plain page in both languages is sent instead of a second traceback.
"""
from __future__ import annotations

import io
from functools import lru_cache
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext as _
from PIL import Image, ImageDraw
from werkzeug.exceptions import HTTPException, InternalServerError

TEXTS = {
    403: ("Bạn không có quyền xem trang này",
          "Trang này dành cho tài khoản có quyền khác. Hãy đăng nhập bằng tài khoản phù hợp hoặc liên hệ thư viện."),
    404: ("Không tìm thấy trang",
          "Trang bạn tìm không có hoặc đã được chuyển đi. Hãy thử tìm sách, hoặc về trang chủ."),
    500: ("Máy chủ gặp lỗi",
          "Đã có lỗi ở phía thư viện, không phải do bạn. Hãy thử lại sau ít phút; nếu vẫn lỗi, hãy báo thư viện."),
}
FALLBACK_500 = ("<!doctype html><html lang=\"vi\"><meta charset=\"utf-8\"><title>Máy chủ gặp lỗi</title>"
                "<h1>Máy chủ gặp lỗi</h1><p>Hãy thử lại sau ít phút. <a href=\"/\">Về trang chủ</a></p>"
                "<p lang=\"en\">Server error: please try again in a few minutes.</p></html>")


def _back_link() -> str:
    """The referring page, only when it is on this site (never send readers off-site)."""
    referrer = request.referrer or ""
    parts = urlsplit(referrer)
    if referrer and parts.netloc == request.host and parts.path != request.path:
        return referrer
    return ""


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def error_page(error: HTTPException):
    code = error.code if error.code in TEXTS else 500
    heading, explanation = TEXTS[code]
    if _wants_json():
        return jsonify(error=_(heading), status=code), code
    try:
        return render_template("error.html", code=code, heading=_(heading), explanation=_(explanation),
                               back=_back_link()), code
    except Exception:  # drawing the page failed as well: a plain page, never a second traceback
        if code != 500:
            raise
        return Response(FALLBACK_500, status=500, mimetype="text/html")


@lru_cache(maxsize=1)
def favicon_ico() -> bytes:
    """A 'play' mark on the site's blue, as a multi-size ICO (Pillow)."""
    image = Image.new("RGBA", (64, 64), (11, 83, 148, 255))
    draw = ImageDraw.Draw(image)
    draw.polygon([(22, 16), (22, 48), (48, 32)], fill=(255, 255, 255, 255))
    out = io.BytesIO()
    image.save(out, "ICO", sizes=[(16, 16), (32, 32), (48, 48), (64, 64)])
    return out.getvalue()


def init_errors(app: Flask) -> None:
    for code in (403, 404, 500):
        app.register_error_handler(code, error_page)
    app.register_error_handler(InternalServerError, error_page)

    @app.get("/favicon.ico")
    def favicon():
        response = Response(favicon_ico(), mimetype="image/x-icon")
        response.cache_control.max_age = 86400
        return response
