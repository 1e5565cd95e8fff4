"""Temporal retrieval and query routes (GS CIM 009 v1.8, 6.18.3.2 and 6.19.3.1).

``GET /temporal/entities`` and ``GET /temporal/entities/{id}`` answer an entity's history:
normalized, simplified (``options=temporalValues``) or aggregated
(``options=aggregatedValues`` with ``aggrMethods`` and ``aggrPeriodDuration``). A history
longer than the broker's instance limit is answered 206 with
``Content-Range: date-time <start>-<end>/<size>`` (6.3.10); see docs/hub/temporal.md.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from cityos.hub.api._auth import authorize
from cityos.hub.api._http import (
    accepted_type,
    blocking,
    json_response,
    options_of,
    query_docs,
    read_json,
    request_context,
    store_of,
    tenant_of,
)
from cityos.hub.api._params import entity_query, flatten_query_body, parse_projection
from cityos.hub.context import ActiveContext
from cityos.hub.errors import BadRequestData, ResourceNotFound
from cityos.hub.model import check_entity_id
from cityos.hub.store.base import EntityQuery
from cityos.hub.temporal._times import iso
from cityos.hub.temporal.aggregate import Periods
from cityos.hub.temporal.history import query_history
from cityos.hub.temporal.params import (
    TEMPORAL_OPTIONS,
    TemporalParams,
    invalid,
    parse_temporal_params,
)
from cityos.hub.temporal.query import TemporalPage
from cityos.hub.temporal.render import render_aggregated, render_history

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD temporal"])
_KNOWN_OPTIONS = TEMPORAL_OPTIONS | {"normalized"}

TEMPORAL_PARAMS = {
    "timerel": "before, after or between",
    "timeAt": "DateTime, e.g. 2026-11-25T00:00:00Z",
    "endTimeAt": "DateTime (timerel=between)",
    "timeproperty": "observedAt (default), createdAt or modifiedAt",
    "lastN": "Only the last N instances (or periods) of each attribute",
    "attrs": "Attributes (comma list)",
    "datasetId": "Only instances of these datasetIds (comma list; @none: the default one)",
    "options": "temporalValues, aggregatedValues, sysAttrs",
    "aggrMethods": "totalCount, distinctCount, sum, avg, min, max, stddev, sumsq",
    "aggrPeriodDuration": "ISO 8601 duration, e.g. PT1H (default: the whole window)",
    "lang": "Language for LanguageProperty",
    "pick": "Members to keep (comma list: id, type, attributes)",
    "omit": "Members to drop (comma list)",
}
QUERY_DOCS = query_docs(
    None,
    **TEMPORAL_PARAMS,
    type="Types: A,B or (A;B)|C",
    id="Entity ids (comma list)",
    idPattern="Regex on entity ids",
    q="NGSI-LD query language, checked against the instances in the time window",
    scopeQ="Scope query, checked against the scopes valid in the time window",
    georel="Geo-relation, checked against the GeoProperty instances in the time window",
    geometry="Point, Polygon, …",
    coordinates="GeoJSON coordinates",
    geoproperty="GeoProperty to test",
    limit="Entities per page (default 20)",
    offset="Entities to skip",
    count="true: NGSILD-Results-Count",
)
RETRIEVE_DOCS = query_docs(path={"entity_id": "Entity id (a URI)"}, **TEMPORAL_PARAMS)


def _options(request: Request) -> set[str]:
    options = options_of(request)
    unknown = options - _KNOWN_OPTIONS
    if unknown:
        names = ", ".join(sorted(unknown))
        raise invalid(
            f"unknown options {names}; use temporalValues, aggregatedValues or sysAttrs",
            f"알 수 없는 options {names}: temporalValues, aggregatedValues, sysAttrs 중에서 쓰세요",
        )
    return options


Projection = tuple[set[str] | None, set[str]]


def _projection(raw: dict[str, str], ctx: ActiveContext) -> Projection:
    """Return the members ``pick`` keeps (None: all) and those ``omit`` drops (4.21)."""
    pick = parse_projection(raw.get("pick"), "pick")
    omit = parse_projection(raw.get("omit"), "omit")
    if pick is not None and omit is not None:
        raise BadRequestData("give pick or omit, not both / pick과 omit 중 하나만 주세요")
    if raw.get("attrs") is not None and (pick is not None or omit is not None):
        raise BadRequestData(
            "attrs cannot be combined with pick or omit; use pick alone / "
            "attrs는 pick이나 omit과 함께 쓸 수 없습니다"
        )

    def names(members: list[str] | None) -> set[str] | None:
        if members is None:
            return None
        return {m if m in ("id", "type") else ctx.compact(ctx.expand(m)) for m in members}

    return names(pick), names(omit) or set()


def _render(
    page: TemporalPage,
    periods: dict[int, Periods],
    ctx: ActiveContext,
    params: TemporalParams,
    lang: str | None,
    projection: Projection,
) -> list[dict[str, Any]]:
    if params.aggregation is not None:
        bodies = [render_aggregated(e, ctx, params, periods) for e in page.entities]
    else:
        partial = page.partial is not None
        bodies = [
            render_history(e, ctx, params, lang=lang, keep_empty=partial) for e in page.entities
        ]
    keep, drop = projection
    if keep is None and not drop:
        return bodies
    projected = (
        {k: v for k, v in body.items() if (keep is None or k in keep) and k not in drop}
        for body in bodies
    )
    return [body for body in projected if body]  # an entity pick/omit empty is left out


def _partial_headers(page: TemporalPage) -> tuple[int, dict[str, str]]:
    if page.partial is None:
        return 200, {}
    start, end, size = page.partial
    return 206, {"Content-Range": f"date-time {iso(start)}-{iso(end)}/{size}"}


async def _answer_query(
    request: Request,
    raw: dict[str, Any],
    ctx: ActiveContext,
    *,
    extra_options: set[str] | frozenset[str] = frozenset(),
) -> Response:
    """Answer a temporal query given as URL-style parameters (GET, or a flattened body)."""
    media = accepted_type(request)
    grant = await authorize(request, "read")
    tenant = tenant_of(request, must_exist=True)
    options = _options(request) | extra_options
    params = parse_temporal_params(raw, options)
    projection = _projection(raw, ctx)
    settings = request.app.state.settings
    query = entity_query(
        raw, ctx, max_page=settings.max_page_size, default_page=settings.default_page_size
    )
    grant.check_selection(query.types)
    page, periods = await blocking(
        query_history,
        store_of(request),
        tenant,
        query,
        params,
        instance_limit=settings.temporal_max_instances,
    )
    status, headers = _partial_headers(page)
    if page.total is not None:
        headers["NGSILD-Results-Count"] = str(page.total)
    body = _render(page, periods, ctx, params, raw.get("lang"), projection)
    return json_response(body, status=status, ctx=ctx, media=media, headers=headers)


@router.get(
    "/temporal/entities", summary="Query temporal evolution of entities", openapi_extra=QUERY_DOCS
)
async def query_temporal(request: Request) -> Response:
    """Return the history of the entities matching the query, one page (206 if cut)."""
    ctx = await request_context(request)
    return await _answer_query(request, dict(request.query_params), ctx)


_TEMPORAL_Q = ("timerel", "timeAt", "endTimeAt", "timeproperty")
_AGGR = ("aggrMethods", "aggrPeriodDuration")
# what the URL may add to a Query body (6.24.3.1)
_URL_PARAMS = ("limit", "offset", "count", "lastN", "format", "aggrMethods", "aggrPeriodDuration")


def _members(name: str, found: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(found, dict):
        raise BadRequestData(
            f"{name} must be an object with {', '.join(allowed)} / "
            f"{name}은(는) {', '.join(allowed)}를 가진 객체여야 합니다"
        )
    unknown = sorted(set(found) - set(allowed))
    if unknown:
        raise BadRequestData(
            f"{name} has unknown members {', '.join(unknown)}; use {', '.join(allowed)} / "
            f"{name}의 알 수 없는 항목 {', '.join(unknown)}: {', '.join(allowed)}만 쓸 수 "
            "있습니다"
        )
    return found


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise BadRequestData(f"{name} must be a string / {name}은(는) 문자열이어야 합니다")
    return value


def _methods(name: str, value: Any) -> str:
    """Return aggrMethods as URL text: a comma separated string or an array of strings."""
    if isinstance(value, list) and value and all(isinstance(m, str) for m in value):
        return ",".join(value)
    if isinstance(value, str):
        return value
    raise BadRequestData(
        f"{name} must be a comma separated string or an array of strings, e.g. "
        f'["avg", "max"] / {name}은(는) 쉼표로 구분한 문자열이나 문자열 배열이어야 합니다'
    )


def _temporal_body(body: Any) -> dict[str, str]:
    """Return the URL-style time and aggregation parameters of a Query body: its
    ``temporalQ`` (TemporalQuery, 5.2.21: timerel, timeAt, endTimeAt, timeproperty, lastN,
    aggrMethods, aggrPeriodDuration) and ``aggrParams`` (5.2.44)."""
    if not isinstance(body, dict):
        return {}
    found: dict[str, str] = {}
    temporal_q = body.get("temporalQ")
    if temporal_q is not None:
        members = _members("temporalQ", temporal_q, (*_TEMPORAL_Q, "lastN", *_AGGR))
        for key in _TEMPORAL_Q:
            if key in members:
                found[key] = _text(f"temporalQ.{key}", members[key])
        last_n = members.get("lastN")
        if last_n is not None:
            if type(last_n) is not int or last_n < 1:
                raise BadRequestData(
                    f"temporalQ.lastN must be a positive integer (got {last_n!r}) / "
                    "temporalQ.lastN은 양의 정수여야 합니다"
                )
            found["lastN"] = str(last_n)
        if "aggrMethods" in members:
            found["aggrMethods"] = _methods("temporalQ.aggrMethods", members["aggrMethods"])
        if "aggrPeriodDuration" in members:
            found["aggrPeriodDuration"] = _text(
                "temporalQ.aggrPeriodDuration", members["aggrPeriodDuration"]
            )
    aggr = body.get("aggrParams")
    if aggr is not None:
        members = _members("aggrParams", aggr, _AGGR)
        if "aggrMethods" in members:
            found["aggrMethods"] = _methods("aggrParams.aggrMethods", members["aggrMethods"])
        if "aggrPeriodDuration" in members:
            found["aggrPeriodDuration"] = _text(
                "aggrParams.aggrPeriodDuration", members["aggrPeriodDuration"]
            )
    return found


@router.post(
    "/temporal/entityOperations/query",
    summary="Query temporal evolution of entities (Query body with temporalQ)",
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}
    },
)
async def query_temporal_post(request: Request) -> Response:
    """Answer a Query body (entities, attrs, q, temporalQ, …) as GET /temporal/entities
    answers the same parameters; limit, offset, count, options, lastN and the aggregation
    parameters may come from the URL (GS CIM 009 v1.8, 6.24.3.1), where they take
    precedence over the body's."""
    body, media = await read_json(request)
    ctx = await request_context(request, body, media)
    raw = flatten_query_body(body)
    raw.update(_temporal_body(body))
    # aggregation parameters in the body ask for the aggregated representation
    extra = {"aggregatedValues"} if "aggrMethods" in raw else set()
    for key in _URL_PARAMS:
        if key in request.query_params:
            raw[key] = request.query_params[key]
    return await _answer_query(request, raw, ctx, extra_options=extra)


@router.get(
    "/temporal/entities/{entity_id}",
    summary="Retrieve temporal evolution of an entity",
    openapi_extra=RETRIEVE_DOCS,
)
async def retrieve_temporal(request: Request) -> Response:
    """Return one entity's history (404 if it has none); 206 with Content-Range if cut."""
    entity_id: str = request.path_params["entity_id"]
    check_entity_id(entity_id)
    media = accepted_type(request)
    grant = await authorize(request, "read")
    tenant = tenant_of(request, must_exist=True)
    ctx = await request_context(request)
    raw = dict(request.query_params)
    params = parse_temporal_params(raw, _options(request))
    projection = _projection(raw, ctx)
    attrs = [a.strip() for a in raw.get("attrs", "").split(",") if a.strip()]
    query = EntityQuery(
        ids=(entity_id,), attrs=tuple(ctx.expand(a) for a in attrs) or None, limit=1
    )
    settings = request.app.state.settings
    page, periods = await blocking(
        query_history,
        store_of(request),
        tenant,
        query,
        params,
        instance_limit=settings.temporal_max_instances,
        need_history=False,
    )
    if not page.entities:
        which = f" of the attributes {', '.join(attrs)}" if attrs else ""
        raise ResourceNotFound(
            f"entity {entity_id} has no temporal history{which} / "
            f"엔터티 {entity_id}의 시간 이력{'(' + ', '.join(attrs) + ')' if attrs else ''}이 "
            "없습니다",
            instance=entity_id,
        )
    grant.check_types(
        page.entities[0].types,
        what=f"may not read entity {entity_id} / 엔터티 {entity_id}을(를) 읽을 수 없습니다",
    )
    status, headers = _partial_headers(page)
    bodies = _render(page, periods, ctx, params, raw.get("lang"), projection)
    if not bodies:
        raise ResourceNotFound(
            f"pick/omit leave nothing of entity {entity_id} / pick/omit 후 남는 것이 없습니다"
        )
    return json_response(bodies[0], status=status, ctx=ctx, media=media, headers=headers)
