"""maps.export: GeoPackage, GeoJSON, CSV and KML exports of a saved plan."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pyogrio
import pytest

from gis.errors import InputError
from gis.io import read_vector
from maps.export import EXPORT_LAYERS, KML_NS, export_plan
from tests._plan_fixture import HOSTILE_OFFICE, HOSTILE_SITE, HOSTILE_TITLE, save_plan

K = {"k": KML_NS}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return save_plan(tmp_path_factory.mktemp("plan"))


@pytest.fixture(scope="module")
def plan(saved):
    from rollout.plan import load_plan

    return load_plan(saved)


def test_geopackage(saved, plan, tmp_path):
    (path,) = export_plan(saved, "gpkg", tmp_path)
    layers = dict(pyogrio.list_layers(path))
    assert set(layers) == set(EXPORT_LAYERS)
    for name in EXPORT_LAYERS:
        info = pyogrio.read_info(path, layer=name)
        assert info["crs"] == "EPSG:4326"
        assert info["features"] == len(getattr(plan, name))
    st = pyogrio.read_dataframe(path, layer="stations")
    assert HOSTILE_SITE in set(st["site_id"])
    assert st["new"].dtype == bool


def test_default_out_dir_and_atomic_names(saved):
    paths = export_plan(saved, "geojson")
    assert [p.parent for p in paths] == [saved / "export"] * 3
    assert not [p for p in (saved / "export").iterdir() if p.name.startswith(".")]


def test_geojson(saved, plan, tmp_path):
    paths = export_plan(saved, "GeoJSON", tmp_path)
    assert [p.name for p in paths] == [f"{n}.geojson" for n in EXPORT_LAYERS]
    for name, p in zip(EXPORT_LAYERS, paths, strict=True):
        doc = json.loads(p.read_text(encoding="utf-8"))
        assert doc["type"] == "FeatureCollection" and len(doc["features"]) == len(getattr(plan, name))
        info = pyogrio.read_info(p)
        assert info["crs"] == "EPSG:4326"
    st = json.loads(paths[0].read_text(encoding="utf-8"))["features"]
    lon = np.array([f["geometry"]["coordinates"][0] for f in st])
    assert np.abs(lon - plan.stations.geometry.x.to_numpy()).max() < 1e-6


def test_csv_round_trip(saved, plan, tmp_path):
    paths = export_plan(saved, "csv", tmp_path)
    for name in ("stations", "olt_sites"):
        back = read_vector(tmp_path / f"{name}.csv")  # the project's own CSV reader (lon/lat columns)
        src = getattr(plan, name)
        assert len(back) == len(src)
        assert np.abs(back.geometry.x.to_numpy() - src.geometry.x.to_numpy()).max() < 1e-6
        assert np.abs(back.geometry.y.to_numpy() - src.geometry.y.to_numpy()).max() < 1e-6
    st = pd.read_csv(tmp_path / "stations.csv")
    assert list(st.columns)[0] == "site_id"  # the byte-order mark does not leak into the header
    assert st["site_id"].tolist() == plan.stations["site_id"].tolist()
    links = pd.read_csv(paths[2])
    assert len(links) == len(plan.links) and links["wkt"].str.startswith("LINESTRING").all()
    import shapely

    g = shapely.from_wkt(links["wkt"].to_numpy())
    assert np.abs(shapely.get_coordinates(g) - shapely.get_coordinates(plan.links.geometry.values)).max() < 1e-9


def test_csv_defuses_spreadsheet_formulas(tmp_path):
    from rollout.plan import load_plan

    d = save_plan(tmp_path / "p", n_stations=8, n_cells=4, seed=4)
    plan = load_plan(d)
    plan.stations.loc[1, "district"] = "=HYPERLINK(\"http://x\",\"y\")"
    plan.save(d)
    export_plan(d, "csv", tmp_path / "out")
    st = pd.read_csv(tmp_path / "out" / "stations.csv")
    assert st.loc[1, "district"].startswith("'=HYPERLINK")


def test_kml(saved, plan, tmp_path):
    (path,) = export_plan(saved, "kml", tmp_path)
    root = ET.parse(path).getroot()  # well-formed XML
    assert root.tag == f"{{{KML_NS}}}kml"
    doc = root.find("k:Document", K)
    assert doc.find("k:name", K).text == HOSTILE_TITLE  # escaped on write, exact on read
    folders = doc.findall("k:Folder", K)
    assert len(folders) == 3
    counts = [len(f.findall("k:Placemark", K)) for f in folders]
    assert counts == [len(plan.stations), len(plan.olt_sites), len(plan.links)]
    names = [p.find("k:name", K).text for p in folders[0].findall("k:Placemark", K)]
    assert names[0] == HOSTILE_SITE
    olt_names = [p.find("k:name", K).text for p in folders[1].findall("k:Placemark", K)]
    assert HOSTILE_OFFICE in olt_names
    raw = path.read_text(encoding="utf-8")
    assert HOSTILE_SITE not in raw and "]]><x>" not in raw
    first = folders[0].find("k:Placemark", K)
    lon, lat = map(float, first.find("k:Point/k:coordinates", K).text.split(","))
    assert abs(lon - plan.stations.geometry.x.iloc[0]) < 1e-6 and abs(lat - plan.stations.geometry.y.iloc[0]) < 1e-6
    data = {e.get("name"): e.text for e in first.iter(f"{{{KML_NS}}}SimpleData")}
    assert data["site_id"] == HOSTILE_SITE and data["type"] in ("macro", "small")
    line = folders[2].find("k:Placemark/k:LineString/k:coordinates", K).text.split()
    assert len(line) == 2
    # every styleUrl points at a declared style
    styles = {s.get("id") for s in doc.findall("k:Style", K)}
    assert {p.find("k:styleUrl", K).text[1:] for p in root.iter(f"{{{KML_NS}}}Placemark")} <= styles


def test_bad_inputs(tmp_path, saved):
    with pytest.raises(InputError, match="plan.json"):
        export_plan(tmp_path / "missing", "gpkg")
    with pytest.raises(InputError, match="format"):
        export_plan(saved, "shp", tmp_path / "x")
    assert not (tmp_path / "x").exists()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "plan.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="not a valid plan file"):
        export_plan(tmp_path / "broken", "kml")
