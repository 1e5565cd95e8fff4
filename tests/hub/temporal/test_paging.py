"""Instance paging of temporal answers (GS CIM 009 v1.8, 6.3.10): 206 and Content-Range.

The broker here returns at most 7 instances per attribute. A longer history is cut at the
last instance returned of the attributes that were cut, for every attribute of the page;
following the Content-Range walks the whole history without gaps: backward (lastN) with
timerel=before its end (exclusive: no repeats), forward with timerel=after its end, which
4.11 makes inclusive, so the instances exactly at a page's end come again at the top of the
next page (and only those).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from cityos.app import create_app
from cityos.config import Settings
from tests.hub.temporal.conftest import temporal_settings

NGSI = "/ngsi-ld/v1"
T0 = datetime(2026, 11, 25, tzinfo=UTC)
LIMIT = 7
RANGE = re.compile(r"^date-time (\S+Z)-(\S+Z)/(\S+)$")


def at(seconds: int) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def settings(request: pytest.FixtureRequest, database_url: str) -> Settings:
    return temporal_settings(request, database_url, temporal_max_instances=LIMIT)


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def loaded(client: TestClient) -> TestClient:
    """Sensor p1: 30 readings of a (every 60 s) and 10 of b (every 170 s); p2: 5 of a."""
    body = {
        "id": "urn:ngsi-ld:Sensor:p1",
        "type": "Sensor",
        "a": [{"type": "Property", "value": i, "observedAt": at(60 * i)} for i in range(30)],
        "b": [{"type": "Property", "value": i, "observedAt": at(170 * i)} for i in range(10)],
    }
    assert client.post(f"{NGSI}/temporal/entities", json=body).status_code == 201
    small = {
        "id": "urn:ngsi-ld:Sensor:p2",
        "type": "Sensor",
        "a": [{"type": "Property", "value": 100 + i, "observedAt": at(60 * i)} for i in range(5)],
    }
    assert client.post(f"{NGSI}/temporal/entities", json=small).status_code == 201
    return client


def test_a_short_history_is_answered_whole(loaded: TestClient) -> None:
    r = loaded.get(f"{NGSI}/temporal/entities/urn:ngsi-ld:Sensor:p2")
    assert r.status_code == 200
    assert "content-range" not in r.headers
    assert len(r.json()["a"]) == 5


def test_pages_forward_cover_the_history_repeating_only_the_page_ends(
    loaded: TestClient,
) -> None:
    url = f"{NGSI}/temporal/entities/urn:ngsi-ld:Sensor:p1"
    seen: dict[str, list[int]] = {"a": [], "b": []}
    ends: list[str] = []
    stamps: dict[str, dict[int, str]] = {"a": {}, "b": {}}
    params: dict[str, str] = {}
    pages = 0
    while True:
        r = loaded.get(url, params=params)
        pages += 1
        body = r.json()
        for name in seen:
            assert len(body.get(name, [])) <= LIMIT
            seen[name] += [i["value"] for i in body.get(name, [])]
            stamps[name].update({i["value"]: i["observedAt"] for i in body.get(name, [])})
        if r.status_code == 200:
            assert "content-range" not in r.headers
            break
        assert r.status_code == 206, r.text
        start, end, size = RANGE.match(r.headers["content-range"]).groups()  # type: ignore[union-attr]
        assert start == params.get("timeAt", at(0))
        assert size == "*"
        # the page ends at the last instance of a (the attribute that was cut)
        assert body["a"][-1]["observedAt"] == end
        for name in seen:
            assert all(i["observedAt"] <= end for i in body.get(name, []))
        params = {"timerel": "after", "timeAt": end}
        ends.append(end)
        assert pages < 20
    for name, full in (("a", list(range(30))), ("b", list(range(10)))):
        assert sorted(set(seen[name])) == full
        repeated = sorted(v for v in set(seen[name]) if seen[name].count(v) > 1)
        assert repeated == sorted(v for v in full if stamps[name][v] in ends)
        assert all(seen[name].count(v) <= 2 for v in full)
    assert len(seen["a"]) == 30 + len(ends)  # each page end of a comes twice
    assert pages == 5  # a decides: 7 per page, 30 instances


def test_first_page_of_a_query_and_between(loaded: TestClient) -> None:
    r = loaded.get(
        f"{NGSI}/temporal/entities",
        params={"type": "Sensor", "timerel": "between", "timeAt": at(0), "endTimeAt": at(3600)},
    )
    assert r.status_code == 206
    start, end, size = RANGE.match(r.headers["content-range"]).groups()  # type: ignore[union-attr]
    assert (start, end, size) == (at(0), at(6 * 60), "*")
    bodies = {e["id"]: e for e in r.json()}
    assert [i["value"] for i in bodies["urn:ngsi-ld:Sensor:p1"]["a"]] == list(range(7))
    assert [i["value"] for i in bodies["urn:ngsi-ld:Sensor:p1"]["b"]] == [0, 1, 2]
    assert [i["value"] for i in bodies["urn:ngsi-ld:Sensor:p2"]["a"]] == [100 + i for i in range(5)]


def test_an_attribute_with_nothing_on_a_cut_page_is_listed_empty(loaded: TestClient) -> None:
    body = {
        "id": "urn:ngsi-ld:Sensor:p3",
        "type": "Sensor",
        "a": [{"type": "Property", "value": i, "observedAt": at(60 * i)} for i in range(10)],
        "c": [{"type": "Property", "value": 99, "observedAt": at(3000)}],
    }
    assert loaded.post(f"{NGSI}/temporal/entities", json=body).status_code == 201
    r = loaded.get(f"{NGSI}/temporal/entities/urn:ngsi-ld:Sensor:p3")
    assert r.status_code == 206
    assert [i["value"] for i in r.json()["a"]] == list(range(7))
    assert r.json()["c"] == []  # it continues on a later page
    simple = loaded.get(
        f"{NGSI}/temporal/entities/urn:ngsi-ld:Sensor:p3", params={"options": "temporalValues"}
    )
    assert simple.json()["c"] == {"type": "Property", "values": []}


def test_last_n_pages_backward(loaded: TestClient) -> None:
    url = f"{NGSI}/temporal/entities/urn:ngsi-ld:Sensor:p1"
    r = loaded.get(url, params={"attrs": "a", "lastN": "20"})
    assert r.status_code == 206
    start, end, size = RANGE.match(r.headers["content-range"]).groups()  # type: ignore[union-attr]
    assert (start, end, size) == (at(29 * 60), at(23 * 60), "20")
    assert [i["value"] for i in r.json()["a"]] == list(range(23, 30))  # newest 7, oldest first
    older = loaded.get(
        url, params={"attrs": "a", "lastN": "13", "timerel": "before", "timeAt": end}
    )
    assert older.status_code == 206
    assert [i["value"] for i in older.json()["a"]] == list(range(16, 23))
    assert older.headers["content-range"] == f"date-time {end}-{at(16 * 60)}/13"
    few = loaded.get(url, params={"attrs": "a", "lastN": "5"})
    assert few.status_code == 200
    assert [i["value"] for i in few.json()["a"]] == list(range(25, 30))


def test_aggregations_are_not_cut(loaded: TestClient) -> None:
    r = loaded.get(
        f"{NGSI}/temporal/entities/urn:ngsi-ld:Sensor:p1",
        params={"options": "aggregatedValues", "aggrMethods": "totalCount", "attrs": "a"},
    )
    assert r.status_code == 200
    assert r.json()["a"]["totalCount"][0][0] == 30
