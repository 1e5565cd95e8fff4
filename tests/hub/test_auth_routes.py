"""Walk the route × role table of docs/security.md: every route, every role, both backends."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityos.config import Settings
from tests.conftest import HUB_ROLES, login_headers, make_callers

HUB_AUTH = "on"
DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
TENANT = "urn:ngsi-ld:tenant:route-walk"
HUB = "/ngsi-ld/v1"
VEHICLE = "urn:ngsi-ld:Vehicle:walk"
AREA = "urn:ngsi-ld:AdministrativeArea:walk"
SUB = "urn:ngsi-ld:Subscription:walk"
SPEED = {"type": "Property", "value": 30}
# Routes FastAPI serves outside the OpenAPI document, and which of them the table lists.
UNDOCUMENTED_ROUTES = {("GET", "/docs"), ("GET", "/redoc"), ("GET", "/openapi.json")}


@dataclass(frozen=True)
class Row:
    """One row of the table: a route, its tenant (open or another) and each role's answer."""

    method: str
    path: str
    open_tenant: bool
    expect: dict[str, str]  # role -> "✓", "✗" or "–"

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}{' (open)' if self.open_tenant else ''}"


def table() -> list[Row]:
    """Return the rows of the route × role table in docs/security.md."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| route | tenant |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    assert tuple(header[2:]) == HUB_ROLES, header
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        method, path = re.fullmatch(r"`(\w+) (\S+)`", cells[0]).groups()  # type: ignore[union-attr]
        expect = dict(zip(HUB_ROLES, cells[2:], strict=True))
        rows.append(Row(method, path, cells[1] == "open", expect))
    return rows


ROWS = table()


@pytest.fixture(scope="module")
def callers(client: TestClient, settings: Settings) -> dict[str, dict[str, str]]:
    """Create a caller per role, an entity in the open tenant and a Vehicle in TENANT."""
    made = make_callers(client, settings, tenant=TENANT)
    admin = made["admin"]
    r = client.post(
        f"{HUB}/entities", json={"id": AREA, "type": "AdministrativeArea"}, headers=admin
    )
    assert r.status_code == 201, r.text
    _reset_vehicle(client, admin)
    return made


@pytest.fixture(scope="module")
def context_id(client: TestClient, callers: dict[str, dict[str, str]]) -> str:
    """Store a @context as admin and return its local id."""
    body = {"@context": {"speed": "https://example.org/speed"}}
    r = client.post(f"{HUB}/jsonldContexts", json=body, headers=callers["admin"])
    assert r.status_code == 201, r.text
    return r.headers["location"].rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def ingest_device(client: TestClient, callers: dict[str, dict[str, str]]) -> dict[str, str]:
    """Provision an HTTP device as admin; return its id and key (for the measurement route)."""
    body = {
        "device_id": "walk-device",
        "entity_type": "AirQualityObserved",
        "attributes": {"pm25": {"name": "pm25"}},
        "transport": "http",
    }
    r = client.post("/ingest/v1/devices", json=body, headers=callers["admin"])
    assert r.status_code == 201, r.text
    return {"i": r.json()["device_id"], "k": r.json()["apikey"]}


def _reset_vehicle(client: TestClient, admin: dict[str, str]) -> None:
    r = client.post(
        f"{HUB}/entityOperations/upsert",
        json=[{"id": VEHICLE, "type": "Vehicle", "speed": SPEED}],
        headers=admin | {"NGSILD-Tenant": TENANT},
    )
    assert r.status_code in (201, 204), r.text


def _request(row: Row, context_id: str, device: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """Return the URL and request arguments that exercise ``row``."""
    new = f"urn:ngsi-ld:Vehicle:{uuid.uuid4().hex[:8]}"
    entity = f"{HUB}/entities/{AREA if row.open_tenant else VEHICLE}"
    nobody = "00000000-0000-0000-0000-000000000000"
    temporal = f"{HUB}/temporal/entities/{AREA if row.open_tenant else VEHICLE}"
    reading = [{"type": "Property", "value": 31, "observedAt": "2026-11-25T00:00:00Z"}]
    no_instance = "urn:ngsi-ld:Instance:999999999"
    specs: dict[str, tuple[str, dict[str, Any]]] = {
        "GET /ngsi-ld/v1/entities": (f"{HUB}/entities?type=Vehicle", {}),
        "GET /ngsi-ld/v1/entities/{entity_id}": (entity, {}),
        "GET /ngsi-ld/v1/types": (f"{HUB}/types", {}),
        "GET /ngsi-ld/v1/types/{type_name}": (f"{HUB}/types/Vehicle", {}),
        "GET /ngsi-ld/v1/attributes": (f"{HUB}/attributes", {}),
        "GET /ngsi-ld/v1/attributes/{attr}": (f"{HUB}/attributes/speed", {}),
        "POST /ngsi-ld/v1/entityOperations/query": (
            f"{HUB}/entityOperations/query",
            {"json": {"type": "Query", "entities": [{"type": "Vehicle"}]}},
        ),
        "POST /ngsi-ld/v1/entities": (f"{HUB}/entities", {"json": {"id": new, "type": "Vehicle"}}),
        "PUT /ngsi-ld/v1/entities/{entity_id}": (
            entity,
            {"json": {"type": "Vehicle", "speed": SPEED}},
        ),
        "PATCH /ngsi-ld/v1/entities/{entity_id}": (entity, {"json": {"speed": SPEED}}),
        "DELETE /ngsi-ld/v1/entities/{entity_id}": (entity, {}),
        "POST /ngsi-ld/v1/entities/{entity_id}/attrs": (
            f"{entity}/attrs",
            {"json": {"speed": SPEED}},
        ),
        "PATCH /ngsi-ld/v1/entities/{entity_id}/attrs": (
            f"{entity}/attrs",
            {"json": {"speed": SPEED}},
        ),
        "PATCH /ngsi-ld/v1/entities/{entity_id}/attrs/{attr}": (
            f"{entity}/attrs/speed",
            {"json": {"value": 40}},
        ),
        "PUT /ngsi-ld/v1/entities/{entity_id}/attrs/{attr}": (
            f"{entity}/attrs/speed",
            {"json": SPEED},
        ),
        "DELETE /ngsi-ld/v1/entities/{entity_id}/attrs/{attr}": (f"{entity}/attrs/speed", {}),
        "POST /ngsi-ld/v1/entityOperations/create": (
            f"{HUB}/entityOperations/create",
            {"json": [{"id": new, "type": "Vehicle"}]},
        ),
        "POST /ngsi-ld/v1/entityOperations/upsert": (
            f"{HUB}/entityOperations/upsert",
            {"json": [{"id": VEHICLE, "type": "Vehicle", "speed": SPEED}]},
        ),
        "POST /ngsi-ld/v1/entityOperations/update": (
            f"{HUB}/entityOperations/update",
            {"json": [{"id": VEHICLE, "speed": SPEED}]},
        ),
        "POST /ngsi-ld/v1/entityOperations/delete": (
            f"{HUB}/entityOperations/delete",
            {"json": [VEHICLE]},
        ),
        "POST /ngsi-ld/v1/entityOperations/merge": (
            f"{HUB}/entityOperations/merge",
            {"json": [{"id": VEHICLE, "speed": SPEED}]},
        ),
        "GET /ngsi-ld/v1/temporal/entities": (f"{HUB}/temporal/entities?type=Vehicle", {}),
        "POST /ngsi-ld/v1/temporal/entityOperations/query": (
            f"{HUB}/temporal/entityOperations/query",
            {"json": {"type": "Query", "entities": [{"type": "Vehicle"}]}},
        ),
        "GET /ngsi-ld/v1/temporal/entities/{entity_id}": (temporal, {}),
        "POST /ngsi-ld/v1/temporal/entities": (
            f"{HUB}/temporal/entities",
            {"json": {"id": VEHICLE, "type": "Vehicle", "speed": reading}},
        ),
        "POST /ngsi-ld/v1/temporal/entities/{entity_id}/attrs": (
            f"{temporal}/attrs",
            {"json": {"speed": reading}},
        ),
        "PATCH /ngsi-ld/v1/temporal/entities/{entity_id}/attrs/{attr}/{instance_id}": (
            f"{temporal}/attrs/speed/{no_instance}",
            {"json": {"value": 32}},
        ),
        "DELETE /ngsi-ld/v1/temporal/entities/{entity_id}/attrs/{attr}/{instance_id}": (
            f"{temporal}/attrs/speed/{no_instance}",
            {},
        ),
        "DELETE /ngsi-ld/v1/temporal/entities/{entity_id}/attrs/{attr}": (
            f"{temporal}/attrs/speed",
            {},
        ),
        "DELETE /ngsi-ld/v1/temporal/entities/{entity_id}": (temporal, {}),
        "GET /ngsi-ld/v1/jsonldContexts": (f"{HUB}/jsonldContexts", {}),
        "GET /ngsi-ld/v1/jsonldContexts/{context_id}": (f"{HUB}/jsonldContexts/{context_id}", {}),
        "POST /ngsi-ld/v1/jsonldContexts": (
            f"{HUB}/jsonldContexts",
            {"json": {"@context": {"walk": "https://example.org/walk"}}},
        ),
        "DELETE /ngsi-ld/v1/jsonldContexts/{context_id}": (
            f"{HUB}/jsonldContexts/{context_id}",
            {},
        ),
        "POST /ngsi-ld/v1/subscriptions": (
            f"{HUB}/subscriptions",
            {
                "json": {
                    "type": "Subscription",
                    "entities": [{"type": "Vehicle"}],
                    "notification": {"endpoint": {"uri": "http://127.0.0.1:9/walk"}},
                }
            },
        ),
        "GET /ngsi-ld/v1/subscriptions": (f"{HUB}/subscriptions", {}),
        "GET /ngsi-ld/v1/subscriptions/{subscription_id}": (f"{HUB}/subscriptions/{SUB}", {}),
        "PATCH /ngsi-ld/v1/subscriptions/{subscription_id}": (
            f"{HUB}/subscriptions/{SUB}",
            {"json": {"isActive": False}},
        ),
        "DELETE /ngsi-ld/v1/subscriptions/{subscription_id}": (f"{HUB}/subscriptions/{SUB}", {}),
        "POST /auth/register": ("/auth/register", {"json": {"username": "x", "password": "y"}}),
        "POST /auth/token": ("/auth/token", {"data": {"grant_type": "client_credentials"}}),
        "GET /auth/me": ("/auth/me", {}),
        "GET /auth/me/audit": ("/auth/me/audit", {}),
        "GET /auth/me/consents": ("/auth/me/consents", {}),
        "POST /auth/me/consents": (
            "/auth/me/consents",
            {"json": {"purpose": "walking_rewards", "version": "2026-1"}},
        ),
        "DELETE /auth/me/consents/{purpose}": ("/auth/me/consents/walking_rewards", {}),
        "POST /auth/verifications": ("/auth/verifications", {"json": {}}),
        "GET /auth/verifications": ("/auth/verifications", {}),
        "POST /auth/verifications/{request_id}/approve": (
            f"/auth/verifications/{nobody}/approve",
            {},
        ),
        "POST /auth/verifications/{request_id}/reject": (
            f"/auth/verifications/{nobody}/reject",
            {},
        ),
        "GET /auth/keys": ("/auth/keys", {}),
        "POST /auth/keys": ("/auth/keys", {"json": {"name": "walk", "role": "developer"}}),
        "DELETE /auth/keys/{key_id}": ("/auth/keys/000000000000", {}),
        "POST /auth/logout": ("/auth/logout", {}),
        "POST /auth/login": ("/auth/login", {"data": {"username": "x"}}),
        "POST /auth/refresh": ("/auth/refresh", {}),
        "GET /auth/me/data": ("/auth/me/data", {}),
        "GET /auth/me/access-log": ("/auth/me/access-log", {}),
        "DELETE /auth/me": ("/auth/me", {}),
        "GET /": ("/", {}),
        "GET /citizen": ("/citizen", {}),
        "GET /scenarios": ("/scenarios", {}),
        "GET /operator": ("/operator", {}),
        "GET /web/layers": ("/web/layers", {}),
        "GET /web/tiles": ("/web/tiles", {}),
        "GET /web/runs": ("/web/runs", {}),
        "GET /web/runs/compare": ("/web/runs/compare?a=x&b=y", {}),
        "GET /web/runs/{name}": ("/web/runs/nothing", {}),
        "GET /web/runs/{name}/report": ("/web/runs/nothing/report", {}),
        "GET /web/basemap/{name}": ("/web/basemap/brt", {}),
        "GET /web/live": ("/web/live" if row.open_tenant else f"/web/live?tenant={TENANT}", {}),
        "POST /ingest/v1/devices": (
            "/ingest/v1/devices",
            {"json": {"device_id": "x", "entity_type": "Nope", "attributes": {}}},
        ),
        "GET /ingest/v1/devices": ("/ingest/v1/devices", {}),
        "GET /ingest/v1/devices/{device_id}": ("/ingest/v1/devices/nobody", {}),
        "DELETE /ingest/v1/devices/{device_id}": ("/ingest/v1/devices/nobody", {}),
        "GET /ingest/v1/deadletters": ("/ingest/v1/deadletters", {}),
        "POST /ingest/v1/measurements": (
            "/ingest/v1/measurements",
            {"params": device, "content": b"pm25|1", "headers": {"Content-Type": "text/plain"}},
        ),
        "GET /open311/v2/discovery.{fmt}": ("/open311/v2/discovery.json", {}),
        "GET /open311/v2/services.{fmt}": ("/open311/v2/services.json", {}),
        "GET /open311/v2/services/{code}.{fmt}": ("/open311/v2/services/road.xml", {}),
        "POST /open311/v2/requests.{fmt}": (
            "/open311/v2/requests.json",
            {
                "data": {
                    "service_code": "other",
                    "address_string": "walk",
                    "duplicate_action": "new",
                }
            },
        ),
        "GET /open311/v2/requests.{fmt}": ("/open311/v2/requests.json", {}),
        "GET /open311/v2/requests/{request_id}.{fmt}": ("/open311/v2/requests/999999.json", {}),
        "GET /open311/v2/tokens/{token}.{fmt}": ("/open311/v2/tokens/nobody.json", {}),
        "POST /open311/v2/requests/{request_id}/join.{fmt}": (
            "/open311/v2/requests/999999/join.json",
            {},
        ),
        "POST /open311/v2/media/{request_id}": (
            "/open311/v2/media/999999",
            {"content": b"not a photo", "headers": {"Content-Type": "image/jpeg"}},
        ),
        "GET /open311/v2/media/{media_id}": ("/open311/v2/media/nothing", {}),
        "GET /complaints/queue": ("/complaints/queue", {}),
        "GET /complaints/stats": ("/complaints/stats", {}),
        "POST /complaints/requests/{request_id}/transitions": (
            "/complaints/requests/999999/transitions",
            {"json": {"status": "assigned"}},
        ),
        "GET /complaints/requests/{request_id}/events": ("/complaints/requests/999999/events", {}),
        "GET /complaints/me/requests": ("/complaints/me/requests", {}),
        "GET /complaints/me/notifications": ("/complaints/me/notifications", {}),
        "POST /complaints/me/notifications/{notification_id}/read": (
            "/complaints/me/notifications/999999/read",
            {},
        ),
        "POST /complaints/suggest": ("/complaints/suggest", {"json": {"description": ""}}),
        "POST /complaints/duplicates": (
            "/complaints/duplicates",
            {"json": {"service_code": "road", "lat": "36.48", "long": "127.289"}},
        ),
        "GET /api/v1/zones": ("/api/v1/zones", {}),
        "GET /api/v1/residences/me": ("/api/v1/residences/me", {}),
        "PUT /api/v1/residences/{user_id}": ("/api/v1/residences/999999", {"json": {}}),
        "POST /api/v1/polls": ("/api/v1/polls", {"json": {}}),
        "GET /api/v1/polls": ("/api/v1/polls", {}),
        "GET /api/v1/polls/pulse": ("/api/v1/polls/pulse", {}),
        "GET /api/v1/polls/{poll_id}": ("/api/v1/polls/999999", {}),
        "POST /api/v1/polls/{poll_id}/close": ("/api/v1/polls/999999/close", {}),
        "POST /api/v1/polls/{poll_id}/votes": (
            "/api/v1/polls/999999/votes",
            {"json": {"choices": [0]}},
        ),
        "GET /api/v1/polls/{poll_id}/results": ("/api/v1/polls/999999/results", {}),
        "GET /api/v1/polls/{poll_id}/results.json": ("/api/v1/polls/999999/results.json", {}),
        "GET /api/v1/polls/{poll_id}/results.csv": ("/api/v1/polls/999999/results.csv", {}),
        "GET /api/v1/polls/{poll_id}/live": ("/api/v1/polls/999999/live", {}),
        "POST /api/v1/proposals": ("/api/v1/proposals", {"json": {}}),
        "GET /api/v1/proposals": ("/api/v1/proposals", {}),
        "GET /api/v1/proposals/map": ("/api/v1/proposals/map", {}),
        "GET /api/v1/proposals/moderation/reports": ("/api/v1/proposals/moderation/reports", {}),
        "POST /api/v1/proposals/moderation/reports/{report_id}/dismiss": (
            "/api/v1/proposals/moderation/reports/999999/dismiss",
            {"json": {}},
        ),
        "POST /api/v1/proposals/comments/{comment_id}/reports": (
            "/api/v1/proposals/comments/999999/reports",
            {"json": {"reason": "spam"}},
        ),
        "POST /api/v1/proposals/comments/{comment_id}/hide": (
            "/api/v1/proposals/comments/999999/hide",
            {"json": {}},
        ),
        "GET /api/v1/proposals/{proposal_id}": ("/api/v1/proposals/999999", {}),
        "PATCH /api/v1/proposals/{proposal_id}": ("/api/v1/proposals/999999", {"json": {}}),
        "POST /api/v1/proposals/{proposal_id}/publish": ("/api/v1/proposals/999999/publish", {}),
        "POST /api/v1/proposals/{proposal_id}/supports": (
            "/api/v1/proposals/999999/supports",
            {},
        ),
        "DELETE /api/v1/proposals/{proposal_id}/supports": (
            "/api/v1/proposals/999999/supports",
            {},
        ),
        "POST /api/v1/proposals/{proposal_id}/responses": (
            "/api/v1/proposals/999999/responses",
            {"json": {}},
        ),
        "GET /api/v1/proposals/{proposal_id}/comments": ("/api/v1/proposals/999999/comments", {}),
        "POST /api/v1/proposals/{proposal_id}/comments": (
            "/api/v1/proposals/999999/comments",
            {"json": {"text": "walk"}},
        ),
        "GET /api/v1/proposals/{proposal_id}/images/{image_id}": (
            "/api/v1/proposals/999999/images/1",
            {},
        ),
        "POST /api/v1/uploads/proposals/{proposal_id}/images": (
            "/api/v1/uploads/proposals/999999/images",
            {"content": b"x", "headers": {"Content-Type": "image/png"}},
        ),
        "GET /healthz": ("/healthz", {}),
        "GET /metrics": ("/metrics", {}),
        "GET /docs": ("/docs", {}),
        "GET /redoc": ("/redoc", {}),
        "GET /openapi.json": ("/openapi.json", {}),
    }
    return specs[f"{row.method} {row.path}"]


def test_the_table_lists_every_route(client: TestClient) -> None:
    served = {
        (method.upper(), path)
        for path, operations in client.app.openapi()["paths"].items()  # type: ignore[attr-defined]
        for method in operations
    } | UNDOCUMENTED_ROUTES
    listed = {(row.method, row.path) for row in ROWS}
    assert served == listed
    assert all(set(row.expect.values()) <= {"✓", "✗", "–"} for row in ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[row.key for row in ROWS])
def test_route_answers_each_role_as_the_table_says(
    row: Row,
    client: TestClient,
    settings: Settings,
    callers: dict[str, dict[str, str]],
    context_id: str,
    ingest_device: dict[str, str],
) -> None:
    admin = callers["admin"]
    if (row.method, row.path) == ("DELETE", "/auth/me"):  # deletes the callers: use new ones
        callers = make_callers(client, settings, tenant=TENANT)
    for role in HUB_ROLES:
        headers = dict(callers[role])
        if row.path == "/auth/logout" and "Authorization" in headers:
            headers = login_headers(client, _username_of(client, headers))  # a session to end
        if row.path.startswith(HUB) and not row.open_tenant:
            headers["NGSILD-Tenant"] = TENANT
            if row.method != "GET":
                _reset_vehicle(client, admin)
        url, kwargs = _request(row, context_id, ingest_device)
        headers |= kwargs.pop("headers", {})
        if row.path == "/web/live":  # an endless event stream: look at the status only
            with client.stream(row.method, url, headers=headers, **kwargs) as r:
                if r.status_code != 200:
                    r.read()
        else:
            r = client.request(row.method, url, headers=headers, **kwargs)
        expected = row.expect[role]
        streaming = row.path == "/web/live" and r.status_code == 200
        where = f"{row.key} as {role}: {r.status_code} {'' if streaming else r.text[:300]}"
        if expected == "✓":
            assert r.status_code not in (401, 403), where
            if r.status_code == 207:  # no entity of an allowed batch was refused
                assert all(e["error"]["status"] != 403 for e in r.json()["errors"]), where
        elif expected == "–":
            assert r.status_code == 422, where
        else:
            # Open311 has no 401: its anonymous refusals are 403 error lists.
            anonymous_status = 403 if row.path.startswith("/open311/") else 401
            assert r.status_code == (anonymous_status if role == "anonymous" else 403), where
            if row.path.startswith(HUB):  # NGSI-LD ProblemDetails
                problem = r.json()
                assert problem["status"] == r.status_code, where
                assert problem["type"].endswith(
                    "Unauthorized" if role == "anonymous" else "Forbidden"
                )
            if r.status_code == 401:
                assert r.headers["www-authenticate"].startswith("Bearer"), where


def _username_of(client: TestClient, headers: dict[str, str]) -> str:
    r = client.get("/auth/me", headers=headers)
    assert r.status_code == 200, r.text
    return str(r.json()["name"])
