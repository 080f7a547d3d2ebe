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

What is proven (``extra.plan_bound``, and ``solver.objective/bound/gap`` of ``plan.json``)
-----------------------------------------------------------------------------------------
The joint rounds are a **heuristic** (fixed-point rounds; a later round can come out dearer than an
earlier one, and the cheapest is kept): nothing in them proves the kept plan optimal for the joint
problem. A valid lower bound on the capex of *every* plan under the same rules (any station plan
meeting coverage, capacity, the headroom floors of the headroom stage, the targets and district
limits; any PON plan for the same lines) is

    LB = LB_5G(b_min) + LB_PON(own lines)

* ``b_min``: for each candidate site the cheapest backhaul route any plan can price it at: straight
  distance to the nearest office (every OLT is one) from the site or from its cell's planning point,
  whichever is shorter, times the route factor (:func:`cheapest_backhaul_km`); priced on the cheaper of
  PON and the SPN/IPRAN ring at that route and shared by the most units a site can hold
  (:func:`cheapest_backhaul_equivalent_km`); for a small-cell position, or its spur to the nearest position
  that can hold a macro, if cheaper. A station's backhaul in any plan is priced from its cell to its cell's
  OLT, or from the site to the nearest open OLT, or (a small cell) as a spur to a macro site the plan
  builds, so it is never cheaper. ``LB_5G(b_min)`` (part ``5g_bound``) is a lower bound on equipment + backhaul of any
  station plan at these prices: with a coverage layer (``radio.coverage_types``, the default), which is
  not solved to proven optimality, :func:`rollout.coverage_layer.layer_plan_bound` (the covering rows'
  Lagrangian bound, combined with the station target at the cheapest free slots' prices); without one, the
  solver's proven bound of the 5G cost model.
* ``LB_PON`` (part ``pon_bound``, :func:`rollout.model_pon.pon_capex_bound`): the LP relaxation of the PON
  model with every homing free (a lower bound on the sites, chassis and ports of any PON plan for the same
  lines), plus the in-cell distribution every plan pays (a function of each cell's lines and area, the same
  for every homing and cabinet choice under single sourcing, and no less when a cell is split), plus the
  splitters and cabinets its lines need (:func:`rollout.model_pon.odn_kit_cny`). The feeder trees, the
  distribution between cells, and cabinets and splitters beyond that count as >= 0. (The PON model's own
  optimum is not a bound on a plan's PON capex: it prices the feeder as a star, and the plan re-prices it on
  shorter trees.) Station backhaul is priced on the stations (``b_min`` above), not here.

Both parts are minimised separately, so LB ≤ the joint optimum ≤ the kept plan's capex (with
``pon.surplus = 'headroom'``, provided no PON plan had to drop that rule while the sequential one kept it). The
plan-level gap ``(capex − LB) / capex`` is what the plan can claim; its status is ``optimal`` only
when that gap is within ``solver.gap_rel``. Without PON, the 5G solve's own objective is the capex
and its bound the plan's.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from gis.layers import Layers
from rollout.plan import Plan
from rollout.radio_plan import radio_summary, type_radii_m

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


def spur_backhaul(layers: Layers, scenario, stations: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(spurred, route km, anchor site id) per station row: the rows of spur types (``backhaul = 'spur'``, small
    cells) hang off the nearest site of the plan holding an own-backhaul type (new or existing), by a fibre spur
    of straight distance x ``pon.route_factor``. No such site in the plan: nothing is spurred (own route)."""
    from rollout.model_5g import nearest_anchor, spur_types

    n = len(stations)
    spurred, km, to = np.zeros(n, bool), np.zeros(n), np.full(n, None, dtype=object)
    spur = spur_types(scenario.radio)
    if not n or not spur:
        return spurred, km, to
    is_spur = stations["type"].astype(str).isin(spur).to_numpy()
    xy = layers.candidates[["x_m", "y_m"]].to_numpy(float)[_site_rows(layers, stations)]
    anchor = np.flatnonzero(~is_spur)
    if not is_spur.any() or not len(anchor):
        return spurred, km, to
    d, k = nearest_anchor(xy[is_spur], xy[anchor], scenario.pon.route_factor)
    spurred[is_spur], km[is_spur] = True, d
    to[is_spur] = stations["site_id"].astype(str).to_numpy(object)[anchor[k]]
    return spurred, km, to


def backhaul_stations_per_cell(layers: Layers, stations: pd.DataFrame, site_cell: np.ndarray, scenario) -> np.ndarray:
    """New 5G sites per demand cell (the backhaul demand the PON plan homes: one fibre path per site,
    whatever its units). Spurred stations (:func:`spur_backhaul`) ride their anchor's backhaul and add none."""
    out = np.zeros(len(layers.demand))
    own = stations["new"].astype(bool).to_numpy() & ~spur_backhaul(layers, scenario, stations)[0]
    new = stations[own].drop_duplicates("site_id")
    if len(new):
        np.add.at(out, site_cell[_site_rows(layers, new)], 1.0)
    return out


def site_share(st: pd.DataFrame) -> np.ndarray:
    """Each new station row's share of its site (units / the site's new units); 0 for existing rows."""
    new = st["new"].astype(bool).to_numpy()
    units = np.where(new, st["count"].to_numpy(float), 0.0)
    total = pd.Series(units).groupby(st["site_id"].astype(str).to_numpy()).transform("sum").to_numpy(float)
    return np.divide(units, total, out=np.zeros(len(st)), where=total > 0)


def cheapest_backhaul_km(layers: Layers, route_factor: float, site_cell: np.ndarray) -> np.ndarray:
    """Route km no plan can price a candidate site's backhaul below (see the module docstring).

    The shorter of the straight distances from the site and from its cell's planning point to the nearest
    office (candidate or existing OLT site), times ``route_factor``; 0 without offices.
    """
    off = layers.offices[["x_m", "y_m"]].to_numpy(float) if len(layers.offices) else np.zeros((0, 2))
    if not len(off) or not len(layers.candidates):
        return np.zeros(len(layers.candidates))
    tree = cKDTree(off)
    d_site = tree.query(layers.candidates[["x_m", "y_m"]].to_numpy(float), k=1)[0]
    d_cell = tree.query(layers.demand[["x_m", "y_m"]].to_numpy(float)[site_cell], k=1)[0]
    return np.minimum(d_site, d_cell) / 1000.0 * route_factor


def cheapest_backhaul_equivalent_km(layers: Layers, scenario, site_cell: np.ndarray) -> np.ndarray:
    """Per candidate site, the route km at ``radio.backhaul_cost_cny_per_km`` that prices one station's backhaul
    no higher than any plan can (the 5G cost model charges ``km x rate`` per new station).

    A plan prices a site's backhaul on PON (``km x rate``) or on the SPN/IPRAN ring (``site + km x ring rate``,
    :func:`rollout.model_odn.backhaul_carrier_cny`) at a route no shorter than :func:`cheapest_backhaul_km`, and
    shares it among the site's new units; a spur type (small cell) may instead pay a spur at the fibre rate to
    the nearest own-backhaul site, never nearer than the nearest position that can hold an own type. So the
    cheapest of these, divided by the most units a site can hold, is a lower bound per station; as km at the
    model's rate.
    """
    from rollout.model_5g import allowed_per_site, existing_per_site, nearest_anchor, spur_types, station_types

    b = cheapest_backhaul_km(layers, scenario.pon.route_factor, site_cell)
    rate = float(scenario.radio.backhaul_cost_cny_per_km)
    if rate <= 0:
        return np.zeros_like(b)
    pon = scenario.pon
    cny = np.minimum(b * rate, float(pon.ring_cost_cny_per_site) + float(pon.ring_cost_cny_per_km) * b)
    types = dict(station_types(scenario.radio))
    cand = layers.candidates
    spur = spur_types(scenario.radio)
    if spur and len(cand):  # a spur-type station: or a spur to the nearest position that can hold an own type
        allowed = allowed_per_site(cand, list(types.items())) > 0
        own = np.array([t not in spur for t in types])
        can_spur = allowed[:, ~own].any(axis=1)
        anchor = allowed[:, own].any(axis=1) | (existing_per_site(cand, list(types.items()))[:, own].sum(axis=1) > 0)
        if can_spur.any() and anchor.any():
            xy = cand[["x_m", "y_m"]].to_numpy(float)
            km = nearest_anchor(xy[can_spur], xy[anchor], pon.route_factor)[0]
            cny[can_spur] = np.minimum(cny[can_spur], km * rate)
    if "type" in cand:  # one type per candidate position: at most that type's max_per_site units share it
        units = cand["type"].astype(str).map({k: int(t.max_per_site) for k, t in types.items()}).fillna(1)
        units = np.maximum(units.to_numpy(float), 1.0)
    else:
        units = max(1, sum(int(t.max_per_site) for t in types.values()))
    return cny / rate / units


def stations_within_radius(layers: Layers, stations: pd.DataFrame, type_radius_m: dict | None = None) -> np.ndarray:
    """Stations (units) within each demand cell's planning radius of its planning point, counted on the geometry.

    Not on the pair table, which keeps only each cell's ``max_pairs_per_cell`` nearest candidates per type (and
    also pairs that only reach part of the cell): a KD-tree ball query per type and distinct radius over the
    sites that hold a station (:func:`gis.pairs.pairs_within_radius`). With ``type_radius_m`` ({type: {clutter:
    m}}, the link budgets), a station counts only within its own type's radius in the cell's clutter class;
    without it, within the cell's ``radius_m``.
    """
    from gis.pairs import pairs_within_radius

    d = layers.demand
    out = np.zeros(len(d))
    if not len(stations) or not len(d):
        return out.astype(np.int64)
    xy = layers.candidates[["x_m", "y_m"]].to_numpy(float)[_site_rows(layers, stations)]
    kinds = stations["type"].astype(str).to_numpy() if type_radius_m else np.full(len(stations), "")
    for kind in np.unique(kinds):
        rows = np.flatnonzero(kinds == kind)
        radius = (d["clutter"].map(type_radius_m[kind]).to_numpy(float) if type_radius_m and kind in type_radius_m
                  else d["radius_m"].to_numpy(float))
        pairs = pairs_within_radius(d[["x_m", "y_m"]].to_numpy(float), np.nan_to_num(radius), xy[rows])
        w = stations["count"].to_numpy(float)[rows][pairs["site"].to_numpy()]
        out += np.bincount(pairs["cell"].to_numpy(), weights=w, minlength=len(d))
    return np.rint(out).astype(np.int64)


def _station_signature(stations: pd.DataFrame) -> tuple:
    new = stations[stations["new"].astype(bool)]
    return tuple(sorted(zip(new["site_id"].astype(str), new["type"].astype(str), new["count"].astype(int), strict=True)))


def _price_backhaul(layers: Layers, scenario, res5, resp, site_cell: np.ndarray) -> gpd.GeoDataFrame:
    """Stations with backhaul priced on the PON homing of their cell (capex counted once), spur types on their
    spur to the nearest own-backhaul site (:func:`spur_backhaul`)."""
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
    # priced per site (shared by its new rows in proportion to units), carried by PON or the SPN/IPRAN ring
    from rollout.model_odn import backhaul_carrier_cny

    carrier, cny = backhaul_carrier_cny(st["backhaul_km"].to_numpy(float), scenario.pon, rate)
    # spur types (small cells): a fibre spur to the nearest own-backhaul site of the plan, at the fibre rate
    spurred, spur_km, spur_to = spur_backhaul(layers, scenario, st)
    spurred &= new
    if spurred.any():
        st["backhaul_km"] = np.where(spurred, spur_km, st["backhaul_km"].to_numpy(float))
        st["backhaul_to"] = np.where(spurred, spur_to, st["backhaul_to"].to_numpy(object))
        carrier = np.where(spurred, "spur", carrier).astype(object)
        cny = np.where(spurred, spur_km * rate, cny)
    st["backhaul_carrier"] = np.where(new, carrier, None)
    st["backhaul_cny"] = cny * site_share(st)
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


def _check_district_keys(scenario, layers: Layers) -> None:
    """District floors/ceilings must name districts of the layers: a bad key is bad input (exit 2), not infeasible."""
    from gis.errors import ScenarioError
    from rollout.scenario import district_key_problems

    problems = district_key_problems(scenario, layers.districts["district_id"])
    if problems:
        raise ScenarioError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))


def modelled_baseline(layers: Layers, scenario) -> tuple[Layers, dict | None]:
    """Place the pre-plan 5G network (``radio.baseline_stations``) when no existing-sites layer is given.

    The baseline is the planner's own least-cost network of that size (the coverage layer, then the cheapest
    stations up to the count; surplus by cost), written as existing stations (free, kept, counted toward the
    target) with ``source = 'modelled_baseline'`` into a copy of the candidates. Returns ``(layers with them,
    the summary for extra.baseline)``, or the layers unchanged and None when there is none to model; the
    caller's layers are never edited.
    """
    from rollout.model_5g import plan_5g, station_types

    n = int(scenario.radio.baseline_stations)
    cand = layers.candidates
    types = [t for t, _ in station_types(scenario.radio)]
    if n <= 0 or scenario.data.existing_sites or any(cand.get(f"existing_{t}", pd.Series(0)).sum() for t in types):
        return layers, None
    log.info("baseline: modelling the %d stations in service before the plan (no existing-sites layer)", n)
    base = dataclasses.replace(scenario, radio=dataclasses.replace(scenario.radio, target_stations=n, surplus="none"))
    res = plan_5g(layers, base)
    st = res.stations
    cand = cand.copy()
    row = pd.Series(np.arange(len(cand)), index=cand["site_id"].astype(str))
    for t in types:
        built = st[st["type"] == t]
        col = f"existing_{t}"
        counts = np.zeros(len(cand), np.int64)
        np.add.at(counts, row.loc[built["site_id"].astype(str)].to_numpy(), built["count"].to_numpy(np.int64))
        cand[col] = counts
    cand.loc[(cand[[f"existing_{t}" for t in types]].sum(axis=1) > 0).to_numpy(), "source"] = "modelled_baseline"
    st5 = res.solves[-1]
    return dataclasses.replace(layers, candidates=cand), {"stations": int(st["count"].sum()), "year": int(scenario.radio.baseline_year) or None,
            "source": "modelled", "by_type": {t: int(st.loc[st["type"] == t, "count"].sum()) for t in types},
            "capex_cny_if_built": float(res.capex_cny), "status": st5.status,
            "method": "the planner's least-cost network of this size (coverage layer, then the cheapest stations), "
                      "no site database given: kept as existing, free, counted toward the target"}


def plan_from_scenario(scenario, *, layers: Layers | None = None) -> Plan:
    """Build the layers (unless given), solve and assemble the plan of ``scenario``."""
    from rollout.model_5g import plan_5g
    from rollout.model_pon import plan_pon

    t0 = time.perf_counter()
    if layers is None:
        from gis.build import layers_from_scenario

        layers = layers_from_scenario(scenario)
    log.info("layers: %s", ", ".join(f"{k} {v:,}" for k, v in layers.summary().items() if isinstance(v, int)))
    _check_district_keys(scenario, layers)
    if scenario.budget.capex_cny > 0:
        return with_coverage_evaluation(_budget_plan(layers, scenario), layers, scenario)

    layers, baseline = modelled_baseline(layers, scenario)
    site_cell = site_cell_index(layers)
    log.info("5G siting, backhaul priced to the nearest central office")
    pool = ThreadPoolExecutor(1)     # side jobs: the sequential PON plan (needs no station), then the bound
    try:
        pon_seq = pool.submit(plan_pon, layers, scenario) if scenario.pon.enabled else None
        res5 = plan_5g(layers, scenario, wait=False)   # the layer's bound is awaited after the joint rounds
        resp_seq = pon_seq.result() if pon_seq is not None else None
        variants = []
        sequential = None
        if not scenario.pon.enabled:
            variants.append(_variant(layers, scenario, site_cell, res5, None, "5G only"))
        else:
            log.info("sequential: PON for its own lines, then stations connect to the OLT serving their cell")
            sequential = _variant(layers, scenario, site_cell, res5, resp_seq, "sequential")
            variants.append(sequential)
        # the bound needs only this first 5G plan: computed beside the joint rounds, on a copy of the coverage
        # rows' state (the joint rounds warm-start the layer again and replace its last cover)
        snap = res5 if res5.coverage_problem is None else dataclasses.replace(
            res5, coverage_problem=dataclasses.replace(res5.coverage_problem), pending_layer=None,
            solves=list(res5.solves))
        bound_job = pool.submit(_capex_bound, layers, scenario, site_cell, snap, sequential)
        variants += _joint_rounds(layers, scenario, site_cell, res5)
        res5.finish()
        bound = bound_job.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    best = min(variants, key=lambda r: r["total"])
    plan = _assemble(layers, scenario, best, sequential, variants, bound)
    if scenario.phasing.years:
        from rollout.phasing import phase_plan

        cp = layers.pairs[layers.pairs["cover"]] if "cover" in layers.pairs else layers.pairs   # coverage pairs
        cover = pd.DataFrame({"cell_id": layers.demand["cell_id"].astype(str).to_numpy()[cp["cell"].to_numpy()],
                              "site_id": layers.candidates["site_id"].astype(str).to_numpy()[cp["site"].to_numpy()]})
        plan = phase_plan(plan, cover, scenario)
    plan = with_coverage_evaluation(plan, layers, scenario)
    if baseline is not None:
        plan.extra["baseline"] = baseline
        plan.totals["stations_5g_existing_source"] = "modelled"
    plan.extra["total_seconds"] = round(time.perf_counter() - t0, 2)
    return plan


def _joint_rounds(layers: Layers, scenario, site_cell: np.ndarray, res5) -> list:
    """The joint variants after the sequential one (``pon.backhaul = 'joint'`` with PON): PON homes the station
    backhaul, then 5G is re-sited at the open OLT sites' prices, up to ``MAX_JOINT_ROUNDS`` times or until the
    prices or the station plan stop changing; the last variant's ``stop`` says which."""
    from rollout.model_5g import backhaul_to_nearest_office, plan_5g
    from rollout.model_pon import plan_pon

    out: list = []
    if not scenario.pon.enabled or scenario.pon.backhaul != "joint":
        return out
    log.info("joint: PON homes the backhaul of the new stations")
    resp = plan_pon(layers, scenario, backhaul_stations=backhaul_stations_per_cell(layers, res5.stations, site_cell, scenario))
    out.append(_variant(layers, scenario, site_cell, res5, resp, "joint round 1"))
    stop = f"{MAX_JOINT_ROUNDS} re-sitings made (the most allowed)"
    xy = layers.candidates[["x_m", "y_m"]].to_numpy(float)
    priced = backhaul_to_nearest_office(layers, scenario.pon.route_factor)[0]   # the first 5G pass's prices
    for k in range(MAX_JOINT_ROUNDS):
        prev = out[-1]
        km = prev["resp"].route_km_to_olt(xy)
        if np.allclose(km, priced, rtol=0.0, atol=1e-9):   # 1 micrometre: the same offices, float noise aside
            log.info("joint: fixed point, the %d open OLT sites price every candidate's backhaul as the last 5G pass "
                     "did (the re-siting would solve the same program)", len(prev["resp"].olt_sites))
            stop = (f"fixed point: the {len(prev['resp'].olt_sites)} open OLT sites price every candidate's backhaul as "
                    f"the last 5G pass did, so 5G was not re-sited (the same program)")
            break
        log.info("joint: 5G re-sited with backhaul re-priced to the %d open OLT sites", len(prev["resp"].olt_sites))
        res5b = plan_5g(layers, scenario, backhaul_km=km,
                        headroom_floor=prev["res5"].headroom_floor,   # headroom does not depend on prices
                        coverage_problem=prev["res5"].coverage_problem)
        if _station_signature(res5b.stations) == _station_signature(prev["res5"].stations):
            log.info("joint: fixed point, the station plan did not change")
            stop = "fixed point: 5G re-sited at the open OLT sites' prices gave the same station plan"
            break
        priced = km
        respb = plan_pon(layers, scenario, backhaul_stations=backhaul_stations_per_cell(layers, res5b.stations, site_cell, scenario))
        out.append(_variant(layers, scenario, site_cell, res5b, respb, f"joint round {k + 2}"))
    out[-1]["stop"] = stop
    return out


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


# --------------------------------------------------------------------------- what is proven

def _capex_bound(layers: Layers, scenario, site_cell: np.ndarray, res5, sequential: dict | None) -> dict:
    """``extra.plan_bound``: a proven lower bound on the capex of any plan under the scenario's rules.

    With PON: LB_5G(b_min) + LB_PON(own lines) (module docstring), at the cost of one more 5G cost solve
    (part ``5g_bound``, reusing the headroom floors). Without PON: the 5G solve's own bound.
    """
    from rollout.coverage_layer import layer_plan_bound
    from rollout.model_5g import plan_5g
    from rollout.model_pon import pon_capex_bound

    log.info("bound: 5G at the cheapest backhaul any plan can have%s",
             "" if sequential is None else ", plus the PON bound for its own lines")
    # every site's backhaul at the cheapest price any plan can give it (a small cell's spur to the nearest macro
    # position included): the 5G plan's own prices are no bound, the plan re-prices spurs to the macros it builds
    b_min = cheapest_backhaul_equivalent_km(layers, scenario, site_cell)
    # the plan's own headroom floors; none kept (target not binding, or no headroom solution): h = 1, the
    # weakest floor any plan meets, so the bound stays valid and the headroom stage is not solved again
    floor = res5.headroom_floor if res5.headroom_floor is not None else np.ones(len(layers.demand))
    if scenario.radio.coverage_types:      # the coverage layer is a heuristic: bound it by its LP, not a re-solve
        from rollout.model_5g import Siting5GInput

        stb = layer_plan_bound(layers, scenario, Siting5GInput.from_layers(layers, scenario, backhaul_km=b_min,
                                                                              carrier=False),
                               problem=res5.coverage_problem)
    else:
        cheap = plan_5g(layers, scenario, backhaul_km=b_min, headroom_floor=floor, bound_prices=True)
        stb = dataclasses.replace(cheap.solves[-1], part="5g_bound")
        stb.notes = ((stb.notes + "; ") if stb.notes else "") + (
            "5G cost model with every site's backhaul at the cheapest route any plan can price it at: bounds the plan")
    if sequential is None:
        return {"bound": stb.bound, "solves": [stb],
                "method": "5G only: a lower bound on the 5G capex of any plan with every site's backhaul at the "
                          "cheapest price any plan can give it (part 5g_bound: " + stb.notes + ")"}
    lb_pon, stp, d_in = pon_capex_bound(layers, scenario)
    bound = None if stb.bound is None or lb_pon is None else float(stb.bound) + lb_pon
    return {"bound": bound, "five_g_bound_cny": stb.bound, "pon_bound_cny": lb_pon, "pon_in_cell_cny": d_in,
            "solves": [stb, stp],
            "method": "LB_5G(cheapest backhaul) + LB_PON(own lines): a lower bound on the 5G capex of any plan with "
                      "every site's backhaul at the nearest office from the site or its cell, a small cell's at its spur to the "
                      "nearest macro position if cheaper (part 5g_bound: "
                      + stb.notes + "), plus a lower bound on the PON capex of any plan (part pon_bound: "
                      + stp.notes + "); valid for every plan under the same rules (joint rounds and the coverage "
                      "layer are heuristics)"}


def _plan_bound(bound: dict, capex_cny: float) -> dict:
    """``extra.plan_bound`` as saved: capex, its proven lower bound, their gap and how the bound was found."""
    from rollout.plan import CAPEX_MEANING, plan_gap

    out = {k: v for k, v in bound.items() if k != "solves"}
    return {"objective": capex_cny, **out, "gap": plan_gap(capex_cny, bound["bound"]), "meaning": CAPEX_MEANING,
            "sense": "min"}


def _assemble(layers: Layers, scenario, best: dict, sequential: dict, rounds: list, bound: dict) -> Plan:
    """The plan of the kept variant ``best``: its layers, totals, coverage and the joint-vs-sequential figures."""
    res5, resp, stations = best["res5"], best["resp"], best["stations"]
    demand = _plan_demand(layers, res5, resp, stations, type_radii_m(scenario))
    olts = resp.olt_sites if resp is not None else _empty_points(["office_id", "ports", "capex_cny"])
    # backhaul links are drawn for the map; their capex is the stations' backhaul_cny, counted once there
    links = resp.links if resp is not None else _empty_lines()
    if resp is not None and "backhaul_carrier" in stations:
        links = _with_site_backhaul(links, stations, olts, scenario.pon.route_factor)
    districts = _district_table(layers, stations, olts, demand, _pon_capex_by_district(resp, olts, links))
    totals = _station_totals(stations, scenario)
    if resp is not None:
        totals.update(_pon_totals(resp, best, stations, demand, scenario))
        _complete_bill_of_quantities(resp.pon, totals, stations)
    totals["capex_cny"] = best["total"]
    solves = list(res5.solves) + (list(resp.solves) if resp is not None else []) + list(bound["solves"])
    for st in solves:
        st.iterations = len(rounds)
    _note_part_objectives(solves, resp is not None)
    extra = _extra(layers, scenario, res5, best, sequential, rounds)
    extra["plan_bound"] = _plan_bound(bound, best["total"])
    if "joint_vs_sequential" in extra:
        extra["joint_vs_sequential"].update(_saving_bound(extra["joint_vs_sequential"], bound["bound"]))
    return Plan(
        title=scenario.plan_title(), stations=stations, olt_sites=olts, links=links, districts=districts, demand=demand,
        totals=totals, coverage=_coverage(demand, res5), pon=(resp.pon if resp is not None else {}), solves=solves,
        demand_source=layers.demand_source, scenario=scenario.to_dict(),
        extra=extra, scenario_dir=str(scenario.base_dir),
        splitters=getattr(resp, "splitters", None),
        radio=radio_summary(scenario),
    )


def _note_part_objectives(solves: list, with_pon: bool) -> None:
    """Say on each cost part what its objective prices, since the parts do not add up to the plan's capex."""
    for st in solves:
        if st.part == "5g" and with_pon:
            note = "objective prices backhaul before the PON plan re-prices it (plan capex: totals.capex_cny)"
        elif st.part == "pon":
            note = "objective includes the station backhaul it homes (priced on the stations in the plan)"
        else:
            continue
        st.notes = (st.notes + "; " if st.notes else "") + note


def _saving_bound(jvs: dict, bound: float | None) -> dict:
    """The joint saving with what bounds it: the joint plan's gap to the proven bound and the most any plan saves."""
    joint, seq = jvs["joint_capex_cny"], jvs["sequential_capex_cny"]
    return {
        "joint_lower_bound_cny": bound,
        "joint_gap_to_bound": None if bound is None or not joint else max(0.0, (joint - bound) / joint),
        "saving_most_possible_cny": None if bound is None else seq - bound,
        "procedure": "heuristic: fixed-point rounds (PON homes the station backhaul, 5G re-sited at the open OLT "
                     "sites' prices), cheapest round kept; not proven optimal, bounded by joint_lower_bound_cny",
    }


def _plan_demand(layers: Layers, res5, resp, stations: pd.DataFrame, type_radius_m: dict) -> gpd.GeoDataFrame:
    """The demand cells with what the plan gives them: stations within radius, traffic carried, OLT homing."""
    demand = layers.demand.copy()
    cells5 = res5.cells.set_index("cell_id") if len(res5.cells) else None
    ids = demand["cell_id"].astype(str)
    demand["stations_within"] = stations_within_radius(layers, stations, type_radius_m)
    if cells5 is not None:
        demand["carried_mbps"] = ids.map(cells5["carried_mbps"]).fillna(0.0).to_numpy()
    else:
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


def _with_site_backhaul(links: gpd.GeoDataFrame, stations: gpd.GeoDataFrame, olts: gpd.GeoDataFrame,
                        route_factor: float) -> gpd.GeoDataFrame:
    """``links`` with the backhaul rows replaced by one per new 5G site: site -> its OLT, ``carrier`` pon|ring, or
    a spurred site -> its anchor site (``carrier`` spur).

    A ring-carried site is drawn to the OLT / office its route km was measured to (the ring's aggregation point).
    """
    st = stations[stations["new"].astype(bool)].drop_duplicates("site_id")
    st = st[st["backhaul_to"].notna()]
    at = olts.set_index(olts["office_id"].astype(str))[["lon", "lat"]]
    anchors = stations.drop_duplicates("site_id").set_index(stations.drop_duplicates("site_id")["site_id"].astype(str))
    spur = (st["backhaul_carrier"].astype(str) == "spur").to_numpy()
    to = np.where(spur[:, None], anchors[["lon", "lat"]].reindex(st["backhaul_to"].astype(str).to_numpy()).to_numpy(float),
                  at.reindex(st["backhaul_to"].astype(str).to_numpy()).to_numpy(float))
    ok = np.isfinite(to).all(axis=1)
    st, to = st[ok], to[ok]
    a = st[["lon", "lat"]].to_numpy(float)
    geom = shapely.linestrings(np.stack([a, to], axis=1)) if len(st) else np.array([], dtype=object)
    km = st["backhaul_km"].to_numpy(float)
    back = gpd.GeoDataFrame({"kind": "backhaul", "from_id": st["site_id"].astype(str).to_numpy(),
                             "to_id": st["backhaul_to"].astype(str).to_numpy(), "straight_km": km / route_factor,
                             "route_km": km, "capex_cny": st["backhaul_cny"].to_numpy(float),
                             "carrier": st["backhaul_carrier"].astype(str).to_numpy()},
                            geometry=gpd.GeoSeries(geom, crs=4326), crs=4326)
    rest = links[links["kind"].astype(str) != "backhaul"]
    return gpd.GeoDataFrame(pd.concat([rest, back], ignore_index=True), geometry="geometry", crs=4326)


def _pon_capex_by_district(resp, olts, links) -> pd.Series:
    """PON capex (OLT sites, chassis, ports and their feeder fibre) per district id."""
    if resp is None or not len(olts):
        return pd.Series(dtype=float)
    if "odn_cny" in olts:  # ODN plans: feeder tree, distribution, cabinets and splitters of each OLT
        o = olts.assign(total=olts["capex_cny"].to_numpy(float) + olts["odn_cny"].to_numpy(float))
        return o.groupby(o["district_id"].astype(str))["total"].sum()
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


def _complete_bill_of_quantities(pon: dict, totals: dict, stations) -> None:
    """What the PON model cannot know: homes passed (households of the homed cells, as ``totals``) and their
    cost, and the backhaul fibre of the sites the plan put on PON (route km once per site)."""
    boq = pon.get("bill_of_quantities")
    if not boq:
        return
    boq["homes_passed"] = totals["households_passed"]
    boq["cost_per_home_passed_cny"] = totals["cost_per_household_passed_cny"]
    if "backhaul_carrier" in stations and len(stations):
        on_pon = stations[stations["new"].astype(bool) & (stations["backhaul_carrier"].astype(str) == "pon")]
        boq["fibre_km"]["backhaul"] = float(on_pon.groupby(on_pon["site_id"].astype(str))["backhaul_km"].first().sum())


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
        **{f"capex_pon_{k}_cny": float(t[f"{k}_cny"]) for k in ("distribution", "cabinet", "splitter") if f"{k}_cny" in t},
        **({"distribution_km": float(t["distribution_km"])} if "distribution_km" in t else {}),
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
    if getattr(best["res5"], "coverage_layer", None):
        extra["coverage_layer"] = best["res5"].coverage_layer
    if best["resp"] is not None and sequential is not None:
        seq, joint = sequential["total"], best["total"]
        extra["joint_vs_sequential"] = {
            "sequential_capex_cny": seq, "joint_capex_cny": joint, "saving_cny": seq - joint,
            "saving_share": (seq - joint) / seq if seq else 0.0, "rounds": len(rounds), "kept": best["name"],
            "method": "sequential: 5G, then PON for its own lines, then stations to the nearest open OLT; joint: PON "
                      "homes the station backhaul, 5G re-sited to the open OLT sites; cheapest variant kept",
        }
        stop = rounds[-1].get("stop")
        if stop:
            extra["joint_vs_sequential"]["stopped"] = stop
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
    demand["stations_within"] = stations_within_radius(layers, stations, type_radii_m(scenario))
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
    return Plan(title=scenario.plan_title(), stations=stations, olt_sites=olts, links=_empty_lines(), districts=districts,
                demand=demand, totals=totals, coverage=coverage, pon={}, solves=[res.stats],
                demand_source=layers.demand_source, scenario=scenario.to_dict(), scenario_dir=str(scenario.base_dir),
                extra={"mode": "budget", "layers": layers.summary(),
                       "plan_bound": {"objective": res.stats.objective, "bound": res.stats.bound, "sense": "max",
                                      "meaning": f"{scenario.budget.objective} covered (weighted), maximised with "
                                                 "capex within the budget",
                                      "method": "budget mode: the budget model's own proven bound"},
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
    from rollout.model_5g import existing_per_site, site_equipment_cny, station_types

    radio = scenario.radio
    types = dict(station_types(radio))
    cand = layers.candidates.reset_index(drop=True)
    j = np.flatnonzero(build)
    kind = inp.site_type[j].astype(object)
    new = pd.DataFrame({
        "site_id": cand["site_id"].to_numpy()[j], "district_id": cand["district_id"].to_numpy()[j], "type": kind,
        "count": np.ones(len(j), np.int64), "new": True,
        "equipment_cny": site_equipment_cny(cand, list(types.items()), radio)[j, [list(types).index(t) for t in kind]],
        "backhaul_km": bh[j],
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
    """What the stated 5G target would cost, solved on the same layers and at the budget's prices (every station's
    own fibre route, as the budget plan prices it), reported beside what the budget buys."""
    from rollout.model_5g import plan_5g

    log.info("budget mode: solving the %d-station target plan for its cost", scenario.radio.target_stations)
    target = plan_5g(layers, scenario, backhaul_km=bh, carrier=False)
    stats = target.solves[-1]
    covered = (float(target.cells.loc[target.cells["covered"], "population"].sum() / pop_total)
               if pop_total and len(target.cells) else None)
    return {"stations": target.total_stations, "capex_cny": target.capex_cny, "status": target.status,
            "gap": stats.gap, "bound_cny": stats.bound, "population_covered_share": covered}
