"""The hub's geo layer: GeoProperty validation and the NGSI-LD geo-query language.

Implements ETSI GS CIM 009 v1.8 clause 4.10 (geo-query language) over GeoJSON geometries
(RFC 7946; clause 4.7). Everything here is pure: the store turns a :class:`GeoQuery` into
SQL with :func:`postgis_condition` (PostgreSQL) or pre-filters its point cells and R*Tree
with :meth:`GeoQuery.search_window` and finishes with :meth:`GeoQuery.matches` (SQLite).

Semantics (see ``docs/hub/geo.md``): the relation reads *entity geometry REL query
geometry*; topological relations are OGC simple-features predicates (DE-9IM) on
longitude/latitude treated as planar coordinates, as PostGIS does on ``geometry``;
``near`` uses geodesic distance on the WGS84 ellipsoid in metres. Bad input raises
:class:`~cityos.hub.errors.BadRequestData` (GS CIM 009, 5.7.2: a geo-query that is not
valid is a BadRequestData error) and nothing else.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

import shapely
from shapely.errors import GEOSException
from shapely.geometry.base import BaseGeometry

from cityos.hub._geo_distance import (
    BBox,
    distance_to_geometry_m,
    geodesic_distance_m,
    near_window,
)
from cityos.hub._geo_geojson import (
    EXAMPLE_COORDINATES,
    GEOMETRY_TYPES,
    MAX_POSITIONS,
    _Budget,
    brief,
    build_geometry,
    check_coordinates,
    parse_coordinates_text,
    parse_geojson_geometry,
    parse_geojson_geometry_normalised,
    validate_geojson_geometry,
)
from cityos.hub._geo_postgis import postgis_condition, postgis_distance
from cityos.hub.errors import BadRequestData, HubError

__all__ = [
    "GEOMETRY_TYPES",
    "GEORELS",
    "LOCATION_IRI",
    "MAX_POSITIONS",
    "BBox",
    "GeoQuery",
    "GeoRel",
    "geodesic_distance_m",
    "parse_geo_query",
    "parse_geojson_geometry",
    "parse_geojson_geometry_normalised",
    "validate_geojson_geometry",
    "postgis_condition",
    "postgis_distance",
]

GeoRel = Literal["near", "within", "contains", "intersects", "overlaps", "disjoint", "equals"]
DistanceKind = Literal["maxDistance", "minDistance"]
GEORELS: Final[tuple[str, ...]] = get_args(GeoRel)
LOCATION_IRI: Final = "https://uri.etsi.org/ngsi-ld/location"

_EXAMPLE_QUERY: Final = (
    "georel=near;maxDistance==2000&geometry=Point&coordinates=[127.2653,36.5047]"
)
_GEOREL_FORMS: Final = (
    "near;maxDistance==<metres>, near;minDistance==<metres>, within, contains, "
    "intersects, overlaps, disjoint, equals"
)
# A decimal number as the spec's grammar writes it; no nan/inf/underscores that float() takes.
_NUMBER: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
# Characters an NGSI-LD attribute name may not contain (GS CIM 009, 4.6.2), plus whitespace.
_BAD_NAME: Final = re.compile(r"[\s<>\"'=;()\x00-\x1f\x7f]")


@dataclass(frozen=True)
class GeoQuery:
    """One NGSI-LD geo-query: *entity geometry* ``georel`` *query geometry*."""

    georel: GeoRel
    geometry: BaseGeometry  # the query geometry, lon/lat [deg], 2D
    geojson: dict[str, Any] = field(compare=False)  # the same, as normalised GeoJSON
    geoproperty: str = LOCATION_IRI  # expanded IRI of the GeoProperty to test
    distance_kind: DistanceKind | None = None  # near only
    distance: float | None = None  # near only [m]

    def __post_init__(self) -> None:
        if self.georel not in GEORELS:
            raise BadRequestData(
                f"unknown georel {brief(self.georel)}; expected {_GEOREL_FORMS}; "
                f"e.g. {_EXAMPLE_QUERY}"
                f" / 알 수 없는 georel {brief(self.georel)}입니다. {_GEOREL_FORMS} 중 하나를 "
                f"쓰세요. 예: {_EXAMPLE_QUERY}"
            )
        if self.georel == "near":
            if self.geometry.geom_type != "Point":
                raise BadRequestData(
                    f"georel near needs geometry Point, got {self.geometry.geom_type}; "
                    f"e.g. {_EXAMPLE_QUERY}"
                    " / georel near에는 geometry Point가 필요한데 "
                    f"{self.geometry.geom_type}입니다. 예: {_EXAMPLE_QUERY}"
                )
            if self.distance_kind not in ("maxDistance", "minDistance") or not (
                self.distance is not None and math.isfinite(self.distance) and self.distance >= 0
            ):
                raise BadRequestData(
                    "georel near needs maxDistance==<metres> or minDistance==<metres> with a "
                    f"finite distance >= 0; e.g. {_EXAMPLE_QUERY}"
                    " / georel near에는 0 이상의 유한한 거리로 maxDistance==<미터> 또는 "
                    f"minDistance==<미터>가 필요합니다. 예: {_EXAMPLE_QUERY}"
                )
        elif self.distance_kind is not None or self.distance is not None:
            raise BadRequestData(
                f"georel {self.georel} takes no distance; only near does, "
                "e.g. georel=near;maxDistance==2000"
                f" / georel {self.georel}에는 거리를 줄 수 없습니다. 거리는 near에만 씁니다. "
                "예: georel=near;maxDistance==2000"
            )
        # Prepared geometries answer repeated predicates much faster (one query, many entities).
        shapely.prepare(self.geometry)

    @property
    def georel_text(self) -> str:
        """Return the georel as NGSI-LD writes it, e.g. ``near;maxDistance==2000``."""
        if self.georel == "near":
            return f"near;{self.distance_kind}=={self.distance:g}"
        return self.georel

    def distance_m(self, geom: BaseGeometry) -> float:
        """Return the geodesic distance from the query point to the nearest point of geom [m].

        For a query geometry that is not a Point (not a ``near`` query) the distance is
        measured from its planar centroid. An empty geometry is infinitely far.
        """
        origin = self.geometry if self.geometry.geom_type == "Point" else self.geometry.centroid
        try:
            return distance_to_geometry_m(origin.x, origin.y, geom)
        except (GEOSException, ValueError):  # pragma: no cover - defensive, invalid geometry
            return math.inf

    def matches(self, geom: BaseGeometry) -> bool:
        """Return whether one geometry instance of an entity satisfies the geo-query."""
        if geom is None or geom.is_empty:
            return False
        q = self.geometry
        try:
            if self.georel == "near":
                assert self.distance is not None  # checked in __post_init__
                d = self.distance_m(geom)
                if self.distance_kind == "maxDistance":
                    return d <= self.distance
                return d >= self.distance
            relation: Callable[[BaseGeometry, BaseGeometry], Any] = _PREDICATES[self.georel]
            return bool(relation(geom, q))
        except GEOSException:  # pragma: no cover - GEOS >= 3.13 handles all valid inputs
            return False

    def _instance_geometries(self, entity: dict[str, Any]) -> Iterator[BaseGeometry]:
        attrs = entity.get("attrs") if isinstance(entity, dict) else None
        instances = attrs.get(self.geoproperty) if isinstance(attrs, dict) else None
        if not isinstance(instances, list):
            return
        for instance in instances:
            if not isinstance(instance, dict) or instance.get("type") != "GeoProperty":
                continue
            try:
                yield parse_geojson_geometry(instance.get("value"))
            except HubError:  # a stored value we cannot read matches nothing
                continue

    def entity_matches(self, entity: dict[str, Any]) -> bool:
        """Return whether any instance of the entity's geoproperty satisfies the geo-query."""
        if self.georel == "near":
            fast = self._near_points(entity)
            if fast is not None:
                return fast
        return any(self.matches(geom) for geom in self._instance_geometries(entity))

    def _near_points(self, entity: dict[str, Any]) -> bool | None:
        """Answer ``near`` for entities whose instances are all Points, without shapely.

        Stored GeoProperty values were validated on write, so a Point's coordinates are two
        or three finite numbers in range. Return None when some instance is not a Point.
        """
        instances = entity.get("attrs", {}).get(self.geoproperty)
        if not isinstance(instances, list):
            return False
        assert self.distance is not None
        lon, lat = self.geometry.x, self.geometry.y
        found = False
        for instance in instances:
            if instance.get("type") != "GeoProperty":
                continue
            value = instance.get("value")
            if not isinstance(value, dict) or value.get("type") != "Point":
                return None
            plon, plat = value["coordinates"][:2]
            d = geodesic_distance_m(lon, lat, plon, plat)
            hit = d <= self.distance if self.distance_kind == "maxDistance" else d >= self.distance
            found = found or hit
        return found

    def entity_distance_m(self, entity: dict[str, Any]) -> float:
        """Return the smallest distance_m over the entity's geoproperty instances [m]."""
        return min(
            (self.distance_m(g) for g in self._instance_geometries(entity)), default=math.inf
        )

    def search_window(self) -> BBox | None:
        """Return a lon/lat box [deg] every matching geometry's bbox overlaps, or None.

        None when no box can exclude anything (``disjoint``, ``near;minDistance``).
        """
        if self.georel == "disjoint" or self.distance_kind == "minDistance":
            return None
        if self.georel == "near":
            assert self.distance is not None
            return near_window(self.geometry.x, self.geometry.y, self.distance)
        minx, miny, maxx, maxy = self.geometry.bounds
        return (float(minx), float(miny), float(maxx), float(maxy))


_PREDICATES: Final[dict[str, Callable[[BaseGeometry, BaseGeometry], Any]]] = {
    "within": shapely.within,
    "contains": shapely.contains,
    "intersects": shapely.intersects,
    "overlaps": shapely.overlaps,
    "disjoint": shapely.disjoint,
    "equals": shapely.equals,
}


def _parse_georel(text: str) -> tuple[GeoRel, DistanceKind | None, float | None]:
    """Return (relation, distance kind, distance [m]) of a georel parameter."""
    name, *modifiers = (part.strip() for part in text.split(";"))
    if name not in GEORELS:
        raise BadRequestData(
            f"unknown georel {brief(name)}; expected one of {_GEOREL_FORMS}; e.g. {_EXAMPLE_QUERY}"
            f" / 알 수 없는 georel {brief(name)}입니다. {_GEOREL_FORMS} 중 하나를 쓰세요. 예: "
            f"{_EXAMPLE_QUERY}"
        )
    rel: GeoRel = name  # type: ignore[assignment]  # membership checked just above
    if rel != "near":
        if modifiers:
            raise BadRequestData(
                f"georel {rel} takes no modifiers, got {brief(';'.join(modifiers))}; "
                f"only near takes maxDistance==<metres> or minDistance==<metres>; e.g. georel={rel}"
                f" / georel {rel}에는 수식어를 붙일 수 없는데 "
                f"{brief(';'.join(modifiers))}이(가) 있습니다. maxDistance==<미터>나 "
                f"minDistance==<미터>는 near에만 붙습니다. 예: georel={rel}"
            )
        return rel, None, None
    if len(modifiers) != 1:
        raise BadRequestData(
            "georel near needs exactly one of maxDistance==<metres> or minDistance==<metres>, "
            f"got {len(modifiers)} modifier(s); e.g. georel=near;maxDistance==2000"
            " / georel near에는 maxDistance==<미터>와 minDistance==<미터> 중 정확히 하나가 "
            f"필요한데 수식어가 {len(modifiers)}개입니다. 예: georel=near;maxDistance==2000"
        )
    key, sep, number = modifiers[0].partition("==")
    key = key.strip()
    if not sep or key not in ("maxDistance", "minDistance"):
        raise BadRequestData(
            f"georel near: bad modifier {brief(modifiers[0])}; write maxDistance==<metres> or "
            "minDistance==<metres>, e.g. georel=near;maxDistance==2000"
            f" / georel near: 잘못된 수식어 {brief(modifiers[0])}입니다. maxDistance==<미터> "
            "또는 minDistance==<미터>로 쓰세요. 예: georel=near;maxDistance==2000"
        )
    number = number.strip()
    if not _NUMBER.fullmatch(number):
        raise BadRequestData(
            f"georel near: {key} must be a number of metres, got {brief(number)}; "
            "e.g. georel=near;maxDistance==2000"
            f" / georel near: {key}은(는) 미터 단위 숫자여야 하는데 {brief(number)}입니다. "
            "예: georel=near;maxDistance==2000"
        )
    value = float(number)
    if not math.isfinite(value):
        raise BadRequestData(
            f"georel near: {key} {number:.40} is not a finite number of metres; "
            "e.g. georel=near;maxDistance==2000"
            f" / georel near: {key} {number:.40}은(는) 유한한 미터 값이 아닙니다. 예: "
            "georel=near;maxDistance==2000"
        )
    if value < 0:
        raise BadRequestData(
            f"georel near: {key} must not be negative, got {number:.40}; "
            "e.g. georel=near;maxDistance==2000"
            f" / georel near: {key}은(는) 음수일 수 없는데 {number:.40}입니다. 예: "
            "georel=near;maxDistance==2000"
        )
    kind: DistanceKind = key  # type: ignore[assignment]  # checked above
    return rel, kind, value


def _check_geoproperty(name: object, expand: Callable[[str], str]) -> str:
    if not isinstance(name, str) or not name:
        raise BadRequestData(
            "geoproperty must be a non-empty attribute name, e.g. geoproperty=location"
            " / geoproperty는 비어 있지 않은 속성 이름이어야 합니다. 예: geoproperty=location"
        )
    if _BAD_NAME.search(name):
        raise BadRequestData(
            f"geoproperty {brief(name)} is not a valid attribute name (no whitespace or any of "
            "< > \" ' = ; ( )); e.g. geoproperty=location"
            f" / geoproperty {brief(name)}은(는) 올바른 속성 이름이 아닙니다(공백이나 < > \" ' "
            "= ; ( )를 쓸 수 없습니다). 예: geoproperty=location"
        )
    return expand(name)


def parse_geo_query(
    georel: str | None,
    geometry: str | None,
    coordinates: str | list[Any] | None,
    geoproperty: str | None = None,
    *,
    expand: Callable[[str], str],
) -> GeoQuery | None:
    """Return the geo-query of NGSI-LD request parameters, None if none asked (GS CIM 009 4.10).

    ``coordinates`` is the JSON text of a URL parameter or the already-decoded array of a
    POST body or a subscription's ``geoQ``. ``expand`` maps an attribute name to its IRI by
    the request's @context; the default geoproperty is ``location``
    (``https://uri.etsi.org/ngsi-ld/location``).
    """
    given = {"georel": georel, "geometry": geometry, "coordinates": coordinates}
    if all(value is None for value in given.values()):
        if geoproperty is not None:
            raise BadRequestData(
                "geoproperty given without a geo-query; add georel, geometry and coordinates, "
                f"e.g. {_EXAMPLE_QUERY}&geoproperty=location"
                " / geo-query 없이 geoproperty를 주었습니다. georel, geometry, coordinates를 "
                f"함께 주세요. 예: {_EXAMPLE_QUERY}&geoproperty=location"
            )
        return None
    missing = [name for name, value in given.items() if value is None]
    if missing:
        raise BadRequestData(
            f"incomplete geo-query: {' and '.join(missing)} missing; georel, geometry and "
            f"coordinates go together, e.g. {_EXAMPLE_QUERY}"
            f" / geo-query가 불완전합니다: {' and '.join(missing)}이(가) 없습니다. georel, "
            f"geometry, coordinates는 함께 줘야 합니다. 예: {_EXAMPLE_QUERY}"
        )
    if not isinstance(georel, str):
        raise BadRequestData(
            f"georel must be a string; e.g. {_EXAMPLE_QUERY}"
            f" / georel은 문자열이어야 합니다. 예: {_EXAMPLE_QUERY}"
        )
    rel, kind, distance = _parse_georel(georel)
    if not isinstance(geometry, str) or geometry not in GEOMETRY_TYPES:
        hint = ""
        if isinstance(geometry, str):
            close = [t for t in GEOMETRY_TYPES if t.lower() == geometry.strip().lower()]
            hint = f" (did you mean {close[0]}? names are case-sensitive)" if close else ""
        raise BadRequestData(
            f"geometry {brief(geometry)} is not a geo-query geometry{hint}; expected one of "
            f"{', '.join(GEOMETRY_TYPES)}; e.g. geometry=Point"
            f" / geometry {brief(geometry)}은(는) geo-query 도형이 아닙니다. "
            f"{', '.join(GEOMETRY_TYPES)} 중 하나를 쓰세요(대소문자를 구분합니다). 예: "
            "geometry=Point"
        )
    if rel == "near" and geometry != "Point":
        raise BadRequestData(
            f"georel near needs geometry Point, got {geometry}; e.g. {_EXAMPLE_QUERY}"
            f" / georel near에는 geometry Point가 필요한데 {geometry}입니다. 예: "
            f"{_EXAMPLE_QUERY}"
        )
    if isinstance(coordinates, str):
        raw: object = parse_coordinates_text(coordinates, geometry)
    elif isinstance(coordinates, list | tuple):
        raw = coordinates
    else:
        raise BadRequestData(
            f"coordinates must be a JSON array, got {type(coordinates).__name__}; "
            f"e.g. coordinates={EXAMPLE_COORDINATES[geometry]}"
            f" / coordinates는 JSON 배열이어야 하는데 {type(coordinates).__name__}입니다. 예: "
            f"coordinates={EXAMPLE_COORDINATES[geometry]}"
        )
    coords = check_coordinates(geometry, raw, "coordinates", _Budget())
    geom = build_geometry(geometry, coords, "coordinates")
    iri = LOCATION_IRI if geoproperty is None else _check_geoproperty(geoproperty, expand)
    return GeoQuery(
        georel=rel,
        geometry=geom,
        geojson={"type": geometry, "coordinates": coords},
        geoproperty=iri,
        distance_kind=kind,
        distance=distance,
    )
