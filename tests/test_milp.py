"""The shared model idiom (rollout.milp): rows per family, collected checks, the one explanation path and the one
error when no plan is found; and that every model follows it."""
from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pulp
import pytest

from gis.errors import InfeasibleError, SolverLimitError
from rollout import milp, model_5g, model_budget, model_pon, phasing
from rollout.milp import Family, Milp, Problems
from rollout.plan import SolveStats

REGISTRIES = {"5g": model_5g.FAMILIES, "pon": model_pon.FAMILIES, "phasing": phasing.FAMILIES,
              "budget": model_budget.FAMILIES}


# --------------------------------------------------------------------------- rows

def test_add_rows_names_groups_and_counts_rows():
    m = Milp(problem=pulp.LpProblem("t", pulp.LpMinimize))
    x = m.variables([f"x_{i}" for i in range(4)], 0, [1, 2, 3, 4], pulp.LpInteger)
    assert [(v.name, v.lowBound, v.upBound, v.cat) for v in x][1] == ("x_1", 0, 2, pulp.LpInteger)
    # rows 3 and 7: x0 + 2 x1 >= 1 ; x2 - x3 >= 0
    n = m.add_rows("fam", np.array([3, 3, 7, 7]), x, [1.0, 2.0, 1.0, -1.0], pulp.LpConstraintGE, [1.0, 0.0])
    assert n == 2 and m.nonzeros == 4
    rows = {c.name: c for c in m.problem.constraints()}
    assert list(rows) == ["fam_3", "fam_7"]
    assert {v.name: a for v, a in rows["fam_3"].items()} == {"x_0": 1.0, "x_1": 2.0}
    assert rows["fam_7"].constant == 0.0 and rows["fam_3"].constant == -1.0
    # labels; a single row without a suffix; no row without terms
    m.add_rows("lab", np.array([0, 1]), x[:2], [1.0, 1.0], pulp.LpConstraintLE, 5.0, labels=["a", "b"])
    assert m.add_row("one", x, np.ones(4), pulp.LpConstraintEQ, 2.0) == 1
    assert m.add_row("none", [], [], pulp.LpConstraintEQ, 2.0) == 0
    assert [c.name for c in m.problem.constraints()][2:] == ["lab_a", "lab_b", "one"]
    with pytest.raises(ValueError, match="2 rows, 1 labels"):
        m.add_rows("bad", np.array([0, 1]), x[:2], [1.0, 1.0], pulp.LpConstraintLE, 0.0, labels=["only"])


@pytest.mark.parametrize("sense, sign", [(pulp.LpConstraintLE, -1.0), (pulp.LpConstraintGE, 1.0),
                                         (pulp.LpConstraintEQ, 1.0)])
def test_elastic_rows_get_one_slack_each_on_the_relaxing_side(sense, sign):
    m = Milp(problem=pulp.LpProblem("t", pulp.LpMinimize), elastic="fam")
    x = m.variables(["x"], 0, 1)
    m.add_rows("fam", np.array([0, 1]), [x[0], x[0]], [1.0, 2.0], sense, [3.0, 4.0])
    assert [label for label, _ in m.slacks] == [0, 1]
    row = m.problem.get_constraint_by_name("fam_1")
    assert row[m.slacks[1][1]] == sign and m.slacks[1][1].name == "slack_fam_1"
    m.add_rows("other", np.array([0]), x, [1.0], sense, 0.0)
    assert len(m.slacks) == 2   # only the elastic family


def test_build_calls_the_named_families_in_registry_order():
    calls = []

    def add(name):
        def build(m):
            calls.append(name)
            return 1
        return build

    registry = (Family("b", add("b")), Family("a", add("a")), Family("c", add("c")))
    m = Milp(problem=pulp.LpProblem("t"), families=("a", "b"))
    m.build(registry)
    assert calls == ["b", "a"] and m.rows == {"b": 1, "a": 1} and m.rows_text() == "b 1, a 1"


# --------------------------------------------------------------------------- errors

def test_problems_are_collected_and_raised_once():
    p = Problems("X")
    p.raise_all()                                  # nothing found: no error
    p.add("fam_a", "first problem", ["c1", 2])
    p.add("fam_b", "second problem")
    with pytest.raises(InfeasibleError) as e:
        p.raise_all()
    assert str(e.value) == "X: fam_a: first problem; fam_b: second problem"
    assert e.value.family == "fam_a" and e.value.items == ["c1", "2"] and e.value.exit_code == 3
    assert e.value.problems == [("fam_a", "first problem", ["c1", "2"]), ("fam_b", "second problem", [])]


def test_solved_passes_a_plan_and_names_each_failure():
    ok = SolveStats(part="p", name="cbc", status="feasible", objective=1.0)
    assert milp.solved(ok, model="M", explain=lambda: pytest.fail("not infeasible")) is ok
    with pytest.raises(InfeasibleError, match="because"):
        milp.solved(dataclasses.replace(ok, status="infeasible"), model="M",
                    explain=lambda: InfeasibleError("because", family="f"))
    with pytest.raises(SolverLimitError) as e:
        milp.solved(dataclasses.replace(ok, status="no_solution", time_limit_s=7.5, notes="Stopped on time limit"),
                    model="M", explain=lambda: pytest.fail("not infeasible"))
    assert str(e.value) == ("M (p): the cbc solver found no plan within 7.5 s (Stopped on time limit); "
                            "raise solver.time_limit_s")
    assert e.value.exit_code == 2 and "\n" not in str(e.value)


# --------------------------------------------------------------------------- the explanation, on a toy model

def _toy(floor: float, ceiling: float, *, integer: bool = False):
    """x >= floor (family floor), x <= ceiling (family ceiling), y <= 1 (family spare); 2x = 2·floor with
    ``integer`` makes a fractional floor infeasible only for whole x."""

    def add_floor(m):
        return m.add_rows("floor", np.array([0]), [m.x], [2.0 if integer else 1.0],
                          pulp.LpConstraintEQ if integer else pulp.LpConstraintGE, 2 * floor if integer else floor)

    def add_ceiling(m):
        return m.add_row("ceiling", [m.x], [1.0], pulp.LpConstraintLE, ceiling, label="x")

    def add_spare(m):
        return m.add_row("spare", [m.y], [1.0], pulp.LpConstraintLE, 1.0)

    registry = (Family("floor", add_floor, rank=0, blames="cells", unit="missing"),
                Family("ceiling", add_ceiling, rank=1, blames="limits", unit="over"),
                Family("spare", add_spare, rank=2), Family("cut", lambda m: 0))

    def build(fams, relax, elastic):
        m = Milp(problem=pulp.LpProblem("toy", pulp.LpMinimize), families=fams, relax=relax, elastic=elastic)
        cat = pulp.LpContinuous if relax else pulp.LpInteger
        m.x, m.y = m.variables(["x", "y"], 0, 10, cat)
        m.problem.setObjective(pulp.LpAffineExpression([(m.x, 1.0), (m.y, 1.0)]))
        m.build(registry)
        return m

    return registry, build


def test_explanation_names_the_conflict_and_the_rows_at_fault():
    registry, build = _toy(floor=5.0, ceiling=3.0)
    fams, relaxed = milp.find_conflict(registry, build, part="t", solver="cbc", threads=1)
    assert fams == ["floor", "ceiling"] and relaxed
    err = milp.explain_infeasible(registry, build, model="toy", part="t", threads=1,
                                  item_of=lambda fam, row: (f"cell{row}", "district A"))
    assert err.family == "floor+ceiling" and err.items == ["cell0"]
    assert str(err) == ("floor+ceiling: the toy model (t) is infeasible: constraint families floor, ceiling cannot "
                        "all hold (family-level deletion filter on the LP relaxation); cells at fault: "
                        "cell0 (district A: 2 missing)")


def test_explanation_of_an_integer_only_conflict_gives_the_hint():
    registry, build = _toy(floor=2.5, ceiling=10.0, integer=True)   # 2x = 5
    err = milp.explain_infeasible(registry, build, model="toy", part="t", threads=1, hint_integer="use halves",
                                  item_of=lambda fam, row: ("", ""))
    assert err.family == "floor" and "integer model" in str(err)
    assert str(err).endswith("; the LP relaxation is feasible: use halves")


def test_explanation_of_a_feasible_model_says_unknown():
    registry, build = _toy(floor=1.0, ceiling=3.0)
    err = milp.explain_infeasible(registry, build, model="toy", part="t", threads=1, item_of=lambda f, r: ("", ""))
    assert err.family == "unknown"


# --------------------------------------------------------------------------- every model follows the idiom

@pytest.mark.parametrize("model", sorted(REGISTRIES))
def test_each_family_is_one_name_one_builder(model):
    registry = REGISTRIES[model]
    names = [f.name for f in registry]
    assert len(set(names)) == len(names)
    for fam in registry:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", fam.name)
        assert fam.build.__name__ == f"add_{fam.name}", fam.name     # one grep finds entry, builder and rows
        assert fam.build.__doc__ and fam.name in fam.build.__doc__
    ranks = [f.rank for f in registry if f.rank is not None]
    assert sorted(ranks) == list(range(len(ranks)))                # one place in the explanation each


@pytest.mark.parametrize("model", sorted(REGISTRIES))
def test_each_family_is_in_its_model_docstring(model):
    module = {"5g": model_5g, "pon": model_pon, "phasing": phasing, "budget": model_budget}[model]
    for fam in REGISTRIES[model]:
        assert fam.name in module.__doc__, fam.name


def _no_incumbent(monkeypatch, module):
    def fake(problem, *, part, solver="cbc", time_limit_s=1.0, **kw):
        return SolveStats(part=part, name=solver, status="no_solution", time_limit_s=time_limit_s,
                          notes="Stopped on time limit")
    monkeypatch.setattr(module, "solve", fake)


def test_no_incumbent_is_one_error_in_every_model(monkeypatch):
    from tests.test_model_5g import LINE, make as make_5g
    from tests.test_model_pon import make as make_pon
    from tests.test_phasing import _plan, _scenario

    runs = {
        "5G (5g)": (model_5g, lambda: model_5g.solve_5g(make_5g(**LINE, traffic=10.0), time_limit_s=3.0)),
        "PON (pon)": (model_pon, lambda: model_pon.solve_pon(make_pon([[0, 0]], [[0, 0]], onts=[64]),
                                                             time_limit_s=3.0)),
        "phasing (phasing)": (phasing, lambda: phasing.phase_plan(*_plan(), _scenario(years=[2022, 2023]))),
        "budget (budget)": (model_budget, lambda: model_budget.solve_budget(model_budget.BudgetInput(
            weight=np.ones(1), existing_cover=np.zeros(1), site_cost_cny=np.ones(1),
            pairs=pd.DataFrame({"cell": [0], "site": [0]}), budget_cny=5.0), time_limit_s=3.0)),
    }
    for prefix, (module, run) in runs.items():
        _no_incumbent(monkeypatch, module)
        with pytest.raises(SolverLimitError, match=re.escape(prefix) + r": the cbc solver found no plan within "
                                                   r"[\d.]+ s \(Stopped on time limit\); raise solver.time_limit_s"):
            run()
