"""The coverage layer: row reduction keeps the covering problem, greedy is feasible, the LP bound is valid,
and a planned city has every populated lattice point within a macro's radius (recomputed with shapely)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.build import layers_from_scenario
from rollout.coverage_eval import evaluation_lattice
from rollout.coverage_layer import coverage_matrix, greedy_cover, lp_bound, reduce_rows
from rollout.model_5g import plan_5g
from rollout.radio_plan import type_radii_m
from tests._gis_fixtures import second_city_scenario


def _feasible(a: sp.csr_matrix, need: np.ndarray, x: np.ndarray) -> bool:
    return bool((np.asarray(a @ x.astype(float)).ravel() >= need).all())


def _brute_force(a: sp.csr_matrix, need: np.ndarray, cost: np.ndarray) -> float:
    best = np.inf
    for bits in itertools.product((0, 1), repeat=a.shape[1]):
        x = np.array(bits, bool)
        if _feasible(a, need, x):
            best = min(best, float(cost[x].sum()))
    return best


instances = st.integers(2, 7).flatmap(lambda m: st.tuples(
    st.lists(st.lists(st.booleans(), min_size=m, max_size=m), min_size=1, max_size=9),
    st.lists(st.integers(1, 2), min_size=9, max_size=9),
    st.lists(st.floats(1.0, 100.0), min_size=m, max_size=m)))


def _instance(rows, needs, costs):
    a = sp.csr_matrix(np.array(rows, float))
    need = np.minimum(np.array(needs[:a.shape[0]]), np.asarray(a.sum(axis=1)).ravel()).astype(np.int64)
    return a, need, np.array(costs)


@settings(max_examples=60, deadline=None)
@given(instances)
def test_reduction_keeps_the_feasible_set(inst):
    a, need, _ = _instance(*inst)
    red, rneed = reduce_rows(a, need)
    for bits in itertools.product((0, 1), repeat=a.shape[1]):
        x = np.array(bits, bool)
        assert _feasible(a, need, x) == _feasible(red, rneed, x)


@settings(max_examples=60, deadline=None)
@given(instances)
def test_greedy_is_feasible_and_the_lp_bounds_the_optimum(inst):
    a, need, cost = _instance(*inst)
    x = greedy_cover(a, need, cost)
    assert _feasible(a, need, x)
    opt = _brute_force(a, need, cost)
    assert float(cost[x].sum()) >= opt - 1e-9
    assert lp_bound(a, need, cost, time_limit_s=10) <= opt + 1e-6


def test_known_optimum_by_hand():
    # points 0..3 on a line; sites cover {0,1}, {1,2}, {2,3}, {0..3}; the wide site costs 2.5 < 1 + 2 (ends)
    a = sp.csr_matrix(np.array([[1, 0, 0, 1], [1, 1, 0, 1], [0, 1, 1, 1], [0, 0, 1, 1]], float))
    cost = np.array([1.0, 1.0, 1.0, 2.5])
    x = greedy_cover(a, np.ones(4, np.int64), cost)
    assert x.tolist() == [True, False, True, False]       # {0,1} + {2,3} = 2 beats the wide site (2.5)
    assert _brute_force(a, np.ones(4, np.int64), cost) == 2.0


def test_coverage_matrix_is_the_disc_test():
    pts = np.array([[0.0, 0.0], [100.0, 0.0], [250.0, 0.0]])
    sites = np.array([[0.0, 0.0], [200.0, 0.0]])
    a = coverage_matrix(pts, np.array([100.0, 100.0, 60.0]), sites).toarray()
    assert a.tolist() == [[1, 0], [1, 1], [0, 1]]


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    sc = second_city_scenario(tmp_path_factory.mktemp("cov"), scenario={"radio": {"target_stations": 300}})
    lay = layers_from_scenario(sc)
    return sc, lay, plan_5g(lay, sc)


def test_every_populated_lattice_point_within_a_macro_radius(planned):
    sc, lay, res = planned
    assert res.solves[0].part == "5g_coverage" and res.coverage_layer["unreachable_points"] == 0
    st = res.stations
    macro = st[st["type"] == "macro"].to_crs(lay.crs_metric)
    radius = type_radii_m(sc)["macro"]
    lat = evaluation_lattice(lay.demand)
    lat = lat[lat["population"] > 0]
    pts = shapely.points(lat["lon"].to_numpy(), lat["lat"].to_numpy())
    import geopandas as gpd

    pts = gpd.GeoSeries(pts, crs=4326).to_crs(lay.crs_metric)
    tree = shapely.STRtree(np.asarray(macro.geometry.values))
    _, dist = tree.query_nearest(np.asarray(pts.values), return_distance=True, all_matches=False)
    r = lat["clutter"].map(radius).to_numpy(float)
    assert (dist <= r + 1e-6).all()
    # one unit per position, and the layer's sites are built
    assert (st["count"] == 1).all()
    assert int((st["type"] == "macro").sum()) >= res.coverage_layer["sites"]


def test_modelled_baseline_is_kept_free_and_counted(tmp_path):
    """A baseline of 150 stations with no site database: placed by the planner, labelled modelled, kept as
    existing (free, counted toward the target), and the plan builds only the rest."""
    from rollout.pipeline import plan_from_scenario

    sc = second_city_scenario(tmp_path, scenario={"radio": {"target_stations": 400, "baseline_stations": 380,
                                                            "baseline_year": 2021, "surplus": "none"},
                                                  "pon": {"enabled": False}})
    lay = layers_from_scenario(sc)
    before = lay.candidates.copy()
    plan = plan_from_scenario(sc, layers=lay)
    assert lay.candidates.equals(before)       # the caller's layers are not edited (they may plan again)
    assert plan.extra["coverage_layer"]["lattice_points"] > 0    # the layer's summary is saved with the plan
    base = plan.extra["baseline"]
    assert base["source"] == "modelled" and base["stations"] >= 380
    st = plan.stations
    assert int(st.loc[~st["new"].astype(bool), "count"].sum()) == base["stations"]
    assert (st.loc[~st["new"].astype(bool), "capex_cny"] == 0).all()
    assert plan.totals["stations_5g"] >= 400 and plan.totals["stations_5g_existing_source"] == "modelled"
    assert plan.totals["stations_5g_new"] == plan.totals["stations_5g"] - base["stations"]
    from rollout.check import check_plan

    plan.save(tmp_path / "out")
    assert [c.name for c in check_plan(tmp_path / "out") if not c.ok] == []


def test_unreachable_lattice_points_are_named_with_exit_3(tmp_path):
    """Rural macro candidates too coarse for the radius: the cells whose points no candidate reaches are named."""
    from gis.errors import InfeasibleError

    sc = second_city_scenario(tmp_path, scenario={"radio": {"target_stations": 0, "macro": {"radius_m": {
        "rural": 150.0, "suburban": 150.0}}}})
    lay = layers_from_scenario(sc)
    with pytest.raises(InfeasibleError, match=r"5G: coverage: \d+ populated lattice points") as e:
        plan_5g(lay, sc)
    assert e.value.exit_code == 3 and e.value.items


def test_towers_are_macro_candidates_at_the_upgrade_price(tmp_path):
    """Existing towers (data.towers) become macro candidates at radio.tower_upgrade_capex_cny; the plan uses them
    where they cover as well, and rollout check prices a macro at the tower price only on a tower."""
    from rollout.check import check_plan
    from rollout.pipeline import plan_from_scenario
    from tests._gis_fixtures import write_geojson

    base = second_city_scenario(tmp_path, scenario={"radio": {"target_stations": 0}, "pon": {"enabled": False}})
    lay = layers_from_scenario(base)
    macro = lay.candidates[lay.candidates["type"] == "macro"]
    pts = macro.iloc[:: max(1, len(macro) // 40)]
    write_geojson(tmp_path / "towers.geojson", [({"id": i}, g) for i, g in enumerate(pts.geometry)])
    sc = second_city_scenario(tmp_path, scenario={"radio": {"target_stations": 0}, "pon": {"enabled": False}},
                              towers="towers.geojson")
    plan = plan_from_scenario(sc)
    st = plan.stations
    on_tower = st["site_id"].astype(str).str.startswith("T-")
    assert on_tower.any()
    assert (st.loc[on_tower, "equipment_cny"] == sc.radio.tower_upgrade_capex_cny).all()
    assert (st.loc[~on_tower & (st["type"] == "macro"), "equipment_cny"] == sc.radio.macro.capex_cny).all()
    plan.save(tmp_path / "out")
    assert [c.name for c in check_plan(tmp_path / "out") if not c.ok] == []
    # a tower-priced macro moved off its tower is caught (recomputed from the towers file and the geometry)
    import geopandas as gpd

    g = gpd.read_file(tmp_path / "out" / "plan.gpkg", layer="stations")
    k = int(np.flatnonzero(g["site_id"].astype(str).str.startswith("T-"))[0])
    g.loc[k, "lon"] += 0.001
    g.loc[k, "geometry"] = shapely.Point(g.at[k, "lon"], g.at[k, "lat"])
    g.to_file(tmp_path / "out" / "plan.gpkg", layer="stations", driver="GPKG")
    assert "station_capex" in [c.name for c in check_plan(tmp_path / "out") if not c.ok]


def test_centre_children_from_the_index_bits_match_h3():
    import h3.api.numpy_int as h3n

    from rollout.coverage_layer import centre_children

    root = h3n.latlng_to_cell(36.07, 120.38, 7)
    cells = np.concatenate([np.asarray(h3n.cell_to_children(root, r), np.uint64) for r in (8, 9, 10)])
    want = [h3n.cell_to_center_child(h3n.cell_to_parent(int(h), h3n.get_resolution(int(h)) - 1),
                                     h3n.get_resolution(int(h))) == int(h) for h in cells]
    assert centre_children(cells).tolist() == want and 0 < sum(want) < len(want)
