"""The region planner: a 3-city synthetic region on an in-process Dask cluster, resume, bad input, the CLI path."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import shapely

from gis.errors import RolloutError, ScenarioError, ValidationError
from rollout.region import is_region_file, load_region, plan_region
from tests._gis_fixtures import write_geojson

# Three made-up cities near Munich (UTM 32N), two districts each, side by side: X | Y | Z.
DISTRICTS = {
    "X1": ("X", "Xanten Mitte", 60_000, shapely.box(11.50, 48.10, 11.54, 48.13)),
    "X2": ("X", "Xanten Land", 8_000, shapely.box(11.50, 48.07, 11.54, 48.10)),
    "Y1": ("Y", "Ypsdorf Mitte", 40_000, shapely.box(11.54, 48.10, 11.58, 48.13)),
    "Y2": ("Y", "Ypsdorf Land", 6_000, shapely.box(11.54, 48.07, 11.58, 48.10)),
    "Z1": ("Z", "Zell Mitte", 30_000, shapely.box(11.58, 48.10, 11.62, 48.13)),
    "Z2": ("Z", "Zell Land", 4_000, shapely.box(11.58, 48.07, 11.62, 48.10)),
}
FAST = """
[radio]
surplus = "none"
{radio}
[solver]
time_limit_s = 20
gap_rel = 0.02
threads = 1
"""


def write_region(folder: Path, region: str, extra: str = "", *, radio: str = "", drop: tuple[str, ...] = ()) -> Path:
    """Boundary file, district table with a city column, and REGION.toml in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    write_geojson(folder / "counties.geojson",
                  [({"code": k}, v[3]) for k, v in DISTRICTS.items() if k not in drop])
    pd.DataFrame({"code": list(DISTRICTS), "city": [v[0] for v in DISTRICTS.values()],
                  "city_name": [f"City {v[0]}" for v in DISTRICTS.values()],
                  "name_en": [v[1] for v in DISTRICTS.values()],
                  "population": [v[2] for v in DISTRICTS.values()],
                  "households": [v[2] // 2 for v in DISTRICTS.values()]}).to_csv(folder / "counties.csv", index=False)
    toml = folder / "region.toml"
    toml.write_text(f"""
[region]
title = "Test region"
boundaries = "counties.geojson"
districts = "counties.csv"
id_field = "code"
city_field = "city"
cores = ""
{region}
{FAST.format(radio=radio)}
{extra}
""", encoding="utf-8")
    return toml


COUPLED = "stations_target = 300\nports_target = 1500\nlevels = [0.8, 1.0, 1.25]"


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("region")
    region = load_region(write_region(folder, COUPLED))
    out = folder / "out"
    return region, out, plan_region(region, out, processes=False, workers=2)


def test_region_plan_json_has_every_city_totals_bound_and_gap(solved):
    region, out, s = solved
    saved = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert saved["totals"]["cities"] == 3 and [c["id"] for c in saved["cities"]] == ["X", "Y", "Z"]
    t = saved["totals"]
    assert t["stations_5g"] == sum(c["stations_5g"] for c in saved["cities"]) >= 300
    assert t["pon_ports"] == sum(c["pon_ports"] for c in saved["cities"]) >= 1500
    sol = saved["solver"]
    assert sol["objective"] == pytest.approx(t["capex_cny"])
    assert 0 <= sol["bound"] <= sol["objective"] and sol["gap"] == pytest.approx(1 - sol["bound"] / sol["objective"])
    assert saved["failed"] == [] and saved["run"]["tasks_solved"] == 9
    # 'optimal' only with a proven master choice AND the regional gap within the requested one
    assert sol["status"] == ("optimal" if sol["master_status"] == "optimal" and sol["gap"] <= 0.005 else "feasible")


def test_each_city_folder_is_its_chosen_level_and_passes_the_check(solved):
    from rollout.check import check_plan
    from rollout.plan import load_plan_summary

    _, out, s = solved
    for c in s["cities"]:
        city = out / c["plan_dir"]
        summary = load_plan_summary(city)
        assert summary["totals"]["capex_cny"] == pytest.approx(c["capex_cny"])
        assert summary["totals"]["stations_5g"] == c["stations_5g"]
        assert (city / "levels" / str(c["level"]) / "plan.gpkg").is_file()
        failed = [k.name for k in check_plan(city) if not k.ok]
        assert failed == [], (c["id"], failed)


def test_level_targets_are_population_shares_and_the_master_meets_them(solved):
    region, out, s = solved
    pop = sum(v[2] for v in DISTRICTS.values())
    for c in s["cities"]:
        share = c["population"] / pop
        for lv in c["levels"]:
            summary = json.loads((out / c["plan_dir"] / "levels" / str(lv["level"]) / "plan.json").read_text())
            assert summary["totals"]["stations_5g_target"] == round(lv["multiplier"] * 300 * share)
            assert lv["stations_5g"] >= summary["totals"]["stations_5g_target"]


def test_border_is_measured_and_only_inner_borders_count(solved):
    _, _, s = solved
    by = {c["id"]: c["border"] for c in s["cities"]}
    # X and Z touch one neighbour, Y two: Y's inner border is twice as long (two 6.7 km edges)
    assert by["Y"]["inner_border_km"] == pytest.approx(2 * by["X"]["inner_border_km"], rel=0.01)
    assert by["X"]["inner_border_km"] == pytest.approx(by["Z"]["inner_border_km"], rel=0.01)
    assert all(0 < b["population_near_border"] for b in by.values())
    assert "own city only" in s["border"]["policy"]


def test_region_gpkg_holds_cities_and_districts(solved):
    import geopandas as gpd

    _, out, s = solved
    cities = gpd.read_file(out / "region.gpkg", layer="cities")
    districts = gpd.read_file(out / "region.gpkg", layer="districts")
    assert list(cities["id"]) == ["X", "Y", "Z"] and len(districts) == 6
    assert shapely.area(cities.geometry.values).sum() == pytest.approx(0.12 * 0.06)  # degrees²: the squares exactly


def test_resume_after_a_failed_city_solves_only_what_is_missing(tmp_path):
    # Y cannot build a single station: every level is infeasible, X and Z complete and are saved
    broken = "[cities.Y.radio.macro]\nmax_per_site = 0\n[cities.Y.radio.small]\nmax_per_site = 0\n"
    toml = write_region(tmp_path, "levels = [1.0, 1.2]\nstations_target = 300\nports_target = 1500", broken)
    out = tmp_path / "out"
    first = plan_region(load_region(toml), out, processes=False, workers=1)
    assert [f["id"] for f in first["failed"]] == ["Y"] and "infeasible" in first["failed"][0]["errors"][0]
    assert [c["id"] for c in first["cities"]] == ["X", "Z"]
    assert "population share of the 2 cities planned of 3" in first["totals"]["targets_basis"]
    assert first["totals"]["stations_target"] == round(300 * (68_000 + 34_000) / 148_000)
    saved = {c["id"]: (out / c["plan_dir"] / "plan.gpkg").stat().st_mtime_ns for c in first["cities"]}
    # fix Y and resume: only Y's two levels are solved again
    toml = write_region(tmp_path, "levels = [1.0, 1.2]\nstations_target = 300\nports_target = 1500")
    again = plan_region(load_region(toml), out, processes=False, workers=1, resume=True)
    assert again["failed"] == [] and [c["id"] for c in again["cities"]] == ["X", "Y", "Z"]
    assert again["run"]["tasks_solved"] == 2 and again["run"]["tasks_reused"] == 4
    for c in first["cities"]:  # what was finished is reused, not solved again
        level_dir = out / "cities" / c["id"] / "levels" / str(c["level"])
        assert (level_dir / "plan.gpkg").stat().st_mtime_ns <= saved[c["id"]]


def test_uncoupled_city_reproduces_its_own_plan(tmp_path):
    """Without regional targets a city keeps its own scenario, so it plans exactly as alone."""
    from rollout.pipeline import plan_from_scenario
    from rollout.scenario import scenario_from_dict

    toml = write_region(tmp_path, "", "[cities.Z.radio]\ntarget_stations = 40\n[cities.Z.pon]\ntarget_ports = 300\n")
    region = load_region(toml, only=["Z"])
    s = plan_region(region, tmp_path / "out", processes=False, workers=1)
    (z,) = s["cities"]
    alone = plan_from_scenario(scenario_from_dict(region.cities[0].scenario, base_dir=region.cities[0].base_dir))
    assert z["capex_cny"] == pytest.approx(alone.totals["capex_cny"])
    # (at least its target: the coverage layer may need more stations than 40)
    assert z["stations_5g"] == alone.totals["stations_5g"] >= 40 and s["totals"]["stations_target"] == 0


def test_unknown_only_id_and_outside_districts_are_input_errors(tmp_path):
    toml = write_region(tmp_path / "a", COUPLED)
    with pytest.raises(ScenarioError, match="unknown city id 'Q'"):
        load_region(toml, only=["X", "Q"])
    toml = write_region(tmp_path / "b", COUPLED, drop=("Y2",))
    with pytest.raises(ValidationError, match=r"city Y \(City Y\): districts Y2 lie outside the region's boundary"):
        load_region(toml)


def test_bad_region_keys_and_city_overrides_are_collected(tmp_path):
    toml = write_region(tmp_path, "stations_targte = 5", "[cities.Q.radio]\ntarget_stations = 1\n")
    with pytest.raises(ScenarioError, match="did you mean 'region.stations_target'"):
        load_region(toml)
    toml = write_region(tmp_path, "", "[cities.Q.radio]\ntarget_stations = 1\n")
    with pytest.raises(ScenarioError, match=r"\[cities.Q\] names no city"):
        load_region(toml)
    toml = write_region(tmp_path, "", "[cities.X.radio]\ntarget_stattions = 1\n[cities.Y.pon]\nsplit_ratio = 3\n")
    with pytest.raises(ScenarioError, match=r"city X .*target_stattions.*and \d+ more") as err:
        load_region(toml)
    assert sum("city Y (City Y): 'pon.split_ratio" in p and "must be" in p for p in err.value.problems) == 4  # per clutter


def test_a_scheduler_that_does_not_answer_is_one_line(tmp_path):
    from rollout.region import open_client

    with pytest.raises(RolloutError, match="does not answer within 2 s") as err:
        with open_client(scheduler="tcp://127.0.0.1:9", connect_timeout_s=2):
            pass
    assert "\n" not in str(err.value)


def test_is_region_file(tmp_path):
    assert is_region_file(write_region(tmp_path, ""))
    (tmp_path / "city.toml").write_text("[radio]\ntarget_stations = 5\n")
    assert not is_region_file(tmp_path / "city.toml") and not is_region_file(tmp_path / "missing.toml")


def test_region_map_and_report_are_drawn_from_the_folder_and_link_every_city(solved, tmp_path):
    import shutil

    from maps.region import write_region_map, write_region_report

    _, out, s = solved
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    page = write_region_map(copy).read_text(encoding="utf-8")
    for c in s["cities"]:
        assert page.count(f'href="cities/{c["id"]}/map.html"') == 3  # one link per metric panel
    assert "<script" not in page and "src=" not in page and "https:" not in page  # loads nothing: works offline
    report = write_region_report(copy).read_text(encoding="utf-8")
    assert f'{s["totals"]["stations_5g"]:,}' in report and "valid lower bound" in report
    assert all(f'href="cities/{c["id"]}/report.html"' in report for c in s["cities"])


UNCOUPLED = {"extra": "[pon]\ntarget_ports = 200\n", "radio": "target_stations = 30"}


def test_a_task_that_raises_is_retried_once_then_reported(tmp_path, monkeypatch):
    import rollout.region as rr

    real, log = rr.solve_level, tmp_path / "calls.txt"  # Dask pickles the task function: count in a file

    def flaky(task):
        with log.open("a") as f:
            f.write(task["city"])
        if task["city"] == "Y" or (task["city"] == "X" and log.read_text().count("X") == 1):
            raise RuntimeError(f"disk lost on {task['city']}")
        return real(task)

    monkeypatch.setattr(rr, "solve_level", flaky)
    s = plan_region(load_region(write_region(tmp_path, "", **UNCOUPLED)), tmp_path / "out", processes=False, workers=1)
    assert sorted(log.read_text()) == ["X", "X", "Y", "Y", "Z"]
    assert [c["id"] for c in s["cities"]] == ["X", "Z"]
    assert s["failed"][0]["id"] == "Y" and "crashed: RuntimeError: disk lost on Y" in s["failed"][0]["errors"][0]


def _die(task):
    """A worker that dies mid-solve, every time it plans city X (each attempt is logged in a file)."""
    import os

    from rollout.region import solve_level

    if task["city"] == "X":
        with (Path(task["dir"]).parents[3] / "deaths.txt").open("a") as f:
            f.write("X")
        os._exit(1)
    return solve_level(task)


def test_a_dead_worker_has_its_city_retried_once_then_reported(tmp_path, monkeypatch):
    import rollout.region as rr

    monkeypatch.setattr(rr, "solve_level", _die)
    out = tmp_path / "out"
    s = plan_region(load_region(write_region(tmp_path, "", **UNCOUPLED)), out, workers=1)  # worker processes
    assert (out / "deaths.txt").read_text() == "XX"  # tried, retried once, then reported
    assert s["failed"][0]["id"] == "X" and "KilledWorker" in s["failed"][0]["errors"][0]
    assert [c["id"] for c in s["cities"]] == ["Y", "Z"] and (out / "cities" / "Z" / "plan.json").is_file()


def test_cli_plans_a_region_subset_with_map_report_and_checked_cities(tmp_path, capsys):
    from rollout.check import check_plan
    from rollout.cli import main

    toml = write_region(tmp_path, COUPLED)
    out = tmp_path / "out"
    assert main(["plan", str(toml), "--only", "X,Z", "--workers", "1", "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["totals"]["cities"] == 2 and printed["solver"]["gap"] is not None
    for cid in ("X", "Z"):
        assert (out / "cities" / cid / "map.html").is_file() and (out / "cities" / cid / "report.html").is_file()
        assert all(c.ok for c in check_plan(out / "cities" / cid))
    assert (out / "map.html").is_file() and (out / "report.html").is_file() and not (out / "cities" / "Y").exists()


@pytest.mark.parametrize("args, words", [
    (["--only", "X,Q"], "unknown city id 'Q'"),
    (["--scheduler", "tcp://127.0.0.1:9"], "does not answer within 2 s"),
    (["--workers", "0"], "--workers 0"),
])
def test_cli_bad_region_input_is_exit_2_and_one_line(tmp_path, capsys, args, words):
    from rollout.cli import main

    toml = write_region(tmp_path, "connect_timeout_s = 2")
    assert main(["plan", str(toml), "--out", str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err


def test_cli_region_flags_need_a_region_scenario(tmp_path, capsys):
    from rollout.cli import main

    (tmp_path / "city.toml").write_text("[radio]\ntarget_stations = 5\n")
    assert main(["plan", str(tmp_path / "city.toml"), "--only", "370200"]) == 2
    assert "--only applies to a region scenario" in capsys.readouterr().err


def write_city_files(folder: Path, city: str, *, shift_deg: float = 0.0) -> str:
    """One city's own boundary, table and scenario file (``cities_from = "scenarios"``); returns the file name."""
    mine = {k: v for k, v in DISTRICTS.items() if v[0] == city}
    write_geojson(folder / f"{city}.geojson",
                  [({"code": k}, shapely.affinity.translate(v[3], xoff=shift_deg)) for k, v in mine.items()])
    pd.DataFrame({"code": list(mine), "name_en": [v[1] for v in mine.values()], "population": [v[2] for v in mine.values()],
                  "households": [v[2] // 2 for v in mine.values()]}).to_csv(folder / f"{city}.csv", index=False)
    (folder / f"{city}.toml").write_text(f'[data]\nboundaries = "{city}.geojson"\ndistricts = "{city}.csv"\n'
                                         'id_field = "code"\n', encoding="utf-8")
    return f"{city}.toml"


def test_a_region_of_city_scenario_files(tmp_path):
    import shapely.affinity  # noqa: F401 - used by write_city_files

    write_region(tmp_path, "")  # for counties.geojson, the region's boundary file
    for c in ("X", "Z"):
        write_city_files(tmp_path, c)
    toml = tmp_path / "list.toml"
    toml.write_text('[region]\ncities_from = "scenarios"\nboundaries = "counties.geojson"\n'
                    + FAST.format(radio="target_stations = 30") + "[pon]\ntarget_ports = 200\n"
                    '[cities.X]\nname = "Xanten"\nscenario = "X.toml"\n[cities.Z]\nscenario = "Z.toml"\n'
                    '[cities.Z.radio]\ntarget_stations = 45\n', encoding="utf-8")
    s = plan_region(load_region(toml), tmp_path / "out", processes=False, workers=1)
    by = {c["id"]: c for c in s["cities"]}
    assert by["X"]["name"] == "Xanten" and by["X"]["stations_5g"] >= 30 and by["Z"]["stations_5g"] >= 45
    assert by["X"]["border"]["inner_border_km"] == 0  # Y is not in this region: X's edge is the region's edge
    # a city whose districts lie outside the region's boundary file
    write_city_files(tmp_path, "Z", shift_deg=0.5)
    with pytest.raises(ValidationError, match=r"city Z \(Z\): districts Z1, Z2 lie outside the region's boundary"):
        load_region(toml)


def test_shandong_default_region_and_qingdao_inside_it(tmp_path):
    """The embedded region: 16 cities, the census total, shares that add up, Qingdao's inputs as the city default's."""
    import geopandas as gpd

    from gis.build import load_districts
    from rollout.region import level_targets, write_city_inputs
    from rollout.scenario import scenario_from_dict
    from seeds import seed_path

    region = load_region(seed_path("shandong.toml"))
    assert len(region.cities) == 16 and sum(len(c.districts) for c in region.cities) == 136
    assert region.population_region == 101_527_453
    at_one = [level_targets(region, c, 1.0) for c in region.cities]
    assert abs(sum(t["radio"]["target_stations"] for t in at_one) - 161_000) <= 16
    qd = load_region(seed_path("shandong.toml"), only=["370200"])
    write_city_inputs(qd, tmp_path)
    (city,) = qd.cities
    ours = load_districts(scenario_from_dict(city.scenario, base_dir=city.base_dir).layer_settings())
    ref = load_districts(scenario_from_dict({}).layer_settings())
    cols = ["district_id", "population", "households"]
    pd.testing.assert_frame_equal(pd.DataFrame(ours[cols]), pd.DataFrame(ref[cols]))
    utm = 32651
    a, b = gpd.GeoSeries(ours.geometry, crs=4326).to_crs(utm), gpd.GeoSeries(ref.geometry, crs=4326).to_crs(utm)
    assert (a.symmetric_difference(b).area.sum() / b.area.sum()) < 1e-3  # the same polygons, simplified as one coverage


def test_region_numbers_are_validated_like_the_scenario(tmp_path):
    """The [region] table goes through the scenario's own validator: finite, bounded, typed."""
    for line, words in (("budget_cny = inf", "finite"), ("stations_target = 1e30", "out of range"),
                        ("retries = 'x'", "must be a number"), ("subproblem = 'county'", "not one of")):
        toml = write_region(tmp_path / line.split()[0], line, "")
        with pytest.raises(ScenarioError, match=words):
            load_region(toml)
