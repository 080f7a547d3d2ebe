"""A region of cities: one scenario, decomposed per city, solved on ``dask.distributed``, coupled by a master.

Region scenario (``rollout plan REGION.toml``)
----------------------------------------------
A TOML file with a ``[region]`` table (:class:`RegionSettings`). Its other top-level
tables (``[radio]``, ``[pon]``, ``[solver]``, ...) are the *regional settings*: every
city scenario inherits them. ``[cities.<id>]`` tables override them for one city
(any scenario table, e.g. ``[cities.370200.radio]``), and may name a city scenario
file (``scenario = "qingdao.toml"``) whose tables sit between the two. The cities are
either

* ``cities_from = "table"`` (default): one boundary file of all county-level
  districts plus a district table with a city column (``city_field``); the
  coordinator writes each city's own boundary, district and core files into
  ``<out>/cities/<id>/inputs/`` and the city scenario points at them; or
* ``cities_from = "scenarios"``: the ``[cities.<id>]`` tables, each with its own
  scenario file and data. With a region boundary file, every city's districts
  must lie inside it.

``subproblem = "district"`` makes every district its own subproblem (a very
large city split into its districts; used to measure the decomposition loss).

Decomposition and coupling
--------------------------
Each city is planned by the city planner, unchanged and as a black box
(:func:`rollout.pipeline.plan_from_scenario`). Regional station and port targets
and a regional budget are shared through the multiple-choice knapsack of
:mod:`rollout.region_master` (chosen over Lagrangian prices: every chosen level
is a solved, checkable city plan, and the master stays tiny):

* each city is solved at ``len(levels)`` target levels, in parallel: level ``m``
  gives it ``round(m * T * population_c / population_region)`` for each regional
  target ``T > 0`` (a quantity without a regional target keeps the city's own
  target at every level); without any regional target or budget there is one level, the city's
  own scenario, so a city inside the region reproduces its own plan;
* with ``--only``, the regional targets and budget are scaled to the selected
  cities' population share (``totals.targets_basis`` says so);
* the master picks one level per city at least capex under the regional rows;
  its bound is the LP over the convex minorants of the city curves
  (see :mod:`rollout.region_master`). A city's own bound at a level is its capex
  x (1 - the city plan's proven relative gap): the city model's objective prices
  backhaul differently from the reported capex, so the relative gap, not the
  absolute bound, is carried over. ``solver.gap`` of the region is
  ``(capex - bound) / capex``: the price of decomposition and sampling.

Border cells
------------
Policy: a demand cell is served only by its own city's stations and OLT sites
(each city's grid is cut at its boundary; neighbours never cover it). What this
can change is measured per city: the people in cells within one planning radius
of an inner border (a border shared with another city of the region),
``border`` in ``plan.json``; ``bench/bench_region.py`` measures the capex it
costs (Qingdao's 10 districts as subproblems against the monolithic city).

Running
-------
One task per (city, level), submitted with ``client.submit``; a task gets a
scenario dict and paths only, reads its own layers, saves its plan under
``cities/<id>/levels/<k>/`` with ``level.json`` beside it, and returns a few
figures. A city that fails (infeasible, no solution in its time limit, bad
input) is reported by name while the others complete. An unexpected exception
is retried once (``retries``); a worker that dies has its task re-run once
(``distributed.scheduler.allowed-failures``, set on a local cluster), then it
is reported. ``--resume`` reuses every level whose ``level.json`` matches its
scenario. Default cluster: ``LocalCluster`` with one single-threaded worker
process per core; ``--scheduler ADDRESS`` uses an existing cluster instead.

Outputs (the region folder)
---------------------------
``plan.json`` (``cities``, ``totals``, ``solver`` {objective, bound, gap},
``border``, ``failed``, ``run``), ``region.gpkg`` (layers ``cities`` and
``districts``, WGS-84), and ``cities/<id>/`` one saved city plan each (the
chosen level).
"""
from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import json
import logging
import os
import shutil
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.crs import metric_crs, to_metric
from gis.errors import InfeasibleError, RolloutError, ScenarioError, ValidationError
from gis.io import atomic_path, atomic_write_text, check_writable_dir, read_table, read_vector
from gis.validate import normalize_ids, validate_districts
from seeds import seed_path

log = logging.getLogger(__name__)

REGION_JSON = "plan.json"
REGION_GPKG = "region.gpkg"
LEVEL_JSON = "level.json"
FORMAT_VERSION = 1
SEED_BOUNDARIES = "shandong_districts.gpkg"
SEED_DISTRICTS = "shandong_districts.csv"
SEED_CORES = "shandong_cores.csv"
#: scenario ``[data]`` keys that hold paths (made absolute against the file that names them)
DATA_PATH_KEYS = ("boundaries", "districts", "cores", "demand", "candidates", "existing_sites", "offices", "hotspots")
BORDER_POLICY = ("own city only: a demand cell is served only by its own city's stations and OLT sites; "
                 "neighbours do not cover it")
#: the inputs the coordinator writes for a city of a "table" region, relative to ``cities/<id>/inputs/``
CITY_BOUNDARIES, CITY_DISTRICTS, CITY_CORES = "districts.gpkg", "districts.csv", "cores.csv"
GENERATED_DATA = {"boundaries": CITY_BOUNDARIES, "districts": CITY_DISTRICTS, "boundaries_layer": "",
                  "boundary_coords": "wgs84", "id_field": "adcode"}
OUTER_EDGE_M = 200.0  # a boundary within this of the region's outline is the region's edge, not an inner border


def _f(default, doc, **meta):
    kw = {"default_factory": default} if callable(default) else {"default": default}
    return field(metadata={"doc": doc, **meta}, **kw)


@dataclass(frozen=True)
class RegionSettings:
    """The ``[region]`` table; every key optional."""

    title: str = _f("Region rollout", "Shown on the region map and report.")
    cities_from: str = _f("table", "Where the cities come from.", choices=("table", "scenarios"))
    boundaries: str = _f("", "Boundary file of every county-level district. Empty: the embedded Shandong seed.")
    boundaries_layer: str = _f("", "Layer name inside a multi-layer boundary file.")
    boundary_coords: str = _f("wgs84", "Datum of the boundary coordinates.", choices=("wgs84", "gcj02"))
    districts: str = _f("", "District table with a city column. Empty: the embedded Shandong seed.")
    id_field: str = _f("adcode", "Column joining the boundary file to the district table.")
    city_field: str = _f("city_adcode", "Column of the district table holding the city id.")
    city_name_field: str = _f("city_name", "Column of the district table holding the city name (optional).")
    cores: str = _f("", "Urban cores (CSV with the district id, lon, lat). Empty: the Shandong seed with its boundaries.")
    subproblem: str = _f("city", "One subproblem per city, or per district.", choices=("city", "district"))
    stations_target: int = _f(0, "Regional 5G stations (0: none; each city keeps its own target).", lo=0, hi=100_000_000)
    ports_target: int = _f(0, "Regional 10G-PON ports (0: none).", lo=0, hi=1_000_000_000)
    budget_cny: float = _f(0.0, "Regional capex budget, CNY (0: none).", lo=0.0, hi=1e13)
    levels: list = _f(lambda: [0.8, 1.0, 1.25], "Target levels per city, as multiples of its population share.")
    retries: int = _f(1, "Re-runs of a task whose worker died or that raised unexpectedly.", lo=0, hi=5)
    master_time_limit_s: float = _f(60.0, "Time limit of the master problem, s.", lo=1.0, hi=1e6)
    connect_timeout_s: float = _f(10.0, "Seconds to wait for a --scheduler to answer.", lo=1.0, hi=30.0)

    @property
    def coupled(self) -> bool:
        return self.stations_target > 0 or self.ports_target > 0 or self.budget_cny > 0


@dataclass
class CitySpec:
    """One subproblem: its id, figures, the districts it holds and its merged scenario (plain data)."""

    id: str
    name: str
    districts: gpd.GeoDataFrame        # district_id, name_zh, name_en, population, households, area_km2, geometry
    scenario: dict                     # regional tables + city file + overrides (data paths absolute)
    base_dir: Path                     # where the city scenario's relative paths resolve

    @property
    def population(self) -> float:
        return float(self.districts["population"].sum())


@dataclass
class Region:
    settings: RegionSettings
    source: Path
    cities: list[CitySpec]
    population_region: float           # every city of the region file, selected or not
    outline: object = None             # union of every district of the region (WGS-84), for inner borders
    cores: pd.DataFrame | None = None  # table mode: the region's cores (id column ``district_id``)
    all_ids: list[str] = field(default_factory=list)


# =========================================================================== loading

def is_region_file(path) -> bool:
    """True when ``path`` is a TOML file with a ``[region]`` table."""
    p = Path(path)
    if p.suffix.lower() != ".toml" or not p.is_file():
        return False
    try:
        return isinstance(tomllib.loads(p.read_text(encoding="utf-8")).get("region"), dict)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False


def _settings(data: dict, source: str) -> RegionSettings:
    from rollout.scenario import settings_from_dict

    problems: list[str] = []
    settings = settings_from_dict(RegionSettings, data, "region.", problems)
    if not problems and (not settings.levels or any(isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0
                                                    for v in settings.levels)):
        problems.append("'region.levels' must be a non-empty list of numbers > 0")
    _raise_problems(source, problems)
    return settings


def _raise_problems(source, problems: list[str]) -> None:
    """One ``ScenarioError`` naming the first problem and counting the rest (all in ``.problems``)."""
    if problems:
        err = ScenarioError(f"{source}: {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
        err.problems = problems
        raise err


def _merge(base: dict, top: dict) -> dict:
    """``top`` over ``base``, table by table (a deep merge of plain dicts)."""
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _absolute_data(tables: dict, folder: Path) -> dict:
    """The same tables with every ``[data]`` path made absolute against ``folder``."""
    data = dict(tables.get("data") or {})
    for k in DATA_PATH_KEYS:
        v = data.get(k)
        if isinstance(v, str) and v and not (k == "demand" and v.strip().lower() == "modelled"):
            data[k] = str((folder / Path(v).expanduser()).resolve())
    return {**tables, "data": data} if data else dict(tables)


def _read_toml(path: Path) -> dict:
    if not path.is_file():
        raise ScenarioError(f"{path}: file not found")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: not valid TOML ({exc})") from None


def load_region(path: str | os.PathLike, *, only: list[str] | None = None, overrides: dict | None = None) -> Region:
    """Read and validate a region scenario; every city scenario is validated before anything is solved.

    ``overrides`` (scenario tables, e.g. ``{"solver": {"threads": 1}}`` from the command line) win over
    the file, for every city.

    Raises ``ScenarioError`` / ``InputError`` (exit 2): unknown keys, an unknown city id in ``only``,
    a city whose districts lie outside the region's boundary file, a city scenario that is not valid.
    """
    source = Path(path).resolve()
    raw = _read_toml(source)
    settings = _settings(raw.get("region") or {}, str(source))
    folder = source.parent
    regional = _absolute_data({k: v for k, v in raw.items() if k not in ("region", "cities")}, folder)
    per_city = raw.get("cities") or {}
    if not isinstance(per_city, dict) or any(not isinstance(v, dict) for v in per_city.values()):
        raise ScenarioError(f"{source}: 'cities' must hold one table per city id, e.g. [cities.370200]")
    per_city = {str(k): v for k, v in per_city.items()}
    if settings.cities_from == "table":
        cities, cores = _cities_from_table(settings, folder, source)
    else:
        cities, cores = _cities_from_scenarios(settings, folder, source, per_city, regional), None
    population = sum(c.population for c in cities)
    outline = shapely.union_all([g for c in cities for g in c.districts.geometry.values])
    all_ids = [c.id for c in cities]
    cities = _select(cities, only, source)
    stray = sorted(set(per_city) - set(all_ids))
    if stray:
        raise ScenarioError(f"{source}: [cities.{stray[0]}] names no city of the region; "
                            f"cities are {', '.join(all_ids[:12])}{' ...' if len(all_ids) > 12 else ''}")
    problems = []
    for c in cities:
        c.scenario = _merge(_city_scenario(c, regional, per_city.get(c.id, {}), folder, settings), overrides or {})
        problems += _scenario_problems(c)
    _raise_problems(source, problems)
    return Region(settings, source, cities, population, outline, cores, all_ids)


def _select(cities: list[CitySpec], only: list[str] | None, source: Path) -> list[CitySpec]:
    if not only:
        return cities
    by_id = {c.id: c for c in cities}
    unknown = [i for i in only if i not in by_id]
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(by_id), n=1, cutoff=0.5)
        raise ScenarioError(f"--only: unknown city id {unknown[0]!r} in {source.name}"
                            + (f"; did you mean {close[0]!r}?" if close else f"; ids are {', '.join(list(by_id)[:12])}"))
    return [by_id[i] for i in dict.fromkeys(only)]


def _city_scenario(c: CitySpec, regional: dict, override: dict, folder: Path, settings: RegionSettings) -> dict:
    """Regional tables, then the generated inputs (table mode), then the city file, then the city's overrides."""
    scen = _merge(regional, {"title": f"{c.name} ({settings.title})"})
    scen = _merge(scen, c.scenario)
    override = dict(override)
    file = override.pop("scenario", None)
    override.pop("name", None)
    if file:
        path = (folder / file).resolve()
        scen = _merge(scen, _absolute_data(_read_toml(path), path.parent))
    return _merge(scen, _absolute_data(override, folder))


def _scenario_problems(c: CitySpec) -> list[str]:
    from rollout.scenario import scenario_from_dict

    try:
        scenario_from_dict(c.scenario, base_dir=c.base_dir, source=f"city {c.id}")
    except ScenarioError as exc:
        return [f"city {c.id} ({c.name}): {p}" for p in getattr(exc, "problems", [str(exc)])]
    return []


def _region_files(settings: RegionSettings, folder: Path) -> tuple[Path, Path, Path | None]:
    seed = not settings.boundaries
    b = seed_path(SEED_BOUNDARIES) if seed else (folder / settings.boundaries).resolve()
    t = seed_path(SEED_DISTRICTS) if not settings.districts else (folder / settings.districts).resolve()
    cores = (folder / settings.cores).resolve() if settings.cores else (seed_path(SEED_CORES) if seed else None)
    return b, t, cores


def _cities_from_table(settings: RegionSettings, folder: Path, source: Path):
    """Cities from one boundary file and one district table with a city column."""
    bfile, tfile, cfile = _region_files(settings, folder)
    table = read_table(tfile)
    idf, cityf = settings.id_field, settings.city_field
    if settings.subproblem == "district":
        table = table.assign(**{"_city": table.get(idf), "_city_name": table.get("name_en", table.get(idf))})
        cityf, namef = "_city", "_city_name"
    else:
        namef = settings.city_name_field
    for col in (idf, cityf):
        if col not in table.columns:
            raise ValidationError([(str(tfile), col, f"required column '{col}' not found; columns are: "
                                                     f"{', '.join(map(str, table.columns))}")])
    ids, city = normalize_ids(table[idf]), normalize_ids(table[cityf])
    if city.isna().any():
        raise ValidationError([(str(tfile), cityf, f"no city for districts {', '.join(ids[city.isna()].astype(str)[:8])}")])
    _check_inside(bfile, settings, ids, city, table, namef)
    districts = validate_districts(bfile, table, id_field=idf, boundaries_layer=settings.boundaries_layer or None,
                                   boundary_coords=settings.boundary_coords, boundaries_file=str(bfile),
                                   districts_file=str(tfile))
    of = dict(zip(ids, city, strict=True))
    names = dict(zip(city, table[namef].astype(str), strict=True)) if namef in table.columns else {}
    cores = _region_cores(cfile, idf, set(ids)) if cfile else None
    with_cores = set() if cores is None else set(cores["district_id"])
    cities = []
    for cid in dict.fromkeys(city):
        mine = districts[districts["district_id"].map(of) == cid].reset_index(drop=True)
        data = {**GENERATED_DATA, "cores": CITY_CORES if with_cores & set(mine["district_id"]) else ""}
        cities.append(CitySpec(cid, names.get(cid, cid), mine, {"data": data}, folder))
    return cities, cores


def _check_inside(bfile: Path, settings: RegionSettings, ids: pd.Series, city: pd.Series, table, namef) -> None:
    """Exit 2, naming the city, when a city's districts are missing from the region's boundary file."""
    bounds = read_vector(bfile, layer=settings.boundaries_layer or None)
    if settings.id_field not in bounds.columns:
        raise ValidationError([(str(bfile), settings.id_field, f"required column '{settings.id_field}' not found")])
    have = set(normalize_ids(bounds[settings.id_field]).dropna())
    missing = ~ids.isin(have)
    if missing.any():
        problems = []
        for cid in dict.fromkeys(city[missing]):
            name = table.loc[(city == cid).to_numpy(), namef].iloc[0] if namef in table.columns else cid
            out = ", ".join(ids[missing & (city == cid)].astype(str)[:8])
            problems.append((str(bfile), settings.id_field,
                             f"city {cid} ({name}): districts {out} lie outside the region's boundary file"))
        raise ValidationError(problems)


def _region_cores(path: Path, id_field: str, known: set[str]) -> pd.DataFrame:
    cores = read_table(path)
    col = id_field if id_field in cores.columns else ("district_id" if "district_id" in cores.columns else None)
    if col is None:
        raise ValidationError([(str(path), id_field, "region cores need a district id column to be split by city")])
    cores = cores.assign(district_id=normalize_ids(cores[col]))
    return cores[cores["district_id"].isin(known)].reset_index(drop=True)


def _cities_from_scenarios(settings: RegionSettings, folder: Path, source: Path, overrides: dict,
                           regional: dict) -> list[CitySpec]:
    """Cities from ``[cities.<id>]`` tables with their own scenario files."""
    from gis.build import load_districts
    from rollout.scenario import scenario_from_dict

    if not overrides:
        raise ScenarioError(f"{source}: cities_from = 'scenarios' needs [cities.<id>] tables")
    cities = []
    for cid, o in overrides.items():
        spec = CitySpec(cid, str(o.get("name", cid)), gpd.GeoDataFrame(), {}, folder)
        merged = _city_scenario(spec, regional, o, folder, settings)
        spec.districts = load_districts(scenario_from_dict(merged, base_dir=folder, source=f"city {cid}").layer_settings())
        cities.append(spec)
    if settings.boundaries:
        _check_contained(cities, (folder / settings.boundaries).resolve(), settings)
    return cities


def _check_contained(cities: list[CitySpec], bfile: Path, settings: RegionSettings) -> None:
    region = read_vector(bfile, layer=settings.boundaries_layer or None).to_crs(4326)
    crs = metric_crs(region)
    outline = shapely.union_all(to_metric(region, crs).geometry.values).buffer(OUTER_EDGE_M)
    problems = []
    for c in cities:
        outside = ~to_metric(c.districts, crs).geometry.within(outline)
        if outside.any():
            problems.append((str(bfile), None, f"city {c.id} ({c.name}): districts "
                             f"{', '.join(c.districts.loc[outside, 'district_id'].astype(str)[:8])} "
                             "lie outside the region's boundary file"))
    if problems:
        raise ValidationError(problems)


# =========================================================================== tasks

def level_targets(region: Region, city: CitySpec, multiplier: float) -> dict:
    """The scenario overrides of one level: each regional target's population share, times ``multiplier``.

    A quantity without a regional target keeps the city's own target at every level.
    """
    s, share = region.settings, city.population / region.population_region
    return {table: {name: int(round(multiplier * key * share))}
            for key, table, name in ((s.stations_target, "radio", "target_stations"),
                                     (s.ports_target, "pon", "target_ports")) if key > 0}


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]


def write_city_inputs(region: Region, out: Path) -> None:
    """Table mode: each city's boundary, district and core files under ``cities/<id>/inputs/`` (atomically)."""
    if region.settings.cities_from != "table":
        return
    for c in region.cities:
        folder = out / "cities" / c.id / "inputs"
        d = c.districts.rename(columns={"district_id": "adcode"})
        with atomic_path(folder / CITY_BOUNDARIES) as gpkg:
            d[["adcode", "name_zh", "name_en", "geometry"]].to_file(gpkg, layer="districts", driver="GPKG",
                                                                    engine="pyogrio")
        atomic_write_text(folder / CITY_DISTRICTS, d.drop(columns="geometry").to_csv(index=False))
        if c.scenario["data"].get("cores"):
            mine = region.cores[region.cores["district_id"].isin(set(c.districts["district_id"]))]
            cols = [k for k in ("lon", "lat", "weight", "name") if k in mine.columns]
            atomic_write_text(folder / CITY_CORES, mine[["district_id", *cols]].rename(
                columns={"district_id": "adcode"}).to_csv(index=False))
        c.base_dir = folder


def level_tasks(region: Region, out: Path) -> list[dict]:
    """One small task per (city, level): a scenario dict and paths, nothing else."""
    mults = region.settings.levels if region.settings.coupled else [1.0]
    tasks = []
    for c in region.cities:
        for k, m in enumerate(mults):
            scen = _merge(c.scenario, level_targets(region, c, m))
            tasks.append({"city": c.id, "name": c.name, "level": k, "multiplier": float(m), "scenario": scen,
                          "base_dir": str(c.base_dir), "dir": str(out / "cities" / c.id / "levels" / str(k)),
                          "digest": _digest([scen, str(c.base_dir)])})
    return tasks


def _peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)  # KiB on Linux


def level_figures(summary: dict) -> dict:
    """What the master needs from a saved city plan: targets reached, capex and the carried-over bound."""
    t, sol = summary.get("totals", {}), summary.get("solver", {})
    capex = float(t.get("capex_cny") or 0.0)
    gap = sol.get("gap")
    # the status of the capex-priced stages (an auxiliary stage, e.g. headroom, may stop without a solution)
    parts = sol.get("parts") or {}
    costed = [parts[p].get("status") for p in sol.get("objective_parts") or [] if p in parts]
    status = sol.get("status") if not costed else ("optimal" if all(x == "optimal" for x in costed) else "feasible")
    return {"stations_5g": int(t.get("stations_5g") or 0), "pon_ports": int(t.get("pon_ports") or 0),
            "capex_cny": capex, "gap": gap, "status": status,
            "bound_cny": capex * (1.0 - min(1.0, max(0.0, gap))) if gap is not None else 0.0}


def solve_level(task: dict) -> dict:
    """Worker side: plan one city at one level, save it, return its figures (never a plan object).

    A ``RolloutError`` (infeasible, bad input, no solution in the time limit) is returned as
    a failure record, not raised, so it is not retried: it would fail again.
    """
    from rollout.pipeline import plan_from_scenario
    from rollout.scenario import scenario_from_dict

    t0 = time.perf_counter()
    who = {k: task[k] for k in ("city", "name", "level", "multiplier", "digest")}
    try:
        plan = plan_from_scenario(scenario_from_dict(task["scenario"], base_dir=Path(task["base_dir"]),
                                                     source=f"city {task['city']}"))
        out = plan.save(task["dir"])
    except RolloutError as exc:
        kind = "infeasible" if isinstance(exc, InfeasibleError) else "error"
        return {**who, "ok": False, "kind": kind, "error": str(exc).splitlines()[0],
                "seconds": round(time.perf_counter() - t0, 2)}
    record = {**who, "ok": True, **level_figures(plan.summary()), "seconds": round(time.perf_counter() - t0, 2),
              "peak_rss_mb": _peak_rss_mb(), "pid": os.getpid()}
    atomic_write_text(out / LEVEL_JSON, json.dumps(record, indent=2))
    return record


def reusable(task: dict) -> dict | None:
    """The saved record of a level solved before with the same scenario (for ``--resume``), else None."""
    p = Path(task["dir"]) / LEVEL_JSON
    try:
        rec = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    ok = rec.get("ok") and rec.get("digest") == task["digest"] and (p.parent / "plan.gpkg").is_file()
    return {**rec, "reused": True} if ok else None


# =========================================================================== dask

@contextlib.contextmanager
def open_client(*, scheduler: str | None = None, workers: int | None = None, processes: bool = True,
                retries: int = 1, connect_timeout_s: float = 10.0):
    """A ``dask.distributed`` client: on ``scheduler``, else on a new ``LocalCluster``.

    The local cluster has ``workers`` single-threaded workers (default: one process per core)
    and re-runs the task of a dead worker ``retries`` times. A scheduler that does not
    answer within ``connect_timeout_s`` is a one-line ``RolloutError`` (exit 2).
    """
    import dask
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{connect_timeout_s}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise RolloutError(f"scheduler {scheduler} does not answer within {connect_timeout_s:g} s "
                               f"({type(exc).__name__})") from None
        with client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    # saturation 1.0: a worker holds only the task it runs, so a death is charged to that city alone
    with dask.config.set({"distributed.scheduler.allowed-failures": retries,
                          "distributed.scheduler.worker-saturation": 1.0}):
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=processes, dashboard_address=":0",
                               silence_logs=logging.WARNING)
    with cluster, Client(cluster) as client:
        yield client


def _has_bokeh() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


def _eta(elapsed_s: float, done: int, total: int) -> str:
    left = elapsed_s / max(done, 1) * (total - done)
    return f"{int(left // 60)} min {int(left % 60):02d} s"


def run_levels(client, tasks: list[dict], *, resume: bool, retries: int) -> list[dict]:
    """Submit the tasks not reusable, collect every record as it finishes, logging progress with an ETA."""
    from dask.distributed import as_completed

    records = [r for r in (reusable(t) for t in tasks) if r] if resume else []
    have = {(r["city"], r["level"]) for r in records}
    todo = [t for t in tasks if (t["city"], t["level"]) not in have]
    log.info("%d level plans to solve (%d cities), %d reused", len(todo), len({t["city"] for t in todo}), len(records))
    link = getattr(client, "dashboard_link", None)
    if link and _has_bokeh():
        log.info("Dask dashboard: %s", link)
    futures = {client.submit(solve_level, t, key=f"city-{t['city']}-level-{t['level']}-{t['digest']}",
                             retries=retries, pure=False): t for t in todo}
    t0 = time.perf_counter()
    left = {c: sum(t["city"] == c for t in todo) for c in {t["city"] for t in todo}}
    for done, fut in enumerate(as_completed(futures), start=1):
        t = futures[fut]
        left[t["city"]] -= 1
        try:
            rec = fut.result()
        except Exception as exc:  # noqa: BLE001 - a dead worker (KilledWorker) or an unexpected error, after retries
            rec = {**{k: t[k] for k in ("city", "name", "level", "multiplier", "digest")}, "ok": False,
                   "kind": "crashed", "error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
        what = (f"capex {rec['capex_cny'] / 1e6:,.1f} M CNY, {rec['stations_5g']:,} stations, {rec['pon_ports']:,} ports"
                if rec["ok"] else f"FAILED ({rec['kind']}): {rec['error']}")
        log.info("[%d/%d levels, %d/%d cities] %s (%s) level %d: %s; ETA %s", done, len(todo),
                 sum(v == 0 for v in left.values()), len(left), t["name"], t["city"], t["level"], what,
                 _eta(time.perf_counter() - t0, done, len(todo)))
        records.append(rec)
    return records


# =========================================================================== master

def _curve(city: str, recs: list[dict]):
    """The city's curve; a level's bound is clipped to the capex of every level that meets larger targets
    (valid when the optimal capex is nondecreasing in the targets: assumption 1 of the master)."""
    from rollout.region_master import CityCurve

    s = np.array([r["stations_5g"] for r in recs])
    p = np.array([r["pon_ports"] for r in recs])
    k = np.array([r["capex_cny"] for r in recs], dtype=float)
    b = np.minimum(np.array([r["bound_cny"] for r in recs], dtype=float), k)
    dom = (s[:, None] <= s[None, :]) & (p[:, None] <= p[None, :])
    b = np.minimum(b, np.where(dom, k[None, :], np.inf).min(axis=1))
    return CityCurve(city, s, p, k, b)


def master_targets(region: Region, planned: list[CitySpec]) -> dict:
    """Regional targets and budget for the cities planned, scaled to their population share when not all are."""
    s = region.settings
    share = sum(c.population for c in planned) / region.population_region
    whole = len(planned) == len(region.all_ids)
    basis = "the regional targets" if whole else (
        f"the regional targets x {share:.4f}, the population share of the {len(planned)} cities planned "
        f"of {len(region.all_ids)} (scaled, not published)")
    share = 1.0 if whole else share
    return {"stations_target": int(round(s.stations_target * share)), "ports_target": int(round(s.ports_target * share)),
            "budget_cny": s.budget_cny * share if s.budget_cny > 0 else None,
            "targets_basis": basis if s.coupled else "no regional target: each city meets its own"}


def solve_region_master(region: Region, records: list[dict]):
    """The master over the cities with at least one solved level; returns (result, levels by city, failed)."""
    from rollout.region_master import solve_master

    ok = {}
    for r in sorted((r for r in records if r["ok"]), key=lambda r: r["level"]):
        ok.setdefault(r["city"], []).append(r)
    failed = [{"id": c.id, "name": c.name,
               "errors": sorted({f"level {r['level']} {r['kind']}: {r['error']}" for r in records
                                 if r["city"] == c.id and not r["ok"]})}
              for c in region.cities if c.id not in ok]
    if not ok:
        raise InfeasibleError("every city failed: " + "; ".join(f"{f['id']} ({f['name']}) {f['errors'][0]}"
                                                                 for f in failed[:4]), family="region")
    targets = master_targets(region, [c for c in region.cities if c.id in ok])
    s = region.settings
    result = solve_master([_curve(cid, recs) for cid, recs in ok.items()], stations_target=targets["stations_target"],
                          ports_target=targets["ports_target"], budget_cny=targets["budget_cny"],
                          time_limit_s=s.master_time_limit_s)
    return result, ok, failed, targets


# =========================================================================== outputs

def _copy_chosen(level_dir: Path, city_dir: Path) -> None:
    """The chosen level's plan files into the city folder, each moved into place atomically."""
    for name in ("plan.json", "plan.gpkg"):
        tmp = city_dir / f".{name}.copy"
        shutil.copy2(level_dir / name, tmp)
        os.replace(tmp, city_dir / name)


def border_figures(city: CitySpec, outline, plan_dir: Path) -> dict:
    """People in cells within one planning radius of a border shared with another city (own-city policy)."""
    demand = gpd.read_file(plan_dir / "plan.gpkg", layer="demand", engine="pyogrio")
    crs = metric_crs(city.districts)
    shape = shapely.union_all(to_metric(city.districts, crs).geometry.values)
    edge = gpd.GeoSeries([outline], crs=4326).to_crs(crs).iloc[0].boundary.buffer(OUTER_EDGE_M)
    inner = shape.boundary.difference(edge)
    pop = demand["population"].to_numpy(float)
    if inner.is_empty or not len(demand):
        near = np.zeros(len(demand), dtype=bool)
    else:
        centre = to_metric(demand, crs).geometry.centroid.values
        near = shapely.distance(centre, inner) <= demand["radius_m"].to_numpy(float)
    total = float(pop.sum())
    return {"inner_border_km": round(float(inner.length) / 1000.0, 3), "cells_near_border": int(near.sum()),
            "population_near_border": float(pop[near].sum()),
            "population_near_border_share": float(pop[near].sum() / total) if total else None}


def _city_entry(c: CitySpec, rec: dict, recs: list[dict], level: int, out: Path, border: dict) -> dict:
    area = float(to_metric(c.districts).area.sum() / 1e6)
    hh = float(c.districts["households"].sum())
    return {"id": c.id, "name": c.name, "plan_dir": f"cities/{c.id}", "level": level,
            "multiplier": rec["multiplier"], "status": rec["status"],
            "districts": c.districts["district_id"].astype(str).tolist(),
            "population": c.population, "households": hh, "area_km2": area,
            "stations_5g": rec["stations_5g"], "pon_ports": rec["pon_ports"], "capex_cny": rec["capex_cny"],
            "bound_cny": rec["bound_cny"], "gap": rec["gap"],
            "stations_per_km2": rec["stations_5g"] / area if area else None,
            "ports_per_1000_households": 1000.0 * rec["pon_ports"] / hh if hh else None,
            "capex_per_person_cny": rec["capex_cny"] / c.population if c.population else None,
            "border": border,
            "levels": [{k: r.get(k) for k in ("level", "multiplier", "stations_5g", "pon_ports", "capex_cny",
                                              "bound_cny", "gap", "status", "seconds", "peak_rss_mb", "reused")}
                       for r in recs]}


def _totals(entries: list[dict], targets: dict) -> dict:
    t = {k: sum(e[k] for e in entries) for k in ("population", "households", "area_km2", "stations_5g", "pon_ports",
                                                  "capex_cny")}
    t.update(cities=len(entries), **targets)
    t["stations_per_km2"] = t["stations_5g"] / t["area_km2"] if t["area_km2"] else None
    t["ports_per_1000_households"] = 1000.0 * t["pon_ports"] / t["households"] if t["households"] else None
    t["capex_per_person_cny"] = t["capex_cny"] / t["population"] if t["population"] else None
    return t


def _border_totals(entries: list[dict]) -> dict:
    pop = sum(e["population"] for e in entries)
    near = sum(e["border"]["population_near_border"] for e in entries)
    return {"policy": BORDER_POLICY, "population_near_border": near,
            "population_near_border_share": near / pop if pop else None,
            "measured": "people in demand cells whose centre lies within the cell's planning radius of a border "
                        "shared with another city; their coverage could come from the neighbour under a shared policy; "
                        "bench/bench_region.py measures the capex difference against one monolithic model"}


def write_region_layers(region: Region, entries: list[dict], out: Path) -> None:
    """``region.gpkg``: one polygon per city with its figures, and the districts with their city id (WGS-84)."""
    by_id = {c.id: c for c in region.cities}
    rows = [{k: v for k, v in e.items() if not isinstance(v, (list, dict))} for e in entries]
    geoms = [shapely.union_all(by_id[e["id"]].districts.geometry.values) for e in entries]
    cities = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=4326)
    districts = pd.concat([by_id[e["id"]].districts.assign(city_id=e["id"], city=e["name"]) for e in entries],
                          ignore_index=True)
    with atomic_path(out / REGION_GPKG) as tmp:
        cities.to_file(tmp, layer="cities", driver="GPKG", engine="pyogrio")
        gpd.GeoDataFrame(districts, geometry="geometry", crs=4326).to_file(tmp, layer="districts", driver="GPKG",
                                                                             engine="pyogrio")


# =========================================================================== the whole run

def plan_region(region: Region, out: str | os.PathLike, *, resume: bool = False, workers: int | None = None,
                scheduler: str | None = None, processes: bool = True,
                draw_city: Callable[[Path], None] | None = None) -> dict:
    """Solve every city's levels on Dask, run the master, save the region folder; return its ``plan.json``.

    ``draw_city(city_dir)``, when given, runs on the cluster for each chosen city plan (the CLI passes
    its map-and-report drawer, so this module never imports ``maps``). Cities that failed are listed
    in ``failed``; the others are complete and saved.
    """
    t0 = time.perf_counter()
    out = check_writable_dir(out)
    write_city_inputs(region, out)
    tasks = level_tasks(region, out)
    s = region.settings
    with open_client(scheduler=scheduler, workers=workers, processes=processes, retries=s.retries,
                     connect_timeout_s=s.connect_timeout_s) as client:
        n_workers = len(client.scheduler_info().get("workers", {}))
        records = run_levels(client, tasks, resume=resume, retries=s.retries)
        result, ok, failed, targets = solve_region_master(region, records)
        entries = _finish_cities(region, out, result, ok)
        if draw_city is not None:
            _draw_cities(client, draw_city, [out / e["plan_dir"] for e in entries])
    summary = _region_summary(region, entries, failed, result, targets, records, {
        "workers": n_workers, "scheduler": scheduler or "LocalCluster", "resume": resume,
        "wall_seconds": round(time.perf_counter() - t0, 2)})
    write_region_layers(region, entries, out)
    atomic_write_text(out / REGION_JSON, json.dumps(summary, indent=2, ensure_ascii=False, default=_json_default))
    log.info("region: %d cities planned, %d failed; capex %.0f CNY, bound %.0f CNY, gap %s", len(entries), len(failed),
             result.capex_cny, result.bound_cny, "n/a" if result.gap is None else f"{result.gap:.2%}")
    return summary


def _draw_cities(client, draw_city: Callable[[Path], None], dirs: list[Path]) -> None:
    """Each city's map and report, on the cluster; a drawing that fails is logged, the plans stay saved."""
    from dask.distributed import as_completed

    futures = {client.submit(draw_city, d, pure=False): d for d in dirs}
    for fut in as_completed(futures):
        try:
            fut.result()
        except Exception as exc:  # noqa: BLE001 - a map is redrawn later with `rollout map DIR`
            log.warning("%s: map or report not drawn (%s: %s); redraw with 'rollout map' and 'rollout report'",
                        futures[fut], type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")


def _finish_cities(region: Region, out: Path, result, ok: dict) -> list[dict]:
    entries = []
    for c in region.cities:
        if c.id not in ok:
            continue
        level = result.level_of[c.id]
        rec = ok[c.id][level]  # the master indexes the city's solved levels in level order
        city_dir = out / "cities" / c.id
        _copy_chosen(city_dir / "levels" / str(rec["level"]), city_dir)
        border = border_figures(c, region.outline, city_dir)
        entries.append(_city_entry(c, rec, ok[c.id], rec["level"], out, border))
    return entries


def _region_summary(region: Region, entries, failed, result, targets, records, run: dict) -> dict:
    solved = [r for r in records if r["ok"] and not r.get("reused")]
    run.update(tasks=len(records), tasks_solved=len(solved), tasks_reused=sum(bool(r.get("reused")) for r in records),
               tasks_failed=sum(not r["ok"] for r in records),
               task_seconds_total=round(sum(r.get("seconds", 0.0) for r in solved), 2),
               peak_rss_mb_by_worker=_peak_by_worker(solved),
               levels=list(region.settings.levels) if region.settings.coupled else [1.0])
    mip = result.solves[0] if result.solves else None
    return {"format_version": FORMAT_VERSION, "kind": "region", "title": region.settings.title,
            "source": str(region.source), "cities": entries, "failed": failed,
            "totals": _totals(entries, targets),
            "solver": {"name": "region master (multiple-choice knapsack) + convex-minorant bound",
                       "status": _region_status(region, result), "master_status": result.status,
                       "objective": result.capex_cny, "bound": result.bound_cny,
                       "gap": result.gap, "seconds": None if mip is None else mip.seconds,
                       "bound_targets": result.bound_targets},
            "border": _border_totals(entries), "run": run,
            "region": dataclasses.asdict(region.settings)}


def _region_status(region: Region, result) -> str:
    """``optimal`` only when the master proved its choice *and* the regional capex is within the cities' requested
    gap of the regional bound; otherwise ``feasible`` (a 38 % gap is not an optimal plan, whatever the master says)."""
    gap_rel = max((float(c.scenario.get("solver", {}).get("gap_rel", 0.005)) for c in region.cities), default=0.005)
    proven = result.status == "optimal" and result.gap is not None and result.gap <= gap_rel + 1e-9
    return "optimal" if proven else ("feasible" if result.status in ("optimal", "feasible") else result.status)


def _peak_by_worker(records: list[dict]) -> dict:
    peak: dict[str, float] = {}
    for r in records:
        if r.get("peak_rss_mb") is not None:
            key = str(r.get("pid"))
            peak[key] = max(peak.get(key, 0.0), r["peak_rss_mb"])
    return peak


def _json_default(x):
    if hasattr(x, "item"):
        return x.item()
    raise TypeError(type(x).__name__)
