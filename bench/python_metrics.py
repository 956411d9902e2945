#!/usr/bin/env python3
"""Python metrics: calling-thread cost of one measurement, otelbridge vs opentelemetry-sdk.

    PYTHONPATH=<dir with the built otelbridge package> python3 bench/python_metrics.py [-n 300000]

Ours: otelbridge.configure(metrics_exporter="file", otelbridge_file_path="/dev/null",
metric_export_interval=3600000) and otelbridge.metrics instruments. Anchor: the official SDK's
MeterProvider with a PeriodicExportingMetricReader (interval 3600 s) over an exporter that
discards. The same statements, the same process, best of 5 timeit repeats, in microseconds.
"""

from __future__ import annotations

import argparse
import timeit

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (MetricExporter, MetricExportResult,
                                              PeriodicExportingMetricReader)

import otelbridge
import otelbridge.metrics


class _Discard(MetricExporter):
    def export(self, metrics_data, timeout_millis=10_000, **kwargs):  # type: ignore[override]
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:  # type: ignore[override]
        pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=300_000, help="calls per timeit repeat")
    args = ap.parse_args()
    n = args.n

    otelbridge.configure(service_name="bench", metrics_exporter="file",
                         otelbridge_file_path="/dev/null", logs_exporter="none",
                         traces_exporter="none", metric_export_interval=3_600_000,
                         attach_handler=False)
    ours = otelbridge.metrics.get_meter("bench")
    reader = PeriodicExportingMetricReader(_Discard(), export_interval_millis=3_600_000)
    sdk = MeterProvider(metric_readers=[reader]).get_meter("bench")

    attrs = {"a": "x", "b": 2}
    sattrs = {"a": "x", "b": "y"}
    oc, sc = ours.create_counter("c"), sdk.create_counter("c")
    oh, sh = ours.create_histogram("h"), sdk.create_histogram("h")
    ob = oc.bind(attrs)
    cases = [
        ('counter.add(1, {"a": "x", "b": 2})', lambda: oc.add(1, attrs), lambda: sc.add(1, attrs)),
        ('counter.add(1, {"a": "x", "b": 2}) literal', lambda: oc.add(1, {"a": "x", "b": 2}),
         lambda: sc.add(1, {"a": "x", "b": 2})),
        ('counter.add(1, {"a": "x", "b": "y"})', lambda: oc.add(1, sattrs),
         lambda: sc.add(1, sattrs)),
        ("counter.add(1)", lambda: oc.add(1), lambda: sc.add(1)),
        ('histogram.record(1.5, {"a": "x", "b": 2})', lambda: oh.record(1.5, attrs),
         lambda: sh.record(1.5, attrs)),
        ('bound counter.add(1) vs sdk counter.add(1, attrs)', lambda: ob.add(1),
         lambda: sc.add(1, attrs)),
    ]
    print(f"| case | otelbridge µs | opentelemetry-sdk µs | ratio |")
    print(f"|---|---:|---:|---:|")
    for name, o, s in cases:
        o(), s()
        to = min(timeit.repeat(o, number=n, repeat=5)) / n * 1e6
        ts = min(timeit.repeat(s, number=n, repeat=5)) / n * 1e6
        print(f"| {name} | {to:.3f} | {ts:.3f} | {ts / to:.1f}x |")
    otelbridge.shutdown()


if __name__ == "__main__":
    main()
