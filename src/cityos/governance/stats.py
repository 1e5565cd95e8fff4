"""Complaint statistics for the administration dashboard (``GET /complaints/stats``).

Counts only — no description, address, account or photo leaves this module. Definitions
(``docs/governance/complaints.md``, "Dashboard"):

- the **window** is whole calendar days in Asia/Seoul, ``from`` 00:00 to ``to`` 24:00 KST;
  a complaint belongs to it by its receipt time (``requested_at``);
- **by service code** and **by day** are SQL ``GROUP BY`` on both backends (the Seoul day is
  ``date(requested_at, '+9 hours')`` on SQLite, ``timezone('Asia/Seoul', …)::date`` on
  PostgreSQL; Korea keeps no summer time); a **week** starts on Monday (ISO 8601);
- **by zone**: the eup/myeon/dong containing the complaint's point
  (:func:`cityos.governance.civic.zones.zone_at`, shapely, in Python: a point-in-polygon test
  neither SQLite nor a PostGIS-less PostgreSQL does); complaints without a point or outside
  Sejong count as ``unlocated``;
- **hot spots**: H3 cells (Uber's hexagonal grid, resolution 8 ≈ 0.74 km², 9 ≈ 0.11 km²)
  holding at least one complaint's point;
- **SLA**: ``open_overdue`` = open (접수, 배정, 처리중) and past ``expected_at`` *now*;
  ``answered_late`` = closed (완료) or rejected (반려) after ``expected_at``;
- **trending topics**: per week, the general nouns (Kiwi tag ``NNG``, two characters or more)
  counted once per complaint, kept when two or more complaints of the week use them; a noun
  is **rising** when its count is ≥ 3 and at least twice the previous week's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import h3
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cityos.governance.catalog import BY_CODE, SERVICES, department_names, department_table
from cityos.governance.civic.zones import Zone, all_zones, zone_at
from cityos.governance.documents import mask_contacts, seoul
from cityos.governance.models import Status, requests

SEOUL = ZoneInfo("Asia/Seoul")
RESOLUTIONS = (8, 9)
MAX_DAYS = 366
TOP_KEYWORDS = 10
MIN_KEYWORD_COMPLAINTS = 2  # a noun one complaint uses is not a topic (and may be personal)
RISING_MIN = 3
ID_CHUNK = 5000  # ids per IN (…) list when a zone narrows the complaints
OPEN = tuple(s.value for s in Status if s.open311 == "open")
ANSWERED = (Status.CLOSED.value, Status.REJECTED.value)


@dataclass(frozen=True)
class Query:
    """What the dashboard asks for: Seoul calendar days, optionally one zone and one code."""

    first_day: date
    last_day: date
    zone: Zone | None = None
    service_code: str | None = None
    resolution: int = 8

    @property
    def start(self) -> datetime:
        """Return the window's first instant (``first_day`` 00:00 KST) in UTC."""
        return datetime.combine(self.first_day, time(), SEOUL).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """Return the instant after the window (``last_day`` + 1 00:00 KST) in UTC."""
        return datetime.combine(self.last_day + timedelta(days=1), time(), SEOUL).astimezone(UTC)

    @property
    def days(self) -> list[date]:
        """Return every day of the window."""
        n = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=i) for i in range(n)]


def week_of(day: date) -> date:
    """Return the Monday that starts the ISO week of ``day``."""
    return day - timedelta(days=day.weekday())


def seoul_day(moment: datetime) -> date:
    """Return the calendar day in Asia/Seoul of an instant."""
    return moment.astimezone(SEOUL).date()


def _day_column(connection: Connection) -> Any:
    # Literal, not bound: PostgreSQL must see the GROUP BY expression exactly as selected.
    if connection.dialect.name == "postgresql":
        seoul_zone: Any = sa.literal_column("'Asia/Seoul'")
        return sa.cast(sa.func.timezone(seoul_zone, requests.c.requested_at), sa.Date)
    return sa.func.date(requests.c.requested_at, sa.literal_column("'+9 hours'"))


def _where(query: Query) -> list[Any]:
    clauses = [requests.c.requested_at >= query.start, requests.c.requested_at < query.end]
    if query.service_code:
        clauses.append(requests.c.service_code == query.service_code)
    return clauses


def _grouped(
    connection: Connection,
    columns: Sequence[Any],
    measures: Sequence[Any],
    where: list[Any],
    ids: list[int] | None,
) -> dict[tuple[Any, ...], list[int]]:
    """Return ``GROUP BY columns`` sums of ``measures``, over id chunks when ``ids`` is given."""
    out: dict[tuple[Any, ...], list[int]] = {}
    chunks: Iterable[list[int] | None] = (
        [None] if ids is None else (ids[i : i + ID_CHUNK] for i in range(0, len(ids), ID_CHUNK))
    )
    for chunk in chunks:
        clauses = list(where)
        if chunk is not None:
            clauses.append(requests.c.id.in_(chunk))
        rows = connection.execute(sa.select(*columns, *measures).where(*clauses).group_by(*columns))
        for row in rows:
            key = tuple(row[: len(columns)])
            sums = [int(v or 0) for v in row[len(columns) :]]
            if key in out:
                out[key] = [a + b for a, b in zip(out[key], sums, strict=True)]
            else:
                out[key] = sums
    return out


def _count_if(condition: Any) -> Any:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def _points(connection: Connection, query: Query) -> list[Any]:
    return list(
        connection.execute(
            sa.select(requests.c.id, requests.c.lat, requests.c.lon, requests.c.requested_at)
            .where(*_where(query))
            .order_by(requests.c.id)
        ).all()
    )


def compute(connection: Connection, *, query: Query, now: datetime) -> dict[str, Any]:
    """Return every figure of the dashboard for ``query``, SLA states as of ``now``."""
    points = _points(connection, query)
    zone_of: dict[int, str | None] = {
        p.id: (z.code if (z := _zone(p.lat, p.lon)) else None) for p in points
    }
    ids: list[int] | None = None
    if query.zone is not None:
        code = query.zone.code
        points = [p for p in points if zone_of[p.id] == code]
        ids = [p.id for p in points]
    where = _where(query)

    by_status = _grouped(
        connection, [requests.c.service_code, requests.c.status], [sa.func.count()], where, ids
    )
    codes: dict[str, Counter[str]] = {s.code: Counter() for s in SERVICES}
    for (code, status), (n,) in by_status.items():
        codes.setdefault(code, Counter())[status] += n
    total = sum(sum(c.values()) for c in codes.values())

    by_day = _grouped(connection, [_day_column(connection)], [sa.func.count()], where, ids)
    daily = Counter({str(day)[:10]: n for (day,), (n,) in by_day.items()})

    overdue = sa.and_(requests.c.status.in_(OPEN), requests.c.expected_at < now)
    late = sa.and_(
        requests.c.status.in_(ANSWERED),
        requests.c.closed_at.is_not(None),
        requests.c.closed_at > requests.c.expected_at,
    )
    sla_measures = [
        _count_if(requests.c.status.in_(OPEN)),
        _count_if(overdue),
        _count_if(requests.c.status.in_(ANSWERED)),
        _count_if(late),
    ]
    sla_rows = _grouped(
        connection, [requests.c.service_code, requests.c.department], sla_measures, where, ids
    )

    return {
        "window": {
            "from": query.first_day.isoformat(),
            "to": query.last_day.isoformat(),
            "start": seoul(query.start),
            "end": seoul(query.end),
            "timezone": "Asia/Seoul",
            "zone": query.zone.code if query.zone else None,
            "service_code": query.service_code,
            "now": seoul(now),
        },
        "total": total,
        "by_service_code": _by_code(codes),
        "by_zone": _by_zone(points, zone_of),
        "by_day": [{"date": d.isoformat(), "count": daily[d.isoformat()]} for d in query.days],
        "by_week": _by_week(query, daily),
        "hot_spots": hot_spots(((p.lat, p.lon) for p in points), query.resolution),
        "sla": _sla(sla_rows),
        "trending": trending(_texts(connection, query, ids), first_week=week_of(query.first_day)),
    }


def _zone(lat: float | None, lon: float | None) -> Zone | None:
    return zone_at(lon, lat) if lat is not None and lon is not None else None


def _by_code(codes: dict[str, Counter[str]]) -> list[dict[str, Any]]:
    out = []
    for code, counts in codes.items():
        service = BY_CODE.get(code)
        out.append(
            {
                "service_code": code,
                "name_ko": service.name_ko if service else code,
                "name_en": service.name_en if service else code,
                "department": department_table().for_code(code).name_ko if service else None,
                "count": sum(counts.values()),
                "open": sum(counts[s] for s in OPEN),
                "closed": counts[Status.CLOSED.value],
                "rejected": counts[Status.REJECTED.value],
            }
        )
    return sorted(out, key=lambda e: (-e["count"], e["service_code"]))


def _by_zone(points: list[Any], zone_of: dict[int, str | None]) -> dict[str, Any]:
    counts = Counter(zone_of[p.id] for p in points)
    zones: list[dict[str, Any]] = [
        {"code": z.code, "name_ko": z.name_ko, "name_en": z.name_en, "count": counts[z.code]}
        for z in all_zones()
    ]
    zones.sort(key=lambda e: (-e["count"], e["code"]))
    return {"zones": zones, "unlocated": counts[None]}


def _by_week(query: Query, daily: Counter[str]) -> list[dict[str, Any]]:
    weeks: Counter[date] = Counter()
    for day in query.days:
        weeks[week_of(day)] += daily[day.isoformat()]
    return [{"week_start": w.isoformat(), "count": n} for w, n in sorted(weeks.items())]


def hot_spots(
    points: Iterable[tuple[float | None, float | None]], resolution: int
) -> dict[str, Any]:
    """Return the H3 cells [resolution 8 or 9] holding the points, most complaints first."""
    counts: Counter[str] = Counter(
        h3.latlng_to_cell(lat, lon, resolution)
        for lat, lon in points
        if lat is not None and lon is not None
    )
    cells = []
    for cell, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        lat, lon = h3.cell_to_latlng(cell)
        cells.append(
            {
                "cell": cell,
                "count": n,
                "center": [round(lat, 6), round(lon, 6)],
                "boundary": [[round(a, 6), round(b, 6)] for a, b in h3.cell_to_boundary(cell)],
            }
        )
    return {"resolution": resolution, "cells": cells}


def _sla(rows: dict[tuple[Any, ...], list[int]]) -> dict[str, Any]:
    names = ("open", "open_overdue", "answered", "answered_late")
    by_code: dict[str, list[int]] = {s.code: [0, 0, 0, 0] for s in SERVICES}
    by_department: dict[str, list[int]] = {d: [0, 0, 0, 0] for d in department_names()}
    for (code, department), sums in rows.items():
        for table, key in ((by_code, code), (by_department, department)):
            table[key] = [a + b for a, b in zip(table.get(key, [0, 0, 0, 0]), sums, strict=True)]
    totals = [sum(v[i] for v in by_code.values()) for i in range(4)]
    return {
        **dict(zip(names, totals, strict=True)),
        "by_service_code": [
            {"service_code": k, **dict(zip(names, v, strict=True))} for k, v in by_code.items()
        ],
        "by_department": [
            {"department": k, **dict(zip(names, v, strict=True))} for k, v in by_department.items()
        ],
    }


def _texts(connection: Connection, query: Query, ids: list[int] | None) -> list[tuple[date, str]]:
    out: list[tuple[date, str]] = []
    chunks: Iterable[list[int] | None] = (
        [None] if ids is None else (ids[i : i + ID_CHUNK] for i in range(0, len(ids), ID_CHUNK))
    )
    for chunk in chunks:
        clauses = [*_where(query), requests.c.description.is_not(None)]
        if chunk is not None:
            clauses.append(requests.c.id.in_(chunk))
        rows = connection.execute(
            sa.select(requests.c.requested_at, requests.c.description).where(*clauses)
        )
        out += [(seoul_day(r.requested_at), r.description) for r in rows]
    return out


def trending(texts: list[tuple[date, str]], *, first_week: date) -> dict[str, Any]:
    """Return each week's most used nouns (complaints using them) with rising ones marked.

    A week is compared with the one before it only when that one is inside the window
    (``first_week`` is the window's first): the first week marks nothing as rising.
    """
    from cityos.governance.classify.features import nouns

    if not texts:
        return {"weeks": []}
    per_week: dict[date, Counter[str]] = {}
    found = nouns([mask_contacts(text) or "" for _, text in texts])
    for (day, _), words in zip(texts, found, strict=True):
        per_week.setdefault(week_of(day), Counter()).update(set(words))
    weeks = []
    for week in sorted(per_week):
        before = week - timedelta(days=7)
        compared = before >= first_week
        previous = per_week.get(before, Counter())
        ranked = sorted(
            ((w, n) for w, n in per_week[week].items() if n >= MIN_KEYWORD_COMPLAINTS),
            key=lambda kv: (-kv[1], kv[0]),
        )[:TOP_KEYWORDS]
        weeks.append(
            {
                "week_start": week.isoformat(),
                "keywords": [
                    {
                        "keyword": w,
                        "count": n,
                        "previous": previous[w],
                        "rising": compared and n >= RISING_MIN and n >= 2 * previous[w],
                    }
                    for w, n in ranked
                ],
            }
        )
    return {"weeks": weeks}
