"""Temporal tests write history dated November 2026 and patch it: keep raw history for a
century here, so the retention horizon (default 90 days before now) never reaches it."""

from __future__ import annotations

import pytest

from cityos.config import Settings
from tests.conftest import hub_auth


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
