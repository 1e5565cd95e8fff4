"""Per-instance SQL for the ``q`` terms the plain compiler does not cover (GS CIM 009 4.9).

Sub-attribute and keyword paths (``speed.unitCode``, ``speed.observedAt``), ``[..]`` trails
into compound values and language maps (``address[city]``, ``name[ko]``, ``name[*]``) and
DateTime/Date/Time literals are compiled by the non-temporal query compiler
(:mod:`cityos.hub.query.sql`, the same semantics as ``/entities``), applied to one stored
instance (``t.instance``) instead of an entity's attribute array. Two things the entity
compiler leaves to Python are done in SQL here:

* date/time literals compare **as instants** when the instance's value is a string of the
  same kind (DateTime, Date or Time; 4.9: "the order relation considered shall be a
  temporal one"), else as strings, exactly as :func:`cityos.hub.query._temporal.parse_temporal`
  reads them: on SQLite through the function ``cityos_instant`` (that parser, registered on
  every connection), on PostgreSQL through the integer arithmetic below (no casts, so a
  malformed date such as 2026-02-30 is a string, never an error);
* regular expressions on PostgreSQL use its POSIX ``~``, as the plain compiler does.
"""

from __future__ import annotations

from typing import Any

from cityos.hub.query._sqlgen import MARK, F, Postgres, SQLite, param, sql
from cityos.hub.query._temporal import TemporalValue
from cityos.hub.query.ast import Str

_SQL_OPS = {"=": "=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}

# The shapes parse_temporal accepts (ASCII digits), one capture group per field.
_PG_DATETIME = (
    "^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2})"
    "(?::([0-9]{2})(?:\\.([0-9]{1,9}))?)?(Z|[+-][0-9]{2}:[0-9]{2})?$"
)
_PG_DATE = "^([0-9]{4})-([0-9]{2})-([0-9]{2})$"
_PG_TIME = "^([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\\.([0-9]{1,9}))?)?Z?$"

_DAYS_IN_MONTH = (
    "CASE WHEN x.mo = 2 THEN CASE WHEN (mod(x.y, 4) = 0 AND mod(x.y, 100) <> 0) "
    "OR mod(x.y, 400) = 0 THEN 29 ELSE 28 END WHEN x.mo IN (4, 6, 9, 11) THEN 30 ELSE 31 END"
)
# Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil; y >= 1).
_YY = "(x.y - CASE WHEN x.mo <= 2 THEN 1 ELSE 0 END)"
_DAYS = (
    f"((({_YY}) / 400) * 146097 + ((({_YY}) - (({_YY}) / 400) * 400) * 365 "
    f"+ (({_YY}) - (({_YY}) / 400) * 400) / 4 - (({_YY}) - (({_YY}) / 400) * 400) / 100 "
    "+ (153 * mod(x.mo + 9, 12) + 2) / 5 + x.d - 1) - 719468)"
)
_DATE_OK = f"x.y >= 1 AND x.mo BETWEEN 1 AND 12 AND x.d BETWEEN 1 AND ({_DAYS_IN_MONTH})"
_TIME_OK = "x.h <= 23 AND x.mi <= 59 AND x.s <= 59"
_FRACTION = "rpad(left(coalesce(r.m[{n}], ''), 6), 6, '0')::bigint"


def pg_instant(text: str, kind: str) -> str:
    """Return PostgreSQL SQL for the ordinal ``parse_temporal`` gives the text ``text`` of
    ``kind`` (µs since the epoch, the proleptic ordinal of a date, µs of the day), or NULL
    when the text is not a valid value of that kind."""
    if kind == "datetime":
        zone = (
            "CASE WHEN r.m[8] IS NULL OR r.m[8] = 'Z' THEN 0 ELSE (CASE WHEN left(r.m[8], 1) "
            "= '-' THEN -1 ELSE 1 END) * (substr(r.m[8], 2, 2)::bigint * 60 "
            "+ substr(r.m[8], 5, 2)::bigint) END"
        )
        fields = (
            "r.m[1]::bigint AS y, r.m[2]::bigint AS mo, r.m[3]::bigint AS d, "
            "r.m[4]::bigint AS h, r.m[5]::bigint AS mi, coalesce(r.m[6], '0')::bigint AS s, "
            f"{_FRACTION.format(n=7)} AS f, {zone} AS z"
        )
        value = (
            f"{_DAYS} * 86400000000 + x.h * 3600000000 + x.mi * 60000000 + x.s * 1000000 "
            "+ x.f - x.z * 60000000"
        )
        ok = f"{_DATE_OK} AND {_TIME_OK} AND abs(x.z) < 1440"
        pattern = _PG_DATETIME
    elif kind == "date":
        fields = "r.m[1]::bigint AS y, r.m[2]::bigint AS mo, r.m[3]::bigint AS d"
        value = f"{_DAYS} + 719163"
        ok = _DATE_OK
        pattern = _PG_DATE
    else:
        fields = (
            "r.m[1]::bigint AS h, r.m[2]::bigint AS mi, coalesce(r.m[3], '0')::bigint AS s, "
            f"{_FRACTION.format(n=4)} AS f"
        )
        value = "(x.h * 3600 + x.mi * 60 + x.s) * 1000000 + x.f"
        ok = _TIME_OK
        pattern = _PG_TIME
    return (
        f"(SELECT CASE WHEN x.h0 IS NOT NULL AND {ok} THEN {value} END FROM "
        f"(SELECT r.m[1] AS h0, {fields} FROM regexp_match({text}, '{pattern}') AS r(m)) x)"
    )


def _when(lit: Any) -> TemporalValue:
    assert isinstance(lit, Str)
    when = lit.temporal
    assert when is not None  # the compiler asks only for date/time literals
    return when


class TemporalSQLite(SQLite):
    """SQLite dialect for one stored instance, comparing date/time literals as instants."""

    def instant(self, kind: F, value: F, op: str, lit: Any) -> F:
        when = _when(lit)
        sql_op = _SQL_OPS[op]
        seen = sql(f"cityos_instant(@, '{when.kind}')", value)
        return sql(
            f"(@ = 'text' AND (CASE WHEN @ IS NOT NULL THEN @ {sql_op} @ ELSE @ {sql_op} @ END))",
            kind,
            seen,
            seen,
            param(when.ordinal),
            value,
            param(lit.value),
        )


class TemporalPostgres(Postgres):
    """PostgreSQL dialect for one stored instance: instants in SQL, POSIX regexes."""

    def instant(self, kind: F, value: F, op: str, lit: Any) -> F:
        when = _when(lit)
        sql_op = _SQL_OPS[op]
        return sql(
            "(jsonb_typeof(@) = 'string' AND (SELECT CASE WHEN b.o IS NOT NULL "
            f'THEN b.o {sql_op} @ ELSE a.tx COLLATE "C" {sql_op} CAST(@ AS text) END '
            "FROM (SELECT (@ #>> "
            f"'{{}}') AS tx) a, LATERAL (SELECT {pg_instant('a.tx', when.kind)} AS o) b))",
            kind,
            param(when.ordinal),
            param(lit.value),
            value,
        )

    def regex(self, kind: F, value: F, pattern: str) -> F:
        return sql("(jsonb_typeof(@) = 'string' AND (@ #>> '{}') ~ @)", kind, value, param(pattern))


def render(fragment: F) -> tuple[str, list[Any]]:
    """Return a fragment's SQL with ``%s`` placeholders (``Db.sql`` adapts them)."""
    return fragment.sql.replace(MARK, "%s"), list(fragment.params)
