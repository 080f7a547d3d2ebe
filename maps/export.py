"""GIS exports of a saved plan: GeoPackage, GeoJSON, CSV and KML.

:func:`export_plan` reads ``plan.json`` + ``plan.gpkg`` and writes the layers
``stations``, ``olt_sites`` and ``links`` (all WGS-84) as:

* ``gpkg``: ``plan_layers.gpkg``, one GeoPackage with the three layers (EPSG:4326);
* ``geojson``: ``stations.geojson``, ``olt_sites.geojson``, ``links.geojson`` (RFC 7946);
* ``csv``: ``stations.csv``, ``olt_sites.csv`` with ``lon``/``lat`` columns (full
  precision), ``links.csv`` with a ``wkt`` column. UTF-8 with a byte-order mark,
  so that Excel and WPS show Chinese names; a text cell that starts with ``=``,
  ``+``, ``-``, ``@``, tab or carriage return is prefixed with ``'`` so a
  spreadsheet does not run it as a formula;
* ``kml``: ``plan.kml``, a KML 2.2 document with one folder per layer and one
  Placemark per feature (built with ElementTree, so every name is escaped).

Every file is written atomically (:func:`gis.io.atomic_path`).
"""
from __future__ import annotations

import logging
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.errors import InputError, OutputError
from gis.io import atomic_path, fixed_gpkg_timestamp

log = logging.getLogger(__name__)

FORMATS = ("gpkg", "geojson", "csv", "kml")
EXPORT_LAYERS = ("stations", "olt_sites", "links")
KML_NS = "http://www.opengis.net/kml/2.2"
GPKG_NAME = "plan_layers.gpkg"
KML_NAME = "plan.kml"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_GEOM_TYPE = {"stations": "Point", "olt_sites": "Point", "links": "LineString"}


def export_plan(plan_dir: str | os.PathLike, fmt: str, out_dir: str | os.PathLike | None = None) -> list[Path]:
    """Export the plan's stations, OLT sites and links.

    Parameters
    ----------
    plan_dir
        Folder holding ``plan.json`` and ``plan.gpkg``.
    fmt
        One of {"gpkg", "geojson", "csv", "kml"}.
    out_dir
        Output folder; default ``plan_dir/export``.

    Returns
    -------
    The files written, in layer order.
    """
    from maps.tables import clean_plan_text
    from rollout.plan import load_plan

    fmt = str(fmt).lower().lstrip(".")
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}", field="format")
    plan_dir = Path(plan_dir)
    plan = clean_plan_text(load_plan(plan_dir))
    out_dir = Path(out_dir) if out_dir is not None else plan_dir / "export"
    layers = {name: _wgs84(getattr(plan, name)) for name in EXPORT_LAYERS}
    if fmt == "gpkg":
        paths = [_write_gpkg(layers, out_dir / GPKG_NAME)]
    elif fmt == "geojson":
        paths = [_write_geojson(name, gdf, out_dir / f"{name}.geojson") for name, gdf in layers.items()]
    elif fmt == "csv":
        paths = [_write_csv(name, gdf, out_dir / f"{name}.csv") for name, gdf in layers.items()]
    else:
        paths = [_write_kml(layers, out_dir / KML_NAME, title=plan.title or "Rollout plan")]
    log.info("exported %s: %s", fmt, ", ".join(str(p) for p in paths))
    return paths


# ====================================================================== writers
def _wgs84(gdf: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    if gdf is None:
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    gdf = gpd.GeoDataFrame(gdf).copy()
    if gdf.crs is None:
        gdf = gdf.set_crs(4326)
    gdf = gdf.to_crs(4326)
    for c in gdf.columns:
        if c != gdf.geometry.name and _is_text(gdf[c]):
            gdf[c] = gdf[c].astype(object).where(gdf[c].notna(), None)
    return gdf.reset_index(drop=True)


def _is_text(s: pd.Series) -> bool:
    return s.dtype == object or pd.api.types.is_string_dtype(s.dtype)


def _to_file(gdf: gpd.GeoDataFrame, path: Path, *, layer: str, driver: str, geometry_type: str, **opts) -> None:
    import pyogrio

    try:
        pyogrio.write_dataframe(gdf, path, layer=layer, driver=driver, geometry_type=geometry_type,
                                promote_to_multi=False, **opts)
    except OSError as exc:
        raise OutputError(f"{path}: could not be written ({exc.strerror or exc})") from None


def _write_gpkg(layers: dict, target: Path) -> Path:
    with atomic_path(target) as tmp, fixed_gpkg_timestamp():
        for name, gdf in layers.items():
            _to_file(gdf, tmp, layer=name, driver="GPKG", geometry_type=_GEOM_TYPE[name], append=tmp.exists())
    return target


def _write_geojson(name: str, gdf: gpd.GeoDataFrame, target: Path) -> Path:
    with atomic_path(target) as tmp:
        _to_file(gdf, tmp, layer=name, driver="GeoJSON", geometry_type=_GEOM_TYPE[name],
                 layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": 7, "WRITE_NAME": "YES"})
    return target


def _write_csv(name: str, gdf: gpd.GeoDataFrame, target: Path) -> Path:
    df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    if _GEOM_TYPE[name] == "Point":
        df["lon"] = shapely.get_x(geoms) if len(df) else []
        df["lat"] = shapely.get_y(geoms) if len(df) else []
    else:
        df["wkt"] = shapely.to_wkt(geoms, rounding_precision=-1) if len(df) else []
    for c in df.columns:
        if _is_text(df[c]):
            df[c] = df[c].map(_defuse)
    with atomic_path(target) as tmp:
        try:
            df.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n")
        except OSError as exc:
            raise OutputError(f"{target}: could not be written ({exc.strerror or exc})") from None
    return target


def _defuse(v):
    """Neutralise spreadsheet formulas in text cells (CSV injection)."""
    if isinstance(v, str) and v.startswith(_FORMULA_START):
        return "'" + v
    return v


# ---------------------------------------------------------------------- KML
_KML_STYLES = {  # id: (kind, aabbggrr colour, scale or width)
    "station-new-macro": ("icon", "ff1c1ae3", 0.8),
    "station-new-small": ("icon", "ff3c8dfd", 0.6),
    "station-existing-macro": ("icon", "ffe1ca9e", 0.7),
    "station-existing-small": ("icon", "fff7ebde", 0.5),
    "olt-new": ("icon", "ffba7d80", 1.0),
    "olt-existing": ("icon", "ff969696", 0.9),
    "link-feeder": ("line", "ff458b23", 1.5),
    "link-backhaul": ("line", "ff0a518c", 1.5),
}
_KML_ICON = "http://maps.google.com/mapfiles/kml/shapes/placemark_circle.png"


def _write_kml(layers: dict, target: Path, *, title: str) -> Path:
    # Plain tag names under a default xmlns on the root: no global ET namespace registration.
    q = str
    kml = ET.Element("kml", xmlns=KML_NS)
    doc = ET.SubElement(kml, q("Document"))
    ET.SubElement(doc, q("name")).text = title
    ET.SubElement(doc, q("description")).text = (
        "5G stations, OLT sites and fibre links of a rollout plan (WGS-84). Drawn from plan.json and plan.gpkg.")
    for sid, (kind, colour, size) in _KML_STYLES.items():
        st = ET.SubElement(doc, q("Style"), id=sid)
        if kind == "icon":
            ic = ET.SubElement(st, q("IconStyle"))
            ET.SubElement(ic, q("color")).text = colour
            ET.SubElement(ic, q("scale")).text = str(size)
            icon = ET.SubElement(ic, q("Icon"))
            ET.SubElement(icon, q("href")).text = _KML_ICON
        else:
            ls = ET.SubElement(st, q("LineStyle"))
            ET.SubElement(ls, q("color")).text = colour
            ET.SubElement(ls, q("width")).text = str(size)
    for name, gdf in layers.items():
        _kml_schema(doc, q, name, gdf)
    folders = {"stations": "5G stations", "olt_sites": "OLT sites", "links": "Fibre links"}
    for name, gdf in layers.items():
        folder = ET.SubElement(doc, q("Folder"))
        ET.SubElement(folder, q("name")).text = f"{folders[name]} ({len(gdf):,})"
        cols = [c for c in gdf.columns if c != gdf.geometry.name]
        records = pd.DataFrame(gdf[cols]).to_dict("records") if cols else [{} for _ in range(len(gdf))]
        for rec, geom in zip(records, gdf.geometry.values, strict=True):
            pm = ET.SubElement(folder, q("Placemark"))
            ET.SubElement(pm, q("name")).text = _kml_name(name, rec)
            ET.SubElement(pm, q("styleUrl")).text = "#" + _kml_style(name, rec)
            ext = ET.SubElement(pm, q("ExtendedData"))
            sd = ET.SubElement(ext, q("SchemaData"), schemaUrl=f"#schema-{name}")
            for c in cols:
                v = _kml_value(rec.get(c))
                if v is not None:
                    ET.SubElement(sd, q("SimpleData"), name=str(c)).text = v
            _kml_geometry(pm, q, geom)
    with atomic_path(target) as tmp:
        try:
            ET.ElementTree(kml).write(tmp, encoding="UTF-8", xml_declaration=True)
        except OSError as exc:
            raise OutputError(f"{target}: could not be written ({exc.strerror or exc})") from None
    return target


def _kml_schema(doc, q, name: str, gdf: gpd.GeoDataFrame) -> None:
    schema = ET.SubElement(doc, q("Schema"), name=name, id=f"schema-{name}")
    for c in gdf.columns:
        if c == gdf.geometry.name:
            continue
        dt = gdf[c].dtype
        kind = ("bool" if dt == bool else "int" if pd.api.types.is_integer_dtype(dt)
                else "double" if pd.api.types.is_float_dtype(dt) else "string")
        ET.SubElement(schema, q("SimpleField"), type=kind, name=str(c))


def _kml_name(layer: str, rec: dict) -> str:
    if layer == "stations":
        return str(rec.get("site_id") or "station")
    if layer == "olt_sites":
        return str(rec.get("office_id") or "OLT site")
    return f"{rec.get('kind') or 'link'}: {rec.get('from_id') or '?'} \u2192 {rec.get('to_id') or '?'}"


def _kml_style(layer: str, rec: dict) -> str:
    new = bool(rec.get("new")) if rec.get("new") is not None else False
    if layer == "stations":
        typ = "small" if str(rec.get("type") or "").lower() == "small" else "macro"
        return f"station-{'new' if new else 'existing'}-{typ}"
    if layer == "olt_sites":
        return "olt-new" if new else "olt-existing"
    return "link-feeder" if str(rec.get("kind") or "") == "feeder" else "link-backhaul"


def _kml_value(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        return None if not np.isfinite(v) else format(float(v), ".10g")
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if v is pd.NA:
        return None
    return str(v)


def _kml_geometry(pm, q, geom) -> None:
    if geom is None or geom.is_empty:
        return
    if geom.geom_type == "Point":
        pt = ET.SubElement(pm, q("Point"))
        ET.SubElement(pt, q("coordinates")).text = f"{geom.x:.7f},{geom.y:.7f}"
    elif geom.geom_type == "LineString":
        ls = ET.SubElement(pm, q("LineString"))
        ET.SubElement(ls, q("tessellate")).text = "1"
        ET.SubElement(ls, q("coordinates")).text = " ".join(f"{x:.7f},{y:.7f}" for x, y in geom.coords)
    elif geom.geom_type == "MultiLineString":
        mg = ET.SubElement(pm, q("MultiGeometry"))
        for part in geom.geoms:
            ls = ET.SubElement(mg, q("LineString"))
            ET.SubElement(ls, q("coordinates")).text = " ".join(f"{x:.7f},{y:.7f}" for x, y in part.coords)
    else:  # anything else: its representative point
        p = geom.representative_point()
        pt = ET.SubElement(pm, q("Point"))
        ET.SubElement(pt, q("coordinates")).text = f"{p.x:.7f},{p.y:.7f}"
