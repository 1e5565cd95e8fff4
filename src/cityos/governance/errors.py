"""Complaint errors, answered as Open311 error lists (``[{"code": 400, "description": …}]``).

Every description is bilingual (English / 한국어) and says what was wrong and how to fix it.
The HTTP status is one of those GeoReport v2 names (400, 403, 404) or, for the workflow
extension, 409 (a transition the state does not allow) and 413/415 (photos).
"""

from __future__ import annotations


class ComplaintError(Exception):
    """An error a complaint route answers with an Open311 error list."""

    status = 400
    headers: dict[str, str] | None = None

    def __init__(self, detail: str, detail_ko: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.detail_ko = detail_ko

    @property
    def description(self) -> str:
        """Return the bilingual description of the error list entry."""
        return f"{self.detail} / {self.detail_ko}"


class BadRequest(ComplaintError):
    """400: a parameter is missing or wrong."""

    status = 400


class Unauthorized(ComplaintError):
    """401: a CityOS route for a person (``/complaints``) called without logging in."""

    status = 401
    headers = {"WWW-Authenticate": "Bearer"}  # noqa: RUF012


class Forbidden(ComplaintError):
    """403: no valid api_key (or token), or a caller without the role."""

    status = 403


class NotFound(ComplaintError):
    """404: no such service, request, token or jurisdiction."""

    status = 404


class Conflict(ComplaintError):
    """409: the workflow does not allow this transition from the current state."""

    status = 409


class TooLarge(ComplaintError):
    """413: a photo over the size limit."""

    status = 413


class UnsupportedMedia(ComplaintError):
    """415: a photo that is not JPEG or PNG."""

    status = 415


class Unavailable(ComplaintError):
    """503: a part this route needs (the complaint classifier) is not installed here."""

    status = 503
