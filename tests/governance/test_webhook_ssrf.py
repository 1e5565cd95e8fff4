"""Complaint webhooks cannot be aimed at the server's own network (SSRF): refused when the
complaint is filed, and checked again — after resolving the host — before every delivery."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
import sqlalchemy as sa

from cityos.governance import delivery
from cityos.governance.models import webhooks
from cityos.security.outbound import OutboundPolicy, policy_of
from tests.governance.conftest import BASE, City, post


class Receiver:
    """A real HTTP server on loopback recording each POST's Host header and body."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                receiver.received.append((str(self.headers.get("Host")), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
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


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://169.254.169.254/latest/meta-data/iam/", "link-local"),
        ("http://10.1.2.3/hook", "private"),
        ("http://192.168.0.10:8080/hook", "private"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://0.0.0.0:5432/", "unspecified"),
        ("http://metadata.google.internal/", "metadata"),
        ("https://user:pw@hooks.example.kr/hook", "password"),
        ("gopher://hooks.example.kr/", "http"),
    ],
)
def test_a_webhook_to_an_internal_address_is_refused_when_filed(
    city: City, url: str, says: str
) -> None:
    before = city.client.get(f"{BASE}/requests.json").json()
    r = post(city, service_code="road", address_string="보람동", webhook_url=url)
    assert r.status_code == 400, r.text
    description = r.json()[0]["description"]
    assert says in description
    assert " / " in description
    assert "CITYOS_OUTBOUND_ALLOW" in description or says in ("password", "http")
    assert city.client.get(f"{BASE}/requests.json").json() == before  # nothing stored


def test_loopback_is_refused_when_the_allow_list_does_not_name_it(city: City) -> None:
    """The test deployment allows loopback (test mode); one with an empty list does not."""
    city.client.app.state.settings = city.settings.model_copy(update={"outbound_allow": []})  # type: ignore[attr-defined]
    try:
        r = post(city, service_code="road", address_string="보람동",
                 webhook_url="http://127.0.0.1:9/hook")  # fmt: skip
        assert r.status_code == 400, r.text
        assert "loopback" in r.json()[0]["description"]
    finally:
        city.client.app.state.settings = city.settings  # type: ignore[attr-defined]
    r = post(city, service_code="road", address_string="보람동",
             webhook_url="http://127.0.0.1:9/hook", duplicate_action="new")  # fmt: skip
    assert r.status_code == 201, r.text


def _rows(city: City, request_id: str) -> list[Any]:
    with city.engine.connect() as connection:
        return list(
            connection.execute(
                sa.select(webhooks).where(webhooks.c.request_id == int(request_id))
            ).all()
        )


def test_delivery_checks_again_and_refuses_without_retrying(city: City, receiver: Receiver) -> None:
    """A row registered while allowed is refused at delivery under a stricter policy, as it
    would be after its name re-bound to an internal address; it fails at once, no retries.

    The URL names this machine by its host name, which passes the check by form and which the
    system resolver (/etc/hosts) maps to a loopback address: only resolving finds that out.
    """
    name = socket.gethostname()
    url = f"http://{name}:{receiver.port}/hook"
    filed = post(city, service_code="waste", address_string="새롬동", webhook_url=url,
                 duplicate_action="new")  # fmt: skip
    assert filed.status_code == 201, filed.text
    request_id = filed.json()[0]["service_request_id"]
    # The app delivered the "received" event right away, to the address the name resolved
    # to, with the name in the Host header.
    assert receiver.received
    assert receiver.received[0][0] == f"{name}:{receiver.port}"
    assert receiver.received[0][1]["service_request_id"] == request_id
    now = datetime.now(UTC)
    with city.engine.begin() as connection:  # the event once more, due now
        row = _rows(city, request_id)[0]
        connection.execute(
            sa.insert(webhooks).values(
                request_id=row.request_id, event_id=row.event_id, url=row.url,
                payload=row.payload, attempts=0, created_at=now, next_attempt_at=now,
            )
        )  # fmt: skip
    count = len(receiver.received)
    assert delivery.deliver_due(city.engine, now=now, policy=OutboundPolicy()) == 0
    assert len(receiver.received) == count  # nothing reached the receiver
    failed = [r for r in _rows(city, request_id) if r.failed_at is not None]
    assert len(failed) == 1
    assert failed[0].last_error.startswith("refused: ")
    assert "loopback" in failed[0].last_error  # found by resolving the name
    assert failed[0].attempts == delivery.MAX_ATTEMPTS  # not retried
    assert delivery.deliver_due(city.engine, now=now, policy=policy_of(city.settings)) == 0


def test_an_unresolvable_host_is_retried_not_failed(city: City) -> None:
    filed = post(city, service_code="waste", address_string="새롬동", duplicate_action="new",
                 webhook_url="https://no-such-host.invalid/hook")  # fmt: skip
    assert filed.status_code == 201, filed.text
    rows = _rows(city, filed.json()[0]["service_request_id"])
    assert rows
    assert all(r.failed_at is None and r.delivered_at is None for r in rows)
    assert "does not resolve" in rows[0].last_error


def test_pinned_keeps_the_name_for_host_and_tls() -> None:
    import ipaddress

    url, host, extensions = delivery.pinned(
        "https://hooks.example.kr:8443/a?b=1", ipaddress.ip_address("203.0.113.7")
    )
    assert url == "https://203.0.113.7:8443/a?b=1"
    assert host == {"Host": "hooks.example.kr:8443"}
    assert extensions == {"sni_hostname": "hooks.example.kr"}
    url, host, extensions = delivery.pinned(
        "http://hooks.example.kr/a", ipaddress.ip_address("2001:db8::7")
    )
    assert (url, host, extensions) == ("http://[2001:db8::7]/a", {"Host": "hooks.example.kr"}, {})
