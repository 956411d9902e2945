// peer_otelcpp_spans.cc — the same spans workload as bench_spans.c, on opentelemetry-cpp's Trace
// SDK (Debian bookworm-backports opentelemetry-cpp 1.19), as the reference point ("peer").
//
// Pipeline: sdk::trace::TracerProvider (sampler AlwaysOnSampler for --variant sampled, the
// default, or AlwaysOffSampler for --variant unsampled; RandomIdGenerator; empty resource)
// -> BatchSpanProcessor (max_queue_size 65536, max_export_batch_size 512, schedule delay 100 ms)
// -> a discarding SpanExporter whose MakeRecordable() returns the SDK's own data-holding
// recordable, sdk::trace::SpanData (it copies the name and owns attribute values), and whose
// Export() only counts the spans it is handed.
//
// Per span ("record" in bench_common.h's vocabulary and in the RESULT line), calling thread:
//   tracer->StartSpan("GET /api/todos", {attrs...}, options)  (options.kind = kServer; no
//   explicit parent: the thread's current context, which is empty, so every span is a root)
//   span->End()
// with 0 or 4 attributes: http.request.method="GET", http.response.status_code=200 (int64),
// url.path="/api/todos", server.port=8080 (int64).
//
// Drops: the BatchSpanProcessor silently discards spans when its queue is full and exposes no
// counter, so this program derives them: dropped = sampled spans started - exported, read after
// Shutdown() (which drains the queue into the exporter). Unsampled spans never reach the
// processor's queue (0 started sampled).
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "opentelemetry/nostd/shared_ptr.h"
#include "opentelemetry/nostd/span.h"
#include "opentelemetry/sdk/common/exporter_utils.h"
#include "opentelemetry/sdk/resource/resource.h"
#include "opentelemetry/sdk/trace/batch_span_processor.h"
#include "opentelemetry/sdk/trace/batch_span_processor_options.h"
#include "opentelemetry/sdk/trace/exporter.h"
#include "opentelemetry/sdk/trace/random_id_generator.h"
#include "opentelemetry/sdk/trace/recordable.h"
#include "opentelemetry/sdk/trace/samplers/always_off.h"
#include "opentelemetry/sdk/trace/samplers/always_on.h"
#include "opentelemetry/sdk/trace/span_data.h"
#include "opentelemetry/sdk/trace/tracer_provider.h"
#include "opentelemetry/trace/span.h"
#include "opentelemetry/trace/span_startoptions.h"
#include "opentelemetry/trace/tracer.h"

#include "alloc_count.h"
#include "bench_common.h"
#include "peer_common.h"

namespace trace_api = opentelemetry::trace;
namespace trace_sdk = opentelemetry::sdk::trace;
namespace nostd = opentelemetry::nostd;

namespace {

class DiscardExporter final : public trace_sdk::SpanExporter {
 public:
  explicit DiscardExporter(std::atomic<uint64_t> *exported) : exported_(exported) {}

  std::unique_ptr<trace_sdk::Recordable> MakeRecordable() noexcept override {
    return std::unique_ptr<trace_sdk::Recordable>(new trace_sdk::SpanData());
  }

  opentelemetry::sdk::common::ExportResult Export(
      const nostd::span<std::unique_ptr<trace_sdk::Recordable>> &spans) noexcept override {
    exported_->fetch_add(spans.size(), std::memory_order_relaxed);
    return opentelemetry::sdk::common::ExportResult::kSuccess;
  }

  bool ForceFlush(std::chrono::microseconds) noexcept override { return true; }
  bool Shutdown(std::chrono::microseconds) noexcept override { return true; }

 private:
  std::atomic<uint64_t> *exported_;
};

trace_api::StartSpanOptions g_options;  // kind = kServer (set in main)

inline void span_one(trace_api::Tracer &tracer, int attrs) {
  nostd::shared_ptr<trace_api::Span> span =
      attrs ? tracer.StartSpan("GET /api/todos",
                               {{"http.request.method", nostd::string_view("GET")},
                                {"http.response.status_code", int64_t{200}},
                                {"url.path", nostd::string_view("/api/todos")},
                                {"server.port", int64_t{8080}}},
                               g_options)
            : tracer.StartSpan("GET /api/todos", g_options);
  span->End();
}

}  // namespace

int main(int argc, char **argv) {
  bench_opts o;
  if (bench_parse(argc, argv, &o, "sampled|unsampled", "sampled")) return 2;
  bool sampled;
  const std::string v = o.variant;
  if (v == "sampled") {
    sampled = true;
  } else if (v == "unsampled") {
    sampled = false;
  } else {
    std::fprintf(stderr, "unknown --variant %s (sampled|unsampled)\n", o.variant);
    return 2;
  }
  const int counting = otb_alloc_count_active();
  if (!counting) std::fprintf(stderr, "warning: allocation counting is not active\n");
  g_options.kind = trace_api::SpanKind::kServer;

  std::atomic<uint64_t> exported{0};
  trace_sdk::BatchSpanProcessorOptions bopts;
  bopts.max_queue_size = 65536;
  bopts.max_export_batch_size = 512;
  bopts.schedule_delay_millis = std::chrono::milliseconds(100);
  auto processor = std::unique_ptr<trace_sdk::SpanProcessor>(new trace_sdk::BatchSpanProcessor(
      std::unique_ptr<trace_sdk::SpanExporter>(new DiscardExporter(&exported)), bopts));
  std::unique_ptr<trace_sdk::Sampler> sampler =
      sampled ? std::unique_ptr<trace_sdk::Sampler>(new trace_sdk::AlwaysOnSampler())
              : std::unique_ptr<trace_sdk::Sampler>(new trace_sdk::AlwaysOffSampler());
  auto provider = std::make_shared<trace_sdk::TracerProvider>(
      std::move(processor), opentelemetry::sdk::resource::Resource::Create({}), std::move(sampler),
      std::unique_ptr<trace_sdk::IdGenerator>(new trace_sdk::RandomIdGenerator()));
  nostd::shared_ptr<trace_api::Tracer> tracer = provider->GetTracer("bench", "1.0.0");

  // One record, as the threads call it (the tracer and the attribute count bound once).
  trace_api::Tracer &tracer_ref = *tracer;
  const int attrs = o.attrs;
  const auto one = [&tracer_ref, attrs]() { span_one(tracer_ref, attrs); };
  const auto flush = [&provider]() { provider->ForceFlush(); };
  std::vector<bench_thread_result> results;
  uint64_t p0 = 0, p1 = 0;
  if (peer::run_threads(o, one, flush, results, &p0, &p1)) return 1;
  provider->Shutdown();
  const uint64_t started_sampled =
      sampled ? static_cast<uint64_t>(o.threads) * (o.warmup + o.records) : 0;
  const uint64_t exp = exported.load();
  std::fprintf(
      stderr,
      "stats(otelcpp traces, %s, threads=%d, attrs=%d): started_sampled=%llu exported=%llu\n",
      o.variant, o.threads, o.attrs, static_cast<unsigned long long>(started_sampled),
      static_cast<unsigned long long>(exp));
  bench_print_result("otelcpp", &o, results.data(), counting, static_cast<long long>(exp),
                     static_cast<long long>(started_sampled) - static_cast<long long>(exp),
                     p1 - p0);
  return 0;
}
