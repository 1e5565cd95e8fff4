"""PostGIS SQL from geo-queries agrees with the shapely path (real PostgreSQL 15 + PostGIS)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import shape

from cityos.hub.geo import GeoQuery, parse_geo_query, postgis_condition, postgis_distance
from tests.conftest import unavailable

pytestmark = pytest.mark.postgres

SERVER = "host=127.0.0.1 port=5432 user=postgres connect_timeout=5"
SEJONG = [127.2653, 36.5047]


def expand(term: str) -> str:
    """Expand a term the way a test @context would."""
    return "https://example.org/terms/" + term


def _unavailable(reason: str) -> None:
    unavailable(
        "PostgreSQL",
        f"PostgreSQL/PostGIS unavailable ({reason}); start PostgreSQL 15 with PostGIS",
    )


@pytest.fixture(scope="module")
def db() -> Iterator[psycopg.Connection]:
    """Yield a connection to a fresh temporary database with PostGIS, dropped afterwards."""
    name = f"cityos_geotest_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(SERVER + " dbname=postgres", autocommit=True)
    except psycopg.Error as exc:
        _unavailable(f"cannot connect to {SERVER}: {exc}")
    try:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            conn = psycopg.connect(SERVER + f" dbname={name}", autocommit=True)
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            except psycopg.Error as exc:
                conn.close()
                _unavailable(f"CREATE EXTENSION postgis failed: {exc}")
            try:
                yield conn
            finally:
                conn.close()
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        admin.close()


def square(minx: float, miny: float, maxx: float, maxy: float) -> dict[str, object]:
    """Return a GeoJSON rectangle [deg]."""
    ring = [[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]
    return {"type": "Polygon", "coordinates": [ring]}


ENTITIES: dict[str, dict[str, object]] = {
    "sejong": {"type": "Point", "coordinates": SEJONG},
    "888m-north": {"type": "Point", "coordinates": [127.2653, 36.5127]},
    "1110m-north": {"type": "Point", "coordinates": [127.2653, 36.5147]},
    "seoul": {"type": "Point", "coordinates": [126.9780, 37.5665]},
    "inside": {"type": "Point", "coordinates": [127.05, 36.05]},
    "on-edge": {"type": "Point", "coordinates": [127.1, 36.05]},
    "small-square": square(127.02, 36.02, 127.04, 36.04),
    "big-square": square(126.9, 35.9, 127.2, 36.2),
    "half-square": square(127.05, 36.05, 127.15, 36.15),
    "same-square": square(127.0, 36.0, 127.1, 36.1),
    "edge-square": square(127.1, 36.0, 127.2, 36.1),
    "east-square": square(127.2753, 36.4947, 127.2853, 36.5147),
    "crossing-line": {"type": "LineString", "coordinates": [[126.95, 36.05], [127.15, 36.05]]},
    "multipoint": {"type": "MultiPoint", "coordinates": [[128.0, 37.0], [127.05, 36.05]]},
    "collection": {
        "type": "GeometryCollection",
        "geometries": [
            {"type": "Point", "coordinates": [127.03, 36.03]},
            {"type": "LineString", "coordinates": [[127.0, 36.2], [127.1, 36.2]]},
        ],
    },
}

S = square(127.0, 36.0, 127.1, 36.1)["coordinates"]
QUERIES = [
    ("near;maxDistance==1000", "Point", SEJONG),
    ("near;maxDistance==900", "Point", SEJONG),
    ("near;minDistance==1000", "Point", SEJONG),
    ("near;maxDistance==130000", "Point", SEJONG),
    # Not on the crossing line: PostGIS follows its great-circle arc, ~4 m north of the
    # parallel at mid-span, where shapely follows the parallel (documented in docs/hub/geo.md).
    ("near;maxDistance==0", "Point", [127.03, 36.03]),
    *((rel, "Polygon", S) for rel in ("within", "contains", "intersects", "overlaps")),
    *((rel, "Polygon", S) for rel in ("disjoint", "equals")),
    ("contains", "Point", [127.05, 36.05]),
    ("intersects", "LineString", [[127.0, 36.05], [127.3, 36.05]]),
    ("within", "MultiPolygon", [S, square(128.0, 37.0, 128.1, 37.1)["coordinates"]]),
    ("equals", "Point", [127.05, 36.05]),
]


@pytest.fixture(scope="module")
def table(db: psycopg.Connection) -> str:
    """Create and fill a table of GeoProperty values; return its name."""
    db.execute(
        "CREATE TABLE geo_entities (id text PRIMARY KEY, location geography(Geometry, 4326))"
    )
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO geo_entities VALUES (%s, ST_GeomFromGeoJSON(%s)::geography)",
            [(key, json.dumps(value)) for key, value in ENTITIES.items()],
        )
    return "geo_entities"


def sql_ids(db: psycopg.Connection, table: str, q: GeoQuery) -> set[str]:
    """Return the ids PostGIS selects for the geo-query."""
    where, params = postgis_condition(q, "location")
    rows = db.execute(f"SELECT id FROM {table} WHERE {where}", params).fetchall()
    return {row[0] for row in rows}


def shapely_ids(q: GeoQuery) -> set[str]:
    """Return the ids the shapely path selects for the geo-query."""
    return {key for key, value in ENTITIES.items() if q.matches(shape(value))}


@pytest.mark.parametrize(("georel", "geometry", "coordinates"), QUERIES)
def test_postgis_selects_what_shapely_selects(db, table, georel, geometry, coordinates) -> None:  # type: ignore[no-untyped-def]
    q = parse_geo_query(georel, geometry, json.dumps(coordinates), None, expand=expand)
    assert q is not None
    assert sql_ids(db, table, q) == shapely_ids(q)


def test_known_answers_in_postgis(db, table) -> None:  # type: ignore[no-untyped-def]
    near = parse_geo_query("near;maxDistance==1000", "Point", SEJONG, None, expand=expand)
    within = parse_geo_query("within", "Polygon", S, None, expand=expand)
    assert near is not None
    assert within is not None
    assert sql_ids(db, table, near) == {"sejong", "888m-north", "east-square"}
    # The edge point is not within (OGC: boundary is not interior); the multipoint and the
    # collection each have a part outside S.
    assert sql_ids(db, table, within) == {"inside", "small-square", "same-square"}


def test_postgis_distance_orders_like_distance_m(db, table) -> None:  # type: ignore[no-untyped-def]
    q = parse_geo_query("near;maxDistance==200000", "Point", SEJONG, None, expand=expand)
    assert q is not None
    expr, params = postgis_distance(q, "location")
    rows = db.execute(f"SELECT id, {expr} FROM {table} ORDER BY 2, 1", params).fetchall()
    for key, sql_distance in rows:
        ours = q.distance_m(shape(ENTITIES[key]))
        # Points: both are exact WGS84 geodesics. Lines/polygons: PostGIS follows great-circle
        # edges, we follow lon/lat-straight edges; they differ by well under a metre here.
        assert sql_distance == pytest.approx(ours, rel=1e-6, abs=1.0), key
    assert rows[0][0] == "sejong"
    assert rows[0][1] == 0.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-0.05, 0.05), st.floats(-0.05, 0.05)), min_size=1, max_size=20),
    st.floats(0, 8000),
    st.sampled_from(["maxDistance", "minDistance"]),
)
def test_postgis_near_agrees_on_random_points(db, offsets, distance, kind) -> None:  # type: ignore[no-untyped-def]
    q = parse_geo_query(f"near;{kind}=={distance!r}", "Point", SEJONG, None, expand=expand)
    assert q is not None
    where, params = postgis_condition(q, "p.location")
    values = [
        json.dumps({"type": "Point", "coordinates": [SEJONG[0] + dx, SEJONG[1] + dy]})
        for dx, dy in offsets
    ]
    rows = db.execute(
        "SELECT p.i, " + where + " FROM (SELECT i, ST_GeomFromGeoJSON(g)::geography AS location"
        " FROM unnest(%s::text[]) WITH ORDINALITY AS t(g, i)) AS p",
        [*params, values],
    ).fetchall()
    for index, sql_match in rows:
        dx, dy = offsets[index - 1]
        point = shape({"type": "Point", "coordinates": [SEJONG[0] + dx, SEJONG[1] + dy]})
        if abs(q.distance_m(point) - distance) > 1e-3:  # ties are decided by rounding
            assert sql_match is q.matches(point)
