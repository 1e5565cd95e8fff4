"""The complaint verbs: file, find duplicates, join, read, search, move through the workflow.

Keyword-only functions on a SQLAlchemy connection (the caller owns the transaction, so a
refusal leaves nothing half-written). Every change of state is an event row; each event
queues the citizen's in-app notifications and, if the request registered one, a webhook
delivery (:mod:`cityos.governance.delivery`) in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from cityos.governance import duplicates, priority
from cityos.governance.catalog import BY_CODE, Service
from cityos.governance.errors import BadRequest, Conflict, NotFound
from cityos.governance.intake import NewRequest
from cityos.governance.models import (
    STATUS_KO,
    TRANSITIONS,
    Status,
    events,
    notifications,
    requests,
    supporters,
    webhooks,
)
from cityos.governance.places import distance_m
from cityos.governance.routing import Suggestion

MAX_RESULTS = 1000  # Open311: a GET requests answer holds at most 1,000 requests
DEFAULT_WINDOW = timedelta(days=90)  # Open311: without dates, the last 90 days


@dataclass(frozen=True)
class Duplicate:
    """An open complaint a new one probably repeats."""

    request_id: int
    distance_m: float
    similarity: float


def get(connection: Connection, *, request_id: int) -> sa.Row[Any]:
    """Return the complaint row or raise NotFound (404)."""
    row = connection.execute(sa.select(requests).where(requests.c.id == request_id)).first()
    if row is None:
        raise NotFound(
            f"No service request {request_id}.", f"서비스 요청 {request_id}이(가) 없습니다."
        )
    return row


def parse_id(text: str) -> int:
    """Return a service_request_id as an integer, or refuse (404) one that cannot exist."""
    if not text.isdigit() or len(text) > 18:
        raise NotFound(
            f"No service request {text[:40]!r}: ids are numbers.",
            f"서비스 요청 {text[:40]!r}이(가) 없습니다. 요청 번호는 숫자입니다.",
        )
    return int(text)


def find_duplicate(
    connection: Connection, *, new: NewRequest, service: Service, now: datetime
) -> Duplicate | None:
    """Return the nearest open complaint of the same code, ≤100 m, ≤7 days, similar text."""
    found = find_duplicates(connection, new=new, service=service, now=now, limit=1)
    return found[0] if found else None


def find_duplicates(
    connection: Connection, *, new: NewRequest, service: Service, now: datetime, limit: int = 5
) -> list[Duplicate]:
    """Return the open complaints a new one probably repeats, nearest first (at most ``limit``).

    The same rule as :func:`find_duplicate` (same code, ≤100 m, ≤7 days, similar text), so
    what the citizen app offers before filing is what the POST would answer 409 for.
    """
    if new.lat is None or new.lon is None:
        return []
    open_states = [s.value for s in Status if s.open311 == "open"]
    # A bounding box of ±0.002° (≥ 170 m at 36.5° N) lets the index do the coarse work.
    rows = connection.execute(
        sa.select(requests.c.id, requests.c.lat, requests.c.lon, requests.c.description)
        .where(
            requests.c.service_code == service.code,
            requests.c.status.in_(open_states),
            requests.c.requested_at >= now - duplicates.WINDOW,
            requests.c.lat.between(new.lat - 0.002, new.lat + 0.002),
            requests.c.lon.between(new.lon - 0.002, new.lon + 0.002),
        )
        .order_by(requests.c.id)
    ).all()
    found: list[Duplicate] = []
    for row in rows:
        d = distance_m(new.lat, new.lon, row.lat, row.lon)
        score = duplicates.similarity(new.description, row.description)
        if d <= duplicates.RADIUS_M and score >= duplicates.SIMILAR:
            found.append(Duplicate(row.id, d, score))
    found.sort(key=lambda dup: (dup.distance_m, dup.request_id))
    return found[:limit]


def create(
    connection: Connection,
    *,
    new: NewRequest,
    service: Service,
    suggestion: Suggestion | None,
    reporter_id: str | None,
    api_key_id: str | None,
    now: datetime,
) -> int:
    """Store a new complaint (접수) with its first event; return its service_request_id."""
    rating = priority.assess(
        description=new.description,
        service_code=service.code,
        attributes=dict(new.attributes),
        lat=new.lat,
        lon=new.lon,
        supporters=0,
    )
    result = connection.execute(
        sa.insert(requests).values(
            token=str(uuid.uuid4()),
            service_code=service.code,
            code_suggested=suggestion is not None,
            suggestion_confidence=suggestion.confidence if suggestion else None,
            department=service.department,
            status=Status.RECEIVED.value,
            status_notes=None,
            description=new.description,
            lat=new.lat,
            lon=new.lon,
            address_string=new.address_string,
            attributes=new.attributes,
            media_url=new.media_url,
            priority=rating.points,
            priority_reasons=list(rating.reasons),
            supporters=0,
            reporter_id=reporter_id,
            api_key_id=api_key_id,
            webhook_url=new.webhook_url,
            requested_at=now,
            updated_at=now,
            expected_at=now + timedelta(hours=service.sla_hours),
        )
    )
    request_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    record_event(
        connection,
        request_id=request_id,
        from_status=None,
        to_status=Status.RECEIVED,
        actor=f"user:{reporter_id}" if reporter_id else f"key:{api_key_id}",
        note=None,
        now=now,
    )
    return request_id


def token_of(connection: Connection, *, request_id: int) -> str:
    """Return the Open311 token of a complaint."""
    return str(get(connection, request_id=request_id).token)


def by_token(connection: Connection, *, token: str) -> sa.Row[Any]:
    """Return the complaint a POST token stands for, or NotFound."""
    row = connection.execute(sa.select(requests).where(requests.c.token == token)).first()
    if row is None:
        raise NotFound(f"No request has token {token[:40]!r}.", "해당 토큰의 요청이 없습니다.")
    return row


def join(connection: Connection, *, request_id: int, supporter: str, now: datetime) -> int:
    """Add a +1 to an open complaint (once per caller); return its number of supporters."""
    row = get(connection, request_id=request_id)
    if Status(row.status).open311 == "closed":
        raise Conflict(
            f"Request {request_id} is already {row.status}; file a new request if the problem "
            "is back.",
            f"요청 {request_id}은(는) 이미 {STATUS_KO[Status(row.status)]} 상태입니다. 문제가 다시 "
            "생겼다면 새로 신고하세요.",
        )
    if row.reporter_id is not None and supporter == f"user:{row.reporter_id}":
        return int(row.supporters)
    try:
        with connection.begin_nested():  # a savepoint: a second +1 leaves the rest intact
            connection.execute(
                sa.insert(supporters).values(request_id=request_id, supporter=supporter, at=now)
            )
    except IntegrityError:
        return int(row.supporters)  # this caller joined before (one +1 each)
    # Counted in SQL, not read-modify-write: two citizens joining at once both count.
    connection.execute(
        sa.update(requests)
        .where(requests.c.id == request_id)
        .values(supporters=requests.c.supporters + 1)
    )
    count = int(
        connection.execute(
            sa.select(requests.c.supporters).where(requests.c.id == request_id)
        ).scalar_one()
    )
    rating = priority.assess(
        description=row.description,
        service_code=row.service_code,
        attributes=dict(row.attributes),
        lat=row.lat,
        lon=row.lon,
        supporters=count,
    )
    connection.execute(
        sa.update(requests)
        .where(requests.c.id == request_id)
        .values(
            priority=rating.points,
            priority_reasons=list(rating.reasons),
            updated_at=now,
        )
    )
    return count


def _recipients(connection: Connection, row: sa.Row[Any]) -> list[str]:
    """Return the user ids told of a change: the reporter and every supporter with an account."""
    users = [row.reporter_id] if row.reporter_id else []
    for (supporter,) in connection.execute(
        sa.select(supporters.c.supporter).where(supporters.c.request_id == row.id)
    ):
        if supporter.startswith("user:") and supporter[5:] not in users:
            users.append(supporter[5:])
    return users


def _messages(request_id: int, status: Status, note: str | None) -> tuple[str, str]:
    label = STATUS_KO[status]
    ko = f"민원 {request_id}번이 '{label}' 단계가 되었습니다."
    en = f"Complaint {request_id} is now '{status.value.replace('_', ' ')}'."
    if note:
        ko, en = f"{ko} 메모: {note}", f"{en} Note: {note}"
    return ko, en


def record_event(
    connection: Connection,
    *,
    request_id: int,
    from_status: Status | None,
    to_status: Status,
    actor: str,
    note: str | None,
    now: datetime,
) -> int:
    """Record a step of the workflow and queue its notifications and webhook; return its id."""
    event_id = int(
        connection.execute(
            sa.insert(events).values(
                request_id=request_id,
                at=now,
                from_status=from_status.value if from_status else None,
                to_status=to_status.value,
                actor=actor,
                note=note,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    )
    row = get(connection, request_id=request_id)
    ko, en = _messages(request_id, to_status, note)
    for user_id in _recipients(connection, row):
        connection.execute(
            sa.insert(notifications).values(
                user_id=user_id,
                request_id=request_id,
                event_id=event_id,
                at=now,
                status=to_status.value,
                message_ko=ko,
                message_en=en,
            )
        )
    if row.webhook_url:
        connection.execute(
            sa.insert(webhooks).values(
                request_id=request_id,
                event_id=event_id,
                url=row.webhook_url,
                payload={
                    "service_request_id": str(request_id),
                    "event_id": event_id,
                    "status": to_status.open311,
                    "workflow_status": to_status.value,
                    "workflow_status_ko": STATUS_KO[to_status],
                    "status_notes": note,
                    "updated_datetime": now.isoformat(),
                    "message_ko": ko,
                    "message_en": en,
                },
                created_at=now,
                attempts=0,
                next_attempt_at=now,
            )
        )
    return event_id


def transition(
    connection: Connection,
    *,
    request_id: int,
    to: str,
    note: str | None,
    actor: str,
    assignee: str | None,
    now: datetime,
) -> sa.Row[Any]:
    """Move a complaint to the next state (409 if the workflow does not allow it)."""
    try:
        target = Status(to)
    except ValueError:
        names = ", ".join(s.value for s in Status)
        raise BadRequest(
            f"status {to[:30]!r} is unknown; use one of: {names}.",
            f"상태 {to[:30]!r}은(는) 없습니다. 다음 중 하나를 쓰세요: {names}.",
        ) from None
    row = get(connection, request_id=request_id)
    current = Status(row.status)
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none (final)"
        raise Conflict(
            f"Request {request_id} is {current.value}; it cannot become {target.value}. "
            f"Allowed next: {allowed}.",
            f"요청 {request_id}은(는) '{STATUS_KO[current]}' 상태라 '{STATUS_KO[target]}'(으)로 "
            f"바꿀 수 없습니다. 가능한 다음 단계: {allowed}.",
        )
    if target == Status.REJECTED and not note:
        raise BadRequest(
            "Rejecting needs a note that tells the citizen why.",
            "반려하려면 시민에게 이유를 알리는 메모가 필요합니다.",
        )
    values: dict[str, Any] = {"status": target.value, "updated_at": now}
    if note:
        values["status_notes"] = note
    if target == Status.ASSIGNED:
        values["assigned_to"] = assignee
    if target.open311 == "closed":
        values["closed_at"] = now
    connection.execute(sa.update(requests).where(requests.c.id == request_id).values(**values))
    record_event(
        connection,
        request_id=request_id,
        from_status=current,
        to_status=target,
        actor=actor,
        note=note,
        now=now,
    )
    return get(connection, request_id=request_id)


@dataclass(frozen=True)
class Filters:
    """The GET Service Requests filters (Open311)."""

    ids: Sequence[int] = ()
    codes: Sequence[str] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: Sequence[str] = ()  # open, closed


def search(connection: Connection, *, filters: Filters, now: datetime) -> list[sa.Row[Any]]:
    """Return the complaints matching Open311 filters, newest first (at most 1,000).

    With ids, the other filters are ignored (the spec); without dates, the last 90 days.
    """
    query = sa.select(requests)
    if filters.ids:
        query = query.where(requests.c.id.in_(list(filters.ids)))
    else:
        start = filters.start or (filters.end or now) - DEFAULT_WINDOW
        query = query.where(requests.c.requested_at >= start)
        if filters.end is not None:
            query = query.where(requests.c.requested_at <= filters.end)
        if filters.codes:
            query = query.where(requests.c.service_code.in_(list(filters.codes)))
        if filters.statuses:
            states = [s.value for s in Status if s.open311 in filters.statuses]
            query = query.where(requests.c.status.in_(states))
    return list(connection.execute(query.order_by(requests.c.id.desc()).limit(MAX_RESULTS)).all())


def service_of(row: sa.Row[Any]) -> Service:
    """Return the catalogue entry of a stored complaint."""
    return BY_CODE[row.service_code]


def history(connection: Connection, *, request_id: int) -> list[sa.Row[Any]]:
    """Return a complaint's events, oldest first."""
    return list(
        connection.execute(
            sa.select(events).where(events.c.request_id == request_id).order_by(events.c.id)
        ).all()
    )
