"""Candidate 5G sites and candidate OLT / central-office sites.

5G sites (the Layers ``candidates`` contract)
    ``grid``: one per demand cell at its population-weighted centre, or, with
    ``site_res``, one per populated sub-cell of that resolution inside each
    demand cell (more sites where a cell is coarse; see :func:`grid_sites`);
    ``user``: extra candidate points from a file; ``existing``: existing
    stations (optional ``type`` macro/small), each location and type added as a
    site with its count (co-located stations of one type are merged);
    ``small``: small-cell positions at street-furniture spacing (H3 resolution 10
    centres, ~114 m apart) in the small cell's clutter classes (see :func:`small_cell_sites`;
    the layer build keeps those within reach of some cell).
    Every 5G candidate is one position of one ``type`` (macro or small): a macro
    site holds one macro gNB, a small-cell position one small cell.
OLT sites (the Layers ``offices`` contract)
    generated: one per populated H3 resolution-6 area, split into its
    resolution-7 (then 8) children where its lines would fill more than half a
    site, placed at the lattice centre nearest the area's population-weighted
    centre; plus one at every urban core. Or a user layer (``existing``,
    ``ports``, ``free_slots``, ``chassis`` optional).
    Without a user layer the generated offices are, by default, a *modelled* existing
    plant (:func:`model_existing_plant`): today's GPON central offices, each with
    installed chassis and free card slots sized from the lines it serves today
    (``source`` = ``modelled``); offices added only to reach cells beyond the optical
    reach are candidate new sites (``source`` = ``reach``).

Every site gets ``district_id`` and ``clutter`` from the demand cell containing
it (or the nearest one); points outside every district are dropped with a
warning.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import geopandas as gpd
import h3.api.numpy_int as h3n
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from gis.crs import WGS84, lonlat_to_xy
from gis.demand import locate_district
from gis.errors import ValidationError
from gis.grid import h3_parent, h3_resolution, h3_str
from gis.io import read_vector
from gis.validate import check_point_layer

log = logging.getLogger(__name__)

SITE_COLUMNS = ["site_id", "district_id", "clutter", "lon", "lat", "x_m", "y_m", "source", "type",
                "existing_macro", "existing_small", "cell"]
OFFICE_COLUMNS = ["office_id", "district_id", "clutter", "lon", "lat", "x_m", "y_m", "existing",
                  "existing_ports", "name", "cell", "free_slots", "chassis", "source"]
#: ``offices.source``: generated candidate (new), modelled existing CO, added for optical reach (new), user layer
OFFICE_SOURCES = ("generated", "modelled", "reach", "user")


def _points(df: pd.DataFrame) -> gpd.GeoSeries:
    return gpd.GeoSeries(gpd.points_from_xy(df["lon"], df["lat"]), crs=WGS84)


def _nearest_member(codes: np.ndarray, n: int, w: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """For each group, the member row nearest the group's ``w``-weighted centre."""
    wsum = np.bincount(codes, weights=w, minlength=n)
    cnt = np.bincount(codes, minlength=n)
    wx = np.where(wsum > 0, np.bincount(codes, weights=w * x, minlength=n) / np.where(wsum > 0, wsum, 1),
                  np.bincount(codes, weights=x, minlength=n) / np.maximum(cnt, 1))
    wy = np.where(wsum > 0, np.bincount(codes, weights=w * y, minlength=n) / np.where(wsum > 0, wsum, 1),
                  np.bincount(codes, weights=y, minlength=n) / np.maximum(cnt, 1))
    d2 = (x - wx[codes]) ** 2 + (y - wy[codes]) ** 2
    order = np.lexsort((d2, codes))
    first = np.ones(len(order), dtype=bool)
    first[1:] = codes[order][1:] != codes[order][:-1]
    best = np.empty(n, dtype=np.int64)
    best[codes[order][first]] = order[first]
    return best


# --------------------------------------------------------------------------- 5G sites

def grid_sites(cells: gpd.GeoDataFrame, *, fine: pd.DataFrame | None = None, fine_to_cell: np.ndarray | None = None,
               site_res: dict[str, int] | None = None) -> gpd.GeoDataFrame:
    """Candidate sites from the demand grid.

    Parameters
    ----------
    cells
        The demand cells (:func:`gis.grid.aggregate`, rows in Layers order).
    fine, fine_to_cell
        The fine lattice with ``population`` and the row of each fine cell's
        demand cell; needed only with ``site_res``.
    site_res
        ``None`` (default): one site per demand cell, at its population-weighted
        centre. Or an H3 resolution per clutter class: one site per populated
        sub-cell of that resolution (never coarser than the cell itself), at the
        lattice centre nearest the sub-cell's population-weighted centre.
    """
    n = len(cells)
    if site_res is None:
        out = pd.DataFrame({
            "site_id": "G-" + cells["cell_id"].astype(str).to_numpy(),
            "district_id": cells["district_id"].to_numpy(), "clutter": cells["clutter"].to_numpy(),
            "lon": cells["lon"].to_numpy(), "lat": cells["lat"].to_numpy(),
            "x_m": cells["x_m"].to_numpy(), "y_m": cells["y_m"].to_numpy(),
            "cell": np.arange(n, dtype=np.int64)})
    else:
        cell_clutter = cells["clutter"].to_numpy()[fine_to_cell]
        fine_res = h3_resolution(fine["h3"].to_numpy())
        r = np.array([site_res[c] for c in cell_clutter], dtype=np.int64)
        r = np.clip(r, cells["h3_res"].to_numpy()[fine_to_cell], fine_res)
        sub = h3_parent(fine["h3"].to_numpy(), r)
        key = pd.MultiIndex.from_arrays([fine_to_cell, sub])
        codes, uniq = pd.factorize(key, sort=True)
        g = len(uniq)
        pop = fine["population"].to_numpy(dtype=float)
        g_pop = np.bincount(codes, weights=pop, minlength=g)
        g_cell = np.asarray(uniq.get_level_values(0), dtype=np.int64)
        keep = g_pop > 0
        has = np.zeros(n, dtype=bool)
        has[g_cell[keep]] = True
        first = np.unique(g_cell, return_index=True)[1]  # a cell without people keeps one site
        keep[first[~has[g_cell[first]]]] = True
        best = _nearest_member(codes, g, pop, fine["x_m"].to_numpy(), fine["y_m"].to_numpy())[keep]
        g_cell = g_cell[keep]
        sub_ids = h3_str(np.asarray(uniq.get_level_values(1), dtype=np.uint64)[keep])
        out = pd.DataFrame({
            "site_id": [f"G-{c}-{s}" for c, s in zip(cells["cell_id"].to_numpy()[g_cell], sub_ids, strict=True)],
            "district_id": cells["district_id"].to_numpy()[g_cell], "clutter": cells["clutter"].to_numpy()[g_cell],
            "lon": fine["lon"].to_numpy()[best], "lat": fine["lat"].to_numpy()[best],
            "x_m": fine["x_m"].to_numpy()[best], "y_m": fine["y_m"].to_numpy()[best], "cell": g_cell})
        out = out.sort_values(["cell", "site_id"], kind="stable").reset_index(drop=True)
    out["source"] = "grid"
    out["type"] = "macro"
    out["existing_macro"] = 0
    out["existing_small"] = 0
    return gpd.GeoDataFrame(out[SITE_COLUMNS], geometry=_points(out), crs=WGS84)


def locate_cells(lon: np.ndarray, lat: np.ndarray, cells: gpd.GeoDataFrame, districts: gpd.GeoDataFrame,
                 *, crs_metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For points: (district_id or None, row of the containing/nearest demand cell, x_m, y_m)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    district = locate_district(lon, lat, districts)
    x, y = lonlat_to_xy(lon, lat, crs_metric)
    cell = np.full(len(lon), -1, dtype=np.int64)
    if len(lon):
        pts = shapely.points(lon, lat)
        p_idx, c_idx = shapely.STRtree(np.asarray(cells.geometry.values)).query(pts, predicate="within")
        cell[p_idx[::-1]] = c_idx[::-1]
        miss = np.flatnonzero(cell < 0)
        if len(miss):
            tree = cKDTree(np.column_stack([cells["x_m"].to_numpy(), cells["y_m"].to_numpy()]))
            cell[miss] = tree.query(np.column_stack([x[miss], y[miss]]), k=1)[1]
    return district, cell, x, y


def _read_points(path: str | os.PathLike) -> tuple[gpd.GeoDataFrame, str]:
    file = str(path)
    gdf, problems = check_point_layer(read_vector(path), file=file)
    if problems:
        raise ValidationError(problems)
    return gdf, file


def user_sites(path: str | os.PathLike, cells: gpd.GeoDataFrame, districts: gpd.GeoDataFrame, *,
               crs_metric: str, existing: bool = False, source: str | None = None) -> gpd.GeoDataFrame:
    """Candidate sites from a point file (``existing=False``: source 'user', or ``source``, e.g. 'tower' for
    existing towers priced at the upgrade price) or existing stations.

    Existing stations may carry a ``type`` column (``macro`` or ``small``;
    missing or empty means macro). Stations at the same spot (within 1 m) are
    merged into one site with their counts. Points outside every district are
    dropped with a warning.
    """
    gdf, file = _read_points(path)
    lon = gdf.geometry.x.to_numpy()
    lat = gdf.geometry.y.to_numpy()
    kind = np.full(len(gdf), "macro", dtype=object)
    if existing and "type" in gdf.columns:
        t = gdf["type"].fillna("macro").astype(str).str.strip().str.lower().replace("", "macro")
        bad = ~t.isin(["macro", "small"])
        if bad.any():
            rows = ", ".join(str(i + 2) for i in np.flatnonzero(bad.to_numpy())[:8])
            raise ValidationError([(file, "type", f"type must be 'macro' or 'small' (rows {rows})")])
        kind = t.to_numpy()
    district, cell, x, y = locate_cells(lon, lat, cells, districts, crs_metric=crs_metric)
    inside = district != None  # noqa: E711 - elementwise on an object array
    if (~inside).any():
        log.warning("%s: %d of %d point(s) lie outside every district and are not used", file,
                    int((~inside).sum()), len(gdf))
    df = pd.DataFrame({"lon": lon, "lat": lat, "x_m": x, "y_m": y, "district_id": district, "cell": cell,
                       "macro": (kind == "macro").astype(np.int64), "small": (kind == "small").astype(np.int64)})[inside]
    src = "existing" if existing else (source or "user")
    df["type"] = kind[inside]
    if existing:
        df["spot"] = list(zip(np.round(df["x_m"]).astype(np.int64), np.round(df["y_m"]).astype(np.int64),
                              df["type"], strict=True))
        df = (df.groupby("spot", sort=False)
                .agg(lon=("lon", "first"), lat=("lat", "first"), x_m=("x_m", "first"), y_m=("y_m", "first"),
                     district_id=("district_id", "first"), cell=("cell", "first"),
                     macro=("macro", "sum"), small=("small", "sum"), type=("type", "first"))
                .reset_index(drop=True))
    prefix = "E" if existing else ("T" if src == "tower" else "U")
    df["site_id"] = [f"{prefix}-{i + 1}" for i in range(len(df))]
    df["clutter"] = cells["clutter"].to_numpy()[df["cell"].to_numpy()] if len(df) else pd.Series(dtype=object)
    df["source"] = src
    df["existing_macro"] = df["macro"] if existing else 0
    df["existing_small"] = df["small"] if existing else 0
    df = df.reset_index(drop=True)
    return gpd.GeoDataFrame(df[SITE_COLUMNS], geometry=_points(df), crs=WGS84)


def small_cell_sites(cells: gpd.GeoDataFrame, *, fine: pd.DataFrame, fine_to_cell: np.ndarray, res: int,
                     clutters, crs_metric: str) -> gpd.GeoDataFrame:
    """Small-cell positions: one per H3 cell of resolution ``res`` (10: ~114 m apart) inside populated cells.

    Only in demand cells whose clutter class is in ``clutters`` (the small cell's classes: default dense urban
    and urban, where the hot spots lie), never in rural cells (small cells serve capacity and hot spots, not rural coverage). A position is the H3 centre;
    ``type`` = ``small``, ``source`` = ``small``, one small cell per position.
    """
    clutter = cells["clutter"].astype(str).to_numpy()
    ok_cell = np.isin(clutter, list(clutters)) & (clutter != "rural")
    f = np.flatnonzero(ok_cell[fine_to_cell] & (fine["population"].to_numpy(float) > 0))
    h = fine["h3"].to_numpy()[f]
    fine_res = int(h3_resolution(h[:1])[0]) if len(h) else res
    if res <= fine_res:
        pos, owner = np.unique(h3_parent(h, res), return_index=True)
    else:
        kids = [h3n.cell_to_children(int(c), res) for c in h]
        owner = np.repeat(np.arange(len(h)), [len(k) for k in kids])
        pos = np.concatenate(kids).astype(np.uint64) if kids else np.zeros(0, np.uint64)
    cell = fine_to_cell[f][owner]
    latlng = np.array([h3n.cell_to_latlng(int(c)) for c in pos], float).reshape(-1, 2)
    inside = shapely.contains_xy(np.asarray(cells.geometry.values)[cell], latlng[:, 1], latlng[:, 0])
    pos, cell, latlng = pos[inside], cell[inside], latlng[inside]   # a child centre outside the study area: no pole
    x, y = lonlat_to_xy(latlng[:, 1], latlng[:, 0], crs_metric)
    out = pd.DataFrame({"site_id": ["S-" + s for s in h3_str(pos)], "district_id": cells["district_id"].to_numpy()[cell],
                        "clutter": clutter[cell], "lon": latlng[:, 1], "lat": latlng[:, 0], "x_m": x, "y_m": y,
                        "source": "small", "type": "small", "existing_macro": 0, "existing_small": 0, "cell": cell})
    log.info("%d small-cell positions at H3 resolution %d", len(out), res)
    return gpd.GeoDataFrame(out[SITE_COLUMNS], geometry=_points(out), crs=WGS84)


# --------------------------------------------------------------------------- OLT / central offices

def generate_offices(fine: pd.DataFrame, fine_to_cell: np.ndarray, cells: gpd.GeoDataFrame,
                     cores: pd.DataFrame | None, districts: gpd.GeoDataFrame, *, capacity_onts: float,
                     crs_metric: str, levels: tuple[int, ...] = (6, 7, 8), min_share: float = 0.005) -> gpd.GeoDataFrame:
    """Candidate OLT sites generated from the demand (see the module docstring).

    Parameters
    ----------
    fine
        The fine lattice with ``onts`` (PON lines) and ``population`` per fine cell.
    fine_to_cell
        Row of each fine cell's demand cell.
    cores
        Urban-core points (``lon``, ``lat``, ``name``) that also get an office; may be ``None``.
    capacity_onts
        Lines one OLT site can serve (ports x split); an area is split into its
        children while its lines exceed half of this.
    levels
        H3 resolutions tried, coarse to fine (never finer than the lattice).
    min_share
        Areas with fewer lines than ``min_share x capacity_onts`` get no office
        (a district keeps at least its largest area).
    """
    onts = fine["onts"].to_numpy(dtype=float)
    codes, uniq = pd.factorize(_office_areas(fine["h3"].to_numpy(), onts, capacity_onts, levels))
    n = len(uniq)
    tot = np.bincount(codes, weights=onts, minlength=n)
    best = _nearest_member(codes, n, fine["population"].to_numpy(dtype=float), fine["x_m"].to_numpy(),
                           fine["y_m"].to_numpy())
    dist_of = fine["district"].to_numpy()[best]
    keep = tot >= min_share * capacity_onts
    for d in np.unique(dist_of):  # every district keeps at least one office
        m = dist_of == d
        if not keep[m].any():
            keep[np.flatnonzero(m)[np.argmax(tot[m])]] = True
    best = best[keep]
    gen = pd.DataFrame({
        "office_id": ["O-" + s for s in h3_str(np.asarray(uniq, dtype=np.uint64)[keep])],
        "district_id": districts["district_id"].to_numpy()[fine["district"].to_numpy()[best]],
        "lon": fine["lon"].to_numpy()[best], "lat": fine["lat"].to_numpy()[best],
        "x_m": fine["x_m"].to_numpy()[best], "y_m": fine["y_m"].to_numpy()[best],
        "cell": fine_to_cell[best], "name": "", "onts_area": tot[keep]})
    parts = [gen]
    if cores is not None and len(cores):
        parts.append(_core_offices(cores, cells, districts, crs_metric=crs_metric))
    out = pd.concat(parts, ignore_index=True)
    out["clutter"] = cells["clutter"].to_numpy()[out["cell"].to_numpy()]
    out["existing"] = False
    out["existing_ports"] = 0
    out["free_slots"] = 0
    out["chassis"] = 0
    out["source"] = "generated"
    return gpd.GeoDataFrame(out[OFFICE_COLUMNS], geometry=_points(out), crs=WGS84)


def _office_areas(h: np.ndarray, onts: np.ndarray, capacity_onts: float, levels: tuple[int, ...]) -> np.ndarray:
    """The H3 area (coarsest of ``levels`` holding at most half an office's lines) of every fine cell."""
    fine_res = int(h3_resolution(h[:1])[0]) if len(h) else levels[0]
    levels = tuple(r for r in levels if r <= fine_res) or (fine_res,)
    area_of = np.zeros(len(h), dtype=np.uint64)
    todo = np.ones(len(h), dtype=bool)
    for k, r in enumerate(levels):
        par = h3_parent(h, r)
        codes, uniq = pd.factorize(par)
        tot = np.bincount(codes, weights=onts, minlength=len(uniq))
        last = k == len(levels) - 1
        final = todo & ((tot[codes] <= capacity_onts / 2) | last)
        area_of[final] = par[final]
        todo &= ~final
        if not todo.any():
            break
    return area_of


def _core_offices(cores: pd.DataFrame, cells: gpd.GeoDataFrame, districts: gpd.GeoDataFrame, *,
                  crs_metric: str) -> pd.DataFrame:
    """An office at every urban core inside the study area (``C-1``, ``C-2``, ...)."""
    district, cell, x, y = locate_cells(cores["lon"].to_numpy(), cores["lat"].to_numpy(), cells, districts,
                                        crs_metric=crs_metric)
    ok = district != None  # noqa: E711
    return pd.DataFrame({
        "office_id": [f"C-{i + 1}" for i in range(int(ok.sum()))], "district_id": district[ok],
        "lon": cores["lon"].to_numpy()[ok], "lat": cores["lat"].to_numpy()[ok], "x_m": x[ok], "y_m": y[ok],
        "cell": cell[ok], "name": ["core: " + str(s) for s in cores["name"].to_numpy()[ok]], "onts_area": np.nan})


def _whole_column(gdf, column: str, file: str, problems: list) -> np.ndarray:
    """An optional column of whole numbers >= 0 (0 where absent or empty); bad rows go to ``problems``."""
    if column not in gdf.columns:
        return np.zeros(len(gdf), dtype=np.int64)
    p = pd.to_numeric(gdf[column].fillna(0), errors="coerce")
    bad = p.isna() | (p < 0) | (p != np.round(p))
    if bad.any():
        rows = ", ".join(str(i + 2) for i in np.flatnonzero(bad.to_numpy())[:8])
        problems.append((file, column, f"{column} must be a whole number >= 0 (rows {rows})"))
        return np.zeros(len(gdf), dtype=np.int64)
    return p.to_numpy().astype(np.int64)


def user_offices(path: str | os.PathLike, cells: gpd.GeoDataFrame, districts: gpd.GeoDataFrame, *,
                 crs_metric: str) -> gpd.GeoDataFrame:
    """Central offices / OLT sites from a point file (the existing plant; it needs a CRS).

    Optional columns: ``office_id`` (unique), ``existing`` (true/false), ``ports`` (10G-PON ports
    installed, whole >= 0), ``free_slots`` (free line-card slots in the installed chassis, whole
    >= 0) and ``chassis`` (OLT chassis installed, GPON ones included, whole >= 0: they count toward
    ``pon.max_chassis_per_site``). Without an ``existing`` column, a site is existing when it has
    ports, free slots or chassis. An existing site is upgraded with line cards (ports) in its free
    slots before any chassis or new site is paid for. This layer replaces the modelled plant.
    """
    gdf, file = _read_points(path)
    problems = []
    ports = _whole_column(gdf, "ports", file, problems)
    free_slots = _whole_column(gdf, "free_slots", file, problems)
    chassis = _whole_column(gdf, "chassis", file, problems)
    if "office_id" in gdf.columns:
        ids = gdf["office_id"].astype(str)
        dup = ids[ids.duplicated()]
        if len(dup):
            problems.append((file, "office_id", f"office ids must be unique ({dup.iloc[0]!r} repeats)"))
    if "existing" in gdf.columns:
        s = gdf["existing"].astype(str).str.strip().str.lower()
        bad = ~s.isin(["true", "false", "1", "0", "yes", "no", "1.0", "0.0"])
        if bad.any():
            rows = ", ".join(str(i + 2) for i in np.flatnonzero(bad.to_numpy())[:8])
            problems.append((file, "existing", f"existing must be true or false (rows {rows})"))
        existing = s.isin(["true", "1", "yes", "1.0"]).to_numpy()
    else:
        existing = (ports > 0) | (free_slots > 0) | (chassis > 0)
    if problems:
        raise ValidationError(problems)
    lon = gdf.geometry.x.to_numpy()
    lat = gdf.geometry.y.to_numpy()
    district, cell, x, y = locate_cells(lon, lat, cells, districts, crs_metric=crs_metric)
    ok = district != None  # noqa: E711
    if (~ok).any():
        log.warning("%s: %d of %d office(s) lie outside every district and are not used", file, int((~ok).sum()), len(gdf))
    name = gdf["name"].astype(str).to_numpy() if "name" in gdf.columns else np.full(len(gdf), "", dtype=object)
    ids = gdf["office_id"].astype(str).to_numpy() if "office_id" in gdf.columns else np.array([f"F-{i + 1}" for i in range(len(gdf))])
    out = pd.DataFrame({"office_id": ids[ok], "district_id": district[ok], "lon": lon[ok], "lat": lat[ok],
                        "x_m": x[ok], "y_m": y[ok], "cell": cell[ok], "name": name[ok],
                        "existing": existing[ok].astype(bool), "existing_ports": ports[ok],
                        "free_slots": free_slots[ok], "chassis": chassis[ok], "source": "user"})
    out["clutter"] = cells["clutter"].to_numpy()[out["cell"].to_numpy()] if len(out) else pd.Series(dtype=object)
    return gpd.GeoDataFrame(out[OFFICE_COLUMNS], geometry=_points(out), crs=WGS84)


def fill_reach(offices: gpd.GeoDataFrame, cells: gpd.GeoDataFrame, *, max_dist_m: float) -> gpd.GeoDataFrame:
    """Add generated offices until every cell with demand has one within ``max_dist_m`` of its farthest premises.

    A cell's farthest premises lie a hexagon's circumradius of its ``area_km2`` beyond its planning
    point (as the PON model's reach check counts them), so an office must lie within ``max_dist_m``
    minus that radius of the planning point. Greedy: while some cell with ONTs is out of reach, open a
    candidate office at the out-of-reach cell with the most ONTs (its planning point). Deterministic.
    A cell wider than the reach itself stays out of reach (the PON check names it).
    """
    from scipy.spatial import cKDTree

    need = cells["onts"].to_numpy(float) > 0
    xy = cells[["x_m", "y_m"]].to_numpy(float)
    area_m2 = np.maximum(cells["area_km2"].to_numpy(float), 0.0) * 1e6 if "area_km2" in cells else np.zeros(len(xy))
    budget_m = max_dist_m - np.sqrt(2.0 * area_m2 / (3.0 * np.sqrt(3.0)))  # minus the hexagon's circumradius
    office_xy = offices[["x_m", "y_m"]].to_numpy(float)
    if len(office_xy):
        d, _ = cKDTree(office_xy).query(xy, k=1)
        out = need & (d > budget_m)
    else:
        out = need.copy()
    added = []
    onts = cells["onts"].to_numpy(float)
    while out.any():
        idx = np.flatnonzero(out)
        pick = idx[np.argmax(onts[idx])]
        added.append(pick)
        out &= np.hypot(*(xy - xy[pick]).T) > budget_m
        out[pick] = False  # a cell wider than the reach: nothing closer than its own planning point
    if not added:
        return offices
    added = np.asarray(added)
    extra = pd.DataFrame({
        "office_id": [f"R-{cells['cell_id'].iloc[i]}" for i in added],
        "district_id": cells["district_id"].to_numpy()[added],
        "lon": cells["lon"].to_numpy()[added], "lat": cells["lat"].to_numpy()[added],
        "x_m": xy[added, 0], "y_m": xy[added, 1], "clutter": cells["clutter"].to_numpy()[added],
        "existing": False, "existing_ports": 0, "cell": added, "name": "added for optical reach",
        "free_slots": 0, "chassis": 0, "source": "reach"})
    extra = gpd.GeoDataFrame(extra, geometry=gpd.points_from_xy(extra["lon"], extra["lat"]), crs=offices.crs or WGS84)
    extra = extra.reindex(columns=offices.columns).fillna({c: 0 for c in ("gpon_lines", "gpon_ports")})
    return gpd.GeoDataFrame(pd.concat([offices, extra], ignore_index=True), crs=offices.crs or WGS84)


# --------------------------------------------------------------------------- the modelled existing plant

@dataclass(frozen=True)
class PlantModel:
    """How the default models today's GPON plant at the generated offices (``[pon]`` of the scenario).

    ``lines_per_port``: today's lines one installed GPON port serves [lines/port];
    ``slot_fill``: share of an installed chassis's service slots its GPON cards fill (the rest are free);
    ``card_ports``: PON ports per line card; ``slots_per_chassis``: service slots per chassis.
    """

    lines_per_port: float = 40.0
    slot_fill: float = 0.8
    card_ports: int = 16
    slots_per_chassis: int = 17

    def __post_init__(self):
        if not (self.lines_per_port > 0 and 0 < self.slot_fill <= 1 and self.card_ports >= 1
                and self.slots_per_chassis >= 1):
            raise ValueError(f"bad plant model {self}")


def model_existing_plant(offices: gpd.GeoDataFrame, cells: gpd.GeoDataFrame, plant: PlantModel) -> gpd.GeoDataFrame:
    """The generated offices as a *modelled* existing GPON plant (``source`` = ``modelled``).

    Every generated office (one per H3 area and urban core, ``source`` = ``generated``) becomes an
    existing central office that serves today's lines on GPON: each demand cell's lines go to the
    nearest such office (straight line; GPON's 20 km reach holds them all), and the office holds

        gpon_ports = ceil(lines / lines_per_port),  cards = ceil(gpon_ports / card_ports),
        chassis    = max(1, ceil(cards / (slots_per_chassis x slot_fill))),
        free_slots = chassis x slots_per_chassis - cards,

    with no 10G-PON ports yet. Offices of other sources (``reach``: added for the XGS-PON reach, ``user``)
    are returned unchanged. Columns ``gpon_lines`` and ``gpon_ports`` record what the model assumed.
    """
    out = offices.copy()
    gen = np.flatnonzero(out["source"].astype(str).to_numpy() == "generated")
    lines = np.zeros(len(out))
    if len(gen) and len(cells):
        xy = cells[["x_m", "y_m"]].to_numpy(float)
        nearest = cKDTree(out[["x_m", "y_m"]].to_numpy(float)[gen]).query(xy, k=1)[1]
        lines[gen] = np.bincount(nearest, weights=cells["onts"].to_numpy(float), minlength=len(gen))
    ports = np.ceil(lines / plant.lines_per_port - 1e-9).astype(np.int64)
    cards = -(-ports // plant.card_ports)
    chassis = np.maximum(1, np.ceil(cards / (plant.slots_per_chassis * plant.slot_fill) - 1e-9)).astype(np.int64)
    is_gen = np.zeros(len(out), dtype=bool)
    is_gen[gen] = True
    out["gpon_lines"] = np.where(is_gen, lines, 0.0)
    out["gpon_ports"] = np.where(is_gen, ports, 0)
    out["chassis"] = np.where(is_gen, chassis, out["chassis"].to_numpy())
    out["free_slots"] = np.where(is_gen, chassis * plant.slots_per_chassis - cards, out["free_slots"].to_numpy())
    out["existing"] = out["existing"].to_numpy(bool) | is_gen
    out["source"] = np.where(is_gen, "modelled", out["source"].astype(str).to_numpy())
    log.info("modelled existing plant: %d central offices, %d GPON ports, %d chassis, %d free card slots",
             int(is_gen.sum()), int(ports[is_gen].sum()), int(chassis[is_gen].sum()),
             int(out["free_slots"].to_numpy()[is_gen].sum()))
    return out
