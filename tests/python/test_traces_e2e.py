"""Spans end to end: libotelbridge -> the OpenTelemetry Collector's real otlpreceiver
(tests/collector, via collector.py), over OTLP http/protobuf and gRPC.

One three-level trace (SERVER root -> INTERNAL child -> CLIENT grandchild) with events, a link, an
exception recorded with otel_span_record_exception and an error status on the grandchild, and two
log records emitted inside it with ctx NULL while the spans are current. The receiver's
traces.jsonl and logs.jsonl (pdata's OTLP/JSON) are parsed with the official opentelemetry-proto
package; every span is compared field by field with the reference model of
test_traces_fidelity.py (Recorder), the tree is checked explicitly, the logs must carry the ids of
the span that was current, and both sides' counts are exact.
"""

from __future__ import annotations

import copy

import pytest

import collector
import oracle
import otb
from otb import Link, Parent
from test_traces_fidelity import (
    T0, Limits, Recorder, flatten_spans, json_line_to_trace_request, trace_stats,
)

PROTOCOLS = ["http/protobuf", "grpc"]
SERVICE = "traces-e2e-svc"
LINKED_TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
LINKED_SPAN = bytes.fromhex("b7ad6b7169203331")


# rx (the receiver): conftest.py


def _lines(rx, signal: str) -> list[str]:
    """The receiver's <signal>.jsonl, one OTLP/JSON request per line (parsed strictly by the caller)."""
    path = rx.out / f"{signal}.jsonl"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return [ln for ln in text.split("\n") if ln]


def _endpoint(rx, protocol: str) -> str:
    return rx.grpc_endpoint if protocol == "grpc" else rx.http_endpoint


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_three_level_trace_with_logs_arrives_intact(rx, engine_factory, protocol):
    e = engine_factory(config={
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_ENDPOINT": _endpoint(rx, protocol),
        "OTEL_BSP_SCHEDULE_DELAY": "60000",   # everything leaves in the shutdown flush
        "OTEL_BLRP_SCHEDULE_DELAY": "60000",
        "OTEL_SERVICE_NAME": SERVICE,
    }, name=f"e2e-{protocol.replace('/', '-')}")
    lib = e.lib
    scope = e.scope("otelbridge.e2e", "9.9.9")
    r = Recorder(lib, {"s1": scope}, Limits())

    root = r.start("root", "GET /checkout", otb.OTEL_SPAN_KIND_SERVER, T0 + 1, Parent.root(),
                   attrs=[("http.request.method", "GET"), ("url.path", "/checkout"),
                          ("http.response.status_code", 500)])
    r.add_event(root, "request.received", T0 + 2, [("bytes", 123)])
    tok_root = r.attach(root)
    try:
        child = r.start("child", "checkout.process", otb.OTEL_SPAN_KIND_INTERNAL, T0 + 3, None,
                        attrs=[("cart.items", 3), ("cart.ids", ["a", "b", "c"])],
                        links=[Link(LINKED_TRACE, LINKED_SPAN, 1, 1, "vendor=x",
                                    [("link.reason", "batch")])])
        tok_child = r.attach(child)
        try:
            r.add_event(child, "cart.loaded", T0 + 4, [("ok", True)])
            assert e.emit(scope, time_unix_nano=T0 + 5, severity_number=9, severity_text="INFO", body="processing cart") == otb.OTEL_OK
            gc = r.start("grandchild", "POST payments", otb.OTEL_SPAN_KIND_CLIENT, T0 + 6, None,
                         attrs=[("server.address", "payments.internal"), ("server.port", 443)])
            tok_gc = r.attach(gc)
            try:
                r.record_exception(gc, "PaymentDeclined", "card declined ✗",
                                   "Traceback (most recent call last):\n  File \"pay.py\", line 1",
                                   [("exception.escaped", True)], T0 + 7)
                r.set_status(gc, otb.OTEL_STATUS_ERROR, "payment failed")
                assert e.emit(scope, time_unix_nano=T0 + 8, severity_number=17, severity_text="ERROR",
                              body="payment failed", attrs=[("order", 42)]) == otb.OTEL_OK
            finally:
                r.restore(tok_gc)
            r.end(gc, T0 + 9)
        finally:
            r.restore(tok_child)
        r.add_event(child, "cart.done", T0 + 10)
        r.end(child, T0 + 11)
    finally:
        r.restore(tok_root)
    r.set_status(root, otb.OTEL_STATUS_ERROR, "upstream failure")
    r.end(root, T0 + 12)
    assert not r.errors, r.errors

    assert e.shutdown(10000) == otb.OTEL_OK, "otel_engine_shutdown"
    tstats = trace_stats(lib, e.engine)
    lstats = e.stats()
    assert e.free() == otb.OTEL_OK

    # -- what the receiver wrote
    treqs = [json_line_to_trace_request(line) for line in _lines(rx, "traces")]
    spans = flatten_spans(treqs)
    got = {sp.span_id: (rs, ss, sp) for _, rs, ss, sp in spans}
    assert len(spans) == 3 and len(got) == 3, (
        f"[{protocol}] the receiver got {len(spans)} spans: {[sp.name for *_, sp in spans]}")

    for ref in (root, child, gc):
        assert ref.span_id in got, f"[{protocol}] span {ref.label} ({ref.span_id.hex()}) did not arrive"
        rs, ss, sp = got[ref.span_id]
        assert ss.scope.name == "otelbridge.e2e" and ss.scope.version == "9.9.9", ss.scope
        want = r.expected_span(ref)
        if sp.HasField("status") and sp.status.code == 0 and not sp.status.message:
            sp = copy.deepcopy(sp)
            sp.ClearField("status")
        diffs = oracle.diff_messages(sp, want, ref.label)
        assert not diffs, f"[{protocol}] {ref.label} differs after the receiver:\n  " + "\n  ".join(diffs)
        svc = {kv.key: kv.value.string_value for kv in rs.resource.attributes}.get("service.name")
        assert svc == SERVICE, f"resource service.name: {svc!r}"

    # -- the tree, spelled out
    _, _, groot = got[root.span_id]
    _, _, gchild = got[child.span_id]
    _, _, ggc = got[gc.span_id]
    assert {s.trace_id for s in (groot, gchild, ggc)} == {root.trace_id}, "one trace"
    assert groot.parent_span_id == b"", "the root has no parent"
    assert gchild.parent_span_id == groot.span_id, "child -> root"
    assert ggc.parent_span_id == gchild.span_id, "grandchild -> child"
    assert (groot.kind, gchild.kind, ggc.kind) == (2, 1, 3), "SERVER, INTERNAL, CLIENT"
    assert [ev.name for ev in groot.events] == ["request.received"]
    assert [ev.name for ev in gchild.events] == ["cart.loaded", "cart.done"]
    assert len(gchild.links) == 1 and gchild.links[0].trace_id == LINKED_TRACE \
        and gchild.links[0].span_id == LINKED_SPAN and gchild.links[0].trace_state == "vendor=x" \
        and gchild.links[0].flags == 0x301, gchild.links
    exc = [ev for ev in ggc.events if ev.name == "exception"]
    assert len(exc) == 1, ggc.events
    attrs = {kv.key: kv.value for kv in exc[0].attributes}
    assert attrs["exception.type"].string_value == "PaymentDeclined"
    assert attrs["exception.message"].string_value == "card declined ✗"
    assert attrs["exception.stacktrace"].string_value.startswith("Traceback")
    assert attrs["exception.escaped"].bool_value is True
    assert ggc.status.code == 2 and ggc.status.message == "payment failed", ggc.status
    assert groot.flags == gchild.flags == ggc.flags == 0x101, \
        [hex(s.flags) for s in (groot, gchild, ggc)]

    # -- the logs carry the span that was current
    lreqs = [oracle.json_line_to_request(line) for line in _lines(rx, "logs")]
    recs = {rec.time_unix_nano: rec for _, _, _, rec in oracle.flatten(lreqs)}
    assert sorted(recs) == [T0 + 5, T0 + 8], f"[{protocol}] log records: {sorted(recs)}"
    for t, ref in ((T0 + 5, child), (T0 + 8, gc)):
        rec = recs[t]
        assert (rec.trace_id, rec.span_id, rec.flags) == (ref.trace_id, ref.span_id, 1), (
            f"log {rec.body.string_value!r} must carry {ref.label}: trace {ref.trace_id.hex()} span "
            f"{ref.span_id.hex()} flags 1; got {rec.trace_id.hex()} {rec.span_id.hex()} {rec.flags}")

    # -- counts, both sides
    assert (tstats["accepted"], tstats["exported"]) == (3, 3), f"traces stats: {tstats}"
    for k in ("failed", "rejected", "dropped_queue_full", "dropped_shutdown", "queued", "in_flight"):
        assert tstats[k] == 0, f"traces stats.{k}: {tstats}"
    assert (lstats["accepted"], lstats["exported"]) == (2, 2), f"logs stats: {lstats}"
    rstats = rx.stats()
    assert rstats["traces"]["items"] == 3, f"receiver traces: {rstats['traces']}"
    assert rstats["logs"]["items"] == 2, f"receiver logs: {rstats['logs']}"
    assert rstats["traces"]["requests"] == tstats["export_batches"], (
        f"one receiver request per export batch: {rstats['traces']['requests']} vs {tstats}")
    transport = "grpc" if protocol == "grpc" else "http"
    assert rstats["traces"].get("transports", {}).get(transport) == rstats["traces"]["requests"], \
        rstats["traces"]
