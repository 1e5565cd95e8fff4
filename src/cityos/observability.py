"""Structured logs (structlog, JSON lines) and Prometheus metrics for the ASGI app."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

log = structlog.get_logger("cityos")


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    """Route stdlib and structlog records to stderr as JSON lines (or pretty console)."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


class Metrics:
    """The app's Prometheus collectors, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "cityos_http_requests_total",
            "HTTP requests handled, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cityos_http_request_duration_seconds",
            "Time to answer an HTTP request [s], by method and route template.",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=self.registry,
        )
        self.entities_written = Counter(
            "cityos_hub_entities_written_total",
            "Entities created, updated or deleted in the hub.",
            ["operation"],
            registry=self.registry,
        )

        # Device ingestion (cityos.ingest, docs/ingest.md).
        self.ingest_measurements = Counter(
            "cityos_ingest_measurements_total",
            "Device measurements committed to the hub, by transport (mqtt, http).",
            ["transport"],
            registry=self.registry,
        )
        self.ingest_messages = Counter(
            "cityos_ingest_messages_total",
            "Device messages handled, by transport and outcome (accepted, refused).",
            ["transport", "outcome"],
            registry=self.registry,
        )
        self.ingest_dead_letters = Counter(
            "cityos_ingest_dead_letters_total",
            "Device messages refused and kept as dead letters, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.ingest_mqtt_connected = Gauge(
            "cityos_ingest_mqtt_connected",
            "1 while the MQTT agent is connected to its broker, else 0.",
            registry=self.registry,
        )
        self.ingest_batch_size = Histogram(
            "cityos_ingest_batch_messages",
            "Messages per group-commit batch.",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000),
            registry=self.registry,
        )
        self.ingest_batch_seconds = Histogram(
            "cityos_ingest_batch_seconds",
            "Time to check, write and commit one group-commit batch [s].",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )

    def render(self) -> Response:
        """Return the text exposition of every collector."""
        return Response(_generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class StoreCollector(Collector):
    """The SQLite store's writer and WAL checkpoints, read at each scrape (nothing is
    counted in the request path beyond the store's own running sums).

    ``cityos_sqlite_write_lock_held_seconds_total`` per second of wall time is how busy
    SQLite's one writer is: near 1, writes queue for it, and a busier hub wants PostgreSQL
    (docs/hub/README.md, "Storage"). Nothing is exported on PostgreSQL."""

    def __init__(self, store: Callable[[], Any]) -> None:
        self.store = store  # the app's store, once its start-up opened it

    def collect(self) -> Iterator[Metric]:
        store = self.store()
        if store is None or getattr(store, "backend", None) != "sqlite":
            return
        checkpointer = store.checkpointer
        for name, text, value in (
            (
                "cityos_sqlite_write_transactions",
                "Write transactions committed or rolled back on the SQLite store.",
                store.write_transactions,
            ),
            (
                "cityos_sqlite_write_lock_wait_seconds",
                "Seconds write transactions waited for the SQLite store's writers' lock.",
                store.lock_waited,
            ),
            (
                "cityos_sqlite_write_lock_held_seconds",
                "Seconds write transactions held the SQLite store's writers' lock.",
                store.lock_held,
            ),
            (
                "cityos_sqlite_checkpoints",
                "WAL checkpoints run by the store's checkpoint thread (PASSIVE).",
                checkpointer.checkpoints,
            ),
            (
                "cityos_sqlite_checkpoint_catchups",
                "Checkpoints run outside the writers' lock just before one under it.",
                checkpointer.caught_up,
            ),
            (
                "cityos_sqlite_checkpoint_resets",
                "Checkpoints run holding the writers' lock so that the WAL starts over.",
                checkpointer.resets,
            ),
            (
                "cityos_sqlite_checkpoint_reset_seconds",
                "Seconds the writers' lock was held for those checkpoints.",
                checkpointer.reset_seconds,
            ),
        ):
            yield CounterMetricFamily(name, text, value=value)
        last = checkpointer.last
        yield GaugeMetricFamily(
            "cityos_sqlite_wal_frames",
            "WAL frames (pages) at the last checkpoint; 0 before the first.",
            value=0 if last is None else last[1],
        )


def route_template(scope: Scope) -> str:
    """Return the matched route's path template, so metric labels stay few."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class RequestMetrics:
    """Count and time HTTP requests by method, route template and status."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        # (method, route, status) -> the labelled counter and histogram: ``labels()`` checks
        # and locks on every call; the label sets are few (route templates), so keep them.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _labelled(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        key = (method, route, status)
        found = self._children.get(key)
        if found is None:
            found = (
                self.metrics.requests.labels(method, route, str(status)),
                self.metrics.latency.labels(method, route),
            )
            if len(self._children) < 10_000:  # bounded, should a client invent methods
                self._children[key] = found
        return found

    def record(self, scope: Scope, status: int, seconds: float) -> None:
        """Count one answered request and its time [s] under its route template."""
        requests, latency = self._labelled(scope["method"], route_template(scope), status)
        requests.inc()
        latency.observe(seconds)


async def metrics_endpoint(request: Request) -> Response:
    """Serve the Prometheus exposition of this app's metrics."""
    metrics: Metrics = request.app.state.metrics
    return metrics.render()
