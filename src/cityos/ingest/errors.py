"""The ingestion layer's errors, each saying what was wrong in English and Korean.

Two kinds: :class:`IngestError` refuses a provisioning or listing request (rendered as
``{"error", "detail", "detail_ko"}`` JSON like the identity routes, with its HTTP status);
:class:`Refused` refuses one device message, which then becomes a dead letter with
``reason`` (one of :data:`REASONS`) and, on the HTTP path, an error response.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

Reason = Literal[
    "malformed_payload",
    "unknown_device",
    "wrong_apikey",
    "wrong_transport",
    "unknown_attribute",
    "value_mismatch",
    "bad_timestamp",
    "bad_topic",
    "payload_too_large",
    "write_failed",
]
# Every dead-letter reason, in the order the docs list them (docs/ingest.md).
REASONS: tuple[Reason, ...] = (
    "malformed_payload",
    "unknown_device",
    "wrong_apikey",
    "wrong_transport",
    "unknown_attribute",
    "value_mismatch",
    "bad_timestamp",
    "bad_topic",
    "payload_too_large",
    "write_failed",
)
# The HTTP status a refused message gets on the HTTP path. Unknown device and wrong key
# answer alike (401), so the endpoint does not tell which device ids exist.
REASON_STATUS: dict[str, int] = {
    "malformed_payload": 400,
    "unknown_device": 401,
    "wrong_apikey": 401,
    "wrong_transport": 403,
    "unknown_attribute": 422,
    "value_mismatch": 422,
    "bad_timestamp": 422,
    "bad_topic": 400,
    "payload_too_large": 413,
    "write_failed": 503,
}


class Refused(Exception):
    """A device message CityOS cannot turn into measurements; it becomes a dead letter."""

    def __init__(self, reason: Reason, detail: str, detail_ko: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.detail_ko = detail_ko

    @property
    def status(self) -> int:
        """Return the HTTP status of this refusal on the HTTP ingestion path."""
        return REASON_STATUS[self.reason]

    def body(self) -> dict[str, Any]:
        """Return the JSON body of the HTTP answer to a refused message."""
        return {"error": self.reason, "detail": self.detail, "detail_ko": self.detail_ko}


class IngestError(Exception):
    """A provisioning or listing request the ingestion API refuses."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "invalid_request"

    def __init__(self, detail: str, detail_ko: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.detail_ko = detail_ko

    def body(self) -> dict[str, Any]:
        """Return the JSON body of this error."""
        return {"error": self.code, "detail": self.detail, "detail_ko": self.detail_ko}


class InvalidDevice(IngestError):
    """A device description breaks a rule (unknown model, attribute, value type, id)."""

    status = 422
    code = "invalid_device"


class DeviceExists(IngestError):
    """A device with this id is already provisioned."""

    status = 409
    code = "conflict"


class DeviceNotFound(IngestError):
    """No device has this id."""

    status = 404
    code = "not_found"


class IngestUnavailable(IngestError):
    """The ingestion writer is not running (the app is starting or stopping)."""

    status = 503
    code = "unavailable"
