"""``_native_history.change_json`` splices a change row's JSON from the entity row's JSON: it
must give the very bytes ``orjson.dumps`` gives of what ``record._elements`` (the Python
reference) answers, with the same plain flag, times and pairs, the same observedAt cache
and the same exception — or ``NotImplemented`` for a shape it leaves to Python; it must not
leak; and the SQLite history writer must take it for issue 2's batch."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityos.hub.temporal import record
from cityos.hub.temporal._times import text_micros
from tests.conftest import assert_no_leaks, native_extension, require_native
from tests.hub.temporal.test_native_history import (
    CORE,
    READING,
    STAMP,
    STAMP_US,
    attrs_strategy,
    python,
)

native = native_extension("_native_history")


@pytest.fixture(autouse=True)
def _built() -> None:
    """The extension must be there: a failure with CI=true, a skip elsewhere."""
    require_native("_native_history", native)


def splice(attrs: Any, created: bool, seen: dict[str, int]) -> Any:
    """Return change_json's answer, or ("!", exception type and text)."""
    assert native is not None
    try:
        return native.change_json(
            attrs, orjson.dumps(attrs), STAMP, STAMP_US, created, seen, text_micros
        )
    except Exception as error:  # noqa: BLE001 - the same error on both sides is the point
        return ("!", f"{type(error).__name__}: {error}")


@settings(max_examples=800, deadline=None)
@given(attrs=attrs_strategy, created=st.booleans())
def test_the_bytes_orjson_writes_of_the_python_answer(attrs: dict[str, Any], created: bool) -> None:
    try:
        orjson.dumps(attrs)
    except orjson.JSONEncodeError:
        return  # no entity row could hold it (an int over 64 bits)
    seen_c: dict[str, int] = {}
    seen_py: dict[str, int] = {}
    got = splice(attrs, created, seen_c)
    expected = python(attrs, created, seen_py)
    if got is NotImplemented:
        return
    if isinstance(got, tuple) and got[0] == "!":
        assert expected == "! " + got[1]
        return
    assert seen_c == seen_py
    if got is None:
        assert expected == "= None"
        return
    reference = record._elements(attrs, STAMP, STAMP_US, created)
    assert reference is not None
    items, plain, lo, hi = reference
    blob, got_plain, got_lo, got_hi, pairs = got
    assert type(blob) is bytearray
    assert bytes(blob) == orjson.dumps(items)
    assert (got_plain, got_lo, got_hi) == (plain, lo, hi)
    assert pairs == (None if created else [(e[0], e[1]) for e in items])


def sensor(created: bool) -> dict[str, Any]:
    stamps = {"createdAt": STAMP, "modifiedAt": STAMP}
    old = {"createdAt": "2026-01-01T00:00:00Z", "modifiedAt": "2026-01-01T00:00:00Z"}
    return {
        f"{CORE}pm10": [
            {
                "type": "Property",
                "value": 41.5,
                "unitCode": "GQ",
                "observedAt": "2026-12-02T10:59:00Z",
                **stamps,
            }
        ],
        f"{CORE}aqi": [{"type": "Property", "value": 17, **stamps}],
        f"{CORE}name": [
            {"type": "Property", "value": '세종 "호수"\n', **(stamps if created else old)}
        ],
        f"{CORE}ref": [{"type": "Relationship", "object": "urn:ngsi-ld:Device:1", **stamps}],
        f"{CORE}location": [
            {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [127.28, 36.48]},
                **stamps,
            }
        ],
    }


@pytest.mark.parametrize("created", [True, False])
def test_a_sensor_entity_is_spliced(created: bool) -> None:
    """Issue 2's shape (and an update of it, where one attribute did not change) takes the
    C path: not NotImplemented, the same bytes as Python's."""
    assert native is not None
    attrs = sensor(created)
    got = native.change_json(attrs, orjson.dumps(attrs), STAMP, STAMP_US, created, {}, text_micros)
    assert got is not NotImplemented
    assert got is not None
    reference = record._elements(attrs, STAMP, STAMP_US, created)
    assert reference is not None
    items, plain, lo, hi = reference
    assert bytes(got[0]) == orjson.dumps(items)
    assert got[1:4] == (plain, lo, hi)
    assert len(items) == (5 if created else 4)
    assert orjson.loads(got[0])[1][7] == 17.0  # an int value's number is a float


@pytest.mark.parametrize(
    ("attrs", "text"),
    [
        ({"a": [{"type": "Property", "modifiedAt": STAMP}]}, b'{"b":[{"type":"Property"}]}'),
        ({"a": [{"type": "Property", "modifiedAt": STAMP}]}, b'{"a":[]}'),
        ({"a": [{"type": "Property", "modifiedAt": STAMP}]}, b'{"a":[{"type":"Property"}],"b":[]}'),
        ({"a": [{"type": "Property", "modifiedAt": STAMP}]}, b'{"a":[{"type":"Property"'),
        ({"a\n": [{"type": "Property", "modifiedAt": STAMP}]}, None),  # escaped name
        ({"a": [{"type": "Property", "value": 10**16, "modifiedAt": STAMP}]}, None),
        ({"a": [{"type": "Property", "datasetId": "urn:d", "modifiedAt": STAMP}]}, None),
        ({"a": [], "b": [{"type": "Property", "modifiedAt": STAMP}]}, None),
        ({}, None),  # no element: the Python path
        ({"a": [{**{f"k{i}": i for i in range(40)}, "modifiedAt": STAMP}]}, None),
    ],
)
def test_what_goes_to_python(attrs: Any, text: bytes | None) -> None:
    """Text that does not match the dict member for member, and the shapes left to Python
    (for a new entity), answer NotImplemented."""
    assert native is not None
    raw = orjson.dumps(attrs) if text is None else text
    assert native.change_json(attrs, raw, STAMP, STAMP_US, True, {}, text_micros) is (
        NotImplemented
    )
    assert native.change_json(attrs, raw.decode(), STAMP, STAMP_US, True, {}, text_micros) is (
        NotImplemented
    )
    with pytest.raises(TypeError):
        native.change_json(attrs, raw)


def test_spliced_row_takes_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """``record.spliced_row`` gives the C answer as a change row, and None (the caller
    takes change_row) without the extension, with a scope or for a row wider than
    MAX_SPAN."""
    from cityos.hub.store.base import Change

    attrs = sensor(True)
    entity = {
        "id": "urn:ngsi-ld:Sensor:1",
        "type": [f"{CORE}Sensor"],
        "attrs": attrs,
        "createdAt": STAMP,
        "modifiedAt": STAMP,
    }
    change = Change("urn:ngsi-ld:Sensor:1", None, entity)
    row = record.spliced_row(change, orjson.dumps(attrs))
    reference = record.change_row(change)
    assert row is not None
    assert reference is not None
    assert row[:3] == reference[:3]
    assert bytes(row[3]) == orjson.dumps(reference[3])
    assert row[4] == reference[4]
    scoped = Change(change.entity_id, None, {**entity, "scope": ["/a"]})
    assert record.spliced_row(scoped, orjson.dumps(attrs)) is None
    wide = sensor(True)
    wide[f"{CORE}pm10"][0]["observedAt"] = "2026-12-01T00:00:00Z"  # a day before the stamp
    assert record.spliced_row(Change(change.entity_id, None, {**entity, "attrs": wide}),
                              orjson.dumps(wide)) is None  # fmt: skip
    monkeypatch.setattr(record, "_NATIVE", None)
    assert record.spliced_row(change, orjson.dumps(attrs)) is None


def test_no_leaks() -> None:
    """Many calls, on every path (answer, None, NotImplemented, an exception), keep no
    references and no memory."""
    assert native is not None
    inst = READING
    cases: list[tuple[Any, bool]] = [
        ({"a": [inst], "b": [dict(inst, datasetId="urn:d")]}, False),  # an answer, pairs
        ({"a": [inst], "b": [dict(inst, value=3)]}, True),  # an answer
        ({"a": [dict(inst, modifiedAt="2026-01-01T00:00:00Z")]}, True),  # None
        ({"a": [inst], "b": [dict(inst, datasetId="urn:d")]}, True),  # NotImplemented
        ({"a": [dict(inst, observedAt="bad")]}, True),  # the callback raises
    ]
    texts = [orjson.dumps(attrs) for attrs, _ in cases]
    watched = [STAMP, STAMP_US, inst, inst["observedAt"], *(c[0] for c in cases), *texts]

    def run(times: int) -> None:
        for _ in range(times):
            for (attrs, created), text in zip(cases, texts, strict=True):
                with contextlib.suppress(Exception):  # exceptions are among the cases
                    native.change_json(attrs, text, STAMP, STAMP_US, created, {}, text_micros)

    assert_no_leaks(run, watched)
