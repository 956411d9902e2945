// peer_otelcpp_metrics.cc — the same metrics workload as bench_metrics.c, on opentelemetry-cpp's
// Metrics SDK (Debian bookworm-backports opentelemetry-cpp 1.19, ABI v1), as the reference point
// ("peer").
//
// Pipeline: sdk::metrics::MeterProvider (no views, empty resource) with one
// PeriodicExportingMetricReader (export interval 1000 ms, timeout 500 ms) -> a PushMetricExporter
// that asks for cumulative temporality and discards what it gets, after noting the exported value
// of the benchmark's instrument (for the correctness check) and counting the Export() calls
// (collections). The reader's thread collects every second, during the measured loop too.
//
// Cases (--case; one "op" is one call):
//   add0   counter->Add(1)                                  Counter<uint64_t> from CreateUInt64Counter
//   add3   counter->Add(1, attributes)
//   hist3  histogram->Record(v, attributes, context)        Histogram<double> from
//          CreateDoubleHistogram, default aggregation (explicit buckets, default boundaries);
//          v cycles over the same 8 values as ours; context = an empty context::Context (ABI v1
//          has no Record(value, attributes) overload)
//   bound  not available: the API has no bound instruments (the program refuses it; compare ours
//          with add0)
// attributes: http.request.method="GET", http.route="/api/todos", http.response.status_code=200
// (int64), the same set on every call, so every thread hammers the same series. --attr-form picks
// how they are passed:
//   ilist  the initializer_list overload, Add(1, {{"http.request.method", "GET"}, ...}): the
//          idiomatic form; builds 3 key/value pairs on the stack per call, no allocation (default)
//   kv     a KeyValueIterableView over a std::array of the 3 pairs built once, before the loop
//          (the same as ours, which passes one static otel_attr array)
//   map    a std::map<std::string, AttributeValue> built once, before the loop, passed as
//          Add(1, map) (KeyValueIterableView<std::map>)
//
// The loop, warm-up, flush, clocks, allocation counting and RESULT line are the same as in
// bench_metrics.c (see there). The correctness check runs in every run: after the final
// ForceFlush, the last export's cumulative value (counter sum; histogram count and sum) must equal
// the calls made, with one data point (check=ok|FAIL in the RESULT line).
#include <pthread.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "opentelemetry/common/attribute_value.h"
#include "opentelemetry/common/key_value_iterable_view.h"
#include "opentelemetry/context/context.h"
#include "opentelemetry/metrics/meter.h"
#include "opentelemetry/metrics/sync_instruments.h"
#include "opentelemetry/nostd/string_view.h"
#include "opentelemetry/nostd/unique_ptr.h"
#include "opentelemetry/nostd/variant.h"
#include "opentelemetry/sdk/common/exporter_utils.h"
#include "opentelemetry/sdk/metrics/data/metric_data.h"
#include "opentelemetry/sdk/metrics/data/point_data.h"
#include "opentelemetry/sdk/metrics/export/metric_producer.h"
#include "opentelemetry/sdk/metrics/export/periodic_exporting_metric_reader_factory.h"
#include "opentelemetry/sdk/metrics/export/periodic_exporting_metric_reader_options.h"
#include "opentelemetry/sdk/metrics/instruments.h"
#include "opentelemetry/sdk/metrics/meter_provider.h"
#include "opentelemetry/sdk/metrics/push_metric_exporter.h"
#include "opentelemetry/sdk/resource/resource.h"

#include "alloc_count.h"
#include "bench_common.h"

namespace metrics_api = opentelemetry::metrics;
namespace metrics_sdk = opentelemetry::sdk::metrics;
namespace nostd = opentelemetry::nostd;
namespace common = opentelemetry::common;

namespace {

enum class Case { kAdd0, kAdd3, kHist3 };
enum class AttrForm { kIlist, kKv, kMap };

const double kHistValues[8] = {0.5, 3.0, 7.5, 12.0, 30.0, 60.0, 180.0, 600.0};

double hist_sum(uint64_t n) {
  double cycle = 0;
  for (double v : kHistValues) cycle += v;
  double s = static_cast<double>(n / 8) * cycle;
  for (uint64_t i = 0; i < n % 8; ++i) s += kHistValues[i];
  return s;
}

double value_of(const metrics_sdk::ValueType &v) {
  if (nostd::holds_alternative<int64_t>(v)) return static_cast<double>(nostd::get<int64_t>(v));
  return nostd::get<double>(v);
}

// Discards the data; notes what the last Export() said about the benchmark's instrument.
class DiscardExporter final : public metrics_sdk::PushMetricExporter {
 public:
  explicit DiscardExporter(const char *instrument) : instrument_(instrument) {}

  opentelemetry::sdk::common::ExportResult Export(
      const metrics_sdk::ResourceMetrics &data) noexcept override {
    std::lock_guard<std::mutex> lock(mu_);
    ++exports_;
    for (const auto &scope : data.scope_metric_data_) {
      for (const auto &metric : scope.metric_data_) {
        if (metric.instrument_descriptor.name_ != instrument_) continue;
        points_ = metric.point_data_attr_.size();
        value_ = -1;
        sum_ = -1;
        for (const auto &p : metric.point_data_attr_) {
          if (const auto *s = nostd::get_if<metrics_sdk::SumPointData>(&p.point_data)) {
            value_ = value_of(s->value_);
          } else if (const auto *h = nostd::get_if<metrics_sdk::HistogramPointData>(&p.point_data)) {
            value_ = static_cast<double>(h->count_);
            sum_ = value_of(h->sum_);
          }
        }
      }
    }
    return opentelemetry::sdk::common::ExportResult::kSuccess;
  }

  metrics_sdk::AggregationTemporality GetAggregationTemporality(
      metrics_sdk::InstrumentType) const noexcept override {
    return metrics_sdk::AggregationTemporality::kCumulative;
  }

  bool ForceFlush(std::chrono::microseconds) noexcept override { return true; }
  bool Shutdown(std::chrono::microseconds) noexcept override { return true; }

  uint64_t exports() {
    std::lock_guard<std::mutex> lock(mu_);
    return exports_;
  }
  void last(size_t *points, double *value, double *sum) {
    std::lock_guard<std::mutex> lock(mu_);
    *points = points_;
    *value = value_;
    *sum = sum_;
  }

 private:
  std::string instrument_;
  std::mutex mu_;
  uint64_t exports_ = 0;
  size_t points_ = 0;
  double value_ = -1;
  double sum_ = -1;
};

struct Opts {
  Case kase = Case::kAdd3;
  const char *case_name = "add3";
  AttrForm form = AttrForm::kIlist;
  const char *form_name = "ilist";
  int attrs = 3;
  int threads = 1;
  uint64_t warmup = 100000;
  uint64_t duration_ms = 2000;
};

using Pair = std::pair<nostd::string_view, common::AttributeValue>;
using PairArray = std::array<Pair, 3>;
using AttrMap = std::map<std::string, common::AttributeValue>;

struct Shared {
  const Opts *opts;
  metrics_api::Counter<uint64_t> *counter;
  metrics_api::Histogram<double> *histogram;
  const common::KeyValueIterable *kv;  // --attr-form kv: view over a PairArray built once
  const AttrMap *map;                  // --attr-form map
  pthread_barrier_t warm_done;         // threads finished warm-up (main then flushes)
  pthread_barrier_t go;                // main flushed: start the measured loop
};

struct ThreadArg {
  Shared *shared;
  bench_thread_result result{};
  uint64_t ops = 0;
};

// The 3 attributes as an initializer list, written at the call as an application would.
#define OTB_ILIST                                                             \
  {{"http.request.method", nostd::string_view("GET")},                       \
   {"http.route", nostd::string_view("/api/todos")},                         \
   {"http.response.status_code", int64_t{200}}}

const opentelemetry::context::Context g_context;  // empty: no span, no baggage

// Warm-up, barriers, then the timed loop of `op(i)` (the clock is read every 1024 calls).
template <class Op>
void run_thread(ThreadArg *a, Op op) {
  const Opts &o = *a->shared->opts;
  uint64_t w = 0;
  for (; w < o.warmup; ++w) op(w);
  pthread_barrier_wait(&a->shared->warm_done);
  pthread_barrier_wait(&a->shared->go);
  uint64_t i = w;  // the histogram value sequence continues from the warm-up's
  const uint64_t a0 = otb_thread_allocs();
  const uint64_t c0 = bench_thread_cpu_ns();
  const uint64_t t0 = bench_now_ns();
  const uint64_t deadline = t0 + o.duration_ms * 1000000ull;
  for (;;) {
    for (int k = 0; k < 1024; ++k, ++i) op(i);
    if (bench_now_ns() >= deadline) break;
  }
  const uint64_t t1 = bench_now_ns();
  const uint64_t c1 = bench_thread_cpu_ns();
  const uint64_t a1 = otb_thread_allocs();
  a->ops = i - w;
  a->result.ns = t1 - t0;
  a->result.cpu_ns = c1 - c0;
  a->result.allocs = a1 - a0;
  a->result.failed = 0;  // the API returns nothing
}

void *op_thread(void *p) {
  auto *a = static_cast<ThreadArg *>(p);
  const Shared &sh = *a->shared;
  const Opts &o = *sh.opts;
  metrics_api::Counter<uint64_t> *counter = sh.counter;
  metrics_api::Histogram<double> *histogram = sh.histogram;
  switch (o.kase) {
    case Case::kAdd0:
      run_thread(a, [counter](uint64_t) { counter->Add(1); });
      break;
    case Case::kAdd3:
      switch (o.form) {
        case AttrForm::kIlist:
          run_thread(a, [counter](uint64_t) { counter->Add(1, OTB_ILIST); });
          break;
        case AttrForm::kKv: {
          const common::KeyValueIterable &kv = *sh.kv;
          run_thread(a, [counter, &kv](uint64_t) { counter->Add(1, kv); });
          break;
        }
        case AttrForm::kMap: {
          const AttrMap &m = *sh.map;
          run_thread(a, [counter, &m](uint64_t) { counter->Add(1, m); });
          break;
        }
      }
      break;
    case Case::kHist3:
      switch (o.form) {
        case AttrForm::kIlist:
          run_thread(a, [histogram](uint64_t i) {
            histogram->Record(kHistValues[i & 7], OTB_ILIST, g_context);
          });
          break;
        case AttrForm::kKv: {
          const common::KeyValueIterable &kv = *sh.kv;
          run_thread(a, [histogram, &kv](uint64_t i) {
            histogram->Record(kHistValues[i & 7], kv, g_context);
          });
          break;
        }
        case AttrForm::kMap: {
          const AttrMap &m = *sh.map;
          run_thread(a, [histogram, &m](uint64_t i) {
            histogram->Record(kHistValues[i & 7], m, g_context);
          });
          break;
        }
      }
      break;
  }
  return nullptr;
}

void usage(const char *prog) {
  std::fprintf(
      stderr,
      "usage: %s [--case add0|add3|hist3] [--attr-form ilist|kv|map] [--threads T]\n"
      "          [--duration-ms D] [--warmup N]\n"
      "  --case C         add0 / add3: counter add with 0 / 3 attributes; hist3: histogram record\n"
      "                   with 3 attributes (default add3; no bound instruments in this API)\n"
      "  --attr-form F    how the attributes are passed (default ilist, see the file's header)\n"
      "  --threads T      calling threads, all on the same series (default 1)\n"
      "  --duration-ms D  wall time of each thread's measured loop (default 2000)\n"
      "  --warmup N       warm-up calls per thread, made and flushed first (default 100000)\n",
      prog);
}

int parse(int argc, char **argv, Opts *o) {
  for (int i = 1; i < argc; i += 2) {
    const char *a = argv[i];
    const char *v = (i + 1 < argc) ? argv[i + 1] : nullptr;
    if (!v) return 1;
    if (std::strcmp(a, "--case") == 0) {
      o->case_name = v;
      if (std::strcmp(v, "add0") == 0) {
        o->kase = Case::kAdd0;
      } else if (std::strcmp(v, "add3") == 0) {
        o->kase = Case::kAdd3;
      } else if (std::strcmp(v, "hist3") == 0) {
        o->kase = Case::kHist3;
      } else {
        if (std::strcmp(v, "bound") == 0)
          std::fprintf(stderr, "opentelemetry-cpp has no bound instruments: no 'bound' case\n");
        return 1;
      }
    } else if (std::strcmp(a, "--attr-form") == 0) {
      o->form_name = v;
      if (std::strcmp(v, "ilist") == 0) {
        o->form = AttrForm::kIlist;
      } else if (std::strcmp(v, "kv") == 0) {
        o->form = AttrForm::kKv;
      } else if (std::strcmp(v, "map") == 0) {
        o->form = AttrForm::kMap;
      } else {
        return 1;
      }
    } else if (std::strcmp(a, "--threads") == 0) {
      o->threads = std::atoi(v);
    } else if (std::strcmp(a, "--duration-ms") == 0) {
      o->duration_ms = std::strtoull(v, nullptr, 10);
    } else if (std::strcmp(a, "--warmup") == 0) {
      o->warmup = std::strtoull(v, nullptr, 10);
    } else {
      return 1;
    }
  }
  o->attrs = o->kase == Case::kAdd0 ? 0 : 3;
  return (o->threads < 1 || o->threads > 64 || o->duration_ms == 0) ? 1 : 0;
}

}  // namespace

int main(int argc, char **argv) {
  Opts o;
  if (parse(argc, argv, &o)) {
    usage(argv[0]);
    return 2;
  }
  const int counting = otb_alloc_count_active();
  if (!counting) std::fprintf(stderr, "warning: allocation counting is not active\n");

  const char *instrument = o.kase == Case::kHist3 ? "bench.duration" : "bench.requests";
  auto *exporter = new DiscardExporter(instrument);
  metrics_sdk::PeriodicExportingMetricReaderOptions ropts;
  ropts.export_interval_millis = std::chrono::milliseconds(1000);
  ropts.export_timeout_millis = std::chrono::milliseconds(500);
  std::shared_ptr<metrics_sdk::MetricReader> reader =
      metrics_sdk::PeriodicExportingMetricReaderFactory::Create(
          std::unique_ptr<metrics_sdk::PushMetricExporter>(exporter), ropts);
  auto provider = std::make_shared<metrics_sdk::MeterProvider>(
      std::unique_ptr<metrics_sdk::ViewRegistry>(new metrics_sdk::ViewRegistry()),
      opentelemetry::sdk::resource::Resource::Create({}));
  provider->AddMetricReader(reader);
  nostd::shared_ptr<metrics_api::Meter> meter = provider->GetMeter("bench", "1.0.0");
  nostd::unique_ptr<metrics_api::Counter<uint64_t>> counter;
  nostd::unique_ptr<metrics_api::Histogram<double>> histogram;
  if (o.kase == Case::kHist3) {
    histogram = meter->CreateDoubleHistogram("bench.duration", "benchmark histogram", "ms");
  } else {
    counter = meter->CreateUInt64Counter("bench.requests", "benchmark counter", "1");
  }

  // The prebuilt attribute sets of --attr-form kv and map (built once, before any thread starts).
  const PairArray pairs = {{{"http.request.method", nostd::string_view("GET")},
                            {"http.route", nostd::string_view("/api/todos")},
                            {"http.response.status_code", int64_t{200}}}};
  const common::KeyValueIterableView<PairArray> kv_view{pairs};
  const AttrMap attr_map = {{"http.request.method", nostd::string_view("GET")},
                            {"http.route", nostd::string_view("/api/todos")},
                            {"http.response.status_code", int64_t{200}}};

  Shared shared;
  shared.opts = &o;
  shared.counter = counter.get();
  shared.histogram = histogram.get();
  shared.kv = &kv_view;
  shared.map = &attr_map;
  pthread_barrier_init(&shared.warm_done, nullptr, static_cast<unsigned>(o.threads) + 1);
  pthread_barrier_init(&shared.go, nullptr, static_cast<unsigned>(o.threads) + 1);
  std::vector<ThreadArg> args(static_cast<size_t>(o.threads));
  std::vector<pthread_t> tids(static_cast<size_t>(o.threads));
  for (int t = 0; t < o.threads; ++t) {
    args[t].shared = &shared;
    if (pthread_create(&tids[t], nullptr, op_thread, &args[t]) != 0) {
      std::fprintf(stderr, "pthread_create failed\n");
      return 1;
    }
  }
  pthread_barrier_wait(&shared.warm_done);
  provider->ForceFlush();  // collects and exports the warm-up
  const uint64_t exports0 = exporter->exports();
  const uint64_t p0 = bench_process_cpu_ns();
  pthread_barrier_wait(&shared.go);
  for (int t = 0; t < o.threads; ++t) pthread_join(tids[t], nullptr);
  const uint64_t collections = exporter->exports() - exports0;

  const bool flushed = provider->ForceFlush();
  const uint64_t p1 = bench_process_cpu_ns();
  if (!flushed) std::fprintf(stderr, "warning: final ForceFlush returned false\n");
  size_t points = 0;
  double value = -1, sum = -1;
  exporter->last(&points, &value, &sum);
  const uint64_t total_exports = exporter->exports();

  uint64_t ops = 0, allocs = 0;
  double ns_sum = 0, cpu_sum = 0, ops_per_s = 0, expected_sum = 0;
  for (int t = 0; t < o.threads; ++t) {
    ops += args[t].ops;
    allocs += args[t].result.allocs;
    ns_sum += static_cast<double>(args[t].result.ns) / static_cast<double>(args[t].ops);
    cpu_sum += static_cast<double>(args[t].result.cpu_ns) / static_cast<double>(args[t].ops);
    ops_per_s += static_cast<double>(args[t].ops) * 1e9 / static_cast<double>(args[t].result.ns);
    expected_sum += hist_sum(o.warmup + args[t].ops);
  }
  const uint64_t expected = ops + o.warmup * static_cast<uint64_t>(o.threads);
  bool ok = points == 1 && value == static_cast<double>(expected);
  if (o.kase == Case::kHist3) ok = ok && sum == expected_sum;
  std::fprintf(stderr,
               "peer(metrics, %s, form=%s, threads=%d): exports=%llu last export: points=%zu "
               "value=%.0f sum=%.1f (expected %llu%s%.1f)\n",
               o.case_name, o.form_name, o.threads, static_cast<unsigned long long>(total_exports),
               points, value, sum, static_cast<unsigned long long>(expected),
               o.kase == Case::kHist3 ? ", sum " : ", -", o.kase == Case::kHist3 ? expected_sum : 0.0);
  std::printf(
      "RESULT impl=otelcpp variant=%s threads=%d attrs=%d ops=%llu ns_per_op=%.2f "
      "allocs_per_op=%.3f ops_per_s=%.0f cpu_ns_per_op=%.2f proc_cpu_ns_per_op=%.2f "
      "collections=%llu exported=%llu dropped=-1 failed=0 expected=%llu value=%.0f check=%s "
      "attr_form=%s\n",
      o.case_name, o.threads, o.attrs, static_cast<unsigned long long>(ops), ns_sum / o.threads,
      counting ? static_cast<double>(allocs) / static_cast<double>(ops) : -1.0, ops_per_s,
      cpu_sum / o.threads, static_cast<double>(p1 - p0) / static_cast<double>(ops),
      static_cast<unsigned long long>(collections), static_cast<unsigned long long>(total_exports),
      static_cast<unsigned long long>(expected), value, ok ? "ok" : "FAIL",
      o.kase == Case::kAdd0 ? "-" : o.form_name);
  std::fflush(stdout);

  // No explicit Shutdown(): ~MeterProvider shuts the context down (a second call warns).
  pthread_barrier_destroy(&shared.warm_done);
  pthread_barrier_destroy(&shared.go);
  return ok ? 0 : 3;
}
