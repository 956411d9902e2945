"""Base-2 exponential histograms: decoded with the official opentelemetry-proto, and every value's
bucket checked against the official Python SDK's own index mapping at the scale we chose."""
import math
import random

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.metrics._internal.exponential_histogram.mapping.exponent_mapping import ExponentMapping
from opentelemetry.sdk.metrics._internal.exponential_histogram.mapping.logarithm_mapping import LogarithmMapping

import oracle
import otb

HISTOGRAM, DOUBLE = 3, 2


def metrics_requests(e):
    return [ExportMetricsServiceRequest.FromString(f) for f in oracle.read_frames(e.read_bytes())]


def sdk_index(value: float, scale: int) -> int:
    return (LogarithmMapping(scale) if scale > 0 else ExponentMapping(scale)).map_to_index(value)


def test_buckets_agree_with_the_official_mapping(engine_factory):
    e = engine_factory(config={
        "OTEL_LOGS_EXPORTER": "none", "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "file",
        "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION": "base2_exponential_bucket_histogram",
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta"})
    lib = e.lib
    scope = e.scope("exp")
    st, h = lib.instrument_create(scope, HISTOGRAM, DOUBLE, "latency", "ms")
    assert st == otb.OTEL_OK
    rng = random.Random(7)
    for spread in (1.5, 40.0, 1e6):  # one collection each: high scale, medium, forced downscale
        values = [rng.uniform(1.0, spread) for _ in range(300)] + [0.0, -3.0, -0.25, 2.0, 4.0]
        for v in values:
            assert lib.metric_record_f64(h, v) == otb.OTEL_OK
        assert lib.engine_flush(e.engine, 5000) == otb.OTEL_OK
        req = metrics_requests(e)[-1]
        dp = req.resource_metrics[0].scope_metrics[0].metrics[0].exponential_histogram.data_points[0]
        assert dp.count == len(values)
        assert dp.zero_count == 1
        assert math.isclose(dp.sum, sum(values), rel_tol=1e-12)
        assert dp.min == min(values) and dp.max == max(values)
        expect_pos, expect_neg = {}, {}
        for v in values:
            if v > 0:
                i = sdk_index(v, dp.scale)
                expect_pos[i] = expect_pos.get(i, 0) + 1
            elif v < 0:
                i = sdk_index(-v, dp.scale)
                expect_neg[i] = expect_neg.get(i, 0) + 1
        got_pos = {dp.positive.offset + k: c for k, c in enumerate(dp.positive.bucket_counts) if c}
        got_neg = {dp.negative.offset + k: c for k, c in enumerate(dp.negative.bucket_counts) if c}
        assert got_pos == expect_pos, f"scale {dp.scale}"
        assert got_neg == expect_neg, f"scale {dp.scale}"
        assert len(dp.positive.bucket_counts) <= 160
    scales = [r.resource_metrics[0].scope_metrics[0].metrics[0].exponential_histogram.data_points[0].scale
              for r in metrics_requests(e)]
    assert scales[0] > scales[-1], "a wider range forced a lower scale"
