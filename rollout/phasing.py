r"""Phase a solved plan over the plan years: every new station, OLT site and port gets a build year.

The single-period plan fixes *what* is built (it is the cheapest design that meets the final
targets); this model decides *when*, under cumulative yearly targets, yearly budgets and crew
caps, valuing population covered earlier. With one year it returns the single-period plan
unchanged (same stations, same capex), which is what a one-year phasing must do.

Integer program
---------------
Sets: years :math:`t = 1..T`; new station rows :math:`s` (a site and a type, :math:`n_s`
stations of unit cost :math:`c_s`, CNY, backhaul included); new OLT sites :math:`o` (site and
feeder cost :math:`f_o`, :math:`q_o` new ports, :math:`k_o` new chassis); demand cells :math:`i`
(population :math:`w_i`), :math:`N(i)` the station rows within the cell's radius.

Variables (cumulative by the end of year t):

* :math:`B_{st} \in \{0..n_s\}` stations of row s built by year t, :math:`B_{s0}=0`, :math:`B_{sT}=n_s`;
* :math:`U_{ot} \in \{0,1\}` OLT site o open by year t, :math:`U_{oT}=1`;
* :math:`P_{ot} \in \{0..q_o\}` new ports at o by year t, :math:`P_{oT}=q_o`;
* :math:`K_{ot} \in \{0..k_o\}` new chassis at o by year t, :math:`K_{oT}=k_o`;
* :math:`z_{it} \in [0, 1]` cell i covered by the end of year t.

Objective (discount rate r, :math:`\delta_t=(1+r)^{-(t-1)}`, early value v CNY per person-year):

.. math:: \min \sum_t \delta_t\,\mathrm{capex}_t - v \sum_t \delta_t \sum_i w_i z_{it}

with :math:`\mathrm{capex}_t = \sum_s c_s (B_{st}-B_{s,t-1}) + \sum_o f_o (U_{ot}-U_{o,t-1})
+ p (P_{ot}-P_{o,t-1}) + h (K_{ot}-K_{o,t-1})` (p port cost, h chassis cost).

Constraint families (registered once in :data:`FAMILIES`, each built by one ``add_<family>`` call;
the names are the PuLP row-name prefixes):

* ``monotone``: :math:`B_{s,t-1} \le B_{st}`, :math:`U_{o,t-1} \le U_{ot}`, ... (what is built stays built);
* ``spur_anchor``: :math:`B_{st} \le n_s B_{at}` for a spurred station row s (a small cell) and the new site
  a whose backhaul carries it (built no earlier than its anchor's first unit);
* ``ports_open``: :math:`P_{ot} \le q_o U_{ot}` (ports only at open sites);
* ``chassis_ports``: existing + new ports :math:`\le` ports per chassis x (existing + new chassis);
* ``covered``: :math:`z_{it} \le e_i + \sum_{s \in N(i)} B_{st}` (:math:`e_i`: existing stations in reach);
* ``stations_target``: existing + :math:`\sum_s B_{st} \ge S_t`;
* ``ports_target``: existing + :math:`\sum_o P_{ot} \ge P^{target}_t`;
* ``budget``: :math:`\mathrm{capex}_t \le \mathrm{budget}_t`;
* ``build_cap``: :math:`\sum_s (B_{st}-B_{s,t-1}) \le \mathrm{cap}_t`;
* ``coverage_floor``: :math:`\sum_i w_i z_{it} \ge \phi_t \sum_i w_i`.

Before solving, :func:`diagnose` collects every year whose target, crews' cap, budget or coverage floor
cannot be met and raises them at once. After an infeasible solve, the shared explanation of
:mod:`rollout.milp` (family deletion filter, then an elastic re-solve of the first of budget, build_cap,
coverage_floor, stations_target, ports_target in the conflict) names the families and the years at fault.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from functools import partial

import geopandas as gpd
import numpy as np
import pandas as pd
import pulp

from gis.errors import InfeasibleError
from rollout import milp
from rollout.milp import Family, Milp, Problems
from rollout.plan import Plan, SolveStats
from rollout.solve import solve

log = logging.getLogger(__name__)


@dataclass
class PhasingInput:
    """Arrays of the scheduling model (see the module docstring for the symbols)."""

    years: list[int]
    station_count: np.ndarray          # n_s
    station_unit_cny: np.ndarray       # c_s
    olt_fixed_cny: np.ndarray          # f_o (site + feeder fibre)
    olt_ports_new: np.ndarray          # q_o
    olt_chassis_new: np.ndarray        # k_o
    olt_ports_existing: np.ndarray
    olt_chassis_existing: np.ndarray
    olt_is_new: np.ndarray             # bool
    port_cost_cny: float
    chassis_cost_cny: float
    ports_per_chassis: int
    cell_population: np.ndarray        # w_i
    cell_existing_cover: np.ndarray    # e_i (existing stations within radius)
    cover_pairs: pd.DataFrame          # columns cell, row (station row within the cell's radius)
    stations_existing: int
    ports_existing: int
    stations_cumulative: list[float]
    ports_cumulative: list[float]
    budget_cny: list[float]
    build_cap_stations: list[float]
    coverage_floor: list[float]
    discount_rate: float
    early_value_cny_per_person: float
    spur_anchor: np.ndarray | None = None  # (rows,) new row a spurred row hangs off (-1: none, or existing)


@dataclass
class PhasingResult:
    station_built: np.ndarray   # (rows, T) new stations of each row built in each year
    olt_open_year: np.ndarray   # (olts,) index of the opening year (-1: existing site)
    olt_ports_built: np.ndarray  # (olts, T)
    covered: np.ndarray         # (cells, T) covered by end of year
    capex_cny: np.ndarray       # (T,)
    stats: SolveStats


def _per_year(values: list, n: int, default: float) -> list[float]:
    return [float(v) for v in values] if values else [default] * n


def phasing_input_from_plan(plan: Plan, cover_pairs: pd.DataFrame, scenario) -> PhasingInput:
    """Read the scheduling model's arrays from a solved single-period plan.

    ``cover_pairs`` has columns ``cell_id`` and ``site_id``: the sparse table of
    candidate sites within each demand cell's radius (the 5G pair table).
    """
    ph, pon = scenario.phasing, scenario.pon
    T = len(ph.years)
    st = plan.stations
    new_st = st[st["new"].astype(bool)].reset_index(drop=True)
    old_st = st[~st["new"].astype(bool)]
    counts = new_st["count"].to_numpy(dtype=float)
    unit = np.divide(new_st["capex_cny"].to_numpy(dtype=float), counts, out=np.zeros_like(counts), where=counts > 0)

    olt = plan.olt_sites.reset_index(drop=True)
    if len(olt):
        feeder = plan.links[plan.links["kind"] == "feeder"].groupby("to_id")["capex_cny"].sum() if len(plan.links) else pd.Series(dtype=float)
        fibre = (olt["odn_cny"].to_numpy(float) if "odn_cny" in olt  # ODN plans: feeder tree, distribution, cabinets
                 else olt["office_id"].map(feeder).fillna(0.0).to_numpy(float))
        fixed = olt["site_cny"].to_numpy(float) + fibre
        ports_new = olt["ports_new"].to_numpy(float)
        ports_exist = olt["ports"].to_numpy(float) - ports_new
        chassis_exist = np.ceil(ports_exist / pon.ports_per_chassis)
        chassis_new = np.maximum(olt["chassis"].to_numpy(float) - chassis_exist, 0)
        is_new = olt["new"].astype(bool).to_numpy()
    else:
        fixed = ports_new = ports_exist = chassis_exist = chassis_new = np.zeros(0)
        is_new = np.zeros(0, bool)

    cells = plan.demand.reset_index(drop=True)
    cell_pos = pd.Series(np.arange(len(cells)), index=cells["cell_id"].astype(str))
    cp = cover_pairs.assign(cell=cover_pairs["cell_id"].astype(str).map(cell_pos))
    cp = cp.dropna(subset=["cell"])
    # existing cover: existing stations at sites within reach
    exist_sites = old_st.groupby(old_st["site_id"].astype(str))["count"].sum()
    e = np.zeros(len(cells))
    ex = cp.assign(n=cp["site_id"].astype(str).map(exist_sites)).dropna(subset=["n"])
    np.add.at(e, ex["cell"].astype(int).to_numpy(), ex["n"].to_numpy(float))
    # station rows within reach
    rows_by_site = pd.DataFrame({"site_id": new_st["site_id"].astype(str), "row": np.arange(len(new_st))})
    pairs = cp.assign(site_id=cp["site_id"].astype(str)).merge(rows_by_site, on="site_id")[["cell", "row"]]
    pairs = pairs.astype({"cell": np.int64, "row": np.int64}).drop_duplicates().sort_values(["cell", "row"])

    anchor = np.full(len(new_st), -1, np.int64)
    if "backhaul_carrier" in new_st and len(new_st):   # a spurred station (small cell) and its new macro site
        spurred = (new_st["backhaul_carrier"].astype(str) == "spur").to_numpy()
        own_row = pd.Series(np.flatnonzero(~spurred), index=new_st["site_id"].astype(str).to_numpy()[~spurred])
        own_row = own_row[~own_row.index.duplicated()]
        to = new_st["backhaul_to"].astype(str).map(own_row).to_numpy(float)
        hit = spurred & np.isfinite(to)
        anchor[hit] = to[hit].astype(np.int64)

    return PhasingInput(
        years=list(ph.years), station_count=counts, station_unit_cny=unit, spur_anchor=anchor,
        olt_fixed_cny=fixed, olt_ports_new=ports_new, olt_chassis_new=chassis_new,  # an existing site: its new ODN
        olt_ports_existing=ports_exist, olt_chassis_existing=chassis_exist, olt_is_new=is_new,
        port_cost_cny=pon.port_cost_cny, chassis_cost_cny=pon.chassis_cost_cny, ports_per_chassis=pon.ports_per_chassis,
        cell_population=cells["population"].to_numpy(float), cell_existing_cover=e, cover_pairs=pairs.reset_index(drop=True),
        stations_existing=int(old_st["count"].sum()), ports_existing=int(ports_exist.sum()),
        stations_cumulative=_per_year(ph.stations_cumulative, T, 0.0),
        ports_cumulative=_per_year(ph.ports_cumulative, T, 0.0),
        budget_cny=_per_year(ph.budget_cny, T, 0.0),
        build_cap_stations=_per_year(ph.build_cap_stations, T, 0.0),
        coverage_floor=_per_year(ph.coverage_floor, T, 0.0),
        discount_rate=ph.discount_rate, early_value_cny_per_person=ph.early_value_cny_per_person,
    )


# --------------------------------------------------------------------------- diagnosis

def diagnose(inp: PhasingInput, *, strict: bool = True) -> list[tuple[str, str, list[str]]]:
    """Cheap checks that name the year and the binding limit before any solve.

    Returns every problem as ``(family, message, [year])``; with ``strict`` (the default) raises
    them at once (one :class:`~gis.errors.InfeasibleError` listing all).
    """
    return milp.check_all("phasing", [partial(_diagnose_years, inp), partial(_diagnose_coverage_floor, inp)],
                          strict=strict)


def _diagnose_years(inp: PhasingInput, problems: Problems) -> None:
    """Cumulative targets above the plan, crews' caps and budgets below what the targets need, year by year."""
    total_st = inp.stations_existing + inp.station_count.sum()
    total_ports = inp.ports_existing + inp.olt_ports_new.sum()
    unit_sorted = np.repeat(inp.station_unit_cny, inp.station_count.astype(int))
    unit_sorted.sort()
    cum_budget = 0.0
    cum_cap = 0.0
    for t, year in enumerate(inp.years):
        if inp.stations_cumulative[t] > total_st + 1e-9:
            problems.add("stations_target", f"year {year}: the cumulative 5G target {inp.stations_cumulative[t]:,.0f} "
                         f"exceeds the {total_st:,.0f} stations of the plan", [year])
        if inp.ports_cumulative[t] > total_ports + 1e-9:
            problems.add("ports_target", f"year {year}: the cumulative port target {inp.ports_cumulative[t]:,.0f} "
                         f"exceeds the {total_ports:,.0f} ports of the plan", [year])
        need_st = max(0, int(np.ceil(inp.stations_cumulative[t] - inp.stations_existing)))
        need_ports = max(0.0, inp.ports_cumulative[t] - inp.ports_existing)
        cum_cap = cum_cap + inp.build_cap_stations[t] if inp.build_cap_stations[t] > 0 else float("inf")
        if need_st > cum_cap:
            problems.add("build_cap", f"year {year}: {need_st:,} new stations are needed by then but the crews' "
                         f"build caps allow {cum_cap:,.0f}", [year])
        if inp.budget_cny[t] > 0:
            cum_budget += inp.budget_cny[t]
            cheapest = unit_sorted[:need_st].sum() + need_ports * inp.port_cost_cny
            budget_so_far = cum_budget if all(b > 0 for b in inp.budget_cny[: t + 1]) else float("inf")
            if cheapest > budget_so_far + 1e-6:
                problems.add("budget", f"year {year}: reaching the targets needs at least {cheapest:,.0f} CNY but the "
                             f"budgets up to {year} total {budget_so_far:,.0f} CNY", [year])


def _diagnose_coverage_floor(inp: PhasingInput, problems: Problems) -> None:
    if not inp.years:
        return
    reach = (inp.cell_existing_cover > 0) | np.isin(np.arange(len(inp.cell_population)), inp.cover_pairs["cell"].to_numpy())
    coverable = inp.cell_population[reach].sum()
    total_pop = inp.cell_population.sum()
    for t, year in enumerate(inp.years):
        if inp.coverage_floor[t] * total_pop > coverable + 1e-6:
            problems.add("coverage_floor", f"year {year}: the coverage floor {inp.coverage_floor[t]:.0%} is above the "
                         f"{coverable / total_pop:.1%} the plan covers", [year])


# --------------------------------------------------------------------------- model

@dataclass
class Cumulative:
    """One kind of thing built over the years, cumulative by the end of each year.

    ``var[e, t]`` is the variable of entity e in year t < T-1 (None where nothing can be built there);
    the last year is fixed to ``final[e]`` (the plan's amount) and year -1 to 0. ``unit`` prices one unit [CNY].
    """

    var: np.ndarray           # (n, T-1) object
    final: np.ndarray         # (n,)
    unit: np.ndarray          # (n,) CNY


@dataclass(kw_only=True)
class PhasingModel(Milp):
    """The scheduling model: cumulative variables by kind (B station rows, U OLT sites, P ports, K chassis)
    and the coverage variables z (cells, T)."""

    inp: PhasingInput
    kinds: dict = field(default_factory=dict)
    z: np.ndarray | None = None

    @property
    def last(self) -> int:
        return len(self.inp.years) - 1


def _cumulative(m: PhasingModel, name: str, exists: np.ndarray, final, unit, cat: str) -> Cumulative:
    """``<name>_<e>_<t>`` in 0..final_e for every entity that can be built (``exists``) and year t < T-1."""
    last = max(m.last, 0)
    var = np.full((len(exists), last), None, dtype=object)
    e, t = np.nonzero(np.repeat(np.asarray(exists, bool)[:, None], last, axis=1))
    up = np.ones(len(e), np.int64) if cat == pulp.LpBinary else np.asarray(final)[e].astype(np.int64)
    var[e, t] = m.variables([f"{name}_{i}_{y}" for i, y in zip(e.tolist(), t.tolist(), strict=True)], 0, up,
                            pulp.LpContinuous if m.relax else cat)
    return Cumulative(var=var, final=np.asarray(final, float), unit=np.asarray(unit, float))


def define_variables(m: PhasingModel) -> None:
    inp = m.inp
    n_s, n_o = len(inp.station_count), len(inp.olt_ports_new)
    m.kinds = {
        "B": _cumulative(m, "B", np.ones(n_s, bool), inp.station_count, inp.station_unit_cny, pulp.LpInteger),
        "U": _cumulative(m, "U", inp.olt_is_new | (inp.olt_fixed_cny > 0), np.where(inp.olt_is_new | (inp.olt_fixed_cny > 0),
                         1.0, 0.0), inp.olt_fixed_cny, pulp.LpBinary),
        "P": _cumulative(m, "P", inp.olt_ports_new > 0, inp.olt_ports_new, np.full(n_o, inp.port_cost_cny),
                         pulp.LpInteger),
        "K": _cumulative(m, "K", inp.olt_chassis_new > 0, inp.olt_chassis_new, np.full(n_o, inp.chassis_cost_cny),
                         pulp.LpInteger),
    }
    C, T = len(inp.cell_population), len(inp.years)
    i, t = np.divmod(np.arange(C * T), T) if T else (np.zeros(0, int), np.zeros(0, int))
    m.z = np.array(m.variables([f"z_{a}_{b}" for a, b in zip(i.tolist(), t.tolist(), strict=True)], 0, 1),
                   dtype=object).reshape(C, T)


def _delta_terms(kind: Cumulative, e: int, t: int, last: int) -> tuple[list, float]:
    """X_{e,t} − X_{e,t−1} as ([(variable, ±1)], constant)."""
    terms = []
    if t < last and kind.var[e, t] is not None:
        terms.append((kind.var[e, t], 1.0))
    if t >= 1 and kind.var[e, t - 1] is not None:
        terms.append((kind.var[e, t - 1], -1.0))
    return terms, (float(kind.final[e]) if t == last else 0.0)


def capex_terms(m: PhasingModel, t: int) -> tuple[list, float]:
    """capex_t as ([(variable, CNY)], constant CNY): station rows, then each OLT site's site, ports, chassis."""
    last, terms, const = m.last, [], 0.0
    order = [("B", e) for e in range(len(m.inp.station_count))]
    order += [(k, o) for o in range(len(m.inp.olt_ports_new)) for k in ("U", "P", "K")]
    for name, e in order:
        kind = m.kinds[name]
        d, c = _delta_terms(kind, e, t, last)
        terms += [(v, k * kind.unit[e]) for v, k in d]
        const += c * kind.unit[e]
    return terms, const


def _row_per_pair(m: PhasingModel, family: str, labels: list, first: list, second: list, coef_second, sense, rhs) -> int:
    """``<family>_<label>``: first + coef second (sense) rhs, one row per label; second may be None."""
    keep = [v is not None for v in second]
    var = [v for a, b, k in zip(first, second, keep, strict=True) for v in ((a, b) if k else (a,))]
    coef = [c for b, k in zip(coef_second, keep, strict=True) for c in ((1.0, b) if k else (1.0,))]
    keys = np.repeat(np.arange(len(first)), np.where(keep, 2, 1))
    return m.add_rows(family, keys, var, coef, sense, rhs, labels=labels)


def add_monotone(m: PhasingModel) -> int:
    """monotone_<var>: X_{e,t} − X_{e,t−1} >= 0 for t = 1..T-2: station rows, then per OLT site its U, P, K."""
    rows = []     # (label, current, previous)
    B = m.kinds["B"].var
    for s, t in zip(*np.nonzero(B[:, 1:] != None), strict=True):  # noqa: E711 - elementwise on an object array
        rows.append((f"B{s}_{t + 1}", B[s, t + 1], B[s, t]))
    for o in range(len(m.inp.olt_ports_new)):
        for name in ("U", "P", "K"):
            var = m.kinds[name].var[o]
            rows += [(var[t].name, var[t], var[t - 1]) for t in range(1, m.last) if var[t] is not None]
    if not rows:
        return 0
    labels, cur, prev = zip(*rows, strict=True)
    return _row_per_pair(m, "monotone", list(labels), list(cur), list(prev), [-1.0] * len(rows),
                         pulp.LpConstraintGE, 0.0)


def add_spur_anchor(m: PhasingModel) -> int:
    """spur_anchor_<s>_<t>: B_{st} − n_s B_{at} <= 0 (a spurred station, a small cell, is built no earlier than the
    first unit of the new site a whose backhaul carries it); none where the anchor already exists."""
    inp, B = m.inp, m.kinds["B"].var
    if inp.spur_anchor is None or m.last < 1:
        return 0
    s = np.flatnonzero(inp.spur_anchor >= 0)
    a = inp.spur_anchor[s]
    s, t = np.repeat(s, m.last), np.tile(np.arange(m.last), len(s))
    a = np.repeat(a, m.last)
    return _row_per_pair(m, "spur_anchor", [f"{x}_{y}" for x, y in zip(s, t, strict=True)], B[s, t].tolist(),
                         B[a, t].tolist(), (-inp.station_count[s]).tolist(), pulp.LpConstraintLE, 0.0)


def _olt_years(m: PhasingModel, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(site, year) of every variable of kind ``name``, site-major."""
    o, t = np.nonzero(m.kinds[name].var != None)  # noqa: E711 - elementwise on an object array
    return o, t


def add_ports_open(m: PhasingModel) -> int:
    """ports_open_<o>_<t>: P_{ot} − q_o U_{ot} <= 0 (ports only at open sites)."""
    P, U = m.kinds["P"].var, m.kinds["U"].var
    o, t = _olt_years(m, "P")
    both = np.array([U[a, b] is not None for a, b in zip(o, t, strict=True)], bool)
    o, t = o[both], t[both]
    return _row_per_pair(m, "ports_open", [f"{a}_{b}" for a, b in zip(o, t, strict=True)], P[o, t].tolist(),
                         U[o, t].tolist(), (-m.inp.olt_ports_new[o].astype(np.int64)).tolist(), pulp.LpConstraintLE, 0.0)


def add_chassis_ports(m: PhasingModel) -> int:
    """chassis_ports_<o>_<t>: P_{ot} − Q K_{ot} <= Q k0_o − p0_o (existing + new ports within the chassis)."""
    inp, P, K = m.inp, m.kinds["P"].var, m.kinds["K"].var
    o, t = _olt_years(m, "P")
    q = float(inp.ports_per_chassis)
    rhs = inp.ports_per_chassis * inp.olt_chassis_existing[o] - inp.olt_ports_existing[o]
    return _row_per_pair(m, "chassis_ports", [f"{a}_{b}" for a, b in zip(o, t, strict=True)], P[o, t].tolist(),
                         K[o, t].tolist(), [-q] * len(o), pulp.LpConstraintLE, rhs)


def add_covered(m: PhasingModel) -> int:
    """covered_<i>_<t>: z_{it} − Σ_{s∈N(i)} B_{st} <= e_i; in the last year z_{iT} <= min(1, e_i + Σ n_s)."""
    inp, last = m.inp, m.last
    C, T = m.z.shape
    cp = inp.cover_pairs
    pc, pr = cp["cell"].to_numpy(np.int64), cp["row"].to_numpy(np.int64)
    cap = inp.cell_existing_cover + np.bincount(pc, weights=inp.station_count[pr], minlength=C)
    B = m.kinds["B"].var
    # z terms first in each row (cell-major, year-minor), then the B terms of the cell's rows for t < last
    keys_z = np.arange(C * T)
    t_b = np.tile(np.arange(last), len(pc))
    keys_b = np.repeat(pc, last) * T + t_b
    row = np.concatenate([keys_z, keys_b])
    var = m.z.reshape(-1).tolist() + B[np.repeat(pr, last), t_b].tolist()
    coef = np.concatenate([np.ones(C * T), -np.ones(len(keys_b))])
    order = np.argsort(row, kind="stable")
    rhs = np.where(np.arange(T)[None, :] == last, np.minimum(1.0, cap)[:, None], inp.cell_existing_cover[:, None])
    return m.add_rows("covered", row[order], [var[k] for k in order.tolist()], coef[order], pulp.LpConstraintLE,
                      rhs.reshape(-1), labels=[f"{i}_{t}" for i in range(C) for t in range(T)])


def _year_rows(m: PhasingModel, family: str, rows: list, sense) -> int:
    """``<family>_<year>``: one row per (year, [(variable, coefficient)], rhs) in ``rows``."""
    rows = [r for r in rows if r[1]]
    if not rows:
        return 0
    keys = np.repeat(np.arange(len(rows)), [len(terms) for _, terms, _ in rows])
    var = [v for _, terms, _ in rows for v, _ in terms]
    coef = [c for _, terms, _ in rows for _, c in terms]
    return m.add_rows(family, keys, var, coef, sense, [rhs for _, _, rhs in rows],
                      labels=[str(year) for year, _, _ in rows])


def add_stations_target(m: PhasingModel) -> int:
    """stations_target_<year>: Σ_s B_{st} >= S_t − existing (years before the last with a target)."""
    inp, B = m.inp, m.kinds["B"].var
    return _year_rows(m, "stations_target", [
        (inp.years[t], [(v, 1.0) for v in B[:, t]], inp.stations_cumulative[t] - inp.stations_existing)
        for t in range(m.last) if inp.stations_cumulative[t] > 0], pulp.LpConstraintGE)


def add_ports_target(m: PhasingModel) -> int:
    """ports_target_<year>: Σ_o P_{ot} >= P_t − existing (years before the last with a target)."""
    inp, P = m.inp, m.kinds["P"].var
    return _year_rows(m, "ports_target", [
        (inp.years[t], [(v, 1.0) for v in P[:, t] if v is not None], inp.ports_cumulative[t] - inp.ports_existing)
        for t in range(m.last) if inp.ports_cumulative[t] > 0], pulp.LpConstraintGE)


def add_budget(m: PhasingModel) -> int:
    """budget_<year>: capex_t <= budget_t (years with a budget)."""
    rows = []
    for t, year in enumerate(m.inp.years):
        if m.inp.budget_cny[t] > 0:
            terms, const = capex_terms(m, t)
            rows.append((year, terms, m.inp.budget_cny[t] - const))
    return _year_rows(m, "budget", rows, pulp.LpConstraintLE)


def add_build_cap(m: PhasingModel) -> int:
    """build_cap_<year>: Σ_s (B_{st} − B_{s,t−1}) <= cap_t (years with a cap)."""
    rows = []
    B = m.kinds["B"]
    for t, year in enumerate(m.inp.years):
        if m.inp.build_cap_stations[t] > 0:
            terms, const = [], 0.0
            for s in range(len(m.inp.station_count)):
                d, c = _delta_terms(B, s, t, m.last)
                terms += d
                const += c
            rows.append((year, terms, m.inp.build_cap_stations[t] - const))
    return _year_rows(m, "build_cap", rows, pulp.LpConstraintLE)


def add_coverage_floor(m: PhasingModel) -> int:
    """coverage_floor_<year>: Σ_i w_i z_{it} >= φ_t Σ_i w_i (years with a floor)."""
    inp = m.inp
    w = inp.cell_population.astype(float).tolist()
    total_pop = float(inp.cell_population.sum())
    return _year_rows(m, "coverage_floor", [
        (year, list(zip(m.z[:, t].tolist(), w, strict=True)), inp.coverage_floor[t] * total_pop)
        for t, year in enumerate(inp.years) if inp.coverage_floor[t] > 0], pulp.LpConstraintGE)


#: constraint families in build order; ``rank``: place in the infeasibility explanation (the yearly limits
#: name the years at fault, the budget first)
FAMILIES = (
    Family("monotone", add_monotone, rank=8, blames="variables", unit="built then removed"),
    Family("spur_anchor", add_spur_anchor, rank=9, blames="station-years", unit="built before its anchor site"),
    Family("ports_open", add_ports_open, rank=7, blames="OLT site-years", unit="ports at a closed site"),
    Family("chassis_ports", add_chassis_ports, rank=6, blames="OLT site-years", unit="ports over the chassis"),
    Family("covered", add_covered, rank=5, blames="cell-years", unit="covered without a station"),
    Family("stations_target", add_stations_target, rank=3, blames="years", unit="stations short"),
    Family("ports_target", add_ports_target, rank=4, blames="years", unit="ports short"),
    Family("budget", add_budget, rank=0, blames="years", unit="CNY over the budget"),
    Family("build_cap", add_build_cap, rank=1, blames="years", unit="stations over the crews' cap"),
    Family("coverage_floor", add_coverage_floor, rank=2, blames="years", unit="people short of the floor"),
)


def _objective(m: PhasingModel) -> pulp.LpAffineExpression:
    """Σ_t δ_t capex_t − v Σ_t δ_t Σ_i w_i z_it (a variable in two years' capex gets both terms, summed)."""
    inp = m.inp
    T = len(inp.years)
    disc = [(1.0 + inp.discount_rate) ** -t for t in range(T)]
    acc: dict = {}
    constant = 0.0
    for t in range(T):
        terms, const = capex_terms(m, t)
        for v, k in terms:
            acc[v] = acc.get(v, 0.0) + k * disc[t]
        for v, w in zip(m.z[:, t].tolist(), inp.cell_population.tolist(), strict=True):
            acc[v] = acc.get(v, 0.0) - inp.early_value_cny_per_person * disc[t] * float(w)
        constant += const * disc[t]
    return pulp.LpAffineExpression(list(acc.items()), constant=constant)


def build_phasing_model(inp: PhasingInput, *, families=None, relax: bool = False,
                        elastic: str | None = None) -> PhasingModel:
    """Build the scheduling MILP of the module docstring (``families``: names to build, default all)."""
    t0 = time.perf_counter()
    m = PhasingModel(problem=pulp.LpProblem("phasing", pulp.LpMinimize), inp=inp, relax=relax, elastic=elastic,
                     families=milp.names(FAMILIES) if families is None else tuple(families))
    define_variables(m)
    m.build(FAMILIES)
    m.problem.setObjective(_objective(m))
    m.build_seconds = time.perf_counter() - t0
    log.info("phasing model built in %.2f s: %d constraints (%s)", m.build_seconds, sum(m.rows.values()),
             m.rows_text())
    return m


# --------------------------------------------------------------------------- solve

def _values(var: np.ndarray, final: np.ndarray | None = None) -> np.ndarray:
    """Solution values of an object array of variables (0 where None); with ``final``, the last year appended."""
    vals = np.array([[0.0 if v is None else (v.varValue or 0.0) for v in row] for row in var]).reshape(var.shape)
    return vals if final is None else np.column_stack([vals, final])


def _explain(inp: PhasingInput, **kw) -> InfeasibleError:
    def build(fams, relax, elastic):
        return build_phasing_model(inp, families=fams, relax=relax, elastic=elastic)

    return milp.explain_infeasible(FAMILIES, build, model="phasing", part="phasing",
                                   item_of=lambda family, label: (str(label), ""), **kw)


def solve_phasing(inp: PhasingInput, *, solver="cbc", time_limit_s=120.0, gap_rel=0.01, threads=1, msg=False,
                  seed=0) -> PhasingResult:
    """Diagnose, build and solve the schedule.

    Raises :class:`~gis.errors.InfeasibleError` naming the years and limits at fault, and
    :class:`~gis.errors.SolverLimitError` when the solver finds no schedule in time.
    """
    diagnose(inp)
    m = build_phasing_model(inp)
    kw = dict(solver=solver, time_limit_s=time_limit_s, threads=threads, seed=seed)
    stats = solve(m.problem, part="phasing", gap_rel=gap_rel, msg=msg, build_seconds=m.build_seconds, **kw)
    milp.solved(stats, model="phasing", explain=lambda: _explain(inp, **kw))

    def built(name):   # new per year, from the rounded cumulative values
        kind = m.kinds[name]
        return np.diff(np.round(_values(kind.var, kind.final)), prepend=0, axis=1)

    opened = built("U")
    open_year = np.where(inp.olt_is_new, opened.argmax(axis=1) if len(opened) else 0, -1)
    capex = []
    for t in range(len(inp.years)):
        terms, const = capex_terms(m, t)
        capex.append(sum(k * (v.varValue or 0.0) for v, k in terms) + const)
    return PhasingResult(station_built=built("B"), olt_open_year=open_year, olt_ports_built=built("P"),
                         covered=_values(m.z), capex_cny=np.array(capex), stats=stats)


# --------------------------------------------------------------------------- apply to the plan

def _phased_stations(stations: gpd.GeoDataFrame, res: PhasingResult, years: list) -> gpd.GeoDataFrame:
    """Each new station row split by build year (its costs and traffic in proportion); existing rows year 0."""
    new_mask = stations["new"].astype(bool).to_numpy()
    new_st = stations[new_mask].reset_index(drop=True)
    pieces = [stations[~new_mask].assign(build_year=0)]
    for t, year in enumerate(years):
        n = res.station_built[:, t]
        keep = n > 0
        if keep.any():
            part = new_st[keep].copy()
            frac = n[keep] / part["count"].to_numpy(float)
            for col in ("capex_cny", "equipment_cny", "backhaul_cny", "carried_mbps", "capacity_mbps"):
                if col in part:
                    part[col] = part[col].to_numpy(float) * frac
            part["count"] = n[keep].astype(int)
            part["build_year"] = year
            pieces.append(part)
    return gpd.GeoDataFrame(pd.concat(pieces, ignore_index=True), geometry=stations.geometry.name, crs=stations.crs)


def _year_table(inp: PhasingInput, res: PhasingResult) -> list[dict]:
    """One row per plan year: new and cumulative stations and ports, capex (and discounted), coverage, limits."""
    pop = inp.cell_population
    total_pop = pop.sum()
    rows = []
    cum_st = inp.stations_existing
    cum_ports = inp.ports_existing
    disc = [(1 + inp.discount_rate) ** -t for t in range(len(inp.years))]
    for t, year in enumerate(inp.years):
        new_st_t = int(res.station_built[:, t].sum())
        new_ports_t = int(res.olt_ports_built[:, t].sum())
        cum_st += new_st_t
        cum_ports += new_ports_t
        covered_pop = float((np.minimum(res.covered[:, t], 1.0) * pop).sum())
        rows.append({
            "year": year, "stations_new": new_st_t, "stations_cumulative": int(cum_st),
            "stations_target": inp.stations_cumulative[t] or None, "ports_new": new_ports_t,
            "ports_cumulative": int(cum_ports), "ports_target": inp.ports_cumulative[t] or None,
            "olt_sites_new": int((res.olt_open_year == t).sum()),
            "capex_cny": float(res.capex_cny[t]), "capex_discounted_cny": float(res.capex_cny[t] * disc[t]),
            "budget_cny": inp.budget_cny[t] or None, "build_cap_stations": inp.build_cap_stations[t] or None,
            "population_covered": covered_pop,
            "population_covered_share": covered_pop / total_pop if total_pop else None,
            "coverage_floor": inp.coverage_floor[t] or None,
        })
    return rows


def phase_plan(plan: Plan, cover_pairs: pd.DataFrame, scenario) -> Plan:
    """Return ``plan`` with build years on its stations and OLT sites and a ``years`` table."""
    ph = scenario.phasing
    if not ph.years:
        return plan
    inp = phasing_input_from_plan(plan, cover_pairs, scenario)
    sv = scenario.solver
    res = solve_phasing(inp, solver=ph.solver or sv.name, time_limit_s=sv.time_limit_s, gap_rel=max(sv.gap_rel, 0.01),
                        threads=sv.threads, msg=sv.msg, seed=scenario.seed)
    years = inp.years
    olt = plan.olt_sites.copy()
    if len(olt):
        olt["build_year"] = [0 if y < 0 else years[y] for y in res.olt_open_year]
        for t, year in enumerate(years):
            olt[f"ports_{year}"] = res.olt_ports_built[:, t].astype(int)
    rows = _year_table(inp, res)
    plan.stations = _phased_stations(plan.stations, res, years)
    plan.olt_sites = olt
    plan.years = rows
    plan.solves = [*plan.solves, res.stats]
    plan.totals = {**plan.totals, "capex_discounted_cny": float(sum(r["capex_discounted_cny"] for r in rows))}
    return plan
