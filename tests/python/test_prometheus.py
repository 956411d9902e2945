"""OTEL_METRICS_EXPORTER=prometheus, end to end: an engine made through the C ABI serves
/metrics on a loopback port; what it serves is parsed by the official prometheus_client parser
(prometheus_client.parser.text_string_to_metric_families), the oracle for names, types, suffixes,
values and the exact round trip of label values and help texts."""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

import otb

SCOPE = "test.scope"
SCOPE_VERSION = "1.2.3"
SCOPE_LABELS = {"otel_scope_name": SCOPE, "otel_scope_version": SCOPE_VERSION}

# Attribute values that need escaping in the text format: quotes, backslashes, newlines, unicode.
TRICKY = {
    "path": '/a"b\\c\nd',
    "user": "日本語 😀 \u00e9",
    "weird.key-name": "x",
    "n": 3,
    "ok": True,
}
TRICKY_LABELS = {
    "path": '/a"b\\c\nd',
    "user": "日本語 😀 \u00e9",
    "weird_key_name": "x",
    "n": "3",
    "ok": "true",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_engine(lib: otb.Lib, port: int, extra: dict | None = None):
    """(status, engine handle, error message) for a prometheus engine on 127.0.0.1:port."""
    settings = {
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "prometheus",
        "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
        "OTEL_EXPORTER_PROMETHEUS_PORT": str(port),
        "OTEL_SERVICE_NAME": "prom-test",
    }
    settings.update(extra or {})
    cfg = lib.config_new()
    try:
        for k, v in settings.items():
            st, err = lib.config_set(cfg, k, v)
            assert st == otb.OTEL_OK, f"otel_config_set({k}={v!r}): {otb.status_name(st)}: {err}"
        return lib.engine_new(cfg)
    finally:
        lib.config_free(cfg)


class PromEngine:
    def __init__(self, lib: otb.Lib, extra: dict | None = None):
        self.lib = lib
        for _ in range(5):  # a free port can be taken between free_port() and the bind
            self.port = free_port()
            st, engine, err = new_engine(lib, self.port, extra)
            if st == otb.OTEL_OK or "in use" not in err:
                break
        assert st == otb.OTEL_OK and engine, f"otel_engine_new: {otb.status_name(st)}: {err}"
        self.engine = engine
        st, self.scope = lib.scope_get(engine, SCOPE, SCOPE_VERSION)
        assert st == otb.OTEL_OK

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def instrument(self, kind, number, name, unit="", description="", bounds=None, callback=None):
        st, inst = self.lib.instrument_create(self.scope, kind, number, name, unit, description,
                                              bounds=bounds, callback=callback)
        assert st == otb.OTEL_OK and inst, f"otel_instrument_create({name}): {otb.status_name(st)}"
        return inst

    def fetch(self, path="/metrics", method="GET"):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()

    def scrape(self) -> dict:
        """{family name: Metric} as the official parser reads the exposition."""
        status, headers, body = self.fetch()
        assert status == 200
        assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = body.decode("utf-8")
        families = list(text_string_to_metric_families(text))
        names = [f.name for f in families]
        assert len(names) == len(set(names)), f"a family appears twice: {names}\n{text}"
        return {f.name: f for f in families}

    def close(self):
        if self.engine:
            self.lib.engine_free(self.engine)
            self.engine = None


@pytest.fixture
def prom(lib):
    engines = []

    def make(extra=None):
        e = PromEngine(lib, extra)
        engines.append(e)
        return e

    yield make
    for e in engines:
        e.close()


def samples(family) -> list[tuple[str, dict, float]]:
    return [(s.name, dict(s.labels), s.value) for s in family.samples]


def value_of(family, name, labels) -> float:
    found = [s.value for s in family.samples if s.name == name and dict(s.labels) == labels]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples in {samples(family)}"
    return found[0]


def test_every_instrument_kind_through_the_official_parser(lib, prom):
    e = prom()
    main_thread = threading.get_ident()
    callback_threads = set()

    def cpu_time(obs):
        callback_threads.add(threading.get_ident())
        lib.observe_f64(obs, 1.25, {"cpu": "0"})
        lib.observe_f64(obs, 2.5, {"cpu": "1"})

    def memory(obs):
        lib.observe_i64(obs, 1 << 20, TRICKY)

    def threads(obs):
        lib.observe_i64(obs, 12)

    help_text = 'Requests "served"\\ by path,\nper user'
    requests = e.instrument(otb.OTEL_INSTRUMENT_COUNTER, otb.OTEL_NUMBER_INT, "http.requests",
                            "{request}", help_text)
    depth = e.instrument(otb.OTEL_INSTRUMENT_UP_DOWN_COUNTER, otb.OTEL_NUMBER_INT, "queue.depth")
    latency = e.instrument(otb.OTEL_INSTRUMENT_HISTOGRAM, otb.OTEL_NUMBER_DOUBLE,
                           "http.server.duration", "ms", "Time to serve", bounds=[5, 10, 100])
    temp = e.instrument(otb.OTEL_INSTRUMENT_GAUGE, otb.OTEL_NUMBER_DOUBLE, "room.temperature",
                        "Cel")
    util = e.instrument(otb.OTEL_INSTRUMENT_GAUGE, otb.OTEL_NUMBER_DOUBLE, "cpu.utilization", "1")
    e.instrument(otb.OTEL_INSTRUMENT_OBSERVABLE_COUNTER, otb.OTEL_NUMBER_DOUBLE, "process.cpu.time",
                 "s", callback=cpu_time)
    e.instrument(otb.OTEL_INSTRUMENT_OBSERVABLE_GAUGE, otb.OTEL_NUMBER_INT, "memory.usage", "By",
                 callback=memory)
    e.instrument(otb.OTEL_INSTRUMENT_OBSERVABLE_UP_DOWN_COUNTER, otb.OTEL_NUMBER_INT,
                 "thread.count", "{thread}", callback=threads)

    assert lib.metric_record_i64(requests, 2, TRICKY) == otb.OTEL_OK
    assert lib.metric_record_i64(requests, 1, TRICKY) == otb.OTEL_OK
    assert lib.metric_record_i64(requests, 5, {"path": "/other"}) == otb.OTEL_OK
    assert lib.metric_record_i64(depth, 3) == otb.OTEL_OK
    assert lib.metric_record_i64(depth, -5) == otb.OTEL_OK
    for v in (1.0, 7.0, 7.0, 50.0, 500.0):
        assert lib.metric_record_f64(latency, v, {"route": "/a"}) == otb.OTEL_OK
    assert lib.metric_record_f64(temp, 21.5) == otb.OTEL_OK
    assert lib.metric_record_f64(util, 0.75) == otb.OTEL_OK

    fams = e.scrape()

    # Counter: monotonic sum, _total; the help text and every label value round-trip exactly.
    f = fams["http_requests"]
    assert f.type == "counter"
    assert f.documentation == help_text
    assert value_of(f, "http_requests_total", {**TRICKY_LABELS, **SCOPE_LABELS}) == 3
    assert value_of(f, "http_requests_total", {"path": "/other", **SCOPE_LABELS}) == 5

    f = fams["queue_depth"]
    assert f.type == "gauge", "a non-monotonic sum is a gauge"
    assert samples(f) == [("queue_depth", SCOPE_LABELS, -2)]

    f = fams["http_server_duration_milliseconds"]
    assert f.type == "histogram"
    assert f.documentation == "Time to serve"
    labels = {"route": "/a", **SCOPE_LABELS}
    name = "http_server_duration_milliseconds"
    buckets = {s.labels["le"]: s.value for s in f.samples if s.name == name + "_bucket"}
    assert [float(le) for le in buckets] == [5.0, 10.0, 100.0, float("inf")]
    assert list(buckets.values()) == [1, 3, 4, 5], "cumulative counts up to +Inf"
    assert value_of(f, name + "_count", labels) == 5
    assert value_of(f, name + "_sum", labels) == 565.0

    assert samples(fams["room_temperature_celsius"]) == [
        ("room_temperature_celsius", SCOPE_LABELS, 21.5)]
    assert fams["room_temperature_celsius"].type == "gauge"
    assert fams["cpu_utilization_ratio"].type == "gauge", '"1" -> _ratio for gauges'
    assert samples(fams["cpu_utilization_ratio"])[0][2] == 0.75

    f = fams["process_cpu_time_seconds"]
    assert f.type == "counter", "an observable counter is a counter"
    assert value_of(f, "process_cpu_time_seconds_total", {"cpu": "0", **SCOPE_LABELS}) == 1.25
    assert value_of(f, "process_cpu_time_seconds_total", {"cpu": "1", **SCOPE_LABELS}) == 2.5
    f = fams["memory_usage_bytes"]
    assert f.type == "gauge"
    assert samples(f) == [("memory_usage_bytes", {**TRICKY_LABELS, **SCOPE_LABELS}, 1 << 20)]
    assert fams["thread_count"].type == "gauge", "{thread}: a count, no unit suffix"
    assert samples(fams["thread_count"]) == [("thread_count", SCOPE_LABELS, 12)]

    # The resource as target_info, with the resource attributes as labels.
    f = fams["target_info"]
    assert f.type == "gauge"
    (s,) = f.samples
    assert s.value == 1
    assert s.labels["service_name"] == "prom-test"
    assert s.labels["telemetry_sdk_name"] == "otelbridge"
    assert "otel_scope_name" not in s.labels

    # Observable callbacks ran on the collecting thread: the server's, not this one.
    assert callback_threads and main_thread not in callback_threads

    # A second scrape after more records: cumulative totals.
    assert lib.metric_record_i64(requests, 10, TRICKY) == otb.OTEL_OK
    assert lib.metric_record_f64(latency, 3.0, {"route": "/a"}) == otb.OTEL_OK
    assert lib.metric_record_f64(latency, 1000.0, {"route": "/a"}) == otb.OTEL_OK
    fams = e.scrape()
    assert value_of(fams["http_requests"], "http_requests_total",
                    {**TRICKY_LABELS, **SCOPE_LABELS}) == 13
    assert value_of(fams["http_requests"], "http_requests_total",
                    {"path": "/other", **SCOPE_LABELS}) == 5, "unchanged series keep their total"
    f = fams["http_server_duration_milliseconds"]
    buckets = [s.value for s in f.samples if s.name == name + "_bucket"]
    assert buckets == [2, 4, 5, 7]
    assert value_of(f, name + "_count", labels) == 7
    assert value_of(f, name + "_sum", labels) == 1568.0
    assert value_of(fams["queue_depth"], "queue_depth", SCOPE_LABELS) == -2


def test_delta_preference_is_ignored_a_scrape_sees_totals(lib, prom):
    e = prom({"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta"})
    c = e.instrument(otb.OTEL_INSTRUMENT_COUNTER, otb.OTEL_NUMBER_DOUBLE, "bytes.sent", "By")
    lib.metric_record_f64(c, 1.5)
    assert value_of(e.scrape()["bytes_sent"], "bytes_sent_total", SCOPE_LABELS) == 1.5
    assert value_of(e.scrape()["bytes_sent"], "bytes_sent_total", SCOPE_LABELS) == 1.5
    lib.metric_record_f64(c, 2.0)
    assert lib.engine_flush(e.engine, 5000) == otb.OTEL_OK, "flush has nothing to push"
    assert value_of(e.scrape()["bytes_sent"], "bytes_sent_total", SCOPE_LABELS) == 3.5


def test_special_values(lib, prom):
    e = prom()
    g = e.instrument(otb.OTEL_INSTRUMENT_GAUGE, otb.OTEL_NUMBER_DOUBLE, "g")
    lib.metric_record_f64(g, float("inf"), {"k": "pos"})
    lib.metric_record_f64(g, float("-inf"), {"k": "neg"})
    lib.metric_record_f64(g, 1e-300, {"k": "tiny"})
    lib.metric_record_f64(g, 0.1, {"k": "tenth"})
    i = e.instrument(otb.OTEL_INSTRUMENT_GAUGE, otb.OTEL_NUMBER_INT, "big")
    lib.metric_record_i64(i, otb.INT64_MAX)
    fams = e.scrape()
    vals = {s.labels["k"]: s.value for s in fams["g"].samples}
    assert vals == {"pos": float("inf"), "neg": float("-inf"), "tiny": 1e-300, "tenth": 0.1}
    assert fams["big"].samples[0].value == otb.INT64_MAX, "integers are written exactly"


def test_other_paths_and_methods(prom):
    e = prom()
    with pytest.raises(urllib.error.HTTPError) as ei:
        e.fetch("/")
    assert ei.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as ei:
        e.fetch("/metrics/extra")
    assert ei.value.code == 404
    for method in ("POST", "PUT", "DELETE"):
        with pytest.raises(urllib.error.HTTPError) as ei:
            e.fetch("/metrics", method)
        assert ei.value.code == 405
        assert ei.value.headers["Allow"] == "GET, HEAD"
    status, headers, body = e.fetch("/metrics", "HEAD")
    assert status == 200 and body == b""
    status, _, _ = e.fetch("/metrics?name[]=x")
    assert status == 200


def test_garbage_then_a_good_scrape(prom):
    e = prom()
    for junk in (b"\x00\xff" * 100 + b"\r\n\r\n", b"GET\r\n\r\n", b"X" * 20000, b""):
        with socket.create_connection(("127.0.0.1", e.port), timeout=10) as s:
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)
            reply = b""
            while chunk := s.recv(4096):
                reply += chunk
        assert reply == b"" or reply.startswith(b"HTTP/1.1 4"), reply[:100]
    assert "target_info" in e.scrape()


def test_port_in_use_fails_engine_creation(lib):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        st, engine, err = new_engine(lib, port)
        assert st == otb.OTEL_E_INVALID_CONFIG and not engine
        assert f"127.0.0.1:{port}" in err and "in use" in err, err
    st, engine, err = new_engine(lib, 70000)
    assert st == otb.OTEL_E_INVALID_CONFIG and not engine
    assert "OTEL_EXPORTER_PROMETHEUS_PORT" in err, err


def test_free_stops_the_server(lib):
    e = PromEngine(lib)
    assert e.fetch()[0] == 200
    assert lib.engine_shutdown(e.engine, 5000) == otb.OTEL_OK
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", e.port), timeout=5).close()
    e.close()
    st, engine, err = new_engine(lib, e.port)  # the port is free again
    assert st == otb.OTEL_OK, err
    lib.engine_free(engine)
