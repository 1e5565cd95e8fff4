"""``cityos users`` and ``cityos keys`` through Typer's test runner, on both backends."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa
import typer
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from cityos.identity.cli import keys_app, users_app
from cityos.identity.models import api_keys
from tests.identity.conftest import PASSWORD, unique

runner = CliRunner()
cli = typer.Typer()
cli.add_typer(users_app, name="users")
cli.add_typer(keys_app, name="keys")


def test_users_create_and_list(database_url: str) -> None:
    name = unique("operator")
    r = runner.invoke(
        cli,
        [
            "users",
            "create",
            "--username",
            name,
            "--password",
            PASSWORD,
            "--role",
            "operator",
            "--department",
            "교통과",
            "--database-url",
            database_url,
        ],
    )
    assert r.exit_code == 0, r.output
    assert "user created" in r.output
    listed = runner.invoke(cli, ["users", "list", "--database-url", database_url])
    assert listed.exit_code == 0, listed.output
    assert name in listed.output
    assert "교통과" in listed.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "operator"], "department"),
        (["--role", "device"], "device"),
        (["--role", "mayor"], "mayor"),
    ],
)
def test_users_create_explains_refusals(database_url: str, args: list[str], message: str) -> None:
    r = runner.invoke(
        cli,
        [
            "users",
            "create",
            "--username",
            unique(),
            "--password",
            PASSWORD,
            *args,
            "--database-url",
            database_url,
        ],
    )
    assert r.exit_code != 0
    assert message in r.output


def test_a_taken_username_is_a_bilingual_error(database_url: str) -> None:
    name = unique()
    args = [
        "users",
        "create",
        "--username",
        name,
        "--password",
        PASSWORD,
        "--role",
        "citizen",
        "--database-url",
        database_url,
    ]
    assert runner.invoke(cli, args).exit_code == 0
    again = runner.invoke(cli, args)
    assert again.exit_code == 1
    assert "taken" in again.output
    assert "이미 사용 중" in again.output


def test_keys_create_prints_the_key_last_then_list_and_revoke(
    database_url: str, engine: Engine
) -> None:
    r = runner.invoke(
        cli,
        [
            "keys",
            "create",
            "--name",
            "bus-17 GPS",
            "--role",
            "device",
            "--scopes",
            "tenants=sejong;types=Vehicle;actions=write",
            "--database-url",
            database_url,
        ],
    )
    assert r.exit_code == 0, r.output
    key = r.output.strip().splitlines()[-1]
    assert key.startswith("cityos_")
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(api_keys).where(
                api_keys.c.key_hash == hashlib.sha256(key.encode()).hexdigest()
            )
        ).one()
    assert row.scopes == {"tenants": ["sejong"], "entity_types": ["Vehicle"], "actions": ["write"]}
    listed = runner.invoke(cli, ["keys", "list", "--database-url", database_url])
    assert listed.exit_code == 0
    assert row.prefix in listed.output
    assert key not in listed.output
    revoked = runner.invoke(cli, ["keys", "revoke", row.prefix, "--database-url", database_url])
    assert revoked.exit_code == 0, revoked.output
    with engine.connect() as connection:
        assert (
            connection.execute(
                sa.select(api_keys.c.revoked_at).where(api_keys.c.id == row.id)
            ).scalar()
            is not None
        )
    missing = runner.invoke(cli, ["keys", "revoke", "nope", "--database-url", database_url])
    assert missing.exit_code == 1


def test_keys_create_refuses_bad_roles_and_scopes(database_url: str) -> None:
    bad_role = runner.invoke(
        cli, ["keys", "create", "--name", "x", "--role", "admin", "--database-url", database_url]
    )
    assert bad_role.exit_code == 2
    bad_scope = runner.invoke(
        cli,
        [
            "keys",
            "create",
            "--name",
            "x",
            "--role",
            "device",
            "--scopes",
            "actions=delete",
            "--database-url",
            database_url,
        ],
    )
    assert bad_scope.exit_code == 1
    assert "범위" in bad_scope.output


def test_a_bad_database_url_is_explained() -> None:
    r = runner.invoke(cli, ["users", "list", "--database-url", "mysql://x"])
    assert r.exit_code == 2
    assert "sqlite:///" in r.output
