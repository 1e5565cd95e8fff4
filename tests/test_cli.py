"""The `cityos` command line and the settings it reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from cityos import __version__, db
from cityos.cli import app
from cityos.config import Settings

runner = CliRunner()


def test_version_prints_the_package_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.output.strip() == __version__


def test_db_upgrade_then_current(database_url: str) -> None:
    result = runner.invoke(app, ["db", "upgrade", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["db", "current", "--database-url", database_url])
    assert result.exit_code == 0
    assert result.output.strip() == db.head_revision()


def test_db_upgrade_makes_the_sqlite_folder(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "folder" / "city.db"
    result = runner.invoke(app, ["db", "upgrade", "--database-url", f"sqlite:///{target}"])
    assert result.exit_code == 0, result.output
    assert target.exists()


def test_a_bad_database_url_is_explained() -> None:
    result = runner.invoke(app, ["db", "upgrade", "--database-url", "mysql://x"])
    assert result.exit_code == 2
    assert "sqlite:///" in result.output
    assert "postgresql://" in result.output


def test_an_unreachable_database_is_reported_not_a_traceback() -> None:
    result = runner.invoke(
        app, ["db", "upgrade", "--database-url", "postgresql://postgres@127.0.0.1:1/none"]
    )
    assert result.exit_code == 1
    assert "migration failed" in result.output


def test_production_refuses_the_placeholder_secret() -> None:
    with pytest.raises(ValidationError, match="CITYOS_SECRET_KEY"):
        Settings(mode="production")
    assert Settings(mode="production", secret_key="x" * 40).mode == "production"


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYOS_DATABASE_URL", "postgres://u@h/db")
    monkeypatch.setenv("CITYOS_PORT", "9000")
    settings = Settings()
    assert settings.database_url == "postgresql://u@h/db"
    assert settings.port == 9000
    assert settings.backend == "postgresql"


def test_first_start_creates_the_admin_once(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cityos.cli import _first_start

    monkeypatch.chdir(tmp_path)
    settings = Settings(database_url=database_url)
    _first_start(settings)
    secret = tmp_path / "var" / "admin-password"
    assert secret.exists()
    assert secret.stat().st_mode & 0o777 == 0o600
    assert secret.read_text().strip() in capsys.readouterr().err
    _first_start(settings)  # second start: nothing new is printed or written
    assert "admin account created" not in capsys.readouterr().err
