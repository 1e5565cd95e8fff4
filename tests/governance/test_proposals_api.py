"""The proposal API on SQLite and PostgreSQL: map point, supports, threshold, review,
responses, comments, moderation, escaping, and bad input of every kind."""

# ruff: noqa: F811 - the fixtures are imported from tests.governance._civic

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from cityos.governance.civic.models import proposal_comments, proposal_supports, proposals
from tests.governance._civic import (  # noqa: F401 - fixtures
    BORAM,
    BORAM_POINT,
    JOCHIWON,
    People,
    Person,
    api,
    assert_bilingual_error,
    civic_settings,
    clock,
    engine,
    people,
)

SCRIPT = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


def body(**over: Any) -> dict[str, Any]:
    return {
        "title": "보람동 천변 산책로에 가로등을 설치해 주세요",
        "description": "밤에 산책로가 너무 어두워 위험합니다. 가로등이 필요합니다.",
        "location": {"type": "Point", "coordinates": BORAM_POINT},
    } | over


def propose(api: TestClient, who: Person, **over: Any) -> dict[str, Any]:
    r = api.post("/api/v1/proposals", json=body(**over), headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as c:
        return int(c.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_a_citizen_proposes_at_a_point_in_sejong(api: TestClient, people: People) -> None:
    author = people.citizen()
    found = propose(api, author)
    assert found["status"] == "published"
    assert found["zone"] == {"code": BORAM, "name_ko": "보람동", "name_en": "Boram-dong"}
    assert found["location"]["coordinates"] == BORAM_POINT
    assert found["by_me"] is True
    assert found["supports"] == 0
    # 보람동 has 20,615 residents in the twin's zone table; 0.001 % → 1, at least 2.
    assert found["threshold"] == 2
    assert found["created_at_local"].endswith("+09:00")
    public = api.get(f"/api/v1/proposals/{found['id']}").json()
    assert public["by_me"] is None
    assert "author_id" not in public  # the proposer is not exposed
    listed = api.get(f"/api/v1/proposals?zone={BORAM}&status=published").json()["items"]
    assert found["id"] in [p["id"] for p in listed]


def test_the_threshold_comes_from_the_zone_population(
    api: TestClient, people: People, civic_settings: Any
) -> None:
    from cityos.governance.civic.zones import get_zone
    from cityos.governance.proposals.service import threshold_for

    boram = get_zone(BORAM)
    assert boram is not None
    assert boram.population == 20615
    default = civic_settings.model_copy(
        update={"proposal_support_percent": 1.0, "proposal_support_minimum": 10}
    )
    assert threshold_for(boram, default) == 207  # ceil(1 % × 20,615)


def test_bad_proposals_are_refused_and_nothing_is_stored(
    api: TestClient, people: People, engine: Engine
) -> None:
    author = people.citizen()
    before = count(engine, proposals)
    outside = body(location={"type": "Point", "coordinates": [127.385, 36.35]})  # Daejeon
    r = api.post("/api/v1/proposals", json=outside, headers=author.headers)
    found = assert_bilingual_error(r, 400, "outside_sejong")
    assert "Sejong" in found["detail"]
    assert "세종" in found["detail_ko"]
    swapped = body(location={"type": "Point", "coordinates": BORAM_POINT[::-1]})
    swapped_error = assert_bilingual_error(
        api.post("/api/v1/proposals", json=swapped, headers=author.headers), 422
    )  # latitude 127° cannot be: the message names the order
    assert "[longitude, latitude]" in swapped_error["errors"][0]["msg"]
    for bad in (
        body(location=None),
        body(location={"type": "Point", "coordinates": [200, 36.4]}),
        body(location={"type": "Polygon", "coordinates": BORAM_POINT}),
        body(location={"type": "Point", "coordinates": [127.28]}),
        body(location={"type": "Point", "coordinates": ["east", "north"]}),
        body(title=""),
        body(title="x" * 201),
        body(description="short"),
        body(extra="field"),
        {k: v for k, v in body().items() if k != "location"},
    ):
        assert_bilingual_error(api.post("/api/v1/proposals", json=bad, headers=author.headers), 422)
    assert_bilingual_error(api.post("/api/v1/proposals", json=body()), 401)
    assert count(engine, proposals) == before


def test_supports_one_per_verified_resident_and_the_threshold_sends_to_review(
    api: TestClient, people: People, engine: Engine
) -> None:
    found = propose(api, people.citizen())
    url = f"/api/v1/proposals/{found['id']}/supports"
    assert_bilingual_error(
        api.post(url, headers=people.citizen().headers), 403, "not_verified_resident"
    )
    assert_bilingual_error(api.post(url), 401)
    first = people.resident(BORAM)
    r = api.post(url, headers=first.headers)
    assert r.status_code == 201, r.text
    assert r.json()["supports"] == 1
    assert r.json()["supported_by_me"] is True
    assert r.json()["status"] == "published"
    assert_bilingual_error(api.post(url, headers=first.headers), 409, "already_done")
    with engine.connect() as c:
        stored = c.execute(
            sa.select(proposal_supports).where(proposal_supports.c.proposal_id == found["id"])
        ).all()
    assert len(stored) == 1
    assert first.id not in str(stored)  # a pseudonym, not the user id
    second = people.resident(JOCHIWON)  # any verified resident of Sejong may support
    r = api.post(url, headers=second.headers)
    assert r.json()["supports"] == 2
    assert r.json()["status"] == "under_review"
    moved = r.json()["responses"]
    assert [(m["status_from"], m["status_to"]) for m in moved] == [("published", "under_review")]
    assert moved[0]["message_ko"]
    assert moved[0]["message_en"]


def test_withdrawing_a_support(api: TestClient, people: People) -> None:
    found = propose(api, people.citizen())
    url = f"/api/v1/proposals/{found['id']}/supports"
    resident = people.resident()
    api.post(url, headers=resident.headers)
    r = api.delete(url, headers=resident.headers)
    assert r.status_code == 200
    assert r.json()["supports"] == 0
    assert_bilingual_error(api.delete(url, headers=resident.headers), 404)
    assert api.post(url, headers=resident.headers).status_code == 201


def test_official_responses_follow_the_workflow(api: TestClient, people: People) -> None:
    found = propose(api, people.citizen())
    url = f"/api/v1/proposals/{found['id']}/responses"
    op = people.operator.headers

    def answer(status: str) -> Any:
        return api.post(
            url,
            json={
                "status": status,
                "message_ko": "검토하겠습니다.",
                "message_en": "We will review it.",
            },
            headers=op,
        )

    assert_bilingual_error(answer("accepted"), 409)  # published → accepted skips review
    assert_bilingual_error(answer("implemented"), 409)
    assert answer("under_review").json()["status"] == "under_review"
    assert answer("accepted").json()["status"] == "accepted"
    assert_bilingual_error(answer("rejected"), 409)
    done = answer("implemented").json()
    assert done["status"] == "implemented"
    assert [r["status_to"] for r in done["responses"]] == [
        "under_review",
        "accepted",
        "implemented",
    ]
    assert done["responses"][0]["department"] == "시민소통과"
    assert_bilingual_error(answer("draft"), 409)
    assert_bilingual_error(answer("pending"), 422)
    r = api.post(url, json={"status": "accepted", "message_ko": "", "message_en": "x"}, headers=op)
    assert_bilingual_error(r, 422)
    citizen = people.resident()
    r = api.post(
        url,
        json={"status": "accepted", "message_ko": "좋아요", "message_en": "Fine"},
        headers=citizen.headers,
    )
    assert_bilingual_error(r, 403)
    assert_bilingual_error(
        api.post(f"/api/v1/proposals/{found['id']}/supports", headers=citizen.headers), 409
    )


def test_a_draft_is_private_until_published(api: TestClient, people: People) -> None:
    author = people.citizen()
    draft = propose(api, author, publish=False)
    assert draft["status"] == "draft"
    assert_bilingual_error(api.get(f"/api/v1/proposals/{draft['id']}"), 404)
    other = people.resident()
    assert_bilingual_error(api.get(f"/api/v1/proposals/{draft['id']}", headers=other.headers), 404)
    assert draft["id"] not in [p["id"] for p in api.get("/api/v1/proposals").json()["items"]]
    assert draft["id"] in [
        p["id"]
        for p in api.get("/api/v1/proposals?mine=true", headers=author.headers).json()["items"]
    ]
    assert_bilingual_error(
        api.post(f"/api/v1/proposals/{draft['id']}/supports", headers=other.headers), 404
    )
    r = api.post(
        f"/api/v1/proposals/{draft['id']}/comments", json={"body": "hi"}, headers=author.headers
    )
    assert_bilingual_error(r, 409)
    assert_bilingual_error(
        api.post(f"/api/v1/proposals/{draft['id']}/publish", headers=other.headers), 404
    )
    edit = f"/api/v1/proposals/{draft['id']}"
    assert_bilingual_error(api.patch(edit, json={"title": "남의 초안"}, headers=other.headers), 404)
    outside = {"location": {"type": "Point", "coordinates": [127.385, 36.35]}}
    assert_bilingual_error(
        api.patch(edit, json=outside, headers=author.headers), 400, "outside_sejong"
    )
    assert_bilingual_error(api.patch(edit, json={"title": "x"}, headers=author.headers), 422)
    moved = {
        "title": "조치원읍 가로등",
        "location": {"type": "Point", "coordinates": [127.2966, 36.6011]},
    }
    edited = api.patch(edit, json=moved, headers=author.headers)
    assert edited.status_code == 200, edited.text
    assert edited.json()["title"] == "조치원읍 가로등"
    assert edited.json()["zone"]["code"] == JOCHIWON
    assert edited.json()["description"] == draft["description"]
    published = api.post(f"/api/v1/proposals/{draft['id']}/publish", headers=author.headers)
    assert published.json()["status"] == "published"
    assert_bilingual_error(
        api.post(f"/api/v1/proposals/{draft['id']}/publish", headers=author.headers), 409
    )
    late = api.patch(edit, json={"title": "게시 후 수정"}, headers=author.headers)
    assert_bilingual_error(late, 409)


def test_script_in_text_is_stored_as_text_and_escaped_on_output(
    api: TestClient, people: People, engine: Engine
) -> None:
    author = people.citizen()
    found = propose(api, author, title=f"가로등 {SCRIPT}"[:200], description=f"설명 {SCRIPT}")
    r = api.post(
        f"/api/v1/proposals/{found['id']}/comments", json={"body": SCRIPT}, headers=author.headers
    )
    assert r.status_code == 201
    with engine.connect() as c:
        stored = c.execute(
            sa.select(proposal_comments.c.body).where(proposal_comments.c.id == r.json()["id"])
        ).scalar_one()
    assert stored == SCRIPT  # kept exactly as written
    for response in (
        api.get(f"/api/v1/proposals/{found['id']}"),
        api.get(f"/api/v1/proposals/{found['id']}/comments"),
        api.get("/api/v1/proposals"),
    ):
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["x-content-type-options"] == "nosniff"
        raw = response.content
        assert b"<script" not in raw
        assert b"<img" not in raw
        assert b"\\u003cscript\\u003e" in raw  # escaped, not removed
    assert api.get(f"/api/v1/proposals/{found['id']}/comments").json()[0]["body"] == SCRIPT
    assert api.get(f"/api/v1/proposals/{found['id']}").json()["description"] == f"설명 {SCRIPT}"


def test_comments_reports_and_moderation(api: TestClient, people: People) -> None:
    found = propose(api, people.citizen())
    writer, reader, reader2 = people.citizen(), people.citizen(), people.resident()
    op = people.operator.headers
    url = f"/api/v1/proposals/{found['id']}/comments"
    nice = api.post(url, json={"body": "좋은 제안입니다!"}, headers=writer.headers).json()
    rude = api.post(url, json={"body": "이런 바보 같은 제안"}, headers=writer.headers).json()
    assert_bilingual_error(api.post(url, json={"body": ""}, headers=writer.headers), 422)
    assert_bilingual_error(api.post(url, json={"body": "x" * 2001}, headers=writer.headers), 422)
    assert_bilingual_error(api.post(url, json={"body": "anonymous"}), 401)
    report = f"/api/v1/proposals/comments/{rude['id']}/reports"
    r = api.post(report, json={"reason": "욕설입니다"}, headers=reader.headers)
    assert r.status_code == 201
    assert r.json()["message_ko"]
    assert_bilingual_error(api.post(report, json={"reason": "again"}, headers=reader.headers), 409)
    assert_bilingual_error(api.post(report, json={"reason": ""}, headers=reader2.headers), 422)
    assert_bilingual_error(
        api.post(
            "/api/v1/proposals/comments/nope/reports",
            json={"reason": "abuse"},
            headers=reader.headers,
        ),
        404,
    )
    api.post(report, json={"reason": "abusive language"}, headers=reader2.headers)
    nice_report = api.post(
        f"/api/v1/proposals/comments/{nice['id']}/reports",
        json={"reason": "I disagree"},
        headers=reader.headers,
    ).json()
    assert_bilingual_error(
        api.get("/api/v1/proposals/moderation/reports", headers=reader.headers), 403
    )
    queue = api.get("/api/v1/proposals/moderation/reports", headers=op).json()
    mine = [q for q in queue if q["proposal_id"] == found["id"]]
    assert len(mine) == 3
    assert {q["reports_on_comment"] for q in mine if q["comment_id"] == rude["id"]} == {2}
    hide = f"/api/v1/proposals/comments/{rude['id']}/hide"
    assert_bilingual_error(api.post(hide, json={"reason": "욕설"}, headers=writer.headers), 403)
    assert_bilingual_error(api.post(hide, json={"reason": ""}, headers=op), 422)
    assert api.post(hide, json={"reason": "욕설 (운영 원칙 3조)"}, headers=op).status_code == 204
    assert_bilingual_error(api.post(hide, json={"reason": "again"}, headers=op), 409)
    dismiss = f"/api/v1/proposals/moderation/reports/{nice_report['id']}/dismiss"
    assert api.post(dismiss, headers=op).status_code == 204
    assert_bilingual_error(api.post(dismiss, headers=op), 409)
    assert_bilingual_error(
        api.post("/api/v1/proposals/moderation/reports/nope/dismiss", headers=op), 404
    )
    open_now = [
        q
        for q in api.get("/api/v1/proposals/moderation/reports", headers=op).json()
        if q["proposal_id"] == found["id"]
    ]
    assert open_now == []
    every = api.get("/api/v1/proposals/moderation/reports?include_resolved=true", headers=op).json()
    assert {q["resolution"] for q in every if q["proposal_id"] == found["id"]} == {
        "hidden",
        "dismissed",
    }
    shown = api.get(url, headers=writer.headers).json()
    assert [c["hidden"] for c in shown] == [False, True]
    assert shown[1]["body"] is None
    assert shown[1]["hidden_reason"] == "욕설 (운영 원칙 3조)"
    assert shown[0]["body"] == "좋은 제안입니다!"
    assert shown[0]["by_me"] is True


def test_unknown_proposals_and_bad_filters(api: TestClient, people: People) -> None:
    assert_bilingual_error(api.get("/api/v1/proposals/no-such-id"), 404)
    assert_bilingual_error(api.get("/api/v1/proposals?status=maybe"), 422)
    assert_bilingual_error(api.get("/api/v1/proposals/no-such-id/comments"), 404)
    assert_bilingual_error(
        api.post("/api/v1/proposals/no-such-id/supports", headers=people.resident().headers), 404
    )


def test_a_deleted_account_takes_its_home_zone_and_leaves_anonymous_content(
    api: TestClient, people: People, engine: Engine, civic_settings: Any
) -> None:
    from cityos.governance.civic.models import residences
    from cityos.identity import account
    from cityos.privacy.crypto import Vault

    resident = people.resident()
    found = propose(api, resident)
    api.post(
        f"/api/v1/proposals/{found['id']}/comments",
        json={"body": "제가 제안했습니다"},
        headers=resident.headers,
    )
    api.post(f"/api/v1/proposals/{found['id']}/supports", headers=resident.headers)
    with engine.begin() as c:
        account.delete_account(
            c,
            vault=Vault.from_settings(civic_settings),
            user_id=resident.id,
            actor="test",
            now=people.clock(),
        )
    with engine.connect() as c:
        assert (
            c.execute(sa.select(residences).where(residences.c.user_id == resident.id)).first()
            is None
        )
        author = c.execute(
            sa.select(proposals.c.author_id).where(proposals.c.id == found["id"])
        ).scalar()
        assert author is None
        authors = (
            c.execute(
                sa.select(proposal_comments.c.author_id).where(
                    proposal_comments.c.proposal_id == found["id"]
                )
            )
            .scalars()
            .all()
        )
        assert authors == [None]
    shown = api.get(f"/api/v1/proposals/{found['id']}").json()
    assert shown["supports"] == 1  # an anonymous count survives


def test_the_map_feed_is_geojson_without_drafts(api: TestClient, people: People) -> None:
    author = people.citizen()
    shown = propose(api, author, title=f"지도 {SCRIPT}"[:200])
    hidden = propose(api, author, publish=False)
    r = api.get(f"/api/v1/proposals/map?zone={BORAM}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    assert b"<script" not in r.content
    found = r.json()
    assert found["type"] == "FeatureCollection"
    ids = [f["id"] for f in found["features"]]
    assert shown["id"] in ids
    assert hidden["id"] not in ids
    feature = next(f for f in found["features"] if f["id"] == shown["id"])
    assert feature["geometry"] == {"type": "Point", "coordinates": BORAM_POINT}
    assert feature["properties"]["status"] == "published"
    assert_bilingual_error(api.get("/api/v1/proposals/map?status=nope"), 422)
