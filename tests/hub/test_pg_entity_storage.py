"""Migration 0014 (hub_entities' fillfactor and attrs compression on PostgreSQL) and the HOT
update of an attribute PATCH that it and the sorted ``attr_names`` make possible."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from cityos import db
from cityos.config import Settings
from cityos.hub.store.base import Entity

PREVIOUS = "0013_temporal_changes"
TENANT = "urn:ngsi-ld:tenant:storage-test"
NOW = "2026-12-01T00:00:00.000000Z"


def storage(engine: Engine) -> tuple[Any, Any] | None:
    """Return hub_entities' (reloptions, attrs' compression) on PostgreSQL; None on SQLite
    (after checking that the table is there, untouched by the migration)."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            assert "hub_entities" in sa.inspect(connection).get_table_names()
            return None
        row = connection.exec_driver_sql(
            "SELECT c.reloptions, a.attcompression FROM pg_class c JOIN pg_attribute a "
            "ON a.attrelid = c.oid WHERE c.relname = 'hub_entities' AND a.attname = 'attrs'"
        ).one()
        return row[0], row[1]


def migrate(engine: Engine, revision: str, *, down: bool) -> None:
    with engine.begin() as connection:
        config = db._alembic_config()
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def test_the_migration_leaves_room_for_hot_updates_and_compresses_with_lz4(
    engine: Engine, settings: Settings
) -> None:
    assert db.current_revision(settings) == db.head_revision()
    found = storage(engine)
    if found is not None:
        assert found == (["fillfactor=80"], "l")


def test_downgrade_restores_the_defaults_and_upgrade_sets_them_again(
    engine: Engine, settings: Settings
) -> None:
    migrate(engine, PREVIOUS, down=True)
    assert db.current_revision(settings) == PREVIOUS
    found = storage(engine)
    if found is not None:
        assert found == (None, "")  # no options; the server's default_toast_compression
    migrate(engine, "head", down=False)
    assert db.current_revision(settings) == db.head_revision()
    found = storage(engine)
    if found is not None:
        assert found == (["fillfactor=80"], "l")


def reading(name: str, value: float) -> list[dict[str, Any]]:
    return [{"type": "Property", "value": value, "createdAt": NOW, "modifiedAt": NOW}]


@pytest.mark.backend("postgresql")
def test_an_attribute_patch_is_a_hot_update(engine: Engine, settings: Settings) -> None:
    """The first write after a create keeps every indexed column as it was, whatever order
    the attributes came in (a body's on create, jsonb's once read back): PostgreSQL updates
    the row in place on its page (HOT), no index entries; and attr_names is stored sorted."""
    from cityos.hub.store.postgres import PostgresStore

    names = [f"https://example.org/{n}" for n in ("temperature", "pm25", "no2", "airQuality")]
    entity: Entity = {
        "id": "urn:ngsi-ld:Sensor:hot-1",
        "type": ["https://example.org/Sensor"],
        "createdAt": NOW,
        "modifiedAt": NOW,
        "attrs": {name: reading(name, float(i)) for i, name in enumerate(names)},
    }
    assert list(entity["attrs"]) != sorted(entity["attrs"])  # not in the stored order
    store = PostgresStore(settings.database_url, pool_size=1)
    try:
        with store.transaction(TENANT) as tx:
            tx.insert([entity])
        with store.transaction(TENANT) as tx:
            loaded = tx.get_many([entity["id"]])[entity["id"]]
            changed = dict(loaded)
            changed["attrs"] = dict(loaded["attrs"]) | {names[1]: reading(names[1], 42.0)}
            tx.replace([changed])
            row = tx.connection.execute(
                "SELECT pg_stat_get_xact_tuples_updated('hub_entities'::regclass), "
                "pg_stat_get_xact_tuples_hot_updated('hub_entities'::regclass), "
                "(SELECT attr_names FROM hub_entities WHERE tenant = %s AND id = %s)",
                (TENANT, entity["id"]),
            ).fetchone()
        assert row is not None
        assert (row[0], row[1]) == (1, 1)
        assert row[2] == sorted(names)
        stored = store.get(TENANT, entity["id"])
        assert stored is not None
        assert stored["attrs"][names[1]][0]["value"] == 42.0
    finally:
        store.close()


@pytest.mark.backend("postgresql")
def test_an_attribute_patch_stores_what_a_whole_rewrite_stores(
    engine: Engine, settings: Settings
) -> None:
    """``replace(changed=...)`` sends only the changed attributes (``attrs || $x``): the row
    it leaves is the one the whole-entity UPDATE leaves, to the jsonb text, the timestamps
    and every other column, and it is a HOT update too."""
    from cityos.hub.store.postgres import PostgresStore

    names = [f"https://example.org/{n}" for n in ("temperature", "pm25", "no2", "a", "bb")]
    nested = {"type": "Property", "value": 1.5, "unitCode": "C", "createdAt": NOW}
    ids = ["urn:ngsi-ld:Sensor:delta-1", "urn:ngsi-ld:Sensor:delta-2"]
    store = PostgresStore(settings.database_url, pool_size=1)
    try:
        with store.transaction(TENANT) as tx:
            tx.insert(
                [
                    {
                        "id": entity_id,
                        "type": ["https://example.org/Sensor"],
                        "scope": ["/a/b"],
                        "createdAt": NOW,
                        "modifiedAt": NOW,
                        "attrs": {name: reading(name, 1.0) for name in names},
                    }
                    for entity_id in ids
                ]
            )
        later = "2026-12-01T00:00:01.250000Z"
        new = [
            {"type": "Property", "value": 10.0, "observedAt": later, "accuracy": nested}
            | {"createdAt": NOW, "modifiedAt": later, "datasetId": "urn:x:1"},
            {"type": "Property", "value": -0.0, "createdAt": NOW, "modifiedAt": later},
        ]
        for entity_id, changed in zip(ids, [(names[1],), None], strict=True):
            with store.transaction(TENANT) as tx:
                entity = dict(tx.get_many([entity_id])[entity_id])
                entity["attrs"] = dict(entity["attrs"]) | {names[1]: new}
                entity["modifiedAt"] = later
                hot = "SELECT pg_stat_get_xact_tuples_hot_updated('hub_entities'::regclass)"
                before = tx.connection.execute(hot).fetchone()  # (counts not yet reported)
                tx.replace([entity], changed=changed)
                after = tx.connection.execute(hot).fetchone()
                assert before is not None
                assert after == (before[0] + 1,)
        with store.pool.connection() as conn:
            rows = conn.execute(
                "SELECT types, scopes, attr_names, created_at, modified_at, attrs::text "
                "FROM hub_entities WHERE tenant = %s AND id = ANY(%s) ORDER BY id",
                (TENANT, ids),
            ).fetchall()
        assert rows[0] == rows[1]
        stored = store.get(TENANT, ids[0])
        assert stored is not None
        assert stored["attrs"][names[1]] == new
        assert stored["modifiedAt"] == later
    finally:
        store.close()


@pytest.mark.backend("postgresql")
def test_attribute_writes_that_send_only_changed_attributes_store_the_whole_entity(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service's writes that pass ``changed`` (PATCH of one attribute, PUT of one,
    PATCH …/attrs of existing ones) leave the row a whole rewrite of the entity they wrote
    would: the jsonb, the sorted attribute names, modifiedAt."""
    from cityos.hub import service
    from cityos.hub.context import ContextResolver
    from cityos.hub.store import postgres
    from cityos.hub.store.postgres import PostgresStore

    written: list[tuple[bytes, Any]] = []  # (the entity as the service wrote it, changed)
    replace = postgres._PostgresTransaction.replace

    def recording(self: Any, entities: list[Entity], **kwargs: Any) -> None:
        written.append((orjson.dumps(entities[0]), kwargs.get("changed")))
        replace(self, entities, **kwargs)

    monkeypatch.setattr(postgres._PostgresTransaction, "replace", recording)
    ctx = ContextResolver(settings).resolve(None)
    store = PostgresStore(settings.database_url, pool_size=1)
    entity_id = "urn:ngsi-ld:Sensor:service-delta"
    try:
        service.create_entity(
            store,
            TENANT,
            {
                "id": entity_id,
                "type": "Sensor",
                "temperature": {"type": "Property", "value": 20.5, "unitCode": "CEL"},
                "pm25": [
                    {"type": "Property", "value": 3},
                    {"type": "Property", "value": 4, "datasetId": "urn:ds:b"},
                ],
                "name": {"type": "Property", "value": "a"},
            },
            ctx,
        )
        service.patch_attribute(store, TENANT, entity_id, "temperature", {"value": 21.0}, ctx)
        service.replace_attribute(
            store, TENANT, entity_id, "pm25", {"type": "Property", "value": 9}, ctx
        )
        service.update_attributes(
            store,
            TENANT,
            entity_id,
            {"name": {"type": "Property", "value": "b"}, "absent": {"value": 1}},
            ctx,
        )
        assert [changed is not None for _, changed in written] == [True, True, True]
        entity = orjson.loads(written[-1][0])  # as the last write made it
        record = postgres._entity_record(entity)
        with store.pool.connection() as conn:
            row = conn.execute(
                "SELECT attrs::text = %s::jsonb::text, attr_names, "
                "modified_at = %s::timestamptz FROM hub_entities "
                "WHERE tenant = %s AND id = %s",
                (orjson.dumps(record["attrs"]).decode(), entity["modifiedAt"], TENANT, entity_id),
            ).fetchone()
        assert row == (True, sorted(entity["attrs"]), True)
        pm25 = entity["attrs"][ctx.expand("pm25")]
        assert sorted(i["value"] for i in pm25) == [4, 9]
        assert entity["attrs"][ctx.expand("name")][0]["value"] == "b"
        assert entity["attrs"][ctx.expand("temperature")][0]["value"] == 21.0
    finally:
        store.close()
