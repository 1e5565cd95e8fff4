"""PostgreSQL: hub_entities leaves room on each page for HOT updates and compresses with lz4.

Revision ID: 0014_pg_entity_storage
Revises: 0013_temporal_changes
Create Date: 2026-12-01

An attribute PATCH rewrites its entity's row. On a page filled to the brim (the default
fillfactor, 100) the new version goes to another page: not a HOT update, so the primary key
and both GIN indexes (types, attribute names) get new entries for the unchanged values, and
the WAL carries them. ``fillfactor = 80`` keeps a fifth of each page free when rows are
inserted, room for one new version of a benchmark-sized entity (about 1.3 kB) until page
pruning frees the old one. It applies to pages written from now on; ``VACUUM FULL
hub_entities`` applies it to the rows already stored.

``attrs`` (about 1.9 kB of jsonb for an 8-attribute entity) pushes a row over PostgreSQL's
2 kB TOAST threshold, so every write compresses it inline: with pglz, the default, about
45 µs of the server's CPU per row; lz4 takes a few µs for a slightly larger value (716
against 647 bytes). A stored value keeps its method until it is next written.

SQLite: nothing (no such storage parameters).
"""

from __future__ import annotations

from alembic import op

revision = "0014_pg_entity_storage"
down_revision = "0013_temporal_changes"
branch_labels = None
depends_on = None

# A server built without lz4 (``--without-lz4``) refuses the method: keep pglz there.
_LZ4 = """
DO $$
BEGIN
    ALTER TABLE hub_entities ALTER COLUMN attrs SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not built into this server: hub_entities.attrs keeps pglz';
END
$$
"""


def upgrade() -> None:
    """Set hub_entities' fillfactor to 80 and its attrs' compression to lz4 (PostgreSQL)."""
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute("ALTER TABLE hub_entities SET (fillfactor = 80)")
    op.execute(_LZ4)


def downgrade() -> None:
    """Restore the default fillfactor and compression (PostgreSQL)."""
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute("ALTER TABLE hub_entities RESET (fillfactor)")
    op.execute("ALTER TABLE hub_entities ALTER COLUMN attrs SET COMPRESSION default")
