"""Records of ``/jsonldContexts`` (GS CIM 009 v1.8, 5.13): kinds, core entry, usage sync."""

from __future__ import annotations

import contextlib
import functools
import uuid
from typing import Any

from cityos.hub._context_sources import CORE_CONTEXT_FILE, read_builtin
from cityos.hub._time import utc_now
from cityos.hub.context import CORE_CONTEXT_URL, ContextResolver
from cityos.hub.errors import AlreadyExists
from cityos.hub.store.base import HubStore

HOSTED = "Hosted"  # added through POST /jsonldContexts
CACHED = "Cached"  # loaded by the hub from its URL (fetched, or a shipped/offline copy)
IMPLICIT = "ImplicitlyCreated"  # made by the hub from an inline @context it must keep
KINDS = (HOSTED, CACHED, IMPLICIT)
CORE_ID = "ngsi-ld-core"
PATH = "/ngsi-ld/v1/jsonldContexts/"
_STARTED = utc_now()


def core_record() -> dict[str, Any]:
    """Return the core context's entry: a Cached one that cannot be deleted, only reloaded."""
    return {
        "id": CORE_ID,
        "url": CORE_CONTEXT_URL,
        "kind": CACHED,
        "body": _core_body(),
        "createdAt": _STARTED,  # the hub keeps no copy of its own: loaded when it started
        "lastUsage": None,
        "numberOfHits": 0,
    }


@functools.cache
def _core_body() -> dict[str, Any]:
    return {"@context": read_builtin(CORE_CONTEXT_FILE)}


def sync_usage(store: HubStore, resolver: ContextResolver) -> None:
    """Write what resolution noted to the store: new Cached records, then hit counts."""
    new, hits = resolver.usage.drain()
    if not new and not hits:
        return
    try:
        for record in new:
            with contextlib.suppress(AlreadyExists):  # another process recorded it first
                store.put_context(
                    {
                        "id": uuid.uuid4().hex,
                        "url": record.url,
                        "kind": CACHED,
                        "body": {"@context": record.context},
                        "createdAt": record.created_at,
                    }
                )
        if hits:
            store.count_context_hits({u: (h.count, h.last_usage) for u, h in hits.items()})
    except Exception:
        resolver.usage.put_back(new, hits)
        raise


def hosted_url(base_url: str, local_id: str) -> str:
    """Return the URL at which this hub serves the context ``local_id``."""
    return f"{base_url.rstrip('/')}{PATH}{local_id}"


def create_implicit(
    store: HubStore, resolver: ContextResolver, base_url: str, context: Any, *, tenant: str
) -> str:
    """Keep an inline @context as an ImplicitlyCreated record of ``tenant``; return its URL.

    The request that made it used it once: it starts with one hit.
    """
    local_id = uuid.uuid4().hex
    url = hosted_url(base_url, local_id)
    body = {"@context": context}
    resolver.add_stored(url, body)
    record = {
        "id": local_id,
        "url": url,
        "kind": IMPLICIT,
        "body": body,
        "createdAt": utc_now(),
        "tenant": tenant,
    }
    try:
        store.put_context(record)
    except Exception:
        resolver.remove_stored(url)
        raise
    resolver.usage.hit(url)
    return url
