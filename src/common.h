// Internal basics shared by every part of the engine: signals, clocks, and the growable byte
// buffer every encoder writes into.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include <pthread.h>
#include <sched.h>

#include "otelbridge/otelbridge.h"

#define OTB_LIKELY(x) __builtin_expect(!!(x), 1)
#define OTB_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define OTB_NOINLINE __attribute__((noinline))

namespace otb {

enum class Signal : int {
  kLogs = OTEL_SIGNAL_LOGS,
  kTraces = OTEL_SIGNAL_TRACES,
  kMetrics = OTEL_SIGNAL_METRICS
};
constexpr int kSignalCount = 3;
const char *signal_name(Signal s);  // "logs", "traces", "metrics"

uint64_t now_unix_nano();  // CLOCK_REALTIME
uint64_t mono_nano();      // CLOCK_MONOTONIC

// The address of a thread-local, looked up once: the asm hides where the pointer came from, so
// the compiler keeps it in a register instead of redoing the lookup (a call with
// -mtls-dialect=gnu2) after every store through a byte pointer, which might alias it.
template <typename T>
inline T *tls_addr(T &v) {
  T *p = &v;
  asm("" : "+r"(p));
  return p;
}

// A mutex for short critical sections on hot paths: glibc's adaptive mutex spins briefly before
// sleeping, so a producer that meets another producer (or the worker) mid-memcpy rarely pays for a
// futex sleep and wake. BasicLockable, for std::lock_guard.
class Mutex {
 public:
  Mutex() {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    pthread_mutex_init(&m_, &a);
    pthread_mutexattr_destroy(&a);
  }
  ~Mutex() {
    pthread_mutex_destroy(&m_);
  }
  Mutex(const Mutex &) = delete;
  Mutex &operator=(const Mutex &) = delete;
  void lock() {
    pthread_mutex_lock(&m_);
  }
  void unlock() {
    pthread_mutex_unlock(&m_);
  }

 private:
  pthread_mutex_t m_;
};

// A spinlock for the queue's critical sections, which are a few dozen instructions and a memcpy:
// cheaper than a pthread mutex when uncontended (no syscall path, no type dispatch), and it
// yields the CPU after a short spin so a preempted holder is not starved. BasicLockable.
class SpinLock {
 public:
  void lock() {
    for (int spins = 0; flag_.exchange(true, std::memory_order_acquire);) {
      while (flag_.load(std::memory_order_relaxed)) {
        if (++spins < 100)
          __builtin_ia32_pause();
        else
          sched_yield();
      }
    }
  }
  void unlock() { flag_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> flag_{false};
};

// A growable byte buffer with an optional size limit. Writing past the limit sets overflow() and
// drops the write; encoders check overflow() once at the end instead of after every field. The
// capacity is kept across clear() so a reused buffer stops allocating once it has grown.
//
// Encoders on hot paths measure a field first, then write it with one check:
//   if (uint8_t *p = b.reserve_tail(n)) b.commit(<n bytes of unchecked stores through p>);
// The stores go through a local pointer, so the compiler need not reload the buffer's members
// after each byte (a uint8_t store may alias them).
class Buf {
 public:
  Buf() = default;
  Buf(const Buf &) = delete;
  Buf &operator=(const Buf &) = delete;
  ~Buf() { std::free(p_); }

  void clear() {
    n_ = 0;
    overflow_ = false;
  }
  uint8_t *data() { return p_; }
  const uint8_t *data() const { return p_; }
  size_t size() const { return n_; }
  size_t capacity() const { return cap_; }
  bool overflow() const { return overflow_; }
  void set_limit(size_t limit) { limit_ = limit; }

  // Makes room for `extra` more bytes. False (and overflow set) past the limit or out of memory.
  bool reserve(size_t extra) {
    if (OTB_LIKELY(cap_ - n_ >= extra)) return !overflow_;
    return grow(extra);
  }
  // reserve(extra), then the tail to write those bytes at; nullptr when reserve() failed.
  uint8_t *reserve_tail(size_t extra) { return reserve(extra) ? p_ + n_ : nullptr; }
  // reserve() for a writer that can fall back to another way of writing: past the limit it only
  // returns false, leaving overflow() unset. (Out of memory still sets it.)
  bool try_reserve(size_t extra) {
    if (OTB_LIKELY(cap_ - n_ >= extra)) return !overflow_;
    if (overflow_ || extra > limit_ || n_ > limit_ - extra) return false;
    return grow(extra);
  }
  void put(uint8_t b) {
    if (reserve(1)) {
      size_t n = n_;
      p_[n] = b;
      n_ = n + 1;
    }
  }
  void append(const void *src, size_t len) {
    if (len && reserve(len)) {
      std::memcpy(p_ + n_, src, len);
      n_ += len;
    }
  }
  // Unchecked writes, after reserve() succeeded.
  uint8_t *tail() { return p_ + n_; }
  void advance(size_t len) { n_ += len; }
  // Ends unchecked writes that started at tail(): the buffer now ends at `end`.
  void commit(uint8_t *end) { n_ = static_cast<size_t>(end - p_); }
  void truncate(size_t len) { n_ = len; }
  // Frees the storage if it grew past max_keep (a huge record should not pin memory forever).
  void shrink_if_above(size_t max_keep) {
    if (cap_ > max_keep) {
      std::free(p_);
      p_ = nullptr;
      cap_ = n_ = 0;
    }
  }

 private:
  bool grow(size_t extra);
  uint8_t *p_ = nullptr;
  size_t n_ = 0;
  size_t cap_ = 0;
  size_t limit_ = SIZE_MAX;
  bool overflow_ = false;
};

}  // namespace otb
