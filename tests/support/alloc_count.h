/*
 * alloc_count.h — a counting allocator for tests and benchmarks (Linux/glibc only).
 *
 * Linking alloc_count.cc (CMake target otb_alloc_count) into an EXECUTABLE replaces the process's
 * malloc, calloc, realloc, reallocarray, free, aligned_alloc, posix_memalign, memalign, valloc and
 * pvalloc with thin wrappers that forward to glibc's own allocator (__libc_malloc, __libc_calloc,
 * __libc_realloc, __libc_free, __libc_memalign, ...) and count every allocation:
 *   - per thread, in an initial-exec __thread counter (no locking, no atomic RMW);
 *   - process-wide, in one cache-line-sized atomic slot per thread (written only by its thread, so
 *     counting never bounces a shared cache line between cores; otb_total_allocs() sums them).
 * Because the executable's definitions come first in the dynamic linker's search order, the
 * wrappers also catch allocations made inside shared libraries: libotelbridge.so, libstdc++
 * (operator new calls malloc), and glibc itself (strdup, fopen, ...).
 *
 * What counts as one allocation: every successful call of malloc, calloc, aligned_alloc,
 * posix_memalign, memalign, valloc, pvalloc, and every realloc/reallocarray with a non-zero size
 * (a growth or shrink counts, since the caller asked the allocator for memory). free is not counted.
 *
 * NOT FOR SANITIZER BUILDS. ASan/TSan/MSan/LSan interpose malloc themselves; defining malloc here as
 * well would bypass or break them. When this file is compiled with a sanitizer (detected from
 * __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__ / __has_feature, or OTB_ALLOC_COUNT_DISABLE defined),
 * no allocator function is defined, both counters always return 0 and otb_alloc_count_active()
 * returns 0: tests that assert "no allocations" must check otb_alloc_count_active() first and skip
 * when it is 0. Do not link it into a shared library (only an executable's definitions reliably
 * come first) and do not combine it with another malloc replacement (jemalloc, tcmalloc).
 *
 * C-compatible; the functions never allocate.
 */
#ifndef OTELBRIDGE_TESTS_SUPPORT_ALLOC_COUNT_H
#define OTELBRIDGE_TESTS_SUPPORT_ALLOC_COUNT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Allocations made by the calling thread so far (since the thread started). To measure a region:
 * read it before and after, on the same thread. */
uint64_t otb_thread_allocs(void);

/* Allocations made by all threads of the process so far, including threads that have exited. */
uint64_t otb_total_allocs(void);

/* 1 if counting is live in this process (the wrappers are compiled in and a test malloc was
 * actually seen by them), 0 otherwise (sanitizer build, or interposition failed). */
int otb_alloc_count_active(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* OTELBRIDGE_TESTS_SUPPORT_ALLOC_COUNT_H */
