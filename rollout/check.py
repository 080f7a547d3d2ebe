"""Check a saved plan independently of the solver: recompute what must hold from the files alone.

``rollout check DIR`` runs :func:`check_plan` on ``DIR/plan.json`` + ``DIR/plan.gpkg`` and prints
one line per invariant. Nothing here reads solver variables: coverage is recomputed from the
station coordinates and the demand cells' planning points and radii in a metric CRS, capacity
and ports from the layers' columns, capex from its parts.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from gis.crs import metric_crs
from rollout.plan import load_plan

REL = 1e-6


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def _xy(gdf, crs):
    g = gdf.to_crs(crs)
    pts = g.geometry.representative_point() if not (g.geom_type == "Point").all() else g.geometry
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])


def t_capex(plan) -> float:
    return float(plan.totals.get("capex_cny", 0.0))


def check_plan(plan_dir: str | os.PathLike) -> list[Check]:
    """Every invariant of a saved plan, recomputed from its files."""
    plan = load_plan(plan_dir)
    sc = plan.scenario or {}
    out: list[Check] = []
    st, olt, links, dem = plan.stations, plan.olt_sites, plan.links, plan.demand
    crs = metric_crs(plan.districts if len(plan.districts) else dem)

    # ---- 5G coverage: every populated cell has >= 1 station within its radius (from coordinates)
    if len(dem) and "radius_m" in dem:
        cells = dem.to_crs(crs)
        cxy = np.column_stack([cells.geometry.centroid.x, cells.geometry.centroid.y])
        if "lon" in dem and "lat" in dem:  # the planning point, when the layer carries it
            import geopandas as gpd

            p = gpd.GeoSeries(gpd.points_from_xy(dem["lon"], dem["lat"]), crs=4326).to_crs(crs)
            cxy = np.column_stack([p.x, p.y])
        pop = dem["population"].to_numpy(float)
        radius = dem["radius_m"].to_numpy(float)
        n_within = np.zeros(len(dem))
        if len(st):
            sxy = _xy(st, crs)
            tree = cKDTree(sxy)
            counts = st["count"].to_numpy(float)
            for r in np.unique(radius):
                idx = np.flatnonzero(radius == r)
                hits = tree.query_ball_point(cxy[idx], r=float(r) * (1 + 1e-9) + 0.01)
                n_within[idx] = [counts[h].sum() if h else 0.0 for h in hits]
        populated = pop > 0
        missing = populated & (n_within < 1)
        budget_mode = plan.extra.get("mode") == "budget"
        if not budget_mode:  # a budget plan covers what the budget buys, not every cell
            out.append(Check("coverage", not missing.any(),
                             f"{int(populated.sum()):,} populated cells, {int(missing.sum())} without a station within radius"))
        else:
            b = plan.extra.get("budget", {})
            covered_pop = float(pop[n_within >= 1].sum())
            out.append(Check("budget", t_capex(plan) <= b.get("capex_cny", math.inf) * (1 + 1e-9),
                             f"capex {t_capex(plan):,.0f} CNY within the budget {b.get('capex_cny', math.nan):,.0f} CNY; "
                             f"{covered_pop:,.0f} people covered (recomputed)"))
        if "covered" in dem:
            agree = (dem["covered"].astype(bool).to_numpy() == (n_within >= 1))
            out.append(Check("coverage_flags", bool(agree[populated].all()),
                             f"plan's covered flags agree with the recomputation on {int(agree[populated].sum()):,} "
                             f"of {int(populated.sum()):,} populated cells"))
    # ---- 5G capacity: no station row carries more than it can
    if len(st) and {"carried_mbps", "capacity_mbps"} <= set(st.columns):
        carried = st["carried_mbps"].fillna(0.0).to_numpy(float)
        cap = st["capacity_mbps"].to_numpy(float) * np.where(st["capacity_mbps"].to_numpy(float) > 0, 1.0, 0.0)
        per_unit = "capacity_mbps is per station" if "count" in st else ""
        cap_total = cap * st["count"].to_numpy(float) if per_unit else cap
        # capacity_mbps may already be the row total; accept either reading, report which
        over_unit = carried > cap_total * (1 + 1e-6) + 1e-6
        out.append(Check("station_capacity", not over_unit.any(),
                         f"{int(over_unit.sum())} station rows carry more than their capacity; "
                         f"highest utilisation {np.nanmax(carried / np.maximum(cap_total, 1e-9)) if len(st) else 0:.1%}"))
        if "traffic_mbps" in dem and len(dem) and plan.extra.get("mode") != "budget":
            tot_t, tot_c = float(dem["traffic_mbps"].sum()), float(carried.sum())
            out.append(Check("traffic_carried", tot_c >= tot_t * (1 - 1e-4),
                             f"busy-hour traffic {tot_t:,.0f} Mbit/s, carried {tot_c:,.0f} Mbit/s"))
    # ---- targets
    t = plan.totals
    radio, pon = sc.get("radio", {}), sc.get("pon", {})
    if "mode" not in plan.extra:
        n_st = int(st["count"].sum()) if len(st) else 0
        out.append(Check("stations_target", n_st >= radio.get("target_stations", 0),
                         f"{n_st:,} stations (target {radio.get('target_stations', 0):,})"))
    if len(olt):
        ports = olt["ports"].to_numpy(float)
        out.append(Check("ports_target", ports.sum() >= pon.get("target_ports", 0),
                         f"{ports.sum():,.0f} ports (target {pon.get('target_ports', 0):,})"))
        # ---- ports >= lines / split at every OLT (split by the clutter of the cells it serves)
        split = pon.get("split_ratio", {})
        if len(dem) and "olt_id" in dem and split:
            d = pd.DataFrame(dem.drop(columns="geometry"))
            d = d[d["olt_id"].notna()]
            d["ports_needed"] = d["onts"].to_numpy(float) / d["clutter"].map(split).to_numpy(float)
            need = d.groupby(d["olt_id"].astype(str))["ports_needed"].sum()
            have = olt.set_index(olt["office_id"].astype(str))["ports"]
            short = (have.reindex(need.index).fillna(0).to_numpy() < np.ceil(need.to_numpy() - 1e-9))
            out.append(Check("ports_split", not short.any(),
                             f"{len(need)} OLT sites serve lines; {int(short.sum())} with fewer ports than lines / split"))
        ppc, cmax = pon.get("ports_per_chassis"), pon.get("max_chassis_per_site")
        if ppc and cmax and "chassis" in olt:
            ch = olt["chassis"].to_numpy(float)
            bad = (ports > ch * ppc + 1e-9) | (ch > cmax + 1e-9)
            out.append(Check("chassis", not bad.any(), f"{int(bad.sum())} OLT sites break ports <= {ppc} x chassis "
                                                       f"or chassis <= {cmax}"))
    # ---- reach: every feeder link within the optical reach along the route
    if len(links) and pon:
        reach = float(pon.get("reach_km", math.inf))
        rf = float(pon.get("route_factor", 1.0))
        feed = links[links["kind"] == "feeder"]
        if len(feed):
            route = feed["route_km"].to_numpy(float)
            # recompute the straight distance from the geometry, independently of the stored figure
            geo = feed.to_crs(crs).geometry
            straight = np.array([np.hypot(g.coords[0][0] - g.coords[-1][0], g.coords[0][1] - g.coords[-1][1])
                                 for g in geo]) / 1000.0
            worst = float(np.max(straight * rf))
            out.append(Check("reach", bool((straight * rf <= reach * (1 + 1e-6) + 1e-3).all()),
                             f"longest feeder route {worst:.2f} km (straight x {rf}) within {reach} km; "
                             f"stored max {route.max():.2f} km"))
            if "max_route_km" in plan.pon:
                out.append(Check("reach_reported", plan.pon["max_route_km"] <= reach + 1e-9,
                                 f"pon.max_route_km {plan.pon['max_route_km']:.2f} <= reach {reach}"))
    # ---- capex is the sum of its parts
    if "capex_cny" in t:
        parts = (float(st["capex_cny"].sum()) if len(st) else 0.0)
        if "capex_pon_cny" in t:
            feeder = float(links.loc[links["kind"] == "feeder", "capex_cny"].sum()) if len(links) else 0.0
            parts += float(olt["capex_cny"].sum()) + feeder if len(olt) else 0.0
        ok = abs(parts - t["capex_cny"]) <= REL * max(1.0, abs(t["capex_cny"]))
        out.append(Check("capex_sum", ok, f"stations + OLT sites + feeder fibre = {parts:,.0f} CNY; "
                                          f"plan total {t['capex_cny']:,.0f} CNY"))
    if len(st) and {"equipment_cny", "backhaul_cny"} <= set(st.columns):
        new = st["new"].astype(bool).to_numpy()
        diff = np.abs(st["capex_cny"].to_numpy(float) - np.where(new, st["equipment_cny"].to_numpy(float)
                                                                 + st["backhaul_cny"].to_numpy(float), 0.0))
        out.append(Check("station_capex", bool((diff <= 1e-6 * np.maximum(1, st["capex_cny"].abs().to_numpy())).all()),
                         "every station row: capex = equipment + backhaul (0 for existing stations)"))
    # ---- phasing: cumulative counts, build years never go backwards, budgets
    if plan.years:
        years = [y["year"] for y in plan.years]
        ph = sc.get("phasing", {})
        new = st[st["new"].astype(bool)]
        built = [int(new.loc[new["build_year"] == y, "count"].sum()) for y in years]
        existing = int(st.loc[~st["new"].astype(bool), "count"].sum())
        cum = np.cumsum(built) + existing
        targets = ph.get("stations_cumulative") or [0] * len(years)
        budgets = ph.get("budget_cny") or [0] * len(years)
        ok_t = all(c >= tg for c, tg in zip(cum, targets))
        ok_b = all(b <= 0 or y["capex_cny"] <= b * (1 + 1e-9) for y, b in zip(plan.years, budgets))
        ok_y = bool(new["build_year"].isin(years).all()) and all(
            r["stations_cumulative"] == c for r, c in zip(plan.years, cum))
        out.append(Check("years_targets", ok_t, f"cumulative stations {list(map(int, cum))} vs targets {targets}"))
        out.append(Check("years_budget", ok_b, "capex per year " + ", ".join(f"{y['year']}: {y['capex_cny'] / 1e9:.2f} bn"
                                                                              for y in plan.years)))
        out.append(Check("years_monotone", ok_y, "every new station has one build year in the plan years; "
                                                 "cumulative counts never decrease"))
    return out
