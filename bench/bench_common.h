/*
 * bench_common.h — shared command line, clocks, result line and (for our C programs) the thread
 * harness of the benchmarks, so ours and the peer's measure and report the same way.
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

#ifdef BENCH_COMMON_OTELBRIDGE
/* ---- Our side only (bench_logs.c, bench_spans.c, bench_metrics.c): define BENCH_COMMON_OTELBRIDGE
 * before including this header. Thread/barrier harness, measurement and engine helpers. ---- */
#include <pthread.h>

#include "alloc_count.h"
#include "otelbridge/otelbridge.h"

/* Start of one thread's measured loop: allocations, thread CPU and wall clock. */
typedef struct bench_mark {
  uint64_t allocs, cpu_ns, ns;
} bench_mark;

static inline bench_mark bench_mark_begin(void) {
  bench_mark m;
  m.allocs = otb_thread_allocs();
  m.cpu_ns = bench_thread_cpu_ns();
  m.ns = bench_now_ns();
  return m;
}

/* End of the measured loop begun at *m: fills *r (failed = the loop's failed calls). */
static inline void bench_mark_end(const bench_mark *m, bench_thread_result *r, uint64_t failed) {
  uint64_t t1 = bench_now_ns(), c1 = bench_thread_cpu_ns(), a1 = otb_thread_allocs();
  r->ns = t1 - m->ns;
  r->cpu_ns = c1 - m->cpu_ns;
  r->allocs = a1 - m->allocs;
  r->failed = failed;
}

typedef struct bench_shared {
  const bench_opts *opts;
  otel_scope *scope;
  pthread_barrier_t warm_done; /* threads finished warm-up (main then flushes) */
  pthread_barrier_t go;        /* main flushed: start the measured loop */
} bench_shared;

typedef struct bench_thread_arg {
  bench_shared *shared;
  bench_thread_result *result;
  uint64_t warmup_failed;
} bench_thread_arg;

/* Runs o->threads threads of fn (each gets a bench_thread_arg): they warm up, wait on warm_done,
 * main flushes the engine (the measured phase starts from an empty queue), samples the process CPU
 * into *p0, releases them (go) and joins them. results[] must hold o->threads entries. Sums the
 * threads' warmup_failed into *warmup_failed. Returns 0, or 1 when a thread could not start. */
static inline int bench_run_threads(const bench_opts *o, otel_engine *eng, otel_scope *scope,
                                    void *(*fn)(void *), bench_thread_result *results,
                                    uint64_t *p0, uint64_t *warmup_failed) {
  bench_shared shared;
  bench_thread_arg args[64];
  pthread_t tids[64];
  int32_t rc;
  int t;
  shared.opts = o;
  shared.scope = scope;
  pthread_barrier_init(&shared.warm_done, NULL, (unsigned)o->threads + 1);
  pthread_barrier_init(&shared.go, NULL, (unsigned)o->threads + 1);
  for (t = 0; t < o->threads; ++t) {
    memset(&results[t], 0, sizeof results[t]);
    args[t].shared = &shared;
    args[t].result = &results[t];
    args[t].warmup_failed = 0;
    if (pthread_create(&tids[t], NULL, fn, &args[t]) != 0) {
      fprintf(stderr, "pthread_create failed\n");
      return 1;
    }
  }
  pthread_barrier_wait(&shared.warm_done);
  rc = otel_engine_flush(eng, 0); /* measured phase starts from an empty queue */
  if (rc != OTEL_OK) fprintf(stderr, "warning: warm-up flush: %s\n", otel_status_str(rc));
  *p0 = bench_process_cpu_ns();
  pthread_barrier_wait(&shared.go);
  for (t = 0; t < o->threads; ++t) {
    pthread_join(tids[t], NULL);
    *warmup_failed += args[t].warmup_failed;
  }
  pthread_barrier_destroy(&shared.warm_done);
  pthread_barrier_destroy(&shared.go);
  return 0;
}

static inline int bench_set_key(otel_config *c, const char *k, const char *v) {
  char err[256];
  int32_t rc = otel_config_set(c, otel_cstr(k), otel_cstr(v), err, sizeof err);
  if (rc != OTEL_OK) {
    fprintf(stderr, "otel_config_set(%s=%s): %s: %s\n", k, v, otel_status_str(rc), err);
    return 1;
  }
  return 0;
}

/* Creates the engine from cfg (and frees cfg), then the scope "bench" 1.0.0. Returns 0 or 1. */
static inline int bench_engine_open(otel_config *cfg, otel_engine **eng, otel_scope **scope) {
  static const otel_str empty = {NULL, 0};
  char err[512];
  int32_t rc;
  err[0] = 0;
  rc = otel_engine_new(cfg, eng, err, sizeof err);
  otel_config_free(cfg);
  if (rc != OTEL_OK) {
    fprintf(stderr, "otel_engine_new: %s: %s\n", otel_status_str(rc), err);
    return 1;
  }
  rc = otel_scope_get(*eng, otel_cstr("bench"), otel_cstr("1.0.0"), empty, NULL, 0, scope);
  if (rc != OTEL_OK) {
    fprintf(stderr, "otel_scope_get: %s\n", otel_status_str(rc));
    return 1;
  }
  return 0;
}

/* A new configuration into *cfg. Returns 0, or 1 after printing the error. */
static inline int bench_config_new(otel_config **cfg) {
  int32_t rc = otel_config_new(cfg);
  if (rc != OTEL_OK) {
    fprintf(stderr, "otel_config_new: %s\n", otel_status_str(rc));
    return 1;
  }
  return 0;
}

/* After the measured loops: the final flush (a failure is a warning), the process CPU into *p1,
 * then the engine's statistics for signal into st[OTEL_STAT_COUNT]. Returns 0, or 1 after printing
 * the error when the statistics could not be read. */
static inline int bench_final_flush_stats(otel_engine *eng, int32_t signal, uint64_t *st,
                                          uint64_t *p1) {
  int32_t rc = otel_engine_flush(eng, 0);
  if (rc != OTEL_OK) fprintf(stderr, "warning: final flush: %s\n", otel_status_str(rc));
  *p1 = bench_process_cpu_ns();
  memset(st, 0, sizeof(uint64_t) * OTEL_STAT_COUNT);
  rc = otel_engine_stats(eng, signal, st, OTEL_STAT_COUNT);
  if (rc != OTEL_OK) {
    fprintf(stderr, "otel_engine_stats: %s\n", otel_status_str(rc));
    return 1;
  }
  return 0;
}

/* Frees the engine (a failure is a warning). */
static inline void bench_engine_close(otel_engine *eng) {
  int32_t rc = otel_engine_free(eng);
  if (rc != OTEL_OK) fprintf(stderr, "warning: otel_engine_free: %s\n", otel_status_str(rc));
}

/* All records the pipeline lost, from otel_engine_stats. */
static inline long long bench_dropped(const uint64_t *st) {
  return (long long)(st[OTEL_STAT_DROPPED_QUEUE_FULL] + st[OTEL_STAT_DROPPED_OLDEST] +
                     st[OTEL_STAT_DROPPED_TOO_LARGE] + st[OTEL_STAT_DROPPED_SHUTDOWN]);
}

/* Prints "<prefix>accepted=... batches=B <warmup_name>=W" to stderr. */
static inline void bench_print_stats(const char *prefix, const uint64_t *st,
                                     const char *warmup_name, uint64_t warmup_failed) {
  fprintf(stderr,
          "%saccepted=%llu exported=%llu dropped_queue_full=%llu dropped_oldest=%llu "
          "dropped_too_large=%llu dropped_shutdown=%llu failed=%llu rejected=%llu invalid=%llu "
          "queued=%llu in_flight=%llu batches=%llu %s=%llu\n",
          prefix, (unsigned long long)st[OTEL_STAT_ACCEPTED],
          (unsigned long long)st[OTEL_STAT_EXPORTED],
          (unsigned long long)st[OTEL_STAT_DROPPED_QUEUE_FULL],
          (unsigned long long)st[OTEL_STAT_DROPPED_OLDEST],
          (unsigned long long)st[OTEL_STAT_DROPPED_TOO_LARGE],
          (unsigned long long)st[OTEL_STAT_DROPPED_SHUTDOWN], (unsigned long long)st[OTEL_STAT_FAILED],
          (unsigned long long)st[OTEL_STAT_REJECTED], (unsigned long long)st[OTEL_STAT_INVALID],
          (unsigned long long)st[OTEL_STAT_QUEUED], (unsigned long long)st[OTEL_STAT_IN_FLIGHT],
          (unsigned long long)st[OTEL_STAT_EXPORT_BATCHES], warmup_name,
          (unsigned long long)warmup_failed);
}
#endif /* BENCH_COMMON_OTELBRIDGE */

#endif /* OTELBRIDGE_BENCH_COMMON_H */
