"""Resident verification (거주 인증): a pluggable verifier, and the requests it decides.

A deployment plugs in the national identity-verification service as a
:class:`ResidentVerifier`; CityOS ships :class:`DevelopmentVerifier`, with which every
request waits until an operator (or admin) approves or rejects it. The method, state,
decider and times of every request are recorded; approval gives the user the ``resident``
role.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cityos.identity import audit, service
from cityos.identity.errors import Conflict, Forbidden, NotFound
from cityos.identity.models import Principal, Role, User, verifications

State = Literal["pending", "approved", "rejected"]


@dataclass(frozen=True)
class VerifierAnswer:
    """A verifier's first answer: decided now, or pending (with the service's reference)."""

    state: State
    reference: str | None = None


class ResidentVerifier(Protocol):
    """Anything that can start verifying that a user lives in Sejong."""

    method: str  # recorded with each request, e.g. "development", "pass", "mobile-id"

    def begin(self, *, user: User, evidence: Mapping[str, str]) -> VerifierAnswer:
        """Start verifying ``user`` with what they submitted; return the first answer."""
        ...


class DevelopmentVerifier:
    """Leaves every request pending until an operator approves it (for development and pilots)."""

    method = "development"

    def begin(self, *, user: User, evidence: Mapping[str, str]) -> VerifierAnswer:
        """Return pending: a person decides."""
        return VerifierAnswer(state="pending")


@dataclass(frozen=True)
class Verification:
    """One resident-verification request and its outcome."""

    id: str
    user_id: str
    method: str
    state: State
    reference: str | None
    requested_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    note: str | None

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> Verification:
        """Build a Verification from an ``identity_verifications`` row."""
        return cls(
            id=row.id,
            user_id=row.user_id,
            method=row.method,
            state=row.state,
            reference=row.reference,
            requested_at=row.requested_at,
            decided_at=row.decided_at,
            decided_by=row.decided_by,
            note=row.note,
        )


def request_verification(
    connection: Connection,
    *,
    user_id: str,
    verifier: ResidentVerifier,
    now: datetime,
    evidence: Mapping[str, str] | None = None,
) -> Verification:
    """Ask ``verifier`` to verify a user; an immediate approval grants ``resident`` at once."""
    user = service.get_user(connection, user_id=user_id)
    if Role.RESIDENT in user.roles:
        raise Conflict("You are already a verified resident.", "이미 거주 인증을 받았습니다.")
    pending = connection.execute(
        sa.select(verifications.c.id).where(
            verifications.c.user_id == user_id, verifications.c.state == "pending"
        )
    ).first()
    if pending is not None:
        raise Conflict(
            "A verification request is already waiting for a decision.",
            "이미 처리를 기다리는 거주 인증 요청이 있습니다.",
        )
    answer = verifier.begin(user=user, evidence=evidence or {})
    request_id = str(uuid.uuid4())
    decided = answer.state != "pending"
    connection.execute(
        sa.insert(verifications).values(
            id=request_id,
            user_id=user_id,
            method=verifier.method,
            state=answer.state,
            reference=answer.reference,
            requested_at=now,
            decided_at=now if decided else None,
            decided_by=f"verifier:{verifier.method}" if decided else None,
        )
    )
    audit.record(
        connection,
        actor=f"user:{user_id}",
        subject=user_id,
        action="verification_requested",
        reason="resident verification",
        now=now,
        detail={"request": request_id, "method": verifier.method, "state": answer.state},
    )
    if answer.state == "approved":
        service.add_role(connection, user_id=user_id, role=Role.RESIDENT, now=now)
    return get_verification(connection, request_id=request_id)


def decide_verification(
    connection: Connection,
    *,
    request_id: str,
    approve: bool,
    decided_by: Principal,
    now: datetime,
    note: str | None = None,
) -> Verification:
    """Approve or reject a pending request as an operator or admin (never one's own)."""
    if not decided_by.has_any(Role.OPERATOR, Role.ADMIN) or decided_by.kind != "user":
        raise Forbidden(
            "Only an operator or an administrator decides resident verification.",
            "거주 인증은 공무원 또는 관리자만 결정할 수 있습니다.",
        )
    request = get_verification(connection, request_id=request_id)
    if request.user_id == decided_by.id:
        raise Forbidden(
            "Nobody may decide their own verification request.",
            "자신의 거주 인증 요청은 직접 결정할 수 없습니다.",
        )
    state: State = "approved" if approve else "rejected"
    changed = connection.execute(
        sa.update(verifications)
        .where(verifications.c.id == request_id, verifications.c.state == "pending")
        .values(state=state, decided_at=now, decided_by=decided_by.id, note=note)
    ).rowcount
    if changed != 1:
        raise Conflict(
            f"This request was already decided ({request.state}).",
            f"이미 결정된 요청입니다 ({request.state}).",
        )
    audit.record(
        connection,
        actor=decided_by.actor,
        subject=request.user_id,
        action=f"verification_{state}",
        reason="resident verification",
        now=now,
        detail={"request": request_id, "method": request.method, "note": note},
    )
    if approve:
        service.add_role(connection, user_id=request.user_id, role=Role.RESIDENT, now=now)
    return get_verification(connection, request_id=request_id)


def get_verification(connection: Connection, *, request_id: str) -> Verification:
    """Return a verification request or raise NotFound."""
    row = connection.execute(
        sa.select(verifications).where(verifications.c.id == request_id)
    ).first()
    if row is None:
        raise NotFound("No such verification request.", "해당 거주 인증 요청이 없습니다.")
    return Verification.from_row(row)


def list_verifications(
    connection: Connection, *, state: State | None = None, user_id: str | None = None
) -> list[Verification]:
    """Return requests, oldest first, optionally of one state or one user."""
    query = sa.select(verifications).order_by(verifications.c.requested_at, verifications.c.id)
    if state is not None:
        query = query.where(verifications.c.state == state)
    if user_id is not None:
        query = query.where(verifications.c.user_id == user_id)
    return [Verification.from_row(row) for row in connection.execute(query)]
