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
pairs : DataFrame, the sparse 5G pair table (demand cell x candidate within the cell's radius)
    cell (int, row of ``demand``), site (int, row of ``candidates``), dist_m (float)
hotspots : GeoDataFrame (polygons), industrial parks; may be empty
    name, district_id, approximate (bool), enterprise_lines (float)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd


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
