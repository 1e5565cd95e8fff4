"""The CityOS ASGI application: the NGSI-LD hub, health, metrics and OpenAPI docs."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cityos import __version__, db, http_errors
from cityos._telemetry import install_cheap_check
from cityos.config import Settings, get_settings, is_loopback
from cityos.governance import catalog as complaint_catalog
from cityos.governance.api import router as open311_router
from cityos.governance.citizen_api import router as complaint_writing_router
from cityos.governance.civic import api as civic_api
from cityos.governance.operator_api import router as complaints_router
from cityos.hub import api as hub_api
from cityos.hub.api._auth import require_roles
from cityos.hub.context import ContextResolver
from cityos.hub.store import open_store
from cityos.hub.subscriptions.dispatcher import start_notifications
from cityos.identity import close_engine, engine_for
from cityos.identity.access import department_scopes
from cityos.identity.api import router as identity_router
from cityos.identity.cache import PrincipalCache
from cityos.identity.models import Role
from cityos.ingest import runtime as ingest_runtime
from cityos.ingest.api import router as ingest_router
from cityos.jobs import JobMetrics, JobRunner, jobs_enabled
from cityos.observability import (
    Metrics,
    RequestMetrics,
    StoreCollector,
    configure_logging,
    log,
    metrics_endpoint,
)
from cityos.security import install_security
from cityos.security.outbound import policy_of
from cityos.twin import live as twin_live
from cityos.web import install as install_web
from cityos.web import start as start_web
from cityos.web import stop as stop_web

DESCRIPTION = """
CityOS is an open-source operating platform for a citizen-centred smart city, built first
for Sejong (세종특별자치시). This API holds the city's data hub, an ETSI NGSI-LD
(GS CIM 009 v1.8) context broker under `/ngsi-ld/v1`.

CityOS는 시민 중심 스마트시티를 위한 오픈소스 운영 플랫폼입니다. 도시 데이터 허브는
`/ngsi-ld/v1` 아래의 NGSI-LD 컨텍스트 브로커입니다.
"""


def _prepare_database(settings: Settings) -> None:
    """Migrate the database to the newest schema (a no-op when it is current)."""
    if db.current_revision(settings) != db.head_revision():
        revision = db.upgrade(settings)
        log.info("database_migrated", revision=revision, backend=settings.backend)


def _check_data_keys(app: FastAPI, settings: Settings) -> None:
    """Log an error when stored personal data uses a data key the settings no longer hold."""
    from cityos.privacy.crypto import Vault
    from cityos.privacy.keys import unreadable_key_ids

    with engine_for(app).connect() as connection:
        missing = unreadable_key_ids(connection, vault=Vault.from_settings(settings))
    if missing:
        log.error(
            "privacy_data_keys_missing",
            key_ids=missing,
            hint="records under these keys cannot be read; put the keys back in "
            "CITYOS_DATA_KEYS (docs/privacy.md, key rotation)",
        )


def _seed(app: FastAPI) -> None:
    """Load the built-in Sejong reference data into an empty default tenant."""
    from cityos.hub.seed_loader import load_city_if_empty

    loaded = load_city_if_empty(app.state.store, app.state.contexts)
    if loaded:
        log.info("city_seeded", entities=loaded)


def _tune_garbage_collector() -> None:
    """Make the cyclic GC run less often: request handling allocates many short-lived dicts.

    With CPython's default gen-0 threshold (700) a 1,000-entity batch triggers hundreds of
    collections; at 50,000 a batch upsert runs ~30 % faster (benchmarks/hub_bench.py), and
    freezing what start-up allocated keeps full collections from rescanning it.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


class AppState(State):
    """``app.state`` whose values are also plain instance attributes.

    Starlette's ``State`` keeps values in a dict behind ``__getattr__``, which Python calls
    only after the ordinary lookup failed: every ``app.state.store`` raised and caught an
    ``AttributeError`` (with its formatted message) first. A request of the hub reads
    ``app.state`` half a dozen times; mirrored into the instance's ``__dict__``, a value is
    found by the ordinary lookup. The dict stays the source (``State`` methods read it).
    """

    def __setattr__(self, key: Any, value: Any) -> None:
        super().__setattr__(key, value)
        self.__dict__[key] = value

    def __delattr__(self, key: Any) -> None:
        super().__delattr__(key)
        self.__dict__.pop(key, None)

    def __setitem__(self, key: str, value: Any) -> None:
        self.__setattr__(key, value)

    def __delitem__(self, key: str) -> None:
        self.__delattr__(key)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Return a configured CityOS application (the database is prepared on start-up)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(_prepare_database, settings)
        await run_in_threadpool(_check_data_keys, app, settings)
        app.state.store = open_store(settings)
        for record in await run_in_threadpool(app.state.store.contexts):
            app.state.contexts.add_stored(record["url"], record["body"])
        if settings.seed_city:
            await run_in_threadpool(_seed, app)
        app.state.notifications = await start_notifications(
            app.state.store,
            app.state.contexts,
            outbound_policy=policy_of(settings),
            retry_first=settings.notify_retry_initial,
            retry_max=settings.notify_retry_max,
            timeout=settings.notify_timeout,
        )
        app.state.ingest = ingest_runtime.start(app, settings)
        app.state.twin_live = twin_live.start(
            app.state.ingest.ingester, app.state.ingest.engine, app.state.contexts.core, settings
        )
        start_web(app)
        _tune_garbage_collector()
        runner: JobRunner | None = None
        if jobs_enabled(settings):
            runner = JobRunner(
                settings=settings,
                engine=engine_for(app),
                app_state=app.state,
                metrics=app.state.job_metrics,
            )
            runner.start()
        app.state.jobs = runner
        log.info("cityos_started", version=__version__, backend=settings.backend)
        try:
            yield
        finally:
            stop_web(app)
            civic_api.stop(app)
            if runner is not None:
                await runner.stop()
            if app.state.twin_live is not None:
                app.state.twin_live.stop()
            ingest_runtime.stop(app.state.ingest)
            await app.state.notifications.stop()
            app.state.store.close()
            app.state.store.shutdown_executor()
            close_engine(app)

    app = FastAPI(
        title="CityOS",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
    )
    install_cheap_check(app)  # FastAPI's per-request OpenTelemetry check (cityos._telemetry)
    app.state = AppState()
    app.state.settings = settings
    department_scopes(settings)  # a bad CITYOS_DEPARTMENT_SCOPES entry stops start-up here
    # Which department handles which complaint type; a bad file stops start-up here too.
    complaint_catalog.use(settings.complaint_departments_file)
    app.state.principal_cache = PrincipalCache(settings.auth_cache_seconds)
    app.state.identity_clock = None  # tests set a clock; present, it is found without a miss
    app.state.metrics = Metrics()
    app.state.metrics.registry.register(StoreCollector(lambda: getattr(app.state, "store", None)))
    app.state.job_metrics = JobMetrics(app.state.metrics.registry)
    app.state.contexts = ContextResolver(settings)
    hub_api.install(app)
    http_errors.install(app)
    app.include_router(identity_router)
    app.include_router(ingest_router)
    app.include_router(open311_router)
    app.include_router(complaints_router)
    app.include_router(complaint_writing_router)
    civic_api.install(app)  # polls and proposals (issue 7)
    install_web(app)

    @app.get("/healthz", tags=["operations"], summary="Liveness and database health")
    async def healthz(request: Request) -> Response:
        """Return 200 with the version and backend when the database answers, else 503."""
        store = request.app.state.store
        body: dict[str, Any] = {"status": "ok", "version": __version__, "backend": settings.backend}
        try:
            await run_in_threadpool(store.tenant_exists, "urn:ngsi-ld:tenant:default")
        except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
            body.update(status="unavailable", detail=str(exc))
            return JSONResponse(body, status_code=503)
        return JSONResponse(body)

    async def metrics(request: Request) -> Response:
        """Serve Prometheus metrics to a scraper on this host or to an admin."""
        client = request.client.host if request.client else ""
        if not is_loopback(client):
            await require_roles(request, Role.ADMIN)
        return await metrics_endpoint(request)

    app.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        tags=["operations"],
        summary="Prometheus metrics",
        include_in_schema=True,
    )
    install_security(app, settings, metrics=RequestMetrics(app.state.metrics))
    return app
