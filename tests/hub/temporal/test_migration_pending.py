"""Migration 0017 (PostgreSQL): the pending hourly sums' table, and its downgrade, which
folds what is pending into the roll-ups before it drops the table."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.hub.temporal.test_migration import _go

pytestmark = pytest.mark.backend("postgresql")  # SQLite's writes leave no sums pending

HOUR = 3_600_000_000
INSERT = (
    "INSERT INTO hub_temporal_hourly_pending (entity, attr, dataset_id, hour, n, total, "
    "total_sq, lo, hi) VALUES (7, 'urn:a', '@none', :hour, :n, :total, :sq, :lo, :hi)"
)


def _exists(engine: Engine) -> bool:
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT to_regclass('hub_temporal_hourly_pending')"))
        return found.scalar() is not None


def test_downgrade_folds_the_pending_sums_then_drops_the_table(engine: Engine) -> None:
    _go(engine, "head", down=False)
    assert _exists(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO hub_temporal_hourly (entity, attr, dataset_id, hour, n, total, "
                "total_sq, lo, hi) VALUES (7, 'urn:a', '@none', 0, 1, 2.0, 4.0, 2.0, 2.0)"
            )
        )
        for hour, x in ((0, 3.0), (0, -1.0), (HOUR, 5.0)):
            conn.execute(
                sa.text(INSERT), {"hour": hour, "n": 1, "total": x, "sq": x * x, "lo": x, "hi": x}
            )
    _go(engine, "0016_sqlite_point_cells", down=True)
    assert not _exists(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT hour, n, total, total_sq, lo, hi FROM hub_temporal_hourly "
                "WHERE entity = 7 ORDER BY hour"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (0, 3, 4.0, 14.0, -1.0, 3.0),
        (HOUR, 1, 5.0, 25.0, 5.0, 5.0),
    ]
    _go(engine, "head", down=False)
    assert _exists(engine)
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM hub_temporal_hourly_pending")).scalar() == 0
        )
