"""The parser boundary for manuscripts: EPUB 2/3 (ebooklib), DOCX (python-docx), Markdown
(markdown-it-py) and plain text → `ParsedSection`s of paragraphs of sentences (NFC).

Sections come from the author's headings: h1/h2 in EPUB (spine order), "Heading 1/2" and "Title"
styles in DOCX, `#`/`##` in Markdown, lines such as "Chương 1", "CHƯƠNG I", "Phần hai" in plain
text. Every library error becomes a `ManuscriptError` whose message says what is wrong.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

from catalog.manuscripts import ParsedSection
from catalog.text import nfc
from studio.errors import N_, StudioError
from studio.sentences import split_sentences

FORMATS = {".epub": "epub", ".docx": "docx", ".md": "markdown", ".markdown": "markdown", ".txt": "text",
           ".text": "text"}
MAX_BYTES = 50_000_000  # a novel is a few MB; anything far larger is not a manuscript
MAX_SENTENCE_CHARS = 5_000  # about a page; one sentence longer than this is text without punctuation


class ManuscriptError(StudioError):
    """A manuscript file that cannot be read (wrong format, encrypted, empty, garbage)."""


def format_of(path: str | Path) -> str:
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ManuscriptError(N_("%(name)s: định dạng không hỗ trợ, cần EPUB, DOCX, Markdown hoặc văn bản."),
                              name=Path(path).name)
    return fmt


def parse_manuscript(path: str | Path) -> tuple[str, list[ParsedSection]]:
    """(format, sections) of the file; ManuscriptError when it cannot be read or holds no text."""
    path = Path(path)
    fmt = format_of(path)
    size = path.stat().st_size
    if size == 0:
        raise ManuscriptError(N_("%(name)s: tệp rỗng."), name=path.name)
    if size > MAX_BYTES:
        raise ManuscriptError(N_("%(name)s: tệp quá lớn (quá %(limit)s MB)."), name=path.name,
                              limit=MAX_BYTES // 1_000_000)
    builder = _Builder()
    {"epub": _epub, "docx": _docx, "markdown": _markdown, "text": _text}[fmt](path, builder)
    sections = builder.sections()
    if not sections:
        raise ManuscriptError(N_("%(name)s: không tìm thấy câu chữ nào."), name=path.name)
    longest = max(len(s) for section in sections for paragraph in section.paragraphs for s in paragraph)
    if longest > MAX_SENTENCE_CHARS:  # found in QA: a 5 MB text without full stops became one "sentence"
        raise ManuscriptError(N_("%(name)s: có câu dài %(length)s ký tự (quá %(limit)s); văn bản thiếu dấu chấm câu?"),
                              name=path.name, length=f"{longest:,}".replace(",", "."),
                              limit=f"{MAX_SENTENCE_CHARS:,}".replace(",", "."))
    return fmt, sections


class _Builder:
    """Collects headings and paragraphs in reading order."""

    def __init__(self):
        self._sections: list[tuple[str, list[list[str]]]] = []

    def heading(self, title: str) -> None:
        self._sections.append((nfc(re.sub(r"\s+", " ", title)).strip(), []))

    def paragraph(self, text: str) -> None:
        sentences = split_sentences(text)
        if not sentences:
            return
        if not self._sections:
            self._sections.append(("", []))
        self._sections[-1][1].append(sentences)

    def sections(self) -> list[ParsedSection]:
        return [ParsedSection(title, paragraphs) for title, paragraphs in self._sections if paragraphs]


# -- plain text ---------------------------------------------------------------------------------------
_NUMBER_WORDS = ("một|hai|ba|bốn|tư|năm|sáu|bảy|tám|chín|mười|mười một|mười hai|cuối|mở đầu|thứ nhất|"
                 "thứ hai|thứ ba|thứ tư|thứ năm")
HEADING = re.compile(r"^\s*(chương|phần|hồi|quyển|tập|mục|lời (?:nói đầu|mở đầu|giới thiệu|kết|bạt)|"
                     r"phần kết|vĩ thanh|mở đầu|kết thúc)"
                     r"(\s+([0-9]+|[ivxlcdm]+\b|(" + _NUMBER_WORDS + r")\b))?\s*([.:–—-].{0,120})?$",
                     re.IGNORECASE)


def is_heading_line(line: str) -> bool:
    """A plain-text line that opens a section: "Chương 1", "CHƯƠNG I: Về quê", "Phần hai", "Lời nói đầu"."""
    line = nfc(line).strip()
    return 0 < len(line) <= 150 and HEADING.match(line) is not None and not line.endswith((",", ";"))


def _decode(path: Path) -> str:
    data = path.read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # Notepad's "Unicode": UTF-16 with its byte-order mark
        try:
            data = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            raise ManuscriptError(N_("%(name)s: văn bản UTF-16 hỏng."), name=path.name) from None
    if b"\x00" in data[:65536]:
        raise ManuscriptError(N_("%(name)s: không phải tệp văn bản."), name=path.name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ManuscriptError(N_("%(name)s: văn bản không phải UTF-8."), name=path.name) from None
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > max(8, len(text) // 1000):
        raise ManuscriptError(N_("%(name)s: không phải tệp văn bản."), name=path.name)
    return nfc(text.replace("\r\n", "\n").replace("\r", "\n"))


def _text(path: Path, out: _Builder) -> None:
    lines = _decode(path).split("\n")
    # blank lines separate paragraphs when the file has them; otherwise one paragraph per line
    by_blank = sum(1 for line in lines if not line.strip()) >= 1
    current: list[str] = []

    def flush():
        if current:
            out.paragraph(" ".join(current))
            current.clear()
    for line in lines:
        if is_heading_line(line):
            flush()
            out.heading(line)
        elif not line.strip():
            flush()
        else:
            current.append(line.strip())
            if not by_blank:
                flush()
    flush()


# -- Markdown -----------------------------------------------------------------------------------------
def _markdown(path: Path, out: _Builder) -> None:
    # the parser of this one format, loaded when a file in it arrives
    from markdown_it import MarkdownIt
    tokens = MarkdownIt("commonmark").parse(_decode(path))
    heading_level = None
    for token in tokens:
        if token.type == "heading_open":
            heading_level = token.tag
        elif token.type == "heading_close":
            heading_level = None
        elif token.type == "inline":
            text = "".join(child.content if child.type in ("text", "code_inline") else
                           " " if child.type in ("softbreak", "hardbreak") else ""
                           for child in token.children or [])
            if heading_level in ("h1", "h2"):
                out.heading(text)
            else:
                out.paragraph(text)


# -- DOCX ---------------------------------------------------------------------------------------------
def _docx(path: Path, out: _Builder) -> None:
    # the parser of this one format, loaded when a file in it arrives
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    if not zipfile.is_zipfile(path):
        # an encrypted DOCX is an OLE compound file (D0 CF 11 E0), not a zip
        if path.read_bytes()[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
            raise ManuscriptError(N_("%(name)s: tệp DOCX được mã hoá hoặc là DOC cũ, hãy lưu lại không mật khẩu "
                                     "dưới dạng .docx."), name=path.name)
        raise ManuscriptError(N_("%(name)s: không phải tệp DOCX."), name=path.name)
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ManuscriptError(N_("%(name)s: không đọc được tệp DOCX: %(reason)s"), name=path.name,
                              reason=exc) from None
    for para in document.paragraphs:
        style = (para.style.name if para.style is not None else "") or ""
        if style in ("Title", "Heading 1", "Heading 2") or style.startswith(("Heading 1", "Heading 2")):
            out.heading(para.text)
        else:
            out.paragraph(para.text)


# -- EPUB ---------------------------------------------------------------------------------------------
_BLOCKS = {"p", "li", "blockquote", "h3", "h4", "h5", "h6", "dd", "dt", "pre", "figcaption", "td"}


def _epub(path: Path, out: _Builder) -> None:
    # the parser of this one format, loaded when a file in it arrives
    import ebooklib
    from ebooklib import epub
    from lxml import html
    if not zipfile.is_zipfile(path):
        raise ManuscriptError(N_("%(name)s: không phải tệp EPUB."), name=path.name)
    _refuse_encrypted(path)
    try:
        book = epub.read_epub(str(path), options={"ignore_ncx": True})
    except Exception as exc:  # ebooklib raises bare Exception/KeyError/lxml errors for broken packages
        raise ManuscriptError(N_("%(name)s: không đọc được tệp EPUB: %(reason)s"), name=path.name,
                              reason=exc) from None
    for idref, _linear in book.spine:
        item = book.get_item_with_id(idref)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT or isinstance(item, epub.EpubNav):
            continue
        content = item.get_content()
        if not content.strip():
            continue
        try:
            root = html.fromstring(content)
        except Exception:  # lxml's ParserError/XMLSyntaxError: one broken document is skipped
            continue
        body = next((e for e in root.iter() if _local(e.tag) == "body"), root)
        for element in body.iter():
            tag = _local(element.tag)
            if tag in ("h1", "h2"):
                out.heading(element.text_content())
            elif tag in _BLOCKS and not any(_local(a.tag) in _BLOCKS | {"h1", "h2"} for a in element.iterancestors()):
                out.paragraph(element.text_content())


# font obfuscation (IDPF, Adobe) hides embedded fonts only; any other algorithm encrypts the text (DRM)
FONT_OBFUSCATION = {"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"}


def _refuse_encrypted(path: Path) -> None:
    """An EPUB whose META-INF/encryption.xml encrypts content (DRM) has no readable text: say so,
    instead of storing whatever unencrypted scraps it holds (found in QA: it was attached)."""
    from lxml import etree
    with zipfile.ZipFile(path) as archive:
        if "META-INF/encryption.xml" not in archive.namelist():
            return
        try:
            root = etree.fromstring(archive.read("META-INF/encryption.xml"))
        except etree.XMLSyntaxError:
            root = None
    methods = [] if root is None else [e.get("Algorithm", "") for e in root.iter()
                                       if _local(e.tag) == "encryptionmethod"]
    if root is None or any(m not in FONT_OBFUSCATION for m in methods):
        raise ManuscriptError(N_("%(name)s: EPUB được mã hoá (DRM), không đọc được nội dung; hãy dùng bản không khoá."),
                              name=path.name)


def _local(tag) -> str:
    """'p' for 'p' and '{http://www.w3.org/1999/xhtml}p'; '' for comments and processing instructions."""
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""
