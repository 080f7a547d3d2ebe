"""The existing OLT plant first: the modelled GPON plant of the default, upgrades before new sites.

Tiny instances whose optimum is worked out by hand: an existing OLT with free card slots within the
optical budget is upgraded (line cards only) rather than a new site opened; a new site opens only where
the existing one cannot reach the cell or hold its lines.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from gis.candidates import PlantModel, model_existing_plant
from rollout.model_pon import PonInput, installed_room, solve_pon
from rollout.scenario import ByClutter, PonSettings, Scenario

C, F = 1_900.0, 300_000.0     # port, new site [CNY]
FIB = 100_000.0               # feeder fibre [CNY/km]


def settings(**kw) -> PonSettings:
    base = dict(target_ports=0, route_factor=1.0, optics_class="N2", port_cost_cny=C, olt_site_cost_cny=F,
                chassis_cost_cny=0.0, max_chassis_per_site=4, fiber_cost_cny_per_km=ByClutter(FIB, FIB, FIB, FIB))
    base.update(kw)
    return PonSettings(**base)


def plant_input(site_xy, *, chassis, free_slots, onts=(640.0, 640.0), cells=((1000.0, 0.0), (1200.0, 0.0)), **kw):
    """Site 0 is a modelled existing CO (``chassis`` installed, ``free_slots`` free); site 1 a new candidate."""
    return PonInput(cell_id=[f"c{i}" for i in range(len(cells))], cell_xy_m=np.array(cells), onts=list(onts),
                    clutter=["urban"] * len(cells), site_id=["co", "new"], site_xy_m=np.array(site_xy),
                    settings=settings(**kw), existing_chassis=[chassis, 0], free_slots=[free_slots, 0],
                    site_source=["modelled", "generated"])


def test_existing_co_with_free_slots_in_reach_is_upgraded_not_a_new_site():
    """1,280 lines at 1:64 = 20 ports. The CO (2 chassis, 2 free slots = 32 ports) is 1 km from the cells, the
    candidate 0.1 km: homing on the CO costs 20 ports + (1.0 + 1.2) km of feeder = 258,000 CNY; the new
    site 300,000 + 20 ports + 0.2 km = 358,000 CNY. Optimum: upgrade the CO with 2 cards, no chassis."""
    inp = plant_input([[0.0, 0.0], [1100.0, 0.0]], chassis=2, free_slots=2)
    res = solve_pon(inp, threads=1, gap_rel=0.0)
    olt = res.olt_sites.set_index("office_id")
    assert list(olt.index) == ["co"] and not olt.loc["co", "new"] and olt.loc["co", "source"] == "modelled"
    assert olt.loc["co", "ports_new"] == 20 and olt.loc["co", "chassis"] == 2 and olt.loc["co", "chassis_existing"] == 2
    assert res.totals["capex_cny"] == pytest.approx(20 * C + 2.2 * FIB)
    ep = res.pon["existing_plant"]
    assert ep["modelled"] and ep["sites_upgraded"] == 1 and ep["sites_new"] == 0 and ep["chassis_added_at_existing"] == 0
    assert res.pon["existing_plant"]["source"].startswith("modelled")


def test_full_existing_co_adds_a_chassis_before_a_site_opens():
    """No free slot but room for chassis (2 of 4): a free chassis at the CO beats a 300,000 CNY site."""
    res = solve_pon(plant_input([[0.0, 0.0], [1100.0, 0.0]], chassis=2, free_slots=0), threads=1, gap_rel=0.0)
    olt = res.olt_sites.set_index("office_id")
    assert list(olt.index) == ["co"] and olt.loc["co", "chassis"] == 3 and res.totals["chassis_new"] == 1


def test_new_site_opens_only_where_the_co_cannot_hold_the_lines():
    """The CO's 4 chassis (the site limit) hold GPON cards and 1 free slot (16 ports): 20 ports do not fit, so
    the cells go to the new site: 300,000 + 20 ports + 0.2 km of feeder."""
    inp = plant_input([[0.0, 0.0], [1100.0, 0.0]], chassis=4, free_slots=1)
    res = solve_pon(inp, threads=1, gap_rel=0.0)
    olt = res.olt_sites.set_index("office_id")
    assert olt.loc["new", "new"] and olt.loc["new", "ports"] == 20 and olt.loc["co", "ports_new"] == 0
    assert res.totals["capex_cny"] == pytest.approx(F + 20 * C + 0.2 * FIB)
    assert res.pon["existing_plant"]["sites_new"] == 1 and res.pon["existing_plant"]["sites_upgraded"] == 0


def test_new_site_opens_only_where_the_co_cannot_reach():
    """N2 with 1:8 x 1:8 reaches 10.5 route km: the CO 12 km away cannot serve the cells whatever its slots."""
    inp = plant_input([[-11_000.0, 0.0], [1100.0, 0.0]], chassis=1, free_slots=16)
    res = solve_pon(inp, threads=1, gap_rel=0.0)
    olt = res.olt_sites.set_index("office_id")
    assert olt.loc["new", "new"] and olt.loc["co", "ports_new"] == 0
    assert res.pon["existing_plant"]["sites_new"] == 1


def test_installed_room_of_free_slots_and_of_ports_only():
    # modelled: 2 chassis, 5 free slots, no 10G ports -> 80 ports without a new chassis
    # user layer with ports only: 300 ports fill 2 chassis of 272, room up to 544
    h0, u0 = installed_room([0, 300, 40], [5, 0, 3], [2, 0, 0], 272)
    assert h0.tolist() == [2, 2, 1] and u0.tolist() == [80, 544, 16 * (3 + 3)]


def test_model_existing_plant_by_hand():
    """Two generated offices 10 km apart and one reach office; three cells with 4,000 / 1,000 / 30,000 lines.

    Office A serves cells 0 and 1 (5,000 lines): 125 GPON ports at 40 lines/port, 8 cards, 1 chassis
    (8 <= 17 x 0.8), 9 free slots. Office B serves 30,000 lines: 750 ports, 47 cards, ceil(47 / 13.6) = 4
    chassis, 68 - 47 = 21 free. The reach office is untouched (new)."""
    offices = gpd.GeoDataFrame({
        "office_id": ["A", "B", "R"], "x_m": [0.0, 10_000.0, 50_000.0], "y_m": [0.0, 0.0, 0.0],
        "existing": False, "existing_ports": 0, "free_slots": 0, "chassis": 0,
        "source": ["generated", "generated", "reach"]}, geometry=gpd.points_from_xy([0, 1, 2], [0, 0, 0]), crs=4326)
    cells = pd.DataFrame({"x_m": [500.0, -800.0, 9_000.0], "y_m": [0.0, 0.0, 0.0], "onts": [4000.0, 1000.0, 30000.0]})
    out = model_existing_plant(offices, cells, PlantModel(lines_per_port=40.0, slot_fill=0.8)).set_index("office_id")
    assert out["source"].tolist() == ["modelled", "modelled", "reach"]
    assert out["existing"].tolist() == [True, True, False]
    assert out["gpon_lines"].tolist() == [5000.0, 30000.0, 0.0] and out["gpon_ports"].tolist() == [125, 750, 0]
    assert out["chassis"].tolist() == [1, 4, 0] and out["free_slots"].tolist() == [9, 21, 0]


def test_scenario_plant_switch():
    assert Scenario().layer_settings().existing_plant == PlantModel(40.0, 0.8, 16, 17)
    sc = Scenario()
    sc.pon.existing_plant = "none"
    assert sc.layer_settings().existing_plant is None


def test_check_counts_free_slots():
    """``rollout check``: an existing site with free slots holds 16 ports per free slot, then Q per added chassis."""
    from rollout.check import _free_slot_room

    olt = gpd.GeoDataFrame({"ports": [48, 49, 300, 10], "ports_new": [48, 49, 300, 10], "chassis": [2, 2, 3, 1],
                            "free_slots": [3, 3, 3, 0]}, geometry=gpd.points_from_xy([0] * 4, [0] * 4), crs=4326)
    room = _free_slot_room(olt, np.array([2, 2, 2, 0]), 272)
    assert room.tolist() == [48.0, 48.0, 48.0 + 272.0, np.inf]
