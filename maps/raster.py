"""Lattice values rendered as a small palette PNG that lines up with a Web-Mercator map.

The map draws the best-server RSRP of a plan (150,000-250,000 H3 lattice points for Qingdao) as ONE
image overlay instead of as many vector shapes. :func:`lattice_raster` paints each pixel with the class
of the lattice point nearest to the pixel centre, when that point's own hexagon can reach it (the
nearest centre within the circumradius of the point's cell: the hexagon tiling, up to the pixel
size), and leaves it transparent otherwise. :func:`png_bytes` encodes the class indices as an 8-bit
palette PNG with the standard library only (zlib, struct).

Alignment: Leaflet stretches an image overlay linearly between its corner coordinates in Web-Mercator
pixels. Columns are therefore equally spaced in longitude and rows equally spaced in Mercator *y* (not
in latitude), so every pixel lands where its centre was computed. Distances (nearest lattice point,
circumradius) are measured in the UTM zone of the data's centre (:func:`gis.crs.utm_epsg`). A lattice
that crosses the antimeridian is not supported (a city never does).
"""
from __future__ import annotations

import base64
import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from gis.crs import lonlat_to_xy, utm_epsg

MAX_SIDE_PX = 2048          # longest image side
MIN_PIXEL_M = 20.0          # no finer than this, whatever the lattice
TRANSPARENT = 255           # class index of a pixel no lattice point reaches


@dataclass
class LatticeRaster:
    """Class index per pixel (``TRANSPARENT`` where nothing is drawn), the image bounds and the pixel size.

    ``bounds`` = (west, south, east, north) in degrees (WGS-84); ``pixel_m`` is the ground size of a
    pixel at the centre of the image [m].
    """

    index: np.ndarray
    bounds: tuple[float, float, float, float]
    pixel_m: float


def mercator_y(lat_deg) -> np.ndarray:
    """Web-Mercator y (radians of the projection, unscaled) of latitudes in degrees."""
    phi = np.radians(np.asarray(lat_deg, dtype=float))
    return np.log(np.tan(np.pi / 4 + phi / 2))


def mercator_lat(y) -> np.ndarray:
    """Latitude in degrees of Web-Mercator y (the inverse of :func:`mercator_y`)."""
    return np.degrees(2 * np.arctan(np.exp(np.asarray(y, dtype=float))) - np.pi / 2)


def hexagon_circumradius_m(area_km2) -> np.ndarray:
    """Circumradius [m] of a regular hexagon of the given area (area = 3 sqrt(3) / 2 r^2)."""
    return np.sqrt(2 * np.asarray(area_km2, dtype=float) * 1e6 / (3 * math.sqrt(3)))


def lattice_raster(lon, lat, cls, area_km2, *, max_side_px: int = MAX_SIDE_PX,
                   min_pixel_m: float = MIN_PIXEL_M) -> LatticeRaster:
    """Paint lattice points (centres of hexagonal cells of ``area_km2``) of class ``cls`` (0..254) into pixels.

    The pixel size is half the spacing of the finest lattice (the 5th percentile of the distances between
    neighbouring points; at most the smallest circumradius), so that each lattice point has pixels of its own, but no finer than
    ``min_pixel_m`` and no finer than the image's longest side allows (``max_side_px``); there, neighbouring
    points may share a pixel, which shows the class of the point nearest to its centre.
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    cls = np.asarray(cls, dtype=np.uint8)
    reach_m = hexagon_circumradius_m(area_km2)
    ok = np.isfinite(lon) & np.isfinite(lat) & np.isfinite(reach_m) & (reach_m > 0)
    lon, lat, cls, reach_m = lon[ok], lat[ok], cls[ok], reach_m[ok]
    if not len(lon):
        return LatticeRaster(np.full((1, 1), TRANSPARENT, np.uint8), (0.0, 0.0, 0.0, 0.0), 0.0)
    pad = float(reach_m.max())
    crs = utm_epsg(float(np.median(lon)), float(np.median(lat)))
    xy = np.column_stack(lonlat_to_xy(lon, lat, crs))
    lat0 = float(np.radians((lat.min() + lat.max()) / 2))
    m_per_deg_lon = 111_320.0 * math.cos(lat0)
    w = float(lon.min()) - pad / m_per_deg_lon
    e = float(lon.max()) + pad / m_per_deg_lon
    s = float(lat.min()) - pad / 110_574.0
    n = float(lat.max()) + pad / 110_574.0
    width_m = (e - w) * m_per_deg_lon
    height_m = (n - s) * 110_574.0
    tree = cKDTree(xy)
    spacing_m = float(np.percentile(tree.query(xy, k=2)[0][:, 1], 5)) if len(xy) > 1 else 2 * pad
    pixel_m = max(min(spacing_m / 2, float(reach_m.min())), min_pixel_m, max(width_m, height_m) / max_side_px)
    nx, ny = max(1, math.ceil(width_m / pixel_m)), max(1, math.ceil(height_m / pixel_m))
    px_lon = w + (np.arange(nx) + 0.5) * (e - w) / nx
    y_n, y_s = mercator_y(n), mercator_y(s)
    px_lat = mercator_lat(y_n - (np.arange(ny) + 0.5) * (y_n - y_s) / ny)   # rows top down, Mercator-spaced
    index = np.full((ny, nx), TRANSPARENT, dtype=np.uint8)
    # only pixels near some point are looked up: mark the pixels of each point, grown by its reach
    grow = int(math.ceil(pad / pixel_m)) + 1
    near = np.zeros((ny, nx), bool)
    col = np.clip(((lon - w) / (e - w) * nx).astype(int), 0, nx - 1)
    row = np.clip(((y_n - mercator_y(lat)) / (y_n - y_s) * ny).astype(int), 0, ny - 1)
    near[row, col] = True
    near = _grow(near, grow)
    rr, cc = np.nonzero(near)
    pxy = np.column_stack(lonlat_to_xy(px_lon[cc], px_lat[rr], crs))
    dist, nearest = tree.query(pxy, distance_upper_bound=pad)
    hit = np.isfinite(dist)
    hit[hit] = dist[hit] <= reach_m[nearest[hit]]
    index[rr[hit], cc[hit]] = cls[nearest[hit]]
    return LatticeRaster(index, (w, s, e, n), pixel_m)


def _grow(mask: np.ndarray, k: int) -> np.ndarray:
    """``mask`` dilated by a (2k+1) square, with cumulative sums (no per-pixel loop)."""
    if k <= 0:
        return mask
    out = mask
    for axis in (0, 1):
        c = np.cumsum(np.pad(out.astype(np.int32), [(k + 1, k) if a == axis else (0, 0) for a in (0, 1)]),
                      axis=axis)
        hi = np.take(c, np.arange(2 * k + 1, c.shape[axis]), axis=axis)
        lo = np.take(c, np.arange(0, c.shape[axis] - 2 * k - 1), axis=axis)
        out = (hi - lo) > 0
    return out


def png_bytes(index: np.ndarray, palette: list[tuple[int, int, int, int]]) -> bytes:
    """An 8-bit palette PNG of ``index`` (rows top down); ``palette[i]`` = (r, g, b, alpha) of index i.

    Indices beyond the palette are drawn fully transparent.
    """
    index = np.ascontiguousarray(index, dtype=np.uint8)
    if index.ndim != 2 or not index.size:
        raise ValueError("png_bytes needs a non-empty 2-D array of class indices")
    h, w = index.shape
    pal = list(palette)[:256]
    top = int(index.max())
    pal += [(0, 0, 0, 0)] * (top + 1 - len(pal))
    rows = np.empty((h, w + 1), dtype=np.uint8)
    rows[:, 0] = 0                      # filter type 0 (None) on every row
    rows[:, 1:] = index

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return b"".join([
        b"\x89PNG\r\n\x1a\n",
        chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0)),
        chunk(b"PLTE", bytes(v for r, g, b, _ in pal for v in (r, g, b))),
        chunk(b"tRNS", bytes(a for *_, a in pal)),
        chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)),
        chunk(b"IEND", b""),
    ])


def png_data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` of PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
