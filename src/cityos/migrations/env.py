"""Alembic environment: runs migrations on the connection ``cityos.db`` hands over."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached through a bare `alembic` call
    raise RuntimeError("run migrations with `cityos db upgrade`, which supplies the connection")

context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
