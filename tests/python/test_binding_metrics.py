"""The Python binding's metrics (bindings/python/otelbridge/metrics.py, otelbridge/api/metrics.py).

Each scenario runs in a subprocess (configure() is process-global) that records measurements,
flushes (a flush is a collection) and notes the file exporter's size after each flush; the frames
of each collection are decoded with the official opentelemetry-proto ExportMetricsServiceRequest
and compared field by field with values computed here, independently of the binding. One test
sends through the real Collector receiver (rx).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest)

import oracle
# The binding's build fixture and subprocess runner (shared with the logging tests).
from pybinding import any_value, run_child

CUMULATIVE, DELTA = 2, 1


def attrs_key(kvs) -> tuple:
    """An attribute set as a sorted tuple of (key, (value kind, value)): 2, 2.0 and True differ."""
    out = []
    for kv in kvs:
        kind = kv.value.WhichOneof("value")
        v = any_value(kv.value)
        out.append((kv.key, (kind, tuple(v) if isinstance(v, list) else v)))
    return tuple(sorted(out))


def A(**kw) -> tuple:
    """The attrs_key of Python values, typed as the binding must encode them."""
    kinds = {bool: "bool_value", int: "int_value", float: "double_value", str: "string_value"}
    return tuple(sorted((k.replace("__", "."), (kinds[type(v)], v)) for k, v in kw.items()))


class Collections:
    """The decoded requests, split per flush by the byte offsets the child printed; what follows
    the last offset (the shutdown's collection) is one more part."""

    def __init__(self, path: Path, offsets: list[int]):
        data = path.read_bytes() if path.exists() else b""
        self.parts = []
        prev = 0
        for off in offsets + ([len(data)] if len(data) > (offsets or [0])[-1] else []):
            reqs = [ExportMetricsServiceRequest.FromString(f)
                    for f in oracle.read_frames(data[prev:off])]
            for r in reqs:
                assert not oracle.has_unknown_fields(r)
            self.parts.append(reqs)
            prev = off
        assert prev == len(data), f"{len(data) - prev} bytes after the last flush"

    def metrics(self, i: int) -> dict:
        """{(scope name, metric name): Metric} of collection i (each metric exactly once)."""
        out = {}
        for req in self.parts[i]:
            for rm in req.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        k = (sm.scope.name, m.name)
                        assert k not in out, f"metric {k} twice in collection {i}"
                        out[k] = m
        return out

    def resources(self, i: int) -> list[dict]:
        return [{kv.key: any_value(kv.value) for kv in rm.resource.attributes}
                for req in self.parts[i] for rm in req.resource_metrics]

    def scopes(self, i: int) -> dict:
        return {sm.scope.name: sm.scope for req in self.parts[i] for rm in req.resource_metrics
                for sm in rm.scope_metrics}


def points(metric) -> dict:
    data = getattr(metric, metric.WhichOneof("data"))
    out = {}
    for p in data.data_points:
        k = attrs_key(p.attributes)
        assert k not in out, f"{metric.name}: attribute set {k} twice"
        out[k] = p
    return out


def num(p):
    kind = p.WhichOneof("value")
    return (kind, getattr(p, kind))


def run(pkg_dir, tmp_path, body: str, check: bool = True):
    r = run_child(pkg_dir, PRELUDE + body, tmp_path, check=check)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    report = json.loads(lines[-1]) if lines else {}
    return r, report


PRELUDE = r'''
import json, os, sys, threading
import otelbridge
import otelbridge.metrics as om
OUT = sys.argv[1]
offsets = []
report = {}

def start(**kw):
    settings = dict(service_name="pytest-metrics", metrics_exporter="file",
                    otelbridge_file_path=OUT, otelbridge_file_format="proto",
                    logs_exporter="none", traces_exporter="none",
                    metric_export_interval=3600000, attach_handler=False)
    settings.update(kw)
    otelbridge.configure(**settings)

def collect():
    assert otelbridge.flush(10), "flush timed out"
    offsets.append(os.path.getsize(OUT) if os.path.exists(OUT) else 0)

def done():
    report["offsets"] = offsets
    print(json.dumps(report))
'''


# ---- sums, histograms, gauges, observables, temporality -----------------------------------------

MAIN = r'''
pref = os.environ["PREF"]
meter = om.get_meter("app.metrics", "1.2.3", schema_url="https://opentelemetry.io/schemas/1.26.0",
                     attributes={"lib.tier": "core"})
# created before configure(): synchronous ones resolve at their first measurement, observable
# ones are registered by configure()
orders = meter.create_counter("shop.orders", unit="{order}", description="Orders placed")
obs_calls = []
def ticks(options):
    obs_calls.append(threading.current_thread() is threading.main_thread())
    n = len(obs_calls)
    return [om.Observation(100 * n, {"cpu": 0}), om.Observation(10 * n + 5, {"cpu": 1})]
ticks_i = meter.create_observable_counter("proc.ticks", [ticks], unit="{tick}", value_type=int)
orders.add(99, {"dropped": True})  # before configure: dropped

start(exporter_otlp_metrics_temporality_preference=pref)

revenue = meter.create_counter("shop.revenue", unit="EUR")
carts = meter.create_up_down_counter("shop.carts")
lat = meter.create_histogram("shop.latency", unit="ms",
                             explicit_bucket_boundaries_advisory=[10, 50, 100])
temp = meter.create_gauge("room.temp", unit="Cel")
def temps(options):
    yield_ = [om.Observation(21.5, {"room": "a"}), om.Observation(-3, {"room": "b"})]
    return yield_
temp_o = meter.create_observable_gauge("room.temp.observed", [temps])
def gen():
    options = yield
    n = 0
    while True:
        n += 1
        options = yield [om.Observation(n * 2, {"q": "x"})]
queue = meter.create_observable_up_down_counter("queue.depth", [gen()])

# collection 0
orders.add(2, {"region": "eu"})
orders.add(3, {"region": "us", "channel": "web"})
orders.add(1, {"channel": "web", "region": "us"})   # same set, other order
orders.add(-5, {"region": "eu"})                     # negative: refused, never raises
revenue.add(19.5)
revenue.add(0.25, {"coupon": True})
carts.add(4)
carts.add(-1)
for v in (3.0, 10.0, 10.5, 77.0, 500.0):
    lat.record(v, {"route": "/checkout"})
lat.record(7, {"route": "/cart"})
temp.set(20.5, {"room": "a"})
temp.set(22.0, {"room": "a"})
collect()
# collection 1
orders.add(1, {"region": "eu"})
carts.add(-2)
lat.record(49.75, {"route": "/checkout"})
temp.set(18, {"room": "b"})
collect()
# collection 2: nothing synchronous
collect()
report["obs_on_main"] = obs_calls
otelbridge.shutdown()
done()
'''


@pytest.mark.parametrize("pref", ["cumulative", "delta"])
def test_instruments_and_temporality(pkg_dir, tmp_path, monkeypatch, pref):
    monkeypatch.setenv("PREF", pref)
    r, rep = run(pkg_dir, tmp_path, MAIN.replace('os.environ["PREF"]', repr(pref)))
    cols = Collections(tmp_path / "out.bin", rep["offsets"])
    assert len(cols.parts) == 4  # three flushes and the shutdown
    # callbacks ran once per collection, never on the main thread
    assert rep["obs_on_main"] == [False, False, False, False]
    delta = pref == "delta"
    S = "app.metrics"

    for i in range(3):
        for res in cols.resources(i):
            assert res["service.name"] == "pytest-metrics"
            assert res["telemetry.sdk.language"] == "python"
        sc = cols.scopes(i)[S]
        assert sc.version == "1.2.3"
        assert {kv.key: any_value(kv.value) for kv in sc.attributes} == {"lib.tier": "core"}

    # --- counters: exact sums per attribute set, int vs double from the values
    want_orders = [{A(region="eu"): 2, A(region="us", channel="web"): 4},
                   {A(region="eu"): 3 if not delta else 1, A(region="us", channel="web"): 4},
                   {A(region="eu"): 3, A(region="us", channel="web"): 4}]
    for i in range(3):
        ms = cols.metrics(i)
        m = ms.get((S, "shop.orders"))
        if delta and i == 2:
            assert m is None or not points(m), "delta: no new data, no points"
            continue
        assert m.unit == "{order}" and m.description == "Orders placed"
        assert m.sum.is_monotonic
        assert m.sum.aggregation_temporality == (DELTA if delta else CUMULATIVE)
        got = {k: num(p) for k, p in points(m).items()}
        want = want_orders[i]
        if delta and i == 1:
            want = {A(region="eu"): 1}
        assert got == {k: ("as_int", v) for k, v in want.items()}, f"collection {i}"
        assert A(dropped=True) not in got

    m0 = cols.metrics(0)
    assert {k: num(p) for k, p in points(m0[(S, "shop.revenue")]).items()} == {
        (): ("as_double", 19.5), A(coupon=True): ("as_double", 0.25)}
    # up-down counters are cumulative whatever the preference
    for i, want in enumerate([3, 1, 1]):
        m = cols.metrics(i)[(S, "shop.carts")]
        assert not m.sum.is_monotonic and m.sum.aggregation_temporality == CUMULATIVE
        assert {k: num(p) for k, p in points(m).items()} == {(): ("as_int", want)}

    # --- histogram: counts, buckets (bound i counts (b[i-1], b[i]]), sum, min, max
    h0 = points(m0[(S, "shop.latency")])
    p = h0[A(route="/checkout")]
    assert list(p.explicit_bounds) == [10, 50, 100]
    assert (p.count, list(p.bucket_counts), p.sum, p.min, p.max) == (
        5, [2, 1, 1, 1], 600.5, 3.0, 500.0)
    assert (h0[A(route="/cart")].count, list(h0[A(route="/cart")].bucket_counts)) == (
        1, [1, 0, 0, 0])
    h1 = points(cols.metrics(1)[(S, "shop.latency")])
    p = h1[A(route="/checkout")]
    if delta:
        assert (p.count, list(p.bucket_counts), p.sum, p.min, p.max) == (
            1, [0, 1, 0, 0], 49.75, 49.75, 49.75)
        assert A(route="/cart") not in h1
        assert cols.metrics(1)[(S, "shop.latency")].histogram.aggregation_temporality == DELTA
    else:
        assert (p.count, list(p.bucket_counts), p.sum, p.min, p.max) == (
            6, [2, 2, 1, 1], 650.25, 3.0, 500.0)

    # --- gauge: the last value per attribute set (first value decided: double)
    g = {k: num(p) for k, p in points(m0[(S, "room.temp")]).items()}
    assert g == {A(room="a"): ("as_double", 22.0)}
    g1 = {k: num(p) for k, p in points(cols.metrics(1)[(S, "room.temp")]).items()}
    assert g1[A(room="b")] == ("as_double", 18.0)

    # --- observables: values per collection; registered before configure
    for i in range(3):
        ms = cols.metrics(i)
        n = i + 1
        t = ms[(S, "proc.ticks")]
        assert t.sum.is_monotonic
        got = {k: num(p) for k, p in points(t).items()}
        if delta and i > 0:
            want = {A(cpu=0): 100, A(cpu=1): 10}  # delta of a cumulative observation
        else:
            want = {A(cpu=0): 100 * n, A(cpu=1): 10 * n + 5}
        assert got == {k: ("as_int", v) for k, v in want.items()}, f"collection {i}"
        assert {k: num(p) for k, p in points(ms[(S, "room.temp.observed")]).items()} == {
            A(room="a"): ("as_double", 21.5), A(room="b"): ("as_double", -3.0)}
        q = ms[(S, "queue.depth")]
        assert not q.sum.is_monotonic
        assert {k: num(p) for k, p in points(q).items()} == {A(q="x"): ("as_double", 2.0 * n)}


# ---- number types and the attribute cache --------------------------------------------------------

TYPES = r'''
start()
m = om.get_meter("types")
ci = m.create_counter("c.int")
cf = m.create_counter("c.float")
cv = m.create_counter("c.forced", value_type=float)
g = m.create_gauge("g.int")
ci.add(1); ci.add(2); ci.add(1.6)       # int instrument: a float is rounded (2)
cf.add(1.5); cf.add(2)                  # double instrument: an int is exact
cv.add(1)
g.set(7)
# 2, 2.0 and True are equal dict keys but different attribute values: separate series, even
# once the first is cached
u = m.create_up_down_counter("cache")
for _ in range(3):
    u.add(1, {"b": 2}); u.add(10, {"b": 2.0}); u.add(100, {"b": True}); u.add(1000, {"b": 1})
    u.add(5, {"x": 1, "y": 2}); u.add(50, {"x": 1, "y": 2.0})   # several non-str values
# a mutated dict is recorded with what it holds now
d = {"k": "v1"}
u.add(1, d); d["k"] = "v2"; u.add(2, d); d["n"] = 5; u.add(4, d)
# unhashable values (a list) and odd types never raise
u.add(1, {"l": [1, 2]}); u.add(1, {"l": [1, 2]})
u.add("x", {"bad": "value"}); u.add(None); ci.add(float("nan")); u.add(1, ["not", "a", "map"])
# bound instruments
b = ci.bind({"bound": "yes"}); b.add(5); b.add(6)
hb = m.create_histogram("h").bind({"r": 1}); hb.record(2); hb.record(3.5)
collect()
done()
'''


def test_number_types_cache_and_bound(pkg_dir, tmp_path):
    r, rep = run(pkg_dir, tmp_path, TYPES)
    ms = Collections(tmp_path / "out.bin", rep["offsets"]).metrics(0)
    vals = {name: {k: num(p) for k, p in points(m).items()} for (_, name), m in ms.items()
            if name != "h"}
    assert vals["c.int"] == {(): ("as_int", 5), A(bound="yes"): ("as_int", 11)}
    assert vals["c.float"] == {(): ("as_double", 3.5)}
    assert vals["c.forced"] == {(): ("as_double", 1.0)}
    assert vals["g.int"] == {(): ("as_int", 7)}
    assert vals["cache"] == {
        A(b=2): ("as_int", 3), A(b=2.0): ("as_int", 30), A(b=True): ("as_int", 300),
        A(b=1): ("as_int", 3000), A(x=1, y=2): ("as_int", 15), A(x=1, y=2.0): ("as_int", 150),
        A(k="v1"): ("as_int", 1), A(k="v2"): ("as_int", 2),
        A(k="v2", n=5): ("as_int", 4),
        (("l", ("array_value", (1, 2))),): ("as_int", 2)}
    h = points(ms[("types", "h")])[A(r=1)]
    assert (h.count, h.sum, h.min, h.max) == (2, 5.5, 2.0, 3.5)
    assert r.stderr == "", r.stderr


# ---- the C record path: call forms and what falls back to Python ---------------------------------

CALLS = r"""
start()
m = om.get_meter("calls")
c = m.create_counter("c")          # int: its first add is an int
c.add(1, {"a": "x"})
c.add(2, attributes={"a": "x"})
c.add(4, {"a": "x"}, None)
c.add(8, attributes={"a": "x"}, context=None)
c.add(16, [("a", "x")])            # pairs instead of a mapping
c.add(1.6, {"a": "x"})             # a float on an int instrument: rounded (2)
c.add(True, {"a": "x"})            # bool is an int: 1
c.add("32", {"a": "x"})            # not a number: dropped, no exception
c.add(1 << 70, {"a": "x"})         # beyond int64: dropped
c.add(64, 5)                       # attributes that are not a mapping: dropped
c.add(float("nan"), {"a": "x"})    # dropped
errors = []
for bad in ((), (1, {}, None, 5)):
    try:
        c.add(*bad)
    except TypeError:
        errors.append(len(bad))
h = m.create_histogram("h")
h.record(3, {"a": "x"})            # an int on a double instrument: exact
h.record("x")                      # dropped
b = c.bind({"a": "y"})
b.add(5)
b.add(2.5)                         # rounded half to even: 2
b.add(None)                        # dropped
b.record(1)
report["type_errors"] = errors
collect()
done()
"""


def test_record_path_call_forms_and_fallbacks(pkg_dir, tmp_path):
    r, rep = run(pkg_dir, tmp_path, CALLS)
    assert rep["type_errors"] == [0, 4], rep
    ms = Collections(tmp_path / "out.bin", rep["offsets"]).metrics(0)
    vals = {k: num(p) for k, p in points(ms[("calls", "c")]).items()}
    assert vals == {A(a="x"): ("as_int", 1 + 2 + 4 + 8 + 16 + 2 + 1), A(a="y"): ("as_int", 8)}
    h = points(ms[("calls", "h")])[A(a="x")]
    assert (h.count, h.sum) == (1, 3.0)
    assert r.stderr == "", r.stderr


# ---- callbacks: one raises, one is slow, the others are still exported ---------------------------

CALLBACKS = r'''
import time
start()
m = om.get_meter("cb")
def boom(options):
    raise RuntimeError("callback exploded")
def slow(options):
    time.sleep(0.3)
    return [om.Observation(1)]
def good(options):
    return [om.Observation(5, {"ok": True})]
def half(options):  # yields one value, then raises
    yield om.Observation(1, {"part": 1})
    raise KeyError("half")
m.create_observable_gauge("g.boom", [boom, good])
m.create_observable_gauge("g.slow", [slow])
m.create_observable_counter("c.good", [good])
m.create_observable_gauge("g.half", [half])
collect()
collect()
report["errors"] = om.callback_errors()
done()
'''


def test_callback_errors_do_not_break_others(pkg_dir, tmp_path):
    r, rep = run(pkg_dir, tmp_path, CALLBACKS)
    cols = Collections(tmp_path / "out.bin", rep["offsets"])
    for i in range(2):
        ms = cols.metrics(i)
        assert {k: num(p) for k, p in points(ms[("cb", "g.boom")]).items()} == {
            A(ok=True): ("as_double", 5.0)}
        assert {k: num(p) for k, p in points(ms[("cb", "g.slow")]).items()} == {
            (): ("as_double", 1.0)}
        assert {k: num(p) for k, p in points(ms[("cb", "c.good")]).items()} == {
            A(ok=True): ("as_double", 5.0)}
        # what a generator-like callback reported before raising is kept
        assert {k: num(p) for k, p in points(ms[("cb", "g.half")]).items()} == {
            A(part=1): ("as_double", 1.0)}
    assert rep["errors"] == {"g.boom": 2, "g.half": 2}
    # reported on stderr once per callback, with the traceback; nothing through logging
    assert r.stderr.count("RuntimeError: callback exploded") == 1, r.stderr
    assert r.stderr.count("KeyError: 'half'") == 1, r.stderr
    assert r.stderr.count("a callback of observable instrument 'g.boom' raised") == 1


# ---- validation, lifecycle -------------------------------------------------------------------------

LIFECYCLE = r'''
m = om.get_meter("life")
errors = []
for bad in ["", "1abc", "has space", "x" * 256, "é"]:
    try:
        m.create_counter(bad)
    except om.InstrumentError as e:
        errors.append(str(e))
for bad_unit in ["é", "u" * 64]:
    try:
        m.create_histogram("ok.name", unit=bad_unit)
    except ValueError as e:
        errors.append(str(e))
try:
    m.create_histogram("h", explicit_bucket_boundaries_advisory=[1, 1])
except om.InstrumentError as e:
    errors.append(str(e))
m.create_counter("a" + "b" * 254)  # 255 characters: fine
report["errors"] = errors
start()
c = m.create_counter("life.c")
c.add(1)
collect()
assert otelbridge.shutdown(5)
# after shutdown: no exception anywhere
c.add(1, {"a": 1}); c.bind({"x": 1}).add(1)
m2 = om.get_meter("late")
m2.create_counter("late.c").add(1)
m2.create_histogram("late.h").record(1.0)
m2.create_observable_gauge("late.g", [lambda o: [om.Observation(1)]])
otelbridge.flush()
report["after"] = "ok"
done()
'''


def test_validation_and_use_after_shutdown(pkg_dir, tmp_path):
    r, rep = run(pkg_dir, tmp_path, LIFECYCLE)
    errs = rep["errors"]
    assert len(errs) == 8, errs
    assert all("invalid instrument name" in e for e in errs[:5])
    assert all("invalid unit" in e for e in errs[5:7])
    assert "strictly increasing" in errs[7]
    assert rep["after"] == "ok"
    cols = Collections(tmp_path / "out.bin", rep["offsets"])
    ms = cols.metrics(0)
    assert {k: num(p) for k, p in points(ms[("life", "life.c")]).items()} == {(): ("as_int", 1)}
    assert not any(n.startswith("late") for _, n in ms)
    assert "Traceback" not in r.stderr, r.stderr


# ---- the opentelemetry-api MeterProvider -----------------------------------------------------------

API = r'''
from opentelemetry import metrics
from otelbridge.api import MeterProvider
from otelbridge.api import metrics as api_metrics
metrics.set_meter_provider(MeterProvider())
early = metrics.get_meter("api.early")          # the API's proxy meter until configure
ec = early.create_counter("early.c")
seen = []
def cb(options):
    seen.append(isinstance(options, metrics.CallbackOptions))
    return [metrics.Observation(3, {"o": 1})]
early.create_observable_up_down_counter("early.o", [cb])
start()
m = metrics.get_meter_provider().get_meter("api.lib", "0.9")
c = m.create_counter("api.c", unit="1")
assert isinstance(c, metrics.Counter) and isinstance(m, metrics.Meter)
c.add(2, {"k": "v"}); c.add(3, {"k": "v"})
ec.add(4)
ud = m.create_up_down_counter("api.ud"); ud.add(-2)
h = m.create_histogram("api.h", explicit_bucket_boundaries_advisory=[1, 1])  # ignored + warning
h.record(3)
m.create_histogram("api.h2", explicit_bucket_boundaries_advisory=[0.5, 5]).record(3)
g = m.create_gauge("api.g"); g.set(1.25, {"x": "y"})
m.create_observable_gauge("api.og", [lambda o: [metrics.Observation(0.5)]])
try:
    m.create_counter("bad name")
    report["raised"] = None
except Exception as e:
    report["raised"] = type(e).__name__
assert metrics.get_meter_provider().force_flush(10000)
offsets.append(os.path.getsize(OUT))
report["cb_options"] = sorted(set(seen))
done()
'''


def test_api_meter_provider(pkg_dir, tmp_path):
    r, rep = run(pkg_dir, tmp_path, API)
    assert rep["raised"] == "InstrumentError"
    assert rep["cb_options"] == [True]  # the API's CallbackOptions
    assert "explicit_bucket_boundaries_advisory of 'api.h' is invalid" in r.stderr
    ms = Collections(tmp_path / "out.bin", rep["offsets"]).metrics(0)
    v = {k: {a: num(p) for a, p in points(m).items()} for k, m in ms.items()
         if m.WhichOneof("data") in ("sum", "gauge")}
    assert v == {
        ("api.lib", "api.c"): {A(k="v"): ("as_int", 5)},
        ("api.early", "early.c"): {(): ("as_int", 4)},
        ("api.early", "early.o"): {A(o=1): ("as_double", 3.0)},
        ("api.lib", "api.ud"): {(): ("as_int", -2)},
        ("api.lib", "api.g"): {A(x="y"): ("as_double", 1.25)},
        ("api.lib", "api.og"): {(): ("as_double", 0.5)},
    }
    assert ms[("api.lib", "api.c")].unit == "1"
    h = points(ms[("api.lib", "api.h")])[()]
    assert list(h.explicit_bounds) == [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500,
                                       5000, 7500, 10000]  # the default: the advisory was bad
    h2 = points(ms[("api.lib", "api.h2")])[()]
    assert (list(h2.explicit_bounds), list(h2.bucket_counts)) == ([0.5, 5], [0, 1, 0])


# ---- end to end through the real Collector receiver -----------------------------------------------

E2E = r'''
start(metrics_exporter="otlp", exporter_otlp_endpoint=os.environ["EP"],
      exporter_otlp_protocol="http/protobuf")
from opentelemetry import metrics
from otelbridge.api import MeterProvider
metrics.set_meter_provider(MeterProvider())
m = metrics.get_meter("e2e.py")
c = m.create_counter("e2e.requests")
h = m.create_histogram("e2e.duration", unit="s", explicit_bucket_boundaries_advisory=[0.1, 1])
for i in range(10):
    c.add(1, {"route": "/a" if i % 2 else "/b"})
    h.record(0.05 * i)
m.create_observable_gauge("e2e.load", [lambda o: [metrics.Observation(0.75, {"cpu": "0"})]])
assert otelbridge.flush(15)
assert otelbridge.shutdown(15)
print(json.dumps({}))
'''


def test_e2e_real_receiver(rx, pkg_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("EP", rx.http_endpoint)
    body = E2E.replace('os.environ["EP"]', repr(rx.http_endpoint))
    run(pkg_dir, tmp_path, body)
    lines = [ln for ln in (rx.out / "metrics.jsonl").read_text().split("\n") if ln]
    from test_metrics_fidelity import json_line_to_metrics_request
    reqs = [json_line_to_metrics_request(ln) for ln in lines]
    assert len(reqs) == 2  # the flush and the shutdown collections
    first = {}
    for rm in reqs[0].resource_metrics:
        res = {kv.key: any_value(kv.value) for kv in rm.resource.attributes}
        assert res["service.name"] == "pytest-metrics"
        for sm in rm.scope_metrics:
            assert sm.scope.name == "e2e.py"
            for mm in sm.metrics:
                first[mm.name] = mm
    assert {k: num(p) for k, p in points(first["e2e.requests"]).items()} == {
        A(route="/a"): ("as_int", 5), A(route="/b"): ("as_int", 5)}
    p = points(first["e2e.duration"])[()]
    assert (p.count, list(p.bucket_counts), list(p.explicit_bounds)) == (10, [3, 7, 0], [0.1, 1])  # 0, .05, .1 <= .1
    assert math.isclose(p.sum, 0.05 * 45) and p.min == 0.0 and math.isclose(p.max, 0.45)
    assert {k: num(p) for k, p in points(first["e2e.load"]).items()} == {
        A(cpu="0"): ("as_double", 0.75)}
    assert rx.stats()["metrics"]["items"] == sum(
        len(points(mm)) for req in reqs for rm in req.resource_metrics
        for sm in rm.scope_metrics for mm in sm.metrics)


# ---- fork while a collection thread is inside an observable callback ------------------------------

FORK_DURING_CALLBACK = r'''
import time
from otelbridge._native import lib
start()
entered, release = threading.Event(), threading.Event()
def slow(options):
    entered.set()
    release.wait(10)   # the collecting thread stays inside the trampoline (GIL released)
    return [om.Observation(7)]
om.get_meter("forky").create_observable_gauge("slow.gauge", callbacks=[slow])
t = threading.Thread(target=collect)
t.start()
assert entered.wait(10)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    # The child has no collecting thread: detaching (what the exit hook does) must not wait for
    # the parent's callback in progress.
    t0 = time.monotonic()
    lib.otelbridge_py_detach()
    os.write(w, json.dumps({"detach_s": time.monotonic() - t0}).encode())
    os._exit(0)
os.close(w)
os.waitpid(pid, 0)
with os.fdopen(r) as f:
    report.update(json.loads(f.read()))
release.set()
t.join()
t0 = time.monotonic()
lib.otelbridge_py_detach()   # the parent: nobody inside any more
report["parent_detach_s"] = time.monotonic() - t0
done()
'''


def test_fork_during_observable_callback_child_detaches_at_once(pkg_dir, tmp_path):
    """otelbridge_observe_trampoline counts the threads inside a Python callback so that the exit
    hook (otelbridge_py_detach) waits for them. A fork() while the collecting thread is inside
    copied that count into the child, where no such thread exists: every such child waited the
    full 2 s in its exit hook. The parent's collection still completes with the value."""
    r, rep = run(pkg_dir, tmp_path, FORK_DURING_CALLBACK)
    assert rep["detach_s"] < 0.5, rep
    assert rep["parent_detach_s"] < 0.5, rep
    ms = Collections(tmp_path / "out.bin", rep["offsets"]).metrics(0)
    gauge = ms[("forky", "slow.gauge")]
    assert [p.as_double for p in gauge.gauge.data_points] == [7.0]  # observable: double


FORK_DURING_COLLECTION = r"""
import time
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
start()
entered, release = threading.Event(), threading.Event()
def slow(options):
    entered.set()
    release.wait(10)   # the parent's collection stays in progress, holding the collection lock
    return [om.Observation(7)]
om.get_meter("forky").create_observable_gauge("slow.gauge", callbacks=[slow])
t = threading.Thread(target=collect)
t.start()
assert entered.wait(10)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    release.set()      # the child's own collections must not wait for this callback
    om.get_meter("child").create_counter("child.count").add(5, {"who": "child"})
    t0 = time.monotonic()
    ok = otelbridge.flush(3)
    os.write(w, json.dumps({"child_flush": ok, "child_flush_s": time.monotonic() - t0,
                            "child_pid": os.getpid()}).encode())
    os._exit(0)
os.close(w)
os.waitpid(pid, 0)
with os.fdopen(r) as f:
    report.update(json.loads(f.read()))
release.set()
t.join()
report["parent_pid"] = os.getpid()
done()
"""


def test_fork_during_a_collection_the_child_still_collects(pkg_dir, tmp_path):
    """A fork() while the engine's worker is inside a collection (here: in a slow observable
    callback) used to leave the child with the collection lock held: every flush in the child
    timed out and its metrics never left. Now the child collects and exports at once, under its
    own pid, and the parent's collection completes."""
    r, rep = run(pkg_dir, tmp_path, FORK_DURING_COLLECTION)
    assert rep["child_flush"] is True and rep["child_flush_s"] < 2.0, rep
    by_pid: dict = {}
    data = (tmp_path / "out.bin").read_bytes()
    for frame in oracle.read_frames(data):
        req = ExportMetricsServiceRequest.FromString(frame)
        for rm in req.resource_metrics:
            pid = {kv.key: any_value(kv.value) for kv in rm.resource.attributes}["process.pid"]
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    by_pid.setdefault(pid, {}).setdefault((sm.scope.name, m.name), []).append(m)
    child = by_pid[rep["child_pid"]]
    [count] = child[("child", "child.count")]
    assert {attrs_key(p.attributes): num(p) for p in count.sum.data_points} == {
        A(who="child"): ("as_int", 5)}
    parent = by_pid[rep["parent_pid"]]
    gauges = [p.as_double for m in parent[("forky", "slow.gauge")] for p in m.gauge.data_points]
    assert gauges and set(gauges) == {7.0}, gauges  # the flush's collection, then the exit's
