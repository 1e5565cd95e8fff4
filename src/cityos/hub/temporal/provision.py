"""Temporal provision: write history directly (GS CIM 009 v1.8, 5.6.11-5.6.16, 6.18-6.22).

These verbs change the temporal representation only, never an entity's current state. Each
runs in one store transaction; every change to a numeric instance recomputes the hourly
roll-ups of the hours it touched from the raw instances, so roll-ups stay exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from psycopg.types.json import Jsonb

from cityos.hub._time import parse_datetime, utc_now
from cityos.hub.errors import BadRequestData, Conflict, ResourceNotFound
from cityos.hub.model import (
    ENTITY_KEYWORDS,
    Expander,
    check_attribute_name,
    check_entity_id,
    check_scope,
    expand_instance,
    expand_types,
    is_uri,
)
from cityos.hub.store.base import HubStore, Transaction
from cityos.hub.temporal._db import Db
from cityos.hub.temporal._times import MICROS_PER_HOUR, text_micros
from cityos.hub.temporal.params import bad
from cityos.hub.temporal.record import (
    SCOPE_IRI,
    Row,
    TemporalRecorder,
    instance_pk,
    instance_row,
    numeric,
    stored,
)
from cityos.hub.temporal.rollup import fold_pending

VALUE_KEYWORDS = ("value", "object", "languageMap", "vocab", "valueList", "objectList", "json")
_ZONE_OFFSET = re.compile(r"[+-]\d{2}:?\d{2}$")


def _check_utc(item: object, name: str) -> None:
    """Refuse an instance whose ``observedAt`` carries a zone offset instead of ``Z``.

    4.6.3: a DateTime is expressed in UTC, ``YYYY-MM-DDThh:mm:ssZ``. Writes through the
    Core API (/entities, ingestion) keep accepting offsets and record them as sent; history
    written directly must be in the standard's form.
    """
    if not isinstance(item, Mapping):
        return  # expand_instance says what is wrong
    observed = item.get("observedAt")
    if isinstance(observed, str) and _ZONE_OFFSET.search(observed):
        utc = parse_datetime(observed, field=f"{name}.observedAt")  # 400 if not a date-time
        fix = utc.strftime("%Y-%m-%dT%H:%M:%S") + (f".{utc:%f}Z" if utc.microsecond else "Z")
        raise bad(
            f"{name}.observedAt {observed!r} has a zone offset; an NGSI-LD DateTime is in "
            f"UTC ending in Z (4.6.3): send {fix}",
            f"{name}.observedAt {observed!r}에 시간대 오프셋이 있습니다. NGSI-LD DateTime은 "
            f"Z로 끝나는 UTC입니다(4.6.3). {fix}(으)로 보내세요",
        )


def recorder_of(store: HubStore) -> TemporalRecorder:
    """Return the store's history recorder (a new one if history recording is off)."""
    for listener in store.listeners:
        if isinstance(listener, TemporalRecorder):
            return listener
    return TemporalRecorder()


def _scope_rows(entity_id: str, raw: Any, ctx: Expander, *, now: str) -> list[Row]:
    """Return the history rows of a temporal entity's ``scope``: a list of Property
    instances (``{"type": "Property", "value": "/A/B", "observedAt": …}``), or scopes as
    on ``/entities`` (one instance at ``now``)."""
    items = raw if isinstance(raw, list) and raw and isinstance(raw[0], Mapping) else [raw]
    rows: list[Row] = []
    for item in items:
        if isinstance(item, Mapping):
            if item.get("type", "Property") != "Property" or "value" not in item:
                raise bad(
                    "a scope instance is a Property with a value, e.g. "
                    '{"type": "Property", "value": "/Sejong/Hansol", "observedAt": "…"}',
                    "scope 인스턴스는 value가 있는 Property여야 합니다. 예: "
                    '{"type": "Property", "value": "/Sejong/Hansol", "observedAt": "…"}',
                )
            _check_utc(item, "scope")
            inst = expand_instance(dict(item), "scope", SCOPE_IRI, ctx, now=now)
        else:
            inst = {"type": "Property", "value": raw}
        check_scope(inst["value"])  # kept as given: a scope or a list of them
        rows.append(instance_row(entity_id, SCOPE_IRI, inst, now))
    return rows


def _attribute_rows(
    entity_id: str, body: Mapping[str, Any], ctx: Expander, *, now: str
) -> list[Row]:
    rows: list[Row] = []
    if "scope" in body:
        rows.extend(_scope_rows(entity_id, body["scope"], ctx, now=now))
    for name, raw in body.items():
        if name in ENTITY_KEYWORDS:
            continue
        check_attribute_name(name)
        iri = ctx.expand(name)
        items = raw if isinstance(raw, list) else [raw]
        if not items:
            raise bad(
                f"attribute {name!r} has no instances; give a list of attribute instances",
                f"속성 {name!r}에 인스턴스가 없습니다. 속성 인스턴스 목록을 주세요",
            )
        for item in items:
            _check_utc(item, name)
            inst = expand_instance(item, name, iri, ctx, now=now)
            rows.append(instance_row(entity_id, iri, inst, now))
    return rows


def _tenant_row(db: Db, tenant: str) -> None:
    if db.postgres:
        db.run(
            "INSERT INTO hub_tenants (name, created_at) VALUES (%s, now()) ON CONFLICT DO NOTHING",
            [tenant],
        )
    else:
        db.run(
            "INSERT OR IGNORE INTO hub_tenants (name, created_at) VALUES (%s, %s)",
            [tenant, utc_now()],
        )


def history_types(db: Db, tenant: str, entity_id: str) -> list[str] | None:
    """Return the types remembered for an entity's history, or None if it has none."""
    rows = db.rows(
        "SELECT types FROM hub_temporal_entities WHERE tenant = %s AND entity_id = %s",
        [tenant, entity_id],
    )
    if not rows:
        return None
    raw = rows[0][0]
    return list(raw) if db.postgres else list(orjson.loads(raw))


def stored_types(store: HubStore, tenant: str, entity_id: str) -> list[str] | None:
    """Return the types of an entity's history (for access checks), or None."""
    from cityos.hub.temporal._db import read_db

    with read_db(store) as db:
        return history_types(db, tenant, entity_id)


def _db(tx: Transaction) -> Db:
    """Return the transaction's connection; on SQLite with the roll-ups made complete first:
    provision recomputes hours from raw rows, which must not count a pending row twice."""
    if tx.backend == "sqlite":
        fold_pending(tx.connection)
    return Db(tx.backend, tx.connection)


def upsert_temporal_entity(store: HubStore, tenant: str, body: object, ctx: Expander) -> bool:
    """Create or add to an entity's history (POST /temporal/entities); True if it was new."""
    if not isinstance(body, Mapping):
        raise BadRequestData(
            "the body must be a JSON object: a temporal entity"
            " / 본문은 JSON 객체(시간 엔터티)여야 합니다"
        )
    entity_id = check_entity_id(body.get("id", body.get("@id")))
    if "type" not in body and "@type" not in body:
        raise bad(
            "the temporal entity has no 'type'; give one such as 'AirQualityObserved'",
            "시간 엔터티에 'type'이 없습니다. 예: 'AirQualityObserved'",
        )
    types = expand_types(body.get("type", body.get("@type")), ctx)
    now = utc_now()
    rows = _attribute_rows(entity_id, body, ctx, now=now)
    with store.transaction(tenant) as tx:
        db = _db(tx)
        _tenant_row(db, tenant)
        known = history_types(db, tenant, entity_id)
        had_history = known is not None and _has_data(db, tenant, entity_id)
        merged = list(dict.fromkeys([*(known or []), *types]))
        recorder_of(store).write(tx, rows, [{"id": entity_id, "type": merged}])
    return not had_history


def append_temporal_attributes(
    store: HubStore, tenant: str, entity_id: str, body: object, ctx: Expander
) -> None:
    """Add attribute instances to an entity's history (POST …/{id}/attrs)."""
    if not isinstance(body, Mapping):
        raise BadRequestData(
            "the body must be a JSON object of attributes / 본문은 속성들의 JSON 객체여야 합니다"
        )
    for key in ("id", "@id"):
        if key in body and body[key] != entity_id:
            raise BadRequestData(
                f"the body's id {body[key]!r} differs from the URL's {entity_id}"
                f" / 본문의 id {body[key]!r}이(가) URL의 {entity_id}와 다릅니다"
            )
    rows = _attribute_rows(entity_id, body, ctx, now=utc_now())
    with store.transaction(tenant) as tx:
        db = _db(tx)
        known = history_types(db, tenant, entity_id)
        if known is None:
            raise _no_history(entity_id)
        typed = []
        if "type" in body:
            merged = list(dict.fromkeys([*known, *expand_types(body["type"], ctx)]))
            typed = [{"id": entity_id, "type": merged}]
        recorder_of(store).write(tx, rows, typed)


def _has_data(db: Db, tenant: str, entity_id: str) -> bool:
    """Return True when any series of the entity holds an instance or a roll-up."""
    series = [s for s, _ in _series_of(db, tenant, entity_id, None)]
    if not series:
        return False
    in_sql, params = db.in_list("series", series)
    for table in ("hub_temporal", "hub_temporal_hourly"):
        if db.rows(f"SELECT 1 FROM {table} WHERE {in_sql} LIMIT 1", params):
            return True
    return False


def _no_history(entity_id: str) -> ResourceNotFound:
    return ResourceNotFound(
        f"entity {entity_id} has no temporal history / 엔터티 {entity_id}의 시간 이력이 없습니다",
        instance=entity_id,
    )


def _series_of(db: Db, tenant: str, entity_id: str, attr: str | None) -> list[tuple[int, str]]:
    sql = "SELECT pk, dataset_id FROM hub_temporal_series WHERE tenant = %s AND entity_id = %s"
    params: list[Any] = [tenant, entity_id]
    if attr is not None:
        sql += " AND attr = %s"
        params.append(attr)
    return [(int(r[0]), r[1]) for r in db.rows(sql, params)]


def recompute_hours(db: Db, series: int, hours: Iterable[int]) -> None:
    """Rebuild the roll-up rows of ``series`` for the given hour starts [µs] from raw rows."""
    for hour in sorted(set(hours)):
        start, end = db.instant(hour), db.instant(hour + MICROS_PER_HOUR)
        db.run("DELETE FROM hub_temporal_hourly WHERE series = %s AND hour = %s", [series, start])
        db.run(
            "INSERT INTO hub_temporal_hourly (series, hour, n, total, total_sq, lo, hi) "
            "SELECT series, %s, count(num), sum(num), sum(num * num), min(num), max(num) "
            "FROM hub_temporal WHERE series = %s AND ts >= %s AND ts < %s "
            "AND num IS NOT NULL GROUP BY series",
            [start, series, start, end],
        )


def _hour(micros: int) -> int:
    return micros - micros % MICROS_PER_HOUR


def _check_complete(db: Db, series: int, hours: set[int]) -> None:
    """Refuse (409) a change to an hour whose roll-up counts numbers no raw row holds any
    more (retention expired them): recomputing it from the raw rows would lose them."""
    for hour in hours:
        start, end = db.instant(hour), db.instant(hour + MICROS_PER_HOUR)
        rolled = db.rows(
            "SELECT n FROM hub_temporal_hourly WHERE series = %s AND hour = %s", [series, start]
        )
        raw = db.rows(
            "SELECT count(num) FROM hub_temporal WHERE series = %s AND ts >= %s AND ts < %s",
            [series, start, end],
        )
        if rolled and int(rolled[0][0]) > int(raw[0][0]):
            raise Conflict(
                "this change touches an hour whose raw instances have partly expired "
                "(retention): its hourly roll-up could no longer be recomputed exactly / "
                "보존 기간이 지나 원본 인스턴스 일부가 삭제된 시간대라 시간별 집계를 정확히 "
                "다시 계산할 수 없어 변경할 수 없습니다"
            )


def _find_instance(
    db: Db, tenant: str, entity_id: str, attr: str, instance: str
) -> tuple[int, int, dict[str, Any], int]:
    """Return (series, pk, instance JSON, ts [µs]) of an instance, or raise 400/404."""
    if not is_uri(instance):
        raise bad(
            f"instanceId {instance!r} is not a URI (e.g. urn:ngsi-ld:Instance:42)",
            f"instanceId {instance!r}은(는) URI가 아닙니다 (예: urn:ngsi-ld:Instance:42)",
        )
    pk = instance_pk(instance)
    series = [s for s, _ in _series_of(db, tenant, entity_id, attr)]
    if pk is not None and series:
        in_sql, in_params = db.in_list("series", series)
        lock = " FOR UPDATE" if db.postgres else ""
        rows = db.rows(
            f"SELECT series, pk, instance, ts FROM hub_temporal WHERE {in_sql} AND pk = %s{lock}",
            [*in_params, pk],
        )
        if rows:
            raw = rows[0][2]
            body = raw if isinstance(raw, dict) else orjson.loads(raw)
            return int(rows[0][0]), pk, body, db.micros(rows[0][3])
    raise ResourceNotFound(
        f"attribute {attr} of {entity_id} has no instance {instance} / "
        f"{entity_id}의 속성 {attr}에 인스턴스 {instance}가 없습니다",
        instance=instance,
    )


def patch_instance(
    store: HubStore,
    tenant: str,
    entity_id: str,
    attr: str,
    instance: str,
    body: object,
    ctx: Expander,
) -> None:
    """Modify one instance in place (PATCH …/attrs/{attr}/{instanceId}); 404 if absent.

    A change to an hour whose raw instances have partly expired is refused (409).
    """
    if not isinstance(body, Mapping):
        raise BadRequestData(
            "the body must be a JSON object: the instance's new members"
            " / 본문은 JSON 객체(인스턴스의 새 멤버)여야 합니다"
        )
    iri = ctx.expand(attr)
    now = utc_now()
    with store.transaction(tenant) as tx:
        db = _db(tx)
        series, pk, old, old_ts = _find_instance(db, tenant, entity_id, iri, instance)
        _check_utc(body, attr)
        patch = {k: v for k, v in body.items() if k not in ("@context", "instanceId")}
        patch.setdefault("type", old.get("type", "Property"))
        if patch["type"] != old.get("type"):
            raise bad(
                f"the instance is a {old.get('type')}; a patch cannot make it a {patch['type']}",
                f"이 인스턴스는 {old.get('type')}입니다. {patch['type']}(으)로 바꿀 수 없습니다",
            )
        if patch.get("datasetId", old.get("datasetId")) != old.get("datasetId"):
            raise bad(
                "an instance's datasetId cannot change; delete it and add a new one",
                "인스턴스의 datasetId는 바꿀 수 없습니다. 지우고 새로 추가하세요",
            )
        for key in (*VALUE_KEYWORDS, "observedAt", "datasetId", "unitCode"):
            if key in old and key not in patch:
                patch[key] = old[key]
        new = expand_instance(patch, attr, iri, ctx, now=now)
        new["createdAt"] = old.get("createdAt", now)
        row = instance_row(entity_id, iri, new, now)
        _check_complete(db, series, {_hour(old_ts), _hour(row[4])})
        if db.postgres:
            from cityos.hub.temporal.partitions import ensure_month_partitions, month_of

            ensure_month_partitions(db.conn, {month_of(row[4])})
        db.run(
            "UPDATE hub_temporal SET kind = %s, ts = %s, observed_at = %s, modified_at = %s, "
            "num = %s, instance = %s WHERE series = %s AND pk = %s",
            [
                row[3],
                db.instant(row[4]),
                None if row[5] is None else db.instant(row[5]),
                db.instant(text_micros(now)),
                numeric(new),
                Jsonb(stored(new)) if db.postgres else orjson.dumps(stored(new)),
                series,
                pk,
            ],
        )
        recompute_hours(db, series, {_hour(old_ts), _hour(row[4])})


def delete_instance(
    store: HubStore,
    tenant: str,
    entity_id: str,
    attr: str,
    instance: str,
    ctx: Expander,
) -> None:
    """Delete one instance (DELETE …/attrs/{attr}/{instanceId}); 404 if absent."""
    iri = ctx.expand(attr)
    with store.transaction(tenant) as tx:
        db = _db(tx)
        series, pk, _, ts = _find_instance(db, tenant, entity_id, iri, instance)
        _check_complete(db, series, {_hour(ts)})
        db.run("DELETE FROM hub_temporal WHERE series = %s AND pk = %s", [series, pk])
        recompute_hours(db, series, {_hour(ts)})


def _drop_series(db: Db, series: list[int]) -> int:
    """Delete the instances and roll-ups of ``series``; return how many instances went.

    The series' description rows stay: writers (in this and other processes) remember
    which series are described and never describe one twice.
    """
    in_sql, in_params = db.in_list("series", series)
    gone = db.run(f"DELETE FROM hub_temporal WHERE {in_sql}", in_params)
    gone += db.run(f"DELETE FROM hub_temporal_hourly WHERE {in_sql}", in_params)
    return gone


def delete_attribute_history(
    store: HubStore,
    tenant: str,
    entity_id: str,
    attr: str,
    ctx: Expander,
    *,
    dataset_id: str | None = None,
    delete_all: bool = False,
) -> None:
    """Delete an attribute's history: the default instance's, one datasetId's, or all."""
    iri = ctx.expand(attr)
    with store.transaction(tenant) as tx:
        db = _db(tx)
        found = _series_of(db, tenant, entity_id, iri)
        chosen = [s for s, d in found if delete_all or d == (dataset_id or "")]
        if not chosen or not _drop_series(db, chosen):
            which = f" with datasetId {dataset_id}" if dataset_id else ""
            raise ResourceNotFound(
                f"entity {entity_id} has no history of attribute {attr}{which} / "
                f"엔터티 {entity_id}에 속성 {attr}의 이력이 없습니다",
                instance=entity_id,
            )


def delete_temporal_entity(store: HubStore, tenant: str, entity_id: str) -> None:
    """Delete an entity's whole history (DELETE /temporal/entities/{id}); 404 if none.

    Its description rows (types, series) stay, so that later writes of the entity are
    still findable; an entity with descriptions but no instances has no history.
    """
    with store.transaction(tenant) as tx:
        db = _db(tx)
        series = [s for s, _ in _series_of(db, tenant, entity_id, None)]
        if not series or not _drop_series(db, series):
            raise _no_history(entity_id)


__all__ = [
    "append_temporal_attributes",
    "delete_attribute_history",
    "delete_instance",
    "delete_temporal_entity",
    "patch_instance",
    "upsert_temporal_entity",
]
