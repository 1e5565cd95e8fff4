"""The cheap per-request OpenTelemetry check (cityos._telemetry) answers as FastAPI's does."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry._logs import _internal as logs_internal
from opentelemetry.metrics import _internal as metrics_internal

from cityos._telemetry import cheap_check, install_cheap_check


class Original:
    """FastAPI's check, counted."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.answer


NOTHING = {"tracer_provider": None, "meter_provider": None, "logger_provider": None}


def test_nothing_configured_answers_no_without_fastapis_check() -> None:
    original = Original(True)
    enabled = cheap_check(original, NOTHING)
    assert enabled is not None
    assert enabled() is False
    assert original.calls == 0
    # and FastAPI's own check agrees while nothing is configured
    assert FastAPI()._native_telemetry.enabled() is False


@pytest.mark.parametrize(
    "variable",
    ["OTEL_PYTHON_TRACER_PROVIDER", "OTEL_PYTHON_METER_PROVIDER", "OTEL_PYTHON_LOGGER_PROVIDER"],
)
def test_a_provider_variable_goes_to_fastapis_check(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    original = Original(True)
    enabled = cheap_check(original, NOTHING)
    assert enabled is not None
    monkeypatch.setenv(variable, "some_provider")
    assert enabled() is True
    assert original.calls == 1
    monkeypatch.delenv(variable)
    assert enabled() is False
    assert original.calls == 1


@pytest.mark.parametrize(
    ("module", "name"),
    [
        (trace, "_TRACER_PROVIDER"),
        (metrics_internal, "_METER_PROVIDER"),
        (logs_internal, "_LOGGER_PROVIDER"),
    ],
)
def test_a_set_provider_goes_to_fastapis_check(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str
) -> None:
    assert getattr(module, name) is None  # the globals the check reads exist (pinned API)
    original = Original(True)
    enabled = cheap_check(original, NOTHING)
    assert enabled is not None
    monkeypatch.setattr(module, name, object())
    assert enabled() is True
    assert original.calls == 1


def test_a_provider_in_fastapis_settings_keeps_its_check() -> None:
    assert cheap_check(Original(True), {**NOTHING, "tracer_provider": object()}) is None
    app = FastAPI(telemetry={"tracer_provider": trace.NoOpTracerProvider()})
    before = app._native_telemetry.enabled
    install_cheap_check(app)
    assert app._native_telemetry.enabled == before
    assert app._native_telemetry.enabled() is True


def test_the_app_has_the_cheap_check(tmp_path: Any) -> None:
    from cityos.app import create_app
    from cityos.config import Settings

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/hub.db", seed_city=False))
    assert app._native_telemetry.enabled.__module__ == "cityos._telemetry"
    assert app._native_telemetry.enabled() is False
