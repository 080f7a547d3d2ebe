"""Check a saved plan independently of the solver: recompute every invariant from the scenario and the geometry.

``rollout check DIR`` runs :func:`check_plan` on ``DIR/plan.json`` + ``DIR/plan.gpkg`` and prints
one line per invariant. The only things taken from the plan are its *decisions* (where each
station stands, its type and unit count, which OLT sites open with how many ports and chassis,
which OLT each cell homes on, the build years) and the demand cells' geometry and population.
Everything else is recomputed:

* the scenario comes from ``plan.json["scenario"]`` (validated as a scenario file would be);
  capacities, radii, k, split ratios, reach and unit prices come from it, never from the
  plan's ``capacity_mbps``, ``radius_m`` or ``*_cny`` columns;
* distances are measured in a metric CRS from the coordinates (stations' points, the demand
  cells' planning points, the OLT sites' points), never read from ``*_km`` columns;
* the district boundary and census table are read again from the scenario's input files.

Each invariant is one function of :class:`Evidence` that returns a :class:`Check` (or ``None``
where it does not apply, e.g. PON checks on a 5G-only plan); :data:`INVARIANTS` lists them in
order. A plan that cannot be read as a plan (a missing file, layer or column, a string where a
number belongs) raises :class:`PlanFormatError`, an :class:`~gis.errors.InputError` (exit 2).
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import maximum_flow
from scipy.spatial import cKDTree

from gis.crs import geoms_to_metric, lonlat_to_xy, metric_crs, to_metric
from gis.errors import InputError, RolloutError, ScenarioError
from rollout.plan import PLAN_GPKG, PLAN_JSON, Plan, load_plan, load_plan_summary
from rollout.scenario import CLUTTERS, Scenario, StationType, scenario_from_dict

log = logging.getLogger(__name__)

REL = 1e-6              # relative tolerance of recomputed money and traffic figures
DIST_TOL_M = 0.01       # a station this close outside a radius still counts (float round-off of projections)
BOUNDARY_TOL_M = 5.0    # containment tolerance: a point this close outside the boundary still counts as inside
SHOWN = 5               # offending items named in a detail line


@dataclass(frozen=True)
class Check:
    """One invariant of a saved plan: its name, whether it holds, and what was recomputed."""

    name: str
    ok: bool
    detail: str


class PlanFormatError(InputError):
    """A saved plan that cannot be read as a plan: a missing file, layer or column, or a value of the wrong type."""


def radius_m(scenario: Scenario, station_type: str, clutter: str) -> float:
    """Planning radius [m] of one station of ``station_type`` serving a demand cell of class ``clutter``.

    The scenario's explicit ``radio.<type>.radius_m[clutter]``, else the link budget of the type on its
    band in that clutter class (:func:`rollout.radio_plan.type_radii_m`, the same computation the plan uses).
    """
    import json

    return _radii(json.dumps(dataclasses.asdict(scenario.radio), sort_keys=True))[station_type][clutter]


@functools.lru_cache(maxsize=8)
def _radii(radio_json: str) -> dict:
    """Radii per type and clutter of a ``[radio]`` table (as JSON, so the budgets are computed once per scenario)."""
    import json

    from rollout.radio_plan import type_radii_m

    return type_radii_m(scenario_from_dict({"radio": json.loads(radio_json)}))


def station_types(scenario: Scenario) -> dict[str, StationType]:
    """The scenario's station types by name (``macro``, ``small``, ...)."""
    radio = scenario.radio
    return {f.name: getattr(radio, f.name) for f in dataclasses.fields(radio)
            if isinstance(getattr(radio, f.name), StationType)}


# --------------------------------------------------------------------------- reading a plan

#: columns the checks read, by layer: "str", "bool", "num" (finite), "num?" (may be missing), "int" (whole >= 0)
COLUMNS = {
    "stations": {"site_id": "str", "type": "str", "count": "int", "new": "bool", "capex_cny": "num",
                 "equipment_cny": "num", "backhaul_km": "num", "backhaul_cny": "num", "carried_mbps": "num?",
                 "build_year": "int"},
    "olt_sites": {"office_id": "str", "new": "bool", "ports": "int", "ports_new": "int", "chassis": "int"},
    "links": {"kind": "str", "from_id": "str", "to_id": "str"},
    "districts": {"district_id": "str", "population": "num"},
    "demand": {"cell_id": "str", "district_id": "str", "clutter": "str", "population": "num", "households": "num",
               "traffic_mbps": "num", "onts": "num", "lon": "num", "lat": "num", "covered": "bool"},
}
#: plan.json entries that must be tables (dicts) or lists when present
JSON_SHAPES = {"totals": dict, "coverage": dict, "pon": dict, "solver": dict, "scenario": dict, "extra": dict,
               "years": list, "districts": list, "layer_columns": dict}


def _fail(reason: str, path: Path, field: str | None = None) -> PlanFormatError:
    return PlanFormatError(reason, file=str(path), field=field)


def number(d: dict, key: str, where: str, path: Path, default: float | None = None) -> float:
    """``d[key]`` as a finite float; a missing key gives ``default`` (or is an error when there is none)."""
    if key not in d and default is None:
        raise _fail("missing", path, f"{where}.{key}")
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _fail(f"must be a finite number, not {v!r}", path, f"{where}.{key}")
    return float(v)


def _check_json_shapes(s, path: Path) -> None:
    if not isinstance(s, dict):
        raise _fail(f"must hold a JSON object, not {type(s).__name__}", path)
    if not s.get("scenario"):
        raise _fail("the plan records no scenario to check it against", path, "scenario")
    for key, kind in JSON_SHAPES.items():
        if key in s and s[key] is not None and not isinstance(s[key], kind):
            raise _fail(f"must be a {'table' if kind is dict else 'list'}, not {type(s[key]).__name__}", path, key)
    parts = (s.get("solver") or {}).get("parts") or {}
    if not isinstance(parts, dict) or not all(isinstance(p, dict) for p in parts.values()):
        raise _fail("must be a table of tables", path, "solver.parts")
    for key in ("years", "districts"):
        if not all(isinstance(r, dict) for r in s.get(key) or []):
            raise _fail("must be a list of tables", path, key)


def _check_column(gdf: gpd.GeoDataFrame, layer: str, col: str, kind: str, path: Path) -> None:
    field = f"{layer}.{col}"
    if col not in gdf.columns:
        raise _fail("column missing", path, field)
    if kind in ("str", "bool"):
        return
    raw = gdf[col]
    vals = pd.to_numeric(raw, errors="coerce")
    bad = vals.isna() & raw.notna() if kind == "num?" else ~np.isfinite(vals.to_numpy(float))
    if kind == "int":
        bad |= (vals < 0) | (vals != np.round(vals))
    if bad.any():
        first = raw[bad.to_numpy()].iloc[0]
        want = "a whole number >= 0" if kind == "int" else "a number"
        raise _fail(f"must be {want}, not {first!r} ({int(bad.sum())} row(s))", path, field)
    gdf[col] = vals.astype(float)


def _check_layers(plan: Plan, path: Path) -> None:
    gpkg = path / PLAN_GPKG
    for layer, cols in COLUMNS.items():
        gdf = getattr(plan, layer)
        if len(gdf) == 0:
            continue
        for col, kind in cols.items():
            _check_column(gdf, layer, col, kind, gpkg)
        geoms = np.asarray(gdf.geometry.values, dtype=object)
        if (shapely.is_missing(geoms) | shapely.is_empty(geoms)).any():
            raise _fail("empty or missing geometry", gpkg, layer)
    st = plan.stations
    if len(st) and not (st.geom_type == "Point").all():
        raise _fail("stations must be points", gpkg, "stations")
    if len(plan.demand) and not plan.demand["clutter"].isin(CLUTTERS).all():
        bad = plan.demand.loc[~plan.demand["clutter"].isin(CLUTTERS), "clutter"].iloc[0]
        raise _fail(f"unknown clutter class {bad!r}; valid: {', '.join(CLUTTERS)}", gpkg, "demand.clutter")


def read_plan(plan_dir: str | os.PathLike) -> tuple[Plan, dict]:
    """The saved plan and its raw ``plan.json``, or one :class:`PlanFormatError` naming what is wrong."""
    path = Path(plan_dir)
    summary = load_plan_summary(path)
    _check_json_shapes(summary, path / PLAN_JSON)
    try:
        plan = load_plan(path)
    except RolloutError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyogrio and pandas raise many kinds on a damaged GeoPackage
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise _fail(f"plan layers cannot be read ({first})", path / PLAN_GPKG) from None
    _check_layers(plan, path)
    return plan, summary


def scenario_of(summary: dict, plan_dir: Path) -> Scenario:
    """The typed scenario stored in ``plan.json``; relative input paths resolve where the scenario file was."""
    base = Path(summary.get("scenario_dir") or plan_dir)
    try:
        return scenario_from_dict(summary["scenario"], base_dir=base, source="scenario")
    except ScenarioError as exc:
        raise _fail(str(exc), plan_dir / PLAN_JSON) from None


def input_districts(scenario: Scenario) -> gpd.GeoDataFrame:
    """The district boundary joined to the census table, read again from the scenario's input files."""
    from gis.build import load_districts

    d = load_districts(scenario.layer_settings())
    return d.assign(district_id=d["district_id"].astype(str)).reset_index(drop=True)


# --------------------------------------------------------------------------- what the checks read

def _xy(lon, lat, crs: str) -> np.ndarray:
    x, y = lonlat_to_xy(np.asarray(lon, float), np.asarray(lat, float), crs)
    return np.column_stack([x, y]) if len(x) else np.zeros((0, 2))


def _points_xy(gdf: gpd.GeoDataFrame, crs: str) -> np.ndarray:
    return _xy(gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy(), crs) if len(gdf) else np.zeros((0, 2))


def _flatten(hits, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """KD-tree ball-query lists -> (query row, hit) arrays."""
    lens = np.fromiter((len(h) for h in hits), dtype=np.int64, count=len(hits))
    flat = np.fromiter(itertools.chain.from_iterable(hits), dtype=np.int64, count=int(lens.sum()))
    return np.repeat(rows, lens), flat


@dataclass
class Evidence:
    """Everything the invariants read, loaded and validated once (metric coordinates in ``crs``)."""

    plan: Plan
    summary: dict
    scenario: Scenario
    path: Path
    boundary: gpd.GeoDataFrame      # input districts (WGS-84): district_id, population, households, geometry
    crs: str

    @property
    def budget_mode(self) -> bool:
        return self.plan.extra.get("mode") == "budget"

    @property
    def has_pon(self) -> bool:
        return not self.budget_mode and self.scenario.pon.enabled

    def number(self, d: dict, key: str, where: str, default: float | None = None) -> float:
        return number(d, key, where, self.path / PLAN_JSON, default)

    @functools.cached_property
    def cell_xy(self) -> np.ndarray:
        """Planning point of every demand cell [m]."""
        d = self.plan.demand
        return _xy(d["lon"], d["lat"], self.crs) if len(d) else np.zeros((0, 2))

    @functools.cached_property
    def station_xy(self) -> np.ndarray:
        return _points_xy(self.plan.stations, self.crs)

    @functools.cached_property
    def olt_xy(self) -> np.ndarray:
        return _points_xy(self.plan.olt_sites, self.crs)

    @functools.cached_property
    def populated(self) -> np.ndarray:
        return self.plan.demand["population"].to_numpy(float) > 0 if len(self.plan.demand) else np.zeros(0, bool)

    @functools.cached_property
    def traffic_mbps(self) -> np.ndarray:
        """Busy-hour traffic per cell: population x 5G penetration x traffic per user, or the layer's figure if higher."""
        d, dm = self.plan.demand, self.scenario.demand
        rec = d["population"].to_numpy(float) * dm.penetration_5g * dm.busy_hour_mbps_per_user
        return np.maximum(rec, d["traffic_mbps"].to_numpy(float)) if len(d) else rec

    @functools.cached_property
    def households_rec(self) -> np.ndarray:
        """Households per cell at its district's households/population ratio in the census table."""
        b = self.boundary
        ratio = b["households"].to_numpy(float) / np.maximum(b["population"].to_numpy(float), 1e-12)
        r = self.plan.demand["district_id"].astype(str).map(dict(zip(b["district_id"], ratio, strict=True)))
        return self.plan.demand["population"].to_numpy(float) * r.to_numpy(float)

    @functools.cached_property
    def lines_rec(self) -> np.ndarray:
        """PON lines per cell without hot-spot lines (a lower bound): households x take-up + enterprise lines."""
        dm = self.scenario.demand
        pop = self.plan.demand["population"].to_numpy(float)
        return np.nan_to_num(self.households_rec) * dm.ont_takeup + pop * dm.enterprise_lines_per_1000 / 1000.0

    @functools.cached_property
    def lines(self) -> np.ndarray:
        """PON lines per cell: the layer's ``onts``, never below the recomputed lower bound."""
        return np.maximum(self.plan.demand["onts"].to_numpy(float), self.lines_rec * (1 - 1e-9))

    @functools.cached_property
    def unit_capacity_mbps(self) -> np.ndarray:
        """Capacity of each station row: the scenario's capacity per unit x the row's units."""
        st, types = self.plan.stations, station_types(self.scenario)
        per_unit = st["type"].map({k: t.capacity_mbps for k, t in types.items()}).to_numpy(float)
        return per_unit * st["count"].to_numpy(float)

    @functools.cached_property
    def cover_pairs(self) -> pd.DataFrame:
        """Sparse (cell, station row) pairs: every station within ``radius_m(type, clutter)`` of a populated cell."""
        st, d = self.plan.stations, self.plan.demand
        clutter = d["clutter"].astype(str).to_numpy()
        parts = [(np.zeros(0, np.int64), np.zeros(0, np.int64))]
        for t in (sorted(st["type"].astype(str).unique()) if len(st) and len(d) else []):
            rows = np.flatnonzero(st["type"].astype(str).to_numpy() == t)
            tree = cKDTree(self.station_xy[rows])
            for cl in CLUTTERS:
                idx = np.flatnonzero((clutter == cl) & self.populated)
                if len(idx):
                    hits = tree.query_ball_point(self.cell_xy[idx], r=radius_m(self.scenario, t, cl) + DIST_TOL_M)
                    cell, k = _flatten(hits, idx)
                    parts.append((cell, rows[k]))
        return pd.DataFrame({"cell": np.concatenate([p[0] for p in parts]),
                             "row": np.concatenate([p[1] for p in parts])})

    @functools.cached_property
    def reach_pairs(self) -> pd.DataFrame:
        """Sparse (cell, station row) pairs: every station within ``radius_m(type, clutter)`` of some part of a
        populated cell's hexagon (it can carry traffic of the cell), measured with shapely in the metric CRS."""
        st, d = self.plan.stations, self.plan.demand
        clutter = d["clutter"].astype(str).to_numpy()
        parts = [(np.zeros(0, np.int64), np.zeros(0, np.int64))]
        if not (len(st) and len(d)):
            return pd.DataFrame({"cell": parts[0][0], "row": parts[0][1]})
        polys = np.asarray(to_metric(d, self.crs).geometry.values)
        kind = st["type"].astype(str).to_numpy()
        for t in sorted(set(kind)):
            rows = np.flatnonzero(kind == t)
            pts = shapely.points(self.station_xy[rows])
            for cl in CLUTTERS:
                idx = np.flatnonzero((clutter == cl) & self.populated)
                if len(idx):
                    k, c = shapely.STRtree(polys[idx]).query(
                        pts, predicate="dwithin", distance=radius_m(self.scenario, t, cl) + DIST_TOL_M)
                    parts.append((idx[c], rows[k]))
        return pd.DataFrame({"cell": np.concatenate([p[0] for p in parts]),
                             "row": np.concatenate([p[1] for p in parts])})

    @functools.cached_property
    def stations_within(self) -> np.ndarray:
        """Stations (units) within radius of each cell's planning point."""
        p, counts = self.cover_pairs, self.plan.stations["count"].to_numpy(float) if len(self.plan.stations) else []
        w = np.asarray(counts, float)[p["row"].to_numpy()] if len(p) else np.zeros(0)
        return np.bincount(p["cell"].to_numpy(), weights=w, minlength=len(self.plan.demand))

    @functools.cached_property
    def station_clutter(self) -> np.ndarray:
        """Clutter class of the demand cell holding each station (of the nearest planning point where none does)."""
        st, d = self.plan.stations, self.plan.demand
        if not len(st) or not len(d):
            return np.full(len(st), None, dtype=object)
        pts, polys = np.asarray(st.geometry.values), np.asarray(d.geometry.values)
        p_idx, c_idx = shapely.STRtree(polys).query(pts, predicate="within")
        cell = np.full(len(st), -1, dtype=np.int64)
        cell[p_idx[::-1]] = c_idx[::-1]
        miss = np.flatnonzero(cell < 0)
        if len(miss):
            cell[miss] = cKDTree(self.cell_xy).query(self.station_xy[miss])[1]
        return d["clutter"].astype(str).to_numpy()[cell]

    @functools.cached_property
    def feeder(self) -> pd.DataFrame:
        """Homing as (cell row, OLT row, route_km recomputed from the points); unknown ids have row -1.

        Plans with an ODN (``distribution`` links): one row per distribution link, its route the path
        along the feeder tree to its cabinet plus the distribution (:attr:`odn_paths`).
        """
        if self.has_odn:
            p = self.odn_paths
            return p[["cell", "olt", "route_km"]]
        return self._links("feeder")

    @functools.cached_property
    def has_odn(self) -> bool:
        lk = self.plan.links
        return bool(len(lk)) and bool((lk["kind"].astype(str) == "distribution").any())

    @functools.cached_property
    def node_xy(self) -> pd.DataFrame:
        """Planar position [m] of every ODN node id: OLT sites (office_id) and cabinets (``CAB-<cell_id>``)."""
        d, o = self.plan.demand, self.plan.olt_sites
        ids = np.concatenate([("CAB-" + d["cell_id"].astype(str)).to_numpy(object), o["office_id"].astype(str).to_numpy(object),
                              d["cell_id"].astype(str).to_numpy(object)])
        xy = np.vstack([self.cell_xy, self.olt_xy, self.cell_xy])
        xy = pd.DataFrame(xy, index=ids, columns=["x", "y"])
        return xy[~xy.index.duplicated()]

    def _node_route_km(self, lk: gpd.GeoDataFrame) -> np.ndarray:
        """Route km of each link between the positions of its from/to nodes (not its drawn line) x route factor."""
        if not len(lk):
            return np.zeros(0)
        a = self.node_xy.reindex(lk["from_id"].astype(str).to_numpy()).to_numpy(float)
        b = self.node_xy.reindex(lk["to_id"].astype(str).to_numpy()).to_numpy(float)
        return np.hypot(*(a - b).T) / 1000.0 * self.scenario.pon.route_factor

    @functools.cached_property
    def odn_paths(self) -> pd.DataFrame:
        """Per distribution link: cell row, OLT row, feeder km along the tree, distribution km, route_km.

        Feeder edges (parent -> cabinet) are walked from each cabinet up to its OLT; a cabinet whose
        chain does not end at its OLT (a cycle or a missing edge) gets NaN.
        """
        lk = self.plan.links
        fe = lk[lk["kind"].astype(str) == "feeder"]
        di = lk[lk["kind"].astype(str) == "distribution"]
        edge_km = pd.Series(self._node_route_km(fe), index=fe["to_id"].astype(str).to_numpy())
        parent = pd.Series(fe["from_id"].astype(str).to_numpy(), index=edge_km.index)
        cab = di["from_id"].astype(str).to_numpy()
        olt_id = di["olt_id"].astype(str).to_numpy()
        feeder_km, cur = np.zeros(len(di)), cab.copy()
        done = cur == olt_id
        for _ in range(len(fe) + 1):
            if done.all():
                break
            step = edge_km.reindex(cur[~done]).to_numpy(float)
            feeder_km[~done] += step
            cur[~done] = parent.reindex(cur[~done]).fillna("").to_numpy(object)
            done = (cur == olt_id) | np.isnan(feeder_km)
        feeder_km[cur != olt_id] = np.nan
        cells = pd.Series(np.arange(len(self.plan.demand)), index=self.plan.demand["cell_id"].astype(str).to_numpy())
        olts = pd.Series(np.arange(len(self.plan.olt_sites)),
                         index=self.plan.olt_sites["office_id"].astype(str).to_numpy() if len(self.plan.olt_sites) else [])
        from rollout.model_odn import in_cell_distribution_km, in_cell_reach_km

        cell = di["to_id"].astype(str).map(cells).fillna(-1).to_numpy(np.int64)
        d = self.plan.demand
        area = d["area_km2"].fillna(0).to_numpy(float)[cell] if "area_km2" in d else np.zeros(len(cell))
        area = np.where(cell >= 0, area, 0.0)
        rf = self.scenario.pon.route_factor
        dist_km = self._node_route_km(di)
        in_reach = in_cell_reach_km(area, rf)
        return pd.DataFrame({
            "cell": cell, "olt": pd.Series(olt_id).map(olts).fillna(-1).to_numpy(np.int64),
            "feeder_km": feeder_km, "distribution_km": dist_km + in_cell_distribution_km(self.lines[cell], area, rf),
            "route_km": feeder_km + dist_km + in_reach})

    def _links(self, kind: str) -> pd.DataFrame:
        lk = self.plan.links
        lk = lk[lk["kind"].astype(str) == kind] if len(lk) else lk
        cells = pd.Series(np.arange(len(self.plan.demand)), index=self.plan.demand["cell_id"].astype(str).to_numpy())
        olts = pd.Series(np.arange(len(self.plan.olt_sites)),
                         index=self.plan.olt_sites["office_id"].astype(str).to_numpy() if len(self.plan.olt_sites) else [])
        c = lk["from_id"].astype(str).map(cells).fillna(-1).to_numpy(np.int64) if len(lk) else np.zeros(0, np.int64)
        o = lk["to_id"].astype(str).map(olts).fillna(-1).to_numpy(np.int64) if len(lk) else np.zeros(0, np.int64)
        ok = (c >= 0) & (o >= 0)
        km = np.full(len(c), np.nan)
        km[ok] = np.hypot(*(self.cell_xy[c[ok]] - self.olt_xy[o[ok]]).T) / 1000.0 * self.scenario.pon.route_factor
        return pd.DataFrame({"cell": c, "olt": o, "route_km": km})

    @functools.cached_property
    def tower_row(self) -> np.ndarray:
        """Per station row: a macro standing on an existing tower of the scenario's ``data.towers`` (within 1 m)."""
        st = self.plan.stations
        out = np.zeros(len(st), bool)
        path = self.scenario.path(self.scenario.data.towers) if self.scenario.data.towers else None
        if path is None or not len(st):
            return out
        from gis.io import read_vector

        towers = read_vector(path).to_crs(4326)
        txy = _xy(towers.geometry.x, towers.geometry.y, self.crs)
        d, _ = cKDTree(txy).query(self.station_xy, k=1) if len(txy) else (np.full(len(st), np.inf), None)
        return (st["type"].astype(str).to_numpy() == "macro") & (d <= 1.0)

    @functools.cached_property
    def backhaul_range_km(self) -> np.ndarray:
        """(rows, 2) shortest and longest route km a new station's backhaul may be priced at; NaN: not recomputable.

        A station's backhaul is priced from its home cell (the nearest planning point) to the OLT
        site(s) that cell homes on (one with single sourcing); a station whose cell is not homed
        goes to the nearest OLT site from its own point. Plans without a PON part keep their
        stored figure (the central offices they priced against are not saved). Spur types: :attr:`spur_range_km`.
        """
        out = self._own_backhaul_range_km()
        spur, lo, hi = self.spur_range_km
        out[spur, 0], out[spur, 1] = lo, hi
        return out

    @functools.cached_property
    def spur_type_row(self) -> np.ndarray:
        """Per station row: its type's backhaul is a spur (``backhaul = 'spur'``, small cells by default)."""
        spur_names = {k for k, t in station_types(self.scenario).items() if t.backhaul == "spur"}
        return self.plan.stations["type"].astype(str).isin(spur_names).to_numpy()

    @functools.cached_property
    def spur_range_km(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, shortest, longest route km) of the new stations of spur types (``backhaul = 'spur'``): a spur of
        straight distance x route factor to the nearest station of an own-backhaul type in the plan (1 m either
        side for the projection's round-off). None of them when the plan has no own-backhaul station, or is a
        budget plan (no ``backhaul_carrier``: every station priced on its own route)."""
        st = self.plan.stations
        none = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
        if not len(st) or "backhaul_carrier" not in st:   # budget plans price every station's own route
            return none
        is_spur = self.spur_type_row
        rows = np.flatnonzero(is_spur & st["new"].astype(bool).to_numpy())
        if not len(rows) or is_spur.all():
            return none
        d = cKDTree(self.station_xy[~is_spur]).query(self.station_xy[rows])[0]
        rf = self.scenario.pon.route_factor
        return rows, np.maximum(d - 1.0, 0.0) / 1000.0 * rf, (d + 1.0) / 1000.0 * rf

    @functools.cached_property
    def spur_anchor_ok(self) -> np.ndarray:
        """Per row of :attr:`spur_range_km`: its stored ``backhaul_to`` is a station of an own-backhaul type at the
        nearest such site's distance (1 m either side), so its build year and spur are the right ones."""
        rows, lo, hi = self.spur_range_km
        if not len(rows):
            return np.zeros(0, bool)
        st = self.plan.stations
        own = ~self.spur_type_row
        at = pd.DataFrame(self.station_xy[own], index=st["site_id"].astype(str).to_numpy()[own])
        at = at[~at.index.duplicated()]
        to = at.reindex(st["backhaul_to"].astype(str).to_numpy()[rows]).to_numpy(float)
        km = np.hypot(*(self.station_xy[rows] - to).T) / 1000.0 * self.scenario.pon.route_factor
        return np.isfinite(km) & (km >= lo * (1 - REL) - 1e-9) & (km <= hi * (1 + REL) + 1e-9)

    def _own_backhaul_range_km(self) -> np.ndarray:
        st = self.plan.stations
        out = np.full((len(st), 2), np.nan)
        new = st["new"].astype(bool).to_numpy() if len(st) else np.zeros(0, bool)
        if not (self.has_pon and len(self.olt_xy) and new.any() and len(self.cell_xy)):
            return out
        rows = np.flatnonzero(new)
        home = cKDTree(self.cell_xy).query(self.station_xy[rows])[1]
        if self.has_odn:  # backhaul rides the OLT's duct, priced cell -> OLT straight x route factor
            h = self.odn_paths.query("cell >= 0 and olt >= 0")
            km = np.hypot(*(self.cell_xy[h["cell"].to_numpy()] - self.olt_xy[h["olt"].to_numpy()]).T) / 1000.0
            routes = h.assign(route_km=km * self.scenario.pon.route_factor)
        else:
            routes = pd.concat([self.feeder, self._links("backhaul")]).query("cell >= 0 and olt >= 0")
        span = routes.groupby("cell")["route_km"].agg(["min", "max"])
        lo = np.array(span["min"].reindex(home), dtype=float)  # writable copies (copy-on-write views are not)
        hi = np.array(span["max"].reindex(home), dtype=float)
        alone = np.isnan(lo)
        if alone.any():
            d = cKDTree(self.olt_xy).query(self.station_xy[rows[alone]])[0]
            lo[alone] = hi[alone] = d / 1000.0 * self.scenario.pon.route_factor
        out[rows, 0], out[rows, 1] = lo, hi
        return out

    @functools.cached_property
    def station_district(self) -> np.ndarray:
        """District id of the input boundary polygon holding each station (None: outside every one)."""
        return self.district_of(self.station_xy)

    def district_of(self, xy: np.ndarray) -> np.ndarray:
        """District id of the input polygon holding each point, within ``BOUNDARY_TOL_M``; None outside all."""
        out = np.full(len(xy), None, dtype=object)
        geoms = geoms_to_metric(self.boundary.to_crs(4326).geometry.to_numpy(), self.crs)
        ids = self.boundary["district_id"].to_numpy()
        for g, did in zip(geoms, ids, strict=True):
            shapely.prepare(g)
            inside = shapely.contains_xy(g, xy[:, 0], xy[:, 1]) if len(xy) else np.zeros(0, bool)
            out[inside & (out == None)] = did  # noqa: E711 - elementwise on an object array
        rest = np.flatnonzero(out == None)  # noqa: E711
        if len(rest):
            dist = np.column_stack([shapely.distance(g, shapely.points(xy[rest])) for g in geoms])
            near = dist.argmin(axis=1)
            ok = dist[np.arange(len(rest)), near] <= BOUNDARY_TOL_M
            out[rest[ok]] = ids[near[ok]]
        return out


def load_evidence(plan_dir: str | os.PathLike) -> Evidence:
    """Read and validate a saved plan, its stored scenario and the scenario's district inputs."""
    path = Path(plan_dir)
    plan, summary = read_plan(path)
    scenario = scenario_of(summary, path)
    types = plan.stations["type"].astype(str) if len(plan.stations) else pd.Series(dtype=str)
    unknown = sorted(set(types) - set(station_types(scenario)))
    if unknown:
        raise _fail(f"station type {unknown[0]!r} is not one of the scenario's: {', '.join(station_types(scenario))}",
                    path / PLAN_GPKG, "stations.type")
    boundary = input_districts(scenario)
    return Evidence(plan=plan, summary=summary, scenario=scenario, path=path, boundary=boundary,
                    crs=metric_crs(boundary))


# --------------------------------------------------------------------------- helpers of the invariants

def _names(ids, mask, limit: int = SHOWN) -> str:
    """The first few ids under ``mask``, e.g. 'a, b, c (and 4 more)'."""
    picked = [str(i) for i in np.asarray(ids, dtype=object)[np.asarray(mask, bool)]]
    more = len(picked) - limit
    return ", ".join(picked[:limit]) + (f" (and {more} more)" if more > 0 else "")


def _close(a, b, scale=None) -> np.ndarray:
    """Elementwise a == b within ``REL`` of the larger magnitude (or of ``scale``), and within 1e-6 absolute."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    s = np.maximum(np.abs(a), np.abs(b)) if scale is None else np.asarray(scale, float)
    return np.abs(a - b) <= REL * np.maximum(s, 1.0) + 1e-6


def max_flow_served(supply: np.ndarray, capacity: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Which sources a bipartite network can serve in full: ``True`` per source whose whole supply gets through.

    Source ``i`` holds ``supply[i]``, sink ``j`` takes at most ``capacity[j]``, and ``(src, dst)``
    lists the allowed (uncapacitated) edges: the transportation feasibility of the 5G capacity
    model and of split PON homing. Solved exactly as an integer max-flow (scipy, Dinic) in units
    of ``total supply / 1e9``, supplies rounded down and capacities (raised by ``REL``) rounded up,
    so a plan that is feasible within the solver's tolerance is never refused for rounding.
    """
    supply, capacity = np.asarray(supply, float), np.asarray(capacity, float)
    n, m = len(supply), len(capacity)
    total = float(supply.sum())
    if total <= 0:
        return np.ones(n, bool)
    unit = total / 1e9
    s_units = np.floor(supply / unit).astype(np.int64)
    c_units = np.minimum(np.ceil(capacity * (1 + REL) / unit), 2e9).astype(np.int64)
    e = pd.DataFrame({"s": src, "d": dst}).drop_duplicates()
    sink = n + m + 1
    rows = np.concatenate([np.zeros(n, np.int64), 1 + e["s"].to_numpy(), 1 + n + np.arange(m)])
    cols = np.concatenate([1 + np.arange(n), 1 + n + e["d"].to_numpy(), np.full(m, sink)])
    cap = np.concatenate([s_units, s_units[e["s"].to_numpy()], c_units])
    keep = cap > 0
    graph = sp.csr_matrix((cap[keep].astype(np.int32), (rows[keep], cols[keep])), shape=(sink + 1, sink + 1))
    flow = maximum_flow(graph, 0, sink).flow
    served = np.asarray(flow[0, 1:n + 1].todense()).ravel()
    return served >= s_units


def _station_capex_rec(ev: Evidence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per station row: equipment and backhaul capex at the scenario's prices [CNY], and the route km used.

    New rows: units x the type's ``capex_cny`` and units x route km x ``backhaul_cost_cny_per_km`` (a plan with a
    ``backhaul_carrier`` column: per site, route km x that price on PON and spurs or the ring's site + km prices,
    shared by the site's new units), the route being the stored figure only where it lies within the recomputed range
    (:attr:`Evidence.backhaul_range_km`), clipped into it otherwise; existing rows cost 0.
    """
    st, sc = ev.plan.stations, ev.scenario
    if not len(st):
        return np.zeros(0), np.zeros(0), np.zeros(0)
    new = st["new"].astype(bool).to_numpy()
    count = st["count"].to_numpy(float)
    price = st["type"].map({k: t.capex_cny for k, t in station_types(sc).items()}).to_numpy(float)
    price = np.where(ev.tower_row, float(sc.radio.tower_upgrade_capex_cny), price)   # a macro added to a tower
    rng = ev.backhaul_range_km
    km = np.maximum(st["backhaul_km"].to_numpy(float), 0.0)
    km = np.where(np.isnan(rng[:, 0]), km, np.clip(km, rng[:, 0], rng[:, 1]))
    equip = np.where(new, count * price, 0.0)
    if "backhaul_carrier" in st:  # per site (shared by its new rows by units): PON km x rate, or the SPN/IPRAN ring
        units = np.where(new, count, 0.0)
        site_units = pd.Series(units).groupby(st["site_id"].astype(str).to_numpy()).transform("sum").to_numpy(float)
        share = np.divide(units, site_units, out=np.zeros(len(st)), where=site_units > 0)
        ring = sc.pon.ring_cost_cny_per_site + sc.pon.ring_cost_cny_per_km * km
        per_site = np.where(st["backhaul_carrier"].astype(str).to_numpy() == "ring", ring,
                            km * sc.radio.backhaul_cost_cny_per_km)
        return equip, per_site * share, km
    backhaul = np.where(new, count * km * sc.radio.backhaul_cost_cny_per_km, 0.0)
    return equip, backhaul, km


def _chassis_existing(olt: gpd.GeoDataFrame, pon) -> np.ndarray:
    """Chassis already installed per OLT site: the plan's ``chassis_existing`` (existing plant with free
    slots), at least what its existing ports fill."""
    ports, ports_new = olt["ports"].to_numpy(float), olt["ports_new"].to_numpy(float)
    h0 = np.ceil(np.maximum(ports - ports_new, 0.0) / pon.ports_per_chassis)
    if "chassis_existing" in olt:
        h0 = np.maximum(h0, olt["chassis_existing"].to_numpy(float) * olt["new"].map(lambda v: not v).to_numpy(float))
    return h0


def _pon_capex_rec(ev: Evidence) -> dict[str, tuple[float, float]]:
    """PON capex parts at the scenario's prices [CNY], each as (lowest, highest) consistent with the plan.

    Sites: new OLT sites x ``olt_site_cost_cny``; chassis: chassis beyond those the existing ports
    fill x ``chassis_cost_cny``; ports: new ports x ``port_cost_cny``; feeder: per homed cell, the
    route km to its OLT x the cell's clutter's fibre price (with split homing, between its shortest
    and longest route).
    """
    olt, pon = ev.plan.olt_sites, ev.scenario.pon
    if not ev.has_pon or not len(olt):
        return {}
    new = olt["new"].astype(bool).to_numpy()
    ports_new = olt["ports_new"].to_numpy(float)
    h0 = _chassis_existing(olt, pon)
    f = ev.feeder.query("cell >= 0 and olt >= 0")
    price = ev.plan.demand["clutter"].map(pon.fiber_cost_cny_per_km.as_dict()).to_numpy(float)
    span = f.groupby("cell")["route_km"].agg(["min", "max"])
    cell_price = price[span.index.to_numpy()]
    parts = {"site": float(new.sum() * pon.olt_site_cost_cny),
             "chassis": float(np.maximum(olt["chassis"].to_numpy(float) - h0, 0.0).sum() * pon.chassis_cost_cny),
             "ports": float(ports_new.sum() * pon.port_cost_cny)}
    out = {k: (v, v) for k, v in parts.items()}
    out["feeder"] = (float((cell_price * span["min"]).sum()), float((cell_price * span["max"]).sum()))
    out.update(_odn_capex_rec(ev))
    return out


def _odn_capex_rec(ev: Evidence) -> dict[str, tuple[float, float]]:
    """ODN plans: feeder (tree edges x the price of the cabinet's cell), distribution, cabinets, splitters [CNY]."""
    if not ev.has_odn:
        return {k: (0.0, 0.0) for k in ("distribution", "cabinet", "splitter")}
    pon, lk, d = ev.scenario.pon, ev.plan.links, ev.plan.demand
    clutter = pd.Series(d["clutter"].astype(str).to_numpy(), index=d["cell_id"].astype(str).to_numpy())
    fe = lk[lk["kind"].astype(str) == "feeder"]
    di = lk[lk["kind"].astype(str) == "distribution"]
    fcl = fe["to_id"].astype(str).str.removeprefix("CAB-").map(clutter)
    feeder = float((ev._node_route_km(fe) * fcl.map(pon.fiber_cost_cny_per_km.as_dict()).to_numpy(float)).sum())
    dprice = di["to_id"].astype(str).map(clutter).map(pon.distribution_cost_cny_per_km.as_dict()).to_numpy(float)
    dist = float((ev.odn_paths["distribution_km"].to_numpy(float) * dprice).sum())
    sp_ = ev.plan.splitters if ev.plan.splitters is not None else pd.DataFrame(columns=["kind", "ratio", "count", "cabinets"])
    outputs = (sp_["ratio"].astype(str).str.split(":").str[1].astype(float) * sp_["count"].astype(float)).sum()
    cabinets = float(sp_.loc[sp_["kind"].astype(str) == "primary", "cabinets"].astype(float).sum())
    return {"feeder": (feeder, feeder), "distribution": (dist, dist),
            "cabinet": (cabinets * pon.cabinet_cost_cny,) * 2, "splitter": (float(outputs) * pon.splitter_cost_cny_per_output,) * 2}


# --------------------------------------------------------------------------- the invariants

def check_containment(ev: Evidence) -> Check:
    """Stations and OLT sites inside the input boundary; each cell's planning point inside its hexagon and district."""
    st_out = ev.station_district == None  # noqa: E711 - elementwise on an object array
    olt_out = ev.district_of(ev.olt_xy) == None  # noqa: E711
    d = ev.plan.demand
    off = np.zeros(len(d), bool)
    if len(d):
        polys = geoms_to_metric(d.to_crs(4326).geometry.to_numpy(), ev.crs)
        off = shapely.distance(polys, shapely.points(ev.cell_xy)) > BOUNDARY_TOL_M
        off |= ev.district_of(ev.cell_xy) != d["district_id"].astype(str).to_numpy()
    ok = not (st_out.any() or olt_out.any() or off.any())
    detail = (f"{int(st_out.sum())} of {len(st_out):,} station rows and {int(olt_out.sum())} of {len(olt_out):,} "
              f"OLT sites outside the input boundary (tolerance {BOUNDARY_TOL_M:g} m); {int(off.sum())} cells' "
              f"planning points outside their hexagon or district")
    if not ok:
        detail += ": " + "; ".join(x for x in (_names(ev.plan.stations.get("site_id", []), st_out),
                                               _names(ev.plan.olt_sites.get("office_id", []), olt_out),
                                               _names(d.get("cell_id", []), off)) if x)
    return Check("containment", ok, detail)


def check_district_population(ev: Evidence) -> Check:
    """District populations in the plan (layer, plan.json, and the cells of a modelled surface) = the input table."""
    table = ev.boundary.set_index("district_id")["population"].astype(float)
    dl = ev.plan.districts
    layer = pd.Series(dl["population"].to_numpy(float), index=dl["district_id"].astype(str).to_numpy())
    rows = ev.summary.get("districts") or []
    js = pd.Series([r.get("population") for r in rows], index=[str(r.get("district_id", r.get("adcode"))) for r in rows])
    bad = []
    for what, s in (("districts layer", layer), ("plan.json districts", js)):
        s = pd.to_numeric(s, errors="coerce")
        if set(s.index) != set(table.index):
            bad.append(f"{what} has districts {sorted(set(s.index) ^ set(table.index))[:SHOWN]} unlike the table")
            continue
        off = ~_close(s.reindex(table.index).to_numpy(float), table.to_numpy())
        if off.any():
            bad.append(f"{what} population differs for {_names(table.index, off)}")
    modelled = str(ev.plan.demand_source).startswith("modelled")
    if modelled and len(ev.plan.demand):
        cells = ev.plan.demand.groupby(ev.plan.demand["district_id"].astype(str))["population"].sum()
        off = ~_close(cells.reindex(table.index).fillna(0.0).to_numpy(), table.to_numpy())
        if off.any():
            bad.append(f"the demand cells hold other totals for {_names(table.index, off)}")
    src = "; cells of the modelled surface add up to it" if modelled else "; cells from a measured source not compared"
    return Check("district_population", not bad,
                 "; ".join(bad) if bad else f"{len(table)} districts, {table.sum():,.0f} people as in the input table{src}")


def check_demand_figures(ev: Evidence) -> Check:
    """Each cell's traffic and households follow from its population; its PON lines are at least households + enterprises."""
    d, dm = ev.plan.demand, ev.scenario.demand
    if not len(d):
        return Check("demand_figures", True, "no demand cells")
    pop = d["population"].to_numpy(float)
    traffic = ~_close(d["traffic_mbps"].to_numpy(float), pop * dm.penetration_5g * dm.busy_hour_mbps_per_user)
    hh = ~_close(d["households"].to_numpy(float), ev.households_rec)
    lines = d["onts"].to_numpy(float) < ev.lines_rec * (1 - REL) - 1e-6
    bad = traffic | hh | lines
    detail = (f"{len(d):,} cells: traffic = population x {dm.penetration_5g:g} x {dm.busy_hour_mbps_per_user:g} Mbit/s "
              f"({int(traffic.sum())} differ), households at the district's ratio ({int(hh.sum())} differ), "
              f"lines >= households x {dm.ont_takeup:g} + enterprise lines ({int(lines.sum())} below)")
    return Check("demand_figures", not bad.any(), detail + (f": {_names(d['cell_id'], bad)}" if bad.any() else ""))


def check_coverage(ev: Evidence) -> Check | None:
    """Every populated cell has k stations within radius_m(type, clutter) of its planning point (k by clutter)."""
    if ev.budget_mode:
        return None
    d = ev.plan.demand
    k = d["clutter"].map(ev.scenario.radio.k_coverage.as_dict()).to_numpy(float) if len(d) else np.zeros(0)
    short = ev.populated & (ev.stations_within < k)
    detail = (f"{int(ev.populated.sum()):,} populated cells, each needing k = "
              f"{', '.join(f'{c} {int(v)}' for c, v in ev.scenario.radio.k_coverage.as_dict().items())} stations within "
              f"radius; {int(short.sum())} short")
    return Check("coverage", not short.any(), detail + (f": {_names(d['cell_id'], short)}" if short.any() else ""))


def check_coverage_reported(ev: Evidence) -> Check:
    """The plan claims no coverage it lacks: cells flagged covered, and the covered population, are recomputed."""
    d = ev.plan.demand
    truly = ev.stations_within >= 1
    false_flag = ev.populated & d["covered"].astype(bool).to_numpy() & ~truly if len(d) else np.zeros(0, bool)
    pop = d["population"].to_numpy(float) if len(d) else np.zeros(0)
    covered_pop = float(pop[ev.populated & truly].sum())
    claimed = ev.number(ev.plan.coverage, "population_covered", "coverage", default=0.0)
    over = claimed > covered_pop * (1 + REL) + 1e-6
    detail = (f"{int(false_flag.sum())} cells flagged covered without a station within radius; population covered "
              f"{claimed:,.0f} claimed, {covered_pop:,.0f} recomputed")
    bad = false_flag.any() or over
    return Check("coverage_reported", not bad, detail + (f": {_names(d['cell_id'], false_flag)}" if false_flag.any() else ""))


def check_coverage_evaluation(ev: Evidence) -> Check | None:
    """``coverage.evaluation`` (the headline coverage) recomputed: best-server RSRP of the plan's stations on the lattice."""
    claimed = ev.plan.coverage.get("evaluation") if isinstance(ev.plan.coverage, dict) else None
    if not isinstance(claimed, dict) or not len(ev.plan.demand):
        return None
    from rollout.coverage_eval import evaluate_coverage

    rec, _ = evaluate_coverage(ev.scenario, ev.plan.demand, ev.plan.stations, crs_metric=ev.crs)
    bad = [f"{k} {ev.number(claimed, k, 'coverage.evaluation'):.6f} claimed, {rec[k]:.6f} recomputed"
           for k in ("population_share", "area_share")
           if abs(ev.number(claimed, k, "coverage.evaluation") - rec[k]) > 1e-6]
    return Check("coverage_evaluation", not bad, "; ".join(bad) if bad else
                 f"{rec['points']:,} lattice points: {rec['population_share']:.2%} of people and {rec['area_share']:.2%} "
                 f"of the area at >= {rec['threshold_dbm']:g} dBm, as claimed")


def check_station_capacity(ev: Evidence) -> Check | None:
    """The busy-hour traffic fits: stations within radius of each cell's area carry it at capacity per unit x units."""
    if ev.budget_mode:
        return None
    d, p = ev.plan.demand, ev.reach_pairs
    t = ev.traffic_mbps
    cells = np.flatnonzero(t > 0)
    if not len(cells):
        return Check("station_capacity", True, "no busy-hour traffic")
    pos = np.full(len(d), -1)
    pos[cells] = np.arange(len(cells))
    p = p[pos[p["cell"].to_numpy()] >= 0]
    ok_cells = max_flow_served(t[cells], ev.unit_capacity_mbps, pos[p["cell"].to_numpy()], p["row"].to_numpy())
    short = cells[~ok_cells]
    detail = (f"busy-hour traffic {t.sum():,.0f} Mbit/s over {len(cells):,} cells against {ev.unit_capacity_mbps.sum():,.0f} "
              f"Mbit/s of stations (capacity per unit x units); {len(short)} cells cannot be carried within radius")
    return Check("station_capacity", not len(short),
                 detail + (f": {_names(d['cell_id'].to_numpy()[short], np.ones(len(short)))}" if len(short) else ""))


def check_station_load(ev: Evidence) -> Check | None:
    """No station row reports carrying more than capacity per unit x units; the reported loads carry the traffic."""
    st = ev.plan.stations
    if not len(st):
        return None
    carried = st["carried_mbps"].to_numpy(float)
    cap = ev.unit_capacity_mbps
    over = np.nan_to_num(carried) > cap * (1 + REL) + 1e-6
    util = np.divide(carried, cap, out=np.zeros(len(st)), where=cap > 0)
    util = float(np.nanmax(util)) if np.isfinite(util).any() else 0.0
    detail = (f"{int(over.sum())} station rows report more load than capacity per unit x units; "
              f"highest reported utilisation {util:.1%}")
    short = False
    if not ev.budget_mode:
        tot_t, tot_c = float(ev.traffic_mbps.sum()), float(np.nansum(carried))
        short = tot_c < tot_t * (1 - 1e-4)
        detail += f"; busy-hour traffic {tot_t:,.0f} Mbit/s, reported carried {tot_c:,.0f} Mbit/s"
    bad = over.any() or short
    return Check("station_load", not bad, detail + (f": {_names(st['site_id'], over)}" if over.any() else ""))


def check_site_limits(ev: Evidence) -> Check | None:
    """New stations only of a type the site's clutter allows; units of a type per site <= its max_per_site."""
    st = ev.plan.stations
    if not len(st):
        return None
    types = station_types(ev.scenario)
    kind = st["type"].astype(str).to_numpy()
    new = st["new"].astype(bool).to_numpy()
    allowed = np.array([c in types[t].clutters for t, c in zip(kind, ev.station_clutter, strict=True)], dtype=bool)
    wrong = new & ~allowed
    xy = np.round(ev.station_xy, 2)
    units = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "type": kind, "all": st["count"].to_numpy(float),
                          "old": np.where(new, 0.0, st["count"].to_numpy(float))})
    per = units.groupby(["x", "y", "type"])[["all", "old"]].transform("sum")
    cap = np.maximum(units["type"].map({k: t.max_per_site for k, t in types.items()}).to_numpy(float), per["old"])
    over = per["all"].to_numpy() > cap
    detail = (f"{int(wrong.sum())} new station rows of a type their site's clutter does not allow; "
              f"{int(over.sum())} rows at a site holding more units of their type than max_per_site ("
              + ", ".join(f"{k} {t.max_per_site}" for k, t in types.items()) + ")")
    bad = wrong | over
    return Check("site_limits", not bad.any(), detail + (f": {_names(st['site_id'], bad)}" if bad.any() else ""))


def check_stations_target(ev: Evidence) -> Check | None:
    """Stations (existing + new units) reach the scenario's target."""
    if ev.budget_mode:
        return None
    n = int(ev.plan.stations["count"].sum()) if len(ev.plan.stations) else 0
    target = ev.scenario.radio.target_stations
    return Check("stations_target", n >= target, f"{n:,} stations (target {target:,})")


def check_district_limits(ev: Evidence) -> Check | None:
    """Stations per district (located in the input boundary) within the scenario's floors and ceilings."""
    radio = ev.scenario.radio
    if not (radio.district_min or radio.district_max):
        return None
    st = ev.plan.stations
    counts = (pd.Series(st["count"].to_numpy(float) if len(st) else [], dtype=float)
              .groupby(pd.Series(ev.station_district, dtype=object)).sum())
    low = [f"{d}: {counts.get(d, 0):,.0f} < {v:,}" for d, v in radio.district_min.items() if counts.get(d, 0) < v]
    high = [f"{d}: {counts.get(d, 0):,.0f} > {v:,}" for d, v in radio.district_max.items() if counts.get(d, 0) > v]
    bad = low + high
    return Check("district_limits", not bad,
                 "; ".join(bad[:SHOWN]) if bad else f"{len(radio.district_min)} floors and {len(radio.district_max)} "
                                                      "ceilings met (stations counted in the input boundary)")


def check_budget(ev: Evidence) -> Check | None:
    """Budget mode: the capex recomputed at the scenario's prices is within the budget."""
    if not ev.budget_mode:
        return None
    equip, backhaul, _ = _station_capex_rec(ev)
    capex, budget = float(equip.sum() + backhaul.sum()), ev.scenario.budget.capex_cny
    return Check("budget", capex <= budget * (1 + 1e-9),
                 f"capex {capex:,.0f} CNY (recomputed) within the budget {budget:,.0f} CNY")


def check_ports_target(ev: Evidence) -> Check | None:
    """PON ports (existing + new) reach the scenario's target."""
    if not ev.has_pon:
        return None
    n = int(ev.plan.olt_sites["ports"].sum()) if len(ev.plan.olt_sites) else 0
    target = ev.scenario.pon.target_ports
    return Check("ports_target", n >= target, f"{n:,} ports (target {target:,})")


def check_ports_split(ev: Evidence) -> Check | None:
    """Every cell with lines homes on an OLT site; every site has ports >= its cells' lines / split ratio."""
    if not ev.has_pon:
        return None
    d, olt, pon = ev.plan.demand, ev.plan.olt_sites, ev.scenario.pon
    a = ev.lines / d["clutter"].map(pon.split_ratio.as_dict()).to_numpy(float) if len(d) else np.zeros(0)
    f = ev.feeder.query("cell >= 0 and olt >= 0")
    homes = np.bincount(f["cell"].to_numpy(), minlength=len(d))
    unhomed = (a > 0) & (homes == 0)
    multi = (homes > 1) if pon.single_sourcing else np.zeros(len(d), bool)
    ports = olt["ports"].to_numpy(float) if len(olt) else np.zeros(0)
    if pon.single_sourcing:
        need = np.bincount(f["olt"].to_numpy(), weights=a[f["cell"].to_numpy()], minlength=len(olt))
        short_sites = ports < np.ceil(need - 1e-9)
        short = f"{int(short_sites.sum())} OLT sites with fewer ports than lines / split"
        bad_short = short_sites.any()
    else:
        served = max_flow_served(a, ports, f["cell"].to_numpy(), f["olt"].to_numpy())
        short = f"{int(((a > 0) & ~served).sum())} cells' lines do not fit the ports of the sites they home on"
        bad_short = ((a > 0) & ~served).any()
    bad = unhomed | multi
    detail = (f"{int((a > 0).sum()):,} cells with lines: {int(unhomed.sum())} not homed, {int(multi.sum())} homed more "
              f"than once under single sourcing; {short} (split "
              + ", ".join(f"{c} 1:{v:g}" for c, v in pon.split_ratio.as_dict().items()) + ")")
    return Check("ports_split", not (bad.any() or bad_short),
                 detail + (f": {_names(d['cell_id'], bad)}" if bad.any() else ""))


def check_chassis(ev: Evidence) -> Check | None:
    """Ports <= ports per chassis x chassis, and chassis <= the per-site limit (or what existing ports already fill)."""
    olt, pon = ev.plan.olt_sites, ev.scenario.pon
    if not ev.has_pon or not len(olt):
        return None
    q, cmax = pon.ports_per_chassis, pon.max_chassis_per_site
    ports, chassis = olt["ports"].to_numpy(float), olt["chassis"].to_numpy(float)
    h0 = _chassis_existing(olt, pon)
    bad = (ports > chassis * q) | (chassis > np.maximum(cmax, h0)) | (ports > _free_slot_room(olt, h0, q))
    detail = (f"{int(bad.sum())} of {len(olt)} OLT sites break ports <= {q} x chassis, chassis <= {cmax} or, at an "
              f"existing site with free slots, ports <= 16 x (cards + free slots) + {q} x added chassis")
    return Check("chassis", not bad.any(), detail + (f": {_names(olt['office_id'], bad)}" if bad.any() else ""))


def _free_slot_room(olt: gpd.GeoDataFrame, h0: np.ndarray, q: int) -> np.ndarray:
    """Ports an existing site with free card slots can hold: 16-port cards in its free slots, then whole
    added chassis (the existing plant's GPON cards keep their slots); inf where the plan records none."""
    free = olt["free_slots"].fillna(0).to_numpy(float) if "free_slots" in olt else np.zeros(len(olt))
    p0 = np.maximum(olt["ports"].to_numpy(float) - olt["ports_new"].to_numpy(float), 0.0)
    room = 16.0 * (np.ceil(p0 / 16.0) + free) + q * np.maximum(olt["chassis"].to_numpy(float) - h0, 0.0)
    return np.where(free > 0, room, np.inf)


def check_reach(ev: Evidence) -> Check | None:
    """Every feeder (cell planning point -> OLT site) within the optical reach: straight distance x route factor."""
    if not ev.has_pon:
        return None
    f, pon = ev.feeder, ev.scenario.pon
    unknown = (f["cell"] < 0) | (f["olt"] < 0)
    km = f["route_km"].to_numpy(float)
    far = ~unknown.to_numpy() & (km > pon.reach_km * (1 + 1e-9))
    longest = float(np.nanmax(km)) if len(km) and not unknown.all() else 0.0
    detail = (f"{len(f):,} feeders, longest {longest:.2f} km (straight x {pon.route_factor:g}) against a reach of "
              f"{pon.reach_km:g} km; {int(far.sum())} beyond, {int(unknown.sum())} naming unknown cells or OLT sites")
    return Check("reach", not (far.any() or unknown.any()), detail)


def check_optical_budget(ev: Evidence) -> Check | None:
    """Plans with an ODN: every served path (OLT -> feeder tree -> cabinet -> cell) within the loss budget of
    its split and the scenario's optics class, the loss recomputed from the link geometry (rollout.optics)."""
    if not ev.has_pon or not ev.has_odn:
        return None
    from rollout.optics import optics_class, path_loss_db
    from rollout.scenario import pon_split

    pon, p = ev.scenario.pon, ev.odn_paths
    budget = optics_class(pon.optics_class).budget_db
    known = (p["cell"] >= 0).to_numpy() & (p["olt"] >= 0).to_numpy() & np.isfinite(p["route_km"].to_numpy())
    clutter = ev.plan.demand["clutter"].astype(str).to_numpy()[p["cell"].to_numpy()[known]]
    km = p["route_km"].to_numpy()[known]
    loss = np.zeros(len(km))
    for c in CLUTTERS:
        on = clutter == c
        if on.any():
            loss[on] = path_loss_db(km[on], pon_split(pon, c))
    over = loss > budget + 1e-6
    worst = float(loss.max()) if len(loss) else 0.0
    detail = (f"{len(p):,} paths, longest {float(km.max()) if len(km) else 0.0:.2f} km, worst loss {worst:.2f} dB "
              f"against the {pon.optics_class} budget of {budget:g} dB; {int(over.sum())} over budget, "
              f"{int((~known).sum())} not traced to their OLT")
    bad_cells = ev.plan.demand["cell_id"].to_numpy()[p["cell"].to_numpy()[known][over]]
    return Check("optical_budget", not (over.any() or (~known).any()),
                 detail + (f": {', '.join(map(str, bad_cells[:8]))}" if over.any() else ""))


def check_cabinets(ev: Evidence) -> Check | None:
    """Plans with an ODN: the primary splitters at every cabinet position fit its cabinets (``pon.cabinet_ports``
    each), and every cabinet -> cell distribution link lies within ``pon.distribution_max_km`` straight."""
    if not ev.has_pon or not ev.has_odn or ev.plan.splitters is None:
        return None
    pon, sp = ev.scenario.pon, ev.plan.splitters
    prim = sp[sp["kind"].astype(str) == "primary"]
    over = prim["count"].to_numpy(float) > pon.cabinet_ports * prim["cabinets"].to_numpy(float)
    di = ev.plan.links[ev.plan.links["kind"].astype(str) == "distribution"]
    far = ev._node_route_km(di) / pon.route_factor > pon.distribution_max_km + 1e-9
    detail = (f"{len(prim):,} cabinet positions, {int(prim['cabinets'].sum()):,} cabinets of {pon.cabinet_ports} primary "
              f"splitters: {int(over.sum())} over; {len(di):,} distribution links, {int(far.sum())} beyond "
              f"{pon.distribution_max_km:g} km")
    bad = list(prim["splitter_id"].astype(str)[over][:4]) + list(di["to_id"].astype(str)[far][:4])
    return Check("cabinets", not (over.any() or far.any()), detail + (f": {', '.join(bad)}" if bad else ""))


def check_backhaul_reach(ev: Evidence) -> Check | None:
    """Every new station's backhaul within the optical reach, and priced at a route km the geometry allows."""
    if not ev.has_pon or not len(ev.plan.stations):
        return None
    st, reach = ev.plan.stations, ev.scenario.pon.reach_km
    lo, hi = ev.backhaul_range_km.T
    known = ~np.isnan(hi)
    far = known & (hi > reach * (1 + 1e-9))
    if "backhaul_carrier" in st:  # only PON-carried sites need an OLT within the optical budget's reach
        from rollout.scenario import pon_reach_km

        from rollout.model_odn import backhaul_carrier_cny

        reach = pon_reach_km(ev.scenario.pon)
        carrier = st["backhaul_carrier"].astype(str).to_numpy()
        far = known & (carrier == "pon") & (hi > reach * (1 + 1e-9))
        # the carrier the scenario picks for the stored route (PON within reach and cheaper, or as forced)
        want, _ = backhaul_carrier_cny(st["backhaul_km"].to_numpy(float), ev.scenario.pon,
                                       ev.scenario.radio.backhaul_cost_cny_per_km)
        want[ev.spur_range_km[0]] = "spur"   # a spur type hangs off the nearest own-backhaul site
        far |= known & (carrier != want)
        far[ev.spur_range_km[0][~ev.spur_anchor_ok]] = True
    km = st["backhaul_km"].to_numpy(float)
    mispriced = known & ((km < lo * (1 - REL) - 1e-6) | (km > hi * (1 + REL) + 1e-6))
    longest = float(np.max(hi[known])) if known.any() else 0.0
    detail = (f"{int(known.sum()):,} new station rows, longest backhaul route {longest:.2f} km against a reach of "
              f"{reach:g} km; {int(far.sum())} beyond; {int(mispriced.sum())} with a stored route km the geometry "
              f"does not give")
    bad = far | mispriced
    return Check("backhaul_reach", not bad.any(), detail + (f": {_names(st['site_id'], bad)}" if bad.any() else ""))


def check_brownfield(ev: Evidence) -> Check:
    """Existing stations and OLT sites only where the scenario names such inputs; a new OLT site has no old ports."""
    st, olt, data = ev.plan.stations, ev.plan.olt_sites, ev.scenario.data
    old_st = int((~st["new"].astype(bool)).sum()) if len(st) else 0
    old_olt = int((~olt["new"].astype(bool)).sum()) if len(olt) else 0
    ports_old = (olt["ports"].to_numpy(float) - olt["ports_new"].to_numpy(float)) if len(olt) else np.zeros(0)
    new_olt = olt["new"].astype(bool).to_numpy() if len(olt) else np.zeros(0, bool)
    bad_ports = (ports_old < 0) | (new_olt & (ports_old != 0))
    bad = []
    baseline = int(ev.scenario.radio.baseline_stations)
    old_units = int(st.loc[~st["new"].astype(bool), "count"].sum()) if len(st) else 0
    if old_st and not data.existing_sites and not baseline:
        bad.append(f"{old_st} station rows marked existing, but the scenario has no existing_sites and no baseline")
    if baseline and not data.existing_sites and old_units < baseline:
        bad.append(f"the modelled baseline holds {old_units} existing stations, fewer than radio.baseline_stations "
                   f"= {baseline}")
    if old_olt and not data.offices and ev.scenario.pon.existing_plant != "modelled":
        bad.append(f"{old_olt} OLT sites marked existing, but the scenario has no offices file and no modelled plant")
    if bad_ports.any():
        bad.append(f"new ports above ports, or a new OLT site with existing ports: {_names(olt['office_id'], bad_ports)}")
    return Check("brownfield", not bad, "; ".join(bad) if bad else
                 f"{old_st} existing station rows, {old_olt} existing OLT sites, as the scenario's inputs allow")


def check_station_capex(ev: Evidence) -> Check:
    """Every station row: equipment = units x the type's price (a tower's upgrade price), backhaul = route km x the
    fibre price (PON, a spur) or the ring's site + km prices, per site and shared by its new units."""
    st = ev.plan.stations
    if not len(st):
        return Check("station_capex", True, "no stations")
    equip, backhaul, _ = _station_capex_rec(ev)
    bad = ~(_close(st["equipment_cny"], equip) & _close(st["backhaul_cny"], backhaul)
            & _close(st["capex_cny"], equip + backhaul))
    prices = ", ".join(f"{k} {t.capex_cny:,.0f}" for k, t in station_types(ev.scenario).items())
    detail = (f"{int(bad.sum())} of {len(st):,} station rows differ from the scenario's prices ({prices} CNY per unit; "
              f"backhaul {ev.scenario.radio.backhaul_cost_cny_per_km:,.0f} CNY/km on PON and spurs, ring "
              f"{ev.scenario.pon.ring_cost_cny_per_site:,.0f} CNY + {ev.scenario.pon.ring_cost_cny_per_km:,.0f} CNY/km; "
              f"existing stations 0)")
    return Check("station_capex", not bad.any(), detail + (f": {_names(st['site_id'], bad)}" if bad.any() else ""))


#: plan.json totals and the recomputed part(s) they must equal
CAPEX_TOTALS = {"capex_5g_equipment_cny": ("equipment",), "capex_5g_backhaul_cny": ("backhaul",),
                "capex_5g_cny": ("equipment", "backhaul"), "capex_pon_site_cny": ("site",),
                "capex_pon_chassis_cny": ("chassis",), "capex_pon_ports_cny": ("ports",),
                "capex_pon_feeder_cny": ("feeder",), "capex_pon_distribution_cny": ("distribution",),
                "capex_pon_cabinet_cny": ("cabinet",), "capex_pon_splitter_cny": ("splitter",),
                "capex_pon_cny": ("site", "chassis", "ports", "feeder", "distribution", "cabinet", "splitter"),
                "capex_cny": ("equipment", "backhaul", "site", "chassis", "ports", "feeder", "distribution", "cabinet",
                              "splitter")}


def check_capex_sum(ev: Evidence) -> Check:
    """Capex and each of its parts in plan.json = counts x the scenario's unit prices + fibre km x price."""
    equip, backhaul, _ = _station_capex_rec(ev)
    parts = {"equipment": (float(equip.sum()),) * 2, "backhaul": (float(backhaul.sum()),) * 2, **_pon_capex_rec(ev)}
    t, bad = ev.plan.totals, []
    for key, names in CAPEX_TOTALS.items():
        if key not in t or (key != "capex_cny" and not all(n in parts for n in names)):
            continue  # a part this plan does not have (e.g. PON figures of a 5G-only plan)
        lo = sum(parts.get(n, (0.0, 0.0))[0] for n in names)
        hi = sum(parts.get(n, (0.0, 0.0))[1] for n in names)
        v = ev.number(t, key, "totals")
        if not (lo - REL * max(1.0, lo) - 1e-6 <= v <= hi + REL * max(1.0, hi) + 1e-6):
            bad.append(f"{key} {v:,.0f} CNY, recomputed {lo:,.0f}" + (f"..{hi:,.0f}" if hi > lo else "") + " CNY")
    if "capex_cny" not in t:
        bad.append("totals.capex_cny missing")
    total = sum(v[0] for v in parts.values())
    detail = "; ".join(bad) if bad else (
        f"capex {total:,.0f} CNY = " + " + ".join(f"{k} {v[0]:,.0f}" for k, v in parts.items()) + " (recomputed)")
    return Check("capex_sum", not bad, detail)


def _years(ev: Evidence) -> list[int]:
    return [int(ev.number(y, "year", "years")) for y in ev.plan.years]


def check_years_targets(ev: Evidence) -> Check | None:
    """Phased plans: cumulative stations by each year's end reach the year's target."""
    if not ev.plan.years:
        return None
    st, years, ph = ev.plan.stations, _years(ev), ev.scenario.phasing
    new = st["new"].astype(bool).to_numpy()
    count, year = st["count"].to_numpy(float), st["build_year"].to_numpy(float)
    cum = int(count[~new].sum()) + np.cumsum([count[new & (year == y)].sum() for y in years]).astype(int)
    targets = list(ph.stations_cumulative) or [0] * len(years)
    ok = len(targets) == len(years) and all(c >= tg for c, tg in zip(cum, targets, strict=True))
    return Check("years_targets", ok, f"cumulative stations {list(map(int, cum))} vs targets {targets}")


def check_years_budget(ev: Evidence) -> Check | None:
    """Phased plans: each year's capex within its budget and not below its stations' capex at the scenario's prices."""
    if not ev.plan.years:
        return None
    st, years = ev.plan.stations, _years(ev)
    budgets = list(ev.scenario.phasing.budget_cny) or [0] * len(years)
    equip, backhaul, _ = _station_capex_rec(ev)
    year = st["build_year"].to_numpy(float) if len(st) else np.zeros(0)
    bad = []
    for row, y, b in zip(ev.plan.years, years, budgets, strict=True):
        capex, floor = ev.number(row, "capex_cny", "years"), float((equip + backhaul)[year == y].sum())
        if b > 0 and capex > b * (1 + 1e-9):
            bad.append(f"{y}: {capex:,.0f} CNY above the budget {b:,.0f}")
        if capex < floor * (1 - REL) - 1e-6:
            bad.append(f"{y}: {capex:,.0f} CNY below its stations' {floor:,.0f}")
    return Check("years_budget", not bad, "; ".join(bad) if bad else "capex per year " + ", ".join(
        f"{y}: {ev.number(r, 'capex_cny', 'years') / 1e9:.3f} bn" for y, r in zip(years, ev.plan.years, strict=True)))


def check_years_monotone(ev: Evidence) -> Check | None:
    """Phased plans: every new station has a build year among the plan years; reported cumulative counts agree;
    no spurred station (small cell) is built before its anchor site."""
    if not ev.plan.years:
        return None
    st, years = ev.plan.stations, _years(ev)
    new = st["new"].astype(bool).to_numpy()
    count, year = st["count"].to_numpy(float), st["build_year"].to_numpy(float)
    cum = int(count[~new].sum()) + np.cumsum([count[new & (year == y)].sum() for y in years])
    ok = bool(np.isin(year[new], years).all()) and years == sorted(set(years)) and all(
        ev.number(r, "stations_cumulative", "years") == c for r, c in zip(ev.plan.years, cum, strict=True))
    # a spurred station (small cell) no earlier than the site its spur reaches (existing sites: year 0)
    spur, early = ev.spur_range_km[0], 0
    if len(spur):
        first = pd.Series(year).groupby(st["site_id"].astype(str).to_numpy()).min()
        anchor = st["backhaul_to"].astype(str).to_numpy()[spur]
        early = int((year[spur] < pd.Series(anchor).map(first).fillna(np.inf).to_numpy(float)).sum())
    detail = ("every new station has one build year in the plan years; cumulative counts never decrease and match "
              f"the stations layer; {early} spurred stations built before the site their backhaul hangs off")
    return Check("years_monotone", ok and not early, detail)


#: every invariant, in the order ``rollout check`` prints them
INVARIANTS: list[Callable[[Evidence], Check | None]] = [
    check_containment, check_district_population, check_demand_figures, check_coverage, check_coverage_reported,
    check_coverage_evaluation,
    check_station_capacity, check_station_load, check_site_limits, check_stations_target, check_district_limits, check_budget,
    check_ports_target, check_ports_split, check_chassis, check_reach, check_optical_budget, check_cabinets,
    check_backhaul_reach,
    check_brownfield,
    check_station_capex, check_capex_sum, check_years_targets, check_years_budget, check_years_monotone,
]


def check_plan(plan_dir: str | os.PathLike) -> list[Check]:
    """Every invariant that applies to the saved plan in ``plan_dir``, recomputed from the scenario and the geometry.

    Raises :class:`PlanFormatError` (or another :class:`~gis.errors.InputError`) when the plan or
    the scenario's district inputs cannot be read.
    """
    ev = load_evidence(plan_dir)
    return [c for c in (f(ev) for f in INVARIANTS) if c is not None]
