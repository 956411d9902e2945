"""opentelemetry-api providers on the native engine.

    from opentelemetry import trace, metrics, _logs
    from otelbridge.api import TracerProvider, MeterProvider, LoggerProvider
    trace.set_tracer_provider(TracerProvider())

The classes live in otelbridge.api.trace, otelbridge.api.metrics and otelbridge.api.logs; each
needs the `opentelemetry-api` package, which is imported only when that module is.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TracerProvider", "MeterProvider", "LoggerProvider"]

_HOMES = {"TracerProvider": "trace", "MeterProvider": "metrics", "LoggerProvider": "logs"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'otelbridge.api' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
