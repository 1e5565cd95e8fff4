"""JSON-LD @context handling for the hub: offline resolution, term expansion and compaction.

NGSI-LD (ETSI GS CIM 009 v1.8, 5.5.7 and 6.3.5) only needs the *term* part of JSON-LD:
entity types, attribute and sub-attribute names and VocabProperty values are expanded to
IRIs on input and compacted on output.  ``ContextResolver.resolve`` turns a request's
@context into an ``ActiveContext`` (cached by the context's canonical JSON) whose
``expand``/``compact`` are memoised dict lookups.  See ``docs/hub/jsonld.md``.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import orjson

from cityos.config import Settings, SettingsError, get_settings
from cityos.hub._context_active import CORE_CONTEXT_URL, JSONLD_CONTEXT_REL, ActiveContext
from cityos.hub._context_http import (
    context_from_request,
    contexts_from_batch,
    media_type,
    parse_link_header,
)
from cityos.hub._context_sources import (
    BUILTIN_CONTEXT_FILES,
    CITYOS_CONTEXT_URL,
    CORE_CONTEXT_FILE,
    CORE_CONTEXT_URLS,
    ContextFetcher,
    read_builtin,
    read_file,
)
from cityos.hub._context_terms import (
    ContextError,
    ContextState,
    ProcessedContext,
    TermDefinition,
    apply_context,
    apply_processed,
)
from cityos.hub._context_usage import ContextUsage
from cityos.hub.errors import BadRequestData, LdContextNotAvailable
from cityos.security import outbound

__all__ = [
    "BUILTIN_CONTEXT_FILES",
    "CITYOS_CONTEXT_URL",
    "CORE_CONTEXT_URL",
    "CORE_CONTEXT_URLS",
    "JSONLD_CONTEXT_REL",
    "ActiveContext",
    "ContextResolver",
    "TermDefinition",
    "context_from_request",
    "contexts_from_batch",
    "media_type",
    "parse_link_header",
]


class ContextResolver:
    """Resolve request @contexts offline first; one per app, safe to share between threads."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        context_files: Mapping[str, Path] | None = None,
        fetch_timeout: float | None = None,
        allow_network: bool = True,
        cache_size: int = 1024,
        remote_cache_size: int = 256,
        failure_ttl: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        settings = settings or get_settings()
        files = settings.context_files if context_files is None else context_files
        timeout = settings.context_fetch_timeout if fetch_timeout is None else fetch_timeout
        self._lock = threading.Lock()
        self._builtin: dict[str, Any] = {}  # parsed shipped files, by relative path
        self._configured: dict[str, Any] = {}
        self._configured_paths = {url: Path(path) for url, path in files.items()}
        for url, path in self._configured_paths.items():
            try:
                self._configured[url] = read_file(url, path)
            except LdContextNotAvailable as error:
                raise SettingsError(f"CITYOS_CONTEXT_FILES: {error.detail}") from None
        self._stored: dict[str, Any] = {}
        self._local_ids: dict[str, str] = {}  # localId of a stored context -> its URL
        # What /jsonldContexts reports: contexts first loaded by URL (kind Cached) and hits.
        self.usage = ContextUsage(CORE_CONTEXT_URLS)
        self._remote: OrderedDict[str, Any] = OrderedDict()
        self._failures: dict[str, tuple[float, str]] = {}  # url -> (retry after, detail)
        self._contexts: OrderedDict[str, ActiveContext] = OrderedDict()
        self._cache_size = cache_size
        self._remote_cache_size = remote_cache_size
        self._failure_ttl = failure_ttl
        self._fetcher = (
            ContextFetcher(timeout, transport=transport, policy=outbound.policy_of(settings))
            if allow_network
            else None
        )
        self._core = self._process_core()
        self._core_only = self._build(None, "null")

    def close(self) -> None:
        """Release the HTTP connection pool used for remote contexts."""
        if self._fetcher is not None:
            self._fetcher.close()

    def __enter__(self) -> ContextResolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def core(self) -> ActiveContext:
        """Return the active context of a request without a user @context."""
        return self._core_only

    def resolve(self, context: str | dict[str, Any] | list[Any] | None) -> ActiveContext:
        """Return the active context of a user @context with the core context applied last."""
        if context is None:
            return self._core_only
        try:
            key = orjson.dumps(context, option=orjson.OPT_SORT_KEYS).decode()
        except TypeError as error:
            raise BadRequestData(
                f"invalid @context: not JSON ({error}) / 잘못된 @context: JSON이 아닙니다({error})"
            ) from None
        with self._lock:
            active = self._contexts.get(key)
            if active is not None:
                self._contexts.move_to_end(key)
                return active
        active = self._build(context, key)
        with self._lock:
            self._contexts[key] = active
            if len(self._contexts) > self._cache_size:
                self._contexts.popitem(last=False)
        return active

    def cached(self, context: str | dict[str, Any] | list[Any] | None) -> ActiveContext | None:
        """Return the active context if it is already resolved (never blocks), else None."""
        if context is None:
            return self._core_only
        try:
            key = orjson.dumps(context, option=orjson.OPT_SORT_KEYS).decode()
        except TypeError:
            return None
        with self._lock:
            return self._contexts.get(key)

    def add_stored(self, url_or_id: str, body: Any) -> None:
        """Register a context stored through ``/jsonldContexts`` under its URL or id."""
        context = body["@context"] if isinstance(body, dict) and "@context" in body else body
        if context is not None and not isinstance(context, dict | list | str):
            raise BadRequestData(
                "a stored @context must be an object, a URL or a list"
                " / 저장할 @context는 객체, URL 또는 목록이어야 합니다"
            )
        try:  # check the terms now; nested URLs are only checked when used
            apply_context(ContextState(vocab="urn:x:"), context, lambda url: {})
        except ContextError as error:
            raise BadRequestData(
                f"invalid @context: {error.message} / 잘못된 @context: {error.message_ko}"
            ) from None
        local_id = _hosted_id(url_or_id)
        with self._lock:
            self._stored[url_or_id] = context
            if local_id is not None:
                self._local_ids[local_id] = url_or_id
            self._contexts.clear()  # resolved contexts may have used the old version
        self.usage.known(url_or_id)

    def remove_stored(self, url_or_id: str) -> None:
        """Forget a stored or cached context (no error if it is unknown).

        A Cached one is loaded anew (and recorded again) the next time a request names it.
        """
        local_id = _hosted_id(url_or_id)
        with self._lock:
            self._stored.pop(url_or_id, None)
            self._remote.pop(url_or_id, None)
            self._failures.pop(url_or_id, None)
            if local_id is not None and self._local_ids.get(local_id) == url_or_id:
                del self._local_ids[local_id]
            self._contexts.clear()
        self.usage.forget(url_or_id)

    def note_use(self, context: str | dict[str, Any] | list[Any] | None) -> None:
        """Count one use of each URL a request's @context names (``numberOfHits``)."""
        if context is None or isinstance(context, dict):
            return
        urls = (context,) if isinstance(context, str) else context
        for url in urls:
            if isinstance(url, str) and url not in CORE_CONTEXT_URLS:
                self.usage.hit(self._canonical(url))

    def reload(self, url: str) -> Any:
        """Load a cached context's document again from its origin (503 if it cannot be)."""
        relative = BUILTIN_CONTEXT_FILES.get(url)
        path = self._configured_paths.get(url)
        if relative is not None:
            context = read_builtin(relative)
        elif path is not None:
            context = read_file(url, path)
        elif self._fetcher is None:
            raise LdContextNotAvailable(
                f"@context {url} cannot be fetched (network disabled)"
                f" / @context {url}을(를) 가져올 수 없습니다(네트워크 사용 안 함)"
            )
        else:
            context = self._fetcher.fetch(url)
        with self._lock:
            if relative is not None:
                self._builtin[relative] = context
            elif path is not None:
                self._configured[url] = context
            else:
                self._remote[url] = context
            if url in self._stored:  # a Cached record registered at start-up
                self._stored[url] = context
            self._failures.pop(url, None)
            self._contexts.clear()
        return context

    def reload_core(self) -> None:
        """Process the shipped core context again (the hub keeps no other copy of it)."""
        core = self._process_core()
        with self._lock:
            self._core = core
            self._contexts.clear()
        self._core_only = self._build(None, "null")

    def _canonical(self, url: str) -> str:
        """Return the URL a stored context is recorded under, for any host naming this hub."""
        if "/jsonldContexts/" not in url:  # the common case, without the regular expression
            return url
        local_id = _hosted_id(url)
        if local_id is None:
            return url
        with self._lock:
            return self._local_ids.get(local_id, url)

    def clear(self) -> None:
        """Drop every cached remote document, failure and resolved context."""
        with self._lock:
            self._remote.clear()
            self._failures.clear()
            self._contexts.clear()

    def _build(self, context: Any, key: str) -> ActiveContext:
        state = ContextState()
        try:
            apply_context(state, context, self._load)
        except ContextError as error:
            if error.url is None:
                raise BadRequestData(
                    f"invalid @context: {error.message} / 잘못된 @context: {error.message_ko}"
                ) from None
            raise LdContextNotAvailable(
                f"@context {error.url} is not a valid JSON-LD context: {error.message}"
                f" / @context {error.url}은(는) 올바른 JSON-LD 컨텍스트가 아닙니다: "
                f"{error.message_ko}"
            ) from None
        apply_processed(state, self._core, override_protected=True)
        return ActiveContext(state, source=context, url=_single_url(context), key=key)

    def _process_core(self) -> ProcessedContext:
        state = ContextState()
        apply_context(state, read_builtin(CORE_CONTEXT_FILE), _offline_only, core=True)
        return ProcessedContext(terms=dict(state.terms), vocab=state.vocab)

    def _load(self, url: str) -> Any:
        """Return the @context value (or processed core) that ``url`` names."""
        if url in CORE_CONTEXT_URLS:
            return self._core
        relative = BUILTIN_CONTEXT_FILES.get(url)
        if relative is not None:
            with self._lock:
                if relative not in self._builtin:
                    self._builtin[relative] = read_builtin(relative)
                context = self._builtin[relative]
            self.usage.cached(url, context)
            return context
        with self._lock:
            if url in self._stored:
                return self._stored[url]
            local_id = _hosted_id(url)
            if local_id is not None and local_id in self._local_ids:
                # this hub's own hosted context, named through another host name (a proxy,
                # localhost): served from the store, never fetched from ourselves
                return self._stored[self._local_ids[local_id]]
            for table in (self._configured, self._remote):
                if url in table:
                    if table is self._remote:
                        self._remote.move_to_end(url)
                    context = table[url]
                    break
            else:
                context = _MISSING
            failure = self._failures.get(url)
        if context is not _MISSING:
            self.usage.cached(url, context)
            return context
        if failure is not None and failure[0] > time.monotonic():
            raise LdContextNotAvailable(failure[1])
        if self._fetcher is None:
            raise LdContextNotAvailable(
                f"@context {url} is not known offline (network disabled)"
                f" / @context {url}은(는) 오프라인에서 알 수 없습니다(네트워크 사용 안 함)"
            )
        try:
            context = self._fetcher.fetch(url)
        except LdContextNotAvailable as error:
            with self._lock:
                self._failures[url] = (time.monotonic() + self._failure_ttl, error.detail)
            raise
        with self._lock:
            self._failures.pop(url, None)
            self._remote[url] = context
            if len(self._remote) > self._remote_cache_size:
                self._remote.popitem(last=False)
        self.usage.cached(url, context)
        return context


_MISSING = object()
# A context hosted by this hub: its URL under any host name (behind a proxy the hub has
# several), or the bare path, which JSON-LD resolves against the request's URL: this hub.
_HOSTED_PATH = re.compile(r"^(?:https?://[^/?#]+)?/ngsi-ld/v1/jsonldContexts/([0-9a-f]{32})$")


def _hosted_id(url: str) -> str | None:
    """Return the localId if ``url`` names a context hosted at ``/ngsi-ld/v1/jsonldContexts``."""
    match = _HOSTED_PATH.match(url)
    return match.group(1) if match else None


def _single_url(context: Any) -> str | None:
    """Return the one URL that names a user context (core URLs are implicit), if any."""
    if context is None:
        return CORE_CONTEXT_URL
    if isinstance(context, str):
        return context
    if isinstance(context, list):
        rest = [c for c in context if not (isinstance(c, str) and c in CORE_CONTEXT_URLS)]
        if not rest:
            return CORE_CONTEXT_URL
        if len(rest) == 1 and isinstance(rest[0], str):
            return rest[0]
    return None


def _offline_only(url: str) -> Any:
    raise ContextError(
        f"the core context must not reference {url}",
        f"핵심 컨텍스트는 {url}을(를) 참조할 수 없습니다",
    )
