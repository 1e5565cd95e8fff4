"""The object-free lane (``_native_lane.entity_rows``) must make, from a batch body's bytes,
exactly the rows the Python path makes from the parsed body — or decline.

The Python path is ``batch._prepare`` (the expanded entities), the SQLite store's row maker
(``_RowMaker``: the attributes' JSON, types, geometry texts and index places) and the
history writer's change row (``record.spliced_row``). Generated bodies (the near misses of
``test_native_expand``), written compactly and with whitespace and escapes, go through
both: where the lane answers, every byte must agree and the Python path must have accepted
every entity; the lane must never answer where Python reports an error. Then the lane runs
behind the batch API on SQLite, with history and a subscription, and declines to the Python
path when an entity exists. With CI=true a missing extension is a failure, not a skip.
"""

from __future__ import annotations

import json
import math
from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityos.hub.batch import BatchResult, _prepare
from cityos.hub.model import NATIVE_HELPERS, ExpandCache
from cityos.hub.store._sqlite_cells import CELL_SCALES
from cityos.hub.store.base import Change
from cityos.hub.store.sqlite import _RowMaker
from cityos.hub.temporal import record
from cityos.hub.temporal._times import text_micros
from tests.conftest import assert_no_leaks, native_extension, require_native
from tests.hub.test_native_expand import CTX, OBSERVED, _sensor, bodies

NATIVE = native_extension("_native_lane")
# ten minutes after the readings' OBSERVED: a change row spans at most record.MAX_SPAN (an
# hour; the Python path splits a wider one and the lane declines it)
NOW = "2026-11-25T09:10:00.000000Z"
SPAN = record.MAX_SPAN


@pytest.fixture(scope="module")
def native() -> ModuleType:
    """The extension; its absence fails in CI (CI=true) and skips elsewhere."""
    return require_native("_native_lane", NATIVE)


def none_exist(ids: list[str]) -> bool:
    return False


def lane(
    native: ModuleType,
    body: bytes,
    *,
    history: bool = True,
    now: str = NOW,
    exists: Any = none_exist,
) -> Any:
    cache = ExpandCache(CTX)
    return native.entity_rows(
        body,
        now,
        text_micros(now),
        CTX,
        cache.names,
        cache.types,
        cache.times,
        NATIVE_HELPERS,
        text_micros,
        {},
        SPAN,
        CELL_SCALES,
        history,
        exists,
    )


def python_rows(body: bytes, *, now: str = NOW) -> list[Any] | None:
    """What the Python path makes of the body's entities, or None: it reports an error for
    one of them (or the body is no JSON array of them)."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, list) or not parsed:
        return None
    result = BatchResult()
    try:
        items = _prepare(parsed, "upsert", CTX, now, result)
    except Exception:  # noqa: BLE001 - the whole body refused
        return None
    if result.errors or len(items) != len(parsed):
        return None
    maker = _RowMaker()
    rows = []
    for item in items:
        entity = item.entity
        assert entity is not None
        row = maker(entity)
        change = record.spliced_row(Change(entity["id"], None, entity), row[1])
        rows.append((entity, row, change))
    return rows


def agree(native: ModuleType, body: bytes) -> bool:
    """Check the lane against the Python path on ``body``; return whether the lane answered."""
    got = lane(native, body)
    expected = python_rows(body)
    if got is NotImplemented:
        return False
    assert expected is not None, body
    rows, shapes = got
    assert len(rows) == len(expected)
    for (entity_id, type_iri, text, shape, geo, where, blob, lo, hi), (entity, row, change) in zip(
        rows, expected, strict=True
    ):
        assert entity_id == entity["id"]
        assert [type_iri] == entity["type"]
        assert "scope" not in entity
        assert text == row[1] == orjson.dumps(entity["attrs"])
        pairs, names = shapes[shape]
        assert pairs == row[5]
        assert names == tuple(entity["attrs"])
        assert geo == row[6].geo
        assert where == row[7]
        assert change is not None, body  # the lane declines what spliced_row leaves
        assert (entity_id, lo, hi) == change[:3]
        assert bytes(blob) == bytes(change[3])
        assert type(blob) is bytearray
    return True


def texts_of(elements: list[Any], draw: st.DrawFn) -> bytes:
    """The body as orjson writes it, or with whitespace, escapes and Python's number forms."""
    how = draw(st.integers(0, 3))
    if how == 0:
        return orjson.dumps(elements)
    try:
        return json.dumps(elements, indent=draw(st.sampled_from([None, 1])), ensure_ascii=how == 2)
    except (TypeError, ValueError):
        return orjson.dumps(elements)


@st.composite
def batch_texts(draw: st.DrawFn) -> bytes:
    elements = draw(st.lists(bodies(), min_size=1, max_size=4))
    try:
        orjson.dumps(elements)
    except (orjson.JSONEncodeError, TypeError):
        return b"[]"
    text = texts_of(elements, draw)
    return text.encode() if isinstance(text, str) else text


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=batch_texts())
def test_generated_bodies_agree(native: ModuleType, body: bytes) -> None:
    agree(native, body)


# Bodies the lane should take, and near misses of them: sensors with the values sensors
# send (rounded floats, integers, text, flags, small lists and objects) and now and then one
# instance of test_native_expand's generator, which is mostly something the lane declines.
plain_values = st.recursive(
    st.integers(-(2**63), 2**63 - 1)
    | st.integers(-1000, 1000)
    | st.builds(round, st.floats(-1e7, 1e7), st.integers(0, 6))
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.text(max_size=8)
    | st.sampled_from(["온도 ✓", "ok", "urn:ngsi-ld:null", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=5,
)
coordinates = st.tuples(
    st.builds(round, st.floats(-180, 180), st.integers(0, 7)),
    st.builds(round, st.floats(-90, 90), st.integers(0, 7)),
)
LANE_TIMES = ["2026-11-25T09:00:00Z", "2026-11-25T09:05:30.5Z", "2026-11-25T18:00:00+09:00"]


@st.composite
def lane_instances(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["Property"] * 4 + ["Relationship", "GeoProperty"]))
    if kind == "Relationship":
        return {"type": kind, "object": f"urn:ngsi-ld:Device:{draw(st.integers(0, 9))}"}
    if kind == "GeoProperty":
        lon, lat = draw(coordinates)
        return {"type": kind, "value": {"type": "Point", "coordinates": [float(lon), float(lat)]}}
    inst: dict[str, Any] = {
        "type": kind,
        "value": draw(plain_values.filter(lambda v: v is not None)),
    }
    if draw(st.booleans()):
        inst["unitCode"] = draw(st.sampled_from(["CEL", "GQ", "섭씨"]))
    if draw(st.booleans()):
        inst["observedAt"] = draw(st.sampled_from(LANE_TIMES))
    return dict(draw(st.permutations(list(inst.items()))))


@st.composite
def lane_bodies(draw: st.DrawFn) -> bytes:
    names = ["pm10", "temperature", "refDevice", "온도", "https://example.org/a/b", "location"]
    elements = []
    for i in range(draw(st.integers(1, 4))):
        chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=5, unique=True))
        body: dict[str, Any] = {
            "id": f"urn:ngsi-ld:AirQualityObserved:{i}",
            "type": draw(st.sampled_from(["AirQualityObserved", "Device", "온도계"])),
        }
        for name in chosen:
            if name == "location":
                lon, lat = draw(coordinates)
                body[name] = {
                    "type": "GeoProperty",
                    "value": {"type": "Point", "coordinates": [float(lon), float(lat)]},
                }
            elif draw(st.integers(0, 14)) == 0:
                from tests.hub.test_native_expand import instances

                body[name] = draw(instances())
            else:
                body[name] = draw(lane_instances())
        elements.append(dict(draw(st.permutations(list(body.items())))))
    try:
        orjson.dumps(elements)
    except orjson.JSONEncodeError:
        return b"[]"
    text = texts_of(elements, draw)
    return text.encode() if isinstance(text, str) else text


ANSWERED: list[bool] = []


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=lane_bodies())
def test_sensor_bodies_agree(native: ModuleType, body: bytes) -> None:
    ANSWERED.append(agree(native, body))


def test_the_sensor_bodies_reach_the_lane() -> None:
    """The generator above is no test of the lane unless the lane answers often enough."""
    if ANSWERED:  # run after test_sensor_bodies_agree (file order)
        assert sum(ANSWERED) >= len(ANSWERED) // 5, (sum(ANSWERED), len(ANSWERED))


NUMBERS = [
    "0",
    "-1",
    "7",
    "123456789012345678",
    "1234567890123456789",
    "-0",
    "01",
    "0.0",
    "-0.0",
    "1.5",
    "1.50",
    "2.0",
    "2.00",
    "0.1",
    "0.00001",
    "0.000001",
    "0.000123",
    "123456789012345.0",
    "1234567890123456.0",
    "0.30000000000000004",
    "12345.678",
    "1e5",
    "1E5",
    "1.5e-3",
    "-12.25",
    "100",
    "9999999999999999",
    "10000000000000000",
    "3.141592653589793",
    "3.14159265358979",
]


@pytest.mark.parametrize("number", NUMBERS)
def test_numbers_as_orjson_writes_them(native: ModuleType, number: str) -> None:
    pm10 = f'{{"type":"Property","value":{number},"observedAt":"{OBSERVED}"}}'
    point = '{"type":"GeoProperty","value":{"type":"Point","coordinates":[127.25,36.5]}}'
    body = f'[{{"id":"urn:ngsi-ld:X:1","type":"Device","pm10":{pm10},"location":{point}}}]'
    agree(native, body.encode())


def test_common_sensors_take_the_lane(native: ModuleType) -> None:
    body = orjson.dumps([_sensor(i) for i in range(50)])
    assert agree(native, body)
    spaced = json.dumps([_sensor(i) for i in range(3)], indent=2).encode()
    assert agree(native, spaced)


@pytest.mark.parametrize(
    "change",
    [
        {"pm10": {"type": "Property", "value": "a\\u00e9"}},  # an escape
        {"pm10": {"type": "Property", "value": None}},
        {"pm10": {"type": "Property", "value": 1, "datasetId": "urn:x:1"}},
        {"pm10": [{"type": "Property", "value": 1}]},
        {"pm10": 5},
        {"scope": "/Sejong"},
        {"type": ["AirQualityObserved", "Device"]},
        {"location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [127, 36]}}},
        {"refDevice": {"type": "Relationship", "object": "not a uri"}},
        {"pm10": {"type": "Property", "value": 1, "observedAt": "yesterday"}},
        {"pm10": {"type": "Property", "value": 1, "observedAt": "2020-01-01T00:00:00Z"}},
    ],
)
def test_other_shapes_decline(native: ModuleType, change: dict[str, Any]) -> None:
    body = orjson.dumps([_sensor(1), _sensor(2, **change)]).replace(b"\\\\u00e9", b"\\u00e9")
    assert lane(native, body) is NotImplemented
    agree(native, body)


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"[]",
        b"{}",
        b"[1]",
        b"[{}]",
        b"[null]",
        b"[" * 40 + b"]" * 40,
        b'[{"id":"x"',
        b'[{"id":"urn:x:1","id":"urn:x:2","type":"T","a":{"type":"Property","value":1}}]',
        b'[{"id":"urn:x:1","type":"T","a":{"type":"Property","value":{"k":1,"k":2}}}]',
        b'[{"id":"urn:x:1","type":"T","a":{"type":"Property","value":1},'
        b'"a":{"type":"Property","value":2}}]',
        b'[{"id":"urn:x:1","type":"T","a":{"type":"Property","value":"\xff"}}]',
        b'[{"id":"urn:x:1","type":"T","a":{"type":"Property","value":"\xed\xa0\x80"}}] ',
    ],
)
def test_malformed_bodies_decline(native: ModuleType, text: bytes) -> None:
    assert lane(native, text) is NotImplemented


def test_a_body_naming_an_existing_entity_declines_before_its_rows_are_made(
    native: ModuleType,
) -> None:
    body = orjson.dumps([_sensor(1), _sensor(2)])
    asked: list[list[str]] = []

    def exists(ids: list[str]) -> bool:
        asked.append(ids)
        return "urn:ngsi-ld:AirQualityObserved:2" in ids

    assert lane(native, body, exists=exists) is NotImplemented
    assert asked == [["urn:ngsi-ld:AirQualityObserved:1", "urn:ngsi-ld:AirQualityObserved:2"]]
    assert lane(native, orjson.dumps([_sensor(3)]), exists=exists) is not NotImplemented

    def broken(ids: list[str]) -> bool:
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError, match="went away"):
        lane(native, body, exists=broken)


def test_history_off_makes_no_change_rows(native: ModuleType) -> None:
    rows, _ = lane(native, orjson.dumps([_sensor(1)]), history=False)
    assert rows[0][6] is None


def test_no_leaks(native: ModuleType) -> None:
    body = orjson.dumps([_sensor(1), _sensor(2)])
    declined = orjson.dumps([_sensor(1), _sensor(2, scope="/a")])

    def run(rounds: int) -> None:
        for _ in range(rounds):
            lane(native, body)
            lane(native, declined)

    assert_no_leaks(run, [body, declined, CTX, NATIVE_HELPERS, text_micros, "Property"])


def test_the_cell_is_point_cells(native: ModuleType) -> None:
    from cityos.hub.store._sqlite_cells import point_cell

    for lon, lat in [(127.25, 36.5), (-180.0, -90.0), (180.0, 90.0), (0.0, 0.0), (-0.5, 0.25)]:
        body = orjson.dumps(
            [
                _sensor(
                    1,
                    location={
                        "type": "GeoProperty",
                        "value": {"type": "Point", "coordinates": [lon, lat]},
                    },
                )
            ]
        )
        rows, _ = lane(native, body)
        cell, got_lon, got_lat, box = rows[0][5][0]
        assert (cell, got_lon, got_lat, box) == (point_cell(lon, lat), lon, lat, None)
        assert not math.isnan(got_lon)
