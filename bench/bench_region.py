"""The region planner on Dask: decomposition loss, speed-up, Shandong end to end, and a projection for China.

Run: ``python -m bench.bench_region [--parts decomposition,speedup,shandong] [--workers 2] [--time-limit S]
[--out DIR]`` (or ``python -m bench bench_region``; not in ``make bench``'s default list: it takes hours on 2
shared cores). Every figure is a ratio within one run, so the shared machine's noise mostly cancels.
Every part uses the regional tables of ``seeds/shandong.toml`` (``TABLES``). ``--time-limit`` sets every
solve's limit in every part (default: the seed's 60 s); ``--city-time-limit 370200=60`` overrides it for
Shandong cities. ``--out`` keeps the region folders (default: a temporary folder): ``--resume`` then solves
only the Shandong levels not saved there, and a run stopped early can still be projected:
``--parts projection --out DIR`` reads the saved ``level.json`` records of ``DIR/shandong``.
Figures measured on the shared 2-core machine: ``bench/README.md``, "Region".

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

Each part's region runs solve only; the CLI's per-city map and report drawing is not timed here.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gis.io import atomic_write_text
from seeds import seed_path

PARTS = ("decomposition", "speedup", "shandong")
ALL_PARTS = PARTS + ("projection",)
SPEEDUP_CITIES = ["370500", "371000", "371100", "371600"]  # Dongying, Weihai, Rizhao, Binzhou: the 4 smallest
NATION_UNITS = 333  # prefecture-level divisions of mainland China (2020)
RESULTS = Path(__file__).parent / "results" / "region.json"
# The regional settings of seeds/shandong.toml, so every part measures what a region run does: one solver
# thread per worker, a 1 % gap, 60 s per solve, no headroom stage. ``--time-limit`` changes the 60 s everywhere.
TABLES = {"solver": {"threads": 1, "gap_rel": 0.01, "time_limit_s": 60.0}, "radio": {"surplus": "none"}}


def tables(time_limit_s: float | None) -> dict:
    """The bench's scenario tables, with ``time_limit_s`` per solve when given."""
    solver = dict(TABLES["solver"], **({"time_limit_s": float(time_limit_s)} if time_limit_s else {}))
    return {**TABLES, "solver": solver}


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


def decomposition(tmp: Path, workers: int, time_limit_s: float | None = None) -> dict:
    """Qingdao's districts as subproblems against the monolithic city (same scenario tables)."""
    from rollout.pipeline import plan_from_scenario
    from rollout.region import load_region, plan_region
    from rollout.scenario import load_scenario

    tab = tables(time_limit_s)
    t0 = time.perf_counter()
    mono = plan_from_scenario(load_scenario(None, overrides={f"{t}.{k}": v for t, kv in tab.items()
                                                             for k, v in kv.items()}))
    mono_s = time.perf_counter() - t0
    gap = mono.summary()["solver"]["gap"] or 0.0
    mono_capex = float(mono.totals["capex_cny"])
    toml = write_region_toml(tmp / "qingdao_districts.toml", {
        "title": "Qingdao, one subproblem per district", "boundaries": str(seed_path("qingdao_districts.gpkg")),
        "districts": str(seed_path("qingdao_districts.csv")), "cores": str(seed_path("qingdao_cores.csv")),
        "city_field": "adcode", "subproblem": "district", "stations_target": 35000, "ports_target": 90000,
        "levels": [0.8, 1.0, 1.25]}, {**tab, "data": {"hotspots": str(seed_path("qingdao_hotspots.csv"))}})
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


def speedup(tmp: Path, time_limit_s: float | None = None) -> dict:
    """Four cities, one level each, on 1 and on 2 worker processes."""
    from rollout.region import load_region, plan_region

    tab = tables(time_limit_s)
    toml = write_region_toml(tmp / "four.toml", {"title": "4 Shandong cities"},
                             {**tab, "radio": {**tab["radio"], "target_stations": 3000}, "pon": {"target_ports": 9000}})
    wall = {}
    for n in (1, 2):
        t = time.perf_counter()
        plan_region(load_region(toml, only=SPEEDUP_CITIES), tmp / f"four_{n}", workers=n)
        wall[n] = time.perf_counter() - t
    out = {"cities": SPEEDUP_CITIES, "wall_seconds_1": round(wall[1], 1), "wall_seconds_2": round(wall[2], 1),
           "speedup": wall[1] / wall[2]}
    print(f"speed-up on 4 cities: 1 worker {wall[1]:.0f} s, 2 workers {wall[2]:.0f} s: x{out['speedup']:.2f}")
    return out


def level_records(folder: Path) -> list[dict]:
    """Every saved ``level.json`` under a region folder: the solved (city, level) tasks, finished or not."""
    recs = []
    for path in sorted(Path(folder).glob("cities/*/levels/*/level.json")):
        rec = json.loads(path.read_text(encoding="utf-8"))
        if rec.get("ok"):
            recs.append(rec)
    return recs


def task_figures(recs: list[dict]) -> dict:
    """Per-task seconds and peak memory by worker, from ``level.json`` records."""
    by_city: dict[str, list[float]] = {}
    peak: dict[str, float] = {}
    for r in recs:
        by_city.setdefault(f"{r['name']} ({r['city']})", []).append(r["seconds"])
        if r.get("peak_rss_mb") is not None:
            peak[str(r["pid"])] = max(peak.get(str(r["pid"]), 0.0), r["peak_rss_mb"])
    return {"cities": len(by_city), "task_seconds": sorted(r["seconds"] for r in recs),
            "task_seconds_by_city": by_city, "peak_rss_mb_by_worker": peak}


def shandong(tmp: Path, workers: int, time_limit_s: float | None = None, *, city_time_limit_s: dict | None = None,
             resume: bool = False) -> dict:
    """``seeds/shandong.toml`` on ``workers`` processes; ``city_time_limit_s`` {city id: s} wins over ``time_limit_s``."""
    from rollout.region import load_region, plan_region

    over = {"solver": {"time_limit_s": float(time_limit_s)}} if time_limit_s else None
    region = load_region(seed_path("shandong.toml"), overrides=over)
    for c in region.cities:
        if c.id in (city_time_limit_s or {}):
            c.scenario["solver"] = {**c.scenario["solver"], "time_limit_s": float(city_time_limit_s[c.id])}
    t = time.perf_counter()
    s = plan_region(region, tmp / "shandong", workers=workers, resume=resume)
    wall = time.perf_counter() - t
    out = {"workers": workers, "wall_seconds": round(wall, 1), "goal_seconds": 900, "complete": not s["failed"],
           "resume": resume, "tasks_reused": s["run"]["tasks_reused"],
           "time_limit_s": {c.id: c.scenario["solver"]["time_limit_s"] for c in region.cities},
           "levels_per_city": len(s["run"]["levels"]), "failed": [f["id"] for f in s["failed"]],
           "capex_cny": s["solver"]["objective"], "bound_cny": s["solver"]["bound"], "gap": s["solver"]["gap"],
           **task_figures(level_records(tmp / "shandong"))}
    gap = "n/a" if out["gap"] is None else f"{out['gap']:.2%}"
    print(f"Shandong end to end on {workers} workers: {wall / 60:.1f} min (goal <= 15), peak memory per worker "
          f"{', '.join(f'{v:,.0f} MB' for v in out['peak_rss_mb_by_worker'].values())}; capex "
          f"{out['capex_cny'] / 1e9:.2f} bn CNY, gap {gap}; failed: {out['failed'] or 'none'}")
    return out


def shandong_partial(folder: Path) -> dict:
    """The per-task figures of a Shandong run stopped before the end (``--parts projection --out DIR``)."""
    from rollout.region import load_region

    region = load_region(seed_path("shandong.toml"))
    out = {"complete": False, "levels_per_city": len(region.settings.levels), **task_figures(level_records(folder))}
    print(f"Shandong, stopped early: {len(out['task_seconds'])} level plans of {out['cities']} cities saved in {folder}")
    return out


def projection(sh: dict, *, units: int = NATION_UNITS, workers=(2, 8, 32, 128)) -> dict:
    """Wall time for ~330 units on N workers from the measured per-task seconds (see ``assumptions``)."""
    secs = sh["task_seconds"]
    per_unit = sum(secs) / max(sh["cities"], 1)     # all levels of one unit, sequentially
    longest = max(secs) if secs else 0.0
    total = per_unit * units
    rows = {n: max(total / n, longest) + 60.0 for n in workers}  # + ~1 min for cluster start, master and drawing
    assumptions = (f"{units} prefecture-level units, each costing what an average measured Shandong city cost "
                   f"({per_unit:.0f} s for its {sh['levels_per_city']} levels, from {sh['cities']} cities); the task "
                   "seconds were measured on workers sharing 2 cores with other jobs, so a dedicated core is "
                   "faster; tasks spread evenly (list scheduling: wall >= total / N and >= the longest task); one "
                   "single-threaded worker per core with the memory measured per Shandong worker; the master (a "
                   "few hundred binaries) and the region drawing take about a minute; western units with few "
                   "people over large areas may cost more or less than Shandong's dense cities: not measured.")
    print("projection for China: " + ", ".join(f"{n} workers {v / 3600:.1f} h" for n, v in rows.items()))
    return {"units": units, "per_unit_seconds": per_unit, "seconds_by_workers": rows, "assumptions": assumptions}


def machine() -> dict:
    """Where and when: commit, date, cores, load average (the machine is shared)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, check=False).stdout.strip()
    except OSError:
        commit = ""
    return {"utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": commit or None,
            "cores": os.cpu_count(), "load_average": os.getloadavg(), "niceness": os.nice(0)}


def run(*, parts=PARTS, workers: int = 2, time_limit_s: float | None = None, out_dir: Path | None = None,
        city_time_limit_s: dict | None = None, resume: bool = False) -> dict:
    out: dict = {"machine_start": machine(), "time_limit_s": time_limit_s or TABLES["solver"]["time_limit_s"]}
    with tempfile.TemporaryDirectory(prefix="bench-region-") as tmp:
        tmp = Path(out_dir) if out_dir else Path(tmp)
        tmp.mkdir(parents=True, exist_ok=True)
        if "decomposition" in parts:
            out["decomposition"] = decomposition(tmp, workers, time_limit_s)
        if "speedup" in parts:
            out["speedup"] = speedup(tmp, time_limit_s)
        if "shandong" in parts:
            out["shandong"] = shandong(tmp, workers, time_limit_s, city_time_limit_s=city_time_limit_s, resume=resume)
            out["projection"] = projection(out["shandong"])
        elif "projection" in parts:
            out["shandong"] = shandong_partial(tmp / "shandong")
            out["projection"] = projection(out["shandong"])
    out["machine_end"] = machine()
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_region", description=__doc__.splitlines()[0])
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(ALL_PARTS)}")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--time-limit", type=float, metavar="S", help="every solve's time limit, s (default 60)")
    p.add_argument("--out", type=Path, metavar="DIR", help="keep the region folders here (default: a temporary folder)")
    p.add_argument("--city-time-limit", default="", metavar="ID=S,...",
                   help="Shandong: per-city time limits over --time-limit, e.g. 370200=60")
    p.add_argument("--resume", action="store_true", help="Shandong: reuse the levels saved in --out DIR")
    p.add_argument("--results", type=Path, default=RESULTS, metavar="FILE", help=f"default {RESULTS}")
    args = p.parse_args(argv)
    parts = tuple(x.strip() for x in args.parts.split(",") if x.strip())
    if set(parts) - set(ALL_PARTS):
        p.error(f"unknown part {sorted(set(parts) - set(ALL_PARTS))[0]!r}; parts are {', '.join(ALL_PARTS)}")
    if "projection" in parts and "shandong" not in parts and not args.out:
        p.error("--parts projection without shandong reads a stopped run: give its --out DIR")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("distributed", "tornado"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.resume and not args.out:
        p.error("--resume reuses a kept run: give its --out DIR")
    city_limits = {k.strip(): float(v) for k, v in (x.split("=", 1) for x in args.city_time_limit.split(",") if x.strip())}
    result = run(parts=parts, workers=args.workers, time_limit_s=args.time_limit, out_dir=args.out,
                 city_time_limit_s=city_limits, resume=args.resume)
    args.results.parent.mkdir(parents=True, exist_ok=True)      # bench/results/ is not in the repository
    print(f"wrote {atomic_write_text(args.results, json.dumps(result, indent=2, default=str))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
