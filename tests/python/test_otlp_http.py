"""End to end over OTLP/HTTP: libotelbridge -> the Collector's real otlpreceiver (tests/collector).

What the receiver wrote (one OTLP/JSON line per request, pdata's JSONMarshaler) is parsed with the
official opentelemetry-proto package and compared field by field with what was emitted, for
http/protobuf and http/json, each with and without gzip. Counts are exact on both sides: the
engine's statistics and the receiver's. Headers from OTEL_EXPORTER_OTLP_HEADERS must arrive, and a
secret header value must never appear in any diagnostic.

The helpers at the top (diagnostics capture, engine settings, accounting) are shared with
test_otlp_faults.py.
"""

from __future__ import annotations

import ctypes
import socket
import threading
import time
from ctypes import c_int32, c_void_p

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

import collector
import oracle
from oracle import ref_value
import otb
from otb import Map

# ---- shared helpers ---------------------------------------------------------------------------

OTEL_DIAG_ERROR, OTEL_DIAG_WARN, OTEL_DIAG_INFO, OTEL_DIAG_DEBUG = 1, 2, 3, 4
DIAG_FN = ctypes.CFUNCTYPE(None, c_int32, otb.OtelStr, c_void_p)
_KEEP_CALLBACKS: list = []  # a worker may still hold a callback after a test: never free them


class Diagnostics:
    """Routes the library's diagnostics (process-wide) into a list while it is installed."""

    def __init__(self, lib: otb.Lib, max_level: int = OTEL_DIAG_DEBUG):
        self.lib = lib
        self.lock = threading.Lock()
        self.messages: list[tuple[int, str]] = []
        self.times: list[float] = []
        self.t0 = time.monotonic()
        self.t0_wall = time.time()

        def cb(level, msg, _user):
            text = ctypes.string_at(msg.ptr, msg.len).decode("utf-8", "replace") if msg.len else ""
            with self.lock:
                self.messages.append((level, text))
                self.times.append(time.monotonic() - self.t0)

        self._cb = DIAG_FN(cb)
        _KEEP_CALLBACKS.append(self._cb)
        fn = lib.dll.otel_set_diagnostics
        fn.restype = c_int32
        fn.argtypes = [c_void_p, c_void_p, c_int32]
        st = fn(ctypes.cast(self._cb, c_void_p), None, max_level)
        assert st == otb.OTEL_OK, f"otel_set_diagnostics: {otb.status_name(st)}"

    def restore(self) -> None:
        self.lib.dll.otel_set_diagnostics(None, None, 0)

    def texts(self) -> list[str]:
        with self.lock:
            return [m for _, m in self.messages]

    def matching(self, needle: str) -> list[str]:
        return [m for m in self.texts() if needle in m]

    def dump(self) -> str:
        """Every message with its level and the time since the test started."""
        with self.lock:
            return "\n".join(f"  +{t:6.3f}s [{lvl}] {m}" for t, (lvl, m) in
                             zip(self.times, self.messages)) or "  (none)"


@pytest.fixture
def diag(lib):
    d = Diagnostics(lib)
    yield d
    d.restore()


@pytest.fixture
def otlp(diag, engine_factory):
    """(diag, engine_factory) in that order, so engines are freed before diagnostics go back to
    stderr: no callback runs after a test."""
    return diag, engine_factory


# rx (the receiver; list it BEFORE `otlp` in a test's arguments): conftest.py


def otlp_settings(endpoint: str, protocol: str, **extra) -> dict:
    s = {
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_BLRP_SCHEDULE_DELAY": "50",
        "OTEL_SERVICE_NAME": "otlp-e2e",
        "OTEL_LOG_LEVEL": "debug",
    }
    s.update({k: str(v) for k, v in extra.items()})
    return s


def new_engine(factory, endpoint: str, protocol: str, **extra):
    return factory(config=otlp_settings(endpoint, protocol, **extra))


def endpoint_for(r: collector.Collector, protocol: str) -> str:
    return r.grpc_endpoint if protocol == "grpc" else r.http_endpoint


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def where_records_went(s: dict) -> int:
    """Every emit call ends in exactly one of these (header: OTEL_STAT_*)."""
    return (s["exported"] + s["rejected"] + s["failed"] + s["dropped_queue_full"]
            + s["dropped_oldest"] + s["dropped_too_large"] + s["dropped_shutdown"] + s["invalid"]
            + s["queued"] + s["in_flight"])


def assert_accounting(s: dict, emitted: int, _diag: Diagnostics | None = None, **expect) -> None:
    """emitted == exported + rejected + failed + dropped_* + invalid (+ queued + in_flight), and
    each named statistic has exactly the given value; the other causes are 0. With _diag, a
    failure shows the diagnostics too."""
    more = f"\ndiagnostics:\n{_diag.dump()}" if _diag else ""
    assert where_records_went(s) == emitted, (
        f"accounting: {emitted} emitted, but exported + rejected + failed + dropped_* + invalid + "
        f"queued + in_flight = {where_records_went(s)}: {s}{more}")
    for k in ("exported", "rejected", "failed", "dropped_queue_full", "dropped_oldest",
              "dropped_too_large", "dropped_shutdown", "invalid", "queued", "in_flight"):
        want = expect.get(k, 0)
        assert s[k] == want, f"stats.{k}: expected {want}, got {s[k]} (all: {s}){more}"


def wait_stats(engine, predicate, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        s = engine.stats()
        if predicate(s):
            return s
        if time.monotonic() > deadline:
            raise AssertionError(f"engine stats: {what} not reached within {timeout} s: {s}")
        time.sleep(0.01)


def received_records(r: collector.Collector):
    """[(request_index, ResourceLogs, ScopeLogs, LogRecord)] from the receiver's logs.jsonl."""
    lines = [ln for ln in (r.out / "logs.jsonl").read_text(encoding="utf-8").split("\n") if ln]
    return oracle.flatten([oracle.json_line_to_request(ln) for ln in lines]), len(lines)


# ---- the corpus -------------------------------------------------------------------------------

T0 = 1_700_000_000_000_000_000
TRACE_ID = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
SPAN_ID = bytes.fromhex("00f067aa0ba902b7")

SCOPES = {
    "app": ("app.main", "1.2.3", "https://opentelemetry.io/schemas/1.26.0",
            [("scope.kind", "primary"), ("scope.n", 7)]),
    "db": ("db.client", "0.9", "", [("db.system", "postgresql")]),
    "intl": ("ünïcödé.スコープ", "β-2", "", None),
}

VALUES = [
    "plain ascii",
    "héllo wörld — ✓ 日本語 🎉",
    "",
    0, 1, -1, otb.INT64_MAX, otb.INT64_MIN,
    0.0, 3.141592653589793, -2.5e-300, 1.7976931348623157e308,
    True, False,
    b"", b"\x00\x01\xfe\xffbinary", bytes(range(256)),
    [1, "two", 3.0, False, b"\x05", [], {"k": "v"}],
    Map([("outer", Map([("inner", [1, 2, Map([("deep", "é")])])])), ("n", -42)]),
    [],
    {},
]


def corpus():
    """[(scope key, emit kwargs)] with unique times: the time identifies a record on arrival."""
    cases = []
    i = 0
    for sk in SCOPES:
        for vi, v in enumerate(VALUES):
            kw = dict(time_unix_nano=T0 + i, observed_unix_nano=T0 + 10_000 + i,
                      severity_number=(i % 24) + 1, severity_text=["INFO", "WARN", "ERRÖR"][i % 3],
                      body=v,
                      attrs=[("index", i), ("value", v), ("str", f"s{i}-ü"), ("dbl", i + 0.5),
                             ("flag", i % 2 == 0), ("raw", bytes([i % 256, 255]))])
            if vi % 3 == 0:
                kw["ctx"] = dict(trace_id=TRACE_ID, span_id=SPAN_ID, trace_flags=1 if vi % 2 else 0)
            if vi % 4 == 0:
                kw["event_name"] = f"event.{sk}.{vi}"
            cases.append((sk, kw))
            i += 1
    return cases


def ref_record(kw: dict) -> LogRecord:
    rec = LogRecord(time_unix_nano=kw["time_unix_nano"],
                    observed_time_unix_nano=kw["observed_unix_nano"],
                    severity_number=kw["severity_number"], severity_text=kw["severity_text"],
                    event_name=kw.get("event_name", ""))
    rec.body.CopyFrom(ref_value(kw["body"]))
    for k, v in kw["attrs"]:
        rec.attributes.append(KeyValue(key=k, value=ref_value(v)))
    if "ctx" in kw:
        rec.trace_id = kw["ctx"]["trace_id"]
        rec.span_id = kw["ctx"]["span_id"]
        rec.flags = kw["ctx"]["trace_flags"]
    return rec


def ref_scope(key: str) -> InstrumentationScope:
    name, version, _schema, attrs = SCOPES[key]
    sc = InstrumentationScope(name=name, version=version)
    for k, v in attrs or []:
        sc.attributes.append(KeyValue(key=k, value=ref_value(v)))
    return sc


def emit_corpus(engine) -> list:
    handles = {k: engine.scope(n, v, schema, attrs) for k, (n, v, schema, attrs) in SCOPES.items()}
    cases = corpus()
    for sk, kw in cases:
        st = engine.emit(handles[sk], **kw)
        assert st == otb.OTEL_OK, f"emit {kw['time_unix_nano'] - T0}: {otb.status_name(st)}"
    return cases


# ---- tests ------------------------------------------------------------------------------------

HTTP_PROTOCOLS = ["http/protobuf", "http/json"]
CONTENT_TYPE = {"http/protobuf": "application/x-protobuf", "http/json": "application/json"}


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("protocol", HTTP_PROTOCOLS)
def test_corpus_arrives_field_by_field(rx, otlp, protocol, gzip):
    diag, factory = otlp
    extra = {"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"} if gzip else {}
    # A batch size that splits the corpus into several requests.
    e = new_engine(factory, rx.http_endpoint, protocol, OTEL_BLRP_MAX_EXPORT_BATCH_SIZE=25, **extra)
    cases = emit_corpus(e)
    n = len(cases)
    assert e.lib.engine_flush(e.engine, 10000) == otb.OTEL_OK, f"flush; diagnostics:\n{diag.dump()}"
    assert e.shutdown(5000) == otb.OTEL_OK
    s = e.stats()
    assert_accounting(s, n, exported=n)
    batches = s["export_batches"]

    st = rx.signal_stats("logs")
    assert st["items"] == n and st["accepted"] == st["requests"] == batches, (
        f"receiver: {st['items']} items in {st['accepted']}/{st['requests']} requests; the engine "
        f"exported {n} in {batches} batches")
    assert st["transports"] == {"http": batches}, st["transports"]
    assert st["content_types"] == {CONTENT_TYPE[protocol]: batches}, st["content_types"]
    assert st["encodings"] == {("gzip" if gzip else "identity"): batches}, st["encodings"]

    recs, n_lines = received_records(rx)
    assert n_lines == batches
    by_time = {}
    for _, rl, sl, rec in recs:
        assert rec.time_unix_nano not in by_time, f"record {rec.time_unix_nano - T0} arrived twice"
        by_time[rec.time_unix_nano] = (rl, sl, rec)
    assert len(by_time) == n, f"{len(by_time)} distinct records arrived, {n} emitted"

    problems = []
    for sk, kw in cases:
        rl, sl, rec = by_time[kw["time_unix_nano"]]
        tag = f"record {kw['time_unix_nano'] - T0} (scope {sk})"
        problems += [f"{tag}: {d}" for d in oracle.diff_messages(rec, ref_record(kw))]
        problems += [f"{tag} scope: {d}" for d in oracle.diff_messages(sl.scope, ref_scope(sk))]
        if sl.schema_url != SCOPES[sk][2]:
            problems.append(f"{tag}: schema_url {sl.schema_url!r}, expected {SCOPES[sk][2]!r}")
        res = {kv.key: kv.value for kv in rl.resource.attributes}
        if res.get("service.name") != AnyValue(string_value="otlp-e2e"):
            problems.append(f"{tag}: resource service.name {res.get('service.name')}")
    assert not problems, f"{len(problems)} difference(s):\n" + "\n".join(problems[:40])
    assert not [m for lvl, m in diag.messages if lvl <= OTEL_DIAG_WARN], (
        f"warnings/errors on a clean run:\n{diag.dump()}")


SECRET = "s3cr3t-Tok3n/xyz"


@pytest.mark.parametrize("protocol", HTTP_PROTOCOLS + ["grpc"])
def test_headers_arrive_and_secret_never_in_diagnostics(rx, otlp, protocol):
    diag, factory = otlp
    # Values are percent-decoded (spec): "Bearer%20..." arrives as "Bearer ...".
    headers = f"x-tenant=acme,authorization=Bearer%20{SECRET},x-secret-header={SECRET}"
    e = new_engine(factory, endpoint_for(rx, protocol), protocol,
                   OTEL_EXPORTER_OTLP_HEADERS=headers, OTEL_EXPORTER_OTLP_TIMEOUT=3000,
                   OTEL_LOG_LEVEL="debug")
    sc = e.scope("hdr")
    assert e.emit(sc, body="one") == otb.OTEL_OK
    assert e.lib.engine_flush(e.engine, 5000) == otb.OTEL_OK
    st = rx.signal_stats("logs")
    h = st["last_headers"]
    assert h.get("x-tenant") == ["acme"], f"x-tenant: {h}"
    assert h.get("authorization") == [f"Bearer {SECRET}"], f"authorization: {h}"
    assert h.get("x-secret-header") == [SECRET], f"x-secret-header: {h}"

    # Now make every kind of failure the exporter reports: retried, permanent, partial, down.
    rx.set_fault("unavailable", count=1)
    assert e.emit(sc, body="retried") == otb.OTEL_OK
    assert e.lib.engine_flush(e.engine, 5000) == otb.OTEL_OK
    rx.set_fault("invalid", count=1)
    assert e.emit(sc, body="dropped") == otb.OTEL_OK
    assert e.lib.engine_flush(e.engine, 5000) == otb.OTEL_OK
    rx.set_fault("partial", count=1, rejected=1, message="rejected for a reason")
    assert e.emit(sc, body="partial") == otb.OTEL_OK
    assert e.lib.engine_flush(e.engine, 5000) == otb.OTEL_OK
    rx.kill()
    assert e.emit(sc, body="receiver gone") == otb.OTEL_OK
    e.lib.engine_flush(e.engine, 5000)
    assert e.shutdown(5000) == otb.OTEL_OK
    s = e.stats()
    assert_accounting(s, 5, exported=2, failed=2, rejected=1)
    assert len(diag.texts()) >= 4, f"the failures above must be reported:\n{diag.dump()}"
    leaked = [m for m in diag.texts() if SECRET in m or "acme" in m]
    assert not leaked, f"a header value appears in diagnostics:\n" + "\n".join(leaked)
