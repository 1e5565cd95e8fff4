"""Subscription CRUD and validation over HTTP (GS CIM 009 v1.8, 6.10-6.11), both backends."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

BASE = "/ngsi-ld/v1/subscriptions"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"
ENDPOINT = {"uri": "http://127.0.0.1:9/notify", "accept": "application/json"}


def subscription(**members: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "Subscription",
        "entities": [{"type": "Vehicle"}],
        "notification": {"endpoint": dict(ENDPOINT)},
    }
    body.update(members)
    return body


def create(client: TestClient, body: dict[str, Any], **headers: str) -> str:
    r = client.post(BASE, json=body, headers=headers)
    assert r.status_code == 201, r.text
    location = r.headers["location"]
    assert location.startswith(f"{BASE}/urn:ngsi-ld:Subscription:")
    return location.rsplit("/", 1)[1]


def test_create_retrieve_update_delete(client: TestClient) -> None:
    sub_id = create(
        client,
        subscription(
            subscriptionName="buses",
            watchedAttributes=["speed"],
            q="speed>50",
            notificationTrigger=["attributeUpdated"],
            throttling=2,
            expiresAt="2099-01-01T09:00:00+09:00",
            notification={
                "attributes": ["speed"],
                "format": "concise",
                "showChanges": True,
                "endpoint": {
                    **ENDPOINT,
                    "receiverInfo": [{"key": "X-Token", "value": "abc"}],
                },
            },
        ),
    )
    got = client.get(f"{BASE}/{sub_id}").json()
    assert got["id"] == sub_id
    assert got["type"] == "Subscription"
    assert got["entities"] == [{"type": "Vehicle"}]
    assert got["watchedAttributes"] == ["speed"]
    assert got["q"] == "speed>50"
    assert got["throttling"] == 2
    assert got["expiresAt"] == "2099-01-01T00:00:00.000000Z"  # stored in UTC
    assert got["status"] == "active"
    note = got["notification"]
    assert note["attributes"] == ["speed"]
    assert note["format"] == "concise"
    assert note["showChanges"] is True
    assert note["endpoint"]["receiverInfo"] == [{"key": "X-Token", "value": "abc"}]
    assert note["timesSent"] == 0
    assert note["timesFailed"] == 0
    assert note["status"] == "ok"

    r = client.patch(f"{BASE}/{sub_id}", json={"isActive": False, "q": "speed>60"})
    assert r.status_code == 204, r.text
    got = client.get(f"{BASE}/{sub_id}").json()
    assert got["status"] == "paused"
    assert got["q"] == "speed>60"
    assert got["subscriptionName"] == "buses"  # untouched members stay

    r = client.patch(f"{BASE}/{sub_id}", json={"q": None, "isActive": True})
    assert r.status_code == 204
    got = client.get(f"{BASE}/{sub_id}").json()
    assert "q" not in got
    assert got["status"] == "active"

    assert client.delete(f"{BASE}/{sub_id}").status_code == 204
    r = client.get(f"{BASE}/{sub_id}")
    assert r.status_code == 404
    assert r.json()["type"] == ERR + "ResourceNotFound"
    assert client.delete(f"{BASE}/{sub_id}").status_code == 404


def test_given_id_and_conflict(client: TestClient) -> None:
    sub_id = f"urn:ngsi-ld:Subscription:mine-{uuid.uuid4().hex[:6]}"
    assert create(client, subscription(id=sub_id)) == sub_id
    r = client.post(BASE, json=subscription(id=sub_id))
    assert r.status_code == 409
    assert r.json()["type"] == ERR + "AlreadyExists"


def test_list_pages_and_counts(client: TestClient) -> None:
    tenant = {"NGSILD-Tenant": f"pages-{uuid.uuid4().hex[:6]}"}
    made = sorted(create(client, subscription(), **tenant) for _ in range(5))
    r = client.get(BASE, params={"limit": 2, "count": "true"}, headers=tenant)
    assert r.status_code == 200
    assert r.headers["ngsild-results-count"] == "5"
    assert [s["id"] for s in r.json()] == made[:2]
    assert 'rel="next"' in r.headers["link"]
    r = client.get(BASE, params={"limit": 2, "offset": 4}, headers=tenant)
    assert [s["id"] for s in r.json()] == made[4:]
    # tenants are separate
    other = client.get(BASE, headers={"NGSILD-Tenant": "nobody-here"})
    assert other.status_code == 200
    assert other.json() == []
    assert client.get(BASE, params={"limit": 0}, headers=tenant).status_code == 400


def test_terms_follow_the_context(client: TestClient) -> None:
    ctx = {"@context": {"Bus": "https://example.org/Bus", "load": "https://example.org/load"}}
    body = subscription(entities=[{"type": "Bus"}], watchedAttributes=["load"], **ctx)
    r = client.post(BASE, json=body, headers={"Content-Type": "application/ld+json"})
    assert r.status_code == 201, r.text
    sub_id = r.headers["location"].rsplit("/", 1)[1]
    plain = client.get(f"{BASE}/{sub_id}").json()  # core context only: full IRIs
    assert plain["entities"] == [{"type": "https://example.org/Bus"}]
    assert plain["watchedAttributes"] == ["https://example.org/load"]
    r = client.get(f"{BASE}/{sub_id}", headers={"Accept": "application/ld+json"})
    assert "@context" in r.json()


BAD = [
    ({"entities": []}, "entities"),
    ({"entities": [{"id": "urn:x:1"}]}, "type"),
    ({"entities": [{"type": "Vehicle", "colour": "red"}]}, "unknown"),
    ({"entities": [{"type": "Vehicle", "id": "not a uri"}]}, "id"),
    ({"entities": [{"type": "Vehicle", "idPattern": "(unclosed"}]}, "idPattern"),
    ({"entities": None, "watchedAttributes": None}, "entities"),
    ({"watchedAttributes": []}, "watchedAttributes"),
    ({"watchedAttributes": ["bad name"]}, "watchedAttributes"),
    ({"notificationTrigger": ["entityExploded"]}, "notificationTrigger"),
    ({"notificationTrigger": []}, "notificationTrigger"),
    ({"q": "speed>>"}, "q"),
    ({"q": 5}, "q"),
    ({"scopeQ": "nope"}, "scope"),
    ({"geoQ": {"georel": "near;maxDistance==100", "geometry": "Point"}}, "coordinates"),
    ({"geoQ": {"georel": "near", "geometry": "Point", "coordinates": [127, 36]}}, "near"),
    ({"throttling": -1}, "throttling"),
    ({"throttling": "often"}, "throttling"),
    ({"timeInterval": 0}, "timeInterval"),
    ({"timeInterval": 5, "throttling": 5}, "timeInterval"),
    ({"timeInterval": 5, "watchedAttributes": ["speed"]}, "timeInterval"),
    ({"expiresAt": "tomorrow"}, "expiresAt"),
    ({"expiresAt": "2001-01-01T00:00:00Z"}, "past"),
    ({"isActive": "yes"}, "isActive"),
    ({"type": "Entity"}, "Subscription"),
    ({"id": "no uri"}, "id"),
    ({"colour": "red"}, "unknown"),
    ({"csf": "x"}, "not supported"),
    ({"datasetId": []}, "datasetId"),
    ({"datasetId": ["not a uri"]}, "datasetId"),
    ({"datasetId": [7]}, "datasetId"),
    ({"notification": None}, "notification"),
    ({"notification": {"endpoint": {"uri": "ftp://host/x"}}}, "uri"),
    ({"notification": {"endpoint": {"uri": "http:///nohost"}}}, "uri"),
    ({"notification": {"endpoint": {"uri": "mqtt://host:1883"}}}, "topic"),
    ({"notification": {"endpoint": {**ENDPOINT, "accept": "text/plain"}}}, "accept"),
    ({"notification": {"endpoint": {**ENDPOINT, "receiverInfo": [{"k": "v"}]}}}, "receiverInfo"),
    (
        {
            "notification": {
                "endpoint": {**ENDPOINT, "receiverInfo": [{"key": "a b", "value": "v"}]}
            }
        },
        "receiverInfo",
    ),
    (
        {
            "notification": {
                "endpoint": {
                    "uri": "mqtt://127.0.0.1:1883/t",
                    "notifierInfo": [{"key": "MQTT-QoS", "value": "2"}],
                }
            }
        },
        "MQTT-QoS",
    ),
    ({"notification": {"endpoint": ENDPOINT, "format": "fancy"}}, "format"),
    ({"notification": {"endpoint": ENDPOINT, "showChanges": "yes"}}, "showChanges"),
    ({"notification": {"endpoint": ENDPOINT, "attributes": "speed"}}, "attributes"),
    (
        {"notification": {"endpoint": ENDPOINT, "format": "keyValues", "showChanges": True}},
        "showChanges",
    ),
    ({"notification": {"endpoint": ENDPOINT, "colour": 1}}, "unknown"),
]


@pytest.mark.parametrize(("members", "mentions"), BAD, ids=[str(m) for m, _ in BAD])
def test_bad_members_get_a_clear_400(
    client: TestClient, members: dict[str, Any], mentions: str
) -> None:
    body = subscription()
    for key, value in members.items():
        if value is None and key != "notification":
            body.pop(key, None)
        else:
            body[key] = value
    r = client.post(BASE, json=body)
    assert r.status_code == 400, r.text
    problem = r.json()
    assert problem["type"] in (ERR + "BadRequestData", ERR + "InvalidRequest")
    assert mentions.lower() in problem["detail"].lower(), problem["detail"]


def test_bad_patch_is_refused_and_changes_nothing(client: TestClient) -> None:
    sub_id = create(client, subscription(q="speed>1"))
    for fragment in ({"throttling": 0}, {"id": "urn:x:other"}, {}, {"notification": {"format": 3}}):
        r = client.patch(f"{BASE}/{sub_id}", json=fragment)
        assert r.status_code == 400, (fragment, r.text)
    assert client.get(f"{BASE}/{sub_id}").json()["q"] == "speed>1"
    # 5.8.2: an expiresAt in the past is BadRequestData on update too (ETSI 029_11_01)
    r = client.patch(f"{BASE}/{sub_id}", json={"expiresAt": "2020-08-01T22:07:00Z"})
    assert r.status_code == 400, r.text
    assert r.json()["type"] == ERR + "BadRequestData"
    assert "past" in r.json()["detail"]
    assert "과거" in r.json()["detail"]
    assert "expiresAt" not in client.get(f"{BASE}/{sub_id}").json()
    r = client.patch(f"{BASE}/{sub_id}", json={"expiresAt": "2099-01-01T00:00:00Z"})
    assert r.status_code == 204, r.text
    assert client.patch(f"{BASE}/urn:x:none", json={"q": "a>1"}).status_code == 404
    r = client.post(BASE, content=b"[1]", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = client.post(BASE, content=b"{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400


def test_index_follows_changes_made_through_the_api(client: TestClient) -> None:
    from cityos.hub.subscriptions import notification_writer

    writer = notification_writer(client.app.state.store)  # type: ignore[attr-defined]
    assert writer is not None
    client.post("/ngsi-ld/v1/entities", json={"id": "urn:ngsi-ld:Vehicle:idx", "type": "Vehicle"})
    sub_id = create(client, subscription(entities=[{"type": "Bus"}]))
    bus = "https://uri.etsi.org/ngsi-ld/default-context/Bus"
    found = writer.index.candidates("urn:ngsi-ld:tenant:default", [bus], "urn:x", ["a"])
    assert sub_id in [s.id for s in found]
    r = client.patch(f"{BASE}/{sub_id}", json={"entities": [{"type": "Tram"}]})
    assert r.status_code == 204
    found = writer.index.candidates("urn:ngsi-ld:tenant:default", [bus], "urn:x", ["a"])
    assert sub_id not in [s.id for s in found]
    tram = "https://uri.etsi.org/ngsi-ld/default-context/Tram"
    found = writer.index.candidates("urn:ngsi-ld:tenant:default", [tram], "urn:x", ["a"])
    assert sub_id in [s.id for s in found]
    assert client.delete(f"{BASE}/{sub_id}").status_code == 204
    assert writer.index.get("urn:ngsi-ld:tenant:default", sub_id) is None


def test_members_are_shown_as_given_and_a_bad_id_is_a_400(client: TestClient) -> None:
    """ETSI 028_01/030_03 (no isActive added, integer seconds stay integers), 030_01 etc."""
    body = subscription(timeInterval=10)
    body.pop("watchedAttributes", None)
    sub_id = create(client, body)
    shown = client.get(f"{BASE}/{sub_id}").json()
    assert "isActive" not in shown
    assert shown["status"] == "active"
    assert shown["timeInterval"] == 10
    assert isinstance(shown["timeInterval"], int)
    for method in ("GET", "PATCH", "DELETE"):
        r = client.request(method, f"{BASE}/not-a-uri", json={"q": "a>1"})
        assert r.status_code == 400, (method, r.text)
        assert r.json()["type"].endswith("BadRequestData")
