"""ABI value helpers shared by the binding's modules: attribute arrays, strings, scopes.

Attribute conversion has one implementation, in C (otelbridge._speedups, see _speedups.c): the
log paths call _speedups.emit / handler_emit directly, and every cffi caller (span attributes,
events, links, record_exception, tracer and logger scopes, metric attribute sets) gets its
otel_attr array from convert(), an object that owns the conversion. The rules, per mode:

  LOGS   str, bool, int (int64; larger ints become their decimal str), float, bytes/bytearray,
         and lists/tuples of those (types may mix); anything else str(v), then repr(v), then
         "<unprintable T>" — silently (this module never calls logging)
  SPANS  the same, but an array must hold one type (else the list's str())
  ANY    OTLP AnyValues (the opentelemetry-api Logger): also None (empty), mappings (maps) and
         nested lists, up to 16 levels
"""

from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

from . import _speedups
from ._native import ffi, lib

__all__ = ["LOGS", "SPANS", "ANY", "convert", "pack_str", "ptr_of", "safe_str", "utf8",
           "scope_get", "ATTR_P"]

LOGS, SPANS, ANY = 0, 1, 2
ATTR_P = ffi.typeof("otel_attr *")
_NULL = ffi.NULL
_cast = ffi.cast
_c_attrs = _speedups.attrs

_pinned: List[Any] = []  # buffers that live as long as the process (cached names)

Attrs = Union[Mapping[Any, Any], Sequence[Tuple[Any, Any]], None]


def convert(attrs: Attrs, mode: int) -> Tuple[Any, int, Any]:
    """(otel_attr * or NULL, count, owner): attrs (a mapping or (key, value) pairs) converted by
    the rules of mode. The pointer is valid while owner is alive."""
    if not attrs:
        return _NULL, 0, None
    a = _c_attrs(attrs, mode)
    n = len(a)
    return (_cast(ATTR_P, a.address) if n else _NULL), n, a


def safe_str(v: Any) -> str:
    try:
        return str(v)
    except Exception:
        try:
            return repr(v)
        except Exception:
            return f"<unprintable {type(v).__name__}>"


def utf8(s: str) -> bytes:
    # Lone surrogates pass through as invalid UTF-8; the library replaces them with U+FFFD.
    return s.encode("utf-8", "surrogatepass")


def ptr_of(b: bytes, keep: Optional[List[Any]]) -> int:
    """The address of b's bytes (0 for b""). b must stay alive: it goes into keep (or the pinned
    list when keep is None)."""
    if not b:
        return 0
    buf = ffi.from_buffer(b)
    (keep if keep is not None else _pinned).append(buf)
    return int(ffi.cast("uintptr_t", buf))


def pack_str(s: str, keep: List[Any]) -> Tuple[int, int]:
    """(address, length) of s in UTF-8; the buffer goes into keep."""
    b = utf8(s)
    return ptr_of(b, keep), len(b)


def ostr(s: Optional[str], keep: List[Any]) -> Any:
    """An otel_str initialiser for s (empty for None or ""); the buffer goes into keep."""
    if not s:
        return (_NULL, 0)
    b = utf8(s)
    buf = ffi.from_buffer(b)
    keep.append(buf)
    return (buf, len(b))


def scope_get(name: str, version: Optional[str] = None, schema_url: Optional[str] = None,
              attributes: Attrs = None, mode: int = LOGS) -> Optional[Any]:
    """The engine's otel_scope * for an instrumentation scope (the library returns the same
    handle for the same scope), or None before configure() / after shutdown(). The scope's
    attributes are converted by the rules of mode."""
    keep: List[Any] = []
    ap, na, owner = convert(attributes, mode)
    out = ffi.new("otel_scope **")
    st = lib.otel_scope_get(_NULL, ostr(name, keep), ostr(version, keep),
                            ostr(schema_url, keep), ap, na, out)
    del owner
    return out[0] if st == 0 else None
