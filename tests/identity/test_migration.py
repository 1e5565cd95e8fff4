"""Migrations 0002 (identity), 0006 (privacy) and 0007 (jobs): the tables match the models, and
they go down and up again on both backends."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from cityos import db
from cityos.config import Settings
from cityos.identity.models import metadata
from cityos.jobs import metadata as jobs_metadata
from cityos.privacy.models import metadata as privacy_metadata


def test_the_database_is_at_the_head(engine: Engine, settings: Settings) -> None:
    assert db.current_revision(settings) == db.head_revision()


def test_tables_and_columns_match_the_models(engine: Engine) -> None:
    inspector = sa.inspect(engine)
    tables = [
        *metadata.sorted_tables,
        *privacy_metadata.sorted_tables,
        *jobs_metadata.sorted_tables,
    ]
    for table in tables:
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert columns == {c.name for c in table.columns}, table.name
    assert {"username"} in [
        set(u["column_names"]) for u in inspector.get_unique_constraints("identity_users")
    ] or any(
        i["unique"] and i["column_names"] == ["username"]
        for i in inspector.get_indexes("identity_users")
    )


def test_times_come_back_in_utc(engine: Engine) -> None:
    from datetime import datetime, timedelta, timezone

    from cityos.identity import audit

    seoul = datetime(2026, 11, 26, 18, 0, tzinfo=timezone(timedelta(hours=9)))
    with engine.begin() as connection:
        audit.record(connection, actor="system", action="utc_probe", reason="test", now=seoul)
    with engine.connect() as connection:
        entry = next(e for e in audit.entries(connection) if e.action == "utc_probe")
    assert entry.at == seoul
    assert entry.at.utcoffset() == timedelta(0)
    assert entry.at.hour == 9


def test_downgrade_and_upgrade_again(engine: Engine, settings: Settings) -> None:
    with engine.begin() as connection:
        config = db._alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0001_hub")
    assert db.current_revision(settings) == "0001_hub"
    assert not sa.inspect(engine).has_table("identity_users")
    assert db.upgrade(settings) == db.head_revision()
    assert sa.inspect(engine).has_table("identity_audit")
    assert sa.inspect(engine).has_table("privacy_records")


def test_privacy_goes_down_and_up_alone(engine: Engine, settings: Settings) -> None:
    with engine.begin() as connection:
        config = db._alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0005_ingest")
    assert not sa.inspect(engine).has_table("privacy_records")
    assert sa.inspect(engine).has_table("identity_audit")
    assert db.upgrade(settings) == db.head_revision()
    assert sa.inspect(engine).has_table("privacy_records")


def test_jobs_go_down_and_up_alone(engine: Engine, settings: Settings) -> None:
    with engine.begin() as connection:
        config = db._alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0006_privacy")
    assert not sa.inspect(engine).has_table("jobs_runs")
    assert sa.inspect(engine).has_table("privacy_records")
    assert db.upgrade(settings) == db.head_revision()
    assert sa.inspect(engine).has_table("jobs_runs")
