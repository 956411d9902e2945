/*
 * bench_spans.c — calling-thread cost of a span start + end through the public C ABI only
 * (otelbridge.h + libotelbridge.so). Compare with peer_otelcpp_spans.cc (same workload).
 *
 * Engine: otel_engine_new() with
 *   OTEL_TRACES_EXPORTER=file, OTELBRIDGE_FILE_PATH=/dev/null, OTELBRIDGE_FILE_FORMAT=proto,
 *   OTEL_LOGS_EXPORTER=none,
 *   OTEL_BSP_MAX_QUEUE_SIZE=65536, OTEL_BSP_MAX_EXPORT_BATCH_SIZE=512,
 *   OTEL_BSP_SCHEDULE_DELAY=100, OTELBRIDGE_BSP_MAX_QUEUE_BYTES=67108864,
 *   OTEL_TRACES_SAMPLER=always_on (--variant sampled, default) or always_off (--variant unsampled)
 * so the worker encodes batches and writes them to a discarding sink.
 * Per span ("record" in bench_common.h's vocabulary and in the RESULT line):
 *   otel_span_start(scope, "GET /api/todos", OTEL_SPAN_KIND_SERVER, start 0 (= now),
 *                   parent OTEL_PARENT_ROOT, attrs, 0 or 4, no links, &span)
 *   otel_span_end(span, 0 (= now))
 * The four attributes: http.request.method="GET", http.response.status_code=200 (int),
 * url.path="/api/todos", server.port=8080 (int).
 *
 * Each thread runs --warmup spans, the main thread flushes, then every thread times --records
 * spans and counts its own heap allocations (alloc_count). After a final flush the engine's trace
 * statistics give the exported and dropped counts (all OTEL_STAT_DROPPED_* summed). failed_emits
 * counts measured spans whose otel_span_start or otel_span_end did not return OTEL_OK.
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

static otel_attr g_attrs[4];
static otel_str g_name;
static otel_str g_empty;
static otel_span_parent g_root;

static void init_span(void) {
  g_attrs[0].key = otel_cstr("http.request.method");
  g_attrs[0].value = otel_value_str(otel_cstr("GET"));
  g_attrs[1].key = otel_cstr("http.response.status_code");
  g_attrs[1].value = otel_value_int(200);
  g_attrs[2].key = otel_cstr("url.path");
  g_attrs[2].value = otel_value_str(otel_cstr("/api/todos"));
  g_attrs[3].key = otel_cstr("server.port");
  g_attrs[3].value = otel_value_int(8080);
  g_name = otel_cstr("GET /api/todos");
  g_empty.ptr = NULL;
  g_empty.len = 0;
  memset(&g_root, 0, sizeof g_root);
  g_root.kind = OTEL_PARENT_ROOT;
}

/* One span: start + end. Returns 0 on success, 1 when either call failed. */
static inline int span_one(otel_scope *scope, int attrs) {
  otel_span span = 0;
  int32_t rc = otel_span_start(scope, g_name, OTEL_SPAN_KIND_SERVER, 0, &g_root,
                               attrs ? g_attrs : NULL, attrs ? 4u : 0u, NULL, 0, &span);
  if (rc != OTEL_OK) return 1;
  return otel_span_end(span, 0) != OTEL_OK;
}

static void *span_thread(void *p) {
  bench_thread_arg *a = (bench_thread_arg *)p;
  const bench_opts *o = a->shared->opts;
  otel_scope *scope = a->shared->scope;
  uint64_t i, failed = 0;
  bench_mark m;
  for (i = 0; i < o->warmup; ++i) a->warmup_failed += (uint64_t)span_one(scope, o->attrs);
  pthread_barrier_wait(&a->shared->warm_done);
  pthread_barrier_wait(&a->shared->go);
  m = bench_mark_begin();
  for (i = 0; i < o->records; ++i) failed += (uint64_t)span_one(scope, o->attrs);
  bench_mark_end(&m, a->result, failed);
  return NULL;
}

int main(int argc, char **argv) {
  bench_opts o;
  otel_config *cfg = NULL;
  otel_engine *eng = NULL;
  otel_scope *scope = NULL;
  int counting, sampled;
  uint64_t st[OTEL_STAT_COUNT];
  bench_thread_result results[64];
  uint64_t warmup_failed = 0, p0, p1;
  long long dropped;

  if (bench_parse(argc, argv, &o, "sampled|unsampled", "sampled")) return 2;
  if (strcmp(o.variant, "sampled") == 0) {
    sampled = 1;
  } else if (strcmp(o.variant, "unsampled") == 0) {
    sampled = 0;
  } else {
    fprintf(stderr, "unknown --variant %s (sampled|unsampled)\n", o.variant);
    return 2;
  }
  init_span();
  counting = otb_alloc_count_active();
  if (!counting) fprintf(stderr, "warning: allocation counting is not active\n");

  if (bench_config_new(&cfg)) return 1;
  if (bench_set_key(cfg, "OTEL_TRACES_EXPORTER", "file") ||
      bench_set_key(cfg, "OTELBRIDGE_FILE_PATH", "/dev/null") ||
      bench_set_key(cfg, "OTELBRIDGE_FILE_FORMAT", "proto") || bench_set_key(cfg, "OTEL_LOGS_EXPORTER", "none") ||
      bench_set_key(cfg, "OTEL_BSP_MAX_QUEUE_SIZE", "65536") ||
      bench_set_key(cfg, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512") ||
      bench_set_key(cfg, "OTEL_BSP_SCHEDULE_DELAY", "100") ||
      bench_set_key(cfg, "OTELBRIDGE_BSP_MAX_QUEUE_BYTES", "67108864") ||
      bench_set_key(cfg, "OTEL_TRACES_SAMPLER", sampled ? "always_on" : "always_off"))
    return 1;
  if (bench_engine_open(cfg, &eng, &scope)) return 1;

  if (bench_run_threads(&o, eng, scope, span_thread, results, &p0, &warmup_failed)) return 1;

  if (bench_final_flush_stats(eng, OTEL_SIGNAL_TRACES, st, &p1)) return 1;
  dropped = bench_dropped(st);
  {
    char prefix[128];
    snprintf(prefix, sizeof prefix, "stats(traces, %s, threads=%d, attrs=%d): ", o.variant,
             o.threads, o.attrs);
    bench_print_stats(prefix, st, "warmup_failed_spans", warmup_failed);
  }
  bench_print_result("otelbridge", &o, results, counting, (long long)st[OTEL_STAT_EXPORTED],
                     dropped, p1 - p0);

  bench_engine_close(eng);
  return 0;
}
