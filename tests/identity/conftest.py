"""Identity fixtures: an app with the identity router on each backend, a clock, users."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from cityos.app import create_app
from cityos.config import Settings
from cityos.identity import close_engine, service
from cityos.identity.api import identity_error_response, router
from cityos.identity.dependencies import OptionalUser
from cityos.identity.errors import IdentityError
from cityos.identity.models import Role

PASSWORD = "correct horse battery"
_names = itertools.count()


@dataclass
class Clock:
    """A clock the test moves by hand; the app reads it through ``app.state.identity_clock``."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 26, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def unique(prefix: str = "user") -> str:
    """Return a username not used before in this test run."""
    return f"{prefix}{next(_names):04d}"


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def api(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    """Yield a client on CityOS with the identity router mounted and a hand-moved clock."""
    app = create_app(settings)
    app.include_router(router)

    @app.get("/test/optional")
    def optional(principal: OptionalUser) -> dict[str, str | None]:
        return {"id": principal.id if principal else None}

    # Routes outside the identity router map identity errors themselves (the hub will, as
    # ProblemDetails); this test route uses the identity router's own rendering.
    app.add_exception_handler(IdentityError, lambda _r, e: identity_error_response(e))  # type: ignore[arg-type]
    app.state.identity_clock = clock
    with TestClient(app) as client:
        yield client
    close_engine(app)


@pytest.fixture
def make_user(engine: Engine, clock: Clock) -> Callable[..., str]:
    """Return a function that creates a user (roles, department) and returns the username."""

    def make(*roles: Role, department: str | None = None, password: str = PASSWORD) -> str:
        name = unique(roles[0].value if roles else "citizen")
        with engine.begin() as connection:
            service.create_user(
                connection,
                username=name,
                password=password,
                roles=set(roles) or {Role.CITIZEN},
                department=department,
                actor="test",
                now=clock.now,
            )
        return name

    return make


def login(api: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Log in through the API and return the token response (asserting success)."""
    r = api.post("/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return r.json()


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    """Return the Authorization header for a token response."""
    return {"Authorization": f"Bearer {tokens['access_token']}"}
