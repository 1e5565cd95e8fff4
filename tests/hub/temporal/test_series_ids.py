"""Series ids: sequential on SQLite (found again, never reused after a rollback), hashed on
PostgreSQL, and remembered only once committed, in a bounded cache."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cityos.config import Settings
from cityos.hub._time import utc_now
from cityos.hub.errors import BadRequestData
from cityos.hub.store import HubStore, open_store
from cityos.hub.store.base import Change, Transaction
from cityos.hub.temporal import TemporalRecorder, record
from cityos.hub.temporal._db import read_db

CORE = "https://uri.etsi.org/ngsi-ld/default-context/"
TENANT = "series-ids"


def _entity(entity_id: str, values: dict[str, float]) -> dict[str, Any]:
    stamp = utc_now()
    return {
        "id": entity_id,
        "type": [f"{CORE}Sensor"],
        "createdAt": stamp,
        "modifiedAt": stamp,
        "attrs": {
            CORE + name: [{"type": "Property", "value": v, "createdAt": stamp, "modifiedAt": stamp}]
            for name, v in values.items()
        },
    }


@pytest.fixture
def store(client: TestClient, settings: Settings) -> Iterator[HubStore]:
    """A second store on the module's (migrated) database: its own recorder, like a second
    process would have."""
    opened = open_store(settings)
    try:
        yield opened
    finally:
        opened.close()


def _recorder(store: HubStore) -> TemporalRecorder:
    return next(x for x in store.listeners if isinstance(x, TemporalRecorder))


def _series(store: HubStore, entity_id: str) -> dict[str, int]:
    with read_db(store) as db:
        rows = db.rows(
            "SELECT attr, pk FROM hub_temporal_series WHERE tenant = %s AND entity_id = %s",
            [TENANT, entity_id],
        )
    return {attr.removeprefix(CORE): int(pk) for attr, pk in rows}


def _history(store: HubStore, entity_id: str) -> list[tuple[str, float]]:
    with read_db(store) as db:
        rows = db.rows(
            "SELECT s.attr, t.num FROM hub_temporal t JOIN hub_temporal_series s "
            "ON s.pk = t.series WHERE s.tenant = %s AND s.entity_id = %s ORDER BY t.pk",
            [TENANT, entity_id],
        )
    return [(attr.removeprefix(CORE), num) for attr, num in rows]


def _write(store: HubStore, entity: dict[str, Any]) -> None:
    with store.transaction(TENANT) as tx:
        if tx.get_many([entity["id"]]):
            tx.replace([entity])
        else:
            tx.insert([entity])


def test_new_series_get_ids_and_a_second_writer_finds_them(
    store: HubStore, settings: Settings
) -> None:
    _write(store, _entity("urn:ngsi-ld:Sensor:s1", {"a": 1, "b": 2, "c": 3}))
    first = _series(store, "urn:ngsi-ld:Sensor:s1")
    assert set(first) == {"a", "b", "c"}
    if store.backend == "sqlite":  # consecutive, in the order the instances came
        assert [first["a"], first["b"], first["c"]] == list(range(first["a"], first["a"] + 3))
    else:
        assert first["a"] == record.series_id(TENANT, "urn:ngsi-ld:Sensor:s1", CORE + "a")
    other = open_store(settings)  # an empty cache: must look the series up, not add them
    try:
        _write(other, _entity("urn:ngsi-ld:Sensor:s1", {"a": 4, "b": 5, "c": 6, "d": 7}))
    finally:
        other.close()
    second = _series(store, "urn:ngsi-ld:Sensor:s1")
    assert {k: second[k] for k in first} == first
    assert len(second) == 4
    assert sorted(_history(store, "urn:ngsi-ld:Sensor:s1")) == sorted(
        [("a", 1.0), ("b", 2.0), ("c", 3.0), ("a", 4.0), ("b", 5.0), ("c", 6.0), ("d", 7.0)]
    )


@pytest.mark.backend("sqlite")  # PostgreSQL names every series by its hash
def test_hashed_ids_of_an_older_sqlite_database_keep_working(store: HubStore) -> None:
    assert store.backend == "sqlite"
    entity_id = "urn:ngsi-ld:Sensor:old"
    hashed = record.series_id(TENANT, entity_id, CORE + "a")
    with store.transaction(TENANT) as tx:  # as versions before sequential ids wrote it
        tx.connection.execute(
            "INSERT INTO hub_temporal_series (pk, tenant, entity_id, attr, dataset_id) "
            "VALUES (?, ?, ?, ?, '')",
            (hashed, TENANT, entity_id, CORE + "a"),
        )
    _write(store, _entity(entity_id, {"a": 1, "b": 2}))
    ids = _series(store, entity_id)
    assert ids["a"] == hashed
    assert ids["b"] < record._SEQUENTIAL_LIMIT
    assert sorted(_history(store, entity_id)) == [("a", 1.0), ("b", 2.0)]


def test_a_rolled_back_write_leaves_no_series_and_remembers_none(store: HubStore) -> None:
    def fail(tx: Transaction, changes: list[Change]) -> None:
        raise RuntimeError("the write fails after the history was written")

    store.add_listener(fail)
    with pytest.raises(RuntimeError):
        _write(store, _entity("urn:ngsi-ld:Sensor:rb", {"a": 1, "b": 2}))
    store.listeners.remove(fail)
    assert _series(store, "urn:ngsi-ld:Sensor:rb") == {}
    assert not any(key[1] == "urn:ngsi-ld:Sensor:rb" for key in _recorder(store)._series)
    # the ids the failed write had taken are free again, and the next write is whole
    _write(store, _entity("urn:ngsi-ld:Sensor:rb2", {"x": 9}))
    _write(store, _entity("urn:ngsi-ld:Sensor:rb", {"a": 3, "b": 4}))
    assert sorted(_history(store, "urn:ngsi-ld:Sensor:rb")) == [("a", 3.0), ("b", 4.0)]
    assert _history(store, "urn:ngsi-ld:Sensor:rb2") == [("x", 9.0)]
    assert len(set(_series(store, "urn:ngsi-ld:Sensor:rb").values())) == 2


def test_the_series_cache_stays_bounded(store: HubStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(record, "_SERIES_CACHE_MAX", 10)
    for i in range(8):
        _write(store, _entity(f"urn:ngsi-ld:Sensor:c{i}", {"a": i, "b": i, "c": i}))
        assert len(_recorder(store)._series) <= 10
    for i in range(8):  # forgotten ids are looked up again, never described twice
        _write(store, _entity(f"urn:ngsi-ld:Sensor:c{i}", {"a": i + 1, "b": i, "c": i}))
        assert len(_series(store, f"urn:ngsi-ld:Sensor:c{i}")) == 3
        assert len(_history(store, f"urn:ngsi-ld:Sensor:c{i}")) == 6  # every instance new


def test_instances_are_stored_without_their_system_times_and_answered_with_them(
    client: TestClient, store: HubStore
) -> None:
    body = {
        "id": "urn:ngsi-ld:Sensor:st",
        "type": "Sensor",
        "pm25": {"type": "Property", "value": 5, "observedAt": "2026-11-25T00:00:00+09:00"},
    }
    assert client.post("/ngsi-ld/v1/entities", json=body).status_code == 201
    with read_db(store) as db:
        (raw,) = db.rows(
            "SELECT t.instance FROM hub_temporal t JOIN hub_temporal_series s "
            "ON s.pk = t.series WHERE s.entity_id = %s",
            ["urn:ngsi-ld:Sensor:st"],
        )[0]
    kept = raw if isinstance(raw, dict) else orjson.loads(raw)
    assert "createdAt" not in kept
    assert "modifiedAt" not in kept
    assert kept["observedAt"] == "2026-11-25T00:00:00+09:00"  # as the writer sent it
    answer = client.get(
        "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Sensor:st", params={"options": "sysAttrs"}
    ).json()
    (instance,) = answer["pm25"]
    assert instance["observedAt"] == "2026-11-25T00:00:00+09:00"
    assert instance["createdAt"].endswith("Z")
    assert instance["modifiedAt"].endswith("Z")
    entity = client.get(
        "/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:st", params={"options": "sysAttrs"}
    )
    assert instance["modifiedAt"] == entity.json()["pm25"]["modifiedAt"]


def test_hub_stamps_read_fast_give_the_same_instant_as_the_validating_parse() -> None:
    from cityos.hub.temporal._times import _text_micros, text_micros

    stamps = [utc_now(), "2026-02-28T23:59:59.999999Z", "2026-11-25T00:00:00.000000Z"]
    others = ["2026-11-25T00:00:00Z", "2026-11-25T09:00:00.123456+09:00", "2026-11-25T00:00Z"]
    for text in [*stamps, *stamps, *others, "2026-11-25T00:00:00.1234567Z"]:
        assert text_micros(text) == _text_micros(text), text
    with pytest.raises(BadRequestData):
        text_micros("2026-13-25T00:00:00.000000Z")  # not a date: still refused
