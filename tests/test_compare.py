"""Plan comparison (rollout compare / sweep output): figures read back from the saved plans, names escaped."""
import json

import pytest

from maps.compare import write_comparison
from rollout.cli import main, parse_param
from gis.errors import RolloutError
from tests._plan_fixture import HOSTILE_TITLE, save_plan


def test_compare_two_plans(tmp_path):
    a = save_plan(tmp_path / "a", n_stations=30, seed=1)
    b = save_plan(tmp_path / "b", n_stations=60, seed=2)
    out = tmp_path / "cmp"
    assert main(["-q", "compare", str(a), str(b), "--out", str(out)]) == 0
    data = json.loads((out / "compare.json").read_text())
    sa = json.loads((a / "plan.json").read_text())
    sb = json.loads((b / "plan.json").read_text())
    assert [r["plan"] for r in data["plans"]] == ["a", "b"]
    assert data["plans"][0]["capex_cny"] == sa["totals"]["capex_cny"]
    assert data["plans"][1]["stations_5g"] == sb["totals"]["stations_5g"]
    # per-district differences are b minus a
    da = {d["district_id"]: d for d in sa["districts"]}
    for d in data["district_differences"]:
        b_row = next(x for x in sb["districts"] if x["district_id"] == d["district_id"])
        assert d["d_stations_5g"] == b_row["stations_5g"] - da[d["district_id"]]["stations_5g"]
    html = (out / "compare.html").read_text()
    assert html.count("<svg") >= 2 and "<script" not in html


def test_hostile_titles_are_escaped_and_sweep_curves_drawn(tmp_path):
    a = save_plan(tmp_path / "x")  # the fixture's plans carry hostile titles and names
    b = save_plan(tmp_path / "y", seed=3)
    path = write_comparison([a, b], tmp_path / "o", title=HOSTILE_TITLE, param="pon.split_ratio", values=[32, 64])
    html = path.read_text()
    assert "<script>window.__xss" not in html and "&lt;script&gt;" in html
    assert "polyline" in html  # the curve over the swept value


def test_compare_missing_plan_is_a_clean_error(tmp_path):
    assert main(["-q", "compare", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o" / "compare.html").exists()


@pytest.mark.parametrize("text, key, values", [
    ("pon.split_ratio=32,64,128", "pon.split_ratio", [32, 64, 128]),
    ("budget.capex_cny=1e9, 2e9", "budget.capex_cny", [1e9, 2e9]),
    ("pon.single_sourcing=true,false", "pon.single_sourcing", [True, False]),
])
def test_parse_param(text, key, values):
    assert parse_param(text) == (key, values)


def test_parse_param_rejects_garbage():
    with pytest.raises(RolloutError):
        parse_param("nothing")
    with pytest.raises(RolloutError):
        parse_param("a=")
