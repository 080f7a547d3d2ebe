"""Regional master problem: one target level per city, so the region meets its targets at least capex.

Each city ``c`` has been planned at a few target levels ``l`` (solved independently,
e.g. in parallel on a Dask cluster). Level ``l`` of city ``c`` gives

=================  ==========================================================
``s[c,l]``         5G stations the city plan builds at that level
``p[c,l]``         10G-PON ports it builds
``k[c,l]``         its capex, CNY (the city plan's objective: an upper bound)
``b[c,l]``         the city solver's proven lower bound on that capex, CNY
=================  ==========================================================

Master (multiple-choice knapsack), a mixed-integer program::

    min   sum_c sum_l k[c,l] x[c,l]
    s.t.  sum_l x[c,l] = 1                      for every city c      (family "choice")
          sum_c sum_l s[c,l] x[c,l] >= S                              ("region_stations")
          sum_c sum_l p[c,l] x[c,l] >= P                              ("region_ports")
          sum_c sum_l k[c,l] x[c,l] <= B        if a budget is given  ("region_budget")
          x[c,l] in {0, 1}

Lagrangian prices on the two coupling rows were the alternative; the knapsack was
chosen because it returns plans that exist (every chosen level is a solved city
plan), it needs no step-size tuning, and it stays tiny (a few hundred binaries for
the ~330 prefecture-level units of China).

Lower bound
-----------
The master's optimum is not a bound on the true regional optimum
``OPT = min sum_c f_c(t_c)`` over all integer target pairs ``t_c = (stations, ports)``,
where ``f_c`` is city ``c``'s optimal capex as a function of its targets: it only
sees sampled levels, and their capex ``k >= f``. :func:`solve_master` therefore also
reports a bound that holds between the sampled levels, under these assumptions:

1. ``f_c`` is nondecreasing in both targets (a plan that meets larger targets also
   meets smaller ones) and ``f_c >= 0``;
2. every target pair a city may receive lies in the box spanned by its sampled
   levels, ``min_l t[c,l] <= t_c <= max_l t[c,l]`` (its smallest level is its floor,
   e.g. what coverage alone needs; its largest is its ceiling), and targets are
   integers;
3. each ``b[c,l]`` is a valid lower bound on ``f_c(t[c,l])``.

By (1) and (3), ``g_c(t) = max({0} U {b[c,l] : t[c,l] <= t})`` is a minorant of
``f_c`` on the box: a staircase that stays valid between sampled levels (a chord
between sampled bounds would not be: a convex ``f`` lies *below* its chords). For
each value ``v`` of ``g_c``, the sublevel set ``{t in box : g_c(t) <= v}`` is the box
minus the upper orthants of the levels with ``b > v``; its maximal integer corners
``q`` with cost ``v`` are the points of the city's convex minorant
(:func:`minorant_points`). The bound is the LP over their convex hulls::

    min   sum_c sum_j v[c,j] w[c,j]
    s.t.  sum_j w[c,j] = 1                      for every city c      ("bound_choice")
          sum_c sum_j qs[c,j] w[c,j] >= S                             ("bound_stations")
          sum_c sum_j qp[c,j] w[c,j] >= P                             ("bound_ports")
          sum_c sum_j v[c,j] w[c,j]  <= B       if a budget is given  ("bound_budget")
          w[c,j] >= 0

Any feasible regional choice ``t_c`` maps to ``w = 1`` on a corner ``q >= t_c`` of
the sublevel set of ``g_c(t_c)``, at cost ``g_c(t_c) <= f_c(t_c)``; so the LP optimum
is ``<= OPT <=`` the master's capex. The difference between the two is the price
of decomposition and of sampling; refining the levels where the LP puts its
weight (``bound_targets``) narrows it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Sequence

import numpy as np
import pulp

from gis.errors import InfeasibleError, RolloutError, ValidationError
from rollout.solve import solve

log = logging.getLogger(__name__)

#: relative tolerance for "bound <= capex" and the monotonicity check of the inputs
TOL = 1e-6


@dataclass(frozen=True)
class CityCurve:
    """One city's solved levels: targets reached, capex and proven bound (CNY), one entry per level."""

    city: str
    stations: np.ndarray
    ports: np.ndarray
    capex_cny: np.ndarray
    bound_cny: np.ndarray

    def __post_init__(self):
        for name, dtype in (("stations", np.int64), ("ports", np.int64), ("capex_cny", float), ("bound_cny", float)):
            object.__setattr__(self, name, np.atleast_1d(np.asarray(getattr(self, name), dtype=dtype)))

    @property
    def n_levels(self) -> int:
        return len(self.capex_cny)


@dataclass(frozen=True)
class MasterResult:
    """The chosen level per city, what it adds up to, and the regional bound."""

    level_of: dict[str, int]       # city -> index of the chosen level in its curve
    stations: int                  # regional stations of the chosen levels
    ports: int                     # regional 10G-PON ports of the chosen levels
    capex_cny: float               # regional capex: sum of the chosen levels' capex, CNY
    bound_cny: float               # valid lower bound on the true regional optimum, CNY
    gap: float | None              # (capex - bound) / capex
    status: str                    # the master MIP's status: "optimal" | "feasible"
    bound_targets: dict[str, tuple[float, float]] = field(default_factory=dict)  # LP's (stations, ports) per city
    solves: tuple = ()             # SolveStats of the master MIP and of the bound LP


def check_curves(curves: Sequence[CityCurve]) -> None:
    """Collect every problem with the curves and raise once (``ValidationError``)."""
    problems = []
    seen = set()
    for c in curves:
        where = f"city {c.city}"
        if c.city in seen:
            problems.append((None, where, "listed twice"))
        seen.add(c.city)
        sizes = {len(c.stations), len(c.ports), len(c.capex_cny), len(c.bound_cny)}
        if len(sizes) != 1 or c.n_levels == 0:
            problems.append((None, where, f"stations, ports, capex and bound need one entry per level, got {sorted(sizes)}"))
            continue
        arrays = np.concatenate([c.stations, c.ports, c.capex_cny, c.bound_cny])
        if not np.all(np.isfinite(arrays)) or np.any(arrays < 0):
            problems.append((None, where, "targets, capex and bounds must be finite and >= 0"))
        if np.any(c.bound_cny > c.capex_cny * (1 + TOL) + TOL):
            problems.append((None, where, "a level's bound exceeds its capex"))
        problems += _monotone_problems(c, where)
    if not curves:
        problems.append((None, "curves", "no city curve given"))
    if problems:
        raise ValidationError(problems)


def _monotone_problems(c: CityCurve, where: str) -> list[tuple]:
    """Assumption 1 checked on the data: a level's bound may not exceed the capex of a level that dominates it."""
    dom = (c.stations[:, None] <= c.stations[None, :]) & (c.ports[:, None] <= c.ports[None, :])
    np.fill_diagonal(dom, False)  # a level against itself is the "bound exceeds its capex" check
    bad = dom & (c.bound_cny[:, None] > c.capex_cny[None, :] * (1 + TOL) + TOL)
    if bad.any():
        lo, hi = np.argwhere(bad)[0]
        return [(None, where, f"level {lo}'s bound exceeds the capex of level {hi}, which meets larger targets: "
                              "the cost is not nondecreasing in the targets")]
    return []


def _free_corners(bad_s: np.ndarray, bad_p: np.ndarray, lo: tuple[int, int], hi: tuple[int, int]) -> list[tuple[int, int]]:
    """Maximal integer points of the box [lo, hi] that dominate none of the ``bad`` points."""
    if len(bad_s) == 0:
        return [hi]
    minimal = []
    for i in np.lexsort((bad_p, bad_s)):           # by stations, then ports: keep the Pareto-minimal ones
        if not minimal or bad_p[i] < minimal[-1][1]:
            minimal.append((int(bad_s[i]), int(bad_p[i])))
    corners = [(s2 - 1, p1 - 1) for (_, p1), (s2, _) in pairwise(minimal)]
    if minimal[0][0] - 1 >= lo[0]:
        corners.insert(0, (minimal[0][0] - 1, hi[1]))
    if minimal[-1][1] - 1 >= lo[1]:
        corners.append((hi[0], minimal[-1][1] - 1))
    return corners


def minorant_points(curve: CityCurve) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(stations, ports, value)`` of the points whose convex hull minorises the city's cost on its box.

    See the module docstring: one point per maximal corner of each sublevel set
    of the staircase ``g(t) = max({0} U {bound[l] : t[l] <= t})``.
    """
    lo = (int(curve.stations.min()), int(curve.ports.min()))
    hi = (int(curve.stations.max()), int(curve.ports.max()))
    pts = []
    for v in np.unique(np.concatenate([[0.0], curve.bound_cny])):
        bad = curve.bound_cny > v
        pts += [(s, p, float(v)) for s, p in _free_corners(curve.stations[bad], curve.ports[bad], lo, hi)]
    arr = np.array(sorted(set(pts)), dtype=float)
    return arr[:, 0], arr[:, 1], arr[:, 2]


def _check_reachable(curves: Sequence[CityCurve], stations_target: int, ports_target: int,
                     budget_cny: float | None) -> None:
    """Cheap proofs of infeasibility, each naming the regional target that cannot be met."""
    most_s = sum(int(c.stations.max()) for c in curves)
    most_p = sum(int(c.ports.max()) for c in curves)
    least_k = sum(float(c.capex_cny.min()) for c in curves)
    if most_s < stations_target:
        raise InfeasibleError(f"regional station target {stations_target:,} exceeds the {most_s:,} stations of the "
                              "cities' largest levels", family="region_stations")
    if most_p < ports_target:
        raise InfeasibleError(f"regional port target {ports_target:,} exceeds the {most_p:,} ports of the cities' "
                              "largest levels", family="region_ports")
    if budget_cny is not None and least_k > budget_cny:
        raise InfeasibleError(f"regional budget {budget_cny:,.0f} CNY is below the {least_k:,.0f} CNY of the "
                              "cities' cheapest levels", family="region_budget")


def _knapsack(name: str, options: list[tuple[np.ndarray, np.ndarray, np.ndarray]], *,
              stations_target: int, ports_target: int, budget_cny: float | None, cat: str):
    """Build the master (``cat="Binary"``) or the bound LP (``cat="Continuous"``) over per-city options.

    ``options`` holds, per city, the options' (stations, ports, cost) arrays.
    Returns the problem and the variables, one list per city.
    """
    prob = pulp.LpProblem(name, pulp.LpMinimize)
    pre = "x" if cat == pulp.LpBinary else "w"
    fam = "" if cat == pulp.LpBinary else "bound_"
    xs = [[prob.add_variable(f"{pre}_{i}_{j}", 0, 1, cat) for j in range(len(cost))]
          for i, (_, _, cost) in enumerate(options)]
    cost_expr = pulp.lpSum(float(k) * x for (_, _, cost), row in zip(options, xs, strict=True) for k, x in zip(cost, row, strict=True))
    prob += cost_expr
    for i, row in enumerate(xs):
        prob += pulp.lpSum(row) == 1, f"{fam}choice_{i}"
    prob += pulp.lpSum(float(s) * x for (st, _, _), row in zip(options, xs, strict=True) for s, x in zip(st, row, strict=True)) \
        >= stations_target, f"{fam or 'region_'}stations"
    prob += pulp.lpSum(float(p) * x for (_, po, _), row in zip(options, xs, strict=True) for p, x in zip(po, row, strict=True)) \
        >= ports_target, f"{fam or 'region_'}ports"
    if budget_cny is not None:
        prob += cost_expr <= budget_cny, f"{fam or 'region_'}budget"
    return prob, xs


def _chosen(xs: list[list[pulp.LpVariable]]) -> np.ndarray:
    return np.array([int(np.argmax([x.varValue or 0.0 for x in row])) for row in xs])


def solve_master(curves: Sequence[CityCurve], *, stations_target: int, ports_target: int,
                 budget_cny: float | None = None, solver: str = "cbc", time_limit_s: float = 60.0,
                 threads: int = 1) -> MasterResult:
    """Choose one level per city (see the module docstring); return the choice and the regional bound.

    Raises ``InfeasibleError`` (one line, naming the target or the budget) when
    no choice meets the regional targets, and ``ValidationError`` for bad curves.
    """
    check_curves(curves)
    _check_reachable(curves, stations_target, ports_target, budget_cny)
    kw = dict(stations_target=stations_target, ports_target=ports_target, budget_cny=budget_cny)
    options = [(c.stations, c.ports, c.capex_cny) for c in curves]
    prob, xs = _knapsack("region_master", options, cat=pulp.LpBinary, **kw)
    mip = solve(prob, part="region master", solver=solver, time_limit_s=time_limit_s, gap_rel=0.0, threads=threads)
    if mip.status == "infeasible":
        budget = "" if budget_cny is None else f" within the budget {budget_cny:,.0f} CNY"
        raise InfeasibleError(f"no choice of one level per city meets the regional station target {stations_target:,} "
                              f"and port target {ports_target:,} together{budget}", family="region_master")
    if mip.status == "no_solution":
        raise RolloutError(f"region master: no choice found within {time_limit_s:g} s")
    pick = _chosen(xs)
    points = [minorant_points(c) for c in curves]
    lp_prob, ws = _knapsack("region_bound", points, cat=pulp.LpContinuous, **kw)
    lp = solve(lp_prob, part="region bound", solver=solver, time_limit_s=time_limit_s, threads=threads)
    return _result(curves, pick, points, ws, mip, lp)


def _result(curves, pick, points, ws, mip, lp) -> MasterResult:
    capex = float(sum(c.capex_cny[l] for c, l in zip(curves, pick, strict=True)))
    weights = [np.array([x.varValue or 0.0 for x in row]) for row in ws]
    # the LP objective from its solution (PuLP has no value for an objective without terms); 0 is always valid
    bound = float(sum(w @ v for w, (_, _, v) in zip(weights, points, strict=True))) if lp.status == "optimal" else 0.0
    if bound > capex * (1 + TOL) + TOL:
        raise RolloutError(f"region bound {bound:,.0f} CNY exceeds the master's capex {capex:,.0f} CNY: "
                           "a city bound or the monotonicity assumption is wrong")
    bound = min(bound, capex)
    targets = {c.city: (float(w @ qs), float(w @ qp)) for c, w, (qs, qp, _) in zip(curves, weights, points, strict=True)}
    result = MasterResult(
        level_of={c.city: int(l) for c, l in zip(curves, pick, strict=True)},
        stations=int(sum(c.stations[l] for c, l in zip(curves, pick, strict=True))),
        ports=int(sum(c.ports[l] for c, l in zip(curves, pick, strict=True))),
        capex_cny=capex, bound_cny=bound, gap=(capex - bound) / capex if capex > 0 else None,
        status=mip.status, bound_targets=targets, solves=(mip, lp))
    log.info("region master: %d cities, capex %.0f CNY, bound %.0f CNY, gap %s", len(curves), capex, bound,
             "n/a" if result.gap is None else f"{result.gap:.2%}")
    return result


__all__ = ["CityCurve", "MasterResult", "check_curves", "minorant_points", "solve_master"]
