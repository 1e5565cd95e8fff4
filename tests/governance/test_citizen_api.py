"""What the citizen app asks while writing a complaint: a suggested type, likely duplicates.

``POST /complaints/suggest`` calls the shipped classifier (cityos.governance.classify);
``POST /complaints/duplicates`` applies the POST's own duplicate rule. Both backends.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from cityos.app import create_app
from cityos.config import Settings
from cityos.governance.catalog import BY_CODE
from tests.governance.conftest import BASE, SEJONG, SEOUL, City, post

# 0.00027° of latitude ≈ 30 m north of SEJONG; 0.0014° ≈ 155 m.
NEAR = (SEJONG[0] + 0.00027, SEJONG[1])
FAR = (SEJONG[0] + 0.0014, SEJONG[1])


def suggest(city: City, description: object) -> tuple[int, object]:
    r = city.client.post("/complaints/suggest", json={"description": description})
    return r.status_code, r.json()


def test_the_classifier_suggests_a_code_with_both_names(city: City) -> None:
    status, answer = suggest(city, "집 앞 가로등이 밤새 꺼져 있어서 길이 너무 어두워요")
    assert status == 200, answer
    assert isinstance(answer, dict)
    assert answer["service_code"] == "streetlight"
    assert answer["service_name_ko"] == "가로등·보안등"
    assert answer["service_name_en"] == "Street and security lights"
    assert answer["department"] == "도로과"
    assert 0.5 < answer["confidence"] <= 1.0
    runners = [a["service_code"] for a in answer["alternatives"]]
    assert len(runners) == 2
    assert "streetlight" not in runners
    assert all(code in BY_CODE for code in runners)
    assert all(a["confidence"] <= answer["confidence"] for a in answer["alternatives"])
    # The shipped classifier is trained on Korean (docs/governance/classifier.md, limits): an
    # English text still gets an answer, with a low confidence the app does not auto-apply.
    status, answer = suggest(city, "There is a huge pothole on the road in front of the school")
    assert status == 200, answer
    assert isinstance(answer, dict)
    assert answer["service_code"] in BY_CODE


@pytest.mark.parametrize(
    ("description", "says"),
    [
        ("", "Send description"),
        ("   ", "Send description"),
        ("가" * 4001, "at most 4000"),
        ("가로등\x07고장", "control characters"),
    ],
)
def test_a_bad_description_is_a_bilingual_400(city: City, description: str, says: str) -> None:
    status, answer = suggest(city, description)
    assert status == 400
    assert isinstance(answer, list)
    assert says in answer[0]["description"]
    assert " / " in answer[0]["description"]  # English / 한국어


def test_a_form_body_works_and_a_list_body_is_refused(city: City) -> None:
    r = city.client.post("/complaints/suggest", data={"description": "불법주차 차량 신고합니다"})
    assert r.status_code == 200, r.text
    assert r.json()["service_code"] == "parking"
    r = city.client.post("/complaints/suggest", json=["가로등"])
    assert r.status_code == 400
    assert "JSON object" in r.json()[0]["description"]


def test_without_a_classifier_suggest_says_so(city: City, monkeypatch: pytest.MonkeyPatch) -> None:
    from cityos.governance import api as open311_api

    monkeypatch.setattr(open311_api, "installed_classifier", lambda: None)
    status, answer = suggest(city, "가로등이 꺼졌어요")
    assert status == 503
    assert isinstance(answer, list)
    assert "not installed" in answer[0]["description"]
    assert "자동 분류" in answer[0]["description"]


def test_a_classifier_inventing_a_code_is_not_passed_on(city: City) -> None:
    city.client.app.state.complaint_classifier = lambda text: ("pothole", 0.9, "?")  # type: ignore[attr-defined]
    try:
        status, answer = suggest(city, "도로가 파였어요")
    finally:
        city.client.app.state.complaint_classifier = None  # type: ignore[attr-defined]
    assert status == 400
    assert isinstance(answer, list)
    assert "choose one" in answer[0]["description"]


def file(city: City, text: str, point: tuple[float, float] = SEJONG, code: str = "road") -> str:
    r = post(
        city,
        service_code=code,
        lat=str(point[0]),
        long=str(point[1]),
        description=text,
        duplicate_action="new",
    )
    assert r.status_code == 201, r.text
    return str(r.json()[0]["service_request_id"])


def duplicates(city: City, **fields: str) -> tuple[int, list[dict[str, object]]]:
    r = city.client.post("/complaints/duplicates", json=fields)
    return r.status_code, r.json()


def test_duplicates_are_the_posts_own_rule_nearest_first(city: City) -> None:
    text = f"세종청사 앞 도로에 깊은 포트홀 {datetime.now(UTC).timestamp()}"
    first = file(city, text)
    second = file(city, text, NEAR)
    status, found = duplicates(
        city,
        service_code="road",
        lat=str(NEAR[0]),
        long=str(NEAR[1]),
        description="청사 앞 도로 포트홀이 깊어요",
    )
    assert status == 200, found
    ids = [entry["service_request_id"] for entry in found]
    assert ids[:2] == [second, first]  # nearest first
    assert found[0]["distance_m"] == 0
    assert 25 <= int(found[1]["distance_m"]) <= 35  # type: ignore[call-overload]
    assert found[0]["workflow_status"] == "received"
    assert float(found[0]["similarity"]) >= 0.12  # type: ignore[arg-type]
    # What the check offers is what the POST itself answers 409 for.
    r = post(
        city,
        service_code="road",
        lat=str(NEAR[0]),
        long=str(NEAR[1]),
        description="청사 앞 도로 포트홀이 깊어요",
    )
    assert r.status_code == 409
    assert f"request {second}" in r.json()[0]["description"]


def test_no_duplicate_of_another_code_place_text_or_a_closed_complaint(city: City) -> None:
    stamp = datetime.now(UTC).timestamp()
    file(city, f"공원 놀이터 그네가 부서졌어요 {stamp}", SEJONG, "park")
    base = {"lat": str(SEJONG[0]), "long": str(SEJONG[1])}
    assert duplicates(city, service_code="waste", description="놀이터 그네 부서짐", **base) == (
        200,
        [],
    )
    far = {"lat": str(FAR[0]), "long": str(FAR[1])}
    assert duplicates(city, service_code="park", description="놀이터 그네 부서짐", **far) == (
        200,
        [],
    )
    status, found = duplicates(city, service_code="park", description="벤치 페인트", **base)
    assert (status, found) == (200, [])


def test_a_closed_complaint_is_not_offered(city: City) -> None:
    from cityos.identity.models import Role

    text = f"하수구 맨홀 뚜껑이 깨져서 물이 넘쳐요 {datetime.now(UTC).timestamp()}"
    request_id = file(city, text, SEJONG, "water")
    admin = city.make_user(Role.ADMIN)
    for step in ("assigned", "in_progress", "closed"):
        r = city.client.post(
            f"/complaints/requests/{request_id}/transitions", json={"status": step}, headers=admin
        )
        assert r.status_code == 200, r.text
    base = {"lat": str(SEJONG[0]), "long": str(SEJONG[1])}
    status, found = duplicates(city, service_code="water", description=text, **base)
    assert status == 200
    assert request_id not in [entry["service_request_id"] for entry in found]


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"lat": "36.5", "long": "127.28"}, "Send service_code"),
        ({"service_code": "pothole", "lat": "36.5", "long": "127.28"}, "is unknown"),
        ({"service_code": "road"}, "Send lat and long"),
        ({"service_code": "road", "lat": "36.5"}, "Send lat and long"),
        ({"service_code": "road", "lat": "north", "long": "127.28"}, "number of degrees"),
        ({"service_code": "road", "lat": str(SEOUL[0]), "long": str(SEOUL[1])}, "outside Sejong"),
    ],
)
def test_a_bad_duplicate_check_is_a_bilingual_400(
    city: City, fields: dict[str, str], says: str
) -> None:
    status, answer = duplicates(city, **fields)
    assert status == 400
    assert says in str(answer[0]["description"])


def test_the_writing_routes_are_rate_limited(city: City, settings: Settings) -> None:
    limited = settings.model_copy(
        update={"rate_limit": "on", "rate_limit_ip_burst": 3, "rate_limit_ip_per_second": 0.01}
    )
    with TestClient(create_app(limited)) as client:
        body = {"service_code": "road", "lat": "36.48", "long": "127.289"}
        codes = [client.post("/complaints/duplicates", json=body).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = client.post("/complaints/suggest", json={"description": "가로등"})
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) >= 1


def test_my_complaints_list_the_joined_ones_on_request(city: City) -> None:
    """A +1 (the join the app offers) lists the complaint under ?joined=true, marked joined."""
    first = file(city, f"보도블록이 들떠 있어요 {datetime.now(UTC).timestamp()}")
    citizen = city.make_user()
    r = city.client.post(f"{BASE}/requests/{first}/join.json", headers=citizen)
    assert r.status_code == 200, r.text
    assert r.json()[0]["supporters"] == 1
    filed = city.client.post(
        f"{BASE}/requests.json",
        json={"service_code": "other", "address_string": "조치원읍", "duplicate_action": "new"},
        headers=citizen,
    )
    assert filed.status_code == 201, filed.text
    own = filed.json()[0]["service_request_id"]
    plain = city.client.get("/complaints/me/requests", headers=citizen).json()
    assert [(m["service_request_id"], "joined" in m) for m in plain] == [(own, False)]
    both = city.client.get("/complaints/me/requests?joined=true", headers=citizen).json()
    assert [(m["service_request_id"], m["joined"]) for m in both] == [(own, False), (first, True)]
    other = city.make_user()
    assert city.client.get("/complaints/me/requests?joined=true", headers=other).json() == []


def test_the_citizen_app_knows_the_codes_states_and_photo_limits_the_server_uses() -> None:
    """The page's type list, status names and photo pre-check match the server's."""
    import json
    import re
    from importlib.resources import files

    from cityos.governance import media
    from cityos.governance.catalog import SERVICES
    from cityos.governance.models import STATUS_KO, Status

    static = files("cityos.web") / "static"
    ko = json.loads((static / "i18n" / "complaints.ko.json").read_text("utf-8"))
    en = json.loads((static / "i18n" / "complaints.en.json").read_text("utf-8"))
    for found in SERVICES:
        assert ko[f"complaints.service.{found.code}"] == found.name_ko
        assert en[f"complaints.service.{found.code}"] == found.name_en
    for status in Status:
        assert ko[f"complaints.status.{status.value}"] == STATUS_KO[status]
        assert en[f"complaints.status.{status.value}"]
    script = (static / "js" / "complaints.js").read_text("utf-8")
    codes = re.search(r"export const CODES = \[(.*?)\];", script, re.S)
    assert codes is not None
    assert re.findall(r'"(\w+)"', codes.group(1)) == [s.code for s in SERVICES]
    types = re.search(r"export const PHOTO_TYPES = \[(.*?)\];", script)
    assert types is not None
    assert set(re.findall(r'"([\w/]+)"', types.group(1))) == set(media.TYPES)
    assert "export const MAX_PHOTO_BYTES = 5 * 1024 * 1024;" in script
    assert media.MAX_BYTES == 5 * 1024 * 1024
