"""SQL for subscriptions, their statistics, the outbox and delivery leases (both backends).

Every function takes a :class:`Db` — an open connection, inside a store transaction for
writes (``HubStore.transaction`` gives SQLite its single-writer lock) or a plain one for
reads (:func:`reading`). SQL is written once with ``?`` placeholders.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from cityos.hub.store.base import HubStore

_COLUMNS = (
    "tenant, id, body, owner_types, created_at, modified_at, times_sent, times_failed, "
    "last_notification, last_success, last_failure, last_error, owner"
)


class Db:
    """A connection of either backend that takes SQL with ``?`` placeholders."""

    def __init__(self, conn: Any, backend: str) -> None:
        self.conn = conn
        self.postgres = backend == "postgresql"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement and return its cursor."""
        if self.postgres:
            return self.conn.execute(sql.replace("?", "%s"), params)
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: list[Sequence[Any]]) -> None:
        """Run one statement for each row of parameters."""
        if not rows:
            return
        if self.postgres:
            with self.conn.cursor() as cur:
                cur.executemany(sql.replace("?", "%s"), rows)
        else:
            self.conn.executemany(sql, rows)


@contextmanager
def reading(store: HubStore) -> Iterator[Db]:
    """Yield a connection for reads outside any write transaction."""
    if store.backend == "sqlite":
        yield Db(store._conn(), "sqlite")  # type: ignore[attr-defined]
    else:
        with store.pool.connection() as conn:  # type: ignore[attr-defined]
            yield Db(conn, "postgresql")


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    """One stored subscription with its owner and delivery statistics."""

    tenant: str
    id: str
    body: dict[str, Any]
    owner_types: frozenset[str] | None
    created_at: str
    modified_at: str
    times_sent: int
    times_failed: int
    last_notification: str | None
    last_success: str | None
    last_failure: str | None
    last_error: str | None
    owner: str | None


def _row(raw: Sequence[Any]) -> SubscriptionRow:
    types = None if raw[3] is None else frozenset(orjson.loads(raw[3]))
    return SubscriptionRow(raw[0], raw[1], orjson.loads(raw[2]), types, *raw[4:])


def version(db: Db) -> int:
    """Return the subscription version counter (raised by every subscription change)."""
    row = db.execute("SELECT version FROM hub_subscription_version WHERE id = 1").fetchone()
    return int(row[0])


def bump_version(db: Db) -> int:
    """Raise the version counter in the caller's transaction and return the new value."""
    db.execute("UPDATE hub_subscription_version SET version = version + 1 WHERE id = 1")
    return version(db)


def insert(
    db: Db,
    tenant: str,
    body: dict[str, Any],
    *,
    owner: str | None,
    owner_types: frozenset[str] | None,
    now: str,
) -> bool:
    """Insert a subscription; return False if its id is taken in the tenant."""
    taken = db.execute(
        "SELECT 1 FROM hub_subscriptions WHERE tenant = ? AND id = ?", (tenant, body["id"])
    ).fetchone()
    if taken is not None:
        return False
    types = None if owner_types is None else orjson.dumps(sorted(owner_types)).decode()
    db.execute(
        "INSERT INTO hub_subscriptions (tenant, id, body, owner_types, created_at, modified_at, "
        "owner) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (tenant, body["id"], orjson.dumps(body).decode(), types, now, now, owner),
    )
    return True


def replace(db: Db, tenant: str, body: dict[str, Any], *, now: str) -> None:
    """Rewrite a subscription's body (PATCH)."""
    db.execute(
        "UPDATE hub_subscriptions SET body = ?, modified_at = ? WHERE tenant = ? AND id = ?",
        (orjson.dumps(body).decode(), now, tenant, body["id"]),
    )


def delete(db: Db, tenant: str, sub_id: str) -> bool:
    """Delete a subscription and its undelivered notifications; False if there was none."""
    gone = db.execute(
        "DELETE FROM hub_subscriptions WHERE tenant = ? AND id = ?", (tenant, sub_id)
    ).rowcount
    db.execute("DELETE FROM hub_outbox WHERE tenant = ? AND subscription_id = ?", (tenant, sub_id))
    return bool(gone)


def get(db: Db, tenant: str, sub_id: str) -> SubscriptionRow | None:
    """Return one subscription, or None."""
    raw = db.execute(
        f"SELECT {_COLUMNS} FROM hub_subscriptions WHERE tenant = ? AND id = ?", (tenant, sub_id)
    ).fetchone()
    return None if raw is None else _row(raw)


def page(
    db: Db, tenant: str, *, owner: str | None, every_owner: bool, limit: int, offset: int
) -> tuple[list[SubscriptionRow], int]:
    """Return one page of a tenant's subscriptions (by id) and how many there are."""
    where = "tenant = ?" + ("" if every_owner else " AND owner IS NOT DISTINCT FROM ?")
    if not db.postgres:
        where = where.replace("IS NOT DISTINCT FROM", "IS")
    params: list[Any] = [tenant] if every_owner else [tenant, owner]
    total = db.execute(f"SELECT count(*) FROM hub_subscriptions WHERE {where}", params)
    count = int(total.fetchone()[0])
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM hub_subscriptions WHERE {where} ORDER BY id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).fetchall()
    return [_row(r) for r in rows], count


def load_all(db: Db) -> list[SubscriptionRow]:
    """Return every subscription of every tenant (to build the index)."""
    return [_row(r) for r in db.execute(f"SELECT {_COLUMNS} FROM hub_subscriptions").fetchall()]


_RECORD = (
    "UPDATE hub_subscriptions SET times_sent = times_sent + ?, "
    "times_failed = times_failed + ?, "
    "last_notification = COALESCE(?, last_notification), "
    "last_success = COALESCE(?, last_success), "
    "last_failure = COALESCE(?, last_failure), "
    "last_error = COALESCE(?, last_error) "
    "WHERE tenant = ? AND id = ?"
)


def enqueue(db: Db, rows: Sequence[tuple[str, str, str | None, bytes | str, str]]) -> None:
    """Add (tenant, subscription id, entity id, notification JSON, created at) to the outbox."""
    db.executemany(
        "INSERT INTO hub_outbox (tenant, subscription_id, entity_id, notification, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [(t, s, e, n if isinstance(n, str) else n.decode(), c) for t, s, e, n, c in rows],
    )


def pending(db: Db) -> list[tuple[str, str]]:
    """Return (tenant, subscription id) of every subscription with undelivered rows."""
    rows = db.execute("SELECT DISTINCT tenant, subscription_id FROM hub_outbox").fetchall()
    return [(r[0], r[1]) for r in rows]


def queued(db: Db, tenant: str, sub_id: str, limit: int) -> list[tuple[int, str]]:
    """Return the oldest undelivered (seq, notification JSON) rows of one subscription."""
    rows = db.execute(
        "SELECT seq, notification FROM hub_outbox WHERE tenant = ? AND subscription_id = ? "
        "ORDER BY seq LIMIT ?",
        (tenant, sub_id, limit),
    ).fetchall()
    return [(int(r[0]), r[1]) for r in rows]


def queued_many(
    db: Db, keys: Sequence[tuple[str, str]], limit: int
) -> dict[tuple[str, str], list[tuple[int, str]]]:
    """Return the oldest undelivered rows of several subscriptions, at most ``limit`` each.

    One statement on PostgreSQL (a lateral join walks each subscription's queue index), so
    a write fanned out to many subscriptions costs one round trip here, not one each;
    SQLite answers in-process and reads one subscription at a time.
    """
    found: dict[tuple[str, str], list[tuple[int, str]]] = {key: [] for key in keys}
    if not keys:
        return found
    if not db.postgres:
        return {key: queued(db, *key, limit) for key in keys}
    rows = db.execute(
        "SELECT k.tenant, k.id, o.seq, o.notification "
        "FROM unnest(?::text[], ?::text[]) AS k(tenant, id) CROSS JOIN LATERAL ("
        "SELECT seq, notification FROM hub_outbox "
        "WHERE tenant = k.tenant AND subscription_id = k.id ORDER BY seq LIMIT ?) AS o "
        "ORDER BY o.seq",
        ([t for t, _ in keys], [s for _, s in keys], limit),
    ).fetchall()
    for tenant, sub_id, seq, text in rows:
        found[(tenant, sub_id)].append((int(seq), text))
    return found


def delivered(db: Db, seqs: list[int]) -> None:
    """Delete outbox rows whose receiver accepted them."""
    if not seqs:
        return
    if db.postgres:  # one statement, whatever the count
        db.execute("DELETE FROM hub_outbox WHERE seq = ANY(?)", (seqs,))
        return
    db.executemany("DELETE FROM hub_outbox WHERE seq = ?", [(s,) for s in seqs])


def backlog(db: Db, tenant: str, sub_id: str) -> int:
    """Return how many notifications of a subscription wait for delivery."""
    row = db.execute(
        "SELECT count(*) FROM hub_outbox WHERE tenant = ? AND subscription_id = ?",
        (tenant, sub_id),
    ).fetchone()
    return int(row[0])


def claim(db: Db, tenant: str, sub_id: str, *, worker: str, now: float, until: float) -> bool:
    """Take (or renew) the delivery lease of a subscription; False if another worker has it."""
    cur = db.execute(
        "UPDATE hub_subscriptions SET lease_owner = ?, lease_until = ? "
        "WHERE tenant = ? AND id = ? AND (lease_owner IS NULL OR lease_owner = ? "
        "OR lease_until < ?)",
        (worker, until, tenant, sub_id, worker, now),
    )
    return bool(cur.rowcount)


def claim_many(
    db: Db, keys: Sequence[tuple[str, str]], *, worker: str, now: float, until: float
) -> list[tuple[str, str]]:
    """Take (or renew) the leases of several subscriptions; return those taken, sorted.

    PostgreSQL: one statement that locks the rows in (tenant, id) order, the order every
    process locks them in, so two processes claiming at once cannot deadlock. SQLite: one
    statement per subscription (in-process, and its writer lock serialises claims).
    """
    ordered = sorted(set(keys))
    if not ordered:
        return []
    if not db.postgres:
        return [k for k in ordered if claim(db, *k, worker=worker, now=now, until=until)]
    rows = db.execute(
        "UPDATE hub_subscriptions AS s SET lease_owner = ?, lease_until = ? FROM ("
        "SELECT tenant, id FROM hub_subscriptions "
        "WHERE (tenant, id) IN (SELECT * FROM unnest(?::text[], ?::text[])) "
        "AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?) "
        "ORDER BY tenant, id FOR UPDATE) AS free "
        "WHERE s.tenant = free.tenant AND s.id = free.id RETURNING s.tenant, s.id",
        (worker, until, [t for t, _ in ordered], [i for _, i in ordered], worker, now),
    ).fetchall()
    return sorted((r[0], r[1]) for r in rows)


def record_many(db: Db, results: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
    """Add the delivery results (tenant, subscription id, statistics) of several subscriptions.

    ``statistics`` holds ``sent``, ``failed``, ``ok`` (last success), ``bad`` (last failure)
    and ``error`` (its reason), as :func:`record` takes them. One pipelined batch on
    PostgreSQL.
    """
    rows: list[Sequence[Any]] = []
    for tenant, sub_id, stats in results:
        last = max((t for t in (stats["ok"], stats["bad"]) if t), default=None)
        rows.append(
            (stats["sent"], stats["failed"], last, stats["ok"], stats["bad"], stats["error"])
            + (tenant, sub_id)
        )
    db.executemany(_RECORD, rows)


def release(db: Db, worker: str) -> None:
    """Give up every lease ``worker`` holds (on shutdown)."""
    db.execute(
        "UPDATE hub_subscriptions SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?",
        (worker,),
    )
