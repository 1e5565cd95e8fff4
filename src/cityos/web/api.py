"""The web app's HTTP routes: the pages, the layer registry and the basemap GeoJSON.

Pages and static files are public (they hold no data); every piece of city data the pages
show is read through the hub's own routes (``/ngsi-ld/v1``) and so follows the hub's access
rules, or is the public basemap of the package's twin bundle.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from cityos.hub.api._auth import authorize
from cityos.hub.errors import HubError
from cityos.web.basemap import NAMES, basemap_bytes
from cityos.web.layers import layers
from cityos.web.live import NOTIFY_PATH, SECRET_HEADER, LiveFeed, stream
from cityos.web.tiles import tiles

router = APIRouter(tags=["web"])
PAGE_HEADERS = {"Cache-Control": "no-cache"}
DATA_HEADERS = {"Cache-Control": "public, max-age=300"}


def _page(name: str) -> HTMLResponse:
    text = resources.files("cityos.web").joinpath(f"static/{name}").read_text("utf-8")
    return HTMLResponse(text, headers=PAGE_HEADERS)


@router.get("/", summary="Operations dashboard (web page)", response_class=HTMLResponse)
def dashboard_page() -> HTMLResponse:
    """Serve the operations dashboard: the Sejong map, layers, KPI tiles, inspector."""
    return _page("index.html")


@router.get("/citizen", summary="Citizen app (web page)", response_class=HTMLResponse)
def citizen_page() -> HTMLResponse:
    """Serve the mobile-first citizen app: today's city, registration, login, my account."""
    return _page("citizen.html")


@router.get("/operator", summary="Operator pages (web page)", response_class=HTMLResponse)
def operator_page() -> HTMLResponse:
    """Serve the operators' complaint queue and administration dashboard (data needs a login)."""
    return _page("operator.html")


@router.get("/web/layers", summary="The map's layer registry")
def layer_registry() -> JSONResponse:
    """List every map layer: id, Korean and English names, source query and style."""
    return JSONResponse([layer.as_json() for layer in layers()], headers=DATA_HEADERS)


@router.get("/web/tiles", summary="The dashboard's KPI tile registry")
def tile_registry() -> JSONResponse:
    """List every KPI tile: id, Korean and English titles, the layers it reads, its kind."""
    return JSONResponse([tile.as_json() for tile in tiles()], headers=DATA_HEADERS)


@router.get(
    "/web/basemap/{name}",
    summary="Basemap GeoJSON (roads, BRT ring, facilities)",
    responses={200: {"content": {"application/geo+json": {}}}, 404: {}},
)
def basemap(name: str) -> Response:
    """Return one basemap layer of the twin bundle as a GeoJSON FeatureCollection."""
    try:
        body = basemap_bytes(name)
    except KeyError:
        known = ", ".join(NAMES)
        return JSONResponse(
            {
                "error": "not_found",
                "detail": f"There is no basemap layer {name!r}; use one of: {known}.",
                "detail_ko": f"기본 지도 레이어 {name!r}는 없습니다. 다음 중 하나: {known}.",
            },
            status_code=404,
        )
    return Response(body, media_type="application/geo+json", headers=DATA_HEADERS)


@router.get(
    "/web/live",
    summary="Live hub changes for the map (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, 401: {}, 403: {}},
)
async def live_updates(
    request: Request,
    tenant: str | None = Query(None, description="NGSI-LD tenant (default: the open-data one)"),
) -> StreamingResponse:
    """Stream every committed change of the tenant's map-layer entities as it happens.

    EventSource cannot send headers, so the tenant is a query parameter; access is the
    hub's read rule for that tenant (401/403 as NGSI-LD ProblemDetails before streaming).
    """
    if tenant:
        scope = dict(request.scope)
        scope["headers"] = [
            *(h for h in request.scope["headers"] if h[0] != b"ngsild-tenant"),
            (b"ngsild-tenant", tenant.encode("latin-1", "replace")),
        ]
        request = Request(scope, request.receive)
    grant = await authorize(request, "read")
    feed: LiveFeed = request.app.state.live
    await feed.ensure(grant.tenant, notify_url(request))
    subscriber = feed.subscribe(grant.tenant, grant)
    return StreamingResponse(
        stream(request, feed, subscriber),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def notify_url(request: Request) -> str:
    """Return this process's notify URL: the socket address the request came in on."""
    server = request.scope.get("server")
    if server and server[1] is not None:
        host = str(server[0])
        host = f"[{host}]" if ":" in host else host
        return f"{request.url.scheme}://{host}:{server[1]}{NOTIFY_PATH}"
    return str(request.base_url).rstrip("/") + NOTIFY_PATH


@router.post(
    NOTIFY_PATH,
    summary="Receive the live feed's hub notifications (internal)",
    status_code=204,
    responses={204: {}, 400: {}, 401: {}},
    include_in_schema=False,
)
async def live_notify(request: Request) -> Response:
    """Take one NGSI-LD notification of this process's live subscriptions (secret header)."""
    feed: LiveFeed = request.app.state.live
    if not feed.owns(request.headers.get(SECRET_HEADER)):
        return JSONResponse(
            {
                "error": "unauthorized",
                "detail": f"{SECRET_HEADER} is missing or wrong: this route takes the "
                "notifications of this process's own live subscriptions only.",
                "detail_ko": f"{SECRET_HEADER}가 없거나 틀렸습니다. 이 경로는 이 프로세스의 "
                "실시간 구독 알림만 받습니다.",
            },
            status_code=401,
        )
    try:
        feed.deliver(await request.body())
    except (ValueError, KeyError, TypeError, HubError) as error:
        return JSONResponse(
            {
                "error": "bad_request",
                "detail": f"not an NGSI-LD notification of normalized entities: {error}",
                "detail_ko": f"정규화된 엔티티의 NGSI-LD 알림이 아닙니다: {error}",
            },
            status_code=400,
        )
    return Response(status_code=204)
