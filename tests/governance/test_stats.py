"""The administration dashboard's statistics (GET /complaints/stats) on both backends.

Seeded complaints in a window of March 2025 no other test writes to; every figure the API
returns is checked against a computation made here from the seed itself: Seoul days by
adding nine hours, zones by shapely on the shipped district polygons, H3 cells by h3, SLA
breaches from the seeded times.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any

import h3
import pytest
from shapely.geometry import Point, shape

from cityos.governance import service
from cityos.governance.catalog import BY_CODE
from cityos.governance.intake import NewRequest
from cityos.identity.models import Role
from tests.governance.conftest import City

FIRST, LAST = date(2025, 3, 3), date(2025, 3, 23)  # Monday 3 to Sunday 23 March 2025
KST = timedelta(hours=9)
CODES = ("road", "streetlight", "waste", "parking")


@dataclass
class Seeded:
    """One seeded complaint as the test knows it."""

    id: int
    code: str
    at: datetime  # UTC
    lat: float | None
    lon: float | None
    status: str
    expected: datetime
    closed: datetime | None
    text: str


def _districts() -> list[tuple[str, Any]]:
    text = resources.files("cityos").joinpath("data/sejong/districts.geojson").read_text("utf-8")
    return [(f["properties"]["code"], shape(f["geometry"])) for f in json.loads(text)["features"]]


def _inside_points() -> list[tuple[str, float, float]]:
    """Return one point well inside each of five districts (representative points)."""
    out = []
    for code, polygon in _districts()[:5]:
        p = polygon.representative_point()
        out.append((code, p.y, p.x))
    return out


def _seed(city: City) -> list[Seeded]:
    rng = random.Random(20250303)
    places = _inside_points()
    seeded: list[Seeded] = []

    def file(code: str, at: datetime, place: tuple[float, float] | None, text: str) -> Seeded:
        new = NewRequest(
            service_code=code,
            description=text,
            lat=place[0] if place else None,
            lon=place[1] if place else None,
            address_string=None if place else "세종시 어딘가",
            duplicate_action="new",
        )
        with city.engine.begin() as connection:
            number = service.create(
                connection,
                new=new,
                service=BY_CODE[code],
                suggestion=None,
                reporter_id=None,
                api_key_id=None,
                now=at,
            )
        sla = timedelta(hours=BY_CODE[code].sla_hours)
        item = Seeded(number, code, at, new.lat, new.lon, "received", at + sla, None, text)
        seeded.append(item)
        return item

    def move(item: Seeded, *steps: tuple[str, datetime]) -> None:
        with city.engine.begin() as connection:
            for status, at in steps:
                note = "사유 안내" if status == "rejected" else None
                service.transition(
                    connection,
                    request_id=item.id,
                    to=status,
                    note=note,
                    actor="test",
                    assignee="x",
                    now=at,
                )
        item.status = steps[-1][0]
        if item.status in ("closed", "rejected"):
            item.closed = steps[-1][1]

    start = datetime(2025, 3, 2, 15, 0, tzinfo=UTC)  # 3 March 00:00 KST
    for i in range(48):
        at = start + timedelta(minutes=rng.randrange(0, 21 * 24 * 60))
        code = CODES[i % len(CODES)]
        place = None if i % 9 == 0 else places[rng.randrange(len(places))][1:]
        jitter = (rng.uniform(-5e-4, 5e-4), rng.uniform(-5e-4, 5e-4)) if place else (0, 0)
        point = (place[0] + jitter[0], place[1] + jitter[1]) if place else None
        week = (at + KST).date().isocalendar().week
        word = (
            "가로등" if (week == 12 and i % 2 == 0) or (week == 10 and i % 8 == 0) else "보도블록"
        )
        item = file(code, at, point, f"{word} 문제가 있습니다. 확인 부탁드립니다")
        kind = i % 5
        hours = BY_CODE[code].sla_hours
        worked = (("assigned", at + timedelta(hours=1)), ("in_progress", at + timedelta(hours=2)))
        if kind == 1:  # closed on time
            move(item, *worked, ("closed", at + timedelta(hours=hours - 1)))
        elif kind == 2:  # closed late
            move(item, *worked, ("closed", at + timedelta(hours=hours + 5)))
        elif kind == 3:  # rejected late
            move(item, ("rejected", at + timedelta(hours=hours + 1)))
        elif kind == 4:
            move(item, ("assigned", at + timedelta(hours=1)))
    # The window's edges: 00:00 KST on the first day is in, a second before is not; a
    # complaint at 00:30 KST on Monday 10 March belongs to that day and week, not to Sunday.
    file("other", start, None, "경계 시각 민원")
    file("other", start - timedelta(seconds=1), None, "창 밖 민원 하나")
    file("other", datetime(2025, 3, 9, 15, 30, tzinfo=UTC), None, "월요일 새벽 민원")
    # A name and a phone number written once must not become a topic.
    file("waste", start + timedelta(days=16), None, "홍길동 010-1234-5678 쓰레기 연락 주세요")
    return [s for s in seeded if (s.at + KST).date() >= FIRST]


@pytest.fixture(scope="module")
def seeded(city: City) -> list[Seeded]:
    return _seed(city)


@pytest.fixture(scope="module")
def operator(city: City) -> dict[str, str]:
    return city.make_user(Role.OPERATOR, department="도로과")


def _stats(city: City, headers: dict[str, str], **params: str) -> Any:
    r = city.client.get(
        "/complaints/stats",
        params={"from": FIRST.isoformat(), "to": LAST.isoformat(), **params},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return r.json()


def _seoul_day(at: datetime) -> date:
    return (at + KST).date()


def test_counts_by_code_day_week_zone_match_an_independent_count(
    city: City, seeded: list[Seeded], operator: dict[str, str]
) -> None:
    got = _stats(city, operator)
    assert got["total"] == len(seeded)
    assert got["window"]["start"] == "2025-03-03T00:00:00+09:00"
    assert got["window"]["end"] == "2025-03-24T00:00:00+09:00"

    by_code = {e["service_code"]: e for e in got["by_service_code"]}
    assert len(by_code) == 12
    for code in BY_CODE:
        mine = [s for s in seeded if s.code == code]
        assert by_code[code]["count"] == len(mine), code
        assert by_code[code]["closed"] == sum(s.status == "closed" for s in mine)
        assert by_code[code]["rejected"] == sum(s.status == "rejected" for s in mine)
        assert by_code[code]["open"] == sum(s.status not in ("closed", "rejected") for s in mine)

    days = Counter(_seoul_day(s.at).isoformat() for s in seeded)
    assert [d["date"] for d in got["by_day"]] == [
        (FIRST + timedelta(days=i)).isoformat() for i in range(21)
    ]
    assert {d["date"]: d["count"] for d in got["by_day"]} == {
        (FIRST + timedelta(days=i)).isoformat(): days[(FIRST + timedelta(days=i)).isoformat()]
        for i in range(21)
    }
    assert days["2025-03-10"] >= 1  # the 00:30 KST complaint
    weeks = Counter(
        (_seoul_day(s.at) - timedelta(days=_seoul_day(s.at).weekday())).isoformat() for s in seeded
    )
    assert got["by_week"] == [
        {"week_start": w, "count": weeks[w]} for w in ("2025-03-03", "2025-03-10", "2025-03-17")
    ]

    districts = _districts()
    zones: Counter[str | None] = Counter()
    for s in seeded:
        hit = None
        if s.lat is not None and s.lon is not None:
            hit = next((c for c, poly in districts if poly.contains(Point(s.lon, s.lat))), None)
        zones[hit] += 1
    by_zone = {z["code"]: z["count"] for z in got["by_zone"]["zones"]}
    assert len(by_zone) == 24
    assert by_zone == {code: zones[code] for code, _ in districts}
    assert got["by_zone"]["unlocated"] == zones[None]


def test_hot_spots_are_the_h3_cells_of_the_points(
    city: City, seeded: list[Seeded], operator: dict[str, str]
) -> None:
    for resolution in (8, 9):
        got = _stats(city, operator, resolution=str(resolution))["hot_spots"]
        assert got["resolution"] == resolution
        expected = Counter(
            h3.latlng_to_cell(s.lat, s.lon, resolution) for s in seeded if s.lat is not None
        )
        assert {c["cell"]: c["count"] for c in got["cells"]} == dict(expected)
        counts = [c["count"] for c in got["cells"]]
        assert counts == sorted(counts, reverse=True)
        first = got["cells"][0]
        assert len(first["boundary"]) == 6
        assert h3.latlng_to_cell(*first["center"], resolution) == first["cell"]


def test_sla_breaches_per_code_and_department(
    city: City, seeded: list[Seeded], operator: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    got = _stats(city, operator)["sla"]

    def figures(items: list[Seeded]) -> dict[str, int]:
        open_ = [s for s in items if s.status not in ("closed", "rejected")]
        answered = [s for s in items if s.status in ("closed", "rejected")]
        return {
            "open": len(open_),
            "open_overdue": sum(s.expected < now for s in open_),
            "answered": len(answered),
            "answered_late": sum(s.closed is not None and s.closed > s.expected for s in answered),
        }

    assert {k: got[k] for k in ("open", "open_overdue", "answered", "answered_late")} == figures(
        seeded
    )
    assert got["answered_late"] > 0
    assert got["open_overdue"] > 0
    for entry in got["by_service_code"]:
        mine = figures([s for s in seeded if s.code == entry["service_code"]])
        assert {k: entry[k] for k in mine} == mine, entry["service_code"]
    for entry in got["by_department"]:
        dept = [s for s in seeded if BY_CODE[s.code].department == entry["department"]]
        mine = figures(dept)
        assert {k: entry[k] for k in mine} == mine, entry["department"]


def test_filters_by_zone_and_code(
    city: City, seeded: list[Seeded], operator: dict[str, str]
) -> None:
    code, polygon = _districts()[0]
    inside = [
        s
        for s in seeded
        if s.lat is not None and s.lon is not None and polygon.contains(Point(s.lon, s.lat))
    ]
    assert inside
    got = _stats(city, operator, zone=code)
    assert got["total"] == len(inside)
    assert sum(d["count"] for d in got["by_day"]) == len(inside)
    assert got["by_zone"]["unlocated"] == 0
    roads = _stats(city, operator, zone=code, service_code="road")
    assert roads["total"] == sum(s.code == "road" for s in inside)
    sla = roads["sla"]
    assert sla["open"] + sla["answered"] == roads["total"]


def test_trending_topics_by_week_with_rising_ones_marked(
    city: City, seeded: list[Seeded], operator: dict[str, str]
) -> None:
    weeks = {w["week_start"]: w for w in _stats(city, operator)["trending"]["weeks"]}
    assert set(weeks) == {"2025-03-03", "2025-03-10", "2025-03-17"}

    def planted(week_start: str) -> int:
        start = date.fromisoformat(week_start)
        return sum(
            "가로등" in s.text and start <= _seoul_day(s.at) < start + timedelta(days=7)
            for s in seeded
        )

    for start, week in weeks.items():
        found = {k["keyword"]: k for k in week["keywords"]}
        if planted(start) >= 2:
            assert found["가로등"]["count"] == planted(start)
        words = set(found)
        assert not words & {"홍길동", "1234", "5678", "010"}  # once-used words never show
    lights = {k["keyword"]: k for k in weeks["2025-03-17"]["keywords"]}["가로등"]
    assert lights["previous"] == planted("2025-03-10")
    assert lights["rising"] is (lights["count"] >= 3 and lights["count"] >= 2 * lights["previous"])
    assert lights["rising"] is True
    assert not any(k["rising"] for k in weeks["2025-03-03"]["keywords"])  # nothing to compare


def test_only_staff_see_the_stats(city: City, seeded: list[Seeded]) -> None:
    anonymous = city.client.get("/complaints/stats")
    assert anonymous.status_code == 401
    assert anonymous.json()[0]["code"] == 401
    citizen = city.client.get("/complaints/stats", headers=city.make_user())
    assert citizen.status_code == 403
    keyed = city.client.get("/complaints/stats", headers={"X-API-Key": city.api_key})
    assert keyed.status_code == 403
    admin = city.client.get("/complaints/stats", headers=city.make_user(Role.ADMIN))
    assert admin.status_code == 200
    assert len(admin.json()["by_day"]) == 28  # the default window: the last four weeks


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"from": "2025-13-01"}, "YYYY-MM-DD"),
        ({"to": "yesterday"}, "YYYY-MM-DD"),
        ({"from": "2025-03-10", "to": "2025-03-01"}, "swap them"),
        ({"from": "2023-01-01", "to": "2025-01-01"}, "at most 366"),
        ({"zone": "강남구"}, "24 eup/myeon/dong"),
        ({"service_code": "fireworks"}, "Unknown service_code"),
        ({"resolution": "12"}, "resolution 8 or 9"),
    ],
)
def test_bad_parameters_are_400_with_a_message(
    city: City, operator: dict[str, str], params: dict[str, str], words: str
) -> None:
    r = city.client.get("/complaints/stats", params=params, headers=operator)
    assert r.status_code == 400, r.text
    description = r.json()[0]["description"]
    assert words in description
    assert " / " in description  # English / 한국어
