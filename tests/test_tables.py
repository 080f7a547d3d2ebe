"""maps.tables: the column and text helpers the map, report and comparison share."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.crs import area_km2
from maps import tables as mt
from tests._plan_fixture import make_plan


def test_district_figures_are_the_saved_table():
    """The planner's districts table is the one source of district KPIs: read, never recomputed."""
    plan = make_plan()
    dist = mt.district_figures(plan)
    d = plan.districts.reset_index(drop=True)
    for saved, col in mt.DISTRICT_KPIS:
        assert np.allclose(dist[col], d[saved].astype(float), equal_nan=True), col
    assert np.allclose(dist["stations_per_km2"], dist["stations"] / dist["area_km2"])
    plan.districts["stations_5g"] = np.nan  # a lost value stays missing (the stations layer is not re-summed)
    plan.districts = plan.districts.drop(columns="pon_ports")
    again = mt.district_figures(plan)
    assert again["stations"].isna().all() and again["pon_ports"].isna().all()
    assert again["olt_sites"].tolist() == dist["olt_sites"].tolist()


def test_district_area_official_then_measured_then_geometry():
    plan = make_plan()
    d = plan.districts.copy()
    official = d["area_km2"].to_numpy()
    measured = area_km2(d)
    assert np.isnan(official[2])  # the fixture's district without an official area
    got = mt.district_area_km2(d)
    assert np.allclose(np.delete(got, 2), np.delete(official, 2)) and got[2] == pytest.approx(measured[2])
    d["area_km2_measured"] = 123.0  # the planner's own measurement wins over re-measuring
    assert mt.district_area_km2(d)[2] == 123.0 and mt.district_area_km2(d)[0] == official[0]


def test_areas_refuse_a_layer_without_crs():
    with pytest.raises(ValueError, match="no CRS"):
        area_km2(gpd.GeoSeries([shapely.box(120.0, 36.0, 120.1, 36.1)]))
    box = gpd.GeoSeries([shapely.box(120.0, 36.0, 120.1, 36.1)], crs=4326)
    assert area_km2(box)[0] == pytest.approx(100.08, abs=0.01)  # 0.1 x 0.1 degree at 36 N


def test_columns_and_text():
    df = pd.DataFrame({"a": ["1", "x", None], "s": [1, None, "b"], "f": [1, 0, 1]})
    assert mt.numbers(df, "a").tolist()[0] == 1.0 and np.isnan(mt.numbers(df, "a")[1])
    assert mt.numbers(df, "missing").isna().all() and len(mt.numbers(df, "missing")) == 3
    assert mt.strings(df, "s").tolist() == ["1", None, "b"]
    assert mt.booleans(df, "f").tolist() == [True, False, True] and not mt.booleans(df, "missing").any()
    assert mt.station_weights(pd.DataFrame({"count": [2, None, -1]})).tolist() == [2, 1, 0]
    assert mt.district_labels(pd.DataFrame({"district_id": ["1", "2"], "name_en": ["A", None]})).tolist() == ["A", "2"]
    assert mt.cny_text(4.213e9) == "4.21 bn CNY" and mt.cny_text(None) == mt.DASH
    assert mt.share_text(0.973) == "97.3%" and mt.int_text(float("nan")) == mt.DASH
    assert mt.status_text("optimal", 0.1) == "optimal" and mt.status_text("feasible", 0.0123) == "feasible, gap 1.23%"
    assert mt.is_modelled(" Modelled (census)") and not mt.is_modelled(None)
