"""Phasing: build years on a solved plan; small instances with known optima; invariants; infeasible years."""
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, Polygon

from gis.errors import InfeasibleError
from rollout.phasing import phase_plan
from rollout.plan import Plan, SolveStats
from rollout.scenario import scenario_from_dict


def _plan(n_rows=2, pops=(100.0, 1000.0), unit=100.0, counts=None, olt=True, spur=False):
    """``spur``: the last row is a small cell hanging off the first (a macro site), at a tenth of the price."""
    counts = counts or [1] * n_rows
    pts = [Point(120.0 + 0.01 * k, 36.0) for k in range(n_rows)]
    price = [unit * c / (10 if spur and k == n_rows - 1 else 1) for k, c in enumerate(counts)]
    stations = gpd.GeoDataFrame({
        "site_id": [f"s{k}" for k in range(n_rows)], "district_id": "d",
        "type": ["small" if spur and k == n_rows - 1 else "macro" for k in range(n_rows)],
        "count": counts, "new": True, "capex_cny": price, "equipment_cny": price, "backhaul_cny": 0.0,
        "backhaul_carrier": ["spur" if spur and k == n_rows - 1 else "ring" for k in range(n_rows)],
        "backhaul_to": ["s0" if spur and k == n_rows - 1 else "o1" for k in range(n_rows)],
    }, geometry=pts, crs=4326)
    if olt:
        olts = gpd.GeoDataFrame({"office_id": ["o1"], "new": [True], "ports": [20], "ports_new": [20], "chassis": [1],
                                 "site_cny": [1000.0], "chassis_cny": [500.0], "ports_cny": [20 * 10.0],
                                 "capex_cny": [1700.0]}, geometry=[Point(120.0, 36.01)], crs=4326)
    else:
        olts = gpd.GeoDataFrame({"office_id": [], "new": [], "ports": [], "ports_new": [], "chassis": [],
                                 "site_cny": [], "chassis_cny": [], "ports_cny": [], "capex_cny": []},
                                geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    links = gpd.GeoDataFrame({"kind": [], "from_id": [], "to_id": [], "capex_cny": []},
                             geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    sq = Polygon([(120, 36), (120.01, 36), (120.01, 36.01), (120, 36.01)])
    demand = gpd.GeoDataFrame({"cell_id": [f"c{k}" for k in range(n_rows)], "population": list(pops)},
                              geometry=[sq] * n_rows, crs=4326)
    districts = gpd.GeoDataFrame({"district_id": ["d"]}, geometry=[sq], crs=4326)
    plan = Plan(title="t", stations=stations, olt_sites=olts, links=links, districts=districts, demand=demand,
                solves=[SolveStats(part="5g", name="cbc", status="optimal")])
    cover = pd.DataFrame({"cell_id": [f"c{k}" for k in range(n_rows)], "site_id": [f"s{k}" for k in range(n_rows)]})
    return plan, cover


def _scenario(**phasing):
    return scenario_from_dict({"phasing": phasing, "pon": {"port_cost_cny": 10.0, "chassis_cost_cny": 500.0,
                                                          "ports_per_chassis": 272}})


def check_invariants(plan, scenario):
    """Recompute from the phased plan: cumulative counts, monotone build years, budgets, targets."""
    ph = scenario.phasing
    st = plan.stations
    years = ph.years
    built = [int(st.loc[st["build_year"] == y, "count"].sum()) for y in years]
    existing = int(st.loc[~st["new"].astype(bool), "count"].sum())
    cum = np.cumsum(built) + existing
    for t, y in enumerate(years):
        row = plan.years[t]
        assert row["year"] == y and row["stations_cumulative"] == cum[t]
        if ph.stations_cumulative:
            assert cum[t] >= ph.stations_cumulative[t]
        if ph.budget_cny and ph.budget_cny[t] > 0:
            assert row["capex_cny"] <= ph.budget_cny[t] + 1e-6
        if ph.build_cap_stations and ph.build_cap_stations[t] > 0:
            assert built[t] <= ph.build_cap_stations[t]
    # everything of the single-period plan is built by the last year, once
    assert st.loc[st["new"].astype(bool), "build_year"].isin(years).all()
    assert sum(r["capex_cny"] for r in plan.years) == pytest.approx(st["capex_cny"].sum() + plan.olt_sites["capex_cny"].sum())


def test_one_year_is_the_single_period_plan():
    plan, cover = _plan()
    before = plan.stations["capex_cny"].sum() + plan.olt_sites["capex_cny"].sum()
    sc = _scenario(years=[2022])
    out = phase_plan(plan, cover, sc)
    assert out.years[0]["capex_cny"] == pytest.approx(before)
    assert out.stations["count"].sum() == 2 and (out.stations["build_year"] == 2022).all()
    check_invariants(out, sc)


def test_busiest_cell_is_served_first():
    # early value 0.05 CNY/person: worth it for the 1,000-person cell (50 > 100 - 100/1.1), not for 100 people (5)
    plan, cover = _plan()
    sc = _scenario(years=[2022, 2023], stations_cumulative=[1, 2], discount_rate=0.1, early_value_cny_per_person=0.05)
    out = phase_plan(plan, cover, sc)
    first = out.stations.loc[out.stations["build_year"] == 2022, "site_id"].tolist()
    assert first == ["s1"]
    assert [r["stations_new"] for r in out.years] == [1, 1]
    assert out.years[0]["population_covered"] == pytest.approx(1000.0)
    check_invariants(out, sc)


def test_a_small_cell_is_not_built_before_the_macro_site_it_hangs_off():
    # as above, the 1,000-person cell (worth 50 CNY a year early) at a tenth of the price puts the small cell s1
    # in 2022 and the macro s0, needed only by the 2023 target, in 2023. s1's backhaul is a spur to s0, so s0
    # must come no later (spur_anchor): both in 2022 (s0 a year early costs 100 - 100/1.1 = 9.1 < 50).
    plan, cover = _plan(spur=True)
    sc = _scenario(years=[2022, 2023], stations_cumulative=[1, 2], discount_rate=0.1, early_value_cny_per_person=0.05)
    out = phase_plan(plan, cover, sc)
    year = out.stations.set_index("site_id")["build_year"]
    assert year.to_dict() == {"s0": 2022, "s1": 2022}
    check_invariants(out, sc)
    # without the anchor (the small cell on its own route) the cheaper, busier small cell goes first
    free = plan.stations.assign(backhaul_carrier="ring")
    plan2 = Plan(**{**plan.__dict__, "stations": free})
    assert phase_plan(plan2, cover, sc).stations.set_index("site_id")["build_year"].to_dict() == {"s0": 2023,
                                                                                                   "s1": 2022}


def test_discounting_defers_unforced_builds():
    # no yearly targets and no early value: everything waits for the cheaper (discounted) last year
    plan, cover = _plan()
    sc = _scenario(years=[2022, 2023, 2024], discount_rate=0.1, early_value_cny_per_person=0.0)
    out = phase_plan(plan, cover, sc)
    assert [r["stations_new"] for r in out.years] == [0, 0, 2]
    check_invariants(out, sc)


def test_budget_spreads_the_build():
    plan, cover = _plan(n_rows=3, pops=(10, 20, 30), counts=[2, 2, 2])
    # total capex: 6 x 100 + OLT 1,000 + 500 + 200 = 2,300; a 1,000 budget in year 1 forces a split
    sc = _scenario(years=[2022, 2023], budget_cny=[1000, 5000], early_value_cny_per_person=50.0)
    out = phase_plan(plan, cover, sc)
    assert out.years[0]["capex_cny"] <= 1000 + 1e-6
    check_invariants(out, sc)


def test_infeasible_year_names_year_and_limit():
    plan, cover = _plan()
    with pytest.raises(InfeasibleError, match="year 2022.*budget") as info:
        phase_plan(plan, cover, _scenario(years=[2022, 2023], stations_cumulative=[2, 2], budget_cny=[150, 1e6]))
    assert info.value.family == "budget" and info.value.items == ["2022"]
    with pytest.raises(InfeasibleError, match="year 2023.*exceeds") as info:
        phase_plan(plan, cover, _scenario(years=[2022, 2023], stations_cumulative=[1, 3]))
    assert info.value.family == "stations_target"
    with pytest.raises(InfeasibleError, match="build caps") as info:
        phase_plan(plan, cover, _scenario(years=[2022, 2023], stations_cumulative=[2, 2], build_cap_stations=[1, 5]))
    with pytest.raises(InfeasibleError, match="coverage floor"):
        plan2, cover2 = _plan()
        cover2 = cover2.iloc[:1]
        phase_plan(plan2, cover2, _scenario(years=[2022], coverage_floor=[0.99]))


def test_solver_infeasibility_is_blamed_on_a_year():
    # the cheap diagnosis passes (budget 150 >= 100 for the 1 station needed), but the OLT's 1,200 CNY (site and
    # ports) must also be spent by 2022 to meet the port target: only the solve finds it.
    plan, cover = _plan()
    with pytest.raises(InfeasibleError) as info:
        phase_plan(plan, cover, _scenario(years=[2022, 2023], stations_cumulative=[1, 2], ports_cumulative=[20, 20],
                                          budget_cny=[400, 1e6]))
    # the conflict: ports only at open sites, the 2022 port target and the 2022 budget (by 800 CNY)
    assert info.value.family == "ports_open+ports_target+budget" and info.value.items == ["2022"]
    assert "years at fault: 2022 (800 CNY over the budget)" in str(info.value)


def test_diagnosis_lists_every_year_at_fault():
    plan, cover = _plan()
    with pytest.raises(InfeasibleError) as info:
        phase_plan(plan, cover, _scenario(years=[2022, 2023], stations_cumulative=[2, 3], budget_cny=[150, 10]))
    fams = [(f, items) for f, _, items in info.value.problems]
    assert fams == [("budget", ["2022"]), ("stations_target", ["2023"]), ("budget", ["2023"])]
    assert info.value.family == "budget" and info.value.items == ["2022"]
    assert str(info.value).count("year 202") == 3


def test_rows_are_one_call_per_family_with_stable_names():
    from rollout.phasing import FAMILIES, build_phasing_model, phasing_input_from_plan

    plan, cover = _plan(spur=True)
    sc = _scenario(years=[2022, 2023, 2024], stations_cumulative=[1, 2, 2], ports_cumulative=[0, 20, 20],
                   budget_cny=[1e6, 1e6, 1e6], build_cap_stations=[1, 1, 1], coverage_floor=[0.0, 0.5, 1.0])
    m = build_phasing_model(phasing_input_from_plan(plan, cover, sc))
    names = [c.name for c in m.problem.constraints()]
    assert list(m.rows) == [f.name for f in FAMILIES] and sum(m.rows.values()) == len(names)
    # rows of a family are contiguous, in registry order
    fam_of = [next(f.name for f in FAMILIES if n.startswith(f.name + "_")) for n in names]
    assert [k for i, k in enumerate(fam_of) if i == 0 or fam_of[i - 1] != k] == [f.name for f in FAMILIES]
    assert names[:2] == ["monotone_B0_1", "monotone_B1_1"] and "monotone_U_0_1" in names
    assert "budget_2024" in names and "stations_target_2024" not in names      # the last year is the plan itself
    assert m.rows["covered"] == 2 * 3 and m.rows["coverage_floor"] == 2
