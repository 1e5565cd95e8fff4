"""What the identity API reads and writes (pydantic): Create / Read shapes per resource."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cityos.identity.consent import Consent
from cityos.identity.models import ApiKey, Principal, Role, User
from cityos.identity.verification import Verification


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(_Schema):
    """A self-registration: the new account gets the ``citizen`` role."""

    username: str = Field(min_length=1, max_length=64, examples=["hong.gildong"])
    password: str = Field(min_length=1, max_length=1024)
    display_name: str | None = Field(default=None, max_length=200, examples=["홍길동"])


class UserRead(_Schema):
    """An account as its owner and administrators see it."""

    id: str
    username: str
    display_name: str
    roles: list[Role]
    department: str | None
    created_at: datetime
    disabled: bool

    @classmethod
    def of(cls, user: User) -> UserRead:
        """Return the public view of a user."""
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            roles=sorted(user.roles),
            department=user.department,
            created_at=user.created_at,
            disabled=user.disabled,
        )


class TokenResponse(_Schema):
    """An OAuth2 token response (RFC 6749, 5.1) with the refresh token's lifetime too."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_token: str
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires")


class LogoutRequest(_Schema):
    """Log out of this session only (default) or of every session of the account."""

    everywhere: bool = False


class KeyScopesModel(_Schema):
    """Which tenants and entity types an API key may read or write (``*`` = any)."""

    tenants: list[str] = Field(default=["*"], min_length=1)
    entity_types: list[str] = Field(default=["*"], min_length=1)
    actions: list[Literal["read", "write"]] = Field(default=["read"], min_length=1)


class ApiKeyCreate(_Schema):
    """A new API key for a developer or a device."""

    name: str = Field(min_length=1, max_length=200, examples=["bus-17 GPS"])
    role: Literal["developer", "device"]
    scopes: KeyScopesModel = Field(default_factory=KeyScopesModel)


class ApiKeyRead(_Schema):
    """An API key as listed: never the key itself."""

    id: str
    prefix: str
    name: str
    role: Role
    scopes: KeyScopesModel
    created_at: datetime
    created_by: str | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyRead:
        """Return the listing view of a key."""
        return cls(
            id=key.id,
            prefix=key.prefix,
            name=key.name,
            role=key.role,
            scopes=KeyScopesModel(**key.scopes.to_json()),  # type: ignore[arg-type]
            created_at=key.created_at,
            created_by=key.created_by,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


class ApiKeyCreated(ApiKeyRead):
    """A key just made: ``key`` is shown this once and cannot be recovered."""

    key: str


class PrincipalRead(_Schema):
    """Who the caller is (``GET /auth/me``): a user or an API key."""

    kind: Literal["user", "api_key"]
    id: str
    name: str
    roles: list[Role]
    department: str | None = None
    display_name: str | None = None
    scopes: KeyScopesModel | None = None

    @classmethod
    def of(cls, principal: Principal, user: User | None = None) -> PrincipalRead:
        """Return the view of the caller (with the account's display name for a user)."""
        key = principal.api_key
        return cls(
            kind=principal.kind,
            id=principal.id,
            name=principal.name,
            roles=sorted(principal.roles),
            department=principal.department,
            display_name=user.display_name if user else None,
            scopes=KeyScopesModel(**key.scopes.to_json()) if key else None,  # type: ignore[arg-type]
        )


class VerificationCreate(_Schema):
    """A request to be verified as a Sejong resident; evidence goes to the verifier."""

    evidence: dict[str, str] = Field(default_factory=dict, max_length=20)


class VerificationDecision(_Schema):
    """An operator's decision note (optional)."""

    note: str | None = Field(default=None, max_length=500)


class VerificationRead(_Schema):
    """A verification request and its outcome."""

    id: str
    user_id: str
    method: str
    state: Literal["pending", "approved", "rejected"]
    requested_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    note: str | None

    @classmethod
    def of(cls, request: Verification) -> VerificationRead:
        """Return the API view of a request."""
        return cls(
            id=request.id,
            user_id=request.user_id,
            method=request.method,
            state=request.state,
            requested_at=request.requested_at,
            decided_at=request.decided_at,
            decided_by=request.decided_by,
            note=request.note,
        )


class ConsentRead(_Schema):
    """One consent grant."""

    purpose: str
    version: str
    granted_at: datetime
    withdrawn_at: datetime | None

    @classmethod
    def of(cls, consent: Consent) -> ConsentRead:
        """Return the API view of a consent."""
        return cls(
            purpose=consent.purpose,
            version=consent.version,
            granted_at=consent.granted_at,
            withdrawn_at=consent.withdrawn_at,
        )
