"""Benchmark of the coverage layer's covering solver (:mod:`rollout.covering`) on the Qingdao default.

Run: ``python -m bench.bench_cover [--lp] [--decomposition] [--ascent-tiles] [--integrality] [-v]`` (prints a
table, then a JSON dict; ``run()`` returns it).

The covering rows of the default plan's coverage layer (the populated evaluation lattice and the cells'
planning points, reduced; prices as the first 5G pass prices them) are solved in one run by:

* **greedy**: the greedy rule with redundant sites removed (the layer before this solver);
* **Lagrangian greedy**: subgradient steps toward the greedy cover's cost (their L(u) is the bound shown),
  then the greedy rule on the multipliers' reduced costs (:func:`rollout.covering.lagrangian_greedy`);
* **tiled**: :func:`rollout.covering.solve_cover` as the plan runs it (the cheaper of the two greedy covers,
  window MIPs, subgradient steps then dual ascent);
* **tiled, greedy start**: the same windows and passes without the subgradient (from the plain greedy cover, the
  dual ascent from zero multipliers): what the Lagrangian start adds (before 2026-12-01 the solver also had
  5 km windows of up to 400 rows and three ascent passes);
* **HiGHS, monolithic**: the same program handed whole to HiGHS's MIP (scipy) with the tiled solve's wall
  time as its time limit (its incumbent and bound at that time);
* with ``--lp``: the LP relaxation of the whole program by HiGHS's interior point without crossover (about
  90 s), the reference the Lagrangian bound is measured against;
* with ``--decomposition`` (implies ``--lp``): a Lagrangian *decomposition* bound above the LP. The plane is
  cut into 12 km tiles (quartered down to at most 3,000 rows); each column's cost is split over the tiles it
  reaches, each tile's share being what its rows pay for the column at the LP's duals plus the column's reduced
  cost in proportion to its rows there; each tile's own integer program at those shares goes to HiGHS (1,000
  nodes). Any cover pays exactly the sum of its shares, and each tile's share is at least that tile's optimum,
  so the sum of the tiles' MIP bounds is a lower bound on every cover. It shows how far an integer bound reaches
  above the LP, and so the smallest gap that could be proven for the tiled cover (about 8 min on 2 cores);
* with ``--ascent-tiles``: one dual-ascent pass from the subgradient's multipliers over tiles of 10, 20, 30
  (the default, :data:`rollout.covering.DUAL_TILE_M`), 40 and 60 km: the bound each gives and its time;
* with ``--integrality``: the integrality gap where it can be measured: three 10 km tiles (most rows, the
  median tile, fewest rows among tiles with at least 200) each solved as its own program (its rows, every
  column reaching them) by HiGHS's MIP to a 0.01 % gap and by its LP. The integer optimum's excess over the LP
  optimum there is what no LP-based bound (the Lagrangian one included) can close.

Figures are ratios within this run (the machines are shared and noisy).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor

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
    ap.add_argument("--integrality", action="store_true",
                    help="also measure the integrality gap on three 10 km tiles (a few minutes)")
    ap.add_argument("--decomposition", action="store_true",
                    help="also the decomposition bound from the LP's duals (implies --lp; about 8 min on 2 cores)")
    ap.add_argument("--ascent-tiles", action="store_true",
                    help="also one dual-ascent pass over tiles of 10 to 60 km from the subgradient's multipliers")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args(argv or [])
    args.lp = args.lp or args.decomposition
    from rollout.scenario import load_scenario
    from rollout.covering import (SUBGRADIENT_ITERATIONS, dual_ascent, greedy_cover, lagrangian_greedy, layout,
                                  solve_cover, subgradient)

    t = time.perf_counter()
    rows, need, cost, xy = instance()
    out = {"rows": int(rows.shape[0]), "columns": int((np.diff(rows.tocsc().indptr) > 0).sum()),
           "nonzeros": int(rows.nnz), "instance_s": round(time.perf_counter() - t, 1)}
    t = time.perf_counter()
    g = greedy_cover(rows, need, cost)
    out["greedy"] = {"objective_cny": float(cost[g].sum()), "seconds": round(time.perf_counter() - t, 1)}
    t = time.perf_counter()
    lag_bound, u = subgradient(rows, need, cost, target=out["greedy"]["objective_cny"])
    lag = lagrangian_greedy(rows, need, cost, u)
    out["lagrangian_greedy"] = {"objective_cny": float(cost[lag].sum()), "bound_cny": lag_bound,
                                "gap": 1 - lag_bound / float(cost[lag].sum()), "seconds": round(time.perf_counter() - t, 1)}
    if args.ascent_tiles:
        out["ascent_tiles"] = []
        for km in (10, 20, 30, 40, 60):
            row_xy, reach, _, tile_m = layout(rows, xy, dual_tile_m=km * 1000.0)
            t = time.perf_counter()
            bound, _ = dual_ascent(rows, need, cost, row_xy, tile_m=tile_m, passes=1, u0=u, reach=reach)
            out["ascent_tiles"].append({"tile_km": km, "bound_cny": bound, "seconds": round(time.perf_counter() - t, 1)})
    radio = load_scenario(None).radio
    for key, steps in (("tiled_greedy_start", 0), ("tiled", SUBGRADIENT_ITERATIONS)):
        t = time.perf_counter()
        cov = solve_cover(rows, need, cost, xy, window_passes=radio.coverage_window_passes,
                          dual_passes=radio.coverage_dual_passes, window_rows=radio.coverage_window_rows,
                          subgradient_iterations=steps)
        wall = time.perf_counter() - t
        out[key] = {"objective_cny": cov.objective, "bound_cny": cov.bound, "gap": cov.gap,
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
        if args.decomposition and lp.status == 0:
            duals = np.zeros(rows.shape[0])
            duals[need > 0] = np.maximum(-lp.ineqlin.marginals[need > 0], 0.0)
            out["decomposition"] = decomposition_bound(rows, need, cost, xy, duals)
    if args.integrality:
        out["integrality"] = integrality_tiles(rows, need, cost, xy)
    _print(out)
    return out


def decomposition_bound(rows, need, cost, xy, u, *, tile_m: float = 12_000.0, max_rows: int = 3_000,
                        node_limit: int = 1_000, time_limit_s: float = 120.0) -> dict:
    """The Lagrangian decomposition bound at the multipliers ``u`` (module docstring): the sum over tiles of
    each tile's MIP bound at its shares of the columns' costs. A tile whose MIP gives no bound counts its LP
    share, Σ b_i u_i + Σ_j min(0, r_j w_j), which is at most its optimum as well."""
    from rollout.covering import _workers, row_positions, split_rows, tile_windows

    t = time.perf_counter()
    rows = rows.tocsr()
    need = np.asarray(need, float)
    cost = np.asarray(cost, float)
    u = np.asarray(u, float)
    reduced = cost - rows.T @ u
    reach = np.diff(rows.tocsc().indptr).astype(float)
    pos = row_positions(rows, xy)
    tiles = [p for colour in tile_windows(pos, tile_m) for tile in colour for p in split_rows(tile, pos, max_rows)]

    def one(sel):
        a = rows[sel]
        cols = np.flatnonzero(np.diff(a.tocsc().indptr) > 0)
        a = a[:, cols].tocsr()
        part = reduced[cols] * np.diff(a.tocsc().indptr) / reach[cols]
        share = a.T @ u[sel] + part
        floor = float(need[sel] @ u[sel] + np.minimum(part, 0.0).sum())
        res = milp(share, constraints=LinearConstraint(a, lb=need[sel], ub=np.inf), integrality=np.ones(len(cols)),
                   bounds=Bounds(0, 1), options={"node_limit": node_limit, "mip_rel_gap": 1e-4,
                                                 "time_limit": time_limit_s})
        bound = getattr(res, "mip_dual_bound", None)
        return floor, max(floor, float(bound)) if bound is not None and np.isfinite(bound) else floor

    with ThreadPoolExecutor(_workers()) as pool:       # HiGHS releases the GIL; results in tile order
        parts = list(pool.map(one, tiles))
    return {"tiles": len(tiles), "tile_km": tile_m / 1000, "max_rows": max_rows,
            "lp_share_cny": float(sum(p[0] for p in parts)), "bound_cny": float(sum(p[1] for p in parts)),
            "seconds": round(time.perf_counter() - t, 1)}


def integrality_tiles(rows, need, cost, xy, *, tile_m: float = 10_000.0, time_limit_s: float = 300.0) -> list:
    """Integer and LP optimum of three tiles' own covering programs (module docstring)."""
    from rollout.covering import row_positions

    pos = row_positions(rows, xy)
    key = np.floor(pos / tile_m).astype(np.int64)
    tiles, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    order = np.argsort(-counts, kind="stable")
    big = order[counts[order] >= 200]
    picks = dict.fromkeys([int(order[0]), int(order[len(order) // 2]), int(big[-1])])
    out = []
    for k in picks:
        sel = np.flatnonzero(inverse == k)
        a = rows[sel]
        cols = np.flatnonzero(np.diff(a.tocsc().indptr) > 0)
        a = a[:, cols].tocsr()
        t = time.perf_counter()
        lp = linprog(cost[cols], A_ub=-a, b_ub=-need[sel].astype(float), bounds=(0, 1), method="highs")
        res = milp(cost[cols], constraints=LinearConstraint(a, lb=need[sel], ub=np.inf),
                   integrality=np.ones(len(cols)), bounds=Bounds(0, 1),
                   options={"time_limit": time_limit_s, "mip_rel_gap": 1e-4})
        mip = float(res.fun) if res.x is not None else None
        out.append({"tile_km": [float(v) * tile_m / 1000 for v in tiles[k]], "rows": int(len(sel)),
                    "columns": int(len(cols)), "lp_cny": float(lp.fun), "mip_cny": mip,
                    "mip_bound_cny": getattr(res, "mip_dual_bound", None), "status": res.message,
                    "mip_over_lp": None if mip is None else mip / float(lp.fun),
                    "seconds": round(time.perf_counter() - t, 1)})
    return out


def _print(out: dict) -> None:
    def f(v):
        return "n/a" if v is None else f"{v / 1e9:.4f} bn" if isinstance(v, float) and v > 1e6 else f"{v}"

    print(f"coverage rows {out['rows']:,} x {out['columns']:,} columns, {out['nonzeros']:,} nonzeros")
    print(f"{'solver':<18}{'objective':>14}{'bound':>14}{'gap':>9}{'seconds':>9}")
    for k in ("greedy", "lagrangian_greedy", "tiled_greedy_start", "tiled", "highs_monolithic", "lp"):
        if k in out:
            r = out[k]
            gap = r.get("gap")
            print(f"{k:<18}{f(r.get('objective_cny')):>14}{f(r.get('bound_cny')):>14}"
                  f"{'' if gap is None else f'{gap:.2%}':>9}{r['seconds']:>9}")
    ti, g = out["tiled"], out["greedy"]
    print(f"tiled / greedy cost: {ti['objective_cny'] / g['objective_cny']:.4f}")
    if "tiled_greedy_start" in out:
        old = out["tiled_greedy_start"]
        print(f"tiled / tiled from the greedy start: cost {ti['objective_cny'] / old['objective_cny']:.4f}, "
              f"bound {ti['bound_cny'] / old['bound_cny']:.4f}, time {ti['seconds'] / old['seconds']:.2f}")
    for r in out.get("integrality", []):
        ratio = "n/a" if r["mip_over_lp"] is None else f"{r['mip_over_lp']:.4f}"
        print(f"tile {r['rows']:,} rows x {r['columns']:,} columns: integer optimum / LP optimum {ratio} "
              f"({r['status']}, {r['seconds']} s)")
    lp = out.get("lp", {}).get("objective_cny")
    for r in out.get("ascent_tiles", []):
        vs_lp = f" (/ LP optimum {r['bound_cny'] / lp:.5f})" if lp else ""
        print(f"one ascent pass over {r['tile_km']} km tiles: bound {f(r['bound_cny'])}{vs_lp}, {r['seconds']} s")
    if "lp" in out and out["lp"]["objective_cny"]:
        print(f"Lagrangian bound / LP optimum: {ti['bound_cny'] / out['lp']['objective_cny']:.4f}")
    if "decomposition" in out:
        d = out["decomposition"]
        print(f"decomposition bound ({d['tiles']} tiles of {d['tile_km']:g} km, {d['seconds']} s): "
              f"{f(d['bound_cny'])}, / LP optimum {d['bound_cny'] / out['lp']['objective_cny']:.5f}; the tiled "
              f"cover's gap against it {(ti['objective_cny'] - d['bound_cny']) / ti['objective_cny']:.2%}; a proven "
              f"0.5 % needs a cover of at most {f(d['bound_cny'] / 0.995)}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(run(sys.argv[1:]), indent=2, default=str))
