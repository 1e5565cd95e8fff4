"""The poll API on SQLite and PostgreSQL: every rule, and every kind of bad input."""

# ruff: noqa: F811 - the fixtures are imported from tests.governance._civic

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from cityos.governance.civic.models import poll_ballots, poll_voters
from tests.governance._civic import (  # noqa: F401 - fixtures
    BORAM,
    JOCHIWON,
    Clock,
    People,
    api,
    assert_bilingual_error,
    civic_settings,
    clock,
    engine,
    people,
)


def poll_body(clock: Clock, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title_ko": "보람동 어린이공원 새 놀이기구",
        "title_en": "New play equipment for Boram-dong children's park",
        "kind": "single",
        "options": [
            {"label_ko": "짚라인", "label_en": "Zip line"},
            {"label_ko": "트램펄린", "label_en": "Trampoline"},
            {"label_ko": "모래놀이터", "label_en": "Sandpit"},
        ],
        "closes_at": (clock() + timedelta(minutes=5)).isoformat(),
    }
    return body | over


def create(api: TestClient, people: People, clock: Clock, **over: Any) -> dict[str, Any]:
    r = api.post("/api/v1/polls", json=poll_body(clock, **over), headers=people.operator.headers)
    assert r.status_code == 201, r.text
    return r.json()


def counts(engine: Engine, poll_id: str) -> tuple[int, int]:
    with engine.connect() as c:
        voters = c.execute(
            sa.select(sa.func.count()).where(poll_voters.c.poll_id == poll_id)
        ).scalar_one()
        ballots = c.execute(
            sa.select(sa.func.count()).where(poll_ballots.c.poll_id == poll_id)
        ).scalar_one()
    return voters, ballots


def test_an_operator_creates_a_poll_with_times_in_utc_and_seoul(
    api: TestClient, people: People, clock: Clock
) -> None:
    closes = "2099-01-01T18:00:00+09:00"
    poll = create(api, people, clock, closes_at=closes, zones=[BORAM])
    assert poll["closes_at"].startswith("2099-01-01T09:00:00")  # stored and shown in UTC
    assert poll["closes_at_local"] == "2099-01-01T18:00:00+09:00"
    assert poll["state"] == "open"
    assert poll["max_choices"] == 1
    assert [o["id"] for o in poll["options"]] == [1, 2, 3]
    assert api.get(f"/api/v1/polls/{poll['id']}").json()["title_ko"] == poll["title_ko"]
    assert poll["id"] in [p["id"] for p in api.get("/api/v1/polls?state=open").json()["items"]]
    assert poll["id"] not in [
        p["id"] for p in api.get(f"/api/v1/polls?zone={JOCHIWON}").json()["items"]
    ]


def test_only_staff_create_polls(api: TestClient, people: People, clock: Clock) -> None:
    r = api.post("/api/v1/polls", json=poll_body(clock), headers=people.resident().headers)
    assert_bilingual_error(r, 403)
    assert_bilingual_error(api.post("/api/v1/polls", json=poll_body(clock)), 401)


def test_bad_polls_are_refused_with_a_clear_error(
    api: TestClient, people: People, clock: Clock
) -> None:
    op = people.operator.headers
    before = len(api.get("/api/v1/polls").json()["items"])
    cases: list[tuple[dict[str, Any], int]] = [
        ({"zones": ["11110101"]}, 400),  # a Seoul dong
        ({"zones": [BORAM, BORAM]}, 400),
        ({"closes_at": (clock() - timedelta(minutes=1)).isoformat()}, 400),
        ({"opens_at": (clock() + timedelta(hours=1)).isoformat()}, 400),  # opens after closing
        ({"closes_at": "2099-01-01T18:00:00"}, 422),  # no UTC offset
        ({"closes_at": "next tuesday"}, 422),
        ({"kind": "approval"}, 422),
        ({"kind": "single", "max_choices": 2}, 400),
        ({"kind": "multiple", "max_choices": 4}, 400),  # 3 options
        ({"options": [{"label_ko": "하나", "label_en": "One"}]}, 422),
        (
            {"options": [{"label_ko": "가", "label_en": "A"}, {"label_ko": "가", "label_en": "B"}]},
            400,
        ),
        ({"title_ko": ""}, 422),
        ({"title_en": "x" * 201}, 422),
        ({"surprise": True}, 422),
    ]
    for over, status in cases:
        r = api.post("/api/v1/polls", json=poll_body(clock, **over), headers=op)
        assert_bilingual_error(r, status)
    r = api.post(
        "/api/v1/polls", content=b"{not json", headers=op | {"content-type": "application/json"}
    )
    assert_bilingual_error(r, 422)
    assert len(api.get("/api/v1/polls").json()["items"]) == before  # nothing half-written


def test_one_verified_resident_one_vote(
    api: TestClient, people: People, clock: Clock, engine: Engine
) -> None:
    poll = create(api, people, clock)
    voter = people.resident()
    url = f"/api/v1/polls/{poll['id']}/votes"
    r = api.post(url, json={"choices": [2]}, headers=voter.headers)
    assert r.status_code == 201, r.text
    assert r.json()["message_ko"]
    assert api.get(f"/api/v1/polls/{poll['id']}", headers=voter.headers).json()["has_voted"]
    again = api.post(url, json={"choices": [1]}, headers=voter.headers)
    assert_bilingual_error(again, 409, "already_done")
    assert counts(engine, poll["id"]) == (1, 1)  # the refused ballot left nothing behind


def test_who_may_not_vote_gets_403(
    api: TestClient, people: People, clock: Clock, engine: Engine
) -> None:
    poll = create(api, people, clock, zones=[BORAM])
    url = f"/api/v1/polls/{poll['id']}/votes"
    assert_bilingual_error(api.post(url, json={"choices": [1]}), 401)
    citizen = people.citizen()
    assert_bilingual_error(
        api.post(url, json={"choices": [1]}, headers=citizen.headers), 403, "not_verified_resident"
    )
    from cityos.identity.models import Role

    no_zone = people.make(Role.RESIDENT)  # verified, but no home zone recorded yet
    assert_bilingual_error(api.post(url, json={"choices": [1]}, headers=no_zone.headers), 403)
    elsewhere = people.resident(JOCHIWON)
    r = api.post(url, json={"choices": [1]}, headers=elsewhere.headers)
    assert_bilingual_error(r, 403, "not_verified_resident")
    assert counts(engine, poll["id"]) == (0, 0)
    assert (
        api.post(url, json={"choices": [1]}, headers=people.resident(BORAM).headers).status_code
        == 201
    )


def test_bad_ballots_are_refused_and_leave_nothing(
    api: TestClient, people: People, clock: Clock, engine: Engine
) -> None:
    single = create(api, people, clock)
    multiple = create(api, people, clock, kind="multiple", max_choices=2)
    voter = people.resident()
    for poll, choices, status in [
        (single, [1, 2], 400),
        (single, [9], 400),
        (single, [], 422),
        (single, ["one"], 422),
        (multiple, [1, 2, 3], 400),
        (multiple, [1, 1], 400),
    ]:
        r = api.post(
            f"/api/v1/polls/{poll['id']}/votes", json={"choices": choices}, headers=voter.headers
        )
        assert_bilingual_error(r, status)
    assert counts(engine, single["id"]) == (0, 0)
    assert counts(engine, multiple["id"]) == (0, 0)
    r = api.post("/api/v1/polls/no-such-poll/votes", json={"choices": [1]}, headers=voter.headers)
    assert_bilingual_error(r, 404)
    # After all those refusals the resident can still vote, once.
    r = api.post(
        f"/api/v1/polls/{multiple['id']}/votes", json={"choices": [1, 3]}, headers=voter.headers
    )
    assert r.status_code == 201, r.text


def test_votes_before_opening_and_after_closing_are_refused(
    api: TestClient, people: People, clock: Clock, engine: Engine
) -> None:
    later = create(
        api,
        people,
        clock,
        opens_at=(clock() + timedelta(minutes=2)).isoformat(),
        closes_at=(clock() + timedelta(minutes=4)).isoformat(),
    )
    assert later["state"] == "upcoming"
    voter = people.resident()
    url = f"/api/v1/polls/{later['id']}/votes"
    assert_bilingual_error(
        api.post(url, json={"choices": [1]}, headers=voter.headers), 409, "poll_not_open"
    )
    start = clock.now
    try:
        clock.advance(minutes=3)
        assert api.post(url, json={"choices": [1]}, headers=voter.headers).status_code == 201
        clock.advance(minutes=2)  # closed now
        late = people.resident()
        body = assert_bilingual_error(
            api.post(url, json={"choices": [1]}, headers=late.headers), 409, "poll_not_open"
        )
        assert "closed" in body["detail"]
        assert "마감" in body["detail_ko"]
    finally:
        clock.now = start
    assert counts(engine, later["id"]) == (1, 1)


def test_results_are_hidden_until_closing_unless_the_poll_shows_them(
    api: TestClient, people: People, clock: Clock
) -> None:
    hidden = create(api, people, clock)
    shown = create(api, people, clock, live_results=True)
    resident = people.resident()
    for poll in (hidden, shown):
        api.post(
            f"/api/v1/polls/{poll['id']}/votes", json={"choices": [1]}, headers=resident.headers
        )
    r = api.get(f"/api/v1/polls/{hidden['id']}/results", headers=resident.headers)
    assert_bilingual_error(r, 403)
    assert_bilingual_error(api.get(f"/api/v1/polls/{hidden['id']}/results.csv"), 403)
    assert_bilingual_error(api.get(f"/api/v1/polls/{hidden['id']}/live"), 403)
    staff = api.get(f"/api/v1/polls/{hidden['id']}/results", headers=people.operator.headers)
    assert staff.status_code == 200
    assert staff.json()["ballots"] == 1
    live = api.get(f"/api/v1/polls/{shown['id']}/results")
    assert live.status_code == 200
    assert live.json()["options"][0]["votes"] == 1
    closed = api.post(f"/api/v1/polls/{hidden['id']}/close", headers=people.operator.headers)
    assert closed.status_code == 200
    assert closed.json()["state"] == "closed"
    assert api.get(f"/api/v1/polls/{hidden['id']}/results").status_code == 200
    assert_bilingual_error(
        api.post(f"/api/v1/polls/{hidden['id']}/close", headers=people.operator.headers), 409
    )
    r = api.post(
        f"/api/v1/polls/{hidden['id']}/votes",
        json={"choices": [1]},
        headers=people.resident().headers,
    )
    assert_bilingual_error(r, 409, "poll_not_open")


def test_results_export_as_json_and_csv_hold_aggregates_only(
    api: TestClient, people: People, clock: Clock
) -> None:
    poll = create(api, people, clock, kind="multiple", max_choices=2)
    voters = [people.resident() for _ in range(3)]
    for person, choices in zip(voters, ([1, 2], [2], [2, 3]), strict=True):
        r = api.post(
            f"/api/v1/polls/{poll['id']}/votes", json={"choices": choices}, headers=person.headers
        )
        assert r.status_code == 201
    api.post(f"/api/v1/polls/{poll['id']}/close", headers=people.operator.headers)
    found = api.get(f"/api/v1/polls/{poll['id']}/results").json()
    assert found["ballots"] == 3
    assert [(o["id"], o["votes"], o["share"]) for o in found["options"]] == [
        (1, 1, 0.3333),
        (2, 3, 1.0),
        (3, 1, 0.3333),
    ]
    assert found["computed_at_local"].endswith("+09:00")
    saved = api.get(f"/api/v1/polls/{poll['id']}/results.json")
    assert saved.status_code == 200
    assert "attachment" in saved.headers["content-disposition"]
    assert saved.json()["options"] == found["options"]
    r = api.get(f"/api/v1/polls/{poll['id']}/results.csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    text = r.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["option_id", "label_ko", "label_en", "votes", "share"]
    assert rows[2][:4] == ["2", "트램펄린", "Trampoline", "3"]
    assert ["ballots", "3"] in rows
    for person in voters:  # no voter shows up anywhere in the export
        assert person.id not in text
        assert person.id not in str(found)


def test_ranked_results_by_instant_runoff_through_the_api(
    api: TestClient, people: People, clock: Clock
) -> None:
    """The hand-worked example of test_polls_tally: 4×ABC, 3×BCA, 2×CBA → B wins in round 2."""
    poll = create(api, people, clock, kind="ranked", live_results=True)
    for ranking, n in (([1, 2, 3], 4), ([2, 3, 1], 3), ([3, 2, 1], 2)):
        for _ in range(n):
            r = api.post(
                f"/api/v1/polls/{poll['id']}/votes",
                json={"choices": ranking},
                headers=people.resident().headers,
            )
            assert r.status_code == 201, r.text
    found = api.get(f"/api/v1/polls/{poll['id']}/results").json()
    assert found["winner"] == 2
    assert [r["counts"] for r in found["rounds"]] == [
        {"1": 4, "2": 3, "3": 2},
        {"1": 4, "2": 5},
    ]
    assert [o["votes"] for o in found["options"]] == [4, 3, 2]  # first preferences
    rows = list(
        csv.reader(
            io.StringIO(
                api.get(f"/api/v1/polls/{poll['id']}/results.csv").content.decode("utf-8-sig")
            )
        )
    )
    assert rows[0][0] == "round"
    assert [rows[3][1], rows[3][4]] == ["3", "2"]
    assert rows[3][6] == "yes"


def test_the_pulse_question_follows_the_residents_zone(
    api: TestClient, people: People, clock: Clock
) -> None:
    resident = people.resident(JOCHIWON)
    answer = api.get("/api/v1/polls/pulse", headers=resident.headers).json()
    assert answer["zone_code"] == JOCHIWON
    before = answer["poll"]
    # Answer every pulse poll already open for this zone, so the next one shows.
    while before is not None:
        api.post(
            f"/api/v1/polls/{before['id']}/votes", json={"choices": [1]}, headers=resident.headers
        )
        before = api.get("/api/v1/polls/pulse", headers=resident.headers).json()["poll"]
    create(
        api,
        people,
        clock,
        pulse=True,
        zones=[BORAM],
        title_ko="보람동 펄스",
        title_en="Boram pulse",
    )
    assert api.get("/api/v1/polls/pulse", headers=resident.headers).json()["poll"] is None
    mine = create(
        api,
        people,
        clock,
        pulse=True,
        zones=[JOCHIWON],
        title_ko="조치원 펄스",
        title_en="Jochiwon pulse",
    )
    shown = api.get("/api/v1/polls/pulse", headers=resident.headers).json()["poll"]
    assert shown["id"] == mine["id"]
    assert shown["has_voted"] is False
    api.post(f"/api/v1/polls/{mine['id']}/votes", json={"choices": [1]}, headers=resident.headers)
    assert api.get("/api/v1/polls/pulse", headers=resident.headers).json()["poll"] is None
    assert_bilingual_error(api.get("/api/v1/polls/pulse"), 401)


def test_the_database_never_links_a_voter_to_a_ballot(
    api: TestClient, people: People, clock: Clock, engine: Engine
) -> None:
    poll = create(api, people, clock)
    voter = people.resident()
    api.post(f"/api/v1/polls/{poll['id']}/votes", json={"choices": [3]}, headers=voter.headers)
    with engine.connect() as c:
        voters = c.execute(sa.select(poll_voters).where(poll_voters.c.poll_id == poll["id"])).all()
        ballots = c.execute(
            sa.select(poll_ballots).where(poll_ballots.c.poll_id == poll["id"])
        ).all()
    assert len(voters) == 1
    assert len(ballots) == 1
    assert voter.id not in str(voters)
    assert len(voters[0].voter) == 64
    assert set(ballots[0]._mapping) == {"id", "poll_id", "choices"}  # no voter, no time
