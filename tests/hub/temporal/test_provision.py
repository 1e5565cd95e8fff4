"""Temporal provision: create, append, modify and delete history, on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

NGSI = "/ngsi-ld/v1"
TEMPORAL = f"{NGSI}/temporal/entities"
DS = "urn:ngsi-ld:dataset:backup"


def reading(value: Any, minute: int, **more: Any) -> dict[str, Any]:
    return {
        "type": "Property",
        "value": value,
        "observedAt": f"2026-11-25T00:{minute:02d}:00Z",
        **more,
    }


def history(client: TestClient, entity_id: str, **params: str) -> dict[str, Any]:
    r = client.get(f"{TEMPORAL}/{entity_id}", params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_create_then_add_to_a_temporal_entity(client: TestClient) -> None:
    eid = "urn:ngsi-ld:WaterQualityObserved:w1"
    body = {"id": eid, "type": "WaterQualityObserved", "ph": [reading(7.1, 0), reading(7.3, 5)]}
    r = client.post(TEMPORAL, json=body)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"{TEMPORAL}/{eid}"
    more = {"id": eid, "type": "Device", "ph": [reading(7.0, 10)], "temp": reading(12.5, 10)}
    assert client.post(TEMPORAL, json=more).status_code == 204
    got = history(client, eid)
    assert sorted(got["type"]) == ["Device", "WaterQualityObserved"]
    assert [i["value"] for i in got["ph"]] == [7.1, 7.3, 7.0]
    assert [i["value"] for i in got["temp"]] == [12.5]
    # the temporal API writes history only, never the entity's current state
    assert client.get(f"{NGSI}/entities/{eid}").status_code == 404


def test_append_instances_and_datasets(client: TestClient) -> None:
    eid = "urn:ngsi-ld:WaterQualityObserved:w2"
    assert (
        client.post(
            TEMPORAL, json={"id": eid, "type": "WaterQualityObserved", "ph": reading(7, 0)}
        ).status_code
        == 201
    )
    add = {"ph": [reading(8, 1), reading(9, 2, datasetId=DS)]}
    assert client.post(f"{TEMPORAL}/{eid}/attrs", json=add).status_code == 204
    got = history(client, eid)
    assert [(i["value"], i.get("datasetId")) for i in got["ph"]] == [(7, None), (8, None), (9, DS)]
    simple = history(client, eid, options="temporalValues")["ph"]
    assert simple == [
        {
            "type": "Property",
            "values": [[7, "2026-11-25T00:00:00Z"], [8, "2026-11-25T00:01:00Z"]],
        },
        {"type": "Property", "datasetId": DS, "values": [[9, "2026-11-25T00:02:00Z"]]},
    ]
    r = client.post(f"{TEMPORAL}/urn:ngsi-ld:WaterQualityObserved:none/attrs", json=add)
    assert r.status_code == 404


def test_modify_and_delete_one_instance(client: TestClient) -> None:
    eid = "urn:ngsi-ld:WaterQualityObserved:w3"
    body = {
        "id": eid,
        "type": "WaterQualityObserved",
        "ph": [reading(1, 0), reading(2, 1), reading(3, 2)],
    }
    assert client.post(TEMPORAL, json=body).status_code == 201
    ids = [i["instanceId"] for i in history(client, eid)["ph"]]
    r = client.patch(f"{TEMPORAL}/{eid}/attrs/ph/{ids[1]}", json={"value": 20, "unitCode": "PH"})
    assert r.status_code == 204, r.text
    after = history(client, eid, options="sysAttrs")["ph"]
    assert [i["value"] for i in after] == [1, 20, 3]
    assert after[1]["unitCode"] == "PH"
    assert after[1]["observedAt"] == "2026-11-25T00:01:00Z"  # kept
    assert after[1]["instanceId"] == ids[1]
    assert after[1]["modifiedAt"] > after[1]["createdAt"]
    moved = client.patch(
        f"{TEMPORAL}/{eid}/attrs/ph/{ids[0]}", json={"observedAt": "2026-11-25T00:30:00Z"}
    )
    assert moved.status_code == 204
    assert [i["value"] for i in history(client, eid)["ph"]] == [20, 3, 1]
    assert client.delete(f"{TEMPORAL}/{eid}/attrs/ph/{ids[2]}").status_code == 204
    assert [i["value"] for i in history(client, eid)["ph"]] == [20, 1]
    assert client.delete(f"{TEMPORAL}/{eid}/attrs/ph/{ids[2]}").status_code == 404
    for bad_id in ("urn:ngsi-ld:Instance:99999999", "urn:other:1", "urn:ngsi-ld:Instance:x"):
        r = client.patch(f"{TEMPORAL}/{eid}/attrs/ph/{bad_id}", json={"value": 1})
        assert r.status_code == 404, bad_id
    assert client.patch(f"{TEMPORAL}/{eid}/attrs/ph/42", json={"value": 1}).status_code == 400
    assert client.delete(f"{TEMPORAL}/{eid}/attrs/ph/not-a-uri").status_code == 400
    assert client.delete(f"{TEMPORAL}/{eid}/attrs/bad(name").status_code == 400
    assert client.delete(f"{TEMPORAL}//attrs/ph").status_code == 400
    # an instance of another attribute is not found under this one
    assert (
        client.patch(f"{TEMPORAL}/{eid}/attrs/temp/{ids[1]}", json={"value": 1}).status_code == 404
    )
    for body, fragment in (
        ({"type": "Relationship", "object": "urn:x:1"}, "cannot make it"),
        ({"datasetId": DS}, "datasetId"),
        ({"value": None}, "non-null"),
        ({"observedAt": "noon"}, "date-time"),
    ):
        r = client.patch(f"{TEMPORAL}/{eid}/attrs/ph/{ids[1]}", json=body)
        assert r.status_code == 400, body
        assert fragment in r.json()["detail"]


def test_delete_attribute_history_and_entity_history(client: TestClient) -> None:
    eid = "urn:ngsi-ld:WaterQualityObserved:w4"
    body = {
        "id": eid,
        "type": "WaterQualityObserved",
        "ph": [reading(1, 0), reading(2, 1, datasetId=DS)],
        "temp": [reading(10, 0)],
        "flow": [reading(5, 0), reading(6, 1, datasetId=DS)],
    }
    assert client.post(TEMPORAL, json=body).status_code == 201
    assert client.delete(f"{TEMPORAL}/{eid}/attrs/ph").status_code == 204  # default instance
    assert [i["value"] for i in history(client, eid)["ph"]] == [2]
    assert client.delete(f"{TEMPORAL}/{eid}/attrs/ph", params={"datasetId": DS}).status_code == 204
    assert "ph" not in history(client, eid)
    assert client.delete(f"{TEMPORAL}/{eid}/attrs/ph").status_code == 404
    assert (
        client.delete(f"{TEMPORAL}/{eid}/attrs/flow", params={"deleteAll": "true"}).status_code
        == 204
    )
    assert set(history(client, eid)) == {"id", "type", "temp"}
    r = client.delete(f"{TEMPORAL}/{eid}/attrs/temp", params={"deleteAll": "maybe"})
    assert r.status_code == 400
    r = client.delete(f"{TEMPORAL}/{eid}/attrs/temp", params={"deleteAll": "true", "datasetId": DS})
    assert r.status_code == 400
    assert client.delete(f"{TEMPORAL}/{eid}").status_code == 204
    assert client.get(f"{TEMPORAL}/{eid}").status_code == 404
    assert client.delete(f"{TEMPORAL}/{eid}").status_code == 404


def test_history_deleted_then_recorded_again(client: TestClient) -> None:
    eid = "urn:ngsi-ld:WaterQualityObserved:w5"
    entity = {"id": eid, "type": "WaterQualityObserved", "ph": reading(7, 0)}
    assert client.post(f"{NGSI}/entities", json=entity).status_code == 201
    assert client.delete(f"{TEMPORAL}/{eid}").status_code == 204
    assert (
        client.patch(f"{NGSI}/entities/{eid}/attrs", json={"ph": reading(8, 1)}).status_code == 204
    )
    assert [i["value"] for i in history(client, eid)["ph"]] == [8]
    found = client.get(TEMPORAL, params={"type": "WaterQualityObserved", "attrs": "ph", "id": eid})
    assert [e["id"] for e in found.json()] == [eid]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ([], 400),
        ({"type": "WaterQualityObserved", "ph": reading(1, 0)}, 400),
        ({"id": "urn:ngsi-ld:WaterQualityObserved:bad", "ph": reading(1, 0)}, 400),
        ({"id": "not a uri", "type": "T", "ph": reading(1, 0)}, 400),
        ({"id": "urn:ngsi-ld:WaterQualityObserved:bad", "type": "T", "ph": []}, 400),
        (
            {
                "id": "urn:ngsi-ld:WaterQualityObserved:bad",
                "type": "T",
                "ph": [reading(1, 0), {"type": "Property"}],
            },
            400,
        ),
    ],
)
def test_bad_bodies_write_nothing(client: TestClient, body: Any, status: int) -> None:
    r = client.post(TEMPORAL, json=body)
    assert r.status_code == status, r.text
    assert client.get(f"{TEMPORAL}/urn:ngsi-ld:WaterQualityObserved:bad").status_code == 404


def test_an_empty_entity_id_in_the_url_is_a_bad_request(client: TestClient) -> None:
    for method, path in (
        ("POST", "/ngsi-ld/v1/temporal/entities//attrs"),
        ("DELETE", "/ngsi-ld/v1/temporal/entities//attrs/level"),
        ("PATCH", "/ngsi-ld/v1/temporal/entities//attrs/level/urn:ngsi-ld:Instance:1"),
    ):
        r = client.request(method, path, json={"level": reading(1, 0)})
        assert r.status_code == 400, (method, path, r.text)
        assert "no entity id" in r.json()["detail"]


def test_an_observed_at_with_a_zone_offset_is_refused_where_history_is_written(
    client: TestClient,
) -> None:
    """4.6.3: a DateTime is UTC ending in Z; the error names the UTC instant to send."""
    eid = "urn:ngsi-ld:WaterQualityObserved:offset"
    offset = {"type": "Property", "value": 50, "observedAt": "2026-03-01T02:00:00+03:00"}
    r = client.post(TEMPORAL, json={"id": eid, "type": "WaterQualityObserved", "ph": [offset]})
    assert r.status_code == 400, r.text
    problem = r.json()
    assert problem["type"].endswith("BadRequestData")
    assert "2026-02-28T23:00:00Z" in problem["detail"]
    assert "오프셋" in problem["detail"]
    assert client.get(f"{TEMPORAL}/{eid}").status_code == 404  # nothing written
    scoped = {"type": "Property", "value": "/Sejong", "observedAt": "2026-03-01T02:00:00+0300"}
    r = client.post(TEMPORAL, json={"id": eid, "type": "T", "scope": [scoped]})
    assert r.status_code == 400, r.text
    # in Z, and with a fraction, the same instant is accepted
    good = {**offset, "observedAt": "2026-02-28T23:00:00.000Z"}
    assert client.post(TEMPORAL, json={"id": eid, "type": "T", "ph": [good]}).status_code == 201
    r = client.post(f"{TEMPORAL}/{eid}/attrs", json={"ph": [{**offset, "value": 51}]})
    assert r.status_code == 400, r.text
    (instance,) = history(client, eid)["ph"]
    r = client.patch(
        f"{TEMPORAL}/{eid}/attrs/ph/{instance['instanceId']}",
        json={"value": 52, "observedAt": "2026-03-01T02:00:00-01:30"},
    )
    assert r.status_code == 400, r.text
    assert [i["value"] for i in history(client, eid)["ph"]] == [50]
    # a value that is not a date-time at all is still the plain format error
    bad = {**offset, "observedAt": "2026-13-01T02:00:00+03:00"}
    r = client.post(f"{TEMPORAL}/{eid}/attrs", json={"ph": [bad]})
    assert r.status_code == 400, r.text
    assert "오프셋" not in r.json()["detail"]
    # the Core API keeps accepting offsets (ingestion and the twin send local times)
    core = {"id": f"{eid}:core", "type": "T", "ph": offset}
    assert client.post(f"{NGSI}/entities", json=core).status_code == 201
