"""Property tests for the geo layer: any input gives a GeoQuery or a 400, windows never cut."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import Point, box

from cityos.hub.errors import BadRequestData
from cityos.hub.geo import (
    GEOMETRY_TYPES,
    GEORELS,
    GeoQuery,
    parse_geo_query,
    parse_geojson_geometry,
    validate_geojson_geometry,
)

GEOD = Geod(ellps="WGS84")
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def expand(term: str) -> str:
    """Expand a term the way a test @context would."""
    return "https://example.org/terms/" + term


numbers = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-200, max_value=200),
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=6)
        | st.dictionaries(
            st.sampled_from(["type", "coordinates", "geometries", "x"]), children, max_size=3
        )
    ),
    max_leaves=40,
)
positions = st.lists(numbers, min_size=0, max_size=4)
nested = st.recursive(positions, lambda children: st.lists(children, max_size=6), max_leaves=30)
georels = st.one_of(
    st.text(max_size=40),
    st.sampled_from(GEORELS),
    st.builds(
        lambda name, key, num: f"{name};{key}=={num}",
        st.sampled_from(["near", "within", "Near"]),
        st.sampled_from(["maxDistance", "minDistance", "max", ""]),
        st.one_of(st.text(max_size=8), numbers.map(str)),
    ),
)
geometries = st.one_of(
    st.text(max_size=20), st.sampled_from([*GEOMETRY_TYPES, "GeometryCollection"])
)
coordinates = st.one_of(
    st.text(max_size=60),
    nested.map(json.dumps),
    nested,
    json_values,
)


def assert_ok_or_400(call) -> None:  # type: ignore[no-untyped-def]
    """Call and accept only a result or a BadRequestData that shows valid input."""
    error: BadRequestData | None = None
    try:
        call()
    except BadRequestData as exc:
        error = exc
    if error is not None:
        assert "e.g." in error.detail


@SETTINGS
@given(
    st.none() | georels,
    st.none() | geometries,
    st.none() | coordinates,
    st.none() | st.text(max_size=12),
)
def test_any_parameters_give_a_geo_query_or_bad_request(
    georel, geometry, coords, geoproperty
) -> None:  # type: ignore[no-untyped-def]
    def call() -> None:
        q = parse_geo_query(georel, geometry, coords, geoproperty, expand=expand)
        if q is not None:
            assert isinstance(q, GeoQuery)
            q.search_window()
            q.matches(Point(127.0, 36.0))

    assert_ok_or_400(call)


@SETTINGS
@given(st.sampled_from(GEORELS[1:]), st.sampled_from(GEOMETRY_TYPES), nested)
def test_any_nested_coordinates_give_a_geo_query_or_bad_request(georel, geometry, coords) -> None:  # type: ignore[no-untyped-def]
    assert_ok_or_400(lambda: parse_geo_query(georel, geometry, coords, None, expand=expand))
    assert_ok_or_400(
        lambda: parse_geo_query(georel, geometry, json.dumps(coords), None, expand=expand)
    )


@SETTINGS
@given(
    st.one_of(
        json_values,
        st.builds(
            lambda t, c: {"type": t, "coordinates": c}, st.sampled_from(GEOMETRY_TYPES), nested
        ),
    )
)
def test_any_json_gives_a_geometry_or_bad_request(value) -> None:  # type: ignore[no-untyped-def]
    assert_ok_or_400(lambda: parse_geojson_geometry(value))


def _refusal(check) -> str | None:  # type: ignore[no-untyped-def]
    try:
        check()
    except BadRequestData as error:
        return error.detail
    return None


coordinate_items = st.one_of(numbers, st.booleans(), st.none(), st.text(max_size=2))
# the edges of the WGS84 ranges, just inside and just outside, and the non-finite floats
EDGES = [180.0, -180.0, 180.5, -180.5, 90.0, -90.0, 90.5, -90.5, -0.0, 1, math.nan, math.inf]


@SETTINGS
@given(
    st.one_of(
        st.lists(coordinate_items, max_size=4),
        st.tuples(st.floats(allow_nan=True, allow_infinity=True), st.floats()).map(list),
        st.tuples(st.floats(-200, 200), st.floats(-100, 100)).map(list),
        json_values,
    )
)
def test_point_check_refuses_what_the_full_parse_refuses(coords) -> None:  # type: ignore[no-untyped-def]
    # validate_geojson_geometry takes a shortcut for [float, float] Points: it must accept
    # exactly the Points the full parse accepts and refuse the others in the same words
    value = {"type": "Point", "coordinates": coords}
    assert _refusal(lambda: validate_geojson_geometry(value)) == _refusal(
        lambda: parse_geojson_geometry(value)
    )


@pytest.mark.parametrize("lat", EDGES)
@pytest.mark.parametrize("lon", EDGES)
def test_point_check_at_the_range_edges(lon: float, lat: float) -> None:
    value = {"type": "Point", "coordinates": [lon, lat]}
    assert _refusal(lambda: validate_geojson_geometry(value)) == _refusal(
        lambda: parse_geojson_geometry(value)
    )


lons = st.floats(min_value=-180, max_value=180)
lats = st.floats(min_value=-90, max_value=90)


def in_window(window: tuple[float, float, float, float], lon: float, lat: float) -> bool:
    """Return whether a position lies inside a window [deg]."""
    minlon, minlat, maxlon, maxlat = window
    return minlon <= lon <= maxlon and minlat <= lat <= maxlat


@SETTINGS
@given(
    lons,
    lats,
    st.floats(min_value=0, max_value=2e7),
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=-180, max_value=180),
)
def test_near_window_contains_every_matching_point(lon, lat, dist, frac, azimuth) -> None:  # type: ignore[no-untyped-def]
    q = parse_geo_query(f"near;maxDistance=={dist!r}", "Point", [lon, lat], None, expand=expand)
    assert q is not None
    window = q.search_window()
    assert window is not None
    x_lon, x_lat, _ = GEOD.fwd(lon, lat, azimuth, frac * dist)
    target = Point(x_lon, x_lat)
    if q.matches(target):
        assert in_window(window, x_lon, x_lat)
    if frac * dist < 0.999 * dist - 1e-3:  # comfortably inside: must match
        assert q.matches(target)


@SETTINGS
@given(
    lons,
    lats,
    st.floats(min_value=0, max_value=5e5),
    st.floats(min_value=1e-4, max_value=0.5),
    lons,
    lats,
)
def test_near_window_overlaps_every_matching_box(lon, lat, dist, side, x_lon, x_lat) -> None:  # type: ignore[no-untyped-def]
    q = parse_geo_query(f"near;maxDistance=={dist!r}", "Point", [lon, lat], None, expand=expand)
    assert q is not None
    window = q.search_window()
    assert window is not None
    x_lon, x_lat = (
        (lon + x_lon / 180 * 3) % 360 - 180 if abs(lon) < 170 else lon,
        max(-89.0, min(89.0, lat + x_lat / 30)),
    )
    target = box(x_lon, x_lat, min(180.0, x_lon + side), min(90.0, x_lat + side))
    if q.matches(target):
        minx, miny, maxx, maxy = target.bounds
        assert minx <= window[2]
        assert maxx >= window[0]
        assert miny <= window[3]
        assert maxy >= window[1]


@SETTINGS
@given(
    st.sampled_from(["within", "contains", "intersects", "overlaps", "equals"]),
    lons,
    lats,
    st.floats(min_value=1e-3, max_value=10),
    lons,
    lats,
)
def test_relation_window_contains_every_matching_point(
    georel, lon, lat, side, x_lon, x_lat
) -> None:  # type: ignore[no-untyped-def]
    maxlon, maxlat = min(180.0, lon + side), min(90.0, lat + side)
    lon, lat = maxlon - side, maxlat - side
    ring = [[lon, lat], [maxlon, lat], [maxlon, maxlat], [lon, maxlat], [lon, lat]]
    q = parse_geo_query(georel, "Polygon", [ring], None, expand=expand)
    assert q is not None
    window = q.search_window()
    assert window is not None
    px, py = lon + (x_lon + 180) / 360 * side, lat + (x_lat + 90) / 180 * side
    for candidate in (Point(x_lon, x_lat), Point(px, py)):
        if q.matches(candidate):
            assert in_window(window, candidate.x, candidate.y)


@SETTINGS
@given(lons, lats, lons, lats)
def test_point_distance_is_the_exact_geodesic(lon, lat, x_lon, x_lat) -> None:  # type: ignore[no-untyped-def]
    q = parse_geo_query("near;minDistance==0", "Point", [lon, lat], None, expand=expand)
    assert q is not None
    _, _, expected = GEOD.inv(lon, lat, x_lon, x_lat)
    got = q.distance_m(Point(x_lon, x_lat))
    assert math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-6)
    assert q.matches(Point(x_lon, x_lat))  # everything is >= 0 m away
