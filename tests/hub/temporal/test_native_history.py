"""The C extension ``_native_history`` must answer exactly what ``record._elements`` (the
Python reference) answers: the same elements (compared by ``repr``, so key order, int
against float and NaN count), the same observedAt cache, the same exception — or
``NotImplemented`` for a shape it leaves to Python; and it must not leak."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityos.hub.temporal import record
from cityos.hub.temporal._times import text_micros
from tests.conftest import assert_no_leaks, native_extension, require_native

native = native_extension("_native_history")


@pytest.fixture(autouse=True)
def _built() -> None:
    """The extension must be there: a failure with CI=true, a skip elsewhere."""
    require_native("_native_history", native)


STAMP = "2026-12-02T11:00:00.123456Z"
STAMP_US = text_micros(STAMP)
# One stamped numeric reading: the leak tests' cases are made from it.
READING = {
    "type": "Property",
    "value": 2.5,
    "observedAt": "2026-12-02T10:59:00Z",
    "createdAt": STAMP,
    "modifiedAt": STAMP,
}
CORE = "https://uri.etsi.org/ngsi-ld/default-context/"

times = st.sampled_from(
    [
        "2026-12-02T10:59:00Z",
        "2026-12-02T19:59:00+09:00",
        "1969-07-20T20:17:40Z",
        STAMP,
        "not a date",
        "",
    ]
) | st.integers(0, 10)
values = (
    st.integers(-(10**6), 10**6)
    | st.just(10**400)  # float() of it raises OverflowError
    | st.floats()
    | st.booleans()
    | st.none()
    | st.text(max_size=3)
    | st.just({"type": "Point", "coordinates": [127.0, 36.5]})
    | st.lists(st.integers(), max_size=2)
)
instances = st.dictionaries(
    st.sampled_from(
        [
            "type",
            "value",
            "object",
            "unitCode",
            "observedAt",
            "createdAt",
            "modifiedAt",
            "datasetId",
            f"{CORE}sub",
        ]
    ),
    st.one_of(
        st.sampled_from(["Property", "Relationship", "GeoProperty", STAMP, "urn:ds:1", ""]),
        values,
        times,
    ),
).map(lambda d: d)
stamped = st.builds(
    lambda d, modified: {**d, "createdAt": STAMP, "modifiedAt": modified} if modified else d,
    instances,
    st.sampled_from([STAMP, STAMP, "2026-12-01T00:00:00.000000Z", None, ""]),
)
attrs_strategy = st.dictionaries(
    st.sampled_from([f"{CORE}{n}" for n in ("pm10", "no2", "location", "ref")]),
    st.lists(stamped, max_size=3),
    max_size=4,
)


def answer(fn: Any, *args: Any) -> str:
    """Return ``repr`` of what ``fn`` returns, or of the exception it raises."""
    try:
        return "= " + repr(fn(*args))
    except Exception as error:  # noqa: BLE001 - the same error on both sides is the point
        return f"! {type(error).__name__}: {error}"


def python(attrs: Any, created: bool, seen: dict[str, int]) -> str:
    saved = dict(record._OBSERVED)
    record._OBSERVED.clear()
    record._OBSERVED.update(seen)
    try:
        out = answer(record._elements, attrs, STAMP, STAMP_US, created)
        seen.clear()
        seen.update(record._OBSERVED)
        return out
    finally:
        record._OBSERVED.clear()
        record._OBSERVED.update(saved)


@settings(max_examples=600, deadline=None)
@given(attrs=attrs_strategy, created=st.booleans())
def test_same_answer_as_python(attrs: dict[str, Any], created: bool) -> None:
    assert native is not None
    seen_c: dict[str, int] = {}
    seen_py: dict[str, int] = {}
    got = answer(native.elements, attrs, STAMP, STAMP_US, created, seen_c, text_micros)
    assert got != "= NotImplemented"  # every dict of lists of dicts is the C path's
    assert got == python(attrs, created, seen_py)
    assert seen_c == seen_py


def test_new_sensor_entity() -> None:
    """The shape of issue 2's batch: a new entity, 8 attributes, two with observedAt."""
    assert native is not None
    inst = {"type": "Property", "value": 1.5, "unitCode": "GQ", "createdAt": STAMP}
    attrs = {
        f"{CORE}pm10": [{**inst, "observedAt": "2026-12-02T10:59:00Z", "modifiedAt": STAMP}],
        f"{CORE}no2": [{**inst, "value": 3, "modifiedAt": STAMP}],
        f"{CORE}ref": [
            {"type": "Relationship", "object": "urn:x", "createdAt": STAMP, "modifiedAt": STAMP}
        ],
    }
    got = native.elements(attrs, STAMP, STAMP_US, True, {}, text_micros)
    assert repr(got) == repr(record._elements(attrs, STAMP, STAMP_US, True))
    assert got is not None
    items, plain, lo, hi = got
    assert plain is True
    assert lo == text_micros("2026-12-02T10:59:00Z")
    assert hi == STAMP_US
    assert type(items[1][7]) is float
    assert items[1][7] == 3.0
    assert items[0][8] == {"type": "Property", "value": 1.5, "unitCode": "GQ",
                           "observedAt": "2026-12-02T10:59:00Z"}  # fmt: skip


@pytest.mark.parametrize(
    "attrs",
    [
        {"a": ({"type": "Property"},)},  # a tuple of instances
        {"a": ["not a dict"]},
        {"a": [{"modifiedAt": STAMP}], "b": 5},
    ],
)
def test_other_shapes_go_to_python(attrs: Any) -> None:
    assert native is not None
    assert native.elements(attrs, STAMP, STAMP_US, True, {}, text_micros) is NotImplemented
    assert native.elements({}, STAMP, float(STAMP_US), True, {}, text_micros) is NotImplemented
    with pytest.raises(TypeError):
        native.elements({}, STAMP)  # type: ignore[call-arg]


def test_the_wrapper_takes_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """``record.elements`` gives the extension's answer, and Python's where it declines."""
    attrs: Any = {"a": [{"type": "Property", "value": 2, "modifiedAt": STAMP}]}
    expected = repr(record._elements(attrs, STAMP, STAMP_US, False))
    assert repr(record.elements(attrs, STAMP, STAMP_US, False)) == expected
    monkeypatch.setattr(record, "_NATIVE", None)
    assert repr(record.elements(attrs, STAMP, STAMP_US, False)) == expected
    odd: Any = {"a": ({"type": "Property", "value": 2, "modifiedAt": STAMP},)}
    monkeypatch.undo()
    assert repr(record.elements(odd, STAMP, STAMP_US, False)) == repr(
        record._elements(odd, STAMP, STAMP_US, False)
    )


def test_no_leaks() -> None:
    """Many calls, on every path (answer, None, NotImplemented, an exception), keep no
    references and no memory."""
    assert native is not None
    inst = READING
    cases: list[tuple[Any, bool]] = [
        ({"a": [inst], "b": [dict(inst, datasetId="urn:d")]}, True),  # an answer
        ({"a": [dict(inst, modifiedAt="2026-01-01T00:00:00Z")]}, True),  # None
        ({"a": [inst], "b": (inst,)}, True),  # NotImplemented after some work
        ({"a": [dict(inst, value=10**400)]}, True),  # OverflowError
        ({"a": [dict(inst, observedAt="bad")]}, True),  # the callback raises
    ]
    watched = [STAMP, STAMP_US, inst, inst["observedAt"], *(c[0] for c in cases)]

    def run(times: int) -> None:
        for _ in range(times):
            for attrs, created in cases:
                with contextlib.suppress(Exception):  # exceptions are among the cases
                    native.elements(attrs, STAMP, STAMP_US, created, {}, text_micros)

    assert_no_leaks(run, watched)
