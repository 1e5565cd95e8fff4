"""Errors of polls and proposals: the identity layer's bilingual errors, with codes of their own.

They subclass :class:`cityos.identity.errors.IdentityError`, so routes built with
``IdentityRoute`` render them as ``{"error", "detail", "detail_ko"}`` with their status.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import OperationalError

from cityos.identity.errors import Conflict, Forbidden, IdentityError, NotFound

__all__ = [
    "BadInput",
    "Conflict",
    "Forbidden",
    "NotFound",
    "NotResident",
    "OutsideSejong",
    "PollClosed",
    "AlreadyDone",
]


class BadInput(IdentityError):
    """A value breaks a rule of polls or proposals (400)."""

    status = 400
    code = "invalid_request"


class OutsideSejong(BadInput):
    """A point on the map lies outside Sejong's 24 eup/myeon/dong."""

    code = "outside_sejong"


class NotResident(Forbidden):
    """The caller is not a verified resident (or not of the poll's zones)."""

    code = "not_verified_resident"


class PollClosed(Conflict):
    """The poll is not open (not yet, or no longer)."""

    code = "poll_not_open"


class AlreadyDone(Conflict):
    """A second vote, support or report by the same person."""

    code = "already_done"


class TooLarge(IdentityError):
    """An upload is larger than its limit."""

    status = 413
    code = "payload_too_large"


class UnsupportedMedia(IdentityError):
    """An upload of a type that is not accepted."""

    status = 415
    code = "unsupported_media_type"


class Busy(IdentityError):
    """The database stayed locked by other writers past its wait (SQLite); try again."""

    status = 503
    code = "temporarily_unavailable"


@contextmanager
def busy_as_503() -> Iterator[None]:
    """Turn SQLite's "database is locked" (after its 5 s wait) into a 503 with Retry-After."""
    try:
        yield
    except OperationalError as exc:
        text = str(exc.orig).lower()
        if "locked" not in text and "busy" not in text:
            raise
        raise Busy(
            "Many people are writing at this moment; nothing was saved. Try again in a second.",
            "지금 요청이 몰려 저장하지 못했습니다. 잠시 후 다시 시도하세요.",
            headers={"Retry-After": "1"},
        ) from exc
