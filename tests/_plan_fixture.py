"""Synthetic saved plans for the maps / report / export tests and the map benchmark.

``make_plan()`` builds a small, deterministic :class:`rollout.plan.Plan` around
Qingdao: five districts (one a MultiPolygon with an island, one with a hole),
stations, OLT sites, feeder and backhaul links and H3 demand hexagons, with
hostile names in every place a user string can reach. ``make_plan(35_000,
15_000)`` builds the benchmark-sized plan. Nothing here solves anything.

With ``network=True`` (the default) the plan also carries the optional radio and
ODN parts of the saved-plan contract (see :mod:`maps.network`): ``radio``
(link budget, a modelled existing network), ``coverage.evaluation`` and an
``rsrp`` lattice layer, ``pon.optical_budget`` and ``pon.bill_of_quantities``,
a ``splitters`` layer, and links of kind feeder (tree edges OLT -> cabinets),
distribution (cabinet -> cell) and backhaul (with its carrier). With
``network=False`` the plan is the older shape (feeder = cell -> OLT, none of
those parts). :func:`save_plan` writes the parts a ``Plan`` does not save itself.
"""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree
from shapely.geometry import MultiPolygon, Polygon, box

from gis.layers import Layers
from gis.trees import feeder_tree
from rollout.plan import LAYERS, Plan, SolveStats

# A name that runs script if it is ever inserted as HTML (and sets a flag the browser test reads).
HOSTILE = '<img src=x onerror="window.__xss=1">'
HOSTILE_PLAIN = "<img src=x onerror=alert(1)>"
HOSTILE_ZH = '市南区 & "quoted" \'single\' </script><script>window.__xss=2</script>'
HOSTILE_SITE = "<b>S-hostile</b>&amp;"
HOSTILE_OFFICE = "]]><x>&"
HOSTILE_TITLE = "Qingdao <script>window.__xss=3</script> & plan"

CLUTTERS = ("dense_urban", "urban", "suburban", "rural")

# (district_id, name_zh, name_en, (w, s, e, n), population)
DISTRICTS = (
    ("370202", HOSTILE_ZH, HOSTILE_PLAIN, (120.30, 36.04, 120.45, 36.12), 486_643),
    ("370212", "崂山区", HOSTILE, (120.45, 36.04, 120.65, 36.25), 502_370),
    ("370214", "城阳区", "Chengyang", (120.30, 36.12, 120.45, 36.38), 1_109_606),
    ("370211", "黄岛区", "Huangdao", (119.95, 35.85, 120.25, 36.05), 1_903_595),
    ("370215", "即墨区", "Jimo", (120.45, 36.25, 120.65, 36.50), 1_336_077),
)
CLEAN_NAMES = {"370202": ("市南区", "Shinan"), "370212": ("崂山区", "Laoshan")}


def _district_geom(i: int, bbox) -> Polygon | MultiPolygon:
    w, s, e, n = bbox
    outer = Polygon([(w, s), ((w + e) / 2, s - 0.002), (e, s), (e, n), (w, n)])
    if i == 3:  # an island off Huangdao
        return MultiPolygon([outer, box(e - 0.05, s - 0.06, e - 0.02, s - 0.03)])
    if i == 4:  # a lake inside Jimo
        cx, cy = (w + e) / 2, (s + n) / 2
        return Polygon(outer.exterior.coords, [box(cx - 0.01, cy - 0.01, cx + 0.01, cy + 0.01).exterior.coords[::-1]])
    return outer


def make_plan(n_stations: int = 50, n_cells: int = 40, *, seed: int = 0, n_olt: int | None = None,
              years: bool = True, hostile: bool = True, h3_res: int | None = None, network: bool = True,
              rsrp_res: int = 8) -> Plan:
    """A deterministic synthetic plan (see the module docstring).

    ``rsrp_res`` is the H3 resolution of the RSRP lattice (8: ~1,000 points; 10: ~190,000 points,
    district 0 one resolution finer, for the benchmark).
    """
    rng = np.random.default_rng(seed)
    districts = _districts(hostile)
    boxes = [d[3] for d in DISTRICTS]
    demand, cxy = _demand(rng, boxes, n_cells, h3_res if h3_res is not None else (7 if n_cells <= 400 else 9))
    olt, tree = _olt_sites(rng, boxes, n_olt if n_olt is not None else max(4, n_stations // 12), hostile)
    cell_olt = tree.query(np.c_[cxy[:, 0] * 0.81, cxy[:, 1]])[1] if len(demand) else np.zeros(0, int)
    office_ids = olt["office_id"].tolist()
    demand["olt_id"] = [office_ids[k] for k in cell_olt]
    demand.loc[demand.index[-1], "olt_id"] = None  # one cell without fibre
    stations, near, straight = _stations(rng, boxes, n_stations, olt, tree, years=years, hostile=hostile)
    links = _links(stations, olt, demand, cxy, cell_olt, near, straight)
    _district_figures(districts, stations, olt, rng)
    capex = float(districts["capex_cny"].sum())
    count, ports = stations["count"].to_numpy(), olt["ports"].to_numpy()
    scenario = {
        "title": HOSTILE_TITLE if hostile else "Synthetic Qingdao plan",
        "data": {"boundaries": "", "districts": "", "demand": "modelled", "existing_sites": "sites_<b>.csv"},
        "radio": {"target_stations": int(count.sum()), "radius_m": {"dense_urban": 250.0, "urban": 450.0,
                                                                   "suburban": 1000.0, "rural": 2500.0},
                  "macro": {"capex_cny": 400000.0, "capacity_mbps": 2000.0}},
        "pon": {"target_ports": int(ports.sum()), "port_cost_cny": 1900.0, "reach_km": 20.0},
        "solver": {"name": "cbc", "time_limit_s": 120.0, "gap_rel": 0.005},
    }
    plan = Plan(
        title=scenario["title"], stations=stations, olt_sites=olt, links=links, districts=districts, demand=demand,
        totals={"capex_cny": capex, "stations_5g": int(count.sum()), "pon_ports": int(ports.sum())},
        coverage={"population_covered_share": 0.86}, pon={"split_ratio": 64},
        solves=_solves(capex),
        demand_source="modelled (census district totals spread around urban cores; <not measured>)",
        scenario=scenario, years=_years(stations) if years else [],
        extra={"joint_vs_sequential": {"joint_capex_cny": capex, "sequential_capex_cny": capex * 1.04,
                                       "rounds": 3}},
    )
    if network:
        _add_network(plan, rng, cxy, cell_olt, rsrp_res=rsrp_res, hostile=hostile)
    return plan


# ---------------------------------------------------------------------- radio and ODN parts (issues 9, 10)
THRESHOLD_DBM = -95.0
LINK_BUDGET = [
    {"type": t, "band_mhz": 3500.0, "clutter": c, "mapl_db": mapl, "radius_m": r}
    for t, rows in (("macro", (("dense_urban", 128.4, 236.0), ("urban", 133.1, 352.0), ("suburban", 138.0, 690.0),
                               ("rural", 146.2, 1480.0))),
                    ("small", (("dense_urban", 121.0, 92.0), ("urban", 124.5, 131.0))))
    for c, mapl, r in rows
]
OPTICAL_BUDGET = [
    {"split": split, "class": cls, "budget_db": budget, "loss_db_fixed": fixed, "db_per_km": 0.4,
     "max_route_km": round((budget - fixed) / 0.4, 1)}
    for split, fixed in (("1:8x1:8", 25.9), ("1:32", 19.9)) for cls, budget in (("N1", 29.0), ("N2", 31.0))
]


def _add_network(plan: Plan, rng, cxy, cell_olt, *, rsrp_res: int, hostile: bool) -> None:
    """The optional radio and ODN parts of the contract, added to ``plan`` in place."""
    plan.radio = {"link_budget": [dict(r) for r in LINK_BUDGET],
                  "existing_source": "modelled: least-cost network of the end-2021 count <20,000>"}
    plan.rsrp = _rsrp_lattice(rng, plan.stations, rsrp_res)
    plan.coverage = {**plan.coverage, "evaluation": _evaluation(plan.rsrp, plan.districts)}
    plan.splitters, feeder, dist_links = _odn(plan.demand, cxy, cell_olt, plan.olt_sites, hostile)
    links = plan.links[plan.links["kind"] == "backhaul"].copy()
    k = np.arange(len(links)) % 4
    links["carrier"] = np.where(k == 0, "ring", np.where(k == 1, "spur", "pon"))
    plan.links = gpd.GeoDataFrame(pd.concat([links, feeder, dist_links], ignore_index=True), geometry="geometry",
                                  crs=4326)
    plan.pon = {**plan.pon, "optical_budget": [dict(r) for r in OPTICAL_BUDGET],
                "bill_of_quantities": _bill_of_quantities(plan)}


def _rsrp_lattice(rng, stations, res: int) -> gpd.GeoDataFrame:
    """H3 lattice centres over the district boxes (district 0 one resolution finer from res 10), RSRP by distance."""
    cells, dids = [], []
    for i, (did, _, _, b, _) in enumerate(DISTRICTS):
        r = res + 1 if (i == 0 and res >= 10) else res
        shape = h3.LatLngPoly([(b[1], b[0]), (b[1], b[2]), (b[3], b[2]), (b[3], b[0])])
        got = sorted(h3.polygon_to_cells(shape, r))
        cells += got
        dids += [did] * len(got)
    ll = np.array([h3.cell_to_latlng(c) for c in cells], dtype=float).reshape(-1, 2)
    x, y = ll[:, 1], ll[:, 0]
    tree = cKDTree(np.c_[stations["lon"].to_numpy() * 90_000.0, stations["lat"].to_numpy() * 111_000.0])
    d_m = tree.query(np.c_[x * 90_000.0, y * 111_000.0])[0]
    rsrp = -75.0 - 30.0 * np.log10(np.maximum(d_m, 30.0) / 1000.0) + rng.normal(0, 3, len(cells))
    rsrp = np.round(np.clip(rsrp, -140.0, -44.0), 1)
    rsrp[d_m > 9_000] = -np.inf          # no station in reach
    area = np.array([h3.cell_area(c, "km^2") for c in cells])
    return gpd.GeoDataFrame({
        "h3": cells, "district_id": dids, "clutter": rng.choice(CLUTTERS, len(cells)),
        "population": rng.gamma(1.5, 40.0, len(cells)).round(1), "area_km2": area.round(5),
        "rsrp_dbm": rsrp, "covered": rsrp >= THRESHOLD_DBM,
    }, geometry=gpd.points_from_xy(x, y), crs=4326)


def _evaluation(rsrp: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> dict:
    """``coverage.evaluation`` recomputed from the lattice, as the planner writes it."""
    cov = rsrp["covered"].to_numpy()
    area, pop = rsrp["area_km2"].to_numpy(), rsrp["population"].to_numpy()
    by = []
    for did, name in zip(districts["district_id"], districts["name_en"], strict=True):
        m = (rsrp["district_id"] == did).to_numpy()
        by.append({"district_id": did, "name": name, "points": int(m.sum()),
                   "area_share": float(area[m & cov].sum() / area[m].sum()),
                   "population_share": float(pop[m & cov].sum() / pop[m].sum())})
    v = rsrp["rsrp_dbm"].to_numpy()
    edges = np.arange(-130.0, -49.0, 10.0)
    hist = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (v >= lo) & (v < hi) if lo > edges[0] else v < hi   # the first bin holds everything weaker
        hist.append({"dbm_lo": float(lo), "dbm_hi": float(hi), "points": int(m.sum()),
                     "population": float(pop[m].sum())})
    hist[-1]["points"] += int((v >= edges[-1]).sum())
    hist[-1]["population"] += float(pop[v >= edges[-1]].sum())
    hist[0]["dbm_lo"], hist[-1]["dbm_hi"] = -np.inf, np.inf   # open-ended (saved as null in plan.json)
    return {"threshold_dbm": THRESHOLD_DBM, "points": int(len(rsrp)),
            "area_share": float(area[cov].sum() / area.sum()), "population_share": float(pop[cov].sum() / pop.sum()),
            "by_district": by, "rsrp_histogram": hist}


def _odn(demand, cxy, cell_olt, olt, hostile: bool):
    """Cabinets (primary 1:8) for up to 8 homed cells of one OLT, a secondary 1:8 per cell, and the fibre."""
    homed = np.flatnonzero(demand["olt_id"].notna().to_numpy())
    office = olt["office_id"].to_numpy()
    ox, oy = olt["lon"].to_numpy(), olt["lat"].to_numpy()
    rows, feeder, dist = [], [], []
    for k in np.unique(cell_olt[homed]):
        mine = homed[cell_olt[homed] == k]
        mine = mine[np.argsort(np.arctan2(cxy[mine, 1] - oy[k], cxy[mine, 0] - ox[k]))]
        groups = [mine[g:g + 8] for g in range(0, len(mine), 8)]
        cab_xy = np.array([cxy[g].mean(axis=0) for g in groups])
        cab_ids = [f"CAB-{k:04d}-{j}" for j in range(len(groups))]
        tree = feeder_tree(np.r_[[[ox[k] * 90_000.0, oy[k] * 111_000.0]], cab_xy * [90_000.0, 111_000.0]],
                           route_factor=1.3)
        pts = np.r_[[[ox[k], oy[k]]], cab_xy]
        ids = [office[k]] + cab_ids
        for j in range(1, len(pts)):
            p = int(tree.parent[j])
            feeder.append({"kind": "feeder", "from_id": ids[p], "to_id": ids[j],
                           "straight_km": tree.edge_m[j] / 1.3e3, "route_km": tree.edge_m[j] / 1e3,
                           "capex_cny": tree.edge_m[j] / 1e3 * 90_000.0, "geometry": shapely.LineString([pts[p], pts[j]])})
        for j, g in enumerate(groups):
            did = demand["district_id"].iloc[g[0]]
            rows.append({"splitter_id": cab_ids[j], "olt_id": office[k], "kind": "primary", "ratio": "1:8",
                         "lines": float(demand["onts"].iloc[g].sum().round(1)), "district_id": did,
                         "geometry": shapely.Point(cab_xy[j])})
            for c in g:
                km = float(np.hypot(*((cxy[c] - cab_xy[j]) * [90.0, 111.0])))
                rows.append({"splitter_id": f"SEC-{demand['cell_id'].iloc[c]}", "olt_id": office[k],
                             "kind": "secondary", "ratio": "1:8", "lines": float(demand["onts"].iloc[c]),
                             "district_id": demand["district_id"].iloc[c], "geometry": shapely.Point(cxy[c])})
                dist.append({"kind": "distribution", "from_id": cab_ids[j], "to_id": demand["cell_id"].iloc[c],
                             "straight_km": km, "route_km": km * 1.3, "capex_cny": km * 1.3 * 60_000.0,
                             "geometry": shapely.LineString([cab_xy[j], cxy[c]])})
    if hostile and rows:
        rows[0]["splitter_id"] = HOSTILE_SITE.replace("S-", "CAB-")
    cols = ["kind", "from_id", "to_id", "straight_km", "route_km", "capex_cny", "geometry"]
    splitters = gpd.GeoDataFrame(rows, geometry="geometry", crs=4326) if rows else gpd.GeoDataFrame(
        {c: [] for c in ("splitter_id", "olt_id", "kind", "ratio", "lines", "district_id")},
        geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    return (splitters, gpd.GeoDataFrame(feeder, columns=cols, geometry="geometry", crs=4326),
            gpd.GeoDataFrame(dist, columns=cols, geometry="geometry", crs=4326))


def _bill_of_quantities(plan: Plan) -> dict:
    olt, links, sp = plan.olt_sites, plan.links, plan.splitters
    km = links.groupby("kind")["route_km"].sum()
    new = olt["new"].to_numpy()
    homed = plan.demand["olt_id"].notna().to_numpy()
    homes = float(plan.demand["households"].to_numpy()[homed].sum())
    pon_cny = float(olt["capex_cny"].sum() + links.loc[links["kind"] != "backhaul", "capex_cny"].sum())
    return {"olt_sites_new": int(new.sum()), "olt_sites_upgraded": int((~new & (olt["ports_new"] > 0)).sum()),
            "olt_chassis_new": int(olt.loc[new, "chassis"].sum()),
            "olt_cards": int(np.ceil(olt["ports_new"].to_numpy() / 16).sum()), "ports": int(olt["ports"].sum()),
            "splitters": {str(r): int(n) for r, n in sp["ratio"].value_counts().sort_index().items()},
            "fibre_km": {k: float(km.get(k, 0.0)) for k in ("feeder", "distribution", "backhaul")},
            "trench_km": float(km.get("feeder", 0.0) + 0.8 * km.get("distribution", 0.0)),
            "homes_passed": homes, "cost_per_home_passed_cny": pon_cny / homes if homes else None}


def _districts(hostile: bool) -> gpd.GeoDataFrame:
    rows = []
    for i, (did, zh, en, bbox, pop) in enumerate(DISTRICTS):
        if not hostile and did in CLEAN_NAMES:
            zh, en = CLEAN_NAMES[did]
        rows.append({"district_id": did, "name_zh": zh, "name_en": en, "population": pop,
                     "households": int(round(pop / 2.55)), "geometry": _district_geom(i, bbox)})
    districts = gpd.GeoDataFrame(rows, crs=4326)
    utm = districts.to_crs(32651)
    districts["area_km2"] = (utm.area / 1e6).round(2)
    districts.loc[2, "area_km2"] = np.nan  # official area unknown: maps must measure it
    return districts


def _area_weights(boxes) -> np.ndarray:
    areas = np.array([(b[2] - b[0]) * (b[3] - b[1]) for b in boxes])
    return areas / areas.sum()


def _demand(rng, boxes, n_cells: int, res: int) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """H3 demand hexagons picked at random in the districts, and their centres (lon, lat)."""
    cells = []
    for i, b in enumerate(boxes):
        shape = h3.LatLngPoly([(b[1], b[0]), (b[1], b[2]), (b[3], b[2]), (b[3], b[0])])
        cells += [(c, DISTRICTS[i][0]) for c in sorted(h3.polygon_to_cells(shape, res))]
    pick = np.sort(rng.choice(len(cells), size=min(n_cells, len(cells)), replace=False))
    cells = [cells[k] for k in pick]
    bnd = np.array([h3.cell_to_boundary(c) for c, _ in cells], dtype=float).reshape(-1, 6, 2)
    geoms = shapely.polygons(bnd[..., ::-1]) if len(cells) else []
    cxy = np.array([h3.cell_to_latlng(c)[::-1] for c, _ in cells], dtype=float).reshape(-1, 2)
    nc = len(cells)
    pop = rng.gamma(2.0, 800.0, nc).round(1)
    clutter = rng.choice(CLUTTERS, size=nc, p=[0.2, 0.3, 0.3, 0.2])
    demand = gpd.GeoDataFrame({
        "cell_id": [c for c, _ in cells], "district_id": [d for _, d in cells], "clutter": clutter,
        "population": pop, "households": (pop / 2.55).round(1), "traffic_mbps": (pop * 0.3).round(2),
        "onts": (pop / 2.55 * 0.85).round(1),
        "radius_m": np.select([clutter == c for c in CLUTTERS], [250.0, 450.0, 1000.0, 2500.0]),
        "covered": rng.random(nc) < 0.85, "stations_within": rng.integers(0, 5, nc),
    }, geometry=geoms, crs=4326)
    return demand, cxy


def _olt_sites(rng, boxes, n_olt: int, hostile: bool) -> tuple[gpd.GeoDataFrame, cKDTree]:
    """OLT sites at random in the districts, and a KD-tree on them (roughly equal-distance axes at 36 N)."""
    od = rng.choice(len(boxes), size=n_olt, p=_area_weights(boxes))
    bb = np.array(boxes)
    ox = rng.uniform(bb[od, 0], bb[od, 2])
    oy = rng.uniform(bb[od, 1], bb[od, 3])
    tree = cKDTree(np.c_[ox * 0.81, oy])
    ports = rng.integers(16, 272, n_olt)
    onew = rng.random(n_olt) < 0.4
    office_ids = [f"OLT-{i:04d}" for i in range(n_olt)]
    if hostile:
        office_ids[0] = HOSTILE_OFFICE
    olt = gpd.GeoDataFrame({
        "office_id": office_ids, "district_id": [DISTRICTS[k][0] for k in od],
        "district": [DISTRICTS[k][2] for k in od], "new": onew, "ports": ports,
        "ports_new": np.where(onew, ports, rng.integers(0, 32, n_olt)), "chassis": np.ceil(ports / 272).astype(int),
        "onts": ports * 40, "capex_cny": (np.where(onew, 300_000, 0) + ports * 1900 + 150_000).astype(float),
        "site_cny": np.where(onew, 300_000.0, 0.0), "chassis_cny": 150_000.0, "ports_cny": ports * 1900.0,
        "build_year": np.where(onew, 2026, 0), "lon": ox, "lat": oy,
    }, geometry=gpd.points_from_xy(ox, oy), crs=4326)
    return olt, tree


def _stations(rng, boxes, n_stations: int, olt, tree, *, years: bool,
              hostile: bool) -> tuple[gpd.GeoDataFrame, np.ndarray, np.ndarray]:
    """Stations at random in the districts, the row of their nearest OLT site and the straight km to it."""
    sd = rng.choice(len(boxes), size=n_stations, p=_area_weights(boxes))
    bb = np.array(boxes)
    sx = rng.uniform(bb[sd, 0] + 0.001, bb[sd, 2] - 0.001)
    sy = rng.uniform(bb[sd, 1] + 0.001, bb[sd, 3] - 0.001)
    typ = np.where(rng.random(n_stations) < 0.7, "macro", "small")
    new = rng.random(n_stations) < 0.6
    count = np.where((typ == "small") & (rng.random(n_stations) < 0.3), 2, 1)
    eq = np.where(new, np.where(typ == "macro", 400_000.0, 60_000.0), 0.0) * count
    near = tree.query(np.c_[sx * 0.81, sy])[1]
    ox, oy = olt["lon"].to_numpy(), olt["lat"].to_numpy()
    straight = np.hypot((ox[near] - sx) * 90.0, (oy[near] - sy) * 111.0)
    bh_km = np.where(new, straight * 1.4, 0.0)
    cap = np.where(typ == "macro", 2000.0, 300.0) * count
    util = np.clip(rng.beta(2.5, 2.0, n_stations) * 1.15, 0, None)
    site_ids = [f"S{i:06d}" for i in range(n_stations)]
    if hostile:
        site_ids[0] = HOSTILE_SITE
    byear = np.where(new, rng.choice([2026, 2027, 2028], n_stations), 0) if years else np.zeros(n_stations, int)
    stations = gpd.GeoDataFrame({
        "site_id": site_ids, "district_id": [DISTRICTS[k][0] for k in sd],
        "district": [DISTRICTS[k][2] for k in sd], "type": typ, "count": count, "new": new,
        "capex_cny": eq + bh_km * 80_000.0, "equipment_cny": eq, "backhaul_km": bh_km.round(3),
        "backhaul_cny": bh_km * 80_000.0, "backhaul_to": olt["office_id"].to_numpy()[near].tolist(),
        "clutter": rng.choice(CLUTTERS, n_stations), "carried_mbps": (util * cap).round(1),
        "capacity_mbps": cap, "utilisation": util.round(4), "build_year": byear, "lon": sx, "lat": sy,
    }, geometry=gpd.points_from_xy(sx, sy), crs=4326)
    if n_stations > 3:
        stations.loc[3, "utilisation"] = np.nan
    return stations, near, straight


def _links(stations, olt, demand, cxy, cell_olt, near, straight) -> gpd.GeoDataFrame:
    """Backhaul (new station -> nearest OLT) and feeder (homed cell -> its OLT) lines."""
    office_ids = olt["office_id"].to_numpy()
    ox, oy = olt["lon"].to_numpy(), olt["lat"].to_numpy()
    sx, sy = stations["lon"].to_numpy(), stations["lat"].to_numpy()
    bi = np.flatnonzero(stations["new"].to_numpy())
    backhaul = gpd.GeoDataFrame({
        "kind": "backhaul", "from_id": stations["site_id"].to_numpy()[bi].tolist(),
        "to_id": office_ids[near[bi]].tolist(),
        "straight_km": straight[bi], "route_km": straight[bi] * 1.4, "capex_cny": straight[bi] * 1.4 * 80_000.0,
    }, geometry=shapely.linestrings(np.stack([np.c_[sx[bi], sy[bi]], np.c_[ox[near[bi]], oy[near[bi]]]], axis=1)),
        crs=4326)
    fi = np.flatnonzero(demand["olt_id"].notna().to_numpy())
    fk = cell_olt[fi]
    fkm = np.hypot((ox[fk] - cxy[fi, 0]) * 90.0, (oy[fk] - cxy[fi, 1]) * 111.0)
    feeder = gpd.GeoDataFrame({
        "kind": "feeder", "from_id": demand["cell_id"].to_numpy()[fi], "to_id": office_ids[fk].tolist(),
        "straight_km": fkm, "route_km": fkm * 1.4, "capex_cny": fkm * 1.4 * 90_000.0,
    }, geometry=shapely.linestrings(np.stack([cxy[fi], np.c_[ox[fk], oy[fk]]], axis=1)), crs=4326)
    return gpd.GeoDataFrame(pd.concat([backhaul, feeder], ignore_index=True), geometry="geometry", crs=4326)


def _district_figures(districts, stations, olt, rng) -> None:
    """The planner's per-district KPI columns, added to ``districts`` in place."""
    ids = districts["district_id"]
    w = pd.Series(stations["count"].to_numpy())
    districts["stations_5g"] = [int(w[(stations["district_id"] == d).to_numpy()].sum()) for d in ids]
    districts["stations_5g_new"] = [int(w[((stations["district_id"] == d) & stations["new"]).to_numpy()].sum())
                                    for d in ids]
    districts["pon_ports"] = [int(olt.loc[olt["district_id"] == d, "ports"].sum()) for d in ids]
    districts["olt_sites"] = [int((olt["district_id"] == d).sum()) for d in ids]
    districts["capex_cny"] = [float(stations.loc[stations["district_id"] == d, "capex_cny"].sum()
                                    + olt.loc[olt["district_id"] == d, "capex_cny"].sum()) for d in ids]
    districts["population_covered_share"] = rng.uniform(0.7, 1.0, len(districts)).round(4)


def _solves(capex: float) -> list[SolveStats]:
    return [
        SolveStats(part="5g", name="cbc", status="optimal", objective=capex * 0.8, bound=capex * 0.8, gap=0.0,
                   seconds=3.2, build_seconds=0.4, variables=1200, integer_variables=1100, constraints=900,
                   nonzeros=5000, time_limit_s=120.0, gap_rel_requested=0.005),
        SolveStats(part="pon", name="cbc", status="feasible", objective=capex * 0.2, bound=capex * 0.2 * 0.9877,
                   gap=0.0123, seconds=120.0, build_seconds=0.9, variables=3000, integer_variables=2500,
                   constraints=4000, nonzeros=12000, time_limit_s=120.0, gap_rel_requested=0.005,
                   notes="stopped at the time limit <i>with</i> an incumbent"),
    ]


def _years(stations) -> list[dict]:
    new, byear = stations["new"].to_numpy(), stations["build_year"].to_numpy()
    count, eq = stations["count"].to_numpy(), stations["equipment_cny"].to_numpy()
    return [{"year": yr, "stations_new": int(count[new & (byear == yr)].sum()),
             "capex_cny": float(eq[new & (byear == yr)].sum()), "budget_cny": 5e8,
             "population_covered_share": 0.8 + 0.05 * (yr - 2026)} for yr in (2026, 2027, 2028)]


def save_plan(out_dir, **kw) -> Path:
    """Make and save a synthetic plan into ``out_dir``; return the folder."""
    return save_with_network(make_plan(**kw), out_dir)


def save_with_network(plan: Plan, out_dir) -> Path:
    """``plan.save``, then the contract parts this ``Plan`` does not save itself (``radio``, ``rsrp``, ``splitters``).

    Once :mod:`rollout.plan` saves them, this writes nothing more.
    """
    import json

    out = Path(plan.save(out_dir))
    for name in ("rsrp", "splitters"):
        gdf = getattr(plan, name, None)
        if gdf is not None and name not in LAYERS:
            gdf = gdf.copy()
            if "covered" in gdf:
                gdf["covered"] = gdf["covered"].astype("int8")
            gdf.to_file(out / "plan.gpkg", layer=name, driver="GPKG", engine="pyogrio")
    summary = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    if getattr(plan, "radio", None) and "radio" not in summary:
        summary["radio"] = plan.radio
        (out / "plan.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    return out


def make_layers_gpkg(path, *, seed: int = 0, demand_source: str = "modelled (census)") -> Path:
    """A small layers.gpkg written by :meth:`gis.layers.Layers.to_gpkg`, as ``rollout layers`` writes it."""
    plan = make_plan(60, 40, seed=seed)
    rng = np.random.default_rng(seed)
    d = plan.districts[["district_id", "name_zh", "name_en", "population", "households", "area_km2", "geometry"]].copy()
    d["area_km2_measured"] = d.to_crs(32651).area / 1e6
    dem = plan.demand[["cell_id", "district_id", "clutter", "population", "households", "traffic_mbps", "onts",
                       "radius_m", "geometry"]].copy()
    dem["h3_res"] = 7
    c = plan.stations[["site_id", "district_id", "clutter", "lon", "lat", "geometry"]].copy()
    c["source"] = rng.choice(["grid", "user", "existing"], len(c))
    c["existing_macro"] = (c["source"] == "existing").astype(int)
    c["existing_small"] = 0
    o = plan.olt_sites[["office_id", "district_id", "lon", "lat", "geometry"]].copy()
    o["clutter"] = "urban"
    o["existing"] = rng.random(len(o)) < 0.5
    o["existing_ports"] = np.where(o["existing"], rng.integers(16, 200, len(o)), 0)
    hot = gpd.GeoDataFrame({"name": [HOSTILE, "Sino-German Ecopark"], "district_id": ["370211", "370211"],
                            "approximate": [True, False], "enterprise_lines": [1200.0, 800.0]},
                           geometry=[box(120.05, 35.92, 120.09, 35.96), box(120.12, 35.90, 120.15, 35.93)], crs=4326)
    pairs = pd.DataFrame({"cell": np.arange(3, dtype=np.int64), "site": np.arange(3, dtype=np.int64),
                          "dist_m": np.zeros(3)})
    layers = Layers(districts=d, demand=dem, candidates=c, offices=o, pairs=pairs, hotspots=hot,
                    crs_metric="EPSG:32651", demand_source=demand_source)
    return layers.to_gpkg(path)
