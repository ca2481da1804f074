"""The read-along text of a book for a listener, and search inside it.

Who may read the text is who may hear the book (streaming.access.can_listen, the playlist's rule):
the text of a Marrakesh title goes only to verified print-disabled readers, an on-site title's only
inside the library's networks. Times are seconds of the book (catalog.manuscripts.read_along).
Search folds the query as catalog.text.fold does ("son tinh" finds "Sơn Tinh") and matches it
inside `Sentence.text_folded`; each hit carries a snippet of the sentence as written and where
the match sits in it, so a page can mark it without parsing HTML.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.manuscripts import ReadAlongChapter, current, read_along
from catalog.models import Book, Chapter, ManuscriptSection, Sentence
from catalog.text import fold
from streaming.access import can_listen

QUERY_MAX = 200  # characters of a search query that are used
HITS_MAX = 50
SNIPPET_BEFORE, SNIPPET_AFTER = 60, 100  # characters of context around a match


class TextRefused(Exception):
    """The text is not given: `reason` is can_listen's refusal (login-required, print-disabled-only,
    on-site-only, not-published) or "no-text" when the book has no manuscript."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TextHit:
    sentence_id: int
    chapter: int  # the manuscript section's 1-based position
    chapter_title: str
    start_s: float | None  # seconds of the book; None when the sentence was not found in the audio
    snippet: str  # the sentence as written, cut to the match and some context ("…" where cut)
    mark: tuple[int, int]  # the match in `snippet` as [start, end) character offsets


def _check(book: Book, listener, remote_addr: str | None) -> None:
    library = book.library
    decision = can_listen(book, listener, remote_addr, library.onsite_networks if library else "")
    if not decision.allowed:
        raise TextRefused(decision.reason)


def text_for(db: Session, book: Book, listener, remote_addr: str | None) -> list[ReadAlongChapter]:
    """The book's read-along chapters for `listener` (None = anonymous), or TextRefused."""
    _check(book, listener, remote_addr)
    chapters = read_along(db, book.id)
    if chapters is None:
        raise TextRefused("no-text")
    return chapters


def search(db: Session, book: Book, listener, remote_addr: str | None, query: str,
           limit: int = HITS_MAX) -> tuple[list[TextHit], bool]:
    """Sentences of the book's newest manuscript that contain `query` (folded), in reading order,
    at most `limit`, and whether there were more. An empty query finds nothing."""
    _check(book, listener, remote_addr)
    manuscript = current(db, book.id)
    if manuscript is None:
        raise TextRefused("no-text")
    needle = fold((query or "")[:QUERY_MAX])
    if not needle:
        return [], False
    rows = db.execute(
        select(Sentence.id, Sentence.text, Sentence.start_s, ManuscriptSection.position,
               ManuscriptSection.title, Chapter.start_s)
        .join(ManuscriptSection, Sentence.section_id == ManuscriptSection.id)
        .outerjoin(Chapter, (Chapter.id == ManuscriptSection.chapter_id) & (Chapter.book_id == book.id))
        .where(ManuscriptSection.manuscript_id == manuscript.id,
               Sentence.text_folded.contains(needle, autoescape=True))
        .order_by(ManuscriptSection.position, Sentence.position)
        .limit(limit + 1)).all()
    hits = []
    for sentence_id, text, start_s, position, title, offset in rows[:limit]:
        snippet, mark = _snippet(text, needle)
        at = None if start_s is None else start_s + (offset or 0.0)  # book time, as read_along gives
        hits.append(TextHit(sentence_id=sentence_id, chapter=position, chapter_title=title,
                            start_s=at, snippet=snippet, mark=mark))
    return hits, len(rows) > limit


_WORD = re.compile(r"\w", re.UNICODE)


def _folded_with_map(text: str) -> tuple[str, list[int]]:
    """`text` folded as catalog.text.fold does, with the index in `text` of each folded character.

    fold() itself gives no map back to the original, which a snippet needs to mark the match."""
    out: list[str] = []
    where: list[int] = []
    gap = False
    for i, ch in enumerate(text):
        bare = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        if not bare:  # a lone combining mark: part of the letter before it
            continue
        bare = bare.replace("đ", "d").replace("Đ", "D").lower()
        if not all(_WORD.match(c) for c in bare):
            gap = True
            continue
        if gap and out:
            out.append(" ")
            where.append(i)
        gap = False
        out.extend(bare)
        where.extend([i] * len(bare))
    return "".join(out), where


def _snippet(text: str, needle: str) -> tuple[str, tuple[int, int]]:
    """The part of `text` around the first match of folded `needle`, and the match's offsets in it."""
    folded, where = _folded_with_map(text)
    found = folded.find(needle)
    if found < 0 or not where:  # cannot happen for a stored sentence; show its start unmarked
        cut = text[:SNIPPET_BEFORE + SNIPPET_AFTER]
        return cut + ("…" if len(cut) < len(text) else ""), (0, 0)
    start, end = where[found], where[found + len(needle) - 1] + 1
    while end < len(text) and unicodedata.combining(text[end]):
        end += 1  # keep marks that follow the last matched letter inside the mark
    left = max(0, start - SNIPPET_BEFORE)
    right = min(len(text), end + SNIPPET_AFTER)
    if left > 0:  # cut at a word boundary
        space = text.find(" ", left)
        left = space + 1 if 0 <= space < start else left
    if right < len(text):
        space = text.rfind(" ", end, right)
        right = space if space > end else right
    prefix = "…" if left > 0 else ""
    suffix = "…" if right < len(text) else ""
    snippet = prefix + text[left:right] + suffix
    return snippet, (len(prefix) + start - left, len(prefix) + end - left)
