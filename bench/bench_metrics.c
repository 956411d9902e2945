/*
 * bench_metrics.c — calling-thread cost of synchronous metric measurements through the public C
 * ABI only (otelbridge.h + libotelbridge.so). Compare with peer_otelcpp_metrics.cc (same workload).
 *
 * Engine: otel_engine_new() with
 *   OTEL_METRICS_EXPORTER=file, OTELBRIDGE_FILE_PATH=/dev/null, OTELBRIDGE_FILE_FORMAT=proto,
 *   OTEL_LOGS_EXPORTER=none, OTEL_TRACES_EXPORTER=none, OTEL_METRIC_EXPORT_INTERVAL=1000
 * so the worker collects every second (during the measured loop too, as in production), encodes
 * the metrics and writes them to a discarding sink. Temporality: the default (cumulative), as the
 * peer's exporter asks for.
 *
 * Cases (--case; one "op" is one call):
 *   add0   otel_metric_record_i64(counter, 1, NULL, 0)                      int64 counter
 *   add3   otel_metric_record_i64(counter, 1, attrs, 3)
 *   bound  otel_bound_record_i64(bound, 1), bound = otel_instrument_bind(counter, attrs, 3) once,
 *          before the threads start (all threads share the handle)
 *   hist3  otel_metric_record_f64(histogram, v, attrs, 3)                   double histogram,
 *          default boundaries; v cycles over 8 values (0.5 ... 600)
 *   floor  not the library: one relaxed atomic fetch_add on one shared counter in the same loop,
 *          the cost of one atomic RMW on shared memory (a sum add did one before sums got
 *          per-thread cells; a histogram record still does several); with 2 threads it also shows
 *          what a contended cache line costs
 * attrs (always the same set, so every thread hammers the SAME series):
 *   http.request.method="GET", http.route="/api/todos", http.response.status_code=200 (int).
 *
 * Each thread makes --warmup calls, the main thread flushes (that collects), then all threads start
 * together (pthread barrier) and each calls in a loop for --duration-ms of wall time (the clock is
 * read every 1024 calls), counting its calls, its CPU time and its heap allocations (alloc_count).
 * The loop is timed rather than counted so that both threads of a 2-thread run contend for the
 * whole measurement and the loop spans periodic collections. After a final flush the metrics
 * statistics give the exported Metric messages, the drops and the export batches.
 *
 * --check-file PATH: the correctness pass. The same run, but the exporter writes OTLP/JSON to PATH
 * (truncated first); after the final flush the program reads the last request in PATH and checks
 * that the exported cumulative value equals the calls made (counter: the sum; histogram: count and
 * sum) and that the instrument has exactly one data point (one series). The RESULT line then
 * carries expected=, value= and check=ok|FAIL.
 *
 * Output: one line (bench_common.h's fields, per op, plus the throughput):
 *   RESULT impl=otelbridge variant=CASE threads=T attrs=A ops=N ns_per_op=X allocs_per_op=Y
 *          ops_per_s=S cpu_ns_per_op=C proc_cpu_ns_per_op=P collections=K exported=E dropped=D
 *          failed=F expected=X value=V check=ok|FAIL|-
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_COMMON_OTELBRIDGE
#include "bench_common.h"
#include "otelbridge/otelbridge.h"

enum bench_case { CASE_ADD0, CASE_ADD3, CASE_BOUND, CASE_HIST3, CASE_FLOOR };

typedef struct metrics_opts {
  enum bench_case kase;
  const char *case_name;
  int attrs;              /* attributes per call: 0 (add0) or 3 */
  int threads;            /* calling threads, all on the same series */
  uint64_t warmup;        /* warm-up calls per thread (made, then flushed, before measuring) */
  uint64_t duration_ms;   /* wall time of each thread's measured loop */
  const char *check_file; /* NULL: measured run to /dev/null; else the correctness pass */
} metrics_opts;

typedef struct shared_state {
  const metrics_opts *opts;
  otel_instrument *inst;
  otel_bound *bound;
  pthread_barrier_t warm_done; /* threads finished warm-up (main then flushes) */
  pthread_barrier_t go;        /* main flushed: start the measured loop */
} shared_state;

typedef struct thread_arg {
  shared_state *shared;
  bench_thread_result result; /* ns, cpu_ns, allocs, failed of the measured loop */
  uint64_t ops;               /* measured calls */
  uint64_t warmup_failed;
} thread_arg;

static otel_attr g_attrs[3];

/* --case floor: one shared counter on its own cache line. */
static struct {
  char pad0[64];
  uint64_t v;
  char pad1[64];
} g_floor;

/* Histogram values: multiples of 0.5, so every partial sum is exact in a double. They fall in
 * several of the default buckets (0, 5, 10, 25, 50, 75, 100, 250, 500, 750, ...). */
static const double g_hist_values[8] = {0.5, 3.0, 7.5, 12.0, 30.0, 60.0, 180.0, 600.0};

static void init_attrs(void) {
  g_attrs[0].key = otel_cstr("http.request.method");
  g_attrs[0].value = otel_value_str(otel_cstr("GET"));
  g_attrs[1].key = otel_cstr("http.route");
  g_attrs[1].value = otel_value_str(otel_cstr("/api/todos"));
  g_attrs[2].key = otel_cstr("http.response.status_code");
  g_attrs[2].value = otel_value_int(200);
}

/* Sum of the histogram values recorded by n calls (value index i & 7 for i = 0..n-1). */
static double hist_sum(uint64_t n) {
  double cycle = 0, s;
  uint64_t i;
  for (i = 0; i < 8; ++i) cycle += g_hist_values[i];
  s = (double)(n / 8) * cycle;
  for (i = 0; i < n % 8; ++i) s += g_hist_values[i];
  return s;
}

/* One call. Returns 1 when it did not return OTEL_OK. `i` picks the histogram value. */
static inline int op_one(const shared_state *sh, enum bench_case c, uint64_t i) {
  switch (c) {
    case CASE_ADD0:
      return otel_metric_record_i64(sh->inst, 1, NULL, 0) != OTEL_OK;
    case CASE_ADD3:
      return otel_metric_record_i64(sh->inst, 1, g_attrs, 3) != OTEL_OK;
    case CASE_BOUND:
      return otel_bound_record_i64(sh->bound, 1) != OTEL_OK;
    case CASE_FLOOR:
      __atomic_fetch_add(&g_floor.v, 1, __ATOMIC_RELAXED);
      return 0;
    case CASE_HIST3:
    default:
      return otel_metric_record_f64(sh->inst, g_hist_values[i & 7], g_attrs, 3) != OTEL_OK;
  }
}

/* The measured loop for one case, specialised so the switch is outside the loop. */
#define TIMED_LOOP(CALL)                                                   \
  do {                                                                     \
    for (;;) {                                                             \
      for (k = 0; k < 1024; ++k, ++i) failed += (uint64_t)(CALL);          \
      if (bench_now_ns() >= deadline) break;                               \
    }                                                                      \
  } while (0)

static void *op_thread(void *p) {
  thread_arg *a = (thread_arg *)p;
  const shared_state *sh = a->shared;
  const metrics_opts *o = sh->opts;
  otel_instrument *inst = sh->inst;
  otel_bound *bound = sh->bound;
  uint64_t i, k, failed = 0, a0, a1, t0, t1, c0, c1, deadline, w;
  for (w = 0; w < o->warmup; ++w) a->warmup_failed += (uint64_t)op_one(sh, o->kase, w);
  pthread_barrier_wait(&a->shared->warm_done);
  pthread_barrier_wait(&a->shared->go);
  i = 0;
  a0 = otb_thread_allocs();
  c0 = bench_thread_cpu_ns();
  t0 = bench_now_ns();
  deadline = t0 + o->duration_ms * 1000000ull;
  switch (o->kase) {
    case CASE_ADD0:
      TIMED_LOOP(otel_metric_record_i64(inst, 1, NULL, 0) != OTEL_OK);
      break;
    case CASE_ADD3:
      TIMED_LOOP(otel_metric_record_i64(inst, 1, g_attrs, 3) != OTEL_OK);
      break;
    case CASE_BOUND:
      TIMED_LOOP(otel_bound_record_i64(bound, 1) != OTEL_OK);
      break;
    case CASE_FLOOR:
      TIMED_LOOP(__atomic_fetch_add(&g_floor.v, 1, __ATOMIC_RELAXED) == UINT64_MAX);
      break;
    case CASE_HIST3:
    default:
      /* the histogram value sequence continues from the warm-up's (w) */
      TIMED_LOOP(otel_metric_record_f64(inst, g_hist_values[(w + i) & 7], g_attrs, 3) != OTEL_OK);
      break;
  }
  t1 = bench_now_ns();
  c1 = bench_thread_cpu_ns();
  a1 = otb_thread_allocs();
  a->ops = i;
  a->result.ns = t1 - t0;
  a->result.cpu_ns = c1 - c0;
  a->result.allocs = a1 - a0;
  a->result.failed = failed;
  return NULL;
}

static void usage(const char *prog) {
  fprintf(stderr,
          "usage: %s [--case add0|add3|bound|hist3|floor] [--threads T] [--duration-ms D] [--warmup N]\n"
          "          [--check-file PATH]\n"
          "  --case C         add0 / add3: counter add with 0 / 3 attributes; bound: bound counter\n"
          "                   add; hist3: histogram record with 3 attributes (default add3);\n"
          "                   floor: a bare relaxed atomic fetch_add, no library call\n"
          "  --threads T      calling threads, all on the same series (default 1)\n"
          "  --duration-ms D  wall time of each thread's measured loop (default 2000)\n"
          "  --warmup N       warm-up calls per thread, made and flushed first (default 100000)\n"
          "  --check-file P   correctness pass: export OTLP/JSON to P and check the exported value\n",
          prog);
}

static int parse(int argc, char **argv, metrics_opts *o) {
  int i;
  o->kase = CASE_ADD3;
  o->case_name = "add3";
  o->threads = 1;
  o->warmup = 100000;
  o->duration_ms = 2000;
  o->check_file = NULL;
  for (i = 1; i < argc; i += 2) {
    const char *a = argv[i];
    const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
    if (!v) return 1;
    if (strcmp(a, "--case") == 0) {
      o->case_name = v;
      if (strcmp(v, "add0") == 0) {
        o->kase = CASE_ADD0;
      } else if (strcmp(v, "add3") == 0) {
        o->kase = CASE_ADD3;
      } else if (strcmp(v, "bound") == 0) {
        o->kase = CASE_BOUND;
      } else if (strcmp(v, "hist3") == 0) {
        o->kase = CASE_HIST3;
      } else if (strcmp(v, "floor") == 0) {
        o->kase = CASE_FLOOR;
      } else {
        return 1;
      }
    } else if (strcmp(a, "--threads") == 0) {
      o->threads = atoi(v);
    } else if (strcmp(a, "--duration-ms") == 0) {
      o->duration_ms = strtoull(v, NULL, 10);
    } else if (strcmp(a, "--warmup") == 0) {
      o->warmup = strtoull(v, NULL, 10);
    } else if (strcmp(a, "--check-file") == 0) {
      o->check_file = v;
    } else {
      return 1;
    }
  }
  o->attrs = (o->kase == CASE_ADD0 || o->kase == CASE_FLOOR) ? 0 : 3;
  return (o->threads < 1 || o->threads > 64 || o->duration_ms == 0) ? 1 : 0;
}

/* Reads the whole file into a NUL-terminated buffer (caller frees), or NULL. */
static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  char *buf;
  long n;
  if (!f) return NULL;
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return NULL;
  }
  buf = (char *)malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  if (buf) buf[n] = 0;
  fclose(f);
  return buf;
}

static size_t count_occurrences(const char *s, const char *needle) {
  size_t n = 0;
  const char *p = s;
  while ((p = strstr(p, needle)) != NULL) {
    ++n;
    p += strlen(needle);
  }
  return n;
}

/* The number after `key` (e.g. "\"asInt\":") in s, quoted or not; -1 if absent. */
static double number_after(const char *s, const char *key) {
  const char *p = strstr(s, key);
  if (!p) return -1;
  p += strlen(key);
  if (*p == '"') ++p;
  return strtod(p, NULL);
}

/* The correctness pass: checks the last OTLP/JSON request in `path`. The final flush collected
 * after every call returned, and cumulative temporality means that request holds the totals.
 * Returns 1 when the check passed; fills *value with the exported counter sum or histogram count
 * and *sum with the histogram sum. */
static int check_export(const char *path, const metrics_opts *o, uint64_t expected,
                        double expected_sum, double *value, double *sum) {
  char *buf = read_file(path), *last, *end;
  const char *name = o->kase == CASE_HIST3 ? "\"name\":\"bench.duration\"" : "\"name\":\"bench.requests\"";
  int ok = 0;
  *value = -1;
  *sum = -1;
  if (!buf) {
    fprintf(stderr, "check: cannot read %s\n", path);
    return 0;
  }
  end = buf + strlen(buf);
  while (end > buf && (end[-1] == '\n' || end[-1] == '\r')) *--end = 0;
  last = strrchr(buf, '\n');
  last = last ? last + 1 : buf;
  if (!strstr(last, name)) {
    fprintf(stderr, "check: the last request in %s does not hold the instrument\n", path);
  } else if (o->kase == CASE_HIST3) {
    size_t points = count_occurrences(last, "\"bucketCounts\"");
    const char *cnt = strstr(last, "\"count\":");
    *value = cnt ? number_after(cnt, "\"count\":") : -1;
    *sum = cnt ? number_after(cnt, "\"sum\":") : -1;
    ok = points == 1 && *value == (double)expected && *sum == expected_sum;
    fprintf(stderr, "check: histogram points=%zu count=%.0f (expected %llu) sum=%.1f (expected %.1f)\n",
            points, *value, (unsigned long long)expected, *sum, expected_sum);
  } else {
    size_t points = count_occurrences(last, "\"asInt\":");
    *value = number_after(last, "\"asInt\":");
    ok = points == 1 && *value == (double)expected;
    fprintf(stderr, "check: counter points=%zu value=%.0f (expected %llu)\n", points, *value,
            (unsigned long long)expected);
  }
  if (!ok) fprintf(stderr, "check: last request: %.2000s\n", last);
  free(buf);
  return ok;
}

int main(int argc, char **argv) {
  metrics_opts o;
  otel_config *cfg = NULL;
  otel_engine *eng = NULL;
  otel_scope *scope = NULL;
  otel_instrument *inst = NULL;
  otel_bound *bound = NULL;
  int32_t rc;
  int t, counting, check_ok = -1;
  uint64_t st[OTEL_STAT_COUNT], batches0;
  shared_state shared;
  thread_arg args[64];
  pthread_t tids[64];
  uint64_t warmup_failed = 0, p0, p1, ops = 0, allocs = 0, failed = 0, expected;
  double ns_sum = 0, cpu_sum = 0, ops_per_s = 0, value = -1, sum = -1, expected_sum;
  long long dropped;

  if (parse(argc, argv, &o)) {
    usage(argv[0]);
    return 2;
  }
  init_attrs();
  counting = otb_alloc_count_active();
  if (!counting) fprintf(stderr, "warning: allocation counting is not active\n");
  if (o.check_file) {
    FILE *f = fopen(o.check_file, "w"); /* the exporter appends: start empty */
    if (!f) {
      perror(o.check_file);
      return 1;
    }
    fclose(f);
  }

  if (bench_config_new(&cfg)) return 1;
  if (bench_set_key(cfg, "OTEL_METRICS_EXPORTER", "file") ||
      bench_set_key(cfg, "OTELBRIDGE_FILE_PATH", o.check_file ? o.check_file : "/dev/null") ||
      bench_set_key(cfg, "OTELBRIDGE_FILE_FORMAT", o.check_file ? "json" : "proto") ||
      bench_set_key(cfg, "OTEL_LOGS_EXPORTER", "none") || bench_set_key(cfg, "OTEL_TRACES_EXPORTER", "none") ||
      bench_set_key(cfg, "OTEL_METRIC_EXPORT_INTERVAL", "1000"))
    return 1;
  if (bench_engine_open(cfg, &eng, &scope)) return 1;
  if (o.kase == CASE_HIST3) {
    rc = otel_instrument_create(scope, OTEL_INSTRUMENT_HISTOGRAM, OTEL_NUMBER_DOUBLE,
                                otel_cstr("bench.duration"), otel_cstr("ms"),
                                otel_cstr("benchmark histogram"), NULL, 0, NULL, NULL, &inst);
  } else {
    rc = otel_instrument_create(scope, OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT,
                                otel_cstr("bench.requests"), otel_cstr("1"),
                                otel_cstr("benchmark counter"), NULL, 0, NULL, NULL, &inst);
  }
  if (rc != OTEL_OK) {
    fprintf(stderr, "otel_instrument_create: %s\n", otel_status_str(rc));
    return 1;
  }
  if (o.kase == CASE_BOUND) {
    rc = otel_instrument_bind(inst, g_attrs, 3, &bound);
    if (rc != OTEL_OK) {
      fprintf(stderr, "otel_instrument_bind: %s\n", otel_status_str(rc));
      return 1;
    }
  }

  shared.opts = &o;
  shared.inst = inst;
  shared.bound = bound;
  pthread_barrier_init(&shared.warm_done, NULL, (unsigned)o.threads + 1);
  pthread_barrier_init(&shared.go, NULL, (unsigned)o.threads + 1);
  for (t = 0; t < o.threads; ++t) {
    memset(&args[t], 0, sizeof args[t]);
    args[t].shared = &shared;
    if (pthread_create(&tids[t], NULL, op_thread, &args[t]) != 0) {
      fprintf(stderr, "pthread_create failed\n");
      return 1;
    }
  }
  pthread_barrier_wait(&shared.warm_done);
  rc = otel_engine_flush(eng, 0); /* collects and exports the warm-up */
  if (rc != OTEL_OK) fprintf(stderr, "warning: warm-up flush: %s\n", otel_status_str(rc));
  memset(st, 0, sizeof st);
  otel_engine_stats(eng, OTEL_SIGNAL_METRICS, st, OTEL_STAT_COUNT);
  batches0 = st[OTEL_STAT_EXPORT_BATCHES];
  p0 = bench_process_cpu_ns();
  pthread_barrier_wait(&shared.go);
  for (t = 0; t < o.threads; ++t) pthread_join(tids[t], NULL);
  /* export batches made by the periodic collections while the threads ran (1 per collection:
   * one instrument, so one Metric message per collection) */
  memset(st, 0, sizeof st);
  otel_engine_stats(eng, OTEL_SIGNAL_METRICS, st, OTEL_STAT_COUNT);
  {
    uint64_t collections = st[OTEL_STAT_EXPORT_BATCHES] - batches0;
    if (bench_final_flush_stats(eng, OTEL_SIGNAL_METRICS, st, &p1)) return 1;
    dropped = bench_dropped(st);
    for (t = 0; t < o.threads; ++t) {
      warmup_failed += args[t].warmup_failed;
      ops += args[t].ops;
      allocs += args[t].result.allocs;
      failed += args[t].result.failed;
      ns_sum += (double)args[t].result.ns / (double)args[t].ops;
      cpu_sum += (double)args[t].result.cpu_ns / (double)args[t].ops;
      ops_per_s += (double)args[t].ops * 1e9 / (double)args[t].result.ns;
    }
    expected = ops + o.warmup * (uint64_t)o.threads;
    expected_sum = 0;
    if (o.kase == CASE_HIST3)
      for (t = 0; t < o.threads; ++t) expected_sum += hist_sum(o.warmup + args[t].ops);
    fprintf(stderr,
            "stats(metrics, %s, threads=%d): accepted=%llu exported=%llu dropped_queue_full=%llu "
            "dropped_oldest=%llu dropped_too_large=%llu dropped_shutdown=%llu failed=%llu "
            "rejected=%llu invalid=%llu queued=%llu in_flight=%llu batches=%llu "
            "warmup_failed_calls=%llu\n",
            o.case_name, o.threads, (unsigned long long)st[OTEL_STAT_ACCEPTED],
            (unsigned long long)st[OTEL_STAT_EXPORTED],
            (unsigned long long)st[OTEL_STAT_DROPPED_QUEUE_FULL],
            (unsigned long long)st[OTEL_STAT_DROPPED_OLDEST],
            (unsigned long long)st[OTEL_STAT_DROPPED_TOO_LARGE],
            (unsigned long long)st[OTEL_STAT_DROPPED_SHUTDOWN],
            (unsigned long long)st[OTEL_STAT_FAILED], (unsigned long long)st[OTEL_STAT_REJECTED],
            (unsigned long long)st[OTEL_STAT_INVALID], (unsigned long long)st[OTEL_STAT_QUEUED],
            (unsigned long long)st[OTEL_STAT_IN_FLIGHT],
            (unsigned long long)st[OTEL_STAT_EXPORT_BATCHES], (unsigned long long)warmup_failed);
    if (o.check_file && o.kase != CASE_FLOOR)
      check_ok = check_export(o.check_file, &o, expected, expected_sum, &value, &sum);
    if (st[OTEL_STAT_FAILED] || st[OTEL_STAT_REJECTED] || st[OTEL_STAT_INVALID] || dropped ||
        warmup_failed || failed)
      check_ok = 0; /* an export failure, a drop or a failed call fails any run */
    printf("RESULT impl=otelbridge variant=%s threads=%d attrs=%d ops=%llu ns_per_op=%.2f "
           "allocs_per_op=%.3f ops_per_s=%.0f cpu_ns_per_op=%.2f proc_cpu_ns_per_op=%.2f "
           "collections=%llu exported=%llu dropped=%lld failed=%llu expected=%llu value=%.0f "
           "check=%s\n",
           o.case_name, o.threads, o.attrs, (unsigned long long)ops, ns_sum / o.threads,
           counting ? (double)allocs / (double)ops : -1.0, ops_per_s, cpu_sum / o.threads,
           (double)(p1 - p0) / (double)ops, (unsigned long long)collections,
           (unsigned long long)st[OTEL_STAT_EXPORTED], dropped,
           (unsigned long long)(failed + warmup_failed), (unsigned long long)expected, value,
           check_ok < 0 ? "-" : check_ok ? "ok" : "FAIL");
    fflush(stdout);
  }

  bench_engine_close(eng);
  pthread_barrier_destroy(&shared.warm_done);
  pthread_barrier_destroy(&shared.go);
  return check_ok == 0 ? 3 : 0;
}
