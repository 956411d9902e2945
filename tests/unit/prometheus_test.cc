// The Prometheus exporter: naming, units, escaping and number rules of the renderer; whole
// scrapes of a real engine (histogram buckets, scopes, target_info, cumulative values, collisions);
// the HTTP server (status codes, bad and oversized requests, bind failures); serialized
// collections.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <thread>

#include "encode.h"
#include "engine.h"
#include "metrics.h"
#include "prometheus.h"
#include "test_helpers.h"

using namespace otbtest;
using otb::PromType;

namespace {

// ---- the rules, one by one -------------------------------------------------------------------

TEST(PromNames, SanitizedWithUnitAndTypeSuffixes) {
  using otb::prom_metric_name;
  EXPECT_EQ(prom_metric_name("http.server.duration", "ms", PromType::kHistogram),
            "http_server_duration_milliseconds");
  EXPECT_EQ(prom_metric_name("requests", "", PromType::kCounter), "requests_total");
  EXPECT_EQ(prom_metric_name("requests_total", "", PromType::kCounter), "requests_total")
      << "_total is not doubled";
  EXPECT_EQ(prom_metric_name("sent", "By", PromType::kCounter), "sent_bytes_total")
      << "the unit comes before the type suffix";
  EXPECT_EQ(prom_metric_name("sent_total", "By", PromType::kCounter), "sent_bytes_total");
  EXPECT_EQ(prom_metric_name("cpu.utilization", "1", PromType::kGauge), "cpu_utilization_ratio");
  EXPECT_EQ(prom_metric_name("hits", "1", PromType::kCounter), "hits_total")
      << "\"1\" is _ratio for gauges only";
  EXPECT_EQ(prom_metric_name("packets", "{packet}", PromType::kCounter), "packets_total")
      << "units in braces are dropped";
  EXPECT_EQ(prom_metric_name("rate", "{request}/s", PromType::kGauge), "rate_per_second");
  EXPECT_EQ(prom_metric_name("throughput", "By/s", PromType::kGauge),
            "throughput_bytes_per_second");
  EXPECT_EQ(prom_metric_name("speed", "m/s", PromType::kGauge), "speed_meters_per_second");
  EXPECT_EQ(prom_metric_name("latency_seconds", "s", PromType::kHistogram), "latency_seconds")
      << "a name that already contains its unit keeps it once";
  EXPECT_EQ(prom_metric_name("temp", "Cel", PromType::kGauge), "temp_celsius");
  EXPECT_EQ(prom_metric_name("load", "%", PromType::kGauge), "load_percent");
  EXPECT_EQ(prom_metric_name("items", "widgets", PromType::kGauge), "items_widgets")
      << "an unknown unit is used as it is";
  EXPECT_EQ(prom_metric_name("a-b/c.d", "", PromType::kGauge), "a_b_c_d");
  EXPECT_EQ(prom_metric_name("a..b__c", "", PromType::kGauge), "a_b_c") << "runs of '_' collapse";
  EXPECT_EQ(prom_metric_name("1st", "", PromType::kGauge), "_1st") << "no leading digit";
  EXPECT_EQ(prom_metric_name("ns:name", "", PromType::kGauge), "ns:name") << "':' is allowed";
  EXPECT_EQ(prom_metric_name("caf\xc3\xa9", "", PromType::kGauge), "caf_");
  EXPECT_EQ(prom_metric_name("x.", "s", PromType::kCounter), "x_seconds_total");
}

TEST(PromNames, UnitSuffixes) {
  using otb::prom_unit_suffix;
  const std::pair<const char *, const char *> cases[] = {{"s", "seconds"},
                                                         {"ms", "milliseconds"},
                                                         {"us", "microseconds"},
                                                         {"ns", "nanoseconds"},
                                                         {"min", "minutes"},
                                                         {"h", "hours"},
                                                         {"d", "days"},
                                                         {"By", "bytes"},
                                                         {"KiBy", "kibibytes"},
                                                         {"MBy", "megabytes"},
                                                         {"Hz", "hertz"},
                                                         {"{thing}", ""},
                                                         {"", ""},
                                                         {"1/s", "per_second"},
                                                         {"By/min", "bytes_per_minute"},
                                                         {"MiBy/h", "mebibytes_per_hour"},
                                                         {"a b", "a_b"}};
  for (auto &c : cases) EXPECT_EQ(prom_unit_suffix(c.first, PromType::kGauge), c.second) << c.first;
}

TEST(PromNames, LabelNames) {
  EXPECT_EQ(otb::prom_label_name("http.method"), "http_method");
  EXPECT_EQ(otb::prom_label_name("1x"), "key_1x");
  EXPECT_EQ(otb::prom_label_name("a..b"), "a_b");
  EXPECT_EQ(otb::prom_label_name("__x"), "_x") << "never the reserved __ prefix";
  EXPECT_EQ(otb::prom_label_name("ns:x"), "ns_x") << "':' is not allowed in label names";
  EXPECT_EQ(otb::prom_label_name(""), "");
}

TEST(PromText, EscapingAndNumbers) {
  std::string v;
  const std::string raw = "a\"b\\c\nd\xe2\x82\xac";
  otb::prom_escape_label_value(&v, raw.data(), raw.size());
  EXPECT_EQ(v, "a\\\"b\\\\c\\nd\xe2\x82\xac");
  std::string h;
  otb::prom_escape_help(&h, raw.data(), raw.size());
  EXPECT_EQ(h, "a\"b\\\\c\\nd\xe2\x82\xac") << "HELP escapes backslash and newline only";
  EXPECT_EQ(otb::prom_double(1.0), "1");
  EXPECT_EQ(otb::prom_double(0.5), "0.5");
  EXPECT_EQ(otb::prom_double(0.1), "0.1") << "shortest form that reads back exactly";
  EXPECT_EQ(otb::prom_double(-2.25), "-2.25");
  EXPECT_EQ(std::stod(otb::prom_double(1e300)), 1e300);
  EXPECT_EQ(std::stod(otb::prom_double(1.0 / 3)), 1.0 / 3);
  EXPECT_EQ(otb::prom_double(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(otb::prom_double(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(otb::prom_double(-std::numeric_limits<double>::infinity()), "-Inf");
}

// ---- hand-made Metric messages ----------------------------------------------------------------

std::string bytes_of(otb::Buf &b) {
  return std::string(reinterpret_cast<char *>(b.data()), b.size());
}

std::string scope_bytes(const char *name, const char *version) {
  otb::Buf b;
  otb::put_string(b, 1, S(name));
  otb::put_string(b, 2, S(version));
  return bytes_of(b);
}

// A Sum metric with one int point.
std::string sum_metric(const char *name, int temporality, bool monotonic, int64_t v) {
  otb::Buf b;
  otb::put_string(b, 1, S(name));
  size_t sum = otb::msg_begin(b, 7);
  size_t pt = otb::msg_begin(b, 1);
  otb::put_tag(b, 6, otb::kFixed64);
  b.append(&v, 8);
  otb::msg_end(b, pt);
  otb::put_tag(b, 2, otb::kVarint);
  otb::put_varint(b, static_cast<uint64_t>(temporality));
  otb::put_tag(b, 3, otb::kVarint);
  otb::put_varint(b, monotonic ? 1 : 0);
  otb::msg_end(b, sum);
  return bytes_of(b);
}

void add(otb::PromText &t, const std::string &scope, const std::string &metric) {
  t.add(scope, reinterpret_cast<const uint8_t *>(metric.data()), metric.size());
}

TEST(PromText, DeltaIsDroppedAndConflictingTypesKeepTheFirst) {
  otb::PromText t;
  const std::string sc = scope_bytes("s", "1");
  add(t, sc, sum_metric("d", 1, true, 5));         // delta: dropped
  add(t, sc, sum_metric("c", 2, true, 7));         // counter c_total
  add(t, sc, sum_metric("c_total", 2, false, 9));  // a gauge named c_total: dropped
  add(t, sc, sum_metric("g", 2, false, -3));       // non-monotonic sum: a gauge
  std::string out = t.finish();
  EXPECT_EQ(out,
            "# TYPE c_total counter\n"
            "c_total{otel_scope_name=\"s\",otel_scope_version=\"1\"} 7\n"
            "# TYPE g gauge\n"
            "g{otel_scope_name=\"s\",otel_scope_version=\"1\"} -3\n");
}

TEST(PromText, GarbageIsIgnored) {
  otb::PromText t;
  const std::string junk[] = {"", std::string("\xff\xff\xff", 3), std::string("\x3a\x05\x0a", 3),
                              std::string("\x0a\x01x\x3a\x02\x0a\x10", 8)};
  for (auto &j : junk) {
    add(t, j, j);
    add(t, scope_bytes("s", ""), j);
  }
  EXPECT_EQ(t.finish(), "");
}

// ---- whole scrapes of an engine ----------------------------------------------------------------

using KV = std::vector<std::pair<std::string, std::string>>;

struct PromEngine {
  otb::Engine *e = nullptr;
  std::string err;
  int32_t status = OTEL_OK;
  explicit PromEngine(const KV &kv, bool expect_ok = true) {
    otb::CodeConfig c;
    c.values["OTEL_LOGS_EXPORTER"] = "none";
    c.values["OTEL_TRACES_EXPORTER"] = "none";
    c.values["OTEL_METRICS_EXPORTER"] = "prometheus";
    c.values["OTEL_EXPORTER_PROMETHEUS_HOST"] = "127.0.0.1";
    c.values["OTEL_EXPORTER_PROMETHEUS_PORT"] = "0";
    for (auto &p : kv) {
      std::string why;
      EXPECT_EQ(otb::config_set(c, p.first, p.second, &why), OTEL_OK) << why;
    }
    status = otb::Engine::create(&c, false, &e, &err);
    if (expect_ok) {
      EXPECT_EQ(status, OTEL_OK) << err;
    }
  }
  ~PromEngine() {
    if (e) otb::Engine::destroy(e);
  }
  uint16_t port() { return e->prometheus()->port(); }
  otb::Scope *scope(const char *name, const char *version = "", const otel_attr *a = nullptr,
                    size_t n = 0) {
    otb::Scope *s = nullptr;
    EXPECT_EQ(e->scope_get(S(name), S(version), S(""), a, n, &s), OTEL_OK);
    return s;
  }
  otb::Instrument *make(otb::Scope *s, int32_t kind, int32_t number, const char *name,
                        const char *unit = "", const char *desc = "", const double *b = nullptr,
                        size_t nb = 0, otel_observe_fn cb = nullptr, void *user = nullptr) {
    otb::Instrument *i = nullptr;
    EXPECT_EQ(e->meters()->create(s, kind, number, S(name), S(unit), S(desc), b, nb, cb, user, &i),
              OTEL_OK);
    return i;
  }
  std::string scrape() { return e->prometheus()->scrape(); }
};

// The samples of an exposition: "name{labels}" -> value text.
std::map<std::string, std::string> samples(const std::string &text) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.rfind(' ');
    out[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return out;
}

size_t count_of(const std::string &text, const std::string &what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) n++;
  return n;
}

otel_attr A(const char *k, const char *v) {
  return otel_attr{S(k), otel_value_str(S(v))};
}

TEST(PromScrape, InstrumentsBecomeFamilies) {
  PromEngine en(
      {{"OTEL_SERVICE_NAME", "checkout"},
       {"OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=i-1,deployment.environment=prod"}});
  otb::Scope *s = en.scope("shop", "2.0");
  auto *c = en.make(s, OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, "orders", "{order}", "Orders");
  auto *ud = en.make(s, OTEL_INSTRUMENT_UP_DOWN_COUNTER, OTEL_NUMBER_INT, "queue.depth");
  auto *g = en.make(s, OTEL_INSTRUMENT_GAUGE, OTEL_NUMBER_DOUBLE, "temperature", "Cel");
  const double bounds[] = {0, 5, 10};
  auto *h = en.make(s, OTEL_INSTRUMENT_HISTOGRAM, OTEL_NUMBER_DOUBLE, "http.server.duration", "ms",
                    "Server time", bounds, 3);
  otel_attr paid = A("status", "paid");
  ASSERT_EQ(otb::instrument_record(c, false, 3, 0, &paid, 1), OTEL_OK);
  ASSERT_EQ(otb::instrument_record(ud, false, -4, 0, nullptr, 0), OTEL_OK);
  ASSERT_EQ(otb::instrument_record(g, true, 0, 21.5, nullptr, 0), OTEL_OK);
  for (double v : {0.0, 1.0, 5.0, 7.0, 100.0}) otb::instrument_record(h, true, 0, v, &paid, 1);

  std::string out = en.scrape();
  auto sm = samples(out);
  const std::string sl = "otel_scope_name=\"shop\",otel_scope_version=\"2.0\"";
  EXPECT_EQ(sm["orders_total{status=\"paid\"," + sl + "}"], "3") << out;
  EXPECT_EQ(sm["queue_depth{" + sl + "}"], "-4");
  EXPECT_EQ(sm["temperature_celsius{" + sl + "}"], "21.5");
  const std::string hn = "http_server_duration_milliseconds";
  EXPECT_EQ(sm[hn + "_bucket{status=\"paid\"," + sl + ",le=\"0\"}"], "1");
  EXPECT_EQ(sm[hn + "_bucket{status=\"paid\"," + sl + ",le=\"5\"}"], "3");
  EXPECT_EQ(sm[hn + "_bucket{status=\"paid\"," + sl + ",le=\"10\"}"], "4");
  EXPECT_EQ(sm[hn + "_bucket{status=\"paid\"," + sl + ",le=\"+Inf\"}"], "5");
  EXPECT_EQ(sm[hn + "_sum{status=\"paid\"," + sl + "}"], "113");
  EXPECT_EQ(sm[hn + "_count{status=\"paid\"," + sl + "}"], "5");
  EXPECT_NE(out.find("# HELP orders_total Orders\n# TYPE orders_total counter\n"),
            std::string::npos);
  EXPECT_NE(out.find("# TYPE queue_depth gauge\n"), std::string::npos);
  EXPECT_NE(out.find("# TYPE temperature_celsius gauge\n"), std::string::npos);
  EXPECT_NE(out.find("# HELP " + hn + " Server time\n# TYPE " + hn + " histogram\n"),
            std::string::npos);
  // The resource: one target_info, first.
  EXPECT_EQ(
      out.rfind("# HELP target_info Target metadata\n# TYPE target_info gauge\ntarget_info{", 0),
      0u);
  std::string ti = out.substr(0, out.find("} 1\n"));
  EXPECT_NE(ti.find("service_name=\"checkout\""), std::string::npos) << ti;
  EXPECT_NE(ti.find("service_instance_id=\"i-1\""), std::string::npos);
  EXPECT_NE(ti.find("deployment_environment=\"prod\""), std::string::npos);
  EXPECT_NE(ti.find("telemetry_sdk_name=\"otelbridge\""), std::string::npos);
  EXPECT_NE(ti.find("process_pid=\"" + std::to_string(getpid()) + "\""), std::string::npos);
  EXPECT_EQ(count_of(out, "# TYPE"), 5u);
}

TEST(PromScrape, CumulativeAcrossScrapesWhateverThePreference) {
  PromEngine en(KV{{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta"}});
  otb::Scope *s = en.scope("s");
  auto *c = en.make(s, OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_DOUBLE, "work", "s");
  auto *h = en.make(s, OTEL_INSTRUMENT_HISTOGRAM, OTEL_NUMBER_INT, "size", "By");
  otb::instrument_record(c, true, 0, 1.5, nullptr, 0);
  otb::instrument_record(h, false, 7, 0, nullptr, 0);
  const std::string sl = "{otel_scope_name=\"s\",otel_scope_version=\"\"}";
  auto first = samples(en.scrape());
  EXPECT_EQ(first["work_seconds_total" + sl], "1.5");
  EXPECT_EQ(first["size_bytes_count" + sl], "1");
  auto again = samples(en.scrape());
  EXPECT_EQ(again["work_seconds_total" + sl], "1.5") << "nothing new: the same total";
  otb::instrument_record(c, true, 0, 2.0, nullptr, 0);
  otb::instrument_record(h, false, 700, 0, nullptr, 0);
  auto third = samples(en.scrape());
  EXPECT_EQ(third["work_seconds_total" + sl], "3.5");
  EXPECT_EQ(third["size_bytes_count" + sl], "2");
  EXPECT_EQ(third["size_bytes_sum" + sl], "707");
  EXPECT_EQ(third["size_bytes_bucket{otel_scope_name=\"s\",otel_scope_version=\"\",le=\"5\"}"],
            "0");
  EXPECT_EQ(third["size_bytes_bucket{otel_scope_name=\"s\",otel_scope_version=\"\",le=\"10\"}"],
            "1")
      << "default boundaries";
  EXPECT_EQ(third["size_bytes_bucket{otel_scope_name=\"s\",otel_scope_version=\"\",le=\"1000\"}"],
            "2");
}

TEST(PromScrape, LabelsEscapedMergedAndTyped) {
  PromEngine en(KV{});
  otb::Scope *s = en.scope("s");
  auto *g = en.make(s, OTEL_INSTRUMENT_GAUGE, OTEL_NUMBER_INT, "g");
  otel_value arr_items[2] = {otel_value_str(S("x\"y")), otel_value_int(2)};
  otel_attr attrs[] = {
      A("quote", "say \"hi\""),
      A("back\\slash", "C:\\dir\\"),
      A("nl", "line1\nline2"),
      A("uni", "\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"),
      A("a.b", "first"),
      A("a_b", "second"),
      {S("count"), otel_value_int(-42)},
      {S("ok"), otel_value_bool(1)},
      {S("ratio"), otel_value_double(0.25)},
      {S("list"), otel_value{}},
      A("otel_scope_name", "spoof"),
  };
  attrs[9].value.type = OTEL_VALUE_ARRAY;
  attrs[9].value.u.array.items = arr_items;
  attrs[9].value.u.array.len = 2;
  ASSERT_EQ(otb::instrument_record(g, false, 1, 0, attrs, sizeof attrs / sizeof attrs[0]), OTEL_OK);
  std::string out = en.scrape();
  std::string line = out.substr(out.find("\ng{") + 1);
  line = line.substr(0, line.find('\n'));
  EXPECT_NE(line.find("quote=\"say \\\"hi\\\"\""), std::string::npos) << line;
  EXPECT_NE(line.find("back_slash=\"C:\\\\dir\\\\\""), std::string::npos) << line;
  EXPECT_NE(line.find("nl=\"line1\\nline2\""), std::string::npos) << line;
  EXPECT_NE(line.find("uni=\"\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\""), std::string::npos);
  EXPECT_NE(line.find("a_b=\"first;second\""), std::string::npos)
      << "a.b and a_b collide: joined in the order of the original keys; " << line;
  EXPECT_NE(line.find("count=\"-42\""), std::string::npos);
  EXPECT_NE(line.find("ok=\"true\""), std::string::npos);
  EXPECT_NE(line.find("ratio=\"0.25\""), std::string::npos);
  EXPECT_NE(line.find("list=\"[\\\"x\\\\\\\"y\\\",2]\""), std::string::npos)
      << "arrays as JSON, then escaped; " << line;
  EXPECT_EQ(count_of(line, "otel_scope_name="), 1u) << line;
  EXPECT_NE(line.find("otel_scope_name=\"s\""), std::string::npos);
}

TEST(PromScrape, OneFamilyAcrossScopesAndScopeInfo) {
  PromEngine en(KV{});
  otel_attr sa = A("team", "core");
  otb::Scope *s1 = en.scope("lib.a", "1", &sa, 1);
  otb::Scope *s2 = en.scope("lib.b");
  auto *c1 = en.make(s1, OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, "calls", "", "Calls (a)");
  auto *c2 = en.make(s2, OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, "calls", "", "Calls (b)");
  auto *clash = en.make(s2, OTEL_INSTRUMENT_GAUGE, OTEL_NUMBER_INT, "calls_total");
  otb::instrument_record(c1, false, 1, 0, nullptr, 0);
  otb::instrument_record(c2, false, 2, 0, nullptr, 0);
  otb::instrument_record(clash, false, 3, 0, nullptr, 0);
  std::string out = en.scrape();
  EXPECT_EQ(count_of(out, "# TYPE calls_total"), 1u) << out;
  EXPECT_EQ(count_of(out, "# HELP calls_total"), 1u);
  EXPECT_NE(out.find("# HELP calls_total Calls (a)\n"), std::string::npos);
  auto sm = samples(out);
  EXPECT_EQ(sm["calls_total{otel_scope_name=\"lib.a\",otel_scope_version=\"1\"}"], "1");
  EXPECT_EQ(sm["calls_total{otel_scope_name=\"lib.b\",otel_scope_version=\"\"}"], "2");
  EXPECT_EQ(out.find(" 3\n"), std::string::npos) << "the gauge that clashes is dropped";
  EXPECT_NE(out.find("otel_scope_info{otel_scope_name=\"lib.a\",otel_scope_version=\"1\","
                     "team=\"core\"} 1\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(count_of(out, "otel_scope_info{"), 1u) << "only scopes with attributes";
}

TEST(PromScrape, HistogramWithNegativeValuesHasNoSum) {
  PromEngine en(KV{});
  auto *h = en.make(en.scope("s"), OTEL_INSTRUMENT_HISTOGRAM, OTEL_NUMBER_DOUBLE, "delta_t");
  otb::instrument_record(h, true, 0, -1.0, nullptr, 0);
  otb::instrument_record(h, true, 0, 3.0, nullptr, 0);
  std::string out = en.scrape();
  EXPECT_EQ(out.find("delta_t_sum"), std::string::npos) << out;
  EXPECT_NE(out.find("delta_t_count{otel_scope_name=\"s\",otel_scope_version=\"\"} 2\n"),
            std::string::npos);
}

// Observable callbacks run inside collections, which never overlap.
std::atomic<int> g_inside{0}, g_overlaps{0}, g_calls{0};
void slow_observer(otel_observer *o, void *) {
  if (g_inside.fetch_add(1) != 0) g_overlaps++;
  g_calls++;
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  otb::observer_record(o, false, 42, 0, nullptr, 0);
  g_inside.fetch_sub(1);
}

TEST(PromScrape, CollectionsAreSerialized) {
  PromEngine en(KV{});
  en.make(en.scope("s"), OTEL_INSTRUMENT_OBSERVABLE_GAUGE, OTEL_NUMBER_INT, "observed", "", "",
          nullptr, 0, &slow_observer);
  auto *c = en.make(en.scope("s"), OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, "ticks");
  std::atomic<bool> stop{false};
  std::thread recorder([&] {
    while (!stop) otb::instrument_record(c, false, 1, 0, nullptr, 0);
  });
  std::vector<std::thread> scrapers;
  for (int t = 0; t < 3; t++)
    scrapers.emplace_back([&] {
      int64_t last = 0;
      for (int i = 0; i < 10; i++) {
        auto sm = samples(en.scrape());
        EXPECT_EQ(sm["observed{otel_scope_name=\"s\",otel_scope_version=\"\"}"], "42");
        std::string v = sm["ticks_total{otel_scope_name=\"s\",otel_scope_version=\"\"}"];
        int64_t now = v.empty() ? 0 : std::stoll(v);
        EXPECT_GE(now, last) << "a counter never goes back";
        last = now;
      }
    });
  for (auto &t : scrapers) t.join();
  stop = true;
  recorder.join();
  EXPECT_EQ(g_overlaps.load(), 0);
  EXPECT_EQ(g_calls.load(), 30);
}

// ---- the HTTP server ---------------------------------------------------------------------------

// A connection to 127.0.0.1:port, or -1.
int connect_to(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends `request` (then half-closes if asked) and returns everything the server answered.
std::string http(uint16_t port, const std::string &request, bool half_close = false) {
  int fd = connect_to(port);
  if (fd < 0) return "connect failed";
  timeval tv{15, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  size_t off = 0;
  while (off < request.size()) {
    ssize_t k = send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (k <= 0) break;
    off += static_cast<size_t>(k);
  }
  if (half_close) shutdown(fd, SHUT_WR);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t k = recv(fd, buf, sizeof buf, 0);
    if (k <= 0) break;
    out.append(buf, static_cast<size_t>(k));
  }
  close(fd);
  return out;
}

std::string status_line(const std::string &response) {
  return response.substr(0, response.find("\r\n"));
}

TEST(PromServer, ServesMetricsAndRefusesTheRest) {
  PromEngine en(KV{});
  auto *c = en.make(en.scope("s"), OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, "hits");
  otb::instrument_record(c, false, 2, 0, nullptr, 0);
  std::string r = http(en.port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_line(r), "HTTP/1.1 200 OK") << r;
  EXPECT_NE(r.find("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            std::string::npos);
  std::string body = r.substr(r.find("\r\n\r\n") + 4);
  EXPECT_NE(r.find("\r\nContent-Length: " + std::to_string(body.size()) + "\r\n"),
            std::string::npos);
  EXPECT_NE(body.find("hits_total{otel_scope_name=\"s\",otel_scope_version=\"\"} 2\n"),
            std::string::npos)
      << body;

  std::string head = http(en.port(), "HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(status_line(head), "HTTP/1.1 200 OK");
  EXPECT_EQ(head.substr(head.find("\r\n\r\n") + 4), "") << "HEAD: no body";

  EXPECT_EQ(status_line(http(en.port(), "GET /metrics?x=1 HTTP/1.0\n\n")), "HTTP/1.1 200 OK")
      << "a query string and bare LF line ends are fine";
  EXPECT_EQ(status_line(http(en.port(), "GET / HTTP/1.1\r\n\r\n")), "HTTP/1.1 404 Not Found");
  EXPECT_EQ(status_line(http(en.port(), "GET /metricsx HTTP/1.1\r\n\r\n")),
            "HTTP/1.1 404 Not Found");
  std::string post = http(en.port(), "POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(status_line(post), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_NE(post.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos);
  EXPECT_EQ(status_line(http(en.port(), "DELETE /metrics HTTP/1.1\r\n\r\n")),
            "HTTP/1.1 405 Method Not Allowed");
}

TEST(PromServer, SurvivesGarbage) {
  PromEngine en(KV{});
  const uint16_t port = en.port();
  EXPECT_EQ(status_line(http(port, "hello\r\n\r\n")), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_line(http(port, " /metrics HTTP/1.1\r\n\r\n")), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_line(http(port, "GET  HTTP/1.1\r\n\r\n")), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_line(http(port, "GET /metrics FTP/1.0\r\n\r\n")), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_line(http(port, std::string("\0\x01\x02\xff\r\n\r\n", 8))),
            "HTTP/1.1 400 Bad Request");
  std::string huge = "GET /metrics HTTP/1.1\r\nX: " + std::string(20000, 'a') + "\r\n\r\n";
  EXPECT_EQ(status_line(http(port, huge)), "HTTP/1.1 431 Request Header Fields Too Large");
  EXPECT_EQ(http(port, "GET /metr", true), "") << "an incomplete request: closed, no answer";
  EXPECT_EQ(http(port, "", true), "");
  // Random bytes, many times: the server answers or closes, and still serves afterwards.
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < 50; i++) {
    std::string junk;
    for (int k = 0; k < 200; k++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      junk.push_back(static_cast<char>(x));
    }
    if (i % 2) junk += "\r\n\r\n";
    http(port, junk, true);
  }
  EXPECT_EQ(status_line(http(port, "GET /metrics HTTP/1.1\r\n\r\n")), "HTTP/1.1 200 OK");
}

TEST(PromServer, BindFailureFailsTheEngineAndNamesTheAddress) {
  PromEngine first(KV{});
  const std::string port = std::to_string(first.port());
  PromEngine second(KV{{"OTEL_EXPORTER_PROMETHEUS_PORT", port}}, false);
  EXPECT_EQ(second.status, OTEL_E_INVALID_CONFIG);
  EXPECT_EQ(second.e, nullptr);
  EXPECT_NE(second.err.find("127.0.0.1:" + port), std::string::npos) << second.err;
  EXPECT_NE(second.err.find("Address already in use"), std::string::npos) << second.err;

  PromEngine bad_port(KV{{"OTEL_EXPORTER_PROMETHEUS_PORT", "70000"}}, false);
  EXPECT_EQ(bad_port.status, OTEL_E_INVALID_CONFIG);
  EXPECT_NE(bad_port.err.find("OTEL_EXPORTER_PROMETHEUS_PORT=70000"), std::string::npos)
      << bad_port.err;
  // An address of no interface here (TEST-NET-1): no DNS involved, bind fails.
  PromEngine not_mine(KV{{"OTEL_EXPORTER_PROMETHEUS_HOST", "192.0.2.1"}}, false);
  EXPECT_EQ(not_mine.status, OTEL_E_INVALID_CONFIG);
  EXPECT_NE(not_mine.err.find("cannot listen on 192.0.2.1:0: "), std::string::npos) << not_mine.err;
}

TEST(PromServer, ShutdownStopsServingAndFreesThePort) {
  uint16_t port;
  {
    PromEngine en(KV{});
    port = en.port();
    EXPECT_EQ(status_line(http(port, "GET /metrics HTTP/1.1\r\n\r\n")), "HTTP/1.1 200 OK");
    EXPECT_EQ(en.e->shutdown(1000), OTEL_OK);
    EXPECT_EQ(http(port, "GET /metrics HTTP/1.1\r\n\r\n"), "connect failed");
  }
  PromEngine again(KV{{"OTEL_EXPORTER_PROMETHEUS_PORT", std::to_string(port)}});
  EXPECT_EQ(again.port(), port) << "the port is free again after shutdown";
}

TEST(PromServer, ShutdownDoesNotWaitForAStalledClient) {
  PromEngine en(KV{});
  int fd = connect_to(en.port());
  ASSERT_GE(fd, 0);
  ASSERT_EQ(send(fd, "GET /met", 8, MSG_NOSIGNAL), 8);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the server now waits for more
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(en.e->shutdown(5000), OTEL_OK);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  char c;
  EXPECT_EQ(recv(fd, &c, 1, 0), 0) << "closed without an answer";
  close(fd);
}

TEST(PromServer, OtherExportersHaveNoServer) {
  otb::CodeConfig c;
  c.values["OTEL_LOGS_EXPORTER"] = "none";
  c.values["OTEL_TRACES_EXPORTER"] = "none";
  c.values["OTEL_METRICS_EXPORTER"] = "console";
  otb::Engine *e = nullptr;
  std::string err;
  ASSERT_EQ(otb::Engine::create(&c, false, &e, &err), OTEL_OK) << err;
  EXPECT_EQ(e->prometheus(), nullptr);
  otb::Engine::destroy(e);
}

}  // namespace
