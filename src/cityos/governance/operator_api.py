"""``/complaints``: department queues and the workflow for operators; a citizen's follow-up.

- ``GET /complaints/queue`` (operator, admin): the open complaints of a department, most
  urgent first, with the priority's explanation and the SLA timer.
- ``POST /complaints/requests/{id}/transitions`` (operator of the department, admin): move a
  complaint on (접수 → 배정 → 처리중 → 완료 / 반려) with a status note; 409 if not allowed.
- ``GET /complaints/requests/{id}/events``: every transition (operators, and the reporter).
- ``GET /complaints/stats`` (operator, admin): the administration dashboard's figures
  (:mod:`cityos.governance.stats`): by code, zone, day and week, H3 hot spots, SLA
  breaches, trending topics; counts only.
- ``GET /complaints/me/requests``, ``GET /complaints/me/notifications``,
  ``POST /complaints/me/notifications/{id}/read``: what a citizen filed and was told.

Errors are Open311 error lists (JSON) like the rest of the complaint API.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, BackgroundTasks, Request, Response
from starlette.concurrency import run_in_threadpool

from cityos.governance import documents, service, stats
from cityos.governance._http import Open311Route, read_fields, user_of
from cityos.governance.api import base_of, now_of
from cityos.governance.catalog import BY_CODE, codes_text, department_names
from cityos.governance.civic.zones import all_zones, get_zone
from cityos.governance.errors import BadRequest, Forbidden, Unauthorized
from cityos.governance.intake import text_field
from cityos.governance.models import STATUS_KO, Status, notifications, requests, supporters
from cityos.governance.outbox import after_change
from cityos.governance.render import respond
from cityos.identity.dependencies import engine_for
from cityos.identity.models import Principal, Role

router = APIRouter(prefix="/complaints", tags=["complaints"], route_class=Open311Route)


async def _person(request: Request) -> Principal:
    user = await user_of(request)
    if user is not None and user.kind == "user":
        return user
    if "x-api-key" in request.headers or request.query_params.get("api_key"):
        raise Forbidden(
            "This is for a person's account, not an API key.",
            "API 키가 아닌 사용자 계정에서만 할 수 있습니다.",
        )
    raise Unauthorized(
        "Log in first (Authorization: Bearer <token> or the session cookie).",
        "먼저 로그인하세요(Authorization: Bearer <토큰> 또는 세션 쿠키).",
    )


async def _staff(request: Request) -> Principal:
    user = await _person(request)
    if not user.has_any(Role.OPERATOR, Role.ADMIN):
        raise Forbidden(
            "This needs the operator or admin role.", "공무원 또는 관리자 역할이 필요합니다."
        )
    return user


def _may_work(user: Principal, department: str) -> None:
    if Role.ADMIN in user.roles or user.department == department:
        return
    raise Forbidden(
        f"Only operators of {department} (or an admin) work this complaint.",
        f"이 민원은 {department} 공무원(또는 관리자)만 처리할 수 있습니다.",
    )


def _queue_entry(row: sa.Row[Any], base: str, now: Any) -> dict[str, Any]:
    entry = documents.request(row, service.service_of(row), base)
    remaining = (row.expected_at - now).total_seconds() / 3600
    from cityos.governance.priority import Priority

    rating = Priority(int(row.priority), tuple(row.priority_reasons))
    entry.update(
        description=row.description,  # operators read it as written
        department=row.department,
        priority=rating.points,
        priority_level=rating.level,
        priority_explanation=rating.explanation,
        sla_hours_left=round(remaining, 1),
        sla_breached=remaining < 0 and Status(row.status).open311 == "open",
        assigned_to=row.assigned_to,
    )
    return entry


@router.get("/queue", summary="A department's open complaints, most urgent first")
async def queue(request: Request) -> Response:
    """Return the open complaints of the caller's department (admins: ?department=)."""
    user = await _staff(request)
    department = request.query_params.get("department") or user.department
    known = department_names()
    if department is None:
        raise BadRequest(
            f"Name the department (?department=); one of {', '.join(known)}.",
            f"부서를 지정하세요(?department=): {', '.join(known)}.",
        )
    if department not in known:
        raise BadRequest(
            f"Unknown department {department[:40]!r}; one of {', '.join(known)}.",
            f"알 수 없는 부서 {department[:40]!r}입니다: {', '.join(known)}.",
        )
    _may_work(user, department)
    now, base = now_of(request), base_of(request)

    def find() -> list[dict[str, Any]]:
        open_states = [s.value for s in Status if s.open311 == "open"]
        with engine_for(request.app).connect() as connection:
            rows = connection.execute(
                sa.select(requests)
                .where(requests.c.department == department, requests.c.status.in_(open_states))
                .order_by(requests.c.priority.desc(), requests.c.expected_at, requests.c.id)
                .limit(500)
            ).all()
        return [_queue_entry(r, base, now) for r in rows]

    return respond("json", "service_requests", await run_in_threadpool(find))


@router.post("/requests/{request_id}/transitions", summary="Move a complaint on")
async def transition(request: Request, request_id: str, background: BackgroundTasks) -> Response:
    """Change a complaint's state with a note (JSON or form: status, note, assignee)."""
    user = await _staff(request)
    fields = await read_fields(request)
    number, now, base = service.parse_id(request_id), now_of(request), base_of(request)
    to = fields.get("status")
    if not isinstance(to, str) or not to:
        raise BadRequest(
            "Send status: assigned, in_progress, closed or rejected.",
            "status를 보내세요: assigned, in_progress, closed, rejected.",
        )
    note_value = fields.get("note")
    note = text_field("note", note_value if isinstance(note_value, str) else None, 2000)
    assignee_value = fields.get("assignee")
    assignee = assignee_value if isinstance(assignee_value, str) and assignee_value else user.id

    def store() -> dict[str, Any]:
        with engine_for(request.app).begin() as connection:
            row = service.get(connection, request_id=number)
            _may_work(user, row.department)
            row = service.transition(
                connection,
                request_id=number,
                to=to,
                note=note,
                actor=user.actor,
                assignee=assignee[:36],
                now=now,
            )
        return _queue_entry(row, base, now)

    entry = await run_in_threadpool(store)
    background.add_task(after_change, request.app, [number], base)
    return respond("json", "service_requests", [entry])


@router.get("/requests/{request_id}/events", summary="A complaint's history")
async def events(request: Request, request_id: str) -> Response:
    """Return every transition of a complaint (its operators and its reporter)."""
    user = await _person(request)
    number = service.parse_id(request_id)

    def find() -> list[dict[str, Any]]:
        with engine_for(request.app).connect() as connection:
            row = service.get(connection, request_id=number)
            if row.reporter_id != user.id and not user.has_any(Role.OPERATOR, Role.ADMIN):
                raise Forbidden(
                    "Only the reporter and operators see the history.",
                    "처리 이력은 신고자와 공무원만 볼 수 있습니다.",
                )
            rows = service.history(connection, request_id=number)
        return [
            {
                "at": documents.seoul(e.at),
                "from_status": e.from_status,
                "to_status": e.to_status,
                "to_status_ko": STATUS_KO[Status(e.to_status)],
                "note": e.note,
                "actor": e.actor if user.has_any(Role.OPERATOR, Role.ADMIN) else None,
            }
            for e in rows
        ]

    return respond("json", "events", await run_in_threadpool(find))


@router.get("/me/requests", summary="The complaints I filed (and, with ?joined=true, joined)")
async def my_requests(request: Request) -> Response:
    """Return the caller's own complaints, newest first; ``?joined=true`` adds those joined.

    With ``joined=true`` every entry says ``joined`` (false: filed by the caller; true: the
    caller's +1 to someone else's complaint).
    """
    user = await _person(request)
    base = base_of(request)
    joined = request.query_params.get("joined") == "true"

    def find() -> list[dict[str, Any]]:
        mine = requests.c.reporter_id == user.id
        supported = sa.select(supporters.c.request_id).where(
            supporters.c.supporter == f"user:{user.id}"
        )
        where = sa.or_(mine, requests.c.id.in_(supported)) if joined else mine
        with engine_for(request.app).connect() as connection:
            rows = connection.execute(
                sa.select(requests).where(where).order_by(requests.c.id.desc()).limit(500)
            ).all()
        answers = []
        for r in rows:
            entry = documents.request(r, service.service_of(r), base)
            if joined:
                entry["joined"] = r.reporter_id != user.id
            answers.append(entry)
        return answers

    return respond("json", "service_requests", await run_in_threadpool(find))


@router.get("/me/notifications", summary="What I was told about my complaints")
async def my_notifications(request: Request) -> Response:
    """Return the caller's notifications, newest first (``?unread=true``: unread only)."""
    user = await _person(request)
    unread = request.query_params.get("unread") == "true"

    def find() -> list[dict[str, Any]]:
        query = sa.select(notifications).where(notifications.c.user_id == user.id)
        if unread:
            query = query.where(notifications.c.read_at.is_(None))
        with engine_for(request.app).connect() as connection:
            rows = connection.execute(query.order_by(notifications.c.id.desc()).limit(200)).all()
        return [
            {
                "id": n.id,
                "service_request_id": str(n.request_id),
                "at": documents.seoul(n.at),
                "status": n.status,
                "message_ko": n.message_ko,
                "message_en": n.message_en,
                "read": n.read_at is not None,
            }
            for n in rows
        ]

    return respond("json", "notifications", await run_in_threadpool(find))


@router.post("/me/notifications/{notification_id}/read", summary="Mark a notification read")
async def read_notification(request: Request, notification_id: str) -> Response:
    """Mark one of the caller's notifications read."""
    user = await _person(request)
    if not notification_id.isdigit():
        raise BadRequest("Notification ids are numbers.", "알림 번호는 숫자입니다.")
    now = now_of(request)

    def store() -> int:
        with engine_for(request.app).begin() as connection:
            return int(
                connection.execute(
                    sa.update(notifications)
                    .where(
                        notifications.c.id == int(notification_id),
                        notifications.c.user_id == user.id,
                    )
                    .values(read_at=now)
                ).rowcount
            )

    if await run_in_threadpool(store) == 0:
        from cityos.governance.errors import NotFound

        raise NotFound("No such notification of yours.", "해당 알림이 없습니다.")
    return respond("json", "notifications", [{"id": int(notification_id), "read": True}])


def _day(name: str, text: str | None, default: date) -> date:
    if text is None or text == "":
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            f"{name}={text[:20]!r} is not a date; write YYYY-MM-DD (a day in Asia/Seoul).",
            f"{name}={text[:20]!r}은(는) 날짜가 아닙니다. YYYY-MM-DD(서울 기준 날짜)로 쓰세요.",
        ) from None


def stats_query(params: Mapping[str, str], now: datetime) -> stats.Query:
    """Read ``from``, ``to``, ``zone``, ``service_code``, ``resolution``; 400 if one is wrong."""
    today = stats.seoul_day(now)
    last = _day("to", params.get("to"), today)
    first = _day("from", params.get("from"), last - timedelta(days=27))
    if first > last:
        raise BadRequest(
            f"from ({first}) is after to ({last}); swap them.",
            f"from({first})이 to({last})보다 늦습니다. 두 날짜를 바꾸세요.",
        )
    if (last - first).days + 1 > stats.MAX_DAYS:
        raise BadRequest(
            f"The window is {(last - first).days + 1} days; at most {stats.MAX_DAYS}.",
            f"기간이 {(last - first).days + 1}일입니다. 최대 {stats.MAX_DAYS}일까지 됩니다.",
        )
    zone = None
    if zone_text := params.get("zone"):
        zone = get_zone(zone_text) or next(
            (z for z in all_zones() if zone_text in (z.name_ko, z.name_en)), None
        )
        if zone is None:
            raise BadRequest(
                f"Unknown zone {zone_text[:40]!r}: use a legal-dong code or name of one of "
                "Sejong's 24 eup/myeon/dong (e.g. 36110101 or 반곡동).",
                f"알 수 없는 지역 {zone_text[:40]!r}입니다. 세종 24개 읍·면·동의 법정동 코드나 "
                "이름을 쓰세요(예: 36110101, 반곡동).",
            )
    code = params.get("service_code") or None
    if code is not None and code not in BY_CODE:
        raise BadRequest(
            f"Unknown service_code {code[:40]!r}; one of {codes_text()}.",
            f"알 수 없는 service_code {code[:40]!r}입니다: {codes_text()}.",
        )
    resolution_text = params.get("resolution") or "8"
    if resolution_text not in {str(r) for r in stats.RESOLUTIONS}:
        raise BadRequest(
            f"resolution={resolution_text[:10]!r}: the hot spots use H3 resolution 8 or 9.",
            f"resolution={resolution_text[:10]!r}: 핫스팟은 H3 해상도 8 또는 9만 씁니다.",
        )
    return stats.Query(first, last, zone, code, int(resolution_text))


@router.get("/stats", summary="The administration dashboard's complaint statistics")
async def statistics(request: Request) -> Response:
    """Return complaint counts by code, zone and time, H3 hot spots, SLA breaches, topics."""
    await _staff(request)
    now = now_of(request)
    query = stats_query(request.query_params, now)

    def find() -> dict[str, Any]:
        with engine_for(request.app).connect() as connection:
            return stats.compute(connection, query=query, now=now)

    return respond("json", "stats", await run_in_threadpool(find))
