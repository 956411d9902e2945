// The generic pipeline one signal's records flow through (DESIGN.md §2): a bounded
// multi-producer queue of pre-encoded records, and the framing of a batch into an
// Export{Logs,Trace,Metrics}ServiceRequest. Logs use it now; traces and metrics reuse it as is —
// the three OTLP envelopes share their field numbers, so one framer serves them all.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "common.h"
#include "config.h"

namespace otb {

// Requests stay under the OTLP 64 MiB limit; so does any single record.
constexpr size_t kMaxRequestBytes = (64u << 20) - (64u << 10);

struct BatchEntry {
  uint32_t scope;
  uint32_t len;
  size_t off;  // of the record's bytes in Batch::bytes
};

// Records taken out of the queue by the worker. Reused: no allocation once it has grown.
struct Batch {
  Buf bytes;
  std::vector<BatchEntry> entries;
  void clear() {
    bytes.clear();
    entries.clear();
  }
};

class Pipeline {
 public:
  Pipeline(Signal signal, const PipelineSettings &s);
  ~Pipeline();
  Pipeline(const Pipeline &) = delete;
  Pipeline &operator=(const Pipeline &) = delete;

  Signal signal() const { return signal_; }
  const PipelineSettings &settings() const { return s_; }
  // The largest encoded record push() can accept.
  size_t max_record_bytes() const { return max_record_; }

  // Producer side, any thread: copies one encoded record into the queue. Never waits for the
  // worker. OTEL_OK, OTEL_E_QUEUE_FULL, OTEL_E_TOO_LARGE, OTEL_E_SHUTDOWN or OTEL_E_NO_MEMORY
  // (every refusal is counted). *wake is set when the queue just reached a full batch.
  int32_t push(uint32_t scope, const uint8_t *rec, size_t len, bool *wake);

  // Worker side: moves up to `max` of the oldest records into `out` (appending).
  size_t take(Batch &out, size_t max);
  uint32_t queued() const { return count_.load(std::memory_order_relaxed); }

  // Refuses later pushes and discards what is queued, counting it as dropped_shutdown.
  void close();
  // In a forked child: forget the parent's queued records and statistics.
  void reset_after_fork();

  void count(int stat, uint64_t n = 1) { stats_[stat].fetch_add(n, std::memory_order_relaxed); }
  void uncount(int stat, uint64_t n) { stats_[stat].fetch_sub(n, std::memory_order_relaxed); }
  void read_stats(uint64_t *out, size_t n) const;
  SpinLock &mutex() { return mu_; }

 private:
  void ring_write(size_t pos, const void *src, size_t n);
  void ring_read(size_t pos, void *dst, size_t n) const;
  void pop_front();
  bool grow(size_t need);

  // A counter only push() changes, under mu_: a plain increment, no locked instruction.
  void count_locked(int stat) {
    locked_stats_[stat].store(locked_stats_[stat].load(std::memory_order_relaxed) + 1,
                              std::memory_order_relaxed);
  }

  const Signal signal_;
  const PipelineSettings s_;
  const size_t max_record_;
  SpinLock mu_;
  // The ring: records from head_ for used_ bytes. The busy_ bytes just before head_ are being
  // copied out by the worker without the lock; producers never write there. A ring replaced by
  // grow() during that copy is kept in retired_ until the copy ends.
  uint8_t *ring_ = nullptr;
  uint8_t *retired_ = nullptr;
  size_t cap_ = 0, head_ = 0, used_ = 0, busy_ = 0;
  bool closed_ = false;
  std::atomic<uint32_t> count_{0};
  std::atomic<uint64_t> used_bytes_{0};
  // Producer-side counters (under mu_) and the rest (atomic adds, mostly the worker's) live on
  // separate cache lines so producers and the worker do not bounce one line between cores.
  alignas(64) std::atomic<uint64_t> locked_stats_[OTEL_STAT_COUNT] = {};
  alignas(64) std::atomic<uint64_t> stats_[OTEL_STAT_COUNT] = {};
};

// Writes a complete Export*ServiceRequest for entries [first, last) of `b` (already sorted by
// scope) into `out`. `resource` is the body of the Resource message; scope_msg(id) returns the
// body of the InstrumentationScope message and schema_url(id) the scope's schema URL.
struct ScopeBytes {
  const std::string *scope;
  const std::string *schema_url;
};
void frame_request(Buf &out, const Buf &resource, const Batch &b, size_t first, size_t last,
                   const std::vector<ScopeBytes> &scopes);

// Sorts a batch's entries by scope (keeping emit order within a scope) and returns the end of
// the longest prefix from `first` whose request stays under kMaxRequestBytes (at least one entry).
void sort_by_scope(Batch &b);
size_t request_prefix(const Batch &b, size_t first, size_t resource_len,
                      const std::vector<ScopeBytes> &scopes);

}  // namespace otb
