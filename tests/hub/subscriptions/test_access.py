"""Who may subscribe to what, and who sees whose subscriptions (authentication on)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityos.config import Settings
from tests.conftest import make_callers
from tests.hub.subscriptions.receiver import Receiver

HUB_AUTH = "on"
HUB = "/ngsi-ld/v1"
TENANT = "urn:ngsi-ld:tenant:subs-access"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"


@pytest.fixture(scope="module")
def callers(client: TestClient, settings: Settings) -> dict[str, dict[str, str]]:
    made = make_callers(
        client,
        settings,
        tenant=TENANT,
        developer_scopes=f"tenants={TENANT};types=Vehicle;actions=read",
    )
    return {role: {**h, "NGSILD-Tenant": TENANT} for role, h in made.items()}


@pytest.fixture(scope="module")
def rx(settings: Settings) -> Iterator[Receiver]:
    """Return a receiver of this backend's notifications."""
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def body(url: str, **members: Any) -> dict[str, Any]:
    return {
        "type": "Subscription",
        "entities": [{"type": "Vehicle"}],
        "notification": {"endpoint": {"uri": url}},
        **members,
    }


def test_a_limited_scope_subscribes_only_to_its_types(
    client: TestClient, callers: dict[str, dict[str, str]], rx: Receiver
) -> None:
    key = callers["developer key"]
    r = client.post(
        f"{HUB}/subscriptions", json=body(rx.url, entities=[{"type": "Bus"}]), headers=key
    )
    assert r.status_code == 403
    assert r.json()["type"] == ERR + "Forbidden"
    watch_only = {"type": "Subscription", "watchedAttributes": ["speed"]}
    watch_only["notification"] = {"endpoint": {"uri": rx.url}}
    r = client.post(f"{HUB}/subscriptions", json=watch_only, headers=key)
    assert r.status_code == 403
    r = client.post(f"{HUB}/subscriptions", json=body(rx.url), headers=key)
    assert r.status_code == 201, r.text
    sub_id = r.headers["location"].rsplit("/", 1)[1]
    # the key cannot widen its subscription afterwards
    r = client.patch(
        f"{HUB}/subscriptions/{sub_id}",
        json={"entities": [{"type": "Vehicle"}, {"type": "Bus"}]},
        headers=key,
    )
    assert r.status_code == 403
    entity = {
        "id": "urn:ngsi-ld:Vehicle:a1",
        "type": "Vehicle",
        "speed": {"type": "Property", "value": 3},
    }
    r = client.post(f"{HUB}/entities", json=entity, headers=callers["admin"])
    assert r.status_code == 201, r.text
    got = rx.wait_for(1)
    assert [n["subscriptionId"] for n in got] == [sub_id]


def test_callers_see_only_their_own_subscriptions(
    client: TestClient, callers: dict[str, dict[str, str]], rx: Receiver
) -> None:
    r = client.post(f"{HUB}/subscriptions", json=body(rx.url), headers=callers["operator"])
    assert r.status_code == 201, r.text
    mine = r.headers["location"].rsplit("/", 1)[1]
    key = callers["developer key"]
    assert mine not in [s["id"] for s in client.get(f"{HUB}/subscriptions", headers=key).json()]
    assert client.get(f"{HUB}/subscriptions/{mine}", headers=key).status_code == 404
    assert client.delete(f"{HUB}/subscriptions/{mine}", headers=key).status_code == 404
    listed = client.get(f"{HUB}/subscriptions", headers=callers["admin"]).json()
    assert mine in [s["id"] for s in listed]
    own = client.get(f"{HUB}/subscriptions", headers=callers["operator"]).json()
    assert [s["id"] for s in own] == [mine]
    assert (
        client.delete(f"{HUB}/subscriptions/{mine}", headers=callers["operator"]).status_code == 204
    )


def test_anonymous_callers_cannot_subscribe_even_to_open_data(
    client: TestClient, rx: Receiver
) -> None:
    r = client.post(f"{HUB}/subscriptions", json=body(rx.url))  # the open-data tenant
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_joined_entities_are_only_those_the_owner_may_read(
    client: TestClient, callers: dict[str, dict[str, str]], rx: Receiver
) -> None:
    """A Vehicle-only key's subscription with join=flat gets the linked Vehicle, never the
    linked Bus it could not read itself (nor anything of another tenant)."""
    key = callers["developer key"]
    member = {"join": "flat", "endpoint": {"uri": rx.url}}
    sub = {"type": "Subscription", "entities": [{"type": "Vehicle"}], "notification": member}
    r = client.post(f"{HUB}/subscriptions", json=sub, headers=key)
    assert r.status_code == 201, r.text
    sub_id = r.headers["location"].rsplit("/", 1)[1]
    admin = callers["admin"]
    linked = [
        {"id": "urn:ngsi-ld:Bus:j1", "type": "Bus"},
        {"id": "urn:ngsi-ld:Vehicle:j2", "type": "Vehicle"},
    ]
    assert (
        client.post(f"{HUB}/entityOperations/create", json=linked, headers=admin).status_code == 201
    )
    car = {
        "id": "urn:ngsi-ld:Vehicle:j1",
        "type": "Vehicle",
        "towedBy": {"type": "Relationship", "object": "urn:ngsi-ld:Bus:j1"},
        "follows": {"type": "Relationship", "object": "urn:ngsi-ld:Vehicle:j2"},
    }
    before = len(rx.received)
    assert client.post(f"{HUB}/entities", json=car, headers=admin).status_code == 201
    deadline = time.monotonic() + 10
    mine: list[dict[str, Any]] = []
    while not mine and time.monotonic() < deadline:
        rx.wait_for(before + 1, timeout=0.2)
        mine = [
            n
            for n in rx.received
            if n["subscriptionId"] == sub_id and n["data"][0]["id"] == car["id"]
        ]
    assert mine, "no notification of the Vehicle"
    assert [e["id"] for e in mine[0]["data"]] == [car["id"], "urn:ngsi-ld:Vehicle:j2"]
