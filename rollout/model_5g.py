r"""5G base-station siting: a mixed-integer program built from the sparse pair table.

Which candidate sites get how many stations of each type, so that every
populated demand cell is covered ``k`` times, its busy-hour traffic is carried
by stations within its radius, the station target is met, and the capital cost
(equipment + backhaul) is least. Existing stations stay, cost nothing and
count toward the target (brownfield).

Sets and data (units in brackets)
---------------------------------
I          demand cells; ``t_i`` busy-hour traffic [Mbit/s], ``pop_i`` residents,
           ``k_i`` stations required within the cell's radius [-]
J          candidate sites; ``b_j`` backhaul route length [km], ``d(j)`` district; ``p_j`` the
           backhaul price of a new station there [CNY], as the plan prices it: the cheaper of PON
           (``β b_j``, only within the optical reach) and the SPN/IPRAN ring (``ρ_site + ρ_km b_j``), as
           ``pon.backhaul_carrier`` picks (:func:`rollout.model_odn.backhaul_carrier_cny`). A position that
           holds only spur types (``backhaul = 'spur'``: small cells) is priced at the spur to its nearest
           anchor, a coverage-layer or existing site of an own-backhaul type, at ``β`` per km
           (:func:`with_spur_backhaul`)
T          station types (from the scenario: macro, small, ...); ``C_τ`` capacity
           [Mbit/s], ``c_τ`` equipment capex [CNY]
P ⊆ I × J  the sparse pair table: ``(i, j) ∈ P`` iff site ``j`` lies within the
           radius R_τ(c_i) of its type τ in cell i's clutter class c_i of some part of
           cell i (it can carry the cell's traffic). ``P_cov ⊆ P``: pairs whose site lies
           within R_τ(c_i) of the cell's planning point (``cover``; without that column
           P_cov = P). ``P(i)`` = sites of cell i, ``P(j)`` = cells of site j. Pairs to
           sites that can hold no station are dropped. R_τ(c) comes from the link budget of
           type τ on its band in clutter class c (:mod:`rollout.radio_plan`).
U_jτ       most stations of type τ at site j [-] (``max_per_site`` if the site's
           clutter class allows τ, else 0). With the layer build's ``type`` column each
           candidate is one *position* of one type and U_jτ = 1 for its type only: a
           macro site holds one macro gNB (3 sectors), a small-cell position one small
           cell. What counts toward the target N is one per position: a macro site = 1,
           a small cell = 1, as MIIT counts 5G base stations (gNBs).
E_jτ       existing stations of type τ at site j [-] (fixed, cost 0)
β          fibre backhaul cost [CNY/km] (PON, and a small cell's spur)
ρ_site, ρ_km  SPN/IPRAN ring backhaul: per site [CNY] and per route km [CNY/km]
N          station target (existing + new) [-]
L_d, H_d   optional floor / ceiling on stations in district d [-]

Decision variables
------------------
x_jτ ∈ Z,  F_jτ ≤ x_jτ ≤ max(U_jτ − E_jτ, 0) new stations of type τ at site j [-]
                                             (only where the bound is > 0); F_jτ = 1 at the
                                             sites of the coverage layer (rollout.coverage_layer:
                                             every populated point of the evaluation lattice within
                                             radius of k of them), else 0; candidates that layer
                                             closes have U_jτ = 0
a_ij ∈ [0, h_max t_i], (i, j) ∈ P, t_i > 0   traffic of cell i carried by site j
                                             [Mbit/s] (continuous assignment)
g_is ∈ [0, Δ_s]                              headroom segments of cell i [-]
                                             (headroom stage 1 only)

Write ``y_jτ = E_jτ + x_jτ`` for the total stations of type τ at j, and
``h_i = 1 + Σ_s g_is`` for cell i's headroom multiplier (``h_i = 1`` in the
cost stage, which has no g variables).

Objective (stage "5g"): least capital cost [CNY]

    min  Σ_jτ (c_τ + p_j) x_jτ

i.e. every *new* station pays its equipment and its backhaul ``p_j`` (per station: a position holds
one unit, so per site); existing stations cost 0.

Constraint families (registered once in :data:`FAMILIES`, each built by one
``add_<family>`` call; the name is the PuLP row-name prefix, ``<family>_<row>``)
-------------------------------------------------------------------------------
coverage         Σ_{j∈P_cov(i)} Σ_τ x_jτ ≥ k_i − Σ_{j∈P_cov(i)} Σ_τ E_jτ   ∀ i: pop_i > 0, k_i > 0
                 (with one unit per position this counts distinct positions, each only
                 within its own type's radius in the cell's clutter class; rows whose
                 brownfield already satisfies them are omitted)
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
target_cap       Σ_jτ x_jτ ≤ N − Σ_jτ E_jτ   (headroom stage only, below)

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

Beyond the headroom floors (``radio.filler = 'offload'``, the default): stage 2 leaves the target row out
(least capex for the floors, M stations) and the N − M stations the target still needs go, outside the solve, to
the free positions that serve the most busy-hour traffic as best server (:func:`offload_value`: the traffic
density of the position's cell x the area it serves, a small cell's shrunk by the nearest macro site's
co-channel signal; :func:`filler_counts`). Cost alone would put them at the cheapest positions: small cells on
the shortest spurs, ~100 m from every macro site, where the macro's signal leaves them ~35 m of service radius.
Their capex is what those positions cost; the solver's part covers the M stations (``filler = 'cost'``: the
target row stays in and the solver places them by cost).

Stage 1 in closed form: when the least-cost plan with every cell at the cap (``h_i = h_max``) holds no
more than N stations, that plan reaches stage 1's maximum, so stage 1 is not solved: its part says
``closed form``, ``optimal``, and stage 2 is that plan (:func:`_at_the_cap`; Qingdao: 12 s saved).

``surplus = 'none'`` solves only the cost model with the target (part ``5g``):
extra stations go wherever they are cheapest. Each stage is a MIP with
its own time limit. A cost stage is first solved as its LP relaxation with every x rounded up
(:func:`rollout.solve.solve` with ``round_up``; solver ``highs-lp``): rounding up keeps every coverage, capacity
and target row, so once the rows are checked (a district ceiling can break) and the rounded plan lies within the
gap asked of the LP optimum, that is a proven answer and branch and bound is skipped (Qingdao: 18 fractional x,
0.007 % above the LP, 3 s against CBC's 22 s); otherwise the MIP runs; the result reports the SolveStats of every stage, the
achieved weighted headroom and the smallest per-cell headroom. If stage 1 finds
no solution in time, stage 2 runs with h* = 1 (surplus by cost) and
``Result5G.surplus_applied`` is False. If the final stage finds none,
:class:`~gis.errors.SolverLimitError` names the part and says to raise
``solver.time_limit_s``.

Diagnosis
---------
Before solving, :func:`diagnose` checks with numpy only: target above what every
candidate can hold; district floors above ceilings or above what the district's
candidates hold; brownfield above a ceiling; targets above what ceilings allow;
populated cells with fewer than k station slots within radius; cells whose traffic
exceeds the capacity within reach. It collects every problem and raises one
:class:`InfeasibleError` listing them all, naming the first family and its cells or
districts (exit code 3). If a solve is nonetheless infeasible, :func:`explain_infeasible`
runs the shared explanation of :mod:`rollout.milp`: a *family-level deletion filter*
(Chinneck) over the ranked families of :data:`FAMILIES` (LP relaxation; the MIP when
the relaxation is feasible), then an elastic re-solve of the conflict's lowest-ranked
family, whose rows with slack name the cells (unserved Mbit/s, missing stations),
districts or sites at fault.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
import pulp
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.spatial import cKDTree

from gis.errors import InfeasibleError, ValidationError
from rollout import milp
from rollout.milp import Family, Milp, Problems
from rollout.plan import SolveStats
from rollout.solve import solve

log = logging.getLogger(__name__)

DEFAULT_HEADROOM_STEPS = ((0.25, 1.0), (0.25, 0.5), (0.5, 0.25), (1.0, 0.125))  # h up to 3
HEADROOM_TOL = 1e-6  # relative slack on the headroom kept from stage 1 to stage 2

STATION_COLUMNS = ["site_id", "district_id", "district", "type", "count", "new", "capex_cny", "equipment_cny",
                   "backhaul_km", "backhaul_cny", "backhaul_to", "clutter", "carried_mbps", "capacity_mbps",
                   "utilisation", "build_year", "lon", "lat"]


# --------------------------------------------------------------------------- shared with budget mode

def station_types(radio) -> list[tuple[str, object]]:
    """``(name, StationType)`` of every station type of ``scenario.radio`` (macro, small, ...), in field order."""
    from rollout.scenario import StationType

    return [(f.name, getattr(radio, f.name)) for f in dataclasses.fields(radio)
            if isinstance(getattr(radio, f.name), StationType)]


def spur_types(radio) -> set[str]:
    """Names of the station types whose backhaul is a spur to the nearest own-backhaul site (``backhaul = 'spur'``)."""
    return {name for name, t in station_types(radio) if getattr(t, "backhaul", "own") == "spur"}


def nearest_anchor(xy: np.ndarray, anchor_xy: np.ndarray, route_factor: float) -> tuple[np.ndarray, np.ndarray]:
    """(route km, row of the anchor) from each point to its nearest anchor site: straight metres x route factor.

    The spur of a spur-type station (a small cell) to the site whose own backhaul carries it. Without anchors:
    inf km and row -1.
    """
    xy = np.asarray(xy, float).reshape(-1, 2)
    if not len(anchor_xy) or not len(xy):
        return np.full(len(xy), np.inf), np.full(len(xy), -1, np.int64)
    d, k = cKDTree(np.asarray(anchor_xy, float)).query(xy, k=1)
    return d / 1000.0 * route_factor, k.astype(np.int64)


def anchor_sites(inp: "Siting5GInput", spur: set[str]) -> np.ndarray:
    """Rows of the sites the program cannot leave without an own-backhaul station (types not in ``spur``): the
    coverage layer's fixed sites (``forced_new``) and existing stations. Spur types hang off these."""
    own = np.array([t not in spur for t in inp.type_names])
    fixed = inp.existing[:, own].sum(axis=1)
    if inp.forced_new is not None:
        fixed = fixed + inp.forced_new[:, own].sum(axis=1)
    return np.flatnonzero(fixed > 0)


def with_spur_backhaul(inp: "Siting5GInput", radio, route_factor: float, *, at_most: bool = False) -> "Siting5GInput":
    """``inp`` with the positions that hold only spur types priced at the spur to their nearest anchor.

    Anchors are the sites the program cannot leave empty of an own-backhaul type: the coverage layer's fixed
    sites (``forced_new``) and existing stations. The plan prices a spur-type station at the spur to the
    nearest own-backhaul site it builds (never farther than these anchors), whatever its own route, so the
    spur replaces the given price. ``at_most`` (the plan bound's cheapest prices): the cheaper of the two (in CNY),
    so a relaxation's price is never raised.
    """
    spur = spur_types(radio)
    if not spur or inp.site_xy is None:
        return inp
    own = np.array([t not in spur for t in inp.type_names])
    allowed = inp.max_per_site > 0
    only_spur = allowed[:, ~own].any(axis=1) & ~allowed[:, own].any(axis=1)
    anchors = anchor_sites(inp, spur)
    if not only_spur.any() or not len(anchors):
        return inp
    km, k = nearest_anchor(inp.site_xy[only_spur], inp.site_xy[anchors], route_factor)
    b = inp.backhaul_km.copy()
    to = np.asarray(inp.site_backhaul_to, dtype=object).copy()
    spur_flag = inp.backhaul_spur.copy()
    spurred = km * inp.backhaul_cost_cny_per_km < inp.backhaul_cny[only_spur] if at_most else np.isfinite(km)
    rows = np.flatnonzero(only_spur)[spurred]
    b[rows] = km[spurred]
    spur_flag[rows] = True
    if inp.site_ids is not None:
        to[rows] = np.asarray(inp.site_ids, dtype=object)[anchors[k[spurred]]]
    log.info("5G backhaul: %d spur-type positions priced as a spur to the nearest of %d anchor sites (median %.2f km)",
             len(rows), len(anchors), float(np.median(km[spurred])) if spurred.any() else 0.0)
    return dataclasses.replace(inp, backhaul_km=b, site_backhaul_to=to, backhaul_spur=spur_flag)


def offload_value(inp: "Siting5GInput", layers, scenario) -> np.ndarray:
    """(n_sites, T) busy-hour traffic [Mbit/s] a new station would serve as best server: the traffic density of the
    site's cell (nearest planning point) x pi r², r the type's radius in the site's clutter class.

    A spur type (small cell) shares the band of the macro layer: r shrinks to where its signal plus
    ``radio.small_cell_range_bias_db`` still beats the nearest anchor's (the coverage layer's or an existing
    own-backhaul site; median outdoor RSRP of both, TR 38.901 models of each type), so a small cell 100 m from
    a macro serves a far smaller area than one between macro sites. Used by :func:`filler_counts`.
    """
    from rollout.radio import invert_path_loss_m, rsrp_dbm
    from rollout.radio_plan import scenario_budgets, type_radii_m

    budgets = scenario_budgets(scenario)
    radii = type_radii_m(scenario, budgets)
    dem = layers.demand
    area = dem["area_km2"].to_numpy(float) if "area_km2" in dem else np.ones(len(dem))   # no areas: 1 km² each
    density = np.divide(dem["traffic_mbps"].to_numpy(float), area * 1e6, out=np.zeros(len(dem)),
                        where=area > 0)   # Mbit/s per m²
    home = cKDTree(dem[["x_m", "y_m"]].to_numpy(float)).query(inp.site_xy, k=1)[1] if len(dem) else \
        np.zeros(inp.n_sites, np.int64)
    clutter = np.asarray(inp.site_clutter, dtype=object)
    r = np.zeros((inp.n_sites, len(inp.type_names)))
    for k, name in enumerate(inp.type_names):
        r[:, k] = pd.Series(clutter).map(radii[name]).fillna(0.0).to_numpy(float)
    spur = spur_types(scenario.radio)
    anchors = anchor_sites(inp, spur)
    if spur and len(anchors):
        d = cKDTree(inp.site_xy[anchors]).query(inp.site_xy, k=1)[0]
        anchor_type = next(name for name in inp.type_names if name not in spur)
        bias = float(scenario.radio.small_cell_range_bias_db)
        for k, name in enumerate(inp.type_names):
            if name not in spur:
                continue
            for c in np.unique(clutter):
                rows = np.flatnonzero(clutter == c)
                bm, bs = budgets[(anchor_type, c)], budgets[(name, c)]
                macro_dbm = rsrp_dbm(np.maximum(d[rows], 1.0), bm, include_margins=False)
                pl_max = bs.eirp_re_dbm + bs.rx_gain_dbi - (macro_dbm - bias)
                reach = np.nan_to_num(invert_path_loss_m(pl_max, bs.model, bs.band_mhz), nan=0.0)
                r[rows, k] = np.minimum(r[rows, k], reach)
    return density[home][:, None] * np.pi * r ** 2


def backhaul_to_nearest_office(layers, route_factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Route km from every candidate site to its nearest office (straight line × route factor), and that office.

    The default backhaul of a new station before the PON plan is known (5G siting and budget mode).
    Without offices the backhaul is priced at 0 km to no office.
    """
    from gis.pairs import nearest_pairs

    cand, off = layers.candidates, layers.offices
    km = np.zeros(len(cand))
    to = np.full(len(cand), "", dtype=object)
    if not len(off):
        log.warning("no offices: 5G backhaul priced at 0 km")
        return km, to
    nn = nearest_pairs(cand[["x_m", "y_m"]].to_numpy(float), off[["x_m", "y_m"]].to_numpy(float), k=1,
                       max_dist_m=np.inf)
    rows = nn["cell"].to_numpy()
    km[rows] = nn["dist_m"].to_numpy() / 1000.0 * route_factor
    to[rows] = off["office_id"].astype(str).to_numpy()[nn["site"].to_numpy()]
    return km, to


# --------------------------------------------------------------------------- input

def _arr(x, dtype, shape, name, problems):
    a = np.asarray(x, dtype=dtype)
    if a.shape != shape:
        problems.append((None, name, f"shape {a.shape}, expected {shape}"))
    return a


def _labels(v, size: int, name: str, default, problems) -> np.ndarray:
    """String labels (object array) of ``size`` rows; ``default(i)`` where none are given."""
    if v is None:
        return np.array([default(i) for i in range(size)], dtype=object)
    return _arr(v, object, (size,), name, problems).astype(str).astype(object)


def _check_pairs(pairs, n: int, m: int, problems) -> pd.DataFrame:
    """The pair table with integer rows in range, unique and sorted by (cell, site)."""
    p = pd.DataFrame(pairs)
    missing = [c for c in ("cell", "site", "dist_m") if c not in p]
    if missing:
        problems.append((None, "pairs", f"missing column(s) {', '.join(missing)}"))
        return p
    p = pd.DataFrame({"cell": p["cell"].to_numpy(np.int64), "site": p["site"].to_numpy(np.int64),
                      "dist_m": p["dist_m"].to_numpy(float),
                      "cover": p["cover"].to_numpy(bool) if "cover" in p else np.ones(len(p), bool)})
    if len(p) and (p["cell"].min() < 0 or p["cell"].max() >= n or p["site"].min() < 0 or p["site"].max() >= m):
        problems.append((None, "pairs", "cell or site row out of range"))
    return p.drop_duplicates(["cell", "site"]).sort_values(["cell", "site"], kind="stable").reset_index(drop=True)


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
        Fibre backhaul cost per route km [CNY/km]: a new station's backhaul is ``km x`` this, unless
        ``backhaul_carrier`` prices it on the ring.
    backhaul_carrier
        The scenario's :class:`~rollout.scenario.PonSettings`: each site's backhaul is priced on the cheaper
        of PON and the SPN/IPRAN ring (:attr:`backhaul_cny`), as the plan prices it. None (the default):
        fibre at ``backhaul_cost_cny_per_km`` per route km.
    backhaul_spur
        (n_sites,) bool: the site is priced as a spur at ``backhaul_cost_cny_per_km`` (a spur-type position,
        :func:`with_spur_backhaul`), whatever the carrier.
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

    Every problem of the arrays is collected and raised once as a :class:`~gis.errors.ValidationError`.
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
    backhaul_carrier: object | None = None   # PonSettings: PON or the SPN/IPRAN ring, the cheaper (None: fibre)
    backhaul_spur: np.ndarray | None = None  # (n_sites,) bool: priced as a fibre spur
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
    cell_clutter: np.ndarray | None = None
    type_radius_m: dict = field(default_factory=dict)   # {type: {clutter: radius_m}}, for the diagnosis only
    forced_new: np.ndarray | None = None   # (n_sites, T) new stations fixed by the coverage layer (lower bound of x)
    site_capex_cny: np.ndarray | None = None   # (n_sites, T) equipment per new station where it differs by site (towers)
    filler_value: np.ndarray | None = None   # (n_sites, T) busy-hour traffic a filler station would serve [Mbit/s]

    def __post_init__(self):
        problems: list[tuple[None, str, str]] = []
        self._coerce_arrays(problems)
        self._coerce_labels(problems)
        self._check_rules(problems)
        self._check_values(problems)
        self.pairs = _check_pairs(self.pairs, self.n_cells, self.n_sites, problems)
        if problems:
            raise ValidationError(problems)

    def _coerce_arrays(self, problems) -> None:
        """Numbers as arrays of the documented shapes."""
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
        self.existing = (np.zeros((m, nt), np.int64) if self.existing is None
                         else _arr(self.existing, np.int64, (m, nt), "existing", problems))
        self.site_capex_cny = (np.tile(self.capex_cny, (m, 1)) if self.site_capex_cny is None
                               else _arr(self.site_capex_cny, float, (m, nt), "site_capex_cny", problems))
        self.forced_new = (np.zeros((m, nt), np.int64) if self.forced_new is None
                           else _arr(self.forced_new, np.int64, (m, nt), "forced_new", problems))
        self.backhaul_km = (np.zeros(m) if self.backhaul_km is None
                            else _arr(self.backhaul_km, float, (m,), "backhaul_km", problems))
        self.backhaul_spur = (np.zeros(m, bool) if self.backhaul_spur is None
                              else _arr(self.backhaul_spur, bool, (m,), "backhaul_spur", problems))
        for name, shape in (("cell_radius_m", (n,)), ("cell_xy", (n, 2)), ("site_xy", (m, 2)),
                            ("cell_lonlat", (n, 2)), ("site_lonlat", (m, 2))):
            v = getattr(self, name)
            if v is not None:
                setattr(self, name, _arr(v, float, shape, name, problems))
        self.target_stations = int(self.target_stations)

    def _coerce_labels(self, problems) -> None:
        """Ids, districts, clutter and backhaul offices as string arrays; district bounds as int dicts."""
        n, m = self.n_cells, self.n_sites
        self.site_district = _labels(self.site_district, m, "site_district", lambda i: "", problems)
        self.cell_district = _labels(self.cell_district, n, "cell_district", lambda i: "", problems)
        self.cell_ids = _labels(self.cell_ids, n, "cell_ids", lambda i: f"c{i}", problems)
        self.site_ids = _labels(self.site_ids, m, "site_ids", lambda i: f"s{i}", problems)
        self.site_clutter = _labels(self.site_clutter, m, "site_clutter", lambda i: "", problems)
        self.site_backhaul_to = _labels(self.site_backhaul_to, m, "site_backhaul_to", lambda i: "", problems)
        self.cell_clutter = _labels(self.cell_clutter, n, "cell_clutter", lambda i: "", problems)
        self.district_min = {str(k): int(v) for k, v in (self.district_min or {}).items()}
        self.district_max = {str(k): int(v) for k, v in (self.district_max or {}).items()}

    def _check_rules(self, problems) -> None:
        """The surplus rule, the headroom rule and its segments."""
        if self.surplus not in ("headroom", "none"):
            problems.append((None, "surplus", f"{self.surplus!r} is not one of headroom, none"))
        if self.headroom_rule not in ("fair", "uniform"):
            problems.append((None, "headroom_rule", f"{self.headroom_rule!r} is not one of fair, uniform"))
        steps = tuple((float(w), float(s)) for w, s in self.headroom_steps)
        if (not steps or any(w <= 0 or s <= 0 for w, s in steps)
                or any(b[1] > a[1] for a, b in itertools.pairwise(steps))):
            problems.append((None, "headroom_steps", "must be (width > 0, weight > 0) pairs with non-increasing "
                                                     "weights"))
        self.headroom_steps = steps

    def _check_values(self, problems) -> None:
        """Finite, nonnegative amounts and counts."""
        for name in ("traffic_mbps", "population", "capacity_mbps", "capex_cny", "backhaul_km"):
            a = getattr(self, name)
            if a.size and (not np.all(np.isfinite(a)) or a.min() < 0):
                problems.append((None, name, "must be finite and >= 0"))
        for name in ("k_coverage", "max_per_site", "existing"):
            a = getattr(self, name)
            if a.size and a.min() < 0:
                problems.append((None, name, "must be >= 0"))

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
    def backhaul_cny(self) -> np.ndarray:
        """(n_sites,) backhaul of one new station at each site [CNY] (``p_j`` of the module docstring): fibre
        km x rate, or with ``backhaul_carrier`` the cheaper of PON and the ring as the plan prices it; spur
        positions at the fibre rate."""
        fibre = self.backhaul_cost_cny_per_km * self.backhaul_km
        if self.backhaul_carrier is None:
            return fibre
        from rollout.model_odn import backhaul_carrier_cny

        carried = backhaul_carrier_cny(self.backhaul_km, self.backhaul_carrier, self.backhaul_cost_cny_per_km)[1]
        return np.where(self.backhaul_spur, fibre, carried)

    @property
    def station_cost_cny(self) -> np.ndarray:
        """(n_sites, T) cost of one new station: equipment + backhaul [CNY]."""
        return self.site_capex_cny + self.backhaul_cny[:, None]

    def usable_pairs(self) -> pd.DataFrame:
        """Pairs whose site can hold at least one station (existing or new)."""
        ok = self.slots.sum(axis=1) > 0
        return self.pairs[ok[self.pairs["site"].to_numpy()]].reset_index(drop=True)

    def cover_pairs(self) -> pd.DataFrame:
        """Usable pairs whose site covers the cell's planning point (``cover``); the rest only carry its traffic."""
        p = self.usable_pairs()
        return p[p["cover"].to_numpy(bool)].reset_index(drop=True)

    # ------------------------------------------------------------------ from layers
    @classmethod
    def from_layers(cls, layers, scenario, backhaul_km: np.ndarray | None = None,
                    carrier: bool = True) -> "Siting5GInput":
        """Build the input from a :class:`gis.layers.Layers` bundle and a scenario.

        Station types are every :class:`~rollout.scenario.StationType` field of
        ``scenario.radio`` (macro, small, ...); a type is allowed at a candidate
        whose clutter is in the type's ``clutters``. Existing counts come from
        the candidates' ``existing_<type>`` columns. ``backhaul_km`` defaults to
        the straight distance to the nearest office × ``scenario.pon.route_factor``. With ``carrier`` (the
        default) each site's backhaul is priced on the cheaper of PON and the SPN/IPRAN ring at that route, as
        the plan prices it; without, ``backhaul_km`` are fibre-equivalent km (the plan bound's cheapest prices,
        :func:`rollout.pipeline.cheapest_backhaul_equivalent_km`, which already took the cheaper carrier).
        """
        radio = scenario.radio
        types = station_types(radio)
        dem, cand = layers.demand, layers.candidates
        backhaul_to = np.full(len(cand), "", dtype=object)
        if backhaul_km is None:
            backhaul_km, backhaul_to = backhaul_to_nearest_office(layers, scenario.pon.route_factor)
        return cls(
            traffic_mbps=dem["traffic_mbps"].to_numpy(float),
            population=dem["population"].to_numpy(float),
            k_coverage=dem["k_coverage"].to_numpy(np.int64),
            pairs=layers.pairs[[c for c in ("cell", "site", "dist_m", "cover") if c in layers.pairs]],
            type_names=tuple(name for name, _ in types),
            capacity_mbps=np.array([t.capacity_mbps for _, t in types], float),
            capex_cny=np.array([t.capex_cny for _, t in types], float),
            site_capex_cny=site_equipment_cny(cand, types, radio),
            max_per_site=allowed_per_site(cand, types),
            existing=existing_per_site(cand, types),
            backhaul_km=np.asarray(backhaul_km, float),
            backhaul_cost_cny_per_km=float(radio.backhaul_cost_cny_per_km),
            backhaul_carrier=scenario.pon if carrier else None,
            target_stations=int(radio.target_stations),
            site_district=cand["district_id"].astype(str).to_numpy(),
            cell_district=dem["district_id"].astype(str).to_numpy(),
            district_min=dict(radio.district_min),
            district_max=dict(radio.district_max),
            surplus=radio.surplus,
            headroom_rule=radio.headroom_rule,
            site_clutter=cand["clutter"].astype(str).to_numpy(),
            cell_clutter=dem["clutter"].astype(str).to_numpy() if "clutter" in dem else None,
            type_radius_m=_type_radii(scenario),
            site_backhaul_to=backhaul_to,
            district_names=_district_names(layers.districts),
            **_labels_and_coordinates(dem, cand),
        )


def _type_radii(scenario) -> dict:
    """``{type: {clutter: radius_m}}`` of the scenario (link budgets), for naming what a cell lacks."""
    from rollout.radio_plan import type_radii_m

    return type_radii_m(scenario)


def site_equipment_cny(cand: pd.DataFrame, types, radio) -> np.ndarray:
    """(n_sites, T) equipment capex of one new station: the type's ``capex_cny``, but a macro on an existing tower
    (candidate ``source == 'tower'``, from ``data.towers``) at ``radio.tower_upgrade_capex_cny``."""
    price = np.tile(np.array([t.capex_cny for _, t in types], float), (len(cand), 1))
    names = [n for n, _ in types]
    if "macro" in names and "source" in cand:
        tower = cand["source"].astype(str).to_numpy() == "tower"
        price[tower, names.index("macro")] = float(radio.tower_upgrade_capex_cny)
    return price


def allowed_per_site(cand: pd.DataFrame, types) -> np.ndarray:
    """(sites, T) ``max_per_site`` of each type where the candidate's clutter allows it, else 0.

    With a ``type`` column (one unit type per position), a position holds only its own type.
    """
    clutter = cand["clutter"].astype(str).to_numpy()
    kind = cand["type"].astype(str).to_numpy() if "type" in cand else None
    cols = []
    for name, t in types:
        ok = np.isin(clutter, list(t.clutters))
        if kind is not None:
            ok &= kind == name
        cols.append(np.where(ok, int(t.max_per_site), 0))
    return np.column_stack(cols).astype(np.int64)


def existing_per_site(cand: pd.DataFrame, types) -> np.ndarray:
    """(sites, T) existing stations of each type (the candidates' ``existing_<type>`` columns; missing: 0)."""
    return np.column_stack([cand[f"existing_{name}"].fillna(0).to_numpy(np.int64) if f"existing_{name}" in cand
                            else np.zeros(len(cand), np.int64) for name, _ in types])


def _district_names(districts) -> dict:
    if "district_id" not in districts or "name_en" not in districts:
        return {}
    return dict(zip(districts["district_id"].astype(str), districts["name_en"].astype(str), strict=True))


def _labels_and_coordinates(dem: pd.DataFrame, cand: pd.DataFrame) -> dict:
    """Ids, radius and coordinates of cells and sites, where the layers have them."""
    def cols(df, names):
        return df[names].to_numpy(float) if set(names) <= set(df.columns) else None

    return dict(
        cell_ids=dem["cell_id"].astype(str).to_numpy() if "cell_id" in dem else None,
        site_ids=cand["site_id"].astype(str).to_numpy() if "site_id" in cand else None,
        cell_radius_m=dem["radius_m"].to_numpy(float) if "radius_m" in dem else None,
        cell_xy=cols(dem, ["x_m", "y_m"]), site_xy=cand[["x_m", "y_m"]].to_numpy(float),
        cell_lonlat=cols(dem, ["lon", "lat"]), site_lonlat=cols(cand, ["lon", "lat"]),
    )


# --------------------------------------------------------------------------- diagnosis

def _name_cells(inp: Siting5GInput, idx: np.ndarray, limit: int = 8) -> str:
    shown = [f"{inp.cell_ids[i]} (district {inp.cell_district[i] or '?'}{_clutter_note(inp, i)})" for i in idx[:limit]]
    more = len(idx) - limit
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _clutter_note(inp: Siting5GInput, i: int) -> str:
    """``, <clutter>: macro 265 m, small 71 m``: the cell's class and each type's radius there (when known)."""
    c = inp.cell_clutter[i]
    if not c:
        return ""
    radii = ", ".join(f"{t} {r[c]:,.0f} m" for t, r in inp.type_radius_m.items() if c in r)
    return f", {c}" + (f": {radii}" if radii else "")


def diagnose(inp: Siting5GInput, *, strict: bool = True) -> list[tuple[str, str, list[str]]]:
    """Cheap infeasibility checks (numpy only) before building anything.

    Returns every problem as ``(family, message, items)``; with ``strict`` (the default)
    raises them at once.

    Raises
    ------
    InfeasibleError
        listing every problem; ``family`` (one of target_total, district_min, district_max,
        coverage, capacity_assign) and ``items`` (cells or districts) of the first.
    """
    checks = (_diagnose_target, _diagnose_districts, _diagnose_coverage, _diagnose_capacity)
    return milp.check_all("5G", [partial(check, inp) for check in checks], strict=strict)


def _diagnose_target(inp: Siting5GInput, problems: Problems) -> None:
    total_slots = int(inp.slots.sum())
    N = inp.target_stations
    if N > total_slots:
        problems.add("target_total", f"the target of {N:,} stations exceeds the {total_slots:,} that all "
                     f"{inp.n_sites:,} candidates can hold (max_per_site over the types their clutter allows, "
                     f"existing included)")


def _diagnose_districts(inp: Siting5GInput, problems: Problems) -> None:
    lo_, hi_ = inp.district_min, inp.district_max
    dist_slots = pd.Series(inp.slots.sum(axis=1)).groupby(inp.site_district).sum()
    dist_exist = pd.Series(inp.existing.sum(axis=1)).groupby(inp.site_district).sum()
    slots = {d: int(dist_slots.get(d, 0)) for d in {*lo_, *hi_}}
    exist = {d: int(dist_exist.get(d, 0)) for d in hi_}
    bad = sorted(d for d, lo in lo_.items() if d in hi_ and lo > hi_[d])
    if bad:
        problems.add("district_min", "floor above ceiling in district(s) " + ", ".join(
            f"{d} (min {lo_[d]:,} > max {hi_[d]:,})" for d in bad), bad)
    bad = sorted(d for d, lo in lo_.items() if lo > slots[d])
    if bad:
        problems.add("district_min", "floor above what the district's candidates can hold in district(s) " + ", ".join(
            f"{d} (min {lo_[d]:,} > {slots[d]:,} slots)" for d in bad), bad)
    bad = sorted(d for d, hi in hi_.items() if exist[d] > hi)
    if bad:
        problems.add("district_max", "existing stations already exceed the ceiling in district(s) " + ", ".join(
            f"{d} ({exist[d]:,} existing > max {hi_[d]:,})" for d in bad), bad)
    if hi_:
        capped = sum(min(slots[d], max(hi, exist[d])) for d, hi in hi_.items())
        free = int(dist_slots[[d not in hi_ for d in dist_slots.index]].sum())
        if inp.target_stations > capped + free:
            ds = sorted(hi_)
            problems.add("district_max", f"the target of {inp.target_stations:,} stations exceeds the "
                         f"{capped + free:,} that district ceilings ({', '.join(ds)}) and candidate slots allow", ds)


def _reach(inp: Siting5GInput, per_site: np.ndarray, *, cover: bool = False) -> np.ndarray:
    """(n_cells,) sum of ``per_site`` over the usable sites within each cell's reach (``cover``: its radius)."""
    pairs = inp.cover_pairs() if cover else inp.usable_pairs()
    return np.bincount(pairs["cell"].to_numpy(), weights=per_site[pairs["site"].to_numpy()], minlength=inp.n_cells)


def _diagnose_coverage(inp: Siting5GInput, problems: Problems) -> None:
    reach_slots = _reach(inp, inp.slots.sum(axis=1), cover=True)
    need = (inp.population > 0) & (inp.k_coverage > 0)
    bad = np.flatnonzero(need & (reach_slots < inp.k_coverage))
    if not len(bad):
        return
    none = bad[reach_slots[bad] == 0]
    few = bad[reach_slots[bad] > 0]
    parts = []
    if len(none):
        parts.append(f"{len(none)} populated cell(s) have no candidate site within their radius: {_name_cells(inp, none)}")
    if len(few):
        parts.append(f"{len(few)} cell(s) have fewer station slots within radius than their k: {_name_cells(inp, few)}")
    problems.add("coverage", "; ".join(parts), inp.cell_ids[bad])


def _diagnose_capacity(inp: Siting5GInput, problems: Problems) -> None:
    reach_cap = _reach(inp, inp.slots @ inp.capacity_mbps)
    t = inp.traffic_mbps
    bad = np.flatnonzero(t > reach_cap * (1 + 1e-9) + 1e-9)
    if not len(bad):
        return
    worst = bad[np.argsort(-(t[bad] - reach_cap[bad]), kind="stable")]
    detail = ", ".join(f"{inp.cell_ids[i]} (district {inp.cell_district[i] or '?'}: {t[i]:,.0f} Mbit/s "
                       f"> {reach_cap[i]:,.0f} reachable)" for i in worst[:8])
    problems.add("capacity_assign", f"{len(bad)} cell(s) carry more busy-hour traffic than all stations within "
                 f"their radius could: {detail}" + (f" and {len(bad) - 8} more" if len(bad) > 8 else ""),
                 inp.cell_ids[worst])


# --------------------------------------------------------------------------- model

@dataclass(kw_only=True)
class Model5G(Milp):
    """A built 5G model: the PuLP problem and the index arrays that map its variables back to the data."""

    inp: Siting5GInput | None = None                # the data the family builders read
    stage: str = "cost"                             # "cost" | "headroom"
    cover_cuts: bool = True                         # add the capacity_cover valid inequalities
    x: list = field(default_factory=list)           # new-station variables
    x_site: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    x_type: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    x_cost: np.ndarray = field(default_factory=lambda: np.zeros(0))   # CNY per new station
    a: list = field(default_factory=list)           # flow variables, one per flow pair
    flow_pairs: pd.DataFrame | None = None          # cell, site, dist_m of each flow variable
    g: list = field(default_factory=list)           # headroom segment variables (fair)
    g_cell: np.ndarray | None = None
    g_step: np.ndarray | None = None
    h: object = None                                # uniform headroom variable
    headroom_expr: object = None                    # Hw (fair) or h (uniform) as an LpAffineExpression


def define_variables(m: Model5G, inp: Siting5GInput, *, flows: bool) -> None:
    """x (new stations per site × type), a (flows on the pair table) and, in the headroom stage, g or h."""
    ub = inp.new_max
    site, typ = np.nonzero(ub)                     # row-major: sorted by site, then type
    cat = pulp.LpContinuous if m.relax else pulp.LpInteger
    lo = np.minimum(inp.forced_new[site, typ], ub[site, typ])    # the coverage layer's sites are built
    m.x = m.variables([f"x_{j}_{t}" for j, t in zip(site.tolist(), typ.tolist(), strict=True)], lo, ub[site, typ], cat)
    m.x_site, m.x_type = site, typ
    m.x_cost = inp.station_cost_cny[site, typ]
    if flows:
        pairs = inp.usable_pairs()
        pairs = pairs[inp.traffic_mbps[pairs["cell"].to_numpy()] > 0].reset_index(drop=True)
    else:
        pairs = inp.pairs.iloc[:0]
    h_cap = 1.0 + sum(w for w, _ in inp.headroom_steps) if m.stage == "headroom" else 1.0
    m.a = m.variables([f"a_{p}" for p in range(len(pairs))], 0, inp.traffic_mbps[pairs["cell"].to_numpy()] * h_cap)
    m.flow_pairs = pairs
    if m.stage == "headroom" and flows:
        _define_headroom(m, inp, np.unique(pairs["cell"].to_numpy()), h_cap)


def _define_headroom(m: Model5G, inp: Siting5GInput, cells: np.ndarray, h_cap: float) -> None:
    """g_is ∈ [0, Δ_s] per cell with flows and segment (fair), or one h ∈ [1, h_max] (uniform)."""
    if inp.headroom_rule == "fair":
        steps = inp.headroom_steps
        m.g_cell = np.repeat(cells, len(steps))
        m.g_step = np.tile(np.arange(len(steps)), len(cells))
        widths = np.array([w for w, _ in steps])[m.g_step]
        m.g = m.variables([f"g_{i}_{s}" for i, s in zip(m.g_cell.tolist(), m.g_step.tolist(), strict=True)], 0, widths)
        weights = np.array([w for _, w in steps])[m.g_step] * inp.traffic_mbps[m.g_cell]
        m.headroom_expr = pulp.LpAffineExpression(zip(m.g, weights.tolist(), strict=True))
    else:
        m.h = m.problem.add_variable("h", 1.0, h_cap)
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


def add_coverage(m: Model5G) -> int:
    """coverage: Σ_{j∈P(i), cover} Σ_τ x_jτ ≥ k_i − (existing within radius), for populated cells."""
    inp = m.inp
    pairs = inp.cover_pairs()
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
    return m.add_rows("coverage", row_of_term, [m.x[k] for k in xi.tolist()], np.ones(len(xi)),
                      pulp.LpConstraintGE, rhs[rows])


def _merged(row_a: np.ndarray, var_a: list, coef_a, row_b: np.ndarray, var_b: list, coef_b):
    """Two term lists merged by row (stable: a row's ``a`` terms first), for :meth:`Milp.add_rows`."""
    row = np.concatenate([row_a, row_b])
    var = var_a + var_b
    coef = np.concatenate([coef_a, coef_b])
    order = np.argsort(row, kind="stable")
    return row[order], [var[k] for k in order.tolist()], coef[order]


def add_capacity_assign(m: Model5G) -> int:
    """capacity_assign: Σ_{j∈P(i)} a_ij = h_i t_i for every cell with traffic."""
    inp = m.inp
    c = m.flow_pairs["cell"].to_numpy()
    rows = np.unique(c)
    t = inp.traffic_mbps
    ones = np.ones(len(c))
    if m.stage == "headroom" and m.g:
        # Σ a − t_i Σ_s g_is = t_i ; the g terms of each row after its a terms
        terms = _merged(c, m.a, ones, m.g_cell, m.g, -t[m.g_cell])
        return m.add_rows("capacity_assign", *terms, pulp.LpConstraintEQ, t[rows])
    if m.stage == "headroom" and m.h is not None:
        terms = _merged(c, m.a, ones, rows, [m.h] * len(rows), -t[rows])
        return m.add_rows("capacity_assign", *terms, pulp.LpConstraintEQ, np.zeros(len(rows)))
    return m.add_rows("capacity_assign", c, m.a, ones, pulp.LpConstraintEQ, t[rows])


def add_station_capacity(m: Model5G) -> int:
    """station_capacity: Σ_{i∈P(j)} a_ij − Σ_τ C_τ x_jτ ≤ Σ_τ C_τ E_jτ for every site with flows."""
    inp = m.inp
    s_of_a = m.flow_pairs["site"].to_numpy()
    rows = np.unique(s_of_a)
    has_x = np.isin(m.x_site, rows)
    terms = _merged(s_of_a, m.a, np.ones(len(s_of_a)), m.x_site[has_x],
                    [v for v, k in zip(m.x, has_x.tolist(), strict=True) if k], -inp.capacity_mbps[m.x_type[has_x]])
    return m.add_rows("station_capacity", *terms, pulp.LpConstraintLE, (inp.existing @ inp.capacity_mbps)[rows])


def add_capacity_cover(m: Model5G) -> int:
    """capacity_cover (valid inequalities, implied by the two capacity families and integrality).

    For cell i and each unit u in the set of type capacities: with
    ``Y_τ = Σ_{j∈P(i)} y_jτ`` (integer), ``Σ_τ C_τ Y_τ ≥ t_i`` implies
    ``Σ_τ min(C_τ, t_i) Y_τ ≥ t_i`` (one station at least t_i big suffices alone)
    and, rounding up after dividing by u (Chvátal-Gomory),

        Σ_{j∈P(i)} Σ_τ ⌈min(C_τ, t_i)/u⌉ x_jτ ≥ ⌈t_i/u⌉ − Σ_{j∈P(i)} Σ_τ ⌈min(C_τ, t_i)/u⌉ E_jτ.

    These rows cut off the LP's fractional macros (a 600 Mbit/s cell: 2·macro +
    small ≥ 2 with u = 300) and raise the root bound a lot; they remove no
    integer plan. Rows already implied by ``coverage`` are omitted. Built only with
    ``cover_cuts`` and both capacity families; one row family ``capacity_cover<u>`` per unit.
    """
    inp = m.inp
    if not (m.cover_cuts and {"capacity_assign", "station_capacity"} <= set(m.families)):
        return 0
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
        n += m.add_rows(f"capacity_cover{int(u)}", r_terms, [m.x[q] for q in xi[k].tolist()],
                        coef_t[r_terms, m.x_type[xi[k]]], pulp.LpConstraintGE, rhs[np.unique(r_terms)])
    return n


def add_target_total(m: Model5G) -> int:
    """target_total (cost stage): Σ x ≥ N − Σ E (omitted when the brownfield already meets the target)."""
    inp = m.inp
    rhs = inp.target_stations - int(inp.existing.sum())
    if m.stage != "cost" or rhs <= 0:
        return 0
    return m.add_row("target_total", m.x, np.ones(len(m.x)), pulp.LpConstraintGE, rhs, label=0)


def add_target_cap(m: Model5G) -> int:
    """target_cap (headroom stage only): Σ x ≤ N − Σ E; the target is the station budget."""
    inp = m.inp
    if m.stage != "headroom":
        return 0
    rhs = max(inp.target_stations - int(inp.existing.sum()), 0)
    return m.add_row("target_cap", m.x, np.ones(len(m.x)), pulp.LpConstraintLE, rhs, label=0)


def _district_rows(m: Model5G, bounds: dict, family: str, sense: int) -> int:
    """Σ_{j∈d} Σ_τ x_jτ (sense) bound_d − E_d, one row per bounded district (named by its rank in sorted ids)."""
    if not bounds:
        return 0
    inp = m.inp
    ds = sorted(bounds)
    code = {d: r for r, d in enumerate(ds)}
    x_d = np.array([code.get(d, -1) for d in inp.site_district[m.x_site]], dtype=np.int64)
    exist_d = pd.Series(inp.existing.sum(axis=1)).groupby(inp.site_district).sum()
    keep = np.flatnonzero(x_d >= 0)
    order = keep[np.argsort(x_d[keep], kind="stable")]
    rows = np.unique(x_d[order])
    rhs = np.array([bounds[ds[r]] - int(exist_d.get(ds[r], 0)) for r in rows], dtype=float)
    # a district with a floor but no new slot: diagnose() already checked it
    return m.add_rows(family, x_d[order], [m.x[k] for k in order.tolist()], np.ones(len(order)), sense, rhs)


def add_district_min(m: Model5G) -> int:
    """district_min: Σ_{j∈d} Σ_τ x_jτ ≥ L_d − E_d (row name ``district_min_<r>``, r = rank of d in sorted ids)."""
    inp = m.inp
    return _district_rows(m, inp.district_min, "district_min", pulp.LpConstraintGE)


def add_district_max(m: Model5G) -> int:
    """district_max: Σ_{j∈d} Σ_τ x_jτ ≤ H_d − E_d."""
    inp = m.inp
    return _district_rows(m, inp.district_max, "district_max", pulp.LpConstraintLE)


#: every constraint family, in build order (see the module docstring); ``rank``: place in the infeasibility
#: explanation (0 names the conflict first: unserved traffic, then missing coverage, ...)
FAMILIES = (
    Family("target_total", add_target_total, rank=5, blames="target", unit="stations short"),
    Family("district_max", add_district_max, rank=3, blames="districts", unit="stations over the ceiling"),
    Family("district_min", add_district_min, rank=2, blames="districts", unit="stations short"),
    Family("coverage", add_coverage, rank=1, blames="cells", unit="station(s) missing"),
    Family("station_capacity", add_station_capacity, rank=4, blames="sites", unit="Mbit/s over"),
    Family("capacity_assign", add_capacity_assign, rank=0, blames="cells", unit="Mbit/s unserved"),
    Family("capacity_cover", add_capacity_cover),    # valid inequalities: not part of the explanation
    Family("target_cap", add_target_cap),            # the headroom stage's station budget
)


def build_model(inp: Siting5GInput, *, objective: str = "capex", families: tuple | None = None,
                relax: bool = False, cover_cuts: bool = True, elastic: str | None = None,
                name: str = "siting_5g") -> Model5G:
    """Build one stage of the 5G model.

    Parameters
    ----------
    objective
        ``"capex"`` (min Σ cost·x; stage "cost") or ``"headroom"`` (max Hw, or h; stage "headroom",
        with ``target_cap`` instead of ``target_total``).
    families
        Names of the constraint families to include (default: all of :data:`FAMILIES`).
    relax
        Continuous x (LP relaxation), used by the infeasibility explanation.
    cover_cuts
        Add the ``capacity_cover`` valid inequalities (when both capacity families are present).
    elastic
        A family whose rows get a nonnegative slack (the infeasibility explanation).
    """
    t0 = time.perf_counter()
    stage = "headroom" if objective == "headroom" else "cost"
    sense = pulp.LpMaximize if objective == "headroom" else pulp.LpMinimize
    m = Model5G(problem=pulp.LpProblem(name, sense), inp=inp, stage=stage, relax=relax, cover_cuts=cover_cuts,
                families=milp.names(FAMILIES) if families is None else tuple(families), elastic=elastic,
                flow_pairs=inp.pairs.iloc[:0])
    define_variables(m, inp, flows="capacity_assign" in m.families or "station_capacity" in m.families)
    m.build(FAMILIES)
    if objective == "headroom":
        m.problem.setObjective(m.headroom_expr if m.headroom_expr is not None else pulp.LpAffineExpression())
    else:
        m.problem.setObjective(pulp.LpAffineExpression(zip(m.x, m.x_cost.tolist(), strict=True)))
    m.build_seconds = time.perf_counter() - t0
    nvar = len(m.x) + len(m.a) + len(m.g) + (m.h is not None)
    log.info("5G %s model built in %.2f s: %d variables (%d integer), %d constraints (%s), %d nonzeros",
             "least-cost" if objective == "capex" else "most-headroom", m.build_seconds, nvar,
             0 if relax else len(m.x), sum(m.rows.values()), m.rows_text(), m.nonzeros)
    return m



# --------------------------------------------------------------------------- infeasibility

def _item_of(inp: Siting5GInput, family: Family, row) -> tuple[str, str]:
    """The cell, site or district a row of ``family`` stands for (``""`` for the target row)."""
    if family.blames == "cells":
        return str(inp.cell_ids[row]), f"district {inp.cell_district[row] or '?'}"
    if family.blames == "sites":
        return str(inp.site_ids[row]), ""
    if family.blames == "districts":
        return sorted(getattr(inp, family.name))[row], ""
    return "", ""


def explain_infeasible(inp: Siting5GInput, *, part: str = "5g", solver: str = "cbc", time_limit_s: float = 60.0,
                       threads: int = 1, seed: int = 0) -> InfeasibleError:
    """The error to raise after an infeasible solve: the families at fault, and the rows that cannot hold.

    The shared explanation of :func:`rollout.milp.explain_infeasible` over :data:`FAMILIES` (without the
    ``capacity_cover`` cuts): unserved Mbit/s or missing stations name cells, district rows name districts,
    station capacity rows name sites.
    """
    def build(fams, relax, elastic):
        return build_model(inp, families=fams, relax=relax, cover_cuts=False, elastic=elastic, name="siting_5g_iis")

    return milp.explain_infeasible(FAMILIES, build, model="5G", part=part, item_of=partial(_item_of, inp),
                                   solver=solver, time_limit_s=time_limit_s, threads=threads, seed=seed)


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
        The assignment: cell, site, dist_m, flow_mbps (dimensioned), carried_mbps (busy hour, = flow / h_i).
        The solved a_ij are one feasible split among many, so the reported flows re-split each cell's
        solved total among the stations reaching it by capacity, within every site's capacity
        (:func:`shared_flows`); cell totals, capacity and headroom are the program's.
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
    solves
        SolveStats of every stage, in order (parts ``5g_headroom``, ``5g``;
        only ``5g`` when the target does not bind or ``surplus = 'none'``).
    status
        Status of the final ``5g`` solve (optimal | feasible).
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
    surplus: str
    headroom_rule: str
    solves: list
    status: str
    surplus_applied: bool = False
    headroom_floor: np.ndarray | None = None   # h*_i kept by the cost stage (reusable when only prices change)
    coverage_layer: dict | None = None          # the coverage layer's summary (rollout.coverage_layer)
    coverage_problem: object | None = None      # its covering rows and last cover (reused when prices change)
    filler_stations: int = 0                    # stations placed by the filler rule, outside the solve
    pending_layer: object | None = None         # a coverage layer whose bound is still computed (plan_5g(wait=False))

    def finish(self) -> "Result5G":
        """Wait for the coverage layer's bound (``plan_5g(..., wait=False)``) and put its part first in ``solves``;
        a no-op otherwise. Call it from one thread."""
        layer, self.pending_layer = self.pending_layer, None
        if layer is not None:
            layer.finish()
            self.solves.insert(0, layer.stats)
            self.coverage_layer = layer.summary()
        return self

    def summary(self) -> dict:
        by_type = (self.stations.groupby(["type", "new"])["count"].sum().rename("count").reset_index()
                   if len(self.stations) else pd.DataFrame(columns=["type", "new", "count"]))
        return {
            "total_stations": self.total_stations, "new_stations": self.new_stations,
            "existing_stations": self.existing_stations, "target_stations": self.target_stations,
            "capex_cny": self.capex_cny,
            "equipment_cny": self.equipment_cny, "backhaul_cny": self.backhaul_cny,
            "headroom_min": self.headroom_min, "headroom_mean": self.headroom_mean,
            "headroom_weighted_mbps": self.headroom_weighted, "surplus": self.surplus,
            "headroom_rule": self.headroom_rule, "surplus_applied": self.surplus_applied, "status": self.status,
            "filler_stations": self.filler_stations,
            "by_type": by_type.to_dict("records"),
        }


def _values(variables: list) -> np.ndarray:
    """Solution values (0 where the solver left none)."""
    return np.array([v.varValue or 0.0 for v in variables]) if variables else np.zeros(0)


def _flows_and_headroom(inp: Siting5GInput, m: Model5G, headroom: bool):
    """(flow per flow pair, dimensioned traffic per cell, h_i) of a solved model.

    With ``headroom`` the flows carry ``h_i × t_i``; otherwise they carry ``t_i`` and h_i = 1 exactly.
    """
    flow = np.maximum(_values(m.a), 0.0)
    dim = np.bincount(m.flow_pairs["cell"].to_numpy(), weights=flow, minlength=inp.n_cells)
    t = inp.traffic_mbps
    h = np.ones(inp.n_cells)
    has_t = t > 0
    h[has_t] = np.where(dim[has_t] > 0, dim[has_t] / t[has_t], 1.0)
    h = np.maximum(h, 1.0)
    if not headroom:
        h[:] = 1.0          # flows equal traffic up to solver tolerance
    return flow, dim, h


def _cells_table(inp: Siting5GInput, total: np.ndarray, dim: np.ndarray, h: np.ndarray, carried_cell) -> pd.DataFrame:
    """One row per demand cell, with the stations within radius counted on the pair table."""
    up = inp.cover_pairs()
    within = np.bincount(up["cell"].to_numpy(), weights=total.sum(axis=1)[up["site"].to_numpy()],
                         minlength=inp.n_cells)
    within = np.rint(within).astype(np.int64)
    return pd.DataFrame({
        "cell": np.arange(inp.n_cells), "cell_id": inp.cell_ids, "district_id": inp.cell_district,
        "population": inp.population, "traffic_mbps": inp.traffic_mbps, "k_required": inp.k_coverage,
        "stations_within": within, "covered": within >= 1, "k_met": within >= inp.k_coverage,
        "headroom": h, "dimensioned_mbps": dim, "carried_mbps": carried_cell,
    })


def _station_rows(inp: Siting5GInput, new: np.ndarray) -> pd.DataFrame:
    """site, type_idx, count, new: one row per site × type × (existing, new) with count > 0."""
    rows = []
    for is_new, counts in ((False, inp.existing), (True, new)):
        j, ty = np.nonzero(counts)
        if len(j):
            rows.append(pd.DataFrame({"site": j, "type_idx": ty, "count": counts[j, ty], "new": is_new}))
    st = (pd.concat(rows, ignore_index=True) if rows
          else pd.DataFrame({"site": [], "type_idx": [], "count": [], "new": []}))
    return st.astype({"site": np.int64, "type_idx": np.int64, "count": np.int64, "new": bool})


def _stations_layer(inp: Siting5GInput, new: np.ndarray, site_cap: np.ndarray, site_carried: np.ndarray):
    """The ``stations`` layer (WGS-84 points): equipment and backhaul capex, carried traffic by capacity share."""
    import geopandas as gpd

    st = _station_rows(inp, new)
    j, ty, cnt = st["site"].to_numpy(), st["type_idx"].to_numpy(), st["count"].to_numpy()
    cap_row = cnt * inp.capacity_mbps[ty]
    share = np.divide(cap_row, site_cap[j], out=np.zeros(len(j)), where=site_cap[j] > 0)
    equip = np.where(st["new"], cnt * inp.site_capex_cny[j, ty], 0.0)
    bh_cny = np.where(st["new"], cnt * inp.backhaul_cny[j], 0.0)
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
    return gpd.GeoDataFrame(df.drop(columns="site"), geometry=geom, crs=4326)


def shared_flows(cell: np.ndarray, site: np.ndarray, flow: np.ndarray, site_capacity_mbps: np.ndarray) -> np.ndarray:
    """The solved flows re-split as a planner reads loads: each cell's traffic shared by the stations that
    reach it in proportion to their capacity, within every site's capacity.

    The program's flows ``a_ij`` are one feasible split among many (any split within capacity carries the
    traffic at the same cost), so a macro may show 0 Mbit/s beside small cells that carry its area. Traffic
    is spread over a cell's area, so the stations reaching it share it: ``â_ij = A_i C_j / Σ_{j' ∈ P(i)} C_j'``
    (``A_i`` the cell's solved total, ``C_j`` site j's capacity). Where that overloads a site, the split
    closest to it within capacity is the LP

        min Σ_p s_p   s.t.  s_p ≥ ±(f_p − â_p),  Σ_{p ∈ cell i} f_p = A_i,  Σ_{p at site j} f_p ≤ C_j,  f ≥ 0

    which the solved flows make feasible (if HiGHS fails anyway, they are kept). Cell totals, and so
    capacity and headroom, are unchanged.
    """
    flow = np.asarray(flow, float)
    if len(flow) == 0 or flow.sum() <= 0:
        return flow
    cells, ci = np.unique(cell, return_inverse=True)
    sites, si = np.unique(site, return_inverse=True)
    total = np.bincount(ci, weights=flow, minlength=len(cells))
    now = np.bincount(si, weights=flow, minlength=len(sites))
    cap = np.maximum(np.asarray(site_capacity_mbps, float)[sites], now)     # the solved flows always fit
    reach = np.bincount(ci, weights=cap[si], minlength=len(cells))
    share = np.divide(total[ci] * cap[si], reach[ci], out=np.zeros(len(flow)), where=reach[ci] > 0)
    over = np.bincount(si, weights=share, minlength=len(sites)) > cap * (1 + 1e-9)
    if not over.any():
        return share
    # re-split only the cells with a pair at an overloaded site (the others keep their shares), then, if
    # the rest of their sites' capacity cannot hold them, every cell
    local = np.isin(ci, np.unique(ci[over[si]]))
    out = share.copy()
    fixed = np.bincount(si[~local], weights=share[~local], minlength=len(sites))
    got = _closest_split(ci[local], si[local], share[local], total, cap - fixed)
    if got is None:
        got, local = _closest_split(ci, si, share, total, cap), np.ones(len(flow), bool)
    if got is None:
        log.warning("shared flows: HiGHS found no split; the solver's flows are reported")
        return flow
    out[local] = got
    return out


def _closest_split(ci: np.ndarray, si: np.ndarray, target: np.ndarray, cell_total: np.ndarray,
                   site_cap: np.ndarray) -> np.ndarray | None:
    """The flows closest to ``target`` (L1) with each cell's total and within site capacity (None: infeasible)."""
    cells, ci = np.unique(ci, return_inverse=True)
    sites, si = np.unique(si, return_inverse=True)
    n, cols = len(target), np.arange(len(target))
    eye = sp.identity(n, format="csr")
    a_eq = sp.hstack([sp.csr_matrix((np.ones(n), (ci, cols)), shape=(len(cells), n)), sp.csr_matrix((len(cells), n))])
    a_ub = sp.vstack([sp.hstack([sp.csr_matrix((np.ones(n), (si, cols)), shape=(len(sites), n)),
                                 sp.csr_matrix((len(sites), n))]),
                      sp.hstack([eye, -eye]), sp.hstack([-eye, -eye])]).tocsr()
    res = linprog(np.r_[np.zeros(n), np.ones(n)], A_ub=a_ub, b_ub=np.r_[np.maximum(site_cap[sites], 0.0), target, -target],
                  A_eq=a_eq, b_eq=cell_total[cells], bounds=(0, None), method="highs-ds")
    return np.maximum(res.x[:n], 0.0) if res.status == 0 else None


def _weighted_headroom(inp: Siting5GInput, h: np.ndarray, with_t: np.ndarray) -> float:
    """Hw recomputed from the h_i of the assignment, segment by segment [Mbit/s]."""
    t = inp.traffic_mbps[with_t]
    excess = h[with_t] - 1.0
    hw = 0.0
    for width, weight in inp.headroom_steps:
        take = np.clip(excess, 0.0, width)
        hw += float((t * weight * take).sum())
        excess = excess - take
    return hw


def _extract(inp: Siting5GInput, m: Model5G, solves: list, *, headroom: bool = False,
             extra_new: np.ndarray | None = None) -> Result5G:
    """Result tables from a solved model; ``inp`` carries the real busy-hour traffic. ``extra_new``: stations
    placed outside the solve (filler), added to the model's; the loads are shared over all of them."""
    new = _new_counts(inp, m) + (extra_new if extra_new is not None else 0)
    total = inp.existing + new
    fc, fs = m.flow_pairs["cell"].to_numpy(), m.flow_pairs["site"].to_numpy()
    flow, dim, h = _flows_and_headroom(inp, m, headroom)
    site_cap = total @ inp.capacity_mbps
    flow = shared_flows(fc, fs, flow, site_cap)
    carried = flow / h[fc] if len(flow) else flow
    cells = _cells_table(inp, total, dim, h, np.bincount(fc, weights=carried, minlength=inp.n_cells))
    flows = pd.DataFrame({"cell": fc, "site": fs, "dist_m": m.flow_pairs["dist_m"].to_numpy(),
                          "flow_mbps": flow, "carried_mbps": carried})
    flows = flows[flows["flow_mbps"] > 1e-9].reset_index(drop=True)
    site_tot = total.sum(axis=1)
    site_flow = np.bincount(fs, weights=flow, minlength=inp.n_sites)
    site_carried = np.bincount(fs, weights=carried, minlength=inp.n_sites)
    any_st = np.flatnonzero(site_tot > 0)
    sites = pd.DataFrame({"site": any_st, "site_id": inp.site_ids[any_st], "stations": site_tot[any_st],
                          "new_stations": new.sum(axis=1)[any_st], "capacity_mbps": site_cap[any_st],
                          "flow_mbps": site_flow[any_st], "carried_mbps": site_carried[any_st]})
    stations = _stations_layer(inp, new, site_cap, site_carried)
    t = inp.traffic_mbps
    with_t = (t > 0) & (dim > 0)
    return Result5G(
        stations=stations, cells=cells, flows=flows, sites=sites,
        total_stations=int(total.sum()), new_stations=int(new.sum()), existing_stations=int(inp.existing.sum()),
        target_stations=inp.target_stations,
        capex_cny=float(stations["capex_cny"].sum()), equipment_cny=float(stations["equipment_cny"].sum()),
        backhaul_cny=float(stations["backhaul_cny"].sum()),
        headroom_min=float(h[with_t].min()) if with_t.any() else 1.0,
        headroom_weighted=_weighted_headroom(inp, h, with_t) if headroom and with_t.any() else 0.0,
        headroom_mean=float((h[with_t] * t[with_t]).sum() / t[with_t].sum()) if with_t.any() else 1.0,
        surplus=inp.surplus, headroom_rule=inp.headroom_rule,
        solves=list(solves), status=solves[-1].status, surplus_applied=headroom,
    )


# --------------------------------------------------------------------------- solve

def _solve_stage(inp: Siting5GInput, part: str, kw: dict, *, objective: str = "capex",
                 gap_abs: float = 0.0) -> tuple[Model5G, SolveStats]:
    m = build_model(inp, objective=objective)
    kw = dict(kw)
    round_up = kw.pop("lp_rounding", True) and objective == "capex"
    return m, solve(m.problem, part=part, build_seconds=m.build_seconds, gap_abs=gap_abs, round_up=round_up, **kw)


def solve_5g(inp: Siting5GInput, *, solver: str = "cbc", time_limit_s: float = 120.0, gap_rel: float = 0.005,
             threads: int = 1, msg: bool = False, seed: int = 0, headroom_floor: np.ndarray | None = None,
             lp_rounding: bool = True) -> Result5G:
    """Diagnose, build, solve (one or two stages) and return the plan.

    Each stage gets ``time_limit_s``. ``headroom_floor`` (a previous result's ``headroom_floor``) skips the
    headroom stage: it does not depend on costs, so a re-solve with new backhaul prices keeps the same
    per-cell headroom.

    Raises
    ------
    InfeasibleError
        (exit 3) from the diagnosis or, after an infeasible solve, naming the families at fault.
    SolverLimitError
        when the final stage stops before it finds any plan.
    """
    diagnose(inp)
    kw = dict(solver=solver, time_limit_s=time_limit_s, gap_rel=gap_rel, threads=threads, msg=msg, seed=seed,
              lp_rounding=lp_rounding)
    has_traffic = bool((inp.traffic_mbps > 0).any())
    if inp.surplus == "none" or not has_traffic:
        m, st = _solve_stage(inp, "5g", kw)
        return _finish(inp, m, [st], kw)
    if headroom_floor is not None:
        return _cost_stage(inp, np.asarray(headroom_floor, float), [], kw, applied=True)
    forced = int(np.minimum(inp.forced_new, inp.new_max).sum()) if inp.forced_new is not None else 0
    fixed = int(inp.existing.sum()) + forced
    if forced > max(inp.target_stations - int(inp.existing.sum()), 0):   # stage 1 (Σ x ≤ N − ΣE, x ≥ F): no solution
        st1 = SolveStats(part="5g_headroom", name="closed form", status="infeasible", gap_rel_requested=kw["gap_rel"],
                         notes=f"target not binding: the coverage layer and existing stations alone hold {fixed:,} "
                               f"stations, more than the target {inp.target_stations:,}; not solved")
        m, st = _solve_stage(inp, "5g", kw)
        return _finish(inp, m, [st1, st], kw)
    capped = _at_the_cap(inp, kw)
    if capped is not None:
        return capped
    # stage 1: the most headroom with at most N stations (no cost). If even h = 1 cannot be carried
    # by N stations, the target does not bind: the least-cost plan already needs more.
    m1, st1 = _solve_stage(inp, "5g_headroom", kw, objective="headroom")
    what = "weighted headroom Hw [Mbit/s]" if inp.headroom_rule == "fair" else "uniform headroom h [-]"
    st1.notes = (st1.notes + "; " if st1.notes else "") + f"objective = {what}, maximised"
    if st1.status == "infeasible":
        st1.notes += "; target not binding: coverage and capacity need more than the target"
        m, st = _solve_stage(inp, "5g", kw)
        return _finish(inp, m, [st1, st], kw)
    applied = st1.status in ("optimal", "feasible")
    h_star = _cell_headroom(inp, m1) if applied else np.ones(inp.n_cells)
    return _cost_stage(inp, h_star, [st1], kw, applied=applied)


def _at_the_cap(inp: Siting5GInput, kw: dict) -> Result5G | None:
    """The headroom stage in closed form when every cell can sit at the cap: the cost stage with h_i = h_max.

    Stage 1's objective is at most its value with every cell at the cap (Hw_max, or h_max for the uniform rule).
    If the least-cost plan carrying ``h_max t_i`` in every cell holds no more than N stations, it is a stage-1
    plan reaching that maximum, so h* = h_max is stage 1's optimum, proven, and this plan is exactly stage 2's
    (same model, same floors). Tried only where every cell's reach can carry ``h_max t_i`` (numpy); when the
    plan needs more than N stations the result is dropped and both stages are solved as usual.
    """
    h_max = 1.0 + sum(width for width, _ in inp.headroom_steps)
    t = inp.traffic_mbps
    if (t * h_max > _reach(inp, inp.slots @ inp.capacity_mbps) * (1 + 1e-9) + 1e-9).any():
        return None
    res = _cost_stage(inp, np.where(t > 0, h_max, 1.0), [], kw, applied=True, tentative=True)
    if res is None:   # the cells cannot all sit at the cap together (shared sites, district ceilings)
        log.info("headroom at the cap h = %g has no plan: both stages solved", h_max)
        return None
    total = (int(res.stations["count"].sum()) if len(res.stations) else 0) - res.filler_stations
    if total > inp.target_stations:
        log.info("headroom at the cap h = %g needs %d stations, more than the target %d: both stages solved",
                 h_max, total, inp.target_stations)
        return None
    best = (float(np.sum(t * sum(width * weight for width, weight in inp.headroom_steps)))
            if inp.headroom_rule == "fair" else h_max)
    st1 = SolveStats(part="5g_headroom", name="closed form", status="optimal", objective=best, bound=best, gap=0.0,
                     gap_rel_requested=kw["gap_rel"],
                     notes=f"every cell at the cap h = {h_max:g} fits within the target ({total:,} stations): "
                           f"that is the stage's maximum, so it was not solved; the cost stage (part 5g) is the plan "
                           f"at that headroom")
    res.solves.insert(0, st1)
    return res


def _cost_stage(inp: Siting5GInput, h_star: np.ndarray, solves: list, kw: dict, *, applied: bool,
                tentative: bool = False) -> Result5G | None:
    """Stage 2: least cost with every cell keeping its headroom ``h_star``, the target met.

    With ``filler_value`` (``radio.filler = 'offload'``) and the headroom applied, the target row is left out:
    the solve gives the least-cost plan for the floors (M stations), and the N − M stations the target still
    needs are placed by :func:`filler_counts`, not by cost. ``tentative``: None instead of an error when the
    solve finds no plan (the closed-form attempt of :func:`_at_the_cap`).
    """
    filler = applied and inp.filler_value is not None
    inp2 = dataclasses.replace(inp, traffic_mbps=inp.traffic_mbps * np.maximum(h_star * (1 - HEADROOM_TOL), 1.0),
                               target_stations=int(inp.existing.sum()) if filler else inp.target_stations)
    # without the target row the solve may price only a few stations (the rest existing or filler): its gap is
    # then asked relative to the least the target's new stations can cost, not to that small objective
    gap_abs = kw["gap_rel"] * _target_floor_cny(inp) if filler else 0.0
    m2, st2 = _solve_stage(inp2, "5g", kw, gap_abs=gap_abs)
    if tentative and st2.status not in ("optimal", "feasible"):
        return None
    if not applied:
        st2.notes = (st2.notes + "; " if st2.notes else "") + "headroom stage found no solution: surplus placed by cost"
    extra = None
    if filler and st2.status in ("optimal", "feasible"):
        extra = filler_counts(inp, _new_counts(inp, m2))
        st2.notes = (st2.notes + "; " if st2.notes else "") + (
            f"the target row left out: least capex for the headroom floors; {int(extra.sum()):,} more stations to reach "
            f"the target placed where they offload the most traffic (radio.filler = 'offload', not by the solver)")
    res = _finish(inp, m2, [*solves, st2], kw, headroom=applied, extra_new=extra)
    res.headroom_floor = h_star if applied else None
    res.filler_stations = int(extra.sum()) if extra is not None else 0
    return res


def _target_floor_cny(inp: Siting5GInput) -> float:
    """The least the new stations of any plan meeting the target can cost: (N − existing) x the cheapest unit."""
    short = max(int(inp.target_stations) - int(inp.existing.sum()), 0)
    ok = inp.max_per_site > 0
    return float(short * inp.station_cost_cny[ok].min()) if ok.any() and short else 0.0


def filler_counts(inp: Siting5GInput, new: np.ndarray) -> np.ndarray:
    """(n_sites, T) stations added to ``new`` until the target is met, by ``filler_value`` (most traffic first).

    Every free slot (``max_per_site`` − existing − new) is a candidate unit of its type; units are taken in
    decreasing ``filler_value`` (ties: site, then type order), so the choice is deterministic; a district at its
    ``district_max`` takes no more. Fewer free slots than the shortfall: every slot is taken (the diagnosis has
    already checked the target fits).
    """
    short = int(inp.target_stations) - int(inp.existing.sum() + new.sum())
    out = np.zeros_like(new)
    if short <= 0:
        return out
    free = np.maximum(inp.max_per_site - inp.existing - new, 0)
    j, t = np.nonzero(free)
    value = inp.filler_value[j, t]
    order = np.lexsort((t, j, -value))
    units = np.repeat(order, free[j[order], t[order]])
    if inp.district_max:   # a district at its ceiling takes no more
        per_site = (inp.existing + new).sum(axis=1)
        room = {d: int(h) - int(per_site[inp.site_district == d].sum()) for d, h in inp.district_max.items()}
        keep = []
        for u in units.tolist():
            d = inp.site_district[j[u]]
            if d in room:
                if room[d] <= 0:
                    continue
                room[d] -= 1
            keep.append(u)
            if len(keep) == short:
                break
        units = np.asarray(keep, dtype=np.int64)
    units = units[:short]
    np.add.at(out, (j[units], t[units]), 1)
    return out


def _new_counts(inp: Siting5GInput, m: Model5G) -> np.ndarray:
    """(n_sites, T) new stations of a solved model, rounded."""
    new = np.zeros((inp.n_sites, len(inp.type_names)), np.int64)
    if m.x:
        new[m.x_site, m.x_type] = np.rint(_values(m.x)).astype(np.int64)
    return new


def _cell_headroom(inp: Siting5GInput, m: Model5G) -> np.ndarray:
    """h_i = Σ_j a_ij / t_i of a solved model (1 where no traffic)."""
    fc = m.flow_pairs["cell"].to_numpy()
    dim = np.bincount(fc, weights=np.maximum(_values(m.a), 0.0), minlength=inp.n_cells)
    t = inp.traffic_mbps
    h = np.ones(inp.n_cells)
    ok = t > 0
    h[ok] = dim[ok] / t[ok]
    return np.maximum(h, 1.0)


def _finish(inp: Siting5GInput, m: Model5G, solves: list, kw: dict, headroom: bool = False,
            extra_new: np.ndarray | None = None) -> Result5G:
    """The result of the final stage, or the one error of an infeasible or solution-less final solve."""
    st = solves[-1]
    if st.status == "optimal" and st.objective is None:   # nothing to decide: PuLP's empty objective
        st.objective, st.bound, st.gap = 0.0, 0.0, 0.0
    milp.solved(st, model="5G", explain=lambda: explain_infeasible(
        inp, part=st.part, solver=kw["solver"], threads=kw["threads"], seed=kw["seed"]))
    return _extract(inp, m, solves, headroom=headroom, extra_new=extra_new)


def plan_5g(layers, scenario, *, backhaul_km: np.ndarray | None = None,
            headroom_floor: np.ndarray | None = None, coverage_layer: bool = True,
            coverage_problem=None, bound_prices: bool = False, wait: bool = True,
            carrier: bool = True) -> Result5G:
    """Site the 5G stations for ``layers`` under ``scenario`` (solver settings from ``scenario.solver``).

    With ``coverage_layer`` (and ``radio.coverage_types`` not empty), the sites of
    :mod:`rollout.coverage_layer` are fixed first (part ``5g_coverage``); without it the program alone
    decides, which is a relaxation (used for the plan bound). ``coverage_problem``: the layer's rows from an
    earlier call on the same layers and scenario (``Result5G.coverage_problem``), reused and warm-started.
    The layer's Lagrangian bound is computed in the background while the solver runs (the program needs only
    the layer's sites), and waited for before returning; with ``wait = False`` it is still computed on return
    (the plan is final), and :meth:`Result5G.finish` waits for it and adds its part. ``bound_prices``: ``backhaul_km`` are the plan bound's
    cheapest prices, which a small cell's spur may lower but never raise (:func:`with_spur_backhaul`).
    ``carrier``: own backhaul on the cheaper of PON and the ring, as the plan prices it (:meth:`Siting5GInput.from_layers`);
    False: fibre at ``backhaul_km`` x rate (budget mode's own-route prices; the bound's km are fibre-equivalent).
    """
    from rollout.coverage_layer import apply_coverage_layer

    inp = Siting5GInput.from_layers(layers, scenario, backhaul_km=backhaul_km, carrier=carrier and not bound_prices)
    s = scenario.solver
    layer = None
    if coverage_layer and scenario.radio.coverage_types:
        inp, layer, coverage_problem = apply_coverage_layer(inp, layers, scenario, problem=coverage_problem,
                                                            background=True)
    inp = with_spur_backhaul(inp, scenario.radio, scenario.pon.route_factor, at_most=bound_prices)
    if scenario.radio.surplus == "headroom" and scenario.radio.filler == "offload":
        inp = dataclasses.replace(inp, filler_value=offload_value(inp, layers, scenario))
    try:
        res = solve_5g(inp, solver=s.name, time_limit_s=s.time_limit_s, gap_rel=s.gap_rel, threads=s.threads,
                       msg=s.msg, seed=scenario.seed, headroom_floor=headroom_floor, lp_rounding=s.lp_rounding)
    except BaseException:
        if layer is not None:
            layer.finish()
        raise
    if layer is not None:
        res.pending_layer = layer
        res.coverage_problem = coverage_problem
    return res.finish() if wait else res


__all__ = ["Siting5GInput", "Result5G", "Model5G", "FAMILIES", "diagnose", "build_model", "solve_5g", "plan_5g",
           "explain_infeasible", "define_variables", "add_coverage", "add_capacity_assign", "add_station_capacity",
           "add_capacity_cover", "add_target_total", "add_target_cap", "add_district_min", "add_district_max",
           "station_types", "spur_types", "nearest_anchor", "anchor_sites", "with_spur_backhaul", "offload_value", "filler_counts", "backhaul_to_nearest_office", "allowed_per_site", "existing_per_site", "site_equipment_cny"]
