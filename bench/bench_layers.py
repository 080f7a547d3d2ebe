"""Benchmark of the Qingdao layers build: phases, sizes and the pair table's shape.

Run: ``python -m bench.bench_layers`` (prints a JSON dict; ``run()`` returns it).
Options: ``--repeat N`` (best of N builds), ``--dense-sites`` (also time the
denser grid-candidate variant, ``site_res`` 9/9/8/7), ``-v`` (log progress).

Phases (seconds, from ``Layers.stats["timings_s"]``): districts (read and
validate the seeds), lattice (fine H3 cells), population (modelled surface),
hotspots, grid (adaptive aggregation, geometry, clipping), candidates,
offices, pairs (KD-tree radius queries); plus writing ``layers.gpkg``.
"""
from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from pathlib import Path

DENSE_SITES = {"dense_urban": 9, "urban": 9, "suburban": 8, "rural": 7}


def _station_slots(layers, scenario) -> int:
    """Most stations the candidates can hold (macro + small per site, by clutter), existing included."""
    c = layers.candidates["clutter"]
    slots = 0
    for t in (scenario.radio.macro, scenario.radio.small):
        slots += int(c.isin(t.clutters).sum()) * int(t.max_per_site)
    return slots


def _one(scenario, **kw) -> tuple[object, dict]:
    from gis.build import layers_from_scenario

    t = time.perf_counter()
    layers = layers_from_scenario(scenario, **kw)
    build_s = time.perf_counter() - t
    s = layers.summary()
    per_cell = layers.pairs.groupby("cell").size()
    out = {
        "cells": s["cells"], "cells_by_clutter": layers.stats["cells_by_clutter"],
        "candidates": s["candidates"], "offices": s["offices"], "pairs": s["pairs"],
        "pairs_within_radius": layers.stats["pairs_within_radius"],
        "max_pairs_per_cell": s["max_pairs_per_cell"], "mean_pairs_per_cell": s["mean_pairs_per_cell"],
        "cells_with_one_pair": int((per_cell == 1).sum()),
        "station_slots": _station_slots(layers, scenario),
        "target_stations": scenario.radio.target_stations,
        "population": round(s["population"], 3), "onts": round(layers.stats["onts"], 1),
        "build_seconds": round(build_s, 3), "phases_s": layers.stats["timings_s"],
    }
    return layers, out


def run(*, repeat: int = 1, dense_sites: bool = False) -> dict:
    """Build the Qingdao default layers ``repeat`` times; return sizes and the best timings."""
    t0 = time.perf_counter()
    from rollout.scenario import scenario_from_dict

    import_s = time.perf_counter() - t0
    scenario = scenario_from_dict({})
    best = None
    layers = None
    for _ in range(max(1, repeat)):
        layers, res = _one(scenario)
        if best is None or res["build_seconds"] < best["build_seconds"]:
            best = res
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        path = layers.to_gpkg(Path(tmp) / "layers.gpkg")
        best["write_gpkg_seconds"] = round(time.perf_counter() - t, 3)
        best["gpkg_mb"] = round(path.stat().st_size / 1e6, 2)
    best["import_seconds"] = round(import_s, 3)
    best["demand_source"] = layers.demand_source
    if dense_sites:
        _, dense = _one(scenario, site_res=DENSE_SITES)
        best["dense_sites"] = {k: dense[k] for k in ("candidates", "pairs", "pairs_within_radius", "max_pairs_per_cell",
                                                     "mean_pairs_per_cell", "station_slots", "build_seconds")}
    return best


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-v" in argv:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 1
    res = run(repeat=repeat, dense_sites="--dense-sites" in argv)
    print(json.dumps(res, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
