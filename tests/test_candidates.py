"""Generated OLT candidates: every cell with lines ends up within the PON model's reach (in-cell route included)."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from gis.candidates import fill_reach
from rollout.model_odn import in_cell_reach_km

ROUTE_FACTOR = 1.4


def _cells(rng: np.random.Generator, n: int, span_m: float) -> gpd.GeoDataFrame:
    xy = rng.uniform(0.0, span_m, size=(n, 2))
    return gpd.GeoDataFrame({
        "cell_id": [f"c{i}" for i in range(n)], "district_id": "D", "clutter": "rural",
        "x_m": xy[:, 0], "y_m": xy[:, 1], "lon": 120.0 + xy[:, 0] / 1e5, "lat": 36.0 + xy[:, 1] / 1e5,
        "onts": rng.integers(0, 50, size=n).astype(float), "area_km2": rng.choice([0.1, 5.0, 24.0, 36.0], size=n)},
        geometry=gpd.points_from_xy(120.0 + xy[:, 0] / 1e5, 36.0 + xy[:, 1] / 1e5), crs="EPSG:4326")


def _offices(cells: gpd.GeoDataFrame, rows: np.ndarray) -> gpd.GeoDataFrame:
    o = pd.DataFrame({"office_id": [f"O-{i}" for i in rows], "district_id": "D", "clutter": "urban",
                      "lon": cells["lon"].to_numpy()[rows], "lat": cells["lat"].to_numpy()[rows],
                      "x_m": cells["x_m"].to_numpy()[rows], "y_m": cells["y_m"].to_numpy()[rows],
                      "existing": False, "existing_ports": 0, "cell": rows, "name": "core"})
    return gpd.GeoDataFrame(o, geometry=gpd.points_from_xy(o["lon"], o["lat"]), crs="EPSG:4326")


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 120), n_offices=st.integers(0, 3))
def test_every_cell_with_lines_reaches_an_office_with_its_in_cell_route(seed, n, n_offices):
    """The PON pair condition, route km + in-cell km <= reach, holds for every cell that fits in the reach."""
    rng = np.random.default_rng(seed)
    cells = _cells(rng, n, span_m=40_000.0)
    reach_km = 10.5
    max_dist_m = reach_km * 1000.0 / ROUTE_FACTOR
    out = fill_reach(_offices(cells, rng.choice(n, size=min(n, n_offices), replace=False)), cells,
                     max_dist_m=max_dist_m)
    d_m, _ = cKDTree(out[["x_m", "y_m"]].to_numpy(float)).query(cells[["x_m", "y_m"]].to_numpy(float), k=1) \
        if len(out) else (np.full(n, np.inf), None)
    in_cell = in_cell_reach_km(cells["area_km2"].to_numpy(float), ROUTE_FACTOR)
    fits = (cells["onts"].to_numpy() > 0) & (in_cell <= reach_km)
    route_km = d_m * ROUTE_FACTOR / 1000.0 + in_cell
    assert (route_km[fits] <= reach_km + 1e-9).all()


def test_a_large_cell_just_inside_straight_reach_gets_its_own_office():
    """24 km2 cells (about 3 km circumradius): 6 km straight is in reach without the in-cell route, not with it."""
    cells = _cells(np.random.default_rng(0), 2, span_m=1.0)
    cells[["x_m", "area_km2", "onts"]] = [[0.0, 24.0, 10.0], [6000.0, 24.0, 10.0]]
    out = fill_reach(_offices(cells, np.array([0])), cells, max_dist_m=7500.0 * 0.98)
    assert list(out["office_id"]) == ["O-0", "R-c1"]
