r"""The coverage layer: macro sites that put every populated point of the evaluation lattice within radius.

The integer program of :mod:`rollout.model_5g` tests coverage at one planning point per demand cell; a
demand cell is up to ~5 km² and a macro's link-budget radius in dense urban is ~200 m, so that test says
little about the cell's area. The coverage layer closes it. Before the 5G solve, it chooses macro sites so
that every populated point of the *evaluation lattice* (:func:`rollout.coverage_eval.evaluation_lattice`:
H3 resolution 10 in dense-urban and urban cells, 9 elsewhere; the lattice the plan's coverage is reported
on) has ``k`` stations of a coverage type (``radio.coverage_types``, default macro: a macro-led coverage
layer; small cells add capacity) within that type's radius in the point's clutter class. The 5G program
then keeps these sites as fixed new stations and adds capacity, the target and the headroom on top.

Guarantee: every populated lattice point reachable by some candidate is covered ``k`` times in the plan,
so ``coverage.evaluation`` reports (up to unreachable points, which are listed) 100 % of the lattice's
population at the design threshold. Between lattice points (~76 m apart in dense urban and urban, ~200 m
elsewhere) nothing is tested: a gap smaller than the lattice spacing can remain at the edge of a disc.

The set-covering problem, over lattice points P with need k_p and macro candidates J with cost c_j
(equipment + backhaul)::

    min Σ_j c_j z_j   s.t.  Σ_{j ∈ J(p)} z_j ≥ k_p − E_p  ∀ p,   z_j ∈ {0, 1}

where J(p) are candidates within radius of p and E_p the existing coverage stations within radius. Rows
are reduced first without changing the problem: equal rows are merged, and a row whose site set contains
another row's set with at least its need is dropped (it is implied). It is solved by the greedy rule
(cheapest cost per newly covered point first; an H_n-approximation) followed by removing redundant sites,
dearest first. The Qingdao lattice has ~80,000 reduced rows and ~65,000 candidates: its LP relaxation
alone takes CBC and HiGHS over five minutes (measured 2026-11-30), so the layer is not proven optimal.
Its ``bound`` is the LP relaxation over the sub-lattice of H3 centre children (a subset of the rows, so a
valid lower bound on this layer's cost), solved by HiGHS through scipy; ``status`` is ``feasible`` with
that bound and gap.
"""
from __future__ import annotations

import heapq
import logging
import time
from dataclasses import dataclass

import h3.api.numpy_int as h3n
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.spatial import cKDTree

from rollout.plan import SolveStats

log = logging.getLogger(__name__)

# Outside these clutter classes the coverage layer is the macro layer: its sites carry the (thin) traffic,
# and macro candidates it did not choose are closed (they would only add binaries the solver must search).
CAPACITY_MACRO_CLUTTERS = ("dense_urban", "urban")
CO_SITED_SHARE = 0.5   # a candidate this share of its radius from a coverage site counts as the same site


def coverage_matrix(points_xy: np.ndarray, point_radius_m: np.ndarray, site_xy: np.ndarray) -> sp.csr_matrix:
    """(points × sites) 0/1 matrix: site j within ``point_radius_m[p]`` of point p (radius 0: no site)."""
    points_xy = np.asarray(points_xy, float).reshape(-1, 2)
    site_xy = np.asarray(site_xy, float).reshape(-1, 2)
    n, m = len(points_xy), len(site_xy)
    if n == 0 or m == 0:
        return sp.csr_matrix((n, m))
    tree = cKDTree(site_xy)
    rows, cols = [], []
    for r in np.unique(point_radius_m):
        idx = np.flatnonzero(point_radius_m == r)
        if r <= 0:
            continue
        hits = tree.query_ball_point(points_xy[idx], r=float(r), return_sorted=True)
        lens = np.fromiter((len(h) for h in hits), np.int64, len(hits))
        if lens.sum():
            rows.append(np.repeat(idx, lens))
            cols.append(np.concatenate([np.asarray(h, np.int64) for h in hits if len(h)]))
    if not rows:
        return sp.csr_matrix((n, m))
    r, c = np.concatenate(rows), np.concatenate(cols)
    a = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n, m))
    a.sum_duplicates()
    a.sort_indices()
    return a


def reduce_rows(a: sp.csr_matrix, need: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Rows with need > 0, equal rows merged (largest need), rows implied by a subset row with ≥ need dropped."""
    need = np.asarray(need, np.int64)
    keep = np.flatnonzero(need > 0)
    a = a[keep].tocsr()
    need = need[keep]
    keys = [a.indices[a.indptr[i]:a.indptr[i + 1]].tobytes() for i in range(a.shape[0])]
    codes, uniq = pd.factorize(pd.Series(keys, dtype=object), sort=False)
    first = np.unique(codes, return_index=True)[1]
    u_need = np.zeros(len(uniq), np.int64)
    np.maximum.at(u_need, codes, need)
    u = a[first].tocsr()
    size = np.diff(u.indptr)
    inter = (u @ u.T).tocoo()
    sub = ((inter.data == size[inter.col]) & (size[inter.col] < size[inter.row])
           & (u_need[inter.col] >= u_need[inter.row]))
    drop = np.zeros(u.shape[0], bool)
    drop[inter.row[sub]] = True
    return u[~drop].tocsr(), u_need[~drop]


def greedy_cover(a: sp.csr_matrix, need: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Sites (bool mask) covering every row ``need`` times: cheapest cost per newly served row first, then
    redundant sites removed, dearest first. Rows that cannot reach their need take what they can."""
    cols = a.tocsc()
    residual = np.asarray(need, np.int64).copy()
    gain = np.diff(cols.indptr).astype(float)
    cost = np.asarray(cost, float)
    heap = [(cost[j] / gain[j], j) for j in np.flatnonzero(gain > 0)]
    heapq.heapify(heap)
    chosen = np.zeros(a.shape[1], bool)
    while heap and (residual > 0).any():
        ratio, j = heapq.heappop(heap)
        rows = cols.indices[cols.indptr[j]:cols.indptr[j + 1]]
        new = int((residual[rows] > 0).sum())
        if new == 0:
            continue
        if cost[j] / new > ratio * (1 + 1e-12):      # stale entry: re-queue at its current ratio
            heapq.heappush(heap, (cost[j] / new, j))
            continue
        chosen[j] = True
        residual[rows] -= 1
    have = np.asarray(a @ chosen.astype(float)).ravel()
    target = np.minimum(np.asarray(need, float), np.asarray(a.sum(axis=1)).ravel())
    for j in sorted(np.flatnonzero(chosen), key=lambda j: (-cost[j], j)):
        rows = cols.indices[cols.indptr[j]:cols.indptr[j + 1]]
        if (have[rows] > target[rows]).all():
            chosen[j] = False
            have[rows] -= 1
    return chosen


def lp_bound(a: sp.csr_matrix, need: np.ndarray, cost: np.ndarray, *, time_limit_s: float) -> float | None:
    """The LP relaxation's optimum of the covering rows ``a`` (None if HiGHS stops first)."""
    need = np.asarray(need, float)
    a = a[need > 0]
    need = need[need > 0]
    used = np.flatnonzero(np.diff(a.tocsc().indptr) > 0)
    if a.shape[0] == 0 or len(used) == 0:
        return 0.0
    res = linprog(np.asarray(cost, float)[used], A_ub=-a[:, used], b_ub=-need, bounds=(0, 1),
                  method="highs-ipm", options={"time_limit": float(time_limit_s)})
    return float(res.fun) if res.status == 0 else None


def centre_children(h3_ids: np.ndarray) -> np.ndarray:
    """True where an H3 cell is the centre child of its parent (a sub-lattice of one point in seven): its own
    resolution's 3-bit digit is 0 (H3 index layout: digit r at bits 3·(15 − r))."""
    h = np.asarray(h3_ids, dtype=np.uint64)
    res = (h >> np.uint64(52)) & np.uint64(0xF)
    digit = (h >> (np.uint64(3) * (np.uint64(15) - res))) & np.uint64(7)
    return (digit == 0) | (res == 0)


@dataclass
class CoverageLayer:
    """The chosen coverage sites and what was proven about them."""

    sites: np.ndarray            # rows of the candidate sites chosen (new coverage stations)
    site_type: np.ndarray        # the type column of each chosen site
    stats: SolveStats
    points: int                  # populated lattice points tested
    rows: int                    # covering rows after reduction
    short: np.ndarray            # bool per point: fewer than k candidates within radius
    type_names: tuple = ()

    @property
    def unreachable_points(self) -> int:
        return int(self.short.sum())

    def summary(self) -> dict:
        """``plan.json["extra"]["coverage_layer"]``."""
        return _summary(self, self.type_names)


def choose_coverage_sites(points_xy, point_clutter, point_need, bound_mask, site_xy, site_cost,
                          site_type: np.ndarray, radius_m: dict, *, existing: np.ndarray,
                          time_limit_s: float = 60.0) -> CoverageLayer:
    """The coverage layer for lattice points and candidate sites of the coverage types.

    ``radius_m`` = ``{type_col: {clutter: radius_m}}``; ``site_type[j]`` is the type column of candidate j
    (-1: not a coverage candidate); ``existing[j]`` the existing coverage stations at j (their coverage
    lowers the need); ``site_cost`` the cost of a new station there [CNY]; ``bound_mask`` the points whose rows
    the LP bound uses (a subset: any subset of the rows bounds the whole).
    """
    t0 = time.perf_counter()
    n = len(point_clutter)
    a = typed_coverage_matrix(points_xy, point_clutter, site_xy, site_type, radius_m)
    have = np.asarray(a @ np.asarray(existing, float)).ravel()
    free = np.asarray(a @ (np.asarray(existing) == 0).astype(float)).ravel()
    need = np.maximum(np.asarray(point_need, np.int64) - have.astype(np.int64), 0)
    short = need > free
    a_new = a @ sp.diags((np.asarray(existing) == 0).astype(float))
    rows, rneed = reduce_rows(a_new.tocsr(), np.minimum(need, free.astype(np.int64)))
    cost = np.asarray(site_cost, float)
    chosen = greedy_cover(rows, rneed, cost)
    objective = float(cost[chosen].sum())
    bound_mask = np.asarray(bound_mask, bool)
    sub_rows, sub_need = reduce_rows(a_new[bound_mask].tocsr(), np.minimum(need, free.astype(np.int64))[bound_mask])
    bound = lp_bound(sub_rows, sub_need, cost, time_limit_s=time_limit_s)
    gap = (objective - bound) / objective if bound is not None and objective > 0 else (0.0 if objective == 0 else None)
    stats = SolveStats(part="5g_coverage", name="greedy", status="optimal" if gap == 0 else "feasible",
                       objective=objective, bound=bound, gap=gap, seconds=round(time.perf_counter() - t0, 3),
                       variables=int(rows.shape[1]), integer_variables=int(rows.shape[1]),
                       constraints=int(rows.shape[0]), nonzeros=int(rows.nnz), time_limit_s=time_limit_s,
                       notes=(f"coverage layer: {int(chosen.sum())} sites put {n} populated lattice points within "
                              f"radius (evaluation lattice and cells' planning points; greedy set cover; bound: LP over the "
                              f"centre-child sub-lattice, "
                              f"{sub_rows.shape[0]} rows)"))
    log.info("coverage layer: %d sites, %d lattice points, %d reduced rows, cost %.4g CNY, LP bound %s",
             int(chosen.sum()), n, rows.shape[0], objective, "none" if bound is None else f"{bound:.4g}")
    sites = np.flatnonzero(chosen)
    return CoverageLayer(sites=sites, site_type=np.asarray(site_type)[sites], stats=stats, points=n,
                         rows=int(rows.shape[0]), short=short)


def typed_coverage_matrix(points_xy, point_clutter, site_xy, site_type: np.ndarray, radius_m: dict) -> sp.csr_matrix:
    """(points × sites) 0/1: site j (of type column ``site_type[j]``; -1 none) within its type's radius in the
    point's clutter class (``radius_m`` = ``{type_col: {clutter: radius_m}}``)."""
    point_clutter = np.asarray(point_clutter).astype(str)
    site_type = np.asarray(site_type)
    n, m = len(point_clutter), len(site_type)
    rows, cols = [], []
    for tcol, by_clutter in radius_m.items():
        idx = np.flatnonzero(site_type == tcol)
        r = np.array([by_clutter.get(c, 0.0) for c in point_clutter], float)
        sub = coverage_matrix(points_xy, r, np.asarray(site_xy)[idx]).tocoo()
        rows.append(sub.row)
        cols.append(idx[sub.col])
    r, c = (np.concatenate(rows), np.concatenate(cols)) if rows else (np.zeros(0, int), np.zeros(0, int))
    return sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n, m))


def _summary(layer: CoverageLayer, types: tuple) -> dict:
    return {"sites": int(len(layer.sites)),
            "by_type": {types[t]: int((layer.site_type == t).sum()) for t in np.unique(layer.site_type)},
            "lattice_points": layer.points, "rows": layer.rows, "unreachable_points": layer.unreachable_points,
            "cost_cny": layer.stats.objective, "bound_cny": layer.stats.bound, "gap": layer.stats.gap,
            "method": layer.stats.notes}




def coverage_points(layers, scenario) -> dict:
    """The points the layer covers: the populated evaluation-lattice points, then the cells' planning points
    (so the program's per-cell coverage rows hold on the layer's sites). ``xy`` [m], ``clutter``, ``need`` (k by
    clutter class), ``cell`` (demand row) and ``bound`` (the centre-child sub-lattice the LP bound uses)."""
    from gis.crs import lonlat_to_xy
    from rollout.coverage_eval import evaluation_lattice

    lat = evaluation_lattice(layers.demand)
    lat = lat[lat["population"].to_numpy(float) > 0]
    dem = layers.demand
    pp = np.flatnonzero(dem["population"].to_numpy(float) > 0)
    x, y = lonlat_to_xy(lat["lon"].to_numpy(float), lat["lat"].to_numpy(float), layers.crs_metric)
    h3_int = np.array([h3n.str_to_int(h) for h in lat["h3"]], dtype=np.uint64)
    clutter = np.concatenate([lat["clutter"].astype(str).to_numpy(), dem["clutter"].astype(str).to_numpy()[pp]])
    k_by = {c: int(v) for c, v in scenario.radio.k_coverage.as_dict().items()}
    return {"xy": np.vstack([np.column_stack([x, y]), dem[["x_m", "y_m"]].to_numpy(float)[pp]]),
            "clutter": clutter, "need": np.array([k_by.get(c, 1) for c in clutter], np.int64),
            "cell": np.concatenate([lat["cell"].to_numpy(), pp]),
            "bound": np.concatenate([centre_children(h3_int), np.zeros(len(pp), bool)])}


def coverage_columns(inp, scenario) -> tuple[np.ndarray, dict, np.ndarray, np.ndarray]:
    """Per candidate site: its coverage type column (-1: none; one type per position), ``{type_col: radii}``,
    the existing stations of that type and the cost of a new one there [CNY] (inf where none can be built)."""
    types = tuple(inp.type_names)
    cov = [types.index(t) for t in scenario.radio.coverage_types if t in types]
    slots = np.maximum(inp.max_per_site, inp.existing)
    site_type = np.full(inp.n_sites, -1)
    for t in reversed(cov):                       # the first listed coverage type a site allows
        site_type[slots[:, t] > 0] = t
    rows, col = np.arange(inp.n_sites), np.maximum(site_type, 0)
    existing = np.where(site_type >= 0, inp.existing[rows, col], 0)
    cost = np.where(site_type >= 0, inp.station_cost_cny[rows, col], np.inf)
    return site_type, {t: inp.type_radius_m[types[t]] for t in cov}, existing, cost


def apply_coverage_layer(inp, layers, scenario, *, time_limit_s: float = 60.0):
    """``(inp with the coverage sites fixed, CoverageLayer)``.

    The chosen sites get ``forced_new = 1`` of their type. Candidates of a coverage type that were not
    chosen and lie within half their own radius of a chosen site (two macros that close serve the same
    area: one site, in practice) can no longer be built, so the program adds capacity and the target
    on top of the layer, not a second layer beside it. The cells' planning points are covered by the layer
    too, so the program's per-cell coverage rows hold on its sites.
    """
    import dataclasses

    types = tuple(inp.type_names)
    pts = coverage_points(layers, scenario)
    site_type, radius, existing, cost = coverage_columns(inp, scenario)
    cov = list(radius)
    layer = choose_coverage_sites(pts["xy"], pts["clutter"], pts["need"], pts["bound"], inp.site_xy,
                                  np.where(np.isfinite(cost), cost, 0.0), site_type, radius, existing=existing,
                                  time_limit_s=time_limit_s)
    layer.type_names = types
    if layer.unreachable_points:
        _raise_unreachable(layer.short, pts["cell"], layers.demand, radius, types)
    forced = np.zeros_like(inp.max_per_site)
    forced[layer.sites, layer.site_type] = 1
    max_per_site = inp.max_per_site.copy()
    capacity_options = np.isin(inp.site_clutter.astype(str), CAPACITY_MACRO_CLUTTERS)
    for t in cov:
        closed = _within_own_radius(inp, layer.sites[layer.site_type == t], t, types) | ~capacity_options
        closed[layer.sites] = False
        max_per_site[closed, t] = 0
    pairs = _pairs_to_open_sites(inp, layers, scenario, max_per_site)
    log.info("coverage layer: %d sites fixed; %d candidates of its types closed; %d pairs to open sites",
             len(layer.sites), int((max_per_site < inp.max_per_site).any(axis=1).sum()), len(pairs))
    return dataclasses.replace(inp, forced_new=forced, max_per_site=max_per_site, pairs=pairs), layer


def _raise_unreachable(short: np.ndarray, point_cell: np.ndarray, dem, radius: dict, types: tuple) -> None:
    """Exit 3 naming the cells (district, clutter class, radius) whose lattice points no coverage candidate reaches."""
    from gis.errors import InfeasibleError

    cells = np.unique(point_cell[short])
    ids = dem["cell_id"].astype(str).to_numpy()[cells]
    dist = dem["district_id"].astype(str).to_numpy()[cells]
    cl = dem["clutter"].astype(str).to_numpy()[cells]
    by = pd.Series(1, index=pd.MultiIndex.from_arrays([dist, cl])).groupby(level=[0, 1]).size()
    where = ", ".join(f"district {d} {c}: {n}" for (d, c), n in by.items())
    radii = "; ".join(f"{types[t]} {', '.join(f'{c} {r:,.0f} m' for c, r in rr.items())}" for t, rr in radius.items())
    names = ", ".join(ids[:8]) + (f" and {len(ids) - 8} more" if len(ids) > 8 else "")
    raise InfeasibleError(
        f"5G: coverage: {int(short.sum())} populated lattice points in {len(ids)} cells have fewer candidate sites "
        f"of the coverage types within radius than k_coverage ({where}; radii {radii}): {names}; add candidate "
        f"sites (data.candidates), a finer grid.site_res_*, or change radio.coverage_types",
        family="coverage", items=list(ids))


def _pairs_to_open_sites(inp, layers, scenario, max_per_site: np.ndarray) -> pd.DataFrame:
    """The pair table again, over the sites that can still hold a station (the cap per cell and type counts
    open sites only, so a cell keeps its nearest coverage sites as carriers)."""
    from gis.build import candidate_pairs

    open_rows = np.flatnonzero(np.maximum(max_per_site, inp.existing).sum(axis=1) > 0)
    cand = layers.candidates.iloc[open_rows].reset_index(drop=True)
    pairs, _ = candidate_pairs(layers.demand, cand, scenario.grid.max_pairs_per_cell, inp.type_radius_m,
                               layers.crs_metric)
    pairs = pairs.copy()
    pairs["site"] = open_rows[pairs["site"].to_numpy()]
    return pairs[[c for c in ("cell", "site", "dist_m", "cover") if c in pairs]]


def _within_own_radius(inp, chosen: np.ndarray, t: int, types: tuple) -> np.ndarray:
    """Candidate sites within half type ``t``'s radius (in the site's clutter) of a chosen site of type t."""
    out = np.zeros(inp.n_sites, bool)
    if not len(chosen):
        return out
    r = np.array([inp.type_radius_m[types[t]].get(c, 0.0) for c in inp.site_clutter.astype(str)], float)
    d, _ = cKDTree(inp.site_xy[chosen]).query(inp.site_xy, k=1)
    out[:] = d < CO_SITED_SHARE * r
    return out


def layer_plan_bound(layers, scenario, inp, *, time_limit_s: float = 60.0) -> SolveStats:
    """A lower bound on the 5G capex of *every* plan meeting the lattice coverage and the station target
    (part ``5g_bound``), at the prices of ``inp`` (a :class:`rollout.model_5g.Siting5GInput` whose per-site
    backhaul is the cheapest any plan can price):

        LB = min over k ≥ 0 of  max(LB_cov, k · c_cov) + max(0, N − E − k) · c_min

    ``LB_cov``: the LP bound of the coverage rows (centre-child sub-lattice) at these prices, a bound on the
    cost of the coverage-type stations of any plan; ``k`` is their number, each costing at least ``c_cov``
    (the cheapest new coverage-type station); the other new stations up to the target N (E existing) cost at
    least ``c_min`` (the cheapest new station of any type). Capacity, headroom and district limits are
    relaxed, so the bound is valid and cheap (one LP) but loose where they bind.
    """
    t0 = time.perf_counter()
    pts = coverage_points(layers, scenario)
    site_type, radius, existing, cost_site = coverage_columns(inp, scenario)
    cov = list(radius)
    keep = pts["bound"]
    a = typed_coverage_matrix(pts["xy"][keep], pts["clutter"][keep], inp.site_xy, site_type, radius)
    cost_cov = np.where(existing > 0, 0.0, np.where(np.isfinite(cost_site), cost_site, 0.0))   # existing: free
    rows, rneed = reduce_rows(a, pts["need"][keep])
    lb_cov = lp_bound(rows, rneed, cost_cov, time_limit_s=time_limit_s) if cov else 0.0
    cost = inp.station_cost_cny
    new_ok = inp.new_max > 0
    c_cov = min((cost[new_ok[:, t], t].min() for t in cov if new_ok[:, t].any()), default=np.inf)
    c_min = float(cost[new_ok].min()) if new_ok.any() else 0.0
    rest = max(0, int(inp.target_stations) - int(inp.existing.sum()))
    bound = None
    if lb_cov is not None:
        ks = np.arange(rest + 1, dtype=float)
        vals = np.maximum(lb_cov, ks * c_cov if np.isfinite(c_cov) else 0.0) + (rest - ks) * c_min
        bound = float(vals.min())
    return SolveStats(part="5g_bound", name="highs", status="optimal" if bound is not None else "feasible",
                      objective=bound, bound=bound, gap=0.0 if bound is not None else None,
                      seconds=round(time.perf_counter() - t0, 3), variables=int(rows.shape[1]),
                      constraints=int(rows.shape[0]), nonzeros=int(rows.nnz), time_limit_s=time_limit_s,
                      notes=(f"5G lower bound: coverage LP over the centre-child sub-lattice ({lb_cov and round(lb_cov)} "
                             f"CNY) combined with the station target at the cheapest station prices; valid for "
                             f"every plan (capacity and headroom relaxed)"))
