"""The Open311 documents: discovery, service list and definitions, service requests.

Times are shown in Asia/Seoul with their offset (``2026-12-01T18:00:00+09:00``), as the
spec's w3 format allows; they are stored in UTC. Public documents mask e-mail addresses and
phone numbers a citizen may have typed into a description (the complaint row keeps the text
as written, for the operator).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from cityos.governance.catalog import SERVICES, Service, agency_of, handler_named
from cityos.governance.intake import JURISDICTION
from cityos.governance.models import STATUS_KO, Status

SEOUL = ZoneInfo("Asia/Seoul")
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-12-01T00:00:00+09:00"
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"(?<!\d)(0\d{1,2})[-. ]?(\d{3,4})[-. ]?(\d{4})(?!\d)")


def seoul(moment: datetime | None) -> str | None:
    """Return an instant as w3/ISO 8601 in Asia/Seoul (None stays None)."""
    return moment.astimezone(SEOUL).isoformat(timespec="seconds") if moment else None


def mask_contacts(text: str | None) -> str | None:
    """Return ``text`` with e-mail addresses and Korean phone numbers masked."""
    if not text:
        return text
    text = _EMAIL.sub("[이메일 가림 / e-mail hidden]", text)
    return _PHONE.sub("[전화번호 가림 / phone hidden]", text)


def discovery(base_url: str) -> dict[str, Any]:
    """Return the Open311 service discovery document."""
    return {
        "changeset": CHANGESET,
        "contact": "세종특별자치시 민원 담당 / Sejong City civil complaints, https://www.sejong.go.kr",
        "key_service": "API keys: an administrator runs `cityos keys create` "
        "(API 키는 관리자가 발급합니다)",
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": f"{base_url}open311/v2",
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


def service_entry(service: Service) -> dict[str, Any]:
    """Return one service of the GET Service List."""
    return {
        "service_code": service.code,
        "service_name": service.name,
        "description": service.description,
        "metadata": bool(service.attributes),
        "type": "realtime",
        "keywords": ", ".join(service.keywords),
        "group": service.group,
    }


def services() -> list[dict[str, Any]]:
    """Return the GET Service List."""
    return [service_entry(s) for s in SERVICES]


def definition(service: Service) -> dict[str, Any]:
    """Return the GET Service Definition (the service's attributes)."""
    return {
        "service_code": service.code,
        "attributes": [
            {
                "variable": a.variable,
                "code": a.code,
                "datatype": a.datatype,
                "required": a.required,
                "datatype_description": None,
                "order": a.order,
                "description": a.description_ko,
                "values": [{"key": key, "name": name} for key, name in a.values],
            }
            for a in service.attributes
        ],
    }


def media_url(row: sa.Row[Any], base_url: str) -> str | None:
    """Return the URL of the complaint's photo (uploaded here, else the one it named)."""
    if row.media_id:
        return f"{base_url}open311/v2/media/{row.media_id}"
    return row.media_url


def service_notice(service: Service, row: sa.Row[Any]) -> str:
    """Return what the citizen can expect: who handles it and by when (SLA)."""
    due = seoul(row.expected_at)
    # The department the complaint was routed to when filed (the table may have changed).
    agency_ko = row.department or service.department
    found = handler_named(agency_ko)
    agency_en = found.name_en if found is not None else agency_ko
    return (
        f"{agency_ko}에서 처리하며 목표 완료 시각은 {due}입니다. / "
        f"Handled by the {agency_en}; target completion {due}."
    )


def request(row: sa.Row[Any], service: Service, base_url: str) -> dict[str, Any]:
    """Return one service request as Open311 shows it (plus CityOS's workflow fields)."""
    status = Status(row.status)
    return {
        "service_request_id": str(row.id),
        "status": status.open311,
        "status_notes": mask_contacts(row.status_notes),
        "service_name": service.name,
        "service_code": service.code,
        "description": mask_contacts(row.description),
        "agency_responsible": agency_of(row.department or service.department),
        "service_notice": service_notice(service, row),
        "requested_datetime": seoul(row.requested_at),
        "updated_datetime": seoul(row.updated_at),
        "expected_datetime": seoul(row.expected_at),
        "address": mask_contacts(row.address_string),
        "address_id": None,
        "zipcode": None,
        "lat": row.lat,
        "long": row.lon,
        "media_url": media_url(row, base_url),
        # CityOS extensions (Open311 allows more fields than it names):
        "workflow_status": status.value,
        "workflow_status_ko": STATUS_KO[status],
        "service_code_suggested": bool(row.code_suggested),
        "supporters": int(row.supporters),
    }


def jurisdiction() -> str:
    """Return the jurisdiction this server answers for."""
    return JURISDICTION
