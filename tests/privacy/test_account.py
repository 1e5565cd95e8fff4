"""A citizen's rights over HTTP on both backends: export all my data (JSON), see who accessed
it, delete my account (personal data and sessions gone, the audit log kept)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from cityos.config import Settings
from cityos.identity.models import (
    Role,
    audit_log,
    consents,
    refresh_tokens,
    sessions,
    users,
)
from cityos.privacy import store
from cityos.privacy.crypto import Vault
from cityos.privacy.models import records
from tests.privacy.conftest import NOW, PASSWORD, Citizen, make_citizen

HUB_AUTH = "on"
WALK, HEALTH = "walking_rewards", "personalised_health"


def _put(
    engine: Engine, settings: Settings, who: Citizen, kind: str, purpose: str, data: dict
) -> str:  # type: ignore[type-arg]
    with store.transaction(engine) as connection:
        return store.put(
            connection, vault=Vault.from_settings(settings), settings=settings, user_id=who.id,
            kind=kind, purpose=purpose, data=data, actor="system", now=NOW,
        )  # fmt: skip


def _tokens(client: TestClient, who: Citizen) -> dict[str, str]:
    r = client.post("/auth/token", data={"username": who.username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def test_export_holds_all_my_data_decrypted_and_nobody_elses(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    me, other = make_citizen(engine, WALK, HEALTH), make_citizen(engine, WALK)
    _put(engine, settings, me, "steps", WALK, {"steps": 8123, "tag": "MINE-STEPS"})
    _put(engine, settings, me, "health", HEALTH, {"pulse_bpm": 61, "tag": "MINE-HEALTH"})
    _put(engine, settings, other, "steps", WALK, {"steps": 1, "tag": "OTHER-STEPS"})
    r = client.get("/auth/me/data", headers=_bearer(_tokens(client, me)))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-disposition"].startswith("attachment")
    body = r.json()
    assert body["account"]["id"] == me.id
    assert body["account"]["username"] == me.username
    assert sorted(c["purpose"] for c in body["consents"]) == [HEALTH, WALK]
    assert sorted((p["kind"], p["purpose"], p["data"]["tag"]) for p in body["personal_data"]) == [
        ("health", HEALTH, "MINE-HEALTH"),
        ("steps", WALK, "MINE-STEPS"),
    ]
    assert "OTHER-STEPS" not in r.text
    assert other.id not in r.text
    assert {"login", "personal_data_written", "personal_data_exported"} <= {
        e["action"] for e in body["audit"]
    }
    log = client.get("/auth/me/access-log", headers=_bearer(_tokens(client, me))).json()
    assert log[0]["action"] == "personal_data_exported"
    assert log[0]["actor"] == f"user:{me.id}"
    assert "login" not in {e["action"] for e in log}  # only processing of personal data


def test_the_access_log_says_who_read_my_data_and_why(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    me = make_citizen(engine, HEALTH)
    nurse = make_citizen(engine, roles={Role.OPERATOR}, department="보건소", can_log_in=False)
    _put(engine, settings, me, "health", HEALTH, {"pulse_bpm": 70})
    with engine.begin() as connection:
        store.read(
            connection, vault=Vault.from_settings(settings), user_id=me.id, kind="health",
            purpose=HEALTH, actor=f"user:{nurse.id}", reason="clinic visit", now=NOW,
        )  # fmt: skip
    log = client.get("/auth/me/access-log", headers=_bearer(_tokens(client, me))).json()
    read = next(e for e in log if e["action"] == "personal_data_read")
    assert read["actor"] == f"user:{nurse.id}"
    assert read["actor_roles"] == ["operator"]
    assert read["actor_department"] == "보건소"
    assert read["reason"] == f"{HEALTH}: clinic visit"
    assert read["detail"] == {"kind": "health", "purpose": HEALTH, "records": 1}
    assert read["at"].startswith("2026-11-30T12:00:00")
    assert client.get("/auth/me/access-log", params={"limit": 0}, headers=_bearer(
        _tokens(client, me)
    )).status_code == 422  # fmt: skip


def test_deleting_my_account_erases_data_and_sessions_and_keeps_the_audit_log(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    me, other = make_citizen(engine, WALK), make_citizen(engine, WALK)
    for steps in (100, 200):
        _put(engine, settings, me, "steps", WALK, {"steps": steps})
    _put(engine, settings, other, "steps", WALK, {"steps": 300})
    first, second = _tokens(client, me), _tokens(client, me)  # two sessions
    subject = Vault.from_settings(settings).subject(me.id)
    with engine.connect() as connection:
        kept = connection.execute(
            sa.select(audit_log.c.id).where(audit_log.c.subject == me.id)
        ).scalars().all()  # fmt: skip
    assert len(kept) >= 5

    r = client.delete("/auth/me", headers=_bearer(first))
    assert r.status_code == 204, r.text
    assert any(line.startswith("cityos_access=") for line in r.headers.get_list("set-cookie"))

    for tokens in (first, second):
        assert client.get("/auth/me", headers=_bearer(tokens)).status_code == 401
        refreshed = client.post(
            "/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        )
        assert refreshed.status_code == 401
    again = client.post("/auth/token", data={"username": me.username, "password": PASSWORD})
    assert again.status_code == 401
    with engine.connect() as connection:

        def count(table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
            return int(
                connection.execute(
                    sa.select(sa.func.count()).select_from(table).where(*where)
                ).scalar_one()
            )

        assert count(records, records.c.subject == subject) == 0
        assert count(sessions, sessions.c.user_id == me.id) == 0
        assert count(refresh_tokens) == count(
            refresh_tokens, refresh_tokens.c.session_id.in_(sa.select(sessions.c.id))
        )  # no refresh token outlives its session
        assert count(consents, consents.c.user_id == me.id) == 0
        assert count(users, users.c.id == me.id) == 0
        assert (
            count(records, records.c.subject == Vault.from_settings(settings).subject(other.id))
            == 1
        )
        after = connection.execute(
            sa.select(audit_log).where(audit_log.c.subject == me.id).order_by(audit_log.c.id)
        ).all()
    assert set(kept) < {row.id for row in after}  # append-only: nothing removed
    erased = next(row for row in after if row.action == "personal_data_erased")
    assert erased.detail == {"records": 2}
    assert erased.reason == "account deletion"
    tombstone = after[-1]
    assert tombstone.action == "account_deleted"
    assert tombstone.detail["pseudonym"] == subject
    assert tombstone.detail["sessions_ended"] == 2

    # The name is free again; its new owner is someone else, with nothing of the old data.
    registered = client.post("/auth/register", json={"username": me.username, "password": PASSWORD})
    assert registered.status_code == 201, registered.text
    fresh = client.get("/auth/me/data", headers=_bearer(_tokens(client, me))).json()
    assert fresh["account"]["id"] != me.id
    assert fresh["personal_data"] == []


def test_the_last_admin_cannot_delete_their_account(client: TestClient, engine: Engine) -> None:
    with engine.connect() as connection:
        admins = [
            row.id
            for row in connection.execute(sa.select(users.c.id, users.c.roles))
            if "admin" in row.roles
        ]
    assert admins == []  # this module's database has none yet
    first = make_citizen(engine, roles={Role.ADMIN})
    refused = client.delete("/auth/me", headers=_bearer(_tokens(client, first)))
    assert refused.status_code == 409
    assert refused.json()["detail_ko"]
    assert "administrator" in refused.json()["detail"]
    make_citizen(engine, roles={Role.ADMIN})
    assert client.delete("/auth/me", headers=_bearer(_tokens(client, first))).status_code == 204


@pytest.mark.parametrize("path", ["/auth/me/data", "/auth/me/access-log"])
def test_nobody_anonymous_reads_these(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_data_under_a_missing_key_is_a_clear_503_not_a_crash(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    from tests.privacy.conftest import new_data_key

    me = make_citizen(engine, WALK)
    gone = Settings(**(settings.model_dump() | {"data_keys": [new_data_key("gone")]}))
    _put(engine, gone, me, "steps", WALK, {"steps": 5})  # then the key is dropped from settings
    r = client.get("/auth/me/data", headers=_bearer(_tokens(client, me)))
    assert r.status_code == 503
    assert r.json()["error"] == "personal_data_unavailable"
    assert "gone" in r.json()["detail"]
    assert r.json()["detail_ko"]
