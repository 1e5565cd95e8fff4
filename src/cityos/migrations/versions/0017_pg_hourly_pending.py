"""PostgreSQL: a write's hourly sums wait in an append-only table; a fold adds them later.

Revision ID: 0017_pg_hourly_pending
Revises: 0016_sqlite_point_cells
Create Date: 2026-12-03

Until now a write on PostgreSQL upserted its numeric instances' hourly sums into
``hub_temporal_hourly`` in the write (``INSERT … ON CONFLICT DO UPDATE``): a probe of the
table's 74 MB primary key and a new row version per attribute, on pages spread over the
whole table, ~1.1 page reads from outside shared_buffers a PATCH at 100,000 entities, and
about a fifth of a PATCH's throughput (docs/benchmarks.md, session 15). Now the write
appends the same sums to ``hub_temporal_hourly_pending`` (no index, no key: the heap's last
pages), and :func:`cityos.hub.temporal.rollup.fold` moves them into the roll-ups, many rows
per statement (``DELETE … RETURNING`` grouped into one upsert; a row is in exactly one of
the two tables in every snapshot). Whatever reads or changes the roll-ups folds first, as
on SQLite.

Downgrade folds what is pending, then drops the table. SQLite: nothing (its writes append
only change rows; its fold reads them above a key mark, migration 0012).
"""

from __future__ import annotations

from alembic import op

revision = "0017_pg_hourly_pending"
down_revision = "0016_sqlite_point_cells"
branch_labels = None
depends_on = None

_CREATE = """
CREATE TABLE hub_temporal_hourly_pending (
    entity bigint NOT NULL,
    attr text NOT NULL,
    dataset_id text NOT NULL,
    hour bigint NOT NULL,
    n bigint NOT NULL,
    total double precision NOT NULL,
    total_sq double precision NOT NULL,
    lo double precision NOT NULL,
    hi double precision NOT NULL
)
"""

_FOLD_ALL = """
WITH gone AS (DELETE FROM hub_temporal_hourly_pending RETURNING *)
INSERT INTO hub_temporal_hourly AS h (entity, attr, dataset_id, hour, n, total, total_sq, lo, hi)
SELECT entity, attr, dataset_id, hour, sum(n), sum(total), sum(total_sq), min(lo), max(hi)
FROM gone GROUP BY entity, attr, dataset_id, hour
ON CONFLICT (entity, attr, dataset_id, hour) DO UPDATE SET
n = h.n + excluded.n, total = h.total + excluded.total, total_sq = h.total_sq + excluded.total_sq,
lo = least(h.lo, excluded.lo), hi = greatest(h.hi, excluded.hi)
"""


def upgrade() -> None:
    """Create hub_temporal_hourly_pending (PostgreSQL)."""
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute(_CREATE)


def downgrade() -> None:
    """Fold the pending sums into hub_temporal_hourly, then drop the table (PostgreSQL)."""
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute("LOCK TABLE hub_temporal_hourly_pending IN EXCLUSIVE MODE")
    op.execute(_FOLD_ALL)
    op.execute("DROP TABLE hub_temporal_hourly_pending")
