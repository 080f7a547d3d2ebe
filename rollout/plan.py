"""The plan: a plain results object that saves to and loads from files.

A saved plan is two files in one folder:

* ``plan.json``: the machine-readable summary (totals, coverage, PON figures,
  per-district rows, solver statistics, the scenario and the folder its relative
  input paths resolve against (``scenario_dir``: absolute, so that a plan folder can be
  moved and still checked; the one machine path in the file), the demand source);
* ``plan.gpkg``: the layers (``stations``, ``olt_sites``, ``links``,
  ``districts``, ``demand``), all in WGS-84.

Maps, reports and exports read only these files, never solver objects.

Layer columns (units in names)
------------------------------
stations : site_id, district_id, district, type (macro|small), count, new (bool),
    capex_cny (equipment + backhaul), equipment_cny, backhaul_km, backhaul_cny,
    backhaul_to (office_id), clutter, carried_mbps, capacity_mbps, utilisation,
    build_year (int, 0 = existing / single period), lon, lat
olt_sites : office_id, district_id, district, new (bool), ports, ports_new, chassis,
    onts, capex_cny, site_cny, chassis_cny, ports_cny, build_year, lon, lat
links : kind (feeder|distribution|backhaul), from_id, to_id, straight_km, route_km, capex_cny, olt_id,
    carrier (backhaul: pon|ring) (LineStrings; feeder = one edge of an OLT's feeder tree, from the OLT
    or a cabinet to a cabinet; distribution = cabinet -> demand cell centroid; backhaul = station -> OLT/office;
    plans without an ODN: feeder = demand cell centroid -> OLT)
splitters (optional) : splitter_id, olt_id, kind (primary|secondary), ratio ("1:8"), lines, count
    (splitters at that point), cabinet_id, cabinets, district_id (points)
districts : district_id, name_zh, name_en, population, households, area_km2,
    stations_5g, stations_5g_new, pon_ports, olt_sites, capex_cny,
    population_covered_share (polygons)
demand : cell_id, district_id, clutter, population, households, traffic_mbps, onts,
    radius_m, covered (bool), stations_within (int: stations, all units, within the cell's radius
    of its planning point, counted on the geometry), olt_id (hexagons)
rsrp (optional) : h3, district_id, clutter, population, area_km2, rsrp_dbm, covered (bool)
    (points of the post-solve best-server evaluation lattice)

``plan.json["radio"]`` (optional): ``link_budget`` = [{type, band_mhz, clutter, mapl_db, radius_m}],
``threshold_dbm``, ``bands_mhz``, ``counting`` (what counts as one station).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from gis.errors import InputError, OutputError
from gis.io import fixed_gpkg_timestamp, gpkg_layer_names

PLAN_JSON = "plan.json"
PLAN_GPKG = "plan.gpkg"
LAYERS = ("stations", "olt_sites", "links", "districts", "demand")
#: layers a plan may have (saved when present, loaded when the GeoPackage holds them)
ODN_LAYERS = ("splitters",)
#: every optional layer: saved when the plan has it, loaded as None when absent
OPTIONAL_LAYERS = (*ODN_LAYERS, "rsrp")
FORMAT_VERSION = 1

STATUSES = ("optimal", "feasible", "infeasible", "no_solution")


@dataclass
class SolveStats:
    """What one solve proved, and nothing else. ``status`` is one of ``STATUSES``.

    ``optimal`` only when the solver proved optimality within ``gap_rel_requested``;
    ``feasible`` when it stopped (time limit) with an incumbent: ``gap`` and
    ``bound`` say how far from proven. ``objective`` and ``bound`` are the solver's,
    in the model's own unit (CNY for the cost models; Mbit/s for ``5g_headroom``):
    a plan's capex is reported separately (``Plan.totals``), recomputed from the plan.
    """

    part: str                      # "5g" | "pon" | "phasing" | ...
    name: str                      # "cbc" | "highs"
    status: str
    objective: float | None = None  # the solver's objective value (model unit)
    bound: float | None = None      # best proven bound on it (a lower bound when minimising)
    gap: float | None = None        # |objective - bound| / |objective|
    seconds: float = 0.0            # solve wall time
    build_seconds: float = 0.0      # model construction wall time
    variables: int = 0
    integer_variables: int = 0
    constraints: int = 0
    nonzeros: int = 0
    time_limit_s: float | None = None
    gap_rel_requested: float | None = None
    iterations: int = 1             # e.g. joint 5G/PON fixed-point rounds
    notes: str = ""


def _clean(x):
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


#: auxiliary stages (their objectives are not the plan's capex): the 5G stage that maximises headroom and the
#: 5G solve at the cheapest backhaul prices that only bounds the joint plan
AUXILIARY_SUFFIXES = ("_headroom", "_bound", "_coverage")   # stages whose cost is inside a main part
#: parts whose objective is not a capex either, though their failure is the plan's (the phasing schedule)
SCHEDULE_PARTS = ("phasing",)


def is_auxiliary(part: str) -> bool:
    return part.endswith(AUXILIARY_SUFFIXES)


#: what ``solver.objective`` means when a plan records no ``extra.plan_bound``
CAPEX_MEANING = "the plan's capex [CNY] (totals.capex_cny)"


def plan_gap(objective: float | None, bound: float | None, sense: str = "min") -> float | None:
    """Relative gap between a plan's objective and a proven bound on the best plan (>= 0; None without both)."""
    if objective is None or bound is None:
        return None
    if not objective:
        return 0.0 if abs(bound) < 1e-6 else None
    diff = objective - bound if sense == "min" else bound - objective
    return max(0.0, diff / abs(objective))


def _plan_status(counted: list[SolveStats], gap: float | None, gap_rel: float) -> str:
    """``optimal`` only when the plan itself is proven within the requested gap; else the worst part's status."""
    order = {s: i for i, s in enumerate(STATUSES)}
    worst = max((p.status for p in counted), key=lambda s: order.get(s, 99))
    if worst in ("infeasible", "no_solution"):
        return worst
    return "optimal" if gap is not None and gap <= gap_rel + 1e-9 else "feasible"


def combine_stats(parts: list[SolveStats], *, objective: float | None = None, bound: float | None = None,
                  meaning: str = CAPEX_MEANING, method: str = "", sense: str = "min") -> dict:
    """The plan-level solver summary: what is proven about the *plan*, and every part's own figures.

    ``objective`` is the plan's figure of merit (its capex, ``totals.capex_cny``, for every mode but budget
    mode), ``bound`` a proven bound on the best plan under the same rules (a lower bound on capex: see
    ``extra.plan_bound.method``), ``gap`` their relative distance. ``status`` is ``optimal`` only when that gap
    is within the requested gap (and no part failed); otherwise ``feasible`` (or the failing part's status).
    A joint 5G + PON plan is a heuristic's answer: its gap is measured against a valid bound, never assumed 0.
    Each part's figures stay in ``parts`` in their own model's unit; ``parts_objective_sum`` and
    ``parts_bound_sum`` add up the non-auxiliary parts (they double-count the station backhaul when the PON
    part homes it, so they are not the plan's capex).
    """
    if not parts:
        return {"name": None, "status": "no_solution", "objective": objective, "bound": bound,
                "gap": plan_gap(objective, bound, sense), "meaning": meaning, "bound_method": method, "seconds": 0.0}
    # an auxiliary stage proven infeasible is an answer, not a failure (e.g. the headroom stage
    # proving that the target does not bind); it does not make the plan infeasible
    counted = [p for p in parts if not (is_auxiliary(p.part) and p.status == "infeasible")] or parts
    main = [p for p in parts if not (is_auxiliary(p.part) or p.part in SCHEDULE_PARTS)] or parts
    gap = plan_gap(objective, bound, sense)
    gap_rel = max((p.gap_rel_requested or 0.0) for p in main)
    return {
        "name": "+".join(sorted({p.name for p in parts})),
        "status": _plan_status(counted, gap, gap_rel),
        "objective": objective,
        "bound": bound,
        "gap": gap,
        "gap_rel_requested": gap_rel,
        "meaning": meaning,
        "bound_method": method,
        "seconds": round(sum(p.seconds for p in parts), 3),
        "build_seconds": round(sum(p.build_seconds for p in parts), 3),
        "variables": sum(p.variables for p in parts),
        "constraints": sum(p.constraints for p in parts),
        "nonzeros": sum(p.nonzeros for p in parts),
        "objective_parts": [p.part for p in main],
        "parts_objective_sum": sum(p.objective for p in main) if all(p.objective is not None for p in main) else None,
        "parts_bound_sum": sum(p.bound for p in main) if all(p.bound is not None for p in main) else None,
        "parts": {p.part: _clean(asdict(p)) for p in parts},
    }


@dataclass
class Plan:
    title: str
    stations: gpd.GeoDataFrame
    olt_sites: gpd.GeoDataFrame
    links: gpd.GeoDataFrame
    districts: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    totals: dict = field(default_factory=dict)
    coverage: dict = field(default_factory=dict)
    pon: dict = field(default_factory=dict)
    solves: list[SolveStats] = field(default_factory=list)
    demand_source: str = ""
    scenario: dict = field(default_factory=dict)
    years: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)   # e.g. joint-vs-sequential comparison, model sizes, layer stats
    scenario_dir: str = ""  # folder the scenario's relative input paths resolve against (for ``rollout check``)
    splitters: gpd.GeoDataFrame | None = None  # ODN: splitter_id, olt_id, kind, ratio, lines, district_id, ... (points)
    radio: dict = field(default_factory=dict)   # plan.json "radio": link-budget table, threshold, bands
    rsrp: gpd.GeoDataFrame | None = None        # optional layer: best-server RSRP on the evaluation lattice

    # ------------------------------------------------------------------ summary
    def solver_summary(self) -> dict:
        """:func:`combine_stats` of the plan: its capex (or budget-mode objective) against ``extra.plan_bound``."""
        pb = (self.extra or {}).get("plan_bound") or {}
        objective = pb.get("objective", (self.totals or {}).get("capex_cny"))
        return combine_stats(self.solves, objective=objective, bound=pb.get("bound"),
                             meaning=pb.get("meaning", CAPEX_MEANING),
                             method=pb.get("method", "no plan-level bound recorded"), sense=pb.get("sense", "min"))

    def summary(self) -> dict:
        """The content of ``plan.json``."""
        cols = ["district_id", "name_zh", "name_en", "population", "households", "area_km2",
                "stations_5g", "stations_5g_new", "pon_ports", "olt_sites", "capex_cny",
                "population_covered_share"]
        d = pd.DataFrame(self.districts.drop(columns="geometry", errors="ignore"))
        rows = []
        for rec in d[[c for c in cols if c in d]].to_dict("records"):
            rec = dict(rec)
            rec["adcode"] = rec.get("district_id")
            rec["name"] = rec.get("name_zh")
            rows.append(rec)
        return _clean({
            "format_version": FORMAT_VERSION,
            "title": self.title,
            "totals": self.totals,
            "coverage": self.coverage,
            "pon": self.pon,
            "solver": self.solver_summary(),
            "districts": rows,
            "years": self.years,
            "demand_source": self.demand_source,
            "scenario": self.scenario,
            "scenario_dir": self.scenario_dir,
            "extra": self.extra,
            **({"radio": self.radio} if self.radio else {}),
        })

    # ------------------------------------------------------------------ save / load
    def _write_layers(self, gpkg: Path) -> None:
        """The layers into one GeoPackage, in WGS-84 (bools as 0/1: GeoPackage has no bool)."""
        for name in (*LAYERS, *OPTIONAL_LAYERS):
            gdf = getattr(self, name)
            if gdf is None:
                continue
            gdf = gpd.GeoDataFrame(gdf).copy()
            for c in gdf.columns:
                if c != gdf.geometry.name and gdf[c].dtype == bool:
                    gdf[c] = gdf[c].astype("int8")  # GeoPackage has no bool; readers get 0/1
            if gdf.crs is None:
                gdf = gdf.set_crs(4326)
            gdf.to_crs(4326).to_file(gpkg, layer=name, driver="GPKG", engine="pyogrio")

    def save(self, out_dir: str | os.PathLike) -> Path:
        """Write ``plan.json`` and ``plan.gpkg`` into ``out_dir`` atomically.

        Both files are first written to a temporary folder beside ``out_dir``
        and moved into place only when both are complete.
        """
        out_dir = Path(out_dir)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=out_dir, prefix=".plan-"))
        except OSError as exc:
            raise OutputError(f"{out_dir}: output folder cannot be written ({exc.strerror or exc})") from None
        try:
            gpkg = tmp / PLAN_GPKG
            with fixed_gpkg_timestamp():
                self._write_layers(gpkg)
            summary = self.summary()
            summary["layer_columns"] = {n: [c for c in getattr(self, n).columns if c != "geometry"]
                                        for n in (*LAYERS, *OPTIONAL_LAYERS) if getattr(self, n) is not None}
            (tmp / PLAN_JSON).write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
            for fname in (PLAN_GPKG, PLAN_JSON):
                os.replace(tmp / fname, out_dir / fname)
        except OSError as exc:
            raise OutputError(f"{out_dir}: could not write the plan ({exc.strerror or exc})") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return out_dir


def load_plan_summary(plan_dir: str | os.PathLike) -> dict:
    """Read ``plan.json`` only."""
    p = Path(plan_dir) / PLAN_JSON
    if not p.is_file():
        raise InputError("no saved plan here (plan.json missing); run 'rollout plan' first", file=str(p))
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not a valid plan file ({exc})", file=str(p)) from None


def load_plan(plan_dir: str | os.PathLike) -> Plan:
    """Load a saved plan without solving again."""
    plan_dir = Path(plan_dir)
    s = load_plan_summary(plan_dir)
    gpkg = plan_dir / PLAN_GPKG
    if not gpkg.is_file():
        raise InputError("plan layers missing", file=str(gpkg))
    present = gpkg_layer_names(gpkg)
    layers = {}
    for name in LAYERS:
        cols = s.get("layer_columns", {}).get(name, [])
        if name in present:
            gdf = gpd.read_file(gpkg, layer=name, engine="pyogrio")
            for c in ("new", "existing", "covered"):
                if c in gdf:
                    gdf[c] = gdf[c].astype(bool)
            for c in ("district_id", "site_id", "office_id", "cell_id", "from_id", "to_id", "olt_id", "backhaul_to"):
                if c in gdf:
                    gdf[c] = gdf[c].astype("string").astype(object)
        else:
            gdf = gpd.GeoDataFrame({c: [] for c in cols}, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
        layers[name] = gdf
    for name in OPTIONAL_LAYERS:
        if name in present:
            gdf = gpd.read_file(gpkg, layer=name, engine="pyogrio")
            if "covered" in gdf:
                gdf["covered"] = gdf["covered"].astype(bool)
            for c in ("splitter_id", "olt_id", "cabinet_id", "district_id", "h3"):
                if c in gdf:
                    gdf[c] = gdf[c].astype("string").astype(object)
            layers[name] = gdf
    solves = [SolveStats(**{k: v for k, v in p.items() if k in SolveStats.__dataclass_fields__})
              for p in (s.get("solver", {}).get("parts") or {}).values()]
    return Plan(
        title=s.get("title", ""),
        totals=s.get("totals", {}),
        coverage=s.get("coverage", {}),
        pon=s.get("pon", {}),
        solves=solves,
        demand_source=s.get("demand_source", ""),
        scenario=s.get("scenario", {}),
        years=s.get("years", []),
        extra=s.get("extra", {}),
        scenario_dir=s.get("scenario_dir") or "",
        radio=s.get("radio", {}),
        **layers,
    )
