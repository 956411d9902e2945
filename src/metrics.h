// Metrics: instruments, series (one per attribute set), their aggregation, and collection into
// OTLP Metric messages that flow through the generic pipeline like any other record.
//
// Record path (otel_metric_record_*): a fast lookup first — the caller's attributes hashed one by
// one (an order-independent sum of per-attribute hashes) and compared, attribute by attribute,
// with the series' stored copy in the instrument's fast table; no encoding, no sorting. On a miss
// the exact path puts the set in canonical form (sorted by key, deduplicated, encoded as
// KeyValues), hashes it and finds or creates the series in the exact table; it alone creates
// series, and enters a plain set (one the canonical form keeps as it is) in the fast table. Both
// tables are open-addressing tables read without a lock (series are never removed, and the tables
// never grow: their size comes from the cardinality limit). Only creating a series or entering it
// in the fast table takes the instrument's lock.
//
// A sum adds to the calling thread's own cell in the series (by thread slot): a relaxed load and
// store by the owner, no lock prefix; the collector reports each cell's growth since it last read
// it. A histogram keeps its values in a few cache-line "stripes"; each thread adds to its own
// stripe, and a collection exchanges each with zero. Delta and cumulative values are exact across
// collections either way.
//
// Collection (Meters::collect) builds one OTLP Metric message per instrument with data and hands
// it to a sink: the metrics pipeline for the push exporters (otlp, console, file; the worker
// collects on its schedule and on flush), or the Prometheus renderer (prometheus.h; a scrape
// collects on the server thread). Collections are serialized by one mutex whoever triggers them,
// and observable callbacks run on the collecting thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common.h"
#include "config.h"

namespace otb {

struct Scope;
class Pipeline;
class Instrument;
struct Series;

enum class Temporality { kDelta = 1, kCumulative = 2 };

// Receives each Metric message of a collection (one per instrument with data) and the scope of its
// instrument. The bytes are valid only during the call.
using MetricSink = std::function<void(const Scope *scope, const uint8_t *metric, size_t len)>;

class Meters {
 public:
  Meters(const Settings &s, Pipeline *pipe);
  ~Meters();
  int32_t create(const Scope *scope, int32_t kind, int32_t number, otel_str name, otel_str unit,
                 otel_str description, const double *bounds, size_t n_bounds, otel_observe_fn cb,
                 void *user, Instrument **out);
  // Collects every instrument and hands one Metric message per instrument with data to `sink`.
  // Serialized with every other collection; observable callbacks run on the calling thread. A
  // message above max_record_bytes is dropped (counted dropped_too_large in the metrics pipeline,
  // if there is one; a warning otherwise).
  void collect(const MetricSink &sink, size_t max_record_bytes);
  // Collects into the metrics pipeline (push exporters). The worker calls it; a no-op without a
  // pipeline (OTEL_METRICS_EXPORTER=prometheus collects on scrapes instead).
  void collect();
  // A no-op instrument (metrics disabled): records are accepted and ignored.
  static Instrument *noop();
  // fork(): prepare takes the instrument list's and every instrument's lock (short sections that
  // never wait for anything), so the child never inherits a series table mid-insert; parent and
  // child release them. A collection in progress (it may be waiting in an observable callback,
  // e.g. for Python's GIL, which the forking thread holds) cannot be waited for: the child
  // re-initializes the collection lock instead. The child's copy of that collection is simply
  // never finished; its values were the parent's.
  void atfork_prepare();
  void atfork_parent();
  void atfork_child();

 private:
  Settings s_;
  Pipeline *pipe_;
  bool cumulative_only_ = false;  // a pull exporter (prometheus) needs cumulative temporality
  std::mutex collect_mu_;         // serializes collections; guards the series' collection state
  Mutex mu_;                      // guards instruments_
  std::vector<std::unique_ptr<Instrument>> instruments_;
  uint64_t last_collect_ = 0;
};

int32_t instrument_record(Instrument *inst, bool is_double, int64_t i, double d,
                          const otel_attr *attrs, size_t n);
int32_t instrument_bind(Instrument *inst, const otel_attr *attrs, size_t n, Series **out);
int32_t series_record(Series *s, bool is_double, int64_t i, double d);
// For tests: the series the fast lookup finds for these attributes (after a view's key filter),
// or nullptr when it misses and a measurement would take the exact path.
Series *instrument_find_fast(Instrument *inst, const otel_attr *attrs, size_t n);
int32_t observer_record(otel_observer *obs, bool is_double, int64_t i, double d,
                        const otel_attr *attrs, size_t n);

}  // namespace otb
