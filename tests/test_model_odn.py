"""The ODN behind the PON homing: optical budget by hand, feeder trees against brute force, budget repair, siting."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.errors import ScenarioError
from gis.trees import feeder_forest
from rollout.model_odn import build_odn, repair_for_budget
from rollout.model_pon import PonInput, solve_pon
from rollout.optics import path_loss_db
from rollout.scenario import ByClutter, PonSettings, pon_reach_km, pon_split, scenario_from_dict


def test_optical_budget_by_hand():
    """1:8x1:8 with the default losses: splitters 2 x 10.7, connectors (2 + 2 x 2) x 0.5, splices 4 x 0.1,
    margin 2 -> 26.8 dB before fibre; 0.35 + 0.5 x 0.1 = 0.4 dB per route km."""
    pon = PonSettings()
    split = pon_split(pon, "urban")
    assert split.label == "1:8x1:8"
    assert path_loss_db(5.0, split) == pytest.approx(26.8 + 0.4 * 5.0)
    assert pon_reach_km(pon) == pytest.approx((31.0 - 26.8) / 0.4)           # N2: 10.5 km
    pon.optics_class = "E1"
    assert pon_reach_km(pon) == pytest.approx((33.0 - 26.8) / 0.4)           # 15.5 km
    pon.reach_km = 12.0
    assert pon_reach_km(pon) == pytest.approx(12.0)                          # the cap still holds
    pon.odn = "centralised"
    assert pon_split(pon, "rural").label == "1:64"


def test_split_beyond_every_budget_is_a_one_line_scenario_error():
    # 1:8x1:16 loses 10.7 + 14.0 + 3.0 + 0.4 + 2.0 = 30.1 dB before any fibre: more than N1's 29 dB
    with pytest.raises(ScenarioError, match=r"split 1:8x1:16 .*30\.1 dB.*N1 budget of 29\.0 dB"):
        scenario_from_dict({"pon": {"split_ratio": 128, "optics_class": "N1"}})
    with pytest.raises(ScenarioError, match="primary_ratio"):
        scenario_from_dict({"pon": {"split_ratio": 32, "primary_ratio": 64}})


def _brute_force_mst_m(xy: np.ndarray) -> float:
    """Shortest spanning tree by enumerating every Prüfer sequence (Cayley: n^(n-2) trees)."""
    n = len(xy)
    best = np.inf
    for seq in itertools.product(range(n), repeat=n - 2):
        degree = np.ones(n, dtype=int)
        for v in seq:
            degree[v] += 1
        total, seq = 0.0, list(seq)
        for v in seq:
            leaf = int(np.flatnonzero(degree == 1)[0])
            total += np.hypot(*(xy[leaf] - xy[v]))
            degree[leaf] -= 1
            degree[v] -= 1
        u, w = np.flatnonzero(degree == 1)
        best = min(best, total + np.hypot(*(xy[u] - xy[w])))
    return float(best)


def _input(cells_xy, onts, sites_xy, **kw) -> PonInput:
    s = PonSettings(target_ports=0, route_factor=kw.pop("route_factor", 1.0), optics_class="E2", **kw)
    return PonInput(cell_id=[f"c{i}" for i in range(len(cells_xy))], cell_xy_m=cells_xy, onts=onts,
                    clutter=["urban"] * len(cells_xy), site_id=[f"o{j}" for j in range(len(sites_xy))],
                    site_xy_m=sites_xy, settings=s)


def test_feeder_tree_matches_brute_force_and_beats_the_star():
    """Six cells far apart (each its own cabinet) on one OLT: the feeder tree is the minimum spanning tree."""
    rng = np.random.default_rng(3)
    cells = rng.uniform(0, 6000, size=(6, 2)) + np.arange(6)[:, None] * 500.0
    site = np.array([[3000.0, 3000.0]])
    inp = _input(cells, np.full(6, 64.0), site, distribution_max_km=0.1, route_factor=1.3)
    res = solve_pon(inp, odn=True, threads=1)
    feeder = res.links[res.links["kind"] == "feeder"]
    assert len(feeder) == 6 and res.totals["fiber_km"] == pytest.approx(feeder["route_km"].sum())
    mst_km = _brute_force_mst_m(np.vstack([site, cells])) * 1.3 / 1000.0
    assert res.pon["odn"]["mst_km"] == pytest.approx(mst_km)
    assert res.totals["fiber_km"] <= res.pon["odn"]["star_km"] + 1e-9
    if res.pon["odn"]["rehung"] == 0:
        assert res.totals["fiber_km"] == pytest.approx(mst_km)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 12), st.integers(0, 10_000), st.floats(0.0, 1.5))
def test_budget_repair_keeps_paths_within_limits_and_the_tree_within_the_star(n, seed, tight):
    rng = np.random.default_rng(seed)
    cabs = rng.uniform(0, 10_000, size=(n, 2))
    olt = np.zeros((1, 2))
    forest = feeder_forest(cabs, np.zeros(n, dtype=np.int64), olt, route_factor=1.2)
    star_m = np.hypot(*cabs.T) * 1.2
    limit_m = star_m * (1.0 + tight)        # every cabinet can at least be reached straight
    edges = repair_for_budget(forest.edges, star_m, limit_m)
    child = edges["child"].to_numpy()
    assert (edges["path_m"].to_numpy() <= limit_m[child] + 1e-6).all()
    assert (edges["length_m"].to_numpy() <= star_m[child] + 1e-6).all()
    assert edges["length_m"].sum() <= star_m.sum() + 1e-6
    assert edges["length_m"].sum() >= forest.total_m.sum() - 1e-6     # never shorter than the MST


def test_cabinet_siting_known_optimum():
    """Two urban cells 2.0 and 2.4 km from their OLT on a line (route factor 1, cabinet 8,000 CNY).

    Each its own cabinet: feeder edges 2.0 and 0.4 km at 90,000 CNY/km (the second cabinet's parent edge
    goes to the first) + 2 cabinets = 180,000 + 36,000 + 16,000. One shared cabinet at the cell nearer the
    OLT: 180,000 + 8,000 + 0.4 km of distribution. With distribution at 60,000 CNY/km (24,000) sharing
    wins; at 120,000 CNY/km (48,000 > 44,000) each cell keeps its own. The cabinet never sits at the far
    cell (distribution runs outward)."""
    cells = np.array([[2000.0, 0.0], [2400.0, 0.0]])
    site = np.array([[0.0, 0.0]])
    for price, positions in ((60_000.0, 1), (120_000.0, 2)):
        inp = _input(cells, np.array([64.0, 64.0]), site, distribution_cost_cny_per_km=ByClutter(price, price, price, price))
        asg = solve_pon(inp, threads=1).assignment
        odn = build_odn(inp, asg, threads=1)
        assert odn.figures["cabinet_positions"] == positions
        assert set(odn.splitters.loc[odn.splitters["kind"] == "primary", "cabinet_id"]) <= {"CAB-c0", "CAB-c1"}
        assert "CAB-c0" in set(odn.splitters["cabinet_id"])
        assert (odn.unit_loss_db <= odn.unit_budget_db + 1e-9).all()
    # the shared cabinet: one primary 1:8 per PON port (128 lines / 64 = 2), a secondary 1:8 per 8 lines
    assert odn.figures["lines"] == 128


def test_odn_contract_layers_and_bill_of_quantities():
    rng = np.random.default_rng(1)
    cells = rng.uniform(0, 8000, size=(30, 2))
    inp = _input(cells, rng.integers(10, 400, 30).astype(float), np.array([[4000.0, 4000.0], [1000.0, 7000.0]]))
    res = solve_pon(inp, odn=True, threads=1)
    sp = res.splitters
    assert {"splitter_id", "olt_id", "kind", "ratio", "lines", "district_id", "geometry"} <= set(sp.columns)
    assert set(sp["kind"]) == {"primary", "secondary"} and sp.crs.to_epsg() == 4326
    prim, sec = sp[sp["kind"] == "primary"], sp[sp["kind"] == "secondary"]
    assert prim["lines"].sum() == pytest.approx(inp.onts.sum()) == pytest.approx(sec["lines"].sum())
    assert (sec["count"] == np.ceil(sec["lines"] / 8)).all()
    assert set(res.links["kind"]) == {"feeder", "distribution"}
    boq = res.pon["bill_of_quantities"]
    assert boq["splitters"]["1:8"] == int(sp["count"].sum())
    assert boq["ports"] == res.totals["pon_ports"] and boq["olt_sites_new"] == len(res.olt_sites)
    assert boq["trench_km"] == pytest.approx(boq["fibre_km"]["feeder"] + boq["fibre_km"]["distribution"]
                                             - boq["fibre_km"]["distribution_in_cell"])
    assert boq["fibre_km"]["feeder"] <= boq["star_feeder_km"] + 1e-9
    assert boq["cost_per_line_cny"] == pytest.approx(res.totals["capex_cny"] / inp.onts.sum())
    rows = res.pon["optical_budget"]
    assert {r["class"] for r in rows} == {"N1", "N2", "E1", "E2"} and {r["split"] for r in rows} == {"1:8x1:8"}
    assert set(rows[0]) == {"split", "class", "budget_db", "loss_db_fixed", "db_per_km", "max_route_km"}
    t = res.totals
    assert t["capex_cny"] == pytest.approx(sum(t[k] for k in ("site_cny", "chassis_cny", "ports_cny", "feeder_cny",
                                                              "distribution_cny", "cabinet_cny", "splitter_cny",
                                                              "backhaul_cny")))
    assert res.olt_sites["odn_cny"].sum() == pytest.approx(t["feeder_cny"] + t["distribution_cny"] + t["cabinet_cny"]
                                                           + t["splitter_cny"])


# --------------------------------------------------------------------------- the existing plant

def test_existing_olt_with_free_slots_is_upgraded_before_a_new_site_opens():
    """Site o0 stands (no ports yet, 4 free card slots = one installed chassis); o1 is a candidate a bit nearer.

    The upgrade costs ports only; the new site would cost its site and a chassis on top."""
    cells = np.array([[1000.0, 0.0], [1200.0, 0.0]])
    sites = np.array([[0.0, 0.0], [1100.0, 50.0]])
    s = PonSettings(target_ports=0, route_factor=1.0, optics_class="E2", chassis_cost_cny=150_000.0)
    inp = PonInput(cell_id=["c0", "c1"], cell_xy_m=cells, onts=[640.0, 640.0], clutter=["urban"] * 2,
                   site_id=["o0", "o1"], site_xy_m=sites, settings=s, free_slots=[4, 0])
    res = solve_pon(inp, threads=1)
    olt = res.olt_sites.set_index("office_id")
    assert list(olt.index) == ["o0"] and not olt.loc["o0", "new"]
    assert olt.loc["o0", "chassis_existing"] == 1 and olt.loc["o0", "chassis"] == 1
    assert res.totals["site_cny"] == 0 and res.totals["chassis_cny"] == 0
    assert res.totals["ports_cny"] == pytest.approx(20 * s.port_cost_cny)


@pytest.mark.parametrize("rows, words", [
    ("office_id,lon,lat,ports,free_slots\nA,120.3,36.1,64,2\nA,120.4,36.1,0,1\n", "'A' repeats"),
    ("office_id,lon,lat,ports,free_slots\nA,120.3,36.1,64,-2\n", "free_slots must be a whole number >= 0"),
    ("office_id,lon,lat,chassis\nA,120.3,36.1,1.5\n", "chassis must be a whole number >= 0"),
])
def test_bad_existing_plant_layer_is_exit_2(tmp_path, rows, words):
    from gis.candidates import user_offices
    from gis.errors import ValidationError

    path = tmp_path / "olts.csv"
    path.write_text(rows, encoding="utf-8")
    with pytest.raises(ValidationError, match=words) as ei:
        user_offices(path, None, None, crs_metric="EPSG:32651")
    assert ei.value.exit_code == 2


def test_existing_plant_layer_without_crs_is_exit_2(tmp_path):
    import geopandas as gpd
    import shapely

    from gis.candidates import user_offices
    from gis.errors import ValidationError

    path = tmp_path / "olts.gpkg"
    with pytest.warns(UserWarning, match="crs"):
        gpd.GeoDataFrame({"office_id": ["A"], "ports": [64]}, geometry=[shapely.Point(120.3, 36.1)]).to_file(path)
    with pytest.raises(ValidationError, match="CRS") as ei:
        user_offices(path, None, None, crs_metric="EPSG:32651")
    assert ei.value.exit_code == 2


def test_backhaul_carrier_per_site():
    """PON costs 80,000 CNY/km (a port at an OLT within reach); the ring 30,000 + 30,000 CNY/km: PON below 0.6 km."""
    from rollout.model_odn import backhaul_carrier_cny

    pon = PonSettings(ring_cost_cny_per_site=30_000.0, ring_cost_cny_per_km=30_000.0, optics_class="N2")
    km = np.array([0.2, 0.6, 2.0, 11.0])
    carrier, cny = backhaul_carrier_cny(km, pon, 80_000.0)
    assert carrier.tolist() == ["pon", "pon", "ring", "ring"]
    assert cny.tolist() == pytest.approx([16_000.0, 48_000.0, 90_000.0, 360_000.0])
    pon.backhaul_carrier = "pon"       # forced, but 11 km is beyond N2's 10.5 km reach of 1:8x1:8: ring
    assert backhaul_carrier_cny(km, pon, 80_000.0)[0].tolist() == ["pon", "pon", "pon", "ring"]
    pon.backhaul_carrier = "ring"
    assert set(backhaul_carrier_cny(km, pon, 80_000.0)[0]) == {"ring"}
