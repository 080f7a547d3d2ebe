"""The optional radio and ODN parts of a saved plan (issues 9 and 10), read for the map and the report.

A saved plan may carry, beside the layers every plan has (see :mod:`rollout.plan`):

* ``plan.json`` ``radio.link_budget``: a list of ``{type, band_mhz, clutter, mapl_db, radius_m}``;
  ``radio.existing_source``: where the existing (brownfield) 5G sites come from, ``"modelled ..."``
  or a file name;
* ``plan.json`` ``coverage.evaluation``: ``{threshold_dbm, points, area_share, population_share,
  by_district: [{district_id, name, points, area_share, population_share}],
  rsrp_histogram: [{dbm_lo, dbm_hi, points, population}]}``;
* ``plan.json`` ``pon.optical_budget``: a list of ``{split, class, budget_db, loss_db_fixed, db_per_km,
  max_route_km}``; ``pon.bill_of_quantities``: ``{olt_sites_new, olt_sites_upgraded, olt_chassis_new,
  olt_cards, ports, splitters: {"1:8": n, ...}, fibre_km: {feeder, distribution, backhaul}, trench_km,
  lines, cost_per_line_cny, homes_passed, cost_per_home_passed_cny}``;
* ``plan.gpkg`` layers ``rsrp`` (best-server RSRP on an H3 lattice: h3, district_id, clutter, population,
  area_km2, rsrp_dbm, covered; points) and ``splitters`` (splitter_id, olt_id, kind primary|secondary,
  ratio, lines, district_id; points).

Every part is optional: a plan without them draws as before. :func:`network_parts` takes them from the
loaded plan when it holds them (``plan.radio``, ``plan.rsrp``, ``plan.splitters``, ``plan.coverage``,
``plan.pon``) and otherwise, given the plan folder, from ``plan.json`` and ``plan.gpkg`` directly, so
the drawing does not depend on which of these the plan object itself loads.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.io import gpkg_layer_names

log = logging.getLogger(__name__)

OPTIONAL_LAYERS = ("rsrp", "splitters")


@dataclass
class NetworkParts:
    """The optional parts of one saved plan (empty / None when the plan has none)."""

    link_budget: list[dict] = field(default_factory=list)
    existing_source: str = ""
    evaluation: dict | None = None
    optical_budget: list[dict] = field(default_factory=list)
    bill_of_quantities: dict | None = None
    rsrp: gpd.GeoDataFrame | None = None
    splitters: gpd.GeoDataFrame | None = None

    @property
    def existing_modelled(self) -> bool:
        """True when the existing 5G network was placed by the planner's own model, not read from a file."""
        return str(self.existing_source or "").strip().lower().startswith("modelled")


def network_parts(plan, plan_dir: str | os.PathLike | None = None) -> NetworkParts:
    """The optional radio/ODN parts of ``plan``; missing ones are read from ``plan_dir`` when given."""
    radio = getattr(plan, "radio", None)
    layers = {name: _non_empty(getattr(plan, name, None)) for name in OPTIONAL_LAYERS}
    if plan_dir is not None:
        plan_dir = Path(plan_dir)
        if not isinstance(radio, dict):
            from rollout.plan import load_plan_summary

            radio = load_plan_summary(plan_dir).get("radio")
        missing = [name for name, gdf in layers.items() if gdf is None]
        if missing:
            layers.update(_read_layers(plan_dir / "plan.gpkg", missing))
    radio = radio if isinstance(radio, dict) else {}
    coverage = plan.coverage if isinstance(plan.coverage, dict) else {}
    pon = plan.pon if isinstance(plan.pon, dict) else {}
    evaluation = coverage.get("evaluation")
    boq = pon.get("bill_of_quantities")
    return NetworkParts(
        link_budget=_rows(radio.get("link_budget")),
        existing_source=str(radio.get("existing_source") or ""),
        evaluation=evaluation if isinstance(evaluation, dict) and evaluation else None,
        optical_budget=_rows(pon.get("optical_budget")),
        bill_of_quantities=boq if isinstance(boq, dict) and boq else None,
        rsrp=layers["rsrp"], splitters=layers["splitters"],
    )


def _rows(value) -> list[dict]:
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def _non_empty(gdf) -> gpd.GeoDataFrame | None:
    return gdf if isinstance(gdf, gpd.GeoDataFrame) and len(gdf) else None


def _read_layers(gpkg: Path, names: list[str]) -> dict:
    if not gpkg.is_file():
        return {}
    present = gpkg_layer_names(gpkg)
    out = {}
    for name in names:
        if name in present:
            gdf = gpd.read_file(gpkg, layer=name, engine="pyogrio")
            if "covered" in gdf:
                gdf["covered"] = gdf["covered"].astype(bool)
            for c in ("district_id", "splitter_id", "olt_id", "h3"):
                if c in gdf:
                    gdf[c] = gdf[c].astype("string").astype(object)
            out[name] = _non_empty(gdf)
            log.debug("read %d rows of %s from %s", len(gdf), name, gpkg)
    return out


def with_evaluated_coverage(dist: pd.DataFrame, evaluation: dict | None) -> pd.DataFrame:
    """District figures (:func:`maps.tables.district_figures`) whose population covered is the evaluation's.

    With a ``coverage.evaluation``, coverage shown anywhere comes from it alone: each district's
    ``population_covered_share`` becomes its ``by_district`` population share (NaN for a district the
    evaluation does not list). Without one, ``dist`` is returned unchanged.
    """
    if not evaluation or not isinstance(evaluation.get("by_district"), list):
        return dist
    share = {str(d.get("district_id")): d.get("population_share") for d in evaluation["by_district"]
             if isinstance(d, dict)}
    out = dist.copy()
    values = [share.get(str(i)) for i in out["district_id"]]
    out["population_covered_share"] = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    return out
