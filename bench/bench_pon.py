"""Benchmark of the 10G-PON model: size, build and solve seconds, gap, ports, OLT sites.

Run: ``python -m bench.bench_pon`` (prints a JSON dict; ``run()`` returns it).
Options: ``--highs`` (solver), ``--synthetic`` (skip the Qingdao layers),
``--edge-scale 0.5`` (a synthetic grid with 4x the cells), ``--threads N`` (solver threads; default
the scenario's, 1), ``-v`` (log).

On the Qingdao default the existing plant is *modelled* (``pon.existing_plant``): the figures
``olt_sites_new`` / ``olt_sites_upgraded`` and ``existing_plant`` say what the plan did with it.

The PON solve (homing, OLT sites, ports) is timed on its own (``solve_seconds``, ``gap``); the ODN
behind it (cabinet siting, feeder trees, optical budget; :mod:`rollout.model_odn`) is reported under
``odn``: its solve seconds, the feeder tree against the star of straight feeders x route factor, the
worst path loss against the budget, and the bill of quantities.

If :func:`gis.build.layers_from_scenario` builds the Qingdao
default layers, the PON model runs on them (with the default scenario's solver
settings). Otherwise a *synthetic* instance of Qingdao's size is generated: an
adaptive square grid (6 km rural, 2.4 km suburban, 0.9 km urban, 0.3 km dense
urban cells) over a 120 x 110 km box, density decaying around the eleven
district seats of DOMAIN.md, about 3.5 million ONTs, 320 candidate OLT sites
(120 brownfield with existing ports), and about 15,000 new 5G stations whose
backhaul rides the PON plant. The synthetic instance says so in its output.

If the Qingdao layers leave demand cells with no OLT candidate in reach (the
plan itself then stops with exit 3, family ``reach``), the benchmark reports
that diagnosis and times the model without those cells
(``excluded_unreachable_cells``).
"""
from __future__ import annotations

import json
import logging
import sys
import time

import numpy as np

from gis.errors import InfeasibleError
from rollout.model_pon import PonInput, solve_pon
from rollout.scenario import Scenario

# DOMAIN.md section 1: approximate district seats (lon, lat) and a relative weight
CORES = [(120.38, 36.07, 1.0), (120.37, 36.09, 1.6), (120.42, 36.16, 1.0), (120.47, 36.10, 0.7),
         (120.39, 36.31, 1.2), (120.17, 35.97, 1.4), (120.00, 35.88, 0.8), (120.45, 36.39, 0.9),
         (120.01, 36.28, 0.8), (119.96, 36.79, 0.7), (120.53, 36.87, 0.5)]


def synthetic_input(scenario: Scenario | None = None, *, seed: int = 0, onts_total: float = 3.5e6,
                    candidates: int = 320, existing: int = 120, stations: int = 15000,
                    edge_scale: float = 1.0) -> PonInput:
    """A synthetic PON instance of Qingdao's size (see the module docstring).

    ``edge_scale`` scales every cell edge: 1.0 gives about 4,900 cells, 0.5
    about 18,000 (the upper end of what the adaptive grid may produce).
    """
    from pyproj import Transformer

    scenario = scenario or Scenario()
    rng = np.random.default_rng(seed)
    tr = Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True)
    core_xy = np.column_stack(tr.transform([c[0] for c in CORES], [c[1] for c in CORES]))
    weight = np.array([c[2] for c in CORES])
    lo, hi = core_xy.min(axis=0) - 20000, core_xy.max(axis=0) + 20000

    def density(xy):  # people per km2
        d = np.hypot(xy[:, None, 0] - core_xy[None, :, 0], xy[:, None, 1] - core_xy[None, :, 1]) / 1000.0
        return 200.0 + (weight[None, :] * 25000.0 * np.exp(-d / 3.0)).sum(axis=1)

    xy, clutter, area = _adaptive_grid(lo, hi, density, edge_scale)
    pop = density(xy) * area * rng.lognormal(0.0, 0.3, len(xy))
    onts = np.round(pop / pop.sum() * onts_total)
    site_xy, is_existing, ex_ports = _olt_candidates(rng, xy, onts, lo, hi, candidates=candidates, existing=existing)
    st = rng.poisson(pop / pop.sum() * stations)
    return PonInput(cell_id=[f"c{i}" for i in range(len(xy))], cell_xy_m=xy, onts=onts, clutter=clutter,
                    site_id=[f"o{j}" for j in range(candidates)], site_xy_m=site_xy, settings=scenario.pon,
                    existing=is_existing, existing_ports=ex_ports, backhaul_stations=st,
                    backhaul_cost_cny_per_km=scenario.radio.backhaul_cost_cny_per_km)


def _adaptive_grid(lo: np.ndarray, hi: np.ndarray, density, edge_scale: float):
    """Square cells over the box ``lo``..``hi`` (metres): (centres, clutter, area_km2).

    A square is split in 4 (about 2.5x smaller edge per class) while its density exceeds its class's limit.
    """
    levels = [(6000.0 * edge_scale, 500.0, "rural"), (2400.0 * edge_scale, 3000.0, "suburban"),
              (900.0 * edge_scale, 10000.0, "urban"), (300.0 * edge_scale, None, "dense_urban")]
    xs = np.arange(lo[0], hi[0], levels[0][0]) + levels[0][0] / 2
    ys = np.arange(lo[1], hi[1], levels[0][0]) + levels[0][0] / 2
    pts = np.array([(x, y) for x in xs for y in ys])
    cells_xy, cells_cl, cells_area = [], [], []
    for li, (edge, split_above, clutter) in enumerate(levels):
        leaf = np.ones(len(pts), dtype=bool) if split_above is None else density(pts) < split_above
        cells_xy.append(pts[leaf])
        cells_cl += [clutter] * int(leaf.sum())
        cells_area.append(np.full(int(leaf.sum()), (edge / 1000.0) ** 2))
        if split_above is None:
            break
        per = int(round(edge / levels[li + 1][0]))
        offs = (np.arange(per) - (per - 1) / 2) * (edge / per)
        pts = (pts[~leaf][:, None, None, :] + np.stack(np.meshgrid(offs, offs), axis=-1)[None]).reshape(-1, 2)
    return np.concatenate(cells_xy), np.array(cells_cl, dtype=object), np.concatenate(cells_area)


def _olt_candidates(rng, xy: np.ndarray, onts: np.ndarray, lo: np.ndarray, hi: np.ndarray, *, candidates: int,
                    existing: int):
    """Candidate OLT sites: an 18 km lattice (every point within 12.7 km straight, inside reach) plus offices
    drawn where the ONTs are; ``existing`` of the drawn ones are brownfield with ports. (site_xy, existing, ports)
    """
    lx, ly = np.meshgrid(np.arange(lo[0] + 9000, hi[0] + 9000, 18000.0), np.arange(lo[1] + 9000, hi[1] + 9000, 18000.0))
    rural = np.column_stack([lx.ravel(), ly.ravel()])
    n_rural = len(rural)
    if candidates < n_rural + existing:
        raise ValueError(f"candidates must be at least {n_rural + existing} (lattice + existing)")
    urban = xy[rng.choice(len(xy), candidates - n_rural, replace=False, p=onts / onts.sum())]
    site_xy = np.concatenate([urban, rural]) + rng.normal(0, 150, (candidates, 2))
    is_existing = np.zeros(candidates, dtype=bool)
    is_existing[rng.choice(candidates - n_rural, existing, replace=False)] = True
    return site_xy, is_existing, np.where(is_existing, rng.integers(64, 400, candidates), 0)


def _qingdao_input(scenario: Scenario):
    """The Qingdao default layers, or None (with the reason) when the build fails."""
    from gis.build import layers_from_scenario

    try:
        t0 = time.perf_counter()
        layers = layers_from_scenario(scenario)
        return (PonInput.from_layers(layers, scenario), time.perf_counter() - t0), ""
    except Exception as exc:  # noqa: BLE001 - a benchmark reports and falls back
        return None, f"layers_from_scenario failed: {type(exc).__name__}: {exc}"


def run(*, solver: str | None = None, gap_rel: float | None = None, synthetic: bool = False,
        edge_scale: float = 1.0, threads: int | None = None) -> dict:
    """Solve the PON model once and return its figures.

    ``synthetic`` forces the synthetic instance; ``edge_scale`` sizes it.
    """
    scenario = Scenario()
    sv = scenario.solver
    got, why = (None, "synthetic requested") if synthetic else _qingdao_input(scenario)
    if got is None:
        t0 = time.perf_counter()
        inp = synthetic_input(scenario, edge_scale=edge_scale)
        instance, layers_s = f"synthetic Qingdao-size instance ({why})", time.perf_counter() - t0
    else:
        (inp, layers_s), instance = got, "Qingdao default layers"
    kw = dict(solver=solver or sv.name, time_limit_s=sv.time_limit_s, gap_rel=sv.gap_rel if gap_rel is None else gap_rel,
              threads=threads or sv.threads, seed=scenario.seed, odn=True)
    excluded, diagnosis = [], ""
    t0 = time.perf_counter()
    try:
        res = solve_pon(inp, **kw)
    except InfeasibleError as exc:
        if exc.family != "reach":
            raise
        # the plan proper stops here (exit 3); for the timing, leave the unreachable cells out and say so
        diagnosis, excluded = str(exc), list(exc.items)
        out = np.isin(inp.cell_id, excluded)
        inp.onts[out] = 0.0
        inp.backhaul_stations[out] = 0.0
        res = solve_pon(inp, **kw)
    wall = time.perf_counter() - t0
    st = res.solves[0]
    return {
        "instance": instance,
        "diagnosis": diagnosis, "excluded_unreachable_cells": excluded,
        "cells": int(inp.n_cells), "cells_homed": res.pon["cells_homed"], "candidates": int(inp.n_sites),
        "pairs": res.pon["pairs"], "onts": res.totals["onts"],
        "variables": st.variables, "integer_variables": st.integer_variables, "constraints": st.constraints,
        "nonzeros": st.nonzeros,
        "solver": st.name, "status": st.status, "gap": st.gap, "gap_rel_requested": st.gap_rel_requested,
        "input_seconds": round(layers_s, 2), "build_seconds": st.build_seconds, "solve_seconds": st.seconds,
        "total_seconds": round(wall, 2),
        "pon_ports": res.totals["pon_ports"], "ports_needed": res.pon["ports_needed"],
        "target_ports": res.pon["target_ports"], "olt_sites": res.totals["olt_sites"],
        "olt_sites_new": res.totals["olt_sites_new"],
        "olt_sites_upgraded": res.pon["bill_of_quantities"]["olt_sites_upgraded"],
        "existing_plant": res.pon.get("existing_plant"), "surplus": res.pon["surplus"],
        "solve_seconds_pon_and_odn": round(st.seconds + sum(s.seconds for s in res.solves if s.part == "odn"), 2),
        "max_route_km": round(res.pon["max_route_km"], 2), "capex_cny": round(res.totals["capex_cny"]),
        "capex_parts_cny": {k: round(res.totals[k]) for k in ("site_cny", "chassis_cny", "ports_cny", "feeder_cny",
                                                              "distribution_cny", "cabinet_cny", "splitter_cny",
                                                              "backhaul_cny")},
        "odn": _odn_figures(res),
    }


def _odn_figures(res) -> dict:
    """The ODN's solve, trench against the star, worst loss against the budget, bill of quantities."""
    odn = next((s for s in res.solves if s.part == "odn"), None)
    f = res.pon["odn"]
    prim = res.splitters[res.splitters["kind"] == "primary"] if res.splitters is not None else None
    per_cab = float(prim["count"].sum() / prim["cabinets"].sum()) if prim is not None and len(prim) else None
    return {"solve_seconds": odn.seconds if odn else 0.0, "status": odn.status if odn else None,
            "gap": odn.gap if odn else None, "build_seconds": odn.build_seconds if odn else None,
            "variables": odn.variables if odn else None, "notes": odn.notes if odn else "",
            "optics_class": f["optics_class"], "mode": f["mode"], "reach_km": f["reach_km"],
            "cabinet_positions": f["cabinet_positions"], "cabinets": f["cabinets"],
            "primaries_per_cabinet": None if per_cab is None else round(per_cab, 2),
            "feeder_tree_km": round(f["feeder_km"], 1), "cabinet_star_km": round(f["cabinet_star_km"], 1),
            "star_km": round(f["star_km"], 1), "mst_km": round(f["mst_km"], 1), "rehung_for_budget": f["rehung"],
            "trench_km": round(res.pon["bill_of_quantities"]["trench_km"], 1),
            "trench_below_star": res.pon["bill_of_quantities"]["trench_km"] < f["star_km"],
            "max_path_km": round(f["max_path_km"], 2), "max_loss_over_budget_db": f["max_loss_over_budget_db"],
            "bill_of_quantities": res.pon["bill_of_quantities"]}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO if "-v" in argv else logging.WARNING, format="%(name)s: %(message)s")
    solver = "highs" if "--highs" in argv else None
    scale = float(argv[argv.index("--edge-scale") + 1]) if "--edge-scale" in argv else 1.0
    threads = int(argv[argv.index("--threads") + 1]) if "--threads" in argv else None
    out = run(solver=solver, synthetic="--synthetic" in argv or "--edge-scale" in argv, edge_scale=scale,
              threads=threads)
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
