"""NGSI-LD subscriptions cannot be aimed at the server's own or internal network (SSRF):
400 at create and PATCH, and the endpoint is checked again, resolved, before sending."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityos.security.outbound import OutboundPolicy
from tests.hub.subscriptions.receiver import Receiver

HUB = "/ngsi-ld/v1"


def body(uri: str, etype: str = "Thing", **members: Any) -> dict[str, Any]:
    return {
        "type": "Subscription",
        "entities": [{"type": etype}],
        "notification": {"endpoint": {"uri": uri}},
        **members,
    }


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.7:1026/notify", "private"),
        ("https://[fd00::1]/notify", "private"),
        ("http://0.0.0.0:8000/notify", "unspecified"),
        ("http://127.1:8000/notify", None),  # loopback: allowed in test mode, see below
        ("mqtt://192.168.1.2:1883/topic", "private"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("https://user:secret@example.org/notify", "password"),
    ],
)
def test_an_endpoint_on_an_internal_address_is_refused(
    client: TestClient, uri: str, says: str | None
) -> None:
    r = client.post(f"{HUB}/subscriptions", json=body(uri))
    if says is None:
        assert r.status_code == 201, r.text
        client.delete(r.headers["location"])
        return
    assert r.status_code == 400, r.text
    assert r.json()["type"].endswith("BadRequestData")
    detail = r.json()["detail"]
    assert says in detail
    assert " / " in detail


def test_patch_to_an_internal_address_and_reserved_ids_are_refused(
    client: TestClient, rx: Receiver
) -> None:
    r = client.post(f"{HUB}/subscriptions", json=body(rx.url))
    assert r.status_code == 201, r.text
    where = r.headers["location"]
    patch = {"notification": {"endpoint": {"uri": "http://172.20.0.1/notify"}}}
    r = client.patch(where, json=patch)
    assert r.status_code == 400, r.text
    assert "private" in r.json()["detail"]
    assert client.get(where).json()["notification"]["endpoint"]["uri"] == rx.url  # unchanged
    client.delete(where)
    reserved = body(rx.url, id="urn:ngsi-ld:Subscription:cityos-web-live:x:y")
    r = client.post(f"{HUB}/subscriptions", json=reserved)
    assert r.status_code == 400, r.text
    assert "CityOS" in r.json()["detail"]


def test_loopback_is_refused_where_the_allow_list_does_not_name_it(client: TestClient) -> None:
    app: Any = client.app
    test_mode = app.state.settings
    app.state.settings = test_mode.model_copy(update={"outbound_allow": []})
    try:
        r = client.post(f"{HUB}/subscriptions", json=body("http://127.0.0.1:9/notify"))
        assert r.status_code == 400, r.text
        assert "loopback" in r.json()["detail"]
    finally:
        app.state.settings = test_mode


def _status(client: TestClient, where: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        note: dict[str, Any] = client.get(where).json()["notification"]
        if note.get("timesFailed", 0) > 0 or time.monotonic() > deadline:
            return note
        time.sleep(0.1)


def test_sending_checks_the_endpoint_again(client: TestClient, rx: Receiver) -> None:
    """Registered while allowed, then refused at sending (as after a DNS re-binding or a
    stricter allow-list): nothing reaches the receiver, the failure is recorded, and the
    notification waits in the outbox until the endpoint is allowed again."""
    app: Any = client.app
    dispatcher = app.state.notifications
    etype = f"T{uuid.uuid4().hex[:8]}"
    r = client.post(f"{HUB}/subscriptions", json=body(rx.url, etype))
    assert r.status_code == 201, r.text
    where, sub_id = r.headers["location"], r.headers["location"].rsplit("/", 1)[1]
    allowed = dispatcher.outbound
    dispatcher.outbound = OutboundPolicy()  # production's default: loopback refused
    try:
        entity = {"id": f"urn:ngsi-ld:{etype}:1", "type": etype,
                  "n": {"type": "Property", "value": 1}}  # fmt: skip
        assert client.post(f"{HUB}/entities", json=entity).status_code == 201
        note = _status(client, where)
        assert note["timesFailed"] >= 1, note
        assert note["status"] == "failed"
        assert note["lastErrorReason"].startswith("refused: ")
        assert "loopback" in note["lastErrorReason"]
        assert " / 거부됨: " in note["lastErrorReason"]  # and why, in Korean
        assert not [n for n in rx.received if n["subscriptionId"] == sub_id]
    finally:
        dispatcher.outbound = allowed
    dispatcher.wake()
    deadline = time.monotonic() + 10.0
    while not [n for n in rx.received if n["subscriptionId"] == sub_id]:
        assert time.monotonic() < deadline, "the queued notification never arrived"
        time.sleep(0.1)
    client.delete(where)
