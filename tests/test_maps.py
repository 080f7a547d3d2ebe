"""maps.map: the offline map page of a saved plan and of the input layers."""
from __future__ import annotations

import importlib
import json
import re
import sys
import types
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import maps.map as mm
from gis.errors import InputError
from tests._plan_fixture import (HOSTILE, HOSTILE_OFFICE, HOSTILE_PLAIN, HOSTILE_SITE, HOSTILE_TITLE, HOSTILE_ZH,
                                 make_layers_gpkg, make_plan, reference_wgs84_to_gcj02, save_plan)


# ---------------------------------------------------------------------- helpers
def gcj_available() -> bool:
    try:
        importlib.import_module("gis.crs").wgs84_to_gcj02  # noqa: B018
        return True
    except (ImportError, AttributeError):
        return False


@pytest.fixture
def gcj(monkeypatch):
    """gis.crs.wgs84_to_gcj02: the colleague's, or the public reference formula until it lands."""
    if gcj_available():
        from gis.crs import wgs84_to_gcj02

        return wgs84_to_gcj02
    mod = types.ModuleType("gis.crs")
    mod.wgs84_to_gcj02 = reference_wgs84_to_gcj02
    monkeypatch.setitem(sys.modules, "gis.crs", mod)
    return reference_wgs84_to_gcj02


def page_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="rollout-data">(.*?)</script>', html, re.S)
    assert m, "data block missing"
    return json.loads(m.group(1))


class Resources(HTMLParser):
    """Every URL the page would load: script src, link href, img/iframe src, CSS url()."""

    def __init__(self):
        super().__init__()
        self.urls, self.scripts, self._in_style = [], [], False

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
        self._in_style = tag == "style"

    def handle_data(self, data):
        if self._in_style:
            self.urls += re.findall(r"url\(\s*['\"]?([^'\")]+)", data)
            self.urls += re.findall(r"@import\s+['\"]([^'\"]+)", data)

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False


def decode_ring(flat, scale=mm.SCALE):
    a = np.cumsum(np.asarray(flat, dtype=np.int64).reshape(-1, 2), axis=0)
    return a / scale


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("plan")
    return save_plan(d)


@pytest.fixture(scope="module")
def plan_html(saved):
    out = mm.write_map(saved)
    return out, out.read_text(encoding="utf-8")


# ---------------------------------------------------------------------- counts
def test_map_holds_every_feature_of_the_plan(saved, plan_html):
    from rollout.plan import load_plan

    out, html = plan_html
    assert out == saved / "map.html"
    plan = load_plan(saved)
    data = page_data(html)
    layers = {layer["id"]: layer for layer in data["layers"]}
    st = layers["stations"]
    assert len(st["x"]) == len(st["y"]) == len(st["cls"]) == len(plan.stations)
    assert sum(st["w"]) == int(plan.stations["count"].sum())
    assert len(layers["districts"]["polys"]) == len(plan.districts) == 5
    assert len(layers["olt_sites"]["x"]) == len(plan.olt_sites)
    assert len(layers["demand"]["polys"]) == len(plan.demand)
    kinds = plan.links["kind"].value_counts()
    assert len(layers["links_feeder"]["lines"]) == kinds["feeder"]
    assert len(layers["links_backhaul"]["lines"]) == kinds["backhaul"]
    # every popup column has one value per feature
    for layer in data["layers"]:
        n = len(layer.get("x") or layer.get("polys") or layer.get("lines"))
        for f in layer.get("popup", []):
            assert len(f["v"]) == n, (layer["id"], f["label"])
        for m in layer.get("metrics", []):
            assert len(m["v"]) == n
    # station classes agree with the plan's type/new columns
    new_macro = int(((plan.stations["type"] == "macro") & plan.stations["new"]).sum())
    assert st["cls"].count(0) == new_macro
    # overlays the brief wants off by default
    assert not layers["demand"]["on"] and not layers["links_feeder"]["on"] and not layers["links_backhaul"]["on"]
    assert layers["stations"]["on"] and layers["districts"]["on"]


def test_choropleth_metrics(saved, plan_html):
    from rollout.plan import load_plan

    plan = load_plan(saved)
    d = {layer["id"]: layer for layer in page_data(plan_html[1])["layers"]}["districts"]
    metrics = {m["id"]: m["v"] for m in d["metrics"]}
    assert set(metrics) == {"stations_per_km2", "ports_per_1000_households", "population_covered_share"}
    i = 0
    row = plan.districts.iloc[i]
    assert metrics["stations_per_km2"][i] == pytest.approx(row["stations_5g"] / row["area_km2"], abs=1e-3)
    assert metrics["ports_per_1000_households"][i] == pytest.approx(row["pon_ports"] / row["households"] * 1000,
                                                                      abs=1e-2)
    # district 2 has no official area: measured instead, never NaN
    assert metrics["stations_per_km2"][2] is not None and metrics["stations_per_km2"][2] > 0


def test_coordinates_round_trip_to_a_metre(saved, plan_html):
    from rollout.plan import load_plan

    plan = load_plan(saved)
    layers = {layer["id"]: layer for layer in page_data(plan_html[1])["layers"]}
    st = layers["stations"]
    x = np.array(st["x"]) / mm.SCALE
    assert np.abs(x - plan.stations.geometry.x.to_numpy()).max() <= 0.6 / mm.SCALE
    # the island of district 3 and the hole of district 4 survive
    polys = layers["districts"]["polys"]
    assert len(polys[3]) == 2 and len(polys[4][0]) == 2
    ring = decode_ring(polys[4][0][0])
    g = plan.districts.geometry.iloc[4]
    g = g.geoms[0] if g.geom_type == "MultiPolygon" else g  # GeoPackage may promote to multi
    ext = np.asarray(g.exterior.coords)[:-1]
    assert len(ring) == len(ext) and np.abs(ring - ext).max() < 1e-5
    hexagon = decode_ring(layers["demand"]["polys"][0][0][0])
    assert len(hexagon) == 6


def test_no_cdn_and_only_tile_urls(plan_html):
    html = plan_html[1]
    res = Resources()
    res.feed(html)
    assert not [u for u in res.urls if not u.startswith(("data:", "#"))], res.urls
    assert all(not s.get("src") for s in res.scripts)
    for cdn in ("cdn.jsdelivr", "cdnjs", "unpkg", "code.jquery", "bootstrapcdn", "googleapis"):
        assert cdn not in html
    data = page_data(html)
    for b in data["basemaps"]:
        assert b["url"] is None or b["url"] in mm.TILE_URL_TEMPLATES
    # every http(s) URL in the data is a tile template or an attribution link
    urls = set(re.findall(r"https?://[^\s\"'<>)\\]+", json.dumps(data)))
    allowed_hosts = ("basemaps.cartocdn.com", "tile.openstreetmap.org", "is.autonavi.com",
                     "www.openstreetmap.org/copyright", "carto.com/attributions")
    assert all(any(h in u for h in allowed_hosts) for u in urls), urls
    csp = unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1))
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]


def test_hostile_names_are_data_never_markup(saved, plan_html):
    html = plan_html[1]
    for bad in (HOSTILE, HOSTILE_PLAIN, HOSTILE_SITE, "<script>window.__xss", "</script><script>"):
        assert bad not in html
    # three script elements only: Leaflet, the data block, the renderer
    assert html.count("<script") == 3
    assert "&lt;script&gt;window.__xss=3&lt;/script&gt;" in html.split("</title>")[0]
    data = page_data(html)
    assert data["title"] == HOSTILE_TITLE
    layers = {layer["id"]: layer for layer in data["layers"]}
    titles = layers["districts"]["titles"]
    assert titles[0] == f"{HOSTILE_ZH} {HOSTILE_PLAIN}"
    assert HOSTILE_SITE in layers["stations"]["titles"]
    assert HOSTILE_OFFICE in layers["olt_sites"]["titles"]
    js = (Path(mm.ASSETS) / "rollout-map.js").read_text()
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "eval(" not in js


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
    data = page_data(mm.write_map(saved, tmp_path / "m.html").read_text(encoding="utf-8"))
    assert data["gcjGrid"] is not None
    assert [b["id"] for b in data["basemaps"]] == ["positron", "osm", "gaode", "none"]


def test_without_gis_crs_the_gaode_basemap_is_left_out(monkeypatch, saved, tmp_path):
    monkeypatch.setitem(sys.modules, "gis.crs", None)  # import fails
    data = page_data(mm.write_map(saved, tmp_path / "m.html", basemap="gaode").read_text(encoding="utf-8"))
    assert data["gcjGrid"] is None
    assert "gaode" not in [b["id"] for b in data["basemaps"]]
    assert data["basemap"] == "positron"


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

    plan = make_plan(10, 5, seed=3, years=False)
    empty = plan.links.iloc[0:0]
    plan.links = empty
    plan.olt_sites = plan.olt_sites.iloc[0:0]
    plan.demand = gpd.GeoDataFrame(plan.demand.iloc[0:0])
    d = plan.save(tmp_path / "p")
    data = page_data(mm.write_map(d).read_text(encoding="utf-8"))
    ids = [layer["id"] for layer in data["layers"]]
    assert ids == ["districts", "stations"]
    st = data["layers"][1]
    assert "alt" not in st  # no build years -> no build-year colouring


def test_build_year_colouring(plan_html):
    st = {layer["id"]: layer for layer in page_data(plan_html[1])["layers"]}["stations"]
    labels = [c["label"] for c in st["alt"]["classes"]]
    assert labels[1:4] == ["new in 2026", "new in 2027", "new in 2028"]
    assert len(st["alt"]["cls"]) == len(st["x"])


def test_size_budget_at_city_scale(gcj):
    """35,000 stations + 15,000 demand hexes stay well under 15 MB."""
    plan = make_plan(35_000, 15_000, seed=7)
    html = mm.render_map_html(mm.plan_map_data(plan))
    mb = len(html.encode("utf-8")) / 1e6
    assert mb <= 15.0, mb
    data = page_data(html)
    layers = {layer["id"]: layer for layer in data["layers"]}
    assert len(layers["stations"]["x"]) == 35_000 and len(layers["demand"]["polys"]) == 15_000


def test_layers_map(tmp_path):
    import geopandas as gpd

    gpkg = make_layers_gpkg(tmp_path / "layers.gpkg")
    (tmp_path / "layers.json").write_text(json.dumps({"demand_source": "modelled (census)"}), encoding="utf-8")
    out = mm.write_layers_map(gpkg, tmp_path / "layers_map.html")
    html = out.read_text(encoding="utf-8")
    data = page_data(html)
    layers = {layer["id"]: layer for layer in data["layers"]}
    for name, key in (("districts", "polys"), ("demand", "polys"), ("candidates", "x"), ("offices", "x"),
                      ("hotspots", "polys")):
        assert len(layers[name][key]) == len(gpd.read_file(gpkg, layer=name)), name
    assert "modelled" in layers["demand"]["note"].lower()
    assert HOSTILE not in html and HOSTILE in layers["hotspots"]["titles"]
    res = Resources()
    res.feed(html)
    assert not [u for u in res.urls if not u.startswith(("data:", "#"))]
    with pytest.raises(InputError, match="not found"):
        mm.write_layers_map(tmp_path / "none.gpkg", tmp_path / "x.html")


# ---------------------------------------------------------------------- encoding properties
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as hs  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(hs.lists(hs.tuples(hs.floats(119.0, 121.0), hs.floats(35.0, 37.5)), min_size=3, max_size=30),
       hs.integers(1, 4))
def test_polygon_and_line_encoding_round_trip(points, parts):
    """Delta-encoded rings and lines decode to the input, rounded to 1e-5 degree."""
    import shapely
    from shapely.geometry import LineString, MultiPolygon

    hull = shapely.MultiPoint(points).convex_hull
    if hull.geom_type != "Polygon" or hull.area < 1e-6:
        return
    polys = [shapely.affinity.translate(hull, xoff=2.5 * k) for k in range(parts)]
    geom = polys[0] if parts == 1 else MultiPolygon(polys)
    (enc,) = mm._encode_polygons(np.array([geom], dtype=object))
    assert len(enc) == parts
    for poly, rings in zip(polys, enc):
        got = decode_ring(rings[0])
        want = np.round(np.asarray(poly.exterior.coords)[:-1] * mm.SCALE) / mm.SCALE
        keep = np.r_[True, np.any(np.diff(want, axis=0) != 0, axis=1)]
        assert np.allclose(got, want[keep], atol=1e-9)
    line = LineString(points)
    (lenc,) = mm._encode_lines(np.array([line], dtype=object))
    assert np.allclose(decode_ring(lenc[0]), np.round(np.asarray(points) * mm.SCALE) / mm.SCALE, atol=1e-9)
