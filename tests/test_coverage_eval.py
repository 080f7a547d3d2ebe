"""Post-solve coverage evaluation: the lattice against an independent shapely computation, histogram, layer."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gis.build import layers_from_scenario
from rollout.coverage_eval import RSRP_COLUMNS, evaluate_coverage, evaluation_lattice
from rollout.radio_plan import CLUTTERS, type_radii_m
from tests._gis_fixtures import second_city_scenario


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    sc = second_city_scenario(tmp_path_factory.mktemp("eval"))
    return sc, layers_from_scenario(sc)


def _stations(layers, every: int):
    c = layers.candidates
    rows = np.r_[np.flatnonzero(c["type"] == "macro")[::every], np.flatnonzero(c["type"] == "small")[::every * 8]]
    st = c.iloc[rows]
    return gpd.GeoDataFrame({"type": st["type"].to_numpy(), "lon": st["lon"].to_numpy(), "lat": st["lat"].to_numpy()},
                            geometry=gpd.points_from_xy(st["lon"], st["lat"]), crs=4326), st[["x_m", "y_m"]].to_numpy()


def _shapely_area_share(layers, radii, st_type, st_xy) -> float:
    """Area of the demand cells within radius (of each station's type, in the cell's clutter class) of a station."""
    polys = layers.demand.geometry.to_crs(layers.crs_metric)
    clutter = layers.demand["clutter"].to_numpy()
    covered = 0.0
    for c in CLUTTERS:
        area = shapely.union_all(np.asarray(polys.values)[clutter == c])
        discs = shapely.union_all([shapely.Point(x, y).buffer(radii[t][c], quad_segs=64)
                                   for t, (x, y) in zip(st_type, st_xy, strict=True)])
        covered += shapely.intersection(area, discs).area
    return covered / float(shapely.union_all(np.asarray(polys.values)).area)


@pytest.mark.parametrize("every", [3, 7])
def test_lattice_area_share_matches_shapely(city, every):
    sc, lay = city
    stations, xy = _stations(lay, every)
    ev, layer = evaluate_coverage(sc, lay.demand, stations, crs_metric=lay.crs_metric,
                                  res={c: 11 for c in CLUTTERS})
    want = _shapely_area_share(lay, type_radii_m(sc), stations["type"].to_numpy(), xy)
    assert 0.05 < want < 0.999
    assert ev["area_share"] == pytest.approx(want, abs=0.005)


def test_lattice_preserves_area_and_population(city):
    _, lay = city
    lat = evaluation_lattice(lay.demand)
    assert lat["population"].sum() == pytest.approx(lay.demand["population"].sum())
    assert lat["area_km2"].sum() == pytest.approx(lay.demand["area_km2"].sum())
    assert set(lat["cell"]) == set(range(len(lay.demand)))      # every cell has at least one point
    # resolution 10 in the urban classes, 9 elsewhere
    urban = lat["clutter"].isin(["dense_urban", "urban"])
    assert (lat.loc[urban, "h3"].str[1] == "a").all() and (lat.loc[~urban, "h3"].str[1] == "9").all()


def test_evaluation_contract_and_histogram(city):
    sc, lay = city
    stations, _ = _stations(lay, 3)
    ev, layer = evaluate_coverage(sc, lay.demand, stations, crs_metric=lay.crs_metric)
    assert list(layer.columns) == [*RSRP_COLUMNS, "geometry"]
    assert ev["points"] == len(layer) and ev["threshold_dbm"] == sc.radio.threshold_dbm
    assert sum(b["points"] for b in ev["rsrp_histogram"]) == len(layer)
    assert ev["rsrp_histogram"][0]["dbm_lo"] is None and ev["rsrp_histogram"][-1]["dbm_hi"] is None
    # covered exactly where the design RSRP reaches the threshold
    ok = layer["rsrp_dbm"].to_numpy() >= sc.radio.threshold_dbm - 1e-9
    assert (layer["covered"].to_numpy() == ok).all()
    assert {d["district_id"] for d in ev["by_district"]} == set(lay.demand["district_id"].astype(str))
    pop = layer["population"].to_numpy()
    assert ev["population_share"] == pytest.approx(pop[ok].sum() / pop.sum())
