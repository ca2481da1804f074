"""EPUB 3 with Media Overlays: the book's text synchronised with its narration, in one .epub file.

Layout inside the zip (paths of the package document's folder, EPUB/):
    mimetype, META-INF/container.xml
    EPUB/package.opf       metadata (media:duration per overlay and in total, media:active-class,
                           accessibility metadata), manifest with media-overlay on each chapter
    EPUB/nav.xhtml         table of contents (chapters)
    EPUB/c001.xhtml        a chapter: <h1 id="h">, paragraphs <p id="pN"> of sentences <span id="sN">
    EPUB/c001.smil         its overlay: one <par> per sentence (plan in delivery.talking_book)
    EPUB/audio/c001.mp3    its audio, stored uncompressed
    EPUB/style.css, EPUB/cover.jpg|png
Audio-only (no timed sentences): each chapter document holds its title and one par for the chapter.
Written with the standard library: the format is a handful of small XML files, and the
templates below read like the specification's examples.
"""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from delivery.talking_book import (HEADING_ID, PARAGRAPH_ID, SENTENCE_ID, TalkingBook, TalkingChapter, check,
                                   clock, paragraphs, plan)

MEDIA_TYPE = "application/epub+zip"
ACTIVE_CLASS = "-epub-media-overlay-active"
A11Y_CONFORMS = "http://www.idpf.org/epub/a11y/accessibility-20170105.html#wcag-aa"
ZIP_DATE = (2020, 1, 1, 0, 0, 0)
SECTION_ID = "chapter"

CSS = f"""body {{ font-family: serif; line-height: 1.5; margin: 1em; }}
h1 {{ font-size: 1.4em; }}
.{ACTIVE_CLASS} {{ background-color: #ffe066; color: #000000; }}
"""

CONTAINER = """<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles>
    <rootfile full-path="EPUB/package.opf" media-type="application/oebps-package+xml"/>
  </rootfiles>
</container>
"""


def _name(n: int) -> str:
    return f"c{n:03d}"


def _xhtml(title: str, lang: str, body: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" lang="{lang}" xml:lang="{lang}">
<head>
<meta charset="UTF-8"/>
<title>{escape(title)}</title>
<link rel="stylesheet" type="text/css" href="style.css"/>
</head>
<body>
{body}
</body>
</html>
"""


def chapter_document(book: TalkingBook, chapter: TalkingChapter) -> str:
    """The chapter's XHTML content document: heading, then paragraphs of sentence spans."""
    parts = [f'<section id="{SECTION_ID}" epub:type="chapter" role="doc-chapter" aria-labelledby="{HEADING_ID}">',
             f'<h1 id="{HEADING_ID}">{escape(chapter.title)}</h1>']
    for number, sentences in paragraphs(chapter):
        spans = " ".join(f'<span id="{SENTENCE_ID.format(s.position)}">{escape(s.text)}</span>'
                         for s in sentences)
        parts.append(f'<p id="{PARAGRAPH_ID.format(number)}">{spans}</p>')
    parts.append("</section>")
    return _xhtml(chapter.title, book.language, "\n".join(parts))


def overlay(n: int, chapter: TalkingChapter) -> tuple[str, float]:
    """(SMIL text, its duration in seconds = the sum of its clips) of chapter `n` (1-based)."""
    name = _name(n)
    pars, total = [], 0.0
    for i, par in enumerate(plan(chapter), start=1):
        total += par.end_s - par.begin_s
        pars.append(f'<par id="par{i}"><text src="{name}.xhtml#{par.fragment}"/>'
                    f'<audio src="audio/{name}.mp3" clipBegin="{clock(par.begin_s)}" clipEnd="{clock(par.end_s)}"/></par>')
    smil = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<smil xmlns="http://www.w3.org/ns/SMIL" xmlns:epub="http://www.idpf.org/2007/ops" version="3.0">\n'
            f'<body>\n<seq id="seq1" epub:textref="{name}.xhtml#{SECTION_ID}" epub:type="chapter">\n'
            + "\n".join(pars) + "\n</seq>\n</body>\n</smil>\n")
    return smil, total


def nav_document(book: TalkingBook) -> str:
    items = "\n".join(f'<li><a href="{_name(n)}.xhtml">{escape(ch.title)}</a></li>'
                      for n, ch in enumerate(book.chapters, start=1))
    body = (f'<nav epub:type="toc" role="doc-toc" id="toc" aria-labelledby="toc-title">\n<h1 id="toc-title">Mục lục</h1>\n'
            f'<ol>\n{items}\n</ol>\n</nav>')
    return _xhtml(book.title, book.language, body)


def _accessibility(book: TalkingBook, full_text: bool) -> list[str]:
    meta = ['<meta property="schema:accessMode">auditory</meta>',
            '<meta property="schema:accessMode">textual</meta>',
            '<meta property="schema:accessModeSufficient">auditory</meta>',
            '<meta property="schema:accessibilityFeature">structuralNavigation</meta>',
            '<meta property="schema:accessibilityFeature">tableOfContents</meta>',
            '<meta property="schema:accessibilityFeature">readingOrder</meta>',
            '<meta property="schema:accessibilityHazard">none</meta>']
    if full_text:
        # The whole text is there and synchronised: it stands on its own, and the content meets
        # WCAG AA (real text, language, headings, nav). Audio-only books do not: WCAG 1.2.1 wants a
        # text alternative for prerecorded audio, so they claim no conformance.
        meta += ['<meta property="schema:accessModeSufficient">textual</meta>',
                 '<meta property="schema:accessibilityFeature">synchronizedAudioText</meta>',
                 '<meta property="schema:accessibilitySummary">Sách nói có toàn văn: văn bản được đồng bộ '
                 'với giọng đọc theo từng câu, có mục lục theo chương.</meta>',
                 f'<link rel="dcterms:conformsTo" href="{A11Y_CONFORMS}"/>',
                 f'<meta property="a11y:certifiedBy">{escape(book.publisher or book.generator)}</meta>']
    else:
        meta.append('<meta property="schema:accessibilitySummary">Sách nói chỉ có âm thanh: mỗi chương là '
                    'một tệp âm thanh, điều hướng theo chương; không có toàn văn.</meta>')
    return meta


def package_document(book: TalkingBook, durations: list[float]) -> str:
    """The OPF package document; `durations` are the overlays' durations (s), one per chapter."""
    full_text = book.has_text
    meta = [f'<dc:identifier id="uid">{escape(book.identifier)}</dc:identifier>',
            f'<dc:title>{escape(book.title)}</dc:title>',
            f'<dc:language>{escape(book.language)}</dc:language>',
            f'<meta property="dcterms:modified">{book.modified.strftime("%Y-%m-%dT%H:%M:%SZ")}</meta>']
    meta += [f'<dc:creator>{escape(name)}</dc:creator>' for name in book.authors]
    meta += [f'<meta property="media:narrator">{escape(name)}</meta>' for name in book.narrators]
    if book.publisher:
        meta.append(f'<dc:publisher>{escape(book.publisher)}</dc:publisher>')
    if book.date:
        meta.append(f'<dc:date>{escape(book.date)}</dc:date>')
    if book.summary:
        meta.append(f'<dc:description>{escape(book.summary)}</dc:description>')
    meta.append(f'<meta property="media:duration">{clock(sum(durations))}</meta>')
    meta += [f'<meta property="media:duration" refines="#{_name(n)}-mo">{clock(d)}</meta>'
             for n, d in enumerate(durations, start=1)]
    meta.append(f'<meta property="media:active-class">{ACTIVE_CLASS}</meta>')
    meta += _accessibility(book, full_text)

    items = ['<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>',
             '<item id="css" href="style.css" media-type="text/css"/>']
    if book.cover:
        ext = "png" if book.cover_type == "image/png" else "jpg"
        items.append(f'<item id="cover" href="cover.{ext}" media-type="{book.cover_type}" properties="cover-image"/>')
    spine = []
    for n in range(1, len(book.chapters) + 1):
        name = _name(n)
        items += [f'<item id="{name}" href="{name}.xhtml" media-type="application/xhtml+xml" media-overlay="{name}-mo"/>',
                  f'<item id="{name}-mo" href="{name}.smil" media-type="application/smil+xml"/>',
                  f'<item id="{name}-audio" href="audio/{name}.mp3" media-type="audio/mpeg"/>']
        spine.append(f'<itemref idref="{name}"/>')
    nl = "\n    "
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="uid" xml:lang={quoteattr(book.language)}>
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    {nl.join(meta)}
  </metadata>
  <manifest>
    {nl.join(items)}
  </manifest>
  <spine>
    {nl.join(spine)}
  </spine>
</package>
"""


def text_files(book: TalkingBook) -> dict[str, bytes]:
    """Every file of the EPUB except the audio and the cover, by path in the zip."""
    files = {"mimetype": MEDIA_TYPE.encode("ascii"), "META-INF/container.xml": CONTAINER.encode()}
    durations = []
    for n, chapter in enumerate(book.chapters, start=1):
        smil, duration = overlay(n, chapter)
        durations.append(duration)
        files[f"EPUB/{_name(n)}.xhtml"] = chapter_document(book, chapter).encode()
        files[f"EPUB/{_name(n)}.smil"] = smil.encode()
    files["EPUB/nav.xhtml"] = nav_document(book).encode()
    files["EPUB/style.css"] = CSS.encode()
    files["EPUB/package.opf"] = package_document(book, durations).encode()
    return files


def write_epub(book: TalkingBook, dst: Path) -> None:
    """Write the EPUB to `dst` (the caller gives a temporary name and moves it into place).
    `mimetype` comes first and stored, as OCF requires; audio is stored (already compressed)."""
    check(book)
    files = text_files(book)
    with zipfile.ZipFile(dst, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype", ZIP_DATE), files.pop("mimetype"), compress_type=zipfile.ZIP_STORED)
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name, ZIP_DATE), data, compress_type=zipfile.ZIP_DEFLATED)
        if book.cover:
            ext = "png" if book.cover_type == "image/png" else "jpg"
            zf.writestr(zipfile.ZipInfo(f"EPUB/cover.{ext}", ZIP_DATE), book.cover, compress_type=zipfile.ZIP_STORED)
        for n, chapter in enumerate(book.chapters, start=1):
            _store(zf, f"EPUB/audio/{_name(n)}.mp3", chapter.audio)


def _store(zf: zipfile.ZipFile, arcname: str, path: Path) -> None:
    info = zipfile.ZipInfo(arcname, ZIP_DATE)
    info.compress_type = zipfile.ZIP_STORED
    with open(path, "rb") as src, zf.open(info, "w", force_zip64=True) as out:
        shutil.copyfileobj(src, out, 1 << 20)
