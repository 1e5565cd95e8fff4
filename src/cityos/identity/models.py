"""The identity tables (SQLAlchemy Core, mirroring migration 0002) and the records read from them.

Times are timezone-aware UTC in Python and in the database; :class:`UTCDateTime` keeps them
so on SQLite too, which has no time zone type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC (naive on SQLite, which keeps no zone)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("identity times must be timezone-aware (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return the stored instant as an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Role(StrEnum):
    """Who someone is to the city; a user may hold several roles, a key exactly one."""

    CITIZEN = "citizen"  # 시민: anyone who registered
    RESIDENT = "resident"  # 인증된 세종 주민: one person, one vote
    OPERATOR = "operator"  # 공무원, always with a department (교통과, 환경과, 보건소 …)
    ADMIN = "admin"  # 관리자
    DEVELOPER = "developer"  # open-data API user (API key)
    DEVICE = "device"  # sensor, bus, bin, meter (API key)


KEY_ROLES = frozenset({Role.DEVELOPER, Role.DEVICE})
TIME = UTCDateTime()
ID = sa.String(36)

metadata = sa.MetaData()

users = sa.Table(
    "identity_users",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("department", sa.String(100)),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("failed_logins", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", TIME),
    sa.Column("last_login_at", TIME),
)

# One login = one session; its refresh tokens rotate inside it, and revoking the session
# (logout, or a replayed refresh token) also refuses the access tokens issued in it.
sessions = sa.Table(
    "identity_sessions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("user_id", ID, sa.ForeignKey("identity_users.id", ondelete="CASCADE")),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("expires_at", TIME, nullable=False),
    sa.Column("revoked_at", TIME),
    sa.Column("revoked_reason", sa.String(40)),
)

refresh_tokens = sa.Table(
    "identity_refresh_tokens",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("session_id", ID, sa.ForeignKey("identity_sessions.id", ondelete="CASCADE")),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("expires_at", TIME, nullable=False),
    sa.Column("used_at", TIME),
    sa.Column("revoked_at", TIME),
)

api_keys = sa.Table(
    "identity_api_keys",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("prefix", sa.String(16), nullable=False, unique=True),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("created_by", ID),
    sa.Column("last_used_at", TIME),
    sa.Column("revoked_at", TIME),
)

verifications = sa.Table(
    "identity_verifications",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("user_id", ID, sa.ForeignKey("identity_users.id"), nullable=False),
    sa.Column("method", sa.String(40), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("reference", sa.String(200)),
    sa.Column("requested_at", TIME, nullable=False),
    sa.Column("decided_at", TIME),
    sa.Column("decided_by", ID),
    sa.Column("note", sa.String(500)),
)

consents = sa.Table(
    "identity_consents",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("user_id", ID, sa.ForeignKey("identity_users.id"), nullable=False),
    sa.Column("purpose", sa.String(100), nullable=False),
    sa.Column("version", sa.String(40), nullable=False),
    sa.Column("granted_at", TIME, nullable=False),
    sa.Column("withdrawn_at", TIME),
)

# Append-only: cityos.identity.audit only inserts and selects; a trigger refuses the rest.
audit_log = sa.Table(
    "identity_audit",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("at", TIME, nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("subject", ID),
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
)


@dataclass(frozen=True)
class User:
    """A person's account (never carries the password hash out of the service)."""

    id: str
    username: str
    display_name: str
    roles: frozenset[Role]
    department: str | None
    created_at: datetime
    updated_at: datetime
    disabled: bool
    failed_logins: int
    locked_until: datetime | None
    last_login_at: datetime | None

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> User:
        """Build a User from an ``identity_users`` row."""
        return cls(
            id=row.id,
            username=row.username,
            display_name=row.display_name,
            roles=frozenset(Role(r) for r in row.roles),
            department=row.department,
            created_at=row.created_at,
            updated_at=row.updated_at,
            disabled=bool(row.disabled),
            failed_logins=row.failed_logins,
            locked_until=row.locked_until,
            last_login_at=row.last_login_at,
        )


@dataclass(frozen=True)
class KeyScopes:
    """What an API key may touch: tenants, entity types (``*`` = any) and read/write."""

    tenants: frozenset[str] = frozenset({"*"})
    entity_types: frozenset[str] = frozenset({"*"})
    actions: frozenset[Literal["read", "write"]] = frozenset({"read"})

    def to_json(self) -> dict[str, list[str]]:
        """Return the scopes as stored (sorted lists)."""
        return {
            "tenants": sorted(self.tenants),
            "entity_types": sorted(self.entity_types),
            "actions": sorted(self.actions),
        }

    @classmethod
    def from_json(cls, value: dict[str, list[str]]) -> KeyScopes:
        """Build scopes from their stored form."""
        return cls(
            tenants=frozenset(value["tenants"]),
            entity_types=frozenset(value["entity_types"]),
            actions=frozenset(a for a in value["actions"] if a in ("read", "write")),  # type: ignore[misc]
        )


@dataclass(frozen=True)
class ApiKey:
    """A developer's or device's API key (the secret itself is never stored)."""

    id: str
    prefix: str
    name: str
    role: Role
    scopes: KeyScopes
    created_at: datetime
    created_by: str | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> ApiKey:
        """Build an ApiKey from an ``identity_api_keys`` row."""
        return cls(
            id=row.id,
            prefix=row.prefix,
            name=row.name,
            role=Role(row.role),
            scopes=KeyScopes.from_json(row.scopes),
            created_at=row.created_at,
            created_by=row.created_by,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


@dataclass(frozen=True)
class Principal:
    """Whoever is calling: a logged-in user (JWT) or an API key."""

    kind: Literal["user", "api_key"]
    id: str
    name: str
    roles: frozenset[Role]
    department: str | None = None
    session_id: str | None = None
    api_key: ApiKey | None = field(default=None, repr=False)

    def has_any(self, *roles: Role) -> bool:
        """Return True when the caller holds at least one of ``roles``."""
        return not self.roles.isdisjoint(roles)

    @property
    def actor(self) -> str:
        """Return how the audit log names this caller (``user:<id>`` or ``key:<id>``)."""
        return f"{'user' if self.kind == 'user' else 'key'}:{self.id}"
