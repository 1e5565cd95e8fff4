"""A batch of new entities through the object-free lane (``batch.run_batch_lane``) over HTTP:
the hub must store, answer, record in the temporal history and notify exactly as the
Python path does, and must leave to the Python path every request the lane declines (an
entity that exists, a body with @context, another shape, bad JSON), with the usual answer.

Each test writes the same entities twice: through the lane (``application/json``) on one
tenant and through the Python path (``application/ld+json``, which the lane never takes)
on another, and compares what the hub then returns. Both backends; on PostgreSQL the lane
is never taken (it has no ``prepare_lane``) and the two paths must agree as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cityos.config import Settings
from cityos.hub.api import batch as api_batch
from cityos.hub.batch import BatchResult
from tests.hub.subscriptions.receiver import Receiver
from tests.hub.test_native_expand import _sensor

HUB = "/ngsi-ld/v1"
CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
JSON = {"Content-Type": "application/json"}
ERR = "https://uri.etsi.org/ngsi-ld/errors/"


@pytest.fixture
def laned(monkeypatch: pytest.MonkeyPatch) -> list[BatchResult | None]:
    """What each run_batch_lane call answered (None: declined), in order."""
    answers: list[BatchResult | None] = []
    real = api_batch.run_batch_lane

    def spy(*args: Any, **kwargs: Any) -> BatchResult | None:
        answers.append(found := real(*args, **kwargs))
        return found

    spy.__name__ = real.__name__  # blocking() runs it off the event loop by this name
    monkeypatch.setattr(api_batch, "run_batch_lane", spy)
    return answers


def now_sensors(start: int, count: int) -> list[dict[str, Any]]:
    """Sensors read a minute ago (a change row spans at most an hour: see test_native_lane)."""
    from datetime import UTC, datetime, timedelta

    observed = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    found = []
    for i in range(start, start + count):
        body = _sensor(i)
        body["pm10"]["observedAt"] = observed
        body["seen"]["observedAt"] = observed
        found.append(body)
    return found


def write_both(client: TestClient, tenant: str, entities: list[dict[str, Any]]) -> None:
    """Upsert ``entities`` on ``tenant``-lane as application/json and on ``tenant``-py as
    application/ld+json (the Python path); both must answer 201 with the ids."""
    ids = [e["id"] for e in entities]
    r = client.post(
        f"{HUB}/entityOperations/upsert",
        content=orjson.dumps(entities),
        headers={**JSON, "NGSILD-Tenant": f"{tenant}-lane"},
    )
    assert (r.status_code, r.json()) == (201, ids)
    ld = [{**e, "@context": CORE} for e in entities]
    r = client.post(
        f"{HUB}/entityOperations/upsert",
        content=orjson.dumps(ld),
        headers={"Content-Type": "application/ld+json", "NGSILD-Tenant": f"{tenant}-py"},
    )
    assert (r.status_code, r.json()) == (201, ids)


# what differs between two tenants' copies: the times of the writes and history row keys
VARYING = ("createdAt", "modifiedAt", "instanceId")


def without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_times(v) for k, v in value.items() if k not in VARYING}
    if isinstance(value, list):
        return [without_times(v) for v in value]
    return value


def read(client: TestClient, tenant: str, path: str) -> Any:
    r = client.get(f"{HUB}{path}", headers={"NGSILD-Tenant": tenant})
    assert r.status_code == 200, r.text
    return r.json()


def test_new_sensors_take_the_lane_and_read_back_as_the_python_paths(
    client: TestClient, settings: Settings, laned: list[BatchResult | None]
) -> None:
    entities = now_sensors(0, 30)
    write_both(client, "lane-a", entities)
    assert len(laned) == 1
    assert (laned[0] is not None) == settings.database_url.startswith("sqlite")
    for entity in entities[:3]:
        path = f"/entities/{entity['id']}?options=sysAttrs"
        lane = read(client, "lane-a-lane", path)
        python = read(client, "lane-a-py", path)
        assert without_times(lane) == without_times(python)
        assert lane["createdAt"] == lane["modifiedAt"]
    query = "/entities?type=AirQualityObserved&q=pm10>10&georel=near;maxDistance==2000"
    query += "&geometry=Point&coordinates=[127.2,36.5]&count=true&limit=5"
    assert read(client, "lane-a-lane", query) == read(client, "lane-a-py", query)
    assert read(client, "lane-a-lane", "/types?details=true") == read(
        client, "lane-a-py", "/types?details=true"
    )


def test_the_history_of_lane_entities_is_the_python_paths(
    client: TestClient, laned: list[BatchResult | None]
) -> None:
    entities = now_sensors(100, 5)
    write_both(client, "lane-h", entities)
    for entity in entities:
        path = f"/temporal/entities/{entity['id']}"
        lane = read(client, "lane-h-lane", path)
        python = read(client, "lane-h-py", path)
        assert without_times(lane) == without_times(python)
        assert lane["pm10"]  # the history holds the reading


def test_an_existing_entity_declines_to_the_python_path(
    client: TestClient, laned: list[BatchResult | None]
) -> None:
    entities = now_sensors(200, 3)
    write_both(client, "lane-e", entities)
    changed = [{**e, "no2": {"type": "Property", "value": 0.5}} for e in entities]
    r = client.post(
        f"{HUB}/entityOperations/upsert",
        content=orjson.dumps(changed),
        headers={**JSON, "NGSILD-Tenant": "lane-e-lane"},
    )
    assert r.status_code == 204, r.text
    assert laned[-1] is None
    got = read(client, "lane-e-lane", f"/entities/{entities[0]['id']}")
    assert got["no2"]["value"] == 0.5
    r = client.post(
        f"{HUB}/entityOperations/create",
        content=orjson.dumps(entities[:1]),
        headers={**JSON, "NGSILD-Tenant": "lane-e-lane"},
    )
    assert r.status_code == 207
    assert r.json()["errors"][0]["error"]["type"] == ERR + "AlreadyExists"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"[{", 400, "InvalidRequest"),
        (b"[]", 400, "BadRequestData"),
        (b"[null]", 400, "BadRequestData"),
        (b'[{"id": "not a uri", "type": "T"}]', 207, "BadRequestData"),
        (b'[{"id": "urn:x:1", "type": "T", "@context": []}]', 207, "BadRequestData"),
    ],
)
def test_bad_bodies_get_the_usual_errors(
    client: TestClient,
    laned: list[BatchResult | None],
    body: bytes,
    status: int,
    error: str,
) -> None:
    r = client.post(
        f"{HUB}/entityOperations/upsert", content=body, headers={**JSON, "NGSILD-Tenant": "lane-x"}
    )
    assert r.status_code == status, r.text
    found = r.json()
    problem = found["errors"][0]["error"] if status == 207 else found
    assert problem["type"] == ERR + error
    assert all(answer is None for answer in laned)


@pytest.fixture(scope="module")
def rx() -> Iterator[Receiver]:
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def test_a_subscription_is_notified_with_the_whole_entity(
    client: TestClient, settings: Settings, rx: Receiver, laned: list[BatchResult | None]
) -> None:
    tenant = {"NGSILD-Tenant": "lane-s"}
    r = client.post(
        f"{HUB}/subscriptions",
        json={
            "type": "Subscription",
            "entities": [{"type": "AirQualityObserved"}],
            "notification": {"endpoint": {"uri": rx.url}},
        },
        headers=tenant,
    )
    assert r.status_code == 201, r.text
    entity = now_sensors(300, 1)[0]
    r = client.post(
        f"{HUB}/entityOperations/upsert", content=orjson.dumps([entity]), headers={**JSON, **tenant}
    )
    assert r.status_code == 201
    assert (laned[-1] is not None) == settings.database_url.startswith("sqlite")
    (note,) = rx.wait_for(1)
    (sent,) = note["data"]
    assert sent["id"] == entity["id"]
    assert sent["pm10"]["value"] == 12.5
    assert sent["location"]["value"] == entity["location"]["value"]
    assert sent["refDevice"]["object"] == entity["refDevice"]["object"]


@pytest.mark.backend("sqlite")
def test_an_entity_made_while_the_lane_prepared_leaves_the_batch_to_python(
    client: TestClient, laned: list[BatchResult | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer creates one of the batch's entities after the lane looked (before the
    writers' lock): the insert fails on the (tenant, id) key, rolls back whole, and the
    Python path upserts the batch (that entity replaced, the others created)."""
    store = client.app.state.store  # type: ignore[attr-defined]
    entities = now_sensors(400, 3)
    tenant = {"NGSILD-Tenant": "lane-r"}
    real = store.any_exists
    raced: list[bool] = []

    def racing(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        if not raced:  # the lane's look-up, not the Python path's after the rollback
            raced.append(True)
            early = {**entities[1], "no2": {"type": "Property", "value": 9}}
            r = client.post(f"{HUB}/entities", json=early, headers=tenant)  # the other writer
            assert r.status_code == 201, r.text
        return found

    monkeypatch.setattr(store, "any_exists", racing)
    r = client.post(
        f"{HUB}/entityOperations/upsert", content=orjson.dumps(entities), headers={**JSON, **tenant}
    )
    assert r.status_code == 201, r.text
    assert r.json() == [entities[0]["id"], entities[2]["id"]]  # created; the other replaced
    assert laned[-1] is None
    got = read(client, "lane-r", f"/entities/{entities[1]['id']}")
    assert got["no2"]["value"] == 0.04  # replaced by the batch's version
    r = client.get(f"{HUB}/entities?type=AirQualityObserved&count=true&limit=0", headers=tenant)
    assert r.headers["NGSILD-Results-Count"] == "3"
