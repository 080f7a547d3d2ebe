"""The regional master problem: hand-solved optima, one-line infeasibility, brute force, and a valid bound."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gis.errors import InfeasibleError, ValidationError
from rollout.region_master import CityCurve, minorant_points, solve_master


def curve(city, levels, bounds=None):
    """``levels``: (stations, ports, capex) per level; bounds default to the capex (proven optimal cities)."""
    s, p, k = (np.array(col) for col in zip(*levels, strict=True))
    return CityCurve(city, s, p, k, k if bounds is None else np.array(bounds))


# Two cities, three levels, stations only. Pairs reaching 40 stations: (10, 30) 350, (20, 20) 340, (30, 10) 420,
# and dearer ones, so the optimum is 20 + 20 at 340.
TWO = [curve("A", [(10, 0, 100), (20, 0, 180), (30, 0, 300)]),
       curve("B", [(10, 0, 120), (20, 0, 160), (30, 0, 250)])]

# Three cities, three levels, 50 stations and 550 ports. Every L0 together gives 25 stations and 350 ports for 370;
# the cheapest way to add 25 stations and 200 ports is Y at L2 (+20 st, +100 po, +110) and Z at L1 (+5 st,
# +100 po, +70): 550. The next best are X1 Y1 Z1 (570) and X1 Y2 Z0 (580).
THREE = [curve("X", [(10, 100, 100), (20, 200, 200), (30, 300, 300)]),
         curve("Y", [(10, 100, 150), (20, 150, 180), (30, 200, 260)]),
         curve("Z", [(5, 150, 120), (10, 250, 190), (15, 400, 330)])]


def test_two_cities_hand_optimum_and_hand_bound():
    r = solve_master(TWO, stations_target=40, ports_target=0)
    assert r.status == "optimal"
    assert r.level_of == {"A": 1, "B": 1}
    assert r.capex_cny == pytest.approx(340) and r.stations == 40
    # Each city can give up to 19 stations for its 10-level bound (the next level starts at 20): 19 + 19 = 38
    # for 220; the two missing stations are cheapest on B's minorant (160 - 120) / 10 = 4 per station: 228.
    assert r.bound_cny == pytest.approx(228)
    assert r.bound_targets["A"] == pytest.approx((19, 0)) and r.bound_targets["B"] == pytest.approx((21, 0))
    assert r.gap == pytest.approx((340 - 228) / 340)


def test_three_cities_hand_optimum_with_ports_and_budget():
    r = solve_master(THREE, stations_target=50, ports_target=550)
    assert r.level_of == {"X": 0, "Y": 2, "Z": 1}
    assert (r.capex_cny, r.stations, r.ports) == (pytest.approx(550), 50, 550)
    assert 0 <= r.bound_cny <= r.capex_cny
    assert solve_master(THREE, stations_target=50, ports_target=550, budget_cny=550).level_of == r.level_of
    with pytest.raises(InfeasibleError, match="within the budget 549 CNY") as err:
        solve_master(THREE, stations_target=50, ports_target=550, budget_cny=549)
    assert "\n" not in str(err.value)


def test_minorant_points_by_hand():
    s, p, v = minorant_points(TWO[0])
    assert sorted(zip(s, p, v, strict=True)) == [(19, 0, 100), (29, 0, 180), (30, 0, 300)]
    s, p, v = minorant_points(curve("D", [(10, 10, 100), (20, 20, 200)]))
    assert sorted(zip(s, p, v, strict=True)) == [(19, 20, 100), (20, 19, 100), (20, 20, 200)]


@pytest.mark.parametrize("kwargs, family, words", [
    (dict(stations_target=76, ports_target=0), "region_stations", "regional station target 76 exceeds"),
    (dict(stations_target=0, ports_target=901), "region_ports", "regional port target 901 exceeds"),
    (dict(stations_target=0, ports_target=0, budget_cny=369), "region_budget", "regional budget 369 CNY"),
])
def test_unreachable_target_is_a_one_line_error_naming_it(kwargs, family, words):
    with pytest.raises(InfeasibleError, match=words) as err:
        solve_master(THREE, **kwargs)
    assert err.value.family == family and "\n" not in str(err.value)


def test_targets_that_cannot_be_met_together():
    either = [curve("U", [(10, 0, 1), (0, 10, 1)])]
    with pytest.raises(InfeasibleError, match="station target 10 and port target 10 together"):
        solve_master(either, stations_target=10, ports_target=10)


def test_bad_curves_are_collected_and_raised_once():
    bad = [CityCurve("A", [1, 2], [0, 0], [5.0], [1.0]),
           curve("B", [(1, 0, 5.0)], bounds=[6.0]),
           curve("C", [(10, 0, 250), (20, 0, 150)], bounds=[200, 150])]
    with pytest.raises(ValidationError) as err:
        solve_master(bad, stations_target=1, ports_target=0)
    fields = [f for _, f, _ in err.value.problems]
    assert fields == ["city A", "city B", "city C"]
    assert "not nondecreasing" in err.value.problems[-1][2]


# ----------------------------------------------------------------------------------- property tests

def brute_force(curves, S, P, B):
    best = None
    for pick in itertools.product(*(range(c.n_levels) for c in curves)):
        s = sum(c.stations[l] for c, l in zip(curves, pick, strict=True))
        p = sum(c.ports[l] for c, l in zip(curves, pick, strict=True))
        k = sum(c.capex_cny[l] for c, l in zip(curves, pick, strict=True))
        if s >= S and p >= P and (B is None or k <= B + 1e-9) and (best is None or k < best):
            best = k
    return best


level = st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(0, 100))
cities = st.lists(st.lists(level, min_size=1, max_size=3), min_size=1, max_size=3)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cities, st.floats(0, 1), st.floats(0, 1), st.one_of(st.none(), st.integers(0, 300)))
def test_master_equals_brute_force(levels, fs, fp, budget):
    curves = [curve(f"c{i}", lv, bounds=[0.0] * len(lv)) for i, lv in enumerate(levels)]
    S = int(fs * sum(max(l[0] for l in lv) for lv in levels))
    P = int(fp * sum(max(l[1] for l in lv) for lv in levels))
    best = brute_force(curves, S, P, budget)
    event("infeasible" if best is None else "feasible")
    if best is None:
        with pytest.raises(InfeasibleError):
            solve_master(curves, stations_target=S, ports_target=P, budget_cny=budget)
        return
    r = solve_master(curves, stations_target=S, ports_target=P, budget_cny=budget)
    assert r.capex_cny == pytest.approx(best, abs=1e-6)
    assert r.stations >= S and r.ports >= P
    assert r.bound_cny <= r.capex_cny + 1e-6


GRID_S, GRID_P = 5, 4  # a city's true cost is known on stations 0..4 x ports 0..3


@st.composite
def true_city(draw):
    """A nondecreasing true cost f on the grid, sampled at 1-3 levels with valid bounds and capex around it."""
    w = np.array(draw(st.lists(st.integers(0, 6), min_size=GRID_S * GRID_P, max_size=GRID_S * GRID_P)))
    f = w.reshape(GRID_S, GRID_P).cumsum(0).cumsum(1).astype(float)
    cells = draw(st.lists(st.tuples(st.integers(0, GRID_S - 1), st.integers(0, GRID_P - 1)),
                          min_size=1, max_size=3, unique=True))
    slack = draw(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 5)), min_size=len(cells), max_size=len(cells)))
    lv = [(s, p, f[s, p] + up) for (s, p), (_, up) in zip(cells, slack, strict=True)]
    bounds = [f[s, p] * (1 - down) for (s, p), (down, _) in zip(cells, slack, strict=True)]
    return f, curve("c", lv, bounds=bounds)


def true_optimum(cities_f, curves, S, P, B):
    """min sum f_c(t_c) over every integer target pair in each city's box of sampled levels."""
    options = []
    for f, c in zip(cities_f, curves, strict=True):
        box = itertools.product(range(c.stations.min(), c.stations.max() + 1), range(c.ports.min(), c.ports.max() + 1))
        options.append([(s, p, f[s, p]) for s, p in box])
    best = None
    for pick in itertools.product(*options):
        s, p, k = (sum(col) for col in zip(*pick, strict=True))
        if s >= S and p >= P and (B is None or k <= B) and (best is None or k < best):
            best = k
    return best


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(true_city(), min_size=1, max_size=3), st.floats(0, 1), st.floats(0, 1),
       st.one_of(st.none(), st.integers(0, 200)))
def test_bound_never_exceeds_the_true_regional_optimum(cities_f, fs, fp, budget):
    fs_, cv = zip(*cities_f, strict=True)
    curves = [CityCurve(f"c{i}", c.stations, c.ports, c.capex_cny, c.bound_cny) for i, c in enumerate(cv)]
    S = int(fs * sum(int(c.stations.max()) for c in curves))
    P = int(fp * sum(int(c.ports.max()) for c in curves))
    try:
        r = solve_master(curves, stations_target=S, ports_target=P, budget_cny=budget)
    except InfeasibleError:
        event("no sampled choice meets the targets")
        assert brute_force(curves, S, P, budget) is None
        return
    opt = true_optimum(fs_, curves, S, P, budget)
    assert opt is not None
    assert r.bound_cny <= opt + 1e-6 <= r.capex_cny + 2e-6
    event("bound > 0" if r.bound_cny > 1e-9 else "bound 0")
    event("optimum strictly between bound and capex" if r.bound_cny < opt - 1e-6 < r.capex_cny - 2e-6 else "touching")
