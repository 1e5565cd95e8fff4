"""Hourly roll-ups stay exact whatever order writes, provision, retention and folds come in.

A write never upserts ``hub_temporal_hourly`` itself: on SQLite it only appends raw
instances, on PostgreSQL it also appends its sums to ``hub_temporal_hourly_pending``;
``cityos.hub.temporal.rollup`` folds either into the roll-ups later. These tests check the
invariant after every kind of step, on both backends: each roll-up row equals the
count/sum/sum of squares/min/max of the raw instances of its (entity, attribute,
datasetId) and hour (while none has expired), and aggregations read through the API agree
with numbers computed here.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityos.hub.store.base import HubStore
from cityos.hub.temporal._db import read_db
from cityos.hub.temporal.retention import expire_history
from cityos.hub.temporal.rollup import fold, pending, pending_in
from cityos.identity import engine_for
from cityos.jobs import JobContext, find

NGSI = "/ngsi-ld/v1"
TEMPORAL = f"{NGSI}/temporal/entities"
HOUR = 3_600_000_000
BASE = datetime(2026, 11, 20, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def store_of(client: TestClient) -> HubStore:
    store: HubStore = client.app.state.store  # type: ignore[attr-defined]
    return store


def _rows(store: HubStore, sql: str) -> list[tuple[Any, ...]]:
    with read_db(store) as db:
        return db.rows(sql)


def assert_rollups_exact(store: HubStore, entity_id: str) -> None:
    """Fold, then compare every roll-up row of the entity with its raw instances."""
    fold(store)
    assert not pending_in(store)
    hour = "(t.ts / 3600000000) * 3600000000"  # µs on both backends, after 1970
    raw = _rows(
        store,
        f"SELECT t.attr || ' ' || t.dataset_id AS series, {hour} AS h, count(t.num), "
        "sum(t.num), sum(t.num * t.num), min(t.num), max(t.num) FROM hub_temporal_instances t "
        f"JOIN hub_temporal_entities s ON s.pk = t.entity WHERE s.entity_id = '{entity_id}' "
        "AND t.num IS NOT NULL GROUP BY 1, h ORDER BY 1, 2",
    )
    rolled = _rows(
        store,
        "SELECT h.attr || ' ' || h.dataset_id AS series, h.hour, h.n, h.total, h.total_sq, "
        "h.lo, h.hi FROM hub_temporal_hourly h JOIN hub_temporal_entities s ON s.pk = h.entity "
        f"WHERE s.entity_id = '{entity_id}' ORDER BY 1, 2",
    )
    assert len(rolled) == len(raw)
    for got, want in zip(rolled, raw, strict=True):
        assert got[:3] == want[:3]
        assert got[3:] == pytest.approx(want[3:])


def readings(values: list[float], start: datetime, step: timedelta) -> list[dict[str, Any]]:
    return [
        {"type": "Property", "value": v, "observedAt": iso(start + i * step)}
        for i, v in enumerate(values)
    ]


def hourly_sums(client: TestClient, entity_id: str, start: datetime, hours: int) -> list[Any]:
    answer = client.get(
        f"{TEMPORAL}/{entity_id}",
        params={
            "options": "aggregatedValues",
            "aggrMethods": "sum,totalCount",
            "aggrPeriodDuration": "PT1H",
            "timerel": "between",
            "timeAt": iso(start),
            "endTimeAt": iso(start + timedelta(hours=hours)),
        },
    )
    assert answer.status_code == 200, answer.text
    return [
        (p[0], c[0])
        for p, c in zip(
            answer.json()["level"]["sum"], answer.json()["level"]["totalCount"], strict=True
        )
    ]


def test_entity_writes_fold_into_exact_rollups(client: TestClient) -> None:
    eid = "urn:ngsi-ld:Sensor:roll1"
    body = {"id": eid, "type": "Sensor", "level": {"type": "Property", "value": 1.5}}
    body["level"]["observedAt"] = iso(BASE)
    assert client.post(f"{NGSI}/entities", json=body).status_code == 201
    for minute, value in ((10, 2.5), (70, 4.0), (75, -3.25)):
        patch = {"value": value, "observedAt": iso(BASE + timedelta(minutes=minute))}
        assert client.patch(f"{NGSI}/entities/{eid}/attrs/level", json=patch).status_code == 204
    store = store_of(client)
    assert pending_in(store)  # nothing folded yet
    # the aggregation folds first: the first hour has 1.5 + 2.5, the second 4.0 - 3.25
    assert hourly_sums(client, eid, BASE, 2) == [(4.0, 2), (0.75, 2)]
    assert_rollups_exact(store, eid)
    # a late reading for an hour already folded is folded into that hour's row
    late = {"value": 10.0, "observedAt": iso(BASE + timedelta(minutes=30))}
    assert client.patch(f"{NGSI}/entities/{eid}/attrs/level", json=late).status_code == 204
    assert hourly_sums(client, eid, BASE, 2) == [(14.0, 3), (0.75, 2)]
    assert_rollups_exact(store, eid)


def test_provision_never_counts_a_pending_instance_twice(client: TestClient) -> None:
    eid = "urn:ngsi-ld:Sensor:roll2"
    values = [1.0, 2.0, 3.0, 4.0]
    body = {"id": eid, "type": "Sensor", "level": readings(values, BASE, timedelta(minutes=10))}
    assert client.post(TEMPORAL, json=body).status_code == 201
    got = client.get(f"{TEMPORAL}/{eid}", params={"timerel": "after", "timeAt": iso(BASE)})
    instances = got.json()["level"]
    newest = max(instances, key=lambda i: i["observedAt"])["instanceId"]
    # more raw rows arrive (pending on SQLite), then provision deletes the newest instance
    more = {
        "id": eid,
        "type": "Sensor",
        "level": readings([5.0], BASE + timedelta(minutes=50), timedelta(0)),
    }
    assert client.post(TEMPORAL, json=more).status_code == 204
    gone = client.delete(f"{TEMPORAL}/{eid}/attrs/level/{newest}")
    assert gone.status_code == 204, gone.text
    assert_rollups_exact(store_of(client), eid)
    assert hourly_sums(client, eid, BASE, 1) == [(1.0 + 2.0 + 3.0 + 5.0, 4)]
    # a row written after the delete gets a new key above the mark: it is folded, once
    again = {
        "id": eid,
        "type": "Sensor",
        "level": readings([7.0], BASE + timedelta(minutes=55), timedelta(0)),
    }
    assert client.post(TEMPORAL, json=again).status_code == 204
    assert hourly_sums(client, eid, BASE, 1) == [(18.0, 5)]
    assert_rollups_exact(store_of(client), eid)


def test_retention_keeps_the_numbers_of_pending_instances_in_the_rollups(
    client: TestClient,
) -> None:
    eid = "urn:ngsi-ld:Sensor:roll3"
    old = datetime(2026, 1, 5, 3, tzinfo=UTC)
    body = {"id": eid, "type": "Sensor", "level": readings([8.0, 9.5], old, timedelta(minutes=5))}
    assert client.post(TEMPORAL, json=body).status_code == 201  # pending on SQLite
    expire_history(store_of(client), keep_days=30, now=datetime(2026, 11, 1, tzinfo=UTC))
    left = _rows(
        store_of(client),
        "SELECT count(*) FROM hub_temporal_instances t JOIN hub_temporal_entities s "
        f"ON s.pk = t.entity WHERE s.entity_id = '{eid}'",
    )
    assert left[0][0] == 0  # the raw instances expired …
    assert hourly_sums(client, eid, old, 1) == [(17.5, 2)]  # … their hour's roll-up did not


def test_the_rollup_job_folds_what_is_pending(client: TestClient) -> None:
    eid = "urn:ngsi-ld:Sensor:roll4"
    rng = random.Random(4)
    values = [round(rng.uniform(-50, 50), 3) for _ in range(40)]
    body = {"id": eid, "type": "Sensor", "level": readings(values, BASE, timedelta(minutes=7))}
    assert client.post(TEMPORAL, json=body).status_code == 201
    state = client.app.state  # type: ignore[attr-defined]
    context = JobContext(state.settings, engine_for(client.app), state, datetime.now(UTC))  # type: ignore[arg-type]
    folded = find("temporal_rollup").run(context)
    store = store_of(client)
    # SQLite: change-row keys (the 40 readings were written as one change); PostgreSQL:
    # pending rows (one per hour the readings fall in)
    assert folded >= (1 if store.backend == "sqlite" else 5)
    assert not pending_in(store)
    assert find("temporal_rollup").run(context) == 0  # nothing left
    assert_rollups_exact(store, eid)
    per_hour: dict[int, float] = {}
    for i, value in enumerate(values):
        per_hour[(i * 7) // 60] = per_hour.get((i * 7) // 60, 0.0) + value
    got = hourly_sums(client, eid, BASE, 5)
    assert [s for s, _ in got] == pytest.approx([per_hour[h] for h in sorted(per_hour)])
    assert all(math.isfinite(s) for s, _ in got)


def test_only_aggregations_that_may_read_rollups_fold(client: TestClient) -> None:
    """An aggregation the roll-ups cannot answer (here a window starting off the hour) is
    computed from raw rows and leaves the pending range alone; one they can answer folds."""
    eid = "urn:ngsi-ld:Sensor:roll5"
    body = {
        "id": eid,
        "type": "Sensor",
        "level": readings([1.0, 2.0, 4.0], BASE, timedelta(minutes=20)),
    }
    assert client.post(TEMPORAL, json=body).status_code == 201
    store = store_of(client)
    off_hour = client.get(
        f"{TEMPORAL}/{eid}",
        params={
            "options": "aggregatedValues",
            "aggrMethods": "sum",
            "aggrPeriodDuration": "PT1H",
            "timerel": "between",
            "timeAt": iso(BASE - timedelta(minutes=1)),
            "endTimeAt": iso(BASE + timedelta(hours=1, minutes=-1)),
        },
    )
    assert off_hour.status_code == 200, off_hour.text
    assert off_hour.json()["level"]["sum"][0][0] == 7.0
    assert pending_in(store)  # raw rows answered it
    assert hourly_sums(client, eid, BASE, 1) == [(7.0, 3)]
    assert not pending_in(store)
    assert_rollups_exact(store, eid)


def test_a_fold_in_several_steps_stays_exact(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SQLite fold reads the pending key range a few change rows at a time (orjson,
    sums in Python); an (entity, attribute, datasetId, hour) spread over several steps and
    several entities of one batch get the same roll-ups as the raw instances."""
    import cityos.hub.temporal.rollup as rollup

    monkeypatch.setattr(rollup, "_STEP", 2)
    ids = [f"urn:ngsi-ld:Sensor:steps{i}" for i in range(5)]
    batch = [
        {
            "id": eid,
            "type": "Sensor",
            "level": [
                {"type": "Property", "value": i + 0.5, "observedAt": iso(BASE)},
                {
                    "type": "Property",
                    "value": -i,
                    "datasetId": "urn:ngsi-ld:Dataset:b",
                    "observedAt": iso(BASE + timedelta(minutes=20)),
                },
            ],
            "label": {"type": "Property", "value": "not a number"},
        }
        for i, eid in enumerate(ids)
    ]
    assert client.post(f"{NGSI}/entityOperations/upsert", json=batch).status_code == 201
    for minute, value in ((5, 2.0), (65, 3.5), (40, 1e-9)):
        patch = {"value": value, "observedAt": iso(BASE + timedelta(minutes=minute))}
        assert client.patch(f"{NGSI}/entities/{ids[1]}/attrs/level", json=patch).status_code == 204
    store = store_of(client)
    for eid in ids:
        assert_rollups_exact(store, eid)
    rolled = _rows(
        store,
        "SELECT h.dataset_id, h.hour, h.n, h.total FROM hub_temporal_hourly h JOIN "
        f"hub_temporal_entities s ON s.pk = h.entity WHERE s.entity_id = '{ids[1]}' "
        "AND h.attr = 'https://uri.etsi.org/ngsi-ld/default-context/level' ORDER BY 1, 2",
    )
    first = int(BASE.timestamp()) * 1_000_000
    assert [(d, h - first, n) for d, h, n, _ in rolled] == [
        ("", 0, 3),  # 1.5, 2.0, 1e-9
        ("", HOUR, 1),  # 3.5
        ("urn:ngsi-ld:Dataset:b", 0, 1),  # -1
    ]
    assert [t for *_, t in rolled] == pytest.approx([1.5 + 2.0 + 1e-9, 3.5, -1.0])


def test_the_fold_lets_writers_in_between_chunks(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job's fold takes the pending range a chunk of keys per write transaction and
    pauses between them with the writers' lock free (a writer waiting meanwhile goes
    first); rows written during the fold wait for the next one; the roll-ups stay exact."""
    import cityos.hub.temporal.rollup as rollup

    store = store_of(client)
    ids = [f"urn:ngsi-ld:Sensor:chunks{i}" for i in range(7)]
    for n, eid in enumerate(ids):  # one change row each
        body = {"id": eid, "type": "Sensor", "level": readings([n + 0.25], BASE, timedelta())[0]}
        assert client.post(f"{NGSI}/entities", json=body).status_code == 201
    pauses: list[bool] = []
    late = "urn:ngsi-ld:Sensor:chunks-late"

    def pause(seconds: float) -> None:
        assert seconds == rollup._PAUSE
        lock = store._write_lock  # type: ignore[attr-defined]
        pauses.append(lock.locked())
        if len(pauses) == 1:  # a write in the pause: the lock is free, it goes through
            body = {"id": late, "type": "Sensor", "level": readings([9.0], BASE, timedelta())[0]}
            assert client.post(f"{NGSI}/entities", json=body).status_code == 201

    monkeypatch.setattr(rollup, "_sleep", pause)
    folded = fold(store, chunk=2)
    if store.backend == "postgresql":  # pages there, and writers never wait for a fold
        assert folded >= len(ids)
        assert pauses == []
        assert not pending_in(store)
        for eid in ids:
            assert_rollups_exact(store, eid)
        return
    assert folded >= 7
    assert len(pauses) >= 3  # 7+ keys, 2 a chunk
    assert not any(pauses)  # the writers' lock free in every pause
    assert pending(store._conn())  # type: ignore[attr-defined]  # the late row waits
    assert fold(store, chunk=2) >= 1
    assert not pending(store._conn())  # type: ignore[attr-defined]
    for eid in [*ids, late]:
        assert_rollups_exact(store, eid)


def _pg(client: TestClient) -> HubStore:
    store = store_of(client)
    assert store.backend == "postgresql"
    return store


def _add_pending(conn: Any, rows: list[tuple[Any, ...]]) -> None:
    conn.cursor().executemany(
        "INSERT INTO hub_temporal_hourly_pending (entity, attr, dataset_id, hour, n, total, "
        "total_sq, lo, hi) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        rows,
    )


def _hourly_of(store: HubStore, entity: int) -> list[tuple[Any, ...]]:
    return _rows(
        store,
        "SELECT attr, hour, n, total, total_sq, lo, hi FROM hub_temporal_hourly "
        f"WHERE entity = {entity} ORDER BY attr, hour",
    )


@pytest.mark.backend("postgresql")  # its pending table (SQLite folds by key)
def test_postgres_fold_walks_the_pending_heap_a_few_pages_at_a_time(client: TestClient) -> None:
    """Sums of one roll-up row spread over many pages and several folds' transactions add
    up exactly; counts, sums of squares, minimums and maximums too."""
    import cityos.hub.temporal.rollup as rollup

    store = _pg(client)
    fold(store)
    rng = random.Random(7)
    entity = 9_100_000_000_000_001  # a key no entity has: the roll-ups need none
    rows = []
    for i in range(3_000):
        x = round(rng.uniform(-10, 10), 3)
        rows.append((entity, f"urn:a{i % 3}", "@none", (i % 4) * HOUR, 1, x, x * x, x, x))
    with store.pool.connection() as conn:  # type: ignore[attr-defined]
        _add_pending(conn, rows)
        pages = conn.execute(rollup._PG_SIZE).fetchone()[0]
    assert pages >= 10  # the rows span several pages, so several transactions
    assert fold(store, chunk=3) == len(rows)
    assert not pending_in(store)
    want: dict[tuple[str, int], list[float]] = {}
    for _, attr, _, hour, _, x, *_ in rows:
        want.setdefault((attr, hour), []).append(x)
    got = _hourly_of(store, entity)
    assert [(a, h) for a, h, *_ in got] == sorted(want)
    for attr, hour, n, total, total_sq, lo, hi in got:
        xs = want[(attr, hour)]
        assert n == len(xs)
        assert total == pytest.approx(sum(xs))
        assert total_sq == pytest.approx(sum(x * x for x in xs))
        assert (lo, hi) == (min(xs), max(xs))
    # a second fold onto the same rows adds to them
    with store.pool.connection() as conn:  # type: ignore[attr-defined]
        _add_pending(conn, [(entity, "urn:a0", "@none", 0, 2, 100.0, 5000.0, 40.0, 60.0)])
    assert fold(store) == 1
    first = _hourly_of(store, entity)[0]
    xs = want[("urn:a0", 0)]
    assert first[2:4] == (len(xs) + 2, pytest.approx(sum(xs) + 100.0))
    assert first[5:] == (min(xs), 60.0)


@pytest.mark.backend("postgresql")  # its pending table (SQLite folds by key)
def test_postgres_fold_leaves_what_is_not_committed_to_the_next_fold(client: TestClient) -> None:
    """A write still in flight when the fold runs is neither folded nor lost: its sums wait
    for the next fold; writers never wait for a fold."""
    import psycopg

    store = _pg(client)
    fold(store)
    entity = 9_100_000_000_000_002
    url = store.pool.conninfo  # type: ignore[attr-defined]
    with psycopg.connect(url) as writer:  # a transaction left open
        _add_pending(writer, [(entity, "urn:b", "@none", 0, 1, 2.0, 4.0, 2.0, 2.0)])
        with store.pool.connection() as conn:  # type: ignore[attr-defined]
            _add_pending(conn, [(entity, "urn:c", "@none", 0, 1, 3.0, 9.0, 3.0, 3.0)])
        assert fold(store) == 1  # the committed one only, without waiting for the writer
        writer.commit()
    assert [r[0] for r in _hourly_of(store, entity)] == ["urn:c"]
    assert pending_in(store)
    assert fold(store) == 1
    assert [r[:4] for r in _hourly_of(store, entity)] == [
        ("urn:b", 0, 1, 2.0),
        ("urn:c", 0, 1, 3.0),
    ]


@pytest.mark.backend("postgresql")  # its pending table (SQLite folds by key)
def test_postgres_provision_holds_new_pending_sums_back_until_it_commits(
    client: TestClient,
) -> None:
    """Provision folds in its own transaction under a SHARE lock on the pending table: a
    write that would append sums meanwhile waits (here it gives up after 100 ms), so none
    can be counted from its raw row by the recomputation and again from its pending sum."""
    import psycopg
    from psycopg import errors

    from cityos.hub.temporal.rollup import fold_in

    store = _pg(client)
    entity = 9_100_000_000_000_003
    with store.pool.connection() as conn:  # type: ignore[attr-defined]
        _add_pending(conn, [(entity, "urn:d", "@none", 0, 1, 5.0, 25.0, 5.0, 5.0)])
    url = store.pool.conninfo  # type: ignore[attr-defined]
    with store.transaction("urn:ngsi-ld:tenant:default") as tx:
        fold_in(tx)
        assert [r[:4] for r in _hourly_of_tx(tx, entity)] == [("urn:d", 0, 1, 5.0)]
        with psycopg.connect(url) as writer:
            writer.execute("SET lock_timeout = '100ms'")
            with pytest.raises(errors.LockNotAvailable):
                _add_pending(writer, [(entity, "urn:d", "@none", 0, 1, 1.0, 1.0, 1.0, 1.0)])
    with psycopg.connect(url) as writer:  # once it committed, writes go on
        writer.execute("SET lock_timeout = '1s'")
        _add_pending(writer, [(entity, "urn:d", "@none", 0, 1, 1.0, 1.0, 1.0, 1.0)])
    assert fold(store) == 1
    assert [r[:4] for r in _hourly_of(store, entity)] == [("urn:d", 0, 2, 6.0)]


def _hourly_of_tx(tx: Any, entity: int) -> list[tuple[Any, ...]]:
    return list(
        tx.connection.execute(
            "SELECT attr, hour, n, total FROM hub_temporal_hourly WHERE entity = %s", (entity,)
        )
    )
