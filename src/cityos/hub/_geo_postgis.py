"""Turn a :class:`~cityos.hub.geo.GeoQuery` into SQL for PostgreSQL + PostGIS (psycopg 3).

The column holding a GeoProperty is ``geography(Geometry, 4326)``:

* ``near`` runs on geography, i.e. geodesically on the WGS84 spheroid in metres
  (``ST_DWithin``/``ST_Distance`` with ``use_spheroid`` true, their default), so it agrees
  with the shapely path and a GiST index on the column serves ``near;maxDistance``;
* the topological relations cast the column to ``geometry`` and use the OGC predicates
  (``ST_Within`` …), i.e. planar longitude/latitude exactly like shapely. A GiST index on
  ``(column::geometry)`` serves them.

Geography was chosen over geometry because metres-accurate distances need no per-query
reprojection and no ``ST_DistanceSpheroid`` (which no index can use).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from cityos.hub.geo import GeoQuery

_QUERY_GEOGRAPHY: Final = "ST_GeomFromGeoJSON(%s)::geography"
_QUERY_GEOMETRY: Final = "ST_SetSRID(ST_GeomFromGeoJSON(%s), 4326)"
_FUNCTIONS: Final = {
    "within": "ST_Within",
    "contains": "ST_Contains",
    "intersects": "ST_Intersects",
    "overlaps": "ST_Overlaps",
    "disjoint": "ST_Disjoint",
    "equals": "ST_Equals",
}
# A column name, optionally qualified by a table alias; never user input, but checked anyway
# because it is pasted into the SQL text.
_COLUMN: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?")


def _column(column: str) -> str:
    if not _COLUMN.fullmatch(column):
        raise ValueError(f"not a plain (optionally qualified) SQL column name: {column!r}")
    return column


def postgis_condition(q: GeoQuery, column: str) -> tuple[str, list[Any]]:
    """Return a WHERE fragment with %s placeholders testing a geography column against q."""
    col = _column(column)
    geojson = json.dumps(q.geojson)
    if q.georel == "near":
        if q.distance_kind == "maxDistance":
            return f"ST_DWithin({col}, {_QUERY_GEOGRAPHY}, %s)", [geojson, q.distance]
        return f"ST_Distance({col}, {_QUERY_GEOGRAPHY}) >= %s", [geojson, q.distance]
    function = _FUNCTIONS[q.georel]
    return f"{function}({col}::geometry, {_QUERY_GEOMETRY})", [geojson]


def postgis_distance(q: GeoQuery, column: str) -> tuple[str, list[Any]]:
    """Return an SQL expression of the geodesic distance [m] from q's point to the column."""
    col = _column(column)
    origin = q.geometry if q.geometry.geom_type == "Point" else q.geometry.centroid
    point = json.dumps({"type": "Point", "coordinates": [origin.x, origin.y]})
    return f"ST_Distance({col}, {_QUERY_GEOGRAPHY})", [point]
