"""otelbridge.api.trace.TracerProvider: opentelemetry-api tracing on the otelbridge engine.

Child processes set the provider with opentelemetry.trace.set_tracer_provider, use the API as
instrumentation packages do, and report ids read through the API; the file exporter's OTLP/JSON is
decoded with the official opentelemetry-proto classes and compared field by field.
"""

from __future__ import annotations

from opentelemetry.proto.trace.v1 import trace_pb2

from binding_otlp import attrs_of, by_name, decode_file, logs_of, run_child, spans_of

PRE = r'''
import asyncio, json, logging, sys
import otelbridge
from opentelemetry import trace, context, propagate
from opentelemetry.trace import SpanKind, Status, StatusCode, Link
from otelbridge.api import TracerProvider
out = sys.argv[1]
otelbridge.configure(service_name="api-test", traces_exporter="file", logs_exporter="file",
                     metrics_exporter="none", otelbridge_file_path=out,
                     otelbridge_file_format="json", bsp_schedule_delay=60000,
                     blrp_schedule_delay=60000)
trace.set_tracer_provider(TracerProvider())
log = logging.getLogger("app")
log.setLevel(logging.INFO)
def ids(s):
    c = s.get_span_context()
    return [format(c.trace_id, "032x"), format(c.span_id, "016x")]
'''

KIND = trace_pb2.Span
ST = trace_pb2.Status


def test_api_spans_fields(pkg_dir, tmp_path):
    r = run_child(pkg_dir, PRE + r'''
assert isinstance(trace.get_tracer_provider(), TracerProvider)
t = trace.get_tracer("api.lib", "0.9", schema_url="https://opentelemetry.io/schemas/1.24.0")
res = {}
lk = trace.SpanContext(0x11111111111111111111111111111111, 0x2222222222222222, is_remote=True,
                       trace_flags=trace.TraceFlags(1),
                       trace_state=trace.TraceState([("k", "v")]))
with t.start_as_current_span("server", kind=SpanKind.SERVER, attributes={"a": 1, "b": ["x"]},
                             links=[Link(lk, {"why": "batch"})]) as s:
    assert trace.get_current_span() is s
    assert s.is_recording()
    res["server"] = ids(s)
    s.set_attribute("c", 2.5)
    s.add_event("evt", {"e": True}, timestamp=1_800_000_000_000_000_000)
    with t.start_as_current_span("client", kind=SpanKind.CLIENT) as c:
        res["client"] = ids(c)
        c.set_status(Status(StatusCode.ERROR, "upstream 503"))
    try:
        with t.start_as_current_span("failing") as f:
            raise ValueError("nope")
    except ValueError:
        pass
    m = t.start_span("manual", kind=SpanKind.CONSUMER)
    with trace.use_span(m, end_on_exit=True):
        assert trace.get_current_span() is m
        res["manual"] = ids(m)
    root = t.start_span("detached", context=context.Context())
    res["detached"] = ids(root)
    root.end()
    ctx = trace.set_span_in_context(m)
    child = t.start_span("explicit-parent", context=ctx)
    res["explicit"] = ids(child)
    child.end()
    with t.start_span("as-cm") as cm:   # ends, records: as the SDK's Span.__exit__
        res["as-cm"] = ids(cm)
assert s.get_span_context().span_id == int(res["server"][1], 16)  # readable after the end
assert not s.is_recording()
@t.start_as_current_span("deco-async", kind=SpanKind.PRODUCER)
async def job():
    await asyncio.sleep(0.01)
    return ids(trace.get_current_span())
res["deco"] = asyncio.run(job())
otelbridge.shutdown()
print(json.dumps(res))
''', tmp_path)
    res = r.result
    traces, _ = decode_file(tmp_path / "out.jsonl")
    spans = spans_of(traces)
    sp = by_name(spans)
    assert set(sp) == {"server", "client", "failing", "manual", "detached", "explicit-parent",
                       "as-cm", "deco-async"}
    assert len(spans) == 8
    scope, server = sp["server"]
    assert scope.name == "api.lib" and scope.version == "0.9"
    assert server.span_id.hex() == res["server"][1] and server.parent_span_id == b""
    assert server.kind == KIND.SPAN_KIND_SERVER
    assert attrs_of(server) == {"a": 1, "b": ["x"], "c": 2.5}
    assert [(e.name, e.time_unix_nano, attrs_of(e)) for e in server.events] == \
        [("evt", 1_800_000_000_000_000_000, {"e": True})]
    (ln,) = server.links
    assert ln.trace_id.hex() == "11" * 16 and ln.span_id.hex() == "22" * 8
    assert ln.trace_state == "k=v" and attrs_of(ln) == {"why": "batch"}
    _, client = sp["client"]
    assert client.parent_span_id == server.span_id and client.kind == KIND.SPAN_KIND_CLIENT
    assert client.status.code == ST.STATUS_CODE_ERROR and client.status.message == "upstream 503"
    _, failing = sp["failing"]
    assert failing.parent_span_id == server.span_id
    assert failing.status.code == ST.STATUS_CODE_ERROR
    assert failing.status.message == "ValueError: nope"
    (ev,) = failing.events
    assert ev.name == "exception" and attrs_of(ev)["exception.type"] == "ValueError"
    assert attrs_of(ev)["exception.escaped"] == "False"
    _, manual = sp["manual"]
    assert manual.parent_span_id == server.span_id and manual.kind == KIND.SPAN_KIND_CONSUMER
    _, detached = sp["detached"]
    assert detached.parent_span_id == b"" and detached.trace_id != server.trace_id
    _, explicit = sp["explicit-parent"]
    assert explicit.parent_span_id == manual.span_id
    _, ascm = sp["as-cm"]
    assert ascm.parent_span_id == server.span_id and ascm.span_id.hex() == res["as-cm"][1]
    _, deco = sp["deco-async"]
    assert deco.kind == KIND.SPAN_KIND_PRODUCER and deco.span_id.hex() == res["deco"][1]
    assert deco.end_time_unix_nano - deco.start_time_unix_nano >= 10_000_000


def test_propagators_and_remote_parents(pkg_dir, tmp_path):
    r = run_child(pkg_dir, PRE + r'''
t = trace.get_tracer("prop")
headers = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
           "tracestate": "rojo=00f067aa0ba902b7"}
ctx = propagate.extract(headers)
with t.start_as_current_span("handler", context=ctx, kind=SpanKind.SERVER) as h:
    res = {"handler": ids(h)}
    carrier = {}
    propagate.inject(carrier)
    res["carrier"] = carrier
# an extracted context attached (as Django/Flask instrumentations do), then a span
token = context.attach(ctx)
with t.start_as_current_span("attached") as a:
    res["attached"] = ids(a)
context.detach(token)
otelbridge.shutdown()
print(json.dumps(res))
''', tmp_path)
    res = r.result
    tp = res["carrier"]["traceparent"]
    assert tp == f"00-0af7651916cd43dd8448eb211c80319c-{res['handler'][1]}-01"
    assert res["carrier"]["tracestate"] == "rojo=00f067aa0ba902b7"
    traces, _ = decode_file(tmp_path / "out.jsonl")
    sp = by_name(spans_of(traces))
    for name in ("handler", "attached"):
        s = sp[name][1]
        assert s.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c"
        assert s.parent_span_id.hex() == "b7ad6b7169203331"
        assert s.flags & 0x300 == 0x300
        assert s.trace_state == "rojo=00f067aa0ba902b7"


def test_mixing_native_and_api_spans_and_log_correlation(pkg_dir, tmp_path):
    r = run_child(pkg_dir, PRE + r'''
from otelbridge import trace as native
nt = native.get_tracer("native")
at = trace.get_tracer("api")
res = {}
log.info("none")
# native inside API inside native inside API
with at.start_as_current_span("api-outer") as a1:
    res["api-outer"] = ids(a1)
    log.info("in api-outer")
    with nt.start_as_current_span("native-1") as n1:
        res["native-1"] = ids(n1)
        log.info("in native-1")
        assert native.get_current_span() is n1
        with at.start_as_current_span("api-inner") as a2:
            res["api-inner"] = ids(a2)
            log.info("in api-inner")
            assert native.get_current_span() is a2._otelbridge_span
            with nt.start_as_current_span("native-2") as n2:
                res["native-2"] = ids(n2)
                log.info("in native-2")
            log.info("in api-inner again")
        log.info("in native-1 again")
        # an API span started (not made current) inside a native span: its parent is native-1
        x = at.start_span("api-started")
        res["api-started"] = ids(x)
        x.end()
    log.info("in api-outer again")
# tasks: each task's nesting is its own
async def task(i):
    with at.start_as_current_span(f"t{i}-api") as a:
        res[f"t{i}-api"] = ids(a)
        await asyncio.sleep(0.005 * (3 - i))
        with nt.start_as_current_span(f"t{i}-native") as n:
            res[f"t{i}-native"] = ids(n)
            await asyncio.sleep(0.001)
            log.info(f"task {i}")
async def main():
    await asyncio.gather(*(task(i) for i in range(3)))
asyncio.run(main())
otelbridge.shutdown()
print(json.dumps(res))
''', tmp_path)
    res = r.result
    traces, logs = decode_file(tmp_path / "out.jsonl")
    sp = {k: v[1] for k, v in by_name(spans_of(traces)).items()}
    assert len(sp) == 5 + 6
    parents = {"api-outer": None, "native-1": "api-outer", "api-inner": "native-1",
               "native-2": "api-inner", "api-started": "native-1"}
    parents.update({f"t{i}-api": None for i in range(3)})
    parents.update({f"t{i}-native": f"t{i}-api" for i in range(3)})
    for name, parent in parents.items():
        s = sp[name]
        assert s.span_id.hex() == res[name][1], name
        if parent is None:
            assert s.parent_span_id == b"", name
        else:
            assert s.parent_span_id == sp[parent].span_id, (name, parent)
            assert s.trace_id == sp[parent].trace_id, name
    recs = {rec.body.string_value: rec for _, _, rec in logs_of(logs)}
    expect = {"in api-outer": "api-outer", "in native-1": "native-1", "in api-inner": "api-inner",
              "in native-2": "native-2", "in api-inner again": "api-inner",
              "in native-1 again": "native-1", "in api-outer again": "api-outer"}
    expect.update({f"task {i}": f"t{i}-native" for i in range(3)})
    assert set(recs) == set(expect) | {"none"}
    assert recs["none"].span_id == b"" and recs["none"].trace_id == b""
    for body, name in expect.items():
        assert recs[body].span_id.hex() == res[name][1], body
        assert recs[body].trace_id.hex() == res[name][0], body


def test_sdk_spans_are_parents_and_correlate_without_our_provider(pkg_dir, tmp_path):
    """With the official SDK's TracerProvider (not ours), our log handler still reads the API's
    current span, and a native span inside an SDK span is its child (a remote-style parent)."""
    r = run_child(pkg_dir, r'''
import json, logging, sys
import otelbridge
otelbridge.configure(traces_exporter="file", logs_exporter="file", metrics_exporter="none",
                     otelbridge_file_path=sys.argv[1], otelbridge_file_format="json")
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
trace.set_tracer_provider(TracerProvider())
from otelbridge import trace as native
log = logging.getLogger("x"); log.setLevel(logging.INFO)
with trace.get_tracer("sdk").start_as_current_span("sdk-span") as s:
    c = s.get_span_context()
    log.info("in sdk span")
    with native.get_tracer("n").start_as_current_span("native-child") as n:
        nid = format(n.get_span_context().span_id, "016x")
otelbridge.shutdown()
print(json.dumps([format(c.trace_id, "032x"), format(c.span_id, "016x"), nid]))
''', tmp_path)
    tid, sid, nid = r.result
    traces, logs = decode_file(tmp_path / "out.jsonl")
    (rec,) = [rec for _, _, rec in logs_of(logs)]
    assert rec.trace_id.hex() == tid and rec.span_id.hex() == sid
    (nspan,) = [s for _, _, s in spans_of(traces)]
    assert nspan.name == "native-child" and nspan.span_id.hex() == nid
    assert nspan.trace_id.hex() == tid and nspan.parent_span_id.hex() == sid


def test_api_after_shutdown_does_not_raise(pkg_dir, tmp_path):
    r = run_child(pkg_dir, PRE + r'''
t = trace.get_tracer("late")
otelbridge.shutdown()
with t.start_as_current_span("after", attributes={"a": 1}) as s:
    s.set_attribute("b", 2); s.add_event("e"); s.set_status(Status(StatusCode.OK))
    s.record_exception(ValueError("x")); s.update_name("z")
    assert not s.is_recording()
    carrier = {}
    propagate.inject(carrier)
    log.info("after shutdown")
print(json.dumps({"ok": True}))
''', tmp_path)
    assert r.result == {"ok": True} and r.stderr == ""
    traces, logs = decode_file(tmp_path / "out.jsonl")
    assert spans_of(traces) == [] and logs_of(logs) == []


def test_opentelemetry_is_not_imported_by_the_native_paths(pkg_dir, tmp_path):
    r = run_child(pkg_dir, r'''
import json, logging, sys
import otelbridge
from otelbridge import trace
otelbridge.configure(traces_exporter="none", logs_exporter="none", metrics_exporter="none",
                     python_log_correlation=True)
with trace.get_tracer("n").start_as_current_span("s"):
    logging.getLogger("q").warning("w")
print(json.dumps(sorted(m for m in sys.modules if m.startswith("opentelemetry"))))
''', tmp_path)
    assert r.result == []
