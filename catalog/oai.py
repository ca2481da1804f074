"""OAI-PMH 2.0 data provider: the six verbs, `oai_dc` and `marcxml`, sets, paging, deleted records.

`respond(session, args, repo)` takes the request's arguments as (name, value) pairs (repeated
names are an error the protocol defines) and returns the response document as UTF-8 bytes.
The web layer only turns the HTTP request into pairs.

Records: every book that was ever published. Published ones (whose publication time has come)
carry metadata; withdrawn and deleted ones are headers with `status="deleted"` (tombstones,
`deletedRecord` = persistent). A datestamp is when the record's harvestable form last changed
(`catalog.datestamps`: edits, going live, including a scheduled publication when its time comes,
going dark, a library or series renamed, a rendition added), to the second, UTC.

Identifiers are `oai:<repository id>:<book id>`; the repository id is a setting
(`repository_identifier`), never the host name a harvester happened to use.

Sets: `library:<code>` for the owning library (district libraries also appear under their
province: `library:<province>:<district>`), and `access:<policy>`.

Paging is keyed on (datestamp, id) so records changing during a harvest are neither skipped nor
doubled within a list; the resumption token carries the arguments, the position, the cursor and
the list size, signed (HMAC) and dated. A token that was tampered with, is malformed or older
than `token_ttl` is a `badResumptionToken`.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field

from lxml import etree
from urllib.parse import urlsplit

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from catalog import datestamps, dublincore, marc
from catalog.access import is_visible
from catalog.ids import parse_id
from catalog.models import ACCESS_POLICIES, Book, Library, utcnow

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
OAI_SCHEMA = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
FORMATS = {
    "oai_dc": (dublincore.OAI_DC_SCHEMA, dublincore.OAI_DC_NS),
    "marcxml": (marc.MARC_SCHEMA_LOCATION, marc.MARC_NS),
}
VERBS = {
    # verb: (required, optional, exclusive)
    "Identify": (set(), set(), None),
    "ListMetadataFormats": (set(), {"identifier"}, None),
    "ListSets": (set(), set(), "resumptionToken"),
    "GetRecord": ({"identifier", "metadataPrefix"}, set(), None),
    "ListIdentifiers": ({"metadataPrefix"}, {"from", "until", "set"}, "resumptionToken"),
    "ListRecords": ({"metadataPrefix"}, {"from", "until", "set"}, "resumptionToken"),
}
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SECOND = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


@dataclass
class Repository:
    """How this repository describes itself. `secret` signs resumption tokens."""
    base_url: str
    name: str = "Sách Nói — thư viện số"
    admin_email: str = "admin@example.org"
    repository_id: str = "sachnoi"  # the namespace part of oai:<id>:<local>
    site_url: str = ""              # where records' web pages and manifests live
    page_size: int = 100
    token_ttl: dt.timedelta = field(default_factory=lambda: dt.timedelta(hours=24))
    secret: bytes = b"sachnoi-oai"


class OAIError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def repository_identifier(setting: str | None, public_base_url: str | None) -> str:
    """The namespace of our identifiers: the setting, else the public base URL's host name, else
    'localhost' (stable, but set one of the two before the first harvest: identifiers must not change)."""
    if setting:
        return setting.strip()
    host = urlsplit(public_base_url or "").hostname
    return host or "localhost"


def identifier(repo: Repository, book: Book) -> str:
    return f"oai:{repo.repository_id}:{book.id}"


def _book_id(repo: Repository, ident: str) -> int | None:
    prefix = f"oai:{repo.repository_id}:"
    if not ident.startswith(prefix):
        return None
    return parse_id(ident[len(prefix):])  # None for what cannot be a row id (catalog.ids)


def _after(when: dt.datetime, step: dt.timedelta) -> dt.datetime:
    """The exclusive end of `when`; the last representable moment for until=9999-12-31."""
    try:
        return when + step
    except OverflowError:
        return dt.datetime.max


def _parse_date(value: str, *, end: bool) -> tuple[dt.datetime, str]:
    if _DAY.match(value):
        try:
            day = dt.datetime.strptime(value, "%Y-%m-%d")
        except ValueError:
            raise OAIError("badArgument", f"Ngày không hợp lệ (invalid date): {value}") from None
        return (_after(day, dt.timedelta(days=1)) if end else day), "day"
    if _SECOND.match(value):
        try:
            moment = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            raise OAIError("badArgument", f"Thời điểm không hợp lệ (invalid datetime): {value}") from None
        return (_after(moment, dt.timedelta(seconds=1)) if end else moment), "second"
    raise OAIError("badArgument", f"Ngày phải theo YYYY-MM-DD hoặc YYYY-MM-DDThh:mm:ssZ: {value}")


# -- which books are records, and in which sets --------------------------------------------------

def _record_filter(now: dt.datetime):
    """Books that harvesters may see: ever published (live, withdrawn or deleted after publication)."""
    return and_(Book.published_at.is_not(None),
                or_(Book.publish_at.is_(None), Book.publish_at <= now, Book.deleted_at.is_not(None)))


def _is_deleted(book: Book) -> bool:
    """A record of `_record_filter` that readers no longer see (withdrawn or deleted): status "deleted"."""
    return not is_visible(book)


def _library_specs(session: Session) -> dict[int, str]:
    libs = session.scalars(select(Library)).all()
    by_id = {lib.id: lib for lib in libs}
    specs = {}
    for lib in libs:
        parts, seen = [], set()
        node: Library | None = lib
        while node is not None and node.id not in seen:
            seen.add(node.id)
            parts.append(_spec_part(node.code))
            node = by_id.get(node.parent_id) if node.parent_id else None
        specs[lib.id] = "library:" + ":".join(reversed(parts))
    return specs


def _spec_part(code: str) -> str:
    return re.sub(r"[^A-Za-z0-9\-_.!~*'()]", "-", code) or "-"


def _set_filter(session: Session, spec: str):
    if spec == "library":
        return Book.library_id.is_not(None)
    if spec.startswith("library:"):
        matching = [lid for lid, s in _library_specs(session).items() if s == spec or s.startswith(spec + ":")]
        return Book.library_id.in_(matching) if matching else None
    if spec == "access":
        return Book.access_policy.is_not(None)
    if spec.startswith("access:") and spec[len("access:"):] in ACCESS_POLICIES:
        return Book.access_policy == spec[len("access:"):]
    return None


# -- resumption tokens -----------------------------------------------------------------------------

def _encode_token(repo: Repository, state: dict) -> str:
    body = base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")
    sig = hmac.new(repo.secret, body.encode(), hashlib.sha256).hexdigest()[:24]
    return f"{body}.{sig}"


def _decode_token(repo: Repository, token: str, verb: str, now: dt.datetime) -> dict:
    bad = OAIError("badResumptionToken", "Mã tiếp tục không hợp lệ hoặc đã hết hạn (invalid or expired resumptionToken)")
    try:
        body, sig = token.rsplit(".", 1)
        expected = hmac.new(repo.secret, body.encode(), hashlib.sha256).hexdigest()[:24]
        if not hmac.compare_digest(sig, expected):
            raise bad
        state = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        issued = dt.datetime.strptime(state["t"], "%Y-%m-%dT%H:%M:%SZ")
    except OAIError:
        raise
    except Exception:  # any decoding failure means the token is not one of ours
        raise bad from None
    if state.get("v") != verb or now - issued > repo.token_ttl:
        raise bad
    return state


# -- the response document --------------------------------------------------------------------------

def _root(repo: Repository, now: dt.datetime, args: dict[str, str] | None) -> etree._Element:
    root = etree.Element(f"{{{OAI_NS}}}OAI-PMH", nsmap={None: OAI_NS, "xsi": XSI_NS})
    root.set(f"{{{XSI_NS}}}schemaLocation", f"{OAI_NS} {OAI_SCHEMA}")
    etree.SubElement(root, f"{{{OAI_NS}}}responseDate").text = _stamp(now)
    request = etree.SubElement(root, f"{{{OAI_NS}}}request")
    request.text = repo.base_url
    for name, value in (args or {}).items():
        request.set(name, value)
    return root


def _sub(parent, name: str, text: str | None = None, **attrs) -> etree._Element:
    el = etree.SubElement(parent, f"{{{OAI_NS}}}{name}", **attrs)
    if text is not None:
        el.text = text
    return el


def _header(parent, repo: Repository, book: Book, stamp: dt.datetime, lib_specs: dict[int, str]) -> None:
    header = _sub(parent, "header", **({"status": "deleted"} if _is_deleted(book) else {}))
    _sub(header, "identifier", identifier(repo, book))
    _sub(header, "datestamp", _stamp(stamp))
    if book.library_id in lib_specs:
        _sub(header, "setSpec", lib_specs[book.library_id])
    _sub(header, "setSpec", f"access:{book.access_policy}")


def _record(parent, repo: Repository, book: Book, stamp: dt.datetime, prefix: str,
            lib_specs: dict[int, str]) -> None:
    record = _sub(parent, "record")
    _header(record, repo, book, stamp, lib_specs)
    if _is_deleted(book):
        return
    metadata = _sub(record, "metadata")
    site = repo.site_url or repo.base_url.rsplit("/", 1)[0]
    if prefix == "oai_dc":
        metadata.append(dublincore.oai_dc_element(book, site))
    else:
        element = marc.record_element(book, site)
        element.attrib.pop(f"{{{XSI_NS}}}schemaLocation", None)
        metadata.append(element)


# What XML 1.0 cannot carry (lxml refuses it): C0 controls but tab, CR and LF, and U+FFFE/U+FFFF.
_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def respond(session: Session, pairs, repo: Repository, now: dt.datetime | None = None) -> bytes:
    """The OAI-PMH response (UTF-8 XML) to a request given as (name, value) pairs."""
    now = (now or utcnow()).replace(microsecond=0)
    pairs = list(pairs)
    names = [n for n, _ in pairs]
    args = dict(pairs)
    verb = args.get("verb")
    try:
        if any(_XML_UNSAFE.search(text) for pair in pairs for text in pair):
            # checked first: every later message may echo a name or value into the XML
            raise OAIError("badArgument", "Tham số chứa ký tự điều khiển (control character in an argument)")
        if names.count("verb") != 1 or verb not in VERBS:
            raise OAIError("badVerb", "Thiếu động từ hoặc động từ không hợp lệ (missing, repeated or illegal verb)")
        repeated = {n for n in names if names.count(n) > 1}
        if repeated:
            raise OAIError("badArgument", f"Tham số lặp lại (repeated argument): {', '.join(sorted(repeated))}")
        required, optional, exclusive = VERBS[verb]
        given = set(args) - {"verb"}
        if exclusive and exclusive in given:
            if given != {exclusive}:
                raise OAIError("badArgument", f"{exclusive} không đi kèm tham số khác (is an exclusive argument)")
        else:
            missing = required - given
            if missing:
                raise OAIError("badArgument", f"Thiếu tham số (missing argument): {', '.join(sorted(missing))}")
            illegal = given - required - optional
            if illegal:
                raise OAIError("badArgument", f"Tham số không hợp lệ (illegal argument): {', '.join(sorted(illegal))}")
        root = _root(repo, now, args)
        handler = {"Identify": _identify, "ListMetadataFormats": _list_formats, "ListSets": _list_sets,
                   "GetRecord": _get_record, "ListIdentifiers": _list, "ListRecords": _list}[verb]
        handler(root, session, repo, args, now)
    except OAIError as err:
        # badVerb and badArgument: the request element carries no attributes
        root = _root(repo, now, None if err.code in ("badVerb", "badArgument") else args)
        _sub(root, "error", err.message, code=err.code)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _identify(root, session: Session, repo: Repository, args, now) -> None:
    earliest = session.scalar(select(func.min(datestamps.changed_at_sql(now))).where(_record_filter(now)))
    el = _sub(root, "Identify")
    _sub(el, "repositoryName", repo.name)
    _sub(el, "baseURL", repo.base_url)
    _sub(el, "protocolVersion", "2.0")
    _sub(el, "adminEmail", repo.admin_email)
    _sub(el, "earliestDatestamp", _stamp(earliest or dt.datetime(2000, 1, 1)))
    _sub(el, "deletedRecord", "persistent")
    _sub(el, "granularity", "YYYY-MM-DDThh:mm:ssZ")
    _sub(el, "compression", "gzip")


def _list_formats(root, session: Session, repo: Repository, args, now) -> None:
    if "identifier" in args:
        book_id = _book_id(repo, args["identifier"])
        book = session.get(Book, book_id) if book_id is not None else None
        if book is None or not session.scalar(select(func.count()).select_from(Book)
                                              .where(Book.id == book.id, _record_filter(now))):
            raise OAIError("idDoesNotExist", f"Không có bản ghi {args['identifier']} (no such record)")
        if _is_deleted(book):
            raise OAIError("noMetadataFormats", "Bản ghi đã xoá, không có định dạng nào (record is deleted)")
    el = _sub(root, "ListMetadataFormats")
    for prefix, (schema, namespace) in FORMATS.items():
        fmt = _sub(el, "metadataFormat")
        _sub(fmt, "metadataPrefix", prefix)
        _sub(fmt, "schema", schema)
        _sub(fmt, "metadataNamespace", namespace)


def _list_sets(root, session: Session, repo: Repository, args, now) -> None:
    if "resumptionToken" in args:  # every set fits in one response: any token is not ours
        raise OAIError("badResumptionToken", "Danh sách tập không phân trang (ListSets is not paged)")
    libs = {lib.id: lib for lib in session.scalars(select(Library).order_by(Library.code))}
    if not libs:
        raise OAIError("noSetHierarchy", "Kho chưa có tập nào (no sets yet)")
    el = _sub(root, "ListSets")
    for lib_id, spec in sorted(_library_specs(session).items(), key=lambda kv: kv[1]):
        s = _sub(el, "set")
        _sub(s, "setSpec", spec)
        _sub(s, "setName", libs[lib_id].name)
    for policy in ACCESS_POLICIES:
        s = _sub(el, "set")
        _sub(s, "setSpec", f"access:{policy}")
        _sub(s, "setName", f"Chính sách truy cập: {policy}")


def _get_record(root, session: Session, repo: Repository, args, now) -> None:
    prefix = args["metadataPrefix"]
    book_id = _book_id(repo, args["identifier"])
    row = (session.execute(select(Book, datestamps.changed_at_sql(now)).where(Book.id == book_id, _record_filter(now)))
           .first() if book_id else None)
    if row is None:
        raise OAIError("idDoesNotExist", f"Không có bản ghi {args['identifier']} (no such record)")
    if prefix not in FORMATS:
        raise OAIError("cannotDisseminateFormat", f"Không hỗ trợ định dạng {prefix} (unsupported metadataPrefix)")
    el = _sub(root, "GetRecord")
    _record(el, repo, row[0], row[1], prefix, _library_specs(session))


def _list(root, session: Session, repo: Repository, args, now) -> None:
    verb = args["verb"]
    if "resumptionToken" in args:
        state = _decode_token(repo, args["resumptionToken"], verb, now)
    else:
        state = {"v": verb, "p": args["metadataPrefix"], "f": args.get("from"), "u": args.get("until"),
                 "s": args.get("set"), "c": 0, "n": None, "after": None}
        if state["p"] not in FORMATS:
            raise OAIError("cannotDisseminateFormat", f"Không hỗ trợ định dạng {state['p']} (unsupported metadataPrefix)")
    stamp = datestamps.changed_at_sql(now)
    conditions = [_record_filter(now)]
    granularities = set()
    if state["f"]:
        start, g = _parse_date(state["f"], end=False)
        granularities.add(g)
        conditions.append(stamp >= start)
    if state["u"]:
        end, g = _parse_date(state["u"], end=True)
        granularities.add(g)
        conditions.append(stamp < end)
    if len(granularities) > 1:
        raise OAIError("badArgument", "from và until phải cùng độ chi tiết (from and until differ in granularity)")
    if state["f"] and state["u"] and _parse_date(state["f"], end=False)[0] >= _parse_date(state["u"], end=True)[0]:
        raise OAIError("badArgument", "from phải trước until (from is later than until)")
    if state["s"]:
        if not session.scalar(select(func.count()).select_from(Library)):
            raise OAIError("noSetHierarchy", "Kho chưa có tập nào (no sets yet)")
        set_filter = _set_filter(session, state["s"])
        if set_filter is None:
            raise OAIError("noRecordsMatch", f"Không có tập {state['s']} (no such set)")
        conditions.append(set_filter)
    if state["n"] is None:
        state["n"] = session.scalar(select(func.count()).select_from(Book).where(*conditions))
    if state["after"]:
        after_stamp = dt.datetime.strptime(state["after"][0], "%Y-%m-%dT%H:%M:%S.%f")
        conditions.append(or_(stamp > after_stamp, and_(stamp == after_stamp, Book.id > state["after"][1])))
    query = (select(Book, stamp).where(*conditions).order_by(stamp, Book.id).limit(repo.page_size + 1))
    if verb == "ListRecords":
        query = query.options(selectinload(Book.credits), selectinload(Book.subjects),
                              selectinload(Book.renditions), selectinload(Book.series), selectinload(Book.library))
    rows = session.execute(query).all()
    if not rows:
        if "resumptionToken" in args:
            raise OAIError("badResumptionToken", "Mã tiếp tục đã cũ (stale resumptionToken)")
        raise OAIError("noRecordsMatch", "Không có bản ghi nào khớp (no records match)")
    more, rows = len(rows) > repo.page_size, rows[:repo.page_size]
    lib_specs = _library_specs(session)
    el = _sub(root, verb)
    for book, changed in rows:
        if verb == "ListIdentifiers":
            _header(el, repo, book, changed, lib_specs)
        else:
            _record(el, repo, book, changed, state["p"], lib_specs)
    cursor = state["c"]
    if more or "resumptionToken" in args:
        size = max(state["n"], cursor + len(rows) + (1 if more else 0))
        attrs = {"completeListSize": str(size), "cursor": str(cursor)}
        if more:
            last, last_stamp = rows[-1]
            nxt = dict(state, c=cursor + len(rows), n=size, t=_stamp(now),
                       after=[last_stamp.strftime("%Y-%m-%dT%H:%M:%S.%f"), last.id])
            attrs["expirationDate"] = _stamp(now + repo.token_ttl)
            _sub(el, "resumptionToken", _encode_token(repo, nxt), **attrs)
        else:
            _sub(el, "resumptionToken", None, **attrs)  # empty token: the list is complete
