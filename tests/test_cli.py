"""The CLI: one-line errors, exit codes, and no output left behind on failure."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rollout.cli import main

ROLL = [sys.executable, "-m", "rollout.cli"]


def run(*args, cwd=None):
    return subprocess.run([*ROLL, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)


def assert_one_line_error(proc, code, *fragments):
    assert proc.returncode == code, proc.stderr
    err = [line for line in proc.stderr.splitlines() if line.startswith("rollout:")]
    assert len(err) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for f in fragments:
        assert f in err[0], err[0]


def write_scenario(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_help_everywhere():
    for args in ([], ["plan"], ["layers"], ["validate"], ["map"], ["report"], ["export"], ["scenario", "init"]):
        proc = run(*args, "--help")
        assert proc.returncode == 0 and "usage: rollout" in proc.stdout


def test_usage_error_exits_2():
    proc = run("plan", "--bogus")
    assert proc.returncode == 2 and "unrecognized arguments" in proc.stderr


def test_scenario_init_writes_a_loadable_commented_file(tmp_path):
    target = tmp_path / "s.toml"
    assert main(["-q", "scenario", "init", str(target)]) == 0
    assert target.read_text().count("\n# ") > 50
    assert main(["-q", "validate", str(target)]) in (0, 2)  # runs; data problems are reported, not raised


def test_unknown_scenario_key(tmp_path):
    s = write_scenario(tmp_path, "[radio]\ntarget_station = 3\n")
    proc = run("layers", s, "--out", tmp_path / "out")
    assert_one_line_error(proc, 2, "did you mean 'radio.target_stations'")
    assert not (tmp_path / "out" / "layers.gpkg").exists()


def test_value_out_of_range(tmp_path):
    s = write_scenario(tmp_path, "[solver]\ngap_rel = 5\n")
    assert_one_line_error(run("plan", s, "--out", tmp_path / "out"), 2, "gap_rel", "out of range")


def test_missing_scenario_file(tmp_path):
    assert_one_line_error(run("plan", tmp_path / "nope.toml"), 2, "nope.toml", "file not found")


@pytest.mark.parametrize("content, fragment", [
    (None, "file not found"),
    (b"\x00\x01garbage-not-geodata\xff", "not a readable geodata file"),
    (b'{"type": "FeatureCollection", "features": [', "not a readable geodata file"),
])
def test_bad_boundary_file(tmp_path, content, fragment):
    f = tmp_path / "b.geojson"
    if content is not None:
        f.write_bytes(content)
    s = write_scenario(tmp_path, f'[data]\nboundaries = "{f.name}"\n')
    out = tmp_path / "out"
    assert_one_line_error(run("layers", s, "--out", out), 2, "b.geojson", fragment)
    assert not out.exists() or not any(out.iterdir())


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_line_error(run("layers", "--out", blocker / "sub"), 2, "cannot be written")


def test_map_of_a_folder_without_plan(tmp_path):
    assert_one_line_error(run("map", tmp_path), 2, "plan.json")
    assert not (tmp_path / "map.html").exists()


def test_validate_lists_every_problem(tmp_path):
    s = write_scenario(tmp_path, "title = 3\n[radio]\ntarget_station = 3\n[pon]\nreach_km = -1\n")
    proc = run("validate", s)
    assert proc.returncode == 2
    assert "target_station" in proc.stdout and "reach_km" in proc.stdout and "title" in proc.stdout
    assert "3 problems found" in proc.stderr


def test_layers_summary_json(tmp_path):
    proc = run("layers", "--out", tmp_path, "--json", "--no-map")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["cells"] > 1000 and summary["pairs"] >= summary["cells"]
    assert summary["max_pairs_per_cell"] >= 1
    assert (tmp_path / "layers.gpkg").is_file()
