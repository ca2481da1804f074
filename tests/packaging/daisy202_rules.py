"""DAISY 2.02 rules, checked one by one on a fileset folder; each failure names its rule.

From the DAISY 2.02 Specification (DAISY Consortium, 2001): §2.1 NCC (exactly one ncc.html, its
required metadata, first element h1 class="title", headings linking to SMIL), §2.2 SMIL (dc:format,
ncc:timeInThisSmil, ncc:totalElapsedTime, seq dur, par/text/audio with clip-begin and clip-end),
§2.3 text content documents, §2.4 audio, Appendix 2 (metadata sets).
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from mutagen.mp3 import MP3

X = "{http://www.w3.org/1999/xhtml}"
NCC_REQUIRED = ("dc:title", "dc:creator", "dc:date", "dc:format", "dc:identifier", "dc:language", "dc:publisher",
                "ncc:charset", "ncc:generator", "ncc:narrator", "ncc:pageFront", "ncc:pageNormal",
                "ncc:pageSpecial", "ncc:tocItems", "ncc:totalTime", "ncc:multimediaType", "ncc:files",
                "ncc:depth", "ncc:setInfo")
SMIL_REQUIRED = ("dc:format", "dc:identifier", "dc:title", "ncc:timeInThisSmil", "ncc:totalElapsedTime")
MULTIMEDIA_TYPES = ("audioOnly", "audioNcc", "audioPartText", "audioFullText", "textPartAudio", "textNcc")
HEADINGS = tuple(f"{X}h{i}" for i in range(1, 7))
CLOCK_TOLERANCE_S = 1.0     # hh:mm:ss values are rounded to the second
DUR_TOLERANCE_S = 0.002     # seq dur is written to the millisecond


def _npt(value: str) -> float:
    match = re.fullmatch(r"npt=([0-9.]+)s", value or "")
    if not match:
        raise ValueError(value)
    return float(match.group(1))


def _clock(value: str) -> float:
    parts = (value or "").split(":")
    if len(parts) != 3:
        raise ValueError(value)
    return int(parts[0]) * 3600 + int(parts[1]) * 60 + float(parts[2])


def _metas(root, ns: str = "") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for meta in root.iter(f"{ns}meta"):
        if meta.get("name"):
            out.setdefault(meta.get("name"), []).append(meta.get("content", ""))
    return out


def check_fileset(folder: Path) -> list[str]:
    """The names of the rules the fileset in `folder` breaks (empty when it conforms)."""
    failed: list[str] = []

    def rule(ok: bool, name: str) -> None:
        if not ok and name not in failed:
            failed.append(name)

    names = sorted(p.name for p in folder.iterdir())
    rule([n.lower() for n in names].count("ncc.html") == 1, "fileset: exactly one ncc.html")
    if "ncc.html" not in names:
        return failed
    try:
        ncc = ET.parse(folder / "ncc.html").getroot()
    except ET.ParseError:
        return failed + ["ncc.html: is well-formed XHTML"]
    meta = _metas(ncc, X)
    for name in NCC_REQUIRED:
        rule(len(meta.get(name, [])) >= 1 and all(v.strip() for v in meta.get(name, [])),
             f"ncc.html: required meta {name} is present and not empty")
    for name in ("dc:title", "dc:format", "dc:identifier", "ncc:totalTime", "ncc:multimediaType", "ncc:files",
                 "ncc:tocItems", "ncc:depth", "ncc:charset"):
        rule(len(meta.get(name, [])) <= 1, f"ncc.html: meta {name} occurs at most once")
    rule(meta.get("dc:format") == ["Daisy 2.02"], "ncc.html: dc:format is Daisy 2.02")
    mtype = (meta.get("ncc:multimediaType") or [""])[0]
    rule(mtype in MULTIMEDIA_TYPES, "ncc.html: ncc:multimediaType is one the specification defines")
    rule((meta.get("ncc:charset") or [""])[0].lower() == "utf-8", "ncc.html: ncc:charset names the encoding used (utf-8)")
    rule(re.fullmatch(r"\d+ of \d+", (meta.get("ncc:setInfo") or [""])[0]) is not None,
         "ncc.html: ncc:setInfo reads 'n of m'")

    body = ncc.find(f"{X}body")
    first = list(body)[0] if body is not None and len(body) else None
    rule(first is not None and first.tag == f"{X}h1" and "title" in (first.get("class") or "").split(),
         "ncc.html: the first element of body is h1 class=\"title\"")
    headings = [el for el in body.iter() if el.tag in HEADINGS] if body is not None else []
    pages = [el for el in body.iter() if el.tag == f"{X}span" and (el.get("class") or "").startswith("page")] \
        if body is not None else []
    rule(str(len(headings) + len(pages)) == (meta.get("ncc:tocItems") or [""])[0],
         "ncc.html: ncc:tocItems equals the number of headings and page numbers")
    depth = max((int(h.tag[-1]) for h in headings), default=0)
    rule(str(depth) == (meta.get("ncc:depth") or [""])[0], "ncc.html: ncc:depth equals the deepest heading level")
    for name in ("ncc:pageFront", "ncc:pageNormal", "ncc:pageSpecial"):
        rule((meta.get(name) or [""])[0] == str(sum(1 for p in pages if p.get("class") == name.split(":")[1])),
             f"ncc.html: {name} equals the number of such page numbers")
    rule(all(h.get("id") for h in headings), "ncc.html: every heading has an id")

    # SMIL files, in the order the NCC first refers to them
    smil_order: list[str] = []
    targets: list[tuple[str, str]] = []
    for h in headings:
        a = h.find(f"{X}a")
        href = a.get("href", "") if a is not None else ""
        rule("#" in href and href.split("#")[0].endswith(".smil"), "ncc.html: every heading is a link to a smil file")
        if "#" in href:
            file, frag = href.split("#", 1)
            targets.append((file, frag))
            if file not in smil_order:
                smil_order.append(file)
    smil_files = sorted(n for n in names if n.endswith(".smil") and n != "master.smil")
    rule(sorted(smil_order) == smil_files, "ncc.html: every smil file is reached from the ncc")

    ids: dict[str, set[str]] = {}
    parsed: dict[str, ET.Element] = {"ncc.html": ncc}
    for name in names:
        if name.endswith((".html", ".htm")) and name != "ncc.html":
            try:
                parsed[name] = ET.parse(folder / name).getroot()
            except ET.ParseError:
                rule(False, f"content documents: {name} is well-formed XHTML")
    for name, root in parsed.items():
        found = [el.get("id") for el in root.iter() if el.get("id")]
        rule(len(found) == len(set(found)), "every file: ids are unique")
        ids[name] = set(found)

    mp3_length = {n: MP3(folder / n).info.length for n in names if n.endswith(".mp3")}
    referenced: set[str] = {"ncc.html"}
    total = 0.0
    par_ids: dict[str, list[str]] = {}
    for name in smil_order:
        if name not in names:
            rule(False, "ncc.html: every heading links to a smil par that exists")
            continue
        referenced.add(name)
        root = ET.parse(folder / name).getroot()
        smeta = _metas(root)
        for required in SMIL_REQUIRED:
            rule(bool(smeta.get(required)), f"every smil: meta {required} is present")
        rule(smeta.get("dc:format") == ["Daisy 2.02"], "every smil: dc:format is Daisy 2.02")
        rule(smeta.get("dc:identifier") == meta.get("dc:identifier"), "every smil: dc:identifier equals the ncc's")
        seqs = root.findall("body/seq")
        rule(len(seqs) == 1, "every smil: body holds exactly one seq")
        clips = 0.0
        last_end: dict[str, float] = {}
        par_ids[name] = []
        for par in root.iter("par"):
            par_ids[name].append(par.get("id") or "")
            text = par.find("text")
            rule(text is not None and bool(text.get("src")), "every par has a text element with a src")
            if text is not None and "#" in (text.get("src") or ""):
                file, frag = text.get("src").split("#", 1)
                rule(frag in ids.get(file, set()), "every text src points to an element id that exists")
                referenced.add(file)
            for audio in par.iter("audio"):
                src = audio.get("src", "")
                rule(src in mp3_length, "every audio src names an mp3 file in the fileset")
                try:
                    begin, end = _npt(audio.get("clip-begin")), _npt(audio.get("clip-end"))
                except ValueError:
                    rule(False, "every audio clip has clip-begin and clip-end as npt=…s")
                    continue
                referenced.add(src)
                rule(end > begin, "every audio clip ends after it begins")
                rule(begin >= 0 and end <= mp3_length.get(src, 0) + 0.001,
                     "every audio clip lies within its MP3's duration")
                rule(begin >= last_end.get(src, 0.0) - 0.001, "audio clips of one MP3 are in order and do not overlap")
                last_end[src] = end
                clips += end - begin
        try:
            dur = float(seqs[0].get("dur", "").rstrip("s")) if seqs else -1.0
        except ValueError:
            dur = -1.0
        rule(abs(dur - clips) <= DUR_TOLERANCE_S, "every smil: seq dur equals the sum of its audio clips")
        try:
            in_smil = _clock((smeta.get("ncc:timeInThisSmil") or [""])[0])
            elapsed = _clock((smeta.get("ncc:totalElapsedTime") or [""])[0])
        except ValueError:
            rule(False, "every smil: time metadata are clock values hh:mm:ss")
            continue
        rule(abs(in_smil - clips) <= CLOCK_TOLERANCE_S / 2 + 1e-6,
             "every smil: ncc:timeInThisSmil matches the sum of its audio clips")
        rule(abs(elapsed - total) <= CLOCK_TOLERANCE_S,
             "every smil: ncc:totalElapsedTime equals the time of the smil files before it")
        total += clips

    for file, frag in targets:
        rule(frag in par_ids.get(file, []), "ncc.html: every heading links to a smil par that exists")
    order = [(smil_order.index(f), par_ids.get(f, []).index(p)) for f, p in targets if p in par_ids.get(f, [])]
    rule(order == sorted(order), "ncc.html: headings follow the reading order of the smil files")
    try:
        rule(abs(_clock((meta.get("ncc:totalTime") or [""])[0]) - total) <= CLOCK_TOLERANCE_S,
             "ncc.html: ncc:totalTime equals the sum of the smil files' times")
    except ValueError:
        rule(False, "ncc.html: ncc:totalTime is a clock value hh:mm:ss")
    text_docs = [n for n in parsed if n != "ncc.html"]
    rule((mtype == "audioFullText") == bool(text_docs), "ncc.html: ncc:multimediaType agrees with the text present")
    if "master.smil" in names:
        referenced.add("master.smil")
        master = ET.parse(folder / "master.smil").getroot()
        refs = [r.get("src") for r in master.iter("ref")]
        rule(refs == smil_order, "master.smil: refers to every smil file in reading order")
        rule(_metas(master).get("dc:format") == ["Daisy 2.02"], "master.smil: dc:format is Daisy 2.02")
    rule(str(len(names)) == (meta.get("ncc:files") or [""])[0], "ncc.html: ncc:files equals the number of files in the fileset")
    rule(referenced == set(names), "fileset: every file is referenced (no stray files)")
    rule(all(n == n.lower() and re.fullmatch(r"[a-z0-9_.-]+", n) for n in names),
         "fileset: file names are lower-case letters, digits, '_', '-', '.'")
    return failed
