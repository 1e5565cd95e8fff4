"""Which department handles which complaint type is governance configuration: the packaged
table, a deployment's own file (CITYOS_COMPLAINT_DEPARTMENTS_FILE), and clear refusals of a
wrong one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityos.app import create_app
from cityos.config import SettingsError
from cityos.governance import catalog
from cityos.governance.catalog import SERVICES
from cityos.governance.classify.codes import departments as classifier_departments
from cityos.governance.departments import load, parse
from cityos.identity.models import Role
from tests.governance.conftest import BASE, City

CODES = [s.code for s in SERVICES]


@pytest.fixture
def packaged_afterwards() -> Iterator[None]:
    """Put the packaged table back after a test that loads another one."""
    yield
    catalog.use(None)


def test_the_packaged_table_gives_every_code_one_department() -> None:
    table = load(None, CODES)
    handled = [c for d in table.departments for c in d.service_codes]
    assert sorted(handled) == sorted(CODES)  # each exactly once
    assert table.for_code("road").name == "도로과 (Road Division)"
    assert table.for_code("streetlight").id == "road"
    assert table.for_code("waste").name_ko == "환경과"
    assert table.for_code("other").name_en == "Civil Affairs and Passports Division"
    assert catalog.department_names() == tuple(sorted(d.name_ko for d in table.departments))
    # The routing classifier suggests the same departments the queues use.
    suggested = classifier_departments()
    assert {c: d.name_ko for c, d in suggested.items()} == {
        c: table.for_code(c).name_ko for c in CODES
    }


def _table(**changes: Any) -> dict[str, Any]:
    raw = json.loads(Path(catalog.__file__).parent.parent.joinpath(
        "data/complaints/departments.json").read_text("utf-8"))  # fmt: skip
    departments = raw["departments"]
    for index, change in changes.items():
        departments[int(index.removeprefix("d"))].update(change)
    return raw


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ([], "at least one department"),
        ({"departments": []}, "at least one department"),
        (_table(d0={"service_codes": ["road"]}), "no department handles streetlight"),
        (_table(d1={"service_codes": ["parking", "traffic", "road"]}), "handled by both"),
        (_table(d0={"service_codes": ["road", "streetlight", "pothole"]}), "unknown service code"),
        (_table(d0={"id": "Road Division"}), "must be unique"),
        (_table(d1={"id": "road"}), "must be unique"),
        (_table(d0={"name_en": ""}), "name_en must be a non-empty"),
        (_table(d0={"name_ko": "도" * 101}), "name_ko must be a non-empty"),
        (_table(d0={"service_codes": "road"}), "service_codes must be a list"),
    ],
)
def test_a_wrong_table_is_refused_naming_the_problem_in_both_languages(raw: Any, says: str) -> None:
    with pytest.raises(SettingsError) as refused:
        parse(raw, CODES, source="/etc/cityos/departments.json")
    message = str(refused.value)
    assert says in message, message
    assert "/etc/cityos/departments.json" in message
    assert "CITYOS_COMPLAINT_DEPARTMENTS_FILE" in message
    assert any("\uac00" <= c <= "\ud7a3" for c in message.split(" / ")[0])  # Korean first


def test_an_unreadable_or_malformed_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read the file"):
        load(tmp_path / "missing.json", CODES)
    broken = tmp_path / "broken.json"
    broken.write_text('{"departments": [', "utf-8")
    with pytest.raises(SettingsError, match="not valid JSON"):
        load(broken, CODES)


def test_a_deployment_file_routes_new_complaints_to_its_departments(
    city: City, tmp_path: Path, packaged_afterwards: None
) -> None:
    own = _table(d0={"id": "road-works", "name_ko": "도로관리과",
                     "name_en": "Road Management Division"})  # fmt: skip
    path = tmp_path / "departments.json"
    path.write_text(json.dumps(own, ensure_ascii=False), "utf-8")
    settings = city.settings.model_copy(update={"complaint_departments_file": path})
    admin = city.make_user(Role.ADMIN)
    with TestClient(create_app(settings)) as client:
        form = {"api_key": city.api_key, "service_code": "streetlight",
                "address_string": "한솔동 가로등", "duplicate_action": "new"}  # fmt: skip
        r = client.post(f"{BASE}/requests.json", data=form)
        assert r.status_code == 201, r.text
        answer = r.json()[0]
        assert "도로관리과에서 처리" in answer["service_notice"]
        assert "Handled by the Road Management Division" in answer["service_notice"]
        shown = client.get(f"{BASE}/requests/{answer['service_request_id']}.json").json()[0]
        assert shown["agency_responsible"] == "도로관리과 (Road Management Division)"
        queue = client.get("/complaints/queue", params={"department": "도로관리과"},
                           headers=admin)  # fmt: skip
        assert queue.status_code == 200, queue.text
        ids = [q["service_request_id"] for q in queue.json()]
        assert answer["service_request_id"] in ids
        old = client.get("/complaints/queue", params={"department": "도로과"}, headers=admin)
        assert old.status_code == 400  # no such department in this deployment
        assert "도로관리과" in old.json()[0]["description"]


def test_the_app_does_not_start_with_a_wrong_file(
    city: City, tmp_path: Path, packaged_afterwards: None
) -> None:
    path = tmp_path / "departments.json"
    path.write_text(json.dumps(_table(d0={"service_codes": ["road"]})), "utf-8")
    settings = city.settings.model_copy(update={"complaint_departments_file": path})
    with pytest.raises(SettingsError, match="no department handles streetlight"):
        create_app(settings)
