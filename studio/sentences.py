"""Vietnamese sentence splitting: text (NFC) → sentences, with the rules Vietnamese prose needs.

Hand-written on purpose: the maintained splitters either have no Vietnamese rules (pysbd, NLTK's
Punkt would need a trained model) or bring a large NLP stack (underthesea). The rules are few:

- a sentence ends at `.`, `!`, `?` or an ellipsis, with any closing quotes or brackets kept on it,
  and only when the next sentence starts with a capital letter, a digit or an opening quote/dash
  (so `"…đi thôi!" anh nói.` stays one sentence, and so does `đi… rồi về`);
- never after a title or place abbreviation (`TS.`, `PGS.`, `TP.`, `Q.`, `ô.` …) or an initial
  (`Nguyễn V. A.`), nor after a leading list number (`1. Mở đầu`);
- `v.v.`, `tr.` and the like end a sentence only when a capital follows them;
- numbers such as `3,5` and `1.000.000` have no space after the point, so they never split.
"""
from __future__ import annotations

import re

from catalog.text import nfc

# Never end a sentence: a name or a number follows them. Compared case-sensitively, without the dot.
# Only abbreviations: whole words that end sentences ("cây số.", "gặp bà.") must not be listed.
TITLES = frozenset("""
    TP Tp tp TX Tx TT Q P X H Kp KP ĐT Đt
    GS PGS TS ThS Ths TSKH BS BSCK KS KTS CN NCS NSND NSƯT NGND NGƯT HLV
    GS.TS PGS.TS GS.TSKH TS.BS ThS.BS
    Ô ô B b Đ St Mr Mrs Ms Dr Prof Sr Jr No Nr TK Tk tk Tr NXB Nxb
""".split())
# End a sentence only when a capital follows (they often close a list: "sách, báo, v.v.").
SOFT = frozenset("v.v v.v.v tr Tr vd Vd VD etc tp ...".split())

_CLOSERS = "\"'”’»)]}"
_OPENERS = "\"'“‘«([{–—-"
# a candidate end: terminal punctuation, closers, whitespace; group 1 = what stays on the sentence
_END = re.compile(r"((?:\.{3}|…|[.!?])+[" + re.escape(_CLOSERS) + r"]*)(\s+)")


def _word_before(text: str, end: int) -> str:
    """The token that ends at `end` (the terminal punctuation excluded), e.g. 'TS' in '… TS. Lan'."""
    start = end
    while start > 0 and not text[start - 1].isspace() and text[start - 1] not in _OPENERS:
        start -= 1
    return text[start:end]


def _starts_sentence(text: str, i: int) -> bool:
    while i < len(text) and text[i] in _OPENERS + " ":
        i += 1
    return i < len(text) and (text[i].isupper() or text[i].isdigit())


def _keeps_going(text: str, sentence_start: int, match: re.Match) -> bool:
    """True when the punctuation at `match` does not end the sentence."""
    punct = match.group(1).rstrip(_CLOSERS)
    if not _starts_sentence(text, match.end()):
        return True
    if punct != ".":
        return False  # !, ?, ellipsis followed by a capital: a new sentence
    word = _word_before(text, match.start(1))
    if word in TITLES or word.rstrip(".") in TITLES:
        return True
    if word in SOFT or word.rstrip(".") in SOFT:
        return False  # a capital follows (checked above)
    if len(word) == 1 and word.isupper():
        return True  # an initial: "Nguyễn V. A."
    if len(word) >= 2 and word[-2] == "." and word[-1].isupper():
        return True  # chained initials: "V.A."
    if (word.isdigit() or re.fullmatch(r"[IVXLC]+", word)) and match.start(1) - len(word) == sentence_start:
        return True  # a list or chapter number leading the sentence: "1. Mở đầu", "II. Bối cảnh"
    return False


def split_sentences(text: str) -> list[str]:
    """The sentences of one paragraph, NFC, whitespace collapsed, in order."""
    text = re.sub(r"\s+", " ", nfc(text)).strip()
    out, start = [], 0
    for match in _END.finditer(text):
        if _keeps_going(text, start, match):
            continue
        out.append(text[start:match.end(1)].strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return [s for s in out if any(ch.isalnum() for ch in s)]
