"""SQLite: hourly roll-ups are built from the raw history after the write, not during it.

Revision ID: 0012_temporal_rollup_mark
Revises: 0011_context_tenant
Create Date: 2026-12-01

Until now every write also upserted ``hub_temporal_hourly`` (one row per numeric attribute
instance): on SQLite that was a fifth of what a batch upsert's history cost. SQLite now
appends raw instances only and ``cityos.hub.temporal.rollup`` folds them into the hourly
roll-ups later, in one ``INSERT … SELECT … GROUP BY`` over the rows appended since
(``hub_temporal.pk`` > ``rolled_pk``): before any read or change of the roll-ups, in the
retention job and in its own periodic job. ``hub_temporal_rollup`` holds that mark (one row).
Every instance already in ``hub_temporal`` was rolled up when it was written, so the mark
starts at the largest ``pk``. PostgreSQL (several concurrent writers, whose identity values
commit out of order) keeps updating the roll-ups in the write's transaction: no table there.
"""

from __future__ import annotations

from alembic import op

revision = "0012_temporal_rollup_mark"
down_revision = "0011_context_tenant"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the mark on SQLite, at the newest instance (all of them are rolled up)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "CREATE TABLE hub_temporal_rollup (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "rolled_pk INTEGER NOT NULL)"
    )
    op.execute(
        "INSERT INTO hub_temporal_rollup (id, rolled_pk) "
        "SELECT 1, coalesce(max(pk), 0) FROM hub_temporal"
    )


def downgrade() -> None:
    """Fold what is pending into the roll-ups, then drop the mark (SQLite)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "INSERT INTO hub_temporal_hourly (series, hour, n, total, total_sq, lo, hi) "
        "SELECT series, ts - ((ts % 3600000000) + 3600000000) % 3600000000, count(num), "
        "sum(num), sum(num * num), min(num), max(num) FROM hub_temporal "
        "WHERE pk > (SELECT rolled_pk FROM hub_temporal_rollup) AND num IS NOT NULL "
        "GROUP BY 1, 2 ON CONFLICT (series, hour) DO UPDATE SET n = n + excluded.n, "
        "total = total + excluded.total, total_sq = total_sq + excluded.total_sq, "
        "lo = min(lo, excluded.lo), hi = max(hi, excluded.hi)"
    )
    op.execute("DROP TABLE hub_temporal_rollup")
