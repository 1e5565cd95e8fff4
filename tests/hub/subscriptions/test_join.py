"""Linked entities in notifications: ``notification.join`` and ``joinLevel`` (GS CIM 009
v1.8.1 4.5.23, 5.2.14): inline in the notified entity, or flat after it, to the level asked."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.hub.subscriptions.receiver import Receiver

HUB = "/ngsi-ld/v1"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"


def unique() -> str:
    return uuid.uuid4().hex[:8]


def notes(rx: Receiver, sub_id: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Wait for ``count`` notifications of one subscription and return them (in arrival order)."""
    return rx.of_subscription(sub_id, count, timeout)


def subscribe(
    client: TestClient,
    rx: Receiver,
    etype: str,
    members: dict[str, Any] | None = None,
    **notification: Any,
) -> str:
    body = {
        "type": "Subscription",
        "entities": [{"type": etype}],
        "notification": {"endpoint": {"uri": rx.url}, **notification},
        **(members or {}),
    }
    r = client.post(f"{HUB}/subscriptions", json=body)
    assert r.status_code == 201, r.text
    return str(r.headers["location"].rsplit("/", 1)[1])


def rel(target: str) -> dict[str, Any]:
    return {"type": "Relationship", "object": target}


def chain(client: TestClient, tag: str) -> tuple[str, str, str, str]:
    """Create City <- District <- Building (linked by locatedAt / partOf); return the
    Building type and the three ids. The City's country names a missing entity."""
    city = f"urn:ngsi-ld:City:{tag}"
    district = f"urn:ngsi-ld:District:{tag}"
    building = f"urn:ngsi-ld:Building:{tag}"
    entities = [
        {"id": city, "type": "City", "country": rel(f"urn:ngsi-ld:Country:none-{tag}")},
        {"id": district, "type": "District", "partOf": rel(city)},
    ]
    r = client.post(f"{HUB}/entityOperations/create", json=entities)
    assert r.status_code == 201, r.text
    return f"Building{tag}", building, district, city


def test_flat_sends_the_linked_entities_after_the_notified_one(
    client: TestClient, rx: Receiver
) -> None:
    tag = unique()
    btype, building, district, city = chain(client, tag)
    sub = subscribe(client, rx, btype, join="flat", joinLevel=2)
    body = {"id": building, "type": btype, "locatedAt": rel(district)}
    assert client.post(f"{HUB}/entities", json=body).status_code == 201
    (note,) = notes(rx, sub, 1)
    assert [e["id"] for e in note["data"]] == [building, district, city]
    assert note["data"][0]["locatedAt"] == {"type": "Relationship", "object": district}
    assert note["data"][2]["country"]["object"].endswith(tag)  # a missing target: left out
    # the subscription shows what it was given
    shown = client.get(f"{HUB}/subscriptions/{sub}").json()["notification"]
    assert (shown["join"], shown["joinLevel"]) == ("flat", 2)


def test_inline_embeds_to_the_level_asked(client: TestClient, rx: Receiver) -> None:
    tag = unique()
    btype, building, district, city = chain(client, tag)
    sub = subscribe(client, rx, btype, join="inline")  # joinLevel 1 by default
    body = {"id": building, "type": btype, "locatedAt": rel(district)}
    assert client.post(f"{HUB}/entities", json=body).status_code == 201
    (note,) = notes(rx, sub, 1)
    (only,) = note["data"]
    linked = only["locatedAt"]["entity"]
    assert linked["id"] == district
    assert linked["partOf"] == {"type": "Relationship", "object": city}  # level 1: no deeper
    assert "entity" not in linked["partOf"]


def test_linked_entities_written_in_the_same_batch_are_seen(
    client: TestClient, rx: Receiver
) -> None:
    """The notification is built in the writing transaction: a linked entity created in the
    same batch is already there."""
    tag = unique()
    btype = f"Building{tag}"
    sub = subscribe(client, rx, btype, join="flat", format="keyValues")
    owner = f"urn:ngsi-ld:Person:{tag}"
    batch = [
        {"id": owner, "type": "Person", "name": {"type": "Property", "value": "홍길동"}},
        {"id": f"urn:ngsi-ld:Building:{tag}", "type": btype, "owner": rel(owner)},
    ]
    assert client.post(f"{HUB}/entityOperations/create", json=batch).status_code == 201
    (note,) = notes(rx, sub, 1)
    assert note["data"][1] == {"id": owner, "type": "Person", "name": "홍길동"}


def test_a_deletion_is_notified_without_linked_entities(client: TestClient, rx: Receiver) -> None:
    tag = unique()
    btype, building, district, _ = chain(client, tag)
    body = {"id": building, "type": btype, "locatedAt": rel(district)}
    assert client.post(f"{HUB}/entities", json=body).status_code == 201
    sub = subscribe(client, rx, btype, {"notificationTrigger": ["entityDeleted"]}, join="flat")
    assert client.delete(f"{HUB}/entities/{building}").status_code == 204
    (note,) = notes(rx, sub, 1)
    assert [e["id"] for e in note["data"]] == [building]
    assert "deletedAt" in note["data"][0]


@pytest.mark.parametrize(
    ("notification", "says"),
    [
        ({"join": "deep"}, "notification.join must be inline, flat or @none"),
        ({"join": "flat", "joinLevel": 0}, "notification.joinLevel must be a positive integer"),
        ({"join": "flat", "joinLevel": "two"}, "notification.joinLevel"),
        ({"joinLevel": 2}, "notification.joinLevel needs notification.join"),
    ],
)
def test_bad_join_parameters_are_refused_in_both_languages(
    client: TestClient, rx: Receiver, notification: dict[str, Any], says: str
) -> None:
    body = {
        "type": "Subscription",
        "entities": [{"type": "Building"}],
        "notification": {"endpoint": {"uri": rx.url}, **notification},
    }
    r = client.post(f"{HUB}/subscriptions", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["type"] == ERR + "BadRequestData"
    assert says in r.json()["detail"]
    assert "notification.join" in r.json()["detail"].split(" / ", 1)[1]


def test_join_none_is_no_join(client: TestClient, rx: Receiver) -> None:
    tag = unique()
    btype, building, district, _ = chain(client, tag)
    sub = subscribe(client, rx, btype, join="@none")
    body = {"id": building, "type": btype, "locatedAt": rel(district)}
    assert client.post(f"{HUB}/entities", json=body).status_code == 201
    (note,) = notes(rx, sub, 1)
    assert [e["id"] for e in note["data"]] == [building]
    assert "join" not in client.get(f"{HUB}/subscriptions/{sub}").json()["notification"]


def test_periodic_notifications_join_too(client: TestClient, rx: Receiver) -> None:
    tag = unique()
    btype, building, district, city = chain(client, tag)
    body = {"id": building, "type": btype, "locatedAt": rel(district)}
    assert client.post(f"{HUB}/entities", json=body).status_code == 201
    sub = subscribe(client, rx, btype, {"timeInterval": 0.5}, join="flat", joinLevel=2)
    got = notes(rx, sub, 1, timeout=6)
    assert got, "no periodic notification"
    assert [e["id"] for e in got[0]["data"]] == [building, district, city]
    assert client.delete(f"{HUB}/subscriptions/{sub}").status_code == 204
