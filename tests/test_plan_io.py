"""A plan saves and loads without solving again; plan.json carries the solver's honest figures."""
import json

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point, Polygon

from gis.errors import InputError, OutputError
from rollout.plan import Plan, SolveStats, combine_stats, load_plan, load_plan_summary


def _plan() -> Plan:
    poly = Polygon([(120.3, 36.0), (120.4, 36.0), (120.4, 36.1), (120.3, 36.1)])
    stations = gpd.GeoDataFrame({"site_id": ["s1", "s2"], "district_id": ["370202", "370202"], "type": ["macro", "small"],
                                 "count": [1, 2], "new": [True, False], "capex_cny": [450000.0, 0.0]},
                                geometry=[Point(120.35, 36.05), Point(120.36, 36.06)], crs=4326)
    olts = gpd.GeoDataFrame({"office_id": ["o1"], "ports": [12], "new": [True], "capex_cny": [1e6]},
                            geometry=[Point(120.34, 36.04)], crs=4326)
    links = gpd.GeoDataFrame({"kind": ["feeder"], "from_id": ["c1"], "to_id": ["o1"], "route_km": [1.2]},
                             geometry=[LineString([(120.35, 36.05), (120.34, 36.04)])], crs=4326)
    districts = gpd.GeoDataFrame({"district_id": ["370202"], "name_zh": ["市南区"], "name_en": ["Shinan"],
                                  "population": [486643], "stations_5g": [3], "capex_cny": [1.45e6]},
                                 geometry=[poly], crs=4326)
    demand = gpd.GeoDataFrame({"cell_id": ["c1"], "covered": [True], "population": [10.0]}, geometry=[poly], crs=4326)
    solves = [SolveStats(part="5g", name="cbc", status="feasible", objective=100.0, bound=90.0, gap=0.1, seconds=1.0),
              SolveStats(part="pon", name="cbc", status="optimal", objective=50.0, bound=50.0, gap=0.0, seconds=2.0)]
    return Plan(title="t <b>", stations=stations, olt_sites=olts, links=links, districts=districts, demand=demand,
                totals={"stations_5g": 3, "capex_cny": 1.45e6}, solves=solves, demand_source="modelled (test)")


def test_save_load_round_trip(tmp_path):
    plan = _plan()
    plan.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.gpkg", "plan.json"]
    back = load_plan(tmp_path)
    assert back.title == plan.title and back.totals == plan.totals
    assert len(back.stations) == 2 and back.stations.crs.to_epsg() == 4326
    assert back.stations["new"].tolist() == [True, False]
    assert back.districts["district_id"].tolist() == ["370202"]
    assert [s.status for s in back.solves] == ["feasible", "optimal"]


def test_summary_keys_and_worst_status(tmp_path):
    _plan().save(tmp_path)
    s = load_plan_summary(tmp_path)
    assert s["solver"]["status"] == "feasible"  # no proven plan-level bound: never "optimal"
    assert s["solver"]["objective"] == 1.45e6  # the plan's capex, not the parts' objectives
    assert s["solver"]["bound"] is None and s["solver"]["gap"] is None
    assert s["solver"]["parts_objective_sum"] == 150.0 and s["solver"]["parts_bound_sum"] == 140.0
    assert s["districts"][0]["adcode"] == "370202" and s["districts"][0]["name"] == "市南区"
    assert s["demand_source"].startswith("modelled")
    json.dumps(s)  # plain JSON


def test_combine_stats_without_bound_has_no_gap():
    s = combine_stats([SolveStats(part="a", name="cbc", status="no_solution")])
    assert s["gap"] is None and s["status"] == "no_solution"


def test_load_missing_or_corrupt(tmp_path):
    with pytest.raises(InputError, match="plan.json missing"):
        load_plan(tmp_path)
    (tmp_path / "plan.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="not a valid plan file"):
        load_plan(tmp_path)


def test_save_to_unwritable_folder_fails_cleanly(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError):
        _plan().save(blocker / "sub")


def test_auxiliary_stages_do_not_count_in_the_objective_and_proven_infeasible_is_an_answer():
    parts = [SolveStats(part="5g_headroom", name="cbc", status="infeasible"),
             SolveStats(part="5g", name="cbc", status="optimal", objective=10.0, bound=10.0, gap=0.0),
             SolveStats(part="pon", name="cbc", status="feasible", objective=5.0, bound=4.0, gap=0.2)]
    s = combine_stats(parts, objective=14.0, bound=13.0)
    assert s["status"] == "feasible" and s["objective"] == 14.0 and s["bound"] == 13.0
    assert s["parts_objective_sum"] == 15.0 and s["parts_bound_sum"] == 14.0
    assert s["objective_parts"] == ["5g", "pon"]
    s = combine_stats([SolveStats(part="5g_headroom", name="cbc", status="optimal", objective=99.0, bound=99.0),
                       SolveStats(part="5g", name="cbc", status="optimal", objective=1.0, bound=1.0),
                       SolveStats(part="5g_bound", name="cbc", status="feasible", objective=0.5, bound=0.4)])
    assert s["parts_objective_sum"] == 1.0 and s["objective_parts"] == ["5g"]


@pytest.mark.parametrize("capex, bound, requested, status", [
    (100.0, 99.9, 0.005, "optimal"),     # proven within the requested gap
    (100.0, 97.0, 0.005, "feasible"),    # every part optimal, but the plan is 3 % from its bound
    (100.0, None, 0.005, "feasible"),    # nothing proven about the plan
])
def test_plan_status_is_about_the_plan_capex(capex, bound, requested, status):
    parts = [SolveStats(part=p, name="cbc", status="optimal", objective=o, bound=o, gap=0.0, gap_rel_requested=requested)
             for p, o in (("5g", 80.0), ("pon", 30.0))]
    s = combine_stats(parts, objective=capex, bound=bound)
    assert s["status"] == status and s["objective"] == capex
    assert s["gap"] == (None if bound is None else pytest.approx((capex - bound) / capex))
