"""Build the :class:`~gis.layers.Layers` bundle from plain build settings.

:func:`build_layers` reads every input named in :class:`BuildSettings`
(falling back to the embedded Qingdao seeds) and runs the gis pipeline::

    validate districts -> metric CRS -> fine H3 lattice -> population (modelled / raster / table)
    -> hot-spot lines -> adaptive demand cells -> candidate 5G sites -> OLT sites -> sparse pairs

Another city needs only its own boundary file and district table (and no
cores file: each district's representative point then stands in for its
core); the Qingdao cores and hot spots are used only when the district ids
are Qingdao's.

:func:`validate_inputs` reads the same inputs and returns every problem
instead of raising (for ``rollout validate``).

The settings are plain data owned here, so gis never imports the planner:
rollout's ``Scenario.layer_settings()`` builds them (paths resolved, figures
copied), and :func:`layers_from_scenario` / :func:`validate_scenario_inputs`
accept any object with such a method.
"""
from __future__ import annotations

import logging
import time
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from gis.candidates import (PlantModel, fill_reach, generate_offices, grid_sites, model_existing_plant, small_cell_sites,
                            user_offices, user_sites)
from gis.crs import WGS84, area_km2, metric_crs, to_metric
from gis.demand import (complete_cores, demand_columns, empty_hotspots, hotspot_lines, modelled_population,
                        raster_population, read_cores, read_hotspots, table_population)
from gis.errors import InputError, ValidationError
from gis.grid import CLUTTERS, aggregate, fine_lattice
from gis.io import read_vector
from gis.layers import Layers
from gis.pairs import pairs_by_type, pairs_within_radius
from gis.validate import Problem, check_numeric_column, check_point_layer, collect_problems, validate_districts
from seeds import seed_path

log = logging.getLogger(__name__)

SEED_BOUNDARIES = "qingdao_districts.gpkg"
SEED_DISTRICTS = "qingdao_districts.csv"
SEED_CORES = "qingdao_cores.csv"
SEED_HOTSPOTS = "qingdao_hotspots.csv"
RASTER_SUFFIXES = (".tif", ".tiff", ".vrt")
#: generated offices are added until every cell with lines has one within this share of the straight-line reach
OFFICE_REACH_MARGIN = 0.98

MODELLED_SOURCE = ("modelled (district-table totals spread around urban cores: exponential kernel "
                   "of {scale:g} km holding {share:.0%} of each district, the rest uniform over its land)")

DEMAND_COLUMNS = ["cell_id", "district_id", "h3_res", "population", "households", "traffic_mbps", "onts",
                  "clutter", "radius_m", "k_coverage", "area_km2", "lon", "lat", "x_m", "y_m",
                  # additions beyond the contract
                  "h3", "density_per_km2", "lattice_km2", "hotspot_lines", "hotspot"]
#: the keys of ``Layers.stats``, in order
STATS_ORDER = ("districts", "fine_cells", "fine_res", "cells", "cells_by_clutter", "population_by_clutter", "candidates",
               "candidates_by_source", "offices", "pairs", "pairs_within_radius", "max_pairs_cap", "max_pairs_per_cell",
               "cells_short_of_k", "population", "population_by_district", "households", "onts", "traffic_mbps",
               "hotspot_lines", "hotspots_approximate", "cores", "crs_metric", "demand", "timings_s", "seconds_total")
DISTRICT_COLUMNS = ["district_id", "name_zh", "name_en", "population", "households", "area_km2",
                    "area_km2_measured", "geometry"]


# --------------------------------------------------------------------------- settings (plain data)

@dataclass(frozen=True)
class LayerInputs:
    """The input files, resolved. ``None``: the embedded seed (boundaries, districts), absent, or modelled (demand)."""

    boundaries: Path | None
    districts: Path | None
    boundaries_layer: str | None
    boundary_coords: str              # {"wgs84", "gcj02"}
    id_field: str
    cores: Path | None
    hotspots: Path | None
    candidates: Path | None
    existing_sites: Path | None
    offices: Path | None
    demand: Path | None               # None: the modelled surface
    demand_population_field: str
    towers: Path | None = None        # existing towers: macro candidates at the upgrade price

    @property
    def seed_boundaries(self) -> bool:
        return self.boundaries is None

    def boundaries_path(self) -> Path:
        return self.boundaries or seed_path(SEED_BOUNDARIES)

    def districts_path(self) -> Path:
        return self.districts or seed_path(SEED_DISTRICTS)

    def coords(self) -> str:
        """The boundary datum actually used (the embedded seed is WGS-84 whatever is declared)."""
        return "wgs84" if self.seed_boundaries else self.boundary_coords


@dataclass(frozen=True)
class DemandModel:
    """How people become traffic and PON lines (units in the names)."""

    urban_share: float
    core_scale_km: float
    thresholds_per_km2: dict[str, float]  # dense_urban, urban, suburban: density above which a cell is that class
    penetration_5g: float
    busy_hour_mbps_per_user: float
    ont_takeup: float
    enterprise_lines_per_1000: float
    hotspot_lines_per_km2: float


@dataclass(frozen=True)
class BuildSettings:
    """Everything :func:`build_layers` reads; built by the planner from its scenario.

    ``cell_res``/``site_res``: H3 resolution of demand cells / grid candidate sites per clutter class;
    ``radius_m``/``k_coverage``: planning radius and stations needed per clutter class;
    ``type_radius_m``: radius per station type and clutter class (from the link budgets); when given, every
    candidate is one position of one ``type`` and the pair table holds a (cell, position) pair only within that
    type's radius of the cell's area (``cover``: of its planning point) in the cell's clutter class (empty: one
    radius, ``radius_m``, of the planning point, for every candidate);
    ``small_cell_res``/``small_cell_clutters``: small-cell positions, one per H3 cell of that resolution in
    populated cells of those classes (never rural), kept only where some cell's pairs reach them (the nearest
    ``max_pairs_per_cell`` per cell and type); ``None``: no small-cell positions;
    ``office_capacity_onts``: lines one OLT site serves (ports x split), which sizes generated offices;
    ``office_reach_straight_m``: the optical reach as a straight-line distance (reach / route factor);
    ``existing_plant``: without a user offices layer, model today's GPON plant at the generated offices
    (:func:`gis.candidates.model_existing_plant`); ``None``: every generated office is a new candidate.
    """

    inputs: LayerInputs
    demand: DemandModel
    cell_res: dict[str, int]
    site_res: dict[str, int]
    max_pairs_per_cell: int | None
    radius_m: dict[str, float]
    k_coverage: dict[str, int]
    office_capacity_onts: float
    office_reach_straight_m: float
    type_radius_m: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    small_cell_res: int | None = None
    small_cell_clutters: tuple[str, ...] = ()
    existing_plant: PlantModel | None = None


def layers_from_scenario(scenario, *, site_res: dict[str, int] | None = None,
                         max_pairs_per_cell: int | None = None) -> Layers:
    """:func:`build_layers` of ``scenario.layer_settings()`` (rollout's Scenario has that method)."""
    return build_layers(scenario.layer_settings(), site_res=site_res, max_pairs_per_cell=max_pairs_per_cell)


def validate_scenario_inputs(scenario) -> list[Problem]:
    """:func:`validate_inputs` of ``scenario.layer_settings()``."""
    return validate_inputs(scenario.layer_settings())


# --------------------------------------------------------------------------- the build

class _Laps:
    """Per-phase wall-clock seconds, for ``Layers.stats``."""

    def __init__(self):
        self.start = self.mark = time.perf_counter()
        self.timings: dict[str, float] = {}

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self.mark, 3)
        self.mark = now

    def total(self) -> float:
        return round(time.perf_counter() - self.start, 3)


def load_districts(settings: BuildSettings) -> gpd.GeoDataFrame:
    """The validated districts layer (WGS-84) with ``area_km2_measured``; raises ValidationError."""
    inp = settings.inputs
    if inp.seed_boundaries and inp.boundary_coords != "wgs84":
        log.warning("data.boundary_coords = %r ignored: the embedded seed is already WGS-84", inp.boundary_coords)
    districts = validate_districts(inp.boundaries_path(), inp.districts_path(), id_field=inp.id_field,
                                   boundaries_layer=inp.boundaries_layer, boundary_coords=inp.coords())
    crs_metric = metric_crs(districts)
    districts["area_km2_measured"] = area_km2(districts, crs_metric)
    return districts


def build_layers(settings: BuildSettings, *, site_res: dict[str, int] | None = None,
                 max_pairs_per_cell: int | None = None) -> Layers:
    """Every validated table the optimizer reads, built from ``settings`` (see the module docstring).

    Parameters
    ----------
    settings
        The inputs and figures of the build.
    site_res
        ``None``: ``settings.site_res``. Or an H3 resolution per clutter class for
        denser grid candidates (see :func:`gis.candidates.grid_sites`),
        e.g. ``{"dense_urban": 9, "urban": 9, "suburban": 8, "rural": 7}``.
    max_pairs_per_cell
        Keep only this many nearest candidates per demand cell in ``pairs``
        (``None``: ``settings.max_pairs_per_cell``). Without ``site_res`` a cell's own grid
        site sits at its planning point (distance 0), so it is always kept.

    Raises :class:`~gis.errors.InputError` / :class:`~gis.errors.ValidationError`
    for bad inputs; ``Layers.stats`` holds counts and per-phase timings (seconds).
    """
    site_res = settings.site_res if site_res is None else site_res
    max_pairs = settings.max_pairs_per_cell if max_pairs_per_cell is None else max_pairs_per_cell
    lap = _Laps()
    districts = load_districts(settings)
    crs_metric = metric_crs(districts)
    qingdao = _uses_seed_ids(districts, SEED_DISTRICTS)
    problems = _optional_problems(settings, districts, crs_metric)  # every optional layer, checked at once
    if problems:
        raise ValidationError(problems)
    lap("districts")
    log.info("%d districts, %s people, metric CRS %s", len(districts), f"{districts['population'].sum():,.0f}", crs_metric)

    fine_res = max(settings.cell_res.values())
    fine = fine_lattice(districts, fine_res, crs_metric=crs_metric)
    lap("lattice")
    log.info("fine lattice: %d H3 cells at resolution %d", len(fine), fine_res)
    cores = _cores(settings, districts, qingdao, crs_metric)
    fine["population"], source, report = _population(settings, fine, districts, cores, crs_metric)
    lap("population")
    hotspots, hot_name = _hotspot_lines(settings, fine, districts, qingdao, crs_metric)
    lap("hotspots")
    demand, fine_to_cell = _demand_cells(settings, fine, districts, hot_name, crs_metric)
    lap("grid")
    candidates = _candidates(settings, demand, fine, fine_to_cell, districts, site_res, crs_metric)
    lap("candidates")
    offices = _offices(settings, fine, fine_to_cell, demand, cores, districts, crs_metric)
    lap("offices")
    pairs, within = candidate_pairs(demand, candidates, max_pairs, settings.type_radius_m, crs_metric)
    candidates, pairs = _drop_unpaired_small(candidates, pairs)
    lap("pairs")

    stats = _stats(districts=districts, fine=fine, demand=demand, candidates=candidates, offices=offices, pairs=pairs,
                   hotspots=hotspots, cores=cores)
    stats.update(fine_res=fine_res, pairs_within_radius=within, max_pairs_cap=max_pairs, crs_metric=crs_metric,
                 demand=report, timings_s=lap.timings, seconds_total=lap.total())
    stats = {k: stats[k] for k in STATS_ORDER}
    if stats["cells_short_of_k"]:
        log.warning("%d populated cell(s) have fewer candidate sites in reach than their k_coverage",
                    stats["cells_short_of_k"])
    log.info("layers built in %.1f s: %d cells, %d candidates, %d offices, %d pairs (max %d per cell)",
             stats["seconds_total"], len(demand), len(candidates), len(offices), len(pairs), stats["max_pairs_per_cell"])
    return Layers(districts=districts[DISTRICT_COLUMNS].reset_index(drop=True), demand=demand,
                  candidates=candidates.reset_index(drop=True), offices=offices.reset_index(drop=True),
                  pairs=pairs, hotspots=hotspots.reset_index(drop=True), crs_metric=crs_metric,
                  demand_source=source, stats=stats)


def _uses_seed_ids(districts: gpd.GeoDataFrame, seed_csv: str) -> bool:
    """True when the seed file's district ids all exist in ``districts`` (the study area is Qingdao)."""
    seed = pd.read_csv(seed_path(seed_csv), dtype={"adcode": str})
    return set(seed["adcode"]).issubset(set(districts["district_id"]))


def _cores(settings: BuildSettings, districts, qingdao: bool, crs_metric: str) -> pd.DataFrame:
    """The urban cores: the user's file, else the Qingdao seed (for Qingdao), completed per district."""
    inp = settings.inputs
    cores = None
    if inp.cores is not None:
        cores = read_cores(inp.cores, districts, id_field=inp.id_field, crs_metric=crs_metric)
    elif qingdao:
        cores = read_cores(seed_path(SEED_CORES), districts, id_field="adcode", crs_metric=crs_metric)
    elif settings.inputs.demand is None:
        log.warning("no urban cores (data.cores): each district's modelled demand is centred on its polygon's "
                    "representative point, which can be kilometres from its towns; supply a CSV of the towns with "
                    "columns %s (district id), lon, lat[, weight] as data.cores", inp.id_field)
    return complete_cores(cores, districts, crs_metric=crs_metric)


def _population(settings: BuildSettings, fine: pd.DataFrame, districts, cores,
                crs_metric: str) -> tuple[np.ndarray, str, dict]:
    """People per fine cell, the demand-source note and its report (census total, kept, dropped)."""
    d, inp = settings.demand, settings.inputs
    census = float(districts["population"].sum())
    report: dict = {"census_total": census}
    if inp.demand is None:
        population = modelled_population(fine, districts, cores, urban_share=d.urban_share,
                                         core_scale_km=d.core_scale_km)
        return population, MODELLED_SOURCE.format(scale=d.core_scale_km, share=d.urban_share), report
    path = inp.demand
    if Path(path).suffix.lower() in RASTER_SUFFIXES:
        population, rep = raster_population(fine, path, crs_metric=crs_metric)
        kind = "raster"
    else:
        population, rep = table_population(fine, path, field=inp.demand_population_field, crs_metric=crs_metric)
        kind = "table"
    source = (f"{kind} {Path(path).name} ({rep.total:,.0f} people in the study area, "
              f"{rep.dropped:,.0f} outside it; district table total {census:,.0f})")
    report.update({"source_total": rep.total, "source_dropped": rep.dropped, "source_items": rep.items})
    if rep.total <= 0:
        raise InputError("no people of this demand source fall inside the study area", file=str(path),
                         field=inp.demand_population_field if kind == "table" else None)
    log.info("demand %s: %s people kept (district table %s)", kind, f"{rep.total:,.0f}", f"{census:,.0f}")
    return population, source, report


def _hotspot_lines(settings: BuildSettings, fine: pd.DataFrame, districts, qingdao: bool,
                   crs_metric: str) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Hot spots, and per fine cell its enterprise lines and PON lines (``onts``); offices need them before aggregation."""
    d, path = settings.demand, settings.inputs.hotspots
    if path is None and qingdao:
        path = seed_path(SEED_HOTSPOTS)
    if path is not None:
        hotspots = read_hotspots(path, districts, lines_per_km2=d.hotspot_lines_per_km2, crs_metric=crs_metric)
    else:
        hotspots = empty_hotspots()
    fine["hotspot_lines"], hot_name = hotspot_lines(fine, hotspots, crs_metric=crs_metric)
    hh_ratio = (districts["households"].to_numpy(dtype=float)
                / np.maximum(districts["population"].to_numpy(dtype=float), 1e-12))[fine["district"].to_numpy()]
    fine["onts"] = (fine["population"] * hh_ratio * d.ont_takeup
                    + fine["population"] * d.enterprise_lines_per_1000 / 1000.0 + fine["hotspot_lines"])
    return hotspots, hot_name


def _demand_cells(settings: BuildSettings, fine: pd.DataFrame, districts, hot_name: np.ndarray,
                  crs_metric: str) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """The adaptive demand cells (the contract's columns) and, per fine cell, the row of its demand cell."""
    d = settings.demand
    cells, fine_to_cell = aggregate(fine, districts, res_by_clutter=settings.cell_res,
                                    thresholds=d.thresholds_per_km2, crs_metric=crs_metric,
                                    sum_cols=("hotspot_lines",))
    named = np.flatnonzero(hot_name != "")
    hs = (pd.DataFrame({"cell": fine_to_cell[named], "name": hot_name[named]}).drop_duplicates()
          .sort_values(["cell", "name"]).groupby("cell")["name"].agg(", ".join))
    cells["hotspot"] = hs.reindex(range(len(cells)), fill_value="").to_numpy(dtype=object)
    demand_columns(cells, districts, penetration_5g=d.penetration_5g, busy_hour_mbps_per_user=d.busy_hour_mbps_per_user,
                   ont_takeup=d.ont_takeup, enterprise_lines_per_1000=d.enterprise_lines_per_1000,
                   radius_m=settings.radius_m, k_coverage=settings.k_coverage)
    demand = gpd.GeoDataFrame(cells[DEMAND_COLUMNS], geometry=cells.geometry, crs=WGS84).reset_index(drop=True)
    log.info("demand grid: %d cells (%s)", len(demand),
             ", ".join(f"{c} {int((demand['clutter'] == c).sum())}" for c in CLUTTERS))
    return demand, fine_to_cell


def _candidates(settings: BuildSettings, demand, fine, fine_to_cell, districts, site_res: dict[str, int],
                crs_metric: str) -> gpd.GeoDataFrame:
    """Candidate 5G sites: the grid sites, the user's candidates and the existing stations."""
    inp = settings.inputs
    parts = [grid_sites(demand, fine=fine, fine_to_cell=fine_to_cell, site_res=site_res)]
    if settings.type_radius_m:
        parts.append(_planning_point_sites(demand, parts[0]))
    if settings.small_cell_res is not None and settings.type_radius_m:
        small = small_cell_sites(demand, fine=fine, fine_to_cell=fine_to_cell, res=settings.small_cell_res,
                                 clutters=settings.small_cell_clutters, crs_metric=crs_metric)
        macro_xy = pd.concat(parts)[["x_m", "y_m"]].to_numpy(float)
        clash = cKDTree(macro_xy).query(small[["x_m", "y_m"]].to_numpy(float), distance_upper_bound=1.0)[0] <= 1.0
        parts.append(small[~clash])     # an H3 centre child shares its parent's centre: no pole on a macro site
    if inp.candidates is not None:
        parts.append(user_sites(inp.candidates, demand, districts, crs_metric=crs_metric))
    if inp.towers is not None:
        parts.append(user_sites(inp.towers, demand, districts, crs_metric=crs_metric, source="tower"))
    if inp.existing_sites is not None:
        parts.append(user_sites(inp.existing_sites, demand, districts, crs_metric=crs_metric, existing=True))
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=WGS84)


def _drop_unpaired_small(candidates, pairs: pd.DataFrame) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Small-cell positions that no cell's (capped) pairs reach serve nothing: drop them, renumber the pairs."""
    if "type" not in candidates:
        return candidates, pairs
    small = candidates["type"].astype(str).to_numpy() == "small"
    keep = ~small
    keep[pairs["site"].to_numpy()] = True
    new_row = np.cumsum(keep) - 1
    log.info("small-cell positions: %d within reach of a cell kept, %d dropped", int((keep & small).sum()),
             int((~keep).sum()))
    return (candidates[keep].reset_index(drop=True),
            pairs.assign(site=new_row[pairs["site"].to_numpy()]).reset_index(drop=True))


def _planning_point_sites(demand, grid) -> gpd.GeoDataFrame:
    """A macro position at the planning point of every cell none of whose own grid sites lies within its radius.

    With link-budget radii a coarse cell's sub-cell sites can all lie beyond its radius; this keeps every
    cell coverable by a site of its own (the position ``without site_res`` would have given it).
    """
    own = grid["cell"].to_numpy()
    d = np.hypot(grid["x_m"].to_numpy() - demand["x_m"].to_numpy()[own], grid["y_m"].to_numpy() - demand["y_m"].to_numpy()[own])
    near = np.zeros(len(demand), bool)
    near[own[d <= demand["radius_m"].to_numpy()[own]]] = True
    lack = ~near
    sites = grid_sites(demand[lack].reset_index(drop=True))
    sites["cell"] = np.flatnonzero(lack)
    sites["site_id"] = sites["site_id"].astype(str) + "-P"
    return sites


def _offices(settings: BuildSettings, fine, fine_to_cell, demand, cores, districts, crs_metric: str) -> gpd.GeoDataFrame:
    """OLT sites: the user's offices; or offices generated from the demand (a modelled existing plant unless
    ``existing_plant`` is None), plus new candidates where a cell lies beyond the optical reach of all of them."""
    path = settings.inputs.offices
    if path is not None:
        offices = user_offices(path, demand, districts, crs_metric=crs_metric)
        if len(offices) == 0:
            raise InputError("no office lies inside the study area", file=str(path))
        return offices
    offices = generate_offices(fine, fine_to_cell, demand, cores, districts,
                               capacity_onts=settings.office_capacity_onts, crs_metric=crs_metric)
    if settings.existing_plant is not None:
        offices = model_existing_plant(offices, demand, settings.existing_plant)
    # every cell with lines must reach some candidate within the optical reach (straight-line equivalent)
    return fill_reach(offices, demand, max_dist_m=settings.office_reach_straight_m * OFFICE_REACH_MARGIN)


def candidate_pairs(demand, candidates, max_pairs: int | None, type_radius_m: dict,
                    crs_metric: str) -> tuple[pd.DataFrame, int]:
    """The sparse pair table (nearest ``max_pairs`` per cell, per type with ``type_radius_m``) and how many pairs lay within radius."""
    if type_radius_m:
        radius = {t: demand["clutter"].map(r).to_numpy(float) for t, r in type_radius_m.items()}
        polys = np.asarray(to_metric(demand, crs_metric).geometry.values)
        return pairs_by_type(demand[["x_m", "y_m"]].to_numpy(), radius, candidates[["x_m", "y_m"]].to_numpy(),
                             candidates["type"].astype(str).to_numpy(), max_pairs=max_pairs, cell_polygons=polys)
    pairs = pairs_within_radius(demand[["x_m", "y_m"]].to_numpy(), demand["radius_m"].to_numpy(),
                                candidates[["x_m", "y_m"]].to_numpy())
    within = len(pairs)
    if max_pairs is not None and len(pairs):
        pairs = pairs[pairs.groupby("cell").cumcount().to_numpy() < max_pairs].reset_index(drop=True)
    return pairs, within


def _stats(*, districts, fine, demand, candidates, offices, pairs, hotspots, cores) -> dict:
    """Counts of the build (``Layers.stats``; the caller adds the rest of :data:`STATS_ORDER`)."""
    per_cell = np.bincount(pairs["cell"].to_numpy(), minlength=len(demand)) if len(pairs) else np.zeros(len(demand), int)
    by_district = demand.groupby("district_id")["population"].sum()
    return {
        "districts": len(districts), "fine_cells": len(fine),
        "cells": len(demand), "cells_by_clutter": {c: int((demand["clutter"] == c).sum()) for c in CLUTTERS},
        "population_by_clutter": {c: float(demand.loc[demand["clutter"] == c, "population"].sum()) for c in CLUTTERS},
        "candidates": len(candidates),
        "candidates_by_source": {s: int((candidates["source"] == s).sum()) for s in ("grid", "user", "existing")},
        "offices": len(offices), "pairs": len(pairs),
        "max_pairs_per_cell": int(per_cell.max()) if len(per_cell) else 0,
        "cells_short_of_k": int(((per_cell < demand["k_coverage"].to_numpy())
                                 & (demand["population"].to_numpy() > 0)).sum()),
        "population": float(demand["population"].sum()),
        "population_by_district": {k: float(v) for k, v in by_district.items()},
        "households": float(demand["households"].sum()), "onts": float(demand["onts"].sum()),
        "traffic_mbps": float(demand["traffic_mbps"].sum()),
        "hotspot_lines": float(demand["hotspot_lines"].sum()),
        "hotspots_approximate": int(hotspots["approximate"].sum()) if len(hotspots) else 0,
        "cores": len(cores),
    }


# --------------------------------------------------------------------------- validation (rollout validate)

def validate_inputs(settings: BuildSettings) -> list[Problem]:
    """Every problem of the input layers, as ``(file, field, reason)``; empty when all are usable.

    Checks the boundary layer and district table together (see
    :mod:`gis.validate`), then tries to read each optional layer.
    """
    inp = settings.inputs
    problems = collect_problems(inp.boundaries_path(), inp.districts_path(), id_field=inp.id_field,
                                boundaries_layer=inp.boundaries_layer, boundary_coords=inp.coords())
    if problems:
        return problems
    districts = load_districts(settings)
    return _optional_problems(settings, districts, metric_crs(districts))


def _optional_problems(settings: BuildSettings, districts: gpd.GeoDataFrame, crs_metric: str) -> list[Problem]:
    """Problems of the optional layers (cores, hot spots, candidates, existing sites, offices, demand)."""
    inp = settings.inputs
    checks = []
    if inp.cores is not None:
        checks.append(lambda: read_cores(inp.cores, districts, id_field=inp.id_field, crs_metric=crs_metric))
    if inp.hotspots is not None:
        checks.append(lambda: read_hotspots(inp.hotspots, districts, lines_per_km2=1.0, crs_metric=crs_metric))
    for key in ("candidates", "towers", "existing_sites", "offices"):
        if getattr(inp, key) is not None:
            checks.append(lambda key=key: _check_points(getattr(inp, key), key == "existing_sites", key == "offices"))
    if inp.demand is not None:
        checks.append(lambda: _check_demand(inp.demand, inp.demand_population_field))
    problems: list[Problem] = []
    for check in checks:
        try:
            check()
        except ValidationError as exc:
            problems += exc.problems
        except InputError as exc:
            problems.append((exc.file, exc.field, exc.reason))
    return problems


def _raise_if(problems: list[Problem]) -> None:
    if problems:
        raise ValidationError(problems)


def _check_points(path, existing: bool, offices: bool) -> None:
    gdf, problems = check_point_layer(read_vector(path), file=str(path))
    _raise_if(problems)
    if existing and "type" in gdf.columns:
        t = gdf["type"].fillna("macro").astype(str).str.strip().str.lower().replace("", "macro")
        if (~t.isin(["macro", "small"])).any():
            raise ValidationError([(str(path), "type", "type must be 'macro' or 'small'")])
    if offices:
        bad = [c for c in ("ports", "free_slots", "chassis") if c in gdf.columns
               and _not_whole(pd.to_numeric(gdf[c].fillna(0), errors="coerce"))]
        _raise_if([(str(path), c, f"{c} must be a whole number >= 0") for c in bad])


def _not_whole(v: pd.Series) -> bool:
    return bool((v.isna() | (v < 0) | (v != v.round())).any())


def _check_demand(path, population_field: str) -> None:
    if Path(path).suffix.lower() in RASTER_SUFFIXES:
        _check_raster(path)
        return
    gdf, problems = check_point_layer(read_vector(path), file=str(path), allow_polygons=True)
    _raise_if(problems)
    _raise_if(check_numeric_column(gdf, population_field, file=str(path))[1])


def _check_raster(path) -> None:
    if not Path(path).is_file():
        raise InputError("file not found", file=str(path))
    try:
        import rasterio
    except ImportError:
        raise InputError("a population raster needs rasterio: pip install 'qingdao-rollout[raster]'",
                         file=str(path)) from None
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise InputError("raster has no coordinate reference system (CRS)", file=str(path), field="crs")
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"not a readable raster ({str(exc).splitlines()[0][:160]})", file=str(path)) from None
