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

Constraint families (registered once in :data:`FAMILIES`, each built by one ``add_<family>`` call):
``covered`` (one row ``covered_<i>`` per uncovered weighted cell that an affordable site reaches; cells
already covered by existing stations, e_i > 0, are left out with z_i = 1) and ``budget`` (one row).

One station per site is enough for coverage, so only the cheapest allowed type is offered
(:attr:`BudgetInput.site_type`; the plan builds that type). :math:`z` may be continuous: with
integer :math:`x` an optimum has :math:`z_i = \min(1, \cdot)`. The model is always feasible
(build nothing); errors after the solve are those of :func:`rollout.milp.solved`.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pulp

from gis.layers import Layers
from rollout import milp
from rollout.milp import Family, Milp
from rollout.model_5g import (allowed_per_site, backhaul_to_nearest_office, existing_per_site, site_equipment_cny,
                              station_types)
from rollout.plan import SolveStats
from rollout.solve import solve

log = logging.getLogger(__name__)


@dataclass
class BudgetInput:
    weight: np.ndarray          # w_i (people or Mbit/s)
    existing_cover: np.ndarray  # e_i
    site_cost_cny: np.ndarray   # c_j (inf: no type allowed, or a station there already)
    pairs: pd.DataFrame         # cell, site
    budget_cny: float
    site_type: np.ndarray | None = None   # the type a new station at j is: the cheapest allowed ("" where none)

    @classmethod
    def from_layers(cls, layers: Layers, scenario, backhaul_km: np.ndarray | None = None) -> "BudgetInput":
        """The budget model's arrays from the layers: the cheapest allowed station type per site, plus backhaul.

        ``backhaul_km`` defaults to the route to the nearest office (as in 5G siting).
        """
        radio = scenario.radio
        cand = layers.candidates.reset_index(drop=True)
        if backhaul_km is None:
            backhaul_km, _ = backhaul_to_nearest_office(layers, scenario.pon.route_factor)
        types = station_types(radio)
        allowed = allowed_per_site(cand, types) > 0
        equipment = np.where(allowed, site_equipment_cny(cand, types, radio), np.inf)
        cheapest = np.argmin(equipment, axis=1) if len(types) else np.zeros(len(cand), np.int64)  # ties: field order
        cost = (equipment[np.arange(len(cand)), cheapest] if len(types) else np.full(len(cand), np.inf))
        site_type = np.where(np.isfinite(cost), np.array([n for n, _ in types] or [""], dtype=object)[cheapest], "")
        cost = cost + backhaul_km * radio.backhaul_cost_cny_per_km
        exist = existing_per_site(cand, types).sum(axis=1).astype(float)
        cost = np.where(exist > 0, np.inf, cost)  # a site with a station already needs no new one for coverage
        pairs = layers.pairs[layers.pairs["cover"]] if "cover" in layers.pairs else layers.pairs   # coverage pairs
        pairs = pairs[["cell", "site"]]
        e = np.bincount(pairs["cell"].to_numpy(), weights=exist[pairs["site"].to_numpy()], minlength=len(layers.demand))
        field_ = "population" if scenario.budget.objective == "population" else "traffic_mbps"
        return cls(weight=layers.demand[field_].to_numpy(float), existing_cover=e, site_cost_cny=cost,
                   pairs=pairs.reset_index(drop=True), budget_cny=float(scenario.budget.capex_cny),
                   site_type=site_type.astype(object))


@dataclass
class BudgetResult:
    build: np.ndarray        # bool per candidate: a new station there
    covered: np.ndarray      # bool per cell
    capex_cny: float
    weight_covered: float
    weight_total: float
    stats: SolveStats


# --------------------------------------------------------------------------- model

@dataclass(kw_only=True)
class BudgetModel(Milp):
    """The maximal covering model on the pairs that can matter (uncovered weighted cells, affordable sites)."""

    inp: BudgetInput
    pairs: pd.DataFrame                      # cell, site: sorted, unique
    sites: np.ndarray                        # site of each x
    cells: np.ndarray                        # cell of each z
    x: list = field(default_factory=list)
    z: list = field(default_factory=list)


def add_covered(m: BudgetModel) -> int:
    """covered_{i}: z_i - sum_{j in N(i)} x_j <= 0 (z first in each row)."""
    c = m.pairs["cell"].to_numpy()
    s = m.pairs["site"].to_numpy()
    x_of = np.searchsorted(m.sites, s)
    row = np.concatenate([m.cells, c])
    var = m.z + [m.x[k] for k in x_of.tolist()]
    coef = np.concatenate([np.ones(len(m.cells)), -np.ones(len(c))])
    order = np.argsort(row, kind="stable")
    return m.add_rows("covered", row[order], [var[k] for k in order.tolist()], coef[order], pulp.LpConstraintLE, 0.0)


def add_budget(m: BudgetModel) -> int:
    """budget: sum_j c_j x_j <= beta (one row)."""
    return m.add_row("budget", m.x, m.inp.site_cost_cny[m.sites], pulp.LpConstraintLE, m.inp.budget_cny)


#: constraint families in build order; ``rank``: place in the (never needed) infeasibility explanation
FAMILIES = (
    Family("covered", add_covered, rank=1, blames="cells", unit="uncovered"),
    Family("budget", add_budget, rank=0, blames="budget", unit="CNY over"),
)


def build_model(inp: BudgetInput, *, families=None, relax: bool = False, elastic: str | None = None) -> BudgetModel:
    """The maximal covering model of the module docstring."""
    t0 = time.perf_counter()
    already = inp.existing_cover > 0
    c, s = inp.pairs["cell"].to_numpy(), inp.pairs["site"].to_numpy()
    cost = inp.site_cost_cny[s]
    keep = ~already[c] & (inp.weight[c] > 0) & np.isfinite(cost) & (cost <= inp.budget_cny)
    pairs = (inp.pairs[keep].drop_duplicates(["cell", "site"]).sort_values(["cell", "site"], kind="stable")
             .reset_index(drop=True))
    m = BudgetModel(problem=pulp.LpProblem("budget_max_coverage", pulp.LpMaximize), inp=inp, pairs=pairs,
                    sites=np.unique(pairs["site"].to_numpy()), cells=np.unique(pairs["cell"].to_numpy()),
                    families=milp.names(FAMILIES) if families is None else tuple(families), relax=relax,
                    elastic=elastic)
    m.x = m.variables([f"x_{j}" for j in m.sites.tolist()], 0, 1, pulp.LpContinuous if relax else pulp.LpBinary)
    m.z = m.variables([f"z_{i}" for i in m.cells.tolist()], 0, 1)
    m.problem.setObjective(pulp.LpAffineExpression(zip(m.z, inp.weight[m.cells].tolist(), strict=True)))
    m.build(FAMILIES)
    m.build_seconds = time.perf_counter() - t0
    return m


def _item_of(family: Family, row) -> tuple[str, str]:
    return (f"cell {row}", "") if family.blames == "cells" else ("", "")


def solve_budget(inp: BudgetInput, *, solver="cbc", time_limit_s=120.0, gap_rel=0.005, threads=1, msg=False,
                 seed=0) -> BudgetResult:
    """Build and solve the maximal covering model of the module docstring."""
    m = build_model(inp)
    if not m.x:  # nothing affordable or nothing left to cover: the empty plan is optimal
        stats = SolveStats(part="budget", name=solver, status="optimal", objective=0.0, bound=0.0, gap=0.0,
                           build_seconds=round(m.build_seconds, 3), time_limit_s=time_limit_s,
                           gap_rel_requested=gap_rel, notes="nothing affordable to build")
    else:
        kw = dict(solver=solver, time_limit_s=time_limit_s, threads=threads, seed=seed)
        stats = solve(m.problem, part="budget", gap_rel=gap_rel, msg=msg, build_seconds=m.build_seconds, **kw)
        milp.solved(stats, model="budget", explain=lambda: milp.explain_infeasible(
            FAMILIES, lambda f, r, e: build_model(inp, families=f, relax=r, elastic=e), model="budget",
            part="budget", item_of=_item_of, **kw))
    build = np.zeros(len(inp.site_cost_cny), bool)
    build[m.sites] = np.array([(v.varValue or 0) > 0.5 for v in m.x], dtype=bool)
    # coverage recomputed from the chosen sites, not read from z
    covered = inp.existing_cover > 0
    covered[inp.pairs["cell"].to_numpy()[build[inp.pairs["site"].to_numpy()]]] = True
    return BudgetResult(build=build, covered=covered, capex_cny=float(inp.site_cost_cny[build].sum()),
                        weight_covered=float(inp.weight[covered].sum()), weight_total=float(inp.weight.sum()),
                        stats=stats)


__all__ = ["BudgetInput", "BudgetResult", "BudgetModel", "FAMILIES", "build_model", "solve_budget"]
