"""The scenario: typed, validated in one place, unknown keys name the closest valid key."""
import tomllib

import pytest
from hypothesis import given, settings, strategies as st

from gis.errors import ScenarioError
from rollout.scenario import CLUTTERS, Scenario, default_toml, load_scenario, scenario_from_dict


def test_default_toml_round_trips_to_the_defaults():
    s = scenario_from_dict(tomllib.loads(default_toml()))
    assert s == Scenario()
    assert s.radio.target_stations == 35000 and s.pon.target_ports == 90000


def test_default_toml_documents_every_key():
    text = default_toml()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if " = " in line and not line.startswith("#"):
            assert lines[i - 1].startswith("# "), f"undocumented key: {line}"


def test_unknown_key_names_the_closest_valid_key():
    with pytest.raises(ScenarioError, match=r"unknown key 'radio.target_station'; did you mean 'radio.target_stations'"):
        scenario_from_dict({"radio": {"target_station": 1}})
    with pytest.raises(ScenarioError, match=r"did you mean 'pon.split_ratio'"):
        scenario_from_dict({"pon": {"split_ration": 64}})


def test_every_problem_is_collected():
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict({"radio": {"target_stations": -1, "k_coverage": {"urbn": 3}}, "solver": {"name": "gurobi"}})
    assert len(info.value.problems) == 3
    assert "and 2 more" in str(info.value)


@pytest.mark.parametrize("data, match", [
    ({"solver": {"gap_rel": 2.0}}, r"'solver.gap_rel' = 2.0 is out of range"),
    ({"radio": {"target_stations": 1.5}}, "whole number"),
    ({"radio": {"target_stations": "many"}}, "must be a number"),
    ({"pon": {"split_ratio": 60}}, "must be 32, 64 or 128"),
    ({"pon": {"single_sourcing": "yes"}}, "true or false"),
    ({"solver": {"name": "cbx"}}, "did you mean 'cbc'"),
    ({"radio": "x"}, "must be a table"),
])
def test_bad_values_are_refused(data, match):
    with pytest.raises(ScenarioError, match=match):
        scenario_from_dict(data)


def test_by_clutter_accepts_a_single_number():
    s = scenario_from_dict({"pon": {"split_ratio": 32}, "radio": {"k_coverage": {"rural": 2}}})
    assert s.pon.split_ratio.as_dict() == {c: 32 for c in CLUTTERS}
    assert s.radio.k_coverage.rural == 2 and s.radio.k_coverage.urban == Scenario().radio.k_coverage.urban


def test_load_scenario_file_errors(tmp_path):
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("radio = [", encoding="utf-8")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(bad)


def test_relative_paths_resolve_against_the_scenario_file(tmp_path):
    f = tmp_path / "sub" / "s.toml"
    f.parent.mkdir()
    f.write_text('[data]\nboundaries = "b.geojson"\n', encoding="utf-8")
    s = load_scenario(f)
    assert s.path(s.data.boundaries) == f.parent.resolve() / "b.geojson"
    assert s.path("") is None


def test_overrides_are_validated_too():
    s = load_scenario(None, overrides={"pon.split_ratio": 128, "solver.name": "highs"})
    assert s.pon.split_ratio.urban == 128 and s.solver.name == "highs"
    with pytest.raises(ScenarioError, match="out of range"):
        load_scenario(None, overrides={"solver.gap_rel": -1.0})


@settings(max_examples=50, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["gap_rel", "time_limit_s"]))
def test_numbers_in_range_are_kept_and_others_refused(value, key):
    try:
        s = scenario_from_dict({"solver": {key: value}})
    except ScenarioError:
        lo, hi = {"gap_rel": (0.0, 1.0), "time_limit_s": (1.0, 1e6)}[key]
        assert not (lo <= value <= hi) or value != value or value == float("inf")
    else:
        assert getattr(s.solver, key) == value


def test_headroom_rule_is_set_from_toml_validated_and_reaches_the_5g_model(tmp_path):
    from gis.build import layers_from_scenario
    from rollout.model_5g import Siting5GInput
    from tests._gis_fixtures import second_city_scenario

    assert Scenario().radio.headroom_rule == "fair"
    assert 'headroom_rule = "fair"' in default_toml() and "one of: fair, uniform" in default_toml()
    with pytest.raises(ScenarioError, match=r"'radio.headroom_rule' = 'unifrom' is not one of fair, uniform; "
                                            r"did you mean 'uniform'"):
        scenario_from_dict({"radio": {"headroom_rule": "unifrom"}})
    s = second_city_scenario(tmp_path, scenario={"radio": {"headroom_rule": "uniform"}})
    assert s.radio.headroom_rule == "uniform"
    assert Siting5GInput.from_layers(layers_from_scenario(s), s).headroom_rule == "uniform"


def test_scenario_init_documents_the_input_columns():
    head = default_toml().split("[data]")[0]
    for words in ("data.boundaries", "data.districts", "data.id_field", "data.cores", "required: the id column",
                  "population", "households", "area_km2", "name_zh", "name_en", "lon, lat"):
        assert words in head, words
    assert "Qingdao rollout scenario" not in default_toml()


def test_title_names_qingdao_only_for_the_embedded_data():
    assert "Qingdao" in scenario_from_dict({}).plan_title()
    other = scenario_from_dict({"data": {"boundaries": "b.geojson", "districts": "towns/lyon.csv"}})
    assert other.plan_title() == "Rollout plan: lyon"
    assert scenario_from_dict({"title": "Lyon 2030", "data": {"districts": "x.csv"}}).plan_title() == "Lyon 2030"


def test_worked_example_of_the_readme_validates():
    from pathlib import Path

    from gis.build import validate_scenario_inputs

    example = Path(__file__).resolve().parents[1] / "examples" / "demo_city" / "demo_city.toml"
    assert validate_scenario_inputs(load_scenario(example)) == []
