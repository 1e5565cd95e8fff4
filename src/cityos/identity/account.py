"""A citizen's own account (PIPA art. 35-37): export everything, see who accessed what, delete.

Functions take an open ``Connection`` and work in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cityos.identity import audit, consent, service, verification
from cityos.identity.errors import Conflict
from cityos.identity.models import (
    Role,
    api_keys,
    audit_log,
    consents,
    refresh_tokens,
    sessions,
    users,
    verifications,
)
from cityos.privacy import store
from cityos.privacy.crypto import Vault

MAX_AUDIT_ENTRIES = 100_000


def export_account(
    connection: Connection, *, vault: Vault, user_id: str, actor: str, now: datetime
) -> dict[str, Any]:
    """Return everything CityOS holds about a user, as JSON-ready data (the export is audited)."""
    user = service.get_user(connection, user_id=user_id)
    personal = store.export(connection, vault=vault, user_id=user_id, actor=actor, now=now)
    return {
        "exported_at": now.isoformat(),
        "account": {
            "id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "roles": sorted(user.roles),
            "department": user.department,
            "created_at": user.created_at.isoformat(),
            "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
            "disabled": user.disabled,
        },
        "consents": [
            {
                "purpose": c.purpose,
                "version": c.version,
                "granted_at": c.granted_at.isoformat(),
                "withdrawn_at": c.withdrawn_at.isoformat() if c.withdrawn_at else None,
            }
            for c in consent.history(connection, user_id=user_id)
        ],
        "verifications": [
            {
                "method": v.method,
                "state": v.state,
                "requested_at": v.requested_at.isoformat(),
                "decided_at": v.decided_at.isoformat() if v.decided_at else None,
                "note": v.note,
            }
            for v in verification.list_verifications(connection, user_id=user_id)
        ],
        "personal_data": [record.to_json() for record in personal],
        "audit": [
            {
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "reason": e.reason,
                "detail": dict(e.detail),
            }
            for e in audit.entries(connection, subject=user_id, limit=MAX_AUDIT_ENTRIES)
        ],
    }


def _actor_view(connection: Connection, actor: str) -> dict[str, Any]:
    """Return who an audit actor is, as a citizen may see it: kind, roles and department."""
    kind, _, ident = actor.partition(":")
    if kind == "user":
        row = connection.execute(
            sa.select(users.c.roles, users.c.department).where(users.c.id == ident)
        ).first()
        if row is not None:
            return {"kind": "user", "roles": sorted(row.roles), "department": row.department}
        return {"kind": "user", "roles": [], "department": None}
    if kind == "key":
        role = connection.execute(
            sa.select(api_keys.c.role).where(api_keys.c.id == ident)
        ).scalar_one_or_none()
        return {"kind": "api_key", "roles": [role] if role else [], "department": None}
    return {"kind": actor, "roles": [], "department": None}


def access_log(connection: Connection, *, user_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """Return who processed a user's personal data, newest first (reads, writes, refusals …)."""
    query = (
        sa.select(audit_log)
        .where(
            audit_log.c.subject == user_id,
            audit_log.c.action.in_(sorted(store.ACCESS_ACTIONS)),
        )
        .order_by(audit_log.c.id.desc())
        .limit(limit)
    )
    views: dict[str, dict[str, Any]] = {}
    found = []
    for row in connection.execute(query):
        if row.actor not in views:
            views[row.actor] = _actor_view(connection, row.actor)
        found.append(
            {
                "at": row.at,
                "actor": row.actor,
                "actor_kind": views[row.actor]["kind"],
                "actor_roles": views[row.actor]["roles"],
                "actor_department": views[row.actor]["department"],
                "action": row.action,
                "reason": row.reason,
                "detail": dict(row.detail),
            }
        )
    return found


def delete_account(
    connection: Connection, *, vault: Vault, user_id: str, actor: str, now: datetime
) -> int:
    """Delete a user: personal data erased, sessions and tokens gone, the account removed.

    The audit log keeps its entries (it is append-only, and PIPA lets logs of processing be
    kept); the last one is a tombstone naming only the random user id and the pseudonym.
    Returns how many personal-data records were erased. The last enabled admin cannot go.
    """
    user = service.get_user(connection, user_id=user_id)
    if Role.ADMIN in user.roles:
        others = [
            u for u in service.list_users(connection)
            if Role.ADMIN in u.roles and not u.disabled and u.id != user_id
        ]  # fmt: skip
        if not others:
            raise Conflict(
                "The last administrator cannot delete their account; make another admin first.",
                "마지막 관리자 계정은 삭제할 수 없습니다. 먼저 다른 관리자를 만드세요.",
            )
    erased = store.erase(
        connection, vault=vault, user_id=user_id, actor=actor, reason="account deletion", now=now
    )
    session_ids = sa.select(sessions.c.id).where(sessions.c.user_id == user_id)
    connection.execute(
        sa.delete(refresh_tokens).where(refresh_tokens.c.session_id.in_(session_ids))
    )
    ended = connection.execute(sa.delete(sessions).where(sessions.c.user_id == user_id)).rowcount
    connection.execute(sa.delete(consents).where(consents.c.user_id == user_id))
    connection.execute(sa.delete(verifications).where(verifications.c.user_id == user_id))
    connection.execute(sa.delete(users).where(users.c.id == user_id))
    audit.record(
        connection,
        actor=actor,
        subject=user_id,
        action="account_deleted",
        reason="data subject request",
        now=now,
        detail={
            "tombstone": True,
            "pseudonym": vault.subject(user_id),
            "records_erased": erased,
            "sessions_ended": int(ended),
        },
    )
    return erased
