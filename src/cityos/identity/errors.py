"""The identity layer's exception hierarchy; each error says what went wrong in English and Korean.

Every error carries an HTTP status, an OAuth2-style ``error`` code (RFC 6749, 5.2, where one
fits) and the headers its response needs. ``cityos.identity.api`` renders them as
``{"error": ..., "detail": ..., "detail_ko": ...}``; the hub maps them to NGSI-LD
ProblemDetails when it starts enforcing authentication.
"""

from __future__ import annotations

from typing import Any, ClassVar


class IdentityError(Exception):
    """A request the identity layer refuses."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "invalid_request"

    def __init__(self, detail: str, detail_ko: str, *, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.detail_ko = detail_ko
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """Return the JSON body for this error."""
        return {"error": self.code, "detail": self.detail, "detail_ko": self.detail_ko}


class MalformedRequest(IdentityError):
    """The request cannot be read (wrong content type, undecodable form, repeated field)."""


class UnsupportedGrant(IdentityError):
    """``POST /auth/token`` got a grant type other than password or refresh_token."""

    code = "unsupported_grant_type"


class InvalidInput(IdentityError):
    """The request is malformed or a value breaks a rule (a short password, a bad scope)."""

    status = 422


class AuthenticationRequired(IdentityError):
    """No usable credential came with a request that needs one."""

    status = 401
    code = "invalid_token"

    def __init__(self, detail: str, detail_ko: str, *, headers: dict[str, str] | None = None):
        super().__init__(
            detail,
            detail_ko,
            headers={"WWW-Authenticate": 'Bearer realm="cityos"'} | (headers or {}),
        )


class InvalidToken(AuthenticationRequired):
    """A bearer token or API key is unknown, expired, revoked or forged."""


class InvalidCredentials(AuthenticationRequired):
    """A username and password (or a refresh token) do not match."""

    code = "invalid_grant"


class Forbidden(IdentityError):
    """The caller is known but its roles or scopes do not allow the action."""

    status = 403
    code = "insufficient_scope"


class AccountDisabled(Forbidden):
    """The account exists but an administrator has disabled it."""

    code = "account_disabled"


class NotFound(IdentityError):
    """The user, key or verification request does not exist."""

    status = 404
    code = "not_found"


class Conflict(IdentityError):
    """The action clashes with what exists (a taken username, a pending request)."""

    status = 409
    code = "conflict"


class AccountLocked(IdentityError):
    """Too many failed logins: the account is locked until a time (sent as Retry-After)."""

    status = 423
    code = "account_locked"
