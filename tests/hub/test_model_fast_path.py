"""The fast path for common attribute shapes must agree exactly with the general path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityos.config import Settings
from cityos.hub.context import ContextResolver
from cityos.hub.errors import BadRequestData
from cityos.hub.model import ExpandCache, _fast_instance, expand_entity, expand_instance

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


def _entity_or_error(body: object, **kwargs: Any) -> dict[str, Any] | str:
    try:
        return expand_entity(body, CTX, now=NOW, **kwargs)
    except BadRequestData as error:
        return error.detail


entities = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.sampled_from(["urn:ngsi-ld:T:1", "urn:ngsi-ld:T:2", "no uri"]),
            "type": st.sampled_from(["T", "U", "bad name", "type", ["T", "U"], 5]),
        },
        optional={"p": shapes, "q": shapes, "bad name": shapes, "location": shapes},
    ),
    max_size=6,
)


@given(bodies=entities)
def test_a_shared_cache_changes_no_entity_and_no_refusal(bodies: list[dict[str, Any]]) -> None:
    # a batch reads its entities with one ExpandCache: names, types and observedAt values
    # checked for one entity are reused for the next; each must still come out (or be
    # refused) exactly as when read alone
    cache = ExpandCache(CTX)
    for body in bodies:
        alone = _entity_or_error(body)
        shared = _entity_or_error(body, cache=cache)
        assert json.dumps(shared) == json.dumps(alone)  # the same members in the same order


def test_a_cache_serves_only_its_own_context() -> None:
    other = ContextResolver(Settings(), allow_network=False).resolve({"p": "https://example.org/p"})
    body = {"id": "urn:a:b", "type": "T", "p": 1}
    with pytest.raises(ValueError, match="only the context it was made for"):
        expand_entity(body, other, now=NOW, cache=ExpandCache(CTX))


def test_a_refused_value_is_refused_again_with_the_same_cache() -> None:
    cache = ExpandCache(CTX)
    reading = {"type": "Property", "value": 1, "unitCode": "CEL", "observedAt": "yesterday"}
    for _ in range(2):  # the second entity must not pass on what the first one left behind
        detail = _entity_or_error({"id": "urn:a:b", "type": "T", "p": reading}, cache=cache)
        assert isinstance(detail, str)
        assert detail.startswith("p.observedAt must be")
    for _ in range(2):
        detail = _entity_or_error({"id": "urn:a:b", "type": "bad name"}, cache=cache)
        assert isinstance(detail, str)
        assert "'bad name' is not valid" in detail
