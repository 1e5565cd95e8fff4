"""FastAPI's per-request OpenTelemetry check, answered without three provider look-ups.

``FastAPI.__call__`` asks ``NativeTelemetry.enabled()`` on every request whether a tracer,
meter or logger provider is configured: it calls ``get_tracer_provider()``,
``get_meter_provider()`` and ``get_logger_provider()``, each of which tests the environment
for its ``OTEL_PYTHON_*_PROVIDER`` variable (``key in os.environ``: a ``KeyError`` raised and
caught when absent) before returning the proxy. CityOS configures no OpenTelemetry, so the
answer is "no" on every request, at about 7 % of a GET's instructions (benchmarks/
hub_cost.py).

:func:`install_cheap_check` puts a check in front that answers "no" from the same facts
the providers' functions read — each global provider still unset and no variable naming
one — with three module-global reads and three dict look-ups. Anything else (a provider
set by code or by ``opentelemetry-instrument``, a variable present, a provider given in
FastAPI's ``telemetry`` settings) goes to FastAPI's own check, so telemetry records exactly
when it did before. The module globals read here are those of the pinned
``opentelemetry-api`` (tests/test_telemetry_check.py follows them).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry._logs import _internal as logs_internal
from opentelemetry.metrics import _internal as metrics_internal

# The variables get_*_provider() read (opentelemetry.environment_variables), as the
# environment's own keys: os.environ keeps its values in ``_data``, keyed by encoded name.
_VARIABLES = (
    "OTEL_PYTHON_TRACER_PROVIDER",
    "OTEL_PYTHON_METER_PROVIDER",
    "OTEL_PYTHON_LOGGER_PROVIDER",
)


def _environment_keys() -> tuple[dict[Any, Any], tuple[Any, ...]] | None:
    """Return os.environ's backing dict and the variables' keys in it, else None."""
    data = getattr(os.environ, "_data", None)
    encode = getattr(os.environ, "encodekey", None)
    if not isinstance(data, dict) or encode is None:  # pragma: no cover - another platform
        return None
    return data, tuple(encode(name) for name in _VARIABLES)


def cheap_check(original: Callable[[], bool], config: Any) -> Callable[[], bool] | None:
    """Return ``enabled()`` answering "no" at once while nothing is configured, else None
    (when FastAPI's settings name a provider: its own check is then left alone)."""
    if any(
        config.get(key) is not None
        for key in ("tracer_provider", "meter_provider", "logger_provider")
    ):
        return None
    found = _environment_keys()
    if found is None:  # pragma: no cover - another platform
        return None
    data, keys = found

    def enabled() -> bool:
        if (
            trace._TRACER_PROVIDER is None
            and metrics_internal._METER_PROVIDER is None
            and logs_internal._LOGGER_PROVIDER is None
            and keys[0] not in data
            and keys[1] not in data
            and keys[2] not in data
        ):
            return False  # what FastAPI's check answers: every provider is the proxy
        return original()

    return enabled


def install_cheap_check(app: FastAPI) -> None:
    """Answer ``app``'s per-request telemetry check cheaply while nothing is configured."""
    native = app._native_telemetry
    enabled = cheap_check(native.enabled, native.config)
    if enabled is not None:
        native.enabled = enabled  # type: ignore[method-assign]
