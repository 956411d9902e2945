"""otelbridge.api.LoggerProvider: opentelemetry-api's logs API (opentelemetry._logs, API 1.45)
on the native engine (issue 6, item 7, logs). Decoded with opentelemetry-proto, field by field."""

from __future__ import annotations

from pybinding import attrs_of, read_logs, run_child

API_LOGS = r'''
import sys
from opentelemetry import _logs, context, trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
import otelbridge
from otelbridge.api import LoggerProvider

otelbridge.configure(service_name="api-logs", logs_exporter="file",
                     otelbridge_file_path=sys.argv[1], otelbridge_file_format="proto",
                     attach_handler=False)
_logs.set_logger_provider(LoggerProvider())
provider = _logs.get_logger_provider()
assert isinstance(provider, LoggerProvider)
lg = _logs.get_logger("api.scope", "1.2.3", schema_url="https://example.com/schema")
assert lg.enabled()
assert _logs.get_logger("api.scope", "1.2.3", schema_url="https://example.com/schema") is lg

# 1. keywords, structured body and attributes
lg.emit(timestamp=1_700_000_000_123_456_789, observed_timestamp=1_700_000_001_000_000_000,
        severity_number=SeverityNumber.WARN, severity_text="WARN",
        body={"msg": "card declined", "codes": [1, "x", None], "nested": {"ok": True}},
        attributes={"order.id": 42, "tags": ["a", "b"], "ratio": 0.25},
        event_name="shop.declined")

# 2. a LogRecord inside an (API) span context
sc = SpanContext(trace_id=0x0102030405060708090a0b0c0d0e0f10, span_id=0x1112131415161718,
                 is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
token = context.attach(trace.set_span_in_context(NonRecordingSpan(sc)))
lg.emit(LogRecord(timestamp=5, severity_number=SeverityNumber.INFO, body="in span",
                  attributes={"k": "v"}))
# 3. keywords inside the span: trace context from the current context
lg.emit(body="kw in span", severity_number=SeverityNumber.DEBUG)
context.detach(token)

# 4. an exception, no severity, no body
try:
    raise ValueError("bad")
except ValueError as e:
    lg.emit(exception=e)

# 5. a logger with scope attributes
_logs.get_logger("api.attrs", attributes={"team": "shop"}).emit(body="scoped")
assert provider.force_flush(5000)
assert otelbridge.shutdown(10)
_logs.get_logger("api.scope").emit(body="after shutdown: dropped, no exception")
'''


def test_api_logger_provider(pkg_dir, tmp_path):
    run_child(pkg_dir, API_LOGS, tmp_path)
    logs = read_logs(tmp_path / "out.bin")
    assert len(logs) == 5, [rec.body for _, _, rec in logs]
    (res, s1, r1), (_, s2, r2), (_, s3, r3), (_, s4, r4), (_, s5, r5) = logs
    assert res["service.name"] == "api-logs" and res["telemetry.sdk.language"] == "python"
    assert [s1, s2, s3, s4, s5] == ["api.scope"] * 4 + ["api.attrs"]

    assert r1.time_unix_nano == 1_700_000_000_123_456_789
    assert r1.observed_time_unix_nano == 1_700_000_001_000_000_000
    assert (r1.severity_number, r1.severity_text) == (13, "WARN")
    assert r1.event_name == "shop.declined"
    body = r1.body.kvlist_value
    got = {kv.key: kv.value for kv in body.values}
    assert set(got) == {"msg", "codes", "nested"}
    assert got["msg"].string_value == "card declined"
    codes = got["codes"].array_value.values
    assert [c.WhichOneof("value") for c in codes] == ["int_value", "string_value", None]
    assert codes[0].int_value == 1 and codes[1].string_value == "x"
    nested = got["nested"].kvlist_value.values
    assert len(nested) == 1 and nested[0].key == "ok" and nested[0].value.bool_value is True
    assert attrs_of(r1) == {"order.id": 42, "tags": ["a", "b"], "ratio": 0.25}
    assert r1.trace_id == b"" and r1.span_id == b""

    assert r2.time_unix_nano == 5 and r2.severity_number == 9 and r2.severity_text == ""
    assert r2.body.string_value == "in span" and attrs_of(r2) == {"k": "v"}
    assert r2.trace_id == bytes(range(1, 17)) and r2.span_id == bytes(range(0x11, 0x19))
    assert r2.flags & 0xFF == 1

    assert r3.body.string_value == "kw in span" and r3.severity_number == 5
    assert r3.trace_id == bytes(range(1, 17)) and r3.span_id == bytes(range(0x11, 0x19))
    assert r3.time_unix_nano > 0  # "now", stamped by the library

    assert r4.severity_number == 0 and r4.body.WhichOneof("value") is None
    exc = attrs_of(r4)
    assert exc["exception.type"] == "ValueError" and exc["exception.message"] == "bad"
    assert exc["exception.stacktrace"].rstrip().endswith("ValueError: bad")
    assert r4.trace_id == b""

    assert r5.body.string_value == "scoped"


def test_api_logger_scope_fields(pkg_dir, tmp_path):
    run_child(pkg_dir, API_LOGS, tmp_path)
    import oracle
    scopes = []
    for frame in oracle.read_frames((tmp_path / "out.bin").read_bytes()):
        for rl in oracle.decode_frame(frame).resource_logs:
            for sl in rl.scope_logs:
                scopes.append((sl.scope.name, sl.scope.version, sl.schema_url,
                               attrs_of(sl.scope), len(sl.log_records)))
    merged = {}
    for name, version, schema, attrs, n in scopes:
        key = (name, version, schema, tuple(sorted(attrs.items())))
        merged[key] = merged.get(key, 0) + n
    assert merged == {("api.scope", "1.2.3", "https://example.com/schema", ()): 4,
                      ("api.attrs", "", "", (("team", "shop"),)): 1}
