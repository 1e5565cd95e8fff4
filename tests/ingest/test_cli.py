"""``cityos ingest devices create|list|delete`` and ``cityos ingest deadletters``."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cityos import db
from cityos.cli import app
from cityos.config import Settings
from cityos.ingest import deadletters, devices
from cityos.ingest.devices import apikey_digest

runner = CliRunner()


def test_create_prints_the_key_once_then_list_and_delete(database_url: str) -> None:
    result = runner.invoke(
        app,
        [
            "ingest", "devices", "create", "--database-url", database_url,
            "--device-id", "bin-7", "--type", "WasteContainer",
            "--map", "f=fillingLevel:Number:P1", "--map", "temp=temperature:Number:CEL",
            "--static", '{"location": {"type": "Point", "coordinates": [127.26, 36.5]}}',
            "--transport", "http",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    apikey = result.stdout.strip().splitlines()[-1]
    assert len(apikey) == 32
    engine = db.make_engine(Settings(database_url=database_url))
    try:
        with engine.connect() as connection:
            device = devices.get_device(connection, device_id="bin-7")
    finally:
        engine.dispose()
    assert device is not None
    assert device.apikey_hash == apikey_digest(apikey)  # only the digest is stored
    assert device.entity_id == "urn:ngsi-ld:WasteContainer:bin-7"
    assert device.attributes["f"].unit_code == "P1"
    listed = runner.invoke(
        app, ["ingest", "devices", "list", "--database-url", database_url], env={"COLUMNS": "250"}
    )
    assert listed.exit_code == 0, listed.output
    assert "bin-7" in listed.stdout
    assert apikey not in listed.stdout
    assert apikey[:6] in listed.stdout
    gone = runner.invoke(
        app, ["ingest", "devices", "delete", "bin-7", "--database-url", database_url]
    )
    assert gone.exit_code == 0, gone.output
    again = runner.invoke(
        app, ["ingest", "devices", "delete", "bin-7", "--database-url", database_url]
    )
    assert again.exit_code == 1
    assert "no device has id 'bin-7'" in again.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--type", "Bin", "--map", "f=fillingLevel"], "not a Smart Data Model"),
        (["--type", "WasteContainer", "--map", "f=fill"], "not in the WasteContainer model"),
        (["--type", "WasteContainer", "--map", "f"], "measure=attribute"),
        (["--type", "WasteContainer", "--map", "f=fillingLevel:Float"], "invalid input"),
        (["--type", "WasteContainer", "--map", "f=fillingLevel", "--static", "{"], "invalid"),
    ],
)
def test_create_explains_refusals(database_url: str, args: list[str], words: str) -> None:
    result = runner.invoke(
        app,
        ["ingest", "devices", "create", "--database-url", database_url, "--device-id", "d", *args],
    )
    assert result.exit_code in (1, 2)
    assert words in result.output


def test_deadletters_lists_the_newest(database_url: str) -> None:
    engine = db.make_engine(Settings(database_url=database_url))
    db.upgrade(Settings(database_url=database_url))
    try:
        with engine.begin() as connection:
            deadletters.record(
                connection,
                letters=[
                    deadletters.DeadLetter(
                        1_764_000_000_000_000, "mqtt", "malformed_payload", "why", "dev-9",
                        "cityos/abc…/dev-9/attrs", b"pm25|\x00\xff",
                    )
                ],
            )  # fmt: skip
    finally:
        engine.dispose()
    result = runner.invoke(
        app, ["ingest", "deadletters", "--database-url", database_url], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "malformed_payload" in result.stdout
    assert "dev-9" in result.stdout
