"""The production hub store: PostgreSQL 15 + PostGIS 3 through psycopg 3 and a pool.

Every table is keyed by (tenant, entity id) so the schema can be distributed with Citus;
types and attribute names are indexed arrays (GIN), geometries PostGIS geography (GiST).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import orjson
import psycopg
from psycopg import pq
from psycopg.types.json import Json, Jsonb, set_json_dumps, set_json_loads
from psycopg_pool import ConnectionPool

from cityos.hub.errors import AlreadyExists
from cityos.hub.geo import postgis_condition
from cityos.hub.query.ast import QExpr
from cityos.hub.query.sql import plan_postgres
from cityos.hub.store._filter import page_of, residual_filter
from cityos.hub.store._greenlet import bound, run_in_greenlet
from cityos.hub.store._pg_loop import LoopConnection, LoopReader
from cityos.hub.store._pg_prepared import (
    Statement,
    command,
    defer,
    defer_command,
    discard,
    flush,
    run,
)
from cityos.hub.store._pg_statistics import StatisticsKeeper
from cityos.hub.store.base import (
    BUSY,
    AttributeInfo,
    Busy,
    Entity,
    EntityQuery,
    HubStore,
    PreparedInsert,
    QueryPage,
    Transaction,
    TypeInfo,
    geometries,
)

T = TypeVar("T")

_COLUMNS = "e.id, e.types, e.scopes, e.created_at, e.modified_at, e.attrs"


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


set_json_dumps(_dumps)
set_json_loads(orjson.loads)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _row_entity(row: tuple[Any, ...]) -> Entity:
    entity: Entity = {"id": row[0], "type": list(row[1])}
    if row[2] is not None:
        entity["scope"] = list(row[2])
    entity["createdAt"] = _iso(row[3])
    entity["modifiedAt"] = _iso(row[4])
    entity["attrs"] = row[5]
    return entity


# An entity comes back as one JSON text (json_build_array, in _row_entity's column order)
# that orjson parses: psycopg's loaders (two text arrays, two timestamptz, jsonb) and _iso's
# strftime cost the hub more than the server spends building it (a query page of 100: 13.5 M
# hub instructions before, 8.5 M after, no measurable server CPU more; one json_agg text for
# the whole page cost the server about 1 ms more than it saved). Timestamps are written as
# _iso writes them. The single-entity paths (GET by id, the read-modify-write of an
# attribute PATCH) also take prepared statements on libpq (``_pg_prepared``).
_STAMP = """'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"""  # to_char's pattern, as a literal
_ENTITY_JSON = (
    "json_build_array(e.id, e.types, e.scopes, "
    f"to_char(e.created_at AT TIME ZONE 'UTC', {_STAMP}), "
    f"to_char(e.modified_at AT TIME ZONE 'UTC', {_STAMP}), e.attrs)::text"
)
_GET = Statement(
    b"cityos_entity_get",
    f"SELECT {_ENTITY_JSON} FROM hub_entities e WHERE e.tenant = $1 AND e.id = $2".encode(),
)
# The write's lock also reads the subscription version the notification writer checks
# before COMMIT (``Transaction.subscription_version``): one round trip less per write.
_LOCK = Statement(
    b"cityos_entity_lock",
    f"SELECT {_ENTITY_JSON}, (SELECT version FROM hub_subscription_version WHERE id = 1) "
    "FROM hub_entities e WHERE e.tenant = $1 AND e.id = $2 FOR UPDATE OF e".encode(),
)
# ``attrs`` (about 2 kB for an 8-attribute entity) is its own jsonb parameter, parsed once:
# as a field of the ``json_to_record`` parameter it was lexed three times (the ::json cast
# validates the whole text, json_to_record parses it again, the field's jsonb input a third
# time), about a quarter of what the statement's JSON input cost the server.
_UPDATE = Statement(
    b"cityos_entity_update",
    b"UPDATE hub_entities e SET types = r.types, scopes = r.scopes, "
    b"attr_names = r.attr_names, modified_at = r.modified_at, attrs = $4::jsonb "
    b"FROM json_to_record($3::json) AS r(types text[], scopes text[], attr_names text[], "
    b"modified_at timestamptz) WHERE e.tenant = $1 AND e.id = $2",
)

# An attribute PATCH changes one attribute's instances and modifiedAt, nothing else
# (``Transaction.replace``'s ``changed``): its UPDATE sends only those attributes and
# merges them into the stored document (jsonb ``||`` replaces the value of each key it
# names), where ``_UPDATE`` sends the whole ~2 kB ``attrs`` for the server to parse and the
# three unchanged columns. jsonb is canonical (keys in one order, each once), so the stored
# value is the one ``_UPDATE`` would store.
_UPDATE_ATTRS = Statement(
    b"cityos_entity_update_attrs",
    b"UPDATE hub_entities e SET modified_at = $3::timestamptz, attrs = e.attrs || $4::jsonb "
    b"WHERE e.tenant = $1 AND e.id = $2",
)


def _json_entity(text: str | bytes | None) -> Entity:
    """Return the entity of one ``_ENTITY_JSON`` value (keys in _row_entity's order)."""
    row = orjson.loads(text or b"null")
    entity: Entity = {"id": row[0], "type": row[1]}
    if row[2] is not None:
        entity["scope"] = row[2]
    entity["createdAt"] = row[3]
    entity["modifiedAt"] = row[4]
    entity["attrs"] = row[5]
    return entity


# A batch's rows travel as one JSON array parameter that ``json_to_recordset`` unpacks on
# the server: one statement and one orjson call, where an ``executemany`` costs a statement
# (about 30 µs of psycopg on the client, a parse-bind-execute on the server) per row.
_ENTITY_ROWS = (
    "json_to_recordset(%s) AS r(id text, types text[], scopes text[], attr_names text[], "
    "created_at timestamptz, modified_at timestamptz, attrs jsonb)"
)
_GEO_ROWS = "json_to_recordset(%s) AS r(entity_id text, attr text, ordinal integer, geom text)"


# ``attr_names`` is stored sorted, whatever order the attributes come in: a request body's
# order on create, jsonb's (shortest key first) once read back. In the order they came, an
# entity's first PATCH rewrote attr_names with the same names reordered: a changed indexed
# column, so no HOT update and new entries in the pkey and both GIN indexes on every such
# write (docs/hub/postgresql.md, "Entity storage").
def _entity_record(e: Entity) -> dict[str, Any]:
    return {
        "id": e["id"],
        "types": e["type"],
        "scopes": e.get("scope"),
        "attr_names": sorted(e["attrs"]),
        "created_at": e["createdAt"],
        "modified_at": e["modifiedAt"],
        "attrs": e["attrs"],
    }


def _geo_among(before: Entity, names: Collection[str], after: Entity) -> bool:
    """Return whether an instance of the attributes ``names`` is a GeoProperty in ``before``
    or ``after`` (if not, a write of just those leaves the entity's geometries alone)."""
    for name in names:
        for entity in (before, after):
            for inst in entity["attrs"].get(name, ()):
                if inst.get("type") == "GeoProperty":
                    return True
    return False


def _retrieved(task: asyncio.Future[Any]) -> None:
    """Mark a shielded call's outcome as seen: when its request was cancelled no one awaits
    it, and asyncio would log its error as never retrieved (the error was the request's)."""
    if not task.cancelled():
        task.exception()


class _PostgresTransaction(Transaction):
    def __init__(self, conn: psycopg.Connection[Any], tenant: str) -> None:
        self.conn = conn
        self.tenant = tenant
        self._tenant_known = False
        # entity id -> the geometries hub_geo holds for it, once this transaction wrote them
        self._geo_known: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self.inserted = 0  # entity rows, for the planner's statistics (_pg_statistics)
        self._track()

    @property
    def backend(self) -> str:
        return "postgresql"

    @property
    def connection(self) -> psycopg.Connection[Any]:
        """The connection, with every statement deferred on it run (``_pg_prepared``)."""
        return flush(self.conn)

    @property
    def prepared_connection(self) -> psycopg.Connection[Any]:
        return self.conn

    def get_many(self, ids: list[str]) -> dict[str, Entity]:
        if len(ids) == 1:
            result = run(self.conn, _LOCK, (self.tenant.encode(), ids[0].encode()))
            if not result.ntuples:
                return {}
            entity = _json_entity(result.get_value(0, 0))
            if self.subscription_version is None:
                self.subscription_version = int(result.get_value(0, 1) or 0)
            self._loaded(entity)
            return {entity["id"]: entity}
        found = self._entities_among(ids, lock=True)
        for entity in found.values():
            self._loaded(entity)
        return found

    def peek_many(self, ids: list[str]) -> dict[str, Entity]:
        return self._entities_among(ids, lock=False)

    def _entities_among(self, ids: list[str], *, lock: bool) -> dict[str, Entity]:
        """Return this tenant's entities among ``ids`` (``lock``: FOR UPDATE)."""
        rows = self.connection.execute(
            f"SELECT {_COLUMNS} FROM hub_entities e WHERE e.tenant = %s AND e.id = ANY(%s)"
            + (" FOR UPDATE" if lock else ""),
            (self.tenant, ids),
        )
        return {row[0]: _row_entity(row) for row in rows}

    def _write_geo(self, entities: list[Entity]) -> None:
        rows = [
            {"entity_id": entity["id"], "attr": attr, "ordinal": ordinal, "geom": value}
            for entity in entities
            for ordinal, (attr, value) in enumerate(geometries(entity))
        ]
        if rows:
            self.connection.execute(
                "INSERT INTO hub_geo (tenant, entity_id, attr, ordinal, geom) "
                "SELECT %s, r.entity_id, r.attr, r.ordinal, "
                f"ST_GeomFromGeoJSON(r.geom)::geography FROM {_GEO_ROWS}",
                (self.tenant, Json(rows)),
            )

    def insert(self, entities: list[Entity], prepared: PreparedInsert | None = None) -> None:
        for entity in entities:
            self._wrote(entity)
            self._geo_known[entity["id"]] = geometries(entity)
        if not self._tenant_known:
            self.connection.execute(
                "INSERT INTO hub_tenants (name, created_at) VALUES (%s, now()) "
                "ON CONFLICT DO NOTHING",
                (self.tenant,),
            )
            self._tenant_known = True
        try:
            self.connection.execute(
                "INSERT INTO hub_entities (tenant, id, types, scopes, attr_names, created_at, "
                "modified_at, attrs) SELECT %s, r.id, r.types, r.scopes, r.attr_names, "
                f"r.created_at, r.modified_at, r.attrs FROM {_ENTITY_ROWS}",
                (self.tenant, Json([_entity_record(e) for e in entities])),
            )
        except psycopg.errors.UniqueViolation as exc:
            raise AlreadyExists(
                f"an entity among {[e['id'] for e in entities][:5]} exists"
                f" / {[e['id'] for e in entities][:5]} 중 이미 있는 엔터티가 있습니다"
            ) from exc
        self._write_geo(entities)
        self.inserted += len(entities)

    def replace(self, entities: list[Entity], *, changed: Collection[str] | None = None) -> None:
        latest = {e["id"]: e for e in entities}  # a repeated id: its last version wins
        for entity in latest.values():
            self._wrote(entity)
        if len(latest) == 1 and changed is not None:  # an attribute PATCH
            (entity,) = latest.values()
            attrs = entity["attrs"]
            params = (
                self.tenant.encode(),
                entity["id"].encode(),
                entity["modifiedAt"].encode(),
                orjson.dumps({name: attrs[name] for name in changed}),
            )
            defer(self.conn, _UPDATE_ATTRS, params)  # sent with the history, or COMMIT
            before = self._before.get(entity["id"])
            if before is not None and not _geo_among(before, changed, entity):
                return  # no GeoProperty among the changed attributes: hub_geo is as it was
        elif len(latest) == 1:  # an attribute PUT, DELETE, an entity PUT: by primary key
            (entity,) = latest.values()
            record = _entity_record(entity)
            attrs = record.pop("attrs")
            del record["id"], record["created_at"]
            params = (
                self.tenant.encode(),
                entity["id"].encode(),
                orjson.dumps(record),
                orjson.dumps(attrs),
            )
            # no result to read: sent with the next statement (the history, or COMMIT)
            defer(self.conn, _UPDATE, params)
        else:
            # ``e.id = ANY(ids)``: the planner cannot see how many rows json_to_recordset
            # gives (it guesses 100) and would scan the tenant's entities to hash-join them.
            self.connection.execute(
                "UPDATE hub_entities e SET types = r.types, scopes = r.scopes, "
                "attr_names = r.attr_names, modified_at = r.modified_at, attrs = r.attrs "
                f"FROM {_ENTITY_ROWS} WHERE e.tenant = %s AND e.id = ANY(%s) AND e.id = r.id",
                (Json([_entity_record(e) for e in latest.values()]), self.tenant, list(latest)),
            )
        # Geometries are rewritten only for entities whose GeoProperties changed (a PATCH
        # of a reading leaves the location alone): no GiST index churn, two statements less.
        moved = [e for e in latest.values() if self._geometries_changed(e)]
        if moved:
            self.connection.execute(
                "DELETE FROM hub_geo WHERE tenant = %s AND entity_id = ANY(%s)",
                (self.tenant, [e["id"] for e in moved]),
            )
            self._write_geo(moved)

    def _geometries_changed(self, entity: Entity) -> bool:
        """Return whether ``entity``'s geometries differ from those hub_geo holds for it.

        hub_geo holds what this transaction last wrote, else what it loaded
        (``Transaction._before``: writers replace attribute lists, never edit them in place).
        """
        now = geometries(entity)
        known = self._geo_known.get(entity["id"])
        if known is None:
            before = self._before.get(entity["id"])
            known = None if before is None else geometries(before)
        self._geo_known[entity["id"]] = now
        return known is None or known != now

    def delete(self, ids: list[str]) -> None:
        for entity_id in ids:
            self._removed(entity_id)
            self._geo_known.pop(entity_id, None)
        self.connection.execute(
            "DELETE FROM hub_entities WHERE tenant = %s AND id = ANY(%s)", (self.tenant, ids)
        )


class PostgresStore(HubStore):
    """The hub on PostgreSQL + PostGIS."""

    backend = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 16) -> None:
        self._tenants: set[str] = set()  # tenants known to exist (they are never deleted)
        self.listeners = []
        self.worker_threads = pool_size
        # Autocommit: a read is its statement alone, no BEGIN and COMMIT round trips
        # around it (under READ COMMITTED each statement has its own snapshot inside a
        # transaction too). Writes open one explicitly: transaction() below, and every
        # other borrower that writes (retention) uses conn.transaction() as well.
        settings: dict[str, Any] = {
            "options": "-c timezone=UTC -c jit=off",  # JIT costs ~1 s per new jsonb query
            "autocommit": True,
        }
        self.pool = ConnectionPool(url, min_size=1, max_size=pool_size, kwargs=settings, open=True)
        # GET by id and one-entity writes on the event loop (``_pg_loop``, ``_greenlet``),
        # on up to as many connections again (at least two), opened only as concurrent
        # requests need them. A write holds its connection until COMMIT's WAL flush, and
        # concurrent writes share a flush (see ``Settings.pool_size``): with half as many as
        # the pool, 16 concurrent PATCHes queued for 8 connections, and the hub spent ~15 %
        # more CPU per PATCH (docs/benchmarks.md, session 10). In-process, 16 concurrent
        # GETs fell back to a thread 1,292 times in 3,200 with 4 of them, 391 with 8, 8 with
        # 16. PostgreSQL's 100 connections are shared by every process: a process opens at
        # most twice ``pool_size``.
        self.loop_reader = LoopReader(
            lambda: LoopConnection.connect(url, **settings),
            [_GET, _LOCK, _UPDATE_ATTRS, _UPDATE],
            lambda: self.executor,
            size=max(2, pool_size),
        )
        self.statistics = StatisticsKeeper(self.pool)

    def close(self) -> None:
        self.statistics.wait(timeout=10)
        self.loop_reader.close()
        self.pool.close()

    @contextmanager
    def transaction(self, tenant: str) -> Iterator[Transaction]:
        # BEGIN and COMMIT straight on libpq: psycopg's conn.transaction() costs as much
        # client work as two statements more; nothing inside nests a psycopg transaction.
        # getconn/putconn rather than pool.connection(): its ``with conn`` adds nothing to
        # an autocommit connection but work.
        # BEGIN is deferred (``_pg_prepared.defer``): it goes with the transaction's first
        # statement, and a PATCH's UPDATE and history with COMMIT: two round trips.
        loop_conn = bound()  # a loop greenlet's connection (``call_on_loop``), or None
        conn = self.pool.getconn() if loop_conn is None else loop_conn
        try:
            defer_command(conn, b"BEGIN")
            try:
                tx = _PostgresTransaction(conn, tenant)
                yield tx
                self._before_commit(tx)
                command(conn, b"COMMIT")  # a deferred statement's error is raised here
            except BaseException:
                discard(conn)
                # (IDLE: nothing was sent, not even BEGIN)
                if conn.pgconn.transaction_status != pq.TransactionStatus.IDLE:
                    with suppress(psycopg.Error):  # a broken connection: the pool discards it
                        command(conn, b"ROLLBACK")
                raise
        finally:
            discard(conn)
            if loop_conn is None:
                self.pool.putconn(conn)
        self._after_commit(tx)
        self.statistics.inserted(tx.inserted)

    def tenant_exists(self, tenant: str) -> bool:
        if tenant in self._tenants:
            return True
        with self.pool.connection() as conn:
            row = conn.execute("SELECT 1 FROM hub_tenants WHERE name = %s", (tenant,))
            if row.fetchone() is None:
                return False
        self._tenants.add(tenant)
        return True

    def get(self, tenant: str, entity_id: str) -> Entity | None:
        conn = self.pool.getconn()  # as in transaction(): no ``with conn``
        try:
            result = run(conn, _GET, (tenant.encode(), entity_id.encode()))
        finally:
            self.pool.putconn(conn)
        return _json_entity(result.get_value(0, 0)) if result.ntuples else None

    async def get_on_loop(self, tenant: str, entity_id: str) -> Entity | None | Literal[Busy.BUSY]:
        result = await self.loop_reader.run(_GET, (tenant.encode(), entity_id.encode()))
        if result is BUSY:
            return BUSY
        return _json_entity(result.get_value(0, 0)) if result.ntuples else None

    async def call_on_loop(self, call: Callable[[], T]) -> T | Literal[Busy.BUSY]:
        """Run ``call`` (store code whose database work is its transactions) in a greenlet
        on the event loop, on a loop connection of its own (``_greenlet``): no thread hop.

        BUSY: no loop connection is open yet, or the reader is closed (the caller runs it in
        a thread). While all are busy it waits for one, as a GET does. Once started the call
        runs to its end even if the awaiting request is cancelled (as a call queued for a
        thread does): a write is done or not, never left half-way.
        """
        conn = await self.loop_reader.acquire()
        if conn is None:
            return BUSY
        task = asyncio.ensure_future(self._run_bound(call, conn))
        task.add_done_callback(_retrieved)
        return await asyncio.shield(task)

    async def _run_bound(self, call: Callable[[], T], conn: LoopConnection) -> T:
        try:
            return await run_in_greenlet(call, conn)
        finally:
            self.loop_reader.finish(conn)

    def _where(
        self, tenant: str, query: EntityQuery, *, with_geo: bool = True
    ) -> tuple[str, list[Any], QExpr | None]:
        clauses = ["e.tenant = %s"]
        params: list[Any] = [tenant]
        if query.ids is not None:
            clauses.append("e.id = ANY(%s)")
            params.append(list(query.ids))
        if query.id_pattern is not None:
            clauses.append("e.id ~ %s")
            params.append(query.id_pattern)
        if query.types is not None:
            alternatives = []
            for group in query.types.groups:
                alternatives.append("e.types @> %s")
                params.append(sorted(group))
            clauses.append("(" + " OR ".join(alternatives) + ")")
        if query.attrs:
            clauses.append("e.attr_names && %s")
            params.append(list(query.attrs))
        q_residual = None
        if query.q is not None:
            plan = plan_postgres(query.q)
            clauses.append(plan.sql)
            params.extend(plan.params)
            q_residual = plan.residual
        if query.geo is not None and with_geo:
            condition, geo_params = postgis_condition(query.geo, "g.geom")
            clauses.append(
                "EXISTS (SELECT 1 FROM hub_geo g WHERE g.tenant = e.tenant AND "
                f"g.entity_id = e.id AND g.attr = %s AND {condition})"
            )
            params.extend([query.geo.geoproperty, *geo_params])
        return " AND ".join(clauses), params, q_residual

    def _geo_first_page(self, tenant: str, query: EntityQuery) -> tuple[str, list[Any]]:
        """Return the SQL of a geo-query's page that reads the entities in id order from the
        geo matches and stops at the page's end.

        The planner drives such a query from the GiST index anyway: PostGIS estimates a
        ``near`` or ``within`` to match ~10 rows, whatever the area. Asked as ``EXISTS``, it
        then looks up *every* match's entity (type and ``q`` tested on each) and sorts
        them; here the matches' ids are sorted first and the look-ups stop once the page
        is full: for issue 2's query (1 km, ~390 matches, ~200 pass type and q) about half
        of them, 6.7 -> 4.4 ms of server CPU; 99 -> 26 ms for 5 km, 896 -> 110 ms for 50 km.
        """
        assert query.geo is not None
        where, params, _ = self._where(tenant, query, with_geo=False)
        condition, geo_params = postgis_condition(query.geo, "g.geom")
        # OFFSET 0 keeps the lateral subquery a per-id index look-up (a nested loop that
        # keeps the ids' order, so no sort after it and an early stop at the LIMIT).
        sql = (
            f"SELECT {_ENTITY_JSON} FROM (SELECT DISTINCT g.entity_id FROM hub_geo g "
            f"WHERE g.tenant = %s AND g.attr = %s AND {condition} ORDER BY g.entity_id) c "
            f"JOIN LATERAL (SELECT {_COLUMNS} FROM hub_entities e WHERE e.id = c.entity_id "
            f"AND {where} OFFSET 0) e ON true ORDER BY c.entity_id LIMIT %s OFFSET %s"
        )
        geo = [tenant, query.geo.geoproperty, *geo_params]
        return sql, [*geo, *params, query.limit, query.offset]

    def query(self, tenant: str, query: EntityQuery) -> QueryPage:
        where, params, q_residual = self._where(tenant, query)
        keep = residual_filter(query, q_residual=q_residual, geo_in_sql=True)
        sql = f"SELECT {_COLUMNS} FROM hub_entities e WHERE {where} ORDER BY e.id"
        with self.pool.connection() as conn:
            if keep is None:
                if query.geo is not None and query.ids is None:  # ids: few rows to probe
                    page_sql, page_params = self._geo_first_page(tenant, query)
                else:  # the subquery builds the texts of the page's rows only
                    page_sql = (
                        f"SELECT {_ENTITY_JSON} FROM ({sql} LIMIT %s OFFSET %s) e ORDER BY e.id"
                    )
                    page_params = [*params, query.limit, query.offset]
                rows = conn.execute(page_sql, page_params)
                page = QueryPage([_json_entity(r[0]) for r in rows])
                if query.count:
                    total = conn.execute(
                        f"SELECT count(*) FROM hub_entities e WHERE {where}", params
                    ).fetchone()
                    page.total = int(total[0]) if total else 0
                return page
            with conn.cursor() as cur:
                return page_of(map(_row_entity, cur.stream(sql, params)), keep, query)

    def iter_all(self, tenant: str, query: EntityQuery) -> Iterator[Entity]:
        where, params, q_residual = self._where(tenant, query)
        keep = residual_filter(query, q_residual=q_residual, geo_in_sql=True)
        with self.pool.connection() as conn, conn.cursor() as cur:
            for row in cur.stream(
                f"SELECT {_COLUMNS} FROM hub_entities e WHERE {where} ORDER BY e.id", params
            ):
                entity = _row_entity(row)
                if keep is None or keep(entity):
                    yield entity

    def entity_count(self, tenant: str) -> int:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT count(*) FROM hub_entities WHERE tenant = %s", (tenant,)
            ).fetchone()
        return int(row[0]) if row else 0

    def type_infos(self, tenant: str, types: list[str] | None = None) -> list[TypeInfo]:
        type_filter = "" if types is None else " AND t = ANY(%s)"
        params: list[Any] = [tenant] if types is None else [tenant, types]
        with self.pool.connection() as conn:
            counts: dict[str, int] = dict(
                conn.execute(
                    "SELECT t, count(*) FROM hub_entities e, unnest(e.types) t "
                    f"WHERE e.tenant = %s{type_filter} GROUP BY t ORDER BY t",
                    params,
                ).fetchall()
            )
            attrs: dict[str, dict[str, set[str]]] = {t: {} for t in counts}
            rows = conn.execute(
                "SELECT DISTINCT t, a.key, i->>'type' FROM hub_entities e, unnest(e.types) t, "
                "jsonb_each(e.attrs) a, jsonb_array_elements(a.value) i "
                f"WHERE e.tenant = %s{type_filter}",
                params,
            )
            for type_iri, attr, kind in rows:
                attrs[type_iri].setdefault(attr, set()).add(kind)
        return [TypeInfo(t, int(n), attrs[t]) for t, n in counts.items()]

    def attribute_infos(self, tenant: str, attrs: list[str] | None = None) -> list[AttributeInfo]:
        attr_filter = "" if attrs is None else " AND a.key = ANY(%s)"
        params: list[Any] = [tenant] if attrs is None else [tenant, attrs]
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT a.key, count(DISTINCT e.id), array_agg(DISTINCT i->>'type'), "
                "array_agg(DISTINCT t) FROM hub_entities e, jsonb_each(e.attrs) a, "
                "jsonb_array_elements(a.value) i, unnest(e.types) t "
                f"WHERE e.tenant = %s{attr_filter} GROUP BY a.key ORDER BY a.key",
                params,
            ).fetchall()
        return [AttributeInfo(r[0], int(r[1]), set(r[2]), set(r[3])) for r in rows]

    def contexts(self, tenant: str | None = None) -> list[dict[str, Any]]:
        where = "" if tenant is None else "WHERE tenant IS NULL OR tenant = %s "
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, url, kind, body, created_at, last_used_at, hits, tenant "
                f"FROM hub_contexts {where}ORDER BY created_at",
                () if tenant is None else (tenant,),
            ).fetchall()
        return [
            {
                "id": r[0],
                "url": r[1],
                "kind": r[2],
                "body": r[3],
                "createdAt": _iso(r[4]),
                "lastUsage": _iso(r[5]),
                "numberOfHits": r[6],
                "tenant": r[7],
            }
            for r in rows
        ]

    def put_context(self, record: dict[str, Any]) -> None:
        try:
            with self.pool.connection() as conn:
                conn.execute(
                    "INSERT INTO hub_contexts (id, url, kind, body, created_at, tenant) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",
                    (
                        record["id"],
                        record["url"],
                        record["kind"],
                        Jsonb(record["body"]),
                        record["createdAt"],
                        record.get("tenant"),
                    ),
                )
        except psycopg.errors.UniqueViolation as exc:
            raise AlreadyExists(
                f"a @context with url {record['url']} is already stored"
                f" / url이 {record['url']}인 @context가 이미 저장되어 있습니다"
            ) from exc

    def delete_context(self, context_id: str) -> bool:
        with self.pool.connection() as conn:
            cur = conn.execute("DELETE FROM hub_contexts WHERE id = %s", (context_id,))
            return cur.rowcount > 0

    def count_context_hits(self, hits: Mapping[str, tuple[int, str]]) -> None:
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.executemany(
                "UPDATE hub_contexts SET hits = hits + %s, last_used_at = %s WHERE url = %s",
                [(count, last, url) for url, (count, last) in hits.items()],
            )
