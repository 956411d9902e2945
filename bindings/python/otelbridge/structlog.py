"""A structlog processor that emits every event through the otelbridge engine, with the
Handler's mapping.

    import structlog, otelbridge
    from otelbridge.structlog import OtelProcessor
    otelbridge.configure(service_name="checkout", attach_handler=False)
    structlog.configure(processors=[
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        OtelProcessor(),                      # before format_exc_info and the renderer
        structlog.processors.TimeStamper(fmt="iso"),
        structlog.dev.ConsoleRenderer(),
    ])
    structlog.get_logger("shop").bind(order_id=42).warning("card declined")

Mapping (the same rules as otelbridge.logging.Handler, one place: otelbridge.logging):
  scope name        event_dict["logger"] (add_logger_name), else the wrapped logger's .name,
                    else the processor's scope_name (default "structlog")
  time              event_dict["timestamp"] when it is a UNIX time number (TimeStamper(fmt=None)
                    placed before), else the time the processor runs
  severity          event_dict["level"] (add_log_level), else the method name: critical/fatal ->
                    FATAL, exception/error -> ERROR, warning/warn -> WARN, info/msg -> INFO,
                    debug -> DEBUG, trace -> TRACE; unknown names -> UNSPECIFIED with the name
  body              event_dict["event"] (a str, or any attribute value)
  attributes        every other key (bound, contextvars, call-site fields) by the Handler's rules;
                    "otel.event.name" becomes the event name
  exception         exc_info (True, an exception, or a sys.exc_info() tuple) -> exception.type /
                    .message / .stacktrace; an "exception" string left by format_exc_info ->
                    exception.stacktrace
  trace context     otelbridge.logging.current_span_context(), as the Handler

The event dict is returned unchanged (the processor only reads it), so the chain goes on to its
renderer; OtelProcessor(drop=True) raises structlog.DropEvent after emitting instead, for a chain
whose only output is otelbridge. Do not use it together with the Handler on a structlog chain
that ends in stdlib logging (each event would arrive twice).
"""

from __future__ import annotations

import sys
import time
from typing import Any, Dict, MutableMapping, Optional, Tuple

from .logging import (AttrList, _EVENT_NAME_KEY, emit_record,
                      exception_attributes, level_text, scope_for, severity)

__all__ = ["OtelProcessor"]

# method / level name -> (stdlib level number, the stdlib level name used for severity_text)
_LEVELS: Dict[str, Tuple[int, str]] = {
    "critical": (50, "CRITICAL"), "fatal": (50, "CRITICAL"),
    "exception": (40, "ERROR"), "error": (40, "ERROR"), "err": (40, "ERROR"),
    "warning": (30, "WARNING"), "warn": (30, "WARNING"),
    "info": (20, "INFO"), "msg": (20, "INFO"), "log": (20, "INFO"),
    "debug": (10, "DEBUG"), "trace": (5, "TRACE"), "notset": (0, "NOTSET"),
}
_NOT_ATTRIBUTES = frozenset({"event", "level", "logger", "timestamp", "exc_info", "exception"})


class OtelProcessor:
    """The structlog processor. scope_name: the scope when neither the event dict nor the
    logger names one. drop: raise structlog.DropEvent after emitting."""

    def __init__(self, *, scope_name: str = "structlog", drop: bool = False) -> None:
        self.scope_name = scope_name
        self.drop = drop

    def __call__(self, logger: Any, method_name: str,
                 event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        name = event_dict.get("logger")
        if not isinstance(name, str):
            name = getattr(logger, "name", None)
            if not isinstance(name, str) or not name:
                name = self.scope_name
        scope = scope_for(name)
        if scope is not None:
            self._emit(scope, method_name, event_dict)
        if self.drop:
            import structlog

            raise structlog.DropEvent
        return event_dict

    def _emit(self, scope: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> None:
        level = event_dict.get("level")
        level_key = (level if isinstance(level, str) else method_name or "").lower()
        levelno, levelname = _LEVELS.get(level_key, (0, level_key.upper()))

        ts = event_dict.get("timestamp")
        if isinstance(ts, (int, float)) and not isinstance(ts, bool):
            time_ns = int(ts * 1e9) if isinstance(ts, float) else ts * 1_000_000_000
        else:
            time_ns = time.time_ns()

        attrs: AttrList = []
        event_name: Any = b""
        for key, value in event_dict.items():
            if key in _NOT_ATTRIBUTES:
                continue
            if key == _EVENT_NAME_KEY:
                event_name = value  # str(value) in C when it is not a str
                continue
            attrs.append((key, value))
        exc_info = _exc_info(event_dict.get("exc_info"))
        if exc_info is not None:
            attrs.extend(exception_attributes(*exc_info))
        else:
            formatted = event_dict.get("exception")
            if isinstance(formatted, str) and formatted:
                attrs.append(("exception.stacktrace", formatted))
        emit_record(scope, time_ns, severity(levelno), level_text(levelname),
                    event_dict.get("event"), attrs, event_name)


def _exc_info(v: Any) -> Optional[Tuple[Any, Any, Any]]:
    if v is None or v is False:
        return None
    if isinstance(v, BaseException):
        return (type(v), v, v.__traceback__)
    if isinstance(v, tuple) and len(v) == 3:
        return v if v[0] is not None else None
    if v is True or v:
        ei = sys.exc_info()
        return ei if ei[0] is not None else None
    return None
