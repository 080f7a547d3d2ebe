"""The plan: a plain results object that saves to and loads from files.

A saved plan is two files in one folder:

* ``plan.json``: the machine-readable summary (totals, coverage, PON figures,
  per-district rows, solver statistics, the scenario and the folder its relative
  input paths resolve against, the demand source);
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
links : kind (feeder|backhaul), from_id, to_id, straight_km, route_km, capex_cny
    (LineStrings; feeder = demand cell centroid -> OLT, backhaul = station -> OLT/office)
districts : district_id, name_zh, name_en, population, households, area_km2,
    stations_5g, stations_5g_new, pon_ports, olt_sites, capex_cny,
    population_covered_share (polygons)
demand : cell_id, district_id, clutter, population, households, traffic_mbps, onts,
    radius_m, covered (bool), stations_within (int), olt_id (hexagons)
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
from gis.io import gpkg_layer_names

PLAN_JSON = "plan.json"
PLAN_GPKG = "plan.gpkg"
LAYERS = ("stations", "olt_sites", "links", "districts", "demand")
OPTIONAL_LAYERS = ("rsrp",)   # saved when the plan has them; loaded as None when absent
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


#: auxiliary stages (their objectives are not capex): the 5G stage that maximises headroom
AUXILIARY_SUFFIXES = ("_headroom",)


def is_auxiliary(part: str) -> bool:
    return part.endswith(AUXILIARY_SUFFIXES)


def combine_stats(parts: list[SolveStats]) -> dict:
    """One summary over all parts.

    ``status`` is the worst status of every stage (a plan is ``optimal`` only if every
    stage proved it). ``objective``, ``bound`` and ``gap`` add up the capex-priced parts
    (``objective_parts``), not auxiliary stages such as headroom maximisation; each part's
    own figures stay in ``parts``.
    """
    if not parts:
        return {"name": None, "status": "no_solution", "objective": None, "bound": None, "gap": None, "seconds": 0.0}
    order = {s: i for i, s in enumerate(STATUSES)}
    # an auxiliary stage proven infeasible is an answer, not a failure (e.g. the headroom stage
    # proving that the target does not bind); it does not make the plan infeasible
    counted = [p for p in parts if not (is_auxiliary(p.part) and p.status == "infeasible")] or parts
    status = max((p.status for p in counted), key=lambda s: order.get(s, 99))
    main = [p for p in parts if not is_auxiliary(p.part)] or parts
    obj = sum(p.objective for p in main) if all(p.objective is not None for p in main) else None
    bound = sum(p.bound for p in main) if all(p.bound is not None for p in main) else None
    gap = None
    if obj is not None and bound is not None:
        gap = max(0.0, (obj - bound) / abs(obj)) if obj else 0.0
    return {
        "name": "+".join(sorted({p.name for p in parts})),
        "status": status,
        "objective": obj,
        "bound": bound,
        "gap": gap,
        "seconds": round(sum(p.seconds for p in parts), 3),
        "build_seconds": round(sum(p.build_seconds for p in parts), 3),
        "variables": sum(p.variables for p in parts),
        "constraints": sum(p.constraints for p in parts),
        "nonzeros": sum(p.nonzeros for p in parts),
        "objective_parts": [p.part for p in main],
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
    radio: dict = field(default_factory=dict)   # plan.json "radio": link-budget table, threshold, bands
    rsrp: gpd.GeoDataFrame | None = None        # optional layer: best-server RSRP on the evaluation lattice

    # ------------------------------------------------------------------ summary
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
            "solver": combine_stats(self.solves),
            "districts": rows,
            "years": self.years,
            "demand_source": self.demand_source,
            "scenario": self.scenario,
            "scenario_dir": self.scenario_dir,
            "extra": self.extra,
            **({"radio": self.radio} if self.radio else {}),
        })

    # ------------------------------------------------------------------ save / load
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
    if "rsrp" in present:
        rsrp = gpd.read_file(gpkg, layer="rsrp", engine="pyogrio")
        for c in ("covered",):
            if c in rsrp:
                rsrp[c] = rsrp[c].astype(bool)
        for c in ("h3", "district_id"):
            if c in rsrp:
                rsrp[c] = rsrp[c].astype("string").astype(object)
        layers["rsrp"] = rsrp
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
