"""Alembic migrations for every CityOS table, one history for SQLite and PostgreSQL."""
