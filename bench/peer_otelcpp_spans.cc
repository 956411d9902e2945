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

struct Shared {
  const bench_opts *opts;
  trace_api::Tracer *tracer;
  pthread_barrier_t warm_done;  // threads finished warm-up (main then flushes)
  pthread_barrier_t go;         // main flushed: start the measured loop
};

struct ThreadArg {
  Shared *shared;
  bench_thread_result *result;
};

void *span_thread(void *p) {
  auto *a = static_cast<ThreadArg *>(p);
  const bench_opts &o = *a->shared->opts;
  trace_api::Tracer &tracer = *a->shared->tracer;
  for (uint64_t i = 0; i < o.warmup; ++i) span_one(tracer, o.attrs);
  pthread_barrier_wait(&a->shared->warm_done);
  pthread_barrier_wait(&a->shared->go);
  const uint64_t a0 = otb_thread_allocs();
  const uint64_t c0 = bench_thread_cpu_ns();
  const uint64_t t0 = bench_now_ns();
  for (uint64_t i = 0; i < o.records; ++i) span_one(tracer, o.attrs);
  const uint64_t t1 = bench_now_ns();
  const uint64_t c1 = bench_thread_cpu_ns();
  const uint64_t a1 = otb_thread_allocs();
  a->result->ns = t1 - t0;
  a->result->cpu_ns = c1 - c0;
  a->result->allocs = a1 - a0;
  a->result->failed = 0;  // the API returns nothing: failures are only visible as drops
  return nullptr;
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

  Shared shared;
  shared.opts = &o;
  shared.tracer = tracer.get();
  pthread_barrier_init(&shared.warm_done, nullptr, static_cast<unsigned>(o.threads) + 1);
  pthread_barrier_init(&shared.go, nullptr, static_cast<unsigned>(o.threads) + 1);
  std::vector<bench_thread_result> results(static_cast<size_t>(o.threads));
  std::vector<ThreadArg> args(static_cast<size_t>(o.threads));
  std::vector<pthread_t> tids(static_cast<size_t>(o.threads));
  for (int t = 0; t < o.threads; ++t) {
    args[t] = ThreadArg{&shared, &results[t]};
    if (pthread_create(&tids[t], nullptr, span_thread, &args[t]) != 0) {
      std::fprintf(stderr, "pthread_create failed\n");
      return 1;
    }
  }
  pthread_barrier_wait(&shared.warm_done);
  provider->ForceFlush();  // measured phase starts from an empty queue
  const uint64_t p0 = bench_process_cpu_ns();
  pthread_barrier_wait(&shared.go);
  for (int t = 0; t < o.threads; ++t) pthread_join(tids[t], nullptr);

  provider->ForceFlush();
  const uint64_t p1 = bench_process_cpu_ns();
  provider->Shutdown();
  const uint64_t started_sampled =
      sampled ? static_cast<uint64_t>(o.threads) * (o.warmup + o.records) : 0;
  const uint64_t exp = exported.load();
  std::fprintf(stderr, "stats(otelcpp traces, %s, threads=%d, attrs=%d): started_sampled=%llu exported=%llu\n",
               o.variant, o.threads, o.attrs, static_cast<unsigned long long>(started_sampled),
               static_cast<unsigned long long>(exp));
  bench_print_result("otelcpp", &o, results.data(), counting, static_cast<long long>(exp),
                     static_cast<long long>(started_sampled) - static_cast<long long>(exp),
                     p1 - p0);
  pthread_barrier_destroy(&shared.warm_done);
  pthread_barrier_destroy(&shared.go);
  return 0;
}
