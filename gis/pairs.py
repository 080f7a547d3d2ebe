"""Sparse pair tables from a KD-tree, never from a dense distance matrix.

All coordinates are planar metres (a metric CRS such as EPSG:32651).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree


def pairs_within_radius(demand_xy: np.ndarray, radius_m: np.ndarray, site_xy: np.ndarray) -> pd.DataFrame:
    """Every (demand point, site) pair with distance <= that demand point's radius.

    Parameters
    ----------
    demand_xy
        (n, 2) planar coordinates of demand points, metres.
    radius_m
        (n,) radius per demand point, metres.
    site_xy
        (m, 2) planar coordinates of candidate sites, metres.

    Returns
    -------
    DataFrame with columns ``cell`` (row of demand), ``site`` (row of sites),
    ``dist_m``, sorted by ``cell`` then ``dist_m``.
    """
    demand_xy = np.asarray(demand_xy, dtype=float).reshape(-1, 2)
    site_xy = np.asarray(site_xy, dtype=float).reshape(-1, 2)
    radius_m = np.broadcast_to(np.asarray(radius_m, dtype=float), (len(demand_xy),))
    empty = pd.DataFrame({"cell": np.array([], dtype=np.int64), "site": np.array([], dtype=np.int64),
                          "dist_m": np.array([], dtype=float)})
    if len(demand_xy) == 0 or len(site_xy) == 0:
        return empty
    tree = cKDTree(site_xy)
    cells, sites = [], []
    # one ball query per distinct radius: a handful of vectorised calls, not a loop per point
    for r in np.unique(radius_m):
        idx = np.flatnonzero(radius_m == r)
        hits = tree.query_ball_point(demand_xy[idx], r=float(r), return_sorted=False)
        lens = np.fromiter((len(h) for h in hits), dtype=np.int64, count=len(hits))
        if lens.sum() == 0:
            continue
        cells.append(np.repeat(idx, lens))
        sites.append(np.concatenate([np.asarray(h, dtype=np.int64) for h in hits if len(h)]))
    if not cells:
        return empty
    cell = np.concatenate(cells)
    site = np.concatenate(sites)
    dist = np.hypot(*(demand_xy[cell] - site_xy[site]).T)
    out = pd.DataFrame({"cell": cell, "site": site, "dist_m": dist})
    return out.sort_values(["cell", "dist_m", "site"], kind="stable").reset_index(drop=True)


def nearest_pairs(demand_xy: np.ndarray, site_xy: np.ndarray, *, k: int, max_dist_m: float) -> pd.DataFrame:
    """The ``k`` nearest sites of every demand point, keeping only those within ``max_dist_m``.

    Returns a DataFrame with columns ``cell``, ``site``, ``dist_m`` (a point with
    no site in reach has no row), sorted by ``cell`` then ``dist_m``.
    """
    demand_xy = np.asarray(demand_xy, dtype=float).reshape(-1, 2)
    site_xy = np.asarray(site_xy, dtype=float).reshape(-1, 2)
    if len(demand_xy) == 0 or len(site_xy) == 0:
        return pd.DataFrame({"cell": np.array([], dtype=np.int64), "site": np.array([], dtype=np.int64),
                             "dist_m": np.array([], dtype=float)})
    k = int(min(k, len(site_xy)))
    dist, idx = cKDTree(site_xy).query(demand_xy, k=k, distance_upper_bound=max_dist_m)
    dist = np.asarray(dist).reshape(len(demand_xy), k)
    idx = np.asarray(idx).reshape(len(demand_xy), k)
    ok = np.isfinite(dist) & (dist <= max_dist_m)
    cell = np.repeat(np.arange(len(demand_xy)), k)[ok.ravel()]
    out = pd.DataFrame({"cell": cell, "site": idx.ravel()[ok.ravel()].astype(np.int64), "dist_m": dist.ravel()[ok.ravel()]})
    return out.sort_values(["cell", "dist_m", "site"], kind="stable").reset_index(drop=True)


def pairs_by_type(demand_xy: np.ndarray, radius_m: dict[str, np.ndarray], site_xy: np.ndarray,
                  site_type: np.ndarray, *, max_pairs: int | None = None,
                  cell_polygons: np.ndarray | None = None) -> tuple[pd.DataFrame, int]:
    """Pairs of every demand cell with the sites of each type within that type's radius.

    ``radius_m[type]`` is (n,) (e.g. the type's link-budget radius in each cell's clutter class);
    ``site_type`` (m,) the type of each site (one unit type per position). ``max_pairs`` keeps the
    nearest ``max_pairs`` sites *of each type* per cell, so near small cells never crowd out the macros.

    Without ``cell_polygons`` a pair means "the site lies within radius of the cell's planning point".
    With them (shapely polygons in the same metric CRS), a pair means "the site lies within radius of
    some part of the cell" (it can carry traffic of the cell: the reach of the capacity flows), and the
    boolean column ``cover`` says whether it also lies within radius of the planning point (coverage).
    Returns (pairs sorted by ``cell`` then ``dist_m``, pairs within radius before the cap).
    """
    site_xy = np.asarray(site_xy, dtype=float).reshape(-1, 2)
    site_type = np.asarray(site_type).astype(str)
    parts, within = [], 0
    for t, r in radius_m.items():
        rows = np.flatnonzero(site_type == t)
        p = (pairs_within_radius(demand_xy, r, site_xy[rows]) if cell_polygons is None
             else _pairs_near_polygons(demand_xy, r, site_xy[rows], cell_polygons))
        within += len(p)
        if max_pairs is not None and len(p):
            p = p[p.groupby("cell").cumcount().to_numpy() < max_pairs]
        parts.append(p.assign(site=rows[p["site"].to_numpy()]))
    if not parts:
        return pairs_within_radius(demand_xy, 0.0, site_xy[:0]), 0
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["cell", "dist_m", "site"], kind="stable").reset_index(drop=True), within


def _pairs_near_polygons(demand_xy: np.ndarray, radius_m: np.ndarray, site_xy: np.ndarray,
                         cell_polygons: np.ndarray) -> pd.DataFrame:
    """(cell, site, dist_m, cover): sites within ``radius_m`` of the cell polygon; ``cover``: of its planning point.

    A KD-tree ball query of radius + the cell's circumradius (farthest vertex from the planning point)
    finds the candidates; shapely's exact polygon distance keeps those within radius of the cell.
    """
    demand_xy = np.asarray(demand_xy, dtype=float).reshape(-1, 2)
    radius_m = np.broadcast_to(np.asarray(radius_m, dtype=float), (len(demand_xy),))
    coords, owner = shapely.get_coordinates(cell_polygons, return_index=True)
    far = np.zeros(len(demand_xy))
    np.maximum.at(far, owner, np.hypot(*(coords - demand_xy[owner]).T))
    p = pairs_within_radius(demand_xy, np.ceil(radius_m + far), site_xy)
    c, j = p["cell"].to_numpy(), p["site"].to_numpy()
    near = shapely.distance(cell_polygons[c], shapely.points(site_xy[j])) <= radius_m[c]
    p = p[near].reset_index(drop=True)
    return p.assign(cover=p["dist_m"].to_numpy() <= radius_m[p["cell"].to_numpy()])
