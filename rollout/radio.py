"""Radio planning: 3GPP TR 38.901 path loss, a downlink link budget, and the radius it gives.

Pure numpy/scipy functions and frozen dataclasses; no solver, no scenario, no I/O. Distances
are planar metres (a metric CRS), frequencies MHz in the API (GHz inside the formulas, as in
the standard), levels dBm, gains and losses dB.

Path loss: TR 38.901 V16/V17, Table 7.4.1-1
-------------------------------------------
``fc`` in GHz, distances in m, ``d3D = sqrt(d2D**2 + (h_BS - h_UT)**2)``, ``c = 3e8 m/s``.

=============  ==========================================================================  ==========
scenario        path loss [dB]                                                              sigma_SF
=============  ==========================================================================  ==========
UMa LOS         PL1 = 28.0 + 22 log10(d3D) + 20 log10(fc)                  10 m <= d2D <= d'BP   4
                PL2 = 28.0 + 40 log10(d3D) + 20 log10(fc)
                      - 9 log10(d'BP**2 + (h_BS - h_UT)**2)                d'BP <= d2D <= 5 km
UMa NLOS        max(PL_UMa-LOS, PL'), PL' = 13.54 + 39.08 log10(d3D) + 20 log10(fc)
                      - 0.6 (h_UT - 1.5)                                   10 m <= d2D <= 5 km   6
UMi-SC LOS      PL1 = 32.4 + 21 log10(d3D) + 20 log10(fc)                  10 m <= d2D <= d'BP   4
                PL2 = 32.4 + 40 log10(d3D) + 20 log10(fc)
                      - 9.5 log10(d'BP**2 + (h_BS - h_UT)**2)              d'BP <= d2D <= 5 km
UMi-SC NLOS     max(PL_UMi-LOS, PL'), PL' = 35.3 log10(d3D) + 22.4 + 21.3 log10(fc)
                      - 0.3 (h_UT - 1.5)                                   10 m <= d2D <= 5 km   7.82
RMa LOS         PL1 = 20 log10(40 pi d3D fc / 3) + min(0.03 h**1.72, 10) log10(d3D)
                      - min(0.044 h**1.72, 14.77) + 0.002 log10(h) d3D     10 m <= d2D <= dBP    4
                PL2 = PL1(dBP) + 40 log10(d3D / dBP)                       dBP <= d2D <= 10 km   6
RMa NLOS        max(PL_RMa-LOS, PL'), PL' = 161.04 - 7.1 log10(W) + 7.5 log10(h)
                      - (24.37 - 3.7 (h / h_BS)**2) log10(h_BS)
                      + (43.42 - 3.1 log10(h_BS)) (log10(d3D) - 3) + 20 log10(fc)
                      - (3.2 (log10(11.75 h_UT))**2 - 4.97)                10 m <= d2D <= 5 km   8
=============  ==========================================================================  ==========

Breakpoints: UMa and UMi ``d'BP = 4 h'_BS h'_UT fc / c`` with effective heights
``h' = h - h_E``, ``h_E = 1 m`` (Note 1; for UMa exact when h_UT < 13 m, where the table's
random h_E is 1 m with probability 1, and taken as 1 m above that). RMa ``dBP = 2 pi h_BS h_UT
fc / c`` (Note 5). Default geometry (Table 7.4.1-1): UMa h_BS = 25 m, UMi h_BS = 10 m, RMa
h_BS = 35 m, h_UT = 1.5 m, RMa building height h = 5 m and street width W = 20 m. The table is
stated for 0.5-100 GHz (RMa 0.5-30 GHz); this module accepts NR FR1, 450-7125 MHz, so 450-500
MHz is a small extrapolation. Below the 10 m lower bound, path loss is taken at 10 m; above the
upper bound the formula is extrapolated, and radii are capped at the bound.

All six forms are non-decreasing in distance for the default geometry (UMa and UMi are
continuous at the breakpoint; RMa LOS has a step of less than 0.001 dB there, which can point
down at the top of FR1). The inversion does not rely on monotonicity: it returns the largest
distance whose path loss is within the MAPL.

Downlink link budget (per resource element, RSRP-based), one per station type x band x clutter
----------------------------------------------------------------------------------------------
=================================  ==============================================  ============
item                                formula                                         macro n78
=================================  ==============================================  ============
carrier power P_tx                  total conducted power (or TRP) of the carrier    53 dBm
resource elements                   12 x N_PRB (273 PRB at 100 MHz, 30 kHz SCS)      35.2 dB
power per RE                        P_RE = P_tx - 10 log10(12 N_PRB)                  17.8 dBm
TX antenna gain, cable loss         G_tx, L_cable                                    24 dBi, 0 dB
EIRP per RE                         P_RE + G_tx - L_cable                            41.8 dBm
UE antenna gain, body loss          G_rx, L_body                                     0 dBi, 0 dB
building penetration (O2I)          TR 38.901 7.4.3: high/low-loss mix of the        by clutter
                                    clutter class + 0.5 d_in
shadowing margin                    Phi^-1(p_edge) sqrt(sigma_SF**2 + sigma_O2I**2)  by clutter
noise per RE                        -174 dBm/Hz + 10 log10(SCS) + NF                 -122.2 dBm
SINR-limited signal                 noise per RE + SINR_req + interference margin    -122.2 dBm
required signal S_req               max(required RSRP, SINR-limited signal)          -110 dBm
MAPL                                EIRP_RE + G_rx - L_body - L_O2I - M_shadow
                                    - S_req
=================================  ==============================================  ============

The radius of a (type, band, clutter) is the largest d2D with PL(d2D) <= MAPL, capped by the
model's validity range. Every default figure and its source is in ``seeds/SOURCES.md``
("Radio: link budget and propagation"). The budget is downlink only (no uplink budget).

Use
---
>>> config = RadioConfig()                                  # defaults; fields mirror the table above
>>> budgets = link_budgets(config, bands_mhz={"macro": 3500.0, "small": 3500.0})
>>> radius_m = {key: b.radius_m for key, b in budgets.items()}   # (type, clutter) -> m
>>> rows = link_budget_table(config, bands_mhz={"macro": 3500.0, "small": 3500.0})  # radio.link_budget
>>> best = best_server_rsrp(lattice_xy, lattice_clutter, station_xy, station_type, budgets)  # doctest: +SKIP
>>> best.covered, best.rsrp_dbm, best.station                                                # doctest: +SKIP

With the default ``include_margins=True`` a lattice point is covered exactly when it lies within the
radius of its best server's (type, clutter) budget, so the integer program's radii and the lattice
evaluation agree; the threshold is each budget's ``required_signal_dbm`` (the required RSRP when
RSRP binds, as with every default).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, Sequence

import numpy as np
from scipy.spatial import cKDTree
from scipy.stats import norm

from gis.errors import ScenarioError

log = logging.getLogger(__name__)

SPEED_OF_LIGHT_M_S = 3.0e8
THERMAL_NOISE_DBM_HZ = -174.0
BAND_LIMITS_MHZ = (450.0, 7125.0)
CLUTTERS = ("dense_urban", "urban", "suburban", "rural")
STATION_TYPES = ("macro", "small")
SCENARIOS = ("UMa", "UMi", "RMa")
CONDITIONS = ("nlos", "los")
MIN_DISTANCE_M = 10.0
_BISECTION_STEPS = 60
_GRID_POINTS = 2048


# --------------------------------------------------------------------------- validation

def _bad(message: str) -> ScenarioError:
    return ScenarioError(" ".join(str(message).split()))


def check_band_mhz(band_mhz: float, *, name: str = "band_mhz") -> float:
    """``band_mhz`` as a float, or ScenarioError if it lies outside NR FR1 (450-7125 MHz)."""
    lo, hi = BAND_LIMITS_MHZ
    try:
        value = float(band_mhz)
    except (TypeError, ValueError):
        raise _bad(f"{name} = {band_mhz!r} is not a number of MHz") from None
    if not (lo <= value <= hi):
        raise _bad(f"{name} = {value:g} MHz is outside {lo:g}-{hi:g} MHz (NR FR1, the range of this planner)")
    return value


def _check_range(name: str, value: float, lo: float, hi: float, unit: str, why: str) -> None:
    if not (lo <= value <= hi):
        raise _bad(f"{name} = {value:g} {unit} is outside {lo:g}-{hi:g} {unit} ({why})")


# --------------------------------------------------------------------------- TR 38.901 formulas

def _d3d_m(d2d_m: np.ndarray, h_bs_m: float, h_ut_m: float) -> np.ndarray:
    d2d = np.maximum(np.asarray(d2d_m, dtype=float), MIN_DISTANCE_M)
    return np.hypot(d2d, h_bs_m - h_ut_m)


def breakpoint_distance_m(scenario: str, freq_ghz: float, *, h_bs_m: float, h_ut_m: float) -> float:
    """Breakpoint distance of TR 38.901 Table 7.4.1-1, metres.

    UMa and UMi: ``d'BP = 4 (h_BS - 1)(h_UT - 1) fc / c`` (Note 1, h_E = 1 m).
    RMa: ``dBP = 2 pi h_BS h_UT fc / c`` (Note 5).
    """
    f_hz = freq_ghz * 1e9
    if scenario == "RMa":
        return 2.0 * math.pi * h_bs_m * h_ut_m * f_hz / SPEED_OF_LIGHT_M_S
    return 4.0 * (h_bs_m - 1.0) * (h_ut_m - 1.0) * f_hz / SPEED_OF_LIGHT_M_S


# UMa / UMi LOS: PL1 = A + n1 log10(d3D) + 20 log10(fc); PL2 = A + 40 log10(d3D) + 20 log10(fc)
# - k log10(d'BP^2 + (h_BS - h_UT)^2), as (A, n1, k).
_URBAN_LOS = {"UMa": (28.0, 22.0, 9.0), "UMi": (32.4, 21.0, 9.5)}


def _urban_los_db(scenario: str, d2d_m, freq_ghz: float, h_bs_m: float, h_ut_m: float):
    """(LOS path loss, d3D) of UMa or UMi, TR 38.901 Table 7.4.1-1."""
    a, n1, k = _URBAN_LOS[scenario]
    d2d = np.maximum(np.asarray(d2d_m, dtype=float), MIN_DISTANCE_M)
    d3d = _d3d_m(d2d, h_bs_m, h_ut_m)
    d_bp = breakpoint_distance_m(scenario, freq_ghz, h_bs_m=h_bs_m, h_ut_m=h_ut_m)
    lf = 20.0 * np.log10(freq_ghz)
    pl1 = a + n1 * np.log10(d3d) + lf
    pl2 = a + 40.0 * np.log10(d3d) + lf - k * np.log10(d_bp**2 + (h_bs_m - h_ut_m) ** 2)
    return np.where(d2d <= d_bp, pl1, pl2), d3d


def uma_path_loss_db(d2d_m, freq_ghz: float, *, los: bool = False, h_bs_m: float = 25.0,
                     h_ut_m: float = 1.5) -> np.ndarray:
    """UMa path loss of TR 38.901 Table 7.4.1-1, dB, vectorised over ``d2d_m``."""
    pl_los, d3d = _urban_los_db("UMa", d2d_m, freq_ghz, h_bs_m, h_ut_m)
    if los:
        return pl_los
    return np.maximum(pl_los, 13.54 + 39.08 * np.log10(d3d) + 20.0 * np.log10(freq_ghz) - 0.6 * (h_ut_m - 1.5))


def umi_path_loss_db(d2d_m, freq_ghz: float, *, los: bool = False, h_bs_m: float = 10.0,
                     h_ut_m: float = 1.5) -> np.ndarray:
    """UMi street-canyon path loss of TR 38.901 Table 7.4.1-1, dB, vectorised over ``d2d_m``."""
    pl_los, d3d = _urban_los_db("UMi", d2d_m, freq_ghz, h_bs_m, h_ut_m)
    if los:
        return pl_los
    return np.maximum(pl_los, 35.3 * np.log10(d3d) + 22.4 + 21.3 * np.log10(freq_ghz) - 0.3 * (h_ut_m - 1.5))


def _rma_pl1_db(d3d_m, freq_ghz: float, h_m: float) -> np.ndarray:
    hp = h_m**1.72
    return (20.0 * np.log10(40.0 * math.pi * d3d_m * freq_ghz / 3.0) + min(0.03 * hp, 10.0) * np.log10(d3d_m)
            - min(0.044 * hp, 14.77) + 0.002 * math.log10(h_m) * d3d_m)


def rma_path_loss_db(d2d_m, freq_ghz: float, *, los: bool = False, h_bs_m: float = 35.0, h_ut_m: float = 1.5,
                     building_height_m: float = 5.0, street_width_m: float = 20.0) -> np.ndarray:
    """RMa path loss of TR 38.901 Table 7.4.1-1, dB, vectorised over ``d2d_m``."""
    d2d = np.maximum(np.asarray(d2d_m, dtype=float), MIN_DISTANCE_M)
    d3d = _d3d_m(d2d, h_bs_m, h_ut_m)
    h, w = building_height_m, street_width_m
    d_bp = breakpoint_distance_m("RMa", freq_ghz, h_bs_m=h_bs_m, h_ut_m=h_ut_m)
    pl2 = _rma_pl1_db(d_bp, freq_ghz, h) + 40.0 * np.log10(d3d / d_bp)
    pl_los = np.where(d2d <= d_bp, _rma_pl1_db(d3d, freq_ghz, h), pl2)
    if los:
        return pl_los
    nlos = (161.04 - 7.1 * math.log10(w) + 7.5 * math.log10(h)
            - (24.37 - 3.7 * (h / h_bs_m) ** 2) * math.log10(h_bs_m)
            + (43.42 - 3.1 * math.log10(h_bs_m)) * (np.log10(d3d) - 3.0)
            + 20.0 * math.log10(freq_ghz) - (3.2 * math.log10(11.75 * h_ut_m) ** 2 - 4.97))
    return np.maximum(pl_los, nlos)


@dataclass(frozen=True)
class PathLossModel:
    """One TR 38.901 scenario with its geometry (Table 7.4.1-1 defaults).

    ``scenario`` is one of {"UMa", "UMi", "RMa"} (UMi is the street-canyon model); ``condition``
    one of {"nlos", "los"}. ``h_bs_m`` defaults to the table's value for the scenario (25, 10,
    35 m). ``building_height_m`` and ``street_width_m`` only enter RMa.
    """

    scenario: str
    condition: str = "nlos"
    h_bs_m: float | None = None
    h_ut_m: float = 1.5
    building_height_m: float = 5.0
    street_width_m: float = 20.0

    def __post_init__(self):
        if self.scenario not in SCENARIOS:
            raise _bad(f"scenario = {self.scenario!r} is not a TR 38.901 model; valid: {', '.join(SCENARIOS)}")
        if self.condition not in CONDITIONS:
            raise _bad(f"condition = {self.condition!r} is not valid; valid: {', '.join(CONDITIONS)}")
        if self.h_bs_m is None:
            object.__setattr__(self, "h_bs_m", {"UMa": 25.0, "UMi": 10.0, "RMa": 35.0}[self.scenario])
        why = f"TR 38.901 Table 7.4.1-1, {self.scenario}"
        if self.scenario == "RMa":
            _check_range("h_bs_m", self.h_bs_m, 10.0, 150.0, "m", why)
            _check_range("h_ut_m", self.h_ut_m, 1.0, 10.0, "m", why)
            _check_range("building_height_m", self.building_height_m, 5.0, 50.0, "m", why)
            _check_range("street_width_m", self.street_width_m, 5.0, 50.0, "m", why)
        else:
            _check_range("h_ut_m", self.h_ut_m, 1.5, 22.5, "m", why)
            _check_range("h_bs_m", self.h_bs_m, self.h_ut_m + 1.0, 150.0, "m", "above the UE, " + why)

    @property
    def max_distance_m(self) -> float:
        """Upper end of the model's 2D-distance validity range (RMa LOS 10 km, else 5 km)."""
        return 10000.0 if (self.scenario == "RMa" and self.condition == "los") else 5000.0

    @property
    def shadow_sigma_db(self) -> float:
        """Shadow-fading standard deviation of Table 7.4.1-1 (RMa LOS: the 6 dB after the breakpoint)."""
        if self.condition == "los":
            return 6.0 if self.scenario == "RMa" else 4.0
        return {"UMa": 6.0, "UMi": 7.82, "RMa": 8.0}[self.scenario]

    def breakpoint_m(self, band_mhz: float) -> float:
        return breakpoint_distance_m(self.scenario, band_mhz / 1000.0, h_bs_m=self.h_bs_m, h_ut_m=self.h_ut_m)

    def path_loss_db(self, distance_m, band_mhz: float) -> np.ndarray:
        """Path loss in dB at 2D distances ``distance_m`` (array-like) on ``band_mhz``."""
        f_ghz = check_band_mhz(band_mhz) / 1000.0
        los = self.condition == "los"
        if self.scenario == "UMa":
            return uma_path_loss_db(distance_m, f_ghz, los=los, h_bs_m=self.h_bs_m, h_ut_m=self.h_ut_m)
        if self.scenario == "UMi":
            return umi_path_loss_db(distance_m, f_ghz, los=los, h_bs_m=self.h_bs_m, h_ut_m=self.h_ut_m)
        return rma_path_loss_db(distance_m, f_ghz, los=los, h_bs_m=self.h_bs_m, h_ut_m=self.h_ut_m,
                                building_height_m=self.building_height_m, street_width_m=self.street_width_m)


def invert_path_loss_m(mapl_db, model: PathLossModel, band_mhz: float) -> np.ndarray:
    """Largest 2D distance (m) whose path loss is <= ``mapl_db``, vectorised; capped at the model's range.

    NaN where even the 10 m path loss exceeds the MAPL. A log-spaced grid over the validity range
    brackets the last crossing (a suffix minimum makes it robust to a non-monotone step), then a
    bisection refines it to far below 0.01 dB; the returned distance always has PL <= MAPL.
    """
    mapl = np.atleast_1d(np.asarray(mapl_db, dtype=float))
    grid = np.geomspace(MIN_DISTANCE_M, model.max_distance_m, _GRID_POINTS)
    pl = model.path_loss_db(grid, band_mhz)
    suffix_min = np.minimum.accumulate(pl[::-1])[::-1]
    last = np.searchsorted(suffix_min, mapl, side="right") - 1  # last grid point with PL <= MAPL
    out = np.full(mapl.shape, np.nan)
    capped = last >= len(grid) - 1
    out[capped] = model.max_distance_m
    inner = (last >= 0) & ~capped
    if inner.any():
        lo = np.log(grid[last[inner]])
        hi = np.log(grid[last[inner] + 1])
        target = mapl[inner]
        for _ in range(_BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            ok = model.path_loss_db(np.exp(mid), band_mhz) <= target
            lo = np.where(ok, mid, lo)
            hi = np.where(ok, hi, mid)
        out[inner] = np.exp(lo)
    return out


# --------------------------------------------------------------------------- link budget inputs

def o2i_penetration_loss_db(band_mhz: float, *, high_loss_share: float,
                            indoor_distance_m: float) -> tuple[float, float]:
    """Outdoor-to-indoor loss (dB) and its standard deviation (dB), TR 38.901 clause 7.4.3.

    Table 7.4.3-1 materials (fc in GHz): glass 2 + 0.2 fc, IRR glass 23 + 0.3 fc, concrete 5 + 4 fc.
    Table 7.4.3-2: low-loss ``5 - 10 log10(0.3 10^(-L_glass/10) + 0.7 10^(-L_concrete/10))`` (sigma 4.4),
    high-loss ``5 - 10 log10(0.7 10^(-L_IRRglass/10) + 0.3 10^(-L_concrete/10))`` (sigma 6.5), plus the
    indoor loss ``0.5 d_2D-in``. A clutter class mixes the two by ``high_loss_share`` (a mean in dB,
    an assumption of this planner, as is one representative ``indoor_distance_m``).
    """
    f = check_band_mhz(band_mhz) / 1000.0
    l_glass, l_irr, l_concrete = 2.0 + 0.2 * f, 23.0 + 0.3 * f, 5.0 + 4.0 * f
    low = 5.0 - 10.0 * math.log10(0.3 * 10 ** (-l_glass / 10) + 0.7 * 10 ** (-l_concrete / 10))
    high = 5.0 - 10.0 * math.log10(0.7 * 10 ** (-l_irr / 10) + 0.3 * 10 ** (-l_concrete / 10))
    w = float(high_loss_share)
    return w * high + (1.0 - w) * low + 0.5 * float(indoor_distance_m), w * 6.5 + (1.0 - w) * 4.4


def shadow_margin_db(sigma_db: float, edge_probability: float) -> float:
    """Log-normal shadowing margin for a cell-edge coverage probability: ``sigma * Phi^-1(p)``."""
    return float(sigma_db * norm.ppf(edge_probability))


def noise_per_re_dbm(scs_khz: float, noise_figure_db: float) -> float:
    """Thermal noise of one resource element at the UE: ``-174 dBm/Hz + 10 log10(SCS) + NF``."""
    return THERMAL_NOISE_DBM_HZ + 10.0 * math.log10(scs_khz * 1e3) + noise_figure_db


@dataclass(frozen=True)
class StationRadio:
    """The transmitter of a station type on one band (one carrier).

    ``power_dbm`` is the carrier's total conducted power over all antenna ports (for an
    over-the-air rated unit, its TRP); give EIRP directly with ``antenna_gain_dbi = 0``.
    """

    type: str
    band_mhz: float
    power_dbm: float
    n_prb: int
    scs_khz: float
    antenna_gain_dbi: float
    cable_loss_db: float = 0.0

    def __post_init__(self):
        check_band_mhz(self.band_mhz)
        if self.type not in STATION_TYPES:
            raise _bad(f"type = {self.type!r} is not a station type; valid: {', '.join(STATION_TYPES)}")
        if float(self.scs_khz) not in (15.0, 30.0, 60.0):
            raise _bad(f"scs_khz = {self.scs_khz!r} is not an FR1 subcarrier spacing; valid: 15, 30, 60")
        _check_range("n_prb", self.n_prb, 1, 275, "PRB", "NR carrier, TS 38.101-1")

    @property
    def re_power_dbm(self) -> float:
        """Power of one resource element: the carrier power spread evenly over 12 x N_PRB subcarriers."""
        return self.power_dbm - 10.0 * math.log10(12 * self.n_prb)

    @property
    def eirp_re_dbm(self) -> float:
        return self.re_power_dbm + self.antenna_gain_dbi - self.cable_loss_db


@dataclass(frozen=True)
class ClutterRadio:
    """Indoor users of a clutter class: building penetration and the cell-edge coverage probability.

    ``penetration_loss_db`` (optional) replaces the TR 38.901 O2I mix with a fixed value; its
    standard deviation is then ``penetration_sigma_db``.
    """

    high_loss_share: float
    indoor_distance_m: float
    edge_probability: float
    penetration_loss_db: float | None = None
    penetration_sigma_db: float = 0.0

    def __post_init__(self):
        _check_range("high_loss_share", self.high_loss_share, 0.0, 1.0, "", "a share")
        _check_range("indoor_distance_m", self.indoor_distance_m, 0.0, 25.0, "m", "TR 38.901 7.4.3: d_2D-in <= 25 m")
        if not (0.5 <= self.edge_probability < 1.0):
            raise _bad(f"edge_probability = {self.edge_probability:g} is outside [0.5, 1) "
                       "(a cell-edge coverage probability)")

    def penetration(self, band_mhz: float) -> tuple[float, float]:
        """(loss dB, sigma dB) of this class on ``band_mhz``."""
        if self.penetration_loss_db is not None:
            return float(self.penetration_loss_db), float(self.penetration_sigma_db)
        return o2i_penetration_loss_db(band_mhz, high_loss_share=self.high_loss_share,
                                       indoor_distance_m=self.indoor_distance_m)


@dataclass(frozen=True)
class Receiver:
    """The UE: a handset at 1.5 m."""

    antenna_gain_dbi: float = 0.0
    body_loss_db: float = 0.0
    noise_figure_db: float = 7.0


@dataclass(frozen=True)
class EdgeTarget:
    """What a user at the cell edge needs: an RSRP, and an SINR under an interference margin."""

    rsrp_dbm: float = -110.0
    sinr_db: float = -3.0
    interference_margin_db: float = 3.0


DEFAULT_STATIONS: tuple[StationRadio, ...] = (
    StationRadio("macro", 3500.0, power_dbm=53.0, n_prb=273, scs_khz=30.0, antenna_gain_dbi=24.0),
    StationRadio("macro", 2600.0, power_dbm=53.0, n_prb=273, scs_khz=30.0, antenna_gain_dbi=24.0),
    StationRadio("macro", 700.0, power_dbm=53.8, n_prb=160, scs_khz=15.0, antenna_gain_dbi=15.0, cable_loss_db=1.0),
    StationRadio("small", 3500.0, power_dbm=47.0, n_prb=273, scs_khz=30.0, antenna_gain_dbi=12.0),
    StationRadio("small", 2600.0, power_dbm=47.0, n_prb=273, scs_khz=30.0, antenna_gain_dbi=12.0),
)

DEFAULT_CLUTTER: Mapping[str, ClutterRadio] = MappingProxyType({
    "dense_urban": ClutterRadio(high_loss_share=0.8, indoor_distance_m=5.0, edge_probability=0.9),
    "urban": ClutterRadio(high_loss_share=0.5, indoor_distance_m=5.0, edge_probability=0.9),
    "suburban": ClutterRadio(high_loss_share=0.0, indoor_distance_m=5.0, edge_probability=0.85),
    "rural": ClutterRadio(high_loss_share=0.0, indoor_distance_m=3.3, edge_probability=0.8),
})


def default_model(station_type: str, clutter: str, *, condition: str = "nlos") -> PathLossModel:
    """UMa for urban macros (dense_urban, urban, suburban), RMa for rural macros, UMi street canyon for small cells."""
    if clutter not in CLUTTERS:
        raise _bad(f"clutter = {clutter!r} is not a clutter class; valid: {', '.join(CLUTTERS)}")
    if station_type == "small":
        return PathLossModel("UMi", condition)
    if station_type == "macro":
        return PathLossModel("RMa" if clutter == "rural" else "UMa", condition)
    raise _bad(f"type = {station_type!r} is not a station type; valid: {', '.join(STATION_TYPES)}")


@dataclass(frozen=True)
class RadioConfig:
    """Everything the link budgets need: transmitters, clutter classes, UE, edge target, condition.

    ``models`` overrides the default propagation model of a ``(type, clutter)``.
    """

    stations: tuple[StationRadio, ...] = DEFAULT_STATIONS
    clutter: Mapping[str, ClutterRadio] = field(default_factory=lambda: dict(DEFAULT_CLUTTER))
    receiver: Receiver = Receiver()
    target: EdgeTarget = EdgeTarget()
    condition: str = "nlos"
    models: Mapping[tuple[str, str], PathLossModel] = field(default_factory=dict)

    def station(self, station_type: str, band_mhz: float) -> StationRadio:
        for s in self.stations:
            if s.type == station_type and math.isclose(s.band_mhz, band_mhz):
                return s
        have = ", ".join(f"{s.type}/{s.band_mhz:g}" for s in self.stations)
        raise _bad(f"band_mhz = {band_mhz:g} has no {station_type} transmitter; configured: {have}")

    def model(self, station_type: str, clutter: str) -> PathLossModel:
        override = self.models.get((station_type, clutter))
        return override or default_model(station_type, clutter, condition=self.condition)


# --------------------------------------------------------------------------- link budget and radius

@dataclass(frozen=True)
class LinkBudget:
    """The downlink budget of one station type x band x clutter class, every line with its unit.

    ``mapl_db`` is the maximum allowable path loss; ``radius_m`` the largest distance whose
    median path loss is within it (``radius_capped``: the model's validity range cut it).
    ``binding`` says which requirement sets ``required_signal_dbm``: ``"rsrp"`` or ``"sinr"``.
    """

    type: str
    band_mhz: float
    clutter: str
    model: PathLossModel
    re_power_dbm: float
    tx_gain_dbi: float
    cable_loss_db: float
    eirp_re_dbm: float
    rx_gain_dbi: float
    body_loss_db: float
    penetration_loss_db: float
    shadow_sigma_db: float
    edge_probability: float
    shadow_margin_db: float
    noise_per_re_dbm: float
    sinr_limited_signal_dbm: float
    required_rsrp_dbm: float
    required_signal_dbm: float
    binding: str
    mapl_db: float
    radius_m: float
    radius_capped: bool

    @property
    def label(self) -> str:
        return f"{self.type}/{self.band_mhz:g} MHz/{self.clutter}"

    @property
    def margins_db(self) -> float:
        """Everything between the median outdoor RSRP and the design RSRP at an indoor cell edge."""
        return self.body_loss_db + self.penetration_loss_db + self.shadow_margin_db

    def row(self) -> dict:
        """``{type, band_mhz, clutter, mapl_db, radius_m}``: one row of ``radio.link_budget``."""
        return {"type": self.type, "band_mhz": float(self.band_mhz), "clutter": self.clutter,
                "mapl_db": round(float(self.mapl_db), 2), "radius_m": round(float(self.radius_m), 1)}


def _mapl_terms(station: StationRadio, clutter: str, config: RadioConfig, model: PathLossModel) -> dict:
    if clutter not in config.clutter:
        raise _bad(f"clutter = {clutter!r} has no radio settings; configured: {', '.join(config.clutter)}")
    cl, rx, tg = config.clutter[clutter], config.receiver, config.target
    pen_db, pen_sigma_db = cl.penetration(station.band_mhz)
    sigma = math.hypot(model.shadow_sigma_db, pen_sigma_db)
    margin = shadow_margin_db(sigma, cl.edge_probability)
    noise = noise_per_re_dbm(station.scs_khz, rx.noise_figure_db)
    sinr_signal = noise + tg.sinr_db + tg.interference_margin_db
    required = max(tg.rsrp_dbm, sinr_signal)
    mapl = station.eirp_re_dbm + rx.antenna_gain_dbi - rx.body_loss_db - pen_db - margin - required
    return dict(re_power_dbm=station.re_power_dbm, tx_gain_dbi=station.antenna_gain_dbi,
                cable_loss_db=station.cable_loss_db, eirp_re_dbm=station.eirp_re_dbm,
                rx_gain_dbi=rx.antenna_gain_dbi, body_loss_db=rx.body_loss_db, penetration_loss_db=pen_db,
                shadow_sigma_db=sigma, edge_probability=cl.edge_probability, shadow_margin_db=margin,
                noise_per_re_dbm=noise, sinr_limited_signal_dbm=sinr_signal, required_rsrp_dbm=tg.rsrp_dbm,
                required_signal_dbm=required, binding="rsrp" if tg.rsrp_dbm >= sinr_signal else "sinr",
                mapl_db=mapl)


def link_budget(station: StationRadio, clutter: str, config: RadioConfig | None = None) -> LinkBudget:
    """The link budget and radius of ``station`` (a type on a band) in ``clutter``.

    Raises ScenarioError, naming the binding requirement, when the budget gives no positive
    radius (the MAPL is below the path loss at the model's 10 m lower bound).
    """
    config = config or RadioConfig()
    model = config.model(station.type, clutter)
    terms = _mapl_terms(station, clutter, config, model)
    radius = float(invert_path_loss_m(terms["mapl_db"], model, station.band_mhz)[0])
    label = f"{station.type}/{station.band_mhz:g} MHz/{clutter}"
    if not math.isfinite(radius):
        pl_min = float(model.path_loss_db(MIN_DISTANCE_M, station.band_mhz))
        name = "required_rsrp_dbm" if terms["binding"] == "rsrp" else "required_sinr_db"
        value = config.target.rsrp_dbm if terms["binding"] == "rsrp" else config.target.sinr_db
        raise _bad(f"{name} = {value:g}: the {label} link budget gives no positive radius "
                   f"(MAPL {terms['mapl_db']:.1f} dB < {pl_min:.1f} dB path loss at {MIN_DISTANCE_M:g} m); "
                   f"lower the requirement or raise power_dbm / antenna_gain_dbi")
    capped = radius >= model.max_distance_m
    if capped:
        log.info("%s: radius capped at the %s validity range, %.0f m", label, model.scenario, radius)
    return LinkBudget(type=station.type, band_mhz=float(station.band_mhz), clutter=clutter, model=model,
                      radius_m=radius, radius_capped=bool(capped), **terms)


def link_budgets(config: RadioConfig | None = None, *, bands_mhz: Mapping[str, float] | None = None,
                 clutters: Sequence[str] = CLUTTERS) -> dict[tuple[str, str], LinkBudget]:
    """The budget of every ``(type, clutter)`` with each type on its band ``bands_mhz[type]``.

    This is the set a plan uses (the scenario picks one band per type); without ``bands_mhz``
    each type takes its first configured transmitter.
    """
    config = config or RadioConfig()
    types = list(dict.fromkeys(s.type for s in config.stations))
    bands = dict(bands_mhz or {})
    unknown = sorted(set(bands) - set(types))
    if unknown:
        raise _bad(f"{unknown[0]}.band_mhz: no transmitter of type {unknown[0]!r}; "
                   f"configured types: {', '.join(types)}")
    out = {}
    for t in types:
        band = bands.get(t, next(s.band_mhz for s in config.stations if s.type == t))
        station = config.station(t, check_band_mhz(band, name=f"{t}.band_mhz"))
        for c in clutters:
            out[(t, c)] = link_budget(station, c, config)
    return out


def link_budget_table(config: RadioConfig | None = None, *, bands_mhz: Mapping[str, float] | None = None,
                      clutters: Sequence[str] = CLUTTERS) -> list[dict]:
    """Rows ``{type, band_mhz, clutter, mapl_db, radius_m}``: ``plan.json``'s ``radio.link_budget``.

    With ``bands_mhz`` (one band per type, as a plan uses them) only those transmitters; without,
    every configured transmitter (the audit table of all options). Ordered by ``config.stations``
    then ``clutters``. Raises ScenarioError if a budget gives no positive radius.
    """
    config = config or RadioConfig()
    if bands_mhz is not None:
        return [b.row() for b in link_budgets(config, bands_mhz=bands_mhz, clutters=clutters).values()]
    return [link_budget(s, c, config).row() for s in config.stations for c in clutters]


def rsrp_dbm(distance_m, budget: LinkBudget, *, include_margins: bool = True) -> np.ndarray:
    """RSRP (dBm) at 2D distances ``distance_m`` from a station with this ``budget``, vectorised.

    ``include_margins=True`` gives the design RSRP of an indoor user at the planned coverage
    probability (body loss, building penetration and the shadowing margin subtracted): it is
    ``>= budget.required_signal_dbm`` exactly where ``distance_m <= budget.radius_m``.
    ``include_margins=False`` gives the median outdoor RSRP (for maps).
    """
    pl = budget.model.path_loss_db(distance_m, budget.band_mhz)
    rsrp = budget.eirp_re_dbm + budget.rx_gain_dbi - pl
    return rsrp - budget.margins_db if include_margins else rsrp


# --------------------------------------------------------------------------- best server on a lattice

@dataclass(frozen=True)
class BestServer:
    """Best-server evaluation of a set of points; arrays have one entry per point.

    ``rsrp_dbm``: the strongest station's RSRP (``-inf`` where no station is in reach);
    ``station``: its row in the station arrays (-1 where none); ``margin_db``: ``rsrp_dbm`` minus
    that station's ``required_signal_dbm`` (with design margins, a point is covered iff >= 0).
    """

    rsrp_dbm: np.ndarray
    station: np.ndarray
    margin_db: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        return self.margin_db >= 0.0


def _as_labels(values, n: int, name: str) -> np.ndarray:
    arr = np.asarray(values).astype(str).reshape(-1)
    if arr.size == 1 and n != 1:
        arr = np.repeat(arr, n)
    if arr.size != n:
        raise _bad(f"{name} has {arr.size} entries for {n} coordinates")
    return arr


def _keep_strongest(best: tuple[np.ndarray, np.ndarray, np.ndarray], point: np.ndarray, station: np.ndarray,
                    rsrp: np.ndarray, required_dbm: float) -> None:
    """Fold candidate (point, station, rsrp) triples into the ``best`` arrays (ties: lowest station row).

    One integer sort by point, a segmented maximum, then the lowest station row among each
    segment's maxima: no Python loop over points.
    """
    if point.size == 0:
        return
    best_rsrp, best_station, best_margin = best
    order = np.argsort(point, kind="stable")
    p, r, s = point[order], rsrp[order], station[order]
    starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
    seg_max = np.maximum.reduceat(r, starts)
    segment = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, p.size]))
    at_max = r == seg_max[segment]
    seg_station = np.full(starts.size, np.iinfo(np.int64).max)
    np.minimum.at(seg_station, segment[at_max], s[at_max])
    uniq = p[starts]
    better = seg_max > best_rsrp[uniq]
    pts = uniq[better]
    best_rsrp[pts] = seg_max[better]
    best_station[pts] = seg_station[better]
    best_margin[pts] = seg_max[better] - required_dbm


def best_server_rsrp(points_xy, point_clutter, station_xy, station_type,
                     budgets: Mapping[tuple[str, str], LinkBudget], *, margin_m: float = 100.0,
                     include_margins: bool = True) -> BestServer:
    """Best-server RSRP at every point, from the path-loss model of each station's budget.

    Parameters
    ----------
    points_xy, station_xy
        (n, 2) and (m, 2) planar coordinates in metres (a metric CRS).
    point_clutter, station_type
        The clutter class of each point and the type of each station (or one value for all).
    budgets
        ``{(type, clutter): LinkBudget}``, e.g. from :func:`link_budgets`. The point's clutter
        class picks the budget (model, penetration, margins) of each link.
    margin_m
        A station is looked up within its budget's radius in the point's clutter class plus this
        margin (beyond the radius it cannot cover the point; the margin keeps a band of weaker
        values for maps): one sparse KD-tree distance query per type and clutter class, never a
        dense matrix. Points with no station in reach get ``-inf``.
    include_margins
        See :func:`rsrp_dbm`: design RSRP (compare with the budget's required signal) or median
        outdoor RSRP.
    """
    pts = np.asarray(points_xy, dtype=float).reshape(-1, 2)
    sts = np.asarray(station_xy, dtype=float).reshape(-1, 2)
    clutter = _as_labels(point_clutter, len(pts), "point_clutter")
    types = _as_labels(station_type, len(sts), "station_type")
    best = (np.full(len(pts), -np.inf), np.full(len(pts), -1, dtype=np.int64), np.full(len(pts), -np.inf))
    if len(pts) == 0 or len(sts) == 0:
        return BestServer(*best)
    point_groups = {c: np.flatnonzero(clutter == c) for c in np.unique(clutter)}
    point_trees = {c: cKDTree(pts[idx]) for c, idx in point_groups.items()}
    for t in np.unique(types):
        st_idx = np.flatnonzero(types == t)
        st_tree = cKDTree(sts[st_idx])
        for c, pt_idx in point_groups.items():
            budget = budgets.get((t, c))
            if budget is None:
                raise _bad(f"budgets has no link budget for station type {t!r} in clutter {c!r}")
            reach_m = budget.radius_m + float(margin_m)
            pairs = st_tree.sparse_distance_matrix(point_trees[c], reach_m, output_type="ndarray")
            dist = np.asarray(pairs["v"], dtype=float)
            rsrp = rsrp_dbm(dist, budget, include_margins=include_margins)
            required = budget.required_signal_dbm if include_margins else budget.required_signal_dbm + budget.margins_db
            _keep_strongest(best, pt_idx[pairs["j"]], st_idx[pairs["i"]], rsrp, required)
    return BestServer(*best)


def check_threshold_dbm(threshold_dbm: float, budgets: Mapping[tuple[str, str], LinkBudget], *,
                        include_margins: bool = True, name: str = "threshold_dbm") -> float:
    """``threshold_dbm``, or ScenarioError if no station reaches it even at the model's 10 m lower bound."""
    if not budgets:
        raise _bad(f"{name} = {threshold_dbm:g} dBm cannot be checked: no link budgets")
    peak = {key: float(rsrp_dbm(MIN_DISTANCE_M, b, include_margins=include_margins)[()]) for key, b in budgets.items()}
    key = max(peak, key=peak.get)
    if threshold_dbm > peak[key]:
        b = budgets[key]
        raise _bad(f"{name} = {threshold_dbm:g} dBm is met by no station: the strongest link, {b.label}, "
                   f"reaches {peak[key]:.1f} dBm at {MIN_DISTANCE_M:g} m")
    return float(threshold_dbm)
