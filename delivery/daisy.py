"""DAISY 2.02 talking book: the fileset that DAISY players (hardware and software) read, as a zip.

Fileset (flat, one folder, lower-case names):
    ncc.html       navigation control centre: book metadata and one h1 per chapter (the first,
                   class "title", is the book's title) linking to a par of a SMIL file
    c001.smil      SMIL 1.0, one per chapter: <par> of a text fragment and an <audio> clip
                   (clip-begin/clip-end "npt=…s"); meta ncc:timeInThisSmil and ncc:totalElapsedTime
    c001.html      the chapter's text (full text only): <h1 id="h">, <p id="pN">, <span id="sN">
    c001.mp3       the chapter's audio
    master.smil    optional: refers to every chapter SMIL in order
Full text and audio (ncc:multimediaType audioFullText) when the book has timed sentences;
otherwise audio with NCC only (audioNcc), where each par points at the NCC heading itself.
Pars follow the plan in delivery.talking_book, shared with the EPUB 3 writer.
"""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from delivery.talking_book import (HEADING_ID, PARAGRAPH_ID, SENTENCE_ID, Par, TalkingBook, TalkingChapter, check,
                                   hms, paragraphs, plan)

FORMAT = "Daisy 2.02"
ZIP_TYPE = "application/zip"
ZIP_DATE = (2020, 1, 1, 0, 0, 0)
XHTML_DOCTYPE = ('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
                 '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">')
SMIL_DOCTYPE = '<!DOCTYPE smil PUBLIC "-//W3C//DTD SMIL 1.0//EN" "http://www.w3.org/TR/REC-smil/SMIL10.dtd">'


def _name(n: int) -> str:
    return f"c{n:03d}"


def _npt(seconds: float) -> str:
    return f"npt={seconds:.3f}s"


def _meta(name: str, content: str) -> str:
    return f'<meta name="{name}" content={quoteattr(content)}/>'


def _xhtml(lang: str, title: str, head: list[str], body: list[str]) -> str:
    nl = "\n"
    return (f'<?xml version="1.0" encoding="utf-8"?>\n{XHTML_DOCTYPE}\n'
            f'<html xmlns="http://www.w3.org/1999/xhtml" lang="{lang}" xml:lang="{lang}">\n<head>\n'
            f'<meta http-equiv="Content-type" content="text/html; charset=utf-8"/>\n<title>{escape(title)}</title>\n'
            f'{nl.join(head)}\n</head>\n<body>\n{nl.join(body)}\n</body>\n</html>\n')


def _ncc_target(n: int, pars: list[Par]) -> str:
    """The par an NCC heading links to: the chapter's first (its heading, when it has a clip)."""
    return f"{_name(n)}.smil#par1" if pars else ""


def content_document(book: TalkingBook, chapter: TalkingChapter) -> str:
    body = [f'<h1 id="{HEADING_ID}">{escape(chapter.title)}</h1>']
    for number, sentences in paragraphs(chapter):
        spans = " ".join(f'<span id="{SENTENCE_ID.format(s.position)}">{escape(s.text)}</span>' for s in sentences)
        body.append(f'<p id="{PARAGRAPH_ID.format(number)}">{spans}</p>')
    return _xhtml(book.language, chapter.title, [], body)


def smil(book: TalkingBook, n: int, pars: list[Par], elapsed_s: float, full_text: bool) -> tuple[str, float]:
    """(SMIL 1.0 text, its duration in seconds = the sum of its clips) of chapter `n`."""
    name = _name(n)
    duration = sum(p.end_s - p.begin_s for p in pars)
    body = []
    for i, par in enumerate(pars, start=1):
        # audio-only: every par of the chapter points at its NCC heading (the only text there is)
        src = f"{name}.html#{par.fragment}" if full_text else f"ncc.html#{name}"
        body.append(f'<par endsync="last" id="par{i}"><text src="{src}" id="txt{i}"/>'
                    f'<audio src="{name}.mp3" clip-begin="{_npt(par.begin_s)}" clip-end="{_npt(par.end_s)}" '
                    f'id="aud{i}"/></par>')
    head = [_meta("dc:format", FORMAT), _meta("dc:title", book.title), _meta("dc:identifier", book.identifier),
            _meta("title", book.chapters[n - 1].title), _meta("ncc:generator", book.generator),
            _meta("ncc:totalElapsedTime", hms(elapsed_s)), _meta("ncc:timeInThisSmil", hms(duration)),
            '<layout><region id="txtView"/></layout>']
    nl = "\n"
    text = (f'<?xml version="1.0" encoding="utf-8"?>\n{SMIL_DOCTYPE}\n<smil>\n<head>\n{nl.join(head)}\n</head>\n'
            f'<body>\n<seq dur="{duration:.3f}s">\n{nl.join(body)}\n</seq>\n</body>\n</smil>\n')
    return text, duration


def master_smil(book: TalkingBook, total_s: float) -> str:
    refs = "\n".join(f'<ref src="{_name(n)}.smil" title={quoteattr(ch.title)} id="ms{n}"/>'
                     for n, ch in enumerate(book.chapters, start=1))
    head = "\n".join([_meta("dc:format", FORMAT), _meta("dc:title", book.title),
                      _meta("dc:identifier", book.identifier), _meta("ncc:generator", book.generator),
                      _meta("ncc:timeInThisSmil", hms(total_s)), '<layout><region id="txtView"/></layout>'])
    return (f'<?xml version="1.0" encoding="utf-8"?>\n{SMIL_DOCTYPE}\n<smil>\n<head>\n{head}\n</head>\n'
            f'<body>\n{refs}\n</body>\n</smil>\n')


def ncc(book: TalkingBook, targets: list[str], total_s: float, n_files: int, full_text: bool) -> str:
    """ncc.html: the metadata DAISY 2.02 requires, then one h1 per chapter."""
    head = [_meta("dc:title", book.title)]
    head += [_meta("dc:creator", name) for name in book.authors] or [_meta("dc:creator", book.publisher or "-")]
    head += [_meta("dc:date", book.date or book.modified.strftime("%Y-%m-%d")),
             _meta("dc:format", FORMAT),
             _meta("dc:identifier", book.identifier),
             _meta("dc:language", book.language),
             _meta("dc:publisher", book.publisher or book.generator),
             _meta("ncc:charset", "utf-8"),
             _meta("ncc:generator", book.generator),
             _meta("ncc:narrator", ", ".join(book.narrators) or "-"),
             _meta("ncc:pageFront", "0"), _meta("ncc:pageNormal", "0"), _meta("ncc:pageSpecial", "0"),
             _meta("ncc:maxPageNormal", "0"),
             _meta("ncc:tocItems", str(len(book.chapters) + 1)),
             _meta("ncc:totalTime", hms(total_s)),
             _meta("ncc:multimediaType", "audioFullText" if full_text else "audioNcc"),
             _meta("ncc:depth", "1"),
             _meta("ncc:files", str(n_files)),
             _meta("ncc:setInfo", "1 of 1")]
    if book.summary:
        head.append(_meta("dc:description", book.summary))
    # The title heading and the first chapter's heading lead to the same place: the book has no
    # separate recording of its title.
    body = [f'<h1 class="title" id="title"><a href="{targets[0]}">{escape(book.title)}</a></h1>']
    body += [f'<h1 id="{_name(n)}"><a href="{target}">{escape(ch.title)}</a></h1>'
             for n, (ch, target) in enumerate(zip(book.chapters, targets), start=1)]
    return _xhtml(book.language, book.title, head, body)


def text_files(book: TalkingBook) -> dict[str, bytes]:
    """Every file of the fileset except the MP3s, by name."""
    full_text = book.has_text
    files: dict[str, str] = {}
    elapsed, targets = 0.0, []
    for n, chapter in enumerate(book.chapters, start=1):
        pars = plan(chapter)
        text, duration = smil(book, n, pars, elapsed, full_text)
        files[f"{_name(n)}.smil"] = text
        if full_text:
            files[f"{_name(n)}.html"] = content_document(book, chapter)
        targets.append(_ncc_target(n, pars))
        elapsed += duration
    files["master.smil"] = master_smil(book, elapsed)
    n_files = len(files) + 1 + len(book.chapters)  # + ncc.html + the MP3s
    files["ncc.html"] = ncc(book, targets, elapsed, n_files, full_text)
    return {name: text.encode("utf-8") for name, text in files.items()}


def write_daisy_zip(book: TalkingBook, dst: Path) -> None:
    """Write the fileset as a zip to `dst` (a temporary name the caller moves into place)."""
    check(book)
    files = text_files(book)
    with zipfile.ZipFile(dst, "w") as zf:
        zf.writestr(zipfile.ZipInfo("ncc.html", ZIP_DATE), files.pop("ncc.html"), compress_type=zipfile.ZIP_DEFLATED)
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name, ZIP_DATE), data, compress_type=zipfile.ZIP_DEFLATED)
        for n, chapter in enumerate(book.chapters, start=1):
            info = zipfile.ZipInfo(f"{_name(n)}.mp3", ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            with open(chapter.audio, "rb") as src, zf.open(info, "w", force_zip64=True) as out:
                shutil.copyfileobj(src, out, 1 << 20)
