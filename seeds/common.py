"""Steps shared by the seed builders: GCJ-02 boundaries to a simplified WGS-84 coverage, integer apportionment."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from gis.crs import WGS84, geometry_gcj02_to_wgs84, haversine_m


def largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    """Integers proportional to ``weights`` that sum exactly to ``total`` (Hamilton's method).

    Ties in the remainders go to the earlier row, so the result is deterministic.
    """
    weights = np.asarray(weights, dtype=float)
    exact = weights / weights.sum() * total
    base = np.floor(exact).astype(np.int64)
    short = int(total - base.sum())
    order = np.lexsort((np.arange(len(exact)), -(exact - base)))
    base[order[:short]] += 1
    return base


def coverage_to_wgs84(raw: np.ndarray, *, metric_crs: str, tolerance_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GCJ-02 polygons ``raw`` converted to WGS-84 and simplified as one coverage (shared edges stay shared).

    Returns ``(metric, simple, shift_m)``: the converted polygons in ``metric_crs``, the same simplified at
    ``tolerance_m`` (an invalid result repaired), and how far the conversion moved each vertex [m].
    """
    wgs = geometry_gcj02_to_wgs84(raw)
    before = shapely.get_coordinates(raw)
    after = shapely.get_coordinates(wgs)
    shift_m = haversine_m(before[:, 0], before[:, 1], after[:, 0], after[:, 1])
    metric = gpd.GeoSeries(wgs, crs=WGS84).to_crs(metric_crs).values
    if not shapely.coverage_is_valid(metric):
        raise SystemExit("the converted polygons are not a valid coverage; cannot simplify them safely")
    simple = shapely.coverage_simplify(metric, tolerance_m)
    simple = np.where(shapely.is_valid(simple), simple, shapely.make_valid(simple))
    return metric, simple, shift_m
