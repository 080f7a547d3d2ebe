"""GCJ-02 <-> WGS-84 conversion and the metric CRS."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.crs import (gcj02_to_wgs84, gdf_gcj02_to_wgs84, gdf_wgs84_to_gcj02, geometry_gcj02_to_wgs84,
                     geometry_wgs84_to_gcj02, haversine_m, in_china_bbox, lonlat_to_xy, metric_crs, offset_m,
                     to_metric, utm_epsg, wgs84_to_gcj02, xy_to_lonlat)

# googollee/eviltransform test vectors: (wgs lat, wgs lng, gcj lat, gcj lng)
REFERENCE = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),    # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),     # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),     # Beijing
]

# around Qingdao: the urban cores of DOMAIN.md, and a few far corners of the city
QINGDAO = np.array([(120.38, 36.07), (120.37, 36.09), (120.42, 36.16), (120.47, 36.10), (120.39, 36.31),
                    (120.17, 35.97), (120.00, 35.88), (120.45, 36.39), (120.01, 36.28), (119.96, 36.79),
                    (120.53, 36.87), (119.55, 35.62), (120.95, 36.45)])


@pytest.mark.parametrize("wlat, wlng, glat, glng", REFERENCE)
def test_forward_matches_reference(wlat, wlng, glat, glng):
    lon, lat = wgs84_to_gcj02(wlng, wlat)
    assert abs(lon - glng) < 1e-9 and abs(lat - glat) < 1e-9


@pytest.mark.parametrize("wlat, wlng, glat, glng", REFERENCE)
def test_inverse_matches_reference(wlat, wlng, glat, glng):
    lon, lat = gcj02_to_wgs84(glng, glat)
    assert haversine_m(lon, lat, wlng, wlat) < 0.01


def test_qingdao_offset_and_round_trip():
    lon, lat = QINGDAO[:, 0], QINGDAO[:, 1]
    off = offset_m(lon, lat)
    assert np.all((off > 300) & (off < 600)), off  # DOMAIN.md: 0.3-0.6 km
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    w_lon, w_lat = gcj02_to_wgs84(g_lon, g_lat)
    assert haversine_m(lon, lat, w_lon, w_lat).max() < 0.01
    # and the other way round: a GCJ-02 point converted to WGS-84 maps back onto itself
    b_lon, b_lat = wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat))
    assert haversine_m(lon, lat, b_lon, b_lat).max() < 0.01


def test_outside_china_unchanged():
    pts = np.array([(2.35, 48.85), (-74.0, 40.7), (139.77, 35.68), (151.2, -33.9)])
    for fn in (wgs84_to_gcj02, gcj02_to_wgs84):
        lon, lat = fn(pts[:, 0], pts[:, 1])
        assert np.array_equal(lon, pts[:, 0]) and np.array_equal(lat, pts[:, 1])
    assert not in_china_bbox(pts[:, 0], pts[:, 1]).any()


def test_scalars_and_empty_arrays():
    lon, lat = gcj02_to_wgs84(120.38, 36.07)
    assert np.ndim(lon) == 0 and 120.3 < float(lon) < 120.4
    lon, lat = wgs84_to_gcj02(np.array([]), np.array([]))
    assert lon.shape == (0,)


@settings(max_examples=300, deadline=None)
@given(st.floats(73.0, 135.0), st.floats(18.0, 53.5))
def test_round_trip_under_1m_anywhere_in_china(lon, lat):
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    w_lon, w_lat = gcj02_to_wgs84(g_lon, g_lat)
    assert haversine_m(lon, lat, w_lon, w_lat) < 1.0
    assert 10 < offset_m(lon, lat) < 1500  # the offset exists everywhere in China (smallest, ~18 m, near 96.6 E 37.1 N)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.floats(73.0, 135.0), st.floats(18.0, 53.5)), min_size=1, max_size=200))
def test_round_trip_vectorised(points):
    p = np.array(points)
    w = gcj02_to_wgs84(*wgs84_to_gcj02(p[:, 0], p[:, 1]))
    assert haversine_m(p[:, 0], p[:, 1], *w).max() < 1.0


def test_geometry_and_layer_conversion():
    poly = shapely.Polygon([(120.3, 36.0), (120.4, 36.0), (120.4, 36.1), (120.3, 36.1)])
    back = geometry_gcj02_to_wgs84(geometry_wgs84_to_gcj02(poly))
    assert shapely.hausdorff_distance(poly, back) < 1e-8
    gdf = gpd.GeoDataFrame({"name": ["a"]}, geometry=[poly], crs="EPSG:4326")
    gcj = gdf_wgs84_to_gcj02(gdf)
    assert gcj.crs.to_epsg() == 4326 and gcj["name"].tolist() == ["a"]
    assert shapely.hausdorff_distance(gdf_gcj02_to_wgs84(gcj).geometry.iloc[0], poly) < 1e-8
    # a layer in a projected CRS is reprojected first
    assert gdf_gcj02_to_wgs84(gdf.to_crs("EPSG:32651")).crs.to_epsg() == 4326


def test_metric_crs():
    from seeds import seed_path

    qd = gpd.read_file(seed_path("qingdao_districts.gpkg"))
    assert metric_crs(qd) == "EPSG:32651"
    assert to_metric(qd).crs.to_epsg() == 32651
    assert utm_epsg(11.5, 48.1) == "EPSG:32632"
    assert utm_epsg(151.2, -33.9) == "EPSG:32756"
    with pytest.raises(ValueError, match="no CRS"):
        metric_crs(gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)]))


def test_lonlat_xy_round_trip():
    x, y = lonlat_to_xy(QINGDAO[:, 0], QINGDAO[:, 1], "EPSG:32651")
    lon, lat = xy_to_lonlat(x, y, "EPSG:32651")
    assert np.allclose(lon, QINGDAO[:, 0], atol=1e-9) and np.allclose(lat, QINGDAO[:, 1], atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 6), st.floats(0, 6)), min_size=1, max_size=25))
def test_area_groups_match_pairwise_distances(xy):
    """Groups are the components of 'within gap_deg' (brute force over all pairs), numbered by first member."""
    from scipy.sparse.csgraph import connected_components

    from gis.crs import area_groups

    pts = shapely.points(np.array(xy))
    d = shapely.distance(pts[:, None], pts[None, :])
    near = (d > 0.99 * 1.0) & (d <= 1.0)  # the buffer's 32-gon may miss pairs this close to the gap
    if near.any():
        return
    _, want = connected_components(d <= 1.0, directed=False)
    got = area_groups(pts, gap_deg=1.0)
    assert got[0] == 0
    assert np.array_equal(want[:, None] == want[None, :], got[:, None] == got[None, :])
    _, first = np.unique(got, return_index=True)
    assert np.all(np.diff(first) > 0)  # group k's first member comes before group k+1's

