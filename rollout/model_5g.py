r"""5G base-station siting: a mixed-integer program built from the sparse pair table.

Which candidate sites get how many stations of each type, so that every
populated demand cell is covered ``k`` times, its busy-hour traffic is carried
by stations within its radius, the station target is met, and the capital cost
(equipment + fibre backhaul) is least. Existing stations stay, cost nothing and
count toward the target (brownfield).

Sets and data (units in brackets)
---------------------------------
I          demand cells; ``t_i`` busy-hour traffic [Mbit/s], ``pop_i`` residents,
           ``k_i`` stations required within the cell's radius [-]
J          candidate sites; ``b_j`` backhaul route length [km], ``d(j)`` district
T          station types (from the scenario: macro, small, ...); ``C_τ`` capacity
           [Mbit/s], ``c_τ`` equipment capex [CNY]
P ⊆ I × J  the sparse pair table: ``(i, j) ∈ P`` iff site ``j`` lies within cell
           ``i``'s planning radius. ``P(i)`` = sites of cell i, ``P(j)`` = cells of site j.
           Pairs to sites that can hold no station are dropped.
U_jτ       most stations of type τ at site j [-] (``max_per_site`` if the site's
           clutter class allows τ, else 0)
E_jτ       existing stations of type τ at site j [-] (fixed, cost 0)
β          backhaul cost [CNY/km]
N          station target (existing + new) [-]
L_d, H_d   optional floor / ceiling on stations in district d [-]

Decision variables
------------------
x_jτ ∈ Z,  0 ≤ x_jτ ≤ max(U_jτ − E_jτ, 0)   new stations of type τ at site j [-]
                                             (only where the bound is > 0)
a_ij ∈ [0, h_max t_i], (i, j) ∈ P, t_i > 0   traffic of cell i carried by site j
                                             [Mbit/s] (continuous assignment)
g_is ∈ [0, Δ_s]                              headroom segments of cell i [-]
                                             (surplus stage 2 only)

Write ``y_jτ = E_jτ + x_jτ`` for the total stations of type τ at j, and
``h_i = 1 + Σ_s g_is`` for cell i's headroom multiplier (``h_i = 1`` in the
cost stage, which has no g variables).

Objective (stage "5g"): least capital cost [CNY]

    min  Σ_jτ (c_τ + β b_j) x_jτ

i.e. every *new* station pays its equipment and its own fibre backhaul
``b_j × β`` (per station, as the scenario prices it); existing stations cost 0.

Constraint families (each built by one function; the name is the PuLP
constraint-name prefix, ``<family>_<row>``)
-------------------------------------------------------------------------
coverage         Σ_{j∈P(i)} Σ_τ x_jτ ≥ k_i − Σ_{j∈P(i)} Σ_τ E_jτ       ∀ i: pop_i > 0, k_i > 0
                 (counts *stations*, so three small cells on one site count 3;
                 rows whose brownfield already satisfies them are omitted)
capacity_assign  Σ_{j∈P(i)} a_ij = h_i t_i                              ∀ i: t_i > 0
station_capacity Σ_{i∈P(j)} a_ij ≤ Σ_τ C_τ (E_jτ + x_jτ)                ∀ j with pairs
target_total     Σ_jτ x_jτ ≥ N − Σ_jτ E_jτ
district_min     Σ_{j: d(j)=d} Σ_τ x_jτ ≥ L_d − E_d                     ∀ d with a floor
district_max     Σ_{j: d(j)=d} Σ_τ x_jτ ≤ H_d − E_d                     ∀ d with a ceiling
brownfield       not a row: existing stations are the constants E_jτ (x counts
                 only *new* stations), so they are kept, free, and counted.
capacity_cover<u> valid inequalities (cuts), one row per cell with traffic and unit
                 u ∈ {C_τ}: Σ_{j∈P(i)} Σ_τ ⌈min(C_τ, t_i)/u⌉ y_jτ ≥ ⌈t_i/u⌉
                 (see :func:`add_capacity_cover`); they remove no integer plan and
                 lift the LP bound (+26 % on a finer Qingdao test grid).

The capacity formulation is a transportation problem on the sparse pair table:
cell i's traffic may be split over any stations within its radius, and each
site's load is bounded by the summed capacity of its stations (several stations
at one site share the load; the ``stations`` layer reports each type's row at
the site's utilisation). By the max-flow/min-cut theorem this is exactly the
condition "for every set S of cells, Σ_{i∈S} t_i ≤ capacity of the sites within
reach of S", without enumerating the exponentially many sets. Variables and
nonzeros grow with |P|, never with |I| × |J|.

Surplus rule (``surplus = 'headroom'``)
---------------------------------------
When the target N exceeds what coverage and capacity need, the extra stations
must go where they add most, not to the cheapest empty land. Lexicographic, in
two solves:

1. part ``5g_headroom``: with at most N stations (``target_cap``: ``Σ x ≤ N − ΣE``),
   **maximise** the traffic-weighted, concave headroom

       Hw = Σ_i t_i Σ_s w_s g_is  [Mbit/s],   h_i = 1 + Σ_s g_is,  g_is ∈ [0, Δ_s]

   subject to every family above, ``capacity_assign`` carrying ``h_i t_i``
   (stations are dimensioned for the raised traffic). Default segments
   ``(Δ_s, w_s)`` = (0.25, 1), (0.25, 1/2), (0.5, 1/4), (1, 1/8):
   the first 25 % of headroom on any cell is worth twice the next
   25 %, and so on, up to h = 3 (beyond that, stations go by cost). So an extra station is worth most where it
   lifts the *least*-relieved traffic, weighted by how much traffic that is:
   the busiest, most loaded cells first, then the next ones (a piecewise-linear
   approximation of max-min fairness). If this stage is infeasible, N stations
   cannot even carry the traffic once: the target does not bind, and the plain
   cost model (with ``target_total``, now slack) is solved as part ``5g``.
   (An earlier version first solved the cost model without the target to count
   the stations needed; on Qingdao that solve alone took over 2 minutes, so the
   count is no longer computed: ``stations_needed`` is None.)
2. part ``5g``: least capex with ``target_total``, and every cell
   keeping the headroom stage 1 gave it: the cost model with traffic
   ``t_i · h*_i · (1 − 1e-6)``. This picks the cheapest sites and types among
   the plans that relieve each cell as much (its per-cell floors are a
   restriction of "Hw ≥ Hw*", so Hw ≥ Hw*; the stage-1 plan is feasible), and
   places stations beyond the headroom cap by cost.

Why not one uniform multiplier? ``headroom_rule = 'uniform'`` (one h ≥ 1 for all
cells, maximised in stage 1) is kept for comparison: the single most
constrained cell (few candidates, ``max_per_site`` reached) fixes h*, and every
station beyond what h* needs goes to the cheapest land again (see the tests).
Why not a weighted single objective ``capex − λ Hw``? A λ large enough to make
headroom lexicographically first swamps capex in the solver's relative gap; a
smaller λ lets backhaul savings send surplus stations to empty land.

``surplus = 'none'`` solves only the cost model with the target (part ``5g``):
extra stations go wherever they are cheapest. Each stage is a full MIP with
its own time limit; the result reports the SolveStats of every stage, the
achieved weighted headroom and the smallest per-cell headroom. If stage 2 finds
no solution in time, stage 3 runs with h* = 1 (surplus by cost) and
``Result5G.surplus_applied`` is False.

Diagnosis
---------
Before solving, :func:`diagnose` checks with numpy only: target above what every
candidate can hold; district floors above ceilings or above what the district's
candidates hold; brownfield above a ceiling; targets above what ceilings allow;
populated cells with fewer than k station slots within radius; cells whose traffic
exceeds the capacity within reach. Each raises :class:`InfeasibleError` naming the
family and the cells/districts (exit code 3). If a solve is nonetheless
infeasible, :func:`infeasible_families` runs a *family-level deletion filter*
(Chinneck): with all families present, drop one family at a time and keep it
dropped if the model (LP relaxation; the MIP when the relaxation is feasible)
stays infeasible. What remains is a minimal set of families that conflict; it is
named in the raised error.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pulp

from gis.errors import InfeasibleError, InputError
from rollout.plan import STATUSES, SolveStats
from rollout.solve import solve

log = logging.getLogger(__name__)

#: every constraint family of the cost model (the ones the infeasibility filter may drop)
FAMILIES = ("target_total", "district_max", "district_min", "coverage", "station_capacity", "capacity_assign")
#: rows that only the headroom stage adds
SURPLUS_FAMILIES = ("target_cap",)

DEFAULT_HEADROOM_STEPS = ((0.25, 1.0), (0.25, 0.5), (0.5, 0.25), (1.0, 0.125))  # h up to 3
HEADROOM_TOL = 1e-6  # relative slack on the headroom kept from stage 2 to stage 3

STATION_COLUMNS = ["site_id", "district_id", "district", "type", "count", "new", "capex_cny", "equipment_cny",
                   "backhaul_km", "backhaul_cny", "backhaul_to", "clutter", "carried_mbps", "capacity_mbps",
                   "utilisation", "build_year", "lon", "lat"]


# --------------------------------------------------------------------------- input

def _arr(x, dtype, shape, name, problems):
    a = np.asarray(x, dtype=dtype)
    if a.shape != shape:
        problems.append(f"{name}: shape {a.shape}, expected {shape}")
    return a


@dataclass
class Siting5GInput:
    """Everything the 5G model reads, as arrays (the spopt-like ``from_cost_matrix`` path).

    Cells are rows ``0..n_cells-1``; sites are rows ``0..n_sites-1``; types are
    columns ``0..T-1``. Units are in the names.

    Attributes
    ----------
    traffic_mbps
        (n_cells,) busy-hour traffic of each cell [Mbit/s].
    population
        (n_cells,) residents; a cell with population > 0 needs coverage.
    k_coverage
        (n_cells,) stations required within the cell's radius.
    pairs
        DataFrame ``cell``, ``site``, ``dist_m``: sites within each cell's radius.
    type_names
        Station type names, e.g. ``("macro", "small")``.
    capacity_mbps, capex_cny
        (T,) capacity [Mbit/s] and equipment capex [CNY] of one station of each type.
    max_per_site
        (n_sites, T) most stations of each type at each site; 0 = not allowed there.
    existing
        (n_sites, T) existing stations (default none).
    backhaul_km
        (n_sites,) fibre route length from the site to its aggregation site [km] (default 0).
    backhaul_cost_cny_per_km
        Backhaul cost per route km [CNY/km], paid by every new station.
    target_stations
        Total stations (existing + new) required.
    site_district, cell_district
        District id of each site / cell (strings; default "").
    district_min, district_max
        Optional floors / ceilings on total stations per district id.
    surplus
        ``'headroom'`` or ``'none'`` (see the module docstring).
    headroom_rule
        ``'fair'`` (per-cell concave headroom, default) or ``'uniform'`` (one multiplier).
    headroom_steps
        ``((Δ_s, w_s), ...)`` widths and weights of the concave headroom segments.
    cell_ids, site_ids, cell_radius_m, cell_xy, site_xy, cell_lonlat, site_lonlat,
    site_clutter, site_backhaul_to, district_names
        Optional labels and coordinates (metres for ``*_xy``, WGS-84 for ``*_lonlat``),
        carried into the result and used by the checks.
    """

    traffic_mbps: np.ndarray
    population: np.ndarray
    k_coverage: np.ndarray
    pairs: pd.DataFrame
    type_names: tuple
    capacity_mbps: np.ndarray
    capex_cny: np.ndarray
    max_per_site: np.ndarray
    existing: np.ndarray | None = None
    backhaul_km: np.ndarray | None = None
    backhaul_cost_cny_per_km: float = 0.0
    target_stations: int = 0
    site_district: np.ndarray | None = None
    cell_district: np.ndarray | None = None
    district_min: dict = field(default_factory=dict)
    district_max: dict = field(default_factory=dict)
    surplus: str = "headroom"
    headroom_rule: str = "fair"
    headroom_steps: tuple = DEFAULT_HEADROOM_STEPS
    cell_ids: np.ndarray | None = None
    site_ids: np.ndarray | None = None
    cell_radius_m: np.ndarray | None = None
    cell_xy: np.ndarray | None = None
    site_xy: np.ndarray | None = None
    cell_lonlat: np.ndarray | None = None
    site_lonlat: np.ndarray | None = None
    site_clutter: np.ndarray | None = None
    site_backhaul_to: np.ndarray | None = None
    district_names: dict = field(default_factory=dict)

    def __post_init__(self):
        problems: list[str] = []
        self.traffic_mbps = np.asarray(self.traffic_mbps, dtype=float).reshape(-1)
        n = len(self.traffic_mbps)
        self.population = _arr(self.population, float, (n,), "population", problems)
        self.k_coverage = _arr(self.k_coverage, np.int64, (n,), "k_coverage", problems)
        self.type_names = tuple(str(t) for t in self.type_names)
        nt = len(self.type_names)
        self.capacity_mbps = _arr(self.capacity_mbps, float, (nt,), "capacity_mbps", problems)
        self.capex_cny = _arr(self.capex_cny, float, (nt,), "capex_cny", problems)
        self.max_per_site = (np.asarray(self.max_per_site, dtype=np.int64).reshape(-1, nt) if nt
                             else np.zeros((0, 0), np.int64))
        m = self.max_per_site.shape[0]

        def labels(v, size, name, default):
            if v is None:
                return np.array([default(i) for i in range(size)], dtype=object)
            return _arr(v, object, (size,), name, problems).astype(str).astype(object)

        self.existing = (np.zeros((m, nt), np.int64) if self.existing is None
                         else _arr(self.existing, np.int64, (m, nt), "existing", problems))
        self.backhaul_km = np.zeros(m) if self.backhaul_km is None else _arr(self.backhaul_km, float, (m,), "backhaul_km", problems)
        self.site_district = labels(self.site_district, m, "site_district", lambda i: "")
        self.cell_district = labels(self.cell_district, n, "cell_district", lambda i: "")
        self.cell_ids = labels(self.cell_ids, n, "cell_ids", lambda i: f"c{i}")
        self.site_ids = labels(self.site_ids, m, "site_ids", lambda i: f"s{i}")
        self.site_clutter = labels(self.site_clutter, m, "site_clutter", lambda i: "")
        self.site_backhaul_to = labels(self.site_backhaul_to, m, "site_backhaul_to", lambda i: "")
        for name, shape in (("cell_radius_m", (n,)), ("cell_xy", (n, 2)), ("site_xy", (m, 2)),
                            ("cell_lonlat", (n, 2)), ("site_lonlat", (m, 2))):
            v = getattr(self, name)
            if v is not None:
                setattr(self, name, _arr(v, float, shape, name, problems))
        self.district_min = {str(k): int(v) for k, v in (self.district_min or {}).items()}
        self.district_max = {str(k): int(v) for k, v in (self.district_max or {}).items()}
        self.target_stations = int(self.target_stations)
        if self.surplus not in ("headroom", "none"):
            problems.append(f"surplus = {self.surplus!r} is not one of headroom, none")
        if self.headroom_rule not in ("fair", "uniform"):
            problems.append(f"headroom_rule = {self.headroom_rule!r} is not one of fair, uniform")
        steps = tuple((float(w), float(s)) for w, s in self.headroom_steps)
        if not steps or any(w <= 0 or s <= 0 for w, s in steps) or any(b[1] > a[1] for a, b in zip(steps, steps[1:])):
            problems.append("headroom_steps must be (width > 0, weight > 0) pairs with non-increasing weights")
        self.headroom_steps = steps
        for name, a in (("traffic_mbps", self.traffic_mbps), ("population", self.population),
                        ("capacity_mbps", self.capacity_mbps), ("capex_cny", self.capex_cny),
                        ("backhaul_km", self.backhaul_km)):
            if a.size and (not np.all(np.isfinite(a)) or a.min() < 0):
                problems.append(f"{name} must be finite and >= 0")
        for name, a in (("k_coverage", self.k_coverage), ("max_per_site", self.max_per_site), ("existing", self.existing)):
            if a.size and a.min() < 0:
                problems.append(f"{name} must be >= 0")
        # pairs: integer rows in range, unique, sorted by (cell, site)
        p = pd.DataFrame(self.pairs)
        missing = [c for c in ("cell", "site", "dist_m") if c not in p]
        if missing:
            problems.append(f"pairs: missing column(s) {', '.join(missing)}")
        else:
            p = pd.DataFrame({"cell": p["cell"].to_numpy(np.int64), "site": p["site"].to_numpy(np.int64),
                              "dist_m": p["dist_m"].to_numpy(float)})
            if len(p) and (p["cell"].min() < 0 or p["cell"].max() >= n or p["site"].min() < 0 or p["site"].max() >= m):
                problems.append("pairs: cell or site row out of range")
            p = p.drop_duplicates(["cell", "site"]).sort_values(["cell", "site"], kind="stable").reset_index(drop=True)
        self.pairs = p
        if problems:
            raise InputError("; ".join(problems), field="Siting5GInput")

    # ------------------------------------------------------------------ derived
    @property
    def n_cells(self) -> int:
        return len(self.traffic_mbps)

    @property
    def n_sites(self) -> int:
        return self.max_per_site.shape[0]

    @property
    def slots(self) -> np.ndarray:
        """(n_sites, T) most stations (existing included) each site can hold."""
        return np.maximum(self.max_per_site, self.existing)

    @property
    def new_max(self) -> np.ndarray:
        """(n_sites, T) upper bound of new stations."""
        return np.maximum(self.max_per_site - self.existing, 0)

    @property
    def station_cost_cny(self) -> np.ndarray:
        """(n_sites, T) cost of one new station: equipment + backhaul [CNY]."""
        return self.capex_cny[None, :] + self.backhaul_cost_cny_per_km * self.backhaul_km[:, None]

    def usable_pairs(self) -> pd.DataFrame:
        """Pairs whose site can hold at least one station (existing or new)."""
        ok = self.slots.sum(axis=1) > 0
        return self.pairs[ok[self.pairs["site"].to_numpy()]].reset_index(drop=True)

    # ------------------------------------------------------------------ from layers
    @classmethod
    def from_layers(cls, layers, scenario, backhaul_km: np.ndarray | None = None) -> "Siting5GInput":
        """Build the input from a :class:`gis.layers.Layers` bundle and a scenario.

        Station types are every :class:`~rollout.scenario.StationType` field of
        ``scenario.radio`` (macro, small, ...); a type is allowed at a candidate
        whose clutter is in the type's ``clutters``. Existing counts come from
        the candidates' ``existing_<type>`` columns. ``backhaul_km`` defaults to
        the straight distance to the nearest office × ``scenario.pon.route_factor``.
        """
        from gis.pairs import nearest_pairs
        from rollout.scenario import StationType

        radio = scenario.radio
        types = [(f.name, getattr(radio, f.name)) for f in dataclasses.fields(radio)
                 if isinstance(getattr(radio, f.name), StationType)]
        dem, cand, off = layers.demand, layers.candidates, layers.offices
        site_clutter = cand["clutter"].astype(str).to_numpy()
        max_per_site = np.column_stack([np.where(np.isin(site_clutter, list(t.clutters)), int(t.max_per_site), 0)
                                        for _, t in types]).astype(np.int64)
        existing = np.column_stack([cand[f"existing_{name}"].fillna(0).to_numpy(np.int64) if f"existing_{name}" in cand
                                    else np.zeros(len(cand), np.int64) for name, _ in types])
        site_xy = cand[["x_m", "y_m"]].to_numpy(float)
        backhaul_to = np.full(len(cand), "", dtype=object)
        if backhaul_km is None:
            if len(off):
                nn = nearest_pairs(site_xy, off[["x_m", "y_m"]].to_numpy(float), k=1, max_dist_m=np.inf)
                km = np.zeros(len(cand))
                km[nn["cell"].to_numpy()] = nn["dist_m"].to_numpy() / 1000.0 * scenario.pon.route_factor
                backhaul_km = km
                backhaul_to[nn["cell"].to_numpy()] = off["office_id"].astype(str).to_numpy()[nn["site"].to_numpy()]
            else:
                log.warning("no offices: 5G backhaul priced at 0 km")
                backhaul_km = np.zeros(len(cand))
        names = {}
        if "district_id" in layers.districts:
            col = "name_en" if "name_en" in layers.districts else None
            if col:
                names = dict(zip(layers.districts["district_id"].astype(str), layers.districts[col].astype(str)))
        return cls(
            traffic_mbps=dem["traffic_mbps"].to_numpy(float),
            population=dem["population"].to_numpy(float),
            k_coverage=dem["k_coverage"].to_numpy(np.int64),
            pairs=layers.pairs[["cell", "site", "dist_m"]],
            type_names=tuple(name for name, _ in types),
            capacity_mbps=np.array([t.capacity_mbps for _, t in types], float),
            capex_cny=np.array([t.capex_cny for _, t in types], float),
            max_per_site=max_per_site,
            existing=existing,
            backhaul_km=np.asarray(backhaul_km, float),
            backhaul_cost_cny_per_km=float(radio.backhaul_cost_cny_per_km),
            target_stations=int(radio.target_stations),
            site_district=cand["district_id"].astype(str).to_numpy(),
            cell_district=dem["district_id"].astype(str).to_numpy(),
            district_min=dict(radio.district_min),
            district_max=dict(radio.district_max),
            surplus=radio.surplus,
            headroom_rule=radio.headroom_rule,
            cell_ids=dem["cell_id"].astype(str).to_numpy() if "cell_id" in dem else None,
            site_ids=cand["site_id"].astype(str).to_numpy() if "site_id" in cand else None,
            cell_radius_m=dem["radius_m"].to_numpy(float) if "radius_m" in dem else None,
            cell_xy=dem[["x_m", "y_m"]].to_numpy(float) if {"x_m", "y_m"} <= set(dem.columns) else None,
            site_xy=site_xy,
            cell_lonlat=dem[["lon", "lat"]].to_numpy(float) if {"lon", "lat"} <= set(dem.columns) else None,
            site_lonlat=cand[["lon", "lat"]].to_numpy(float) if {"lon", "lat"} <= set(cand.columns) else None,
            site_clutter=site_clutter,
            site_backhaul_to=backhaul_to,
            district_names=names,
        )


# --------------------------------------------------------------------------- diagnosis

def _name_cells(inp: Siting5GInput, idx: np.ndarray, limit: int = 8) -> str:
    shown = [f"{inp.cell_ids[i]} (district {inp.cell_district[i] or '?'})" for i in idx[:limit]]
    more = len(idx) - limit
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def diagnose(inp: Siting5GInput) -> None:
    """Cheap infeasibility checks (numpy only) before building anything.

    Raises
    ------
    InfeasibleError
        with ``family`` one of target_total, district_min, district_max, coverage,
        capacity_assign and ``items`` the offending cells or districts.
    """
    slots = inp.slots
    site_slots = slots.sum(axis=1)
    total_slots = int(site_slots.sum())
    N = inp.target_stations
    if N > total_slots:
        raise InfeasibleError(
            f"target_total: the target of {N:,} stations exceeds the {total_slots:,} that all {inp.n_sites:,} "
            f"candidates can hold (max_per_site over the types their clutter allows, existing included)",
            family="target_total", items=[])
    dist_slots = pd.Series(site_slots).groupby(inp.site_district).sum()
    dist_exist = pd.Series(inp.existing.sum(axis=1)).groupby(inp.site_district).sum()
    bad = sorted(d for d, lo in inp.district_min.items() if d in inp.district_max and lo > inp.district_max[d])
    if bad:
        raise InfeasibleError(
            "district_min: floor above ceiling in district(s) "
            + ", ".join(f"{d} (min {inp.district_min[d]:,} > max {inp.district_max[d]:,})" for d in bad),
            family="district_min", items=bad)
    bad = sorted(d for d, lo in inp.district_min.items() if lo > int(dist_slots.get(d, 0)))
    if bad:
        raise InfeasibleError(
            "district_min: floor above what the district's candidates can hold in district(s) "
            + ", ".join(f"{d} (min {inp.district_min[d]:,} > {int(dist_slots.get(d, 0)):,} slots)" for d in bad),
            family="district_min", items=bad)
    bad = sorted(d for d, hi in inp.district_max.items() if int(dist_exist.get(d, 0)) > hi)
    if bad:
        raise InfeasibleError(
            "district_max: existing stations already exceed the ceiling in district(s) "
            + ", ".join(f"{d} ({int(dist_exist.get(d, 0)):,} existing > max {inp.district_max[d]:,})" for d in bad),
            family="district_max", items=bad)
    if inp.district_max:
        capped = sum(min(int(dist_slots.get(d, 0)), max(hi, int(dist_exist.get(d, 0)))) for d, hi in inp.district_max.items())
        free = int(dist_slots[[d not in inp.district_max for d in dist_slots.index]].sum())
        if N > capped + free:
            ds = sorted(inp.district_max)
            raise InfeasibleError(
                f"district_max: the target of {N:,} stations exceeds the {capped + free:,} that district ceilings "
                f"({', '.join(ds)}) and candidate slots allow", family="district_max", items=ds)
    pairs = inp.usable_pairs()
    c = pairs["cell"].to_numpy()
    s = pairs["site"].to_numpy()
    reach_slots = np.bincount(c, weights=site_slots[s], minlength=inp.n_cells)
    need = (inp.population > 0) & (inp.k_coverage > 0)
    bad = np.flatnonzero(need & (reach_slots < inp.k_coverage))
    if len(bad):
        none = bad[reach_slots[bad] == 0]
        few = bad[reach_slots[bad] > 0]
        parts = []
        if len(none):
            parts.append(f"{len(none)} populated cell(s) have no candidate site within their radius: {_name_cells(inp, none)}")
        if len(few):
            parts.append(f"{len(few)} cell(s) have fewer station slots within radius than their k: {_name_cells(inp, few)}")
        raise InfeasibleError("coverage: " + "; ".join(parts), family="coverage",
                              items=[str(inp.cell_ids[i]) for i in bad])
    site_cap = slots @ inp.capacity_mbps
    reach_cap = np.bincount(c, weights=site_cap[s], minlength=inp.n_cells)
    bad = np.flatnonzero(inp.traffic_mbps > reach_cap * (1 + 1e-9) + 1e-9)
    if len(bad):
        worst = bad[np.argsort(-(inp.traffic_mbps[bad] - reach_cap[bad]), kind="stable")]
        detail = ", ".join(f"{inp.cell_ids[i]} (district {inp.cell_district[i] or '?'}: {inp.traffic_mbps[i]:,.0f} Mbit/s "
                           f"> {reach_cap[i]:,.0f} reachable)" for i in worst[:8])
        raise InfeasibleError(
            f"capacity_assign: {len(bad)} cell(s) carry more busy-hour traffic than all stations within their radius "
            f"could: {detail}" + (f" and {len(bad) - 8} more" if len(bad) > 8 else ""),
            family="capacity_assign", items=[str(inp.cell_ids[i]) for i in worst])


# --------------------------------------------------------------------------- model

@dataclass
class Model5G:
    """A built PuLP problem and the index arrays that map its variables back to the data."""

    problem: pulp.LpProblem
    stage: str                      # "cost" | "headroom"
    families: tuple                 # families present
    x: list                         # new-station variables
    x_site: np.ndarray
    x_type: np.ndarray
    x_cost: np.ndarray              # CNY per new station
    a: list                         # flow variables, one per flow pair
    flow_pairs: pd.DataFrame        # cell, site, dist_m of each flow variable
    g: list = field(default_factory=list)        # headroom segment variables (fair)
    g_cell: np.ndarray | None = None
    g_step: np.ndarray | None = None
    h: object = None                # uniform headroom variable
    headroom_expr: object = None    # Hw (fair) or h (uniform) as an LpAffineExpression
    elastic: str | None = None      # family whose rows get a slack variable (infeasibility explanation)
    slacks: list = field(default_factory=list)   # (row id, slack variable) of the elastic family
    build_seconds: float = 0.0
    nonzeros: int = 0


def _add_rows(m: Model5G, family: str, row_ids: np.ndarray, row_of_term: np.ndarray, var_of_term: list,
              coef_of_term: np.ndarray, sense: int, rhs: np.ndarray) -> int:
    """Add one constraint family in one pass.

    ``row_of_term`` must be sorted; each run of equal values is one row whose
    terms are the matching ``var_of_term``/``coef_of_term``. ``row_ids`` (the
    sorted distinct rows) name the rows ``<family>_<row>``; ``rhs`` is aligned
    with ``row_ids``. Returns the number of rows added.
    """
    if len(row_ids) == 0:
        return 0
    bounds = np.flatnonzero(np.diff(row_of_term)) + 1
    starts = np.concatenate([[0], bounds]).tolist()
    ends = np.concatenate([bounds, [len(row_of_term)]]).tolist()
    assert len(starts) == len(row_ids), family
    coefs = np.asarray(coef_of_term, dtype=float).tolist()
    rhs = np.asarray(rhs, dtype=float).tolist()
    prob = m.problem
    add = prob.addConstraint
    elastic = m.elastic == family
    sign = -1.0 if sense == pulp.LpConstraintLE else 1.0
    for r, st, en, b in zip(row_ids.tolist(), starts, ends, rhs):
        expr = pulp.LpAffineExpression(zip(var_of_term[st:en], coefs[st:en]))
        if elastic:
            slack = prob.add_variable(f"slack_{family}_{r}", 0)
            expr[slack] = sign
            m.slacks.append((r, slack))
        add(pulp.LpConstraint(expr, sense, f"{family}_{r}", b))
    m.nonzeros += len(coefs) + (len(row_ids) if elastic else 0)
    return len(row_ids)


def define_variables(m: Model5G, inp: Siting5GInput, *, relax: bool, flows: bool,
                     x_lower: np.ndarray | None = None) -> None:
    """x (new stations per site × type), a (flows on the pair table) and, in the headroom stage, g or h.

    ``x_lower`` (n_sites, T) raises the lower bound of x (the surplus stages keep
    the least-cost plan and add to it).
    """
    prob = m.problem
    ub = inp.new_max
    site, typ = np.nonzero(ub)                     # row-major: sorted by site, then type
    lb = np.zeros(len(site), np.int64) if x_lower is None else np.minimum(x_lower[site, typ], ub[site, typ])
    cat = pulp.LpContinuous if relax else pulp.LpInteger
    m.x = [prob.add_variable(f"x_{j}_{t}", int(lo), int(u), cat)
           for j, t, lo, u in zip(site.tolist(), typ.tolist(), lb.tolist(), ub[site, typ].tolist())]
    m.x_site, m.x_type = site, typ
    m.x_cost = inp.station_cost_cny[site, typ]
    if flows:
        pairs = inp.usable_pairs()
        pairs = pairs[inp.traffic_mbps[pairs["cell"].to_numpy()] > 0].reset_index(drop=True)
    else:
        pairs = inp.pairs.iloc[:0]
    h_cap = 1.0 + sum(w for w, _ in inp.headroom_steps) if m.stage == "headroom" else 1.0
    ub_a = (inp.traffic_mbps[pairs["cell"].to_numpy()] * h_cap).tolist()
    m.a = [prob.add_variable(f"a_{p}", 0, u) for p, u in enumerate(ub_a)]
    m.flow_pairs = pairs
    if m.stage == "headroom" and flows:
        cells = np.unique(pairs["cell"].to_numpy())
        if inp.headroom_rule == "fair":
            steps = inp.headroom_steps
            m.g_cell = np.repeat(cells, len(steps))
            m.g_step = np.tile(np.arange(len(steps)), len(cells))
            widths = np.array([w for w, _ in steps])[m.g_step]
            m.g = [prob.add_variable(f"g_{i}_{s}", 0, w) for i, s, w in zip(m.g_cell.tolist(), m.g_step.tolist(), widths.tolist())]
            weights = np.array([w for _, w in steps])[m.g_step] * inp.traffic_mbps[m.g_cell]
            m.headroom_expr = pulp.LpAffineExpression(zip(m.g, weights.tolist()))
        else:
            m.h = prob.add_variable("h", 1.0, h_cap)
            m.headroom_expr = pulp.LpAffineExpression([(m.h, 1.0)])


def _site_var_csr(m: Model5G, n_sites: int):
    """Start offset of each site's x variables (they are sorted by site)."""
    counts = np.bincount(m.x_site, minlength=n_sites)
    ptr = np.zeros(n_sites + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr, counts


def _expand(sites_of_row_term: np.ndarray, ptr: np.ndarray, counts: np.ndarray):
    """For each (row, site) term, the indices of the site's x variables (vectorised)."""
    rep = counts[sites_of_row_term]
    total = int(rep.sum())
    first = np.repeat(ptr[sites_of_row_term], rep)
    offset = np.arange(total) - np.repeat(np.cumsum(rep) - rep, rep)
    return first + offset, rep


def add_coverage(m: Model5G, inp: Siting5GInput) -> int:
    """coverage: Σ_{j∈P(i)} Σ_τ x_jτ ≥ k_i − (existing within radius), for populated cells."""
    pairs = inp.usable_pairs()
    c = pairs["cell"].to_numpy()
    s = pairs["site"].to_numpy()
    exist_within = np.bincount(c, weights=inp.existing.sum(axis=1)[s], minlength=inp.n_cells)
    rhs = inp.k_coverage - exist_within
    rows = np.flatnonzero((inp.population > 0) & (inp.k_coverage > 0) & (rhs > 0))
    keep = np.isin(c, rows)
    ptr, counts = _site_var_csr(m, inp.n_sites)
    xi, rep = _expand(s[keep], ptr, counts)
    row_of_term = np.repeat(c[keep], rep)
    rows = np.unique(row_of_term)          # a cell whose sites have no new slot left is caught by diagnose
    return _add_rows(m, "coverage", rows, row_of_term, [m.x[k] for k in xi.tolist()], np.ones(len(xi)),
                     pulp.LpConstraintGE, rhs[rows])


def add_capacity_assign(m: Model5G, inp: Siting5GInput) -> int:
    """capacity_assign: Σ_{j∈P(i)} a_ij = h_i t_i for every cell with traffic."""
    fp = m.flow_pairs
    c = fp["cell"].to_numpy()
    rows = np.unique(c)
    t = inp.traffic_mbps
    if m.stage == "headroom" and m.g:
        # Σ a − t_i Σ_s g_is = t_i ; merge the g terms of each row after its a terms
        row = np.concatenate([c, m.g_cell])
        var = m.a + m.g
        coef = np.concatenate([np.ones(len(c)), -t[m.g_cell]])
        order = np.argsort(row, kind="stable")
        return _add_rows(m, "capacity_assign", rows, row[order], [var[k] for k in order.tolist()], coef[order],
                         pulp.LpConstraintEQ, t[rows])
    if m.stage == "headroom" and m.h is not None:
        row = np.concatenate([c, rows])
        var = m.a + [m.h] * len(rows)
        coef = np.concatenate([np.ones(len(c)), -t[rows]])
        order = np.argsort(row, kind="stable")
        return _add_rows(m, "capacity_assign", rows, row[order], [var[k] for k in order.tolist()], coef[order],
                         pulp.LpConstraintEQ, np.zeros(len(rows)))
    return _add_rows(m, "capacity_assign", rows, c, m.a, np.ones(len(c)), pulp.LpConstraintEQ, t[rows])


def add_station_capacity(m: Model5G, inp: Siting5GInput) -> int:
    """station_capacity: Σ_{i∈P(j)} a_ij − Σ_τ C_τ x_jτ ≤ Σ_τ C_τ E_jτ for every site with flows."""
    fp = m.flow_pairs
    s_of_a = fp["site"].to_numpy()
    rows = np.unique(s_of_a)
    has_x = np.isin(m.x_site, rows)
    row = np.concatenate([s_of_a, m.x_site[has_x]])
    var = m.a + [v for v, k in zip(m.x, has_x.tolist()) if k]
    coef = np.concatenate([np.ones(len(s_of_a)), -inp.capacity_mbps[m.x_type[has_x]]])
    order = np.argsort(row, kind="stable")
    rhs = (inp.existing @ inp.capacity_mbps)[rows]
    return _add_rows(m, "station_capacity", rows, row[order], [var[k] for k in order.tolist()], coef[order],
                     pulp.LpConstraintLE, rhs)


def add_capacity_cover(m: Model5G, inp: Siting5GInput) -> int:
    """capacity_cover (valid inequalities, implied by the two capacity families and integrality).

    For cell i and each unit u in the set of type capacities: with
    ``Y_τ = Σ_{j∈P(i)} y_jτ`` (integer), ``Σ_τ C_τ Y_τ ≥ t_i`` implies
    ``Σ_τ min(C_τ, t_i) Y_τ ≥ t_i`` (one station at least t_i big suffices alone)
    and, rounding up after dividing by u (Chvátal-Gomory),

        Σ_{j∈P(i)} Σ_τ ⌈min(C_τ, t_i)/u⌉ x_jτ ≥ ⌈t_i/u⌉ − Σ_{j∈P(i)} Σ_τ ⌈min(C_τ, t_i)/u⌉ E_jτ.

    These rows cut off the LP's fractional macros (a 600 Mbit/s cell: 2·macro +
    small ≥ 2 with u = 300) and raise the root bound a lot; they remove no
    integer plan. Rows already implied by ``coverage`` are omitted.
    """
    pairs = inp.usable_pairs()
    c = pairs["cell"].to_numpy()
    s = pairs["site"].to_numpy()
    t = inp.traffic_mbps
    C = inp.capacity_mbps
    # coverage rhs per cell (what the coverage row already guarantees)
    exist_within = np.bincount(c, weights=inp.existing.sum(axis=1)[s], minlength=inp.n_cells)
    cov_rhs = np.where((inp.population > 0) & (inp.k_coverage > 0), inp.k_coverage - exist_within, 0.0)
    ptr, counts = _site_var_csr(m, inp.n_sites)
    keep = t[c] > 0
    xi, rep = _expand(s[keep], ptr, counts)
    row_of_term = np.repeat(c[keep], rep)
    n = 0
    for u in np.unique(C[C > 0]):
        coef_t = np.ceil(np.minimum(C[None, :], t[:, None]) / u - 1e-9)          # (n_cells, T)
        rhs = np.ceil(t / u - 1e-9) - np.bincount(c, weights=(coef_t[c] * inp.existing[s]).sum(axis=1),
                                                   minlength=inp.n_cells)
        useful = (rhs > np.maximum(cov_rhs, 0.0)) & (t > 0)
        k = useful[row_of_term]
        if not k.any():
            continue
        r_terms = row_of_term[k]
        coef = coef_t[r_terms, m.x_type[xi[k]]]
        rows = np.unique(r_terms)
        fam = "capacity_cover"
        n += _add_rows(m, f"{fam}{int(u)}", rows, r_terms, [m.x[q] for q in xi[k].tolist()], coef,
                       pulp.LpConstraintGE, rhs[rows])
    return n


def _total_row(m: Model5G, name: str, sense: int, rhs: float) -> int:
    if not m.x:
        return 0
    expr = pulp.LpAffineExpression(zip(m.x, [1.0] * len(m.x)))
    if m.elastic == name:
        slack = m.problem.add_variable(f"slack_{name}_0", 0)
        expr[slack] = -1.0 if sense == pulp.LpConstraintLE else 1.0
        m.slacks.append((0, slack))
    m.problem.addConstraint(pulp.LpConstraint(expr, sense, f"{name}_0", rhs))
    m.nonzeros += len(m.x)
    return 1


def add_target_total(m: Model5G, inp: Siting5GInput) -> int:
    """target_total: Σ x ≥ N − Σ E (omitted when the brownfield already meets the target)."""
    rhs = inp.target_stations - int(inp.existing.sum())
    return _total_row(m, "target_total", pulp.LpConstraintGE, rhs) if rhs > 0 else 0


def add_target_cap(m: Model5G, inp: Siting5GInput) -> int:
    """target_cap (headroom stage only): Σ x ≤ N − Σ E; the target is the station budget."""
    return _total_row(m, "target_cap", pulp.LpConstraintLE, max(inp.target_stations - int(inp.existing.sum()), 0))


def _district_rows(m: Model5G, inp: Siting5GInput, bounds: dict, family: str, sense: int) -> int:
    if not bounds:
        return 0
    ds = sorted(bounds)
    code = {d: r for r, d in enumerate(ds)}
    x_d = np.array([code.get(d, -1) for d in inp.site_district[m.x_site]], dtype=np.int64)
    exist_d = pd.Series(inp.existing.sum(axis=1)).groupby(inp.site_district).sum()
    keep = np.flatnonzero(x_d >= 0)
    order = keep[np.argsort(x_d[keep], kind="stable")]
    rows = np.unique(x_d[order])
    rhs = np.array([bounds[ds[r]] - int(exist_d.get(ds[r], 0)) for r in rows], dtype=float)
    n = _add_rows(m, family, rows, x_d[order], [m.x[k] for k in order.tolist()], np.ones(len(order)), sense, rhs)
    # a district with a floor but no new slot: diagnose() already checked it
    return n


def add_district_min(m: Model5G, inp: Siting5GInput) -> int:
    """district_min: Σ_{j∈d} Σ_τ x_jτ ≥ L_d − E_d (row name ``district_min_<r>``, r = rank of d in sorted ids)."""
    return _district_rows(m, inp, inp.district_min, "district_min", pulp.LpConstraintGE)


def add_district_max(m: Model5G, inp: Siting5GInput) -> int:
    """district_max: Σ_{j∈d} Σ_τ x_jτ ≤ H_d − E_d."""
    return _district_rows(m, inp, inp.district_max, "district_max", pulp.LpConstraintLE)


_ADDERS = {
    "coverage": add_coverage,
    "capacity_assign": add_capacity_assign,
    "station_capacity": add_station_capacity,
    "target_total": add_target_total,
    "district_min": add_district_min,
    "district_max": add_district_max,
}


def build_model(inp: Siting5GInput, *, objective: str = "capex", families=FAMILIES, headroom: bool = False,
                relax: bool = False, cover_cuts: bool = True,
                elastic: str | None = None, x_lower: np.ndarray | None = None, name: str = "siting_5g") -> Model5G:
    """Build one stage of the 5G model.

    Parameters
    ----------
    objective
        ``"capex"`` (min Σ cost·x) or ``"headroom"`` (max Hw, or h; adds ``target_cap``).
    families
        Constraint families to include (subset of :data:`FAMILIES`).
    headroom
        Add headroom variables (``h_i = 1 + Σ g``, or a common h) to ``capacity_assign``
        (implied by ``objective="headroom"``).
    relax
        Continuous x (LP relaxation), used by the infeasibility filter.
    cover_cuts
        Add the ``capacity_cover`` valid inequalities (when both capacity families are present).
    elastic
        A family whose rows get a nonnegative slack; the objective becomes min Σ slack
        (used to name the cells / sites / districts behind an infeasibility).
    x_lower
        (n_sites, T) lower bounds on new stations (the plan the surplus is added to).
    """
    t0 = time.perf_counter()
    stage = "headroom" if (headroom or objective == "headroom") else "cost"
    sense = pulp.LpMaximize if objective == "headroom" else pulp.LpMinimize
    m = Model5G(problem=pulp.LpProblem(name, sense), stage=stage, families=tuple(families),
                x=[], x_site=np.zeros(0, np.int64), x_type=np.zeros(0, np.int64), x_cost=np.zeros(0), a=[],
                flow_pairs=inp.pairs.iloc[:0], elastic=elastic)
    flows = "capacity_assign" in families or "station_capacity" in families
    define_variables(m, inp, relax=relax, flows=flows, x_lower=x_lower)
    rows = {}
    for fam in FAMILIES:
        if fam in families:
            if fam == "target_total" and objective == "headroom":
                continue
            rows[fam] = _ADDERS[fam](m, inp)
    if cover_cuts and "capacity_assign" in families and "station_capacity" in families:
        rows["capacity_cover"] = add_capacity_cover(m, inp)
    if objective == "headroom":
        rows["target_cap"] = add_target_cap(m, inp)
        m.problem.setObjective(m.headroom_expr if m.headroom_expr is not None else pulp.LpAffineExpression())
    else:
        m.problem.setObjective(pulp.LpAffineExpression(zip(m.x, m.x_cost.tolist())))
    if elastic is not None:
        m.problem.setObjective(pulp.LpAffineExpression([(v, 1.0) for _, v in m.slacks]))
    m.build_seconds = time.perf_counter() - t0
    nvar = len(m.x) + len(m.a) + len(m.g) + (m.h is not None)
    log.info("5G %s model built in %.2f s: %d variables (%d integer), %d constraints (%s), %d nonzeros",
             "least-cost" if objective == "capex" else "most-headroom", m.build_seconds, nvar, 0 if relax else len(m.x), sum(rows.values()),
             ", ".join(f"{k} {v}" for k, v in rows.items() if v), m.nonzeros)
    return m


# --------------------------------------------------------------------------- infeasibility

def infeasible_families(inp: Siting5GInput, *, solver: str = "cbc", time_limit_s: float = 60.0, threads: int = 2,
                        seed: int = 0) -> tuple[list[str], bool]:
    """A minimal set of constraint families that cannot hold together (family-level deletion filter).

    Starting from all of :data:`FAMILIES` (without the ``capacity_cover`` cuts),
    each family in turn is dropped and stays dropped if the rest is still
    infeasible. The LP relaxation is used when it is already infeasible (cheap);
    otherwise the infeasibility comes from integrality and the filter re-solves
    MIPs. Returns ``(families, relaxed)``; ``families`` is ``[]`` if the model
    turns out feasible.
    """
    def infeasible(fams, relax):
        m = build_model(inp, families=fams, relax=relax, cover_cuts=False, name="siting_5g_iis")
        st = solve(m.problem, part="5g_iis", solver=solver, time_limit_s=time_limit_s, gap_rel=1.0,
                   threads=threads, seed=seed)
        return st.status == "infeasible"

    relax = True
    if not infeasible(FAMILIES, True):
        relax = False
        if not infeasible(FAMILIES, False):
            return [], relax
    keep = list(FAMILIES)
    for fam in _FILTER_ORDER:
        trial = [f for f in keep if f != fam]
        if trial and infeasible(trial, relax):
            keep = trial
    return keep, relax


#: the deletion filter tries to drop these first, so coverage is blamed before capacity when both would do
_FILTER_ORDER = ("target_total", "district_max", "district_min", "station_capacity", "capacity_assign", "coverage")


#: which family of a conflict names the culprits (the first present), and what its rows are
_FOCUS = ("capacity_assign", "coverage", "district_min", "district_max", "station_capacity", "target_total")


def explain_infeasible(inp: Siting5GInput, *, part: str = "5g", solver: str = "cbc", time_limit_s: float = 60.0,
                       threads: int = 2, seed: int = 0) -> InfeasibleError:
    """The error to raise after an infeasible solve: families at fault, and the rows that cannot hold.

    After :func:`infeasible_families`, the conflicting families are solved again
    with a nonnegative slack on every row of one of them (the demand side first:
    capacity_assign, then coverage, district floors, ceilings, ...), minimising
    the total slack. Rows with positive slack name the cells (unserved Mbit/s or
    missing stations), districts or sites.
    """
    fams, relax = infeasible_families(inp, solver=solver, time_limit_s=time_limit_s, threads=threads, seed=seed)
    if not fams:
        return InfeasibleError(f"unknown: the 5G model ({part}) was reported infeasible, but no family conflict "
                               "was found on re-solving", family="unknown")
    focus = next(f for f in _FOCUS if f in fams)
    m = build_model(inp, families=fams, relax=relax, cover_cuts=False, elastic=focus, name="siting_5g_elastic")
    st = solve(m.problem, part="5g_elastic", solver=solver, time_limit_s=time_limit_s, gap_rel=0.0,
               threads=threads, seed=seed)
    rows = []
    if st.status in ("optimal", "feasible"):
        rows = sorted(((v.varValue or 0.0, r) for r, v in m.slacks if (v.varValue or 0.0) > 1e-6), key=lambda t: (-t[0], t[1]))
    if focus in ("capacity_assign", "coverage"):
        unit = "Mbit/s unserved" if focus == "capacity_assign" else "station(s) missing"
        items = [str(inp.cell_ids[r]) for _, r in rows]
        named = [f"{inp.cell_ids[r]} (district {inp.cell_district[r] or '?'}: {v:,.0f} {unit})" for v, r in rows[:8]]
        what = "cells"
    elif focus in ("district_min", "district_max"):
        ds = sorted(inp.district_min if focus == "district_min" else inp.district_max)
        items = [ds[r] for _, r in rows]
        named = [f"{ds[r]} ({v:,.0f} stations short)" for v, r in rows[:8]]
        what = "districts"
    elif focus == "station_capacity":
        items = [str(inp.site_ids[r]) for _, r in rows]
        named = [f"{inp.site_ids[r]} ({v:,.0f} Mbit/s over)" for v, r in rows[:8]]
        what = "sites"
    else:
        items, named, what = [], [f"{v:,.0f} stations short" for v, _ in rows[:1]], "target"
    more = len(rows) - len(named)
    fam = "+".join(fams)
    msg = (f"{fam}: the 5G model ({part}) is infeasible: constraint families {', '.join(fams)} cannot all hold "
           f"(family-level deletion filter on the {'LP relaxation' if relax else 'integer model'})")
    if named:
        msg += f"; {what} at fault: " + ", ".join(named) + (f" and {more} more" if more > 0 else "")
    return InfeasibleError(msg, family=fam, items=items)


# --------------------------------------------------------------------------- result

@dataclass
class Result5G:
    """The solved 5G plan as plain tables.

    Attributes
    ----------
    stations
        GeoDataFrame (WGS-84 points) per the ``Plan.stations`` contract: one row per
        site × type × new/existing with count > 0. ``carried_mbps`` is the busy-hour
        traffic the row carries (the site's load split by capacity share), so
        ``utilisation = carried_mbps / capacity_mbps`` shows the relief headroom gives.
    cells
        One row per demand cell: cell, cell_id, district_id, population, traffic_mbps,
        k_required, stations_within (stations within radius), covered (≥ 1),
        k_met, headroom (h_i), dimensioned_mbps (= h_i × traffic), carried_mbps.
    flows
        The assignment: cell, site, dist_m, flow_mbps (dimensioned, = a_ij),
        carried_mbps (busy hour, = a_ij / h_i).
    sites
        One row per site with any station: site, site_id, stations, new_stations,
        capacity_mbps, flow_mbps, carried_mbps.
    headroom_min
        Smallest h_i over cells with traffic in the final assignment (the uniform
        headroom the plan is proven to support; 1.0 without surplus).
    headroom_weighted
        Hw of the final assignment [Mbit/s] (0 without surplus).
    headroom_mean
        Traffic-weighted mean of h_i.
    stations_needed
        Stations (existing + new) of the least-cost plan without the target, or
        None if it was not solved separately.
    solves
        SolveStats of every stage, in order (parts ``5g_headroom``, ``5g``;
        only ``5g`` when the target does not bind or ``surplus = 'none'``).
    status
        Status of the final ``5g`` solve (optimal | feasible | no_solution).
    surplus_applied
        True when the surplus stations were placed by the headroom rule.
    """

    stations: object
    cells: pd.DataFrame
    flows: pd.DataFrame
    sites: pd.DataFrame
    total_stations: int
    new_stations: int
    existing_stations: int
    target_stations: int
    capex_cny: float
    equipment_cny: float
    backhaul_cny: float
    headroom_min: float
    headroom_weighted: float
    headroom_mean: float
    stations_needed: int | None
    surplus: str
    headroom_rule: str
    solves: list
    status: str
    surplus_applied: bool = False
    headroom_floor: np.ndarray | None = None   # h*_i kept by the cost stage (reusable when only prices change)

    def summary(self) -> dict:
        by_type = (self.stations.groupby(["type", "new"])["count"].sum().rename("count").reset_index()
                   if len(self.stations) else pd.DataFrame(columns=["type", "new", "count"]))
        return {
            "total_stations": self.total_stations, "new_stations": self.new_stations,
            "existing_stations": self.existing_stations, "target_stations": self.target_stations,
            "stations_needed": self.stations_needed, "capex_cny": self.capex_cny,
            "equipment_cny": self.equipment_cny, "backhaul_cny": self.backhaul_cny,
            "headroom_min": self.headroom_min, "headroom_mean": self.headroom_mean,
            "headroom_weighted_mbps": self.headroom_weighted, "surplus": self.surplus,
            "headroom_rule": self.headroom_rule, "surplus_applied": self.surplus_applied, "status": self.status,
            "by_type": by_type.to_dict("records"),
        }


def _worst(statuses) -> str:
    order = {s: i for i, s in enumerate(STATUSES)}
    return max(statuses, key=lambda s: order.get(s, 99))


def _extract(inp: Siting5GInput, m: Model5G, solves: list, stations_needed, *, headroom: bool = False) -> Result5G:
    """Result tables from a solved model; ``inp`` carries the real busy-hour traffic.

    With ``headroom`` the model's flows carry ``h_i × t_i``; otherwise they carry
    ``t_i`` and h_i = 1 exactly.
    """
    import geopandas as gpd

    new = _new_counts(inp, m)
    total = inp.existing + new
    fp = m.flow_pairs
    fc = fp["cell"].to_numpy()
    fs = fp["site"].to_numpy()
    flow = np.array([v.varValue or 0.0 for v in m.a]) if m.a else np.zeros(0)
    flow = np.maximum(flow, 0.0)
    t = inp.traffic_mbps
    dim = np.bincount(fc, weights=flow, minlength=inp.n_cells)
    h = np.ones(inp.n_cells)
    has_t = t > 0
    h[has_t] = np.where(dim[has_t] > 0, dim[has_t] / t[has_t], 1.0)
    h = np.maximum(h, 1.0)
    if not headroom:
        h[:] = 1.0          # flows equal traffic up to solver tolerance
    carried = flow / h[fc] if len(flow) else flow
    # stations within radius, from the pair table and the integer plan
    up = inp.usable_pairs()
    site_tot = total.sum(axis=1)
    within = np.bincount(up["cell"].to_numpy(), weights=site_tot[up["site"].to_numpy()], minlength=inp.n_cells)
    within = np.rint(within).astype(np.int64)
    cells = pd.DataFrame({
        "cell": np.arange(inp.n_cells), "cell_id": inp.cell_ids, "district_id": inp.cell_district,
        "population": inp.population, "traffic_mbps": t, "k_required": inp.k_coverage,
        "stations_within": within, "covered": within >= 1, "k_met": within >= inp.k_coverage,
        "headroom": h, "dimensioned_mbps": dim, "carried_mbps": np.bincount(fc, weights=carried, minlength=inp.n_cells),
    })
    flows = pd.DataFrame({"cell": fc, "site": fs, "dist_m": fp["dist_m"].to_numpy(),
                          "flow_mbps": flow, "carried_mbps": carried})
    flows = flows[flows["flow_mbps"] > 1e-9].reset_index(drop=True)
    site_cap = total @ inp.capacity_mbps
    site_flow = np.bincount(fs, weights=flow, minlength=inp.n_sites)
    site_carried = np.bincount(fs, weights=carried, minlength=inp.n_sites)
    any_st = np.flatnonzero(site_tot > 0)
    sites = pd.DataFrame({"site": any_st, "site_id": inp.site_ids[any_st], "stations": site_tot[any_st],
                          "new_stations": new.sum(axis=1)[any_st], "capacity_mbps": site_cap[any_st],
                          "flow_mbps": site_flow[any_st], "carried_mbps": site_carried[any_st]})
    # stations layer: one row per site x type x (existing, new) with count > 0
    rows = []
    for is_new, counts in ((False, inp.existing), (True, new)):
        j, ty = np.nonzero(counts)
        if len(j):
            rows.append(pd.DataFrame({"site": j, "type_idx": ty, "count": counts[j, ty], "new": is_new}))
    st = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame({"site": [], "type_idx": [], "count": [], "new": []})
    st = st.astype({"site": np.int64, "type_idx": np.int64, "count": np.int64, "new": bool})
    j, ty, cnt = st["site"].to_numpy(), st["type_idx"].to_numpy(), st["count"].to_numpy()
    cap_row = cnt * inp.capacity_mbps[ty]
    share = np.divide(cap_row, site_cap[j], out=np.zeros(len(j)), where=site_cap[j] > 0)
    equip = np.where(st["new"], cnt * inp.capex_cny[ty], 0.0)
    bh_cny = np.where(st["new"], cnt * inp.backhaul_km[j] * inp.backhaul_cost_cny_per_km, 0.0)
    carried_row = site_carried[j] * share
    lonlat = inp.site_lonlat if inp.site_lonlat is not None else np.full((inp.n_sites, 2), np.nan)
    df = pd.DataFrame({
        "site_id": inp.site_ids[j], "district_id": inp.site_district[j],
        "district": [inp.district_names.get(d, d) for d in inp.site_district[j]],
        "type": np.array(inp.type_names, dtype=object)[ty] if len(ty) else np.array([], dtype=object),
        "count": cnt, "new": st["new"].to_numpy(), "capex_cny": equip + bh_cny, "equipment_cny": equip,
        "backhaul_km": inp.backhaul_km[j], "backhaul_cny": bh_cny, "backhaul_to": inp.site_backhaul_to[j],
        "clutter": inp.site_clutter[j], "carried_mbps": carried_row, "capacity_mbps": cap_row,
        "utilisation": np.divide(carried_row, cap_row, out=np.zeros(len(j)), where=cap_row > 0),
        "build_year": np.zeros(len(j), np.int64), "lon": lonlat[j, 0], "lat": lonlat[j, 1],
        "site": j,
    }).sort_values(["site", "type", "new"], kind="stable").reset_index(drop=True)
    geom = gpd.points_from_xy(df["lon"], df["lat"])
    stations = gpd.GeoDataFrame(df.drop(columns="site"), geometry=geom, crs=4326)
    with_t = has_t & (dim > 0)
    hw = 0.0
    if headroom and with_t.any():
        # Hw recomputed from the h_i of the assignment, segment by segment
        excess = h[with_t] - 1.0
        for width, weight in inp.headroom_steps:
            take = np.clip(excess, 0.0, width)
            hw += float((t[with_t] * weight * take).sum())
            excess = excess - take
    return Result5G(
        stations=stations, cells=cells, flows=flows, sites=sites,
        total_stations=int(total.sum()), new_stations=int(new.sum()), existing_stations=int(inp.existing.sum()),
        target_stations=inp.target_stations,
        capex_cny=float(df["capex_cny"].sum()), equipment_cny=float(df["equipment_cny"].sum()),
        backhaul_cny=float(df["backhaul_cny"].sum()),
        headroom_min=float(h[with_t].min()) if with_t.any() else 1.0,
        headroom_weighted=hw,
        headroom_mean=float((h[with_t] * t[with_t]).sum() / t[with_t].sum()) if with_t.any() else 1.0,
        stations_needed=stations_needed, surplus=inp.surplus, headroom_rule=inp.headroom_rule,
        solves=list(solves), status=solves[-1].status, surplus_applied=headroom,
    )


def _empty_result(inp: Siting5GInput, solves: list) -> Result5G:
    import geopandas as gpd

    stations = gpd.GeoDataFrame({c: [] for c in STATION_COLUMNS}, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    return Result5G(stations=stations, cells=pd.DataFrame(), flows=pd.DataFrame(), sites=pd.DataFrame(),
                    total_stations=0, new_stations=0, existing_stations=int(inp.existing.sum()),
                    target_stations=inp.target_stations, capex_cny=float("nan"), equipment_cny=float("nan"),
                    backhaul_cny=float("nan"), headroom_min=float("nan"), headroom_weighted=float("nan"),
                    headroom_mean=float("nan"), stations_needed=None, surplus=inp.surplus,
                    headroom_rule=inp.headroom_rule, solves=list(solves), status="no_solution")


# --------------------------------------------------------------------------- solve

def solve_5g(inp: Siting5GInput, *, solver: str = "cbc", time_limit_s: float = 120.0, gap_rel: float = 0.005,
             threads: int = 2, msg: bool = False, seed: int = 0, headroom_floor: np.ndarray | None = None) -> Result5G:
    """Diagnose, build, solve (one or two stages) and return the plan.

    Each stage gets ``time_limit_s``. Raises :class:`InfeasibleError` (exit 3)
    from the diagnosis or, after an infeasible solve, naming the families at fault.
    A final stage that stops with no incumbent yields a result with status
    ``no_solution`` and empty tables. ``headroom_floor`` (a previous result's
    ``headroom_floor``) skips the headroom stage: it does not depend on costs, so
    a re-solve with new backhaul prices keeps the same per-cell headroom.
    """
    diagnose(inp)
    kw = dict(solver=solver, time_limit_s=time_limit_s, gap_rel=gap_rel, threads=threads, msg=msg, seed=seed)
    solves: list[SolveStats] = []
    has_traffic = bool((inp.traffic_mbps > 0).any())
    if inp.surplus == "none" or not has_traffic:
        m = build_model(inp)
        st = solve(m.problem, part="5g", build_seconds=m.build_seconds, **kw)
        solves.append(st)
        return _finish(inp, m, solves, None, kw)
    if headroom_floor is not None:
        return _cost_stage(inp, np.asarray(headroom_floor, float), solves, kw, applied=True)
    # stage 1: the most headroom with at most N stations (no cost). If even h = 1 cannot be carried
    # by N stations, the target does not bind: the least-cost plan already needs more.
    m2 = build_model(inp, objective="headroom")
    st2 = solve(m2.problem, part="5g_headroom", build_seconds=m2.build_seconds, **kw)
    what = "weighted headroom Hw [Mbit/s]" if inp.headroom_rule == "fair" else "uniform headroom h [-]"
    st2.notes = (st2.notes + "; " if st2.notes else "") + f"objective = {what}, maximised"
    solves.append(st2)
    if st2.status == "infeasible":
        st2.notes += "; target not binding: coverage and capacity need more than the target"
        m = build_model(inp)
        st = solve(m.problem, part="5g", build_seconds=m.build_seconds, **kw)
        solves.append(st)
        return _finish(inp, m, solves, None, kw)
    h_star = np.ones(inp.n_cells)
    applied = st2.status in ("optimal", "feasible")
    if applied:
        h_star = _cell_headroom(inp, m2)
    return _cost_stage(inp, h_star, solves, kw, applied=applied)


def _cost_stage(inp: Siting5GInput, h_star: np.ndarray, solves: list, kw: dict, *, applied: bool) -> Result5G:
    """Stage 2: least cost with every cell keeping its headroom ``h_star``, the target met."""
    inp3 = dataclasses.replace(inp, traffic_mbps=inp.traffic_mbps * np.maximum(h_star * (1 - HEADROOM_TOL), 1.0))
    m3 = build_model(inp3)
    st3 = solve(m3.problem, part="5g", build_seconds=m3.build_seconds, **kw)
    if not applied:
        st3.notes = (st3.notes + "; " if st3.notes else "") + "headroom stage found no solution: surplus placed by cost"
    solves.append(st3)
    res = _finish(inp, m3, solves, None, kw, headroom=applied)
    res.headroom_floor = h_star if applied else None
    return res


def _new_counts(inp: Siting5GInput, m: Model5G) -> np.ndarray:
    """(n_sites, T) new stations of a solved model, rounded."""
    new = np.zeros((inp.n_sites, len(inp.type_names)), np.int64)
    if m.x:
        new[m.x_site, m.x_type] = np.rint([v.varValue or 0.0 for v in m.x]).astype(np.int64)
    return new


def _cell_headroom(inp: Siting5GInput, m: Model5G) -> np.ndarray:
    """h_i = Σ_j a_ij / t_i of a solved model (1 where no traffic)."""
    fc = m.flow_pairs["cell"].to_numpy()
    flow = np.maximum(np.array([v.varValue or 0.0 for v in m.a]), 0.0) if m.a else np.zeros(0)
    dim = np.bincount(fc, weights=flow, minlength=inp.n_cells)
    t = inp.traffic_mbps
    h = np.ones(inp.n_cells)
    ok = t > 0
    h[ok] = dim[ok] / t[ok]
    return np.maximum(h, 1.0)


def _finish(inp, m, solves, need, kw, headroom: bool = False) -> Result5G:
    st = solves[-1]
    if st.status == "optimal" and st.objective is None:   # nothing to decide: PuLP's empty objective
        st.objective, st.bound, st.gap = 0.0, 0.0, 0.0
    if st.status == "infeasible":
        raise explain_infeasible(inp, part=st.part, solver=kw["solver"], threads=kw["threads"], seed=kw["seed"])
    if st.status == "no_solution":
        return _empty_result(inp, solves)
    return _extract(inp, m, solves, need, headroom=headroom)


def plan_5g(layers, scenario, *, backhaul_km: np.ndarray | None = None,
            headroom_floor: np.ndarray | None = None) -> Result5G:
    """Site the 5G stations for ``layers`` under ``scenario`` (solver settings from ``scenario.solver``)."""
    inp = Siting5GInput.from_layers(layers, scenario, backhaul_km=backhaul_km)
    s = scenario.solver
    return solve_5g(inp, solver=s.name, time_limit_s=s.time_limit_s, gap_rel=s.gap_rel, threads=s.threads,
                    msg=s.msg, seed=scenario.seed, headroom_floor=headroom_floor)


__all__ = ["Siting5GInput", "Result5G", "Model5G", "FAMILIES", "diagnose", "build_model", "solve_5g", "plan_5g",
           "infeasible_families", "explain_infeasible", "define_variables", "add_coverage", "add_capacity_assign",
           "add_station_capacity", "add_capacity_cover", "add_target_total", "add_target_cap", "add_district_min",
           "add_district_max"]
