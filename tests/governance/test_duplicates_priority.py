"""Duplicates (100 m, 7 days, same code, similar text → join +1), priority with reasons, and
automatic routing through the classifier when one is installed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from cityos.governance import duplicates, priority, routing
from cityos.governance.models import requests
from cityos.governance.places import distance_m, outside_sejong_m, school_zone_of, schools
from cityos.identity.models import Role
from tests.governance.conftest import BASE, City, post

# A spot in 조치원읍 (north Sejong), away from the other tests' points.
SPOT = (36.6010, 127.2980)
METRES_PER_DEGREE_LAT = 110_574.0


def north(metres: float) -> str:
    return str(SPOT[0] + metres / METRES_PER_DEGREE_LAT)


def test_similarity_tells_the_same_problem_from_another() -> None:
    same = ("도로에 큰 포트홀이 생겼어요 위험합니다", "도로 포트홀 때문에 차가 튀어요, 큰 구멍")
    other = ("도로에 큰 포트홀이 생겼어요", "공원 놀이터 그네가 부서졌어요")
    assert duplicates.similar(*same)
    assert not duplicates.similar(*other)
    assert duplicates.similar(None, "사진만 보냅니다")


def test_distance_matches_a_hand_calculation() -> None:
    # 0.001° of latitude is 110.57 m (WGS84 at 36.5° N: 110,574 m per degree)
    assert distance_m(36.5, 127.3, 36.501, 127.3) == pytest.approx(110.57, rel=1e-3)
    assert outside_sejong_m(*SPOT) == 0.0


def test_priority_counts_safety_words_school_zones_and_repeats() -> None:
    school = schools()[0]
    assert school_zone_of(school.lat + 0.0026, school.lon) is not None  # ~287 m north
    for dlat in (0.0, 0.002, 0.0026, 0.0028, 0.004, 0.01):
        point = (school.lat + dlat, school.lon)
        nearest = min(distance_m(*point, s.lat, s.lon) for s in schools())
        assert (school_zone_of(*point) is not None) == (nearest <= 300.0), dlat
    assert school_zone_of(*SPOT) is None
    calm = priority.assess(
        description="쓰레기가 쌓여 있어요", service_code="waste", attributes={},
        lat=SPOT[0], lon=SPOT[1], supporters=0,
    )  # fmt: skip
    assert calm.points == 0
    assert calm.level == "normal"
    assert "no risk factor" in calm.explanation
    urgent = priority.assess(
        description="전선이 늘어져 있어 감전 위험이 있어요", service_code="safety",
        attributes={"hazard": "yes"}, lat=school.lat, lon=school.lon, supporters=5,
    )  # fmt: skip
    assert urgent.level == "urgent"
    assert urgent.points == 2 + 2 + 1 + 1 + 2
    text = urgent.explanation
    for reason in ("safety words", "immediate hazard", "school zone", "6 reports", "감전"):
        assert reason in text, text
    assert "danger" in priority.safety_words("This is DANGEROUS, real danger")


def test_a_nearby_similar_open_complaint_is_offered_and_can_be_joined(city: City) -> None:
    first = post(
        city, service_code="road", lat=north(0), long=str(SPOT[1]),
        description="조치원역 앞 도로에 큰 포트홀이 생겼어요",
    )  # fmt: skip
    assert first.status_code == 201, first.text
    first_id = first.json()[0]["service_request_id"]

    near = {"service_code": "road", "lat": north(60), "long": str(SPOT[1])}
    offered = post(city, **near, description="역 앞 도로 포트홀 큰 구멍 때문에 위험해요")
    assert offered.status_code == 409, offered.text
    description = offered.json()[0]["description"]
    assert f"request {first_id}" in description
    assert "duplicate_action=join" in description

    # Far (150 m), another code, or unrelated text: not the same problem.
    far = post(city, service_code="road", lat=north(150), long=str(SPOT[1]),
               description="역 앞 도로 포트홀")  # fmt: skip
    assert far.status_code == 201
    other_code = post(city, service_code="waste", lat=north(10), long=str(SPOT[1]),
                      description="포트홀 옆에 쓰레기")  # fmt: skip
    assert other_code.status_code == 201
    unrelated = post(city, **near, description="보도블록 경계석이 빠졌습니다")
    assert unrelated.status_code == 201

    citizen = city.make_user()
    joined = post(city, headers=citizen, **near, description="역 앞 포트홀이 커요 위험",
                  duplicate_action="join")  # fmt: skip
    assert joined.status_code == 201, joined.text
    assert joined.json()[0]["service_request_id"] == first_id
    assert "Joined request" in joined.json()[0]["service_notice"]
    again = city.client.post(f"{BASE}/requests/{first_id}/join.json", headers=citizen)
    assert again.status_code == 200
    assert again.json()[0]["supporters"] == 1  # one person, one +1
    by_key = city.client.post(f"{BASE}/requests/{first_id}/join.json",
                              data={"api_key": city.api_key})  # fmt: skip
    assert by_key.json()[0]["supporters"] == 2
    shown = city.client.get(f"{BASE}/requests/{first_id}.json").json()[0]
    assert shown["supporters"] == 2

    roads = city.make_user(Role.OPERATOR, department="도로과")
    queue = city.client.get("/complaints/queue", headers=roads).json()
    entry = next(e for e in queue if e["service_request_id"] == first_id)
    assert "3 reports" in entry["priority_explanation"]
    moved = city.client.post(
        f"/complaints/requests/{first_id}/transitions", json={"status": "assigned"}, headers=roads
    )
    assert moved.status_code == 200, moved.text
    told = city.client.get("/complaints/me/notifications", headers=citizen).json()
    assert [(n["service_request_id"], n["status"]) for n in told] == [(first_id, "assigned")]

    forced = post(city, **near, description="역 앞 도로 포트홀 큰 구멍", duplicate_action="new")
    assert forced.status_code == 201

    # A week later the old one no longer absorbs new reports.
    with city.engine.begin() as connection:
        connection.execute(
            sa.update(requests)
            .where(requests.c.service_code == "road", requests.c.lat > SPOT[0] - 0.01)
            .values(requested_at=datetime.now(UTC) - timedelta(days=8))
        )
    later = post(city, **near, description="역 앞 도로 포트홀 큰 구멍")
    assert later.status_code == 201

    missing = city.client.post(f"{BASE}/requests/999999/join.json", data={"api_key": city.api_key})
    assert missing.status_code == 404


def test_closed_complaints_cannot_be_joined(city: City) -> None:
    roads = city.make_user(Role.OPERATOR, department="도로과")
    r = post(city, service_code="road", address_string="고운동", duplicate_action="new")
    request_id = r.json()[0]["service_request_id"]
    city.client.post(f"/complaints/requests/{request_id}/transitions",
                     json={"status": "rejected", "note": "중복"}, headers=roads)  # fmt: skip
    joined = city.client.post(f"{BASE}/requests/{request_id}/join.json",
                              data={"api_key": city.api_key})  # fmt: skip
    assert joined.status_code == 409


@pytest.fixture
def classifier(city: City) -> Iterator[list[str]]:
    """Install a stand-in for cityos.governance.classify (the real one lands separately)."""
    seen: list[str] = []

    def classify(text: str) -> dict[str, object]:
        seen.append(text)
        if "불법주차" in text:
            return {"service_code": "parking", "confidence": 0.91, "department": "교통과"}
        return {"service_code": "unknown-code", "confidence": 0.2, "department": "?"}

    city.client.app.state.complaint_classifier = classify  # type: ignore[attr-defined]
    yield seen
    city.client.app.state.complaint_classifier = None  # type: ignore[attr-defined]


def test_without_a_classifier_a_missing_code_is_refused(
    city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment without cityos.governance.classify refuses a complaint with no code."""
    from cityos.governance import api as open311_api

    monkeypatch.setattr(open311_api, "installed_classifier", lambda: None)
    r = post(city, address_string="소담동", description="불법주차 차량이 많아요")
    assert r.status_code == 400
    assert "service_code is required" in r.json()[0]["description"]


def test_the_shipped_classifier_routes_free_text(city: City) -> None:
    """No stand-in: the project's own Korean classifier suggests the code and department."""
    assert routing.installed_classifier() is not None
    r = post(
        city, address_string="소담동", description="소화전 앞에 불법 주차된 차량이 며칠째 있어요"
    )
    assert r.status_code == 201, r.text
    answer = r.json()[0]
    assert answer["service_code"] == "parking"
    assert answer["service_code_suggested"] is True
    assert 0 < answer["suggestion_confidence"] <= 1


def test_the_classifier_suggests_the_code_when_none_is_given(
    city: City, classifier: list[str]
) -> None:
    r = post(city, address_string="소담동", description="소화전 앞 불법주차 차량이 있어요")
    assert r.status_code == 201, r.text
    answer = r.json()[0]
    assert answer["service_code"] == "parking"
    assert answer["service_code_suggested"] is True
    assert answer["suggestion_confidence"] == pytest.approx(0.91)
    assert "suggested" in answer["service_notice"]
    shown = city.client.get(f"{BASE}/requests/{answer['service_request_id']}.json").json()[0]
    assert shown["service_code"] == "parking"
    assert shown["agency_responsible"] == "교통과 (Transport Division)"
    assert shown["service_code_suggested"] is True
    assert classifier == ["소화전 앞 불법주차 차량이 있어요"]

    no_text = post(city, address_string="소담동")
    assert no_text.status_code == 400
    assert "description" in no_text.json()[0]["description"]
    unusable = post(city, address_string="소담동", description="음")
    assert unusable.status_code == 400
    assert "could not suggest" in unusable.json()[0]["description"]
    named = post(city, service_code="waste", address_string="소담동", description="불법주차")
    assert named.json()[0].get("service_code_suggested") is None  # a named code is kept


def test_suggest_reads_objects_mappings_and_tuples() -> None:
    class Answer:
        service_code, confidence, department = "water", 1.7, "상하수도과"

    assert routing.suggest("x", lambda _: Answer()) == routing.Suggestion(
        "water", 1.0, "상하수도과"
    )
    assert routing.suggest("x", lambda _: ("animal", 0.5, None)) == routing.Suggestion(
        "animal", 0.5, "환경과"
    )
    assert routing.suggest("x", lambda _: {"service_code": None}) is None


def test_the_installed_classifier_is_found_by_its_entry_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys
    import types

    module = types.ModuleType(routing.MODULE)
    monkeypatch.setitem(sys.modules, routing.MODULE, module)
    routing.installed_classifier.cache_clear()
    try:
        assert routing.installed_classifier() is None  # no classify/suggest/predict yet
        routing.installed_classifier.cache_clear()
        module.predict = lambda text: ("safety", 0.8, "안전총괄과")  # type: ignore[attr-defined]
        found = routing.installed_classifier()
        assert found is not None
        assert routing.suggest("붕괴 위험", found) == routing.Suggestion(
            "safety", 0.8, "안전총괄과"
        )
    finally:
        routing.installed_classifier.cache_clear()
