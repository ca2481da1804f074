"""Statistics pages: listening aggregates per title, library, month and channel, charts, CSV and XLSX,
and the yearly report (print-ready HTML and XLSX).

Librarians see their own library; admins see every library (or pick one). Figures come from
`streaming.stats` (aggregates only — no reader identity is ever read here); periods are read in
the library's time zone. Filters: period (year, quarter, month or a date range), library, title,
subject and reader group.
"""
from __future__ import annotations

import datetime as dt
import io

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from catalog.errors import CatalogError
from catalog.ids import parse_id
from catalog.library_settings import set_time_zone, time_zones
from catalog.access import is_admin, managed_by
from catalog.models import Book, Library, Subject, User
from catalog.spreadsheet import append_row, csv_text
from streaming.events import listener_key
from streaming.stats import (
    GROUPS,
    Filters,
    StatRow,
    StatsError,
    aggregate,
    period_range,
    totals,
    utc_offset_hours,
    yearly_report,
)
from web.auth import role_required
from web.extensions import db_session
from web.formats import hours_minutes, zone_name
from web.labels import error_text

bp = Blueprint("stats", __name__, url_prefix="/stats")

GROUP_LABELS = {"title": "Theo đầu sách", "library": "Theo thư viện", "month": "Theo tháng",
                "channel": "Theo kênh truy cập"}
HEADERS = ("Nhóm", "Lượt phát", "Người nghe (không trùng)", "Giờ nghe", "Nghe hết")
PERIOD_LABELS = {"year": "Năm", "quarter": "Quý", "month": "Tháng", "range": "Khoảng ngày"}
READER_GROUPS = {"": "Mọi bạn đọc", "print-disabled": "Bạn đọc khuyết tật đọc chữ in"}
REPORT_MEASURES = (("readers", "Bạn đọc (không trùng)"), ("hours", "Giờ nghe"), ("titles", "Đầu sách được nghe"),
                   ("plays", "Lượt phát"), ("completions", "Nghe hết"))


class Scope:
    """The request's choice of period and filters, limited by the user's role."""

    def __init__(self) -> None:
        args = request.args
        year = _int(args.get("year"))
        self.year = year if year and 2000 <= year <= 2100 else dt.date.today().year
        self.period = args.get("period") or "year"
        self.value = (args.get("value") or "").strip() or str(self.year)
        if self.period == "range":
            self.value = f"{args.get('from', '')}..{args.get('to', '')}"
        if is_admin(current_user):
            self.library_id = _int(args.get("library"))
        else:
            self.library_id = current_user.library_id
        self.book_id = _int(args.get("book"))
        self.subject_id = _int(args.get("subject"))
        self.group = args.get("group") or ""
        if self.group not in READER_GROUPS:
            abort(400)
        session = db_session()
        library = session.get(Library, self.library_id or current_user.library_id)
        self.zone = zone_name(library)
        try:
            self.start, self.end = period_range(self.period, self.value if self.period != "year" else str(self.year),
                                                self.zone)
        except StatsError as exc:
            self.error = error_text(exc)
            self.start, self.end = period_range("year", str(self.year), self.zone)
        else:
            self.error = ""

    def filters(self, **change) -> Filters:
        fields = dict(library_id=self.library_id, start=self.start, end=self.end, book_id=self.book_id,
                      subject_id=self.subject_id, listeners=self._listeners(),
                      utc_offset_h=utc_offset_hours(self.zone, self.start))
        fields.update(change)
        return Filters(**fields)

    def _listeners(self) -> frozenset[str] | None:
        """The pseudonymous keys of the chosen reader group (None: everyone)."""
        if self.group != "print-disabled":
            return None
        query = select(User.id).where(User.print_disabled_verified_at.is_not(None))
        if self.library_id:
            query = query.where(User.library_id == self.library_id)
        secret = current_app.config["SECRET_KEY"]
        return frozenset(listener_key(secret, user_id=u) for u in db_session().scalars(query))

    def query_args(self) -> dict:
        args = {k: v for k, v in request.args.items() if v}
        return args


def _int(raw) -> int | None:
    """A query argument as an id or a year: None unless it is one (`catalog.ids.parse_id`: no overflow)."""
    return parse_id(raw) if raw else None


def _collect(scope: Scope) -> dict[str, list[StatRow]]:
    session = db_session()
    result = {g: aggregate(session, g, filters=scope.filters()) for g in GROUPS}
    if scope.library_id is not None:
        result.pop("library")
    return result


def bar_chart(rows: list[StatRow], measure: str, caption: str, limit: int = 12, hours: bool = False) -> dict:
    """A horizontal bar chart for the template: each bar's label (whole), value text and length in %
    of the longest. Drawn in HTML, so labels wrap instead of being clipped."""
    rows = rows[:limit]
    values = [float(getattr(r, measure)) for r in rows]
    top = max(values) if values and max(values) > 0 else 1.0
    bars = [{"label": row.key, "value": hours_minutes(value) if hours else f"{value:g}",
             "pct": round(max(0.5, 100 * value / top), 1)}
            for row, value in zip(rows, values)]
    return {"caption": caption, "bars": bars, "measure": measure}


def _choices():
    session = db_session()
    libraries = session.scalars(select(Library).order_by(Library.name)).all() if is_admin(current_user) else []
    books = (select(Book).where(Book.deleted_at.is_(None), managed_by(current_user, Book.library_id))
             .order_by(Book.sort_key).limit(500))
    subjects = session.scalars(select(Subject).order_by(Subject.term).limit(500)).all()
    return libraries, session.scalars(books).all(), subjects


@bp.get("/")
@role_required("librarian")
def index():
    scope = Scope()
    data = _collect(scope)
    libraries, books, subjects = _choices()
    total = totals(db_session(), filters=scope.filters())
    charts = [bar_chart(data["month"], "plays", _("Lượt phát theo tháng")),
              bar_chart(data["title"], "hours", _("Giờ nghe theo đầu sách"), hours=True)]
    return render_template("staff/stats.html", data=data, total=total, scope=scope, year=scope.year,
                           library_id=scope.library_id, libraries=libraries, books=books, subjects=subjects,
                           labels=GROUP_LABELS, headers=HEADERS, charts=charts, periods=PERIOD_LABELS,
                           reader_groups=READER_GROUPS, time_zones=time_zones()), (400 if scope.error else 200)


@bp.post("/time-zone")
@role_required("librarian")
def time_zone():
    """Set the time zone of the librarian's library (an admin: of the library chosen on the page)."""
    session = db_session()
    library_id = _int(request.form.get("library")) if is_admin(current_user) else None
    library = session.get(Library, library_id or current_user.library_id)
    try:
        set_time_zone(session, library, request.form.get("time_zone", ""))
    except CatalogError as exc:
        session.rollback()
        flash(error_text(exc), "error")
        return redirect(url_for(".index")), 303
    session.commit()
    flash(_("Đã đặt múi giờ %(z)s cho %(lib)s.", z=library.time_zone, lib=library.name), "info")
    return redirect(url_for(".index"))


@bp.get("/export.csv")
@role_required("librarian")
def export_csv():
    scope = Scope()
    data = _collect(scope)
    table = [("Cách nhóm", *HEADERS)] + [(group, *row.as_tuple()) for group, rows in data.items() for row in rows]
    body = "\ufeff" + csv_text(table)  # BOM: Excel opens UTF-8 Vietnamese correctly
    return Response(body, content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="thong-ke-{scope.year}.csv"'})


def _xlsx_response(book, name: str) -> Response:
    out = io.BytesIO()
    book.save(out)
    return Response(out.getvalue(),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/export.xlsx")
@role_required("librarian")
def export_xlsx():
    # openpyxl takes ~0.9 s to import: loaded by the two spreadsheet exports only
    from openpyxl import Workbook
    from openpyxl.styles import Font
    scope = Scope()
    data = _collect(scope)
    book = Workbook()
    book.remove(book.active)
    for group, rows in data.items():
        sheet = book.create_sheet(GROUP_LABELS[group][:31])
        append_row(sheet, HEADERS)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            append_row(sheet, row.as_tuple())
        sheet.column_dimensions["A"].width = 40
        for col in "BCDE":
            sheet.column_dimensions[col].width = 18
    return _xlsx_response(book, f"thong-ke-{scope.year}.xlsx")


# -- the yearly report ---------------------------------------------------------------------------------

def _report(scope: Scope) -> dict:
    filters = scope.filters(start=None, end=None)
    return yearly_report(db_session(), scope.year, filters=filters, zone=scope.zone)


@bp.get("/report")
@role_required("librarian")
def report():
    """The yearly report as a print-ready page (charts inline; the browser prints it to PDF)."""
    scope = Scope()
    figures = _report(scope)
    library = db_session().get(Library, scope.library_id) if scope.library_id else None
    charts = [bar_chart(figures["months"], "hours", _("Giờ nghe theo tháng"), hours=True),
              bar_chart(figures["titles"], "plays", _("Đầu sách được nghe nhiều nhất (lượt phát)"), limit=10)]
    return render_template("staff/stats_report.html", r=figures, scope=scope, library=library, charts=charts,
                           measures=REPORT_MEASURES)


@bp.get("/report.xlsx")
@role_required("librarian")
def report_xlsx():
    """The yearly report as a workbook: summary with growth, months (with a chart) and titles.

    Every row goes through `catalog.spreadsheet.append_row`: a title like `=HYPERLINK(…)` stays text."""
    # openpyxl takes ~0.9 s to import: loaded by the two spreadsheet exports only
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference
    from openpyxl.styles import Font
    scope = Scope()
    r = _report(scope)
    book = Workbook()
    summary = book.active
    summary.title = _("Tổng hợp")[:31]
    append_row(summary, [_("Báo cáo nghe sách nói năm %(y)d", y=scope.year)])
    summary["A1"].font = Font(bold=True, size=14)
    append_row(summary, [_("Chỉ số"), str(r["this"].year), str(r["last"].year), _("Tăng trưởng")])
    for cell in summary[2]:
        cell.font = Font(bold=True)
    for measure, label in REPORT_MEASURES:
        change = r["growth"][measure]
        this, last = getattr(r["this"], measure), getattr(r["last"], measure)
        if measure == "hours":
            this, last = round(this, 2), round(last, 2)
        row = [_(label), this, last, change]
        append_row(summary, row)
        if change is not None:
            summary.cell(row=summary.max_row, column=4).number_format = "0.0%"
    summary.column_dimensions["A"].width = 30
    for col in "BCD":
        summary.column_dimensions[col].width = 16
    months = book.create_sheet(_("Theo tháng")[:31])
    append_row(months, [_("Tháng"), _("Giờ nghe"), _("Lượt phát"), _("Người nghe (không trùng)")])
    for row in r["months"]:
        append_row(months, [str(row.key), round(row.hours, 2), row.plays, row.listeners])
    if r["months"]:
        chart = BarChart()
        chart.title = _("Giờ nghe theo tháng")
        chart.add_data(Reference(months, min_col=2, min_row=1, max_row=months.max_row), titles_from_data=True)
        chart.set_categories(Reference(months, min_col=1, min_row=2, max_row=months.max_row))
        months.add_chart(chart, "F2")
    titles = book.create_sheet(_("Theo đầu sách")[:31])
    append_row(titles, [_("Đầu sách"), _("Lượt phát"), _("Người nghe (không trùng)"), _("Giờ nghe"), _("Nghe hết")])
    for row in r["titles"]:
        append_row(titles, [str(row.key), row.plays, row.listeners, round(row.hours, 2), row.completions])
    titles.column_dimensions["A"].width = 50
    return _xlsx_response(book, f"bao-cao-nam-{scope.year}.xlsx")
