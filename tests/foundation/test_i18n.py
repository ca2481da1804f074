"""The English catalogue: pages switch with ?lang=en, Vietnamese stays the default, the .po is complete
(no empty or fuzzy entry, placeholders kept) and holds every string the code and templates mark."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from catalog.accounts import create_user, get_or_create_library

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "web" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
SKIP_DIRS = {"node_modules", "artifacts", "instance", "build", "dist", "tests", "benchmarks", "docs"}
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")
VIETNAMESE = re.compile(r"[ăâđêôơưĂÂĐÊÔƠƯàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ]")


def load_catalogue():
    with open(PO, "rb") as fh:
        return read_po(fh, locale="en")


def source_msgids() -> set[str]:
    """Extract exactly as `make translations` does (babel.cfg, keywords _l and lazy_gettext)."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, filename=str(ROOT / "babel.cfg"))
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
    found = set()
    for _path, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords,
            directory_filter=lambda d: Path(d).name not in SKIP_DIRS and not Path(d).name.startswith((".", "_"))):
        found.add(message if isinstance(message, str) else message[0])
        if not isinstance(message, str):
            found.update(m for m in message[1:] if m)
    return found


def visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def login(client, username: str, password: str):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302


# -- rendering --------------------------------------------------------------------------------------
def test_default_language_is_vietnamese(client):
    html = client.get("/").get_data(as_text=True)
    assert 'lang="vi"' in html
    for text in ("Bỏ qua đến nội dung chính", "Điều hướng chính", "Trang chủ", "Đăng nhập"):
        assert text in html
    assert "Skip to main content" not in html and "Log in" not in html


def test_lang_en_renders_english_and_sticks_for_the_session(client):
    html = client.get("/?lang=en").get_data(as_text=True)
    assert 'lang="en"' in html
    for text in ("Skip to main content", 'aria-label="Main navigation"', ">Home<", ">Search<", ">Log in<"):
        assert text in html
    for text in ("Bỏ qua đến nội dung chính", "Điều hướng chính", "Trang chủ", "Đăng nhập"):
        assert text not in html
    # the choice is kept for the next page without ?lang, and ?lang=vi switches back
    assert "Skip to main content" in client.get("/login").get_data(as_text=True)
    back = client.get("/?lang=vi").get_data(as_text=True)
    assert 'lang="vi"' in back and "Bỏ qua đến nội dung chính" in back


def test_unknown_language_falls_back_to_vietnamese(client):
    html = client.get("/?lang=fr").get_data(as_text=True)
    assert 'lang="vi"' in html and "Đăng nhập" in html


@pytest.mark.parametrize("path", ["/", "/login", "/search?q=zzzz-khong-co"])
def test_english_reader_pages_show_no_vietnamese_interface_text(client, path):
    html = client.get(path + ("&" if "?" in path else "?") + "lang=en").get_data(as_text=True)
    # product name and the language switch are Vietnamese on purpose; the rest must be English
    text = visible_text(html).replace("Sách Nói", "").replace("Tiếng Việt", "")
    assert VIETNAMESE.findall(text) == [], text


def test_staff_navigation_labels_are_translated(app, client):
    """Header links come from NAV_LINKS (a table, translated through a variable)."""
    from web.app import NAV_LINKS
    with app.extensions["sachnoi"].sessions.begin() as s:
        library = get_or_create_library(s, "THV", "Thư viện tỉnh")
        create_user(s, "quantri", "mat-khau-quantri", role="admin", library=library)
    login(client, "quantri", "mat-khau-quantri")
    catalogue = load_catalogue()
    vi = client.get("/?lang=vi").get_data(as_text=True)
    shown = [label for _endpoint, label, _roles in NAV_LINKS if f">{label}</a>" in vi]
    assert "Đã nghe" in shown  # reader.history is always registered
    en = client.get("/?lang=en").get_data(as_text=True)
    for label in shown:
        english = catalogue[label].string
        assert english and f">{english}</a>" in en and f">{label}</a>" not in en
    assert ">Listening history</a>" in en and ">Log out</button>" in en


def test_flash_message_from_python_is_translated(app, client):
    client.get("/?lang=en")
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"username": "khong-co-ai", "password": "sai-mat-khau",
                                           "csrf_token": token})
    html = response.get_data(as_text=True)
    assert "Incorrect username or password." in html
    assert "Tên đăng nhập hoặc mật khẩu không đúng." not in html


# -- the catalogue ----------------------------------------------------------------------------------
def test_catalogue_is_complete_and_keeps_placeholders():
    catalogue = load_catalogue()
    messages = [m for m in catalogue if m.id]
    assert len(messages) > 300
    problems = []
    for message in messages:
        assert isinstance(message.id, str), f"unexpected plural entry {message.id!r}: handle it in this test"
        if not message.string:
            problems.append(f"untranslated: {message.id!r}")
        elif message.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        elif Counter(PLACEHOLDER.findall(message.id)) != Counter(PLACEHOLDER.findall(message.string)):
            problems.append(f"placeholders differ: {message.id!r} -> {message.string!r}")
        for error in message.check(catalogue):
            problems.append(f"{message.id!r}: {error}")
    assert not catalogue.obsolete, "obsolete entries: run `make translations`"
    assert problems == []


def test_placeholder_pattern_catches_a_lost_or_renamed_placeholder():
    assert PLACEHOLDER.findall("Đã dời mốc chương tới %(t).2f s, việc #%(id)d: %(v)s") == ["t", "id", "v"]
    assert Counter(PLACEHOLDER.findall("Moved to %(t).2f s")) != Counter(PLACEHOLDER.findall("Moved to %(s).2f s"))


def test_every_marked_string_is_in_the_catalogue():
    """A new `_()` string in a template or web/*.py without an English msgstr fails here."""
    extracted = source_msgids()
    assert {"Bỏ qua đến nội dung chính", "Đăng nhập", "Tên đăng nhập hoặc mật khẩu không đúng."} <= extracted
    assert "Phòng thu" in extracted and "Độ to tích hợp (LUFS)" in extracted  # tables via dynamic_labels.txt
    translated = {m.id for m in load_catalogue() if m.id and m.string}
    missing = sorted(extracted - translated)
    assert missing == [], f"run `make translations` and translate: {missing}"


# -- the extractor for label tables ------------------------------------------------------------------
def test_label_tables_are_extracted_by_index_attribute_and_values():
    from web.translations.dynamic import labels_for
    assert "Phòng thu" in labels_for("web.app:NAV_LINKS[1]")
    assert "Kiểm tra chất lượng" in labels_for("studio.pipeline:STAGES.label_vi")
    assert labels_for("web.jobs:STATE_LABELS") == ["Đang chờ", "Đang chạy", "Xong", "Lỗi"]


@pytest.mark.parametrize("spec", ["web.app NAV_LINKS", "web.app:NAV_LINKS", "web.app:bp"])
def test_label_spec_that_is_not_a_table_of_strings_is_refused(spec):
    from web.translations.dynamic import LabelSpecError, labels_for
    with pytest.raises(LabelSpecError):
        labels_for(spec)
