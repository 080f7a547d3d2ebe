"""The embedded Shandong seeds: census sums, Qingdao inside the region, polygons, cores and targets."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from seeds import seed_path
from seeds.shandong_census import (CITIES, PROVINCE_POPULATION_2020, ZONE_HOSTS, census_table, county_table,
                                   fold_zones, regional_targets, sources_section)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return pd.read_csv(seed_path("shandong_districts.csv"), dtype={"adcode": str, "city_adcode": str})


@pytest.fixture(scope="module")
def districts() -> gpd.GeoDataFrame:
    return gpd.read_file(seed_path("shandong_districts.gpkg"))


def test_counties_add_up_to_cities_and_province(table):
    census = census_table().set_index("adcode")
    assert len(table) == 136 and table["adcode"].is_unique
    assert sorted(table["city_adcode"].unique()) == sorted(CITIES)
    assert int(table["population"].sum()) == PROVINCE_POPULATION_2020
    by_city = table.groupby("city_adcode")[["population", "urban_population", "households"]].sum()
    assert (by_city["population"] == census.loc[by_city.index, "population"]).all()
    assert (by_city["urban_population"] == census.loc[by_city.index, "urban_population"]).all()
    assert (by_city["households"] == census.loc[by_city.index, "family_households"]).all()
    assert table["urban_share"].between(0, 1).all()


def test_qingdao_rows_equal_the_city_default(table):
    cols = ["adcode", "name_zh", "name_en", "population", "households", "area_km2"]
    ours = table.loc[table["city_adcode"] == "370200", cols].reset_index(drop=True)
    ref = pd.read_csv(seed_path("qingdao_districts.csv"), dtype={"adcode": str})[cols]
    pd.testing.assert_frame_equal(ours, ref)


def test_every_zone_is_folded_once_and_totals_are_kept():
    census = census_table()
    zones = census[census["level"] == "zone"]
    assert set(zones["adcode"]) == set(ZONE_HOSTS)
    counties = census[census["level"] == "county"]
    folded = fold_zones(census)
    for col in ("population", "urban_population", "family_households"):
        assert folded[col].sum() == counties[col].sum() + zones[col].sum()
    marked = folded.loc[folded["population_basis"] != "census", "adcode"]
    assert set(marked) == {h for hosts, _ in ZONE_HOSTS.values() for h in hosts}


def test_seed_table_is_what_the_census_module_gives(table):
    fresh = county_table()
    for col in ("adcode", "population", "urban_population", "households", "households_census", "population_basis"):
        assert (table[col].to_numpy() == fresh[col].to_numpy()).all(), col


def test_polygons_form_a_valid_coverage_in_wgs84(districts, table):
    assert districts.crs.to_epsg() == 4326
    assert list(districts["adcode"]) == list(table["adcode"])
    geoms = np.asarray(districts.geometry.values)
    assert shapely.is_valid(geoms).all()
    assert shapely.coverage_is_valid(geoms)
    lon_min, lat_min, lon_max, lat_max = districts.total_bounds
    assert 114 < lon_min and lon_max < 123 and 34 < lat_min and lat_max < 38.5
    assert np.isclose(table["area_km2_geodesic"].sum(), 157_877, rtol=1e-3)


def test_cores_lie_in_their_county_and_city(districts):
    cores = pd.read_csv(seed_path("shandong_cores.csv"), dtype={"adcode": str, "city_adcode": str})
    by_id = dict(zip(districts["adcode"], districts.geometry.values, strict=True))
    for c in cores.itertuples():
        assert by_id[c.adcode].contains(shapely.Point(c.lon, c.lat)), c.name
        assert c.adcode[:4] + "00" == c.city_adcode
    assert set(cores["city_adcode"]) == set(CITIES)
    assert cores["approximate"].all()


def test_targets_file_and_labels():
    t = pd.read_csv(seed_path("shandong_targets.csv"))
    pd.testing.assert_frame_equal(t, regional_targets(), check_dtype=False)
    defaults = t[t["default"]]
    assert set(defaults["key"]) == {"stations", "ports"}
    assert set(t["status"]) <= {"published", "derived", "scaled"}


def test_sources_md_holds_the_generated_section():
    text = seed_path("SOURCES.md").read_text(encoding="utf-8")
    assert text.endswith(sources_section())
    assert text.count("## Shandong (regional default)") == 1
