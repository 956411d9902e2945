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
from ._native import ffi, lib
from .trace import (_current as _current_span_var, current_context_for_log as _log_ctx,
                    current_ctx_bytes_for_log as _log_ctx_bytes, current_ids_for_log as _log_ids)

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

_VALUE_STRING = 1
_VALUE_BOOL = 2
_VALUE_INT = 3
_VALUE_DOUBLE = 4
_VALUE_BYTES = 5
_VALUE_ARRAY = 6
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1

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


def _utf8(s: str) -> bytes:
    # Lone surrogates pass through as invalid UTF-8; the library replaces them with U+FFFD.
    return s.encode("utf-8", "surrogatepass")


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
        return ns
    return int(created * 1e9)


# ---- the shared record path ---------------------------------------------------------------------
# The Handler, the loguru sink (otelbridge.loguru), the structlog processor (otelbridge.structlog)
# and the opentelemetry-api Logger (otelbridge.api.logs) all emit through the functions below, so
# the mapping of values, exceptions, levels and trace context lives in one place.

AttrList = List[Tuple[str, Any]]

_scopes: Dict[str, Any] = {}
_level_texts: Dict[str, Tuple[Any, Any]] = {}
_EMPTY = (ffi.NULL, 0)


def current_span_context() -> Any:
    """The trace context for a record emitted now, as the `ctx` argument of otel_log_emit.

    The innermost current span (otelbridge.trace's rule), never the C thread's context. Every
    emitter of this package calls this one function."""
    return _log_ctx()


def scope_for(name: str) -> Any:
    """The cached otel_scope for an instrumentation scope name; None before configure() or after
    shutdown() (not cached then). A plain dict: the library returns the same handle for the same
    name, so a race between threads only costs a duplicate lookup."""
    scope = _scopes.get(name)
    if scope is None:
        nb = _utf8(name)
        out = ffi.new("otel_scope **")
        st = lib.otel_scope_get(ffi.NULL, (ffi.from_buffer(nb), len(nb)), _EMPTY, _EMPTY,
                                ffi.NULL, 0, out)
        if st != 0:
            return None
        scope = out[0]
        _scopes[name] = scope
    return scope


def severity_text(name: str) -> Any:
    """An otel_str initialiser for a level name (WARNING -> WARN, CRITICAL -> FATAL), cached."""
    v = _level_texts.get(name)
    if v is None:
        text = _utf8(_TEXT_RENAME.get(name, name))
        buf = ffi.new("char[]", text)
        v = ((buf, len(text)), buf)  # the tuple keeps buf alive
        _level_texts[name] = v
    return v[0]


def exception_attributes(exc_type: Any, exc: Any, tb: Any) -> AttrList:
    """exception.type / exception.message / exception.stacktrace, as the official handler."""
    return [("exception.type", getattr(exc_type, "__name__", _safe_str(exc_type))),
            ("exception.message", _safe_str(exc)),
            ("exception.stacktrace", "".join(traceback.format_exception(exc_type, exc, tb)))]


def attr_array(attrs: Any, keep: List[Any], structured: bool = False) -> Tuple[Any, int]:
    """An otel_attr[] for a list of (key, value) pairs (or a Mapping); the buffers it points
    into are appended to keep. Values by the attribute rules (_set_value), or with structured=True
    as full OTLP AnyValues (_set_any_value: maps and mixed arrays kept)."""
    items = list(attrs.items()) if hasattr(attrs, "items") else attrs
    n = len(items)
    c_attrs = ffi.new("otel_attr[]", n) if n else ffi.NULL
    if n:
        keep.append(c_attrs)
    for i, (key, value) in enumerate(items):
        a = c_attrs[i]
        kb = _utf8(key) if isinstance(key, str) else _utf8(_safe_str(key))
        kbuf = ffi.from_buffer(kb)
        keep.append(kbuf)
        a.key.ptr = kbuf
        a.key.len = len(kb)
        if structured:
            _set_any_value(a.value, value, keep, 1)
        else:
            _set_value(a.value, value, keep)
    return c_attrs, n


def emit_record(scope: Any, time_ns: int, severity_number: int, sev_text: Any, body: Any,
                attrs: AttrList, event_name: bytes = b"", ctx: Any = None,
                structured: bool = False, observed_ns: int = 0) -> int:
    """One otel_log_emit call: body is str (or any attribute value, None = no body), attrs a list
    of (key, value) converted by the attribute rules (see _set_value; structured=True: as OTLP
    AnyValues, for the opentelemetry-api Logger), ctx an otel_span_context pointer or None for
    current_span_context(). Returns the library's status (drops are counted by the engine;
    callers that serve a logging call ignore it)."""
    keep: List[Any] = []
    c_attrs, n = attr_array(attrs, keep, structured)
    if body is None:
        c_body = ffi.NULL
    else:
        c_body = ffi.new("otel_value *")
        if structured:
            _set_any_value(c_body, body, keep, 1)
        else:
            _set_value(c_body, body, keep)
    ev = ffi.from_buffer(event_name)
    return lib.otel_log_emit(scope, time_ns, observed_ns, severity_number, sev_text, c_body,
                             c_attrs, n,
                             (ev, len(event_name)),
                             current_span_context() if ctx is None else ctx)


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

    def handle(self, record: logging.LogRecord) -> Any:  # type: ignore[override]
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
    scope = scope_for(name)
    return 0 if scope is None else int(ffi.cast("uintptr_t", scope))


def _exc_attrs(exc_info: Any) -> Optional[AttrList]:
    """For _speedups: the exception attributes of a record's exc_info, or None."""
    if exc_info and exc_info[0] is not None:
        return exception_attributes(*exc_info)
    return None


_speedups.setup(_RESERVED, _EVENT_NAME_KEY, logging.LogRecord, _scope_addr, _log_ctx_bytes,
                _exc_attrs, _current_span_var)
_handler_emit = _speedups.handler_emit
_handler_handle = _speedups.handler_handle


def _safe_str(v: Any) -> str:
    try:
        return str(v)
    except Exception:
        try:
            return repr(v)
        except Exception:
            return f"<unprintable {type(v).__name__}>"


def _primitive(v: Any) -> bool:
    return isinstance(v, (str, bool, int, float, bytes, bytearray))


def _set_value(out: Any, v: Any, keep: List[Any]) -> None:
    """Fills an otel_value from a Python value: the OTel attribute types (str, bool, int, float,
    bytes, and lists/tuples of those); anything else as str(v)."""
    if isinstance(v, bool):
        out.type = _VALUE_BOOL
        out.u.boolean = 1 if v else 0
    elif isinstance(v, int) and _INT64_MIN <= v <= _INT64_MAX:
        out.type = _VALUE_INT
        out.u.i64 = v
    elif isinstance(v, float):
        out.type = _VALUE_DOUBLE
        out.u.f64 = v
    elif isinstance(v, (bytes, bytearray)):
        b = bytes(v)
        buf = ffi.from_buffer(b)
        keep.append(buf)
        out.type = _VALUE_BYTES
        out.u.bytes.ptr = buf
        out.u.bytes.len = len(b)
    elif isinstance(v, (list, tuple)) and all(_primitive(x) for x in v):
        items = ffi.new("otel_value[]", len(v)) if v else ffi.NULL
        keep.append(items)
        for i, x in enumerate(v):
            _set_value(items[i], x, keep)
        out.type = _VALUE_ARRAY
        out.u.array.items = items
        out.u.array.len = len(v)
    else:
        s = v if isinstance(v, str) else _safe_str(v)
        b = _utf8(s)
        buf = ffi.from_buffer(b)
        keep.append(buf)
        out.type = _VALUE_STRING
        out.u.str.ptr = buf
        out.u.str.len = len(b)


_VALUE_EMPTY = 0
_VALUE_MAP = 7
_MAX_VALUE_DEPTH = 16


def _set_any_value(out: Any, v: Any, keep: List[Any], depth: int) -> None:
    """Fills an otel_value from an OTLP AnyValue: None -> empty, Mapping -> map, list/tuple ->
    array (types may mix), the attribute types as _set_value; anything else (and nesting deeper
    than the library accepts) as str(v)."""
    if v is None:
        out.type = _VALUE_EMPTY
    elif isinstance(v, (list, tuple)) and depth < _MAX_VALUE_DEPTH:
        items = ffi.new("otel_value[]", len(v)) if v else ffi.NULL
        keep.append(items)
        for i, x in enumerate(v):
            _set_any_value(items[i], x, keep, depth + 1)
        out.type = _VALUE_ARRAY
        out.u.array.items = items
        out.u.array.len = len(v)
    elif hasattr(v, "items") and hasattr(v, "keys") and depth < _MAX_VALUE_DEPTH:
        kv = list(v.items())
        items = ffi.new("otel_attr[]", len(kv)) if kv else ffi.NULL
        keep.append(items)
        for i, (key, x) in enumerate(kv):
            kb = _utf8(key) if isinstance(key, str) else _utf8(_safe_str(key))
            kbuf = ffi.from_buffer(kb)
            keep.append(kbuf)
            items[i].key.ptr = kbuf
            items[i].key.len = len(kb)
            _set_any_value(items[i].value, x, keep, depth + 1)
        out.type = _VALUE_MAP
        out.u.map.items = items
        out.u.map.len = len(kv)
    elif isinstance(v, (list, tuple)) or hasattr(v, "items"):
        _set_value(out, _safe_str(v), keep)
    else:
        _set_value(out, v, keep)
