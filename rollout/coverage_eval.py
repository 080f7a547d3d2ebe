"""Post-solve coverage: best-server RSRP on a fine H3 lattice over the whole study area.

The integer program tests coverage at the demand cells' planning points; this evaluation tests it
everywhere. Every demand cell is cut into the H3 cells of the evaluation resolution (10, ~0.015 km²,
in dense-urban and urban cells; 9, ~0.1 km², elsewhere) whose centres lie inside it (the planning point
when none does); each lattice point carries an equal share of its demand cell's area and population, so
the shares add up to the study area and the census total. At every point :func:`rollout.radio.best_server_rsrp`
gives the strongest station's *design* RSRP (indoor user at the planned cell-edge probability: body loss,
building penetration and shadowing margin of the point's clutter class subtracted); the point is covered
when it reaches the scenario's ``radio.threshold_dbm`` (the required signal of its best server's budget),
i.e. exactly when it lies within its best server's radius. The headline coverage figures of a plan
(``coverage.population_covered_share`` / ``area_covered_share``) are this evaluation's.

``plan.json["coverage"]["evaluation"]`` = {threshold_dbm, points, area_share, population_share,
by_district: [{district_id, name, points, area_share, population_share}],
rsrp_histogram: [{dbm_lo, dbm_hi, points, population}]}; the lattice is the plan.gpkg layer ``rsrp``
(h3, district_id, clutter, population, area_km2, rsrp_dbm, covered; WGS-84 points). Explicit
``radio.<type>.radius_m`` overrides do not enter this evaluation (it uses the link budgets).
"""
from __future__ import annotations

import logging

import geopandas as gpd
import h3.api.numpy_int as h3n
import numpy as np
import pandas as pd
import shapely

from gis.crs import lonlat_to_xy
from rollout.radio import best_server_rsrp
from rollout.radio_plan import scenario_budgets

log = logging.getLogger(__name__)

EVAL_RES = {"dense_urban": 10, "urban": 10, "suburban": 9, "rural": 9}
HISTOGRAM_EDGES_DBM = np.arange(-130.0, -64.9, 5.0)   # open-ended below -130 and above -65
RSRP_COLUMNS = ["h3", "district_id", "clutter", "population", "area_km2", "rsrp_dbm", "covered"]


def _cell_h3(cell_id: str) -> int:
    return int(h3n.str_to_int(str(cell_id).split("@")[0]))


def evaluation_lattice(demand: gpd.GeoDataFrame, *, res: dict[str, int] | None = None) -> pd.DataFrame:
    """One row per lattice point: h3, cell (demand row), district_id, clutter, population, area_km2, lon, lat.

    ``demand`` is the plan's (or the layers') demand cells with ``cell_id`` (an H3 index, ``@district``
    where a border splits it), ``clutter``, ``population``, ``area_km2``, ``lon``, ``lat`` and polygons.
    """
    res = res or EVAL_RES
    geoms = np.asarray(demand.geometry.values)
    kids, owner = [], []
    for i, (cid, cl) in enumerate(zip(demand["cell_id"].astype(str), demand["clutter"].astype(str), strict=True)):
        h = _cell_h3(cid)
        r = max(res[cl], h3n.get_resolution(h))
        kids.append(np.asarray(h3n.cell_to_children(h, r), dtype=np.uint64))
        owner.append(np.full(len(kids[-1]), i))
    h = np.concatenate(kids) if kids else np.zeros(0, np.uint64)
    cell = np.concatenate(owner) if owner else np.zeros(0, np.int64)
    ll = np.array([h3n.cell_to_latlng(int(c)) for c in h], float).reshape(-1, 2)
    inside = shapely.contains_xy(geoms[cell], ll[:, 1], ll[:, 0]) if len(h) else np.zeros(0, bool)
    h, cell, lon, lat = h[inside], cell[inside], ll[inside, 1], ll[inside, 0]
    empty = np.setdiff1d(np.arange(len(demand)), cell)       # tiny border slivers: their planning point
    # uint64 throughout: a float step (concatenating an empty list) would round the H3 ids
    extra = np.array([_cell_h3(c) for c in demand["cell_id"].astype(str).to_numpy()[empty]], dtype=np.uint64)
    h = np.concatenate([h.astype(np.uint64), extra])
    cell = np.concatenate([cell, empty]).astype(np.int64)
    lon = np.concatenate([lon, demand["lon"].to_numpy(float)[empty]])
    lat = np.concatenate([lat, demand["lat"].to_numpy(float)[empty]])
    n_pts = np.bincount(cell, minlength=len(demand))
    share = 1.0 / n_pts[cell]
    return pd.DataFrame({
        "h3": [h3n.int_to_str(int(c)) for c in h], "cell": cell,
        "district_id": demand["district_id"].astype(str).to_numpy()[cell],
        "clutter": demand["clutter"].astype(str).to_numpy()[cell],
        "population": demand["population"].to_numpy(float)[cell] * share,
        "area_km2": demand["area_km2"].to_numpy(float)[cell] * share, "lon": lon, "lat": lat})


def evaluate_coverage(scenario, demand: gpd.GeoDataFrame, stations: gpd.GeoDataFrame, *, crs_metric: str,
                      district_names: dict | None = None,
                      res: dict[str, int] | None = None) -> tuple[dict, gpd.GeoDataFrame]:
    """(``coverage.evaluation``, the ``rsrp`` layer) of a plan's stations over its demand cells (lattice ``res``)."""
    budgets = scenario_budgets(scenario)
    lat = evaluation_lattice(demand, res=res)
    px, py = lonlat_to_xy(lat["lon"].to_numpy(), lat["lat"].to_numpy(), crs_metric)
    sx, sy = lonlat_to_xy(stations["lon"].to_numpy(float), stations["lat"].to_numpy(float), crs_metric)
    best = best_server_rsrp(np.column_stack([px, py]), lat["clutter"].to_numpy(), np.column_stack([sx, sy]),
                            stations["type"].astype(str).to_numpy(), budgets)
    rsrp = np.where(np.isfinite(best.rsrp_dbm), best.rsrp_dbm, np.nan)
    layer = gpd.GeoDataFrame(lat.assign(rsrp_dbm=rsrp, covered=best.covered)[RSRP_COLUMNS],
                             geometry=gpd.points_from_xy(lat["lon"], lat["lat"]), crs=4326)
    log.info("coverage evaluation: %d lattice points, %.2f%% of people, %.2f%% of area covered", len(layer),
             100 * _share(layer, "population"), 100 * _share(layer, "area_km2"))
    return _summary(scenario, layer, district_names or {}), layer


def _share(df: pd.DataFrame, col: str) -> float:
    tot = float(df[col].sum())
    return float(df.loc[df["covered"], col].sum() / tot) if tot > 0 else 0.0


def _summary(scenario, layer: gpd.GeoDataFrame, names: dict) -> dict:
    by = []
    for d, g in layer.groupby("district_id", sort=True):
        by.append({"district_id": str(d), "name": names.get(str(d), str(d)), "points": int(len(g)),
                   "area_share": _share(g, "area_km2"), "population_share": _share(g, "population")})
    return {"threshold_dbm": float(scenario.radio.threshold_dbm), "points": int(len(layer)),
            "area_share": _share(layer, "area_km2"), "population_share": _share(layer, "population"),
            "by_district": by, "rsrp_histogram": rsrp_histogram(layer),
            "method": "best-server design RSRP (indoor, shadowing margin) on H3 res 10 (dense urban, urban) / "
                      "9 (elsewhere) lattice points inside the demand cells; each point an equal share of its cell"}


def rsrp_histogram(layer: pd.DataFrame) -> list[dict]:
    """5 dB bins of design RSRP, open-ended at both ends (``None`` bounds); no server counts as the lowest bin."""
    v = layer["rsrp_dbm"].to_numpy(float)
    v = np.where(np.isfinite(v), v, -np.inf)
    idx = np.searchsorted(HISTOGRAM_EDGES_DBM, v, side="right")     # 0: below the first edge
    pts = np.bincount(idx, minlength=len(HISTOGRAM_EDGES_DBM) + 1)
    pop = np.bincount(idx, weights=layer["population"].to_numpy(float), minlength=len(HISTOGRAM_EDGES_DBM) + 1)
    lo = [None, *HISTOGRAM_EDGES_DBM.tolist()]
    hi = [*HISTOGRAM_EDGES_DBM.tolist(), None]
    return [{"dbm_lo": a, "dbm_hi": b, "points": int(n), "population": float(p)}
            for a, b, n, p in zip(lo, hi, pts, pop, strict=True)]
