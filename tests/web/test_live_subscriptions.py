"""The live feed is fed by hub subscriptions: writes made by another process reach the stream."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import uuid

import httpx
import pytest

from cityos.config import Settings
from cityos.hub.store import open_store
from cityos.hub.subscriptions import repository
from cityos.identity.models import Role
from cityos.web import live as live_module
from cityos.web.layers import ENVIRONMENT, TRANSPORTATION
from cityos.web.live import OWNER, SECRET_HEADER, SUBSCRIPTION_PREFIX
from tests.web.conftest import LiveServer, link, token
from tests.web.test_live import air, sse

HUB_AUTH = "on"
DEFAULT = "urn:ngsi-ld:tenant:default"

WRITER = textwrap.dedent(
    """
    import json, sys
    from cityos.config import Settings
    from cityos.hub import service
    from cityos.hub.context import ContextResolver
    from cityos.hub.store import open_store

    settings = Settings(database_url=sys.argv[1], mode="test")
    store = open_store(settings)
    resolver = ContextResolver(settings)
    ctx = resolver.resolve(sys.argv[2])
    body = json.loads(sys.argv[3])
    service.create_entity(store, "urn:ngsi-ld:tenant:default", body, ctx)
    store.close()
    """
)


def test_a_write_by_another_process_reaches_the_stream(server: LiveServer) -> None:
    bus = f"urn:ngsi-ld:Vehicle:other-process-{uuid.uuid4().hex[:6]}"
    body = {
        "id": bus,
        "type": "Vehicle",
        "vehicleType": {"type": "Property", "value": "minibus"},
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [127.27, 36.51]},
        },
    }
    with sse(server) as events:
        # This process subscribed for the stream: the subscription is in the database.
        feed = server.app.state.live
        store = server.app.state.store
        with repository.reading(store) as db:
            rows = [r for r in repository.load_all(db) if r.id == feed.subscription_id(DEFAULT)]
        assert len(rows) == 1
        sub = rows[0]
        assert sub.id.startswith(SUBSCRIPTION_PREFIX)
        assert sub.owner == OWNER
        endpoint = sub.body["notification"]["endpoint"]
        assert endpoint["uri"] == f"{server.url}/web/live/notify"
        assert {"key": SECRET_HEADER, "value": feed.secret} in endpoint["receiverInfo"]
        assert "expiresAt" in sub.body
        # A separate Python process opens its own store on the same database and writes.
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                WRITER,
                server.settings.database_url,
                TRANSPORTATION,
                json.dumps(body),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        event = next(events)
        assert event["id"] == bus
        assert event["layer"] == "vehicles"  # a minibus: the shuttle layer
        assert event["feature"]["geometry"]["coordinates"] == [127.27, 36.51]
        assert event["feature"]["properties"]["vehicleType"] == "minibus"
    admin = token(server, Role.ADMIN)
    r = httpx.delete(server.url + f"/ngsi-ld/v1/entities/{bus}", headers=admin, timeout=30)
    assert r.status_code == 204, r.text


def test_the_notify_route_takes_only_its_own_secret(server: LiveServer) -> None:
    station = f"urn:ngsi-ld:AirQualityObserved:notify-{uuid.uuid4().hex[:6]}"
    with sse(server) as events:
        feed = server.app.state.live
        note = {
            "id": f"urn:ngsi-ld:Notification:{uuid.uuid4()}",
            "type": "Notification",
            "subscriptionId": feed.subscription_id(DEFAULT),
            "notifiedAt": "2026-12-01T05:00:00Z",
            "triggerReason": "entityCreated",
            "data": [
                {
                    "id": station,
                    "type": "https://smartdatamodels.org/dataModel.Environment/AirQualityObserved",
                    "https://smartdatamodels.org/dataModel.Environment/pm25": {
                        "type": "Property",
                        "value": 30,
                    },
                    "location": {
                        "type": "GeoProperty",
                        "value": {"type": "Point", "coordinates": [127.2, 36.5]},
                    },
                }
            ],
        }
        url = server.url + "/web/live/notify"
        r = httpx.post(url, json=note, timeout=10)
        assert r.status_code == 401
        assert SECRET_HEADER in r.json()["detail"]
        r = httpx.post(url, json=note, headers={SECRET_HEADER: "guess"}, timeout=10)
        assert r.status_code == 401
        r = httpx.post(url, content=b"{not json", headers={SECRET_HEADER: feed.secret})
        assert r.status_code == 400
        assert r.json()["detail_ko"]
        # Another process's dispatcher holding the lease delivers over HTTP, with the secret.
        r = httpx.post(url, json=note, headers={SECRET_HEADER: feed.secret}, timeout=10)
        assert r.status_code == 204, r.text
        event = next(events)
        assert event["id"] == station
        assert event["layer"] == "air-quality"
        assert event["feature"]["properties"]["pm25"] == 30  # compacted with the layer context
        note["triggerReason"] = "entityDeleted"
        note["data"] = [{"id": station, "type": note["data"][0]["type"], "deletedAt": "x"}]
        r = httpx.post(url, json=note, headers={SECRET_HEADER: feed.secret}, timeout=10)
        assert r.status_code == 204, r.text
        assert next(events) == {"layer": "air-quality", "id": station, "deleted": True}


def expires_at(store: object, sub_id: str) -> str:
    with repository.reading(store) as db:  # type: ignore[arg-type]
        return str(next(r for r in repository.load_all(db) if r.id == sub_id).body["expiresAt"])


def test_renewed_while_streaming_and_deleted_at_stop(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_module, "RENEW_S", 0.5)  # renew every 0.5 s, checked every 0.1 s
    settings = Settings(database_url=database_url, mode="test", log_level="warning", auth="off")
    with LiveServer(settings) as live:
        with sse(live) as events:
            r = httpx.post(
                live.url + "/ngsi-ld/v1/entities",
                json=air(f"urn:ngsi-ld:AirQualityObserved:stop-{uuid.uuid4().hex[:6]}", 9.0),
                headers=link(ENVIRONMENT),
                timeout=30,
            )
            assert r.status_code == 201, r.text
            created = next(events)["id"]
            sub_id = live.app.state.live.subscription_id(DEFAULT)
            store = live.app.state.store
            first = expires_at(store, sub_id)
            time.sleep(1.5)
            assert expires_at(store, sub_id) > first  # renewed while the browser is connected
        r = httpx.delete(live.url + f"/ngsi-ld/v1/entities/{created}", timeout=30)
        assert r.status_code == 204
    store = open_store(settings)
    try:
        with repository.reading(store) as db:
            left = [r for r in repository.load_all(db) if r.id == sub_id]
        assert left == []
    finally:
        store.close()
