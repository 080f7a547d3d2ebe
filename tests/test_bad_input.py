"""Every bad input of issue 11 (part 4): a one-line error, the documented exit code, no leftover files.

Exit codes: 2 bad input or an output that cannot be written, 130/143 interrupted by SIGINT/SIGTERM.
Most cases run the CLI in process on the small second city; the interrupt test runs it in a subprocess.
"""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as hst

from gis.validate import clean_text, collect_problems
from rollout import cli
from rollout.cli import main, sweep_folder_name
from tests._gis_fixtures import SECOND_CITY, write_geojson, write_second_city

UNSAFE = "\u202e\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\x00\x07\x1b\x7f"
SMALL = "[radio]\ntarget_stations = 60\nsurplus = \"none\"\n[pon]\ntarget_ports = 40\n[solver]\nthreads = 1\n"


def city(folder: Path, extra: str = SMALL, title: str = "Second city") -> Path:
    """The second city's files and a scenario TOML in ``folder``."""
    write_second_city(folder)
    s = folder / "s.toml"
    s.write_text(f"title = {json.dumps(title)}\n[data]\nboundaries = \"city.geojson\"\ndistricts = \"city.csv\"\n"
                 f"id_field = \"code\"\n{extra}", encoding="utf-8")
    return s


def one_line_error(capsys, code: int, rc: int, *fragments: str) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rollout:")]
    assert rc == code, err
    assert len(err) == 1, err
    for f in fragments:
        assert f in err[0], err[0]
    return err[0]


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


@pytest.fixture(scope="module")
def saved_plan(tmp_path_factory):
    """A plan of the second city, solved once; tests hand it to ``cmd_plan`` instead of solving again."""
    from rollout.pipeline import plan_from_scenario
    from rollout.scenario import load_scenario

    folder = tmp_path_factory.mktemp("city")
    return plan_from_scenario(load_scenario(city(folder)))


@pytest.fixture
def quick_plan(monkeypatch, saved_plan):
    import rollout.pipeline

    monkeypatch.setattr(rollout.pipeline, "plan_from_scenario", lambda scenario, **kw: saved_plan)
    return saved_plan


# --------------------------------------------------------------------------- districts

def write_districts(folder: Path, shapes: dict, ids_in_table=None) -> Path:
    """A scenario over ``shapes`` {id: polygon}; the table holds ``ids_in_table`` (default the same ids)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_geojson(folder / "b.geojson", [({"code": k}, g) for k, g in shapes.items()])
    ids = list(shapes) if ids_in_table is None else ids_in_table
    pd.DataFrame({"code": ids, "population": [10_000 + 5_000 * i for i in range(len(ids))]}).to_csv(
        folder / "t.csv", index=False)
    s = folder / "s.toml"
    s.write_text(f"[data]\nboundaries = \"b.geojson\"\ndistricts = \"t.csv\"\nid_field = \"code\"\n{SMALL}")
    return s


@pytest.mark.parametrize("inner, fragment", [
    (shapely.box(11.52, 48.11, 11.53, 48.12), "one inside the other"),   # nested: its people vanished before
    (shapely.box(11.55, 48.10, 11.60, 48.14), "of the smaller"),        # overlapping by a sixth
])
def test_overlapping_or_nested_districts_exit_2_from_validate_and_plan(tmp_path, capsys, inner, fragment):
    s = write_districts(tmp_path, {"A": shapely.box(11.50, 48.10, 11.56, 48.14), "N": inner})
    assert main(["-q", "validate", str(s)]) == 2
    out = capsys.readouterr().out
    assert "districts overlap" in out and fragment in out and "A and N" in out
    rc = main(["-q", "plan", str(s), "--out", str(tmp_path / "out")])
    one_line_error(capsys, 2, rc, "districts overlap")
    assert files(tmp_path / "out") == []


def test_adjacent_districts_and_slivers_are_not_overlaps():
    a, b = shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)
    sliver = shapely.box(0.999, 0, 2, 1)  # 0.1 % of b's area: digitising noise
    gdf = gpd.GeoDataFrame({"code": ["a", "b"]}, geometry=[a, sliver], crs=4326)
    table = pd.DataFrame({"code": ["a", "b"], "population": [1, 2]})
    assert collect_problems(gdf, table, id_field="code") == []
    gdf2 = gpd.GeoDataFrame({"code": ["a", "b"]}, geometry=[a, b], crs=4326)
    assert collect_problems(gdf2, table, id_field="code") == []


def test_nan_coordinate_in_the_boundary_exit_2(tmp_path, capsys):
    write_second_city(tmp_path)
    with warnings.catch_warnings():  # shapely warns when it is handed NaN; the file is what is under test
        warnings.simplefilter("ignore", RuntimeWarning)
        bad = shapely.Polygon([(11.50, 48.10), (float("nan"), 48.10), (11.56, 48.14), (11.50, 48.14)])
    gdf = gpd.GeoDataFrame({"code": ["A1", "B2", "C3"]},
                           geometry=[bad, SECOND_CITY["B2"][2], SECOND_CITY["C3"][2]], crs=4326)
    gdf.to_file(tmp_path / "b.gpkg", driver="GPKG", engine="pyogrio")
    s = tmp_path / "s.toml"
    s.write_text(f"[data]\nboundaries = \"b.gpkg\"\ndistricts = \"city.csv\"\nid_field = \"code\"\n{SMALL}")
    assert main(["-q", "validate", str(s)]) == 2
    assert "NaN or infinite coordinates in A1" in capsys.readouterr().out
    rc = main(["-q", "plan", str(s), "--out", str(tmp_path / "out")])
    one_line_error(capsys, 2, rc, "NaN or infinite coordinates")
    assert files(tmp_path / "out") == []


# --------------------------------------------------------------------------- scenario values

@pytest.mark.parametrize("extra, fragment", [
    ("[pon]\nports_per_chassis = 1e30\n", "pon.ports_per_chassis"),
    ("[budget]\ncapex_cny = inf\n", "budget.capex_cny"),
    ("[radio.macro]\ncapex_cny = 1e30\n", "radio.macro.capex_cny"),
    ("[radio]\nbackhaul_cost_cny_per_km = -inf\n", "radio.backhaul_cost_cny_per_km"),
    ("seed = 1e30\n", "seed"),
    ("[radio.macro]\nbackhaul = \"spur\"\n", "radio.macro.backhaul"),   # the small cell is a spur too: nothing to hang off
    ("[radio.small]\nbackhaul = \"trench\"\n", "radio.small.backhaul"),
])
def test_validate_rejects_what_plan_would_fail_on(tmp_path, capsys, extra, fragment):
    s = tmp_path / "s.toml"
    s.write_text(extra)
    assert main(["-q", "validate", str(s)]) == 2
    assert fragment in capsys.readouterr().out
    rc = main(["-q", "plan", str(s), "--out", str(tmp_path / "out")])
    one_line_error(capsys, 2, rc, fragment)
    assert files(tmp_path / "out") == []


def test_every_number_has_finite_bounds():
    """No scenario number is unbounded above: 1e30 and inf never reach the solver."""
    import dataclasses

    from rollout.scenario import Scenario

    def numbers(cls, prefix=""):
        for f in dataclasses.fields(cls):
            if f.metadata.get("internal"):
                continue
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if dataclasses.is_dataclass(default) and type(default).__name__ != "ByClutter":
                yield from numbers(type(default), f"{prefix}{f.name}.")
            elif isinstance(default, (int, float)) and not isinstance(default, bool) or \
                    type(default).__name__ == "ByClutter":
                yield f"{prefix}{f.name}", f.metadata

    unbounded = [name for name, meta in numbers(Scenario) if meta.get("hi") is None and name != "pon.split_ratio"]
    assert unbounded == []


def test_district_min_on_an_unknown_district_is_bad_input_not_infeasible(tmp_path, capsys):
    s = city(tmp_path, SMALL.replace("[pon]", "district_min = {\"Z9\" = 5, \"A1\" = 1}\n[pon]"))
    assert main(["-q", "validate", str(s)]) == 2
    assert "unknown district id(s) Z9" in capsys.readouterr().out
    rc = main(["-q", "plan", str(s), "--out", str(tmp_path / "out")])
    one_line_error(capsys, 2, rc, "radio.district_min", "Z9")


def test_leading_zero_hint_for_district_keys():
    from rollout.scenario import district_key_problems, scenario_from_dict

    s = scenario_from_dict({"radio": {"district_max": {"1": 3}}})
    (p,) = district_key_problems(s, ["001", "002"])
    assert "did you mean '001'" in p


def test_budget_mode_with_explicit_port_target_is_refused(tmp_path, capsys):
    s = city(tmp_path, SMALL + "[budget]\ncapex_cny = 5e6\n")
    assert main(["-q", "validate", str(s)]) == 2
    assert "'pon.target_ports' = 40" in capsys.readouterr().out
    rc = main(["-q", "plan", str(s), "--out", str(tmp_path / "out")])
    one_line_error(capsys, 2, rc, "budget mode", "conflicts", "pon.target_ports")
    assert files(tmp_path / "out") == []
    from rollout.scenario import scenario_from_dict

    with pytest.raises(ValueError, match="phasing.stations_cumulative"):
        scenario_from_dict({"budget": {"capex_cny": 5e6}, "phasing": {"years": [2022], "stations_cumulative": [9]}})
    # the station target is honoured as the reference plan; a disabled PON has no port target to drop
    ok = scenario_from_dict({"budget": {"capex_cny": 5e6}, "radio": {"target_stations": 60},
                             "pon": {"enabled": False, "target_ports": 40}})
    assert ok.budget.capex_cny == 5e6


# --------------------------------------------------------------------------- ids

def test_ids_are_read_as_text(tmp_path, capsys):
    shapes = {"001": shapely.box(11.50, 48.10, 11.56, 48.14), "002": shapely.box(11.56, 48.10, 11.62, 48.14)}
    s = write_districts(tmp_path / "same", shapes)
    assert pd.read_csv(tmp_path / "same" / "t.csv")["code"].iloc[0] == 1  # a plain reader would lose the zeros
    assert main(["-q", "validate", str(s)]) == 0
    from gis.validate import validate_districts

    d = validate_districts(tmp_path / "same" / "b.geojson", tmp_path / "same" / "t.csv", id_field="code")
    assert sorted(d["district_id"]) == ["001", "002"]


def test_001_against_1_is_reported_clearly(tmp_path, capsys):
    shapes = {"001": shapely.box(11.50, 48.10, 11.56, 48.14), "002": shapely.box(11.56, 48.10, 11.62, 48.14)}
    folder = tmp_path / "differ"
    s = write_districts(folder, shapes)
    (folder / "t.csv").write_text("code,population\n1,10000\n2,15000\n")
    # the table's ids are written 1 and 2; CSV text, not numbers, is what is compared
    assert main(["-q", "validate", str(s)]) == 2
    out = capsys.readouterr().out
    assert "differ only in leading zeros" in out and "'001' vs '1'" in out


# --------------------------------------------------------------------------- outputs

def test_sweep_folder_names_stay_inside_out(tmp_path, capsys, quick_plan):
    s = city(tmp_path)
    out = tmp_path / "deep" / "out"
    rc = main(["-q", "sweep", str(s), "--param", "title=x/../../../ESC", "--out", str(out), "--no-map"])
    assert rc == 0, capsys.readouterr().err
    assert not (tmp_path / "ESC").exists() and not (tmp_path / "deep" / "ESC").exists()
    assert [p.name for p in out.iterdir() if p.is_dir()] == ["title=x_.._.._.._ESC"]


@given(hst.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_sweep_folder_name_is_one_safe_component(value):
    name = sweep_folder_name("title", value)
    assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert Path(name).name == name and name not in ("", ".", "..")
    assert not any(c in name for c in UNSAFE)


def test_map_html_being_a_folder_leaves_no_plan_behind(tmp_path, capsys, quick_plan):
    out = tmp_path / "out"
    (out / "map.html").mkdir(parents=True)
    rc = main(["-q", "plan", str(city(tmp_path)), "--out", str(out)])
    one_line_error(capsys, 2, rc, "map.html", "is a folder")
    assert files(out) == ["map.html"]


def test_full_disk_leaves_no_plan_behind(tmp_path, capsys, quick_plan, monkeypatch):
    import maps.report

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(maps.report, "write_report", full)
    out = tmp_path / "out"
    rc = main(["-q", "plan", str(city(tmp_path)), "--out", str(out)])
    one_line_error(capsys, 2, rc, "No space left on device")
    assert files(out) == []


def test_no_map_removes_the_older_map_and_report(tmp_path, capsys, quick_plan):
    out = tmp_path / "out"
    s = city(tmp_path)
    assert main(["-q", "plan", str(s), "--out", str(out)]) == 0
    assert files(out) == ["map.html", "plan.gpkg", "plan.json", "report.html"]
    (out / "notes.txt").write_text("mine")
    assert main(["-q", "plan", str(s), "--out", str(out), "--no-map"]) == 0
    assert files(out) == ["notes.txt", "plan.gpkg", "plan.json"]


def test_interrupt_while_writing_leaves_the_older_outputs_whole(tmp_path, capsys, quick_plan, monkeypatch):
    import maps.report

    out = tmp_path / "out"
    s = city(tmp_path)
    assert main(["-q", "plan", str(s), "--out", str(out)]) == 0
    before = {p: (out / p).read_bytes() for p in files(out)}

    def interrupted(*a, **k):
        raise cli.Interrupted(signal.SIGTERM)

    monkeypatch.setattr(maps.report, "write_report", interrupted)
    rc = main(["-q", "plan", str(s), "--out", str(out)])
    one_line_error(capsys, 143, rc, "interrupted by SIGTERM")
    assert {p: (out / p).read_bytes() for p in files(out)} == before


# --------------------------------------------------------------------------- interrupts

def market_split(n: int = 40, m: int = 4):
    """A market-split instance (Cornuejols-Dawande): CBC must enumerate far longer than the tests wait."""
    import numpy as np
    import pulp

    rng = np.random.default_rng(7)
    a = rng.integers(0, 100, size=(m, n))
    p = pulp.LpProblem("market_split", pulp.LpMinimize)
    x = [p.add_variable(f"x{i}", cat="Binary") for i in range(n)]
    slack = [p.add_variable(f"s{r}{k}", lowBound=0) for r in range(m) for k in "pm"]
    p += pulp.lpSum(slack)
    for r in range(m):
        p += pulp.lpSum(int(v) * xi for v, xi in zip(a[r], x, strict=True)) + slack[2 * r] - slack[2 * r + 1] == int(a[r].sum() // 2)
    return p


HARD_SOLVE = textwrap.dedent("""
    import sys
    import rollout.pipeline
    from rollout.cli import main
    from rollout.solve import solve
    from tests.test_bad_input import market_split

    def hard(scenario, **kw):
        print("solving", flush=True)
        solve(market_split(), part="hard", time_limit_s=120, gap_rel=0.0, threads=1)
        raise SystemExit("the solve finished before the signal")

    rollout.pipeline.plan_from_scenario = hard
    sys.exit(main(["-q", "plan", sys.argv[1], "--out", sys.argv[2]]))
""")


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the CBC child")
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_kills_the_cbc_process_group_and_removes_temp_files(tmp_path, signum, code):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "out"
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", HARD_SOLVE, str(city(tmp_path)), str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        cbc = []
        for _ in range(600):  # the CBC child appears within a few seconds
            # the program name, not the whole command line: this test's own tmp path holds "cbc" too
            cbc = [c for c in _children(proc.pid) if Path(Path(f"/proc/{c}/cmdline").read_bytes().split(b"\0")[0]
                                                           .decode(errors="replace")).name.lower().startswith("cbc")
                   ] if proc.poll() is None else []
            if cbc or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert cbc, proc.communicate()[1]
        assert os.getpgid(cbc[0]) == cbc[0]  # its own process group
        time.sleep(0.3)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    lines = [line for line in err.splitlines() if line.startswith("rollout:")]
    assert lines == [f"rollout: interrupted by {signal.Signals(signum).name}; no output written"], err
    assert "Traceback" not in err
    for pid in cbc:
        assert not _alive(pid)
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
    assert list(tmp.iterdir()) == []
    assert files(out) == []


def test_solver_children_of_worker_threads_are_killed_too(tmp_path, monkeypatch):
    """A region plan solves cities in worker threads: the CLI's interrupt kills their CBC groups as well."""
    import threading

    from rollout import solve as solve_mod

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    p = market_split()
    errors = []

    def work():
        try:
            solve_mod.solve(p, part="worker", time_limit_s=120, gap_rel=0.0, threads=1)
        except Exception as exc:  # noqa: BLE001 - CBC killed under PuLP
            errors.append(exc)

    t = threading.Thread(target=work)
    t.start()
    for _ in range(400):
        if solve_mod._CHILD_GROUPS.alive:
            break
        time.sleep(0.05)
    (child,) = list(solve_mod._CHILD_GROUPS.alive)
    assert solve_mod.kill_solver_children() == 1
    t.join(timeout=60)
    assert not t.is_alive() and errors and child.returncode is not None
    assert not solve_mod._CHILD_GROUPS.alive
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- text

@given(hst.text())
@settings(max_examples=300, deadline=None)
def test_clean_text_removes_every_control_and_bidi_character(text):
    out = clean_text(text)
    assert not any(c in out for c in UNSAFE)
    assert not any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in out)
    assert clean_text(out) == out


def test_no_bidi_or_control_characters_in_any_output(tmp_path, capsys):
    title = "Evil\u202eLMTH.exe\x07 plan\u2066"
    folder = tmp_path / "city"
    s = city(folder, title=title)
    table = pd.read_csv(folder / "city.csv", dtype=str)
    table.loc[0, "name_en"] = "Alt\u202estadt\x1b[31m"
    table.to_csv(folder / "city.csv", index=False)
    out = tmp_path / "out"
    assert main(["-q", "plan", str(s), "--out", str(out)]) == 0, capsys.readouterr().err
    for fmt in ("csv", "geojson", "kml", "gpkg"):
        assert main(["-q", "export", str(out), "--format", fmt]) == 0
    texts = [p for p in out.rglob("*") if p.suffix in (".json", ".html", ".csv", ".geojson", ".kml")]
    assert {p.suffix for p in texts} == {".json", ".html", ".csv", ".geojson", ".kml"}
    for p in texts:
        body = p.read_text(encoding="utf-8-sig")
        bad = sorted({f"U+{ord(c):04X}" for c in body if c in UNSAFE})
        assert not bad, (p.name, bad)
    assert "EvilLMTH.exe plan" in (out / "plan.json").read_text(encoding="utf-8")
    gpkg = gpd.read_file(out / "export" / "plan.gpkg", layer="districts") if (out / "export" / "plan.gpkg").exists() \
        else None
    if gpkg is not None:
        assert not any(c in str(v) for v in gpkg.select_dtypes(object).to_numpy().ravel() for c in UNSAFE)


def test_a_hand_edited_plan_is_cleaned_when_drawn_and_exported(tmp_path, quick_plan, capsys):
    out = tmp_path / "out"
    assert main(["-q", "plan", str(city(tmp_path)), "--out", str(out), "--no-map"]) == 0
    summary = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    summary["title"] = "x\u202ey\u2067z"
    (out / "plan.json").write_text(json.dumps(summary), encoding="utf-8")
    assert main(["-q", "report", str(out)]) == 0 and main(["-q", "map", str(out)]) == 0
    assert main(["-q", "export", str(out), "--format", "kml"]) == 0
    assert main(["-q", "compare", str(out), str(out), "--out", str(tmp_path / "cmp")]) == 0
    for p in (out / "report.html", out / "map.html", out / "export" / "plan.kml", tmp_path / "cmp" / "compare.html",
              tmp_path / "cmp" / "compare.json"):
        body = p.read_text(encoding="utf-8")
        assert not any(c in body for c in UNSAFE), p.name
        assert "xyz" in body or p.name == "compare.html", p.name  # the comparison page shows folder labels


# --------------------------------------------------------------------------- far-apart districts

FAR = {"DE1": shapely.box(11.50, 48.10, 11.56, 48.14),      # near Munich
       "CN1": shapely.box(120.30, 36.05, 120.36, 36.09),    # Qingdao
       "CN2": shapely.box(116.38, 39.90, 116.44, 39.94)}    # Beijing


def far_city(folder: Path, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_geojson(folder / "b.geojson", [({"code": k}, g) for k, g in FAR.items()])
    pd.DataFrame({"code": list(FAR), "population": [50_000, 60_000, 70_000]}).to_csv(folder / "t.csv", index=False)
    s = folder / "s.toml"
    s.write_text("[data]\nboundaries = \"b.geojson\"\ndistricts = \"t.csv\"\nid_field = \"code\"\n"
                 "[radio]\ntarget_stations = 60\nsurplus = \"none\"\n[pon]\ntarget_ports = 60\n"
                 f"[solver]\nthreads = 1\ntime_limit_s = 5\ngap_rel = 0.05\n{extra}")
    return s


def geod_m(lon1, lat1, lon2, lat2):
    from pyproj import Geod

    return Geod(ellps="WGS84").inv(lon1, lat1, lon2, lat2)[2]


@pytest.fixture(scope="module")
def far_layers(tmp_path_factory):
    from gis.build import layers_from_scenario
    from rollout.scenario import load_scenario

    return layers_from_scenario(load_scenario(far_city(tmp_path_factory.mktemp("far"))))


def test_one_city_keeps_its_utm_zone():
    from gis.crs import metric_crs
    from seeds import seed_path

    city_gdf = gpd.GeoDataFrame(geometry=[g for _, _, g in SECOND_CITY.values()], crs=4326)
    assert metric_crs(city_gdf) == "EPSG:32632"
    assert metric_crs(gpd.read_file(seed_path("qingdao_districts.gpkg"))) == "EPSG:32651"


def test_far_apart_districts_get_a_frame_each_and_true_distances(far_layers):
    from gis.crs import FRAMES_PREFIX, lonlat_to_xy, utm_epsg

    assert far_layers.crs_metric.startswith(FRAMES_PREFIX)
    d, c, p = far_layers.demand, far_layers.candidates, far_layers.pairs
    assert set(d["district_id"]) == set(FAR)
    cell, site = p["cell"].to_numpy(), p["site"].to_numpy()
    true_m = geod_m(d["lon"].to_numpy()[cell], d["lat"].to_numpy()[cell],
                    c["lon"].to_numpy()[site], c["lat"].to_numpy()[site])
    far_enough = true_m > 50  # sub-metre pairs are rounding, not scale
    rel = np.abs(p["dist_m"].to_numpy() - true_m)[far_enough] / true_m[far_enough]
    assert rel.max() < 1e-3
    # one UTM zone for all three (the old behaviour) is 15-29 % off somewhere
    zone = utm_epsg(float(d["lon"].mean()), float(d["lat"].mean()))
    x, y = lonlat_to_xy(d["lon"].to_numpy(), d["lat"].to_numpy(), zone)
    sx, sy = lonlat_to_xy(c["lon"].to_numpy(), c["lat"].to_numpy(), zone)
    old = np.hypot(x[cell] - sx[site], y[cell] - sy[site])
    assert (np.abs(old - true_m)[far_enough] / true_m[far_enough]).max() > 0.1
    # pairs never join two areas
    assert (d["district_id"].to_numpy()[cell] == c["district_id"].to_numpy()[site]).all()


@given(hst.sampled_from(list(FAR)), hst.floats(-0.3, 0.3), hst.floats(-0.3, 0.3),
       hst.floats(-0.3, 0.3), hst.floats(-0.3, 0.3))
@settings(max_examples=60, deadline=None)
def test_frame_distances_within_a_tenth_of_a_percent_of_geodesic(key, dx1, dy1, dx2, dy2):
    from gis.crs import lonlat_to_xy, metric_crs, xy_to_lonlat

    crs = metric_crs(gpd.GeoDataFrame(geometry=list(FAR.values()), crs=4326))
    c = FAR[key].centroid
    lon = np.array([c.x + dx1, c.x + dx2])
    lat = np.array([c.y + dy1, c.y + dy2])
    x, y = lonlat_to_xy(lon, lat, crs)
    true_m = geod_m(lon[0], lat[0], lon[1], lat[1])
    if true_m > 100:
        assert abs(np.hypot(x[1] - x[0], y[1] - y[0]) - true_m) / true_m < 1e-3
    back = xy_to_lonlat(x, y, crs)
    assert np.allclose(back[0], lon, atol=1e-9) and np.allclose(back[1], lat, atol=1e-9)


def test_far_apart_areas_are_measured_in_their_own_frame():
    from pyproj import Geod

    from gis.crs import area_km2

    gdf = gpd.GeoDataFrame(geometry=list(FAR.values()), crs=4326)
    true_km2 = np.array([abs(Geod(ellps="WGS84").geometry_area_perimeter(g)[0]) / 1e6 for g in FAR.values()])
    assert np.allclose(area_km2(gdf), true_km2, rtol=1e-3)


def test_far_apart_districts_are_planned_and_pass_the_check(tmp_path, capsys):
    from rollout.check import check_plan

    out = tmp_path / "out"
    assert main(["-q", "plan", str(far_city(tmp_path)), "--out", str(out), "--no-map"]) == 0, capsys.readouterr().err
    failed = [(c.name, c.detail) for c in check_plan(out) if not c.ok]
    assert failed == []
    st = gpd.read_file(out / "plan.gpkg", layer="stations")
    assert set(st["district_id"]) == set(FAR)


def test_layers_output_blocked_by_a_folder_leaves_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    (out / "layers_map.html").mkdir(parents=True)
    rc = main(["-q", "layers", str(city(tmp_path)), "--out", str(out)])
    one_line_error(capsys, 2, rc, "layers_map.html", "is a folder")
    assert files(out) == ["layers_map.html"]


def test_ids_with_leading_zeros_under_any_id_field_name(tmp_path, capsys):
    folder = tmp_path / "kreis"
    folder.mkdir()
    write_geojson(folder / "b.geojson", [({"kreis": "001"}, shapely.box(11.50, 48.10, 11.56, 48.14)),
                                         ({"kreis": "002"}, shapely.box(11.56, 48.10, 11.62, 48.14))])
    (folder / "t.csv").write_text("kreis,population\n001,10000\n002,15000\n")
    (folder / "cores.csv").write_text("kreis,lon,lat\n001,11.53,48.12\n002,11.59,48.12\n")
    s = folder / "s.toml"
    s.write_text("[data]\nboundaries = \"b.geojson\"\ndistricts = \"t.csv\"\nid_field = \"kreis\"\n"
                 "cores = \"cores.csv\"\n")
    assert main(["-q", "validate", str(s)]) == 0, capsys.readouterr().out
