"""Batch entity operations (GS CIM 009 v1.8, 5.6.7–5.6.10, 5.6.20).

Every entity is checked on its own; the valid ones are written in one transaction, and if
that transaction fails the batch is retried entity by entity, so one bad entity never
blocks the others and every entity's change stays atomic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from cityos.hub._native import load
from cityos.hub._time import utc_now
from cityos.hub.errors import AlreadyExists, BadRequestData, HubError, ResourceNotFound
from cityos.hub.model import (
    NATIVE_HELPERS,
    ExpandCache,
    Expander,
    check_entity_id,
    expand_entity,
)
from cityos.hub.service import check_fragment, merge_instances, merge_into
from cityos.hub.store._sqlite_cells import CELL_SCALES
from cityos.hub.store.base import Entity, HubStore, Transaction
from cityos.hub.temporal._times import text_micros
from cityos.hub.temporal.record import MAX_SPAN, observed_cache

Operation = Literal["create", "upsert", "update", "delete", "merge"]

# The per-entity work of _prepare in C for the common shapes (``_native_expand``), or None:
# not built, or turned off by CITYOS_NATIVE=0. It answers NotImplemented for anything else,
# errors included, and the Python below runs as before (docs/hub/README.md, "Native code").
_NATIVE = load("_native_expand")
# A batch of new entities from the request's bytes to the store's rows (``_native_lane``),
# for the SQLite store, or None: see run_batch_lane.
_LANE = load("_native_lane")


@dataclass
class BatchResult:
    """Ids that succeeded, ids created, and a ProblemDetails per failed entity."""

    success: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, entity_id: Any, error: HubError) -> None:
        """Record that the entity ``entity_id`` failed with ``error``."""
        self.errors.append({"entityId": entity_id, "error": error.problem()})

    def body(self) -> dict[str, Any]:
        """Return the NGSI-LD BatchOperationResult JSON."""
        return {"success": self.success, "errors": self.errors}


@dataclass
class _Item:
    entity_id: str
    raw: Any
    entity: Entity | None = None


def _prepare(
    bodies: object, operation: Operation, ctx: Expander, now: str, result: BatchResult
) -> list[_Item]:
    """Validate each element; record the bad ones in ``result`` and return the good ones."""
    if not isinstance(bodies, list):
        what = "entity ids" if operation == "delete" else "entities"
        raise BadRequestData(
            f"the body of a batch {operation} must be a JSON array of {what}"
            f" / 배치 {operation}의 본문은 {'엔터티 id' if operation == 'delete' else '엔터티'}의 "
            "JSON 배열이어야 합니다"
        )
    items: list[_Item] = []
    cache = ExpandCache(ctx)  # names, types and times checked once for the whole batch
    expanding = operation not in ("delete", "merge")
    native = _NATIVE.expand_entity if _NATIVE is not None and expanding else None
    names, types, times = cache.names, cache.types, cache.times
    shapes: list[object] = []  # the C function's templates of this request's dicts
    for raw in bodies:
        try:
            if native is not None:
                # check_entity_id and expand_entity below, in C, or NotImplemented
                entity = native(raw, now, ctx, names, types, times, NATIVE_HELPERS, shapes)
                if entity is not NotImplemented:
                    items.append(_Item(entity["id"], raw, entity))
                    continue
            if operation == "delete":
                items.append(_Item(check_entity_id(raw), raw))
                continue
            mapping = isinstance(raw, (dict, Mapping))  # dict first: no ABC check
            entity_id = check_entity_id(raw.get("id") if mapping else None)
            if operation == "merge":
                if not mapping:
                    raise BadRequestData(
                        "each element must be a JSON object / 각 요소는 JSON 객체여야 합니다"
                    )
                check_fragment(raw, ctx, now=now)  # a bad fragment is 400 before 404
                items.append(_Item(entity_id, raw))
            else:
                entity = expand_entity(raw, ctx, now=now, cache=cache, id_checked=True)
                items.append(_Item(entity_id, raw, entity))
        except HubError as error:
            result.fail(raw.get("id") if isinstance(raw, Mapping) else raw, error)
    return items


def _apply(
    tx: Transaction,
    items: list[_Item],
    operation: Operation,
    ctx: Expander,
    now: str,
    *,
    replace: bool,
    no_overwrite: bool,
    result: BatchResult,
) -> None:
    """Write ``items`` in ``tx``; per-entity rule violations go to ``result``."""
    ids = list(dict.fromkeys(item.entity_id for item in items))
    existing = tx.get_many(ids)
    if not existing and operation in ("create", "upsert") and len(ids) == len(items):
        # Every entity is new and named once (a batch of new sensors): each is inserted as
        # it came, which is what the loop below does for it, without its per-entity steps.
        entities = [item.entity for item in items]
        if all(e is not None for e in entities):
            result.created.extend(ids)
            result.success.extend(ids)
            tx.insert(cast(list[Entity], entities))
            return
    inserts: dict[str, Entity] = {}
    replaces: dict[str, Entity] = {}
    deletes: list[str] = []
    for item in items:
        eid = item.entity_id
        current = inserts.get(eid) or replaces.get(eid) or existing.get(eid)
        if eid in deletes:
            current = None
        try:
            if operation == "create":
                if current is not None:
                    raise AlreadyExists(
                        f"entity {eid} already exists / 엔터티 {eid}이(가) 이미 있습니다",
                        instance=eid,
                    )
                assert item.entity is not None
                inserts[eid] = item.entity
                result.created.append(eid)
            elif current is None and operation != "upsert":
                raise ResourceNotFound(
                    f"entity {eid} does not exist / 엔터티 {eid}이(가) 없습니다", instance=eid
                )
            elif operation == "delete":
                deletes.append(eid)
                replaces.pop(eid, None)
            elif operation == "merge":
                assert current is not None
                merge_into(current, item.raw, ctx, now=now)
                _stage(eid, current, inserts, replaces, existing)
            else:  # upsert or update
                assert item.entity is not None
                if current is None:
                    inserts[eid] = item.entity
                    result.created.append(eid)
                elif operation == "upsert" and replace:
                    item.entity["createdAt"] = current["createdAt"]
                    _stage(eid, item.entity, inserts, replaces, existing)
                else:
                    kept: list[str] = []  # attributes noOverwrite left as they were
                    for iri, instances in item.entity["attrs"].items():
                        have = current["attrs"].get(iri, [])
                        if no_overwrite and {i.get("datasetId") for i in have} & {
                            i.get("datasetId") for i in instances
                        }:
                            kept.append(iri)
                        current["attrs"][iri] = merge_instances(
                            have, instances, overwrite=not no_overwrite
                        )
                    for type_iri in item.entity["type"]:
                        if type_iri not in current["type"]:
                            current["type"].append(type_iri)
                    current["modifiedAt"] = now
                    _stage(eid, current, inserts, replaces, existing)
                    if kept:  # the new attributes were added; the entity is reported (5.6.9)
                        names = {ctx.expand(n): n for n in item.raw if isinstance(n, str)}
                        raise BadRequestData(
                            f"attributes {', '.join(names.get(i, i) for i in kept)} already "
                            "exist and options=noOverwrite kept their values"
                            f" / 속성 {', '.join(names.get(i, i) for i in kept)}이(가) 이미 "
                            "있어 options=noOverwrite에 따라 기존 값을 유지했습니다",
                            instance=eid,
                        )
            result.success.append(eid)
        except HubError as error:
            result.fail(eid, error)
    if deletes:
        tx.delete([d for d in deletes if d in existing])
    if inserts:
        tx.insert(list(inserts.values()))
    if replaces:
        tx.replace(list(replaces.values()))


def _stage(
    eid: str,
    entity: Entity,
    inserts: dict[str, Entity],
    replaces: dict[str, Entity],
    existing: Mapping[str, Entity],
) -> None:
    if eid in inserts or eid not in existing:
        inserts[eid] = entity
    else:
        replaces[eid] = entity


def run_batch(
    store: HubStore,
    tenant: str,
    operation: Operation,
    bodies: object,
    ctx: Expander,
    *,
    replace: bool = True,
    no_overwrite: bool = False,
) -> BatchResult:
    """Run one batch operation and return what succeeded and what failed, per entity."""
    now = utc_now()
    result = BatchResult()
    items = _prepare(bodies, operation, ctx, now, result)
    if not items:
        return result
    run: Callable[[list[_Item], BatchResult], None] = lambda chunk, res: _run_tx(  # noqa: E731
        store, tenant, chunk, operation, ctx, now, replace, no_overwrite, res
    )
    attempt = BatchResult()
    try:
        run(items, attempt)
    except HubError:
        attempt = BatchResult()
        for item in items:  # isolate the entity that broke the shared transaction
            single = BatchResult()
            try:
                run([item], single)
            except HubError as error:
                single = BatchResult()
                single.fail(item.entity_id, error)
            _extend(attempt, single)
    _extend(result, attempt)
    return result


def run_batch_lane(
    store: HubStore,
    tenant: str,
    operation: Operation,
    body: bytes,
    ctx: Expander,
) -> BatchResult | None:
    """Run a batch create or upsert of new entities straight from the request's ``body``
    (JSON bytes), or return None: the caller parses the body and runs :func:`run_batch`.
    (The options ``replace``, ``update`` and ``noOverwrite`` change nothing for new
    entities.)

    The object-free lane: where every entity has the common shapes and none exists yet, the
    C extension ``_native_lane`` makes the rows the store writes — each entity's attributes'
    JSON, geometries and history change row — from the bytes, byte for byte what the Python
    path makes, without the entities' Python objects; the store gets entities without
    "attrs", parsed from their rows only if a change listener needs them (subscriptions).
    Anything else (another shape, any error, an entity that exists) declines, before any
    write, and the Python path answers as always (docs/hub/README.md, "Native code").
    """
    prepare = getattr(store, "prepare_lane", None)
    exists = getattr(store, "any_exists", None)
    if _LANE is None or prepare is None or exists is None or operation not in ("create", "upsert"):
        return None
    now = utc_now()
    cache = ExpandCache(ctx)
    history = any(hasattr(listener, "prepare_lane") for listener in store.listeners)
    found = _LANE.entity_rows(
        body,
        now,
        text_micros(now),
        ctx,
        cache.names,
        cache.types,
        cache.times,
        NATIVE_HELPERS,
        text_micros,
        observed_cache(),
        MAX_SPAN,
        CELL_SCALES,
        history,
        lambda ids: exists(tenant, ids),
    )
    if found is NotImplemented:
        return None
    result = BatchResult()
    try:
        with store.transaction(tenant) as tx:
            # The rows' objects are made holding the writers' lock: made outside it, their
            # Python held the GIL while the lock's holder waited for it after each SQLite
            # call (docs/hub/README.md, "Native code").
            made = prepare(tenant, found, now)
            if made is None:
                raise _Declined
            prepared, entities = made
            # The lane found none of them before the lock (any_exists); one made since then
            # fails the insert on the (tenant, id) key: AlreadyExists, the transaction rolls
            # back and the Python path runs the batch.
            tx.insert(entities, prepared)
            ids = [entity["id"] for entity in entities]
            result.created.extend(ids)
            result.success.extend(ids)
    except (HubError, _Declined):
        return None  # rolled back (an entity made meanwhile): the Python path runs it
    return result


class _Declined(Exception):
    """The lane's rows cannot be inserted as they are (an id repeats): roll back, decline."""


def _run_tx(
    store: HubStore,
    tenant: str,
    items: list[_Item],
    operation: Operation,
    ctx: Expander,
    now: str,
    replace: bool,
    no_overwrite: bool,
    result: BatchResult,
) -> None:
    with store.transaction(tenant) as tx:
        _apply(
            tx,
            items,
            operation,
            ctx,
            now,
            replace=replace,
            no_overwrite=no_overwrite,
            result=result,
        )


def _extend(into: BatchResult, other: BatchResult) -> None:
    into.success.extend(other.success)
    into.created.extend(other.created)
    into.errors.extend(other.errors)
