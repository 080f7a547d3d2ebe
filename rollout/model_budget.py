r"""Budget mode: what a capex budget buys when it cannot meet the targets (maximal coverage).

Given a budget and no station target, choose new 5G stations to maximise the population (or
busy-hour traffic) covered within each cell's planning radius, on the same layers and pair
table as the siting model (Church & ReVelle's maximal covering location problem, with costs).

Integer program
---------------
Sets: demand cells :math:`i` with weight :math:`w_i` (people, or Mbit/s); candidate sites
:math:`j`; :math:`N(i)` the candidates within the cell's radius (the sparse pair table).

Parameters: :math:`c_j` cost of the cheapest station type allowed at j plus its backhaul
(CNY); :math:`e_i` existing stations within the radius of i; budget :math:`\beta` (CNY).

Variables: :math:`x_j \in \{0,1\}` a new station at j; :math:`z_i \in [0,1]` cell i covered.

.. math::
    \max \sum_i w_i z_i \quad\text{s.t.}\quad
    z_i \le e_i + \sum_{j \in N(i)} x_j \;\;(\text{covered}),\qquad
    \sum_j c_j x_j \le \beta \;\;(\text{budget}).

One station per site is enough for coverage, so only the cheapest allowed type is offered.
:math:`z` may be continuous: with integer :math:`x` an optimum has :math:`z_i = \min(1, \cdot)`.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pulp

from gis.layers import Layers
from gis.pairs import nearest_pairs
from rollout.plan import SolveStats
from rollout.solve import solve

log = logging.getLogger(__name__)


def backhaul_km_to_nearest_office(layers: Layers, route_factor: float) -> np.ndarray:
    """Route km from every candidate site to its nearest office (straight line x route factor)."""
    cand = layers.candidates
    if len(layers.offices) == 0:
        return np.zeros(len(cand))
    near = nearest_pairs(cand[["x_m", "y_m"]].to_numpy(), layers.offices[["x_m", "y_m"]].to_numpy(),
                         k=1, max_dist_m=np.inf)
    km = np.zeros(len(cand))
    km[near["cell"].to_numpy()] = near["dist_m"].to_numpy() / 1000.0 * route_factor
    return km


@dataclass
class BudgetInput:
    weight: np.ndarray          # w_i (people or Mbit/s)
    existing_cover: np.ndarray  # e_i
    site_cost_cny: np.ndarray   # c_j (inf: no type allowed)
    pairs: pd.DataFrame         # cell, site
    budget_cny: float

    @classmethod
    def from_layers(cls, layers: Layers, scenario, backhaul_km: np.ndarray | None = None) -> "BudgetInput":
        radio = scenario.radio
        cand = layers.candidates.reset_index(drop=True)
        if backhaul_km is None:
            backhaul_km = backhaul_km_to_nearest_office(layers, scenario.pon.route_factor)
        cost = np.full(len(cand), np.inf)
        for t in (radio.macro, radio.small):
            allowed = cand["clutter"].isin(t.clutters).to_numpy() & (t.max_per_site > 0)
            cost = np.where(allowed, np.minimum(cost, t.capex_cny), cost)
        cost = cost + backhaul_km * radio.backhaul_cost_cny_per_km
        exist = (cand["existing_macro"].to_numpy(float) + cand["existing_small"].to_numpy(float))
        cost = np.where(exist > 0, np.inf, cost)  # a site with a station already needs no new one for coverage
        pairs = layers.pairs[["cell", "site"]]
        e = np.zeros(len(layers.demand))
        np.add.at(e, pairs["cell"].to_numpy(), exist[pairs["site"].to_numpy()])
        field = "population" if scenario.budget.objective == "population" else "traffic_mbps"
        return cls(weight=layers.demand[field].to_numpy(float), existing_cover=e, site_cost_cny=cost,
                   pairs=pairs.reset_index(drop=True), budget_cny=float(scenario.budget.capex_cny))


@dataclass
class BudgetResult:
    build: np.ndarray        # bool per candidate: a new station there
    covered: np.ndarray      # bool per cell
    capex_cny: float
    weight_covered: float
    weight_total: float
    stats: SolveStats


def solve_budget(inp: BudgetInput, *, solver="cbc", time_limit_s=120.0, gap_rel=0.005, threads=2, msg=False,
                 seed=0) -> BudgetResult:
    """Build and solve the maximal covering model of the module docstring."""
    t0 = time.perf_counter()
    n_cells, n_sites = len(inp.weight), len(inp.site_cost_cny)
    already = inp.existing_cover > 0
    # only uncovered, weighted cells and affordable sites enter the model
    p = inp.pairs[(~already[inp.pairs["cell"].to_numpy()]) & (inp.weight[inp.pairs["cell"].to_numpy()] > 0)]
    p = p[np.isfinite(inp.site_cost_cny[p["site"].to_numpy()]) & (inp.site_cost_cny[p["site"].to_numpy()] <= inp.budget_cny)]
    sites = np.unique(p["site"].to_numpy())
    cells = np.unique(p["cell"].to_numpy())
    prob = pulp.LpProblem("budget_max_coverage", pulp.LpMaximize)
    x = {int(j): pulp.LpVariable(f"x_{j}", cat=pulp.LpBinary) for j in sites}
    z = {int(i): pulp.LpVariable(f"z_{i}", 0, 1) for i in cells}
    prob += pulp.LpAffineExpression([(z[i], float(inp.weight[i])) for i in cells])
    for i, grp in p.groupby("cell", sort=True)["site"]:
        prob.addConstraint(pulp.LpAffineExpression([(z[int(i)], 1.0)] + [(x[int(j)], -1.0) for j in np.unique(grp)]) <= 0,
                           name=f"covered_{i}")
    prob.addConstraint(pulp.LpAffineExpression([(x[int(j)], float(inp.site_cost_cny[j])) for j in sites]) <= inp.budget_cny,
                       name="budget")
    build_s = time.perf_counter() - t0
    if not x:  # nothing affordable or nothing left to cover: the empty plan is optimal
        stats = SolveStats(part="budget", name=solver, status="optimal", objective=0.0, bound=0.0, gap=0.0,
                           build_seconds=round(build_s, 3), time_limit_s=time_limit_s, gap_rel_requested=gap_rel,
                           notes="nothing affordable to build")
    else:
        stats = solve(prob, part="budget", solver=solver, time_limit_s=time_limit_s, gap_rel=gap_rel,
                      threads=threads, msg=msg, seed=seed, build_seconds=build_s)
    build = np.zeros(n_sites, bool)
    if stats.status in ("optimal", "feasible"):
        for j, var in x.items():
            build[j] = (var.varValue or 0) > 0.5
    # coverage recomputed from the chosen sites, not read from z
    covered = already.copy()
    hit = inp.pairs[build[inp.pairs["site"].to_numpy()]]["cell"].to_numpy()
    covered[hit] = True
    capex = float(inp.site_cost_cny[build].sum())
    return BudgetResult(build=build, covered=covered, capex_cny=capex,
                        weight_covered=float(inp.weight[covered].sum()), weight_total=float(inp.weight.sum()),
                        stats=stats)
