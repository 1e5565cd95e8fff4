"""The hub's exception hierarchy, one class per NGSI-LD error type (GS CIM 009, 5.5.2).

Every error carries the ProblemDetails fields (RFC 7807) the API returns; the mapping to
HTTP happens once, in ``cityos.hub.api``.
"""

from __future__ import annotations

from typing import Any, ClassVar

ERRORS_BASE = "https://uri.etsi.org/ngsi-ld/errors/"


class HubError(Exception):
    """A request the hub refuses; rendered as NGSI-LD ProblemDetails."""

    error_type: ClassVar[str] = "InternalError"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, *, instance: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.instance = instance
        self.headers: dict[str, str] = {}  # extra response headers (WWW-Authenticate)

    @property
    def type_uri(self) -> str:
        """Return the full NGSI-LD error type URI."""
        return ERRORS_BASE + self.error_type

    def problem(self) -> dict[str, Any]:
        """Return the ProblemDetails body for this error."""
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.instance is not None:
            body["instance"] = self.instance
        return body


class InternalError(HubError):
    """The broker failed in a way the client could not have caused."""


class InvalidRequest(HubError):
    """The request is not well formed (bad JSON, bad parameter syntax)."""

    error_type = "InvalidRequest"
    status = 400
    title = "Invalid request"


class BadRequestData(HubError):
    """The request is well formed but its content breaks an NGSI-LD rule."""

    error_type = "BadRequestData"
    status = 400
    title = "Bad request data"


class AlreadyExists(HubError):
    """An entity (or context, subscription …) with that id already exists."""

    error_type = "AlreadyExists"
    status = 409
    title = "Already exists"


class OperationNotSupported(HubError):
    """The operation is understood but not supported (by this resource or broker)."""

    error_type = "OperationNotSupported"
    status = 422
    title = "Operation not supported"


class ResourceNotFound(HubError):
    """The entity, attribute, type or context asked for does not exist."""

    error_type = "ResourceNotFound"
    status = 404
    title = "Resource not found"


class NonexistentTenant(HubError):
    """The tenant named in ``NGSILD-Tenant`` has never been written to."""

    error_type = "NonexistentTenant"
    status = 404
    title = "Nonexistent tenant"


class TooComplexQuery(HubError):
    """The query is too complex to be answered."""

    error_type = "TooComplexQuery"
    status = 403
    title = "Too complex query"


class TooManyResults(HubError):
    """The query would return more results than the broker permits in one response."""

    error_type = "TooManyResults"
    status = 403
    title = "Too many results"


class LdContextNotAvailable(HubError):
    """A JSON-LD @context named by the request could not be retrieved."""

    error_type = "LdContextNotAvailable"
    status = 503
    title = "JSON-LD context not available"


class LdContextNotReloaded(LdContextNotAvailable):
    """A Cached @context could not be fetched again (DELETE ?reload=true, GS CIM 009 5.13.5)."""

    status = 504
    title = "JSON-LD context not reloaded"


class NotAcceptable(HubError):
    """No representation the client accepts can be produced (HTTP 406)."""

    error_type = "NotAcceptable"
    status = 406
    title = "Not acceptable"


class UnsupportedMediaType(HubError):
    """The request body's media type is not one the hub reads (HTTP 415)."""

    error_type = "UnsupportedMediaType"
    status = 415
    title = "Unsupported media type"


class PayloadTooLarge(HubError):
    """The request body is larger than the configured limit (HTTP 413)."""

    error_type = "PayloadTooLarge"
    status = 413
    title = "Payload too large"


class Conflict(HubError):
    """The change conflicts with the current state of the resource."""

    error_type = "Conflict"
    status = 409
    title = "Conflict"


class Unauthorized(HubError):
    """The request needs a token or API key and came without a valid one (HTTP 401)."""

    error_type = "Unauthorized"
    status = 401
    title = "Unauthorized"

    def __init__(self, detail: str, *, instance: str | None = None, error: str | None = None):
        super().__init__(detail, instance=instance)
        challenge = 'Bearer realm="cityos"'
        if error is not None:  # RFC 6750, 3: say why a presented token was refused
            challenge += f', error="{error}"'
        self.headers = {"WWW-Authenticate": challenge}


class Forbidden(HubError):
    """The caller is known but its role or scopes do not cover the request (HTTP 403)."""

    error_type = "Forbidden"
    status = 403
    title = "Forbidden"
