"""Validate input layers in one place: collect every problem, then raise once.

Each ``check_*`` function returns ``(cleaned, problems)``; a problem is a
``(file, field, reason)`` tuple, the shape :class:`~gis.errors.ValidationError`
carries. :func:`collect_problems` returns the full list (``rollout validate``
prints it as a table, see :func:`format_problems`); :func:`validate_districts`
raises one :class:`~gis.errors.ValidationError` listing them all, or returns
the merged, WGS-84 districts layer of the :class:`~gis.layers.Layers` contract.

What is checked
---------------
boundary layer
    readable; has a CRS (reprojected to WGS-84; GCJ-02 converted on request);
    has the id field; no missing or duplicate ids; not empty; every geometry
    present, non-empty and polygonal; no NaN or infinite coordinates; invalid
    polygons are repaired with ``shapely.make_valid`` (a warning names them) or
    refused when the repair leaves no polygon; coordinates within lon/lat range
    after reprojection; no two districts overlap by more than
    :data:`OVERLAP_TOLERANCE` of the smaller one (a nested district lost its
    people before).
district table
    readable; has the id and ``population`` columns; no missing or duplicate
    ids; population numeric, not missing, not negative; optional
    ``households`` and ``area_km2`` numeric and not negative.
both
    every boundary id has a table row and every table row has a boundary. Ids
    are text: CSV id columns are read as strings (``001`` stays ``001``), and
    ids differing only in leading zeros (``001`` vs ``1``) are named as such.
text
    names and ids lose control and bidi override characters (:func:`clean_text`).
"""
from __future__ import annotations

import logging
import re
from typing import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from gis.crs import WGS84, gdf_gcj02_to_wgs84
from gis.errors import InputError, ValidationError
from gis.io import read_table, read_vector

log = logging.getLogger(__name__)

Problem = tuple[str | None, str | None, str]

#: used only when a district table has no ``households`` column (China, 2020 census: 2.62)
DEFAULT_PEOPLE_PER_HOUSEHOLD = 2.62

_POLYGONAL = {"Polygon", "MultiPolygon"}


# --------------------------------------------------------------------------- helpers

#: C0/C1 controls and the bidi embedding/override/isolate marks (U+202A-U+202E, U+2066-U+2069, LRM/RLM/ALM)
_UNSAFE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")
_BREAKS = re.compile("[\t\n\r]+")


def clean_text(value) -> str:
    """User text (a title, a district name) fit for every output: controls and bidi marks removed.

    Tabs and line breaks become one space; other C0/C1 controls and the bidi override, embedding and
    isolate characters (which can make ``exe.txt`` display as ``txt.exe``) are dropped. ``None`` -> "".
    """
    if value is None:
        return ""
    return _UNSAFE_TEXT.sub("", _BREAKS.sub(" ", str(value)))


def clean_texts(values: pd.Series) -> pd.Series:
    """:func:`clean_text` of every string in ``values``; other values (numbers, missing) unchanged."""
    return values.map(lambda v: clean_text(v) if isinstance(v, str) else v)


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    """Log ``message`` as a warning the first time only: a run reads the district table more than once
    (validation, the layer build, the plan check), and one warning is enough."""
    if message not in _WARNED:
        _WARNED.add(message)
        log.warning("%s", message)


def _list(items: Iterable, limit: int = 8) -> str:
    items = [str(i) for i in items]
    head = ", ".join(items[:limit])
    return head + (f" and {len(items) - limit} more" if len(items) > limit else "")


def normalize_ids(values: pd.Series) -> pd.Series:
    """Ids as clean strings: ``370202``, ``370202.0`` and ``" 370202 "`` all become ``"370202"``.

    Missing values stay missing (``None``).
    """
    def one(v):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            return None
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v))
        if isinstance(v, (int, np.integer)):
            return str(int(v))
        s = clean_text(v).strip()
        return s or None

    return pd.Series([one(v) for v in values], index=values.index, dtype=object)


def _labels(ids: pd.Series | None, mask: np.ndarray) -> list[str]:
    """Ids of the rows in ``mask``, or 'row N' (1-based) where the id is unknown."""
    rows = np.flatnonzero(mask)
    if ids is None:
        return [f"row {r + 1}" for r in rows]
    return [ids.iloc[r] if ids.iloc[r] is not None else f"row {r + 1}" for r in rows]


def _is_wgs84(crs) -> bool:
    try:
        return CRS.from_user_input(crs).equals(CRS.from_user_input(WGS84))
    except Exception:  # pragma: no cover - pyproj raises several kinds
        return False


def _polygonal_part(geom):
    """The polygons of ``geom`` as one (Multi)Polygon, or ``None`` if it has none."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in _POLYGONAL:
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in _POLYGONAL and not p.is_empty]
    if not parts:
        return None
    polys = [q for p in parts for q in (shapely.get_parts(p) if p.geom_type == "MultiPolygon" else [p])]
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def _read(source, reader, file_hint: str | None, problems: list[Problem], **kw):
    """Read ``source`` (a path or an already-read frame); turn read errors into problems."""
    if isinstance(source, (pd.DataFrame, gpd.GeoDataFrame)):
        return source, file_hint or "<table>"
    file = str(source)
    try:
        return reader(source, **kw), file
    except InputError as exc:
        problems.append((exc.file or file, exc.field, exc.reason))
        return None, file


# --------------------------------------------------------------------------- boundary layer

def check_boundaries(gdf: gpd.GeoDataFrame, *, file: str, id_field: str = "adcode",
                     coords: str = "wgs84") -> tuple[gpd.GeoDataFrame | None, list[Problem]]:
    """Check a district boundary layer; return it cleaned (WGS-84, ``district_id``) and the problems.

    Parameters
    ----------
    gdf
        The layer as read.
    file
        Its file name, for messages.
    id_field
        Column holding the district id.
    coords
        Datum of the coordinates: ``{"wgs84", "gcj02"}``; GCJ-02 is converted to WGS-84.
    """
    if gdf is None or len(gdf) == 0:
        return None, [(file, None, "layer is empty")]
    problems: list[Problem] = []
    if coords not in ("wgs84", "gcj02"):
        problems.append((file, "boundary_coords", f"unknown datum {coords!r}; use wgs84 or gcj02"))
    ids = _boundary_ids(gdf, file, id_field, problems)
    if gdf.crs is None:
        problems.append((file, "crs", "layer has no coordinate reference system (CRS); "
                                       "save it with one, e.g. EPSG:4326 for lon/lat"))
    geoms = _boundary_geometries(gdf, file, ids, problems)
    if problems:
        return None, problems
    out = gpd.GeoDataFrame(gdf.drop(columns=[gdf.geometry.name]).copy(),
                           geometry=gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    if not _is_wgs84(out.crs):
        try:
            out = out.to_crs(WGS84)
        except Exception as exc:  # pyproj errors
            return None, [(file, "crs", f"cannot reproject from {out.crs} to WGS-84 ({exc})")]
    if coords == "gcj02":
        out = gdf_gcj02_to_wgs84(out)
    x0, y0, x1, y1 = out.total_bounds
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90) or not np.all(np.isfinite([x0, y0, x1, y1])):
        return None, [(file, "crs", f"coordinates out of lon/lat range after reprojection (bounds {x0:.1f}, {y0:.1f}, "
                                    f"{x1:.1f}, {y1:.1f}); is the declared CRS ({gdf.crs}) right?")]
    out["district_id"] = ids.to_numpy()
    overlaps = check_overlaps(out.geometry.to_numpy(), ids.to_numpy(), file=file)
    if overlaps:
        return None, overlaps
    return out.reset_index(drop=True), []


#: share of the smaller district's area two districts may overlap by (digitising slivers) before it is refused
OVERLAP_TOLERANCE = 0.005


def check_overlaps(geoms: np.ndarray, ids: np.ndarray, *, file: str,
                   tolerance: float = OVERLAP_TOLERANCE) -> list[Problem]:
    """Districts that overlap by more than ``tolerance`` of the smaller one's area, or lie inside another.

    Each place must belong to one district, or its people are counted twice or lost (a nested district
    got no demand cells). Ratios of areas are taken in lon/lat degrees: both polygons of a pair share
    the local scale, so the ratio is that of their true areas to well under 1 % for districts.
    """
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if not len(left):
        return []
    shared = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    smaller = np.minimum(shapely.area(geoms[left]), shapely.area(geoms[right]))
    share = np.divide(shared, smaller, out=np.zeros_like(shared), where=smaller > 0)
    bad = np.flatnonzero(share > tolerance)
    if not len(bad):
        return []
    pairs = [f"{ids[left[k]]} and {ids[right[k]]} "
             f"({'one inside the other' if share[k] > 0.99 else f'{share[k]:.1%} of the smaller'})" for k in bad]
    return [(file, "geometry", f"districts overlap, so their people would be lost or counted twice: {_list(pairs, 5)}; "
                               f"each place must belong to one district")]


def _boundary_ids(gdf: gpd.GeoDataFrame, file: str, id_field: str, problems: list[Problem]) -> pd.Series | None:
    """The normalised district ids (None without the id field); missing and duplicate ids are problems."""
    if id_field not in gdf.columns:
        cols = [c for c in gdf.columns if c != gdf.geometry.name]
        problems.append((file, id_field, f"id field '{id_field}' not found; set data.id_field to the column that "
                                         f"holds the district ids in both the boundary and the district table "
                                         f"(columns here: {_list(cols, 20)})"))
        return None
    return _checked_ids(gdf[id_field], file, id_field, "feature", problems)


def _checked_ids(values: pd.Series, file: str, id_field: str, unit: str, problems: list[Problem]) -> pd.Series:
    """Normalised ids; missing and duplicate ones are problems (``unit``: "feature" or "row")."""
    ids = normalize_ids(values)
    missing = ids.isna().to_numpy()
    if missing.any():
        problems.append((file, id_field, f"{int(missing.sum())} {unit}(s) have no id ({_list(_labels(None, missing))})"))
    dup = ids.duplicated(keep=False).to_numpy() & ~missing
    if dup.any():
        problems.append((file, id_field, f"duplicate ids: {_list(sorted(set(ids[dup])))}"))
    return ids


def _boundary_geometries(gdf: gpd.GeoDataFrame, file: str, ids: pd.Series | None, problems: list[Problem]) -> np.ndarray:
    """The polygons, invalid ones repaired; missing, empty, non-polygonal or unrepairable ones are problems."""
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    absent = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if absent.any():
        problems.append((file, "geometry", f"empty or missing geometry for {_list(_labels(ids, absent))}"))
    types = np.array([g.geom_type if g is not None else "" for g in geoms], dtype=object)
    nonpoly = ~absent & ~np.isin(types, list(_POLYGONAL))
    if nonpoly.any():
        kinds = sorted(set(types[nonpoly]))
        problems.append((file, "geometry", f"not a polygon ({', '.join(kinds)}) for {_list(_labels(ids, nonpoly))}"))
    nonfinite = np.zeros(len(geoms), dtype=bool)
    for i in np.flatnonzero(~absent & ~nonpoly):
        nonfinite[i] = not np.isfinite(shapely.get_coordinates(geoms[i])).all()
    if nonfinite.any():
        problems.append((file, "geometry", f"NaN or infinite coordinates in {_list(_labels(ids, nonfinite))}"))
    ok = ~absent & ~nonpoly & ~nonfinite
    invalid = np.zeros(len(geoms), dtype=bool)
    invalid[ok] = ~shapely.is_valid(geoms[ok])
    repaired = np.zeros(len(geoms), dtype=bool)
    for i in np.flatnonzero(invalid):
        fixed = _polygonal_part(shapely.make_valid(geoms[i]))
        if fixed is None:
            problems.append((file, "geometry", f"invalid polygon for {_labels(ids, np.arange(len(geoms)) == i)[0]}"
                                               f" ({shapely.is_valid_reason(geoms[i])}) cannot be repaired"))
        else:
            geoms[i] = fixed
            repaired[i] = True
    if repaired.any():
        log.warning("%s: repaired invalid geometry (shapely.make_valid) for %s", file, _list(_labels(ids, repaired)))
    return geoms


# --------------------------------------------------------------------------- district table

def _numeric(df: pd.DataFrame, col: str, ids: pd.Series | None, file: str, problems: list[Problem], *,
             allow_missing: bool = False) -> pd.Series:
    raw = df[col]
    num = pd.to_numeric(raw, errors="coerce")
    bad_text = (num.isna() & raw.notna()).to_numpy()
    if bad_text.any():
        problems.append((file, col, f"not a number for {_list(_labels(ids, bad_text))}"))
    missing = raw.isna().to_numpy()
    if missing.any() and not allow_missing:
        problems.append((file, col, f"missing (NaN) for {_list(_labels(ids, missing))}"))
    neg = (num < 0).to_numpy()
    if neg.any():
        problems.append((file, col, f"negative for {_list(_labels(ids, neg))}"))
    inf = np.isinf(num.to_numpy(dtype=float, na_value=np.nan))
    if inf.any():
        problems.append((file, col, f"infinite for {_list(_labels(ids, inf))}"))
    return num


def check_district_table(df: pd.DataFrame, *, file: str, id_field: str = "adcode") -> tuple[pd.DataFrame | None, list[Problem]]:
    """Check a district table; return it cleaned and the problems.

    Required columns: the id field and ``population``. Optional: ``name_zh``,
    ``name_en`` (or ``name``), ``households``, ``area_km2``. Missing
    households are derived from the population at
    :data:`DEFAULT_PEOPLE_PER_HOUSEHOLD` people per household (logged).
    """
    problems: list[Problem] = []
    if df is None or len(df) == 0:
        return None, [(file, None, "table has no rows")]
    for col in (id_field, "population"):
        if col not in df.columns:
            what = ("the district ids (set data.id_field to its name)" if col == id_field
                    else "the residents of each district")
            problems.append((file, col, f"required column '{col}' not found: it holds {what}; "
                                        f"columns are: {_list(df.columns, 20)}"))
    ids = None
    if id_field in df.columns:
        ids = _checked_ids(df[id_field], file, id_field, "row", problems)
    pop = _numeric(df, "population", ids, file, problems) if "population" in df.columns else None
    hh = _numeric(df, "households", ids, file, problems, allow_missing=True) if "households" in df.columns else None
    area = _numeric(df, "area_km2", ids, file, problems, allow_missing=True) if "area_km2" in df.columns else None
    if pop is not None and not problems and float(pop.sum()) <= 0:
        problems.append((file, "population", "total population is zero"))
    if problems:
        return None, problems

    out = pd.DataFrame({"district_id": ids.to_numpy()})
    name_en = df["name_en"] if "name_en" in df.columns else (df["name"] if "name" in df.columns else ids)
    name_zh = df["name_zh"] if "name_zh" in df.columns else name_en
    out["name_zh"] = clean_texts(pd.Series(name_zh).fillna("").astype(str)).to_numpy()
    out["name_en"] = clean_texts(pd.Series(name_en).fillna("").astype(str)).to_numpy()
    popv = pop.to_numpy(dtype=float)
    out["population"] = popv.astype(np.int64) if np.all(popv == np.round(popv)) else popv
    if hh is None or hh.isna().any():
        derived = popv / DEFAULT_PEOPLE_PER_HOUSEHOLD
        have = hh.to_numpy(dtype=float, na_value=np.nan) if hh is not None else np.full(len(df), np.nan)
        fill = np.isnan(have)
        _warn_once(f"{file}: households derived from population ({DEFAULT_PEOPLE_PER_HOUSEHOLD:.2f} people per "
                   f"household) for {_list(_labels(ids, fill))}; add a 'households' column to use real counts")
        hhv = np.where(fill, np.round(derived), have)
    else:
        hhv = hh.to_numpy(dtype=float)
    out["households"] = hhv.astype(np.int64) if np.all(hhv == np.round(hhv)) else hhv
    out["area_km2"] = area.to_numpy(dtype=float, na_value=np.nan) if area is not None else np.nan
    return out, []


def check_ids(boundary_ids: Iterable[str], table_ids: Iterable[str], *, boundaries_file: str,
              districts_file: str, id_field: str) -> list[Problem]:
    """Every boundary id needs a table row, and every table row a boundary."""
    b, t = set(boundary_ids), set(table_ids)
    problems: list[Problem] = []
    if b - t:
        problems.append((districts_file, id_field, f"no table row for boundary ids: {_list(sorted(b - t))}"
                                                   f"{_zero_hint(b - t, t - b)}"))
    if t - b:
        problems.append((boundaries_file, id_field, f"no boundary for table ids: {_list(sorted(t - b))}"
                                                    f"{_zero_hint(t - b, b - t)}"))
    return problems


def _zero_hint(ours: set[str], theirs: set[str]) -> str:
    """A note on ids that differ only in leading zeros ('001' vs '1'): ids are text and must match exactly."""
    by_stripped = {t.lstrip("0"): t for t in theirs}
    same = [f"'{o}' vs '{by_stripped[o.lstrip('0')]}'" for o in sorted(ours) if o.lstrip("0") in by_stripped]
    if not same:
        return ""
    return (f" (ids are text and must match exactly; these differ only in leading zeros: {_list(same, 5)}; "
            f"write the ids the same way in both files)")


def _id_sets(frame: pd.DataFrame, skip: str | None = None) -> dict[str, frozenset]:
    """Column -> its set of normalised ids, for columns whose values are present and distinct."""
    out = {}
    for col in frame.columns:
        if col == skip:
            continue
        ids = normalize_ids(frame[col])
        if ids.notna().all() and not ids.duplicated().any():
            out[col] = frozenset(ids)
    return out


def detect_id_field(gdf: gpd.GeoDataFrame, df: pd.DataFrame, id_field: str, *, boundaries_file: str = "boundaries",
                    districts_file: str = "districts") -> str:
    """``id_field`` if both files have it; else the one column both share whose ids match row for row.

    A new city's files rarely use the default ``adcode``: a column present in the boundary layer and
    in the district table, with distinct values that are the same set in both, is the join (a warning
    says which, and how to set it). With no such column, or several, ``id_field`` is returned
    unchanged and the "not found" problem asks for ``data.id_field``, naming the candidates.
    """
    if id_field in gdf.columns and id_field in df.columns:
        return id_field
    b, t = _id_sets(gdf, skip=gdf.geometry.name), _id_sets(df)
    shared = [c for c in t if c in b and b[c] == t[c]]
    if len(shared) == 1:
        log.warning("id field '%s' not in both %s and %s: joining them on '%s', whose values match "
                    "(set data.id_field = \"%s\" to say so)", id_field, boundaries_file, districts_file,
                    shared[0], shared[0])
        return shared[0]
    if len(shared) > 1:
        log.warning("id field '%s' not in both files; columns %s match in both: set data.id_field to one",
                    id_field, ", ".join(shared))
    return id_field


# --------------------------------------------------------------------------- together

def _validate(boundaries, districts, *, id_field: str, boundaries_layer: str | None, boundary_coords: str,
              boundaries_file: str | None, districts_file: str | None) -> tuple[list[Problem], gpd.GeoDataFrame | None]:
    problems: list[Problem] = []
    gdf, bfile = _read(boundaries, read_vector, boundaries_file, problems, layer=boundaries_layer or None,
                       id_columns=(id_field,))
    df, tfile = _read(districts, read_table, districts_file, problems, id_columns=(id_field,))
    clean_b = clean_t = None
    if gdf is not None and df is not None:
        id_field = detect_id_field(gdf, df, id_field, boundaries_file=bfile, districts_file=tfile)
    if gdf is not None:
        clean_b, p = check_boundaries(gdf, file=bfile, id_field=id_field, coords=boundary_coords)
        problems += p
    if df is not None:
        clean_t, p = check_district_table(df, file=tfile, id_field=id_field)
        problems += p
    # ids are compared even when other problems were found, so every mismatch is listed at once
    if gdf is not None and df is not None and id_field in gdf.columns and id_field in df.columns:
        problems += check_ids(normalize_ids(gdf[id_field]).dropna(), normalize_ids(df[id_field]).dropna(),
                              boundaries_file=bfile, districts_file=tfile, id_field=id_field)
    if problems:
        return problems, None
    merged = clean_b[["district_id", "geometry"]].merge(clean_t, on="district_id", how="left", validate="1:1")
    merged = gpd.GeoDataFrame(merged, geometry="geometry", crs=WGS84)
    # names from the table; fall back to the boundary layer's own name columns
    for col in ("name_zh", "name_en"):
        if col in clean_b.columns:
            blank = merged[col].eq("") | merged[col].eq(merged["district_id"])
            merged.loc[blank, col] = clean_texts(clean_b[col].astype(str)).to_numpy()[blank.to_numpy()]
    cols = ["district_id", "name_zh", "name_en", "population", "households", "area_km2", "geometry"]
    return [], merged[cols]


def collect_problems(boundaries, districts, *, id_field: str = "adcode", boundaries_layer: str | None = None,
                     boundary_coords: str = "wgs84", boundaries_file: str | None = None,
                     districts_file: str | None = None) -> list[Problem]:
    """Every problem of a boundary layer and a district table, as ``(file, field, reason)`` tuples.

    ``boundaries`` and ``districts`` are paths or already-read frames (then
    ``boundaries_file`` / ``districts_file`` name them in messages). An empty
    list means both are usable.
    """
    problems, _ = _validate(boundaries, districts, id_field=id_field, boundaries_layer=boundaries_layer,
                            boundary_coords=boundary_coords, boundaries_file=boundaries_file,
                            districts_file=districts_file)
    return problems


def validate_districts(boundaries, districts, *, id_field: str = "adcode", boundaries_layer: str | None = None,
                       boundary_coords: str = "wgs84", boundaries_file: str | None = None,
                       districts_file: str | None = None) -> gpd.GeoDataFrame:
    """The districts layer (WGS-84) joined to its table, or one :class:`ValidationError` with every problem.

    Columns: district_id, name_zh, name_en, population, households, area_km2, geometry.
    """
    problems, merged = _validate(boundaries, districts, id_field=id_field, boundaries_layer=boundaries_layer,
                                 boundary_coords=boundary_coords, boundaries_file=boundaries_file,
                                 districts_file=districts_file)
    if problems:
        raise ValidationError(problems)
    return merged


# --------------------------------------------------------------------------- other layers

def check_point_layer(gdf: gpd.GeoDataFrame, *, file: str, allow_polygons: bool = False) -> tuple[gpd.GeoDataFrame | None, list[Problem]]:
    """Check a point layer (candidates, existing sites, offices, cores, hot spots); return it in WGS-84.

    Refuses a missing CRS, empty layers, missing/empty geometry, and other
    geometry types (polygons too, unless ``allow_polygons``). Single-part
    MultiPoints become Points.
    """
    problems: list[Problem] = []
    if gdf is None or len(gdf) == 0:
        return None, [(file, None, "layer is empty")]
    if gdf.crs is None:
        problems.append((file, "crs", "layer has no coordinate reference system (CRS); save it with one, e.g. EPSG:4326"))
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    absent = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if absent.any():
        problems.append((file, "geometry", f"empty or missing geometry for {_list(_labels(None, absent))}"))
    single_multi = np.array([g is not None and g.geom_type == "MultiPoint" and len(g.geoms) == 1 for g in geoms])
    if single_multi.any():
        geoms[single_multi] = [g.geoms[0] for g in geoms[single_multi]]
    types = np.array([g.geom_type if g is not None else "" for g in geoms], dtype=object)
    allowed = {"Point"} | (_POLYGONAL if allow_polygons else set())
    wrong = ~absent & ~np.isin(types, list(allowed))
    if wrong.any():
        want = "point or polygon" if allow_polygons else "point"
        problems.append((file, "geometry", f"not a {want} ({', '.join(sorted(set(types[wrong])))}) for "
                                           f"{_list(_labels(None, wrong))}"))
    if problems:
        return None, problems
    out = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    if not _is_wgs84(out.crs):
        try:
            out = out.to_crs(WGS84)
        except Exception as exc:
            return None, [(file, "crs", f"cannot reproject from {out.crs} to WGS-84 ({exc})")]
    x0, y0, x1, y1 = out.total_bounds
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        return None, [(file, "crs", f"coordinates out of lon/lat range (bounds {x0:.1f}, {y0:.1f}, {x1:.1f}, {y1:.1f}); "
                                    f"is the declared CRS ({gdf.crs}) right?")]
    return out.reset_index(drop=True), []


def check_numeric_column(df: pd.DataFrame, col: str, *, file: str, required: bool = True) -> tuple[pd.Series | None, list[Problem]]:
    """A numeric, finite, non-negative, non-missing column (e.g. a demand table's population)."""
    if col not in df.columns:
        if not required:
            return None, []
        cols = [c for c in df.columns if c != "geometry"]
        return None, [(file, col, f"required column '{col}' not found; columns are: {_list(cols, 20)}")]
    problems: list[Problem] = []
    num = _numeric(df, col, None, file, problems)
    return (None if problems else num.astype(float)), problems


def format_problems(problems: list[Problem]) -> str:
    """A plain-text table of problems (file | field | problem), one per line."""
    if not problems:
        return "no problems found"
    rows = [("file", "field", "problem")] + [(f or "-", fld or "-", r) for f, fld, r in problems]
    w0 = min(max(len(r[0]) for r in rows), 60)
    w1 = min(max(len(r[1]) for r in rows), 24)
    lines = [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
    lines.insert(1, f"{'-' * w0}  {'-' * w1}  {'-' * 7}")
    return "\n".join(lines)
