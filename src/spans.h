// Traces: span ids, the sampler, the table of live spans behind otel_span handles, the calling
// thread's context stack, and the encoding of an ended span into an OTLP Span.
//
// A live span lives in a slot of a SpanTable. Its handle is (generation << 32) | (slot index + 1):
// ending a span bumps the slot's generation, so a stale or twice-ended handle never matches and
// never reaches freed memory (slots are never freed while the engine lives; their buffers are
// reused, so steady-state span start/end allocates nothing).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "common.h"
#include "config.h"
#include "encode.h"

namespace otb {

struct Scope;
class Pipeline;

// ---- ids ----
// Random ids from a per-thread generator seeded from the OS, reseeded in a forked child so parent
// and child never produce the same ids. Never all-zero.
void new_trace_id(uint8_t out[16]);
void new_span_id(uint8_t out[8]);
void ids_after_fork();  // called in the child

// ---- sampling ----
enum class SamplerKind { kAlwaysOn, kAlwaysOff, kRatio };
struct Sampler {
  SamplerKind root = SamplerKind::kAlwaysOn;
  bool parent_based = true;
  uint64_t bound = 0;  // kRatio: sampled when the trace id's low 64 bits are below it
  bool all = true;     // kRatio with ratio >= 1
  static Sampler from(const std::string &name, double arg);
  // The decision for a new span. `parent` is null for a root span.
  bool sample(const uint8_t trace_id[16], const otel_span_context *parent) const;
};

struct SpanLimits {
  AttrLimits attrs;        // OTEL_SPAN_ATTRIBUTE_*
  uint32_t events = 128;   // OTEL_SPAN_EVENT_COUNT_LIMIT
  uint32_t links = 128;    // OTEL_SPAN_LINK_COUNT_LIMIT
  AttrLimits event_attrs;  // OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT (value length: the span's)
  AttrLimits link_attrs;   // OTEL_LINK_ATTRIBUTE_COUNT_LIMIT
};

struct SpanStart {
  const Scope *scope;
  otel_str name;
  int32_t kind;
  uint64_t start;
  const otel_span_parent *parent;
  const otel_attr *attrs;
  size_t n_attrs;
  const otel_link *links;
  size_t n_links;
};

struct SpanSlot;

class SpanTable {
 public:
  // engine_id is written into every handle, so a handle finds its engine (engine_of_handle).
  SpanTable(const Settings &s, Pipeline *pipe, uint16_t engine_id);
  ~SpanTable();

  int32_t start(const SpanStart &a, otel_span *out);
  int32_t set_attrs(otel_span h, const otel_attr *attrs, size_t n);
  int32_t add_event(otel_span h, otel_str name, uint64_t time, const otel_attr *attrs, size_t n);
  int32_t add_link(otel_span h, const otel_link &link);
  int32_t set_status(otel_span h, int32_t code, otel_str description);
  int32_t update_name(otel_span h, otel_str name);
  // Ends the span; a recorded span is encoded and pushed to the traces pipeline.
  int32_t end(otel_span h, uint64_t end_time);
  int32_t context(otel_span h, otel_span_context *out, std::string *trace_state = nullptr);
  int32_t is_recording(otel_span h);
  // In a forked child: the parent's spans stay readable, their locks are reset.
  void after_fork_child();
  // For the fork handlers: the lock that guards slot allocation.
  SpinLock &mutex() { return mu_; }

 private:
  SpanSlot *lock_slot(otel_span h, int32_t *status);  // returns the slot locked, or null
  int32_t alloc_slot(SpanSlot **out);
  void free_slot(SpanSlot *s);
  uint32_t take_locked();  // a free or new slot index (UINT32_MAX: none); mu_ held
  void return_cache();     // the thread's cached slots back to their table; the cache is ours

  static constexpr size_t kChunk = 256, kMaxChunks = 4096;  // 2^20 slots: the handle's index bits
  Sampler sampler_;
  SpanLimits limits_;
  Pipeline *pipe_;  // null when OTEL_TRACES_EXPORTER=none: spans still work, nothing is queued
  uint32_t max_live_;
  uint16_t engine_id_;
  SpinLock mu_;  // guards free_ and allocation of new chunks
  std::atomic<SpanSlot *> chunks_[kMaxChunks] = {};
  std::atomic<uint32_t> allocated_{0};
  std::vector<uint32_t> free_;
};

// The engine id a handle carries (0 = none).
inline uint16_t engine_id_of_handle(otel_span h) {
  return static_cast<uint16_t>(h >> 48);
}

// ---- the calling thread's context (for C callers) ----
int32_t context_attach(otel_span span, const otel_span_context &ctx, otel_str trace_state,
                       uint64_t *token);
int32_t context_restore(uint64_t token);
// The current context of this thread, or null. trace_state may be null.
const otel_span_context *context_current(otel_span *span, std::string *trace_state);
// How many contexts the thread has attached (0: no current context).
extern thread_local size_t t_context_depth;
// context_current(nullptr, nullptr) for the hot paths: no call when nothing is attached.
inline const otel_span_context *context_current() {
  return OTB_LIKELY(t_context_depth == 0) ? nullptr : context_current(nullptr, nullptr);
}

}  // namespace otb
