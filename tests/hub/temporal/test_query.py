"""GET /temporal/entities and /temporal/entities/{id}: every query parameter, both backends.

The history is made the way a city makes it: entities created and updated through the
ordinary NGSI-LD routes, each update recorded by the store's history recorder.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

NGSI = "/ngsi-ld/v1"
T0 = datetime(2026, 11, 25, tzinfo=UTC)
AQ = "urn:ngsi-ld:AirQualityObserved:"
PLACES = {"a1": [127.26, 36.48], "a2": [127.0, 37.0], "a3": [127.3, 36.6]}
BASE = {"a1": 10, "a2": 20, "a3": 30}


def at(minutes: float) -> str:
    """Return T0 + minutes as an NGSI-LD DateTime."""
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def city(client: TestClient) -> TestClient:
    """Three air-quality sensors with six readings each (every 10 min) and a vehicle."""
    for name, base in BASE.items():
        body = {
            "id": AQ + name,
            "type": "AirQualityObserved",
            "pm25": {"type": "Property", "value": base, "observedAt": at(0), "unitCode": "GQ"},
            "no2": {"type": "Property", "value": base * 2, "observedAt": at(0)},
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": PLACES[name]},
            },
        }
        if name == "a1":
            body["name"] = {
                "type": "LanguageProperty",
                "languageMap": {"ko": "세종", "en": "Sejong"},
            }
        assert client.post(f"{NGSI}/entities", json=body).status_code == 201
        for i in range(1, 6):
            patch = {"pm25": {"type": "Property", "value": base + i, "observedAt": at(10 * i)}}
            r = client.patch(f"{NGSI}/entities/{AQ}{name}/attrs", json=patch)
            assert r.status_code == 204, r.text
    vehicle = {
        "id": "urn:ngsi-ld:Vehicle:v1",
        "type": "Vehicle",
        "speed": {"type": "Property", "value": 30, "observedAt": at(5)},
    }
    assert client.post(f"{NGSI}/entities", json=vehicle).status_code == 201
    return client


def values(attr: Any) -> list[Any]:
    return [i["value"] for i in attr]


def test_retrieve_gives_every_instance_oldest_first_with_instance_ids(city: TestClient) -> None:
    r = city.get(f"{NGSI}/temporal/entities/{AQ}a1")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == AQ + "a1"
    assert body["type"] == "AirQualityObserved"
    assert values(body["pm25"]) == [10, 11, 12, 13, 14, 15]
    # observedAt as the sensor sent it, as /entities answers it
    assert [i["observedAt"] for i in body["pm25"]] == [at(10 * i) for i in range(6)]
    ids = [i["instanceId"] for i in body["pm25"]]
    assert len(set(ids)) == 6
    assert all(i.startswith("urn:ngsi-ld:Instance:") for i in ids)
    assert body["pm25"][0]["unitCode"] == "GQ"
    assert values(body["no2"]) == [20]
    assert "createdAt" not in body["pm25"][0]
    assert r.headers["link"].startswith("<")  # the @context as a Link header


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # 4.11: after includes timeAt, before excludes it, between is [timeAt, endTimeAt)
        ({"timerel": "after", "timeAt": at(20)}, [12, 13, 14, 15]),
        ({"timerel": "after", "timeAt": at(21)}, [13, 14, 15]),
        ({"timerel": "after", "timeAt": at(19)}, [12, 13, 14, 15]),
        ({"timerel": "before", "timeAt": at(20)}, [10, 11]),
        ({"timerel": "between", "timeAt": at(10), "endTimeAt": at(30)}, [11, 12]),
        # the same instant spelt with a fraction hits the same bounds
        ({"timerel": "after", "timeAt": at(20).replace("Z", ".000Z")}, [12, 13, 14, 15]),
        ({"timerel": "before", "timeAt": at(20).replace("Z", ".000Z")}, [10, 11]),
        (
            {
                "timerel": "between",
                "timeAt": at(10).replace("Z", ".000Z"),
                "endTimeAt": at(30).replace("Z", ".000Z"),
            },
            [11, 12],
        ),
        ({"timerel": "between", "timeAt": at(11), "endTimeAt": at(12)}, []),
        ({"lastN": "2"}, [14, 15]),
        ({"lastN": "2", "timerel": "before", "timeAt": at(25)}, [11, 12]),
        ({"lastN": "100"}, [10, 11, 12, 13, 14, 15]),
        # a DateTime in another zone is the same instant
        ({"timerel": "after", "timeAt": "2026-11-25T09:39:00+09:00"}, [14, 15]),
    ],
)
def test_time_windows_and_last_n(
    city: TestClient, params: dict[str, str], expected: list[int]
) -> None:
    r = city.get(f"{NGSI}/temporal/entities/{AQ}a1", params={"attrs": "pm25", **params})
    assert r.status_code == 200, r.text
    assert values(r.json().get("pm25", [])) == expected


def test_attrs_picks_attributes(city: TestClient) -> None:
    body = city.get(f"{NGSI}/temporal/entities/{AQ}a2", params={"attrs": "no2"}).json()
    assert set(body) == {"id", "type", "no2"}
    assert values(body["no2"]) == [40]
    r = city.get(f"{NGSI}/temporal/entities/{AQ}a2", params={"attrs": "humidity"})
    assert r.status_code == 404


def test_temporal_values_is_the_simplified_representation(city: TestClient) -> None:
    r = city.get(
        f"{NGSI}/temporal/entities/{AQ}a1",
        params={"options": "temporalValues", "attrs": "pm25,location", "lastN": "2"},
    )
    body = r.json()
    assert body["pm25"] == {
        "type": "Property",
        "values": [[14, at(40)], [15, at(50)]],
    }
    assert body["location"]["type"] == "GeoProperty"
    assert body["location"]["values"][0][0] == {"type": "Point", "coordinates": PLACES["a1"]}


def test_sys_attrs_and_lang(city: TestClient) -> None:
    body = city.get(
        f"{NGSI}/temporal/entities/{AQ}a1", params={"options": "sysAttrs", "attrs": "pm25"}
    ).json()
    first = body["pm25"][0]
    assert first["createdAt"].endswith("Z")
    assert first["modifiedAt"] >= first["createdAt"]
    named = city.get(f"{NGSI}/temporal/entities/{AQ}a1", params={"attrs": "name", "lang": "en"})
    assert named.json()["name"][0]["value"] == "Sejong"
    assert named.json()["name"][0]["lang"] == "en"
    simple = city.get(
        f"{NGSI}/temporal/entities/{AQ}a1",
        params={"attrs": "name", "options": "temporalValues"},
    ).json()
    assert simple["name"]["type"] == "LanguageProperty"
    assert simple["name"]["languageMaps"][0][0] == {"ko": "세종", "en": "Sejong"}


def test_timeproperty_modified_at_uses_the_write_time(city: TestClient) -> None:
    now = datetime.now(UTC)
    window = {
        "timeproperty": "modifiedAt",
        "timerel": "between",
        "timeAt": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "endTimeAt": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "attrs": "pm25",
    }
    body = city.get(f"{NGSI}/temporal/entities/{AQ}a1", params=window).json()
    assert values(body["pm25"]) == [10, 11, 12, 13, 14, 15]
    assert all("modifiedAt" in i for i in body["pm25"])
    # the readings were observed in November 2026 but written now: none were modified then
    past = {**window, "timeAt": at(0), "endTimeAt": at(60)}
    r = city.get(f"{NGSI}/temporal/entities", params={"type": "AirQualityObserved", **past})
    assert r.json() == []
    observed = {**past, "timeproperty": "observedAt"}
    r = city.get(f"{NGSI}/temporal/entities", params={"type": "AirQualityObserved", **observed})
    assert len(r.json()) == 3


def ids_of(r: Any) -> list[str]:
    assert r.status_code == 200, r.text
    return [e["id"].rsplit(":", 1)[1] for e in r.json()]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"type": "AirQualityObserved"}, ["a1", "a2", "a3"]),
        ({"type": "Vehicle"}, ["v1"]),
        ({"type": "AirQualityObserved,Vehicle"}, ["a1", "a2", "a3", "v1"]),
        ({"id": f"{AQ}a3,{AQ}a1"}, ["a1", "a3"]),
        ({"idPattern": ".*:a[23]$"}, ["a2", "a3"]),
        ({"attrs": "speed"}, ["v1"]),
        # q looks at the instances in the window (pm25: a1 10-15, a2 20-25, a3 30-35)
        ({"type": "AirQualityObserved", "q": "pm25>20"}, ["a2", "a3"]),
        ({"type": "AirQualityObserved", "q": "pm25>=15;pm25<=20"}, ["a1", "a2"]),
        (
            {"type": "AirQualityObserved", "q": "pm25>12", "timerel": "before", "timeAt": at(25)},
            ["a2", "a3"],
        ),
        (
            {"type": "AirQualityObserved", "q": "pm25>12", "timerel": "after", "timeAt": at(25)},
            ["a1", "a2", "a3"],
        ),
        # only entities with instances of the attributes in the window are listed (an
        # instance without observedAt, like location here, is placed at its modifiedAt)
        (
            {"type": "AirQualityObserved,Vehicle", "timerel": "before", "timeAt": at(1)},
            ["a1", "a2", "a3"],
        ),
        (
            {"attrs": "pm25,speed", "timerel": "after", "timeAt": at(45)},
            ["a1", "a2", "a3"],
        ),
        ({"attrs": "pm25,speed", "timerel": "after", "timeAt": at(51)}, []),
    ],
)
def test_query_selects_entities(
    city: TestClient, params: dict[str, str], expected: list[str]
) -> None:
    assert ids_of(city.get(f"{NGSI}/temporal/entities", params=params)) == expected


def test_entity_pagination_and_count(city: TestClient) -> None:
    query = {"type": "AirQualityObserved", "attrs": "pm25", "limit": "2", "count": "true"}
    first = city.get(f"{NGSI}/temporal/entities", params=query)
    assert ids_of(first) == ["a1", "a2"]
    assert first.headers["NGSILD-Results-Count"] == "3"
    second = city.get(f"{NGSI}/temporal/entities", params={**query, "offset": "2"})
    assert ids_of(second) == ["a3"]
    assert values(second.json()[0]["pm25"]) == [30, 31, 32, 33, 34, 35]


def test_tenants_are_separate(city: TestClient) -> None:
    r = city.get(
        f"{NGSI}/temporal/entities/{AQ}a1", headers={"NGSILD-Tenant": "urn:ngsi-ld:tenant:none"}
    )
    assert r.status_code == 404
    assert r.json()["type"].endswith("NonexistentTenant")


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"timerel": "during", "timeAt": at(0)}, "timerel"),
        ({"timerel": "after"}, "needs timeAt"),
        ({"timeAt": at(0)}, "need timerel"),
        ({"timerel": "between", "timeAt": at(0)}, "endTimeAt"),
        ({"timerel": "between", "timeAt": at(10), "endTimeAt": at(5)}, "later than timeAt"),
        ({"timerel": "between", "timeAt": at(10), "endTimeAt": at(10)}, "later than timeAt"),
        ({"timerel": "after", "timeAt": at(0), "endTimeAt": at(5)}, "between only"),
        ({"timerel": "after", "timeAt": "yesterday"}, "date-time"),
        ({"timerel": "after", "timeAt": "2026-11-25T00:00:00"}, "time zone"),
        ({"timeproperty": "deletedAt"}, "timeproperty"),
        ({"lastN": "0"}, "positive integer"),
        ({"lastN": "-3"}, "positive integer"),
        ({"lastN": "many"}, "positive integer"),
        ({"datasetId": "not a uri"}, "datasetId"),
        ({"datasetId": ","}, "datasetId"),
        ({"options": "aggregatedValues"}, "aggrMethods"),
        ({"options": "aggregatedValues", "aggrMethods": "median"}, "median"),
        (
            {"options": "aggregatedValues", "aggrMethods": "avg", "aggrPeriodDuration": "1H"},
            "ISO 8601",
        ),
        (
            {"options": "aggregatedValues", "aggrMethods": "avg", "aggrPeriodDuration": "P1M"},
            "months",
        ),
        (
            {"options": "aggregatedValues", "aggrMethods": "avg", "aggrPeriodDuration": "PT"},
            "ISO 8601",
        ),
        ({"aggrMethods": "avg"}, "options=aggregatedValues"),
        ({"options": "temporalValues,aggregatedValues", "aggrMethods": "avg"}, "exclude"),
        ({"options": "keyValues"}, "unknown options"),
        ({"format": "tabular"}, "format"),
    ],
)
def test_bad_parameters_are_explained_in_english_and_korean(
    city: TestClient, params: dict[str, str], fragment: str
) -> None:
    for url, extra in (
        (f"{NGSI}/temporal/entities/{AQ}a1", {}),
        (f"{NGSI}/temporal/entities", {"type": "AirQualityObserved"}),
    ):
        r = city.get(url, params={**extra, **params})
        assert r.status_code == 400, (url, params, r.text)
        problem = r.json()
        # unknown options and formats are InvalidRequest, as on /entities; the rest
        # BadRequestData
        unknown = fragment in ("unknown options", "format")
        assert problem["type"].endswith("InvalidRequest" if unknown else "BadRequestData")
        assert fragment in problem["detail"], problem["detail"]
        assert " / " in problem["detail"]
        assert any("가" <= c <= "힣" for c in problem["detail"])


def test_a_query_needs_a_filter_and_unknown_entities_are_404(city: TestClient) -> None:
    r = city.get(f"{NGSI}/temporal/entities", params={"timerel": "after", "timeAt": at(0)})
    assert r.status_code == 400
    r = city.get(f"{NGSI}/temporal/entities/{AQ}nowhere")
    assert r.status_code == 404
    assert r.json()["type"].endswith("ResourceNotFound")
    r = city.get(f"{NGSI}/temporal/entities/not a uri")
    assert r.status_code == 400


def test_pick_and_omit_project_the_temporal_entity(city: TestClient) -> None:
    url = f"{NGSI}/temporal/entities/{AQ}a1"
    picked = city.get(url, params={"pick": "id,pm25", "lastN": "1"}).json()
    assert set(picked) == {"id", "pm25"}
    omitted = city.get(url, params={"omit": "type,location,name,no2"}).json()
    assert set(omitted) == {"id", "pm25"}
    found = city.get(f"{NGSI}/temporal/entities", params={"type": "Vehicle", "pick": "speed"})
    assert [set(e) for e in found.json()] == [{"speed"}]
    assert city.get(url, params={"pick": "humidity"}).status_code == 404
    for params in ({"pick": "id", "omit": "type"}, {"pick": "id", "attrs": "pm25"}):
        r = city.get(url, params=params)
        assert r.status_code == 400, params


def test_dataset_id_picks_the_instances_of_those_datasets(city: TestClient) -> None:
    """021_18 (4.5.5, since v1.8.1): ``datasetId`` keeps the named instances (@none: the
    default one); an entity with none of them in the window is not in the answer."""
    bus = "urn:ngsi-ld:Bus:ds1"
    body = {
        "id": bus,
        "type": "Bus",
        "speed": [
            {"type": "Property", "value": 1, "observedAt": at(1)},
            {"type": "Property", "value": 2, "observedAt": at(2), "datasetId": "urn:ds:gps"},
        ],
        "fuel": [
            {"type": "Property", "value": 3, "observedAt": at(3), "datasetId": "urn:ds:gps"},
            {"type": "Property", "value": 4, "observedAt": at(4), "datasetId": "urn:ds:tank"},
        ],
    }
    assert city.post(f"{NGSI}/temporal/entities", json=body).status_code == 201
    query = {"type": "Bus", "timerel": "after", "timeAt": at(0), "options": "temporalValues"}

    def found(**more: str) -> list[dict[str, Any]]:
        r = city.get(f"{NGSI}/temporal/entities", params={**query, **more})
        assert r.status_code == 200, r.text
        answer: list[dict[str, Any]] = r.json()
        return answer

    gps = found(datasetId="urn:ds:gps")[0]
    assert gps["speed"] == {"type": "Property", "datasetId": "urn:ds:gps", "values": [[2, at(2)]]}
    assert gps["fuel"] == {"type": "Property", "datasetId": "urn:ds:gps", "values": [[3, at(3)]]}
    default = found(datasetId="@none")[0]
    assert set(default) == {"id", "type", "speed"}
    assert default["speed"] == {"type": "Property", "values": [[1, at(1)]]}
    both = found(datasetId="urn:ds:gps,urn:ds:tank", attrs="fuel")[0]
    assert [f["datasetId"] for f in both["fuel"]] == ["urn:ds:gps", "urn:ds:tank"]
    assert found(datasetId="urn:ds:tank", attrs="speed") == []
    one = city.get(f"{NGSI}/temporal/entities/{bus}", params={"datasetId": "urn:ds:tank"})
    assert set(one.json()) == {"id", "type", "fuel"}
