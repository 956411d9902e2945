/*
 * bench_common.h — shared command line, clock and result line for the logs benchmarks
 * (bench_logs.c and peer_otelcpp_logs.cc), so both measure and report the same way.
 * Header-only; C99 and C++.
 */
#ifndef OTELBRIDGE_BENCH_COMMON_H
#define OTELBRIDGE_BENCH_COMMON_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct bench_opts {
  uint64_t records; /* measured records per thread */
  uint64_t warmup;  /* warm-up records per thread (emitted, then flushed, before measuring) */
  int threads;      /* emitting threads */
  int attrs;        /* 0 or 4 attributes per record */
  const char *variant; /* implementation-specific variant (peer: recordable kind) */
} bench_opts;

/* Per-thread result of the measured phase. */
typedef struct bench_thread_result {
  uint64_t ns;        /* wall time of the measured emit loop */
  uint64_t cpu_ns;    /* CPU time this thread spent in the loop (less than ns when descheduled) */
  uint64_t allocs;    /* allocations made by this thread during the loop */
  uint64_t failed;    /* emit calls that did not return success (ours: != OTEL_OK) */
} bench_thread_result;

static inline uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time consumed by the calling thread. */
static inline uint64_t bench_thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time consumed by the whole process (all threads, the export worker included). */
static inline uint64_t bench_process_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void bench_usage(const char *prog, const char *variants) {
  fprintf(stderr,
          "usage: %s [--records N] [--warmup N] [--threads T] [--attrs 0|4]%s%s\n"
          "  --records N  measured records per thread (default 1000000)\n"
          "  --warmup N   warm-up records per thread, emitted and flushed first (default 100000)\n"
          "  --threads T  emitting threads (default 1)\n"
          "  --attrs A    attributes per record: 0 or 4 (default 4)\n",
          prog, variants ? " [--variant " : "", variants ? variants : "");
  if (variants) fprintf(stderr, "]\n");
}

/* Parses argv into *o (defaults first). Returns 0, or 1 after printing usage. */
static inline int bench_parse(int argc, char **argv, bench_opts *o, const char *variants,
                              const char *default_variant) {
  int i;
  o->records = 1000000;
  o->warmup = 100000;
  o->threads = 1;
  o->attrs = 4;
  o->variant = default_variant;
  for (i = 1; i < argc; ++i) {
    const char *a = argv[i];
    const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
    if (!v) {
      bench_usage(argv[0], variants);
      return 1;
    }
    if (strcmp(a, "--records") == 0) {
      o->records = strtoull(v, NULL, 10);
    } else if (strcmp(a, "--warmup") == 0) {
      o->warmup = strtoull(v, NULL, 10);
    } else if (strcmp(a, "--threads") == 0) {
      o->threads = atoi(v);
    } else if (strcmp(a, "--attrs") == 0) {
      o->attrs = atoi(v);
    } else if (strcmp(a, "--variant") == 0 && variants) {
      o->variant = v;
    } else {
      bench_usage(argv[0], variants);
      return 1;
    }
    ++i;
  }
  if (o->records == 0 || o->threads < 1 || o->threads > 64 || (o->attrs != 0 && o->attrs != 4)) {
    bench_usage(argv[0], variants);
    return 1;
  }
  return 0;
}

/* Prints the machine-readable line the driver (run_logs.sh) parses:
 *   RESULT impl=... variant=... threads=T attrs=A records=N ns_per_record=X allocs_per_record=Y
 *          exported=E dropped=D failed_emits=F cpu_ns_per_record=C proc_cpu_ns_per_record=P
 * ns_per_record: each thread's loop time / records, averaged over threads.
 * cpu_ns_per_record: the same with the threads' CPU time (CLOCK_THREAD_CPUTIME_ID); well below
 * ns_per_record means the emitting threads were descheduled (e.g. 2 emitters + a worker on 2 cores).
 * proc_cpu_ns_per_record: CPU time of the whole process (emitters + export worker) from the start
 * of the measured loops to the end of the final flush, per measured record (all threads): the total
 * cost of getting a record from the call to the exporter.
 * allocs_per_record: allocations on the emitting threads during the loops / all measured records
 * (-1 when allocation counting is not active). exported/dropped: over the whole run, warm-up
 * included (dropped = all records the pipeline lost; -1 = not available). */
static inline void bench_print_result(const char *impl, const bench_opts *o,
                                      const bench_thread_result *r, int alloc_counting,
                                      long long exported, long long dropped,
                                      uint64_t proc_cpu_ns) {
  double ns_sum = 0, cpu_sum = 0;
  uint64_t allocs = 0, failed = 0;
  int t;
  for (t = 0; t < o->threads; ++t) {
    ns_sum += (double)r[t].ns / (double)o->records;
    cpu_sum += (double)r[t].cpu_ns / (double)o->records;
    allocs += r[t].allocs;
    failed += r[t].failed;
  }
  printf("RESULT impl=%s variant=%s threads=%d attrs=%d records=%llu ns_per_record=%.1f "
         "allocs_per_record=%.3f exported=%lld dropped=%lld failed_emits=%llu "
         "cpu_ns_per_record=%.1f proc_cpu_ns_per_record=%.1f\n",
         impl, o->variant ? o->variant : "-", o->threads, o->attrs,
         (unsigned long long)o->records, ns_sum / o->threads,
         alloc_counting ? (double)allocs / ((double)o->records * o->threads) : -1.0, exported,
         dropped, (unsigned long long)failed, cpu_sum / o->threads,
         (double)proc_cpu_ns / ((double)o->records * o->threads));
  fflush(stdout);
}

#endif /* OTELBRIDGE_BENCH_COMMON_H */
