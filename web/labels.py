"""Words people see for the codes stored in rows (`draft`, `public`, `dead_air`, …), in one place.

Each table maps a stored code to its Vietnamese label (English in the message catalogue);
templates call `label(kind, code)`. A code missing from its table is shown as the generic
"khác" (other) rather than raw, so a new code never leaks into a page untranslated.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel.messages.pofile import read_po
from flask_babel import gettext as _

BOOK_STATES = {"draft": "Bản nháp", "published": "Đã xuất bản", "withdrawn": "Đã rút"}
ACCESS = {"public": "Mọi người", "members": "Bạn đọc có tài khoản",
          "print-disabled": "Bạn đọc khuyết tật đọc chữ in đã đăng ký",
          "on-site": "Chỉ nghe tại thư viện"}
JOB_STATES = {"queued": "Đang chờ", "running": "Đang chạy", "done": "Xong", "failed": "Lỗi"}
REVIEW_STATES = {"pending": "Chờ duyệt", "approved": "Đã duyệt", "rejected": "Trả lại"}
CLIP_STATES = {"draft": "Bản nháp", "published": "Đã xuất bản", "scheduled": "Đã hẹn giờ"}
PROFILES = {"library-streaming": "Nghe trực tuyến ở thư viện", "acx": "ACX (Audible)", "podcast": "Podcast",
            "ebu-r128": "Phát thanh (EBU R128)"}
QC_REGIONS = {"dead_air": "Khoảng lặng số", "clipping": "Mẫu bị xén", "long_pause": "Khoảng ngừng dài",
              "noise": "Tiếng ồn"}
ROLES = {"reader": "Bạn đọc", "studio": "Phòng thu", "librarian": "Thủ thư", "admin": "Quản trị"}
CHANNELS = {"web": "Trang web", "onsite": "Tại thư viện", "app": "Ứng dụng", "embed": "Trình phát nhúng"}
LIBRARY_KINDS = {"province": "Thư viện tỉnh", "district": "Thư viện huyện"}

TABLES = {"book_state": BOOK_STATES, "access": ACCESS, "job_state": JOB_STATES, "review": REVIEW_STATES,
          "clip_state": CLIP_STATES, "profile": PROFILES, "qc_region": QC_REGIONS, "role": ROLES,
          "channel": CHANNELS, "library_kind": LIBRARY_KINDS}


def error_text(exc: Exception) -> str:
    """The message of one of our errors in the reader's language: its Vietnamese `message` is the
    msgid in the catalogue, `params` fill its placeholders (errors without them: `str(exc)`)."""
    parts = getattr(exc, "problems", None)
    if parts:
        return " ".join(error_text(part) for part in parts)
    message = getattr(exc, "message", None)
    return _(message, **getattr(exc, "params", {})) if message else str(exc)


@lru_cache(maxsize=1)
def _english() -> dict[str, str]:
    path = Path(__file__).parent / "translations" / "en" / "LC_MESSAGES" / "messages.po"
    with open(path, "rb") as fh:
        return {m.id: m.string for m in read_po(fh, locale="en") if isinstance(m.id, str) and m.id and m.string}


def cli_text(exc: Exception) -> str:
    """One of our errors for a terminal, which has no locale: the Vietnamese text, then the English
    from the same catalogue in brackets (other errors: `str(exc)`)."""
    parts = getattr(exc, "problems", None)
    if parts:
        return " ".join(cli_text(part) for part in parts)
    message, params = getattr(exc, "message", None), getattr(exc, "params", {})
    english = _english().get(message or "")
    if not english:
        return str(exc)
    return f"{str(exc)} ({english % params if params else english})"


def label(kind: str, code: str | None) -> str:
    """The translated label of `code` in table `kind` ('book_state', 'access', …)."""
    text = TABLES[kind].get(code or "")
    return _(text) if text else _("Khác")
