"""Budget mode: maximal coverage under a capex budget, on hand-made layers with known optima."""
import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from shapely.geometry import Point

from gis.layers import Layers
from gis.pairs import pairs_within_radius
from rollout.model_budget import BudgetInput, solve_budget
from rollout.scenario import scenario_from_dict


def make_layers(xs, pops, radius=500.0, existing=None, office_x=0.0):
    n = len(xs)
    pts = [Point(120 + x / 1e5, 36) for x in xs]
    demand = gpd.GeoDataFrame({"cell_id": [f"c{i}" for i in range(n)], "district_id": "d", "population": pops,
                               "traffic_mbps": np.asarray(pops, float) * 0.3, "clutter": "suburban",
                               "radius_m": radius, "x_m": xs, "y_m": 0.0}, geometry=pts, crs=4326)
    ex = existing or [0] * n
    cand = gpd.GeoDataFrame({"site_id": [f"s{i}" for i in range(n)], "district_id": "d", "clutter": "suburban",
                             "x_m": xs, "y_m": 0.0, "existing_macro": ex, "existing_small": 0}, geometry=pts, crs=4326)
    offices = gpd.GeoDataFrame({"office_id": ["o"], "x_m": [office_x], "y_m": [0.0], "existing": [False],
                                "existing_ports": [0]}, geometry=[Point(120, 36)], crs=4326)
    pairs = pairs_within_radius(demand[["x_m", "y_m"]].to_numpy(), demand["radius_m"].to_numpy(),
                                cand[["x_m", "y_m"]].to_numpy())
    empty = gpd.GeoDataFrame({"name": []}, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    return Layers(districts=empty, demand=demand, candidates=cand, offices=offices, pairs=pairs,
                  hotspots=empty, crs_metric="EPSG:32651", demand_source="test")


def scenario(budget, **radio):
    return scenario_from_dict({"budget": {"capex_cny": budget},
                               "radio": {"backhaul_cost_cny_per_km": 0.0, "macro": {"capex_cny": 100.0}, **radio}})


def test_budget_buys_the_most_people():
    # cells 1 km apart (radius 500 m: each candidate covers only its own cell); 2 stations affordable
    layers = make_layers([0, 1000, 2000, 3000], [10, 40, 30, 20])
    res = solve_budget(BudgetInput.from_layers(layers, scenario(250)))
    assert res.stats.status == "optimal"
    assert res.weight_covered == 70 and res.capex_cny == 200
    assert sorted(np.flatnonzero(res.build)) == [1, 2]


def test_one_station_covering_two_cells_beats_two_stations():
    # radius 600 m: the site at x=500 covers both cells at 0 and 1,000
    layers = make_layers([0, 500, 1000], [50, 0, 50], radius=600)
    res = solve_budget(BudgetInput.from_layers(layers, scenario(100)))
    assert res.weight_covered == 100 and list(np.flatnonzero(res.build)) == [1]


def test_existing_cover_is_free_and_counted():
    layers = make_layers([0, 1000, 2000], [10, 40, 30], existing=[0, 1, 0])
    res = solve_budget(BudgetInput.from_layers(layers, scenario(100)))
    assert res.weight_covered == 70 and res.capex_cny == 100 and not res.build[1]


def test_backhaul_counts_against_the_budget():
    # office at x=0; with 1,000 CNY/km backhaul (route factor 1.4) the far site no longer fits a 200 budget
    layers = make_layers([0, 3000], [10, 20], office_x=0.0)
    sc = scenario_from_dict({"budget": {"capex_cny": 200}, "pon": {"route_factor": 1.4},
                             "radio": {"backhaul_cost_cny_per_km": 1000.0, "macro": {"capex_cny": 100.0}}})
    res = solve_budget(BudgetInput.from_layers(layers, sc))
    assert list(np.flatnonzero(res.build)) == [0]   # far site costs 100 + 4.2 km x 1,000


@settings(max_examples=12, deadline=None)
@given(st.lists(st.integers(0, 100), min_size=2, max_size=9), st.integers(0, 600))
def test_invariants_and_monotone_in_budget(pops, budget):
    layers = make_layers([i * 700.0 for i in range(len(pops))], pops, radius=800)
    lo = solve_budget(BudgetInput.from_layers(layers, scenario(budget)), gap_rel=0.0)
    hi = solve_budget(BudgetInput.from_layers(layers, scenario(budget + 100)), gap_rel=0.0)
    for res in (lo, hi):
        assert res.stats.status == "optimal"
        # coverage recomputed from coordinates: a cell is covered iff a built site lies within its radius
        built = np.flatnonzero(res.build) * 700.0
        xs = np.arange(len(pops)) * 700.0
        cov = np.array([np.any(np.abs(built - x) <= 800) for x in xs])
        assert (cov == res.covered).all()
        assert res.weight_covered == pytest.approx(np.asarray(pops)[cov].sum())
        assert res.weight_covered == pytest.approx(res.stats.objective or 0.0)
    assert lo.capex_cny <= budget + 1e-9
    assert hi.weight_covered >= lo.weight_covered


def test_station_type_is_the_cheapest_allowed_one_in_the_plan_too():
    """Where macro is not allowed, a small cell is built even when it costs more than a macro: the budget model
    prices it, and the plan's stations layer shows the same type and cost (one rule, in BudgetInput)."""
    from rollout.pipeline import _budget_stations

    layers = make_layers([0, 1000, 2000], [10, 40, 30], existing=[0, 0, 1])
    layers.candidates["clutter"] = ["urban", "suburban", "suburban"]
    layers.candidates["lon"] = layers.candidates.geometry.x
    layers.candidates["lat"] = layers.candidates.geometry.y
    layers.districts = gpd.GeoDataFrame({"district_id": ["d"], "name_zh": ["甲"]}, geometry=[Point(120, 36)], crs=4326)
    sc = scenario_from_dict({"budget": {"capex_cny": 1000.0}, "radio": {
        "backhaul_cost_cny_per_km": 0.0, "macro": {"capex_cny": 100.0, "clutters": ["urban", "dense_urban"]},
        "small": {"capex_cny": 150.0, "capacity_mbps": 300.0, "max_per_site": 1, "clutters": ["urban", "suburban"]}}})
    inp = BudgetInput.from_layers(layers, sc)
    assert inp.site_type.tolist() == ["macro", "small", "small"]
    assert inp.site_cost_cny[:2].tolist() == [100.0, 150.0] and np.isinf(inp.site_cost_cny[2])  # s2 has a station
    res = solve_budget(inp, gap_rel=0.0)
    assert res.build.tolist() == [True, True, False] and res.capex_cny == 250.0
    st_ = _budget_stations(layers, sc, inp, res.build, np.zeros(3)).set_index(["site_id", "new"])
    assert st_.loc[("s0", True), "type"] == "macro" and st_.loc[("s1", True), "type"] == "small"
    assert st_.loc[("s1", True), "equipment_cny"] == 150.0 and st_.loc[("s1", True), "capacity_mbps"] == 300.0
    assert st_.loc[("s2", False), "type"] == "macro" and st_.loc[("s2", False), "count"] == 1
    assert st_["capex_cny"].sum() == pytest.approx(res.capex_cny)
    assert (st_["district"] == "甲").all()


def test_budget_rows_are_one_family_call_each():
    from rollout.model_budget import FAMILIES, build_model

    layers = make_layers([0, 500, 1000], [50, 0, 50], radius=600)
    m = build_model(BudgetInput.from_layers(layers, scenario(100)))
    names = [c.name for c in m.problem.constraints()]
    assert names == ["covered_0", "covered_2", "budget"]
    assert list(m.rows) == [f.name for f in FAMILIES] and m.rows == {"covered": 2, "budget": 1}
