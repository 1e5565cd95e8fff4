"""Complaints in the hub: Smart Data Model ``service_requests`` in the open-data tenant,
valid against the vendored FIWARE schema, with no personal data; the job repairs the copy."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from cityos.governance import hub_copy
from cityos.governance.models import requests
from cityos.hub.service import delete_entity
from cityos.jobs import JobContext, find
from tests.governance.conftest import City, pothole
from tests.hub.test_seed import shared_dir

HUB_AUTH = "on"  # the copy must be readable by anyone, as open data
COMMON = "https://smart-data-models.github.io/data-models/common-schema.json"
LINK = (
    f'<{hub_copy.ISSUE_TRACKING_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"; '
    'type="application/ld+json"'
)


def sdm_validator() -> Draft202012Validator:
    sdm = shared_dir() / "smart-data-models"
    schema_path = sdm / "dataModel.IssueTracking" / "service_requests" / "schema.json"
    schema = json.loads(schema_path.read_text())
    common = json.loads((sdm / "common-schema.json").read_text())
    registry = Registry().with_resources(  # type: ignore[call-arg]
        [
            (COMMON, DRAFT202012.create_resource(common)),
            (schema["$id"], DRAFT202012.create_resource(schema)),
        ]
    )
    return Draft202012Validator(schema, registry=registry)


def key_values(entity: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": entity["id"], "type": entity["type"]}
    for key, attr in entity.items():
        if key in out or key == "@context":
            continue
        value = attr["value"]
        out[key] = value["@value"] if isinstance(value, dict) and "@value" in value else value
    return out


def hub_entity(city: City, request_id: str) -> Any:
    return city.client.get(
        f"/ngsi-ld/v1/entities/{hub_copy.entity_id(int(request_id))}",
        headers={"Link": LINK, "Accept": "application/json"},
    )


def test_a_complaint_appears_in_the_hub_as_a_valid_service_request(city: City) -> None:
    r = pothole(
        city,
        description="포트홀 신고합니다. 연락처 010-1234-5678, me@example.kr",
        email="me@example.kr",
        first_name="길동",
        last_name="홍",
        phone="010-1234-5678",
        account_id="hong",
        webhook_url="https://hooks.example.kr/cityos",
    )
    assert r.status_code == 201, r.text
    request_id = r.json()[0]["service_request_id"]
    got = hub_entity(city, request_id)  # anonymous: open data
    assert got.status_code == 200, got.text
    entity = got.json()
    assert entity["type"] == "service_requests"
    errors = list(sdm_validator().iter_errors(key_values(entity)))
    assert not errors, [e.message for e in errors[:3]]
    assert entity["service_code"]["value"] == "road"
    assert entity["status"]["value"] == "open"
    assert entity["location"]["value"]["type"] == "Point"
    text = json.dumps(entity, ensure_ascii=False)
    for personal in ("010-1234-5678", "me@example.kr", "길동", "hong", "hooks.example.kr"):
        assert personal not in text
    for term in ("email", "first_name", "last_name", "phone", "account_id", "device_id"):
        assert term not in entity
    with city.engine.connect() as connection:
        row = connection.execute(sa.select(requests).where(requests.c.id == int(request_id))).one()
    assert "길동" not in repr(tuple(row))  # contact fields are not kept at all
    assert row.hub_synced_at is not None


def test_the_outbox_job_rewrites_a_missing_hub_copy(city: City) -> None:
    r = pothole(city, description="보도블록이 깨졌어요")
    request_id = r.json()[0]["service_request_id"]
    store = city.client.app.state.store  # type: ignore[attr-defined]
    tenant = hub_copy.tenant(city.settings)
    delete_entity(store, tenant, hub_copy.entity_id(int(request_id)))
    with city.engine.begin() as connection:
        connection.execute(
            sa.update(requests).where(requests.c.id == int(request_id)).values(hub_synced_at=None)
        )
    assert hub_entity(city, request_id).status_code == 404
    context = JobContext(
        city.settings,
        city.engine,
        city.client.app.state,
        datetime.now(UTC),  # type: ignore[attr-defined]
    )
    assert find("complaints_outbox").run(context) >= 1
    assert hub_entity(city, request_id).status_code == 200
