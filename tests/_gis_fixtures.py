"""Shared test data for the gis tests: the Qingdao layers (built once per process) and a tiny second city."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import pandas as pd
import shapely

# A small made-up city near Munich (UTM 32N): two adjacent squares and a strip south of them.
SECOND_CITY = {
    "A1": ("Altstadt", 120_000, shapely.box(11.50, 48.10, 11.56, 48.14)),
    "B2": ("Bergdorf", 40_000, shapely.box(11.56, 48.10, 11.62, 48.14)),
    "C3": ("Clauswiese", 5_000, shapely.box(11.50, 48.07, 11.62, 48.10)),
}


@functools.lru_cache(maxsize=1)
def qingdao_layers():
    """The default Qingdao layers, built at most once per test session."""
    from gis.build import layers_from_scenario
    from rollout.scenario import scenario_from_dict

    return layers_from_scenario(scenario_from_dict({}))


def write_geojson(path: Path, features: list[tuple[dict, object]], *, crs: bool = True) -> Path:
    """A GeoJSON FeatureCollection from (properties, shapely geometry) pairs."""
    fc = {"type": "FeatureCollection",
          "features": [{"type": "Feature", "properties": props,
                        "geometry": None if geom is None else json.loads(shapely.to_geojson(geom))}
                       for props, geom in features]}
    if crs:
        fc["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    path.write_text(json.dumps(fc), encoding="utf-8")
    return path


def write_second_city(folder: Path) -> dict[str, Path]:
    """Boundary GeoJSON + district table of :data:`SECOND_CITY` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    b = write_geojson(folder / "city.geojson", [({"code": k, "label": v[0]}, v[2]) for k, v in SECOND_CITY.items()])
    t = folder / "city.csv"
    pd.DataFrame({"code": list(SECOND_CITY), "name_en": [v[0] for v in SECOND_CITY.values()],
                  "population": [v[1] for v in SECOND_CITY.values()]}).to_csv(t, index=False)
    return {"boundaries": b, "districts": t}


def second_city_scenario(folder: Path, *, scenario: dict | None = None, **data):
    """A Scenario for the second city, with relative paths resolved against ``folder``.

    ``data`` adds ``[data]`` keys; ``scenario`` adds other top-level tables.
    """
    from rollout.scenario import scenario_from_dict

    write_second_city(folder)
    d = {"boundaries": "city.geojson", "districts": "city.csv", "id_field": "code", **data}
    return scenario_from_dict({**(scenario or {}), "data": d}, base_dir=folder)
