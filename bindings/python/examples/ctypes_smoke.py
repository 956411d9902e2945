"""libotelbridge from plain ctypes: no cffi, no compiler. Copy this file anywhere.

    OTEL_SERVICE_NAME=smoke OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 \
        python3 ctypes_smoke.py [/path/to/libotelbridge.so.0]

Creates the process-wide engine from the environment (OTEL_* variables, docs/configuration.md),
emits one INFO log record "hello from ctypes" with the attribute smoke.id=1 in the scope
"ctypes.smoke", shuts down (which exports it) and prints "ok". Exits non-zero on any error.
"""

import ctypes
import ctypes.util
import sys


class Str(ctypes.Structure):  # otel_str: a pointer and a length, not NUL-terminated
    _fields_ = [("ptr", ctypes.c_char_p), ("len", ctypes.c_size_t)]


def s(text: str) -> Str:
    b = text.encode()
    return Str(b, len(b))


class _U(ctypes.Union):
    _fields_ = [("str", Str), ("boolean", ctypes.c_int32), ("i64", ctypes.c_int64),
                ("f64", ctypes.c_double)]


class Value(ctypes.Structure):  # otel_value (24 bytes)
    _fields_ = [("type", ctypes.c_int32), ("reserved_", ctypes.c_int32), ("u", _U)]


class Attr(ctypes.Structure):  # otel_attr (40 bytes)
    _fields_ = [("key", Str), ("value", Value)]


VALUE_STRING, VALUE_INT, SEVERITY_INFO = 1, 3, 9


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else (ctypes.util.find_library("otelbridge")
                                                  or "libotelbridge.so.0")
    lib = ctypes.CDLL(path)
    lib.otel_version.restype = ctypes.c_char_p
    lib.otel_status_str.restype = ctypes.c_char_p
    lib.otel_init.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.otel_scope_get.argtypes = [ctypes.c_void_p, Str, Str, Str, ctypes.c_void_p,
                                   ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)]
    lib.otel_log_emit.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64,
                                  ctypes.c_int32, Str, ctypes.POINTER(Value),
                                  ctypes.POINTER(Attr), ctypes.c_size_t, Str, ctypes.c_void_p]
    lib.otel_engine_shutdown.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    for f in ("otel_init", "otel_scope_get", "otel_log_emit", "otel_engine_shutdown"):
        getattr(lib, f).restype = ctypes.c_int32

    def check(status: int, what: str) -> None:
        if status != 0:
            raise SystemExit(f"{what}: {lib.otel_status_str(status).decode()} ({status})")

    err = ctypes.create_string_buffer(512)
    st = lib.otel_init(None, err, len(err))
    check(st, f"otel_init {err.value.decode()}")
    scope = ctypes.c_void_p()
    check(lib.otel_scope_get(None, s("ctypes.smoke"), Str(None, 0), Str(None, 0), None, 0,
                             ctypes.byref(scope)), "otel_scope_get")
    msg = "hello from ctypes".encode()
    body = Value(VALUE_STRING, 0, _U(str=Str(msg, len(msg))))
    attrs = (Attr * 1)(Attr(s("smoke.id"), Value(VALUE_INT, 0, _U(i64=1))))
    check(lib.otel_log_emit(scope, 0, 0, SEVERITY_INFO, s("INFO"), ctypes.byref(body), attrs, 1,
                            Str(None, 0), None), "otel_log_emit")
    check(lib.otel_engine_shutdown(None, 5000), "otel_engine_shutdown")
    print("ok", lib.otel_version().decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
