"""Consent per purpose (PIPA art. 15, 22): granted with a version and time, withdrawable.

Processing of personal data for a purpose checks :func:`has_consent` first; withdrawing
takes effect at once. Each grant and withdrawal is also written to the audit log.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cityos.identity import audit
from cityos.identity.errors import InvalidInput, NotFound
from cityos.identity.models import consents

PURPOSE = re.compile(r"^[a-z][a-z0-9_.-]{1,99}$")


@dataclass(frozen=True)
class Consent:
    """One grant of consent for a purpose, and its withdrawal if any."""

    id: str
    user_id: str
    purpose: str
    version: str
    granted_at: datetime
    withdrawn_at: datetime | None

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> Consent:
        """Build a Consent from an ``identity_consents`` row."""
        return cls(
            id=row.id,
            user_id=row.user_id,
            purpose=row.purpose,
            version=row.version,
            granted_at=row.granted_at,
            withdrawn_at=row.withdrawn_at,
        )


def grant(
    connection: Connection, *, user_id: str, purpose: str, version: str, now: datetime
) -> Consent:
    """Record a user's consent to a purpose (e.g. ``walking_rewards``) in a policy version."""
    if not PURPOSE.match(purpose) or not version.strip() or len(version) > 40:
        raise InvalidInput(
            "A purpose is a lower-case identifier (e.g. walking_rewards) and needs a version.",
            "목적은 영문 소문자 식별자(예: walking_rewards)이며 버전이 필요합니다.",
        )
    consent_id = str(uuid.uuid4())
    connection.execute(
        sa.insert(consents).values(
            id=consent_id,
            user_id=user_id,
            purpose=purpose,
            version=version.strip(),
            granted_at=now,
        )
    )
    audit.record(
        connection,
        actor=f"user:{user_id}",
        subject=user_id,
        action="consent_granted",
        reason=purpose,
        now=now,
        detail={"version": version},
    )
    return Consent.from_row(
        connection.execute(sa.select(consents).where(consents.c.id == consent_id)).one()
    )


def withdraw(connection: Connection, *, user_id: str, purpose: str, now: datetime) -> int:
    """Withdraw every open consent of a user to a purpose; return how many there were."""
    ended = connection.execute(
        sa.update(consents)
        .where(
            consents.c.user_id == user_id,
            consents.c.purpose == purpose,
            consents.c.withdrawn_at.is_(None),
        )
        .values(withdrawn_at=now)
    ).rowcount
    if ended == 0:
        raise NotFound(
            f"There is no consent to withdraw for {purpose!r}.",
            f"{purpose!r}에 대해 철회할 동의가 없습니다.",
        )
    audit.record(
        connection,
        actor=f"user:{user_id}",
        subject=user_id,
        action="consent_withdrawn",
        reason=purpose,
        now=now,
    )
    return ended


def has_consent(connection: Connection, *, user_id: str, purpose: str) -> bool:
    """Return True while the user has an unwithdrawn consent to the purpose."""
    row = connection.execute(_OPEN_CONSENT, {"user_id": user_id, "purpose": purpose}).first()
    return row is not None


# Checked before every personal-data read or write: one compiled statement, parameters bound.
_OPEN_CONSENT = (
    sa.select(consents.c.id)
    .where(
        consents.c.user_id == sa.bindparam("user_id"),
        consents.c.purpose == sa.bindparam("purpose"),
        consents.c.withdrawn_at.is_(None),
    )
    .limit(1)
)


def history(connection: Connection, *, user_id: str) -> list[Consent]:
    """Return every grant of a user, oldest first (withdrawn ones included)."""
    query = (
        sa.select(consents)
        .where(consents.c.user_id == user_id)
        .order_by(consents.c.granted_at, consents.c.id)
    )
    return [Consent.from_row(row) for row in connection.execute(query)]
