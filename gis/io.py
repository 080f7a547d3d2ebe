"""Read vector layers in any common format, and write outputs atomically.

Readers accept GeoPackage, GeoJSON, Shapefile, and CSV with lon/lat columns.
Every failure becomes an :class:`~gis.errors.InputError` that names the file.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Iterable, Iterator

import geopandas as gpd
import pandas as pd

from gis.errors import InputError, OutputError

LON_NAMES = ("lon", "lng", "longitude", "x")
LAT_NAMES = ("lat", "latitude", "y")


#: CSV columns always read as text: ids keep their leading zeros ("001" stays "001", never 1)
ID_COLUMN_NAMES = ("id", "adcode", "code")


def is_id_column(name: str, id_columns: Iterable[str] = ()) -> bool:
    """True for an id column: one named in ``id_columns``, ``id``/``adcode``/``code``, or ending in ``_id``/``_code``."""
    low = str(name).strip().lower()
    return name in set(id_columns) or low in ID_COLUMN_NAMES or low.endswith(("_id", "_code"))


def read_table(path: str | os.PathLike, *, id_columns: Iterable[str] = ()) -> pd.DataFrame:
    """Read a plain CSV table; refuse a missing, empty or unreadable file.

    Id columns (:func:`is_id_column`, plus ``id_columns``) are read as text, so ``001`` stays ``001``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=str(path))
    try:
        header = pd.read_csv(path, nrows=0).columns
        df = pd.read_csv(path, dtype={c: str for c in header if is_id_column(c, id_columns)})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable CSV table ({type(exc).__name__})", file=str(path)) from None
    if df.empty:
        raise InputError("table has no rows", file=str(path))
    return df


def read_vector(path: str | os.PathLike, *, layer: str | None = None, crs_if_csv: str = "EPSG:4326",
                id_columns: Iterable[str] = ()) -> gpd.GeoDataFrame:
    """Read a vector layer (GeoPackage, GeoJSON, Shapefile, or CSV with lon/lat).

    A CSV needs a lon and a lat column (``lon``/``lng``/``longitude``/``x`` and
    ``lat``/``latitude``/``y``) and is taken to be in ``crs_if_csv``; its id columns are read as text.
    The CRS is *not* checked here; :mod:`gis.validate` does that.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", file=str(path))
    if path.suffix.lower() in {".csv", ".txt"}:
        df = read_table(path, id_columns=id_columns)
        cols = {c.lower(): c for c in df.columns}
        lon = next((cols[c] for c in LON_NAMES if c in cols), None)
        lat = next((cols[c] for c in LAT_NAMES if c in cols), None)
        if lon is None or lat is None:
            raise InputError("CSV needs lon and lat columns", file=str(path), field="lon/lat")
        x = pd.to_numeric(df[lon], errors="coerce")
        y = pd.to_numeric(df[lat], errors="coerce")
        bad = x.isna() | y.isna() | ~x.between(-180, 180) | ~y.between(-90, 90)
        if bad.any():
            raise InputError(f"{int(bad.sum())} rows have missing or out-of-range coordinates "
                             f"(first at row {int(bad.idxmax()) + 2})", file=str(path), field=f"{lon}/{lat}")
        return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(x, y), crs=crs_if_csv)
    try:
        import pyogrio

        with warnings.catch_warnings():  # NaN coordinates warn in shapely; gis.validate reports them by feature
            warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
            gdf = pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:  # pyogrio raises several DataSourceError/DataLayerError kinds
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"not a readable geodata file ({msg[:160]})", file=str(path)) from None
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf:
        raise InputError("file has no geometry column", file=str(path))
    if len(gdf) == 0:
        raise InputError("layer is empty", file=str(path))
    return gdf


def gpkg_layer_names(path: str | os.PathLike) -> set[str]:
    """Names of the layers in a GeoPackage; an unreadable file is an :class:`InputError` naming it."""
    import pyogrio

    try:
        return {name for name, _ in pyogrio.list_layers(path)}
    except Exception as exc:  # noqa: BLE001 - pyogrio raises several error kinds
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise InputError(f"not a readable GeoPackage ({first})", file=str(path)) from None


def check_writable_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` if needed and check that files can be written in it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError as exc:
        raise OutputError(f"{path}: output folder cannot be written ({exc.strerror or exc})") from None
    return path


#: the timestamp GeoPackages are written with (``gpkg_contents.last_change``), so that the same
#: layers give the same file bytes (GDAL's ``OGR_CURRENT_DATE``)
GPKG_TIMESTAMP = "2000-01-01T00:00:00.000Z"


@contextlib.contextmanager
def fixed_gpkg_timestamp() -> Iterator[None]:
    """Within the block, GeoPackages are stamped :data:`GPKG_TIMESTAMP`, not the current time.

    GDAL reads the stamp from its config option ``OGR_CURRENT_DATE``; the previous value is restored
    on exit, so the process's GDAL configuration is left as it was.
    """
    import pyogrio

    before = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": GPKG_TIMESTAMP})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": before})


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it into place only on success.

    On any exception the temporary file is removed and ``target`` is untouched,
    so a failed run never leaves a half-written output behind.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=target.suffix)
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"{target.parent}: output folder cannot be written ({exc.strerror or exc})") from None
    tmp_path = Path(tmp)
    tmp_path.unlink()  # writers such as pyogrio want to create the file themselves
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            if tmp_path.is_dir():
                shutil.rmtree(tmp_path, ignore_errors=True)
            else:
                tmp_path.unlink()


def atomic_write_text(target: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


@contextlib.contextmanager
def staged_dir(out_dir: str | os.PathLike, *, replaces: Iterable[str] = ()) -> Iterator[Path]:
    """Yield a private folder inside ``out_dir`` to write a run's outputs; move them into place only on success.

    On success every file of the folder moves into ``out_dir`` (no target may be a folder: that is checked
    for all of them before any moves), and the files named in ``replaces`` that this run did not write are
    removed, so an older run's ``map.html`` is not left beside a new plan. SIGINT/SIGTERM are held back during
    the moves, so an interrupt never leaves a partial set. On any failure (an exception, an interrupt, a full
    disk) the folder is removed and ``out_dir`` keeps what it had; an :class:`OSError` becomes one
    :class:`OutputError`.
    """
    out_dir = check_writable_dir(out_dir)
    try:
        stage = Path(tempfile.mkdtemp(dir=out_dir, prefix=".rollout-run-"))
    except OSError as exc:
        raise OutputError(f"{out_dir}: output folder cannot be written ({exc.strerror or exc})") from None
    try:
        yield stage
        _commit(stage, out_dir, set(replaces))
    except OSError as exc:
        raise OutputError(f"{out_dir}: could not write the outputs ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _commit(stage: Path, out_dir: Path, replaces: set[str]) -> None:
    """Move the staged files into ``out_dir`` with interrupts held back; remove stale ``replaces`` files."""
    import signal

    names = sorted(p.name for p in stage.iterdir() if not p.name.startswith("."))
    blocked = [n for n in names if (out_dir / n).is_dir()]
    if blocked:
        raise OutputError(f"{out_dir / blocked[0]}: is a folder; cannot write the output file there")
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        for name in sorted(replaces - set(names)):
            stale = out_dir / name
            if stale.is_file() or stale.is_symlink():
                stale.unlink()
        for name in names:
            os.replace(stage / name, out_dir / name)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
