"""The optical distribution network (ODN) behind the OLTs: cabinets, splitters, feeder trees, optical budget.

The PON model (:mod:`rollout.model_pon`) decides which OLT each demand cell homes on. This module
builds what lies between: OLT -> feeder fibre -> primary splitter in a street cabinet -> distribution
fibre -> secondary splitter in the cell -> premises (``pon.odn = "two_stage"``, default 1:8 x 1:8),
or one 1:N splitter in the cabinet (``"centralised"``).

Cabinet siting (a capacitated facility-location integer program)
-----------------------------------------------------------------
U        demand units: (cell, OLT) homings with lines (one per cell under single sourcing).
K        candidate cabinet positions: the centroids of the same units (a cabinet serves only
         cells homed on its own OLT).
A ⊆ U×K  pairs: the ``cabinet_candidates`` nearest positions of the same OLT within
         ``distribution_max_km`` straight whose path OLT -> cabinet -> cell stays within
         the optical budget of the cell's split, r (|o k| + |k u|) <= R_u, and that lie no
         farther from the OLT than the cell, |o k| <= |o u| (the feeder ends at the cabinet and
         the distribution runs outward from it), for cells too small to fill a cabinet,
         p_u < P (a cell that fills one keeps its own: a distribution cable carries a fibre per
         secondary splitter, the feeder one per primary); (u, u) is always a pair (the homing
         already holds r |o u| <= R_u), so the model is always feasible.
n_u      lines of unit u; p_u = n_u / split_u its ports' worth (= primary splitters); r the route factor;
D_u      distribution price of u's clutter [CNY/km]; G the cabinet price; P ``cabinet_ports``
         (primary splitters one cabinet holds: a 1:8 primary feeds 8 secondaries x 8 = 64 premises,
         so a cabinet of 16 holds 1,024 lines).
e_k      the feeder edge that joins position k to its OLT's tree when every unit has its own
         cabinet: k's parent edge in the minimum spanning tree over the OLT and all its units
         (x r) [m]; F_k the feeder price of k's clutter [CNY/km]; a_k = F_k e_k / 1000 [CNY].

    min  sum_k (a_k + G) z_k + G sum_k x_k + sum_{(u,k) in A} D_u r |k u| / 1000 w_uk
    serve_once        sum_k w_uk = 1                          for u in U
    open_cabinet      w_uk <= z_k                             for (u, k) in A
    cabinet_capacity  sum_u p_u w_uk <= P (z_k + x_k)         for k in K
    z, w binary; x_k >= 0 (cabinets beyond the first at position k)

x is continuous: the model prices cabinets beyond a position's first linearly (G per P
primaries), the plan counts them whole, ceil(sum p_u / P) (with x integer, CBC stopped at
a 60 s limit 0.9 % from its bound on the Qingdao default). :func:`site_cabinets` solves the LP
relaxation, then the integer program over the variables the LP left fractional, and keeps
that when it is within ``gap_rel`` of the LP bound (which proves it); else the whole program.

The rule this encodes: **a cabinet is shared by neighbouring cells of the same OLT when the
distribution fibre to reach them costs less than the feeder edge and the cabinet their own
cabinet would need**, within the distribution reach and the optical budget, from the OLT side
of those cells, and a position holds ceil(sum p_u / P) cabinets. A cell's own feeder edge is
priced by its parent edge in the tree over all positions (the edge toward the OLT): a lower
estimate of what the edge becomes when the positions between it and the OLT close, so sharing
is, if anything, under-rewarded. The feeder itself is the tree over the sited cabinets, built next.

Inside a cell (area A_u) the distribution runs from the cell's planning point to its
distribution points (secondary splitters; one per 8 lines), spread over the cell: priced as
their minimum spanning tree, ``0.67 sqrt(n A_u)`` x r (:data:`MST_CONSTANT`, the Monte-Carlo
length of the minimum spanning tree of n uniform points in a hexagon of area A_u for the
30-400 points of a cell; an estimate, the same for every cabinet choice, so outside the
siting objective). The optical path to the cell's farthest premises adds the circumradius of a
hexagon of area A_u, x r: R_u above is the budget reach less this in-cell reach.

Feeder trees and their bound
----------------------------
The feeder of each OLT is the Euclidean minimum spanning tree over the OLT and its cabinets
(:func:`gis.trees.feeder_forest`), every edge x the route factor: trenches are shared.
``tree_m <= star_m`` (the star is a spanning tree too) and ``tree <= 1.2134 x`` the Steiner
minimal tree (Chung & Graham 1985; see :mod:`gis.trees`). A path along the tree can be longer
than the straight line, so each tree is *repaired for the budget*: in breadth-first order, a
cabinet whose path (plus its longest distribution route) exceeds the budget is re-hung
straight on the OLT. In a minimum spanning tree every edge on the root -> v path is no longer
than |root v| (cycle property), so every edge, before and after the repair, is no longer
than its child's star edge: the repaired tree keeps ``tree_m <= star_m``, and every
served path is within budget by construction. ``rollout check`` re-verifies it from the
saved links. Figures: ``cabinet_star_km`` is that star over the cabinets; ``star_km`` the
new-build star of one straight feeder per served cell to its OLT (x r), which is never
shorter (the cabinet positions are a subset of the cells), and against which the trench
(feeder tree + distribution between cells) is reported.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pulp
from scipy.spatial import cKDTree
from shapely import linestrings, points

from gis.errors import InfeasibleError
from gis.trees import feeder_forest
from rollout import milp
from rollout.milp import Family, Milp
from rollout.optics import optical_budget_table, optics_class, path_loss_db
from rollout.scenario import CARD_PORTS, CLUTTERS, PonSettings, pon_reach_km, pon_split
from rollout.solve import solve

log = logging.getLogger(__name__)

#: length of the Euclidean minimum spanning tree of n uniform points in a hexagon of area A, MST ~ c sqrt(n A).
#: Measured by Monte Carlo in an H3 hexagon (tests/test_pon_cabinets.py): c = 0.670 at n = 16, 0.681 at 32,
#: 0.678 at 64, 0.670 at 128, 0.665 at 256, 0.660 at 512, 0.656 at 2,048 (-> about 0.65 for large n, as on a
#: torus: a Beardwood-Halton-Hammersley limit). A cell here holds 30-400 distribution points, hence 0.67.
#: (The 0.6331 used before is below every one of these values; it is not the mean distance from a hexagon's
#: centre either, which is (1/3 + ln 3 / 4) x edge = 0.6080 x edge.)
MST_CONSTANT = 0.67
#: homes one distribution point (secondary splitter, or a drop closure of a centralised split) serves
HOMES_PER_POINT = 8


def in_cell_reach_km(area_km2, route_factor: float) -> np.ndarray:
    """Route km from a cell's planning point to its farthest premises: the circumradius of a regular
    hexagon of the cell's area, x the route factor (0 for a cell without area)."""
    area = np.asarray(area_km2, dtype=float)
    return np.sqrt(2.0 * np.maximum(area, 0.0) / (3.0 * np.sqrt(3.0))) * route_factor


def in_cell_distribution_km(lines, area_km2, route_factor: float) -> np.ndarray:
    """Route km of distribution cable inside a cell: the MST over its distribution points (one per
    ``HOMES_PER_POINT`` lines, spread over the cell), ``MST_CONSTANT sqrt(n A)`` x the route factor."""
    n = np.ceil(np.asarray(lines, dtype=float) / HOMES_PER_POINT - 1e-9)
    return MST_CONSTANT * np.sqrt(np.maximum(n, 0.0) * np.maximum(np.asarray(area_km2, dtype=float), 0.0)) * route_factor


@dataclass
class OdnUnits:
    """Demand units (cell homed on an OLT, with lines) and their candidate cabinet pairs."""

    cell: np.ndarray        # (u,) input cell row
    olt: np.ndarray         # (u,) input site row of its OLT
    lines: np.ndarray       # (u,) lines (ONTs) [lines]
    xy_m: np.ndarray        # (u, 2) cell centroid [m]
    reach_km: np.ndarray    # (u,) route km allowed by the optical budget of its split, less the in-cell reach
    split: list             # (u,) its Split
    pairs: pd.DataFrame     # unit, cab (unit row of the position), dist_m, cost_cny
    open_cny: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (u,) a_k + G of its position [CNY]
    ports: np.ndarray = field(default_factory=lambda: np.zeros(0))     # (u,) p_u, ports' worth [ports]


def units_of(inp, asg: pd.DataFrame) -> OdnUnits:
    """The units of a homing ``asg`` (rows of ``ResultPON.assignment`` with ONTs) and their cabinet pairs."""
    s = inp.settings
    a = asg[asg["onts"].to_numpy(float) > 0]
    cell, olt = a["cell"].to_numpy(np.int64), a["site"].to_numpy(np.int64)
    clutter = inp.clutter[cell]
    reach = np.array([pon_reach_km(s, c) for c in CLUTTERS])[pd.Categorical(clutter, CLUTTERS).codes]
    split = {c: pon_split(s, c) for c in CLUTTERS}
    xy = inp.cell_xy_m[cell]
    u = OdnUnits(cell=cell, olt=olt, lines=a["onts"].to_numpy(float), xy_m=xy,
                 reach_km=reach - in_cell_reach_km(inp.cell_area_km2[cell], s.route_factor), split=[split[c] for c in clutter], pairs=pd.DataFrame())
    u.ports = u.lines / np.array([sp.ratio for sp in u.split]) if len(cell) else np.zeros(0)
    u.open_cny = feeder_edge_cny(inp, u) + float(s.cabinet_cost_cny)
    u.pairs = _cabinet_pairs(inp, u)
    return u


def feeder_edge_cny(inp, u: OdnUnits) -> np.ndarray:
    """a_k per unit [CNY]: its parent edge in the feeder tree over its OLT and all that OLT's units x the feeder
    price of its clutter (what its own cabinet adds to the feeder tree when every cell has one)."""
    if not len(u.cell):
        return np.zeros(0)
    forest = feeder_forest(u.xy_m, u.olt, inp.site_xy_m, route_factor=inp.settings.route_factor)
    edge_m = np.zeros(len(u.cell))
    edge_m[forest.edges["child"].to_numpy()] = forest.edges["length_m"].to_numpy(float)
    price = np.array([inp.settings.fiber_cost_cny_per_km[c] for c in inp.clutter[u.cell]], dtype=float)
    return price * edge_m / 1000.0


def _cabinet_pairs(inp, u: OdnUnits) -> pd.DataFrame:
    """(unit, cab) pairs of the same OLT, within distribution reach and the budget, the cabinet no farther from the
    OLT than the cell (distribution runs outward), for cells too small to fill a cabinet; (u, u) always."""
    s, n = inp.settings, len(u.cell)
    k = min(n, int(s.cabinet_candidates) * 4)
    if n:
        dist, idx = cKDTree(u.xy_m).query(u.xy_m, k=max(k, 1), distance_upper_bound=s.distribution_max_km * 1000.0)
        dist, idx = dist.reshape(n, -1), idx.reshape(n, -1)
    else:
        dist, idx = np.zeros((0, 1)), np.zeros((0, 1), np.int64)
    unit = np.repeat(np.arange(n), idx.shape[1])
    cab, d = idx.ravel(), dist.ravel()
    ok = cab < n
    unit, cab, d = unit[ok], cab[ok], d[ok]
    olt_km = np.hypot(*(inp.site_xy_m[u.olt] - u.xy_m).T) / 1000.0   # straight, unit -> its OLT
    path_km = (olt_km[cab] * 1000.0 + d) * s.route_factor / 1000.0
    keep = ((u.olt[unit] == u.olt[cab]) & (path_km <= u.reach_km[unit] + 1e-9) & (olt_km[cab] <= olt_km[unit] + 1e-9)
            & (u.ports[unit] < s.cabinet_ports))   # a cell that fills a cabinet on its own keeps its own
    p = pd.DataFrame({"unit": unit[keep], "cab": cab[keep], "dist_m": d[keep]})
    p = pd.concat([pd.DataFrame({"unit": np.arange(n), "cab": np.arange(n), "dist_m": 0.0}), p])
    p = p.drop_duplicates(["unit", "cab"]).sort_values(["unit", "dist_m", "cab"], kind="stable")
    p = p.groupby("unit", sort=False).head(int(s.cabinet_candidates)).reset_index(drop=True)
    price = inp.distribution_cny_per_km[u.cell]
    p["cost_cny"] = price[p["unit"].to_numpy()] * s.route_factor * p["dist_m"].to_numpy() / 1000.0
    return p


# --------------------------------------------------------------------------- the siting model

@dataclass(kw_only=True)
class OdnModel(Milp):
    units: OdnUnits
    settings: PonSettings
    z: list = field(default_factory=list)
    x: list = field(default_factory=list)
    w: list = field(default_factory=list)


def add_serve_once(m: OdnModel) -> int:
    """serve_once_{u}: sum_k w_uk = 1 (pairs sorted by unit)."""
    un = m.units.pairs["unit"].to_numpy()
    return m.add_rows("serve_once", un, m.w, np.ones(len(un)), pulp.LpConstraintEQ, 1.0)


def add_open_cabinet(m: OdnModel) -> int:
    """open_cabinet_{a}: w_uk - z_k <= 0 for every pair a = (u, k)."""
    p = m.units.pairs
    a = np.arange(len(p))
    var = [v for i, k in zip(a.tolist(), p["cab"].tolist(), strict=True) for v in (m.w[i], m.z[k])]
    return m.add_rows("open_cabinet", np.repeat(a, 2), var, np.tile([1.0, -1.0], len(a)), pulp.LpConstraintLE, 0.0)


def add_cabinet_capacity(m: OdnModel) -> int:
    """cabinet_capacity_{k}: sum_u p_u w_uk - P z_k - P x_k <= 0 (primary splitters a position's cabinets hold)."""
    p = m.units.pairs.sort_values(["cab", "unit"], kind="stable")
    cab, a = p["cab"].to_numpy(), p.index.to_numpy()
    ks = np.unique(cab)
    row = np.concatenate([cab, ks, ks])
    var = [m.w[i] for i in a.tolist()] + [m.z[k] for k in ks.tolist()] + [m.x[k] for k in ks.tolist()]
    cap = float(m.settings.cabinet_ports)
    coef = np.concatenate([m.units.ports[p["unit"].to_numpy()], np.full(2 * len(ks), -cap)])
    order = np.argsort(row, kind="stable")
    return m.add_rows("cabinet_capacity", row[order], [var[i] for i in order.tolist()], coef[order],
                      pulp.LpConstraintLE, 0.0)


FAMILIES = (
    Family("serve_once", add_serve_once, rank=1, blames="cells", unit="of the cell without a cabinet"),
    Family("open_cabinet", add_open_cabinet, rank=0, blames="cells", unit="served from a closed cabinet"),
    Family("cabinet_capacity", add_cabinet_capacity, rank=2, blames="cells", unit="primary splitters over the cabinets"),
)


def build_odn_model(units: OdnUnits, settings: PonSettings, *, relax: bool = False) -> OdnModel:
    """The cabinet-siting integer program of the module docstring (``relax``: its LP relaxation).

    The extra cabinets x_k are continuous: the model prices them linearly (G per P primaries beyond the
    first cabinet), the plan counts them whole (ceil).
    """
    t0 = time.perf_counter()
    m = OdnModel(problem=pulp.LpProblem("odn", pulp.LpMinimize), units=units, settings=settings,
                 families=milp.names(FAMILIES))
    n = len(units.cell)
    load = np.bincount(units.pairs["cab"].to_numpy(), weights=units.ports[units.pairs["unit"].to_numpy()], minlength=n)
    cat = pulp.LpContinuous if relax else pulp.LpInteger
    m.z = m.variables([f"z_{k}" for k in range(n)], 0, 1, cat)
    m.x = m.variables([f"x_{k}" for k in range(n)], 0, np.maximum(load / settings.cabinet_ports - 1, 0),
                      pulp.LpContinuous)
    m.w = m.variables([f"w_{a}" for a in range(len(units.pairs))], 0, 1, cat)
    terms = list(zip(m.z, units.open_cny.tolist(), strict=True))
    terms += [(v, float(settings.cabinet_cost_cny)) for v in m.x]
    terms += list(zip(m.w, units.pairs["cost_cny"].to_numpy(float).tolist(), strict=True))
    m.problem.setObjective(pulp.LpAffineExpression(terms))
    m.build(FAMILIES)
    m.build_seconds = time.perf_counter() - t0
    return m


def _values(variables: list) -> np.ndarray:
    return np.array([0.0 if v.varValue is None else v.varValue for v in variables])


def siting_cost_cny(units: OdnUnits, settings: PonSettings, cab: np.ndarray) -> float:
    """The siting objective of a choice ``cab`` (cabinet position per unit) [CNY]: open positions at a_k + G,
    extra cabinets at G per P primaries beyond the first, distribution to the cells served from elsewhere."""
    pos = np.unique(cab)
    load = np.bincount(cab, weights=units.ports, minlength=len(units.cell))[pos]
    cost = units.pairs.set_index(["unit", "cab"])["cost_cny"]
    dist = cost.reindex(pd.MultiIndex.from_arrays([np.arange(len(cab)), cab])).to_numpy(float)
    g, p = float(settings.cabinet_cost_cny), float(settings.cabinet_ports)
    return float(units.open_cny[pos].sum() + g * np.maximum(load / p - 1.0, 0.0).sum() + np.nansum(dist))


def _fix_integral(m: OdnModel, tol: float = 1e-6) -> int:
    """Make z and w integer again, fixing every one the LP solution left integral; returns how many stay free."""
    free = 0
    for v in m.z + m.w:
        v.cat = pulp.LpInteger
        val = 0.0 if v.varValue is None else float(v.varValue)
        if val < tol or val > 1.0 - tol:
            v.lowBound = v.upBound = round(val)
        else:
            free += 1
    return free


def _chosen(units: OdnUnits, m: OdnModel) -> np.ndarray:
    p = units.pairs[_values(m.w) > 0.5].drop_duplicates("unit")
    cab = np.arange(len(units.cell))
    cab[p["unit"].to_numpy()] = p["cab"].to_numpy()
    return cab


def site_cabinets(units: OdnUnits, settings: PonSettings, **solve_kw):
    """(cabinet position per unit, SolveStats): solve the siting model.

    Its LP relaxation first (seconds on the Qingdao default, and nearly integral there: 876 of 25,444 binaries
    fractional), then the integer program with every variable the LP left integral fixed (a small MIP). Its
    solution is kept when it is within ``gap_rel`` of the LP bound, which proves it (status ``optimal``, the LP
    as the bound); otherwise the whole integer program is solved.
    """
    if not len(units.cell):
        return np.zeros(0, np.int64), None
    m = build_odn_model(units, settings, relax=True)
    lp = solve(m.problem, part="odn", build_seconds=m.build_seconds, **solve_kw)
    if lp.status == "optimal" and lp.objective is not None:
        free = _fix_integral(m)
        st = solve(m.problem, part="odn", **solve_kw)
        if st.status in ("optimal", "feasible") and st.objective is not None:
            gap = max(st.objective - lp.objective, 0.0) / max(abs(st.objective), 1e-9)
            if gap <= float(solve_kw.get("gap_rel", 0.005)) + 1e-12:
                stats = dataclasses.replace(
                    st, status="optimal", bound=lp.objective, gap=gap, seconds=round(lp.seconds + st.seconds, 3),
                    build_seconds=lp.build_seconds, variables=lp.variables, constraints=lp.constraints,
                    nonzeros=lp.nonzeros, integer_variables=len(m.z) + len(m.w),
                    notes=f"LP relaxation, then the integer program over its {free} fractional variables")
                return _chosen(units, m), stats
            log.info("odn: the LP-fixed siting is %.2f%% above the LP bound; solving the whole integer program",
                     100 * gap)
    m = build_odn_model(units, settings)
    stats = solve(m.problem, part="odn", build_seconds=m.build_seconds, **solve_kw)
    milp.solved(stats, model="ODN", explain=lambda: InfeasibleError(
        "ODN: cabinet siting infeasible (every cell can hold its own cabinet; this should not happen)", family="odn"))
    return _chosen(units, m), stats


# --------------------------------------------------------------------------- feeder trees

def repair_for_budget(edges: pd.DataFrame, star_m: np.ndarray, limit_m: np.ndarray) -> pd.DataFrame:
    """Re-hang on the OLT (parent -1) every cabinet whose path along the tree exceeds ``limit_m``.

    ``edges`` as :attr:`gis.trees.FeederForest.edges` (each parent before its children);
    ``star_m``/``limit_m`` per cabinet [m]. Returns the edges with ``path_m`` added.
    """
    parent = edges["parent"].to_numpy().copy()
    length = edges["length_m"].to_numpy(float).copy()
    child = edges["child"].to_numpy()
    path = np.zeros(len(star_m))
    for e in range(len(edges)):  # breadth-first: the parent's path is final
        c, p = int(child[e]), int(parent[e])
        via = length[e] + (path[p] if p >= 0 else 0.0)
        if via > limit_m[c] + 1e-6 and p >= 0:
            parent[e], length[e], via = -1, star_m[c], star_m[c]
        path[c] = via
    out = edges.assign(parent=parent, length_m=length)
    out["path_m"] = path[child]
    return out


@dataclass
class Odn:
    """The ODN of a PON plan (layers in WGS-84; figures for ``pon.bill_of_quantities``)."""

    splitters: gpd.GeoDataFrame
    links: gpd.GeoDataFrame          # kinds feeder (tree edges) and distribution
    unit_path_km: np.ndarray         # (u,) OLT -> cell route km along the tree
    unit_loss_db: np.ndarray
    unit_budget_db: np.ndarray
    figures: dict
    stats: object = None


def build_odn(inp, asg: pd.DataFrame, *, solver: str = "cbc", time_limit_s: float = 60.0,
              gap_rel: float = 0.005, threads: int = 2, seed: int = 0) -> Odn:
    """Cabinets, splitters, feeder trees and distribution links for the homing ``asg``."""
    s = inp.settings
    u = units_of(inp, asg)
    cab_of, stats = site_cabinets(u, s, solver=solver, time_limit_s=time_limit_s, gap_rel=gap_rel,
                                  threads=threads, seed=seed)
    cabs, cab_row = np.unique(cab_of, return_inverse=True)   # cabinet positions (unit rows) and each unit's cabinet
    olt_of_cab = u.olt[cabs]
    dist_km = np.hypot(*(u.xy_m - u.xy_m[cab_of]).T) * s.route_factor / 1000.0
    slack_m = (u.reach_km - dist_km) * 1000.0
    limit_m = np.full(len(cabs), np.inf)
    np.minimum.at(limit_m, cab_row, slack_m)
    forest = feeder_forest(u.xy_m[cabs], olt_of_cab, inp.site_xy_m, route_factor=s.route_factor)
    star_m = np.hypot(*(inp.site_xy_m[olt_of_cab] - u.xy_m[cabs]).T) * s.route_factor
    edges = repair_for_budget(forest.edges, star_m, limit_m)
    cab_path_m = np.zeros(len(cabs))
    cab_path_m[edges["child"].to_numpy()] = edges["path_m"].to_numpy()
    path_km = cab_path_m[cab_row] / 1000.0 + dist_km + in_cell_reach_km(inp.cell_area_km2[u.cell], s.route_factor)
    loss = np.array([path_loss_db(km, sp) for km, sp in zip(path_km, u.split, strict=True)])
    budget = np.full(len(path_km), optics_class(s.optics_class).budget_db)
    ids = np.array([f"CAB-{inp.cell_id[c]}" for c in u.cell[cabs]], dtype=object)
    odn = Odn(splitters=_splitters(inp, u, cabs, cab_row, ids), links=_odn_links(inp, u, cabs, cab_row, ids, edges),
              unit_path_km=path_km, unit_loss_db=loss, unit_budget_db=budget, figures={}, stats=stats)
    odn.figures = _figures(u, odn, forest, edges, len(cabs), cab_row)
    # the new-build star the issue compares with: one straight feeder per served cell to its OLT, x r
    odn.figures["star_km"] = float(np.hypot(*(inp.site_xy_m[u.olt] - u.xy_m).T).sum() * s.route_factor / 1000.0)
    log.info("ODN: %d cabinets at %d positions, feeder tree %.0f km (star of cabinets %.0f km, of cells %.0f km), "
             "longest path %.2f km", odn.figures["cabinets"], len(cabs), odn.figures["feeder_km"],
             odn.figures["cabinet_star_km"], odn.figures["star_km"], float(path_km.max()) if len(path_km) else 0.0)
    return odn


def _splitters(inp, u: OdnUnits, cabs, cab_row, ids) -> gpd.GeoDataFrame:
    """One row per cabinet position (primary or centralised splitters) and per cell (secondary splitters)."""
    ports_u = u.lines / np.array([sp.ratio for sp in u.split])
    cab_ports = np.ceil(np.bincount(cab_row, weights=ports_u, minlength=len(cabs)) - 1e-9)
    cab_lines = np.bincount(cab_row, weights=u.lines, minlength=len(cabs))
    first = [u.split[i].stages[0] for i in cabs]
    rows = {"splitter_id": [f"{i}-P" for i in ids], "olt_id": inp.site_id[u.olt[cabs]], "kind": "primary",
            "ratio": [f"1:{r}" for r in first], "lines": cab_lines, "count": cab_ports.astype(np.int64),
            "cabinet_id": ids, "cabinets": np.ceil(cab_ports / inp.settings.cabinet_ports).astype(np.int64),
            "district_id": inp.cell_district[u.cell[cabs]]}
    prim = gpd.GeoDataFrame(rows, geometry=points(inp.cell_lonlat[u.cell[cabs]]), crs=4326)
    two = np.array([len(sp.stages) > 1 for sp in u.split], dtype=bool)
    sec_ratio = np.array([sp.stages[-1] for sp in u.split])
    sec = gpd.GeoDataFrame({
        "splitter_id": [f"{c}-S" for c in inp.cell_id[u.cell[two]]], "olt_id": inp.site_id[u.olt[two]],
        "kind": "secondary", "ratio": [f"1:{r}" for r in sec_ratio[two]], "lines": u.lines[two],
        "count": np.ceil(u.lines[two] / sec_ratio[two] - 1e-9).astype(np.int64), "cabinet_id": ids[cab_row[two]],
        "cabinets": 0, "district_id": inp.cell_district[u.cell[two]]},
        geometry=points(inp.cell_lonlat[u.cell[two]]), crs=4326)
    return gpd.GeoDataFrame(pd.concat([prim, sec], ignore_index=True), geometry="geometry", crs=4326)


def _lines_gdf(kind, from_id, to_id, a_ll, b_ll, straight_km, route_km, capex, extra=None) -> gpd.GeoDataFrame:
    geom = linestrings(np.stack([a_ll, b_ll], axis=1)) if len(a_ll) else np.array([], dtype=object)
    return gpd.GeoDataFrame({"kind": kind, "from_id": from_id, "to_id": to_id, "straight_km": straight_km,
                             "route_km": route_km, "capex_cny": capex, **(extra or {})},
                            geometry=gpd.GeoSeries(geom, crs=4326), crs=4326)


def _odn_links(inp, u: OdnUnits, cabs, cab_row, ids, edges: pd.DataFrame) -> gpd.GeoDataFrame:
    """Feeder tree edges (OLT or cabinet -> cabinet) and distribution links (cabinet -> cell)."""
    s = inp.settings
    rf = s.route_factor
    ch, pa = edges["child"].to_numpy(), edges["parent"].to_numpy()
    olt = u.olt[cabs[ch]]
    cab_ll = inp.cell_lonlat[u.cell[cabs]]
    a_ll = np.where((pa >= 0)[:, None], cab_ll[np.maximum(pa, 0)], inp.site_lonlat[olt])
    from_id = np.where(pa >= 0, ids[np.maximum(pa, 0)], inp.site_id[olt])
    route = edges["length_m"].to_numpy(float) / 1000.0
    price = np.array([s.fiber_cost_cny_per_km[c] for c in inp.clutter[u.cell[cabs[ch]]]])
    feeder = _lines_gdf("feeder", from_id, ids[ch], a_ll, cab_ll[ch], route / rf, route, route * price,
                        {"olt_id": inp.site_id[olt]})
    d_km = np.hypot(*(u.xy_m - u.xy_m[cabs[cab_row]]).T) / 1000.0
    in_km = in_cell_distribution_km(u.lines, inp.cell_area_km2[u.cell], rf)
    dprice = inp.distribution_cny_per_km[u.cell]
    dist = _lines_gdf("distribution", ids[cab_row], inp.cell_id[u.cell], cab_ll[cab_row], inp.cell_lonlat[u.cell],
                      d_km, d_km * rf + in_km, (d_km * rf + in_km) * dprice,
                      {"olt_id": inp.site_id[u.olt], "in_cell_km": in_km})
    return gpd.GeoDataFrame(pd.concat([feeder, dist], ignore_index=True), geometry="geometry", crs=4326)


def _figures(u: OdnUnits, odn: Odn, forest, edges: pd.DataFrame, n_cabs: int, cab_row) -> dict:
    lk = odn.links
    sp = odn.splitters
    is_f = lk["kind"] == "feeder"
    per_ratio = {}
    for ratio, cnt in zip(sp["ratio"], sp["count"], strict=True):
        per_ratio[ratio] = per_ratio.get(ratio, 0) + int(cnt)
    return {
        "feeder_km": float(lk.loc[is_f, "route_km"].sum()), "distribution_km": float(lk.loc[~is_f, "route_km"].sum()),
        "in_cell_km": float(lk.loc[~is_f, "in_cell_km"].sum()),
        "cabinet_star_km": float(forest.star_m.sum() / 1000.0), "mst_km": float(forest.total_m.sum() / 1000.0),
        "rehung": int((edges["parent"].to_numpy() != forest.edges["parent"].to_numpy()).sum()),
        "cabinet_positions": int(n_cabs), "cabinets": int(sp.loc[sp["kind"] == "primary", "cabinets"].sum()),
        "splitters": per_ratio, "lines": float(u.lines.sum()),
        "feeder_cny": float(lk.loc[is_f, "capex_cny"].sum()), "distribution_cny": float(lk.loc[~is_f, "capex_cny"].sum()),
        "max_path_km": float(odn.unit_path_km.max()) if len(u.cell) else 0.0,
        "max_loss_over_budget_db": float((odn.unit_loss_db - odn.unit_budget_db).max()) if len(u.cell) else None,
    }


def backhaul_carrier_cny(route_km: np.ndarray, pon, rate_cny_per_km: float) -> tuple[np.ndarray, np.ndarray]:
    """(carrier 'pon'|'ring', backhaul CNY) per 5G site from its route km to the nearest OLT / office.

    PON: ``route_km x rate`` (a port at an OLT within the optical reach); ring (SPN/IPRAN):
    ``ring_cost_cny_per_site + ring_cost_cny_per_km x route_km``. ``pon.backhaul_carrier`` picks
    one or the cheaper per site; PON beyond the reach falls back to the ring.
    """
    km = np.asarray(route_km, dtype=float)
    pon_cny = km * float(rate_cny_per_km)
    ring_cny = float(pon.ring_cost_cny_per_site) + float(pon.ring_cost_cny_per_km) * km
    pon_ok = km <= pon_reach_km(pon) + 1e-9
    mode = pon.backhaul_carrier
    use_pon = pon_ok & ((mode == "pon") | ((mode == "cheapest") & (pon_cny <= ring_cny)))
    return np.where(use_pon, "pon", "ring").astype(object), np.where(use_pon, pon_cny, ring_cny)


def optical_budget(settings: PonSettings) -> list[dict]:
    """``pon.optical_budget``: every split in use (and the usual ones) against every optics class."""
    used = sorted({pon_split(settings, c).label for c in CLUTTERS})
    return optical_budget_table(list(dict.fromkeys(used)))


__all__ = ["CARD_PORTS", "FAMILIES", "Odn", "OdnUnits", "backhaul_carrier_cny", "build_odn", "build_odn_model", "optical_budget",
           "repair_for_budget", "site_cabinets", "units_of"]
