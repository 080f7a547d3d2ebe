"""One idiom for every integer program of the planner: constraint families, vectorised rows, one diagnosis path.

Each model module (``model_5g``, ``model_pon``, ``phasing``, ``model_budget``) writes its integer program out
in its docstring and declares its constraint families once, as a tuple of :class:`Family` in build order.
A family has

* a stable **name**: its PuLP rows are named ``<name>_<label>`` (a family of one row may be just ``<name>``),
  so one grep for the name finds its registry entry, its builder ``add_<name>``, its docstring line and its tests;
* a **builder** ``add_<name>(model) -> rows`` that adds every row of the family in one call of
  :meth:`Milp.add_rows`: row and term indices are computed with numpy on the sparse tables, then one sorted
  (row, variable, coefficient) list is handed over; a builder returns 0 where its family does not apply;
* its **rank** in the infeasibility explanation: the deletion filter tries to drop the highest rank first, and a
  conflict is named by its lowest-ranked family (``None``: valid inequalities and auxiliary rows, which the
  explanation leaves out);
* what one of its rows **blames** (``"cells"``, ``"sites"``, ``"districts"``, ``"years"``, ...) and the
  **unit** of a row's shortfall in the explanation.

Adding a family is one :class:`Family` entry beside its builder, plus its test.

Errors, the same for every model:

* before solving, a model's cheap checks (:func:`check_all`) collect every problem in :class:`Problems` and
  raise them once (:class:`~gis.errors.InfeasibleError`, exit 3, the message listing all of them);
* after a solve, :func:`solved` raises :class:`~gis.errors.SolverLimitError` when the solver stopped before any
  plan (naming the part and what to raise), and, when the solver proved the model infeasible, the error of
  :func:`explain_infeasible`: a family-level deletion filter (Chinneck) finds a minimal set of families that
  cannot hold together (on the LP relaxation when that is already infeasible, else on the integer model), then an
  elastic re-solve of the conflict's lowest-ranked family (a slack on each of its rows, total slack minimised)
  names the rows at fault.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pulp

from gis.errors import InfeasibleError, SolverLimitError
from rollout.plan import SolveStats
from rollout.solve import solve

log = logging.getLogger(__name__)

#: most rows (cells, sites, ...) an error message names; the rest are counted
NAMED = 8


@dataclass(frozen=True)
class Family:
    """A constraint family: name, builder, place in the infeasibility explanation, what its rows blame."""

    name: str                        # stable; the PuLP row-name prefix
    build: Callable[..., int]        # build(model) -> rows added, in one call
    rank: int | None = None          # explanation: lower is named first and dropped last; None: not explained
    blames: str = ""                 # what one row stands for: "cells", "sites", "districts", "years", ...
    unit: str = ""                   # the shortfall a row's slack measures, e.g. "Mbit/s unserved"


def names(registry: Sequence[Family]) -> tuple[str, ...]:
    """The family names of ``registry``, in build order."""
    return tuple(f.name for f in registry)


def _per_item(value, n: int) -> list:
    """``value`` (None, a scalar or a sequence of n) as a list of n Python values."""
    if value is None or np.ndim(value) == 0:
        value = None if value is None else np.asarray(value).item()
        return [value] * n
    out = np.asarray(value).tolist()
    if len(out) != n:
        raise ValueError(f"expected {n} bounds, got {len(out)}")
    return out


@dataclass(kw_only=True)
class Milp:
    """A PuLP problem under construction: its families, rows per family, and the elastic slacks.

    ``families`` are the names to build (a subset of the model's registry); ``elastic`` is a family
    whose rows get a nonnegative slack variable each (``slacks`` holds ``(row label, slack)``).
    """

    problem: pulp.LpProblem
    families: tuple[str, ...] = ()
    relax: bool = False
    elastic: str | None = None
    slacks: list = field(default_factory=list)
    rows: dict = field(default_factory=dict)
    nonzeros: int = 0
    build_seconds: float = 0.0

    def variables(self, names: Sequence[str], low=None, up=None, cat: str = pulp.LpContinuous) -> list:
        """One variable per name (``prob.add_variable``); ``low``/``up`` are None, scalars or one per name."""
        n = len(names)
        add = self.problem.add_variable
        return [add(nm, lo, hi, cat) for nm, lo, hi in zip(names, _per_item(low, n), _per_item(up, n), strict=True)]

    def add_rows(self, family: str, row_of_term, var_of_term: Sequence, coef_of_term, sense: int, rhs, *,
                 labels: Sequence | None = None) -> int:
        """Add rows of ``family`` in one pass; returns the number of rows.

        ``row_of_term`` (integer keys) must be sorted; each run of equal keys is one row, whose terms are the
        matching ``var_of_term``/``coef_of_term``. ``rhs`` has one value per row (scalar: the same for all),
        in the order of the sorted distinct keys. Rows are named ``<family>_<label>`` with ``labels`` (default:
        the keys; a label ``None`` names the row ``<family>``).
        """
        keys = np.asarray(row_of_term)
        if len(keys) == 0:
            return 0
        bounds = np.flatnonzero(np.diff(keys)) + 1
        starts = np.concatenate([[0], bounds]).astype(np.int64)
        ends = np.concatenate([bounds, [len(keys)]]).astype(np.int64)
        labels = keys[starts].tolist() if labels is None else list(labels)
        rhs = np.broadcast_to(np.asarray(rhs, dtype=float), (len(starts),)).tolist()
        if len(labels) != len(starts) or len(var_of_term) != len(keys):
            raise ValueError(f"{family}: {len(starts)} rows, {len(labels)} labels, {len(keys)} keys, "
                             f"{len(var_of_term)} variables")
        coefs = np.asarray(coef_of_term, dtype=float).tolist()
        prob = self.problem
        elastic = self.elastic == family
        sign = -1.0 if sense == pulp.LpConstraintLE else 1.0
        for label, st, en, b in zip(labels, starts.tolist(), ends.tolist(), rhs, strict=True):
            name = family if label is None else f"{family}_{label}"
            expr = pulp.LpAffineExpression(zip(var_of_term[st:en], coefs[st:en], strict=True))
            if elastic:
                slack = prob.add_variable(f"slack_{name}", 0)
                expr[slack] = sign
                self.slacks.append((label, slack))
            prob.addConstraint(pulp.LpConstraint(expr, sense, name, b))
        self.nonzeros += len(coefs) + (len(starts) if elastic else 0)
        return len(starts)

    def add_row(self, family: str, variables: Sequence, coefs, sense: int, rhs: float, *, label=None) -> int:
        """One row ``Σ coef·var <sense> rhs`` named ``<family>`` (or ``<family>_<label>``); none without terms."""
        return self.add_rows(family, np.zeros(len(variables), np.int64), variables, coefs, sense, [rhs],
                             labels=[label])

    def build(self, registry: Sequence[Family]) -> None:
        """Call the builder of every family of ``registry`` named in ``families``, in registry order."""
        for fam in registry:
            if fam.name in self.families:
                self.rows[fam.name] = fam.build(self)

    def rows_text(self) -> str:
        """'coverage 52, station_capacity 243, ...' (families with rows), for the build log."""
        return ", ".join(f"{k} {v}" for k, v in self.rows.items() if v)


# --------------------------------------------------------------------------- errors after a solve

def solved(stats: SolveStats, *, model: str, explain: Callable[[], InfeasibleError]) -> SolveStats:
    """``stats`` when the solve found a plan; otherwise the one error each kind of failure raises.

    Raises
    ------
    InfeasibleError
        the solver proved the model infeasible: ``explain()`` names the families and rows at fault.
    SolverLimitError
        the solver stopped before it found any plan.
    """
    if stats.status == "infeasible":
        raise explain()
    if stats.status == "no_solution":
        limit = "its time limit" if stats.time_limit_s is None else f"{stats.time_limit_s:g} s"
        raise SolverLimitError(f"{model} ({stats.part}): the {stats.name} solver found no plan within {limit} "
                               f"({stats.notes or 'no incumbent'}); raise solver.time_limit_s")
    return stats


# --------------------------------------------------------------------------- errors before a solve

class Problems:
    """Every problem a model's checks find before solving, raised once."""

    def __init__(self, model: str):
        self.model = model
        self.found: list[tuple[str, str, list[str]]] = []

    def add(self, family: str, message: str, items: Sequence = ()) -> None:
        self.found.append((family, message, [str(i) for i in items]))

    def raise_all(self) -> None:
        """Raise one :class:`InfeasibleError` listing every problem (``family``/``items`` of the first)."""
        if not self.found:
            return
        family, _, items = self.found[0]
        text = "; ".join(f"{f}: {m}" for f, m, _ in self.found)
        raise InfeasibleError(f"{self.model}: {text}", family=family, items=items, problems=self.found)


def check_all(model: str, checks: Sequence[Callable[[Problems], None]], *,
              strict: bool = True) -> list[tuple[str, str, list[str]]]:
    """Run every check (each adds what it finds to one :class:`Problems`), then raise them at once.

    Returns every problem as ``(family, message, items)``; with ``strict`` raises one
    :class:`InfeasibleError` listing all of them instead (nothing found: returns ``[]``).
    """
    problems = Problems(model)
    for check in checks:
        check(problems)
    if strict:
        problems.raise_all()
    return problems.found


# --------------------------------------------------------------------------- the explanation

#: build(families, relax, elastic) -> a built Milp of those families
Builder = Callable[[tuple, bool, "str | None"], Milp]


def find_conflict(registry: Sequence[Family], build: Builder, *, part: str, **solve_kw) -> tuple[list[str], bool]:
    """A minimal set of families that cannot hold together (family-level deletion filter).

    Starting from every ranked family, each in turn (highest rank first) is dropped and stays dropped if the
    rest is still infeasible. The LP relaxation is used when it is already infeasible (cheap); otherwise the
    infeasibility comes from integrality and the filter re-solves integer models. Returns
    ``(families in build order, relaxed)``; no families if the model turns out feasible.
    """
    ranked = [f for f in registry if f.rank is not None]

    def infeasible(fams: list[str], relax: bool) -> bool:
        m = build(tuple(fams), relax, None)
        return solve(m.problem, part=f"{part}_iis", gap_rel=1.0, **solve_kw).status == "infeasible"

    keep = [f.name for f in ranked]
    relax = True
    if not infeasible(keep, True):
        relax = False
        if not infeasible(keep, False):
            return [], relax
    for fam in sorted(ranked, key=lambda f: -f.rank):
        trial = [n for n in keep if n != fam.name]
        if trial and infeasible(trial, relax):
            keep = trial
    return keep, relax


def _elastic_rows(build: Builder, fams: list[str], relax: bool, focus: Family, *, part: str,
                  **solve_kw) -> list[tuple[float, object]]:
    """(slack, row label) of the rows of ``focus`` that cannot hold, largest first."""
    m = build(tuple(fams), relax, focus.name)
    m.problem.sense = pulp.LpMinimize
    m.problem.setObjective(pulp.LpAffineExpression([(v, 1.0) for _, v in m.slacks]))
    st = solve(m.problem, part=f"{part}_elastic", gap_rel=0.0, **solve_kw)
    if st.status not in ("optimal", "feasible"):
        return []
    rows = [(v.varValue or 0.0, label) for label, v in m.slacks if (v.varValue or 0.0) > 1e-6]
    return sorted(rows, key=lambda r: (-r[0], r[1]))


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 10 else f"{v:.3g}"


def explain_infeasible(registry: Sequence[Family], build: Builder, *, model: str, part: str,
                       item_of: Callable[[Family, object], tuple[str, str]], hint_integer: str = "",
                       solver: str = "cbc", time_limit_s: float = 60.0, threads: int = 1,
                       seed: int = 0) -> InfeasibleError:
    """The error to raise after the solver proved ``model`` infeasible: the families and the rows at fault.

    Parameters
    ----------
    build
        ``build(families, relax, elastic) -> Milp``: the model with only those families, its integer
        variables continuous with ``relax``, a slack on every row of family ``elastic``.
    item_of
        ``item_of(family, row label) -> (item id, where)``: the cell/site/district/year a row stands for
        (``""`` for a family of one row) and an optional context ("district 370202").
    hint_integer
        Added to the message when only the integer model is infeasible (what to relax).

    Each probe solve gets at most 60 s. ``family`` of the error is the conflict ``a+b+...`` (build order);
    ``items`` the ids the elastic re-solve names, most short first.
    """
    kw = dict(solver=solver, time_limit_s=min(time_limit_s, 60.0), threads=threads, seed=seed)
    fams, relax = find_conflict(registry, build, part=part, **kw)
    if not fams:
        return InfeasibleError(f"unknown: the {model} model ({part}) was reported infeasible, but no family "
                               "conflict was found on re-solving", family="unknown")
    focus = min((f for f in registry if f.name in fams), key=lambda f: f.rank)
    rows = _elastic_rows(build, fams, relax, focus, part=part, **kw)
    items, named = [], []
    for v, label in rows:
        item, where = item_of(focus, label)
        short = f"{_num(v)} {focus.unit}".strip()
        if item:
            items.append(item)
            named.append(f"{item} ({where}: {short})" if where else f"{item} ({short})")
        else:
            named.append(short)
    family = "+".join(fams)
    msg = (f"{family}: the {model} model ({part}) is infeasible: constraint families {', '.join(fams)} cannot all "
           f"hold (family-level deletion filter on the {'LP relaxation' if relax else 'integer model'})")
    if named:
        more = len(named) - NAMED
        msg += f"; {focus.blames or focus.name} at fault: " + ", ".join(named[:NAMED]) + (
            f" and {more} more" if more > 0 else "")
    if not relax and hint_integer:
        msg += f"; the LP relaxation is feasible: {hint_integer}"
    log.info("%s", msg)
    return InfeasibleError(msg, family=family, items=items)


__all__ = ["Family", "Milp", "Problems", "names", "solved", "check_all", "find_conflict", "explain_infeasible"]
