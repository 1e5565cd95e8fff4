"""Backend plumbing the temporal modules share: connections, placeholders and instants.

The temporal tables keep instants as integer µs since the epoch on both backends (migration
0013); SQL here is written once with ``%s`` placeholders and
rewritten to ``?`` for SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from cityos.hub.store.base import HubStore
from cityos.hub.temporal._times import to_micros
from cityos.hub.temporal.params import TimeWindow


class Db:
    """One open connection to the hub database, spoken to in the backend's dialect."""

    def __init__(self, backend: str, conn: Any) -> None:
        self.backend = backend
        self.conn = conn
        self.postgres = backend == "postgresql"
        self._span: int | None = None

    def span(self) -> int:
        """Return the bound on a change row's ``ts_hi - ts_lo`` [µs] (``hub_temporal_span``;
        read once per connection use)."""
        if self._span is None:
            rows = self.conn.execute("SELECT span FROM hub_temporal_span").fetchall()
            self._span = int(rows[0][0]) if rows else 0
        return self._span

    def sql(self, text: str) -> str:
        """Return ``text`` with ``%s`` placeholders in this backend's style."""
        return text if self.postgres else text.replace("%s", "?")

    def rows(
        self, text: str, params: Sequence[Any] = (), *, binary: bool = False
    ) -> list[tuple[Any, ...]]:
        """Run a query and return every row (``binary``: PostgreSQL's binary results, much
        cheaper to read for large arrays)."""
        if self.postgres and binary:
            return list(self.conn.execute(text, list(params), binary=True).fetchall())
        return list(self.conn.execute(self.sql(text), list(params)).fetchall())

    def run(self, text: str, params: Sequence[Any] = ()) -> int:
        """Run a statement and return how many rows it touched."""
        cur = self.conn.execute(self.sql(text), list(params))
        return int(cur.rowcount or 0)

    def instant(self, micros: int) -> Any:
        """Return an instant [µs since the epoch] as the temporal tables store it (µs)."""
        return micros

    def micros(self, stored: Any) -> int:
        """Return a stored instant as µs since the epoch."""
        if isinstance(stored, datetime):
            return to_micros(stored)
        return int(stored)

    def in_list(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """Return ``column IN (…)`` (``= ANY`` on PostgreSQL) and its parameters."""
        if self.postgres:
            return f"{column} = ANY(%s)", [list(values)]
        if not values:
            return "0", []
        return f"{column} IN ({','.join(['%s'] * len(values))})", list(values)

    def bucket(self, column: str) -> str:
        """Return SQL for (``column`` − origin) // period; two parameters: origin, period [µs]."""
        if self.postgres:
            return f"(({column} - %s::bigint) / %s::bigint)"
        return f"(({column} - %s) / %s)"

    def value_json(self) -> str:
        """Return SQL for an instance's value as comparable JSON (for distinctCount)."""
        members = ("value", "object", "languageMap", "vocab", "valueList", "objectList", "json")
        if self.postgres:
            return "coalesce(" + ", ".join(f"t.instance->'{m}'" for m in members) + ")"
        text = "CAST(t.instance AS TEXT)"
        return (
            "coalesce("
            + ", ".join(f"json_quote(json_extract({text}, '$.{m}'))" for m in members)
            + ")"
        )


def window_sql(db: Db, column: str, window: TimeWindow) -> tuple[str, list[Any]]:
    """Return the SQL condition (and parameters) that keeps ``column`` inside the window.

    For an instance time ``<alias>.ts`` of ``hub_temporal_instances`` the change row's
    bounds are tested too (``hi`` >= start, ``hi`` < end + span, ``lo`` < end): a range of
    the (entity, ts_hi) index, before any change row's instances are expanded.
    """
    alias, _, name = column.rpartition(".")
    if name == "ts" and alias not in ("", "h"):
        parts, params = change_bounds(db, window, f"{alias}.hi", f"{alias}.lo")
    else:
        parts, params = [], []
    if window.start is not None:
        parts.append(f"{column} >= %s")
        params.append(db.instant(window.start))
    if window.end is not None:
        parts.append(f"{column} < %s")
        params.append(db.instant(window.end))
    return (" AND ".join(parts) or "1=1"), params


def change_bounds(db: Db, window: TimeWindow, hi: str, lo: str) -> tuple[list[str], list[Any]]:
    """Return the conditions (and parameters) on a change row's ``ts_hi``/``ts_lo`` columns
    ``hi``/``lo`` that keep the rows which may hold instances in the window: ``hi`` >=
    start, ``hi`` < end + span, ``lo`` < end (a range of the (entity, ts_hi) index)."""
    parts: list[str] = []
    params: list[Any] = []
    if window.start is not None:
        parts.append(f"{hi} >= %s")
        params.append(window.start)
    if window.end is not None:
        parts.append(f"{hi} < %s AND {lo} < %s")
        params.extend([window.end + db.span(), window.end])
    return parts, params


@contextmanager
def read_db(store: HubStore) -> Iterator[Db]:
    """Yield a connection for reading the temporal tables (no transaction held open)."""
    if store.backend == "postgresql":
        with store.pool.connection() as conn:  # type: ignore[attr-defined]
            yield Db("postgresql", conn)
    else:
        yield Db("sqlite", store._conn())  # type: ignore[attr-defined]
