"""The app's operational endpoints and start-up: health, metrics, OpenAPI, migrations."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from cityos import __version__, db
from cityos.app import AppState
from cityos.config import Settings
from tests.conftest import STORAGE_INDEPENDENT


def test_healthz_reports_version_and_backend(client: TestClient, settings: Settings) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "version": __version__, "backend": settings.backend}


def test_metrics_count_requests_by_route(client: TestClient) -> None:
    client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Thing:none")
    text = client.get("/metrics").text
    assert (
        'cityos_http_requests_total{method="GET",route="/ngsi-ld/v1/entities/{entity_id}",'
        'status="404"}' in text
    )
    assert "cityos_http_request_duration_seconds_bucket" in text


def _sample(text: str, name: str) -> float | None:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return None if found is None else float(found.group(1))


def test_metrics_show_the_sqlite_writer_and_its_checkpoints(
    client: TestClient, settings: Settings
) -> None:
    """SQLite: the writers' lock (transactions, seconds waited and held) and the WAL
    checkpoints, read at the scrape; PostgreSQL exports none of them."""
    before = client.get("/metrics").text
    entity = {
        "id": "urn:ngsi-ld:Thing:metrics",
        "type": "Thing",
        "n": {"type": "Property", "value": 1},
    }
    assert client.post("/ngsi-ld/v1/entities", json=entity).status_code == 201
    text = client.get("/metrics").text
    if settings.backend != "sqlite":
        assert "cityos_sqlite_" not in text
        return
    written = _sample(text, "cityos_sqlite_write_transactions_total")
    assert written is not None
    assert written >= (_sample(before, "cityos_sqlite_write_transactions_total") or 0) + 1
    held = _sample(text, "cityos_sqlite_write_lock_held_seconds_total")
    assert held is not None
    assert held > 0
    for name in (
        "cityos_sqlite_write_lock_wait_seconds_total",
        "cityos_sqlite_checkpoints_total",
        "cityos_sqlite_checkpoint_catchups_total",
        "cityos_sqlite_checkpoint_resets_total",
        "cityos_sqlite_checkpoint_reset_seconds_total",
        "cityos_sqlite_wal_frames",
    ):
        value = _sample(text, name)
        assert value is not None, name
        assert value >= 0, name
    assert "# TYPE cityos_sqlite_wal_frames gauge" in text


def test_openapi_lists_the_hub(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    for path in (
        "/ngsi-ld/v1/entities",
        "/ngsi-ld/v1/entities/{entity_id}/attrs/{attr}",
        "/ngsi-ld/v1/entityOperations/upsert",
        "/ngsi-ld/v1/types",
        "/ngsi-ld/v1/jsonldContexts",
        "/healthz",
    ):
        assert path in spec["paths"], path
    assert client.get("/docs").status_code == 200


def test_database_is_at_head_after_start(client: TestClient, settings: Settings) -> None:
    assert db.current_revision(settings) == db.head_revision()
    assert db.upgrade(settings) == db.head_revision()  # idempotent


def test_the_server_does_not_load_the_twins_numerical_stack() -> None:
    """A hub-only server (live twin off) must not pay for numba/scipy: about 125 MB of RSS.

    The twin is imported when it runs (live mode, a scenario run), not by the app itself.
    """
    code = (
        "import sys, cityos.app\n"
        "heavy = sorted(m for m in ('numba', 'llvmlite', 'scipy', 'sklearn', 'kiwipiepy',"
        " 'matplotlib') if m in sys.modules)\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""


def test_malloc_arenas_are_capped_unless_the_environment_says_otherwise() -> None:
    code = "from cityos._memory import limit_malloc_arenas; print(limit_malloc_arenas())"
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    run = [sys.executable, "-c", code]
    capped = subprocess.run(run, capture_output=True, text=True, check=True, env=env)
    assert capped.stdout.strip() == ("True" if sys.platform.startswith("linux") else "False")
    kept = subprocess.run(
        run, capture_output=True, text=True, check=True, env={**env, "MALLOC_ARENA_MAX": "8"}
    )
    assert kept.stdout.strip() == "False"


def test_app_state_values_are_plain_attributes_kept_in_step(client: TestClient) -> None:
    """AppState mirrors each value into the instance, so reading it raises nothing inside."""
    state = client.app.state  # type: ignore[attr-defined]
    assert isinstance(state, AppState)
    assert "store" in vars(state)  # found by the ordinary lookup, not by __getattr__
    state.probe = 1
    assert (state.probe, state["probe"], vars(state)["probe"]) == (1, 1, 1)
    state["probe"] = 2
    assert (state.probe, state["probe"]) == (2, 2)
    del state["probe"]
    assert not hasattr(state, "probe")
    state.probe = 3
    del state.probe
    assert getattr(state, "probe", None) is None
    assert "probe" not in list(state)


@STORAGE_INDEPENDENT  # the router answers before any storage is asked
@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nothing", 404),
        ("GET", "/ngsi-ld/v1/nothing", 404),
        ("GET", "/static/js/nothing.js", 404),
        ("DELETE", "/healthz", 405),
    ],
)
def test_the_routers_own_errors_speak_both_languages(
    client: TestClient, method: str, path: str, status: int
) -> None:
    """No such path and a method a path does not take: the status and FastAPI's body shape,
    with what to do in English and Korean (and a 405 keeps its Allow header)."""
    r = client.request(method, path)
    assert r.status_code == status
    detail = r.json()["detail"]
    assert path in detail
    english, korean = detail.split(" / ", 1)
    assert english.startswith("Not Found" if status == 404 else "Method Not Allowed")
    assert re.search("[가-힣]", korean)
    if status == 405:
        assert "GET" in r.headers["allow"]
        assert method in english


@STORAGE_INDEPENDENT
def test_a_long_unknown_path_is_not_echoed_whole(client: TestClient) -> None:
    r = client.get("/" + "x" * 5000)
    assert r.status_code == 404
    assert len(r.text) < 1000
