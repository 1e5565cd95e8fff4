"""Tests for the hub's geo layer: GeoJSON validation and NGSI-LD geo-queries (GS CIM 009 4.10)."""

from __future__ import annotations

import json
import math

import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box

from cityos.hub.errors import BadRequestData, HubError, InvalidRequest
from cityos.hub.geo import (
    LOCATION_IRI,
    MAX_POSITIONS,
    GeoQuery,
    geodesic_distance_m,
    parse_geo_query,
    parse_geojson_geometry,
    parse_geojson_geometry_normalised,
    validate_geojson_geometry,
)

SEJONG = (127.2653, 36.5047)  # Government Complex Sejong, lon/lat [deg]
SEOUL_CITY_HALL = (126.9780, 37.5665)
WGS84_A = 6_378_137.0
WGS84_E2 = 0.00669437999014


def expand(term: str) -> str:
    """Expand a term the way a test @context would."""
    return "https://example.org/terms/" + term


def query(georel: str, geometry: str, coordinates: object, geoproperty: str | None = None):
    """Parse a geo-query given as URL parameters (coordinates as JSON text)."""
    coords = coordinates if isinstance(coordinates, str) else json.dumps(coordinates)
    return parse_geo_query(georel, geometry, coords, geoproperty, expand=expand)


def ring(minx: float, miny: float, maxx: float, maxy: float) -> list[list[float]]:
    """Return a closed counter-clockwise rectangle ring [deg]."""
    return [[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]


def meridian_radius(lat_deg: float) -> float:
    """Return the WGS84 meridional radius of curvature M(phi) [m/rad] (hand formula)."""
    s2 = math.sin(math.radians(lat_deg)) ** 2
    return WGS84_A * (1 - WGS84_E2) / (1 - WGS84_E2 * s2) ** 1.5


def parallel_radius(lat_deg: float) -> float:
    """Return the WGS84 radius of the parallel N(phi) cos(phi) [m/rad] (hand formula)."""
    s2 = math.sin(math.radians(lat_deg)) ** 2
    return WGS84_A / math.sqrt(1 - WGS84_E2 * s2) * math.cos(math.radians(lat_deg))


# --- distances against published and hand-calculated values -------------------------------


def test_vincenty_flinders_peak_to_buninyong_published() -> None:
    # Vincenty (1975) / Geoscience Australia worked example: 54 972.271 m (GRS80 ~ WGS84).
    flinders = (144 + 25 / 60 + 29.52440 / 3600, -(37 + 57 / 60 + 3.72030 / 3600))
    buninyong = (143 + 55 / 60 + 35.38390 / 3600, -(37 + 39 / 60 + 10.15610 / 3600))
    assert geodesic_distance_m(*flinders, *buninyong) == pytest.approx(54_972.271, abs=0.01)


def test_degree_of_latitude_at_sejong_is_110_9_km() -> None:
    d = geodesic_distance_m(127.2653, 36.0, 127.2653, 37.0)
    assert d == pytest.approx(math.radians(1) * meridian_radius(36.5), abs=2.0)
    assert d == pytest.approx(110_950, abs=50)


def test_degree_of_longitude_at_sejong_is_89_6_km() -> None:
    # The geodesic is ~0.4 m shorter than the parallel's arc; allow 2 m.
    d = geodesic_distance_m(127.0, 36.5, 128.0, 36.5)
    assert d == pytest.approx(math.radians(1) * parallel_radius(36.5), abs=2.0)


def test_sejong_to_seoul_city_hall_is_about_120_6_km() -> None:
    # Hand calculation in a local equirectangular frame at the mid-latitude, good to ~0.1 %.
    mid = (SEJONG[1] + SEOUL_CITY_HALL[1]) / 2
    north = math.radians(SEOUL_CITY_HALL[1] - SEJONG[1]) * meridian_radius(mid)
    east = math.radians(SEOUL_CITY_HALL[0] - SEJONG[0]) * parallel_radius(mid)
    q = query("near;maxDistance==200000", "Point", list(SEJONG))
    assert q is not None
    d = q.distance_m(Point(*SEOUL_CITY_HALL))
    assert d == pytest.approx(math.hypot(north, east), rel=1e-3)
    assert d == pytest.approx(120_577, abs=5)


def test_distance_to_polygon_is_to_its_nearest_edge() -> None:
    # West edge of the square 0.01 deg east of Sejong, spanning its latitude: the nearest
    # point is due east on the same parallel.
    square = Polygon(ring(SEJONG[0] + 0.01, SEJONG[1] - 0.01, SEJONG[0] + 0.02, SEJONG[1] + 0.01))
    q = query("near;maxDistance==1000", "Point", list(SEJONG))
    assert q is not None
    assert q.distance_m(square) == pytest.approx(
        math.radians(0.01) * parallel_radius(SEJONG[1]), abs=0.5
    )
    assert q.matches(square)  # ~896 m
    inside = Polygon(ring(SEJONG[0] - 0.01, SEJONG[1] - 0.01, SEJONG[0] + 0.01, SEJONG[1] + 0.01))
    assert q.distance_m(inside) == 0.0


def test_distance_to_line_and_multipoint_takes_the_nearest_part() -> None:
    q = query("near;maxDistance==1000", "Point", list(SEJONG))
    assert q is not None
    lon, lat = SEJONG
    north_line = LineString([(lon - 0.05, lat + 0.005), (lon + 0.05, lat + 0.005)])
    assert q.distance_m(north_line) == pytest.approx(
        math.radians(0.005) * meridian_radius(lat + 0.0025), abs=0.5
    )
    multi = shapely.MultiPoint([(lon, lat + 0.1), (lon, lat + 0.005)])
    assert q.distance_m(multi) == pytest.approx(geodesic_distance_m(lon, lat, lon, lat + 0.005))
    assert q.distance_m(Point()) == math.inf


# --- near -----------------------------------------------------------------------------------


def test_near_max_and_min_distance() -> None:
    lon, lat = SEJONG
    near_point = Point(lon, lat + 0.008)  # ~888 m north
    far_point = Point(lon, lat + 0.01)  # ~1110 m north
    q_max = query("near;maxDistance==1000", "Point", [lon, lat])
    q_min = query("near;minDistance==1000", "Point", [lon, lat])
    assert q_max is not None
    assert q_min is not None
    assert q_max.matches(near_point)
    assert not q_max.matches(far_point)
    assert q_min.matches(far_point)
    assert not q_min.matches(near_point)
    assert q_max.matches(Point(lon, lat))  # distance 0 <= max
    assert q_max.distance_kind == "maxDistance"
    assert q_max.distance == 1000.0
    assert q_max.georel_text == "near;maxDistance==1000"


def test_near_zero_distance_matches_only_the_point_itself() -> None:
    q = query("near;maxDistance==0", "Point", list(SEJONG))
    assert q is not None
    assert q.matches(Point(*SEJONG))
    assert not q.matches(Point(SEJONG[0], SEJONG[1] + 1e-6))


def test_near_accepts_whitespace_and_exponent_numbers() -> None:
    q = query(" near ; maxDistance == 2e3 ", "Point", " [127.2653, 36.5047] ")
    assert q is not None
    assert q.distance == 2000.0


# --- topological relations on hand-drawn squares -------------------------------------------
# Query square S = [127.0, 127.1] x [36.0, 36.1]. Each entity below was drawn on paper
# against S; the expected answers are (within, contains, intersects, overlaps, disjoint, equals).

S = ring(127.0, 36.0, 127.1, 36.1)
RELATIONS = ("within", "contains", "intersects", "overlaps", "disjoint", "equals")
CASES = {
    "point inside": (Point(127.05, 36.05), (True, False, True, False, False, False)),
    "point on edge": (Point(127.1, 36.05), (False, False, True, False, False, False)),
    "point outside": (Point(127.2, 36.05), (False, False, False, False, True, False)),
    "small square inside": (box(127.02, 36.02, 127.04, 36.04), (1, 0, 1, 0, 0, 0)),
    "big square around": (box(126.9, 35.9, 127.2, 36.2), (0, 1, 1, 0, 0, 0)),
    "half-overlapping square": (box(127.05, 36.05, 127.15, 36.15), (0, 0, 1, 1, 0, 0)),
    "same square, other start vertex": (
        Polygon([(127.1, 36.1), (127.0, 36.1), (127.0, 36.0), (127.1, 36.0)]),
        (1, 1, 1, 0, 0, 1),
    ),
    "square sharing an edge": (box(127.1, 36.0, 127.2, 36.1), (0, 0, 1, 0, 0, 0)),
    "line crossing": (LineString([(126.95, 36.05), (127.15, 36.05)]), (0, 0, 1, 0, 0, 0)),
    "line inside": (LineString([(127.01, 36.01), (127.09, 36.09)]), (1, 0, 1, 0, 0, 0)),
    "far square": (box(128.0, 37.0, 128.1, 37.1), (0, 0, 0, 0, 1, 0)),
}


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("georel", RELATIONS)
def test_relation_on_hand_drawn_squares(name: str, georel: str) -> None:
    geom, expected = CASES[name]
    q = query(georel, "Polygon", [S])
    assert q is not None
    assert q.matches(geom) is bool(expected[RELATIONS.index(georel)])


def test_contains_with_point_query() -> None:
    q = query("contains", "Point", [127.05, 36.05])
    assert q is not None
    assert q.matches(box(127.0, 36.0, 127.1, 36.1))
    assert not q.matches(box(127.2, 36.0, 127.3, 36.1))


def test_overlaps_between_lines() -> None:
    q = query("overlaps", "LineString", [[127.0, 36.0], [127.1, 36.0]])
    assert q is not None
    assert q.matches(LineString([(127.05, 36.0), (127.2, 36.0)]))
    assert not q.matches(LineString([(127.05, 36.0), (127.05, 36.1)]))  # crosses, 0-dim


def test_multipolygon_query_and_polygon_with_hole() -> None:
    holed = [ring(127.0, 36.0, 127.1, 36.1), ring(127.04, 36.04, 127.06, 36.06)[::-1]]
    q = query("within", "MultiPolygon", [holed, [ring(128.0, 37.0, 128.1, 37.1)]])
    assert q is not None
    assert q.matches(Point(127.01, 36.01))
    assert not q.matches(Point(127.05, 36.05))  # in the hole
    assert q.matches(Point(128.05, 37.05))  # in the second polygon


# --- entities in the internal form ----------------------------------------------------------


def entity(*values: object, attr: str = LOCATION_IRI) -> dict[str, object]:
    """Return an internal-form entity with one GeoProperty instance per value."""
    instances = [
        {"type": "GeoProperty", "value": v, **({"datasetId": f"urn:ds:{i}"} if i else {})}
        for i, v in enumerate(values)
    ]
    return {
        "id": "urn:ngsi-ld:Thing:1",
        "type": ["https://example.org/Thing"],
        "attrs": {attr: instances},
    }


def test_entity_matches_if_any_instance_matches() -> None:
    q = query("near;maxDistance==1000", "Point", list(SEJONG))
    assert q is not None
    far = {"type": "Point", "coordinates": [128.0, 37.0]}
    near = {"type": "Point", "coordinates": [SEJONG[0], SEJONG[1] + 0.005]}
    assert q.entity_matches(entity(far, near))
    assert not q.entity_matches(entity(far))
    assert q.entity_distance_m(entity(far, near)) == pytest.approx(
        geodesic_distance_m(*SEJONG, *near["coordinates"])
    )


def test_entity_matches_uses_the_geoproperty_iri() -> None:
    q = query("intersects", "Polygon", [S], geoproperty="serviceArea")
    assert q is not None
    assert q.geoproperty == "https://example.org/terms/serviceArea"
    value = {"type": "Point", "coordinates": [127.05, 36.05]}
    assert q.entity_matches(entity(value, attr=q.geoproperty))
    assert not q.entity_matches(entity(value))  # stored under location, not serviceArea


def test_entity_without_geoproperty_or_with_bad_values_matches_nothing() -> None:
    q = query("disjoint", "Polygon", [S])
    assert q is not None
    assert not q.entity_matches({"id": "urn:x", "type": [], "attrs": {}})
    assert not q.entity_matches(entity({"type": "Point", "coordinates": "nope"}))
    assert not q.entity_matches({"attrs": {LOCATION_IRI: [{"type": "Property", "value": 1}]}})
    assert q.entity_distance_m({"attrs": {}}) == math.inf


def test_default_geoproperty_is_ngsi_ld_location() -> None:
    q = query("within", "Polygon", [S])
    assert q is not None
    assert q.geoproperty == LOCATION_IRI


def test_coordinates_may_be_a_json_array_from_a_body() -> None:
    q = parse_geo_query("within", "Polygon", [S], None, expand=expand)
    assert q is not None
    assert q.geojson == {"type": "Polygon", "coordinates": [S]}
    assert q.geometry.equals(Polygon(S))


def test_no_geo_query_gives_none() -> None:
    assert parse_geo_query(None, None, None, None, expand=expand) is None


# --- search windows ---------------------------------------------------------------------------


def test_search_window_of_polygon_query_is_its_bbox() -> None:
    for georel in ("within", "contains", "intersects", "overlaps", "equals"):
        q = query(georel, "Polygon", [S])
        assert q is not None
        assert q.search_window() == (127.0, 36.0, 127.1, 36.1)


def test_no_search_window_for_disjoint_and_min_distance() -> None:
    assert query("disjoint", "Polygon", [S]).search_window() is None  # type: ignore[union-attr]
    q = query("near;minDistance==10", "Point", list(SEJONG))
    assert q is not None
    assert q.search_window() is None


def test_near_window_is_tight_enough_at_sejong() -> None:
    q = query("near;maxDistance==2000", "Point", list(SEJONG))
    assert q is not None
    minlon, minlat, maxlon, maxlat = q.search_window()  # type: ignore[misc]
    # 2 km is ~0.018 deg of latitude and ~0.0223 deg of longitude here; allow 2 % slack.
    assert 0.018 < (maxlat - minlat) / 2 < 0.018 * 1.02
    assert 0.0223 < (maxlon - minlon) / 2 < 0.0223 * 1.02


def test_near_window_at_pole_and_antimeridian_spans_all_longitudes() -> None:
    polar = query("near;maxDistance==50000", "Point", [10.0, 89.9])
    dateline = query("near;maxDistance==50000", "Point", [179.9, 0.0])
    assert polar is not None
    assert dateline is not None
    assert polar.search_window() == (-180.0, pytest.approx(89.9 - 0.4522, abs=1e-3), 180.0, 90.0)
    window = dateline.search_window()
    assert window is not None
    assert window[0] == -180.0
    assert window[2] == 180.0
    assert dateline.matches(Point(-179.9, 0.0))  # 22 km across the antimeridian


# --- GeoProperty values (write path) ----------------------------------------------------------


def test_parse_geojson_geometry_accepts_every_type() -> None:
    geometries = [
        {"type": "Point", "coordinates": [127.2653, 36.5047, 45.0]},
        {"type": "MultiPoint", "coordinates": [[127.0, 36.0], [127.1, 36.1]]},
        {"type": "LineString", "coordinates": [[127.0, 36.0], [127.1, 36.1]]},
        {"type": "MultiLineString", "coordinates": [[[127.0, 36.0], [127.1, 36.1]]]},
        {"type": "Polygon", "coordinates": [S]},
        {"type": "MultiPolygon", "coordinates": [[S]]},
        {
            "type": "GeometryCollection",
            "geometries": [
                {"type": "Point", "coordinates": [127, 36]},
                {"type": "Polygon", "coordinates": [S]},
            ],
        },
    ]
    for value in geometries:
        geom = parse_geojson_geometry(value)
        assert geom.geom_type == value["type"]
        assert not geom.has_z  # altitude is validated, kept in the GeoJSON, ignored by queries
    _, normalised = parse_geojson_geometry_normalised(
        {"type": "Point", "coordinates": [127, 36], "bbox": [0]}
    )
    assert normalised == {"type": "Point", "coordinates": [127.0, 36.0]}


def test_clockwise_exterior_ring_is_accepted() -> None:
    # RFC 7946 3.1.6: parsers SHOULD NOT reject polygons that do not follow the right-hand rule.
    assert parse_geojson_geometry({"type": "Polygon", "coordinates": [S[::-1]]}).area > 0


BAD_VALUES = {
    "not an object": ([1, 2], "must be a GeoJSON geometry object"),
    "feature": (
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}},
        'use the Feature\'s "geometry" member',
    ),
    "feature collection": ({"type": "FeatureCollection", "features": []}, "bare geometry"),
    "unknown type": ({"type": "Circle", "coordinates": [1, 2]}, "unknown GeoJSON geometry type"),
    "no coordinates": ({"type": "Point"}, 'needs a "coordinates" member'),
    "empty collection": ({"type": "GeometryCollection", "geometries": []}, "non-empty"),
    "nested collection": (
        {
            "type": "GeometryCollection",
            "geometries": [{"type": "GeometryCollection", "geometries": []}],
        },
        "nested GeometryCollections",
    ),
    "string coordinate": ({"type": "Point", "coordinates": ["127", 36]}, "must be a number"),
    "bool coordinate": ({"type": "Point", "coordinates": [True, 36]}, "must be a number"),
    "nan": ({"type": "Point", "coordinates": [math.nan, 36]}, "finite"),
    "four numbers": ({"type": "Point", "coordinates": [1, 2, 3, 4]}, "2 or 3 numbers"),
    "huge int": ({"type": "Point", "coordinates": [10**400, 2]}, "outside [-180, 180]"),
    "self-intersecting": (
        {"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]},
        "Self-intersection",
    ),
    "degenerate line": ({"type": "LineString", "coordinates": [[1, 2], [1, 2]]}, "not a valid"),
    "one-point line": ({"type": "LineString", "coordinates": [[1, 2]]}, "at least 2 position"),
    "collection member": (
        {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [1, 99]}]},
        "geometries[0].coordinates: latitude 99 is outside [-90, 90]",
    ),
}


@pytest.mark.parametrize("name", BAD_VALUES)
def test_parse_geojson_geometry_rejects(name: str) -> None:
    value, message = BAD_VALUES[name]
    with pytest.raises(BadRequestData) as info:
        parse_geojson_geometry(value)
    assert message in info.value.detail
    assert "e.g." in info.value.detail
    assert info.value.status == 400


# --- geo-query errors -------------------------------------------------------------------------

POINT = "[127.2653,36.5047]"
BAD_QUERIES = {
    "unknown georel": (("nearby;maxDistance==10", "Point", POINT), "unknown georel 'nearby'"),
    "georel case": (("Within", "Point", POINT), "unknown georel"),
    "coordinates missing": (("within", "Point", None), "coordinates missing"),
    "georel missing": ((None, "Point", POINT), "georel missing"),
    "geometry and coordinates missing": (
        ("within", None, None),
        "geometry and coordinates missing",
    ),
    "non-JSON coordinates": (("within", "Point", "127.26,36.50"), "not a JSON array"),
    "JSON but not an array": (("within", "Point", '{"a": 1}'), "must be a JSON array"),
    "infinite coordinate": (("within", "Point", "[1e999, 1]"), "finite"),
    "NaN token": (("within", "Point", "[NaN, 1]"), "not a JSON array"),
    "point too deep": (("within", "Point", "[[127.26,36.50]]"), "wrong nesting depth for a Point"),
    "polygon too shallow": (
        ("within", "Polygon", "[[127,36],[128,36],[128,37],[127,36]]"),
        "expected 3 level(s) of nested arrays around the numbers here, got 2",
    ),
    "multipolygon too shallow": (("within", "MultiPolygon", json.dumps([S])), "MultiPolygon"),
    "ragged nesting": (
        ("within", "MultiLineString", "[[[127,36],[128,36]],[127,36]]"),
        "coordinates[1]: wrong nesting depth",
    ),
    "unclosed ring": (("within", "Polygon", "[[[0,0],[1,0],[1,1],[0,1]]]"), "not closed"),
    "three-position ring": (("within", "Polygon", "[[[0,0],[1,0],[0,0]]]"), "at least 4 positions"),
    "longitude out of range": (("within", "Point", "[180.5,36]"), "longitude 180.5 is outside"),
    "latitude out of range": (("within", "Point", "[127,-90.01]"), "latitude -90.01 is outside"),
    "lat/lon swapped": (("within", "Point", "[36.5,127.26]"), "longitude first"),
    "negative distance": (("near;maxDistance==-5", "Point", POINT), "must not be negative"),
    "near without distance": (("near", "Point", POINT), "needs exactly one of maxDistance"),
    "near with two distances": (
        ("near;maxDistance==5;minDistance==1", "Point", POINT),
        "got 2 modifier(s)",
    ),
    "near with bad modifier": (("near;distance==5", "Point", POINT), "bad modifier"),
    "near with single =": (("near;maxDistance=5", "Point", POINT), "bad modifier"),
    "near distance not a number": (("near;maxDistance==far", "Point", POINT), "number of metres"),
    "near distance nan": (("near;maxDistance==nan", "Point", POINT), "number of metres"),
    "near distance overflow": (("near;maxDistance==1e999", "Point", POINT), "not a finite"),
    "near on polygon": (
        ("near;maxDistance==5", "Polygon", json.dumps([S])),
        "needs geometry Point",
    ),
    "modifier on within": (("within;maxDistance==5", "Point", POINT), "takes no modifiers"),
    "unknown geometry": (("within", "Circle", POINT), "not a geo-query geometry"),
    "lowercase geometry": (("within", "point", POINT), "did you mean Point?"),
    "collection geometry": (("within", "GeometryCollection", POINT), "not a geo-query geometry"),
    "empty coordinates": (("within", "MultiPoint", "[]"), "empty coordinates"),
    "empty georel": (("", "Point", POINT), "unknown georel"),
}


@pytest.mark.parametrize("name", BAD_QUERIES)
def test_parse_geo_query_rejects(name: str) -> None:
    (georel, geometry, coordinates), message = BAD_QUERIES[name]
    with pytest.raises(BadRequestData) as info:
        parse_geo_query(georel, geometry, coordinates, None, expand=expand)
    assert message in info.value.detail
    assert "e.g." in info.value.detail  # every error shows valid input


def test_geoproperty_alone_and_bad_geoproperty_are_rejected() -> None:
    with pytest.raises(BadRequestData, match="geoproperty given without a geo-query"):
        parse_geo_query(None, None, None, "location", expand=expand)
    for bad in ("", "loc ation", "loc;ation", 'a"b'):
        with pytest.raises(BadRequestData, match="geoproperty"):
            parse_geo_query("within", "Point", POINT, bad, expand=expand)


def test_too_many_positions_is_rejected() -> None:
    line = [
        [127.0 + (i % 1000) * 1e-4, 36.0 + (i // 1000) * 1e-4] for i in range(MAX_POSITIONS + 1)
    ]
    with pytest.raises(BadRequestData, match="too many positions"):
        parse_geo_query("intersects", "LineString", line, None, expand=expand)
    with pytest.raises(BadRequestData, match="too long"):
        parse_geo_query(
            "intersects", "LineString", " " * (MAX_POSITIONS * 100 + 1), None, expand=expand
        )


def test_deeply_nested_coordinates_are_rejected_not_crashing() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(BadRequestData):
        parse_geo_query("within", "Point", deep, None, expand=expand)
    nested: list[object] = []
    for _ in range(5000):
        nested = [nested]
    with pytest.raises(BadRequestData):
        parse_geo_query("within", "Polygon", nested, None, expand=expand)


def test_geo_query_checks_itself_on_construction() -> None:
    with pytest.raises(BadRequestData, match="needs geometry Point"):
        GeoQuery("near", Polygon(S), {}, distance_kind="maxDistance", distance=5.0)
    with pytest.raises(BadRequestData, match="finite distance"):
        GeoQuery("near", Point(1, 2), {}, distance_kind="maxDistance", distance=-1.0)
    with pytest.raises(BadRequestData, match="takes no distance"):
        GeoQuery("within", Point(1, 2), {}, distance=1.0)
    with pytest.raises(BadRequestData, match="unknown georel"):
        GeoQuery("beside", Point(1, 2), {})  # type: ignore[arg-type]


def test_errors_are_hub_errors_rendered_as_problem_details() -> None:
    with pytest.raises(BadRequestData) as info:
        parse_geo_query("within", "Point", "[", None, expand=expand)
    problem = info.value.problem()
    assert problem["type"] == "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"
    assert problem["status"] == 400
    assert isinstance(info.value, HubError)
    assert not isinstance(info.value, InvalidRequest)


@pytest.mark.parametrize(
    "value",
    [
        {"type": "Point", "coordinates": [127.2653, 36.5047]},
        {"type": "Point", "coordinates": [127.2653, 36.5047, 40.0]},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
    ],
)
def test_validate_accepts_what_parse_accepts(value: dict[str, object]) -> None:
    validate_geojson_geometry(value)
    parse_geojson_geometry(value)


@pytest.mark.parametrize(
    "value",
    [
        {"type": "Point", "coordinates": [181, 0]},
        {"type": "Point", "coordinates": [0, 91]},
        {"type": "Point", "coordinates": [0]},
        {"type": "Point", "coordinates": ["a", 1]},
        {"type": "Point", "coordinates": [float("nan"), 1]},
        {"type": "Point"},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
    ],
)
def test_validate_refuses_what_parse_refuses(value: dict[str, object]) -> None:
    with pytest.raises(BadRequestData):
        parse_geojson_geometry(value)
    with pytest.raises(BadRequestData):
        validate_geojson_geometry(value)
