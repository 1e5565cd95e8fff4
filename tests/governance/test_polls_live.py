"""Live results over real HTTP (uvicorn): a committed vote reaches the SSE stream as aggregates."""

# ruff: noqa: F811 - the fixtures are imported from tests.governance._civic

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from cityos import db
from cityos.config import Settings
from cityos.governance.polls import live
from tests.governance._civic import People
from tests.web.conftest import LiveServer


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[LiveServer]:
    settings = Settings(
        database_url=database_url, mode="test", seed_city=False, log_level="warning", auth="off"
    )
    with LiveServer(settings) as running:
        yield running


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def db_engine(server: LiveServer) -> Iterator[Engine]:
    made = db.make_engine(server.settings)
    yield made
    made.dispose()


@pytest.fixture(scope="module")
def people(http: httpx.Client, db_engine: Engine) -> People:
    return People(http, db_engine, lambda: datetime.now(UTC))  # type: ignore[arg-type]


def events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Yield the data of each ``results`` event of an SSE stream."""
    name, data = None, []
    for line in lines:
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data.append(line.split(":", 1)[1].strip())
        elif line == "" and data:
            if name == "results":
                yield json.loads("\n".join(data))
            name, data = None, []


def new_poll(http: httpx.Client, people: People, **over: Any) -> dict[str, Any]:
    body = {
        "title_ko": "세종호수공원 야간 개장",
        "title_en": "Sejong Lake Park opening at night",
        "options": [
            {"label_ko": "찬성", "label_en": "For"},
            {"label_ko": "반대", "label_en": "Against"},
        ],
        "closes_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
        "live_results": True,
    } | over
    r = http.post("/api/v1/polls", json=body, headers=people.operator.headers)
    assert r.status_code == 201, r.text
    return r.json()


def test_a_vote_is_pushed_to_the_stream_as_aggregates(
    http: httpx.Client, people: People, server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "REFRESH_S", 1.0)
    poll = new_poll(http, people)
    voters = [people.resident(), people.resident()]
    with httpx.stream("GET", f"{server.url}/api/v1/polls/{poll['id']}/live", timeout=10) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        stream = events(r.iter_lines())
        first = next(stream)
        assert first["ballots"] == 0
        assert first["state"] == "open"
        vote = http.post(
            f"/api/v1/polls/{poll['id']}/votes", json={"choices": [2]}, headers=voters[0].headers
        )
        assert vote.status_code == 201
        pushed = next(stream)
        assert pushed["ballots"] == 1
        assert [o["votes"] for o in pushed["options"]] == [0, 1]
        assert voters[0].id not in json.dumps(pushed)
        http.post(
            f"/api/v1/polls/{poll['id']}/votes", json={"choices": [1]}, headers=voters[1].headers
        )
        assert next(stream)["ballots"] == 2
        closed = http.post(f"/api/v1/polls/{poll['id']}/close", headers=people.operator.headers)
        assert closed.status_code == 200
        final = next(stream)  # pushed by the close, then the stream ends
        assert final["state"] == "closed"
        assert final["ballots"] == 2
        assert list(stream) == []


def test_closing_early_sends_the_final_results_and_ends_the_stream_at_once(
    http: httpx.Client, people: People, server: LiveServer
) -> None:
    poll = new_poll(http, people)
    voter = people.resident()
    # The read timeout (5 s) is well under the stream's recount (REFRESH_S, 15 s): the final
    # message must come from the close itself.
    assert live.REFRESH_S > 5
    with httpx.stream("GET", f"{server.url}/api/v1/polls/{poll['id']}/live", timeout=5) as r:
        stream = events(r.iter_lines())
        assert next(stream)["ballots"] == 0
        r2 = http.post(
            f"/api/v1/polls/{poll['id']}/votes", json={"choices": [1]}, headers=voter.headers
        )
        assert r2.status_code == 201
        assert next(stream)["ballots"] == 1
        closed = http.post(f"/api/v1/polls/{poll['id']}/close", headers=people.operator.headers)
        assert closed.status_code == 200
        assert closed.json()["state"] == "closed"
        final = next(stream)
        assert final["state"] == "closed"
        assert [o["votes"] for o in final["options"]] == [1, 0]
        assert list(stream) == []  # ended by the server, within the read timeout
    again = http.post(f"/api/v1/polls/{poll['id']}/close", headers=people.operator.headers)
    assert again.status_code == 409  # closing twice is still refused


def test_no_stream_for_a_poll_that_hides_results_until_closing(
    http: httpx.Client, people: People
) -> None:
    poll = new_poll(http, people, live_results=False)
    r = http.get(f"/api/v1/polls/{poll['id']}/live")
    assert r.status_code == 403
    assert r.json()["detail_ko"]
    assert http.get("/api/v1/polls/no-such-poll/live").status_code == 404
