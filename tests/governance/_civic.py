"""Helpers of the poll and proposal tests: an app on each backend with a hand-moved clock,
and people of every kind (citizens, verified residents of a zone, operators)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from cityos import db
from cityos.app import create_app
from cityos.config import Settings
from cityos.identity import service
from cityos.identity.models import Principal, Role

PASSWORD = "correct horse battery"
BORAM = "36110103"  # 보람동
JOCHIWON = "36110250"  # 조치원읍
BORAM_POINT = [127.289797, 36.477793]  # the twin's centroid of 보람동
_names = itertools.count()


@dataclass
class Clock:
    """A clock the test moves by hand (``app.state.identity_clock``); starts at real time."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Person:
    """A test user: id, login headers and the principal the services take."""

    id: str
    headers: dict[str, str]
    principal: Principal


@pytest.fixture(scope="module")
def civic_settings(database_url: str) -> Settings:
    """Settings whose proposals need 2 supports (0.01 % of a zone, at least 2)."""
    return Settings(
        database_url=database_url,
        mode="test",
        seed_city=False,
        log_level="warning",
        auth="off",
        proposal_support_percent=0.001,
        proposal_support_minimum=2,
    )


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def api(civic_settings: Settings, clock: Clock) -> Iterator[TestClient]:
    """Yield a client of the whole CityOS app on the module's database."""
    app = create_app(civic_settings)
    app.state.identity_clock = clock
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def engine(api: TestClient, civic_settings: Settings) -> Iterator[Engine]:
    """Yield an engine on the module's (migrated) database."""
    made = db.make_engine(civic_settings)
    yield made
    made.dispose()


class People:
    """Makes users of each kind through the services and logs them in through the API."""

    def __init__(self, api: TestClient, engine: Engine, clock: Clock) -> None:
        self.api, self.engine, self.clock = api, engine, clock
        self._operator: Person | None = None

    def make(self, *roles: Role, department: str | None = None) -> Person:
        """Create a user with ``roles`` and return them logged in."""
        name = f"civic{next(_names):05d}"
        with self.engine.begin() as connection:
            user = service.create_user(
                connection,
                username=name,
                password=PASSWORD,
                roles={Role.CITIZEN, *roles},
                department=department,
                actor="test",
                now=self.clock(),
            )
        r = self.api.post("/auth/token", data={"username": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        principal = Principal(
            kind="user",
            id=user.id,
            name=name,
            roles=frozenset({Role.CITIZEN, *roles}),
            department=department,
        )
        return Person(user.id, headers, principal)

    @property
    def operator(self) -> Person:
        """Return the module's operator (of 시민소통과)."""
        if self._operator is None:
            self._operator = self.make(Role.OPERATOR, department="시민소통과")
        return self._operator

    def citizen(self) -> Person:
        """Return a registered citizen who is not a verified resident."""
        return self.make()

    def resident(self, zone: str = BORAM) -> Person:
        """Return a verified resident whose home zone an operator recorded through the API."""
        person = self.make(Role.RESIDENT)
        r = self.api.put(
            f"/api/v1/residences/{person.id}",
            json={"zone_code": zone, "note": "주민등록등본 확인"},
            headers=self.operator.headers,
        )
        assert r.status_code == 200, r.text
        return person


@pytest.fixture(scope="module")
def people(api: TestClient, engine: Engine, clock: Clock) -> People:
    return People(api, engine, clock)


def assert_bilingual_error(response: object, status: int, code: str | None = None) -> dict:
    """Check a refusal: the status, a JSON body with English and Korean (Hangul) detail."""
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["detail"]
    assert body["detail_ko"]
    assert any("\uac00" <= ch <= "\ud7a3" for ch in body["detail_ko"]), body
    if code is not None:
        assert body["error"] == code, body
    return body
