"""``cityos users …`` and ``cityos keys …``: manage accounts and API keys from a shell.

Every command takes ``--database-url`` like ``cityos up`` and migrates the database first.
Mount with ``app.add_typer(users_app, name="users")`` and ``app.add_typer(keys_app,
name="keys")``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from cityos._cli import DatabaseUrl, migrated_database
from cityos.identity import keys, service
from cityos.identity.errors import IdentityError
from cityos.identity.models import Role

users_app = typer.Typer(help="User accounts (사용자 계정).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for developers and devices (API 키).", no_args_is_help=True)
# Messages go to stderr so that stdout carries only what a script wants (e.g. the new key).
console = Console(stderr=True)
out = Console(highlight=False, soft_wrap=True)


@contextmanager
def _engine(database_url: str | None) -> Iterator[Engine]:
    """Yield an engine on the migrated database, or exit with a bilingual reason."""
    with migrated_database(database_url, console, reported=(IdentityError,)) as (_, engine):
        yield engine


def _print_rows(headers: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    """Print a table on a terminal, tab-separated lines (header first) into a pipe or file."""
    if out.is_terminal:
        table = Table(*headers)
        for row in rows:
            table.add_row(*row)
        out.print(table)
        return
    for line in (headers, *rows):
        typer.echo("\t".join(line))


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="Login name (3-32 of a-z 0-9 . _ -)")],
    password: Annotated[str, typer.Option(help="At least 8 characters")],
    role: Annotated[
        list[Role], typer.Option(help="citizen, resident, operator, admin or developer; repeatable")
    ],
    department: Annotated[
        str | None, typer.Option(help="Department of an operator, e.g. 교통과")
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="Name shown to others")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a user account (사용자 생성)."""
    with _engine(database_url) as engine, engine.begin() as connection:
        user = service.create_user(
            connection,
            username=username,
            password=password,
            roles=set(role),
            department=department,
            display_name=display_name,
            actor="cli",
            now=datetime.now(UTC),
            allow_reserved=True,
        )
    console.print(
        f"사용자 생성됨 / user created: {user.username} ({', '.join(sorted(user.roles))})"
    )
    out.print(user.id)


@users_app.command("list")
def users_list(database_url: DatabaseUrl = None) -> None:
    """List user accounts (사용자 목록)."""
    with _engine(database_url) as engine, engine.connect() as connection:
        found = service.list_users(connection)
    now = datetime.now(UTC)
    rows = []
    for user in found:
        locked = user.locked_until is not None and user.locked_until > now
        state = "disabled" if user.disabled else "locked" if locked else "active"
        roles = ",".join(sorted(user.roles))
        created, last = _time(user.created_at), _time(user.last_login_at)
        rows.append((user.username, roles, user.department or "-", created, last, state))
    _print_rows(("username", "roles", "department", "created", "last login", "state"), rows)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="What the key is for, e.g. 'bus-17 GPS'")],
    role: Annotated[str, typer.Option(help="developer or device")],
    scopes: Annotated[
        str | None,
        typer.Option(
            help="e.g. 'tenants=default;types=AirQualityObserved;actions=read,write' "
            "(default: every tenant and type, read only)"
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key; the key itself is printed once, as the last line (API 키 생성)."""
    if role not in ("developer", "device"):
        console.print("[red]역할은 developer 또는 device입니다 / role is developer or device[/red]")
        raise typer.Exit(2)
    with _engine(database_url) as engine:
        parsed = keys.parse_scopes(scopes)
        with engine.begin() as connection:
            record, secret = keys.create_api_key(
                connection,
                name=name,
                role=Role(role),
                scopes=parsed,
                actor="cli",
                now=datetime.now(UTC),
            )
    console.print(
        f"API 키 생성됨 / API key created: {record.name} ({record.role}, id {record.id})\n"
        "아래 키는 다시 볼 수 없으니 지금 저장하세요 / store the key below now: "
        "it is not shown again"
    )
    out.print(secret)


@keys_app.command("list")
def keys_list(database_url: DatabaseUrl = None) -> None:
    """List API keys, never their secrets (API 키 목록)."""
    with _engine(database_url) as engine, engine.connect() as connection:
        found = keys.list_api_keys(connection)
    rows = []
    for key in found:
        scope = key.scopes.to_json()
        scopes = (
            f"tenants={','.join(scope['tenants'])};types={','.join(scope['entity_types'])};"
            f"actions={','.join(scope['actions'])}"
        )
        times = (_time(key.created_at), _time(key.last_used_at), _time(key.revoked_at))
        rows.append((key.id, key.prefix, key.name, key.role.value, scopes, *times))
    headers = ("id", "prefix", "name", "role", "scopes", "created", "last used", "revoked")
    _print_rows(headers, rows)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id or its 12-digit prefix")],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke an API key at once (API 키 폐기)."""
    with _engine(database_url) as engine, engine.begin() as connection:
        record = keys.revoke_api_key(connection, key_id=key_id, actor="cli", now=datetime.now(UTC))
    console.print(f"API 키 폐기됨 / API key revoked: {record.name} ({record.id})")
