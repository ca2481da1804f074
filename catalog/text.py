"""Vietnamese text: NFC storage, diacritic folding for search, alphabet-order sort keys.

Folding follows DESIGN.md: NFD, drop combining marks, then đ→d and Đ→D by hand (đ has no
decomposition). Sort keys order letters as the Vietnamese alphabet does
(a ă â b c d đ e ê g h i k l m n o ô ơ p q r s t u ư v x y), tones breaking ties.
"""
from __future__ import annotations

import re
import unicodedata

# Tone order as CLDR's Vietnamese collation: ngang, huyền, hỏi, ngã, sắc, nặng.
_TONES = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}
_LETTER_MARKS = {"\u0306": "\u0306", "\u0302": "\u0302", "\u031b": "\u031b"}  # breve, circumflex, horn
_ALPHABET = ["a", "a\u0306", "a\u0302", "b", "c", "d", "đ", "e", "e\u0302", "f", "g", "h", "i", "j", "k",
             "l", "m", "n", "o", "o\u0302", "o\u031b", "p", "q", "r", "s", "t", "u", "u\u031b", "v",
             "w", "x", "y", "z"]
_RANK = {letter: i for i, letter in enumerate(_ALPHABET)}
_WORDS = re.compile(r"\w+", re.UNICODE)


def nfc(text: str | None) -> str:
    """Text as stored: NFC, surrounding white space removed."""
    return unicodedata.normalize("NFC", text or "").strip()


def fold(text: str | None) -> str:
    """Lower-case, mark-free form for matching: 'Trương Định' -> 'truong dinh'."""
    decomposed = unicodedata.normalize("NFD", text or "")
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    stripped = stripped.replace("đ", "d").replace("Đ", "D")
    return " ".join(_WORDS.findall(stripped.lower()))


def _letters(text: str):
    """Yield (letter, tone) for each letter of `text`, letters with their vowel marks kept."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    letter, tone = None, 0
    for ch in decomposed:
        if unicodedata.combining(ch):
            if ch in _LETTER_MARKS and letter is not None:
                letter += ch
            elif ch in _TONES:
                tone = _TONES[ch]
            continue
        if letter is not None:
            yield letter, tone
        letter, tone = ch, 0
    if letter is not None:
        yield letter, tone


def sort_key(text: str | None) -> str:
    """An ASCII key whose byte order is Vietnamese alphabet order (tones as the tie-break).

    Each letter becomes two digits; a shorter word before its extensions, digits before letters, spaces before both, so the key
    sorts the same under SQLite's binary collation and PostgreSQL's `COLLATE "C"`.
    """
    primary, tones, word_tone = [], [], 0
    for letter, tone in _letters(nfc(text)):
        if letter.isspace():
            primary.append("00")
            tones.append(str(word_tone))
            word_tone = 0
        elif letter.isdigit():
            primary.append(f"{1 + int(letter):02d}")
        elif letter in _RANK:
            primary.append(f"{11 + _RANK[letter]:02d}")
            # A syllable has one tone wherever it is written ("Hoà" = "Hòa"), so keep it per word.
            word_tone = max(word_tone, tone)
    tones.append(str(word_tone))
    return ("".join(primary) + "!" + "".join(tones))[:1000]


_DECIMAL = re.compile(r"^\s*([+-]?\d+)(?:[.,](\d+))?\s*$")


def parse_decimal(value) -> float:
    """A number typed either way: '1,5' (Vietnamese decimal comma) or '1.5' → 1.5; numbers pass through.

    No thousands separators (so '1,5' can never become 15). Raises ValueError for anything else.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    match = _DECIMAL.match(str(value or ""))
    if not match:
        raise ValueError(f"not a number: {value!r}")
    return float(f"{match[1]}.{match[2] or '0'}")
