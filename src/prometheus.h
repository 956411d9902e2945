// The Prometheus pull exporter (OTEL_METRICS_EXPORTER=prometheus).
//
// PromServer: a small HTTP/1.1 server with one thread, owned by the engine: started by
// Engine::create (a bind failure fails the engine's creation), stopped and joined by shutdown and
// free. It serves GET (and HEAD) /metrics; other paths get 404, other methods 405. One connection
// at a time, "Connection: close" after each response, request heads up to 8 KiB, every read and
// write bounded by a deadline. Each scrape collects every instrument on the server thread
// (Meters::collect, serialized with any other collection; observable callbacks run there) and
// renders the result. Instruments of such an engine are always cumulative.
//
// PromText: renders our own OTLP Metric messages in the Prometheus text exposition format 0.0.4,
// following the OpenTelemetry spec's "Prometheus and OpenMetrics Compatibility" (OTLP Metric
// points to Prometheus):
//  - names: characters outside [a-zA-Z0-9_:] become '_', runs of '_' become one, a leading digit
//    gets a '_' before it; the unit is added as a suffix in words ("ms" -> _milliseconds,
//    "By" -> _bytes, "foo/s" -> _foo_per_second, "1" -> _ratio for gauges; units in {} dropped)
//    unless the name already contains it; monotonic sums are counters and end in _total;
//  - non-monotonic sums and gauges are gauges; histograms give _bucket{le=...} (cumulative, up to
//    le="+Inf"), _sum (omitted when negative values were recorded: it would not be monotonic) and
//    _count; delta sums and histograms are dropped (never produced here: always cumulative);
//  - # HELP (the description, escaped) and # TYPE once per family; two instruments that map to the
//    same family name with different types: the later one is dropped, with a warning;
//  - labels: the point's attributes (names sanitized like metric names, but [a-zA-Z_][a-zA-Z0-9_]*,
//    a leading digit gets "key_"; values escaped; non-string values as the attribute spec says,
//    arrays and maps as JSON; two attributes with the same sanitized name are joined with ';' in
//    the order of their original names), plus otel_scope_name and otel_scope_version. An
//    attribute that would take one of those names (or "le" on a histogram) is dropped;
//  - the resource is one target_info gauge (value 1) whose labels are the resource attributes
//    (service.name -> service_name ...): Prometheus adds job and instance itself at scrape time.
//    Scopes with attributes get an otel_scope_info gauge, as the spec says;
//  - numbers: integers as integers; doubles in the shortest form that reads back exactly, NaN,
//    +Inf, -Inf.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "config.h"

namespace otb {

class Meters;

enum class PromType { kCounter, kGauge, kHistogram };

// Naming and escaping rules (exposed for the unit tests).
std::string prom_double(double d);
std::string prom_metric_name(const std::string &otel_name, const std::string &unit, PromType t);
std::string prom_unit_suffix(const std::string &unit, PromType t);
std::string prom_label_name(const std::string &key);  // "" when nothing is left
void prom_escape_label_value(std::string *out, const char *p, size_t n);
void prom_escape_help(std::string *out, const char *p, size_t n);

// One scrape's exposition, built from the Metric messages of one collection.
class PromText {
 public:
  // The fields of the Resource message (KeyValue attributes, field 1): target_info.
  void set_resource(const uint8_t *p, size_t n);
  // One Metric message; `scope` is the body of its InstrumentationScope message.
  void add(const std::string &scope, const uint8_t *metric, size_t n);
  // The text: target_info, otel_scope_info, then the families in the order they were first seen.
  std::string finish();

 private:
  struct Family {
    std::string name, help;
    PromType type;
    std::string samples;
  };
  struct ScopeLabels {
    std::string labels;       // otel_scope_name="..",otel_scope_version=".."
    std::string info_labels;  // the same plus the scope's attributes ("" when it has none)
    bool used = false;
  };
  ScopeLabels &scope_labels(const std::string &scope);

  std::string target_info_;  // the labels of target_info, "" if the resource is empty
  std::vector<Family> families_;
  std::unordered_map<std::string, size_t> family_index_;
  std::unordered_map<std::string, ScopeLabels> scopes_;
  std::vector<const ScopeLabels *> scope_order_;
};

class PromServer {
 public:
  // Binds OTEL_EXPORTER_PROMETHEUS_HOST:OTEL_EXPORTER_PROMETHEUS_PORT and starts the server
  // thread. `resource`: the Resource message fields (target_info). On failure returns null and a
  // message naming host:port in *err.
  static std::unique_ptr<PromServer> start(const Settings &s, Meters *meters, std::string resource,
                                           std::string *err);
  ~PromServer();  // stop()
  // Stops serving: wakes the thread (a scrape in progress finishes its collection, its write is
  // abandoned) and joins it. Idempotent.
  void stop();
  // The bound port (the configured one, or the one the system chose for port 0).
  uint16_t port() const { return port_; }

  // The exposition of one scrape (what GET /metrics answers).
  std::string scrape();

 private:
  PromServer() = default;
  void run();
  void serve(int fd);
  bool wait_fd(int fd, short events, uint64_t deadline_mono_ns);
  bool send_all(int fd, const char *p, size_t n, uint64_t deadline_mono_ns);
  static void atfork_prepare();
  static void atfork_parent();
  static void atfork_child();

  Meters *meters_ = nullptr;
  std::string resource_;
  std::vector<int> listen_fds_;
  int wake_[2] = {-1, -1};  // a pipe: one byte asks the thread to stop
  std::atomic<int> conn_fd_{-1};
  std::thread *thread_ = nullptr;
  bool stopped_ = false;
  bool abandoned_ = false;  // a forked child: the thread does not exist here
  uint16_t port_ = 0;
};

}  // namespace otb
