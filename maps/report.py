"""The HTML report of a saved plan: one self-contained, print-friendly file.

:func:`write_report` reads ``plan.json`` + ``plan.gpkg`` only and writes
``report.html``: headline figures, the per-district table, charts as inline SVG
(drawn here, no chart library), the per-year table, the solver's honest status
per part, every assumption and data source, and a link to (and a frame with)
``map.html``. The page has no script at all, and a Content-Security-Policy that
forbids scripts, so a hostile name in the inputs can only ever show as text;
every input-derived string goes through Jinja2's autoescape or
:func:`html.escape`.

The figures are recomputed from the plan's layers (see :func:`plan_kpis` for
each definition); the totals the planner saved in ``plan.json`` are also
listed, unchanged, at the end of the report.
"""
from __future__ import annotations

import datetime as _dt
import html
import logging
import math
import os
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from gis.io import atomic_write_text
from maps.map import (TEMPLATES, _as_frame, _district_area_km2, _district_labels, _num, _station_weights,
                      _str, area_km2)

log = logging.getLogger(__name__)

STATUS_ORDER = ("optimal", "feasible", "infeasible", "no_solution")
CAPEX_PARTS = (("5G macro", "#e31a1c"), ("5G small cells", "#fd8d3c"), ("OLT sites & PON ports", "#807dba"),
               ("feeder fibre", "#238b45"))


# ====================================================================== public API
def write_report(plan_dir: str | os.PathLike, out_html: str | os.PathLike | None = None, *,
                 map_href: str = "map.html") -> Path:
    """Write the report of a saved plan.

    Parameters
    ----------
    plan_dir
        Folder holding ``plan.json`` and ``plan.gpkg``.
    out_html
        Output file; default ``plan_dir/report.html``. Written atomically.
    map_href
        Where the report links the interactive map, relative to the report. When
        that file exists the map is also shown in a frame (not in print).
    """
    from rollout.plan import load_plan

    plan_dir = Path(plan_dir)
    plan = load_plan(plan_dir)
    out = Path(out_html) if out_html is not None else plan_dir / "report.html"
    map_exists = (out.parent / map_href).is_file()
    text = render_report_html(plan, map_href=map_href, map_exists=map_exists)
    atomic_write_text(out, text)
    log.info("wrote %s (%.2f MB)", out, len(text.encode("utf-8")) / 1e6)
    return out


def is_modelled(demand_source) -> bool:
    """True when the demand surface is the modelled one (``demand_source`` starts with 'modelled')."""
    return str(demand_source or "").strip().lower().startswith("modelled")


def district_figures(plan) -> pd.DataFrame:
    """One row per district, in the order of the plan's ``districts`` layer.

    Columns: district_id, name_zh, name_en, label, population, households,
    area_km2 (official, else measured in a UTM zone), stations, stations_new,
    stations_per_km2, pon_ports, ports_per_1000_households, olt_sites,
    capex_cny, population_covered_share (0..1).

    The districts layer's own columns are used where present; a missing value
    is recomputed from the stations, OLT-site and demand layers.
    """
    d = _as_frame(plan.districts).reset_index(drop=True)
    ids = _str(d, "district_id")
    out = pd.DataFrame({"district_id": ids, "name_zh": _str(d, "name_zh"), "name_en": _str(d, "name_en"),
                        "label": _district_labels(d)})
    out["population"] = _num(d, "population")
    out["households"] = _num(d, "households")
    out["area_km2"] = _district_area_km2(plan.districts) if len(d) else np.zeros(0)

    st = _as_frame(plan.stations)
    w = _station_weights(st)
    new = st["new"].astype(bool).to_numpy() if "new" in st else np.zeros(len(st), bool)
    sid = _str(st, "district_id")
    stations = pd.Series(w).groupby(sid.to_numpy()).sum() if len(st) else pd.Series(dtype=float)
    stations_new = pd.Series(w * new).groupby(sid.to_numpy()).sum() if len(st) else pd.Series(dtype=float)
    olt = _as_frame(plan.olt_sites)
    oid = _str(olt, "district_id").to_numpy()
    ports = _num(olt, "ports").groupby(oid).sum() if len(olt) else pd.Series(dtype=float)
    nolt = pd.Series(1, index=range(len(olt))).groupby(oid).sum() if len(olt) else pd.Series(dtype=float)
    capex = pd.Series(dtype=float)
    if len(st) or len(olt):
        parts = [pd.Series(_num(st, "capex_cny").fillna(0).to_numpy(), index=sid.to_numpy()),
                 pd.Series(_num(olt, "capex_cny").fillna(0).to_numpy(), index=oid)]
        capex = pd.concat(parts).groupby(level=0).sum()
    dem = _as_frame(plan.demand)
    cov = pd.Series(dtype=float)
    if len(dem) and "covered" in dem and "population" in dem:
        pop = _num(dem, "population").fillna(0).to_numpy()
        did = _str(dem, "district_id").to_numpy()
        tot = pd.Series(pop).groupby(did).sum()
        got = pd.Series(pop * dem["covered"].astype(bool).to_numpy()).groupby(did).sum()
        cov = (got / tot.where(tot > 0)).astype(float)

    def prefer(col, computed, default=np.nan):
        have = _num(d, col)
        calc = ids.map(lambda i: computed.get(i, default) if i is not None else default).astype(float)
        return have.where(have.notna(), calc)

    out["stations"] = prefer("stations_5g", stations, 0.0)
    out["stations_new"] = prefer("stations_5g_new", stations_new, 0.0)
    out["pon_ports"] = prefer("pon_ports", ports, 0.0)
    out["olt_sites"] = prefer("olt_sites", nolt, 0.0)
    out["capex_cny"] = prefer("capex_cny", capex, 0.0)
    out["population_covered_share"] = prefer("population_covered_share", cov)
    area = out["area_km2"].where(out["area_km2"] > 0)
    hh = out["households"].where(out["households"] > 0)
    out["stations_per_km2"] = out["stations"] / area
    out["ports_per_1000_households"] = out["pon_ports"] / hh * 1000.0
    return out


def plan_kpis(plan, *, dist: pd.DataFrame | None = None) -> dict:
    """Headline figures, recomputed from the plan's layers.

    * stations: the sum of the stations layer's ``count`` (new / existing, macro / small);
    * OLT sites and PON ports (new / all) from the ``olt_sites`` layer;
    * fibre km: the links' ``route_km`` (``straight_km`` where missing), feeder and backhaul;
    * capex: ``plan.json`` totals ``capex_cny`` when given, else the districts' sum,
      else stations + OLT sites + feeder links;
    * population covered: people in demand cells marked ``covered`` over all people in demand cells;
    * area covered: area of covered demand cells (UTM) over the area of all demand cells;
    * households passed: households in demand cells homed on an OLT (``olt_id`` set);
      cost per household passed = (OLT-site capex + feeder capex) / households passed.
    """
    k: dict = {}
    st = _as_frame(plan.stations)
    w = _station_weights(st)
    new = st["new"].astype(bool).to_numpy() if "new" in st else np.zeros(len(st), bool)
    typ = _str(st, "type").fillna("").str.lower().to_numpy()
    k["stations"] = int(w.sum())
    k["stations_new"] = int(w[new].sum())
    k["stations_existing"] = int(w[~new].sum())
    k["stations_new_macro"] = int(w[new & (typ == "macro")].sum())
    k["stations_new_small"] = int(w[new & (typ == "small")].sum())
    k["station_sites"] = int(len(st))

    olt = _as_frame(plan.olt_sites)
    onew = olt["new"].astype(bool).to_numpy() if "new" in olt else np.zeros(len(olt), bool)
    k["olt_sites"] = int(len(olt))
    k["olt_sites_new"] = int(onew.sum())
    k["pon_ports"] = int(_num(olt, "ports").fillna(0).sum())
    k["pon_ports_new"] = int(_num(olt, "ports_new").fillna(0).sum())
    k["onts"] = float(_num(olt, "onts").fillna(0).sum())

    links = _as_frame(plan.links)
    km = _num(links, "route_km")
    km = km.where(km.notna(), _num(links, "straight_km")).fillna(0)
    kind = _str(links, "kind").fillna("")
    k["fibre_km_feeder"] = float(km[kind == "feeder"].sum())
    k["fibre_km_backhaul"] = float(km[kind == "backhaul"].sum())
    k["fibre_km"] = float(km.sum())

    capex_st = float(_num(st, "capex_cny").fillna(0).sum())
    capex_olt = float(_num(olt, "capex_cny").fillna(0).sum())
    capex_feeder = float(_num(links, "capex_cny").fillna(0)[kind == "feeder"].sum())
    k["capex_stations_cny"] = capex_st
    k["capex_olt_cny"] = capex_olt
    k["capex_feeder_cny"] = capex_feeder
    total = _finite((plan.totals or {}).get("capex_cny"))
    source = "plan.json totals"
    if total is None:
        dc = _num(_as_frame(plan.districts), "capex_cny")
        if len(dc) and dc.notna().any():
            total, source = float(dc.sum()), "sum of the districts layer"
        else:
            total, source = capex_st + capex_olt + capex_feeder, "stations + OLT sites + feeder fibre"
    k["capex_cny"] = total
    k["capex_source"] = source

    dist = district_figures(plan) if dist is None else dist
    k["districts"] = int(len(dist))
    k["population"] = float(dist["population"].sum())
    k["households"] = float(dist["households"].sum())
    k["area_km2"] = float(dist["area_km2"].sum())
    dem = plan.demand
    ddf = _as_frame(dem)
    k["population_covered"] = k["population_covered_share"] = None
    k["area_covered_km2"] = k["area_covered_share"] = None
    k["households_passed"] = k["cost_per_household_passed_cny"] = None
    if len(ddf) and "covered" in ddf:
        covered = ddf["covered"].astype(bool).to_numpy()
        pop = _num(ddf, "population").fillna(0).to_numpy()
        k["population_covered"] = float(pop[covered].sum())
        k["population_covered_share"] = float(pop[covered].sum() / pop.sum()) if pop.sum() > 0 else None
        cell_km2 = np.asarray(area_km2(gpd.GeoSeries(dem.geometry.values, crs=dem.crs or 4326)), dtype=float)
        k["area_covered_km2"] = float(cell_km2[covered].sum())
        k["area_cells_km2"] = float(cell_km2.sum())
        # same measure above and below the line: covered demand cells over all demand cells
        if k["area_cells_km2"] > 0:
            k["area_covered_share"] = k["area_covered_km2"] / k["area_cells_km2"]
    elif dist["population_covered_share"].notna().any():
        pcs = dist["population_covered_share"].fillna(0)
        k["population_covered"] = float((dist["population"] * pcs).sum())
        k["population_covered_share"] = k["population_covered"] / k["population"] if k["population"] else None
    k["capex_pon_cny"] = capex_olt + capex_feeder
    if len(ddf) and "olt_id" in ddf:
        homed = _str(ddf, "olt_id").fillna("").str.len().to_numpy() > 0
        hp = float(_num(ddf, "households").fillna(0).to_numpy()[homed].sum())
        k["households_passed"] = hp
        k["cost_per_household_passed_cny"] = (capex_olt + capex_feeder) / hp if hp > 0 else None
    return k


def status_text(status: str | None, gap: float | None) -> str:
    """'optimal' only when the solver proved it; otherwise 'feasible, gap x%' and so on."""
    s = str(status or "").strip().lower()
    if s == "optimal":
        return "optimal"
    if s == "feasible":
        return f"feasible, gap {gap * 100:.2f}%" if _finite(gap) is not None else "feasible, gap unknown"
    if s == "infeasible":
        return "infeasible"
    if s in ("no_solution", ""):
        return "no solution found"
    return f"{s} (not proven optimal)"


def joint_vs_sequential(extra: dict | None) -> dict | None:
    """The joint-vs-sequential comparison in ``plan.json`` extra, if there is one.

    Accepts a nested dict under a key containing 'sequential' (e.g.
    ``joint_vs_sequential``) or flat keys; reads the first numbers whose keys
    contain 'joint', 'sequential' and 'saving'. Returns joint, sequential,
    saving (CNY), saving_share and the raw items.
    """
    if not isinstance(extra, dict):
        return None
    block = None
    for key, val in extra.items():
        if "sequential" in str(key).lower() and isinstance(val, dict):
            block = val
            break
    if block is None:
        if not any("sequential" in str(k).lower() for k in extra):
            return None
        block = {k: v for k, v in extra.items() if any(w in str(k).lower() for w in ("joint", "sequential", "saving"))}

    def first(word, avoid=()):
        for key, val in block.items():
            kl = str(key).lower()
            if word in kl and not any(a in kl for a in avoid) and _finite(val) is not None:
                return float(val)
        return None

    joint = first("joint", avoid=("saving", "share", "pct", "percent", "round", "iter"))
    seq = first("sequential", avoid=("saving", "share", "pct", "percent", "round", "iter"))
    saving = first("saving", avoid=("share", "pct", "percent", "rel"))
    if saving is None and joint is not None and seq is not None:
        saving = seq - joint
    share = saving / seq if saving is not None and seq else None
    raw = [(str(key), val) for key, val in _flatten(block).items()]
    if joint is None and seq is None and saving is None and not raw:
        return None
    return {"joint_cny": joint, "sequential_cny": seq, "saving_cny": saving, "saving_share": share, "raw": raw}


# ====================================================================== SVG charts
def svg_hbar_chart(labels: list[str], series: list[tuple[str, list[float], str]], *, value_format=None,
                   title: str = "", width: int = 720) -> Markup:
    """Horizontal (stacked) bars, one row per label; ``series`` = [(name, values, colour)]."""
    value_format = value_format or (lambda v: f"{v:,.0f}")
    n = len(labels)
    bar_h, gap, label_w, top = 18, 6, 190, 8
    legend_h = 22 if len(series) > 1 else 0
    plot_w = width - label_w - 90
    vals = np.array([[_finite(v) or 0.0 for v in s[1]] for s in series], dtype=float).reshape(len(series), n)
    vals = np.clip(vals, 0, None)
    totals = vals.sum(axis=0) if len(series) else np.zeros(n)
    vmax = float(totals.max()) if n and totals.max() > 0 else 1.0
    height = top + legend_h + n * (bar_h + gap) + 8
    e = html.escape
    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{e(title)}">']
    if title:
        out.append(f"<title>{e(title)}</title>")
    if legend_h:
        x = label_w
        for name, _, colour in series:
            out.append(f'<rect x="{x}" y="{top}" width="12" height="12" fill="{e(colour)}"/>'
                       f'<text x="{x + 16}" y="{top + 10}" class="lg">{e(name)}</text>')
            x += 24 + 7 * len(name)
    for i, lab in enumerate(labels):
        y = top + legend_h + i * (bar_h + gap)
        out.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" class="lb">{e(_clip(lab, 28))}'
                   f"<title>{e(lab)}</title></text>")
        x = float(label_w)
        for (name, _, colour), v in zip(series, vals[:, i]):
            wdt = plot_w * v / vmax
            if wdt > 0:
                out.append(f'<rect x="{x:.1f}" y="{y}" width="{wdt:.1f}" height="{bar_h}" fill="{e(colour)}">'
                           f"<title>{e(lab)}: {e(name)} {e(value_format(v))}</title></rect>")
            x += wdt
        out.append(f'<text x="{x + 4:.1f}" y="{y + 13}" class="vl">{e(value_format(totals[i]))}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def svg_histogram(counts: list[float], bin_labels: list[str], *, title: str = "", xlabel: str = "",
                  ylabel: str = "", width: int = 720, height: int = 240, colours: list[str] | None = None) -> Markup:
    """Vertical bars over labelled bins."""
    n = len(counts)
    left, bottom, top = 56, 44, 16
    plot_w, plot_h = width - left - 10, height - bottom - top
    cmax = max([c for c in counts if c] or [1])
    bw = plot_w / max(n, 1)
    e = html.escape
    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{e(title)}">']
    if title:
        out.append(f"<title>{e(title)}</title>")
    for t in _nice_ticks(cmax):
        y = top + plot_h - plot_h * t / cmax
        out.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" class="ax">{t:,.0f}</text>')
    for i, (c, lab) in enumerate(zip(counts, bin_labels)):
        h = plot_h * (c or 0) / cmax
        x = left + i * bw
        colour = (colours or [])[i] if colours and i < len(colours) else "#4292c6"
        out.append(f'<rect x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" width="{max(bw - 2, 1):.1f}" '
                   f'height="{h:.1f}" fill="{e(colour)}"><title>{e(lab)}: {c:,.0f}</title></rect>')
        out.append(f'<text x="{x + bw / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" class="ax">'
                   f"{e(lab)}</text>")
    out.append(f'<line x1="{left}" x2="{width - 10}" y1="{top + plot_h}" y2="{top + plot_h}" class="axis"/>')
    if xlabel:
        out.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 6}" text-anchor="middle" class="lb">'
                   f"{e(xlabel)}</text>")
    if ylabel:
        out.append(f'<text x="12" y="{top + plot_h / 2:.0f}" text-anchor="middle" class="lb" '
                   f'transform="rotate(-90 12 {top + plot_h / 2:.0f})">{e(ylabel)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


# ====================================================================== report body
def render_report_html(plan, *, map_href: str = "map.html", map_exists: bool = False) -> str:
    """The report page as a string (see :func:`write_report`)."""
    dist = district_figures(plan)
    k = plan_kpis(plan, dist=dist)
    from rollout.plan import combine_stats

    solver = combine_stats(list(plan.solves))
    parts = [_solve_row(s.__dict__) for s in plan.solves]
    charts = _charts(plan, dist)
    years_cols, years_rows = _years_table(plan.years)
    data_sources, assumptions = _scenario_tables(plan.scenario, plan.demand_source)
    saved = [(f"{sec}.{key}", _fmt_any(key, val)) for sec, block in
             (("totals", plan.totals), ("coverage", plan.coverage), ("pon", plan.pon))
             for key, val in _flatten(block or {}).items()]
    extra_rows = [(key, _fmt_any(key, val)) for key, val in _flatten(plan.extra or {}).items()
                  if "sequential" not in key.lower() and "joint" not in key.lower()]
    ctx = {
        "title": plan.title or "Rollout plan",
        "drawn": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "modelled": is_modelled(plan.demand_source),
        "demand_source": plan.demand_source or "not recorded",
        "kpis": _kpi_cards(k),
        "k": k,
        "districts": _district_rows(dist),
        "district_total": _district_total(dist, k),
        "charts": charts,
        "years_cols": years_cols,
        "years_rows": years_rows,
        "solver_parts": parts,
        "solver_total": _solve_row(solver) if plan.solves else None,
        "jvs": _jvs_rows(joint_vs_sequential(plan.extra)),
        "data_sources": data_sources,
        "assumptions": assumptions,
        "saved": saved,
        "extra_rows": extra_rows,
        "map_href": map_href,
        "map_exists": map_exists,
    }
    return _env().get_template("report.html.j2").render(**ctx)


def _kpi_cards(k: dict) -> list[tuple[str, str, str]]:
    """(label, value, note) for the headline cards."""
    cards = [
        ("5G stations", _int(k["stations"]),
         f"{_int(k['stations_new'])} new ({_int(k['stations_new_macro'])} macro, "
         f"{_int(k['stations_new_small'])} small) + {_int(k['stations_existing'])} existing"),
        ("10G-PON ports", _int(k["pon_ports"]), f"{_int(k['pon_ports_new'])} new"),
        ("OLT sites", _int(k["olt_sites"]), f"{_int(k['olt_sites_new'])} new"),
        ("fibre", f"{k['fibre_km']:,.0f} km",
         f"feeder {k['fibre_km_feeder']:,.0f} km, backhaul {k['fibre_km_backhaul']:,.0f} km (route)"),
        ("capex", cny_text(k["capex_cny"]), f"source: {k['capex_source']}"),
        ("population covered", _share(k["population_covered_share"]),
         f"{_int(k['population_covered'])} of {_int(k['population'])} people" if k["population_covered"] is not None
         else "not recorded"),
        ("area covered", _share(k["area_covered_share"]),
         f"{k['area_covered_km2']:,.0f} of {k.get('area_cells_km2', k['area_km2']):,.0f} km\u00b2 of demand cells" if k["area_covered_km2"] is not None
         else "not recorded"),
        ("cost per household passed", cny_text(k["cost_per_household_passed_cny"], exact=True),
         f"PON capex {cny_text(k['capex_pon_cny'])} / {_int(k['households_passed'])} households"
         if k["households_passed"] is not None else "no OLT homing in the demand layer"),
    ]
    return cards


def _district_rows(dist: pd.DataFrame) -> list[list[str]]:
    rows = []
    for r in dist.itertuples(index=False):
        rows.append([r.district_id or "", r.name_zh or "", r.name_en or "", _int(r.population), _int(r.households),
                     _num_text(r.area_km2, 1), _int(r.stations), _int(r.stations_new),
                     _num_text(r.stations_per_km2, 2), _int(r.pon_ports), _num_text(r.ports_per_1000_households, 1),
                     _int(r.olt_sites), _mcny(r.capex_cny), _share(r.population_covered_share)])
    return rows


def _district_total(dist: pd.DataFrame, k: dict) -> list[str]:
    area = float(dist["area_km2"].sum())
    st = float(dist["stations"].sum())
    ports = float(dist["pon_ports"].sum())
    hh = float(dist["households"].sum())
    pop = dist["population"].fillna(0)
    pcs = dist["population_covered_share"]
    cov = float((pop * pcs.fillna(0)).sum() / pop[pcs.notna()].sum()) if pcs.notna().any() and pop[
        pcs.notna()].sum() > 0 else None
    return ["", "total", "", _int(pop.sum()), _int(hh), _num_text(area, 1), _int(st),
            _int(dist["stations_new"].sum()), _num_text(st / area if area else None, 2), _int(ports),
            _num_text(ports / hh * 1000 if hh else None, 1), _int(dist["olt_sites"].sum()),
            _mcny(dist["capex_cny"].sum()), _share(cov)]


def _charts(plan, dist: pd.DataFrame) -> list[dict]:
    charts = []
    labels = [str(x) for x in dist["label"]]
    ids = dist["district_id"].tolist()
    # capex by district and type
    st = _as_frame(plan.stations)
    typ = _str(st, "type").fillna("").str.lower()
    sid = _str(st, "district_id")
    cap = _num(st, "capex_cny").fillna(0)
    macro = cap[(typ == "macro").to_numpy()].groupby(sid[(typ == "macro").to_numpy()].to_numpy()).sum()
    small = cap[(typ != "macro").to_numpy()].groupby(sid[(typ != "macro").to_numpy()].to_numpy()).sum()
    olt = _as_frame(plan.olt_sites)
    olt_c = _num(olt, "capex_cny").fillna(0).groupby(_str(olt, "district_id").to_numpy()).sum() if len(olt) \
        else pd.Series(dtype=float)
    feeder = _feeder_capex_by_district(plan)
    series = []
    for (name, colour), ser in zip(CAPEX_PARTS, (macro, small, olt_c, feeder)):
        series.append((name, [float(ser.get(i, 0.0)) / 1e6 for i in ids], colour))
    charts.append({"title": "Capex by district and type (million CNY)",
                   "note": "5G stations include their backhaul fibre; feeder fibre is assigned to the district of "
                           "the demand cell it serves.",
                   "svg": svg_hbar_chart(labels, series, value_format=lambda v: f"{v:,.1f} M",
                                         title="Capex by district and type")})
    charts.append({"title": "5G stations per km\u00b2 by district", "note": "",
                   "svg": svg_hbar_chart(labels, [("stations per km\u00b2",
                                                   [_finite(v) or 0.0 for v in dist["stations_per_km2"]],
                                                   "#2c7fb8")],
                                         value_format=lambda v: f"{v:,.2f}", title="5G stations per km2")})
    # utilisation histogram
    u = _num(st, "utilisation").to_numpy()
    wt = _station_weights(st).astype(float)
    ok = np.isfinite(u)
    edges = np.arange(0, 1.0001, 0.1)
    counts = [float(wt[ok & (u >= a) & ((u < b) if i < 9 else (u <= b))].sum())
              for i, (a, b) in enumerate(zip(edges[:-1], edges[1:]))]
    counts.append(float(wt[ok & (u > 1.0)].sum()))
    blabels = [f"{int(a * 100)}\u2013{int(b * 100)}%" for a, b in zip(edges[:-1], edges[1:])] + [">100%"]
    colours = ["#4292c6"] * 10 + ["#cb181d"]
    if ok.any():
        charts.append({"title": "Station utilisation at the busy hour (stations per 10% bin)",
                       "note": f"{int(wt[~ok].sum()):,} stations without a utilisation figure are not shown."
                       if (~ok).any() else "",
                       "svg": svg_histogram(counts, blabels, title="Utilisation histogram",
                                            xlabel="carried / capacity", ylabel="stations", colours=colours)})
    else:
        charts.append({"title": "Station utilisation at the busy hour", "svg": Markup(""),
                       "note": "This plan holds no station with a utilisation figure."})
    return charts


def _feeder_capex_by_district(plan) -> pd.Series:
    links = _as_frame(plan.links)
    if not len(links):
        return pd.Series(dtype=float)
    feeder = (_str(links, "kind") == "feeder").to_numpy()
    dem = _as_frame(plan.demand)
    cell_district = dict(zip(_str(dem, "cell_id"), _str(dem, "district_id")))
    district = _str(links, "from_id").map(lambda c: cell_district.get(c))[feeder]
    cap = _num(links, "capex_cny").fillna(0)[feeder]
    return cap.groupby(district.fillna("?").to_numpy()).sum()


def _solve_row(s: dict) -> dict:
    return {
        "part": str(s.get("part") or "all parts"),
        "name": str(s.get("name") or ""),
        "status": status_text(s.get("status"), s.get("gap")),
        "optimal": str(s.get("status") or "").lower() == "optimal",
        "objective": _int(s.get("objective")),   # CNY for cost models; a part may minimise something else
        "bound": _int(s.get("bound")),
        "gap": _share(s.get("gap"), digits=2),
        "seconds": f"{(_finite(s.get('seconds')) or 0):,.1f} s solve + {(_finite(s.get('build_seconds')) or 0):,.1f} s build",
        "size": f"{_int(s.get('variables'))} variables ({_int(s.get('integer_variables'))} integer), "
                f"{_int(s.get('constraints'))} constraints, {_int(s.get('nonzeros'))} nonzeros"
        if s.get("integer_variables") is not None else
        f"{_int(s.get('variables'))} variables, {_int(s.get('constraints'))} constraints, "
        f"{_int(s.get('nonzeros'))} nonzeros",
        "limits": ", ".join(x for x in (
            f"time limit {s['time_limit_s']:,.0f} s" if _finite(s.get("time_limit_s")) is not None else "",
            f"requested gap {s['gap_rel_requested'] * 100:.2f}%" if _finite(s.get("gap_rel_requested")) is not None
            else "",
            f"{s['iterations']} rounds" if (s.get("iterations") or 1) > 1 else "") if x),
        "notes": str(s.get("notes") or ""),
    }


def _jvs_rows(j: dict | None) -> dict | None:
    if not j:
        return None
    return {"joint": cny_text(j["joint_cny"]), "sequential": cny_text(j["sequential_cny"]),
            "saving": cny_text(j["saving_cny"]), "share": _share(j["saving_share"], digits=2) if j["saving_share"] is not None else "",
            "raw": [(key, _fmt_any(key, val)) for key, val in j["raw"]]}


def _years_table(years) -> tuple[list[str], list[list[str]]]:
    if not years:
        return [], []
    if not all(isinstance(y, dict) for y in years):
        return ["year"], [[_fmt_any("", y)] for y in years]
    cols: list[str] = []
    for y in years:
        for key in _flatten(y):
            if key not in cols:
                cols.append(key)
    rows = []
    for y in years:
        flat = _flatten(y)
        rows.append([_fmt_any(c, flat.get(c)) for c in cols])
    return [_pretty_key(c) for c in cols], rows


def _pretty_key(key: str) -> str:
    """'capex_cny' -> 'capex (CNY)', 'population_covered_share' -> 'population covered (share)'."""
    k = str(key)
    for suffix, unit in (("_cny", "CNY"), ("_share", "share"), ("_km", "km"), ("_mbps", "Mbit/s"), ("_s", "s")):
        if k.endswith(suffix):
            return k[: -len(suffix)].replace("_", " ") + f" ({unit})"
    return k.replace("_", " ")


def _scenario_tables(scenario: dict, demand_source: str) -> tuple[list, list]:
    flat = _flatten(scenario or {})
    sources = [("demand surface", demand_source or "not recorded")]
    assumptions = []
    for key, val in flat.items():
        low = key.lower()
        if low.startswith("data.") or "source" in low or low.endswith(("_file", "_path")):
            text = _fmt_any(key, val)
            if text in ("", "\u2013"):
                text = "(default)"
            sources.append((key, text))
        else:
            assumptions.append((key, _fmt_any(key, val)))
    return sources, assumptions


# ====================================================================== formatting
def cny_text(v, *, exact: bool = False) -> str:
    """'4.21 bn CNY', '12.3 M CNY' or '1,234 CNY' ('exact' keeps whole CNY below a million)."""
    x = _finite(v)
    if x is None:
        return "\u2013"
    a = abs(x)
    if a == 0:
        return "0 CNY"
    if a >= 1e9:
        return f"{x / 1e9:,.2f} bn CNY"
    if a >= 1e6:
        return f"{x / 1e6:,.1f} M CNY"
    return f"{x:,.0f} CNY" if exact or a >= 1 else f"{x:,.2f} CNY"


def _finite(v) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _int(v) -> str:
    x = _finite(v)
    return "\u2013" if x is None else f"{x:,.0f}"


def _num_text(v, digits: int) -> str:
    x = _finite(v)
    return "\u2013" if x is None else f"{x:,.{digits}f}"


def _share(v, digits: int = 1) -> str:
    x = _finite(v)
    return "\u2013" if x is None else f"{x * 100:.{digits}f}%"


def _mcny(v) -> str:
    x = _finite(v)
    return "\u2013" if x is None else f"{x / 1e6:,.1f}"


def _fmt_any(key: str, val) -> str:
    """A scenario / totals value as text, by the unit in its key."""
    if val is None:
        return "\u2013"
    if isinstance(val, bool):
        return "yes" if val else "no"
    if isinstance(val, (list, tuple)):
        return ", ".join(_fmt_any("", v) for v in val) if val else "(none)"
    if isinstance(val, dict):
        return "; ".join(f"{a} = {_fmt_any(a, b)}" for a, b in val.items()) if val else "(none)"
    x = _finite(val) if isinstance(val, (int, float, np.number)) else None
    if x is None:
        return str(val)
    low = key.lower()
    if low.endswith("year") or low == "year":
        return f"{x:.0f}"
    if low.endswith("_cny") or low.endswith("cny"):
        return cny_text(x, exact=True)
    if low.endswith(("_share", "share")):
        return _share(x, 2)
    if float(x).is_integer():
        return f"{x:,.0f}"
    return f"{x:,.4g}" if abs(x) < 1000 else f"{x:,.1f}"


def _flatten(d, prefix: str = "") -> dict:
    out = {}
    if not isinstance(d, dict):
        return {prefix or "value": d}
    for key, val in d.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(val, dict) and val:
            out.update(_flatten(val, name))
        else:
            out[name] = val
    return out


def _clip(s: str, n: int) -> str:
    s = str(s)
    return s if len(s) <= n else s[: n - 1] + "\u2026"


def _nice_ticks(vmax: float) -> list[float]:
    if vmax <= 0:
        return [0.0]
    raw = vmax / 4
    mag = 10 ** math.floor(math.log10(raw))
    step = max(1.0, next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw))  # counts: whole ticks
    return [i * step for i in range(int(vmax // step) + 1)]


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
