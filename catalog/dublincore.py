"""Dublin Core views of a book: DCMI terms (for open data) and `oai_dc` XML (for OAI-PMH and `/dc.xml`).

`terms(book, base_url)` is the one mapping; the XML and the open-data rows are views of it.
Values are lists of strings, NFC, in display order.
"""
from __future__ import annotations

from lxml import etree

from catalog import datestamps, isbn
from catalog.marc import ACCESS_NOTES, RELATOR_TERMS
from catalog.models import Book

OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"
OAI_DC_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
# the fifteen elements of simple Dublin Core, in their usual order
DC_ELEMENTS = ("title", "creator", "subject", "description", "publisher", "contributor", "date", "type",
               "format", "identifier", "source", "language", "relation", "coverage", "rights")
MIME_TYPES = {"mp3": "audio/mpeg", "aac": "audio/aac", "opus": "audio/ogg", "flac": "audio/flac"}


def iso_duration(seconds: float) -> str:
    """ISO 8601 duration, whole seconds: 'PT3H12M5S'."""
    total = int(round(seconds or 0))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + f"{secs}S"


def terms(book: Book, base_url: str = "") -> dict[str, list[str]]:
    """DCMI metadata terms for `book` (keys are dcterms names)."""
    base = base_url.rstrip("/")
    credits = list(book.credits)
    title = book.title + (f" : {book.subtitle}" if book.subtitle else "")
    formats = []
    for r in book.renditions:
        mime = MIME_TYPES.get((r.codec or "").lower())
        if mime and mime not in formats:
            formats.append(mime)
    formats.append("application/audiobook+json")
    identifiers = [f"{base}/books/{book.id}", f"urn:uuid:{book.uuid}"]
    isbn_audio, isbn_print = isbn.normalised_or_empty(book.isbn_audio), isbn.normalised_or_empty(book.isbn_print)
    if isbn_audio:
        identifiers.append(f"urn:isbn:{isbn_audio}")
    subjects = [bs.subject.term for bs in book.subjects] + ([f"DDC {book.ddc}"] if book.ddc else [])
    rights_vi, rights_en = ACCESS_NOTES.get(book.access_policy, ACCESS_NOTES["members"])
    changed = datestamps.changed_at(book)
    result = {
        "title": [title],
        "creator": [c.contributor.name for c in credits if c.role == "aut"],
        "contributor": [f"{c.contributor.name} ({RELATOR_TERMS.get(c.role, (c.role,))[0]})"
                        for c in credits if c.role != "aut"],
        "subject": subjects,
        "description": [book.summary] if book.summary else [],
        "publisher": [book.publisher or (book.library.name if book.library else "")],
        "date": [str(book.year)] if book.year else [],
        "issued": [book.published_at.date().isoformat()] if book.published_at else [],
        "modified": [changed.strftime("%Y-%m-%dT%H:%M:%SZ")] if changed else [],
        "type": ["Sound", "Sách nói"],
        "format": formats,
        "extent": [iso_duration(book.duration_s)],
        "identifier": identifiers,
        "source": [f"urn:isbn:{isbn_print}"] if isbn_print else [],
        "language": [book.language or "vie"],
        "isPartOf": [book.series.title + (f" ; {book.series_position}" if book.series_position is not None else "")]
        if book.series is not None else [],
        "rights": [rights_vi],
        "accessRights": [book.access_policy],
    }
    return {k: [v for v in vs if v] for k, vs in result.items()}


def oai_dc_element(book: Book, base_url: str = "") -> etree._Element:
    """`<oai_dc:dc>` with simple Dublin Core elements (refinements folded into their element)."""
    t = terms(book, base_url)
    folded = {name: list(t.get(name, [])) for name in DC_ELEMENTS}
    folded["date"] += t["issued"]
    folded["format"] += t["extent"]
    folded["relation"] += t["isPartOf"]
    folded["rights"] += [f"access policy: {t['accessRights'][0]}"] if t.get("accessRights") else []
    root = etree.Element(f"{{{OAI_DC_NS}}}dc", nsmap={"oai_dc": OAI_DC_NS, "dc": DC_NS, "xsi": XSI_NS})
    root.set(f"{{{XSI_NS}}}schemaLocation", f"{OAI_DC_NS} {OAI_DC_SCHEMA}")
    for name in DC_ELEMENTS:
        for value in folded[name]:
            etree.SubElement(root, f"{{{DC_NS}}}{name}").text = value
    return root


def dc_xml(book: Book, base_url: str = "") -> bytes:
    return etree.tostring(oai_dc_element(book, base_url), xml_declaration=True, encoding="UTF-8",
                          pretty_print=True)
