"""Wire fidelity of otelbridge's metrics (OTLP ExportMetricsServiceRequest), checked against the
official opentelemetry-proto package and google.protobuf's json_format for OTLP/JSON.

How it works: a *corpus* drives the metrics ABI (otel_instrument_create, otel_metric_record_*,
otel_instrument_bind + otel_bound_record_*, observable callbacks made with ctypes that call
otel_observe_*) through a Model that applies every call to the library AND to a reference model
written here from the header's contract and the OpenTelemetry specification (never from the
library's code). The engine writes with the file exporter; every otel_engine_flush() is one
collection, and otel_engine_shutdown() is the last one. After each collection the requests the
file gained are decoded with the official ExportMetricsServiceRequest and compared field by field
with what the model expects for that collection (oracle.diff_messages), once per temporality
preference (cumulative, delta, lowmemory) and once per file format (proto, json); the JSON decode
must equal the proto decode.

Timestamps are checked on their own (test_corpus_time_semantics), from the wall clock read around
every record and flush:
  - every point of one collection has the same time_unix_nano, taken during that flush;
  - cumulative: a series' start never changes, is not before the engine was created, not after
    the series' first measurement (sync) and never after the point's time;
  - delta: a series reported in the previous collection starts at that collection's time; a
    series new in collection c starts at or after collection c-1; a series that skipped
    collections starts at or after its own previous point (no overlap) and never after its time.

Targeted tests follow the corpus: bucket boundaries, attribute order / types / UTF-8 repair, names,
argument checks, duplicate registration, rejected values, bound instruments, the cardinality
limit, shutdown, OTEL_METRICS_EXPORTER=none, literal delta/cumulative arithmetic over 5
collections, observable callbacks, and export without a flush.

Run: OTELBRIDGE_LIBRARY=build/src/libotelbridge.so python3 -m pytest -q tests/python/test_metrics_fidelity.py
"""

from __future__ import annotations

import base64
import copy
import itertools
import math
import threading
import time
from dataclasses import dataclass, field

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2 as mpb

import oracle
from oracle import attr_pairs as _pairs, raw_key, ref_str, ref_value
import otb
from otb import EMPTY, Map, RawStr, Str

# ---- constants --------------------------------------------------------------------------------

FORMATS = ["proto", "json"]
PREFS = ["cumulative", "delta", "lowmemory"]
PREF_KEY = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"
SERVICE_NAME = "metrics-fidelity-svc"
BASE_CONFIG = {
    "OTEL_LOGS_EXPORTER": "none",
    "OTEL_TRACES_EXPORTER": "none",
    "OTEL_METRICS_EXPORTER": "file",
    "OTEL_METRIC_EXPORT_INTERVAL": "3600000",  # only flush and shutdown collect: deterministic
    "OTEL_SERVICE_NAME": SERVICE_NAME,
}

CUMULATIVE = mpb.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = mpb.AGGREGATION_TEMPORALITY_DELTA
assert (CUMULATIVE, DELTA) == (2, 1)

COUNTER = otb.OTEL_INSTRUMENT_COUNTER
UP_DOWN = otb.OTEL_INSTRUMENT_UP_DOWN_COUNTER
HISTOGRAM = otb.OTEL_INSTRUMENT_HISTOGRAM
GAUGE = otb.OTEL_INSTRUMENT_GAUGE
OBS_COUNTER = otb.OTEL_INSTRUMENT_OBSERVABLE_COUNTER
OBS_UP_DOWN = otb.OTEL_INSTRUMENT_OBSERVABLE_UP_DOWN_COUNTER
OBS_GAUGE = otb.OTEL_INSTRUMENT_OBSERVABLE_GAUGE
OBSERVABLE = (OBS_COUNTER, OBS_UP_DOWN, OBS_GAUGE)
KIND_NAMES = {COUNTER: "counter", UP_DOWN: "up_down_counter", HISTOGRAM: "histogram",
              GAUGE: "gauge", OBS_COUNTER: "observable_counter",
              OBS_UP_DOWN: "observable_up_down_counter", OBS_GAUGE: "observable_gauge"}
INT = otb.OTEL_NUMBER_INT
DOUBLE = otb.OTEL_NUMBER_DOUBLE

DEFAULT_BOUNDS = [0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0,
                  5000.0, 7500.0, 10000.0]
OVERFLOW_KV = KeyValue(key="otel.metric.overflow", value=AnyValue(bool_value=True))
NAN = float("nan")
INF = float("inf")


def expected_temporality(pref: str, kind: int):
    """OTLP metric exporter spec (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE):
    delta: Counter, Asynchronous Counter, Histogram -> Delta; UpDownCounters -> Cumulative.
    lowmemory: Counter, Histogram -> Delta; Asynchronous Counter and UpDownCounters -> Cumulative.
    Gauges have no temporality (None)."""
    if kind in (GAUGE, OBS_GAUGE):
        return None
    if pref == "delta" and kind in (COUNTER, OBS_COUNTER, HISTOGRAM):
        return DELTA
    if pref == "lowmemory" and kind in (COUNTER, HISTOGRAM):
        return DELTA
    return CUMULATIVE


# ---- reference values (the same rules as the logs and traces corpora) --------------------------


def ref_attrs(attrs) -> list[KeyValue]:
    """The attribute set a measurement belongs to (header: "the attribute set identifies the
    series, whatever the attributes' order"): a repeated key keeps its last value."""
    d: dict[bytes, tuple] = {}
    for k, v in _pairs(attrs):
        d[raw_key(k)] = (k, v)
    return [KeyValue(key=ref_str(k), value=ref_value(v)) for k, v in d.values()]


def pyval(av: AnyValue):
    """An AnyValue as a hashable, readable Python value."""
    which = av.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return tuple(pyval(v) for v in av.array_value.values)
    if which == "kvlist_value":
        return tuple((kv.key, pyval(kv.value)) for kv in av.kvlist_value.values)
    return getattr(av, which)


def attr_ident(kvs) -> tuple:
    """The identity of an attribute set: order-insensitive (sorted by key)."""
    return tuple(sorted(((kv.key, kv.value.WhichOneof("value") or "", pyval(kv.value)) for kv in kvs),
                        key=lambda t: (t[0], t[1], repr(t[2]))))


def attr_dict(kvs) -> dict:
    return {kv.key: pyval(kv.value) for kv in kvs}


# ---- decoding ---------------------------------------------------------------------------------


def decode_proto(data: bytes) -> list[ExportMetricsServiceRequest]:
    return [ExportMetricsServiceRequest.FromString(f) for f in oracle.read_frames(data)]


def hex_ids_to_base64(doc: dict) -> dict:
    """OTLP/JSON writes exemplar traceId/spanId as hex (proto3 JSON wants base64). Metrics carry
    ids only in exemplars; none are produced today, but a line that has them still parses."""
    for rm in doc.get("resourceMetrics", []) or []:
        for sm in rm.get("scopeMetrics", []) or []:
            for m in sm.get("metrics", []) or []:
                for kind in ("sum", "gauge", "histogram", "exponentialHistogram", "summary"):
                    for dp in (m.get(kind) or {}).get("dataPoints", []) or []:
                        for ex in dp.get("exemplars", []) or []:
                            for k in ("traceId", "spanId"):
                                if isinstance(ex.get(k), str):
                                    ex[k] = base64.b64encode(bytes.fromhex(ex[k])).decode("ascii")
    return doc


def json_line_to_metrics_request(line: str) -> ExportMetricsServiceRequest:
    """One OTLP/JSON line (ours, or pdata's in the receiver's metrics.jsonl) -> the official
    message. asInt, count, bucketCounts and the timestamps are JSON strings (64-bit integers in
    proto3 JSON); json_format reads them as such."""
    doc = hex_ids_to_base64(oracle.load_json_line(line))
    return json_format.ParseDict(doc, ExportMetricsServiceRequest(), ignore_unknown_fields=False)


def data_of(metric):
    which = metric.WhichOneof("data")
    return which, (getattr(metric, which) if which else None)


def points_of(metric) -> list:
    _, data = data_of(metric)
    return list(data.data_points) if data is not None else []


def number_value(p):
    which = p.WhichOneof("value")
    return None if which is None else getattr(p, which)


@dataclass
class Collection:
    """What one collection (a flush, or the shutdown) put on the wire."""

    requests: list
    t_before: int
    t_after: int

    def metrics(self) -> list[tuple]:
        """[(resource_metrics, scope_metrics, metric)] in wire order."""
        return [(rm, sm, m) for req in self.requests for rm in req.resource_metrics
                for sm in rm.scope_metrics for m in sm.metrics]

    def named(self, name: str, scope: str | None = None) -> list:
        return [m for _, sm, m in self.metrics()
                if m.name == name and (scope is None or sm.scope.name == scope)]

    def one(self, name: str, scope: str | None = None):
        ms = self.named(name, scope)
        assert len(ms) == 1, (f"metric {name!r} (scope {scope!r}): expected exactly one Metric in "
                              f"this collection, got {len(ms)}: {[_short_metric(m) for m in ms]}")
        return ms[0]

    def points(self, name: str, scope: str | None = None) -> list:
        return [p for m in self.named(name, scope) for p in points_of(m)]

    def series(self, name: str, scope: str | None = None) -> dict:
        """{attr_ident: point}; a repeated attribute set is an error."""
        out = {}
        for p in self.points(name, scope):
            k = attr_ident(p.attributes)
            assert k not in out, f"metric {name!r}: two points for one attribute set {k}"
            out[k] = p
        return out

    def point_count(self) -> int:
        return sum(len(points_of(m)) for *_, m in self.metrics())


def _short_metric(m) -> str:
    return oracle._short(m, 400)


def ident(**attrs) -> tuple:
    """attr_ident of a plain attribute dict (for lookups in Collection.series)."""
    return attr_ident(ref_attrs(attrs))


# ---- the engine under test ---------------------------------------------------------------------


class MEngine:
    """A FileEngine whose metrics go to the file exporter; flush() is one collection."""

    def __init__(self, factory, fmt: str = "proto", pref: str | None = None,
                 config: dict | None = None, name: str = "metrics"):
        cfg = dict(BASE_CONFIG)
        if pref is not None:
            cfg[PREF_KEY] = pref
        cfg.update(config or {})
        self.t_created = time.time_ns()
        self.fe = factory(fmt, cfg, name=name)
        self.lib: otb.Lib = self.fe.lib
        self.fmt = fmt
        self.consumed = 0
        self.collections: list[Collection] = []

    @property
    def engine(self):
        return self.fe.engine

    def scope(self, name, version="", schema_url="", attrs=None) -> int:
        return self.fe.scope(name, version, schema_url, attrs)

    def instrument(self, scope, kind, number, name, unit="", description="", bounds=None,
                   callback=None) -> int:
        st, h = self.lib.instrument_create(scope, kind, number, name, unit, description, bounds,
                                           callback)
        assert st == otb.OTEL_OK and h, (
            f"otel_instrument_create({KIND_NAMES.get(kind, kind)}, {name!r}) returned "
            f"{otb.status_name(st)}")
        return h

    def all_requests(self) -> list:
        data = self.fe.read_bytes()
        if self.fmt == "proto":
            return decode_proto(data)
        return [json_line_to_metrics_request(line) for line in self.fe.json_lines()]

    def new_requests(self) -> list:
        reqs = self.all_requests()
        new = reqs[self.consumed:]
        self.consumed = len(reqs)
        return new

    def flush(self, timeout_ms: int = 10000) -> Collection:
        t0 = time.time_ns()
        st = self.lib.engine_flush(self.engine, timeout_ms)
        t1 = time.time_ns()
        assert st == otb.OTEL_OK, f"otel_engine_flush returned {otb.status_name(st)}"
        c = Collection(self.new_requests(), t0, t1)
        self.collections.append(c)
        return c

    def shutdown(self, timeout_ms: int = 10000) -> Collection:
        t0 = time.time_ns()
        st = self.lib.engine_shutdown(self.engine, timeout_ms)
        t1 = time.time_ns()
        assert st == otb.OTEL_OK, f"otel_engine_shutdown returned {otb.status_name(st)}"
        c = Collection(self.new_requests(), t0, t1)
        self.collections.append(c)
        return c

    def stats(self) -> dict:
        st, values = self.lib.engine_stats(self.engine, otb.OTEL_SIGNAL_METRICS)
        assert st == otb.OTEL_OK
        return dict(zip(otb.STAT_NAMES, values))

    def free(self) -> int:
        return self.fe.free()


# ---- the reference model ----------------------------------------------------------------------


@dataclass
class Hist:
    bounds: list
    count: int = 0
    sum: float = 0.0
    min: float = INF
    max: float = -INF
    buckets: list = field(default_factory=list)

    def __post_init__(self):
        if not self.buckets:
            self.buckets = [0] * (len(self.bounds) + 1)

    def add(self, v: float) -> None:
        """Bucket i counts (bounds[i-1], bounds[i]]: upper bounds inclusive (spec)."""
        i = next((j for j, b in enumerate(self.bounds) if v <= b), len(self.bounds))
        self.buckets[i] += 1
        self.count += 1
        self.sum += v
        self.min = min(self.min, v)
        self.max = max(self.max, v)

    def merge(self, o: "Hist") -> None:
        self.count += o.count
        self.sum += o.sum
        self.min = min(self.min, o.min)
        self.max = max(self.max, o.max)
        self.buckets = [a + b for a, b in zip(self.buckets, o.buckets)]


@dataclass
class SeriesModel:
    kvs: list
    interval: object = 0        # sums: what arrived since the last collection
    touched: bool = False       # an accepted measurement since the last collection
    total: object = 0           # sums, cumulative
    last: object = None         # gauges: the last value
    h_int: Hist | None = None   # histograms: since the last collection
    h_cum: Hist | None = None   # histograms: since the start
    prev_obs: object = None     # observable delta: the previous observation
    first_after_ns: int | None = None  # wall clock right after its first measurement (sync)


@dataclass
class InstModel:
    label: str
    scope_key: tuple
    kind: int
    number: int
    name: str
    unit: object
    description: object
    bounds: list | None
    temporality: object
    handle: int
    observe: object = None      # observable: c -> [(value, attrs)]
    hook: object = None         # observable: run first, in the library's callback only
    series: dict = field(default_factory=dict)
    calls: int = 0              # how many times the library ran the callback

    @property
    def is_int(self) -> bool:
        return self.number == INT

    @property
    def observable(self) -> bool:
        return self.kind in OBSERVABLE

    def key(self) -> tuple:
        return self.scope_key + (self.name,)

    def series_for(self, attrs) -> SeriesModel:
        kvs = ref_attrs(attrs)
        k = attr_ident(kvs)
        s = self.series.get(k)
        if s is None:
            s = SeriesModel(kvs=kvs, interval=0 if self.is_int else 0.0,
                            total=0 if self.is_int else 0.0)
            if self.kind == HISTOGRAM:
                s.h_int = Hist(list(self.bounds))
                s.h_cum = Hist(list(self.bounds))
            self.series[k] = s
        return s


class Model:
    """Drives the library and predicts, collection by collection, the Metric messages it must
    export. Statuses that differ from the expectation are collected in .errors (one test checks
    them), so one wrong status does not hide the value checks."""

    def __init__(self, lib: otb.Lib, pref: str):
        self.lib = lib
        self.pref = pref
        self.scopes: dict[str, tuple] = {}     # label -> (handle, name, version)
        self.insts: dict[str, InstModel] = {}
        self.bounds_: dict[str, tuple] = {}    # bound label -> (inst, series, handle)
        self.collection = 0                    # the collection in progress / next
        self.errors: list[str] = []

    # -- setup
    def add_scope(self, label: str, handle: int, name: str, version: str = "") -> None:
        self.scopes[label] = (handle, name, version)

    def add(self, label, scope_label, kind, number, name, unit="", description="", bounds=None,
            observe=None, hook=None) -> InstModel:
        handle, sname, sver = self.scopes[scope_label]
        inst = InstModel(label=label, scope_key=(sname, sver), kind=kind, number=number, name=name,
                         unit=unit, description=description,
                         bounds=(list(map(float, bounds)) if bounds is not None else
                                 (list(DEFAULT_BOUNDS) if kind == HISTOGRAM else None)),
                         temporality=expected_temporality(self.pref, kind), handle=0,
                         observe=observe, hook=hook)
        cb = self._callback(inst) if observe is not None else None
        st, h = self.lib.instrument_create(handle, kind, number, name, unit, description, bounds, cb)
        assert st == otb.OTEL_OK and h, f"otel_instrument_create({label}): {otb.status_name(st)}"
        inst.handle = h
        self.insts[label] = inst
        return inst

    def _callback(self, inst: InstModel):
        def cb(observer):
            inst.calls += 1
            if inst.hook is not None:
                inst.hook()
            for value, attrs in inst.observe(self.collection):
                fn = self.lib.observe_i64 if inst.is_int else self.lib.observe_f64
                st = fn(observer, value, attrs)
                if st != otb.OTEL_OK:
                    self.errors.append(f"{inst.label}: otel_observe({value!r}, {attrs!r}) in "
                                       f"collection {self.collection} -> {otb.status_name(st)}")
        return cb

    # -- measurements
    def record(self, label, value, attrs=None, expect: int = otb.OTEL_OK) -> int:
        inst = self.insts[label]
        fn = self.lib.metric_record_i64 if inst.is_int else self.lib.metric_record_f64
        st = fn(inst.handle, value, attrs)
        if st != expect:
            self.errors.append(f"{label}: record({value!r}, {attrs!r}) -> {otb.status_name(st)}, "
                               f"expected {otb.status_name(expect)}")
        if st == otb.OTEL_OK:
            self._apply(inst, inst.series_for(attrs), value)
        return st

    def bind(self, blabel, label, attrs=None) -> None:
        inst = self.insts[label]
        st, h = self.lib.instrument_bind(inst.handle, attrs)
        if st != otb.OTEL_OK or not h:
            self.errors.append(f"{label}: bind({attrs!r}) -> {otb.status_name(st)}")
            return
        self.bounds_[blabel] = (inst, inst.series_for(attrs), h)

    def bound_record(self, blabel, value, expect: int = otb.OTEL_OK) -> int:
        inst, s, h = self.bounds_[blabel]
        fn = self.lib.bound_record_i64 if inst.is_int else self.lib.bound_record_f64
        st = fn(h, value)
        if st != expect:
            self.errors.append(f"{blabel}: bound record({value!r}) -> {otb.status_name(st)}, "
                               f"expected {otb.status_name(expect)}")
        if st == otb.OTEL_OK:
            self._apply(inst, s, value)
        return st

    def _apply(self, inst: InstModel, s: SeriesModel, value) -> None:
        if inst.kind in (COUNTER, UP_DOWN):
            s.interval += value
        elif inst.kind == GAUGE:
            s.last = value
        elif inst.kind == HISTOGRAM:
            s.h_int.add(float(value))
        s.touched = True
        if s.first_after_ns is None:
            s.first_after_ns = time.time_ns()

    # -- expectations
    def _number_point(self, inst, s, v):
        p = mpb.NumberDataPoint(attributes=s.kvs)
        if inst.is_int:
            p.as_int = int(v)
        else:
            p.as_double = float(v)
        return p

    def expected(self) -> dict:
        """{(scope name, scope version, metric name): Metric} for the collection that just ran
        (times left 0: they are checked separately), and moves the model on."""
        c = self.collection
        out = {}
        for inst in self.insts.values():
            pts = []
            if inst.kind in (COUNTER, UP_DOWN):
                for s in inst.series.values():
                    if inst.temporality == DELTA:
                        if s.touched:
                            pts.append(self._number_point(inst, s, s.interval))
                    else:
                        s.total += s.interval
                        pts.append(self._number_point(inst, s, s.total))
                    s.interval = 0 if inst.is_int else 0.0
                    s.touched = False
            elif inst.kind == GAUGE:
                for s in inst.series.values():
                    if s.last is not None:
                        pts.append(self._number_point(inst, s, s.last))
            elif inst.kind == HISTOGRAM:
                for s in inst.series.values():
                    h = s.h_int
                    if inst.temporality != DELTA:
                        s.h_cum.merge(s.h_int)
                        h = s.h_cum
                    if h.count:
                        p = mpb.HistogramDataPoint(attributes=s.kvs, count=h.count, sum=h.sum,
                                                   bucket_counts=h.buckets,
                                                   explicit_bounds=inst.bounds, min=h.min,
                                                   max=h.max)
                        pts.append(p)
                    s.h_int = Hist(list(inst.bounds))
            else:
                for value, attrs in inst.observe(c):
                    s = inst.series_for(attrs)
                    v = value
                    if inst.temporality == DELTA:
                        v = value - (s.prev_obs if s.prev_obs is not None else 0)
                        s.prev_obs = value
                    pts.append(self._number_point(inst, s, v))
            if not pts:
                continue
            m = mpb.Metric(name=inst.name, description=ref_str(inst.description),
                           unit=ref_str(inst.unit))
            if inst.kind in (GAUGE, OBS_GAUGE):
                m.gauge.data_points.extend(pts)
            elif inst.kind == HISTOGRAM:
                m.histogram.data_points.extend(pts)
                m.histogram.aggregation_temporality = inst.temporality
            else:
                m.sum.data_points.extend(pts)
                m.sum.aggregation_temporality = inst.temporality
                m.sum.is_monotonic = inst.kind in (COUNTER, OBS_COUNTER)
            out[inst.key()] = m
        self.collection += 1
        return out

    def by_key(self) -> dict:
        return {i.key(): i for i in self.insts.values()}


# ---- comparing --------------------------------------------------------------------------------


def normalized(metric, time_map=None):
    """A copy with the points sorted by attribute set, each point's attributes sorted by key, and
    the timestamps zeroed (time_map=None) or mapped through time_map."""
    m = copy.deepcopy(metric)
    _, data = data_of(m)
    if data is None:
        return m
    pts = []
    for p in data.data_points:
        q = copy.deepcopy(p)
        kvs = sorted(q.attributes, key=lambda kv: kv.key)
        kvs = [copy.deepcopy(kv) for kv in kvs]
        del q.attributes[:]
        q.attributes.extend(kvs)
        if time_map is None:
            q.start_time_unix_nano = 0
            q.time_unix_nano = 0
        else:
            q.start_time_unix_nano = time_map(q.start_time_unix_nano)
            q.time_unix_nano = time_map(q.time_unix_nano)
        pts.append(q)
    pts.sort(key=lambda p: repr(attr_ident(p.attributes)))
    del data.data_points[:]
    data.data_points.extend(pts)
    return m


def value_diffs(model_keys: dict, expected: list[dict], collections: list[Collection]) -> list[str]:
    """Field-by-field differences between what the model expects and what each collection put on
    the wire (Metric by Metric, keyed by scope name, scope version and metric name)."""
    out = []
    assert len(expected) == len(collections)
    for c, (exp, coll) in enumerate(zip(expected, collections)):
        got: dict = {}
        for _, sm, m in coll.metrics():
            got.setdefault((sm.scope.name, sm.scope.version, m.name), []).append(m)
        for k in sorted(set(exp) | set(got)):
            tag = f"collection {c} {k[0]}/{k[2]}"
            if k not in got:
                out.append(f"{tag}: missing; expected {_short_metric(normalized(exp[k]))}")
                continue
            if len(got[k]) != 1:
                out.append(f"{tag}: {len(got[k])} Metric messages, expected one")
                continue
            if k not in exp:
                out.append(f"{tag}: unexpected {_short_metric(normalized(got[k][0]))}")
                continue
            out += oracle.diff_messages(normalized(got[k][0]), normalized(exp[k]), tag)
    return out


def time_violations(model: Model, collections: list[Collection], t_engine: int) -> list[str]:
    """The timestamp rules of the module docstring, for every point of every collection."""
    out = []
    insts = model.by_key()
    first_start: dict = {}   # (metric key, attr ident) -> start of its first cumulative point
    last_point: dict = {}    # (metric key, attr ident) -> (collection, time) of its last point
    coll_time: list = []
    for c, coll in enumerate(collections):
        times = {p.time_unix_nano for *_, m in coll.metrics() for p in points_of(m)}
        if not times:
            coll_time.append(None)
            continue
        if len(times) != 1:
            out.append(f"collection {c}: points carry {len(times)} different time_unix_nano values "
                       f"{sorted(times)}; one collection has one time")
        T = min(times)
        coll_time.append(T)
        if not coll.t_before <= T <= coll.t_after:
            out.append(f"collection {c}: time_unix_nano {T} is outside the flush "
                       f"[{coll.t_before}, {coll.t_after}]")
        prev_T = coll_time[c - 1] if c > 0 else None
        for _, sm, m in coll.metrics():
            key = (sm.scope.name, sm.scope.version, m.name)
            inst = insts.get(key)
            which, data = data_of(m)
            for p in data.data_points:
                sk = (key, attr_ident(p.attributes))
                tag = f"collection {c} {m.name}{attr_dict(p.attributes)}"
                start, t = p.start_time_unix_nano, p.time_unix_nano
                if which == "gauge":
                    if start and not (t_engine <= start <= t):
                        out.append(f"{tag}: gauge start {start} not in [engine creation, time {t}]")
                elif data.aggregation_temporality == CUMULATIVE:
                    if sk in first_start:
                        if start != first_start[sk]:
                            out.append(f"{tag}: cumulative start moved from {first_start[sk]} to "
                                       f"{start}")
                    else:
                        first_start[sk] = start
                        if not t_engine <= start:
                            out.append(f"{tag}: cumulative start {start} is before the engine was "
                                       f"created ({t_engine})")
                        s = inst.series.get(sk[1]) if inst else None
                        if inst and not inst.observable and s and s.first_after_ns \
                                and start > s.first_after_ns:
                            out.append(f"{tag}: cumulative start {start} is after the series' "
                                       f"first measurement (done by {s.first_after_ns})")
                        if inst and inst.observable and c > 0 and prev_T and start < prev_T:
                            out.append(f"{tag}: observable series first seen in collection {c} "
                                       f"starts at {start}, before collection {c - 1} ({prev_T})")
                    if start > t:
                        out.append(f"{tag}: start_time_unix_nano {start} is after time_unix_nano "
                                   f"{t} (by {start - t} ns)")
                elif data.aggregation_temporality == DELTA:
                    prev = last_point.get(sk)
                    if prev is not None and prev[0] == c - 1:
                        if start != prev_T:
                            out.append(f"{tag}: delta start {start} != the previous collection's "
                                       f"time {prev_T}")
                    elif prev is not None:
                        if start < prev[1]:
                            out.append(f"{tag}: delta start {start} overlaps the series' previous "
                                       f"point (time {prev[1]}, collection {prev[0]})")
                    else:
                        if start < t_engine:
                            out.append(f"{tag}: delta start {start} is before the engine was "
                                       f"created ({t_engine})")
                        if prev_T is not None and start < prev_T:
                            out.append(f"{tag}: new delta series starts at {start}, before the "
                                       f"previous collection ({prev_T})")
                    if start > t:
                        out.append(f"{tag}: start_time_unix_nano {start} is after time_unix_nano "
                                   f"{t} (by {start - t} ns)")
                else:
                    out.append(f"{tag}: aggregation temporality {data.aggregation_temporality}")
                last_point[sk] = (c, t)
    return out


# ---- the corpus -------------------------------------------------------------------------------

N_FLUSHES = 5  # collections 0..4 are flushes; collection 5 is the shutdown

GET_A = [("http.route", "/a"), ("http.method", "GET")]
GET_A_REVERSED = [("http.method", "GET"), ("http.route", "/a")]
NEW_SET = [("http.route", "/c"), ("http.status_code", 200), ("ok", True), ("ratio", 0.5),
           ("tags", ["x", "y"]), ("raw", Str(b"caf\xc3")), ("blob", b"\x00\xff")]


def build_corpus(model: Model, scope_a: int, scope_b: int) -> None:
    m = model
    m.add_scope("A", scope_a, "corpus.alpha", "1.2.3")
    m.add_scope("B", scope_b, "corpus.beta", "")
    m.add("c_int", "A", COUNTER, INT, "http.server.requests", "{request}",
          "Requests served — 请求 ✓")
    m.add("c_dbl", "A", COUNTER, DOUBLE, "bytes.sent", "By", "Bytes sent")
    m.add("ud_int", "A", UP_DOWN, INT, "queue.depth", "{item}")
    m.add("ud_dbl", "A", UP_DOWN, DOUBLE, "account.balance", "EUR", "Solde ± €")
    m.add("h_def", "A", HISTOGRAM, DOUBLE, "http.server.duration", "ms", "Latency")
    m.add("h_adv", "A", HISTOGRAM, INT, "payload.size", "By", bounds=[1, 10, 100])
    m.add("g_int", "A", GAUGE, INT, "room.temperature", "Cel")
    m.add("g_dbl", "A", GAUGE, DOUBLE, "cache.ratio", "1")
    m.add("oc", "A", OBS_COUNTER, INT, "process.cpu.time", "ms",
          observe=lambda c: [(100 * (c + 1), {"cpu": 0}),
                             (7 * c * c + 3, {"state": "user", "cpu": 1})])
    m.add("oc_dbl", "A", OBS_COUNTER, DOUBLE, "energy.used", "J",
          observe=lambda c: [] if c == 2 else [(0.5 * (c + 1) ** 2, {"zone": "a"})])
    m.add("oud", "A", OBS_UP_DOWN, DOUBLE, "memory.free", "MiBy",
          observe=lambda c: [(1.5 * c - 2.0, {"pool": "a"}), (10.25, {"pool": "b"})]
          + ([(-(c + 0.5), {"pool": "c"})] if c % 2 == 0 else []))
    m.add("oud_int", "A", OBS_UP_DOWN, INT, "connections.open",
          observe=lambda c: [(5 - 3 * c, {"db": "main"})])
    m.add("og", "A", OBS_GAUGE, INT, "process.open_fds",
          observe=lambda c: [(7 * c, {}), (-3, {"x": True})])
    m.add("og_dbl", "A", OBS_GAUGE, DOUBLE, "system.load",
          observe=lambda c: [(c / 4, {"cpu": Str(b"c\xffpu"), "n": [1, 2]})])
    m.add("o_none", "A", OBS_COUNTER, INT, "never.observed", observe=lambda c: [])
    m.add("b_req", "B", COUNTER, INT, "http.server.requests", "{request}", "Requests served in B")
    m.add("b_lat", "B", HISTOGRAM, DOUBLE, "http.server.duration", "ms")


def corpus_step(m: Model, c: int) -> None:
    """The measurements made before collection c (c = 0..4)."""
    if c == 0:
        m.record("c_int", 1, GET_A)
        m.record("c_int", 2, GET_A_REVERSED)
        m.record("c_int", 5, {"http.route": "/b", "http.method": "POST"})
        m.record("c_int", 4, [("http.route", "/a"), ("http.method", "PUT"), ("http.method", "GET")])
        m.bind("bound", "c_int", {"http.method": "GET", "http.route": "/bound"})
        m.bound_record("bound", 3)
        m.record("c_int", 6, [("http.route", "/bound"), ("http.method", "GET")])
        m.record("c_int", -1, GET_A, expect=otb.OTEL_E_INVALID_ARG)
        m.record("c_dbl", 0.5)
        m.record("c_dbl", 1.25)
        m.record("c_dbl", 1024.0, {"net.peer": "x"})
        m.record("c_dbl", -0.25, expect=otb.OTEL_E_INVALID_ARG)
        m.record("c_dbl", NAN, expect=otb.OTEL_E_INVALID_ARG)
        m.record("ud_int", 10, {"q": "x"})
        m.record("ud_int", -4, {"q": "x"})
        m.record("ud_int", -3)
        m.record("ud_dbl", -2.5)
        m.record("ud_dbl", 0.75)
        for v in (0.0, 5.0, 5.25, 7.5, 10000.0, 10000.5, -1.0, 25.0):
            m.record("h_def", v, {"route": "/a"})
        m.record("h_def", NAN, {"route": "/a"}, expect=otb.OTEL_E_INVALID_ARG)
        for v in (1, 10, 11, 100, 101, 0, -5):
            m.record("h_adv", v)
        m.record("g_int", 5)
        m.record("g_int", 9)
        m.record("g_dbl", 0.25, {"k": "v"})
        m.record("b_req", 7, GET_A)
        m.record("b_lat", 3.5)
    elif c == 1:
        m.record("c_int", 4, GET_A)
        m.bound_record("bound", 2)
        m.record("ud_int", 1, {"q": "x"})
        m.record("h_def", 250.0, {"route": "/a"})
        m.record("h_def", 251.0, {"route": "/b"})
        m.record("g_dbl", 0.5, {"k": "w"})
        m.record("b_lat", 12.0)
    elif c == 2:  # only one double counter moves
        m.record("c_dbl", 2.0)
    elif c == 3:
        m.record("c_int", 1, NEW_SET)
        m.record("c_int", 1, list(reversed(NEW_SET)))
        m.record("h_adv", 50)
        m.record("h_adv", 50)
        m.record("ud_dbl", -0.25)
    elif c == 4:
        m.record("c_int", 10, GET_A)
        m.bound_record("bound", 1)
        m.record("ud_int", -7, {"q": "x"})
        m.record("h_def", 1000.0, {"route": "/a"})
        m.record("h_def", 0.5, {"route": "/a"})
        m.record("g_int", -12)
        m.record("g_dbl", 0.75, {"k": "v"})
        m.record("b_req", 1, GET_A)
        m.record("c_dbl", 0.125, {"net.peer": "x"})


@dataclass
class CorpusRun:
    fmt: str
    pref: str
    model: Model
    me: MEngine
    expected: list
    t_engine: int
    raw: bytes
    stats: dict


def run_corpus(factory, fmt: str, pref: str) -> CorpusRun:
    me = MEngine(factory, fmt, pref, name=f"corpus-{pref}")
    lib = me.lib
    model = Model(lib, pref)
    build_corpus(model, me.scope("corpus.alpha", "1.2.3"), me.scope("corpus.beta"))
    expected = []
    for c in range(N_FLUSHES):
        corpus_step(model, c)
        me.flush()
        expected.append(model.expected())
    me.shutdown()
    expected.append(model.expected())
    stats = me.stats()
    raw = me.fe.read_bytes()
    assert me.free() == otb.OTEL_OK
    return CorpusRun(fmt, pref, model, me, expected, me.t_created, raw, stats)


@pytest.fixture(scope="module")
def corpora(module_engine_factory):
    runs = {}

    def get(fmt: str, pref: str) -> CorpusRun:
        if (fmt, pref) not in runs:
            runs[(fmt, pref)] = run_corpus(module_engine_factory, fmt, pref)
        return runs[(fmt, pref)]
    return get


CORPUS_PARAMS = [(f, p) for p in PREFS for f in FORMATS]


@pytest.mark.parametrize("fmt,pref", CORPUS_PARAMS)
def test_corpus_calls_and_collections(corpora, fmt, pref):
    run = corpora(fmt, pref)
    assert not run.model.errors, "\n".join(run.model.errors)
    n = N_FLUSHES + 1
    assert len(run.me.collections) == n
    for inst in run.model.insts.values():
        if inst.observable:
            assert inst.calls == n, (f"{inst.label}: the callback ran {inst.calls} times over {n} "
                                     "collections (5 flushes + shutdown)")
    for c, coll in enumerate(run.me.collections):
        assert len(coll.requests) == 1, (f"collection {c}: {len(coll.requests)} requests; one "
                                         "flush of a few Metric records is one request")
    assert run.stats["failed"] == 0 and run.stats["dropped_too_large"] == 0, run.stats


@pytest.mark.parametrize("fmt,pref", CORPUS_PARAMS)
def test_corpus_values_match_model(corpora, fmt, pref):
    run = corpora(fmt, pref)
    diffs = value_diffs(run.model.by_key(), run.expected, run.me.collections)
    assert not diffs, f"[{fmt}/{pref}] {len(diffs)} difference(s):\n  " + "\n  ".join(diffs[:60])


@pytest.mark.parametrize("fmt,pref", CORPUS_PARAMS)
def test_corpus_temporality_and_monotonicity_per_kind(corpora, fmt, pref):
    run = corpora(fmt, pref)
    insts = run.model.by_key()
    seen = set()
    bad = []
    for coll in run.me.collections:
        for _, sm, m in coll.metrics():
            inst = insts[(sm.scope.name, sm.scope.version, m.name)]
            which, data = data_of(m)
            want = {COUNTER: "sum", UP_DOWN: "sum", OBS_COUNTER: "sum", OBS_UP_DOWN: "sum",
                    HISTOGRAM: "histogram", GAUGE: "gauge", OBS_GAUGE: "gauge"}[inst.kind]
            kname = KIND_NAMES[inst.kind]
            if which != want:
                bad.append(f"{kname} {m.name}: {which}, expected {want}")
                continue
            if which in ("sum", "histogram"):
                t = data.aggregation_temporality
                if t != inst.temporality:
                    bad.append(f"{kname} {m.name}: aggregation_temporality {t}, expected "
                               f"{inst.temporality} for preference {pref}")
            if which == "sum":
                mono = inst.kind in (COUNTER, OBS_COUNTER)
                if data.is_monotonic != mono:
                    bad.append(f"{kname} {m.name}: is_monotonic {data.is_monotonic}, expected {mono}")
            seen.add(inst.kind)
    assert not bad, "\n".join(sorted(set(bad)))
    assert seen == set(KIND_NAMES), f"kinds seen on the wire: {sorted(KIND_NAMES[k] for k in seen)}"


@pytest.mark.parametrize("fmt,pref", CORPUS_PARAMS)
def test_corpus_time_semantics(corpora, fmt, pref):
    run = corpora(fmt, pref)
    v = time_violations(run.model, run.me.collections, run.t_engine)
    assert not v, f"[{fmt}/{pref}] {len(v)} timestamp violation(s):\n  " + "\n  ".join(v[:40])


@pytest.mark.parametrize("fmt,pref", CORPUS_PARAMS)
def test_corpus_scope_and_resource_grouping(corpora, fmt, pref):
    run = corpora(fmt, pref)
    by_scope: dict = {}
    for inst in run.model.insts.values():
        by_scope.setdefault(inst.scope_key, set()).add(inst.name)
    for c, coll in enumerate(run.me.collections):
        for req in coll.requests:
            assert len(req.resource_metrics) == 1, f"collection {c}: one resource per request"
            rm = req.resource_metrics[0]
            res = attr_dict(rm.resource.attributes)
            assert res.get("service.name") == SERVICE_NAME, res
            keys = [(sm.scope.name, sm.scope.version) for sm in rm.scope_metrics]
            assert len(keys) == len(set(keys)), f"collection {c}: a scope appears twice: {keys}"
            for sm in rm.scope_metrics:
                k = (sm.scope.name, sm.scope.version)
                assert k in by_scope, f"collection {c}: unknown scope {k}"
                names = [m.name for m in sm.metrics]
                assert len(names) == len(set(names)), f"collection {c} scope {k}: {names}"
                assert set(names) <= by_scope[k], (
                    f"collection {c}: scope {k} carries {set(names) - by_scope[k]}, which belong "
                    "to another scope")
    # both scopes export a metric named http.server.requests: each under its own scope
    first = run.me.collections[0]
    assert len(first.named("http.server.requests")) == 2
    assert first.one("http.server.requests", "corpus.beta").description == "Requests served in B"


@pytest.mark.parametrize("fmt,pref", CORPUS_PARAMS)
def test_corpus_encoding_rules(corpora, fmt, pref):
    """proto: no unknown field, wrong wire type, repeated singular field or bad UTF-8 (what a
    decoder forgives). json: OTLP/JSON's integer-as-string and enum-as-integer rules."""
    run = corpora(fmt, pref)
    problems = []
    if fmt == "proto":
        for i, frame in enumerate(oracle.read_frames(run.raw)):
            problems += [f"frame {i}: {s}" for s in
                         oracle.wire_lint(frame, ExportMetricsServiceRequest.DESCRIPTOR)]
    else:
        lines = run.raw.decode("utf-8").split("\n")
        assert lines[-1] == "", "the JSON file must end with a newline"
        strings = {"asInt", "count", "timeUnixNano", "startTimeUnixNano"}
        for i, line in enumerate(lines[:-1]):
            doc = oracle.load_json_line(line)
            for path, k, v in oracle.iter_json(doc):
                if k in strings and not isinstance(v, str):
                    problems.append(f"line {i} {path}.{k}: {v!r} must be a JSON string")
                if k == "bucketCounts" and not all(isinstance(x, str) for x in v):
                    problems.append(f"line {i} {path}.{k}: {v!r} must be strings")
                if k == "aggregationTemporality" and not (isinstance(v, int) and v in (1, 2)):
                    problems.append(f"line {i} {path}.{k}: {v!r} must be the integer 1 or 2")
                if (k in ("asDouble", "min", "max") or (k == "sum" and not isinstance(v, dict))) \
                        and not isinstance(v, (int, float)):
                    problems.append(f"line {i} {path}.{k}: {v!r} must be a JSON number")
                if "_" in k:
                    problems.append(f"line {i} {path}.{k}: OTLP/JSON keys are lowerCamelCase")
    assert not problems, "\n".join(problems[:40])


def _symbolic_times(run: CorpusRun):
    ts = {}
    for c, coll in enumerate(run.me.collections):
        for *_, m in coll.metrics():
            for p in points_of(m):
                ts.setdefault(p.time_unix_nano, 1000 + c)

    def f(t):
        return 0 if t == 0 else ts.get(t, 1)
    return f


@pytest.mark.parametrize("pref", PREFS)
def test_json_equals_proto(corpora, pref):
    """The same corpus through OTELBRIDGE_FILE_FORMAT=json decodes (json_format.ParseDict) to
    the same messages as the proto file, request by request, with each timestamp replaced by the
    collection whose time it is (or 'another time')."""
    pj, pp = corpora("json", pref), corpora("proto", pref)
    fj, fp = _symbolic_times(pj), _symbolic_times(pp)
    assert len(pj.me.collections) == len(pp.me.collections)
    diffs = []
    for c, (cj, cp) in enumerate(zip(pj.me.collections, pp.me.collections)):
        if len(cj.requests) != len(cp.requests):
            diffs.append(f"collection {c}: {len(cj.requests)} json requests, "
                         f"{len(cp.requests)} proto requests")
            continue
        for r, (rj, rp) in enumerate(zip(cj.requests, cp.requests)):
            rj, rp = copy.deepcopy(rj), copy.deepcopy(rp)
            for req, fn in ((rj, fj), (rp, fp)):
                for rm in req.resource_metrics:
                    for sm in rm.scope_metrics:
                        ms = [normalized(m, fn) for m in sm.metrics]
                        del sm.metrics[:]
                        sm.metrics.extend(ms)
            diffs += oracle.diff_messages(rj, rp, f"collection {c} request {r}")
    assert not diffs, "\n".join(diffs[:40])


# ---- targeted tests ---------------------------------------------------------------------------


def _hist_point(coll: Collection, name: str, **attrs):
    s = coll.series(name)
    k = ident(**attrs)
    assert k in s, f"{name}: no point for {attrs}; points for {list(s)}"
    return s[k]


@pytest.mark.parametrize("which", ["default", "advisory"])
def test_histogram_bucket_upper_bounds_are_inclusive(engine_factory, which):
    me = MEngine(engine_factory)
    lib = me.lib
    sc = me.scope("hist.bounds")
    bounds = DEFAULT_BOUNDS if which == "default" else [-10.0, 0.0, 0.5, 1e3]
    h = me.instrument(sc, HISTOGRAM, DOUBLE, "h", "s", bounds=None if which == "default" else bounds)
    values = []
    for b in bounds:  # on each bound, and just above it
        values += [b, math.nextafter(b, INF)]
    values += [math.nextafter(bounds[0], -INF), -1e300, 1e300]
    for v in values:
        assert lib.metric_record_f64(h, v) == otb.OTEL_OK, v
    coll = me.flush()
    p = _hist_point(coll, "h")
    exp = Hist(list(bounds))
    for v in values:
        exp.add(v)
    got = (p.count, list(p.bucket_counts), list(p.explicit_bounds), p.min, p.max)
    want = (len(values), exp.buckets, list(bounds), min(values), max(values))
    assert got == want, f"(count, buckets, bounds, min, max):\n got  {got}\n want {want}"
    # each bound lands in its own bucket (upper bound inclusive), the value above it in the next
    # bucket 0: the first bound, the value just below it, -1e300; last: just above the last
    # bound, 1e300; every other bucket: its own upper bound and the value just above the one before
    assert exp.buckets == [3] + [2] * len(bounds), exp.buckets
    assert p.HasField("sum") and p.sum == sum(values)
    assert me.free() == otb.OTEL_OK


def test_histogram_int_values_and_min_max_sum(engine_factory):
    me = MEngine(engine_factory)
    lib = me.lib
    h = me.instrument(me.scope("hist.int"), HISTOGRAM, INT, "sizes", "By", bounds=[0, 10])
    for v in (-3, 0, 10, 11, 2**40):
        assert lib.metric_record_i64(h, v, {"k": 1}) == otb.OTEL_OK
    p = _hist_point(me.flush(), "sizes", k=1)
    assert (p.count, list(p.bucket_counts), p.sum, p.min, p.max) == \
        (5, [2, 1, 2], float(-3 + 0 + 10 + 11 + 2**40), -3.0, float(2**40)), p
    assert me.free() == otb.OTEL_OK


def test_attribute_order_and_repeated_keys_make_one_series(engine_factory):
    me = MEngine(engine_factory)
    lib = me.lib
    c = me.instrument(me.scope("attrs.order"), COUNTER, INT, "hits")
    base = [("a", 1), ("b", "two"), ("c", True), ("d", 2.5), ("e", ["x", 1])]
    total = 0
    for i, perm in enumerate(itertools.permutations(base)):
        assert lib.metric_record_i64(c, i + 1, list(perm)) == otb.OTEL_OK
        total += i + 1
    # a repeated key: the last value wins, so this is the same set again
    assert lib.metric_record_i64(c, 1000, [("a", 99)] + base[1:] + [("a", 1)]) == otb.OTEL_OK
    total += 1000
    # ... and this one is another set (a=99 last)
    assert lib.metric_record_i64(c, 7, [("a", 1)] + base[1:] + [("a", 99)]) == otb.OTEL_OK
    s = me.flush().series("hits")
    k1 = attr_ident(ref_attrs(base))
    k2 = attr_ident(ref_attrs(base[1:] + [("a", 99)]))
    assert set(s) == {k1, k2}, f"series: {list(s)}"
    assert (s[k1].as_int, s[k2].as_int) == (total, 7)
    keys = [kv.key for kv in s[k1].attributes]
    assert sorted(keys) == ["a", "b", "c", "d", "e"], f"one KeyValue per key: {keys}"
    assert me.free() == otb.OTEL_OK


def test_attribute_value_types_and_utf8_repair(engine_factory):
    me = MEngine(engine_factory, fmt="json")
    lib = me.lib
    g = me.instrument(me.scope("attrs.types"), GAUGE, DOUBLE, "g")
    attrs = [("s", "héllo ✓"), ("b", False), ("i", -(2**63)), ("d", -0.0), ("bytes", b"\x00\x01\xfe"),
             ("arr", ["a", 1, 2.5, True]), ("empty_arr", []),
             ("bad", Str(b"ok\xff\xc3(\xed\xa0\x80end")), (Str(b"k\xe2\x82"), "v"),
             ("big", 2**63 - 1), ("map", {"n": 1})]
    assert lib.metric_record_f64(g, 1.5, attrs) == otb.OTEL_OK
    coll = me.flush()
    pts = coll.points("g")
    assert len(pts) == 1
    got = sorted((kv for kv in pts[0].attributes), key=lambda kv: kv.key)
    want = sorted(ref_attrs(attrs), key=lambda kv: kv.key)
    diffs = []
    if [kv.key for kv in got] != [kv.key for kv in want]:
        diffs.append(f"keys: got {[kv.key for kv in got]}, want {[kv.key for kv in want]}")
    else:
        for g_kv, w_kv in zip(got, want):
            diffs += oracle.diff_messages(g_kv, w_kv, f"attr {w_kv.key!r}")
    assert not diffs, "\n".join(diffs)
    assert attr_dict(pts[0].attributes)["bad"] == b"ok\xff\xc3(\xed\xa0\x80end".decode("utf-8", "replace")
    assert me.free() == otb.OTEL_OK


def test_metric_name_unit_description(engine_factory):
    me = MEngine(engine_factory, fmt="json")
    lib = me.lib
    sc = me.scope("names")
    long_name = "n" + "a" * 254
    specs = [
        ("Req.Count_2-x/y", "{request}", "Zählt Anfragen — 요청 ✓ 🎉"),
        (long_name, "ms", ""),
        ("bad.utf8", Str(b"m\xffs"), Str(b"d\xe2\x82esc")),
    ]
    for name, unit, desc in specs:
        h = me.instrument(sc, COUNTER, INT, name, unit, desc)
        assert lib.metric_record_i64(h, 1) == otb.OTEL_OK
    coll = me.flush()
    for name, unit, desc in specs:
        m = coll.one(name)
        assert (m.name, m.unit, m.description) == (name, ref_str(unit), ref_str(desc)), m
    assert me.free() == otb.OTEL_OK


@pytest.mark.parametrize("name", [
    "", "1abc", "_a", ".a", "-a", "/a", "a b", "a*b", "a:b", "é", "aé", "a\x00b", "n" + "a" * 255,
    RawStr(None, 3),
])
def test_invalid_instrument_names_are_rejected(engine_factory, name):
    me = MEngine(engine_factory)
    st, h = me.lib.instrument_create(me.scope("bad.names"), COUNTER, INT, name)
    assert st == otb.OTEL_E_INVALID_ARG, f"name {name!r}: {otb.status_name(st)}"
    assert me.free() == otb.OTEL_OK


def test_invalid_create_arguments(engine_factory):
    me = MEngine(engine_factory)
    lib = me.lib
    sc = me.scope("bad.args")
    noop = lambda obs: None  # noqa: E731
    cases = {
        "kind 0": dict(kind=0),
        "kind 8": dict(kind=8),
        "number type 0": dict(number=0),
        "number type 3": dict(number=3),
        "observable without callback": dict(kind=OBS_GAUGE),
        "synchronous with callback": dict(callback=noop),
        "bounds not increasing": dict(kind=HISTOGRAM, bounds=[1.0, 1.0]),
        "bounds decreasing": dict(kind=HISTOGRAM, bounds=[2.0, 1.0]),
        "NaN bound": dict(kind=HISTOGRAM, bounds=[0.0, NAN]),
        "infinite bound": dict(kind=HISTOGRAM, bounds=[0.0, INF]),
        "NULL bounds, n 2": dict(kind=HISTOGRAM, bounds=otb.RawBounds(None, 2)),
        "unit NULL, len 1": dict(unit=RawStr(None, 1)),
        "out NULL": dict(null_out=True),
    }
    bad = []
    for label, kw in cases.items():
        args = dict(kind=COUNTER, number=INT, unit="", bounds=None, callback=None, null_out=False)
        args.update(kw)
        st, _ = lib.instrument_create(sc, args["kind"], args["number"], "x", args["unit"], "",
                                      args["bounds"], args["callback"], null_out=args["null_out"])
        if st != otb.OTEL_E_INVALID_ARG:
            bad.append(f"{label}: {otb.status_name(st)}")
    st, _ = lib.instrument_create(None, COUNTER, INT, "x")
    if st != otb.OTEL_E_INVALID_ARG:
        bad.append(f"NULL scope: {otb.status_name(st)}")
    assert not bad, "\n".join(bad)
    # record/bind argument checks
    c = me.instrument(sc, COUNTER, INT, "ok")
    assert lib.metric_record_i64(None, 1) == otb.OTEL_E_INVALID_ARG
    assert lib.metric_record_i64(c, 1, otb.RawAttrs(None, 2)) == otb.OTEL_E_INVALID_ARG
    assert lib.instrument_bind(c, None, null_out=True)[0] == otb.OTEL_E_INVALID_ARG
    assert lib.bound_record_i64(None, 1) == otb.OTEL_E_INVALID_ARG
    assert lib.observe_i64(None, 1) == otb.OTEL_E_INVALID_ARG
    assert me.free() == otb.OTEL_OK


def test_duplicate_registration(engine_factory):
    me = MEngine(engine_factory)
    lib = me.lib
    sc = me.scope("dups")
    other = me.scope("dups.other")
    a = me.instrument(sc, COUNTER, INT, "jobs", "{job}", "first")
    assert me.instrument(sc, COUNTER, INT, "jobs", "{job}", "first") == a, "same everything"
    assert me.instrument(sc, COUNTER, INT, "JOBS", "{job}", "another description") == a, \
        "name is case-insensitive; the description does not make a new instrument"
    h = me.instrument(sc, HISTOGRAM, INT, "lat", "ms", bounds=[1, 2])
    assert me.instrument(sc, HISTOGRAM, INT, "lat", "ms", bounds=[1, 2]) == h
    b = me.instrument(sc, UP_DOWN, INT, "jobs", "{job}")          # another kind
    d = me.instrument(sc, COUNTER, DOUBLE, "jobs", "{job}")       # another number type
    u = me.instrument(sc, COUNTER, INT, "jobs", "s")              # another unit
    o = me.instrument(other, COUNTER, INT, "jobs", "{job}")       # another scope
    assert len({a, b, d, u, o}) == 5, "each difference makes a new instrument"
    assert lib.metric_record_i64(a, 1) == otb.OTEL_OK
    assert lib.metric_record_i64(me.instrument(sc, COUNTER, INT, "jobs", "{job}"), 2) == otb.OTEL_OK
    assert lib.metric_record_i64(b, -5) == otb.OTEL_OK
    assert lib.metric_record_f64(d, 0.5) == otb.OTEL_OK
    assert lib.metric_record_i64(u, 9) == otb.OTEL_OK
    assert lib.metric_record_i64(o, 4) == otb.OTEL_OK
    coll = me.flush()
    jobs = coll.named("jobs", "dups")
    got = sorted((m.unit, m.sum.is_monotonic, number_value(m.sum.data_points[0])) for m in jobs)
    assert got == sorted([("{job}", True, 3), ("{job}", False, -5), ("{job}", True, 0.5),
                          ("s", True, 9)]), f"all four instruments are exported: {got}"
    assert [m.name for m in jobs if m.unit == "{job}" and m.sum.is_monotonic
            and m.sum.data_points[0].WhichOneof("value") == "as_int"] == ["jobs"], \
        "the first registration's name is kept"
    assert number_value(coll.one("jobs", "dups.other").sum.data_points[0]) == 4
    assert me.free() == otb.OTEL_OK


def test_negative_and_nan_measurements_are_rejected_and_not_counted(engine_factory):
    me = MEngine(engine_factory)
    lib = me.lib
    sc = me.scope("rejects")
    ci = me.instrument(sc, COUNTER, INT, "ci")
    cd = me.instrument(sc, COUNTER, DOUBLE, "cd")
    ud = me.instrument(sc, UP_DOWN, DOUBLE, "ud")
    hd = me.instrument(sc, HISTOGRAM, DOUBLE, "hd")
    gd = me.instrument(sc, GAUGE, DOUBLE, "gd")
    A = {"k": "v"}
    ok, inv = otb.OTEL_OK, otb.OTEL_E_INVALID_ARG
    calls = [
        (lib.metric_record_i64, ci, 5, ok), (lib.metric_record_i64, ci, -1, inv),
        (lib.metric_record_i64, ci, otb.INT64_MIN, inv), (lib.metric_record_f64, ci, -0.5, inv),
        (lib.metric_record_f64, cd, 1.5, ok), (lib.metric_record_f64, cd, -1.5, inv),
        (lib.metric_record_f64, cd, NAN, inv), (lib.metric_record_i64, cd, -2, inv),
        (lib.metric_record_f64, ud, -1.5, ok), (lib.metric_record_f64, ud, NAN, inv),
        (lib.metric_record_f64, hd, 3.0, ok), (lib.metric_record_f64, hd, NAN, inv),
        (lib.metric_record_f64, gd, 2.0, ok), (lib.metric_record_f64, gd, NAN, inv),
    ]
    bad = [f"{fn.__name__}({v!r}) -> {otb.status_name(st)}, expected {otb.status_name(want)}"
           for fn, inst, v, want in calls if (st := fn(inst, v, A)) != want]
    bci = lib.instrument_bind(ci, A)[1]
    bhd = lib.instrument_bind(hd, A)[1]
    for fn, b, v in ((lib.bound_record_i64, bci, -3), (lib.bound_record_f64, bci, NAN),
                     (lib.bound_record_f64, bhd, NAN)):
        if (st := fn(b, v)) != inv:
            bad.append(f"bound {fn.__name__}({v!r}) -> {otb.status_name(st)}")
    assert not bad, "\n".join(bad)
    coll = me.flush()
    got = {n: number_value(coll.one(n).sum.data_points[0]) for n in ("ci", "cd", "ud")}
    assert got == {"ci": 5, "cd": 1.5, "ud": -1.5}, got
    p = coll.one("hd").histogram.data_points[0]
    assert (p.count, p.sum) == (1, 3.0)
    assert number_value(coll.one("gd").gauge.data_points[0]) == 2.0
    assert me.free() == otb.OTEL_OK


def test_rejected_measurement_does_not_create_a_series(engine_factory):
    """A negative counter value or a NaN is dropped (header: "a negative one is dropped"): it must
    leave no trace, not even a zero-valued series for an attribute set nothing else used."""
    me = MEngine(engine_factory)
    lib = me.lib
    sc = me.scope("rejects.fresh")
    ci = me.instrument(sc, COUNTER, INT, "ci")
    cd = me.instrument(sc, COUNTER, DOUBLE, "cd")
    ud = me.instrument(sc, UP_DOWN, DOUBLE, "ud")
    assert lib.metric_record_i64(ci, 1, {"set": "used"}) == otb.OTEL_OK
    assert lib.metric_record_i64(ci, -1, {"set": "negative-only"}) == otb.OTEL_E_INVALID_ARG
    assert lib.metric_record_f64(cd, NAN, {"set": "nan-only"}) == otb.OTEL_E_INVALID_ARG
    assert lib.metric_record_f64(ud, NAN, {"set": "nan-only"}) == otb.OTEL_E_INVALID_ARG
    coll = me.flush()
    got = {m.name: [attr_dict(p.attributes) for p in points_of(m)] for *_, m in coll.metrics()}
    assert got == {"ci": [{"set": "used"}]}, (
        f"rejected measurements created series: {got}")
    assert me.free() == otb.OTEL_OK


def test_bound_instruments_share_the_unbound_series(engine_factory):
    me = MEngine(engine_factory)
    lib = me.lib
    sc = me.scope("bound")
    A = [("route", "/x"), ("code", 200)]
    A_REV = list(reversed(A))
    c = me.instrument(sc, COUNTER, DOUBLE, "c")
    u = me.instrument(sc, UP_DOWN, INT, "u")
    h = me.instrument(sc, HISTOGRAM, INT, "h", bounds=[10])
    g = me.instrument(sc, GAUGE, INT, "g")
    bc = lib.instrument_bind(c, A)[1]
    bc2 = lib.instrument_bind(c, A_REV)[1]
    bu = lib.instrument_bind(u, A_REV)[1]
    bh = lib.instrument_bind(h, A)[1]
    bg = lib.instrument_bind(g, A)[1]
    be = lib.instrument_bind(c, None)[1]
    assert all((bc, bc2, bu, bh, bg, be))
    ok = otb.OTEL_OK
    assert [lib.bound_record_f64(bc, 1.5), lib.metric_record_f64(c, 2.0, A_REV),
            lib.bound_record_f64(bc2, 0.25), lib.metric_record_f64(c, 4.0, A),
            lib.bound_record_f64(be, 8.0), lib.metric_record_f64(c, 16.0)] == [ok] * 6
    assert [lib.bound_record_i64(bu, -3), lib.metric_record_i64(u, 10, A)] == [ok] * 2
    assert [lib.bound_record_i64(bh, 5), lib.metric_record_i64(h, 50, A_REV),
            lib.bound_record_i64(bh, 10)] == [ok] * 3
    assert [lib.metric_record_i64(g, 1, A), lib.bound_record_i64(bg, 42)] == [ok] * 2
    coll = me.flush()
    k, e = attr_ident(ref_attrs(A)), ()
    cs = coll.series("c")
    assert set(cs) == {k, e} and (cs[k].as_double, cs[e].as_double) == (7.75, 24.0), cs
    us = coll.series("u")
    assert set(us) == {k} and us[k].as_int == 7
    hp = coll.series("h")
    assert set(hp) == {k} and (hp[k].count, list(hp[k].bucket_counts), hp[k].sum) == (3, [2, 1], 65.0)
    gs = coll.series("g")
    assert set(gs) == {k} and gs[k].as_int == 42
    assert me.free() == otb.OTEL_OK


@pytest.mark.parametrize("pref", ["cumulative", "delta"])
def test_cardinality_limit_overflow_series_keeps_exact_totals(engine_factory, pref):
    LIMIT = 5
    me = MEngine(engine_factory, pref=pref, config={"OTELBRIDGE_METRICS_CARDINALITY_LIMIT": str(LIMIT)})
    lib = me.lib
    c = me.instrument(me.scope("card"), COUNTER, INT, "c")
    ok = otb.OTEL_OK
    # collection 0: 5 sets fill the limit; 7 more go to the overflow series, twice each
    for i in range(LIMIT):
        assert lib.metric_record_i64(c, i + 1, {"i": i}) == ok
    over = 0
    for rep in range(2):
        for i in range(LIMIT, LIMIT + 7):
            assert lib.metric_record_i64(c, 100 + i, {"i": i}) == ok
            over += 100 + i
    assert lib.metric_record_i64(c, 10, {"i": 0}) == ok  # an existing set keeps its series
    c0 = me.flush()
    s0 = c0.series("c")
    ov = attr_ident([OVERFLOW_KV])
    want0 = {ident(i=i): i + 1 for i in range(LIMIT)}
    want0[ident(i=0)] += 10
    want0[ov] = over
    got0 = {k: p.as_int for k, p in s0.items()}
    assert got0 == want0, f"collection 0:\n got  {got0}\n want {want0}"
    # collection 1: new sets still overflow, known ones do not
    assert lib.metric_record_i64(c, 1, {"i": 99}) == ok
    assert lib.metric_record_i64(c, 2, {"i": 1}) == ok
    s1 = {k: p.as_int for k, p in me.flush().series("c").items()}
    if pref == "cumulative":
        want1 = dict(want0)
        want1[ov] += 1
        want1[ident(i=1)] += 2
    else:
        want1 = {ov: 1, ident(i=1): 2}
    assert s1 == want1, f"collection 1:\n got  {s1}\n want {want1}"
    assert me.free() == otb.OTEL_OK


def test_cardinality_limit_histogram_overflow(engine_factory):
    me = MEngine(engine_factory, config={"OTELBRIDGE_METRICS_CARDINALITY_LIMIT": "2"})
    lib = me.lib
    h = me.instrument(me.scope("card.h"), HISTOGRAM, DOUBLE, "h", bounds=[1.0])
    for i, v in enumerate([0.5, 2.0, 0.25, 3.0, 0.75]):
        assert lib.metric_record_f64(h, v, {"i": i}) == otb.OTEL_OK
    s = me.flush().series("h")
    ov = s.get(attr_ident([OVERFLOW_KV]))
    assert set(s) == {ident(i=0), ident(i=1), attr_ident([OVERFLOW_KV])}, list(s)
    assert (ov.count, ov.sum, list(ov.bucket_counts), ov.min, ov.max) == (3, 4.0, [2, 1], 0.25, 3.0)
    assert me.free() == otb.OTEL_OK


def test_cardinality_limit_observable_overflow_sums_observations(engine_factory):
    """Observations past the limit go to the overflow series; "Measurements MUST NOT be
    double-counted or dropped during an overflow" (spec), so the overflow point of an observable
    counter is the sum of what overflowed, and the instrument's total stays exact."""
    me = MEngine(engine_factory, config={"OTELBRIDGE_METRICS_CARDINALITY_LIMIT": "3"})
    lib = me.lib

    def cb(obs):
        for i in range(6):
            lib.observe_i64(obs, 10 * (i + 1), {"i": i})
    me.instrument(me.scope("card.obs"), OBS_COUNTER, INT, "oc", callback=cb)
    s = {k: p.as_int for k, p in me.flush().series("oc").items()}
    want = {ident(i=0): 10, ident(i=1): 20, ident(i=2): 30, attr_ident([OVERFLOW_KV]): 40 + 50 + 60}
    assert s == want, f"\n got  {s}\n want {want}"
    assert me.free() == otb.OTEL_OK


def test_records_after_shutdown_are_refused(engine_factory):
    me = MEngine(engine_factory)
    lib = me.lib
    sc = me.scope("after.shutdown")
    c = me.instrument(sc, COUNTER, INT, "c")
    h = me.instrument(sc, HISTOGRAM, DOUBLE, "h")
    g = me.instrument(sc, GAUGE, DOUBLE, "g")
    bc = lib.instrument_bind(c, {"k": 1})[1]
    assert lib.metric_record_i64(c, 1, {"k": 1}) == otb.OTEL_OK
    me.flush()  # (a metrics-only engine that never flushed: test_metrics_only_engine_exports_at_shutdown)
    assert lib.bound_record_i64(bc, 2) == otb.OTEL_OK
    last = me.shutdown()
    assert number_value(last.one("c").sum.data_points[0]) == 3, "shutdown collects once more"
    sd = otb.OTEL_E_SHUTDOWN
    got = [lib.metric_record_i64(c, 1), lib.metric_record_f64(h, 1.0), lib.metric_record_f64(g, 1.0),
           lib.bound_record_i64(bc, 1), lib.instrument_create(sc, COUNTER, INT, "late")[0]]
    assert got == [sd] * 5, [otb.status_name(s) for s in got]
    assert len(me.all_requests()) == me.consumed, "nothing is exported after the shutdown"
    assert me.free() == otb.OTEL_OK


def test_metrics_exporter_none_gives_noop_instruments(engine_factory):
    me = MEngine(engine_factory, config={"OTEL_METRICS_EXPORTER": "none"})
    lib = me.lib
    sc = me.scope("noop")
    calls = []
    handles = []
    for kind in (COUNTER, UP_DOWN, HISTOGRAM, GAUGE):
        handles.append(me.instrument(sc, kind, INT, f"k{kind}"))
    handles.append(me.instrument(sc, OBS_GAUGE, INT, "og", callback=lambda obs: calls.append(1)))
    ok = otb.OTEL_OK
    for h in handles[:4]:
        assert lib.metric_record_i64(h, 3, {"a": 1}) == ok
        assert lib.metric_record_f64(h, 1.5) == ok
        st, b = lib.instrument_bind(h, {"a": 1})
        assert st == ok and b
        assert lib.bound_record_i64(b, 1) == ok and lib.bound_record_f64(b, 2.0) == ok
    assert lib.engine_flush(me.engine, 5000) == ok
    assert me.shutdown().requests == []
    assert not calls, "a no-op observable's callback never runs"
    assert me.fe.read_bytes() == b""
    assert me.free() == otb.OTEL_OK


LITERAL_COLLECTIONS = 5


@pytest.mark.parametrize("pref", PREFS)
def test_delta_and_cumulative_arithmetic_over_five_collections(engine_factory, pref):
    """Known adds per collection; the expected values are written out, not computed."""
    me = MEngine(engine_factory, pref=pref)
    lib = me.lib
    sc = me.scope("arith")
    ci = me.instrument(sc, COUNTER, INT, "ci")
    cd = me.instrument(sc, COUNTER, DOUBLE, "cd")
    ud = me.instrument(sc, UP_DOWN, INT, "ud")
    h = me.instrument(sc, HISTOGRAM, INT, "h", bounds=[10])
    obs_values = [10, 10, 25, 40, 41]
    step = [0]
    me.instrument(sc, OBS_COUNTER, INT, "oc",
                  callback=lambda obs: lib.observe_i64(obs, obs_values[min(step[0], 4)]))
    adds_ci = [[1, 2], [5], [], [10, 20], [7]]
    adds_cd = [[0.5], [0.25, 0.25], [], [1.5], [0.125]]
    adds_ud = [[5, -2], [-10], [], [4], [1]]
    adds_h = [[1, 20], [10], [], [11, 11], [5]]
    colls = []
    for c in range(LITERAL_COLLECTIONS):
        for v in adds_ci[c]:
            assert lib.metric_record_i64(ci, v) == otb.OTEL_OK
        for v in adds_cd[c]:
            assert lib.metric_record_f64(cd, v) == otb.OTEL_OK
        for v in adds_ud[c]:
            assert lib.metric_record_i64(ud, v) == otb.OTEL_OK
        for v in adds_h[c]:
            assert lib.metric_record_i64(h, v) == otb.OTEL_OK
        step[0] = c
        colls.append(me.flush())

    def series_of(name):
        out = []
        for coll in colls:
            ps = coll.points(name)
            assert len(ps) <= 1
            if not ps:
                out.append(None)
            elif name == "h":
                p = ps[0]
                out.append((p.count, list(p.bucket_counts), p.sum, p.min, p.max))
            else:
                out.append(number_value(ps[0]))
        return out

    delta_counters = pref in ("delta", "lowmemory")
    if delta_counters:
        want_ci = [3, 5, None, 30, 7]
        want_cd = [0.5, 0.5, None, 1.5, 0.125]
        want_h = [(2, [1, 1], 21.0, 1.0, 20.0), (1, [1, 0], 10.0, 10.0, 10.0), None,
                  (2, [0, 2], 22.0, 11.0, 11.0), (1, [1, 0], 5.0, 5.0, 5.0)]
    else:
        want_ci = [3, 8, 8, 38, 45]
        want_cd = [0.5, 1.0, 1.0, 2.5, 2.625]
        want_h = [(2, [1, 1], 21.0, 1.0, 20.0), (3, [2, 1], 31.0, 1.0, 20.0),
                  (3, [2, 1], 31.0, 1.0, 20.0), (5, [2, 3], 53.0, 1.0, 20.0),
                  (6, [3, 3], 58.0, 1.0, 20.0)]
    want_ud = [3, -7, -7, -3, -2]
    want_oc = [10, 0, 15, 15, 1] if pref == "delta" else obs_values
    got = {n: series_of(n) for n in ("ci", "cd", "ud", "h", "oc")}
    want = {"ci": want_ci, "cd": want_cd, "ud": want_ud, "h": want_h, "oc": want_oc}
    assert got == want, "\n".join(f"{n}: got {got[n]}\n{' ' * len(n)}  want {want[n]}"
                                  for n in want if got[n] != want[n])
    # start times: cumulative constant; delta = the previous collection's time when continuous
    times = [coll.points("ud")[0].time_unix_nano for coll in colls]
    for name, delta in (("ci", delta_counters), ("ud", False), ("h", delta_counters)):
        starts = [coll.points(name)[0].start_time_unix_nano if coll.points(name) else None
                  for coll in colls]
        if delta:
            for c in (1, 4):  # both follow a collection in which the series reported
                assert starts[c] == times[c - 1], f"{name}: delta start[{c}] {starts[c]} != {times[c - 1]}"
        else:
            assert len(set(starts)) == 1 and starts[0] <= times[0], f"{name}: starts {starts}"
    assert me.free() == otb.OTEL_OK


def test_gauge_keeps_the_last_value(engine_factory):
    me = MEngine(engine_factory)
    lib = me.lib
    g = me.instrument(me.scope("gauge"), GAUGE, INT, "g")
    for v in (3, -8, 1):
        assert lib.metric_record_i64(g, v, {"k": 1}) == otb.OTEL_OK
    c0 = me.flush()
    c1 = me.flush()
    assert lib.metric_record_i64(g, 2**62, {"k": 1}) == otb.OTEL_OK
    c2 = me.flush()
    got = [[number_value(p) for p in c.points("g")] for c in (c0, c1, c2)]
    assert got == [[1], [1], [2**62]], got
    assert c0.one("g").WhichOneof("data") == "gauge"
    assert me.free() == otb.OTEL_OK


def test_observable_callbacks_several_attribute_sets_and_user_data(engine_factory):
    me = MEngine(engine_factory)
    lib = me.lib
    sc = me.scope("observable")
    seen_user = []

    @otb.OTEL_OBSERVE_FN
    def raw_cb(observer, user_data):
        seen_user.append(user_data)
        lib.observe_f64(observer, 1.25, {"core": 0})
        lib.observe_f64(observer, 2.5, [("core", 1), ("mode", "idle")])
        lib.observe_f64(observer, 3.75, [("mode", "idle"), ("core", 2)])
        lib.observe_i64(observer, 4, {"core": 3})  # an int observation on a double instrument
    st, og = lib.instrument_create(sc, OBS_GAUGE, DOUBLE, "cpu", "1", "", None, raw_cb,
                                   user_data=0xC0FFEE)
    assert st == otb.OTEL_OK and og
    statuses = []
    me.instrument(sc, OBS_UP_DOWN, INT, "empty", callback=lambda obs: None)
    me.instrument(sc, OBS_COUNTER, INT, "nan",
                  callback=lambda obs: statuses.append(
                      (lib.observe_f64(obs, NAN, {"a": 1}), lib.observe_i64(obs, 5, {"a": 2}))))
    coll = me.flush()
    assert seen_user == [0xC0FFEE], seen_user
    got = {tuple(sorted(attr_dict(p.attributes).items())): p.as_double for p in coll.points("cpu")}
    assert got == {(("core", 0),): 1.25, (("core", 1), ("mode", "idle")): 2.5,
                   (("core", 2), ("mode", "idle")): 3.75, (("core", 3),): 4.0}, got
    assert coll.named("empty") == [], "a callback that observes nothing exports no metric"
    assert statuses == [(otb.OTEL_E_INVALID_ARG, otb.OTEL_OK)], statuses
    assert [(attr_dict(p.attributes), p.as_int) for p in coll.points("nan")] == [({"a": 2}, 5)]
    assert me.free() == otb.OTEL_OK


def test_observable_points_never_start_after_their_time(engine_factory):
    """start_time_unix_nano <= time_unix_nano for every point (data model); for an observable
    series first seen in the first collection, the spec's start is the instrument's creation."""
    me = MEngine(engine_factory)
    lib = me.lib
    sc = me.scope("obs.start")
    t_before = time.time_ns()
    me.instrument(sc, OBS_COUNTER, INT, "oc", callback=lambda obs: lib.observe_i64(obs, 1, {"a": 1}))
    me.instrument(sc, OBS_UP_DOWN, DOUBLE, "oud", callback=lambda obs: lib.observe_f64(obs, 1.0))
    t_after = time.time_ns()
    bad = []
    for c in range(2):
        coll = me.flush()
        for *_, m in coll.metrics():
            for p in points_of(m):
                if p.start_time_unix_nano > p.time_unix_nano:
                    bad.append(f"collection {c} {m.name}: start {p.start_time_unix_nano} > time "
                               f"{p.time_unix_nano} (by {p.start_time_unix_nano - p.time_unix_nano} ns)")
                elif c == 0 and not me.t_created <= p.start_time_unix_nano <= t_after:
                    bad.append(f"collection 0 {m.name}: start {p.start_time_unix_nano} is not in "
                               f"[engine creation, instrument creation done] = [{me.t_created}, {t_after}]")
    assert t_before <= t_after
    assert not bad, "\n".join(bad)
    assert me.free() == otb.OTEL_OK


def test_temporality_preference_is_case_insensitive(engine_factory):
    me = MEngine(engine_factory, pref="DELTA")
    c = me.instrument(me.scope("case"), COUNTER, INT, "c")
    assert me.lib.metric_record_i64(c, 1) == otb.OTEL_OK
    assert me.flush().one("c").sum.aggregation_temporality == DELTA
    assert me.free() == otb.OTEL_OK


def test_metrics_only_engine_exports_at_shutdown(engine_factory):
    """No flush: the shutdown alone must collect and export what was recorded."""
    me = MEngine(engine_factory)
    lib = me.lib
    c = me.instrument(me.scope("only.shutdown"), COUNTER, INT, "c")
    assert lib.metric_record_i64(c, 41) == otb.OTEL_OK
    assert lib.metric_record_i64(c, 1) == otb.OTEL_OK
    last = me.shutdown()
    pts = last.points("c")
    assert [number_value(p) for p in pts] == [42], (
        f"after otel_engine_shutdown with no flush before it, the file holds "
        f"{len(me.all_requests())} request(s); the counter's points: {pts}")
    assert me.free() == otb.OTEL_OK


def test_periodic_export_without_flush(engine_factory):
    """OTEL_METRIC_EXPORT_INTERVAL drives collections by itself: no flush, no other signal."""
    me = MEngine(engine_factory, config={"OTEL_METRIC_EXPORT_INTERVAL": "100"})
    lib = me.lib
    c = me.instrument(me.scope("periodic"), COUNTER, INT, "c")
    assert lib.metric_record_i64(c, 3) == otb.OTEL_OK
    deadline = time.monotonic() + 5.0
    reqs = []
    while time.monotonic() < deadline and not reqs:
        time.sleep(0.05)
        reqs = me.all_requests()
    vals = [number_value(p) for r in reqs for rm in r.resource_metrics for sm in rm.scope_metrics
            for m in sm.metrics for p in points_of(m)]
    assert reqs and vals[:1] == [3], (
        f"5 s after recording with OTEL_METRIC_EXPORT_INTERVAL=100 and no flush, the file holds "
        f"{len(reqs)} request(s) (values {vals})")
    assert me.free() == otb.OTEL_OK


@pytest.mark.parametrize("pref", ["cumulative", "delta"])
def test_concurrent_records_racing_collections_are_exact(engine_factory, pref):
    """Threads record (ctypes releases the GIL during each call) while the main thread collects
    again and again: every measurement is counted once, in one collection or the next
    (docs/architecture.md), so the deltas add up to the totals and the last cumulative point is
    the total."""
    me = MEngine(engine_factory, pref=pref)
    lib = me.lib
    sc = me.scope("race")
    ci = me.instrument(sc, COUNTER, INT, "ci")
    cd = me.instrument(sc, COUNTER, DOUBLE, "cd")
    h = me.instrument(sc, HISTOGRAM, DOUBLE, "h", bounds=[5.0])
    THREADS, N = 4, 4000
    bound = [lib.instrument_bind(ci, {"t": "bound"})[1] for _ in range(THREADS)]
    errors = []

    def work(t):
        for i in range(N):
            r = (lib.metric_record_i64(ci, 1, {"t": "shared"}), lib.bound_record_i64(bound[t], 2),
                 lib.metric_record_f64(cd, 0.5), lib.metric_record_f64(h, 1.0 if i % 2 else 7.0))
            if r != (0, 0, 0, 0):
                errors.append(r)
                return
    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    colls = []
    while any(t.is_alive() for t in threads):
        colls.append(me.flush())
        time.sleep(0.002)
    for t in threads:
        t.join()
    colls.append(me.flush())
    assert not errors, errors[:3]
    assert len(colls) >= 3, "the collections must race the records"

    def per_collection(name, fn):
        return [fn(p) for c in colls for p in c.points(name)]
    shared = [p.as_int for c in colls for k, p in c.series("ci").items() if k == ident(t="shared")]
    bnd = [p.as_int for c in colls for k, p in c.series("ci").items() if k == ident(t="bound")]
    dbl = per_collection("cd", lambda p: p.as_double)
    hist = per_collection("h", lambda p: (p.count, p.sum, tuple(p.bucket_counts)))
    total = THREADS * N
    if pref == "delta":
        got = (sum(shared), sum(bnd), sum(dbl), sum(x[0] for x in hist), sum(x[1] for x in hist),
               tuple(map(sum, zip(*(x[2] for x in hist)))))
    else:
        for name, seq in (("ci shared", shared), ("ci bound", bnd), ("cd", dbl)):
            assert seq == sorted(seq), f"{name}: a cumulative counter went down: {seq}"
        got = (shared[-1], bnd[-1], dbl[-1], hist[-1][0], hist[-1][1], hist[-1][2])
    want = (total, 2 * total, 0.5 * total, total, 4.0 * total, (total // 2, total // 2))
    assert got == want, f"[{pref}] (ci shared, ci bound, cd, h count, h sum, h buckets)\n got  {got}\n want {want}"
    bad = [x for x in hist if x[0] != sum(x[2])]
    assert not bad, f"histogram points whose count is not the sum of their buckets: {bad[:5]}"
    assert me.free() == otb.OTEL_OK
