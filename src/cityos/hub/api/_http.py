"""HTTP plumbing shared by the NGSI-LD routes: tenants, media types, bodies, responses."""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cityos.hub.context import ActiveContext, ContextResolver, context_from_request
from cityos.hub.errors import (
    BadRequestData,
    InvalidRequest,
    NonexistentTenant,
    NotAcceptable,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from cityos.hub.store.base import BUSY, Entity, HubStore

T = TypeVar("T")
JSON = "application/json"
JSON_LD = "application/ld+json"
GEO_JSON = "application/geo+json"
MERGE_PATCH = "application/merge-patch+json"
DEFAULT_TENANT = "urn:ngsi-ld:tenant:default"
_TENANT = re.compile(r"^[A-Za-z0-9_\-.:]{1,64}$")


def header(request: Request, name: bytes) -> str | None:
    """Return the first value of the header ``name`` (lower-case bytes), else None.

    What ``request.headers.get`` returns, without building a ``Headers`` object or raising
    and catching a ``KeyError`` for each header a request does not carry (most of them:
    ``NGSILD-Tenant``, ``Link``, ``Accept``, ``Authorization``). ASGI servers give header
    names in lower case, as ``Headers`` assumes too.
    """
    for key, value in request.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def store_of(request: Request) -> HubStore:
    """Return the app's hub store."""
    store: HubStore = request.app.state.store
    return store


def resolver_of(request: Request) -> ContextResolver:
    """Return the app's @context resolver."""
    resolver: ContextResolver = request.app.state.contexts
    return resolver


def tenant_of(request: Request, *, must_exist: bool) -> str:
    """Return the request's tenant; NonexistentTenant if reading one never written to."""
    if "\x00" in request.scope["path"] or b"%00" in request.scope["query_string"]:
        raise BadRequestData(
            "the URL contains the NUL character (%00); remove it"
            " / URL에 NUL 문자(%00)가 있습니다. 빼고 보내세요"
        )
    name = header(request, b"ngsild-tenant")
    if name is None or name == "":
        return DEFAULT_TENANT
    if not _TENANT.match(name):
        raise InvalidRequest(
            f"NGSILD-Tenant {name!r} is not valid: use 1-64 letters, digits, _ - . or :"
            f" / NGSILD-Tenant {name!r}이(가) 올바르지 않습니다: 글자, 숫자, _ - . : 1~64자를 "
            "쓰세요"
        )
    if must_exist and not store_of(request).tenant_exists(name):
        raise NonexistentTenant(
            f"tenant {name!r} does not exist (nothing was written to it)"
            f" / 테넌트 {name!r}이(가) 없습니다(아직 아무것도 쓰지 않았습니다)"
        )
    return name


def accepted_type(request: Request, *, geojson: bool = False) -> str:
    """Return the response media type from Accept (406 if nothing fits)."""
    accept = header(request, b"accept") or ""
    if not accept:
        return JSON
    best: tuple[float, str] | None = None
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        quality = 1.0
        for f in fields[1:]:
            if f.startswith("q="):
                try:
                    quality = float(f[2:])
                except ValueError:
                    quality = 0.0
        options = {JSON: JSON, JSON_LD: JSON_LD, "*/*": JSON, "application/*": JSON}
        if geojson:
            options[GEO_JSON] = GEO_JSON
        if media in options and quality > 0 and (best is None or quality > best[0]):
            best = (quality, options[media])
    if best is None:
        allowed = ", ".join([JSON, JSON_LD] + ([GEO_JSON] if geojson else []))
        raise NotAcceptable(
            f"cannot answer with {accept!r}; accept one of {allowed}"
            f" / {accept!r}(으)로는 답할 수 없습니다. {allowed} 중 하나를 받으세요"
        )
    return best[1]


async def read_json(request: Request, *, allow_merge_patch: bool = False) -> tuple[Any, str]:
    """Return the parsed body and its media type (415, 413 and 400 on bad bodies)."""
    raw, media = await read_body(request, allow_merge_patch=allow_merge_patch)
    return parse_body(raw), media


async def read_body(request: Request, *, allow_merge_patch: bool = False) -> tuple[bytes, str]:
    """Return the body's bytes, not empty, and its media type (415 and 413 on bad bodies);
    :func:`parse_body` parses them."""
    media = (header(request, b"content-type") or "").split(";")[0].strip().lower()
    allowed = [JSON, JSON_LD] + ([MERGE_PATCH] if allow_merge_patch else [])
    if media not in allowed:
        raise UnsupportedMediaType(
            f"Content-Type {media or '(none)'!r} is not supported; send {' or '.join(allowed)}"
            f" / Content-Type {media or '(none)'!r}은(는) 지원하지 않습니다. "
            f"{' 또는 '.join(allowed)}(으)로 보내세요"
        )
    limit: int = request.app.state.settings.max_payload_bytes
    length = header(request, b"content-length")
    if length and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(
            f"the body is {length} bytes; the limit is {limit} bytes"
            f" / 본문이 {length}바이트입니다. 한도는 {limit}바이트입니다"
        )
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"the body exceeds the limit of {limit} bytes"
                f" / 본문이 한도 {limit}바이트를 넘습니다"
            )
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise InvalidRequest(
            "the request body is empty; send a JSON document"
            " / 요청 본문이 비어 있습니다. JSON 문서를 보내세요"
        )
    return raw, media


def parse_body(raw: bytes) -> Any:
    """Return the JSON document in ``raw`` (400 when it is none, or holds a NUL)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            f"the body is not valid JSON: {exc} / 본문이 올바른 JSON이 아닙니다: {exc}"
        ) from exc
    if b"\\u0000" in raw and _has_nul(body):
        raise BadRequestData(
            "a string in the body contains the NUL character (\\u0000), which cannot be "
            "stored; remove it"
            " / 본문의 문자열에 저장할 수 없는 NUL 문자(\\u0000)가 있습니다. 빼고 보내세요"
        )
    return body


def _has_nul(value: Any) -> bool:
    """Return True if any string or key inside a JSON value contains U+0000."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any("\x00" in k or _has_nul(v) for k, v in value.items())
    return False


async def request_context(
    request: Request, body: Any = None, media: str | None = None
) -> ActiveContext:
    """Resolve the request's @context (Link header or body) into an active context."""
    link = header(request, b"link")
    context = context_from_request(media, link, body)
    resolver = resolver_of(request)
    known = resolver.cached(context)
    if known is None:
        known = await run_in_threadpool(resolver.resolve, context)
    if context is not None:  # numberOfHits of the contexts it names (/jsonldContexts)
        resolver.note_use(context)
    return known


class JsonResponse(Response):
    """A response made whole by :func:`json_response`: body and raw headers as given.

    ``Response.__init__`` would render the bytes again (a no-op) and build the raw headers
    from a dict, checking which of them are present; here they come ready, in the order it
    gives them (the route's headers, then ``content-length`` and ``content-type``).
    """

    def __init__(
        self, body: bytes, status: int, media: str, raw_headers: list[tuple[bytes, bytes]]
    ) -> None:
        self.status_code = status
        self.media_type = media
        self.background = None
        self.body = body
        self.raw_headers = raw_headers


def json_response(
    content: Any,
    *,
    status: int = 200,
    ctx: ActiveContext | None = None,
    media: str = JSON,
    headers: dict[str, str] | None = None,
) -> Response:
    """Return a JSON response with the @context as a Link header or in the body."""
    link: str | None = None
    if ctx is not None:
        if media == JSON_LD:
            body_ctx = ctx.body_value()
            if isinstance(content, list):
                content = [{**item, "@context": body_ctx} for item in content]
            elif isinstance(content, dict):
                content = {**content, "@context": body_ctx}
        else:
            link = ctx.link_value()
    body = orjson.dumps(content)
    if headers:  # as Response builds them from a dict (ours replaces a "Link" in place)
        named = dict(headers)
        if link is not None:
            named["Link"] = link
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in named.items()]
        names = {name for name, _ in raw}
    else:
        raw = [] if link is None else [(b"link", link.encode("latin-1"))]
        names = set()
    if b"content-length" not in names and not (status < 200 or status in (204, 304)):
        raw.append((b"content-length", str(len(body)).encode("latin-1")))
    if b"content-type" not in names:
        raw.append((b"content-type", media.encode("latin-1")))
    return JsonResponse(body, status, media, raw)


# Store calls that may scan many rows or write many entities: always off the event loop.
_HEAVY_CALLS = frozenset(
    {
        "query",
        "iter_all",
        "type_infos",
        "attribute_infos",
        "contexts",
        "run_batch",
        "run_batch_lane",
        "link_entities",
    }
)


async def blocking(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a store call: inline when the store says short calls are cheap, else in a thread.

    A thread-pool hop costs ~100 µs, several times an indexed SQLite lookup or a one-entity
    write, so SQLite's short calls run on the event loop; PostgreSQL's go to threads
    (``_in_store_thread``). One-entity writes (``one_transaction``) run where the store's
    ``call_on_loop`` says: on PostgreSQL in a greenlet on the loop while a loop connection
    is open; on SQLite inline unless another writer holds the write lock (a batch, the
    roll-up fold), when waiting on the loop would stall every other request.
    """
    store = getattr(func, "__self__", None) or (args[0] if args else None)
    if not isinstance(store, HubStore):
        return await run_in_threadpool(func, *args, **kwargs)
    if getattr(func, "one_transaction", False):  # a one-entity write: on the loop if it can
        call = functools.partial(func, *args, **kwargs)
        done = await store.call_on_loop(call)
        return done if done is not BUSY else await _in_store_thread(store, call)
    if store.inline_short_calls and getattr(func, "__name__", "") not in _HEAVY_CALLS:
        return func(*args, **kwargs)
    return await _in_store_thread(store, functools.partial(func, *args, **kwargs))


async def get_entity(store: HubStore, tenant: str, entity_id: str) -> Entity | None:
    """Return one entity (None if none): read on the event loop where the store can, else as
    :func:`blocking` runs ``store.get`` (PostgreSQL: no thread hop while a connection of its
    loop reader is idle)."""
    found = await store.get_on_loop(tenant, entity_id)
    if found is BUSY:
        return await blocking(store.get, tenant, entity_id)
    return found


def _settle(done: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if done.cancelled():
        return
    if error is None:
        done.set_result(result)
    elif isinstance(error, StopIteration):  # a Future refuses it (it ends generators)
        done.set_exception(RuntimeError("a store call raised StopIteration"))
    else:
        done.set_exception(error)


async def _in_store_thread(store: HubStore, call: Callable[[], T]) -> T:
    """Run ``call`` on the store's threads and await its result.

    What ``loop.run_in_executor`` does, without chaining a concurrent Future to an asyncio
    one (wrap_future, copied states, two callbacks): the thread hands its result to the loop
    with one ``call_soon_threadsafe``. About 112,000 instructions a hop instead of 166,000
    (callgrind), on every PostgreSQL request. Unlike run_in_executor, a call already queued
    still runs if the awaiting request is cancelled (a write is then done, not skipped).
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def run() -> None:
        try:
            result = call()
        except BaseException as error:  # handed to the awaiting task, as run_in_executor does
            loop.call_soon_threadsafe(_settle, done, None, error)
        else:
            loop.call_soon_threadsafe(_settle, done, result, None)

    store.executor.submit(run)
    return await done


def query_docs(path: dict[str, str] | None = None, **params: str) -> dict[str, Any]:
    """Return ``openapi_extra`` documenting path parameters and optional query parameters.

    Hot routes read ``request.path_params`` and ``request.query_params`` themselves instead
    of declaring parameters in their signature: FastAPI's per-request parameter solving cost
    a fifth of a GET (measured with benchmarks/hub_bench.py).
    """
    documented = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}, "description": t}
        for n, t in (path or {}).items()
    ]
    documented += [
        {
            "name": n,
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": t,
        }
        for n, t in params.items()
    ]
    return {"parameters": documented}


def options_of(request: Request) -> set[str]:
    """Return the comma-separated ``options`` parameter as a set."""
    values: set[str] = set()
    for raw in request.query_params.getlist("options"):
        values.update(v.strip() for v in raw.split(",") if v.strip())
    return values
