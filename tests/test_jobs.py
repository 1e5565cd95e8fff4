"""The periodic job runner on both backends: due times survive a restart, one claimant per
run, failures logged and counted without stopping anything, the app's lifespan runs the
registry (privacy retention), and ``cityos jobs list|run``."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import structlog
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from cityos import jobs
from cityos.app import create_app
from cityos.cli import app as cli
from cityos.config import Settings
from cityos.jobs import Job, JobContext, JobMetrics, JobRunner, run_job
from cityos.privacy.models import records

T0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def _counting(name: str, every: timedelta = timedelta(hours=1)) -> tuple[Job, list[datetime]]:
    seen: list[datetime] = []

    def run(context: JobContext) -> int:
        seen.append(context.now)
        return 3

    return Job(name=name, every=every, run=run), seen


def _row(engine: Engine, name: str) -> sa.Row:  # type: ignore[type-arg]
    with engine.connect() as connection:
        return connection.execute(sa.select(jobs.runs).where(jobs.runs.c.name == name)).one()


def test_jobs_are_checked_when_declared() -> None:
    with pytest.raises(ValueError, match="must match"):
        Job(name="Bad Name", every=timedelta(hours=1), run=lambda _c: 0)
    with pytest.raises(ValueError, match="positive"):
        Job(name="never", every=timedelta(0), run=lambda _c: 0)
    assert jobs.find("privacy_retention").every == timedelta(hours=1)
    with pytest.raises(KeyError, match="privacy_retention"):
        jobs.find("nope")


def test_a_job_runs_when_due_and_its_last_run_survives_a_restart(
    engine: Engine, settings: Settings
) -> None:
    job, seen = _counting(f"due_{uuid.uuid4().hex[:8]}")
    at = [T0]
    runner = JobRunner(
        settings=settings, engine=engine, app_state=None, jobs=[job], clock=lambda: at[0]
    )
    assert [o.affected for o in asyncio.run(runner.tick())] == [3]
    at[0] = T0 + timedelta(minutes=59)
    assert asyncio.run(runner.tick()) == []  # not due yet
    restarted = JobRunner(
        settings=settings, engine=engine, app_state=None, jobs=[job], clock=lambda: at[0]
    )
    assert asyncio.run(restarted.tick()) == []  # a restart does not run it early
    at[0] = T0 + timedelta(hours=1)
    assert len(asyncio.run(restarted.tick())) == 1
    assert seen == [T0, T0 + timedelta(hours=1)]
    row = _row(engine, job.name)
    assert (row.runs, row.failures, row.last_status, row.last_affected) == (2, 0, "ok", 3)
    assert row.last_started_at == T0 + timedelta(hours=1)


def test_of_two_claimants_only_one_runs_a_due_job(engine: Engine) -> None:
    job, _ = _counting(f"claim_{uuid.uuid4().hex[:8]}")
    assert jobs.claim(engine, job, now=T0) is True
    assert jobs.claim(engine, job, now=T0) is False  # a second worker at the same moment
    assert jobs.claim(engine, job, now=T0, force=True) is True  # `cityos jobs run` forces


def test_a_failing_job_is_logged_counted_and_does_not_stop_the_others(
    engine: Engine, settings: Settings
) -> None:
    def broken(_context: JobContext) -> int:
        raise RuntimeError("disk full")

    failing = Job(name=f"broken_{uuid.uuid4().hex[:8]}", every=timedelta(hours=1), run=broken)
    healthy, seen = _counting(f"after_{uuid.uuid4().hex[:8]}")
    metrics = JobMetrics(__import__("prometheus_client").CollectorRegistry())
    runner = JobRunner(
        settings=settings,
        engine=engine,
        app_state=None,
        jobs=[failing, healthy],
        metrics=metrics,
        clock=lambda: T0,
    )
    with structlog.testing.capture_logs() as logged:
        outcomes = asyncio.run(runner.tick())
    assert [(o.name, o.status) for o in outcomes] == [
        (failing.name, "failed"),
        (healthy.name, "ok"),
    ]
    assert outcomes[0].error == "RuntimeError: disk full"
    assert seen == [T0]
    failure = next(e for e in logged if e["event"] == "job_failed")
    assert failure["log_level"] == "error"
    assert failure["job"] == failing.name
    assert failure["error_type"] == "RuntimeError"
    assert metrics.runs.labels(failing.name, "failed")._value.get() == 1
    assert metrics.runs.labels(healthy.name, "ok")._value.get() == 1
    assert metrics.affected.labels(healthy.name)._value.get() == 3
    row = _row(engine, failing.name)
    assert (row.failures, row.last_status, row.last_error) == (
        1,
        "failed",
        "RuntimeError: disk full",
    )


def test_the_app_runs_the_registry_in_its_lifespan_off_the_event_loop(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []

    def probe(context: JobContext) -> int:
        import threading

        threads.append(threading.current_thread().name)
        assert context.app_state.store is not None  # the hub store is reachable
        return 0

    def broken(_context: JobContext) -> int:
        raise ValueError("boom")

    monkeypatch.setattr(
        jobs,
        "JOBS",
        [
            *jobs.JOBS,
            Job(name="lifespan_broken", every=timedelta(hours=1), run=broken),
            Job(name="lifespan_probe", every=timedelta(hours=1), run=probe),
        ],
    )
    with engine.begin() as connection:  # a location trace far past its 90 days
        connection.execute(
            sa.insert(records).values(
                id="expired-location", subject="1" * 64, kind="location", purpose="x",
                recorded_at=datetime.now(UTC) - timedelta(days=400), created_at=T0,
                created_by="test", key_id="s0", payload="s0:x",
            )
        )  # fmt: skip
        connection.execute(sa.delete(jobs.runs).where(jobs.runs.c.name == "privacy_retention"))
    on = settings.model_copy(update={"jobs": "on", "jobs_tick_seconds": 0.05})
    app = create_app(on)
    with TestClient(app) as client:
        deadline = time.monotonic() + 30
        while not threads and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/healthz").status_code == 200  # a failing job stopped nothing
        registry = app.state.metrics.registry
        sample = registry.get_sample_value
        assert sample("cityos_job_runs_total", {"job": "privacy_retention", "outcome": "ok"}) == 1
        assert sample("cityos_job_runs_total", {"job": "lifespan_broken", "outcome": "failed"}) == 1
        assert sample("cityos_job_records_total", {"job": "privacy_retention"}) >= 1
    assert threads
    assert threads[0] != "MainThread"
    with engine.connect() as connection:
        assert connection.execute(
            sa.select(records.c.id).where(records.c.id == "expired-location")
        ).first() is None  # fmt: skip
    assert _row(engine, "privacy_retention").last_status == "ok"


def test_jobs_are_off_in_test_mode_unless_asked() -> None:
    assert not jobs.jobs_enabled(Settings(mode="test"))
    assert jobs.jobs_enabled(Settings(mode="test", jobs="on"))
    assert jobs.jobs_enabled(Settings(mode="development"))
    assert not jobs.jobs_enabled(Settings(mode="development", jobs="off"))


def test_the_cli_lists_and_runs_jobs(settings: Settings) -> None:
    runner = CliRunner()
    url = ["--database-url", settings.database_url]
    ran = runner.invoke(cli, ["jobs", "run", "privacy_retention", *url])
    assert ran.exit_code == 0, ran.output
    assert ran.output.startswith("privacy_retention\tok\t")
    listed = runner.invoke(cli, ["jobs", "list", *url])
    assert listed.exit_code == 0, listed.output
    line = next(x for x in listed.output.splitlines() if x.startswith("privacy_retention"))
    assert "\t1:00:00\t" in line
    assert "\tok\t" in line
    unknown = runner.invoke(cli, ["jobs", "run", "nope", *url])
    assert unknown.exit_code == 2
    assert "privacy_retention" in unknown.output


def test_run_job_reports_a_job_it_did_not_run(engine: Engine, settings: Settings) -> None:
    job, seen = _counting(f"once_{uuid.uuid4().hex[:8]}")
    context = JobContext(settings, engine, None, T0)
    assert run_job(job, context) is not None
    assert run_job(job, context) is None
    assert len(seen) == 1
