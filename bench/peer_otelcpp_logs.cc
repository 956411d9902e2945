// peer_otelcpp_logs.cc — the same logs workload as bench_logs.c, on opentelemetry-cpp's Logs SDK
// (Debian bookworm-backports opentelemetry-cpp 1.19), as the reference point ("peer").
//
// Pipeline: sdk::logs::LoggerProvider -> BatchLogRecordProcessor (max_queue_size 65536,
// max_export_batch_size 512, schedule delay 100 ms) -> a discarding LogRecordExporter that only
// counts the records it is handed. --variant picks the Recordable its MakeRecordable() returns,
// i.e. what the calling thread builds for every record:
//   rw    sdk::logs::ReadWriteLogRecord, the SDK's own data-holding record (default). Note: it
//   keeps
//         string values as views (AttributeValue), copying only keys into an unordered_map.
//   otlp  exporter::otlp::OtlpLogRecordable, what the SDK's OTLP exporters (gRPC/HTTP/file) use: a
//         protobuf LogRecord filled on the calling thread (closest to our own work: we encode OTLP
//         bytes on the calling thread).
//   null  a Recordable that stores nothing: the cost of the SDK's pipeline alone (lower bound).
//
// Per record (calling thread): CreateLogRecord() (sets the observed timestamp), SetTimestamp(now),
// SetSeverity(kInfo), SetBody("benchmark message"), 0 or 4 SetAttribute() calls, EmitLogRecord().
// The four attributes: http.method="GET", http.status_code=200 (int64), user.id="u-12345",
// latency_ms=12.5.
//
// Drops: the BatchLogRecordProcessor silently discards records when its queue is full and exposes
// no counter, so this program derives them: dropped = emitted - exported, read after Shutdown()
// (which drains the queue into the exporter).
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "opentelemetry/exporters/otlp/otlp_log_recordable.h"
#include "opentelemetry/logs/logger.h"
#include "opentelemetry/logs/severity.h"
#include "opentelemetry/nostd/span.h"
#include "opentelemetry/sdk/common/exporter_utils.h"
#include "opentelemetry/sdk/logs/batch_log_record_processor.h"
#include "opentelemetry/sdk/logs/batch_log_record_processor_options.h"
#include "opentelemetry/sdk/logs/exporter.h"
#include "opentelemetry/sdk/logs/logger_provider.h"
#include "opentelemetry/sdk/logs/read_write_log_record.h"
#include "opentelemetry/sdk/logs/recordable.h"
#include "opentelemetry/sdk/resource/resource.h"

#include "alloc_count.h"
#include "bench_common.h"
#include "peer_common.h"

namespace logs_api = opentelemetry::logs;
namespace logs_sdk = opentelemetry::sdk::logs;
namespace nostd = opentelemetry::nostd;
namespace common = opentelemetry::common;

namespace {

enum class Kind { kReadWrite, kOtlp, kNull };

class NullRecordable final : public logs_sdk::Recordable {
 public:
  void SetTimestamp(common::SystemTimestamp) noexcept override {}
  void SetObservedTimestamp(common::SystemTimestamp) noexcept override {}
  void SetSeverity(logs_api::Severity) noexcept override {}
  void SetBody(const common::AttributeValue &) noexcept override {}
  void SetAttribute(nostd::string_view, const common::AttributeValue &) noexcept override {}
  void SetEventId(int64_t, nostd::string_view) noexcept override {}
  void SetTraceId(const opentelemetry::trace::TraceId &) noexcept override {}
  void SetSpanId(const opentelemetry::trace::SpanId &) noexcept override {}
  void SetTraceFlags(const opentelemetry::trace::TraceFlags &) noexcept override {}
  void SetResource(const opentelemetry::sdk::resource::Resource &) noexcept override {}
  void SetInstrumentationScope(
      const opentelemetry::sdk::instrumentationscope::InstrumentationScope &) noexcept override {}
};

class DiscardExporter final : public logs_sdk::LogRecordExporter {
 public:
  DiscardExporter(Kind kind, std::atomic<uint64_t> *exported) : kind_(kind), exported_(exported) {}

  std::unique_ptr<logs_sdk::Recordable> MakeRecordable() noexcept override {
    switch (kind_) {
      case Kind::kOtlp:
        return std::unique_ptr<logs_sdk::Recordable>(
            new opentelemetry::exporter::otlp::OtlpLogRecordable());
      case Kind::kNull:
        return std::unique_ptr<logs_sdk::Recordable>(new NullRecordable());
      case Kind::kReadWrite:
      default:
        return std::unique_ptr<logs_sdk::Recordable>(new logs_sdk::ReadWriteLogRecord());
    }
  }

  opentelemetry::sdk::common::ExportResult Export(
      const nostd::span<std::unique_ptr<logs_sdk::Recordable>> &records) noexcept override {
    exported_->fetch_add(records.size(), std::memory_order_relaxed);
    return opentelemetry::sdk::common::ExportResult::kSuccess;
  }

  bool ForceFlush(std::chrono::microseconds) noexcept override { return true; }
  bool Shutdown(std::chrono::microseconds) noexcept override { return true; }

 private:
  Kind kind_;
  std::atomic<uint64_t> *exported_;
};

inline void emit_one(logs_api::Logger &logger, int attrs) {
  nostd::unique_ptr<logs_api::LogRecord> rec = logger.CreateLogRecord();
  if (!rec) return;
  rec->SetTimestamp(std::chrono::system_clock::now());
  rec->SetSeverity(logs_api::Severity::kInfo);
  rec->SetBody(nostd::string_view("benchmark message"));
  if (attrs) {
    rec->SetAttribute("http.method", nostd::string_view("GET"));
    rec->SetAttribute("http.status_code", int64_t{200});
    rec->SetAttribute("user.id", nostd::string_view("u-12345"));
    rec->SetAttribute("latency_ms", 12.5);
  }
  logger.EmitLogRecord(std::move(rec));
}

}  // namespace

int main(int argc, char **argv) {
  bench_opts o;
  if (bench_parse(argc, argv, &o, "rw|otlp|null", "rw")) return 2;
  Kind kind;
  const std::string v = o.variant;
  if (v == "rw") {
    kind = Kind::kReadWrite;
  } else if (v == "otlp") {
    kind = Kind::kOtlp;
  } else if (v == "null") {
    kind = Kind::kNull;
  } else {
    std::fprintf(stderr, "unknown --variant %s (rw|otlp|null)\n", o.variant);
    return 2;
  }
  const int counting = otb_alloc_count_active();
  if (!counting) std::fprintf(stderr, "warning: allocation counting is not active\n");

  std::atomic<uint64_t> exported{0};
  logs_sdk::BatchLogRecordProcessorOptions bopts;
  bopts.max_queue_size = 65536;
  bopts.max_export_batch_size = 512;
  bopts.schedule_delay_millis = std::chrono::milliseconds(100);
  auto processor =
      std::unique_ptr<logs_sdk::LogRecordProcessor>(new logs_sdk::BatchLogRecordProcessor(
          std::unique_ptr<logs_sdk::LogRecordExporter>(new DiscardExporter(kind, &exported)),
          bopts));
  auto provider = std::make_shared<logs_sdk::LoggerProvider>(
      std::move(processor), opentelemetry::sdk::resource::Resource::Create({}));
  nostd::shared_ptr<logs_api::Logger> logger = provider->GetLogger("bench", "bench", "1.0.0");

  // One record, as the threads call it (the logger and the attribute count bound once).
  logs_api::Logger &logger_ref = *logger;
  const int attrs = o.attrs;
  const auto one = [&logger_ref, attrs]() { emit_one(logger_ref, attrs); };
  const auto flush = [&provider]() { provider->ForceFlush(); };
  std::vector<bench_thread_result> results;
  uint64_t p0 = 0, p1 = 0;
  if (peer::run_threads(o, one, flush, results, &p0, &p1)) return 1;
  provider->Shutdown();
  const uint64_t emitted = static_cast<uint64_t>(o.threads) * (o.warmup + o.records);
  const uint64_t exp = exported.load();
  bench_print_result("otelcpp", &o, results.data(), counting, static_cast<long long>(exp),
                     static_cast<long long>(emitted - exp), p1 - p0);
  return 0;
}
