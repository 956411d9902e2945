"""Zero-code: `opentelemetry-instrument` on the native engine.

    pip install otelbridge[instrument] opentelemetry-instrumentation-fastapi
    OTEL_PYTHON_DISTRO=otelbridge OTEL_SERVICE_NAME=shop opentelemetry-instrument python app.py

opentelemetry-instrumentation's sitecustomize loads, in this order: the distro named by
OTEL_PYTHON_DISTRO (entry point group `opentelemetry_distro`), its configure(); the configurator
named by OTEL_PYTHON_CONFIGURATOR (group `opentelemetry_configurator`); then every installed
instrumentor through the distro's load_instrumentor(). When either variable is unset, the first
installed entry point wins, which is arbitrary when the official opentelemetry-distro is installed
as well: name ours.

Both entry points are called `otelbridge` and both run setup(), which is idempotent:
  - otelbridge.configure() from the environment (unless the application's code already did),
    which attaches otelbridge.logging.Handler to the root logger, once;
  - logging.basicConfig / logging.config.dictConfig / fileConfig keep working in the
    application (see _keep_handler_across_logging_config) and keep our handler;
  - the opentelemetry-api providers (otelbridge.api.TracerProvider, MeterProvider,
    LoggerProvider) set as the global ones, so every instrumentation package records through the
    engine.
The distro also
  - sets OTEL_PYTHON_CONFIGURATOR=otelbridge when it is unset, so that the SDK's configurator
    (which would build a second, pure-Python pipeline) does not run;
  - sets OTEL_EXPORTER_OTLP_PROTOCOL=grpc when it is unset, as the official distro does, so that
    deployments that switch from it keep talking to the same collector port;
  - loads the contrib `logging` instrumentor with enable_log_auto_instrumentation=False: its
    record factory (otelTraceID/otelSpanID fields, OTEL_PYTHON_LOG_CORRELATION) still works, but it
    does not attach the official logging handler on top of ours, which would export every record
    a second time.
The configurator alone (OTEL_PYTHON_CONFIGURATOR=otelbridge with another distro) does the setup
but cannot stop the logging instrumentor: set OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION=false then, or
use the distro.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import sys
import threading
from typing import Any, Callable

__all__ = ["OtelBridgeDistro", "OtelBridgeConfigurator", "setup"]

ENTRY_POINT_NAME = "otelbridge"

_setup_lock = threading.Lock()
_setup_done = False

# (otelbridge.api module, class, opentelemetry-api module, setter)
_PROVIDERS = (
    ("otelbridge.api.trace", "TracerProvider", "opentelemetry.trace", "set_tracer_provider"),
    ("otelbridge.api.metrics", "MeterProvider", "opentelemetry.metrics", "set_meter_provider"),
    ("otelbridge.api.logs", "LoggerProvider", "opentelemetry._logs", "set_logger_provider"),
)


def _warn(msg: str) -> None:
    # Never through `logging`: this runs while logging is being set up (DESIGN §2.7).
    sys.stderr.write(f"otelbridge.distro: {msg}\n")


def setup() -> None:
    """Configures the engine from the environment and installs the opentelemetry-api providers.
    Idempotent; safe when the application already called otelbridge.configure()."""
    global _setup_done
    with _setup_lock:
        if _setup_done:
            return
        _setup_done = True
    import otelbridge

    if not otelbridge.is_configured():
        otelbridge.configure()
        handler = otelbridge._handler
        if handler is not None:
            _keep_handler_across_logging_config(handler)
    for mod_name, cls_name, api_name, setter in _PROVIDERS:
        try:
            cls = getattr(importlib.import_module(mod_name), cls_name)
        except (ImportError, AttributeError) as e:
            _warn(f"{mod_name}.{cls_name} is not available ({e}); that signal is not routed")
            continue
        getattr(importlib.import_module(api_name), setter)(cls())


def _keep_handler_across_logging_config(handler: logging.Handler) -> None:
    """Our handler is on the root logger before the application's code runs. Unchanged,
    logging.basicConfig(level=..., format=...) in the application would then do nothing at all
    (it returns early when the root logger has handlers: no console output, the level not set),
    and dictConfig/fileConfig would remove our handler. So, as the contrib logging
    instrumentation does for its handler, these three functions take our handler off the root
    logger for the call and put it back afterwards (also when they raise)."""
    import logging.config

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        if getattr(fn, "_otelbridge_wrapped", False):
            return fn

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            root = logging.getLogger()
            removed = handler in root.handlers
            if removed:
                root.removeHandler(handler)
            try:
                return fn(*args, **kwargs)
            finally:
                if removed:
                    root.addHandler(handler)

        wrapper._otelbridge_wrapped = True  # type: ignore[attr-defined]
        return wrapper

    logging.basicConfig = wrap(logging.basicConfig)
    logging.config.dictConfig = wrap(logging.config.dictConfig)
    logging.config.fileConfig = wrap(logging.config.fileConfig)


def _distro_base() -> Any:
    # By attribute: the module is `# type: ignore` as a whole, so a typed import finds nothing.
    return importlib.import_module("opentelemetry.instrumentation.distro").BaseDistro


class OtelBridgeDistro(_distro_base()):  # type: ignore[misc]
    """The `opentelemetry_distro` entry point `otelbridge`."""

    def _configure(self, **kwargs: Any) -> None:
        configurator = os.environ.setdefault("OTEL_PYTHON_CONFIGURATOR", ENTRY_POINT_NAME)
        if configurator != ENTRY_POINT_NAME:
            _warn(f"OTEL_PYTHON_CONFIGURATOR={configurator!r}: that configurator will run too "
                  f"and may install a second pipeline; unset it or set it to "
                  f"{ENTRY_POINT_NAME!r}")
        os.environ.setdefault("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        setup()

    def load_instrumentor(self, entry_point: Any, **kwargs: Any) -> None:
        if entry_point.name == "logging":
            # Our handler is already on the root logger; the contrib one would duplicate records.
            kwargs["enable_log_auto_instrumentation"] = False
        super().load_instrumentor(entry_point, **kwargs)


class OtelBridgeConfigurator:
    """The `opentelemetry_configurator` entry point `otelbridge` (needs no opentelemetry-sdk)."""

    def configure(self, **kwargs: Any) -> None:
        setup()
