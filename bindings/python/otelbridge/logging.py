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

One record is one call into the library (otel_log_emit); the trace context is the innermost
current span of the emitting context (otelbridge.trace's contextvar, or opentelemetry-api's current
span when that is the innermost; see otelbridge.trace), passed explicitly: never the C thread's. Scope handles are cached per logger name in a plain dict (the library
returns the same handle for the same name, so a race only costs a duplicate lookup).
"""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple

from ._native import ffi, lib
from .trace import current_context_for_log as _log_ctx, current_ids_for_log as _log_ids

__all__ = ["Handler", "severity", "install_record_factory", "enable_correlation_fields",
           "DEFAULT_LOGGING_FORMAT"]

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


def install_record_factory() -> None:
    """Wraps the current LogRecord factory so that records carry their creation time in integer
    nanoseconds (and record.created/msecs are derived from that same instant, as Python 3.13
    does), and the correlation fields once enable_correlation_fields() ran. Idempotent."""
    global _installed_factory
    prev = logging.getLogRecordFactory()
    if prev is _installed_factory:
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        ns = time.time_ns()
        rec = prev(*args, **kwargs)
        created = ns / 1e9
        if abs(rec.created - created) < 1.0:  # not a factory that set its own time
            rec.created = created
            rec.msecs = (ns % 1_000_000_000) // 1_000_000 + 0.0
            rec._otelbridge_ns = ns
        if _correlation:
            ids = _log_ids()
            if ids is None:
                rec.otelTraceID = "0"
                rec.otelSpanID = "0"
                rec.otelTraceSampled = False
            else:
                rec.otelTraceID, rec.otelSpanID, rec.otelTraceSampled = ids
            rec.otelServiceName = _service_name
        return rec

    _installed_factory = factory
    logging.setLogRecordFactory(factory)


def _time_ns(record: logging.LogRecord) -> int:
    ns = record.__dict__.get("_otelbridge_ns")
    created = record.created
    if ns is not None and ns / 1e9 == created:
        return ns
    return int(created * 1e9)


# ---- the handler --------------------------------------------------------------------------------

class Handler(logging.Handler):
    """A logging.Handler that emits every record into the otelbridge engine.

    code_attributes: add code.file.path / code.function.name / code.line.number; default: the
    OTEL_PYTHON_LOG_CODE_ATTRIBUTES setting (configure() or the environment), off.
    Records are dropped (silently) before configure() and after shutdown().
    """

    def __init__(self, level: int = logging.NOTSET, *,
                 code_attributes: Optional[bool] = None) -> None:
        super().__init__(level)
        if code_attributes is None:
            from . import python_setting
            code_attributes = _truthy(python_setting("OTEL_PYTHON_LOG_CODE_ATTRIBUTES", "false"))
        self.code_attributes = bool(code_attributes)
        self._scopes: Dict[str, Any] = {}
        self._levels: Dict[Tuple[int, str], Tuple[int, Any, Any]] = {}
        self._empty = (ffi.NULL, 0)  # otel_str initialisers: cffi builds the struct per call

    # -- lookups ---------------------------------------------------------------------------------

    def _scope(self, name: str) -> Any:
        scope = self._scopes.get(name)
        if scope is None:
            nb = _utf8(name)
            out = ffi.new("otel_scope **")
            st = lib.otel_scope_get(ffi.NULL, (ffi.from_buffer(nb), len(nb)), self._empty,
                                    self._empty, ffi.NULL, 0, out)
            if st != 0:
                return None  # not initialised / shut down: do not cache
            scope = out[0]
            self._scopes[name] = scope
        return scope

    def _level(self, levelno: int, levelname: str) -> Tuple[int, Any, Any]:
        k = (levelno, levelname)
        v = self._levels.get(k)
        if v is None:
            text = _utf8(_TEXT_RENAME.get(levelname, levelname))
            buf = ffi.new("char[]", text)
            v = (severity(levelno), (buf, len(text)), buf)  # the tuple keeps buf alive
            self._levels[k] = v
        return v

    # -- emit -----------------------------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._emit(record)
        except RecursionError:
            raise
        except Exception:
            try:
                self.handleError(record)  # stderr only; never a logging call
            except Exception:
                pass

    def _emit(self, record: logging.LogRecord) -> None:
        scope = self._scope(record.name)
        if scope is None:
            return
        sev, sev_text, _ = self._level(record.levelno, record.levelname)

        body_text = self.format(record) if self.formatter is not None else record.getMessage()

        attrs: List[Tuple[str, Any]] = []
        event_name = b""
        for key, value in record.__dict__.items():
            if key in _RESERVED:
                continue
            if key == _EVENT_NAME_KEY:
                event_name = _utf8(value if isinstance(value, str) else str(value))
                continue
            attrs.append((key, value))
        if self.code_attributes:
            attrs.append(("code.file.path", record.pathname))
            attrs.append(("code.function.name", record.funcName))
            attrs.append(("code.line.number", record.lineno))
        exc_info = record.exc_info
        if exc_info and exc_info[0] is not None:
            exc_type, exc, tb = exc_info
            attrs.append(("exception.type", exc_type.__name__))
            attrs.append(("exception.message", _safe_str(exc)))
            attrs.append(("exception.stacktrace",
                          "".join(traceback.format_exception(exc_type, exc, tb))))

        keep: List[Any] = []
        n = len(attrs)
        c_attrs = ffi.new("otel_attr[]", n) if n else ffi.NULL
        for i, (key, value) in enumerate(attrs):
            a = c_attrs[i]
            kb = _utf8(key) if isinstance(key, str) else _utf8(str(key))
            kbuf = ffi.from_buffer(kb)
            keep.append(kbuf)
            a.key.ptr = kbuf
            a.key.len = len(kb)
            _set_value(a.value, value, keep)

        body = ffi.new("otel_value *")
        bb = _utf8(body_text)
        bbuf = ffi.from_buffer(bb)
        body.type = _VALUE_STRING
        body.u.str.ptr = bbuf
        body.u.str.len = len(bb)

        ev = ffi.from_buffer(event_name)
        lib.otel_log_emit(scope, _time_ns(record), 0, sev, sev_text, body, c_attrs, n,
                          (ev, len(event_name)), _log_ctx())
        # The status is deliberately ignored: drops (queue full, shutdown) are counted by the
        # engine, and a handler must not fail the application's logging call.


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
