#include "metrics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>

#include "diag.h"
#include "encode.h"
#include "engine.h"
#include "exphist.h"
#include "pbread.h"
#include "pipeline.h"
#include "utf8.h"

namespace otb {

namespace {

constexpr int kStripes = 4;
std::atomic<int> g_next_stripe{0};
thread_local int t_stripe = -1;
inline int my_stripe() {
  if (OTB_UNLIKELY(t_stripe < 0))
    t_stripe = g_next_stripe.fetch_add(1, std::memory_order_relaxed) % kStripes;
  return t_stripe;
}

// ---- thread slots: the index of a thread's own cell in every sum series ----
// A thread claims the lowest free slot on its first sum measurement and frees it when it exits
// (a thread_local destructor). The next thread to claim that slot carries on with the same cells:
// the slot's release (a release RMW on the bitmap) and the claim (acquire) order the two owners'
// writes, so what an exited thread added stays in its cells and is collected, never lost. Threads
// past kSlots live ones at a time use a shared atomic instead. The bitmap takes no lock, so a
// forked child, which inherits it, can always claim (the parent's other threads' slots just stay
// taken there).
constexpr int kSlots = 128;
constexpr int kCellsPerChunk = 4;  // cells are allocated per series in chunks of this many slots
std::atomic<uint64_t> g_slot_bits[kSlots / 64];
thread_local int t_slot = -1;  // -1: none claimed yet; -2: none (all taken, or thread exiting)
struct SlotRelease {
  int slot = -1;
  ~SlotRelease() {
    if (slot < 0) return;
    t_slot = -2;  // a measurement from a later thread_local destructor takes the shared path
    g_slot_bits[slot >> 6].fetch_and(~(uint64_t{1} << (slot & 63)), std::memory_order_release);
  }
};
thread_local SlotRelease t_slot_release;

OTB_NOINLINE int claim_slot() {
  if (t_slot == -2) return -1;
  for (int w = 0; w < kSlots / 64; w++) {
    uint64_t bits = g_slot_bits[w].load(std::memory_order_relaxed);
    while (~bits) {
      const int k = __builtin_ctzll(~bits);
      if (g_slot_bits[w].compare_exchange_weak(bits, bits | (uint64_t{1} << k),
                                               std::memory_order_acquire,
                                               std::memory_order_relaxed)) {
        t_slot_release.slot = t_slot = w * 64 + k;
        return t_slot;
      }
    }
  }
  t_slot = -2;
  return -1;
}

inline uint64_t to_bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, 8);
  return b;
}
inline double from_bits(uint64_t b) {
  double d;
  std::memcpy(&d, &b, 8);
  return d;
}
inline void add_double(std::atomic<uint64_t> &a, double v) {
  uint64_t old = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(old, to_bits(from_bits(old) + v), std::memory_order_relaxed)) {
  }
}
template <class Better>
inline void bound_double(std::atomic<uint64_t> &a, double v, Better better) {
  uint64_t old = a.load(std::memory_order_relaxed);
  while (better(v, from_bits(old)) &&
         !a.compare_exchange_weak(old, to_bits(v), std::memory_order_relaxed)) {
  }
}

uint64_t hash_bytes(const uint8_t *p, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xFF51AFD7ED558CCDull);
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ (w * 0x87C37B91114253D5ull)) * 0x4CF5AD432745937Full;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  if (n) std::memcpy(&w, p, n);  // p may be null for the empty attribute set
  h = (h ^ (w * 0x87C37B91114253D5ull)) * 0x4CF5AD432745937Full;
  return h ^ (h >> 32);
}

// ---- the fast lookup's hash: per attribute, straight from the caller's otel_attr values ----

inline uint64_t load64(const char *p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
inline uint64_t load32(const char *p) {
  uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}
// 64x64 -> 128-bit multiply, folded (the mixing step of wyhash and its kin).
inline uint64_t mum(uint64_t a, uint64_t b) {
  __extension__ typedef unsigned __int128 u128;  // GCC and Clang on 64-bit targets
  const u128 r = static_cast<u128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}
constexpr uint64_t kP0 = 0xa0761d6478bd642full, kP1 = 0xe7037ed1a0b428dbull,
                   kP2 = 0x8ebc6af09c88c6e3ull, kP3 = 0x589965cc75374cc3ull;

#define OTB_ALWAYS_INLINE inline __attribute__((always_inline))

// Reduces a string to two words for a final mum (the scheme of wyhash and its kin): the string
// itself up to 16 bytes (overlapping loads), one or two multiplications up to 32 bytes, a loop
// beyond. p may be NULL when n is 0.
OTB_ALWAYS_INLINE void str_words(const char *p, size_t n, uint64_t seed, uint64_t *a, uint64_t *b) {
  if (OTB_LIKELY(n <= 16)) {
    if (n >= 8) {
      *a = load64(p);
      *b = load64(p + n - 8);
    } else if (n >= 4) {
      *a = load32(p);
      *b = load32(p + n - 4);
    } else if (n > 0) {
      const unsigned char *u = reinterpret_cast<const unsigned char *>(p);
      *a = (uint64_t{u[0]} << 16) | (uint64_t{u[n >> 1]} << 8) | u[n - 1];
      *b = 0;
    } else {
      *a = *b = 0;
    }
    *a ^= seed;
    return;
  }
  size_t i = n;
  while (i > 32) {
    seed = mum(load64(p) ^ kP1, load64(p + 8) ^ seed);
    p += 16;
    i -= 16;
  }
  if (i > 16) {
    seed = mum(load64(p) ^ kP1, load64(p + 8) ^ seed);
    p += i - 16;  // the last 16 bytes (overlapping)
  }
  *a = load64(p) ^ seed;
  *b = load64(p + 8);
}

// The hash of one attribute as the caller passes it (key, type, value): one multiplication for the
// key and one for the value and the key's hash together, when both are at most 16 bytes. False
// for what the fast path does not handle: a bad pointer, an empty key, a container value, an
// unknown type. A bool is hashed as 0 or 1, as it is encoded.
OTB_ALWAYS_INLINE bool hash_attr(const otel_attr &a, uint64_t *h) {
  const otel_str k = a.key;
  if (OTB_UNLIKELY(k.len == 0 || !str_ok(k))) return false;  // the exact path says why
  uint64_t ka, kb;
  str_words(k.ptr, k.len, kP0, &ka, &kb);
  const uint64_t hk = mum(ka ^ kP1, kb ^ k.len);
  const otel_value &v = a.value;
  uint64_t va, vb = 0, vlen = 0;
  if (OTB_LIKELY(v.type == OTEL_VALUE_STRING || v.type == OTEL_VALUE_BYTES)) {
    if (OTB_UNLIKELY(!str_ok(v.u.str))) return false;
    str_words(v.u.str.ptr, v.u.str.len, kP2, &va, &vb);
    vlen = v.u.str.len;
  } else if (v.type == OTEL_VALUE_INT) {
    va = static_cast<uint64_t>(v.u.i64);
  } else if (v.type == OTEL_VALUE_DOUBLE) {
    std::memcpy(&va, &v.u.f64, 8);
  } else if (v.type == OTEL_VALUE_BOOL) {
    va = v.u.boolean ? 1 : 0;
  } else if (v.type == OTEL_VALUE_EMPTY) {
    va = 0;
  } else {
    return false;
  }
  *h = mum(va ^ hk, vb ^ vlen ^ (kP3 + (static_cast<uint64_t>(v.type) << 56)));
  return true;
}

// Combines the attribute hashes independently of their order (a sum), then mixes in the count.
inline uint64_t hash_combine(uint64_t sum, size_t n) {
  return mum(sum ^ kP0, kP1 + n);
}

// Equal byte strings (n bytes each; either may be NULL when n is 0). Inline up to 32 bytes.
inline bool same_bytes(const char *a, const char *b, size_t n) {
  if (OTB_LIKELY(n <= 32)) {
    if (n > 16)
      return ((load64(a) ^ load64(b)) | (load64(a + 8) ^ load64(b + 8)) |
              (load64(a + n - 16) ^ load64(b + n - 16)) |
              (load64(a + n - 8) ^ load64(b + n - 8))) == 0;
    if (n >= 8) return ((load64(a) ^ load64(b)) | (load64(a + n - 8) ^ load64(b + n - 8))) == 0;
    if (n >= 4) return ((load32(a) ^ load32(b)) | (load32(a + n - 4) ^ load32(b + n - 4))) == 0;
    return n == 0 || (a[0] == b[0] && a[n >> 1] == b[n >> 1] && a[n - 1] == b[n - 1]);
  }
  return std::memcmp(a, b, n) == 0;
}

const double kDefaultBounds[] = {0,   5,   10,   25,   50,   75,   100,  250,
                                 500, 750, 1000, 2500, 5000, 7500, 10000};

// Metric proto fields (opentelemetry.proto.metrics.v1).
namespace mf {
constexpr uint32_t kName = 1, kDescription = 2, kUnit = 3, kGauge = 5, kSum = 7, kHistogram = 9,
                   kExpHistogram = 10;
constexpr uint32_t kDataPoints = 1, kTemporality = 2, kMonotonic = 3;
constexpr uint32_t kNumStart = 2, kNumTime = 3, kNumDouble = 4, kNumInt = 6, kNumAttrs = 7;
constexpr uint32_t kHistStart = 2, kHistTime = 3, kHistCount = 4, kHistSum = 5, kHistBuckets = 6,
                   kHistBounds = 7, kHistAttrs = 9, kHistMin = 11, kHistMax = 12;
}  // namespace mf

bool valid_name(otel_str n) {
  if (n.len == 0 || n.len > 255 || !n.ptr) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!alpha(n.ptr[0])) return false;
  for (size_t i = 1; i < n.len; i++) {
    char c = n.ptr[i];
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '_' && c != '.' && c != '-' && c != '/')
      return false;
  }
  return true;
}

bool same_name(const std::string &a, otel_str b) {
  if (a.size() != b.len) return false;
  for (size_t i = 0; i < b.len; i++)
    if (tolower(static_cast<unsigned char>(a[i])) != tolower(static_cast<unsigned char>(b.ptr[i])))
      return false;
  return true;
}

}  // namespace

enum class Agg { kSum, kGauge, kHistogram, kExpHistogram };

struct alignas(64) Stripe {
  std::atomic<int64_t> i{0};
  std::atomic<uint64_t> d{0};  // a double's bits
};

// A thread's own running total in one sum series. Only the thread that holds the slot writes it,
// with a plain load and store (no lock prefix); the collector reads it and reports the difference
// from what it saw last time.
struct alignas(64) SumCell {
  std::atomic<uint64_t> i{0};  // int64 running sum (wraps like the int64 it is)
  std::atomic<uint64_t> d{0};  // double running sum's bits
  uint64_t seen_i = 0;         // collection state (Meters::collect_mu_)
  double seen_d = 0;
};
struct CellChunk {
  SumCell cells[kCellsPerChunk];
};

// One cache line of histogram counters; a stripe's histogram is a few of them:
// [count, sum, min, max, bucket 0, bucket 1, ...].
struct alignas(64) HistLine {
  std::atomic<uint64_t> v[8];
};

// One attribute of a series' fast key, as a caller passes it (key, string and bytes payloads point
// into the FastKey's own block).
struct FastAttr {
  uint64_t hash;  // hash_attr
  int32_t type;
  uint32_t key_len;
  const char *key;
  const char *str;  // strings and bytes (never NULL for them)
  uint64_t bits;    // strings and bytes: the length; bool (0 or 1), int and double: the value
};

// The attribute set of a series in the form the fast lookup compares callers' attributes with:
// one block (this header, n FastAttr, then the keys' and strings' bytes), written once before it
// is published in the fast table and never changed. The table holds these, so that a lookup reads
// the hash and the attributes without going through the series.
struct FastKey {
  uint64_t hash;  // hash_combine of the attributes' hashes
  uint32_t n;
  Series *series;
  FastAttr *attrs() { return reinterpret_cast<FastAttr *>(this + 1); }
  const FastAttr *attrs() const { return reinterpret_cast<const FastAttr *>(this + 1); }
};
static_assert(sizeof(FastKey) % alignof(FastAttr) == 0, "FastAttr follows FastKey");

struct Series {
  Instrument *inst = nullptr;
  std::string key;  // canonical attributes: KeyValue messages (field 1), sorted by key
  uint64_t hash = 0;
  bool is_overflow = false;          // the cardinality limit's overflow series
  FastKey *fast = nullptr;           // its key in the instrument's fast table (Instrument::mu)
  std::atomic<bool> in_fast{false};  // true once it is there
  uint64_t start_ns = 0;
  // Sums: each thread adds to its own cell (by thread slot; chunks allocated on first use), or to
  // `shared` when it has no slot.
  std::atomic<CellChunk *> chunks[kSlots / kCellsPerChunk] = {};
  Stripe shared;
  std::unique_ptr<HistLine[]> hist;  // kStripes * lines_per_stripe
  struct Exp {  // base-2 exponential histogram: one lock per series (it rescales as it goes)
    SpinLock mu;
    ExpHistogram current, cumulative;
  };
  std::unique_ptr<Exp> exp;
  // gauges and observations: the last value and a sequence number of writes
  std::atomic<uint64_t> last{0};
  std::atomic<uint64_t> seq{0};
  // collection state, guarded by Meters::collect_mu_
  int64_t cum_i = 0;
  double cum_d = 0, cum_sum = 0, cum_min = 0, cum_max = 0;
  uint64_t cum_count = 0, seen_seq = 0, prev_obs = 0, delta_start = 0;
  bool have_prev_obs = false;
  std::vector<uint64_t> cum_buckets;

  Series() = default;
  Series(const Series &) = delete;
  Series &operator=(const Series &) = delete;
  ~Series() {
    for (auto &c : chunks) delete c.load(std::memory_order_relaxed);
    ::operator delete(fast);
  }
};

class Instrument {
 public:
  const Scope *scope = nullptr;
  Engine *engine = nullptr;  // scope->engine
  int32_t kind = 0, number = 0;
  std::string name, unit, description;
  Agg agg = Agg::kSum;
  Temporality temporality = Temporality::kCumulative;
  bool monotonic = false, noop = false;
  std::vector<double> bounds;
  size_t hist_lines = 0;  // HistLines per stripe
  otel_observe_fn callback = nullptr;
  void *user = nullptr;
  uint32_t limit = 2000;
  size_t mask = 0;
  std::unique_ptr<std::atomic<Series *>[]> table;
  // The fast table: series by the order-independent hash of the attributes as callers pass them
  // (FastKey). Holds the series whose attribute set is plain (see plain_attrs); same size as table.
  std::unique_ptr<std::atomic<FastKey *>[]> fast;
  Mutex mu;  // guards creating series and filling the fast table
  std::vector<std::unique_ptr<Series>> series;
  std::atomic<Series *> empty{nullptr};
  Series *overflow = nullptr;
  uint64_t created_ns = 0;   // observable series start here (they have no first measurement)
  std::string id_name;       // the name it was created with (identity; a view may rename)
  bool filter_keys = false;  // a view keeps only these attribute keys
  std::vector<std::string> keep_keys;
  uint64_t obs_seq = 0;  // the collection in progress (observables; Meters::collect_mu_)

  Series *make_series(std::string key, uint64_t hash) {
    auto s = std::make_unique<Series>();
    s->inst = this;
    s->key = std::move(key);
    s->hash = hash;
    s->start_ns = s->delta_start = callback ? created_ns : now_unix_nano();
    if (agg == Agg::kExpHistogram) s->exp.reset(new Series::Exp);
    if (agg == Agg::kHistogram) {
      s->hist.reset(new HistLine[kStripes * hist_lines]());
      for (int st = 0; st < kStripes; st++) {
        std::atomic<uint64_t> *h = &s->hist[st * hist_lines].v[0];
        h[2].store(to_bits(std::numeric_limits<double>::infinity()));
        h[3].store(to_bits(-std::numeric_limits<double>::infinity()));
      }
      s->cum_buckets.assign(bounds.size() + 1, 0);
      s->cum_min = std::numeric_limits<double>::infinity();
      s->cum_max = -std::numeric_limits<double>::infinity();
    }
    Series *raw = s.get();
    series.push_back(std::move(s));
    return raw;
  }

  // The series of a canonical attribute set: lock-free when it exists.
  Series *find(const uint8_t *key, size_t n) {
    if (n == 0) {
      Series *e = empty.load(std::memory_order_acquire);
      if (OTB_LIKELY(e)) return e;
    }
    const uint64_t h = hash_bytes(key, n);
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      Series *s = table[i].load(std::memory_order_acquire);
      if (!s) break;
      if (s->hash == h && s->key.size() == n && (n == 0 || std::memcmp(s->key.data(), key, n) == 0))
        return s;
    }
    std::lock_guard<Mutex> lk(mu);
    size_t i = h & mask;
    for (;; i = (i + 1) & mask) {
      Series *s = table[i].load(std::memory_order_relaxed);
      if (!s) break;
      if (s->hash == h && s->key.size() == n && (n == 0 || std::memcmp(s->key.data(), key, n) == 0))
        return s;
    }
    if (series.size() >= limit) {
      // Past the cardinality limit: everything goes to one overflow series (spec).
      if (!overflow) {
        Buf b;
        size_t m = msg_begin(b, 1);
        put_string(b, 1, otel_cstr("otel.metric.overflow"));
        otel_value t = otel_value_bool(1);
        put_any_value(b, 2, t, SIZE_MAX);
        msg_end(b, m);
        overflow = make_series(std::string(reinterpret_cast<const char *>(b.data()), b.size()), 0);
        overflow->is_overflow = true;
      }
      return overflow;
    }
    Series *s = make_series(std::string(reinterpret_cast<const char *>(key), n), h);
    table[i].store(s, std::memory_order_release);
    if (n == 0) empty.store(s, std::memory_order_release);
    return s;
  }

  // The series of a plain attribute set (attrs[k] hashed to ha[k], combined to h) in the fast
  // table, or nullptr: lock-free, no encoding, no sorting. Each stored attribute must match exactly
  // one of the caller's, so a repeated key never matches.
  OTB_ALWAYS_INLINE Series *find_fast(const otel_attr *attrs, const uint64_t *ha, size_t n,
                                      uint64_t h) const {
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      const FastKey *fk = fast[i].load(std::memory_order_acquire);
      if (OTB_UNLIKELY(!fk)) return nullptr;
      if (fk->hash == h && fk->n == n && fast_equal(*fk, attrs, ha, n)) return fk->series;
    }
  }

  // One caller attribute (hashed to h) against one stored attribute.
  OTB_ALWAYS_INLINE static bool attr_equal(const FastAttr &f, const otel_attr &a, uint64_t h) {
    if (f.hash != h || f.type != a.value.type || f.key_len != a.key.len ||
        !same_bytes(f.key, a.key.ptr, a.key.len))
      return false;
    if (OTB_LIKELY(f.str != nullptr))  // a string or bytes
      return f.bits == a.value.u.str.len && same_bytes(f.str, a.value.u.str.ptr, f.bits);
    switch (f.type) {
      case OTEL_VALUE_INT:
        return f.bits == static_cast<uint64_t>(a.value.u.i64);
      case OTEL_VALUE_DOUBLE: {
        uint64_t bits;
        std::memcpy(&bits, &a.value.u.f64, 8);
        return f.bits == bits;
      }
      case OTEL_VALUE_BOOL:
        return f.bits == (a.value.u.boolean ? 1u : 0u);
      default:  // OTEL_VALUE_EMPTY
        return true;
    }
  }

  // True when the caller's n attributes are the stored n, each stored one matched exactly once.
  // Callers mostly pass a set in the same order each time, which is checked first.
  OTB_ALWAYS_INLINE static bool fast_equal(const FastKey &fk, const otel_attr *attrs,
                                           const uint64_t *ha, size_t n) {
    for (size_t k = 0; k < n; k++)
      if (OTB_UNLIKELY(!attr_equal(fk.attrs()[k], attrs[k], ha[k])))
        return fast_equal_any_order(fk, attrs, ha, n);
    return true;
  }
  OTB_NOINLINE static bool fast_equal_any_order(const FastKey &fk, const otel_attr *attrs,
                                                const uint64_t *ha, size_t n) {
    uint32_t used = 0;  // stored attributes already matched (n <= kFastMax <= 32)
    for (size_t k = 0; k < n; k++) {
      size_t j = 0;
      for (;; j++) {
        if (j == n) return false;
        if (!((used >> j) & 1) && attr_equal(fk.attrs()[j], attrs[k], ha[k])) break;
      }
      used |= 1u << j;
    }
    return true;
  }

  // Enters s, found or created by the exact path for the plain attribute set (attrs, n) whose
  // hashes are ha (combined: h), in the fast table. Allocates: only once per series.
  void register_fast(Series *s, const otel_attr *attrs, const uint64_t *ha, size_t n, uint64_t h) {
    std::lock_guard<Mutex> lk(mu);
    if (s->in_fast.load(std::memory_order_relaxed)) return;
    size_t total = 0;
    for (size_t k = 0; k < n; k++) {
      total += attrs[k].key.len;
      if (attrs[k].value.type == OTEL_VALUE_STRING || attrs[k].value.type == OTEL_VALUE_BYTES)
        total += attrs[k].value.u.str.len;
    }
    auto *fk = static_cast<FastKey *>(
        ::operator new(sizeof(FastKey) + n * sizeof(FastAttr) + total, std::nothrow));
    if (!fk) return;  // not entered: the exact path keeps finding the series
    fk->hash = h;
    fk->n = static_cast<uint32_t>(n);
    fk->series = s;
    char *w = reinterpret_cast<char *>(fk->attrs() + n);
    for (size_t k = 0; k < n; k++) {
      const otel_attr &a = attrs[k];
      FastAttr &f = fk->attrs()[k];
      f.hash = ha[k];
      f.type = a.value.type;
      f.key_len = static_cast<uint32_t>(a.key.len);
      f.key = w;
      std::memcpy(w, a.key.ptr, a.key.len);
      w += a.key.len;
      f.str = nullptr;
      f.bits = 0;
      switch (f.type) {
        case OTEL_VALUE_STRING:
        case OTEL_VALUE_BYTES:
          f.str = w;
          f.bits = a.value.u.str.len;
          if (f.bits) std::memcpy(w, a.value.u.str.ptr, f.bits);
          w += f.bits;
          break;
        case OTEL_VALUE_INT:
          f.bits = static_cast<uint64_t>(a.value.u.i64);
          break;
        case OTEL_VALUE_DOUBLE:
          std::memcpy(&f.bits, &a.value.u.f64, 8);
          break;
        case OTEL_VALUE_BOOL:
          f.bits = a.value.u.boolean ? 1 : 0;
          break;
        default:
          break;
      }
    }
    s->fast = fk;
    size_t i = h & mask;
    while (fast[i].load(std::memory_order_relaxed)) i = (i + 1) & mask;
    fast[i].store(fk, std::memory_order_release);
    s->in_fast.store(true, std::memory_order_relaxed);
  }
};

namespace {

// The canonical form of an attribute set: sorted by key, last value wins, encoded as KeyValue
// messages (field 1). Attribute limits: OTEL_ATTRIBUTE_COUNT_LIMIT / _VALUE_LENGTH_LIMIT.
thread_local Buf t_key;
thread_local std::vector<otel_attr> t_sorted;

int32_t canonical(const otel_attr *attrs, size_t n, const AttrLimits &lim, Buf &out) {
  out.clear();
  if (n == 0) return OTEL_OK;
  if (!attrs) return OTEL_E_INVALID_ARG;
  t_sorted.assign(attrs, attrs + n);
  // Stable, so that with a repeated key the later one comes later; put_attributes keeps the
  // first position and the last value.
  // Insertion sort: attribute sets are small, and std::stable_sort would allocate a temporary
  // buffer on every measurement.
  auto less = [](const otel_attr &a, const otel_attr &b) {
    if (OTB_UNLIKELY(!a.key.ptr || !b.key.ptr))
      return a.key.len < b.key.len;  // invalid: put_attributes says so
    size_t m = std::min(a.key.len, b.key.len);
    int c = m ? std::memcmp(a.key.ptr, b.key.ptr, m) : 0;
    return c != 0 ? c < 0 : a.key.len < b.key.len;
  };
  for (size_t i = 1; i < t_sorted.size(); i++) {
    otel_attr x = t_sorted[i];
    size_t j = i;
    for (; j > 0 && less(x, t_sorted[j - 1]); j--) t_sorted[j] = t_sorted[j - 1];
    t_sorted[j] = x;
  }
  uint32_t dropped = 0;
  return put_attributes(out, 1, t_sorted.data(), t_sorted.size(), lim, &dropped);
}

// A view's attribute allowlist: the kept attributes of (attrs, n), in a thread-local array.
thread_local std::vector<otel_attr> t_kept;
void keep_only(const Instrument &inst, const otel_attr **attrs, size_t *n) {
  t_kept.clear();
  for (size_t i = 0; i < *n; i++) {
    const otel_str &k = (*attrs)[i].key;
    for (const std::string &keep : inst.keep_keys)
      if (keep.size() == k.len && (k.len == 0 || std::memcmp(keep.data(), k.ptr, k.len) == 0)) {
        t_kept.push_back((*attrs)[i]);
        break;
      }
  }
  *attrs = t_kept.data();
  *n = t_kept.size();
}

// Re-tags the KeyValue messages of a series key as `field` of a data point.
void put_key_as(Buf &b, const std::string &key, uint32_t field) {
  PbReader r(reinterpret_cast<const uint8_t *>(key.data()), key.size());
  PbField f;
  while (r.next(&f))
    if (f.wt == 2) put_bytes(b, field, f.data, f.len);
}

AttrLimits g_metric_limits;

}  // namespace

Instrument *Meters::noop() {
  static Instrument *n = [] {  // leaked: outlives every engine
    auto *i = new Instrument;
    i->noop = true;
    return i;
  }();
  return n;
}

Meters::Meters(const Settings &s, Pipeline *pipe) : s_(s), pipe_(pipe) {
  cumulative_only_ = s.metrics.exporter == "prometheus";
  g_metric_limits.count = s.attr_count_limit;
  g_metric_limits.value_chars = s.attr_value_chars;
  last_collect_ = now_unix_nano();
}

Meters::~Meters() = default;

int32_t Meters::create(const Scope *scope, int32_t kind, int32_t number, otel_str name,
                       otel_str unit, otel_str description, const double *bounds, size_t n_bounds,
                       otel_observe_fn cb, void *user, Instrument **out) {
  if (kind < OTEL_INSTRUMENT_COUNTER || kind > OTEL_INSTRUMENT_OBSERVABLE_GAUGE)
    return OTEL_E_INVALID_ARG;
  if (number != OTEL_NUMBER_INT && number != OTEL_NUMBER_DOUBLE) return OTEL_E_INVALID_ARG;
  if (!valid_name(name) || !str_ok(unit) || !str_ok(description) || (n_bounds && !bounds))
    return OTEL_E_INVALID_ARG;
  const bool observable = kind >= OTEL_INSTRUMENT_OBSERVABLE_COUNTER;
  if (observable != (cb != nullptr)) return OTEL_E_INVALID_ARG;
  for (size_t i = 1; i < n_bounds; i++)
    if (!(bounds[i] > bounds[i - 1])) return OTEL_E_INVALID_ARG;
  for (size_t i = 0; i < n_bounds; i++)
    if (!std::isfinite(bounds[i])) return OTEL_E_INVALID_ARG;
  std::string unit_s = utf8_repaired(unit);
  std::lock_guard<Mutex> lk(mu_);
  for (auto &inst : instruments_) {
    if (inst->scope != scope || !same_name(inst->id_name, name)) continue;
    if (inst->kind == kind && inst->number == number && inst->unit == unit_s && !observable) {
      *out = inst.get();  // the same instrument
      return OTEL_OK;
    }
    diag(OTEL_DIAG_WARN,
         "instrument '%.*s' registered again with a different kind, number type or unit: "
         "both are exported (duplicate instrument registration)",
         static_cast<int>(name.len), name.ptr);
    break;
  }
  auto inst = std::make_unique<Instrument>();
  inst->scope = scope;
  inst->engine = scope->engine;
  inst->kind = kind;
  inst->number = number;
  inst->name.assign(name.ptr, name.len);
  inst->id_name = inst->name;
  inst->unit = unit_s;
  inst->description = utf8_repaired(description);
  inst->callback = cb;
  inst->user = user;
  inst->created_ns = now_unix_nano();
  inst->limit = s_.metrics_cardinality_limit;
  // The first matching view, if any: drop, rename, describe, bucket, filter attributes.
  const ViewSpec *view = nullptr;
  for (const ViewSpec &v : s_.views)
    if (view_matches(v, inst->name)) {
      view = &v;
      break;
    }
  if (view && view->aggregation == OTEL_AGGREGATION_DROP) {
    *out = noop();  // measurements are accepted and dropped
    return OTEL_OK;
  }
  if (view) {
    if (!view->name.empty()) inst->name = view->name;
    if (!view->description.empty()) inst->description = view->description;
    inst->filter_keys = view->filter_keys;
    inst->keep_keys = view->keys;
    if (view->aggregation == OTEL_AGGREGATION_EXPLICIT_BUCKETS &&
        kind == OTEL_INSTRUMENT_HISTOGRAM) {
      bounds = view->bounds.data();
      n_bounds = view->bounds.size();
    }
  }
  switch (kind) {
    case OTEL_INSTRUMENT_COUNTER:
    case OTEL_INSTRUMENT_OBSERVABLE_COUNTER:
      inst->agg = Agg::kSum;
      inst->monotonic = true;
      break;
    case OTEL_INSTRUMENT_UP_DOWN_COUNTER:
    case OTEL_INSTRUMENT_OBSERVABLE_UP_DOWN_COUNTER:
      inst->agg = Agg::kSum;
      break;
    case OTEL_INSTRUMENT_HISTOGRAM:
      // OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION, unless a view sets buckets.
      inst->agg = s_.metrics_exponential_histograms &&
                          !(view && view->aggregation == OTEL_AGGREGATION_EXPLICIT_BUCKETS)
                      ? Agg::kExpHistogram
                      : Agg::kHistogram;
      break;
    default:
      inst->agg = Agg::kGauge;
  }
  // Temporality per OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE; always cumulative for a
  // pull exporter, whose every scrape must see the totals.
  const std::string &pref = s_.metrics_temporality;
  bool delta = false;
  if (cumulative_only_) {
    delta = false;
  } else if (pref == "delta") {
    delta = kind == OTEL_INSTRUMENT_COUNTER || kind == OTEL_INSTRUMENT_OBSERVABLE_COUNTER ||
            kind == OTEL_INSTRUMENT_HISTOGRAM;
  } else if (pref == "lowmemory") {
    delta = kind == OTEL_INSTRUMENT_COUNTER || kind == OTEL_INSTRUMENT_HISTOGRAM;
  }
  inst->temporality = delta ? Temporality::kDelta : Temporality::kCumulative;
  if (inst->agg == Agg::kHistogram) {
    if (n_bounds)
      inst->bounds.assign(bounds, bounds + n_bounds);
    else
      inst->bounds.assign(std::begin(kDefaultBounds), std::end(kDefaultBounds));
    inst->hist_lines = (4 + inst->bounds.size() + 1 + 7) / 8;
  }
  size_t cap = 16;
  while (cap < 2 * (static_cast<size_t>(inst->limit) + 2)) cap *= 2;
  inst->mask = cap - 1;
  inst->table.reset(new std::atomic<Series *>[cap]());
  inst->fast.reset(new std::atomic<FastKey *>[cap]());
  *out = inst.get();
  instruments_.push_back(std::move(inst));
  return OTEL_OK;
}

namespace {
// A measurement the instrument refuses: NaN, or a negative value for a counter.
inline bool rejected(const Instrument *inst, bool is_double, int64_t i, double d) {
  if (is_double && std::isnan(d)) return true;
  return inst->monotonic && (is_double ? d < 0 : i < 0);
}
// Starts the worker (periodic collection) on first use, and again in a forked child.
inline void ensure_worker(const Instrument *inst) {
  Engine *e = inst->engine;
  if (OTB_UNLIKELY(!e->worker_running())) e->ensure_worker();
}
}  // namespace

namespace {
OTB_NOINLINE SumCell *new_cell(Series *s, int slot) {
  auto *c = new (std::nothrow) CellChunk;
  if (!c) return nullptr;  // the shared atomic takes this measurement
  CellChunk *expected = nullptr;
  std::atomic<CellChunk *> &at = s->chunks[slot / kCellsPerChunk];
  if (!at.compare_exchange_strong(expected, c, std::memory_order_acq_rel,
                                  std::memory_order_acquire)) {
    delete c;  // a thread of the same chunk was first
    c = expected;
  }
  return &c->cells[slot % kCellsPerChunk];
}

// The calling thread's cell in sum series s, or nullptr when it has no slot.
OTB_ALWAYS_INLINE SumCell *my_cell(Series *s) {
  int slot = t_slot;
  if (OTB_UNLIKELY(slot < 0)) {
    slot = claim_slot();
    if (slot < 0) return nullptr;
  }
  CellChunk *c = s->chunks[slot / kCellsPerChunk].load(std::memory_order_acquire);
  if (OTB_UNLIKELY(!c)) return new_cell(s, slot);
  return &c->cells[slot % kCellsPerChunk];
}

// Adds a measurement the instrument accepted to series s: everything but a sum's own cell.
OTB_NOINLINE int32_t aggregate_rest(Instrument *inst, Series *s, bool is_double, int64_t i,
                                    double d) {
  const double v = is_double ? d : static_cast<double>(i);
  switch (inst->agg) {
    case Agg::kSum: {  // a thread without a slot (or whose cell could not be allocated)
      Stripe &st = s->shared;
      if (inst->number == OTEL_NUMBER_INT)
        st.i.fetch_add(is_double ? static_cast<int64_t>(d) : i, std::memory_order_relaxed);
      else
        add_double(st.d, v);
      return OTEL_OK;
    }
    case Agg::kGauge:
      s->last.store(inst->number == OTEL_NUMBER_INT
                        ? static_cast<uint64_t>(is_double ? static_cast<int64_t>(d) : i)
                        : to_bits(v),
                    std::memory_order_relaxed);
      s->seq.fetch_add(1, std::memory_order_release);
      return OTEL_OK;
    case Agg::kExpHistogram: {
      std::lock_guard<SpinLock> lk(s->exp->mu);
      return s->exp->current.record(v) ? OTEL_OK : OTEL_E_INVALID_ARG;  // no infinities
    }
    case Agg::kHistogram: {
      std::atomic<uint64_t> *h = &s->hist[my_stripe() * inst->hist_lines].v[0];
      size_t b = static_cast<size_t>(std::lower_bound(inst->bounds.begin(), inst->bounds.end(), v) -
                                     inst->bounds.begin());
      h[4 + b].fetch_add(1, std::memory_order_relaxed);
      add_double(h[1], v);
      bound_double(h[2], v, [](double a, double b2) { return a < b2; });
      bound_double(h[3], v, [](double a, double b2) { return a > b2; });
      h[0].fetch_add(1, std::memory_order_release);
      return OTEL_OK;
    }
  }
  return OTEL_OK;
}

// Adds a measurement the instrument accepted to series s. A sum goes to the calling thread's cell:
// the owner's plain load and store, no lock prefix.
OTB_ALWAYS_INLINE int32_t aggregate(Instrument *inst, Series *s, bool is_double, int64_t i,
                                    double d) {
  ensure_worker(inst);
  if (OTB_LIKELY(inst->agg == Agg::kSum)) {
    if (SumCell *c = my_cell(s)) {
      if (inst->number == OTEL_NUMBER_INT)
        c->i.store(c->i.load(std::memory_order_relaxed) +
                       static_cast<uint64_t>(is_double ? static_cast<int64_t>(d) : i),
                   std::memory_order_relaxed);
      else
        c->d.store(to_bits(from_bits(c->d.load(std::memory_order_relaxed)) +
                           (is_double ? d : static_cast<double>(i))),
                   std::memory_order_relaxed);
      return OTEL_OK;
    }
  }
  return aggregate_rest(inst, s, is_double, i, d);
}

// The fast lookup handles up to this many attributes.
constexpr size_t kFastMax = 16;

// A plain attribute set (each attribute passed hash_attr) is one that the canonical form keeps as
// it is: at most the count limit of attributes, keys valid UTF-8 and unlike each other, strings
// valid UTF-8 and within the value length limit. Its series can be found by the fast lookup.
bool plain_attrs(const otel_attr *attrs, size_t n, const AttrLimits &lim) {
  if (n > lim.count || n > kFastMax) return false;
  auto valid = [](otel_str s) {
    Utf8Scan sc = utf8_scan(s.ptr, s.len, SIZE_MAX);
    return sc.valid && sc.in_len == s.len;
  };
  for (size_t k = 0; k < n; k++) {
    const otel_attr &a = attrs[k];
    if (!valid(a.key)) return false;
    if (a.value.type == OTEL_VALUE_STRING &&
        (a.value.u.str.len > lim.value_chars || !valid(a.value.u.str)))
      return false;
    for (size_t j = 0; j < k; j++)
      if (attrs[j].key.len == a.key.len && std::memcmp(attrs[j].key.ptr, a.key.ptr, a.key.len) == 0)
        return false;
  }
  return true;
}
}  // namespace

int32_t series_record(Series *s, bool is_double, int64_t i, double d) {
  Instrument *inst = s->inst;
  if (OTB_UNLIKELY(inst->noop)) return OTEL_OK;
  if (OTB_UNLIKELY(inst->engine->is_shut_down())) return OTEL_E_SHUTDOWN;
  if (OTB_UNLIKELY(rejected(inst, is_double, i, d))) return OTEL_E_INVALID_ARG;
  return aggregate(inst, s, is_double, i, d);
}

int32_t instrument_record(Instrument *inst, bool is_double, int64_t i, double d,
                          const otel_attr *attrs, size_t n) {
  if (inst->noop) return OTEL_OK;
  if (OTB_UNLIKELY(inst->engine->is_shut_down())) return OTEL_E_SHUTDOWN;
  if (inst->callback) return OTEL_E_INVALID_ARG;  // observable: values come from its callback
  if (OTB_UNLIKELY(rejected(inst, is_double, i, d))) return OTEL_E_INVALID_ARG;  // no series for it
  if (OTB_UNLIKELY(inst->filter_keys)) keep_only(*inst, &attrs, &n);
  Series *s;
  if (n == 0) {
    s = inst->find(nullptr, 0);
  } else {
    // The fast lookup: the caller's attributes hashed one by one (no encoding, no sorting) and
    // compared with the series' fast key. Whatever it does not find takes the exact path below,
    // which alone creates series; it enters plain sets in the fast table for next time.
    uint64_t ha[kFastMax], h = 0;
    bool hashed = false;
    if (OTB_LIKELY(n <= kFastMax)) {
      uint64_t sum = 0;
      size_t k = 0;
      for (; k < n && hash_attr(attrs[k], &ha[k]); k++) sum += ha[k];
      if (OTB_LIKELY(k == n)) {
        hashed = true;
        h = hash_combine(sum, n);
        s = inst->find_fast(attrs, ha, n, h);
        if (OTB_LIKELY(s != nullptr)) return aggregate(inst, s, is_double, i, d);
      }
    }
    int32_t st = canonical(attrs, n, g_metric_limits, t_key);
    if (st != OTEL_OK) return st;
    s = inst->find(t_key.data(), t_key.size());
    if (hashed && !s->is_overflow && !s->in_fast.load(std::memory_order_relaxed) &&
        plain_attrs(attrs, n, g_metric_limits))
      inst->register_fast(s, attrs, ha, n, h);
  }
  return aggregate(inst, s, is_double, i, d);
}

Series *instrument_find_fast(Instrument *inst, const otel_attr *attrs, size_t n) {
  if (inst->noop || inst->callback) return nullptr;
  if (inst->filter_keys) keep_only(*inst, &attrs, &n);
  if (n == 0 || n > kFastMax) return nullptr;
  uint64_t ha[kFastMax], sum = 0;
  for (size_t k = 0; k < n; k++) {
    if (!hash_attr(attrs[k], &ha[k])) return nullptr;
    sum += ha[k];
  }
  return inst->find_fast(attrs, ha, n, hash_combine(sum, n));
}

int32_t instrument_bind(Instrument *inst, const otel_attr *attrs, size_t n, Series **out) {
  if (inst->noop) {  // a no-op series of the no-op instrument
    static Series *noop = [] {
      auto *s = new Series;
      s->inst = Meters::noop();
      return s;
    }();
    *out = noop;
    return OTEL_OK;
  }
  if (inst->callback) return OTEL_E_INVALID_ARG;
  if (inst->filter_keys) keep_only(*inst, &attrs, &n);
  int32_t st = canonical(attrs, n, g_metric_limits, t_key);
  if (st != OTEL_OK) return st;
  *out = inst->find(t_key.data(), t_key.size());
  return OTEL_OK;
}

struct ObserverState {
  Instrument *inst;
};

int32_t observer_record(otel_observer *obs, bool is_double, int64_t i, double d,
                        const otel_attr *attrs, size_t n) {
  if (!obs) return OTEL_E_INVALID_ARG;
  Instrument *inst = reinterpret_cast<ObserverState *>(obs)->inst;
  if (rejected(inst, is_double, i, d)) return OTEL_E_INVALID_ARG;
  if (inst->filter_keys) keep_only(*inst, &attrs, &n);
  int32_t st = canonical(attrs, n, g_metric_limits, t_key);
  if (st != OTEL_OK) return st;
  Series *s = inst->find(t_key.data(), t_key.size());
  uint64_t bits = inst->number == OTEL_NUMBER_INT
                      ? static_cast<uint64_t>(is_double ? static_cast<int64_t>(d) : i)
                      : to_bits(is_double ? d : static_cast<double>(i));
  if (s == inst->overflow && inst->agg == Agg::kSum &&
      s->seq.load(std::memory_order_relaxed) == inst->obs_seq) {
    // Several attribute sets past the limit this round: the overflow series is their sum.
    uint64_t prev = s->last.load(std::memory_order_relaxed);
    bits = inst->number == OTEL_NUMBER_INT
               ? static_cast<uint64_t>(static_cast<int64_t>(prev) + static_cast<int64_t>(bits))
               : to_bits(from_bits(prev) + from_bits(bits));
  }
  s->last.store(bits, std::memory_order_relaxed);
  s->seq.store(inst->obs_seq, std::memory_order_relaxed);
  return OTEL_OK;
}

void Meters::collect() {
  if (!pipe_) return;
  Pipeline *p = pipe_;
  collect(
      [p](const Scope *scope, const uint8_t *metric, size_t len) {
        bool wake = false;
        p->push(scope->id, metric, len, &wake);
      },
      p->max_record_bytes());
}

void Meters::atfork_prepare() {
  mu_.lock();
  for (auto &inst : instruments_) inst->mu.lock();
}

void Meters::atfork_parent() {
  for (auto &inst : instruments_) inst->mu.unlock();
  mu_.unlock();
}

void Meters::atfork_child() {
  for (auto &inst : instruments_) inst->mu.unlock();
  mu_.unlock();
  new (&collect_mu_) std::mutex();  // possibly held by the parent's collecting thread
}

void Meters::collect(const MetricSink &sink, size_t max_record_bytes) {
  std::lock_guard<std::mutex> collecting(collect_mu_);
  uint64_t now;
  std::vector<Instrument *> list;
  {
    std::lock_guard<Mutex> lk(mu_);
    for (auto &i : instruments_) list.push_back(i.get());
  }
  // Observable instruments first: their callbacks report this round's data. The collection's
  // one time is taken after them, so a series a callback just created never starts after it.
  for (Instrument *inst : list) {
    if (!inst->callback) continue;
    inst->obs_seq++;
    ObserverState os{inst};
    inst->callback(reinterpret_cast<otel_observer *>(&os), inst->user);
  }
  now = now_unix_nano();
  Buf b;
  for (Instrument *inst : list) {
    std::vector<Series *> series;
    {
      std::lock_guard<Mutex> lk(inst->mu);
      for (auto &s : inst->series) series.push_back(s.get());
    }
    b.clear();
    b.set_limit(max_record_bytes);
    put_string(b, mf::kName, otel_str{inst->name.data(), inst->name.size()});
    if (!inst->description.empty())
      put_string(b, mf::kDescription, otel_str{inst->description.data(), inst->description.size()});
    if (!inst->unit.empty())
      put_string(b, mf::kUnit, otel_str{inst->unit.data(), inst->unit.size()});
    const bool delta = inst->temporality == Temporality::kDelta;
    const bool is_int = inst->number == OTEL_NUMBER_INT;
    const uint32_t data_field = inst->agg == Agg::kSum         ? mf::kSum
                                : inst->agg == Agg::kGauge     ? mf::kGauge
                                : inst->agg == Agg::kHistogram ? mf::kHistogram
                                                               : mf::kExpHistogram;
    size_t data = msg_begin(b, data_field);
    size_t points = 0;
    for (Series *s : series) {
      const uint64_t start = std::min(delta ? s->delta_start : s->start_ns, now);
      if (inst->agg == Agg::kExpHistogram) {
        ExpHistogram delta_h;
        {
          std::lock_guard<SpinLock> lk(s->exp->mu);
          delta_h = s->exp->current;
          s->exp->current.reset();
        }
        const ExpHistogram *report = &delta_h;
        if (!delta) {
          s->exp->cumulative.merge(delta_h);
          report = &s->exp->cumulative;
        }
        if (report->empty()) continue;
        size_t p = msg_begin(b, mf::kDataPoints);
        put_key_as(b, s->key, 1);  // ExponentialHistogramDataPoint.attributes
        put_fixed64(b, 2, start);
        put_fixed64(b, 3, now);
        report->encode_fields(b);
        msg_end(b, p);
        points++;
        s->delta_start = now;
        continue;
      }
      if (inst->agg == Agg::kHistogram) {
        uint64_t count = 0;
        double sum = 0, mn = std::numeric_limits<double>::infinity(), mx = -mn;
        std::vector<uint64_t> buckets(inst->bounds.size() + 1, 0);
        for (int st = 0; st < kStripes; st++) {
          std::atomic<uint64_t> *h = &s->hist[st * inst->hist_lines].v[0];
          // count first: a record in flight is counted now or next time, never lost
          count += h[0].exchange(0, std::memory_order_acquire);
          sum += from_bits(h[1].exchange(to_bits(0.0), std::memory_order_relaxed));
          mn = std::min(mn,
                        from_bits(h[2].exchange(to_bits(std::numeric_limits<double>::infinity()))));
          mx = std::max(
              mx, from_bits(h[3].exchange(to_bits(-std::numeric_limits<double>::infinity()))));
          for (size_t k = 0; k < buckets.size(); k++)
            buckets[k] += h[4 + k].exchange(0, std::memory_order_relaxed);
        }
        if (!delta) {
          s->cum_count += count;
          s->cum_sum += sum;
          s->cum_min = std::min(s->cum_min, mn);
          s->cum_max = std::max(s->cum_max, mx);
          for (size_t k = 0; k < buckets.size(); k++) s->cum_buckets[k] += buckets[k];
          count = s->cum_count;
          sum = s->cum_sum;
          mn = s->cum_min;
          mx = s->cum_max;
          buckets = s->cum_buckets;
        }
        uint64_t total = 0;
        for (uint64_t c : buckets) total += c;
        if (total == 0) continue;  // nothing recorded (in this interval)
        size_t p = msg_begin(b, mf::kDataPoints);
        put_key_as(b, s->key, mf::kHistAttrs);
        put_fixed64(b, mf::kHistStart, start);
        put_fixed64(b, mf::kHistTime, now);
        put_fixed64(b, mf::kHistCount, total);
        put_double(b, mf::kHistSum, sum);
        put_tag(b, mf::kHistBuckets, kLen);
        put_varint(b, buckets.size() * 8);
        for (uint64_t c : buckets) b.append(&c, 8);
        if (!inst->bounds.empty()) {
          put_tag(b, mf::kHistBounds, kLen);
          put_varint(b, inst->bounds.size() * 8);
          for (double x : inst->bounds) b.append(&x, 8);
        }
        // A record in flight during the exchange may have counted its bucket here and its min/max
        // not yet (they then go to the next interval): min and max are optional, so a point
        // without one is sent without both rather than with an infinity.
        if (mn <= mx) {
          put_double(b, mf::kHistMin, mn);
          put_double(b, mf::kHistMax, mx);
        }
        msg_end(b, p);
        points++;
        s->delta_start = now;
        continue;
      }
      bool report = true;
      int64_t vi = 0;
      double vd = 0;
      if (inst->callback) {  // observation: the value reported by this round's callback
        if (s->seq.load(std::memory_order_relaxed) != inst->obs_seq) continue;
        uint64_t bits = s->last.load(std::memory_order_relaxed);
        if (inst->agg == Agg::kSum && delta) {
          uint64_t prev = s->prev_obs;
          bool first = !s->have_prev_obs;
          s->prev_obs = bits;
          s->have_prev_obs = true;
          if (is_int)
            vi = static_cast<int64_t>(bits) - (first ? 0 : static_cast<int64_t>(prev));
          else
            vd = from_bits(bits) - (first ? 0.0 : from_bits(prev));
        } else if (is_int) {
          vi = static_cast<int64_t>(bits);
        } else {
          vd = from_bits(bits);
        }
      } else if (inst->agg == Agg::kGauge) {
        uint64_t seq = s->seq.load(std::memory_order_acquire);
        if (seq == 0 || (delta && seq == s->seen_seq)) continue;
        s->seen_seq = seq;
        uint64_t bits = s->last.load(std::memory_order_relaxed);
        if (is_int)
          vi = static_cast<int64_t>(bits);
        else
          vd = from_bits(bits);
      } else {  // synchronous sum
        int64_t di = 0;
        double dd = 0;
        di += s->shared.i.exchange(0, std::memory_order_relaxed);
        dd += from_bits(s->shared.d.exchange(to_bits(0.0), std::memory_order_relaxed));
        for (auto &chunk : s->chunks) {  // each cell: what it gained since the last collection
          CellChunk *c = chunk.load(std::memory_order_acquire);
          if (!c) continue;
          for (SumCell &cell : c->cells) {
            const uint64_t ci = cell.i.load(std::memory_order_relaxed);
            const double cd = from_bits(cell.d.load(std::memory_order_relaxed));
            di += static_cast<int64_t>(ci - cell.seen_i);
            dd += cd - cell.seen_d;
            cell.seen_i = ci;
            cell.seen_d = cd;
          }
        }
        if (delta) {
          report = is_int ? di != 0 : dd != 0;  // a delta series reports when it changed
          vi = di;
          vd = dd;
        } else {
          s->cum_i += di;
          s->cum_d += dd;
          vi = s->cum_i;
          vd = s->cum_d;
        }
      }
      if (!report) continue;
      size_t p = msg_begin(b, mf::kDataPoints);
      put_key_as(b, s->key, mf::kNumAttrs);
      if (inst->agg != Agg::kGauge) put_fixed64(b, mf::kNumStart, start);
      put_fixed64(b, mf::kNumTime, now);
      if (is_int) {
        put_tag(b, mf::kNumInt, kFixed64);
        b.append(&vi, 8);
      } else {
        put_double(b, mf::kNumDouble, vd);
      }
      msg_end(b, p);
      points++;
      s->delta_start = now;
    }
    if (inst->agg != Agg::kGauge) {
      put_tag(b, mf::kTemporality, kVarint);
      put_varint(b, static_cast<uint64_t>(inst->temporality));
    }
    if (inst->agg == Agg::kSum) {
      put_tag(b, mf::kMonotonic, kVarint);
      b.put(inst->monotonic ? 1 : 0);
    }
    msg_end(b, data);
    if (points == 0) continue;
    if (b.overflow()) {
      if (pipe_)
        pipe_->count(OTEL_STAT_DROPPED_TOO_LARGE);
      else
        diag(OTEL_DIAG_WARN, "metric '%s' dropped: its data points exceed %zu bytes",
             inst->name.c_str(), max_record_bytes);
      continue;
    }
    sink(inst->scope, b.data(), b.size());
  }
  last_collect_ = now;
}

}  // namespace otb
