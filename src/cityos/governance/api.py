"""``/open311/v2``: Open311 GeoReport v2 for Sejong's civil complaints (민원), JSON and XML.

Routes (the format is the extension, as Open311 does): ``discovery``, ``services``,
``services/{code}``, ``requests`` (GET with filters, POST with an ``api_key``),
``requests/{id}``, ``tokens/{token}``; and CityOS extensions: ``requests/{id}/join`` (+1 to
a problem already reported) and ``media/{id}`` (photo upload and download). Errors are
Open311 error lists. ``docs/governance/complaints.md`` describes it all.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, BackgroundTasks, Request, Response
from starlette.concurrency import run_in_threadpool

from cityos.governance import documents, intake, service
from cityos.governance._http import Open311Route, caller, check_format, read_fields
from cityos.governance.catalog import BY_CODE, Service
from cityos.governance.errors import BadRequest, ComplaintError, Conflict, NotFound
from cityos.governance.media import MAX_BYTES, clean, too_large
from cityos.governance.models import media as media_table
from cityos.governance.models import requests as requests_table
from cityos.governance.outbox import after_change
from cityos.governance.render import respond
from cityos.governance.routing import Suggestion, installed_classifier, suggest
from cityos.identity.dependencies import engine_for
from cityos.security import outbound

router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=Open311Route)


def now_of(request: Request) -> datetime:
    """Return the time now (tests move it through ``app.state.identity_clock``)."""
    clock = getattr(request.app.state, "identity_clock", None)
    return clock() if clock is not None else datetime.now(UTC)


def base_of(request: Request) -> str:
    """Return the app's base URL (ends with '/')."""
    return str(request.base_url)


def _jurisdiction(request: Request) -> None:
    intake.check_jurisdiction(request.query_params.get("jurisdiction_id"))


@router.get("/discovery.{fmt}", summary="Open311 service discovery")
async def discovery(request: Request, fmt: str) -> Response:
    """Return where and how this Open311 endpoint is served."""
    fmt = check_format(request)
    return respond(fmt, "discovery", documents.discovery(base_of(request)))


@router.get("/services.{fmt}", summary="GET Service List")
async def services(request: Request, fmt: str) -> Response:
    """Return the 12 complaint types with Korean and English names."""
    fmt = check_format(request)
    _jurisdiction(request)
    return respond(fmt, "services", documents.services())


@router.get("/services/{code}.{fmt}", summary="GET Service Definition")
async def service_definition(request: Request, code: str, fmt: str) -> Response:
    """Return a service's attributes (extra form fields)."""
    fmt = check_format(request)
    _jurisdiction(request)
    found = BY_CODE.get(code)
    if found is None:
        raise NotFound(
            f"No service {code[:40]!r}; GET /open311/v2/services.{fmt} lists them.",
            f"{code[:40]!r} 서비스가 없습니다. 목록은 GET /open311/v2/services.{fmt}에 있습니다.",
        )
    return respond(fmt, "service_definition", documents.definition(found))


def classifier_of(request: Request) -> Any:
    """Return the complaint classifier (the app's test override, else the installed one)."""
    return getattr(request.app.state, "complaint_classifier", None) or installed_classifier()


def _route(request: Request, new: intake.NewRequest) -> tuple[Service, Suggestion]:
    """Return the service (suggested by the classifier when none was named)."""
    classifier = classifier_of(request)
    if classifier is None:
        raise BadRequest(
            "service_code is required: automatic routing is not installed here "
            "(GET /open311/v2/services.json lists the codes).",
            "service_code가 필요합니다: 이 서버에는 자동 분류가 설치되어 있지 않습니다"
            "(유형 목록: GET /open311/v2/services.json).",
        )
    if not new.description:
        raise BadRequest(
            "Send service_code, or a description from which CityOS can suggest one.",
            "service_code를 보내거나, 유형을 추천할 수 있도록 description을 보내세요.",
        )
    suggestion = suggest(new.description, classifier)
    if suggestion is None:
        raise BadRequest(
            "CityOS could not suggest a service_code for this description; choose one "
            "(GET /open311/v2/services.json).",
            "이 내용으로는 유형을 추천하지 못했습니다. service_code를 골라 주세요.",
        )
    return BY_CODE[suggestion.service_code], suggestion


def _check_webhook(request: Request, url: str) -> None:
    """Refuse (400) a webhook_url aimed at this server or its internal network (SSRF)."""
    try:
        outbound.check_url(url, outbound.policy_of(request.app.state.settings))
    except outbound.UnsafeTarget as error:
        raise BadRequest(error.detail, error.detail_ko) from None


def _post_answer(request_id: int, notice: str, suggestion: Suggestion | None) -> dict[str, Any]:
    # Every service is "realtime": the answer names the new request's id and, as GeoReport v2
    # says, then no token (the token stays stored; GET tokens/{token} still answers for it).
    answer: dict[str, Any] = {
        "service_request_id": str(request_id),
        "service_notice": notice,
        "account_id": None,
    }
    if suggestion is not None:
        answer["service_code"] = suggestion.service_code
        answer["service_code_suggested"] = True
        answer["suggestion_confidence"] = round(suggestion.confidence, 3)
    return answer


@router.post("/requests.{fmt}", summary="POST Service Request", status_code=201)
async def post_request(request: Request, fmt: str, background: BackgroundTasks) -> Response:
    """File a complaint (form fields of Open311; an ``api_key`` or a citizen login)."""
    fmt = check_format(request)
    fields = await read_fields(request)
    api_key = fields.pop("api_key", None) or request.query_params.get("api_key")
    if isinstance(api_key, list):
        raise BadRequest("Send api_key only once.", "api_key는 한 번만 보내세요.")
    who = await caller(request, api_key)
    new, found = intake.read(fields)
    if new.webhook_url is not None:
        _check_webhook(request, new.webhook_url)
    suggestion: Suggestion | None = None
    if found is None:
        chosen, suggestion = await run_in_threadpool(_route, request, new)
        new.service_code = chosen.code
        new.attributes = intake.attributes(chosen, fields)
    else:
        chosen = found
    now = now_of(request)
    engine = engine_for(request.app)
    supporter = who.actor

    def store() -> tuple[int, str]:
        with engine.begin() as connection:
            duplicate = None
            if new.duplicate_action != "new":
                duplicate = service.find_duplicate(connection, new=new, service=chosen, now=now)
            if duplicate is not None and new.duplicate_action == "join":
                count = service.join(
                    connection, request_id=duplicate.request_id, supporter=supporter, now=now
                )
                notice = (
                    f"같은 문제(요청 {duplicate.request_id}, {duplicate.distance_m:.0f} m)에 "
                    f"공감(+1)했습니다. 신고 {count + 1}건. / Joined request "
                    f"{duplicate.request_id} ({duplicate.distance_m:.0f} m away); "
                    f"{count + 1} reports."
                )
                return duplicate.request_id, notice
            if duplicate is not None:
                raise _duplicate_offer(duplicate)
            request_id = service.create(
                connection,
                new=new,
                service=chosen,
                suggestion=suggestion,
                reporter_id=who.user.id if who.user else None,
                api_key_id=who.key.id if who.key else None,
                now=now,
            )
            row = service.get(connection, request_id=request_id)
            notice = documents.service_notice(chosen, row)
            if suggestion is not None:
                notice += (
                    f" 유형은 자동 추천되었습니다: {chosen.name} / The service code was suggested "
                    f"automatically: {chosen.code}."
                )
            return request_id, notice

    request_id, notice = await run_in_threadpool(store)
    background.add_task(after_change, request.app, [request_id], base_of(request))
    answer = _post_answer(request_id, notice, suggestion)
    return respond(fmt, "service_requests", [answer], status=201)


def _duplicate_offer(duplicate: service.Duplicate) -> ComplaintError:
    return Conflict(
        f"This looks like request {duplicate.request_id}, still open, "
        f"{duplicate.distance_m:.0f} m away. Join it (+1) with POST "
        f"/open311/v2/requests/{duplicate.request_id}/join.json or duplicate_action=join, "
        "or send duplicate_action=new to file yours anyway.",
        f"{duplicate.distance_m:.0f} m 떨어진 곳의 처리 중인 요청 {duplicate.request_id}과(와) "
        "같은 문제로 보입니다. duplicate_action=join으로 공감(+1)하거나, "
        "duplicate_action=new로 새로 신고하세요.",
    )


def _dates(request: Request, name: str) -> datetime | None:
    text = request.query_params.get(name)
    if text is None or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise BadRequest(
            f"{name} must be a w3 date-time with a zone, e.g. 2026-12-01T09:00:00+09:00.",
            f"{name}은(는) 시간대를 포함한 날짜·시각이어야 합니다(예: 2026-12-01T09:00:00+09:00).",
        )
    return moment.astimezone(UTC)


def _list(request: Request, name: str) -> list[str]:
    return [v.strip() for v in (request.query_params.get(name) or "").split(",") if v.strip()]


@router.get("/requests.{fmt}", summary="GET Service Requests")
async def get_requests(request: Request, fmt: str) -> Response:
    """Return complaints: by ids, or by code, dates (≤ 90 days apart) and status."""
    fmt = check_format(request)
    _jurisdiction(request)
    ids = [service.parse_id(i) for i in _list(request, "service_request_id")]
    codes: list[str] = []
    statuses: list[str] = []
    start = end = None
    if not ids:  # GeoReport v2: service_request_id "overrides all other arguments"
        codes, statuses = _list(request, "service_code"), _list(request, "status")
        for code in codes:
            intake.service_code(code)
        for status in statuses:
            if status not in ("open", "closed"):
                raise BadRequest(
                    "status is open, closed or both (comma-separated).",
                    "status는 open, closed 또는 둘 다(쉼표로 구분)입니다.",
                )
        start, end = _dates(request, "start_date"), _dates(request, "end_date")
        if start and end and (end < start or (end - start).days > 90):
            raise BadRequest(
                "end_date must follow start_date, at most 90 days later.",
                "end_date는 start_date 이후, 90일 이내여야 합니다.",
            )
    filters = service.Filters(ids=ids, codes=codes, start=start, end=end, statuses=statuses)
    now, base = now_of(request), base_of(request)

    def find() -> list[dict[str, Any]]:
        with engine_for(request.app).connect() as connection:
            rows = service.search(connection, filters=filters, now=now)
        return [documents.request(r, service.service_of(r), base) for r in rows]

    return respond(fmt, "service_requests", await run_in_threadpool(find))


@router.get("/requests/{request_id}.{fmt}", summary="GET Service Request")
async def get_request(request: Request, request_id: str, fmt: str) -> Response:
    """Return one complaint."""
    fmt = check_format(request)
    _jurisdiction(request)
    number, base = service.parse_id(request_id), base_of(request)

    def find() -> list[dict[str, Any]]:
        with engine_for(request.app).connect() as connection:
            row = service.get(connection, request_id=number)
        return [documents.request(row, service.service_of(row), base)]

    return respond(fmt, "service_requests", await run_in_threadpool(find))


@router.get("/tokens/{token}.{fmt}", summary="GET service_request_id from a token")
async def get_token(request: Request, token: str, fmt: str) -> Response:
    """Return the service_request_id a POST token stands for."""
    fmt = check_format(request)
    _jurisdiction(request)

    def find() -> list[dict[str, Any]]:
        with engine_for(request.app).connect() as connection:
            row = service.by_token(connection, token=token)
        return [{"service_request_id": str(row.id), "token": token}]

    return respond(fmt, "service_requests", await run_in_threadpool(find))


@router.post("/requests/{request_id}/join.{fmt}", summary="Join a reported problem (+1)")
async def join_request(
    request: Request, request_id: str, fmt: str, background: BackgroundTasks
) -> Response:
    """Say "me too" to an open complaint instead of filing a duplicate (CityOS extension)."""
    fmt = check_format(request)
    fields = await read_fields(request)
    api_key = fields.get("api_key") or request.query_params.get("api_key")
    who = await caller(request, api_key if isinstance(api_key, str) else None)
    number, now = service.parse_id(request_id), now_of(request)

    def store() -> int:
        with engine_for(request.app).begin() as connection:
            return service.join(connection, request_id=number, supporter=who.actor, now=now)

    count = await run_in_threadpool(store)
    background.add_task(after_change, request.app, [number], base_of(request))
    notice = f"공감(+1)했습니다. 신고 {count + 1}건. / Joined; {count + 1} reports."
    return respond(
        fmt,
        "service_requests",
        [{"service_request_id": str(number), "supporters": count, "service_notice": notice}],
    )


@router.post("/media/{request_id}", summary="Upload a complaint photo (JPEG/PNG ≤ 5 MB)")
async def upload_media(request: Request, request_id: str, background: BackgroundTasks) -> Response:
    """Attach a photo (the raw JPEG/PNG body); its EXIF and GPS metadata are stripped."""
    number = service.parse_id(request_id)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BYTES:
        raise too_large()
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BYTES:
            raise too_large()
    who = await caller(request, request.query_params.get("api_key"))
    data, kind, digest = await run_in_threadpool(
        clean, body, request.headers.get("content-type", "")
    )
    now = now_of(request)
    media_id = str(uuid.uuid4())

    def store() -> None:
        with engine_for(request.app).begin() as connection:
            row = service.get(connection, request_id=number)
            mine = (who.user is not None and row.reporter_id == who.user.id) or (
                who.key is not None and row.api_key_id == who.key.id
            )
            if not mine:
                raise service_forbidden(number)
            connection.execute(
                sa.insert(media_table).values(
                    id=media_id,
                    request_id=number,
                    content_type=kind,
                    size=len(data),
                    sha256=digest,
                    data=data,
                    created_at=now,
                )
            )
            connection.execute(
                sa.update(requests_table)
                .where(requests_table.c.id == number)
                .values(media_id=media_id, updated_at=now)
            )

    await run_in_threadpool(store)
    background.add_task(after_change, request.app, [number], base_of(request))
    url = f"{base_of(request)}open311/v2/media/{media_id}"
    return respond(
        "json",
        "service_requests",
        [{"service_request_id": str(number), "media_url": url, "size": len(data)}],
        status=201,
    )


def service_forbidden(number: int) -> ComplaintError:
    """Return the refusal of a photo for someone else's complaint."""
    from cityos.governance.errors import Forbidden

    return Forbidden(
        f"Only whoever filed request {number} may add its photo.",
        f"요청 {number}의 사진은 신고한 사람만 올릴 수 있습니다.",
    )


@router.get("/media/{media_id}", summary="A complaint photo")
async def get_media(request: Request, media_id: str) -> Response:
    """Return a stored (metadata-free) photo."""

    def find() -> Any:
        with engine_for(request.app).connect() as connection:
            return connection.execute(
                sa.select(media_table.c.data, media_table.c.content_type).where(
                    media_table.c.id == media_id[:36]
                )
            ).first()

    row = await run_in_threadpool(find)
    if row is None:
        raise NotFound("No such photo.", "해당 사진이 없습니다.")
    return Response(
        bytes(row.data),
        media_type=row.content_type,
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


@router.api_route(
    "/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False
)
async def unknown(request: Request, rest: str) -> Response:
    """Answer any other path under /open311/v2 with an Open311 404 error list."""
    raise NotFound(
        f"No Open311 resource {rest[:60]!r}; see /open311/v2/discovery.json.",
        f"Open311 자원 {rest[:60]!r}이(가) 없습니다. /open311/v2/discovery.json을 보세요.",
    )
