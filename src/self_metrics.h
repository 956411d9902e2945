// The engine's own health as metrics (OTELBRIDGE_SELF_METRICS=true), under the OpenTelemetry
// semantic-convention names otel.sdk.processor.* / otel.sdk.exporter.*, observed from the
// engine's statistics and exported through the same pipeline as any metric.
#pragma once

namespace otb {
class Engine;
// Registers the observable instruments on engine `e` (no-op unless enabled and metrics are on).
void register_self_metrics(Engine *e);
}  // namespace otb
