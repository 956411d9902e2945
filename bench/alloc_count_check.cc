// alloc_count_check.cc — proves that alloc_count (tests/support) sees the allocations the
// benchmarks claim to count: those made directly, inside libc, inside libstdc++ (operator new) and
// inside libotelbridge.so. run_logs.sh runs it before the benchmarks; exit status 0 = all seen.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "alloc_count.h"
#include "otelbridge/otelbridge.h"

namespace {

// Keeps the compiler from eliding a malloc/free or new/delete pair.
inline void escape(void *p) { asm volatile("" : : "r"(p) : "memory"); }

int failures = 0;

void check(bool ok, const char *what, uint64_t got) {
  std::printf("%s %-58s (%llu)\n", ok ? "ok  " : "FAIL", what, static_cast<unsigned long long>(got));
  if (!ok) ++failures;
}

}  // namespace

int main() {
  if (!otb_alloc_count_active()) {
    std::printf("FAIL allocation counting is not active (sanitizer build, or interposition failed)\n");
    return 1;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::printf("alloc_count check\n");  // stdout's buffer is allocated here, not below

  uint64_t a = otb_thread_allocs();
  void *p = std::malloc(24);
  escape(p);
  uint64_t d = otb_thread_allocs() - a;
  std::free(p);
  check(d == 1, "malloc in the executable counts 1", d);

  char *(*volatile dup)(const char *) = strdup;
  a = otb_thread_allocs();
  char *s = dup("hello");
  d = otb_thread_allocs() - a;
  std::free(s);
  check(d == 1, "strdup inside libc.so counts 1", d);

  a = otb_thread_allocs();
  auto *str = new std::string(200, 'x');  // the string object + its heap buffer
  escape(str);
  d = otb_thread_allocs() - a;
  delete str;
  check(d == 2, "operator new in libstdc++ (new std::string(200)) counts 2", d);

  struct alignas(256) Aligned {
    char c[512];
  };
  a = otb_thread_allocs();
  auto *al = new Aligned;
  escape(al);
  d = otb_thread_allocs() - a;
  delete al;
  check(d == 1, "aligned operator new counts 1", d);

  // Inside libotelbridge.so: creating and filling a config must allocate (it copies the values).
  a = otb_thread_allocs();
  otel_config *cfg = nullptr;
  int32_t rc = otel_config_new(&cfg);
  if (rc == OTEL_OK)
    rc = otel_config_set(cfg, otel_cstr("OTEL_SERVICE_NAME"),
                         otel_cstr("a-service-name-longer-than-any-small-string-buffer"), nullptr, 0);
  d = otb_thread_allocs() - a;
  check(rc == OTEL_OK, "otel_config_new + otel_config_set succeed", static_cast<uint64_t>(-rc));
  check(d >= 1, "allocations inside libotelbridge.so are counted (>= 1)", d);
  otel_config_free(cfg);

  // Other threads: counted in their own counter and in the total, not in this thread's.
  const uint64_t mine = otb_thread_allocs();
  const uint64_t total = otb_total_allocs();
  uint64_t per[2] = {0, 0};
  {
    std::thread t0([&per] {
      uint64_t x = otb_thread_allocs();
      for (int i = 0; i < 1000; ++i) {
        void *q = std::malloc(16);
        escape(q);
        std::free(q);
      }
      per[0] = otb_thread_allocs() - x;
    });
    std::thread t1([&per] {
      uint64_t x = otb_thread_allocs();
      for (int i = 0; i < 1000; ++i) {
        void *q = std::malloc(16);
        escape(q);
        std::free(q);
      }
      per[1] = otb_thread_allocs() - x;
    });
    t0.join();
    t1.join();
  }
  check(per[0] == 1000 && per[1] == 1000, "each thread counts its own 1000 mallocs", per[0] + per[1]);
  const uint64_t mine_delta = otb_thread_allocs() - mine;
  const uint64_t total_delta = otb_total_allocs() - total;
  check(total_delta >= 2000 + mine_delta, "the process total includes both threads (>= 2000)",
        total_delta);

  std::printf("%s\n", failures ? "alloc_count check FAILED" : "alloc_count check passed");
  return failures ? 1 : 0;
}
