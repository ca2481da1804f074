"""QC plots: a stored QC report (dict from `QCReport.to_dict()`) drawn as one SVG a person reads at a glance.

`qc_svg(report)` is a pure function: report dict in, SVG text out. Two panels share the time axis:

    top     short-term loudness (LUFS) over time against the profile's accepted band (shaded)
    bottom  waveform envelope (peak amplitude, mirrored) with the true-peak ceiling as dashed lines

Failed regions (dead air, clipping, long pauses, noise) are red bands across both panels. The SVG
carries `role="img"`, a `<title>` and a `<desc>` that says in words what the picture shows, so a
screen-reader user gets the same information. Geometry constants below are public so tests can
check that things are drawn where the data says.
"""
from __future__ import annotations

import math
from xml.sax.saxutils import escape

from mastering.profiles import get_profile
from mastering.errors import UnknownProfileError

WIDTH, HEIGHT = 800, 330
X0, X1 = 56, 784                      # plot area, both panels
LOUD_Y0, LOUD_Y1 = 24, 164            # loudness panel (top, bottom)
WAVE_Y0, WAVE_Y1 = 192, 300           # waveform panel
LUFS_TOP, LUFS_BOTTOM = 0.0, -50.0    # loudness axis range (LUFS)
REGION_LABELS = {"dead_air": ("khoảng lặng số", "dead air"), "clipping": ("xén tín hiệu", "clipping"),
                 "long_pause": ("ngắt quãng dài", "long pause"), "noise": ("nền ồn", "noise")}


def band_for(profile_name: str) -> tuple[float, float]:
    """The accepted loudness band (low, high) in LUFS/dB for a profile name."""
    try:
        p = get_profile(profile_name)
    except UnknownProfileError:
        return (-19.0, -17.0)
    if p.loudness_tolerance_lu is not None:
        return (p.target_lufs - p.loudness_tolerance_lu, p.target_lufs + p.loudness_tolerance_lu)
    if p.rms_min_db is not None and p.rms_max_db is not None:
        return (p.rms_min_db, p.rms_max_db)
    return (p.target_lufs - 1.0, p.target_lufs + 1.0)


def ceiling_for(profile_name: str) -> float:
    try:
        return get_profile(profile_name).ceiling_dbtp
    except UnknownProfileError:
        return -1.0


def x_of(t: float, duration_s: float) -> float:
    return X0 + (X1 - X0) * (min(max(t, 0.0), duration_s) / duration_s if duration_s > 0 else 0.0)


def y_of_lufs(v: float) -> float:
    v = min(max(v, LUFS_BOTTOM), LUFS_TOP)
    return LOUD_Y0 + (LUFS_TOP - v) / (LUFS_TOP - LUFS_BOTTOM) * (LOUD_Y1 - LOUD_Y0)


def wave_half(amplitude: float) -> float:
    """Half-height in pixels of an envelope of linear `amplitude` (0..1)."""
    return min(max(amplitude, 0.0), 1.0) * (WAVE_Y1 - WAVE_Y0) / 2


def _f(v: float) -> str:
    return f"{v:.1f}"


def _duration(report: dict) -> float:
    plot = report.get("plot") or {}
    times = plot.get("time_s") or []
    measured = (report.get("measurements") or {}).get("duration_s")
    candidates = [float(measured)] if isinstance(measured, (int, float)) and measured > 0 else []
    if times:
        step = times[1] - times[0] if len(times) > 1 else 0.1
        candidates.append(float(times[-1]) + step)
    return max(candidates) if candidates else 0.0


def describe(report: dict) -> str:
    """The text alternative: what the plot shows, in Vietnamese then English."""
    low, high = band_for(report.get("profile", ""))
    duration = _duration(report)
    regions = report.get("regions") or []
    st = [v for v in (report.get("plot") or {}).get("short_term_lufs") or [] if v is not None]
    parts = [f"Độ to ngắn hạn theo thời gian ({duration:.1f} s) so với dải cho phép {low:g}…{high:g} LUFS"]
    if st:
        inside = sum(1 for v in st if low <= v <= high) / len(st)
        parts.append(f"từ {min(st):.1f} đến {max(st):.1f} LUFS, {inside:.0%} thời gian nằm trong dải")
    if regions:
        listed = ", ".join(f"{REGION_LABELS.get(r.get('kind'), (r.get('kind'), ''))[0]} "
                           f"{r.get('start_s', 0):.1f}–{r.get('end_s', 0):.1f} s" for r in regions[:12])
        more = f" và {len(regions) - 12} vùng khác" if len(regions) > 12 else ""
        parts.append(f"{len(regions)} vùng lỗi: {listed}{more}")
    else:
        parts.append("không có vùng lỗi")
    en = (f"Short-term loudness over time against the accepted band {low:g}…{high:g} LUFS; "
          f"{len(regions)} failed region(s).")
    return "; ".join(parts) + ". " + en


def qc_svg(report: dict, *, id_prefix: str = "qc") -> str:
    """Render `report` (a stored QC report dict) as an SVG document string."""
    profile = report.get("profile", "")
    plot = report.get("plot") or {}
    times = [float(t) for t in plot.get("time_s") or []]
    duration = _duration(report)
    low, high = band_for(profile)
    ceiling = ceiling_for(profile)
    title = f"Biểu đồ QC ({profile})" if profile else "Biểu đồ QC"
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
           f'class="qc-plot" role="img" aria-labelledby="{id_prefix}-title {id_prefix}-desc" '
           f'data-duration-s="{duration:.2f}">',
           f'<title id="{id_prefix}-title">{escape(title)}</title>',
           f'<desc id="{id_prefix}-desc">{escape(describe(report))}</desc>',
           f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>']
    # panel frames
    for y0, y1 in ((LOUD_Y0, LOUD_Y1), (WAVE_Y0, WAVE_Y1)):
        out.append(f'<rect x="{X0}" y="{y0}" width="{X1 - X0}" height="{y1 - y0}" fill="none" '
                   f'stroke="#767676" stroke-width="1"/>')
    # accepted band
    yb_top, yb_bottom = y_of_lufs(high), y_of_lufs(low)
    out.append(f'<rect class="band" data-low="{low:g}" data-high="{high:g}" x="{X0}" y="{_f(yb_top)}" '
               f'width="{X1 - X0}" height="{_f(yb_bottom - yb_top)}" fill="#1b7f3b" fill-opacity="0.22"/>')
    # loudness grid and labels
    for v in range(int(LUFS_TOP), int(LUFS_BOTTOM) - 1, -10):
        y = y_of_lufs(v)
        out.append(f'<line x1="{X0}" x2="{X1}" y1="{_f(y)}" y2="{_f(y)}" stroke="#d0d0d0" stroke-width="1"/>')
        out.append(f'<text x="{X0 - 6}" y="{_f(y + 4)}" font-size="11" text-anchor="end" '
                   f'fill="#1a1a1a">{v}</text>')
    out.append(f'<text x="{X0}" y="{LOUD_Y0 - 8}" font-size="12" fill="#1a1a1a">'
               f'Độ to ngắn hạn (LUFS) · dải cho phép {low:g}…{high:g}</text>')
    out.append(f'<text x="{X0}" y="{WAVE_Y0 - 8}" font-size="12" fill="#1a1a1a">'
               f'Dạng sóng (đỉnh) · trần {ceiling:g} dBTP</text>')
    # failed regions, behind the data lines
    for r in report.get("regions") or []:
        start, end = float(r.get("start_s", 0)), float(r.get("end_s", 0))
        xa, xb = x_of(start, duration), x_of(end, duration)
        width = max(xb - xa, 1.5)
        kind = str(r.get("kind", ""))
        label = REGION_LABELS.get(kind, (kind, kind))
        for y0, y1 in ((LOUD_Y0, LOUD_Y1), (WAVE_Y0, WAVE_Y1)):
            out.append(f'<rect class="failed-region" data-kind="{escape(kind)}" data-start-s="{start:g}" '
                       f'data-end-s="{end:g}" x="{_f(xa)}" y="{y0}" width="{_f(width)}" height="{y1 - y0}" '
                       f'fill="#c62828" fill-opacity="0.35"><title>{escape(label[0])} ({escape(label[1])}) '
                       f'{start:.1f}–{end:.1f} s</title></rect>')
    # short-term loudness line (gaps where undefined)
    st = plot.get("short_term_lufs") or []
    segments: list[list[str]] = []
    current: list[str] = []
    for t, v in zip(times, st):
        if v is None or not math.isfinite(v):
            if current:
                segments.append(current)
            current = []
            continue
        current.append(f"{_f(x_of(t, duration))},{_f(y_of_lufs(float(v)))}")
    if current:
        segments.append(current)
    for seg in segments:
        d = "M" + " L".join(seg) if len(seg) > 1 else f"M{seg[0]} l1,0"
        out.append(f'<path class="short-term" d="{d}" fill="none" stroke="#0b5394" stroke-width="1.6"/>')
    # waveform envelope: peak dBFS → linear, mirrored around the panel's centre line
    mid = (WAVE_Y0 + WAVE_Y1) / 2
    peaks = plot.get("peak_dbfs") or []
    top, bottom = [], []
    for t, v in zip(times, peaks):
        amp = 0.0 if v is None else 10 ** (float(v) / 20)
        h = wave_half(amp)
        x = _f(x_of(t, duration))
        top.append(f"{x},{_f(mid - h)}")
        bottom.append(f"{x},{_f(mid + h)}")
    if top:
        points = " ".join(top + bottom[::-1])
        out.append(f'<polygon class="envelope" points="{points}" fill="#4a4a4a" fill-opacity="0.75"/>')
    ceil_h = wave_half(10 ** (ceiling / 20))
    for y in (mid - ceil_h, mid + ceil_h):
        out.append(f'<line class="ceiling" x1="{X0}" x2="{X1}" y1="{_f(y)}" y2="{_f(y)}" stroke="#c62828" '
                   f'stroke-dasharray="6 4" stroke-width="1"/>')
    # time axis
    step = _nice_step(duration)
    tick_s = 0.0
    while duration > 0 and tick_s <= duration + 1e-9:
        tick_x = x_of(tick_s, duration)
        out.append(f'<text x="{_f(tick_x)}" y="{WAVE_Y1 + 16}" font-size="11" text-anchor="middle" '
                   f'fill="#1a1a1a">{_clock(tick_s)}</text>')
        tick_s += step
    out.append(f'<text x="{X1}" y="{HEIGHT - 2}" font-size="11" text-anchor="end" fill="#1a1a1a">'
               f'thời gian (time)</text>')
    out.append("</svg>")
    return "\n".join(out)


def _nice_step(duration: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if duration / step <= 10:
            return float(step)
    return 7200.0


def _clock(t: float) -> str:
    minutes, seconds = divmod(int(round(t)), 60)
    return f"{minutes}:{seconds:02d}"
