"""Street cabinets shared by neighbouring cells, and the in-cell distribution constant.

The cabinet siting against brute force on small instances (hypothesis), its rules as invariants (same OLT,
distribution reach, OLT side, optical budget, whole cabinets of ``cabinet_ports`` primaries), a cluster of
small cells that must share, and :data:`rollout.model_odn.MST_CONSTANT` by Monte Carlo in an H3 hexagon.
"""
from __future__ import annotations

import itertools

import h3
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from gis.trees import feeder_tree
from rollout.model_odn import MST_CONSTANT, build_odn, site_cabinets, siting_cost_cny, units_of
from rollout.model_pon import PonInput, solve_pon
from rollout.scenario import PonSettings


def _input(cells_xy, onts, sites_xy, **kw) -> PonInput:
    s = PonSettings(target_ports=0, route_factor=kw.pop("route_factor", 1.2), optics_class="E2", **kw)
    return PonInput(cell_id=[f"c{i}" for i in range(len(cells_xy))], cell_xy_m=np.asarray(cells_xy, float),
                    onts=onts, clutter=["urban"] * len(cells_xy), site_id=[f"o{j}" for j in range(len(sites_xy))],
                    site_xy_m=np.asarray(sites_xy, float), settings=s)


def _brute_force_cny(units, s) -> float:
    """The least siting objective over every choice of one paired position per unit."""
    options = [units.pairs.loc[units.pairs["unit"] == u, "cab"].to_numpy() for u in range(len(units.cell))]
    return min(siting_cost_cny(units, s, np.array(cab)) for cab in itertools.product(*options))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 5), st.integers(0, 10_000), st.sampled_from([8, 16]))
def test_siting_matches_brute_force_and_keeps_its_rules(n, seed, cabinet_ports):
    rng = np.random.default_rng(seed)
    cells = rng.uniform(0, 2500, (n, 2))
    olt = np.array([[rng.uniform(-4000, -1000), rng.uniform(0, 2500)]])
    inp = _input(cells, rng.integers(8, 900, n).astype(float), olt, cabinet_ports=cabinet_ports)
    asg = solve_pon(inp, threads=1, gap_rel=0.0).assignment
    units = units_of(inp, asg)
    cab, stats = site_cabinets(units, inp.settings, threads=1, gap_rel=0.0)
    assert stats.status == "optimal"
    assert siting_cost_cny(units, inp.settings, cab) == pytest.approx(_brute_force_cny(units, inp.settings), rel=1e-9)
    # the rules, recomputed from coordinates: same OLT, within the distribution reach, on the OLT side
    d_km = np.hypot(*(units.xy_m - units.xy_m[cab]).T) / 1000.0
    to_olt = np.hypot(*(units.xy_m - olt[0]).T)
    assert (units.olt == units.olt[cab]).all() and (d_km <= inp.settings.distribution_max_km + 1e-9).all()
    assert (to_olt[cab] <= to_olt + 1e-6).all()
    odn = build_odn(inp, asg, threads=1, gap_rel=0.0)
    assert (odn.unit_loss_db <= odn.unit_budget_db + 1e-9).all()
    prim = odn.splitters[odn.splitters["kind"] == "primary"]
    assert (prim["cabinets"] == np.ceil(prim["count"] / cabinet_ports)).all()
    assert (prim["count"] <= prim["cabinets"] * cabinet_ports).all()
    assert prim["lines"].sum() == pytest.approx(inp.onts.sum())


def test_a_cluster_of_small_cells_shares_one_cabinet():
    """Four urban cells of 100 lines (1.6 primaries each) on a 200 m square, 5 km from their OLT (route factor
    1.2): a cabinet of its own costs a cell 8,000 CNY + its 0.24 km feeder edge at 90,000 CNY/km = 29,600 CNY,
    more than its distribution from the corner nearest the OLT (at most 0.34 km x 60,000 = 20,400 CNY). So one
    cabinet (6.25 primaries of 16) at that corner serves all four; the feeder reaches one point, not four."""
    cells = np.array([[5000.0, 0.0], [5000.0, 200.0], [5200.0, 0.0], [5200.0, 200.0]])
    inp = _input(cells, np.full(4, 100.0), [[0.0, 0.0]])
    res = solve_pon(inp, threads=1, odn=True)
    f = res.pon["odn"]
    assert f["cabinet_positions"] == 1 and f["cabinets"] == 1
    cab = res.splitters.loc[res.splitters["kind"] == "primary"]
    assert cab["cabinet_id"].tolist() == ["CAB-c0"] and cab["lines"].item() == pytest.approx(400.0)
    feeder = res.links[res.links["kind"] == "feeder"]
    assert len(feeder) == 1 and feeder["route_km"].item() == pytest.approx(5.0 * 1.2)


def test_cells_that_fill_a_cabinet_keep_their_own():
    """Cells of 2,000 lines (31.25 primaries, two cabinets of 16) 2 km apart: without the rule the far one would
    be served by 2 km of distribution (cheaper per km than feeder); a distribution cable carries a fibre per
    secondary splitter (250 here), so a cell that fills a cabinet keeps its own."""
    cells = np.array([[5000.0, 0.0], [5000.0, 2000.0]])
    inp = _input(cells, np.full(2, 2000.0), [[0.0, 1000.0]])
    res = solve_pon(inp, threads=1, odn=True)
    assert res.pon["odn"]["cabinet_positions"] == 2 and res.pon["odn"]["cabinets"] == 4


# --------------------------------------------------------------------------- the in-cell distribution constant

def _hexagon_m(res: int = 7) -> shapely.Polygon:
    """An H3 cell near Qingdao in UTM 51N [m] (shapely polygon)."""
    tr = Transformer.from_crs(4326, 32651, always_xy=True)
    ring = h3.cell_to_boundary(h3.latlng_to_cell(36.07, 120.38, res))
    return shapely.Polygon([tr.transform(lon, lat) for lat, lon in ring])


def _uniform(poly: shapely.Polygon, n: int, rng) -> np.ndarray:
    minx, miny, maxx, maxy = poly.bounds
    out = np.zeros((0, 2))
    while len(out) < n:
        p = rng.uniform([minx, miny], [maxx, maxy], (2 * n, 2))
        out = np.vstack([out, p[shapely.contains_xy(poly, p[:, 0], p[:, 1])]])
    return out[:n]


def test_mean_distance_to_a_hexagon_centre_is_0608_edge_not_the_constant():
    """(1/3 + ln 3 / 4) x edge = 0.6080 x edge: the 0.63 of old was not this."""
    poly = _hexagon_m()
    xy = np.asarray(poly.exterior.coords)[:-1]
    edge = float(np.hypot(*(np.roll(xy, 1, axis=0) - xy).T).mean())
    pts = _uniform(poly, 40_000, np.random.default_rng(0))
    mean = np.hypot(*(pts - np.asarray(poly.centroid.coords[0])).T).mean() / edge
    assert mean == pytest.approx(1 / 3 + np.log(3) / 4, rel=0.01)
    assert abs(mean - MST_CONSTANT) > 0.05


@pytest.mark.parametrize("n", [32, 128, 400])
def test_in_cell_mst_constant_by_monte_carlo(n):
    """The MST of n uniform points in an H3 hexagon of area A is MST_CONSTANT sqrt(n A) within 3 % for the
    30-400 distribution points of a cell (gis.trees' own Euclidean MST)."""
    poly = _hexagon_m()
    rng = np.random.default_rng(n)
    ratio = np.mean([feeder_tree(_uniform(poly, n, rng), root=0).total_m / np.sqrt(n * poly.area)
                     for _ in range(max(8, 4000 // n))])
    assert ratio == pytest.approx(MST_CONSTANT, rel=0.03)
