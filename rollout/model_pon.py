"""The 10G-PON access network as a capacitated facility-location integer program.

Which candidate OLT sites (central offices) to open, how many chassis and PON
ports to put in each, and which OLT every demand cell homes on, at minimum
capital cost, with the optical reach, the split ratio, the chassis limits and
the city's port target respected. New 5G stations' fibre backhaul rides the
same plant: a cell's assignment to an OLT also carries the backhaul of the
stations in that cell, so the plan opens OLTs near stations when that is
cheaper.

Sets and data (units in brackets)
---------------------------------
I        demand cells that need a home: ``onts > 0`` or ``backhaul_stations > 0``.
J        candidate OLT sites (``offices``); ``E ⊆ J`` the existing (brownfield) ones.
P ⊆ I×J  the sparse pair table: for every cell the ``nearest_sites`` (``K``)
         nearest candidates whose route r_ij plus the cell's in-cell reach is at most R_i,
         the route km the optical budget of the cell's split allows with the scenario's
         optics class (capped by ``reach_km``; :func:`rollout.scenario.pon_reach_km`),
         from :func:`gis.pairs.nearest_pairs` (a KD-tree query, never a dense matrix).
         So ``|P| <= K |I|``, and every pair satisfies the reach rule by
         construction (family ``reach``: it has no rows; a cell with no pair
         is reported before solving). P(i) = sites paired with cell i, P(j) = cells.
n_i      ONTs (PON lines) in cell i [lines].
s_i      split ratio of cell i's clutter class (32, 64 or 128) [ONTs per port].
a_i      = n_i / s_i, the ports' worth of ONTs in cell i [ports].
b_i      new 5G stations located in cell i (``backhaul_stations``) [stations].
d_ij     straight distance cell centroid -> site [m];
r_ij     = d_ij * route_factor / 1000, the fibre route [km], r_ij <= R_i.
f_i      feeder fibre cost by the clutter of cell i [CNY/km]; beta the backhaul
         fibre cost ``radio.backhaul_cost_cny_per_km`` [CNY/km].
c_ij     = r_ij * (f_i [n_i > 0] + b_i * beta), the fibre cost of homing i on j [CNY].
F        ``olt_site_cost_cny`` [CNY]; H ``chassis_cost_cny`` [CNY];
C        ``port_cost_cny`` [CNY]; Q ``ports_per_chassis`` [ports];
M        ``max_chassis_per_site``; T ``target_ports`` [ports].
p0_j     existing 10G-PON ports at site j (0 for new sites) [ports];
h0_j     chassis installed at site j (free): the plant layer's ``chassis`` (GPON ones
         included), at least what its 10G-PON ports and free slots occupy, else ceil(p0_j / Q);
u0_j     ports that fit in the installed chassis without a new one: CARD_PORTS x (the cards of
         p0_j + ``free_slots_j``) when the layer gives free slots or chassis (the existing plant),
         else Q h0_j (a chassis partly filled with 10G-PON ports has room up to Q);
M_j      = max(M, h0_j), the chassis limit of site j (a brownfield site that
         already holds more than M chassis keeps them).

Variables
---------
y_j in {0,1}         site j is open (existing sites: fixed open by ``brownfield``).
k_j in Z, 0..M_j-h0_j  new chassis at site j; the site has h0_j + k_j chassis.
q_j in Z, 0..Q M_j-p0_j  new ports at site j; the site has p0_j + q_j ports.
x_ij in {0,1}        cell i homes on site j (single sourcing); x_ij in [0,1]
                     (the share of cell i) when ``single_sourcing = false``.

Objective: minimum capital expenditure [CNY]
--------------------------------------------
    min  sum_{j in J\\E} F y_j  +  H sum_j k_j  +  C sum_j q_j  +  sum_{(i,j) in P} c_ij x_ij

Existing sites, their ports and their chassis cost nothing; only what is added
is paid for: upgrading an existing OLT costs its new ports (line cards in free slots,
then in new chassis up to M_j), a new OLT site F on top. So a new site opens only
where no existing one within the optical budget can hold the lines (or where the
fibre it saves pays for it). The homing prices the feeder as a star (an upper bound on the tree);
:func:`attach_odn` (``solve_pon(odn=True)``, as ``plan_pon`` does) then builds the
optical distribution network behind the homing (:mod:`rollout.model_odn`: cabinets,
splitters, feeder trees repaired for the budget, distribution) and re-prices the
plan on it.

Constraints (registered once in :data:`FAMILIES`, each built by one ``add_<family>``
call; the PuLP row names start with the family name)
------------------------------------------------------------------------------------
assign_once    sum_{j in P(i)} x_ij = 1                       for i in I
open_link      x_ij <= y_j                                   for (i,j) in P, j not in E
               (the disaggregated, strong form; for existing sites y_j = 1)
open_chassis   x_ij <= k_j                          for (i,j) in P with a_i > 0, h0_j = 0
               (valid: an ONT needs a port, a port a chassis; redundant for the
               integer program but it makes the LP pay a whole chassis, not
               ports/Q of one: on the Qingdao default CBC reaches 0.5 % in ~20 s
               with it and stalls at 0.7 % after 60 s without)
ports_split    p0_j + q_j >= sum_{i in P(j)} a_i x_ij       for j with some a_i > 0
               Ports are integer and pooled per OLT, so the rounding is per
               site: 65 ONTs at 1:64 need 2 ports, but 30 + 30 ONTs from two
               cells at the same OLT share 1 port.
headroom       p0_j + q_j >= g sum_{i in P(j)} a_i x_ij     (only with surplus="headroom"; below)
chassis_ports  p0_j + q_j <= u0_j + Q k_j                     for j in J
chassis_site   k_j <= (M_j - h0_j) y_j                       for j in J
target_ports   sum_j (p0_j + q_j) >= T
brownfield     y_j = 1                                       for j in E
reach          (no rows) (i,j) in P  =>  r_ij + in-cell reach <= R_i (optical budget)

Surplus ports: where ports beyond the need go (``surplus``)
-----------------------------------------------------------
When the target T exceeds the ports the demand needs, minimum capex is
indifferent to *where* the surplus goes (every port costs C): the solver packs
it into whatever chassis slots happen to be free. Three rules:

``"fill"`` (the default; lexicographic, free)
    First minimum capex (the model above). Then, with the homing, the open
    sites, the chassis and the total port count of that solution fixed, the
    ports are re-placed to maximise lexicographically the smallest fill factor
    ports_j / need_j (max-min fairness, by water-filling): every OLT gets
    ports_j = min(room_j, max(p0_j, ceil(need_j), ceil(g need_j))) with
    the largest common g the total allows, the last few ports one at a time to
    the lowest ratios; room_j = u0_j + Q k_j. Priced chassis stay as the solver
    chose them; free ones (``chassis_cost_cny = 0``: the port price holds the OLT)
    may be added at open sites up to M_j. The capex is unchanged (the ports are
    the same count, chassis cost what they cost before), so the solver's bound and
    gap stand; an OLT whose chassis are full keeps less headroom than g.
``"headroom"`` (strict proportional, paid for)
    One common factor over need at every OLT, inside the minimisation:

headroom       p0_j + q_j >= g * sum_{i in P(j)} a_i x_ij    for j with some a_i > 0

    so its chassis are paid for (sites may consolidate to fill them). g is the
    largest common factor the target pays for: since every cell is homed
    exactly once, sum_j need_j = A = sum_i a_i whatever the homing, so without
    brownfield g = T / A; existing ports above g * need_j already count toward
    T, so g solves sum_j max(p0_j, g * ñ_j) = T, with ñ_j the need of site j
    when every cell is homed on its nearest paired site (fixed before solving,
    which keeps the row linear). ``target_ports`` tops up what rounding or the
    estimate leave short. Measured on the Qingdao default: +1.6 % PON capex
    (chassis) and a much harder model (CBC no longer reaches 0.5 % in 120 s).
    If the rule alone makes the plan infeasible it is dropped with a warning.
``"none"``
    The capex solution as it comes.

Diagnosis
---------
Before solving (cheap; all problems are collected and raised once as an
:class:`~gis.errors.InfeasibleError`, exit 3, listing them all): a cell with no candidate in
reach (``reach``, naming cells and districts); a target above what all the
candidates' chassis can hold (``target_ports``); demand above what the split
ratio and the chassis allow (``chassis_site``): globally, per connected group
of cells and sites of the pair graph, and for single cells whose paired sites
cannot hold them (with single sourcing: whose largest paired site cannot).

If the solver still proves the model infeasible (the checks above are
necessary, not sufficient: e.g. two cells that reach only one full site while
a third cell of their group reaches another), :func:`explain_infeasible` runs
the shared explanation of :mod:`rollout.milp`: a family-level deletion filter
over :data:`FAMILIES` (LP relaxation first; the integer model when the LP is
feasible) finds the families that cannot hold together, and an elastic re-solve
of the hardest limit among them (target, then chassis per site, chassis ports,
...: the ``rank`` of each family) names the OLT sites or cells at fault. When
only the integer model is infeasible the message says so: whole cells (single
sourcing), ports and chassis are what cannot be packed. Each probe is one LP/MIP
solve (at most about a dozen), run only after an infeasible solve.

Size
----
Variables |P| + 3|J|; rows |I| + at most 2|P| (open_link, open_chassis) +
4|J| + |E| + 1; with K = 6 that is at most 13 rows and 6 binaries per demand
cell, every row built from the pair table grouped once (no sum over all
cells x sites).
The adaptive demand grid is the aggregation (fine cells in the cores, coarse
in the countryside); no further aggregation was needed: a synthetic instance
of 19,576 cells, 320 candidates and 115,734 pairs builds in about 2 s and
solves with CBC to a 0.5 % gap in under 20 s on 2 cores (``bench/bench_pon.py``).
The Qingdao default with its modelled existing plant (27,870 variables, 7,245 rows:
existing sites need no open_link or open_chassis rows) solves to optimality in about
3 s on one thread (``bench/README.md``).

The linking x_ij <= y_j is the strong (disaggregated) form of the capacitated
facility-location model (Cornuéjols, Sridharan & Thizy 1991, "A comparison of
heuristics and relaxations for the capacitated plant location problem", EJOR
50(3):280-297); its LP bound is what lets CBC close the gap quickly here.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from functools import partial

import geopandas as gpd
import numpy as np
import pandas as pd
import pulp
from shapely import linestrings, points

from gis.errors import InfeasibleError, ValidationError
from gis.pairs import nearest_pairs
from rollout import milp
from rollout.milp import Family, Milp, Problems
from rollout.plan import SolveStats
from rollout.scenario import CARD_PORTS, CLUTTERS, PonSettings, pon_reach_km, pon_split
from rollout.solve import solve

log = logging.getLogger(__name__)

SURPLUS_RULES = ("fill", "headroom", "none")
_EPS = 1e-6


# --------------------------------------------------------------------------- input

@dataclass
class PonInput:
    """Everything the PON model reads, as plain arrays (planar metres in ``crs_metric``).

    Parameters
    ----------
    cell_id
        (n,) demand cell ids.
    cell_xy_m
        (n, 2) cell centroids [m].
    onts
        (n,) PON lines per cell [lines].
    clutter
        (n,) clutter class per cell: dense_urban | urban | suburban | rural.
    site_id
        (m,) candidate OLT site (office) ids.
    site_xy_m
        (m, 2) site positions [m].
    settings
        :class:`~rollout.scenario.PonSettings` (split, reach, costs, target, ...).
    existing
        (m,) bool, brownfield OLT sites (open at no cost). Default: none.
        A site with ``existing_ports > 0`` counts as existing.
    existing_ports
        (m,) ports already installed (free, count toward the target). Default 0.
    cell_area_km2
        (n,) area of each demand cell [km²] (the ODN's in-cell distribution). Default 0 (points).
    free_slots
        (m,) free line-card slots in the chassis already installed at each site
        (the existing-plant layer). Default 0. New ports fill them before a chassis is paid for.
    existing_chassis
        (m,) OLT chassis installed at each site, GPON ones included (they count toward
        ``max_chassis_per_site``). Default 0: ceil((cards of p0_j + free_slots_j) x CARD_PORTS / Q).
    site_source
        (m,) where each site comes from (``offices.source``: modelled, user, generated, reach);
        the ``source`` column of ``olt_sites``. Default: ``existing`` / ``new``.
    backhaul_stations
        (n,) new 5G stations located in each cell [stations]. Default 0.
    backhaul_cost_cny_per_km
        backhaul fibre cost [CNY/km] (``radio.backhaul_cost_cny_per_km``).
    cell_district, site_district
        district ids (for messages and the ``district_id`` columns).
    district_names
        district id -> name (the ``district`` column).
    cell_lonlat, site_lonlat
        (n, 2)/(m, 2) WGS-84 lon/lat for the result geometry; default: from
        the planar coordinates through ``crs_metric``.
    crs_metric
        CRS of the planar coordinates.
    """

    cell_id: np.ndarray
    cell_xy_m: np.ndarray
    onts: np.ndarray
    clutter: np.ndarray
    site_id: np.ndarray
    site_xy_m: np.ndarray
    settings: PonSettings = field(default_factory=PonSettings)
    existing: np.ndarray | None = None
    existing_ports: np.ndarray | None = None
    free_slots: np.ndarray | None = None
    existing_chassis: np.ndarray | None = None
    site_source: np.ndarray | None = None
    cell_area_km2: np.ndarray | None = None
    backhaul_stations: np.ndarray | None = None
    backhaul_cost_cny_per_km: float = 80000.0
    cell_district: np.ndarray | None = None
    site_district: np.ndarray | None = None
    district_names: dict = field(default_factory=dict)
    cell_lonlat: np.ndarray | None = None
    site_lonlat: np.ndarray | None = None
    crs_metric: str = "EPSG:32651"

    def __post_init__(self):
        problems: list[tuple[str | None, str | None, str]] = []
        self._coerce()
        self._check_lengths(problems)
        if not problems:
            self._check_values(problems)
        if problems:
            raise ValidationError(problems)
        self.existing_ports = self.existing_ports.astype(np.int64)
        self.free_slots = self.free_slots.astype(np.int64)
        self.existing_chassis = self.existing_chassis.astype(np.int64)
        self.existing = self.existing | (self.existing_ports > 0) | (self.free_slots > 0) | (self.existing_chassis > 0)
        if self.site_source is None:
            self.site_source = np.where(self.existing, "existing", "new").astype(object)
        self._lonlat()

    def _coerce(self) -> None:
        """Own copies (np.array), never views of the caller's frames; defaults for the optional arrays."""
        self.cell_id = np.array(self.cell_id).astype(str).astype(object)
        self.site_id = np.array(self.site_id).astype(str).astype(object)
        n, m = len(self.cell_id), len(self.site_id)
        self.cell_xy_m = np.array(self.cell_xy_m, dtype=float).reshape(-1, 2)
        self.site_xy_m = np.array(self.site_xy_m, dtype=float).reshape(-1, 2)
        self.onts = np.array(self.onts, dtype=float).reshape(-1)
        self.clutter = np.array(self.clutter).astype(str).astype(object).reshape(-1)
        self.existing_ports = (np.zeros(m, dtype=np.int64) if self.existing_ports is None
                               else np.array(self.existing_ports, dtype=float).reshape(-1))
        self.cell_area_km2 = (np.zeros(n) if self.cell_area_km2 is None
                              else np.array(self.cell_area_km2, dtype=float).reshape(-1))
        self.free_slots = (np.zeros(m, dtype=np.int64) if self.free_slots is None
                           else np.array(self.free_slots, dtype=float).reshape(-1))
        self.existing_chassis = (np.zeros(m, dtype=np.int64) if self.existing_chassis is None
                                 else np.array(self.existing_chassis, dtype=float).reshape(-1))
        if self.site_source is not None:
            self.site_source = np.array(self.site_source).astype(str).astype(object).reshape(-1)
        self.existing = (np.zeros(m, dtype=bool) if self.existing is None
                         else np.array(self.existing, dtype=bool).reshape(-1))
        self.backhaul_stations = (np.zeros(n) if self.backhaul_stations is None
                                  else np.array(self.backhaul_stations, dtype=float).reshape(-1))
        self.cell_district = (np.full(n, "", dtype=object) if self.cell_district is None
                              else np.array(self.cell_district).astype(str).astype(object))
        self.site_district = (np.full(m, "", dtype=object) if self.site_district is None
                              else np.array(self.site_district).astype(str).astype(object))
        self.district_names = {str(k): str(v) for k, v in (self.district_names or {}).items()}

    def _check_lengths(self, problems) -> None:
        n, m = self.n_cells, self.n_sites
        for name, size in (("cell_xy_m", n), ("onts", n), ("clutter", n), ("backhaul_stations", n),
                           ("cell_district", n), ("site_xy_m", m), ("existing", m), ("existing_ports", m),
                           ("free_slots", m), ("existing_chassis", m), ("site_district", m),
                           ("cell_area_km2", n)):
            rows = len(getattr(self, name))
            if rows != size:
                problems.append((None, name, f"has {rows} rows, expected {size}"))

    def _check_values(self, problems) -> None:
        for name in ("cell_xy_m", "site_xy_m"):
            if not np.isfinite(getattr(self, name)).all():
                problems.append((None, name, "has missing or infinite coordinates"))
        for name in ("onts", "backhaul_stations", "existing_ports", "free_slots", "existing_chassis", "cell_area_km2"):
            arr = getattr(self, name)
            bad = ~np.isfinite(arr) | (arr < 0)
            if bad.any():
                problems.append((None, name, f"must be finite and >= 0 ({int(bad.sum())} bad rows)"))
        for name in ("existing_ports", "free_slots", "existing_chassis"):
            if (getattr(self, name) != np.round(getattr(self, name))).any():
                problems.append((None, name, "must be whole numbers"))
        bad = sorted(set(self.clutter) - set(CLUTTERS))
        if bad:
            problems.append((None, "clutter", f"unknown class {bad[0]!r}; valid: {', '.join(CLUTTERS)}"))
        for name, ids in (("cell_id", self.cell_id), ("site_id", self.site_id)):
            dup = pd.Index(ids)[pd.Index(ids).duplicated()]
            if len(dup):
                problems.append((None, name, f"ids must be unique ({dup[0]!r} repeats)"))

    def _lonlat(self) -> None:
        """WGS-84 lon/lat of cells and sites: as given, else from the planar coordinates."""
        if self.cell_lonlat is None or self.site_lonlat is None:
            from gis.crs import xy_to_lonlat  # a pyproj CRS or a per-area frame

            def lonlat(xy):
                return np.column_stack(xy_to_lonlat(xy[:, 0], xy[:, 1], self.crs_metric)) if len(xy) else np.zeros((0, 2))

            if self.cell_lonlat is None:
                self.cell_lonlat = lonlat(self.cell_xy_m)
            if self.site_lonlat is None:
                self.site_lonlat = lonlat(self.site_xy_m)
        self.cell_lonlat = np.asarray(self.cell_lonlat, dtype=float).reshape(-1, 2)
        self.site_lonlat = np.asarray(self.site_lonlat, dtype=float).reshape(-1, 2)

    @property
    def n_cells(self) -> int:
        return len(self.cell_id)

    @property
    def n_sites(self) -> int:
        return len(self.site_id)

    @property
    def split(self) -> np.ndarray:
        """(n,) split ratio per cell, by its clutter class [ONTs per port]."""
        ratio = self.settings.split_ratio.as_dict()
        return np.array([float(ratio[c]) for c in self.clutter]) if self.n_cells else np.zeros(0)

    @property
    def fiber_cny_per_km(self) -> np.ndarray:
        """(n,) feeder fibre cost per route km by the cell's clutter class [CNY/km]."""
        cost = self.settings.fiber_cost_cny_per_km.as_dict()
        return np.array([float(cost[c]) for c in self.clutter]) if self.n_cells else np.zeros(0)

    @property
    def distribution_cny_per_km(self) -> np.ndarray:
        """(n,) distribution cable cost per route km by the cell's clutter class [CNY/km]."""
        cost = self.settings.distribution_cost_cny_per_km.as_dict()
        return pd.Series(self.clutter).map(cost).to_numpy(float) if self.n_cells else np.zeros(0)

    @property
    def max_straight_m(self) -> float:
        """The longest straight distance in reach of any clutter's split: reach * 1000 / route_factor [m]."""
        return max(self.reach_km_by_clutter.values()) * 1000.0 / self.settings.route_factor

    @property
    def reach_km_by_clutter(self) -> dict[str, float]:
        """Route km a path of each clutter's split may have: min(reach_km, optical budget reach) [km]."""
        return {c: pon_reach_km(self.settings, c) for c in CLUTTERS}

    @property
    def reach_km(self) -> np.ndarray:
        """(n,) route km allowed for each cell by the optical budget of its split [km]."""
        r = self.reach_km_by_clutter
        return np.array([r[c] for c in self.clutter]) if self.n_cells else np.zeros(0)

    @property
    def in_cell_km(self) -> np.ndarray:
        """(n,) route km from a cell's planning point to its farthest premises (:func:`rollout.model_odn.in_cell_reach_km`)."""
        from rollout.model_odn import in_cell_reach_km

        return in_cell_reach_km(self.cell_area_km2, self.settings.route_factor)

    @classmethod
    def from_layers(cls, layers, scenario, backhaul_stations=None) -> "PonInput":
        """The PON input from :class:`gis.layers.Layers` and a scenario.

        ``backhaul_stations``: new 5G stations per demand cell, as an array in
        the row order of ``layers.demand`` or a Series indexed by ``cell_id``.
        """
        d, o = layers.demand, layers.offices
        if backhaul_stations is not None and isinstance(backhaul_stations, (pd.Series, dict)):
            backhaul_stations = pd.Series(backhaul_stations).reindex(d["cell_id"].astype(str)).fillna(0).to_numpy(float)
        names = {}
        if layers.districts is not None and len(layers.districts):
            col = "name_zh" if "name_zh" in layers.districts else ("name_en" if "name_en" in layers.districts else None)
            if col:
                names = dict(zip(layers.districts["district_id"].astype(str), layers.districts[col].astype(str),
                                 strict=True))
        return cls(
            cell_id=d["cell_id"].to_numpy(), cell_xy_m=d[["x_m", "y_m"]].to_numpy(float),
            onts=d["onts"].to_numpy(float), clutter=d["clutter"].to_numpy(),
            site_id=o["office_id"].to_numpy(), site_xy_m=o[["x_m", "y_m"]].to_numpy(float),
            settings=scenario.pon,
            existing=o["existing"].to_numpy(bool) if "existing" in o else None,
            existing_ports=o["existing_ports"].fillna(0).to_numpy(float) if "existing_ports" in o else None,
            free_slots=o["free_slots"].fillna(0).to_numpy(float) if "free_slots" in o else None,
            existing_chassis=o["chassis"].fillna(0).to_numpy(float) if "chassis" in o else None,
            site_source=o["source"].fillna("").to_numpy() if "source" in o else None,
            backhaul_stations=backhaul_stations,
            backhaul_cost_cny_per_km=scenario.radio.backhaul_cost_cny_per_km,
            cell_district=d["district_id"].to_numpy() if "district_id" in d else None,
            site_district=o["district_id"].to_numpy() if "district_id" in o else None,
            district_names=names,
            cell_lonlat=d[["lon", "lat"]].to_numpy(float) if {"lon", "lat"} <= set(d.columns) else None,
            cell_area_km2=d["area_km2"].fillna(0).to_numpy(float) if "area_km2" in d else None,
            site_lonlat=o[["lon", "lat"]].to_numpy(float) if {"lon", "lat"} <= set(o.columns) else None,
            crs_metric=layers.crs_metric,
        )


# --------------------------------------------------------------------------- data prep

@dataclass
class PonData:
    """Derived arrays shared by the diagnosis, the model and the result."""

    cells: np.ndarray        # (|I|,) rows of the input that need a home
    pairs: pd.DataFrame      # cell (input row), site, dist_m, route_km, a (ports' worth), feeder_cny, backhaul_cny, cost_cny
    a: np.ndarray            # (n,) ports' worth of ONTs per input cell
    p0: np.ndarray           # (m,) existing ports
    h0: np.ndarray           # (m,) installed chassis
    chassis_max: np.ndarray  # (m,) M_j = max(M, h0_j)
    cap_ports: np.ndarray    # (m,) u0_j + Q (M_j - h0_j), the most ports site j can hold
    u0: np.ndarray           # (m,) ports that fit in the installed chassis
    g: float = 1.0           # headroom factor (1: no headroom rows)
    surplus: str = "fill"
    note: str = ""           # why the headroom rule was dropped, if it was
    level: float | None = None  # the fill's common level (surplus="fill", after solving)


def headroom_factor(inp: PonInput, data: PonData) -> float:
    """The common headroom factor g of the ``headroom`` family (see the module docstring).

    Solves sum_j max(p0_j, g * ñ_j) = T on [1, T / A] by bisection, ñ_j the
    need of site j with every cell on its nearest paired site.
    """
    T = float(inp.settings.target_ports)
    A = float(data.a[data.cells].sum())
    if A <= _EPS or T <= A:
        return 1.0
    first = data.pairs.drop_duplicates("cell")  # sorted by cell then distance: the nearest pair
    est = np.bincount(first["site"].to_numpy(), weights=first["a"].to_numpy(), minlength=inp.n_sites)
    p0 = data.p0.astype(float)

    def total(g):
        return float(np.maximum(p0, g * est).sum()) + float(A - est.sum())  # unpaired cells: as if homed

    lo, hi = 1.0, T / A
    if total(lo) >= T:
        return 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if total(mid) < T else (lo, mid)
    # round down to 9 digits so that g * need never exceeds a whole port by a float's ulp
    # (target_ports makes up the difference)
    return max(1.0, math.floor(hi * 1e9) / 1e9)


def installed_room(p0, free_slots, chassis, ports_per_chassis: int) -> tuple[np.ndarray, np.ndarray]:
    """(h0, u0) per site: chassis installed, and 10G-PON ports that fit in them without a new chassis.

    With ``free_slots`` or ``chassis`` known (the existing plant), u0 = CARD_PORTS x (cards of the
    ports + free slots) and h0 the larger of ``chassis`` and the chassis those cards fill; otherwise
    h0 = ceil(p0 / Q) and u0 = Q h0.
    """
    p0, free, chassis = (np.asarray(v, dtype=np.int64) for v in (p0, free_slots, chassis))
    q = int(ports_per_chassis)
    cards = -(-p0 // CARD_PORTS) + free
    known = (free > 0) | (chassis > 0)
    h0 = np.where(known, np.maximum(chassis, -(-(cards * CARD_PORTS) // q)), -(-p0 // q))
    return h0, np.where(known, cards * CARD_PORTS, q * h0)


def prepare(inp: PonInput, *, surplus: str = "fill") -> PonData:
    """The cells to home, the sparse pair table with costs, per-site limits and the headroom factor."""
    if surplus not in SURPLUS_RULES:
        raise ValueError(f"surplus must be one of {', '.join(SURPLUS_RULES)}, not {surplus!r}")
    s = inp.settings
    need = (inp.onts > 0) | (inp.backhaul_stations > 0)
    cells = np.flatnonzero(need)
    pairs = nearest_pairs(inp.cell_xy_m[cells], inp.site_xy_m, k=int(s.nearest_sites), max_dist_m=inp.max_straight_m)
    pairs["cell"] = cells[pairs["cell"].to_numpy()] if len(pairs) else pairs["cell"]
    a = np.divide(inp.onts, inp.split, out=np.zeros(inp.n_cells), where=inp.split > 0)
    c = pairs["cell"].to_numpy()
    pairs["route_km"] = pairs["dist_m"].to_numpy() * s.route_factor / 1000.0
    pairs = pairs[pairs["route_km"].to_numpy() + inp.in_cell_km[c] <= inp.reach_km[c] + 1e-9].reset_index(drop=True)
    c = pairs["cell"].to_numpy()
    pairs["a"] = a[c]
    pairs["feeder_cny"] = pairs["route_km"].to_numpy() * np.where(inp.onts[c] > 0, inp.fiber_cny_per_km[c], 0.0)
    pairs["backhaul_cny"] = pairs["route_km"].to_numpy() * inp.backhaul_stations[c] * float(inp.backhaul_cost_cny_per_km)
    pairs["cost_cny"] = pairs["feeder_cny"].to_numpy() + pairs["backhaul_cny"].to_numpy()
    q = int(s.ports_per_chassis)
    p0 = inp.existing_ports.astype(np.int64)
    h0, u0 = installed_room(p0, inp.free_slots, inp.existing_chassis, q)
    chassis_max = np.maximum(int(s.max_chassis_per_site), h0)
    data = PonData(cells=cells, pairs=pairs.reset_index(drop=True), a=a, p0=p0, h0=h0,
                   chassis_max=chassis_max, cap_ports=u0 + q * (chassis_max - h0), u0=u0, surplus=surplus)
    data.g = headroom_factor(inp, data) if surplus == "headroom" else 1.0
    return data


# --------------------------------------------------------------------------- diagnosis before solving

def _where(inp: PonInput, rows) -> str:
    """'districts 370283 平度市 (10), ...; e.g. cells a, b, c'."""
    rows = np.asarray(rows, dtype=np.int64)
    dist = pd.Series(inp.cell_district[rows]).value_counts()
    parts = [f"{k} {inp.district_names.get(k, '')}".strip() + f" ({v})" for k, v in dist.items() if k]
    ids = ", ".join(map(str, inp.cell_id[rows[:5]])) + (", ..." if len(rows) > 5 else "")
    return (f"districts {', '.join(parts[:6])}; " if parts else "") + f"e.g. cells {ids}"


def _capacity_problems(inp: PonInput, data: PonData, a: np.ndarray, family: str) -> list:
    """Demand ``a`` [ports per cell] above what the chassis can hold: globally, per cell, per pair-graph group."""
    s = inp.settings
    problems = []
    total_cap = int(data.cap_ports.sum())
    need_total = float(a[data.cells].sum())
    if need_total > total_cap + _EPS:
        return [(family, f"demand of {need_total:,.0f} ports ({inp.onts.sum():,.0f} ONTs at the split ratios) exceeds "
                 f"what all candidate OLT sites' chassis can hold ({total_cap:,} ports)", [])]
    if not len(data.pairs):
        return problems
    pc, ps = data.pairs["cell"].to_numpy(), data.pairs["site"].to_numpy()
    # single cells their paired sites cannot hold (single sourcing: their largest site)
    agg = pd.DataFrame({"cell": pc, "cap": data.cap_ports[ps]}).groupby("cell")["cap"]
    cap = agg.max() if s.single_sourcing else agg.sum()
    over = cap.index.to_numpy()[a[cap.index.to_numpy()] > cap.to_numpy() + _EPS]
    if len(over):
        what = "its largest reachable OLT site" if s.single_sourcing else "all its reachable OLT sites"
        problems.append((family, f"{len(over)} demand cell(s) need more ports than {what} can hold "
                         f"({s.ports_per_chassis} ports x {s.max_chassis_per_site} chassis): " + _where(inp, over),
                         list(inp.cell_id[over])))
    # connected groups of the bipartite pair graph whose demand exceeds their sites' capacity
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n, m = inp.n_cells, inp.n_sites
    paired = np.zeros(n, dtype=bool)
    paired[pc] = True
    graph = coo_matrix((np.ones(len(pc)), (pc, n + ps)), shape=(n + m, n + m))
    _, label = connected_components(graph, directed=False)
    dem = np.bincount(label[:n][paired], weights=a[paired], minlength=n + m)
    capg = np.bincount(label[n:], weights=data.cap_ports, minlength=n + m)
    for comp in np.flatnonzero(dem > capg + _EPS):
        rows = np.flatnonzero(paired & (label[:n] == comp))
        if len(over) and np.isin(rows, over).all():
            continue
        problems.append((family, f"{len(rows)} demand cell(s) need {dem[comp]:,.0f} ports but the "
                         f"{int((label[n:] == comp).sum())} OLT site(s) in their reach can hold only "
                         f"{capg[comp]:,.0f}: " + _where(inp, rows), list(inp.cell_id[rows])))
    return problems



def check_feasibility(inp: PonInput, data: PonData | None = None, *, strict: bool = True) -> list[tuple[str, str, list[str]]]:
    """Cheap necessary conditions, checked before building the model.

    Returns every problem as ``(family, message, items)``; with ``strict``
    (the default) raises one :class:`InfeasibleError` listing all of them
    (``err.problems``), with the first problem's family and items.
    """
    data = data or prepare(inp)
    checks = (_check_reach, _check_target, _check_chassis)
    return milp.check_all("PON", [partial(check, inp, data) for check in checks], strict=strict)


def _check_reach(inp: PonInput, data: PonData, problems: Problems) -> None:
    s = inp.settings
    paired = np.zeros(inp.n_cells, dtype=bool)
    paired[data.pairs["cell"].to_numpy()] = True
    lost = data.cells[~paired[data.cells]]
    if len(lost):
        reach = ", ".join(f"{c} {v:.1f}" for c, v in inp.reach_km_by_clutter.items())
        problems.add("reach", f"{len(lost)} demand cell(s) have no OLT candidate within the optical budget "
                     f"({s.optics_class} optics, route km by clutter: {reach}; straight x route factor "
                     f"{s.route_factor:g}): " + _where(inp, lost), inp.cell_id[lost])


def _check_target(inp: PonInput, data: PonData, problems: Problems) -> None:
    s = inp.settings
    total_cap = int(data.cap_ports.sum())
    if s.target_ports > total_cap:
        problems.add("target_ports", f"target of {s.target_ports:,} PON ports exceeds what all {inp.n_sites} "
                     f"candidate OLT sites can hold ({total_cap:,} = {s.ports_per_chassis} ports x up to "
                     f"{s.max_chassis_per_site} chassis per site)")


def _check_chassis(inp: PonInput, data: PonData, problems: Problems) -> None:
    for family, msg, items in _capacity_problems(inp, data, data.a, "chassis_site"):
        problems.add(family, msg, items)


# --------------------------------------------------------------------------- the model

@dataclass(kw_only=True)
class PonModel(Milp):
    """A built PON model with its index arrays (pair p <-> x[p], site j <-> y[j], k[j], q[j])."""

    inp: PonInput
    data: PonData
    split: bool = False
    x: list = field(default_factory=list)
    y: list = field(default_factory=list)
    k: list = field(default_factory=list)
    q: list = field(default_factory=list)


def define_variables(m: PonModel) -> None:
    """x (one per pair), y (open), k (new chassis), q (new ports).

    The bounds k_j <= M_j - h0_j and q_j <= Q M_j - p0_j repeat ``chassis_site``
    and ``chassis_ports``; they are set only when those families are built as hard
    rows, so that dropping a family (or making it elastic) in the infeasibility
    explanation really lifts its limit.
    """
    inp, data = m.inp, m.data
    hard = set(m.families) - {m.elastic}
    integer = pulp.LpContinuous if m.relax else pulp.LpInteger
    xcat = pulp.LpContinuous if (m.relax or m.split) else pulp.LpInteger
    kmax = data.chassis_max - data.h0 if "chassis_site" in hard else None
    qmax = data.cap_ports - data.p0 if {"chassis_site", "chassis_ports"} <= hard else None
    sites = range(inp.n_sites)
    m.x = m.variables([f"x_{p}" for p in range(len(data.pairs))], 0, 1, xcat)
    m.y = m.variables([f"y_{j}" for j in sites], 0, 1, integer)
    m.k = m.variables([f"k_{j}" for j in sites], 0, kmax, integer)
    m.q = m.variables([f"q_{j}" for j in sites], 0, qmax, integer)


def define_objective(m: PonModel) -> None:
    """min F sum_{new} y + H sum k + C sum q + sum c x  [CNY]."""
    s = m.inp.settings
    terms = [(m.y[j], float(s.olt_site_cost_cny)) for j in np.flatnonzero(~m.inp.existing)]
    terms += [(v, float(s.chassis_cost_cny)) for v in m.k]
    terms += [(v, float(s.port_cost_cny)) for v in m.q]
    terms += list(zip(m.x, m.data.pairs["cost_cny"].to_numpy(float).tolist(), strict=True))
    m.problem.setObjective(pulp.LpAffineExpression(terms))


def _pair_rows(m: PonModel, family: str, pairs: np.ndarray, site_vars: list) -> int:
    """``<family>_<p>``: x_p - v_j <= 0 for the given pairs p (j their site), one row each."""
    ps = m.data.pairs["site"].to_numpy()
    var = [v for p in pairs.tolist() for v in (m.x[p], site_vars[int(ps[p])])]
    coef = np.tile([1.0, -1.0], len(pairs))
    return m.add_rows(family, np.repeat(pairs, 2), var, coef, pulp.LpConstraintLE, 0.0)


def add_assign_once(m: PonModel) -> int:
    """assign_once_{i}: sum_j x_ij = 1 for every cell that needs a home (pairs are sorted by cell)."""
    pc = m.data.pairs["cell"].to_numpy()
    return m.add_rows("assign_once", pc, m.x, np.ones(len(pc)), pulp.LpConstraintEQ, 1.0)


def add_open_link(m: PonModel) -> int:
    """open_link_{p}: x_ij <= y_j for pairs to new (non-existing) sites."""
    ps = m.data.pairs["site"].to_numpy()
    return _pair_rows(m, "open_link", np.flatnonzero(~m.inp.existing[ps]), m.y)


def add_open_chassis(m: PonModel) -> int:
    """open_chassis_{p}: x_ij <= k_j for cells with ONTs and sites without a chassis yet (h0_j = 0).

    Valid (a homed ONT needs a port, hence a chassis) and redundant for the
    integer program, but it makes the LP relaxation pay a whole chassis where
    it would otherwise pay ports / Q of one, which closes most of the gap.
    """
    pairs = m.data.pairs
    ps = pairs["site"].to_numpy()
    return _pair_rows(m, "open_chassis", np.flatnonzero((pairs["a"].to_numpy() > 0) & (m.data.h0[ps] == 0)), m.k)


def _demand_rows(m: PonModel, family: str, g: float) -> int:
    """``<family>_{j}``: q_j - g sum_i a_i x_ij >= -p0_j for sites with demand pairs (q_j first in each row)."""
    pairs = m.data.pairs
    a = pairs["a"].to_numpy()
    p = np.flatnonzero(a > 0)
    p = p[np.argsort(pairs["site"].to_numpy()[p], kind="stable")]
    ps = pairs["site"].to_numpy()[p]
    sites = np.unique(ps)
    row = np.concatenate([sites, ps])
    var = [m.q[j] for j in sites.tolist()] + [m.x[i] for i in p.tolist()]
    coef = np.concatenate([np.ones(len(sites)), -g * a[p]])
    order = np.argsort(row, kind="stable")
    return m.add_rows(family, row[order], [var[i] for i in order.tolist()], coef[order], pulp.LpConstraintGE,
                      -m.data.p0[sites].astype(float))


def add_ports_split(m: PonModel) -> int:
    """ports_split_{j}: p0_j + q_j >= sum_i (onts_i / split_i) x_ij."""
    return _demand_rows(m, "ports_split", 1.0)


def add_headroom(m: PonModel) -> int:
    """headroom_{j}: p0_j + q_j >= g sum_i (onts_i / split_i) x_ij, only when g > 1."""
    g = float(m.data.g)
    return _demand_rows(m, "headroom", g) if g > 1.0 else 0


def _site_rows(m: PonModel, family: str, first: list, second: list, coef_second: np.ndarray, rhs) -> int:
    """``<family>_{j}``: first_j + coef_j second_j <= rhs_j for every candidate site j."""
    n = m.inp.n_sites
    var = [v for pair in zip(first, second, strict=True) for v in pair]
    coef = np.column_stack([np.ones(n), coef_second]).reshape(-1)
    return m.add_rows(family, np.repeat(np.arange(n), 2), var, coef, pulp.LpConstraintLE, rhs)


def add_chassis_ports(m: PonModel) -> int:
    """chassis_ports_{j}: p0_j + q_j <= u0_j + Q k_j."""
    qq = float(m.inp.settings.ports_per_chassis)
    rhs = (m.data.u0 - m.data.p0).astype(float)
    return _site_rows(m, "chassis_ports", m.q, m.k, np.full(m.inp.n_sites, -qq), rhs)


def add_chassis_site(m: PonModel) -> int:
    """chassis_site_{j}: k_j <= (M_j - h0_j) y_j."""
    room = (m.data.chassis_max - m.data.h0).astype(float)
    return _site_rows(m, "chassis_site", m.k, m.y, -room, 0.0)


def add_target_ports(m: PonModel) -> int:
    """target_ports: sum_j (p0_j + q_j) >= T (one row)."""
    rhs = float(m.inp.settings.target_ports) - float(m.data.p0.sum())
    return m.add_row("target_ports", m.q, np.ones(len(m.q)), pulp.LpConstraintGE, rhs) if rhs > 0 else 0


def add_brownfield(m: PonModel) -> int:
    """brownfield_{j}: y_j = 1 for existing sites (their ports and chassis are free lower bounds)."""
    js = np.flatnonzero(m.inp.existing)
    return m.add_rows("brownfield", js, [m.y[j] for j in js.tolist()], np.ones(len(js)), pulp.LpConstraintEQ, 1.0)


#: constraint families in build order (``reach`` has no rows: the pair table holds only pairs in reach);
#: ``rank``: place in the infeasibility explanation, hard limits first and the demand itself last
FAMILIES = (
    Family("assign_once", add_assign_once, rank=8, blames="cells", unit="of the cell not homed"),
    Family("open_link", add_open_link, rank=3, blames="cells", unit="homed on a closed site"),
    Family("open_chassis", add_open_chassis, rank=4, blames="cells", unit="homed without a chassis"),
    Family("ports_split", add_ports_split, rank=7, blames="OLT sites", unit="ports short"),
    Family("headroom", add_headroom, rank=6, blames="OLT sites", unit="ports short of the headroom"),
    Family("chassis_ports", add_chassis_ports, rank=2, blames="OLT sites", unit="ports over the chassis"),
    Family("chassis_site", add_chassis_site, rank=1, blames="OLT sites", unit="chassis over the site limit"),
    Family("target_ports", add_target_ports, rank=0, blames="target", unit="ports short"),
    Family("brownfield", add_brownfield, rank=5, blames="OLT sites", unit="existing site closed"),
)


def build_model(inp: PonInput, data: PonData | None = None, *, relax: bool = False, families=None,
                split: bool | None = None, elastic: str | None = None) -> PonModel:
    """Build the PON integer program (see the module docstring).

    Parameters
    ----------
    relax
        LP relaxation: every variable continuous (the infeasibility explanation).
    families
        names of the constraint families to build (default: all of :data:`FAMILIES`).
    split
        continuous homing; default ``not settings.single_sourcing``.
    elastic
        a family whose rows get a nonnegative slack (the infeasibility explanation).
    """
    t0 = time.perf_counter()
    data = data or prepare(inp)
    every = milp.names(FAMILIES)
    families = every if families is None else tuple(families)
    bad = set(families) - set(every)
    if bad:
        raise ValueError(f"unknown constraint families {sorted(bad)}; valid: {', '.join(every)}")
    m = PonModel(problem=pulp.LpProblem("pon", pulp.LpMinimize), inp=inp, data=data, families=families,
                 relax=relax, elastic=elastic,
                 split=(not inp.settings.single_sourcing) if split is None else split)
    define_variables(m)
    define_objective(m)
    m.build(FAMILIES)
    m.build_seconds = time.perf_counter() - t0
    skipped = [f for f in every if f not in families]
    log.info("PON model built in %.2f s: %d cells, %d sites, %d pairs, %d constraints%s",
             m.build_seconds, len(data.cells), inp.n_sites, len(data.pairs), sum(m.rows.values()),
             f" (without {', '.join(skipped)})" if skipped else "")
    return m


# --------------------------------------------------------------------------- explanation after an infeasible solve

def _item_of(inp: PonInput, data: PonData, family: Family, row) -> tuple[str, str]:
    """The cell or OLT site a row of ``family`` stands for (rows are cells, pairs or sites)."""
    if family.name == "assign_once":
        return str(inp.cell_id[row]), f"district {inp.cell_district[row] or '?'}"
    if family.blames == "cells":   # a pair row: its cell, at its site
        pair = data.pairs.iloc[int(row)]
        return str(inp.cell_id[int(pair["cell"])]), f"OLT site {inp.site_id[int(pair['site'])]}"
    if family.blames == "OLT sites":
        return str(inp.site_id[row]), ""
    return "", ""


def explain_infeasible(inp: PonInput, data: PonData | None = None, *, solver: str = "cbc",
                       time_limit_s: float = 60.0, threads: int = 1, seed: int = 0) -> InfeasibleError:
    """Name the families and the OLT sites or cells at fault in an infeasible PON model.

    The shared explanation of :func:`rollout.milp.explain_infeasible` over :data:`FAMILIES`.
    """
    data = data or prepare(inp)
    hint = ("whole cells per OLT (single sourcing), whole ports and chassis do not fit the OLT sites in reach: set "
            "pon.single_sourcing = false, raise pon.nearest_sites or add candidates" if inp.settings.single_sourcing
            else "whole ports and chassis do not fit the OLT sites in reach: raise pon.max_chassis_per_site or add "
                 "candidates")

    def build(fams, relax, elastic):
        return build_model(inp, data, families=fams, relax=relax, elastic=elastic)

    return milp.explain_infeasible(FAMILIES, build, model="PON", part="pon", item_of=partial(_item_of, inp, data),
                                   hint_integer=hint, solver=solver, time_limit_s=time_limit_s, threads=threads,
                                   seed=seed)


# --------------------------------------------------------------------------- results

@dataclass
class ResultPON:
    """The PON plan. Layers follow :mod:`rollout.plan`'s ``olt_sites`` and ``links`` contracts (WGS-84).

    Attributes
    ----------
    olt_sites
        open OLT sites: office_id, district_id, district, new, ports, ports_new,
        chassis, onts, capex_cny (= site_cny + chassis_cny + ports_cny),
        site_cny, chassis_cny, ports_cny, build_year (0), lon, lat (points).
    links
        kind ('feeder' cell -> OLT for cells with ONTs; 'backhaul' cell -> OLT
        for cells with new 5G stations), from_id (cell_id), to_id (office_id),
        straight_km, route_km, capex_cny [CNY] (LineStrings cell centroid -> OLT).
    assignment
        one row per (cell, OLT) homing with ``share`` > 0 (exactly one per cell
        with single sourcing): cell (input row), cell_id, district_id, office_id,
        site (input row), share, onts, backhaul_stations, straight_km, route_km,
        feeder_cny, backhaul_cny.
    cell_route_km
        route km from each input cell to its OLT (share-weighted with split
        homing), indexed by cell_id; NaN for cells that needed no home. This is
        what the 5G model re-prices backhaul with.
    totals
        pon_ports, pon_ports_new, olt_sites, olt_sites_new, chassis, chassis_new,
        onts, fiber_km (feeder route km), backhaul_km (station route km),
        site_cny, chassis_cny, ports_cny, feeder_cny, backhaul_cny, capex_cny.
    pon
        split_ratio (by clutter), max_route_km (<= reach_km), reach_km,
        route_factor, nearest_sites, single_sourcing, target_ports,
        ports_needed (sum over OLTs of ceil(need)), existing_ports, cells_homed,
        pairs, candidates, surplus (rule, g = the factor over need every OLT
        with demand has at least, fill_level, olts_below_fill_level, spread,
        note), model (size and seconds).
    solves
        one :class:`SolveStats` (part 'pon'): what the solver proved; its objective is the
        model's capex [CNY], which ``totals['capex_cny']`` recomputes from the plan.
    olt_xy_m
        (open sites, 2) planar positions of the open OLTs, for :meth:`route_km_to_olt`.
    """

    olt_sites: gpd.GeoDataFrame
    links: gpd.GeoDataFrame
    assignment: pd.DataFrame
    cell_route_km: pd.Series
    totals: dict
    pon: dict
    solves: list[SolveStats]
    olt_xy_m: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    splitters: gpd.GeoDataFrame | None = None

    def route_km_to_olt(self, xy_m) -> np.ndarray:
        """Route km from planar points [m] to their nearest open OLT (straight x route factor).

        For candidate 5G sites whose cell the plan did not home; the result is
        not limited to the optical reach.
        """
        from scipy.spatial import cKDTree

        xy_m = np.asarray(xy_m, dtype=float).reshape(-1, 2)
        if not len(self.olt_xy_m):
            return np.full(len(xy_m), np.inf)
        dist, _ = cKDTree(self.olt_xy_m).query(xy_m)
        return dist * self.pon["route_factor"] / 1000.0


def _value(v) -> float:
    return 0.0 if v.varValue is None else float(v.varValue)


def fill_surplus(need: np.ndarray, base: np.ndarray, cap: np.ndarray, total: int) -> tuple[np.ndarray, float]:
    """Ports per site maximising the smallest ``ports / need`` lexicographically (water-filling).

    Parameters
    ----------
    need
        ports' worth of ONTs per site (0: no demand there).
    base
        the least ports per site (existing ports, ceil of the need), whole.
    cap
        the most ports per site (its installed chassis x Q), whole, >= base.
    total
        ports to place, base.sum() <= total <= cap.sum().

    Returns whole ports per site summing to ``total`` (when cap allows), and
    the common level g reached by every site with demand that has room left
    (1.0 when there is no surplus).
    """
    base = np.asarray(base, dtype=np.int64)
    cap = np.maximum(np.asarray(cap, dtype=np.int64), base)
    need = np.asarray(need, dtype=float)
    pos = need > 1e-12
    lo = 1.0
    if base.sum() >= total or not pos.any():
        ports = base.copy()
    else:
        def at(g):
            p = base.copy()
            p[pos] = np.clip(np.ceil(g * need[pos] - 1e-9), base[pos], cap[pos]).astype(np.int64)
            return p

        hi = float(np.max(cap[pos] / need[pos])) + 1.0
        if at(hi).sum() <= total:
            lo = hi
        else:
            for _ in range(64):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if at(mid).sum() <= total else (lo, mid)
        ports = at(lo)
        # the last ports one at a time to the lowest ratio with room (fewer than the sites that tie at the next level)
        while ports.sum() < total:
            room = pos & (ports < cap)
            if not room.any():
                break
            ratio = np.where(room, (ports + 1) / np.where(pos, need, 1.0), np.inf)
            ports[int(np.argmin(ratio))] += 1
    # anything left (every site with demand full): sites without demand, most room first
    left = int(total - ports.sum())
    for j in np.argsort(-(cap - ports), kind="stable"):
        if left <= 0:
            break
        add = int(min(left, cap[j] - ports[j]))
        ports[j] += add
        left -= add
    return ports, float(lo)


def _surplus_info(data: PonData, ports: np.ndarray, need: np.ndarray) -> dict:
    """rule; g, the factor over need every OLT with demand has at least; the fill's level and spread."""
    pos = need > 1e-12
    ratio = ports[pos] / need[pos]
    g_min = float(ratio.min()) if pos.any() else None
    full = (ratio < data.level - 1e-9).sum() if data.level is not None and pos.any() else 0
    g = float(data.g) if data.surplus == "headroom" else (1.0 if g_min is None else g_min)
    return {"rule": data.surplus, "g": g, "note": data.note,
            "fill_level": data.level, "olts_below_fill_level": int(full),
            "min_ports_over_need": g_min, "median_ports_over_need": float(np.median(ratio)) if pos.any() else None,
            "max_ports_over_need": float(ratio.max()) if pos.any() else None,
            "ports_over_need": float(ports[pos].sum() / need.sum()) if pos.any() else None}



def _solution(m: PonModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x per pair, new chassis k, new ports q) of the solved model, rounded where integer."""
    xv = np.array([_value(v) for v in m.x])
    xv = np.clip(xv, 0.0, 1.0) if not m.inp.settings.single_sourcing else np.round(xv)
    xv[xv < 1e-7] = 0.0
    k = np.round([_value(v) for v in m.k]).astype(np.int64)
    q = np.round([_value(v) for v in m.q]).astype(np.int64)
    return xv, k, q


def _assignment(inp: PonInput, data: PonData, xv: np.ndarray) -> pd.DataFrame:
    """One row per (cell, OLT) homing with share > 0."""
    use = xv > 0
    asg = data.pairs.loc[use, ["cell", "site", "dist_m", "route_km", "feeder_cny", "backhaul_cny"]]
    share = xv[use]
    c, j = asg["cell"].to_numpy(), asg["site"].to_numpy()
    return pd.DataFrame({
        "cell": c, "cell_id": inp.cell_id[c], "district_id": inp.cell_district[c], "office_id": inp.site_id[j], "site": j,
        "share": share, "onts": inp.onts[c] * share, "backhaul_stations": inp.backhaul_stations[c] * share,
        "straight_km": asg["dist_m"].to_numpy() / 1000.0, "route_km": asg["route_km"].to_numpy(),
        "feeder_cny": asg["feeder_cny"].to_numpy() * share, "backhaul_cny": asg["backhaul_cny"].to_numpy() * share,
    })


def _site_ports(inp: PonInput, data: PonData, need: np.ndarray, q: np.ndarray):
    """(ports, new ports, new chassis) per site: at least the need (x g), then the surplus rule's fill."""
    ports = data.p0 + q
    want = np.ceil(data.g * need - 1e-6)
    short = ports < want
    if short.any():  # solver tolerances only; never expected with integral homing
        log.warning("PON: %d OLT(s) had fewer ports than their ONTs need after rounding; raised", int(short.sum()))
        q = np.where(short, want.astype(np.int64) - data.p0, q)
        ports = data.p0 + q
    QQ = int(inp.settings.ports_per_chassis)
    # the fewest chassis that hold the solver's ports (the same when chassis are priced; free ones the solver
    # may leave anywhere): new ports fill the installed chassis' free slots first
    k = -(-np.maximum(ports - data.u0, 0) // QQ)
    if data.surplus == "fill":
        base = np.maximum(data.p0, np.ceil(need - 1e-9)).astype(np.int64)
        # priced chassis stay as the solver paid for them; free ones (chassis_cost_cny = 0, the port price holds
        # the OLT) may be added at open sites up to their limit: the capex is the same either way
        built = inp.existing | (need > 0) | (ports > data.p0)
        room = np.where(built, data.chassis_max - data.h0, 0) if float(inp.settings.chassis_cost_cny) == 0 else k
        ports, data.level = fill_surplus(need, base, data.u0 + QQ * np.maximum(room, k), int(ports.sum()))
        q = ports - data.p0
        k = -(-np.maximum(ports - data.u0, 0) // QQ)
    return ports, q, k


def _site_capex(inp: PonInput, open_: np.ndarray, q: np.ndarray, k: np.ndarray) -> dict:
    """Per candidate site [CNY]: site (new open sites), chassis and ports added."""
    s = inp.settings
    return {"site_cny": np.where(open_ & ~inp.existing, float(s.olt_site_cost_cny), 0.0),
            "chassis_cny": k * float(s.chassis_cost_cny), "ports_cny": q * float(s.port_cost_cny)}


def _olt_sites(inp: PonInput, data: PonData, js: np.ndarray, ports, q, k, onts, cny: dict) -> gpd.GeoDataFrame:
    """The ``olt_sites`` layer: open sites with ports, chassis and their capex."""
    return gpd.GeoDataFrame({
        "office_id": inp.site_id[js], "district_id": inp.site_district[js],
        "district": [inp.district_names.get(d, d) for d in inp.site_district[js]],
        "new": ~inp.existing[js], "ports": ports[js].astype(np.int64), "ports_new": q[js].astype(np.int64),
        "chassis": (data.h0 + k)[js].astype(np.int64), "onts": onts[js],
        "capex_cny": (cny["site_cny"] + cny["chassis_cny"] + cny["ports_cny"])[js], "site_cny": cny["site_cny"][js],
        "chassis_cny": cny["chassis_cny"][js], "ports_cny": cny["ports_cny"][js],
        "build_year": np.zeros(len(js), dtype=np.int64), "lon": inp.site_lonlat[js, 0], "lat": inp.site_lonlat[js, 1],
        "chassis_existing": np.where(inp.existing, data.h0, 0)[js].astype(np.int64),
        "free_slots": inp.free_slots[js].astype(np.int64), "source": inp.site_source[js],
    }, geometry=points(inp.site_lonlat[js]), crs=4326)


def _links(inp: PonInput, asg: pd.DataFrame) -> gpd.GeoDataFrame:
    """The ``links`` layer: a feeder per homed cell with ONTs, a backhaul per homed cell with new stations."""
    c, j = asg["cell"].to_numpy(), asg["site"].to_numpy()
    line = linestrings(np.stack([inp.cell_lonlat[c], inp.site_lonlat[j]], axis=1)) if len(c) else np.array([], dtype=object)
    parts = []
    for kind, mask, cost in (("feeder", inp.onts[c] > 0, asg["feeder_cny"].to_numpy()),
                             ("backhaul", inp.backhaul_stations[c] > 0, asg["backhaul_cny"].to_numpy())):
        parts.append(gpd.GeoDataFrame({
            "kind": kind, "from_id": inp.cell_id[c][mask], "to_id": inp.site_id[j][mask],
            "straight_km": asg["straight_km"].to_numpy()[mask], "route_km": asg["route_km"].to_numpy()[mask],
            "capex_cny": cost[mask]}, geometry=gpd.GeoSeries(line[mask], crs=4326), crs=4326))
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=4326)


def _cell_route_km(inp: PonInput, asg: pd.DataFrame) -> pd.Series:
    """Share-weighted route km from each input cell to its OLT (NaN where none), indexed by cell_id."""
    rk = asg.assign(w=asg["share"] * asg["route_km"]).groupby("cell")[["w", "share"]].sum()
    cell_route = np.full(inp.n_cells, np.nan)
    cell_route[rk.index.to_numpy()] = (rk["w"] / rk["share"]).to_numpy()
    return pd.Series(cell_route, index=pd.Index(inp.cell_id, name="cell_id"), name="route_km")


def _totals(inp: PonInput, data: PonData, js: np.ndarray, ports, q, k, asg: pd.DataFrame, cny: dict) -> dict:
    """Counts and capex by part; ``capex_cny`` is the sum of the parts."""
    c = asg["cell"].to_numpy()
    t = {
        "pon_ports": int(ports[js].sum()), "pon_ports_new": int(q.sum()),
        "olt_sites": int(len(js)), "olt_sites_new": int((~inp.existing[js]).sum()),
        "chassis": int((data.h0 + k)[js].sum()), "chassis_new": int(k.sum()),
        "onts": float(inp.onts[data.cells].sum()),
        "fiber_km": float((asg["route_km"] * asg["share"])[inp.onts[c] > 0].sum()),
        "backhaul_km": float((asg["route_km"] * asg["backhaul_stations"]).sum()),
        **{part: float(v.sum()) for part, v in cny.items()},
        "feeder_cny": float(asg["feeder_cny"].sum()), "backhaul_cny": float(asg["backhaul_cny"].sum()),
    }
    t["capex_cny"] = t["site_cny"] + t["chassis_cny"] + t["ports_cny"] + t["feeder_cny"] + t["backhaul_cny"]
    return t


def _pon_info(inp: PonInput, data: PonData, asg: pd.DataFrame, ports: np.ndarray, need: np.ndarray) -> dict:
    s = inp.settings
    return {
        "split_ratio": {cl: int(v) for cl, v in s.split_ratio.as_dict().items()},
        "max_route_km": float(asg["route_km"].max()) if len(asg) else 0.0,
        "reach_km": float(s.reach_km), "route_factor": float(s.route_factor), "nearest_sites": int(s.nearest_sites),
        "single_sourcing": bool(s.single_sourcing), "target_ports": int(s.target_ports),
        "ports_needed": int(np.ceil(need - 1e-9).clip(min=0).sum()), "existing_ports": int(data.p0.sum()),
        "cells_homed": int(len(data.cells)), "pairs": int(len(data.pairs)), "candidates": int(inp.n_sites),
        "surplus": _surplus_info(data, ports, need),
        "existing_source": existing_source(inp),
    }


def existing_source(inp: PonInput) -> str:
    """Where the existing plant comes from: ``"modelled (...)"``, ``"data.offices (...)"`` or ``""`` (none)."""
    ex = inp.existing
    if not ex.any():
        return ""
    modelled = bool((inp.site_source[ex] == "modelled").all())
    h0, _ = installed_room(inp.existing_ports, inp.free_slots, inp.existing_chassis, inp.settings.ports_per_chassis)
    what = (f"{int(ex.sum())} central offices, {int(h0[ex].sum()):,} chassis, "
            f"{int(inp.free_slots[ex].sum()):,} free card slots, {int(inp.existing_ports[ex].sum()):,} 10G-PON ports")
    if modelled:
        return (f"modelled ({what}: today's GPON plant placed at the generated offices and sized from the lines they "
                "serve, pon.gpon_lines_per_port and pon.gpon_slot_fill; not surveyed)")
    return f"data.offices ({what})"


def _existing_plant(inp: PonInput, data: PonData, olt: gpd.GeoDataFrame) -> dict:
    """``pon.existing_plant``: where the plant comes from and what the plan did with it."""
    new = olt["new"].to_numpy(bool)
    return {"source": existing_source(inp) or "none: every OLT site is a new candidate; pass data.offices",
            "modelled": existing_source(inp).startswith("modelled"),
            "sites": int(inp.existing.sum()), "chassis": int(data.h0[inp.existing].sum()),
            "free_slots": int(inp.free_slots[inp.existing].sum()),
            "ports_10g": int(inp.existing_ports[inp.existing].sum()),
            "ports_in_installed_chassis": int(data.u0[inp.existing].sum()),
            "sites_upgraded": int((~new & (olt["ports_new"].to_numpy() > 0)).sum()),
            "sites_new": int(new.sum()), "chassis_added_at_existing": int(
                (olt["chassis"] - olt["chassis_existing"]).to_numpy()[~new].sum())}


def _result(m: PonModel, stats: SolveStats) -> ResultPON:
    """Read the solution back into the result layers and totals (all recomputed from the values).

    ``stats`` stays what the solver proved; the plan's capex is ``totals["capex_cny"]``. The two differ
    only when the read-back drops something the solver paid for (a site opened but left empty is not built).
    """
    inp, data = m.inp, m.data
    xv, _, q = _solution(m)
    asg = _assignment(inp, data, xv)
    j = asg["site"].to_numpy()
    onts = np.bincount(j, weights=asg["onts"].to_numpy(), minlength=inp.n_sites)
    need = np.bincount(j, weights=data.a[asg["cell"].to_numpy()] * asg["share"].to_numpy(), minlength=inp.n_sites)
    ports, q, k = _site_ports(inp, data, need, q)
    used = np.zeros(inp.n_sites, dtype=bool)
    used[j] = True
    open_ = inp.existing | used | (q > 0) | (k > 0)  # a site the solver opened but left empty is not built
    js = np.flatnonzero(open_)
    cny = _site_capex(inp, open_, q, k)
    olt = _olt_sites(inp, data, js, ports, q, k, onts, cny)
    totals = _totals(inp, data, js, ports, q, k, asg, cny)
    if stats.objective is not None and abs(totals["capex_cny"] - stats.objective) > 1e-7 * max(1.0, totals["capex_cny"]):
        log.info("PON: plan capex %.0f CNY differs from the solver objective %.0f CNY (read-back)",
                 totals["capex_cny"], stats.objective)
    pon = _pon_info(inp, data, asg, ports, need)
    pon["existing_plant"] = _existing_plant(inp, data, olt)
    return ResultPON(olt_sites=olt, links=_links(inp, asg), assignment=asg, totals=totals, pon=pon, solves=[stats],
                     cell_route_km=_cell_route_km(inp, asg), olt_xy_m=inp.site_xy_m[js])


# --------------------------------------------------------------------------- the ODN behind the homing

def attach_odn(res: ResultPON, inp: PonInput, **solve_kw) -> None:
    """Cabinets, splitters, feeder trees and distribution (:mod:`rollout.model_odn`) into ``res``.

    The ``feeder`` links become tree edges (trenches shared), ``distribution`` links join, and the
    totals are re-priced: feeder on the tree, distribution, cabinets and splitters added.
    """
    from rollout.model_odn import build_odn, optical_budget

    s = inp.settings
    odn = build_odn(inp, res.assignment, **solve_kw)
    f = odn.figures
    back = res.links[res.links["kind"] == "backhaul"].assign(carrier="pon")
    res.links = gpd.GeoDataFrame(pd.concat([odn.links, back], ignore_index=True), geometry="geometry", crs=4326)
    res.splitters = odn.splitters
    t = res.totals
    outputs = sum(int(r.split(":")[1]) * n for r, n in f["splitters"].items())
    t.update({"fiber_km": f["feeder_km"], "distribution_km": f["distribution_km"], "feeder_cny": f["feeder_cny"],
              "distribution_cny": f["distribution_cny"], "cabinet_cny": f["cabinets"] * float(s.cabinet_cost_cny),
              "splitter_cny": outputs * float(s.splitter_cost_cny_per_output)})
    res.olt_sites["odn_cny"] = _odn_cny_by_olt(res.olt_sites, odn, s)
    t["capex_cny"] = sum(t[k] for k in ("site_cny", "chassis_cny", "ports_cny", "feeder_cny", "distribution_cny",
                                         "cabinet_cny", "splitter_cny", "backhaul_cny"))
    res.pon["optical_budget"] = optical_budget(s)
    res.pon["odn"] = {"mode": s.odn, "optics_class": s.optics_class, "reach_km": inp.reach_km_by_clutter,
                      **{k: v for k, v in f.items() if k != "splitters"}}
    res.pon["bill_of_quantities"] = bill_of_quantities(res, f)
    if odn.stats is not None:
        res.solves.append(odn.stats)


def _odn_cny_by_olt(olt: gpd.GeoDataFrame, odn, s: PonSettings) -> np.ndarray:
    """Per open OLT: its feeder tree, distribution, cabinets and splitters [CNY] (the ``odn_cny`` column)."""
    fibre = odn.links.groupby(odn.links["olt_id"].astype(str))["capex_cny"].sum()
    sp = odn.splitters
    outputs = sp["ratio"].str.split(":").str[1].astype(float) * sp["count"].astype(float)
    kit = (outputs * float(s.splitter_cost_cny_per_output)
           + np.where(sp["kind"] == "primary", sp["cabinets"].astype(float), 0.0) * float(s.cabinet_cost_cny))
    kit = kit.groupby(sp["olt_id"].astype(str)).sum()
    ids = olt["office_id"].astype(str)
    return (ids.map(fibre).fillna(0.0) + ids.map(kit).fillna(0.0)).to_numpy(float)


def bill_of_quantities(res: ResultPON, f: dict) -> dict:
    """``pon.bill_of_quantities``: OLT sites, chassis, cards, ports, splitters by ratio, fibre and trench km."""
    from rollout.model_odn import CARD_PORTS

    olt, t = res.olt_sites, res.totals
    new = olt["new"].to_numpy(bool)
    cards = int(np.ceil(olt["ports_new"].to_numpy(float) / CARD_PORTS).sum()) if len(olt) else 0
    capex = float(t["capex_cny"]) - float(t.get("backhaul_cny", 0.0))
    return {"olt_sites_new": int(new.sum()), "olt_sites_upgraded": int((~new & (olt["ports_new"] > 0)).sum()),
            "olt_chassis_new": int(t["chassis_new"]), "olt_cards": cards, "ports": int(t["pon_ports"]),
            "splitters": dict(sorted(f["splitters"].items())), "cabinets": int(f["cabinets"]),
            "fibre_km": {"feeder": f["feeder_km"], "distribution": f["distribution_km"],
                         "distribution_in_cell": f["in_cell_km"], "backhaul": float(t.get("backhaul_km", 0.0))},
            # trenches between sites: the feeder trees and the cabinet -> cell distribution; the in-cell cabling
            # (an estimate, in ducts, poles and risers) is in fibre_km only
            "trench_km": f["feeder_km"] + f["distribution_km"] - f["in_cell_km"], "star_feeder_km": f["star_km"],
            # lines connected (ONTs); homes passed (the households of the served cells) are added by the plan
            "lines": f["lines"], "cost_per_line_cny": capex / f["lines"] if f["lines"] else None}


# --------------------------------------------------------------------------- entry points

def _drop_headroom(data: PonData, why: str) -> None:
    log.warning("PON: headroom rule dropped (%s); surplus ports go wherever they are cheapest", why)
    data.g, data.note = 1.0, why


def solve_pon(inp: PonInput, *, solver: str = "cbc", time_limit_s: float = 120.0, gap_rel: float = 0.005,
              threads: int = 1, msg: bool = False, seed: int = 0, surplus: str = "fill", odn: bool = False) -> ResultPON:
    """Diagnose, build, solve and read back the PON plan.

    Parameters
    ----------
    surplus
        {"fill", "headroom", "none"}: where ports beyond the need go (module
        docstring). ``headroom`` is a preference, not a requirement: if it alone
        makes the plan infeasible (checked before solving, or proven by the
        solver) it is dropped with a warning and ``pon["surplus"]["note"]`` says why.

    odn
        also build the optical distribution network behind the homing (:func:`attach_odn`): feeder
        links become tree edges and the totals include distribution, cabinets and splitters.

    Raises
    ------
    InfeasibleError
        (exit 3) when a necessary condition fails or the solver proves the model
        infeasible (naming the families and the OLT sites or cells at fault).
    SolverLimitError
        when the solver stops before it finds any plan.
    """
    t0 = time.perf_counter()
    data = prepare(inp, surplus=surplus)
    check_feasibility(inp, data)
    if data.g > 1.0:
        bad = _capacity_problems(inp, data, data.g * data.a, "headroom")
        if bad:
            _drop_headroom(data, f"with need x {data.g:.3f}: " + bad[0][1])
    prep = time.perf_counter() - t0
    m = build_model(inp, data)
    kw = dict(part="pon", solver=solver, time_limit_s=time_limit_s, gap_rel=gap_rel, threads=threads, msg=msg, seed=seed)
    stats = solve(m.problem, build_seconds=prep + m.build_seconds, **kw)
    if stats.status == "infeasible" and data.g > 1.0:
        _drop_headroom(data, f"the solver proved the plan infeasible with need x {data.g:.3f}")
        m = build_model(inp, data)
        stats = solve(m.problem, build_seconds=prep + m.build_seconds, **kw)
    milp.solved(stats, model="PON", explain=lambda: explain_infeasible(
        inp, data, solver=solver, time_limit_s=time_limit_s, threads=threads, seed=seed))
    t1 = time.perf_counter()
    res = _result(m, stats)
    if odn:
        attach_odn(res, inp, solver=solver, time_limit_s=time_limit_s, gap_rel=gap_rel, threads=threads, seed=seed)
    res.pon["model"] = {"variables": stats.variables, "integer_variables": stats.integer_variables,
                        "constraints": stats.constraints, "nonzeros": stats.nonzeros,
                        "build_seconds": stats.build_seconds, "solve_seconds": stats.seconds,
                        "result_seconds": round(time.perf_counter() - t1, 3)}
    log.info("PON plan: %d OLT sites (%d new), %d ports, capex %.0f CNY", res.totals["olt_sites"],
             res.totals["olt_sites_new"], res.totals["pon_ports"], res.totals["capex_cny"])
    return res


def in_cell_distribution_cny(inp: PonInput) -> float:
    """The in-cell distribution every plan pays [CNY]: per cell with lines, the minimum spanning tree over its
    distribution points (:func:`rollout.model_odn.in_cell_distribution_km`) x its clutter's distribution price.

    The ODN prices each unit (a cell's lines on one OLT) this way whatever the homing and the cabinets, so with
    single sourcing it is the same for every plan; a cell split over several OLTs pays at least as much
    (ceil(a/8) + ceil(b/8) >= ceil((a+b)/8) and sqrt(a) + sqrt(b) >= sqrt(a+b)).
    """
    from rollout.model_odn import in_cell_distribution_km

    has = np.asarray(inp.onts, float) > 0
    if not has.any():
        return 0.0
    km = in_cell_distribution_km(np.asarray(inp.onts, float)[has], np.asarray(inp.cell_area_km2, float)[has],
                                 inp.settings.route_factor)
    return float((km * inp.distribution_cny_per_km[has]).sum())


def odn_kit_cny(inp: PonInput) -> float:
    """The splitters and cabinets every plan's ODN needs for these lines [CNY]: a lower bound, whatever the homing
    and the cabinet siting (:mod:`rollout.model_odn`).

    Per cell c with n_c lines and its clutter's split (total ratio m_c, first stage f_c, last stage s_c):

    * secondary splitters (two-stage): a unit (cell on one OLT) holds ceil(n_u / s_c) of s_c outputs, and a cell
      homed on several OLTs at least as many (sum_u ceil(n_u / s) >= ceil(n_c / s)): s_c ceil(n_c / s_c) outputs;
    * primary (or centralised) splitters: a cabinet position holds ceil(sum_u p_u) of them (p_u = n_u / m_u), each
      with the first-stage outputs of one of its units' splits, so at least min_c f_c x sum_c n_c / m_c outputs;
    * cabinets: ceil(sum_u p_u / P) per position, so at least ceil(sum_c (n_c / m_c) / P) in all.

    Priced at ``pon.splitter_cost_cny_per_output`` and ``pon.cabinet_cost_cny``.
    """
    s = inp.settings
    n = np.asarray(inp.onts, float)
    has = n > 0
    if not has.any():
        return 0.0
    split = {c: pon_split(s, c) for c in CLUTTERS}
    clutter = pd.Series(np.asarray(inp.clutter)[has])
    n = n[has]
    ratio = clutter.map({c: sp.ratio for c, sp in split.items()}).to_numpy(float)
    last = clutter.map({c: sp.stages[-1] if len(sp.stages) > 1 else 0 for c, sp in split.items()}).to_numpy(float)
    two = last > 0
    secondary = float((last[two] * np.ceil(n[two] / last[two] - 1e-9)).sum())
    ports = float((n / ratio).sum())
    primary = min(split[c].stages[0] for c in clutter.unique()) * ports
    cabinets = float(np.ceil(ports / float(s.cabinet_ports) - 1e-9))
    return (secondary + primary) * float(s.splitter_cost_cny_per_output) + cabinets * float(s.cabinet_cost_cny)


def pon_capex_bound(layers, scenario, *, surplus: str | None = None) -> tuple[float | None, SolveStats, float]:
    """``(bound, stats, in_cell_cny)``: a lower bound on the PON capex (its own lines, ODN included, station
    backhaul excluded) of every plan of this model under the scenario's rules.

        LB_PON = LP_equipment + D_in + K

    ``LP_equipment`` (part ``pon_bound``): the LP relaxation of this model with every homing free (c_ij = 0):
    the sites, chassis, ports and homing of any plan are a feasible point of it, and its objective is then
    that plan's F y + H k + C q. ``D_in``: :func:`in_cell_distribution_cny`. ``K``: :func:`odn_kit_cny`, the
    splitters and cabinets the lines need. The rest of a plan's PON capex (feeder tree, distribution between
    cells, cabinets and splitters beyond K) is >= 0. The star-priced homing cost of this model is *not* a bound:
    the plan re-prices the feeder on trees, which are shorter. Returns ``D_in`` as the third item.
    """
    inp = PonInput.from_layers(layers, scenario)
    data = prepare(inp, surplus=surplus or scenario.pon.surplus)
    data.pairs = data.pairs.assign(cost_cny=0.0)
    sv = scenario.solver
    kw = dict(part="pon_bound", solver=sv.name, time_limit_s=sv.time_limit_s, gap_rel=sv.gap_rel, threads=sv.threads,
              msg=sv.msg, seed=scenario.seed)
    m = build_model(inp, data, relax=True)
    stats = solve(m.problem, build_seconds=m.build_seconds, **kw)
    if stats.status == "infeasible" and data.g > 1.0:   # as the plan does: without the headroom rows (weaker)
        _drop_headroom(data, "the PON bound's LP is infeasible with it")
        m = build_model(inp, data, relax=True)
        stats = solve(m.problem, build_seconds=m.build_seconds, **kw)
    d_in = in_cell_distribution_cny(inp)
    kit = odn_kit_cny(inp)
    bound = None if stats.status != "optimal" or stats.bound is None else float(stats.bound) + d_in + kit
    stats.notes = ((stats.notes + "; ") if stats.notes else "") + (
        f"LP relaxation of the PON model with every homing free (sites, chassis, ports), plus the in-cell "
        f"distribution every plan pays ({d_in:,.0f} CNY) and the splitters and cabinets its lines need "
        f"({kit:,.0f} CNY)")
    return bound, stats, d_in


def plan_pon(layers, scenario, *, backhaul_stations=None, surplus: str | None = None) -> ResultPON:
    """The PON plan of ``layers`` under ``scenario`` (its solver settings and seed)."""
    inp = PonInput.from_layers(layers, scenario, backhaul_stations=backhaul_stations)
    surplus = surplus or scenario.pon.surplus
    sv = scenario.solver
    return solve_pon(inp, solver=sv.name, time_limit_s=sv.time_limit_s, gap_rel=sv.gap_rel, threads=sv.threads,
                     msg=sv.msg, seed=scenario.seed, surplus=surplus, odn=True)


__all__ = ["PonInput", "PonData", "PonModel", "ResultPON", "FAMILIES", "SURPLUS_RULES", "prepare", "headroom_factor",
           "check_feasibility", "build_model", "explain_infeasible", "fill_surplus", "solve_pon", "plan_pon",
           "pon_capex_bound", "in_cell_distribution_cny", "odn_kit_cny"]
