"""Build the :class:`~gis.layers.Layers` bundle from a scenario.

:func:`layers_from_scenario` reads every input named in ``scenario.data``
(relative paths resolve against the scenario file), falling back to the
embedded Qingdao seeds, and runs the gis pipeline::

    validate districts -> metric CRS -> fine H3 lattice -> population (modelled / raster / table)
    -> hot-spot lines -> adaptive demand cells -> candidate 5G sites -> OLT sites -> sparse pairs

Another city needs only its own boundary file and district table (and no
cores file: each district's representative point then stands in for its
core); the Qingdao cores and hot spots are used only when the district ids
are Qingdao's.

:func:`validate_scenario_inputs` reads the same inputs and returns every
problem instead of raising (for ``rollout validate``).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.candidates import fill_reach, generate_offices, grid_sites, user_offices, user_sites
from gis.crs import WGS84, metric_crs
from gis.demand import (complete_cores, demand_columns, empty_hotspots, hotspot_lines, modelled_population,
                        raster_population, read_cores, read_hotspots, table_population)
from gis.errors import InputError, ValidationError
from gis.grid import CLUTTERS, aggregate, fine_lattice
from gis.layers import Layers
from gis.pairs import pairs_within_radius
from gis.validate import Problem, collect_problems, validate_districts
from rollout.scenario import Scenario
from seeds import seed_path

log = logging.getLogger(__name__)

SEED_BOUNDARIES = "qingdao_districts.gpkg"
SEED_DISTRICTS = "qingdao_districts.csv"
SEED_CORES = "qingdao_cores.csv"
SEED_HOTSPOTS = "qingdao_hotspots.csv"
RASTER_SUFFIXES = (".tif", ".tiff", ".vrt")

#: a demand cell keeps only its nearest candidates in the pair table
MAX_PAIRS_PER_CELL = 20

MODELLED_SOURCE = ("modelled (census district totals spread around urban cores: exponential kernel "
                   "of {scale:g} km holding {share:.0%} of each district, the rest uniform over its land)")

DEMAND_COLUMNS = ["cell_id", "district_id", "h3_res", "population", "households", "traffic_mbps", "onts",
                  "clutter", "radius_m", "k_coverage", "area_km2", "lon", "lat", "x_m", "y_m",
                  # additions beyond the contract
                  "h3", "density_per_km2", "lattice_km2", "hotspot_lines", "hotspot"]


def _paths(scenario: Scenario) -> dict:
    d = scenario.data
    p = {
        "boundaries": scenario.path(d.boundaries) or seed_path(SEED_BOUNDARIES),
        "districts": scenario.path(d.districts) or seed_path(SEED_DISTRICTS),
        "cores": scenario.path(d.cores),
        "hotspots": scenario.path(d.hotspots),
        "candidates": scenario.path(d.candidates),
        "existing_sites": scenario.path(d.existing_sites),
        "offices": scenario.path(d.offices),
        "demand": None if d.demand.strip().lower() == "modelled" else scenario.path(d.demand),
    }
    p["seed_boundaries"] = not d.boundaries
    return p


def _uses_seed_ids(districts: gpd.GeoDataFrame, seed_csv: str) -> bool:
    """True when the seed file's district ids all exist in ``districts`` (the study area is Qingdao)."""
    seed = pd.read_csv(seed_path(seed_csv), dtype={"adcode": str})
    return set(seed["adcode"]).issubset(set(districts["district_id"]))


def _res_by_clutter(scenario: Scenario) -> dict[str, int]:
    g = scenario.grid
    return {"dense_urban": g.res_dense_urban, "urban": g.res_urban, "suburban": g.res_suburban, "rural": g.res_rural}


def _thresholds(scenario: Scenario) -> dict[str, float]:
    d = scenario.demand
    return {"dense_urban": d.dense_urban_per_km2, "urban": d.urban_per_km2, "suburban": d.suburban_per_km2}


def load_districts(scenario: Scenario) -> gpd.GeoDataFrame:
    """The validated districts layer (WGS-84) with ``area_km2_measured``; raises ValidationError."""
    p = _paths(scenario)
    coords = scenario.data.boundary_coords
    if p["seed_boundaries"] and coords != "wgs84":
        log.warning("data.boundary_coords = %r ignored: the embedded seed is already WGS-84", coords)
        coords = "wgs84"
    districts = validate_districts(p["boundaries"], p["districts"], id_field=scenario.data.id_field,
                                   boundaries_layer=scenario.data.boundaries_layer or None, boundary_coords=coords)
    crs_metric = metric_crs(districts)
    districts["area_km2_measured"] = districts.geometry.to_crs(crs_metric).area.to_numpy() / 1e6
    return districts


def layers_from_scenario(scenario: Scenario, *, site_res: dict[str, int] | None = None,
                         max_pairs_per_cell: int | None = None) -> Layers:
    """Every validated table the optimizer reads, built from ``scenario`` (see the module docstring).

    Parameters
    ----------
    scenario
        The scenario; ``scenario.data`` names the inputs.
    site_res
        ``None``: the scenario's ``grid.site_res_*``. Or an H3 resolution per
        clutter class for denser grid candidates (see :func:`gis.candidates.grid_sites`),
        e.g. ``{"dense_urban": 9, "urban": 9, "suburban": 8, "rural": 7}``.
    max_pairs_per_cell
        Keep only this many nearest candidates per demand cell in ``pairs``
        (``None``: the scenario's ``grid.max_pairs_per_cell``). Without ``site_res`` a cell's own grid
        site sits at its planning point (distance 0), so it is always kept.

    Raises :class:`~gis.errors.InputError` / :class:`~gis.errors.ValidationError`
    for bad inputs; ``Layers.stats`` holds counts and per-phase timings (seconds).
    """
    if site_res is None:
        site_res = {c: getattr(scenario.grid, f"site_res_{c}") for c in ("dense_urban", "urban", "suburban", "rural")}
    if max_pairs_per_cell is None:
        max_pairs_per_cell = scenario.grid.max_pairs_per_cell
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    mark = [t_start]

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = round(now - mark[0], 3)
        mark[0] = now

    p = _paths(scenario)
    d = scenario.demand
    districts = load_districts(scenario)
    crs_metric = metric_crs(districts)
    qingdao = _uses_seed_ids(districts, SEED_DISTRICTS)
    problems = _optional_problems(p, scenario, districts, crs_metric)  # every optional layer, checked at once
    if problems:
        raise ValidationError(problems)
    lap("districts")
    log.info("%d districts, %s people, metric CRS %s", len(districts), f"{districts['population'].sum():,.0f}", crs_metric)

    res = _res_by_clutter(scenario)
    fine_res = max(res.values())
    fine = fine_lattice(districts, fine_res, crs_metric=crs_metric)
    lap("lattice")
    log.info("fine lattice: %d H3 cells at resolution %d", len(fine), fine_res)

    # ---- cores and population
    cores = None
    if p["cores"] is not None:
        cores = read_cores(p["cores"], districts, id_field=scenario.data.id_field, crs_metric=crs_metric)
    elif qingdao:
        cores = read_cores(seed_path(SEED_CORES), districts, id_field="adcode", crs_metric=crs_metric)
    cores = complete_cores(cores, districts, crs_metric=crs_metric)
    census = float(districts["population"].sum())
    report: dict = {"census_total": census}
    if p["demand"] is None:
        fine["population"] = modelled_population(fine, districts, cores, urban_share=d.urban_share,
                                                 core_scale_km=d.core_scale_km)
        source = MODELLED_SOURCE.format(scale=d.core_scale_km, share=d.urban_share)
    else:
        path = p["demand"]
        if Path(path).suffix.lower() in RASTER_SUFFIXES:
            fine["population"], rep = raster_population(fine, path, crs_metric=crs_metric)
            kind = "raster"
        else:
            fine["population"], rep = table_population(fine, path, field=scenario.data.demand_population_field,
                                                       crs_metric=crs_metric)
            kind = "table"
        source = (f"{kind} {Path(path).name} ({rep.total:,.0f} people in the study area, "
                  f"{rep.dropped:,.0f} outside it; census total {census:,.0f})")
        report.update({"source_total": rep.total, "source_dropped": rep.dropped, "source_items": rep.items})
        if rep.total <= 0:
            raise InputError("no people of this demand source fall inside the study area", file=str(path),
                             field=scenario.data.demand_population_field if kind == "table" else None)
        log.info("demand %s: %s people kept (census %s)", kind, f"{rep.total:,.0f}", f"{census:,.0f}")
    lap("population")

    # ---- hot spots and per-fine-cell lines (offices need them before aggregation)
    if p["hotspots"] is not None:
        hotspots = read_hotspots(p["hotspots"], districts, lines_per_km2=d.hotspot_lines_per_km2, crs_metric=crs_metric)
    elif qingdao:
        hotspots = read_hotspots(seed_path(SEED_HOTSPOTS), districts, lines_per_km2=d.hotspot_lines_per_km2,
                                 crs_metric=crs_metric)
    else:
        hotspots = empty_hotspots()
    fine["hotspot_lines"], hot_name = hotspot_lines(fine, hotspots, crs_metric=crs_metric)
    hh_ratio = (districts["households"].to_numpy(dtype=float)
                / np.maximum(districts["population"].to_numpy(dtype=float), 1e-12))[fine["district"].to_numpy()]
    fine["onts"] = (fine["population"] * hh_ratio * d.ont_takeup
                    + fine["population"] * d.enterprise_lines_per_1000 / 1000.0 + fine["hotspot_lines"])
    lap("hotspots")

    # ---- adaptive demand cells
    cells, fine_to_cell = aggregate(fine, districts, res_by_clutter=res, thresholds=_thresholds(scenario),
                                    crs_metric=crs_metric, sum_cols=("hotspot_lines",))
    named = np.flatnonzero(hot_name != "")
    hs = (pd.DataFrame({"cell": fine_to_cell[named], "name": hot_name[named]}).drop_duplicates()
          .sort_values(["cell", "name"]).groupby("cell")["name"].agg(", ".join))
    cells["hotspot"] = hs.reindex(range(len(cells)), fill_value="").to_numpy(dtype=object)
    demand_columns(cells, districts, penetration_5g=d.penetration_5g, busy_hour_mbps_per_user=d.busy_hour_mbps_per_user,
                   ont_takeup=d.ont_takeup, enterprise_lines_per_1000=d.enterprise_lines_per_1000,
                   radius_m=scenario.radio.radius_m.as_dict(),
                   k_coverage={c: int(v) for c, v in scenario.radio.k_coverage.as_dict().items()})
    demand = gpd.GeoDataFrame(cells[DEMAND_COLUMNS], geometry=cells.geometry, crs=WGS84).reset_index(drop=True)
    lap("grid")
    log.info("demand grid: %d cells (%s)", len(demand),
             ", ".join(f"{c} {int((demand['clutter'] == c).sum())}" for c in CLUTTERS))

    # ---- candidate 5G sites
    parts = [grid_sites(demand, fine=fine, fine_to_cell=fine_to_cell, site_res=site_res)]
    if p["candidates"] is not None:
        parts.append(user_sites(p["candidates"], demand, districts, crs_metric=crs_metric))
    if p["existing_sites"] is not None:
        parts.append(user_sites(p["existing_sites"], demand, districts, crs_metric=crs_metric, existing=True))
    candidates = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=WGS84)
    lap("candidates")

    # ---- candidate OLT sites
    if p["offices"] is not None:
        offices = user_offices(p["offices"], demand, districts, crs_metric=crs_metric)
        if len(offices) == 0:
            raise InputError("no office lies inside the study area", file=str(p["offices"]))
    else:
        pon = scenario.pon
        capacity = pon.ports_per_chassis * pon.max_chassis_per_site * max(pon.split_ratio.as_dict().values())
        offices = generate_offices(fine, fine_to_cell, demand, cores, districts, capacity_onts=capacity,
                                   crs_metric=crs_metric)
        # every cell with lines must reach some candidate within the optical reach (straight-line equivalent)
        offices = fill_reach(offices, demand, max_dist_m=pon.reach_km * 1000.0 / pon.route_factor * 0.98)
    lap("offices")

    # ---- sparse pairs
    pairs = pairs_within_radius(demand[["x_m", "y_m"]].to_numpy(), demand["radius_m"].to_numpy(),
                                candidates[["x_m", "y_m"]].to_numpy())
    within = len(pairs)
    if max_pairs_per_cell is not None and len(pairs):
        pairs = pairs[pairs.groupby("cell").cumcount().to_numpy() < max_pairs_per_cell].reset_index(drop=True)
    lap("pairs")

    per_cell = np.bincount(pairs["cell"].to_numpy(), minlength=len(demand)) if len(pairs) else np.zeros(len(demand), int)
    short = int(((per_cell < demand["k_coverage"].to_numpy()) & (demand["population"].to_numpy() > 0)).sum())
    by_district = demand.groupby("district_id")["population"].sum()
    stats = {
        "districts": len(districts), "fine_cells": len(fine), "fine_res": fine_res,
        "cells": len(demand), "cells_by_clutter": {c: int((demand["clutter"] == c).sum()) for c in CLUTTERS},
        "population_by_clutter": {c: float(demand.loc[demand["clutter"] == c, "population"].sum()) for c in CLUTTERS},
        "candidates": len(candidates),
        "candidates_by_source": {s: int((candidates["source"] == s).sum()) for s in ("grid", "user", "existing")},
        "offices": len(offices), "pairs": len(pairs), "pairs_within_radius": within,
        "max_pairs_cap": max_pairs_per_cell,
        "max_pairs_per_cell": int(per_cell.max()) if len(per_cell) else 0,
        "cells_short_of_k": short,
        "population": float(demand["population"].sum()),
        "population_by_district": {k: float(v) for k, v in by_district.items()},
        "households": float(demand["households"].sum()), "onts": float(demand["onts"].sum()),
        "traffic_mbps": float(demand["traffic_mbps"].sum()),
        "hotspot_lines": float(demand["hotspot_lines"].sum()),
        "hotspots_approximate": int(hotspots["approximate"].sum()) if len(hotspots) else 0,
        "cores": len(cores), "crs_metric": crs_metric, "demand": report,
        "timings_s": timings, "seconds_total": round(time.perf_counter() - t_start, 3),
    }
    if short:
        log.warning("%d populated cell(s) have fewer candidate sites in reach than their k_coverage", short)
    log.info("layers built in %.1f s: %d cells, %d candidates, %d offices, %d pairs (max %d per cell)",
             stats["seconds_total"], len(demand), len(candidates), len(offices), len(pairs), stats["max_pairs_per_cell"])
    dist_cols = ["district_id", "name_zh", "name_en", "population", "households", "area_km2", "area_km2_measured", "geometry"]
    return Layers(districts=districts[dist_cols].reset_index(drop=True), demand=demand,
                  candidates=candidates.reset_index(drop=True), offices=offices.reset_index(drop=True),
                  pairs=pairs, hotspots=hotspots.reset_index(drop=True), crs_metric=crs_metric,
                  demand_source=source, stats=stats)


def validate_scenario_inputs(scenario: Scenario) -> list[Problem]:
    """Every problem of the scenario's input layers, as ``(file, field, reason)``; empty when all are usable.

    Checks the boundary layer and district table together (see
    :mod:`gis.validate`), then tries to read each optional layer.
    """
    p = _paths(scenario)
    coords = "wgs84" if p["seed_boundaries"] else scenario.data.boundary_coords
    problems = collect_problems(p["boundaries"], p["districts"], id_field=scenario.data.id_field,
                                boundaries_layer=scenario.data.boundaries_layer or None, boundary_coords=coords)
    if problems:
        return problems
    districts = load_districts(scenario)
    return _optional_problems(p, scenario, districts, metric_crs(districts))


def _optional_problems(p: dict, scenario: Scenario, districts: gpd.GeoDataFrame, crs_metric: str) -> list[Problem]:
    """Problems of the optional layers (cores, hot spots, candidates, existing sites, offices, demand)."""
    problems: list[Problem] = []
    checks = []
    if p["cores"] is not None:
        checks.append(lambda: read_cores(p["cores"], districts, id_field=scenario.data.id_field, crs_metric=crs_metric))
    if p["hotspots"] is not None:
        checks.append(lambda: read_hotspots(p["hotspots"], districts, lines_per_km2=1.0, crs_metric=crs_metric))
    for key in ("candidates", "existing_sites", "offices"):
        if p[key] is not None:
            checks.append(lambda key=key: _check_points(p[key], key == "existing_sites", key == "offices"))
    if p["demand"] is not None:
        checks.append(lambda: _check_demand(p["demand"], scenario))
    for check in checks:
        try:
            check()
        except ValidationError as exc:
            problems += exc.problems
        except InputError as exc:
            problems.append((exc.file, exc.field, exc.reason))
    return problems


def _check_points(path, existing: bool, offices: bool) -> None:
    from gis.io import read_vector
    from gis.validate import check_point_layer

    gdf, problems = check_point_layer(read_vector(path), file=str(path))
    if problems:
        raise ValidationError(problems)
    if existing and "type" in gdf.columns:
        t = gdf["type"].fillna("macro").astype(str).str.strip().str.lower().replace("", "macro")
        if (~t.isin(["macro", "small"])).any():
            raise ValidationError([(str(path), "type", "type must be 'macro' or 'small'")])
    if offices and "ports" in gdf.columns:
        ports = pd.to_numeric(gdf["ports"].fillna(0), errors="coerce")
        if ports.isna().any() or (ports < 0).any():
            raise ValidationError([(str(path), "ports", "ports must be a whole number >= 0")])


def _check_demand(path, scenario: Scenario) -> None:
    if Path(path).suffix.lower() in RASTER_SUFFIXES:
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
        return
    from gis.io import read_vector
    from gis.validate import check_numeric_column, check_point_layer

    gdf, problems = check_point_layer(read_vector(path), file=str(path), allow_polygons=True)
    if problems:
        raise ValidationError(problems)
    _, problems = check_numeric_column(gdf, scenario.data.demand_population_field, file=str(path))
    if problems:
        raise ValidationError(problems)


#: the name ``rollout validate`` uses
collect_input_problems = validate_scenario_inputs
