"""Who may read and write which hub data: the role and scope policy, as pure functions.

The hub asks one question per request, :func:`hub_grant`: for this caller, tenant and action,
which entity types (``*`` = all) may be touched, or none at all. The answer depends only on
the caller's roles, department and API-key scopes and on settings, never on the database, so
it costs nothing per request. ``docs/security.md`` ("Hub access") is the human version.

| caller | read | write |
|---|---|---|
| anyone, logged in or not | the open-data tenant, every type | — |
| ``admin`` | every tenant and type | every tenant and type |
| ``operator`` | every tenant and type | their department's scopes (``department_scopes``) |
| ``developer``/``device`` key | scopes with ``read`` | ``device`` keys: scopes with ``write`` |
| ``citizen``, ``resident``, ``developer`` person | the open-data tenant | — |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Literal

from cityos.config import Settings, SettingsError
from cityos.identity.errors import IdentityError
from cityos.identity.keys import parse_scopes
from cityos.identity.models import KeyScopes, Principal, Role

Action = Literal["read", "write"]
EVERY_TYPE: frozenset[str] = frozenset({"*"})


def department_scopes(settings: Settings) -> dict[str, KeyScopes]:
    """Return the department table parsed into scopes; SettingsError names a bad entry."""
    return _parse_table(tuple(sorted(settings.department_scopes.items())))


@lru_cache(maxsize=8)
def _parse_table(entries: tuple[tuple[str, str], ...]) -> dict[str, KeyScopes]:
    table: dict[str, KeyScopes] = {}
    for department, text in entries:
        try:
            table[department] = parse_scopes(text)
        except IdentityError as error:
            raise SettingsError(
                f"CITYOS_DEPARTMENT_SCOPES[{department!r}]: {error.detail}"
            ) from None
    return table


def hub_grant(
    principal: Principal | None,
    *,
    tenant: str,
    action: Action,
    settings: Settings,
) -> frozenset[str] | None:
    """Return the entity types ``principal`` may ``action`` in ``tenant`` (``{"*"}``: all).

    None means nothing at all: the request is refused (401 if anonymous, else 403). Type
    names are returned as written in scopes (core-context terms or IRIs).
    """
    open_read = (
        action == "read"
        and bool(settings.open_data_tenant)
        and (tenant == settings.open_data_tenant)
    )
    if open_read:
        return EVERY_TYPE
    if principal is None:
        return None
    if principal.api_key is not None:
        key = principal.api_key
        if action == "write" and key.role != Role.DEVICE:
            return None  # developer keys are for reading open data, whatever their scopes
        return _scoped_types(key.scopes, tenant, action, revoked=key.revoked_at is not None)
    if Role.ADMIN in principal.roles:
        return EVERY_TYPE
    if Role.OPERATOR in principal.roles:
        if action == "read":
            return EVERY_TYPE
        scopes = department_scopes(settings).get(principal.department or "")
        if scopes is None:
            return None
        return _scoped_types(scopes, tenant, action, revoked=False)
    return None


def _scoped_types(
    scopes: KeyScopes, tenant: str, action: Action, *, revoked: bool
) -> frozenset[str] | None:
    """Return the types scopes allow in a tenant for an action, or None."""
    if revoked or action not in scopes.actions:
        return None
    if "*" not in scopes.tenants and tenant not in scopes.tenants:
        return None
    return EVERY_TYPE if "*" in scopes.entity_types else frozenset(scopes.entity_types)


def types_allowed(
    granted: frozenset[str],
    entity_types: Iterable[str],
    expand: Mapping[str, str] | None = None,
    *,
    every: bool,
) -> bool:
    """Return True when the granted types cover an entity's expanded types.

    ``expand`` maps each granted term to its IRI (under the core context), so a scope
    written ``Vehicle`` covers ``https://uri.etsi.org/ngsi-ld/default-context/Vehicle``.
    ``every``: all the entity's types must be granted (writes); else one suffices (reads).
    """
    if "*" in granted:
        return True
    allowed = set(granted) | {expand[t] for t in granted if expand and t in expand}
    types = list(entity_types)
    if not types:
        return False
    hits = [t in allowed for t in types]
    return all(hits) if every else any(hits)
