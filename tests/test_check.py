"""The tamper suite of ``rollout check``: a small city is planned once per module, each test edits a copy of
the saved plan (its GeoPackage or its JSON) and asserts that the check fails naming the invariant.

The check must recompute from the scenario stored in plan.json and the geometry; none of these edits
may get through, including the three combined forgeries that fooled the old check (issue 11).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst
from scipy.optimize import linprog

from gis.errors import InputError
from rollout.check import INVARIANTS, PlanFormatError, check_plan, max_flow_served, radius_m
from rollout.cli import main
from gis.build import layers_from_scenario
from rollout.pipeline import plan_from_scenario
from rollout.scenario import scenario_from_dict
from tests._gis_fixtures import second_city_scenario

# small and quick: one cost stage per model, one thread (the same plan every run)
FAST = {"radio": {"target_stations": 300, "surplus": "none"}, "pon": {"target_ports": 600},
        "solver": {"time_limit_s": 20, "gap_rel": 0.02, "threads": 1}}
PHASED = {"phasing": {"years": [2022, 2023], "stations_cumulative": [150, 300], "budget_cny": [1.5e8, 1.5e8]}}
BUDGET = {"budget": {"capex_cny": 5e6}, "pon": {"enabled": False}}  # budget mode plans 5G only (a port target is refused)
UTM = 32632  # the second city lies near Munich


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """Plans of the second city: single period, phased over two years, and budget mode."""
    folder = tmp_path_factory.mktemp("city")
    layers = layers_from_scenario(second_city_scenario(folder, scenario=FAST))
    out = {}
    for name, extra in (("plan", {}), ("phased", PHASED), ("budget", BUDGET)):
        sc = second_city_scenario(folder, scenario={**FAST, **extra})
        plan_from_scenario(sc, layers=layers).save(folder / name)
        out[name] = folder / name
    return out


def copy(city, tmp_path, which: str = "plan") -> Path:
    dst = tmp_path / which
    shutil.copytree(city[which], dst)
    return dst


def failed(folder: Path) -> dict[str, str]:
    return {c.name: c.detail for c in check_plan(folder) if not c.ok}


def read_layers(folder: Path) -> dict[str, gpd.GeoDataFrame]:
    """Every layer the GeoPackage holds (the optional ones too: dropping splitters would fail capex_sum)."""
    import pyogrio

    names = [n for n, _ in pyogrio.list_layers(folder / "plan.gpkg")]
    return {n: gpd.read_file(folder / "plan.gpkg", layer=n, engine="pyogrio") for n in names}


def write_layers(folder: Path, layers: dict[str, gpd.GeoDataFrame]) -> None:
    tmp = folder / "edited.gpkg"
    for name, gdf in layers.items():
        gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
    tmp.replace(folder / "plan.gpkg")


def edit_layer(folder: Path, name: str, fn) -> None:
    layers = read_layers(folder)
    layers[name] = fn(layers[name].copy())
    write_layers(folder, layers)


def edit_json(folder: Path, fn) -> None:
    p = folder / "plan.json"
    s = json.loads(p.read_text(encoding="utf-8"))
    fn(s)
    p.write_text(json.dumps(s), encoding="utf-8")


def scenario_of(folder: Path):
    s = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    return scenario_from_dict(s["scenario"], base_dir=Path(s["scenario_dir"]))


def cover_counts(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(cells, stations) matrix of 'station within radius of the cell's planning point', computed here."""
    lay, sc = read_layers(folder), scenario_of(folder)
    d, s = lay["demand"], lay["stations"]
    cells = gpd.GeoSeries(gpd.points_from_xy(d["lon"], d["lat"]), crs=4326).to_crs(UTM)
    sites = s.geometry.to_crs(UTM)
    dx = cells.x.to_numpy()[:, None] - sites.x.to_numpy()[None]
    dy = cells.y.to_numpy()[:, None] - sites.y.to_numpy()[None]
    r = np.array([[radius_m(sc, t, c) for t in s["type"]] for c in d["clutter"]])
    return np.hypot(dx, dy) <= r, s["count"].to_numpy()


# --------------------------------------------------------------------------- untampered plans

@pytest.mark.parametrize("which", ["plan", "phased", "budget"])
def test_untampered_plans_pass_every_check(city, which):
    checks = check_plan(city[which])
    assert not [f"{c.name}: {c.detail}" for c in checks if not c.ok]
    names = {c.name for c in checks}
    common = {"containment", "district_population", "demand_figures", "coverage_reported", "station_load",
              "brownfield", "station_capex", "capex_sum"}
    common |= {"site_limits", "coverage_evaluation"}
    full = common | {"coverage", "station_capacity", "stations_target", "ports_target", "ports_split", "chassis",
                     "reach", "optical_budget", "cabinets", "backhaul_reach"}
    expected = {"plan": full, "phased": full | {"years_targets", "years_budget", "years_monotone"},
                "budget": common | {"budget"}}[which]
    assert names == expected


def test_every_invariant_is_one_registered_function():
    assert len({f.__name__ for f in INVARIANTS}) == len(INVARIANTS)
    assert all(f.__name__.startswith("check_") and f.__doc__ for f in INVARIANTS)


# --------------------------------------------------------------------------- one tamper per invariant

def set_row(gdf: gpd.GeoDataFrame, row: int, **values) -> gpd.GeoDataFrame:
    gdf.loc[row, list(values)] = list(values.values())
    return gdf


def move(gdf: gpd.GeoDataFrame, row: int, dlon: float) -> gpd.GeoDataFrame:
    """Point ``row`` moved ``dlon`` degrees east (geometry and lon column)."""
    x, y = gdf.geometry.x.to_numpy().copy(), gdf.geometry.y.to_numpy().copy()
    x[row] += dlon
    g = gdf.set_geometry(gpd.points_from_xy(x, y, crs=4326))
    return g.assign(lon=x) if "lon" in g else g


def scale(col: str, factor, where=None):
    """A layer edit: ``col`` times ``factor`` on the rows ``where(g)`` selects (all rows by default)."""
    return lambda g: g.assign(**{col: g[col] * np.where(where(g) if where else True, factor, 1)})


def onto_farthest_cell(g):
    """Cell 0's planning point moved onto the farthest cell's (out of its hexagon, still inside the city)."""
    k = int(np.argmax(np.hypot(g["lon"] - g.at[0, "lon"], g["lat"] - g.at[0, "lat"])))
    return set_row(g, 0, lon=g.at[k, "lon"], lat=g.at[k, "lat"])


def halve_busiest_olt(g):
    i = g["ports"].idxmax()
    cut = g.at[i, "ports"] // 2
    return set_row(g, i, ports=g.at[i, "ports"] - cut, ports_new=g.at[i, "ports_new"] - cut)


def least_k_plus_one(folder: Path) -> None:
    """k one above what the least-covered cell has (counted here, independently of rollout.check)."""
    within, counts = cover_counts(folder)
    k = int((within * counts).sum(axis=1).min()) + 1
    edit_json(folder, lambda s: s["scenario"]["radio"].update(k_coverage=k))


def swap_spur_and_anchor_years(g):
    """A small cell's new macro site swaps build years with another new macro built after the small cell (the
    yearly counts are unchanged; only the small cell now comes before the site its backhaul hangs off)."""
    new = g["new"].astype(bool)
    small = g[(g["backhaul_carrier"] == "spur") & new].sort_values("build_year")
    macros = g[(g["type"] == "macro") & new]
    for s in small.index:
        a = macros.index[macros["site_id"].astype(str) == str(small.at[s, "backhaul_to"])]
        later = macros.index[macros["build_year"] > small.at[s, "build_year"]]
        if len(a) and len(later):
            a, b = a[0], later[0]
            ya, yb = g.at[a, "build_year"], g.at[b, "build_year"]
            return set_row(set_row(g, a, build_year=yb), b, build_year=ya)
    raise AssertionError("no small cell with a new macro site and a later macro in the fixture")


def point_a_spur_elsewhere(g):
    """The first spurred small cell's backhaul_to set to the macro farthest from it."""
    s = g.index[g["backhaul_carrier"] == "spur"][0]
    macros = g[g["type"] == "macro"]
    far = ((macros["lon"] - g.at[s, "lon"]) ** 2 + (macros["lat"] - g.at[s, "lat"]) ** 2).idxmax()
    return set_row(g, s, backhaul_to=macros.at[far, "site_id"])


def layer(name, fn):
    return ("layer", name, fn)


def plan_json(fn):
    return ("json", None, fn)


def scenario(section, **values):
    return plan_json(lambda s: s["scenario"][section].update(values))


def totals(key, delta):
    return plan_json(lambda s: s["totals"].update({key: s["totals"][key] + delta}))


#: invariant/variant -> (which saved plan, edits, text the failing detail must hold)
TAMPERS = {
    "containment/station": ("plan", [layer("stations", lambda g: move(g, 0, 0.5))], None),
    "containment/olt": ("plan", [layer("olt_sites", lambda g: move(g, 0, -0.5))], None),
    "containment/planning_point": ("plan", [layer("demand", onto_farthest_cell)], None),
    "district_population/layer": ("plan", [layer("districts", scale("population", 2, lambda g: g.index == 0))], None),
    "district_population/json": ("plan", [plan_json(lambda s: s["districts"][1].update(population=1))], None),
    "district_population/cells": ("plan", [layer("demand", scale("population", 0.9))], None),
    "demand_figures/traffic": ("plan", [layer("demand", scale("traffic_mbps", 0.5))], None),
    "demand_figures/onts": ("plan", [layer("demand", scale("onts", 0.5))], None),
    "demand_figures/households": ("plan", [layer("demand", scale("households", 0.5))], None),
    "coverage/k_from_scenario": ("plan", [("folder", None, least_k_plus_one)], None),
    "coverage_reported/population": ("plan", [plan_json(lambda s: s["coverage"].update(population_covered=1e9))], None),
    "coverage_evaluation/claimed": ("plan", [plan_json(lambda s: s["coverage"]["evaluation"].update(area_share=0.5))],
                                    None),
    "coverage_evaluation/station_moved": ("plan", [layer("stations", lambda g: g.assign(
        lon=g["lon"] + 0.02, geometry=gpd.points_from_xy(g["lon"] + 0.02, g["lat"], crs=4326)))], None),
    "station_capacity/from_scenario": ("plan", [scenario("radio", macro={"capacity_mbps": 50.0},
                                                         small={"capacity_mbps": 50.0})], None),
    "station_load/carried": ("plan", [layer("stations", scale("carried_mbps", 100,
                                                              lambda g: g.index == g["carried_mbps"].idxmax()))], None),
    "site_limits/stacked": ("plan", [layer("stations", lambda g: set_row(g, 0, count=10))], None),
    "site_limits/clutter": ("plan", [scenario("radio", small={"clutters": ["dense_urban"]}),
                                     layer("stations", lambda g: g.assign(type="small"))], None),
    "stations_target/removed": ("plan", [layer("stations", lambda g: g.iloc[5:].reset_index(drop=True))], None),
    "district_limits/both": ("plan", [scenario("radio", district_max={"A1": 1}, district_min={"C3": 10_000})],
                             ("A1", "C3")),
    "budget/lowered": ("budget", [scenario("budget", capex_cny=1e6)], None),
    "ports_target/raised": ("plan", [scenario("pon", target_ports=100_000)], None),
    "ports_split/ports": ("plan", [layer("olt_sites", halve_busiest_olt)], None),
    "ports_split/split_ratio": ("plan", [scenario("pon", split_ratio=32)], None),
    "ports_split/unhomed": ("plan", [layer("links", lambda g: g.drop(index=g.index[g["kind"] == "distribution"][0]))],
                            None),
    # a weaker optics class than planned: the paths are measured again against its budget
    "optical_budget/class": ("plan", [scenario("pon", optics_class="N1")], None),
    # a feeder tree edge dropped: the cabinets below it no longer reach their OLT
    "optical_budget/tree": ("plan", [layer("links", lambda g: g.drop(index=g.index[g["kind"] == "feeder"][0]))], None),
    "chassis/limits": ("plan", [scenario("pon", ports_per_chassis=16, max_chassis_per_site=1)], None),
    # the busiest (modelled, existing) OLT site left with one free card slot and no added chassis
    "chassis/free_slots": ("plan", [layer("olt_sites", lambda g: set_row(
        g, int(g["ports"].idxmax()), free_slots=1, chassis=int(g.at[int(g["ports"].idxmax()), "chassis_existing"])))],
        None),
    "cabinets/capacity": ("plan", [scenario("pon", cabinet_ports=1)], None),
    "reach/scenario": ("plan", [scenario("pon", reach_km=2.0)], None),
    # the busiest OLT site moved ~30 km away: its feeders are measured again from the points
    "reach/geometry": ("plan", [layer("olt_sites", lambda g: move(g, int(g["ports"].idxmax()), 0.4))], None),
    # the SPN/IPRAN ring priced far dearer: the sites stored as ring-carried should have been on PON
    "backhaul_reach/carrier": ("plan", [scenario("pon", ring_cost_cny_per_site=1e9)], None),
    # a stored route km the geometry does not give (its price left alone)
    "backhaul_reach/stored_km": ("plan", [layer("stations", scale("backhaul_km", 3.0))], None),
    # a small cell claimed on its own PON route instead of the spur to its nearest macro site
    "backhaul_reach/spur_carrier": ("plan", [layer("stations", lambda g: g.assign(
        backhaul_carrier=np.where(g["type"] == "small", "pon", g["backhaul_carrier"])))], None),
    # small cells' spurs stored (and priced) 3x longer than the nearest macro site gives
    "backhaul_reach/spur_km": ("plan", [layer("stations", lambda g: g.assign(
        backhaul_km=np.where(g["type"] == "small", 3 * g["backhaul_km"], g["backhaul_km"]),
        backhaul_cny=np.where(g["type"] == "small", 3 * g["backhaul_cny"], g["backhaul_cny"]),
        capex_cny=np.where(g["type"] == "small", g["equipment_cny"] + 3 * g["backhaul_cny"], g["capex_cny"])))],
        None),
    # a small cell pointed at a macro site that is not its nearest (its stored km left at the nearest's)
    "backhaul_reach/spur_anchor": ("plan", [layer("stations", point_a_spur_elsewhere)], None),
    "brownfield/existing": ("plan", [layer("stations", lambda g: set_row(g, 0, new=0, capex_cny=0.0, equipment_cny=0.0,
                                                                       backhaul_cny=0.0))], None),
    **{f"station_capex/{c}": ("plan", [layer("stations", scale(c, 0.5, lambda g, c=c: g.index == g[c].idxmax()))], None)
       for c in ("equipment_cny", "backhaul_cny", "capex_cny")},
    **{f"capex_sum/{k}": ("plan", [totals(k, 1e5)], (k,)) for k in ("capex_cny", "capex_pon_feeder_cny", "capex_5g_cny")},
    "capex_sum/port_price": ("plan", [scenario("pon", port_cost_cny=1.0)], ("capex_pon_ports_cny",)),
    "years_targets/raised": ("phased", [scenario("phasing", stations_cumulative=[299, 300])], None),
    "years_budget/budget": ("phased", [scenario("phasing", budget_cny=[1e6, 1e6])], None),
    # a year reported cheaper than the stations it builds
    "years_budget/floor": ("phased", [plan_json(lambda s: s["years"][0].update(capex_cny=1.0))], None),
    "years_monotone/spur_first": ("phased", [layer("stations", swap_spur_and_anchor_years)], None),
    "years_monotone/build_year": ("phased", [layer("stations", lambda g: g.assign(
        build_year=np.where(g["new"] == 1, 1999, g["build_year"])))], None),
}


def test_every_invariant_has_a_tamper():
    assert {case.split("/")[0] for case in TAMPERS} == {f.__name__.removeprefix("check_") for f in INVARIANTS}


@pytest.mark.parametrize("case", sorted(TAMPERS))
def test_tamper_fails_naming_the_invariant(city, tmp_path, case):
    which, edits, words = TAMPERS[case]
    out = copy(city, tmp_path, which)
    for kind, name, fn in edits:
        if kind == "layer":
            edit_layer(out, name, fn)
        elif kind == "json":
            edit_json(out, fn)
        else:
            fn(out)
    bad = failed(out)
    invariant = case.split("/")[0]
    assert invariant in bad
    assert all(w in bad[invariant] for w in words or ())


# --------------------------------------------------------------------------- the forgeries of issue 11

def test_forgery_a_station_over_capacity_with_its_column_raised(city, tmp_path):
    """A station carrying 5x its capacity, with its capacity_mbps column raised 10x (traffic made to agree)."""
    out = copy(city, tmp_path)
    within, counts = cover_counts(out)
    i = int(np.flatnonzero((within * counts).sum(axis=1) == 1)[0])  # a cell only one station reaches
    j = int(np.flatnonzero(within[i])[0])
    lay = read_layers(out)
    st, d = lay["stations"], lay["demand"]
    cap = st.at[j, "capacity_mbps"]
    extra = 5 * cap - st.at[j, "carried_mbps"]
    st.loc[j, ["carried_mbps", "capacity_mbps", "utilisation"]] = [5 * cap, 10 * cap, 0.5]
    d.loc[i, "traffic_mbps"] += extra  # the load is really there, and carried traffic still equals traffic
    write_layers(out, lay)
    # the station's own load against its recomputed capacity catches it; the max flow (station_capacity) too
    # when no other station reaches the cell's area (with a coverage layer, neighbours usually can)
    assert "station_load" in set(failed(out))


def test_forgery_b_only_cover_removed_radii_tripled_traffic_rescaled(city, tmp_path):
    """The only cover of a cell removed, every radius_m tripled and traffic rescaled (totals made to agree)."""
    out = copy(city, tmp_path)
    within, counts = cover_counts(out)
    i = int(np.flatnonzero((within * counts).sum(axis=1) == 1)[0])  # a cell covered by exactly one station
    lay = read_layers(out)
    st = lay["stations"]
    gone = st[within[i]]
    # the unit moves to a small-cell site with room (so the station target still holds), priced as the rest
    r = int(np.flatnonzero(~within[i] & (st["type"] == "small").to_numpy() & (st["count"] < 3).to_numpy())[0])
    grow = (st.at[r, "count"] + 1) / st.at[r, "count"]
    added = st.loc[[r], ["capex_cny", "equipment_cny", "backhaul_cny"]] * (grow - 1)
    st.loc[r, ["count", "capex_cny", "equipment_cny", "backhaul_cny", "capacity_mbps"]] *= grow
    lay["stations"] = st[~within[i]].reset_index(drop=True)
    d = lay["demand"]
    d["radius_m"] = d["radius_m"] * 3
    d["traffic_mbps"] = d["traffic_mbps"] * lay["stations"]["carried_mbps"].sum() / d["traffic_mbps"].sum()
    write_layers(out, lay)

    def agree(s):
        t = s["totals"]
        for key, col in (("capex_cny", "capex_cny"), ("capex_5g_cny", "capex_cny"),
                         ("capex_5g_equipment_cny", "equipment_cny"), ("capex_5g_backhaul_cny", "backhaul_cny"),
                         ("stations_5g", "count"), ("stations_5g_new", "count")):
            t[key] += (added[col].sum() if col in added else 1) - gone[col].sum().item()
    edit_json(out, agree)
    assert "coverage" in failed(out)


def test_forgery_c_new_stations_at_1_cny_with_totals_agreeing(city, tmp_path):
    """Every new station priced at 1 CNY, with every total made to agree."""
    out = copy(city, tmp_path)
    lay = read_layers(out)
    st = lay["stations"]
    new = st["new"] == 1
    st.loc[new, ["capex_cny", "equipment_cny", "backhaul_cny"]] = [1.0, 1.0, 0.0]
    write_layers(out, lay)
    five_g = float(st["capex_cny"].sum())

    def agree(s):
        t = s["totals"]
        t.update(capex_5g_cny=five_g, capex_5g_equipment_cny=five_g, capex_5g_backhaul_cny=0.0,
                 capex_cny=five_g + t["capex_pon_cny"])
    edit_json(out, agree)
    bad = failed(out)
    assert {"station_capex", "capex_sum"} <= set(bad)


# --------------------------------------------------------------------------- the command line

def test_failed_check_exits_4(city, tmp_path, capsys):
    out = copy(city, tmp_path)
    edit_json(out, lambda s: s["totals"].update(capex_cny=1.0))
    assert main(["check", str(out)]) == 4
    err = capsys.readouterr().err
    assert "capex_sum" in err and "Traceback" not in err


def test_untampered_plan_exits_0(city, capsys):
    assert main(["check", str(city["plan"]), "--json"]) == 0
    assert all(c["ok"] for c in json.loads(capsys.readouterr().out))


def assert_one_error_line(err: str, names: str) -> None:
    """One 'rollout: error: ...' line naming the plan file, no traceback (log warnings may precede it)."""
    errors = [line for line in err.splitlines() if line.startswith("rollout:")]
    assert len(errors) == 1 and names in errors[0] and "Traceback" not in err, err


MALFORMED = {
    "string_for_number": lambda s: s["totals"].update(capex_cny="lots"),
    "scenario_string_for_number": lambda s: s["scenario"]["radio"]["macro"].update(capacity_mbps="fast"),
    "coverage_string": lambda s: s["coverage"].update(population_covered="all"),
    "totals_not_a_table": lambda s: s.update(totals=[1, 2]),
    "solver_parts_not_tables": lambda s: s["solver"].update(parts={"5g": 3}),
    "no_scenario": lambda s: s.pop("scenario"),
    "year_string": lambda s: s["years"][0].update(capex_cny="x"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_plan_json_exits_2_with_one_line(city, tmp_path, capsys, name):
    out = copy(city, tmp_path, "phased")
    edit_json(out, MALFORMED[name])
    assert main(["check", str(out)]) == 2
    assert_one_error_line(capsys.readouterr().err, "plan.json")


@pytest.mark.parametrize("how", ["not_json", "json_list", "no_gpkg", "no_column", "string_count", "damaged_gpkg"])
def test_malformed_plan_files_exit_2_with_one_line(city, tmp_path, capsys, how):
    out = copy(city, tmp_path)
    if how == "not_json":
        (out / "plan.json").write_text("{ nope", encoding="utf-8")
    elif how == "json_list":
        (out / "plan.json").write_text("[]", encoding="utf-8")
    elif how == "no_gpkg":
        (out / "plan.gpkg").unlink()
    elif how == "no_column":
        edit_layer(out, "stations", lambda g: g.drop(columns="count"))
    elif how == "string_count":
        edit_layer(out, "stations", lambda g: g.assign(count=g["count"].astype(str).where(g.index > 0, "two")))
    else:
        (out / "plan.gpkg").write_bytes(b"not a geopackage")
    assert main(["check", str(out)]) == 2
    assert_one_error_line(capsys.readouterr().err, "plan.")


@pytest.mark.parametrize("layer_name, column, value", [("demand", "clutter", "jungle"), ("stations", "type", "mega")])
def test_unknown_classes_are_plan_format_errors(city, tmp_path, layer_name, column, value):
    out = copy(city, tmp_path)
    edit_layer(out, layer_name, lambda g: g.assign(**{column: value}))
    with pytest.raises(PlanFormatError, match=value) as exc:
        check_plan(out)
    assert isinstance(exc.value, InputError)


# --------------------------------------------------------------------------- the max-flow test itself

def lp_feasible(supply, capacity, edges) -> bool:
    """The same transportation question as a plain LP (scipy HiGHS): can every supply be placed?"""
    if not edges:
        return not np.any(np.asarray(supply) > 0)
    n, m, e = len(supply), len(capacity), len(edges)
    a_eq = np.zeros((n, e))
    a_ub = np.zeros((m, e))
    for k, (i, j) in enumerate(edges):
        a_eq[i, k] = 1.0
        a_ub[j, k] = 1.0
    res = linprog(np.zeros(e), A_ub=a_ub, b_ub=capacity, A_eq=a_eq, b_eq=supply, bounds=(0, None), method="highs")
    return res.status == 0


@settings(max_examples=60, deadline=None)
@given(hst.integers(1, 5), hst.integers(1, 5), hst.data())
def test_max_flow_served_agrees_with_an_lp(n, m, data):
    supply = np.array(data.draw(hst.lists(hst.integers(0, 50), min_size=n, max_size=n)), float) / 4
    capacity = np.array(data.draw(hst.lists(hst.integers(0, 60), min_size=m, max_size=m)), float) / 4
    edges = sorted(set(data.draw(hst.lists(hst.tuples(hst.integers(0, n - 1), hst.integers(0, m - 1)), max_size=n * m))))
    src = np.array([e[0] for e in edges], dtype=np.int64)
    dst = np.array([e[1] for e in edges], dtype=np.int64)
    served = max_flow_served(supply, capacity, src, dst)
    assert served.all() == lp_feasible(supply, capacity, edges)
