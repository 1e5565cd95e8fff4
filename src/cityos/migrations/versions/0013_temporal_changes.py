"""Temporal history: one row per entity change instead of one row per attribute instance.

Revision ID: 0013_temporal_changes
Revises: 0012_temporal_rollup_mark
Create Date: 2026-12-01

Until now every attribute instance was a row of ``hub_temporal`` in a *series* (tenant,
entity, attribute, datasetId) described by a row of ``hub_temporal_series``: a batch upsert
of 1,000 new 8-attribute entities wrote 8,000 series rows and 8,000 instance rows, and
those rows alone ran at about 20,000 entities/s on SQLite (docs/hub/temporal.md). Now:

* ``hub_temporal_entities`` gets an integer key ``pk`` per (tenant, entity id) — the
  series is the entity — and ``attrs``, the JSON array of the entity's ``[attribute IRI,
  datasetId]`` pairs that have history, so listing series and "entities having attribute
  X" need no row per attribute. SQLite numbers entities sequentially (one writer at a
  time); PostgreSQL names an entity by a 63-bit hash of its tenant and id
  (``record.entity_key``: the first 64 bits of MD5(tenant U+001F id) without the sign bit,
  which SQL computes too, so this migration and concurrent writers agree without talking).
* ``hub_temporal_changes`` holds one row per entity change: the entity's key, the earliest
  and latest instance times ``ts_lo``/``ts_hi`` of the change [µs since the epoch, on both
  backends] and ``instances``, one JSON array with one element per attribute instance:
  ``[attribute IRI, datasetId, kind, ts, observedAt, createdAt, modifiedAt, number, the
  stored instance]`` (times in µs; ``null`` for an instance deleted since, so the others
  keep their position). An instanceId is ``urn:ngsi-ld:Instance:<change pk>.<position>``.
  Index: (entity, ts_hi). PostgreSQL partitions it by month on ``ts_lo`` (bigint bounds;
  partitions keep the names ``hub_temporal_yYYYYmMM``).
* ``hub_temporal_span`` (one row) holds a bound on ``ts_hi - ts_lo`` of every change row:
  writers split a change whose instances lie further apart than an hour into several rows,
  and a provision patch that widens a row raises the bound. Readers then find the change
  rows of a window on the index alone (``ts_hi`` between start and end + span) and read a
  series' first or last instances change row by change row.
* ``hub_temporal_instances`` is a view expanding the change rows into one row per live
  instance (json_each / jsonb_array_elements), which the readers query with the change
  row's entity and time bounds as index prefilters.
* ``hub_temporal_hourly`` is keyed by (entity, attribute, datasetId, hour) [hour in µs on
  both backends]. SQLite's roll-up mark (``hub_temporal_rollup``, 0012) now counts change
  rows.

Conversion: the roll-ups pending on SQLite are folded first; then each entity's old instance
rows are grouped by (entity, modifiedAt) into change rows in their old key order, and the
roll-ups are re-keyed. Old instanceIds (``urn:ngsi-ld:Instance:<n>``) do not survive: they
name rows that no longer exist and are answered 404 afterwards (an instanceId is opaque;
clients read the new ones from the history). ``hub_temporal`` and ``hub_temporal_series``
are dropped.

Downgrade expands the change rows back into instance rows (each old series gets its id as
the old writers compute it: sequential on SQLite, the BLAKE2b hash on PostgreSQL); the
instanceIds change again.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0013_temporal_changes"
down_revision = "0012_temporal_rollup_mark"
branch_labels = None
depends_on = None

_HOUR = 3_600_000_000
# PostgreSQL's entity key in SQL (record.entity_key in Python)
_PG_KEY = (
    "(('x' || substr(md5({t} || chr(31) || {e}), 1, 16))::bit(64)::bigint & 9223372036854775807)"
)
_PG_US = "(extract(epoch from {c}) * 1000000)::bigint"

SQLITE_VIEW = (
    "CREATE VIEW hub_temporal_instances AS SELECT c.pk * 1048576 + j.key AS pk, "
    "c.pk AS change, c.entity AS entity, c.ts_lo AS lo, c.ts_hi AS hi, "
    "j.value ->> 0 AS attr, j.value ->> 1 AS dataset_id, j.value ->> 2 AS kind, "
    "j.value ->> 3 AS ts, j.value ->> 4 AS observed_at, j.value ->> 5 AS created_at, "
    "j.value ->> 6 AS modified_at, j.value ->> 7 AS num, j.value -> 8 AS instance "
    "FROM hub_temporal_changes c, json_each(c.instances) j WHERE j.type = 'array'"
)
POSTGRES_VIEW = (
    "CREATE VIEW hub_temporal_instances AS SELECT c.pk * 1048576 + j.o - 1 AS pk, "
    "c.pk AS change, c.entity AS entity, c.ts_lo AS lo, c.ts_hi AS hi, "
    "j.v ->> 0 AS attr, j.v ->> 1 AS dataset_id, j.v ->> 2 AS kind, "
    "(j.v ->> 3)::bigint AS ts, (j.v ->> 4)::bigint AS observed_at, "
    "(j.v ->> 5)::bigint AS created_at, (j.v ->> 6)::bigint AS modified_at, "
    "(j.v ->> 7)::double precision AS num, j.v -> 8 AS instance "
    "FROM hub_temporal_changes c, jsonb_array_elements(c.instances) WITH ORDINALITY j(v, o) "
    "WHERE jsonb_typeof(j.v) = 'array'"
)

SQLITE_UP = [
    # 0012's fold: every old instance reaches the old roll-ups before they are re-keyed
    "INSERT INTO hub_temporal_hourly (series, hour, n, total, total_sq, lo, hi) "
    f"SELECT series, ts - ((ts % {_HOUR}) + {_HOUR}) % {_HOUR}, count(num), "
    "sum(num), sum(num * num), min(num), max(num) FROM hub_temporal "
    "WHERE pk > (SELECT coalesce(max(rolled_pk), 0) FROM hub_temporal_rollup) "
    "AND num IS NOT NULL GROUP BY 1, 2 ON CONFLICT (series, hour) DO UPDATE SET "
    "n = n + excluded.n, total = total + excluded.total, total_sq = total_sq + excluded.total_sq, "
    "lo = min(lo, excluded.lo), hi = max(hi, excluded.hi)",
    """CREATE TABLE hub_temporal_entities_new (
        pk INTEGER PRIMARY KEY,
        tenant TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        types TEXT NOT NULL,
        attrs TEXT NOT NULL DEFAULT '[]',
        UNIQUE (tenant, entity_id))""",
    "INSERT INTO hub_temporal_entities_new (pk, tenant, entity_id, types, attrs) "
    "SELECT row_number() OVER (ORDER BY k.tenant, k.entity_id), k.tenant, k.entity_id, "
    "coalesce((SELECT e.types FROM hub_temporal_entities e WHERE e.tenant = k.tenant "
    "AND e.entity_id = k.entity_id), '[]'), "
    "coalesce((SELECT json_group_array(json_array(s.attr, s.dataset_id)) FROM "
    "(SELECT DISTINCT attr, dataset_id FROM hub_temporal_series s WHERE s.tenant = k.tenant "
    "AND s.entity_id = k.entity_id ORDER BY attr, dataset_id) s), '[]') "
    "FROM (SELECT tenant, entity_id FROM hub_temporal_entities UNION "
    "SELECT tenant, entity_id FROM hub_temporal_series) k",
    """CREATE TABLE hub_temporal_changes (
        pk INTEGER PRIMARY KEY,
        entity INTEGER NOT NULL,
        ts_lo INTEGER NOT NULL,
        ts_hi INTEGER NOT NULL,
        instances BLOB NOT NULL)""",
    "INSERT INTO hub_temporal_changes (entity, ts_lo, ts_hi, instances) "
    "SELECT entity, min(ts), max(ts), json_group_array(json(item)) FROM ("
    "SELECT e.pk AS entity, t.modified_at AS m, t.ts AS ts, t.pk AS old, "
    "json_array(s.attr, s.dataset_id, t.kind, t.ts, t.observed_at, t.created_at, "
    "t.modified_at, t.num, json(CAST(t.instance AS TEXT))) AS item "
    "FROM hub_temporal t JOIN hub_temporal_series s ON s.pk = t.series "
    "JOIN hub_temporal_entities_new e ON e.tenant = s.tenant AND e.entity_id = s.entity_id "
    "ORDER BY t.pk) GROUP BY entity, m ORDER BY min(old)",
    "CREATE INDEX hub_temporal_changes_entity ON hub_temporal_changes (entity, ts_hi)",
    """CREATE TABLE hub_temporal_hourly_new (
        entity INTEGER NOT NULL,
        attr TEXT NOT NULL,
        dataset_id TEXT NOT NULL,
        hour INTEGER NOT NULL,
        n INTEGER NOT NULL,
        total REAL NOT NULL,
        total_sq REAL NOT NULL,
        lo REAL NOT NULL,
        hi REAL NOT NULL,
        PRIMARY KEY (entity, attr, dataset_id, hour)) WITHOUT ROWID""",
    "INSERT INTO hub_temporal_hourly_new (entity, attr, dataset_id, hour, n, total, total_sq, "
    "lo, hi) SELECT e.pk, s.attr, s.dataset_id, h.hour, h.n, h.total, h.total_sq, h.lo, h.hi "
    "FROM hub_temporal_hourly h JOIN hub_temporal_series s ON s.pk = h.series "
    "JOIN hub_temporal_entities_new e ON e.tenant = s.tenant AND e.entity_id = s.entity_id",
    "DROP TABLE hub_temporal_hourly",
    "DROP TABLE hub_temporal",
    "DROP TABLE hub_temporal_series",
    "DROP TABLE hub_temporal_entities",
    "ALTER TABLE hub_temporal_entities_new RENAME TO hub_temporal_entities",
    "ALTER TABLE hub_temporal_hourly_new RENAME TO hub_temporal_hourly",
    "UPDATE hub_temporal_rollup SET rolled_pk = "
    "(SELECT coalesce(max(pk), 0) FROM hub_temporal_changes)",
    "CREATE TABLE hub_temporal_span (id INTEGER PRIMARY KEY CHECK (id = 1), span INTEGER NOT NULL)",
    f"INSERT INTO hub_temporal_span (id, span) SELECT 1, max({_HOUR}, "
    "coalesce((SELECT max(ts_hi - ts_lo) FROM hub_temporal_changes), 0))",
    SQLITE_VIEW,
]

_PG_KEY_SQL = _PG_KEY.format(t="k.tenant", e="k.entity_id")
POSTGRES_UP = [
    """CREATE TABLE hub_temporal_entities_new (
        pk bigint PRIMARY KEY,
        tenant text NOT NULL,
        entity_id text NOT NULL,
        types text[] NOT NULL,
        attrs jsonb NOT NULL DEFAULT '[]',
        UNIQUE (tenant, entity_id))""",
    "INSERT INTO hub_temporal_entities_new (pk, tenant, entity_id, types, attrs) "
    f"SELECT {_PG_KEY_SQL}, k.tenant, k.entity_id, "
    "coalesce((SELECT e.types FROM hub_temporal_entities e WHERE e.tenant = k.tenant "
    "AND e.entity_id = k.entity_id), '{}'), "
    "coalesce((SELECT jsonb_agg(jsonb_build_array(s.attr, s.dataset_id) "
    "ORDER BY s.attr, s.dataset_id) FROM (SELECT DISTINCT attr, dataset_id "
    "FROM hub_temporal_series s WHERE s.tenant = k.tenant AND s.entity_id = k.entity_id) s), "
    "'[]') FROM (SELECT tenant, entity_id FROM hub_temporal_entities UNION "
    "SELECT tenant, entity_id FROM hub_temporal_series) k",
    """CREATE TABLE hub_temporal_changes (
        pk bigint GENERATED BY DEFAULT AS IDENTITY,
        entity bigint NOT NULL,
        ts_lo bigint NOT NULL,
        ts_hi bigint NOT NULL,
        instances jsonb NOT NULL) PARTITION BY RANGE (ts_lo)""",
    "CREATE INDEX hub_temporal_changes_entity ON hub_temporal_changes (entity, ts_hi)",
    "CREATE INDEX hub_temporal_changes_lo ON hub_temporal_changes USING brin (ts_lo)",
]
POSTGRES_FILL = [
    "INSERT INTO hub_temporal_changes (entity, ts_lo, ts_hi, instances) "
    "SELECT e.pk, min({ts}), max({ts}), jsonb_agg(jsonb_build_array(s.attr, s.dataset_id, "
    "t.kind, {ts}, {obs}, {created}, {modified}, t.num, t.instance) ORDER BY t.pk) "
    "FROM hub_temporal t JOIN hub_temporal_series s ON s.pk = t.series "
    "JOIN hub_temporal_entities_new e ON e.tenant = s.tenant AND e.entity_id = s.entity_id "
    "GROUP BY e.pk, t.modified_at ORDER BY min(t.pk)".format(
        ts=_PG_US.format(c="t.ts"),
        obs=_PG_US.format(c="t.observed_at"),
        created=_PG_US.format(c="t.created_at"),
        modified=_PG_US.format(c="t.modified_at"),
    ),
    """CREATE TABLE hub_temporal_hourly_new (
        entity bigint NOT NULL,
        attr text NOT NULL,
        dataset_id text NOT NULL,
        hour bigint NOT NULL,
        n bigint NOT NULL,
        total double precision NOT NULL,
        total_sq double precision NOT NULL,
        lo double precision NOT NULL,
        hi double precision NOT NULL,
        PRIMARY KEY (entity, attr, dataset_id, hour))""",
    "INSERT INTO hub_temporal_hourly_new (entity, attr, dataset_id, hour, n, total, total_sq, "
    f"lo, hi) SELECT e.pk, s.attr, s.dataset_id, {_PG_US.format(c='h.hour')}, h.n, h.total, "
    "h.total_sq, h.lo, h.hi FROM hub_temporal_hourly h "
    "JOIN hub_temporal_series s ON s.pk = h.series "
    "JOIN hub_temporal_entities_new e ON e.tenant = s.tenant AND e.entity_id = s.entity_id",
    "DROP TABLE hub_temporal_hourly",
    "DROP TABLE hub_temporal",
    "DROP TABLE hub_temporal_series",
    "DROP TABLE hub_temporal_entities",
    "ALTER TABLE hub_temporal_entities_new RENAME TO hub_temporal_entities",
    "ALTER TABLE hub_temporal_entities RENAME CONSTRAINT hub_temporal_entities_new_pkey "
    "TO hub_temporal_entities_pkey",
    "ALTER TABLE hub_temporal_hourly_new RENAME TO hub_temporal_hourly",
    "ALTER TABLE hub_temporal_hourly RENAME CONSTRAINT hub_temporal_hourly_new_pkey "
    "TO hub_temporal_hourly_pkey",
    "CREATE INDEX hub_temporal_entities_types ON hub_temporal_entities USING gin (types)",
    "CREATE TABLE hub_temporal_span (id int PRIMARY KEY CHECK (id = 1), span bigint NOT NULL)",
    f"INSERT INTO hub_temporal_span (id, span) SELECT 1, greatest({_HOUR}, "
    "coalesce((SELECT max(ts_hi - ts_lo) FROM hub_temporal_changes), 0))",
    POSTGRES_VIEW,
]


def _month_bounds(year: int, month: int) -> tuple[int, int]:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = (
        datetime(year + 1, 1, 1, tzinfo=UTC)
        if month == 12
        else datetime(year, month + 1, 1, tzinfo=UTC)
    )
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return (start - epoch) // _ONE_US, (end - epoch) // _ONE_US


_ONE_US = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)


def _pg_upgrade(bind: sa.engine.Connection) -> None:
    for statement in POSTGRES_UP:
        op.execute(statement)
    old = [
        r[0]
        for r in bind.execute(
            sa.text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'hub_temporal'"
            )
        )
    ]
    for name in old:  # the new partitions take these names
        op.execute(f"ALTER TABLE {name} RENAME TO old_{name}")
    months = bind.execute(
        sa.text(
            "SELECT DISTINCT extract(year FROM ts AT TIME ZONE 'UTC')::int, "
            "extract(month FROM ts AT TIME ZONE 'UTC')::int FROM hub_temporal"
        )
    ).fetchall()
    for year, month in months:
        lo, hi = _month_bounds(year, month)
        op.execute(
            f"CREATE TABLE hub_temporal_y{year:04d}m{month:02d} PARTITION OF "
            f"hub_temporal_changes FOR VALUES FROM ({lo}) TO ({hi})"
        )
    for statement in POSTGRES_FILL:
        op.execute(statement)


def upgrade() -> None:
    """Convert the history to change rows for the connected dialect."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)
    else:
        _pg_upgrade(bind)


def _blake_series(tenant: str, entity_id: str, attr: str, dataset_id: str) -> int:
    """Return the series id 0003-0012's PostgreSQL writers compute (record._hash_series)."""
    digest = hashlib.blake2b(
        f"{tenant}\x1f{entity_id}\x1f{attr}\x1f{dataset_id}".encode(),
        digest_size=8,
        person=b"cityos-series",
    ).digest()
    return int.from_bytes(digest, "big") >> 1


def downgrade() -> None:
    """Expand the change rows into 0003's instance and series rows (in Python)."""
    import importlib

    import orjson

    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    old = importlib.import_module("cityos.migrations.versions.0003_temporal")
    entities = bind.execute(
        sa.text("SELECT pk, tenant, entity_id, types, attrs FROM hub_temporal_entities")
    ).fetchall()
    changes = bind.execute(
        sa.text("SELECT entity, instances FROM hub_temporal_changes ORDER BY pk")
    ).fetchall()
    hourly = bind.execute(
        sa.text(
            "SELECT entity, attr, dataset_id, hour, n, total, total_sq, lo, hi "
            "FROM hub_temporal_hourly"
        )
    ).fetchall()
    op.execute("DROP VIEW hub_temporal_instances")
    for table in (
        "hub_temporal_span",
        "hub_temporal_hourly",
        "hub_temporal_changes",
        "hub_temporal_entities",
    ):
        op.execute(f"DROP TABLE {table}")
    for statement in old.SQLITE if sqlite else old.POSTGRES:
        op.execute(statement)
    by_key = {r[0]: (r[1], r[2]) for r in entities}
    series: dict[tuple[str, str, str, str], int] = {}

    def series_of(entity: int, attr: str, dataset_id: str) -> int:
        tenant, entity_id = by_key[entity]
        key = (tenant, entity_id, attr, dataset_id)
        if key not in series:
            series[key] = (
                len(series) + 1 if sqlite else _blake_series(tenant, entity_id, attr, dataset_id)
            )
        return series[key]

    def instant(micros: int | None) -> object:
        if micros is None or sqlite:
            return micros
        return datetime(1970, 1, 1, tzinfo=UTC) + micros * _ONE_US

    rows = []
    for entity, raw in changes:
        items = raw if isinstance(raw, list) else orjson.loads(raw)
        for item in items:
            if item is None:
                continue
            attr, dataset_id, kind, ts, obs, created, modified, num, body = item
            rows.append(
                {
                    "series": series_of(entity, attr, dataset_id),
                    "kind": kind,
                    "ts": instant(ts),
                    "obs": instant(obs),
                    "created": instant(created),
                    "modified": instant(modified),
                    "num": num,
                    "instance": orjson.dumps(body).decode(),
                }
            )
    for pk, tenant, entity_id, types, attrs in entities:
        pairs = attrs if isinstance(attrs, list) else orjson.loads(attrs)
        for attr, dataset_id in pairs:
            series_of(pk, attr, dataset_id)
        bind.execute(
            sa.text(
                "INSERT INTO hub_temporal_entities (tenant, entity_id, types) "
                "VALUES (:t, :e, :types)"
            ),
            {"t": tenant, "e": entity_id, "types": types},
        )
    if series:
        bind.execute(
            sa.text(
                "INSERT INTO hub_temporal_series (pk, tenant, entity_id, attr, dataset_id) "
                "VALUES (:pk, :t, :e, :a, :d)"
            ),
            [{"pk": pk, "t": k[0], "e": k[1], "a": k[2], "d": k[3]} for k, pk in series.items()],
        )
    if not sqlite:
        months = {(r["ts"].year, r["ts"].month) for r in rows}
        for year, month in sorted(months):
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
            op.execute(
                f"CREATE TABLE hub_temporal_y{year:04d}m{month:02d} PARTITION OF hub_temporal "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
    if rows:
        cast = "" if sqlite else "CAST(:instance AS jsonb)"
        bind.execute(
            sa.text(
                "INSERT INTO hub_temporal (series, kind, ts, observed_at, created_at, "
                "modified_at, num, instance) VALUES (:series, :kind, :ts, :obs, :created, "
                f":modified, :num, {cast or ':instance'})"
            ),
            rows,
        )
    if hourly:
        bind.execute(
            sa.text(
                "INSERT INTO hub_temporal_hourly (series, hour, n, total, total_sq, lo, hi) "
                "VALUES (:series, :hour, :n, :total, :total_sq, :lo, :hi)"
            ),
            [
                {
                    "series": series_of(h[0], h[1], h[2]),
                    "hour": instant(h[3]),
                    "n": h[4],
                    "total": h[5],
                    "total_sq": h[6],
                    "lo": h[7],
                    "hi": h[8],
                }
                for h in hourly
            ],
        )
    if sqlite:
        op.execute(
            "UPDATE hub_temporal_rollup SET rolled_pk = (SELECT coalesce(max(pk), 0) "
            "FROM hub_temporal)"
        )
