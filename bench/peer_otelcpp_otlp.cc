// peer_otelcpp_otlp.cc — the workload of bench_otlp_throughput.c on opentelemetry-cpp 1.19
// (Debian bookworm-backports), the peer: one producer thread, its real OTLP exporters, the same
// receiver, the same modes and the same RESULT line. bench/run_otlp.sh runs both.
//
// Pipeline: sdk::logs::LoggerProvider (Resource::Create({})) -> BatchLogRecordProcessor
// (max_queue_size --queue 8192, max_export_batch_size --batch 512, schedule delay --delay 200 ms:
// the same numbers as ours) -> CountingExporter -> OtlpGrpcLogRecordExporter (endpoint
// http://127.0.0.1:PORT, no TLS) or OtlpHttpLogRecordExporter (url http://127.0.0.1:PORT/v1/logs,
// content type binary = http/protobuf), both from their factories, compression "none",
// timeout 10 s (ours: OTEL_EXPORTER_OTLP_TIMEOUT default 10 s), everything else default.
// CountingExporter forwards MakeRecordable/Export/ForceFlush/Shutdown and counts the records of
// every Export that returned kSuccess, and the batches.
//
// Per record: logger "bench" (scope "bench" 1.0.0): CreateLogRecord() (sets the observed time),
// SetTimestamp(now), SetSeverity(kInfo), SetBody("benchmark message"), SetAttribute x 4
// (http.method="GET", http.status_code=200 (int64), user.id="u-12345", latency_ms=12.5),
// EmitLogRecord() — peer_otelcpp_logs.cc's record.
//
// Warm-up without ForceFlush: in opentelemetry-cpp's BatchLogRecordProcessor, once ForceFlush has
// been called, force_flush_pending_sequence stays non-zero and every later Export() takes the
// whole queue instead of max_export_batch_size records. A warm-up flush would therefore change the
// peer's batching for the whole measured run; instead both programs wait for the schedule delay to
// export the warm-up records. The measured phase ends with ForceFlush() (the only way to wait for
// the queue to drain), which affects only the tail. batches / avg_batch in the RESULT line show
// what was sent.
//
// Drops: the BatchLogRecordProcessor discards silently when its queue is full and counts nothing,
// so dropped = emitted - delivered (exporter successes) - failed (exporter failures).
// run_otlp.sh cross-checks delivered with the receiver's /stats.
#include <errno.h>
#include <sys/resource.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "opentelemetry/exporters/otlp/otlp_grpc_log_record_exporter_factory.h"
#include "opentelemetry/exporters/otlp/otlp_grpc_log_record_exporter_options.h"
#include "opentelemetry/exporters/otlp/otlp_http.h"
#include "opentelemetry/exporters/otlp/otlp_http_log_record_exporter_factory.h"
#include "opentelemetry/exporters/otlp/otlp_http_log_record_exporter_options.h"
#include "opentelemetry/logs/logger.h"
#include "opentelemetry/logs/severity.h"
#include "opentelemetry/nostd/span.h"
#include "opentelemetry/sdk/common/exporter_utils.h"
#include "opentelemetry/sdk/logs/batch_log_record_processor.h"
#include "opentelemetry/sdk/logs/batch_log_record_processor_options.h"
#include "opentelemetry/sdk/logs/exporter.h"
#include "opentelemetry/sdk/logs/logger_provider.h"
#include "opentelemetry/sdk/logs/recordable.h"
#include "opentelemetry/sdk/resource/resource.h"

namespace logs_api = opentelemetry::logs;
namespace logs_sdk = opentelemetry::sdk::logs;
namespace nostd = opentelemetry::nostd;
namespace otlp = opentelemetry::exporter::otlp;

namespace {

struct Opts {
  std::string protocol, endpoint, mode = "max";
  uint64_t records = 200000, rate = 0, warmup = 1000;
  double duration = 3.0;
  unsigned queue = 8192, batch = 512, delay_ms = 200, flush_timeout_ms = 120000, step_ms = 5;
};

class CountingExporter final : public logs_sdk::LogRecordExporter {
 public:
  explicit CountingExporter(std::unique_ptr<logs_sdk::LogRecordExporter> inner)
      : inner_(std::move(inner)) {}
  std::unique_ptr<logs_sdk::Recordable> MakeRecordable() noexcept override {
    return inner_->MakeRecordable();
  }
  opentelemetry::sdk::common::ExportResult Export(
      const nostd::span<std::unique_ptr<logs_sdk::Recordable>> &records) noexcept override {
    const size_t n = records.size();
    auto r = inner_->Export(records);
    batches.fetch_add(1, std::memory_order_relaxed);
    uint64_t m = max_batch.load(std::memory_order_relaxed);
    while (n > m && !max_batch.compare_exchange_weak(m, n)) {
    }
    if (r == opentelemetry::sdk::common::ExportResult::kSuccess)
      delivered.fetch_add(n, std::memory_order_relaxed);
    else
      failed.fetch_add(n, std::memory_order_relaxed);
    return r;
  }
  bool ForceFlush(std::chrono::microseconds t) noexcept override { return inner_->ForceFlush(t); }
  bool Shutdown(std::chrono::microseconds t) noexcept override { return inner_->Shutdown(t); }

  std::atomic<uint64_t> delivered{0}, failed{0}, batches{0}, max_batch{0};

 private:
  std::unique_ptr<logs_sdk::LogRecordExporter> inner_;
};

inline void emit_one(logs_api::Logger &logger) {
  nostd::unique_ptr<logs_api::LogRecord> rec = logger.CreateLogRecord();
  if (!rec) return;
  rec->SetTimestamp(std::chrono::system_clock::now());
  rec->SetSeverity(logs_api::Severity::kInfo);
  rec->SetBody(nostd::string_view("benchmark message"));
  rec->SetAttribute("http.method", nostd::string_view("GET"));
  rec->SetAttribute("http.status_code", int64_t{200});
  rec->SetAttribute("user.id", nostd::string_view("u-12345"));
  rec->SetAttribute("latency_ms", 12.5);
  logger.EmitLogRecord(std::move(rec));
}

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void sleep_until_ns(uint64_t t) {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(t / 1000000000ull);
  ts.tv_nsec = static_cast<long>(t % 1000000000ull);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

uint64_t unix_ms() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000ull + static_cast<uint64_t>(ts.tv_nsec) / 1000000ull;
}

void cpu_now(double *user, double *sys) {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  *user = static_cast<double>(ru.ru_utime.tv_sec) + static_cast<double>(ru.ru_utime.tv_usec) / 1e6;
  *sys = static_cast<double>(ru.ru_stime.tv_sec) + static_cast<double>(ru.ru_stime.tv_usec) / 1e6;
}

void usage(const char *p) {
  std::fprintf(stderr,
               "usage: %s --protocol grpc|http/protobuf --endpoint http://127.0.0.1:PORT\n"
               "          [--mode max|rate] [--records N] [--rate R] [--duration S] [--warmup W]\n"
               "          [--queue Q] [--batch B] [--delay MS] [--flush-timeout MS] [--step-ms MS]\n"
               "  (same options and defaults as bench_otlp_throughput)\n",
               p);
}

bool parse(int argc, char **argv, Opts *o) {
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc) return false;
    const std::string a = argv[i];
    const char *v = argv[i + 1];
    if (a == "--protocol") o->protocol = v;
    else if (a == "--endpoint") o->endpoint = v;
    else if (a == "--mode") o->mode = v;
    else if (a == "--records") o->records = std::strtoull(v, nullptr, 10);
    else if (a == "--rate") o->rate = std::strtoull(v, nullptr, 10);
    else if (a == "--duration") o->duration = std::strtod(v, nullptr);
    else if (a == "--warmup") o->warmup = std::strtoull(v, nullptr, 10);
    else if (a == "--queue") o->queue = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
    else if (a == "--batch") o->batch = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
    else if (a == "--delay") o->delay_ms = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
    else if (a == "--flush-timeout")
      o->flush_timeout_ms = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
    else if (a == "--step-ms") o->step_ms = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
    else return false;
  }
  if (o->protocol != "grpc" && o->protocol != "http/protobuf") return false;
  if (o->endpoint.empty()) return false;
  if (o->mode == "max") return o->records > 0;
  if (o->mode == "rate") return o->rate > 0 && o->duration > 0 && o->step_ms > 0;
  return false;
}

}  // namespace

int main(int argc, char **argv) {
  Opts o;
  if (!parse(argc, argv, &o)) {
    usage(argv[0]);
    return 2;
  }

  std::unique_ptr<logs_sdk::LogRecordExporter> inner;
  if (o.protocol == "grpc") {
    otlp::OtlpGrpcLogRecordExporterOptions eo;  // defaults (and OTEL_* env), then ours
    eo.endpoint = o.endpoint;
    eo.use_ssl_credentials = false;
    eo.compression = "none";
    eo.timeout = std::chrono::seconds(10);
    std::fprintf(stderr, "peer: gRPC endpoint=%s user_agent=%s max_threads=%zu\n",
                 eo.endpoint.c_str(), eo.user_agent.c_str(), eo.max_threads);
    inner = otlp::OtlpGrpcLogRecordExporterFactory::Create(eo);
  } else {
    otlp::OtlpHttpLogRecordExporterOptions eo;
    std::string url = o.endpoint;
    if (!url.empty() && url.back() == '/') url.pop_back();
    eo.url = url + "/v1/logs";
    eo.content_type = otlp::HttpRequestContentType::kBinary;
    eo.compression = "none";
    eo.timeout = std::chrono::seconds(10);
    std::fprintf(stderr, "peer: HTTP url=%s content=binary\n", eo.url.c_str());
    inner = otlp::OtlpHttpLogRecordExporterFactory::Create(eo);
  }
  if (!inner) {
    std::fprintf(stderr, "peer: could not create the exporter\n");
    return 1;
  }
  auto *counting = new CountingExporter(std::move(inner));

  logs_sdk::BatchLogRecordProcessorOptions bopts;
  bopts.max_queue_size = o.queue;
  bopts.max_export_batch_size = o.batch;
  bopts.schedule_delay_millis = std::chrono::milliseconds(o.delay_ms);
  auto processor = std::unique_ptr<logs_sdk::LogRecordProcessor>(new logs_sdk::BatchLogRecordProcessor(
      std::unique_ptr<logs_sdk::LogRecordExporter>(counting), bopts));
  auto provider = std::make_shared<logs_sdk::LoggerProvider>(
      std::move(processor), opentelemetry::sdk::resource::Resource::Create({}));
  nostd::shared_ptr<logs_api::Logger> logger = provider->GetLogger("bench", "bench", "1.0.0");

  // Warm-up: no ForceFlush (see the top of the file); wait for the schedule delay to export it.
  for (uint64_t i = 0; i < o.warmup; ++i) emit_one(*logger);
  {
    const uint64_t limit = now_ns() + 10000000000ull;
    while (counting->delivered.load() + counting->failed.load() < o.warmup && now_ns() < limit)
      sleep_until_ns(now_ns() + 2000000ull);
  }
  const uint64_t d0 = counting->delivered.load(), f0 = counting->failed.load(),
                 b0 = counting->batches.load();
  std::fprintf(stderr, "peer[after warm-up]: delivered=%llu failed=%llu batches=%llu\n",
               static_cast<unsigned long long>(d0), static_cast<unsigned long long>(f0),
               static_cast<unsigned long long>(b0));
  if (d0 != o.warmup)
    std::fprintf(stderr, "warning: only %llu of %llu warm-up records were exported\n",
                 static_cast<unsigned long long>(d0), static_cast<unsigned long long>(o.warmup));
  counting->max_batch.store(0);

  // Measured phase.
  double u0, s0, u1, s1;
  uint64_t emitted = 0;
  const uint64_t start_ms = unix_ms();
  cpu_now(&u0, &s0);
  const uint64_t t0 = now_ns();
  if (o.mode == "max") {
    for (uint64_t i = 0; i < o.records; ++i) emit_one(*logger);
    emitted = o.records;
  } else {
    const uint64_t total = static_cast<uint64_t>(static_cast<double>(o.rate) * o.duration + 0.5);
    const uint64_t step = uint64_t{o.step_ms} * 1000000ull;  // pacing step
    while (emitted < total) {
      const uint64_t now = now_ns();
      uint64_t due = static_cast<uint64_t>(static_cast<double>(now - t0) *
                                           static_cast<double>(o.rate) / 1e9);
      if (due > total) due = total;
      if (emitted < due) {
        for (; emitted < due; ++emitted) emit_one(*logger);
      } else {
        sleep_until_ns(t0 + ((now - t0) / step + 1) * step);
      }
    }
  }
  const uint64_t t_emit_end = now_ns();
  const bool flush_ok =
      provider->ForceFlush(std::chrono::microseconds(uint64_t{o.flush_timeout_ms} * 1000));
  if (!flush_ok) std::fprintf(stderr, "warning: final ForceFlush returned false\n");
  const uint64_t t1 = now_ns();
  cpu_now(&u1, &s1);
  const uint64_t end_ms = unix_ms();
  const uint64_t d1 = counting->delivered.load(), f1 = counting->failed.load(),
                 b1 = counting->batches.load(), maxb = counting->max_batch.load();

  provider->Shutdown();
  const uint64_t d2 = counting->delivered.load(), f2 = counting->failed.load();
  std::fprintf(stderr,
               "peer[after measured flush]: delivered=%llu failed=%llu batches=%llu max_batch=%llu\n"
               "peer[after shutdown]: delivered=%llu failed=%llu\n",
               static_cast<unsigned long long>(d1), static_cast<unsigned long long>(f1),
               static_cast<unsigned long long>(b1), static_cast<unsigned long long>(maxb),
               static_cast<unsigned long long>(d2), static_cast<unsigned long long>(f2));
  if (d2 != d1 || f2 != f1)
    std::fprintf(stderr, "warning: counts changed between the measured flush and shutdown\n");

  const double wall_s = static_cast<double>(t1 - t0) / 1e9;
  const double emit_s = static_cast<double>(t_emit_end - t0) / 1e9;
  const double cpu_s = (u1 - u0) + (s1 - s0);
  const double delivered = static_cast<double>(d1 - d0);
  const uint64_t failed = f1 - f0;
  // Records neither delivered nor failed after shutdown were discarded by the processor.
  const long long dropped = static_cast<long long>(emitted) - static_cast<long long>(d2 - d0) -
                            static_cast<long long>(f2 - f0);
  const uint64_t batches = b1 - b0;
  std::printf(
      "RESULT impl=otelcpp protocol=%s mode=%s target_rate=%llu duration_s=%g emitted=%llu "
      "emit_rate=%.0f delivered=%.0f dropped=%lld failed=%llu rejected=0 emit_errors=0 "
      "warmup=%llu warmup_delivered=%llu wall_s=%.4f emit_s=%.4f delivered_per_s=%.0f "
      "cpu_s=%.4f user_s=%.4f sys_s=%.4f cpu_s_per_million=%.4f flush_ok=%d queue=%u batch=%u "
      "delay_ms=%u batches=%llu avg_batch=%.1f max_batch=%llu step_ms=%u start_unix_ms=%llu "
      "end_unix_ms=%llu\n",
      o.protocol.c_str(), o.mode.c_str(),
      static_cast<unsigned long long>(o.mode == "rate" ? o.rate : 0),
      o.mode == "rate" ? o.duration : 0.0, static_cast<unsigned long long>(emitted),
      emit_s > 0 ? static_cast<double>(emitted) / emit_s : 0.0, delivered, dropped,
      static_cast<unsigned long long>(failed), static_cast<unsigned long long>(o.warmup),
      static_cast<unsigned long long>(d0), wall_s, emit_s, wall_s > 0 ? delivered / wall_s : 0.0,
      cpu_s, u1 - u0, s1 - s0, delivered > 0 ? cpu_s / delivered * 1e6 : -1.0, flush_ok ? 1 : 0,
      o.queue, o.batch, o.delay_ms, static_cast<unsigned long long>(batches),
      batches ? delivered / static_cast<double>(batches) : 0.0,
      static_cast<unsigned long long>(maxb), o.mode == "rate" ? o.step_ms : 0u,
      static_cast<unsigned long long>(start_ms), static_cast<unsigned long long>(end_ms));
  std::fflush(stdout);
  return 0;
}
