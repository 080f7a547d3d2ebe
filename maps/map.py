"""Interactive folium maps of a saved plan and of the input layers, that work offline.

:func:`write_map` draws a saved plan (``plan.json`` + ``plan.gpkg``) and
:func:`write_layers_map` the input layers (``layers.gpkg``) into ONE HTML file
each, built with folium:

* a ``folium.Map`` (``prefer_canvas``, ``control_scale``) whose base layers are
  ``folium.TileLayer`` s: CartoDB Positron, OpenStreetMap, Gaode/AMap (GCJ-02)
  and "No basemap" (a blank tile that needs no network);
* ``folium.GeoJson`` overlays: the district choropleth (stations per km²,
  PON ports per 1,000 households or population covered, switchable), OLT sites
  as circle markers sized by PON ports, demand cells by clutter class and the
  feeder and backhaul links (those three are off by default);
* the 5G stations as :class:`RolloutPoints`, a ``folium.map.Layer`` (a branca
  ``MacroElement``) whose template embeds the stations as JSON and draws them
  with the project's canvas point layer (``maps/assets/rollout-map.js``), so
  35,000+ stations stay fluid; it is listed in the ``folium.LayerControl``
  like any folium layer;
* ``folium.plugins.Fullscreen``, and a :class:`Legend` ``MacroElement``;
* when the plan carries them (:mod:`maps.network`): the best-server RSRP lattice as
  :class:`RolloutRaster`, one palette PNG (:mod:`maps.raster`) drawn as an ``L.imageOverlay`` below
  the vectors (200,000 points would be megabytes of vectors; the image is tens to hundreds of kB),
  the splitter cabinets as another canvas point layer, and the feeder tree, distribution fibre and
  backhaul by carrier as line layers; all off at first.

Offline: folium's default JavaScript and CSS come from CDNs (Leaflet, jQuery,
Bootstrap, Font Awesome, awesome-markers). Here every folium element's
``default_js``/``default_css`` is pointed, per instance, at the vendored files
in ``maps/assets`` (see ``VENDORED.md``) or dropped when the page does not use
it (jQuery, Bootstrap, awesome-markers, Font Awesome), and the rendered
``<script src>``/``<link>`` tags are replaced by inline ``<script>``/``<style>``.
The page then loads nothing but basemap tiles, and a tile that fails leaves the
vector layers untouched. A folium element that asks for an asset not vendored
here makes :func:`render_map_html` fail rather than ship a CDN link.

Escaping: popups, tooltips, the legend and the title are built in the browser
from the JSON columns as DOM text nodes (never folium's HTML popups), layer
names and the page ``<title>`` are escaped here, and every JSON block is
escaped for ``<script>``. A name such as ``<img src=x onerror=alert(1)>``
shows as text. The page also carries a Content-Security-Policy that allows
only its own inline scripts, by sha256 hash, so an injected inline handler
could not run anyway.

How the page stays small and fast: stations travel column-wise (coordinates as
integers in 1e-5 degree, repeated strings dictionary-coded); demand cells are
one multi-polygon per clutter class and links one multi-line per kind (GeoJSON
rounded to 1e-5 degree, about 1 m), with the cell/link behind each part listed
so that popups and counts still refer to single features. A GeoJson layer
hidden at first (demand cells, links) reaches folium without geometry (folium
still styles it) and gets its shapes, from a JSON block, right after the first
draw. ``python -m bench.bench_map`` measures size, time to interactive and
redraws in headless Chromium.

Gaode/AMap tiles are in GCJ-02. When that basemap is chosen the page rebuilds
every overlay shifted into GCJ-02, by bilinear interpolation in an offset grid
(0.02 degree) computed here with :func:`gis.crs.wgs84_to_gcj02`; the
interpolation error is below 0.5 m.
"""
from __future__ import annotations

import base64
import hashlib
import html as _html
import json
import logging
import math
import os
import re
from functools import lru_cache
from pathlib import Path

import folium
import folium.plugins
import geopandas as gpd
import jinja2
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from folium.elements import JSCSSMixin

from gis.crs import wgs84_to_gcj02
from gis.errors import InputError
from gis.io import atomic_write_text
from gis.layers import Layers
from maps.network import NetworkParts, network_parts, with_evaluated_coverage
from maps.raster import TRANSPARENT, lattice_raster, png_bytes, png_data_uri
from maps.tables import (as_frame, booleans, district_figures, district_labels, district_area_km2, is_modelled,
                         numbers, station_weights, strings)

log = logging.getLogger(__name__)

ASSETS = Path(__file__).with_name("assets")
TEMPLATES = Path(__file__).with_name("templates")

SCALE = 100_000                 # coordinates travel as integers in 1/SCALE degree (GeoJSON: 5 decimals)
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
    {"id": "none", "name": "No basemap", "gcj": False, "maxZoom": 20, "url": None, "attribution": ""},
)
BASEMAP_IDS = tuple(b["id"] for b in BASEMAPS)
#: The only http(s) URLs a map page may request: its tile templates.
TILE_URL_TEMPLATES = tuple(b["url"] for b in BASEMAPS if b["url"])
#: The "No basemap" tile: a transparent 1x1 GIF, so that base layer needs no network.
BLANK_TILE = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"

CLUTTER_CLASSES = (
    ("dense_urban", "dense urban", "#a50f15"),
    ("urban", "urban", "#fb6a4a"),
    ("suburban", "suburban", "#fdae6b"),
    ("rural", "rural", "#a1d99b"),
)
VIRIDIS = ("#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725")
#: Choropleth ramp (ColorBrewer YlGnBu) and the colour of a district without a value.
CHOROPLETH = ("#ffffcc", "#c7e9b4", "#7fcdbb", "#41b6c4", "#2c7fb8", "#253494")
NODATA = "#d9d9d9"
DISTRICT_STYLE = {"color": "#333333", "weight": 1.5, "opacity": 0.9, "fill": True, "fillColor": NODATA,
                  "fillOpacity": 0.55}
DISTRICT_HIGHLIGHT = {"color": "#000000", "weight": 3}

#: folium asset name -> file in maps/assets inlined instead of the CDN (None: not used by these pages, dropped).
VENDORED_JS: dict[str, str | None] = {
    "leaflet": "leaflet.js",
    "Control.Fullscreen.js": "Control.FullScreen.js",
    "rollout-map.js": "rollout-map.js",
    "jquery": None, "bootstrap": None, "awesome_markers": None,
}
VENDORED_CSS: dict[str, str | None] = {
    "leaflet_css": "leaflet.css",
    "Control.FullScreen.css": "Control.FullScreen.css",
    "rollout-map.css": "rollout-map.css",
    "bootstrap_css": None, "glyphicons_css": None, "awesome_markers_font_css": None,
    "awesome_markers_css": None, "awesome_rotate_css": None,
}
_ASSET_SCHEME = "rollout-asset:"


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
    from maps.tables import clean_plan_text
    from rollout.plan import load_plan

    plan_dir = Path(plan_dir)
    plan = clean_plan_text(load_plan(plan_dir))
    out = Path(out_html) if out_html is not None else plan_dir / "map.html"
    data = plan_map_data(plan, basemap=basemap, network=network_parts(plan, plan_dir))
    if title:
        data["title"] = str(title)
    return _write_page(out, data)


def write_layers_map(layers_gpkg: str | os.PathLike, out_html: str | os.PathLike, *,
                     basemap: str = "positron", title: str | None = None) -> Path:
    """Draw the input layers (before optimisation) as one offline HTML map.

    Parameters
    ----------
    layers_gpkg
        A layers GeoPackage written by ``rollout layers`` (read with :meth:`gis.layers.Layers.from_gpkg`).
    out_html
        Output file, written atomically.
    basemap
        Basemap shown first, one of {"positron", "osm", "gaode", "none"}.
    title
        Page title; default "Input layers: <file name>".
    """
    layers_gpkg = Path(layers_gpkg)
    data = layers_map_data(Layers.from_gpkg(layers_gpkg), basemap=basemap,
                           title=f"Input layers: {title}" if title else f"Input layers: {layers_gpkg.name}")
    return _write_page(Path(out_html), data)


# ====================================================================== page data
def plan_map_data(plan, *, basemap: str = "positron", network: NetworkParts | None = None) -> dict:
    """The JSON-able description of a plan's map page (what the browser draws).

    ``network``: the plan's optional radio/ODN parts (default: those the plan object holds, see
    :func:`maps.network.network_parts`): the best-server RSRP raster, the splitters, the feeder tree.
    """
    _check_basemap(basemap)
    network = network_parts(plan) if network is None else network
    modelled = is_modelled(plan.demand_source)
    dist = with_evaluated_coverage(district_figures(plan), network.evaluation)
    layers = [_districts_spec(plan.districts, dist, plan_metrics=True)]
    if network.evaluation:
        _evaluated_coverage_labels(layers[0], network.evaluation)
    rsrp = _rsrp_spec(network.rsrp, network.evaluation) if network.rsrp is not None else None
    if rsrp is not None:
        layers.append(rsrp)
    if len(plan.demand):
        layers.append(_demand_spec(plan.demand, dist, modelled=modelled, on=False, plan_columns=True))
    layers += _link_specs(plan.links, odn=network.splitters is not None)
    if network.splitters is not None:
        layers.append(_splitters_spec(network.splitters, dist))
    if len(plan.olt_sites):
        layers.append(_olt_spec(plan.olt_sites, dist))
    layers.append(_stations_spec(plan.stations, dist))
    if network.existing_modelled:
        layers[-1]["note"] = "Existing stations are MODELLED (placed by the planner's own model), not surveyed."

    subtitle = []
    st = as_frame(plan.stations)
    n = station_weights(st)
    if len(st):
        new = booleans(st, "new")
        subtitle.append(f"{int(n.sum()):,} 5G stations ({int(n[new].sum()):,} new)")
    if len(plan.olt_sites):
        subtitle.append(f"{len(plan.olt_sites):,} OLT sites")
    if modelled:
        subtitle.append("demand is modelled, not measured")
    share = (network.evaluation or {}).get("population_share")
    if isinstance(share, (int, float)):
        thr = (network.evaluation or {}).get("threshold_dbm")
        at = f" at \u2265 {thr:,.0f} dBm".replace("-", "\u2212") if isinstance(thr, (int, float)) else ""
        subtitle.append(f"population covered {share * 100:.1f} %{at}")
    if network.existing_modelled:
        subtitle.append("existing network is modelled")
    bounds = _bounds([plan.districts, plan.stations, plan.olt_sites, plan.demand])
    return _page(title=plan.title or "Rollout plan", subtitle=" \u00b7 ".join(subtitle),
                 layers=layers, bounds=bounds, basemap=basemap)


def layers_map_data(layers: Layers, *, basemap: str = "positron", title: str = "Input layers") -> dict:
    """The JSON-able description of the input-layers map page."""
    _check_basemap(basemap)
    districts = layers.districts
    d = as_frame(districts)
    area = district_area_km2(districts)
    pop = numbers(d, "population")
    hh = numbers(d, "households")
    dist = pd.DataFrame({"district_id": strings(d, "district_id"), "label": district_labels(d),
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
    dem, hot, off, cand = layers.demand, layers.hotspots, layers.offices, layers.candidates
    if len(dem):
        out.append(_demand_spec(dem, dist, modelled=is_modelled(layers.demand_source), on=True, plan_columns=False))
    for table, make in ((hot, _hotspots_spec), (off, _offices_spec), (cand, _candidates_spec)):
        if len(table):
            out.append(make(table, dist))
    subtitle = [f"{len(districts):,} districts", f"{len(dem):,} demand cells", f"{len(cand):,} candidate sites"]
    if is_modelled(layers.demand_source):
        subtitle.append("demand is modelled, not measured")
    bounds = _bounds([districts, dem, cand, off])
    return _page(title=title, subtitle=" \u00b7 ".join(subtitle), layers=out, bounds=bounds, basemap=basemap)


# ====================================================================== layer specs
def _districts_spec(districts: gpd.GeoDataFrame, dist: pd.DataFrame, *, plan_metrics: bool) -> dict:
    d = as_frame(districts)
    geoms = shapely.simplify(np.asarray(districts.geometry.values, dtype=object), DISTRICT_SIMPLIFY_DEG,
                             preserve_topology=True)
    polys, owner = _polygon_parts(geoms)
    features = []
    for i in range(len(d)):
        mine = [polys[p] for p in np.flatnonzero(owner == i)]
        features.append({"type": "Feature", "id": i, "properties": {"i": i}, "geometry": _polygon_geometry(mine)})
    spec = {
        "id": "districts", "kind": "districts", "label": "Districts", "on": True,
        "titles": [str(x) for x in dist["label"]],
        "style": dict(DISTRICT_STYLE),
        "geojson": {"type": "FeatureCollection", "features": features},
    }
    popup = [_field("district id", strings(d, "district_id")),
             _field("name (zh)", strings(d, "name_zh")),
             _field("name (en)", strings(d, "name_en")),
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
    st = as_frame(stations)
    n = len(st)
    typ = strings(st, "type").fillna("").str.lower()
    new = booleans(st, "new")
    year = numbers(st, "build_year").fillna(0).astype(int).to_numpy() if n else np.zeros(0, int)
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
        "w": station_weights(st).tolist(),
        "titles": strings(st, "site_id").fillna("").tolist(),
        "popup": [
            _field("type", typ.where(typ != "", None), dictionary=True),
            _field("new", new, "bool"),
            _field("district", _district_names(st, dist), dictionary=True),
            _field("stations at site", numbers(st, "count"), "int"),
            _field("capex (incl. backhaul)", numbers(st, "capex_cny"), "cny"),
            _field("utilisation", numbers(st, "utilisation"), "share"),
            _field("carried / capacity", _ratio_text(numbers(st, "carried_mbps"), numbers(st, "capacity_mbps"), "Mbit/s"),
                   dictionary=False),
            _field("clutter", strings(st, "clutter"), dictionary=True),
            _field("build year", year, "year"),
            _field("backhaul to", strings(st, "backhaul_to")),
            _field("backhaul route", numbers(st, "backhaul_km"), "km"),
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
    o = as_frame(olt)
    new = booleans(o, "new")
    ports = numbers(o, "ports").fillna(0).to_numpy()
    pmax = float(ports.max()) if len(ports) and ports.max() > 0 else 1.0
    radius = np.round(4 + 12 * np.sqrt(np.clip(ports, 0, None) / pmax), 1)
    return {
        "id": "olt_sites", "kind": "circles", "label": "OLT sites", "on": True,
        "geojson": _points_geojson(olt),
        "classes": [{"label": "new OLT site", "color": "#3f007d", "fill": "#807dba", "fillOpacity": 0.9},
                    {"label": "existing OLT site", "color": "#252525", "fill": "#969696", "fillOpacity": 0.75}],
        "cls": np.where(new, 0, 1).tolist(),
        "radius": radius.tolist(),
        "sizeNote": f"Area grows with PON ports (largest: {int(pmax):,} ports).",
        "titles": strings(o, "office_id").fillna("").tolist(),
        "popup": [
            _field("new", new, "bool"),
            _field("district", _district_names(o, dist), dictionary=True),
            _field("PON ports", ports, "int"),
            _field("new ports", numbers(o, "ports_new"), "int"),
            _field("chassis", numbers(o, "chassis"), "int"),
            _field("ONTs served", numbers(o, "onts"), "int"),
            _field("capex", numbers(o, "capex_cny"), "cny"),
            _field("build year", numbers(o, "build_year").fillna(0), "year"),
        ],
    }


def _lines_spec(layer_id: str, label: str, links: gpd.GeoDataFrame, *, color: str, on: bool) -> dict:
    return {"id": layer_id, "kind": "lines", "label": label, "on": on, "color": color,
            "weight": 1.2, "opacity": 0.7,
            "geojson": _merged_lines_geojson(np.asarray(links.geometry.values, dtype=object))}


# ---------------------------------------------------------------------- radio and ODN layers (issues 9, 10)
#: Fibre links by kind: (kind, carrier or None, layer label, colour, line weight); the ODN labels apply when the
#: plan has splitters (feeder links are then tree edges OLT -> cabinets), the others to older plans.
ODN_LINKS = (("feeder", None, "Feeder tree (OLT \u2192 cabinets)", "#006d2c", 2.0),
             ("distribution", None, "Distribution fibre (cabinet \u2192 cell)", "#74c476", 1.0),
             ("backhaul", "pon", "5G backhaul on PON (station \u2192 OLT)", "#8c510a", 1.2),
             ("backhaul", "ring", "5G backhaul on transport ring (SPN/IPRAN)", "#cc4c02", 1.2),
             ("backhaul", "spur", "Small-cell fibre spur (small cell \u2192 macro site)", "#e7298a", 1.0))
STAR_LINKS = (("feeder", None, "Feeder fibre (cell \u2192 OLT)", "#238b45", 1.2),
              ("backhaul", None, "5G backhaul (station \u2192 OLT/office)", "#8c510a", 1.2))
#: RSRP classes relative to the coverage threshold T: (lower bound - T, colour); class 0 = no server in reach.
RSRP_NO_SERVER = "#4d4d4d"
RSRP_STEPS = ((-math.inf, "#d7191c"), (-10.0, "#fdae61"), (0.0, "#a6d96a"), (10.0, "#66bd63"), (20.0, "#1a9850"),
              (30.0, "#006837"))
RSRP_OPACITY = 0.7
RSRP_DEFAULT_THRESHOLD_DBM = -100.0


def _link_specs(links: gpd.GeoDataFrame, *, odn: bool) -> list[dict]:
    """One switchable line layer per kind of link (and per carrier of backhaul, where the plan records it)."""
    if links is None or not len(links):
        return []
    lf = as_frame(links)
    kind = strings(lf, "kind").fillna("")
    carrier = strings(lf, "carrier").fillna("").str.lower()
    odn = odn or bool((kind == "distribution").any())
    by_carrier = bool(carrier.isin(["pon", "ring", "spur"]).any())
    entries = [ODN_LINKS[0] if odn else STAR_LINKS[0]] + ([ODN_LINKS[1]] if odn else [])
    entries += list(ODN_LINKS[2:]) if by_carrier else [STAR_LINKS[1]]
    out = []
    for k, car, label, color, weight in entries:
        pick = kind == k
        if car is not None:
            pick &= (carrier == car) if car in ("ring", "spur") else ~carrier.isin(["ring", "spur"])
        if pick.any():
            spec = _lines_spec(f"links_{k}" + (f"_{car}" if car else ""), label, links[pick.to_numpy()],
                               color=color, on=False)
            spec["weight"] = weight
            out.append(spec)
    return out


def _splitters_spec(splitters: gpd.GeoDataFrame, dist: pd.DataFrame) -> dict:
    """Splitter cabinets (primary) and secondary splitters, one canvas point layer."""
    sp = as_frame(splitters)
    kind = strings(sp, "kind").fillna("").str.lower()
    cls = np.where(kind == "primary", 0, np.where(kind == "secondary", 1, 2))
    classes = [{"label": "cabinet (primary splitter)", "color": "#3f007d", "fill": "#9e9ac8", "radius": 4},
               {"label": "secondary splitter", "color": "#54278f", "fill": "#ffffff", "radius": 2.5},
               {"label": "other splitter", "color": "#525252", "fill": "#bdbdbd", "radius": 2.5}]
    popup = [_field("stage", kind.where(kind != "", None), dictionary=True),
             _field("split ratio", strings(sp, "ratio"), dictionary=True),
             _field("lines", numbers(sp, "lines"), "int"),
             _field("OLT", strings(sp, "olt_id"), dictionary=True),
             _field("district", _district_names(sp, dist), dictionary=True)]
    return _points_spec("splitters", "Splitter cabinets", splitters, classes=classes, cls=cls,
                        titles=strings(sp, "splitter_id"), popup=popup)


def _points_spec(layer_id: str, label: str, gdf: gpd.GeoDataFrame, *, classes: list[dict], cls: np.ndarray,
                 titles: pd.Series, popup: list[dict], on: bool = False) -> dict:
    """A canvas point layer (:class:`RolloutPoints`): coordinates in 1/SCALE degree, a class per point."""
    x, y = _xy(gdf)
    return {"id": layer_id, "kind": "points", "label": label, "on": on, "x": _q(x).tolist(), "y": _q(y).tolist(),
            "classes": classes, "cls": np.asarray(cls).tolist(), "titles": titles.fillna("").tolist(),
            "popup": popup}


def _evaluated_coverage_labels(spec: dict, evaluation: dict) -> None:
    """Say, in the district choropleth and popup, that coverage is the RSRP evaluation's."""
    thr = evaluation.get("threshold_dbm")
    label = "population covered (RSRP evaluation" + (
        f", \u2265 {thr:,.0f} dBm)".replace("-", "\u2212") if isinstance(thr, (int, float)) else ")")
    for item in spec.get("metrics", []) + spec.get("popup", []):
        if item.get("id", item.get("label")) in ("population_covered_share", "population covered"):
            item["label"] = label


def rsrp_classes(threshold_dbm: float) -> list[dict]:
    """The RSRP colour classes: no server in reach, then bins of 10 dB around the threshold."""
    def dbm(v: float) -> str:
        return f"{threshold_dbm + v:,.0f}".replace("-", "\u2212")

    out = [{"label": "no server in reach", "color": RSRP_NO_SERVER, "lo": None}]
    for k, (lo, color) in enumerate(RSRP_STEPS):
        hi = RSRP_STEPS[k + 1][0] if k + 1 < len(RSRP_STEPS) else None
        text = (f"< {dbm(hi)} dBm" if lo == -math.inf else f"\u2265 {dbm(lo)} dBm" if hi is None
                else f"{dbm(lo)} \u2026 {dbm(hi)} dBm")
        out.append({"label": text + (" (threshold)" if lo == 0.0 else ""), "color": color,
                    "lo": None if lo == -math.inf else threshold_dbm + lo})
    return out


def rsrp_class_of(rsrp_dbm, threshold_dbm: float) -> np.ndarray:
    """Class index (see :func:`rsrp_classes`) of each RSRP value; NaN or -inf is 'no server in reach'."""
    v = np.asarray(rsrp_dbm, dtype=float)
    edges = [threshold_dbm + lo for lo, _ in RSRP_STEPS[1:]]
    cls = 1 + np.searchsorted(np.asarray(edges), np.where(np.isfinite(v), v, -np.inf), side="right")
    return np.where(np.isfinite(v), cls, 0).astype(np.uint8)


def _rsrp_threshold(rsrp: pd.DataFrame, evaluation: dict | None) -> tuple[float, str]:
    thr = (evaluation or {}).get("threshold_dbm")
    if isinstance(thr, (int, float)) and math.isfinite(thr):
        return float(thr), "coverage threshold"
    v = numbers(rsrp, "rsrp_dbm").to_numpy()
    cov = booleans(rsrp, "covered") & np.isfinite(v)
    if cov.any():
        return float(v[cov].min()), "weakest covered point"
    return RSRP_DEFAULT_THRESHOLD_DBM, "no threshold recorded; classes around"


def _lattice_area_km2(r: pd.DataFrame) -> np.ndarray:
    """Each lattice point's cell area: ``area_km2``, else the mean area of its H3 resolution, else res 9's."""
    import h3

    area = numbers(r, "area_km2").to_numpy().copy()
    bad = ~(np.isfinite(area) & (area > 0))
    if bad.any():
        cells = strings(r, "h3").to_numpy()
        res = [h3.get_resolution(c) if c and h3.is_valid_cell(c) else 9 for c in cells[bad]]
        area[bad] = [h3.average_hexagon_area(k, "km^2") for k in res]
    return area


def _rsrp_spec(rsrp: gpd.GeoDataFrame, evaluation: dict | None) -> dict | None:
    """The best-server RSRP lattice as one palette PNG (an image overlay), with its legend classes.

    None when no lattice point has coordinates.
    """
    r = as_frame(rsrp)
    thr, thr_what = _rsrp_threshold(r, evaluation)
    classes = rsrp_classes(thr)
    cls = rsrp_class_of(numbers(r, "rsrp_dbm"), thr)
    x, y = _xy(rsrp)
    if not (np.isfinite(x) & np.isfinite(y)).any():
        return None
    ras = lattice_raster(x, y, cls, _lattice_area_km2(r))
    palette = [tuple(int(c["color"][i:i + 2], 16) for i in (1, 3, 5)) + (255,) for c in classes]
    counts = np.bincount(cls, minlength=len(classes))
    for c, n in zip(classes, counts, strict=True):
        c["n"] = int(n)
        del c["lo"]
    w, s, e, n = (round(v, 6) for v in ras.bounds)
    painted = int((ras.index != TRANSPARENT).sum())
    log.info("RSRP raster: %d lattice points -> %d x %d px (%.0f m), %d painted", len(r), ras.index.shape[1],
             ras.index.shape[0], ras.pixel_m, painted)
    share = (evaluation or {}).get("population_share")
    thr_text = f"{thr:,.0f} dBm".replace("-", "\u2212")
    note = (f"Best-server RSRP on {len(r):,} lattice points, drawn as an image (pixel \u2248 {ras.pixel_m:,.0f} m); "
            f"{thr_what} {thr_text}")
    if isinstance(share, (int, float)):
        note += f"; {share * 100:.1f} % of the population at or above it"
    return {"id": "rsrp", "kind": "raster", "label": "Best-server RSRP", "on": False,
            "url": png_data_uri(png_bytes(ras.index, palette)), "bounds": [w, s, e, n], "opacity": RSRP_OPACITY,
            "classes": classes, "points": int(len(r)), "pixelM": round(ras.pixel_m, 1), "note": note + "."}


def _demand_spec(demand: gpd.GeoDataFrame, dist: pd.DataFrame, *, modelled: bool, on: bool,
                 plan_columns: bool) -> dict:
    d = as_frame(demand)
    clutter = strings(d, "clutter").fillna("")
    classes, cls = [], np.full(len(d), len(CLUTTER_CLASSES))
    for k, (key, label, color) in enumerate(CLUTTER_CLASSES):
        classes.append({"label": label, "color": color, "fill": color, "weight": 0, "fillOpacity": 0.5})
        cls[(clutter == key).to_numpy()] = k
    classes.append({"label": "other", "color": "#969696", "fill": "#d9d9d9", "weight": 0, "fillOpacity": 0.5})
    geoms = shapely.simplify(np.asarray(demand.geometry.values, dtype=object), DEMAND_SIMPLIFY_DEG,
                             preserve_topology=True)
    popup = [_field("district", _district_names(d, dist), dictionary=True),
             _field("clutter", clutter.where(clutter != "", None), dictionary=True),
             _field("population", numbers(d, "population"), "int"),
             _field("households", numbers(d, "households"), "int"),
             _field("busy-hour traffic", numbers(d, "traffic_mbps"), "mbps"),
             _field("PON lines (ONTs)", numbers(d, "onts"), "int"),
             _field("planning radius", numbers(d, "radius_m"), "m")]
    if plan_columns:
        popup += [_field("covered", d["covered"].astype(bool).to_numpy() if "covered" in d else None, "bool"),
                  _field("stations within radius", numbers(d, "stations_within"), "int"),
                  _field("served by OLT", strings(d, "olt_id"))]
    note = ("Demand is MODELLED from the district table totals spread around urban cores, not measured."
            if modelled else "")
    return {"id": "demand", "kind": "polys", "label": "Demand cells by clutter", "on": on,
            "classes": classes, "cls": cls.tolist(), "geojson": _merged_polygons_geojson(geoms, cls, len(classes)),
            "titles": strings(d, "cell_id").fillna("").tolist(), "popup": popup, "note": note}


def _hotspots_spec(hot: gpd.GeoDataFrame, dist: pd.DataFrame) -> dict:
    h = as_frame(hot)
    approx = booleans(h, "approximate")
    cls = np.where(approx, 1, 0)
    return {"id": "hotspots", "kind": "polys", "label": "Industrial hot spots", "on": True,
            "classes": [{"label": "hot spot", "color": "#6a51a3", "fill": "#9e9ac8", "weight": 1.5},
                        {"label": "hot spot, approximate location", "color": "#6a51a3", "fill": "#dadaeb",
                         "weight": 1.5}],
            "cls": cls.tolist(),
            "geojson": _merged_polygons_geojson(np.asarray(hot.geometry.values, dtype=object), cls, 2),
            "titles": strings(h, "name").fillna("").tolist(),
            "popup": [_field("district", _district_names(h, dist), dictionary=True),
                      _field("approximate location", approx, "bool"),
                      _field("enterprise lines", numbers(h, "enterprise_lines"), "int")],
            "note": "Approximate: placed from public descriptions, not surveyed." if approx.any() else ""}


def _offices_spec(off: gpd.GeoDataFrame, dist: pd.DataFrame) -> dict:
    o = as_frame(off)
    existing = booleans(o, "existing")
    ports = numbers(o, "existing_ports").fillna(0).to_numpy()
    pmax = float(ports.max()) if len(ports) and ports.max() > 0 else 1.0
    return {"id": "offices", "kind": "circles", "label": "Offices / OLT candidates", "on": True,
            "geojson": _points_geojson(off),
            "classes": [{"label": "existing office", "color": "#252525", "fill": "#969696", "fillOpacity": 0.9},
                        {"label": "candidate office", "color": "#3f007d", "fill": "#ffffff", "fillOpacity": 0.9}],
            "cls": np.where(existing, 0, 1).tolist(),
            "radius": np.where(existing, np.round(5 + 8 * np.sqrt(np.clip(ports, 0, None) / pmax), 1), 5.0).tolist(),
            "sizeNote": "Existing offices grow with their existing PON ports.",
            "titles": strings(o, "office_id").fillna("").tolist(),
            "popup": [_field("district", _district_names(o, dist), dictionary=True),
                      _field("existing", existing, "bool"),
                      _field("existing ports", ports, "int"),
                      _field("clutter", strings(o, "clutter"), dictionary=True)]}


def _candidates_spec(cand: gpd.GeoDataFrame, dist: pd.DataFrame) -> dict:
    c = as_frame(cand)
    source = strings(c, "source").fillna("")
    ex = (numbers(c, "existing_macro").fillna(0) + numbers(c, "existing_small").fillna(0)).to_numpy() > 0
    cls = np.where(ex | (source == "existing").to_numpy(), 0, np.where((source == "user").to_numpy(), 1, 2))
    classes = [{"label": "existing station site", "color": "#08519c", "fill": "#6baed6", "radius": 3.5},
               {"label": "user candidate", "color": "#7f2704", "fill": "#fd8d3c", "radius": 3},
               {"label": "grid candidate", "color": "#525252", "fill": "#bdbdbd", "radius": 2.5}]
    return _points_spec("candidates", "Candidate 5G sites", cand, classes=classes, cls=cls,
                        titles=strings(c, "site_id"),
                        popup=[_field("district", _district_names(c, dist), dictionary=True),
                               _field("source", source.where(source != "", None), dictionary=True),
                               _field("clutter", strings(c, "clutter"), dictionary=True),
                               _field("existing macro", numbers(c, "existing_macro"), "int"),
                               _field("existing small", numbers(c, "existing_small"), "int")])


# ====================================================================== GeoJSON helpers
def _q(a) -> np.ndarray:
    return np.round(np.asarray(a, dtype=float) * SCALE).astype(np.int64)


def _polygon_parts(geoms) -> tuple[list, np.ndarray]:
    """Every polygon of ``geoms`` as GeoJSON coordinates, and the index of the feature it belongs to.

    A polygon is a list of closed rings (exterior first) in lon/lat rounded to
    1/SCALE degree; vertices repeated after rounding are dropped, and so are
    rings left with fewer than three vertices (a polygon whose exterior goes).
    """
    geoms = np.asarray(geoms, dtype=object)
    if not len(geoms):
        return [], np.zeros(0, dtype=np.int64)
    parts, fidx = shapely.get_parts(geoms, return_index=True)
    keep = shapely.get_type_id(parts) == 3  # polygons only
    parts, fidx = parts[keep], fidx[keep]
    if not len(parts):
        return [], np.zeros(0, dtype=np.int64)
    rings, pidx = shapely.get_rings(parts, return_index=True)
    counts = shapely.get_num_coordinates(rings)
    q = _q(shapely.get_coordinates(rings))
    ring_of = np.repeat(np.arange(len(rings)), counts)
    same = np.zeros(len(q), bool)
    same[1:] = (q[1:] == q[:-1]).all(axis=1) & (ring_of[1:] == ring_of[:-1])
    q, ring_of = q[~same], ring_of[~same]
    new_counts = np.bincount(ring_of, minlength=len(rings))
    coords = (q / SCALE).tolist()                     # shortest repr: 120.38123, not 120.38123000000001
    ends = np.cumsum(new_counts)
    starts = ends - new_counts
    first_ring = np.r_[True, pidx[1:] != pidx[:-1]]   # pidx is sorted: a polygon's exterior comes first
    polys: list = []
    owner: list = []
    current = None
    for r in range(len(rings)):
        ok = new_counts[r] >= 4                       # closed ring: 3 distinct vertices + the closing one
        if first_ring[r]:
            current = [coords[starts[r]:ends[r]]] if ok else None
            if current is not None:
                polys.append(current)
                owner.append(fidx[pidx[r]])
        elif ok and current is not None:
            current.append(coords[starts[r]:ends[r]])
    return polys, np.asarray(owner, dtype=np.int64)


def _polygon_geometry(polys: list) -> dict | None:
    if not polys:
        return None
    if len(polys) == 1:
        return {"type": "Polygon", "coordinates": polys[0]}
    return {"type": "MultiPolygon", "coordinates": polys}


def _merged_polygons_geojson(geoms, cls: np.ndarray, n_classes: int) -> dict:
    """One MultiPolygon feature per class; ``properties.cells[p]`` is the row behind polygon ``p``."""
    polys, owner = _polygon_parts(geoms)
    cls = np.asarray(cls)
    features = []
    for k in range(n_classes):
        idx = np.flatnonzero(cls[owner] == k) if len(owner) else np.zeros(0, dtype=np.int64)
        if not len(idx):
            continue
        features.append({"type": "Feature", "id": k, "properties": {"k": k, "cells": owner[idx].tolist()},
                         "geometry": {"type": "MultiPolygon", "coordinates": [polys[p] for p in idx]}})
    return {"type": "FeatureCollection", "features": features}


def _merged_lines_geojson(geoms) -> dict:
    """One MultiLineString feature; ``properties.owners[p]`` is the row behind line ``p``."""
    geoms = np.asarray(geoms, dtype=object)
    empty = {"type": "FeatureCollection", "features": []}
    if not len(geoms):
        return empty
    parts, fidx = shapely.get_parts(geoms, return_index=True)
    keep = shapely.get_type_id(parts) == 1  # linestrings
    parts, fidx = parts[keep], fidx[keep]
    if not len(parts):
        return empty
    counts = shapely.get_num_coordinates(parts)
    q = _q(shapely.get_coordinates(parts))
    coords = (q / SCALE).tolist()
    ends = np.cumsum(counts)
    starts = ends - counts
    lines, owners = [], []
    for i in np.flatnonzero(counts >= 2):
        lines.append(coords[starts[i]:ends[i]])
        owners.append(int(fidx[i]))
    if not lines:
        return empty
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": 0, "properties": {"owners": owners},
         "geometry": {"type": "MultiLineString", "coordinates": lines}}]}


def _points_geojson(gdf: gpd.GeoDataFrame) -> dict:
    """One Point feature per row (``id`` and ``properties.i`` = row); no geometry where it is missing."""
    x, y = _xy(gdf)
    qx, qy = _q(np.nan_to_num(x)), _q(np.nan_to_num(y))
    ok = np.isfinite(x) & np.isfinite(y)
    features = []
    for i in range(len(x)):
        geom = {"type": "Point", "coordinates": [qx[i] / SCALE, qy[i] / SCALE]} if ok[i] else None
        features.append({"type": "Feature", "id": i, "properties": {"i": i}, "geometry": geom})
    return {"type": "FeatureCollection", "features": features}


def _xy(gdf: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    if not len(gdf):
        return np.zeros(0), np.zeros(0)
    pts = np.asarray(gdf.geometry.values, dtype=object)
    missing = shapely.is_missing(pts) | shapely.is_empty(pts)
    pts = pts.copy()
    pts[missing] = shapely.Point()
    nonpoint = (shapely.get_type_id(pts) != 0) & ~missing
    if nonpoint.any():
        pts[nonpoint] = shapely.point_on_surface(pts[nonpoint])
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    return np.where(missing, np.nan, x), np.where(missing, np.nan, y)


# ====================================================================== choropleth
def choropleth(values, fmt: str) -> tuple[list[str], list[dict]]:
    """Colour per value and legend rows: up to five equal-interval classes, ``NODATA`` where missing."""
    v = np.array([np.nan if x is None else x for x in values], dtype=float)
    ok = np.isfinite(v)
    if not ok.any():
        return [NODATA] * len(v), ([{"color": NODATA, "label": "no data"}] if len(v) else [])
    lo, hi = float(v[ok].min()), float(v[ok].max())
    if hi == lo:
        br = np.array([lo, hi])
    else:
        n = min(5, int(ok.sum()))
        br = lo + (hi - lo) * np.arange(n + 1) / n
    n_classes = max(1, len(br) - 1)
    k = np.searchsorted(br[1:-1], np.where(ok, v, lo), side="right")

    def color(c: int) -> str:
        if n_classes <= 1:
            return CHOROPLETH[3]
        return CHOROPLETH[int(math.floor(c * (len(CHOROPLETH) - 1) / (n_classes - 1) + 0.5))]

    colors = [color(int(c)) if good else NODATA for c, good in zip(k, ok, strict=True)]
    step = float(br[1] - br[0]) if len(br) > 1 else 0.0
    legend = [{"color": color(c), "label": f"{_fmt_step(br[c], fmt, step)} \u2013 {_fmt_step(br[c + 1], fmt, step)}"}
              for c in range(n_classes)]
    if not ok.all():
        legend.append({"color": NODATA, "label": "no data"})
    return colors, legend


def _fmt_step(v: float, fmt: str, step: float) -> str:
    """A class bound with enough digits to tell the classes apart."""
    scale, unit = (100.0, " %") if fmt == "share" else (1.0, "")
    if step > 0:
        digits = max(0, min(4, math.ceil(-math.log10(step * scale)) + 1))
    else:
        digits = 2
    if fmt == "int" and step * scale >= 10:
        digits = 0
    return f"{v * scale:,.{digits}f}{unit}"


# ====================================================================== columns
def _district_names(df: pd.DataFrame, dist: pd.DataFrame) -> pd.Series:
    """Each row's district label, from its ``district_id`` (or its ``district`` column)."""
    lookup = dict(zip(dist["district_id"].astype(object), dist["label"], strict=True))
    ids = strings(df, "district_id")
    names = ids.map(lambda v: lookup.get(v) if v is not None else None)
    if "district" in df:
        names = names.where(names.notna(), strings(df, "district"))
    return names.where(names.notna(), ids)


def _ratio_text(a: pd.Series, b: pd.Series, unit: str) -> list:
    return [None if not (np.isfinite(x) and np.isfinite(y)) else f"{x:,.0f} / {y:,.0f} {unit}"
            for x, y in zip(a, b, strict=True)]


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
    """A choropleth metric: values (``v``), a colour per district and the legend rows."""
    v = _field(label, values, fmt)["v"]
    colors, legend = choropleth(v, fmt)
    return {"id": metric_id, "label": label, "fmt": fmt, "v": v, "colors": colors, "legend": legend}


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


def gcj_offset_grid(bounds, *, step: float = GCJ_GRID_STEP_DEG) -> dict:
    """Offsets WGS-84 -> GCJ-02 (:func:`gis.crs.wgs84_to_gcj02`) on a regular grid over ``bounds`` (lon/lat, padded).

    Values are integers in 1e-7 degree.
    """
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
    return {"format": 1, "title": str(title), "subtitle": subtitle, "scale": SCALE, "bounds": bounds,
            "basemap": basemap, "basemaps": [dict(b) for b in BASEMAPS], "gcjGrid": gcj_offset_grid(bounds),
            "layers": layers}


# ====================================================================== folium elements
class _Payload:
    """An element that carries a JSON block (``payload``, already escaped for HTML).

    branca compiles every rendered macro output as a Jinja template again, so a
    JSON block rendered in place would be parsed by Jinja: slow for megabytes of
    data, and a name containing ``{{ ... }}`` would be evaluated. The macro
    renders a placeholder instead, and :func:`render_map_html` puts the JSON in
    afterwards.
    """

    payload: str = "null"

    @property
    def placeholder(self) -> str:
        return f"@@rollout-payload:{self.get_name()}@@"


class _Runtime(_Payload, JSCSSMixin, MacroElement):
    """The page runtime of one folium map (``RolloutMap.attach``): GCJ-02 shift, counts, popups.

    Added to the map before every layer that registers with it. Brings
    ``rollout-map.js``/``.css`` into the page header like any folium plugin.
    """

    _template = jinja2.Template("""
{% macro html(this, kwargs) %}<script type="application/json" class="rollout-data" data-kind="page" id="{{ this.get_name() }}">{{ this.placeholder }}</script>{% endmacro %}
{% macro script(this, kwargs) %}
    RolloutMap.attach({{ this._parent.get_name() }}, RolloutMap.readJson({{ this.get_name()|tojson }}));
{% endmacro %}
""")
    default_js = [("rollout-map.js", _ASSET_SCHEME + "rollout-map.js")]
    default_css = [("rollout-map.css", _ASSET_SCHEME + "rollout-map.css")]

    def __init__(self, config: dict):
        super().__init__()
        self._name = "RolloutRuntime"
        self.payload = json_for_html(config)


class _Register(_Payload, MacroElement):
    """Child of a folium GeoJson layer: hands it and its columns (popups, legend) to the runtime."""

    _template = jinja2.Template("""
{% macro html(this, kwargs) %}<script type="application/json" class="rollout-data" data-kind="layer" id="{{ this.get_name() }}">{{ this.placeholder }}</script>{% endmacro %}
{% macro script(this, kwargs) %}
    RolloutMap.of({{ this._parent._parent.get_name() }}).addGeoJson(
        {{ this._parent.get_name() }}, RolloutMap.readJson({{ this.get_name()|tojson }}));
{% endmacro %}
""")

    def __init__(self, spec: dict):
        super().__init__()
        self._name = "RolloutLayer"
        self.payload = json_for_html(spec)


class _GeoJsonBlock(_Payload, MacroElement):
    """The geometry of a GeoJson layer hidden at first, as a JSON block the runtime parses when needed."""

    _template = jinja2.Template("""
{% macro html(this, kwargs) %}<script type="application/json" class="rollout-data" data-kind="geojson" id="{{ this.get_name() }}">{{ this.placeholder }}</script>{% endmacro %}
""")

    def __init__(self, geojson: dict):
        super().__init__()
        self._name = "RolloutGeoJson"
        self.payload = json_for_html(geojson)


class _Basemap(MacroElement):
    """Child of a folium TileLayer: tells the runtime its id and datum (GCJ-02 or WGS-84)."""

    _template = jinja2.Template("""
{% macro script(this, kwargs) %}
    RolloutMap.of({{ this._parent._parent.get_name() }}).addBasemap({{ this._parent.get_name() }}, {{ this.info|tojson }});
{% endmacro %}
""")

    def __init__(self, basemap_id: str, gcj: bool):
        super().__init__()
        self._name = "RolloutBasemap"
        self.info = {"id": basemap_id, "gcj": bool(gcj)}


class _RuntimeLayer(_Payload, folium.map.Layer):
    """A folium layer made by the runtime (``RolloutMap.of(map).<_method>(spec)``) from its JSON block.

    Being a ``folium.map.Layer``, it is listed in the ``folium.LayerControl`` and honours ``show``.
    """

    _method = ""
    _template = jinja2.Template("""
{% macro html(this, kwargs) %}<script type="application/json" class="rollout-data" data-kind="layer" id="{{ this.get_name() }}_data">{{ this.placeholder }}</script>{% endmacro %}
{% macro script(this, kwargs) %}
    var {{ this.get_name() }} = RolloutMap.of({{ this._parent.get_name() }}).{{ this._method }}(
        RolloutMap.readJson({{ (this.get_name() ~ "_data")|tojson }}));
{% endmacro %}
""")

    def __init__(self, spec: dict, *, name: str, show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = type(self).__name__
        self.payload = json_for_html(spec)


class RolloutPoints(_RuntimeLayer):
    """A folium layer of many points (35,000+ 5G stations) drawn on one canvas.

    The points travel as one JSON block (column-wise, coordinates in 1/SCALE
    degree); ``rollout-map.js`` stamps them into a canvas and hit-tests clicks.
    """

    _method = "addPoints"


class RolloutRaster(_RuntimeLayer):
    """A folium layer of one image (the best-server RSRP raster), an ``L.imageOverlay`` made by the runtime.

    The image travels as a PNG data URI inside the layer's JSON block (never through Jinja), and is drawn
    in a pane below the vector overlays.
    """

    _method = "addRaster"


class Legend(MacroElement):
    """The legend: one section per visible overlay (classes with counts, choropleth classes, notes).

    Its rows are built in the browser, as text, from the layers' JSON, so that
    they follow the layers switched on and the colouring chosen.
    """

    _template = jinja2.Template("""
{% macro script(this, kwargs) %}
    RolloutMap.of({{ this._parent.get_name() }}).legend({{ this.position|tojson }});
{% endmacro %}
""")

    def __init__(self, position: str = "bottomright"):
        super().__init__()
        self._name = "Legend"
        self.position = position


class _Start(MacroElement):
    """Last element of the map: title, colour options, first-draw flags (``window.rolloutMap.ready``)."""

    _template = jinja2.Template("""
{% macro script(this, kwargs) %}
    RolloutMap.of({{ this._parent.get_name() }}).start({{ this.layer_control.get_name() }});
{% endmacro %}
""")

    def __init__(self, layer_control: folium.LayerControl):
        super().__init__()
        self._name = "RolloutStart"
        self.layer_control = layer_control


def _layer_name(label: str) -> str:
    # Leaflet's layer control inserts names as HTML; branca compiles scripts as Jinja templates
    return _jinja_inert(_html.escape(str(label), quote=False))


def _jinja_inert(text: str) -> str:
    """HTML text that branca's second Jinja pass and the payload substitution leave alone."""
    return text.replace("{", "&#123;").replace("@", "&#64;")


def _spec_for_browser(spec: dict) -> dict:
    """A layer spec without its GeoJSON (folium embeds that in the GeoJson layer)."""
    return {k: v for k, v in spec.items() if k != "geojson"}


def build_folium_map(data: dict) -> folium.Map:
    """The folium map of a page description (:func:`plan_map_data` or :func:`layers_map_data`)."""
    w, s, e, n = data["bounds"]
    m = folium.Map(location=[(s + n) / 2, (w + e) / 2], zoom_start=10, tiles=None, prefer_canvas=True,
                   control_scale=True, zoom_snap=0.5, font_size="0.75rem")
    m.fit_bounds([[s, w], [n, e]], padding=(10, 10))  # first, so that the layers draw once, at the final view
    start_gcj = any(b["id"] == data["basemap"] and b["gcj"] for b in data["basemaps"])
    _Runtime({"title": data["title"], "subtitle": data["subtitle"], "scale": data["scale"],
              "basemap": data["basemap"], "startGcj": start_gcj, "gcjGrid": data["gcjGrid"]}).add_to(m)

    for b in data["basemaps"]:
        tile = folium.TileLayer(
            tiles=b["url"] or BLANK_TILE, attr=b["attribution"] or "none", name=_layer_name(b["name"]),
            overlay=False, control=True, show=b["id"] == data["basemap"],
            max_zoom=b.get("maxZoom", 19), max_native_zoom=b.get("maxZoom", 19), subdomains=b.get("subdomains", "abc"))
        if not b["attribution"]:
            tile.options.pop("attribution", None)
        tile.add_child(_Basemap(b["id"], b["gcj"]))
        m.add_child(tile, name=f"basemap_{b['id']}")

    for spec in data["layers"]:
        m.add_child(_overlay(spec), name=f"layer_{spec['id']}")

    control = folium.LayerControl(position="topright", collapsed=False)
    m.add_child(control)
    folium.plugins.Fullscreen(position="topleft", title="Full screen", title_cancel="Exit full screen").add_to(m)
    m.add_child(Legend("bottomright"))
    m.add_child(_Start(control))
    root = m.get_root()
    root.header.add_child(Element('<meta charset="utf-8">'), name="meta_http")  # replaces branca's http-equiv
    root.header.add_child(Element(f"<title>{_jinja_inert(_html.escape(data['title'] or 'Map'))}</title>"),
                          name="title")
    root.header.add_child(Element('<meta name="generator" content="rollout maps.map (folium)">'),
                          name="generator")
    root.html.add_child(Element("<noscript><p>This map needs JavaScript. The same data are in report.html and in "
                                "the GIS exports.</p></noscript>"), name="noscript")
    return m


def _deferred(geojson: dict) -> dict:
    """The features of ``geojson`` without their geometry: what folium styles, but nothing to build yet."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": f["id"], "properties": {k: v for k, v in f["properties"].items() if k in ("i", "k")},
         "geometry": None} for f in geojson["features"]]}


def _overlay(spec: dict):
    """The folium layer of one layer spec.

    A GeoJson layer hidden at first (demand cells, links) gets its features
    without geometry, so that folium still styles it (style_function per
    feature id) but the browser does not build tens of thousands of shapes
    before the first draw; its geometry travels in a JSON block of its own that
    the runtime parses and adds to the folium layer right after the first draw,
    or when the layer is switched on.
    """
    name, show, kind = _layer_name(spec["label"]), bool(spec["on"]), spec["kind"]
    if kind == "points":
        return RolloutPoints(_spec_for_browser(spec), name=name, show=show)
    if kind == "raster":
        return RolloutRaster(spec, name=name, show=show)
    if kind not in _GEOJSON_LAYERS:
        raise ValueError(f"unknown layer kind {kind!r}")
    geojson = spec["geojson"] if show else _deferred(spec["geojson"])
    layer = _GEOJSON_LAYERS[kind](spec, geojson, name=name, show=show)
    browser_spec = _spec_for_browser(spec)
    if not show:
        block = _GeoJsonBlock(spec["geojson"])
        layer.add_child(block)
        browser_spec["geojsonBlock"] = block.get_name()
    layer.add_child(_Register(browser_spec))
    return layer


def _districts_layer(spec: dict, geojson: dict, *, name: str, show: bool) -> folium.GeoJson:
    """Districts filled by the chosen choropleth metric (outlines only without one)."""
    base = dict(spec["style"])
    metric = next((mt for mt in spec.get("metrics", []) if mt["id"] == spec.get("metric")), None)

    def style(feature):
        st = dict(base)
        if metric is not None:
            st["fillColor"] = metric["colors"][feature["properties"]["i"]]
        else:
            st["fillOpacity"] = 0
        return st

    return folium.GeoJson(geojson, name=name, show=show, style_function=style,
                          highlight_function=lambda feature: dict(DISTRICT_HIGHLIGHT))


def _polys_layer(spec: dict, geojson: dict, *, name: str, show: bool) -> folium.GeoJson:
    """One multi-polygon per class (demand cells, hot spots), styled by its class."""
    classes = spec["classes"]

    def style(feature):
        c = classes[feature["properties"]["k"]]
        wt = c.get("weight", 0.5)
        return {"color": c["color"], "weight": wt, "stroke": wt > 0, "opacity": 0.8,
                "fillColor": c.get("fill") or c["color"], "fillOpacity": c.get("fillOpacity", 0.45)}

    return folium.GeoJson(geojson, name=name, show=show, style_function=style, interactive=bool(spec.get("popup")))


def _lines_layer(spec: dict, geojson: dict, *, name: str, show: bool) -> folium.GeoJson:
    """One multi-line (feeder or backhaul links) in one colour."""
    line_style = {"color": spec["color"], "weight": spec.get("weight", 1), "opacity": spec.get("opacity", 0.7)}
    return folium.GeoJson(geojson, name=name, show=show, style_function=lambda f: dict(line_style), interactive=False)


def _circles_layer(spec: dict, geojson: dict, *, name: str, show: bool) -> folium.GeoJson:
    """Circle markers (OLT sites, offices) sized and coloured per point."""
    classes, cls, radius = spec["classes"], spec["cls"], spec["radius"]

    def style(feature):
        i = feature["properties"]["i"]
        c = classes[cls[i]]
        return {"radius": radius[i], "color": c["color"], "weight": c.get("weight", 1), "opacity": 1,
                "fillColor": c.get("fill") or c["color"], "fillOpacity": c.get("fillOpacity", 0.9)}

    return folium.GeoJson(geojson, name=name, show=show, style_function=style,
                          marker=folium.CircleMarker(radius=6, fill=True))


_GEOJSON_LAYERS = {"districts": _districts_layer, "polys": _polys_layer, "lines": _lines_layer,
                   "circles": _circles_layer}


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


def _data_uri(name: str, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode((ASSETS / name).read_bytes()).decode("ascii")


@lru_cache(maxsize=None)
def _inline_css(name: str) -> str:
    css = _asset(name)
    if name == "leaflet.css":
        for png in ("layers-2x.png", "layers.png"):
            css = css.replace(f"url(images/{png})", f"url({_data_uri(png, 'image/png')})")
        # the default marker icon is never used; drop its image reference
        css = css.replace("background-image: url(images/marker-icon.png);", "")
    elif name == "Control.FullScreen.css":
        css = css.replace("url(icon-fullscreen.svg)", f"url({_data_uri('icon-fullscreen.svg', 'image/svg+xml')})")
    if re.search(r"url\((?!data:|#)", css) or "@import" in css:
        raise ValueError(f"{name} references a file that is not inlined")
    if "</style" in css.lower():
        raise ValueError(f"{name} contains '</style'")
    return css


@lru_cache(maxsize=None)
def _inline_js(name: str) -> str:
    js = re.sub(r"//# sourceMappingURL=\S+", "", _asset(name))
    return _script_safe(js)


def _offline_assets(root) -> None:
    """Point every folium element's JS/CSS at the vendored files (per instance), or drop what is unused."""
    stack = [root]
    while stack:
        element = stack.pop()
        stack.extend(element._children.values())
        if not isinstance(element, JSCSSMixin):
            continue
        for attr, table in (("default_js", VENDORED_JS), ("default_css", VENDORED_CSS)):
            out = []
            for name, url in getattr(element, attr):
                if name not in table:
                    raise ValueError(f"folium element {type(element).__name__} needs {name} ({url}), which is not "
                                     f"vendored in maps/assets; vendor it (see VENDORED.md) or drop it")
                if table[name] is not None:
                    out.append((name, _ASSET_SCHEME + table[name]))
            setattr(element, attr, out)   # an instance attribute: folium's class defaults stay untouched


_ASSET_TAG = re.compile(r'<script src="rollout-asset:([\w.\-]+)"></script>'
                        r'|<link rel="stylesheet" href="rollout-asset:([\w.\-]+)"\s*/?>')
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _element_numbers(root) -> dict[str, str]:
    """Each element's random id -> a counter-derived one (depth first, insertion order).

    folium names its JavaScript variables and element ids ``<kind>_<id>``; branca draws ``<id>`` from
    ``os.urandom``, so the same plan gave a different page every time. The page is rendered with the
    random ids (some are captured in payloads while the map is built) and every one is then replaced
    by its number in tree order, so the same plan gives the same bytes.
    """
    stack, numbers = [root], {}
    while stack:
        element = stack.pop()
        numbers.setdefault(element._id, f"{len(numbers) + 1:08x}")
        stack.extend(reversed(list(element._children.values())))
    return numbers


def _renumber(page: str, numbers: dict[str, str]) -> str:
    """``page`` with every element id of ``numbers`` replaced (ids are 32 hex digits; nothing else matches)."""
    if not numbers:
        return page
    pattern = re.compile("|".join(re.escape(k) for k in sorted(numbers, key=len, reverse=True)))
    return pattern.sub(lambda mt: numbers[mt[0]], page)


def render_map_html(data: dict) -> str:
    """The whole page: the folium map, every library inlined, a CSP that allows only its own scripts."""
    m = build_folium_map(data)
    root = m.get_root()
    _offline_assets(root)
    payloads = {}
    stack = [root]
    while stack:
        element = stack.pop()
        stack.extend(element._children.values())
        if isinstance(element, _Payload):
            payloads[element.placeholder] = element.payload
    page = root.render()
    page = re.sub(r"@@rollout-payload:\w+@@", lambda mt: payloads.get(mt[0], mt[0]), page)
    page = _renumber(page, _element_numbers(root))
    page = _ASSET_TAG.sub(lambda mt: (f"<script>{_inline_js(mt[1])}</script>" if mt[1]
                                      else f"<style>{_inline_css(mt[2])}</style>"), page)
    leftover = re.findall(r"<script\b[^>]*\bsrc=[^>]*>|<link\b[^>]*>", page)
    if leftover:
        raise ValueError(f"the map page would load {leftover[:3]}: not inlined")
    for tag in re.findall(r"<script\b[^>]*>", page):
        if tag != "<script>" and 'type="application/json"' not in tag:
            raise ValueError(f"unexpected script element {tag}")
    hashes = sorted({_sha256(body) for body in _INLINE_SCRIPT.findall(page)})
    csp = "; ".join([
        "default-src 'none'",
        "script-src " + " ".join(hashes),
        "style-src 'unsafe-inline'",
        "img-src data: https:",
        "base-uri 'none'",
        "form-action 'none'",
    ])
    head = '<meta charset="utf-8">'
    if page.count(head) != 1:
        raise ValueError("the page header is not as expected")
    return page.replace(head, f'{head}\n<meta http-equiv="Content-Security-Policy" content="{_html.escape(csp)}">', 1)


def _write_page(out: Path, data: dict) -> Path:
    html = render_map_html(data)
    atomic_write_text(out, html)
    mb = len(html.encode("utf-8")) / 1e6
    if mb > MAX_HTML_MB:
        log.warning("%s is %.1f MB, above the %.0f MB a browser opens comfortably", out, mb, MAX_HTML_MB)
    else:
        log.info("wrote %s (%.1f MB)", out, mb)
    return out
