"""The HTML report of a saved plan: one self-contained, print-friendly file.

:func:`write_report` reads ``plan.json`` + ``plan.gpkg`` only and writes
``report.html``: headline figures, the per-district table, charts as inline SVG
(drawn here, no chart library), the per-year table, the solver's honest status
per part, every assumption and data source, and a link to (and a frame with)
``map.html``; when the plan carries them (:mod:`maps.network`), the link budget, the coverage
evaluation (headline shares, by district, RSRP chart), the optical budget and the bill of quantities
(:mod:`maps.network_report`), and a "modelled" label on a modelled existing network. The page has no script at all, and a Content-Security-Policy that
forbids scripts, so a hostile name in the inputs can only ever show as text;
every input-derived string goes through Jinja2's autoescape or
:func:`html.escape`.

The headline figures are recomputed from the plan's layers (see :func:`plan_kpis`
for each definition); the per-district figures are the planner's saved
``districts`` table (:func:`maps.tables.district_figures`); the totals the
planner saved in ``plan.json`` are also listed, unchanged, at the end of the report.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from gis.crs import area_km2
from gis.io import atomic_write_text
from maps.charts import svg_hbar_chart, svg_histogram
from maps.network import NetworkParts, network_parts, with_evaluated_coverage
from maps.network_report import network_context, threshold_text
from maps.tables import (DASH, as_frame, booleans, cny_text, district_figures, finite, int_text, is_modelled,
                         num_text, numbers, share_text, station_weights, status_text, strings)

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).with_name("templates")
CAPEX_PARTS = (("5G macro", "#e31a1c"), ("5G small cells", "#fd8d3c"), ("OLT sites & PON ports", "#807dba"),
               ("PON fibre (feeder, distribution)", "#238b45"))


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
    from maps.tables import clean_plan_text
    from rollout.plan import load_plan

    plan_dir = Path(plan_dir)
    plan = clean_plan_text(load_plan(plan_dir))
    out = Path(out_html) if out_html is not None else plan_dir / "report.html"
    map_exists = (out.parent / map_href).is_file()
    text = render_report_html(plan, map_href=map_href, map_exists=map_exists,
                              network=network_parts(plan, plan_dir))
    atomic_write_text(out, text)
    log.info("wrote %s (%.2f MB)", out, len(text.encode("utf-8")) / 1e6)
    return out


def plan_kpis(plan, *, dist: pd.DataFrame | None = None, network: NetworkParts | None = None) -> dict:
    """Headline figures, recomputed from the plan's layers.

    * stations: the sum of the stations layer's ``count`` (new / existing, macro / small);
    * OLT sites and PON ports (new / all) from the ``olt_sites`` layer;
    * fibre km: the links' ``route_km`` (``straight_km`` where missing), feeder and backhaul;
    * capex: ``plan.json`` totals ``capex_cny`` when given, else the districts' sum,
      else stations + OLT sites + feeder links;
    * population covered: people in demand cells marked ``covered`` over all people in demand cells;
    * area covered: area of covered demand cells (metric CRS, :func:`gis.crs.area_km2`) over the area
      of all demand cells;
    * households passed: households in demand cells homed on an OLT (``olt_id`` set);
      cost per household passed = (OLT-site capex + feeder capex) / households passed.

    When the plan carries them (:mod:`maps.network`), the coverage evaluation replaces the population and
    area covered (best-server RSRP at the threshold on the H3 lattice, and nothing else), and the bill of
    quantities replaces homes passed and the cost per home passed (:func:`_network_kpis`).
    """
    st, olt, links = as_frame(plan.stations), as_frame(plan.olt_sites), as_frame(plan.links)
    k = {**_station_kpis(st), **_olt_kpis(olt), **_fibre_kpis(links), **_capex_kpis(plan, st, olt, links)}
    dist = district_figures(plan) if dist is None else dist
    k["districts"] = int(len(dist))
    k["population"] = float(dist["population"].sum())
    k["households"] = float(dist["households"].sum())
    k["area_km2"] = float(dist["area_km2"].sum())
    k.update(_coverage_kpis(plan.demand, dist, k["population"]))
    k["capex_pon_cny"] = k["capex_olt_cny"] + k["capex_feeder_cny"]
    k.update(_homing_kpis(as_frame(plan.demand), k["capex_pon_cny"]))
    k.update(_network_kpis(network_parts(plan) if network is None else network))
    return k


def _station_kpis(st: pd.DataFrame) -> dict:
    w = station_weights(st)
    new = booleans(st, "new")
    typ = strings(st, "type").fillna("").str.lower().to_numpy()
    return {"stations": int(w.sum()), "stations_new": int(w[new].sum()), "stations_existing": int(w[~new].sum()),
            "stations_new_macro": int(w[new & (typ == "macro")].sum()),
            "stations_new_small": int(w[new & (typ == "small")].sum()), "station_sites": int(len(st))}


def _olt_kpis(olt: pd.DataFrame) -> dict:
    return {"olt_sites": int(len(olt)), "olt_sites_new": int(booleans(olt, "new").sum()),
            "pon_ports": int(numbers(olt, "ports").fillna(0).sum()),
            "pon_ports_new": int(numbers(olt, "ports_new").fillna(0).sum()),
            "onts": float(numbers(olt, "onts").fillna(0).sum())}


def _fibre_kpis(links: pd.DataFrame) -> dict:
    km = numbers(links, "route_km")
    km = km.where(km.notna(), numbers(links, "straight_km")).fillna(0)
    kind = strings(links, "kind").fillna("")
    spur = (kind == "backhaul") & (strings(links, "carrier").fillna("") == "spur")
    return {"fibre_km_feeder": float(km[kind == "feeder"].sum()), "fibre_km_backhaul": float(km[kind == "backhaul"].sum()),
            "fibre_km_spur": float(km[spur].sum()),
            "fibre_km_distribution": float(km[kind == "distribution"].sum()), "fibre_km": float(km.sum())}


def _backhaul_text(k: dict) -> str:
    """``backhaul N km (route)``, with the small cells' spurs to their macro sites where the plan has them."""
    spur = k.get("fibre_km_spur") or 0.0
    return (f"backhaul {k['fibre_km_backhaul']:,.0f} km (route"
            + (f"; {spur:,.0f} km of it small-cell spurs to macro sites)" if spur else ")"))


def _capex_kpis(plan, st: pd.DataFrame, olt: pd.DataFrame, links: pd.DataFrame) -> dict:
    capex_st = float(numbers(st, "capex_cny").fillna(0).sum())
    capex_olt = float(numbers(olt, "capex_cny").fillna(0).sum())
    feeder = (strings(links, "kind").fillna("") == "feeder")
    capex_feeder = float(numbers(links, "capex_cny").fillna(0)[feeder].sum())
    total = finite((plan.totals or {}).get("capex_cny"))
    source = "plan.json totals"
    if total is None:
        dc = numbers(as_frame(plan.districts), "capex_cny")
        if len(dc) and dc.notna().any():
            total, source = float(dc.sum()), "sum of the districts layer"
        else:
            total, source = capex_st + capex_olt + capex_feeder, "stations + OLT sites + feeder fibre"
    return {"capex_stations_cny": capex_st, "capex_olt_cny": capex_olt, "capex_feeder_cny": capex_feeder,
            "capex_cny": total, "capex_source": source}


def _coverage_kpis(demand: gpd.GeoDataFrame, dist: pd.DataFrame, population: float) -> dict:
    k: dict = {"population_covered": None, "population_covered_share": None,
               "area_covered_km2": None, "area_covered_share": None}
    ddf = as_frame(demand)
    if len(ddf) and "covered" in ddf:
        covered = ddf["covered"].astype(bool).to_numpy()
        pop = numbers(ddf, "population").fillna(0).to_numpy()
        k["population_covered"] = float(pop[covered].sum())
        k["population_covered_share"] = float(pop[covered].sum() / pop.sum()) if pop.sum() > 0 else None
        cell_km2 = area_km2(demand.geometry)
        k["area_covered_km2"] = float(cell_km2[covered].sum())
        k["area_cells_km2"] = float(cell_km2.sum())
        # same measure above and below the line: covered demand cells over all demand cells
        if k["area_cells_km2"] > 0:
            k["area_covered_share"] = k["area_covered_km2"] / k["area_cells_km2"]
    elif dist["population_covered_share"].notna().any():
        pcs = dist["population_covered_share"].fillna(0)
        k["population_covered"] = float((dist["population"] * pcs).sum())
        k["population_covered_share"] = k["population_covered"] / population if population else None
    return k


def _network_kpis(parts: NetworkParts) -> dict:
    """Coverage from ``coverage.evaluation`` and homes passed from ``pon.bill_of_quantities``, when present."""
    k: dict = {"coverage_source": "demand cells", "homes_source": None, "existing_modelled": parts.existing_modelled}
    ev = parts.evaluation
    if ev:
        k.update({"coverage_source": "evaluation", "coverage_threshold_dbm": finite(ev.get("threshold_dbm")),
                  "coverage_points": finite(ev.get("points")),
                  "population_covered_share": finite(ev.get("population_share")),
                  "area_covered_share": finite(ev.get("area_share")), "population_covered": None,
                  "area_covered_km2": None})
    boq = parts.bill_of_quantities
    if boq:
        k.update({"homes_source": "bill of quantities", "households_passed": finite(boq.get("homes_passed")),
                  "cost_per_household_passed_cny": finite(boq.get("cost_per_home_passed_cny"))})
    return k


def _homing_kpis(ddf: pd.DataFrame, capex_pon_cny: float) -> dict:
    if not (len(ddf) and "olt_id" in ddf):
        return {"households_passed": None, "cost_per_household_passed_cny": None}
    homed = strings(ddf, "olt_id").fillna("").str.len().to_numpy() > 0
    hp = float(numbers(ddf, "households").fillna(0).to_numpy()[homed].sum())
    return {"households_passed": hp, "cost_per_household_passed_cny": capex_pon_cny / hp if hp > 0 else None}


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
            if word in kl and not any(a in kl for a in avoid) and finite(val) is not None:
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


# ====================================================================== report body
def render_report_html(plan, *, map_href: str = "map.html", map_exists: bool = False,
                       network: NetworkParts | None = None) -> str:
    """The report page as a string (see :func:`write_report`); ``network``: the plan's optional radio/ODN parts."""
    network = network_parts(plan) if network is None else network
    dist = with_evaluated_coverage(district_figures(plan), network.evaluation)
    k = plan_kpis(plan, dist=dist, network=network)
    solver = plan.summary()["solver"]  # all parts together, as plan.json holds them
    parts = [_solve_row(s.__dict__) for s in plan.solves]
    charts = _charts(plan, dist, network)
    years_cols, years_rows = _years_table(plan.years)
    data_sources, assumptions = _scenario_tables(plan.scenario, plan.demand_source)
    if network.existing_source:
        data_sources.insert(1, ("existing 5G sites", network.existing_source
                                + (" (modelled)" if network.existing_modelled else "")))
    saved = [(f"{sec}.{key}", _fmt_any(key, val)) for sec, block in
             (("totals", plan.totals), ("coverage", plan.coverage), ("pon", plan.pon))
             for key, val in _flatten(block or {}).items() if not _is_table(val)]
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
        "solver_total": _plan_solve_row(solver) if plan.solves else None,
        "jvs": _jvs_rows(joint_vs_sequential(plan.extra)),
        "data_sources": data_sources,
        "assumptions": assumptions,
        "saved": saved,
        "extra_rows": extra_rows,
        "map_href": map_href,
        "map_exists": map_exists,
        "network": network_context(network),
    }
    return _env().get_template("report.html.j2").render(**ctx)


def _kpi_cards(k: dict) -> list[tuple[str, str, str]]:
    """(label, value, note) for the headline cards."""
    cards = [
        ("5G stations", int_text(k["stations"]),
         f"{int_text(k['stations_new'])} new ({int_text(k['stations_new_macro'])} macro, "
         f"{int_text(k['stations_new_small'])} small) + {int_text(k['stations_existing'])} existing"),
        ("10G-PON ports", int_text(k["pon_ports"]), f"{int_text(k['pon_ports_new'])} new"),
        ("OLT sites", int_text(k["olt_sites"]), f"{int_text(k['olt_sites_new'])} new"),
        ("fibre", f"{k['fibre_km']:,.0f} km",
         f"feeder {k['fibre_km_feeder']:,.0f} km, {_backhaul_text(k)}"),
        ("capex", cny_text(k["capex_cny"]), f"source: {k['capex_source']}"),
        ("population covered", share_text(k["population_covered_share"]),
         f"{int_text(k['population_covered'])} of {int_text(k['population'])} people" if k["population_covered"] is not None
         else "not recorded"),
        ("area covered", share_text(k["area_covered_share"]),
         f"{k['area_covered_km2']:,.0f} of {k.get('area_cells_km2', k['area_km2']):,.0f} km\u00b2 of demand cells" if k["area_covered_km2"] is not None
         else "not recorded"),
        ("cost per household passed", cny_text(k["cost_per_household_passed_cny"], exact=True),
         f"PON capex {cny_text(k['capex_pon_cny'])} / {int_text(k['households_passed'])} households"
         if k["households_passed"] is not None else "no OLT homing in the demand layer"),
    ]
    return _network_cards(cards, k)


def _network_cards(cards: list[tuple[str, str, str]], k: dict) -> list[tuple[str, str, str]]:
    """The coverage cards from the coverage evaluation and the homes-passed card from the bill of quantities."""
    out = []
    for label, value, note in cards:
        if label == "5G stations" and k.get("existing_modelled"):
            note += " (existing network modelled)"
        elif label == "fibre" and k.get("fibre_km_distribution"):
            note = (f"feeder {k['fibre_km_feeder']:,.0f} km, distribution {k['fibre_km_distribution']:,.0f} km, "
                    f"{_backhaul_text(k)}")
        elif label in ("population covered", "area covered") and k.get("coverage_source") == "evaluation":
            thr = threshold_text(k.get("coverage_threshold_dbm"))
            value = share_text(k[f"{label.split()[0]}_covered_share"])
            label = f"{label} (\u2265 {thr})"
            note = f"best-server RSRP on {int_text(k.get('coverage_points'))} lattice points"
        elif label == "cost per household passed" and k.get("homes_source"):
            label = "cost per home passed"
            note = f"bill of quantities: {int_text(k['households_passed'])} homes passed"
        out.append((label, value, note))
    return out


def _district_rows(dist: pd.DataFrame) -> list[list[str]]:
    rows = []
    for r in dist.itertuples(index=False):
        rows.append([r.district_id or "", r.name_zh or "", r.name_en or "", int_text(r.population), int_text(r.households),
                     num_text(r.area_km2, 1), int_text(r.stations), int_text(r.stations_new),
                     num_text(r.stations_per_km2, 2), int_text(r.pon_ports), num_text(r.ports_per_1000_households, 1),
                     int_text(r.olt_sites), _mcny(r.capex_cny), share_text(r.population_covered_share)])
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
    return ["", "total", "", int_text(pop.sum()), int_text(hh), num_text(area, 1), int_text(st),
            int_text(dist["stations_new"].sum()), num_text(st / area if area else None, 2), int_text(ports),
            num_text(ports / hh * 1000 if hh else None, 1), int_text(dist["olt_sites"].sum()),
            _mcny(dist["capex_cny"].sum()), share_text(cov)]


def _charts(plan, dist: pd.DataFrame, network: NetworkParts | None = None) -> list[dict]:
    charts = []
    labels = [str(x) for x in dist["label"]]
    ids = dist["district_id"].tolist()
    # capex by district and type
    st = as_frame(plan.stations)
    typ = strings(st, "type").fillna("").str.lower()
    sid = strings(st, "district_id")
    cap = numbers(st, "capex_cny").fillna(0)
    macro = cap[(typ == "macro").to_numpy()].groupby(sid[(typ == "macro").to_numpy()].to_numpy()).sum()
    small = cap[(typ != "macro").to_numpy()].groupby(sid[(typ != "macro").to_numpy()].to_numpy()).sum()
    olt = as_frame(plan.olt_sites)
    olt_c = numbers(olt, "capex_cny").fillna(0).groupby(strings(olt, "district_id").to_numpy()).sum() if len(olt) \
        else pd.Series(dtype=float)
    feeder = _feeder_capex_by_district(plan, None if network is None else network.splitters)
    series = []
    for (name, colour), ser in zip(CAPEX_PARTS, (macro, small, olt_c, feeder), strict=True):
        series.append((name, [float(ser.get(i, 0.0)) / 1e6 for i in ids], colour))
    charts.append({"title": "Capex by district and type (million CNY)",
                   "note": "5G stations include their backhaul fibre; feeder and distribution fibre is assigned to "
                           "the district of the demand cell or cabinet it leads to.",
                   "svg": svg_hbar_chart(labels, series, value_format=lambda v: f"{v:,.1f} M",
                                         title="Capex by district and type")})
    charts.append({"title": "5G stations per km\u00b2 by district", "note": "",
                   "svg": svg_hbar_chart(labels, [("stations per km\u00b2",
                                                   [finite(v) or 0.0 for v in dist["stations_per_km2"]],
                                                   "#2c7fb8")],
                                         value_format=lambda v: f"{v:,.2f}", title="5G stations per km2")})
    # utilisation histogram
    u = numbers(st, "utilisation").to_numpy()
    wt = station_weights(st).astype(float)
    ok = np.isfinite(u)
    edges = np.arange(0, 1.0001, 0.1)
    counts = [float(wt[ok & (u >= a) & ((u < b) if i < 9 else (u <= b))].sum())
              for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True))]
    counts.append(float(wt[ok & (u > 1.0)].sum()))
    blabels = [f"{int(a * 100)}\u2013{int(b * 100)}%" for a, b in zip(edges[:-1], edges[1:], strict=True)] + [">100%"]
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


def _feeder_capex_by_district(plan, splitters: gpd.GeoDataFrame | None = None) -> pd.Series:
    """Capex of feeder and distribution links by district: of the cell, cabinet or OLT a link leads to (or from)."""
    links = as_frame(plan.links)
    if not len(links):
        return pd.Series(dtype=float)
    feeder = strings(links, "kind").isin(["feeder", "distribution"]).to_numpy()
    where: dict = {}
    for table, key in ((plan.olt_sites, "office_id"), (splitters, "splitter_id"), (plan.demand, "cell_id")):
        t = as_frame(table)
        if len(t):
            where.update(zip(strings(t, key), strings(t, "district_id"), strict=True))
    to_d = strings(links, "to_id").map(lambda c: where.get(c))
    district = to_d.where(to_d.notna(), strings(links, "from_id").map(lambda c: where.get(c)))[feeder]
    cap = numbers(links, "capex_cny").fillna(0)[feeder]
    return cap.groupby(district.fillna("?").to_numpy()).sum()


def _solve_row(s: dict) -> dict:
    return {
        "part": str(s.get("part") or "all parts"),
        "name": str(s.get("name") or ""),
        "status": status_text(s.get("status"), s.get("gap")),
        "optimal": str(s.get("status") or "").lower() == "optimal",
        "objective": int_text(s.get("objective")),   # CNY for cost models; a part may minimise something else
        "bound": int_text(s.get("bound")),
        "gap": share_text(s.get("gap"), digits=2),
        "seconds": f"{(finite(s.get('seconds')) or 0):,.1f} s solve + {(finite(s.get('build_seconds')) or 0):,.1f} s build",
        "size": f"{int_text(s.get('variables'))} variables ({int_text(s.get('integer_variables'))} integer), "
                f"{int_text(s.get('constraints'))} constraints, {int_text(s.get('nonzeros'))} nonzeros"
        if s.get("integer_variables") is not None else
        f"{int_text(s.get('variables'))} variables, {int_text(s.get('constraints'))} constraints, "
        f"{int_text(s.get('nonzeros'))} nonzeros",
        "limits": ", ".join(x for x in (
            f"time limit {s['time_limit_s']:,.0f} s" if finite(s.get("time_limit_s")) is not None else "",
            f"requested gap {s['gap_rel_requested'] * 100:.2f}%" if finite(s.get("gap_rel_requested")) is not None
            else "",
            f"{s['iterations']} rounds" if (s.get("iterations") or 1) > 1 else "") if x),
        "notes": str(s.get("notes") or ""),
    }


def _plan_solve_row(solver: dict) -> dict:
    """The whole plan's row: its capex (or budget objective) against the proven bound, and how it was bounded."""
    row = _solve_row({**solver, "part": "whole plan"})
    row["notes"] = "; ".join(str(x) for x in (solver.get("meaning"), solver.get("bound_method")) if x)
    row["limits"] = ""
    return row


def _jvs_rows(j: dict | None) -> dict | None:
    if not j:
        return None
    raw = dict(j["raw"])
    bound = finite(raw.get("joint_lower_bound_cny"))
    return {"joint": cny_text(j["joint_cny"]), "sequential": cny_text(j["sequential_cny"]),
            "saving": cny_text(j["saving_cny"]), "share": share_text(j["saving_share"], digits=2) if j["saving_share"] is not None else "",
            "bound": cny_text(bound) if bound is not None else "",
            "gap": share_text(finite(raw.get("joint_gap_to_bound")), digits=2) if bound is not None else "",
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
def _mcny(v) -> str:
    x = finite(v)
    return DASH if x is None else f"{x / 1e6:,.1f}"


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
    x = finite(val) if isinstance(val, (int, float, np.number)) else None
    if x is None:
        return str(val)
    low = key.lower()
    if low.endswith("year") or low == "year":
        return f"{x:.0f}"
    if low.endswith("_cny") or low.endswith("cny"):
        return cny_text(x, exact=True)
    if low.endswith(("_share", "share")):
        return share_text(x, 2)
    if float(x).is_integer():
        return f"{x:,.0f}"
    return f"{x:,.4g}" if abs(x) < 1000 else f"{x:,.1f}"


def _is_table(val) -> bool:
    """A list of rows (shown as its own table in the report, not as one line of saved figures)."""
    return isinstance(val, list) and any(isinstance(v, dict) for v in val)


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


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
