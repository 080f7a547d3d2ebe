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
are reduced first without changing the problem (:func:`rollout.covering.reduce_rows`): equal rows are
merged, and a row whose site set contains another row's set with at least its need is dropped (it is
implied). The rows do not depend on prices, so a plan builds them once (:class:`CoverageProblem`) and
solves them again, warm-started, when the backhaul is re-priced.

It is solved by :func:`rollout.covering.solve_cover`: the cheaper of the greedy and the Lagrangian greedy
covers, improved by exact MIPs over 6 km windows (passes over shifted window grids), with a Lagrangian lower
bound from subgradient steps and dual ascent over 30 km tiles. The Qingdao lattice has ~80,000 reduced
rows over ~65,000 macro candidates; its LP relaxation alone takes HiGHS's interior point ~90 s (measured
2026-11-30; its optimum, 7.091 bn CNY at the default's prices, took 172 s on 2026-12-01). Part
``5g_coverage`` carries the cover's cost,
the Lagrangian bound and their gap; it says ``optimal`` only when that gap is within ``solver.gap_rel``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.spatial import cKDTree

from rollout.covering import (MAX_WINDOW_ROWS, SAFETY_S, SUBGRADIENT_ITERATIONS, WINDOW_M, Cover,
                              dual_ascent, layout, reduce_rows, solve_cover, subgradient)
from rollout.plan import SolveStats

# The plan bound's ascent pass runs over 10 km tiles, not the layer's DUAL_TILE_M: on the critical path, and its 5G
# part is loose for other reasons (capacity, headroom and district limits relaxed). Qingdao, 2026-12-02: 30 km tiles
# took its coverage part from 7.741 to 7.749 bn CNY (plan gap 6.35 % -> 6.31 %) for 2-4 s more of the whole plan.
PLAN_BOUND_TILE_M = 10_000.0

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


@dataclass
class CoverageProblem:
    """The layer's covering rows, which do not depend on prices: built once per plan and solved again when
    the backhaul is re-priced (joint rounds, the plan bound), warm-started from the last cover."""

    points: dict                 # :func:`coverage_points`
    site_type: np.ndarray        # coverage type column per candidate (-1: none)
    radius: dict                 # {type_col: {clutter: radius_m}}
    existing: np.ndarray         # existing coverage stations per candidate
    rows: sp.csr_matrix          # reduced covering rows over the candidates (new stations only)
    need: np.ndarray             # their need after existing coverage
    short: np.ndarray            # bool per point: fewer than k candidates within radius
    cover: Cover | None = None   # the last cover solved (warm start)


@dataclass
class CoverageLayer:
    """The chosen coverage sites and what was proven about them (``stats`` is complete after :meth:`finish`)."""

    sites: np.ndarray            # rows of the candidate sites chosen (new coverage stations)
    site_type: np.ndarray        # the type column of each chosen site
    stats: SolveStats | None
    points: int                  # populated lattice points tested
    rows: int                    # covering rows after reduction
    short: np.ndarray            # bool per point: fewer than k candidates within radius
    type_names: tuple = ()
    greedy_cny: float | None = None
    cover: Cover | None = None
    columns: int = 0             # candidate columns of the covering rows
    nonzeros: int = 0
    time_limit_s: float | None = None
    gap_rel: float = 0.005
    window_m: float = WINDOW_M   # side of the window MIPs [m]

    @property
    def unreachable_points(self) -> int:
        return int(self.short.sum())

    def finish(self) -> CoverageLayer:
        """Wait for the cover's Lagrangian bound (computed in the background) and fill ``stats``."""
        if self.stats is None:
            self.stats = _layer_stats(self.cover.finish(), self)
        return self

    def summary(self) -> dict:
        """``plan.json["extra"]["coverage_layer"]``."""
        return _summary(self.finish(), self.type_names)


def coverage_problem(layers, scenario, inp) -> CoverageProblem:
    """The covering rows of the layer for ``inp`` (a :class:`rollout.model_5g.Siting5GInput`; only its sites,
    types and existing stations are read, not its prices)."""
    pts = coverage_points(layers, scenario)
    site_type, radius, existing, _ = coverage_columns(inp, scenario)
    a = typed_coverage_matrix(pts["xy"], pts["clutter"], inp.site_xy, site_type, radius)
    have = np.asarray(a @ np.asarray(existing, float)).ravel()
    new_ok = (np.asarray(existing) == 0).astype(float)
    free = np.asarray(a @ new_ok).ravel().astype(np.int64)
    need = np.maximum(np.asarray(pts["need"], np.int64) - have.astype(np.int64), 0)
    rows, rneed = reduce_rows((a @ sp.diags(new_ok)).tocsr(), np.minimum(need, free))
    return CoverageProblem(points=pts, site_type=site_type, radius=radius, existing=existing, rows=rows,
                           need=rneed, short=need > free)


def choose_coverage_sites(problem: CoverageProblem, site_xy: np.ndarray, site_cost: np.ndarray, *,
                          gap_rel: float = 0.005, time_limit_s: float | None = None,
                          window_passes: int = 4, dual_passes: int = 3, wide_passes: int = 0,
                          window_rows: int = MAX_WINDOW_ROWS, window_m: float = WINDOW_M,
                          background: bool = False) -> CoverageLayer:
    """The coverage layer at ``site_cost`` (CNY per new coverage station at each candidate), solved by
    :func:`rollout.covering.solve_cover` and warm-started from ``problem.cover`` (which it then replaces).

    Cold: the cheaper of the greedy and the Lagrangian greedy covers, ``window_passes`` window passes (windows
    of at most ``window_rows`` rows, else quartered), ``wide_passes`` wide-window passes, and subgradient steps
    then ``dual_passes`` dual-ascent passes for the bound. Warm (a re-solve at new prices): from the last cover,
    at most one window pass, and subgradient steps then :func:`warm_dual_passes` passes from its multipliers.
    With ``background`` the bound is still being computed on return: call :meth:`CoverageLayer.finish` (the
    sites are final)."""
    cost = np.asarray(site_cost, float)
    warm = None if problem.cover is None else problem.cover.finish()
    if warm is None:
        cover = solve_cover(problem.rows, problem.need, cost, site_xy, window_passes=window_passes,
                            dual_passes=dual_passes, wide_passes=wide_passes, window_rows=window_rows, window_m=window_m,
                            background=background)
    else:
        cover = solve_cover(problem.rows, problem.need, cost, site_xy, start=warm.chosen, greedy=warm.greedy_chosen,
                            u0=warm.u, window_passes=min(window_passes, 1), dual_passes=warm_dual_passes(dual_passes),
                            window_rows=window_rows, window_m=window_m, background=background)
    problem.cover = cover
    sites = np.flatnonzero(cover.chosen)
    layer = CoverageLayer(sites=sites, site_type=np.asarray(problem.site_type)[sites], stats=None,
                          points=len(problem.points["clutter"]), rows=int(problem.rows.shape[0]), short=problem.short,
                          greedy_cny=cover.greedy, cover=cover, columns=int(problem.rows.shape[1]),
                          nonzeros=int(problem.rows.nnz), time_limit_s=time_limit_s, gap_rel=gap_rel,
                          window_m=window_m)
    return layer if background else layer.finish()


def warm_dual_passes(dual_passes: int) -> int:
    """Dual-ascent passes of a warm re-solve, after the subgradient steps that move the last multipliers to the
    new prices: one, or none when the cold solve itself made at most one (the default)."""
    return 1 if dual_passes >= 2 else 0


def _layer_stats(cover: Cover, layer: CoverageLayer) -> SolveStats:
    points = layer.points
    status = "optimal" if cover.gap <= layer.gap_rel else "feasible"
    stats = SolveStats(part="5g_coverage", name="tiled", status=status, objective=cover.objective,
                       bound=cover.bound, gap=cover.gap, seconds=cover.seconds,
                       variables=layer.columns, integer_variables=layer.columns, constraints=layer.rows,
                       nonzeros=layer.nonzeros, time_limit_s=layer.time_limit_s,
                       notes=(f"coverage layer: {int(cover.chosen.sum())} sites put {points} populated lattice points "
                              f"within radius (evaluation lattice and cells' planning points); greedy cover "
                              f"{cover.greedy:,.0f} CNY"
                              + (f", Lagrangian greedy cover {cover.lagrangian_greedy:,.0f} CNY"
                                 if cover.lagrangian_greedy is not None else "")
                              + f"; the cheaper improved by {cover.window_m / 1000:g} km window MIPs; bound: Lagrangian, "
                              f"multipliers by subgradient steps"
                              + (f", then {cover.dual_passes} dual-ascent pass{'es' if cover.dual_passes > 1 else ''} "
                                 f"over {cover.dual_tile_m / 1000:g} km tiles" if cover.dual_passes else "")
                              + " (rollout.covering)"
                              + (f"; {cover.clock_windows} window MIPs stopped at their {SAFETY_S:g} s safeguard "
                                 f"clock, not their node limit: this cover can differ on another machine"
                                 if cover.clock_windows else "")))
    log.info("coverage layer: %d sites, %d lattice points, %d reduced rows, cost %.4g CNY (greedy %.4g), "
             "bound %.4g, gap %.2f%%, %.1f s", int(cover.chosen.sum()), points, layer.rows, cover.objective,
             cover.greedy, cover.bound, 100 * cover.gap, stats.seconds)
    return stats


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
            "cost_cny": layer.stats.objective, "greedy_cost_cny": layer.greedy_cny,
            "lagrangian_greedy_cost_cny": None if layer.cover is None else layer.cover.lagrangian_greedy,
            "bound_cny": layer.stats.bound,
            "gap": layer.stats.gap, "method": layer.stats.notes}




def coverage_points(layers, scenario) -> dict:
    """The points the layer covers: the populated evaluation-lattice points, then the cells' planning points
    (so the program's per-cell coverage rows hold on the layer's sites). ``xy`` [m], ``clutter``, ``need`` (k by
    clutter class) and ``cell`` (demand row)."""
    from gis.crs import lonlat_to_xy
    from rollout.coverage_eval import evaluation_lattice

    lat = evaluation_lattice(layers.demand)
    lat = lat[lat["population"].to_numpy(float) > 0]
    dem = layers.demand
    pp = np.flatnonzero(dem["population"].to_numpy(float) > 0)
    x, y = lonlat_to_xy(lat["lon"].to_numpy(float), lat["lat"].to_numpy(float), layers.crs_metric)
    clutter = np.concatenate([lat["clutter"].astype(str).to_numpy(), dem["clutter"].astype(str).to_numpy()[pp]])
    k_by = {c: int(v) for c, v in scenario.radio.k_coverage.as_dict().items()}
    return {"xy": np.vstack([np.column_stack([x, y]), dem[["x_m", "y_m"]].to_numpy(float)[pp]]),
            "clutter": clutter, "need": np.array([k_by.get(c, 1) for c in clutter], np.int64),
            "cell": np.concatenate([lat["cell"].to_numpy(), pp])}


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


def apply_coverage_layer(inp, layers, scenario, *, problem: CoverageProblem | None = None, background: bool = False):
    """``(inp with the coverage sites fixed, CoverageLayer, CoverageProblem)``; ``problem`` (the rows of an
    earlier call on the same layers and scenario) is reused and warm-started.

    The chosen sites get ``forced_new = 1`` of their type. Candidates of a coverage type that were not
    chosen and lie within half their own radius of a chosen site (two macros that close serve the same
    area: one site, in practice) can no longer be built, so the program adds capacity and the target
    on top of the layer, not a second layer beside it. The cells' planning points are covered by the layer
    too, so the program's per-cell coverage rows hold on its sites.
    """
    import dataclasses

    types = tuple(inp.type_names)
    if problem is None:
        problem = coverage_problem(layers, scenario, inp)
    if problem.short.any():
        _raise_unreachable(problem.short, problem.points["cell"], layers.demand, problem.radius, types)
    _, radius, _, cost = coverage_columns(inp, scenario)
    cov = list(radius)
    layer = choose_coverage_sites(problem, inp.site_xy, np.where(np.isfinite(cost), cost, 0.0),
                                  gap_rel=scenario.solver.gap_rel, time_limit_s=scenario.solver.time_limit_s,
                                  window_passes=scenario.radio.coverage_window_passes,
                                  dual_passes=scenario.radio.coverage_dual_passes,
                                  wide_passes=scenario.radio.coverage_wide_passes,
                                  window_rows=scenario.radio.coverage_window_rows,
                                  window_m=scenario.radio.coverage_window_m, background=background)
    layer.type_names = types
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
    return dataclasses.replace(inp, forced_new=forced, max_per_site=max_per_site, pairs=pairs), layer, problem


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


def _cheapest_slots(inp, types: np.ndarray, m: int) -> np.ndarray:
    """``S[0..m]``: the least total price of 0..m new units of ``types`` (bool per type), each in its own slot (a
    candidate holds ``new_max`` more of a type), at ``inp``'s per-unit prices; ``inf`` beyond the slots there are."""
    cost = inp.station_cost_cny[:, types]
    room = np.minimum(inp.new_max[:, types], m)
    prices = np.sort(np.repeat(cost[room > 0], room[room > 0]))[:m]
    out = np.full(m + 1, np.inf)
    out[:len(prices) + 1] = np.concatenate([[0.0], np.cumsum(prices)])
    return out


def layer_plan_bound(layers, scenario, inp, *, problem: CoverageProblem | None = None) -> SolveStats:
    """A lower bound on the 5G capex of *every* plan meeting the lattice coverage and the station target
    (part ``5g_bound``), at the prices of ``inp`` (a :class:`rollout.model_5g.Siting5GInput` whose per-site
    backhaul is the cheapest any plan can price):

        LB = min over k = 0..R of  max(LB_cov, S_cov(k)) + S_other(R − k),   R = max(0, N − E)

    ``LB_cov``: the Lagrangian bound of the coverage rows at these prices (:mod:`rollout.covering`; the rows
    are ``problem``'s when given; its last cover's multipliers, scaled by the smallest ratio of these prices to
    the layer's so that no column starts overpaid by more than it was, are moved to these prices by 500
    subgradient steps toward that cover priced here, then get one ascent pass, none with
    ``radio.coverage_dual_passes = 0``; with no cover yet, the ascent runs ``max(1, coverage_dual_passes)`` passes
    from zero), a bound on the cost of the
    coverage-type stations of any plan; ``k`` is their number. ``S_cov(m)`` / ``S_other(m)``: the sum of the m
    cheapest new-unit slots of the coverage types / of the other types (a slot per unit a candidate can still
    take, at its per-unit price; infinite beyond the slots there are): k new units take k distinct slots, so they
    cost at least ``S_cov(k)``, and a plan meeting the target N (E existing) has at least R − k new units of the
    other types. (Before 2026-12-01: ``k · c_cov`` and ``(R − k) · c_min`` with the single cheapest unit prices,
    weaker wherever the cheapest positions are few.) Capacity, headroom and district limits are relaxed, so the
    bound is valid and cheap but loose where they bind.
    """
    t0 = time.perf_counter()
    if problem is None:
        problem = coverage_problem(layers, scenario, inp)
    _, radius, _, cost_site = coverage_columns(inp, scenario)
    cov = list(radius)
    rows = problem.rows
    lb_cov = 0.0
    if cov and rows.shape[0]:
        cost = np.where(np.isfinite(cost_site), cost_site, 0.0)
        u0, passes = None, max(1, scenario.radio.coverage_dual_passes)
        warm = None if problem.cover is None else problem.cover.finish()
        if warm is not None and warm.cost is not None:
            used = (np.diff(rows.tocsc().indptr) > 0) & (warm.cost > 0)
            theta = float(np.min(cost[used] / warm.cost[used], initial=1.0)) if used.any() else 1.0
            # the scaled multipliers alone can be far from these prices (Jinan, before the subgradient steps:
            # 3.78 against 6.56 bn CNY after one pass): subgradient steps toward the layer's cover priced here (a
            # feasible cover) move them, then one ascent pass (none with coverage_dual_passes = 0)
            u0, passes = warm.u * min(1.0, max(theta, 0.0)), min(1, scenario.radio.coverage_dual_passes)
            _, u0 = subgradient(rows, problem.need, cost, target=float(cost[warm.chosen].sum()), u0=u0,
                                iterations=SUBGRADIENT_ITERATIONS // 2)
        row_xy, reach, _, tile_m = layout(rows, inp.site_xy, dual_tile_m=PLAN_BOUND_TILE_M)
        lb_cov, _ = dual_ascent(rows, problem.need, cost, row_xy, tile_m=tile_m, passes=passes, u0=u0, reach=reach)
    rest = max(0, int(inp.target_stations) - int(inp.existing.sum()))
    is_cov = np.isin(np.arange(len(inp.type_names)), cov)
    ks = np.arange(rest + 1)
    s_cov = _cheapest_slots(inp, is_cov, rest)[ks]
    s_other = _cheapest_slots(inp, ~is_cov, rest)[rest - ks]
    bound = float((np.maximum(lb_cov, s_cov) + s_other).min())
    if not np.isfinite(bound):    # fewer free slots than the target needs (the diagnosis refuses such plans)
        bound = float(lb_cov)
    return SolveStats(part="5g_bound", name="lagrangian", status="optimal", objective=bound, bound=bound, gap=0.0,
                      seconds=round(time.perf_counter() - t0, 3), variables=int(rows.shape[1]),
                      constraints=int(rows.shape[0]), nonzeros=int(rows.nnz), time_limit_s=None,
                      notes=(f"5G lower bound: the coverage rows' Lagrangian bound ({round(lb_cov):,} CNY, "
                             f"rollout.covering) combined with the station target at the cheapest free slots' prices; "
                             f"valid for every plan (capacity and headroom relaxed)"))
