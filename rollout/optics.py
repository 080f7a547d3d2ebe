"""Optical power budget of an XGS-PON optical distribution network (ODN).

Reach is set by loss, not by a fixed distance. A path from the OLT to a home
passes every splitter stage of its split, some connectors and splices, and its
route length of fibre. It works when its loss, plus a system margin, stays
within the loss budget of the optics class::

    loss_db(route_km) = loss_db_fixed + db_per_km * route_km

    loss_db_fixed = sum over stages of splitter_db[stage ratio]      (excess loss included)
                  + (connectors_fixed + connectors_per_stage * stages) * connector_db
                  + splices_fixed * splice_db
                  + margin_db
    db_per_km     = fibre_db_per_km + splices_per_km * splice_db

    max_route_km  = (budget_db - loss_db_fixed) / db_per_km         (0 when negative)

All losses are worst-case design values in dB at the upstream wavelength
(1270 nm for XGS-PON, where fibre loses more than at the 1577 nm downstream),
and lengths are route lengths in km along the fibre, not straight lines. Every
default and its source is listed in ``seeds/SOURCES.md`` (section "Optical
power budget").

A split is written ``"1:64"`` (one central stage) or ``"1:8x1:8"`` (a primary
splitter in a cabinet feeding secondary splitters): the losses of the stages
add, so a two-stage 1:64 loses a little more than a single 1:64 splitter.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping, Sequence, Union

import numpy as np

from gis.errors import ScenarioError

__all__ = [
    "DEFAULT_LOSSES", "DEFAULT_SPLITS", "OdnLosses", "OpticsClass", "Split", "SplitLike", "XGS_PON_CLASSES",
    "check_split", "loss_db_fixed", "max_route_km", "optical_budget_table", "optics_class", "path_loss_db",
    "splitter_loss_db", "within_budget",
]


@dataclass(frozen=True)
class OpticsClass:
    """An optics (ODN) class of ITU-T G.9807.1: the loss range its transceivers guarantee.

    Attributes
    ----------
    name
        ``N1``, ``N2``, ``E1`` or ``E2``.
    budget_db
        Largest OLT-to-ONU path loss the optics work over [dB].
    min_loss_db
        Smallest path loss before the receivers overload [dB]; a shorter or
        less split path needs an attenuator. Informative: not checked here.
    """

    name: str
    budget_db: float
    min_loss_db: float


#: XGS-PON optical path loss classes (ITU-T G.9807.1, Annex B clause B.6.1; the same
#: classes as XG-PON in G.987.2): nominal N1, N2 and extended E1, E2.
XGS_PON_CLASSES: Mapping[str, OpticsClass] = MappingProxyType({
    c.name: c for c in (OpticsClass("N1", 29.0, 14.0), OpticsClass("N2", 31.0, 16.0),
                        OpticsClass("E1", 33.0, 18.0), OpticsClass("E2", 35.0, 20.0))})

#: Worst-case insertion loss of one PLC splitter by its ratio 1:N [dB], excess loss
#: and port non-uniformity included (the ideal split alone is 10*log10(N)).
DEFAULT_SPLITTER_DB: Mapping[int, float] = MappingProxyType(
    {2: 3.8, 4: 7.3, 8: 10.7, 16: 14.0, 32: 17.5, 64: 21.0, 128: 24.0})

_STAGE_RE = re.compile(r"^(?:1:)?(\d+)$")


@dataclass(frozen=True)
class Split:
    """A split: the ratios of its cascaded splitter stages, from the OLT outwards.

    ``Split((8, 8))`` is a 1:8 primary splitter feeding 1:8 secondary splitters:
    64 homes per PON port.
    """

    stages: tuple[int, ...]

    def __post_init__(self):
        stages = tuple(int(s) for s in self.stages)
        if not stages or any(s < 2 for s in stages):
            raise ScenarioError(f"split {self.stages!r}: every stage needs a ratio 1:N with N >= 2")
        object.__setattr__(self, "stages", stages)

    @classmethod
    def parse(cls, split: SplitLike) -> Split:
        """A split from ``"1:64"``, ``"1:8x1:8"``, ``"8x8"``, ``64``, ``(8, 8)`` or a Split."""
        if isinstance(split, Split):
            return split
        if isinstance(split, (int, np.integer)):
            return cls((int(split),))
        if isinstance(split, str):
            parts = [p.strip() for p in re.split(r"[x×*]", split.strip().lower())]
            matches = [_STAGE_RE.match(p) for p in parts]
            if not all(matches):
                raise ScenarioError(f"split {split!r}: write it as '1:64' or '1:8x1:8'")
            return cls(tuple(int(m.group(1)) for m in matches))
        return cls(tuple(split))

    @property
    def ratio(self) -> int:
        """Homes per PON port: the product of the stage ratios."""
        return math.prod(self.stages)

    @property
    def label(self) -> str:
        """Canonical text, e.g. ``"1:8x1:8"``."""
        return "x".join(f"1:{s}" for s in self.stages)

    def __str__(self) -> str:
        return self.label


SplitLike = Union[str, int, Sequence[int], Split]


@dataclass(frozen=True)
class OdnLosses:
    """The loss assumptions of an ODN path (defaults: ``seeds/SOURCES.md``).

    Attributes
    ----------
    fibre_db_per_km
        Attenuation of cabled single-mode fibre (G.652.D) at 1270 nm [dB/km].
    splice_db
        Loss of one fusion splice [dB].
    splices_per_km
        Splices along the route per km (cable sections joined) [1/km].
    splices_fixed
        Splices on every path whatever its length (pigtails at the ODF, the cabinets, the drop).
    connector_db
        Loss of one mated connector pair [dB].
    connectors_fixed
        Connector pairs on every path (OLT-side ODF and the home's terminal box).
    connectors_per_stage
        Connector pairs added by each splitter stage (its input and output).
    margin_db
        System margin held back for repairs, ageing and temperature [dB].
    splitter_db
        Insertion loss of one splitter by its ratio N [dB]; given as a mapping and
        stored as sorted ``(N, dB)`` pairs so the object stays hashable.
    """

    fibre_db_per_km: float = 0.35
    splice_db: float = 0.1
    splices_per_km: float = 0.5
    splices_fixed: int = 4
    connector_db: float = 0.5
    connectors_fixed: int = 2
    connectors_per_stage: int = 2
    margin_db: float = 2.0
    splitter_db: Mapping[int, float] | tuple[tuple[int, float], ...] = field(
        default_factory=lambda: dict(DEFAULT_SPLITTER_DB))

    def __post_init__(self):
        pairs = self.splitter_db.items() if isinstance(self.splitter_db, Mapping) else self.splitter_db
        pairs = tuple(sorted((int(n), float(db)) for n, db in pairs))
        object.__setattr__(self, "splitter_db", pairs)
        _validate_losses(self)

    @property
    def db_per_km(self) -> float:
        """Loss per route km: fibre plus the splices along it [dB/km]."""
        return self.fibre_db_per_km + self.splices_per_km * self.splice_db

    @property
    def splitter_table(self) -> dict[int, float]:
        """``{N: dB}`` of the splitters available."""
        return dict(self.splitter_db)


def _validate_losses(losses: OdnLosses) -> None:
    """Raise one ScenarioError for the first value that is not physical."""
    if not losses.fibre_db_per_km > 0:
        raise ScenarioError(f"fibre_db_per_km must be > 0 dB/km, got {losses.fibre_db_per_km}")
    for name in ("splice_db", "splices_per_km", "splices_fixed", "connector_db", "connectors_fixed",
                 "connectors_per_stage", "margin_db"):
        value = getattr(losses, name)
        if not (np.isfinite(value) and value >= 0):
            raise ScenarioError(f"{name} must be a finite number >= 0, got {value}")
    if not losses.splitter_db:
        raise ScenarioError("splitter_db lists no splitter ratio")
    for n, db in losses.splitter_db:
        ideal_db = 10 * math.log10(n) if n >= 2 else math.inf
        if not (np.isfinite(db) and db >= ideal_db):
            raise ScenarioError(f"splitter 1:{n}: loss {db} dB is below the ideal split loss "
                                f"10*log10({n}) = {ideal_db:.2f} dB (or the ratio is < 2)")


DEFAULT_LOSSES = OdnLosses()

#: The splits reported in ``pon.optical_budget`` by default: centralised and two-stage.
DEFAULT_SPLITS: tuple[str, ...] = ("1:16", "1:32", "1:64", "1:128", "1:4x1:8", "1:4x1:16", "1:8x1:8", "1:8x1:16")


def optics_class(name: str | OpticsClass) -> OpticsClass:
    """The optics class called ``name`` (case-insensitive), or ``name`` itself if it is one."""
    if isinstance(name, OpticsClass):
        return name
    key = str(name).strip().upper()
    if key not in XGS_PON_CLASSES:
        raise ScenarioError(f"optics class {name!r} is unknown; use one of {', '.join(XGS_PON_CLASSES)}")
    return XGS_PON_CLASSES[key]


def splitter_loss_db(ratio: int, *, losses: OdnLosses = DEFAULT_LOSSES) -> float:
    """Insertion loss of one 1:``ratio`` splitter stage [dB], excess loss included."""
    table = losses.splitter_table
    if int(ratio) not in table:
        raise ScenarioError(f"splitter 1:{ratio} has no loss figure; ratios known: "
                            + ", ".join(f"1:{n}" for n in table))
    return table[int(ratio)]


def _fixed_parts_db(split: Split, losses: OdnLosses) -> dict[str, float]:
    """The length-independent losses of a path with this split, by kind [dB]."""
    n_stages = len(split.stages)
    return {
        "splitters": sum(splitter_loss_db(s, losses=losses) for s in split.stages),
        "connectors": (losses.connectors_fixed + losses.connectors_per_stage * n_stages) * losses.connector_db,
        "splices": losses.splices_fixed * losses.splice_db,
        "margin": losses.margin_db,
    }


def loss_db_fixed(split: SplitLike, *, losses: OdnLosses = DEFAULT_LOSSES) -> float:
    """Loss of a path with this split before any fibre: splitters, connectors, fixed splices, margin [dB]."""
    return float(sum(_fixed_parts_db(Split.parse(split), losses).values()))


def path_loss_db(route_km: float | np.ndarray, split: SplitLike, *,
                 losses: OdnLosses = DEFAULT_LOSSES) -> float | np.ndarray:
    """Loss of a path of ``route_km`` route km (scalar or array) through ``split`` [dB], margin included."""
    km = np.asarray(route_km, dtype=float)
    if np.any(km < 0) or not np.all(np.isfinite(km)):
        raise ScenarioError("route_km must be finite and >= 0")
    loss = loss_db_fixed(split, losses=losses) + losses.db_per_km * km
    return float(loss) if loss.ndim == 0 else loss


def max_route_km(split: SplitLike, optics: str | OpticsClass, *, losses: OdnLosses = DEFAULT_LOSSES) -> float:
    """Longest route [km] a path through ``split`` may have with ``optics``; 0.0 if even 0 km is over budget.

    The inverse of :func:`path_loss_db`: ``path_loss_db(max_route_km(s, c), s) == c.budget_db``
    whenever the result is positive.
    """
    spare_db = optics_class(optics).budget_db - loss_db_fixed(split, losses=losses)
    return max(0.0, spare_db / losses.db_per_km)


def within_budget(route_km: float | np.ndarray, split: SplitLike, optics: str | OpticsClass, *,
                  losses: OdnLosses = DEFAULT_LOSSES, tol_db: float = 1e-9) -> np.ndarray:
    """Whether each path of ``route_km`` through ``split`` stays within the budget of ``optics``."""
    loss = np.asarray(path_loss_db(route_km, split, losses=losses))
    return loss <= optics_class(optics).budget_db + tol_db


def check_split(split: SplitLike, classes: Iterable[str | OpticsClass] = tuple(XGS_PON_CLASSES), *,
                losses: OdnLosses = DEFAULT_LOSSES) -> Split:
    """The parsed split, or a one-line ScenarioError if it loses more than every class allows."""
    s = Split.parse(split)
    best = max((optics_class(c) for c in classes), key=lambda c: c.budget_db)
    parts = _fixed_parts_db(s, losses)
    fixed_db = sum(parts.values())
    if fixed_db >= best.budget_db:
        detail = ", ".join(f"{k} {v:.1f}" for k, v in parts.items())
        raise ScenarioError(f"split {s.label} loses {fixed_db:.1f} dB before any fibre ({detail}), "
                            f"more than the largest optics budget ({best.name}, {best.budget_db:.1f} dB)")
    return s


def optical_budget_table(splits: Iterable[SplitLike] = DEFAULT_SPLITS,
                         classes: Iterable[str | OpticsClass] = tuple(XGS_PON_CLASSES), *,
                         losses: OdnLosses = DEFAULT_LOSSES) -> list[dict]:
    """One row per (split, class): the reach each split allows with each optics class.

    Rows are ``{split, class, budget_db, loss_db_fixed, db_per_km, max_route_km}``
    (the ``pon.optical_budget`` list of plan.json). dB figures are rounded to
    0.0001 dB; ``max_route_km`` is rounded *down* to the metre, so a path at
    exactly the listed reach is within budget. A class that cannot serve a split
    at all gets ``max_route_km`` 0.0; a split that no class can serve raises
    ScenarioError (one line naming the split and the largest budget).
    """
    classes = [optics_class(c) for c in classes]
    if not classes:
        raise ScenarioError("optical budget table needs at least one optics class")
    rows = []
    for split in splits:
        s = check_split(split, classes, losses=losses)
        fixed_db = loss_db_fixed(s, losses=losses)
        for c in classes:
            reach_km = max_route_km(s, c, losses=losses)
            rows.append({"split": s.label, "class": c.name, "budget_db": c.budget_db,
                         "loss_db_fixed": round(fixed_db, 4), "db_per_km": round(losses.db_per_km, 4),
                         "max_route_km": math.floor(reach_km * 1000 + 1e-6) / 1000})
    return rows
