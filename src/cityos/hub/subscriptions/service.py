"""Subscription operations (GS CIM 009 v1.8, 5.8): create, retrieve, query, update, delete.

Each change raises the subscription version in its own transaction, then updates this
process's index at once (other processes see the new version in their next write).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cityos.hub._time import utc_now
from cityos.hub.context import ActiveContext
from cityos.hub.errors import AlreadyExists, ResourceNotFound
from cityos.hub.store.base import HubStore
from cityos.hub.subscriptions import repository
from cityos.hub.subscriptions.index import SubscriptionIndex, compile_row
from cityos.hub.subscriptions.repository import SubscriptionRow
from cityos.hub.subscriptions.schema import map_type_names, status_of

_NO_TENANT_ROW = "urn:ngsi-ld:tenant:default"  # subscriptions never create a tenant row


def _after_change(
    index: SubscriptionIndex,
    db_version: int,
    *,
    tenant: str,
    sub_id: str,
    row: SubscriptionRow | None,
) -> None:
    """Update this process's index at once, or mark it stale if another change came between."""
    compiled = None if row is None else compile_row(row, index.resolver)
    with index.lock:
        if index.version == db_version - 1:
            if compiled is not None and index.get(tenant, sub_id) is None:
                index.add(compiled, db_version)  # a new one: O(1)
            else:
                index.replace(tenant, sub_id, compiled, db_version)
        else:
            index.version = -1  # the next write (or delivery round) reloads it


def create(
    store: HubStore,
    index: SubscriptionIndex,
    *,
    tenant: str,
    body: dict[str, Any],
    owner: str | None,
    owner_types: frozenset[str] | None,
) -> SubscriptionRow:
    """Store a validated subscription (409 AlreadyExists if its id is taken)."""
    compile_row(  # refuses now what could not be matched later (e.g. an unusable @context)
        SubscriptionRow(tenant, body["id"], body, owner_types, "", "", 0, 0, *[None] * 5),
        index.resolver,
    )
    now = utc_now()
    with store.transaction(tenant) as tx:
        db = repository.Db(tx.connection, tx.backend)
        if not repository.insert(db, tenant, body, owner=owner, owner_types=owner_types, now=now):
            raise AlreadyExists(
                f"subscription {body['id']} already exists / 구독 {body['id']}이 이미 있습니다",
                instance=body["id"],
            )
        version = repository.bump_version(db)
        row = repository.get(db, tenant, body["id"])
    assert row is not None
    _after_change(index, version, tenant=tenant, sub_id=row.id, row=row)
    return row


def get(
    store: HubStore, *, tenant: str, sub_id: str, owner: str | None, admin: bool
) -> SubscriptionRow:
    """Return one subscription the caller owns (any, for an admin); else 404."""
    with repository.reading(store) as db:
        row = repository.get(db, tenant, sub_id)
    if row is None or not (admin or row.owner == owner):
        raise ResourceNotFound(
            f"subscription {sub_id} does not exist / 구독 {sub_id}이 없습니다", instance=sub_id
        )
    return row


def page(
    store: HubStore, *, tenant: str, owner: str | None, admin: bool, limit: int, offset: int
) -> tuple[list[SubscriptionRow], int]:
    """Return one page of the caller's subscriptions (every one, for an admin) and the total."""
    with repository.reading(store) as db:
        return repository.page(
            db, tenant, owner=owner, every_owner=admin, limit=limit, offset=offset
        )


def replace(
    store: HubStore, index: SubscriptionIndex, *, tenant: str, body: dict[str, Any]
) -> None:
    """Store a validated, merged subscription body (PATCH)."""
    with store.transaction(tenant) as tx:
        db = repository.Db(tx.connection, tx.backend)
        row = repository.get(db, tenant, body["id"])
        if row is None:
            raise ResourceNotFound(
                f"subscription {body['id']} does not exist / 구독 {body['id']}이(가) 없습니다"
            )
        compile_row(
            SubscriptionRow(tenant, body["id"], body, row.owner_types, "", "", 0, 0, *[None] * 5),
            index.resolver,
        )
        repository.replace(db, tenant, body, now=utc_now())
        version = repository.bump_version(db)
        row = repository.get(db, tenant, body["id"])
    _after_change(index, version, tenant=tenant, sub_id=body["id"], row=row)


def delete(store: HubStore, index: SubscriptionIndex, *, tenant: str, sub_id: str) -> None:
    """Delete a subscription and its undelivered notifications (404 if none)."""
    with store.transaction(tenant) as tx:
        db = repository.Db(tx.connection, tx.backend)
        if not repository.delete(db, tenant, sub_id):
            raise ResourceNotFound(
                f"subscription {sub_id} does not exist / 구독 {sub_id}이 없습니다",
                instance=sub_id,
            )
        version = repository.bump_version(db)
    _after_change(index, version, tenant=tenant, sub_id=sub_id, row=None)


def _compact_list(names: list[str], ctx: ActiveContext) -> list[str]:
    return [ctx.compact(n) for n in names]


def render(
    row: SubscriptionRow, ctx: ActiveContext, *, now: datetime, sys_attrs: bool = False
) -> dict[str, Any]:
    """Return a subscription as the API shows it, names compacted with ``ctx``."""
    body = {k: v for k, v in row.body.items() if k != "context"}
    if "entities" in body:
        body["entities"] = [
            {**s, "type": map_type_names(s["type"], ctx.compact)} for s in body["entities"]
        ]
    if "watchedAttributes" in body:
        body["watchedAttributes"] = _compact_list(body["watchedAttributes"], ctx)
    if "geoQ" in body and "geoproperty" in body["geoQ"]:
        body["geoQ"] = {**body["geoQ"], "geoproperty": ctx.compact(body["geoQ"]["geoproperty"])}
    note = dict(body["notification"])
    for key in ("attributes", "pick", "omit"):
        if key in note:
            note[key] = _compact_list(note[key], ctx)
    note["timesSent"] = row.times_sent
    note["timesFailed"] = row.times_failed
    for key, value in (
        ("lastNotification", row.last_notification),
        ("lastSuccess", row.last_success),
        ("lastFailure", row.last_failure),
    ):
        if value is not None:
            note[key] = value
    failed = row.last_failure is not None and (row.last_success or "") < row.last_failure
    note["status"] = "failed" if failed else "ok"
    if failed and row.last_error:
        note["lastErrorReason"] = row.last_error
    body["notification"] = note
    body["status"] = status_of(row.body, now)
    if sys_attrs:
        body["createdAt"] = row.created_at
        body["modifiedAt"] = row.modified_at
    return body
