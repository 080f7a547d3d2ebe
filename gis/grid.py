"""The adaptive hexagonal demand grid (H3), fine where people are, coarse elsewhere.

Method
------
1. :func:`fine_lattice`: a fine base lattice of H3 cells (the finest resolution
   in use, 9 by default: about 0.07 km2 at Qingdao's latitude) over every
   district; a cell belongs to the district containing its centre.
2. The caller puts a population on every fine cell (:mod:`gis.demand`).
3. :func:`aggregate`: each fine cell is classified by its own density and
   mapped to its H3 ancestor at the resolution of that clutter class. Fine
   cells sharing (district, ancestor) form one demand cell; its geometry is the
   union of its fine cells clipped to the district, so demand cells never
   overlap and never leave their district; population and any other additive
   column are summed, so **district totals are preserved exactly**. The cell is
   then re-classified on its aggregated density, and located at its
   population-weighted centroid (snapped to the nearest member fine-cell centre
   when the weighted centroid falls outside the cell).

Densities use the *lattice* area (the sum of the fine H3 cells' areas), so a
coastal cell clipped by the shoreline keeps the density its people actually
have; ``area_km2`` is the area of the clipped geometry.
"""
from __future__ import annotations

import logging

import geopandas as gpd
import h3
import h3.api.numpy_int as h3n
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape

from gis.crs import WGS84, area_km2, lonlat_to_xy, xy_to_lonlat
from gis.errors import ScenarioError

log = logging.getLogger(__name__)

CLUTTERS = ("dense_urban", "urban", "suburban", "rural")
_RES_SHIFT = np.uint64(52)
_RES_MASK = np.uint64(0xF) << _RES_SHIFT

#: more fine cells than this is almost certainly a mistaken resolution
MAX_FINE_CELLS = 3_000_000


def h3_parent(cells: np.ndarray, res) -> np.ndarray:
    """Vectorised ``h3.cell_to_parent`` on uint64 H3 indexes (``res`` scalar or per cell).

    Sets the resolution field and fills the unused digits with 7, exactly as H3 does.
    """
    cells = np.asarray(cells, dtype=np.uint64)
    res = np.broadcast_to(np.asarray(res, dtype=np.uint64), cells.shape)
    out = (cells & ~_RES_MASK) | (res << _RES_SHIFT)
    unused_bits = (np.uint64(15) - res) * np.uint64(3)
    return out | ((np.uint64(1) << unused_bits) - np.uint64(1))


def h3_resolution(cells: np.ndarray) -> np.ndarray:
    """Resolution of each uint64 H3 index."""
    return ((np.asarray(cells, dtype=np.uint64) & _RES_MASK) >> _RES_SHIFT).astype(np.int64)


def h3_str(cells: np.ndarray) -> np.ndarray:
    """uint64 H3 indexes as the usual 15-character hex strings."""
    return np.array([format(int(c), "x") for c in np.asarray(cells, dtype=np.uint64)], dtype=object)


def _cells_in_polygon(geom, res: int) -> tuple[np.ndarray, np.ndarray]:
    """H3 cells at ``res`` whose centre lies in ``geom`` (lon/lat), and their centres (lat, lng).

    Faster than ``h3.geo_to_cells`` and identical to it: the children of a
    coarse cover (plus a ring, since children overhang their parent) are
    tested with a vectorised point-in-polygon.
    """
    coarse = max(res - 2, 0)
    cover = h3n.h3shape_to_cells_experimental(h3.geo_to_h3shape(geom), coarse, "overlap")
    if len(cover) == 0:
        return np.array([], dtype=np.uint64), np.zeros((0, 2))
    ring = np.unique(np.concatenate([h3n.grid_disk(c, 1) for c in cover]))
    kids = np.concatenate([h3n.cell_to_children(c, res) for c in ring])
    ll = np.array([h3n.cell_to_latlng(c) for c in kids]).reshape(-1, 2)
    shapely.prepare(geom)
    inside = shapely.contains_xy(geom, ll[:, 1], ll[:, 0])
    return kids[inside], ll[inside]


def fine_lattice(districts: gpd.GeoDataFrame, res: int, *, crs_metric: str) -> pd.DataFrame:
    """The fine base lattice over every district.

    Parameters
    ----------
    districts
        Polygons in WGS-84, one row per district (row order is kept).
    res
        H3 resolution of the lattice.
    crs_metric
        Metric CRS for ``x_m``/``y_m``.

    Returns
    -------
    DataFrame, one row per fine cell: ``h3`` (uint64), ``district`` (row of
    ``districts``), ``lon``, ``lat`` (cell centre), ``x_m``, ``y_m``,
    ``area_km2`` (H3 cell area). A district too small to hold a cell centre
    gets the cell at its representative point.
    """
    est = float(area_km2(districts, crs_metric).sum()) / h3.average_hexagon_area(res, "km^2")
    if est > MAX_FINE_CELLS:
        raise ScenarioError(f"grid: a resolution-{res} base lattice would have about {est:,.0f} cells "
                            f"(limit {MAX_FINE_CELLS:,}); lower the finest of grid.res_*")
    cells, owner, lls = [], [], []
    for i, geom in enumerate(districts.geometry.values):
        c, ll = _cells_in_polygon(geom, res)
        if len(c) == 0:
            p = geom.representative_point()
            c = np.array([h3n.latlng_to_cell(p.y, p.x, res)], dtype=np.uint64)
            ll = np.array([[p.y, p.x]])
            log.info("district %s holds no resolution-%d cell centre; using its representative point",
                     districts.iloc[i].get("district_id", i), res)
        cells.append(c)
        owner.append(np.full(len(c), i, dtype=np.int64))
        lls.append(ll)
    cells = np.concatenate(cells)
    owner = np.concatenate(owner)
    ll = np.concatenate(lls)
    # a centre on a shared border could fall in two districts: keep the first
    _, first = np.unique(cells, return_index=True)
    keep = np.sort(first)
    cells, owner, ll = cells[keep], owner[keep], ll[keep]
    x, y = lonlat_to_xy(ll[:, 1], ll[:, 0], crs_metric)
    area = np.array([h3n.cell_area(c, "km^2") for c in cells], dtype=float)
    return pd.DataFrame({"h3": cells, "district": owner, "lon": ll[:, 1], "lat": ll[:, 0],
                         "x_m": x, "y_m": y, "area_km2": area})


def classify(density_per_km2, *, dense_urban: float, urban: float, suburban: float) -> np.ndarray:
    """Clutter class by density: > dense_urban, > urban, > suburban, else rural."""
    d = np.asarray(density_per_km2, dtype=float)
    out = np.full(d.shape, "rural", dtype=object)
    out[d > suburban] = "suburban"
    out[d > urban] = "urban"
    out[d > dense_urban] = "dense_urban"
    return out


def _hexagons(cells: np.ndarray) -> np.ndarray:
    """Polygons of single H3 cells (lon/lat), built in one vectorised call where they are hexagons."""
    rings = [h3n.cell_to_boundary(c) for c in cells]
    out = np.empty(len(cells), dtype=object)
    six = np.array([len(r) == 6 for r in rings], dtype=bool)
    if six.any():
        arr = np.array([r for r, k in zip(rings, six, strict=True) if k], dtype=float)[:, :, ::-1]  # (n, 6, lng/lat)
        arr = np.concatenate([arr, arr[:, :1]], axis=1)
        out[six] = shapely.polygons(arr)
    for i in np.flatnonzero(~six):  # pentagons (none in populated land, but be exact)
        out[i] = shapely.Polygon([(lng, lat) for lat, lng in rings[i]])
    return out


def _group_geometry(cells: np.ndarray):
    return shape(h3.h3shape_to_geo(h3n.cells_to_h3shape(cells)))


def _polygonal(geom):
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon") and not p.is_empty]
    polys = [q for p in parts for q in shapely.get_parts(p)]
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def aggregate(fine: pd.DataFrame, districts: gpd.GeoDataFrame, *, res_by_clutter: dict[str, int],
              thresholds: dict[str, float], crs_metric: str, sum_cols: tuple[str, ...] = ()) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Group fine cells into demand cells whose resolution follows density.

    Parameters
    ----------
    fine
        The lattice of :func:`fine_lattice` with a ``population`` column and
        any other additive columns named in ``sum_cols``.
    districts
        The districts (WGS-84) with ``district_id``, same rows as used for ``fine``.
    res_by_clutter
        H3 resolution per clutter class, e.g. ``{"dense_urban": 9, "urban": 8, ...}``.
    thresholds
        People per km2: ``{"dense_urban": 10000, "urban": 3000, "suburban": 500}``.
    crs_metric
        Metric CRS for ``x_m``/``y_m`` and ``area_km2``.
    sum_cols
        Extra additive columns to sum per demand cell.

    Returns
    -------
    (cells, fine_to_cell): the demand cells (WGS-84 GeoDataFrame with
    ``cell_id``, ``h3``, ``district_id``, ``h3_res``, ``population``, the
    ``sum_cols``, ``lattice_km2``, ``density_per_km2``, ``clutter``,
    ``area_km2``, ``lon``, ``lat``, ``x_m``, ``y_m``) and, for every fine
    cell, the row of its demand cell.
    """
    pop = fine["population"].to_numpy(dtype=float)
    area = fine["area_km2"].to_numpy(dtype=float)
    codes, g_district, g_h3 = _group_keys(fine, pop / area, res_by_clutter, thresholds)
    n = len(g_h3)

    def gsum(v):
        return np.bincount(codes, weights=np.asarray(v, dtype=float), minlength=n)

    g_pop = gsum(pop)
    g_lattice = gsum(area)
    w = np.where(g_pop[codes] > 0, pop, area)  # a cell without people: plain area-weighted centre
    cx, cy = (gsum(w * fine[c].to_numpy()) / gsum(w) for c in ("x_m", "y_m"))
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n + 1))
    geoms = _group_geometries(fine["h3"].to_numpy(), order, bounds,
                              np.asarray(districts.geometry.values, dtype=object)[g_district])
    lon, lat = _inside_centres(geoms, cx, cy, fine, order, bounds, crs_metric)

    density = g_pop / g_lattice
    h3_ids = h3_str(g_h3)
    district_id = districts["district_id"].to_numpy()[g_district]
    out = gpd.GeoDataFrame({
        "cell_id": _cell_ids(h3_ids, district_id),
        "h3": h3_ids,
        "district_id": district_id,
        "h3_res": h3_resolution(g_h3),
        "population": g_pop,
        **{c: gsum(fine[c].to_numpy(dtype=float)) for c in sum_cols},
        "lattice_km2": g_lattice,
        "density_per_km2": density,
        "clutter": classify(density, **thresholds),
        "lon": lon, "lat": lat, "x_m": cx, "y_m": cy,
    }, geometry=gpd.GeoSeries(geoms, crs=WGS84))
    out["area_km2"] = area_km2(out, crs_metric)
    return out, codes


def _cell_ids(h3_ids: np.ndarray, district_id: np.ndarray) -> np.ndarray:
    """The H3 index, or ``"<h3>@<district_id>"`` for the parts of an H3 cell split by a district border."""
    shared = pd.Series(h3_ids).duplicated(keep=False).to_numpy()
    return np.where(shared, [f"{h}@{d}" for h, d in zip(h3_ids, district_id, strict=True)], h3_ids)


def _group_keys(fine: pd.DataFrame, density_per_km2: np.ndarray, res_by_clutter: dict[str, int],
                thresholds: dict[str, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Demand cell of every fine cell (``codes``), and each demand cell's district row and H3 index.

    A fine cell goes up to the H3 ancestor at its clutter class's resolution, within its district.
    """
    fine_class = classify(density_per_km2, **thresholds)
    target_res = np.array([res_by_clutter[c] for c in fine_class], dtype=np.int64)
    target_res = np.minimum(target_res, h3_resolution(fine["h3"].to_numpy()))
    anc = h3_parent(fine["h3"].to_numpy(), target_res)
    key = pd.MultiIndex.from_arrays([fine["district"].to_numpy(), anc])
    codes, uniq = pd.factorize(key, sort=True)
    return (codes, np.asarray(uniq.get_level_values(0), dtype=np.int64),
            np.asarray(uniq.get_level_values(1), dtype=np.uint64))


def _group_geometries(fine_h3: np.ndarray, order: np.ndarray, bounds: np.ndarray, dgeoms: np.ndarray) -> np.ndarray:
    """Union of each demand cell's fine cells, clipped to its district (``dgeoms``) where it spills over."""
    n = len(bounds) - 1
    geoms = np.empty(n, dtype=object)
    sizes = np.diff(bounds)
    single = np.flatnonzero(sizes == 1)
    geoms[single] = _hexagons(fine_h3[order[bounds[single]]])
    for g in np.flatnonzero(sizes > 1):
        geoms[g] = _group_geometry(fine_h3[order[bounds[g]:bounds[g + 1]]])
    inside = shapely.within(geoms, dgeoms)
    for g in np.flatnonzero(~inside):
        geoms[g] = _polygonal(shapely.intersection(geoms[g], dgeoms[g]))
    return geoms


def _inside_centres(geoms: np.ndarray, cx: np.ndarray, cy: np.ndarray, fine: pd.DataFrame, order: np.ndarray,
                    bounds: np.ndarray, crs_metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat of each planning point; a point outside its (clipped) cell snaps to the nearest member centre.

    ``cx``/``cy`` (metres) are moved in place with it.
    """
    x = fine["x_m"].to_numpy()
    y = fine["y_m"].to_numpy()
    lon, lat = xy_to_lonlat(cx, cy, crs_metric)
    ok = shapely.contains_xy(geoms, lon, lat)
    for g in np.flatnonzero(~ok):  # the nearest member centre is always inside
        members = order[bounds[g]:bounds[g + 1]]
        j = members[np.argmin(np.hypot(x[members] - cx[g], y[members] - cy[g]))]
        cx[g], cy[g] = x[j], y[j]
        lon[g], lat[g] = fine["lon"].iat[j], fine["lat"].iat[j]
    return lon, lat
