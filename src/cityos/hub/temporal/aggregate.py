"""Aggregate history in SQL: per attribute series and period (GS CIM 009 v1.8, 4.5.19).

Periods are ``aggrPeriodDuration`` long and start where the query's time range starts: at
``timeAt`` (``after``, ``between``), else (``before``, no ``timerel``) at the earliest instance
in the window of the series asked for together (the ETSI suite's 020_11; 4.5.19 only says "as
many periods as there are in the time range of the query"); without a duration the whole window
is one period. Two paths give the same numbers: periods of whole hours that start on a whole
UTC hour are summed from the hourly roll-ups (count, sum, sum of squares, min, max kept per
entity, attribute, datasetId and hour), anything else is computed from the raw instances
(``hub_temporal_instances``, the change rows expanded). The database groups the
rows into periods (and, on PostgreSQL, gathers each series' periods into arrays, so a 30-day
hourly answer for 100 sensors is 100 rows, not 72,000); the methods' values are then computed
with numpy from the same sums in both paths. ``stddev`` is the sample standard deviation (n −
1). Numeric methods use the instances whose value is a number; ``totalCount`` counts every
instance and ``distinctCount`` the distinct values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cityos.hub.temporal._db import Db
from cityos.hub.temporal._times import MICROS_PER_HOUR, iso
from cityos.hub.temporal.params import Aggregation, TimeWindow
from cityos.hub.temporal.query import Series, window_sql

SeriesKey = tuple[int, str, str]  # (entity key, attribute, datasetId)

ROLLUP_METHODS = frozenset({"totalCount", "sum", "avg", "min", "max", "stddev", "sumsq"})
# What the grouped queries return per (series, period), in this order.
_COLUMNS = ("b", "total_count", "distinct_count", "n", "total", "total_sq", "lo", "hi")
_FLOATS = ("total", "total_sq", "lo", "hi")
# The columns each method needs (PostgreSQL gathers only those into arrays).
_NEEDS = {
    "totalCount": ("total_count",),
    "distinctCount": ("distinct_count",),
    "sum": ("n", "total"),
    "avg": ("n", "total"),
    "min": ("n", "lo"),
    "max": ("n", "hi"),
    "stddev": ("n", "total", "total_sq"),
    "sumsq": ("n", "total_sq"),
}


class Periods:
    """One series' periods holding instances, oldest first, as arrays of sums."""

    def __init__(
        self, columns: dict[str, Any], kind: str, starts: np.ndarray, ends: np.ndarray
    ) -> None:
        size = len(starts)

        def column(name: str, dtype: Any) -> np.ndarray:
            found = columns.get(name)
            if found is None:  # not asked for by any method
                return np.zeros(size, dtype=dtype)
            return np.asarray(found, dtype=dtype)

        self.kind = kind
        self.starts = starts
        self.ends = ends
        self.count = column("total_count", np.int64)
        self.distinct = column("distinct_count", np.int64)
        self.n = column("n", np.int64)
        self.sums = {name: column(name, float) for name in _FLOATS}

    def __len__(self) -> int:
        return len(self.starts)

    def last(self, count: int) -> Periods:
        """Return the newest ``count`` periods."""
        out = Periods.__new__(Periods)
        out.kind = self.kind
        out.starts, out.ends = self.starts[-count:], self.ends[-count:]
        out.count, out.distinct, out.n = (
            self.count[-count:],
            self.distinct[-count:],
            self.n[-count:],
        )
        out.sums = {name: values[-count:] for name, values in self.sums.items()}
        return out

    def values(self, method: str) -> list[list[Any]]:
        """Return [[value, start, end], …] of one method, skipping periods without a value."""
        n = self.n
        if method == "totalCount":
            result: np.ndarray = self.count
            keep = np.ones(len(n), dtype=bool)
        elif method == "distinctCount":
            result, keep = self.distinct, np.ones(len(n), dtype=bool)
        else:
            total = self.sums["total"]
            keep = n > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                if method == "sum":
                    result = total
                elif method == "sumsq":
                    result = self.sums["total_sq"]
                elif method == "avg":
                    result = total / n
                elif method == "min":
                    result = self.sums["lo"]
                elif method == "max":
                    result = self.sums["hi"]
                else:  # stddev: the sample standard deviation from the sums
                    keep = n > 1
                    spread = (self.sums["total_sq"] - total * total / n) / (n - 1)
                    result = np.sqrt(np.maximum(spread, 0.0))
        chosen = np.flatnonzero(keep)
        # map/zip in C: three times faster than a list comprehension for 72,000 periods
        return list(
            map(
                list,
                zip(
                    result[chosen].tolist(),
                    map(iso, self.starts[chosen].tolist()),
                    map(iso, self.ends[chosen].tolist()),
                    strict=True,
                ),
            )
        )


def rollups_possible(window: TimeWindow, aggregation: Aggregation) -> bool:
    """Return True when the hourly roll-ups may answer ``aggregation`` over ``window``: all
    of :func:`uses_rollups` that does not depend on the data (the periods' origin when
    there is no ``timeAt``). False means the roll-ups are not read."""
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


def uses_rollups(window: TimeWindow, aggregation: Aggregation, origin: int | None) -> bool:
    """Return True when the hourly roll-ups give exactly the asked aggregation (``origin``:
    where the periods start [µs])."""
    if not rollups_possible(window, aggregation):
        return False
    return aggregation.period is None or (origin is not None and origin % MICROS_PER_HOUR == 0)


def _narrow(db: Db, alias: str, series: list[Series]) -> tuple[str, list[Any]]:
    """Return SQL keeping the rows of ``alias`` whose entity, attribute and datasetId are
    among ``series``' (a superset of the series when entities differ in attributes: the
    caller keeps the asked ones)."""
    parts, params = [], []
    for column, values in (
        ("entity", sorted({s.entity for s in series})),
        ("attr", sorted({s.attr for s in series})),
        ("dataset_id", sorted({s.dataset_id for s in series})),
    ):
        sql, more = db.in_list(f"{alias}.{column}", values)
        parts.append(sql)
        params.extend(more)
    return " AND ".join(parts), params


def period_origin(db: Db, series: list[Series], window: TimeWindow) -> int | None:
    """Return where the periods start [µs]: ``timeAt``, or the earliest instance of
    ``series`` in the window (None if there is none)."""
    if window.start is not None:
        return window.start
    column = f"t.{window.column}"
    narrow, params = _narrow(db, "t", series)
    cond, cond_params = window_sql(db, column, window)
    ((first,),) = db.rows(
        f"SELECT min({column}) FROM hub_temporal_instances t WHERE {narrow} AND {cond}",
        [*params, *cond_params],
    )
    return None if first is None else int(first)


def aggregate(
    db: Db, series: list[Series], window: TimeWindow, aggregation: Aggregation
) -> dict[int, Periods]:
    """Return the periods of each series (by ``Series.pk``) that hold instances, oldest
    first."""
    if not series:
        return {}
    origin = period_origin(db, series, window) if aggregation.period is not None else None
    if aggregation.period is not None and origin is None:
        return {}  # no instance in the window
    rollups = uses_rollups(window, aggregation, origin)
    if rollups:
        grouped, params, extremes = _rollup_sql(db, series, window, aggregation, origin)
    else:
        grouped, params, extremes = _instances_sql(db, series, window, aggregation, origin)
    wanted = {"b"} | {name for m in aggregation.methods for name in _NEEDS[m]}
    found = _collect(
        db,
        grouped,
        params,
        names=tuple(n for n in _COLUMNS if n in wanted) + (("t_min", "t_max") if extremes else ()),
    )
    if rollups and "totalCount" in aggregation.methods:
        _add_text_counts(db, series, window, aggregation, origin, found)
    numbers = {(s.entity, s.attr, s.dataset_id): s.pk for s in series}
    return {
        numbers[key]: _periods(cols, kind, window, aggregation.period, origin)
        for key, (cols, kind) in found.items()
        if key in numbers
    }


def _bucket(
    db: Db, column: str, aggregation: Aggregation, origin: int | None
) -> tuple[str, list[Any]]:
    if aggregation.period is None or origin is None:
        return "0", []
    return db.bucket(column), [origin, aggregation.period]


def _instances_sql(
    db: Db, series: list[Series], window: TimeWindow, aggregation: Aggregation, origin: int | None
) -> tuple[str, list[Any], bool]:
    column = f"t.{window.column}"
    bucket, bucket_params = _bucket(db, column, aggregation, origin)
    distinct = (
        f"count(DISTINCT {db.value_json()})" if "distinctCount" in aggregation.methods else "0"
    )
    in_sql, in_params = _narrow(db, "t", series)
    cond, cond_params = window_sql(db, column, window)
    sql = (
        f"SELECT t.entity AS entity, t.attr AS attr, t.dataset_id AS dataset_id, {bucket} AS b, "
        "count(*) AS total_count, "
        f"CAST({distinct} AS BIGINT) AS distinct_count, count(t.num) AS n, sum(t.num) AS total, "
        "sum(t.num * t.num) AS total_sq, min(t.num) AS lo, max(t.num) AS hi, "
        f"min({column}) AS t_min, max({column}) AS t_max, min(t.kind) AS kind "
        "FROM hub_temporal_instances t "
        f"WHERE {in_sql} AND {cond} GROUP BY t.entity, t.attr, t.dataset_id, b"
    )
    return sql, [*bucket_params, *in_params, *cond_params], aggregation.period is None


def _rollup_sql(
    db: Db, series: list[Series], window: TimeWindow, aggregation: Aggregation, origin: int | None
) -> tuple[str, list[Any], bool]:
    in_sql, in_params = _narrow(db, "h", series)
    cond, cond_params = window_sql(db, "h.hour", window)
    if aggregation.period is None:
        bucket, bucket_params = "0", []
    else:
        bucket, bucket_params = db.bucket("h.hour"), [origin, aggregation.period]
    if aggregation.period == MICROS_PER_HOUR:  # one roll-up row is one period: no grouping
        sql = (
            "SELECT h.entity AS entity, h.attr AS attr, h.dataset_id AS dataset_id, "
            f"{bucket} AS b, h.n AS total_count, "
            "CAST(0 AS BIGINT) AS distinct_count, h.n AS n, h.total AS total, "
            "h.total_sq AS total_sq, h.lo AS lo, h.hi AS hi, 'Property' AS kind "
            f"FROM hub_temporal_hourly h WHERE {in_sql} AND {cond}"
        )
        return sql, [*bucket_params, *in_params, *cond_params], False
    sql = (
        "SELECT h.entity AS entity, h.attr AS attr, h.dataset_id AS dataset_id, "
        f"{bucket} AS b, CAST(sum(h.n) AS BIGINT) AS total_count, "
        "CAST(0 AS BIGINT) AS distinct_count, CAST(sum(h.n) AS BIGINT) AS n, "
        "sum(h.total) AS total, sum(h.total_sq) AS total_sq, min(h.lo) AS lo, max(h.hi) AS hi, "
        "'Property' AS kind "
        "FROM hub_temporal_hourly h "
        f"WHERE {in_sql} AND {cond} GROUP BY h.entity, h.attr, h.dataset_id, b"
    )
    return sql, [*bucket_params, *in_params, *cond_params], False


def _collect(
    db: Db, grouped: str, params: list[Any], *, names: tuple[str, ...]
) -> dict[SeriesKey, tuple[dict[str, Any], str]]:
    """Return, per series, its periods' ``names`` columns ordered by period, and its kind."""
    found: dict[SeriesKey, tuple[dict[str, Any], str]] = {}
    if db.postgres:
        # one row of arrays per series, in any order: sorted by period here, cheaper than
        # an ORDER BY inside each array_agg
        arrays = ", ".join(f"array_agg(g.{name})" for name in names)
        for row in db.rows(
            f"SELECT g.entity, g.attr, g.dataset_id, min(g.kind), {arrays} FROM ({grouped}) g "
            "GROUP BY g.entity, g.attr, g.dataset_id",
            params,
            binary=True,
        ):
            columns = {name: np.asarray(v) for name, v in zip(names, row[4:], strict=True)}
            order = np.argsort(columns["b"], kind="stable")
            key = (int(row[0]), row[1], row[2])
            found[key] = ({k: v[order] for k, v in columns.items()}, row[3])
        return found
    positions = [3 + _COLUMNS.index(n) if n in _COLUMNS else None for n in names]
    for row in db.rows(f"SELECT * FROM ({grouped}) ORDER BY entity, attr, dataset_id, b", params):
        # columns: entity, attr, dataset_id, b, total_count, distinct, n, total, total_sq,
        # lo, hi[, t_min, t_max], kind
        key, kind = (int(row[0]), row[1], row[2]), row[-1]
        cols, _ = found.setdefault(key, ({name: [] for name in names}, kind))
        for name, at in zip(names, positions, strict=True):
            value = (
                row[at]
                if at is not None
                else row[len(_COLUMNS) + 3 + ("t_min", "t_max").index(name)]
            )
            cols[name].append(value)
    return found


def _add_text_counts(
    db: Db,
    series: list[Series],
    window: TimeWindow,
    aggregation: Aggregation,
    origin: int | None,
    found: dict[SeriesKey, tuple[dict[str, Any], str]],
) -> None:
    """Add the non-numeric instances (which roll-ups do not count) to ``totalCount``."""
    bucket, bucket_params = _bucket(db, "t.ts", aggregation, origin)
    in_sql, in_params = _narrow(db, "t", series)
    cond, cond_params = window_sql(db, "t.ts", window)
    for entity, attr, dataset_id, b, count, kind in db.rows(
        f"SELECT t.entity, t.attr, t.dataset_id, {bucket} AS b, count(*), min(t.kind) "
        f"FROM hub_temporal_instances t WHERE {in_sql} AND {cond} AND t.num IS NULL "
        "GROUP BY t.entity, t.attr, t.dataset_id, b",
        [*bucket_params, *in_params, *cond_params],
    ):
        sid = (int(entity), attr, dataset_id)
        known = found.get(sid)
        cols = {k: list(v) for k, v in known[0].items()} if known else {}
        names = list(cols) or ["b", "total_count", "n"]
        for name in names:
            cols.setdefault(name, [])
        if b in cols["b"]:
            cols["total_count"][cols["b"].index(b)] += int(count)
        else:
            at = sum(1 for other in cols["b"] if other < b)
            blank = {"b": b, "total_count": int(count), "n": 0, "distinct_count": 0}
            for name in names:
                cols[name].insert(at, blank.get(name))
        found[sid] = (cols, known[1] if known else kind)


def _periods(
    cols: dict[str, Any], kind: str, window: TimeWindow, period: int | None, origin: int | None
) -> Periods:
    buckets = np.asarray(cols["b"], dtype=np.int64)
    if period is None or origin is None:
        lo = window.start if window.start is not None else cols["t_min"][0]
        hi = window.end if window.end is not None else cols["t_max"][0]
        starts = np.full(len(buckets), lo, dtype=np.int64)
        ends = np.full(len(buckets), hi, dtype=np.int64)
    else:
        starts = origin + buckets * period
        ends = starts + period
        if window.end is not None:
            ends = np.minimum(ends, window.end)
    return Periods(cols, kind, starts, ends)
