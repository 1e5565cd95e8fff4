"""Data-key rotation on both backends: old records stay readable, new ones use the new key,
``rotate_keys`` (and ``cityos privacy rotate-keys``) moves the rest, then the old key can go."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from cityos.cli import app as cli
from cityos.config import Settings, SettingsError
from cityos.identity.models import audit_log
from cityos.privacy import store
from cityos.privacy.crypto import DecryptionError, Vault
from cityos.privacy.keys import key_usage, rotate_keys, unreadable_key_ids
from tests.privacy.conftest import NOW, make_citizen, new_data_key

WALK = "walking_rewards"
K1, K2 = new_data_key("k1"), new_data_key("k2")


def _put(engine: Engine, settings: Settings, user_id: str, steps: int) -> str:
    vault = Vault.from_settings(settings)
    with store.transaction(engine) as connection:
        return store.put(
            connection, vault=vault, settings=settings, user_id=user_id, kind="steps",
            purpose=WALK, data={"steps": steps}, actor="system", now=NOW,
        )  # fmt: skip


def _steps(engine: Engine, settings: Settings, user_id: str) -> list[int]:
    with engine.connect() as connection:
        found = store.read(
            connection, vault=Vault.from_settings(settings), user_id=user_id, kind="steps",
            purpose=WALK, actor="system", reason="test", now=NOW,
        )  # fmt: skip
    return sorted(r.data["steps"] for r in found)


def _with_keys(settings: Settings, *keys: str) -> Settings:
    return Settings(**(settings.model_dump() | {"data_keys": list(keys)}))


def test_rotation_keeps_old_records_readable_and_moves_them_to_the_new_key(
    engine: Engine, settings: Settings
) -> None:
    citizen = make_citizen(engine, WALK, can_log_in=False)
    _put(engine, settings, citizen.id, 1)  # no CITYOS_DATA_KEYS: the key derived from the secret
    first = _with_keys(settings, K1)
    _put(engine, first, citizen.id, 2)
    second = _with_keys(settings, K2, K1)  # k2 first: it encrypts; k1 (and s0) still decrypt
    _put(engine, second, citizen.id, 3)
    with engine.connect() as connection:
        assert key_usage(connection) == {"s0": 1, "k1": 1, "k2": 1}
    assert _steps(engine, second, citizen.id) == [1, 2, 3]
    with pytest.raises(DecryptionError, match="k2"):
        _steps(engine, first, citizen.id)  # a deployment without k2 cannot read k2's record

    moved = rotate_keys(engine, vault=Vault.from_settings(second), now=NOW, batch_size=1)
    assert moved == {"s0": 1, "k1": 1}
    with engine.connect() as connection:
        assert key_usage(connection) == {"k2": 3}
        entry = connection.execute(
            sa.select(audit_log).where(audit_log.c.action == "personal_data_reencrypted")
        ).one()
    assert entry.actor == "system"
    assert entry.subject is None
    assert entry.detail == {"to": "k2", "from": {"s0": 1, "k1": 1}}
    only_k2 = _with_keys(settings, K2)  # k1 removed after the rotation
    assert _steps(engine, only_k2, citizen.id) == [1, 2, 3]
    assert rotate_keys(engine, vault=Vault.from_settings(only_k2), now=NOW) == {}  # idempotent


def test_a_missing_key_is_reported_and_stops_rotation_without_harm(
    engine: Engine, settings: Settings
) -> None:
    citizen = make_citizen(engine, WALK, can_log_in=False)
    lost = new_data_key("lost")
    _put(engine, _with_keys(settings, lost), citizen.id, 7)
    k3 = _with_keys(settings, new_data_key("k3"), K2)
    vault = Vault.from_settings(k3)
    with engine.connect() as connection:
        assert "lost" in unreadable_key_ids(connection, vault=vault)
        before = key_usage(connection)
    with pytest.raises(DecryptionError, match="lost"):
        rotate_keys(engine, vault=vault, now=NOW, batch_size=10_000)
    with engine.connect() as connection:
        assert key_usage(connection) == before  # the failed batch was rolled back whole
    # Putting the key back second makes everything readable and movable again.
    rotate_keys(engine, vault=Vault.from_settings(_with_keys(settings, K2, K1, lost)), now=NOW)
    assert _steps(engine, _with_keys(settings, K2), citizen.id) == [7]


def test_the_cli_shows_key_use_and_rotates(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    citizen = make_citizen(engine, WALK, can_log_in=False)
    k4 = new_data_key("k4")
    _put(engine, _with_keys(settings, K2), citizen.id, 11)
    monkeypatch.setenv("CITYOS_DATA_KEYS", f'["{k4}", "{K2}"]')
    runner = CliRunner()
    url = ["--database-url", settings.database_url]
    status = runner.invoke(cli, ["privacy", "status", *url])
    assert status.exit_code == 0, status.output
    assert "k4\tencrypts\t0" in status.output
    assert "k2\tdecrypts\t" in status.output
    assert k4.split(":")[1] not in status.output  # never the key itself
    rotated = runner.invoke(cli, ["privacy", "rotate-keys", *url])
    assert rotated.exit_code == 0, rotated.output
    assert rotated.output.startswith("re-encrypted ")
    assert "under k4" in rotated.output
    with engine.connect() as connection:
        assert set(key_usage(connection)) == {"k4"}
    assert _steps(engine, _with_keys(settings, k4), citizen.id) == [11]
    monkeypatch.setenv("CITYOS_DATA_KEYS", f'["{new_data_key("k5")}"]')
    missing = runner.invoke(cli, ["privacy", "status", *url])
    assert missing.exit_code == 1
    assert "MISSING" in missing.output
    assert "missing keys" in missing.output


@pytest.mark.parametrize(
    "entry",
    ["k1", "k1:c2hvcnQ", "bad id!:" + K1.split(":")[1], "s0:" + K1.split(":")[1], K1 + "|" + K1],
)
def test_settings_refuse_bad_data_keys_without_echoing_them(entry: str) -> None:
    with pytest.raises((SettingsError, ValueError)) as refused:
        Settings(data_keys=[entry])
    assert "CITYOS_DATA_KEYS[0]" in str(refused.value)
    assert K1.split(":")[1] not in str(refused.value)


def test_settings_refuse_two_keys_with_one_id() -> None:
    with pytest.raises((SettingsError, ValueError), match="unique id"):
        Settings(data_keys=[K1, new_data_key("k1")])
