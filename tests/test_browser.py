"""The map and the report in headless Chromium, offline (every http(s) request aborted).

Skipped, with the reason, when /usr/bin/chromium or playwright is missing; under
``CI=true`` they fail instead (see :func:`tests._browser.browser_gate`).
Screenshots go to tests/_artifacts/ (gitignored).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gis.crs import wgs84_to_gcj02
from tests._browser import browser_gate, wait_until

REASON, MUST_RUN = browser_gate()
pytestmark = [pytest.mark.browser, pytest.mark.skipif(REASON is not None and not MUST_RUN, reason=REASON or "")]

ART = Path(__file__).parent / "_artifacts"


@pytest.fixture(scope="module", autouse=True)
def browser_required():
    """On CI a missing browser fails every test here (elsewhere the module is skipped)."""
    if REASON is not None:
        pytest.fail(f"CI is set, so the browser tests must run, but {REASON}")


@pytest.fixture(scope="module")
def gcj():
    return wgs84_to_gcj02


@pytest.fixture(scope="module")
def saved(tmp_path_factory, gcj):
    from maps.map import write_layers_map, write_map
    from maps.report import write_report
    from tests._plan_fixture import make_layers_gpkg, save_plan

    d = save_plan(tmp_path_factory.mktemp("plan"))
    write_map(d)
    write_report(d)
    write_layers_map(make_layers_gpkg(d / "layers.gpkg"), d / "layers_map.html")
    return d


@pytest.fixture(scope="module")
def plan(saved):
    from rollout.plan import load_plan

    return load_plan(saved)


@pytest.fixture(scope="module")
def browser():
    from tests._browser import browser_page

    ART.mkdir(exist_ok=True)
    with browser_page() as (page, log):
        yield page, log


@pytest.fixture
def fresh(browser):
    page, log = browser
    for lst in (log.page_errors, log.console_errors, log.blocked, log.failed, log.dialogs):
        lst.clear()
    return page, log


def assert_offline_clean(page, log):
    from maps.map import TILE_URL_TEMPLATES

    assert log.page_errors == [], log.page_errors
    assert log.dialogs == []
    assert log.non_tile_requests(TILE_URL_TEMPLATES) == []
    # console errors are only the aborted tile loads
    assert len(log.console_errors) <= len(log.blocked), log.console_errors
    assert all("Failed to load resource" in m for m in log.console_errors), log.console_errors
    assert set(log.failed) <= set(log.blocked)
    assert page.evaluate("window.__xss") is None


def canvas_ink(page, frame=None) -> int:
    """Painted pixels on the map's vector canvas (tiles never draw there)."""
    target = frame or page
    return target.evaluate("""() => {
        const c = document.querySelector('.leaflet-overlay-pane canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
        return n; }""")


def test_map_loads_offline_and_draws_every_feature(fresh, saved, plan):
    from tests._browser import open_map

    page, log = fresh
    info = open_map(page, saved / "map.html")
    page.wait_for_timeout(300)
    page.screenshot(path=str(ART / "map.png"))
    c = info["counts"]
    assert c["stations"]["features"] == len(plan.stations)
    assert c["stations"]["weighted"] == int(plan.stations["count"].sum())
    assert c["districts"]["features"] == len(plan.districts)
    assert c["olt_sites"]["features"] == len(plan.olt_sites)
    assert c["demand"]["features"] == len(plan.demand)
    kinds = plan.links["kind"].value_counts()
    assert c["links_feeder"]["features"] == kinds["feeder"]
    assert c["links_distribution"]["features"] == kinds["distribution"]
    carriers = plan.links.loc[plan.links["kind"] == "backhaul", "carrier"].value_counts()
    assert c["links_backhaul_pon"]["features"] == carriers["pon"]
    assert c["links_backhaul_ring"]["features"] == carriers["ring"]
    assert c["links_backhaul_spur"]["features"] == carriers["spur"]
    # every station was painted (the first view fits the whole plan)
    assert page.evaluate("window.rolloutMap.layers.stations.layer.drawn") == len(plan.stations)
    el = page.locator(".folium-map")
    assert el.get_attribute("data-count-stations") == str(int(plan.stations["count"].sum()))
    assert el.get_attribute("data-count-districts") == str(len(plan.districts))
    # the basemap failed (no network), the vector layers are drawn all the same
    assert info["tileErrors"] > 0
    assert page.locator(".rm-tile-note").is_visible()
    assert canvas_ink(page) > 1000
    assert page.locator(".leaflet-control-scale").count() == 1
    assert page.locator(".leaflet-control-zoom-fullscreen").count() == 1   # folium.plugins.Fullscreen
    assert page.locator(".rm-legend").inner_text().count("new macro") == 1
    assert_offline_clean(page, log)


def test_hostile_names_show_as_text(fresh, saved):
    from tests._browser import open_map
    from tests._plan_fixture import HOSTILE, HOSTILE_PLAIN, HOSTILE_SITE, HOSTILE_TITLE, HOSTILE_ZH

    page, log = fresh
    open_map(page, saved / "map.html")
    assert page.locator(".rm-title-main").inner_text() == HOSTILE_TITLE
    district = page.evaluate("""() => {
        const l = window.rolloutMap.layers.districts.layer.getLayers()[0];
        l.fire('click', {latlng: l.getBounds().getCenter()}, true);
        const p = document.querySelector('.leaflet-popup-content');
        return {text: p.textContent, imgs: p.querySelectorAll('img,script').length}; }""")
    assert district["imgs"] == 0
    assert f"{HOSTILE_ZH} {HOSTILE_PLAIN}" in district["text"]
    tip = page.evaluate("""() => {
        const g = window.rolloutMap.layers.districts.layer, l = g.getLayers()[1];
        l.fire('mouseover', {latlng: l.getBounds().getCenter()}, true);
        const t = g.getTooltip().getElement();
        return {text: t.textContent, imgs: t.querySelectorAll('img,script').length}; }""")
    assert HOSTILE in tip["text"] and tip["imgs"] == 0
    # a real click on station 0 (zoomed in): the hit test finds it, its popup shows the hostile id as text
    page.evaluate("""() => { const r = window.rolloutMap, m = r.map;
        m.closePopup(); m.setView(r.layers.stations.layer.latLngOf(0), 15, {animate: false}); }""")
    # the district popup fades out before it leaves the page: wait until it is gone, or it would be read as the
    # station's (seen once on a fresh clone, 2026-12-02)
    page.wait_for_function("() => !document.querySelector('.leaflet-popup')", timeout=5000)
    page.wait_for_timeout(150)
    x, y = page.evaluate("""() => { const r = window.rolloutMap;
        const p = r.map.latLngToContainerPoint(r.layers.stations.layer.latLngOf(0)); return [p.x, p.y]; }""")
    box = page.locator(".folium-map").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_selector(".leaflet-popup-content", timeout=5000)   # not a fixed wait: slow under load
    station = page.evaluate("""() => {
        const all = document.querySelectorAll('.leaflet-popup-content');  // the last one is new
        const p = all[all.length - 1];
        return {text: p.textContent, imgs: p.querySelectorAll('img,b,script').length}; }""")
    assert station["text"].startswith(HOSTILE_SITE) and station["imgs"] == 0
    assert "type" in station["text"] and "capex" in station["text"] and "utilisation" in station["text"]
    page.screenshot(path=str(ART / "map_hostile_popup.png"))
    assert_offline_clean(page, log)
    # defence in depth: the page's CSP refuses inline handlers even if markup got in
    page.evaluate("""() => document.body.insertAdjacentHTML('beforeend',
                      '<img src="data:image/png;base64,AAAA" onerror="window.__csp_broken = 1">')""")
    page.wait_for_timeout(300)
    assert page.evaluate("window.__csp_broken") is None
    assert any("Content Security Policy" in m for m in log.console_errors), log.console_errors


def test_controls_choropleth_layers_and_gaode_shift(fresh, saved, plan, gcj):
    from tests._browser import open_map

    page, log = fresh
    open_map(page, saved / "map.html")
    page.get_by_label("population covered").check()
    assert "population covered" in page.locator(".rm-legend").inner_text()
    page.get_by_label("Demand cells by clutter").check()
    assert page.evaluate("window.rolloutMap.map.hasLayer(window.rolloutMap.layers.demand.layer)")
    assert "dense urban" in page.locator(".rm-legend").inner_text()
    assert "MODELLED" in page.locator(".rm-legend").inner_text()
    page.locator(".rm-options select").select_option("alt")
    assert "new in 2027" in page.locator(".rm-legend").inner_text()
    page.screenshot(path=str(ART / "map_controls.png"))

    # Gaode tiles are GCJ-02: every overlay moves with them
    before = page.evaluate("""() => [0, 1, 2, 3, 4].map(i => { const p = window.rolloutMap.layers.stations.layer.latLngOf(i);
                                             return [i, p.lng, p.lat]; })""")
    geo = """() => { const r = window.rolloutMap, o = r.layers.olt_sites.layer.getLayers()[0].getLatLng(),
                           d = r.layers.districts.layer.getLayers()[0].getLatLngs()[0][0];
                     return [o.lng, o.lat, d.lng, d.lat]; }"""
    geo_before = page.evaluate(geo)
    page.get_by_label("Gaode / AMap (GCJ-02)").check()
    assert page.evaluate("window.rolloutMap.gcj") is True
    after = page.evaluate("""() => [0, 1, 2, 3, 4].map(i => { const p = window.rolloutMap.layers.stations.layer.latLngOf(i);
                                             return [i, p.lng, p.lat]; })""")
    idx = [a[0] for a in after]
    lon0 = np.array([b[1] for b in before])
    lat0 = np.array([b[2] for b in before])
    glon, glat = gcj(lon0, lat0)
    lon1 = np.array([a[1] for a in after])
    lat1 = np.array([a[2] for a in after])
    assert idx == [b[0] for b in before]
    err_m = np.hypot((lon1 - glon) * 90_000, (lat1 - glat) * 111_000)
    assert err_m.max() < 1.0, err_m
    # the folium GeoJson layers (OLT circles, district polygons) are rebuilt shifted too
    geo_after = page.evaluate(geo)
    for k in (0, 2):
        glon, glat = gcj(np.array([geo_before[k]]), np.array([geo_before[k + 1]]))
        err_m = np.hypot((geo_after[k] - glon[0]) * 90_000, (geo_after[k + 1] - glat[0]) * 111_000)
        assert err_m < 1.0, (k, err_m)
    assert page.evaluate("window.rolloutMap.counts.olt_sites.features") == len(plan.olt_sites)
    assert page.evaluate("window.rolloutMap.counts.stations.weighted") == int(plan.stations["count"].sum())
    assert page.evaluate("window.rolloutMap.map.hasLayer(window.rolloutMap.layers.demand.layer)")
    page.get_by_label("No basemap").check()
    assert page.evaluate("window.rolloutMap.gcj") is False
    back = page.evaluate("""() => [0, 1, 2, 3, 4].map(i => { const p = window.rolloutMap.layers.stations.layer.latLngOf(i);
                                             return [i, p.lng, p.lat]; })""")
    assert np.allclose([b[1:] for b in back], [b[1:] for b in before], atol=1e-9)
    assert_offline_clean(page, log)


def test_folium_layer_control_drives_the_layers(fresh, saved, plan):
    """The page is a folium map: its LayerControl lists every layer and switches the canvas stations too."""
    from tests._browser import open_map

    page, log = fresh
    open_map(page, saved / "map.html")
    names = page.evaluate("""() => Object.keys(window).filter(k => /^map_[0-9a-f]+$/.test(k))""")
    assert len(names) == 1 and page.evaluate(f"window.{names[0]} === window.rolloutMap.map")
    labels = page.locator(".leaflet-control-layers").inner_text()
    for name in ("CartoDB Positron", "OpenStreetMap", "Gaode / AMap (GCJ-02)", "No basemap", "Districts",
                 "Demand cells by clutter", "Feeder tree", "Distribution fibre", "5G backhaul on PON",
                 "5G backhaul on transport ring", "Best-server RSRP", "Splitter cabinets", "OLT sites", "5G stations"):
        assert name in labels, name
    assert page.get_by_label("5G stations", exact=True).is_checked()
    assert not page.get_by_label("Feeder tree (OLT \u2192 cabinets)").is_checked()
    # OLT circles (folium GeoJson + CircleMarker) are sized by PON ports and shrink when zoomed out, like the points
    radius = """() => { const r = window.rolloutMap, o = r.layers.olt_sites, l = o.layer.getLayers()[0];
                        return [l.getRadius(), o.spec.radius[l.feature.properties.i], l._pxBounds.getSize().x]; }"""
    small = page.evaluate(radius)
    assert small[0] < small[1]
    zoom = page.evaluate("window.rolloutMap.map.getZoom()")
    page.evaluate("() => window.rolloutMap.map.setZoom(13, {animate: false})")
    big = page.evaluate(radius)
    assert big[0] == big[1] and big[2] > small[2]
    page.evaluate(f"() => window.rolloutMap.map.setZoom({zoom}, {{animate: false}})")
    page.get_by_label("5G stations", exact=True).uncheck()
    assert page.evaluate("window.rolloutMap.map.hasLayer(window.rolloutMap.layers.stations.layer)") is False
    assert page.locator("canvas.rm-points").count() == 0
    assert "new macro" not in page.locator(".rm-legend").inner_text()
    page.get_by_label("Feeder tree (OLT \u2192 cabinets)").check()
    page.get_by_label("5G backhaul on PON (station \u2192 OLT)").check()
    page.wait_for_timeout(200)
    page.screenshot(path=str(ART / "map_links.png"))
    page.get_by_label("5G stations", exact=True).check()
    assert page.locator("canvas.rm-points").count() == 1
    assert page.evaluate("window.rolloutMap.layers.stations.layer.drawn") == len(plan.stations)
    assert page.locator(".folium-map").get_attribute("data-count-links-feeder") == str(
        int((plan.links["kind"] == "feeder").sum()))
    assert_offline_clean(page, log)


def test_gaode_as_first_basemap(fresh, saved, plan, gcj, tmp_path):
    from maps.map import write_map
    from tests._browser import open_map

    page, log = fresh
    out = write_map(saved, tmp_path / "gaode.html", basemap="gaode")
    open_map(page, out)
    assert page.evaluate("window.rolloutMap.gcj") is True
    got = page.evaluate("""() => { const r = window.rolloutMap, s = r.layers.stations.layer.latLngOf(0),
                                         o = r.layers.olt_sites.layer.getLayers()[0].getLatLng();
                                   return [s.lng, s.lat, o.lng, o.lat]; }""")
    want_lon, want_lat = gcj(np.array([plan.stations.geometry.x.iloc[0], plan.olt_sites.geometry.x.iloc[0]]),
                             np.array([plan.stations.geometry.y.iloc[0], plan.olt_sites.geometry.y.iloc[0]]))
    err_m = np.hypot((np.array(got[0::2]) - want_lon) * 90_000, (np.array(got[1::2]) - want_lat) * 111_000)
    assert err_m.max() < 2.0, err_m
    assert page.evaluate("window.rolloutMap.counts.districts.features") == len(plan.districts)
    page.get_by_label("Demand cells by clutter").check()   # hidden at first: built shifted when shown
    assert page.evaluate("window.rolloutMap.layers.demand.builtGcj") is True
    assert_offline_clean(page, log)


def test_report_offline_and_printable(fresh, saved):
    from tests._plan_fixture import HOSTILE_PLAIN, HOSTILE_TITLE

    page, log = fresh
    page.goto((saved / "report.html").resolve().as_uri(), wait_until="load")
    assert page.evaluate("document.scripts.length") == 0
    assert page.locator("h1").inner_text() == HOSTILE_TITLE
    assert HOSTILE_PLAIN in page.locator("#districts").inner_text()
    assert page.locator("#districts img").count() == 0
    assert page.locator("svg.chart").count() == 4
    assert page.locator("#modelled-demand").is_visible()
    assert page.locator("#modelled-existing").is_visible()
    for table in ("link-budget", "coverage-by-district", "optical-budget", "boq"):
        assert page.locator(f"table.{table} tr").count() > 1, table
    assert page.locator("#rsrp-chart svg rect").count() == 8
    # the framed map loads too (offline)
    page.locator("iframe").scroll_into_view_if_needed()
    frame = next(f for f in page.frames if f.url.endswith("/map.html"))
    wait_until(frame, "() => !!(window.rolloutMap && window.rolloutMap.ready && window.rolloutMap.allBuilt)")
    assert frame.evaluate("window.rolloutMap.counts.districts.features") == 5
    page.wait_for_timeout(300)
    page.screenshot(path=str(ART / "report.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.emulate_media(media="print")
    assert not page.locator("iframe").is_visible()
    page.emulate_media(media="screen")
    assert_offline_clean(page, log)


def test_histogram_axis_labels_do_not_overlap_as_drawn(fresh, saved):
    """The RSRP chart of the Qingdao default (15 bins of 5 dB) drawn with the report's own CSS: the rendered
    boxes of the x-axis labels are apart, and the count ticks stay inside the chart, clear of the y-axis title."""
    import re

    from maps.network_report import rsrp_chart
    from tests.test_report import rsrp_bins

    page, log = fresh
    css = re.search(r"<style>.*?</style>", (saved / "report.html").read_text(encoding="utf-8"), re.S).group(0)
    hist = rsrp_bins(-130, 5, 15)
    for h in hist:
        h["population"] *= 1000.0                     # counts in the millions, as in Qingdao
    page.set_content(f"<!doctype html><html><head>{css}</head><body>{rsrp_chart(hist, -110.0)['svg']}</body></html>")
    boxes = page.evaluate("""() => { const s = document.querySelector('svg.chart').getBoundingClientRect();
        return Array.from(document.querySelectorAll('svg.chart text')).map(t => {
          const b = t.getBoundingClientRect();   // on screen, after the y title's rotation
          return {cls: t.getAttribute('class'), anchor: t.getAttribute('text-anchor'),
                  rot: t.hasAttribute('transform'), x0: b.left - s.left, x1: b.right - s.left}; }); }""")
    axis = [b for b in boxes if b["cls"] == "ax" and b["anchor"] == "middle"]
    assert len(axis) >= 5
    for a, b in zip(axis, axis[1:], strict=False):
        assert b["x0"] - a["x1"] >= 2, (a, b)
    ylabel = next(b for b in boxes if b["rot"])
    ticks = [b for b in boxes if b["anchor"] == "end"]
    assert ticks and all(t["x0"] >= ylabel["x1"] + 2 for t in ticks), (ylabel, ticks)
    assert_offline_clean(page, log)


def test_layers_map_offline(fresh, saved):
    import geopandas as gpd

    from tests._browser import open_map

    page, log = fresh
    info = open_map(page, saved / "layers_map.html")
    page.screenshot(path=str(ART / "layers_map.png"))
    gpkg = saved / "layers.gpkg"
    for name in ("districts", "demand", "candidates", "offices", "hotspots"):
        assert info["counts"][name]["features"] == len(gpd.read_file(gpkg, layer=name)), name
    assert canvas_ink(page) > 1000
    assert_offline_clean(page, log)


def test_compare_and_sweep_reports_open_without_errors(fresh, tmp_path):
    """The comparison report of `rollout compare` / `rollout sweep` opens offline without JS errors."""
    from maps.compare import write_comparison
    from tests._plan_fixture import save_plan

    page, log = fresh
    a, b = save_plan(tmp_path / "a", seed=1), save_plan(tmp_path / "b", n_stations=80, seed=2)
    path = write_comparison([a, b], tmp_path / "cmp", param="pon.split_ratio", values=[32, 64])
    page.goto(path.resolve().as_uri(), wait_until="load")
    assert page.locator("svg.chart").count() >= 3 and page.locator("polyline").count() >= 1
    assert page.evaluate("window.__xss === undefined")
    page.screenshot(path=str(ART / "compare.png"), full_page=True)
    assert_offline_clean(page, log)


def test_rsrp_raster_cabinets_and_feeder_tree_offline(fresh, saved, plan, gcj):
    """The new layers switch on from the layer control; the RSRP image is decoded and every sampled
    lattice point shows its class colour where the map puts it (the image is Mercator-aligned)."""
    from maps.map import rsrp_class_of, rsrp_classes
    from maps.network import network_parts
    from tests._browser import open_map

    page, log = fresh
    open_map(page, saved / "map.html")
    parts = network_parts(plan, saved)
    page.get_by_label("Best-server RSRP").check()
    page.get_by_label("Splitter cabinets").check()
    page.get_by_label("Feeder tree (OLT \u2192 cabinets)").check()
    page.get_by_label("Distribution fibre (cabinet \u2192 cell)").check()
    r = page.evaluate("""() => { const o = window.rolloutMap.layers.rsrp, img = o.layer.getElement();
        return {on: window.rolloutMap.map.hasLayer(o.layer), complete: img.complete, w: img.naturalWidth,
                h: img.naturalHeight, pane: img.parentNode.className, z: getComputedStyle(img.parentNode).zIndex}; }""")
    assert r["on"] and r["complete"] and r["w"] > 10 and r["h"] > 10
    assert "rmRaster" in r["pane"] and int(r["z"]) < 400   # below the vector overlays
    legend = page.locator(".rm-legend").inner_text()
    assert "Best-server RSRP" in legend and "(threshold)" in legend and "Splitter cabinets" in legend
    # the district choropleth turns to outlines while the image is shown (and comes back after)
    assert "Districts: 5G stations per km" not in legend and page.get_by_label("outline only").is_checked()
    assert page.evaluate("window.rolloutMap.layers.splitters.layer.drawn") == len(parts.splitters)
    assert page.evaluate("window.rolloutMap.counts.rsrp.features") == len(parts.rsrp)
    page.wait_for_timeout(200)
    page.screenshot(path=str(ART / "map_rsrp.png"))

    sample = parts.rsrp.iloc[::97]
    lonlat = [[float(p.x), float(p.y)] for p in sample.geometry]
    want = rsrp_class_of(sample["rsrp_dbm"], parts.evaluation["threshold_dbm"])
    colours = [c["color"] for c in rsrp_classes(parts.evaluation["threshold_dbm"])]
    got = page.evaluate("""(pts) => { const r = window.rolloutMap, m = r.map, o = r.layers.rsrp;
        const img = o.layer.getElement(), b = o.layer.getBounds();
        const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
        const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
        const nw = m.latLngToLayerPoint(b.getNorthWest()), se = m.latLngToLayerPoint(b.getSouthEast());
        return pts.map(([lon, lat]) => {
          const p = m.latLngToLayerPoint([lat, lon]);
          const x = Math.floor((p.x - nw.x) / (se.x - nw.x) * c.width), y = Math.floor((p.y - nw.y) / (se.y - nw.y) * c.height);
          const d = ctx.getImageData(x, y, 1, 1).data;
          return '#' + [d[0], d[1], d[2]].map(v => v.toString(16).padStart(2, '0')).join(''); }); }""", lonlat)
    assert got == [colours[k] for k in want]

    # over Gaode tiles the image moves with the GCJ-02 shift, like every other overlay
    before = page.evaluate("() => window.rolloutMap.layers.rsrp.layer.getBounds().getSouthWest()")
    page.get_by_label("Gaode / AMap (GCJ-02)").check()
    after = page.evaluate("() => window.rolloutMap.layers.rsrp.layer.getBounds().getSouthWest()")
    glon, glat = gcj(np.array([before["lng"]]), np.array([before["lat"]]))
    assert abs(after["lng"] - glon[0]) * 90_000 < 1.0 and abs(after["lat"] - glat[0]) * 111_000 < 1.0
    page.get_by_label("Best-server RSRP").uncheck()
    assert "Best-server RSRP" not in page.locator(".rm-legend").inner_text()
    assert "Districts: 5G stations per km" in page.locator(".rm-legend").inner_text()
    assert page.get_by_label("5G stations per km\u00b2").is_checked()
    assert_offline_clean(page, log)


def test_the_legend_never_overlaps_the_top_right_controls(fresh, saved):
    """With every layer on, the legend (bottom right) scrolls within the room the layer list and the colouring
    options (top right) leave it, on a short window and after a resize."""
    from tests._browser import open_map

    page, log = fresh
    page.set_viewport_size({"width": 1280, "height": 720})
    try:
        open_map(page, saved / "map.html")
        page.evaluate("""() => { const r = window.rolloutMap;
            Object.values(r.layers).forEach(o => { if (!r.map.hasLayer(o.layer)) r.map.addLayer(o.layer); }); }""")

        def gap_px():
            return page.evaluate("""() => {
                const top = document.querySelector('.leaflet-top.leaflet-right').getBoundingClientRect();
                const leg = document.querySelector('.rm-legend').getBoundingClientRect();
                return leg.top - top.bottom; }""")

        assert gap_px() >= 0
        assert page.evaluate("() => { const l = document.querySelector('.rm-legend'); "
                             "return l.scrollHeight > l.clientHeight; }")   # this plan's legend needs the scroll
        page.set_viewport_size({"width": 1280, "height": 760})
        page.wait_for_timeout(300)
        assert gap_px() >= 0
        assert_offline_clean(page, log)
    finally:
        page.set_viewport_size({"width": 1400, "height": 900})
