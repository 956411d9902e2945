"""otelbridge.logging.Handler: stdlib logging records to OTLP log records, through libotelbridge.

The mapping is the official one (opentelemetry-python-contrib's logging handler), with these
differences:
  - levels 1-9 (a custom TRACE) map to TRACE..TRACE4 instead of UNSPECIFIED: 1-5 -> TRACE (1),
    6 -> TRACE2, 7 -> TRACE3, 8-9 -> TRACE4 (so the conventional TRACE = 5 is plain TRACE);
  - the correlation fields (otelTraceID, otelSpanID, otelTraceSampled, otelServiceName) are not
    re-exported as attributes;
  - exception.message is str(exc);
  - a value that is not an attribute type becomes str(value) silently: the handler never calls
    logging itself, so it cannot recurse;
  - the timestamp is exact to the nanosecond when the record came from the record factory that
    otelbridge.configure() installs (else int(record.created * 1e9), as upstream).

One record is one call into the library (otel_log_emit); the trace context is the one
current_span_context() returns: the innermost current span of the emitting context
(otelbridge.trace's contextvar, or opentelemetry-api's current span when that is the innermost;
see otelbridge.trace), passed explicitly, never the C thread's. Scope handles are cached per logger name in a plain dict (the
library returns the same handle for the same name, so a race only costs a duplicate lookup).
The same record path (emit_record, the attribute rules, exception_attributes) serves the loguru
sink (otelbridge.loguru), the structlog processor (otelbridge.structlog) and the
opentelemetry-api Logger (otelbridge.api.logs).

No recursion, no deadlock: the handler takes no lock per record (handle() skips the handler
lock), never calls logging itself, and a record logged on a thread from inside this handler's
emit (a formatter or an extra's __str__ that logs, a signal handler) is emitted one level deep
only; deeper ones are dropped by this handler. The engine's own diagnostics never become records:
they go to stderr (see otelbridge/__init__.py).
"""

from __future__ import annotations

import functools
import logging
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple, cast

from . import _speedups
from ._attrs import ANY, LOGS, safe_str as _safe_str, scope_get
from ._native import ffi as _ffi
from .trace import (_current as _current_span_var, current_ctx_bytes_for_log as _log_ctx_bytes,
                    current_ids_for_log as _log_ids)

__all__ = ["Handler", "severity", "install_record_factory", "current_span_context",
           "enable_correlation_fields", "DEFAULT_LOGGING_FORMAT"]

# LogRecord's own fields (the official handler's list), plus what otelbridge adds itself.
_RESERVED = frozenset({
    "args", "asctime", "created", "exc_info", "exc_text", "filename", "funcName", "getMessage",
    "levelname", "levelno", "lineno", "message", "module", "msecs", "msg", "name", "pathname",
    "process", "processName", "relativeCreated", "stack_info", "thread", "threadName",
    "taskName",
    # correlation fields injected by LoggingInstrumentor-style record factories
    "otelTraceID", "otelSpanID", "otelTraceSampled", "otelServiceName",
    # our own exact timestamp
    "_otelbridge_ns",
})
_EVENT_NAME_KEY = "otel.event.name"

_BANDS = {1: 5, 2: 9, 3: 13, 4: 17, 5: 21}  # levelno // 10 -> DEBUG, INFO, WARN, ERROR, FATAL


def severity(levelno: int) -> int:
    """The OTLP severity number of a stdlib level number."""
    if levelno < 1:
        return 0
    if levelno < 10:  # our rule: a custom TRACE level
        return 1 if levelno <= 5 else min(levelno - 4, 4)
    if levelno > 53:
        return 24
    return _BANDS[levelno // 10] + min(levelno % 10, 3)


_TEXT_RENAME = {"WARNING": "WARN", "CRITICAL": "FATAL"}


def _truthy(v: str) -> bool:
    return v.strip().lower() == "true"


# ---- exact timestamps ---------------------------------------------------------------------------

_installed_factory: Optional[Callable[..., logging.LogRecord]] = None

# The LoggingInstrumentor's default format (OTEL_PYTHON_LOG_FORMAT).
DEFAULT_LOGGING_FORMAT = ("%(asctime)s %(levelname)s [%(name)s] [%(filename)s:%(lineno)d] "
                          "[trace_id=%(otelTraceID)s span_id=%(otelSpanID)s "
                          "resource.service.name=%(otelServiceName)s "
                          "trace_sampled=%(otelTraceSampled)s] - %(message)s")
_LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
               "error": logging.ERROR}

# Correlation fields (otelTraceID, otelSpanID, otelTraceSampled, otelServiceName) are added by the
# record factory only once enable_correlation_fields() ran (configure() runs it when
# OTEL_PYTHON_LOG_CORRELATION=true): without it a record costs nothing extra. The service name is
# resolved once, when they are enabled.
_correlation = False
_service_name = ""


def enable_correlation_fields(service_name: Optional[str] = None) -> None:
    """From now on, every LogRecord carries otelTraceID (032x), otelSpanID (016x),
    otelTraceSampled and otelServiceName, as opentelemetry-instrumentation-logging's
    LoggingInstrumentor sets them (defaults "0", "0", False, service name): the innermost current
    span's (see otelbridge.trace). Installs the record factory if needed."""
    global _correlation, _service_name
    if service_name is None:
        from . import service_name as _svc
        service_name = _svc()
    _service_name = service_name
    _correlation = True
    install_record_factory()


def configure_correlation(log_format: Optional[str], log_level: Optional[str]) -> None:
    """What OTEL_PYTHON_LOG_CORRELATION=true does: correlation fields, then logging.basicConfig
    with OTEL_PYTHON_LOG_FORMAT (default DEFAULT_LOGGING_FORMAT) and OTEL_PYTHON_LOG_LEVEL
    (debug, info, warning, error; default info) — a no-op if the root logger has handlers."""
    enable_correlation_fields()
    level = _LOG_LEVELS.get((log_level or "").strip().lower(), logging.INFO)
    logging.basicConfig(format=log_format or DEFAULT_LOGGING_FORMAT, level=level)


def _correlate(rec: logging.LogRecord) -> None:
    """The correlation fields of a record made now (the record factory's `after`)."""
    ids = _log_ids()
    if ids is None:
        rec.otelTraceID = "0"
        rec.otelSpanID = "0"
        rec.otelTraceSampled = False
    else:
        rec.otelTraceID, rec.otelSpanID, rec.otelTraceSampled = ids
    rec.otelServiceName = _service_name


def install_record_factory() -> None:
    """Wraps the current LogRecord factory so that records carry their creation time in integer
    nanoseconds (and record.created/msecs are derived from that same instant, as Python 3.13
    does), and the correlation fields once enable_correlation_fields() ran. Idempotent.

    The wrapper is otelbridge._speedups.RecordFactory (C: one clock_gettime(CLOCK_REALTIME)
    before the previous factory runs; a record whose created is a second or more away from that
    instant came from a factory that set its own time and is left alone). The correlation fields
    stay in Python (_correlate, opt-in)."""
    global _installed_factory
    after = _correlate if _correlation else None
    prev = logging.getLogRecordFactory()
    if prev is _installed_factory:
        cast(Any, prev).after = after
        return
    factory = _speedups.RecordFactory(prev, after)
    _installed_factory = factory
    logging.setLogRecordFactory(factory)


def _time_ns(record: logging.LogRecord) -> int:
    ns = record.__dict__.get("_otelbridge_ns")
    created = record.created
    if ns is not None and ns / 1e9 == created:
        return int(ns)
    return int(created * 1e9)


# ---- the shared record path ---------------------------------------------------------------------
# The Handler, the loguru sink (otelbridge.loguru), the structlog processor (otelbridge.structlog)
# and the opentelemetry-api Logger (otelbridge.api.logs) all emit through the functions below, so
# the mapping of values, exceptions, levels and trace context lives in one place.

AttrList = List[Tuple[str, Any]]

_scopes: Dict[str, int] = {}
_emit = _speedups.emit


def current_span_context() -> Optional[bytes]:
    """The trace context for a record emitted now: the 32 bytes of the innermost current span's
    otel_span_context (otelbridge.trace's rule), or None. Never the C thread's context. The
    emitters of this package get the same one inside otelbridge._speedups."""
    return _log_ctx_bytes()


def scope_for(name: str) -> Optional[int]:
    """The address of the engine's otel_scope for an instrumentation scope name, cached; None
    before configure() or after shutdown() (not cached then). A plain dict: the library returns
    the same handle for the same name, so a race between threads only costs a duplicate
    lookup."""
    addr = _scopes.get(name)
    if addr is None:
        scope = scope_get(name)
        if scope is None:
            return None
        addr = _scopes[name] = int(_ffi.cast("uintptr_t", scope))
    return addr


def level_text(name: str) -> str:
    """The severity text for a stdlib-style level name: WARNING -> WARN, CRITICAL -> FATAL."""
    return _TEXT_RENAME.get(name, name)


def exception_attributes(exc_type: Any, exc: Any, tb: Any) -> AttrList:
    """exception.type / exception.message / exception.stacktrace, as the official handler."""
    return [("exception.type", getattr(exc_type, "__name__", _safe_str(exc_type))),
            ("exception.message", _safe_str(exc)),
            ("exception.stacktrace", "".join(traceback.format_exception(exc_type, exc, tb)))]


def emit_record(scope: int, time_ns: int, severity_number: int, sev_text: Optional[str],
                body: Any, attrs: AttrList, event_name: Any = b"", ctx: Optional[bytes] = None,
                structured: bool = False, observed_ns: int = 0) -> int:
    """One otel_log_emit call, through otelbridge._speedups (the attribute conversion in C):
    scope a scope_for() address, body any attribute value (None = no body), attrs (key, value)
    pairs or a mapping converted by the attribute rules (structured=True: as OTLP AnyValues,
    for the opentelemetry-api Logger), event_name str or bytes, ctx the 32 bytes of an
    otel_span_context or None for the current span's. Returns the library's status (drops are
    counted by the engine; callers that serve a logging call ignore it)."""
    return _emit(scope, time_ns, severity_number, sev_text, body, attrs, event_name, ctx,
                 observed_ns, ANY if structured else LOGS)


# ---- the handler --------------------------------------------------------------------------------

# Re-entrancy: a record logged on a thread while that thread is inside Handler.emit (by a
# formatter, a __str__ of an extra value, a signal handler) is emitted too, one level deep; a
# record logged from inside THAT emission is dropped by this handler (other handlers still get
# it). So a formatter that logs on every call adds one record per record instead of recursing.
_MAX_DEPTH = 2  # enforced in otelbridge._speedups (handler_emit), per thread


def emit_depth() -> int:
    """How many Handler.emit calls the calling thread is inside (0 outside the handler)."""
    return int(_speedups.emit_depth())


class Handler(logging.Handler):
    """A logging.Handler that emits every record into the otelbridge engine.

    code_attributes: add code.file.path / code.function.name / code.line.number; default: the
    OTEL_PYTHON_LOG_CODE_ATTRIBUTES setting (configure() or the environment), off.
    Records are dropped (silently) before configure() and after shutdown().

    Thread-safe without the handler lock: handle() does not take self.lock (the engine's emit is
    thread-safe and the caches are plain dicts), so no lock is taken per record and no lock-order
    deadlock with other handlers is possible. close() does not stop the handler: logging.config
    closes every handler it knows when it reconfigures, also those that stay attached to loggers
    it leaves alone, and those keep emitting. flush() does nothing; otelbridge.flush() flushes the
    engine (a handler flush runs under logging's module lock during dictConfig and at exit, where
    waiting for an exporter would block every other thread's logging).
    """

    def __init__(self, level: int = logging.NOTSET, *,
                 code_attributes: Optional[bool] = None) -> None:
        super().__init__(level)
        if code_attributes is None:
            from . import python_setting
            code_attributes = _truthy(python_setting("OTEL_PYTHON_LOG_CODE_ATTRIBUTES", "false"))
        self.code_attributes = bool(code_attributes)
        cls = type(self)
        if cls.handle is Handler.handle:
            # The hot path: handle() as one C call (otelbridge._speedups.handler_handle), bound
            # to this instance. flags: 1 = the class overrides emit (called instead of the C
            # emit), 2 = it overrides filter (always called). A subclass that overrides handle
            # keeps its own.
            flags = (1 if cls.emit is not Handler.emit else 0) | \
                    (2 if cls.filter is not logging.Filterer.filter else 0)
            self.handle = functools.partial(_handler_handle, self, flags)  # type: ignore[method-assign]

    def handle(self, record: logging.LogRecord) -> Any:
        # What the per-instance C handle (see __init__) does, for instances made without
        # Handler.__init__ and for subclasses calling super().handle().
        rv = self.filter(record)
        if rv:
            if isinstance(rv, logging.LogRecord):  # Python 3.12+: a filter may return a record
                record = rv
            self.emit(record)
        return rv

    def flush(self) -> None:
        pass

    # -- emit -----------------------------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        # One call into otelbridge._speedups (C): the record's __dict__ read directly, the body,
        # severity, time, trace context and attributes converted in C, and otel_log_emit called
        # with the GIL held. It also keeps the re-entrancy depth (per thread, see _MAX_DEPTH).
        try:
            _handler_emit(self, record)
        except RecursionError:
            raise
        except Exception:
            try:
                self.handleError(record)  # stderr only; never a logging call
            except Exception:
                pass


def _scope_addr(name: str) -> int:
    """For _speedups: the address of scope_for(name), 0 when there is none (not cached then)."""
    return scope_for(name) or 0


def _exc_attrs(exc_info: Any) -> Optional[AttrList]:
    """For _speedups: the exception attributes of a record's exc_info, or None."""
    if exc_info and exc_info[0] is not None:
        return exception_attributes(*exc_info)
    return None


_speedups.setup(_RESERVED, _EVENT_NAME_KEY, logging.LogRecord, _scope_addr, _log_ctx_bytes,
                _exc_attrs, _current_span_var)
_handler_emit = _speedups.handler_emit
_handler_handle = _speedups.handler_handle
