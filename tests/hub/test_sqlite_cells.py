"""The SQLite store's point cells: Z-order keys, the ranges of a window, the index that holds
them, and migration 0016 moving points out of the R*Tree and back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from cityos import db
from cityos.app import create_app
from cityos.config import Settings
from cityos.hub.store._sqlite_cells import BITS, point_cell, window_ranges
from tests.hub.temporal.test_migration import _go

BASE = "/ngsi-ld/v1"
H = {"NGSILD-Tenant": "cells"}
LON = st.floats(min_value=-180, max_value=180, allow_nan=False)
LAT = st.floats(min_value=-90, max_value=90, allow_nan=False)


def _inside(cell: int, ranges: list[tuple[int, int]]) -> bool:
    return any(lo <= cell <= hi for lo, hi in ranges)


def test_cells_of_the_corners_and_the_order_of_the_quadrants() -> None:
    assert point_cell(-180, -90) == 0
    assert point_cell(180, 90) == (1 << (2 * BITS)) - 1
    assert point_cell(999, -999) == point_cell(180, -90)  # off the globe: the edge's cells
    # longitude in the even bits, latitude in the odd ones: SW < SE < NW < NE
    quadrants = [point_cell(-90, -45), point_cell(90, -45), point_cell(-90, 45), point_cell(90, 45)]
    assert quadrants == sorted(quadrants)
    assert point_cell(127.2653, 36.5047) < 1 << 62  # a signed 64-bit SQLite INTEGER


@settings(max_examples=400, deadline=None)
@given(lon=LON, lat=LAT, a=st.floats(0, 1), b=st.floats(0, 1), w=st.floats(0, 20))
def test_every_point_of_a_window_lies_in_its_ranges(
    lon: float, lat: float, a: float, b: float, w: float
) -> None:
    window = (lon - a * w, lat - b * w / 2, lon + (1 - a) * w, lat + (1 - b) * w / 2)
    ranges = window_ranges(*window)
    assert _inside(point_cell(lon, lat), ranges)
    assert _inside(point_cell(window[0], window[1]), ranges)  # the corners too
    assert _inside(point_cell(window[2], window[3]), ranges)
    for (_, hi), (lo, _) in zip(ranges, ranges[1:], strict=False):
        assert hi + 1 < lo  # sorted, disjoint, touching ones merged
    assert all(lo <= hi for lo, hi in ranges)
    assert len(ranges) <= 4 * 4 * 2**2  # at most 2 x 2 squares, each DEPTH (2) levels down


def test_a_kilometre_window_reads_little_outside_itself() -> None:
    # a 1 km near-query's box in Sejong (benchmarks/hub_bench.py's query)
    window = (127.2653 - 0.0125, 36.5047 - 0.009, 127.2653 + 0.0125, 36.5047 + 0.009)
    ranges = window_ranges(*window)
    step_x, step_y = 360 / 2**BITS, 180 / 2**BITS
    area = ((window[2] - window[0]) / step_x) * ((window[3] - window[1]) / step_y)
    covered = sum(hi - lo + 1 for lo, hi in ranges)
    assert covered >= area
    assert covered < 3 * area  # the edge's squares of the last level
    assert len(ranges) <= 16


def test_degenerate_windows() -> None:
    assert window_ranges(10, 10, 9, 11) == []  # west edge east of the east edge
    one = window_ranges(127.3, 36.5, 127.3, 36.5)
    assert _inside(point_cell(127.3, 36.5), one)
    whole = window_ranges(-180, -90, 180, 90)
    assert whole == [(0, (1 << (2 * BITS)) - 1)]


def point(entity_id: str, lon: float, lat: float) -> dict[str, Any]:
    return {
        "id": entity_id,
        "type": "Sensor",
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}},
    }


SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [[127.26, 36.50], [127.27, 36.50], [127.27, 36.51], [127.26, 36.51], [127.26, 36.50]]
    ],
}


def ids_near(client: TestClient, lon: float, lat: float, metres: int = 300) -> list[str]:
    r = client.get(
        f"{BASE}/entities",
        headers=H,
        params={
            "type": "Sensor",
            "georel": f"near;maxDistance=={metres}",
            "geometry": "Point",
            "coordinates": f"[{lon},{lat}]",
        },
    )
    assert r.status_code == 200, r.text
    return sorted(e["id"] for e in r.json())


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """SQLite only (tests/conftest.py's ``settings``, ``engine`` and ``client`` follow it):
    the cells are the SQLite store's; PostgreSQL indexes every geometry with GiST."""
    return f"sqlite:///{tmp_path_factory.mktemp('cells') / 'cityos.db'}"


def _rows(engine: Engine, sql: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql)).all())


def test_points_are_indexed_by_cell_and_other_geometries_by_box(
    engine: Engine, client: TestClient
) -> None:
    body = [point("urn:ngsi-ld:Sensor:p1", 127.2653, 36.5047)]
    body.append(
        {
            "id": "urn:ngsi-ld:Sensor:area",
            "type": "Sensor",
            "location": {"type": "GeoProperty", "value": SQUARE},
        }
    )
    r = client.post(f"{BASE}/entityOperations/upsert", json=body, headers=H)
    assert r.status_code == 201, r.text
    both = ["urn:ngsi-ld:Sensor:area", "urn:ngsi-ld:Sensor:p1"]
    assert ids_near(client, 127.2653, 36.5047) == both
    cells = _rows(engine, "SELECT cell, lon, lat FROM hub_geo ORDER BY pk")
    assert cells == [(point_cell(127.2653, 36.5047), 127.2653, 36.5047), (None, None, None)]
    assert len(_rows(engine, "SELECT pk FROM hub_geo_rtree")) == 1  # the polygon
    # the point becomes a polygon and the polygon a point (in place: one attribute each)
    swap = [
        {**point("urn:ngsi-ld:Sensor:area", 127.30, 36.48)},
        {
            "id": "urn:ngsi-ld:Sensor:p1",
            "type": "Sensor",
            "location": {"type": "GeoProperty", "value": SQUARE},
        },
    ]
    r = client.post(f"{BASE}/entityOperations/upsert", json=swap, headers=H)
    assert r.status_code == 204, r.text
    assert ids_near(client, 127.2653, 36.5047) == ["urn:ngsi-ld:Sensor:p1"]
    assert ids_near(client, 127.30, 36.48) == ["urn:ngsi-ld:Sensor:area"]
    assert len(_rows(engine, "SELECT pk FROM hub_geo_rtree")) == 1
    assert len(_rows(engine, "SELECT pk FROM hub_geo WHERE cell IS NOT NULL")) == 1
    # and back, by an attribute PATCH
    r = client.patch(
        f"{BASE}/entities/urn:ngsi-ld:Sensor:p1/attrs/location",
        json={"type": "GeoProperty", "value": {"type": "Point", "coordinates": [127.25, 36.6]}},
        headers=H,
    )
    assert r.status_code == 204, r.text
    assert ids_near(client, 127.25, 36.6) == ["urn:ngsi-ld:Sensor:p1"]
    assert ids_near(client, 127.2653, 36.5047) == []
    assert _rows(engine, "SELECT pk FROM hub_geo_rtree") == []
    # deleting the entity leaves no geo rows
    assert client.delete(f"{BASE}/entities/urn:ngsi-ld:Sensor:p1", headers=H).status_code == 204
    assert ids_near(client, 127.25, 36.6) == []
    assert len(_rows(engine, "SELECT pk FROM hub_geo")) == 1


def test_the_query_plan_reads_the_cell_index(engine: Engine) -> None:
    from cityos.hub.store.sqlite import _window_clause

    clause, params = _window_clause((127.25, 36.49, 127.28, 36.52), "location")
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT e.pk FROM hub_entities e WHERE " + clause, tuple(params)
        ).all()
    plan = " ".join(str(row[-1]) for row in rows)
    assert "USING COVERING INDEX hub_geo_cell (cell>? AND cell<?)" in plan
    assert "VIRTUAL TABLE INDEX" in plan  # the R*Tree, for the other geometries


def test_migration_moves_points_out_of_the_rtree_and_back(tmp_path: Path) -> None:
    settings_ = Settings(
        database_url=f"sqlite:///{tmp_path}/m.db", mode="test", seed_city=False, log_level="warning"
    )
    db.upgrade(settings_)
    engine = db.make_engine(settings_)
    try:
        with TestClient(create_app(settings_)) as client:
            body = [point(f"urn:ngsi-ld:Sensor:m{i}", 127.2 + i / 1000, 36.5) for i in range(30)]
            r = client.post(f"{BASE}/entityOperations/upsert", json=body, headers=H)
            assert r.status_code == 201, r.text
        _go(engine, "0015_temporal_month_function", down=True)
        assert len(_rows(engine, "SELECT pk FROM hub_geo_rtree")) == 30
        columns = {r[1] for r in _rows(engine, "PRAGMA table_info(hub_geo)")}
        assert not columns & {"cell", "lon", "lat"}
        _go(engine, "head", down=False)
        assert _rows(engine, "SELECT pk FROM hub_geo_rtree") == []
        cells = _rows(engine, "SELECT cell, lon, lat FROM hub_geo ORDER BY pk")
        assert cells == [
            (point_cell(127.2 + i / 1000, 36.5), 127.2 + i / 1000, 36.5) for i in range(30)
        ]
        with TestClient(create_app(settings_)) as client:
            assert ids_near(client, 127.2, 36.5, metres=50) == ["urn:ngsi-ld:Sensor:m0"]
    finally:
        engine.dispose()


@settings(max_examples=300, deadline=None)
@given(lon=st.floats(-400, 400), lat=st.floats(-200, 200))
def test_the_table_lookup_interleaves_as_the_bit_spreading_does(lon: float, lat: float) -> None:
    from cityos.hub.store._sqlite_cells import _spread, _x, _y

    assert point_cell(lon, lat) == _spread(_x(lon)) | (_spread(_y(lat)) << 1)
