"""The scenario's radio: link budgets per station type x band x clutter class, and the radii the plan uses.

The glue between :mod:`rollout.scenario` (``[radio]``: each type's ``band_mhz``, optional explicit
``radius_m`` per clutter class, the cell-edge ``threshold_dbm``) and :mod:`rollout.radio` (TR 38.901
path loss and the downlink link budget). Every consumer of a radius reads it from here: the layer build
(pair table), the 5G model (through the pairs), ``rollout check`` (``rollout.check.radius_m``), the
coverage evaluation and ``rollout radio``.

A type's radius in a clutter class is its explicit ``radio.<type>.radius_m[clutter]`` when the scenario
gives one, else the link budget's radius (UMa for urban macros, RMa for rural macros, UMi street canyon for
small cells; see :mod:`rollout.radio`).
"""
from __future__ import annotations

import dataclasses
import logging

from gis.errors import ScenarioError
from rollout import radio

log = logging.getLogger(__name__)

CLUTTERS = radio.CLUTTERS


def scenario_types(scenario) -> dict:
    """``{name: StationType}`` of ``scenario.radio`` (macro, small), in field order.

    A station type is a field holding a ``band_mhz`` and a ``capacity_mbps`` (duck-typed, so this module
    does not import the scenario module, which imports it).
    """
    r = scenario.radio
    return {f.name: getattr(r, f.name) for f in dataclasses.fields(r)
            if hasattr(getattr(r, f.name), "band_mhz") and hasattr(getattr(r, f.name), "capacity_mbps")}


def radio_config(scenario) -> radio.RadioConfig:
    """The :class:`rollout.radio.RadioConfig` of the scenario: default transmitters, its cell-edge threshold."""
    return radio.RadioConfig(target=dataclasses.replace(radio.EdgeTarget(), rsrp_dbm=float(scenario.radio.threshold_dbm)))


def bands_mhz(scenario) -> dict[str, float]:
    """``{type: band_mhz}`` of the scenario's station types."""
    return {name: float(t.band_mhz) for name, t in scenario_types(scenario).items()}


def scenario_budgets(scenario) -> dict[tuple[str, str], radio.LinkBudget]:
    """``{(type, clutter): LinkBudget}`` of the scenario; a bad band or threshold is one ScenarioError naming its key."""
    config = radio_config(scenario)
    for name, band in bands_mhz(scenario).items():
        try:
            radio.check_band_mhz(band, name=f"radio.{name}.band_mhz")
            config.station(name, band)
        except ScenarioError as exc:
            raise ScenarioError(f"'radio.{name}.band_mhz': {exc}") from None
    try:
        return radio.link_budgets(config, bands_mhz=bands_mhz(scenario))
    except ScenarioError as exc:
        raise ScenarioError(f"'radio.threshold_dbm' = {scenario.radio.threshold_dbm:g}: {exc}") from None


def type_radii_m(scenario, budgets: dict | None = None) -> dict[str, dict[str, float]]:
    """``{type: {clutter: radius_m}}``: the explicit ``radio.<type>.radius_m`` where given, else the link budget's."""
    budgets = scenario_budgets(scenario) if budgets is None else budgets
    return {name: {c: float(t.radius_m.get(c, budgets[(name, c)].radius_m)) for c in CLUTTERS}
            for name, t in scenario_types(scenario).items()}


def cell_radius_m(scenario, radii: dict | None = None) -> dict[str, float]:
    """``{clutter: radius_m}``: the largest radius of a type built in that clutter class (the pair search radius)."""
    radii = type_radii_m(scenario) if radii is None else radii
    types = scenario_types(scenario)
    out = {}
    for c in CLUTTERS:
        built = [radii[name][c] for name, t in types.items() if c in t.clutters and t.max_per_site > 0]
        out[c] = max(built or [radii[name][c] for name in types])
    return out


def link_budget_rows(scenario) -> list[dict]:
    """``radio.link_budget`` of ``plan.json``: ``{type, band_mhz, clutter, mapl_db, radius_m}`` per type x clutter.

    ``radius_m`` is the radius the plan uses (an explicit override where the scenario gives one).
    """
    budgets = scenario_budgets(scenario)
    radii = type_radii_m(scenario, budgets)
    rows = []
    for (name, c), b in budgets.items():
        row = b.row()
        row["radius_m"] = round(radii[name][c], 1)
        rows.append(row)
    return rows


def radio_summary(scenario) -> dict:
    """``plan.json["radio"]``: the link-budget table, the threshold, each type's band and what counts as a station."""
    return {
        "link_budget": link_budget_rows(scenario),
        "threshold_dbm": float(scenario.radio.threshold_dbm),
        "bands_mhz": bands_mhz(scenario),
        "counting": "one gNB per position: a macro site (3 sectors) counts 1, a small cell counts 1 (as MIIT counts "
                    "5G base stations)",
    }
