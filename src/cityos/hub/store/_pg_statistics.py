"""Keep the planner's statistics of the hub's entity tables fresh after bulk inserts.

Without statistics the planner takes ``types @> …`` for selective and probes the types GIN
index once per geo candidate: issue 2's query (type + q + near;maxDistance over 100,000
fresh entities, limit 100) took 5.8 s instead of about 10 ms. autovacuum analyses a table
once 10 % of it changed, but only about a minute later, and not at all where it is off (as
on the CI and benchmark hosts). So after a commit that inserted rows the hub checks, at most
once a minute and in a background thread, whether ``hub_entities`` or ``hub_geo`` was
never analysed or changed by more than autovacuum's 10 % since its last analysis, and
analyses those that were.
"""

from __future__ import annotations

import threading
import time
from typing import Final

import psycopg
from psycopg_pool import ConnectionPool

from cityos.observability import log

TABLES: Final = ("hub_entities", "hub_geo")
MIN_ROWS: Final = 1_000  # rows inserted before a check; also the "changed" floor
SHARE: Final = 0.1  # of the table changed since its last analysis: autovacuum's default
INTERVAL: Final = 60.0  # [s] between checks, as autovacuum's naptime
_STALE: Final = (
    "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
    "WHERE s.schemaname = current_schema() AND s.relname = ANY(%s) "
    "AND greatest(s.n_mod_since_analyze, %s) >= %s + %s * greatest(c.reltuples, 0) "
    "ORDER BY s.relname"
)


class StatisticsKeeper:
    """Analyse the hub's entity tables when inserts have made their statistics stale."""

    def __init__(self, pool: ConnectionPool, *, interval: float = INTERVAL) -> None:
        self.pool = pool
        self.interval = interval
        self._lock = threading.Lock()
        self._pending = 0  # rows inserted since the last check
        # rows inserted since this keeper's last ANALYZE: a backend reports its changes to
        # the statistics (n_mod_since_analyze) up to seconds after its commit
        self._unanalysed = 0
        self._next_check = 0.0  # time.monotonic() before which no check starts
        self._running: threading.Thread | None = None

    def inserted(self, rows: int) -> None:
        """Note ``rows`` inserted by a committed transaction; maybe start a check."""
        if rows <= 0:
            return
        with self._lock:
            self._pending += rows
            self._unanalysed += rows
            now = time.monotonic()
            if self._pending < MIN_ROWS or now < self._next_check or self._running:
                return
            self._pending = 0
            self._next_check = now + self.interval
            self._running = threading.Thread(
                target=self._check, args=(self._unanalysed,), name="cityos-pg-analyze", daemon=True
            )
        self._running.start()

    def _check(self, unanalysed: int) -> None:
        try:
            with self.pool.connection() as conn:
                params = (list(TABLES), unanalysed, MIN_ROWS, SHARE)
                stale = [r[0] for r in conn.execute(_STALE, params)]
                if stale:
                    conn.execute("ANALYZE " + ", ".join(stale))  # names from TABLES only
                    log.info("hub_statistics_analysed", tables=stale)
                    with self._lock:
                        self._unanalysed = max(0, self._unanalysed - unanalysed)
        except (psycopg.Error, OSError) as exc:  # a closed pool or a lost server: next time
            log.warning("hub_statistics_check_failed", error=str(exc)[:200])
        finally:
            with self._lock:
                self._running = None

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a running check to finish (tests; closing the store)."""
        running = self._running
        if running is not None:
            running.join(timeout)
