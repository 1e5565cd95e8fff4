"""Geodesic distances on the WGS84 ellipsoid and safe search windows around a point.

Distances between two positions are Karney's geodesics (``pyproj.Geod``, GeographicLib),
exact to well under a millimetre. From a point to a line or polygon the distance is
measured to the nearest point of the geometry, where "nearest" is found per segment in a
local equirectangular frame (longitude scaled by the cosine of the segment's mid-latitude)
and the distance to that point is then measured geodesically. The result is always the true
geodesic distance to *some* point of the geometry (so never too small) and, for the
city-scale geometries the hub stores, within centimetres of the true minimum.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Geod
from shapely.geometry.base import BaseGeometry

#: WGS84 semi-major axis [m] and flattening (NIMA TR8350.2).
WGS84_A: Final = 6_378_137.0
WGS84_F: Final = 1 / 298.257223563
_E2: Final = WGS84_F * (2 - WGS84_F)
#: Smallest meridional radius of curvature, at the equator: a(1 - e^2) [m/rad].
_MERIDIAN_RADIUS_MIN: Final = WGS84_A * (1 - _E2)
# Relative and absolute slack added to windows so float rounding can never cut a match [deg].
_SLACK_REL: Final = 1e-9
_SLACK_DEG: Final = 1e-9

_GEOD: Final = Geod(ellps="WGS84")

BBox = tuple[float, float, float, float]


def geodesic_distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Return the WGS84 geodesic distance between two positions [m]."""
    _, _, dist = _GEOD.inv(lon1, lat1, lon2, lat2)
    return float(dist)


def _simple_parts(geom: BaseGeometry) -> list[BaseGeometry]:
    """Return the points, lines and polygons inside ``geom`` (collections flattened)."""
    parts: list[BaseGeometry] = []
    stack = [geom]
    while stack:
        item = stack.pop()
        if item.is_empty:
            continue
        if item.geom_type in ("Point", "LineString", "LinearRing", "Polygon"):
            parts.append(item)
        else:
            stack.extend(shapely.get_parts(item))
    return parts


def _wrap_deg(delta: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return longitude differences folded into [-180, 180) [deg]."""
    return np.asarray((delta + 180.0) % 360.0 - 180.0, dtype=np.float64)


def _segment_candidates(
    lon: float, lat: float, a: NDArray[np.float64], b: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Return, per segment a->b, its point nearest (lon, lat) in a local frame [deg]."""
    scale = np.cos(np.radians((a[:, 1] + b[:, 1]) / 2.0))
    abx = (b[:, 0] - a[:, 0]) * scale
    aby = b[:, 1] - a[:, 1]
    apx = _wrap_deg(lon - a[:, 0]) * scale
    apy = lat - a[:, 1]
    length2 = abx * abx + aby * aby
    safe = np.where(length2 > 0.0, length2, 1.0)
    t = np.where(length2 > 0.0, np.clip((apx * abx + apy * aby) / safe, 0.0, 1.0), 0.0)
    return np.asarray(a + t[:, None] * (b - a), dtype=np.float64)


def distance_to_geometry_m(lon: float, lat: float, geom: BaseGeometry) -> float:
    """Return the geodesic distance from a position to the nearest point of ``geom`` [m]."""
    if geom.is_empty:
        return math.inf
    if shapely.intersects(geom, shapely.Point(lon, lat)):
        return 0.0
    candidates: list[NDArray[np.float64]] = []
    for part in _simple_parts(geom):
        if part.geom_type == "Point":
            candidates.append(shapely.get_coordinates(part))
            continue
        lines = shapely.get_rings(part) if part.geom_type == "Polygon" else [part]
        for line in lines:
            coords = shapely.get_coordinates(line)
            candidates.append(coords)
            if len(coords) > 1:
                candidates.append(_segment_candidates(lon, lat, coords[:-1], coords[1:]))
    if not candidates:
        return math.inf
    points = np.concatenate(candidates)
    _, _, dist = _GEOD.inv(
        np.full(len(points), lon), np.full(len(points), lat), points[:, 0], points[:, 1]
    )
    return float(np.min(dist))


def near_window(lon: float, lat: float, max_distance_m: float) -> BBox:
    """Return a lon/lat box holding every position within ``max_distance_m`` of a point [deg].

    Any path of length s stays within s / a(1-e^2) radians of latitude (the smallest
    meridional radius) and, while inside that latitude band, within s / (a cos(phi_max))
    radians of longitude (the smallest parallel radius in the band; N(phi) >= a). When the
    band reaches a pole or the box would cross the antimeridian, the whole longitude range
    is returned: conservative, never wrong.
    """
    dlat = math.degrees(max_distance_m / _MERIDIAN_RADIUS_MIN) * (1 + _SLACK_REL) + _SLACK_DEG
    south, north = lat - dlat, lat + dlat
    if south <= -90.0 or north >= 90.0:
        return (-180.0, max(-90.0, south), 180.0, min(90.0, north))
    cos_edge = math.cos(math.radians(max(abs(south), abs(north))))
    dlon = math.degrees(max_distance_m / (WGS84_A * cos_edge)) * (1 + _SLACK_REL) + _SLACK_DEG
    if lon - dlon < -180.0 or lon + dlon > 180.0:
        return (-180.0, south, 180.0, north)
    return (lon - dlon, south, lon + dlon, north)
