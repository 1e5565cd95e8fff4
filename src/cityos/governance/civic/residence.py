"""Residents' home zones (거주 동): who may vote in a zone's poll and support its proposals.

Identity's resident verification (``cityos.identity.verification``) says *that* someone lives
in Sejong (the ``resident`` role); it does not say where. Here an operator records the
eup/myeon/dong a verified resident lives in, from the evidence seen at verification (the
address on 주민등록증 / 주민등록등본, or the national verification service's answer). A
**verified resident** for polls and proposals is a user with the ``resident`` role *and* a
home zone. Every change is in the identity audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cityos.governance.civic.errors import BadInput, Conflict, Forbidden, NotFound, NotResident
from cityos.governance.civic.models import residences
from cityos.governance.civic.zones import get_zone
from cityos.identity import audit, service
from cityos.identity.models import Principal, Role


@dataclass(frozen=True)
class Residence:
    """A verified resident's home zone."""

    user_id: str
    zone_code: str
    method: str
    verified_by: str
    verified_at: datetime


def set_residence(
    connection: Connection,
    *,
    user_id: str,
    zone_code: str,
    operator: Principal,
    now: datetime,
    note: str | None = None,
) -> Residence:
    """Record (or move) a verified resident's home zone, as an operator or admin."""
    if operator.kind != "user" or not operator.has_any(Role.OPERATOR, Role.ADMIN):
        raise Forbidden(
            "Only an operator or an administrator records a resident's home zone.",
            "주민의 거주 동은 공무원 또는 관리자만 기록할 수 있습니다.",
        )
    if operator.id == user_id:
        raise Forbidden(
            "Nobody may record their own home zone.", "자신의 거주 동은 직접 기록할 수 없습니다."
        )
    if get_zone(zone_code) is None:
        raise BadInput(
            f"Unknown zone code {zone_code!r}: use one of the 24 codes of GET /api/v1/zones.",
            f"알 수 없는 행정구역 코드 {zone_code!r}입니다. "
            "GET /api/v1/zones의 24개 코드 중 하나를 쓰세요.",
        )
    user = service.get_user(connection, user_id=user_id)  # NotFound if absent
    if Role.RESIDENT not in user.roles:
        raise Conflict(
            "This user is not a verified resident yet: approve their resident verification first.",
            "아직 거주 인증을 받지 않은 사용자입니다. 먼저 거주 인증을 승인하세요.",
        )
    values = {
        "zone_code": zone_code,
        "method": "operator",
        "verified_by": operator.id,
        "verified_at": now,
        "note": note,
    }
    updated = connection.execute(
        sa.update(residences).where(residences.c.user_id == user_id).values(**values)
    ).rowcount
    if updated == 0:
        connection.execute(sa.insert(residences).values(user_id=user_id, **values))
    audit.record(
        connection,
        actor=operator.actor,
        subject=user_id,
        action="residence_recorded",
        reason="home zone for polls and proposals",
        now=now,
        detail={"zone_code": zone_code},
    )
    return get_residence(connection, user_id=user_id)


def get_residence(connection: Connection, *, user_id: str) -> Residence:
    """Return a user's recorded home zone or raise NotFound."""
    row = connection.execute(sa.select(residences).where(residences.c.user_id == user_id)).first()
    if row is None:
        raise NotFound(
            "No home zone is recorded for this user.",
            "이 사용자의 거주 동이 기록되어 있지 않습니다.",
        )
    return Residence(row.user_id, row.zone_code, row.method, row.verified_by, row.verified_at)


def resident_zone(connection: Connection, principal: Principal) -> str:
    """Return the caller's home zone, or refuse (403) anyone who is not a verified resident."""
    if principal.kind != "user" or Role.RESIDENT not in principal.roles:
        raise NotResident(
            "Only verified residents of Sejong may do this: request resident verification "
            "(POST /auth/verifications) first.",
            "세종시 거주 인증을 받은 주민만 할 수 있습니다. 먼저 거주 인증을 요청하세요"
            "(POST /auth/verifications).",
        )
    zone = connection.execute(
        sa.select(residences.c.zone_code).where(residences.c.user_id == principal.id)
    ).scalar()
    if zone is None:
        raise NotResident(
            "Your home zone (동) is not recorded yet; an operator records it when verifying you.",
            "거주 동이 아직 기록되지 않았습니다. 거주 인증 시 공무원이 기록합니다.",
        )
    return str(zone)
