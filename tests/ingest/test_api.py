"""Device provisioning, HTTP ingestion, group commit and dead letters, on both backends."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityos.config import Settings
from cityos.identity import engine_for
from cityos.ingest.deadletters import DeadLetter, record
from cityos.ingest.errors import Refused
from cityos.ingest.models import micros_now
from cityos.ingest.writer import Message, Outcome
from cityos.jobs import JobContext, find
from tests.conftest import make_callers
from tests.ingest.conftest import LINK, PM25, device_body, history_count, history_values, provision

TENANT = "urn:ngsi-ld:tenant:ingest-test"


@pytest.fixture(scope="module")
def callers(client: TestClient, settings: Settings) -> dict[str, dict[str, str]]:
    """Return request headers of one caller per role."""
    return make_callers(client, settings, tenant=TENANT)


@pytest.fixture(scope="module")
def admin(callers: dict[str, dict[str, str]]) -> dict[str, str]:
    """Return the admin's headers."""
    return callers["admin"]


def _send(client: TestClient, device: dict[str, Any], body: bytes | str, ctype: str) -> Any:
    return client.post(
        "/ingest/v1/measurements",
        params={"k": device["apikey"], "i": device["device_id"]},
        content=body,
        headers={"Content-Type": ctype},
    )


def test_provisioning_shows_the_key_once_and_lists_without_it(
    client: TestClient, admin: dict[str, str]
) -> None:
    made = provision(client, admin)
    assert len(made["apikey"]) == 32
    assert made["mqtt_topic"] == f"cityos/{made['apikey']}/{made['device_id']}/attrs"
    assert made["entity_id"] == f"urn:ngsi-ld:AirQualityObserved:{made['device_id']}"
    assert made["attributes"]["pm25"] == {"name": "pm25", "type": "Number", "unitCode": "GQ"}
    one = client.get(f"/ingest/v1/devices/{made['device_id']}", headers=admin)
    assert one.status_code == 200
    assert "apikey" not in one.json()
    assert one.json()["apikey_prefix"] == made["apikey"][:6]
    listed = client.get("/ingest/v1/devices", headers=admin).json()
    assert made["device_id"] in [d["device_id"] for d in listed]
    assert all("apikey" not in d for d in listed)
    again = client.post("/ingest/v1/devices", json=device_body(made["device_id"]), headers=admin)
    assert again.status_code == 409
    assert again.json()["detail_ko"]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"entity_type": "AirQualityObservd"}, "did you mean AirQualityObserved"),
        ({"attributes": {"p": {"name": "pm2.5"}}}, "not in the AirQualityObserved model"),
        ({"attributes": {"p": {"name": "pm25", "type": "Text"}}}, "does not fit"),
        ({"attributes": {"p": {"name": "airQualityLevel", "type": "Number"}}}, "does not fit"),
        (
            {"attributes": {"a": {"name": "pm25"}, "b": {"name": "pm25"}}},
            "both map to attribute 'pm25'",
        ),
        ({"static_attributes": {"colour": "red"}}, "static attribute 'colour'"),
        ({"static_attributes": {"pm25": 3}}, "both static and measured"),
        (
            {"static_attributes": {"location": {"type": "Point", "coordinates": [500, 1]}}},
            "would not be valid NGSI-LD",
        ),
        ({"entity_id": "not a uri"}, "would not be valid NGSI-LD"),
    ],
)
def test_provisioning_refuses_what_the_model_does_not_allow(
    client: TestClient, admin: dict[str, str], changes: dict[str, Any], words: str
) -> None:
    r = client.post("/ingest/v1/devices", json=device_body(**changes), headers=admin)
    assert r.status_code == 422, r.text
    assert words in r.json()["detail"]
    assert r.json()["detail_ko"]


@pytest.mark.parametrize(
    "changes",
    [
        {"device_id": "a/b"},  # would break the MQTT topic
        {"device_id": "+"},
        {"transport": "coap"},
        {"attributes": {}},
        {"attributes": {"p": {"name": "pm25", "type": "Float"}}},
        {"colour": "red"},
    ],
)
def test_provisioning_refuses_malformed_bodies(
    client: TestClient, admin: dict[str, str], changes: dict[str, Any]
) -> None:
    r = client.post("/ingest/v1/devices", json=device_body(**changes), headers=admin)
    assert r.status_code == 422, r.text
    assert r.json()["detail_ko"]


@pytest.mark.parametrize("role", ["anonymous", "citizen", "developer", "device key"])
def test_only_operators_and_admins_provision(
    client: TestClient, callers: dict[str, dict[str, str]], role: str
) -> None:
    expected = 401 if role == "anonymous" else 403
    for method, url in (
        ("POST", "/ingest/v1/devices"),
        ("GET", "/ingest/v1/devices"),
        ("GET", "/ingest/v1/deadletters"),
    ):
        r = client.request(method, url, json=device_body(), headers=callers[role])
        assert r.status_code == expected, (method, url, r.text)
    r = client.post("/ingest/v1/devices", json=device_body(), headers=callers["operator"])
    assert r.status_code == 201


def test_ultralight_and_json_become_attributes_with_observed_at(
    client: TestClient, admin: dict[str, str], settings: Settings
) -> None:
    device = provision(client, admin, tenant=TENANT)
    r = _send(client, device, "t|21.3|pm25|17|lvl|good", "text/plain")
    assert r.status_code == 200, r.text
    assert r.json() == {"measurements": 3}
    entity = client.get(
        f"/ngsi-ld/v1/entities/{device['entity_id']}",
        headers=admin | LINK | {"NGSILD-Tenant": TENANT},
    ).json()
    assert entity["type"] == "AirQualityObserved"
    assert entity["pm25"]["value"] == 17
    assert entity["pm25"]["unitCode"] == "GQ"
    assert entity["pm25"]["observedAt"].endswith("Z")
    assert entity["temperature"]["value"] == 21.3
    assert entity["airQualityLevel"]["value"] == "good"
    assert entity["areaServed"]["value"] == "한솔동"
    assert entity["location"]["value"]["coordinates"] == [127.257, 36.48]
    r = _send(
        client,
        device,
        b'{"pm25": 30, "TimeInstant": "2099-01-01T09:00:00+09:00"}',
        "application/json; charset=utf-8",
    )
    assert r.status_code == 200, r.text
    entity = client.get(
        f"/ngsi-ld/v1/entities/{device['entity_id']}",
        headers=admin | LINK | {"NGSILD-Tenant": TENANT},
    ).json()
    assert entity["pm25"]["value"] == 30
    assert entity["pm25"]["observedAt"] == "2099-01-01T00:00:00.000000Z"
    assert history_values(settings, device["entity_id"], PM25) == [17, 30]


def test_every_reading_reaches_the_history_and_the_latest_is_current(
    client: TestClient, admin: dict[str, str], settings: Settings
) -> None:
    device = provision(client, admin)
    # One message, four readings of pm25 out of time order: one write, four instances.
    body = (
        "2026-11-25T00:00:02Z|pm25|2#2026-11-25T00:00:04Z|pm25|4#"
        "2026-11-25T00:00:01Z|pm25|1#2026-11-25T00:00:03Z|pm25|3"
    )
    assert _send(client, device, body, "text/plain").status_code == 200
    current = client.get(f"/ngsi-ld/v1/entities/{device['entity_id']}", headers=LINK).json()
    assert current["pm25"]["value"] == 4
    assert current["pm25"]["observedAt"] == "2026-11-25T00:00:04.000000Z"
    # An older reading later only joins the history.
    assert _send(client, device, "2026-11-24T00:00:00Z|pm25|0", "text/plain").status_code == 200
    current = client.get(f"/ngsi-ld/v1/entities/{device['entity_id']}", headers=LINK).json()
    assert current["pm25"]["value"] == 4
    assert history_values(settings, device["entity_id"], PM25) == [0, 1, 2, 3, 4]


def test_group_commit_keeps_every_message_of_a_batch(
    client: TestClient, admin: dict[str, str], settings: Settings
) -> None:
    """Messages queued together are written in one transaction; none is lost or merged away."""
    device = provision(client, admin)
    ingester = client.app.state.ingest.ingester  # type: ignore[attr-defined]
    outcomes: list[Outcome] = []
    done = threading.Event()
    total = 300

    def collect(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if len(outcomes) == total:
            done.set()

    for n in range(total):
        payload = f"2026-11-25T01:{n // 60:02d}:{n % 60:02d}Z|pm25|{n}".encode()
        if n == 150:
            payload = b"pm25|not-a-number"
        ingester.submit(
            Message("http", device["device_id"], device["apikey"], payload, micros_now(), collect)
        )
    assert done.wait(30)
    refused = [o for o in outcomes if isinstance(o, Refused)]
    assert [r.reason for r in refused] == ["value_mismatch"]
    assert outcomes.count(1) == total - 1
    assert history_count(settings, device["entity_id"], PM25) == total - 1
    current = client.get(f"/ngsi-ld/v1/entities/{device['entity_id']}", headers=LINK).json()
    assert current["pm25"]["value"] == total - 1


@pytest.mark.parametrize(
    ("which", "body", "ctype", "status", "reason"),
    [
        ("wrong key", "pm25|1", "text/plain", 401, "wrong_apikey"),
        ("unknown device", "pm25|1", "text/plain", 401, "unknown_device"),
        ("ok", "pm25|1", "application/xml", 400, "malformed_payload"),
        ("ok", "pm25|", "text/plain", 400, "malformed_payload"),
        ("ok", b'{"pm25": ', "application/json", 400, "malformed_payload"),
        ("ok", "pm10|1", "text/plain", 422, "unknown_attribute"),
        ("ok", "pm25|1|lvl|", "text/plain", 400, "malformed_payload"),
        ("ok", '{"pm25": "high"}', "application/json", 422, "value_mismatch"),
        ("ok", '{"lvl": 3}', "application/json", 422, "value_mismatch"),
        ("ok", "2026-13-01T00:00:00Z|pm25|1", "text/plain", 422, "bad_timestamp"),
        ("ok", b"pm25|1" * 50_000, "text/plain", 413, "payload_too_large"),
        ("mqtt device", "pm25|1", "text/plain", 403, "wrong_transport"),
    ],
)
def test_refused_messages_become_dead_letters(
    client: TestClient,
    admin: dict[str, str],
    settings: Settings,
    which: str,
    body: str | bytes,
    ctype: str,
    status: int,
    reason: str,
) -> None:
    device = provision(client, admin, transport="mqtt" if which == "mqtt device" else "http")
    params = {"k": device["apikey"], "i": device["device_id"]}
    if which == "wrong key":
        params["k"] = "x" * 32
    elif which == "unknown device":
        params["i"] = f"nobody-{uuid.uuid4().hex[:6]}"
    before = _dead_letter_count(client, reason)
    r = client.post(
        "/ingest/v1/measurements", params=params, content=body, headers={"Content-Type": ctype}
    )
    assert r.status_code == status, r.text
    assert r.json()["error"] == reason
    assert r.json()["detail"]
    assert r.json()["detail_ko"]
    letters = client.get(
        "/ingest/v1/deadletters", params={"reason": reason, "device_id": params["i"]}, headers=admin
    ).json()
    assert letters, reason
    newest = letters[0]
    raw = body.encode() if isinstance(body, str) else body
    assert newest["payload"] == raw[:256].decode()
    assert newest["payload_size"] == len(raw)
    assert newest["transport"] == "http"
    assert newest["detail"] == r.json()["detail"]
    assert device["apikey"] not in str(letters)  # a dead letter never keeps a key
    assert _dead_letter_count(client, reason) == before + 1
    # Nothing was written for the refused message.
    assert history_count(settings, device["entity_id"], PM25) == 0


def _dead_letter_count(client: TestClient, reason: str) -> float:
    """Return the /metrics counter of dead letters for ``reason`` (0 before the first)."""
    text = client.get("/metrics").text
    line = f'cityos_ingest_dead_letters_total{{reason="{reason}"}} '
    found = [row for row in text.splitlines() if row.startswith(line)]
    return float(found[0].removeprefix(line)) if found else 0.0


def test_dead_letters_page_newest_first(client: TestClient, admin: dict[str, str]) -> None:
    for n in range(3):
        client.post(
            "/ingest/v1/measurements",
            params={"k": "k", "i": f"page-{n}"},
            content=b"pm25|1",
            headers={"Content-Type": "text/plain"},
        )
    first = client.get("/ingest/v1/deadletters", params={"limit": 2}, headers=admin).json()
    assert [d["device_id"] for d in first] == ["page-2", "page-1"]
    rest = client.get(
        "/ingest/v1/deadletters", params={"limit": 1, "before": first[-1]["id"]}, headers=admin
    ).json()
    assert [d["device_id"] for d in rest] == ["page-0"]


def test_deleting_a_device_stops_its_measurements(
    client: TestClient, admin: dict[str, str]
) -> None:
    device = provision(client, admin)
    assert _send(client, device, "pm25|1", "text/plain").status_code == 200
    r = client.delete(f"/ingest/v1/devices/{device['device_id']}", headers=admin)
    assert r.status_code == 204
    assert client.get(f"/ingest/v1/devices/{device['device_id']}", headers=admin).status_code == 404
    r = client.delete(f"/ingest/v1/devices/{device['device_id']}", headers=admin)
    assert r.status_code == 404
    assert r.json()["detail_ko"]
    r = _send(client, device, "pm25|2", "text/plain")
    assert r.status_code == 401
    assert r.json()["error"] == "unknown_device"
    # The entity and its history stay in the hub.
    current = client.get(f"/ngsi-ld/v1/entities/{device['entity_id']}", headers=LINK).json()
    assert current["pm25"]["value"] == 1


def test_the_retention_job_purges_old_dead_letters(
    client: TestClient, admin: dict[str, str], settings: Settings
) -> None:
    """``dead_letter_retention`` deletes letters older than the configured period only."""
    state = client.app.state  # type: ignore[attr-defined]
    engine = engine_for(client.app)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    device = f"old-{uuid.uuid4().hex[:6]}"
    ages = (45, 31, 10, 0)  # [d]

    def letter(age: int) -> DeadLetter:
        received = int((now - timedelta(days=age, minutes=1)).timestamp() * 1_000_000)
        return DeadLetter(received, "http", "bad_payload", f"{age} days", device, None, b"x")

    with engine.begin() as connection:
        record(connection, letters=[letter(age) for age in ages])

    def kept() -> list[str]:
        params = {"device_id": device, "limit": 100}
        r = client.get("/ingest/v1/deadletters", params=params, headers=admin)
        assert r.status_code == 200, r.text
        return sorted(x["detail"] for x in r.json())

    job = find("dead_letter_retention")
    assert settings.ingest_dead_letter_retention_days == 30  # the default
    assert job.run(JobContext(settings, engine, state, now)) >= 2
    assert kept() == ["0 days", "10 days"]
    weekly = settings.model_copy(update={"ingest_dead_letter_retention_days": 7})
    assert job.run(JobContext(weekly, engine, state, now)) >= 1
    assert kept() == ["0 days"]
    assert job.run(JobContext(weekly, engine, state, now)) == 0  # idempotent
