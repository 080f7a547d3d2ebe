"""Errors of the planner (re-exported from :mod:`gis.errors`, the lowest layer)."""
from gis.errors import (  # noqa: F401
    InfeasibleError,
    InputError,
    OutputError,
    RolloutError,
    ScenarioError,
    ValidationError,
)
