"""Compare saved plans side by side: a table, per-district differences and charts, in one HTML file.

Used by ``rollout compare DIR1 DIR2 ... --out DIR`` and by ``rollout sweep``, which
adds the swept parameter so the charts become curves of cost and KPIs against it.
Everything is read from the saved plans (``plan.json``); nothing is solved here.
"""
from __future__ import annotations

import html
import json
import os
from pathlib import Path

import numpy as np

from gis.io import atomic_write_text
from gis.validate import clean_text
from maps.charts import svg_hbar_chart, svg_line_chart
from maps.tables import cny_text, status_text
from rollout.plan import load_plan_summary

KPIS = [  # (key, label, source, format)
    ("capex_cny", "capex", "totals", "cny"),
    ("stations_5g", "5G stations", "totals", "int"),
    ("stations_5g_new", "new 5G stations", "totals", "int"),
    ("pon_ports", "PON ports", "totals", "int"),
    ("olt_sites", "OLT sites", "totals", "int"),
    ("fiber_km", "feeder fibre km", "totals", "num"),
    ("population_covered_share", "population covered", "coverage", "share"),
    ("area_covered_share", "area covered", "coverage", "share"),
    ("cost_per_household_passed_cny", "PON cost per household passed", "totals", "cny"),
]


def _fmt(v, kind: str) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    if kind == "cny":
        return cny_text(v)
    if kind == "int":
        return f"{int(round(v)):,}"
    if kind == "share":
        return f"{100 * v:.1f}%"
    return f"{v:,.1f}"


def comparison_table(summaries: list[dict], labels: list[str]) -> dict:
    """Rows of KPIs per plan, plus per-district differences against the first plan."""
    rows = []
    for lab, s in zip(labels, summaries, strict=True):
        sol = s.get("solver", {})
        row = {"plan": lab, "title": s.get("title", ""), "status": sol.get("status"), "gap": sol.get("gap")}
        for key, _, src, _ in KPIS:
            row[key] = (s.get(src) or {}).get(key)
        rows.append(row)
    base = {d.get("district_id"): d for d in summaries[0].get("districts", [])} if summaries else {}
    diffs = []
    for lab, s in zip(labels[1:], summaries[1:], strict=True):
        for d in s.get("districts", []):
            b = base.get(d.get("district_id"), {})
            diffs.append({"plan": lab, "district_id": d.get("district_id"), "name": d.get("name_en") or d.get("name"),
                          **{f"d_{k}": (d.get(k) or 0) - (b.get(k) or 0) for k in ("stations_5g", "pon_ports", "capex_cny")}})
    return {"plans": rows, "district_differences": diffs}


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:1em 0;font-size:13px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}.note{color:#555;font-size:13px}
.chart text{font-size:11px;font-family:system-ui,sans-serif}.lb{fill:#333}.lg{fill:#333}
@media print{body{margin:0}}"""


def render_comparison_html(table: dict, *, title: str, param: str | None = None, values: list | None = None) -> str:
    e = html.escape
    plans = table["plans"]
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{e(title)}</h1>"]
    if param:
        parts.append(f"<p class='note'>Sweep of <code>{e(param)}</code> over {e(', '.join(str(v) for v in values or []))}."
                     " Each variant was planned from the same scenario with only this value changed.</p>")
    head = "".join(f"<th>{e(lab)}</th>" for _, lab, _, _ in KPIS)
    parts.append(f"<h2>Plans</h2><table><tr><th>plan</th><th>solver status</th>{head}</tr>")
    for r in plans:
        cells = "".join(f"<td>{e(_fmt(r.get(k), kind))}</td>" for k, _, _, kind in KPIS)
        parts.append(f"<tr><td>{e(str(r['plan']))}</td><td>{e(status_text(r.get('status'), r.get('gap')))}</td>{cells}</tr>")
    parts.append("</table>")
    labels = [str(r["plan"]) for r in plans]
    if param and values is not None and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        parts.append("<h2>Curves</h2>")
        parts.append(svg_line_chart(values, [("capex CNY", [r.get("capex_cny") for r in plans], "#d62728"),
                                             ("5G stations", [r.get("stations_5g") for r in plans], "#1f77b4"),
                                             ("PON ports", [r.get("pon_ports") for r in plans], "#2ca02c")],
                                    title="cost and counts", xlabel=param))
        parts.append(svg_line_chart(values, [("population covered", [r.get("population_covered_share") for r in plans], "#9467bd"),
                                             ("OLT sites", [r.get("olt_sites") for r in plans], "#8c564b")],
                                    title="coverage and OLT sites", xlabel=param))
    parts.append("<h2>Charts</h2>")
    parts.append(str(svg_hbar_chart(labels, [("capex", [r.get("capex_cny") or 0 for r in plans], "#d62728")],
                                    value_format=lambda v: cny_text(v), title="capex by plan")))
    parts.append(str(svg_hbar_chart(labels, [("population covered %", [100 * (r.get("population_covered_share") or 0) for r in plans], "#9467bd")],
                                    value_format=lambda v: f"{v:.1f}%", title="population covered by plan")))
    diffs = table["district_differences"]
    if diffs:
        parts.append(f"<h2>Per-district differences against {e(labels[0])}</h2><table><tr><th>plan</th><th>district</th>"
                     "<th>Δ 5G stations</th><th>Δ PON ports</th><th>Δ capex</th></tr>")
        for d in diffs:
            parts.append(f"<tr><td>{e(str(d['plan']))}</td><td>{e(str(d['name'] or d['district_id']))}</td>"
                         f"<td>{d['d_stations_5g']:+,.0f}</td><td>{d['d_pon_ports']:+,.0f}</td>"
                         f"<td>{e(('+' if d['d_capex_cny'] >= 0 else '-') + cny_text(abs(d['d_capex_cny'])))}</td></tr>")
        parts.append("</table>")
    parts.append("<p class='note'>Figures are read from each plan's plan.json. A status other than 'optimal' means the "
                 "solver stopped before proving optimality; the gap says how far it could be.</p></body></html>")
    return "".join(parts)


def write_comparison(plan_dirs: list[str | os.PathLike], out_dir: str | os.PathLike, *, labels: list[str] | None = None,
                     title: str = "Plan comparison", param: str | None = None, values: list | None = None) -> Path:
    """Write ``out_dir/compare.html`` and ``out_dir/compare.json`` for the saved plans in ``plan_dirs``."""
    summaries = [load_plan_summary(d) for d in plan_dirs]
    for s in summaries:  # no control or bidi override characters from a hand-edited plan.json
        s["title"] = clean_text(s.get("title", ""))
    labels = [clean_text(v) for v in (labels or [Path(d).name or str(d) for d in plan_dirs])]
    title = clean_text(title)
    table = comparison_table(summaries, labels)
    if param:
        table["param"] = param
        table["values"] = values
    out_dir = Path(out_dir)
    atomic_write_text(out_dir / "compare.json", json.dumps(table, indent=2, ensure_ascii=False, default=str))
    return atomic_write_text(out_dir / "compare.html", render_comparison_html(table, title=title, param=param, values=values))
