"""Solve a PuLP model with CBC (default) or HiGHS and report honestly what was proven.

PuLP's ``LpStatus`` says "Optimal" even when CBC stopped at its time limit with
only an incumbent. We therefore read ``problem.sol_status`` and the solver's own
figures (CBC's log; HiGHS's model status and info) and report one of:

* ``optimal``     the solver proved the incumbent optimal within the requested gap;
* ``feasible``    an incumbent exists but the search stopped early (time limit):
                  ``gap`` and ``bound`` say how far from proven;
* ``infeasible``  proven infeasible;
* ``no_solution`` stopped before any incumbent was found.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pulp
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from gis.errors import ScenarioError
from rollout.plan import SolveStats

log = logging.getLogger(__name__)

_FLOAT = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"


def available_solvers() -> list[str]:
    names = pulp.listSolvers(onlyAvailable=True)
    out = []
    if "PULP_CBC_CMD" in names:
        out.append("cbc")
    if "HiGHS" in names:
        out.append("highs")
    return out


def model_size(problem: pulp.LpProblem) -> dict:
    """Variables, integer variables, constraints and nonzeros of ``problem``."""
    variables = problem.variables()
    rows = problem.constraints()
    return {
        "variables": len(variables),
        "integer_variables": sum(v.cat == pulp.LpInteger for v in variables),
        "constraints": len(rows),
        "nonzeros": sum(len(c) for c in rows),
    }


def parse_cbc_log(text: str, objective: float | None, sense: int = pulp.LpMinimize) -> tuple[float | None, str]:
    """Best bound and CBC's result line from a CBC log, in the problem's own sense.

    Returns ``(bound, result)`` where ``result`` is e.g. "Optimal solution found"
    or "Stopped on time limit". CBC's closing "Lower bound:" (minimisation) or
    "Upper bound:" (maximisation) is in the problem's sense; its progress lines
    ("best possible", "integer gap") are in its internal minimisation sense.
    """
    result = ""
    m = re.search(r"^Result - (.+)$", text, re.M)
    if m:
        result = m.group(1).strip()
    m = re.search(r"^(?:Lower|Upper) bound:\s+" + _FLOAT, text, re.M)
    if m:
        return float(m.group(1)), result
    m = re.findall(r"Exiting as integer gap of " + _FLOAT, text)
    if m and objective is not None:
        return objective - sense * float(m[-1]), result
    if result == "Optimal solution found" and objective is not None:   # not "(within gap tolerance)"
        # search completed: the incumbent is the proven optimum
        return objective, result
    m = re.findall(r"best possible " + _FLOAT, text)
    if m:
        return sense * float(m[-1]), result
    return None, result


def _gap(obj: float | None, bound: float | None, sense: int = pulp.LpMinimize) -> float | None:
    """Relative gap between incumbent and bound, in the problem's sense (>= 0)."""
    if obj is None or bound is None:
        return None
    if abs(obj) < 1e-9:
        return 0.0 if abs(bound) < 1e-6 else None
    diff = (obj - bound) if sense == pulp.LpMinimize else (bound - obj)
    return max(0.0, diff / abs(obj))


def _cbc_command(**kw) -> pulp.COIN_CMD:
    """CBC as bundled with PuLP 3 (the binary of the deprecated ``PULP_CBC_CMD``), run through ``COIN_CMD``."""
    return pulp.COIN_CMD(path=pulp.PULP_CBC_CMD.pulp_cbc_path, **kw)


class _ChildGroups:
    """Stands in for ``subprocess`` inside PuLP's CBC API: every child starts in its own process group.

    The children started by the current thread are recorded, so :func:`_cbc_children_killed_on_exit` can kill a
    CBC run's whole process group when the solve is left by an exception (SIGINT, SIGTERM turned into an
    exception by the CLI): no orphan CBC keeps a core busy after the planner stopped.
    """

    def __init__(self):
        self._local = threading.local()
        self._lock = threading.Lock()
        self.alive: set[subprocess.Popen] = set()  # of every thread (Dask runs cities in worker threads)

    def __getattr__(self, name):
        return getattr(subprocess, name)

    def children(self) -> list[subprocess.Popen]:
        if not hasattr(self._local, "children"):
            self._local.children = []
        return self._local.children

    def Popen(self, *args, **kw):  # noqa: N802 - the name PuLP calls
        child = subprocess.Popen(*args, start_new_session=True, **kw)
        self.children().append(child)
        with self._lock:
            self.alive.add(child)
        return child

    def forget(self, children) -> None:
        with self._lock:
            self.alive.difference_update(children)


def _kill_group(child: subprocess.Popen) -> None:
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        log.info("killed the CBC child process group %d", child.pid)


def kill_solver_children() -> int:
    """Kill the process group of every CBC child still running, in any thread; return how many.

    The CLI calls this on SIGINT/SIGTERM: the solve of the main thread cleans up after itself, but solves in
    worker threads (a region plan's cities) only notice when their CBC ends.
    """
    with _CHILD_GROUPS._lock:
        alive = list(_CHILD_GROUPS.alive)
    for child in alive:
        _kill_group(child)
    _CHILD_GROUPS.forget(alive)
    return sum(c.returncode is not None for c in alive)


_CHILD_GROUPS = _ChildGroups()


@contextlib.contextmanager
def _cbc_children_killed_on_exit():
    """Run CBC through :class:`_ChildGroups`; on any exception kill the process group of each child still alive."""
    from pulp.apis import coin_api

    coin_api.subprocess = _CHILD_GROUPS  # idempotent: only adds start_new_session to PuLP's CBC children
    mine = _CHILD_GROUPS.children()
    start = len(mine)
    try:
        yield
    except BaseException:
        for child in mine[start:]:
            _kill_group(child)
        raise
    finally:
        _CHILD_GROUPS.forget(mine[start:])
        del mine[start:]


def _solve_cbc(problem: pulp.LpProblem, *, is_mip: bool, time_limit_s: float, gap_rel: float, threads: int,
               msg: bool, seed: int, gap_abs: float = 0.0) -> tuple[str, float | None, float | None, str]:
    """(status, objective, bound, notes) of one CBC run; the bound comes from CBC's own log.

    ``is_mip = False`` on a model with integer variables solves its LP relaxation.

    CBC's model, solution and log files live in a private temporary folder that is always removed, and CBC
    runs in its own process group, killed if the solve is interrupted.
    """
    with tempfile.TemporaryDirectory(prefix="rollout-cbc-") as tmp:
        log_path = Path(tmp) / "cbc.log"
        cmd = _cbc_command(msg=msg, mip=is_mip, timeLimit=time_limit_s, gapRel=gap_rel, threads=threads,
                           logPath=str(log_path),
                           options=[f"randomSeed {seed + 1}", f"randomCbcSeed {seed + 1}"]
                           + ([f"allowableGap {gap_abs:.6g}"] if gap_abs > 0 else []))
        cmd.tmpDir = tmp  # the .mps/.sol files too
        with _cbc_children_killed_on_exit():
            problem.solve(cmd)
        text = log_path.read_text(errors="replace") if log_path.exists() else ""
    objective = pulp.value(problem.objective) if problem.sol_status in (1, 2) else None
    if is_mip:
        bound, result = parse_cbc_log(text, objective, problem.sense)
    else:
        bound, result = (objective, "LP optimal") if problem.sol_status == 1 else (None, "")
    if problem.sol_status == pulp.LpSolutionOptimal:
        status = "optimal"
    elif problem.sol_status == pulp.LpSolutionIntegerFeasible:
        status = "feasible"
    elif problem.sol_status == pulp.LpSolutionInfeasible or problem.status == pulp.LpStatusInfeasible:
        status = "infeasible"
    else:
        status = "no_solution"
    return status, objective, bound, result


_STDOUT_FD_LOCK = threading.Lock()


@contextlib.contextmanager
def _stdout_fd_silenced():
    """File descriptor 1 sent to the null device for the block (C++ code writing to the console bypasses
    ``sys.stdout``); one block at a time in the process, so threads cannot restore each other's descriptor."""
    with _STDOUT_FD_LOCK:
        if sys.stdout is not None:
            sys.stdout.flush()
        try:
            saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
        except OSError:            # no console to keep quiet (fd 1 closed: a service)
            yield
            return
        try:
            os.dup2(null, 1)
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(null)


class _QuietHiGHS(pulp.HiGHS):
    """PuLP's HiGHS whose solver object is made without highspy's console banner ("Running HiGHS ...,
    Copyright ..."), which its constructor prints before any option can turn output off."""

    def createAndConfigureSolver(self, lp):   # noqa: N802 - the name PuLP calls
        with _stdout_fd_silenced():            # makes the solver object and sets its options, no solve
            return super().createAndConfigureSolver(lp)


def _solve_highs(problem: pulp.LpProblem, *, is_mip: bool, time_limit_s: float, gap_rel: float, threads: int,
                 msg: bool, seed: int, gap_abs: float = 0.0) -> tuple[str, float | None, float | None, str]:
    """(status, objective, bound, notes) of one HiGHS run (highspy), read from HiGHS's model status and info."""
    if "HiGHS" not in pulp.listSolvers(onlyAvailable=True):
        raise ScenarioError("solver 'highs' needs the highspy package: pip install 'qingdao-rollout[highs]'")
    make = pulp.HiGHS if msg else _QuietHiGHS
    cmd = make(msg=msg, mip=is_mip, timeLimit=time_limit_s, gapRel=gap_rel, threads=threads, random_seed=seed,
               **({"gapAbs": gap_abs} if gap_abs > 0 else {}))
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink) if not msg else contextlib.nullcontext():
        problem.solve(cmd)
    h = problem.solverModel
    ms = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    has_sol = problem.sol_status in (1, 2)
    objective = pulp.value(problem.objective) if has_sol else None
    bound = None
    if is_mip and has_sol:
        bound = float(info.mip_dual_bound)
        hv = float(info.objective_function_value)
        if problem.sense == pulp.LpMaximize and abs(hv + objective) < 1e-6 * max(1.0, abs(objective)) and abs(objective) > 1e-9:
            bound = -bound  # PuLP hands HiGHS the negated objective of a maximisation
    elif has_sol:
        bound = objective
    if ms == "Optimal":
        status = "optimal"
    elif "nfeasible" in ms:
        status = "infeasible"
    elif has_sol:
        status = "feasible"
    else:
        status = "no_solution"
    return status, objective, bound, ms


_BACKENDS = {"cbc": _solve_cbc, "highs": _solve_highs}

ROUND_TOL = 1e-6   # an LP value within this of an integer counts as that integer


def lp_arrays(problem: pulp.LpProblem) -> tuple[list, np.ndarray, sp.csr_array, np.ndarray, np.ndarray, np.ndarray,
                                                   np.ndarray]:
    """``(variables, c, A, row_lo, row_hi, lb, ub)`` of ``problem``: min c·x, row_lo <= A x <= row_hi, lb <= x <= ub.

    Read straight from PuLP's expressions (no model file); the objective's constant term is left out.
    """
    variables = problem.variables()
    index = {v: i for i, v in enumerate(variables)}
    c = np.zeros(len(variables))
    for v, coef in problem.objective.items():
        c[index[v]] = coef
    ptr, cols, vals, rhs, sense = [0], [], [], [], []
    for con in problem.constraints():
        for v, coef in con.items():
            cols.append(index[v])
            vals.append(coef)
        ptr.append(len(cols))
        rhs.append(-con.constant)
        sense.append(con.sense)
    a = sp.csr_array((np.asarray(vals, float), np.asarray(cols, np.int64), np.asarray(ptr, np.int64)),
                     shape=(len(rhs), len(variables)))
    rhs, sense = np.asarray(rhs, float), np.asarray(sense)
    lo = np.where(sense == pulp.LpConstraintLE, -np.inf, rhs)
    hi = np.where(sense == pulp.LpConstraintGE, np.inf, rhs)
    lb = np.array([-np.inf if v.lowBound is None else v.lowBound for v in variables], float)
    ub = np.array([np.inf if v.upBound is None else v.upBound for v in variables], float)
    return variables, c, a, lo, hi, lb, ub


def _rounded_relaxation(problem: pulp.LpProblem, *, time_limit_s: float,
                        gap_rel: float) -> tuple[str, float, float, str] | None:
    """(status, objective, bound, notes) of the LP relaxation with every integer variable rounded up, or None.

    Proven, not hoped: the LP optimum (HiGHS, through scipy) is a lower bound on every integer
    solution of a minimisation, and the rounded point is an integer solution once every row is checked to still
    hold. It is kept when it lies within ``gap_rel`` of that bound, and is then ``optimal`` in the sense of
    :func:`solve`; otherwise None and the caller runs the MIP (which may still stop on an absolute tolerance: a
    rounded point is not kept on one, as the branch and bound finds a closer plan where the LP is far off). The
    values are written to the problem's variables, as a solver would.
    """
    if problem.sense != pulp.LpMinimize:
        return None
    variables, c, a, lo, hi, lb, ub = lp_arrays(problem)
    res = milp(c, constraints=LinearConstraint(a, lo, hi), bounds=Bounds(lb, ub), integrality=np.zeros(len(c)),
               options={"time_limit": time_limit_s, "presolve": True})
    if res.status != 0 or res.x is None:
        log.info("LP relaxation not solved (%s): the MIP is solved", res.message)
        return None
    integer = np.array([v.cat == pulp.LpInteger for v in variables])
    x = res.x.copy()
    rounded = int((np.abs(x[integer] - np.rint(x[integer])) > ROUND_TOL).sum())   # fractional ones
    x[integer] = np.ceil(x[integer] - ROUND_TOL)
    ax = a @ x
    # a row's tolerance scales with its terms (a capacity row: rhs 0, terms of ~1,000 Mbit/s per station)
    tol = ROUND_TOL * np.maximum(1.0, np.maximum(np.abs(np.where(np.isfinite(lo), lo, hi)), abs(a) @ np.abs(x)))
    bad = int(((ax < lo - tol) | (ax > hi + tol)).sum()) + int(((x > ub + ROUND_TOL) | (x < lb - ROUND_TOL)).sum())
    if bad:
        log.info("the LP relaxation rounded up breaks %d rows or bounds: the MIP is solved", bad)
        return None
    constant = float(getattr(problem.objective, "constant", 0.0) or 0.0)
    objective, bound = float(c @ x) + constant, float(res.fun) + constant
    gap = _gap(objective, bound)
    if gap is None or gap > gap_rel + 1e-12:
        log.info("the LP relaxation rounded up is %s above its bound, outside the gap asked: the MIP is solved",
                 _fmt(objective - bound))
        return None
    for v, value in zip(variables, x.tolist(), strict=True):
        v.varValue = value
    return ("optimal", objective, bound,
            f"LP relaxation (HiGHS, through scipy) with {rounded} fractional integer variables rounded up: within the "
            f"gap asked of the LP bound, so no branch and bound was needed")


def solve(problem: pulp.LpProblem, *, part: str, solver: str = "cbc", time_limit_s: float = 120.0,
          gap_rel: float = 0.005, threads: int = 1, msg: bool = False, seed: int = 0,
          build_seconds: float = 0.0, gap_abs: float = 0.0, round_up: bool = False) -> SolveStats:
    """Solve ``problem`` in place and return what was proven about it.

    ``round_up``: solve the LP relaxation first and round every integer variable up
    (:func:`_rounded_relaxation`); if that point satisfies every row and lies within the gap asked of the LP
    bound it is the result (solver ``highs-lp``), and branch and bound is not run. For covering-type models,
    where rounding up keeps every row (5G siting with its coverage and capacity rows); any other model falls
    through to ``solver``'s MIP.

    ``gap_abs`` (> 0): the search may also stop once the incumbent is within this much of the bound (model
    units); a solve that stops there outside ``gap_rel`` says ``feasible`` (its gap and bound say how far), so
    ``optimal`` still means "proven within the requested relative gap".

    Determinism: with ``threads = 1`` (the default) CBC and HiGHS follow one search path for one model and
    seed, so a solve that ends on its gap gives the same solution on any machine. CBC with ``threads > 1``
    is not deterministic (its parallel tree search depends on thread timing: 3 of 5 runs of one scenario
    differed), and a solve stopped by ``time_limit_s`` depends on the machine's speed; its status is then
    ``feasible``, which says so.
    """
    if solver not in _BACKENDS:
        raise ScenarioError(f"unknown solver {solver!r}; use 'cbc' or 'highs'")
    size = model_size(problem)
    log.info("%s model: %d variables (%d integer), %d constraints, %d nonzeros",
             part, size["variables"], size["integer_variables"], size["constraints"], size["nonzeros"])
    is_mip = size["integer_variables"] > 0 or any(v.cat == pulp.LpBinary for v in problem.variables())
    t0 = time.perf_counter()
    kw = dict(time_limit_s=time_limit_s, gap_rel=gap_rel, threads=threads, msg=msg, seed=seed, gap_abs=gap_abs)
    rounded = _rounded_relaxation(problem, time_limit_s=time_limit_s, gap_rel=gap_rel) if round_up and is_mip else None
    if rounded is not None:   # its objective and bound include the constant term
        name = "highs-lp"
        status, objective, bound, notes = rounded
    else:
        name = solver
        if round_up and is_mip:   # the MIP gets what the relaxation left of the time limit
            kw["time_limit_s"] = max(1.0, time_limit_s - (time.perf_counter() - t0))
        status, objective, bound, notes = _BACKENDS[solver](problem, is_mip=is_mip, **kw)
        # solvers report their bound without the objective's constant term; PuLP's objective value includes it
        constant = float(getattr(problem.objective, "constant", 0.0) or 0.0)
        if bound is not None and constant and bound is not objective and not (objective is not None and bound == objective):
            bound += constant
    seconds = time.perf_counter() - t0
    if status == "optimal" and bound is None:
        bound = objective
    gap = _gap(objective, bound, problem.sense)
    if gap_abs > 0 and rounded is None:
        notes = (notes + "; " if notes else "") + f"absolute gap tolerance {gap_abs:,.0f}"
        if status == "optimal" and gap is not None and gap > gap_rel + 1e-9:
            status = "feasible"   # stopped on the absolute tolerance: not proven within the relative gap asked
    stats = SolveStats(part=part, name=name, status=status, objective=objective, bound=bound, gap=gap,
                       seconds=round(seconds, 3), build_seconds=round(build_seconds, 3),
                       time_limit_s=time_limit_s, gap_rel_requested=gap_rel, notes=notes, **size)
    log.info("%s solve (%s): %s, objective %s, bound %s, gap %s, %.1f s", part, name, status,
             _fmt(objective), _fmt(bound), "n/a" if gap is None else f"{gap:.3%}", seconds)
    return stats


def _fmt(x):
    return "n/a" if x is None else f"{x:,.0f}"


__all__ = ["solve", "lp_arrays", "model_size", "parse_cbc_log", "available_solvers", "kill_solver_children"]
