"""Which city department handles which complaint type: governance configuration, not code.

The table ships as ``cityos/data/complaints/departments.json``: each department with its
Korean and English names and the Open311 service codes it handles. A city whose organisation
differs points ``CITYOS_COMPLAINT_DEPARTMENTS_FILE`` at its own file of the same shape; it
is read once when the app starts (:func:`use`) and checked whole: every service code handled
by exactly one department, no unknown code, names present — otherwise the app does not start,
and the error names the file and the problem in Korean and English.

A complaint stores its department's Korean name when it is filed (the operators' queue key),
so a changed table routes new complaints only. ``docs/governance/complaints.md`` describes the
file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from cityos.config import SettingsError

PACKAGED = "data/complaints/departments.json"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


@dataclass(frozen=True)
class Department:
    """A city department that receives complaints: id, names, the service codes it handles."""

    id: str
    name_ko: str
    name_en: str
    service_codes: tuple[str, ...]

    @property
    def name(self) -> str:
        """Return the bilingual name shown to people (``도로과 (Road Division)``)."""
        return f"{self.name_ko} ({self.name_en})"


@dataclass(frozen=True)
class DepartmentTable:
    """The departments of a deployment and, for each service code, the one that handles it."""

    departments: tuple[Department, ...]
    source: str

    def for_code(self, code: str) -> Department:
        """Return the department that handles service ``code`` (every code has one)."""
        for department in self.departments:
            if code in department.service_codes:
                return department
        raise KeyError(code)

    def names_ko(self) -> tuple[str, ...]:
        """Return the Korean names (the operators' queue keys), sorted."""
        return tuple(sorted(d.name_ko for d in self.departments))


def _problem(source: str, en: str, ko: str) -> SettingsError:
    return SettingsError(
        f"CITYOS_COMPLAINT_DEPARTMENTS_FILE ({source}): {ko} / {en} "
        "(docs/governance/complaints.md, 'Departments')"
    )


def _text(source: str, entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise _problem(
            source,
            f"{where}: {key} must be a non-empty text of at most 100 characters",
            f"{where}: {key}은(는) 100자 이하의 비어 있지 않은 텍스트여야 합니다",
        )
    return value.strip()


def parse(raw: Any, codes: Iterable[str], *, source: str) -> DepartmentTable:
    """Return the checked table of a parsed departments document; SettingsError if wrong."""
    wanted = list(codes)
    entries = raw.get("departments") if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not entries:
        raise _problem(
            source,
            'the file must be a JSON object {"departments": [...]} with at least one department',
            '파일은 부서가 하나 이상인 JSON 객체 {"departments": [...]}여야 합니다',
        )
    departments: list[Department] = []
    owner: dict[str, str] = {}
    for number, entry in enumerate(entries):
        where = f"departments[{number}]"
        if not isinstance(entry, dict):
            raise _problem(source, f"{where} must be an object", f"{where}은(는) 객체여야 합니다")
        ident = _text(source, entry, "id", where)
        if not set(ident) <= _ID_CHARS or any(d.id == ident for d in departments):
            raise _problem(
                source,
                f"{where}: id {ident!r} must be unique, of a-z, 0-9 and '-'",
                f"{where}: id {ident!r}는 a-z, 0-9, '-'로 된 고유한 값이어야 합니다",
            )
        handled = entry.get("service_codes")
        if not isinstance(handled, list) or not all(isinstance(c, str) for c in handled):
            raise _problem(
                source,
                f"{where}: service_codes must be a list of service codes",
                f"{where}: service_codes는 서비스 코드 목록이어야 합니다",
            )
        for code in handled:
            if code not in wanted:
                raise _problem(
                    source,
                    f"{where}: unknown service code {code!r}; the codes are {', '.join(wanted)}",
                    f"{where}: 알 수 없는 서비스 코드 {code!r}입니다. 코드: {', '.join(wanted)}",
                )
            if code in owner:
                raise _problem(
                    source,
                    f"service code {code!r} is handled by both {owner[code]!r} and {ident!r}",
                    f"서비스 코드 {code!r}를 {owner[code]!r}와 {ident!r}가 함께 맡고 있습니다",
                )
            owner[code] = ident
        departments.append(
            Department(
                id=ident,
                name_ko=_text(source, entry, "name_ko", where),
                name_en=_text(source, entry, "name_en", where),
                service_codes=tuple(handled),
            )
        )
    missing = [c for c in wanted if c not in owner]
    if missing:
        raise _problem(
            source,
            f"no department handles {', '.join(missing)}; give each code a department",
            f"{', '.join(missing)}을(를) 맡은 부서가 없습니다. 모든 코드에 부서를 정하세요",
        )
    return DepartmentTable(tuple(departments), source)


def load(path: Path | None, codes: Iterable[str]) -> DepartmentTable:
    """Return the table of ``path`` (None: the packaged one), checked against ``codes``."""
    if path is None:
        source = f"cityos/{PACKAGED}"
        text = resources.files("cityos").joinpath(PACKAGED).read_text("utf-8")
    else:
        source = str(path)
        try:
            text = Path(path).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise _problem(
                source,
                f"cannot read the file ({type(error).__name__})",
                f"파일을 읽을 수 없습니다({type(error).__name__})",
            ) from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise _problem(
            source,
            f"not valid JSON (line {error.lineno})",
            f"올바른 JSON이 아닙니다({error.lineno}행)",
        ) from None
    return parse(raw, codes, source=source)
