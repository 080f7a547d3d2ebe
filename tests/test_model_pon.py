"""Tests of the 10G-PON model (rollout.model_pon).

Tiny instances with optima worked out by hand, every diagnosis, the surplus
(headroom) rule, hypothesis-generated instances checked against brute force,
and invariants recomputed from the result alone after every solve.
"""
from __future__ import annotations

import itertools
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gis.errors import InfeasibleError, ValidationError
from gis.layers import Layers
from rollout.model_pon import FAMILIES, PonInput, build_model, check_feasibility, prepare, solve_pon
from rollout.scenario import CLUTTERS, ByClutter, PonSettings, Scenario

F, H, C = 300_000.0, 150_000.0, 1_900.0  # site, chassis, port [CNY]
FIB = 100_000.0                           # fibre [CNY/km], every clutter
OLT_COLUMNS = ["office_id", "district_id", "district", "new", "ports", "ports_new", "chassis", "onts", "capex_cny",
               "site_cny", "chassis_cny", "ports_cny", "build_year", "lon", "lat", "chassis_existing", "free_slots", "source"]
LINK_COLUMNS = ["kind", "from_id", "to_id", "straight_km", "route_km", "capex_cny"]


def pon_settings(**kw) -> PonSettings:
    base = dict(target_ports=0, split_ratio=ByClutter(64, 64, 64, 64), reach_km=20.0, route_factor=1.0, nearest_sites=6,
                port_cost_cny=C, ports_per_chassis=272, max_chassis_per_site=4, chassis_cost_cny=H,
                olt_site_cost_cny=F, fiber_cost_cny_per_km=ByClutter(FIB, FIB, FIB, FIB), single_sourcing=True,
                optics_class="E2")  # E2's reach of a 1:8x1:8 path (20.5 km) leaves reach_km in charge
    base.update(kw)
    return PonSettings(**base)


def make(cells, sites, *, onts, clutter=None, existing=None, existing_ports=None, stations=None, bh=80_000.0,
         districts=None, **kw) -> PonInput:
    n = len(cells)
    return PonInput(cell_id=[f"c{i}" for i in range(n)], cell_xy_m=cells, onts=onts,
                    clutter=clutter or ["urban"] * n, site_id=[f"s{j}" for j in range(len(sites))], site_xy_m=sites,
                    settings=pon_settings(**kw), existing=existing, existing_ports=existing_ports,
                    backhaul_stations=stations, backhaul_cost_cny_per_km=bh, cell_district=districts)


def run(inp: PonInput, **kw):
    kw.setdefault("gap_rel", 0.0)
    kw.setdefault("threads", 1)
    res = solve_pon(inp, **kw)
    check_invariants(inp, res)
    return res


# --------------------------------------------------------------------------- invariants from the result alone

def check_invariants(inp: PonInput, res, tol: float = 1e-6) -> None:
    s = inp.settings
    cell_row = {c: i for i, c in enumerate(inp.cell_id)}
    site_row = {c: j for j, c in enumerate(inp.site_id)}
    a = res.assignment
    # every cell with ONTs or stations is homed exactly once (shares sum to 1), nothing else is
    served = set(np.flatnonzero((inp.onts > 0) | (inp.backhaul_stations > 0)))
    share = a.groupby("cell_id")["share"].sum()
    assert {cell_row[c] for c in share.index} == served
    assert np.allclose(share.to_numpy(), 1.0, atol=1e-6)
    if s.single_sourcing:
        assert a["cell_id"].is_unique and np.allclose(a["share"], 1.0)
    # reach, with distances recomputed from the coordinates
    ci = a["cell_id"].map(cell_row).to_numpy()
    sj = a["office_id"].map(site_row).to_numpy()
    d = np.hypot(*(inp.cell_xy_m[ci] - inp.site_xy_m[sj]).T)
    route = d * s.route_factor / 1000.0
    assert np.allclose(a["route_km"], route) and np.allclose(a["straight_km"], d / 1000.0)
    assert (route <= s.reach_km + 1e-9).all()
    assert res.pon["max_route_km"] <= s.reach_km + 1e-9
    # per-cell route km exposed for the 5G re-pricing
    rk = res.cell_route_km
    for c in inp.cell_id:
        rows = a[a["cell_id"] == c]
        if len(rows):
            assert rk[c] == pytest.approx(float((rows["share"] * rows["route_km"]).sum()))
        else:
            assert np.isnan(rk[c])
    # ports >= ONTs / split at every OLT (integer), chassis limits, brownfield
    olt = res.olt_sites.set_index("office_id")
    assert list(res.olt_sites.columns[:-1]) == OLT_COLUMNS and res.olt_sites.crs.to_epsg() == 4326
    split = np.array([s.split_ratio[c] for c in inp.clutter])
    need = pd.Series(inp.onts[ci] * a["share"].to_numpy() / split[ci]).groupby(a["office_id"].to_numpy()).sum()
    onts = pd.Series(inp.onts[ci] * a["share"].to_numpy()).groupby(a["office_id"].to_numpy()).sum()
    assert set(need.index) <= set(olt.index)
    for o, n in need.items():
        assert olt.loc[o, "ports"] >= math.ceil(n - 1e-9)
        assert olt.loc[o, "onts"] == pytest.approx(onts[o])
    Q, M = s.ports_per_chassis, s.max_chassis_per_site
    p0 = pd.Series(inp.existing_ports, index=inp.site_id)
    for o, r in olt.iterrows():
        h0 = -(-int(p0[o]) // Q)
        assert r["ports"] <= Q * r["chassis"]
        assert r["chassis"] <= max(M, h0)
        assert r["ports"] == p0[o] + r["ports_new"] and r["ports_new"] >= 0
        assert r["new"] == (not inp.existing[site_row[o]])
        assert r["site_cny"] == pytest.approx(s.olt_site_cost_cny if r["new"] else 0.0)
        assert r["chassis_cny"] == pytest.approx(s.chassis_cost_cny * (r["chassis"] - h0))
        assert r["ports_cny"] == pytest.approx(s.port_cost_cny * r["ports_new"])
        assert r["capex_cny"] == pytest.approx(r["site_cny"] + r["chassis_cny"] + r["ports_cny"])
        assert r["build_year"] == 0
    assert set(inp.site_id[inp.existing]) <= set(olt.index)  # brownfield kept
    # target met
    assert olt["ports"].sum() >= s.target_ports
    # capex == sum of parts == the solver's objective
    t = res.totals
    parts = t["site_cny"] + t["chassis_cny"] + t["ports_cny"] + t["feeder_cny"] + t["backhaul_cny"]
    assert t["capex_cny"] == pytest.approx(parts)
    assert t["site_cny"] + t["chassis_cny"] + t["ports_cny"] == pytest.approx(olt["capex_cny"].sum())
    fib = np.array([s.fiber_cost_cny_per_km[c] for c in inp.clutter])
    feeder = (route * a["share"] * np.where(inp.onts[ci] > 0, fib[ci], 0.0)).sum()
    backhaul = (route * a["share"] * inp.backhaul_stations[ci] * inp.backhaul_cost_cny_per_km).sum()
    assert t["feeder_cny"] == pytest.approx(feeder) and t["backhaul_cny"] == pytest.approx(backhaul)
    assert res.links["capex_cny"].sum() == pytest.approx(feeder + backhaul)
    # the plan priced again from its counts and the coordinates, against the solver's own objective: equal at a
    # proven optimum (the solver pays for nothing the plan drops), never below it otherwise
    h0 = -(-olt.index.map(p0).to_numpy(np.int64) // Q)
    priced = float((np.where(olt["new"], s.olt_site_cost_cny, 0.0) + s.chassis_cost_cny * (olt["chassis"] - h0)
                    + s.port_cost_cny * olt["ports_new"]).sum()) + feeder + backhaul
    assert t["capex_cny"] == pytest.approx(priced)
    st_ = res.solves[0]
    assert st_.part == "pon" and st_.objective >= priced - 1e-3
    if st_.status == "optimal" and st_.gap_rel_requested == 0.0:
        assert st_.objective == pytest.approx(priced, rel=1e-9, abs=1e-3)
    assert t["pon_ports"] == olt["ports"].sum() and t["olt_sites"] == len(olt)
    # links: kinds, columns, geometry from cell centroid to OLT
    L = res.links
    assert list(L.columns[:-1]) == LINK_COLUMNS and L.crs.to_epsg() == 4326
    assert set(L["kind"]) <= {"feeder", "backhaul"}
    assert (L["kind"] == "feeder").sum() == int((inp.onts[ci] > 0).sum())
    assert (L["kind"] == "backhaul").sum() == int((inp.backhaul_stations[ci] > 0).sum())
    for _, r in L.iterrows():
        xy = np.asarray(r.geometry.coords)
        assert np.allclose(xy[0], inp.cell_lonlat[cell_row[r["from_id"]]])
        assert np.allclose(xy[-1], inp.site_lonlat[site_row[r["to_id"]]])
    # headroom rule: every OLT has at least g x its need (rounded up)
    g = res.pon["surplus"]["g"]
    for o, n in need.items():
        assert olt.loc[o, "ports"] >= math.ceil(g * n - 1e-6)


# --------------------------------------------------------------------------- known optima by hand

def test_one_site_or_two_depends_on_site_cost():
    cells = [[0, 0], [10_000, 0]]
    sites = [[0, 0], [10_000, 0]]
    # two sites: 2F + 2H + 2C, no fibre; one site: F + H + 2C + 10 km of fibre (1,000,000)
    res = run(make(cells, sites, onts=[64, 64]))
    assert res.totals["olt_sites"] == 2
    assert res.totals["capex_cny"] == pytest.approx(2 * F + 2 * H + 2 * C)
    res = run(make(cells, sites, onts=[64, 64], olt_site_cost_cny=900_000.0))
    assert res.totals["olt_sites"] == 1
    assert res.totals["capex_cny"] == pytest.approx(900_000.0 + H + 2 * C + 10 * FIB)
    assert res.totals["fiber_km"] == pytest.approx(10.0)
    assert res.solves[0].status == "optimal" and res.solves[0].part == "pon"


def test_port_rounding_is_per_olt():
    # 65 ONTs at 1:64 need 2 ports, not 1.02
    res = run(make([[0, 0]], [[0, 0]], onts=[65]))
    assert res.olt_sites["ports"].tolist() == [2]
    assert res.totals["ports_cny"] == pytest.approx(2 * C)
    # 130 ONTs at 1:128 (dense urban) also need 2; 128 need 1
    res = run(make([[0, 0]], [[0, 0]], onts=[130], clutter=["dense_urban"], split_ratio=ByClutter(128, 64, 64, 64)))
    assert res.olt_sites["ports"].tolist() == [2]
    res = run(make([[0, 0]], [[0, 0]], onts=[128], clutter=["dense_urban"], split_ratio=ByClutter(128, 64, 64, 64)))
    assert res.olt_sites["ports"].tolist() == [1]
    # two cells of 30 ONTs on the same OLT share one port (pooled rounding)
    res = run(make([[0, 0], [100, 0]], [[50, 0]], onts=[30, 30]))
    assert res.olt_sites["ports"].tolist() == [1]
    # split by clutter: 40 ONTs at 1:32 (rural) + 40 at 1:64 = 1.25 + 0.625 -> 2 ports
    res = run(make([[0, 0], [100, 0]], [[50, 0]], onts=[40, 40], clutter=["rural", "urban"],
                   split_ratio=ByClutter(64, 64, 64, 32)))
    assert res.olt_sites["ports"].tolist() == [2]


def test_reach_cut_off():
    reach_m = 20_000 / 1.4
    # the near site is just beyond reach (20.0014 km of route), the far one just inside
    inp = make([[0, 0]], [[reach_m + 1.0, 0], [-(reach_m - 1.0), 0]], onts=[64], route_factor=1.4)
    res = run(inp)
    assert res.assignment["office_id"].tolist() == ["s1"]
    assert res.pon["max_route_km"] == pytest.approx((reach_m - 1.0) * 1.4 / 1000)
    assert res.pon["max_route_km"] <= 20.0
    # alone, the site just beyond reach cannot serve the cell: diagnosed before solving
    with pytest.raises(InfeasibleError) as err:
        solve_pon(make([[0, 0]], [[reach_m + 1.0, 0]], onts=[64], route_factor=1.4))
    assert err.value.family == "reach" and err.value.items == ["c0"] and err.value.exit_code == 3


def test_pair_table_keeps_the_k_nearest_within_reach():
    cells = [[0, 0]]
    sites = [[1000.0 * (j + 1), 0] for j in range(8)] + [[30_000, 0]]
    inp = make(cells, sites, onts=[10], nearest_sites=3)
    data = prepare(inp)
    assert data.pairs["site"].tolist() == [0, 1, 2]
    m = build_model(inp, data)
    names = [c.name for c in m.problem.constraints()]
    prefixes = {n.rsplit("_", 1)[0] for n in names}
    assert prefixes == {"assign_once", "open_link", "open_chassis", "ports_split", "chassis_ports", "chassis_site"}
    assert list(m.rows) == [f.name for f in FAMILIES] and sum(m.rows.values()) == len(names)
    assert m.rows["assign_once"] == 1 and m.rows["open_link"] == 3 and m.rows["target_ports"] == 0
    assert sorted(f.rank for f in FAMILIES) == list(range(len(FAMILIES)))
    assert len(m.x) == 3  # one variable per pair, never per cell x site


def test_chassis_limit_forces_a_second_site():
    # each cell needs 10 ports; one chassis of 16 ports per site; the second site is 5 km away
    inp = make([[0, 0], [0, 100]], [[0, 50], [5_000, 50]], onts=[640, 640], ports_per_chassis=16,
               max_chassis_per_site=1)
    res = run(inp)
    assert res.totals["olt_sites"] == 2
    assert sorted(res.olt_sites["chassis"]) == [1, 1]
    d = np.hypot(5_000, 50) / 1000
    assert res.totals["capex_cny"] == pytest.approx(2 * F + 2 * H + 20 * C + FIB * (0.05 + d))


def test_brownfield_site_kept_counted_and_free():
    # existing site s0 with 5 ports near the cell (3 ports of demand); a new candidate s1 right on the cell
    inp = make([[0, 0]], [[2_000, 0], [0, 0]], onts=[192], existing=[True, False], existing_ports=[5, 0], target_ports=8)
    res = run(inp)
    olt = res.olt_sites.set_index("office_id")
    # opening s1 (F + H + ...) costs more than 2 km of fibre (200,000): home on s0, buy 3 ports for the target
    assert list(olt.index) == ["s0"]
    assert bool(olt.loc["s0", "new"]) is False
    assert olt.loc["s0", "ports"] == 8 and olt.loc["s0", "ports_new"] == 3
    assert olt.loc["s0", "site_cny"] == 0 and olt.loc["s0", "chassis_cny"] == 0  # its chassis exists already
    assert res.totals["capex_cny"] == pytest.approx(3 * C + 2 * FIB)
    # an existing site with no demand near it stays in the plan at zero cost
    inp = make([[0, 0]], [[0, 0], [50_000, 0]], onts=[64], existing=[False, True], existing_ports=[0, 16])
    res = run(inp)
    olt = res.olt_sites.set_index("office_id")
    assert set(olt.index) == {"s0", "s1"} and olt.loc["s1", "capex_cny"] == 0 and olt.loc["s1", "ports"] == 16


def test_split_sourcing_shares_a_cell_between_sites():
    # 20 ports of demand, two sites of 16 ports: only a split homing fits
    cells, sites = [[0, 0]], [[-100, 0], [100, 0]]
    inp = make(cells, sites, onts=[1280], ports_per_chassis=16, max_chassis_per_site=1, single_sourcing=False)
    res = run(inp)
    assert len(res.assignment) == 2 and res.assignment["share"].sum() == pytest.approx(1.0)
    assert res.totals["pon_ports"] == 20 and res.totals["olt_sites"] == 2
    assert res.cell_route_km["c0"] == pytest.approx(0.1)
    with pytest.raises(InfeasibleError) as err:  # single sourcing: the cell fits no single site
        solve_pon(make(cells, sites, onts=[1280], ports_per_chassis=16, max_chassis_per_site=1))
    assert err.value.family == "chassis_site" and err.value.items == ["c0"]


# --------------------------------------------------------------------------- 5G backhaul joined

def test_backhaul_pulls_an_olt_towards_stations():
    # ONTs next to the existing s0; 10 new 5G stations in cell c1, 3 km from s0 and on top of candidate s1
    cells = [[0, 0], [3_000, 0]]
    sites = [[0, 0], [3_000, 0]]
    inp = make(cells, sites, onts=[64, 0], stations=[0, 10], existing=[True, False], existing_ports=[1, 0])
    res = run(inp)
    # 10 stations x 3 km x 80,000 = 2.4 M > opening s1 (F; c1 needs no port, so no chassis)
    assert res.assignment.set_index("cell_id").loc["c1", "office_id"] == "s1"
    assert res.totals["capex_cny"] == pytest.approx(F)
    bh = res.links[res.links["kind"] == "backhaul"]
    assert bh["from_id"].tolist() == ["c1"] and bh["to_id"].tolist() == ["s1"]
    assert res.cell_route_km["c1"] == pytest.approx(0.0)
    # cheap backhaul: c1 (zero ONTs) is still homed, on s0, and its backhaul is priced per route km
    res = run(make(cells, sites, onts=[64, 0], stations=[0, 2], bh=10_000.0, existing=[True, False],
                   existing_ports=[1, 0]))
    a = res.assignment.set_index("cell_id")
    assert a.loc["c1", "office_id"] == "s0" and res.cell_route_km["c1"] == pytest.approx(3.0)
    assert res.totals["backhaul_cny"] == pytest.approx(2 * 3.0 * 10_000.0)
    assert res.totals["backhaul_km"] == pytest.approx(6.0)
    assert res.route_km_to_olt([[1_000, 0]])[0] == pytest.approx(1.0)


# --------------------------------------------------------------------------- surplus ports: the headroom rule

def _two_islands(onts, target, existing_ports=(0, 0), **kw):
    # each cell reaches only its own site (100 km apart, reach 5 km)
    return make([[0, 0], [100_000, 0]], [[0, 0], [100_000, 0]], onts=list(onts), target_ports=target, reach_km=5.0,
                existing=[p > 0 for p in existing_ports], existing_ports=list(existing_ports), **kw)


@pytest.mark.parametrize("rule", ["fill", "headroom"])
def test_surplus_goes_in_proportion_to_need(rule):
    inp = _two_islands([640, 1920], 80)  # needs 10 and 30 ports, target 80: g = 2
    res = run(inp, surplus=rule)
    assert res.pon["surplus"]["g"] == pytest.approx(2.0) and res.pon["surplus"]["rule"] == rule
    assert res.olt_sites.set_index("office_id")["ports"].to_dict() == {"s0": 20, "s1": 60}
    assert res.totals["pon_ports"] == 80
    # the rule costs nothing extra here: 80 ports in one chassis per site either way
    none = run(inp, surplus="none")
    assert none.totals["pon_ports"] == 80 and none.totals["capex_cny"] == pytest.approx(res.totals["capex_cny"])


@pytest.mark.parametrize("rule", ["fill", "headroom"])
def test_surplus_counts_brownfield_ports_above_their_share(rule):
    # s0 already has 50 ports for 10 ports of need; s1 needs 30; target 100: g solves 50 + 30 g = 100
    res = run(_two_islands([640, 1920], 100, existing_ports=(50, 0)), surplus=rule)
    assert res.pon["surplus"]["g"] == pytest.approx(5 / 3)
    ports = res.olt_sites.set_index("office_id")["ports"].to_dict()
    assert ports == {"s0": 50, "s1": 50} and res.totals["pon_ports_new"] == 50


def test_surplus_headroom_pays_for_its_chassis_fill_does_not():
    # need 200 + 50 ports, target 500 (g = 2): strict headroom needs 400 ports = 2 chassis of 272 at s0
    res = run(_two_islands([12_800, 3_200], 500), surplus="headroom")
    olt = res.olt_sites.set_index("office_id")
    assert olt["ports"].to_dict() == {"s0": 400, "s1": 100}
    assert olt["chassis"].to_dict() == {"s0": 2, "s1": 1}
    assert res.totals["capex_cny"] == pytest.approx(2 * F + 3 * H + 500 * C)
    # without the rule the cheapest plan packs the surplus into the 2 chassis it needs anyway: one H cheaper
    none = run(_two_islands([12_800, 3_200], 500), surplus="none")
    assert none.totals["chassis"] == 2 and none.totals["pon_ports"] == 500
    assert none.totals["capex_cny"] == pytest.approx(res.totals["capex_cny"] - H)
    # the fill keeps the cheapest plan's 2 chassis and raises the lowest ratio as far as they allow:
    # s0 full at 272 (1.36 x need), the rest at s1
    fill = run(_two_islands([12_800, 3_200], 500))
    assert fill.olt_sites.set_index("office_id")["ports"].to_dict() == {"s0": 272, "s1": 228}
    assert fill.totals["capex_cny"] == pytest.approx(none.totals["capex_cny"])
    assert fill.pon["surplus"]["g"] == pytest.approx(272 / 200)


def test_fill_is_max_min_within_installed_chassis():
    from rollout.model_pon import fill_surplus

    need = np.array([10.0, 30.0, 0.0, 5.5])
    base = np.array([10, 30, 7, 6])     # site 2: brownfield ports without demand
    cap = np.array([272, 40, 16, 272])
    ports, level = fill_surplus(need, base, cap, 100)
    assert ports.sum() == 100 and (ports >= base).all() and (ports <= cap).all()
    assert ports[1] == 40 and ports[2] == 7  # s1 full; no surplus to the site without demand while others have room
    assert 40 / 30 < level <= min(ports[0] / 10, ports[3] / 5.5) + 1e-9
    # max-min: no single port moved between sites with demand raises the lowest ratio
    r = ports / np.where(need > 0, need, np.nan)
    assert abs(r[0] - r[3]) <= 1 / 5.5 + 1e-9
    # every site with demand full: the rest goes where there is room
    assert fill_surplus(np.array([1.0, 0.0]), np.array([1, 0]), np.array([4, 8]), 10)[0].tolist() == [4, 6]


def test_surplus_rule_dropped_when_it_alone_would_be_infeasible():
    # one chassis of 16 ports per site; needs 12 and 8, target 32: g = 1.6 would need 19.2 ports at s0
    res = run(_two_islands([768, 512], 32, ports_per_chassis=16, max_chassis_per_site=1), surplus="headroom")
    assert res.pon["surplus"]["g"] == 1.0 and "1.600" in res.pon["surplus"]["note"]
    assert res.olt_sites["ports"].tolist() == [16, 16]


# --------------------------------------------------------------------------- diagnosis

def test_diagnose_no_reach_names_cells_and_districts():
    inp = make([[0, 0], [100_000, 0], [100_500, 0]], [[0, 0]], onts=[10, 10, 10], districts=["370202", "370283", "370283"])
    inp.district_names["370283"] = "平度市"
    with pytest.raises(InfeasibleError) as err:
        solve_pon(inp)
    e = err.value
    assert e.family == "reach" and e.items == ["c1", "c2"] and e.exit_code == 3
    assert "370283 平度市 (2)" in str(e) and "c1" in str(e)


def test_diagnose_target_above_all_chassis():
    inp = make([[0, 0]], [[0, 0], [1_000, 0]], onts=[64], target_ports=2 * 4 * 272 + 1)
    with pytest.raises(InfeasibleError) as err:
        solve_pon(inp)
    assert err.value.family == "target_ports" and "2,177" in str(err.value)


def test_diagnose_demand_above_all_chassis():
    inp = make([[0, 0], [500, 0]], [[0, 0]], onts=[64 * 600, 64 * 600])  # 1,200 ports > 4 x 272
    with pytest.raises(InfeasibleError) as err:
        solve_pon(inp)
    assert err.value.family == "chassis_site" and "exceeds" in str(err.value)


def test_diagnose_cells_whose_reachable_sites_cannot_hold_them():
    # a group of two cells (1,000 ports) whose only site holds 1,088, next to a second, separate group that
    # holds enough; then the first group grows beyond its site: named by its cells
    cells = [[0, 0], [100, 0], [60_000, 0]]
    sites = [[50, 0], [60_000, 0], [61_000, 0]]
    ok = make(cells, sites, onts=[64 * 500, 64 * 500, 64], reach_km=5.0)
    assert check_feasibility(ok, strict=False) == []
    bad = make(cells, sites, onts=[64 * 600, 64 * 600, 64], reach_km=5.0)
    probs = check_feasibility(bad, strict=False)
    assert [p[0] for p in probs] == ["chassis_site"] and probs[0][2] == ["c0", "c1"]
    with pytest.raises(InfeasibleError) as err:
        solve_pon(bad)
    assert err.value.family == "chassis_site" and err.value.items == ["c0", "c1"]


def test_diagnose_collects_every_problem():
    inp = make([[0, 0], [90_000, 0]], [[0, 0]], onts=[64, 64], target_ports=10_000)
    with pytest.raises(InfeasibleError) as err:
        solve_pon(inp)
    assert [p[0] for p in err.value.problems] == ["reach", "target_ports"]
    assert err.value.family == "reach" and err.value.items == ["c1"]
    assert "reach: 1 demand cell" in str(err.value) and "; target_ports: target of 10,000" in str(err.value)


def test_infeasible_solve_names_single_sourcing():
    # three cells of 10 ports, two sites of 16: passes every cheap check, but whole cells cannot be packed
    inp = make([[0, 0], [10, 0], [20, 0]], [[0, 0], [20, 0]], onts=[640, 640, 640], ports_per_chassis=16,
               max_chassis_per_site=1)
    assert check_feasibility(inp, strict=False) == []
    with pytest.raises(InfeasibleError) as err:
        solve_pon(inp, threads=1)
    assert "assign_once" in err.value.family.split("+") and "integer model" in str(err.value)
    assert "single sourcing" in str(err.value) and "LP relaxation is feasible" in str(err.value)
    # the integer model needs a second chassis at one of the two sites
    assert len(err.value.items) == 1 and err.value.items[0] in ("s0", "s1")
    run(make([[0, 0], [10, 0], [20, 0]], [[0, 0], [20, 0]], onts=[640, 640, 640], ports_per_chassis=16,
             max_chassis_per_site=1, single_sourcing=False))


def test_infeasible_solve_names_the_chassis_limit():
    # c0 and c1 (10 ports each) reach only s0 (16 ports); c2 reaches s0 and s1: the group holds 32 >= 21 ports,
    # so the cheap checks pass, but s0 cannot take 20 (an LP-infeasible Hall violation)
    cells = [[0, 0], [0, 100], [2_900, 0]]
    sites = [[0, 50], [5_500, 0]]
    inp = make(cells, sites, onts=[640, 640, 64], ports_per_chassis=16, max_chassis_per_site=1, reach_km=3.0)
    assert check_feasibility(inp, strict=False) == []
    with pytest.raises(InfeasibleError) as err:
        solve_pon(inp, threads=1)
    assert err.value.family == "assign_once+ports_split+chassis_ports+chassis_site"
    # s0 would need 20 of its 16 ports: 1.25 chassis where one is allowed
    assert err.value.items == ["s0"] and "s0 (0.25 chassis over the site limit)" in str(err.value)
    assert "LP relaxation" in str(err.value)


def test_input_problems_collected_once():
    with pytest.raises(ValidationError) as err:
        PonInput(cell_id=["a", "a"], cell_xy_m=[[0, 0], [1, 1]], onts=[-1, 5], clutter=["urban", "downtown"],
                 site_id=["s"], site_xy_m=[[0, 0]])
    fields = [p[1] for p in err.value.problems]
    assert fields == ["onts", "clutter", "cell_id"]


# --------------------------------------------------------------------------- from_layers

def test_from_layers_reads_the_layer_columns():
    demand = gpd.GeoDataFrame({
        "cell_id": ["h1", "h2", "h3"], "district_id": ["370202", "370202", "370203"], "onts": [64.0, 0.0, 10.0],
        "clutter": ["urban", "rural", "dense_urban"], "x_m": [0.0, 1_000.0, 2_000.0], "y_m": [0.0, 0.0, 0.0],
        "lon": [120.0, 120.01, 120.02], "lat": [36.0, 36.0, 36.0]}, geometry=gpd.points_from_xy([120.0, 120.01, 120.02], [36] * 3), crs=4326)
    offices = gpd.GeoDataFrame({
        "office_id": ["o1"], "district_id": ["370202"], "clutter": ["urban"], "lon": [120.0], "lat": [36.0],
        "x_m": [0.0], "y_m": [0.0], "existing": [True], "existing_ports": [3]},
        geometry=gpd.points_from_xy([120.0], [36.0]), crs=4326)
    districts = gpd.GeoDataFrame({"district_id": ["370202", "370203"], "name_zh": ["市南区", "市北区"]},
                                 geometry=gpd.GeoSeries([None, None]), crs=4326)
    empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=4326))
    layers = Layers(districts=districts, demand=demand, candidates=empty, offices=offices,
                    pairs=pd.DataFrame({"cell": [], "site": [], "dist_m": []}), hotspots=empty,
                    crs_metric="EPSG:32651", demand_source="test")
    sc = Scenario()
    inp = PonInput.from_layers(layers, sc, backhaul_stations=pd.Series({"h2": 2}))
    assert inp.backhaul_stations.tolist() == [0.0, 2.0, 0.0]
    assert inp.existing.tolist() == [True] and inp.existing_ports.tolist() == [3]
    assert inp.backhaul_cost_cny_per_km == sc.radio.backhaul_cost_cny_per_km
    assert inp.settings is sc.pon and inp.district_names["370202"] == "市南区"
    sc.pon.target_ports = 0
    res = run(inp)
    assert res.olt_sites["district"].tolist() == ["市南区"]
    assert res.olt_sites[["lon", "lat"]].values.tolist() == [[120.0, 36.0]]
    assert res.totals["olt_sites"] == 1 and res.totals["olt_sites_new"] == 0


# --------------------------------------------------------------------------- hypothesis vs brute force

def brute_force(inp: PonInput) -> float | None:
    """Minimum capex by enumerating every single-sourced homing and every set of open sites."""
    s = inp.settings
    data = prepare(inp, surplus="none")
    Q, T = s.ports_per_chassis, s.target_ports
    cells = list(data.cells)
    options = [data.pairs[data.pairs["cell"] == i] for i in cells]
    if any(len(o) == 0 for o in options):
        return None
    m = inp.n_sites
    best = None
    for choice in itertools.product(*[list(o.index) for o in options]):
        rows = data.pairs.loc[list(choice)]
        fibre = float(rows["cost_cny"].sum())
        need = np.bincount(rows["site"].to_numpy(), weights=rows["a"].to_numpy(), minlength=m)
        used = need > 0
        used[rows["site"].to_numpy()] = True
        base = np.maximum(data.p0, np.ceil(need - 1e-9)).astype(int)
        if (base > data.cap_ports).any():
            continue
        free = [j for j in range(m) if not (used[j] or inp.existing[j])]
        for r in range(len(free) + 1):
            for extra_sites in itertools.combinations(free, r):
                S = [j for j in range(m) if used[j] or inp.existing[j] or j in extra_sites]
                h = {j: max(int(data.h0[j]), -(-int(base[j]) // Q)) for j in S}
                total = sum(int(base[j]) for j in S)
                extra = max(0, T - total)
                slack = sum(Q * h[j] - base[j] for j in S)
                add_ch = max(0, -(-(extra - slack) // Q))
                if add_ch > sum(int(data.chassis_max[j]) - h[j] for j in S):
                    continue
                cost = (s.olt_site_cost_cny * sum(1 for j in S if not inp.existing[j])
                        + s.chassis_cost_cny * (sum(h[j] - int(data.h0[j]) for j in S) + add_ch)
                        + s.port_cost_cny * (total - int(data.p0[S].sum()) + extra) + fibre)
                best = cost if best is None else min(best, cost)
    return best


@st.composite
def instances(draw):
    n = draw(st.integers(1, 4))
    m = draw(st.integers(1, 3))
    coord = st.integers(0, 12).map(lambda v: v * 1000.0)
    cells = [[draw(coord), draw(coord)] for _ in range(n)]
    sites = [[draw(coord), draw(coord)] for _ in range(m)]
    onts = [draw(st.sampled_from([0, 1, 40, 64, 65, 200, 700])) for _ in range(n)]
    stations = [draw(st.sampled_from([0, 0, 1, 3])) for _ in range(n)]
    if not any(onts) and not any(stations):
        onts[0] = 64
    clutter = [draw(st.sampled_from(CLUTTERS)) for _ in range(n)]
    existing = [draw(st.booleans()) for _ in range(m)]
    existing_ports = [draw(st.sampled_from([0, 3, 9])) if e else 0 for e in existing]
    Q = draw(st.sampled_from([4, 8]))
    M = draw(st.integers(1, 2))
    kw = dict(
        onts=onts, stations=stations, clutter=clutter, existing=existing, existing_ports=existing_ports,
        ports_per_chassis=Q, max_chassis_per_site=M, target_ports=draw(st.integers(0, Q * M * m + 2)),
        reach_km=draw(st.sampled_from([8.0, 20.0])), route_factor=draw(st.sampled_from([1.0, 1.4])),
        nearest_sites=draw(st.integers(1, 3)),
        split_ratio=ByClutter(*[draw(st.sampled_from([32, 64, 128])) for _ in CLUTTERS]),
        olt_site_cost_cny=draw(st.sampled_from([0.0, 300_000.0, 2_000_000.0])),
        chassis_cost_cny=draw(st.sampled_from([0.0, 150_000.0])),
        fiber_cost_cny_per_km=ByClutter(120_000.0, 90_000.0, 60_000.0, 40_000.0),
    )
    return make(cells, sites, **kw)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_random_instances_match_brute_force(inp):
    best = brute_force(inp)
    if best is None:
        with pytest.raises(InfeasibleError):
            solve_pon(inp, surplus="none", gap_rel=0.0, threads=1)
        return
    res = run(inp, surplus="none")
    assert res.totals["capex_cny"] == pytest.approx(best, rel=1e-7, abs=1e-3)
    # the fill (the default) re-places ports at no cost; headroom only adds constraints: never cheaper
    fill = run(inp)
    assert fill.totals["capex_cny"] == pytest.approx(best, rel=1e-7, abs=1e-3)
    res2 = run(inp, surplus="headroom")
    assert res2.totals["capex_cny"] >= best - 1e-3
    # split homing relaxes single sourcing: never dearer
    inp.settings.single_sourcing = False
    res3 = run(inp, surplus="none")
    assert res3.totals["capex_cny"] <= best + 1e-3


def test_qingdao_like_instance_size_and_invariants():
    from bench.bench_pon import synthetic_input

    sc = Scenario()
    sc.pon.optics_class = "E2"  # the synthetic candidates were spaced for a 20 km reach
    inp = synthetic_input(sc, edge_scale=2.5, candidates=110, existing=20, stations=300, onts_total=4e5)
    sc.pon.target_ports = 10_000
    data = prepare(inp)
    m = build_model(inp, data)
    n_pairs, n_sites = len(data.pairs), inp.n_sites
    assert n_pairs <= sc.pon.nearest_sites * len(data.cells)
    assert len(m.problem.variables()) == n_pairs + 3 * n_sites
    rows = [c.name for c in m.problem.constraints()] if callable(m.problem.constraints) else list(m.problem.constraints)
    assert len(rows) <= len(data.cells) + 2 * n_pairs + 4 * n_sites + int(inp.existing.sum()) + 1
    res = run(inp, gap_rel=0.001, threads=2)
    assert res.pon["surplus"]["g"] > 1.0 and res.totals["pon_ports"] >= 10_000
    assert res.pon["surplus"]["rule"] == "fill"
    assert res.solves[0].status == "optimal" and res.solves[0].gap <= 0.001


# --------------------------------------------------------------------------- the PON capex bound


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 400), min_size=1, max_size=5), st.floats(0.01, 30.0))
def test_in_cell_distribution_of_a_split_cell_is_never_less_than_whole(parts, area_km2):
    """Lines split over several OLTs pay at least the whole cell's in-cell distribution: the bound's D_in."""
    from rollout.model_odn import in_cell_distribution_km

    split = in_cell_distribution_km(np.array(parts), np.full(len(parts), area_km2), 1.4).sum()
    whole = in_cell_distribution_km(np.array([sum(parts)]), np.array([area_km2]), 1.4).sum()
    assert split >= whole - 1e-9


@pytest.fixture(scope="module")
def small_city(tmp_path_factory):
    from gis.build import layers_from_scenario
    from tests._gis_fixtures import second_city_scenario

    sc = second_city_scenario(tmp_path_factory.mktemp("city"), scenario={
        "radio": {"target_stations": 300}, "pon": {"target_ports": 600}, "solver": {"time_limit_s": 20}})
    return sc, layers_from_scenario(sc)


def test_odn_kit_by_hand():
    """Two cells, 1:8 x 1:8 (split 64), 16 primaries per cabinet, 12 CNY per output, cabinet 8,000 CNY (set here):
    100 lines -> secondaries ceil(100/8) = 13 x 8 = 104 outputs; 30 lines -> 4 x 8 = 32; primaries 8 x 130/64 =
    16.25 outputs; cabinets ceil(130/64/16) = 1. (104 + 32 + 16.25) x 12 + 8,000 = 9,827."""
    import dataclasses
    from types import SimpleNamespace

    from rollout.model_pon import odn_kit_cny
    from rollout.scenario import pon_split

    s = Scenario().pon
    s = dataclasses.replace(s, splitter_cost_cny_per_output=12.0, cabinet_cost_cny=8000.0, cabinet_ports=16)
    inp = SimpleNamespace(settings=s, onts=np.array([100.0, 30.0, 0.0]), clutter=np.array(["urban"] * 3, object))
    assert {pon_split(s, "urban").stages} == {(8, 8)}
    assert odn_kit_cny(inp) == pytest.approx((104 + 32 + 8 * 130 / 64) * 12 + 8000)
    assert odn_kit_cny(SimpleNamespace(settings=s, onts=np.zeros(2), clutter=inp.clutter[:2])) == 0.0


def test_pon_capex_bound_holds_for_plans_with_other_homings(small_city):
    """LB_PON = LP(equipment, homing free) + in-cell distribution is below the PON capex (ODN included, station
    backhaul excluded) of plans whose homing is pulled around by station backhaul, and D_in equals the plan's
    own in-cell distribution under single sourcing."""
    from rollout.model_pon import in_cell_distribution_cny, odn_kit_cny, plan_pon, pon_capex_bound

    sc, layers = small_city
    bound, stats, d_in = pon_capex_bound(layers, sc)
    assert stats.status == "optimal" and stats.part == "pon_bound" and bound is not None
    inp = PonInput.from_layers(layers, sc)
    assert d_in == pytest.approx(in_cell_distribution_cny(inp)) and d_in > 0
    rng = np.random.default_rng(1)
    n = len(layers.demand)
    for stations in (None, rng.integers(0, 6, n), np.where(rng.random(n) < 0.2, 30, 0)):
        res = plan_pon(layers, sc, backhaul_stations=stations)
        t = res.totals
        assert bound <= t["capex_cny"] - t.get("backhaul_cny", 0.0) + 1e-6
        links = res.links[res.links["kind"] == "distribution"]
        price = links["capex_cny"] / links["route_km"]
        assert (links["in_cell_km"] * price).sum() == pytest.approx(d_in, rel=1e-9)
        # the splitters and cabinets the lines need: never above what a plan's ODN has
        assert 0 < odn_kit_cny(inp) <= t["splitter_cny"] + t["cabinet_cny"] + 1e-6
