"""The GeoJSON representation of entities (GS CIM 009 v1.8, 4.5.16; RFC 7946)."""

from __future__ import annotations

from typing import Any, Protocol

from cityos.hub.model import default_instance


class _Compactor(Protocol):
    def compact(self, iri: str) -> str: ...


def feature(
    entity: dict[str, Any], rendered: dict[str, Any], geoproperty: str, ctx: _Compactor
) -> dict[str, Any]:
    """Return one entity as a GeoJSON Feature whose geometry is ``geoproperty``'s value."""
    geometry = None
    instances = entity["attrs"].get(geoproperty)
    if instances:
        chosen = default_instance(instances) or instances[0]
        if chosen.get("type") == "GeoProperty":
            geometry = chosen["value"]
    properties = {k: v for k, v in rendered.items() if k != "id"}
    return {"id": entity["id"], "type": "Feature", "geometry": geometry, "properties": properties}


def feature_collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    """Return a GeoJSON FeatureCollection of ``features``."""
    return {"type": "FeatureCollection", "features": features}
