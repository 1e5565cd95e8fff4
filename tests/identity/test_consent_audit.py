"""Consent per purpose and the append-only audit log (a trigger refuses UPDATE and DELETE)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError

from cityos.identity import audit, consent, service
from cityos.identity.models import audit_log
from tests.identity.conftest import Clock, bearer, login


def test_consent_withdrawal_stops_processing(
    api: TestClient, make_user: Callable[..., str], engine: Engine
) -> None:
    name = make_user()
    headers = bearer(login(api, name))
    given = api.post(
        "/auth/me/consents",
        headers=headers,
        json={"purpose": "walking_rewards", "version": "2026-11"},
    )
    assert given.status_code == 201, given.text
    with engine.connect() as connection:
        user = service.get_user_by_username(connection, username=name)
        assert user is not None
        assert consent.has_consent(connection, user_id=user.id, purpose="walking_rewards")
    assert api.delete("/auth/me/consents/walking_rewards", headers=headers).status_code == 204
    with engine.connect() as connection:
        assert not consent.has_consent(connection, user_id=user.id, purpose="walking_rewards")
    history = api.get("/auth/me/consents", headers=headers).json()
    assert [(c["purpose"], c["withdrawn_at"] is not None) for c in history] == [
        ("walking_rewards", True)
    ]
    assert api.delete("/auth/me/consents/walking_rewards", headers=headers).status_code == 404
    bad = api.post(
        "/auth/me/consents", headers=headers, json={"purpose": "Bad Purpose!", "version": "1"}
    )
    assert bad.status_code == 422


def test_a_user_sees_who_touched_their_account(
    api: TestClient, make_user: Callable[..., str]
) -> None:
    headers = bearer(login(api, make_user()))
    entries = api.get("/auth/me/audit", headers=headers).json()
    actions = [e["action"] for e in entries]
    assert actions[:2] == ["login", "user_created"]  # newest first
    assert all(e["at"] and e["actor"] and e["reason"] for e in entries)


def test_audit_entries_record_who_whose_what_when_why(engine: Engine, clock: Clock) -> None:
    with engine.begin() as connection:
        audit.record(
            connection,
            actor="user:operator-1",
            subject="user:citizen-9",
            action="health_read",
            reason="응급 이송 확인",
            now=clock.now,
            detail={"record": "h-1"},
        )
    with engine.connect() as connection:
        entry = audit.entries(connection, subject="user:citizen-9")[0]
    assert (entry.actor, entry.action, entry.reason, entry.at) == (
        "user:operator-1",
        "health_read",
        "응급 이송 확인",
        clock.now,
    )
    assert entry.detail == {"record": "h-1"}


@pytest.mark.parametrize(
    "statement",
    [sa.update(audit_log).values(reason="tampered"), sa.delete(audit_log)],
    ids=["update", "delete"],
)
def test_the_database_refuses_to_change_the_audit_log(
    engine: Engine, clock: Clock, statement: sa.Executable
) -> None:
    with engine.begin() as connection:
        audit.record(connection, actor="system", action="probe", reason="test", now=clock.now)
        before = connection.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar()
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
        connection.execute(statement)
    with engine.connect() as connection:
        after = connection.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar()
        assert (
            connection.execute(
                sa.select(audit_log.c.id).where(audit_log.c.reason == "tampered")
            ).first()
            is None
        )
    assert after == before


def test_the_guard_also_covers_truncate_and_is_installed(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
            connection.execute(sa.text("TRUNCATE identity_audit"))
    else:  # SQLite has no TRUNCATE; its DELETE trigger covers "DELETE FROM" without WHERE
        with engine.connect() as connection:
            names = connection.execute(
                sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ).scalars()
            assert {"identity_audit_no_update", "identity_audit_no_delete"} <= set(names)


def test_the_code_has_no_path_that_changes_the_audit_log() -> None:
    from pathlib import Path

    import cityos.identity

    package = Path(cityos.identity.__file__).parent
    for module in package.glob("*.py"):
        text = module.read_text()
        assert "update(audit_log" not in text, module.name
        assert "delete(audit_log" not in text, module.name
