"""The scenario's radio: link budgets per type x band x clutter, explicit radii, bad input, ``rollout radio``."""
from __future__ import annotations

import json
import re

import pytest

from gis.errors import ScenarioError
from rollout.check import radius_m
from rollout.cli import main
from rollout.radio_plan import CLUTTERS, cell_radius_m, link_budget_rows, type_radii_m
from rollout.scenario import Scenario, scenario_from_dict


def test_small_radius_below_macro_radius_in_every_clutter():
    radii = type_radii_m(Scenario())
    for c in CLUTTERS:
        assert 0 < radii["small"][c] < radii["macro"][c], c


def test_link_budget_rows_match_the_contract_and_the_check():
    s = Scenario()
    rows = link_budget_rows(s)
    assert [(r["type"], r["clutter"]) for r in rows] == [(t, c) for t in ("macro", "small") for c in CLUTTERS]
    for r in rows:
        assert set(r) == {"type", "band_mhz", "clutter", "mapl_db", "radius_m"}
        assert r["band_mhz"] == 3500.0
        assert r["radius_m"] == pytest.approx(radius_m(s, r["type"], r["clutter"]), abs=0.05)
    # the macro radii shrink from rural to dense urban (penetration, edge probability, UMa vs RMa)
    macro = [r["radius_m"] for r in rows if r["type"] == "macro"]
    assert macro == sorted(macro)


def test_700_mhz_macro_reaches_further_than_n78():
    n28 = type_radii_m(scenario_from_dict({"radio": {"macro": {"band_mhz": 700.0}}}))
    n78 = type_radii_m(Scenario())
    assert all(n28["macro"][c] > 1.5 * n78["macro"][c] for c in CLUTTERS)


def test_explicit_radius_overrides_the_link_budget():
    s = scenario_from_dict({"radio": {"macro": {"radius_m": {"rural": 1500.0}}}})
    radii = type_radii_m(s)
    assert radii["macro"]["rural"] == 1500.0
    assert radii["macro"]["urban"] == type_radii_m(Scenario())["macro"]["urban"]
    assert radius_m(s, "macro", "rural") == 1500.0
    assert cell_radius_m(s)["rural"] == 1500.0


def test_partial_small_table_keeps_the_small_cell_defaults():
    s = scenario_from_dict({"radio": {"small": {"capex_cny": 50000.0}}})
    d = Scenario().radio.small
    assert s.radio.small.capex_cny == 50000.0
    assert s.radio.small.capacity_mbps == d.capacity_mbps != 2000.0
    assert s.radio.small.clutters == d.clutters


@pytest.mark.parametrize("radio, match", [
    ({"macro": {"band_mhz": 8000.0}}, r"'radio.macro.band_mhz' = 8000.0 is out of range"),
    ({"small": {"radius_m": {"rurl": 50.0}}}, r"radio.small.radius_m.rurl"),
    ({"small": {"clutters": ["urban", "rural"]}}, r"'radio.small.clutters' must not hold 'rural'"),
])
def test_bad_radio_settings_name_the_key(radio, match):
    with pytest.raises(ScenarioError, match=match):
        scenario_from_dict({"radio": radio})


@pytest.mark.parametrize("toml, match", [
    ("[radio]\nthreshold_dbm = -45\n", r"'radio.threshold_dbm' = -45: .*no positive radius"),
    ("[radio.macro]\nband_mhz = 1800\n", r"'radio.macro.band_mhz'.*no macro transmitter"),
])
def test_rollout_radio_bad_budget_exits_2(tmp_path, capsys, toml, match):
    path = tmp_path / "s.toml"
    path.write_text(toml, encoding="utf-8")
    assert main(["radio", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert re.search(match, err)


def test_rollout_radio_prints_the_table(capsys):
    assert main(["radio", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["link_budget"] == link_budget_rows(Scenario())
    assert main(["radio"]) == 0
    text = capsys.readouterr().out
    assert "mapl_db" in text and "dense_urban" in text


def test_small_cell_never_counts_beyond_its_radius():
    """A dense-urban cell with a cheap small-cell position 100 m away (beyond the small radius) and a dear macro
    position 150 m away (within the macro radius): only the macro can cover it."""
    import numpy as np

    from gis.pairs import pairs_by_type
    from rollout.model_5g import Siting5GInput, solve_5g

    radii = type_radii_m(Scenario())
    assert radii["small"]["dense_urban"] < 100.0 < 150.0 < radii["macro"]["dense_urban"]
    site_xy = np.array([[100.0, 0.0], [0.0, 150.0]])
    kind = np.array(["small", "macro"])
    pairs, _ = pairs_by_type(np.zeros((1, 2)), {t: np.array([radii[t]["dense_urban"]]) for t in ("macro", "small")},
                             site_xy, kind)
    assert pairs["site"].tolist() == [1]              # the small cell is not paired at all
    inp = Siting5GInput(traffic_mbps=[0.0], population=[100.0], k_coverage=[1], pairs=pairs,
                        type_names=("macro", "small"), capacity_mbps=[1000.0, 300.0], capex_cny=[300000.0, 60000.0],
                        max_per_site=[[0, 1], [1, 0]], surplus="none")
    res = solve_5g(inp, threads=1)
    assert res.stations["type"].tolist() == ["macro"]


def test_plan_has_one_unit_per_position_and_the_evaluation(tmp_path):
    """A small city planned end to end: no unit stacked, radio and evaluation saved and loaded."""
    from rollout.pipeline import plan_from_scenario
    from rollout.plan import load_plan
    from tests._gis_fixtures import second_city_scenario

    sc = second_city_scenario(tmp_path / "city", scenario={"radio": {"target_stations": 150, "surplus": "none"},
                                                           "pon": {"enabled": False}, "solver": {"threads": 1}})
    plan = plan_from_scenario(sc)
    st = plan.stations
    assert (st["count"] == 1).all()
    assert not st.duplicated(["lon", "lat"]).any()          # one unit, of one type, per position
    assert plan.totals["stations_5g"] == len(st) >= 150
    ev = plan.coverage["evaluation"]
    assert plan.coverage["population_covered_share"] == ev["population_share"]
    assert plan.coverage["area_covered_share"] == ev["area_share"]
    assert plan.radio["link_budget"] == link_budget_rows(sc)
    plan.save(tmp_path / "out")
    back = load_plan(tmp_path / "out")
    assert back.radio == plan.radio
    assert len(back.rsrp) == ev["points"] and back.rsrp["covered"].dtype == bool
    assert list(back.rsrp.columns) == [*plan.rsrp.columns]


def test_infeasible_coverage_names_type_clutter_district_and_cells():
    import numpy as np
    import pandas as pd

    from gis.errors import InfeasibleError
    from rollout.model_5g import Siting5GInput, diagnose

    radii = type_radii_m(Scenario())
    inp = Siting5GInput(traffic_mbps=[0.0], population=[10.0], k_coverage=[1],
                        pairs=pd.DataFrame({"cell": [], "site": [], "dist_m": []}), type_names=("macro", "small"),
                        capacity_mbps=[1.0, 1.0], capex_cny=[1.0, 1.0], max_per_site=np.array([[1, 0]]),
                        cell_ids=["h-far"], cell_district=["370283"], cell_clutter=["rural"], type_radius_m=radii)
    with pytest.raises(InfeasibleError) as info:
        diagnose(inp)
    msg = str(info.value)
    assert info.value.family == "coverage"
    assert "h-far (district 370283, rural: macro 964 m, small 161 m)" in msg
