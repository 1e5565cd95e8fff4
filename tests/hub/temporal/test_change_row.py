"""``record.change_row``, the history's hot path, must build exactly the change row that the
documented per-instance path (``changed_instances`` rows as ``item`` elements) describes:
the same elements (as JSON), times, span and (attribute, datasetId) pairs."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from cityos.hub.store.base import Change
from cityos.hub.temporal import record

STAMP = "2026-12-02T11:00:00.123456Z"
OTHER = "2026-12-02T10:00:00.000000Z"
OBSERVED = [
    "2026-12-02T10:59:00Z",
    "2026-12-02T19:59:00+09:00",
    "2026-11-02T10:59:00.5Z",
    "1969-07-20T20:17:40Z",
    STAMP,
]
CORE = "https://uri.etsi.org/ngsi-ld/default-context/"

values = (
    st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.text(max_size=4)
    | st.just({"type": "Point", "coordinates": [127.0, 36.5]})
)
instances = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["Property", "GeoProperty", "Relationship"]),
        "value": values,
    },
    optional={
        "unitCode": st.just("CEL"),
        "observedAt": st.sampled_from(OBSERVED) | st.just(5),
        "datasetId": st.sampled_from(["urn:ngsi-ld:Dataset:a", "urn:ngsi-ld:Dataset:b", ""]),
        "createdAt": st.just(OTHER),
        "modifiedAt": st.sampled_from([STAMP, OTHER]),
    },
)
entities = st.fixed_dictionaries(
    {
        "id": st.just("urn:ngsi-ld:Sensor:1"),
        "type": st.just([CORE + "Sensor"]),
        "createdAt": st.just(OTHER),
        "modifiedAt": st.just(STAMP),
        "attrs": st.dictionaries(
            st.sampled_from([CORE + n for n in ("a", "b", "c", "d")]),
            st.lists(instances, max_size=3),
            max_size=4,
        ),
    },
    optional={"scope": st.sampled_from([["/a"], ["/a", "/b"], []])},
)


def _reference(change: Change) -> tuple[bytes, int, int, set[tuple[str, str]]] | None:
    """The change row by the per-instance path (``changed_instances``, ``item``); None when
    the change has no instances."""
    rows = record.changed_instances(change)
    if not rows:
        return None
    elements = [record.item(row) for row in rows]
    times = [e[3] for e in elements]
    return orjson.dumps(elements), min(times), max(times), {(e[0], e[1]) for e in elements}


@settings(max_examples=400, deadline=None)
@given(after=entities, before=st.none() | entities)
def test_change_row_equals_the_per_instance_path(
    after: dict[str, Any], before: dict[str, Any] | None
) -> None:
    change = Change(after["id"], before, after)
    found = record.change_row(change)
    if found is None:
        # only when a new entity has an instance of another modifiedAt (not one change),
        # or when nothing changed
        new_other = before is None and any(
            i.get("modifiedAt") not in (None, STAMP) for v in after["attrs"].values() for i in v
        )
        assert new_other or _reference(change) is None
        return
    entity_id, lo, hi, items, pairs = found
    expected = _reference(change)
    assert expected is not None
    assert entity_id == after["id"]
    assert (orjson.dumps(items), lo, hi, set(pairs)) == expected


def test_a_new_sensor_entity_keeps_its_readings_times_and_pairs() -> None:
    attrs = {
        CORE + "pm10": [
            {
                "type": "Property",
                "value": 12.5,
                "unitCode": "GQ",
                "observedAt": "2026-12-02T10:59:00Z",
                "createdAt": STAMP,
                "modifiedAt": STAMP,
            }
        ],
        CORE + "count": [{"type": "Property", "value": 3, "createdAt": STAMP, "modifiedAt": STAMP}],
    }
    after = {"id": "urn:ngsi-ld:Sensor:2", "type": [CORE + "Sensor"]}
    after |= {"createdAt": STAMP, "modifiedAt": STAMP, "attrs": attrs}
    found = record.change_row(Change(after["id"], None, after))
    assert found is not None
    _, lo, hi, items, pairs = found
    stamp_us = record.text_micros(STAMP)
    observed_us = record.text_micros("2026-12-02T10:59:00Z")
    assert (lo, hi) == (observed_us, stamp_us)
    assert set(pairs) == {(CORE + "pm10", ""), (CORE + "count", "")}
    assert orjson.loads(orjson.dumps(items)) == [
        [
            CORE + "pm10",
            "",
            "Property",
            observed_us,
            observed_us,
            stamp_us,
            stamp_us,
            12.5,
            {
                "type": "Property",
                "value": 12.5,
                "unitCode": "GQ",
                "observedAt": attrs[CORE + "pm10"][0]["observedAt"],
            },
        ],
        [
            CORE + "count",
            "",
            "Property",
            stamp_us,
            None,
            stamp_us,
            stamp_us,
            3.0,
            {"type": "Property", "value": 3},
        ],
    ]
