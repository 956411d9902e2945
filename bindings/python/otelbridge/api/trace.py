"""opentelemetry-api's tracing interfaces on the otelbridge engine.

    import otelbridge
    from opentelemetry import trace
    from otelbridge.api.trace import TracerProvider

    otelbridge.configure(service_name="checkout")
    trace.set_tracer_provider(TracerProvider())

Every `opentelemetry.trace` user — application code and instrumentation packages — then starts
native spans (otelbridge.trace.Span underneath: one library call to start, one to end). The
spans live in opentelemetry.context as the API requires: trace.use_span, get_current_span,
set_span_in_context and the propagators of opentelemetry.propagate work unchanged, and a
NonRecordingSpan from extraction is a remote parent.

Mixing with otelbridge.trace (the native API) follows its one rule: the innermost span is the one
made current most recently, whichever API made it current (see otelbridge.trace). So a native
span started inside an API span is its child, an API span started inside a native span is its
child, and a log record carries the innermost span's context.

Differences from opentelemetry-sdk: sampling, limits and export are the engine's (OTEL_TRACES_*
and OTEL_SPAN_* settings, docs/configuration.md); spans are not readable back (no
ReadableSpan/SpanProcessor); a non-otelbridge span used as a parent (an SDK span, or a
NonRecordingSpan that is not from extraction) is exported as a remote parent.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Type, cast

from opentelemetry import context as _context
from opentelemetry import trace as _api
from opentelemetry.trace import (Link, SpanContext, SpanKind, TraceFlags,
                                 TraceState)
from opentelemetry.util import types as _types

import otelbridge
from otelbridge import trace as _native

__all__ = ["TracerProvider", "Tracer", "Span"]

_KIND = {SpanKind.INTERNAL: 1, SpanKind.SERVER: 2, SpanKind.CLIENT: 3, SpanKind.PRODUCER: 4,
         SpanKind.CONSUMER: 5}


class Span(_api.Span):
    """An opentelemetry-api Span over a native otelbridge span."""

    __slots__ = ("_otelbridge_span", "_sc", "_rec_exc", "_set_status_exc")

    def __init__(self, native: _native.Span, record_exception: bool = True,
                 set_status_on_exception: bool = True) -> None:
        self._otelbridge_span = native
        self._sc: Optional[SpanContext] = None
        self._rec_exc = record_exception
        self._set_status_exc = set_status_on_exception

    def get_span_context(self) -> SpanContext:
        sc = self._sc
        if sc is None:
            n = self._otelbridge_span.get_span_context()
            ts = TraceState.from_header([n.trace_state]) if n.trace_state else TraceState()
            sc = SpanContext(n.trace_id, n.span_id, is_remote=False,
                             trace_flags=TraceFlags(n.trace_flags), trace_state=ts)
            if n.trace_id:
                self._sc = sc
        return sc

    def end(self, end_time: Optional[int] = None) -> None:
        self._otelbridge_span.end(end_time)

    def set_attributes(self, attributes: Mapping[str, _types.AttributeValue]) -> None:
        self._otelbridge_span.set_attributes(attributes)

    def set_attribute(self, key: str, value: _types.AttributeValue) -> None:
        self._otelbridge_span.set_attributes({key: value})

    def add_event(self, name: str, attributes: _types.Attributes = None,
                  timestamp: Optional[int] = None) -> None:
        self._otelbridge_span.add_event(name, attributes, timestamp)

    def add_link(self, context: SpanContext, attributes: _types.Attributes = None) -> None:
        self._otelbridge_span.add_link(context, attributes)

    def update_name(self, name: str) -> None:
        self._otelbridge_span.update_name(name)

    def is_recording(self) -> bool:
        return self._otelbridge_span.is_recording()

    def set_status(self, status: Any, description: Optional[str] = None) -> None:
        self._otelbridge_span.set_status(status, description)

    def record_exception(self, exception: BaseException, attributes: _types.Attributes = None,
                         timestamp: Optional[int] = None, escaped: bool = False) -> None:
        self._otelbridge_span.record_exception(exception, attributes, timestamp, escaped)

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc_val: Optional[BaseException],
                 exc_tb: Optional[TracebackType]) -> None:
        # `with tracer.start_span(...) as span:` as opentelemetry-sdk: record, set status, end.
        if exc_val is not None:
            self._otelbridge_span._on_exception(exc_val, self._rec_exc, self._set_status_exc,
                                                True)
        self.end()

    def __repr__(self) -> str:
        return f"<otelbridge.api.trace.Span {self._otelbridge_span!r}>"


class _Activation:
    """start_as_current_span's result: a context manager (the span current in
    opentelemetry.context, as trace.use_span does) and a decorator of functions, coroutine
    functions, generator and async generator functions."""

    __slots__ = ("_tracer", "_args", "_span", "_token")

    def __init__(self, tracer: "Tracer", args: Tuple[Any, ...]) -> None:
        self._tracer = tracer
        self._args = args
        self._span: Optional[Span] = None
        self._token: Any = None

    def __enter__(self) -> Span:
        (name, context, kind, attributes, links, start_time, rec, setst, _eoe) = self._args
        span = self._span = self._tracer.start_span(name, context, kind, attributes, links,
                                                    start_time, rec, setst)
        self._token = _context.attach(_api.set_span_in_context(span))
        return span

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        try:
            _context.detach(self._token)
        finally:
            span = cast(Span, self._span)
            rec, setst, eoe = self._args[6], self._args[7], self._args[8]
            if isinstance(exc, Exception):  # as trace.use_span: not BaseException
                span._otelbridge_span._on_exception(exc, rec, setst, False)
            if eoe:
                span.end()

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorates fn (sync, async, generator and async generator functions): see
        otelbridge.trace.decorate."""
        return _native.decorate(fn, lambda: _Activation(self._tracer, self._args))


class Tracer(_api.Tracer):
    """An opentelemetry-api Tracer for one instrumentation scope."""

    def __init__(self, native: _native.Tracer) -> None:
        self._native = native

    def _parent(self, context: Optional[_context.Context]) -> Any:
        if context is None:
            # the innermost current span, whichever API made it current (otelbridge.trace)
            return _native._innermost()
        span = _api.get_current_span(context)
        if span is _api.INVALID_SPAN:
            return None
        return span

    def start_span(self, name: str, context: Optional[_context.Context] = None,
                   kind: SpanKind = SpanKind.INTERNAL, attributes: _types.Attributes = None,
                   links: Optional[Sequence[Link]] = None, start_time: Optional[int] = None,
                   record_exception: bool = True,
                   set_status_on_exception: bool = True) -> Span:
        parent = self._parent(context)
        n = self._native._start(name, _KIND.get(kind, 1), attributes,
                                list(links) if links else None, start_time,
                                parent)
        return Span(n, record_exception, set_status_on_exception)

    def start_as_current_span(self, name: str, context: Optional[_context.Context] = None,
                              kind: SpanKind = SpanKind.INTERNAL,
                              attributes: _types.Attributes = None,
                              links: Optional[Sequence[Link]] = None, start_time: Optional[int] = None,
                              record_exception: bool = True,
                              set_status_on_exception: bool = True,
                              end_on_exit: bool = True) -> Any:
        return _Activation(self, (name, context, kind, attributes, links, start_time,
                                  record_exception, set_status_on_exception, end_on_exit))


class TracerProvider(_api.TracerProvider):
    """Routes opentelemetry-api tracing to the otelbridge engine. Create it before or after
    otelbridge.configure(); spans started before configure() are non-recording."""

    def __init__(self) -> None:
        self._tracers: Dict[Tuple[str, Optional[str]], Tracer] = {}

    def get_tracer(self, instrumenting_module_name: str,
                   instrumenting_library_version: Optional[str] = None,
                   schema_url: Optional[str] = None,
                   attributes: _types.Attributes = None) -> Tracer:
        key = (instrumenting_module_name or "", instrumenting_library_version)
        t = self._tracers.get(key)
        if t is None:
            t = Tracer(_native.get_tracer(instrumenting_module_name or "",
                                          instrumenting_library_version, schema_url, attributes))
            t = self._tracers.setdefault(key, t)
        return t

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return otelbridge.flush(timeout_millis / 1000.0)

    def shutdown(self) -> None:
        otelbridge.shutdown()


# otelbridge.trace consults opentelemetry's current span from now on.
_native._make_api_hook()
