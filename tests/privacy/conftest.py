"""Privacy fixtures: a migrated database on each backend, citizens with consents, a vault."""

from __future__ import annotations

import base64
import itertools
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cityos.config import Settings
from cityos.identity import consent, service
from cityos.identity.models import Role, users
from cityos.privacy.crypto import Vault

PASSWORD = "correct horse battery"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
_names = itertools.count()


def new_data_key(key_id: str) -> str:
    """Return a CITYOS_DATA_KEYS entry with a fresh random key."""
    return f"{key_id}:{base64.urlsafe_b64encode(os.urandom(32)).decode()}"


@dataclass(frozen=True)
class Citizen:
    """A user made for a test: id and username (password: PASSWORD)."""

    id: str
    username: str


@pytest.fixture(scope="module")
def vault(settings: Settings) -> Vault:
    return Vault.from_settings(settings)


def make_citizen(
    engine: Engine,
    *purposes: str,
    roles: set[Role] | None = None,
    department: str | None = None,
    can_log_in: bool = True,
) -> Citizen:
    """Create a user (a citizen unless ``roles``) who consents to ``purposes``.

    ``can_log_in=False`` skips the argon2 hash (a quarter second each) for users who are only
    data subjects.
    """
    name = f"pc{next(_names):04d}{os.urandom(2).hex()}"
    with engine.begin() as connection:
        if can_log_in:
            user_id = service.create_user(
                connection,
                username=name,
                password=PASSWORD,
                roles=roles or {Role.CITIZEN},
                department=department,
                actor="test",
                now=NOW,
                allow_reserved=True,
            ).id
        else:
            user_id = str(uuid.uuid4())
            connection.execute(
                sa.insert(users).values(
                    id=user_id,
                    username=name,
                    display_name=name,
                    password_hash="!",  # matches no password
                    roles=sorted(roles or {Role.CITIZEN}),
                    department=department,
                    created_at=NOW,
                    updated_at=NOW,
                    disabled=False,
                    failed_logins=0,
                )
            )
        for purpose in purposes:
            consent.grant(connection, user_id=user_id, purpose=purpose, version="2026-11", now=NOW)
    return Citizen(user_id, name)
