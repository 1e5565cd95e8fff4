"""The city's complaint types (Open311 services): codes, names, SLAs, attributes, departments.

Twelve service codes cover what Sejong's residents report (issue 7). Each has an SLA [hours]
from receipt to completion and is handled by the department that the governance
configuration names (:mod:`cityos.governance.departments`: a data file in the package,
overridable by ``CITYOS_COMPLAINT_DEPARTMENTS_FILE``; :func:`use` loads it at start). The
defaults follow the handling periods of the Civil Petitions Treatment Act (민원 처리에 관한
법률 시행령 제14조: 7 days for a simple grievance), shortened where a hazard waits on the
answer (safety, road, water, streetlight). ``docs/governance/complaints.md`` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cityos.governance.departments import Department, DepartmentTable, load


@dataclass(frozen=True)
class ServiceAttribute:
    """One Open311 service-definition attribute (an extra form field of a service)."""

    code: str
    datatype: str  # string, number, datetime, text, singlevaluelist, multivaluelist
    required: bool
    description_ko: str
    description_en: str
    order: int
    values: tuple[tuple[str, str], ...] = ()  # (key, name) for list datatypes
    variable: bool = True


@dataclass(frozen=True)
class Service:
    """One complaint type: Open311 service code, names, group, SLA [h]."""

    code: str
    name_ko: str
    name_en: str
    group: str
    sla_hours: int
    keywords: tuple[str, ...]
    attributes: tuple[ServiceAttribute, ...] = field(default=())

    @property
    def name(self) -> str:
        """Return the bilingual service name Open311 clients show (``한국어 (English)``)."""
        return f"{self.name_ko} ({self.name_en})"

    @property
    def handler(self) -> Department:
        """Return the department that handles this service (the configured table)."""
        return department_table().for_code(self.code)

    @property
    def department(self) -> str:
        """Return the Korean name of its department (the operators' queue key)."""
        return self.handler.name_ko

    @property
    def agency(self) -> str:
        """Return the bilingual department name (Open311 ``agency_responsible``)."""
        return self.handler.name

    @property
    def description(self) -> str:
        """Return the bilingual description of the service."""
        return f"{self.name_ko} 관련 민원 / Complaints about {self.name_en.lower()}"


_HAZARD = ServiceAttribute(
    code="hazard",
    datatype="singlevaluelist",
    required=False,
    description_ko="지금 사람이 다칠 위험이 있나요? / Could someone be hurt now?",
    description_en="Could someone be hurt now? / 지금 사람이 다칠 위험이 있나요?",
    order=1,
    values=(("yes", "예 (Yes)"), ("no", "아니요 (No)")),
)


def _size(order: int) -> ServiceAttribute:
    return ServiceAttribute(
        code="size",
        datatype="singlevaluelist",
        required=False,
        description_ko="크기 / Size",
        description_en="Size / 크기",
        order=order,
        values=(("small", "작음 (Small)"), ("medium", "보통 (Medium)"), ("large", "큼 (Large)")),
    )


SERVICES: tuple[Service, ...] = (
    Service("road", "도로·보도 파손", "Damaged road or pavement", "infrastructure",
            72, ("포트홀", "pothole", "보도블록", "pavement"), (_HAZARD, _size(2))),
    Service("parking", "불법 주정차", "Illegal parking", "transport",
            24, ("주차", "parking", "소화전", "hydrant")),
    Service("traffic", "교통·신호·대중교통", "Traffic, signals and public transport",
            "transport", 72, ("신호등", "signal", "버스", "bus"), (_HAZARD,)),
    Service("waste", "쓰레기·무단투기", "Rubbish and fly-tipping", "sanitation",
            72, ("쓰레기", "rubbish", "무단투기", "dumping"), (_size(1),)),
    Service("streetlight", "가로등·보안등", "Street and security lights", "infrastructure",
            48, ("가로등", "streetlight", "보안등", "lamp")),
    Service("park", "공원·녹지·놀이터", "Parks, green spaces and playgrounds", "parks",
            120, ("공원", "park", "놀이터", "playground"), (_HAZARD,)),
    Service("water", "상하수도·누수", "Water supply, sewers and leaks", "water",
            24, ("누수", "leak", "하수구", "sewer")),
    Service("environment", "대기·소음·악취", "Air, noise and odour", "environment",
            120, ("소음", "noise", "악취", "odour")),
    Service("construction", "공사장·건축", "Construction sites and buildings", "buildings",
            120, ("공사", "construction", "건축", "building"), (_HAZARD,)),
    Service("animal", "동물·로드킬", "Animals and roadkill", "environment",
            24, ("로드킬", "roadkill", "유기견", "stray")),
    Service("safety", "안전·재난 위험", "Safety and disaster risks", "safety",
            12, ("위험", "danger", "붕괴", "collapse"), (_HAZARD,)),
    Service("other", "기타", "Other", "other", 168, ("기타", "other")),
)  # fmt: skip

BY_CODE: dict[str, Service] = {s.code: s for s in SERVICES}
_active: list[DepartmentTable] = []


def use(path: Path | None) -> DepartmentTable:
    """Load and check the department table (None: the packaged one) and make it current."""
    table = load(path, (s.code for s in SERVICES))
    _active[:] = [table]
    return table


def department_table() -> DepartmentTable:
    """Return the current department table (the packaged one until :func:`use` is called)."""
    if not _active:
        use(None)
    return _active[0]


def department_names() -> tuple[str, ...]:
    """Return the Korean names of the departments with a complaint queue, sorted."""
    return department_table().names_ko()


def service(code: str) -> Service | None:
    """Return the service with this code, or None."""
    return BY_CODE.get(code)


def codes_text() -> str:
    """Return the service codes as one comma-separated line (for error messages)."""
    return ", ".join(s.code for s in SERVICES)


def handler_named(name_ko: str) -> Department | None:
    """Return the current table's department of this Korean name, or None."""
    return next((d for d in department_table().departments if d.name_ko == name_ko), None)


def agency_of(name_ko: str) -> str:
    """Return the bilingual name of a stored complaint's department (as stored if unknown)."""
    found = handler_named(name_ko)
    return found.name if found is not None else name_ko
