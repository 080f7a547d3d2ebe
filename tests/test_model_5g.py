"""5G siting model: tiny instances with known optima, invariants recomputed after every solve.

The invariants are recomputed from the coordinates and the result tables only
(never from solver objects): coverage from distances, station capacity from the
flows, traffic balance, target, district bounds, capex as the sum of its parts.
"""
from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd
import pulp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gis.errors import InfeasibleError, InputError
from gis.layers import Layers
from gis.pairs import pairs_within_radius
from rollout.model_5g import (DEFAULT_HEADROOM_STEPS, FAMILIES, STATION_COLUMNS, Siting5GInput, build_model, diagnose,
                              plan_5g, solve_5g)
from rollout.scenario import Scenario

MACRO = dict(capacity_mbps=2000.0, capex_cny=400_000.0)
SMALL = dict(capacity_mbps=300.0, capex_cny=60_000.0)
TOL = 1e-5


def make(cell_xy, radius, site_xy, traffic, *, pop=None, k=1, types=("macro",), max_per_site=1, existing=None,
         backhaul_km=None, backhaul_cost=0.0, target=0, surplus="none", cell_district=None, site_district=None,
         **kw) -> Siting5GInput:
    """An input from coordinates: pairs from the KD-tree, types from MACRO/SMALL or (cap, capex) tuples."""
    cell_xy = np.asarray(cell_xy, float).reshape(-1, 2)
    site_xy = np.asarray(site_xy, float).reshape(-1, 2)
    n, m = len(cell_xy), len(site_xy)
    radius = np.broadcast_to(np.asarray(radius, float), (n,)).copy()
    specs = [dict(MACRO) if t == "macro" else dict(SMALL) if t == "small" else
             dict(capacity_mbps=t[0], capex_cny=t[1]) for t in types]
    names = tuple(t if isinstance(t, str) else f"t{i}" for i, t in enumerate(types))
    mps = np.broadcast_to(np.asarray(max_per_site, np.int64), (m, len(types))).copy()
    return Siting5GInput(
        traffic_mbps=np.broadcast_to(np.asarray(traffic, float), (n,)).copy(),
        population=np.ones(n) if pop is None else np.broadcast_to(np.asarray(pop, float), (n,)).copy(),
        k_coverage=np.broadcast_to(np.asarray(k, np.int64), (n,)).copy(),
        pairs=pairs_within_radius(cell_xy, radius, site_xy),
        type_names=names,
        capacity_mbps=[s["capacity_mbps"] for s in specs], capex_cny=[s["capex_cny"] for s in specs],
        max_per_site=mps, existing=existing, backhaul_km=backhaul_km, backhaul_cost_cny_per_km=backhaul_cost,
        target_stations=target, surplus=surplus, cell_district=cell_district, site_district=site_district,
        cell_xy=cell_xy, site_xy=site_xy, cell_radius_m=radius, **kw)


def check_invariants(inp: Siting5GInput, res) -> None:
    """Recompute every invariant from coordinates and the result tables."""
    st_ = res.stations
    assert list(st_.columns) == STATION_COLUMNS + ["geometry"]
    assert (st_["count"] > 0).all()
    site_row = {sid: j for j, sid in enumerate(inp.site_ids)}
    type_row = {t: i for i, t in enumerate(inp.type_names)}
    total = np.zeros((inp.n_sites, len(inp.type_names)), np.int64)
    new = np.zeros_like(total)
    for r in st_.itertuples():
        j, t = site_row[r.site_id], type_row[r.type]
        total[j, t] += r.count
        if r.new:
            new[j, t] += r.count
    # brownfield kept, bounds respected
    np.testing.assert_array_equal(total - new, inp.existing)
    assert (total <= np.maximum(inp.max_per_site, inp.existing)).all()
    # coverage, from distances recomputed from the coordinates
    d = np.hypot(*(inp.cell_xy[:, None, :] - inp.site_xy[None, :, :]).transpose(2, 0, 1))
    within = (d <= inp.cell_radius_m[:, None] + 1e-6)
    count_within = within @ total.sum(axis=1)
    need = (inp.population > 0) & (inp.k_coverage > 0)
    assert (count_within[need] >= inp.k_coverage[need]).all(), "coverage violated"
    np.testing.assert_array_equal(res.cells["stations_within"].to_numpy(), count_within)
    # flows: only within radius, per cell = traffic x headroom, per site <= capacity
    fl = res.flows
    if len(fl):
        assert within[fl["cell"].to_numpy(), fl["site"].to_numpy()].all(), "flow outside radius"
    dim = np.bincount(fl["cell"], weights=fl["flow_mbps"], minlength=inp.n_cells) if len(fl) else np.zeros(inp.n_cells)
    h = res.cells["headroom"].to_numpy()
    assert (h >= 1 - TOL).all()
    np.testing.assert_allclose(dim, inp.traffic_mbps * h, rtol=1e-6, atol=1e-4)
    carried = np.bincount(fl["cell"], weights=fl["carried_mbps"], minlength=inp.n_cells) if len(fl) else np.zeros(inp.n_cells)
    np.testing.assert_allclose(carried, inp.traffic_mbps, rtol=1e-6, atol=1e-4)
    cap = total @ inp.capacity_mbps
    load = np.bincount(fl["site"], weights=fl["flow_mbps"], minlength=inp.n_sites) if len(fl) else np.zeros(inp.n_sites)
    assert (load <= cap * (1 + 1e-7) + 1e-4).all(), "station over capacity"
    assert (st_["utilisation"] <= 1 + 1e-6).all()
    # target and district bounds
    assert total.sum() >= inp.target_stations
    assert res.total_stations == total.sum() and res.new_stations == new.sum()
    by_d = pd.Series(total.sum(axis=1)).groupby(inp.site_district).sum()
    for dist, lo in inp.district_min.items():
        assert by_d.get(dist, 0) >= lo
    for dist, hi in inp.district_max.items():
        assert by_d.get(dist, 0) <= hi
    # capex: each row, and the totals, are the sum of their parts
    unit = inp.capex_cny[[type_row[t] for t in st_["type"]]]
    km = inp.backhaul_km[[site_row[s] for s in st_["site_id"]]]
    exp_equip = np.where(st_["new"], st_["count"] * unit, 0.0)
    per_km = km * inp.backhaul_cost_cny_per_km
    pon = inp.backhaul_carrier
    if pon is not None:   # the plan's carrier rule, by hand: PON within reach, else or if dearer the ring
        assert pon.backhaul_carrier == "cheapest"
        from rollout.scenario import pon_reach_km

        ring = pon.ring_cost_cny_per_site + pon.ring_cost_cny_per_km * km
        carried = np.where(km <= pon_reach_km(pon) + 1e-9, np.minimum(per_km, ring), ring)
        per_km = np.where(inp.backhaul_spur[[site_row[s] for s in st_["site_id"]]], per_km, carried)
    exp_bh = np.where(st_["new"], st_["count"] * per_km, 0.0)
    np.testing.assert_allclose(st_["equipment_cny"], exp_equip)
    np.testing.assert_allclose(st_["backhaul_cny"], exp_bh)
    np.testing.assert_allclose(st_["capex_cny"], exp_equip + exp_bh)
    assert res.capex_cny == pytest.approx(st_["capex_cny"].sum())
    assert res.capex_cny == pytest.approx(res.equipment_cny + res.backhaul_cny)
    assert res.capex_cny == pytest.approx((new * inp.station_cost_cny).sum())
    final = res.solves[-1]
    assert final.part == "5g"
    if res.filler_stations:   # the filler is placed after the solve: the solver's capex leaves it out
        assert final.objective < res.capex_cny
    else:
        assert final.objective == pytest.approx(res.capex_cny, rel=1e-9, abs=1e-3)


def solve_checked(inp, **kw):
    res = solve_5g(inp, **kw)
    check_invariants(inp, res)
    return res


LINE = dict(cell_xy=[[0, 0], [1000, 0], [2000, 0]], radius=600.0, site_xy=[[500, 0], [1500, 0]])


# --------------------------------------------------------------------------- known optima

def test_three_cells_on_a_line_need_both_sites():
    inp = make(**LINE, traffic=100.0)
    res = solve_checked(inp)
    assert res.status == "optimal"
    assert res.total_stations == 2 and res.capex_cny == 800_000
    assert set(res.stations["site_id"]) == {"s0", "s1"}
    assert res.cells["stations_within"].tolist() == [1, 2, 1]


def test_one_central_site_beats_two_cheaper_ones():
    # s1 at the centre reaches all three cells; it costs 150k vs 2 x 100k at the ends
    inp = make([[0, 0], [1000, 0], [2000, 0]], 1100.0, [[0, 0], [1000, 0], [2000, 0]], 10.0,
               types=((1000.0, 100_000.0),), backhaul_km=[0.0, 1.0, 0.0], backhaul_cost=50_000.0)
    res = solve_checked(inp)
    assert res.stations["site_id"].tolist() == ["s1"] and res.capex_cny == 150_000
    assert res.backhaul_cny == 50_000 and res.stations["backhaul_km"].tolist() == [1.0]


def test_capacity_forces_a_second_station():
    inp = make([[0, 0]], 500.0, [[100, 0], [-100, 0]], 1500.0, types=((1000.0, 100.0),))
    res = solve_checked(inp)
    assert res.total_stations == 2 and res.capex_cny == 200
    assert res.sites["carried_mbps"].sum() == pytest.approx(1500.0)
    # the same with room for two at one site: two stations there (s0 is cheaper by backhaul)
    inp = make([[0, 0]], 500.0, [[100, 0], [-100, 0]], 1500.0, types=((1000.0, 100.0),), max_per_site=2,
               backhaul_km=[0.0, 1.0], backhaul_cost=10.0)
    res = solve_checked(inp)
    assert res.stations[["site_id", "count"]].values.tolist() == [["s0", 2]]


@pytest.mark.parametrize("traffic, expected", [
    (500.0, {"small": 2}),            # 2 x 60k < 400k
    (1000.0, {"macro": 1}),           # 3 small carry only 900
    (2100.0, {"macro": 1, "small": 1}),
])
def test_macro_versus_small_cost_tradeoff(traffic, expected):
    inp = make([[0, 0]], 300.0, [[0, 0]], traffic, types=("macro", "small"), max_per_site=[1, 3])
    res = solve_checked(inp)
    got = res.stations.groupby("type")["count"].sum().to_dict()
    assert got == expected
    cost = {"macro": 400_000, "small": 60_000}
    assert res.capex_cny == sum(cost[t] * c for t, c in expected.items())


def test_backhaul_distance_picks_the_nearer_site():
    inp = make([[0, 0]], 500.0, [[200, 0], [-200, 0]], 100.0, backhaul_km=[3.0, 0.5], backhaul_cost=80_000.0,
               site_backhaul_to=["o1", "o2"])
    res = solve_checked(inp)
    row = res.stations.iloc[0]
    assert row.site_id == "s1" and row.backhaul_to == "o2"
    assert row.capex_cny == pytest.approx(400_000 + 0.5 * 80_000)


def test_target_forces_extra_stations_at_the_cheapest_sites_without_surplus_rule():
    inp = make(**LINE, traffic=100.0, max_per_site=3, backhaul_km=[0.0, 1.0], backhaul_cost=1000.0, target=5)
    res = solve_checked(inp)
    assert res.total_stations == 5
    # two for coverage, the three extra where cheapest: s0 fills up (3), s1 keeps 1 -> 4 x 400k + 1 x 401k
    assert res.stations.set_index("site_id")["count"].to_dict() == {"s0": 3, "s1": 2} or \
        res.stations.set_index("site_id")["count"].to_dict() == {"s0": 3, "s1": 2}
    assert res.capex_cny == pytest.approx(5 * 400_000 + 2 * 1000)
    assert [s.part for s in res.solves] == ["5g"]


def test_brownfield_is_kept_free_and_counted():
    existing = np.array([[1], [0]])
    inp = make(**LINE, traffic=100.0, existing=existing, target=2)
    res = solve_checked(inp)
    rows = res.stations.set_index("site_id")
    assert bool(rows.loc["s0", "new"]) is False and rows.loc["s0", "capex_cny"] == 0
    assert bool(rows.loc["s1", "new"]) is True
    assert res.total_stations == 2 and res.new_stations == 1 and res.existing_stations == 1
    assert res.capex_cny == 400_000
    # brownfield alone meets a target of 1 for coverage of cells 0..1; cell 2 still needs s1
    inp = make(**LINE, traffic=100.0, existing=existing, target=1)
    assert solve_checked(inp).new_stations == 1


def test_existing_and_new_of_one_type_at_one_site_are_two_rows():
    inp = make([[0, 0]], 300.0, [[0, 0]], 3500.0, max_per_site=2, existing=[[1]])
    res = solve_checked(inp)
    assert res.stations[["type", "count", "new"]].values.tolist() == [["macro", 1, False], ["macro", 1, True]]
    assert res.stations["utilisation"].tolist() == pytest.approx([0.875, 0.875])


def test_district_floor_and_ceiling():
    cells = [[0, 0], [5000, 0]]
    sites = [[0, 0], [100, 0], [5000, 0]]
    base = dict(cell_district=["A", "B"], site_district=["A", "A", "B"], max_per_site=1)
    res = solve_checked(make(cells, 300.0, sites, 10.0, **base, district_min={"A": 2}))
    assert res.stations.groupby("district_id")["count"].sum().to_dict() == {"A": 2, "B": 1}
    res = solve_checked(make(cells, 300.0, sites, 10.0, **base, target=3, district_max={"B": 1}))
    assert res.stations.groupby("district_id")["count"].sum().to_dict() == {"A": 2, "B": 1}


def test_k_coverage_two_needs_two_stations_within_radius():
    inp = make([[0, 0]], 500.0, [[100, 0], [-100, 0], [0, 450]], 10.0, k=2, backhaul_km=[0, 1, 2],
               backhaul_cost=1.0)
    res = solve_checked(inp)
    assert sorted(res.stations["site_id"]) == ["s0", "s1"]
    assert res.cells["stations_within"].tolist() == [2] and bool(res.cells["k_met"].iloc[0])


def test_unpopulated_cells_need_no_coverage_but_their_traffic_is_carried():
    inp = make([[0, 0], [3000, 0]], 300.0, [[0, 0], [3000, 0]], [0.0, 50.0], pop=[0.0, 0.0])
    res = solve_checked(inp)
    assert res.stations["site_id"].tolist() == ["s1"]


def test_highs_finds_the_same_optimum():
    inp = make([[0, 0]], 300.0, [[0, 0]], 2100.0, types=("macro", "small"), max_per_site=[1, 3])
    a = solve_checked(inp, solver="cbc")
    b = solve_checked(inp, solver="highs")
    assert a.capex_cny == b.capex_cny == 460_000
    assert b.solves[-1].name == "highs" and b.status == "optimal"


# --------------------------------------------------------------------------- surplus rule

def _busy_and_empty(surplus, rule="fair", target=4):
    """A busy cell B (1800 Mbit/s) with three candidate sites 2 km of backhaul away, a quiet cell Q
    (10 Mbit/s) and three sites on empty land with no backhaul cost."""
    cells = [[0, 0], [5000, 0]]                  # B, Q
    sites = [[0, 0], [100, 0], [-100, 0],        # near B
             [5000, 0],                          # Q's own site
             [9000, 0], [9100, 0], [9200, 0]]    # empty land, reaches nobody
    return make(cells, 300.0, sites, [1800.0, 10.0], types=("macro",), max_per_site=1,
                backhaul_km=[2, 2, 2, 0, 0, 0, 0], backhaul_cost=50_000.0, target=target, surplus=surplus,
                headroom_rule=rule)


def test_surplus_none_puts_extra_stations_on_cheap_empty_land():
    inp = _busy_and_empty("none")
    res = solve_checked(inp)
    near_b = res.cells["stations_within"].iloc[0]
    assert near_b == 1                                   # B keeps one macro
    assert res.stations["site_id"].isin(["s4", "s5", "s6"]).sum() == 2
    assert res.headroom_min == pytest.approx(1.0)


def test_surplus_headroom_puts_extra_stations_at_the_busiest_cell():
    inp = _busy_and_empty("headroom")
    res = solve_checked(inp)
    assert [s.part for s in res.solves] == ["5g_headroom", "5g"]
    assert res.total_stations == 4 and res.surplus_applied
    assert res.cells["stations_within"].iloc[0] == 3     # both extras relieve B
    assert not res.stations["site_id"].isin(["s4", "s5", "s6"]).any()
    b = res.cells.iloc[0]
    assert b["headroom"] == pytest.approx(min(3.0, 6000 / 1800), rel=1e-4)  # all three macros work for B, up to the h = 3 cap
    assert res.stations.set_index("site_id").loc["s0", "utilisation"] < 0.5
    # and it costs more than the cheap-land plan: the price of putting them where they help
    assert res.capex_cny > solve_5g(_busy_and_empty("none")).capex_cny


def test_headroom_at_the_cap_is_stage_one_in_closed_form(monkeypatch):
    """B at the cap h = 3 needs 3 macros (5,400 of 6,000 Mbit/s), Q one: 4 stations = the target. Stage 1's
    maximum is then reached, so it is not solved, and the plan is the one both stages give."""
    import rollout.model_5g as m5

    res = solve_checked(_busy_and_empty("headroom"))
    st1 = res.solves[0]
    assert (st1.part, st1.name, st1.status, st1.gap) == ("5g_headroom", "closed form", "optimal", 0.0)
    assert st1.objective == pytest.approx(1810.0 * (0.25 + 0.125 + 0.125 + 0.125))   # Σ t_i Σ_s w_s Δ_s
    monkeypatch.setattr(m5, "_at_the_cap", lambda inp, kw: None)
    both = solve_checked(_busy_and_empty("headroom"))
    assert both.solves[0].name == "cbc" and both.solves[0].objective == pytest.approx(st1.objective, rel=1e-6)
    assert sorted(both.stations["site_id"]) == sorted(res.stations["site_id"])
    assert both.capex_cny == pytest.approx(res.capex_cny)
    np.testing.assert_allclose(both.headroom_floor, res.headroom_floor, rtol=1e-5)
    # one station short of the cap's need: stage 1 is solved
    short = solve_checked(_busy_and_empty("headroom", target=3))
    assert short.solves[0].name == "cbc" and short.headroom_min < 3.0


def test_a_coverage_layer_above_the_target_skips_the_headroom_stage():
    """Two stations fixed by the coverage layer against a target of 1: stage 1 (Σ x ≤ N, x ≥ F) has no solution,
    known without a solve; the cost model decides, as it does after a solved infeasible stage 1."""
    forced = np.zeros((7, 1), np.int64)
    forced[[0, 3], 0] = 1
    res = solve_checked(dataclasses.replace(_busy_and_empty("headroom", target=1), forced_new=forced))
    st1 = res.solves[0]
    assert (st1.part, st1.name, st1.status) == ("5g_headroom", "closed form", "infeasible")
    assert "not binding" in st1.notes and not res.surplus_applied
    plain = solve_checked(dataclasses.replace(_busy_and_empty("none", target=1), forced_new=forced))
    assert sorted(res.stations["site_id"]) == sorted(plain.stations["site_id"])
    assert res.capex_cny == pytest.approx(plain.capex_cny)


def test_target_not_binding_falls_back_to_the_cost_model():
    inp = _busy_and_empty("headroom", target=1)
    res = solve_checked(inp)
    # the headroom stage proves that 1 station cannot carry the traffic; the cost model then decides
    assert [s.part for s in res.solves] == ["5g_headroom", "5g"] and not res.surplus_applied
    assert res.solves[0].status == "infeasible" and "not binding" in res.solves[0].notes
    assert res.total_stations == 2


def test_fair_headroom_beats_uniform_headroom_when_one_cell_is_a_bottleneck():
    """Cell A (1500) has a single one-macro site: any uniform multiplier stops at 2000/1500.
    With the uniform rule, stations beyond what h = 1.33 needs go to the cheapest land again;
    the fair (per-cell concave) rule still sends them to the busy cell B."""
    cells = [[0, 0], [5000, 0]]                          # A (bottleneck), B (busy, three sites)
    sites = [[0, 0], [5000, 0], [5100, 0], [4900, 0], [9000, 0], [9100, 0]]
    kw = dict(types=("macro",), max_per_site=1, backhaul_km=[0, 2, 2, 2, 0, 0], backhaul_cost=50_000.0,
              target=4, surplus="headroom")
    uni = solve_checked(make(cells, 300.0, sites, [1500.0, 1500.0], headroom_rule="uniform", **kw))
    fair = solve_checked(make(cells, 300.0, sites, [1500.0, 1500.0], headroom_rule="fair", **kw))
    assert uni.headroom_min == pytest.approx(2000 / 1500, rel=1e-4)
    assert uni.stations["site_id"].isin(["s4", "s5"]).sum() == 2     # surplus on empty land
    assert fair.stations["site_id"].isin(["s4", "s5"]).sum() == 0
    assert fair.cells["stations_within"].tolist() == [1, 3]
    assert fair.headroom_weighted > uni.headroom_weighted


# --------------------------------------------------------------------------- diagnosis

def _raises(inp, family):
    with pytest.raises(InfeasibleError) as e:
        diagnose(inp)
    assert e.value.family == family and e.value.exit_code == 3
    with pytest.raises(InfeasibleError) as e2:
        solve_5g(inp)
    assert e2.value.family == family
    return e.value


def test_diagnose_target_above_all_slots():
    err = _raises(make(**LINE, traffic=1.0, target=3), "target_total")
    assert "3" in str(err) and "2" in str(err)


def test_diagnose_cell_without_candidate_names_cell_and_district():
    inp = make([[0, 0], [9000, 0]], 300.0, [[0, 0]], 1.0, cell_district=["370202", "370283"],
               cell_ids=["hexA", "hexB"])
    err = _raises(inp, "coverage")
    assert "hexB" in str(err) and "370283" in str(err) and err.items == ["hexB"]


def test_diagnose_k_above_reachable_slots():
    err = _raises(make([[0, 0]], 300.0, [[0, 0]], 1.0, k=2), "coverage")
    assert "fewer station slots" in str(err)


def test_diagnose_district_floor_above_capacity_and_above_ceiling():
    base = dict(site_district=["A", "B"], traffic=1.0)
    err = _raises(make(**LINE, **base, district_min={"B": 2}), "district_min")
    assert "B" in err.items and "slots" in str(err)
    err = _raises(make(**LINE, **base, max_per_site=3, district_min={"A": 2}, district_max={"A": 1}),
                  "district_min")
    assert "above ceiling" in str(err) and err.items == ["A"]


def test_diagnose_brownfield_above_ceiling():
    err = _raises(make(**LINE, traffic=1.0, site_district=["A", "B"], existing=[[1], [0]], district_max={"A": 0}),
                  "district_max")
    assert err.items == ["A"]


def test_diagnose_traffic_above_reachable_capacity_names_the_cell():
    inp = make([[0, 0], [2000, 0]], 300.0, [[0, 0], [2000, 0]], [2500.0, 100.0], cell_district=["D1", "D2"])
    err = _raises(inp, "capacity_assign")
    assert "c0" in str(err) and "D1" in str(err) and "2,500" in str(err) and err.items == ["c0"]


# --------------------------------------------------------------------------- infeasible solves

def test_infeasible_solve_names_the_capacity_families_and_the_cells():
    # each cell alone fits under one macro, but they share the only site (Hall's condition fails)
    inp = make([[0, 0], [200, 0]], 300.0, [[100, 0]], [1500.0, 1500.0])
    diagnose(inp)                                              # passes: each cell <= 2000
    with pytest.raises(InfeasibleError) as e:
        solve_5g(inp)
    assert e.value.family == "station_capacity+capacity_assign"
    assert set(e.value.items) <= {"c0", "c1"} and e.value.items
    assert "Mbit/s unserved" in str(e.value)


def test_infeasible_solve_names_coverage_against_a_district_ceiling():
    inp = make(**LINE, traffic=1.0, site_district=["A", "B"], district_max={"B": 0})
    with pytest.raises(InfeasibleError) as e:
        solve_5g(inp)
    assert e.value.family == "district_max+coverage"
    assert e.value.items == ["c2"]


def test_infeasible_from_integrality_only_is_found_on_the_integer_model():
    # three cells of 100 Mbit/s, each reaching only its own small-cell site (300 Mbit/s): the LP needs
    # 3 x 1/3 = 1 station, integers need 3; the district ceiling of 2 sits in between
    inp = make([[0, 0], [2000, 0], [4000, 0]], 300.0, [[0, 0], [2000, 0], [4000, 0]], 100.0, pop=0.0,
               types=((300.0, 1.0),), site_district=["A"] * 3, district_max={"A": 2})
    diagnose(inp)
    with pytest.raises(InfeasibleError) as e:
        solve_5g(inp)
    assert e.value.family == "district_max+station_capacity+capacity_assign"
    assert "integer model" in str(e.value) and len(e.value.items) == 1


# --------------------------------------------------------------------------- solver honesty

def _hard(seed=2, n=800, m=400):
    rng = np.random.default_rng(seed)
    cxy = rng.uniform(0, 10_000, (n, 2))
    sxy = rng.uniform(0, 10_000, (m, 2))
    r = 10_000 * np.sqrt(10 / (np.pi * m))
    pairs = pairs_within_radius(cxy, np.full(n, r), sxy)
    reach = np.bincount(pairs["cell"], minlength=n)
    return Siting5GInput(traffic_mbps=rng.uniform(0, 600, n) * (reach > 0), population=(reach > 0) * 1.0,
                         k_coverage=np.minimum(1, reach), pairs=pairs, type_names=("macro",),
                         capacity_mbps=[1000.0], capex_cny=[100_000.0], max_per_site=np.ones((m, 1), int),
                         backhaul_km=rng.uniform(0, 5, m), backhaul_cost_cny_per_km=50_000.0, surplus="none",
                         cell_xy=cxy, site_xy=sxy, cell_radius_m=np.full(n, r))


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_time_limited_solve_reports_feasible_with_gap_and_bound(solver):
    inp = _hard()
    res = solve_5g(inp, solver=solver, time_limit_s=1.5, gap_rel=0.0)
    s = res.solves[-1]
    assert s.status == "feasible" and res.status == "feasible"
    assert s.bound is not None and s.bound < s.objective
    assert 0 < s.gap < 0.2
    check_invariants(inp, res)


# --------------------------------------------------------------------------- model construction

def test_constraint_families_and_names():
    inp = make(**LINE, traffic=[100.0, 2500.0, 100.0], types=("macro", "small"), max_per_site=[1, 3],
               site_district=["A", "B"], target=3, district_min={"A": 1}, district_max={"B": 4})
    m = build_model(inp)
    names = [c.name for c in m.problem.constraints()]
    prefixes = {n.rsplit("_", 1)[0] for n in names}
    assert prefixes == {"coverage", "capacity_assign", "station_capacity", "target_total", "district_min",
                        "district_max", "capacity_cover300", "capacity_cover2000"}
    assert sum(n.startswith("coverage_") for n in names) == 3
    # rows per family as built, in registry order
    assert list(m.rows) == [f.name for f in FAMILIES]
    assert m.rows["coverage"] == 3 and m.rows["target_cap"] == 0 and sum(m.rows.values()) == len(names)
    # sizes: 4 x (2 sites x 2 types), 4 flows (pairs with traffic)
    assert len(m.x) == 4 and len(m.a) == 4
    m2 = build_model(inp, objective="headroom")
    rows2 = {c.name for c in m2.problem.constraints()}
    assert m2.problem.sense == pulp.LpMaximize and "target_cap_0" in rows2 and "target_total_0" not in rows2
    assert len(m2.g) == 3 * len(DEFAULT_HEADROOM_STEPS)              # 3 cells x the segments
    # every family is explained except the cuts and the headroom stage's cap
    assert {f.name for f in FAMILIES if f.rank is not None} == {
        "coverage", "capacity_assign", "station_capacity", "target_total", "district_min", "district_max"}
    assert sorted(f.rank for f in FAMILIES if f.rank is not None) == list(range(6))


def test_capacity_cover_cuts_keep_the_optimum_and_raise_the_lp_bound():
    inp = make([[0, 0], [2000, 0]], 300.0, [[0, 0], [2000, 0]], [600.0, 2500.0], types=("macro", "small"),
               max_per_site=[1, 3], backhaul_km=[1.0, 1.0], backhaul_cost=300_000.0)
    from rollout.solve import solve
    lp = {}
    for cuts in (False, True):
        m = build_model(inp, relax=True, cover_cuts=cuts)
        lp[cuts] = solve(m.problem, part="t").objective
    assert lp[True] > lp[False] * 1.2
    m = build_model(inp, cover_cuts=False)
    st_plain = solve(m.problem, part="t")
    assert st_plain.objective == pytest.approx(solve_5g(inp).capex_cny)


def test_build_is_sparse():
    rng = np.random.default_rng(0)
    n, m = 6000, 3000
    cxy = rng.uniform(0, 30_000, (n, 2))
    sxy = rng.uniform(0, 30_000, (m, 2))
    inp = make(cxy, 700.0, sxy, rng.uniform(0, 500, n), types=("macro", "small"), max_per_site=[1, 3])
    mod = build_model(inp)
    pairs = len(inp.usable_pairs())
    assert mod.nonzeros < 12 * pairs + 10 * n                      # linear in the pair table, not n x m
    assert len(mod.a) == int((inp.traffic_mbps[inp.pairs["cell"]] > 0).sum())


def test_same_input_same_plan():
    inp = _busy_and_empty("headroom", target=5)
    a, b = solve_5g(inp), solve_5g(inp)
    pd.testing.assert_frame_equal(pd.DataFrame(a.stations.drop(columns="geometry")),
                                  pd.DataFrame(b.stations.drop(columns="geometry")))
    pd.testing.assert_frame_equal(a.flows, b.flows)


def test_bad_input_is_an_input_error():
    with pytest.raises(InputError, match="population"):
        Siting5GInput(traffic_mbps=[1.0, 2.0], population=[1.0], k_coverage=[1, 1],
                      pairs=pd.DataFrame({"cell": [0], "site": [0], "dist_m": [0.0]}), type_names=("macro",),
                      capacity_mbps=[1.0], capex_cny=[1.0], max_per_site=[[1]])
    with pytest.raises(InputError, match="surplus"):
        make(**LINE, traffic=1.0, surplus="cheap")


# --------------------------------------------------------------------------- from layers

def _layers():
    cells = pd.DataFrame({"cell_id": ["h0", "h1", "h2"], "district_id": ["370202", "370202", "370283"],
                          "traffic_mbps": [200.0, 900.0, 50.0], "population": [1000.0, 3000.0, 100.0],
                          "clutter": ["dense_urban", "urban", "rural"], "radius_m": [250.0, 450.0, 2500.0],
                          "k_coverage": [1, 1, 1], "x_m": [0.0, 1000.0, 10_000.0], "y_m": [0.0, 0.0, 0.0],
                          "lon": [120.38, 120.39, 120.49], "lat": [36.07, 36.07, 36.07]})
    cands = pd.DataFrame({"site_id": ["a", "b", "c"], "district_id": ["370202", "370202", "370283"],
                          "clutter": ["dense_urban", "urban", "rural"], "x_m": [0.0, 1000.0, 10_500.0],
                          "y_m": [0.0, 0.0, 0.0], "lon": [120.38, 120.39, 120.495], "lat": [36.07, 36.07, 36.07],
                          "source": "grid", "existing_macro": [0, 0, 1], "existing_small": [0, 0, 0]})
    offices = pd.DataFrame({"office_id": ["o1", "o2"], "x_m": [0.0, 10_000.0], "y_m": [3000.0, 0.0],
                            "district_id": ["370202", "370283"]})
    to_gdf = lambda df: gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]) if "lon" in df
                                         else gpd.points_from_xy(df["x_m"], df["y_m"]), crs=4326)
    pairs = pairs_within_radius(cells[["x_m", "y_m"]].to_numpy(), cells["radius_m"].to_numpy(),
                                cands[["x_m", "y_m"]].to_numpy())
    districts = gpd.GeoDataFrame({"district_id": ["370202", "370283"], "name_en": ["Shinan", "Pingdu"]},
                                 geometry=gpd.points_from_xy([120.38, 119.96], [36.07, 36.79]), crs=4326)
    return Layers(districts=districts, demand=to_gdf(cells), candidates=to_gdf(cands), offices=to_gdf(offices),
                  pairs=pairs, hotspots=gpd.GeoDataFrame(geometry=[], crs=4326), crs_metric="EPSG:32651",
                  demand_source="test")


def test_from_layers_types_clutter_brownfield_and_backhaul():
    sc = Scenario()
    sc.radio.target_stations = 0
    sc.radio.coverage_types = []      # hand-made cells, not H3: planning-point coverage only
    inp = Siting5GInput.from_layers(_layers(), sc)
    assert inp.type_names == ("macro", "small")
    # small cells only where the clutter allows them
    np.testing.assert_array_equal(inp.max_per_site, [[1, 1], [1, 1], [1, 0]])
    np.testing.assert_array_equal(inp.existing, [[0, 0], [0, 0], [1, 0]])
    # straight distance to the nearest office x route factor
    np.testing.assert_allclose(inp.backhaul_km, np.array([3.0, np.hypot(1, 3), 0.5]) * sc.pon.route_factor)
    assert inp.site_backhaul_to.tolist() == ["o1", "o1", "o2"]
    res = plan_5g(_layers(), sc)
    check_invariants(inp, res)
    s = res.stations.set_index(["site_id", "new"])
    assert s.loc[("c", False), "count"] == 1 and s.loc[("c", False), "capex_cny"] == 0
    assert s.loc[("a", True), "type"] == "small" and s.loc[("a", True), "district"] == "Shinan"
    assert res.stations.crs.to_epsg() == 4326
    assert res.stations.geometry.x.tolist() == res.stations["lon"].tolist()
    assert res.cells["covered"].all()
    # the plan's carrier rule by default (check_invariants recomputed it by hand above); fibre at the bound's prices
    # (km already fibre-equivalent) and in budget mode (every station's own fibre route)
    assert inp.backhaul_carrier is sc.pon
    assert Siting5GInput.from_layers(_layers(), sc, carrier=False).backhaul_carrier is None
    for kw in (dict(bound_prices=True), dict(carrier=False)):
        fibre = plan_5g(_layers(), sc, **kw).stations
        new = fibre[fibre["new"]]
        np.testing.assert_allclose(new["backhaul_cny"], new["count"] * new["backhaul_km"] * 80_000.0)


# --------------------------------------------------------------------------- random instances

@st.composite
def instances(draw):
    n = draw(st.integers(1, 7))
    m = draw(st.integers(1, 6))
    coord = st.floats(0, 3000, allow_nan=False, allow_infinity=False)
    cxy = np.array([[draw(coord), draw(coord)] for _ in range(n)])
    sxy = np.array([[draw(coord), draw(coord)] for _ in range(m)])
    radius = np.array([draw(st.sampled_from([400.0, 900.0, 1500.0])) for _ in range(n)])
    traffic = np.array([draw(st.sampled_from([0.0, 50.0, 400.0, 1200.0, 2600.0])) for _ in range(n)])
    pop = np.array([draw(st.sampled_from([0.0, 100.0])) for _ in range(n)])
    k = np.array([draw(st.integers(0, 2)) for _ in range(n)])
    mps = np.array([[draw(st.integers(0, 2)), draw(st.integers(0, 3))] for _ in range(m)])
    existing = np.array([[draw(st.integers(0, 1)), 0] for _ in range(m)])
    district = np.array([draw(st.sampled_from(["A", "B"])) for _ in range(m)])
    return make(cxy, radius, sxy, traffic, pop=pop, k=k, types=("macro", "small"), max_per_site=mps,
                existing=existing, backhaul_km=np.round(sxy[:, 0] / 1000, 3), backhaul_cost=50_000.0,
                target=draw(st.integers(0, 12)), surplus=draw(st.sampled_from(["headroom", "none"])),
                headroom_rule=draw(st.sampled_from(["fair", "uniform"])), site_district=district,
                district_max=draw(st.sampled_from([{}, {"A": 4}])))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_random_instances_keep_every_invariant(inp):
    try:
        res = solve_5g(inp)
    except InfeasibleError as e:
        assert e.family and e.exit_code == 3
        return
    assert res.status == "optimal"
    check_invariants(inp, res)
    if res.surplus_applied:
        assert res.total_stations >= inp.target_stations


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_capacity_cover_cuts_never_cut_off_the_optimum(inp):
    from rollout.solve import solve

    inp.surplus = "none"
    try:
        diagnose(inp)
    except InfeasibleError:
        return
    objs = []
    for cuts in (False, True):
        m = build_model(inp, cover_cuts=cuts)
        s = solve(m.problem, part="t", gap_rel=0.0)
        objs.append(s.objective if s.status == "optimal" else s.status)
    if isinstance(objs[0], float):
        assert objs[1] == pytest.approx(objs[0], rel=1e-9, abs=1e-3)
    else:
        assert objs[0] == objs[1]


def test_reusing_the_headroom_floor_gives_the_same_plan_with_one_solve():
    inp = _busy_and_empty("headroom")
    first = solve_checked(inp)
    again = solve_5g(inp, headroom_floor=first.headroom_floor)
    assert [s.part for s in again.solves] == ["5g"]
    assert again.capex_cny == pytest.approx(first.capex_cny)
    check_invariants(inp, again)


def test_one_unit_type_per_position():
    """With a ``type`` column every candidate position holds one unit of its own type, and nothing else."""
    lay = _layers()
    lay.candidates["type"] = ["small", "macro", "macro"]
    sc = Scenario()
    sc.radio.target_stations = 0
    sc.radio.coverage_types = []      # hand-made cells, not H3: planning-point coverage only
    inp = Siting5GInput.from_layers(lay, sc)
    np.testing.assert_array_equal(inp.max_per_site, [[0, 1], [1, 0], [1, 0]])
    res = plan_5g(lay, sc)
    assert (res.stations["count"] == 1).all()
    assert not res.stations.duplicated(["site_id"]).any()


def test_small_cell_positions_are_priced_as_a_spur_to_the_nearest_fixed_macro_site():
    """Hand-computed: macro positions at 0 and 5 km (the first fixed by the coverage layer), small-cell positions at
    0.3 and 4.8 km, every own route 10 km. The small cells' price is the spur to the fixed macro site (straight x
    route factor 1.4: 0.42 and 6.72 km), never to the open candidate at 5 km."""
    from rollout.model_5g import with_spur_backhaul

    radio = Scenario().radio
    xy = [(0, 0), (5000, 0), (300, 0), (4800, 0)]
    inp = make([(0, 0)], 1000.0, xy, 0.0, types=("macro", "small"),
               max_per_site=[[1, 0], [1, 0], [0, 1], [0, 1]], backhaul_km=[10.0, 10.0, 10.0, 10.0],
               backhaul_cost=80_000.0, target=2, forced_new=np.array([[1, 0], [0, 0], [0, 0], [0, 0]]))
    out = with_spur_backhaul(inp, radio, 1.4)
    np.testing.assert_allclose(out.backhaul_km, [10.0, 10.0, 0.42, 6.72])
    assert list(out.site_backhaul_to[2:]) == [inp.site_ids[0]] * 2
    assert out.backhaul_spur.tolist() == [False, False, True, True]   # priced at the fibre rate, whatever the carrier
    # the plan always prices the spur, so a shorter own route is replaced; the bound's prices keep the shorter
    short = dataclasses.replace(inp, backhaul_km=np.array([10.0, 10.0, 0.1, 10.0]))
    np.testing.assert_allclose(with_spur_backhaul(short, radio, 1.4).backhaul_km, [10.0, 10.0, 0.42, 6.72])
    np.testing.assert_allclose(with_spur_backhaul(short, radio, 1.4, at_most=True).backhaul_km, [10.0, 10.0, 0.1, 6.72])
    # the target's second station: the small cell near the macro site (60,000 + 0.42 x 80,000 CNY)
    res = solve_5g(out)
    assert sorted(res.stations["site_id"]) == sorted([inp.site_ids[0], inp.site_ids[2]])
    assert res.capex_cny == pytest.approx(400_000 + 10.0 * 80_000 + 60_000 + 0.42 * 80_000)
    # without a fixed or existing own-backhaul site there is nothing to hang off: the prices stay
    free = with_spur_backhaul(dataclasses.replace(inp, forced_new=None), radio, 1.4)
    np.testing.assert_allclose(free.backhaul_km, [10.0] * 4)


def test_backhaul_is_priced_on_the_cheaper_carrier_as_the_plan_prices_it():
    """Hand-computed with the default prices (PON 80,000 CNY/km within the 10.5 km reach; ring 30,000 CNY per site
    + 30,000 CNY/km): 0.3 km -> PON 24,000; 2 km -> ring 90,000 (PON 160,000); 12 km, beyond the reach -> ring
    390,000; a spur-priced position pays fibre, 2 km -> 160,000. The solve sees these prices: the one station a
    cell within reach of all four needs goes to the cheapest."""
    pon = Scenario().pon
    inp = make([(0, 0)], 1000.0, [(0, 0), (100, 0), (200, 0), (300, 0)], 0.0, backhaul_km=[0.3, 2.0, 12.0, 2.0],
               backhaul_cost=80_000.0, backhaul_carrier=pon, backhaul_spur=[False, False, False, True])
    np.testing.assert_allclose(inp.backhaul_cny, [24_000, 90_000, 390_000, 160_000])
    np.testing.assert_allclose(inp.station_cost_cny[:, 0], 400_000 + np.array([24_000, 90_000, 390_000, 160_000]))
    # without a carrier (the plan bound's fibre-equivalent prices) the km are priced at the fibre rate
    fibre = dataclasses.replace(inp, backhaul_carrier=None)
    np.testing.assert_allclose(fibre.backhaul_cny, [24_000, 160_000, 960_000, 160_000])
    # the carrier decides the solve: an own site 1.5 km out (ring 75,000; fibre 120,000) against a spur-priced one
    # 1.2 km out (fibre 96,000): with the carrier the own site, at fibre prices the spur
    two = make([(0, 0)], 1000.0, [(0, 0), (100, 0)], 0.0, backhaul_km=[1.5, 1.2], backhaul_cost=80_000.0,
               backhaul_carrier=pon, backhaul_spur=[False, True])
    res = solve_5g(two)
    assert list(res.stations["site_id"]) == [two.site_ids[0]] and res.backhaul_cny == pytest.approx(75_000)
    res = solve_5g(dataclasses.replace(two, backhaul_carrier=None))
    assert list(res.stations["site_id"]) == [two.site_ids[1]] and res.backhaul_cny == pytest.approx(96_000)


def test_filler_takes_the_free_slots_of_most_value_in_order():
    from rollout.model_5g import filler_counts

    inp = make([(0, 0)], 1000.0, [(0, 0), (100, 0), (200, 0), (300, 0)], 0.0, types=("macro", "small"),
               max_per_site=[[1, 0], [0, 1], [0, 1], [0, 1]], target=3,
               filler_value=np.array([[9.0, 0.0], [1.0, 1.0], [0.0, 5.0], [0.0, 5.0]]))
    new = np.array([[1, 0], [0, 0], [0, 0], [0, 0]])
    add = filler_counts(inp, new)
    # 2 short of 3; free slots: small at sites 1, 2, 3 (the macro slot at 0 is taken); values 1, 5, 5: sites 2, 3
    assert add.tolist() == [[0, 0], [0, 0], [0, 1], [0, 1]]
    assert filler_counts(inp, new + add).sum() == 0


def test_offload_filler_places_the_target_surplus_by_value_not_cost():
    """Cell B needs 3 macros at the cap h = 3 (the headroom floors: 4 stations with Q's), the target is 6: the
    two more go, outside the solve, to the small-cell positions of most value (far from the macro sites),
    where cost alone takes the cheapest (nearest, shortest backhaul)."""
    cells = [[0, 0], [5000, 0]]
    sites = [[0, 0], [100, 0], [-100, 0], [5000, 0],          # macros near B, Q's own
             [60, 60], [150, 150], [-150, 150], [60, -60]]    # small-cell positions
    mps = [[1, 0]] * 4 + [[0, 1]] * 4
    bh = [2, 2, 2, 0, 0.1, 0.3, 0.3, 0.1]
    kw = dict(types=("macro", "small"), max_per_site=mps, backhaul_km=bh, backhaul_cost=50_000.0, target=6,
              surplus="headroom")
    value = np.zeros((8, 2))
    value[4:, 1] = [1.0, 8.0, 9.0, 1.0]
    cost = solve_checked(make(cells, 300.0, sites, [1800.0, 10.0], **kw))
    off = solve_checked(make(cells, 300.0, sites, [1800.0, 10.0], filler_value=value, **kw))
    small = {"cost": sorted(cost.stations.loc[cost.stations["type"] == "small", "site_id"]),
             "offload": sorted(off.stations.loc[off.stations["type"] == "small", "site_id"])}
    assert small == {"cost": ["s4", "s7"], "offload": ["s5", "s6"]}
    assert off.total_stations == cost.total_stations == 6 and off.filler_stations == 2 and cost.filler_stations == 0
    assert off.solves[-1].status == "optimal" and "offload" in off.solves[-1].notes
    assert off.capex_cny == pytest.approx(cost.capex_cny + 2 * 0.2 * 50_000.0)


def test_filler_respects_district_ceilings_and_the_cap_attempt_falls_back():
    from rollout.model_5g import filler_counts

    # district A (sites 0-2) at its ceiling of 1 after the macro: the filler goes to B despite A's higher values
    inp = make([(0, 0)], 1000.0, [(0, 0), (100, 0), (200, 0), (300, 0), (400, 0)], 0.0, types=("macro", "small"),
               max_per_site=[[1, 0], [0, 1], [0, 1], [0, 1], [0, 1]], target=3,
               site_district=["A", "A", "A", "B", "B"], district_max={"A": 1},
               filler_value=np.array([[0.0, 0.0], [0.0, 9.0], [0.0, 8.0], [0.0, 1.0], [0.0, 2.0]]))
    add = filler_counts(inp, np.array([[1, 0], [0, 0], [0, 0], [0, 0], [0, 0]]))
    assert add[:, 1].tolist() == [0, 0, 0, 1, 1]
    # two cells of 600 Mbit/s share one 2,000 Mbit/s macro: each alone could sit at h = 3, together they
    # cannot; the closed-form attempt finds no plan and both stages are solved: h1 + h2 = 2000 / 600, and the
    # concave segments are worth 600 x (0.25 + 0.125 + 0.25 x (2000/600 - 3)) = 500 Mbit/s in all
    two = make([(0, 0), (50, 0)], 300.0, [(20, 0)], [600.0, 600.0], types=("macro",), target=1, surplus="headroom")
    res = solve_checked(two)
    assert res.solves[0].name == "cbc" and res.solves[0].objective == pytest.approx(500.0, rel=1e-5)
    assert res.headroom_min >= 1.5 - 1e-4


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_rounded_lp_and_branch_and_bound_agree_within_the_gap(inp):
    """``lp_rounding`` (the default) against the MIP alone, on the same random instances: both plans keep every
    invariant; a rounded answer says solver ``highs-lp`` with the LP optimum as its bound (never above the MIP's
    plan), and lies within ``gap_rel`` of it, so within the gap of the true optimum too."""
    inp.surplus = "none"
    try:
        mip = solve_5g(inp, lp_rounding=False, gap_rel=0.0)
    except InfeasibleError:
        return
    res = solve_5g(inp, gap_rel=0.005)
    check_invariants(inp, res)
    st_, exact = res.solves[-1], mip.solves[-1]
    assert exact.name == "cbc" and exact.status == "optimal"
    assert st_.bound <= exact.objective + 1e-6
    assert st_.objective <= exact.objective / (1 - 0.005) + 1e-6
    if st_.name == "highs-lp":
        assert st_.status == "optimal" and "rounded up" in st_.notes and st_.gap <= 0.005 + 1e-12
