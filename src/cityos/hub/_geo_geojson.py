"""Validate GeoJSON geometries (RFC 7946, section 3.1) into shapely geometries.

Every failure raises :class:`~cityos.hub.errors.BadRequestData` with a message that says
where the problem is (``coordinates[0][3]``), what is wrong and what valid input looks like.
Nothing else escapes, whatever the input: the functions here are fed straight from requests.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Final

import shapely
from shapely.errors import GEOSException, ShapelyError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from cityos.hub.errors import BadRequestData

#: Most positions one geometry (or one geo-query) may hold; a DoS guard, not a spec limit.
MAX_POSITIONS: Final = 100_000
#: Longest ``coordinates`` text parsed from a URL [characters] (~100 per position).
MAX_COORDINATES_CHARS: Final = MAX_POSITIONS * 100

#: Depth of array nesting around the numbers, per geometry type (a position is depth 1).
COORDINATE_DEPTH: Final[dict[str, int]] = {
    "Point": 1,
    "MultiPoint": 2,
    "LineString": 2,
    "MultiLineString": 3,
    "Polygon": 3,
    "MultiPolygon": 4,
}
GEOMETRY_TYPES: Final = tuple(COORDINATE_DEPTH)

#: One valid ``coordinates`` value per geometry type, around Sejong, quoted in error messages.
EXAMPLE_COORDINATES: Final[dict[str, str]] = {
    "Point": "[127.2653,36.5047]",
    "MultiPoint": "[[127.2653,36.5047],[127.289,36.48]]",
    "LineString": "[[127.26,36.50],[127.27,36.51]]",
    "MultiLineString": "[[[127.26,36.50],[127.27,36.51]],[[127.28,36.49],[127.29,36.50]]]",
    "Polygon": "[[[127.25,36.49],[127.28,36.49],[127.28,36.52],[127.25,36.52],[127.25,36.49]]]",
    "MultiPolygon": (
        "[[[[127.25,36.49],[127.28,36.49],[127.28,36.52],[127.25,36.52],[127.25,36.49]]]]"
    ),
}
EXAMPLE_GEOMETRY: Final = '{"type": "Point", "coordinates": [127.2653, 36.5047]}'

_Coordinates = list[Any]


class _Budget:
    """Count positions across one geometry (and its collection members)."""

    def __init__(self) -> None:
        self.positions = 0

    def take(self, where: str) -> None:
        self.positions += 1
        if self.positions > MAX_POSITIONS:
            raise BadRequestData(
                f"{where}: too many positions; at most {MAX_POSITIONS:,} are accepted in one "
                "geometry; simplify it (e.g. with a 1 m tolerance) or split it into several "
                "entities"
                f" / {where}: 위치가 너무 많습니다. 도형 하나에 최대 {MAX_POSITIONS:,}개까지 "
                "받습니다. 도형을 단순화하거나(예: 1 m 허용 오차) 여러 엔터티로 나누세요"
            )


def brief(value: object) -> str:
    """Return a short, always-computable rendering of a user value for error messages."""
    if isinstance(value, str):
        return repr(value[:60]) + ("…" if len(value) > 60 else "")
    if value is None or isinstance(value, bool | float):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if abs(value) < 10**30 else "a huge integer"
    return f"a {type(value).__name__}"


def _depth_of(value: object) -> int:
    """Return the array nesting depth of ``value`` following first elements (0 for a scalar)."""
    depth = 0
    while isinstance(value, list | tuple) and depth < 10:
        depth += 1
        if not value:
            break
        value = value[0]
    return depth


def _nesting_error(gtype: str, where: str, value: object, want: int) -> BadRequestData:
    got = _depth_of(value)
    return BadRequestData(
        f"{where}: wrong nesting depth for a {gtype}: expected {want} level(s) of nested "
        f"arrays around the numbers here, got {got if got < 10 else 'too many'}; "
        f"a whole {gtype} has {COORDINATE_DEPTH[gtype]}, e.g. {EXAMPLE_COORDINATES[gtype]}"
        f" / {where}: {gtype}의 배열 중첩 깊이가 잘못되었습니다. 여기서는 숫자를 {want}단계의 "
        f"배열로 감싸야 하는데 {got if got < 10 else '너무 많은'} 단계입니다. {gtype} 전체는 "
        f"{COORDINATE_DEPTH[gtype]}단계입니다. 예: {EXAMPLE_COORDINATES[gtype]}"
    )


def _number(value: object, where: str, axis: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequestData(
            f"{where}: {axis} must be a number, got {brief(value)}; "
            "a position is [longitude, latitude] in decimal degrees, e.g. [127.2653,36.5047]"
            f" / {where}: {axis}은(는) 숫자여야 하는데 {brief(value)}입니다. 위치는 십진 도 "
            "단위의 [경도, 위도]입니다. 예: [127.2653,36.5047]"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise BadRequestData(
            f"{where}: {axis} must be a finite number, got {brief(value)}; e.g. [127.2653,36.5047]"
            f" / {where}: {axis}은(는) 유한한 숫자여야 하는데 {brief(value)}입니다. 예: "
            "[127.2653,36.5047]"
        )
    if not low <= value <= high:
        raise BadRequestData(
            f"{where}: {axis} {brief(value)} is outside [{low:g}, {high:g}]; positions are "
            "[longitude, latitude] in WGS84 decimal degrees (longitude first), "
            "e.g. [127.2653,36.5047]"
            f" / {where}: {axis} {brief(value)}이(가) [{low:g}, {high:g}] 범위를 "
            "벗어났습니다. 위치는 WGS84 십진 도 단위의 [경도, 위도]입니다(경도가 먼저). 예: "
            "[127.2653,36.5047]"
        )
    return float(value)


def _position(value: object, where: str, budget: _Budget) -> list[float]:
    if not isinstance(value, list | tuple) or not 2 <= len(value) <= 3:
        size = f"{len(value)} elements" if isinstance(value, list | tuple) else "a scalar"
        raise BadRequestData(
            f"{where}: a position must be an array of 2 or 3 numbers [longitude, latitude"
            f"(, altitude)], got {size}; e.g. [127.2653,36.5047]"
            f" / {where}: 위치는 숫자 2개나 3개의 배열 [경도, 위도(, 고도)]여야 하는데 "
            f"{size}개입니다. 예: [127.2653,36.5047]"
        )
    budget.take(where)
    position = [
        _number(value[0], where, "longitude", -180.0, 180.0),
        _number(value[1], where, "latitude", -90.0, 90.0),
    ]
    if len(value) == 3:
        position.append(_number(value[2], where, "altitude", -math.inf, math.inf))
    return position


def _array(value: object, gtype: str, where: str, want: int) -> Sequence[Any]:
    """Return ``value`` (expected ``want`` levels deep) as a sequence of arrays, or raise."""
    if not isinstance(value, list | tuple):
        raise _nesting_error(gtype, where, value, want)
    for i, item in enumerate(value):
        # Items must be arrays and, above the position level, arrays of arrays.
        if not isinstance(item, list | tuple) or (
            want > 2 and item and not isinstance(item[0], list | tuple)
        ):
            raise _nesting_error(gtype, f"{where}[{i}]", item, want - 1)
    return value


def _positions(value: object, gtype: str, where: str, budget: _Budget, least: int) -> _Coordinates:
    items = _array(value, gtype, where, 2)
    if len(items) < least:
        raise BadRequestData(
            f"{where}: a {gtype} needs at least {least} position(s) here, got {len(items)}; "
            f"e.g. {EXAMPLE_COORDINATES[gtype]}"
            f" / {where}: {gtype}에는 여기서 위치가 {least}개 이상 필요한데 "
            f"{len(items)}개입니다. 예: {EXAMPLE_COORDINATES[gtype]}"
        )
    return [_position(item, f"{where}[{i}]", budget) for i, item in enumerate(items)]


def _ring(value: object, gtype: str, where: str, budget: _Budget) -> _Coordinates:
    items = _array(value, gtype, where, 2)
    if len(items) < 4:
        raise BadRequestData(
            f"{where}: a linear ring needs at least 4 positions (a triangle plus the closing "
            f"position), got {len(items)}; e.g. {EXAMPLE_COORDINATES['Polygon']}"
            f" / {where}: 선형 링에는 위치가 4개 이상(삼각형과 닫는 위치) 필요한데 "
            f"{len(items)}개입니다. 예: {EXAMPLE_COORDINATES['Polygon']}"
        )
    ring = [_position(item, f"{where}[{i}]", budget) for i, item in enumerate(items)]
    if ring[0] != ring[-1]:
        raise BadRequestData(
            f"{where}: linear ring is not closed: the last position {ring[-1]} must repeat the "
            f"first {ring[0]}; e.g. {EXAMPLE_COORDINATES['Polygon']}"
            f" / {where}: 선형 링이 닫혀 있지 않습니다. 마지막 위치 {ring[-1]}은(는) 첫 위치 "
            f"{ring[0]}와 같아야 합니다. 예: {EXAMPLE_COORDINATES['Polygon']}"
        )
    return ring


def _rings(value: object, gtype: str, where: str, budget: _Budget) -> _Coordinates:
    items = _array(value, gtype, where, 3)
    if not items:
        raise BadRequestData(
            f"{where}: a polygon needs at least its exterior ring; "
            f"e.g. {EXAMPLE_COORDINATES['Polygon']}"
            f" / {where}: 폴리곤에는 적어도 외곽 링이 있어야 합니다. 예: "
            f"{EXAMPLE_COORDINATES['Polygon']}"
        )
    return [_ring(item, gtype, f"{where}[{i}]", budget) for i, item in enumerate(items)]


def check_coordinates(gtype: str, value: object, where: str, budget: _Budget) -> _Coordinates:
    """Return ``value`` checked and normalised (floats) as coordinates of a ``gtype``."""
    if isinstance(value, list | tuple) and not value:
        raise BadRequestData(
            f"{where}: empty coordinates; a {gtype} needs at least one position, "
            f"e.g. {EXAMPLE_COORDINATES[gtype]}"
            f" / {where}: 좌표가 비어 있습니다. {gtype}에는 위치가 하나 이상 필요합니다. 예: "
            f"{EXAMPLE_COORDINATES[gtype]}"
        )
    if _depth_of(value) != COORDINATE_DEPTH[gtype]:
        raise _nesting_error(gtype, where, value, COORDINATE_DEPTH[gtype])
    if gtype == "Point":
        return _position(value, where, budget)
    if gtype in ("MultiPoint", "LineString"):
        return _positions(value, gtype, where, budget, 1 if gtype == "MultiPoint" else 2)
    if gtype == "Polygon":
        return _rings(value, gtype, where, budget)
    items = _array(value, gtype, where, COORDINATE_DEPTH[gtype])
    if not items:
        raise BadRequestData(
            f"{where}: a {gtype} needs at least one member; e.g. {EXAMPLE_COORDINATES[gtype]}"
            f" / {where}: {gtype}에는 구성 요소가 하나 이상 필요합니다. 예: "
            f"{EXAMPLE_COORDINATES[gtype]}"
        )
    if gtype == "MultiLineString":
        return [_positions(item, gtype, f"{where}[{i}]", budget, 2) for i, item in enumerate(items)]
    return [_rings(item, gtype, f"{where}[{i}]", budget) for i, item in enumerate(items)]


def _flat_2d(gtype: str, coords: _Coordinates) -> _Coordinates:
    """Return ``coords`` without altitudes: geo-queries are 2D and shapely wants one width."""
    if gtype == "Point":
        return coords[:2]
    depth = COORDINATE_DEPTH[gtype]

    def strip(value: _Coordinates, level: int) -> _Coordinates:
        if level == 1:
            return value[:2]
        return [strip(item, level - 1) for item in value]

    return strip(coords, depth)


def build_geometry(gtype: str, coords: _Coordinates, where: str) -> BaseGeometry:
    """Return the shapely geometry of checked coordinates; refuse an invalid one (OGC)."""
    try:
        geom = shape({"type": gtype, "coordinates": _flat_2d(gtype, coords)})
        reason = None if shapely.is_valid(geom) else shapely.is_valid_reason(geom)
    except (GEOSException, ShapelyError, ValueError, TypeError) as exc:  # pragma: no cover
        raise BadRequestData(
            f"{where}: not a valid {gtype}: {exc}; e.g. {EXAMPLE_COORDINATES[gtype]}"
            f" / {where}: 올바른 {gtype}이(가) 아닙니다: {exc}. 예: "
            f"{EXAMPLE_COORDINATES[gtype]}"
        ) from None
    if reason is not None:
        raise BadRequestData(
            f"{where}: not a valid {gtype} ({reason}); rings must not cross themselves or each "
            f"other and lines need two distinct positions; e.g. {EXAMPLE_COORDINATES[gtype]}"
            f" / {where}: 올바른 {gtype}이(가) 아닙니다({reason}). 링은 자기 자신이나 다른 "
            "링과 교차하면 안 되고, 선에는 서로 다른 위치가 2개 필요합니다. 예: "
            f"{EXAMPLE_COORDINATES[gtype]}"
        )
    return geom


def _geometry_object(
    value: object, where: str, budget: _Budget, *, nested: bool
) -> tuple[BaseGeometry, dict[str, Any]]:
    if not isinstance(value, dict):
        raise BadRequestData(
            f"{where} must be a GeoJSON geometry object, got {type(value).__name__}; "
            f"e.g. {EXAMPLE_GEOMETRY}"
            f" / {where}은(는) GeoJSON 도형 객체여야 하는데 {type(value).__name__}입니다. 예: "
            f"{EXAMPLE_GEOMETRY}"
        )
    gtype = value.get("type")
    if not isinstance(gtype, str):
        raise BadRequestData(
            f'{where}: "type" must be a string naming a GeoJSON geometry type, got '
            f"{brief(gtype)}; e.g. {EXAMPLE_GEOMETRY}"
            f' / {where}: "type"은 GeoJSON 도형 유형을 나타내는 문자열이어야 하는데 '
            f"{brief(gtype)}입니다. 예: {EXAMPLE_GEOMETRY}"
        )
    if gtype in ("Feature", "FeatureCollection"):
        raise BadRequestData(
            f"{where} is a GeoJSON {gtype}, but a GeoProperty value must be a bare geometry "
            f'(use the Feature\'s "geometry" member); e.g. {EXAMPLE_GEOMETRY}'
            f" / {where}은(는) GeoJSON {gtype}이지만 GeoProperty 값은 도형 자체여야 "
            f'합니다(Feature의 "geometry" 멤버를 쓰세요). 예: {EXAMPLE_GEOMETRY}'
        )
    if gtype == "GeometryCollection":
        if nested:
            raise BadRequestData(
                f"{where}: nested GeometryCollections are not accepted (RFC 7946, 3.1.8); "
                "flatten the members into one GeometryCollection, e.g. "
                f'{{"type": "GeometryCollection", "geometries": [{EXAMPLE_GEOMETRY}]}}'
                f" / {where}: 중첩된 GeometryCollection은 받지 않습니다(RFC 7946, 3.1.8). "
                "구성 요소를 GeometryCollection 하나로 펼치세요. 예: "
                f'{{"type": "GeometryCollection", "geometries": [{EXAMPLE_GEOMETRY}]}}'
            )
        members = value.get("geometries")
        if not isinstance(members, list) or not members:
            raise BadRequestData(
                f'{where}: a GeometryCollection needs a non-empty "geometries" array, e.g. '
                f'{{"type": "GeometryCollection", "geometries": [{EXAMPLE_GEOMETRY}]}}'
                f' / {where}: GeometryCollection에는 비어 있지 않은 "geometries" 배열이 '
                "필요합니다. 예: "
                f'{{"type": "GeometryCollection", "geometries": [{EXAMPLE_GEOMETRY}]}}'
            )
        parts = [
            _geometry_object(m, f"{where}.geometries[{i}]", budget, nested=True)
            for i, m in enumerate(members)
        ]
        geom = shapely.geometrycollections([p[0] for p in parts])
        return geom, {"type": gtype, "geometries": [p[1] for p in parts]}
    if gtype not in COORDINATE_DEPTH:
        raise BadRequestData(
            f"{where}: unknown GeoJSON geometry type {brief(gtype)}; expected one of "
            f"{', '.join(GEOMETRY_TYPES)} or GeometryCollection; e.g. {EXAMPLE_GEOMETRY}"
            f" / {where}: 알 수 없는 GeoJSON 도형 유형 {brief(gtype)}입니다. "
            f"{', '.join(GEOMETRY_TYPES)}, GeometryCollection 중 하나를 쓰세요. 예: "
            f"{EXAMPLE_GEOMETRY}"
        )
    if "coordinates" not in value:
        raise BadRequestData(
            f'{where}: a {gtype} needs a "coordinates" member, '
            f'e.g. {{"type": "{gtype}", "coordinates": {EXAMPLE_COORDINATES[gtype]}}}'
            f' / {where}: {gtype}에는 "coordinates" 멤버가 필요합니다. 예: '
            f'{{"type": "{gtype}", "coordinates": {EXAMPLE_COORDINATES[gtype]}}}'
        )
    coords = check_coordinates(gtype, value["coordinates"], f"{where}.coordinates", budget)
    geom = build_geometry(gtype, coords, where)
    return geom, {"type": gtype, "coordinates": coords}


def validate_geojson_geometry(value: object) -> None:
    """Raise BadRequestData unless ``value`` is a valid GeoJSON geometry (RFC 7946).

    Points, most of what sensors send, are checked without building a shapely geometry: a
    position with finite, in-range coordinates is always a valid Point.
    """
    if isinstance(value, dict) and value.get("type") == "Point" and "coordinates" in value:
        coords = value["coordinates"]
        # The usual [lon, lat] of two floats in range is valid as it is (NaN fails the
        # comparisons); anything else is checked in full, which words the error.
        if type(coords) is list and len(coords) == 2:
            lon, lat = coords
            if (
                type(lon) is float
                and type(lat) is float
                and -180.0 <= lon <= 180.0
                and -90.0 <= lat <= 90.0
            ):
                return
        check_coordinates("Point", coords, "GeoJSON geometry.coordinates", _Budget())
        return
    parse_geojson_geometry_normalised(value)


def parse_geojson_geometry(value: object) -> BaseGeometry:
    """Return the shapely geometry of a GeoJSON geometry object (RFC 7946); else BadRequestData."""
    return parse_geojson_geometry_normalised(value)[0]


def parse_geojson_geometry_normalised(value: object) -> tuple[BaseGeometry, dict[str, Any]]:
    """Return the shapely geometry and the normalised GeoJSON of a geometry object."""
    try:
        return _geometry_object(value, "GeoJSON geometry", _Budget(), nested=False)
    except RecursionError:  # pragma: no cover - depth is bounded by the geometry types
        raise BadRequestData(
            "GeoJSON geometry: nested too deeply / GeoJSON 도형: 너무 깊게 중첩되어 있습니다"
        ) from None


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_coordinates_text(text: str, gtype: str) -> object:
    """Return the JSON array in a ``coordinates`` URL parameter or raise BadRequestData."""
    example = EXAMPLE_COORDINATES.get(gtype, EXAMPLE_COORDINATES["Point"])
    if len(text) > MAX_COORDINATES_CHARS:
        raise BadRequestData(
            f"coordinates: {len(text):,} characters is too long; at most "
            f"{MAX_COORDINATES_CHARS:,} are accepted (about {MAX_POSITIONS:,} positions), "
            "e.g. coordinates=[127.2653,36.5047]"
            f" / coordinates: {len(text):,}자는 너무 깁니다. 최대 "
            f"{MAX_COORDINATES_CHARS:,}자(위치 약 {MAX_POSITIONS:,}개)까지 받습니다. 예: "
            "coordinates=[127.2653,36.5047]"
        )
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        detail = str(exc)[:80]
        raise BadRequestData(
            f"coordinates is not a JSON array ({detail}); give the GeoJSON coordinates as "
            f"JSON, longitude first, e.g. coordinates={example}"
            f" / coordinates가 JSON 배열이 아닙니다({detail}). GeoJSON 좌표를 경도부터 "
            f"JSON으로 주세요. 예: coordinates={example}"
        ) from None
    if not isinstance(value, list):
        raise BadRequestData(
            f"coordinates must be a JSON array, got {type(value).__name__}; "
            f"e.g. coordinates={example}"
            f" / coordinates는 JSON 배열이어야 하는데 {type(value).__name__}입니다. 예: "
            f"coordinates={example}"
        )
    return value
