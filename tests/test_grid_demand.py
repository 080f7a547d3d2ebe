"""The adaptive grid and the demand sources on tiny synthetic districts."""
from __future__ import annotations

from itertools import pairwise

import geopandas as gpd
import h3
import h3.api.numpy_int as h3n
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.demand import (complete_cores, default_cores, hotspot_lines, modelled_population, raster_population,
                        read_cores, read_hotspots, table_population)
from gis.errors import InputError, ValidationError
from gis.grid import aggregate, classify, fine_lattice, h3_parent, h3_resolution, h3_str
from tests._gis_fixtures import SECOND_CITY, write_geojson

CRS = "EPSG:32632"
RES = {"dense_urban": 9, "urban": 8, "suburban": 7, "rural": 6}
THRESH = {"dense_urban": 10_000, "urban": 3_000, "suburban": 500}


@pytest.fixture(scope="module")
def districts():
    return gpd.GeoDataFrame({
        "district_id": list(SECOND_CITY), "name_zh": "", "name_en": [v[0] for v in SECOND_CITY.values()],
        "population": [v[1] for v in SECOND_CITY.values()], "households": [50_000, 16_000, 2_000]},
        geometry=[v[2] for v in SECOND_CITY.values()], crs="EPSG:4326")


@pytest.fixture(scope="module")
def fine(districts):
    f = fine_lattice(districts, 9, crs_metric=CRS)
    cores = complete_cores(None, districts, crs_metric=CRS)
    f["population"] = modelled_population(f, districts, cores, urban_share=0.8, core_scale_km=1.5)
    return f


@settings(max_examples=60, deadline=None)
@given(st.floats(-60, 60), st.floats(-179, 179), st.integers(1, 12))
def test_h3_parent_matches_h3(lat, lng, res):
    c = h3n.latlng_to_cell(lat, lng, res)
    for r in range(res + 1):
        assert h3_parent(np.array([c]), r)[0] == h3n.cell_to_parent(c, r)
    assert h3_resolution(np.array([c]))[0] == res
    assert h3_str(np.array([c]))[0] == h3.int_to_str(int(c))


def test_lattice_equals_h3_polyfill(districts, fine):
    for i, geom in enumerate(districts.geometry):
        ours = np.sort(fine.loc[fine["district"] == i, "h3"].to_numpy())
        ref = np.sort(h3n.geo_to_cells(geom, 9))
        assert np.array_equal(ours, ref)
    assert fine["h3"].is_unique


def test_tiny_district_gets_a_cell():
    tiny = gpd.GeoDataFrame({"district_id": ["T"]}, geometry=[shapely.box(11.5, 48.1, 11.5001, 48.1001)], crs=4326)
    f = fine_lattice(tiny, 9, crs_metric=CRS)
    assert len(f) == 1


def test_classify():
    out = classify([20_000, 10_000, 5_000, 600, 10, 0], **THRESH)
    assert out.tolist() == ["dense_urban", "urban", "urban", "suburban", "rural", "rural"]


def test_modelled_population_keeps_totals_and_follows_cores(districts, fine):
    got = fine.groupby("district")["population"].sum().to_numpy()
    want = districts["population"].to_numpy(dtype=float)
    assert np.allclose(got, want, rtol=1e-12, atol=0)
    assert (fine["population"] > 0).all()
    core = default_cores(districts, crs_metric=CRS).iloc[0]
    a = fine[fine["district"] == 0]
    d = np.hypot(a["x_m"] - core["x_m"], a["y_m"] - core["y_m"])
    dens = a["population"] / a["area_km2"]
    assert dens[d < 1000].mean() > 3 * dens[d > 3000].mean()


def test_uniform_when_no_urban_share(districts, fine):
    f = fine.copy()
    pop = modelled_population(f, districts, complete_cores(None, districts, crs_metric=CRS),
                              urban_share=0.0, core_scale_km=1.0)
    dens = pop / f["area_km2"].to_numpy()
    for i in range(len(districts)):
        m = f["district"].to_numpy() == i
        assert np.allclose(dens[m], dens[m].mean(), rtol=1e-9)


def test_aggregate_preserves_totals_and_stays_inside(districts, fine):
    cells, f2c = aggregate(fine, districts, res_by_clutter=RES, thresholds=THRESH, crs_metric=CRS)
    assert len(f2c) == len(fine) and f2c.max() == len(cells) - 1
    by = cells.groupby("district_id")["population"].sum()
    for k, v in SECOND_CITY.items():
        assert by[k] == pytest.approx(v[1], rel=1e-9)
    # inside the district, no overlaps, centroid inside its own cell (the boxes' long straight lon/lat
    # edges are densified first: projected to UTM, a parallel of latitude is a curve, not a chord)
    dgeo = districts.set_index("district_id").geometry.segmentize(0.0005)
    metric_cells = cells.geometry.to_crs(CRS)
    metric_d = gpd.GeoSeries(dgeo.loc[cells["district_id"]].to_numpy(), crs=4326).to_crs(CRS)
    assert shapely.within(metric_cells.values, shapely.buffer(metric_d.values, 1.0)).all()
    union = shapely.union_all(metric_cells.values)
    assert union.area == pytest.approx(metric_cells.area.sum(), rel=1e-6)
    assert shapely.contains_xy(cells.geometry.values, cells["lon"], cells["lat"]).all()
    assert cells["cell_id"].is_unique
    # resolution follows density
    mean_res = cells.groupby("clutter")["h3_res"].mean()
    present = [c for c in ("dense_urban", "urban", "suburban", "rural") if c in mean_res.index]
    assert len(present) >= 3
    assert all(mean_res[a] >= mean_res[b] for a, b in pairwise(present))
    assert mean_res[present[0]] > mean_res[present[-1]]


def test_cells_split_by_a_border_get_unique_ids():
    # two districts meeting along a line that cuts through coarse cells
    d = gpd.GeoDataFrame({"district_id": ["W", "E"], "population": [10, 10]},
                         geometry=[shapely.box(11.50, 48.10, 11.5333, 48.14), shapely.box(11.5333, 48.10, 11.57, 48.14)],
                         crs=4326)
    f = fine_lattice(d, 9, crs_metric=CRS)
    f["population"] = modelled_population(f, d, complete_cores(None, d, crs_metric=CRS), urban_share=0.0, core_scale_km=1)
    cells, _ = aggregate(f, d, res_by_clutter=RES, thresholds=THRESH, crs_metric=CRS)
    assert cells["cell_id"].is_unique
    shared = cells["h3"].duplicated(keep=False)
    assert shared.any() and cells.loc[shared, "cell_id"].str.contains("@").all()


def test_raster_population(tmp_path, districts, fine):
    import rasterio
    from affine import Affine

    # 0.005 deg pixels over a box larger than the city: 10 people per pixel
    west, north, px = 11.45, 48.20, 0.005
    w, h = int((11.70 - west) / px), int((north - 48.02) / px)
    data = np.full((h, w), 10.0, dtype="float32")
    data[0, 0] = -9999  # nodata
    path = tmp_path / "pop.tif"
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype="float32", crs="EPSG:4326",
                       transform=Affine(px, 0, west, 0, -px, north), nodata=-9999) as dst:
        dst.write(data, 1)
    pop, rep = raster_population(fine, path, crs_metric=CRS)
    assert pop.sum() == pytest.approx(rep.total)
    assert rep.dropped > 0 and rep.total > 0  # pixels outside the city are not used
    # about 10 people per pixel area over the city's land
    city_km2 = float(districts.to_crs(CRS).area.sum()) / 1e6
    pixel_km2 = (px * 111.32) * (px * 111.32 * np.cos(np.radians(48.1)))
    assert rep.total == pytest.approx(10 * city_km2 / pixel_km2, rel=0.03)
    with pytest.raises(InputError, match="not a readable raster"):
        bad = tmp_path / "bad.tif"
        bad.write_bytes(b"nope")
        raster_population(fine, bad, crs_metric=CRS)


def test_table_population_points_and_polygons(tmp_path, fine):
    pts = write_geojson(tmp_path / "pts.geojson", [({"population": 100}, shapely.Point(11.52, 48.12)),
                                                   ({"population": 50}, shapely.Point(11.60, 48.08)),
                                                   ({"population": 7}, shapely.Point(13.0, 50.0))])
    pop, rep = table_population(fine, pts, crs_metric=CRS)
    assert pop.sum() == pytest.approx(150) and rep.dropped == pytest.approx(7) and rep.items == 3
    polys = write_geojson(tmp_path / "polys.geojson", [
        ({"people": 1000}, shapely.box(11.51, 48.11, 11.53, 48.13)),
        ({"people": 5}, shapely.Point(11.55, 48.12).buffer(0.0005))])  # smaller than a cell
    pop, rep = table_population(fine, polys, field="people", crs_metric=CRS)
    assert pop.sum() == pytest.approx(1005)
    inside = shapely.contains_xy(shapely.box(11.51, 48.11, 11.53, 48.13), fine["lon"], fine["lat"])
    assert pop[inside].sum() == pytest.approx(1000)
    assert np.allclose(pop[inside], pop[inside].mean())
    with pytest.raises(ValidationError) as ei:
        table_population(fine, polys, field="population", crs_metric=CRS)
    assert ei.value.problems[0][1] == "population"


def test_cores_file(tmp_path, districts):
    p = tmp_path / "cores.csv"
    p.write_text("lon,lat,weight\n11.53,48.12,2\n11.59,48.12,1\n", encoding="utf-8")
    cores = read_cores(p, districts, crs_metric=CRS)
    assert cores["district_id"].tolist() == ["A1", "B2"]  # located by point-in-polygon
    full = complete_cores(cores, districts, crs_metric=CRS)
    assert sorted(full["district_id"]) == ["A1", "B2", "C3"]
    p.write_text("code,lon,lat\nZZ,11.53,48.12\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown district ids: ZZ"):
        read_cores(p, districts, id_field="code", crs_metric=CRS)


def test_hotspots_spread_their_lines(tmp_path, districts, fine):
    p = tmp_path / "hot.csv"
    p.write_text("name,lon,lat,area_km2,approximate\nPark,11.53,48.12,2.0,true\nTiny,11.59,48.12,0.001,false\n",
                 encoding="utf-8")
    hot = read_hotspots(p, districts, lines_per_km2=400, crs_metric=CRS)
    assert hot["district_id"].tolist() == ["A1", "B2"] and hot["approximate"].tolist() == [True, False]
    assert hot.to_crs(CRS).area.iloc[0] / 1e6 == pytest.approx(2.0, rel=0.01)
    lines, names = hotspot_lines(fine, hot, crs_metric=CRS)
    assert lines.sum() == pytest.approx(2.0 * 400 + 0.001 * 400)
    assert set(names[lines > 0]) == {"Park", "Tiny"}
    bad = tmp_path / "hot2.csv"
    bad.write_text("name,lon,lat\nX,11.53,48.12\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="area_km2"):
        read_hotspots(bad, districts, lines_per_km2=400, crs_metric=CRS)


def test_raster_without_rasterio_says_what_to_install(monkeypatch, fine, tmp_path):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name.startswith("rasterio"):
            raise ImportError("no rasterio")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ImportError, match=r"pip install 'qingdao-rollout\[raster\]'"):
        raster_population(fine, tmp_path / "x.tif", crs_metric=CRS)


def test_pandas_frames_untouched(fine):
    # the lattice is a plain DataFrame with the documented columns
    assert list(fine.columns[:7]) == ["h3", "district", "lon", "lat", "x_m", "y_m", "area_km2"]
    assert isinstance(fine, pd.DataFrame)


def test_too_fine_a_lattice_is_a_scenario_error(districts):
    from gis.errors import ScenarioError

    with pytest.raises(ScenarioError, match="grid.res_"):
        fine_lattice(districts, 15, crs_metric=CRS)
