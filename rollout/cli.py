"""The ``rollout`` command line.

Exit codes: 0 success, 2 bad input or usage (a full disk or an output that cannot be written too), 3 infeasible
plan, 4 a failed ``rollout check``, 1 anything unexpected, 130/143 interrupted by SIGINT/SIGTERM.
Errors print one line (no traceback unless ``--debug``) and leave no half-written output: a plan and its map and
report are written into a staging folder inside the output folder and moved into place together; an interrupt
kills the solver's process group and removes its temp files.
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from gis.errors import InfeasibleError, RolloutError

log = logging.getLogger("rollout")

EXIT_OK, EXIT_UNEXPECTED, EXIT_INPUT, EXIT_INFEASIBLE, EXIT_CHECK_FAILED = 0, 1, 2, 3, 4


def _configure_logging(quiet: bool, verbose: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    start = time.perf_counter()

    class _Fmt(logging.Formatter):
        def format(self, record):
            return f"[{time.perf_counter() - start:6.1f}s] {record.getMessage()}"

    handler.setFormatter(_Fmt())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("pyogrio", "fiona", "matplotlib", "PIL", "urllib3", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _scenario(args):
    from rollout.scenario import load_scenario

    overrides = {}
    if getattr(args, "solver", None):
        overrides["solver.name"] = args.solver
    if getattr(args, "time_limit", None) is not None:
        overrides["solver.time_limit_s"] = args.time_limit
    if getattr(args, "gap", None) is not None:
        overrides["solver.gap_rel"] = args.gap
    if getattr(args, "threads", None) is not None:
        overrides["solver.threads"] = args.threads
    return load_scenario(args.scenario, overrides=overrides)


def _out_dir(args, scenario) -> Path:
    from gis.io import check_writable_dir

    out = Path(args.out) if getattr(args, "out", None) else scenario.path(scenario.output.dir)
    return check_writable_dir(out)


# --------------------------------------------------------------------------- commands

def cmd_scenario_init(args) -> int:
    from gis.io import atomic_write_text
    from rollout.scenario import default_toml

    path = Path(args.path)
    if path.exists() and not args.force:
        raise RolloutError(f"{path}: file exists (use --force to overwrite)")
    atomic_write_text(path, default_toml())
    log.info("wrote %s", path)
    return EXIT_OK


def cmd_layers(args) -> int:
    from gis.build import layers_from_scenario
    from gis.io import staged_dir

    scenario = _scenario(args)
    out = _out_dir(args, scenario)
    layers = layers_from_scenario(scenario)
    gpkg = out / "layers.gpkg"
    with staged_dir(out, replaces=("layers.gpkg", "layers_map.html")) as stage:
        layers.to_gpkg(stage / gpkg.name)
        if not args.no_map:
            from maps.map import write_layers_map

            write_layers_map(stage / gpkg.name, stage / "layers_map.html", title=scenario.plan_title())
    summary = layers.summary()
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    elif not args.quiet:
        _print_table([(k, _fmt(v)) for k, v in summary.items()], ("layer figure", "value"))
        print(f"wrote {gpkg}" + ("" if args.no_map else f" and {out / 'layers_map.html'}"))
    return EXIT_OK


def cmd_validate(args) -> int:
    from rollout.scenario import load_scenario
    from gis.errors import ScenarioError

    problems: list[tuple[str, str, str]] = []
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        for p in getattr(exc, "problems", [str(exc)]):
            problems.append((str(args.scenario or "default scenario"), "", p))
        scenario = None
    if scenario is not None:
        from gis.build import validate_scenario_inputs

        problems.extend(validate_scenario_inputs(scenario))
        if not problems and (scenario.radio.district_min or scenario.radio.district_max):
            problems.extend(_district_key_rows(scenario))
    if not problems:
        if not args.quiet:
            print("no problems found")
        return EXIT_OK
    _print_table([(f or "", fld or "", r) for f, fld, r in problems], ("file", "field", "problem"))
    print(f"{len(problems)} problem{'s' * (len(problems) != 1)} found", file=sys.stderr)
    return EXIT_INPUT


def _district_key_rows(scenario) -> list[tuple[str, str, str]]:
    """``validate`` rows for district floors/ceilings on ids the district layer does not have."""
    from gis.build import load_districts
    from rollout.scenario import district_key_problems

    ids = load_districts(scenario.layer_settings())["district_id"]
    return [(str(scenario.base_dir), "radio", p) for p in district_key_problems(scenario, ids)]


#: what ``plan`` writes; a rerun replaces all of them, so an older run's map is never left beside a new plan
PLAN_OUTPUTS = ("plan.json", "plan.gpkg", "map.html", "report.html")


def _save_plan(plan, out: Path, *, draw: bool) -> None:
    """Save ``plan`` (and draw its map and report) into a staging folder inside ``out``, then move all into place.

    A failure or an interrupt at any point leaves ``out`` as it was; stale outputs of an older run are removed.
    """
    from gis.io import staged_dir

    with staged_dir(out, replaces=PLAN_OUTPUTS) as stage:
        plan.save(stage)
        if draw:
            _draw(stage)
    log.info("wrote %s and %s", out / "plan.json", out / "plan.gpkg")


def cmd_plan(args) -> int:
    from rollout.pipeline import plan_from_scenario
    from rollout.region import is_region_file

    if args.scenario and is_region_file(args.scenario):
        return cmd_plan_region(args)
    used = [f for f, v in (("--only", args.only), ("--resume", args.resume), ("--workers", args.workers),
                           ("--scheduler", args.scheduler)) if v]
    if used:
        raise RolloutError(f"{used[0]} applies to a region scenario (a TOML file with a [region] table)")
    scenario = _scenario(args)
    out = _out_dir(args, scenario)
    plan = plan_from_scenario(scenario)
    _save_plan(plan, out, draw=not args.no_map)
    summary = plan.summary()
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    elif not args.quiet:
        _print_plan(summary, out, drew=not args.no_map)
    return EXIT_OK


# --------------------------------------------------------------------------- region plans

def cmd_plan_region(args) -> int:
    """``rollout plan REGION.toml``: every city on Dask, the regional master, the region folder, map and report."""
    from rollout.region import load_region, plan_region

    only = [c.strip() for c in args.only.split(",") if c.strip()] if args.only else None
    if args.workers is not None and args.workers < 1:
        raise RolloutError(f"--workers {args.workers}: need at least 1")
    solver = {k: v for k, v in (("name", args.solver), ("time_limit_s", args.time_limit), ("gap_rel", args.gap),
                                ("threads", args.threads)) if v is not None}
    region = load_region(args.scenario, only=only, overrides={"solver": solver} if solver else None)
    out = Path(args.out) if args.out else Path("out") / Path(args.scenario).stem
    import distributed  # noqa: F401 - its import sets its loggers' levels; quiet them after it
    for noisy in ("distributed", "tornado", "bokeh"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    summary = plan_region(region, out, resume=args.resume, workers=args.workers, scheduler=args.scheduler,
                          draw_city=None if args.no_map else _draw)
    if not args.no_map:
        from maps.region import write_region_map, write_region_report

        write_region_map(out)
        write_region_report(out)
    if args.json:
        print(json.dumps({k: summary[k] for k in ("totals", "solver", "failed")}, indent=2, ensure_ascii=False))
    elif not args.quiet:
        _print_region(summary, out, drew=not args.no_map)
    for f in summary["failed"]:
        print(f"rollout: city {f['id']} ({f['name']}) failed: {f['errors'][0] if f['errors'] else 'unknown'}",
              file=sys.stderr)
    if not summary["failed"]:
        return EXIT_OK
    crashed = any("infeasible" not in e for f in summary["failed"] for e in f["errors"])
    return EXIT_UNEXPECTED if crashed else EXIT_INFEASIBLE


def _print_region(s: dict, out: Path, drew: bool) -> None:
    _print_table([(c["id"], c["name"], c["level"], _fmt(c["stations_5g"]), _fmt(c["pon_ports"]),
                   _fmt(c["capex_cny"]), "n/a" if c["gap"] is None else f"{c['gap']:.3%}") for c in s["cities"]],
                 ("city", "name", "level", "stations", "ports", "capex_cny", "city_gap"))
    t, sol = s["totals"], s["solver"]
    print()
    _print_table([("cities", _fmt(t["cities"])), ("stations_5g", _fmt(t["stations_5g"])),
                  ("stations_target", _fmt(t["stations_target"])), ("pon_ports", _fmt(t["pon_ports"])),
                  ("ports_target", _fmt(t["ports_target"])), ("capex_cny", _fmt(sol["objective"])),
                  ("bound_cny", _fmt(sol["bound"])), ("gap", "n/a" if sol["gap"] is None else f"{sol['gap']:.3%}"),
                  ("wall_seconds", _fmt(s["run"]["wall_seconds"]))], ("region figure", "value"))
    files = "plan.json, region.gpkg" + (", map.html, report.html" if drew else "")
    print(f"\nwrote {files} and one plan folder per city (cities/<id>) to {out}")


def cmd_radio(args) -> int:
    """The link-budget table of the scenario: type, band, clutter, MAPL and the radius the plan uses."""
    from rollout.radio_plan import radio_summary

    scenario = _scenario(args)
    radio = radio_summary(scenario)
    if args.json:
        print(json.dumps(radio, indent=2, ensure_ascii=False))
    elif not args.quiet:
        rows = [(r["type"], f"{r['band_mhz']:g}", r["clutter"], f"{r['mapl_db']:.1f}", f"{r['radius_m']:,.0f}")
                for r in radio["link_budget"]]
        _print_table(rows, ("type", "band_mhz", "clutter", "mapl_db", "radius_m"))
        print(f"cell-edge RSRP threshold {radio['threshold_dbm']:g} dBm; {radio['counting']}")
    return EXIT_OK


def _draw(out: Path) -> None:
    from maps.map import write_map
    from maps.report import write_report

    t = time.perf_counter()
    write_map(out)
    write_report(out)
    log.info("drew map.html and report.html in %.1f s", time.perf_counter() - t)


def cmd_map(args) -> int:
    from maps.map import write_map

    path = write_map(Path(args.dir))
    if not args.quiet:
        print(f"wrote {path}")
    return EXIT_OK


def cmd_report(args) -> int:
    from maps.report import write_report

    path = write_report(Path(args.dir))
    if not args.quiet:
        print(f"wrote {path}")
    return EXIT_OK


def cmd_export(args) -> int:
    from maps.export import export_plan

    paths = export_plan(Path(args.dir), args.format, out_dir=Path(args.out) if args.out else None)
    if args.json:
        print(json.dumps([str(p) for p in paths]))
    elif not args.quiet:
        for p in paths:
            print(f"wrote {p}")
    return EXIT_OK


def cmd_check(args) -> int:
    from rollout.check import check_plan

    checks = check_plan(Path(args.dir))
    if args.json:
        print(json.dumps([{"check": c.name, "ok": c.ok, "detail": c.detail} for c in checks], indent=2))
    elif not args.quiet:
        _print_table([("ok" if c.ok else "FAIL", c.name, c.detail) for c in checks], ("", "check", "detail"))
    failed = [c.name for c in checks if not c.ok]
    if failed:
        print(f"rollout: {len(failed)} check(s) failed: {', '.join(failed)}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    return EXIT_OK


def cmd_compare(args) -> int:
    from gis.io import check_writable_dir
    from maps.compare import write_comparison

    out = check_writable_dir(args.out)
    path = write_comparison([Path(d) for d in args.dirs], out)
    if not args.quiet:
        print(f"wrote {path}")
    return EXIT_OK


def parse_param(text: str) -> tuple[str, list]:
    """'pon.split_ratio=32,64,128' -> ('pon.split_ratio', [32, 64, 128])."""
    if "=" not in text:
        raise RolloutError(f"--param {text!r}: expected KEY=V1,V2,... (e.g. pon.split_ratio=32,64,128)")
    key, _, raw = text.partition("=")
    values = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        low = item.lower()
        if low in ("true", "false"):
            values.append(low == "true")
            continue
        try:
            values.append(int(item))
        except ValueError:
            try:
                values.append(float(item))
            except ValueError:
                values.append(item)
    if not key.strip() or not values:
        raise RolloutError(f"--param {text!r}: expected KEY=V1,V2,... with at least one value")
    return key.strip(), values


def sweep_folder_name(key: str, value) -> str:
    """The folder of one sweep variant, ``KEY=VALUE`` made safe: one path component, never ``..``, no controls.

    Path separators, control and bidi characters and anything outside letters, digits and ``._=+-,`` become
    ``_``; leading dots are dropped, so the folder always lies directly inside ``--out``.
    """
    import re

    from gis.validate import clean_text

    name = re.sub(r"[^\w.=+,-]", "_", clean_text(f"{key}={value}"), flags=re.ASCII).lstrip(".")
    return name[:120] or "variant"


def cmd_sweep(args) -> int:
    from gis.io import check_writable_dir
    from maps.compare import write_comparison
    from rollout.pipeline import plan_from_scenario
    from rollout.scenario import load_scenario

    key, values = parse_param(args.param)
    base = _scenario(args)  # validates the base scenario and the CLI overrides first
    overrides = {k: v for k, v in (("solver.name", args.solver), ("solver.time_limit_s", args.time_limit),
                                   ("solver.gap_rel", args.gap), ("solver.threads", args.threads)) if v is not None}
    variants = [load_scenario(args.scenario, overrides={**overrides, key: v}) for v in values]  # all valid before solving
    out = check_writable_dir(args.out or base.path(base.output.dir))
    dirs = []
    names = [sweep_folder_name(key, v) for v in values]
    names = [n if names.index(n) == i else f"{n}-{i + 1}" for i, n in enumerate(names)]  # values that clean alike
    for v, sc, name in zip(values, variants, names, strict=True):
        d = check_writable_dir(out / name)
        log.info("sweep %s = %s", key, v)
        plan = plan_from_scenario(sc)
        _save_plan(plan, d, draw=not args.no_map)
        dirs.append(d)
    path = write_comparison(dirs, out, labels=[f"{key}={v}" for v in values], title=f"{base.plan_title()}: sweep of {key}",
                            param=key, values=values)
    if not args.quiet:
        print(f"wrote {len(dirs)} plans and {path}")
    return EXIT_OK


# --------------------------------------------------------------------------- printing

def _fmt(v) -> str:
    if isinstance(v, float):
        if v != v:
            return "n/a"
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.4g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def _print_table(rows, header) -> None:
    rows = [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def _plan_row(sol: dict) -> tuple:
    """The whole plan's row: its capex (budget mode: what it maximises) against the proven bound."""
    return ("whole plan", sol.get("name"), sol.get("status"), _fmt(sol.get("objective")), _fmt(sol.get("bound")),
            "n/a" if sol.get("gap") is None else f"{sol['gap']:.3%}", f"{sol.get('seconds', 0):.1f}")


def _print_plan(s: dict, out: Path, drew: bool) -> None:
    t, sol = s.get("totals", {}), s.get("solver", {})
    rows = [(k, _fmt(v)) for k, v in t.items() if not isinstance(v, (dict, list))]
    cov = s.get("coverage", {})
    rows += [(f"coverage.{k}", _fmt(v)) for k, v in cov.items() if not isinstance(v, (dict, list))]
    _print_table(rows, ("plan figure", "value"))
    print()
    parts = sol.get("parts", {}) or {}
    _print_table([(p, v.get("name"), v.get("status"), _fmt(v.get("objective")), _fmt(v.get("bound")),
                   "n/a" if v.get("gap") is None else f"{v['gap']:.3%}", f"{v.get('seconds', 0):.1f}")
                  for p, v in parts.items()] + [_plan_row(sol)],
                 ("part", "solver", "status", "objective_cny", "bound_cny", "gap", "seconds"))
    files = "plan.json, plan.gpkg" + (", map.html, report.html" if drew else "")
    print(f"\nwrote {files} to {out}")


# --------------------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    # long on purpose: one flat declaration of every sub-command and flag reads better than pieces
    def flags(parser, default):
        parser.add_argument("-q", "--quiet", action="store_true", default=default, help="print only errors")
        parser.add_argument("-v", "--verbose", action="store_true", default=default, help="debug logging")
        parser.add_argument("--debug", action="store_true", default=default,
                            help="show tracebacks of unexpected errors")
        return parser

    # sub-commands accept the flags too, without overwriting ones given before the command
    common = flags(argparse.ArgumentParser(add_help=False), argparse.SUPPRESS)
    p = flags(argparse.ArgumentParser(
        prog="rollout",
        description="Plan a 5G and 10G-PON rollout: where, in which year, at what cost. "
                    "Without a SCENARIO file the embedded Qingdao default is used."), False)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sc = sub.add_parser("scenario", parents=[common], help="scenario files", description="Scenario files.")
    scs = sc.add_subparsers(dest="scenario_command", metavar="ACTION", required=True)
    init = scs.add_parser("init", parents=[common], help="write a fully commented default scenario",
                          description="Write a fully commented default scenario TOML. Its head lists the files "
                                      "another city needs and their required and optional columns: district "
                                      "polygons (id column, geometry), a district table (id column, population; "
                                      "optional name_zh, name_en, households, area_km2) and, advised, urban cores "
                                      "(id column, lon, lat[, weight]).")
    init.add_argument("path", help="where to write the TOML file")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(func=cmd_scenario_init)

    def scenario_arg(sp):
        sp.add_argument("scenario", nargs="?", default=None, help="scenario TOML (default: embedded Qingdao)")

    def solver_args(sp):
        sp.add_argument("--solver", choices=("cbc", "highs"), help="override solver.name")
        sp.add_argument("--time-limit", type=float, metavar="S", help="override solver.time_limit_s")
        sp.add_argument("--gap", type=float, metavar="G", help="override solver.gap_rel (e.g. 0.005)")
        sp.add_argument("--threads", type=int, metavar="N", help="override solver.threads")

    def region_args(sp):
        g = sp.add_argument_group("region scenarios (a TOML file with a [region] table)")
        g.add_argument("--only", metavar="ID,ID", help="plan only these city ids, e.g. 370200,370300")
        g.add_argument("--resume", action="store_true", help="reuse the city plans already saved in --out")
        g.add_argument("--workers", type=int, metavar="N", help="local Dask workers (default: one per core)")
        g.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://10.0.0.5:8786")

    lay = sub.add_parser("layers", parents=[common], help="build and write the input layers and their map",
                         description="Build the validated input layers (districts, demand cells, candidate sites, "
                                     "offices, pair table) and write layers.gpkg and layers_map.html.")
    scenario_arg(lay)
    lay.add_argument("--out", metavar="DIR", help="output folder (default: scenario output.dir)")
    lay.add_argument("--no-map", action="store_true", help="skip layers_map.html")
    lay.add_argument("--json", action="store_true", help="print the summary as JSON")
    lay.set_defaults(func=cmd_layers)

    val = sub.add_parser("validate", parents=[common], help="check a scenario and its input files",
                         description="Check the scenario and every input layer; print a table of every problem.")
    scenario_arg(val)
    val.set_defaults(func=cmd_validate)

    pl = sub.add_parser("plan", parents=[common], help="solve the plan and write plan, map and report",
                        description="Build the layers, solve the 5G and PON integer programs and write "
                                    "plan.json, plan.gpkg, map.html and report.html.")
    scenario_arg(pl)
    pl.add_argument("--out", metavar="DIR", help="output folder (default: scenario output.dir)")
    solver_args(pl)
    pl.add_argument("--no-map", action="store_true", help="skip map.html and report.html")
    pl.add_argument("--json", action="store_true", help="print plan.json's summary to stdout")
    region_args(pl)
    pl.set_defaults(func=cmd_plan)

    ra = sub.add_parser("radio", parents=[common], help="print the link-budget table (type, band, clutter, MAPL, radius)",
                        description="Print the downlink link budget of every station type on its band in every clutter "
                                    "class: maximum allowable path loss and the planning radius (TR 38.901 inverted, "
                                    "or the scenario's explicit radius_m). Exit 2 on a bad band or threshold.")
    scenario_arg(ra)
    ra.add_argument("--json", action="store_true", help="print plan.json's radio section as JSON")
    ra.set_defaults(func=cmd_radio)

    mp = sub.add_parser("map", parents=[common], help="redraw map.html from a saved plan",
                        description="Redraw DIR/map.html from DIR/plan.json and DIR/plan.gpkg without solving.")
    mp.add_argument("dir", help="folder of a saved plan")
    mp.set_defaults(func=cmd_map)

    rp = sub.add_parser("report", parents=[common], help="redraw report.html from a saved plan",
                        description="Redraw DIR/report.html from a saved plan without solving.")
    rp.add_argument("dir", help="folder of a saved plan")
    rp.set_defaults(func=cmd_report)

    ex = sub.add_parser("export", parents=[common], help="export stations, OLT sites and links",
                        description="Export a saved plan's stations, OLT sites and links for GIS tools.")
    ex.add_argument("dir", help="folder of a saved plan")
    ex.add_argument("--format", required=True, choices=("gpkg", "geojson", "csv", "kml"))
    ex.add_argument("--out", metavar="DIR", help="output folder (default: DIR/export)")
    ex.add_argument("--json", action="store_true", help="print the written paths as JSON")
    ex.set_defaults(func=cmd_export)

    ck = sub.add_parser("check", parents=[common], help="recompute a saved plan's invariants",
                        description="Recompute a saved plan's invariants from the scenario stored in "
                                    "DIR/plan.json, the geometry of DIR/plan.gpkg and the scenario's district inputs, "
                                    "independently of the solver: k-fold coverage, station capacity, targets, ports >= "
                                    "lines / split, chassis limits, optical reach of feeders and backhaul, containment, "
                                    "district population, capex = counts x unit prices, yearly figures. Exit 4 when "
                                    "a check fails, 2 when the plan cannot be read.")
    ck.add_argument("dir", help="folder of a saved plan")
    ck.add_argument("--json", action="store_true", help="print the checks as JSON")
    ck.set_defaults(func=cmd_check)

    cp = sub.add_parser("compare", parents=[common], help="compare saved plans in one report",
                        description="Compare saved plans: cost, stations, ports, coverage and per-district differences.")
    cp.add_argument("dirs", nargs="+", metavar="DIR", help="folders of saved plans (the first is the baseline)")
    cp.add_argument("--out", required=True, metavar="DIR", help="where to write compare.html and compare.json")
    cp.set_defaults(func=cmd_compare)

    sw = sub.add_parser("sweep", parents=[common], help="plan variants of one scenario value and compare them",
                        description="Plan one variant per value of a numeric scenario key and write a comparison "
                                    "with curves of cost and KPIs, e.g. --param pon.split_ratio=32,64,128.")
    scenario_arg(sw)
    sw.add_argument("--param", required=True, metavar="KEY=V1,V2,...", help="scenario key and its values")
    sw.add_argument("--out", metavar="DIR", help="output folder (default: scenario output.dir)")
    solver_args(sw)
    sw.add_argument("--no-map", action="store_true", help="skip each variant's map.html and report.html")
    sw.set_defaults(func=cmd_sweep)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag in ("quiet", "verbose", "debug", "json"):
        if not hasattr(args, flag):
            setattr(args, flag, False)
    _configure_logging(args.quiet or args.json, args.verbose)
    previous = _install_signal_handlers()
    try:
        return int(args.func(args) or 0)
    except InfeasibleError as exc:
        print(f"rollout: infeasible: {exc}", file=sys.stderr)
        return EXIT_INFEASIBLE
    except RolloutError as exc:
        print(f"rollout: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a full disk, a folder where a file should go, a file that vanished
        print(f"rollout: error: {exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt as exc:
        if "rollout.solve" in sys.modules:  # solves in worker threads too
            sys.modules["rollout.solve"].kill_solver_children()
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        print(f"rollout: interrupted by {signal.Signals(signum).name}; no output written", file=sys.stderr)
        return 128 + int(signum)
    except Exception as exc:  # noqa: BLE001 - the one place that turns surprises into one line
        if args.debug:
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(f"rollout: unexpected error: {type(exc).__name__}: {first} (run with --debug for details)", file=sys.stderr)
        return EXIT_UNEXPECTED
    finally:
        _restore_signal_handlers(previous)


# --------------------------------------------------------------------------- signals

class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised in the main thread so every ``finally`` (solver child, temp files) runs."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _on_signal(signum, frame):
    for s in _SIGNALS:  # a second signal must not interrupt the clean-up of the first
        signal.signal(s, signal.SIG_IGN)
    raise Interrupted(signum)


def _install_signal_handlers() -> dict:
    """Turn SIGINT/SIGTERM into :class:`Interrupted` (main thread only); return the handlers replaced."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.signal(s, _on_signal) for s in _SIGNALS}


def _restore_signal_handlers(previous: dict) -> None:
    for s, handler in previous.items():
        signal.signal(s, handler)


if __name__ == "__main__":
    sys.exit(main())
