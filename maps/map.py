"""Interactive maps of a saved plan and of the input layers, that work offline.

:func:`write_map` draws a saved plan (``plan.json`` + ``plan.gpkg``) and
:func:`write_layers_map` the input layers (``layers.gpkg``) into ONE HTML file
each. The page needs no network: Leaflet (vendored from the npm package
``leaflet``, BSD-2-Clause, see ``maps/assets/VENDORED.md``), its CSS and the
project's own renderer (``maps/assets/rollout-map.js``) are inlined. Only the
basemap tiles come from the network, and a failed tile leaves the plan layers
untouched.

How the page stays small and fluid at 35,000+ stations
------------------------------------------------------
* The data travel as one compact JSON block, column-wise: coordinates are
  integers in 1e-5 degree (about 1 m); polygon rings and lines are
  delta-encoded; repeated strings (district names, types) are dictionary-coded.
* Points (stations, OLT sites, candidates) are not Leaflet markers: each point
  layer is one canvas into which the page stamps pre-rendered, anti-aliased
  dots as pixels, then hit-tests clicks itself. With software rasterisation
  (a headless or GPU-less browser) that redraws 35,000 stations several times
  faster than 35,000 canvas circle markers (``python -m bench.bench_map``).
* Districts, demand cells (one multi-polygon per clutter class) and links (one
  multi-line per kind) are drawn by Leaflet's canvas renderer: no per-feature
  DOM nodes anywhere.
* Popups and tooltips are built on demand from the columns, as DOM text nodes:
  a name such as ``<img src=x onerror=alert(1)>`` is shown as text. The page
  also carries a Content-Security-Policy that allows only its own two inline
  scripts (by hash), so an injected inline handler could not run anyway.

Gaode/AMap tiles are in GCJ-02. When that basemap is chosen the page redraws
every overlay shifted into GCJ-02, by bilinear interpolation in an offset grid
(0.02 degree) computed here with :func:`gis.crs.wgs84_to_gcj02`; the
interpolation error is below 0.5 m. Without ``gis.crs`` the Gaode basemap is
left out rather than drawn misaligned.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import jinja2
import numpy as np
import pandas as pd
import shapely
from markupsafe import Markup

from gis.errors import InputError
from gis.io import atomic_write_text

log = logging.getLogger(__name__)

ASSETS = Path(__file__).with_name("assets")
TEMPLATES = Path(__file__).with_name("templates")

SCALE = 100_000                 # coordinates travel as integers in 1/SCALE degree
MAX_HTML_MB = 15.0              # a warning is logged above this
GCJ_GRID_STEP_DEG = 0.02
GCJ_GRID_MAX_POINTS = 40_000
DISTRICT_SIMPLIFY_DEG = 0.0001  # ~10 m
DEMAND_SIMPLIFY_DEG = 0.00002   # ~2 m: removes redundant vertices of clipped hexagons only

_OSM = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
BASEMAPS: tuple[dict, ...] = (
    {"id": "positron", "name": "CartoDB Positron", "gcj": False, "maxZoom": 20, "subdomains": "abcd",
     "url": "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png",
     "attribution": _OSM + ' &copy; <a href="https://carto.com/attributions">CARTO</a>'},
    {"id": "osm", "name": "OpenStreetMap", "gcj": False, "maxZoom": 19, "subdomains": "abc",
     "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attribution": _OSM},
    {"id": "gaode", "name": "Gaode / AMap (GCJ-02)", "gcj": True, "maxZoom": 18, "subdomains": "1234",
     "url": "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
     "attribution": "&copy; AutoNavi / 高德地图"},
    {"id": "none", "name": "No basemap", "gcj": False, "url": None, "attribution": ""},
)
BASEMAP_IDS = tuple(b["id"] for b in BASEMAPS)
#: The only http(s) URLs a map page may request: its tile templates.
TILE_URL_TEMPLATES = tuple(b["url"] for b in BASEMAPS if b["url"])

CLUTTER_CLASSES = (
    ("dense_urban", "dense urban", "#a50f15"),
    ("urban", "urban", "#fb6a4a"),
    ("suburban", "suburban", "#fdae6b"),
    ("rural", "rural", "#a1d99b"),
)
VIRIDIS = ("#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725")


# ====================================================================== public API
def write_map(plan_dir: str | os.PathLike, out_html: str | os.PathLike | None = None, *,
              basemap: str = "positron", title: str | None = None) -> Path:
    """Draw a saved plan as one offline HTML map.

    Parameters
    ----------
    plan_dir
        Folder holding ``plan.json`` and ``plan.gpkg`` (see :mod:`rollout.plan`).
    out_html
        Output file; default ``plan_dir/map.html``. Written atomically.
    basemap
        Basemap shown first, one of {"positron", "osm", "gaode", "none"}.
    title
        Page title; default the plan's title.

    Returns
    -------
    The path written.
    """
    from rollout.plan import load_plan

    plan_dir = Path(plan_dir)
    plan = load_plan(plan_dir)
    out = Path(out_html) if out_html is not None else plan_dir / "map.html"
    data = plan_map_data(plan, basemap=basemap)
    if title:
        data["title"] = str(title)
    return _write_page(out, data)


def write_layers_map(layers_gpkg: str | os.PathLike, out_html: str | os.PathLike, *,
                     basemap: str = "positron", title: str | None = None) -> Path:
    """Draw the input layers (before optimisation) as one offline HTML map.

    Parameters
    ----------
    layers_gpkg
        GeoPackage with the layers ``districts`` (required), ``demand``,
        ``candidates``, ``offices`` and ``hotspots`` (columns as in :mod:`gis.layers`).
        Its ``meta`` table (key, value as JSON), or a ``layers.json`` beside it,
        supplies ``demand_source``.
    out_html
        Output file, written atomically.
    basemap
        Basemap shown first, one of {"positron", "osm", "gaode", "none"}.
    title
        Page title; default "Input layers: <file name>".
    """
    layers_gpkg = Path(layers_gpkg)
    layers = _read_layers_gpkg(layers_gpkg)
    demand_source = str(layers.pop("meta", {}).get("demand_source") or "")
    side = layers_gpkg.with_suffix(".json")
    if not demand_source and side.is_file():
        try:
            demand_source = str(json.loads(side.read_text(encoding="utf-8")).get("demand_source") or "")
        except (ValueError, UnicodeDecodeError, AttributeError):
            demand_source = ""
    data = layers_map_data(layers, basemap=basemap, demand_source=demand_source,
                           title=f"Input layers: {title}" if title else f"Input layers: {layers_gpkg.name}")
    return _write_page(Path(out_html), data)


# ====================================================================== page data
def plan_map_data(plan, *, basemap: str = "positron") -> dict:
    """The JSON-able description of a plan's map page (what the browser draws)."""
    from maps.report import district_figures, is_modelled

    _check_basemap(basemap)
    modelled = is_modelled(plan.demand_source)
    dist = district_figures(plan)
    layers = [_districts_spec(plan.districts, dist, plan_metrics=True)]
    if len(plan.demand):
        layers.append(_demand_spec(plan.demand, dist, modelled=modelled, on=False, plan_columns=True))
    links = _as_frame(plan.links)
    kind = links["kind"].astype(str) if "kind" in links else pd.Series("", index=links.index)
    for k, label, color in (("feeder", "Feeder fibre (cell \u2192 OLT)", "#238b45"),
                            ("backhaul", "5G backhaul (station \u2192 OLT/office)", "#8c510a")):
        sub = plan.links[(kind == k).to_numpy()] if len(plan.links) else plan.links
        if len(sub):
            layers.append(_lines_spec(f"links_{k}", label, sub, color=color, on=False))
    if len(plan.olt_sites):
        layers.append(_olt_spec(plan.olt_sites, dist))
    layers.append(_stations_spec(plan.stations, dist))

    subtitle = []
    st = _as_frame(plan.stations)
    n = _station_weights(st)
    if len(st):
        new = st["new"].astype(bool).to_numpy() if "new" in st else np.zeros(len(st), bool)
        subtitle.append(f"{int(n.sum()):,} 5G stations ({int(n[new].sum()):,} new)")
    if len(plan.olt_sites):
        subtitle.append(f"{len(plan.olt_sites):,} OLT sites")
    if modelled:
        subtitle.append("demand is modelled, not measured")
    bounds = _bounds([plan.districts, plan.stations, plan.olt_sites, plan.demand])
    return _page(title=plan.title or "Rollout plan", subtitle=" \u00b7 ".join(subtitle),
                 layers=layers, bounds=bounds, basemap=basemap)


def layers_map_data(layers: dict, *, basemap: str = "positron", demand_source: str = "",
                    title: str = "Input layers") -> dict:
    """The JSON-able description of the input-layers map page."""
    from maps.report import is_modelled

    _check_basemap(basemap)
    districts = layers["districts"]
    d = _as_frame(districts)
    area = _district_area_km2(districts)
    pop = _num(d, "population")
    hh = _num(d, "households")
    dist = pd.DataFrame({"district_id": _str(d, "district_id"), "label": _district_labels(d),
                         "area_km2": area, "population": pop, "households": hh})
    dens = np.where(area > 0, pop / np.where(area > 0, area, 1), np.nan)
    spec = _districts_spec(districts, dist, plan_metrics=False)
    spec["metrics"] = [
        _metric("population_per_km2", "people per km\u00b2", dens, "int"),
        _metric("population", "population", pop, "int"),
        _metric("households", "households", hh, "int"),
    ]
    spec["metric"] = "population_per_km2"
    out = [spec]
    modelled = is_modelled(demand_source)
    hot = layers.get("hotspots")
    dem = layers.get("demand")
    if dem is not None and len(dem):
        out.append(_demand_spec(dem, dist, modelled=modelled, on=True, plan_columns=False))
    if hot is not None and len(hot):
        out.append(_hotspots_spec(hot, dist))
    off = layers.get("offices")
    if off is not None and len(off):
        out.append(_offices_spec(off, dist))
    cand = layers.get("candidates")
    if cand is not None and len(cand):
        out.append(_candidates_spec(cand, dist))
    subtitle = [f"{len(districts):,} districts"]
    if dem is not None:
        subtitle.append(f"{len(dem):,} demand cells")
    if cand is not None:
        subtitle.append(f"{len(cand):,} candidate sites")
    if modelled:
        subtitle.append("demand is modelled, not measured")
    bounds = _bounds([layers.get(k) for k in ("districts", "demand", "candidates", "offices")])
    return _page(title=title, subtitle=" \u00b7 ".join(subtitle), layers=out, bounds=bounds, basemap=basemap)


# ====================================================================== layer specs
def _districts_spec(districts: gpd.GeoDataFrame, dist: pd.DataFrame, *, plan_metrics: bool) -> dict:
    d = _as_frame(districts)
    geoms = shapely.simplify(np.asarray(districts.geometry.values, dtype=object), DISTRICT_SIMPLIFY_DEG,
                             preserve_topology=True)
    spec = {
        "id": "districts", "kind": "districts", "label": "Districts", "on": True,
        "titles": [str(x) for x in dist["label"]],
        "polys": _encode_polygons(geoms),
    }
    popup = [_field("district id", _str(d, "district_id")),
             _field("name (zh)", _str(d, "name_zh")),
             _field("name (en)", _str(d, "name_en")),
             _field("population", dist["population"], "int"),
             _field("households", dist["households"], "int"),
             _field("area", dist["area_km2"], "km2")]
    if plan_metrics:
        spec["metrics"] = [
            _metric("stations_per_km2", "5G stations per km\u00b2", dist["stations_per_km2"], "num2"),
            _metric("ports_per_1000_households", "PON ports per 1,000 households",
                    dist["ports_per_1000_households"], "num1"),
            _metric("population_covered_share", "population covered", dist["population_covered_share"], "share"),
        ]
        spec["metric"] = "stations_per_km2"
        popup += [_field("5G stations", dist["stations"], "int"),
                  _field("of which new", dist["stations_new"], "int"),
                  _field("stations per km\u00b2", dist["stations_per_km2"], "num2"),
                  _field("PON ports", dist["pon_ports"], "int"),
                  _field("ports per 1,000 households", dist["ports_per_1000_households"], "num1"),
                  _field("OLT sites", dist["olt_sites"], "int"),
                  _field("capex", dist["capex_cny"], "cny"),
                  _field("population covered", dist["population_covered_share"], "share")]
    spec["popup"] = popup
    return spec


def _stations_spec(stations: gpd.GeoDataFrame, dist: pd.DataFrame) -> dict:
    st = _as_frame(stations)
    n = len(st)
    typ = _str(st, "type").fillna("").str.lower()
    new = st["new"].astype(bool).to_numpy() if "new" in st else np.zeros(n, bool)
    year = _num(st, "build_year").fillna(0).astype(int).to_numpy() if n else np.zeros(0, int)
    classes = [
        {"label": "new macro", "color": "#99000d", "fill": "#e31a1c", "radius": 4.5},
        {"label": "new small cell", "color": "#a63603", "fill": "#fd8d3c", "radius": 3},
        {"label": "existing macro", "color": "#08519c", "fill": "#9ecae1", "radius": 4.5},
        {"label": "existing small cell", "color": "#2171b5", "fill": "#deebf7", "radius": 3},
        {"label": "other type", "color": "#525252", "fill": "#bdbdbd", "radius": 3},
    ]
    is_macro = (typ == "macro").to_numpy()
    is_small = (typ == "small").to_numpy()
    cls = np.full(n, 4)
    cls[is_macro & new] = 0
    cls[is_small & new] = 1
    cls[is_macro & ~new] = 2
    cls[is_small & ~new] = 3
    x, y = _xy(stations)
    spec = {
        "id": "stations", "kind": "points", "label": "5G stations", "on": True,
        "x": _q(x).tolist(), "y": _q(y).tolist(), "classes": classes, "cls": cls.tolist(),
        "classesLabel": "type and new/existing",
        "w": _station_weights(st).tolist(),
        "titles": _str(st, "site_id").fillna("").tolist(),
        "popup": [
            _field("type", typ.where(typ != "", None), dictionary=True),
            _field("new", new, "bool"),
            _field("district", _district_names(st, dist), dictionary=True),
            _field("stations at site", _num(st, "count"), "int"),
            _field("capex (incl. backhaul)", _num(st, "capex_cny"), "cny"),
            _field("utilisation", _num(st, "utilisation"), "share"),
            _field("carried / capacity", _ratio_text(_num(st, "carried_mbps"), _num(st, "capacity_mbps"), "Mbit/s"),
                   dictionary=False),
            _field("clutter", _str(st, "clutter"), dictionary=True),
            _field("build year", year, "year"),
            _field("backhaul to", _str(st, "backhaul_to")),
            _field("backhaul route", _num(st, "backhaul_km"), "km"),
        ],
    }
    years = sorted({int(v) for v in year[new & (year > 0)]})
    if years:
        alt_classes = [{"label": "existing", "color": "#737373", "fill": "#d9d9d9", "radius": 3}]
        pal = _palette(len(years))
        alt_classes += [{"label": f"new in {yr}", "color": "#252525", "fill": pal[i], "radius": 4, "weight": 0.5}
                        for i, yr in enumerate(years)]
        alt_classes.append({"label": "new (no build year)", "color": "#99000d", "fill": "#e31a1c", "radius": 4})
        pos = {yr: i + 1 for i, yr in enumerate(years)}
        alt = np.where(new, len(alt_classes) - 1, 0)
        for yr, k in pos.items():
            alt[new & (year == yr)] = k
        spec["alt"] = {"label": "build year", "classes": alt_classes, "cls": alt.tolist()}
        spec["radius"] = np.where(is_small, 3, 4.5).tolist()  # size by type in both colourings
        spec["sizeNote"] = "Small cells are drawn smaller than macro stations."
    return spec


def _olt_spec(olt: gpd.GeoDataFrame, dist: pd.DataFrame) -> dict:
    o = _as_frame(olt)
    new = o["new"].astype(bool).to_numpy() if "new" in o else np.zeros(len(o), bool)
    ports = _num(o, "ports").fillna(0).to_numpy()
    pmax = float(ports.max()) if len(ports) and ports.max() > 0 else 1.0
    radius = np.round(4 + 12 * np.sqrt(np.clip(ports, 0, None) / pmax), 1)
    x, y = _xy(olt)
    return {
        "id": "olt_sites", "kind": "points", "label": "OLT sites", "on": True,
        "x": _q(x).tolist(), "y": _q(y).tolist(),
        "classes": [{"label": "new OLT site", "color": "#3f007d", "fill": "#807dba", "radius": 6},
                    {"label": "existing OLT site", "color": "#252525", "fill": "#969696", "radius": 6,
                     "fillOpacity": 0.75}],
        "cls": np.where(new, 0, 1).tolist(),
        "radius": radius.tolist(),
        "sizeNote": f"Area grows with PON ports (largest: {int(pmax):,} ports).",
        "titles": _str(o, "office_id").fillna("").tolist(),
        "popup": [
            _field("new", new, "bool"),
            _field("district", _district_names(o, dist), dictionary=True),
            _field("PON ports", ports, "int"),
            _field("new ports", _num(o, "ports_new"), "int"),
            _field("chassis", _num(o, "chassis"), "int"),
            _field("ONTs served", _num(o, "onts"), "int"),
            _field("capex", _num(o, "capex_cny"), "cny"),
            _field("build year", _num(o, "build_year").fillna(0), "year"),
        ],
    }


def _lines_spec(layer_id: str, label: str, links: gpd.GeoDataFrame, *, color: str, on: bool) -> dict:
    return {"id": layer_id, "kind": "lines", "label": label, "on": on, "color": color,
            "weight": 1.2, "opacity": 0.7, "lines": _encode_lines(np.asarray(links.geometry.values, dtype=object))}


def _demand_spec(demand: gpd.GeoDataFrame, dist: pd.DataFrame, *, modelled: bool, on: bool,
                 plan_columns: bool) -> dict:
    d = _as_frame(demand)
    clutter = _str(d, "clutter").fillna("")
    classes, cls = [], np.full(len(d), len(CLUTTER_CLASSES))
    for k, (key, label, color) in enumerate(CLUTTER_CLASSES):
        classes.append({"label": label, "color": color, "fill": color, "weight": 0, "fillOpacity": 0.5})
        cls[(clutter == key).to_numpy()] = k
    classes.append({"label": "other", "color": "#969696", "fill": "#d9d9d9", "weight": 0, "fillOpacity": 0.5})
    geoms = shapely.simplify(np.asarray(demand.geometry.values, dtype=object), DEMAND_SIMPLIFY_DEG,
                             preserve_topology=True)
    popup = [_field("district", _district_names(d, dist), dictionary=True),
             _field("clutter", clutter.where(clutter != "", None), dictionary=True),
             _field("population", _num(d, "population"), "int"),
             _field("households", _num(d, "households"), "int"),
             _field("busy-hour traffic", _num(d, "traffic_mbps"), "mbps"),
             _field("PON lines (ONTs)", _num(d, "onts"), "int"),
             _field("planning radius", _num(d, "radius_m"), "m")]
    if plan_columns:
        popup += [_field("covered", d["covered"].astype(bool).to_numpy() if "covered" in d else None, "bool"),
                  _field("stations within radius", _num(d, "stations_within"), "int"),
                  _field("served by OLT", _str(d, "olt_id"))]
    note = ("Demand is MODELLED from census district totals spread around urban cores, not measured."
            if modelled else "")
    return {"id": "demand", "kind": "polys", "label": "Demand cells by clutter", "on": on,
            "classes": classes, "cls": cls.tolist(), "polys": _encode_polygons(geoms),
            "titles": _str(d, "cell_id").fillna("").tolist(), "popup": popup, "note": note}


def _hotspots_spec(hot: gpd.GeoDataFrame, dist: pd.DataFrame) -> dict:
    h = _as_frame(hot)
    approx = h["approximate"].astype(bool).to_numpy() if "approximate" in h else np.zeros(len(h), bool)
    return {"id": "hotspots", "kind": "polys", "label": "Industrial hot spots", "on": True,
            "classes": [{"label": "hot spot", "color": "#6a51a3", "fill": "#9e9ac8", "weight": 1.5},
                        {"label": "hot spot, approximate location", "color": "#6a51a3", "fill": "#dadaeb",
                         "weight": 1.5}],
            "cls": np.where(approx, 1, 0).tolist(),
            "polys": _encode_polygons(np.asarray(hot.geometry.values, dtype=object)),
            "titles": _str(h, "name").fillna("").tolist(),
            "popup": [_field("district", _district_names(h, dist), dictionary=True),
                      _field("approximate location", approx, "bool"),
                      _field("enterprise lines", _num(h, "enterprise_lines"), "int")],
            "note": "Approximate: placed from public descriptions, not surveyed." if approx.any() else ""}


def _offices_spec(off: gpd.GeoDataFrame, dist: pd.DataFrame) -> dict:
    o = _as_frame(off)
    existing = o["existing"].astype(bool).to_numpy() if "existing" in o else np.zeros(len(o), bool)
    ports = _num(o, "existing_ports").fillna(0).to_numpy()
    pmax = float(ports.max()) if len(ports) and ports.max() > 0 else 1.0
    x, y = _xy(off)
    return {"id": "offices", "kind": "points", "label": "Offices / OLT candidates", "on": True,
            "x": _q(x).tolist(), "y": _q(y).tolist(),
            "classes": [{"label": "existing office", "color": "#252525", "fill": "#969696", "radius": 6},
                        {"label": "candidate office", "color": "#3f007d", "fill": "#ffffff", "radius": 5}],
            "cls": np.where(existing, 0, 1).tolist(),
            "radius": np.round(5 + 8 * np.sqrt(np.clip(ports, 0, None) / pmax), 1).tolist(),
            "sizeNote": "Existing offices grow with their existing PON ports.",
            "titles": _str(o, "office_id").fillna("").tolist(),
            "popup": [_field("district", _district_names(o, dist), dictionary=True),
                      _field("existing", existing, "bool"),
                      _field("existing ports", ports, "int"),
                      _field("clutter", _str(o, "clutter"), dictionary=True)]}


def _candidates_spec(cand: gpd.GeoDataFrame, dist: pd.DataFrame) -> dict:
    c = _as_frame(cand)
    source = _str(c, "source").fillna("")
    ex = (_num(c, "existing_macro").fillna(0) + _num(c, "existing_small").fillna(0)).to_numpy() > 0
    cls = np.where(ex | (source == "existing").to_numpy(), 0, np.where((source == "user").to_numpy(), 1, 2))
    x, y = _xy(cand)
    return {"id": "candidates", "kind": "points", "label": "Candidate 5G sites", "on": False,
            "x": _q(x).tolist(), "y": _q(y).tolist(),
            "classes": [{"label": "existing station site", "color": "#08519c", "fill": "#6baed6", "radius": 3.5},
                        {"label": "user candidate", "color": "#7f2704", "fill": "#fd8d3c", "radius": 3},
                        {"label": "grid candidate", "color": "#525252", "fill": "#bdbdbd", "radius": 2.5}],
            "cls": cls.tolist(),
            "titles": _str(c, "site_id").fillna("").tolist(),
            "popup": [_field("district", _district_names(c, dist), dictionary=True),
                      _field("source", source.where(source != "", None), dictionary=True),
                      _field("clutter", _str(c, "clutter"), dictionary=True),
                      _field("existing macro", _num(c, "existing_macro"), "int"),
                      _field("existing small", _num(c, "existing_small"), "int")]}


# ====================================================================== encoding helpers
def _q(a) -> np.ndarray:
    return np.round(np.asarray(a, dtype=float) * SCALE).astype(np.int64)


def _encode_polygons(geoms: np.ndarray) -> list:
    """Per feature: [polygon][ring] -> flat delta-encoded ints (no closing vertex)."""
    n = len(geoms)
    out: list = [[] for _ in range(n)]
    if n == 0:
        return out
    geoms = np.asarray(geoms, dtype=object)
    parts, fidx = shapely.get_parts(geoms, return_index=True)
    keep = shapely.get_type_id(parts) == 3  # polygons only
    parts, fidx = parts[keep], fidx[keep]
    if not len(parts):
        return out
    rings, pidx = shapely.get_rings(parts, return_index=True)
    counts = shapely.get_num_coordinates(rings)
    coords = shapely.get_coordinates(rings)
    q = _q(coords)
    ring_of = np.repeat(np.arange(len(rings)), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    last = starts + counts - 1
    keepv = np.ones(len(q), bool)
    keepv[last] = False                              # closing vertex
    same = np.zeros(len(q), bool)
    same[1:] = (q[1:] == q[:-1]).all(axis=1) & (ring_of[1:] == ring_of[:-1])
    keepv &= ~same                                   # repeated vertex after rounding
    q, ring_of = q[keepv], ring_of[keepv]
    new_counts = np.bincount(ring_of, minlength=len(rings))
    d = q.copy()
    d[1:] -= q[:-1]
    first = np.concatenate([[0], np.cumsum(new_counts)[:-1]])
    nonempty = new_counts > 0
    d[first[nonempty]] = q[first[nonempty]]
    flat = d.ravel().tolist()
    # ring index within its polygon: 0 = exterior
    ring_no = np.arange(len(rings)) - np.searchsorted(pidx, pidx, side="left")  # pidx is sorted
    polys: list = [None] * len(parts)
    for r in range(len(rings)):
        p = pidx[r]
        if ring_no[r] == 0:
            polys[p] = [] if new_counts[r] >= 3 else None
        if polys[p] is None or new_counts[r] < 3:
            continue
        a = 2 * first[r]
        polys[p].append(flat[a:a + 2 * new_counts[r]])
    for p, rings_p in enumerate(polys):
        if rings_p:
            out[fidx[p]].append(rings_p)
    return out


def _encode_lines(geoms: np.ndarray) -> list:
    """Per feature: [part] -> flat delta-encoded ints."""
    n = len(geoms)
    out: list = [[] for _ in range(n)]
    if n == 0:
        return out
    parts, fidx = shapely.get_parts(np.asarray(geoms, dtype=object), return_index=True)
    keep = shapely.get_type_id(parts) == 1  # linestrings
    parts, fidx = parts[keep], fidx[keep]
    if not len(parts):
        return out
    counts = shapely.get_num_coordinates(parts)
    q = _q(shapely.get_coordinates(parts))
    d = q.copy()
    d[1:] -= q[:-1]
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ok = counts >= 2
    d[first[counts > 0]] = q[first[counts > 0]]
    flat = d.ravel().tolist()
    for i in np.flatnonzero(ok):
        a = 2 * first[i]
        out[fidx[i]].append(flat[a:a + 2 * counts[i]])
    return out


def _xy(gdf: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    if not len(gdf):
        return np.zeros(0), np.zeros(0)
    g = gdf.geometry.values
    pts = np.asarray(g, dtype=object)
    nonpoint = shapely.get_type_id(pts) != 0
    if nonpoint.any():
        pts = pts.copy()
        pts[nonpoint] = shapely.point_on_surface(pts[nonpoint])
    return shapely.get_x(pts), shapely.get_y(pts)


def _as_frame(gdf) -> pd.DataFrame:
    if gdf is None:
        return pd.DataFrame()
    return pd.DataFrame(gdf.drop(columns=gdf.geometry.name, errors="ignore")) if isinstance(
        gdf, gpd.GeoDataFrame) else pd.DataFrame(gdf)


def _num(df: pd.DataFrame, col: str) -> pd.Series:
    if col in df:
        return pd.to_numeric(df[col], errors="coerce").astype(float).reset_index(drop=True)
    return pd.Series(np.nan, index=range(len(df)), dtype=float)


def _str(df: pd.DataFrame, col: str) -> pd.Series:
    if col in df:
        s = df[col].reset_index(drop=True)
        missing = s.isna().to_numpy()
        out = s.astype(str).astype(object)
        out[missing] = None
        return out
    return pd.Series([None] * len(df), dtype=object)


def _station_weights(st: pd.DataFrame) -> np.ndarray:
    """Stations per row: the ``count`` column (1 where missing)."""
    if not len(st):
        return np.zeros(0, dtype=int)
    return _num(st, "count").fillna(1).clip(lower=0).round().astype(int).to_numpy()


def _district_labels(d: pd.DataFrame) -> pd.Series:
    zh, en, ident = _str(d, "name_zh"), _str(d, "name_en"), _str(d, "district_id")
    out = []
    for a, b, c in zip(zh, en, ident):
        parts = [p for p in (a, b) if p]
        out.append(" ".join(parts) if parts else (c or "?"))
    return pd.Series(out, dtype=object)


def _district_names(df: pd.DataFrame, dist: pd.DataFrame) -> pd.Series:
    """Each row's district label, from its ``district_id`` (or its ``district`` column)."""
    lookup = dict(zip(dist["district_id"].astype(object), dist["label"]))
    ids = _str(df, "district_id")
    names = ids.map(lambda v: lookup.get(v) if v is not None else None)
    if "district" in df:
        names = names.where(names.notna(), _str(df, "district"))
    return names.where(names.notna(), ids)


def _district_area_km2(districts: gpd.GeoDataFrame) -> np.ndarray:
    """The official ``area_km2`` where given, else the area measured in a UTM zone."""
    d = _as_frame(districts)
    area = _num(d, "area_km2").to_numpy()
    bad = ~np.isfinite(area) | (area <= 0)
    if bad.any() and len(districts):
        area = np.where(bad, area_km2(districts.geometry), area)
    return area


def utm_epsg(geoms: gpd.GeoSeries) -> int:
    """EPSG code of the WGS-84 UTM zone at the centre of ``geoms`` (32651 for Qingdao)."""
    w, s, e, n = gpd.GeoSeries(geoms).to_crs(4326).total_bounds
    lon, lat = (w + e) / 2, (s + n) / 2
    zone = int(np.clip(np.floor((lon + 180.0) / 6.0) + 1, 1, 60))
    return (32600 if lat >= 0 else 32700) + zone


def area_km2(geoms) -> np.ndarray:
    """Areas in km² measured in the local UTM zone."""
    g = gpd.GeoSeries(geoms)
    if g.crs is None:
        g = g.set_crs(4326)
    if not len(g):
        return np.zeros(0)
    return g.to_crs(utm_epsg(g)).area.to_numpy() / 1e6


def _ratio_text(a: pd.Series, b: pd.Series, unit: str) -> list:
    return [None if not (np.isfinite(x) and np.isfinite(y)) else f"{x:,.0f} / {y:,.0f} {unit}"
            for x, y in zip(a, b)]


def _field(label: str, values, fmt: str = "text", *, dictionary: bool = False) -> dict:
    """One popup row: ``{label, fmt, v}`` or, dictionary-coded, ``{label, fmt, dict, v}``."""
    if values is None:
        return {"label": label, "fmt": fmt, "v": []}
    if fmt == "text" or dictionary:
        s = pd.Series(values).reset_index(drop=True)
        missing = s.isna().to_numpy()
        s = s.astype(str).astype(object)
        s[missing] = None
        if dictionary:
            codes, uniques = pd.factorize(s, use_na_sentinel=True)
            return {"label": label, "fmt": "text", "dict": [str(u) for u in uniques], "v": codes.tolist()}
        return {"label": label, "fmt": "text", "v": s.tolist()}
    if fmt == "bool":
        return {"label": label, "fmt": fmt, "v": [int(bool(v)) for v in values]}
    a = pd.to_numeric(pd.Series(values).reset_index(drop=True), errors="coerce").to_numpy(dtype=float)
    digits = {"int": 0, "cny": 0, "year": 0, "m": 0, "share": 4, "pct": 2, "num1": 2, "num2": 3,
              "km": 3, "km2": 2, "mbps": 1}.get(fmt, 4)
    r = np.round(a, digits)
    ok = np.isfinite(r)
    v = (np.where(ok, r, 0).astype(np.int64) if digits == 0 else r).astype(object)
    v[~ok] = None
    return {"label": label, "fmt": fmt, "v": v.tolist()}


def _metric(metric_id: str, label: str, values, fmt: str) -> dict:
    f = _field(label, values, fmt)
    return {"id": metric_id, "label": label, "fmt": fmt, "v": f["v"]}


def _palette(n: int) -> list[str]:
    if n <= 1:
        return [VIRIDIS[4]]
    idx = np.round(np.linspace(0, len(VIRIDIS) - 1, n)).astype(int)
    return [VIRIDIS[i] for i in idx]


def _bounds(frames) -> list[float]:
    boxes = [f.total_bounds for f in frames if f is not None and len(f) and not f.geometry.is_empty.all()]
    boxes = [b for b in boxes if np.all(np.isfinite(b))]
    if not boxes:
        return [119.3, 35.5, 121.0, 37.2]  # Qingdao, when a plan has nothing to draw
    b = np.array(boxes)
    return [round(float(b[:, 0].min()), 5), round(float(b[:, 1].min()), 5),
            round(float(b[:, 2].max()), 5), round(float(b[:, 3].max()), 5)]


def _check_basemap(basemap: str) -> None:
    if basemap not in BASEMAP_IDS:
        raise InputError(f"unknown basemap {basemap!r}; choose one of {', '.join(BASEMAP_IDS)}", field="basemap")


def gcj_offset_grid(bounds, *, step: float = GCJ_GRID_STEP_DEG) -> dict | None:
    """Offsets WGS-84 -> GCJ-02 on a regular grid over ``bounds`` (lon/lat, padded).

    Values are integers in 1e-7 degree. ``None`` when :mod:`gis.crs` is not available.
    """
    try:
        from gis.crs import wgs84_to_gcj02
    except ImportError:
        log.warning("gis.crs not available: the Gaode (GCJ-02) basemap is left out of the map")
        return None
    w, s, e, n = (float(v) for v in bounds)
    pad = 0.1
    w, s, e, n = w - pad, s - pad, e + pad, n + pad
    while ((e - w) / step + 2) * ((n - s) / step + 2) > GCJ_GRID_MAX_POINTS:
        step *= 1.5
    nx = int(np.ceil((e - w) / step)) + 2
    ny = int(np.ceil((n - s) / step)) + 2
    lons = w + step * np.arange(nx)
    lats = s + step * np.arange(ny)
    lon, lat = np.meshgrid(lons, lats)  # row = lat index
    glon, glat = wgs84_to_gcj02(lon.ravel(), lat.ravel())
    unit = 10_000_000
    dx = np.round((np.asarray(glon, dtype=float) - lon.ravel()) * unit).astype(np.int64)
    dy = np.round((np.asarray(glat, dtype=float) - lat.ravel()) * unit).astype(np.int64)
    return {"lon0": round(w, 7), "lat0": round(s, 7), "step": step, "nx": nx, "ny": ny, "unit": unit,
            "dx": dx.tolist(), "dy": dy.tolist()}


def _page(*, title: str, subtitle: str, layers: list, bounds: list, basemap: str) -> dict:
    grid = gcj_offset_grid(bounds)
    bases = [dict(b) for b in BASEMAPS if not (b["gcj"] and grid is None)]
    if basemap not in {b["id"] for b in bases}:
        basemap = bases[0]["id"]
    return {"format": 1, "title": str(title), "subtitle": subtitle, "scale": SCALE, "bounds": bounds,
            "basemap": basemap, "basemaps": bases, "gcjGrid": grid, "layers": layers}


# ====================================================================== HTML
def json_for_html(obj) -> str:
    """Compact JSON that is safe inside ``<script type="application/json">``."""
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _script_safe(js: str) -> str:
    low = js.lower()
    if "</script" in low or "<!--" in low:
        raise ValueError("an inlined script contains '</script' or '<!--'")
    return js


@lru_cache(maxsize=None)
def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def _leaflet_css() -> str:
    css = _asset("leaflet.css")
    for png in ("layers-2x.png", "layers.png"):
        uri = "data:image/png;base64," + base64.b64encode((ASSETS / png).read_bytes()).decode("ascii")
        css = css.replace(f"url(images/{png})", f"url({uri})")
    # the default marker icon is never used; drop its image reference
    css = css.replace("background-image: url(images/marker-icon.png);", "")
    if "url(images/" in css:
        raise ValueError("leaflet.css references an image that is not inlined")
    return css


@lru_cache(maxsize=None)
def _leaflet_js() -> str:
    js = _asset("leaflet.js")
    return _script_safe(js.replace("//# sourceMappingURL=leaflet.js.map", ""))


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def render_map_html(data: dict) -> str:
    """The whole page: inlined Leaflet + renderer, and ``data`` as a JSON block."""
    leaflet_js = _leaflet_js()
    app_js = _script_safe(_asset("rollout-map.js"))
    csp = "; ".join([
        "default-src 'none'",
        f"script-src {_sha256(leaflet_js)} {_sha256(app_js)}",
        "style-src 'unsafe-inline'",
        "img-src data: https:",
        "base-uri 'none'",
        "form-action 'none'",
    ])
    return _env().get_template("map.html.j2").render(
        title=data.get("title") or "Map", csp=csp,
        leaflet_css=Markup(_leaflet_css()), app_css=Markup(_asset("rollout-map.css")),
        leaflet_js=Markup(leaflet_js), app_js=Markup(app_js),
        data_json=Markup(json_for_html(data)),
    )


def _write_page(out: Path, data: dict) -> Path:
    html = render_map_html(data)
    atomic_write_text(out, html)
    mb = len(html.encode("utf-8")) / 1e6
    if mb > MAX_HTML_MB:
        log.warning("%s is %.1f MB, above the %.0f MB a browser opens comfortably", out, mb, MAX_HTML_MB)
    else:
        log.info("wrote %s (%.1f MB)", out, mb)
    return out


def _read_layers_gpkg(path: Path) -> dict:
    if not path.is_file():
        raise InputError("layers file not found; run 'rollout layers' first", file=str(path))
    import pyogrio

    try:
        present = {name for name, _ in pyogrio.list_layers(path)}
    except Exception as exc:  # noqa: BLE001 - pyogrio error kinds vary
        raise InputError(f"not a readable GeoPackage ({str(exc).splitlines()[0][:160]})", file=str(path)) from None
    if "districts" not in present:
        raise InputError("no 'districts' layer", file=str(path), field="districts")
    out: dict = {}
    for name in ("districts", "demand", "candidates", "offices", "hotspots"):
        if name in present:
            gdf = gpd.read_file(path, layer=name, engine="pyogrio")
            if gdf.crs is None:
                gdf = gdf.set_crs(4326)
            out[name] = gdf.to_crs(4326)
    meta = {}
    if "meta" in present:
        try:
            table = pyogrio.read_dataframe(path, layer="meta", read_geometry=False)
            for key, value in zip(table["key"], table["value"]):
                try:
                    meta[str(key)] = json.loads(value)
                except (TypeError, ValueError):
                    meta[str(key)] = value
        except Exception:  # noqa: BLE001 - a broken meta table only loses the demand note
            log.warning("%s: unreadable 'meta' table ignored", path)
    out["meta"] = meta
    return out
