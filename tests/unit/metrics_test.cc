// Metrics: aggregation, temporality across collections, cardinality overflow, bound series,
// observable callbacks, concurrency, instrument identity.
#include <gtest/gtest.h>

#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "exphist.h"
#include "metrics.h"
#include "self_metrics.h"
#include "test_helpers.h"

using namespace otbtest;

namespace {

struct Point {
  std::map<std::string, std::string> attrs;  // key -> AnyValue bytes
  int64_t i = 0;
  double d = 0;
  uint64_t count = 0;
  double sum = 0, min = 0, max = 0;
  std::vector<uint64_t> buckets;
};

double as_double(uint64_t u) {
  double d;
  memcpy(&d, &u, 8);
  return d;
}

struct MetricsFixture : ::testing::Test {
  Sink sink;
  otb::Engine *e = nullptr;
  otb::Scope *scope = nullptr;
  void start(std::vector<std::pair<std::string, std::string>> kv) {
    // Defaults first, so a test's own keys override them.
    kv.insert(kv.begin(), {{"OTEL_LOGS_EXPORTER", "none"},
                           {"OTEL_TRACES_EXPORTER", "none"},
                           {"OTEL_METRICS_EXPORTER", "console"}});  // replaced by the sink
    e = make_engine(&sink, kv);
    ASSERT_NE(e, nullptr);
    ASSERT_EQ(e->scope_get(S("metrics.test"), S("1"), S(""), nullptr, 0, &scope), OTEL_OK);
  }
  void TearDown() override {
    if (e) otb::Engine::destroy(e);
  }
  otb::Instrument *make(int32_t kind, int32_t number, const char *name, const double *b = nullptr,
                        size_t nb = 0, otel_observe_fn cb = nullptr, void *user = nullptr) {
    otb::Instrument *i = nullptr;
    EXPECT_EQ(
        e->meters()->create(scope, kind, number, S(name), S("1"), S("d"), b, nb, cb, user, &i),
        OTEL_OK);
    return i;
  }
  // Collects now and returns the points of metric `name` from the requests of this collection.
  std::vector<Point> collect(const std::string &name) { return collect_all()[name]; }
  std::map<std::string, std::vector<Point>> collect_all() {
    size_t before;
    {
      std::lock_guard<std::mutex> lk(sink.mu);
      before = sink.requests.size();
    }
    EXPECT_EQ(e->flush(5000), OTEL_OK);
    std::lock_guard<std::mutex> lk(sink.mu);
    std::map<std::string, std::vector<Point>> all;
    for (size_t r = before; r < sink.requests.size(); r++) {
      for (auto &metric : log_records(sink.requests[r])) {  // same envelope field numbers
        std::vector<Point> &out = all[pb_one(metric, 1)];
        for (uint32_t kind : {5u, 7u, 9u}) {
          std::string data = pb_one(metric, kind);
          if (data.empty()) continue;
          for (auto &dp : pb_all(data, 1)) {
            Point p;
            for (auto &kv : pb_all(dp, kind == 9 ? 9 : 7)) p.attrs[pb_one(kv, 1)] = pb_one(kv, 2);
            for (auto &f : pb_fields(dp)) {
              if (kind != 9 && f.num == 6) p.i = static_cast<int64_t>(f.u);
              if (kind != 9 && f.num == 4) p.d = as_double(f.u);
              if (kind == 9 && f.num == 4) p.count = f.u;
              if (kind == 9 && f.num == 5) p.sum = as_double(f.u);
              if (kind == 9 && f.num == 11) p.min = as_double(f.u);
              if (kind == 9 && f.num == 12) p.max = as_double(f.u);
              if (kind == 9 && f.num == 6)
                for (size_t k = 0; k < f.bytes.size(); k += 8) {
                  uint64_t c;
                  memcpy(&c, f.bytes.data() + k, 8);
                  p.buckets.push_back(c);
                }
            }
            out.push_back(p);
          }
        }
      }
    }
    return all;
  }
};

otel_attr A(const char *k, const char *v) {
  return otel_attr{S(k), otel_value_str(S(v))};
}

}  // namespace

TEST_F(MetricsFixture, CumulativeSumsAcrossCollections) {
  start({});
  auto *c = make(OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, "requests");
  otel_attr ab[2] = {A("route", "/a"), A("code", "200")},
            ba[2] = {A("code", "200"), A("route", "/a")};
  ASSERT_EQ(otb::instrument_record(c, false, 5, 0, ab, 2), OTEL_OK);
  ASSERT_EQ(otb::instrument_record(c, false, 1, 0, ba, 2), OTEL_OK) << "same set, other order";
  auto p = collect("requests");
  ASSERT_EQ(p.size(), 1u) << "attribute order does not make a new series";
  EXPECT_EQ(p[0].i, 6);
  EXPECT_EQ(p[0].attrs.size(), 2u);
  otb::instrument_record(c, false, 3, 0, ab, 2);
  p = collect("requests");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].i, 9);
  p = collect("requests");
  ASSERT_EQ(p.size(), 1u) << "cumulative series are reported every time";
  EXPECT_EQ(p[0].i, 9);
  EXPECT_EQ(otb::instrument_record(c, false, -1, 0, nullptr, 0), OTEL_E_INVALID_ARG)
      << "counters never go down";
}

TEST_F(MetricsFixture, DeltaTemporalityReportsChangesOnly) {
  start({{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta"}});
  auto *c = make(OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_DOUBLE, "bytes");
  auto *ud = make(OTEL_INSTRUMENT_UP_DOWN_COUNTER, OTEL_NUMBER_INT, "active");
  otb::instrument_record(c, true, 0, 1.5, nullptr, 0);
  otb::instrument_record(c, true, 0, 2.5, nullptr, 0);
  otb::instrument_record(ud, false, 3, 0, nullptr, 0);
  EXPECT_DOUBLE_EQ(collect("bytes").at(0).d, 4.0);
  otb::instrument_record(c, true, 0, 1.0, nullptr, 0);
  otb::instrument_record(ud, false, -1, 0, nullptr, 0);
  EXPECT_DOUBLE_EQ(collect("bytes").at(0).d, 1.0) << "delta: only this interval";
  EXPECT_TRUE(collect("bytes").empty()) << "nothing recorded: no point";
  EXPECT_EQ(collect("active").at(0).i, 2)
      << "up-down counters stay cumulative with delta preference";
}

TEST_F(MetricsFixture, HistogramBucketsSumMinMax) {
  start({});
  const double bounds[] = {0, 10, 100};
  auto *h = make(OTEL_INSTRUMENT_HISTOGRAM, OTEL_NUMBER_DOUBLE, "latency", bounds, 3);
  for (double v : {-1.0, 0.0, 5.0, 10.0, 10.5, 1000.0})
    otb::instrument_record(h, true, 0, v, nullptr, 0);
  auto p = collect("latency");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].count, 6u);
  EXPECT_EQ(p[0].buckets, (std::vector<uint64_t>{2, 2, 1, 1}))
      << "upper bounds inclusive: (-inf,0] (0,10] (10,100] (100,inf)";
  EXPECT_DOUBLE_EQ(p[0].sum, 1024.5);
  EXPECT_DOUBLE_EQ(p[0].min, -1.0);
  EXPECT_DOUBLE_EQ(p[0].max, 1000.0);
  otb::Instrument *bad = nullptr;
  const double unsorted[] = {5, 1};
  EXPECT_EQ(e->meters()->create(scope, OTEL_INSTRUMENT_HISTOGRAM, OTEL_NUMBER_DOUBLE, S("x"), S(""),
                                S(""), unsorted, 2, nullptr, nullptr, &bad),
            OTEL_E_INVALID_ARG);
}

TEST_F(MetricsFixture, CardinalityLimitOverflowsIntoOneSeries) {
  start({{"OTELBRIDGE_METRICS_CARDINALITY_LIMIT", "3"}});
  auto *c = make(OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, "users");
  const char *ids[] = {"a", "b", "c", "d", "e"};
  for (const char *id : ids) {
    otel_attr a = A("user", id);
    otb::instrument_record(c, false, 1, 0, &a, 1);
  }
  auto p = collect("users");
  ASSERT_EQ(p.size(), 4u) << "3 series plus the overflow series";
  int64_t total = 0, overflow = 0;
  for (auto &pt : p) {
    total += pt.i;
    if (pt.attrs.count("otel.metric.overflow")) overflow = pt.i;
  }
  EXPECT_EQ(total, 5) << "nothing lost";
  EXPECT_EQ(overflow, 2);
}

TEST_F(MetricsFixture, BoundSeriesIsTheSameSeries) {
  start({});
  auto *c = make(OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, "jobs");
  otel_attr a = A("queue", "q1");
  otb::Series *bound = nullptr;
  ASSERT_EQ(otb::instrument_bind(c, &a, 1, &bound), OTEL_OK);
  for (int i = 0; i < 10; i++) ASSERT_EQ(otb::series_record(bound, false, 1, 0), OTEL_OK);
  otb::instrument_record(c, false, 5, 0, &a, 1);
  auto p = collect("jobs");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].i, 15);
}

namespace {
void observe_two(otel_observer *o, void *user) {
  int *calls = static_cast<int *>(user);
  ++*calls;
  otel_attr a = A("cpu", "0"), b = A("cpu", "1");
  otb::observer_record(o, false, 10 * *calls, 0, &a, 1);
  otb::observer_record(o, false, 20 * *calls, 0, &b, 1);
}
void observe_nothing(otel_observer *, void *) {}
void observe_slowly(otel_observer *o, void *) {
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  otb::observer_record(o, true, 0, 1.25, nullptr, 0);
}
}  // namespace

TEST_F(MetricsFixture, ObservableCallbacksRunPerCollection) {
  start({{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta"}});
  int calls = 0;
  make(OTEL_INSTRUMENT_OBSERVABLE_COUNTER, OTEL_NUMBER_INT, "cpu.time", nullptr, 0, &observe_two,
       &calls);
  make(OTEL_INSTRUMENT_OBSERVABLE_GAUGE, OTEL_NUMBER_INT, "silent", nullptr, 0, &observe_nothing,
       nullptr);
  make(OTEL_INSTRUMENT_OBSERVABLE_GAUGE, OTEL_NUMBER_DOUBLE, "slow", nullptr, 0, &observe_slowly,
       nullptr);
  auto p = collect("cpu.time");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].i + p[1].i, 30) << "first delta of cumulative observations: the values";
  p = collect("cpu.time");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].i + p[1].i, 30) << "then the difference: (20+40) - (10+20)";
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(collect("silent").empty()) << "a callback that observes nothing reports nothing";
  auto slow = collect("slow");
  ASSERT_EQ(slow.size(), 1u) << "a slow callback does not stop collection";
  EXPECT_DOUBLE_EQ(slow[0].d, 1.25);
  EXPECT_EQ(otb::instrument_record(make(OTEL_INSTRUMENT_OBSERVABLE_GAUGE, OTEL_NUMBER_INT, "obs2",
                                        nullptr, 0, &observe_nothing, nullptr),
                                   false, 1, 0, nullptr, 0),
            OTEL_E_INVALID_ARG)
      << "observable instruments take no direct measurements";
}

TEST_F(MetricsFixture, InstrumentIdentityAndNames) {
  start({});
  auto *a = make(OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, "Orders");
  auto *b = make(OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, "orders");
  EXPECT_EQ(a, b)
      << "same scope, name (case-insensitive), kind, number and unit: the same instrument";
  otb::Instrument *c = nullptr;
  ASSERT_EQ(e->meters()->create(scope, OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, S("orders"),
                                S("ms"), S(""), nullptr, 0, nullptr, nullptr, &c),
            OTEL_OK);
  EXPECT_NE(c, a) << "a different unit is a different instrument (duplicate registration)";
  for (const char *bad : {"", "1abc", "has space", "ümlaut"}) {
    otb::Instrument *x = nullptr;
    EXPECT_EQ(e->meters()->create(scope, OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, S(bad), S(""),
                                  S(""), nullptr, 0, nullptr, nullptr, &x),
              OTEL_E_INVALID_ARG)
        << bad;
  }
  std::string long_name(256, 'a');
  otb::Instrument *x = nullptr;
  EXPECT_EQ(e->meters()->create(scope, OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, S(long_name),
                                S(""), S(""), nullptr, 0, nullptr, nullptr, &x),
            OTEL_E_INVALID_ARG);
}

TEST_F(MetricsFixture, ExactTotalsUnderManyThreadsWithConcurrentCollections) {
  start({{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta"}});
  auto *c = make(OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, "hits");
  auto *h = make(OTEL_INSTRUMENT_HISTOGRAM, OTEL_NUMBER_DOUBLE, "sizes");
  constexpr int kThreads = 8, kPer = 20000;
  std::atomic<bool> done{false};
  int64_t total = 0;
  uint64_t hist_total = 0;
  auto add_up = [&] {
    auto all = collect_all();
    for (auto &p : all["hits"]) total += p.i;
    for (auto &p : all["sizes"]) hist_total += p.count;
  };
  std::thread collector([&] {
    while (!done.load()) {
      add_up();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++)
    ts.emplace_back([&, t] {
      otel_attr a = A("shard", t % 2 ? "odd" : "even");
      for (int i = 0; i < kPer; i++) {
        otb::instrument_record(c, false, 1, 0, &a, 1);
        otb::instrument_record(h, true, 0, i % 100, &a, 1);
      }
    });
  for (auto &th : ts) th.join();
  done = true;
  collector.join();
  add_up();
  EXPECT_EQ(total, int64_t(kThreads) * kPer)
      << "delta collections add up to every add, none lost or doubled";
  EXPECT_EQ(hist_total, uint64_t(kThreads) * kPer) << "and every histogram record";
}

TEST(Views, ParseAndMatch) {
  std::vector<otb::ViewSpec> v;
  std::string why;
  ASSERT_TRUE(
      otb::parse_views("instrument=http.server.duration name=latency boundaries=0|5|10 "
                       "keys=http.route; instrument=debug.* "
                       "aggregation=drop",
                       &v, &why))
      << why;
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].name, "latency");
  EXPECT_EQ(v[0].bounds, (std::vector<double>{0, 5, 10}));
  EXPECT_EQ(v[0].aggregation, OTEL_AGGREGATION_EXPLICIT_BUCKETS);
  EXPECT_TRUE(v[0].filter_keys);
  EXPECT_EQ(v[1].aggregation, OTEL_AGGREGATION_DROP);
  EXPECT_TRUE(otb::view_matches(v[1], "DEBUG.cache.hits"));
  EXPECT_FALSE(otb::view_matches(v[1], "debugger"));
  EXPECT_TRUE(otb::view_matches(v[0], "HTTP.Server.Duration"));
  EXPECT_FALSE(otb::parse_views("instrument=a* name=b", &v, &why))
      << "renaming needs one instrument";
  EXPECT_FALSE(otb::parse_views("instrument=a boundaries=5|1", &v, &why));
  EXPECT_FALSE(otb::parse_views("instrument=a colour=red", &v, &why));
  EXPECT_FALSE(otb::parse_views("name=b", &v, &why)) << "a view needs an instrument";
}

TEST_F(MetricsFixture, ViewsRenameBucketFilterAndDrop) {
  start(
      {{"OTELBRIDGE_METRICS_VIEWS",
        "instrument=request.duration name=latency description=Latency boundaries=1|10 keys=route; "
        "instrument=debug.* aggregation=drop"}});
  auto *h = make(OTEL_INSTRUMENT_HISTOGRAM, OTEL_NUMBER_DOUBLE, "request.duration");
  EXPECT_EQ(make(OTEL_INSTRUMENT_HISTOGRAM, OTEL_NUMBER_DOUBLE, "request.duration"), h)
      << "identity is the created name, not the view's";
  auto *dbg = make(OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, "debug.cache.hits");
  otel_attr a[2] = {A("route", "/a"), A("user", "u1")}, b[2] = {A("route", "/a"), A("user", "u2")};
  otb::instrument_record(h, true, 0, 5, a, 2);
  otb::instrument_record(h, true, 0, 50, b, 2);
  EXPECT_EQ(otb::instrument_record(dbg, false, 1, 0, nullptr, 0), OTEL_OK)
      << "a dropped instrument accepts";
  auto all = collect_all();
  EXPECT_TRUE(all["request.duration"].empty());
  EXPECT_TRUE(all["debug.cache.hits"].empty()) << "dropped";
  auto &p = all["latency"];
  ASSERT_EQ(p.size(), 1u) << "user is filtered out, so both records are one series";
  EXPECT_EQ(p[0].attrs.size(), 1u);
  EXPECT_EQ(p[0].attrs.count("route"), 1u);
  EXPECT_EQ(p[0].buckets, (std::vector<uint64_t>{0, 1, 1}))
      << "the view's boundaries: (-inf,1] (1,10] (10,inf)";
}

TEST_F(MetricsFixture, SelfMetricsMirrorTheEngineStatistics) {
  start({{"OTELBRIDGE_SELF_METRICS", "true"},
         {"OTEL_LOGS_EXPORTER", "console"},
         {"OTEL_BLRP_MAX_QUEUE_SIZE", "10"},
         {"OTELBRIDGE_BLRP_MAX_QUEUE_BYTES", "1024"},
         {"OTEL_BLRP_SCHEDULE_DELAY", "60000"}});
  otb::register_self_metrics(e);
  otel_value body = otel_value_str(S("x"));
  otb::LogRecordArgs a{0, 0, 9, S("INFO"), &body, nullptr, 0, S(""), nullptr};
  for (int i = 0; i < 5; i++) ASSERT_EQ(e->emit_log(scope, a), OTEL_OK);
  std::string big(2000, 'b');
  otel_value big_body = otel_value_str(S(big));
  otb::LogRecordArgs large{0, 0, 9, S("INFO"), &big_body, nullptr, 0, S(""), nullptr};
  ASSERT_EQ(e->emit_log(scope, large), OTEL_E_TOO_LARGE);
  ASSERT_EQ(e->flush(5000), OTEL_OK);  // exports the 5 (collecting the self-metrics first)
  auto all = collect_all();            // the next collection sees the export
  auto value = [&](const char *name, const char *error_type) {
    for (auto &p : all[name]) {
      bool has = p.attrs.count("error.type") > 0;
      if (has == (error_type != nullptr) &&
          (!has || p.attrs["error.type"].find(error_type) != std::string::npos))
        return p.i;
    }
    return int64_t(-1);
  };
  EXPECT_EQ(value("otel.sdk.processor.log.processed", nullptr), 5);
  EXPECT_EQ(value("otel.sdk.processor.log.processed", "too_large"), 1);
  EXPECT_EQ(value("otel.sdk.exporter.log.exported", nullptr), 5);
  EXPECT_EQ(value("otel.sdk.processor.log.queue.capacity", nullptr), 10);
  EXPECT_EQ(value("otel.sdk.processor.log.queue.size", nullptr), 0);
  EXPECT_TRUE(all["otel.sdk.exporter.span.exported"].empty())
      << "OTEL_TRACES_EXPORTER=none: no span pipeline, so no span instruments";
}

TEST(ExpHistogram, IndexMappingPerTheDataModel) {
  using otb::ExpHistogram;
  // Scale 0: buckets (2^i, 2^(i+1)], upper bound inclusive.
  EXPECT_EQ(ExpHistogram::map_to_index(1.0, 0), -1);
  EXPECT_EQ(ExpHistogram::map_to_index(2.0, 0), 0);
  EXPECT_EQ(ExpHistogram::map_to_index(3.0, 0), 1);
  EXPECT_EQ(ExpHistogram::map_to_index(4.0, 0), 1);
  EXPECT_EQ(ExpHistogram::map_to_index(0.5, 0), -2);
  // Scale 1: base sqrt(2).
  EXPECT_EQ(ExpHistogram::map_to_index(2.0, 1), 1);
  EXPECT_EQ(ExpHistogram::map_to_index(1.5, 1), 1);
  EXPECT_EQ(ExpHistogram::map_to_index(1.0, 1), -1);
  // Scale -1: base 4.
  EXPECT_EQ(ExpHistogram::map_to_index(4.0, -1), 0);
  EXPECT_EQ(ExpHistogram::map_to_index(5.0, -1), 1);
  // Every value lies in its bucket (base^i, base^(i+1)] at several scales.
  for (int scale : {-3, 0, 3, 8, 20})
    for (double v : {1e-9, 0.3, 1.0, 1.0000001, 7.0, 1000.0, 123456.789, 1e300}) {
      int32_t i = ExpHistogram::map_to_index(v, scale);
      double base_log = std::ldexp(1.0, -scale);  // log2(base)
      double lo = std::exp2(i * base_log), hi = std::exp2((i + 1) * base_log);
      EXPECT_LE(lo, v * (1 + 1e-12)) << v << " at scale " << scale;
      EXPECT_GE(hi, v * (1 - 1e-12)) << v << " at scale " << scale;
    }
}

TEST(ExpHistogram, DownscalesToFitAndKeepsEveryCount) {
  otb::ExpHistogram h;
  uint64_t n = 0;
  for (double v = 1e-3; v < 1e6; v *= 1.07, n++) ASSERT_TRUE(h.record(v));
  ASSERT_TRUE(h.record(0.0));
  ASSERT_TRUE(h.record(-2.5));
  EXPECT_FALSE(h.record(std::numeric_limits<double>::infinity())) << "infinities are not recorded";
  EXPECT_LT(h.scale(), otb::ExpHistogram::kMaxScale) << "a 9-decade range needs a lower scale";
  EXPECT_LE(h.positive().counts.size(), otb::ExpHistogram::kMaxSize);
  uint64_t total = 0;
  for (uint64_t c : h.positive().counts) total += c;
  EXPECT_EQ(total, n);
  EXPECT_EQ(h.zero_count(), 1u);
  EXPECT_EQ(h.count(), n + 2);
  EXPECT_EQ(h.negative().counts.size(), 1u);
}

TEST(ExpHistogram, MergeTakesTheLowerScale) {
  otb::ExpHistogram a, b;
  a.record(1.5);                                    // stays at scale 20
  for (double v = 1; v < 1e8; v *= 2) b.record(v);  // needs a low scale
  a.merge(b);
  EXPECT_EQ(a.scale(), b.scale());
  EXPECT_EQ(a.count(), b.count() + 1);
  uint64_t total = 0;
  for (uint64_t c : a.positive().counts) total += c;
  EXPECT_EQ(total, a.count());
}

TEST_F(MetricsFixture, ExponentialHistogramsWhenConfigured) {
  start({{"OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
          "base2_exponential_bucket_histogram"},
         {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta"}});
  auto *h = make(OTEL_INSTRUMENT_HISTOGRAM, OTEL_NUMBER_DOUBLE, "size");
  for (double v : {1.0, 2.0, 3.0, 1000.0})
    ASSERT_EQ(otb::instrument_record(h, true, 0, v, nullptr, 0), OTEL_OK);
  EXPECT_EQ(otb::instrument_record(h, true, 0, std::numeric_limits<double>::infinity(), nullptr, 0),
            OTEL_E_INVALID_ARG);
  size_t before;
  {
    std::lock_guard<std::mutex> lk(sink.mu);
    before = sink.requests.size();
  }
  ASSERT_EQ(e->flush(5000), OTEL_OK);
  std::string metric;
  {
    std::lock_guard<std::mutex> lk(sink.mu);
    for (size_t r = before; r < sink.requests.size(); r++)
      for (auto &m : log_records(sink.requests[r]))
        if (pb_one(m, 1) == "size") metric = m;
  }
  std::string eh = pb_one(metric, 10);
  ASSERT_FALSE(eh.empty()) << "exported as an ExponentialHistogram (Metric field 10)";
  auto points = pb_all(eh, 1);
  ASSERT_EQ(points.size(), 1u);
  uint64_t count = 0;
  for (auto &f : pb_fields(points[0]))
    if (f.num == 4) count = f.u;
  EXPECT_EQ(count, 4u);
  EXPECT_FALSE(pb_one(points[0], 8).empty()) << "positive buckets";
  ASSERT_EQ(e->flush(5000), OTEL_OK);  // delta: nothing new, no point
}

// ---- the fast lookup (raw attributes, no encoding) and per-thread cells ----

namespace {
otel_attr AI(const char *k, int64_t v) {
  return otel_attr{S(k), otel_value_int(v)};
}
int64_t sum_points(const std::vector<Point> &p) {
  int64_t t = 0;
  for (auto &x : p) t += x.i;
  return t;
}
}  // namespace

TEST_F(MetricsFixture, FastLookupFindsTheSeriesInAnyOrderAndMissesEverythingElse) {
  start({});
  auto *c = make(OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, "fast");
  static const char blob[] = {0, 1, 2, '\xff'};
  otel_value bytes;
  bytes.type = OTEL_VALUE_BYTES;
  bytes.u.bytes = otel_str{blob, sizeof blob};
  otel_attr set[5] = {A("http.route", "/api/todos/with/a/rather/long/route/x"),
                      AI("code", 200),
                      {S("ok"), otel_value_bool(1)},
                      {S("ratio"), otel_value_double(0.5)},
                      {S("blob"), bytes}};
  EXPECT_EQ(otb::instrument_find_fast(c, set, 5), nullptr) << "nothing recorded yet: a miss";
  ASSERT_EQ(otb::instrument_record(c, false, 1, 0, set, 5), OTEL_OK);  // exact path creates it
  otb::Series *bound = nullptr;
  ASSERT_EQ(otb::instrument_bind(c, set, 5, &bound), OTEL_OK);
  EXPECT_EQ(otb::instrument_find_fast(c, set, 5), bound) << "entered in the fast table";
  otel_attr perm[5] = {set[4], set[2], set[0], set[3], set[1]};
  EXPECT_EQ(otb::instrument_find_fast(c, perm, 5), bound) << "any order";
  otel_attr bool2[5] = {set[0], set[1], {S("ok"), otel_value_bool(7)}, set[3], set[4]};
  EXPECT_EQ(otb::instrument_find_fast(c, bool2, 5), bound) << "any non-zero bool is true";

  otel_attr other_value[5] = {set[0], AI("code", 201), set[2], set[3], set[4]};
  otel_attr other_type[5] = {set[0], A("code", "200"), set[2], set[3], set[4]};
  otel_attr other_key[5] = {set[0], AI("cod3", 200), set[2], set[3], set[4]};
  otel_attr longer_route[5] = {A("http.route", "/api/todos/with/a/rather/long/route/y"), set[1],
                               set[2], set[3], set[4]};
  EXPECT_EQ(otb::instrument_find_fast(c, other_value, 5), nullptr);
  EXPECT_EQ(otb::instrument_find_fast(c, other_type, 5), nullptr) << "int 200 is not \"200\"";
  EXPECT_EQ(otb::instrument_find_fast(c, other_key, 5), nullptr);
  EXPECT_EQ(otb::instrument_find_fast(c, longer_route, 5), nullptr) << "differs in a long string";
  EXPECT_EQ(otb::instrument_find_fast(c, set, 4), nullptr) << "a subset";
  otel_attr superset[6] = {set[0], set[1], set[2], set[3], set[4], A("extra", "x")};
  EXPECT_EQ(otb::instrument_find_fast(c, superset, 6), nullptr) << "a superset";

  for (auto *a : {perm, bool2, other_value, other_type, other_key, longer_route})
    ASSERT_EQ(otb::instrument_record(c, false, 10, 0, a, 5), OTEL_OK);
  ASSERT_EQ(otb::series_record(bound, false, 100, 0), OTEL_OK);
  auto p = collect("fast");
  ASSERT_EQ(p.size(), 5u) << "the set, and one series per other value, type, key, route";
  for (auto &pt : p) {
    ASSERT_EQ(pt.attrs.size(), 5u);
    if (pt.attrs.count("code") && pt.attrs["code"] == std::string("\x18\xc8\x01", 3) &&
        pt.attrs["http.route"].back() == 'x')
      EXPECT_EQ(pt.i, 1 + 10 + 10 + 100) << "first record, two fast hits, the bound add";
    else
      EXPECT_EQ(pt.i, 10);
  }
  otb::Series *typed = otb::instrument_find_fast(c, other_type, 5);
  EXPECT_NE(typed, nullptr) << "recorded once, found fast from then on";
  EXPECT_NE(typed, bound);
}

TEST_F(MetricsFixture, RepeatedKeysMissTheFastLookupAndLandInTheCanonicalSeries) {
  start({});
  auto *c = make(OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, "dups");
  otel_attr dup[3] = {AI("a", 1), AI("b", 5), AI("a", 2)};  // canonical: a=2 (last value), b=5
  otel_attr plain[2] = {AI("b", 5), AI("a", 2)};
  otel_attr dup_same[3] = {AI("a", 2), AI("a", 2), AI("b", 5)};
  ASSERT_EQ(otb::instrument_record(c, false, 1, 0, dup, 3), OTEL_OK);
  EXPECT_EQ(otb::instrument_find_fast(c, dup, 3), nullptr) << "a repeated key is never entered";
  EXPECT_EQ(otb::instrument_find_fast(c, plain, 2), nullptr)
      << "the series was created by a set that is not plain";
  ASSERT_EQ(otb::instrument_record(c, false, 2, 0, plain, 2), OTEL_OK);
  otb::Series *s = otb::instrument_find_fast(c, plain, 2);
  ASSERT_NE(s, nullptr) << "the exact path entered it for the plain set";
  EXPECT_EQ(otb::instrument_find_fast(c, dup_same, 3), nullptr)
      << "three attributes never match a stored two, repeated or not";
  ASSERT_EQ(otb::instrument_record(c, false, 4, 0, dup_same, 3), OTEL_OK);
  ASSERT_EQ(otb::instrument_record(c, false, 8, 0, plain, 2), OTEL_OK);
  auto p = collect("dups");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].i, 15);
  EXPECT_EQ(p[0].attrs.size(), 2u);
}

TEST_F(MetricsFixture, RepairedOrCutValuesMissTheFastLookup) {
  start({{"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "4"}, {"OTEL_ATTRIBUTE_COUNT_LIMIT", "2"}});
  auto *c = make(OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, "odd");
  otel_attr bad_utf8 = A("k", "\xff"), repaired = A("k", "\xef\xbf\xbd");  // U+FFFD
  otel_attr bad_key = A("\xc3", "v"), repaired_key = A("\xef\xbf\xbd", "v");
  otel_attr too_long = A("k", "abcdef"), cut = A("k", "abcd");
  otel_attr three[3] = {A("x", "1"), A("y", "2"), A("z", "3")}, two[2] = {A("x", "1"), A("y", "2")};
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(otb::instrument_record(c, false, 1, 0, &bad_utf8, 1), OTEL_OK);
    ASSERT_EQ(otb::instrument_record(c, false, 1, 0, &bad_key, 1), OTEL_OK);
    ASSERT_EQ(otb::instrument_record(c, false, 1, 0, &too_long, 1), OTEL_OK);
    ASSERT_EQ(otb::instrument_record(c, false, 1, 0, three, 3), OTEL_OK);
  }
  EXPECT_EQ(otb::instrument_find_fast(c, &bad_utf8, 1), nullptr) << "repaired: never entered";
  EXPECT_EQ(otb::instrument_find_fast(c, &bad_key, 1), nullptr);
  EXPECT_EQ(otb::instrument_find_fast(c, &too_long, 1), nullptr) << "cut: never entered";
  EXPECT_EQ(otb::instrument_find_fast(c, three, 3), nullptr) << "past the count limit";
  for (otel_attr *a : {&repaired, &repaired_key, &cut}) {
    ASSERT_EQ(otb::instrument_record(c, false, 10, 0, a, 1), OTEL_OK);
    EXPECT_NE(otb::instrument_find_fast(c, a, 1), nullptr) << "the plain form is entered";
    ASSERT_EQ(otb::instrument_record(c, false, 10, 0, a, 1), OTEL_OK);
  }
  ASSERT_EQ(otb::instrument_record(c, false, 10, 0, two, 2), OTEL_OK);
  EXPECT_NE(otb::instrument_find_fast(c, two, 2), nullptr)
      << "the series the cut set went to, entered by its plain form";
  EXPECT_EQ(otb::instrument_find_fast(c, three, 3), nullptr);
  auto p = collect("odd");
  ASSERT_EQ(p.size(), 4u) << "each odd set shares the series of its canonical (plain) form";
  for (auto &pt : p) EXPECT_EQ(pt.i, pt.attrs.count("x") ? 3 + 10 : 3 + 20);
}

TEST_F(MetricsFixture, FastLookupAfterAViewsKeyFilter) {
  start({{"OTELBRIDGE_METRICS_VIEWS", "instrument=req name=req.by.route keys=route|code"}});
  auto *c = make(OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, "req");
  otel_attr a[3] = {A("route", "/a"), A("user", "u1"), AI("code", 200)};
  otel_attr b[3] = {A("user", "u2"), AI("code", 200), A("route", "/a")};
  otel_attr only_user = A("user", "u3");
  for (int i = 0; i < 100; i++) {
    ASSERT_EQ(otb::instrument_record(c, false, 1, 0, a, 3), OTEL_OK);
    ASSERT_EQ(otb::instrument_record(c, false, 2, 0, b, 3), OTEL_OK);
    ASSERT_EQ(otb::instrument_record(c, false, 4, 0, &only_user, 1), OTEL_OK);
  }
  otb::Series *s = otb::instrument_find_fast(c, a, 3);
  ASSERT_NE(s, nullptr) << "the kept keys are looked up fast";
  EXPECT_EQ(otb::instrument_find_fast(c, b, 3), s) << "other dropped values, same series";
  auto p = collect("req.by.route");
  ASSERT_EQ(p.size(), 2u) << "{route, code} and the empty set";
  for (auto &pt : p) {
    if (pt.attrs.empty()) {
      EXPECT_EQ(pt.i, 400);
    } else {
      EXPECT_EQ(pt.attrs.size(), 2u);
      EXPECT_EQ(pt.attrs.count("user"), 0u);
      EXPECT_EQ(pt.i, 300);
    }
  }
}

namespace {
// Waves of short-lived threads (more in all than there are thread slots, so slots and their cells
// pass from exited threads to new ones) add to one series through a bound handle and by attributes
// while another thread collects; returns the sum of what the collections reported (delta) or the
// last cumulative value.
struct WaveResult {
  int64_t reported_i = 0;
  double reported_d = 0;
  int64_t expected_i = 0;
  double expected_d = 0;
};
WaveResult run_waves(MetricsFixture &f, bool delta) {
  auto *ci = f.make(OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, "waves.i");
  auto *cd = f.make(OTEL_INSTRUMENT_UP_DOWN_COUNTER, OTEL_NUMBER_DOUBLE, "waves.d");
  otel_attr a = A("pool", "p1");
  otb::Series *bi = nullptr, *bd = nullptr;
  EXPECT_EQ(otb::instrument_bind(ci, &a, 1, &bi), OTEL_OK);
  EXPECT_EQ(otb::instrument_bind(cd, &a, 1, &bd), OTEL_OK);
  WaveResult r;
  std::mutex mu;
  auto take = [&](const std::map<std::string, std::vector<Point>> &all) {
    std::lock_guard<std::mutex> lk(mu);
    auto it = all.find("waves.i");
    if (it != all.end())
      for (auto &p : it->second) r.reported_i = delta ? r.reported_i + p.i : p.i;
    it = all.find("waves.d");
    if (it != all.end())  // an up-down counter is cumulative under the delta preference too
      for (auto &p : it->second) r.reported_d = p.d;
  };
  std::atomic<bool> done{false};
  std::thread collector([&] {
    while (!done.load()) take(f.collect_all());
  });
  constexpr int kWaves = 40, kPerWave = 8, kAdds = 2000;
  for (int w = 0; w < kWaves; w++) {
    std::vector<std::thread> ts;
    for (int t = 0; t < kPerWave; t++)
      ts.emplace_back([&, t] {
        for (int i = 0; i < kAdds; i++) {
          otb::series_record(bi, false, 1, 0);
          otb::instrument_record(ci, false, 2, 0, &a, 1);
          otb::series_record(bd, true, 0, 0.25);
          otb::instrument_record(cd, true, 0, t % 2 ? 0.5 : -0.25, &a, 1);
        }
      });
    for (auto &th : ts) th.join();
  }
  done = true;
  collector.join();
  take(f.collect_all());
  r.expected_i = int64_t(kWaves) * kPerWave * kAdds * 3;
  r.expected_d =
      double(kWaves) * kAdds * (kPerWave * 0.25 + kPerWave / 2 * 0.5 - kPerWave / 2 * 0.25);
  return r;
}
}  // namespace

TEST_F(MetricsFixture, CellsOfExitedThreadsAreNeverLostDelta) {
  start({{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta"}});
  WaveResult r = run_waves(*this, true);
  EXPECT_EQ(r.reported_i, r.expected_i) << "the deltas add up to every add, none lost or doubled";
  EXPECT_EQ(r.reported_d, r.expected_d);
}

TEST_F(MetricsFixture, CellsOfExitedThreadsAreNeverLostCumulative) {
  start({});
  WaveResult r = run_waves(*this, false);
  EXPECT_EQ(r.reported_i, r.expected_i) << "the last cumulative value is every add";
  EXPECT_EQ(r.reported_d, r.expected_d);
}

TEST_F(MetricsFixture, MoreLiveThreadsThanSlotsShareTheSeriesExactly) {
  start({{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta"}});
  auto *c = make(OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, "crowd");
  otb::Series *b = nullptr;
  ASSERT_EQ(otb::instrument_bind(c, nullptr, 0, &b), OTEL_OK);
  constexpr int kThreads = 150;  // past the 128 thread slots: some take the shared atomic
  std::mutex mu;
  std::condition_variable cv;
  int arrived = 0;
  int64_t reported = sum_points(collect("crowd"));
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++)
    ts.emplace_back([&] {
      for (int i = 0; i < 100; i++) otb::series_record(b, false, 1, 0);
      std::unique_lock<std::mutex> lk(mu);  // every thread alive at once
      if (++arrived == kThreads) cv.notify_all();
      cv.wait(lk, [&] { return arrived == kThreads; });
      lk.unlock();
      for (int i = 0; i < 100; i++) otb::instrument_record(c, false, 1, 0, nullptr, 0);
    });
  {
    std::unique_lock<std::mutex> lk(mu);
    cv.wait(lk, [&] { return arrived == kThreads; });
  }
  reported += sum_points(collect("crowd"));  // while they run
  for (auto &th : ts) th.join();
  reported += sum_points(collect("crowd"));
  EXPECT_EQ(reported, int64_t(kThreads) * 200);
}

TEST_F(MetricsFixture, FastLookupUpToTheCardinalityLimit) {
  start({{"OTELBRIDGE_METRICS_CARDINALITY_LIMIT", "2000"}});
  auto *c = make(OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, "many");
  std::vector<std::string> routes;
  for (int i = 0; i < 2000; i++) routes.push_back("/api/v1/users/" + std::to_string(i) + "/orders");
  auto set = [&](int i, otel_attr out[2]) {
    out[0] = otel_attr{S("http.route"), otel_value_str(S(routes[i]))};
    out[1] = AI("shard", i % 7);
  };
  for (int round = 0; round < 3; round++)
    for (int i = 0; i < 2000; i++) {
      otel_attr a[2];
      set(i, a);
      ASSERT_EQ(otb::instrument_record(c, false, 1, 0, a, 2), OTEL_OK);
    }
  for (int i = 0; i < 2000; i++) {
    otel_attr a[2];
    set(i, a);
    ASSERT_NE(otb::instrument_find_fast(c, a, 2), nullptr) << i;
  }
  otel_attr past[2] = {A("http.route", "/one/more"), AI("shard", 0)};
  ASSERT_EQ(otb::instrument_record(c, false, 5, 0, past, 2), OTEL_OK);
  EXPECT_EQ(otb::instrument_find_fast(c, past, 2), nullptr)
      << "the overflow series is never entered";
  auto p = collect("many");
  ASSERT_EQ(p.size(), 2001u) << "2000 series and the overflow series";
  int64_t total = 0;
  for (auto &pt : p) {
    total += pt.i;
    if (!pt.attrs.count("otel.metric.overflow")) {
      EXPECT_EQ(pt.i, 3);
    }
  }
  EXPECT_EQ(total, 3 * 2000 + 5);
}

TEST_F(MetricsFixture, BadAttributePointersAreRejectedNotRead) {
  start({});
  auto *c = make(OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, "bad");
  otel_attr good = A("k", "v");
  ASSERT_EQ(otb::instrument_record(c, false, 1, 0, &good, 1), OTEL_OK);
  otel_attr null_key = good, huge_key = good, null_value = good;
  null_key.key = otel_str{nullptr, 1};
  huge_key.key = otel_str{"k", SIZE_MAX};
  null_value.value = otel_value_str(otel_str{nullptr, 1});
  for (otel_attr *a : {&null_key, &huge_key, &null_value}) {
    EXPECT_EQ(otb::instrument_find_fast(c, a, 1), nullptr);
    EXPECT_EQ(otb::instrument_record(c, false, 1, 0, a, 1), OTEL_E_INVALID_ARG);
  }
  auto p = collect("bad");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].i, 1);
}
