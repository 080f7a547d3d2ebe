"""The solver layer reports what was proven: CBC log parsing and the honest status mapping."""
from __future__ import annotations

import numpy as np
import pulp
import pytest

from gis.errors import ScenarioError
from rollout.solve import _gap, available_solvers, model_size, parse_cbc_log, solve

SOLVERS = [s for s in ("cbc", "highs") if s in available_solvers()]

# Excerpts of real CBC 2.10.3 logs (progress lines trimmed).
LOG_TIME_LIMIT = """\
Cbc0012I Integer solution of 816 found by DiveCoefficient after 0 iterations and 0 nodes (0.52 seconds)
Cbc0010I After 0 nodes, 1 on tree, 816 best solution, best possible 636.92389 (1.32 seconds)
Cbc0020I Exiting on maximum time
Cbc0005I Partial search - best objective 816 (best possible 636.92389), took 6603 iterations and 0 nodes (2.01 seconds)

Result - Stopped on time limit

Objective value:                816.00000000
Lower bound:                    636.924
Gap:                            0.28
Enumerated nodes:               0
"""
LOG_GAP_STOP = """\
Cbc0012I Integer solution of 827 found by feasibility pump after 0 iterations and 0 nodes (0.61 seconds)
Cbc0011I Exiting as integer gap of 195.5008 less than 1e-10 or 30%
Cbc0001I Search completed - best objective 827, took 0 iterations and 0 nodes (0.62 seconds)

Result - Optimal solution found (within gap tolerance)

Objective value:                827.00000000
Lower bound:                    631.499
Gap:                            0.31
"""
LOG_OPTIMAL = """\
Cbc0010I After 0 nodes, 1 on tree, 173 best solution, best possible 150.4049 (0.29 seconds)
Cbc0001I Search completed - best objective 173, took 4930 iterations and 12 nodes (0.40 seconds)

Result - Optimal solution found

Objective value:                173.00000000
Enumerated nodes:               12
"""
LOG_INFEASIBLE = """\
Continuous objective value is 1.5 - 0.00 seconds
Cgl0000I Cut generators found to be infeasible! (or unbounded)
Pre-processing says infeasible or unbounded
"""
LOG_MAX_UPPER = """\
Result - Stopped on time limit

Objective value:                1877971.06
Upper bound:                    1888447.875
Gap:                            0.01
"""
LOG_GAP_ONLY = "Cbc0011I Exiting as integer gap of 12.5 less than 1e-10 or 5%\n"
LOG_PROGRESS_ONLY = "Cbc0010I After 100 nodes, 5 on tree, 900 best solution, best possible 850.5 (3.10 seconds)\n"


@pytest.mark.parametrize("text, objective, sense, bound, result", [
    (LOG_TIME_LIMIT, 816.0, pulp.LpMinimize, 636.924, "Stopped on time limit"),
    (LOG_GAP_STOP, 827.0, pulp.LpMinimize, 631.499, "Optimal solution found (within gap tolerance)"),
    (LOG_OPTIMAL, 173.0, pulp.LpMinimize, 173.0, "Optimal solution found"),
    (LOG_INFEASIBLE, None, pulp.LpMinimize, None, ""),
    (LOG_MAX_UPPER, 1877971.06, pulp.LpMaximize, 1888447.875, "Stopped on time limit"),
    (LOG_GAP_ONLY, 100.0, pulp.LpMinimize, 87.5, ""),
    (LOG_GAP_ONLY, 100.0, pulp.LpMaximize, 112.5, ""),
    (LOG_PROGRESS_ONLY, 900.0, pulp.LpMinimize, 850.5, ""),
    ("", None, pulp.LpMinimize, None, ""),
])
def test_parse_cbc_log(text, objective, sense, bound, result):
    b, r = parse_cbc_log(text, objective, sense)
    assert r == result
    assert b == (None if bound is None else pytest.approx(bound))


def test_gap_in_both_senses():
    assert _gap(110.0, 100.0) == pytest.approx(10 / 110)
    assert _gap(100.0, 110.0, pulp.LpMaximize) == pytest.approx(0.1)
    assert _gap(100.0, 100.0) == 0.0
    assert _gap(None, 1.0) is None and _gap(1.0, None) is None
    assert _gap(0.0, 0.0) == 0.0


def _mip(sense=pulp.LpMinimize):
    p = pulp.LpProblem("t", sense)
    x = p.add_variable("x", 0, 10, pulp.LpInteger)
    y = p.add_variable("y", 0, 10, pulp.LpInteger)
    p.setObjective(pulp.LpAffineExpression([(x, 3.0), (y, 2.0)]))
    p.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression([(x, 2.0), (y, 1.0)]), pulp.LpConstraintGE, "c_0", 3.5))
    p.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression([(x, 1.0), (y, 1.0)]), pulp.LpConstraintLE, "c_1", 5))
    return p


@pytest.mark.parametrize("solver", SOLVERS)
def test_optimal_mip_and_lp(solver):
    st = solve(_mip(), part="t", solver=solver, gap_rel=0.0)
    assert (st.status, st.objective, st.bound, st.gap) == ("optimal", 6.0, pytest.approx(6.0), pytest.approx(0.0))
    assert (st.variables, st.integer_variables, st.constraints, st.nonzeros) == (2, 2, 2, 4)
    st = solve(_mip(pulp.LpMaximize), part="t", solver=solver, gap_rel=0.0)
    assert st.status == "optimal" and st.objective == 15.0 and st.bound == pytest.approx(15.0)
    p = _mip()
    for v in p.variables():
        v.cat = pulp.LpContinuous
    st = solve(p, part="t", solver=solver)
    assert st.status == "optimal" and st.integer_variables == 0
    assert st.objective == pytest.approx(5.25) and st.bound == pytest.approx(st.objective)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("relax", [False, True])
def test_infeasible(solver, relax):
    p = pulp.LpProblem("t", pulp.LpMinimize)
    x = p.add_variable("x", 0, 10, pulp.LpContinuous if relax else pulp.LpInteger)
    p.setObjective(pulp.LpAffineExpression([(x, 1.0)]))
    # 2x = 3 has no integer solution; x >= 11 has none at all
    rhs, sense = (11.0, pulp.LpConstraintGE) if relax else (3.0, pulp.LpConstraintEQ)
    p.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression([(x, 2.0 if not relax else 1.0)]), sense, "c_0", rhs))
    st = solve(p, part="t", solver=solver)
    assert st.status == "infeasible" and st.objective is None and st.gap is None


def _set_cover(n=400, m=200, per_row=6, seed=1):
    rng = np.random.default_rng(seed)
    p = pulp.LpProblem("sc", pulp.LpMinimize)
    x = [p.add_variable(f"x{j}", 0, 1, pulp.LpInteger) for j in range(m)]
    p.setObjective(pulp.LpAffineExpression(zip(x, rng.integers(10, 30, m).tolist(), strict=True)))
    for i in range(n):
        cols = rng.choice(m, per_row, replace=False)
        p.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression([(x[j], 1) for j in cols]),
                                          pulp.LpConstraintGE, f"r_{i}", 1))
    return p


@pytest.mark.parametrize("solver", SOLVERS)
def test_time_limit_with_incumbent_is_feasible_not_optimal(solver):
    st = solve(_set_cover(), part="t", solver=solver, time_limit_s=1.5, gap_rel=0.0)
    assert st.status == "feasible"
    assert st.bound is not None and st.bound < st.objective
    assert 0.01 < st.gap < 0.6
    assert st.time_limit_s == 1.5 and st.gap_rel_requested == 0.0


def _market_split(m=4, n=40, seed=0):
    """Cornuejols-Dawande market split: no incumbent within seconds, no quick proof either."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 100, (m, n))
    p = pulp.LpProblem("ms", pulp.LpMinimize)
    x = [p.add_variable(f"x{j}", 0, 1, pulp.LpInteger) for j in range(n)]
    p.setObjective(pulp.LpAffineExpression(zip(x, [1.0] * n, strict=True)))
    for i in range(m):
        p.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression(zip(x, a[i].tolist(), strict=True)), pulp.LpConstraintEQ,
                                          f"r_{i}", int(a[i].sum() // 2)))
    return p


@pytest.mark.parametrize("solver", SOLVERS)
def test_time_limit_without_incumbent_is_no_solution(solver):
    st = solve(_market_split(), part="t", solver=solver, time_limit_s=1.0)
    assert st.status == "no_solution" and st.objective is None and st.gap is None


def test_model_size_counts_nonzeros():
    assert model_size(_mip()) == {"variables": 2, "integer_variables": 2, "constraints": 2, "nonzeros": 4}


def test_unknown_solver_is_a_scenario_error():
    with pytest.raises(ScenarioError, match="unknown solver"):
        solve(_mip(), part="t", solver="gurobi")


def test_objective_constant_is_in_the_bound_too():
    """Solvers report bounds without the objective's constant; the gap must not count it as a gap."""
    from rollout.solve import available_solvers

    for name in available_solvers():
        p = pulp.LpProblem("const", pulp.LpMinimize)
        x = [p.add_variable(f"x{i}", 0, 3, pulp.LpInteger) for i in range(3)]
        p.setObjective(pulp.LpAffineExpression([(v, 1.0) for v in x], constant=1_000_000.0))
        p.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression([(x[0], 1.0), (x[1], 2.0), (x[2], 3.0)]),
                                          pulp.LpConstraintGE, "c_0", 4))
        st = solve(p, part="t", solver=name, time_limit_s=120)  # a generous limit: the status must not depend on machine load
        assert st.status == "optimal" and st.objective == pytest.approx(1_000_002.0)
        assert st.bound == pytest.approx(1_000_002.0) and st.gap == pytest.approx(0.0, abs=1e-9)


def test_an_absolute_gap_stop_outside_the_relative_gap_is_feasible():
    """A knapsack with a huge absolute tolerance: CBC may stop at its first incumbent; a stop outside the
    relative gap asked says feasible (with gap and bound), never optimal."""
    from rollout.solve import solve

    rng = np.random.default_rng(3)
    w, v = rng.integers(10, 60, 60), rng.integers(10, 60, 60)
    prob = pulp.LpProblem("k", pulp.LpMaximize)
    x = [prob.add_variable(f"x{i}", 0, 1, cat=pulp.LpBinary) for i in range(60)]
    prob += pulp.lpSum(int(v[i]) * x[i] for i in range(60))
    prob += pulp.lpSum(int(w[i]) * x[i] for i in range(60)) <= 700
    st = solve(prob, part="k", gap_rel=0.0, gap_abs=1e6)
    assert "absolute gap tolerance 1,000,000" in st.notes and st.gap_rel_requested == 0.0
    # CBC stops at its first incumbent (0.6 % below its bound): feasible, with the gap and bound it proved
    assert st.status == "feasible" and st.gap > 0 and st.bound >= st.objective


def _cover(costs, rows, *, extra=None):
    """min Σ c_j x_j, Σ_{j ∈ row} x_j ≥ 1 per row, x_j ∈ {0, 1, 2} integer (and an optional extra row)."""
    p = pulp.LpProblem("cover", pulp.LpMinimize)
    x = [p.add_variable(f"x{j}", 0, 2, pulp.LpInteger) for j in range(len(costs))]
    p.setObjective(pulp.LpAffineExpression([(v, float(c)) for v, c in zip(x, costs, strict=True)]))
    for i, row in enumerate(rows):
        p.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression([(x[j], 1.0) for j in row]),
                                          pulp.LpConstraintGE, f"cover_{i}", 1))
    if extra is not None:
        extra(p, x)
    return p, x


def test_round_up_keeps_an_lp_whose_rounding_is_within_the_gap():
    """Two rows sharing a dear column, each with a cheap one of its own: the LP is integral at the cheap pair
    (cost 2); the rounded LP is the answer, proven by the LP bound, without branch and bound."""
    p, x = _cover([1, 1, 3], [[0, 2], [1, 2]])
    st = solve(p, part="t", round_up=True)
    assert st.name == "highs-lp" and st.status == "optimal" and "no branch and bound" in st.notes
    assert st.objective == pytest.approx(2.0) and st.bound == pytest.approx(2.0) and st.gap == pytest.approx(0.0)
    assert [v.varValue for v in x] == [1.0, 1.0, 0.0]


def test_round_up_outside_the_gap_runs_the_mip():
    """The odd cycle: three rows, three columns each covering two of them. The LP puts 1/2 on each (1.5);
    rounded up that is 3, 100 % above the bound, so the MIP runs and proves 2."""
    p, x = _cover([1, 1, 1], [[0, 1], [1, 2], [0, 2]])
    st = solve(p, part="t", round_up=True)
    assert st.name == "cbc" and st.status == "optimal" and st.objective == pytest.approx(2.0)
    assert sum(v.varValue for v in x) == pytest.approx(2.0)


def test_round_up_that_breaks_a_row_runs_the_mip():
    """The odd cycle under a ceiling Σ x ≤ 2 and a gap of 100 %: the rounded LP (3 units) would be within the gap
    but breaks the ceiling, so it is refused and the MIP answers (2 units, the ceiling held)."""
    def ceiling(p, x):
        p.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression([(v, 1.0) for v in x]), pulp.LpConstraintLE,
                                          "ceiling", 2))
    p, x = _cover([1, 1, 1], [[0, 1], [1, 2], [0, 2]], extra=ceiling)
    st = solve(p, part="t", round_up=True, gap_rel=1.0)
    assert st.name == "cbc" and st.status == "optimal" and st.objective == pytest.approx(2.0)
    assert sum(v.varValue for v in x) == pytest.approx(2.0)
    q, _ = _cover([1, 1, 1], [[0, 1], [1, 2], [0, 2]])    # without the ceiling the rounded LP is kept
    assert solve(q, part="t", round_up=True, gap_rel=1.0).name == "highs-lp"


@pytest.mark.parametrize("seed", range(4))
def test_round_up_result_is_an_integer_plan_within_its_bound(seed):
    """Random covering programs: whatever path answers, the values are integers, every row holds, and the
    objective lies within the gap asked of the bound, which is no more than the MIP's own optimum."""
    rng = np.random.default_rng(seed)
    n, m = 30, 40
    rows = [sorted(rng.choice(n, size=int(rng.integers(2, 5)), replace=False).tolist()) for _ in range(m)]
    costs = rng.integers(5, 20, n).astype(float)
    p, x = _cover(costs, rows)
    st = solve(p, part="t", round_up=True, gap_rel=0.05)
    values = np.array([v.varValue for v in x])
    assert np.all(values == np.round(values)) and all(values[r].sum() >= 1 for r in rows)
    assert st.objective == pytest.approx(costs @ values) and st.gap <= 0.05 + 1e-9
    q, _ = _cover(costs, rows)
    exact = solve(q, part="t", gap_rel=0.0)
    assert st.bound <= exact.objective + 1e-6 and st.objective <= exact.objective * 1.05 + 1e-6


@pytest.mark.skipif("highs" not in SOLVERS, reason="highspy not installed")
def test_highs_prints_nothing_on_the_console_without_msg(capfd):
    """highspy's constructor prints a banner straight to file descriptor 1; a planner's console (and the CLI's
    tables on stdout) must not get it when the solver is asked to be quiet."""
    p, _ = _cover([1, 1, 1], [[0, 1], [1, 2], [0, 2]])
    st = solve(p, part="t", solver="highs")
    out, _ = capfd.readouterr()
    assert st.status == "optimal" and st.objective == pytest.approx(2.0)
    assert "HiGHS" not in out and out == ""


def test_round_up_of_a_fractional_lp_keeps_its_constant_in_objective_and_bound():
    """40 rows each met by one unit (cost 100) and one half-unit row (2 y ≥ 1, cost 1), objective constant 1,000:
    the LP puts y at 1/2; rounded up the plan costs 5,001 + 1,000 against the LP's 5,000.5 + 1,000, 0.008 % apart,
    so it is kept, with the one fractional variable named and the constant in both figures."""
    p = pulp.LpProblem("frac", pulp.LpMinimize)
    x = [p.add_variable(f"x{j}", 0, 3, pulp.LpInteger) for j in range(40)]
    y = p.add_variable("y", 0, 3, pulp.LpInteger)
    p.setObjective(pulp.LpAffineExpression([*((v, 125.0) for v in x), (y, 1.0)], constant=1_000.0))
    for j, v in enumerate(x):
        p.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression([(v, 1.0)]), pulp.LpConstraintGE, f"r_{j}", 1))
    p.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression([(y, 2.0)]), pulp.LpConstraintGE, "half", 1))
    st = solve(p, part="t", round_up=True)
    assert st.name == "highs-lp" and st.status == "optimal" and "with 1 fractional" in st.notes
    assert st.objective == pytest.approx(6_001.0) and st.bound == pytest.approx(6_000.5)
    assert y.varValue == 1.0 and all(v.varValue == 1.0 for v in x)


def test_round_up_that_breaks_an_equality_or_maximises_runs_the_mip():
    """Rounding x up breaks x − z = 0 (z continuous, held at the LP's 1/2): refused, the MIP answers x = z = 1.
    A maximisation has no LP lower bound to round against: the MIP answers."""
    p = pulp.LpProblem("eq", pulp.LpMinimize)
    x, z = p.add_variable("x", 0, 3, pulp.LpInteger), p.add_variable("z", 0, 3)
    p.setObjective(pulp.LpAffineExpression([(x, 1.0), (z, 0.1)]))
    p.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression([(x, 2.0)]), pulp.LpConstraintGE, "half", 1))
    p.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression([(x, 1.0), (z, -1.0)]), pulp.LpConstraintEQ, "tie", 0))
    st = solve(p, part="t", round_up=True, gap_rel=1.0)
    assert st.name == "cbc" and st.status == "optimal" and (x.varValue, z.varValue) == pytest.approx((1.0, 1.0))
    q = pulp.LpProblem("max", pulp.LpMaximize)
    w = q.add_variable("w", 0, 3, pulp.LpInteger)
    q.setObjective(pulp.LpAffineExpression([(w, 1.0)]))
    q.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression([(w, 2.0)]), pulp.LpConstraintLE, "cap", 5))
    st = solve(q, part="t", round_up=True)
    assert st.name == "cbc" and st.objective == pytest.approx(2.0)
