"""SQLite builds the history of new entities in SQL (record._SQLITE_NEW_*): the change rows
and entity rows it writes are the ones the Python path (``change_row``, ``split_wide``,
``_sqlite_entities``) writes, element for element, for every kind of instance and time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cityos.config import Settings
from cityos.hub._time import utc_now
from cityos.hub.store import HubStore, open_store
from cityos.hub.temporal import TemporalRecorder
from cityos.hub.temporal._db import read_db

CORE = "https://uri.etsi.org/ngsi-ld/default-context/"

pytestmark = pytest.mark.backend("sqlite")


@pytest.fixture
def store(client: TestClient, settings: Settings) -> Iterator[HubStore]:
    opened = open_store(settings)
    try:
        yield opened
    finally:
        opened.close()


def _recorder(store: HubStore) -> TemporalRecorder:
    return next(x for x in store.listeners if isinstance(x, TemporalRecorder))


def _p(value: Any, stamp: str, **more: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, "createdAt": stamp, "modifiedAt": stamp} | more


def _entities(stamp: str) -> list[dict[str, Any]]:
    """New entities covering what a change row holds: numbers (int, float, bool, big,
    negative), other kinds, observedAt spelt every way, datasetIds, several instances."""

    def entity(name: str, attrs: dict[str, list[dict[str, Any]]], **more: Any) -> dict[str, Any]:
        return {
            "id": f"urn:ngsi-ld:Sensor:{name}",
            "type": [f"{CORE}Sensor"],
            "createdAt": stamp,
            "modifiedAt": stamp,
            "attrs": {CORE + k: v for k, v in attrs.items()},
        } | more

    obs = {"observedAt": "2026-11-25T00:00:00Z"}
    return [
        entity(
            "plain",
            {
                "pm25": [_p(21.5, stamp, unitCode="GQ", **obs)],
                "aqi": [_p(57, stamp)],
                "zero": [_p(0, stamp)],
                "neg": [_p(-3, stamp)],
                "big": [_p(2**62, stamp)],
                "tiny": [_p(0.30000000000000004, stamp)],
                "exp": [_p(1e21, stamp)],
                "flag": [_p(True, stamp)],
                "name": [_p('한솔 ü \n \u0001 "q"', stamp)],
                "obj": [_p({"a": [1, 2.5, None]}, stamp)],
                "ref": [
                    {"type": "Relationship", "object": "urn:x:1", "createdAt": stamp}
                    | {"modifiedAt": stamp}
                ],
                "location": [
                    {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [127, 37.5]}}
                    | {"createdAt": stamp, "modifiedAt": stamp}
                ],
                "label": [
                    {"type": "LanguageProperty", "languageMap": {"ko": "가", "en": "a"}}
                    | {"createdAt": stamp, "modifiedAt": stamp}
                ],
            },
        ),
        entity(
            "times",
            {
                "a": [_p(1.0, stamp, observedAt="2026-11-25T09:00:00+09:00")],
                "b": [_p(2.0, stamp, observedAt="2026-11-25T00:00:00.123Z")],
                "c": [_p(3.0, stamp, observedAt="2026-11-25T00:10:00.654321Z")],
                "d": [_p(4.0, stamp, observedAt="2026-11-24T23:59:59.999999Z")],
                "e": [_p(5.0, stamp, observedAt=12)],  # not a DateTime text: no observedAt
            },
        ),
        entity(
            "datasets",
            {
                "t": [
                    _p(1, stamp, datasetId="urn:ds:b", **obs),
                    _p(2, stamp),
                    _p(3, stamp, datasetId="urn:ds:a"),
                ],
                "s": [_p(4, stamp, datasetId="urn:ds:a")],
            },
        ),
        {
            "id": "urn:ngsi-ld:Sensor:multi-type",
            "type": [f"{CORE}Sensor", f"{CORE}Device"],
            "createdAt": stamp,
            "modifiedAt": stamp,
            "attrs": {},
        },
        entity("scoped", {"a": [_p(1, stamp)]}, scope=["/Seoul"]),
        # not one change: an instance with a modifiedAt of its own (the Python path), or
        # instances more than an hour apart (split in two rows, in SQL too)
        entity(
            "own-time",
            {"a": [_p(1, stamp)], "b": [_p(2, "2026-11-20T00:00:00.000000Z")]},
        ),
        entity(
            "wide",
            {
                "a": [_p(1, stamp, observedAt="2026-11-25T00:00:00Z")],
                "b": [_p(2, stamp, observedAt="2026-11-25T05:00:00Z")],
                "c": [_p(3, stamp, observedAt="2026-11-25T00:30:00Z")],
                "d": [_p(4, stamp), _p(5, stamp, datasetId="urn:ds:x", **obs)],
                "e": [_p(6, stamp, observedAt="2026-11-25T05:30:00Z")],
            },
        ),
        entity(  # three rows once split: the Python path
            "wider",
            {
                "a": [_p(1, stamp, observedAt="2026-11-25T04:00:00Z")],
                "b": [_p(2, stamp, observedAt="2026-11-25T02:00:00Z")],
                "c": [_p(3, stamp, **obs)],
            },
        ),
        entity("no-modified", {"a": [{"type": "Property", "value": 7}]}),
    ]


def _tables(store: HubStore, tenant: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return each entity's (types, attrs) and its change rows (ts_lo, ts_hi, instances),
    every JSON parsed and written again (so 3 and 3.0, 21.50 and 21.5 compare as orjson
    sees them)."""

    def again(raw: Any) -> bytes:
        return orjson.dumps(orjson.loads(raw))

    with read_db(store) as db:
        described = {
            entity_id: (again(types), again(attrs))
            for entity_id, types, attrs in db.rows(
                "SELECT entity_id, types, attrs FROM hub_temporal_entities WHERE tenant = %s",
                [tenant],
            )
        }
        changes: dict[str, list[Any]] = {}
        for entity_id, lo, hi, instances, kind in db.rows(
            "SELECT s.entity_id, c.ts_lo, c.ts_hi, c.instances, typeof(c.instances) "
            "FROM hub_temporal_changes c JOIN hub_temporal_entities s ON s.pk = c.entity "
            "WHERE s.tenant = %s ORDER BY c.pk",
            [tenant],
        ):
            changes.setdefault(entity_id, []).append((lo, hi, again(instances), kind))
    return described, changes


def _write_all(store: HubStore, tenant: str, stamp: str) -> None:
    with store.transaction(tenant) as tx:
        tx.insert(_entities(stamp))
    # created again after a delete: its history (and entity row) exists already
    again = _entities(stamp)[2]
    with store.transaction(tenant) as tx:
        tx.get_many([again["id"]])
        tx.delete([again["id"]])
    with store.transaction(tenant) as tx:
        tx.insert([again | {"attrs": {CORE + "t": [_p(9, stamp, datasetId="urn:ds:c")]}}])


def test_sql_and_python_write_the_same_history(
    store: HubStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    stamp = "2026-11-25T00:20:00.000000Z"  # within an hour of most observedAt values
    recorder = _recorder(store)
    recorder.sql_changes = False
    _write_all(store, "sql-python", stamp)
    recorder.sql_changes = True
    in_python: set[str] = set()
    write_changes = recorder.write_changes

    def spy(tx: Any, changes: list[Any], typed: list[Any], **more: Any) -> None:
        in_python.update(c[0] for c in changes)
        in_python.update(e["id"] for e in typed)
        write_changes(tx, changes, typed, **more)

    monkeypatch.setattr(recorder, "write_changes", spy)
    _write_all(store, "sql-sql", stamp)
    sensor = "urn:ngsi-ld:Sensor:"
    assert in_python == {sensor + n for n in ("scoped", "own-time", "wider", "datasets")}
    python_entities, python_changes = _tables(store, "sql-python")
    sql_entities, sql_changes = _tables(store, "sql-sql")
    assert len(python_entities) == 9
    assert sql_entities == python_entities
    assert set(sql_changes) == set(python_changes)
    for entity_id, rows in python_changes.items():
        assert sql_changes[entity_id] == rows, entity_id
    assert len(python_changes["urn:ngsi-ld:Sensor:wide"]) == 2  # split
    assert len(python_changes["urn:ngsi-ld:Sensor:wider"]) == 3
    assert len(python_changes["urn:ngsi-ld:Sensor:own-time"]) == 2
    assert len(python_changes["urn:ngsi-ld:Sensor:datasets"]) == 2  # created twice
    plain = orjson.loads(sql_changes["urn:ngsi-ld:Sensor:plain"][0][2])
    assert [e[7] for e in plain][:7] == [21.5, 57.0, 0.0, -3.0, 2.0**62, 0.30000000000000004, 1e21]


def test_sql_path_remembers_new_entities_after_commit(store: HubStore) -> None:
    stamp = utc_now()
    recorder = _recorder(store)
    with store.transaction("sql-cache") as tx:
        tx.insert(_entities(stamp)[:3])
    known = {e: k for (t, e), k in recorder._entities.items() if t == "sql-cache"}
    assert set(known) == {f"urn:ngsi-ld:Sensor:{n}" for n in ("plain", "times", "datasets")}
    assert known["urn:ngsi-ld:Sensor:datasets"][1] == {
        (CORE + "t", "urn:ds:b"),
        (CORE + "t", ""),
        (CORE + "t", "urn:ds:a"),
        (CORE + "s", "urn:ds:a"),
    }
    described, _ = _tables(store, "sql-cache")
    with read_db(store) as db:
        keys = dict(
            db.rows(
                "SELECT entity_id, pk FROM hub_temporal_entities WHERE tenant = %s",
                ["sql-cache"],
            )
        )
    assert {e: k[0] for e, k in known.items()} == {e: keys[e] for e in known}
    assert len(described) == 3
