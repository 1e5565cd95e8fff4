"""The twelve Open311 service codes of issue 7 and the Sejong department that handles each.

The department table is a suggestion for the operator who routes a complaint, not an order:
it is the governance configuration of :mod:`cityos.governance.departments` (the packaged
``data/complaints/departments.json`` or the deployment's ``CITYOS_COMPLAINT_DEPARTMENTS_FILE``),
so a suggestion names the queue the complaint will land in (docs/governance/complaints.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServiceCode:
    """One Open311 service: its code and its names in Korean and English."""

    code: str
    name_ko: str
    name_en: str


@dataclass(frozen=True, slots=True)
class Department:
    """A Sejong city department that receives complaints of some service codes."""

    id: str
    name_ko: str
    name_en: str


SERVICE_CODES: tuple[ServiceCode, ...] = (
    ServiceCode("road", "도로·보도 파손", "Damaged road or pavement"),
    ServiceCode("parking", "불법 주정차", "Illegal parking"),
    ServiceCode("traffic", "교통·신호·대중교통", "Traffic, signals and public transport"),
    ServiceCode("waste", "쓰레기·무단투기", "Waste and fly-tipping"),
    ServiceCode("streetlight", "가로등·보안등", "Street and security lights"),
    ServiceCode("park", "공원·녹지·놀이터", "Parks, green spaces and playgrounds"),
    ServiceCode("water", "상하수도·누수", "Water supply, sewers and leaks"),
    ServiceCode("environment", "대기·소음·악취", "Air, noise and odour"),
    ServiceCode("construction", "공사장·건축", "Construction sites and buildings"),
    ServiceCode("animal", "동물·로드킬", "Animals and roadkill"),
    ServiceCode("safety", "안전·재난 위험", "Safety and disaster risk"),
    ServiceCode("other", "기타", "Other"),
)
CODES: tuple[str, ...] = tuple(s.code for s in SERVICE_CODES)
BY_CODE: dict[str, ServiceCode] = {s.code: s for s in SERVICE_CODES}


def departments() -> dict[str, Department]:
    """Return the responsible department of every service code (the configured table)."""
    from cityos.governance.catalog import department_table

    table = department_table()
    out = {}
    for code in CODES:
        handler = table.for_code(code)
        out[code] = Department(handler.id, handler.name_ko, handler.name_en)
    return out
