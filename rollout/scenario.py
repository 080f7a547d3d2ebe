"""The scenario: one typed, validated object loaded from TOML.

Every key, its default, unit, range and meaning is declared once, in the
dataclass metadata below; :func:`default_toml` writes the commented default file
from the same declarations, and :func:`load_scenario` validates against them.
Unknown keys are errors that name the closest valid key.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from gis.errors import ScenarioError
from gis.validate import clean_text

CLUTTERS = ("dense_urban", "urban", "suburban", "rural")
QINGDAO_TITLE = "Qingdao industrial-internet rollout 2022-2024"


def _f(default, doc, *, lo=None, hi=None, choices=None, unit=None, factory=False):
    meta = {"doc": doc, "lo": lo, "hi": hi, "choices": choices, "unit": unit}
    if factory:
        return field(default_factory=default, metadata=meta)
    return field(default=default, metadata=meta)


#: ports of one XGS-PON line card (16-port boards; a chassis of ``pon.ports_per_chassis`` = 272 has 17 slots)
CARD_PORTS = 16


@dataclass
class ByClutter:
    """A value per clutter class (a single number in TOML sets all four)."""

    dense_urban: float
    urban: float
    suburban: float
    rural: float

    def as_dict(self) -> dict[str, float]:
        return {c: getattr(self, c) for c in CLUTTERS}

    def __getitem__(self, clutter: str) -> float:
        return getattr(self, clutter)


def _by(d, u, s, r):
    return lambda: ByClutter(d, u, s, r)


@dataclass
class DataSettings:
    boundaries: str = _f("", "District boundary layer (GeoPackage, GeoJSON, Shapefile or CSV). Empty: the embedded Qingdao seed.")
    boundaries_layer: str = _f("", "Layer name inside a multi-layer boundary file. Empty: the first layer.")
    boundary_coords: str = _f("wgs84", "Datum of the boundary coordinates.", choices=("wgs84", "gcj02"))
    districts: str = _f("", "District table (CSV): the id column and population required; name_zh, name_en (or name), households, area_km2 optional (see the head of this file). Empty: the embedded Qingdao seed.")
    id_field: str = _f("adcode", "Column that joins the boundary layer to the district table. If the files lack it, the one column whose ids match in both is used.")
    cores: str = _f("", "Urban-core points (CSV with district id, lon, lat[, weight]): the towns of each district. Empty: the embedded Qingdao seed, or each district's representative point for another city (with a warning).")
    demand: str = _f("modelled", "Demand source: 'modelled' (district-table totals spread around urban cores), a population GeoTIFF, or a point/polygon table with a population column.")
    demand_population_field: str = _f("population", "Population column of a demand table.")
    candidates: str = _f("", "Optional extra candidate 5G sites (points).")
    towers: str = _f("", "Optional existing towers (points: China Tower or 4G sites) where a macro gNB can be added at radio.tower_upgrade_capex_cny instead of a new site. They become macro candidates labelled 'tower'.")
    existing_sites: str = _f("", "Optional existing 5G stations (points, optional 'type' column): locked, zero cost, count toward the target.")
    offices: str = _f("", "Optional central offices / OLT sites, the existing plant (points; optional 'existing', 'ports' (10G-PON), 'free_slots' and 'chassis' columns). Empty: generated, with a modelled existing plant (pon.existing_plant).")
    hotspots: str = _f("", "Optional industrial-park hot spots (polygons or points with 'enterprise_lines'). Empty: the embedded approximate Qingdao parks.")


@dataclass
class GridSettings:
    res_dense_urban: int = _f(9, "H3 resolution of dense-urban cells (9: edge ~174 m).", lo=5, hi=11)
    res_urban: int = _f(8, "H3 resolution of urban cells (8: edge ~461 m).", lo=5, hi=11)
    res_suburban: int = _f(7, "H3 resolution of suburban cells (7: edge ~1.2 km).", lo=4, hi=10)
    res_rural: int = _f(6, "H3 resolution of rural cells (6: edge ~3.2 km).", lo=4, hi=9)
    site_res_dense_urban: int = _f(10, "H3 resolution of candidate 5G sites in dense-urban cells (10: ~7 sites per res-9 cell, ~70 m apart).", lo=5, hi=12)
    site_res_urban: int = _f(9, "H3 resolution of candidate 5G sites in urban cells.", lo=5, hi=12)
    site_res_suburban: int = _f(9, "H3 resolution of candidate 5G sites in suburban cells (9: ~350 m apart, within a macro's suburban indoor radius of ~470 m, so the coverage layer can reach every lattice point).", lo=4, hi=11)
    site_res_rural: int = _f(8, "H3 resolution of candidate 5G sites in rural cells (8: ~920 m apart, within a macro's rural radius of ~960 m).", lo=4, hi=10)
    max_pairs_per_cell: int = _f(20, "A demand cell is paired with at most this many nearest candidate sites of each station type within reach.", lo=1, hi=200)


@dataclass
class DemandSettings:
    urban_share: float = _f(0.75, "Modelled surface: share of an urban-core district's people placed around its cores (the rest spread over its land).", lo=0.0, hi=1.0)
    core_scale_km: float = _f(4.0, "Modelled surface: e-folding distance of density around a core.", lo=0.2, hi=50.0, unit="km")
    dense_urban_per_km2: float = _f(10000.0, "People per km2 above which a cell is dense urban.", lo=0.0, hi=1e6, unit="1/km2")
    urban_per_km2: float = _f(3000.0, "People per km2 above which a cell is urban.", lo=0.0, hi=1e6, unit="1/km2")
    suburban_per_km2: float = _f(500.0, "People per km2 above which a cell is suburban (below: rural).", lo=0.0, hi=1e6, unit="1/km2")
    penetration_5g: float = _f(0.6, "Share of people using 5G at the busy hour horizon.", lo=0.0, hi=1.0)
    busy_hour_mbps_per_user: float = _f(0.5, "Busy-hour traffic per 5G user.", lo=0.0, hi=1000.0, unit="Mbit/s")
    ont_takeup: float = _f(0.85, "Share of households taking a PON line (one ONT each).", lo=0.0, hi=1.0)
    enterprise_lines_per_1000: float = _f(15.0, "Enterprise PON lines per 1,000 people, everywhere.", lo=0.0, hi=1000.0)
    hotspot_lines_per_km2: float = _f(400.0, "Extra enterprise lines per km2 inside industrial hot spots.", lo=0.0, hi=1e6, unit="1/km2")


@dataclass
class StationType:
    capacity_mbps: float = _f(2000.0, "Busy-hour capacity of one station.", lo=1.0, hi=1e6, unit="Mbit/s")
    capex_cny: float = _f(400000.0, "Capital cost of one new station, all-in.", lo=0.0, hi=1e9, unit="CNY")
    max_per_site: int = _f(1, "Units of this type at one candidate position: one (a macro site holds one gNB with its sectors; a small cell has its own pole).", lo=0, hi=1)
    clutters: list = _f(lambda: list(CLUTTERS), "Clutter classes where this type may be built.", factory=True)
    band_mhz: float = _f(3500.0, "Band of this type's carrier (3500: n78, 2600: n41, 700: n28); its link budget gives the radius per clutter class.", lo=450.0, hi=7125.0, unit="MHz")
    radius_m: dict = _f(dict, "Explicit planning radius per clutter class, overriding the link budget, e.g. {rural = 1500.0}. Empty: the link budget.", factory=True)
    backhaul: str = _f("own", "How a new station of this type reaches the transport network: 'own' (its own fibre route from the site to the aggregation/OLT site, on PON or the SPN/IPRAN ring) or 'spur' (a fibre spur at radio.backhaul_cost_cny_per_km to the nearest site of the plan with its own backhaul, whose transport carries it, as small cells hang off the nearest macro site; its own route only when the plan has no such site; budget mode prices every station's own route).", choices=("own", "spur"))


@dataclass
class RadioSettings:
    target_stations: int = _f(35000, "Total 5G stations (existing + new) the plan must reach.", lo=0, hi=10_000_000)
    threshold_dbm: float = _f(-110.0, "Required cell-edge RSRP of an indoor user (design level, after penetration and shadowing margins); every link budget and the coverage evaluation use it.", lo=-150.0, hi=-40.0, unit="dBm")
    k_coverage: ByClutter = _f(_by(1, 1, 1, 1), "Stations within radius every populated cell needs, by clutter class.", lo=0, hi=5, factory=True)
    backhaul_cost_cny_per_km: float = _f(80000.0, "Fibre backhaul cost per route km from a new station to its aggregation/OLT site.", lo=0.0, hi=1e8, unit="CNY/km")
    macro: StationType = _f(lambda: StationType(1200.0, 300000.0, 1, list(CLUTTERS)), "3-sector n78 macro gNB (one per site): busy-hour capacity 1.2 Gbit/s, 300k CNY all-in for a new site (seeds/sources_radio.md).", factory=True)
    small: StationType = _f(lambda: StationType(300.0, 60000.0, 1, ["dense_urban", "urban"], backhaul="spur"), "Small cell (one per street-furniture position, never rural): busy-hour capacity 300 Mbit/s, 60k CNY; backhaul a fibre spur to the nearest macro site (seeds/sources_radio.md).", factory=True)
    small_cell_res: int = _f(10, "H3 resolution of small-cell positions (10: centres ~114 m apart, street-furniture spacing).", lo=9, hi=12)
    district_min: dict = _f(dict, "Optional floor on total stations per district id, e.g. {\"370202\" = 2000}.", factory=True)
    district_max: dict = _f(dict, "Optional ceiling on total stations per district id.", factory=True)
    surplus: str = _f("headroom", "Where stations beyond coverage and capacity go: 'headroom' (first raise the cells' traffic headroom by radio.headroom_rule, so they relieve the most loaded traffic; then least capex) or 'none' (cheapest places).", choices=("headroom", "none"))
    tower_upgrade_capex_cny: float = _f(150000.0, "Capex of a macro gNB added to an existing tower (data.towers): equipment and installation, no new site, civil works or power (seeds/SOURCES.md).", lo=0.0, hi=1e9, unit="CNY")
    baseline_stations: int = _f(0, "5G stations in service before the plan starts (Qingdao: about 20,000 at the end of 2021, seeds/SOURCES.md). Without data.existing_sites the planner places them with its own least-cost model (coverage layer first, then the cheapest stations up to this count), labels them modelled, and plans the target on top. 0: a green field.", lo=0, hi=10_000_000)
    baseline_year: int = _f(0, "Year-end of the baseline network (e.g. 2021); only a label.", lo=0, hi=2100)
    coverage_window_passes: int = _f(4, "Passes of window MIPs that improve the coverage layer's starting cover (the cheaper of the greedy and the Lagrangian greedy covers; rollout/covering.py; each pass re-solves every 6 km window, on the next of four shifted grids). 0: the starting cover alone; its gap to the Lagrangian bound is reported either way. More passes: a cheaper layer, more time (Qingdao default, 2026-12-01: Lagrangian greedy 7.299, 4 passes 7.172, 5 passes 7.171 bn CNY for 2.4 s more).", lo=0, hi=20)
    coverage_window_rows: int = _f(600, "Most covering rows in one window MIP of the coverage layer: a window with more is solved as quarters, one by one (rollout/covering.py). Larger windows: a cheaper layer per pass, harder MIPs (Qingdao's 6 km windows hold at most ~520 rows: 4 passes unsplit 7.172 bn CNY in 10.4 s, quartered to 400 rows 7.181 bn in 12.5 s (2026-12-01); Jinan's 5 km windows of up to 340 rows took up to 12 s each (2026-11-30); Jinan's layer with four passes (one level plan, 2026-12-01): 6 km windows of up to 600 rows 354 s, gap 3.9 %, 5 km of up to 400 rows 294 s, gap 4.3 %: 200 rows suit cities with hard windows).", lo=20, hi=100_000)
    coverage_window_m: float = _f(6000.0, "Side of the coverage layer's window MIPs [m] (rollout/covering.py; widened to more than four times the farthest reach of a candidate when that is larger). Larger windows: a cheaper layer per pass, harder MIPs (Qingdao default, 2026-12-01: four passes of 6 km windows 7.172 bn CNY in 10.4 s, of 5 km windows 7.181 bn in 10.9 s).", lo=500.0, hi=100_000.0, unit="m")
    coverage_dual_passes: int = _f(1, "Dual-ascent passes of the coverage layer's Lagrangian bound on its first solve, after 1,000 subgradient steps (rollout/covering.py; each pass re-solves the LP dual of every 30 km tile). A re-solve at new prices (joint round) moves those multipliers to its prices by 500 subgradient steps, then makes one pass, or none when this is 0 or 1; so does the plan bound, with one pass over 10 km tiles unless this is 0 (with no layer cover to start from, it makes max(1, this) passes from zero). More passes: a tighter proven bound (a smaller reported gap), more time; the cover itself does not change (Qingdao: LP optimum 7.091 bn CNY; the subgradient alone 7.060; 2026-12-01, over 10 km tiles, 1 pass 7.072, 2 passes 7.078 bn, the whole plan 8 s slower; 2026-12-02, over 30 km tiles, 1 pass 7.085 bn). 0: the subgradient's bound alone, and the plan bound's re-priced multipliers without a pass (the region seed: each pass from the subgradient's multipliers costs more than one from zero).", lo=0, hi=20)
    coverage_wide_passes: int = _f(0, "Passes of wide window MIPs after the coverage layer's window passes (10 km windows quartered down to at most 800 rows in the first pass, 1,600 in the second, doubling; the windows' gap and node limit): a cheaper layer for more time (Qingdao default on 2026-11-30, with backhaul then priced as fibre and windows quartered to 200 rows: 2 passes took the layer from 8.605 to 8.506 bn CNY and the plan's capex from 11.409 to 11.356 bn, for 41 s more). Cities with hard windows (Jinan) can take far longer, and a window that meets its 60 s safeguard makes the result depend on the machine.", lo=0, hi=4)
    coverage_types: list = _f(lambda: ["macro"], "Station types that build the coverage layer (rollout/coverage_layer.py): every populated point of the evaluation lattice gets k_coverage of them within radius before capacity is added. Default macro (macro-led coverage; small cells add capacity). Empty: coverage tested only at each cell's planning point.", factory=True)
    filler: str = _f("offload", "With surplus = 'headroom': the stations the target needs beyond what the headroom floors need (every cell at its headroom): 'offload' (placed, after the least-cost solve without the target, at the free positions that take the most busy-hour traffic off the macro layer: the traffic density of the position's cell x the area where it is the best server, a small cell's area shrunk by the nearest macro site's co-channel signal; the capex is whatever those positions cost) or 'cost' (the cheapest positions, inside the solve).", choices=("offload", "cost"))
    small_cell_range_bias_db: float = _f(6.0, "Cell-range-extension bias of a small cell against the co-channel macro layer: a user is served by the small cell where its signal + this bias >= the nearest macro site's (sizes the area a filler small cell serves; seeds/SOURCES.md).", lo=0.0, hi=20.0, unit="dB")
    headroom_rule: str = _f("fair", "With surplus = 'headroom': 'fair' (each cell's own headroom, concave and traffic-weighted, so the busiest least-relieved cells come first) or 'uniform' (one headroom multiplier for every cell, fixed by the tightest cell; the rest go by cost).", choices=("fair", "uniform"))


@dataclass
class PonSettings:
    target_ports: int = _f(90000, "Total 10G-PON ports (existing + new) the plan must reach.", lo=0, hi=100_000_000)
    split_ratio: ByClutter = _f(_by(64, 64, 64, 64), "Optical split ratio by clutter class (32, 64 or 128).", factory=True)
    reach_km: float = _f(20.0, "Optical reach along the fibre route.", lo=1.0, hi=60.0, unit="km")
    route_factor: float = _f(1.4, "Fibre route length / straight-line distance.", lo=1.0, hi=3.0)
    nearest_sites: int = _f(6, "A cell is paired only with this many nearest reachable OLT sites.", lo=1, hi=50)
    port_cost_cny: float = _f(1900.0, "Cost of one 10G-PON port.", lo=0.0, hi=1e7, unit="CNY")
    ports_per_chassis: int = _f(272, "Ports one OLT chassis holds (17 slots x 16).", lo=1, hi=10_000)
    max_chassis_per_site: int = _f(4, "Most chassis at one OLT site.", lo=1, hi=1_000)
    chassis_cost_cny: float = _f(0.0, "Cost of one OLT chassis beyond the port price (0: the tender port price already includes the OLT equipment, chassis and line cards; seeds/SOURCES.md).", lo=0.0, hi=1e9, unit="CNY")
    olt_site_cost_cny: float = _f(300000.0, "Fixed cost of opening a new OLT site.", lo=0.0, hi=1e10, unit="CNY")
    fiber_cost_cny_per_km: ByClutter = _f(_by(120000.0, 90000.0, 60000.0, 40000.0), "Feeder fibre cost per route km by clutter class of the served cell.", unit="CNY/km", lo=0.0, hi=1e8, factory=True)
    surplus: str = _f("fill", "Where ports beyond the need go: 'fill' (after the least-cost plan, spread them so the lowest ports-to-need ratio is as high as possible; capex unchanged), 'headroom' (one common ratio inside the integer program; dearer, slower) or 'none'.", choices=("fill", "headroom", "none"))
    single_sourcing: bool = _f(True, "Each demand cell homes on exactly one OLT site (false: may split).")
    backhaul: str = _f("joint", "How 5G backhaul and PON interact: 'joint' (iterate to a fixed point) or 'sequential' (5G first, then PON).", choices=("joint", "sequential"))
    enabled: bool = _f(True, "Plan the PON network.")
    # optical distribution network (rollout/model_odn.py) and optical budget (rollout/optics.py)
    odn: str = _f("two_stage", "Splitting: 'two_stage' (a primary splitter in a street cabinet feeding secondary splitters in the cell; the primary ratio is primary_ratio, the secondary split_ratio / primary_ratio) or 'centralised' (one 1:split_ratio splitter in the cabinet).", choices=("two_stage", "centralised"))
    primary_ratio: int = _f(8, "Ratio of the primary (cabinet) splitter of a two-stage split (1:8 x 1:8 = 1:64).", lo=2, hi=64)
    optics_class: str = _f("N2", "XGS-PON optics class of the OLT and ONT transceivers (ITU-T G.9807.1): its loss budget sets the reach of each split.", choices=("N1", "N2", "E1", "E2"))
    cabinet_cost_cny: float = _f(8000.0, "One street cabinet / fibre distribution point holding primary splitters (assumption).", lo=0.0, hi=1e9, unit="CNY")
    cabinet_ports: int = _f(16, "Primary splitters (= PON ports fed) one cabinet holds (assumption).", lo=1, hi=10_000)
    splitter_cost_cny_per_output: float = _f(12.0, "PLC splitter price per output port, installed (a 1:8 costs 8 x this; assumption).", lo=0.0, hi=1e9, unit="CNY")
    distribution_cost_cny_per_km: ByClutter = _f(_by(80000.0, 60000.0, 40000.0, 30000.0), "Distribution fibre (cabinet -> demand cell) cost per route km by clutter class (assumption: smaller cables than the feeder, same trench prices).", unit="CNY/km", lo=0.0, hi=1e8, factory=True)
    distribution_max_km: float = _f(3.0, "Longest straight cabinet -> cell distance a cabinet may serve.", lo=0.1, hi=30.0, unit="km")
    backhaul_carrier: str = _f("cheapest", "5G backhaul per site: 'cheapest' (PON where an OLT is within the optical reach and cheaper, else the SPN/IPRAN ring), 'pon' or 'ring'.", choices=("cheapest", "pon", "ring"))
    ring_cost_cny_per_site: float = _f(30000.0, "SPN/IPRAN access ring: equipment and ring port per 5G site (assumption).", lo=0.0, hi=1e9, unit="CNY")
    ring_cost_cny_per_km: float = _f(30000.0, "SPN/IPRAN access ring fibre per route km to the aggregation office (assumption: a shared ring, cheaper per site than a dedicated fibre).", lo=0.0, hi=1e8, unit="CNY/km")
    existing_plant: str = _f("modelled", "Without data.offices: 'modelled' (the generated offices are today's GPON central offices, with installed chassis and free card slots from gpon_lines_per_port and gpon_slot_fill; labelled modelled in every output) or 'none' (every OLT site is a new candidate). A data.offices layer replaces it.", choices=("modelled", "none"))
    gpon_lines_per_port: float = _f(40.0, "Modelled plant: today's lines one installed GPON port serves (assumption; seeds/SOURCES.md).", lo=1.0, hi=1024.0, unit="lines")
    gpon_slot_fill: float = _f(0.8, "Modelled plant: share of an installed OLT chassis's service slots its GPON cards fill; the rest are free slots for 10G-PON cards (assumption).", lo=0.05, hi=1.0)
    cabinet_candidates: int = _f(6, "A cell may be served from this many nearest candidate cabinet positions (cells homed on the same OLT).", lo=1, hi=50)


@dataclass
class SolverSettings:
    name: str = _f("cbc", "MILP solver through PuLP.", choices=("cbc", "highs"))
    time_limit_s: float = _f(120.0, "Wall-clock limit per solve.", lo=1.0, hi=1e6, unit="s")
    gap_rel: float = _f(0.005, "Relative optimality gap at which a solve stops.", lo=0.0, hi=1.0)
    threads: int = _f(1, "Solver threads. 1 (the default) makes every solve deterministic: the same scenario gives the same plan on any machine (as long as no solve stops at its time limit). CBC with more threads is not deterministic; on the Qingdao default, 2 threads were no faster on the shared 2-core machine (README).", lo=1, hi=256)
    msg: bool = _f(False, "Show the solver's own log.")
    lp_rounding: bool = _f(True, "Solve a 5G least-cost stage first as its LP relaxation (HiGHS through scipy) with every station count rounded up, kept (solver 'highs-lp') only when every row holds and it is within gap_rel of the LP optimum, a proof; otherwise the MIP runs. false: always the MIP (Qingdao's cost stage: 3 s rounded against 22 s for CBC's branch and bound, README).")


@dataclass
class PhasingSettings:
    years: list = _f(list, "Plan years in order, e.g. [2022, 2023, 2024]. Empty: a single-period plan.", factory=True)
    stations_cumulative: list = _f(list, "Cumulative 5G stations (existing + new) to reach by the end of each year; empty: only the final target.", factory=True)
    ports_cumulative: list = _f(list, "Cumulative PON ports (existing + new) by the end of each year; empty: only the final target.", factory=True)
    budget_cny: list = _f(list, "Capex budget of each year (0: no limit); empty: no limits.", factory=True)
    build_cap_stations: list = _f(list, "Most new 5G stations crews can build in each year (0: no limit); empty: no limits.", factory=True)
    coverage_floor: list = _f(list, "Share of population covered by 5G at the end of each year (0..1); empty: no floors.", factory=True)
    discount_rate: float = _f(0.08, "Yearly discount rate of capex.", lo=0.0, hi=1.0)
    solver: str = _f("", "Solver of the scheduling model; empty: solver.name. HiGHS handles coverage floors much faster than CBC here.", choices=("", "cbc", "highs"))
    early_value_cny_per_person: float = _f(1.0, "Value of covering one person one year earlier (discounted), so demand served earlier counts more.", lo=0.0, hi=1e6, unit="CNY")


@dataclass
class BudgetSettings:
    capex_cny: float = _f(0.0, "Budget mode: with a capex budget > 0, maximise what the budget covers (5G stations only); radio.target_stations is priced beside it as the reference plan; a port target (PON enabled) or yearly targets with it are refused.", lo=0.0, hi=1e13, unit="CNY")
    objective: str = _f("population", "What budget mode maximises.", choices=("population", "traffic"))


@dataclass
class OutputSettings:
    dir: str = _f("out", "Folder for plan.json, plan.gpkg, map.html and report.html.")


@dataclass
class Scenario:
    title: str = _f("", "Shown on the map and report. Empty: 'Qingdao industrial-internet rollout 2022-2024' on the embedded Qingdao data, else 'Rollout plan: <district table file name>'.")
    seed: int = _f(0, "Seed of every random choice (results are deterministic).", lo=0, hi=2**31 - 2)
    data: DataSettings = _f(DataSettings, "Input layers.", factory=True)
    grid: GridSettings = _f(GridSettings, "Adaptive hexagonal demand grid.", factory=True)
    demand: DemandSettings = _f(DemandSettings, "Demand model.", factory=True)
    radio: RadioSettings = _f(RadioSettings, "5G base stations.", factory=True)
    pon: PonSettings = _f(PonSettings, "10G-PON access network.", factory=True)
    solver: SolverSettings = _f(SolverSettings, "Solver.", factory=True)
    phasing: PhasingSettings = _f(PhasingSettings, "Phased rollout over the plan years.", factory=True)
    budget: BudgetSettings = _f(BudgetSettings, "Budget mode (maximal coverage under a capex budget).", factory=True)
    output: OutputSettings = _f(OutputSettings, "Outputs.", factory=True)

    # where the scenario came from; relative data paths resolve against it
    base_dir: Path = field(default_factory=Path.cwd, repr=False, compare=False, metadata={"internal": True})

    def path(self, value: str) -> Path | None:
        """Resolve a data path relative to the scenario file; ``None`` for empty."""
        if not value:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    def plan_title(self) -> str:
        """``title``, or one that names the city only when the data are the embedded Qingdao seed."""
        if self.title:
            return self.title
        if not (self.data.boundaries or self.data.districts):
            return QINGDAO_TITLE
        return f"Rollout plan: {Path(self.data.districts or self.data.boundaries).stem}"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("base_dir", None)
        return d

    def layer_settings(self):
        """What the gis layer build reads, as its own plain data (:class:`gis.build.BuildSettings`), paths resolved."""
        from gis.build import BuildSettings, DemandModel, LayerInputs

        d, g, dm, pon = self.data, self.grid, self.demand, self.pon
        inputs = LayerInputs(
            boundaries=self.path(d.boundaries), districts=self.path(d.districts),
            boundaries_layer=d.boundaries_layer or None, boundary_coords=d.boundary_coords, id_field=d.id_field,
            cores=self.path(d.cores), hotspots=self.path(d.hotspots), candidates=self.path(d.candidates),
            existing_sites=self.path(d.existing_sites), offices=self.path(d.offices), towers=self.path(d.towers),
            demand=None if d.demand.strip().lower() == "modelled" else self.path(d.demand),
            demand_population_field=d.demand_population_field)
        model = DemandModel(
            urban_share=dm.urban_share, core_scale_km=dm.core_scale_km,
            thresholds_per_km2={"dense_urban": dm.dense_urban_per_km2, "urban": dm.urban_per_km2,
                                "suburban": dm.suburban_per_km2},
            penetration_5g=dm.penetration_5g, busy_hour_mbps_per_user=dm.busy_hour_mbps_per_user,
            ont_takeup=dm.ont_takeup, enterprise_lines_per_1000=dm.enterprise_lines_per_1000,
            hotspot_lines_per_km2=dm.hotspot_lines_per_km2)
        return BuildSettings(
            inputs=inputs, demand=model,
            cell_res={c: getattr(g, f"res_{c}") for c in CLUTTERS},
            site_res={c: getattr(g, f"site_res_{c}") for c in CLUTTERS},
            max_pairs_per_cell=g.max_pairs_per_cell,
            **self._radio_layer_settings(),
            k_coverage={c: int(v) for c, v in self.radio.k_coverage.as_dict().items()},
            office_capacity_onts=pon.ports_per_chassis * pon.max_chassis_per_site * max(pon.split_ratio.as_dict().values()),
            office_reach_straight_m=pon_reach_km(pon) * 1000.0 / pon.route_factor,
            existing_plant=self._plant_model())

    def _plant_model(self):
        """The modelled existing plant of the layer build (``pon.existing_plant``), or None."""
        from gis.candidates import PlantModel

        pon = self.pon
        if pon.existing_plant != "modelled":
            return None
        return PlantModel(lines_per_port=pon.gpon_lines_per_port, slot_fill=pon.gpon_slot_fill, card_ports=CARD_PORTS,
                          slots_per_chassis=max(1, pon.ports_per_chassis // CARD_PORTS))

    def _radio_layer_settings(self) -> dict:
        """The radio part of the layer build: radii per type and clutter (link budgets), small-cell positions."""
        from rollout.radio_plan import cell_radius_m, type_radii_m

        radii = type_radii_m(self)
        return dict(radius_m=cell_radius_m(self, radii), type_radius_m=radii,
                    small_cell_res=self.radio.small_cell_res, small_cell_clutters=tuple(self.radio.small.clutters))


# --------------------------------------------------------------------------- loading

def _public_fields(cls):
    return [f for f in fields(cls) if not f.metadata.get("internal")]


def _field_default(f):
    """The default value of dataclass field ``f`` (``None`` when it has none)."""
    if f is None:
        return None
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


def _build(cls, data: dict, where: str, problems: list[str], base=None):
    """Build dataclass ``cls`` from ``data``, appending every problem to ``problems``.

    ``base`` (the field's own default, e.g. the small cell's StationType) supplies the keys ``data``
    leaves out, so a partial ``[radio.small]`` table keeps the small cell's defaults.
    """
    hints = get_type_hints(cls)
    known = {f.name: f for f in _public_fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.5)
            hint = f"; did you mean '{where}{close[0]}'?" if close else f"; valid keys: {', '.join(known)}"
            problems.append(f"unknown key '{where}{key}'{hint}")
            continue
        f = known[key]
        typ = hints[f.name]
        kwargs[key] = _coerce(value, typ, f, f"{where}{key}", problems)
    given = {k: v for k, v in kwargs.items() if v is not _BAD}
    return dataclasses.replace(base, **given) if isinstance(base, cls) else cls(**given)


def settings_from_dict(cls, data: dict, where: str, problems: list[str]):
    """A settings dataclass ``cls`` (e.g. the region's) from a TOML table, validated like the scenario's own
    tables (types, choices, finite numbers within ``lo``/``hi``, unknown keys with the closest valid one);
    every problem is appended to ``problems``, named ``<where><key>``."""
    return _build(cls, data, where, problems)


_BAD = object()


def _coerce(value, typ, f, name: str, problems: list[str]):
    meta = f.metadata if f is not None else {}
    if dataclasses.is_dataclass(typ) and typ is not ByClutter:
        if not isinstance(value, dict):
            problems.append(f"'{name}' must be a table")
            return _BAD
        return _build(typ, value, name + ".", problems, base=_field_default(f))
    if typ is ByClutter:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = {c: value for c in CLUTTERS}
        if not isinstance(value, dict):
            problems.append(f"'{name}' must be a number or a table of {', '.join(CLUTTERS)}")
            return _BAD
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        vals = default.as_dict() if default else {}
        for k, v in value.items():
            if k not in CLUTTERS:
                close = difflib.get_close_matches(k, CLUTTERS, n=1, cutoff=0.5)
                problems.append(f"unknown key '{name}.{k}'" + (f"; did you mean '{name}.{close[0]}'?" if close else f"; valid keys: {', '.join(CLUTTERS)}"))
                continue
            vals[k] = _check_number(v, float, meta, f"{name}.{k}", problems)
        return ByClutter(**vals)
    if typ is bool:
        if not isinstance(value, bool):
            problems.append(f"'{name}' must be true or false, not {value!r}")
            return _BAD
        return value
    if typ in (int, float):
        return _check_number(value, typ, meta, name, problems)
    if typ is str:
        if not isinstance(value, str):
            problems.append(f"'{name}' must be a string, not {value!r}")
            return _BAD
        choices = meta.get("choices")
        if choices and value not in choices:
            close = difflib.get_close_matches(value, choices, n=1, cutoff=0.4)
            problems.append(f"'{name}' = {value!r} is not one of {', '.join(choices)}" + (f"; did you mean {close[0]!r}?" if close else ""))
            return _BAD
        return value
    if typ is list:
        if not isinstance(value, list):
            problems.append(f"'{name}' must be a list")
            return _BAD
        return value
    if typ is dict:
        if not isinstance(value, dict):
            problems.append(f"'{name}' must be a table")
            return _BAD
        return {str(k): v for k, v in value.items()}
    return value


def _check_number(value, typ, meta, name, problems):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.append(f"'{name}' must be a number, not {value!r}")
        return _BAD
    if value != value:  # NaN
        problems.append(f"'{name}' must be a number, not NaN")
        return _BAD
    if isinstance(value, float) and not math.isfinite(value):
        problems.append(f"'{name}' must be a finite number, not {value!r}")
        return _BAD
    shown = value  # as written: 1e30, not int(1e30)
    if typ is int and isinstance(value, float):
        if not value.is_integer():
            problems.append(f"'{name}' must be a whole number, not {value!r}")
            return _BAD
        value = int(value)
    lo, hi = meta.get("lo"), meta.get("hi")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        rng = f"[{'' if lo is None else lo}, {'' if hi is None else hi}]"
        problems.append(f"'{name}' = {shown!r} is out of range {rng}")
        return _BAD
    return typ(value)


def pon_split(pon: PonSettings, clutter: str):
    """The :class:`rollout.optics.Split` of a clutter class: two-stage (primary x rest) or centralised."""
    from rollout.optics import Split

    ratio = int(pon.split_ratio[clutter])
    if pon.odn == "two_stage" and ratio % int(pon.primary_ratio) == 0 and ratio > int(pon.primary_ratio):
        return Split((int(pon.primary_ratio), ratio // int(pon.primary_ratio)))
    return Split((ratio,))


def pon_reach_km(pon: PonSettings, clutter: str | None = None) -> float:
    """Route km a path may have: min(reach_km, the optics class's reach for the split); the least over clutters."""
    from rollout.optics import max_route_km

    clutters = CLUTTERS if clutter is None else (clutter,)
    return min(min(float(pon.reach_km), max_route_km(pon_split(pon, c), pon.optics_class)) for c in clutters)


def _pon_odn_checks(pon: PonSettings, problems: list[str]) -> None:
    """Two-stage ratios that divide, and splits the optics class can serve at all (exit 2)."""
    from rollout.optics import check_split, loss_db_fixed, optics_class

    if pon.odn == "two_stage":
        for c in CLUTTERS:
            if int(pon.split_ratio[c]) % int(pon.primary_ratio) or int(pon.split_ratio[c]) <= int(pon.primary_ratio):
                problems.append(f"'pon.split_ratio.{c}' = {pon.split_ratio[c]:g} is not 'pon.primary_ratio' "
                                f"({pon.primary_ratio}) x a secondary ratio >= 2")
                return
    try:
        for c in CLUTTERS:
            check_split(pon_split(pon, c))
            split, cls = pon_split(pon, c), optics_class(pon.optics_class)
            if loss_db_fixed(split) >= cls.budget_db:
                problems.append(f"split {split.label} loses {loss_db_fixed(split):.1f} dB before any fibre, more "
                                f"than the {cls.name} budget of {cls.budget_db:.1f} dB: choose a larger 'pon.optics_class'")
                return
    except ValueError as exc:
        problems.append(str(exc))


def _cross_checks(s: Scenario, problems: list[str]) -> None:
    g = s.grid
    for c in CLUTTERS:
        if getattr(g, f"site_res_{c}") < getattr(g, f"res_{c}"):
            problems.append(f"'grid.site_res_{c}' must be >= 'grid.res_{c}' (sites at least as fine as the cells)")
    for c in CLUTTERS:
        if s.pon.split_ratio[c] not in (32, 64, 128):
            problems.append(f"'pon.split_ratio.{c}' = {s.pon.split_ratio[c]!r} must be 32, 64 or 128")
    _pon_odn_checks(s.pon, problems)
    d = s.demand
    if not (d.dense_urban_per_km2 >= d.urban_per_km2 >= d.suburban_per_km2):
        problems.append("density thresholds must satisfy dense_urban_per_km2 >= urban_per_km2 >= suburban_per_km2")
    for name in ("macro", "small"):
        t = getattr(s.radio, name)
        bad = [c for c in t.clutters if c not in CLUTTERS]
        if bad:
            problems.append(f"'radio.{name}.clutters' has unknown class {bad[0]!r}; valid: {', '.join(CLUTTERS)}")
    _check_radio_types(s, problems)
    for key in ("district_min", "district_max"):
        for k, v in getattr(s.radio, key).items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                problems.append(f"'radio.{key}.{k}' must be a whole number >= 0")


def _check_radio_types(s: Scenario, problems: list[str]) -> None:
    """Explicit radii are clutter classes with a number of metres; small cells are never built in rural cells."""
    for name in ("macro", "small"):
        for k, v in getattr(s.radio, name).radius_m.items():
            if k not in CLUTTERS:
                problems.append(f"unknown key 'radio.{name}.radius_m.{k}'; valid keys: {', '.join(CLUTTERS)}")
            elif isinstance(v, bool) or not isinstance(v, (int, float)) or not (10.0 <= v <= 20000.0):
                problems.append(f"'radio.{name}.radius_m.{k}' = {v!r} must be a number of metres in [10, 20000]")
    for t in s.radio.coverage_types:
        if t not in ("macro", "small"):
            problems.append(f"'radio.coverage_types' holds {t!r}; valid station types: macro, small")
    if "rural" in s.radio.small.clutters:
        problems.append("'radio.small.clutters' must not hold 'rural': small cells serve capacity and hot spots, "
                        "not rural coverage")
    if all(getattr(s.radio, name).backhaul == "spur" for name in ("macro", "small")):
        problems.append("'radio.macro.backhaul' and 'radio.small.backhaul' are both 'spur': a spur needs a site with "
                        "its own backhaul to hang off; set one of them to 'own'")


def _check_phasing(s: Scenario, problems: list[str]) -> None:
    ph = s.phasing
    n = len(ph.years)
    if any(isinstance(y, bool) or not isinstance(y, int) for y in ph.years):
        problems.append("'phasing.years' must be whole years, e.g. [2022, 2023, 2024]")
        return
    if ph.years != sorted(set(ph.years)):
        problems.append("'phasing.years' must be increasing and distinct")
    for key in ("stations_cumulative", "ports_cumulative", "budget_cny", "build_cap_stations", "coverage_floor"):
        vals = getattr(ph, key)
        if not vals:
            continue
        if len(vals) != n:
            problems.append(f"'phasing.{key}' has {len(vals)} values for {n} years")
            continue
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 for v in vals):
            problems.append(f"'phasing.{key}' must hold numbers >= 0")
            continue
        if key.endswith("cumulative") and list(vals) != sorted(vals):
            problems.append(f"'phasing.{key}' must not decrease from year to year")
        if key == "coverage_floor" and any(v > 1 for v in vals):
            problems.append("'phasing.coverage_floor' values are shares between 0 and 1")


def _check_budget(s: Scenario, problems: list[str]) -> None:
    """Budget mode plans 5G only, to cover the most a budget buys; a PON or yearly target set beside it conflicts.

    ``radio.target_stations`` is honoured: it is the reference plan priced beside the budget plan
    (``plan.json`` extra.budget.target_plan). A port target differing from the default while the PON is
    enabled, or yearly cumulative targets, would be silently dropped, so they are refused (exit 2).
    """
    if s.budget.capex_cny <= 0:
        return
    conflicts = []
    if s.pon.enabled and s.pon.target_ports != PonSettings().target_ports:
        conflicts.append(f"'pon.target_ports' = {s.pon.target_ports:,}")
    conflicts += [f"'phasing.{k}'" for k in ("stations_cumulative", "ports_cumulative") if getattr(s.phasing, k)]
    if conflicts:
        problems.append(f"'budget.capex_cny' > 0 (budget mode: 5G only, the most the budget covers) conflicts with "
                        f"{', '.join(conflicts)}, which budget mode does not plan; set budget.capex_cny = 0 to plan "
                        f"the targets, or pon.enabled = false and no yearly targets for budget mode")


def district_key_problems(s: Scenario, district_ids) -> list[str]:
    """Problems of ``radio.district_min``/``district_max`` keys that name no district in ``district_ids``."""
    known = {str(d) for d in district_ids}
    problems = []
    for key in ("district_min", "district_max"):
        unknown = sorted(str(k) for k in getattr(s.radio, key) if str(k) not in known)
        if unknown:
            hint = _id_hint(unknown[0], known)
            problems.append(f"'radio.{key}' names unknown district id(s) {', '.join(unknown[:8])}{hint}")
    return problems


def _id_hint(bad: str, known: set[str]) -> str:
    """'; did you mean ...?' for an id that differs from a known one only in leading zeros, else the closest."""
    same = sorted(k for k in known if k.lstrip("0") == bad.lstrip("0"))
    close = same or difflib.get_close_matches(bad, sorted(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else f"; valid ids: {', '.join(sorted(known)[:8])}"


def scenario_from_dict(data: dict, *, base_dir: Path | None = None, source: str = "scenario") -> Scenario:
    """Validate a plain dict (as parsed from TOML) into a :class:`Scenario`.

    Every problem is collected; one :class:`ScenarioError` lists them all.
    """
    problems: list[str] = []
    s = _build(Scenario, data, "", problems)
    if not problems:
        _cross_checks(s, problems)
        _check_phasing(s, problems)
        _check_budget(s, problems)
    if problems:
        err = ScenarioError(f"{source}: " + problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
        err.problems = problems
        raise err
    s.base_dir = base_dir or Path.cwd()
    s.title = clean_text(s.title)  # no control or bidi override characters in any output
    return s


def load_scenario(path: str | Path | None = None, *, overrides: dict | None = None) -> Scenario:
    """Load a scenario TOML file (``None``: the embedded Qingdao default).

    ``overrides`` maps dotted keys (``"pon.split_ratio"``) to values, applied
    before validation (used by ``rollout sweep``).
    """
    data: dict = {}
    base = Path.cwd()
    source = "default scenario"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise ScenarioError(f"{path}: file not found")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"{path}: not valid TOML ({exc})") from None
        base = path.resolve().parent
    for dotted, value in (overrides or {}).items():
        node = data
        *head, last = dotted.split(".")
        for k in head:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ScenarioError(f"{source}: cannot set '{dotted}'")
        node[last] = value
    return scenario_from_dict(data, base_dir=base, source=source)


# --------------------------------------------------------------------------- writing

def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def _doc_line(f) -> str:
    m = f.metadata
    bits = [m.get("doc", "")]
    if m.get("unit"):
        bits.append(f"[{m['unit']}]")
    if m.get("choices"):
        bits.append(f"one of: {', '.join(m['choices'])}.")
    if m.get("lo") is not None or m.get("hi") is not None:
        bits.append(f"range: {'' if m.get('lo') is None else m['lo']}..{'' if m.get('hi') is None else m['hi']}.")
    return "# " + " ".join(b for b in bits if b)


def _emit(obj, prefix: str, lines: list[str]) -> None:
    tables = []
    for f in _public_fields(type(obj)):
        v = getattr(obj, f.name)
        if dataclasses.is_dataclass(v) and not isinstance(v, ByClutter):
            tables.append((f, v))
            continue
        lines.append(_doc_line(f))
        if isinstance(v, ByClutter):
            v = v.as_dict()
        lines.append(f"{f.name} = {_toml_value(v)}")
    for f, v in tables:
        lines.append("")
        lines.append(_doc_line(f))
        lines.append(f"[{prefix}{f.name}]")
        _emit(v, f"{prefix}{f.name}.", lines)


#: what a city's own input files hold: the head of every ``rollout scenario init`` file
INPUT_FILES_DOC = """\
# Inputs of a city. Without data.boundaries and data.districts the embedded Qingdao default is planned.
# Another city needs two files, joined on one id column (data.id_field):
#
#   data.boundaries   district polygons: GeoPackage, GeoJSON or Shapefile, saved with a CRS (any; GCJ-02
#                     lon/lat: set boundary_coords = "gcj02").
#                     required: the id column, polygon geometry (districts must not overlap)
#                     optional: name_zh, name_en (used where the table has no names)
#   data.districts    a CSV district table, one row per district.
#                     required: the id column (the same ids as the boundaries), population (residents)
#                     optional: name_zh, name_en (or name), households (else population / 2.62, with a
#                     warning), area_km2 (official area, shown beside the measured one)
#   data.id_field     the id column. If the files lack it, the one column whose ids match in both files is
#                     used (a warning names it); with none or several, validation asks for it.
#   data.cores        optional but advised: a CSV of the towns, with the id column, lon, lat[, weight].
#                     Without it each district's modelled demand is centred on its polygon's
#                     representative point (a warning says so).
#
# Check the files with `rollout validate my.toml`; plan with `rollout plan my.toml --out DIR`."""


def default_toml() -> str:
    """The fully commented default scenario, generated from the declarations above."""
    lines = ["# Rollout scenario. Every key is optional; shown here with its default.",
             "# Relative paths resolve against this file's folder.", "", *INPUT_FILES_DOC.splitlines(), ""]
    _emit(Scenario(), "", lines)
    return "\n".join(lines) + "\n"
