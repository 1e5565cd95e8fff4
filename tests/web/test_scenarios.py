"""The scenario page: the twin's runs listed, a report served safely, two runs compared.

The runs are real: ``cityos twin run`` at 1 % of the residents, written without ``--out``
into ``CITYOS_TWIN_RUNS_DIR`` (the default the page lists).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from cityos.cli import app
from cityos.config import Settings, get_settings
from cityos.identity.models import Role
from cityos.twin._report_targets import compare_rows
from tests.conftest import STORAGE_INDEPENDENT
from tests.web.conftest import PASSWORD, LiveServer, run_axe, token

# On SQLite only: the twin's runs are files, not stored data, and the page is the
# same on both backends (docs/testing.md).
pytestmark = [pytest.mark.slow, STORAGE_INDEPENDENT]
HUB_AUTH = "on"
SCALE = "0.01"


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Two real runs (baseline, then car-third against it) in a fresh runs directory."""
    root = tmp_path_factory.mktemp("twin-runs")
    before = os.environ.get("CITYOS_TWIN_RUNS_DIR")
    os.environ["CITYOS_TWIN_RUNS_DIR"] = str(root)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        result = runner.invoke(app, ["twin", "run", "baseline", "--scale", SCALE])
        assert result.exit_code == 0, result.output
        (baseline,) = [p for p in root.iterdir() if p.name.startswith("baseline-")]
        assert (baseline / "kpis.json").is_file()
        assert (baseline / "report.html").is_file()
        result = runner.invoke(
            app,
            ["twin", "run", "car-third", "--scale", SCALE,
             "--reference", str(baseline / "kpis.json")],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert len([p for p in root.iterdir() if p.name.startswith("car-third-")]) == 1
        # Things the page must not list or serve.
        (root / "not-a-run").mkdir()
        (root / "stray.txt").write_text("x", encoding="utf-8")
        secret = tmp_path_factory.mktemp("outside")
        (secret / "kpis.json").write_text(
            json.dumps({"scenario": "stolen", "scale": 1, "seed": 1}), encoding="utf-8"
        )
        (secret / "report.html").write_text("<h1>secret</h1>", encoding="utf-8")
        (root / "escape").symlink_to(secret, target_is_directory=True)
        yield root
    finally:
        if before is None:
            os.environ.pop("CITYOS_TWIN_RUNS_DIR", None)
        else:
            os.environ["CITYOS_TWIN_RUNS_DIR"] = before
        get_settings.cache_clear()


@pytest.fixture(scope="module")
def site(database_url: str, runs_dir: Path) -> Iterator[LiveServer]:
    settings = Settings(
        database_url=database_url,
        mode="test",
        log_level="warning",
        auth="on",
        twin_runs_dir=runs_dir,
    )
    with LiveServer(settings) as live:
        yield live


def names(runs_dir: Path) -> tuple[str, str]:
    baseline = next(p.name for p in runs_dir.iterdir() if p.name.startswith("baseline-"))
    car_third = next(p.name for p in runs_dir.iterdir() if p.name.startswith("car-third-"))
    return baseline, car_third


def test_the_runs_need_staff(site: LiveServer) -> None:
    r = httpx.get(site.url + "/web/runs", timeout=30)
    assert r.status_code == 401
    r = httpx.get(site.url + "/web/runs", headers=token(site, Role.CITIZEN), timeout=30)
    assert r.status_code == 403
    assert r.json()["detail_ko"]


def test_runs_are_listed_compared_and_reported(site: LiveServer, runs_dir: Path) -> None:
    staff = token(site, Role.OPERATOR, department="교통과")
    baseline, car_third = names(runs_dir)
    listed = httpx.get(site.url + "/web/runs", headers=staff, timeout=30).json()
    assert [run["name"] for run in listed] == [car_third, baseline]  # newest first
    assert listed[0]["scenario"] == "car-third"
    assert listed[0]["report"] is True
    assert listed[0]["kpis"]["private_cars"] > 0
    r = httpx.get(
        site.url + "/web/runs/compare", params={"a": baseline, "b": car_third}, headers=staff
    )
    assert r.status_code == 200, r.text
    body = r.json()
    a = json.loads((runs_dir / baseline / "kpis.json").read_text(encoding="utf-8"))
    b = json.loads((runs_dir / car_third / "kpis.json").read_text(encoding="utf-8"))
    expected = compare_rows(a, b)  # the rows `cityos twin compare` prints
    assert [row["kpi"] for row in body["rows"]] == [row[0] for row in expected]
    cars = next(row for row in body["rows"] if row["kpi"] == "private_cars")
    assert cars["a"] == a["private_cars"]
    assert cars["b"] == b["private_cars"]
    assert cars["change"] == b["private_cars"] - a["private_cars"]
    assert cars["label_ko"] == "자가용"
    assert body["same_size"] is True
    r = httpx.get(site.url + f"/web/runs/{car_third}/report", headers=staff, timeout=30)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"].startswith("sandbox")
    assert r.content == (runs_dir / car_third / "report.html").read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/web/runs/escape/report",  # a symbolic link out of the runs directory
        "/web/runs/escape",
        "/web/runs/not-a-run",
        "/web/runs/not-a-run/report",
        "/web/runs/stray.txt/report",
        "/web/runs/..%2F..%2Fetc%2Fpasswd/report",
        "/web/runs/%2E%2E/report",
        "/web/runs/.hidden/report",
        "/web/runs/compare?a=escape&b=escape",
    ],
)
def test_nothing_outside_the_runs_directory_is_served(site: LiveServer, path: str) -> None:
    admin = token(site, Role.ADMIN)
    r = httpx.get(site.url + path, headers=admin, timeout=30)
    assert r.status_code == 404, (path, r.text)
    assert "secret" not in r.text
    assert "stolen" not in r.text


def test_the_escape_link_is_not_listed(site: LiveServer) -> None:
    listed = httpx.get(site.url + "/web/runs", headers=token(site, Role.ADMIN), timeout=30)
    assert {run["scenario"] for run in listed.json()} == {"baseline", "car-third"}


def login(page: Any, site: LiveServer) -> None:
    username = site.create_user(Role.OPERATOR, department="교통과")
    page.goto(site.url + "/")
    page.wait_for_selector("body[data-ready='map']", timeout=30_000)
    page.locator("#login-open").click()
    page.locator("#login-username").fill(username)
    page.locator("#login-password").fill(PASSWORD)
    page.locator("#login-form button[type=submit]").click()
    page.wait_for_selector("#logout", state="visible")


def test_the_scenario_page_in_a_browser(page: Any, site: LiveServer, runs_dir: Path) -> None:
    baseline, car_third = names(runs_dir)
    page.goto(site.url + "/scenarios")
    page.wait_for_selector("body[data-ready='runs']")
    assert "운영자" in page.locator("#runs-status").inner_text()  # not logged in
    assert run_axe(page) == []
    login(page, site)
    page.locator("a[href='/scenarios']").click()
    page.wait_for_selector("body[data-ready='runs']")
    rows = page.locator("#runs-body tr")
    assert rows.count() == 2
    assert page.locator("#runs-body tr").first.get_attribute("data-run") == car_third
    # The default choice: A = the older run, B = the newer; compare them.
    page.locator("#compare").click()
    page.wait_for_function(f"() => document.body.dataset.compared === '{baseline}|{car_third}'")
    cars = page.locator("#compare-body tr[data-kpi='private_cars']")
    assert "자가용" in cars.locator("th").inner_text()
    a = json.loads((runs_dir / baseline / "kpis.json").read_text(encoding="utf-8"))
    shown = cars.locator("td").first.inner_text().replace(",", "")
    assert shown == str(a["private_cars"])
    violations = run_axe(page)
    assert violations == [], [(v["id"], [n["html"] for n in v["nodes"]]) for v in violations]
    assert page.locator("#theme-switch").inner_text() == "어두운 화면"  # the other theme
    page.locator("#theme-switch").click()
    assert page.locator("#theme-switch").inner_text() == "밝은 화면"
    page.locator("#lang-switch").click()
    page.wait_for_function(
        "() => document.querySelector('#compare-body tr[data-kpi=private_cars] th')"
        ".textContent.startsWith('private cars')"
    )
    # The switch's label follows the language and the theme (js/page.js), not its markup's.
    assert page.locator("#theme-switch").inner_text() == "Light theme"
    violations = run_axe(page)
    assert violations == [], [(v["id"], [n["html"] for n in v["nodes"]]) for v in violations]
    page.screenshot(path=str(Path(__file__).resolve().parents[2] / "test-artifacts"
                             / "scenario-page-compare-en-dark.png"), full_page=True)  # fmt: skip
    page.locator(f"#runs-body tr[data-run='{car_third}'] a").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/web/runs/{car_third}/report")
    assert "Sejong twin" in page.locator("h1").inner_text()
