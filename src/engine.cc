#include "engine.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <new>

#include "diag.h"
#include "utf8.h"

namespace otb {

std::atomic<Engine *> Engine::global_{nullptr};

namespace {

constexpr size_t kMaxScopes = 4096;
constexpr size_t kScratchKeep = 1u << 20;  // a thread's encode buffer is freed above this

// Every live engine, for fork and exit handling. Leaked on purpose: it must outlive static
// destruction, which may run while a detached worker still exists.
std::mutex &engines_mu() {
  static std::mutex *m = new std::mutex;
  return *m;
}
std::vector<Engine *> &engines() {
  static std::vector<Engine *> *v = new std::vector<Engine *>;
  return *v;
}

// Engine ids for span handles: 1..65535, never reused, so a handle from a freed engine finds
// nothing rather than another engine's span.
std::atomic<Engine *> *engine_ids() {
  static std::atomic<Engine *> *ids = new std::atomic<Engine *>[65536]();
  return ids;
}
uint32_t g_next_engine_id = 1;  // guarded by engines_mu()

uint64_t deadline_after(uint32_t timeout_ms) {
  return timeout_ms == 0 ? UINT64_MAX : mono_nano() + uint64_t{timeout_ms} * 1000000u;
}

template <class Pred>
bool wait_until_mono(std::condition_variable &cv, std::unique_lock<std::mutex> &lk,
                     uint64_t deadline, Pred pred) {
  if (deadline == UINT64_MAX) {
    cv.wait(lk, pred);
    return true;
  }
  while (!pred()) {
    uint64_t now = mono_nano();
    if (now >= deadline) return pred();
    cv.wait_for(lk, std::chrono::nanoseconds(deadline - now));
  }
  return true;
}

}  // namespace

const char *signal_name(Signal s) {
  switch (s) {
    case Signal::kLogs:
      return "logs";
    case Signal::kTraces:
      return "traces";
    case Signal::kMetrics:
      return "metrics";
  }
  return "?";
}

uint64_t now_unix_nano() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

uint64_t mono_nano() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

bool Buf::grow(size_t extra) {
  if (overflow_) return false;
  if (extra > limit_ || n_ > limit_ - extra) {
    overflow_ = true;
    return false;
  }
  size_t want = n_ + extra;
  size_t cap = cap_ ? cap_ : 256;
  while (cap < want) cap = cap > SIZE_MAX / 2 ? want : cap * 2;
  if (cap > limit_ && limit_ >= want) cap = limit_;
  void *p = std::realloc(p_, cap);
  if (!p) {
    overflow_ = true;
    return false;
  }
  p_ = static_cast<uint8_t *>(p);
  cap_ = cap;
  return true;
}

int32_t Engine::create(const CodeConfig *code, bool global, Engine **out, std::string *err,
                       std::unique_ptr<Exporter> (*exporter_override)(Signal)) {
  if (global && global_.load(std::memory_order_acquire)) {
    // Checked again below; asked first so a second otel_init() does not try the Prometheus port.
    *err = "otel_init() was already called";
    return OTEL_E_ALREADY_INITIALIZED;
  }
  std::unique_ptr<Engine> e(new Engine);
  e->is_global_ = global;
  e->exporter_override_ = exporter_override;
  if (code) e->code_ = *code;
  e->settings_ = resolve_settings(code, nullptr);
  diag_set_level(e->settings_.log_level);
  if (!e->settings_.disabled) {
    e->resource_.build(e->settings_, &e->code_);
    e->log_limits_.count = e->settings_.log_attr_count_limit;
    e->log_limits_.value_chars = e->settings_.log_attr_value_chars;
    e->scope_limits_.count = e->settings_.attr_count_limit;
    e->scope_limits_.value_chars = e->settings_.attr_value_chars;
    if (e->settings_.logs.exporter != "none")
      e->pipes_[OTEL_SIGNAL_LOGS] = std::make_unique<Pipeline>(Signal::kLogs, e->settings_.logs);
    if (e->settings_.traces.exporter != "none")
      e->pipes_[OTEL_SIGNAL_TRACES] =
          std::make_unique<Pipeline>(Signal::kTraces, e->settings_.traces);
    if (e->settings_.metrics.exporter == "prometheus") {
      // A pull exporter: no metrics pipeline; each scrape collects on the server's thread.
      e->meters_ = std::make_unique<Meters>(e->settings_, nullptr);
    } else if (e->settings_.metrics.exporter != "none") {
      e->pipes_[OTEL_SIGNAL_METRICS] =
          std::make_unique<Pipeline>(Signal::kMetrics, e->settings_.metrics);
      e->meters_ = std::make_unique<Meters>(e->settings_, e->pipes_[OTEL_SIGNAL_METRICS].get());
    }
    e->propagators_ = parse_propagators(e->settings_.propagators);
    std::string why;
    e->make_exporters(&why);
    if (!why.empty()) {
      *err = why;
      return OTEL_E_INVALID_CONFIG;
    }
    if (e->settings_.metrics.exporter == "prometheus") {
      Buf resource;
      e->resource_.encode(resource, static_cast<int>(getpid()));
      e->prom_ = PromServer::start(
          e->settings_, e->meters_.get(),
          std::string(reinterpret_cast<const char *>(resource.data()), resource.size()), &why);
      if (!e->prom_) {
        *err = why;
        return OTEL_E_INVALID_CONFIG;
      }
    }
  }
  Engine *raw = e.release();
  {
    std::lock_guard<std::mutex> lk(engines_mu());
    static bool hooks = false;
    if (!hooks) {
      hooks = true;
      pthread_atfork(&Engine::atfork_prepare, &Engine::atfork_parent, &Engine::atfork_child);
      std::atexit(&Engine::at_exit);
    }
    if (global) {
      Engine *expected = nullptr;
      if (!global_.compare_exchange_strong(expected, raw)) {
        delete raw;
        *err = "otel_init() was already called";
        return OTEL_E_ALREADY_INITIALIZED;
      }
    }
    if (g_next_engine_id <= 0xFFFF) {
      raw->id_ = static_cast<uint16_t>(g_next_engine_id++);
      engine_ids()[raw->id_].store(raw, std::memory_order_release);
    } else {
      diag(OTEL_DIAG_WARN,
           "more than 65535 engines in this process: spans are disabled in new ones");
    }
    if (!raw->settings_.disabled && raw->id_)
      raw->spans_ = std::make_unique<SpanTable>(raw->settings_,
                                                raw->pipes_[OTEL_SIGNAL_TRACES].get(), raw->id_);
    engines().push_back(raw);
  }
  *out = raw;
  return OTEL_OK;
}

void Engine::make_exporters(std::string *err) {
  for (int i = 0; i < kSignalCount; i++) {
    if (!pipes_[i]) continue;
    Signal s = static_cast<Signal>(i);
    if (exporter_override_) {
      exporters_[i] = exporter_override_(s);
    } else {
      std::string why;
      exporters_[i] = make_exporter(s, pipes_[i]->settings().exporter, settings_, &why);
      if (!why.empty() && err->empty()) *err = why;
    }
  }
}

bool Engine::destroy(Engine *e) {
  if (!e->is_shut_down()) e->shutdown(e->settings_.logs.export_timeout_ms);
  {
    // A worker left behind by a timed-out shutdown had its exporter cancelled; give it the
    // export timeout to return before the memory it uses goes away.
    std::unique_lock<std::mutex> lk(e->wmu_);
    if (e->worker_stuck_ &&
        !wait_until_mono(e->done_cv_, lk, deadline_after(e->settings_.logs.export_timeout_ms),
                         [&] { return e->worker_exited_; })) {
      diag(OTEL_DIAG_WARN, "engine not freed: its exporter did not return after cancel");
      return false;
    }
  }
  {
    std::lock_guard<std::mutex> lk(engines_mu());
    auto &v = engines();
    v.erase(std::remove(v.begin(), v.end(), e), v.end());
    if (e->id_) engine_ids()[e->id_].store(nullptr, std::memory_order_release);
  }
  delete e;
  return true;
}

Engine::~Engine() {
  // First: the Prometheus server's thread uses meters_. This stops and joins it.
  prom_.reset();
  for (auto &s : scopes_) s->magic = 0;  // a stale scope pointer fails the magic check, mostly
  delete worker_;
}

int32_t Engine::scope_get(otel_str name, otel_str version, otel_str schema_url,
                          const otel_attr *attrs, size_t n_attrs, Scope **out) {
  Buf enc;
  put_string(enc, 1, name);
  if (version.len) put_string(enc, 2, version);
  uint32_t dropped = 0;
  int32_t st = put_attributes(enc, 3, attrs, n_attrs, scope_limits_, &dropped);
  if (st != OTEL_OK) return st;
  if (dropped) {
    put_tag(enc, 4, kVarint);
    put_varint(enc, dropped);
  }
  std::string encoded(reinterpret_cast<const char *>(enc.data()), enc.size());
  std::string schema = utf8_repaired(schema_url);
  std::string key = encoded;
  key.push_back('\0');
  key += schema;
  std::lock_guard<std::mutex> lk(scopes_mu_);
  auto it = scope_index_.find(key);
  if (it != scope_index_.end()) {
    *out = it->second;
    return OTEL_OK;
  }
  if (scopes_.size() >= kMaxScopes) {
    diag(OTEL_DIAG_WARN, "too many instrumentation scopes (limit %zu)", kMaxScopes);
    return OTEL_E_INVALID_ARG;
  }
  auto s = std::make_unique<Scope>();
  s->engine = this;
  s->id = static_cast<uint32_t>(scopes_.size());
  s->encoded = std::move(encoded);
  s->schema_url = std::move(schema);
  *out = s.get();
  scope_index_.emplace(std::move(key), s.get());
  scopes_.push_back(std::move(s));
  return OTEL_OK;
}

Engine *Engine::by_id(uint16_t id) {
  return id ? engine_ids()[id].load(std::memory_order_acquire) : nullptr;
}

void Engine::wake_worker() {
  std::lock_guard<std::mutex> lk(wmu_);
  wake_ = true;
  wake_cv_.notify_one();
}

void Engine::count_invalid(Signal s) {
  if (Pipeline *p = pipes_[static_cast<int>(s)].get()) p->count(OTEL_STAT_INVALID);
}

int32_t Engine::emit_log(const Scope *scope, const LogRecordArgs &args) {
  Pipeline *p = pipes_[OTEL_SIGNAL_LOGS].get();
  if (!p) return OTEL_OK;  // disabled, or OTEL_LOGS_EXPORTER=none
  if (OTB_UNLIKELY(shut_.load(std::memory_order_relaxed))) {
    p->count(OTEL_STAT_DROPPED_SHUTDOWN);
    return OTEL_E_SHUTDOWN;
  }
  if (OTB_UNLIKELY(!worker_started_.load(std::memory_order_acquire))) ensure_worker();
  // The thread's encode buffer, found through a plain thread-local pointer: one TLS lookup per
  // record and no guard check. The first emit on a thread allocates it; `owner` frees it when
  // the thread ends (and clears the pointer, so an emit from a later thread-exit destructor
  // allocates afresh rather than touching freed memory).
  static thread_local Buf *scratch_ptr = nullptr;
  Buf *scratch = scratch_ptr;
  if (OTB_UNLIKELY(!scratch)) {
    struct Owner {
      Buf *buf = nullptr;
      ~Owner() {
        delete buf;
        scratch_ptr = nullptr;
      }
    };
    static thread_local Owner owner;
    owner.buf = scratch = scratch_ptr = new Buf;
  }
  scratch->clear();
  scratch->set_limit(p->max_record_bytes());
  // Times of 0 mean "now"; the encoder fills them in, so the arguments are not copied.
  uint64_t now = args.time_unix_nano && args.observed_unix_nano ? 0 : now_unix_nano();
  int32_t st = encode_log_record(*scratch, args, log_limits_, now);
  if (OTB_LIKELY(st == OTEL_OK)) {
    bool wake = false;
    st = p->push(scope->id, scratch->data(), scratch->size(), &wake);
    if (wake) {
      std::lock_guard<std::mutex> lk(wmu_);
      wake_ = true;
      wake_cv_.notify_one();
    }
  } else {
    p->count(st == OTEL_E_TOO_LARGE ? OTEL_STAT_DROPPED_TOO_LARGE : OTEL_STAT_INVALID);
  }
  scratch->shrink_if_above(kScratchKeep);
  return st;
}

bool Engine::ensure_worker(bool for_shutdown) {
  if (worker_started_.load(std::memory_order_acquire)) return true;
  std::lock_guard<std::mutex> lk(wmu_);
  if (worker_started_.load(std::memory_order_relaxed)) return true;
  if ((shut_.load(std::memory_order_relaxed) && !for_shutdown) || settings_.disabled) return false;
  if (exporters_stale_) {  // a forked child: fresh exporters, the parent's were abandoned
    std::string why;
    make_exporters(&why);
    if (!why.empty()) diag(OTEL_DIAG_ERROR, "after fork: %s", why.c_str());
    exporters_stale_ = false;
  }
  stop_ = worker_exited_ = wake_ = false;
  // The worker blocks every signal (it inherits the mask at creation): the host's handlers run
  // on its own threads, and a write to a closed pipe fails with EPIPE instead of SIGPIPE.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    worker_ = new std::thread(&Engine::worker_main, this);
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    diag(OTEL_DIAG_ERROR, "could not start the export thread; records stay queued");
    return false;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  worker_started_.store(true, std::memory_order_release);
  return true;
}

void Engine::refresh_scope_view(std::vector<ScopeBytes> &view) {
  std::lock_guard<std::mutex> lk(scopes_mu_);
  for (size_t i = view.size(); i < scopes_.size(); i++)
    view.push_back(ScopeBytes{&scopes_[i]->encoded, &scopes_[i]->schema_url});
}

void Engine::drain(Pipeline &p, Exporter *exp, size_t max_records, Batch &batch, Buf &request,
                   Buf &resource, std::vector<ScopeBytes> &scope_view) {
  const size_t batch_size = p.settings().max_export_batch_size;
  while (max_records > 0) {
    batch.clear();
    size_t n = p.take(batch, std::min(batch_size, max_records));
    if (n == 0) return;
    max_records -= n;
    refresh_scope_view(scope_view);
    sort_by_scope(batch);
    for (size_t first = 0; first < batch.entries.size();) {
      size_t last = request_prefix(batch, first, resource.size(), scope_view);
      size_t items = last - first;
      ExportResult r;
      if (exp) {
        frame_request(request, resource, batch, first, last, scope_view);
        uint64_t deadline = mono_nano() + uint64_t{p.settings().export_timeout_ms} * 1000000u;
        r = exp->export_request(p.signal(), request.data(), request.size(), items, deadline);
      }
      p.count(OTEL_STAT_EXPORT_BATCHES);
      if (r.ok) {
        uint64_t rej = std::min<uint64_t>(r.rejected, items);
        p.count(OTEL_STAT_EXPORTED, items - rej);
        p.count(OTEL_STAT_REJECTED, rej);
      } else {
        p.count(OTEL_STAT_FAILED, items);
      }
      p.uncount(OTEL_STAT_IN_FLIGHT, items);
      first = last;
    }
    request.shrink_if_above(4u << 20);
  }
}

void Engine::worker_main() {
  Batch batch;
  Buf request, resource;
  std::vector<ScopeBytes> scope_view;
  resource_.encode(resource, static_cast<int>(getpid()));
  uint64_t last_export[kSignalCount];
  for (auto &t : last_export) t = mono_nano();

  std::unique_lock<std::mutex> lk(wmu_);
  for (;;) {
    uint64_t deadline = UINT64_MAX;
    for (int i = 0; i < kSignalCount; i++)
      if (pipes_[i])
        deadline =
            std::min(deadline,
                     last_export[i] + uint64_t{pipes_[i]->settings().schedule_delay_ms} * 1000000u);
    auto ready = [&] {
      if (stop_ || wake_ || flush_requested_ != flush_done_) return true;
      for (int i = 0; i < kSignalCount; i++)
        if (pipes_[i] && pipes_[i]->queued() >= pipes_[i]->settings().max_export_batch_size)
          return true;
      return false;
    };
    wait_until_mono(wake_cv_, lk, deadline, ready);
    wake_ = false;
    const bool stopping = stop_;
    const uint64_t flush_target = flush_requested_;
    const bool flushing = flush_target != flush_done_;
    lk.unlock();

    uint64_t now = mono_nano();
    for (int i = 0; i < kSignalCount; i++) {
      Pipeline *p = pipes_[i].get();
      if (!p) continue;
      const size_t bs = p->settings().max_export_batch_size;
      const bool timer =
          now >= last_export[i] + uint64_t{p->settings().schedule_delay_ms} * 1000000u;
      const bool due = stopping || flushing || timer;
      // Full batches always; the partial rest only when the timer is due or a flush asks for it
      // (never a stream of tiny batches while the exporter is slow). Bounded by what is queued
      // now, so a flush finishes even while producers keep going.
      // Metrics are collected (observable callbacks run here) when their interval is due.
      // (Not for the stop round: shutdown flushes first, and that flush collected.)
      if ((timer || flushing) && i == OTEL_SIGNAL_METRICS && meters_) meters_->collect();
      size_t queued = p->queued();
      size_t take = due ? queued : queued - queued % bs;
      drain(*p, exporters_[i].get(), take, batch, request, resource, scope_view);
      if (due) last_export[i] = mono_nano();
    }

    lk.lock();
    if (flushing) {
      flush_done_ = flush_target;
      done_cv_.notify_all();
    }
    if (stopping) break;
  }
  worker_exited_ = true;
  done_cv_.notify_all();
}

int32_t Engine::flush_until(uint64_t deadline) {
  if (!worker_started_.load(std::memory_order_acquire) && !ensure_worker(shut_.load()))
    return OTEL_E_INTERNAL;
  std::unique_lock<std::mutex> lk(wmu_);
  uint64_t target = ++flush_requested_;
  wake_cv_.notify_one();
  bool ok = wait_until_mono(done_cv_, lk, deadline,
                            [&] { return flush_done_ >= target || worker_exited_; });
  return ok ? OTEL_OK : OTEL_E_TIMEOUT;
}

int32_t Engine::flush(uint32_t timeout_ms) {
  if (settings_.disabled) return OTEL_OK;
  if (shut_.load(std::memory_order_relaxed)) return OTEL_E_SHUTDOWN;
  return flush_until(deadline_after(timeout_ms));
}

int32_t Engine::shutdown(uint32_t timeout_ms) {
  if (shut_.exchange(true)) return OTEL_E_SHUTDOWN;
  if (settings_.disabled) return OTEL_OK;
  // The Prometheus server stops serving (a scrape in progress finishes its collection); the
  // object stays until the engine is freed, since a stuck worker may keep the engine alive.
  if (prom_) prom_->stop();
  const uint64_t deadline = deadline_after(timeout_ms);
  int32_t st = OTEL_OK;
  bool started;
  {
    // ensure_worker() checks shut_ under this lock: from here on no worker can start but ours.
    std::lock_guard<std::mutex> lk(wmu_);
    started = worker_started_.load(std::memory_order_acquire);
  }
  if (!started) {  // records queued without a worker (e.g. only spans so far): export them too
    bool queued = false;
    for (auto &p : pipes_) queued |= p && p->queued() > 0;
    if (queued) started = ensure_worker(true);
  }
  if (started) {
    st = flush_until(deadline);
    std::unique_lock<std::mutex> lk(wmu_);
    stop_ = true;
    wake_cv_.notify_one();
    if (st == OTEL_OK)
      st = wait_until_mono(done_cv_, lk, deadline, [&] { return worker_exited_; }) ? OTEL_OK
                                                                                   : OTEL_E_TIMEOUT;
    if (worker_exited_) {
      lk.unlock();
      worker_->join();
      lk.lock();
      delete worker_;
      worker_ = nullptr;
    } else {
      // The exporter did not return in time: unblock it if it can be, and leave the thread.
      for (auto &e : exporters_)
        if (e) e->cancel();
      worker_->detach();
      worker_stuck_ = true;
      diag(OTEL_DIAG_WARN, "shutdown timed out after %u ms; queued records are dropped",
           timeout_ms);
    }
  }
  for (auto &p : pipes_)
    if (p) p->close();
  // Nothing exports any more: close connections and files now, unless a stuck worker still uses
  // them. The global engine is never freed, so its destructor would be too late.
  std::lock_guard<std::mutex> lk(wmu_);
  if (!worker_stuck_)
    for (auto &e : exporters_) e.reset();
  return st;
}

int32_t Engine::stats(int32_t signal, uint64_t *out, size_t n) const {
  if (signal < 0 || signal >= kSignalCount) return OTEL_E_INVALID_ARG;
  const Pipeline *p = pipes_[signal].get();
  if (!p) {
    std::fill(out, out + n, 0);
    return OTEL_OK;
  }
  p->read_stats(out, n);
  return OTEL_OK;
}

// ---- fork: the child gets an empty queue and, lazily, a fresh worker and exporters; the
// parent keeps and exports what it had queued. Locks are taken around fork() so the child never
// inherits a queue or scope table in the middle of an update.
void Engine::atfork_prepare() {
  engines_mu().lock();
  for (Engine *e : engines()) {
    e->scopes_mu_.lock();
    e->wmu_.lock();
    if (e->spans_) e->spans_->mutex().lock();
    for (auto &p : e->pipes_)
      if (p) p->mutex().lock();
    if (e->meters_) e->meters_->atfork_prepare();
  }
}

void Engine::atfork_parent() {
  for (Engine *e : engines()) {
    if (e->meters_) e->meters_->atfork_parent();
    for (auto &p : e->pipes_)
      if (p) p->mutex().unlock();
    if (e->spans_) e->spans_->mutex().unlock();
    e->wmu_.unlock();
    e->scopes_mu_.unlock();
  }
  engines_mu().unlock();
}

void Engine::atfork_child() {
  ids_after_fork();  // parent and child must never generate the same ids
  for (Engine *e : engines()) {
    if (e->meters_) e->meters_->atfork_child();
    for (auto &p : e->pipes_)
      if (p) p->mutex().unlock();
    if (e->spans_) {
      e->spans_->mutex().unlock();
      e->spans_->after_fork_child();
    }
    e->wmu_.unlock();
    e->scopes_mu_.unlock();
    e->after_fork_child();
  }
  engines_mu().unlock();
}

void Engine::after_fork_child() {
  // The worker thread does not exist here: forget it (its std::thread is leaked, never joined)
  // and the condition variables it may have been waiting on.
  worker_ = nullptr;
  worker_started_.store(false, std::memory_order_relaxed);
  new (&wake_cv_) std::condition_variable();
  new (&done_cv_) std::condition_variable();
  wake_ = stop_ = worker_exited_ = worker_stuck_ = false;
  flush_requested_ = flush_done_ = 0;
  for (auto &p : pipes_)
    if (p) p->reset_after_fork();
  for (auto &e : exporters_) {
    if (!e) continue;
    e->abandon_after_fork();
    (void)e.release();  // the parent's exporter may hold locks or connections mid-use
  }
  exporters_stale_ = true;
}

void Engine::at_exit() {
  std::vector<Engine *> live;
  {
    std::lock_guard<std::mutex> lk(engines_mu());
    live = engines();
  }
  for (Engine *e : live)
    if (!e->is_shut_down()) e->shutdown(e->settings_.exit_timeout_ms);
}

}  // namespace otb
