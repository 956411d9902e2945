// The engine: configuration, resource, instrumentation scopes, one pipeline per signal, the
// exporters, and the one worker thread that batches and exports for every signal.
//
// Threads: callers run emit (encode + push) on their own threads; the worker thread (started on
// first use, and again lazily in a forked child) takes batches, frames and exports them. Nothing
// else runs in the background. See docs/architecture.md.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common.h"
#include "config.h"
#include "encode.h"
#include "exporters.h"
#include "metrics.h"
#include "pipeline.h"
#include "prometheus.h"
#include "propagation.h"
#include "resource.h"
#include "spans.h"

namespace otb {

class Engine;

struct Scope {
  static constexpr uint32_t kMagic = 0x05C09E01u;
  uint32_t magic = kMagic;
  Engine *engine = nullptr;
  uint32_t id = 0;
  std::string encoded;     // body of the InstrumentationScope message
  std::string schema_url;  // of the Scope{Logs,Spans,Metrics}
};

class Engine {
 public:
  // Creates an engine. With `exporter_override` (tests), every enabled signal exports there.
  static int32_t create(const CodeConfig *code, bool global, Engine **out, std::string *err,
                        std::unique_ptr<Exporter> (*exporter_override)(Signal) = nullptr);
  static Engine *global() { return global_.load(std::memory_order_acquire); }
  // The engine a span handle belongs to (ids are never reused), or null.
  static Engine *by_id(uint16_t id);
  // Frees the engine. False (and nothing freed) if a stuck exporter still uses it.
  static bool destroy(Engine *e);
  ~Engine();

  bool disabled() const { return settings_.disabled; }
  bool is_global() const { return is_global_; }
  bool is_shut_down() const { return shut_.load(std::memory_order_relaxed); }
  const Settings &settings() const { return settings_; }

  int32_t scope_get(otel_str name, otel_str version, otel_str schema_url, const otel_attr *attrs,
                    size_t n_attrs, Scope **out);
  int32_t emit_log(const Scope *scope, const LogRecordArgs &a);
  int32_t flush(uint32_t timeout_ms);
  int32_t shutdown(uint32_t timeout_ms);
  int32_t stats(int32_t signal, uint64_t *out, size_t n) const;
  void count_invalid(Signal s);

  // Traces: the live spans (always present unless disabled; with OTEL_TRACES_EXPORTER=none spans
  // still carry context but nothing is queued), and the configured propagators.
  SpanTable *spans() { return spans_.get(); }
  // Metrics: null when disabled or OTEL_METRICS_EXPORTER=none (instruments are then no-ops).
  Meters *meters() { return meters_.get(); }
  // The Prometheus server (OTEL_METRICS_EXPORTER=prometheus), until shutdown; null otherwise.
  PromServer *prometheus() { return prom_.get(); }
  const Propagators &propagators() const { return propagators_; }
  uint16_t id() const { return id_; }
  // Tells the worker a full batch is waiting (producers call it when push() says so).
  void wake_worker();
  // Starts the worker if it is not running (first record, or first use in a forked child).
  // False after shutdown. Cheap when it runs: one atomic load.
  bool ensure_worker(bool for_shutdown = false);
  bool worker_running() const { return worker_started_.load(std::memory_order_acquire); }

 private:
  Engine() = default;
  void worker_main();
  void drain(Pipeline &p, Exporter *exp, size_t max_records, Batch &batch, Buf &request,
             Buf &resource, std::vector<ScopeBytes> &scope_view);
  void refresh_scope_view(std::vector<ScopeBytes> &view);
  int32_t flush_until(uint64_t deadline_mono_ns);
  void make_exporters(std::string *err);

  // fork and exit
  static void atfork_prepare();
  static void atfork_parent();
  static void atfork_child();
  static void at_exit();
  void after_fork_child();

  static std::atomic<Engine *> global_;

  bool is_global_ = false;
  Settings settings_;
  CodeConfig code_;
  Resource resource_;
  AttrLimits log_limits_, scope_limits_;
  std::unique_ptr<Exporter> (*exporter_override_)(Signal) = nullptr;
  std::unique_ptr<Pipeline> pipes_[kSignalCount];
  std::unique_ptr<Exporter> exporters_[kSignalCount];
  std::unique_ptr<SpanTable> spans_;
  std::unique_ptr<Meters> meters_;
  std::unique_ptr<PromServer> prom_;  // scrapes collect meters_; stopped before it goes
  Propagators propagators_;
  uint16_t id_ = 0;

  std::mutex scopes_mu_;
  std::vector<std::unique_ptr<Scope>> scopes_;
  std::unordered_map<std::string, Scope *> scope_index_;

  std::mutex wmu_;                   // guards the fields below
  std::condition_variable wake_cv_;  // wakes the worker
  std::condition_variable done_cv_;  // flush done, worker exited
  std::thread *worker_ = nullptr;
  std::atomic<bool> worker_started_{false};
  bool wake_ = false, stop_ = false, worker_exited_ = false;
  bool exporters_stale_ = false;  // in a forked child, until the worker recreates them
  bool worker_stuck_ = false;     // shutdown timed out; the detached worker may still run
  uint64_t flush_requested_ = 0, flush_done_ = 0;
  std::atomic<bool> shut_{false};
};

}  // namespace otb
