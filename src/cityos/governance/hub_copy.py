"""Complaints in the hub: Smart Data Model ``service_requests`` entities, no personal data.

Each complaint is mirrored into the city's open-data tenant (``CITYOS_OPEN_DATA_TENANT``) as
an NGSI-LD entity of the FIWARE Smart Data Model ``dataModel.IssueTracking/service_requests``
(Open311 in NGSI-LD, CC-BY-4.0, "FIWARE Smart Data Models"), for the map and open data. It
carries what Open311 publishes anyway — code, status, times, place, the description with
e-mail addresses and phone numbers masked — and never the reporter's account, API key,
webhook or the contact fields (``email``, ``first_name``, ``last_name``, ``phone``,
``account_id``, ``device_id``) the model also defines.

The copy is written after the complaint's own transaction commits; ``hub_synced_at`` says
it is current. If the hub write fails, the ``complaints_outbox`` job writes it again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cityos.config import Settings
from cityos.governance import documents
from cityos.governance.catalog import BY_CODE, agency_of
from cityos.governance.intake import JURISDICTION
from cityos.governance.models import Status, requests
from cityos.hub.api._http import DEFAULT_TENANT
from cityos.hub.batch import run_batch
from cityos.hub.context import ContextResolver
from cityos.hub.store.base import HubStore

ISSUE_TRACKING_CONTEXT = (
    "https://raw.githubusercontent.com/smart-data-models/dataModel.IssueTracking/master/"
    "context.jsonld"
)
CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
CONTEXT = [ISSUE_TRACKING_CONTEXT, CORE_CONTEXT]
ENTITY_TYPE = "service_requests"
PROVIDER = "세종특별자치시 민원 (CityOS Open311) / Sejong City civil complaints"


def entity_id(request_id: int) -> str:
    """Return the hub id of a complaint."""
    return f"urn:ngsi-ld:service_requests:sejong:{request_id}"


def tenant(settings: Settings) -> str:
    """Return the tenant complaints are published in (the open-data tenant)."""
    return settings.open_data_tenant or DEFAULT_TENANT


def _prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def _time(moment: datetime) -> dict[str, Any]:
    return _prop({"@type": "DateTime", "@value": documents.seoul(moment)})


def entity(row: sa.Row[Any], base_url: str) -> dict[str, Any]:
    """Return the normalized NGSI-LD entity of a complaint (no personal data)."""
    service = BY_CODE[row.service_code]
    status = Status(row.status)
    body: dict[str, Any] = {
        "id": entity_id(row.id),
        "type": ENTITY_TYPE,
        "service_request_id": _prop(str(row.id)),
        "jurisdiction_id": _prop(JURISDICTION),
        "service_code": _prop(service.code),
        "service_name": _prop(service.name),
        "agency_responsible": _prop(agency_of(row.department or service.department)),
        "service_notice": _prop(documents.service_notice(service, row)),
        "status": _prop(status.open311),
        "requested_datetime": _time(row.requested_at),
        "updated_datetime": _time(row.updated_at),
        "expected_datetime": _time(row.expected_at),
        "dataProvider": _prop(PROVIDER),
        "@context": list(CONTEXT),
    }
    if row.status_notes:
        body["status_notes"] = _prop(documents.mask_contacts(row.status_notes))
    if row.description:
        body["description"] = _prop(documents.mask_contacts(row.description))
    if row.address_string:
        body["address_string"] = _prop(documents.mask_contacts(row.address_string))
    if row.lat is not None and row.lon is not None:
        body["location"] = {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [row.lon, row.lat]},
        }
    url = documents.media_url(row, base_url)
    if url:
        body["media_url"] = _prop(url)
    return body


def publish(
    *,
    engine: Engine,
    store: HubStore,
    resolver: ContextResolver,
    settings: Settings,
    request_ids: list[int],
    base_url: str,
    now: datetime,
) -> int:
    """Upsert the hub copies of these complaints and mark them synced; return how many."""
    if not request_ids:
        return 0
    with engine.connect() as connection:
        rows = connection.execute(sa.select(requests).where(requests.c.id.in_(request_ids))).all()
    bodies = [entity(row, base_url) for row in rows]
    ctx = resolver.resolve(list(CONTEXT))
    result = run_batch(store, tenant(settings), "upsert", bodies, ctx)
    done = {int(i.rsplit(":", 1)[1]) for i in result.success}
    if done:
        with engine.begin() as connection:
            for row in rows:
                if row.id in done:
                    connection.execute(
                        sa.update(requests)
                        .where(requests.c.id == row.id, requests.c.updated_at == row.updated_at)
                        .values(hub_synced_at=max(now, row.updated_at))
                    )
    return len(done)


def unsynced(engine: Engine, *, limit: int = 500) -> list[int]:
    """Return complaints whose hub copy is missing or older than the complaint."""
    with engine.connect() as connection:
        return [
            int(r.id)
            for r in connection.execute(
                sa.select(requests.c.id)
                .where(
                    requests.c.hub_synced_at.is_(None)
                    | (requests.c.hub_synced_at < requests.c.updated_at)
                )
                .order_by(requests.c.id)
                .limit(limit)
            )
        ]
