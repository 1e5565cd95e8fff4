"""``cityos ingest devices create|list|delete`` and ``cityos ingest deadletters``.

Every command takes ``--database-url`` like ``cityos up`` and migrates the database first.
The new device's API key is printed once, alone on stdout, so a script can capture it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from cityos._cli import DatabaseUrl, migrated_database
from cityos.config import DEFAULT_TENANT, Settings
from cityos.hub.context import ContextResolver
from cityos.ingest import deadletters, devices
from cityos.ingest.errors import IngestError
from cityos.ingest.schemas import DeviceCreate

ingest_app = typer.Typer(help="Device ingestion (장치 데이터 수집).", no_args_is_help=True)
devices_app = typer.Typer(help="Provisioned devices (등록된 장치).", no_args_is_help=True)
ingest_app.add_typer(devices_app, name="devices")
console = Console(stderr=True)


def _out() -> Console:
    """Return a stdout console (made per command: it reads COLUMNS then)."""
    return Console(highlight=False, soft_wrap=True)


@contextmanager
def _engine(database_url: str | None) -> Iterator[tuple[Settings, Engine]]:
    """Yield settings and an engine on the migrated database, or exit with why."""
    with migrated_database(database_url, console, reported=(IngestError,)) as pair:
        yield pair


def _mapping(text: str) -> tuple[str, dict[str, Any]]:
    """Parse ``object_id=attribute[:Type[:unitCode]]`` (e.g. ``t=temperature:Number:CEL``)."""
    object_id, sep, rest = text.partition("=")
    parts = rest.split(":")
    if not sep or not object_id or not parts[0] or len(parts) > 3:
        console.print(
            f"[red]--map {text!r}: 'measure=attribute[:Type[:unitCode]]' 형식으로 쓰세요 / "
            "write it as 'measure=attribute[:Type[:unitCode]]', e.g. t=temperature:Number:CEL"
            "[/red]"
        )
        raise typer.Exit(2)
    body: dict[str, Any] = {"name": parts[0]}
    if len(parts) > 1 and parts[1]:
        body["type"] = parts[1]
    if len(parts) > 2 and parts[2]:
        body["unitCode"] = parts[2]
    return object_id, body


@devices_app.command("create")
def create(
    device_id: Annotated[str, typer.Option("--device-id", help="e.g. pm-hansol-01")],
    entity_type: Annotated[
        str, typer.Option("--type", help="Smart Data Model, e.g. AirQualityObserved")
    ],
    maps: Annotated[
        list[str],
        typer.Option(
            "--map", help="measure=attribute[:Type[:unitCode]], e.g. pm25=pm25:Number:GQ (repeat)"
        ),
    ],
    entity_id: Annotated[
        str | None, typer.Option(help="default urn:ngsi-ld:<type>:<device id>")
    ] = None,
    static: Annotated[
        str | None,
        typer.Option(help='static attributes as JSON, e.g. \'{"areaServed": "한솔동"}\''),
    ] = None,
    transport: Annotated[str, typer.Option(help="mqtt or http")] = "mqtt",
    tenant: Annotated[str, typer.Option(help="NGSI-LD tenant")] = DEFAULT_TENANT,
    database_url: DatabaseUrl = None,
) -> None:
    """Provision a device and print its API key (shown only this once)."""
    try:
        static_attributes = orjson.loads(static) if static else {}
        body = DeviceCreate.model_validate(
            {
                "device_id": device_id,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "attributes": dict(_mapping(m) for m in maps),
                "static_attributes": static_attributes,
                "transport": transport,
                "tenant": tenant,
            }
        )
    except (orjson.JSONDecodeError, ValidationError) as exc:
        console.print(f"[red]잘못된 입력 / invalid input:[/red] {exc}")
        raise typer.Exit(2) from exc
    with _engine(database_url) as (settings, engine), engine.begin() as connection:
        resolver = ContextResolver(settings, allow_network=False)
        device, apikey = devices.create_device(connection, body=body, ctx=resolver.core)
    console.print(
        f"[green]장치를 등록했습니다 / device provisioned:[/green] {device.device_id} -> "
        f"{device.entity_id} ({device.transport}, {device.tenant})\n"
        f"  MQTT topic: cityos/<apikey>/{device.device_id}/attrs\n"
        f"  HTTP: POST /ingest/v1/measurements?k=<apikey>&i={device.device_id}\n"
        "[bold yellow]API 키는 지금 한 번만 표시됩니다 / the API key is shown only once:"
        "[/bold yellow]"
    )
    _out().print(apikey)


@devices_app.command("list")
def list_(
    tenant: Annotated[str | None, typer.Option(help="only this tenant")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List provisioned devices (never their keys)."""
    with _engine(database_url) as (_, engine), engine.connect() as connection:
        found = devices.list_devices(connection, tenant=tenant, limit=100_000)
    table = Table(title=f"장치 / devices ({len(found)})")
    for column in ("device id", "entity", "type", "measures", "transport", "tenant", "key"):
        table.add_column(column, overflow="fold")
    for d in found:
        measures = ", ".join(
            f"{k}→{m.name}" + (f" [{m.unit_code}]" if m.unit_code else "")
            for k, m in d.attributes.items()
        )
        table.add_row(
            d.device_id,
            d.entity_id,
            d.entity_type,
            measures,
            d.transport,
            d.tenant,
            d.apikey_prefix + "…",
        )
    _out().print(table)


@devices_app.command("delete")
def delete(
    device_id: Annotated[str, typer.Argument(help="the device id")],
    database_url: DatabaseUrl = None,
) -> None:
    """Delete a device (its entity and history stay); its key stops working within 5 s."""
    with _engine(database_url) as (_, engine), engine.begin() as connection:
        device = devices.delete_device(connection, device_id=device_id)
    console.print(f"[green]장치를 삭제했습니다 / device deleted:[/green] {device.device_id}")


@ingest_app.command("deadletters")
def dead_letters(
    reason: Annotated[str | None, typer.Option(help="only this reason")] = None,
    device_id: Annotated[str | None, typer.Option("--device-id", help="only this device")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    database_url: DatabaseUrl = None,
) -> None:
    """List the newest refused messages with their reason and first bytes."""
    with _engine(database_url) as (_, engine), engine.connect() as connection:
        letters = deadletters.list_letters(
            connection, reason=reason, device_id=device_id, limit=limit
        )
    table = Table(title=f"dead letters ({len(letters)})")
    for column in ("id", "received (UTC)", "via", "reason", "device", "detail", "payload"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        table.add_row(
            str(letter.id),
            letter.received_at.strftime("%Y-%m-%d %H:%M:%S"),
            letter.transport,
            letter.reason,
            letter.device_id or "",
            letter.detail[:80],
            letter.payload[:40],
        )
    _out().print(table)
