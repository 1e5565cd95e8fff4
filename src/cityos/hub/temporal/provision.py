"""Temporal provision: write history directly (GS CIM 009 v1.8, 5.6.11-5.6.16, 6.18-6.22).

These verbs change the temporal representation only, never an entity's current state. Each
runs in one store transaction; every change to a numeric instance recomputes the hourly
roll-ups of the hours it touched from the raw instances, so roll-ups stay exact. An
instance lives in its change row's ``instances`` array (migration 0013): a patch rewrites
its element, a deletion makes it ``null`` (the others keep their positions, hence their
instanceIds), and a change row left without instances is deleted.
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
    POSITION_BITS,
    SCOPE_IRI,
    Row,
    TemporalRecorder,
    instance_pk,
    instance_row,
    numeric,
    stored,
)
from cityos.hub.temporal.rollup import fold_in

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


def _db(tx: Transaction, *, changes_rollups: bool = True) -> Db:
    """Return the transaction's connection, with the roll-ups made complete first and no
    sums left pending until it ends (:func:`~cityos.hub.temporal.rollup.fold_in`):
    provision recomputes hours from raw rows, which must not count a pending sum twice.

    A write that only adds instances (``changes_rollups=False``) needs that only on SQLite,
    where the fold is what the write lock it holds anyway allows; on PostgreSQL it would
    hold every other writer back until it commits."""
    if changes_rollups or tx.backend == "sqlite":
        fold_in(tx)
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
        db = _db(tx, changes_rollups=False)
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
        db = _db(tx, changes_rollups=False)
        known = history_types(db, tenant, entity_id)
        if known is None:
            raise _no_history(entity_id)
        typed = []
        if "type" in body:
            merged = list(dict.fromkeys([*known, *expand_types(body["type"], ctx)]))
            typed = [{"id": entity_id, "type": merged}]
        recorder_of(store).write(tx, rows, typed)


def _entity(db: Db, tenant: str, entity_id: str, *, lock: bool = False) -> int | None:
    """Return the key of an entity's history, or None if it has none."""
    rows = db.rows(
        "SELECT pk FROM hub_temporal_entities WHERE tenant = %s AND entity_id = %s"
        + (" FOR UPDATE" if lock and db.postgres else ""),
        [tenant, entity_id],
    )
    return int(rows[0][0]) if rows else None


def _has_data(db: Db, tenant: str, entity_id: str) -> bool:
    """Return True when the entity's history holds an instance or a roll-up."""
    key = _entity(db, tenant, entity_id)
    if key is None:
        return False
    for sql in (
        "SELECT 1 FROM hub_temporal_instances WHERE entity = %s LIMIT 1",
        "SELECT 1 FROM hub_temporal_hourly WHERE entity = %s LIMIT 1",
    ):
        if db.rows(sql, [key]):
            return True
    return False


def _no_history(entity_id: str) -> ResourceNotFound:
    return ResourceNotFound(
        f"entity {entity_id} has no temporal history / 엔터티 {entity_id}의 시간 이력이 없습니다",
        instance=entity_id,
    )


Series = tuple[int, str, str]  # (entity key, attribute IRI, datasetId)


def recompute_hours(db: Db, series: Series, hours: Iterable[int]) -> None:
    """Rebuild the roll-up rows of ``series`` for the given hour starts [µs] from raw rows."""
    entity, attr, dataset_id = series
    for hour in sorted(set(hours)):
        end = hour + MICROS_PER_HOUR
        db.run(
            "DELETE FROM hub_temporal_hourly WHERE entity = %s AND attr = %s "
            "AND dataset_id = %s AND hour = %s",
            [entity, attr, dataset_id, hour],
        )
        db.run(
            "INSERT INTO hub_temporal_hourly (entity, attr, dataset_id, hour, n, total, "
            "total_sq, lo, hi) SELECT entity, attr, dataset_id, %s, count(num), sum(num), "
            "sum(num * num), min(num), max(num) FROM hub_temporal_instances "
            "WHERE entity = %s AND hi >= %s AND lo < %s AND attr = %s AND dataset_id = %s "
            "AND ts >= %s AND ts < %s AND num IS NOT NULL GROUP BY entity, attr, dataset_id",
            [hour, entity, hour, end, attr, dataset_id, hour, end],
        )


def _hour(micros: int) -> int:
    return micros - micros % MICROS_PER_HOUR


def _check_complete(db: Db, series: Series, hours: set[int]) -> None:
    """Refuse (409) a change to an hour whose roll-up counts numbers no raw row holds any
    more (retention expired them): recomputing it from the raw rows would lose them."""
    entity, attr, dataset_id = series
    for hour in hours:
        end = hour + MICROS_PER_HOUR
        rolled = db.rows(
            "SELECT n FROM hub_temporal_hourly WHERE entity = %s AND attr = %s "
            "AND dataset_id = %s AND hour = %s",
            [entity, attr, dataset_id, hour],
        )
        raw = db.rows(
            "SELECT count(num) FROM hub_temporal_instances WHERE entity = %s AND hi >= %s "
            "AND lo < %s AND attr = %s AND dataset_id = %s AND ts >= %s AND ts < %s",
            [entity, hour, end, attr, dataset_id, hour, end],
        )
        if rolled and int(rolled[0][0]) > int(raw[0][0]):
            raise Conflict(
                "this change touches an hour whose raw instances have partly expired "
                "(retention): its hourly roll-up could no longer be recomputed exactly / "
                "보존 기간이 지나 원본 인스턴스 일부가 삭제된 시간대라 시간별 집계를 정확히 "
                "다시 계산할 수 없어 변경할 수 없습니다"
            )


def _items(raw: Any) -> list[Any]:
    return raw if isinstance(raw, list) else orjson.loads(raw)


def save_change(db: Db, pk: int, items: list[Any]) -> None:
    """Write a change row's instances back (its time bounds with them); delete the row
    when no instance is left."""
    times = [i[3] for i in items if i is not None]
    if not times:
        db.run("DELETE FROM hub_temporal_changes WHERE pk = %s", [pk])
        return
    if max(times) - min(times) > db.span():  # readers bound ts_lo by ts_hi - span
        db.run(
            "UPDATE hub_temporal_span SET span = %s WHERE span < %s",
            [max(times) - min(times), max(times) - min(times)],
        )
        db._span = None
    if db.postgres:
        from cityos.hub.temporal.partitions import ensure_month_partitions, month_of

        ensure_month_partitions(db.conn, {month_of(min(times))})
    db.run(
        "UPDATE hub_temporal_changes SET ts_lo = %s, ts_hi = %s, instances = %s WHERE pk = %s",
        [
            min(times),
            max(times),
            Jsonb(items) if db.postgres else bytearray(orjson.dumps(items)),
            pk,
        ],
    )


def _find_instance(
    db: Db, tenant: str, entity_id: str, attr: str, instance: str
) -> tuple[Series, int, int, list[Any]]:
    """Return (series, change pk, position, the change's instances) of an instance, or
    raise 400/404."""
    if not is_uri(instance):
        raise bad(
            f"instanceId {instance!r} is not a URI (e.g. urn:ngsi-ld:Instance:42.0)",
            f"instanceId {instance!r}은(는) URI가 아닙니다 (예: urn:ngsi-ld:Instance:42.0)",
        )
    pk = instance_pk(instance)
    entity = _entity(db, tenant, entity_id)
    if pk is not None and entity is not None:
        change, position = pk >> POSITION_BITS, pk & ((1 << POSITION_BITS) - 1)
        lock = " FOR UPDATE" if db.postgres else ""
        rows = db.rows(
            f"SELECT instances FROM hub_temporal_changes WHERE entity = %s AND pk = %s{lock}",
            [entity, change],
        )
        if rows:
            items = _items(rows[0][0])
            found = items[position] if position < len(items) else None
            if found is not None and found[0] == attr:
                return (entity, attr, found[1]), change, position, items
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
        series, change, position, items = _find_instance(db, tenant, entity_id, iri, instance)
        element = items[position]
        old, old_ts = element[8], element[3]
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
        row = instance_row(entity_id, iri, new, now)
        _check_complete(db, series, {_hour(old_ts), _hour(row[4])})
        items[position] = [
            iri,
            element[1],
            row[3],
            row[4],
            row[5],
            element[5],  # createdAt stays
            text_micros(now),
            numeric(new),
            stored(new),
        ]
        save_change(db, change, items)
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
        series, change, position, items = _find_instance(db, tenant, entity_id, iri, instance)
        ts = items[position][3]
        _check_complete(db, series, {_hour(ts)})
        items[position] = None
        save_change(db, change, items)
        recompute_hours(db, series, {_hour(ts)})


def _drop_instances(db: Db, entity: int, attr: str, dataset_ids: set[str] | None) -> int:
    """Delete the instances and roll-ups of an entity's ``attr`` (of ``dataset_ids``, or
    all); return how many instances and roll-up rows went."""
    gone = 0
    lock = " FOR UPDATE" if db.postgres else ""
    for pk, raw in db.rows(
        f"SELECT pk, instances FROM hub_temporal_changes WHERE entity = %s{lock}", [entity]
    ):
        items = _items(raw)
        hit = False
        for i, element in enumerate(items):
            if (
                element is not None
                and element[0] == attr
                and (dataset_ids is None or element[1] in dataset_ids)
            ):
                items[i] = None
                hit = True
                gone += 1
        if hit:
            save_change(db, int(pk), items)
    sql = "DELETE FROM hub_temporal_hourly WHERE entity = %s AND attr = %s"
    params: list[Any] = [entity, attr]
    if dataset_ids is not None:
        in_sql, more = db.in_list("dataset_id", sorted(dataset_ids))
        sql += f" AND {in_sql}"
        params.extend(more)
    return gone + db.run(sql, params)


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
        entity = _entity(db, tenant, entity_id)
        chosen = None if delete_all else {dataset_id or ""}
        if entity is None or not _drop_instances(db, entity, iri, chosen):
            which = f" with datasetId {dataset_id}" if dataset_id else ""
            raise ResourceNotFound(
                f"entity {entity_id} has no history of attribute {attr}{which} / "
                f"엔터티 {entity_id}에 속성 {attr}의 이력이 없습니다",
                instance=entity_id,
            )


def delete_temporal_entity(store: HubStore, tenant: str, entity_id: str) -> None:
    """Delete an entity's whole history (DELETE /temporal/entities/{id}); 404 if none.

    Its description row (key, types, attributes) stays, so that writers that remember the
    key keep writing to it; an entity with a description but no instances has no history.
    """
    with store.transaction(tenant) as tx:
        db = _db(tx)
        entity = _entity(db, tenant, entity_id)
        if entity is None:
            raise _no_history(entity_id)
        gone = db.run("DELETE FROM hub_temporal_changes WHERE entity = %s", [entity])
        gone += db.run("DELETE FROM hub_temporal_hourly WHERE entity = %s", [entity])
        if not gone:
            raise _no_history(entity_id)


__all__ = [
    "append_temporal_attributes",
    "delete_attribute_history",
    "delete_instance",
    "delete_temporal_entity",
    "patch_instance",
    "upsert_temporal_entity",
]
