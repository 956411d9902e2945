"""Fidelity against the official Python SDK: one app, two runs, one comparison.

The app below runs once through opentelemetry-sdk (the contrib logging handler from
opentelemetry-instrumentation-logging, BatchLogRecordProcessor, the OTLP gRPC exporter) and once
through otelbridge (configure() + our handler), each to its own real receiver (the Collector's
otlpreceiver, which writes what it received as OTLP/JSON). The received data must be equal field
by field, except:
  - timestamps and ids (IGNORED_FIELDS), which differ from run to run anyway;
  - the telemetry.sdk.* resource attributes (they name the SDK);
  - the deliberate differences listed by name in DELIBERATE, each with its reason.
Both sides are normalised the same way (sorted attribute lists, records in emission order) and
then compared as whole structures, so any field either side adds, drops or changes fails the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path


import collector

APP = r'''
import json, logging, sys

mode, endpoint = sys.argv[1], sys.argv[2]
SERVICE = "fidelity-app"

if mode == "sdk":
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    lp = LoggerProvider(resource=Resource.create({"service.name": SERVICE,
                                                  "deployment.environment": "test"}))
    lp.add_log_record_processor(BatchLogRecordProcessor(
        OTLPLogExporter(endpoint=endpoint.split("://", 1)[1], insecure=True)))
    logging.getLogger().addHandler(LoggingHandler(logger_provider=lp))

    def finish():
        lp.shutdown()
else:
    import otelbridge

    otelbridge.configure(service_name=SERVICE, exporter_otlp_endpoint=endpoint,
                         exporter_otlp_protocol="grpc", traces_exporter="none",
                         metrics_exporter="none",
                         resource_attributes="deployment.environment=test")

    def finish():
        otelbridge.shutdown(10)

log = logging.getLogger("fidelity.shop")
log.setLevel(logging.DEBUG)
log.debug("cart loaded")
log.info("order %s placed", 42, extra={"order.id": 42, "amount": 9.5, "vip": True,
                                          "tags": ["a", "b"], "ratios": [0.5, 1.5]})
log.warning("low stock", extra={"sku": "X-1", "count": -3})
try:
    {}["missing"]
except KeyError:
    log.exception("lookup failed", extra={"key": "missing"})
logging.getLogger("fidelity.other").error("payment declined",
                                          extra={"otel.event.name": "shop.payment"})
log.log(51, "custom level")
log.critical("shutting down")
finish()
'''

# Fields that are different in every run, by nature.
IGNORED_FIELDS = {"timeUnixNano", "observedTimeUnixNano", "traceId", "spanId"}

# Deliberate differences, by name: (where, key) -> reason. Each one is checked to really differ
# (or be absent on one side), so the list cannot go stale silently.
DELIBERATE: dict[tuple[str, str], str] = {
    ("resource", "process.pid"): "ours detects the process (gunicorn/fork: which worker sent it); "
                                 "the SDK's Resource.create() does not by default",
    ("resource", "process.executable.name"): "ours detects the process",
    ("resource", "host.name"): "ours detects the host",
    ("resource", "service.instance.id"): "the SDK 1.45 adds a random one per process; ours "
                                         "does not invent one (set it in "
                                         "OTEL_RESOURCE_ATTRIBUTES)",
    ("log.attributes", "exception.message"): "ours is str(exc) (\"'missing'\" for a KeyError, "
                                             "what Python prints); the SDK's is str(args[0])",
}


def _run(app: Path, mode: str, endpoint: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("OTEL_") or k.startswith("OTELBRIDGE_"))}
    env["PYTHONPATH"] = os.environ.get("_FIDELITY_PKG_DIR", "")
    r = subprocess.run([sys.executable, str(app), mode, endpoint], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"{mode} run failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"


def _norm_value(v: dict):
    return json.loads(json.dumps(v, sort_keys=True))


def _norm_attrs(attrs: list | None, drop_prefix: str | None = None) -> dict:
    out = {}
    for kv in attrs or []:
        if drop_prefix and kv["key"].startswith(drop_prefix):
            continue
        out[kv["key"]] = _norm_value(kv.get("value", {}))
    return out


def _norm_logs(requests: list[dict]) -> dict:
    """{"resources": [...], "records": [...]} in emission order, ids/timestamps removed."""
    resources = []
    records = []
    for req in requests:
        for rl in req.get("resourceLogs", []):
            res = dict(rl.get("resource", {}))
            res["attributes"] = _norm_attrs(res.get("attributes"), "telemetry.sdk.")
            if res not in resources:
                resources.append(res)
            for sl in rl.get("scopeLogs", []):
                scope = dict(sl.get("scope", {}))
                scope["attributes"] = _norm_attrs(scope.get("attributes"))
                for rec in sl.get("logRecords", []):
                    r = {k: v for k, v in rec.items() if k not in IGNORED_FIELDS}
                    r["attributes"] = _norm_attrs(r.get("attributes"))
                    r["scope"] = scope
                    r["schemaUrl"] = sl.get("schemaUrl", "")
                    r["_time"] = int(rec.get("timeUnixNano", 0))
                    records.append(r)
    records.sort(key=lambda r: r["_time"])
    for r in records:
        del r["_time"]
    return {"resources": resources, "records": records}


def _strip_deliberate(data: dict) -> dict:
    for res in data["resources"]:
        for where, key in DELIBERATE:
            if where == "resource":
                res["attributes"].pop(key, None)
    for r in data["records"]:
        for where, key in DELIBERATE:
            if where == "log.attributes":
                r["attributes"].pop(key, None)
            elif where == "log":
                r.pop(key, None)
            elif where == "scope":
                r["scope"].pop(key, None)
    return data


def test_logs_equal_to_the_official_sdk(rx, pkg_dir, tmp_path):
    os.environ["_FIDELITY_PKG_DIR"] = str(pkg_dir)
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(APP))
    with collector.start(tmp_path / "rx-sdk") as rx_sdk:
        _run(app, "sdk", rx_sdk.grpc_endpoint, tmp_path)
        rx_sdk.wait_for(lambda s: s["logs"]["items"] >= 7, timeout=10)
        sdk_requests = rx_sdk.read_logs()
    _run(app, "otelbridge", rx.grpc_endpoint, tmp_path)
    rx.wait_for(lambda s: s["logs"]["items"] >= 7, timeout=10)
    time.sleep(0.2)
    ours_requests = rx.read_logs()

    sdk, ours = _norm_logs(sdk_requests), _norm_logs(ours_requests)
    assert len(sdk["records"]) == 7 and len(ours["records"]) == 7, (
        len(sdk["records"]), len(ours["records"]))
    # Every deliberate difference must really be one.
    for (where, key), why in DELIBERATE.items():
        if where == "resource":
            a = [r["attributes"].get(key) for r in sdk["resources"]]
            b = [r["attributes"].get(key) for r in ours["resources"]]
        elif where == "log.attributes":
            a = [r["attributes"].get(key) for r in sdk["records"]]
            b = [r["attributes"].get(key) for r in ours["records"]]
        elif where == "scope":
            a = [r["scope"].get(key) for r in sdk["records"]]
            b = [r["scope"].get(key) for r in ours["records"]]
        else:
            a = [r.get(key) for r in sdk["records"]]
            b = [r.get(key) for r in ours["records"]]
        assert a != b, f"DELIBERATE[{where}, {key}] ({why}) is not a difference any more"
    sdk, ours = _strip_deliberate(sdk), _strip_deliberate(ours)
    assert ours["resources"] == sdk["resources"]
    for i, (a, b) in enumerate(zip(sdk["records"], ours["records"])):
        assert b == a, f"record {i} differs:\nsdk:  {json.dumps(a, sort_keys=True)}\nours: " \
                       f"{json.dumps(b, sort_keys=True)}"


# ---- spans, metrics, and logs inside a span ------------------------------------------------------

APP_ALL = r'''
import logging, sys

mode, endpoint = sys.argv[1], sys.argv[2]
SERVICE = "fidelity-app"

if mode == "sdk":
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind, Status, StatusCode

    target = endpoint.split("://", 1)[1]
    resource = Resource.create({"service.name": SERVICE})
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=target,
                                                                        insecure=True)))
    logging.getLogger().addHandler(LoggingHandler(logger_provider=lp))
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=target, insecure=True)))
    mp = MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=target, insecure=True), export_interval_millis=3_600_000)])
    tracer = tp.get_tracer("fidelity.shop")
    meter = mp.get_meter("fidelity.shop")
    ERROR = Status(StatusCode.ERROR, "declined")
    CLIENT = SpanKind.CLIENT

    def finish():
        tp.shutdown(); mp.shutdown(); lp.shutdown()
else:
    import otelbridge
    from otelbridge import metrics, trace

    otelbridge.configure(service_name=SERVICE, exporter_otlp_endpoint=endpoint,
                         exporter_otlp_protocol="grpc", metric_export_interval=3_600_000)
    tracer = trace.get_tracer("fidelity.shop")
    meter = metrics.get_meter("fidelity.shop")
    ERROR = trace.Status(trace.StatusCode.ERROR, "declined")
    CLIENT = trace.SpanKind.CLIENT

    def finish():
        otelbridge.shutdown(10)

log = logging.getLogger("fidelity.shop")
log.setLevel(logging.INFO)
orders = meter.create_counter("shop.orders", unit="{order}", description="orders placed")
latency = meter.create_histogram("shop.latency", unit="ms", description="checkout latency")
with tracer.start_as_current_span("checkout", attributes={"order.id": 42, "vip": True}) as span:
    span.add_event("priced", {"amount": 9.5, "currency": "EUR"})
    log.info("order placed", extra={"order.id": 42})
    with tracer.start_as_current_span("charge", kind=CLIENT,
                                      attributes={"payment": "card"}) as child:
        child.set_status(ERROR)
    orders.add(1, {"sku": "tea"})
    orders.add(2, {"sku": "tea"})
    orders.add(1, {"sku": "cake"})
    for v in (3.0, 7.5, 120.0):
        latency.record(v, {"sku": "tea"})
log.info("outside any span")
finish()
'''

SPAN_IGNORED = {"traceId", "spanId", "parentSpanId", "startTimeUnixNano", "endTimeUnixNano"}
# Deliberate differences in spans, by field name -> reason (checked to still differ).
SPAN_DELIBERATE: dict[str, str] = {
    "flags": "ours carries the W3C trace flags in bits 0-7 as the OTLP spec says (257 = "
             "HAS_IS_REMOTE | sampled); the SDK 1.45 sets only the is-remote bits (256)",
}
METRIC_POINT_IGNORED = {"startTimeUnixNano", "timeUnixNano"}
# Deliberate (or known) differences in metric data points, by field -> reason (checked to differ).
METRIC_POINT_DELIBERATE: dict[str, str] = {
    "exemplars": "not implemented in otelbridge: the SDK's default trace_based exemplar filter "
                 "attaches exemplars to points recorded inside a sampled span; ours sends none",
}


def _norm_spans(requests: list[dict]) -> list[dict]:
    spans = []
    for req in requests:
        for rs in req.get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                for sp in ss.get("spans", []):
                    spans.append((ss.get("scope", {}).get("name"), sp))
    names = {sp["spanId"]: sp["name"] for _, sp in spans}
    out = []
    for scope, sp in spans:
        d = {k: v for k, v in sp.items() if k not in SPAN_IGNORED}
        d["scope"] = scope
        d["parent"] = names.get(sp.get("parentSpanId", ""), None)
        d["attributes"] = _norm_attrs(sp.get("attributes"))
        d["events"] = [{"name": e["name"], "attributes": _norm_attrs(e.get("attributes"))}
                       for e in sp.get("events", [])]
        d["_start"] = int(sp["startTimeUnixNano"])
        out.append(d)
    out.sort(key=lambda d: d["_start"])
    for d in out:
        del d["_start"]
    return out


def _norm_metrics(requests: list[dict]) -> dict:
    """name -> the metric as last exported, data points sorted by attributes, times removed."""
    out = {}
    for req in requests:
        for rm in req.get("resourceMetrics", []):
            for sm in rm.get("scopeMetrics", []):
                for m in sm.get("metrics", []):
                    m = json.loads(json.dumps(m))
                    m["scope"] = sm.get("scope", {}).get("name")
                    for kind in ("sum", "gauge", "histogram", "exponentialHistogram"):
                        if kind in m:
                            pts = []
                            for p in m[kind].get("dataPoints", []):
                                p = {k: v for k, v in p.items()
                                     if k not in METRIC_POINT_IGNORED}
                                p["attributes"] = _norm_attrs(p.get("attributes"))
                                pts.append(p)
                            pts.sort(key=lambda p: json.dumps(p["attributes"], sort_keys=True))
                            m[kind]["dataPoints"] = pts
                    out[m["name"]] = m
    return out


def _records_with_context(requests: list[dict]) -> list[tuple[str, bool, bool]]:
    out = []
    for req in requests:
        for rl in req.get("resourceLogs", []):
            for sl in rl.get("scopeLogs", []):
                for rec in sl.get("logRecords", []):
                    out.append((rec["body"]["stringValue"], bool(rec.get("traceId")),
                                bool(rec.get("spanId"))))
    return sorted(out)


def test_spans_metrics_and_correlated_logs_equal_to_the_official_sdk(rx, pkg_dir, tmp_path):
    os.environ["_FIDELITY_PKG_DIR"] = str(pkg_dir)
    app = tmp_path / "app_all.py"
    app.write_text(textwrap.dedent(APP_ALL))

    def done(s: dict) -> bool:
        return (s["logs"]["items"] >= 2 and s["traces"]["items"] >= 2
                and s["metrics"]["requests"] >= 1)

    with collector.start(tmp_path / "rx-sdk") as rx_sdk:
        _run(app, "sdk", rx_sdk.grpc_endpoint, tmp_path)
        rx_sdk.wait_for(done, timeout=10)
        time.sleep(0.2)
        sdk = (rx_sdk.read_logs(), rx_sdk.read_traces(), rx_sdk.read_metrics())
    _run(app, "otelbridge", rx.grpc_endpoint, tmp_path)
    rx.wait_for(done, timeout=10)
    time.sleep(0.2)
    ours = (rx.read_logs(), rx.read_traces(), rx.read_metrics())

    # logs: the one inside the span carries a trace and span id on both sides, the other not
    assert _records_with_context(ours[0]) == _records_with_context(sdk[0]) == [
        ("order placed", True, True), ("outside any span", False, False)]
    # the log inside "checkout" carries checkout's ids (ours; the SDK's are checked the same way)
    for logs, traces in (ours[:2], sdk[:2]):
        rec = next(r for rl in logs[0]["resourceLogs"] for sl in rl["scopeLogs"]
                   for r in sl["logRecords"] if r["body"]["stringValue"] == "order placed")
        checkout = next(sp for req in traces for rs in req["resourceSpans"]
                        for ss in rs["scopeSpans"] for sp in ss["spans"]
                        if sp["name"] == "checkout")
        assert (rec["traceId"], rec["spanId"]) == (checkout["traceId"], checkout["spanId"])

    s_sdk, s_ours = _norm_spans(sdk[1]), _norm_spans(ours[1])
    for field, why in SPAN_DELIBERATE.items():
        assert [s.get(field) for s in s_sdk] != [s.get(field) for s in s_ours], (
            f"SPAN_DELIBERATE[{field}] ({why}) is not a difference any more")
        for s in s_sdk + s_ours:
            s.pop(field, None)
    assert len(s_ours) == len(s_sdk) == 2
    for a, b in zip(s_sdk, s_ours):
        assert b == a, f"span {a.get('name')} differs:\nsdk:  {json.dumps(a, sort_keys=True)}" \
                       f"\nours: {json.dumps(b, sort_keys=True)}"

    m_sdk, m_ours = _norm_metrics(sdk[2]), _norm_metrics(ours[2])
    assert set(m_ours) == set(m_sdk) == {"shop.orders", "shop.latency"}

    def points(ms: dict) -> list[dict]:
        return [p for m in ms.values() for k in ("sum", "histogram") if k in m
                for p in m[k]["dataPoints"]]
    for field, why in METRIC_POINT_DELIBERATE.items():
        assert [p.get(field) for p in points(m_sdk)] != [p.get(field) for p in points(m_ours)], (
            f"METRIC_POINT_DELIBERATE[{field}] ({why}) is not a difference any more")
        for p in points(m_sdk) + points(m_ours):
            p.pop(field, None)
    for name in m_sdk:
        assert m_ours[name] == m_sdk[name], \
            f"metric {name} differs:\nsdk:  {json.dumps(m_sdk[name], sort_keys=True)}" \
            f"\nours: {json.dumps(m_ours[name], sort_keys=True)}"
