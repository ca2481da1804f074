"""QC plots: the SVG is drawn from the stored report — band and failed regions where the data says."""
from __future__ import annotations

import pytest
from lxml import etree

from mastering import plots

SVG = "{http://www.w3.org/2000/svg}"


def report(profile="library-streaming", regions=None, n=100):
    times = [round(i * 0.1, 2) for i in range(n)]  # 10 s at 100 ms
    return {"profile": profile, "passed": not regions, "failures": ["no_dead_air"] if regions else [],
            "rules": [], "regions": regions or [], "measurements": {"duration_s": n * 0.1},
            "plot": {"time_s": times, "short_term_lufs": [None] * 10 + [-18.0] * (n - 10),
                     "peak_dbfs": [-6.0] * n, "rms_db": [-20.0] * n}}


def parse(svg: str):
    return etree.fromstring(svg.encode())


def test_band_drawn_at_profile_limits():
    root = parse(plots.qc_svg(report("library-streaming")))
    band = root.find(f".//{SVG}rect[@class='band']")
    # library streaming: -18 ± 1 LUFS; axis 0 (top, y=24) … -50 (bottom, y=164)
    scale = (plots.LOUD_Y1 - plots.LOUD_Y0) / 50
    assert float(band.get("y")) == pytest.approx(plots.LOUD_Y0 + 17 * scale, abs=0.1)
    assert float(band.get("height")) == pytest.approx(2 * scale, abs=0.1)
    podcast = parse(plots.qc_svg(report("podcast"))).find(f".//{SVG}rect[@class='band']")
    assert float(podcast.get("y")) == pytest.approx(plots.LOUD_Y0 + 15 * scale, abs=0.1)


def test_acx_band_is_rms_range():
    band = parse(plots.qc_svg(report("acx"))).find(f".//{SVG}rect[@class='band']")
    assert (band.get("data-low"), band.get("data-high")) == ("-23", "-18")


def test_failed_regions_drawn_where_the_data_says():
    regions = [{"kind": "dead_air", "start_s": 2.0, "end_s": 3.0},
               {"kind": "clipping", "start_s": 7.5, "end_s": 8.0}]
    root = parse(plots.qc_svg(report(regions=regions)))
    rects = root.findall(f".//{SVG}rect[@class='failed-region']")
    assert len(rects) == 4  # each region across both panels
    px_per_s = (plots.X1 - plots.X0) / 10.0
    dead = [r for r in rects if r.get("data-kind") == "dead_air"]
    assert float(dead[0].get("x")) == pytest.approx(plots.X0 + 2.0 * px_per_s, abs=0.1)
    assert float(dead[0].get("width")) == pytest.approx(1.0 * px_per_s, abs=0.1)
    clip = [r for r in rects if r.get("data-kind") == "clipping"][0]
    assert float(clip.get("x")) == pytest.approx(plots.X0 + 7.5 * px_per_s, abs=0.1)
    desc = root.find(f"{SVG}desc").text
    assert "2 vùng lỗi" in desc and "2.0–3.0 s" in desc


def test_loudness_line_skips_undefined_and_sits_in_band():
    root = parse(plots.qc_svg(report()))
    paths = root.findall(f".//{SVG}path[@class='short-term']")
    assert len(paths) == 1
    coords = [tuple(map(float, p.split(","))) for p in paths[0].get("d")[1:].split(" L")]
    assert coords[0][0] == pytest.approx(plots.x_of(1.0, 10.0), abs=0.1)  # first 1 s undefined
    assert {round(y, 1) for _x, y in coords} == {round(plots.y_of_lufs(-18.0), 1)}


def test_envelope_height_follows_peak_level():
    root = parse(plots.qc_svg(report()))
    poly = root.find(f".//{SVG}polygon[@class='envelope']")
    ys = [float(p.split(",")[1]) for p in poly.get("points").split()]
    half = (max(ys) - min(ys)) / 2
    assert half == pytest.approx(plots.wave_half(10 ** (-6 / 20)), abs=0.2)  # -6 dBFS ≈ 0.5 amplitude


def test_empty_report_still_renders_valid_svg():
    root = parse(plots.qc_svg({"profile": "nope"}))
    assert root.get("role") == "img" and root.find(f"{SVG}title") is not None
