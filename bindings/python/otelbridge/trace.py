"""otelbridge.trace: the native tracing API — spans on the otelbridge engine, asyncio-safe.

    from otelbridge import trace
    tracer = trace.get_tracer(__name__)

    with tracer.start_as_current_span("charge", attributes={"order.id": 42}) as span:
        span.add_event("authorised")

    @tracer.start_as_current_span("fetch")      # a decorator of sync and async functions
    async def fetch(url: str) -> bytes: ...

The current span lives in a contextvars.ContextVar, so every asyncio task and thread sees its
own. Starting and ending a span are one call into the library each: the parent is passed
explicitly (OTEL_PARENT_SPAN / OTEL_PARENT_REMOTE), never through the C thread-local context.
A span's ids are read from the library lazily — the first time something needs them (a log
record, inject(), get_span_context()) — and at the latest when the span ends, so they stay
readable afterwards.

Spans started before otelbridge.configure(), or after shutdown(), are non-recording: every call
on them returns without doing anything (they carry their parent's context, so propagation still
works).

Mixing with opentelemetry-api (otelbridge.api.TracerProvider): one rule — **the innermost span
is the one made current most recently, whichever API made it current**. A native span made
current remembers which opentelemetry-api span was current at that moment; if the API's current
span is still that one, the native span is the innermost, otherwise the API's span (made current
inside it) is. Parents of new spans (native or API) and the trace context of log records follow
that rule. opentelemetry is never imported by this module; its context is consulted only once
`opentelemetry.trace` has been imported by someone.
"""

from __future__ import annotations

import contextvars
import enum
import functools
import inspect
import struct
import sys
import threading
import traceback
from types import TracebackType
from typing import (Any, Callable, Dict, List, Mapping, MutableMapping, Optional, Sequence,
                    Tuple, Type, TypeVar, cast)

from . import _attrs, _speedups
from ._native import ffi, lib

__all__ = [
    "SpanKind", "StatusCode", "Status", "SpanContext", "Link", "Span", "Tracer", "get_tracer",
    "get_current_span", "use_span", "inject", "extract", "INVALID_SPAN_CONTEXT",
    "get_baggage", "get_all_baggage", "set_baggage", "remove_baggage", "reset_baggage",
    "extract_baggage",
]

_F = TypeVar("_F", bound=Callable[..., Any])

_OTEL_E_INVALID_HANDLE = -13


class SpanKind(enum.IntEnum):
    """OTLP span kinds (the values the library takes)."""
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


class StatusCode(enum.IntEnum):
    UNSET = 0
    OK = 1
    ERROR = 2


class Status:
    """A span status: a code and, for ERROR, a description."""
    __slots__ = ("status_code", "description")

    def __init__(self, status_code: StatusCode = StatusCode.UNSET,
                 description: Optional[str] = None) -> None:
        self.status_code = status_code
        self.description = description

    def __repr__(self) -> str:
        return f"Status({self.status_code!r}, {self.description!r})"


class SpanContext:
    """A span's identity: trace_id (128-bit int), span_id (64-bit int), trace_flags (bit 0 =
    sampled), is_remote, and trace_state (the W3C tracestate header value, "" when none)."""
    __slots__ = ("trace_id", "span_id", "trace_flags", "is_remote", "trace_state")

    def __init__(self, trace_id: int, span_id: int, trace_flags: int = 0,
                 is_remote: bool = False, trace_state: str = "") -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.trace_flags = trace_flags
        self.is_remote = is_remote
        self.trace_state = trace_state

    @property
    def is_valid(self) -> bool:
        return (0 < self.trace_id < (1 << 128)) and (0 < self.span_id < (1 << 64))

    @property
    def sampled(self) -> bool:
        return bool(self.trace_flags & 1)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SpanContext):
            return NotImplemented
        return (self.trace_id, self.span_id, self.trace_flags, self.is_remote,
                self.trace_state) == (other.trace_id, other.span_id, other.trace_flags,
                                      other.is_remote, other.trace_state)

    def __hash__(self) -> int:
        return hash((self.trace_id, self.span_id, self.trace_flags, self.is_remote))

    def __repr__(self) -> str:
        return (f"SpanContext(trace_id=0x{self.trace_id:032x}, span_id=0x{self.span_id:016x}, "
                f"trace_flags=0x{self.trace_flags:02x}, is_remote={self.is_remote}, "
                f"trace_state={self.trace_state!r})")


INVALID_SPAN_CONTEXT = SpanContext(0, 0)


class Link:
    """A link to another span context, with attributes."""
    __slots__ = ("context", "attributes")

    def __init__(self, context: Any, attributes: Optional[Mapping[str, Any]] = None) -> None:
        self.context = context
        self.attributes = attributes


# ---- packed ABI structures ----------------------------------------------------------------------

_CTX = struct.Struct("=16s8sBB6x")                     # otel_span_context (32)
_PARENT = struct.Struct("=iiQ16s8sBB6xQQ")             # otel_span_parent (64)
_LINK = struct.Struct("=16s8sBB6xQQQQ")                # otel_link (64)
_CTX_P = ffi.typeof("otel_span_context *")
_PARENT_P = ffi.typeof("otel_span_parent *")
_LINK_P = ffi.typeof("otel_link *")
_SPAN_P = ffi.typeof("otel_span *")
_NULL = ffi.NULL
_PARENT_ROOT = ffi.new(_PARENT_P, {"kind": 1})      # read-only after creation
NO_CONTEXT = ffi.new(_CTX_P)                          # all zero: "no trace context"

# Bound once: attribute lookups on `lib`/`ffi` cost tens of ns on the span hot path.
_new = ffi.new
_from_buffer = ffi.from_buffer
_span_start = lib.otel_span_start
_c_span_start = _speedups.span_start   # one call: start + the new span's context
_c_span_end = _speedups.span_end
_span_ctx_get = lib.otel_span_context_get
_convert = _attrs.convert
_SPANS = _attrs.SPANS
# Handles for otel_span_start's out parameter, reused: pop/append are atomic, so a nested call
# (a signal handler, another thread) always gets a different one.
_out_pool: List[Any] = []

_name_cache: Dict[str, Any] = {}
_NAME_CACHE_MAX = 4096


def _name(name: Any) -> Any:
    """An otel_str (by value) for a span or event name; cached per name."""
    s = _name_cache.get(name)
    if s is not None:
        return s
    text = name if type(name) is str else _attrs.safe_str(name)
    b = text.encode("utf-8", "surrogatepass")
    buf = ffi.new("char[]", b)
    s = ffi.new("otel_str *", (buf if b else _NULL, len(b)))[0]
    if len(_name_cache) < _NAME_CACHE_MAX and type(name) is str:
        _name_cache[name] = s
        _attrs._pinned.append(buf)
    else:
        # Not cached: the struct copy points into buf, which must outlive the call. Returning
        # a (buf, len) tuple lets cffi build the struct and keeps buf alive in the caller.
        return (buf if b else _NULL, len(b))
    return s


def _ctx_bytes(trace_id: int, span_id: int, flags: int, remote: bool) -> bytes:
    return _CTX.pack(trace_id.to_bytes(16, "big"), span_id.to_bytes(8, "big"), flags & 0xFF,
                     1 if remote else 0)


def _remote_parent(trace_id: int, span_id: int, flags: int, trace_state: str) -> Any:
    tsb = trace_state.encode("utf-8", "surrogatepass") if trace_state else b""
    keep: List[Any] = []
    ptr = _attrs.ptr_of(tsb, keep)
    raw = _PARENT.pack(3, 0, 0, trace_id.to_bytes(16, "big"), span_id.to_bytes(8, "big"),
                       flags & 0xFF, 1, ptr, len(tsb))
    p = ffi.from_buffer(_PARENT_P, raw)
    return (p, keep, raw)


def _api_state(sc: Any) -> str:
    """The W3C header form of an opentelemetry-api TraceState (or a str)."""
    ts = getattr(sc, "trace_state", None)
    if not ts:
        return ""
    if isinstance(ts, str):
        return ts
    try:
        return cast(str, ts.to_header())
    except Exception:
        return ""


# ---- spans --------------------------------------------------------------------------------------

class Span:
    """A span on the engine. Not created directly: Tracer.start_span / start_as_current_span.

    Every method may be called from any thread. After end() (or on a non-recording span) the
    mutators do nothing; get_span_context() keeps working."""

    __slots__ = ("_h", "_cc", "_cb", "_ts", "_ended", "_par", "_ids", "__weakref__")

    def __init__(self, handle: int, trace_state: str = "", ctx: Any = None) -> None:
        self._h = handle          # 0: a non-recording span that is not in the library
        self._cc = ctx            # cdata otel_span_context *, read lazily
        self._cb: Optional[bytes] = None  # its 32 bytes, when _speedups.span_start returned them
        self._ts = trace_state    # inherited from the parent (the library does the same)
        self._ended = handle == 0
        self._par: Any = None     # cdata otel_span_parent * naming this span, made on first use
        self._ids: Optional[Tuple[str, str, bool]] = None  # (032x, 016x, sampled), for logging

    # -- context

    def _ctx(self) -> Any:
        """The cdata otel_span_context * of this span (NO_CONTEXT when unknown)."""
        cc = self._cc
        if cc is not None:
            return cc
        cb = self._cb
        if cb is not None:
            cc = self._cc = _from_buffer(_CTX_P, cb)
            return cc
        p = ffi.new(_CTX_P)
        if self._h and lib.otel_span_context_get(self._h, p) == 0:
            self._cc = p
            return p
        # Ended meanwhile in another thread: end() stored the context before ending.
        cc = self._cc
        return cc if cc is not None else NO_CONTEXT

    def get_span_context(self) -> SpanContext:
        c = self._ctx()
        b = bytes(ffi.buffer(c))
        return SpanContext(int.from_bytes(b[0:16], "big"), int.from_bytes(b[16:24], "big"),
                           b[24], bool(b[25]), self._ts)

    def _log_ids(self) -> Tuple[str, str, bool]:
        ids = self._ids
        if ids is None:
            b = bytes(ffi.buffer(self._ctx()))
            ids = (b[0:16].hex(), b[16:24].hex(), bool(b[24] & 1))
            if self._cc is not None:
                self._ids = ids
        return ids

    def _parent_struct(self) -> Any:
        """An otel_span_parent naming this span (a remote-style parent once it has ended)."""
        if not self._ended:
            p = self._par
            if p is None:
                p = ffi.new(_PARENT_P)
                p.kind = 2
                p.span = self._h
                self._par = p
            return p
        sc = self.get_span_context()
        if not sc.is_valid:
            return _PARENT_ROOT
        return _remote_parent(sc.trace_id, sc.span_id, sc.trace_flags, self._ts)[0:2]

    def is_recording(self) -> bool:
        return not self._ended and lib.otel_span_is_recording(self._h) == 1

    # -- mutators

    def set_attribute(self, key: str, value: Any) -> None:
        self.set_attributes({key: value})

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        if self._ended or not attributes:
            return
        ap, n, owner = _convert(attributes, _SPANS)
        lib.otel_span_set_attrs(self._h, ap, n)

    def add_event(self, name: str, attributes: Optional[Mapping[str, Any]] = None,
                  timestamp: Optional[int] = None) -> None:
        if self._ended:
            return
        ap, n, owner = _convert(attributes, _SPANS)
        lib.otel_span_add_event(self._h, _name(name), timestamp or 0, ap, n)

    def add_link(self, context: Any, attributes: Optional[Mapping[str, Any]] = None) -> None:
        if self._ended:
            return
        keep: List[Any] = []
        raw = _pack_link(context, attributes, keep)
        if raw is not None:
            lib.otel_span_add_link(self._h, ffi.from_buffer(_LINK_P, raw))

    def set_status(self, status: Any, description: Optional[str] = None) -> None:
        """status: a Status (this module's or opentelemetry's), or a StatusCode (either)."""
        if self._ended:
            return
        code = getattr(status, "status_code", None)
        if code is not None:
            if description is None:
                description = getattr(status, "description", None)
        else:
            code = status
        code = getattr(code, "value", code)
        try:
            code = int(code)
        except (TypeError, ValueError):
            return
        keep: List[Any] = []
        d = _attrs.ostr(description, keep) if code == 2 else (_NULL, 0)
        lib.otel_span_set_status(self._h, code, d)

    def update_name(self, name: str) -> None:
        if self._ended:
            return
        lib.otel_span_update_name(self._h, _name(name))

    def record_exception(self, exception: BaseException,
                         attributes: Optional[Mapping[str, Any]] = None,
                         timestamp: Optional[int] = None, escaped: bool = False) -> None:
        """The semantic-convention "exception" event, as opentelemetry-sdk writes it:
        exception.type (module.qualname, builtins unqualified), exception.message (str()),
        exception.stacktrace, exception.escaped ("True"/"False")."""
        if self._ended:
            return
        t = type(exception)
        module, qual = t.__module__, t.__qualname__
        type_name = f"{module}.{qual}" if module and module != "builtins" else qual
        try:
            stack = "".join(traceback.format_exception(t, exception, exception.__traceback__))
        except Exception:
            stack = ""
        extra: Dict[str, Any] = {"exception.escaped": str(escaped)}
        if attributes:
            extra.update(attributes)
        keep: List[Any] = []
        ap, n, owner = _convert(extra, _SPANS)
        lib.otel_span_record_exception(
            self._h, _attrs.ostr(type_name, keep), _attrs.ostr(_attrs.safe_str(exception), keep),
            _attrs.ostr(stack, keep), ap, n, timestamp or 0)

    def end(self, end_time: Optional[int] = None) -> None:
        if self._ended:
            return
        self._ended = True
        h = self._h
        if self._cc is None and self._cb is None:  # keep the ids readable after the end
            p = _new(_CTX_P)
            if _span_ctx_get(h, p) == 0:
                self._cc = p
        _c_span_end(h, end_time or 0)

    def _on_exception(self, exc: BaseException, record: bool, set_status: bool,
                      escaped: bool) -> None:
        if not self.is_recording():
            return
        if record:
            self.record_exception(exc, escaped=escaped)
        if set_status:
            self.set_status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}")

    # -- `with tracer.start_span(...) as span:` ends the span (it is not made current)

    def __enter__(self) -> "Span":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        if exc is not None:
            self._on_exception(exc, True, True, True)
        self.end()

    def __repr__(self) -> str:
        return f"<otelbridge.trace.Span handle=0x{self._h:x} ended={self._ended}>"


def _pack_link(context: Any, attributes: Optional[Mapping[str, Any]],
               keep: List[Any]) -> Optional[bytes]:
    """A packed otel_link for a SpanContext (ours or opentelemetry's), a Span, or a Link."""
    if isinstance(context, Link):
        context, attributes = context.context, context.attributes
    elif hasattr(context, "context") and not hasattr(context, "trace_id"):  # API Link
        attributes = getattr(context, "attributes", attributes)
        context = context.context
    if hasattr(context, "get_span_context"):
        context = context.get_span_context()
    try:
        tid, sid = int(context.trace_id), int(context.span_id)
        flags = int(context.trace_flags)
    except (AttributeError, TypeError, ValueError):
        return None
    if not (0 <= tid < (1 << 128) and 0 <= sid < (1 << 64)):
        return None
    ts = _api_state(context)
    tsb = ts.encode("utf-8", "surrogatepass") if ts else b""
    ap, n = 0, 0
    if attributes:
        a = _speedups.attrs(attributes, _SPANS)
        keep.append(a)
        ap, n = a.address, len(a)
    return _LINK.pack(tid.to_bytes(16, "big"), sid.to_bytes(8, "big"), flags & 0xFF,
                      1 if getattr(context, "is_remote", False) else 0,
                      _attrs.ptr_of(tsb, keep), len(tsb), ap, n)


# ---- the current span ---------------------------------------------------------------------------

# (span, the opentelemetry-api span that was current when it was made current, or None)
_current: contextvars.ContextVar[Optional[Tuple[Span, Any]]] = contextvars.ContextVar(
    "otelbridge.current_span", default=None)

_modules = sys.modules
_api_hook: Optional[Callable[[], Any]] = None   # the opentelemetry-api current span, or None
_api_span_type: Optional[type] = None          # otelbridge.api.trace.Span, once imported


def _make_api_hook() -> Optional[Callable[[], Any]]:
    """Installs the reader of opentelemetry-api's current span, once opentelemetry.trace has
    been imported (never imports it)."""
    global _api_hook
    if "opentelemetry.trace" not in _modules:
        return None
    try:
        from opentelemetry import context as api_context
        from opentelemetry.trace.propagation import _SPAN_KEY
    except Exception:  # an unusual opentelemetry-api: behave as if it were absent
        return None
    var = getattr(getattr(api_context, "_RUNTIME_CONTEXT", None), "_current_context", None)
    if isinstance(var, contextvars.ContextVar):
        get = var.get

        def hook() -> Any:
            return get().get(_SPAN_KEY)
    else:
        def hook() -> Any:
            return api_context.get_value(_SPAN_KEY)
    _api_hook = hook
    return hook


def _api_now() -> Any:
    hook = _api_hook
    if hook is None:
        hook = _make_api_hook()
        if hook is None:
            return None
    return hook()


def _innermost() -> Any:
    """The innermost current span: a native Span, an opentelemetry-api span, or None."""
    cur = _current.get()
    hook = _api_hook
    if hook is None:
        if "opentelemetry.trace" not in _modules or (hook := _make_api_hook()) is None:
            return cur[0] if cur is not None else None
    a = hook()
    if a is None or (cur is not None and cur[1] is a):
        return cur[0] if cur is not None else None
    return a


def _native_of(s: Any) -> Optional[Span]:
    """The native Span behind s (a native Span or one of otelbridge.api's), else None."""
    if type(s) is Span:
        return s
    n = getattr(s, "_otelbridge_span", None)
    return n if type(n) is Span else None


def _foreign_parent(s: Any) -> Tuple[Any, str, Any]:
    """(otel_span_parent, trace_state, keep) for an opentelemetry-api span that is not ours."""
    try:
        sc = s.get_span_context()
        tid, sid, flags = int(sc.trace_id), int(sc.span_id), int(sc.trace_flags)
    except Exception:
        return _PARENT_ROOT, "", None
    if not (0 < tid < (1 << 128) and 0 < sid < (1 << 64)):
        return _PARENT_ROOT, "", None
    ts = _api_state(sc)
    p, keep, raw = _remote_parent(tid, sid, flags, ts)
    return p, ts, (keep, raw)


def _parent_of(parent: Any) -> Tuple[Any, str, Any]:
    """(otel_span_parent *, inherited trace_state, objects to keep alive)."""
    if parent is None:
        return _PARENT_ROOT, "", None
    n = _native_of(parent)
    if n is not None:
        if n._h == 0:  # non-recording: its context (if any) is a remote-style parent
            sc = n.get_span_context()
            if not sc.is_valid:
                return _PARENT_ROOT, "", None
            p, keep, raw = _remote_parent(sc.trace_id, sc.span_id, sc.trace_flags, n._ts)
            return p, n._ts, (keep, raw)
        ps = n._parent_struct()
        if type(ps) is tuple:
            return ps[0], n._ts, ps
        return ps, n._ts, None
    if isinstance(parent, SpanContext):
        if not parent.is_valid:
            return _PARENT_ROOT, "", None
        p, keep, raw = _remote_parent(parent.trace_id, parent.span_id, parent.trace_flags,
                                      parent.trace_state)
        return p, parent.trace_state, (keep, raw)
    if hasattr(parent, "get_span_context"):
        return _foreign_parent(parent)
    if hasattr(parent, "trace_id") and hasattr(parent, "span_id"):  # an API SpanContext
        class _W:
            def get_span_context(self) -> Any:
                return parent
        return _foreign_parent(_W())
    raise TypeError(f"parent must be a Span, a SpanContext or None, not {type(parent).__name__}")


class _Current:
    pass


CURRENT: Any = _Current()  # the default parent: the current span


def get_current_span() -> Span:
    """The innermost current span (see the module docstring), as a native Span. An
    opentelemetry-api span that is not otelbridge's comes back as a non-recording Span with its
    context. With no current span: a non-recording Span with an invalid context."""
    s = _innermost()
    if s is None:
        return Span(0)
    n = _native_of(s)
    if n is not None:
        return n
    try:
        sc = s.get_span_context()
        raw = _ctx_bytes(int(sc.trace_id), int(sc.span_id), int(sc.trace_flags),
                         bool(sc.is_remote))
        return Span(0, _api_state(sc), ffi.from_buffer(_CTX_P, raw))
    except Exception:
        return Span(0)


def current_ctx_bytes_for_log() -> Optional[bytes]:
    """The 32 bytes of the innermost current span's otel_span_context, or None (for
    otelbridge._speedups' log records; never raises)."""
    s = _innermost()
    if s is None:
        return None
    n = _native_of(s)
    try:
        if n is not None:
            return bytes(ffi.buffer(n._ctx()))
        sc = s.get_span_context()
        return _ctx_bytes(int(sc.trace_id), int(sc.span_id), int(sc.trace_flags),
                          bool(sc.is_remote))
    except Exception:
        return None


def current_ids_for_log() -> Optional[Tuple[str, str, bool]]:
    """(trace id 032x, span id 016x, sampled) of the innermost current span, or None."""
    s = _innermost()
    if s is None:
        return None
    n = _native_of(s)
    if n is not None:
        ids = n._log_ids()
    else:
        try:
            sc = s.get_span_context()
            ids = (format(int(sc.trace_id), "032x"), format(int(sc.span_id), "016x"),
                   bool(int(sc.trace_flags) & 1))
        except Exception:
            return None
    return None if ids[0] == "0" * 32 else ids


class _Activation:
    """The object use_span() and start_as_current_span() return: a context manager that makes a
    span current (and, for start_as_current_span, starts it on entry), and a decorator."""

    __slots__ = ("_tracer", "_args", "_span", "_tok", "_flags")

    # _flags bits
    _REC, _SETST, _EOE = 1, 2, 4

    def __init__(self, tracer: Optional["Tracer"], args: Optional[Tuple[Any, ...]], span: Optional[Span],
                 flags: int) -> None:
        self._tracer = tracer   # None: use_span (self._span is given)
        self._args = args       # Tracer._start's arguments
        self._span = span
        self._flags = flags

    def __enter__(self) -> Span:
        t = self._tracer
        if t is not None:
            args = cast(Tuple[Any, ...], self._args)
            if _api_hook is None and args[5] is CURRENT and not args[3] and t._saddr \
                    and "opentelemetry.trace" not in _modules:
                # Tracer._start's hot path inline (one Python frame less per span): the parent
                # is the current native span or none (opentelemetry-api not imported).
                cur = _current.get()
                p = cur[0] if cur is not None else None
                if p is None:
                    r = _c_span_start(t._saddr, args[0], args[1], args[4] or 0, 1, 0, None,
                                      None, args[2])
                elif type(p) is Span and not p._ended and p._h:
                    r = _c_span_start(t._saddr, args[0], args[1], args[4] or 0, 2, p._h, None,
                                      None, args[2])
                else:
                    r = None
                if type(r) is tuple:
                    span = self._span = Span(r[0], p._ts if p is not None else "")
                    span._cb = r[1]
                    self._tok = _current.set((span, None))
                    return span
                # anything else (a foreign parent, an error status): the general path decides
            span = self._span = t._start(*args)
        else:
            span = cast(Span, self._span)
        hook = _api_hook
        if hook is None and "opentelemetry.trace" in _modules:
            hook = _make_api_hook()
        self._tok = _current.set((span, hook() if hook is not None else None))
        return span

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        try:
            _current.reset(self._tok)
        except ValueError:  # entered in another Context: leave that one alone
            pass
        span = cast(Span, self._span)
        f = self._flags
        if exc is None and f & 4 and span._cb is not None and not span._ended:
            span._ended = True  # Span.end inline: the context bytes are kept already
            _c_span_end(span._h, 0)
            return
        if exc is not None and isinstance(exc, Exception) and f & 3:
            span._on_exception(exc, bool(f & 1), bool(f & 2), False)
        if f & 4:
            span.end()

    def _fresh(self) -> "_Activation":
        return _Activation(self._tracer, self._args, self._span, self._flags)

    def __call__(self, fn: _F) -> _F:
        """Decorates fn: every call runs inside a new span (see decorate())."""
        return decorate(fn, self._fresh)


# ---- decorators ---------------------------------------------------------------------------------

def decorate(fn: _F, activation: Callable[[], Any]) -> _F:
    """Wraps fn so that every call runs inside activation() (a context manager that starts a
    span, makes it current and ends it). A coroutine function: the span covers the whole await.
    A generator or async generator function: the span starts at the first iteration and ends
    when the iteration ends (exhausted, an exception, or close()); it is current only while the
    generator's own code runs — every step runs in a Context of its own (copied at the first
    step), so the span never leaks into the consumer's code between items."""
    if inspect.isasyncgenfunction(fn):
        @functools.wraps(fn)
        async def agen_wrapper(*a: Any, **kw: Any) -> Any:
            ctx = contextvars.copy_context()
            cm = activation()
            ctx.run(cm.__enter__)
            agen = fn(*a, **kw)
            try:
                item = await _InContext(ctx, agen.asend(None))
                while True:
                    try:
                        sent = yield item
                    except GeneratorExit:
                        await _InContext(ctx, agen.aclose())
                        raise
                    except BaseException as e:
                        item = await _InContext(ctx, agen.athrow(e))
                    else:
                        item = await _InContext(ctx, agen.asend(sent))
            except StopAsyncIteration:
                ctx.run(cm.__exit__, None, None, None)
            except BaseException as e:
                ctx.run(cm.__exit__, type(e), e, e.__traceback__)
                raise
        return cast(_F, agen_wrapper)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*a: Any, **kw: Any) -> Any:
            ctx = contextvars.copy_context()
            cm = activation()
            ctx.run(cm.__enter__)
            try:
                result = yield from _drive(ctx, fn(*a, **kw))
            except BaseException as e:
                ctx.run(cm.__exit__, type(e), e, e.__traceback__)
                raise
            ctx.run(cm.__exit__, None, None, None)
            return result
        return cast(_F, gen_wrapper)

    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def async_wrapper(*a: Any, **kw: Any) -> Any:
            with activation():
                return await fn(*a, **kw)
        return cast(_F, async_wrapper)

    @functools.wraps(fn)
    def wrapper(*a: Any, **kw: Any) -> Any:
        with activation():
            return fn(*a, **kw)
    return cast(_F, wrapper)


def _drive(ctx: contextvars.Context, it: Any) -> Any:
    """Runs generator (or awaitable iterator) it to the end, every step inside ctx, forwarding
    what is sent and thrown in; returns its return value."""
    try:
        out = ctx.run(it.send, None)
        while True:
            try:
                sent = yield out
            except GeneratorExit:
                ctx.run(it.close)
                raise
            except BaseException as e:
                out = ctx.run(it.throw, e)
            else:
                out = ctx.run(it.send, sent)
    except StopIteration as e:
        return e.value


class _InContext:
    """Awaits aw with every step of it run inside ctx."""

    __slots__ = ("_ctx", "_aw")

    def __init__(self, ctx: contextvars.Context, aw: Any) -> None:
        self._ctx = ctx
        self._aw = aw

    def __await__(self) -> Any:
        return _drive(self._ctx, self._aw.__await__())


def use_span(span: Span, end_on_exit: bool = False, record_exception: bool = True,
             set_status_on_exception: bool = True) -> _Activation:
    """Makes span current for a `with` block (exceptions are recorded as the official
    opentelemetry.trace.use_span does)."""
    return _Activation(None, None, span, (1 if record_exception else 0)
                       | (2 if set_status_on_exception else 0) | (4 if end_on_exit else 0))


# ---- tracers ------------------------------------------------------------------------------------

class Tracer:
    """Starts spans in one instrumentation scope. Get one with get_tracer()."""

    __slots__ = ("name", "version", "schema_url", "attributes", "_scope", "_saddr",
                 "__weakref__")

    def __init__(self, name: str, version: Optional[str], schema_url: Optional[str],
                 attributes: Optional[Mapping[str, Any]]) -> None:
        self.name = name
        self.version = version
        self.schema_url = schema_url
        self.attributes = dict(attributes) if attributes else None
        self._scope: Any = None
        self._saddr = 0  # its address, for _speedups

    def _resolve(self) -> Any:
        scope = _attrs.scope_get(self.name, self.version, self.schema_url, self.attributes,
                                 _SPANS)
        if scope is None:
            return None  # before configure(): retried on the next span
        self._scope = scope
        self._saddr = int(ffi.cast("uintptr_t", scope))
        return scope

    def _start(self, name: str, kind: int, attributes: Optional[Mapping[str, Any]],
               links: Optional[Sequence[Any]], start_time: Optional[int],
               parent: Any) -> Span:
        if parent is CURRENT:
            cur = _current.get()
            hook = _api_hook
            if hook is None and "opentelemetry.trace" in _modules:
                hook = _make_api_hook()
            if hook is None:
                parent = cur[0] if cur is not None else None
            else:
                a = hook()
                if a is None or (cur is not None and cur[1] is a):
                    parent = cur[0] if cur is not None else None
                else:
                    parent = a
        scope = self._scope
        if not links and scope is not None:
            # The hot path: a root or a live native parent, in one call to _speedups (C), which
            # converts the attributes and returns the handle with the span's context.
            if parent is None:
                r = _c_span_start(self._saddr, name, kind, start_time or 0, 1, 0, None,
                                  None, attributes)
                ts = ""
            elif type(parent) is Span and not parent._ended and parent._h:
                r = _c_span_start(self._saddr, name, kind, start_time or 0, 2, parent._h,
                                  None, None, attributes)
                ts = parent._ts
            else:
                r = None
            if r is not None:
                if type(r) is tuple:
                    span = Span(r[0], ts)
                    span._cb = r[1]
                    return span
                if r == _OTEL_E_INVALID_HANDLE and type(parent) is Span:
                    return self._start(name, kind, attributes, links, start_time,
                                       parent.get_span_context())
                # anything else: the general path below decides (non-recording span)
        if parent is None:
            par, ts, pkeep = _PARENT_ROOT, "", None
        elif type(parent) is Span and not parent._ended:
            par = parent._par
            if par is None:
                par = parent._parent_struct()
            ts, pkeep = parent._ts, None
        else:
            par, ts, pkeep = _parent_of(parent)
        scope = self._scope
        if scope is None:
            scope = self._resolve()
            if scope is None:
                return _nonrecording(par)
        ap, na, akeep = _convert(attributes, _SPANS)
        lp, nl = _NULL, 0
        if links:
            lkeep: List[Any] = []
            packed = [p for p in (_pack_link(x, None, lkeep) for x in links) if p is not None]
            if packed:
                lraw = b"".join(packed)
                lp, nl = _from_buffer(_LINK_P, lraw), len(packed)
        cname = _name_cache.get(name)
        if cname is None:
            cname = _name(name)
        pool = _out_pool
        out = pool.pop() if pool else _new(_SPAN_P)
        st = _span_start(scope, cname, kind, start_time or 0, par, ap, na, lp, nl, out)
        h = out[0]
        pool.append(out)
        if st != 0:
            if st == _OTEL_E_INVALID_HANDLE and type(parent) is Span:
                # the parent ended between our check and the call: name it by its context
                return self._start(name, kind, attributes, links, start_time,
                                   parent.get_span_context())
            return _nonrecording(par)
        return Span(h, ts)

    def start_span(self, name: str, kind: SpanKind = SpanKind.INTERNAL,
                   attributes: Optional[Mapping[str, Any]] = None,
                   links: Optional[Sequence[Any]] = None, start_time: Optional[int] = None,
                   parent: Any = CURRENT) -> Span:
        """Starts a span (not made current). parent: the current span by default; a Span, a
        SpanContext (e.g. from extract()), an opentelemetry-api span, or None for a new trace.
        start_time in ns since the epoch (default: now). links: Link, SpanContext or Span."""
        return self._start(name, kind, attributes, links, start_time, parent)

    def start_as_current_span(self, name: str, kind: SpanKind = SpanKind.INTERNAL,
                              attributes: Optional[Mapping[str, Any]] = None,
                              links: Optional[Sequence[Any]] = None,
                              start_time: Optional[int] = None, parent: Any = CURRENT,
                              record_exception: bool = True,
                              set_status_on_exception: bool = True,
                              end_on_exit: bool = True) -> _Activation:
        """A context manager (yielding the span) and a decorator: starts a span on entry, makes
        it current, and ends it on exit. An Exception leaving the block is recorded as an
        "exception" event and sets the status to ERROR "Type: message" (as the official
        API does), then propagates."""
        return _Activation(self, (name, kind, attributes, links, start_time, parent), None,
                           (1 if record_exception else 0) | (2 if set_status_on_exception else 0)
                           | (4 if end_on_exit else 0))


def _nonrecording(par: Any) -> Span:
    """A span that is not in the library, carrying the parent's context (if any)."""
    if par is _PARENT_ROOT:
        return Span(0)
    try:
        if par.kind == 3:
            raw = bytes(ffi.buffer(ffi.addressof(par, "ctx")))
            return Span(0, "", ffi.from_buffer(_CTX_P, raw))
        if par.kind == 2:
            p = ffi.new(_CTX_P)
            if lib.otel_span_context_get(par.span, p) == 0:
                return Span(0, "", p)
    except Exception:
        pass
    return Span(0)


_tracers: Dict[Tuple[str, Optional[str]], Tracer] = {}
_tracers_lock = threading.Lock()


def get_tracer(name: str, version: Optional[str] = None, schema_url: Optional[str] = None,
               attributes: Optional[Mapping[str, Any]] = None) -> Tracer:
    """The tracer for (name, version): one instrumentation scope each, cached (the first call's
    schema_url and attributes win). May be called before otelbridge.configure()."""
    key = (name, version)
    t = _tracers.get(key)
    if t is None:
        with _tracers_lock:
            t = _tracers.get(key)
            if t is None:
                t = _tracers[key] = Tracer(name, version, schema_url, attributes)
    return t


# ---- W3C propagation ----------------------------------------------------------------------------

def _ctx_and_state(context: Any) -> Tuple[Any, str]:
    if context is None:
        context = _innermost()
        if context is None:
            return None, ""
    n = _native_of(context)
    if n is not None:
        return n._ctx(), n._ts
    if not isinstance(context, SpanContext):
        sc = context.get_span_context() if hasattr(context, "get_span_context") else context
        try:
            context = SpanContext(int(sc.trace_id), int(sc.span_id), int(sc.trace_flags),
                                  bool(sc.is_remote), _api_state(sc))
        except Exception:
            return None, ""
    raw = _ctx_bytes(context.trace_id, context.span_id, context.trace_flags, context.is_remote)
    return ffi.from_buffer(_CTX_P, raw), context.trace_state


def inject(carrier: MutableMapping[str, str], context: Any = None,
           baggage: Optional[Mapping[str, str]] = None) -> None:
    """Writes the configured propagators' headers (OTEL_PROPAGATORS: W3C traceparent/tracestate
    and baggage by default) into carrier: for context — a Span, a SpanContext, or None for the
    current span — and baggage — a mapping, or None for get_all_baggage(). No traceparent
    without a valid context; nothing at all before configure()."""
    cc, ts = _ctx_and_state(context)
    bag = get_all_baggage() if baggage is None else baggage
    if cc is None:
        if not bag:
            return
        cc = NO_CONTEXT
    keep: List[Any] = []
    tsp = _attrs.pack_str(ts, keep)
    items = [(_attrs.safe_str(k), _attrs.safe_str(v)) for k, v in bag.items()]
    bp, nb, bkeep = _convert(items, _attrs.LOGS)
    size = 1024 + 2 * tsp[1] + sum(3 * (len(k) + len(v)) + 2 for k, v in items) * 4
    buf = ffi.new("char[]", size)
    headers = ffi.new("otel_header[]", 8)
    n = ffi.new("size_t *")
    st = lib.otel_propagation_inject(_NULL, cc, (ffi.cast("char *", tsp[0]), tsp[1]), bp, nb,
                                     buf, size, headers, 8, n)
    if st != 0:
        return
    for i in range(n[0]):
        h = headers[i]
        carrier[ffi.unpack(h.name.ptr, h.name.len).decode("utf-8", "replace")] = \
            ffi.unpack(h.value.ptr, h.value.len).decode("utf-8", "replace")


def extract(carrier: Mapping[str, Any]) -> SpanContext:
    """Reads incoming headers (names case-insensitive) with the configured propagators. Returns
    the remote SpanContext to pass as `parent=`; INVALID_SPAN_CONTEXT when there is none (a span
    started under it is then a new trace). Values may be str, bytes, or a list of them."""
    return _extract(carrier, False)[0]


def extract_baggage(carrier: Mapping[str, Any]) -> Dict[str, str]:
    """The W3C baggage entries of incoming headers (percent-decoded), {} when there are none or
    the baggage propagator is not configured. Make them current with set_baggage()."""
    return _extract(carrier, True)[1]


_MAX_BAGGAGE = 180  # the W3C limit of list-members


def _extract(carrier: Mapping[str, Any], with_baggage: bool) -> Tuple[SpanContext,
                                                                      Dict[str, str]]:
    keep: List[Any] = []
    items: List[bytes] = []
    size = 0
    for k, v in carrier.items():
        if isinstance(v, (list, tuple)):
            v = ",".join(x.decode("latin-1") if isinstance(x, bytes) else str(x) for x in v)
        elif isinstance(v, bytes):
            v = v.decode("latin-1")
        elif not isinstance(v, str):
            continue
        kk = k.decode("latin-1") if isinstance(k, bytes) else str(k)
        kp = _attrs.pack_str(kk, keep)
        vp = _attrs.pack_str(v, keep)
        size += vp[1]
        items.append(struct.pack("=QQQQ", kp[0], kp[1], vp[0], vp[1]))
    if not items:
        return INVALID_SPAN_CONTEXT, {}
    raw = b"".join(items)
    headers = ffi.from_buffer("otel_header *", raw)
    ctx = ffi.new(_CTX_P)
    ts = ffi.new("otel_str *")
    buf_len = 8192 + size
    buf = ffi.new("char[]", buf_len)
    n_bag = ffi.new("size_t *")
    max_bag = _MAX_BAGGAGE if with_baggage else 0
    bag = ffi.new("otel_attr[]", max_bag) if max_bag else _NULL
    st = lib.otel_propagation_extract(_NULL, headers, len(items), ctx, ts, bag, max_bag, n_bag,
                                      buf, buf_len)
    if st != 0:
        return INVALID_SPAN_CONTEXT, {}
    entries: Dict[str, str] = {}
    for i in range(n_bag[0] if max_bag else 0):
        a = bag[i]
        entries[ffi.unpack(a.key.ptr, a.key.len).decode("utf-8", "replace")] = \
            ffi.unpack(a.value.u.str.ptr, a.value.u.str.len).decode("utf-8", "replace")
    b = bytes(ffi.buffer(ctx))
    tid, sid = int.from_bytes(b[0:16], "big"), int.from_bytes(b[16:24], "big")
    if not tid or not sid:
        return INVALID_SPAN_CONTEXT, entries
    state = ffi.unpack(ts.ptr, ts.len).decode("utf-8", "replace") if ts.len else ""
    return SpanContext(tid, sid, b[24], True, state), entries


# ---- baggage ------------------------------------------------------------------------------------
# W3C baggage lives in a ContextVar of its own (an immutable dict, replaced on every change), so
# every asyncio task and thread sees its own, as with the current span. When opentelemetry-api's
# baggage module is in use (opentelemetry.baggage imported, e.g. by the API providers or an
# instrumentation that extracted a request's baggage), its current entries are part of the
# current baggage too, under otelbridge's own (which win for the same name). set_baggage never
# writes into opentelemetry's context: API code keeps using opentelemetry.baggage.

_baggage: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "otelbridge.baggage", default={})


def get_all_baggage() -> Dict[str, str]:
    """The current baggage entries (name -> value)."""
    out: Dict[str, str] = {}
    if "opentelemetry.baggage" in _modules:
        try:
            from opentelemetry import baggage as api_baggage
            out.update({str(k): str(v) for k, v in api_baggage.get_all().items()})
        except Exception:
            pass
    out.update(_baggage.get())
    return out


def get_baggage(name: str) -> Optional[str]:
    """The current value of one baggage entry, or None."""
    return get_all_baggage().get(name)


def set_baggage(name: str, value: str) -> "contextvars.Token[Mapping[str, str]]":
    """Sets a baggage entry in the current context; returns the token for reset_baggage()."""
    if not isinstance(name, str) or not name:
        raise ValueError("a baggage name must be a non-empty str")
    new = dict(_baggage.get())
    new[name] = value if isinstance(value, str) else str(value)
    return _baggage.set(new)


def remove_baggage(name: str) -> "contextvars.Token[Mapping[str, str]]":
    """Removes an entry set by set_baggage(); returns the token for reset_baggage()."""
    new = dict(_baggage.get())
    new.pop(name, None)
    return _baggage.set(new)


def reset_baggage(token: "contextvars.Token[Mapping[str, str]]") -> None:
    """Restores the baggage as it was before the set_baggage()/remove_baggage() that returned
    token."""
    _baggage.reset(token)
