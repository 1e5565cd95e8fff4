"""Migration 0013: history written in the old layout (an instance row per attribute instance,
in series) becomes change rows with the same instances and roll-ups, and goes back down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from cityos import db
from cityos.app import create_app
from cityos.config import Settings

CORE = "https://uri.etsi.org/ngsi-ld/default-context/"
TENANT = "urn:ngsi-ld:tenant:default"
EID = "urn:ngsi-ld:Sensor:m1"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
US = timedelta(microseconds=1)


def _go(engine: Engine, revision: str, *, down: bool) -> None:
    with engine.begin() as connection:
        config = db._alembic_config()
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def _instant(engine: Engine, moment: datetime) -> Any:
    return (
        moment
        if engine.dialect.name == "postgresql"
        else (moment - datetime(1970, 1, 1, tzinfo=UTC)) // US
    )


def _old_history(engine: Engine) -> None:
    """Write 0012's layout: pm25 (twice, two changes), pm25 of dataset d2 and a name."""
    pg = engine.dialect.name == "postgresql"
    first, second = T0, T0 + timedelta(minutes=10)
    rows = [  # (pk, series, kind, ts, modified, num, instance)
        (1, 1, "Property", first, first, 17.0, {"type": "Property", "value": 17}),
        (2, 3, "Property", first, first, None, {"type": "Property", "value": "조치원"}),
        (3, 1, "Property", second, second, 30.0, {"type": "Property", "value": 30}),
        (
            4,
            2,
            "Property",
            second,
            second,
            5.0,
            {"type": "Property", "value": 5, "datasetId": "d2"},
        ),
    ]
    with engine.begin() as conn:
        if pg:
            conn.execute(
                sa.text(
                    "CREATE TABLE hub_temporal_y2026m11 PARTITION OF hub_temporal FOR VALUES "
                    "FROM ('2026-11-01T00:00:00+00:00') TO ('2026-12-01T00:00:00+00:00')"
                )
            )
        types: Any = [CORE + "Sensor"] if pg else orjson.dumps([CORE + "Sensor"]).decode()
        conn.execute(
            sa.text("INSERT INTO hub_temporal_entities VALUES (:t, :e, :types)"),
            {"t": TENANT, "e": EID, "types": types},
        )
        for pk, attr, dataset in ((1, "pm25", ""), (2, "pm25", "d2"), (3, "name", "")):
            conn.execute(
                sa.text("INSERT INTO hub_temporal_series VALUES (:pk, :t, :e, :a, :d)"),
                {"pk": pk, "t": TENANT, "e": EID, "a": CORE + attr, "d": dataset},
            )
        for pk, series, kind, ts, modified, num, body in rows:
            conn.execute(
                sa.text(
                    "INSERT INTO hub_temporal (pk, series, kind, ts, observed_at, created_at, "
                    "modified_at, num, instance) VALUES (:pk, :s, :k, :ts, :ts, :m, :m, :n, "
                    + ("CAST(:i AS jsonb))" if pg else ":i)")
                ),
                {
                    "pk": pk,
                    "s": series,
                    "k": kind,
                    "ts": _instant(engine, ts),
                    "m": _instant(engine, modified),
                    "n": num,
                    "i": orjson.dumps(body).decode(),
                },
            )
        hour = _instant(engine, T0)
        # pm25's first reading was rolled up (SQLite: up to pk 1; the others are pending there)
        pending = [(1, 17.0)] if not pg else [(1, 17.0), (1, 30.0), (2, 5.0)]
        sums: dict[int, list[float]] = {}
        for series, x in pending:
            acc = sums.setdefault(series, [0, 0.0, 0.0, x, x])
            acc[0] += 1
            acc[1] += x
            acc[2] += x * x
            acc[3], acc[4] = min(acc[3], x), max(acc[4], x)
        for series, (n, total, total_sq, lo, hi) in sums.items():
            conn.execute(
                sa.text("INSERT INTO hub_temporal_hourly VALUES (:s, :h, :n, :t, :q, :lo, :hi)"),
                {"s": series, "h": hour, "n": n, "t": total, "q": total_sq, "lo": lo, "hi": hi},
            )
        if not pg:
            conn.execute(sa.text("UPDATE hub_temporal_rollup SET rolled_pk = 1"))


def test_old_history_becomes_change_rows_and_goes_back(engine: Engine, settings: Settings) -> None:
    _go(engine, "0012_temporal_rollup_mark", down=True)
    _old_history(engine)
    _go(engine, "head", down=False)
    assert db.current_revision(settings) == db.head_revision()
    with engine.connect() as conn:
        changes = conn.execute(
            sa.text("SELECT ts_lo, ts_hi, instances FROM hub_temporal_changes ORDER BY pk")
        ).fetchall()
        attrs = conn.execute(sa.text("SELECT attrs FROM hub_temporal_entities")).scalar_one()
        hourly = conn.execute(
            sa.text(
                "SELECT attr, dataset_id, hour, n, total FROM hub_temporal_hourly "
                "ORDER BY attr, dataset_id"
            )
        ).fetchall()
    t0 = (T0 - datetime(1970, 1, 1, tzinfo=UTC)) // US
    assert len(changes) == 2  # grouped by modifiedAt
    first = changes[0][2] if isinstance(changes[0][2], list) else orjson.loads(changes[0][2])
    assert [(i[0].removeprefix(CORE), i[7]) for i in first] == [("pm25", 17.0), ("name", None)]
    assert changes[0][0] == changes[0][1] == t0
    pairs = attrs if isinstance(attrs, list) else orjson.loads(attrs)
    assert sorted(tuple(p) for p in pairs) == [
        (CORE + "name", ""),
        (CORE + "pm25", ""),
        (CORE + "pm25", "d2"),
    ]
    # every instance reached the roll-ups (SQLite's pending ones were folded first)
    assert [(h[0].removeprefix(CORE), h[1], h[2], h[3], h[4]) for h in hourly] == [
        ("pm25", "", t0, 2, 47.0),
        ("pm25", "d2", t0, 1, 5.0),
    ]
    with TestClient(create_app(settings)) as client:
        answer = client.get(
            f"/ngsi-ld/v1/temporal/entities/{EID}",
            params={
                "options": "temporalValues",
                "timerel": "after",
                "timeAt": "2026-11-01T00:00:00Z",
            },
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["type"] == "Sensor"
        pm25 = {o.get("datasetId", ""): [v[0] for v in o["values"]] for o in body["pm25"]}
        assert pm25 == {"": [17, 30], "d2": [5]}
        # an instance written after the migration joins the same entity
        more = {"pm25": {"type": "Property", "value": 40, "observedAt": "2026-11-20T11:00:00Z"}}
        assert (
            client.post(f"/ngsi-ld/v1/temporal/entities/{EID}/attrs", json=more).status_code == 204
        )
    _go(engine, "0012_temporal_rollup_mark", down=True)
    with engine.connect() as conn:
        back = conn.execute(
            sa.text(
                "SELECT s.attr, s.dataset_id, t.num FROM hub_temporal t JOIN "
                "hub_temporal_series s ON s.pk = t.series ORDER BY t.pk"
            )
        ).fetchall()
    assert [(a.removeprefix(CORE), d, n) for a, d, n in back] == [
        ("pm25", "", 17.0),
        ("name", "", None),
        ("pm25", "", 30.0),
        ("pm25", "d2", 5.0),
        ("pm25", "", 40.0),
    ]
    _go(engine, "head", down=False)
    assert db.current_revision(settings) == db.head_revision()
