"""q on temporal queries is checked per instance in the time window (GS CIM 009 5.7.4.4).

The fixtures follow the ETSI suite's 5744_01 (QueryTemporalEvolutionOfEntities): each
entity has instances inside the window (``IN``) and some outside (``OUT``); an instance
outside the window must never satisfy ``q``, and the answer carries only the window's
instances. Also ``POST /temporal/entityOperations/query`` with ``temporalQ``, and the 400s
for the keywords a stored instance does not hold (paths, trails and date/time literals:
test_temporal_paths.py; geo-queries and scopeQ: test_temporal_geo_scope.py). Both
backends (the ``client`` fixture).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.hub.temporal._window import IN, NGSI, OUT, WINDOW, ids, prop, query, word

V = "urn:ngsi-ld:Vehicle:"
IN2 = "2026-03-01T18:00:00Z"
FLEET: list[dict[str, Any]] = [
    {
        "id": V + "fast",
        "type": "Vehicle",
        "speed": [prop(30, IN), prop(90, OUT)],
        "heading": [prop(45, IN), prop(50, IN2)],
        "route": [prop("550", IN)],
    },
    {
        "id": V + "slow",
        "type": "Vehicle",
        "speed": [prop(10, IN), prop(80, OUT)],
        "heading": [prop(170, IN)],
    },
    {
        "id": V + "shapes",
        "type": "Vehicle",
        "name": [prop("m", IN)],
        "ref": [{"type": "Relationship", "object": "urn:dest:qp1", "observedAt": IN}],
        "active": [prop(True, IN)],
        "tags": [prop(["a", "b"], IN)],
        "levels": [prop([3, 70], IN)],
    },
    {"id": V + "nowin", "type": "Vehicle", "speed": [prop(99, OUT)]},
    {
        "id": V + "multi",
        "type": "Vehicle",
        "speed": [prop(5, IN), prop(60, IN2, datasetId="urn:ngsi-ld:Dataset:qp1")],
    },
    {"id": V + "typed", "type": "Vehicle", "speed": [prop("30", IN)], "route": [prop("7", IN)]},
]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        # an instance outside the window never satisfies q (slow's 80, nowin's 99)
        ("speed>25", ["fast", "multi"]),
        ("speed>=60", ["multi"]),
        ("speed<10", ["multi"]),
        ("speed<=10", ["multi", "slow"]),
        ("speed==30", ["fast"]),
        # 4.9: a string never equals a number, and is unequal to it
        ('speed=="30"', ["typed"]),
        ("speed!=10", ["fast", "multi", "typed"]),
        ("speed==10..40", ["fast", "slow"]),
        ("speed!=5..100", ["typed"]),
        ("speed==10,60", ["multi", "slow"]),
        ('route=="550","551"', ["fast"]),
        ('route>"500"', ["fast", "typed"]),  # strings in byte order: "7" > "500"
        ("route>100", []),
        # every conjunct on the window's instances; either branch of an or
        ("speed>=5;heading<90", ["fast"]),
        ("speed>25|heading>100", ["fast", "multi", "slow"]),
        ("(speed>25|heading>100);heading", ["fast", "slow"]),
        ('speed>25|name~="^m"', ["fast", "multi", "shapes"]),
        ('name!~="^x"', ["shapes"]),
        # existence and absence in the window
        ("heading", ["fast", "slow"]),
        ("!heading;speed>25", ["multi"]),
        ("!speed", ["shapes"]),
        # a Relationship's object; a boolean
        ('ref=="urn:dest:qp1"', ["shapes"]),
        ("ref>1", []),
        ("active==true", ["shapes"]),
        ("active==false", []),
        # an array value matches when one of its elements does (4.9)
        ('tags=="a"', ["shapes"]),
        ('tags=="a","z"', ["shapes"]),
        ('tags=="c"', []),
        ("levels>50", ["shapes"]),
        ("levels==3", ["shapes"]),
        ("levels<3", []),
    ],
)
def test_q_is_checked_on_the_instances_in_the_window(
    fleet: TestClient, q: str, expected: list[str]
) -> None:
    assert ids(query(fleet, q)) == expected


def test_out_of_window_instances_count_without_a_window(fleet: TestClient) -> None:
    r = fleet.get(f"{NGSI}/temporal/entities", params={"type": "Vehicle", "q": "speed>75"})
    assert ids(r) == ["fast", "nowin", "slow"]
    before = {"timerel": "before", "timeAt": "2026-02-01T00:00:00Z"}
    r = fleet.get(
        f"{NGSI}/temporal/entities", params={"type": "Vehicle", "q": "speed>85", **before}
    )
    assert ids(r) == ["fast", "nowin"]


def test_the_answer_holds_the_windows_instances_of_the_matching_entities(
    fleet: TestClient,
) -> None:
    r = query(fleet, "speed>25", attrs="speed")
    body = {word(e["id"]): e for e in r.json()}
    assert sorted(body) == ["fast", "multi"]
    # every instance in the window (not only the matching ones), none outside it
    assert [i["value"] for i in body["fast"]["speed"]] == [30]
    assert sorted(i["value"] for i in body["multi"]["speed"]) == [5, 60]
    assert OUT not in r.text


def test_count_and_paging_follow_q(fleet: TestClient) -> None:
    r = query(fleet, "speed>0", count="true", limit="2")
    assert r.headers["NGSILD-Results-Count"] == "3"  # fast, multi, slow (typed is a string)
    first = ids(r)
    second = ids(query(fleet, "speed>0", limit="2", offset="2"))
    assert sorted(first + second) == ["fast", "multi", "slow"]


def test_aggregation_with_q(fleet: TestClient) -> None:
    r = query(fleet, "speed>25", attrs="speed", options="aggregatedValues", aggrMethods="max")
    body = {word(e["id"]): e for e in r.json()}
    assert sorted(body) == ["fast", "multi"]
    assert [p[0] for p in body["fast"]["speed"]["max"]] == [30]


def test_post_query_with_temporal_q_answers_as_the_get(fleet: TestClient) -> None:
    body = {
        "type": "Query",
        "entities": [{"type": "Vehicle"}],
        "q": "speed>25",
        "attrs": ["speed"],
        "temporalQ": {**WINDOW, "timeproperty": "observedAt"},
    }
    r = fleet.post(f"{NGSI}/temporal/entityOperations/query", json=body, params={"count": "true"})
    assert ids(r) == ["fast", "multi"]
    assert r.headers["NGSILD-Results-Count"] == "2"
    get = query(fleet, "speed>25", attrs="speed")
    assert r.json() == get.json()
    simplified = fleet.post(
        f"{NGSI}/temporal/entityOperations/query",
        json=body,
        params={"options": "temporalValues", "lastN": "1"},
    )
    assert simplified.status_code == 200, simplified.text
    fast = next(e for e in simplified.json() if e["id"] == V + "fast")
    assert fast["speed"]["values"] == [[30, IN]]


def test_post_query_takes_last_n_and_aggregation_from_the_body(fleet: TestClient) -> None:
    url = f"{NGSI}/temporal/entityOperations/query"
    # speed>25 holds for fast and multi; only fast has headings in the window
    base = {"type": "Query", "entities": [{"type": "Vehicle"}], "attrs": ["heading"]}
    base["q"] = "speed>25"
    r = fleet.post(url, json={**base, "temporalQ": WINDOW})
    assert ids(r) == ["fast"]
    assert [i["value"] for i in r.json()[0]["heading"]] == [45, 50]
    r = fleet.post(url, json={**base, "temporalQ": {**WINDOW, "lastN": 1}})
    assert [i["value"] for i in r.json()[0]["heading"]] == [50]  # the newest instance
    for aggr in (
        {"temporalQ": {**WINDOW, "aggrMethods": ["max", "min"]}},
        {"temporalQ": {**WINDOW, "aggrMethods": "max,min"}},
        {"temporalQ": WINDOW, "aggrParams": {"aggrMethods": ["max", "min"]}},
    ):
        r = fleet.post(url, json={**base, **aggr})
        assert ids(r) == ["fast"]
        heading = r.json()[0]["heading"]
        assert [p[0] for p in heading["max"]] == [50]
        assert [p[0] for p in heading["min"]] == [45]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"type": "Query", "entities": [{"type": "Vehicle"}], "temporalQ": []}, "temporalQ"),
        (
            {"type": "Query", "entities": [{"type": "Vehicle"}], "temporalQ": {"when": "x"}},
            "when",
        ),
        (
            {"type": "Query", "entities": [{"type": "Vehicle"}], "temporalQ": {"timerel": "after"}},
            "timeAt",
        ),
        (
            {"type": "Query", "entities": [{"type": "Vehicle"}], "q": "speed.createdAt>1"},
            "createdAt",
        ),
        (
            {"type": "Query", "entities": [{"type": "Vehicle"}], "temporalQ": {"lastN": 0}},
            "lastN",
        ),
        (
            {"type": "Query", "entities": [{"type": "Vehicle"}], "temporalQ": {"lastN": 1.5}},
            "lastN",
        ),
        (
            {
                "type": "Query",
                "entities": [{"type": "Vehicle"}],
                "temporalQ": WINDOW,
                "aggrParams": {"aggrMethods": ["bogus"]},
            },
            "aggrMethods",
        ),
        (
            {
                "type": "Query",
                "entities": [{"type": "Vehicle"}],
                "temporalQ": {**WINDOW, "aggrMethods": ["avg"], "aggrPeriodDuration": "bogus"},
            },
            "aggrPeriodDuration",
        ),
    ],
)
def test_post_query_bad_bodies_are_400(
    fleet: TestClient, body: dict[str, Any], fragment: str
) -> None:
    r = fleet.post(f"{NGSI}/temporal/entityOperations/query", json=body)
    assert r.status_code == 400, r.text
    assert fragment in r.json()["detail"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"q": "speed.createdAt>2026-03-01T00:00:00Z"}, "createdAt"),
        ({"q": "speed.modifiedAt>2026-03-01T00:00:00Z"}, "modifiedAt"),
    ],
)
def test_what_is_not_checked_per_instance_is_400(
    fleet: TestClient, params: dict[str, str], fragment: str
) -> None:
    r = fleet.get(f"{NGSI}/temporal/entities", params={"type": "Vehicle", **WINDOW, **params})
    assert r.status_code == 400, r.text
    problem = r.json()
    assert problem["type"].endswith("BadRequestData")
    assert fragment in problem["detail"]
    assert "temporal" in problem["detail"]
    assert any("가" <= c <= "힣" for c in problem["detail"])
