"""otb: a minimal ctypes wrapper over libotelbridge's C ABI, for tests.

The contract is include/otelbridge/otelbridge.h; the structures below mirror it field for field.
Nothing here is a product binding: it exists to drive the library from pytest with exact control
over every byte and pointer handed to it (including deliberately invalid ones).

Library location: $OTELBRIDGE_LIBRARY (a path to libotelbridge.so), else
<repo>/build/src/libotelbridge.so.

Python values map to otel_value as follows (Arena.value):
    str -> STRING (UTF-8)          bytes/bytearray -> BYTES        bool -> BOOL
    int -> INT (must fit int64)    float -> DOUBLE                 list/tuple -> ARRAY
    dict / Map -> MAP              Str(raw) -> STRING with raw bytes (may be invalid UTF-8)
    EMPTY -> OTEL_VALUE_EMPTY      RawValue(...) -> any type tag / pointer / length, unchecked
"""

from __future__ import annotations

import ctypes
import os
from ctypes import (
    POINTER,
    Structure,
    Union,
    byref,
    c_char_p,
    c_double,
    c_int32,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path

# ---- status codes (header: "Status codes") ----------------------------------------------------
OTEL_OK = 0
OTEL_E_INVALID_ARG = -1
OTEL_E_UNKNOWN_KEY = -2
OTEL_E_INVALID_CONFIG = -3
OTEL_E_NO_MEMORY = -4
OTEL_E_QUEUE_FULL = -5
OTEL_E_TOO_LARGE = -6
OTEL_E_SHUTDOWN = -7
OTEL_E_TIMEOUT = -8
OTEL_E_NOT_INITIALIZED = -9
OTEL_E_ALREADY_INITIALIZED = -10
OTEL_E_INTERNAL = -11
OTEL_E_UNSUPPORTED = -12
OTEL_E_INVALID_HANDLE = -13

STATUS_NAMES = {v: k for k, v in dict(globals()).items() if k.startswith("OTEL_E_") or k == "OTEL_OK"}

# ---- value types ------------------------------------------------------------------------------
OTEL_VALUE_EMPTY = 0
OTEL_VALUE_STRING = 1
OTEL_VALUE_BOOL = 2
OTEL_VALUE_INT = 3
OTEL_VALUE_DOUBLE = 4
OTEL_VALUE_BYTES = 5
OTEL_VALUE_ARRAY = 6
OTEL_VALUE_MAP = 7
OTEL_MAX_VALUE_DEPTH = 16

# ---- signals and statistics -------------------------------------------------------------------
OTEL_SIGNAL_LOGS = 0
OTEL_SIGNAL_TRACES = 1
OTEL_SIGNAL_METRICS = 2

OTEL_STAT_QUEUED = 0
OTEL_STAT_QUEUED_BYTES = 1
OTEL_STAT_QUEUE_CAPACITY = 2
OTEL_STAT_QUEUE_CAPACITY_BYTES = 3
OTEL_STAT_ACCEPTED = 4
OTEL_STAT_EXPORTED = 5
OTEL_STAT_DROPPED_QUEUE_FULL = 6
OTEL_STAT_DROPPED_OLDEST = 7
OTEL_STAT_DROPPED_TOO_LARGE = 8
OTEL_STAT_DROPPED_SHUTDOWN = 9
OTEL_STAT_FAILED = 10
OTEL_STAT_REJECTED = 11
OTEL_STAT_INVALID = 12
OTEL_STAT_EXPORT_BATCHES = 13
OTEL_STAT_IN_FLIGHT = 14
OTEL_STAT_COUNT = 15

STAT_NAMES = [
    "queued", "queued_bytes", "queue_capacity", "queue_capacity_bytes", "accepted", "exported",
    "dropped_queue_full", "dropped_oldest", "dropped_too_large", "dropped_shutdown", "failed",
    "rejected", "invalid", "export_batches", "in_flight",
]
assert len(STAT_NAMES) == OTEL_STAT_COUNT

OTEL_SEVERITY_MAX = 24

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1


def status_name(code: int) -> str:
    return STATUS_NAMES.get(code, f"<unknown status {code}>")


# ---- frozen value types -----------------------------------------------------------------------
class OtelStr(Structure):
    _fields_ = [("ptr", c_void_p), ("len", c_size_t)]


class OtelValue(Structure):
    pass


class OtelAttr(Structure):
    pass


class OtelValueArray(Structure):
    _fields_ = [("items", POINTER(OtelValue)), ("len", c_size_t)]


class OtelAttrArray(Structure):
    _fields_ = [("items", POINTER(OtelAttr)), ("len", c_size_t)]


class _OtelValueUnion(Union):
    _fields_ = [
        ("str", OtelStr),
        ("bytes", OtelStr),
        ("boolean", c_int32),
        ("i64", c_int64),
        ("f64", c_double),
        ("array", OtelValueArray),
        ("map", OtelAttrArray),
    ]


OtelValue._fields_ = [("type", c_int32), ("reserved_", c_int32), ("u", _OtelValueUnion)]
OtelAttr._fields_ = [("key", OtelStr), ("value", OtelValue)]


class OtelSpanContext(Structure):
    _fields_ = [
        ("trace_id", c_uint8 * 16),
        ("span_id", c_uint8 * 8),
        ("trace_flags", c_uint8),
        ("is_remote", c_uint8),
        ("reserved_", c_uint8 * 6),
    ]


class OtelHeader(Structure):
    _fields_ = [("name", OtelStr), ("value", OtelStr)]


# The header's layout guards (LP64): these sizes are frozen.
FROZEN_SIZES = {OtelStr: 16, OtelValue: 24, OtelAttr: 40, OtelSpanContext: 32, OtelHeader: 32}
if ctypes.sizeof(c_void_p) == 8:
    for _t, _size in FROZEN_SIZES.items():
        if ctypes.sizeof(_t) != _size:
            raise ImportError(
                f"otb: sizeof({_t.__name__}) is {ctypes.sizeof(_t)}, the header freezes it at {_size}"
            )
    # Offsets the header implies: the union starts at 8 in otel_value; the value at 16 in otel_attr.
    if OtelValue.u.offset != 8 or OtelAttr.value.offset != 16 or OtelSpanContext.trace_flags.offset != 24:
        raise ImportError("otb: struct field offsets differ from otelbridge.h")


# ---- Python-side value markers ----------------------------------------------------------------
class _Empty:
    def __repr__(self):
        return "EMPTY"


EMPTY = _Empty()  # OTEL_VALUE_EMPTY


class _NoBody:
    def __repr__(self):
        return "NO_BODY"


NO_BODY = _NoBody()  # body pointer NULL


class Str:
    """A STRING value (or key / view) given as raw bytes, which need not be valid UTF-8."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes):
        self.raw = bytes(raw)

    def __repr__(self):
        return f"Str({self.raw!r})"


class RawStr:
    """An otel_str view with an explicit pointer (None = NULL, or bytes to point at) and length."""

    __slots__ = ("data", "length")

    def __init__(self, data: bytes | None, length: int):
        self.data = data
        self.length = length

    def __repr__(self):
        return f"RawStr({self.data!r}, {self.length})"


class RawValue:
    """An otel_value with an arbitrary type tag. ptr/length fill the union's {ptr, len} pair
    (str/bytes/array/map share that layout); boolean fills u.boolean. Nothing is checked."""

    __slots__ = ("type", "ptr", "length", "boolean")

    def __init__(self, type: int, ptr=None, length: int = 0, boolean: int | None = None):
        self.type = type
        self.ptr = ptr
        self.length = length
        self.boolean = boolean

    def __repr__(self):
        return f"RawValue(type={self.type}, ptr={self.ptr!r}, length={self.length}, boolean={self.boolean})"


class Map:
    """An ordered MAP value given as (key, value) pairs (duplicates allowed)."""

    __slots__ = ("pairs",)

    def __init__(self, pairs):
        self.pairs = list(pairs.items()) if isinstance(pairs, dict) else list(pairs)

    def __repr__(self):
        return f"Map({self.pairs!r})"


class RawAttrs:
    """An (attrs pointer, n_attrs) pair given explicitly, e.g. RawAttrs(None, 3)."""

    __slots__ = ("ptr", "n")

    def __init__(self, ptr, n: int):
        self.ptr = ptr
        self.n = n


def nested_array(depth: int, leaf=1):
    """`depth` levels of ARRAY around `leaf` (depth 1 = [leaf])."""
    v = leaf
    for _ in range(depth):
        v = [v]
    return v


def nested_map(depth: int, leaf=1):
    """`depth` levels of MAP around `leaf` (depth 1 = {"d1": leaf})."""
    v = leaf
    for i in range(depth, 0, -1):
        v = Map([(f"d{i}", v)])
    return v


class Arena:
    """Builds C structures from Python objects and keeps every buffer alive while it exists.
    Keep the Arena referenced until the C call that uses its structures has returned."""

    def __init__(self):
        self._keep: list = []

    def _buffer(self, raw: bytes) -> int:
        buf = ctypes.create_string_buffer(raw, max(len(raw), 1))
        self._keep.append(buf)
        return ctypes.addressof(buf)

    def str(self, s) -> OtelStr:
        """A view of s: str (UTF-8), bytes, Str, RawStr, or None (= NULL, 0)."""
        if s is None:
            return OtelStr(None, 0)
        if isinstance(s, RawStr):
            ptr = None if s.data is None else self._buffer(s.data)
            return OtelStr(ptr, s.length)
        if isinstance(s, Str):
            raw = s.raw
        elif isinstance(s, str):
            raw = s.encode("utf-8")
        elif isinstance(s, (bytes, bytearray)):
            raw = bytes(s)
        else:
            raise TypeError(f"cannot make an otel_str from {type(s).__name__}")
        # Non-NULL pointer even for the empty string (NULL, 0 is tested explicitly via RawStr).
        return OtelStr(self._buffer(raw), len(raw))

    def fill(self, v: OtelValue, obj) -> None:
        v.reserved_ = 0
        if obj is EMPTY:
            v.type = OTEL_VALUE_EMPTY
        elif isinstance(obj, RawValue):
            v.type = obj.type
            if obj.boolean is not None:
                v.u.boolean = obj.boolean
            else:
                ptr = obj.ptr
                if isinstance(ptr, (bytes, bytearray)):
                    ptr = self._buffer(bytes(ptr))
                v.u.str.ptr = ptr
                v.u.str.len = obj.length
        elif isinstance(obj, (str, Str, RawStr)):
            v.type = OTEL_VALUE_STRING
            v.u.str = self.str(obj)
        elif isinstance(obj, (bytes, bytearray)):
            v.type = OTEL_VALUE_BYTES
            v.u.bytes = self.str(bytes(obj))
        elif isinstance(obj, bool):  # before int: bool is an int subclass
            v.type = OTEL_VALUE_BOOL
            v.u.boolean = 1 if obj else 0
        elif isinstance(obj, int):
            if not INT64_MIN <= obj <= INT64_MAX:
                raise OverflowError(f"{obj} does not fit an int64")
            v.type = OTEL_VALUE_INT
            v.u.i64 = obj
        elif isinstance(obj, float):
            v.type = OTEL_VALUE_DOUBLE
            v.u.f64 = obj
        elif isinstance(obj, (list, tuple)):
            v.type = OTEL_VALUE_ARRAY
            n = len(obj)
            if n:
                arr = (OtelValue * n)()
                self._keep.append(arr)
                for i, item in enumerate(obj):
                    self.fill(arr[i], item)
                v.u.array.items = ctypes.cast(arr, POINTER(OtelValue))
            else:
                v.u.array.items = None
            v.u.array.len = n
        elif isinstance(obj, (dict, Map)):
            v.type = OTEL_VALUE_MAP
            ptr, n = self.attrs(obj.pairs if isinstance(obj, Map) else obj)
            v.u.map.items = ptr
            v.u.map.len = n
        else:
            raise TypeError(f"cannot make an otel_value from {type(obj).__name__}")

    def value(self, obj) -> OtelValue:
        v = OtelValue()
        self._keep.append(v)
        self.fill(v, obj)
        return v

    def attrs(self, attrs):
        """(POINTER(OtelAttr) or None, n) from a dict, a list of (key, value) pairs, a Map,
        a RawAttrs, or None."""
        if attrs is None:
            return None, 0
        if isinstance(attrs, RawAttrs):
            return attrs.ptr, attrs.n
        pairs = attrs.pairs if isinstance(attrs, Map) else (
            list(attrs.items()) if isinstance(attrs, dict) else list(attrs))
        n = len(pairs)
        if n == 0:
            return None, 0
        arr = (OtelAttr * n)()
        self._keep.append(arr)
        for i, (k, val) in enumerate(pairs):
            arr[i].key = self.str(k)
            self.fill(arr[i].value, val)
        return ctypes.cast(arr, POINTER(OtelAttr)), n

    def span_context(self, trace_id: bytes, span_id: bytes, trace_flags: int = 0,
                     is_remote: int = 0) -> OtelSpanContext:
        if len(trace_id) != 16 or len(span_id) != 8:
            raise ValueError("trace_id must be 16 bytes and span_id 8")
        ctx = OtelSpanContext()
        ctx.trace_id[:] = list(trace_id)
        ctx.span_id[:] = list(span_id)
        ctx.trace_flags = trace_flags
        ctx.is_remote = is_remote
        self._keep.append(ctx)
        return ctx


# ---- library loading --------------------------------------------------------------------------
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LIBRARY = REPO_ROOT / "build" / "src" / "libotelbridge.so"


def library_path() -> Path:
    env = os.environ.get("OTELBRIDGE_LIBRARY")
    return Path(env) if env else DEFAULT_LIBRARY


def _declare(lib: ctypes.CDLL) -> None:
    P = POINTER
    sigs = {
        "otel_version": (c_char_p, []),
        "otel_status_str": (c_char_p, [c_int32]),
        "otel_config_new": (c_int32, [P(c_void_p)]),
        "otel_config_free": (None, [c_void_p]),
        "otel_config_set": (c_int32, [c_void_p, OtelStr, OtelStr, c_void_p, c_size_t]),
        "otel_config_add_resource_attrs": (c_int32, [c_void_p, P(OtelAttr), c_size_t, c_void_p, c_size_t]),
        "otel_config_set_sdk_language": (c_int32, [c_void_p, OtelStr]),
        "otel_global": (c_void_p, []),
        "otel_engine_new": (c_int32, [c_void_p, P(c_void_p), c_void_p, c_size_t]),
        "otel_engine_flush": (c_int32, [c_void_p, c_uint32]),
        "otel_engine_shutdown": (c_int32, [c_void_p, c_uint32]),
        "otel_engine_free": (c_int32, [c_void_p]),
        "otel_engine_stats": (c_int32, [c_void_p, c_int32, P(c_uint64), c_size_t]),
        "otel_engine_is_disabled": (c_int32, [c_void_p]),
        "otel_scope_get": (c_int32, [c_void_p, OtelStr, OtelStr, OtelStr, P(OtelAttr), c_size_t, P(c_void_p)]),
        "otel_log_emit": (c_int32, [c_void_p, c_uint64, c_uint64, c_int32, OtelStr, P(OtelValue),
                                    P(OtelAttr), c_size_t, OtelStr, P(OtelSpanContext)]),
        "otel_propagation_inject": (c_int32, [c_void_p, P(OtelSpanContext), OtelStr, P(OtelAttr),
                                              c_size_t, c_void_p, c_size_t, P(OtelHeader), c_size_t,
                                              P(c_size_t)]),
        "otel_propagation_extract": (c_int32, [c_void_p, P(OtelHeader), c_size_t, P(OtelSpanContext),
                                               P(OtelStr), P(OtelAttr), c_size_t, P(c_size_t),
                                               c_void_p, c_size_t]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)  # AttributeError names the missing export
        fn.restype = restype
        fn.argtypes = argtypes


class ErrBuf:
    """A caller-owned error buffer (err, err_len)."""

    def __init__(self, size: int = 512):
        self.size = size
        self.buf = ctypes.create_string_buffer(size)

    @property
    def message(self) -> str:
        return self.buf.value.decode("utf-8", "replace")


class Lib:
    """The loaded library with typed entry points and thin Pythonic helpers."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path else library_path()
        self.dll = ctypes.CDLL(str(self.path))
        _declare(self.dll)

    # -- version / status
    def version(self) -> str:
        return self.dll.otel_version().decode()

    def status_str(self, code: int) -> str:
        return self.dll.otel_status_str(code).decode()

    # -- config
    def config_new(self) -> int:
        out = c_void_p()
        st = self.dll.otel_config_new(byref(out))
        if st != OTEL_OK or not out.value:
            raise RuntimeError(f"otel_config_new: {status_name(st)}")
        return out.value

    def config_free(self, cfg) -> None:
        self.dll.otel_config_free(cfg)

    def config_set(self, cfg, key, value) -> tuple[int, str]:
        """Returns (status, error message). key/value: anything Arena.str accepts."""
        a = Arena()
        err = ErrBuf()
        st = self.dll.otel_config_set(cfg, a.str(key), a.str(value), err.buf, err.size)
        return st, err.message

    def config_add_resource_attrs(self, cfg, attrs) -> tuple[int, str]:
        a = Arena()
        err = ErrBuf()
        ptr, n = a.attrs(attrs)
        st = self.dll.otel_config_add_resource_attrs(cfg, ptr, n, err.buf, err.size)
        return st, err.message

    def config_set_sdk_language(self, cfg, language) -> int:
        a = Arena()
        return self.dll.otel_config_set_sdk_language(cfg, a.str(language))

    # -- engines
    def engine_new(self, cfg) -> tuple[int, int | None, str]:
        out = c_void_p()
        err = ErrBuf()
        st = self.dll.otel_engine_new(cfg, byref(out), err.buf, err.size)
        return st, out.value, err.message

    def engine_flush(self, engine, timeout_ms: int) -> int:
        return self.dll.otel_engine_flush(_handle(engine), timeout_ms)

    def engine_shutdown(self, engine, timeout_ms: int) -> int:
        return self.dll.otel_engine_shutdown(_handle(engine), timeout_ms)

    def engine_free(self, engine) -> int:
        return self.dll.otel_engine_free(_handle(engine))

    def engine_stats(self, engine, signal: int = OTEL_SIGNAL_LOGS, n: int = OTEL_STAT_COUNT,
                     fill: int = 0) -> tuple[int, list[int]]:
        out = (c_uint64 * n)(*([fill] * n))
        st = self.dll.otel_engine_stats(_handle(engine), signal, out, n)
        return st, list(out)

    def engine_is_disabled(self, engine) -> int:
        return self.dll.otel_engine_is_disabled(_handle(engine))

    # -- scopes and logs
    def scope_get(self, engine, name, version="", schema_url="", attrs=None) -> tuple[int, int | None]:
        a = Arena()
        ptr, n = a.attrs(attrs)
        out = c_void_p()
        st = self.dll.otel_scope_get(_handle(engine), a.str(name), a.str(version), a.str(schema_url),
                                     ptr, n, byref(out))
        return st, out.value

    def log_emit(self, scope, time_unix_nano: int = 0, observed_unix_nano: int = 0,
                 severity_number: int = 0, severity_text="", body=NO_BODY, attrs=None,
                 event_name="", ctx=None) -> int:
        """scope may be None (NULL) on purpose. ctx: None, an OtelSpanContext, or a dict with
        trace_id, span_id, trace_flags, is_remote."""
        a = Arena()
        body_ptr = None if body is NO_BODY else byref(a.value(body))
        attrs_ptr, n = a.attrs(attrs)
        if isinstance(ctx, dict):
            ctx = a.span_context(**ctx)
        ctx_ptr = None if ctx is None else byref(ctx)
        st = self.dll.otel_log_emit(scope, time_unix_nano, observed_unix_nano, severity_number,
                                    a.str(severity_text), body_ptr, attrs_ptr, n, a.str(event_name),
                                    ctx_ptr)
        del a  # kept alive until here, after the call returned
        return st


    # -- propagation
    def propagation_inject(self, engine, ctx=None, trace_state="", baggage=None,
                           buf_len: int = 65536, max_headers: int = 8):
        """Returns (status, [(name bytes, value bytes)]). ctx: None (= the thread's current
        context), an OtelSpanContext or a dict for Arena.span_context. baggage: (key, value) pairs
        or a dict; values are strings (anything Arena.fill accepts, to test the others)."""
        a = Arena()
        if isinstance(ctx, dict):
            ctx = a.span_context(**ctx)
        ctx_ptr = None if ctx is None else byref(ctx)
        bag_ptr, n_bag = a.attrs(baggage)
        buf = ctypes.create_string_buffer(max(buf_len, 1))
        headers = (OtelHeader * max(max_headers, 1))()
        n = c_size_t(12345)
        st = self.dll.otel_propagation_inject(_handle(engine), ctx_ptr, a.str(trace_state), bag_ptr,
                                              n_bag, buf if buf_len else None, buf_len,
                                              headers if max_headers else None, max_headers,
                                              byref(n))
        out = [(_view_bytes(h.name), _view_bytes(h.value)) for h in headers[:n.value]] \
            if st == OTEL_OK else []
        del a
        return st, out

    def propagation_extract(self, engine, headers, buf_len: int = 65536, max_baggage: int = 256):
        """headers: (name, value) pairs (str or bytes). Returns (status, OtelSpanContext,
        trace_state bytes, [(key bytes, value bytes)])."""
        a = Arena()
        n_h = len(headers)
        harr = (OtelHeader * max(n_h, 1))()
        for i, (k, v) in enumerate(headers):
            harr[i].name = a.str(k)
            harr[i].value = a.str(v)
        ctx = OtelSpanContext()
        ts = OtelStr()
        bag = (OtelAttr * max(max_baggage, 1))()
        n_bag = c_size_t(12345)
        buf = ctypes.create_string_buffer(max(buf_len, 1))
        st = self.dll.otel_propagation_extract(_handle(engine), harr if n_h else None, n_h,
                                               byref(ctx), byref(ts),
                                               bag if max_baggage else None, max_baggage,
                                               byref(n_bag), buf if buf_len else None, buf_len)
        entries = []
        if st == OTEL_OK:
            for i in range(n_bag.value):
                if bag[i].value.type != OTEL_VALUE_STRING:
                    raise AssertionError(f"baggage entry {i} has type {bag[i].value.type}")
                entries.append((_view_bytes(bag[i].key), _view_bytes(bag[i].value.u.str)))
        state = _view_bytes(ts) if st == OTEL_OK else b""
        del a
        return st, ctx, state, entries


def _view_bytes(s: OtelStr) -> bytes:
    return ctypes.string_at(s.ptr, s.len) if s.len else b""


def _handle(h):
    # Every engine function treats NULL as "the global engine"; tests never mean that by accident.
    if not h:
        raise ValueError("engine handle is NULL (would address the global engine)")
    return h


_LIB: Lib | None = None


def load() -> Lib:
    """The library, loaded once per process."""
    global _LIB
    if _LIB is None:
        _LIB = Lib()
    return _LIB


# ==== Traces and context (header: "Traces", "Context") =========================================
# Appended for tests/python/test_traces_*.py. Declared lazily (Lib._tdll), so nothing above changes.

OTEL_E_CHECK_FAILED = -14
STATUS_NAMES.setdefault(OTEL_E_CHECK_FAILED, "OTEL_E_CHECK_FAILED")

OTEL_SPAN_KIND_UNSPECIFIED = 0
OTEL_SPAN_KIND_INTERNAL = 1
OTEL_SPAN_KIND_SERVER = 2
OTEL_SPAN_KIND_CLIENT = 3
OTEL_SPAN_KIND_PRODUCER = 4
OTEL_SPAN_KIND_CONSUMER = 5

OTEL_STATUS_UNSET = 0
OTEL_STATUS_OK = 1
OTEL_STATUS_ERROR = 2

OTEL_PARENT_CURRENT = 0
OTEL_PARENT_ROOT = 1
OTEL_PARENT_SPAN = 2
OTEL_PARENT_REMOTE = 3


class OtelSpanParent(Structure):
    _fields_ = [
        ("kind", c_int32),
        ("reserved_", c_int32),
        ("span", c_uint64),
        ("ctx", OtelSpanContext),
        ("trace_state", OtelStr),
    ]


class OtelLink(Structure):
    _fields_ = [
        ("ctx", OtelSpanContext),
        ("trace_state", OtelStr),
        ("attrs", POINTER(OtelAttr)),
        ("n_attrs", c_size_t),
    ]


FROZEN_SIZES.update({OtelSpanParent: 64, OtelLink: 64})
if ctypes.sizeof(c_void_p) == 8:
    for _t in (OtelSpanParent, OtelLink):
        if ctypes.sizeof(_t) != 64:
            raise ImportError(f"otb: sizeof({_t.__name__}) is {ctypes.sizeof(_t)}, the header freezes it at 64")
    if OtelSpanParent.span.offset != 8 or OtelSpanParent.ctx.offset != 16 or OtelSpanParent.trace_state.offset != 48:
        raise ImportError("otb: otel_span_parent field offsets differ from otelbridge.h")


class Parent:
    """A span parent for Lib.span_start. Use the constructors: Parent.current(), Parent.root(),
    Parent.span(handle), Parent.remote(trace_id, span_id, trace_flags, trace_state), or
    Parent.raw(kind, ...) for an arbitrary (possibly invalid) kind."""

    __slots__ = ("kind", "span_handle", "ctx", "trace_state")

    def __init__(self, kind: int, span_handle: int = 0, ctx: dict | None = None, trace_state=None):
        self.kind = kind
        self.span_handle = span_handle
        self.ctx = ctx
        self.trace_state = trace_state

    @classmethod
    def current(cls):
        return cls(OTEL_PARENT_CURRENT)

    @classmethod
    def root(cls):
        return cls(OTEL_PARENT_ROOT)

    @classmethod
    def span(cls, handle: int):
        return cls(OTEL_PARENT_SPAN, span_handle=handle)

    @classmethod
    def remote(cls, trace_id: bytes, span_id: bytes, trace_flags: int = 1, trace_state=None,
               is_remote: int = 1):
        return cls(OTEL_PARENT_REMOTE, ctx=dict(trace_id=trace_id, span_id=span_id,
                                                trace_flags=trace_flags, is_remote=is_remote),
                   trace_state=trace_state)

    @classmethod
    def raw(cls, kind: int, span_handle: int = 0, ctx: dict | None = None, trace_state=None):
        return cls(kind, span_handle, ctx, trace_state)

    def __repr__(self):
        return f"Parent(kind={self.kind}, span={self.span_handle:#x}, ctx={self.ctx}, ts={self.trace_state!r})"


class Link:
    """A link for Lib.span_start / Lib.span_add_link."""

    __slots__ = ("trace_id", "span_id", "trace_flags", "is_remote", "trace_state", "attrs")

    def __init__(self, trace_id: bytes, span_id: bytes, trace_flags: int = 0, is_remote: int = 0,
                 trace_state=None, attrs=None):
        self.trace_id = trace_id
        self.span_id = span_id
        self.trace_flags = trace_flags
        self.is_remote = is_remote
        self.trace_state = trace_state
        self.attrs = attrs

    def __repr__(self):
        return (f"Link({self.trace_id.hex()}, {self.span_id.hex()}, flags={self.trace_flags}, "
                f"remote={self.is_remote}, ts={self.trace_state!r}, attrs={self.attrs!r})")


def _arena_parent(a: Arena, p: Parent) -> OtelSpanParent:
    sp = OtelSpanParent()
    a._keep.append(sp)
    sp.kind = p.kind
    sp.reserved_ = 0
    sp.span = p.span_handle
    if p.ctx is not None:
        c = p.ctx
        sp.ctx.trace_id[:] = list(c["trace_id"])
        sp.ctx.span_id[:] = list(c["span_id"])
        sp.ctx.trace_flags = c.get("trace_flags", 0)
        sp.ctx.is_remote = c.get("is_remote", 0)
    sp.trace_state = a.str(p.trace_state)
    return sp


def _arena_link(a: Arena, l: Link, into: OtelLink) -> None:
    into.ctx.trace_id[:] = list(l.trace_id)
    into.ctx.span_id[:] = list(l.span_id)
    into.ctx.trace_flags = l.trace_flags
    into.ctx.is_remote = l.is_remote
    into.trace_state = a.str(l.trace_state)
    into.attrs, into.n_attrs = a.attrs(l.attrs)


def _arena_links(a: Arena, links):
    """(POINTER(OtelLink) or None, n) from a list of Link, or RawAttrs-like (ptr, n) via RawLinks."""
    if links is None:
        return None, 0
    if isinstance(links, RawLinks):
        return links.ptr, links.n
    n = len(links)
    if n == 0:
        return None, 0
    arr = (OtelLink * n)()
    a._keep.append(arr)
    for i, l in enumerate(links):
        _arena_link(a, l, arr[i])
    return ctypes.cast(arr, POINTER(OtelLink)), n


class RawLinks:
    """A (links pointer, n_links) pair given explicitly, e.g. RawLinks(None, 2)."""

    __slots__ = ("ptr", "n")

    def __init__(self, ptr, n: int):
        self.ptr = ptr
        self.n = n


def span_context_dict(ctx: OtelSpanContext) -> dict:
    return dict(trace_id=bytes(ctx.trace_id), span_id=bytes(ctx.span_id),
                trace_flags=ctx.trace_flags, is_remote=ctx.is_remote)


def _declare_traces(dll: ctypes.CDLL) -> None:
    P = POINTER
    sigs = {
        "otel_span_start": (c_int32, [c_void_p, OtelStr, c_int32, c_uint64, P(OtelSpanParent),
                                      P(OtelAttr), c_size_t, P(OtelLink), c_size_t, P(c_uint64)]),
        "otel_span_set_attrs": (c_int32, [c_uint64, P(OtelAttr), c_size_t]),
        "otel_span_add_event": (c_int32, [c_uint64, OtelStr, c_uint64, P(OtelAttr), c_size_t]),
        "otel_span_add_link": (c_int32, [c_uint64, P(OtelLink)]),
        "otel_span_set_status": (c_int32, [c_uint64, c_int32, OtelStr]),
        "otel_span_update_name": (c_int32, [c_uint64, OtelStr]),
        "otel_span_record_exception": (c_int32, [c_uint64, OtelStr, OtelStr, OtelStr, P(OtelAttr),
                                                 c_size_t, c_uint64]),
        "otel_span_end": (c_int32, [c_uint64, c_uint64]),
        "otel_span_context_get": (c_int32, [c_uint64, P(OtelSpanContext)]),
        "otel_span_is_recording": (c_int32, [c_uint64]),
        "otel_context_attach": (c_int32, [c_uint64, P(c_uint64)]),
        "otel_context_attach_remote": (c_int32, [P(OtelSpanContext), OtelStr, P(c_uint64)]),
        "otel_context_restore": (c_int32, [c_uint64]),
        "otel_context_current": (c_int32, [P(OtelSpanContext), P(c_uint64)]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(dll, name)  # AttributeError names the missing export
        fn.restype = restype
        fn.argtypes = argtypes


class _TraceMethods:
    """Span and context entry points, attached to Lib below. Statuses are returned as they are;
    nothing raises on a negative status."""

    def _tdll(self) -> ctypes.CDLL:
        if not getattr(self, "_traces_declared", False):
            _declare_traces(self.dll)
            self._traces_declared = True
        return self.dll

    def span_start(self, scope, name, kind: int = OTEL_SPAN_KIND_INTERNAL, start_unix_nano: int = 0,
                   parent: Parent | None = None, attrs=None, links=None,
                   null_out: bool = False) -> tuple[int, int]:
        """(status, handle). parent None = NULL (the current context). null_out passes out=NULL."""
        dll = self._tdll()
        a = Arena()
        pptr = None if parent is None else byref(_arena_parent(a, parent))
        aptr, n = a.attrs(attrs)
        lptr, nl = _arena_links(a, links)
        out = c_uint64(0)
        st = dll.otel_span_start(scope, a.str(name), kind, start_unix_nano, pptr, aptr, n, lptr, nl,
                                 None if null_out else byref(out))
        del a
        return st, out.value

    def span_set_attrs(self, span: int, attrs) -> int:
        dll = self._tdll()
        a = Arena()
        ptr, n = a.attrs(attrs)
        return dll.otel_span_set_attrs(span, ptr, n)

    def span_add_event(self, span: int, name, time_unix_nano: int = 0, attrs=None) -> int:
        dll = self._tdll()
        a = Arena()
        ptr, n = a.attrs(attrs)
        return dll.otel_span_add_event(span, a.str(name), time_unix_nano, ptr, n)

    def span_add_link(self, span: int, link: Link | None) -> int:
        dll = self._tdll()
        a = Arena()
        if link is None:
            return dll.otel_span_add_link(span, None)
        l = OtelLink()
        a._keep.append(l)
        _arena_link(a, link, l)
        return dll.otel_span_add_link(span, byref(l))

    def span_set_status(self, span: int, code: int, description="") -> int:
        dll = self._tdll()
        a = Arena()
        return dll.otel_span_set_status(span, code, a.str(description))

    def span_update_name(self, span: int, name) -> int:
        dll = self._tdll()
        a = Arena()
        return dll.otel_span_update_name(span, a.str(name))

    def span_record_exception(self, span: int, type="", message="", stacktrace="", attrs=None,
                              time_unix_nano: int = 0) -> int:
        dll = self._tdll()
        a = Arena()
        ptr, n = a.attrs(attrs)
        return dll.otel_span_record_exception(span, a.str(type), a.str(message), a.str(stacktrace),
                                              ptr, n, time_unix_nano)

    def span_end(self, span: int, end_unix_nano: int = 0) -> int:
        return self._tdll().otel_span_end(span, end_unix_nano)

    def span_context_get(self, span: int, null_out: bool = False) -> tuple[int, dict | None]:
        """(status, {trace_id, span_id, trace_flags, is_remote}); the dict is None on error."""
        dll = self._tdll()
        ctx = OtelSpanContext()
        st = dll.otel_span_context_get(span, None if null_out else byref(ctx))
        return st, (span_context_dict(ctx) if st == OTEL_OK and not null_out else None)

    def span_is_recording(self, span: int) -> int:
        return self._tdll().otel_span_is_recording(span)

    def context_attach(self, span: int, null_token: bool = False) -> tuple[int, int]:
        dll = self._tdll()
        tok = c_uint64(0)
        st = dll.otel_context_attach(span, None if null_token else byref(tok))
        return st, tok.value

    def context_attach_remote(self, trace_id: bytes, span_id: bytes, trace_flags: int = 1,
                              trace_state=None, is_remote: int = 0) -> tuple[int, int]:
        dll = self._tdll()
        a = Arena()
        ctx = a.span_context(trace_id, span_id, trace_flags, is_remote)
        tok = c_uint64(0)
        st = dll.otel_context_attach_remote(byref(ctx), a.str(trace_state), byref(tok))
        return st, tok.value

    def context_restore(self, token: int) -> int:
        return self._tdll().otel_context_restore(token)

    def context_current(self) -> tuple[int, dict, int]:
        """(status, context dict, span handle)."""
        dll = self._tdll()
        ctx = OtelSpanContext()
        span = c_uint64(0)
        st = dll.otel_context_current(byref(ctx), byref(span))
        return st, span_context_dict(ctx), span.value


for _name, _fn in list(_TraceMethods.__dict__.items()):
    if not _name.startswith("__") and not hasattr(Lib, _name):
        setattr(Lib, _name, _fn)
del _name, _fn


# ==== Metrics (header: "Metrics") ==============================================================
# Appended for tests/python/test_metrics_*.py. Declared lazily (Lib._mdll), so nothing above changes.

OTEL_INSTRUMENT_COUNTER = 1
OTEL_INSTRUMENT_UP_DOWN_COUNTER = 2
OTEL_INSTRUMENT_HISTOGRAM = 3
OTEL_INSTRUMENT_GAUGE = 4
OTEL_INSTRUMENT_OBSERVABLE_COUNTER = 5
OTEL_INSTRUMENT_OBSERVABLE_UP_DOWN_COUNTER = 6
OTEL_INSTRUMENT_OBSERVABLE_GAUGE = 7

OTEL_NUMBER_INT = 1
OTEL_NUMBER_DOUBLE = 2

# typedef void (*otel_observe_fn)(otel_observer *observer, void *user_data);
OTEL_OBSERVE_FN = ctypes.CFUNCTYPE(None, c_void_p, c_void_p)


class RawBounds:
    """An (advisory_boundaries pointer, n_boundaries) pair given explicitly, e.g. RawBounds(None, 2)."""

    __slots__ = ("ptr", "n")

    def __init__(self, ptr, n: int):
        self.ptr = ptr
        self.n = n


def _declare_metrics(dll: ctypes.CDLL) -> None:
    P = POINTER
    sigs = {
        "otel_instrument_create": (c_int32, [c_void_p, c_int32, c_int32, OtelStr, OtelStr, OtelStr,
                                             P(c_double), c_size_t, OTEL_OBSERVE_FN, c_void_p,
                                             P(c_void_p)]),
        "otel_metric_record_i64": (c_int32, [c_void_p, c_int64, P(OtelAttr), c_size_t]),
        "otel_metric_record_f64": (c_int32, [c_void_p, c_double, P(OtelAttr), c_size_t]),
        "otel_instrument_bind": (c_int32, [c_void_p, P(OtelAttr), c_size_t, P(c_void_p)]),
        "otel_bound_record_i64": (c_int32, [c_void_p, c_int64]),
        "otel_bound_record_f64": (c_int32, [c_void_p, c_double]),
        "otel_observe_i64": (c_int32, [c_void_p, c_int64, P(OtelAttr), c_size_t]),
        "otel_observe_f64": (c_int32, [c_void_p, c_double, P(OtelAttr), c_size_t]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(dll, name)  # AttributeError names the missing export
        fn.restype = restype
        fn.argtypes = argtypes


class _MetricMethods:
    """Instrument and observation entry points, attached to Lib below. Statuses are returned as
    they are; nothing raises on a negative status.

    Observable callbacks: pass a Python callable fn(observer) (observer is the otel_observer
    pointer as an int; report with Lib.observe_i64/observe_f64), or an OTEL_OBSERVE_FN object.
    The CFUNCTYPE object is kept alive on the Lib for the life of the process (instruments live
    as long as their engine, and the worker may call it at any collection). An exception raised
    by a Python callable is printed by ctypes and swallowed: it never reaches the library."""

    def _mdll(self) -> ctypes.CDLL:
        if not getattr(self, "_metrics_declared", False):
            _declare_metrics(self.dll)
            self._metrics_declared = True
            self._metric_callbacks = []  # CFUNCTYPE objects: never freed
        return self.dll

    def observe_callback(self, fn) -> "OTEL_OBSERVE_FN":
        """Wraps fn(observer) as an otel_observe_fn kept alive for the life of the process."""
        self._mdll()
        if isinstance(fn, OTEL_OBSERVE_FN):
            cb = fn
        else:
            def _trampoline(observer, _user_data, _fn=fn):
                _fn(observer)
            cb = OTEL_OBSERVE_FN(_trampoline)
        self._metric_callbacks.append(cb)
        return cb

    def instrument_create(self, scope, kind: int, number_type: int, name, unit="", description="",
                          bounds=None, callback=None, user_data=None,
                          null_out: bool = False) -> tuple[int, int | None]:
        """(status, instrument handle). bounds: None (NULL, 0), a list of floats, or RawBounds.
        callback: None (NULL), a callable fn(observer), or an OTEL_OBSERVE_FN."""
        dll = self._mdll()
        a = Arena()
        if bounds is None:
            bptr, nb = None, 0
        elif isinstance(bounds, RawBounds):
            bptr, nb = bounds.ptr, bounds.n
        else:
            nb = len(bounds)
            arr = (c_double * max(nb, 1))(*bounds)
            a._keep.append(arr)
            bptr = ctypes.cast(arr, POINTER(c_double)) if nb else None
        cb = OTEL_OBSERVE_FN() if callback is None else self.observe_callback(callback)  # () = NULL
        out = c_void_p()
        st = dll.otel_instrument_create(scope, kind, number_type, a.str(name), a.str(unit),
                                        a.str(description), bptr, nb, cb, user_data,
                                        None if null_out else byref(out))
        del a
        return st, out.value

    def _call_with_attrs(self, c_name: str, handle, value, attrs) -> int:
        """c_name(handle, value, attrs, n): the shape of otel_metric_record_* and otel_observe_*."""
        dll = self._mdll()
        a = Arena()
        ptr, n = a.attrs(attrs)
        st = getattr(dll, c_name)(handle, value, ptr, n)
        del a
        return st

    def metric_record_i64(self, instrument, value: int, attrs=None) -> int:
        return self._call_with_attrs("otel_metric_record_i64", instrument, value, attrs)

    def metric_record_f64(self, instrument, value: float, attrs=None) -> int:
        return self._call_with_attrs("otel_metric_record_f64", instrument, value, attrs)

    def instrument_bind(self, instrument, attrs=None, null_out: bool = False) -> tuple[int, int | None]:
        dll = self._mdll()
        a = Arena()
        ptr, n = a.attrs(attrs)
        out = c_void_p()
        st = dll.otel_instrument_bind(instrument, ptr, n, None if null_out else byref(out))
        del a
        return st, out.value

    def bound_record_i64(self, bound, value: int) -> int:
        return self._mdll().otel_bound_record_i64(bound, value)

    def bound_record_f64(self, bound, value: float) -> int:
        return self._mdll().otel_bound_record_f64(bound, value)

    def observe_i64(self, observer, value: int, attrs=None) -> int:
        return self._call_with_attrs("otel_observe_i64", observer, value, attrs)

    def observe_f64(self, observer, value: float, attrs=None) -> int:
        return self._call_with_attrs("otel_observe_f64", observer, value, attrs)


for _name, _fn in list(_MetricMethods.__dict__.items()):
    if not _name.startswith("__") and not hasattr(Lib, _name):
        setattr(Lib, _name, _fn)
del _name, _fn
