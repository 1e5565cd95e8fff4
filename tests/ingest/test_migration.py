"""Migration 0010: the dead letters' ``received_at`` index, used by the purge, down and up again."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from cityos import db
from cityos.config import Settings
from cityos.ingest.deadletters import DeadLetter, purge, record
from cityos.ingest.models import ingest_dead_letters

INDEX = "ingest_dead_letters_received_at"
PURGE = "DELETE FROM ingest_dead_letters WHERE received_at < 1000"


def indexes(engine: Engine) -> dict[str, list[str | None]]:
    found = sa.inspect(engine).get_indexes("ingest_dead_letters")
    return {i["name"]: i["column_names"] for i in found if i["name"]}


def purge_plan(settings: Settings) -> str:
    """Return the query plan of the retention purge, as text (on a new connection)."""
    engine = db.make_engine(settings)
    try:
        return _plan(engine)
    finally:
        engine.dispose()


def _plan(engine: Engine) -> str:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {PURGE}").fetchall()
            return " ".join(str(r[-1]) for r in rows)
        # a tiny table is cheaper to scan: ask whether the index can serve the purge at all
        connection.exec_driver_sql("SET enable_seqscan = off")
        rows = connection.exec_driver_sql(f"EXPLAIN {PURGE}").fetchall()
        connection.rollback()
        return " ".join(str(r[0]) for r in rows)


def test_the_index_exists_and_serves_the_purge(engine: Engine, settings: Settings) -> None:
    assert db.current_revision(settings) == db.head_revision()
    assert indexes(engine)[INDEX] == ["received_at"]
    assert {i.name for i in ingest_dead_letters.indexes} == {INDEX}  # the model says so too
    assert INDEX in purge_plan(settings)


def test_downgrade_drops_only_the_index_and_upgrade_restores_it(
    engine: Engine, settings: Settings
) -> None:
    letter = DeadLetter(
        received_at=500,
        transport="http",
        reason="malformed_payload",
        detail="test",
        device_id="pm-migration",
        topic=None,
        payload=b"{",
    )
    with engine.begin() as connection:
        record(connection, letters=[letter])
    with engine.begin() as connection:
        config = db._alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0009_civic")
    assert db.current_revision(settings) == "0009_civic"
    assert INDEX not in indexes(engine)
    assert INDEX not in purge_plan(settings)
    assert "ingest_dead_letters_reason" in indexes(engine)  # 0005's indexes stay
    with engine.connect() as connection:  # the letters stay too
        count = connection.execute(sa.select(sa.func.count()).select_from(ingest_dead_letters))
        assert count.scalar_one() >= 1
    assert db.upgrade(settings) == db.head_revision()
    assert indexes(engine)[INDEX] == ["received_at"]
    with engine.begin() as connection:
        assert purge(connection, before=1000) >= 1
