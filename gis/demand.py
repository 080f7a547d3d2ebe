"""Population on the fine lattice (modelled, raster or table), hot spots, and the demand cells.

Sources
-------
modelled (the default)
    **There is no offline population raster for Qingdao**, so each district's
    census total is spread over its fine cells::

        pop_i = P_d * ( s * a_i K_i / sum_j a_j K_j  +  (1 - s) * a_i / sum_j a_j )
        K_i   = sum over the district's cores c of  w_c * exp(-dist(i, c) / scale)

    with ``s`` = ``urban_share``, ``scale`` = ``core_scale_km``, ``a_i`` the
    cell's area and ``w_c`` the core weights; a district without a core uses its
    representative point. Each district's cells sum to its census figure
    exactly (up to floating-point rounding, ~1e-12 relative).
raster (GeoTIFF of people per pixel, e.g. WorldPop or GHS-POP)
    pixel centres are summed into the nearest fine cell; pixels outside the
    study area are dropped. The raster's own totals are kept and reported.
table (points or polygons with a population column)
    points go to the nearest fine cell; a polygon's people are spread evenly
    over the fine cells whose centres it contains (equal-area cells, so this is
    an area overlay at the lattice's resolution). Totals are kept and reported.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from scipy.spatial import cKDTree

from gis.crs import WGS84, geoms_from_metric, geoms_to_metric, lonlat_to_xy
from gis.errors import InputError, ValidationError
from gis.io import read_vector
from gis.validate import check_numeric_column, check_point_layer, normalize_ids

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- cores

def read_cores(path: str | os.PathLike, districts: gpd.GeoDataFrame, *, id_field: str = "adcode",
               crs_metric: str) -> pd.DataFrame:
    """Urban-core points: CSV with lon, lat (or any point layer), optional district id and ``weight``.

    The district comes from the ``id_field`` or ``district_id`` column when
    present (ids must exist), otherwise from the district containing the point.
    Returns ``district_id, name, lon, lat, x_m, y_m, weight``.
    """
    file = str(path)
    gdf = read_vector(path, id_columns=(id_field,))  # ids as text: "001" stays "001"
    gdf, problems = check_point_layer(gdf, file=file)
    if problems:
        raise ValidationError(problems)
    known = set(districts["district_id"])
    col = id_field if id_field in gdf.columns else ("district_id" if "district_id" in gdf.columns else None)
    if col is not None:
        ids = normalize_ids(gdf[col])
        bad = sorted({str(i) for i in ids if i not in known})
        if bad:
            raise InputError(f"unknown district ids: {', '.join(bad[:8])}", file=file, field=col)
    else:
        ids = pd.Series(locate_district(gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy(), districts), dtype=object)
        if ids.isna().any():
            rows = [str(i + 2) for i in np.flatnonzero(ids.isna())]
            raise InputError(f"points outside every district (rows {', '.join(rows[:8])})", file=file, field="lon/lat")
    if "weight" in gdf.columns:
        w = pd.to_numeric(gdf["weight"], errors="coerce")
        if w.isna().any() or (w < 0).any():
            raise InputError("weight must be a number >= 0", file=file, field="weight")
    else:
        w = pd.Series(1.0, index=gdf.index)
    lon = gdf.geometry.x.to_numpy()
    lat = gdf.geometry.y.to_numpy()
    x, y = lonlat_to_xy(lon, lat, crs_metric)
    name = gdf["name"].astype(str).to_numpy() if "name" in gdf.columns else ids.to_numpy()
    return pd.DataFrame({"district_id": ids.to_numpy(), "name": name, "lon": lon, "lat": lat,
                         "x_m": x, "y_m": y, "weight": w.to_numpy(dtype=float)})


def default_cores(districts: gpd.GeoDataFrame, *, crs_metric: str) -> pd.DataFrame:
    """One core per district at its representative point (for a city without a cores file)."""
    pts = shapely.point_on_surface(np.asarray(districts.geometry.values))
    lon, lat = shapely.get_x(pts), shapely.get_y(pts)
    x, y = lonlat_to_xy(lon, lat, crs_metric)
    names = districts["name_en"] if "name_en" in districts.columns else districts["district_id"]
    return pd.DataFrame({"district_id": districts["district_id"].to_numpy(), "name": names.to_numpy(),
                         "lon": lon, "lat": lat, "x_m": x, "y_m": y, "weight": 1.0})


def complete_cores(cores: pd.DataFrame | None, districts: gpd.GeoDataFrame, *, crs_metric: str) -> pd.DataFrame:
    """``cores`` plus a representative-point core for every district that has none."""
    fallback = default_cores(districts, crs_metric=crs_metric)
    if cores is None or len(cores) == 0:
        return fallback
    missing = ~fallback["district_id"].isin(set(cores.loc[cores["weight"] > 0, "district_id"]))
    if missing.any():
        log.info("no urban core for district(s) %s: using representative points",
                 ", ".join(fallback.loc[missing, "district_id"].astype(str)))
    return pd.concat([cores, fallback[missing]], ignore_index=True)


def locate_district(lon: np.ndarray, lat: np.ndarray, districts: gpd.GeoDataFrame) -> np.ndarray:
    """District id containing each point (``None`` outside every district)."""
    pts = shapely.points(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    tree = shapely.STRtree(np.asarray(districts.geometry.values))
    p_idx, d_idx = tree.query(pts, predicate="within")
    out = np.full(len(pts), None, dtype=object)
    ids = districts["district_id"].to_numpy()
    out[p_idx[::-1]] = ids[d_idx[::-1]]  # first match wins
    return out


# --------------------------------------------------------------------------- population on the lattice

def modelled_population(fine: pd.DataFrame, districts: gpd.GeoDataFrame, cores: pd.DataFrame, *,
                        urban_share: float, core_scale_km: float) -> np.ndarray:
    """Census totals spread around urban cores (see the module docstring); one value per fine cell.

    A district without a row in ``cores`` is spread uniformly; use
    :func:`complete_cores` first to give it its representative point instead.
    """
    nd = len(districts)
    d_of = fine["district"].to_numpy()
    area = fine["area_km2"].to_numpy(dtype=float)
    x = fine["x_m"].to_numpy()
    y = fine["y_m"].to_numpy()
    row_of_id = {d: i for i, d in enumerate(districts["district_id"])}
    scale_m = core_scale_km * 1000.0
    kernel = np.zeros(len(fine))
    for c in cores.itertuples(index=False):
        d = row_of_id.get(c.district_id)
        if d is None or c.weight <= 0:
            continue
        m = d_of == d
        kernel[m] += c.weight * np.exp(-np.hypot(x[m] - c.x_m, y[m] - c.y_m) / scale_m)
    pop_d = districts["population"].to_numpy(dtype=float)
    ak = area * kernel
    ak_sum = np.bincount(d_of, weights=ak, minlength=nd)
    a_sum = np.bincount(d_of, weights=area, minlength=nd)
    share = np.where(ak_sum[d_of] > 0, urban_share, 0.0)  # kernel underflow: all uniform
    frac = share * np.divide(ak, ak_sum[d_of], out=np.zeros_like(ak), where=ak_sum[d_of] > 0) \
        + (1.0 - share) * area / a_sum[d_of]
    pop = pop_d[d_of] * frac
    # remove the last floating-point residue, district by district
    got = np.bincount(d_of, weights=pop, minlength=nd)
    scale = np.divide(pop_d, got, out=np.ones(nd), where=got > 0)
    return pop * scale[d_of]


def _fine_tree(fine: pd.DataFrame) -> cKDTree:
    return cKDTree(np.column_stack([fine["x_m"].to_numpy(), fine["y_m"].to_numpy()]))


def _snap_radius_m(fine: pd.DataFrame) -> float:
    """A distance that covers one fine cell from its centre (circumradius, with margin)."""
    edge = math.sqrt(float(fine["area_km2"].max()) * 1e6 * 2 / (3 * math.sqrt(3)))
    return 1.05 * edge


@dataclass
class SourceReport:
    """What a user demand source contributed."""

    total: float      # people of the source placed on the lattice (inside the study area)
    dropped: float    # people read but outside the study area, not used (a raster is read only
                      # around the study area, so this is not the raster's whole remainder)
    items: int        # pixels with people / features read


def raster_population(fine: pd.DataFrame, path: str | os.PathLike, *, crs_metric: str) -> tuple[np.ndarray, SourceReport]:
    """People per fine cell from a population GeoTIFF (people per pixel).

    Needs ``rasterio`` (``pip install 'qingdao-rollout[raster]'``).
    """
    try:
        import rasterio
        from rasterio.windows import Window
    except ImportError:
        raise ImportError("a population raster needs rasterio: pip install 'qingdao-rollout[raster]'") from None
    file = str(path)
    if not Path(path).is_file():
        raise InputError("file not found", file=file)
    try:
        src = rasterio.open(path)
    except Exception as exc:  # rasterio raises RasterioIOError and friends
        raise InputError(f"not a readable raster ({str(exc).splitlines()[0][:160]})", file=file) from None
    with src:
        if src.crs is None:
            raise InputError("raster has no coordinate reference system (CRS)", file=file, field="crs")
        rcrs = CRS.from_user_input(src.crs)
        # the affine by hand (affine's `*` operator is deprecated, and rasterio's window helpers use it)
        a, b, c, d, e, f = (src.transform.a, src.transform.b, src.transform.c,
                            src.transform.d, src.transform.e, src.transform.f)
        inv = np.linalg.inv(np.array([[a, b], [d, e]]))
        to_r = Transformer.from_crs(WGS84, rcrs, always_xy=True)
        pad = 0.02  # degrees around the lattice
        lon0, lat0 = fine["lon"].min() - pad, fine["lat"].min() - pad
        lon1, lat1 = fine["lon"].max() + pad, fine["lat"].max() + pad
        xs, ys = to_r.transform(np.array([lon0, lon1, lon0, lon1]), np.array([lat0, lat0, lat1, lat1]))
        cr = inv @ np.vstack([np.asarray(xs) - c, np.asarray(ys) - f])  # rows: col, row
        col0, col1 = max(int(np.floor(cr[0].min())), 0), min(int(np.ceil(cr[0].max())), src.width)
        row0, row1 = max(int(np.floor(cr[1].min())), 0), min(int(np.ceil(cr[1].max())), src.height)
        if col1 <= col0 or row1 <= row0:
            return np.zeros(len(fine)), SourceReport(total=0.0, dropped=0.0, items=0)
        band = src.read(1, window=Window(col0, row0, col1 - col0, row1 - row0), masked=True).astype(float)
        data = band.filled(0.0)
    data[~np.isfinite(data) | (data < 0)] = 0.0
    rows, cols = np.nonzero(data > 0)
    vals = data[rows, cols]
    cc = cols + col0 + 0.5
    rr = rows + row0 + 0.5
    px, py = a * cc + b * rr + c, d * cc + e * rr + f
    mx, my = lonlat_to_xy(*Transformer.from_crs(rcrs, WGS84, always_xy=True).transform(px, py), crs_metric)
    pop, used = _nearest_sum(fine, np.asarray(mx), np.asarray(my), vals, _snap_radius_m(fine))
    return pop, SourceReport(total=float(vals[used].sum()), dropped=float(vals[~used].sum()), items=int(len(vals)))


def _nearest_sum(fine: pd.DataFrame, x: np.ndarray, y: np.ndarray, vals: np.ndarray, max_m: float):
    if len(x) == 0:
        return np.zeros(len(fine)), np.zeros(0, dtype=bool)
    dist, idx = _fine_tree(fine).query(np.column_stack([x, y]), k=1, distance_upper_bound=max_m)
    used = np.isfinite(dist)
    pop = np.bincount(idx[used], weights=vals[used], minlength=len(fine)).astype(float)
    return pop, used


def table_population(fine: pd.DataFrame, path: str | os.PathLike, *, field: str = "population",
                     crs_metric: str) -> tuple[np.ndarray, SourceReport]:
    """People per fine cell from a point or polygon table with a population column."""
    file = str(path)
    gdf = read_vector(path)
    gdf, problems = check_point_layer(gdf, file=file, allow_polygons=True)
    if problems:
        raise ValidationError(problems)
    vals, problems = check_numeric_column(gdf, field, file=file)
    if problems:
        raise ValidationError(problems)
    vals = vals.to_numpy(dtype=float)
    geoms = np.asarray(gdf.geometry.values)
    is_pt = shapely.get_type_id(geoms) == 0
    pop = np.zeros(len(fine))
    used = np.zeros(len(geoms), dtype=bool)
    snap = _snap_radius_m(fine)
    if is_pt.any():
        x, y = lonlat_to_xy(shapely.get_x(geoms[is_pt]), shapely.get_y(geoms[is_pt]), crs_metric)
        p, u = _nearest_sum(fine, x, y, vals[is_pt], snap)
        pop += p
        used[np.flatnonzero(is_pt)[u]] = True
    if (~is_pt).any():
        poly_idx = np.flatnonzero(~is_pt)
        centres = shapely.points(fine["lon"].to_numpy(), fine["lat"].to_numpy())
        tree = shapely.STRtree(centres)
        pi, fi = tree.query(geoms[poly_idx], predicate="contains")
        counts = np.bincount(pi, minlength=len(poly_idx))
        if len(pi):
            pop += np.bincount(fi, weights=vals[poly_idx][pi] / counts[pi], minlength=len(fine))
        used[poly_idx[counts > 0]] = True
        empty = poly_idx[counts == 0]  # polygons smaller than a cell: their representative point
        if len(empty):
            rp = shapely.point_on_surface(geoms[empty])
            x, y = lonlat_to_xy(shapely.get_x(rp), shapely.get_y(rp), crs_metric)
            p, u = _nearest_sum(fine, x, y, vals[empty], snap)
            pop += p
            used[empty[u]] = True
    return pop, SourceReport(total=float(vals[used].sum()), dropped=float(vals[~used].sum()), items=int(len(vals)))


# --------------------------------------------------------------------------- hot spots

def read_hotspots(path: str | os.PathLike, districts: gpd.GeoDataFrame, *, lines_per_km2: float,
                  crs_metric: str) -> gpd.GeoDataFrame:
    """Industrial hot spots as polygons (the Layers ``hotspots`` contract).

    Input: polygons (optional ``enterprise_lines``, ``name``, ``approximate``),
    or points with ``area_km2`` (a circle of that area) and/or
    ``enterprise_lines``. Lines default to area x ``lines_per_km2``.
    """
    file = str(path)
    gdf = read_vector(path)
    gdf, problems = check_point_layer(gdf, file=file, allow_polygons=True)
    if problems:
        raise ValidationError(problems)
    geoms = np.asarray(gdf.geometry.values)
    is_pt = shapely.get_type_id(geoms) == 0
    area, p = (check_numeric_column(gdf, "area_km2", file=file, required=False))
    problems += p
    lines, p = check_numeric_column(gdf, "enterprise_lines", file=file, required=False)
    problems += p
    if is_pt.any() and area is None and lines is None:
        problems.append((file, "area_km2", "point hot spots need an area_km2 or an enterprise_lines column"))
    if problems:
        raise ValidationError(problems)
    metric = geoms_to_metric(geoms, crs_metric)
    area_km2 = np.where(is_pt, area.to_numpy() if area is not None else 0.0, shapely.area(metric) / 1e6)
    radius = np.sqrt(np.maximum(area_km2, 0.0) * 1e6 / np.pi)
    shapes_m = np.where(is_pt, shapely.buffer(metric, np.maximum(radius, 1.0), quad_segs=16), metric)
    shapes = gpd.GeoSeries(geoms_from_metric(shapes_m, crs_metric), crs=WGS84)
    ent = lines.to_numpy() if lines is not None else area_km2 * lines_per_km2
    reps = shapely.point_on_surface(np.asarray(shapes.values)) if (~is_pt).any() else None
    lon = np.where(is_pt, shapely.get_x(geoms), shapely.get_x(reps) if reps is not None else 0.0)
    lat = np.where(is_pt, shapely.get_y(geoms), shapely.get_y(reps) if reps is not None else 0.0)
    approx = gdf["approximate"].astype(str).str.lower().isin(["true", "1", "yes"]).to_numpy() \
        if "approximate" in gdf.columns else np.zeros(len(gdf), dtype=bool)
    name = gdf["name"].astype(str).to_numpy() if "name" in gdf.columns else np.array([f"hotspot {i + 1}" for i in range(len(gdf))])
    out = gpd.GeoDataFrame({
        "name": name,
        "district_id": locate_district(lon, lat, districts),
        "approximate": approx,
        "enterprise_lines": ent.astype(float),
        "area_km2": area_km2,
        "lon": lon, "lat": lat,
        "note": gdf["note"].astype(str).to_numpy() if "note" in gdf.columns else "",
    }, geometry=shapes.values, crs=WGS84)
    outside = out["district_id"].isna()
    if outside.any():
        log.warning("%s: %d hot spot(s) lie outside every district: %s", file, int(outside.sum()),
                    ", ".join(out.loc[outside, "name"]))
    return out


def empty_hotspots() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": pd.Series(dtype=object), "district_id": pd.Series(dtype=object),
                             "approximate": pd.Series(dtype=bool), "enterprise_lines": pd.Series(dtype=float),
                             "area_km2": pd.Series(dtype=float), "lon": pd.Series(dtype=float),
                             "lat": pd.Series(dtype=float), "note": pd.Series(dtype=object)},
                            geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)


def hotspot_lines(fine: pd.DataFrame, hotspots: gpd.GeoDataFrame, *, crs_metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Spread each hot spot's enterprise lines evenly over the fine cells whose centres it contains.

    A hot spot containing no cell centre puts its lines on the nearest cell
    (within 5 km; farther away they are dropped with a warning).
    Returns (lines per fine cell, hot-spot name per fine cell or "").
    """
    lines = np.zeros(len(fine))
    names = np.full(len(fine), "", dtype=object)
    if len(hotspots) == 0:
        return lines, names
    lon = fine["lon"].to_numpy()
    lat = fine["lat"].to_numpy()
    his, fis = [], []
    for h, geom in enumerate(hotspots.geometry.values):  # a handful of parks: bbox filter, then point-in-polygon
        x0, y0, x1, y1 = geom.bounds
        cand = np.flatnonzero((lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1))
        hit = cand[shapely.contains_xy(geom, lon[cand], lat[cand])]
        his.append(np.full(len(hit), h, dtype=np.int64))
        fis.append(hit)
    hi = np.concatenate(his)
    fi = np.concatenate(fis)
    counts = np.bincount(hi, minlength=len(hotspots))
    ent = hotspots["enterprise_lines"].to_numpy(dtype=float)
    if len(hi):
        lines += np.bincount(fi, weights=ent[hi] / counts[hi], minlength=len(fine))
        names[fi] = hotspots["name"].to_numpy()[hi]
    for h in np.flatnonzero(counts == 0):
        x, y = lonlat_to_xy(hotspots["lon"].iat[h], hotspots["lat"].iat[h], crs_metric)
        d, j = _fine_tree(fine).query([float(x), float(y)], k=1)
        if d <= 5000:
            lines[j] += ent[h]
            names[j] = hotspots["name"].iat[h]
        else:
            log.warning("hot spot %r is %.0f m from the nearest demand cell; its lines are not used",
                        hotspots["name"].iat[h], d)
    return lines, names


# --------------------------------------------------------------------------- demand columns

def demand_columns(cells: pd.DataFrame, districts: gpd.GeoDataFrame, *, penetration_5g: float,
                   busy_hour_mbps_per_user: float, ont_takeup: float, enterprise_lines_per_1000: float,
                   radius_m: dict[str, float], k_coverage: dict[str, int]) -> pd.DataFrame:
    """Add households, traffic_mbps, onts, radius_m, k_coverage to aggregated cells (in place, returned).

    ``cells`` needs ``district_id``, ``population``, ``hotspot_lines``, ``clutter``.
    Households follow each district's households/population ratio.
    """
    ratio = (districts["households"].to_numpy(dtype=float)
             / np.maximum(districts["population"].to_numpy(dtype=float), 1e-12))
    by_id = dict(zip(districts["district_id"], ratio, strict=True))
    hh = cells["population"].to_numpy(dtype=float) * cells["district_id"].map(by_id).to_numpy(dtype=float)
    cells["households"] = hh
    cells["traffic_mbps"] = cells["population"] * penetration_5g * busy_hour_mbps_per_user
    cells["onts"] = hh * ont_takeup + cells["population"] * enterprise_lines_per_1000 / 1000.0 + cells["hotspot_lines"]
    cells["radius_m"] = cells["clutter"].map(radius_m).astype(float)
    cells["k_coverage"] = cells["clutter"].map(k_coverage).astype(np.int64)
    return cells
