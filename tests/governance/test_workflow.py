"""The complaint workflow: department queues, transitions (409 when not allowed), SLA timers,
every step recorded, the citizen told in the app and by a webhook delivered reliably."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
import sqlalchemy as sa

from cityos.governance import delivery
from cityos.governance.models import events, webhooks
from cityos.identity.models import Role
from cityos.security.outbound import policy_of
from tests.governance.conftest import BASE, SEJONG, City, post


class Receiver:
    """A real HTTP server that records webhook POSTs (and can be told to fail)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.failing = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers.get("Content-Length", "0"))
                payload = json.loads(self.rfile.read(length))
                if receiver.failing:
                    self.send_response(503)
                else:
                    receiver.received.append(payload)
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


def transition(city: City, headers: dict[str, str], request_id: str, **body: Any) -> Any:
    return city.client.post(
        f"/complaints/requests/{request_id}/transitions", json=body, headers=headers
    )


def test_a_complaint_goes_from_received_to_closed_and_the_citizen_hears_each_step(
    city: City, receiver: Receiver
) -> None:
    citizen = city.make_user()
    roads = city.make_user(Role.OPERATOR, department="도로과")
    environment = city.make_user(Role.OPERATOR, department="환경과")
    r = post(
        city,
        headers=citizen,
        service_code="streetlight",
        lat=str(SEJONG[0] + 0.01),
        long=str(SEJONG[1]),
        description="가로등이 꺼져서 밤에 너무 어두워요",
        webhook_url=receiver.url,
    )
    assert r.status_code == 201, r.text
    request_id = r.json()[0]["service_request_id"]

    queue = city.client.get("/complaints/queue", headers=roads)
    assert queue.status_code == 200, queue.text
    entry = next(e for e in queue.json() if e["service_request_id"] == request_id)
    assert entry["department"] == "도로과"
    assert 47 < entry["sla_hours_left"] <= 48  # streetlight SLA: 48 h
    assert entry["priority_explanation"]
    assert entry["sla_breached"] is False

    # Who may not: another department, a citizen, an anonymous caller.
    assert city.client.get("/complaints/queue", headers=citizen).status_code == 403
    anonymous = city.client.get("/complaints/queue")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert anonymous.json()[0]["code"] == 401
    keyed = city.client.get("/complaints/queue", headers={"X-API-Key": city.api_key})
    assert keyed.status_code == 403
    other = city.client.get("/complaints/queue", headers=environment).json()
    assert request_id not in {e["service_request_id"] for e in other}
    denied = transition(city, environment, request_id, status="assigned")
    assert denied.status_code == 403
    assert "도로과" in denied.json()[0]["description"]

    # Not allowed from "received": straight to in progress or closed.
    for skip in ("in_progress", "closed"):
        refused = transition(city, roads, request_id, status=skip)
        assert refused.status_code == 409, refused.text
        assert "Allowed next: assigned, rejected" in refused.json()[0]["description"]
    assert transition(city, roads, request_id, status="done").status_code == 400

    steps = [
        ("assigned", "도로과 2팀 배정"),
        ("in_progress", "현장 출동"),
        ("closed", "전구 교체 완료"),
    ]
    for status, note in steps:
        moved = transition(city, roads, request_id, status=status, note=note)
        assert moved.status_code == 200, moved.text
        assert moved.json()[0]["workflow_status"] == status
    final = city.client.get(f"{BASE}/requests/{request_id}.json").json()[0]
    assert final["status"] == "closed"
    assert final["status_notes"] == "전구 교체 완료"
    again = transition(city, roads, request_id, status="assigned")
    assert again.status_code == 409
    assert "none (final)" in again.json()[0]["description"]

    history = city.client.get(f"/complaints/requests/{request_id}/events", headers=citizen)
    assert [e["to_status"] for e in history.json()] == [
        "received", "assigned", "in_progress", "closed",
    ]  # fmt: skip
    assert history.json()[3]["to_status_ko"] == "완료"
    stranger = city.make_user()
    seen = city.client.get(f"/complaints/requests/{request_id}/events", headers=stranger)
    assert seen.status_code == 403

    told = city.client.get("/complaints/me/notifications", headers=citizen).json()
    assert [n["status"] for n in told] == ["closed", "in_progress", "assigned", "received"]
    assert "완료" in told[0]["message_ko"]
    assert "closed" in told[0]["message_en"]
    read = city.client.post(f"/complaints/me/notifications/{told[0]['id']}/read", headers=citizen)
    assert read.status_code == 200
    unread = city.client.get("/complaints/me/notifications?unread=true", headers=citizen).json()
    assert len(unread) == 3
    theirs = city.client.post(
        f"/complaints/me/notifications/{told[0]['id']}/read", headers=stranger
    )
    assert theirs.status_code == 404

    # The webhook heard every step, in order, right after each change.
    assert [p["workflow_status"] for p in receiver.received] == [
        "received", "assigned", "in_progress", "closed",
    ]  # fmt: skip
    assert receiver.received[-1]["status"] == "closed"
    assert len({p["event_id"] for p in receiver.received}) == 4


def test_rejecting_needs_a_reason(city: City) -> None:
    roads = city.make_user(Role.OPERATOR, department="도로과")
    r = post(city, service_code="road", address_string="보람동 123", duplicate_action="new")
    request_id = r.json()[0]["service_request_id"]
    assert transition(city, roads, request_id, status="rejected").status_code == 400
    rejected = transition(city, roads, request_id, status="rejected", note="세종시 관할 아님")
    assert rejected.status_code == 200
    assert city.client.get(f"{BASE}/requests/{request_id}.json").json()[0]["status"] == "closed"
    with city.engine.connect() as connection:
        recorded = connection.execute(
            sa.select(events.c.to_status, events.c.note).where(
                events.c.request_id == int(request_id)
            )
        ).all()
    assert [tuple(x) for x in recorded] == [("received", None), ("rejected", "세종시 관할 아님")]


def test_a_failed_webhook_is_retried_until_it_is_delivered(city: City, receiver: Receiver) -> None:
    receiver.failing = True
    r = post(
        city,
        service_code="waste",
        address_string="아름동 상가 앞",
        webhook_url=receiver.url,
    )
    request_id = int(r.json()[0]["service_request_id"])
    with city.engine.connect() as connection:
        row = connection.execute(
            sa.select(webhooks).where(webhooks.c.request_id == request_id)
        ).one()
    assert row.delivered_at is None
    assert row.attempts == 1
    assert row.last_error == "HTTP 503"
    receiver.failing = False
    now = datetime.now(UTC)
    policy = policy_of(city.settings)  # test mode: loopback receivers allowed
    assert delivery.deliver_due(city.engine, now=now, policy=policy) == 0  # not due: back-off
    later = now + timedelta(minutes=2)
    assert delivery.deliver_due(city.engine, now=later, policy=policy) == 1
    assert [p["service_request_id"] for p in receiver.received] == [str(request_id)]
    with city.engine.connect() as connection:
        row = connection.execute(sa.select(webhooks).where(webhooks.c.id == row.id)).one()
    assert row.delivered_at is not None
    assert row.attempts == 2


def test_backoff_grows_and_is_capped() -> None:
    assert delivery.backoff(1) == timedelta(minutes=1)
    assert delivery.backoff(3) == timedelta(minutes=4)
    assert delivery.backoff(20) == timedelta(hours=6)


def test_admins_pick_a_queue_and_breached_slas_come_first_among_equals(city: City) -> None:
    from cityos.governance.models import requests

    admin = city.make_user(Role.ADMIN)
    assert city.client.get("/complaints/queue", headers=admin).status_code == 400
    unknown = city.client.get("/complaints/queue?department=총무과", headers=admin)
    assert unknown.status_code == 400
    assert "공원녹지과" in unknown.json()[0]["description"]
    ids = [
        post(city, service_code="park", address_string=f"중앙공원 {n}").json()[0][
            "service_request_id"
        ]
        for n in range(2)
    ]
    with city.engine.begin() as connection:
        connection.execute(
            sa.update(requests)
            .where(requests.c.id == int(ids[1]))
            .values(expected_at=datetime.now(UTC) - timedelta(hours=3))
        )
    queue = city.client.get("/complaints/queue?department=공원녹지과", headers=admin).json()
    order = [e["service_request_id"] for e in queue]
    assert order.index(ids[1]) < order.index(ids[0])
    late = next(e for e in queue if e["service_request_id"] == ids[1])
    assert late["sla_breached"] is True
    assert late["sla_hours_left"] < 0
    history = city.client.get(f"/complaints/requests/{ids[0]}/events", headers=admin).json()
    assert history[0]["actor"].startswith("key:")  # staff see who acted
