"""First start: ensure_admin makes one admin with a random password saved with mode 600."""

from __future__ import annotations

import stat
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from cityos.config import Settings
from cityos.identity import ensure_admin, service
from tests.identity.conftest import bearer, login


def test_ensure_admin_once(
    settings: Settings, engine: Engine, tmp_path: Path, api: TestClient
) -> None:
    var = tmp_path / "var"
    password = ensure_admin(settings, engine, var)
    assert password is not None
    assert len(password) >= 20
    saved = var / "admin-password"
    assert saved.read_text().strip() == password
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert ensure_admin(settings, engine, tmp_path / "other") is None
    assert not (tmp_path / "other" / "admin-password").exists()
    with engine.connect() as connection:
        admins = [u for u in service.list_users(connection) if "admin" in u.roles]
    assert [u.username for u in admins] == ["admin"]
    me = api.get("/auth/me", headers=bearer(login(api, "admin", password))).json()
    assert me["roles"] == ["admin"]


def test_an_old_wide_password_file_is_narrowed(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    from cityos.identity.bootstrap import _write_secret

    path = tmp_path / "admin-password"
    path.write_text("old")
    path.chmod(0o644)
    _write_secret(path, "new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "new\n"
