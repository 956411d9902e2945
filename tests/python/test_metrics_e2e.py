"""Metrics end to end: libotelbridge -> the OpenTelemetry Collector's real otlpreceiver
(tests/collector, via collector.py), over OTLP http/protobuf and gRPC.

Counters (int and double), an up-down counter, a histogram with advisory boundaries, a gauge and
observable instruments (a counter and a gauge with several attribute sets each; one whose callback
observes nothing; one whose callback sleeps 100 ms first) are driven through the reference Model of
test_metrics_fidelity.py. After each of N flushes, the lines the receiver appended to its
metrics.jsonl (pdata's OTLP/JSON) are parsed with the official opentelemetry-proto package and
compared field by field with what the model expects for that collection; the number of data
points is exact per collection and in total (the receiver's own count too), and the shutdown is
one more collection.
"""

from __future__ import annotations

import time

import pytest

import collector
import otb
from test_metrics_fidelity import (
    COUNTER, DOUBLE, GAUGE, HISTOGRAM, INT, OBS_COUNTER, OBS_GAUGE, OBS_UP_DOWN, UP_DOWN,
    Collection, Model, attr_dict, ident, json_line_to_metrics_request, points_of, value_diffs,
)

PROTOCOLS = ["http/protobuf", "grpc"]
SERVICE = "metrics-e2e-svc"
N_FLUSHES = 3
SLOW_S = 0.1


# rx (the receiver): conftest.py


def _lines(rx) -> list[str]:
    path = rx.out / "metrics.jsonl"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return [ln for ln in text.split("\n") if ln]


def _endpoint(rx, protocol: str) -> str:
    return rx.grpc_endpoint if protocol == "grpc" else rx.http_endpoint


class Receiver:
    """Turns the receiver's metrics.jsonl into one Collection per flush."""

    def __init__(self, rx):
        self.rx = rx
        self.consumed = 0

    def new_collection(self, t_before: int, t_after: int) -> Collection:
        lines = _lines(self.rx)
        new = lines[self.consumed:]
        self.consumed = len(lines)
        return Collection([json_line_to_metrics_request(ln) for ln in new], t_before, t_after)


def build(model: Model, scope: int) -> None:
    m = model
    m.add_scope("S", scope, "otelbridge.e2e.metrics", "2.0.0")
    m.add("orders", "S", COUNTER, INT, "shop.orders", "{order}", "Orders placed — commandes ✓")
    m.add("revenue", "S", COUNTER, DOUBLE, "shop.revenue", "EUR")
    m.add("carts", "S", UP_DOWN, INT, "shop.carts.active", "{cart}")
    m.add("dur", "S", HISTOGRAM, DOUBLE, "shop.checkout.duration", "ms", "Checkout latency",
          bounds=[10, 50, 100, 500])
    m.add("stock", "S", GAUGE, INT, "shop.inventory", "{item}")
    m.add("ticks", "S", OBS_COUNTER, INT, "process.cpu.ticks", "{tick}",
          observe=lambda c: [(1000 * (c + 1), {"cpu": 0}), (10 * c + 5, {"cpu": 1})])
    m.add("temp", "S", OBS_GAUGE, DOUBLE, "hw.temperature", "Cel",
          observe=lambda c: [(40.5 + c, {"sensor": "a"}), (-5.25, {"sensor": "b"}),
                             (100.0 - c / 2, {"sensor": "c", "rack": 7})])
    m.add("idle", "S", OBS_UP_DOWN, INT, "never.observed", observe=lambda c: [])
    m.add("slow", "S", OBS_GAUGE, INT, "slow.gauge",
          observe=lambda c: [(c * 11, {"slow": True})], hook=lambda: time.sleep(SLOW_S))


def step(m: Model, c: int) -> None:
    if c == 0:
        m.record("orders", 2, {"region": "eu"})
        m.record("orders", 3, [("region", "us"), ("channel", "web")])
        m.record("revenue", 19.5)
        m.record("revenue", 0.25, {"coupon": True})
        m.record("carts", 4)
        for v in (3.0, 10.0, 10.5, 77.0, 500.0, 501.0):
            m.record("dur", v, {"route": "/checkout"})
        m.record("stock", 120, {"sku": "A-1"})
    elif c == 1:
        m.record("orders", 1, {"region": "eu"})
        m.record("carts", -3)
        m.record("dur", 49.75, {"route": "/checkout"})
        m.record("stock", 118, {"sku": "A-1"})
        m.record("stock", 7, {"sku": "B-2"})
    elif c == 2:
        m.record("orders", 5, [("channel", "web"), ("region", "us")])
        m.record("revenue", 80.0)
        m.record("carts", 1)


@pytest.mark.parametrize("pref", ["cumulative", "delta"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_metrics_arrive_intact(rx, engine_factory, protocol, pref):
    e = engine_factory(config={
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_ENDPOINT": _endpoint(rx, protocol),
        "OTEL_METRIC_EXPORT_INTERVAL": "3600000",   # only flush and shutdown collect
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": pref,
        "OTEL_SERVICE_NAME": SERVICE,
    }, name=f"e2e-{protocol.replace('/', '-')}-{pref}")
    lib = e.lib
    model = Model(lib, pref)
    build(model, e.scope("otelbridge.e2e.metrics", "2.0.0"))
    recv = Receiver(rx)
    colls, expected, flush_s = [], [], []
    for c in range(N_FLUSHES):
        step(model, c)
        t0 = time.time_ns()
        st = lib.engine_flush(e.engine, 15000)
        t1 = time.time_ns()
        assert st == otb.OTEL_OK, f"[{protocol}] flush {c}: {otb.status_name(st)}"
        flush_s.append((t1 - t0) / 1e9)
        colls.append(recv.new_collection(t0, t1))
        expected.append(model.expected())
        # exact point count after each flush: this collection's, and the running total
        want_points = sum(len(points_of(mm)) for mm in expected[-1].values())
        assert colls[-1].point_count() == want_points, (
            f"[{protocol}/{pref}] flush {c}: the receiver wrote {colls[-1].point_count()} data "
            f"points in {len(colls[-1].requests)} request(s), expected {want_points}")
        total = sum(cc.point_count() for cc in colls)
        assert rx.stats()["metrics"]["items"] == total, (
            f"flush {c}: receiver items {rx.stats()['metrics']['items']}, points so far {total}")
    t0 = time.time_ns()
    assert e.shutdown(15000) == otb.OTEL_OK, "otel_engine_shutdown"
    t1 = time.time_ns()
    colls.append(recv.new_collection(t0, t1))
    expected.append(model.expected())
    st, values = lib.engine_stats(e.engine, otb.OTEL_SIGNAL_METRICS)
    mstats = dict(zip(otb.STAT_NAMES, values))
    assert e.free() == otb.OTEL_OK

    assert not model.errors, "\n".join(model.errors)
    diffs = value_diffs(model.by_key(), expected, colls)
    assert not diffs, f"[{protocol}/{pref}] {len(diffs)} difference(s) after the receiver:\n  " \
        + "\n  ".join(diffs[:60])

    # one request per collection, each with this service's resource and the one scope
    for c, coll in enumerate(colls):
        assert len(coll.requests) == 1, f"collection {c}: {len(coll.requests)} requests"
        for rm, sm, _ in coll.metrics():
            assert attr_dict(rm.resource.attributes).get("service.name") == SERVICE
            assert (sm.scope.name, sm.scope.version) == ("otelbridge.e2e.metrics", "2.0.0")
        times = {p.time_unix_nano for *_, m in coll.metrics() for p in points_of(m)}
        assert len(times) == 1 and coll.t_before <= min(times) <= coll.t_after, (
            f"collection {c}: times {times} not one value inside the flush "
            f"[{coll.t_before}, {coll.t_after}]")

    # the empty and the slow callbacks break nothing
    for c, coll in enumerate(colls):
        assert coll.named("never.observed") == [], f"collection {c}: an empty callback exported"
        assert [(attr_dict(p.attributes), p.as_int) for p in coll.points("slow.gauge")] == \
            [({"slow": True}, c * 11)], f"collection {c}: the slow callback's point"
        temps = coll.series("hw.temperature")
        assert temps[ident(sensor="b")].as_double == -5.25 and len(temps) == 3, temps
        ticks = coll.series("process.cpu.ticks")
        assert set(ticks) == {ident(cpu=0), ident(cpu=1)}, list(ticks)
    assert min(flush_s) >= SLOW_S, f"each flush waited for the 100 ms callback: {flush_s}"
    assert model.insts["slow"].calls == N_FLUSHES + 1 and model.insts["idle"].calls == N_FLUSHES + 1

    # counts, both sides
    n_points = sum(c.point_count() for c in colls)
    n_metrics = sum(len(c.metrics()) for c in colls)
    want_points = sum(len(points_of(m)) for exp in expected for m in exp.values())
    assert n_points == want_points, f"{n_points} data points arrived, expected {want_points}"
    rstats = rx.stats()["metrics"]
    assert rstats["items"] == n_points and rstats["requests"] == N_FLUSHES + 1, rstats
    assert rstats.get("outcomes") == {"ok": N_FLUSHES + 1}, rstats
    transport = "grpc" if protocol == "grpc" else "http"
    assert rstats.get("transports", {}).get(transport) == N_FLUSHES + 1, rstats
    assert (mstats["exported"], mstats["failed"], mstats["rejected"]) == (n_metrics, 0, 0), (
        f"engine metrics stats {mstats}; {n_metrics} Metric messages arrived")
