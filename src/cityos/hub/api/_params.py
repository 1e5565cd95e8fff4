"""Turn NGSI-LD query parameters (URL or a POST Query body) into a query and render options."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cityos.hub._ints import whole_number
from cityos.hub.context import ActiveContext
from cityos.hub.errors import BadRequestData, InvalidRequest, TooManyResults
from cityos.hub.geo import parse_geo_query
from cityos.hub.join import parse_projection_tree
from cityos.hub.model import check_entity_id, is_uri
from cityos.hub.query.qlang import parse_q
from cityos.hub.query.scope import parse_scope_q
from cityos.hub.render import Format, RenderOptions
from cityos.hub.store.base import EntityQuery
from cityos.hub.typeq import parse_type_selection

FORMATS: dict[str, Format] = {
    "normalized": "normalized",
    "concise": "concise",
    "keyValues": "keyValues",
    "simplified": "keyValues",
}


def split_list(value: str | list[str] | None) -> list[str] | None:
    """Return a comma list (or JSON array) as a list of non-empty names."""
    if value is None:
        return None
    items = value if isinstance(value, list) else value.split(",")
    return [str(v).strip() for v in items if str(v).strip()]


# Values of ``options`` a query or retrieval understands (GS CIM 009 v1.8, 6.3.7, 6.3.20).
RENDER_OPTIONS = frozenset({"normalized", "concise", "keyValues", "simplified", "sysAttrs"})
_MEMBER = re.compile(r"[^\s<>\"'=;()\[\]{},|]+")


def parse_projection(
    value: str | list[str] | None, name: str, *, nested: bool = False
) -> list[str] | None:
    """Return the members a ``pick`` or ``omit`` list names, checking its syntax (4.21).

    Nested projections (``locatedAt{name}``) apply to linked entities, so they need
    ``nested`` (a request with ``join``, see :mod:`cityos.hub.join`); else BadRequestData.
    Of a nested member, ``pick`` keeps the Relationship and ``omit`` does not drop it.
    """
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    members: list[str] = []
    for item in items:
        text = str(item)
        if nested:
            tree = parse_projection_tree(text, name)
            members += tree.members if name == "pick" else tree.flat_members()
            continue
        if "{" in text or "}" in text:
            raise BadRequestData(
                f"{name}={text!r}: nested projections apply to linked entities and need "
                f"join=inline or join=flat / 중첩 투영은 연결 엔터티에 적용되므로 "
                f"join=inline 또는 join=flat이 필요합니다"
            )
        for member in re.split(r"[,|]", text):  # 4.21: "," and "|" both separate
            member = member.strip()
            if not _MEMBER.fullmatch(member):
                raise BadRequestData(
                    f"{name}={text!r} is not a comma list of attribute names "
                    f"(bad member {member!r})"
                    f" / {name}={text!r}은(는) 쉼표로 구분한 속성 이름 목록이 아닙니다(잘못된 "
                    f"항목 {member!r})"
                )
            members.append(member)
    return members


# What render_options gives a request without any parameter (shared: immutable members).
DEFAULT_RENDERING = RenderOptions(omit=frozenset())


def render_options(
    options: set[str],
    fmt: str | None,
    ctx: ActiveContext,
    *,
    attrs: list[str] | None = None,
    pick: list[str] | None = None,
    omit: list[str] | None = None,
    lang: str | None = None,
    dataset_ids: list[str] | None = None,
) -> RenderOptions:
    """Return the render options asked for by ``options``, ``format`` and projections."""
    unknown = options - RENDER_OPTIONS - {"noOverwrite", "replace", "update"}
    if unknown:
        raise InvalidRequest(
            f"unknown options {', '.join(sorted(unknown))}; use {', '.join(sorted(RENDER_OPTIONS))}"
            f" / 알 수 없는 options {', '.join(sorted(unknown))}: "
            f"{', '.join(sorted(RENDER_OPTIONS))} 중에서 쓰세요"
        )
    chosen: Format = "normalized"
    for name, value in FORMATS.items():
        if name in options:
            chosen = value
    if fmt is not None:
        if fmt not in FORMATS:
            raise InvalidRequest(
                f"format {fmt!r} is unknown; use one of {', '.join(FORMATS)}"
                f" / format {fmt!r}을(를) 알 수 없습니다. {', '.join(FORMATS)} 중 하나를 쓰세요"
            )
        chosen = FORMATS[fmt]
    if pick is not None and omit is not None:
        raise BadRequestData("give pick or omit, not both / pick과 omit 중 하나만 주세요")
    if attrs is not None and (pick is not None or omit is not None):
        raise BadRequestData(
            "attrs cannot be combined with pick or omit; use pick alone"
            " / attrs는 pick이나 omit과 함께 쓸 수 없습니다. pick만 쓰세요"
        )

    def expand_all(names: list[str] | None) -> set[str] | None:
        if names is None:
            return None
        return {n if n in ("id", "type") else ctx.expand(n) for n in names}

    return RenderOptions(
        format=chosen,
        sys_attrs="sysAttrs" in options,
        lang=lang,
        attrs=expand_all(attrs),
        pick=expand_all(pick),
        omit=expand_all(omit) or set(),
        datasets=_datasets(dataset_ids),
    )


def _datasets(dataset_ids: list[str] | None) -> set[str | None] | None:
    """Return the datasetIds a ``datasetId`` parameter keeps (``@none``: the default one)."""
    if dataset_ids is None:
        return None
    if not dataset_ids:
        raise BadRequestData(
            "datasetId must name at least one datasetId (or @none)"
            " / datasetId에는 datasetId(또는 @none)를 하나 이상 지정해야 합니다"
        )
    chosen: set[str | None] = set()
    for dataset_id in dataset_ids:
        if dataset_id == "@none":
            chosen.add(None)
        elif is_uri(dataset_id):
            chosen.add(dataset_id)
        else:
            raise BadRequestData(
                f"datasetId {dataset_id!r} is not a URI (nor @none)"
                f" / datasetId {dataset_id!r}이(가) URI가 아닙니다(@none도 아닙니다)"
            )
    return chosen


def _int_param(value: Any, name: str, default: int) -> int:
    if value is None:
        return default
    number = whole_number(value)
    if number is None:
        raise BadRequestData(
            f"{name} must be a non-negative integer (got {value!r})"
            f" / {name}은(는) 0 이상의 정수여야 합니다 (받은 값: {value!r})"
        )
    return number


def entity_query(
    params: Mapping[str, Any],
    ctx: ActiveContext,
    *,
    max_page: int,
    default_page: int,
    require_filter: bool = True,
) -> EntityQuery:
    """Return the EntityQuery described by URL parameters (or a Query body, flattened)."""
    types = params.get("type")
    type_sel = parse_type_selection(types, ctx.expand_type) if types else None
    ids = split_list(params.get("id"))
    for entity_id in ids or []:
        check_entity_id(entity_id)
    id_pattern = params.get("idPattern")
    if id_pattern is not None:
        try:
            re.compile(id_pattern)
        except re.error as exc:
            raise BadRequestData(
                f"idPattern {id_pattern!r} is not a valid regex: {exc}"
                f" / idPattern {id_pattern!r}이(가) 올바른 정규 표현식이 아닙니다: {exc}"
            ) from exc
    attrs = split_list(params.get("attrs"))
    if attrs is not None and not attrs:
        raise BadRequestData(
            "attrs must name at least one attribute / attrs에는 속성을 하나 이상 지정해야 합니다"
        )
    core = [a for a in attrs or [] if a in ("id", "type", "@id", "@type")]
    if core:
        raise BadRequestData(
            f"attrs lists attributes; {', '.join(core)} is not one (use pick)"
            f" / attrs에는 속성을 나열합니다. {', '.join(core)}은(는) 속성이 아닙니다(pick을 "
            "쓰세요)"
        )
    local = params.get("local")
    if local not in (None, True, False, "true", "false"):
        raise BadRequestData(
            f"local must be true or false (got {local!r})"
            f" / local은 true 또는 false여야 합니다 (받은 값: {local!r})"
        )
    q_text = params.get("q")
    q = parse_q(q_text).expanded(ctx.expand) if q_text else None
    scope_text = params.get("scopeQ")
    scope_q = parse_scope_q(scope_text) if scope_text else None
    geo = parse_geo_query(
        params.get("georel"),
        params.get("geometry"),
        params.get("coordinates"),
        params.get("geoproperty"),
        expand=ctx.expand,
    )
    # local=true asks for the local entities only: in a broker without federation, all.
    is_local = local in (True, "true")
    if require_filter and not any((type_sel, ids, id_pattern, attrs, q, scope_q, geo, is_local)):
        raise BadRequestData(
            "a query needs at least one of type, id, idPattern, attrs, q, scopeQ or a "
            "geo-query (georel, geometry, coordinates); e.g. ?type=AirQualityObserved"
            " / 질의에는 type, id, idPattern, attrs, q, scopeQ 또는 geo-query(georel, "
            "geometry, coordinates) 중 하나 이상이 필요합니다. 예: ?type=AirQualityObserved"
        )
    limit = _int_param(params.get("limit"), "limit", default_page)
    if limit > max_page:
        raise TooManyResults(
            f"limit {limit} exceeds this broker's maximum page size {max_page}"
            f" / limit {limit}이(가) 이 브로커의 최대 페이지 크기 {max_page}를 넘습니다"
        )
    count = params.get("count")
    if count not in (None, True, False, "true", "false"):
        raise BadRequestData(
            f"count must be true or false (got {count!r})"
            f" / count는 true 또는 false여야 합니다 (받은 값: {count!r})"
        )
    return EntityQuery(
        types=type_sel,
        ids=tuple(ids) if ids else None,
        id_pattern=id_pattern,
        attrs=tuple(ctx.expand(a) for a in attrs) if attrs else None,
        q=q,
        scope_q=scope_q,
        geo=geo,
        limit=limit,
        offset=_int_param(params.get("offset"), "offset", 0),
        count=count in (True, "true"),
    )


def flatten_query_body(body: object) -> dict[str, Any]:
    """Return URL-style parameters from a POST /entityOperations/query Query body."""
    if not isinstance(body, Mapping):
        raise InvalidRequest(
            'the query body must be a JSON object {"type": "Query", ...}'
            ' / 질의 본문은 JSON 객체 {"type": "Query", ...}여야 합니다'
        )
    if body.get("type") not in ("Query", None):
        raise BadRequestData(
            f"the body's type must be 'Query' (got {body.get('type')!r})"
            f" / 본문의 type은 'Query'여야 합니다 (받은 값: {body.get('type')!r})"
        )
    params: dict[str, Any] = {}
    entities = body.get("entities")
    if entities is not None:
        if not isinstance(entities, list) or not all(isinstance(e, Mapping) for e in entities):
            raise BadRequestData(
                "entities must be a list of {type, id, idPattern} selectors"
                " / entities는 {type, id, idPattern} 선택자의 목록이어야 합니다"
            )
        types = [e["type"] for e in entities if "type" in e]
        if types:
            params["type"] = ",".join(str(t) for t in types)
        ids = [e["id"] for e in entities if "id" in e]
        if ids:
            params["id"] = ids
        patterns = [e["idPattern"] for e in entities if "idPattern" in e]
        if patterns:
            params["idPattern"] = "|".join(f"(?:{p})" for p in patterns)
    for key in ("attrs", "pick", "omit"):
        if key in body:
            value = body[key]
            if not isinstance(value, list | str):
                raise BadRequestData(
                    f"{key} must be a list of attribute names"
                    f" / {key}은(는) 속성 이름의 목록이어야 합니다"
                )
            params[key] = value
    for key in ("join", "joinLevel", "containedBy"):  # linked entity retrieval (4.5.23)
        if key in body:
            params[key] = body[key]
    for key in ("q", "scopeQ", "lang"):
        if key in body:
            if not isinstance(body[key], str):
                raise BadRequestData(f"{key} must be a string / {key}은(는) 문자열이어야 합니다")
            params[key] = body[key]
    geo_q = body.get("geoQ")
    if geo_q is not None:
        if not isinstance(geo_q, Mapping):
            raise BadRequestData(
                "geoQ must be an object {georel, geometry, coordinates}"
                " / geoQ는 {georel, geometry, coordinates} 객체여야 합니다"
            )
        for key in ("georel", "geometry", "coordinates", "geoproperty"):
            if key in geo_q:
                params[key] = geo_q[key]
    return params
