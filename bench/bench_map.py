"""Benchmark: map.html (a folium map) size and time until interactive in headless Chromium.

Run from the repository root::

    python -m bench.bench_map                # synthetic plan: 35,000 stations, 15,000 demand hexes, an RSRP
                                             # lattice of ~270,000 points, splitters and the feeder tree
    python -m bench.bench_map out/           # a saved plan folder (plan.json + plan.gpkg)

The map and report are written to a temporary folder (a saved plan's own
map.html is left alone). Chromium is Debian's /usr/bin/chromium, offline: every
http(s) request is aborted, so the figures are those of a planner without
network (tiles fail, the plan layers draw). Prints one JSON object.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

N_STATIONS = 35_000
N_CELLS = 15_000
RSRP_RES = 10   # H3 resolution of the synthetic RSRP lattice (one finer in the densest district): ~270,000 points


def run(plan_dir: str | Path | None = None) -> dict:
    """Write map.html and report.html for ``plan_dir`` (or a synthetic city-scale plan) and time them."""
    from maps.map import write_map
    from maps.report import write_report
    from rollout.plan import load_plan_summary

    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-map-") as tmp:
        tmp = Path(tmp)
        if plan_dir is None:
            from tests._plan_fixture import save_plan

            t = time.perf_counter()
            plan_dir = save_plan(tmp / "plan", n_stations=N_STATIONS, n_cells=N_CELLS, seed=11, rsrp_res=RSRP_RES)
            result["plan"] = f"synthetic: {N_STATIONS:,} stations, {N_CELLS:,} demand hexes"
            result["synthetic_plan_s"] = round(time.perf_counter() - t, 2)
        else:
            plan_dir = Path(plan_dir)
            load_plan_summary(plan_dir)  # a clear error for a folder without a plan
            result["plan"] = str(plan_dir)
        out = tmp / "out"
        out.mkdir()
        t = time.perf_counter()
        map_html = write_map(plan_dir, out / "map.html")
        result["write_map_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        report_html = write_report(plan_dir, out / "report.html")
        result["write_report_s"] = round(time.perf_counter() - t, 2)
        result["map_mb"] = round(map_html.stat().st_size / 1e6, 2)
        result.update(_network_figures(plan_dir, map_html))
        result["report_mb"] = round(report_html.stat().st_size / 1e6, 3)
        result.update(_browser_figures(map_html))
    return result


def _network_figures(plan_dir: Path, map_html: Path) -> dict:
    """Sizes of the optional radio/ODN parts in the plan and in the page (MB of JSON per layer)."""
    import re

    from maps.network import network_parts
    from rollout.plan import load_plan

    parts = network_parts(load_plan(plan_dir), plan_dir)
    out = {"rsrp_points": 0 if parts.rsrp is None else len(parts.rsrp),
           "splitters": 0 if parts.splitters is None else len(parts.splitters)}
    html = map_html.read_text(encoding="utf-8")
    blocks = re.findall(r'<script type="application/json" class="rollout-data" data-kind="\w+" id="\w+">(.*?)</script>',
                        html, re.S)
    sizes, hidden_geometry = {}, 0
    for body in blocks:
        m = re.match(r'\{"id":"(\w+)"', body)
        if m:
            sizes[m.group(1)] = round(len(body.encode("utf-8")) / 1e6, 3)
        elif body.startswith('{"type":"FeatureCollection"'):
            hidden_geometry += len(body.encode("utf-8"))
    out["layer_json_mb"] = sizes   # layer specs (points: coordinates and popups; rsrp: the PNG)
    out["hidden_layers_geometry_mb"] = round(hidden_geometry / 1e6, 3)
    return out


def _browser_figures(map_html: Path) -> dict:
    from tests._browser import browser_page, chromium_missing_reason, wait_until

    reason = chromium_missing_reason()
    if reason:
        return {"browser": f"skipped: {reason}"}
    out: dict = {}
    with browser_page() as (page, log):
        t = time.perf_counter()
        page.goto(map_html.resolve().as_uri(), wait_until="load", timeout=180_000)
        wait_until(page, "() => !!(window.rolloutMap && window.rolloutMap.ready)", timeout_s=180)
        out["interactive_wall_s"] = round(time.perf_counter() - t, 2)
        wait_until(page, "() => !!window.rolloutMap.allBuilt", timeout_s=180)
        out["all_layers_built_wall_s"] = round(time.perf_counter() - t, 2)
        figs = page.evaluate("""() => ({ready: window.rolloutMap.readyMs, counts: window.rolloutMap.counts,
                                        nav: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd})""")
        out["interactive_ms"] = round(figs["ready"])  # performance.now() when the station layer is drawn
        out["dom_content_loaded_ms"] = round(figs["nav"])
        out["stations_drawn"] = figs["counts"]["stations"]["weighted"]
        out["station_markers"] = figs["counts"]["stations"]["features"]
        zoom = """(dz) => new Promise(done => {
            const m = window.rolloutMap.map, t0 = performance.now();
            m.once('moveend', () => requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t0))));
            m.setZoom(m.getZoom() + dz, {animate: false}); })"""
        pan = """(d) => new Promise(done => {
            const m = window.rolloutMap.map, t0 = performance.now();
            m.once('moveend', () => requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t0))));
            m.panBy([d, d / 2], {animate: false}); })"""
        zooms = [page.evaluate(zoom, dz) for dz in (1, -1, 1, -1, 1, -1)]
        pans = [page.evaluate(pan, d) for d in (300, -300, 300, -300)]
        out["zoom_redraw_ms_median"] = round(statistics.median(zooms))
        out["zoom_redraw_ms_max"] = round(max(zooms))
        out["pan_redraw_ms_median"] = round(statistics.median(pans))
        out["station_draw_ms"] = round(page.evaluate("window.rolloutMap.layers.stations.layer.drawMs"))
        if page.evaluate("!!window.rolloutMap.shift"):
            out["gaode_switch_ms"] = round(page.evaluate("""() => { const t0 = performance.now();
                window.rolloutMap.setBasemap('gaode'); return performance.now() - t0; }"""))
        if page.evaluate("!!window.rolloutMap.layers.rsrp"):   # the RSRP image: decode and first draw
            out["rsrp_switch_on_ms"] = round(page.evaluate("""() => new Promise(done => {
                const r = window.rolloutMap, o = r.layers.rsrp, t0 = performance.now();
                o.layer.once('load', () => requestAnimationFrame(() => done(performance.now() - t0)));
                r.map.addLayer(o.layer); })"""))
        # the same with every overlay switched on (demand cells, feeder and backhaul links are off at first)
        page.evaluate("""() => { const r = window.rolloutMap;
            Object.values(r.layers).forEach(o => { if (!r.map.hasLayer(o.layer)) r.map.addLayer(o.layer); }); }""")
        zooms_all = [page.evaluate(zoom, dz) for dz in (1, -1, 1, -1)]
        pans_all = [page.evaluate(pan, d) for d in (300, -300, 300, -300)]
        out["all_layers_zoom_redraw_ms_median"] = round(statistics.median(zooms_all))
        out["all_layers_pan_redraw_ms_median"] = round(statistics.median(pans_all))
        out["js_errors"] = len(log.page_errors)
        out["load_average_1min"] = round(os.getloadavg()[0], 2)  # the machine is shared: read timings with it
        out["heap_mb"] = round(page.evaluate("performance.memory ? performance.memory.usedJSHeapSize / 1e6 : -1"), 1)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    print(json.dumps(run(argv[0] if argv else None), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
