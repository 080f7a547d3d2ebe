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

Constraint families (PuLP name prefixes):

* ``monotone``: :math:`B_{s,t-1} \le B_{st}`, :math:`U_{o,t-1} \le U_{ot}`, ... (what is built stays built);
* ``ports_open``: :math:`P_{ot} \le q_o U_{ot}` (ports only at open sites);
* ``chassis_ports``: existing + new ports :math:`\le` ports per chassis x (existing + new chassis);
* ``covered``: :math:`z_{it} \le e_i + \sum_{s \in N(i)} B_{st}` (:math:`e_i`: existing stations in reach);
* ``stations_target``: existing + :math:`\sum_s B_{st} \ge S_t`;
* ``ports_target``: existing + :math:`\sum_o P_{ot} \ge P^{target}_t`;
* ``budget``: :math:`\mathrm{capex}_t \le \mathrm{budget}_t`;
* ``build_cap``: :math:`\sum_s (B_{st}-B_{s,t-1}) \le \mathrm{cap}_t`;
* ``coverage_floor``: :math:`\sum_i w_i z_{it} \ge \phi_t \sum_i w_i`.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pulp

from gis.errors import InfeasibleError
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


@dataclass
class PhasingResult:
    station_built: np.ndarray   # (rows, T) new stations of each row built in each year
    olt_open_year: np.ndarray   # (olts,) index of the opening year (-1: existing site)
    olt_ports_built: np.ndarray  # (olts, T)
    olt_chassis_built: np.ndarray  # (olts, T)
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
        fixed = olt["site_cny"].to_numpy(float) + olt["office_id"].map(feeder).fillna(0.0).to_numpy(float)
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

    return PhasingInput(
        years=list(ph.years), station_count=counts, station_unit_cny=unit,
        olt_fixed_cny=np.where(is_new, fixed, 0.0), olt_ports_new=ports_new, olt_chassis_new=chassis_new,
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

def diagnose(inp: PhasingInput) -> None:
    """Cheap checks that name the year and the binding limit before any solve."""
    T = len(inp.years)
    total_st = inp.stations_existing + inp.station_count.sum()
    total_ports = inp.ports_existing + inp.olt_ports_new.sum()
    unit_sorted = np.repeat(inp.station_unit_cny, inp.station_count.astype(int))
    unit_sorted.sort()
    port_unit = inp.port_cost_cny
    cum_budget = 0.0
    cum_cap = 0.0
    for t, year in enumerate(inp.years):
        if inp.stations_cumulative[t] > total_st + 1e-9:
            raise InfeasibleError(f"year {year}: the cumulative 5G target {inp.stations_cumulative[t]:,.0f} exceeds the "
                                  f"{total_st:,.0f} stations of the plan", family="stations_target", items=[str(year)])
        if inp.ports_cumulative[t] > total_ports + 1e-9:
            raise InfeasibleError(f"year {year}: the cumulative port target {inp.ports_cumulative[t]:,.0f} exceeds the "
                                  f"{total_ports:,.0f} ports of the plan", family="ports_target", items=[str(year)])
        need_st = max(0, int(np.ceil(inp.stations_cumulative[t] - inp.stations_existing)))
        need_ports = max(0.0, inp.ports_cumulative[t] - inp.ports_existing)
        if inp.build_cap_stations[t] > 0 or cum_cap >= 0:
            cum_cap = cum_cap + inp.build_cap_stations[t] if inp.build_cap_stations[t] > 0 else float("inf")
        if need_st > cum_cap:
            raise InfeasibleError(f"year {year}: {need_st:,} new stations are needed by then but the crews' build caps "
                                  f"allow {cum_cap:,.0f}", family="build_cap", items=[str(year)])
        if inp.budget_cny[t] > 0:
            cum_budget += inp.budget_cny[t]
            cheapest = unit_sorted[:need_st].sum() + need_ports * port_unit
            budget_so_far = cum_budget if all(b > 0 for b in inp.budget_cny[: t + 1]) else float("inf")
            if cheapest > budget_so_far + 1e-6:
                raise InfeasibleError(f"year {year}: reaching the targets needs at least {cheapest:,.0f} CNY but the budgets "
                                      f"up to {year} total {budget_so_far:,.0f} CNY", family="budget", items=[str(year)])
    if T:
        coverable = inp.cell_population[(inp.cell_existing_cover > 0) |
                                        np.isin(np.arange(len(inp.cell_population)), inp.cover_pairs["cell"].to_numpy())].sum()
        total_pop = inp.cell_population.sum()
        for t, year in enumerate(inp.years):
            if inp.coverage_floor[t] * total_pop > coverable + 1e-6:
                raise InfeasibleError(f"year {year}: the coverage floor {inp.coverage_floor[t]:.0%} is above the "
                                      f"{coverable / total_pop:.1%} the plan covers", family="coverage_floor", items=[str(year)])


# --------------------------------------------------------------------------- model

def _expr(pairs, constant=0.0):
    """A linear expression from (variable, coefficient) pairs, summing repeated variables."""
    acc: dict = {}
    for var, coef in pairs:
        acc[var] = acc.get(var, 0.0) + coef
    return pulp.LpAffineExpression(list(acc.items()), constant=constant)


def build_phasing_model(inp: PhasingInput) -> tuple[pulp.LpProblem, dict]:
    """Build the scheduling MILP of the module docstring; returns the problem and its variables."""
    T = len(inp.years)
    S, O, C = len(inp.station_count), len(inp.olt_ports_new), len(inp.cell_population)
    prob = pulp.LpProblem("phasing", pulp.LpMinimize)
    last = T - 1
    B = [[pulp.LpVariable(f"B_{s}_{t}", 0, int(inp.station_count[s]), cat=pulp.LpInteger) if t < last else None
          for t in range(T)] for s in range(S)]
    U = [[pulp.LpVariable(f"U_{o}_{t}", cat=pulp.LpBinary) if (t < last and inp.olt_is_new[o]) else None
          for t in range(T)] for o in range(O)]
    P = [[pulp.LpVariable(f"P_{o}_{t}", 0, int(inp.olt_ports_new[o]), cat=pulp.LpInteger)
          if (t < last and inp.olt_ports_new[o] > 0) else None for t in range(T)] for o in range(O)]
    K = [[pulp.LpVariable(f"K_{o}_{t}", 0, int(inp.olt_chassis_new[o]), cat=pulp.LpInteger)
          if (t < last and inp.olt_chassis_new[o] > 0) else None for t in range(T)] for o in range(O)]
    z = [[pulp.LpVariable(f"z_{i}_{t}", 0, 1) for t in range(T)] for i in range(C)]

    def val(var, final, t):
        """Cumulative value by year t as (terms, constant); the final year is fixed to the plan."""
        if t < 0:
            return [], 0.0
        if t == last:
            return [], float(final)
        if var[t] is None:  # nothing new to build here (existing site, or no new ports/chassis)
            return [], 0.0
        return [(var[t], 1.0)], 0.0

    def delta(var, final, t):
        terms, const = val(var, final, t)
        prev_terms, prev_const = val(var, final, t - 1)
        return terms + [(v, -c) for v, c in prev_terms], const - prev_const

    families: dict[str, list] = {k: [] for k in ("monotone", "ports_open", "chassis_ports", "covered", "stations_target",
                                                 "ports_target", "budget", "build_cap", "coverage_floor")}

    def add(family, name, constraint):
        prob.addConstraint(constraint, name=f"{family}_{name}")
        families[family].append(f"{family}_{name}")

    # monotone: what is built stays built
    for s in range(S):
        for t in range(1, last):
            add("monotone", f"B{s}_{t}", B[s][t] - B[s][t - 1] >= 0)
    for o in range(O):
        for var in (U[o], P[o], K[o]):
            for t in range(1, last):
                if var[t] is not None:
                    add("monotone", f"{var[t].name}", var[t] - var[t - 1] >= 0)
    # ports only at open sites; chassis hold the ports
    for o in range(O):
        for t in range(last):
            if P[o][t] is not None and U[o][t] is not None:
                add("ports_open", f"{o}_{t}", P[o][t] - int(inp.olt_ports_new[o]) * U[o][t] <= 0)
            if P[o][t] is not None:
                k_terms = [(K[o][t], float(inp.ports_per_chassis))] if K[o][t] is not None else []
                add("chassis_ports", f"{o}_{t}", _expr([(P[o][t], 1.0)] + [(v, -c) for v, c in k_terms])
                    <= inp.ports_per_chassis * inp.olt_chassis_existing[o] - inp.olt_ports_existing[o])
    # covered cells
    by_cell = inp.cover_pairs.groupby("cell")["row"].apply(list).to_dict()
    for i in range(C):
        rows = by_cell.get(i, [])
        for t in range(T):
            if t == last:
                cap = inp.cell_existing_cover[i] + sum(inp.station_count[r] for r in rows)
                add("covered", f"{i}_{t}", z[i][t] <= min(1.0, cap))
            else:
                add("covered", f"{i}_{t}", _expr([(z[i][t], 1.0)] + [(B[r][t], -1.0) for r in rows]) <= inp.cell_existing_cover[i])

    capex_terms, capex_const = [], []
    for t in range(T):
        terms, const = [], 0.0
        for s in range(S):
            d, c = delta(B[s], inp.station_count[s], t)
            terms += [(v, k * inp.station_unit_cny[s]) for v, k in d]
            const += c * inp.station_unit_cny[s]
        for o in range(O):
            for var, final, unit in ((U[o], 1.0 if inp.olt_is_new[o] else 0.0, inp.olt_fixed_cny[o]),
                                     (P[o], inp.olt_ports_new[o], inp.port_cost_cny),
                                     (K[o], inp.olt_chassis_new[o], inp.chassis_cost_cny)):
                d, c = delta(var, final, t)
                terms += [(v, k * unit) for v, k in d]
                const += c * unit
        capex_terms.append(terms)
        capex_const.append(const)

    total_pop = float(inp.cell_population.sum())
    for t in range(T):
        year = inp.years[t]
        if t < last:
            st_terms = [(B[s][t], 1.0) for s in range(S)]
            if inp.stations_cumulative[t] > 0:
                add("stations_target", str(year), _expr(st_terms) >= inp.stations_cumulative[t] - inp.stations_existing)
            if inp.ports_cumulative[t] > 0:
                add("ports_target", str(year), _expr([(P[o][t], 1.0) for o in range(O) if P[o][t] is not None])
                    >= inp.ports_cumulative[t] - inp.ports_existing)
        if inp.budget_cny[t] > 0:
            add("budget", str(year), _expr(capex_terms[t]) <= inp.budget_cny[t] - capex_const[t])
        if inp.build_cap_stations[t] > 0:
            terms, const = [], 0.0
            for s in range(S):
                d, c = delta(B[s], inp.station_count[s], t)
                terms += d
                const += c
            add("build_cap", str(year), _expr(terms) <= inp.build_cap_stations[t] - const)
        if inp.coverage_floor[t] > 0:
            add("coverage_floor", str(year), _expr([(z[i][t], float(inp.cell_population[i])) for i in range(C)])
                >= inp.coverage_floor[t] * total_pop)

    disc = [(1.0 + inp.discount_rate) ** -t for t in range(T)]
    obj = []
    for t in range(T):
        obj += [(v, k * disc[t]) for v, k in capex_terms[t]]
        obj += [(z[i][t], -inp.early_value_cny_per_person * disc[t] * float(inp.cell_population[i])) for i in range(C)]
    prob += _expr(obj, constant=sum(c * d for c, d in zip(capex_const, disc)))
    return prob, {"B": B, "U": U, "P": P, "K": K, "z": z, "families": families,
                  "capex_terms": capex_terms, "capex_const": capex_const}


def _value(v, default=0.0):
    return default if v is None else (v.varValue or 0.0)


def solve_phasing(inp: PhasingInput, *, solver="cbc", time_limit_s=120.0, gap_rel=0.01, threads=2, msg=False,
                  seed=0) -> PhasingResult:
    """Diagnose, build and solve the schedule; raise :class:`InfeasibleError` naming year and limit."""
    diagnose(inp)
    t0 = time.perf_counter()
    prob, v = build_phasing_model(inp)
    build_s = time.perf_counter() - t0
    stats = solve(prob, part="phasing", solver=solver, time_limit_s=time_limit_s, gap_rel=gap_rel, threads=threads,
                  msg=msg, seed=seed, build_seconds=build_s)
    if stats.status in ("infeasible", "no_solution"):
        if stats.status == "infeasible":
            family, year = _blame(inp, v["families"])
            raise InfeasibleError(f"phasing is infeasible: year {year}, binding limit '{family}'", family=family, items=[year])
        raise InfeasibleError(f"phasing found no schedule within {time_limit_s:.0f} s; raise solver.time_limit_s",
                              family="time_limit")
    T = len(inp.years)
    last = T - 1

    def cum(var, final):
        return np.array([_value(var[t]) if t < last else final for t in range(T)])

    built = np.array([np.diff(np.round(cum(B, n)), prepend=0) for B, n in zip(v["B"], inp.station_count)]).reshape(-1, T)
    opened = np.array([np.diff(np.round(cum(U, 1.0 if new else 0.0)), prepend=0) for U, new in zip(v["U"], inp.olt_is_new)]).reshape(-1, T)
    open_year = np.where(inp.olt_is_new, opened.argmax(axis=1) if len(opened) else 0, -1)
    ports = np.array([np.diff(np.round(cum(P, q)), prepend=0) for P, q in zip(v["P"], inp.olt_ports_new)]).reshape(-1, T)
    chassis = np.array([np.diff(np.round(cum(K, k)), prepend=0) for K, k in zip(v["K"], inp.olt_chassis_new)]).reshape(-1, T)
    covered = np.array([[_value(z) for z in row] for row in v["z"]]).reshape(-1, T)
    capex = np.array([sum(k * _value(var) for var, k in v["capex_terms"][t]) + v["capex_const"][t] for t in range(T)])
    return PhasingResult(built, open_year, ports, chassis, covered, capex, stats)


def _blame(inp: PhasingInput, families: dict) -> tuple[str, str]:
    """Name the family (and year) at fault: drop one family's constraints at a time in the LP relaxation."""
    for family in ("budget", "build_cap", "coverage_floor", "stations_target", "ports_target"):
        for name in families.get(family, []):
            prob, _ = build_phasing_model(inp)
            prob.constraints.pop(name, None)
            for var in prob.variables():
                var.cat = pulp.LpContinuous
            prob.solve(pulp.PULP_CBC_CMD(msg=False))
            if prob.status == pulp.LpStatusOptimal:
                return family, name.split("_")[-1]
    return "unknown", "?"


# --------------------------------------------------------------------------- apply to the plan

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
    st = plan.stations
    new_mask = st["new"].astype(bool).to_numpy()
    new_st = st[new_mask].reset_index(drop=True)
    pieces = [st[~new_mask].assign(build_year=0)]
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
    stations = gpd.GeoDataFrame(pd.concat(pieces, ignore_index=True), geometry=st.geometry.name, crs=st.crs)

    olt = plan.olt_sites.copy()
    if len(olt):
        olt["build_year"] = [0 if y < 0 else years[y] for y in res.olt_open_year]
        for t, year in enumerate(years):
            olt[f"ports_{year}"] = res.olt_ports_built[:, t].astype(int)

    pop = inp.cell_population
    total_pop = pop.sum()
    rows = []
    cum_st = inp.stations_existing
    cum_ports = inp.ports_existing
    disc = [(1 + inp.discount_rate) ** -t for t in range(len(years))]
    for t, year in enumerate(years):
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
    plan.stations = stations
    plan.olt_sites = olt
    plan.years = rows
    plan.solves = [*plan.solves, res.stats]
    plan.totals = {**plan.totals, "capex_discounted_cny": float(sum(r["capex_discounted_cny"] for r in rows))}
    return plan
