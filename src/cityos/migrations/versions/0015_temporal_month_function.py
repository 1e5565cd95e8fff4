"""PostgreSQL: one function makes sure the monthly partitions of a history write exist.

Revision ID: 0015_temporal_month_function
Revises: 0014_pg_entity_storage
Create Date: 2026-12-02

A history write whose changes fall in a month the writer does not know to exist (a late
reading, the first write of a month) checked its partitions inside its history statement
and read the answer: the statement then could not travel with COMMIT in one round trip, and
a missing partition cost two statements and a retry. ``hub_temporal_months(names, lo, hi)``
does what ``cityos.hub.temporal.partitions.ensure_month_partitions`` did (that function now
calls it): the shared advisory lock that retention's DROP takes exclusively, a look-up of
each name (``to_regclass``, a catalog-cache look-up; ``relname = ANY(text[])`` scanned
pg_class, ~35 µs), and under the creation lock ``CREATE TABLE IF NOT EXISTS … PARTITION
OF``, as one statement whose result nobody reads, so the writer sends it, the history and
COMMIT together (``hub/store/_pg_prepared``).

SQLite: nothing (history there is not partitioned).
"""

from __future__ import annotations

from alembic import op

revision = "0015_temporal_month_function"
down_revision = "0014_pg_entity_storage"
branch_labels = None
depends_on = None

# 2117929489 = partitions._LOCK_KEY (writers shared, retention exclusive);
# 2117929490 = partitions._CREATE_KEY (a writer creating partitions).
_FUNCTION = """
CREATE FUNCTION hub_temporal_months(names text[], lo bigint[], hi bigint[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    creating boolean := false;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(2117929489);
    FOR i IN 1 .. cardinality(names) LOOP
        IF to_regclass(names[i]) IS NULL THEN
            IF NOT creating THEN
                PERFORM pg_advisory_xact_lock(2117929490);
                creating := true;
            END IF;
            -- IF NOT EXISTS: a writer that created it committed while this one waited
            EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF hub_temporal_changes '
                           'FOR VALUES FROM (%s) TO (%s)', names[i], lo[i], hi[i]);
        END IF;
    END LOOP;
END
$$
"""


def upgrade() -> None:
    """Create hub_temporal_months (PostgreSQL)."""
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute(_FUNCTION)


def downgrade() -> None:
    """Drop hub_temporal_months (PostgreSQL)."""
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute("DROP FUNCTION hub_temporal_months(text[], bigint[], bigint[])")
