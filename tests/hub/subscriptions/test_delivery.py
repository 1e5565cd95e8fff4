"""Notifications reach a real HTTP receiver: triggers, filters, formats, pacing, expiry, stats."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.hub.subscriptions.receiver import Receiver

HUB = "/ngsi-ld/v1"


def kind() -> str:
    """Return an entity type of its own for one test (subscriptions outlive tests)."""
    return f"T{uuid.uuid4().hex[:8]}"


def subscribe(client: TestClient, rx: Receiver, etype: str, **members: Any) -> str:
    notification = members.pop("notification", {})
    endpoint = {"uri": rx.url, **notification.pop("endpoint", {})}
    body = {
        "type": "Subscription",
        "entities": [{"type": etype}],
        "notification": {**notification, "endpoint": endpoint},
        **members,
    }
    r = client.post(f"{HUB}/subscriptions", json=body)
    assert r.status_code == 201, r.text
    return str(r.headers["location"].rsplit("/", 1)[1])


def notes(rx: Receiver, sub_id: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Wait for ``count`` notifications of one subscription and return them (in arrival order)."""
    return rx.of_subscription(sub_id, count, timeout)


def quiet(rx: Receiver, sub_id: str, seconds: float = 1.0) -> list[dict[str, Any]]:
    """Return the notifications of a subscription after waiting ``seconds`` for more."""
    time.sleep(seconds)
    return [n for n in rx.received if n["subscriptionId"] == sub_id]


def entity(etype: str, n: int = 1, **attrs: Any) -> dict[str, Any]:
    body = {"id": f"urn:ngsi-ld:{etype}:{n}", "type": etype}
    for name, value in attrs.items():
        body[name] = {"type": "Property", "value": value}
    return body


def prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def test_each_trigger(client: TestClient, rx: Receiver) -> None:
    etype = kind()
    triggers = (
        "entityCreated",
        "entityUpdated",
        "entityDeleted",
        "attributeCreated",
        "attributeUpdated",
        "attributeDeleted",
    )
    subs = {t: subscribe(client, rx, etype, notificationTrigger=[t]) for t in triggers}
    eid = f"urn:ngsi-ld:{etype}:1"
    assert client.post(f"{HUB}/entities", json=entity(etype, speed=1)).status_code == 201
    r = client.post(f"{HUB}/entities/{eid}/attrs", json={"load": prop(3)})  # attribute created
    assert r.status_code == 204
    r = client.patch(f"{HUB}/entities/{eid}/attrs", json={"speed": prop(2)})  # updated
    assert r.status_code == 204
    assert client.delete(f"{HUB}/entities/{eid}/attrs/load").status_code == 204
    assert client.delete(f"{HUB}/entities/{eid}").status_code == 204
    expected = {
        "entityCreated": ["entityCreated"],
        "entityUpdated": ["entityUpdated"] * 3,
        "entityDeleted": ["entityDeleted"],
        "attributeCreated": ["attributeCreated"] * 2,  # the entity's own, then load
        "attributeUpdated": ["attributeUpdated"],
        "attributeDeleted": ["attributeDeleted"],
    }
    for trigger, sub_id in subs.items():
        got = notes(rx, sub_id, len(expected[trigger]))
        assert [n["triggerReason"] for n in quiet(rx, sub_id, 0)] == expected[trigger], trigger
        for note in got:
            assert note["type"] == "Notification"
            assert note["id"].startswith("urn:ngsi-ld:Notification:")
            assert note["data"][0]["id"] == eid
    deleted = notes(rx, subs["attributeDeleted"], 1)[0]["data"][0]
    assert deleted["load"] == {"type": "Property", "value": "urn:ngsi-ld:null"}
    gone = notes(rx, subs["entityDeleted"], 1)[0]["data"][0]
    assert gone["id"] == eid
    assert gone["type"] == etype
    assert "deletedAt" in gone


def test_watched_attributes_q_and_geo_filter(client: TestClient, rx: Receiver) -> None:
    etype = kind()
    watched = subscribe(client, rx, etype, watchedAttributes=["pm25"])
    filtered = subscribe(client, rx, etype, q="pm25>35")
    near = subscribe(
        client,
        rx,
        etype,
        geoQ={
            "georel": "near;maxDistance==1000",
            "geometry": "Point",
            "coordinates": [127.26, 36.5],
        },
    )
    eid = f"urn:ngsi-ld:{etype}:1"
    body = entity(etype, pm25=10, temperature=20)
    body["location"] = {
        "type": "GeoProperty",
        "value": {"type": "Point", "coordinates": [127.26, 36.501]},
    }
    assert client.post(f"{HUB}/entities", json=body).status_code == 201
    client.patch(f"{HUB}/entities/{eid}/attrs", json={"temperature": prop(21)})
    client.patch(f"{HUB}/entities/{eid}/attrs", json={"pm25": prop(40)})
    far = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [127.5, 36.7]}}
    client.patch(f"{HUB}/entities/{eid}/attrs", json={"location": far, "pm25": prop(50)})
    got_watched = notes(rx, watched, 3)
    assert [n["data"][0]["pm25"]["value"] for n in got_watched] == [10, 40, 50]
    got_q = notes(rx, filtered, 2)
    assert [n["data"][0]["pm25"]["value"] for n in got_q] == [40, 50]
    got_near = quiet(rx, near, 0.5)
    assert [n["data"][0]["pm25"]["value"] for n in got_near] == [10, 10, 40]


def test_formats_attributes_sysattrs_and_show_changes(client: TestClient, rx: Receiver) -> None:
    etype = kind()
    kv = subscribe(client, rx, etype, notification={"format": "keyValues", "attributes": ["a"]})
    concise = subscribe(client, rx, etype, notification={"format": "concise", "sysAttrs": True})
    changes = subscribe(client, rx, etype, notification={"showChanges": True})
    eid = f"urn:ngsi-ld:{etype}:1"
    assert client.post(f"{HUB}/entities", json=entity(etype, a=1, b="x")).status_code == 201
    client.patch(f"{HUB}/entities/{eid}/attrs", json={"a": prop(2)})
    assert [n["data"][0] for n in notes(rx, kv, 2)] == [
        {"id": eid, "type": etype, "a": 1},
        {"id": eid, "type": etype, "a": 2},
    ]
    first = notes(rx, concise, 1)[0]["data"][0]
    assert first["a"]["value"] == 1
    assert "createdAt" in first
    assert "modifiedAt" in first
    updated = notes(rx, changes, 2)[1]["data"][0]
    assert updated["a"] == {"type": "Property", "value": 2, "previousValue": 1}
    assert "previousValue" not in updated["b"]


def test_deletions_show_previous_values_and_system_attributes(
    client: TestClient, rx: Receiver
) -> None:
    """5.2.12: showChanges gives the previous value "in case of modifications and deletions"
    (ETSI 046_32-046_39); sysAttrs adds createdAt/modifiedAt and, for a deletion, deletedAt
    (046_21_02, 046_22_05). A deleted attribute is NGSI-LD Null of its own type."""
    etype = kind()
    deleted = ["attributeDeleted", "entityDeleted"]
    changes = subscribe(
        client, rx, etype, notificationTrigger=deleted, notification={"showChanges": True}
    )
    updates = subscribe(
        client,
        rx,
        etype,
        notificationTrigger=["attributeUpdated"],
        notification={"showChanges": True},
    )
    sys_attrs = subscribe(
        client, rx, etype, notificationTrigger=deleted, notification={"sysAttrs": True}
    )
    plain = subscribe(client, rx, etype, notificationTrigger=["entityDeleted"])
    eid = f"urn:ngsi-ld:{etype}:1"
    spec = {"type": "JsonProperty", "json": {"id": "x", "null": None}}
    body = {
        **entity(etype, name="Tower"),
        "spec": spec,
        "kind": {"type": "VocabProperty", "vocab": "monument"},
        "near": {"type": "Relationship", "object": "urn:ngsi-ld:City:Sejong"},
        "where": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [127.2, 36.5]}},
        "label": {"type": "LanguageProperty", "languageMap": {"ko": "탑", "en": "tower"}},
    }
    assert client.post(f"{HUB}/entities", json=body).status_code == 201
    r = client.patch(
        f"{HUB}/entities/{eid}/attrs", json={"spec": {"type": "JsonProperty", "json": [1]}}
    )
    assert r.status_code == 204, r.text
    assert notes(rx, updates, 1)[0]["data"][0]["spec"] == {
        "type": "JsonProperty",
        "json": [1],
        "previousJson": {"id": "x", "null": None},
    }
    assert client.delete(f"{HUB}/entities/{eid}/attrs/kind").status_code == 204
    assert client.delete(f"{HUB}/entities/{eid}").status_code == 204
    attr_gone, entity_gone = (n["data"][0] for n in notes(rx, changes, 2))
    assert attr_gone["kind"] == {
        "type": "VocabProperty",
        "vocab": "urn:ngsi-ld:null",
        "previousVocab": "monument",
    }
    assert entity_gone["spec"] == {
        "type": "JsonProperty",
        "json": "urn:ngsi-ld:null",
        "previousJson": [1],
    }
    assert entity_gone["name"] == {
        "type": "Property",
        "value": "urn:ngsi-ld:null",
        "previousValue": "Tower",
    }
    assert entity_gone["near"]["previousObject"] == "urn:ngsi-ld:City:Sejong"
    assert entity_gone["where"]["type"] == "GeoProperty"
    assert entity_gone["where"]["previousValue"]["coordinates"] == [127.2, 36.5]
    assert entity_gone["label"]["previousLanguageMap"] == {"ko": "탑", "en": "tower"}
    assert "kind" not in entity_gone  # deleted before the entity
    attr_sys, entity_sys = (n["data"][0] for n in notes(rx, sys_attrs, 2))
    assert {"createdAt", "modifiedAt", "deletedAt"} <= set(attr_sys["kind"])
    assert "previousVocab" not in attr_sys["kind"]
    assert {"createdAt", "modifiedAt", "deletedAt"} <= set(entity_sys)
    assert set(notes(rx, plain, 1)[0]["data"][0]) == {"id", "type", "deletedAt"}


def test_endpoint_headers_tenant_and_ld_json(client: TestClient, rx: Receiver) -> None:
    etype = kind()
    tenant = f"rx-{uuid.uuid4().hex[:6]}"
    body = {
        "type": "Subscription",
        "entities": [{"type": etype}],
        "notification": {
            "endpoint": {
                "uri": rx.url,
                "accept": "application/ld+json",
                "receiverInfo": [{"key": "X-Auth-Token", "value": "s3cret"}],
            }
        },
    }
    r = client.post(f"{HUB}/subscriptions", json=body, headers={"NGSILD-Tenant": tenant})
    assert r.status_code == 201, r.text
    sub_id = r.headers["location"].rsplit("/", 1)[1]
    r = client.post(f"{HUB}/entities", json=entity(etype, a=1), headers={"NGSILD-Tenant": tenant})
    assert r.status_code == 201
    note = notes(rx, sub_id, 1)[0]
    headers = rx.headers[rx.received.index(note)]
    assert headers["content-type"] == "application/ld+json"
    assert headers["x-auth-token"] == "s3cret"
    assert headers["ngsild-tenant"] == tenant
    assert "@context" in note
    # the same entity type in the default tenant does not reach this subscription
    assert client.post(f"{HUB}/entities", json=entity(etype, a=2)).status_code == 201
    assert len(quiet(rx, sub_id, 0.5)) == 1


def test_throttling_spaces_notifications_without_dropping(client: TestClient, rx: Receiver) -> None:
    etype = kind()
    sub_id = subscribe(client, rx, etype, throttling=0.5)
    eid = f"urn:ngsi-ld:{etype}:1"
    assert client.post(f"{HUB}/entities", json=entity(etype, a=0)).status_code == 201
    for i in range(1, 4):
        client.patch(f"{HUB}/entities/{eid}/attrs", json={"a": prop(i)})
    got = notes(rx, sub_id, 4)
    assert [n["data"][0]["a"]["value"] for n in got] == [0, 1, 2, 3]
    arrived = [rx.times[rx.received.index(n)] for n in got]
    gaps = [b - a for a, b in zip(arrived, arrived[1:], strict=False)]
    assert min(gaps) >= 0.45, gaps


def test_paused_and_expired_subscriptions_stay_silent(client: TestClient, rx: Receiver) -> None:
    etype = kind()
    paused = subscribe(client, rx, etype, isActive=False)
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    expiring = subscribe(client, rx, etype, expiresAt=soon)
    assert client.get(f"{HUB}/subscriptions/{expiring}").json()["status"] == "active"
    time.sleep(1.2)
    assert client.get(f"{HUB}/subscriptions/{expiring}").json()["status"] == "expired"
    assert client.get(f"{HUB}/subscriptions/{paused}").json()["status"] == "paused"
    assert client.post(f"{HUB}/entities", json=entity(etype, a=1)).status_code == 201
    assert quiet(rx, paused, 1.0) == []
    assert quiet(rx, expiring, 0) == []
    assert client.patch(f"{HUB}/subscriptions/{paused}", json={"isActive": True}).status_code == 204
    client.patch(f"{HUB}/entities/urn:ngsi-ld:{etype}:1/attrs", json={"a": prop(2)})
    assert len(notes(rx, paused, 1)) == 1


def test_statistics_count_successes_and_failures(client: TestClient, rx: Receiver) -> None:
    etype = kind()
    sub_id = subscribe(client, rx, etype)
    eid = f"urn:ngsi-ld:{etype}:1"
    assert client.post(f"{HUB}/entities", json=entity(etype, a=1)).status_code == 201
    notes(rx, sub_id, 1)
    time.sleep(0.2)
    stats = client.get(f"{HUB}/subscriptions/{sub_id}").json()["notification"]
    assert stats["timesSent"] == 1
    assert stats["timesFailed"] == 0
    assert stats["status"] == "ok"
    assert stats["lastSuccess"] == stats["lastNotification"]
    rx.status = 503
    try:
        client.patch(f"{HUB}/entities/{eid}/attrs", json={"a": prop(2)})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            stats = client.get(f"{HUB}/subscriptions/{sub_id}").json()["notification"]
            if stats["timesFailed"] >= 1:
                break
            time.sleep(0.1)
        assert stats["timesFailed"] >= 1
        assert stats["status"] == "failed"
        # in both languages: "HTTP 503: <answer> / 수신자가 HTTP 503(으)로 거절했습니다"
        assert stats["lastErrorReason"].startswith("HTTP 503")
        assert "수신자가 HTTP 503" in stats["lastErrorReason"]
        assert stats["lastFailure"] == stats["lastNotification"]
    finally:
        rx.status = 204
    got = notes(rx, sub_id, 2)  # the retry delivers it
    assert [n["data"][0]["a"]["value"] for n in got] == [1, 2]
    time.sleep(0.2)
    stats = client.get(f"{HUB}/subscriptions/{sub_id}").json()["notification"]
    assert stats["timesSent"] == 2
    assert stats["status"] == "ok"


def test_periodic_notifications_carry_the_current_state(client: TestClient, rx: Receiver) -> None:
    etype = kind()
    for n in (1, 2):
        assert client.post(f"{HUB}/entities", json=entity(etype, n, a=n)).status_code == 201
    sub_id = subscribe(client, rx, etype, timeInterval=0.5, q="a>1")
    got = notes(rx, sub_id, 2, timeout=6)
    assert len(got) >= 2
    assert all([e["id"] for e in n["data"]] == [f"urn:ngsi-ld:{etype}:2"] for n in got)
    # a periodic subscription does not notify on change
    client.patch(f"{HUB}/entities/urn:ngsi-ld:{etype}:2/attrs", json={"a": prop(5)})
    assert client.delete(f"{HUB}/subscriptions/{sub_id}").status_code == 204


def test_scope_id_pattern_and_attribute_only_subscriptions(
    client: TestClient, rx: Receiver
) -> None:
    etype = kind()
    scoped = subscribe(client, rx, etype, scopeQ="/Sejong/Jochiwon/#")
    pattern = subscribe(
        client, rx, etype, entities=[{"type": etype, "idPattern": f"urn:ngsi-ld:{etype}:2.*"}]
    )
    attr = f"level{uuid.uuid4().hex[:6]}"
    body = {
        "type": "Subscription",
        "watchedAttributes": [attr],
        "notification": {"endpoint": {"uri": rx.url}},
    }
    r = client.post(f"{HUB}/subscriptions", json=body)
    assert r.status_code == 201, r.text
    by_attr = r.headers["location"].rsplit("/", 1)[1]
    first = entity(etype, 1, a=1)
    first["scope"] = "/Sejong/Jochiwon/North"
    second = entity(etype, 2, a=2)
    second["scope"] = "/Sejong/Hansol"
    second[attr] = prop(7)
    for made in (first, second):
        assert client.post(f"{HUB}/entities", json=made).status_code == 201
    assert [n["data"][0]["id"] for n in notes(rx, scoped, 1)] == [first["id"]]
    assert [n["data"][0]["id"] for n in notes(rx, pattern, 1)] == [second["id"]]
    assert [n["data"][0]["id"] for n in notes(rx, by_attr, 1)] == [second["id"]]
    assert len(quiet(rx, scoped, 0.5)) == 1
    assert len(quiet(rx, pattern, 0)) == 1


def test_type_expressions_in_entities(client: TestClient, rx: Receiver) -> None:
    """v1.8 type expressions in ``entities[].type``: ``A,B`` / ``A|B`` (or), ``A;B`` (and)."""
    a, b, c = kind(), kind(), kind()
    either = subscribe(client, rx, f"{a},{b}")
    both = subscribe(client, rx, f"({a};{b})|{c}")
    r = client.get(f"{HUB}/subscriptions/{both}")
    assert r.json()["entities"] == [{"type": f"({a};{b})|{c}"}]  # compacted back as given
    bodies = [
        {"id": f"urn:ngsi-ld:X:{a}", "type": a, "n": prop(1)},  # either
        {"id": f"urn:ngsi-ld:X:{b}", "type": b, "n": prop(2)},  # either
        {"id": f"urn:ngsi-ld:X:{a}{b}", "type": [a, b], "n": prop(3)},  # either, both
        {"id": f"urn:ngsi-ld:X:{c}", "type": c, "n": prop(4)},  # both
        {"id": f"urn:ngsi-ld:X:{c}x", "type": kind(), "n": prop(5)},  # none
    ]
    for body in bodies:
        assert client.post(f"{HUB}/entities", json=body).status_code == 201
    got = notes(rx, either, 3)
    assert sorted(n["data"][0]["n"]["value"] for n in quiet(rx, either, 0.5)) == [1, 2, 3]
    got = notes(rx, both, 2)
    assert sorted(n["data"][0]["n"]["value"] for n in quiet(rx, both, 0)) == [3, 4], got
    for bad in (f"({a};{b}", f"{a};;{b}", f"{a}|<x>"):
        r = client.post(
            f"{HUB}/subscriptions",
            json={
                "type": "Subscription",
                "entities": [{"type": bad}],
                "notification": {"endpoint": {"uri": rx.url}},
            },
        )
        assert r.status_code == 400, (bad, r.text)
        assert "entities[0].type" in r.json()["detail"]


def test_pick_and_omit_project_the_notified_entity(client: TestClient, rx: Receiver) -> None:
    """v1.8.1 clause 4.21 projection in NotificationParams (ETSI 028_08, 046_42/43)."""
    etype = kind()
    picked = subscribe(client, rx, etype, notification={"pick": ["id", "speed"]})
    omitted = subscribe(client, rx, etype, notification={"omit": "type,load"})
    r = client.get(f"{HUB}/subscriptions/{picked}")
    assert r.json()["notification"]["pick"] == ["id", "speed"]
    body = entity(etype, speed=1, load=2, name="x")
    assert client.post(f"{HUB}/entities", json=body).status_code == 201
    assert notes(rx, picked, 1)[0]["data"][0] == {"id": body["id"], "speed": prop(1)}
    seen = notes(rx, omitted, 1)[0]["data"][0]
    assert seen == {"id": body["id"], "speed": prop(1), "name": prop("x")}
    for notification in (
        {"pick": ["id"], "attributes": ["speed"]},
        {"omit": ["load"], "attributes": ["speed"]},
        {"pick": ["id", "speed"], "omit": ["speed"]},
        {"pick": []},
        {"pick": ["locatedAt{name}"]},
    ):
        r = client.post(
            f"{HUB}/subscriptions",
            json={
                "type": "Subscription",
                "entities": [{"type": etype}],
                "notification": {**notification, "endpoint": {"uri": rx.url}},
            },
        )
        assert r.status_code == 400, (notification, r.text)
        assert r.json()["type"].endswith("BadRequestData"), r.text


def test_dataset_id_keeps_those_instances_in_notifications(
    client: TestClient, rx: Receiver
) -> None:
    """v1.8.1 5.2.12 ``datasetId`` (4.5.5): the notified entity carries only the attribute
    instances of those datasetIds, ``@none`` the default one (ETSI 028_06, 046_19)."""
    etype = kind()
    french, german = "urn:ngsi-ld:Dataset:french", "urn:ngsi-ld:Dataset:german"
    only_french = subscribe(client, rx, etype, datasetId=[french])
    with_default = subscribe(client, rx, etype, datasetId=["@none", german])
    assert client.get(f"{HUB}/subscriptions/{only_french}").json()["datasetId"] == [french]
    body = {
        "id": f"urn:ngsi-ld:{etype}:1",
        "type": etype,
        "name": [
            {"type": "Property", "value": "Sejong"},
            {"type": "Property", "value": "Sejong-ville", "datasetId": french},
            {"type": "Property", "value": "Sejong-Stadt", "datasetId": german},
        ],
        "speed": prop(3),
    }
    assert client.post(f"{HUB}/entities", json=body).status_code == 201
    seen = notes(rx, only_french, 1)[0]["data"][0]
    assert seen["name"] == {"type": "Property", "value": "Sejong-ville", "datasetId": french}
    assert "speed" not in seen  # its only instance is the default one
    seen = notes(rx, with_default, 1)[0]["data"][0]
    assert sorted(i["value"] for i in seen["name"]) == ["Sejong", "Sejong-Stadt"]
    assert seen["speed"] == prop(3)
