"""Periodic jobs: retention and other housekeeping, run off the event loop on a schedule.

A :class:`Job` is a name, an interval and a function of a :class:`JobContext` returning how
many records it affected. :data:`JOBS` is the registry: add a ``Job`` to it to have every
CityOS process run it. :func:`cityos.app.create_app` starts a :class:`JobRunner` in its
lifespan (``CITYOS_JOBS``: on by default, off in test mode); ``cityos jobs list`` and
``cityos jobs run [NAME]`` show and run them by hand.

- Each job runs in a worker thread, never on the event loop, one job at a time per process.
- When a job last started is kept in ``jobs_runs`` (migration 0007): after a restart a job
  runs only once its interval has passed since the last start. A worker *claims* a due job
  with one conditional UPDATE, so of several workers (or a worker and the CLI) one runs it.
- A failing job is logged (``job_failed``, structured, the error's type and message only)
  and counted in ``/metrics`` (``cityos_job_runs_total{outcome="failed"}``); it never stops
  the app or the other jobs, and runs again after its interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from cityos.config import Settings
from cityos.identity.models import TIME

JOB_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
STOP_WAIT_SECONDS = 30.0


def _log() -> Any:
    # Fetched at each use (not cached at import) so a job's log lines follow the logging
    # configuration of the moment: rare lines, and tests can capture them.
    return structlog.get_logger("cityos.jobs")


metadata = sa.MetaData()
runs = sa.Table(
    "jobs_runs",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("last_started_at", TIME),
    sa.Column("last_finished_at", TIME),
    sa.Column("last_status", sa.String(10)),
    sa.Column("last_affected", sa.Integer),
    sa.Column("last_error", sa.String(500)),
    sa.Column("runs", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
)


@dataclass(frozen=True)
class JobContext:
    """What a job works with: settings, the app's database engine, app.state, the time now.

    ``app_state`` is the FastAPI ``app.state`` (``app_state.store`` is the hub store); the
    CLI passes a state holding ``settings`` and ``store`` only.
    """

    settings: Settings
    engine: Engine
    app_state: Any
    now: datetime


@dataclass(frozen=True)
class Job:
    """A periodic job: ``run`` returns the number of records it affected."""

    name: str
    every: timedelta
    run: Callable[[JobContext], int]

    def __post_init__(self) -> None:
        if not JOB_NAME.match(self.name):
            raise ValueError(f"job name {self.name!r} must match {JOB_NAME.pattern}")
        if self.every <= timedelta(0):
            raise ValueError(f"job {self.name!r}: 'every' must be positive")


def _privacy_retention(context: JobContext) -> int:
    """Erase personal data older than its kind's retention period (PIPA art. 21)."""
    from cityos.privacy.retention import purge_expired

    erased = purge_expired(context.engine, settings=context.settings, now=context.now)
    return sum(erased.values())


def _temporal_retention(context: JobContext) -> int:
    """Delete raw history instances older than CITYOS_TEMPORAL_RETENTION_DAYS (roll-ups stay)."""
    from cityos.hub.temporal.retention import expire_history

    return expire_history(
        context.app_state.store,
        keep_days=context.settings.temporal_retention_days,
        now=context.now,
    )


def _temporal_rollup(context: JobContext) -> int:
    """Fold what the writes left pending since the last run into the hourly roll-ups."""
    from cityos.hub.temporal.rollup import fold

    return fold(context.app_state.store)


def _complaints_outbox(context: JobContext) -> int:
    """Write stale complaint copies to the hub and send due complaint webhooks."""
    from cityos.governance.outbox import run_job

    return run_job(context.engine, context.app_state, context.settings, context.now)


def _dead_letter_retention(context: JobContext) -> int:
    """Delete dead letters older than CITYOS_INGEST_DEAD_LETTER_RETENTION_DAYS (default 30)."""
    from cityos.ingest.deadletters import purge

    cutoff = context.now - timedelta(days=context.settings.ingest_dead_letter_retention_days)
    with context.engine.begin() as connection:
        return purge(connection, before=int(cutoff.timestamp() * 1_000_000))


# The registry: every CityOS process runs these. Add a Job here to register one.
JOBS: list[Job] = [
    Job(name="privacy_retention", every=timedelta(hours=1), run=_privacy_retention),
    Job(name="temporal_retention", every=timedelta(hours=1), run=_temporal_retention),
    Job(name="temporal_rollup", every=timedelta(minutes=5), run=_temporal_rollup),
    Job(name="complaints_outbox", every=timedelta(seconds=30), run=_complaints_outbox),
    Job(name="dead_letter_retention", every=timedelta(hours=1), run=_dead_letter_retention),
]


@dataclass(frozen=True)
class JobRun:
    """What ``jobs_runs`` remembers of a job."""

    name: str
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_status: str | None
    last_affected: int | None
    last_error: str | None
    runs: int
    failures: int


@dataclass(frozen=True)
class JobOutcome:
    """One run of a job: ok or failed, records affected, how long it took [s]."""

    name: str
    status: Literal["ok", "failed"]
    affected: int
    seconds: float
    error: str | None = None


class JobMetrics:
    """The job collectors, registered in the app's metrics registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter(
            "cityos_job_runs_total",
            "Periodic job runs, by job and outcome (ok, failed).",
            ["job", "outcome"],
            registry=registry,
        )
        self.affected = Counter(
            "cityos_job_records_total",
            "Records affected by periodic jobs, by job.",
            ["job"],
            registry=registry,
        )
        self.duration = Histogram(
            "cityos_job_duration_seconds",
            "Time one run of a periodic job took [s], by job.",
            ["job"],
            buckets=(0.01, 0.1, 0.5, 1, 5, 30, 120, 600),
            registry=registry,
        )


def jobs_enabled(settings: Settings) -> bool:
    """Return True when this process runs the periodic jobs (off in test mode by default)."""
    if settings.jobs is None:
        return settings.mode != "test"
    return settings.jobs == "on"


def find(name: str, jobs: Sequence[Job] | None = None) -> Job:
    """Return the registered job of that name, or raise KeyError naming the known ones."""
    for job in JOBS if jobs is None else jobs:
        if job.name == name:
            return job
    known = ", ".join(job.name for job in (JOBS if jobs is None else jobs))
    raise KeyError(f"no job named {name!r}; known jobs: {known}")


def last_runs(connection: Connection) -> dict[str, JobRun]:
    """Return what ``jobs_runs`` remembers, by job name."""
    return {row.name: JobRun(**row._asdict()) for row in connection.execute(sa.select(runs))}


def claim(engine: Engine, job: Job, *, now: datetime, force: bool = False) -> bool:
    """Mark a job started now if it is due (or ``force``); return True if this caller runs it."""
    with engine.connect() as connection:
        known = connection.execute(sa.select(runs.c.name).where(runs.c.name == job.name)).first()
    if known is None:
        try:
            with engine.begin() as connection:
                connection.execute(sa.insert(runs).values(name=job.name, runs=0, failures=0))
        except IntegrityError:
            pass  # another worker made the row first
    due = runs.c.name == job.name
    if not force:
        due = due & (runs.c.last_started_at.is_(None) | (runs.c.last_started_at <= now - job.every))
    with engine.begin() as connection:
        claimed = connection.execute(
            sa.update(runs).where(due).values(last_started_at=now)
        ).rowcount
    return claimed == 1


def _finish(engine: Engine, outcome: JobOutcome, now: datetime) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.update(runs)
            .where(runs.c.name == outcome.name)
            .values(
                last_finished_at=now,
                last_status=outcome.status,
                last_affected=outcome.affected,
                last_error=outcome.error,
                runs=runs.c.runs + 1,
                failures=runs.c.failures + (1 if outcome.status == "failed" else 0),
            )
        )


def run_job(
    job: Job,
    context: JobContext,
    *,
    force: bool = False,
    metrics: JobMetrics | None = None,
    clock: Callable[[], datetime] | None = None,
) -> JobOutcome | None:
    """Run one job if it is due (or ``force``); return its outcome, or None if not run.

    A failure is logged and returned, never raised. Blocking: call it from a thread.
    """
    if not claim(context.engine, job, now=context.now, force=force):
        return None
    started = time.perf_counter()
    try:
        affected = int(job.run(context))
        outcome = JobOutcome(job.name, "ok", affected, time.perf_counter() - started)
        # a run that changed nothing is routine (complaints_outbox runs every 30 s): debug only
        emit = _log().info if affected else _log().debug
        emit("job_done", job=job.name, affected=affected, seconds=round(outcome.seconds, 3))
    except Exception as exc:  # noqa: BLE001 - a job's failure must not stop the runner
        error = f"{type(exc).__name__}: {exc}"[:500]
        outcome = JobOutcome(job.name, "failed", 0, time.perf_counter() - started, error)
        _log().error("job_failed", job=job.name, error_type=type(exc).__name__, error=error)
    if metrics is not None:
        metrics.runs.labels(job.name, outcome.status).inc()
        metrics.affected.labels(job.name).inc(outcome.affected)
        metrics.duration.labels(job.name).observe(outcome.seconds)
    finished = clock() if clock is not None else datetime.now(UTC)
    try:
        _finish(context.engine, outcome, finished)
    except Exception as exc:  # noqa: BLE001 - the database may be down; the run is logged
        _log().error("job_not_recorded", job=job.name, error_type=type(exc).__name__)
    return outcome


class JobRunner:
    """Runs the registered jobs in the app's lifespan: a tick every ``jobs_tick_seconds``."""

    def __init__(
        self,
        *,
        settings: Settings,
        engine: Engine,
        app_state: Any,
        jobs: Sequence[Job] | None = None,
        metrics: JobMetrics | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.app_state = app_state
        self.jobs = tuple(JOBS if jobs is None else jobs)
        self.metrics = metrics
        self.clock = clock or (lambda: datetime.now(UTC))
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None
        self._running: asyncio.Future[JobOutcome | None] | None = None

    def context(self) -> JobContext:
        """Return the context a job run now gets."""
        return JobContext(self.settings, self.engine, self.app_state, self.clock())

    def _run(self, job: Job) -> JobOutcome | None:
        return run_job(job, self.context(), metrics=self.metrics, clock=self.clock)

    async def tick(self) -> list[JobOutcome]:
        """Run every due job, one after another, each in a thread; return their outcomes."""
        done = []
        for job in self.jobs:
            try:
                self._running = asyncio.ensure_future(asyncio.to_thread(self._run, job))
                outcome = await asyncio.shield(self._running)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - e.g. the database is unreachable
                _log().error("job_not_started", job=job.name, error_type=type(exc).__name__)
                if self.metrics is not None:
                    self.metrics.runs.labels(job.name, "failed").inc()
                continue
            finally:
                self._running = None
            if outcome is not None:
                done.append(outcome)
        self.ticks += 1
        return done

    async def _loop(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self.settings.jobs_tick_seconds)

    def start(self) -> None:
        """Start ticking in the background (the first tick at once)."""
        self._task = asyncio.create_task(self._loop(), name="cityos-jobs")

    async def stop(self) -> None:
        """Stop ticking; wait (up to 30 s) for a job that is running to finish."""
        running = self._running
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if running is not None and not running.done():
            try:
                await asyncio.wait_for(asyncio.shield(running), STOP_WAIT_SECONDS)
            except (TimeoutError, Exception):  # noqa: BLE001 - shutting down regardless
                _log().warning("job_still_running_at_shutdown")
