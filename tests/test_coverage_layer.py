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
from rollout.coverage_layer import coverage_matrix
from rollout.covering import (greedy_cover, lagrangian_bound, lagrangian_greedy, lp_bound, reduce_rows, solve_cover,
                              subgradient)
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


geometric = st.integers(2, 10).flatmap(lambda m: st.tuples(
    st.lists(st.tuples(st.floats(0, 3000), st.floats(0, 3000)), min_size=m, max_size=m),      # sites [m]
    st.lists(st.tuples(st.floats(0, 3000), st.floats(0, 3000)), min_size=1, max_size=25),     # points [m]
    st.lists(st.floats(100.0, 500.0), min_size=m, max_size=m),                                # costs
    st.sampled_from([1, 2])))


@settings(max_examples=40, deadline=None)
@given(geometric)
def test_tiled_cover_is_feasible_never_dearer_than_greedy_and_its_bound_holds(inst):
    sites, points, costs, k = inst
    site_xy, cost = np.array(sites, float), np.array(costs)
    a = coverage_matrix(np.array(points, float), np.full(len(points), 900.0), site_xy)
    need = np.minimum(k, np.asarray(a.sum(axis=1)).ravel()).astype(np.int64)
    a, need = reduce_rows(a, need)
    # windows and tiles far smaller than the plane, so the borders, colours and shifted passes are exercised
    cov = solve_cover(a, need, cost, site_xy, window_passes=3, dual_passes=3, window_m=700.0, dual_tile_m=900.0)
    opt = _brute_force(a, need, cost)
    assert _feasible(a, need, cov.chosen)
    assert cov.objective == pytest.approx(float(cost[cov.chosen].sum()))
    assert cov.objective <= cov.greedy + 1e-9
    assert cov.bound <= opt + 1e-6 <= cov.objective + 2e-6
    assert 0 <= cov.gap <= 1


def test_the_cover_reports_the_window_and_tile_sides_it_solved_with():
    """Sides narrower than four reaches are widened (so one colour's windows share no column), and the cover
    carries the sides it used (the layer's notes print those, not the requested ones)."""
    rng = np.random.default_rng(3)
    site_xy, points = rng.uniform(0, 6000, (30, 2)), rng.uniform(0, 6000, (80, 2))
    a = coverage_matrix(points, np.full(len(points), 900.0), site_xy)
    need = np.minimum(1, np.asarray(a.sum(axis=1)).ravel()).astype(np.int64)
    a, need = reduce_rows(a, need)
    cov = solve_cover(a, need, np.full(30, 100.0), site_xy, window_passes=1, dual_passes=1, window_m=700.0,
                      dual_tile_m=900.0)
    assert 2_000.0 < cov.window_m == cov.dual_tile_m <= 4 * 900.0 + 1.0     # the farthest reach, under 900 m
    wide = solve_cover(a, need, np.full(30, 100.0), site_xy, window_passes=1, dual_passes=1, window_m=5_000.0,
                       dual_tile_m=8_000.0)
    assert (wide.window_m, wide.dual_tile_m) == (5_000.0, 8_000.0)


@settings(max_examples=40, deadline=None)
@given(instances, st.lists(st.floats(0, 200), min_size=9, max_size=9))
def test_any_multipliers_give_a_lower_bound(inst, u):
    a, need, cost = _instance(*inst)
    assert lagrangian_bound(a, need, cost, np.array(u[:a.shape[0]])) <= _brute_force(a, need, cost) + 1e-6


def _columns(cols: list, n_rows: int) -> sp.csr_matrix:
    return sp.csr_matrix((np.ones(sum(map(len, cols))), (np.concatenate(cols), np.repeat(np.arange(len(cols)),
                         list(map(len, cols))))), shape=(n_rows, len(cols)))


def test_lagrangian_greedy_avoids_the_trap_the_greedy_rule_takes():
    """Rows 1-4 (0-based 0..3); T = {0,1,2} costs 3 (ratio 1.0), Q1 = {0,1} and Q2 = {2,3} cost 2.2 each (ratio
    1.1). The greedy rule takes T, then Q2 for row 3: 5.2. The LP optimum is Q1 + Q2 = 4.4 (integral); with its
    duals u = (1.1, 1.1, 0, 2.2) Q1 and Q2 have reduced cost 0 and T 0.8, so the Lagrangian rule takes Q1 and Q2.
    The subgradient steps toward the greedy cover's 5.2 find multipliers that do the same, and a bound within
    1 % of 4.4 and never above it."""
    a = _columns([[0, 1, 2], [0, 1], [2, 3]], 4)
    cost, need = np.array([3.0, 2.2, 2.2]), np.ones(4, np.int64)
    assert float(cost[greedy_cover(a, need, cost)].sum()) == pytest.approx(5.2)
    assert lagrangian_greedy(a, need, cost, np.array([1.1, 1.1, 0.0, 2.2])).tolist() == [False, True, True]
    bound, u = subgradient(a, need, cost, target=5.2, iterations=200)
    assert 0.99 * 4.4 <= bound <= 4.4 + 1e-9
    assert lagrangian_greedy(a, need, cost, u).tolist() == [False, True, True]


def test_the_lagrangian_start_is_what_the_windows_improve():
    """On the trap instance, without window passes, the cover is the Lagrangian greedy's 4.4, not the greedy 5.2."""
    a = _columns([[0, 1, 2], [0, 1], [2, 3]], 4)
    cost, need = np.array([3.0, 2.2, 2.2]), np.ones(4, np.int64)
    cov = solve_cover(a, need, cost, np.zeros((3, 2)), window_passes=0, dual_passes=0, subgradient_iterations=200)
    assert cov.greedy == pytest.approx(5.2) and cov.lagrangian_greedy == pytest.approx(4.4)
    assert cov.chosen.tolist() == [False, True, True] and cov.objective == pytest.approx(4.4)
    assert cov.bound <= 4.4 + 1e-9


def test_rows_short_of_columns_do_not_lift_the_bound():
    """A row with no column (or fewer columns than its need) takes what it can; its multiplier must not grow
    without limit, which would lift L(u) to the greedy cover's cost (5.2) and prove a cover 18 % too dear optimal
    (review finding, 2026-12-01). With the need capped the bound stays at most the best cover, 4.4."""
    a = _columns([[0, 1, 2], [0, 1, 5], [2, 3]], 6)     # row 4: no column; row 5: one column (Q1), need 2
    cost, need = np.array([3.0, 2.2, 2.2]), np.array([1, 1, 1, 1, 1, 2], np.int64)
    bound, _ = subgradient(a, need, cost, target=5.2, iterations=500)
    assert bound <= 4.4 + 1e-9
    for passes in (0, 1):
        cov = solve_cover(a, need, cost, np.zeros((3, 2)), window_passes=1, dual_passes=passes)
        assert cov.objective == pytest.approx(4.4) and cov.bound <= 4.4 + 1e-9 and cov.gap < 0.05


@settings(max_examples=60, deadline=None)
@given(instances, st.lists(st.floats(0, 200), min_size=9, max_size=9))
def test_lagrangian_greedy_is_a_feasible_cover_without_redundant_columns(inst, u):
    """For any multipliers: every row gets its need (as far as its columns allow), no chosen column can be
    dropped, and with u = 0 the rule is the greedy rule itself."""
    a, need, cost = _instance(*inst)
    x = lagrangian_greedy(a, need, cost, np.array(u[:a.shape[0]]))
    assert _feasible(a, need, x)
    for j in np.flatnonzero(x):
        y = x.copy()
        y[j] = False
        assert not _feasible(a, need, y)
    assert lagrangian_greedy(a, need, cost, np.zeros(a.shape[0])).tolist() == greedy_cover(a, need, cost).tolist()


@settings(max_examples=40, deadline=None)
@given(instances, st.lists(st.floats(0, 200), min_size=9, max_size=9))
def test_subgradient_bound_is_valid_and_never_below_its_start(inst, u0):
    """From any start: at most the LP optimum (so the integer one), and at least L(start) (the best step is kept)."""
    a, need, cost = _instance(*inst)
    u0 = np.array(u0[:a.shape[0]])
    opt = _brute_force(a, need, cost)
    bound, _ = subgradient(a, need, cost, target=float(cost[greedy_cover(a, need, cost)].sum()), iterations=100, u0=u0)
    lp, tol = lp_bound(a, need, cost, time_limit_s=10), 1e-6 * max(1.0, opt)   # the LP solver's own tolerance
    assert lagrangian_bound(a, need, cost, u0) - tol <= bound <= lp + tol and lp <= opt + tol


def test_subgradient_steps_come_close_to_the_lp_optimum_on_a_city():
    """On a generated city (3,000 points, 400 sites) the default steps reach within 2 % of the LP optimum, and the
    cold solve's bound (those steps, then dual ascent) is at least theirs; without a pass it is theirs."""
    a, need, cost, xy = _city_instance()
    a, need = reduce_rows(a, need)
    lp = lp_bound(a, need, cost, time_limit_s=60)
    bound, _ = subgradient(a, need, cost, target=float(cost[greedy_cover(a, need, cost)].sum()))
    assert 0.98 * lp <= bound <= lp + 1e-6
    cov = solve_cover(a, need, cost, xy, window_passes=1, dual_passes=1, window_m=8000.0, dual_tile_m=8000.0)
    assert bound - 1e-6 <= cov.bound <= lp + 1e-6
    assert cov.lagrangian_greedy is not None and cov.objective <= min(cov.greedy, cov.lagrangian_greedy) + 1e-9
    # no ascent pass (the region seed): the bound is the subgradient's own
    bare = solve_cover(a, need, cost, xy, window_passes=1, dual_passes=0, window_m=8000.0, dual_tile_m=8000.0)
    assert bare.bound == pytest.approx(min(bound, bare.objective)) and bare.chosen.tolist() == cov.chosen.tolist()


def test_windows_find_the_optimum_the_greedy_rule_misses():
    # points 0..5; A = {0,1,2} and B = {3,4,5} cost 1 each; C = {1,2,3,4} costs 1.1 (best ratio, so greedy
    # takes it first), then D = {0} and E = {5} at 0.6 each: greedy 2.3, C not redundant; optimum A + B = 2
    cols = [[0, 1, 2], [3, 4, 5], [1, 2, 3, 4], [0], [5]]
    a = sp.csr_matrix((np.ones(sum(map(len, cols))), (np.concatenate(cols), np.repeat(np.arange(5), list(map(len, cols))))),
                      shape=(6, 5))
    cost = np.array([1.0, 1.0, 1.1, 0.6, 0.6])
    need = np.ones(6, np.int64)
    assert float(cost[greedy_cover(a, need, cost)].sum()) == pytest.approx(2.3)
    cov = solve_cover(a, need, cost, np.zeros((5, 2)))
    assert cov.chosen.tolist() == [True, True, False, False, False] and cov.objective == pytest.approx(2.0)
    assert cov.greedy == pytest.approx(2.3) and cov.bound == pytest.approx(2.0, abs=1e-6) and cov.gap < 1e-6


def test_threads_give_the_same_cover_as_one_by_one(monkeypatch):
    import rollout.covering as covering

    rng = np.random.default_rng(7)
    site_xy = rng.uniform(0, 20_000, (400, 2))
    a = coverage_matrix(rng.uniform(0, 20_000, (3000, 2)), np.full(3000, 1200.0), site_xy)
    need = np.minimum(1, np.asarray(a.sum(axis=1)).ravel()).astype(np.int64)
    a, need = reduce_rows(a, need)
    cost = rng.uniform(200, 400, 400)
    assert 4 * covering.reach_m(a, covering.row_positions(a, site_xy), site_xy) < 8000   # tiles run side by side
    runs = []
    for workers in (1, 2):
        monkeypatch.setattr(covering, "_workers", lambda w=workers: w)
        cov = solve_cover(a, need, cost, site_xy, window_passes=2, window_m=8000.0, dual_tile_m=8000.0)
        runs.append((cov.chosen.tolist(), cov.objective, cov.bound))
    assert runs[0] == runs[1]


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


def _city_instance(seed=7, sites=400, points=3000):
    rng = np.random.default_rng(seed)
    site_xy = rng.uniform(0, 20_000, (sites, 2))
    a = coverage_matrix(rng.uniform(0, 20_000, (points, 2)), np.full(points, 1200.0), site_xy)
    need = np.minimum(1, np.asarray(a.sum(axis=1)).ravel()).astype(np.int64)
    a, need = reduce_rows(a, need)
    return a, need, rng.uniform(200, 400, sites), site_xy


def test_background_bound_equals_the_foreground_one():
    """The bound computed in a thread while the caller works is the same cover, bound and multipliers."""
    a, need, cost, xy = _city_instance()
    kw = dict(window_passes=1, dual_passes=2, window_m=8000.0, dual_tile_m=8000.0)
    fg = solve_cover(a, need, cost, xy, **kw)
    bg = solve_cover(a, need, cost, xy, background=True, **kw)
    assert bg.chosen.tolist() == fg.chosen.tolist() and bg.objective == fg.objective
    bg.finish()
    assert bg.bound == fg.bound and np.array_equal(bg.u, fg.u) and bg.gap == fg.gap


def test_warm_re_solve_at_new_prices_is_feasible_bounded_and_never_dearer_than_its_start():
    """A re-solve at new prices starts from the last cover (no greedy run); with 0 dual passes and no subgradient
    steps its bound is L(u) of the old multipliers at the new prices; the subgradient steps move them to the new
    prices and never give a weaker bound. Both are valid (at most the LP optimum)."""
    a, need, cost, xy = _city_instance(seed=3)
    cold = solve_cover(a, need, cost, xy, window_passes=1, dual_passes=2, window_m=8000.0, dual_tile_m=8000.0)
    new = cost * np.random.default_rng(5).uniform(0.8, 1.2, len(cost))
    kw = dict(start=cold.chosen, greedy=cold.greedy_chosen, u0=cold.u, window_passes=1, dual_passes=0,
              window_m=8000.0, dual_tile_m=8000.0)
    still = solve_cover(a, need, new, xy, subgradient_iterations=0, **kw)
    warm = solve_cover(a, need, new, xy, **kw)
    assert warm.chosen.tolist() == still.chosen.tolist()
    assert _feasible(a, need, warm.chosen)
    assert warm.objective <= min(new[cold.chosen].sum(), new[cold.greedy_chosen].sum()) + 1e-9
    assert warm.greedy == pytest.approx(new[cold.greedy_chosen].sum())
    assert still.bound == pytest.approx(min(lagrangian_bound(a, need, new, cold.u), still.objective))
    lp = lp_bound(a, need, new, time_limit_s=60)
    assert still.bound <= warm.bound <= lp + 1e-6
    assert warm.bound > still.bound + 0.05 * (lp - still.bound)     # the steps close part of the way to the LP


def test_wide_passes_keep_the_cover_feasible_and_make_it_cheaper():
    """Wide windows (10 km here, against 4 km ones) find what the small ones cannot: on this instance 38,593
    -> 38,384 from the plain greedy start, still above the proven bound."""
    a, need, cost, xy = _city_instance(seed=11)
    kw = dict(window_passes=1, dual_passes=1, window_m=4000.0, dual_tile_m=10_000.0, subgradient_iterations=0)
    base = solve_cover(a, need, cost, xy, **kw)
    wide = solve_cover(a, need, cost, xy, wide_passes=2, **kw)
    assert _feasible(a, need, wide.chosen)
    assert base.bound <= wide.objective < base.objective - 100.0
    assert wide.bound == base.bound      # the bound does not depend on the windows


def test_window_rows_quarter_the_windows_and_larger_windows_find_more():
    """A window of more than ``window_rows`` rows is solved as quarters: on this instance windows of at most 30 rows
    leave 38,689, whole 4 km windows (~100 rows) find 38,384 (from the plain greedy start); both feasible, above
    the same proven bound."""
    a, need, cost, xy = _city_instance(seed=11)
    kw = dict(window_passes=2, dual_passes=1, window_m=4000.0, dual_tile_m=10_000.0, subgradient_iterations=0)
    small = solve_cover(a, need, cost, xy, window_rows=30, **kw)
    whole = solve_cover(a, need, cost, xy, window_rows=10_000, **kw)
    assert _feasible(a, need, small.chosen) and _feasible(a, need, whole.chosen)
    assert small.bound == whole.bound <= whole.objective < small.objective - 100.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 5000), st.floats(0, 5000)), min_size=1, max_size=120), st.integers(1, 40))
def test_split_rows_partitions_the_window_into_parts_of_at_most_max_rows(xy, max_rows):
    from rollout.covering import split_rows

    xy = np.array(xy, float)
    rows = np.arange(len(xy))
    parts = split_rows(rows, xy, max_rows)
    assert np.array_equal(np.sort(np.concatenate(parts)), rows)
    for p in parts:    # a part larger than max_rows only when its points cannot be split (one position)
        assert len(p) <= max_rows or (xy[p] == xy[p][0]).all()


def test_windows_stopped_by_their_safeguard_clock_are_counted(monkeypatch):
    """A window MIP ended by its clock (here a clock too short for any) is counted, so the layer can say its cover
    may differ on another machine; the cover stays feasible and no dearer than greedy. With the real clock the
    node limit ends every window first."""
    import rollout.covering as covering

    a, need, cost, xy = _city_instance(seed=11)
    kw = dict(window_passes=1, dual_passes=1, window_m=4000.0, dual_tile_m=10_000.0)
    assert solve_cover(a, need, cost, xy, **kw).clock_windows == 0
    monkeypatch.setattr(covering, "SAFETY_S", 1e-6)
    cov = solve_cover(a, need, cost, xy, **kw)
    assert cov.clock_windows > 0
    assert _feasible(a, need, cov.chosen) and cov.objective <= cov.greedy + 1e-9


def test_cheapest_slots_sum_the_cheapest_units_each_in_its_own_slot():
    """Two types; a candidate holds new_max more units of a type. S(m) is the least price of m units: the m cheapest
    slots (a slot with room 2 counted twice), infinite beyond the slots there are."""
    from types import SimpleNamespace

    from rollout.coverage_layer import _cheapest_slots

    inp = SimpleNamespace(station_cost_cny=np.array([[300.0, 60.0], [250.0, 70.0], [400.0, 65.0]]),
                          new_max=np.array([[1, 2], [0, 1], [1, 0]]))
    small = _cheapest_slots(inp, np.array([False, True]), 4)
    assert small.tolist() == [0.0, 60.0, 120.0, 190.0, np.inf]       # 60, 60 (room 2), 70; site 3 has no room
    macro = _cheapest_slots(inp, np.array([True, False]), 3)
    assert macro.tolist() == [0.0, 300.0, 700.0, np.inf]             # site 2 is closed to macros


@given(st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_cheapest_slots_bound_every_choice_of_units(seed):
    """Any m units in distinct slots cost at least S(m) (brute force over small random instances)."""
    from types import SimpleNamespace

    from rollout.coverage_layer import _cheapest_slots

    rng = np.random.default_rng(seed)
    cost = rng.integers(1, 50, (5, 1)).astype(float)
    room = rng.integers(0, 3, (5, 1))
    s = _cheapest_slots(SimpleNamespace(station_cost_cny=cost, new_max=room), np.array([True]), 6)
    slots = np.repeat(cost[:, 0], room[:, 0])
    for m in range(7):
        if m > len(slots):
            assert s[m] == np.inf
            continue
        best = min((sum(c) for c in itertools.combinations(slots.tolist(), m)), default=0.0)
        assert s[m] == pytest.approx(best)


def test_plan_bound_moves_the_layers_multipliers_and_stays_below_the_lp(planned):
    """The plan bound's coverage part at the cheapest backhaul prices: the layer's multipliers scaled to these
    prices, then subgradient steps (never below the scaled multipliers' L), then one ascent pass (never below the
    steps alone, ``coverage_dual_passes = 0``); at most the LP optimum of the rows at these prices."""
    import dataclasses
    import re

    from rollout.coverage_layer import coverage_columns, layer_plan_bound
    from rollout.model_5g import Siting5GInput
    from rollout.pipeline import cheapest_backhaul_equivalent_km, site_cell_index

    sc, lay, res = planned
    inp = Siting5GInput.from_layers(lay, sc, backhaul_km=cheapest_backhaul_equivalent_km(lay, sc, site_cell_index(lay)),
                                    carrier=False)
    prob = res.coverage_problem
    cost = coverage_columns(inp, sc)[3]
    cost = np.where(np.isfinite(cost), cost, 0.0)
    warm = prob.cover.finish()
    used = (np.diff(prob.rows.tocsc().indptr) > 0) & (warm.cost > 0)
    theta = min(1.0, float(np.min(cost[used] / warm.cost[used])))

    def lb_cov(passes: int) -> float:
        scn = dataclasses.replace(sc, radio=dataclasses.replace(sc.radio, coverage_dual_passes=passes))
        notes = layer_plan_bound(lay, scn, inp, problem=prob).notes
        return float(re.search(r"Lagrangian bound \(([\d,]+) CNY", notes).group(1).replace(",", ""))

    scaled = lagrangian_bound(prob.rows, prob.need, cost, warm.u * theta)
    lp = lp_bound(prob.rows, prob.need, cost, time_limit_s=60)
    lb0, lb1 = lb_cov(0), lb_cov(1)
    assert scaled - 1.0 <= lb0 <= lb1 + 1.0 <= lp + 2.0       # notes round to the yuan
    assert lb0 > scaled + 1.0                                   # the steps moved the multipliers


@settings(max_examples=30, deadline=None)
@given(geometric, st.lists(st.floats(0, 300), min_size=25, max_size=25))
def test_decomposition_bound_lies_between_its_multipliers_bound_and_the_optimum(inst, u):
    """bench_cover's decomposition bound (tiles' integer programs at split costs) is a lower bound on every cover
    for any multipliers, and never below L(u); small tiles so that columns are split over several of them."""
    from bench.bench_cover import decomposition_bound

    sites, points, costs, k = inst
    site_xy, cost = np.array(sites, float), np.array(costs)
    a = coverage_matrix(np.array(points, float), np.full(len(points), 900.0), site_xy)
    need = np.minimum(k, np.asarray(a.sum(axis=1)).ravel()).astype(np.int64)
    a, need = reduce_rows(a, need)
    if a.shape[0] == 0:
        return
    mult = np.array(u[:a.shape[0]])
    d = decomposition_bound(a, need, cost, site_xy, mult, tile_m=700.0, max_rows=4)
    assert lagrangian_bound(a, need, cost, mult) <= d["lp_share_cny"] + 1e-6
    assert d["lp_share_cny"] <= d["bound_cny"] + 1e-6
    assert d["bound_cny"] <= _brute_force(a, need, cost) + 1e-6


def test_decomposition_bound_closes_an_odd_cycle_the_lp_cannot():
    """Rows {0,1}, {1,2}, {2,0} at unit costs: the LP optimum is 1.5 (every column at 1/2, duals 1/2), the integer
    optimum 2. One tile holding the three rows proves 2; the LP bound stays 1.5."""
    from bench.bench_cover import decomposition_bound

    a = _columns([[0, 2], [0, 1], [1, 2]], 3)
    need, cost, u = np.ones(3, np.int64), np.ones(3), np.full(3, 0.5)
    xy = np.array([[0.0, 0.0], [10.0, 0.0], [5.0, 8.0]])
    assert lagrangian_bound(a, need, cost, u) == pytest.approx(1.5)
    d = decomposition_bound(a, need, cost, xy, u, tile_m=1000.0)
    assert d["tiles"] == 1 and d["bound_cny"] == pytest.approx(2.0)
