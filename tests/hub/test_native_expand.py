"""The C expansion of a batch's entities (``_native_expand``) must agree exactly with Python.

``_native_expand.expand_entity`` stands for what ``batch._prepare`` does per entity
(check_entity_id, then expand_entity with the request's ExpandCache): for the shapes it
takes it must return the same entity (same keys in the same order, the same value objects)
and fill the caches the same way; for anything else it answers NotImplemented and the
Python path runs, so every error stays word for word the same. Generated bodies, common
shapes and near misses of them, run through both; the C code is also run many times to see
that it keeps no reference and no memory it should not. With CI=true a missing extension is
a failure, not a skip.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import tracemalloc
from collections import OrderedDict
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityos.config import Settings
from cityos.hub import _native, batch
from cityos.hub.batch import BatchResult, _prepare
from cityos.hub.context import ContextResolver
from cityos.hub.errors import BadRequestData, HubError
from cityos.hub.model import (
    ENTITY_KEYWORDS,
    NATIVE_HELPERS,
    NULL_URI,
    ExpandCache,
    check_entity_id,
    expand_entity,
)
from tests.conftest import native_extension, require_native

CTX = ContextResolver(Settings(), allow_network=False).core
NOW = "2026-11-25T00:00:00.000000Z"
OBSERVED = "2026-11-25T09:00:00Z"


NATIVE = native_extension("_native_expand")


@pytest.fixture(scope="module")
def native() -> ModuleType:
    """The extension; its absence fails in CI (CI=true) and skips elsewhere."""
    return require_native("_native_expand", NATIVE)


def test_extension_is_built_in_ci() -> None:
    if os.environ.get("CI") == "true":
        assert NATIVE is not None, "cityos.hub._native_expand must be built in CI"
        assert "_native_expand" in _native.NAMES


def test_load_follows_the_switch(native: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYOS_NATIVE", "0")
    assert _native.load("_native_expand") is None
    monkeypatch.setenv("CITYOS_NATIVE", "1")
    assert _native.load("_native_expand") is native


class _Cache(ExpandCache):
    """A request's ExpandCache, with the list the C function keeps its templates in (as
    ``_prepare`` keeps it beside the cache)."""

    def __init__(self) -> None:
        super().__init__(CTX)
        self.shapes: list[object] = []


def _call(native: ModuleType, raw: Any, cache: _Cache, helpers: Any = NATIVE_HELPERS) -> Any:
    return native.expand_entity(
        raw, NOW, CTX, cache.names, cache.types, cache.times, helpers, cache.shapes
    )


# --- the two paths ------------------------------------------------------------------------


def _python(raw: Any, cache: ExpandCache) -> Any:
    """What ``batch._prepare`` does per entity of a create/upsert without the C path."""
    try:
        mapping = isinstance(raw, (dict, Mapping))
        entity_id = check_entity_id(raw.get("id") if mapping else None)
        return entity_id, expand_entity(raw, CTX, now=NOW, cache=cache, id_checked=True)
    except HubError as error:
        return error
    except (AttributeError, TypeError) as error:  # a key that is not a string (never in JSON)
        return error


def _native_or_python(native: ModuleType, raw: Any, cache: _Cache) -> tuple[Any, bool]:
    """The C path, falling back to the Python path as ``_prepare`` does; and whether C answered."""
    entity = _call(native, raw, cache)
    if entity is NotImplemented:
        return _python(raw, cache), False
    return (entity["id"], entity), True


def _canon(value: Any) -> Any:
    """An order- and type-sensitive form (1, 1.0 and True differ; key order counts)."""
    if isinstance(value, dict):
        return (type(value), [(_canon(k), _canon(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value), [_canon(v) for v in value])
    if isinstance(value, float):
        return (float, repr(value))  # NaN equals itself here
    return (type(value), value)


def _same_objects(raw: dict[str, Any], entity: dict[str, Any]) -> None:
    """The values in ``entity`` are the request's own objects, as the Python path keeps them."""
    assert entity["id"] is raw["id"]
    assert entity["createdAt"] is NOW
    assert entity["modifiedAt"] is NOW
    for name, member in raw.items():
        if not isinstance(member, dict) or name in ENTITY_KEYWORDS:
            continue
        inst = entity["attrs"][CTX.expand(name)][0]
        for key, value in inst.items():
            if key in ("createdAt", "modifiedAt"):
                assert value is NOW
            elif key != "type":
                assert value is member[key]


def _agree(native: ModuleType, bodies: list[Any]) -> int:
    """Run ``bodies`` through both paths (one cache each, as one request); return how many
    entities the C path answered."""
    cache_py, cache_c = _Cache(), _Cache()
    answered = 0
    for raw in bodies:
        expected = _python(raw, cache_py)
        got, in_c = _native_or_python(native, raw, cache_c)
        if isinstance(expected, Exception):
            assert not in_c, (raw, expected)
            assert type(got) is type(expected)
            assert str(got) == str(expected)
        else:
            assert not isinstance(got, Exception), (raw, got)
            assert _canon(got) == _canon(expected), raw
            if in_c:
                _same_objects(raw, got[1])
        answered += in_c
        # the caches hold the same names, types and times after every entity
        assert cache_c.names == cache_py.names
        assert cache_c.types == cache_py.types
        assert cache_c.times == cache_py.times
    return answered


# --- generated bodies ---------------------------------------------------------------------

IDS = [
    "urn:ngsi-ld:AirQualityObserved:1",
    "urn:ngsi-ld:Device:세종-1",  # an IRI: is_uri decides
    "urn:ngsi-ld:Device:1\n",  # ``$`` lets one final newline through
    "urn:ngsi-ld:Device:\u200b1",  # invisible
    "http://example.org/a?b=1#c",
    "urn:ngsi-ld:null",
    "not a uri",
    "1urn:x",
    "urn:",
    ":x",
    "",
    "urn:a b",
    "urn:a\x7fb",
    "URN+x.y-z:ok:also:ok",
]
NAMES = [
    "pm10",
    "temperature",
    "refDevice",
    "location",
    "observationSpace",
    "operationSpace",
    "name",
    "https://example.org/attrs/speed",
    "온도",
    "bad name",
    "@context",
    "@weird",
    "createdAt",
    "modifiedAt",
    "deletedAt",
    "scope",
    "id",
    "type",
    "a" * 513,
]
DATES = [
    OBSERVED,
    "2026-11-25T09:00:00+09:00",
    "2026-11-25T09:00:00.123456789Z",
    "2026-11-25T09:00Z",
    "2026-13-45T09:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-11-25T09:00:00Z\n",
    "2026-11-25T09:00:00",
    "yesterday",
    "",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63, max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
    | st.just(NULL_URI)
    | st.just("온도 ✓")
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
coordinate = (
    st.floats(min_value=-200, max_value=200)
    | st.sampled_from([math.nan, math.inf, 127.0, 36.5, -180.0, 180.0, 90.0, -90.0])
    | st.integers(min_value=-200, max_value=200)
    | st.booleans()
    | st.none()
)
geometries = st.fixed_dictionaries(
    {"type": st.sampled_from(["Point", "Point", "Point", "Polygon", "point", "Feature"])},
    optional={
        "coordinates": st.lists(coordinate, min_size=2, max_size=2)
        | st.lists(coordinate, max_size=4)
        | st.just([[127.0, 36.5], [127.1, 36.6]])
        | st.tuples(coordinate, coordinate)
        | scalars,
        "bbox": st.just([127.0, 36.0, 128.0, 37.0]),
    },
)
units = st.sampled_from(["CEL", "GQ", "59", "", "섭씨"]) | st.integers() | st.none()
observed = st.sampled_from(DATES) | st.integers() | st.none() | st.just(["2026-11-25T09:00:00Z"])
objects = st.sampled_from(IDS) | st.integers() | st.none() | st.lists(st.sampled_from(IDS[:2]))
GOOD_NAMES = ["pm10", "temperature", "refDevice", "location", "온도", "https://example.org/a/b"]
odd_kinds = st.sampled_from(
    ["LanguageProperty", "ListProperty", "Bogus", "", None, 1, ["Property"]]
)
good_point = st.builds(
    lambda lon, lat: {"type": "Point", "coordinates": [lon, lat]},
    st.floats(min_value=-180, max_value=180),
    st.floats(min_value=-90, max_value=90),
)


def _rarely(draw: st.DrawFn, one_in: int = 12) -> bool:
    return draw(st.integers(0, one_in - 1)) == 0


@st.composite
def instances(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    """An attribute instance: mostly a common shape, now and then with one thing changed."""
    kind = draw(st.sampled_from(["Property"] * 5 + ["Relationship"] * 2 + ["GeoProperty"] * 2))
    if _rarely(draw):
        kind = draw(odd_kinds)
    inst: dict[str, Any] = {} if _rarely(draw, 30) else {"type": kind}
    if kind == "GeoProperty":
        inst["value"] = draw(geometries if _rarely(draw, 4) else good_point)
    elif kind == "Relationship":
        inst["object"] = draw(objects if _rarely(draw, 4) else st.sampled_from(IDS[:2]))
    elif not _rarely(draw, 30):
        inst["value"] = draw(
            values if _rarely(draw, 4) else scalars.filter(lambda v: v is not None)
        )
    if kind == "Property" and draw(st.booleans()) or _rarely(draw, 20):
        inst["unitCode"] = draw(units if _rarely(draw) else st.just("CEL"))
    if kind == "Property" and draw(st.booleans()) or _rarely(draw, 20):
        inst["observedAt"] = draw(observed if _rarely(draw, 6) else st.sampled_from(DATES[:4]))
    if _rarely(draw, 6):
        extra = draw(st.integers(0, 6))
        if extra == 0:
            inst["datasetId"] = draw(st.sampled_from(IDS))
        elif extra == 1 and depth < 2:
            inst["accuracy"] = draw(instances(depth + 1))  # a sub-attribute
        elif extra == 2:
            inst["objectType"] = "Device"
        elif extra == 3:
            inst["previousValue"] = 1
        elif extra == 4:
            inst["object"] = draw(objects)
        elif extra == 5:
            inst["lang"] = "ko"
        else:
            inst["value"] = draw(st.none() | st.just(NULL_URI) | good_point)
    if _rarely(draw, 4):  # the members in another order
        inst = dict(draw(st.permutations(list(inst.items()))))
    return inst


class _Dict(dict):  # type: ignore[type-arg]
    """A dict subclass: the C path leaves it to Python."""


@st.composite
def attributes(draw: st.DrawFn) -> Any:
    """An attribute's member: mostly one instance object, now and then another form."""
    if not _rarely(draw, 8):
        return draw(instances())
    return draw(
        instances().map(lambda inst: [inst, {**inst, "datasetId": "urn:ngsi-ld:Dataset:b"}])
        | instances().map(_Dict)
        | instances().map(OrderedDict)
        | scalars  # concise values
    )


types = (
    st.sampled_from(["AirQualityObserved", "Device", "온도계", "", "bad type", "@id", "type"])
    | st.lists(st.sampled_from(["AirQualityObserved", "Device"]), max_size=2)
    | st.none()
    | st.integers()
)
scopes = st.sampled_from(["/Sejong", "/Sejong/Hansol", "Sejong", "", ["/a", "/b"], 5])


@st.composite
def bodies(draw: st.DrawFn) -> Any:
    """An entity body: mostly an object with id and type and a few attributes."""
    shape = draw(st.integers(0, 39))
    if shape == 0:
        return draw(st.none() | st.integers() | st.just(["urn:ngsi-ld:X:1"]) | st.text())
    names = st.sampled_from(NAMES) if _rarely(draw, 5) else st.sampled_from(GOOD_NAMES)
    entries = draw(st.lists(st.tuples(names, attributes()), max_size=6))
    body: Any = dict(entries)
    head: dict[str, Any] = {}
    if not _rarely(draw, 30):
        head["id"] = draw(
            st.sampled_from(IDS) | st.integers() | st.none()
            if _rarely(draw, 6)
            else st.sampled_from(IDS[:2])
        )
    if not _rarely(draw, 30):
        head["type"] = draw(types if _rarely(draw, 6) else st.just("AirQualityObserved"))
    if _rarely(draw, 8):
        head["scope"] = draw(scopes)
    if _rarely(draw, 30):
        head["@id"] = "urn:ngsi-ld:X:2"
    body = {**head, **body} if draw(st.booleans()) else {**body, **head}
    if shape == 1:
        body = _Dict(body)
    elif shape == 2:
        body[7] = {"type": "Property", "value": 1}  # a key that is not a string
    return body


def _sensor(i: int, **changes: Any) -> dict[str, Any]:
    body = {
        "id": f"urn:ngsi-ld:AirQualityObserved:{i}",
        "type": "AirQualityObserved",
        "pm10": {"type": "Property", "value": 12.5, "unitCode": "GQ", "observedAt": OBSERVED},
        "no2": {"type": "Property", "value": 0.04, "unitCode": "59"},
        "aqi": {"type": "Property", "value": 42},
        "seen": {"type": "Property", "value": "yes", "observedAt": OBSERVED},
        "refDevice": {"type": "Relationship", "object": f"urn:ngsi-ld:Device:{i}"},
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [127.2, 36.5]},
        },
    }
    body.update(changes)
    return body


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(batch_bodies=st.lists(bodies(), min_size=1, max_size=4))
def test_generated_bodies_agree(native: ModuleType, batch_bodies: list[Any]) -> None:
    _agree(native, batch_bodies)


@settings(max_examples=300)
@given(changes=st.dictionaries(st.sampled_from(NAMES), attributes(), max_size=2))
def test_near_misses_of_the_common_shape_agree(native: ModuleType, changes: dict[str, Any]) -> None:
    _agree(native, [_sensor(1), _sensor(2, **changes), _sensor(3)])


def test_the_common_shapes_are_answered_in_c(native: ModuleType) -> None:
    bodies = [
        _sensor(1),
        _sensor(2, scope="/Sejong/Hansol"),
        _sensor(3, type=["AirQualityObserved", "Device"]),
        _sensor(4, id="urn:ngsi-ld:Device:세종-1"),  # is_uri called back
        _sensor(
            5,
            location={"type": "GeoProperty", "value": {"type": "Point", "coordinates": [127, 36]}},
        ),
        _sensor(
            6, pm10={"type": "Property", "value": 1, "observedAt": "2026-11-25T09:00:00+09:00"}
        ),
        _sensor(7, **{"@context": "https://example.org/ctx.jsonld", "createdAt": "x"}),
        _sensor(8, pm10={"type": "Property", "value": {"nested": [1, True, None]}}),
        _sensor(9, pm10={"type": "Property", "value": 2**80}),
        _sensor(10, pm10={"type": "Property", "value": False}),
    ]
    assert _agree(native, bodies) == len(bodies)


@pytest.mark.parametrize(
    "body",
    [
        _sensor(1, id="not a uri"),
        _sensor(1, id=None),
        {"@id": "urn:ngsi-ld:X:1", "type": "T"},
        _sensor(1, type=""),
        _sensor(1, type=5),
        _sensor(1, scope="no slash"),
        _sensor(1, **{"bad name": {"type": "Property", "value": 1}}),
        _sensor(1, pm10={"type": "Property", "value": 1, "observedAt": "2026-02-30T00:00:00Z"}),
        _sensor(1, pm10={"type": "Property", "value": 1, "observedAt": 5}),
        _sensor(1, pm10={"type": "Property", "value": None}),
        _sensor(1, pm10={"type": "Property", "value": NULL_URI}),
        _sensor(1, pm10={"type": "Property", "value": 1, "unitCode": ""}),
        _sensor(1, refDevice={"type": "Relationship", "object": "urn:ngsi-ld:Device:\u200b1"}),
        _sensor(1, refDevice={"type": "Relationship", "object": NULL_URI}),
        _sensor(1, location={"type": "Relationship", "object": "urn:ngsi-ld:Device:1"}),
        _sensor(1, location={"type": "Property", "value": 1}),
        _sensor(
            1,
            location={
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [200.0, 1.0]},
            },
        ),
        _sensor(1, location={"type": "GeoProperty", "value": {"type": "Point"}}),
        _sensor(
            1,
            location={
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [math.nan, 1.0]},
            },
        ),
    ],
)
def test_errors_are_left_to_python(native: ModuleType, body: dict[str, Any]) -> None:
    cache = _Cache()
    answer = _call(native, body, cache)
    assert answer is NotImplemented
    assert isinstance(_python(body, _Cache()), BadRequestData)
    _agree(native, [body])


@pytest.mark.parametrize(
    "body",
    [
        _sensor(
            1,
            pm10=[
                {"type": "Property", "value": 1},
                {"type": "Property", "value": 2, "datasetId": "urn:x:b"},
            ],
        ),
        _sensor(1, pm10=21.5),
        _sensor(1, pm10={"value": 21.5}),
        _sensor(1, pm10={"type": "Property", "value": 1, "datasetId": "urn:x:b"}),
        _sensor(
            1, pm10={"type": "Property", "value": 1, "accuracy": {"type": "Property", "value": 0.1}}
        ),
        _sensor(1, refDevice={"type": "Relationship", "object": "urn:x:1", "objectType": "Device"}),
        _sensor(1, location={"type": "Point", "coordinates": [127.0, 36.5]}),
        _sensor(1, name={"type": "LanguageProperty", "languageMap": {"ko": "세종"}}),
        _Dict(_sensor(1)),
        _sensor(1, pm10=_Dict({"type": "Property", "value": 1})),
        {"id": "urn:ngsi-ld:X:1", "@type": "T"},
    ],
)
def test_other_shapes_are_left_to_python(native: ModuleType, body: Any) -> None:
    cache = _Cache()
    answer = _call(native, body, cache)
    assert answer is NotImplemented
    assert not isinstance(_python(body, _Cache()), HubError)
    _agree(native, [body])


def test_a_relationship_named_location_is_refused_on_the_fast_path_too() -> None:
    """The Python fast path took a Relationship as ``location`` (reserved for GeoProperties)
    that the general path refuses; both now refuse it."""
    body = _sensor(1, location={"type": "Relationship", "object": "urn:ngsi-ld:Device:1"})
    assert isinstance(_python(body, _Cache()), BadRequestData)


# --- the wiring in batch._prepare ---------------------------------------------------------


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch_bodies=st.lists(bodies() | st.builds(_sensor, st.integers(0, 3)), max_size=5),
    operation=st.sampled_from(["create", "upsert", "update", "merge", "delete"]),
)
def test_prepare_is_the_same_with_and_without_c(
    native: ModuleType, batch_bodies: list[Any], operation: Any
) -> None:
    def run(module: ModuleType | None) -> Any:
        saved = batch._NATIVE
        batch._NATIVE = module
        try:
            result = BatchResult()
            items = _prepare(batch_bodies, operation, CTX, NOW, result)
        except (AttributeError, TypeError) as error:  # a key that is not a string (never JSON)
            return type(error), str(error)
        finally:
            batch._NATIVE = saved
        return [(i.entity_id, id(i.raw), _canon(i.entity)) for i in items], _canon(result.errors)

    assert run(native) == run(None)


# --- reference and memory hygiene ---------------------------------------------------------

LEAK_BODIES = [
    _sensor(1),
    _sensor(2, scope="/Sejong"),
    _sensor(3, id="urn:ngsi-ld:Device:세종-1"),
    _sensor(4, id="not a uri"),
    _sensor(5, type=""),
    _sensor(6, scope="bad"),
    _sensor(7, **{"bad name": {"type": "Property", "value": 1}}),
    _sensor(8, pm10={"type": "Property", "value": 1, "observedAt": "2026-02-30T00:00:00Z"}),
    _sensor(9, refDevice={"type": "Relationship", "object": "not a uri"}),
    _sensor(
        10, location={"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}}
    ),
    _sensor(
        11, location={"type": "GeoProperty", "value": {"type": "Point", "coordinates": [999, 2]}}
    ),
    _sensor(12, pm10=[{"type": "Property", "value": 1}]),
    _sensor(13, pm10={"type": "Property", "value": 1, "datasetId": "urn:x"}),
    _sensor(14, type=["A", "B"]),
    _sensor(
        15,
        pm10={
            "type": "Property",
            "value": 1,
            "unitCode": "CEL",
            "observedAt": "2027-01-01T00:00:00Z",
        },
    ),
]


def _run(native: ModuleType, body: Any, cache: _Cache) -> Any:
    return _call(native, body, cache)


# CPython 3.11 makes its static objects (the identifier strings of its own code, such as
# "type" and "value") with this reference count: any thread's code moves their counts.
_STATIC = 999_999_999 // 2


def _leaves(value: Any) -> list[Any]:
    """The objects in ``value``, less those the whole interpreter shares (None, small ints,
    static strings), whose counts move with any code."""
    if isinstance(value, dict):
        return _own([*value.keys(), *(x for v in value.values() for x in _leaves(v))])
    if isinstance(value, list):
        return [x for v in value for x in _leaves(v)]
    if value is None or isinstance(value, bool) or (isinstance(value, int) and -5 <= value < 257):
        return []
    return _own([value])


def _own(objects: list[Any]) -> list[Any]:
    """``objects`` without the interpreter's static ones (see ``_STATIC``)."""
    return [o for o in objects if sys.getrefcount(o) < _STATIC]


@pytest.mark.parametrize("body", LEAK_BODIES, ids=range(len(LEAK_BODIES)))
def test_references_are_balanced(native: ModuleType, body: Any) -> None:
    # a fresh cache each run: the misses (callbacks, cache fills) are counted too
    shared = [body, NOW, CTX, NATIVE_HELPERS, *_leaves(body), *body.values()]
    for _ in range(3):
        _run(native, body, _Cache())
    warm = _Cache()
    _run(native, body, warm)
    shared += [*warm.names.keys(), *warm.names.values(), *warm.types.values(), *warm.times]
    shared = _own(shared)
    before = [sys.getrefcount(obj) for obj in shared]
    for _ in range(2000):
        _run(native, body, _Cache())
        _run(native, body, warm)
    after = [sys.getrefcount(obj) for obj in shared]
    assert after == before


def test_memory_stays_bounded(native: ModuleType) -> None:
    caches = [_Cache() for _ in LEAK_BODIES]
    for body, cache in zip(LEAK_BODIES, caches, strict=True):
        _run(native, body, cache)
    tracemalloc.start()
    try:
        first = tracemalloc.take_snapshot()
        for _ in range(3000):
            for body, cache in zip(LEAK_BODIES, caches, strict=True):
                _run(native, body, cache)
            _run(native, LEAK_BODIES[0], _Cache())
        grown = sum(
            stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(first, "filename")
        )
    finally:
        tracemalloc.stop()
    # 48,000 calls: a leak of even one small object per call would be megabytes
    assert grown < 64_000, grown


def test_an_unexpected_exception_propagates_without_leaking(native: ModuleType) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    calling = [  # a body that calls NATIVE_HELPERS[i] with an empty cache
        _sensor(1),
        _sensor(1),
        _sensor(1, scope="/Sejong"),
        _sensor(1),
        _sensor(1, id="urn:ngsi-ld:Device:세종-1"),
        _sensor(
            1, location={"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}}
        ),
    ]
    for position, body in enumerate(calling):
        helpers = tuple(broken if i == position else h for i, h in enumerate(NATIVE_HELPERS))
        held = _own([body, *body.values(), *_leaves(body)])
        before = [sys.getrefcount(obj) for obj in held]
        for _ in range(200):
            with pytest.raises(RuntimeError, match="boom"):
                _call(native, body, _Cache(), helpers)
        assert [sys.getrefcount(obj) for obj in held] == before


def test_wrong_arguments_are_type_errors(native: ModuleType) -> None:
    body, helpers = _sensor(1), NATIVE_HELPERS
    with pytest.raises(TypeError):
        native.expand_entity(body, NOW, CTX, {}, {}, set(), helpers)
    with pytest.raises(TypeError):
        native.expand_entity(body, NOW, CTX, {}, {}, [], helpers, [])
    with pytest.raises(TypeError):
        native.expand_entity(body, NOW, CTX, {}, {}, set(), helpers[:3], [])
    with pytest.raises(TypeError):
        native.expand_entity(body, NOW, CTX, {}, {}, set(), helpers, ())
    shapes: list[object] = []
    native.expand_entity(body, NOW, CTX, {}, {}, set(), helpers, shapes)
    shapes[1] = "not a template"
    with pytest.raises(TypeError):
        native.expand_entity(body, NOW, CTX, {}, {}, set(), helpers, shapes)


def test_the_templates_follow_now(native: ModuleType) -> None:
    cache = _Cache()
    first = _call(native, _sensor(1), cache)
    later = "2026-11-26T00:00:00.000000Z"
    second = native.expand_entity(
        _sensor(2), later, CTX, cache.names, cache.types, cache.times, NATIVE_HELPERS, cache.shapes
    )
    assert first["createdAt"] is NOW
    assert first["attrs"][CTX.expand("pm10")][0]["modifiedAt"] is NOW
    assert second["createdAt"] is later
    assert all(inst[0]["createdAt"] is later for inst in second["attrs"].values())
    assert second == expand_entity(_sensor(2), CTX, now=later)


def test_threads_get_the_same_answers(native: ModuleType) -> None:
    expected = [_python(_sensor(i), _Cache()) for i in range(200)]
    failures: list[str] = []

    def work() -> None:
        cache = _Cache()
        for _ in range(5):
            for i in range(200):
                got, in_c = _native_or_python(native, _sensor(i), cache)
                if not in_c or _canon(got) != _canon(expected[i]):
                    failures.append(repr(got))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
