"""A loguru sink that emits through the otelbridge engine, with the Handler's mapping.

    from loguru import logger
    import otelbridge, otelbridge.loguru
    otelbridge.configure(service_name="checkout", attach_handler=False)
    logger.add(otelbridge.loguru.sink, level="DEBUG")
    logger.bind(order_id=42).warning("card declined")

Mapping (the same rules as otelbridge.logging.Handler, one place: otelbridge.logging):
  scope name        record["name"] (the module, like a stdlib logger name; "loguru" if unknown)
  time              record["time"] (microseconds, loguru's precision)
  severity          record["level"].no through the Handler's table (TRACE 5 -> TRACE,
                    SUCCESS 25 -> INFO4); severity_text the level name (WARNING -> WARN,
                    CRITICAL -> FATAL)
  body              record["message"] (the message, without the sink's format)
  attributes        record["extra"]: bind(), contextualize() and patch() fields, converted by the
                    Handler's rules (OTel types kept, anything else str()); "otel.event.name"
                    becomes the event name
  exception         exception.type / exception.message / exception.stacktrace
  code.*            with code_attributes=True (make_sink), or OTEL_PYTHON_LOG_CODE_ATTRIBUTES
  trace context     otelbridge.logging.current_span_context(), as the Handler

loguru is not imported here (the sink only reads the record loguru passes), so this module costs
nothing for applications that do not use it. Records are dropped before configure() and after
shutdown(). Do not also route loguru into stdlib logging while the Handler is attached (each
record would arrive twice).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from .logging import (AttrList, _EVENT_NAME_KEY, _truthy, emit_record,
                      exception_attributes, level_text, scope_for, severity)

__all__ = ["sink", "make_sink"]


def _time_ns(dt: Any) -> int:
    # Exact: integral seconds from timestamp() of the datetime without its microseconds.
    try:
        return int(int(dt.replace(microsecond=0).timestamp()) * 1_000_000_000 +
                   dt.microsecond * 1000)
    except Exception:
        return 0  # the library stamps "now"


def make_sink(*, code_attributes: Optional[bool] = None) -> Callable[[Any], None]:
    """A loguru sink function. code_attributes: add code.file.path / code.function.name /
    code.line.number (default: the OTEL_PYTHON_LOG_CODE_ATTRIBUTES setting, off)."""
    if code_attributes is None:
        from . import python_setting
        code_attributes = _truthy(python_setting("OTEL_PYTHON_LOG_CODE_ATTRIBUTES", "false"))
    with_code = bool(code_attributes)

    def otelbridge_sink(message: Any) -> None:
        record = message.record
        scope = scope_for(record.get("name") or "loguru")
        if scope is None:
            return
        level = record["level"]
        attrs: AttrList = []
        event_name: Any = b""
        for key, value in record["extra"].items():
            if key == _EVENT_NAME_KEY:
                event_name = value  # str(value) in C when it is not a str
                continue
            attrs.append((key, value))
        if with_code:
            attrs.append(("code.file.path", record["file"].path))
            attrs.append(("code.function.name", record["function"]))
            attrs.append(("code.line.number", record["line"]))
        exc = record["exception"]
        if exc is not None and exc.type is not None:
            attrs.extend(exception_attributes(exc.type, exc.value, exc.traceback))
        emit_record(scope, _time_ns(record["time"]), severity(level.no),
                    level_text(level.name), record["message"], attrs, event_name)

    otelbridge_sink.__name__ = "otelbridge_sink"
    return otelbridge_sink


def sink(message: Any) -> None:
    """The default sink (code attributes per OTEL_PYTHON_LOG_CODE_ATTRIBUTES, read on first
    use). Pass it to logger.add()."""
    global _default
    if _default is None:
        _default = make_sink()
    _default(message)


_default: Optional[Callable[[Any], None]] = None
