"""maps.map: the offline folium map page of a saved plan and of the input layers."""
from __future__ import annotations

import json
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import maps.map as mm
from gis.crs import wgs84_to_gcj02
from gis.errors import InputError
from tests._plan_fixture import (HOSTILE, HOSTILE_OFFICE, HOSTILE_PLAIN, HOSTILE_SITE, HOSTILE_TITLE, HOSTILE_ZH,
                                 make_layers_gpkg, make_plan, save_plan)


# ---------------------------------------------------------------------- helpers
@pytest.fixture
def gcj():
    return wgs84_to_gcj02


def page_data(html: str) -> dict:
    """What the page draws: its config block, and every layer spec with its GeoJSON.

    Layer specs come from the ``rollout-data`` JSON blocks (in map order); the
    GeoJSON of each folium GeoJson layer from its ``geo_json_<id>_add(...)`` call,
    or, for a layer hidden at first, from its spec (folium gets it without geometry).
    """
    blocks = re.findall(r'<script type="application/json" class="rollout-data" data-kind="(\w+)" id="\w+">'
                        r'(.*?)</script>', html, re.S)
    assert blocks, "data blocks missing"
    pages = [json.loads(body) for kind, body in blocks if kind == "page"]
    assert len(pages) == 1
    layers = [json.loads(body) for kind, body in blocks if kind == "layer"]
    geometry = {m[0]: json.loads(m[1]) for m in re.findall(
        r'<script type="application/json" class="rollout-data" data-kind="geojson" id="(\w+)">(.*?)</script>',
        html, re.S)}
    geojson = [json.loads(m) for m in re.findall(r"^\s*geo_json_[0-9a-f]+_add\((.*)\);$", html, re.M)]
    with_geo = [spec for spec in layers if spec["kind"] not in ("points", "raster")]
    assert len(with_geo) == len(geojson)
    for spec, gj in zip(with_geo, geojson, strict=True):
        if "geojsonBlock" in spec:  # hidden at first: folium got the features without geometry, a block has them
            spec["geojson"] = geometry.pop(spec["geojsonBlock"])
            assert [f["id"] for f in gj["features"]] == [f["id"] for f in spec["geojson"]["features"]]
            assert all(f["geometry"] is None for f in gj["features"])
        else:
            spec["geojson"] = gj
    assert not geometry
    return {**pages[0], "layers": layers}


def layer_control(html: str) -> tuple[list[str], list[str], dict]:
    """Names of the base layers and overlays in folium's LayerControl, and name -> JS variable."""
    m = re.search(r"var (layer_control_\w+)_layers = \{\s*base_layers : \{(.*?)\},\s*overlays :  \{(.*?)\},\s*\};",
                  html, re.S)
    assert m, "folium LayerControl missing"

    def entries(body):
        return [(json.loads(k), v) for k, v in re.findall(r'("(?:[^"\\]|\\.)*") : (\w+),', body)]

    base, over = entries(m.group(2)), entries(m.group(3))
    return [unescape(k) for k, _ in base], [unescape(k) for k, _ in over], {unescape(k): v for k, v in base + over}


def map_name(html: str) -> str:
    m = re.search(r"var (map_[0-9a-f]+) = L\.map\(", html)
    assert m, "no folium map"
    return m.group(1)


def layers_by_id(html: str) -> dict:
    return {layer["id"]: layer for layer in page_data(html)["layers"]}


class Resources(HTMLParser):
    """Every URL the page would load: script src, link href, img/iframe src, CSS url()."""

    def __init__(self):
        super().__init__()
        self.urls, self.scripts, self.inline, self._in, self._attrs = [], [], [], None, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.scripts.append(a)
            if a.get("src"):
                self.urls.append(a["src"])
        if tag == "link" and a.get("href"):
            self.urls.append(a["href"])
        if tag in ("img", "iframe", "embed", "object", "source") and (a.get("src") or a.get("data")):
            self.urls.append(a.get("src") or a.get("data"))
        self._in, self._attrs = tag, a

    def handle_data(self, data):
        if self._in == "style":
            self.urls += re.findall(r"url\(\s*['\"]?([^'\")]+)", data)
            self.urls += re.findall(r"@import\s+['\"]([^'\"]+)", data)
        if self._in == "script" and not self._attrs:
            self.inline.append(data)

    def handle_endtag(self, tag):
        self._in = None


def coords_of(geometry) -> np.ndarray:
    return np.array([xy for part in _rings(geometry) for xy in part])


def _rings(geometry):
    t, c = geometry["type"], geometry["coordinates"]
    if t == "Polygon":
        return c
    if t == "MultiPolygon":
        return [r for p in c for r in p]
    if t == "MultiLineString":
        return c
    raise AssertionError(t)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("plan")
    return save_plan(d)


@pytest.fixture(scope="module")
def plan_html(saved):
    out = mm.write_map(saved)
    return out, out.read_text(encoding="utf-8")


#: The overlays of the fixture plan, in the layer control (and drawing) order.
OVERLAYS = ["Districts", "Best-server RSRP", "Demand cells by clutter", "Feeder tree (OLT \u2192 cabinets)",
            "Distribution fibre (cabinet \u2192 cell)", "5G backhaul on PON (station \u2192 OLT)",
            "5G backhaul on transport ring (SPN/IPRAN)", "Small-cell fibre spur (small cell \u2192 macro site)",
            "Splitter cabinets", "OLT sites", "5G stations"]
LINK_LAYERS = {"links_feeder": ("feeder", None), "links_distribution": ("distribution", None),
               "links_backhaul_pon": ("backhaul", "pon"), "links_backhaul_ring": ("backhaul", "ring"),
               "links_backhaul_spur": ("backhaul", "spur")}


# ---------------------------------------------------------------------- folium
def test_the_page_is_a_folium_map(plan_html):
    html = plan_html[1]
    name = map_name(html)
    assert html.count("= L.map(") == 1 and '<div class="folium-map" id="%s"' % name in html
    assert '"preferCanvas": true' in html
    assert f"L.control.scale().addTo({name});" in html                  # control_scale=True
    assert re.search(r"L\.control\.fullscreen\(", html)                   # folium.plugins.Fullscreen
    assert f"RolloutMap.attach({name}, " in html
    assert f"RolloutMap.of({name}).legend(" in html                      # the Legend MacroElement
    base, over, var = layer_control(html)
    assert base == ["CartoDB Positron", "OpenStreetMap", "Gaode / AMap (GCJ-02)", "No basemap"]
    assert over == OVERLAYS
    # base layers are folium TileLayers; overlays folium GeoJson layers, stations and splitters the custom
    # canvas layer, the RSRP raster the custom image layer
    for b in base:
        assert var[b].startswith("tile_layer_") and f"var {var[b]} = L.tileLayer(" in html
    for o in over:
        if o in ("5G stations", "Splitter cabinets"):
            assert var[o].startswith("rollout_points_")
            assert f"var {var[o]} = RolloutMap.of({name}).addPoints(" in html
        elif o == "Best-server RSRP":
            assert var[o].startswith("rollout_raster_")
            assert f"var {var[o]} = RolloutMap.of({name}).addRaster(" in html
        else:
            assert var[o].startswith("geo_json_") and f"var {var[o]} = L.geoJson(" in html
    # show / show=False: only the layers shown at first are added to the map
    added = set(re.findall(r"^\s*(\w+)\.addTo\(%s\);$" % name, html, re.M))
    assert {var[o] for o in ("Districts", "OLT sites", "5G stations", "CartoDB Positron")} <= added
    assert not {var[o] for o in over if o not in ("Districts", "OLT sites", "5G stations")} & added
    assert not {var[b] for b in base[1:]} & added


def test_folium_defaults_stay_untouched(plan_html):
    import folium
    import folium.plugins

    # the CDN defaults were replaced per instance, never on folium's classes
    assert dict(folium.Map.default_js)["leaflet"].startswith("https://")
    assert dict(folium.plugins.Fullscreen.default_js)["Control.Fullscreen.js"].startswith("https://")


def test_an_unvendored_folium_asset_fails_loudly(saved, monkeypatch):
    import folium.plugins

    def extra(m):
        folium.plugins.MiniMap().add_to(m)  # wants leaflet-minimap from a CDN
        return m

    real = mm.build_folium_map
    monkeypatch.setattr(mm, "build_folium_map", lambda data: extra(real(data)))
    plan = make_plan(10, 5, seed=1)
    with pytest.raises(ValueError, match="not vendored"):
        mm.render_map_html(mm.plan_map_data(plan))


# ---------------------------------------------------------------------- counts
def test_map_holds_every_feature_of_the_plan(saved, plan_html):
    from rollout.plan import load_plan

    out, html = plan_html
    assert out == saved / "map.html"
    plan = load_plan(saved)
    layers = layers_by_id(html)
    st = layers["stations"]
    assert len(st["x"]) == len(st["y"]) == len(st["cls"]) == len(plan.stations)
    assert sum(st["w"]) == int(plan.stations["count"].sum())
    assert len(layers["districts"]["geojson"]["features"]) == len(plan.districts) == 5
    assert len(layers["olt_sites"]["geojson"]["features"]) == len(plan.olt_sites)
    cells = [c for f in layers["demand"]["geojson"]["features"] for c in f["properties"]["cells"]]
    assert sorted(cells) == list(range(len(plan.demand)))
    for layer_id, (kind, carrier) in LINK_LAYERS.items():
        want = (plan.links["kind"] == kind) & ((plan.links["carrier"] == carrier) if carrier else True)
        (feature,) = layers[layer_id]["geojson"]["features"]
        assert len(feature["geometry"]["coordinates"]) == len(feature["properties"]["owners"]) == want.sum() > 0
    # every popup column has one value per feature
    for layer in layers.values():
        n = len(layer.get("x") or layer.get("cls") or layer.get("titles") or [])
        for f in layer.get("popup", []):
            assert len(f["v"]) == n, (layer["id"], f["label"])
        for m in layer.get("metrics", []):
            assert len(m["v"]) == len(m["colors"]) == n
    # station classes agree with the plan's type/new columns
    new_macro = int(((plan.stations["type"] == "macro") & plan.stations["new"]).sum())
    assert st["cls"].count(0) == new_macro
    # overlays the brief wants off by default
    assert not layers["demand"]["on"] and not any(layers[k]["on"] for k in LINK_LAYERS)
    assert not layers["rsrp"]["on"] and not layers["splitters"]["on"]
    assert layers["stations"]["on"] and layers["districts"]["on"]


def test_choropleth_metrics(saved, plan_html):
    from rollout.plan import load_plan

    plan = load_plan(saved)
    d = layers_by_id(plan_html[1])["districts"]
    metrics = {m["id"]: m for m in d["metrics"]}
    assert set(metrics) == {"stations_per_km2", "ports_per_1000_households", "population_covered_share"}
    assert d["metric"] == "stations_per_km2"
    i = 0
    row = plan.districts.iloc[i]
    v = metrics["stations_per_km2"]["v"]
    assert v[i] == pytest.approx(row["stations_5g"] / row["area_km2"], abs=1e-3)
    assert metrics["ports_per_1000_households"]["v"][i] == pytest.approx(
        row["pon_ports"] / row["households"] * 1000, abs=1e-2)
    # district 2 has no official area: measured instead, never NaN
    assert v[2] is not None and v[2] > 0
    # colours: the lowest value gets the lightest class, the highest the darkest; one legend row per class
    colors = metrics["stations_per_km2"]["colors"]
    assert colors[int(np.argmin(v))] == mm.CHOROPLETH[0] and colors[int(np.argmax(v))] == mm.CHOROPLETH[-1]
    assert len(metrics["stations_per_km2"]["legend"]) == 5
    # folium's style function draws the first metric
    m = re.search(r"function (geo_json_\w+)_styler\(feature\)", plan_html[1])
    assert m and colors[int(np.argmax(v))] in plan_html[1]


def test_choropleth_classes():
    colors, legend = mm.choropleth([0.0, 1.0, None, 5.0, 2.5, 4.0, 3.0], "num1")
    assert colors[2] == mm.NODATA and colors[0] == mm.CHOROPLETH[0] and colors[3] == mm.CHOROPLETH[-1]
    assert [r["label"] for r in legend] == ["0.0 \u2013 1.0", "1.0 \u2013 2.0", "2.0 \u2013 3.0", "3.0 \u2013 4.0",
                                            "4.0 \u2013 5.0", "no data"]
    colors, legend = mm.choropleth([0.5, 0.5], "share")
    assert colors == [mm.CHOROPLETH[3]] * 2 and legend[0]["label"] == "50.00 % \u2013 50.00 %"
    assert mm.choropleth([None], "int") == ([mm.NODATA], [{"color": mm.NODATA, "label": "no data"}])


def test_coordinates_round_trip_to_a_metre(saved, plan_html):
    from rollout.plan import load_plan

    plan = load_plan(saved)
    layers = layers_by_id(plan_html[1])
    st = layers["stations"]
    x = np.array(st["x"]) / mm.SCALE
    assert np.abs(x - plan.stations.geometry.x.to_numpy()).max() <= 0.6 / mm.SCALE
    olt = np.array([f["geometry"]["coordinates"] for f in layers["olt_sites"]["geojson"]["features"]])
    assert np.abs(olt[:, 1] - plan.olt_sites.geometry.y.to_numpy()).max() <= 0.6 / mm.SCALE
    # the island of district 3 and the hole of district 4 survive
    feats = layers["districts"]["geojson"]["features"]
    assert feats[3]["geometry"]["type"] == "MultiPolygon" and len(feats[3]["geometry"]["coordinates"]) == 2
    assert feats[4]["geometry"]["type"] == "Polygon" and len(feats[4]["geometry"]["coordinates"]) == 2
    ring = np.array(feats[4]["geometry"]["coordinates"][0])
    g = plan.districts.geometry.iloc[4]
    g = g.geoms[0] if g.geom_type == "MultiPolygon" else g  # GeoPackage may promote to multi
    ext = np.asarray(g.exterior.coords)
    assert len(ring) == len(ext) and np.abs(ring - ext).max() < 1e-5
    first = layers["demand"]["geojson"]["features"][0]
    hexagon = np.array(first["geometry"]["coordinates"][0][0])
    assert len(hexagon) == 7 and (hexagon[0] == hexagon[-1]).all()  # a closed GeoJSON ring
    cell = first["properties"]["cells"][0]
    want = np.asarray(plan.demand.geometry.iloc[cell].exterior.coords)
    assert np.abs(hexagon - want).max() < 1e-5


def test_no_cdn_and_only_tile_urls(plan_html):
    html = plan_html[1]
    res = Resources()
    res.feed(html)
    assert not [u for u in res.urls if not u.startswith(("data:", "#"))], res.urls
    assert all(not s.get("src") for s in res.scripts)
    assert "<link" not in html
    for cdn in ("cdn.jsdelivr", "cdnjs", "unpkg", "code.jquery", "bootstrapcdn", "googleapis", "fontawesome",
                "netdna", "rawcdn", "raw.githubusercontent"):
        assert cdn not in html, cdn
    assert "jQuery" not in html and "bootstrap" not in html.lower()
    # every http(s) URL in the page's own scripts and data is a tile template or an attribution link
    vendored = {mm._inline_js(f) for f in ("leaflet.js", "Control.FullScreen.js")}
    own = "\n".join(s for s in res.inline if s not in vendored)
    own += "\n".join(re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', html, re.S))
    urls = {u.replace("\\/", "/") for u in re.findall(r"https?:(?:\\?/){2}[^\s\"'<>)\\]+", own)}
    allowed = ("basemaps.cartocdn.com", "tile.openstreetmap.org", "is.autonavi.com",
               "www.openstreetmap.org/copyright", "carto.com/attributions", "leafletjs.com")
    assert all(any(h in u for h in allowed) for u in urls), urls
    for t in mm.TILE_URL_TEMPLATES:
        assert json.dumps(t).replace("&", "\\u0026") in html
    csp = unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1))
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    # the CSP is the first thing in <head> after the charset, before any script
    assert html.index("Content-Security-Policy") < html.index("<script")


def test_csp_hashes_every_inline_script(plan_html):
    import base64
    import hashlib

    html = plan_html[1]
    res = Resources()
    res.feed(html)
    csp = unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1))
    allowed = set(re.findall(r"'sha256-([^']+)'", csp))
    # Leaflet, its fullscreen plugin, rollout-map.js, folium's switches and folium's map script
    assert len(res.inline) == len(allowed) == 5
    for body in res.inline:
        assert base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode() in allowed
    others = [s for s in res.scripts if s]
    assert others and all(s == {"type": "application/json", "class": "rollout-data", "data-kind": s["data-kind"],
                                "id": s["id"]} for s in others)


def test_hostile_names_are_data_never_markup(saved, plan_html):
    html = plan_html[1]
    for bad in (HOSTILE, HOSTILE_PLAIN, HOSTILE_SITE, "<script>window.__xss", "</script><script>"):
        assert bad not in html
    assert "&lt;script&gt;window.__xss=3&lt;/script&gt;" in html.split("</title>")[0]
    data = page_data(html)
    assert data["title"] == HOSTILE_TITLE
    layers = {layer["id"]: layer for layer in data["layers"]}
    titles = layers["districts"]["titles"]
    assert titles[0] == f"{HOSTILE_ZH} {HOSTILE_PLAIN}"
    assert HOSTILE_SITE in layers["stations"]["titles"]
    assert HOSTILE_OFFICE in layers["olt_sites"]["titles"]
    # no user string goes into folium's GeoJSON (whose popups and tooltips would render HTML)
    for layer in layers.values():
        for f in layer.get("geojson", {}).get("features", []):
            assert all(not isinstance(v, str) for v in f["properties"].values())
    js = (Path(mm.ASSETS) / "rollout-map.js").read_text()
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "eval(" not in js
    assert "bindPopup" not in js and "GeoJsonPopup" not in html and "GeoJsonTooltip" not in html


def test_template_syntax_in_names_stays_text(tmp_path):
    """branca compiles rendered output as Jinja again: '{{ }}' or '{%' in a name must not be evaluated."""
    plan = make_plan(10, 5, seed=2)
    jinja = "{{ 7*7 }}{% raw %}{# x #}@@rollout-payload:map_1@@"
    plan.districts.loc[0, "name_en"] = jinja
    plan.stations.loc[1, "site_id"] = "{{ cycler.__init__.__globals__ }}"
    plan.title = f"Plan {jinja}"
    html = mm.render_map_html(mm.plan_map_data(plan))
    data = page_data(html)
    assert data["title"] == plan.title
    assert unescape(re.search(r"<title>(.*?)</title>", html).group(1)) == plan.title
    layers = {layer["id"]: layer for layer in data["layers"]}
    assert layers["districts"]["titles"][0].endswith(jinja)
    assert layers["stations"]["titles"][1] == "{{ cycler.__init__.__globals__ }}"
    assert "49" not in layers["districts"]["titles"][0]


def test_gaode_offset_grid_matches_gis_crs(gcj, saved):
    """The page's bilinear GCJ-02 shift (same formula as the JS) is within 0.5 m of gis.crs."""
    from rollout.plan import load_plan

    plan = load_plan(saved)
    grid = mm.gcj_offset_grid(mm._bounds([plan.districts]))
    assert grid is not None
    rng = np.random.default_rng(1)
    lon = rng.uniform(119.95, 120.65, 2000)
    lat = rng.uniform(35.85, 36.5, 2000)

    def shift(lo, la):
        fx = np.clip((lo - grid["lon0"]) / grid["step"], 0, grid["nx"] - 1.000001)
        fy = np.clip((la - grid["lat0"]) / grid["step"], 0, grid["ny"] - 1.000001)
        ix, iy = np.floor(fx).astype(int), np.floor(fy).astype(int)
        tx, ty = fx - ix, fy - iy
        k = iy * grid["nx"] + ix
        out = []
        for a in (np.array(grid["dx"]), np.array(grid["dy"])):
            out.append(((a[k] * (1 - tx) + a[k + 1] * tx) * (1 - ty)
                        + (a[k + grid["nx"]] * (1 - tx) + a[k + grid["nx"] + 1] * tx) * ty) / grid["unit"])
        return lo + out[0], la + out[1]

    glon, glat = gcj(lon, lat)
    slon, slat = shift(lon, lat)
    err_m = np.hypot((slon - glon) * 111_320 * np.cos(np.radians(lat)), (slat - glat) * 110_570)
    assert err_m.max() < 0.5
    offset_m = np.hypot((glon - lon) * 111_320 * np.cos(np.radians(lat)), (glat - lat) * 110_570)
    assert 100 < offset_m.mean() < 1000  # it is a real shift (GCJ-02 is ~0.3-0.6 km off)


def test_gaode_basemap_offered_only_with_a_shift(gcj, saved, tmp_path):
    html = mm.write_map(saved, tmp_path / "m.html", basemap="gaode").read_text(encoding="utf-8")
    data = page_data(html)
    assert data["gcjGrid"] is not None and data["startGcj"] is True
    base, _, var = layer_control(html)
    assert base == ["CartoDB Positron", "OpenStreetMap", "Gaode / AMap (GCJ-02)", "No basemap"]
    assert f"{var['Gaode / AMap (GCJ-02)']}.addTo({map_name(html)});" in html
    assert re.search(r'addBasemap\(%s, \{"gcj": true, "id": "gaode"\}\)' % var["Gaode / AMap (GCJ-02)"], html)


def test_bad_plan_dir_and_basemap(tmp_path, saved):
    with pytest.raises(InputError, match="plan.json"):
        mm.write_map(tmp_path / "nothing-here")
    assert not (tmp_path / "nothing-here" / "map.html").exists()
    with pytest.raises(InputError, match="basemap"):
        mm.write_map(saved, tmp_path / "x.html", basemap="bing")
    assert not (tmp_path / "x.html").exists()


def test_write_is_atomic(saved, tmp_path, monkeypatch):
    target = tmp_path / "map.html"
    target.write_text("old map", encoding="utf-8")

    def boom(data):
        raise RuntimeError("render failed")

    monkeypatch.setattr(mm, "render_map_html", boom)
    with pytest.raises(RuntimeError):
        mm.write_map(saved, target)
    assert target.read_text(encoding="utf-8") == "old map"
    assert [p.name for p in tmp_path.iterdir()] == ["map.html"]


def test_map_of_a_plan_without_demand_links_or_olt(tmp_path):
    import geopandas as gpd

    plan = make_plan(10, 5, seed=3, years=False, network=False)
    empty = plan.links.iloc[0:0]
    plan.links = empty
    plan.olt_sites = plan.olt_sites.iloc[0:0]
    plan.demand = gpd.GeoDataFrame(plan.demand.iloc[0:0])
    d = plan.save(tmp_path / "p")
    html = mm.write_map(d).read_text(encoding="utf-8")
    data = page_data(html)
    ids = [layer["id"] for layer in data["layers"]]
    assert ids == ["districts", "stations"]
    st = data["layers"][1]
    assert "alt" not in st  # no build years -> no build-year colouring
    assert layer_control(html)[1] == ["Districts", "5G stations"]


def test_build_year_colouring(plan_html):
    st = layers_by_id(plan_html[1])["stations"]
    labels = [c["label"] for c in st["alt"]["classes"]]
    assert labels[1:4] == ["new in 2026", "new in 2027", "new in 2028"]
    assert len(st["alt"]["cls"]) == len(st["x"])


def test_size_budget_at_city_scale(gcj):
    """35,000 stations + 15,000 demand hexes, their splitters, fibre and an RSRP lattice stay under 15 MB."""
    plan = make_plan(35_000, 15_000, seed=7, rsrp_res=9)
    html = mm.render_map_html(mm.plan_map_data(plan))
    mb = len(html.encode("utf-8")) / 1e6
    assert mb <= 15.0, mb
    layers = layers_by_id(html)
    assert len(layers["stations"]["x"]) == 35_000
    assert sum(len(f["properties"]["cells"]) for f in layers["demand"]["geojson"]["features"]) == 15_000


def test_layers_map(tmp_path):
    import geopandas as gpd

    gpkg = make_layers_gpkg(tmp_path / "layers.gpkg")
    out = mm.write_layers_map(gpkg, tmp_path / "layers_map.html")
    html = out.read_text(encoding="utf-8")
    layers = layers_by_id(html)

    def n_features(layer):
        if layer["kind"] == "points":
            return len(layer["x"])
        if layer["kind"] == "polys":
            return len({c for f in layer["geojson"]["features"] for c in f["properties"]["cells"]})
        return len(layer["geojson"]["features"])

    for name in ("districts", "demand", "candidates", "offices", "hotspots"):
        assert n_features(layers[name]) == len(gpd.read_file(gpkg, layer=name)), name
    assert "modelled" in layers["demand"]["note"].lower()
    assert HOSTILE not in html and HOSTILE in layers["hotspots"]["titles"]
    assert [m["id"] for m in layers["districts"]["metrics"]] == ["population_per_km2", "population", "households"]
    res = Resources()
    res.feed(html)
    assert not [u for u in res.urls if not u.startswith(("data:", "#"))]
    assert layer_control(html)[1] == ["Districts", "Demand cells by clutter", "Industrial hot spots",
                                      "Offices / OLT candidates", "Candidate 5G sites"]
    with pytest.raises(InputError, match="not found"):
        mm.write_layers_map(tmp_path / "none.gpkg", tmp_path / "x.html")


# ---------------------------------------------------------------------- encoding properties
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as hs  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(hs.lists(hs.tuples(hs.floats(119.0, 121.0), hs.floats(35.0, 37.5)), min_size=3, max_size=30),
       hs.integers(1, 4))
def test_polygon_and_line_geojson_round_trip(points, parts):
    """Polygons and lines come out as GeoJSON equal to the input rounded to 1e-5 degree."""
    import shapely
    from shapely.geometry import LineString, MultiPolygon

    hull = shapely.MultiPoint(points).convex_hull
    if hull.geom_type != "Polygon" or hull.area < 1e-6:
        return
    polys = [shapely.affinity.translate(hull, xoff=2.5 * k) for k in range(parts)]
    geom = polys[0] if parts == 1 else MultiPolygon(polys)
    got, owner = mm._polygon_parts(np.array([geom], dtype=object))
    assert len(got) == parts and (owner == 0).all()
    for poly, rings in zip(polys, got, strict=True):
        ring = np.array(rings[0])
        want = np.round(np.asarray(poly.exterior.coords) * mm.SCALE) / mm.SCALE
        keep = np.r_[True, np.any(np.diff(want, axis=0) != 0, axis=1)]
        assert np.allclose(ring, want[keep], atol=1e-9)
        assert (ring[0] == ring[-1]).all()
    line = LineString(points)
    gj = mm._merged_lines_geojson(np.array([line, line], dtype=object))
    (feature,) = gj["features"]
    assert feature["properties"]["owners"] == [0, 1]
    assert np.allclose(feature["geometry"]["coordinates"][1], np.round(np.asarray(points) * mm.SCALE) / mm.SCALE,
                       atol=1e-9)


def test_layers_map_from_real_layers_keeps_the_modelled_note(tmp_path):
    """Layers.to_gpkg writes a 'meta' table; the layers map must read the demand source from it."""
    from gis.build import layers_from_scenario
    from tests._gis_fixtures import second_city_scenario

    layers = layers_from_scenario(second_city_scenario(tmp_path / "city"))
    gpkg = layers.to_gpkg(tmp_path / "layers.gpkg")
    html = mm.write_layers_map(gpkg, tmp_path / "layers_map.html").read_text(encoding="utf-8")
    assert "modelled" in layers_by_id(html)["demand"]["note"].lower()


# ---------------------------------------------------------------------- radio and ODN layers (issues 9, 10)
def decode_png(data: bytes) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Class indices and RGBA palette of an 8-bit palette PNG with filter 0 rows (what maps.raster writes)."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0] == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + n
    w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour, interlace) == (8, 3, 0)
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8).reshape(h, w + 1)
    assert (rows[:, 0] == 0).all()
    rgb = np.frombuffer(chunks[b"PLTE"], dtype=np.uint8).reshape(-1, 3)
    alpha = list(chunks.get(b"tRNS", b"")) + [255] * (len(rgb) - len(chunks.get(b"tRNS", b"")))
    return rows[:, 1:], [(*map(int, c), a) for c, a in zip(rgb, alpha, strict=True)]


def test_png_bytes_round_trip():
    from maps.raster import png_bytes

    rng = np.random.default_rng(3)
    index = rng.integers(0, 4, (17, 33)).astype(np.uint8)
    index[0, 0] = 9   # beyond the palette: transparent
    pal = [(255, 0, 0, 255), (0, 255, 0, 128), (0, 0, 255, 255), (10, 20, 30, 0)]
    got, got_pal = decode_png(png_bytes(index, pal))
    assert (got == index).all()
    assert got_pal[:4] == pal and got_pal[9][3] == 0
    with pytest.raises(ValueError):
        png_bytes(np.zeros((0, 3), np.uint8), pal)


def test_rsrp_classes_around_the_threshold():
    classes = mm.rsrp_classes(-95.0)
    assert [c["label"] for c in classes] == [
        "no server in reach", "< \u2212105 dBm", "\u2212105 \u2026 \u221295 dBm", "\u221295 \u2026 \u221285 dBm (threshold)",
        "\u221285 \u2026 \u221275 dBm", "\u221275 \u2026 \u221265 dBm", "\u2265 \u221265 dBm"]
    got = mm.rsrp_class_of([-np.inf, np.nan, -140, -105.01, -105, -95.01, -95, -84.9, -65, -20], -95.0)
    assert got.tolist() == [0, 0, 1, 1, 2, 2, 3, 4, 6, 6]


def test_rsrp_raster_paints_every_lattice_point_in_its_class(saved, plan_html):
    """Each lattice point's pixel (Web-Mercator rows, as Leaflet stretches the image) holds its own class."""
    import base64

    from maps.network import network_parts
    from maps.raster import TRANSPARENT, mercator_y
    from rollout.plan import load_plan

    plan = load_plan(saved)
    parts = network_parts(plan, saved)
    spec = layers_by_id(plan_html[1])["rsrp"]
    assert spec["kind"] == "raster" and spec["points"] == len(parts.rsrp)
    assert spec["url"].startswith("data:image/png;base64,")
    index, palette = decode_png(base64.b64decode(spec["url"].split(",", 1)[1]))
    assert [f"#{r:02x}{g:02x}{b:02x}" for r, g, b, _ in palette[:len(spec["classes"])]] == [
        c["color"] for c in spec["classes"]]
    w, s, e, n = spec["bounds"]
    h, wd = index.shape
    lon, lat = parts.rsrp.geometry.x.to_numpy(), parts.rsrp.geometry.y.to_numpy()
    col = ((lon - w) / (e - w) * wd).astype(int)
    row = ((mercator_y(n) - mercator_y(lat)) / (mercator_y(n) - mercator_y(s)) * h).astype(int)
    want = mm.rsrp_class_of(parts.rsrp["rsrp_dbm"], parts.evaluation["threshold_dbm"])
    assert (index[row, col] == want).all()
    # the legend counts the lattice points per class; pixels outside every hexagon stay transparent
    assert [c["n"] for c in spec["classes"]] == np.bincount(want, minlength=len(spec["classes"])).tolist()
    assert (index == TRANSPARENT).any() and palette[TRANSPARENT][3] == 0 if len(palette) > TRANSPARENT else True
    assert "\u221295 dBm" in spec["note"] and f"{len(parts.rsrp):,} lattice points" in spec["note"]


def test_raster_pixels_follow_mercator_rows():
    """A lattice far north and south of the equator: rows are equally spaced in Mercator y, not latitude."""
    from maps.raster import lattice_raster, mercator_lat, mercator_y

    lat = np.array([20.0, 60.0])
    ras = lattice_raster(np.array([10.0, 10.0]), lat, np.array([1, 2]), np.array([500.0, 500.0]),
                         max_side_px=400)
    w, s, e, n = ras.bounds
    h = ras.index.shape[0]
    rows = [int(r) for r in (mercator_y(n) - mercator_y(lat)) / (mercator_y(n) - mercator_y(s)) * h]
    assert ras.index[rows[0]].max() == 1 and ras.index[rows[1]].max() == 2
    # the painted disc of each point spans about as many rows as columns (square pixels on the map)
    for k in (1, 2):
        r, c = np.nonzero(ras.index == k)
        assert abs((r.max() - r.min()) - (c.max() - c.min())) <= 2
    assert mercator_lat(mercator_y(np.array([35.0]))) == pytest.approx(35.0)


def test_splitters_and_fibre_layers(saved, plan_html):
    from maps.network import network_parts
    from rollout.plan import load_plan

    plan = load_plan(saved)
    sp = network_parts(plan, saved).splitters
    layers = layers_by_id(plan_html[1])
    spec = layers["splitters"]
    assert spec["kind"] == "points" and len(spec["x"]) == len(sp)
    primary = (sp["kind"] == "primary").to_numpy()
    assert np.array_equal(np.array(spec["cls"]) == 0, primary)
    assert sp["splitter_id"].iloc[0] in spec["titles"] and sp["splitter_id"].iloc[0] not in plan_html[1]
    feeder = layers["links_feeder"]
    assert feeder["label"] == "Feeder tree (OLT \u2192 cabinets)" and feeder["weight"] > layers["links_distribution"]["weight"]
    # the modelled existing network is said on the map too
    assert "existing network is modelled" in page_data(plan_html[1])["subtitle"]
    assert "MODELLED" in layers["stations"]["note"]


def test_map_coverage_is_the_evaluation(saved, plan_html):
    """The district choropleth's population covered and the subtitle come from coverage.evaluation."""
    from rollout.plan import load_plan_summary

    ev = load_plan_summary(saved)["coverage"]["evaluation"]
    d = layers_by_id(plan_html[1])["districts"]
    (metric,) = [m for m in d["metrics"] if m["id"] == "population_covered_share"]
    assert metric["label"] == "population covered (RSRP evaluation, \u2265 \u221295 dBm)"
    assert metric["v"] == [round(x["population_share"], 4) for x in ev["by_district"]]
    assert f"population covered {ev['population_share'] * 100:.1f} % at \u2265 \u221295 dBm" in page_data(
        plan_html[1])["subtitle"]


def test_a_plan_without_network_parts_draws_as_before(tmp_path):
    plan = make_plan(20, 10, seed=8, network=False)
    html = mm.render_map_html(mm.plan_map_data(plan))
    ids = [layer["id"] for layer in page_data(html)["layers"]]
    assert ids == ["districts", "demand", "links_feeder", "links_backhaul", "olt_sites", "stations"]
    assert layer_control(html)[1] == ["Districts", "Demand cells by clutter", "Feeder fibre (cell \u2192 OLT)",
                                      "5G backhaul (station \u2192 OLT/office)", "OLT sites", "5G stations"]
    assert not re.search(r"RolloutMap\.of\(\w+\)\.addRaster\(", html)
    assert "modelled" not in page_data(html)["layers"][-1].get("note", "")


@settings(max_examples=25, deadline=None)
@given(hs.floats(-60.0, 60.0), hs.floats(-170.0, 170.0), hs.integers(6, 10), hs.integers(1, 12), hs.integers(0, 2**31))
def test_every_lattice_point_owns_its_pixel(lat0, lon0, res, rings, seed):
    """Anywhere on Earth, an H3 lattice rasterises with each centre's pixel in that centre's class."""
    import h3

    from maps.raster import TRANSPARENT, lattice_raster, mercator_y

    cells = sorted(h3.grid_disk(h3.latlng_to_cell(lat0, lon0, res), rings))
    ll = np.array([h3.cell_to_latlng(c) for c in cells])
    cls = np.random.default_rng(seed).integers(0, 7, len(cells)).astype(np.uint8)
    area = np.array([h3.cell_area(c, "km^2") for c in cells])
    ras = lattice_raster(ll[:, 1], ll[:, 0], cls, area, min_pixel_m=1.0)
    w, s, e, n = ras.bounds
    h, wd = ras.index.shape
    col = ((ll[:, 1] - w) / (e - w) * wd).astype(int)
    row = ((mercator_y(n) - mercator_y(ll[:, 0])) / (mercator_y(n) - mercator_y(s)) * h).astype(int)
    assert (ras.index[row, col] == cls).all()
    # the painted area is about the lattice's area (hexagons, up to pixel edges), nothing far outside it
    px_km2 = (ras.pixel_m / 1e3) ** 2
    painted = (ras.index != TRANSPARENT).sum() * px_km2
    assert 0.6 * area.sum() < painted < 1.6 * area.sum() + 40 * px_km2


def test_rsrp_layer_without_evaluation_or_areas():
    """An RSRP layer alone (no evaluation, no area column) still draws: areas from the H3 index, the
    threshold from the weakest covered point."""
    plan = make_plan(30, 10, seed=9)
    plan.coverage = {}
    plan.rsrp = plan.rsrp.drop(columns="area_km2")
    spec = {layer["id"]: layer for layer in mm.plan_map_data(plan)["layers"]}["rsrp"]
    thr = float(plan.rsrp.loc[plan.rsrp["covered"], "rsrp_dbm"].min())
    assert f"weakest covered point {thr:,.0f} dBm".replace("-", "\u2212") in spec["note"]
    assert sum(c["n"] for c in spec["classes"]) == len(plan.rsrp) and spec["pixelM"] > 0
