"""Temporal tests write history dated November 2026 and patch it: keep raw history for a
century here, so the retention horizon (default 90 days before now) never reaches it.

The query modules that write a fleet around one time window share it through ``fleet``
(their ``FLEET``) and tests/hub/temporal/_window.py."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cityos.config import Settings
from tests.conftest import hub_auth
from tests.hub.temporal._window import write_fleet


def temporal_settings(
    request: pytest.FixtureRequest, database_url: str, **more: object
) -> Settings:
    """Return test settings on the module's database (see tests/conftest.py ``settings``)."""
    return Settings(
        database_url=database_url,
        mode="test",
        seed_city=False,
        log_level="warning",
        auth=hub_auth(request),  # type: ignore[arg-type]
        **{"temporal_retention_days": 36500, **more},  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def settings(request: pytest.FixtureRequest, database_url: str) -> Settings:
    """Return the module's settings (a module may override this fixture)."""
    return temporal_settings(request, database_url)


@pytest.fixture(scope="module")
def fleet(request: pytest.FixtureRequest, client: TestClient) -> TestClient:
    """Write the module's ``FLEET`` (temporal entities around _window.WINDOW); return the client."""
    bodies = getattr(request.module, "FLEET", None)
    assert bodies is not None, f"{request.module.__name__} uses fleet but sets no FLEET"
    return write_fleet(client, bodies)
