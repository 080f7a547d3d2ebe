"""The project's error hierarchy, built on ``ValueError``.

The CLI maps each class to a one-line message and an exit code: 2 for bad input
or usage, 3 for an infeasible plan. Anything else is unexpected (exit 1).
"""
from __future__ import annotations


class RolloutError(ValueError):
    """Base class of every error the planner raises on purpose."""

    exit_code = 2


class InputError(RolloutError):
    """Bad input data: names the file, the field and the reason."""

    def __init__(self, reason: str, *, file: str | None = None, field: str | None = None):
        self.file = None if file is None else str(file)
        self.field = field
        self.reason = reason
        parts = [p for p in (self.file, field) if p]
        super().__init__(": ".join([*parts, reason]))


class ValidationError(InputError):
    """Several input problems, collected and raised once.

    ``problems`` is a list of ``(file, field, reason)`` tuples.
    """

    def __init__(self, problems: list[tuple[str | None, str | None, str]]):
        self.problems = list(problems)
        first = self.problems[0]
        more = len(self.problems) - 1
        reason = first[2] + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")
        super().__init__(reason, file=first[0], field=first[1])


class ScenarioError(RolloutError):
    """A scenario file or value that is not valid."""


class OutputError(RolloutError):
    """An output location that cannot be written."""


class InfeasibleError(RolloutError):
    """The plan cannot meet its constraints.

    ``family`` names the constraint family (or ``a+b`` the families that conflict), ``items`` the cells,
    sites, districts or years at fault, and ``problems`` every ``(family, message, items)`` found by a
    model's checks before solving (the message lists them all).
    """

    exit_code = 3

    def __init__(self, message: str, *, family: str | None = None, items: list[str] | None = None,
                 problems: list[tuple[str, str, list[str]]] | None = None):
        self.family = family
        self.items = list(items or [])
        self.problems = list(problems or [])
        super().__init__(message)


class SolverLimitError(RolloutError):
    """The solver stopped (time limit) before it found any plan; the message says which part and what to raise."""
