#include "pipeline.h"

#include <algorithm>
#include <mutex>
#include <new>

#include "encode.h"

namespace otb {
namespace {

constexpr size_t kHdr = 8;  // u32 length, u32 scope id, before each record in the ring
constexpr size_t kInitialRing = 256u << 10;

inline size_t field_size(uint32_t field, size_t len) {
  return tag_size(field) + varint_size(len) + len;
}

// Copies a record into the ring. Records of 16 to 64 bytes (a log record without attributes, a
// small span) with overlapping 16-byte moves instead of a call to memcpy.
inline void copy_record(uint8_t *d, const uint8_t *s, size_t n) {
  struct B16 {
    uint8_t b[16];
  };
  if (n < 16 || n > 64) {
    std::memcpy(d, s, n);
    return;
  }
  B16 a, b;
  std::memcpy(&a, s, 16);
  std::memcpy(&b, s + n - 16, 16);
  if (n > 32) {
    B16 c, e;
    std::memcpy(&c, s + 16, 16);
    std::memcpy(&e, s + n - 32, 16);
    std::memcpy(d + 16, &c, 16);
    std::memcpy(d + n - 32, &e, 16);
  }
  std::memcpy(d, &a, 16);
  std::memcpy(d + n - 16, &b, 16);
}

}  // namespace

Pipeline::Pipeline(Signal signal, const PipelineSettings &s)
    : signal_(signal),
      s_(s),
      max_record_(static_cast<size_t>(std::min<uint64_t>(s.max_queue_bytes, kMaxRequestBytes)) -
                  kHdr) {
  stats_[OTEL_STAT_QUEUE_CAPACITY] = s.max_queue_size;
  stats_[OTEL_STAT_QUEUE_CAPACITY_BYTES] = s.max_queue_bytes;
}

Pipeline::~Pipeline() {
  std::free(ring_);
  std::free(retired_);
}

void Pipeline::ring_write(size_t pos, const void *src, size_t n) {
  size_t first = std::min(n, cap_ - pos);
  std::memcpy(ring_ + pos, src, first);
  if (n > first) std::memcpy(ring_, static_cast<const uint8_t *>(src) + first, n - first);
}

void Pipeline::ring_read(size_t pos, void *dst, size_t n) const {
  size_t first = std::min(n, cap_ - pos);
  std::memcpy(dst, ring_ + pos, first);
  if (n > first) std::memcpy(static_cast<uint8_t *>(dst) + first, ring_, n - first);
}

bool Pipeline::grow(size_t need) {
  size_t limit = static_cast<size_t>(s_.max_queue_bytes);
  size_t cap = std::min(std::max(cap_ ? cap_ * 2 : kInitialRing, need), limit);
  if (cap < need) return false;
  uint8_t *r = static_cast<uint8_t *>(std::malloc(cap));
  if (!r) return false;
  if (used_) ring_read(head_, r, used_);
  if (busy_) {
    retired_ = ring_;  // the worker is still copying from it
    busy_ = 0;
  } else {
    std::free(ring_);
  }
  ring_ = r;
  cap_ = cap;
  head_ = 0;
  return true;
}

void Pipeline::pop_front() {
  uint32_t len;
  ring_read(head_, &len, 4);
  size_t n = kHdr + len;
  head_ = (head_ + n) % cap_;
  used_ -= n;
  count_.store(count_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

int32_t Pipeline::push(uint32_t scope, const uint8_t *rec, size_t len, bool *wake) {
  *wake = false;
  if (OTB_UNLIKELY(len > max_record_)) {
    count(OTEL_STAT_DROPPED_TOO_LARGE);
    return OTEL_E_TOO_LARGE;
  }
  const size_t need = kHdr + len;
  std::lock_guard<SpinLock> lock(mu_);
  if (OTB_UNLIKELY(closed_)) {
    count(OTEL_STAT_DROPPED_SHUTDOWN);
    return OTEL_E_SHUTDOWN;
  }
  uint32_t n = count_.load(std::memory_order_relaxed);
  if (OTB_UNLIKELY(n >= s_.max_queue_size || used_ + need > s_.max_queue_bytes)) {
    if (s_.full_policy == FullPolicy::kDropNewest) {
      count_locked(OTEL_STAT_DROPPED_QUEUE_FULL);
      return OTEL_E_QUEUE_FULL;
    }
    while (count_.load(std::memory_order_relaxed) > 0 &&
           (count_.load(std::memory_order_relaxed) >= s_.max_queue_size ||
            used_ + need > s_.max_queue_bytes)) {
      pop_front();
      count_locked(OTEL_STAT_DROPPED_OLDEST);
    }
  }
  // Physical room: the bytes the worker is still copying out occupy the ring too.
  if (OTB_UNLIKELY(used_ + busy_ + need > cap_) && !grow(used_ + busy_ + need)) {
    // Only when the ring is at its byte cap and a batch is mid-copy, or out of memory.
    count_locked(OTEL_STAT_DROPPED_QUEUE_FULL);
    return cap_ >= s_.max_queue_bytes ? OTEL_E_QUEUE_FULL : OTEL_E_NO_MEMORY;
  }
  size_t tail = head_ + used_;  // no modulo: an integer division on every record
  if (tail >= cap_) tail -= cap_;
  uint32_t hdr[2] = {static_cast<uint32_t>(len), scope};
  if (OTB_LIKELY(tail + need <= cap_)) {  // the usual case: the record does not wrap
    std::memcpy(ring_ + tail, hdr, kHdr);
    copy_record(ring_ + tail + kHdr, rec, len);
  } else {
    ring_write(tail, hdr, kHdr);
    size_t body = tail + kHdr;
    if (body >= cap_) body -= cap_;
    ring_write(body, rec, len);
  }
  used_ += need;
  n = count_.load(std::memory_order_relaxed) + 1;
  count_.store(n, std::memory_order_relaxed);
  used_bytes_.store(used_, std::memory_order_relaxed);
  count_locked(OTEL_STAT_ACCEPTED);
  *wake = n == s_.max_export_batch_size;
  return OTEL_OK;
}

size_t Pipeline::take(Batch &out, size_t max) {
  // Under the lock: find the records and reserve their bytes. The copy itself runs unlocked, so
  // producers are held up for a header walk, not for a batch-sized memcpy.
  uint8_t *src;
  size_t src_cap, from, total = 0, n;
  {
    std::lock_guard<SpinLock> lock(mu_);
    n = std::min<size_t>(count_.load(std::memory_order_relaxed), max);
    if (n == 0) return 0;
    size_t pos = head_, base = out.bytes.size();
    for (size_t i = 0; i < n; i++) {
      uint32_t hdr[2];
      ring_read(pos, hdr, kHdr);
      out.entries.push_back(BatchEntry{hdr[1], hdr[0], base + total + kHdr});
      total += kHdr + hdr[0];
      pos = (pos + kHdr + hdr[0]) % cap_;
    }
    if (!out.bytes.reserve(total)) {  // out of memory: leave the records queued
      out.entries.resize(out.entries.size() - n);
      return 0;
    }
    src = ring_;
    src_cap = cap_;
    from = head_;
    head_ = (head_ + total) % cap_;
    used_ -= total;
    busy_ = total;
    count_.store(count_.load(std::memory_order_relaxed) - static_cast<uint32_t>(n),
                 std::memory_order_relaxed);
    used_bytes_.store(used_, std::memory_order_relaxed);
    count(OTEL_STAT_IN_FLIGHT, n);  // with the queued count, so a stats reader never misses them
  }
  size_t first = std::min(total, src_cap - from);
  std::memcpy(out.bytes.tail(), src + from, first);
  if (total > first) std::memcpy(out.bytes.tail() + first, src, total - first);
  out.bytes.advance(total);
  {
    std::lock_guard<SpinLock> lock(mu_);
    busy_ = 0;
    std::free(retired_);
    retired_ = nullptr;
  }
  return n;
}

void Pipeline::close() {
  std::lock_guard<SpinLock> lock(mu_);
  closed_ = true;
  uint32_t n = count_.load(std::memory_order_relaxed);
  count(OTEL_STAT_DROPPED_SHUTDOWN, n);
  count_.store(0, std::memory_order_relaxed);
  head_ = used_ = 0;
  used_bytes_.store(0, std::memory_order_relaxed);
}

void Pipeline::reset_after_fork() {
  count_.store(0, std::memory_order_relaxed);
  head_ = used_ = busy_ = 0;
  retired_ = nullptr;  // the parent's worker may have been copying from it: never touch it
  used_bytes_.store(0, std::memory_order_relaxed);
  for (int i = 0; i < OTEL_STAT_COUNT; i++)
    if (i != OTEL_STAT_QUEUE_CAPACITY && i != OTEL_STAT_QUEUE_CAPACITY_BYTES) {
      stats_[i].store(0);
      locked_stats_[i].store(0);
    }
}

void Pipeline::read_stats(uint64_t *out, size_t n) const {
  for (size_t i = 0; i < n; i++) {
    if (i == OTEL_STAT_QUEUED)
      out[i] = count_.load(std::memory_order_relaxed);
    else if (i == OTEL_STAT_QUEUED_BYTES)
      out[i] = used_bytes_.load(std::memory_order_relaxed);
    else
      out[i] = i < OTEL_STAT_COUNT ? stats_[i].load(std::memory_order_relaxed) +
                                         locked_stats_[i].load(std::memory_order_relaxed)
                                   : 0;
  }
}

void sort_by_scope(Batch &b) {
  auto by_scope = [](const BatchEntry &x, const BatchEntry &y) { return x.scope < y.scope; };
  if (std::is_sorted(b.entries.begin(), b.entries.end(), by_scope)) return;  // the usual case
  std::sort(b.entries.begin(), b.entries.end(), [](const BatchEntry &x, const BatchEntry &y) {
    return x.scope != y.scope ? x.scope < y.scope : x.off < y.off;
  });
}

size_t request_prefix(const Batch &b, size_t first, size_t resource_len,
                      const std::vector<ScopeBytes> &scopes) {
  // Upper bound of the framed size, adding one entry at a time.
  size_t total = 16 + field_size(1, resource_len), i = first;
  uint32_t cur = UINT32_MAX;
  for (; i < b.entries.size(); i++) {
    const BatchEntry &e = b.entries[i];
    size_t add = field_size(2, e.len);
    if (e.scope != cur) {
      add += 16 + field_size(1, scopes[e.scope].scope->size()) +
             field_size(3, scopes[e.scope].schema_url->size());
    }
    if (i > first && total + add > kMaxRequestBytes) break;
    total += add;
    cur = e.scope;
  }
  return i;
}

void frame_request(Buf &out, const Buf &resource, const Batch &b, size_t first, size_t last,
                   const std::vector<ScopeBytes> &scopes) {
  // Sizes first, so every length prefix is written once, in place.
  size_t rl = field_size(1, resource.size());
  for (size_t i = first; i < last;) {
    uint32_t sc = b.entries[i].scope;
    size_t sl = field_size(1, scopes[sc].scope->size());
    if (!scopes[sc].schema_url->empty()) sl += field_size(3, scopes[sc].schema_url->size());
    for (; i < last && b.entries[i].scope == sc; i++) sl += field_size(2, b.entries[i].len);
    rl += field_size(2, sl);
  }
  out.clear();
  put_tag(out, 1, kLen);
  put_varint(out, rl);
  put_bytes(out, 1, resource.data(), resource.size());
  for (size_t i = first; i < last;) {
    uint32_t sc = b.entries[i].scope;
    size_t sl = field_size(1, scopes[sc].scope->size());
    if (!scopes[sc].schema_url->empty()) sl += field_size(3, scopes[sc].schema_url->size());
    size_t j = i;
    for (; j < last && b.entries[j].scope == sc; j++) sl += field_size(2, b.entries[j].len);
    put_tag(out, 2, kLen);
    put_varint(out, sl);
    put_bytes(out, 1, scopes[sc].scope->data(), scopes[sc].scope->size());
    for (; i < j; i++) put_bytes(out, 2, b.bytes.data() + b.entries[i].off, b.entries[i].len);
    if (!scopes[sc].schema_url->empty())
      put_bytes(out, 3, scopes[sc].schema_url->data(), scopes[sc].schema_url->size());
  }
}

}  // namespace otb
