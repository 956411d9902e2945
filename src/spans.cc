#include "spans.h"

#include <sys/random.h>
#include <unistd.h>

#include <cmath>
#include <mutex>
#include <new>

#include "engine.h"
#include "pbread.h"
#include "pipeline.h"
#include "utf8.h"

namespace otb {

// ---- ids -------------------------------------------------------------------------------------
namespace {

std::atomic<uint64_t> g_fork_generation{1};

struct Rng {
  uint64_t s[4];
  uint64_t generation = 0;  // g_fork_generation when seeded
};
thread_local Rng t_rng;

inline uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The thread's generator, seeded (again, in a forked child) on first use. One TLS lookup per
// caller: the ids of a new span come from one call.
Rng &rng() {
  Rng *r = tls_addr(t_rng);
  uint64_t gen = g_fork_generation.load(std::memory_order_relaxed);
  if (OTB_UNLIKELY(r->generation != gen)) {
    uint64_t seed[4] = {};
    if (getrandom(seed, sizeof seed, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof seed)) {
      uint64_t x = now_unix_nano() ^ (uint64_t(getpid()) << 32) ^ reinterpret_cast<uintptr_t>(r);
      for (auto &v : seed) v = splitmix(&x);
    }
    for (int i = 0; i < 4; i++) r->s[i] = seed[i];
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1;
    r->generation = gen;
  }
  return *r;
}

// xoshiro256**: fast, 256 bits of state, seeded from the OS per thread.
inline uint64_t next_random(Rng &r) {
  uint64_t *s = r.s;
  uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

inline void trace_id_from(Rng &r, uint8_t out[16]) {
  uint64_t a, b;
  do {
    a = next_random(r);
    b = next_random(r);
  } while ((a | b) == 0);
  memcpy(out, &a, 8);
  memcpy(out + 8, &b, 8);
}

inline void span_id_from(Rng &r, uint8_t out[8]) {
  uint64_t a;
  do a = next_random(r);
  while (a == 0);
  memcpy(out, &a, 8);
}

}  // namespace

void new_trace_id(uint8_t out[16]) {
  trace_id_from(rng(), out);
}

void new_span_id(uint8_t out[8]) {
  span_id_from(rng(), out);
}

void ids_after_fork() {
  g_fork_generation.fetch_add(1, std::memory_order_relaxed);
}

// ---- sampling --------------------------------------------------------------------------------

Sampler Sampler::from(const std::string &name, double arg) {
  Sampler s;
  s.parent_based = name.rfind("parentbased_", 0) == 0;
  std::string root = s.parent_based ? name.substr(12) : name;
  s.root = root == "always_off"     ? SamplerKind::kAlwaysOff
           : root == "traceidratio" ? SamplerKind::kRatio
                                    : SamplerKind::kAlwaysOn;
  // The official SDKs' rule: sampled when the low 64 bits of the trace id (big-endian) are below
  // round(ratio * 2^64). Rounding is to nearest-even, like Python's round().
  s.all = arg >= 1.0;
  s.bound = arg <= 0.0 || s.all
                ? 0
                : static_cast<uint64_t>(std::nearbyintl(static_cast<long double>(arg) * 0x1p64L));
  return s;
}

bool Sampler::sample(const uint8_t trace_id[16], const otel_span_context *parent) const {
  if (parent && parent_based) return parent->trace_flags & 1;
  switch (root) {
    case SamplerKind::kAlwaysOn:
      return true;
    case SamplerKind::kAlwaysOff:
      return false;
    case SamplerKind::kRatio: {
      if (all) return true;
      uint64_t low = 0;
      for (int i = 8; i < 16; i++) low = (low << 8) | trace_id[i];
      return low < bound;
    }
  }
  return true;
}

// ---- the span table --------------------------------------------------------------------------

struct SpanSlot {
  SpinLock mu;
  uint32_t gen = 1;
  uint32_t index = 0;
  bool live = false, recording = false;
  bool has_parent = false, parent_remote = false;
  const Scope *scope = nullptr;
  otel_span_context ctx = {};
  uint8_t parent_span_id[8] = {};
  int32_t kind = 0, status = OTEL_STATUS_UNSET;
  uint64_t start = 0;
  std::string name, trace_state, status_message;
  // Attributes, already encoded as Span.attributes fields (tag 9, length, KeyValue); an
  // overwritten key is removed and appended again. Encoded once, appended as is at end().
  Buf attrs;
  uint32_t dropped_attrs = 0;
  Buf events, links;  // encoded Span.Event (field 11) and Span.Link (field 13) messages
  uint32_t n_events = 0, dropped_events = 0, n_links = 0, dropped_links = 0;
};

namespace {

// Span proto fields (opentelemetry.proto.trace.v1).
namespace sf {
constexpr uint32_t kTraceId = 1, kSpanId = 2, kTraceState = 3, kParentSpanId = 4, kName = 5,
                   kKind = 6, kStart = 7, kEnd = 8, kAttributes = 9, kDroppedAttributes = 10,
                   kEvents = 11, kDroppedEvents = 12, kLinks = 13, kDroppedLinks = 14, kStatus = 15,
                   kFlags = 16;
constexpr uint32_t kEventTime = 1, kEventName = 2, kEventAttributes = 3, kEventDropped = 4;
constexpr uint32_t kLinkTraceId = 1, kLinkSpanId = 2, kLinkTraceState = 3, kLinkAttributes = 4,
                   kLinkDropped = 5, kLinkFlags = 6;
constexpr uint32_t kStatusMessage = 2, kStatusCode = 3;
// SpanFlags: the low 8 bits are the W3C trace flags; these say whether the parent (or the
// linked context) is remote.
constexpr uint32_t kHasIsRemote = 0x100, kIsRemote = 0x200;
}  // namespace sf

// Handle layout: engine id (16 bits) | generation (28 bits) | slot index + 1 (20 bits).
constexpr uint32_t kGenMask = (1u << 28) - 1;
inline otel_span make_handle(uint16_t engine, const SpanSlot &s) {
  return (uint64_t{engine} << 48) | (uint64_t{s.gen & kGenMask} << 20) | (s.index + 1);
}
inline bool valid_ctx(const otel_span_context &c) {
  static const uint8_t kZero[16] = {};
  return memcmp(c.trace_id, kZero, 16) != 0 && memcmp(c.span_id, kZero, 8) != 0;
}
inline bool links_ok(const otel_link *links, size_t n) {
  if (n && !links) return false;
  for (size_t i = 0; i < n; i++)
    if (!str_ok(links[i].trace_state) || (links[i].n_attrs && !links[i].attrs)) return false;
  return true;
}

thread_local Buf t_span, t_kv;

// Sets attributes on a recording slot: an existing key is overwritten in place, a new one is
// appended while under the count limit, else counted as dropped.
// The offset and size of the attribute field with `key` in an encoded attribute list.
bool find_attr(const Buf &b, otel_str key, size_t *off, size_t *len, size_t *count) {
  PbReader r(b.data(), b.size());
  PbField f;
  bool found = false;
  *count = 0;
  for (const uint8_t *start = r.p; r.next(&f); start = r.p) {
    ++*count;
    if (found) continue;
    PbReader kv(f.data, f.len);
    PbField k;
    if (kv.next(&k) && k.num == 1 && k.len == key.len &&
        (key.len == 0 || memcmp(k.data, key.ptr, key.len) == 0)) {
      *off = static_cast<size_t>(start - b.data());
      *len = static_cast<size_t>(r.p - start);
      found = true;
    }
  }
  return found;
}

// Sets attributes on a recording slot: an existing key is replaced, a new one is added while
// under the count limit, else counted as dropped.
int32_t apply_attrs(SpanSlot &s, const otel_attr *attrs, size_t n, const AttrLimits &lim) {
  if (n && !attrs) return OTEL_E_INVALID_ARG;
  if (s.attrs.size() == 0) {  // the usual case, at start: one pass of the fast encoder
    uint32_t dropped = 0;
    int32_t st = put_attributes(s.attrs, sf::kAttributes, attrs, n, lim, &dropped);
    if (st != OTEL_OK) s.attrs.clear();
    s.dropped_attrs += dropped;
    return st;
  }
  for (size_t i = 0; i < n; i++) {
    const otel_str &key = attrs[i].key;
    if (!str_ok(key)) return OTEL_E_INVALID_ARG;
    if (key.len == 0) {
      s.dropped_attrs++;
      continue;
    }
    size_t off = 0, len = 0, count = 0;
    const bool exists = find_attr(s.attrs, key, &off, &len, &count);
    if (!exists && count >= lim.count) {
      s.dropped_attrs++;
      continue;
    }
    Buf &kv = t_kv;  // the new KeyValue field, encoded on its own first
    kv.clear();
    size_t m = msg_begin(kv, sf::kAttributes);
    put_string(kv, 1, key);
    int32_t st = put_any_value(kv, 2, attrs[i].value, lim.value_chars);
    if (st != OTEL_OK) return st;
    msg_end(kv, m);
    if (!exists) {
      s.attrs.append(kv.data(), kv.size());
      continue;
    }
    // Overwrite in place: the key keeps its position, the value is the new one.
    const size_t tail = s.attrs.size() - off - len;
    if (kv.size() > len && !s.attrs.reserve(kv.size() - len)) return OTEL_E_NO_MEMORY;
    uint8_t *base = s.attrs.data();
    memmove(base + off + kv.size(), base + off + len, tail);
    memcpy(base + off, kv.data(), kv.size());
    s.attrs.truncate(off + kv.size() + tail);
  }
  return OTEL_OK;
}

int32_t append_link(SpanSlot &s, const otel_link &l, const SpanLimits &lim) {
  if (s.n_links >= lim.links) {
    s.dropped_links++;
    return OTEL_OK;
  }
  size_t before = s.links.size();
  size_t m = msg_begin(s.links, sf::kLinks);
  put_bytes(s.links, sf::kLinkTraceId, l.ctx.trace_id, 16);
  put_bytes(s.links, sf::kLinkSpanId, l.ctx.span_id, 8);
  if (l.trace_state.len) put_string(s.links, sf::kLinkTraceState, l.trace_state);
  uint32_t dropped = 0;
  int32_t st =
      put_attributes(s.links, sf::kLinkAttributes, l.attrs, l.n_attrs, lim.link_attrs, &dropped);
  if (st != OTEL_OK) {
    s.links.truncate(before);
    return st;
  }
  if (dropped) {
    put_tag(s.links, sf::kLinkDropped, kVarint);
    put_varint(s.links, dropped);
  }
  put_fixed32(s.links, sf::kLinkFlags,
              l.ctx.trace_flags | sf::kHasIsRemote | (l.ctx.is_remote ? sf::kIsRemote : 0));
  msg_end(s.links, m);
  s.n_links++;
  return OTEL_OK;
}

void encode_span(Buf &b, const SpanSlot &s, uint64_t end) {
  put_bytes(b, sf::kTraceId, s.ctx.trace_id, 16);
  put_bytes(b, sf::kSpanId, s.ctx.span_id, 8);
  if (!s.trace_state.empty())
    put_string(b, sf::kTraceState, otel_str{s.trace_state.data(), s.trace_state.size()});
  if (s.has_parent) put_bytes(b, sf::kParentSpanId, s.parent_span_id, 8);
  put_string(b, sf::kName, otel_str{s.name.data(), s.name.size()});
  if (s.kind) {
    put_tag(b, sf::kKind, kVarint);
    put_varint(b, static_cast<uint64_t>(s.kind));
  }
  put_fixed64(b, sf::kStart, s.start);
  put_fixed64(b, sf::kEnd, end);
  b.append(s.attrs.data(), s.attrs.size());
  if (s.dropped_attrs) {
    put_tag(b, sf::kDroppedAttributes, kVarint);
    put_varint(b, s.dropped_attrs);
  }
  b.append(s.events.data(), s.events.size());
  if (s.dropped_events) {
    put_tag(b, sf::kDroppedEvents, kVarint);
    put_varint(b, s.dropped_events);
  }
  b.append(s.links.data(), s.links.size());
  if (s.dropped_links) {
    put_tag(b, sf::kDroppedLinks, kVarint);
    put_varint(b, s.dropped_links);
  }
  if (s.status != OTEL_STATUS_UNSET) {
    size_t m = msg_begin(b, sf::kStatus);
    if (!s.status_message.empty())
      put_bytes(b, sf::kStatusMessage, s.status_message.data(), s.status_message.size());
    put_tag(b, sf::kStatusCode, kVarint);
    put_varint(b, static_cast<uint64_t>(s.status));
    msg_end(b, m);
  }
  put_fixed32(b, sf::kFlags,
              s.ctx.trace_flags | sf::kHasIsRemote | (s.parent_remote ? sf::kIsRemote : 0));
}

}  // namespace

SpanTable::SpanTable(const Settings &s, Pipeline *pipe, uint16_t engine_id)
    : sampler_(Sampler::from(s.sampler, s.sampler_arg)),
      pipe_(pipe),
      max_live_(s.max_live_spans),
      engine_id_(engine_id) {
  limits_.attrs.count = s.span_attr_count_limit;
  limits_.attrs.value_chars = s.span_attr_value_chars;
  limits_.events = s.span_event_count_limit;
  limits_.links = s.span_link_count_limit;
  limits_.event_attrs.count = s.event_attr_count_limit;
  limits_.event_attrs.value_chars = s.span_attr_value_chars;
  limits_.link_attrs.count = s.link_attr_count_limit;
  limits_.link_attrs.value_chars = s.span_attr_value_chars;
}

SpanTable::~SpanTable() {
  for (auto &c : chunks_) delete[] c.load();
}

// Free slots are cached per thread, so starting and ending spans usually takes no shared lock
// (two threads on one table would otherwise bounce its lock's cache line on every span). The
// cache belongs to one engine at a time; moving to another engine returns the cached slots to
// their table while that engine still exists.
namespace {
struct SlotCache {
  uint16_t engine = 0;
  uint32_t n = 0;
  uint32_t idx[32];
};
thread_local SlotCache t_slots;
constexpr uint32_t kCacheRefill = 16;
}  // namespace

uint32_t SpanTable::take_locked() {
  if (!free_.empty()) {
    uint32_t idx = free_.back();
    free_.pop_back();
    return idx;
  }
  uint32_t n = allocated_.load(std::memory_order_relaxed);
  if (n >= max_live_ || n >= kChunk * kMaxChunks - 1) return UINT32_MAX;
  size_t c = n / kChunk;
  if (!chunks_[c].load(std::memory_order_relaxed)) {
    SpanSlot *chunk = new SpanSlot[kChunk];
    for (size_t i = 0; i < kChunk; i++) chunk[i].index = static_cast<uint32_t>(c * kChunk + i);
    free_.reserve((c + 1) * kChunk);  // returning slots never allocates
    chunks_[c].store(chunk, std::memory_order_release);
  }
  allocated_.store(n + 1, std::memory_order_release);
  return n;
}

void SpanTable::return_cache() {
  SlotCache &c = t_slots;
  if (c.n && c.engine) {
    Engine *e = Engine::by_id(c.engine);  // gone: its table went with it
    if (e && e->spans()) {
      SpanTable *t = e->spans();
      std::lock_guard<SpinLock> lk(t->mu_);
      for (uint32_t i = 0; i < c.n; i++) t->free_.push_back(c.idx[i]);
    }
  }
  c.n = 0;
  c.engine = engine_id_;
}

int32_t SpanTable::alloc_slot(SpanSlot **out) {
  SlotCache &c = *tls_addr(t_slots);
  if (OTB_UNLIKELY(c.engine != engine_id_)) return_cache();
  if (c.n == 0) {  // refill a few at once
    std::lock_guard<SpinLock> lk(mu_);
    while (c.n < kCacheRefill) {
      uint32_t idx = take_locked();
      if (idx == UINT32_MAX) break;
      c.idx[c.n++] = idx;
    }
    if (c.n == 0) return OTEL_E_NO_MEMORY;
  }
  uint32_t idx = c.idx[--c.n];
  *out = &chunks_[idx / kChunk].load(std::memory_order_acquire)[idx % kChunk];
  return OTEL_OK;
}

void SpanTable::free_slot(SpanSlot *s) {
  SlotCache &c = *tls_addr(t_slots);
  if (OTB_UNLIKELY(c.engine != engine_id_)) return_cache();
  if (c.n == sizeof c.idx / sizeof c.idx[0]) {  // full: hand half back to the table
    std::lock_guard<SpinLock> lk(mu_);
    for (uint32_t i = c.n / 2; i < c.n; i++) free_.push_back(c.idx[i]);
    c.n /= 2;
  }
  c.idx[c.n++] = s->index;
}

SpanSlot *SpanTable::lock_slot(otel_span h, int32_t *status) {
  uint32_t idx = static_cast<uint32_t>(h & 0xFFFFFu),
           gen = static_cast<uint32_t>(h >> 20) & kGenMask;
  *status = OTEL_E_INVALID_HANDLE;
  if (engine_id_of_handle(h) != engine_id_) return nullptr;  // a handle of another engine
  if (idx == 0 || idx - 1 >= allocated_.load(std::memory_order_acquire)) return nullptr;
  idx--;
  SpanSlot *chunk = chunks_[idx / kChunk].load(std::memory_order_acquire);
  if (!chunk) return nullptr;
  SpanSlot *s = &chunk[idx % kChunk];
  s->mu.lock();
  if ((s->gen & kGenMask) != gen || !s->live) {
    s->mu.unlock();
    return nullptr;
  }
  *status = OTEL_OK;
  return s;
}

int32_t SpanTable::start(const SpanStart &a, otel_span *out) {
  if (!str_ok(a.name) || (a.n_attrs && !a.attrs) || !links_ok(a.links, a.n_links))
    return OTEL_E_INVALID_ARG;
  otel_span_context parent = {};
  std::string parent_state;
  bool have_parent = false;
  int32_t pk = a.parent ? a.parent->kind : OTEL_PARENT_CURRENT;
  switch (pk) {
    case OTEL_PARENT_CURRENT:
      if (const otel_span_context *cur = context_current(nullptr, &parent_state)) {
        parent = *cur;
        have_parent = true;
      }
      break;
    case OTEL_PARENT_ROOT:
      break;
    case OTEL_PARENT_SPAN: {
      int32_t st;
      SpanSlot *p = lock_slot(a.parent->span, &st);
      if (!p) return st;
      parent = p->ctx;
      parent_state = p->trace_state;
      p->mu.unlock();
      have_parent = true;
      break;
    }
    case OTEL_PARENT_REMOTE:
      if (!str_ok(a.parent->trace_state)) return OTEL_E_INVALID_ARG;
      if (valid_ctx(a.parent->ctx)) {  // an invalid remote context starts a new trace
        parent = a.parent->ctx;
        parent.is_remote = 1;
        parent_state.assign(a.parent->trace_state.ptr ? a.parent->trace_state.ptr : "",
                            a.parent->trace_state.len);
        have_parent = true;
      }
      break;
    default:
      return OTEL_E_INVALID_ARG;
  }
  SpanSlot *s;
  int32_t st = alloc_slot(&s);
  if (st != OTEL_OK) return st;
  std::lock_guard<SpinLock> lk(s->mu);
  Rng &r = rng();
  if (have_parent) {
    memcpy(s->ctx.trace_id, parent.trace_id, 16);
    memcpy(s->parent_span_id, parent.span_id, 8);
  } else {
    trace_id_from(r, s->ctx.trace_id);
  }
  span_id_from(r, s->ctx.span_id);
  const bool sampled = sampler_.sample(s->ctx.trace_id, have_parent ? &parent : nullptr);
  s->ctx.trace_flags =
      static_cast<uint8_t>((have_parent ? parent.trace_flags & ~1u : 0u) | (sampled ? 1u : 0u));
  s->ctx.is_remote = 0;
  s->has_parent = have_parent;
  s->parent_remote = have_parent && parent.is_remote;
  s->recording = sampled && pipe_;  // OTEL_TRACES_EXPORTER=none: context only, nothing recorded
  s->scope = a.scope;
  s->kind = a.kind;
  s->status = OTEL_STATUS_UNSET;
  s->attrs.clear();
  s->dropped_attrs = s->n_events = s->dropped_events = s->n_links = s->dropped_links = 0;
  s->events.clear();
  s->links.clear();
  s->status_message.clear();
  if (!parent_state.empty() || !s->trace_state.empty()) s->trace_state = parent_state;
  if (sampled) {
    s->start = a.start ? a.start : now_unix_nano();
    s->name.assign(a.name.ptr ? a.name.ptr : "", a.name.len);
    if (a.n_attrs) st = apply_attrs(*s, a.attrs, a.n_attrs, limits_.attrs);
    for (size_t i = 0; st == OTEL_OK && i < a.n_links; i++)
      st = append_link(*s, a.links[i], limits_);
    if (st != OTEL_OK) {
      s->gen++;
      free_slot(s);
      return st;
    }
  }
  s->live = true;
  *out = make_handle(engine_id_, *s);
  return OTEL_OK;
}

int32_t SpanTable::set_attrs(otel_span h, const otel_attr *attrs, size_t n) {
  int32_t st;
  SpanSlot *s = lock_slot(h, &st);
  if (!s) return st;
  if (s->recording) st = apply_attrs(*s, attrs, n, limits_.attrs);
  s->mu.unlock();
  return st;
}

int32_t SpanTable::add_event(otel_span h, otel_str name, uint64_t time, const otel_attr *attrs,
                             size_t n) {
  if (!str_ok(name) || (n && !attrs)) return OTEL_E_INVALID_ARG;
  int32_t st;
  SpanSlot *s = lock_slot(h, &st);
  if (!s) return st;
  if (s->recording) {
    if (s->n_events >= limits_.events) {
      s->dropped_events++;
    } else {
      size_t before = s->events.size();
      size_t m = msg_begin(s->events, sf::kEvents);
      put_fixed64(s->events, sf::kEventTime, time ? time : now_unix_nano());
      put_string(s->events, sf::kEventName, name);
      uint32_t dropped = 0;
      st = put_attributes(s->events, sf::kEventAttributes, attrs, n, limits_.event_attrs, &dropped);
      if (st == OTEL_OK) {
        if (dropped) {
          put_tag(s->events, sf::kEventDropped, kVarint);
          put_varint(s->events, dropped);
        }
        msg_end(s->events, m);
        s->n_events++;
      } else {
        s->events.truncate(before);
      }
    }
  }
  s->mu.unlock();
  return st;
}

int32_t SpanTable::add_link(otel_span h, const otel_link &link) {
  if (!links_ok(&link, 1)) return OTEL_E_INVALID_ARG;
  int32_t st;
  SpanSlot *s = lock_slot(h, &st);
  if (!s) return st;
  if (s->recording) st = append_link(*s, link, limits_);
  s->mu.unlock();
  return st;
}

int32_t SpanTable::set_status(otel_span h, int32_t code, otel_str description) {
  if (code < OTEL_STATUS_UNSET || code > OTEL_STATUS_ERROR || !str_ok(description))
    return OTEL_E_INVALID_ARG;
  int32_t st;
  SpanSlot *s = lock_slot(h, &st);
  if (!s) return st;
  // Per the spec: Unset is ignored, and Ok is final.
  if (s->recording && code != OTEL_STATUS_UNSET && s->status != OTEL_STATUS_OK) {
    s->status = code;
    if (code == OTEL_STATUS_ERROR)
      s->status_message = utf8_repaired(description);
    else
      s->status_message.clear();
  }
  s->mu.unlock();
  return OTEL_OK;
}

int32_t SpanTable::update_name(otel_span h, otel_str name) {
  if (!str_ok(name)) return OTEL_E_INVALID_ARG;
  int32_t st;
  SpanSlot *s = lock_slot(h, &st);
  if (!s) return st;
  if (s->recording) s->name.assign(name.ptr ? name.ptr : "", name.len);
  s->mu.unlock();
  return OTEL_OK;
}

int32_t SpanTable::end(otel_span h, uint64_t end_time) {
  int32_t st;
  SpanSlot *s = lock_slot(h, &st);
  if (!s) return st;
  if (s->recording && pipe_) {
    Engine *e = s->scope->engine;
    if (OTB_UNLIKELY(!e->worker_running())) e->ensure_worker();
    Buf &b = *tls_addr(t_span);
    b.clear();
    b.set_limit(pipe_->max_record_bytes());
    encode_span(b, *s, end_time ? end_time : now_unix_nano());
    if (b.overflow()) {
      pipe_->count(OTEL_STAT_DROPPED_TOO_LARGE);
      st = OTEL_E_TOO_LARGE;
    } else {
      bool wake = false;
      st = pipe_->push(s->scope->id, b.data(), b.size(), &wake);
      if (wake) e->wake_worker();
    }
    b.shrink_if_above(1u << 20);
  }
  s->live = false;
  s->gen++;
  s->mu.unlock();
  free_slot(s);
  return st;
}

int32_t SpanTable::context(otel_span h, otel_span_context *out, std::string *trace_state) {
  int32_t st;
  SpanSlot *s = lock_slot(h, &st);
  if (!s) return st;
  *out = s->ctx;
  if (trace_state) *trace_state = s->trace_state;
  s->mu.unlock();
  return OTEL_OK;
}

int32_t SpanTable::is_recording(otel_span h) {
  int32_t st;
  SpanSlot *s = lock_slot(h, &st);
  if (!s) return st;
  int32_t r = s->recording ? 1 : 0;
  s->mu.unlock();
  return r;
}

void SpanTable::after_fork_child() {
  // A slot locked by another thread at fork time stays locked in the child forever: give every
  // slot a fresh lock. Their contents are intact (fork copied them).
  uint32_t n = allocated_.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < n; i++) {
    SpanSlot *chunk = chunks_[i / kChunk].load(std::memory_order_relaxed);
    new (&chunk[i % kChunk].mu) SpinLock();
  }
}

// ---- the calling thread's context ------------------------------------------------------------
namespace {
struct CtxEntry {
  otel_span span;
  otel_span_context ctx;
  std::string trace_state;
  uint64_t token;
};
thread_local std::vector<CtxEntry> t_stack;
thread_local uint32_t t_serial = 0;
}  // namespace

thread_local size_t t_context_depth = 0;

// A token is (serial << 32) | depth: restoring checks it against the top entry, so a token used
// twice, or from another thread, never pops the wrong context.
int32_t context_attach(otel_span span, const otel_span_context &ctx, otel_str trace_state,
                       uint64_t *token) {
  if (t_context_depth == t_stack.size()) t_stack.emplace_back();
  CtxEntry &e = t_stack[t_context_depth++];
  e.span = span;
  e.ctx = ctx;
  e.trace_state.assign(trace_state.ptr ? trace_state.ptr : "", trace_state.len);
  e.token = (uint64_t{++t_serial} << 32) | t_context_depth;
  *token = e.token;
  return OTEL_OK;
}

int32_t context_restore(uint64_t token) {
  if (t_context_depth == 0 || t_stack[t_context_depth - 1].token != token)
    return OTEL_E_INVALID_ARG;
  t_context_depth--;
  return OTEL_OK;
}

const otel_span_context *context_current(otel_span *span, std::string *trace_state) {
  if (t_context_depth == 0) {
    if (span) *span = 0;
    return nullptr;
  }
  const CtxEntry &e = t_stack[t_context_depth - 1];
  if (span) *span = e.span;
  if (trace_state) *trace_state = e.trace_state;
  return &e.ctx;
}

}  // namespace otb
