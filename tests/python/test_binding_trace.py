"""otelbridge.trace (the native tracing API) and log correlation.

Each scenario runs in a child process (configure() is process-global) with the file exporter in
OTLP/JSON (logs and traces in one file, told apart by their top-level key); what arrived is parsed
into the official opentelemetry-proto classes and compared field by field with what the child
reports (ids read through the public API) and with values written here.
"""

from __future__ import annotations

import json
import re

import pytest
from opentelemetry.proto.trace.v1 import trace_pb2

import collector
from binding_otlp import attrs_of, by_name, decode_docs, decode_file, logs_of, run_child, spans_of

PRE = r'''
import asyncio, json, logging, sys, time
import otelbridge
from otelbridge import trace
out = sys.argv[1]
otelbridge.configure(service_name="trace-test", traces_exporter="file", logs_exporter="file",
                     metrics_exporter="none", otelbridge_file_path=out,
                     otelbridge_file_format="json", bsp_schedule_delay=60000,
                     blrp_schedule_delay=60000, attach_handler=False)
def ids(s):
    c = s.get_span_context()
    return [format(c.trace_id, "032x"), format(c.span_id, "016x")]
'''

KIND = trace_pb2.Span
ST = trace_pb2.Status


def test_span_fields(pkg_dir, tmp_path):
    r = run_child(pkg_dir, PRE + r'''
class Weird:
    def __str__(self): return "weird!"
t = trace.get_tracer("lib.a", "1.2.3", schema_url="https://opentelemetry.io/schemas/1.21.0",
                     attributes={"scope.k": "v"})
assert trace.get_tracer("lib.a", "1.2.3") is t
res = {}
link_ctx = trace.SpanContext(0xffffffffffffffffffffffffffffff01, 0x1, 1, True, "vendor=x")
with t.start_as_current_span("outer", kind=trace.SpanKind.SERVER, start_time=1_700_000_000_000_000_000,
                             attributes={"s": "x", "i": -7, "f": 1.5, "b": True, "by": b"\x00\xff",
                                         "li": [1, 2], "ls": ("a", "b"), "lb": [True, False],
                                         "lf": [0.5], "mixed": [1, "a"], "obj": Weird(),
                                         "big": 1 << 70, "empty": []},
                             links=[trace.Link(link_ctx, {"link.k": 1})]) as outer:
    res["outer"] = ids(outer)
    assert trace.get_current_span() is outer
    outer.set_attribute("late", "yes")
    outer.set_attributes({"s": "overwritten"})
    outer.add_event("ev1", {"e.k": 2}, timestamp=1_700_000_000_000_000_500)
    outer.add_event("ev2")
    outer.add_link(trace.SpanContext(0xabc, 0xdef, 0, False), {"n": 3})
    with t.start_as_current_span("inner", kind=trace.SpanKind.CLIENT) as inner:
        res["inner"] = ids(inner)
        assert trace.get_current_span() is inner
        inner.update_name("inner-renamed")
        inner.set_status(trace.StatusCode.OK)
        inner.set_status(trace.StatusCode.ERROR, "ignored after OK")
    try:
        with t.start_as_current_span("boom", kind=trace.SpanKind.PRODUCER) as boom:
            res["boom"] = ids(boom)
            raise ValueError("bad value")
    except ValueError:
        pass
    try:
        with t.start_as_current_span("quiet", record_exception=False,
                                     set_status_on_exception=False) as q:
            raise KeyError("k")
    except KeyError:
        pass
    s = t.start_span("manual", kind=trace.SpanKind.CONSUMER)
    assert trace.get_current_span() is outer  # start_span does not make it current
    s.set_status(trace.Status(trace.StatusCode.ERROR, "described"))
    s.record_exception(RuntimeError("rec"), {"extra": 1})
    res["manual"] = ids(s)
    s.end(end_time=2_000_000_000_000_000_000)
    s.end()  # twice: no effect, no error
    s.set_attribute("after.end", 1)  # ignored
    assert not s.is_recording()
    assert ids(s) == res["manual"]  # still readable after the end
    root = t.start_span("root", parent=None)
    res["root"] = ids(root)
    root.end()
assert trace.get_current_span().get_span_context().is_valid is False
otelbridge.shutdown()
print(json.dumps(res))
''', tmp_path)
    res = r.result
    traces, logs = decode_file(tmp_path / "out.jsonl")
    assert logs == []
    spans = spans_of(traces)
    assert len(spans) == 6
    sp = by_name(spans)
    assert set(sp) == {"outer", "inner-renamed", "boom", "quiet", "manual", "root"}
    for scope, s in sp.values():
        assert scope.name == "lib.a" and scope.version == "1.2.3"
        assert attrs_of(scope) == {"scope.k": "v"}
    for _, ss in [(rs, ss) for req in traces for rs in req.resource_spans for ss in rs.scope_spans]:
        assert ss.schema_url == "https://opentelemetry.io/schemas/1.21.0"
    res_attrs = attrs_of(spans[0][0])
    assert res_attrs["service.name"] == "trace-test"
    assert res_attrs["telemetry.sdk.language"] == "python"

    _, outer = sp["outer"]
    assert outer.trace_id.hex() == res["outer"][0] and outer.span_id.hex() == res["outer"][1]
    assert outer.parent_span_id == b""
    assert outer.kind == KIND.SPAN_KIND_SERVER
    assert outer.start_time_unix_nano == 1_700_000_000_000_000_000
    assert outer.end_time_unix_nano > outer.start_time_unix_nano
    assert attrs_of(outer) == {
        "s": "overwritten", "i": -7, "f": 1.5, "b": True, "by": b"\x00\xff", "li": [1, 2],
        "ls": ["a", "b"], "lb": [True, False], "lf": [0.5], "mixed": "[1, 'a']",
        "obj": "weird!", "big": str(1 << 70), "empty": [], "late": "yes"}
    assert [(e.name, e.time_unix_nano, attrs_of(e)) for e in outer.events][0] == \
        ("ev1", 1_700_000_000_000_000_500, {"e.k": 2})
    assert outer.events[1].name == "ev2" and attrs_of(outer.events[1]) == {}
    assert len(outer.events) == 2
    assert len(outer.links) == 2
    l0, l1 = outer.links
    assert l0.trace_id.hex() == "ffffffffffffffffffffffffffffff01"
    assert l0.span_id.hex() == "0000000000000001"
    assert l0.trace_state == "vendor=x" and attrs_of(l0) == {"link.k": 1}
    assert l0.flags & 0xFF == 1 and l0.flags & 0x300 == 0x300  # sampled, remote
    assert l1.trace_id.hex() == f"{0xabc:032x}" and l1.span_id.hex() == f"{0xdef:016x}"
    assert attrs_of(l1) == {"n": 3} and l1.flags & 0x300 == 0x100
    assert outer.status.code == ST.STATUS_CODE_UNSET

    _, inner = sp["inner-renamed"]
    assert inner.trace_id == outer.trace_id and inner.parent_span_id == outer.span_id
    assert inner.span_id.hex() == res["inner"][1]
    assert inner.kind == KIND.SPAN_KIND_CLIENT
    assert inner.status.code == ST.STATUS_CODE_OK and inner.status.message == ""

    _, boom = sp["boom"]
    assert boom.parent_span_id == outer.span_id and boom.kind == KIND.SPAN_KIND_PRODUCER
    assert boom.status.code == ST.STATUS_CODE_ERROR
    assert boom.status.message == "ValueError: bad value"
    assert len(boom.events) == 1 and boom.events[0].name == "exception"
    ea = attrs_of(boom.events[0])
    assert ea["exception.type"] == "ValueError" and ea["exception.message"] == "bad value"
    assert ea["exception.escaped"] == "False"
    assert ea["exception.stacktrace"].startswith("Traceback (most recent call last):")
    assert ea["exception.stacktrace"].rstrip().endswith("ValueError: bad value")
    assert set(ea) == {"exception.type", "exception.message", "exception.stacktrace",
                       "exception.escaped"}

    _, quiet = sp["quiet"]
    assert quiet.status.code == ST.STATUS_CODE_UNSET and len(quiet.events) == 0

    _, manual = sp["manual"]
    assert manual.parent_span_id == outer.span_id and manual.kind == KIND.SPAN_KIND_CONSUMER
    assert manual.span_id.hex() == res["manual"][1]
    assert manual.end_time_unix_nano == 2_000_000_000_000_000_000
    assert manual.status.code == ST.STATUS_CODE_ERROR and manual.status.message == "described"
    assert "after.end" not in attrs_of(manual)
    me = attrs_of(manual.events[0])
    assert manual.events[0].name == "exception" and me["exception.type"] == "RuntimeError"
    assert me["exception.message"] == "rec" and me["extra"] == 1
    assert me["exception.stacktrace"] == "RuntimeError: rec\n"

    _, root = sp["root"]
    assert root.parent_span_id == b"" and root.trace_id != outer.trace_id
    assert root.trace_id.hex() == res["root"][0]


def test_decorators_sync_and_async(pkg_dir, tmp_path):
    r = run_child(pkg_dir, PRE + r'''
t = trace.get_tracer("deco")
seen = {}
@t.start_as_current_span("sync-fn", attributes={"k": 1})
def f(x):
    seen.setdefault("sync", []).append(ids(trace.get_current_span()))
    return x * 2
@t.start_as_current_span("async-fn", kind=trace.SpanKind.CLIENT)
async def g(x):
    before = ids(trace.get_current_span())
    await asyncio.sleep(0.02)
    assert ids(trace.get_current_span()) == before  # the span covers the await
    with t.start_as_current_span("in-async") as c:
        seen.setdefault("child_of", []).append(before)
    return x + 1
@t.start_as_current_span("async-fail")
async def fail():
    await asyncio.sleep(0)
    raise RuntimeError("async boom")
assert f(2) == 4 and f(3) == 6
assert f.__name__ == "f"
async def main():
    assert await g(1) == 2
    try:
        await fail()
    except RuntimeError:
        pass
asyncio.run(main())
otelbridge.shutdown()
print(json.dumps(seen))
''', tmp_path)
    traces, _ = decode_file(tmp_path / "out.jsonl")
    spans = [s for _, _, s in spans_of(traces)]
    assert sorted(s.name for s in spans) == ["async-fail", "async-fn", "in-async", "sync-fn",
                                             "sync-fn"]
    syncs = [s for s in spans if s.name == "sync-fn"]
    assert {s.span_id.hex() for s in syncs} == {i[1] for i in r.result["sync"]}
    assert all(attrs_of(s) == {"k": 1} and s.parent_span_id == b"" for s in syncs)
    assert syncs[0].trace_id != syncs[1].trace_id  # a new span per call
    a = next(s for s in spans if s.name == "async-fn")
    c = next(s for s in spans if s.name == "in-async")
    assert a.kind == KIND.SPAN_KIND_CLIENT and c.parent_span_id == a.span_id
    assert a.span_id.hex() == r.result["child_of"][0][1]
    assert a.end_time_unix_nano - a.start_time_unix_nano >= 20_000_000  # covers the sleep
    fs = next(s for s in spans if s.name == "async-fail")
    assert fs.status.code == ST.STATUS_CODE_ERROR and fs.status.message == "RuntimeError: async boom"
    assert [e.name for e in fs.events] == ["exception"]



def test_decorated_generators_cover_the_iteration(pkg_dir, tmp_path):
    r = run_child(pkg_dir, PRE + r"""
t = trace.get_tracer("gen")
seen = {"in": [], "between": [], "child_parent": []}
@t.start_as_current_span("gen-fn", attributes={"k": "g"})
def numbers(n):
    for i in range(n):
        seen["in"].append(ids(trace.get_current_span()))
        time.sleep(0.01)
        got = yield i
        if got is not None:
            seen["sent"] = got
    with t.start_as_current_span("in-gen") as c:
        seen["child_parent"].append(ids(trace.get_current_span()))
    return "done"
@t.start_as_current_span("gen-fail")
def failing():
    yield 1
    raise ValueError("gen boom")
@t.start_as_current_span("gen-closed")
def endless():
    while True:
        yield 0
@t.start_as_current_span("agen-fn")
async def anumbers(n):
    for i in range(n):
        seen.setdefault("ain", []).append(ids(trace.get_current_span()))
        await asyncio.sleep(0.01)
        try:
            yield i
        except KeyError:
            seen["athrown"] = True
            yield -1
@t.start_as_current_span("agen-fail")
async def afailing():
    yield 1
    raise RuntimeError("agen boom")

def outer_ids():
    return ids(trace.get_current_span())

with t.start_as_current_span("consumer") as consumer:
    seen["consumer"] = ids(consumer)
    def wrapped():
        return (yield from numbers(3))
    g = wrapped()
    assert next(g) == 0
    seen["between"].append(outer_ids())
    assert g.send("hello") == 1
    seen["between"].append(outer_ids())
    assert next(g) == 2
    try:
        next(g)
    except StopIteration as e:
        seen["returned"] = e.value
    try:
        list(failing())
    except ValueError:
        pass
    for x in endless():
        break
    async def main():
        out = []
        ag = anumbers(2)
        out.append(await ag.__anext__())
        seen["abetween"] = outer_ids()
        out.append(await ag.athrow(KeyError("k")))
        out.extend([x async for x in ag])
        seen["aitems"] = out
        try:
            async for _ in afailing():
                pass
        except RuntimeError:
            pass
    asyncio.run(main())
    seen["after"] = outer_ids()
otelbridge.shutdown()
print(json.dumps(seen))
""", tmp_path)
    seen = r.result
    traces, _ = decode_file(tmp_path / "out.jsonl")
    spans = {s.name: s for _, _, s in spans_of(traces)}
    assert sorted(spans) == ["agen-fail", "agen-fn", "consumer", "gen-closed", "gen-fail",
                             "gen-fn", "in-gen"]
    consumer, gen = spans["consumer"], spans["gen-fn"]
    # the span is current inside the generator's code only, and is the consumer's child
    assert {tuple(i) for i in seen["in"]} == {(gen.trace_id.hex(), gen.span_id.hex())}
    assert len(seen["in"]) == 3
    assert seen["between"] == [seen["consumer"]] * 2 and seen["after"] == seen["consumer"]
    assert gen.parent_span_id == consumer.span_id and attrs_of(gen) == {"k": "g"}
    assert spans["in-gen"].parent_span_id == gen.span_id
    child = spans["in-gen"]
    assert seen["child_parent"] == [[child.trace_id.hex(), child.span_id.hex()]]
    assert seen["sent"] == "hello" and seen["returned"] == "done"
    assert gen.end_time_unix_nano - gen.start_time_unix_nano >= 30_000_000  # the 3 items
    assert gen.status.code == ST.STATUS_CODE_UNSET
    fail = spans["gen-fail"]
    assert fail.status.code == ST.STATUS_CODE_ERROR and fail.status.message == "ValueError: gen boom"
    assert [e.name for e in fail.events] == ["exception"]
    closed = spans["gen-closed"]  # break: close() ends it, GeneratorExit is not an error
    assert closed.status.code == ST.STATUS_CODE_UNSET and list(closed.events) == []
    agen = spans["agen-fn"]
    assert seen["aitems"] == [0, -1, 1] and seen["athrown"] is True
    assert {tuple(i) for i in seen["ain"]} == {(agen.trace_id.hex(), agen.span_id.hex())}
    assert seen["abetween"] == seen["consumer"]
    assert agen.parent_span_id == consumer.span_id
    assert agen.end_time_unix_nano - agen.start_time_unix_nano >= 20_000_000
    afail = spans["agen-fail"]
    assert afail.status.code == ST.STATUS_CODE_ERROR
    assert afail.status.message == "RuntimeError: agen boom"

def test_thousand_asyncio_tasks_each_see_their_own_span(pkg_dir, tmp_path):
    r = run_child(pkg_dir, PRE + r'''
t = trace.get_tracer("tasks")
errors = []
async def task(i):
    with t.start_as_current_span(f"task-{i}", attributes={"i": i}) as s:
        await asyncio.sleep(0.001 * (i % 7))
        if trace.get_current_span() is not s:
            errors.append(i)
        with t.start_as_current_span(f"child-{i}"):
            await asyncio.sleep(0)
        if trace.get_current_span() is not s:
            errors.append(i)
async def main():
    with t.start_as_current_span("parent") as p:
        await asyncio.gather(*(task(i) for i in range(1000)))
        assert trace.get_current_span() is p
asyncio.run(main())
otelbridge.shutdown()
print(json.dumps({"errors": errors}))
''', tmp_path, env={"OTEL_BSP_MAX_QUEUE_SIZE": "4096"})
    assert r.result == {"errors": []}
    traces, _ = decode_file(tmp_path / "out.jsonl")
    spans = {s.name: s for _, _, s in spans_of(traces)}
    assert len(spans) == 2001
    parent = spans["parent"]
    for i in range(1000):
        tk, ch = spans[f"task-{i}"], spans[f"child-{i}"]
        assert tk.parent_span_id == parent.span_id and attrs_of(tk) == {"i": i}
        assert ch.parent_span_id == tk.span_id and ch.trace_id == parent.trace_id


def test_extract_child_and_inject_read_by_the_official_propagator(pkg_dir, tmp_path):
    r = run_child(pkg_dir, PRE + r'''
t = trace.get_tracer("prop")
incoming = {"TraceParent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "tracestate": "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"}
parent = trace.extract(incoming)
assert parent.is_remote and parent.trace_state == "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
out = {}
with t.start_as_current_span("server", kind=trace.SpanKind.SERVER, parent=parent) as s:
    trace.inject(out)
    explicit = {}
    trace.inject(explicit, s.get_span_context())
    assert explicit == out
    res = {"server": ids(s), "headers": out}
none = {}
trace.inject(none)  # no current span: nothing
res["none"] = none
bad = trace.extract({"traceparent": "garbage"})
res["bad_valid"] = bad.is_valid
with t.start_as_current_span("fresh", parent=bad) as f:
    res["fresh"] = ids(f)
otelbridge.shutdown()
print(json.dumps(res))
''', tmp_path)
    res = r.result
    from opentelemetry import trace as api_trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    ctx = TraceContextTextMapPropagator().extract(res["headers"])
    sc = api_trace.get_current_span(ctx).get_span_context()
    assert sc.is_valid and sc.is_remote
    assert format(sc.trace_id, "032x") == res["server"][0] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert format(sc.span_id, "016x") == res["server"][1]
    assert sc.trace_flags == 1
    assert sc.trace_state.to_header() == "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
    assert res["none"] == {} and res["bad_valid"] is False
    traces, _ = decode_file(tmp_path / "out.jsonl")
    sp = by_name(spans_of(traces))
    server = sp["server"][1]
    assert server.parent_span_id.hex() == "00f067aa0ba902b7"
    assert server.trace_id.hex() == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert server.trace_state == "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
    assert server.flags & 0x300 == 0x300  # the parent is remote
    fresh = sp["fresh"][1]
    assert fresh.parent_span_id == b"" and fresh.trace_id.hex() == res["fresh"][0]



def test_baggage_both_ways_with_the_official_w3c_baggage_propagator(pkg_dir, tmp_path):
    from opentelemetry import baggage as api_baggage
    from opentelemetry import context as api_context
    from opentelemetry.baggage.propagation import W3CBaggagePropagator

    # No spaces: the official Python propagator writes a space as "+" (quote_plus), which W3C
    # baggage defines as a literal "+" (the engine keeps it, as the Go and Java SDKs do).
    sent = {"user.id": "u-42", "note": "caf\u00e9&tea,50%off;=ok\"\\", "empty": ""}
    ctx = api_context.Context()
    for k, v in sent.items():
        ctx = api_baggage.set_baggage(k, v, ctx)
    incoming: dict = {}
    W3CBaggagePropagator().inject(incoming, ctx)
    incoming["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    r = run_child(pkg_dir, PRE + r"""
import os
incoming = json.loads(os.environ["INCOMING"])
res = {"extracted": trace.extract_baggage(incoming),
       "parent_ok": trace.extract(incoming).is_valid,
       "no_baggage": trace.extract_baggage({"traceparent": incoming["traceparent"]}),
       "before": trace.get_all_baggage()}
t = trace.get_tracer("bag")
tokens = [trace.set_baggage(k, v) for k, v in res["extracted"].items()]
tok = trace.set_baggage("tenant", "acme corp")
async def task_view():
    trace.set_baggage("task.only", "1")   # a task's change stays in the task
    return trace.get_all_baggage()
res["task"] = asyncio.run(task_view())
with t.start_as_current_span("client", kind=trace.SpanKind.CLIENT) as s:
    out = {}
    trace.inject(out)
    res["out"], res["span"] = out, ids(s)
only_bag = {}
trace.reset_baggage(tok)
trace.remove_baggage("note")
trace.inject(only_bag)                  # no span: baggage only
res["only_bag"] = only_bag
explicit = {}
trace.inject(explicit, baggage={"x": "1"})
res["explicit"] = explicit
# opentelemetry-api baggage in the current API context is part of the current baggage
from opentelemetry import baggage as api_baggage, context as api_context
token = api_context.attach(api_baggage.set_baggage("api.key", "from-api",
                                                   api_baggage.set_baggage("user.id", "api-loses")))
merged = {}
trace.inject(merged)
res["merged"] = merged
api_context.detach(token)
res["get"] = [trace.get_baggage("user.id"), trace.get_baggage("nope")]
otelbridge.shutdown()
print(json.dumps(res))
""", tmp_path, env={"INCOMING": json.dumps(incoming)})
    res = r.result
    assert res["extracted"] == sent and res["parent_ok"] is True
    assert res["no_baggage"] == {} and res["before"] == {}
    assert res["task"] == dict(sent, tenant="acme corp", **{"task.only": "1"})

    def official(headers: dict) -> dict:
        return dict(api_baggage.get_all(W3CBaggagePropagator().extract(headers)))

    assert set(res["out"]) == {"traceparent", "baggage"}
    assert official(res["out"]) == dict(sent, tenant="acme corp")
    assert res["out"]["traceparent"].split("-")[1:3] == res["span"]
    assert set(res["only_bag"]) == {"baggage"}
    assert official(res["only_bag"]) == {"user.id": "u-42", "empty": ""}
    assert official(res["explicit"]) == {"x": "1"}
    assert official(res["merged"]) == {"user.id": "u-42", "empty": "", "api.key": "from-api"}
    assert res["get"] == ["u-42", None]

LOG_PRE = PRE.replace("attach_handler=False", "attach_handler=True")


def test_log_records_carry_the_current_span(pkg_dir, tmp_path):
    r = run_child(pkg_dir, LOG_PRE + r'''
log = logging.getLogger("app")
log.setLevel(logging.INFO)
t = trace.get_tracer("corr")
res = {}
log.info("outside")
with t.start_as_current_span("a") as a:
    res["a"] = ids(a)
    log.info("in a")
    with t.start_as_current_span("b") as b:
        res["b"] = ids(b)
        log.info("in b")
    log.info("in a again")
async def worker(i):
    with t.start_as_current_span(f"w{i}") as w:
        res[f"w{i}"] = ids(w)
        await asyncio.sleep(0.01 * (2 - i))
        log.info(f"worker {i}")
async def main():
    await asyncio.gather(worker(0), worker(1), worker(2))
asyncio.run(main())
# a span made current with use_span
s = t.start_span("used", parent=None)
res["used"] = ids(s)
with trace.use_span(s, end_on_exit=True):
    log.info("in used")
otelbridge.shutdown()
print(json.dumps(res))
''', tmp_path)
    res = r.result
    _, logs = decode_file(tmp_path / "out.jsonl")
    recs = {rec.body.string_value: rec for _, _, rec in logs_of(logs)}
    assert len(recs) == 8
    assert recs["outside"].trace_id == b"" and recs["outside"].span_id == b""
    for body, key in [("in a", "a"), ("in b", "b"), ("in a again", "a"), ("worker 0", "w0"),
                      ("worker 1", "w1"), ("worker 2", "w2"), ("in used", "used")]:
        assert recs[body].trace_id.hex() == res[key][0], body
        assert recs[body].span_id.hex() == res[key][1], body
        assert recs[body].flags == 1, body
    for rec in recs.values():  # the correlation fields are never exported as attributes
        assert not {"otelTraceID", "otelSpanID", "otelTraceSampled",
                    "otelServiceName"} & set(attrs_of(rec))


def test_correlation_fields_in_formatted_output(pkg_dir, tmp_path):
    r = run_child(pkg_dir, r'''
import json, logging, sys
import otelbridge
from otelbridge import trace
otelbridge.configure(service_name="corr-svc", traces_exporter="none", logs_exporter="none",
                     metrics_exporter="none", attach_handler=False)
log = logging.getLogger("fmt")
log.info("outside")
t = trace.get_tracer("x")
with t.start_as_current_span("s") as s:
    c = s.get_span_context()
    log.warning("inside")
    rec = logging.getLogger("plain").makeRecord("plain", 20, "f", 1, "m", (), None)
print(json.dumps({"tid": format(c.trace_id, "032x"), "sid": format(c.span_id, "016x"),
                  "fields": [rec.otelTraceID, rec.otelSpanID, rec.otelTraceSampled,
                             rec.otelServiceName]}))
''', tmp_path, env={"OTEL_PYTHON_LOG_CORRELATION": "true", "OTEL_PYTHON_LOG_LEVEL": "info"})
    res = r.result
    assert res["fields"] == [res["tid"], res["sid"], True, "corr-svc"]
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 2, r.stderr
    pat = (r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<lvl>\w+) \[(?P<name>[\w.]+)\] "
           r"\[child\.py:\d+\] \[trace_id=(?P<t>\w+) span_id=(?P<s>\w+) "
           r"resource\.service\.name=(?P<svc>[\w-]*) trace_sampled=(?P<smp>\w+)\] - (?P<msg>.*)$")
    m0, m1 = (re.match(pat, ln) for ln in lines)
    assert m0 and m1, lines
    assert m0.group("lvl", "name", "t", "s", "svc", "smp", "msg") == \
        ("INFO", "fmt", "0", "0", "corr-svc", "False", "outside")
    assert m1.group("lvl", "name", "t", "s", "svc", "smp", "msg") == \
        ("WARNING", "fmt", res["tid"], res["sid"], "corr-svc", "True", "inside")


def test_correlation_off_adds_no_fields_and_custom_format(pkg_dir, tmp_path):
    r = run_child(pkg_dir, r'''
import json, logging
import otelbridge
otelbridge.configure(traces_exporter="none", logs_exporter="none", metrics_exporter="none",
                     attach_handler=False)
rec = logging.getLogger("a").makeRecord("a", 20, "f", 1, "m", (), None)
off = hasattr(rec, "otelTraceID")
from otelbridge.logging import enable_correlation_fields
enable_correlation_fields()
rec = logging.getLogger("a").makeRecord("a", 20, "f", 1, "m", (), None)
print(json.dumps([off, rec.otelTraceID, rec.otelSpanID, rec.otelTraceSampled,
                  rec.otelServiceName.startswith("unknown_service:")]))
''', tmp_path)
    assert r.result == [False, "0", "0", False, True]
    r = run_child(pkg_dir, r'''
import logging
import otelbridge
otelbridge.configure(traces_exporter="none", logs_exporter="none", metrics_exporter="none",
                     attach_handler=False, python_log_correlation=True,
                     python_log_format="%(levelname)s|%(otelTraceID)s|%(message)s",
                     python_log_level="warning")
logging.getLogger("z").info("dropped by the level")
logging.getLogger("z").warning("kept")
''', tmp_path)
    assert r.stderr.splitlines() == ["WARNING|0|kept"]


def test_use_after_shutdown_and_before_configure(pkg_dir, tmp_path):
    r = run_child(pkg_dir, r'''
import asyncio, json, sys
import otelbridge
from otelbridge import trace
t = trace.get_tracer("early")            # before configure(): allowed
with t.start_as_current_span("before") as b:
    assert not b.is_recording() and not b.get_span_context().is_valid
    b.set_attribute("x", 1); b.add_event("e"); b.set_status(trace.StatusCode.ERROR, "d")
otelbridge.configure(traces_exporter="file", logs_exporter="none", metrics_exporter="none",
                     otelbridge_file_path=sys.argv[1], otelbridge_file_format="json",
                     attach_handler=False)
with t.start_as_current_span("during") as d:
    assert d.is_recording()
    live = t.start_span("open-at-shutdown")
    otelbridge.shutdown()
    d.set_attribute("after", 1)
    live.add_event("after")
    live.end()
with t.start_as_current_span("after") as a:
    a.set_attribute("x", 1); a.record_exception(ValueError("x")); a.update_name("y")
    assert not a.is_recording()
    h = {}
    trace.inject(h)
    assert trace.extract({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}) is not None
@t.start_as_current_span("deco")
def f(): return 5
assert f() == 5
print(json.dumps({"ok": True}))
''', tmp_path)
    assert r.result == {"ok": True}
    assert r.stderr == ""
    traces, _ = decode_file(tmp_path / "out.jsonl")
    assert [s.name for _, _, s in spans_of(traces)] == []  # shut down before any span ended


def test_end_to_end_spans_and_correlated_logs_reach_the_receiver(pkg_dir, rx, tmp_path):
    r = run_child(pkg_dir, r'''
import json, logging, sys
import otelbridge
from otelbridge import trace
otelbridge.configure(service_name="e2e-py", exporter_otlp_endpoint=sys.argv[2],
                     exporter_otlp_protocol="grpc", metrics_exporter="none")
log = logging.getLogger("shop")
log.setLevel(logging.INFO)
t = trace.get_tracer("shop.checkout", "2.0")
res = {}
with t.start_as_current_span("GET /checkout", kind=trace.SpanKind.SERVER,
                             attributes={"http.request.method": "GET"}) as root:
    log.info("checkout started", extra={"cart.items": 3})
    with t.start_as_current_span("charge", kind=trace.SpanKind.CLIENT) as ch:
        try:
            raise ConnectionError("declined")
        except ConnectionError:
            log.exception("charge failed")
        ch.set_status(trace.StatusCode.ERROR, "declined")
    res = {"root": [format(root.get_span_context().trace_id, "032x"),
                    format(root.get_span_context().span_id, "016x")],
           "charge": format(ch.get_span_context().span_id, "016x")}
assert otelbridge.shutdown(10)
print(json.dumps(res))
'''.replace("sys.argv[2]", repr(rx.grpc_endpoint)), tmp_path)
    res = r.result
    rx.wait_for(lambda s: s.get("traces", {}).get("items", 0) >= 2
                and s.get("logs", {}).get("items", 0) >= 2, timeout=10)
    traces, logs = decode_docs(rx.read_traces() + rx.read_logs())
    spans = spans_of(traces)
    assert len(spans) == 2
    sp = by_name(spans)
    res_attrs = attrs_of(spans[0][0])
    assert res_attrs["service.name"] == "e2e-py"
    scope, root = sp["GET /checkout"]
    assert scope.name == "shop.checkout" and scope.version == "2.0"
    assert root.trace_id.hex() == res["root"][0] and root.span_id.hex() == res["root"][1]
    assert root.kind == KIND.SPAN_KIND_SERVER
    assert attrs_of(root) == {"http.request.method": "GET"}
    _, charge = sp["charge"]
    assert charge.parent_span_id == root.span_id and charge.span_id.hex() == res["charge"]
    assert charge.status.code == ST.STATUS_CODE_ERROR and charge.status.message == "declined"
    recs = {rec.body.string_value: rec for _, _, rec in logs_of(logs)}
    assert set(recs) == {"checkout started", "charge failed"}
    assert recs["checkout started"].span_id == root.span_id
    assert recs["checkout started"].trace_id == root.trace_id
    assert attrs_of(recs["checkout started"]) == {"cart.items": 3}
    assert recs["charge failed"].span_id == charge.span_id
    assert attrs_of(recs["charge failed"])["exception.type"] == "ConnectionError"
