"""A short-lived, per-process memory of checked credentials, so a hub GET costs no database trip.

Checking an access token means a session lookup; checking an API key, a key lookup. The hub
remembers the answer for ``CITYOS_AUTH_CACHE_SECONDS`` (10 s), never past the token's own
expiry. Logout and key revocation through this process's API forget the affected entries at
once; changes made elsewhere (another worker, the CLI disabling a user) reach the hub within
the TTL. Failed checks are never remembered.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime, timedelta

from fastapi import FastAPI

from cityos.identity.models import Principal

MAX_ENTRIES = 4096


class PrincipalCache:
    """Credential string -> (caller, valid until); bounded, thread-safe, least recently used out."""

    def __init__(self, ttl_seconds: float, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = timedelta(seconds=ttl_seconds)
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[Principal, datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, credential: str, now: datetime) -> Principal | None:
        """Return the caller remembered for ``credential`` if still fresh at ``now``."""
        entry = self._entries.get(credential)
        if entry is None:
            return None
        principal, until = entry
        if now >= until:
            with self._lock:
                self._entries.pop(credential, None)
            return None
        return principal

    def put(
        self, credential: str, principal: Principal, now: datetime, expires_at: datetime | None
    ) -> None:
        """Remember a checked caller until the TTL ends or the credential expires."""
        if self.ttl <= timedelta(0):
            return
        until = now + self.ttl
        if expires_at is not None:
            until = min(until, expires_at)
        with self._lock:
            self._entries[credential] = (principal, until)
            self._entries.move_to_end(credential)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget(
        self,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        key_id: str | None = None,
    ) -> None:
        """Drop every entry of a session, a user (all sessions) or an API key."""
        with self._lock:
            for credential, (principal, _) in list(self._entries.items()):
                if (
                    (session_id is not None and principal.session_id == session_id)
                    or (
                        user_id is not None and principal.kind == "user" and principal.id == user_id
                    )
                    or (
                        key_id is not None
                        and principal.kind == "api_key"
                        and principal.id == key_id
                    )
                ):
                    del self._entries[credential]

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()


def principal_cache(app: FastAPI) -> PrincipalCache:
    """Return the app's credential cache, made on first use from ``auth_cache_seconds``."""
    cache: PrincipalCache | None = getattr(app.state, "principal_cache", None)
    if cache is None:
        cache = PrincipalCache(app.state.settings.auth_cache_seconds)
        app.state.principal_cache = cache
    return cache
