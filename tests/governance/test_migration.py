"""Migration 0008 (complaints): the tables match the models, and go down and up again."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from cityos import db
from cityos.config import Settings
from cityos.governance.models import metadata


def test_tables_and_columns_match_the_models(engine: Engine) -> None:
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert columns == {c.name for c in table.columns}, table.name


def test_downgrade_and_upgrade_again(engine: Engine, settings: Settings) -> None:
    with engine.begin() as connection:
        config = db._alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0007_jobs")
    assert db.current_revision(settings) == "0007_jobs"
    assert not sa.inspect(engine).has_table("complaints_requests")
    db.upgrade(settings)
    assert db.current_revision(settings) == db.head_revision()
    assert sa.inspect(engine).has_table("complaints_media")
