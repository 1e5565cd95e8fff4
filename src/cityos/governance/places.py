"""Where a complaint is: inside (or near) Sejong, distances, and school zones.

Pure functions on WGS84 coordinates [degrees]. Distances use a local equirectangular
projection centred on Sejong (36.5° N); over the city's ~30 km the error is well under 1 %,
far below what a phone's GPS adds. School zones (어린이보호구역) are circles of
:data:`SCHOOL_ZONE_RADIUS_M` around the twin's school facilities (``data/twin/facilities.geojson``;
most of those schools are synthetic, placed by the twin's bundle builder — see its README):
the Road Traffic Act (도로교통법 제12조) lets a city designate up to 300 m from a school gate.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import numpy as np
import shapely
from shapely.geometry import Point, shape
from shapely.prepared import prep

NEAR_SEJONG_M = 2_000.0  # [m] how far outside the city boundary a point is still accepted
SCHOOL_ZONE_RADIUS_M = 300.0  # [m] 어린이보호구역: up to 300 m from a school (도로교통법 제12조)
_LAT0 = 36.5  # [deg] projection centre
_M_PER_DEG_LAT = 110_574.0  # [m/deg]
_M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(_LAT0))  # [m/deg] at 36.5° N


def to_metres(lon: float, lat: float) -> tuple[float, float]:
    """Return (x, y) [m] of a WGS84 point in Sejong's local equirectangular projection."""
    return lon * _M_PER_DEG_LON, lat * _M_PER_DEG_LAT


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the distance [m] between two nearby WGS84 points (local projection)."""
    x1, y1 = to_metres(lon1, lat1)
    x2, y2 = to_metres(lon2, lat2)
    return math.hypot(x1 - x2, y1 - y2)


@cache
def _city() -> tuple[shapely.Geometry, object]:
    data = json.loads((files("cityos") / "data" / "sejong" / "city.geojson").read_text("utf-8"))
    polygon = shape(data["features"][0]["geometry"])
    projected = shapely.transform(
        polygon, lambda xy: xy * np.array([_M_PER_DEG_LON, _M_PER_DEG_LAT])
    )
    return projected, prep(projected)


def outside_sejong_m(lat: float, lon: float) -> float:
    """Return how far [m] a point lies outside Sejong's boundary (0 inside)."""
    projected, prepared = _city()
    point = Point(*to_metres(lon, lat))
    if prepared.contains(point):  # type: ignore[attr-defined]
        return 0.0
    return float(projected.distance(point))


@dataclass(frozen=True)
class School:
    """A school of the twin's facility bundle."""

    id: str
    name_ko: str
    name_en: str
    lat: float
    lon: float


@cache
def schools() -> tuple[School, ...]:
    """Return the twin's schools (``kind == "school"`` in ``data/twin/facilities.geojson``)."""
    path = files("cityos") / "data" / "twin" / "facilities.geojson"
    data = json.loads(path.read_text("utf-8"))
    return tuple(
        School(
            id=f["properties"]["id"],
            name_ko=f["properties"]["name_ko"],
            name_en=f["properties"]["name_en"],
            lon=f["geometry"]["coordinates"][0],
            lat=f["geometry"]["coordinates"][1],
        )
        for f in data["features"]
        if f["properties"].get("kind") == "school"
    )


def school_zone_of(lat: float, lon: float) -> School | None:
    """Return the nearest school whose zone (300 m) holds the point, or None."""
    best: tuple[float, School] | None = None
    for school in schools():
        d = distance_m(lat, lon, school.lat, school.lon)
        if d <= SCHOOL_ZONE_RADIUS_M and (best is None or d < best[0]):
            best = (d, school)
    return best[1] if best else None


def school_zones_geojson() -> dict[str, object]:
    """Return the school zones as GeoJSON points with their radius [m] (for maps)."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [s.lon, s.lat]},
                "properties": {
                    "school": s.id,
                    "name_ko": s.name_ko,
                    "name_en": s.name_en,
                    "radius_m": SCHOOL_ZONE_RADIUS_M,
                },
            }
            for s in schools()
        ],
    }
