"""Statistics pages: listening aggregates per title, library, month and channel, charts, CSV and XLSX.

Librarians see their own library; admins see every library (or pick one). Figures come from
`streaming.stats` (aggregates only — no reader identity is ever read here).
"""
from __future__ import annotations

import datetime as dt
import io

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from catalog.models import Library
from catalog.spreadsheet import append_row, csv_text
from streaming.stats import GROUPS, StatRow, StatsError, aggregate, totals, year_range
from web.auth import role_required
from web.extensions import db_session

bp = Blueprint("stats", __name__, url_prefix="/stats")

GROUP_LABELS = {"title": "Theo đầu sách", "library": "Theo thư viện", "month": "Theo tháng",
                "channel": "Theo kênh truy cập"}
HEADERS = ("Nhóm", "Lượt phát", "Người nghe (không trùng)", "Giờ nghe", "Nghe hết")


def _scope() -> tuple[int | None, int]:
    """(library id or None for all, year) from the request, limited by the user's role."""
    try:
        year = int(request.args.get("year") or dt.date.today().year)
    except ValueError:
        abort(400)
    if current_user.role == "admin":
        raw = request.args.get("library") or ""
        library_id = int(raw) if raw.isdigit() else None
    else:
        library_id = current_user.library_id
    return library_id, year


def _collect(library_id: int | None, year: int) -> dict[str, list[StatRow]]:
    session = db_session()
    try:
        start, end = year_range(year)
    except StatsError:
        abort(400)
    result = {g: aggregate(session, g, library_id=library_id, start=start, end=end) for g in GROUPS}
    if library_id is not None:
        result.pop("library")
    return result


def bar_chart(rows: list[StatRow], measure: str, caption: str, limit: int = 12) -> dict:
    """Geometry for a horizontal bar chart (rendered by the template as inline SVG)."""
    rows = rows[:limit]
    values = [float(getattr(r, measure)) for r in rows]
    top = max(values) if values and max(values) > 0 else 1.0
    bars = []
    for i, (row, value) in enumerate(zip(rows, values)):
        bars.append({"label": row.key[:40], "value": round(value, 2), "y": 8 + i * 28,
                     "width": round(440 * value / top, 1)})
    return {"caption": caption, "bars": bars, "height": 16 + 28 * max(1, len(bars)), "measure": measure}


@bp.get("/")
@role_required("librarian")
def index():
    library_id, year = _scope()
    data = _collect(library_id, year)
    session = db_session()
    libraries = session.scalars(select(Library).order_by(Library.name)).all() \
        if current_user.role == "admin" else []
    total = totals(session, library_id=library_id, start=year_range(year)[0], end=year_range(year)[1])
    charts = [bar_chart(data["month"], "plays", _("Lượt phát theo tháng")),
              bar_chart(data["title"], "hours", _("Giờ nghe theo đầu sách"))]
    return render_template("staff/stats.html", data=data, total=total, year=year, library_id=library_id,
                           libraries=libraries, labels=GROUP_LABELS, headers=HEADERS, charts=charts)


@bp.get("/export.csv")
@role_required("librarian")
def export_csv():
    library_id, year = _scope()
    data = _collect(library_id, year)
    table = [("Cách nhóm", *HEADERS)] + [(group, *row.as_tuple()) for group, rows in data.items() for row in rows]
    body = "\ufeff" + csv_text(table)  # BOM: Excel opens UTF-8 Vietnamese correctly
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="thong-ke-{year}.csv"'})


@bp.get("/export.xlsx")
@role_required("librarian")
def export_xlsx():
    from openpyxl import Workbook
    from openpyxl.styles import Font
    library_id, year = _scope()
    data = _collect(library_id, year)
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
    out = io.BytesIO()
    book.save(out)
    return Response(out.getvalue(),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="thong-ke-{year}.xlsx"'})
