"""EPUB 3 Media Overlays and DAISY 2.02 writers (delivery.epub3, delivery.daisy) on generated narration
with known sentence times: epubcheck, the DAISY 2.02 rules, and what the files say."""
from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
import zipfile

import pytest

from daisy202_rules import check_fileset
from delivery import daisy, epub3
from delivery.talking_book import TalkingBookError, clock, plan
from talking_book_helpers import EPUBCHECK_JAR, LEAD_IN_S, epubcheck, make_book, make_mp3s, sentence_times, unzip

needs_epubcheck = pytest.mark.skipif(not EPUBCHECK_JAR.is_file() or shutil.which("java") is None,
                                     reason="epubcheck (Debian package epubcheck) is not installed")
SMIL = "{http://www.w3.org/ns/SMIL}"


@pytest.fixture(scope="module")
def mp3s(tmp_path_factory):
    return make_mp3s(tmp_path_factory.mktemp("mp3"))


@pytest.fixture(scope="module", params=["full-text", "audio-only"])
def variant(request, mp3s):
    return request.param, make_book(mp3s, full_text=request.param == "full-text", cover=_cover())


def _cover() -> bytes:
    import io

    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (20, 60, 90)).save(out, "JPEG")
    return out.getvalue()


def test_plan_covers_the_audio_without_gaps_and_starts_sentences_at_their_times(mp3s):
    book = make_book(mp3s)
    for chapter, times in zip(book.chapters, sentence_times()):
        pars = plan(chapter)
        assert pars[0].fragment == "h" and pars[0].begin_s == 0 and pars[0].end_s == pytest.approx(LEAD_IN_S)
        assert [p.begin_s for p in pars[1:]] == pytest.approx([start for start, _ in times])
        assert all(a.end_s == b.begin_s for a, b in zip(pars, pars[1:]))
        assert pars[-1].end_s == chapter.duration_s


def test_plan_leaves_out_missing_and_out_of_order_sentences(mp3s):
    from dataclasses import replace
    book = make_book(mp3s)
    ch = book.chapters[0]
    s1, s2, s3 = ch.sentences
    broken = replace(ch, sentences=(s1, replace(s2, start_s=None, end_s=None), replace(s3, start_s=0.2)))
    assert [p.fragment for p in plan(broken)] == ["h", "s1"]


@needs_epubcheck
def test_epubcheck_passes_with_no_error_and_no_warning(variant, tmp_path):
    name, book = variant
    path = tmp_path / f"{name}.epub"
    epub3.write_epub(book, path)
    messages = epubcheck(path)
    bad = [(m["ID"], m["severity"], m["message"]) for m in messages if m["severity"] in ("FATAL", "ERROR", "WARNING")]
    assert bad == []


def test_epub_overlays_pair_every_timed_sentence_with_its_clip(mp3s, tmp_path):
    book = make_book(mp3s)
    path = tmp_path / "b.epub"
    epub3.write_epub(book, path)
    with zipfile.ZipFile(path) as zf:
        assert zf.infolist()[0].filename == "mimetype" and zf.infolist()[0].compress_type == zipfile.ZIP_STORED
        opf = zf.read("EPUB/package.opf").decode()
        smil = ET.fromstring(zf.read("EPUB/c001.smil"))
        xhtml = zf.read("EPUB/c001.xhtml").decode()
    pars = list(smil.iter(f"{SMIL}par"))
    texts = [p.find(f"{SMIL}text").get("src") for p in pars]
    assert texts == ["c001.xhtml#h", "c001.xhtml#s1", "c001.xhtml#s2", "c001.xhtml#s3"]
    begins = [p.find(f"{SMIL}audio").get("clipBegin") for p in pars]
    assert begins == [clock(0)] + [clock(s) for s, _ in sentence_times()[0]]
    assert '<p id="p1"><span id="s1">Làng tôi ở ven sông.</span> <span id="s2">' in xhtml
    assert 'lang="vi"' in xhtml
    assert '<dc:language>vi</dc:language>' in opf
    assert 'media-overlay="c001-mo"' in opf and 'media-overlay="c002-mo"' in opf
    durations = re.findall(r'<meta property="media:duration"(?: refines="#(c\d+-mo)")?>([^<]+)</meta>', opf)
    seconds = {ref: sum(float(x) * 60 ** i for i, x in enumerate(reversed(v.split(":")))) for ref, v in durations}
    assert seconds[""] == pytest.approx(seconds["c001-mo"] + seconds["c002-mo"], abs=0.002)
    assert seconds["c001-mo"] == pytest.approx(book.chapters[0].duration_s, abs=0.002)
    assert "<meta property=\"media:active-class\">-epub-media-overlay-active</meta>" in opf
    assert "synchronizedAudioText" in opf and "dcterms:conformsTo" in opf


def test_audio_only_epub_has_one_par_per_chapter_and_claims_no_conformance(mp3s, tmp_path):
    book = make_book(mp3s, full_text=False)
    path = tmp_path / "a.epub"
    epub3.write_epub(book, path)
    with zipfile.ZipFile(path) as zf:
        opf = zf.read("EPUB/package.opf").decode()
        pars = list(ET.fromstring(zf.read("EPUB/c002.smil")).iter(f"{SMIL}par"))
    assert len(pars) == 1 and pars[0].find(f"{SMIL}text").get("src") == "c002.xhtml#h"
    assert "synchronizedAudioText" not in opf and "conformsTo" not in opf


def test_daisy_fileset_follows_every_rule(variant, tmp_path):
    name, book = variant
    path = tmp_path / f"{name}.zip"
    daisy.write_daisy_zip(book, path)
    folder = unzip(path, tmp_path / name)
    assert check_fileset(folder) == []
    ncc = (folder / "ncc.html").read_text()
    expected = "audioFullText" if name == "full-text" else "audioNcc"
    assert f'<meta name="ncc:multimediaType" content="{expected}"/>' in ncc


@pytest.mark.parametrize("damage, rule", [
    (lambda f: _sub(f / "ncc.html", "Daisy 2.02", "Daisy 2.01"), "ncc.html: dc:format is Daisy 2.02"),
    (lambda f: _sub(f / "c001.smil", 'clip-end="npt=', 'clip-end="npt=9'), "every audio clip lies within its MP3's duration"),
    (lambda f: _sub(f / "ncc.html", "c002.smil#par1", "c002.smil#par99"),
     "ncc.html: every heading links to a smil par that exists"),
    (lambda f: _sub(f / "c002.smil", 'name="ncc:timeInThisSmil" content="00:00:0', 'name="ncc:timeInThisSmil" content="00:00:4'),
     "every smil: ncc:timeInThisSmil matches the sum of its audio clips"),
    (lambda f: _sub(f / "ncc.html", '<meta name="ncc:narrator"', '<meta name="x:narrator"'),
     "ncc.html: required meta ncc:narrator is present and not empty"),
    (lambda f: (f / "extra.mp3").write_bytes((f / "c001.mp3").read_bytes()),
     "ncc.html: ncc:files equals the number of files in the fileset"),
])
def test_the_rule_checker_names_what_is_broken(mp3s, tmp_path, damage, rule):
    path = tmp_path / "d.zip"
    daisy.write_daisy_zip(make_book(mp3s), path)
    folder = unzip(path, tmp_path / "d")
    damage(folder)
    assert rule in check_fileset(folder)


def _sub(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_a_book_without_chapters_or_audio_is_refused_and_nothing_is_written(mp3s, tmp_path):
    from dataclasses import replace
    book = make_book(mp3s)
    with pytest.raises(TalkingBookError):
        epub3.write_epub(replace(book, chapters=()), tmp_path / "x.epub")
    missing = replace(book.chapters[0], audio=tmp_path / "nope.mp3")
    with pytest.raises(TalkingBookError):
        daisy.write_daisy_zip(replace(book, chapters=(missing,)), tmp_path / "x.zip")
    assert not (tmp_path / "x.epub").exists() and not (tmp_path / "x.zip").exists()
