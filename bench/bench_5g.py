"""Benchmark of the 5G siting model.

Run: ``python -m bench.bench_5g`` (prints tables, then a JSON dict; ``run()`` returns it).
Options: ``--quick`` (small sizes, no Qingdao), ``--no-qingdao``, ``--no-spopt``,
``--time-limit 60`` (seconds per solve stage), ``--budget 60`` (seconds, for the
largest-size search), ``--solvers cbc,highs,highs-lp`` (highs-lp: the LP relaxation rounded up, CBC when it is not proven within the gap), ``-v`` (log).

0. **Model sizes before / after the radio model** (:func:`model_sizes`, no solve): one radius per
   clutter for every type on shared sites, against link-budget radii per type, one unit per position.
1. **Qingdao default.** If :func:`gis.build.layers_from_scenario` builds the
   default layers, the 5G model runs on them with CBC and with HiGHS: model size,
   build and solve seconds, status and gap of every stage (``5g_headroom``,
   ``5g``). The goal is build + solve < 60 s on 2 cores at a gap <= 0.5 %; the
   numbers are reported as measured, whatever they are.
2. **Set covering against spopt.** The location set-covering problem (coverage
   only: no capacity, no target, unit cost, one radius) on random points,
   solved by our sparse builder (``Siting5GInput`` from the KD-tree pair table)
   and by ``spopt.locate.LSCP.from_cost_matrix`` (dense distance matrix, one
   ``lpSum`` over every facility per client), both with CBC, at 250 ... 4,000
   demand points, in the same run. spopt runs in a subprocess with a memory cap
   and a timeout. Both optima must be equal. Then the largest size each solves
   within ``--budget`` seconds (sizes doubling).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time

import numpy as np

from gis.errors import InfeasibleError
from gis.pairs import pairs_within_radius
from rollout.model_5g import Siting5GInput, diagnose, solve_5g

MEAN_FACILITIES_IN_REACH = 4.0
SIZES = (250, 500, 1000, 2000, 4000)


# --------------------------------------------------------------------------- set covering instance

def lscp_instance(n: int, seed: int = 0):
    """``n`` demand points and ``n // 2`` facilities, uniform in a square whose side grows with
    sqrt(n) (constant density), one radius giving ~4 facilities in reach (the Qingdao layers have
    ~5 candidates per cell); a demand point with
    none in reach gets a facility on top of it (so the instance is feasible)."""
    rng = np.random.default_rng(seed)
    side = np.sqrt(n) * 100.0
    demand = rng.uniform(0, side, (n, 2))
    fac = rng.uniform(0, side, (n // 2, 2))
    radius = side * np.sqrt(MEAN_FACILITIES_IN_REACH / (np.pi * len(fac)))
    reach = np.bincount(pairs_within_radius(demand, radius, fac)["cell"], minlength=n)
    fac = np.vstack([fac, demand[reach == 0]])
    return demand, fac, float(radius)


def ours_lscp(n: int, seed: int = 0, *, threads: int = 2) -> dict:
    demand, fac, radius = lscp_instance(n, seed)
    t1 = time.perf_counter()
    pairs = pairs_within_radius(demand, radius, fac)
    t2 = time.perf_counter()
    inp = Siting5GInput(traffic_mbps=np.zeros(n), population=np.ones(n), k_coverage=np.ones(n, np.int64),
                        pairs=pairs, type_names=("station",), capacity_mbps=[1.0], capex_cny=[1.0],
                        max_per_site=np.ones((len(fac), 1), np.int64), surplus="none")
    res = solve_5g(inp, solver="cbc", time_limit_s=3600.0, gap_rel=0.0, threads=threads, lp_rounding=False)
    t3 = time.perf_counter()
    st = res.solves[-1]
    return {"n": n, "facilities": len(fac), "pairs": len(pairs), "objective": res.total_stations,
            "status": st.status, "pairs_s": round(t2 - t1, 3), "build_s": round(st.build_seconds, 3),
            "solve_s": round(st.seconds, 3), "total_s": round(t3 - t1, 3), "nonzeros": st.nonzeros}


def _spopt_worker(n: int, seed: int, threads: int) -> None:
    """Run in a subprocess: spopt's LSCP from a dense cost matrix; prints one JSON line."""
    import warnings

    warnings.filterwarnings("ignore")
    import pulp
    from scipy.spatial.distance import cdist
    from spopt.locate import LSCP

    demand, fac, radius = lscp_instance(n, seed)
    t1 = time.perf_counter()
    cost = cdist(demand, fac)
    model = LSCP.from_cost_matrix(cost, radius)
    t2 = time.perf_counter()
    model = model.solve(pulp.PULP_CBC_CMD(msg=False, threads=threads))
    t3 = time.perf_counter()
    obj = int(round(sum(v.varValue or 0.0 for v in model.fac_vars)))
    print(json.dumps({"n": n, "objective": obj, "status": pulp.LpStatus[model.problem.status],
                      "build_s": round(t2 - t1, 3), "solve_s": round(t3 - t2, 3), "total_s": round(t3 - t1, 3)}))


def spopt_lscp(n: int, seed: int = 0, *, threads: int = 2, timeout_s: float = 900.0, mem_gb: float = 6.0) -> dict:
    """spopt in a subprocess capped at ``mem_gb`` of address space and ``timeout_s`` seconds."""
    limit = int(mem_gb * 2**30)

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    cmd = [sys.executable, "-m", "bench.bench_5g", "--spopt-worker", str(n), str(seed), str(threads)]
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, preexec_fn=cap,
                             cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    except subprocess.TimeoutExpired:
        return {"n": n, "error": f"timeout after {timeout_s:.0f} s", "total_s": None}
    wall = time.perf_counter() - t0
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        tail = (out.stderr.strip().splitlines() or ["?"])[-1]
        kind = "out of memory" if "MemoryError" in out.stderr or "bad_alloc" in out.stderr else "failed"
        return {"n": n, "error": f"{kind} (cap {mem_gb:g} GB): {tail[:160]}", "total_s": None, "wall_s": round(wall, 1)}
    d = json.loads(lines[-1])
    d["wall_s"] = round(wall, 1)
    return d


def compare_lscp(sizes=SIZES, *, seed: int = 0, threads: int = 2, spopt: bool = True, spopt_timeout_s: float = 900.0,
                 spopt_mem_gb: float = 6.0) -> list[dict]:
    rows = []
    for n in sizes:
        o = ours_lscp(n, seed, threads=threads)
        s = spopt_lscp(n, seed, threads=threads, timeout_s=spopt_timeout_s, mem_gb=spopt_mem_gb) if spopt else {}
        row = {"n": n, "facilities": o["facilities"], "pairs": o["pairs"], "ours": o, "spopt": s}
        if s.get("total_s"):
            row["speedup"] = round(s["total_s"] / o["total_s"], 1)
            row["speedup_build"] = round(s["build_s"] / max(o["pairs_s"] + o["build_s"], 1e-3), 1)
            row["same_optimum"] = s["objective"] == o["objective"]
        rows.append(row)
        _print_lscp_row(row)
    return rows


def largest_within(budget_s: float, *, start: int, who: str, seed: int = 0, threads: int = 2, cap_n: int = 512_000,
                   spopt_mem_gb: float = 6.0, known: dict | None = None) -> dict:
    """Double ``n`` from ``start`` while one solve (build + solve) stays within ``budget_s``."""
    best, n, tried = None, start, []
    while n <= cap_n:
        if known and n in known:
            r = known[n]
        elif who == "ours":
            r = ours_lscp(n, seed, threads=threads)
        else:
            r = spopt_lscp(n, seed, threads=threads, timeout_s=budget_s * 1.5, mem_gb=spopt_mem_gb)
        t = r.get("total_s")
        tried.append({"n": n, "total_s": t, "error": r.get("error")})
        print(f"  {who:6s} n={n:>7,}: " + (f"{t:8.1f} s" if t is not None else r.get("error", "?")), flush=True)
        if t is None or t > budget_s:
            break
        best = n
        n *= 2
    return {"largest_n": best, "budget_s": budget_s, "tried": tried}


def _print_lscp_row(row):
    o, s = row["ours"], row["spopt"]
    sp = (f"{s['build_s']:8.2f} {s['solve_s']:8.2f} {s['total_s']:8.2f} {s['objective']:6d}" if s.get("total_s")
          else f"{'':>24} {s.get('error', 'skipped')}")
    print(f"{row['n']:>6,} {row['facilities']:>6,} {row['pairs']:>8,} | {o['pairs_s'] + o['build_s']:7.2f} "
          f"{o['solve_s']:7.2f} {o['total_s']:7.2f} {o['objective']:6d} | {sp}"
          + (f" | {row['speedup']:7.1f}x {'==' if row['same_optimum'] else '!='}" if "speedup" in row else ""),
          flush=True)


# --------------------------------------------------------------------------- Qingdao

def qingdao(solvers=("cbc", "highs", "highs-lp"), *, time_limit_s: float = 60.0, gap_rel: float | None = None) -> dict:
    """The 5G model on the Qingdao default layers (if the layer builder exists): each MIP solver's branch and
    bound, and ``highs-lp``, the least-cost stage as its LP relaxation rounded up (``solver.lp_rounding``, the
    default), falling back to CBC."""
    try:
        from gis.build import layers_from_scenario
        from rollout.scenario import load_scenario
    except ImportError as exc:
        return {"skipped": f"layer builder not available: {exc}"}
    sc = load_scenario()
    t0 = time.perf_counter()
    try:
        layers = layers_from_scenario(sc)
    except Exception as exc:  # noqa: BLE001 - report whatever the other module raises
        return {"skipped": f"layers_from_scenario failed: {type(exc).__name__}: {exc}"}
    layer_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    inp = Siting5GInput.from_layers(layers, sc)
    input_s = time.perf_counter() - t1
    out = {"layers": layers.summary(), "layers_s": round(layer_s, 2), "input_s": round(input_s, 2),
           "target_stations": inp.target_stations, "station_slots": int(inp.slots.sum()),
           "traffic_mbps": round(float(inp.traffic_mbps.sum()), 1), "time_limit_s_per_stage": time_limit_s,
           "gap_rel": gap_rel if gap_rel is not None else sc.solver.gap_rel, "runs": {}}
    try:
        diagnose(inp)
    except InfeasibleError as exc:
        out["diagnosis"] = {"family": exc.family, "message": str(exc)}
        print(f"Qingdao default: infeasible before solving ({exc.family}): {exc}")
        return out
    for solver in solvers:
        t = time.perf_counter()
        try:
            res = solve_5g(inp, solver="cbc" if solver == "highs-lp" else solver, time_limit_s=time_limit_s,
                           gap_rel=gap_rel if gap_rel is not None else sc.solver.gap_rel,
                           threads=sc.solver.threads, seed=sc.seed, lp_rounding=solver == "highs-lp")
        except InfeasibleError as exc:
            out["runs"][solver] = {"infeasible": exc.family, "message": str(exc)}
            continue
        wall = time.perf_counter() - t
        out["runs"][solver] = {
            "wall_s": round(wall, 1),
            "stages": [{k: getattr(s, k) for k in ("part", "status", "objective", "bound", "gap", "seconds",
                                                   "build_seconds", "variables", "integer_variables", "constraints",
                                                   "nonzeros")} for s in res.solves],
            "summary": {k: v for k, v in res.summary().items() if k != "by_type"},
            "by_type": res.summary()["by_type"],
        }
    _print_qingdao(out)
    return out


LEGACY_RADIUS_M = {"dense_urban": 250.0, "urban": 450.0, "suburban": 1000.0, "rural": 2500.0}


def model_sizes() -> dict:
    """Sizes of the 5G cost model on the Qingdao default layers, before and after the radio model (no solve).

    ``before``: one radius per clutter class (250 / 450 / 1,000 / 2,500 m, the old default) for every type,
    macro and small cells sharing the grid candidates, pairs only to the planning point; ``after``: link-budget
    radii per type x clutter, one unit type per position, small-cell positions at H3 resolution 10, pairs
    within radius of the cell's area (``cover``: of its planning point).
    """
    import dataclasses

    from gis.build import build_layers
    from rollout.model_5g import build_model
    from rollout.scenario import load_scenario

    sc = load_scenario()
    settings = sc.layer_settings()
    before = dataclasses.replace(settings, radius_m=dict(LEGACY_RADIUS_M), type_radius_m={}, small_cell_res=None)
    out = {}
    for name, st in (("before", before), ("after", settings)):
        t = time.perf_counter()
        layers = build_layers(st)
        layer_s = time.perf_counter() - t
        if name == "before":      # both types on every grid site, as before (bounds aside: small cells were 3 a site)
            layers.candidates = layers.candidates.drop(columns="type")
        inp = Siting5GInput.from_layers(layers, sc)
        m = build_model(inp)
        p = m.problem
        out[name] = {"candidates": len(layers.candidates), "pairs": len(layers.pairs), "layers_s": round(layer_s, 1),
                     "build_s": round(m.build_seconds, 1), "variables": p.numVariables(),
                     "integer_variables": sum(v.cat == "Integer" for v in p.variables()),
                     "constraints": p.numConstraints()}
        print(f"model {name:6s}: {out[name]}", flush=True)
    return out


def _print_qingdao(out):
    lay = out["layers"]
    print(f"\nQingdao default: {lay['cells']:,} cells, {lay['candidates']:,} candidates, {lay['pairs']:,} pairs; "
          f"layers {out['layers_s']} s; target {out['target_stations']:,} of {out['station_slots']:,} slots; "
          f"{out['time_limit_s_per_stage']:g} s per stage, gap {out['gap_rel']:.1%}")
    print(f"{'solver':6s} {'stage':12s} {'vars':>7s} {'int':>6s} {'rows':>7s} {'nnz':>8s} {'build s':>8s} "
          f"{'solve s':>8s} {'status':9s} {'objective':>16s} {'gap':>7s}")
    for solver, r in out["runs"].items():
        if "stages" not in r:
            print(f"{solver:6s} infeasible: {r['message']}")
            continue
        for s in r["stages"]:
            gap = "n/a" if s["gap"] is None else f"{s['gap']:.2%}"
            obj = "n/a" if s["objective"] is None else f"{s['objective']:,.0f}"
            print(f"{solver:6s} {s['part']:12s} {s['variables']:>7,} {s['integer_variables']:>6,} "
                  f"{s['constraints']:>7,} {s['nonzeros']:>8,} {s['build_seconds']:>8.2f} {s['seconds']:>8.1f} "
                  f"{s['status']:9s} {obj:>16s} {gap:>7s}")
        sm = r["summary"]
        print(f"{solver:6s} total {r['wall_s']:.1f} s: {sm['total_stations']:,} stations, capex "
              f"{sm['capex_cny']:,.0f} CNY, headroom min {sm['headroom_min']:.2f} mean {sm['headroom_mean']:.2f}, "
              f"surplus rule applied {sm['surplus_applied']}, status {sm['status']}")


# --------------------------------------------------------------------------- main

def run(*, quick: bool = False, do_qingdao: bool = True, do_spopt: bool = True, time_limit_s: float = 60.0,
        budget_s: float = 60.0, solvers=("cbc", "highs", "highs-lp"), threads: int = 2,
        spopt_mem_gb: float = 6.0) -> dict:
    out: dict = {"machine": {"cpus": os.cpu_count()}}
    if do_qingdao and not quick:
        out["model_sizes"] = model_sizes()
        out["qingdao"] = qingdao(solvers, time_limit_s=time_limit_s)
    sizes = SIZES[:3] if quick else SIZES
    print("\nSet covering (LSCP), CBC, same instances; seconds")
    print(f"{'n':>6} {'facil':>6} {'pairs':>8} | {'ours:':<5}{'build':>2} {'solve':>7} {'total':>7} {'opt':>6} | "
          f"{'spopt:build':>14} {'solve':>8} {'total':>8} {'opt':>6} | speedup")
    out["lscp"] = compare_lscp(sizes, threads=threads, spopt=do_spopt, spopt_mem_gb=spopt_mem_gb,
                               spopt_timeout_s=120.0 if quick else 900.0)
    if not quick:
        print(f"\nLargest set-covering size solved within {budget_s:g} s (build + solve, sizes doubling)")
        known_o = {r["n"]: r["ours"] for r in out["lscp"]}
        known_s = {r["n"]: r["spopt"] for r in out["lscp"] if r["spopt"]}
        out["largest"] = {"ours": largest_within(budget_s, start=sizes[-1], who="ours", threads=threads, known=known_o)}
        if do_spopt:
            out["largest"]["spopt"] = largest_within(budget_s, start=sizes[0], who="spopt", threads=threads,
                                                     spopt_mem_gb=spopt_mem_gb, known=known_s)
    return out


def main(argv: list[str]) -> int:
    if argv[:1] == ["--spopt-worker"]:
        _spopt_worker(int(argv[1]), int(argv[2]), int(argv[3]))
        return 0
    ap = argparse.ArgumentParser(prog="python -m bench.bench_5g")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-qingdao", action="store_true")
    ap.add_argument("--no-spopt", action="store_true")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--budget", type=float, default=60.0)
    ap.add_argument("--solvers", default="cbc,highs,highs-lp")
    ap.add_argument("--spopt-mem-gb", type=float, default=6.0)
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args(argv)
    if a.v:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = run(quick=a.quick, do_qingdao=not a.no_qingdao, do_spopt=not a.no_spopt, time_limit_s=a.time_limit,
              budget_s=a.budget, solvers=tuple(a.solvers.split(",")), spopt_mem_gb=a.spopt_mem_gb)
    print(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
