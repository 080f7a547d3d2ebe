"""Table and format helpers shared by the map, the report and the comparison.

Everything here reads a saved plan's tables (see :mod:`rollout.plan`) and
turns columns into clean pandas/numpy values or into display text. The
per-district figures come from the saved plan's ``districts`` layer, which the
planner wrote: it is the one source of district KPIs, and nothing here
recomputes them from the stations or OLT sites.
"""
from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.crs import area_km2
from gis.validate import clean_text, clean_texts

#: saved ``districts`` column -> column of :func:`district_figures`
DISTRICT_KPIS = (("stations_5g", "stations"), ("stations_5g_new", "stations_new"), ("pon_ports", "pon_ports"),
                 ("olt_sites", "olt_sites"), ("capex_cny", "capex_cny"),
                 ("population_covered_share", "population_covered_share"))


# ====================================================================== text
def clean_plan_text(plan):
    """``plan`` with its title and every text column of its layers cleaned by :func:`gis.validate.clean_text`.

    The planner cleans user text when it reads it; this also covers a plan saved by an older version or edited
    by hand, so no control or bidi override character (U+202A-U+202E, U+2066-U+2069) reaches HTML, KML, CSV
    or GeoJSON. Changes ``plan`` in place and returns it.
    """
    plan.title = clean_text(plan.title)
    for name in ("stations", "olt_sites", "links", "districts", "demand"):
        gdf = getattr(plan, name, None)
        if gdf is None:
            continue
        for col in gdf.columns[gdf.dtypes == object]:  # the geometry column has its own dtype
            gdf[col] = clean_texts(gdf[col])
    return plan


# ====================================================================== columns
def as_frame(gdf) -> pd.DataFrame:
    """A plain DataFrame of a (Geo)DataFrame's attribute columns (empty for ``None``)."""
    if gdf is None:
        return pd.DataFrame()
    return pd.DataFrame(gdf.drop(columns=gdf.geometry.name, errors="ignore")) if isinstance(
        gdf, gpd.GeoDataFrame) else pd.DataFrame(gdf)


def numbers(df: pd.DataFrame, col: str) -> pd.Series:
    """Column ``col`` as floats (NaN where missing or not a number), indexed 0..n-1."""
    if col in df:
        return pd.to_numeric(df[col], errors="coerce").astype(float).reset_index(drop=True)
    return pd.Series(np.nan, index=range(len(df)), dtype=float)


def strings(df: pd.DataFrame, col: str) -> pd.Series:
    """Column ``col`` as strings (None where missing), indexed 0..n-1."""
    if col in df:
        s = df[col].reset_index(drop=True)
        missing = s.isna().to_numpy()
        out = s.astype(str).astype(object)
        out[missing] = None
        return out
    return pd.Series([None] * len(df), dtype=object)


def booleans(df: pd.DataFrame, col: str) -> np.ndarray:
    """Column ``col`` as booleans (all False when the column is missing)."""
    return df[col].astype(bool).to_numpy() if col in df else np.zeros(len(df), bool)


def station_weights(st: pd.DataFrame) -> np.ndarray:
    """Stations per row: the ``count`` column (1 where missing)."""
    if not len(st):
        return np.zeros(0, dtype=int)
    return numbers(st, "count").fillna(1).clip(lower=0).round().astype(int).to_numpy()


def is_modelled(demand_source) -> bool:
    """True when the demand surface is the modelled one (``demand_source`` starts with 'modelled')."""
    return str(demand_source or "").strip().lower().startswith("modelled")


# ====================================================================== districts
def district_labels(d: pd.DataFrame) -> pd.Series:
    """'name_zh name_en' per district (its id when both are missing)."""
    zh, en, ident = strings(d, "name_zh"), strings(d, "name_en"), strings(d, "district_id")
    out = []
    for a, b, c in zip(zh, en, ident, strict=True):
        parts = [p for p in (a, b) if p]
        out.append(" ".join(parts) if parts else (c or "?"))
    return pd.Series(out, dtype=object)


def district_area_km2(districts: gpd.GeoDataFrame) -> np.ndarray:
    """The official ``area_km2`` where given, else ``area_km2_measured``, else measured (:func:`gis.crs.area_km2`)."""
    d = as_frame(districts)
    area = numbers(d, "area_km2").to_numpy()
    for fallback in ("area_km2_measured", None):
        bad = ~np.isfinite(area) | (area <= 0)
        if not (bad.any() and len(d)):
            break
        other = numbers(d, fallback).to_numpy() if fallback else area_km2(districts.geometry)
        area = np.where(bad, other, area)
    return area


def district_figures(plan) -> pd.DataFrame:
    """One row per district of the saved ``districts`` layer, in its order.

    Columns: district_id, name_zh, name_en, label, population, households,
    area_km2 (see :func:`district_area_km2`), stations, stations_new,
    stations_per_km2, pon_ports, ports_per_1000_households, olt_sites,
    capex_cny, population_covered_share (0..1). The KPIs are the planner's
    (:data:`DISTRICT_KPIS`); a column the saved table lacks is NaN.
    """
    d = as_frame(plan.districts).reset_index(drop=True)
    out = pd.DataFrame({"district_id": strings(d, "district_id"), "name_zh": strings(d, "name_zh"),
                        "name_en": strings(d, "name_en"), "label": district_labels(d)})
    out["population"] = numbers(d, "population")
    out["households"] = numbers(d, "households")
    out["area_km2"] = district_area_km2(plan.districts) if len(d) else np.zeros(0)
    for saved, col in DISTRICT_KPIS:
        out[col] = numbers(d, saved)
    area = out["area_km2"].where(out["area_km2"] > 0)
    hh = out["households"].where(out["households"] > 0)
    out["stations_per_km2"] = out["stations"] / area
    out["ports_per_1000_households"] = out["pon_ports"] / hh * 1000.0
    return out


# ====================================================================== text
DASH = "\u2013"


def finite(v) -> float | None:
    """``v`` as a float, or None when it is missing, not a number or infinite."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def cny_text(v, *, exact: bool = False) -> str:
    """'4.21 bn CNY', '12.3 M CNY' or '1,234 CNY' ('exact' keeps whole CNY below a million)."""
    x = finite(v)
    if x is None:
        return DASH
    a = abs(x)
    if a == 0:
        return "0 CNY"
    if a >= 1e9:
        return f"{x / 1e9:,.2f} bn CNY"
    if a >= 1e6:
        return f"{x / 1e6:,.1f} M CNY"
    return f"{x:,.0f} CNY" if exact or a >= 1 else f"{x:,.2f} CNY"


def int_text(v) -> str:
    """'12,345' (a dash when missing)."""
    x = finite(v)
    return DASH if x is None else f"{x:,.0f}"


def num_text(v, digits: int) -> str:
    """'1,234.5' with ``digits`` decimals (a dash when missing)."""
    x = finite(v)
    return DASH if x is None else f"{x:,.{digits}f}"


def share_text(v, digits: int = 1) -> str:
    """A 0..1 share as '97.3%' (a dash when missing)."""
    x = finite(v)
    return DASH if x is None else f"{x * 100:.{digits}f}%"


def status_text(status: str | None, gap: float | None) -> str:
    """'optimal' only when the solver proved it; otherwise 'feasible, gap x%' and so on."""
    s = str(status or "").strip().lower()
    if s == "optimal":
        return "optimal"
    if s == "feasible":
        return f"feasible, gap {gap * 100:.2f}%" if finite(gap) is not None else "feasible, gap unknown"
    if s == "infeasible":
        return "infeasible"
    if s in ("no_solution", ""):
        return "no solution found"
    return f"{s} (not proven optimal)"
