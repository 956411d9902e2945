"""Decoding and comparison helpers built on the official opentelemetry-proto package.

- read_frames / decode_proto_file: the OTELBRIDGE_FILE_FORMAT=proto file (4-byte big-endian length
  + one serialized ExportLogsServiceRequest per frame).
- json_line_to_request: one OTLP/JSON line -> ExportLogsServiceRequest via google.protobuf's
  json_format, after turning traceId/spanId hex into base64 (OTLP/JSON's one deviation from
  proto3 JSON).
- wire_lint: a raw protobuf walk that catches what a decoder silently forgives (unknown field
  numbers, wrong wire types, a singular field or oneof written twice, bad UTF-8 in a string).
- diff_messages: a field-by-field comparison that names the path of every difference, keeps
  presence (HasField / oneof) and compares doubles bit for bit (any NaN equals any NaN).
- ref_str / raw_key / attr_pairs / ref_value: the reference values the logs, traces and metrics
  corpora expect for the arguments they pass through otb (written from the header's contract).
"""

from __future__ import annotations

import base64
import json
import math
import struct

from google.protobuf import descriptor as _d
from google.protobuf import json_format, text_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

import otb
from otb import EMPTY, Map, RawStr, RawValue, Str

# ---- proto file frames ------------------------------------------------------------------------


class FrameError(AssertionError):
    pass


def read_frames(data: bytes) -> list[bytes]:
    frames = []
    i = 0
    while i < len(data):
        if len(data) - i < 4:
            raise FrameError(f"file ends with {len(data) - i} stray byte(s) at offset {i}, "
                             "not a 4-byte length prefix")
        n = int.from_bytes(data[i:i + 4], "big")
        i += 4
        if len(data) - i < n:
            raise FrameError(f"frame at offset {i - 4} declares {n} bytes, only {len(data) - i} follow")
        frames.append(data[i:i + n])
        i += n
    return frames


def decode_frame(frame: bytes) -> ExportLogsServiceRequest:
    return ExportLogsServiceRequest.FromString(frame)


# ---- OTLP/JSON --------------------------------------------------------------------------------


def _reject_constant(name):
    raise ValueError(f"bare {name} is not JSON (OTLP/JSON writes \"NaN\"/\"Infinity\" as strings)")


def _parse_int(text: str):
    # json.loads turns "-0" into int 0 and loses the sign of a double written as -0.
    if text == "-0":
        return -0.0
    return int(text)


def load_json_line(line: str) -> dict:
    """Strict JSON (no bare NaN/Infinity), keeping -0."""
    return json.loads(line, parse_constant=_reject_constant, parse_int=_parse_int)


def hex_ids_to_base64(doc: dict) -> dict:
    """OTLP/JSON writes log records' trace and span ids as hex; proto3 JSON (json_format) wants
    base64."""
    for rl in doc.get("resourceLogs", []) or []:
        for sl in rl.get("scopeLogs", []) or []:
            for rec in sl.get("logRecords", []) or []:
                for k in ("traceId", "spanId"):
                    if k in rec and isinstance(rec[k], str):
                        rec[k] = base64.b64encode(bytes.fromhex(rec[k])).decode("ascii")
    return doc


def trace_hex_ids_to_base64(doc: dict) -> dict:
    """The same for traces: span, parent span and link ids."""
    for rs in doc.get("resourceSpans", []) or []:
        for ss in rs.get("scopeSpans", []) or []:
            for sp in ss.get("spans", []) or []:
                for k in ("traceId", "spanId", "parentSpanId"):
                    if isinstance(sp.get(k), str):
                        sp[k] = base64.b64encode(bytes.fromhex(sp[k])).decode("ascii")
                for ln in sp.get("links", []) or []:
                    for k in ("traceId", "spanId"):
                        if isinstance(ln.get(k), str):
                            ln[k] = base64.b64encode(bytes.fromhex(ln[k])).decode("ascii")
    return doc


def json_line_to_request(line: str) -> ExportLogsServiceRequest:
    doc = hex_ids_to_base64(load_json_line(line))
    return json_format.ParseDict(doc, ExportLogsServiceRequest(), ignore_unknown_fields=False)


def iter_json(node, path="$"):
    """Yields (path, key, value) for every key of every JSON object in the tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield path, k, v
            yield from iter_json(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from iter_json(v, f"{path}[{i}]")


# ---- flattening -------------------------------------------------------------------------------


def flatten(requests) -> list[tuple]:
    """[(request_index, resource_logs, scope_logs, log_record)] in wire order."""
    out = []
    for ri, req in enumerate(requests):
        for rl in req.resource_logs:
            for sl in rl.scope_logs:
                for rec in sl.log_records:
                    out.append((ri, rl, sl, rec))
    return out


# ---- raw wire lint ----------------------------------------------------------------------------

_FD = _d.FieldDescriptor
_WIRE_TYPE = {
    _FD.TYPE_DOUBLE: 1, _FD.TYPE_FIXED64: 1, _FD.TYPE_SFIXED64: 1,
    _FD.TYPE_FLOAT: 5, _FD.TYPE_FIXED32: 5, _FD.TYPE_SFIXED32: 5,
    _FD.TYPE_INT32: 0, _FD.TYPE_INT64: 0, _FD.TYPE_UINT32: 0, _FD.TYPE_UINT64: 0,
    _FD.TYPE_SINT32: 0, _FD.TYPE_SINT64: 0, _FD.TYPE_BOOL: 0, _FD.TYPE_ENUM: 0,
    _FD.TYPE_STRING: 2, _FD.TYPE_BYTES: 2, _FD.TYPE_MESSAGE: 2,
}


def is_repeated(f) -> bool:
    r = getattr(f, "is_repeated", None)
    if r is not None:
        return bool(r)
    return f.label == _FD.LABEL_REPEATED


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = 0
    result = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def wire_lint(buf: bytes, desc=ExportLogsServiceRequest.DESCRIPTOR, path: str = "") -> list[str]:
    issues: list[str] = []
    _lint(buf, desc, path or desc.name, issues)
    return issues


def _lint(buf: bytes, desc, path: str, issues: list[str]) -> None:
    i = 0
    seen: set[int] = set()
    oneofs: dict[str, str] = {}
    while i < len(buf):
        try:
            key, i = _varint(buf, i)
            fn, wt = key >> 3, key & 7
            payload = None
            if wt == 0:
                _, i = _varint(buf, i)
            elif wt == 1:
                i += 8
            elif wt == 2:
                n, i = _varint(buf, i)
                payload = buf[i:i + n]
                i += n
            elif wt == 5:
                i += 4
            else:
                issues.append(f"{path}: field {fn} has invalid wire type {wt}")
                return
            if i > len(buf):
                issues.append(f"{path}: field {fn} runs past the end of its message")
                return
        except ValueError as e:
            issues.append(f"{path}: {e}")
            return
        f = desc.fields_by_number.get(fn)
        if f is None:
            issues.append(f"{path}: unknown field number {fn} (wire type {wt}) in {desc.full_name}")
            continue
        fpath = f"{path}.{f.name}"
        want = _WIRE_TYPE[f.type]
        packed_ok = is_repeated(f) and want in (0, 1, 5) and wt == 2
        if wt != want and not packed_ok:
            issues.append(f"{fpath}: wire type {wt}, the schema needs {want}")
            continue
        if not is_repeated(f):
            if fn in seen:
                issues.append(f"{fpath}: singular field written more than once")
            seen.add(fn)
        if f.containing_oneof is not None:
            o = f.containing_oneof.name
            if o in oneofs:
                issues.append(f"{fpath}: oneof '{o}' already set by '{oneofs[o]}' in the same message")
            oneofs[o] = f.name
        if f.type == _FD.TYPE_STRING:
            try:
                payload.decode("utf-8", "strict")
            except UnicodeDecodeError as e:
                issues.append(f"{fpath}: invalid UTF-8 in a string field: {payload[:64]!r} ({e})")
        elif f.type == _FD.TYPE_MESSAGE:
            _lint(payload, f.message_type, fpath, issues)


# ---- field-by-field diff ----------------------------------------------------------------------


def _double_eq(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return struct.pack("<d", a) == struct.pack("<d", b)


def _scalar_eq(f, a, b) -> bool:
    if f.type in (_FD.TYPE_DOUBLE, _FD.TYPE_FLOAT):
        return _double_eq(a, b)
    return a == b and type(a) is type(b)


def _short(x, limit=200) -> str:
    if _is_msg(x):
        s = "{" + text_format.MessageToString(x, as_one_line=True, as_utf8=True) + "}"
    elif isinstance(x, list):
        s = "[" + ", ".join(_short(i, limit) for i in x) + "]"
    else:
        s = repr(x)
    return s if len(s) <= limit else s[:limit] + f"...({len(s)} chars)"


def _is_msg(x) -> bool:
    return hasattr(x, "DESCRIPTOR") and hasattr(x, "ListFields")


def diff_messages(got, exp, path: str = "") -> list[str]:
    """Every difference between two messages of one type, by path. Empty list = equal."""
    out: list[str] = []
    _diff(got, exp, path or exp.DESCRIPTOR.name, out)
    return out


def _elem_path(path: str, name: str, i: int, elem) -> str:
    if isinstance(elem, common_pb2.KeyValue):
        return f"{path}.{name}[{i}:{elem.key!r}]"
    return f"{path}.{name}[{i}]"


def _diff(got, exp, path: str, out: list[str]) -> None:
    for f in exp.DESCRIPTOR.fields:
        name = f.name
        fpath = f"{path}.{name}"
        g = getattr(got, name)
        e = getattr(exp, name)
        if is_repeated(f):
            if len(g) != len(e):
                if f.message_type is common_pb2.KeyValue.DESCRIPTOR:
                    out.append(f"{fpath}: expected {len(e)} entries with keys {[kv.key for kv in e]}, "
                               f"got {len(g)} with keys {[kv.key for kv in g]}")
                else:
                    out.append(f"{fpath}: expected {len(e)} entries, got {len(g)}: "
                               f"expected {_short(list(e))}, got {_short(list(g))}")
                continue
            for i, (gi, ei) in enumerate(zip(g, e)):
                if f.type == _FD.TYPE_MESSAGE:
                    _diff(gi, ei, _elem_path(path, name, i, ei), out)
                elif not _scalar_eq(f, gi, ei):
                    out.append(f"{fpath}[{i}]: expected {ei!r}, got {gi!r}")
            continue
        if f.has_presence:
            gh, eh = got.HasField(name), exp.HasField(name)
            if gh != eh:
                out.append(f"{fpath}: expected {'present' if eh else 'absent'}"
                           f"{' = ' + _short(e) if eh else ''}, got {'present' if gh else 'absent'}"
                           f"{' = ' + _short(g) if gh else ''}")
                continue
            if not gh:
                continue
        if f.type == _FD.TYPE_MESSAGE:
            _diff(g, e, fpath, out)
        elif not _scalar_eq(f, g, e):
            out.append(f"{fpath}: expected {e!r}, got {g!r}")
    # Fields set on `got` but not in exp are caught above: every field of the type is visited.


def has_unknown_fields(msg, path: str = "") -> list[str]:
    """Paths of messages that carry unknown fields after decoding."""
    from google.protobuf import unknown_fields
    out = []
    path = path or msg.DESCRIPTOR.name
    if len(unknown_fields.UnknownFieldSet(msg)):
        out.append(path)
    for f, v in msg.ListFields():
        if f.type != _FD.TYPE_MESSAGE:
            continue
        if is_repeated(f):
            for i, item in enumerate(v):
                out.extend(has_unknown_fields(item, f"{path}.{f.name}[{i}]"))
        else:
            out.extend(has_unknown_fields(v, f"{path}.{f.name}"))
    return out


# ---- reference values -------------------------------------------------------------------------


def ref_str(s) -> str:
    """A string as it must arrive: invalid UTF-8 replaced by U+FFFD per maximal subpart (the
    Unicode Standard's recommended practice, also WHATWG's; Python's 'replace' handler)."""
    if s is None:
        return ""
    if isinstance(s, Str):
        return s.raw.decode("utf-8", "replace")
    if isinstance(s, RawStr):
        assert s.data is None and s.length == 0, "only (NULL, 0) is a valid RawStr here"
        return ""
    if isinstance(s, bytes):
        return s.decode("utf-8", "replace")
    return s


def raw_key(k) -> bytes:
    """The key as the caller's bytes (repeated keys are the same key when their bytes are)."""
    if isinstance(k, Str):
        return k.raw
    if isinstance(k, RawStr):
        return b""
    if isinstance(k, bytes):
        return k
    return k.encode("utf-8")


def attr_pairs(attrs) -> list:
    """Attributes given as None, a Map, a dict or a sequence of pairs, as a list of pairs."""
    if attrs is None:
        return []
    if isinstance(attrs, Map):
        return list(attrs.pairs)
    if isinstance(attrs, dict):
        return list(attrs.items())
    return list(attrs)


def _ref_raw_value(obj: RawValue, av: AnyValue) -> None:
    if obj.type == otb.OTEL_VALUE_BOOL and obj.boolean is not None:
        av.bool_value = obj.boolean != 0  # header: any non-zero is true
        return
    # (NULL, 0) views of the other pointer types: empty values
    assert obj.ptr is None and obj.length == 0, f"unsupported RawValue {obj}"
    if obj.type == otb.OTEL_VALUE_STRING:
        av.string_value = ""
    elif obj.type == otb.OTEL_VALUE_BYTES:
        av.bytes_value = b""
    elif obj.type == otb.OTEL_VALUE_ARRAY:
        av.array_value.SetInParent()
    elif obj.type == otb.OTEL_VALUE_MAP:
        av.kvlist_value.SetInParent()
    else:
        raise AssertionError(f"unsupported RawValue {obj}")


def ref_value(obj, trunc: int | None = None) -> AnyValue:
    """The AnyValue an argument must arrive as. docs/configuration.md: string values, also inside
    arrays and maps, are cut to the value length limit `trunc` in characters (code points, after
    UTF-8 repair). Bytes are never cut and never UTF-8-checked."""
    av = AnyValue()
    if obj is EMPTY:
        return av
    if isinstance(obj, RawValue):
        _ref_raw_value(obj, av)
    elif isinstance(obj, (str, Str, RawStr)):
        s = ref_str(obj)
        av.string_value = s[:trunc] if trunc is not None else s
    elif isinstance(obj, (bytes, bytearray)):
        av.bytes_value = bytes(obj)
    elif isinstance(obj, bool):
        av.bool_value = obj
    elif isinstance(obj, int):
        av.int_value = obj
    elif isinstance(obj, float):
        av.double_value = obj
    elif isinstance(obj, (list, tuple)):
        av.array_value.SetInParent()
        for item in obj:
            av.array_value.values.append(ref_value(item, trunc))
    elif isinstance(obj, (dict, Map)):
        av.kvlist_value.SetInParent()
        for k, v in (obj.pairs if isinstance(obj, Map) else obj.items()):
            av.kvlist_value.values.append(KeyValue(key=ref_str(k), value=ref_value(v, trunc)))
    else:
        raise TypeError(type(obj))
    return av
