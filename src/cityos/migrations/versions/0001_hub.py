"""The hub's tables: tenants, entities, their types, attribute names, geometries, contexts.

Revision ID: 0001_hub
Revises:
Create Date: 2026-11-25

SQLite keeps an integer surrogate key per entity so the type and R*Tree side tables join
cheaply, and interns each entity's attribute list (name and kind) in ``hub_attr_sets``.
PostgreSQL keys every hub table by (tenant, entity id) and keeps the type and attribute
lists as indexed arrays, so the tables can later be distributed with
Citus by tenant and entity id without cross-shard joins.
"""

from __future__ import annotations

from alembic import op

revision = "0001_hub"
down_revision = None
branch_labels = None
depends_on = None

SQLITE = [
    """CREATE TABLE hub_tenants (
        name TEXT PRIMARY KEY,
        created_at TEXT NOT NULL)""",
    """CREATE TABLE hub_entities (
        pk INTEGER PRIMARY KEY,
        tenant TEXT NOT NULL,
        id TEXT NOT NULL,
        types TEXT NOT NULL,
        scopes TEXT,
        created_at TEXT NOT NULL,
        modified_at TEXT NOT NULL,
        attrs TEXT NOT NULL,
        attr_set INTEGER NOT NULL,
        UNIQUE (tenant, id))""",
    """CREATE TABLE hub_entity_types (
        tenant TEXT NOT NULL,
        type TEXT NOT NULL,
        entity_pk INTEGER NOT NULL,
        PRIMARY KEY (tenant, type, entity_pk)) WITHOUT ROWID""",
    "CREATE INDEX hub_entity_types_entity ON hub_entity_types (entity_pk)",
    # Each distinct list of (attribute, kind) pairs is stored once; entities point to theirs.
    # Sensors of one kind share one set, so discovery and `attrs=` read a handful of rows,
    # and a write adds no per-attribute index entries.
    """CREATE TABLE hub_attr_sets (
        id INTEGER PRIMARY KEY,
        tenant TEXT NOT NULL,
        signature TEXT NOT NULL,
        UNIQUE (tenant, signature))""",
    """CREATE TABLE hub_geo (
        pk INTEGER PRIMARY KEY,
        entity_pk INTEGER NOT NULL,
        attr TEXT NOT NULL,
        geojson TEXT NOT NULL)""",
    "CREATE INDEX hub_geo_entity ON hub_geo (entity_pk)",
    "CREATE VIRTUAL TABLE hub_geo_rtree USING rtree(pk, min_lon, max_lon, min_lat, max_lat)",
    """CREATE TRIGGER hub_geo_rtree_delete AFTER DELETE ON hub_geo BEGIN
        DELETE FROM hub_geo_rtree WHERE pk = old.pk; END""",
    """CREATE TABLE hub_contexts (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_used_at TEXT,
        hits INTEGER NOT NULL DEFAULT 0)""",
]

POSTGRES = [
    "CREATE EXTENSION IF NOT EXISTS postgis",
    """CREATE TABLE hub_tenants (
        name text PRIMARY KEY,
        created_at timestamptz NOT NULL)""",
    """CREATE TABLE hub_entities (
        tenant text NOT NULL,
        id text NOT NULL,
        types text[] NOT NULL,
        scopes text[],
        attr_names text[] NOT NULL,
        created_at timestamptz NOT NULL,
        modified_at timestamptz NOT NULL,
        attrs jsonb NOT NULL,
        PRIMARY KEY (tenant, id))""",
    "CREATE INDEX hub_entities_types ON hub_entities USING gin (types)",
    "CREATE INDEX hub_entities_attr_names ON hub_entities USING gin (attr_names)",
    """CREATE TABLE hub_geo (
        tenant text NOT NULL,
        entity_id text NOT NULL,
        attr text NOT NULL,
        ordinal integer NOT NULL,
        geom geography(Geometry, 4326) NOT NULL,
        PRIMARY KEY (tenant, entity_id, attr, ordinal),
        FOREIGN KEY (tenant, entity_id) REFERENCES hub_entities (tenant, id) ON DELETE CASCADE)""",
    "CREATE INDEX hub_geo_geom ON hub_geo USING gist (geom)",
    # within/contains/… test the planar geometry; near uses the geography index above
    "CREATE INDEX hub_geo_geom_planar ON hub_geo USING gist ((geom::geometry))",
    """CREATE TABLE hub_contexts (
        id text PRIMARY KEY,
        url text NOT NULL UNIQUE,
        kind text NOT NULL,
        body jsonb NOT NULL,
        created_at timestamptz NOT NULL,
        last_used_at timestamptz,
        hits bigint NOT NULL DEFAULT 0)""",
]


def upgrade() -> None:
    """Create the hub tables for the connected dialect."""
    statements = SQLITE if op.get_bind().dialect.name == "sqlite" else POSTGRES
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    """Drop the hub tables."""
    for table in ("hub_contexts", "hub_geo", "hub_attr_sets", "hub_entity_types"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.execute("DROP TABLE IF EXISTS hub_geo_rtree")
    op.execute("DROP TABLE IF EXISTS hub_entities")
    op.execute("DROP TABLE IF EXISTS hub_tenants")
