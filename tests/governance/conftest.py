"""Complaint fixtures: CityOS on each backend, an API key, a citizen, operators, schemas."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import xmlschema
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy.engine import Engine

from cityos import db
from cityos.app import create_app
from cityos.config import Settings
from cityos.identity import keys, service
from cityos.identity.models import Role

SCHEMAS = Path(__file__).parent / "schemas" / "open311"
PASSWORD = "correct horse battery"
BASE = "/open311/v2"
# A point in Sejong's government complex (정부세종청사) and one in Seoul.
SEJONG = (36.5040, 127.2650)
SEOUL = (37.5665, 126.9780)
_names = itertools.count()


@cache
def georeport_schema() -> dict[str, Any]:
    """Return CityOS's JSON Schema of the GeoReport v2 documents (one ``$defs`` per kind)."""
    schema: dict[str, Any] = json.loads((SCHEMAS / "georeport-v2.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return schema


def validate(name: str, document: Any) -> None:
    """Fail unless ``document`` satisfies the GeoReport v2 schema ``name`` (e.g. ``requests``)."""
    schema = georeport_schema()
    assert name in schema["$defs"], name
    validator = Draft202012Validator(
        {**schema, "$ref": f"#/$defs/{name}"}, format_checker=FormatChecker()
    )
    errors = sorted(validator.iter_errors(document), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
    if name == "service-definition":  # "any positive integer not used for other attributes"
        orders = [a["order"] for a in document["attributes"]]
        assert len(orders) == len(set(orders)), orders


LISTS = {"attributes", "values", "endpoints", "formats"}
NUMBERS = {"lat", "long", "order", "supporters", "suggestion_confidence"}
BOOLEANS = {"metadata", "variable", "required", "service_code_suggested"}


def _value(element: ET.Element) -> Any:
    children = list(element)
    if element.tag in LISTS:
        return [_value(c) for c in children]
    if children:
        return {c.tag: _value(c) for c in children}
    text = element.text
    if text is None or text == "":
        return [] if element.tag in LISTS else None
    if element.tag in BOOLEANS:
        return text == "true"
    if element.tag in NUMBERS:
        return int(text) if text.lstrip("-").isdigit() else float(text)
    return text


@cache
def xsd(name: str) -> xmlschema.XMLSchema:
    """Return the GeoReport v2 XSD ``georeport-v2`` or ``georeport-v2-answers``."""
    return xmlschema.XMLSchema(str(SCHEMAS / f"{name}.xsd"))


def from_xml(body: bytes, *, answer: bool = False) -> Any:
    """Validate an Open311 XML answer against its XSD and read it into the JSON structure.

    ``answer``: a POST or token answer (georeport-v2-answers.xsd), else georeport-v2.xsd.
    """
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    xsd("georeport-v2-answers" if answer else "georeport-v2").validate(io.BytesIO(body))
    root = ET.fromstring(body)
    if root.tag == "errors":
        return [{**_value(e), "code": int(e.findtext("code") or 0)} for e in root]
    if root.tag in ("services", "service_requests"):
        return [_value(child) for child in root]
    return _value(root)


@dataclass
class City:
    """A running CityOS with callers: an API key, citizens and operators (headers)."""

    client: TestClient
    engine: Engine
    settings: Settings
    api_key: str
    make_user: Callable[..., dict[str, str]]


@pytest.fixture(scope="module")
def city(settings: Settings) -> Iterator[City]:
    """Yield CityOS with the complaint API on the module's database."""
    db.upgrade(settings)
    engine = db.make_engine(settings)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        _, key = keys.create_api_key(
            connection,
            name="세종 민원 앱",
            role=Role.DEVELOPER,
            scopes=keys.parse_scopes(None),
            actor="test",
            now=now,
        )
    app = create_app(settings)
    with TestClient(app) as client:

        def make_user(*roles: Role, department: str | None = None) -> dict[str, str]:
            name = f"gov{next(_names):04d}"
            with engine.begin() as connection:
                service.create_user(
                    connection,
                    username=name,
                    password=PASSWORD,
                    roles=set(roles) or {Role.CITIZEN},
                    department=department,
                    actor="test",
                    now=datetime.now(UTC),
                )
            r = client.post("/auth/token", data={"username": name, "password": PASSWORD})
            assert r.status_code == 200, r.text
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        yield City(client, engine, settings, key, make_user)
    engine.dispose()


def post(
    city: City, fmt: str = "json", *, headers: dict[str, str] | None = None, **fields: Any
) -> Any:
    """POST a service request form (with the module's API key unless api_key=None)."""
    form = {"api_key": city.api_key, **fields}
    form = {k: v for k, v in form.items() if v is not None}
    return city.client.post(f"{BASE}/requests.{fmt}", data=form, headers=headers or {})


def pothole(city: City, **extra: Any) -> Any:
    """File a road complaint at the Sejong point and return the response."""
    fields = {
        "service_code": "road",
        "lat": str(SEJONG[0]),
        "long": str(SEJONG[1]),
        "description": "정부청사 앞 도로에 큰 포트홀이 생겼어요",
        "duplicate_action": "new",
        **extra,
    }
    return post(city, **fields)
