"""The fast path for common attribute shapes must agree exactly with the general path."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityos.config import Settings
from cityos.hub.context import ContextResolver
from cityos.hub.errors import BadRequestData
from cityos.hub.model import _fast_instance, expand_instance

CTX = ContextResolver(Settings(), allow_network=False).core
NOW = "2026-11-25T00:00:00.000000Z"
IRI = "https://uri.etsi.org/ngsi-ld/default-context/p"

values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
    | st.just("urn:ngsi-ld:null")
)
shapes = st.fixed_dictionaries(
    {"type": st.sampled_from(["Property", "Relationship", "GeoProperty"])},
    optional={
        "value": values | st.just({"type": "Point", "coordinates": [127.0, 36.5]}),
        "object": st.sampled_from(["urn:ngsi-ld:X:1", "not a uri", "", "urn:ngsi-ld:null"]),
        "unitCode": st.sampled_from(["CEL", "", 5]),
        "observedAt": st.sampled_from(["2026-11-25T09:00:00+09:00", "yesterday", None]),
    },
)


def _general(raw: dict[str, Any]) -> dict[str, Any] | BadRequestData:
    try:
        return expand_instance(dict(raw), "p", IRI, CTX, now=NOW)
    except BadRequestData as error:
        return error


def _fast(raw: dict[str, Any]) -> dict[str, Any] | BadRequestData | None:
    try:
        return _fast_instance(raw, "p", IRI, NOW)
    except BadRequestData as error:
        return error


@given(raw=shapes)
def test_fast_path_equals_general_path(raw: dict[str, Any]) -> None:
    general = _general(raw)
    fast = _fast(raw)
    if isinstance(fast, BadRequestData):  # the same refusal, word for word
        assert isinstance(general, BadRequestData), (raw, general)
        assert fast.detail == general.detail
    elif fast is not None:
        assert fast == general


@pytest.mark.parametrize(
    "raw",
    [
        {
            "type": "Property",
            "value": 21.5,
            "unitCode": "CEL",
            "observedAt": "2026-11-25T09:00:00+09:00",
        },
        {"type": "Relationship", "object": "urn:ngsi-ld:Device:1"},
        {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [127.2653, 36.5047]}},
    ],
)
def test_common_shapes_take_the_fast_path(raw: dict[str, Any]) -> None:
    assert _fast_instance(raw, "p", IRI, NOW) == _general(raw)
