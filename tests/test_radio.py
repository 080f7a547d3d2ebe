"""rollout.radio: TR 38.901 path loss, the link budget, its inversion and the best-server evaluation.

Hand values are written out here from TR 38.901 Table 7.4.1-1 and checked against literals
computed by hand, so the module and the test do not share a formula.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.errors import ScenarioError
from rollout import radio
from rollout.radio import (ClutterRadio, EdgeTarget, LinkBudget, PathLossModel, RadioConfig, Receiver, StationRadio,
                           best_server_rsrp, check_band_mhz, check_threshold_dbm, invert_path_loss_m, link_budget,
                           link_budget_table, link_budgets, rsrp_dbm)

LOG = math.log10


# --------------------------------------------------------------------------- path loss at hand-computed points

def test_uma_nlos_at_3500_mhz_300_m():
    d3d = math.sqrt(300**2 + (25 - 1.5) ** 2)
    hand = 13.54 + 39.08 * LOG(d3d) + 20 * LOG(3.5) - 0.6 * (1.5 - 1.5)
    assert hand == pytest.approx(121.279, abs=1e-3)
    assert PathLossModel("UMa").path_loss_db(300.0, 3500.0) == pytest.approx(hand, abs=1e-9)


def test_uma_los_on_both_sides_of_the_breakpoint():
    d_bp = 4 * (25 - 1) * (1.5 - 1) * 3.5e9 / 3e8
    assert d_bp == pytest.approx(560.0)
    assert PathLossModel("UMa").breakpoint_m(3500.0) == pytest.approx(560.0)
    pl1 = 28.0 + 22 * LOG(math.hypot(100, 23.5)) + 20 * LOG(3.5)
    pl2 = 28.0 + 40 * LOG(math.hypot(1000, 23.5)) + 20 * LOG(3.5) - 9 * LOG(d_bp**2 + 23.5**2)
    assert (pl1, pl2) == (pytest.approx(83.138, abs=1e-3), pytest.approx(109.412, abs=1e-3))
    got = PathLossModel("UMa", "los").path_loss_db([100.0, 1000.0], 3500.0)
    np.testing.assert_allclose(got, [pl1, pl2], atol=1e-9)


def test_umi_street_canyon_at_3500_mhz_100_m():
    d3d = math.hypot(100, 10 - 1.5)
    los = 32.4 + 21 * LOG(d3d) + 20 * LOG(3.5)
    nlos = max(los, 35.3 * LOG(d3d) + 22.4 + 21.3 * LOG(3.5))
    assert (los, nlos) == (pytest.approx(85.314, abs=1e-3), pytest.approx(104.644, abs=1e-3))
    assert PathLossModel("UMi", "los").path_loss_db(100.0, 3500.0) == pytest.approx(los, abs=1e-9)
    assert PathLossModel("UMi").path_loss_db(100.0, 3500.0) == pytest.approx(nlos, abs=1e-9)
    assert PathLossModel("UMi").breakpoint_m(3500.0) == pytest.approx(4 * 9 * 0.5 * 3.5e9 / 3e8)  # 210 m


def test_rma_at_3500_mhz_1_km():
    h, w, h_bs, h_ut, d3d = 5.0, 20.0, 35.0, 1.5, math.hypot(1000, 33.5)
    los = (20 * LOG(40 * math.pi * d3d * 3.5 / 3) + min(0.03 * h**1.72, 10) * LOG(d3d)
           - min(0.044 * h**1.72, 14.77) + 0.002 * LOG(h) * d3d)
    nlos = (161.04 - 7.1 * LOG(w) + 7.5 * LOG(h) - (24.37 - 3.7 * (h / h_bs) ** 2) * LOG(h_bs)
            + (43.42 - 3.1 * LOG(h_bs)) * (LOG(d3d) - 3) + 20 * LOG(3.5) - (3.2 * LOG(11.75 * h_ut) ** 2 - 4.97))
    assert (los, nlos) == (pytest.approx(105.460, abs=1e-3), pytest.approx(130.424, abs=1e-3))
    assert PathLossModel("RMa", "los").path_loss_db(1000.0, 3500.0) == pytest.approx(los, abs=1e-9)
    assert PathLossModel("RMa").path_loss_db(1000.0, 3500.0) == pytest.approx(max(los, nlos), abs=1e-9)
    assert PathLossModel("RMa").breakpoint_m(3500.0) == pytest.approx(2 * math.pi * 35 * 1.5 * 3.5e9 / 3e8)


def test_rma_los_beyond_the_breakpoint_is_pl1_at_the_breakpoint_plus_40_db_per_decade():
    m = PathLossModel("RMa", "los")
    d_bp = m.breakpoint_m(700.0)  # 770 m at 700 MHz
    d3d = math.hypot(3000, 33.5)
    pl1_bp = (20 * LOG(40 * math.pi * d_bp * 0.7 / 3) + min(0.03 * 5**1.72, 10) * LOG(d_bp)
              - min(0.044 * 5**1.72, 14.77) + 0.002 * LOG(5) * d_bp)
    assert m.path_loss_db(3000.0, 700.0) == pytest.approx(pl1_bp + 40 * LOG(d3d / d_bp), abs=1e-9)


def test_distances_below_10_m_take_the_10_m_value():
    m = PathLossModel("UMa")
    np.testing.assert_allclose(m.path_loss_db([0.0, 3.0, 10.0], 2600.0), m.path_loss_db(10.0, 2600.0))


@pytest.mark.parametrize("scenario", radio.SCENARIOS)
@pytest.mark.parametrize("band_mhz", [700.0, 2600.0, 3500.0])
def test_los_is_continuous_at_the_breakpoint(scenario, band_mhz):
    m = PathLossModel(scenario, "los")
    d_bp = m.breakpoint_m(band_mhz)
    below, above = m.path_loss_db([d_bp * (1 - 1e-9), d_bp * (1 + 1e-9)], band_mhz)
    assert abs(above - below) < 0.01


_models = st.sampled_from([PathLossModel(s, c) for s in radio.SCENARIOS for c in radio.CONDITIONS])
_bands = st.floats(450.0, 7125.0)


@settings(max_examples=150, deadline=None)
@given(model=_models, band_mhz=_bands, a=st.floats(1.0, 4.0), b=st.floats(1.0, 4.0))
def test_path_loss_never_decreases_with_distance(model, band_mhz, a, b):
    d1, d2 = sorted((10**a, 10**b))
    pl1, pl2 = model.path_loss_db([d1, d2], band_mhz)
    assert pl2 >= pl1 - 1e-3  # RMa LOS: the breakpoint step is within 0.001 dB


@settings(max_examples=150, deadline=None)
@given(model=_models, band_mhz=_bands, mapl_db=st.floats(60.0, 180.0))
def test_inversion_round_trip(model, band_mhz, mapl_db):
    r = float(invert_path_loss_m(mapl_db, model, band_mhz)[0])
    pl_min = float(model.path_loss_db(10.0, band_mhz))
    if mapl_db < pl_min:
        assert math.isnan(r)
        return
    assert 10.0 <= r <= model.max_distance_m
    pl = float(model.path_loss_db(r, band_mhz))
    assert pl <= mapl_db + 1e-9
    if r < model.max_distance_m:
        assert pl == pytest.approx(mapl_db, abs=0.01)
    else:
        assert pl <= mapl_db


def test_inversion_is_vectorised_and_ordered():
    m = PathLossModel("UMa")
    r = invert_path_loss_m([100.0, 110.0, 120.0, 130.0], m, 3500.0)
    assert np.all(np.diff(r) > 0)


# --------------------------------------------------------------------------- link budget

def test_mapl_from_a_hand_computed_budget():
    station = StationRadio("macro", 3500.0, power_dbm=46.0, n_prb=100, scs_khz=30.0, antenna_gain_dbi=18.0,
                           cable_loss_db=2.0)
    config = RadioConfig(stations=(station,),
                         clutter={"urban": ClutterRadio(0.0, 0.0, 0.9, penetration_loss_db=20.0)},
                         receiver=Receiver(antenna_gain_dbi=0.0, body_loss_db=3.0, noise_figure_db=7.0),
                         target=EdgeTarget(rsrp_dbm=-100.0, sinr_db=0.0, interference_margin_db=3.0))
    b = link_budget(station, "urban", config)
    # P_RE = 46 - 10 log10(12 x 100) = 15.21; EIRP_RE = 15.21 + 18 - 2 = 31.21 dBm
    # shadowing: UMa NLOS sigma 6 dB x Phi^-1(0.9) = 1.2816 -> 7.69 dB
    # noise per RE = -174 + 10 log10(30e3) + 7 = -122.23; SINR-limited -119.23 < -100: RSRP binds
    # MAPL = 31.21 + 0 - 3 - 20 - 7.69 - (-100) = 100.52 dB
    assert b.re_power_dbm == pytest.approx(15.21, abs=0.01)
    assert b.shadow_margin_db == pytest.approx(7.69, abs=0.01)
    assert b.noise_per_re_dbm == pytest.approx(-122.23, abs=0.01)
    assert b.binding == "rsrp" and b.required_signal_dbm == -100.0
    assert b.mapl_db == pytest.approx(100.52, abs=0.01)
    assert float(b.model.path_loss_db(b.radius_m, 3500.0)) == pytest.approx(b.mapl_db, abs=0.01)


def test_sinr_binds_when_the_rsrp_requirement_is_below_the_noise():
    config = RadioConfig(target=EdgeTarget(rsrp_dbm=-140.0, sinr_db=5.0, interference_margin_db=3.0))
    b = link_budget(config.station("macro", 3500.0), "urban", config)
    assert b.binding == "sinr"
    assert b.required_signal_dbm == pytest.approx(-174 + 10 * LOG(30e3) + 7 + 5 + 3)


def test_o2i_penetration_follows_tr38901():
    low, s_low = radio.o2i_penetration_loss_db(3500.0, high_loss_share=0.0, indoor_distance_m=0.0)
    high, s_high = radio.o2i_penetration_loss_db(3500.0, high_loss_share=1.0, indoor_distance_m=10.0)
    assert (low, s_low) == (pytest.approx(12.70, abs=0.01), 4.4)
    assert (high, s_high) == (pytest.approx(26.85 + 5.0, abs=0.01), 6.5)
    assert radio.o2i_penetration_loss_db(700.0, high_loss_share=1.0, indoor_distance_m=0.0)[0] < high - 5.0
    assert radio.shadow_margin_db(8.0, 0.9) == pytest.approx(10.25, abs=0.01)


def test_default_table_rows_and_keys():
    rows = link_budget_table()
    assert len(rows) == len(radio.DEFAULT_STATIONS) * len(radio.CLUTTERS)
    assert all(set(r) == {"type", "band_mhz", "clutter", "mapl_db", "radius_m"} for r in rows)
    assert all(r["radius_m"] > 0 for r in rows)


def test_default_macro_radii_at_3500_mhz_are_in_the_domain_ranges():
    b = link_budgets(bands_mhz={"macro": 3500.0, "small": 3500.0})
    ranges = {"dense_urban": (150, 250), "urban": (250, 400), "suburban": (400, 800), "rural": (800, 1500)}
    for clutter, (lo, hi) in ranges.items():
        assert lo <= b[("macro", clutter)].radius_m <= hi, clutter
    for clutter in ("dense_urban", "urban", "suburban"):
        assert 50 <= b[("small", clutter)].radius_m <= 150, clutter


@pytest.mark.parametrize("band_mhz", [2600.0, 3500.0])
def test_small_cell_radius_is_below_the_macro_radius_in_every_clutter(band_mhz):
    b = link_budgets(bands_mhz={"macro": band_mhz, "small": band_mhz})
    for clutter in radio.CLUTTERS:
        assert b[("small", clutter)].radius_m < b[("macro", clutter)].radius_m, clutter


def test_lower_band_reaches_further():
    rows = {(r["type"], r["band_mhz"], r["clutter"]): r["radius_m"] for r in link_budget_table()}
    for clutter in radio.CLUTTERS:
        assert rows[("macro", 700.0, clutter)] > rows[("macro", 2600.0, clutter)] > rows[("macro", 3500.0, clutter)]


def test_default_models_per_type_and_clutter():
    assert radio.default_model("macro", "urban").scenario == "UMa"
    assert radio.default_model("macro", "rural").scenario == "RMa"
    assert radio.default_model("small", "dense_urban").scenario == "UMi"
    assert radio.default_model("small", "rural").h_bs_m == 10.0


# --------------------------------------------------------------------------- RSRP and the best server

def test_design_rsrp_meets_the_requirement_exactly_within_the_radius():
    b = link_budgets(bands_mhz={"macro": 3500.0})[("macro", "urban")]
    d = np.array([10.0, b.radius_m * 0.999, b.radius_m, b.radius_m * 1.001, 2 * b.radius_m])
    rsrp = rsrp_dbm(d, b)
    assert float(rsrp_dbm(b.radius_m, b)) == pytest.approx(b.required_signal_dbm, abs=0.01)
    assert list(rsrp[[0, 1, 3, 4]] >= b.required_signal_dbm) == [True, True, False, False]
    np.testing.assert_allclose(rsrp_dbm(d, b, include_margins=False) - rsrp, b.margins_db)


def _brute_force(points, clutter, stations, types, budgets, margin_m):
    best = np.full(len(points), -np.inf)
    server = np.full(len(points), -1)
    for i, (p, c) in enumerate(zip(points, clutter, strict=True)):
        for j, (s, t) in enumerate(zip(stations, types, strict=True)):
            b = budgets[(t, c)]
            d = math.dist(p, s)
            if d <= b.radius_m + margin_m:
                v = float(rsrp_dbm(d, b))
                if v > best[i]:
                    best[i], server[i] = v, j
    return best, server


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_best_server_matches_a_brute_force_search(seed):
    rng = np.random.default_rng(seed)
    budgets = link_budgets(bands_mhz={"macro": 3500.0, "small": 3500.0})
    points = rng.uniform(0, 2000, (60, 2))
    clutter = rng.choice(radio.CLUTTERS, 60)
    stations = rng.uniform(0, 2000, (12, 2))
    types = rng.choice(["macro", "small"], 12)
    got = best_server_rsrp(points, clutter, stations, types, budgets, margin_m=50.0)
    want, server = _brute_force(points, clutter, stations, types, budgets, 50.0)
    np.testing.assert_allclose(got.rsrp_dbm, want)
    assert np.array_equal(got.station, server)


def test_a_small_cell_never_covers_beyond_its_radius():
    budgets = link_budgets(bands_mhz={"macro": 3500.0, "small": 3500.0})
    r = budgets[("small", "dense_urban")].radius_m
    xs = np.linspace(0.0, 3 * r, 301)
    points = np.column_stack([xs, np.zeros_like(xs)])
    got = best_server_rsrp(points, "dense_urban", [[0.0, 0.0]], "small", budgets)
    assert np.array_equal(got.covered, xs <= r)
    assert np.all(got.station[got.covered] == 0)
    assert np.all(np.isneginf(got.rsrp_dbm[xs > r + 100.0]))


def test_best_server_prefers_the_stronger_station():
    budgets = link_budgets(bands_mhz={"macro": 3500.0, "small": 3500.0})
    stations = [[0.0, 0.0], [150.0, 0.0]]
    got = best_server_rsrp([[20.0, 0.0], [140.0, 0.0]], "urban", stations, ["macro", "small"], budgets)
    assert list(got.station) == [0, 1]
    assert got.covered.all()


def test_best_server_with_no_points_or_no_stations():
    budgets = link_budgets()
    assert best_server_rsrp(np.empty((0, 2)), [], [[0, 0]], "macro", budgets).rsrp_dbm.size == 0
    none = best_server_rsrp([[0.0, 0.0]], "urban", np.empty((0, 2)), [], budgets)
    assert none.station[0] == -1 and not none.covered[0]


# --------------------------------------------------------------------------- bad input: one-line ScenarioError

def _one_line(exc_info, *words):
    text = str(exc_info.value)
    assert "\n" not in text
    for w in words:
        assert w in text
    return text


@pytest.mark.parametrize("band_mhz", [400.0, 7200.0, 28000.0])
def test_band_outside_fr1(band_mhz):
    with pytest.raises(ScenarioError) as e:
        check_band_mhz(band_mhz)
    _one_line(e, "band_mhz", "450-7125 MHz")
    with pytest.raises(ScenarioError) as e:
        StationRadio("macro", band_mhz, power_dbm=53.0, n_prb=273, scs_khz=30.0, antenna_gain_dbi=24.0)
    _one_line(e, "band_mhz")


def test_link_budget_without_a_positive_radius_names_the_requirement():
    config = RadioConfig(target=EdgeTarget(rsrp_dbm=-30.0))
    with pytest.raises(ScenarioError) as e:
        link_budget_table(config)
    _one_line(e, "required_rsrp_dbm", "no positive radius")
    sinr = RadioConfig(target=EdgeTarget(rsrp_dbm=-200.0, sinr_db=120.0))
    with pytest.raises(ScenarioError) as e:
        link_budget(sinr.station("small", 3500.0), "dense_urban", sinr)
    _one_line(e, "required_sinr_db")


def test_threshold_no_station_meets():
    budgets = link_budgets()
    assert check_threshold_dbm(-110.0, budgets) == -110.0
    with pytest.raises(ScenarioError) as e:
        check_threshold_dbm(-20.0, budgets)
    _one_line(e, "threshold_dbm", "met by no station")


@pytest.mark.parametrize("make, word", [
    (lambda: PathLossModel("UMa", h_ut_m=30.0), "h_ut_m"),
    (lambda: PathLossModel("RMa", h_bs_m=5.0), "h_bs_m"),
    (lambda: PathLossModel("Foo"), "scenario"),
    (lambda: PathLossModel("UMi", "mixed"), "condition"),
    (lambda: ClutterRadio(1.5, 5.0, 0.9), "high_loss_share"),
    (lambda: ClutterRadio(0.5, 5.0, 1.0), "edge_probability"),
    (lambda: StationRadio("tower", 3500.0, 53.0, 273, 30.0, 24.0), "type"),
    (lambda: StationRadio("macro", 3500.0, 53.0, 273, 45.0, 24.0), "scs_khz"),
    (lambda: RadioConfig().station("small", 700.0), "band_mhz"),
    (lambda: link_budget(RadioConfig().station("macro", 3500.0), "jungle"), "clutter"),
    (lambda: link_budgets(bands_mhz={"macro": 9000.0}), "macro.band_mhz"),
    (lambda: best_server_rsrp([[0, 0]], "urban", [[0, 0]], "macro", {}), "budgets"),
])
def test_bad_inputs_raise_one_line_scenario_errors(make, word):
    with pytest.raises(ScenarioError) as e:
        make()
    _one_line(e, word)


def test_link_budget_is_a_frozen_result():
    b = link_budgets()[("macro", "urban")]
    assert isinstance(b, LinkBudget)
    with pytest.raises(AttributeError):
        b.mapl_db = 0.0  # type: ignore[misc]
    assert b.row()["mapl_db"] == round(b.mapl_db, 2)


def test_table_for_the_bands_a_plan_uses():
    rows = link_budget_table(bands_mhz={"macro": 700.0, "small": 2600.0})
    assert [(r["type"], r["band_mhz"]) for r in rows] == [("macro", 700.0)] * 4 + [("small", 2600.0)] * 4
    with pytest.raises(ScenarioError) as e:
        link_budget_table(bands_mhz={"femto": 3500.0})
    _one_line(e, "femto.band_mhz")
