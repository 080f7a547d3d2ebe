"""From a scenario to a plan: layers -> 5G siting -> PON (joined through 5G backhaul) -> phasing.

Every new 5G station needs a fibre path to an OLT site, so the two networks cost each other
money. We join them by iterating to a fixed point (documented choice), and measure what that
saves against planning them one after the other:

* *Sequential* (the baseline, "first 5G, then fibre"): site the 5G stations with backhaul
  priced to the nearest central office, plan the PON for its own lines only, then connect each
  new station to the OLT site serving its cell (or the nearest open one).
* *Joint*: the PON plan also homes every new station's backhaul (so it opens OLT sites where
  stations need them); then 5G is re-sited with backhaul re-priced to the OLT sites that plan
  opened, and the PON re-planned with the new stations, until the station plan no longer
  changes or ``MAX_JOINT_ROUNDS`` re-sitings were made. The cheapest joint round is kept.

Capex is counted once and the same way for every variant: a station's backhaul is priced at
the route km from its cell to the OLT site that serves it; the PON part holds sites, chassis,
ports and feeder fibre. The saving of the joint plan is reported in ``plan.json``
(``extra.joint_vs_sequential``) and in the report.
"""
from __future__ import annotations

import logging
import time

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from gis.layers import Layers
from rollout.plan import Plan
from rollout.radio_plan import radio_summary

log = logging.getLogger(__name__)

MAX_JOINT_ROUNDS = 1  # 5G re-sitings after the first joint PON plan


def site_cell_index(layers: Layers) -> np.ndarray:
    """Row of the demand cell nearest each candidate site (its home for backhaul)."""
    cells = layers.demand[["x_m", "y_m"]].to_numpy(float)
    sites = layers.candidates[["x_m", "y_m"]].to_numpy(float)
    if len(cells) == 0 or len(sites) == 0:
        return np.zeros(len(sites), dtype=np.int64)
    return cKDTree(cells).query(sites, k=1)[1].astype(np.int64)


def _site_rows(layers: Layers, stations: pd.DataFrame) -> np.ndarray:
    pos = pd.Series(np.arange(len(layers.candidates)), index=layers.candidates["site_id"].astype(str))
    return stations["site_id"].astype(str).map(pos).to_numpy(dtype=np.int64)


def backhaul_stations_per_cell(layers: Layers, stations: pd.DataFrame, site_cell: np.ndarray) -> np.ndarray:
    """New 5G stations per demand cell (the backhaul demand the PON plan homes)."""
    out = np.zeros(len(layers.demand))
    new = stations[stations["new"].astype(bool)]
    if len(new):
        np.add.at(out, site_cell[_site_rows(layers, new)], new["count"].to_numpy(float))
    return out


def _station_signature(stations: pd.DataFrame) -> tuple:
    new = stations[stations["new"].astype(bool)]
    return tuple(sorted(zip(new["site_id"].astype(str), new["type"].astype(str), new["count"].astype(int))))


def _price_backhaul(layers: Layers, scenario, res5, resp, site_cell: np.ndarray) -> gpd.GeoDataFrame:
    """Stations with backhaul priced on the PON homing of their cell (capex counted once)."""
    st = res5.stations.copy()
    if len(st) == 0:
        return st
    rate = scenario.radio.backhaul_cost_cny_per_km
    cell_ids = layers.demand["cell_id"].astype(str).to_numpy()
    rows = _site_rows(layers, st)
    cells = site_cell[rows]
    new = st["new"].astype(bool).to_numpy()
    if resp is not None:
        route = resp.cell_route_km.reindex(cell_ids[cells]).to_numpy(float)
        home = (resp.assignment.sort_values("share", ascending=False).drop_duplicates("cell_id")
                .set_index("cell_id")["office_id"])
        to = pd.Series(cell_ids[cells]).map(home).to_numpy(object)
        # a station whose cell was not homed (no ONTs, no station demand seen by PON): nearest open OLT
        missing = ~np.isfinite(route)
        if missing.any():
            xy = layers.candidates[["x_m", "y_m"]].to_numpy(float)[rows][missing]
            route[missing] = resp.route_km_to_olt(xy)
        st["backhaul_km"] = np.where(new, route, 0.0)
        st["backhaul_to"] = np.where(new, to, None)
    st["backhaul_cny"] = np.where(new, st["count"].to_numpy(float) * st["backhaul_km"].to_numpy(float) * rate, 0.0)
    st["capex_cny"] = np.where(new, st["equipment_cny"].to_numpy(float) + st["backhaul_cny"].to_numpy(float), 0.0)
    return st


def _pon_capex(resp) -> float:
    """PON capex without the station backhaul (that is priced on the stations)."""
    return 0.0 if resp is None else float(resp.totals["capex_cny"]) - float(resp.totals.get("backhaul_cny", 0.0))


def _variant(layers, scenario, site_cell, res5, resp, name) -> dict:
    stations = _price_backhaul(layers, scenario, res5, resp, site_cell)
    total = float(stations["capex_cny"].sum()) + _pon_capex(resp)
    log.info("%s plan: capex %.0f CNY (5G %.0f, PON %.0f)", name, total, stations["capex_cny"].sum(), _pon_capex(resp))
    return {"name": name, "res5": res5, "resp": resp, "stations": stations, "pon_capex": _pon_capex(resp), "total": total}


def plan_from_scenario(scenario, *, layers: Layers | None = None) -> Plan:
    """Build the layers (unless given), solve and assemble the plan of ``scenario``."""
    from rollout.model_5g import plan_5g
    from rollout.model_pon import plan_pon

    t0 = time.perf_counter()
    if layers is None:
        from gis.build import layers_from_scenario

        layers = layers_from_scenario(scenario)
    log.info("layers: %s", ", ".join(f"{k} {v:,}" for k, v in layers.summary().items() if isinstance(v, int)))
    if scenario.budget.capex_cny > 0:
        return with_coverage_evaluation(_budget_plan(layers, scenario), layers, scenario)

    site_cell = site_cell_index(layers)
    log.info("5G siting, backhaul priced to the nearest central office")
    res5 = plan_5g(layers, scenario)
    variants = []
    sequential = None
    if not scenario.pon.enabled:
        variants.append(_variant(layers, scenario, site_cell, res5, None, "5G only"))
    else:
        log.info("sequential: PON for its own lines, then stations connect to the OLT serving their cell")
        resp_seq = plan_pon(layers, scenario)
        sequential = _variant(layers, scenario, site_cell, res5, resp_seq, "sequential")
        variants.append(sequential)
        if scenario.pon.backhaul == "joint":
            log.info("joint: PON homes the backhaul of the new stations")
            resp = plan_pon(layers, scenario, backhaul_stations=backhaul_stations_per_cell(layers, res5.stations, site_cell))
            variants.append(_variant(layers, scenario, site_cell, res5, resp, "joint round 1"))
            xy = layers.candidates[["x_m", "y_m"]].to_numpy(float)
            for k in range(MAX_JOINT_ROUNDS):
                prev = variants[-1]
                log.info("joint: 5G re-sited with backhaul re-priced to the %d open OLT sites", len(prev["resp"].olt_sites))
                res5b = plan_5g(layers, scenario, backhaul_km=prev["resp"].route_km_to_olt(xy),
                                headroom_floor=prev["res5"].headroom_floor)  # headroom does not depend on prices
                if _station_signature(res5b.stations) == _station_signature(prev["res5"].stations):
                    log.info("joint: fixed point, the station plan did not change")
                    break
                respb = plan_pon(layers, scenario, backhaul_stations=backhaul_stations_per_cell(layers, res5b.stations, site_cell))
                variants.append(_variant(layers, scenario, site_cell, res5b, respb, f"joint round {k + 2}"))
    best = min(variants, key=lambda r: r["total"])
    plan = _assemble(layers, scenario, best, sequential, variants)
    if scenario.phasing.years:
        from rollout.phasing import phase_plan

        cp = layers.pairs[layers.pairs["cover"]] if "cover" in layers.pairs else layers.pairs   # coverage pairs
        cover = pd.DataFrame({"cell_id": layers.demand["cell_id"].astype(str).to_numpy()[cp["cell"].to_numpy()],
                              "site_id": layers.candidates["site_id"].astype(str).to_numpy()[cp["site"].to_numpy()]})
        plan = phase_plan(plan, cover, scenario)
    plan = with_coverage_evaluation(plan, layers, scenario)
    plan.extra["total_seconds"] = round(time.perf_counter() - t0, 2)
    return plan


# --------------------------------------------------------------------------- coverage evaluation

def with_coverage_evaluation(plan: Plan, layers: Layers, scenario) -> Plan:
    """The plan with ``coverage.evaluation``, the ``rsrp`` layer and its headline coverage from that evaluation.

    The planning-point figures stay as ``planning_points_population_share`` / ``planning_points_area_share``.
    """
    from rollout.coverage_eval import evaluate_coverage

    if not len(plan.stations) or not len(plan.demand):
        return plan
    t = time.perf_counter()
    names = dict(zip(plan.districts["district_id"].astype(str), plan.districts["name_en"].astype(str), strict=True)) \
        if "name_en" in plan.districts else {}
    ev, layer = evaluate_coverage(scenario, plan.demand, plan.stations, crs_metric=layers.crs_metric,
                                  district_names=names)
    cov = dict(plan.coverage)
    cov["planning_points_population_share"] = cov.get("population_covered_share")
    cov["planning_points_area_share"] = cov.get("area_covered_share")
    pop_total = float(plan.demand["population"].sum())
    cov.update(population_covered_share=ev["population_share"], area_covered_share=ev["area_share"],
               population_covered=ev["population_share"] * pop_total, evaluation=ev)
    plan.coverage, plan.rsrp = cov, layer
    plan.extra["coverage_evaluation_seconds"] = round(time.perf_counter() - t, 2)
    return plan


# --------------------------------------------------------------------------- assembly

def _district_table(layers: Layers, stations, olts, demand: pd.DataFrame, pon_capex_by_district: pd.Series) -> gpd.GeoDataFrame:
    """The districts layer with the plan's KPIs: the one place they are computed (maps read them as saved)."""
    d = layers.districts.copy()
    ids = d["district_id"].astype(str)

    def per_district(df, col=None, mask=None) -> pd.Series:
        """Sum of ``col`` (rows counted without one) per district id, aligned on ``d``."""
        if not len(df):
            return pd.Series(np.nan, index=d.index)
        df = df.assign(district_id=df["district_id"].astype(str))
        df = df[mask] if mask is not None else df
        grouped = df.groupby("district_id")
        return ids.map(grouped[col].sum() if col else grouped.size())

    new = stations["new"].astype(bool) if len(stations) else None
    d["stations_5g"] = per_district(stations, "count").fillna(0).astype(int).to_numpy()
    d["stations_5g_new"] = per_district(stations, "count", new).fillna(0).astype(int).to_numpy()
    d["pon_ports"] = per_district(olts, "ports").fillna(0).astype(int).to_numpy()
    d["olt_sites"] = per_district(olts).fillna(0).astype(int).to_numpy()
    d["capex_5g_cny"] = per_district(stations, "capex_cny").fillna(0.0).to_numpy()
    d["capex_pon_cny"] = ids.map(pon_capex_by_district).fillna(0.0).to_numpy()
    d["capex_cny"] = d["capex_5g_cny"] + d["capex_pon_cny"]
    pop = per_district(demand, "population")
    cov = per_district(demand, "population", demand["covered"].to_numpy(bool))
    d["population_covered_share"] = (cov.fillna(0.0) / pop).fillna(0.0).to_numpy()
    d["area_km2_measured"] = d.get("area_km2_measured", pd.Series(np.nan, index=d.index))
    return d


def _assemble(layers: Layers, scenario, best: dict, sequential: dict, rounds: list) -> Plan:
    """The plan of the kept variant ``best``: its layers, totals, coverage and the joint-vs-sequential figures."""
    res5, resp, stations = best["res5"], best["resp"], best["stations"]
    demand = _plan_demand(layers, res5, resp)
    olts = resp.olt_sites if resp is not None else _empty_points(["office_id", "ports", "capex_cny"])
    # backhaul links are drawn for the map; their capex is the stations' backhaul_cny, counted once there
    links = resp.links if resp is not None else _empty_lines()
    districts = _district_table(layers, stations, olts, demand, _pon_capex_by_district(resp, olts, links))
    totals = _station_totals(stations, scenario)
    if resp is not None:
        totals.update(_pon_totals(resp, best, stations, demand, scenario))
    totals["capex_cny"] = best["total"]
    solves = list(res5.solves) + (list(resp.solves) if resp is not None else [])
    for st in solves:
        st.iterations = len(rounds)
    return Plan(
        title=scenario.title, stations=stations, olt_sites=olts, links=links, districts=districts, demand=demand,
        totals=totals, coverage=_coverage(demand, res5), pon=(resp.pon if resp is not None else {}), solves=solves,
        demand_source=layers.demand_source, scenario=scenario.to_dict(),
        extra=_extra(layers, scenario, res5, best, sequential, rounds), scenario_dir=str(scenario.base_dir),
        radio=radio_summary(scenario),
    )


def _plan_demand(layers: Layers, res5, resp) -> gpd.GeoDataFrame:
    """The demand cells with what the plan gives them: stations within radius, traffic carried, OLT homing."""
    demand = layers.demand.copy()
    cells5 = res5.cells.set_index("cell_id") if len(res5.cells) else None
    ids = demand["cell_id"].astype(str)
    if cells5 is not None:
        demand["stations_within"] = ids.map(cells5["stations_within"]).fillna(0).astype(int).to_numpy()
        demand["carried_mbps"] = ids.map(cells5["carried_mbps"]).fillna(0.0).to_numpy()
    else:
        demand["stations_within"] = 0
        demand["carried_mbps"] = 0.0
    demand["covered"] = demand["stations_within"] >= 1
    if resp is not None and len(resp.assignment):
        home = resp.assignment.sort_values("share", ascending=False).drop_duplicates("cell_id").set_index("cell_id")
        demand["olt_id"] = ids.map(home["office_id"]).astype(object).to_numpy()
    else:
        demand["olt_id"] = None
    keep = ["cell_id", "district_id", "clutter", "h3_res", "population", "households", "traffic_mbps", "onts",
            "radius_m", "area_km2", "lon", "lat", "covered", "stations_within", "carried_mbps", "olt_id", "geometry"]
    return demand[[c for c in keep if c in demand.columns]]


def _pon_capex_by_district(resp, olts, links) -> pd.Series:
    """PON capex (OLT sites, chassis, ports and their feeder fibre) per district id."""
    if resp is None or not len(olts):
        return pd.Series(dtype=float)
    feeder = links[links["kind"] == "feeder"].groupby("to_id")["capex_cny"].sum() if len(links) else pd.Series(dtype=float)
    o = olts.assign(total=olts["capex_cny"].to_numpy(float) + olts["office_id"].map(feeder).fillna(0.0).to_numpy(float))
    return o.groupby(o["district_id"].astype(str))["total"].sum()


def _station_totals(stations, scenario) -> dict:
    new = stations["new"].astype(bool) if len(stations) else pd.Series(dtype=bool)
    totals = {
        "stations_5g": int(stations["count"].sum()) if len(stations) else 0,
        "stations_5g_new": int(stations.loc[new, "count"].sum()) if len(stations) else 0,
        "stations_5g_existing": int(stations.loc[~new, "count"].sum()) if len(stations) else 0,
        "stations_5g_target": int(scenario.radio.target_stations),
    }
    for t in sorted(stations["type"].unique()) if len(stations) else []:
        totals[f"stations_5g_{t}"] = int(stations.loc[stations["type"] == t, "count"].sum())
    totals.update({
        "capex_5g_cny": float(stations["capex_cny"].sum()) if len(stations) else 0.0,
        "capex_5g_equipment_cny": float(stations["equipment_cny"].sum()) if len(stations) else 0.0,
        "capex_5g_backhaul_cny": float(stations["backhaul_cny"].sum()) if len(stations) else 0.0,
    })
    return totals


def _pon_totals(resp, best: dict, stations, demand, scenario) -> dict:
    t = resp.totals
    new = stations["new"].astype(bool) if len(stations) else pd.Series(dtype=bool)
    hh_passed = float(demand.loc[demand["olt_id"].notna(), "households"].sum()) if "households" in demand else 0.0
    return {
        "pon_ports": int(t["pon_ports"]), "pon_ports_new": int(t.get("pon_ports_new", t["pon_ports"])),
        "pon_ports_target": int(scenario.pon.target_ports),
        "olt_sites": int(t["olt_sites"]), "olt_sites_new": int(t.get("olt_sites_new", t["olt_sites"])),
        "chassis": int(t.get("chassis", 0)), "onts": float(t.get("onts", 0.0)),
        "fiber_km": float(t["fiber_km"]), "backhaul_km": float(stations["backhaul_km"].mul(stations["count"]).where(new, 0.0).sum()),
        "capex_pon_cny": best["pon_capex"],
        "capex_pon_site_cny": float(t.get("site_cny", 0.0)), "capex_pon_chassis_cny": float(t.get("chassis_cny", 0.0)),
        "capex_pon_ports_cny": float(t.get("ports_cny", 0.0)), "capex_pon_feeder_cny": float(t.get("feeder_cny", 0.0)),
        "households_passed": hh_passed,
        "cost_per_household_passed_cny": best["pon_capex"] / hh_passed if hh_passed else None,
    }


def _coverage(demand, res5) -> dict:
    pop_total = float(demand["population"].sum())
    area_total = float(demand["area_km2"].sum()) if "area_km2" in demand else float("nan")
    covered = demand["covered"].to_numpy(bool)
    populated = demand["population"].to_numpy(float) > 0
    return {
        "population_covered": float(demand.loc[covered, "population"].sum()),
        "population_covered_share": float(demand.loc[covered, "population"].sum() / pop_total) if pop_total else None,
        "area_covered_share": float(demand.loc[covered, "area_km2"].sum() / area_total) if area_total else None,
        "populated_cells": int(populated.sum()),
        "populated_cells_uncovered": int((populated & ~covered).sum()),
        "headroom_min": res5.headroom_min, "headroom_mean": res5.headroom_mean,
        "surplus_rule": res5.surplus,
    }


def _extra(layers: Layers, scenario, res5, best: dict, sequential: dict | None, rounds: list) -> dict:
    extra = {
        "layers": layers.summary(),
        "five_g": {k: v for k, v in res5.summary().items() if k != "by_type"},
        "backhaul_mode": scenario.pon.backhaul if scenario.pon.enabled else "none",
        "variants": [{"variant": r["name"], "capex_cny": r["total"], "kept": r is best,
                      "stations_new": int(r["stations"].loc[r["stations"]["new"].astype(bool), "count"].sum()),
                      "olt_sites": 0 if r["resp"] is None else int(r["resp"].totals["olt_sites"])} for r in rounds],
    }
    if best["resp"] is not None and sequential is not None:
        seq, joint = sequential["total"], best["total"]
        extra["joint_vs_sequential"] = {
            "sequential_capex_cny": seq, "joint_capex_cny": joint, "saving_cny": seq - joint,
            "saving_share": (seq - joint) / seq if seq else 0.0, "rounds": len(rounds), "kept": best["name"],
            "method": "sequential: 5G, then PON for its own lines, then stations to the nearest open OLT; joint: PON "
                      "homes the station backhaul, 5G re-sited to the open OLT sites; cheapest variant kept",
        }
    return extra


def _empty_points(cols):
    return gpd.GeoDataFrame({c: [] for c in cols}, geometry=gpd.GeoSeries([], crs=4326), crs=4326)


def _empty_lines():
    return _empty_points(["kind", "from_id", "to_id", "straight_km", "route_km", "capex_cny"])


# --------------------------------------------------------------------------- budget mode

def _budget_plan(layers: Layers, scenario) -> Plan:
    """Budget mode: the most population (or traffic) one capex budget covers, plus the target plan's cost."""
    from rollout.model_5g import backhaul_to_nearest_office
    from rollout.model_budget import BudgetInput, solve_budget

    sv = scenario.solver
    bh, _ = backhaul_to_nearest_office(layers, scenario.pon.route_factor)
    inp = BudgetInput.from_layers(layers, scenario, backhaul_km=bh)
    res = solve_budget(inp, solver=sv.name, time_limit_s=sv.time_limit_s, gap_rel=sv.gap_rel, threads=sv.threads,
                       msg=sv.msg, seed=scenario.seed)
    stations = _budget_stations(layers, scenario, inp, res.build, bh)
    demand = layers.demand.copy()
    demand["covered"] = res.covered
    demand["stations_within"] = np.nan
    demand["olt_id"] = None
    keep = ["cell_id", "district_id", "clutter", "h3_res", "population", "households", "traffic_mbps", "onts",
            "radius_m", "area_km2", "lon", "lat", "covered", "stations_within", "olt_id", "geometry"]
    demand = demand[[c for c in keep if c in demand.columns]]
    olts = _empty_points(["office_id", "district_id", "ports", "capex_cny"])
    districts = _district_table(layers, stations, olts, demand, pd.Series(dtype=float))
    pop_total = float(demand["population"].sum())
    covered_pop = float(demand.loc[res.covered, "population"].sum())
    totals = {"stations_5g": int(stations["count"].sum()), "stations_5g_new": int(stations.loc[stations["new"], "count"].sum()),
              "stations_5g_existing": int(stations.loc[~stations["new"], "count"].sum()),
              "capex_5g_cny": res.capex_cny, "capex_cny": res.capex_cny, "budget_cny": inp.budget_cny}
    coverage = {"population_covered": covered_pop,
                "population_covered_share": covered_pop / pop_total if pop_total else None,
                "area_covered_share": float(demand.loc[res.covered, "area_km2"].sum() / demand["area_km2"].sum())
                if "area_km2" in demand else None,
                "objective": scenario.budget.objective, "weight_covered": res.weight_covered,
                "weight_total": res.weight_total}
    return Plan(title=scenario.title, stations=stations, olt_sites=olts, links=_empty_lines(), districts=districts,
                demand=demand, totals=totals, coverage=coverage, pon={}, solves=[res.stats],
                demand_source=layers.demand_source, scenario=scenario.to_dict(), scenario_dir=str(scenario.base_dir),
                extra={"mode": "budget", "layers": layers.summary(),
                       "budget": {"capex_cny": inp.budget_cny, "spent_cny": res.capex_cny,
                                  "objective": scenario.budget.objective,
                                  "covered": res.weight_covered, "total": res.weight_total,
                                  "target_plan": _target_plan_cost(layers, scenario, bh, pop_total)}})


_BUDGET_STATION_COLUMNS = ["site_id", "district_id", "type", "count", "new", "equipment_cny", "backhaul_km",
                           "backhaul_cny", "capex_cny", "clutter", "capacity_mbps", "carried_mbps", "utilisation",
                           "build_year", "lon", "lat"]


def _budget_stations(layers: Layers, scenario, inp, build: np.ndarray, bh: np.ndarray) -> gpd.GeoDataFrame:
    """The stations layer of a budget plan: the new stations (the type :class:`BudgetInput` priced), then the
    existing ones (free), one row per site and type."""
    from rollout.model_5g import existing_per_site, station_types

    radio = scenario.radio
    types = dict(station_types(radio))
    cand = layers.candidates.reset_index(drop=True)
    j = np.flatnonzero(build)
    kind = inp.site_type[j].astype(object)
    new = pd.DataFrame({
        "site_id": cand["site_id"].to_numpy()[j], "district_id": cand["district_id"].to_numpy()[j], "type": kind,
        "count": np.ones(len(j), np.int64), "new": True,
        "equipment_cny": np.array([types[t].capex_cny for t in kind], float), "backhaul_km": bh[j],
        "backhaul_cny": bh[j] * radio.backhaul_cost_cny_per_km, "capex_cny": inp.site_cost_cny[j].astype(float)})
    names = list(types)
    counts = existing_per_site(cand, list(types.items()))
    je, te = np.nonzero(counts)
    old = pd.DataFrame({
        "site_id": cand["site_id"].to_numpy()[je], "district_id": cand["district_id"].to_numpy()[je],
        "type": np.array(names, dtype=object)[te], "count": counts[je, te].astype(np.int64), "new": False,
        "equipment_cny": 0.0, "backhaul_km": 0.0, "backhaul_cny": 0.0, "capex_cny": 0.0})
    rows = np.concatenate([j, je])
    df = pd.concat([new, old], ignore_index=True)
    df["clutter"] = cand["clutter"].to_numpy()[rows]
    df["capacity_mbps"] = np.array([types[t].capacity_mbps for t in df["type"]], float)
    df["carried_mbps"] = df["utilisation"] = np.nan
    df["build_year"] = np.zeros(len(df), np.int64)
    df["lon"], df["lat"] = cand["lon"].to_numpy(float)[rows], cand["lat"].to_numpy(float)[rows]
    df = df[_BUDGET_STATION_COLUMNS]
    names_zh = layers.districts.set_index(layers.districts["district_id"].astype(str))["name_zh"]
    df["district"] = df["district_id"].astype(str).map(names_zh)
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs=4326)


def _target_plan_cost(layers: Layers, scenario, bh: np.ndarray, pop_total: float) -> dict:
    """What the stated 5G target would cost, solved on the same layers (reported beside what the budget buys)."""
    from rollout.model_5g import plan_5g

    log.info("budget mode: solving the %d-station target plan for its cost", scenario.radio.target_stations)
    target = plan_5g(layers, scenario, backhaul_km=bh)
    stats = target.solves[-1]
    covered = (float(target.cells.loc[target.cells["covered"], "population"].sum() / pop_total)
               if pop_total and len(target.cells) else None)
    return {"stations": target.total_stations, "capex_cny": target.capex_cny, "status": target.status,
            "gap": stats.gap, "bound_cny": stats.bound, "population_covered_share": covered}
