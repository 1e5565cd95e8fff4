"""API keys for developers and devices: ``cityos_<prefix>_<secret>``, shown once, stored hashed.

The prefix (12 hex digits) is stored in clear to find the key and to show it in listings;
only the SHA-256 digest of the whole key is kept. Scopes say which tenants, entity types and
actions (read, write) a key may use; :func:`key_allows` decides, as a pure function.
"""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cityos.identity import audit
from cityos.identity.errors import InvalidInput, InvalidToken, NotFound
from cityos.identity.models import KEY_ROLES, ApiKey, KeyScopes, Principal, Role, api_keys
from cityos.identity.tokens import token_digest

KEY_PREFIX = "cityos_"
_KEY = re.compile(r"^cityos_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
# Writing last-used time on every request would turn each read into a write; once a minute
# is precise enough to tell a live key from a forgotten one.
LAST_USED_RESOLUTION = timedelta(minutes=1)
ACTIONS = ("read", "write")


def new_api_key() -> tuple[str, str]:
    """Return a new key and its public prefix: ``cityos_<12 hex>_<43 url-safe chars>``."""
    prefix = secrets.token_hex(6)
    return f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", prefix


def key_allows(
    key: ApiKey, tenant: str, entity_type: str, action: Literal["read", "write"]
) -> bool:
    """Return True when an unrevoked key's scopes cover this tenant, entity type and action.

    Tenants and entity types match exactly (the caller passes them in the form the key's
    scopes were written in) or through ``*``.
    """
    scopes = key.scopes
    return (
        key.revoked_at is None
        and action in scopes.actions
        and ("*" in scopes.tenants or tenant in scopes.tenants)
        and ("*" in scopes.entity_types or entity_type in scopes.entity_types)
    )


def parse_scopes(text: str | None) -> KeyScopes:
    """Parse ``tenants=a,b;types=T1,T2;actions=read,write`` (any part may be left out).

    Missing parts default to every tenant, every entity type, read only.
    """
    if text is None or not text.strip():
        return KeyScopes()
    parts: dict[str, frozenset[str]] = {}
    for chunk in re.split(r"[;\s]+", text.strip()):
        if not chunk:
            continue
        name, sep, values = chunk.partition("=")
        name = {"types": "entity_types", "entity_types": "entity_types"}.get(name, name)
        items = frozenset(v for v in values.split(",") if v)
        if not sep or name not in ("tenants", "entity_types", "actions") or not items:
            raise InvalidInput(
                f"Scopes look like 'tenants=a,b;types=T1,T2;actions=read,write' (got {chunk!r}).",
                f"범위는 'tenants=a,b;types=T1,T2;actions=read,write' 형식이어야 합니다 "
                f"(입력: {chunk!r}).",
            )
        parts[name] = items
    return make_scopes(
        tenants=parts.get("tenants", {"*"}),
        entity_types=parts.get("entity_types", {"*"}),
        actions=parts.get("actions", {"read"}),
    )


def make_scopes(
    *, tenants: Iterable[str], entity_types: Iterable[str], actions: Iterable[str]
) -> KeyScopes:
    """Return checked scopes (non-empty lists; actions only read and write)."""
    tenant_set, type_set, action_set = (
        frozenset(tenants),
        frozenset(entity_types),
        frozenset(actions),
    )
    if not tenant_set or not type_set or not action_set or not action_set <= set(ACTIONS):
        raise InvalidInput(
            "Scopes need at least one tenant, one entity type and actions from read, write.",
            "범위에는 테넌트와 엔터티 유형이 하나 이상, 동작은 read 또는 write가 필요합니다.",
        )
    return KeyScopes(tenants=tenant_set, entity_types=type_set, actions=action_set)  # type: ignore[arg-type]


def create_api_key(
    connection: Connection,
    *,
    name: str,
    role: Role,
    scopes: KeyScopes,
    actor: str,
    now: datetime,
    created_by: str | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key's digest and return the record with the key itself (shown once)."""
    if role not in KEY_ROLES:
        raise InvalidInput(
            "An API key's role is 'developer' or 'device'.",
            "API 키의 역할은 'developer' 또는 'device'입니다.",
        )
    if not name.strip() or len(name) > 200:
        raise InvalidInput(
            "An API key needs a name of 1-200 characters.", "API 키 이름은 1~200자여야 합니다."
        )
    key, prefix = new_api_key()
    key_id = str(uuid.uuid4())
    connection.execute(
        sa.insert(api_keys).values(
            id=key_id,
            prefix=prefix,
            key_hash=token_digest(key),
            name=name.strip(),
            role=role.value,
            scopes=scopes.to_json(),
            created_at=now,
            created_by=created_by,
        )
    )
    audit.record(
        connection,
        actor=actor,
        action="api_key_created",
        reason="key management",
        now=now,
        detail={"key": key_id, "prefix": prefix, "role": role.value, "scopes": scopes.to_json()},
    )
    return get_api_key(connection, key_id=key_id), key


def get_api_key(connection: Connection, *, key_id: str) -> ApiKey:
    """Return the key with this id (or prefix) or raise NotFound."""
    row = connection.execute(
        sa.select(api_keys).where(sa.or_(api_keys.c.id == key_id, api_keys.c.prefix == key_id))
    ).first()
    if row is None:
        raise NotFound("No such API key.", "해당 API 키가 없습니다.")
    return ApiKey.from_row(row)


def list_api_keys(connection: Connection, *, include_revoked: bool = True) -> list[ApiKey]:
    """Return the keys, oldest first."""
    query = sa.select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
    if not include_revoked:
        query = query.where(api_keys.c.revoked_at.is_(None))
    return [ApiKey.from_row(row) for row in connection.execute(query)]


def revoke_api_key(connection: Connection, *, key_id: str, actor: str, now: datetime) -> ApiKey:
    """Revoke a key (by id or prefix) from now on and return it; revoking twice is harmless."""
    key = get_api_key(connection, key_id=key_id)
    if key.revoked_at is None:
        connection.execute(
            sa.update(api_keys).where(api_keys.c.id == key.id).values(revoked_at=now)
        )
        audit.record(
            connection,
            actor=actor,
            action="api_key_revoked",
            reason="key management",
            now=now,
            detail={"key": key.id, "prefix": key.prefix},
        )
    return get_api_key(connection, key_id=key.id)


def principal_for_api_key(connection: Connection, *, key: str, now: datetime) -> Principal:
    """Return the caller behind a valid, unrevoked API key and note when it was used."""
    refused = InvalidToken("The API key is not valid.", "API 키가 유효하지 않습니다.")
    match = _KEY.match(key.strip())
    if match is None:
        raise refused
    row = connection.execute(sa.select(api_keys).where(api_keys.c.prefix == match.group(1))).first()
    if row is None or not hmac.compare_digest(row.key_hash, token_digest(key.strip())):
        raise refused
    record = ApiKey.from_row(row)
    if record.revoked_at is not None:
        raise InvalidToken("The API key has been revoked.", "폐기된 API 키입니다.")
    if record.last_used_at is None or now - record.last_used_at >= LAST_USED_RESOLUTION:
        connection.execute(
            sa.update(api_keys).where(api_keys.c.id == record.id).values(last_used_at=now)
        )
        record = get_api_key(connection, key_id=record.id)
    return Principal(
        kind="api_key",
        id=record.id,
        name=record.name,
        roles=frozenset({record.role}),
        api_key=record,
    )
