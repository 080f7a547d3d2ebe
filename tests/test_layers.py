"""The whole layers build: Qingdao (built once) and a second, synthetic city through a Scenario."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from gis.build import layers_from_scenario, validate_scenario_inputs
from gis.errors import InputError, ValidationError
from gis.layers import Layers
from rollout.radio_plan import cell_radius_m
from rollout.scenario import Scenario
from tests._gis_fixtures import SECOND_CITY, qingdao_layers, second_city_scenario, write_geojson

CENSUS = {"370202": 486_643, "370203": 1_096_879, "370211": 1_903_595, "370212": 502_370, "370213": 737_281,
          "370214": 1_109_606, "370215": 1_336_077, "370281": 987_820, "370283": 1_191_348, "370285": 720_103}
CLUTTER_ORDER = ["dense_urban", "urban", "suburban", "rural"]
MAX_PAIRS_PER_CELL = Scenario().grid.max_pairs_per_cell


@pytest.fixture(scope="module")
def qd() -> Layers:
    return qingdao_layers()


# --------------------------------------------------------------------------- Qingdao

def test_qingdao_population_is_the_census_exactly(qd):
    assert qd.demand["population"].sum() == pytest.approx(10_071_722, rel=1e-9)
    by = qd.demand.groupby("district_id")["population"].sum()
    for d, v in CENSUS.items():
        assert by[d] == pytest.approx(v, rel=1e-9)
    assert qd.districts.set_index("district_id")["population"].to_dict() == CENSUS
    assert qd.demand["households"].sum() == pytest.approx(3_623_194, rel=1e-9)
    assert qd.demand_source.startswith("modelled")


def test_qingdao_cells_inside_their_district(qd):
    d = qd.districts.set_index("district_id").geometry.to_crs(qd.crs_metric)
    grown = pd.Series(shapely.buffer(d.values, 1.0), index=d.index)
    shapely.prepare(grown.to_numpy())
    cells_m = qd.demand.geometry.to_crs(qd.crs_metric).values
    assert shapely.within(cells_m, grown.loc[qd.demand["district_id"]].to_numpy()).all()
    # the point a cell is planned from lies inside the cell
    assert shapely.contains_xy(qd.demand.geometry.values, qd.demand["lon"], qd.demand["lat"]).all()
    # no two cells overlap: the interiors touch at most along edges
    tree = shapely.STRtree(cells_m)
    a, b = tree.query(cells_m, predicate="overlaps")
    if len(a):
        assert shapely.area(shapely.intersection(cells_m[a], cells_m[b])).max() < 1.0


def test_qingdao_resolution_follows_density(qd):
    dm = qd.demand
    mean_res = dm.groupby("clutter")["h3_res"].mean()
    assert list(mean_res.loc[CLUTTER_ORDER]) == sorted(mean_res.loc[CLUTTER_ORDER], reverse=True)
    assert mean_res["dense_urban"] > mean_res["rural"]
    assert dm.loc[dm["clutter"] == "dense_urban", "area_km2"].median() < dm.loc[dm["clutter"] == "rural", "area_km2"].median() / 10
    # clutter agrees with the aggregated density and the default thresholds
    dens = dm["density_per_km2"]
    assert (dens[dm["clutter"] == "dense_urban"] > 10_000).all()
    assert (dens[dm["clutter"] == "rural"] <= 500).all()
    # the cell's radius: the largest link-budget radius of a type built in its clutter class (the macro's)
    assert dm.set_index("clutter")["radius_m"].groupby(level=0).first().to_dict() == \
        pytest.approx(cell_radius_m(Scenario()))


def test_qingdao_sizes_and_pairs(qd):
    s = qd.summary()
    assert 3_000 <= s["cells"] <= 20_000
    assert s["candidates"] > s["cells"]  # sites finer than cells (grid.site_res_*)
    # the candidates can hold the 35,000-station target (macro everywhere, small cells in the urban classes)
    sc = Scenario()
    slots = sum(qd.candidates["clutter"].isin(t.clutters).sum() * t.max_per_site for t in (sc.radio.macro, sc.radio.small))
    assert slots >= sc.radio.target_stations
    assert 100 <= s["offices"] <= 1_500
    assert s["max_pairs_per_cell"] <= 2 * MAX_PAIRS_PER_CELL   # the cap holds per station type (macro, small)
    p = qd.pairs
    assert p["cell"].is_monotonic_increasing
    # coverage pairs lie within radius of the planning point; the others within radius of the cell's hexagon
    cov = p["cover"].to_numpy(bool)
    assert (p["dist_m"].to_numpy()[cov] <= qd.demand["radius_m"].to_numpy()[p["cell"][cov]] + 1e-6).all()
    polys = qd.demand.geometry.to_crs(qd.crs_metric).values
    site_pts = shapely.points(qd.candidates[["x_m", "y_m"]].to_numpy()[p["site"]])
    gap = shapely.distance(np.asarray(polys)[p["cell"]], site_pts)
    assert (gap <= qd.demand["radius_m"].to_numpy()[p["cell"]] + 1e-6).all()
    # every cell is paired with at least one site inside it
    own = p[cov & (qd.candidates["cell"].to_numpy()[p["site"].to_numpy()] == p["cell"].to_numpy())]
    assert set(own["cell"]) == set(range(len(qd.demand)))
    assert qd.stats["cells_short_of_k"] == 0


def test_qingdao_contract_columns(qd):
    need = {
        "districts": ["district_id", "name_zh", "name_en", "population", "households", "area_km2", "area_km2_measured"],
        "demand": ["cell_id", "district_id", "h3_res", "population", "households", "traffic_mbps", "onts", "clutter",
                   "radius_m", "k_coverage", "area_km2", "lon", "lat", "x_m", "y_m"],
        "candidates": ["site_id", "district_id", "clutter", "lon", "lat", "x_m", "y_m", "source", "existing_macro",
                       "existing_small"],
        "offices": ["office_id", "district_id", "clutter", "lon", "lat", "x_m", "y_m", "existing", "existing_ports"],
        "hotspots": ["name", "district_id", "approximate", "enterprise_lines"],
    }
    for name, cols in need.items():
        gdf = getattr(qd, name)
        assert set(cols) <= set(gdf.columns), (name, set(cols) - set(gdf.columns))
        assert gdf.crs.to_epsg() == 4326
        for c in ("district_id", "clutter"):
            if c in gdf:
                assert gdf[c].notna().all() and gdf[c].map(type).eq(str).all(), (name, c)
    assert list(qd.pairs.columns) == ["cell", "site", "dist_m", "cover"]
    assert qd.demand["cell_id"].is_unique and qd.candidates["site_id"].is_unique and qd.offices["office_id"].is_unique
    assert qd.crs_metric == "EPSG:32651"
    assert qd.demand["k_coverage"].dtype.kind == "i" and qd.demand["h3_res"].dtype.kind == "i"


def test_qingdao_demand_formulas_and_hotspots(qd):
    dm = qd.demand
    assert np.allclose(dm["traffic_mbps"], dm["population"] * 0.6 * 0.5)
    assert np.allclose(dm["onts"], dm["households"] * 0.85 + dm["population"] * 15 / 1000 + dm["hotspot_lines"])
    hot = qd.hotspots
    assert len(hot) == 5 and hot["approximate"].all()
    assert set(hot["district_id"]) == {"370211", "370281", "370212", "370214"}
    assert hot.loc[hot["name"] == "Sino-German Ecopark", "enterprise_lines"].item() == pytest.approx(11.56 * 400)
    assert dm["hotspot_lines"].sum() == pytest.approx(hot["enterprise_lines"].sum())
    # the offices include the 11 urban cores
    assert qd.offices["name"].str.startswith("core: ").sum() == 11
    # the modelled existing plant: every generated office is an existing GPON CO (no 10G-PON ports yet, chassis
    # installed, free slots); offices added only for the optical reach are new candidates
    o = qd.offices
    assert set(o["source"]) <= {"modelled", "reach"} and (o["existing"] == (o["source"] == "modelled")).all()
    assert (o["existing_ports"] == 0).all() and (o.loc[o["existing"], "chassis"] >= 1).all()
    assert (o["free_slots"] >= 0).all() and o.loc[o["existing"], "gpon_lines"].sum() == pytest.approx(qd.demand["onts"].sum())


# --------------------------------------------------------------------------- a second city, no code change

@pytest.fixture(scope="module")
def city(tmp_path_factory):
    folder = tmp_path_factory.mktemp("second_city")
    s = second_city_scenario(folder)
    return folder, s, layers_from_scenario(s)


def test_second_city_follows_the_scenario(city):
    folder, _, base = city
    lay = layers_from_scenario(second_city_scenario(folder, scenario={"demand": {"core_scale_km": 1.0}}))
    assert "dense_urban" in set(lay.demand["clutter"]) and "dense_urban" not in set(base.demand["clutter"])
    by = lay.demand.groupby("district_id")["population"].sum()
    assert by["A1"] == pytest.approx(120_000, rel=1e-9)


def test_missing_cores_are_warned_once_with_what_to_supply(city, caplog):
    folder, _, _ = city
    with caplog.at_level("WARNING", logger="gis.build"):
        layers_from_scenario(second_city_scenario(folder))
    warned = [r.getMessage() for r in caplog.records if "no urban cores" in r.getMessage()]
    assert len(warned) == 1 and "data.cores" in warned[0] and "lon, lat" in warned[0]
    caplog.clear()
    (folder / "towns.csv").write_text("code,lon,lat\nA1,11.53,48.12\nB2,11.59,48.12\nC3,11.55,48.08\n")
    with caplog.at_level("WARNING", logger="gis.build"):
        layers_from_scenario(second_city_scenario(folder, cores="towns.csv"))
    assert "no urban cores" not in caplog.text


def test_second_city_conserves_totals(city):
    _, _, lay = city
    by = lay.demand.groupby("district_id")["population"].sum()
    for k, v in SECOND_CITY.items():
        assert by[k] == pytest.approx(v[1], rel=1e-9)
    assert lay.crs_metric == "EPSG:32632"
    assert lay.stats["cores"] == 3  # representative points: no cores file, not Qingdao
    assert len(lay.hotspots) == 0 and lay.demand["hotspot_lines"].sum() == 0
    assert len(lay.offices) >= 3 and lay.offices["district_id"].notna().all()
    assert lay.summary()["max_pairs_per_cell"] <= 2 * MAX_PAIRS_PER_CELL   # per station type
    assert set(lay.demand["clutter"]) >= {"urban", "rural"}


def test_second_city_round_trips_through_geopackage(city, tmp_path):
    _, _, lay = city
    path = lay.to_gpkg(tmp_path / "layers.gpkg")
    back = Layers.from_gpkg(path)
    assert back.summary() == lay.summary()
    assert back.stats["cells"] == lay.stats["cells"]
    assert back.pairs["cell"].dtype == np.int64
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    with pytest.raises(InputError):
        Layers.from_gpkg(tmp_path / "missing.gpkg")


def test_second_city_with_user_layers(city, tmp_path):
    folder, _, base = city
    write_geojson(folder / "cands.geojson", [({}, shapely.Point(11.53, 48.12)), ({}, shapely.Point(13.0, 50.0))])
    write_geojson(folder / "existing.geojson", [({"type": "macro"}, shapely.Point(11.52, 48.11)),
                                                ({"type": "small"}, shapely.Point(11.52, 48.11)),
                                                ({"type": None}, shapely.Point(11.59, 48.08))])
    (folder / "offices.csv").write_text("lon,lat,ports,existing\n11.53,48.12,64,true\n11.60,48.085,,false\n",
                                        encoding="utf-8")
    (folder / "hot.csv").write_text("name,lon,lat,area_km2\nWorks,11.58,48.12,1.5\n", encoding="utf-8")
    s = second_city_scenario(folder, candidates="cands.geojson", existing_sites="existing.geojson",
                             offices="offices.csv", hotspots="hot.csv")
    lay = layers_from_scenario(s)
    c = lay.candidates
    assert (c["source"] == "user").sum() == 1  # the point in Saxony is dropped
    ex = c[c["source"] == "existing"]
    # one type per position: the co-located macro and small cell are two rows, each of one unit
    assert len(ex) == 3 and ex["existing_macro"].sum() == 2 and ex["existing_small"].sum() == 1
    assert sorted(ex["type"]) == ["macro", "macro", "small"]
    assert ((ex["existing_macro"] > 0) != (ex["existing_small"] > 0)).all()
    assert len(lay.offices) == 2 and lay.offices["existing"].tolist() == [True, False]
    assert lay.offices["existing_ports"].tolist() == [64, 0]
    assert lay.demand["hotspot_lines"].sum() == pytest.approx(1.5 * 400)
    assert lay.demand["onts"].sum() == pytest.approx(base.demand["onts"].sum() + 600)
    assert validate_scenario_inputs(s) == []


def test_second_city_with_a_demand_table_keeps_its_totals(city):
    folder, _, _ = city
    write_geojson(folder / "people.geojson", [({"population": 30_000}, shapely.Point(11.53, 48.12)),
                                              ({"population": 1_000}, shapely.box(11.51, 48.075, 11.55, 48.095)),
                                              ({"population": 99}, shapely.Point(14.0, 52.0))])
    lay = layers_from_scenario(second_city_scenario(folder, demand="people.geojson"))
    assert lay.demand["population"].sum() == pytest.approx(31_000)
    assert lay.stats["demand"]["source_dropped"] == pytest.approx(99)
    assert lay.demand_source.startswith("table people.geojson")


def test_bad_scenario_inputs_are_reported(city, tmp_path):
    folder, _, _ = city
    (folder / "bad.csv").write_text("code,population\nA1,-5\nB2,3\nQ7,1\n", encoding="utf-8")
    s = second_city_scenario(folder, districts="bad.csv", offices="missing.csv")
    problems = validate_scenario_inputs(s)
    assert any(p[1] == "population" and "negative for A1" in p[2] for p in problems)
    assert any("no table row for boundary ids: C3" in p[2] for p in problems)
    with pytest.raises(ValidationError) as ei:
        layers_from_scenario(s)
    assert "bad.csv" in str(ei.value)
    good = second_city_scenario(folder, offices="missing.csv", existing_sites="city.csv")
    problems = validate_scenario_inputs(good)
    assert any(str(p[0]).endswith("missing.csv") and "file not found" in p[2] for p in problems)
    assert any(str(p[0]).endswith("city.csv") and p[1] == "lon/lat" for p in problems)
    with pytest.raises(ValidationError) as ei:  # both optional-layer problems, raised together
        layers_from_scenario(good)
    assert len(ei.value.problems) == 2


def test_denser_grid_sites_option(city):
    _, s, lay = city  # the scenario's default grid.site_res_* are finer than the cells
    base = layers_from_scenario(s, site_res={c: getattr(s.grid, f"res_{c}") for c in ("dense_urban", "urban", "suburban", "rural")})
    macro = base.candidates["type"] == "macro"
    assert macro.sum() == len(base.demand)  # one macro site per cell at the cells' own resolution
    assert (lay.candidates["type"] == "macro").sum() > macro.sum()
    assert lay.candidates["site_id"].is_unique
    # every sub-cell site lies in its own demand cell
    cells = lay.demand.geometry.values[lay.candidates["cell"].to_numpy()]
    assert shapely.contains_xy(cells, lay.candidates["lon"], lay.candidates["lat"]).all()
    per_cell = lay.pairs.groupby("cell").size()
    assert per_cell.max() <= 2 * MAX_PAIRS_PER_CELL and len(per_cell) == len(lay.demand)   # cap per type


def test_build_runs_on_plain_settings_without_a_scenario(city):
    import dataclasses

    from gis.build import BuildSettings, build_layers

    _, s, lay = city
    settings = s.layer_settings()
    assert isinstance(settings, BuildSettings)
    assert settings.inputs.boundaries.is_absolute() and settings.inputs.demand is None  # resolved; modelled
    few = build_layers(dataclasses.replace(settings, max_pairs_per_cell=2))
    assert few.pairs.groupby("cell").size().max() <= 2 * 2   # per station type
    assert len(few.demand) == len(lay.demand) and few.stats["max_pairs_cap"] == 2
