"""Every bad input is refused with a message naming the file and the field; problems are collected."""
from __future__ import annotations

import logging
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.errors import InputError, ValidationError
from gis.validate import (check_point_layer, collect_problems, format_problems, normalize_ids,
                          validate_districts)
from seeds import seed_path
from tests._gis_fixtures import SECOND_CITY, write_geojson, write_second_city


@pytest.fixture
def city(tmp_path):
    return write_second_city(tmp_path)


def _features(**override):
    feats = {k: ({"code": k}, v[2]) for k, v in SECOND_CITY.items()}
    feats.update(override)
    return list(feats.values())


def _table(tmp_path, **cols):
    df = pd.DataFrame({"code": list(SECOND_CITY), "population": [v[1] for v in SECOND_CITY.values()]})
    for k, v in cols.items():
        df[k] = v
    path = tmp_path / "table.csv"
    df.to_csv(path, index=False)
    return path


def _problems(exc_info):
    return exc_info.value.problems


def _raises_naming(boundaries, districts, file, field, match, **kw):
    with pytest.raises(ValidationError) as ei:
        validate_districts(boundaries, districts, id_field="code", **kw)
    hits = [p for p in _problems(ei) if str(file) in str(p[0]) and p[1] == field]
    assert hits, _problems(ei)
    assert any(match in p[2] for p in hits), _problems(ei)
    # the message of the raised error names a file and field too
    assert str(ei.value).startswith(str(_problems(ei)[0][0]))
    return ei


def test_seed_is_valid():
    assert collect_problems(seed_path("qingdao_districts.gpkg"), seed_path("qingdao_districts.csv")) == []
    d = validate_districts(seed_path("qingdao_districts.gpkg"), seed_path("qingdao_districts.csv"))
    assert d["population"].sum() == 10_071_722 and d["households"].sum() == 3_623_194
    assert d.crs.to_epsg() == 4326 and d["district_id"].tolist()[0] == "370202"


def test_second_city_is_valid(city):
    d = validate_districts(city["boundaries"], city["districts"], id_field="code")
    assert list(d["district_id"]) == list(SECOND_CITY)
    # households derived when the table has none (2.62 people per household)
    assert d["households"].iloc[0] == round(120_000 / 2.62)


def test_missing_file(tmp_path, city):
    missing = tmp_path / "nope.geojson"
    _raises_naming(missing, city["districts"], missing, None, "file not found")
    _raises_naming(city["boundaries"], tmp_path / "nope.csv", tmp_path / "nope.csv", None, "file not found")


def test_corrupt_and_non_geodata_files(tmp_path, city):
    bad = tmp_path / "broken.gpkg"
    bad.write_bytes(b"\x00garbage" * 50)
    _raises_naming(bad, city["districts"], bad, None, "not a readable geodata file")
    text = tmp_path / "notes.geojson"
    text.write_text("this is not geojson", encoding="utf-8")
    _raises_naming(text, city["districts"], text, None, "not a readable geodata file")
    js = tmp_path / "data.json"
    js.write_text('{"a": 1}', encoding="utf-8")
    _raises_naming(js, city["districts"], js, None, "not a readable geodata file")
    csv = tmp_path / "table.csv"
    csv.write_text("a,b\n1,2\n", encoding="utf-8")
    _raises_naming(csv, city["districts"], csv, "lon/lat", "lon and lat")
    garbled = tmp_path / "garbled.csv"
    garbled.write_bytes(b"\xff\xfe\x00\x01not,utf8\n")
    _raises_naming(city["boundaries"], garbled, garbled, None, "")


def test_missing_crs(tmp_path, city):
    gdf = gpd.GeoDataFrame({"code": list(SECOND_CITY)}, geometry=[v[2] for v in SECOND_CITY.values()])
    shp = tmp_path / "nocrs.shp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyogrio warns that no CRS is written: that is the point
        gdf.to_file(shp)
    _raises_naming(shp, city["districts"], shp, "crs", "no coordinate reference system")


def test_projected_input_is_reprojected(tmp_path, city):
    gdf = gpd.GeoDataFrame({"code": list(SECOND_CITY)}, geometry=[v[2] for v in SECOND_CITY.values()], crs=4326)
    gpkg = tmp_path / "utm.gpkg"
    gdf.to_crs("EPSG:32632").to_file(gpkg, driver="GPKG")
    d = validate_districts(gpkg, city["districts"], id_field="code")
    assert d.crs.to_epsg() == 4326
    assert shapely.hausdorff_distance(d.geometry.iloc[0], SECOND_CITY["A1"][2]) < 1e-6


def test_gcj02_boundaries_are_converted(tmp_path):
    from gis.crs import geometry_wgs84_to_gcj02

    sq = shapely.box(120.30, 36.05, 120.34, 36.09)
    b = write_geojson(tmp_path / "gcj.geojson", [({"code": "X"}, geometry_wgs84_to_gcj02(sq))])
    t = tmp_path / "t.csv"
    t.write_text("code,population\nX,1000\n", encoding="utf-8")
    d = validate_districts(b, t, id_field="code", boundary_coords="gcj02")
    assert shapely.hausdorff_distance(d.geometry.iloc[0], sq) < 1e-7


def test_invalid_geometry_is_repaired_with_a_warning(tmp_path, city, caplog):
    bowtie = shapely.Polygon([(11.50, 48.10), (11.56, 48.14), (11.56, 48.10), (11.50, 48.14)])
    b = write_geojson(tmp_path / "bow.geojson", _features(A1=({"code": "A1"}, bowtie)))
    with caplog.at_level(logging.WARNING, logger="gis.validate"):
        d = validate_districts(b, city["districts"], id_field="code")
    assert d.geometry.is_valid.all() and d.geometry.iloc[0].geom_type in ("Polygon", "MultiPolygon")
    assert any("A1" in r.getMessage() and "repaired" in r.getMessage() for r in caplog.records)


def test_unrepairable_empty_and_non_polygon_geometry(tmp_path, city):
    flat = shapely.Polygon([(11.50, 48.10), (11.53, 48.10), (11.56, 48.10)])  # zero area
    b = write_geojson(tmp_path / "flat.geojson", _features(A1=({"code": "A1"}, flat)))
    _raises_naming(b, city["districts"], b, "geometry", "cannot be repaired")
    b = write_geojson(tmp_path / "empty.geojson", _features(B2=({"code": "B2"}, None)))
    ei = _raises_naming(b, city["districts"], b, "geometry", "empty or missing geometry")
    assert "B2" in str(_problems(ei))
    b = write_geojson(tmp_path / "pt.geojson", _features(C3=({"code": "C3"}, shapely.Point(11.5, 48.08))))
    ei = _raises_naming(b, city["districts"], b, "geometry", "not a polygon (Point)")
    assert "C3" in str(_problems(ei))


def test_id_field_is_detected_when_the_default_is_absent(tmp_path, city, caplog):
    # the second city joins on 'code', not the default 'adcode': the one column whose ids match is used
    with caplog.at_level("WARNING", logger="gis.validate"):
        d = validate_districts(city["boundaries"], city["districts"])
    assert sorted(d["district_id"]) == sorted(SECOND_CITY)
    assert "joining them on 'code'" in caplog.text and 'data.id_field = "code"' in caplog.text


def test_id_field_is_asked_for_when_no_column_matches(tmp_path, city):
    b = write_geojson(tmp_path / "other.geojson", [({"code": k + "x"}, v[2]) for k, v in SECOND_CITY.items()])
    with pytest.raises(ValidationError) as ei:
        validate_districts(b, city["districts"])
    assert any(p[1] == "adcode" and "set data.id_field" in p[2] for p in _problems(ei)), _problems(ei)


def test_households_derived_is_warned_once(tmp_path, city, caplog):
    with caplog.at_level("WARNING", logger="gis.validate"):
        for _ in range(3):  # validation, layer build and check each read the table
            validate_districts(city["boundaries"], city["districts"], id_field="code")
    assert caplog.text.count("households derived") == 1


def test_id_field_problems(tmp_path, city):
    b = write_geojson(tmp_path / "noid.geojson", [({"other": k}, v[2]) for k, v in SECOND_CITY.items()])
    _raises_naming(b, city["districts"], b, "code", "id field 'code' not found")
    b = write_geojson(tmp_path / "dup.geojson", _features(B2=({"code": "A1"}, SECOND_CITY["B2"][2])))
    _raises_naming(b, city["districts"], b, "code", "duplicate ids: A1")
    b = write_geojson(tmp_path / "null.geojson", _features(B2=({"code": None}, SECOND_CITY["B2"][2])))
    _raises_naming(b, city["districts"], b, "code", "have no id")


def test_empty_layer(tmp_path, city):
    b = write_geojson(tmp_path / "none.geojson", [])
    _raises_naming(b, city["districts"], b, None, "empty")


@pytest.mark.parametrize("values, match", [
    ([120000, np.nan, 5000], "missing (NaN) for B2"),
    ([120000, -4, 5000], "negative for B2"),
    (["120000", "many", "5000"], "not a number for B2"),
])
def test_bad_population(tmp_path, city, values, match):
    t = _table(tmp_path, population=values)
    _raises_naming(city["boundaries"], t, t, "population", match)


def test_table_columns_and_ids(tmp_path, city):
    t = tmp_path / "nopop.csv"
    t.write_text("code,people\nA1,1\nB2,2\nC3,3\n", encoding="utf-8")
    _raises_naming(city["boundaries"], t, t, "population", "required column 'population' not found")
    t = tmp_path / "dup.csv"
    t.write_text("code,population\nA1,1\nA1,2\nC3,3\n", encoding="utf-8")
    _raises_naming(city["boundaries"], t, t, "code", "duplicate ids: A1")
    t = tmp_path / "hh.csv"
    t.write_text("code,population,households\nA1,1,-1\nB2,2,1\nC3,3,1\n", encoding="utf-8")
    _raises_naming(city["boundaries"], t, t, "households", "negative for A1")


def test_unknown_ids_are_listed(tmp_path, city):
    t = tmp_path / "other.csv"
    t.write_text("code,population\nA1,1\nB2,2\nZ9,3\nY8,4\n", encoding="utf-8")
    with pytest.raises(ValidationError) as ei:
        validate_districts(city["boundaries"], t, id_field="code")
    text = str(_problems(ei))
    assert "no table row for boundary ids: C3" in text
    assert "no boundary for table ids: Y8, Z9" in text


def test_every_problem_is_collected_at_once(tmp_path):
    b = write_geojson(tmp_path / "b.geojson", [({"code": "A1"}, SECOND_CITY["A1"][2]),
                                               ({"code": "A1"}, SECOND_CITY["B2"][2]),
                                               ({"code": "C3"}, shapely.Point(11.5, 48.08))])
    t = tmp_path / "t.csv"
    t.write_text("code,population\nA1,-1\nA1,\n", encoding="utf-8")
    problems = collect_problems(b, t, id_field="code")
    fields = {(str(f).rsplit("/", 1)[-1], fld) for f, fld, _ in problems}
    assert ("b.geojson", "code") in fields and ("b.geojson", "geometry") in fields
    assert ("t.csv", "population") in fields and ("t.csv", "code") in fields
    assert len(problems) >= 5
    with pytest.raises(ValidationError) as ei:
        validate_districts(b, t, id_field="code")
    assert len(ei.value.problems) == len(problems)
    assert "more problems" in str(ei.value)
    table = format_problems(problems)
    assert "b.geojson" in table and "t.csv" in table and table.count("\n") == len(problems) + 1


def test_frames_are_accepted(city):
    gdf = gpd.read_file(city["boundaries"])
    df = pd.read_csv(city["districts"])
    assert collect_problems(gdf, df, id_field="code", boundaries_file="b", districts_file="t") == []
    df.loc[0, "population"] = -1
    assert collect_problems(gdf, df, id_field="code", boundaries_file="b", districts_file="t")[0][:2] == ("t", "population")


def test_normalize_ids():
    s = normalize_ids(pd.Series([370202, 370203.0, " 370211 ", None, np.nan, ""], dtype=object))
    assert s.tolist() == ["370202", "370203", "370211", None, None, None]


def test_point_layer_checks():
    gdf = gpd.GeoDataFrame(geometry=[shapely.Point(1, 1), shapely.box(0, 0, 1, 1)], crs=4326)
    _, problems = check_point_layer(gdf, file="pts.gpkg")
    assert problems == [("pts.gpkg", "geometry", "not a point (Polygon) for row 2")]
    _, problems = check_point_layer(gpd.GeoDataFrame(geometry=[shapely.Point(1, 1)]), file="p")
    assert problems[0][:2] == ("p", "crs")
    out, problems = check_point_layer(gpd.GeoDataFrame(geometry=[shapely.Point(500000, 4000000)], crs=32651), file="p")
    assert problems == [] and out.crs.to_epsg() == 4326
    with pytest.raises(InputError):
        raise InputError("x", file="f", field="g")
