"""Insert many rows into one SQLite table with multi-row ``VALUES`` statements.

``executemany`` of a one-row ``INSERT`` runs the statement once per row, and every run
starts the statement, opens the table's and each index's cursor, steps once and halts. An
``INSERT … VALUES (…), (…), …`` of ``ROWS`` rows does that once per ``ROWS`` rows; the rows,
their order and their keys are the same (SQLite, "INSERT": "the VALUES clause … multiple
rows"). Measured on the 8 series rows of one new entity: about a quarter fewer instructions.
Statements of ``SIZES`` rows are used, largest first (a batch of 1,000 entities: two of 500;
999: one of 500 and 16 smaller), so each table has at most five statement texts, all kept
prepared by sqlite3's statement cache.

Fewer, larger statements matter beyond their instructions: sqlite3 releases the GIL for
every statement it runs, and a writer that released it while another thread parsed or
expanded a request waits to get it back (up to the 5 ms switch interval) while it holds the
store's write lock. At 50 rows a statement a batch of 1,000 new entities ran ~100 of them
under the lock; at 500, ~12 (and 248,621 → 239,564 instructions an entity:
benchmarks/hub_cost_phases.py, history on; docs/benchmarks.md, "Session 12").
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from typing import Any

# Rows per statement, largest first: 9 columns × 500 rows = 4,500 parameters, far under
# SQLite's limit (32,766 since 3.32). 1,000 rows a statement measured no better than 500.
SIZES = (500, 100, 20, 5, 1)
ROWS = SIZES[0]


@lru_cache(maxsize=256)
def _statement(head: str, width: int, rows: int, tail: str) -> str:
    one = "(" + ", ".join("?" * width) + ")"
    return f"{head} VALUES {', '.join([one] * rows)}{tail}"


def insert_rows(conn: Any, head: str, rows: Sequence[Sequence[Any]], *, tail: str = "") -> None:
    """Insert ``rows`` (equal-length tuples) with ``head`` ("INSERT INTO t (a, b)") and an
    optional ``tail`` (" ON CONFLICT …"), in the order given."""
    if not rows:
        return
    width = len(rows[0])
    start, count = 0, len(rows)
    for size in SIZES:
        end = start + (count - start) // size * size
        if end == start:
            continue
        if size == 1:
            conn.executemany(_statement(head, width, 1, tail), rows[start:end])
        else:
            conn.executemany(
                _statement(head, width, size, tail),
                [list(chain.from_iterable(rows[i : i + size])) for i in range(start, end, size)],
            )
        start = end
