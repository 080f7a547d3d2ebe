"""The ``Layers`` bundle: every validated table the optimizer reads.

All GeoDataFrames are in WGS-84 (EPSG:4326). Planar coordinates ``x_m``/``y_m``
are in ``crs_metric`` (a UTM zone chosen from the study area; EPSG:32651 for
Qingdao). Row order is the index order used by the pair tables.

Columns
-------
districts : GeoDataFrame (polygons)
    district_id (str), name_zh, name_en, population (int), households (int),
    area_km2 (official, float, may be NaN), area_km2_measured (float, in crs_metric)
demand : GeoDataFrame (hexagon polygons), one row per demand cell
    cell_id (str, H3 index), district_id (str), h3_res (int), population (float),
    households (float), traffic_mbps (float, busy hour), onts (float, PON lines),
    clutter (str: dense_urban | urban | suburban | rural), radius_m (float),
    k_coverage (int), area_km2 (float), lon, lat (centroid, WGS-84), x_m, y_m
candidates : GeoDataFrame (points), one row per candidate 5G site
    site_id (str), district_id (str), clutter (str), lon, lat, x_m, y_m,
    source (str: grid | user | existing), existing_macro (int), existing_small (int)
offices : GeoDataFrame (points), one row per candidate OLT / central-office site
    office_id (str), district_id (str), clutter (str), lon, lat, x_m, y_m,
    existing (bool), existing_ports (int)
pairs : DataFrame, the sparse 5G pair table (demand cell x candidate within its type's radius of the cell; ``cover``: of its planning point)
    cell (int, row of ``demand``), site (int, row of ``candidates``), dist_m (float)
hotspots : GeoDataFrame (polygons), industrial parks; may be empty
    name, district_id, approximate (bool), enterprise_lines (float)

Additional columns (added by the gis build; nothing above changes)
-------------------------------------------------------------------
demand
    h3 (str, the plain H3 index; ``cell_id`` equals it except for the rare H3
    cell split by a district border, whose parts get ``"<h3>@<district_id>"``),
    density_per_km2 (people / lattice_km2), lattice_km2 (area of the member fine
    H3 cells, unclipped), hotspot_lines (float, enterprise lines from hot spots,
    included in ``onts``; approximate where the hot spot is), hotspot (str, names)
candidates
    cell (int, row of ``demand`` containing the site or nearest to it)
offices
    name (str, e.g. "core: Shinan" for an urban-core office), cell (int, row of ``demand``),
    free_slots (int, free line-card slots), chassis (int, OLT chassis installed), source (str: generated |
    modelled | reach | user; ``modelled``: the modelled existing GPON plant, which also has gpon_lines, gpon_ports)
hotspots
    area_km2, lon, lat (the point the park was placed at), note
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

GPKG_LAYERS = ("districts", "demand", "candidates", "offices", "hotspots")


@dataclass
class Layers:
    districts: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    offices: gpd.GeoDataFrame
    pairs: pd.DataFrame
    hotspots: gpd.GeoDataFrame
    crs_metric: str
    demand_source: str  # e.g. "modelled (census district totals spread around urban cores)"
    stats: dict = field(default_factory=dict)  # counts and timings for reporting

    def summary(self) -> dict:
        """Counts a planner wants to see: cells, candidates, pairs, the largest pair count of any cell."""
        per_cell = self.pairs.groupby("cell").size() if len(self.pairs) else pd.Series(dtype=int)
        return {
            "districts": int(len(self.districts)),
            "cells": int(len(self.demand)),
            "candidates": int(len(self.candidates)),
            "offices": int(len(self.offices)),
            "pairs": int(len(self.pairs)),
            "max_pairs_per_cell": int(per_cell.max()) if len(per_cell) else 0,
            "mean_pairs_per_cell": round(float(per_cell.mean()), 2) if len(per_cell) else 0.0,
            "population": float(self.demand["population"].sum()),
            "demand_source": self.demand_source,
        }

    def to_gpkg(self, path: str | os.PathLike) -> Path:
        """Write every table to one GeoPackage, atomically.

        Layers ``districts``, ``demand``, ``candidates``, ``offices``,
        ``hotspots`` (WGS-84), the attribute tables ``pairs`` and ``meta``
        (``key``, ``value`` as JSON: crs_metric, demand_source, stats).
        """
        import pyogrio

        from gis.io import atomic_path

        path = Path(path)
        with atomic_path(path) as tmp:
            for name in GPKG_LAYERS:
                getattr(self, name).to_file(tmp, layer=name, driver="GPKG")
            pyogrio.write_dataframe(pd.DataFrame(self.pairs), tmp, layer="pairs", driver="GPKG")
            meta = {"crs_metric": self.crs_metric, "demand_source": self.demand_source, "stats": self.stats}
            pyogrio.write_dataframe(pd.DataFrame({"key": list(meta), "value": [json.dumps(v, default=str) for v in meta.values()]}),
                                    tmp, layer="meta", driver="GPKG")
        return path

    @classmethod
    def from_gpkg(cls, path: str | os.PathLike) -> "Layers":
        """Read a GeoPackage written by :meth:`to_gpkg`."""
        import pyogrio

        from gis.errors import InputError

        path = Path(path)
        if not path.is_file():
            raise InputError("file not found", file=str(path))
        try:
            tables = {name: pyogrio.read_dataframe(path, layer=name) for name in GPKG_LAYERS}
            pairs = pyogrio.read_dataframe(path, layer="pairs", read_geometry=False)
            meta_df = pyogrio.read_dataframe(path, layer="meta", read_geometry=False)
        except Exception as exc:  # pyogrio's DataSourceError / DataLayerError
            raise InputError(f"not a layers GeoPackage ({str(exc).splitlines()[0][:160]})", file=str(path)) from None
        meta = {k: json.loads(v) for k, v in zip(meta_df["key"], meta_df["value"], strict=True)}
        for key in ("cell", "site"):
            if key in pairs:
                pairs[key] = pairs[key].astype("int64")
        return cls(pairs=pd.DataFrame(pairs), crs_metric=meta["crs_metric"], demand_source=meta["demand_source"],
                   stats=meta.get("stats", {}), **tables)
