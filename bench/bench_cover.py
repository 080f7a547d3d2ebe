"""Benchmark of the coverage layer's covering solver (:mod:`rollout.covering`) on the Qingdao default.

Run: ``python -m bench.bench_cover [--lp] [-v]`` (prints a table, then a JSON dict; ``run()`` returns it).

The covering rows of the default plan's coverage layer (the populated evaluation lattice and the cells'
planning points, reduced; prices as the first 5G pass prices them) are solved in one run by:

* **greedy**: the greedy rule with redundant sites removed (the layer before this solver);
* **tiled**: :func:`rollout.covering.solve_cover` as the plan runs it (window MIPs, dual ascent);
* **HiGHS, monolithic**: the same program handed whole to HiGHS's MIP (scipy) with the tiled solve's wall
  time as its time limit (its incumbent and bound at that time);
* with ``--lp``: the LP relaxation of the whole program by HiGHS's interior point without crossover (about
  90 s), the reference the Lagrangian bound is measured against.

Figures are ratios within this run (the machines are shared and noisy).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp


def instance():
    """``(rows, need, cost, site_xy)`` of the default plan's coverage layer."""
    from gis.build import layers_from_scenario
    from rollout.coverage_layer import coverage_columns, coverage_problem
    from rollout.model_5g import Siting5GInput
    from rollout.pipeline import modelled_baseline
    from rollout.scenario import load_scenario

    sc = load_scenario(None)
    layers, _ = modelled_baseline(layers_from_scenario(sc), sc)
    inp = Siting5GInput.from_layers(layers, sc)
    prob = coverage_problem(layers, sc, inp)
    cost = coverage_columns(inp, sc)[3]
    return prob.rows, prob.need, np.where(np.isfinite(cost), cost, 0.0), inp.site_xy


def run(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="bench.bench_cover")
    ap.add_argument("--lp", action="store_true", help="also solve the whole LP relaxation (about 90 s)")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args(argv or [])
    from rollout.scenario import load_scenario
    from rollout.covering import greedy_cover, solve_cover

    t = time.perf_counter()
    rows, need, cost, xy = instance()
    out = {"rows": int(rows.shape[0]), "columns": int((np.diff(rows.tocsc().indptr) > 0).sum()),
           "nonzeros": int(rows.nnz), "instance_s": round(time.perf_counter() - t, 1)}
    t = time.perf_counter()
    g = greedy_cover(rows, need, cost)
    out["greedy"] = {"objective_cny": float(cost[g].sum()), "seconds": round(time.perf_counter() - t, 1)}
    t = time.perf_counter()
    radio = load_scenario(None).radio
    cov = solve_cover(rows, need, cost, xy, window_passes=radio.coverage_window_passes,
                      dual_passes=radio.coverage_dual_passes)
    wall = time.perf_counter() - t
    out["tiled"] = {"objective_cny": cov.objective, "bound_cny": cov.bound, "gap": cov.gap,
                    "seconds": round(wall, 1), "sites": int(cov.chosen.sum())}
    used = np.flatnonzero(np.diff(rows.tocsc().indptr) > 0)
    a = rows[:, used]
    t = time.perf_counter()
    res = milp(cost[used], constraints=LinearConstraint(a, lb=need, ub=np.inf), integrality=np.ones(len(used)),
               bounds=Bounds(0, 1), options={"time_limit": wall, "mip_rel_gap": 0.005})
    obj = float(res.fun) if res.x is not None else None
    bound = getattr(res, "mip_dual_bound", None)
    out["highs_monolithic"] = {"objective_cny": obj, "bound_cny": bound, "status": res.message,
                               "seconds": round(time.perf_counter() - t, 1),
                               "gap": None if obj is None or bound is None else (obj - bound) / obj}
    if args.lp:
        t = time.perf_counter()
        lp = linprog(cost[used], A_ub=-a, b_ub=-need.astype(float), bounds=(0, 1), method="highs-ipm",
                     options={"time_limit": 600.0})
        out["lp"] = {"objective_cny": float(lp.fun) if lp.status == 0 else None, "status": lp.message,
                     "seconds": round(time.perf_counter() - t, 1)}
    _print(out)
    return out


def _print(out: dict) -> None:
    def f(v):
        return "n/a" if v is None else f"{v / 1e9:.4f} bn" if isinstance(v, float) and v > 1e6 else f"{v}"

    print(f"coverage rows {out['rows']:,} x {out['columns']:,} columns, {out['nonzeros']:,} nonzeros")
    print(f"{'solver':<18}{'objective':>14}{'bound':>14}{'gap':>9}{'seconds':>9}")
    for k in ("greedy", "tiled", "highs_monolithic", "lp"):
        if k in out:
            r = out[k]
            gap = r.get("gap")
            print(f"{k:<18}{f(r.get('objective_cny')):>14}{f(r.get('bound_cny')):>14}"
                  f"{'' if gap is None else f'{gap:.2%}':>9}{r['seconds']:>9}")
    ti, g = out["tiled"], out["greedy"]
    print(f"tiled / greedy cost: {ti['objective_cny'] / g['objective_cny']:.4f}")
    if "lp" in out and out["lp"]["objective_cny"]:
        print(f"Lagrangian bound / LP optimum: {ti['bound_cny'] / out['lp']['objective_cny']:.4f}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(run(sys.argv[1:]), indent=2, default=str))
