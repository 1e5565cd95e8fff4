"""Which @context a request carries: the Link header and content-type rules (GS CIM 009 6.3.5)."""

from __future__ import annotations

from typing import Any

from cityos.hub._context_active import JSONLD_CONTEXT_REL
from cityos.hub._context_terms import is_absolute_iri
from cityos.hub.errors import BadRequestData, UnsupportedMediaType

JSON = "application/json"
JSON_LD = "application/ld+json"
MERGE_PATCH = "application/merge-patch+json"


def parse_link_header(value: str) -> str | None:
    """Return the JSON-LD context URL of a ``Link`` header (lines joined by ``,``), if any."""
    found: list[str] = []
    for link in _split(value, ","):
        link = link.strip()
        if not link:
            continue
        end = link.find(">")
        if not link.startswith("<") or end < 0:
            raise BadRequestData(
                f"malformed Link header value {link!r:.120}: expected <URL>; …"
                f" / 잘못된 Link 헤더 값 {link!r:.120}: <URL>; … 형식이어야 합니다"
            )
        url = link[1:end].strip()
        rels: list[str] = []
        for param in _split(link[end + 1 :], ";"):
            param = param.strip()
            if not param:
                continue
            name, _, raw = param.partition("=")
            if name.strip().lower() == "rel":
                rels.extend(_unquote(raw.strip()).split())
        if JSONLD_CONTEXT_REL in rels:
            if not is_absolute_iri(url):
                raise BadRequestData(
                    f"JSON-LD context Link {url!r} is not an absolute URL"
                    f" / JSON-LD 컨텍스트 Link {url!r}이(가) 절대 URL이 아닙니다"
                )
            found.append(url)
    if len(found) > 1:
        raise BadRequestData(
            f"more than one JSON-LD context Link header ({', '.join(found)}); send exactly one"
            f" / JSON-LD 컨텍스트 Link 헤더가 여러 개입니다({', '.join(found)}). 하나만 "
            "보내세요"
        )
    return found[0] if found else None


def media_type(content_type: str | None) -> str | None:
    """Return the bare, lower-case media type of a ``Content-Type`` value."""
    if content_type is None:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def context_from_request(
    content_type: str | None, link_header: str | None, body: dict[str, Any] | None
) -> Any:
    """Return the user @context of a request (None: core context only) by GS CIM 009 6.3.5."""
    if isinstance(body, list):
        raise TypeError("a batch body carries one @context per entity: use contexts_from_batch")
    link = parse_link_header(link_header) if link_header else None
    if body is None:  # GET, DELETE, or a body-less request: the Link header rules
        return link
    return _context_of(_body_kind(content_type), link, body)


def contexts_from_batch(
    content_type: str | None, link_header: str | None, body: list[Any]
) -> list[Any]:
    """Return the user @context of each entity of a batch request body."""
    link = parse_link_header(link_header) if link_header else None
    kind = _body_kind(content_type)
    return [_context_of(kind, link, item) for item in body]


def _body_kind(content_type: str | None) -> str:
    kind = media_type(content_type)
    if kind is None or kind in (JSON, MERGE_PATCH):  # the HTTP layer checks Content-Type
        return JSON
    if kind == JSON_LD:
        return JSON_LD
    raise UnsupportedMediaType(
        f"Content-Type {content_type!r} is not supported: use {JSON} or {JSON_LD}"
        f" / Content-Type {content_type!r}은(는) 지원하지 않습니다. {JSON} 또는 {JSON_LD}를 "
        "쓰세요"
    )


def _context_of(kind: str, link: str | None, body: Any) -> Any:
    has_context = isinstance(body, dict) and "@context" in body
    if kind == JSON:
        if has_context:
            raise BadRequestData(
                f"a {JSON} body must not contain @context: send it in a Link header "
                f"or send the body as {JSON_LD}"
                f" / {JSON} 본문에는 @context를 넣을 수 없습니다. Link 헤더로 보내거나 본문을 "
                f"{JSON_LD}로 보내세요"
            )
        return link
    if link is not None:
        raise BadRequestData(
            f"a {JSON_LD} request must carry its @context in the body, not in a Link header"
            f" / {JSON_LD} 요청은 @context를 Link 헤더가 아니라 본문에 담아야 합니다"
        )
    if not has_context or body["@context"] is None:
        raise BadRequestData(
            f"a {JSON_LD} body must contain an @context member"
            f" / {JSON_LD} 본문에는 @context 멤버가 있어야 합니다"
        )
    return body["@context"]


def _split(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside ``<…>`` and double-quoted strings."""
    parts: list[str] = []
    start = 0
    in_uri = in_quote = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif in_quote:
            if char == "\\":
                escaped = True
            elif char == '"':
                in_quote = False
        elif in_uri:
            in_uri = char != ">"
        elif char == "<":
            in_uri = True
        elif char == '"':
            in_quote = True
        elif char == separator:
            parts.append(text[start:index])
            start = index + 1
    if in_quote or in_uri:
        raise BadRequestData(
            f"malformed Link header {text!r:.120}: unterminated < or quote"
            f" / 잘못된 Link 헤더 {text!r:.120}: < 또는 따옴표가 닫히지 않았습니다"
        )
    parts.append(text[start:])
    return parts


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value
