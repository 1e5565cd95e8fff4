"""What the hub learns about @contexts while resolving them, for ``/jsonldContexts``.

GS CIM 009 v1.8, 5.13: a context the broker loaded from a URL is kept as kind ``Cached``, and
every context reports ``numberOfHits`` and ``lastUsage``. Resolution runs on the request
path, so it only notes these facts in memory (a dict update under a lock); the
``/jsonldContexts`` endpoints write them to the store (:meth:`ContextUsage.drain`) before
they answer. Facts noted by another process reach the store when that process next answers
a ``/jsonldContexts`` request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Set
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Bounds on what waits for the next /jsonldContexts request, so that a process which never
# serves one (the CLI, ingestion) cannot grow without limit: beyond them facts are dropped.
MAX_PENDING_CACHED = 1024
MAX_PENDING_HITS = 4096


@dataclass(frozen=True)
class NewCached:
    """A context first loaded from ``url`` (a document fetched, or a shipped/offline file)."""

    url: str
    context: Any
    created_at: str


@dataclass(frozen=True)
class Hits:
    """How often ``url`` was named by requests since the last drain, and when last [UTC]."""

    count: int
    last_usage: str


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="microseconds")[:-6] + "Z"


class ContextUsage:
    """Pending Cached records and hit counts of one resolver; safe to share between threads."""

    def __init__(self, ignored: Set[str] = frozenset()) -> None:
        self._lock = threading.Lock()
        self._ignored = ignored  # the core context URLs: listed apart, never recorded
        self._known: set[str] = set()  # URLs that have (or are about to have) a record
        self._new: dict[str, NewCached] = {}
        self._hits: dict[str, list[float]] = {}  # url -> [count, last use (epoch s)]

    def known(self, url: str) -> None:
        """Note that ``url`` has a record already (a stored context, or a Cached one)."""
        with self._lock:
            self._known.add(url)

    def forget(self, url: str) -> None:
        """Drop everything noted about ``url``: its record was deleted."""
        with self._lock:
            self._known.discard(url)
            self._new.pop(url, None)
            self._hits.pop(url, None)

    def cached(self, url: str, context: Any) -> None:
        """Note that ``url`` was loaded: a new Cached record unless it has one."""
        if url in self._known or url in self._ignored:  # a set lookup, no lock, per load
            return
        with self._lock:
            if url not in self._known and len(self._new) < MAX_PENDING_CACHED:
                self._known.add(url)
                self._new[url] = NewCached(url, context, _iso(time.time()))

    def hit(self, url: str) -> None:
        """Count one use of ``url`` by a request."""
        now = time.time()
        with self._lock:
            entry = self._hits.get(url)
            if entry is not None:
                entry[0] += 1
                entry[1] = now
            elif len(self._hits) < MAX_PENDING_HITS:
                self._hits[url] = [1, now]

    def drain(self) -> tuple[list[NewCached], dict[str, Hits]]:
        """Return and clear what was noted: new Cached records, then hits per URL."""
        with self._lock:
            new, self._new = list(self._new.values()), {}
            hits, self._hits = self._hits, {}
        return new, {url: Hits(int(n), _iso(last)) for url, (n, last) in hits.items()}

    def put_back(self, new: list[NewCached], hits: dict[str, Hits]) -> None:
        """Keep drained facts for the next drain (the store refused to take them now)."""
        with self._lock:
            for record in new:
                self._new.setdefault(record.url, record)
            for url, h in hits.items():
                entry = self._hits.setdefault(url, [0, time.time()])
                entry[0] += h.count
