"""Entity keys of the history (migration 0013): sequential on SQLite (found again, never
reused after a rollback), hashed on PostgreSQL (the same hash in Python and in SQL), and
remembered only once committed, in a bounded cache; one change row per entity change."""

from __future__ import annotations

import gc
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


def _known(cache: Any, entity_id: str) -> tuple[int, frozenset[tuple[str, str]]]:
    known = cache.get(TENANT, entity_id)
    assert known is not None, f"{entity_id} is not cached"
    return known  # type: ignore[no-any-return]


def _series(store: HubStore, entity_id: str) -> dict[str, int]:
    """Return the entity's recorded attributes, each with the entity's key."""
    with read_db(store) as db:
        rows = db.rows(
            "SELECT pk, attrs FROM hub_temporal_entities WHERE tenant = %s AND entity_id = %s",
            [TENANT, entity_id],
        )
    found: dict[str, int] = {}
    for pk, raw in rows:
        for attr, _ in raw if isinstance(raw, list) else orjson.loads(raw):
            found[attr.removeprefix(CORE)] = int(pk)
    return found


def _history(store: HubStore, entity_id: str) -> list[tuple[str, float]]:
    with read_db(store) as db:
        rows = db.rows(
            "SELECT t.attr, t.num FROM hub_temporal_instances t JOIN hub_temporal_entities s "
            "ON s.pk = t.entity WHERE s.tenant = %s AND s.entity_id = %s ORDER BY t.pk",
            [TENANT, entity_id],
        )
    return [(attr.removeprefix(CORE), num) for attr, num in rows]


def _changes(store: HubStore, entity_id: str) -> int:
    with read_db(store) as db:
        return int(
            db.rows(
                "SELECT count(*) FROM hub_temporal_changes c JOIN hub_temporal_entities s "
                "ON s.pk = c.entity WHERE s.tenant = %s AND s.entity_id = %s",
                [TENANT, entity_id],
            )[0][0]
        )


def _write(store: HubStore, entity: dict[str, Any]) -> None:
    with store.transaction(TENANT) as tx:
        if tx.get_many([entity["id"]]):
            tx.replace([entity])
        else:
            tx.insert([entity])


def test_an_entity_gets_a_key_and_a_second_writer_finds_it(
    store: HubStore, settings: Settings
) -> None:
    _write(store, _entity("urn:ngsi-ld:Sensor:s1", {"a": 1, "b": 2, "c": 3}))
    first = _series(store, "urn:ngsi-ld:Sensor:s1")
    assert set(first) == {"a", "b", "c"}
    assert len(set(first.values())) == 1  # the series is the entity: one key
    if store.backend == "postgresql":
        assert first["a"] == record.entity_key(TENANT, "urn:ngsi-ld:Sensor:s1")
    assert _changes(store, "urn:ngsi-ld:Sensor:s1") == 1  # one row for the whole change
    other = open_store(settings)  # an empty cache: must find the entity, not add it again
    try:
        _write(other, _entity("urn:ngsi-ld:Sensor:s1", {"a": 4, "b": 5, "c": 6, "d": 7}))
    finally:
        other.close()
    second = _series(store, "urn:ngsi-ld:Sensor:s1")
    assert {k: second[k] for k in first} == first
    assert set(second) == {"a", "b", "c", "d"}  # the new attribute joined the list
    assert _changes(store, "urn:ngsi-ld:Sensor:s1") == 2
    assert sorted(_history(store, "urn:ngsi-ld:Sensor:s1")) == sorted(
        [("a", 1.0), ("b", 2.0), ("c", 3.0), ("a", 4.0), ("b", 5.0), ("c", 6.0), ("d", 7.0)]
    )


@pytest.mark.backend("sqlite")  # PostgreSQL names every entity by its hash
def test_sqlite_numbers_new_entities_in_the_order_they_came(store: HubStore) -> None:
    ids = [f"urn:ngsi-ld:Sensor:seq{i}" for i in range(5)]
    with store.transaction(TENANT) as tx:
        tx.insert([_entity(i, {"a": 1.0}) for i in ids])
    keys = [_series(store, i)["a"] for i in ids]
    assert keys == list(range(keys[0], keys[0] + 5))


@pytest.mark.backend("postgresql")  # the SQL of migration 0013
def test_postgresql_computes_the_same_entity_key_in_sql(store: HubStore) -> None:
    from importlib import import_module

    migration = import_module("cityos.migrations.versions.0013_temporal_changes")
    names = [("urn:ngsi-ld:tenant:default", "urn:ngsi-ld:Sensor:ü1"), (TENANT, "x:y")]
    with read_db(store) as db:
        for tenant, entity_id in names:
            sql = migration._PG_KEY.format(t="%s", e="%s")
            ((key,),) = db.rows(f"SELECT {sql}", [tenant, entity_id])
            assert key == record.entity_key(tenant, entity_id)


def test_instance_ids_name_a_change_row_and_a_position() -> None:
    pk = record.instance_pk("urn:ngsi-ld:Instance:42.3")
    assert pk is not None
    assert record.instance_id(pk) == "urn:ngsi-ld:Instance:42.3"
    for other in (
        "urn:ngsi-ld:Instance:42",  # the layout before migration 0013: no such row now
        "urn:ngsi-ld:Instance:42.",
        "urn:ngsi-ld:Instance:x.1",
        f"urn:ngsi-ld:Instance:1.{1 << record.POSITION_BITS}",
        "urn:other:1.1",
    ):
        assert record.instance_pk(other) is None, other


def test_a_rolled_back_write_leaves_no_entity_and_remembers_none(store: HubStore) -> None:
    def fail(tx: Transaction, changes: list[Change]) -> None:
        raise RuntimeError("the write fails after the history was written")

    store.add_listener(fail)
    with pytest.raises(RuntimeError):
        _write(store, _entity("urn:ngsi-ld:Sensor:rb", {"a": 1, "b": 2}))
    store.listeners.remove(fail)
    assert _series(store, "urn:ngsi-ld:Sensor:rb") == {}
    assert _recorder(store)._entities.get(TENANT, "urn:ngsi-ld:Sensor:rb") is None
    # the key the failed write had taken is free again, and the next write is whole
    _write(store, _entity("urn:ngsi-ld:Sensor:rb2", {"x": 9}))
    _write(store, _entity("urn:ngsi-ld:Sensor:rb", {"a": 3, "b": 4}))
    assert sorted(_history(store, "urn:ngsi-ld:Sensor:rb")) == [("a", 3.0), ("b", 4.0)]
    assert _history(store, "urn:ngsi-ld:Sensor:rb2") == [("x", 9.0)]
    rb, rb2 = _series(store, "urn:ngsi-ld:Sensor:rb"), _series(store, "urn:ngsi-ld:Sensor:rb2")
    assert set(rb.values()).isdisjoint(rb2.values())


def test_the_entity_cache_stays_bounded(store: HubStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(record, "_ENTITY_CACHE_MAX", 3)
    for i in range(8):
        _write(store, _entity(f"urn:ngsi-ld:Sensor:c{i}", {"a": i, "b": i, "c": i}))
        assert len(_recorder(store)._entities) <= 3
    for i in range(8):  # forgotten keys are looked up again, never described twice
        _write(store, _entity(f"urn:ngsi-ld:Sensor:c{i}", {"a": i + 1, "b": i, "c": i}))
        assert len(set(_series(store, f"urn:ngsi-ld:Sensor:c{i}").values())) == 1
        assert len(_history(store, f"urn:ngsi-ld:Sensor:c{i}")) == 6  # every instance new
    with read_db(store) as db:
        ((count,),) = db.rows(
            "SELECT count(*) FROM hub_temporal_entities WHERE tenant = %s AND entity_id LIKE %s",
            [TENANT, "urn:ngsi-ld:Sensor:c%"],
        )
    assert count == 8


def test_cached_entities_of_one_shape_share_one_pair_set(store: HubStore) -> None:
    """The cache holds one pair set per shape, not one per entity (1,200 bytes an entity of
    8 attributes: 143 MB at 100,000), and an entity that gains an attribute gets its own."""
    ids = [f"urn:ngsi-ld:Sensor:shape{i}" for i in range(4)]
    with store.transaction(TENANT) as tx:  # one batch of three
        tx.insert([_entity(e, {"a": 1, "b": 2}) for e in ids[:3]])
    _write(store, _entity(ids[3], {"b": 5, "a": 4}))  # another write, the same pairs
    cache = _recorder(store)._entities
    sets = [_known(cache, e)[1] for e in ids]
    assert all(s is sets[0] for s in sets)
    assert sets[0] == {(CORE + "a", ""), (CORE + "b", "")}
    _write(store, _entity(ids[0], {"a": 7, "b": 8, "c": 9}))
    cache = _recorder(store)._entities
    grown = _known(cache, ids[0])[1]
    assert grown == {(CORE + n, "") for n in "abc"}
    assert _known(cache, ids[1])[1] is sets[0] == {(CORE + "a", ""), (CORE + "b", "")}
    _write(store, _entity(ids[1], {"a": 7, "b": 8, "c": 9}))  # joins the grown shape
    assert _known(_recorder(store)._entities, ids[1])[1] is grown
    assert set(_series(store, ids[1])) == {"a", "b", "c"}
    assert _history(store, ids[1]) == [("a", 1.0), ("b", 2.0), ("a", 7.0), ("b", 8.0), ("c", 9.0)]


def test_the_shared_pair_sets_stay_bounded(
    store: HubStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(record, "_SHAPES_MAX", 2)
    recorder = _recorder(store)
    names = "abcdefgh"
    for i in range(len(names)):  # a new shape per entity
        _write(store, _entity(f"urn:ngsi-ld:Sensor:many{i}", {n: i for n in names[: i + 1]}))
        assert len(recorder._entities.shapes) <= 2
        # the newest is cached with its own pairs (a third set forgot the older entities)
        known = _known(recorder._entities, f"urn:ngsi-ld:Sensor:many{i}")[1]
        assert known == {(CORE + n, "") for n in names[: i + 1]}
    for i in range(len(names)):  # forgotten or not, each is recorded, and grows again
        entity_id = f"urn:ngsi-ld:Sensor:many{i}"
        assert set(_series(store, entity_id)) == set(names[: i + 1])
        _write(store, _entity(entity_id, {n: i + 1 for n in names[: i + 2]}))
        assert set(_series(store, entity_id)) == set(names[: i + 2])
        assert len(set(_series(store, entity_id).values())) == 1  # one key, never two


def test_the_entity_cache_is_invisible_to_the_garbage_collector(store: HubStore) -> None:
    """Cached entities are strings and ints in untracked dicts: a full collection does not
    walk 100,000 of them (it took 70–110 ms with the GIL held, docs/benchmarks.md)."""
    with store.transaction(TENANT) as tx:
        tx.insert([_entity(f"urn:ngsi-ld:Sensor:gc{i}", {"a": i, "b": i}) for i in range(50)])
    cache = _recorder(store)._entities
    assert len(cache) >= 50
    gc.collect()
    table = cache.table(TENANT)
    assert len(table) >= 50
    assert not gc.is_tracked(table)
    assert not any(gc.is_tracked(v) for v in table.values())
    known = _known(cache, "urn:ngsi-ld:Sensor:gc7")
    assert known[1] == {(CORE + "a", ""), (CORE + "b", "")}
    assert known[0] == _series(store, "urn:ngsi-ld:Sensor:gc7")["a"]


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
            "SELECT t.instance FROM hub_temporal_instances t JOIN hub_temporal_entities s "
            "ON s.pk = t.entity WHERE s.entity_id = %s",
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


def test_a_wide_change_is_split_and_read_by_its_bounds(client: TestClient, store: HubStore) -> None:
    """Readings hours apart written at once become several change rows no wider than
    MAX_SPAN; the first and last readings are still found change row by change row."""
    entity_id = "urn:ngsi-ld:Sensor:wide"
    readings = [
        {"type": "Property", "value": i, "observedAt": f"2026-11-25T{i:02d}:30:00Z"}
        for i in range(10)
    ]
    body = {"id": entity_id, "type": "Sensor", "level": readings}
    assert client.post("/ngsi-ld/v1/temporal/entities", json=body).status_code == 201
    with read_db(store) as db:
        spans = db.rows(
            "SELECT c.ts_hi - c.ts_lo FROM hub_temporal_changes c JOIN hub_temporal_entities s "
            "ON s.pk = c.entity WHERE s.entity_id = %s",
            [entity_id],
        )
    assert len(spans) == 5  # pairs of readings an hour apart: at most MAX_SPAN each
    assert all(span <= record.MAX_SPAN for (span,) in spans)
    url = f"/ngsi-ld/v1/temporal/entities/{entity_id}"
    window = {"timerel": "after", "timeAt": "2026-11-25T00:00:00Z", "options": "temporalValues"}
    last = client.get(url, params={**window, "lastN": "3"}).json()
    assert [v[0] for v in last["level"]["values"]] == [7, 8, 9]
    between = {**window, "timerel": "between", "endTimeAt": "2026-11-25T04:00:00Z"}
    first = client.get(url, params=between).json()
    assert [v[0] for v in first["level"]["values"]] == [0, 1, 2, 3]


def test_split_wide_cuts_in_time_order_at_the_first_instance_past_the_span() -> None:
    """Instances in time order (ties keep their order), a new row at the first instance
    more than MAX_SPAN after its row's first one; each row's bounds and pairs its own."""
    span = record.MAX_SPAN

    def element(attr: str, ts: int, dataset: str = "") -> list[Any]:
        return [attr, dataset, "Property", ts, ts, 0, 0, 1.0, {"type": "Property"}]

    items = [
        element("a", 3 * span),
        element("b", 0),
        element("c", span),  # exactly MAX_SPAN after the first: same row
        element("d", 0, "urn:ds:1"),  # a tie with b: after it
        element("e", span + 1),
        element("f", 5 * span),
    ]
    narrow = ("urn:x:n", 0, span, [element("a", 0), element("b", span)], {("a", ""), ("b", "")})
    rows = record.split_wide([("urn:x:w", 0, 5 * span, items, set()), narrow])
    assert [(r[0], r[1], r[2], [e[0] for e in r[3]], r[4]) for r in rows] == [
        ("urn:x:w", 0, span, ["b", "d", "c"], {("b", ""), ("d", "urn:ds:1"), ("c", "")}),
        ("urn:x:w", span + 1, span + 1, ["e"], {("e", "")}),
        ("urn:x:w", 3 * span, 3 * span, ["a"], {("a", "")}),
        ("urn:x:w", 5 * span, 5 * span, ["f"], {("f", "")}),
        ("urn:x:n", 0, span, ["a", "b"], {("a", ""), ("b", "")}),  # narrow: as it was
    ]
    assert rows[-1] is narrow


def test_an_entity_created_again_keeps_its_key_and_its_pairs(
    store: HubStore, settings: Settings
) -> None:
    """A created entity's history row is inserted without a look-up; one created before
    (deleted, its history kept) is found again instead, in the same batch as new ones."""
    _write(store, _entity("urn:ngsi-ld:Sensor:again", {"a": 1, "b": 2}))
    first = _series(store, "urn:ngsi-ld:Sensor:again")
    with store.transaction(TENANT) as tx:
        tx.get_many(["urn:ngsi-ld:Sensor:again"])
        tx.delete(["urn:ngsi-ld:Sensor:again"])
    other = open_store(settings)  # an empty cache, as another process
    try:
        with other.transaction(TENANT) as tx:
            tx.insert(
                [
                    _entity("urn:ngsi-ld:Sensor:again-new1", {"x": 1}),
                    _entity("urn:ngsi-ld:Sensor:again", {"c": 3}),
                    _entity("urn:ngsi-ld:Sensor:again-new2", {"y": 2}),
                ]
            )
        # the same store again: its cache knows the key, the types are new (created)
        with store.transaction(TENANT) as tx:
            tx.get_many(["urn:ngsi-ld:Sensor:again"])
            tx.delete(["urn:ngsi-ld:Sensor:again"])
        _write(store, _entity("urn:ngsi-ld:Sensor:again", {"d": 4}))
    finally:
        other.close()
    again = _series(store, "urn:ngsi-ld:Sensor:again")
    assert set(again) == {"a", "b", "c", "d"}
    assert set(again.values()) == set(first.values())  # one key throughout
    new1 = _series(store, "urn:ngsi-ld:Sensor:again-new1")["x"]
    new2 = _series(store, "urn:ngsi-ld:Sensor:again-new2")["y"]
    assert len({new1, new2, *first.values()}) == 3
    assert _history(store, "urn:ngsi-ld:Sensor:again") == [
        ("a", 1.0),
        ("b", 2.0),
        ("c", 3.0),
        ("d", 4.0),
    ]
    assert _history(store, "urn:ngsi-ld:Sensor:again-new1") == [("x", 1.0)]
    assert _history(store, "urn:ngsi-ld:Sensor:again-new2") == [("y", 2.0)]
