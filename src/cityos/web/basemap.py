"""Basemap geometry for the web map, drawn from the package's own data (no tiles).

``cityos/data/twin`` holds the road network (``links.geojson``, with the BRT ring as
``road_class == "brt_ring"``) and facilities (``facilities.geojson``). The map needs no
internet: these are served as GeoJSON FeatureCollections by ``GET /web/basemap/{name}``.
Coordinates are WGS84 longitude/latitude [degrees]; each feature keeps its bundle properties.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

NAMES = ("roads", "brt", "facilities", "parks", "water")


def _bundle(name: str, folder: str = "twin") -> dict[str, Any]:
    text = resources.files("cityos").joinpath(f"data/{folder}/{name}.geojson").read_text("utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


def _collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


@cache
def basemap_bytes(name: str) -> bytes:
    """Return the GeoJSON of one basemap layer as UTF-8 bytes (built once, then cached).

    ``roads`` are the links other than the BRT ring, ``brt`` the ring's links, ``facilities``
    every facility point, ``parks`` and ``water`` the approximate, hand-digitised polygons of
    ``data/basemap/parks_water.geojson`` (its README says how they were drawn). Raises
    ``KeyError`` for any other name.
    """
    if name not in NAMES:
        raise KeyError(name)
    if name in ("parks", "water"):
        kind = "park" if name == "parks" else "water"
        shapes = _bundle("parks_water", "basemap")["features"]
        features = [f for f in shapes if f["properties"]["kind"] == kind]
    elif name == "facilities":
        features = _bundle("facilities")["features"]
    else:
        links = _bundle("links")["features"]
        ring = name == "brt"
        features = [f for f in links if (f["properties"]["road_class"] == "brt_ring") == ring]
    return json.dumps(_collection(features), ensure_ascii=False, separators=(",", ":")).encode()
