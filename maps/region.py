"""The region map and report, drawn from a saved region folder only (``plan.json`` + ``region.gpkg``).

:func:`write_region_map` writes ``map.html``: three choropleths of the cities (5G
stations per km², PON ports per 1,000 households, capex per person), drawn as
inline SVG in an equirectangular projection scaled by the cosine of the mid
latitude. Each city is a link to its own plan's map (``cities/<id>/map.html``).
The page loads nothing (no tiles, no scripts), so it works offline.

:func:`write_region_report` writes ``report.html``: regional totals against the
targets, the master's capex, bound and gap, the border policy and what it
touches, one row per city with a link to its map and report, each city's level
curve, failed cities, and the run (workers, wall time, peak memory per worker).
"""
from __future__ import annotations

import html
import json
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from gis.errors import InputError
from gis.io import atomic_write_text
from maps.charts import svg_line_chart
from maps.map import choropleth
from maps.tables import cny_text, int_text, num_text, share_text, status_text

REGION_JSON, REGION_GPKG = "plan.json", "region.gpkg"
METRICS = (("stations_per_km2", "5G stations per km\u00b2", "num2"),
           ("ports_per_1000_households", "PON ports per 1,000 households", "num1"),
           ("capex_per_person_cny", "capex per person, CNY", "int"))
PANEL_W, PANEL_H = 400, 380
STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px}.sub{color:#555}
.panels{display:flex;flex-wrap:wrap;gap:16px}.panel{border:1px solid #ddd;padding:8px}
.panel h3{font-size:14px;margin:0 0 6px}.legend span{display:inline-block;margin-right:10px;font-size:12px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-2px;border:1px solid #999}
svg a path{stroke:#333;stroke-width:.8}svg a:hover path{stroke:#000;stroke-width:2.5}
table{border-collapse:collapse;font-size:13px}td,th{border-bottom:1px solid #e3e3e3;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}.warn{color:#a33}.chart text{font-size:11px}"""


def read_region(region_dir: str | os.PathLike) -> tuple[dict, gpd.GeoDataFrame]:
    """The saved region: its ``plan.json`` and the ``cities`` layer of ``region.gpkg``."""
    d = Path(region_dir)
    p = d / REGION_JSON
    try:
        summary = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no saved region plan here (plan.json missing)", file=str(p)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not a valid region plan ({exc})", file=str(p)) from None
    if summary.get("kind") != "region":
        raise InputError("not a region plan (no \"kind\": \"region\")", file=str(p))
    if not (d / REGION_GPKG).is_file():
        raise InputError("region layers missing", file=str(d / REGION_GPKG))
    cities = gpd.read_file(d / REGION_GPKG, layer="cities", engine="pyogrio")
    cities["id"] = cities["id"].astype(str)
    return summary, cities


def _page(title: str, body: str) -> str:
    e = html.escape
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{e(csp)}">'
            f"<title>{e(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>\n")


# =========================================================================== map

def _projector(cities: gpd.GeoDataFrame):
    """lon/lat -> panel pixels: equirectangular, x scaled by cos(mid latitude), fitted with a margin.

    Returns the projection and the panel height it needs (at most ``PANEL_H``).
    """
    w, s, e, n = cities.total_bounds
    k = np.cos(np.radians((s + n) / 2))
    span_x, span_y = max((e - w) * k, 1e-9), max(n - s, 1e-9)
    scale = min((PANEL_W - 16) / span_x, (PANEL_H - 16) / span_y)

    def xy(coords: np.ndarray) -> np.ndarray:
        return np.column_stack([8 + (coords[:, 0] - w) * k * scale, 8 + (n - coords[:, 1]) * scale])
    return xy, int(np.ceil(span_y * scale + 16))


def _svg_path(geom, xy) -> str:
    parts = []
    for poly in getattr(geom, "geoms", [geom]):
        if poly.is_empty or poly.geom_type != "Polygon":
            continue
        for ring in (poly.exterior, *poly.interiors):
            pts = xy(np.asarray(ring.coords))
            parts.append("M" + "L".join(f"{a:.1f},{b:.1f}" for a, b in pts) + "Z")
    return "".join(parts)


def _panel(cities: gpd.GeoDataFrame, entries: dict, metric: str, label: str, fmt: str, paths: list[str],
           height: int) -> str:
    e = html.escape
    values = [entries.get(cid, {}).get(metric) for cid in cities["id"]]
    colors, legend = choropleth(values, fmt)
    show = {"num2": lambda v: num_text(v, 2), "num1": lambda v: num_text(v, 1), "int": int_text}[fmt]
    shapes = []
    for cid, path, color, v in zip(cities["id"], paths, colors, values, strict=True):
        name = entries.get(cid, {}).get("name", cid)
        shapes.append(f'<a href="cities/{e(cid)}/map.html"><path d="{path}" fill="{color}" fill-rule="evenodd">'
                      f"<title>{e(str(name))} ({e(cid)}): {e(show(v))} {e(label)}</title></path></a>")
    keys = "".join(f'<span><i style="background:{r["color"]}"></i>{e(r["label"])}</span>' for r in legend)
    return (f'<div class="panel"><h3>{e(label)}</h3><svg xmlns="http://www.w3.org/2000/svg" width="{PANEL_W}" '
            f'height="{height}" viewBox="0 0 {PANEL_W} {height}" role="img" aria-label="{e(label)}">'
            + "".join(shapes) + f'</svg><div class="legend">{keys}</div></div>')


def region_map_html(summary: dict, cities: gpd.GeoDataFrame) -> str:
    """The map page: one linked choropleth per metric."""
    e = html.escape
    entries = {str(c["id"]): c for c in summary.get("cities", [])}
    xy, height = _projector(cities)
    geoms = shapely.simplify(np.asarray(cities.geometry.values, dtype=object), 0.002, preserve_topology=True)
    paths = [_svg_path(g, xy) for g in geoms]
    t = summary.get("totals", {})
    panels = "".join(_panel(cities, entries, m, label, fmt, paths, height) for m, label, fmt in METRICS)
    body = (f"<h1>{e(summary.get('title', 'Region'))}</h1>"
            f'<p class="sub">{int_text(t.get("cities"))} cities \u00b7 {int_text(t.get("stations_5g"))} 5G stations '
            f'\u00b7 {int_text(t.get("pon_ports"))} PON ports \u00b7 capex {e(cny_text(t.get("capex_cny")))} '
            f'\u00b7 click a city for its own map \u00b7 <a href="report.html">region report</a></p>'
            f'<div class="panels">{panels}</div>')
    return _page(summary.get("title", "Region"), body)


def write_region_map(region_dir: str | os.PathLike, out_html: str | os.PathLike | None = None) -> Path:
    """Draw ``map.html`` of a saved region folder."""
    summary, cities = read_region(region_dir)
    out = Path(out_html) if out_html else Path(region_dir) / "map.html"
    return atomic_write_text(out, region_map_html(summary, cities))


# =========================================================================== report

def _table(header: list[str], rows: list[list[str]], left: int = 0) -> str:
    """An HTML table of already-escaped cells; the first ``left`` columns align left."""
    cls = lambda i: ' class="l"' if i < left else ""  # noqa: E731
    head = "".join(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _totals_html(s: dict) -> str:
    t, sol = s.get("totals", {}), s.get("solver", {})
    e = html.escape
    rows = [["cities planned", int_text(t.get("cities"))],
            ["5G stations / regional target", f"{int_text(t.get('stations_5g'))} / {int_text(t.get('stations_target'))}"],
            ["10G-PON ports / regional target", f"{int_text(t.get('pon_ports'))} / {int_text(t.get('ports_target'))}"],
            ["regional budget", e(cny_text(t.get("budget_cny"))) if t.get("budget_cny") else "none"],
            ["targets basis", e(str(t.get("targets_basis", "")))],
            ["capex (master objective)", e(cny_text(sol.get("objective")))],
            ["valid lower bound", e(cny_text(sol.get("bound")))],
            ["gap (price of decomposition and sampling)", share_text(sol.get("gap"), 2)],
            ["master status", e(status_text(sol.get("status"), None))],
            ["population / households", f"{int_text(t.get('population'))} / {int_text(t.get('households'))}"],
            ["stations per km\u00b2", num_text(t.get("stations_per_km2"), 2)],
            ["ports per 1,000 households", num_text(t.get("ports_per_1000_households"), 1)],
            ["capex per person", e(cny_text(t.get("capex_per_person_cny"), exact=True))]]
    return _table(["figure", "value"], [[e(a), b] for a, b in rows], left=1)


def _cities_html(s: dict) -> str:
    e = html.escape
    rows = []
    for c in s.get("cities", []):
        cid = e(str(c["id"]))
        rows.append([f'<a href="cities/{cid}/map.html">{cid}</a>', e(str(c["name"])),
                     f'<a href="cities/{cid}/report.html">report</a>', f"{c['level']} (\u00d7{c['multiplier']:g})",
                     e(status_text(c.get("status"), c.get("gap"))), int_text(c["stations_5g"]), int_text(c["pon_ports"]),
                     e(cny_text(c["capex_cny"])), e(cny_text(c["bound_cny"])), num_text(c["stations_per_km2"], 2),
                     num_text(c["ports_per_1000_households"], 1), int_text(c["capex_per_person_cny"]),
                     share_text(c["border"]["population_near_border_share"])])
    return _table(["city", "name", "plan", "level", "status", "stations", "ports", "capex", "bound", "st./km\u00b2",
                   "ports/1,000 hh", "CNY/person", "people near border"], rows, left=3)


def _curves_html(s: dict) -> str:
    e = html.escape
    out = []
    for c in s.get("cities", []):
        lv = [x for x in c.get("levels", []) if x.get("capex_cny") is not None]
        if len(lv) < 2:
            continue
        xs = [x["multiplier"] for x in lv]
        out.append(svg_line_chart(xs, [("capex", [x["capex_cny"] for x in lv], "#2c7fb8"),
                                       ("bound", [x["bound_cny"] for x in lv], "#7fcdbb"),
                                       ("stations", [x["stations_5g"] for x in lv], "#d95f0e")],
                                  title=f"{c['name']} ({c['id']})", xlabel="level (multiple of the population share)",
                                  width=620, height=200))
    if not out:
        return "<p>One level per city (no regional coupling): no curves.</p>"
    return f"<p>{e('Each city solved at every level; the master picked one. Series scaled to their own maximum.')}</p>" \
        + '<div class="panels">' + "".join(out) + "</div>"


def _run_html(s: dict) -> str:
    e = html.escape
    r = s.get("run", {})
    peak = r.get("peak_rss_mb_by_worker") or {}
    rows = [["workers", int_text(r.get("workers"))], ["scheduler", e(str(r.get("scheduler")))],
            ["wall time", f"{num_text(r.get('wall_seconds'), 1)} s"],
            ["level plans solved / reused / failed",
             f"{int_text(r.get('tasks_solved'))} / {int_text(r.get('tasks_reused'))} / {int_text(r.get('tasks_failed'))}"],
            ["solve time summed over tasks", f"{num_text(r.get('task_seconds_total'), 1)} s"],
            ["peak memory per worker process", e(", ".join(f"{v:,.0f} MB" for v in peak.values())) or "\u2013"]]
    return _table(["run", "value"], rows, left=1)


def region_report_html(summary: dict) -> str:
    e = html.escape
    b = summary.get("border", {})
    failed = summary.get("failed", [])
    fail = "".join(f'<li class="warn">{e(str(f["id"]))} ({e(str(f["name"]))}): {e("; ".join(f["errors"]))}</li>'
                   for f in failed)
    body = (f"<h1>{e(summary.get('title', 'Region'))}: region report</h1>"
            f'<p class="sub"><a href="map.html">region map</a> \u00b7 every city plan is its own folder; '
            f"the regional figures add up the chosen level of each city.</p>"
            f"<h2>Totals and the bound</h2>{_totals_html(summary)}"
            f"<h2>Cities</h2>{_cities_html(summary)}"
            + (f"<h2>Failed cities</h2><ul>{fail}</ul><p>Rerun with --resume to solve only these.</p>" if failed else "")
            + f"<h2>Border cells</h2><p>{e(str(b.get('policy', '')))}.</p>"
            f"<p>{int_text(b.get('population_near_border'))} people ({share_text(b.get('population_near_border_share'))}) "
            f"live in cells within one planning radius of a border between two cities: {e(str(b.get('measured', '')))}.</p>"
            f"<h2>City cost curves</h2>{_curves_html(summary)}"
            f"<h2>Run</h2>{_run_html(summary)}")
    return _page(f"{summary.get('title', 'Region')}: report", body)


def write_region_report(region_dir: str | os.PathLike, out_html: str | os.PathLike | None = None) -> Path:
    """Draw ``report.html`` of a saved region folder."""
    summary, _ = read_region(region_dir)
    out = Path(out_html) if out_html else Path(region_dir) / "report.html"
    return atomic_write_text(out, region_report_html(summary))
