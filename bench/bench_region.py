"""The region planner on Dask: decomposition loss, speed-up, Shandong end to end, and a projection for China.

Run: ``python -m bench.bench_region [--parts decomposition,speedup,shandong] [--workers 2]``
(or ``python -m bench bench_region``; not in ``make bench``'s default list: Shandong alone is ~15 min).
Every figure is a ratio within one run, so the shared machine's noise mostly cancels.

* ``decomposition``: Qingdao's 10 districts as 10 subproblems (``subproblem = "district"``, the
  regional targets 35,000 stations and 90,000 ports shared by the master over 3 levels each)
  against the monolithic city model: capex difference, the region's valid bound, and what a
  plain population-share split (every district at level 1.0, no master) would cost. The
  difference is what the border policy (own district only) and the split targets cost together.
* ``speedup``: 4 Shandong cities, one level each, on 1 and then 2 local worker processes.
* ``shandong``: ``seeds/shandong.toml`` end to end on ``--workers`` processes: wall time (goal
  <= 15 min on 2 cores), peak memory per worker, per-city solve seconds.
* ``projection``: the ~330 prefecture-level units of China on N workers, from the Shandong
  per-task seconds (written with its assumptions).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

from gis.io import atomic_write_text
from seeds import seed_path

PARTS = ("decomposition", "speedup", "shandong")
SPEEDUP_CITIES = ["370500", "371000", "371100", "371600"]  # Dongying, Weihai, Rizhao, Binzhou: the 4 smallest
NATION_UNITS = 333  # prefecture-level divisions of mainland China (2020)
RESULTS = Path(__file__).parent / "results" / "region.json"
SOLVER = {"threads": 1, "gap_rel": 0.01, "time_limit_s": 120.0}


def _toml(value) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def write_region_toml(path: Path, region: dict, tables: dict) -> Path:
    lines = ["[region]"] + [f"{k} = {_toml(v)}" for k, v in region.items()]
    for name, table in tables.items():
        lines += ["", f"[{name}]"] + [f"{k} = {_toml(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def decomposition(tmp: Path, workers: int) -> dict:
    """Qingdao's districts as subproblems against the monolithic city (same solver settings)."""
    from rollout.pipeline import plan_from_scenario
    from rollout.region import load_region, plan_region
    from rollout.scenario import load_scenario

    t0 = time.perf_counter()
    mono = plan_from_scenario(load_scenario(None, overrides={f"solver.{k}": v for k, v in SOLVER.items()}))
    mono_s = time.perf_counter() - t0
    gap = mono.summary()["solver"]["gap"] or 0.0
    mono_capex = float(mono.totals["capex_cny"])
    toml = write_region_toml(tmp / "qingdao_districts.toml", {
        "title": "Qingdao, one subproblem per district", "boundaries": str(seed_path("qingdao_districts.gpkg")),
        "districts": str(seed_path("qingdao_districts.csv")), "cores": str(seed_path("qingdao_cores.csv")),
        "city_field": "adcode", "subproblem": "district", "stations_target": 35000, "ports_target": 90000,
        "levels": [0.8, 1.0, 1.25]}, {"solver": SOLVER, "data": {"hotspots": str(seed_path("qingdao_hotspots.csv"))}})
    t1 = time.perf_counter()
    s = plan_region(load_region(toml), tmp / "qingdao_districts", workers=workers)
    region_s = time.perf_counter() - t1
    share_only = sum(lv["capex_cny"] for c in s["cities"] for lv in c["levels"] if lv["multiplier"] == 1.0)
    out = {"monolithic_capex_cny": mono_capex, "monolithic_bound_cny": mono_capex * (1 - gap),
           "monolithic_seconds": round(mono_s, 1), "decomposed_capex_cny": s["solver"]["objective"],
           "decomposed_bound_cny": s["solver"]["bound"], "decomposed_gap": s["solver"]["gap"],
           "decomposed_seconds": round(region_s, 1), "population_share_split_capex_cny": share_only,
           "loss_vs_monolithic": s["solver"]["objective"] / mono_capex - 1.0,
           "population_near_border_share": s["border"]["population_near_border_share"],
           "stations": [mono.totals["stations_5g"], s["totals"]["stations_5g"]],
           "ports": [mono.totals["pon_ports"], s["totals"]["pon_ports"]]}
    print(f"decomposition: monolithic {mono_capex / 1e9:.3f} bn CNY ({mono_s:.0f} s); 10 districts + master "
          f"{out['decomposed_capex_cny'] / 1e9:.3f} bn ({region_s:.0f} s), loss {out['loss_vs_monolithic']:+.2%}; "
          f"region bound {out['decomposed_bound_cny'] / 1e9:.3f} bn; population-share split without the master "
          f"{share_only / 1e9:.3f} bn; {out['population_near_border_share']:.1%} of people near a district border")
    return out


def speedup(tmp: Path) -> dict:
    """Four cities, one level each, on 1 and on 2 worker processes."""
    from rollout.region import load_region, plan_region

    toml = write_region_toml(tmp / "four.toml", {"title": "4 Shandong cities"},
                             {"solver": SOLVER, "radio": {"target_stations": 3000}, "pon": {"target_ports": 9000}})
    wall = {}
    for n in (1, 2):
        t = time.perf_counter()
        plan_region(load_region(toml, only=SPEEDUP_CITIES), tmp / f"four_{n}", workers=n)
        wall[n] = time.perf_counter() - t
    out = {"cities": SPEEDUP_CITIES, "wall_seconds_1": round(wall[1], 1), "wall_seconds_2": round(wall[2], 1),
           "speedup": wall[1] / wall[2]}
    print(f"speed-up on 4 cities: 1 worker {wall[1]:.0f} s, 2 workers {wall[2]:.0f} s: x{out['speedup']:.2f}")
    return out


def shandong(tmp: Path, workers: int) -> dict:
    from rollout.region import load_region, plan_region

    t = time.perf_counter()
    s = plan_region(load_region(seed_path("shandong.toml")), tmp / "shandong", workers=workers)
    wall = time.perf_counter() - t
    tasks = [lv for c in s["cities"] for lv in c["levels"] if not lv.get("reused")]
    out = {"workers": workers, "wall_seconds": round(wall, 1), "goal_seconds": 900,
           "peak_rss_mb_by_worker": s["run"]["peak_rss_mb_by_worker"], "cities": len(s["cities"]),
           "failed": [f["id"] for f in s["failed"]], "capex_cny": s["solver"]["objective"],
           "bound_cny": s["solver"]["bound"], "gap": s["solver"]["gap"],
           "task_seconds": sorted(lv["seconds"] for lv in tasks), "levels_per_city": len(s["run"]["levels"])}
    print(f"Shandong end to end on {workers} workers: {wall / 60:.1f} min (goal <= 15), peak memory per worker "
          f"{', '.join(f'{v:,.0f} MB' for v in out['peak_rss_mb_by_worker'].values())}; capex "
          f"{out['capex_cny'] / 1e9:.2f} bn CNY, gap {out['gap']:.2%}; failed: {out['failed'] or 'none'}")
    return out


def projection(sh: dict, *, units: int = NATION_UNITS, workers=(2, 8, 32, 128)) -> dict:
    """Wall time for ~330 units on N workers: per-task seconds resampled from Shandong (see ``assumptions``)."""
    secs = sh["task_seconds"]
    per_unit = sum(secs) / max(sh["cities"], 1)     # all levels of one unit, sequentially
    longest = max(secs) if secs else 0.0
    total = per_unit * units
    rows = {n: max(total / n, longest) + 60.0 for n in workers}  # + ~1 min for cluster start, master and drawing
    assumptions = (f"{units} prefecture-level units, each costing what an average Shandong city cost "
                   f"({per_unit:.0f} s for its {sh['levels_per_city']} levels on one worker); tasks spread evenly "
                   "(list scheduling: wall >= total / N and >= the longest task); one single-threaded worker per "
                   "core with the memory measured per Shandong worker; the master (a few hundred binaries) and "
                   "the region drawing take about a minute; larger western units with sparse people solve faster "
                   "per km2 but Shandong's cities are denser than average, so this errs high.")
    print("projection for China: " + ", ".join(f"{n} workers {v / 3600:.1f} h" for n, v in rows.items()))
    return {"units": units, "seconds_by_workers": rows, "assumptions": assumptions}


def run(*, parts=PARTS, workers: int = 2) -> dict:
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-region-") as tmp:
        tmp = Path(tmp)
        if "decomposition" in parts:
            out["decomposition"] = decomposition(tmp, workers)
        if "speedup" in parts:
            out["speedup"] = speedup(tmp)
        if "shandong" in parts:
            out["shandong"] = shandong(tmp, workers)
            out["projection"] = projection(out["shandong"])
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_region", description=__doc__.splitlines()[0])
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("distributed", "tornado"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    result = run(parts=tuple(x.strip() for x in args.parts.split(",") if x.strip()), workers=args.workers)
    print(f"wrote {atomic_write_text(RESULTS, json.dumps(result, indent=2, default=str))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
