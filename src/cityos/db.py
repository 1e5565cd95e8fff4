"""Database URLs and schema migrations (Alembic) for both backends."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from cityos.config import Settings


def sqlalchemy_url(database_url: str) -> str:
    """Return the SQLAlchemy URL for a CityOS database URL (psycopg 3 for PostgreSQL)."""
    if database_url.startswith("postgresql://"):
        return "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    return database_url


def make_engine(settings: Settings) -> Engine:
    """Return a SQLAlchemy engine for migrations, creating the SQLite folder if needed."""
    if settings.backend == "sqlite":
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    return create_engine(sqlalchemy_url(settings.database_url))


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(str(files("cityos") / "migrations"))))
    return config


def head_revision() -> str:
    """Return the newest migration revision shipped with this version of CityOS."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(settings: Settings) -> str | None:
    """Return the database's migration revision, or None for an empty database."""
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def upgrade(settings: Settings, revision: str = "head") -> str:
    """Migrate the database to ``revision`` (default: newest) and return the new revision."""
    engine = make_engine(settings)
    try:
        with engine.begin() as connection:
            if settings.backend == "sqlite":
                connection.execute(text("PRAGMA journal_mode=WAL"))
            config = _alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        with engine.connect() as connection:
            now = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    return now or "base"
