// alloc_count.cc — counting malloc interposer for tests and benchmarks. See alloc_count.h.
//
// Link into an executable only, never into a sanitizer build (it disables itself there).
#include "alloc_count.h"

#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer) || __has_feature(leak_sanitizer)
#define OTB_ALLOC_COUNT_DISABLE 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#ifndef OTB_ALLOC_COUNT_DISABLE
#define OTB_ALLOC_COUNT_DISABLE 1
#endif
#endif

#ifdef OTB_ALLOC_COUNT_DISABLE

extern "C" {
uint64_t otb_thread_allocs(void) { return 0; }
uint64_t otb_total_allocs(void) { return 0; }
int otb_alloc_count_active(void) { return 0; }
}

#else  // counting build

// glibc's own allocator entry points (exported by libc.so.6 since GLIBC_2.2.5; not in any header).
extern "C" {
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *ptr, size_t size);
void __libc_free(void *ptr);
void *__libc_memalign(size_t alignment, size_t size);
void *__libc_valloc(size_t size);
void *__libc_pvalloc(size_t size);
}

namespace {

// Per-thread count: initial-exec TLS, so reading/incrementing it is one %fs-relative access and
// never calls __tls_get_addr (which could itself allocate).
__thread uint64_t tl_allocs __attribute__((tls_model("initial-exec")));
// This thread's slot in g_slots (0 = not assigned yet).
__thread unsigned tl_slot __attribute__((tls_model("initial-exec")));

// Process-wide count: one cache line per thread, written only by its owner, so a multi-threaded
// benchmark does not pay a contended atomic RMW on every malloc. Slot 0 is shared by the threads
// that came after the first kSlots - 1 (fetch_add there). Slots are never reused, so counts of
// exited threads stay in the total.
constexpr unsigned kSlots = 1024;
struct alignas(64) Slot {
  std::atomic<uint64_t> n;
};
Slot g_slots[kSlots];  // zero-initialised static storage: usable before any constructor runs
std::atomic<unsigned> g_next_slot{1};

inline void count_one() {
  ++tl_allocs;
  unsigned s = tl_slot;
  if (__builtin_expect(s == 0, 0)) {
    s = g_next_slot.fetch_add(1, std::memory_order_relaxed);
    if (s >= kSlots) s = kSlots;  // overflow marker: use the shared slot 0
    tl_slot = s;
  }
  if (__builtin_expect(s < kSlots, 1)) {
    std::atomic<uint64_t> &n = g_slots[s].n;  // single writer: no RMW needed
    n.store(n.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  } else {
    g_slots[0].n.fetch_add(1, std::memory_order_relaxed);
  }
}

inline bool is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

}  // namespace

// The replacements must be exported from the executable even though the project builds with
// -fvisibility=hidden, or shared libraries would keep binding to glibc's malloc.
#pragma GCC visibility push(default)
extern "C" {

void *malloc(size_t size) noexcept {
  void *p = __libc_malloc(size);
  if (p) count_one();
  return p;
}

void *calloc(size_t n, size_t size) noexcept {
  void *p = __libc_calloc(n, size);
  if (p) count_one();
  return p;
}

void *realloc(void *ptr, size_t size) noexcept {
  void *p = __libc_realloc(ptr, size);
  if (p && size != 0) count_one();
  return p;
}

void *reallocarray(void *ptr, size_t n, size_t size) noexcept {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return realloc(ptr, total);
}

void free(void *ptr) noexcept { __libc_free(ptr); }

void *memalign(size_t alignment, size_t size) noexcept {
  void *p = __libc_memalign(alignment, size);
  if (p) count_one();
  return p;
}

void *aligned_alloc(size_t alignment, size_t size) noexcept {
  if (!is_pow2(alignment)) {
    errno = EINVAL;
    return nullptr;
  }
  void *p = __libc_memalign(alignment, size);
  if (p) count_one();
  return p;
}

int posix_memalign(void **out, size_t alignment, size_t size) noexcept {
  if (!is_pow2(alignment) || alignment % sizeof(void *) != 0) return EINVAL;
  void *p = __libc_memalign(alignment, size);
  if (!p) return ENOMEM;
  count_one();
  *out = p;
  return 0;
}

void *valloc(size_t size) noexcept {
  void *p = __libc_valloc(size);
  if (p) count_one();
  return p;
}

void *pvalloc(size_t size) noexcept {
  void *p = __libc_pvalloc(size);
  if (p) count_one();
  return p;
}

uint64_t otb_thread_allocs(void) { return tl_allocs; }

uint64_t otb_total_allocs(void) {
  uint64_t sum = 0;
  for (unsigned i = 0; i < kSlots; ++i) sum += g_slots[i].n.load(std::memory_order_relaxed);
  return sum;
}

int otb_alloc_count_active(void) {
  // strdup runs inside libc.so and calls malloc through the dynamic linker, so this checks real
  // interposition, not just a direct call of the function above. The volatile pointer keeps the
  // compiler from folding the strdup/free pair away.
  char *(*volatile dup)(const char *) = strdup;
  uint64_t before = tl_allocs;
  char *s = dup("x");
  uint64_t after = tl_allocs;
  free(s);
  return after > before ? 1 : 0;
}

}  // extern "C"
#pragma GCC visibility pop

#endif  // OTB_ALLOC_COUNT_DISABLE
