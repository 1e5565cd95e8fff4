"""Aggregate history in SQL: per attribute series and period (GS CIM 009 v1.8, 4.5.19).

Periods are ``aggrPeriodDuration`` long and start at ``timeAt`` (for ``timerel=before``, at
the epoch, so PT1H periods are UTC hours); without a duration the whole window is one period.
Two paths give the same numbers: whole, aligned hours are summed from the hourly roll-ups
(count, sum, sum of squares, min, max kept per series and hour), anything else is computed
from the raw instances. ``stddev`` is the sample standard deviation (n − 1), computed in both
paths from the same sums. Numeric methods use the instances whose value is a number;
``totalCount`` counts every instance and ``distinctCount`` the distinct values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cityos.hub.temporal._db import Db
from cityos.hub.temporal._times import MICROS_PER_HOUR
from cityos.hub.temporal.params import Aggregation, TimeWindow
from cityos.hub.temporal.query import window_sql

ROLLUP_METHODS = frozenset({"totalCount", "sum", "avg", "min", "max", "stddev", "sumsq"})


@dataclass(slots=True)
class Period:
    """The sums of one series over one period; ``start``/``end`` in µs since the epoch."""

    start: int
    end: int
    count: int  # every instance
    distinct: int
    n: int  # numeric instances
    total: float | None
    total_sq: float | None
    lo: float | None
    hi: float | None
    kind: str = "Property"

    def value(self, method: str) -> Any:
        """Return the result of one aggregation method (None when it has no value here)."""
        if method == "totalCount":
            return self.count
        if method == "distinctCount":
            return self.distinct
        if self.n == 0:
            return None
        if method == "sum":
            return self.total
        if method == "sumsq":
            return self.total_sq
        if method == "avg":
            return (self.total or 0.0) / self.n
        if method == "min":
            return self.lo
        if method == "max":
            return self.hi
        # stddev: sample standard deviation from the sums (one value has none)
        if self.n < 2:
            return None
        total = self.total or 0.0
        spread = ((self.total_sq or 0.0) - total * total / self.n) / (self.n - 1)
        return math.sqrt(max(spread, 0.0))


def uses_rollups(window: TimeWindow, aggregation: Aggregation) -> bool:
    """Return True when the hourly roll-ups give exactly the asked aggregation."""
    hour = MICROS_PER_HOUR
    if window.column != "ts" or not set(aggregation.methods) <= ROLLUP_METHODS:
        return False
    if aggregation.period is None:  # one period: both ends must be known and whole hours
        return (
            window.start is not None
            and window.end is not None
            and window.start % hour == 0
            and window.end % hour == 0
        )
    if aggregation.period % hour:
        return False
    return all(edge is None or edge % hour == 0 for edge in (window.start, window.end))


def _origin(window: TimeWindow) -> int:
    return window.start if window.start is not None else 0


def _bounds(
    window: TimeWindow, period: int | None, bucket: int, lo: int, hi: int
) -> tuple[int, int]:
    """Return the [start, end] a period is reported with."""
    if period is None:
        start = window.start if window.start is not None else lo
        end = window.end if window.end is not None else hi
        return start, end
    start = _origin(window) + bucket * period
    end = start + period
    if window.end is not None:
        end = min(end, window.end)
    return start, end


def aggregate(
    db: Db, series: list[int], window: TimeWindow, aggregation: Aggregation
) -> dict[int, list[Period]]:
    """Return the periods of each series that hold instances, oldest first."""
    if not series:
        return {}
    if uses_rollups(window, aggregation):
        found = _from_rollups(db, series, window, aggregation)
    else:
        found = _from_instances(db, series, window, aggregation)
    for periods in found.values():
        periods.sort(key=lambda p: p.start)
    return found


def _from_instances(
    db: Db, series: list[int], window: TimeWindow, aggregation: Aggregation
) -> dict[int, list[Period]]:
    column = f"t.{window.column}"
    period = aggregation.period
    bucket = db.bucket(column) if period is not None else "0"
    bucket_params = [_origin(window), period] if period is not None else []
    distinct = (
        f"count(DISTINCT {db.value_json()})" if "distinctCount" in aggregation.methods else "0"
    )
    in_sql, in_params = db.in_list("t.series", series)
    cond, cond_params = window_sql(db, column, window)
    rows = db.rows(
        f"SELECT t.series, {bucket} AS b, count(*), {distinct}, count(t.num), sum(t.num), "
        f"sum(t.num * t.num), min(t.num), max(t.num), min({column}), max({column}), "
        f"min(t.kind) FROM hub_temporal t WHERE {in_sql} AND {cond} GROUP BY t.series, b",
        [*bucket_params, *in_params, *cond_params],
    )
    found: dict[int, list[Period]] = {}
    for row in rows:
        start, end = _bounds(window, period, int(row[1]), db.micros(row[9]), db.micros(row[10]))
        found.setdefault(int(row[0]), []).append(
            Period(
                start,
                end,
                int(row[2]),
                int(row[3]),
                int(row[4]),
                row[5],
                row[6],
                row[7],
                row[8],
                row[11],
            )
        )
    return found


def _from_rollups(
    db: Db, series: list[int], window: TimeWindow, aggregation: Aggregation
) -> dict[int, list[Period]]:
    period = aggregation.period
    bucket = db.bucket("h.hour") if period is not None else "0"
    bucket_params = [_origin(window), period] if period is not None else []
    in_sql, in_params = db.in_list("h.series", series)
    cond, cond_params = window_sql(db, "h.hour", window)
    rows = db.rows(
        f"SELECT h.series, {bucket} AS b, sum(h.n), sum(h.total), sum(h.total_sq), "
        f"min(h.lo), max(h.hi) FROM hub_temporal_hourly h WHERE {in_sql} AND {cond} "
        "GROUP BY h.series, b",
        [*bucket_params, *in_params, *cond_params],
    )
    periods: dict[tuple[int, int], Period] = {}
    for row in rows:
        start, end = _bounds(window, period, int(row[1]), 0, 0)
        n = int(row[2])
        periods[(int(row[0]), int(row[1]))] = Period(
            start, end, n, 0, n, row[3], row[4], row[5], row[6]
        )
    if "totalCount" in aggregation.methods:
        # roll-ups count numbers only: add the other instances from the raw history
        t_bucket = db.bucket("t.ts") if period is not None else "0"
        t_in, t_params = db.in_list("t.series", series)
        t_cond, t_cond_params = window_sql(db, "t.ts", window)
        for sid, b, count, kind in db.rows(
            f"SELECT t.series, {t_bucket} AS b, count(*), min(t.kind) FROM hub_temporal t "
            f"WHERE {t_in} AND {t_cond} AND t.num IS NULL GROUP BY t.series, b",
            [*bucket_params, *t_params, *t_cond_params],
        ):
            key = (int(sid), int(b))
            if key in periods:
                periods[key].count += int(count)
            else:
                start, end = _bounds(window, period, int(b), 0, 0)
                periods[key] = Period(start, end, int(count), 0, 0, None, None, None, None, kind)
    found: dict[int, list[Period]] = {}
    for (sid, _), found_period in periods.items():
        found.setdefault(sid, []).append(found_period)
    return found
