"""The ingestion HTTP API: device provisioning, dead letters, and measurements over HTTP.

Provisioning and dead letters need an operator or admin (bearer token or session). The
measurement endpoint authenticates the device by its own key in the query, as the FIWARE
IoT Agents do (``?k=<apikey>&i=<device id>``), and answers only after the measurements are
committed. Errors are ``{"error", "detail", "detail_ko"}`` JSON.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from starlette.responses import JSONResponse

from cityos.identity._routing import IdentityRoute
from cityos.identity.dependencies import StaffUser, engine_for
from cityos.ingest import deadletters, devices
from cityos.ingest.errors import REASONS, IngestError, IngestUnavailable, Refused
from cityos.ingest.models import micros_now
from cityos.ingest.mqtt import TOPIC_FILTER
from cityos.ingest.runtime import IngestRuntime
from cityos.ingest.schemas import DeadLetterRead, DeviceCreate, DeviceCreated, DeviceRead
from cityos.ingest.writer import MAX_MESSAGE_BYTES, Message, Outcome

PREFIX = "/ingest/v1"


class IngestRoute(IdentityRoute):
    """A route whose ingestion errors become bilingual JSON (identity errors as before)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler so IngestError renders with its status."""
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except IngestError as exc:
                return JSONResponse(exc.body(), status_code=exc.status)

        return guarded


router = APIRouter(prefix=PREFIX, tags=["ingestion"], route_class=IngestRoute)


def _runtime(request: Request) -> IngestRuntime:
    runtime: IngestRuntime | None = getattr(request.app.state, "ingest", None)
    if runtime is None or not runtime.ingester.running:
        raise IngestUnavailable(
            "ingestion is not running (CityOS is starting or stopping); retry shortly",
            "수집 기능이 실행 중이 아닙니다(시작 또는 종료 중). 잠시 후 다시 시도하세요",
        )
    return runtime


@router.post("/devices", status_code=status.HTTP_201_CREATED, summary="Provision a device")
def create_device(body: DeviceCreate, request: Request, principal: StaffUser) -> DeviceCreated:
    """Provision a device; the response holds its API key, shown only this once."""
    ctx = request.app.state.contexts
    with engine_for(request.app).begin() as connection:
        device, apikey = devices.create_device(connection, body=body, ctx=ctx.core)
    runtime: IngestRuntime | None = getattr(request.app.state, "ingest", None)
    if runtime is not None:
        runtime.ingester.directory.forget(device.device_id)
    base = str(request.base_url).rstrip("/")
    return DeviceCreated(
        **DeviceRead.of(device).model_dump(),
        apikey=apikey,
        mqtt_topic=TOPIC_FILTER.replace("+/+", f"{apikey}/{device.device_id}", 1),
        http_url=f"{base}{PREFIX}/measurements?k={apikey}&i={device.device_id}",
    )


@router.get("/devices", summary="List devices")
def list_devices(
    request: Request,
    principal: StaffUser,
    tenant: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[DeviceRead]:
    """Return provisioned devices ordered by id (never their keys)."""
    with engine_for(request.app).connect() as connection:
        found = devices.list_devices(connection, tenant=tenant, limit=limit, offset=offset)
    return [DeviceRead.of(d) for d in found]


@router.get("/devices/{device_id}", summary="Read a device")
def get_device(device_id: str, request: Request, principal: StaffUser) -> DeviceRead:
    """Return one device (404 if there is none)."""
    with engine_for(request.app).connect() as connection:
        return DeviceRead.of(devices.require_device(connection, device_id=device_id))


@router.delete(
    "/devices/{device_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a device"
)
def delete_device(device_id: str, request: Request, principal: StaffUser) -> Response:
    """Delete a device; its key stops working at once here (within 5 s in other workers)."""
    with engine_for(request.app).begin() as connection:
        devices.delete_device(connection, device_id=device_id)
    runtime: IngestRuntime | None = getattr(request.app.state, "ingest", None)
    if runtime is not None:
        runtime.ingester.directory.forget(device_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/deadletters", summary="List dead letters")
def list_dead_letters(
    request: Request,
    principal: StaffUser,
    reason: Annotated[str | None, Query(description=", ".join(REASONS))] = None,
    device_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=1, description="only ids below this")] = None,
) -> list[DeadLetterRead]:
    """Return refused messages newest first, with the reason and their first bytes."""
    with engine_for(request.app).connect() as connection:
        return deadletters.list_letters(
            connection, reason=reason, device_id=device_id, limit=limit, before=before
        )


_FORMATS = {"text/plain": "ul", "application/json": "json"}


async def _read_body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_MESSAGE_BYTES:
            break  # the writer refuses it as too large, with the first bytes kept
    return body


@router.post(
    "/measurements",
    summary="Send measurements (device)",
    responses={
        200: {"description": "committed: {'measurements': n}"},
        401: {"description": "unknown device or wrong key"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/plain": {"schema": {"type": "string"}, "example": "t|21.3|pm25|17"},
                "application/json": {
                    "schema": {"type": "object"},
                    "example": {"pm25": 17, "t": 21.3},
                },
            },
        }
    },
)
async def post_measurements(
    request: Request,
    k: Annotated[str, Query(min_length=1, max_length=200, description="the device's API key")],
    i: Annotated[str, Query(min_length=1, max_length=200, description="the device id")],
) -> Response:
    """Write a device's measurements (UltraLight 2.0 text or JSON); answer after COMMIT."""
    runtime = _runtime(request)
    payload = await _read_body(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = _FORMATS.get(content_type)
    refused = None
    if fmt is None:
        refused = Refused(
            "malformed_payload",
            f"send Content-Type text/plain (UltraLight 2.0) or application/json "
            f"(got {content_type[:60]!r})",
            f"Content-Type을 text/plain(UltraLight 2.0) 또는 application/json으로 보내세요 "
            f"(입력: {content_type[:60]!r})",
        )
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Outcome] = loop.create_future()

    def done(outcome: Outcome) -> None:
        loop.call_soon_threadsafe(_settle, future, outcome)

    message = Message(
        transport="http",
        device_id=i,
        apikey=k,
        payload=payload,
        received_at=micros_now(),
        on_done=done,
        fmt=fmt,  # type: ignore[arg-type]
        topic=None,
        refused=refused,
    )
    if not runtime.ingester.submit(message):
        raise IngestUnavailable(
            "ingestion is stopping; retry shortly",
            "수집 기능이 종료 중입니다. 잠시 후 다시 시도하세요",
        )
    outcome = await future
    if outcome is None:
        raise IngestUnavailable(
            "the measurements could not be written (database unavailable); retry",
            "측정값을 저장하지 못했습니다(데이터베이스 사용 불가). 다시 시도하세요",
        )
    if isinstance(outcome, Refused):
        return JSONResponse(outcome.body(), status_code=outcome.status)
    return JSONResponse({"measurements": outcome})


def _settle(future: asyncio.Future[Outcome], outcome: Outcome) -> None:
    if not future.done():
        future.set_result(outcome)
