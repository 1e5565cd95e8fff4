"""Start and stop ingestion with the app: the group-commit writer always, MQTT when set."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from cityos.config import Settings
from cityos.db import make_engine
from cityos.ingest.directory import DeviceDirectory
from cityos.ingest.mqtt import MqttAgent
from cityos.ingest.writer import Ingester
from cityos.observability import log


@dataclass
class IngestRuntime:
    """The running ingestion parts of one app."""

    ingester: Ingester
    agent: MqttAgent | None
    engine: Engine  # devices and dead letters


def start(app: FastAPI, settings: Settings) -> IngestRuntime:
    """Start the writer on the app's store, and the MQTT agent if CITYOS_MQTT_URL is set."""
    engine = make_engine(settings)
    directory = DeviceDirectory(engine, app.state.contexts)
    ingester = Ingester(
        store=app.state.store,
        engine=engine,
        directory=directory,
        metrics=app.state.metrics,
        batch_size=settings.ingest_batch_size,
        batch_wait=settings.ingest_batch_wait,
    )
    ingester.start()
    agent = None
    if settings.mqtt_url:
        agent = MqttAgent(
            url=settings.mqtt_url,
            client_id=settings.mqtt_client_id,
            ingester=ingester,
            metrics=app.state.metrics,
            receive_maximum=10 * settings.ingest_batch_size,
        )
        agent.start()
        log.info("mqtt_agent_started", url=settings.mqtt_url, client_id=settings.mqtt_client_id)
    return IngestRuntime(ingester, agent, engine)


def stop(runtime: IngestRuntime) -> None:
    """Stop taking MQTT messages, commit and acknowledge what is queued, then disconnect."""
    if runtime.agent is not None:
        runtime.agent.stop()
    runtime.ingester.stop()
    if runtime.agent is not None:
        runtime.agent.close()
    runtime.engine.dispose()
