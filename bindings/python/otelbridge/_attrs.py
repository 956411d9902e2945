"""Attribute encoding for the hot paths: Python mappings to packed otel_attr arrays.

An otel_attr is a frozen 40-byte value type (include/otelbridge/otelbridge.h), so instead of
setting cffi struct fields one by one (~100 ns each), every attribute is packed with struct.pack
into its 40 bytes, the parts are joined, and the C function gets one ffi.from_buffer() over the
result. String keys, and (key, str value) pairs, are cached as their packed bytes: a repeated
attribute costs one dict lookup. The caches stop growing at a fixed size (never evicted, so the
buffers they point into stay alive); past it, entries are encoded per call.

Value rules (the OpenTelemetry attribute types): bool, int (int64; larger ints become str),
float, str, bytes/bytearray, and homogeneous lists/tuples of those; anything else is str(value),
silently (this module never calls logging).
"""

from __future__ import annotations

import struct
from typing import Any, List, Mapping, Optional, Tuple, cast

from ._native import ffi

__all__ = ["encode", "pack_str", "ptr_of", "safe_str", "ATTR_P"]

_STRING, _BOOL, _INT, _DOUBLE, _BYTES, _ARRAY = 1, 2, 3, 4, 5, 6
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1

# otel_attr = {otel_str key; otel_value value} = ptr, len, type, reserved, 16-byte union.
_A_PTR = struct.Struct("=QQiiQQ")    # string, bytes, array: pointer + length
_A_I64 = struct.Struct("=QQiiq8x")
_A_F64 = struct.Struct("=QQiid8x")
_A_BOOL = struct.Struct("=QQiii12x")
# otel_value = type, reserved, 16-byte union (array items).
_V_PTR = struct.Struct("=iiQQ")
_V_I64 = struct.Struct("=iiq8x")
_V_F64 = struct.Struct("=iid8x")
_V_BOOL = struct.Struct("=iii12x")

ATTR_P = ffi.typeof("otel_attr *")

_KEY_CACHE_MAX = 4096
_PAIR_CACHE_MAX = 8192
_PAIR_VALUE_MAX = 256  # longer string values are not cached

_keys: dict[str, Tuple[int, int]] = {}  # str -> (ptr, len)
_pairs: dict[Tuple[str, str], bytes] = {}  # (key, str value) -> packed otel_attr
_pinned: List[Any] = []  # buffers the caches point into


def safe_str(v: Any) -> str:
    try:
        return str(v)
    except Exception:
        try:
            return repr(v)
        except Exception:
            return f"<unprintable {type(v).__name__}>"


def _utf8(s: str) -> bytes:
    return s.encode("utf-8", "surrogatepass")


def ptr_of(b: bytes, keep: Optional[List[Any]]) -> int:
    """The address of b's bytes (0 for b""). b must stay alive: it goes into keep (or the pinned
    list when keep is None)."""
    if not b:
        return 0
    buf = ffi.from_buffer(b)
    (keep if keep is not None else _pinned).append(buf)
    return int(ffi.cast("uintptr_t", buf))


def _key(k: Any, keep: List[Any]) -> Tuple[int, int]:
    kp = _keys.get(k) if type(k) is str else None
    if kp is not None:
        return kp
    if not isinstance(k, str):
        k2 = safe_str(k)
        b = _utf8(k2)
        return ptr_of(b, keep), len(b)
    b = _utf8(k)
    if len(_keys) < _KEY_CACHE_MAX:
        kp = (ptr_of(b, None), len(b))
        _keys[k] = kp
        return kp
    return ptr_of(b, keep), len(b)


def pack_str(s: str, keep: List[Any]) -> Tuple[int, int]:
    b = _utf8(s)
    return ptr_of(b, keep), len(b)


def _str_pair(k: Any, v: str, keep: List[Any]) -> bytes:
    if type(k) is str and len(v) <= _PAIR_VALUE_MAX and len(_pairs) < _PAIR_CACHE_MAX:
        kp, kl = _key(k, keep)
        b = _utf8(v)
        p = _A_PTR.pack(kp, kl, _STRING, 0, ptr_of(b, None), len(b))
        _pairs[(k, v)] = p
        return p
    kp, kl = _key(k, keep)
    b = _utf8(v)
    return _A_PTR.pack(kp, kl, _STRING, 0, ptr_of(b, keep), len(b))


def _prim_type(x: Any) -> Optional[type]:
    t = type(x)
    if t is bool or t is str or t is float or t is bytes:
        return t
    if t is int:
        return int if _INT64_MIN <= x <= _INT64_MAX else None
    if t is bytearray:
        return bytes
    if isinstance(x, bool):
        return bool
    if isinstance(x, str):
        return str
    if isinstance(x, int):
        return int if _INT64_MIN <= x <= _INT64_MAX else None
    if isinstance(x, float):
        return float
    return None


def _pack_value(t: type, x: Any, keep: List[Any]) -> bytes:
    if t is bool:
        return _V_BOOL.pack(_BOOL, 0, 1 if x else 0)
    if t is int:
        return _V_I64.pack(_INT, 0, int(x))
    if t is float:
        return _V_F64.pack(_DOUBLE, 0, float(x))
    if t is bytes:
        b = bytes(x)
        return _V_PTR.pack(_BYTES, 0, ptr_of(b, keep), len(b))
    b = _utf8(str.__str__(x))
    return _V_PTR.pack(_STRING, 0, ptr_of(b, keep), len(b))


def _slow(k: Any, v: Any, keep: List[Any]) -> bytes:
    kp, kl = _key(k, keep)
    t = _prim_type(v)
    if t is not None:
        if t is bool:
            return _A_BOOL.pack(kp, kl, _BOOL, 0, 1 if v else 0)
        if t is int:
            return _A_I64.pack(kp, kl, _INT, 0, int(v))
        if t is float:
            return _A_F64.pack(kp, kl, _DOUBLE, 0, float(v))
        if t is bytes:
            b = bytes(v)
            return _A_PTR.pack(kp, kl, _BYTES, 0, ptr_of(b, keep), len(b))
        b = _utf8(str.__str__(v))
        return _A_PTR.pack(kp, kl, _STRING, 0, ptr_of(b, keep), len(b))
    if isinstance(v, (list, tuple)):
        types = {_prim_type(x) for x in v}
        if len(types) <= 1 and None not in types:
            if not v:
                return _A_PTR.pack(kp, kl, _ARRAY, 0, 0, 0)
            et = cast(type, types.pop())
            items = b"".join([_pack_value(et, x, keep) for x in v])
            return _A_PTR.pack(kp, kl, _ARRAY, 0, ptr_of(items, keep), len(v))
    b = _utf8(safe_str(v))
    return _A_PTR.pack(kp, kl, _STRING, 0, ptr_of(b, keep), len(b))


def encode(attrs: Mapping[Any, Any], keep: List[Any], _pairs_get: Any = _pairs.get,
           _keys_get: Any = _keys.get, _i64: Any = _A_I64.pack, _f64: Any = _A_F64.pack,
           _str: type = str, _int: type = int, _float: type = float,
           _join: Any = b"".join) -> Tuple[bytes, int]:
    """(packed otel_attr array, count). Buffers the array points into are appended to keep (or
    cached); keep them alive until the C call returns."""
    parts = []
    for k, v in attrs.items():
        t = type(v)
        if t is _str:
            p = _pairs_get((k, v))
            if p is None:
                p = _str_pair(k, v, keep)
        elif t is _int and -9223372036854775808 <= v <= 9223372036854775807:
            kp = _keys_get(k)
            if kp is None:
                kp = _key(k, keep)
            p = _i64(kp[0], kp[1], 3, 0, v)
        elif t is _float:
            kp = _keys_get(k)
            if kp is None:
                kp = _key(k, keep)
            p = _f64(kp[0], kp[1], 4, 0, v)
        else:
            p = _slow(k, v, keep)
        parts.append(p)
    return _join(parts), len(parts)
