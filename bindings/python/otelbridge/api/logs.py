"""opentelemetry-api's logs API (opentelemetry._logs) on the otelbridge engine.

    from opentelemetry import _logs
    import otelbridge
    from otelbridge.api import LoggerProvider
    otelbridge.configure(service_name="checkout")
    _logs.set_logger_provider(LoggerProvider())
    _logs.get_logger("shop").emit(body="card declined", severity_number=SeverityNumber.WARN,
                                  attributes={"order.id": 42})

Logger.emit takes either an opentelemetry._logs.LogRecord or the same fields as keywords (the
API 1.3x+ signature). Each emit is one otel_log_emit call:
  - scope: the Logger's name, version, schema_url and attributes (one native scope per Logger);
  - timestamp / observed_timestamp: as given, else the library's "now";
  - severity_number: the SeverityNumber's value (an int is accepted); severity_text as given;
  - body and attributes: OTLP AnyValues (maps, mixed arrays and None are kept, unlike the
    logging Handler's extra fields, which follow the official handler's str() rule);
  - event_name as given; exception: exception.type / .message / .stacktrace attributes unless
    the attributes already carry them (the SDK's rule);
  - trace context: the record's trace_id/span_id/trace_flags (from the record's or the current
    opentelemetry context) when valid, else otelbridge.logging.current_span_context().
Before otelbridge.configure() and after shutdown() records are dropped.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from opentelemetry import trace as _trace
from opentelemetry._logs import Logger as _ApiLogger
from opentelemetry._logs import LoggerProvider as _ApiLoggerProvider
from opentelemetry._logs import LogRecord
from opentelemetry.context import Context
from opentelemetry.util.types import Attributes

from .. import _attrs
from .._native import ffi
from ..logging import emit_record, exception_attributes
from ..trace import _ctx_bytes

__all__ = ["LoggerProvider", "Logger"]


class Logger(_ApiLogger):
    """An opentelemetry-api Logger whose records go to the otelbridge engine."""

    def __init__(self, name: str, version: Optional[str] = None,
                 schema_url: Optional[str] = None, attributes: Attributes = None) -> None:
        super().__init__(name, version, schema_url, attributes)
        self._scope: Optional[int] = None

    def _native_scope(self) -> Optional[int]:
        scope = self._scope
        if scope is None:
            s = _attrs.scope_get(self._name, self._version, self._schema_url,
                                 dict(self._attributes or {}))
            if s is None:
                return None  # not configured / shut down: not cached
            scope = self._scope = int(ffi.cast("uintptr_t", s))
        return scope

    def enabled(self, *, context: Optional[Context] = None, severity_number: Any = None,
                event_name: Optional[str] = None) -> bool:
        from .. import is_configured

        return is_configured()

    def emit(self, record: Optional[LogRecord] = None, *, timestamp: Optional[int] = None,
             observed_timestamp: Optional[int] = None, context: Optional[Context] = None,
             severity_number: Any = None, severity_text: Optional[str] = None,
             body: Any = None, attributes: Attributes = None,
             event_name: Optional[str] = None,
             exception: Optional[BaseException] = None) -> None:
        scope = self._native_scope()
        if scope is None:
            return
        trace_id = span_id = flags = 0
        if record is not None:
            timestamp, observed_timestamp = record.timestamp, record.observed_timestamp
            severity_number, severity_text = record.severity_number, record.severity_text
            body, attributes = record.body, record.attributes
            event_name = getattr(record, "event_name", None)
            exception = getattr(record, "exception", None)
            trace_id = record.trace_id or 0
            span_id = record.span_id or 0
            flags = int(record.trace_flags or 0)
        else:
            sc = _trace.get_current_span(context).get_span_context()
            if sc.is_valid:
                trace_id, span_id, flags = sc.trace_id, sc.span_id, int(sc.trace_flags)

        ctx = _ctx_bytes(trace_id, span_id, flags, False) if trace_id and span_id else None

        attrs = list(dict(attributes).items()) if attributes else []
        if exception is not None and not any(k.startswith("exception.") for k, _ in attrs):
            attrs.extend(exception_attributes(type(exception), exception,
                                              exception.__traceback__))
        sev = 0 if severity_number is None else int(getattr(severity_number, "value",
                                                            severity_number))
        emit_record(scope, timestamp or 0, sev, severity_text, body, attrs, event_name or b"",
                    ctx, structured=True, observed_ns=observed_timestamp or 0)


class LoggerProvider(_ApiLoggerProvider):
    """The opentelemetry-api LoggerProvider over the process's otelbridge engine (configure()
    creates it; this class only hands out Loggers). Loggers are cached per (name, version,
    schema_url) when they have no attributes."""

    def __init__(self) -> None:
        self._loggers: Dict[Tuple[str, Optional[str], Optional[str]], Logger] = {}

    def get_logger(self, name: str, version: Optional[str] = None,
                   schema_url: Optional[str] = None, attributes: Attributes = None) -> Logger:
        if attributes:
            return Logger(name, version, schema_url, attributes)
        key = (name, version, schema_url)
        lg = self._loggers.get(key)
        if lg is None:
            lg = self._loggers.setdefault(key, Logger(name, version, schema_url))
        return lg

    def force_flush(self, timeout_millis: float = 30000) -> bool:
        from .. import flush

        return flush(timeout_millis / 1000.0)

    def shutdown(self) -> None:
        """Does not stop the engine (other signals and handlers share it): otelbridge.shutdown()
        does."""
