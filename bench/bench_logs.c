/*
 * bench_logs.c — calling-thread cost of otel_log_emit() through the public C ABI only
 * (otelbridge.h + libotelbridge.so). Compare with peer_otelcpp_logs.cc (same workload).
 *
 * Engine: otel_engine_new() with
 *   OTEL_LOGS_EXPORTER=file, OTELBRIDGE_FILE_PATH=/dev/null, OTELBRIDGE_FILE_FORMAT=proto
 *   OTEL_BLRP_MAX_QUEUE_SIZE=65536, OTEL_BLRP_MAX_EXPORT_BATCH_SIZE=512,
 *   OTEL_BLRP_SCHEDULE_DELAY=100, OTELBRIDGE_BLRP_MAX_QUEUE_BYTES=67108864
 * so the worker encodes batches and writes them to a discarding sink.
 * Per record: otel_log_emit(scope, time 0 (= now), observed 0 (= now), severity 9, "INFO",
 * body "benchmark message", 0 or 4 attributes, no event name, no trace context). The four
 * attributes: http.method="GET", http.status_code=200 (int), user.id="u-12345", latency_ms=12.5.
 *
 * Each thread emits --warmup records, the main thread flushes, then every thread times --records
 * emits and counts its own heap allocations (alloc_count). After a final flush the engine's log
 * statistics give the exported and dropped counts (all OTEL_STAT_DROPPED_* summed).
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
static otel_value g_body;
static otel_str g_sev_text;
static otel_str g_empty;

static void init_record(void) {
  g_attrs[0].key = otel_cstr("http.method");
  g_attrs[0].value = otel_value_str(otel_cstr("GET"));
  g_attrs[1].key = otel_cstr("http.status_code");
  g_attrs[1].value = otel_value_int(200);
  g_attrs[2].key = otel_cstr("user.id");
  g_attrs[2].value = otel_value_str(otel_cstr("u-12345"));
  g_attrs[3].key = otel_cstr("latency_ms");
  g_attrs[3].value = otel_value_double(12.5);
  g_body = otel_value_str(otel_cstr("benchmark message"));
  g_sev_text = otel_cstr("INFO");
  g_empty.ptr = NULL;
  g_empty.len = 0;
}

static inline int32_t emit_one(otel_scope *scope, int attrs) {
  return otel_log_emit(scope, 0, 0, OTEL_SEVERITY_INFO, g_sev_text, &g_body,
                       attrs ? g_attrs : NULL, attrs ? 4u : 0u, g_empty, NULL);
}

static void *emit_thread(void *p) {
  bench_thread_arg *a = (bench_thread_arg *)p;
  const bench_opts *o = a->shared->opts;
  otel_scope *scope = a->shared->scope;
  uint64_t i, failed = 0;
  bench_mark m;
  for (i = 0; i < o->warmup; ++i) a->warmup_failed += emit_one(scope, o->attrs) != OTEL_OK;
  pthread_barrier_wait(&a->shared->warm_done);
  pthread_barrier_wait(&a->shared->go);
  m = bench_mark_begin();
  for (i = 0; i < o->records; ++i) failed += emit_one(scope, o->attrs) != OTEL_OK;
  bench_mark_end(&m, a->result, failed);
  return NULL;
}

int main(int argc, char **argv) {
  bench_opts o;
  otel_config *cfg = NULL;
  otel_engine *eng = NULL;
  otel_scope *scope = NULL;
  int counting;
  uint64_t st[OTEL_STAT_COUNT];
  bench_thread_result results[64];
  uint64_t warmup_failed = 0, p0, p1;
  long long dropped;

  if (bench_parse(argc, argv, &o, NULL, "-")) return 2;
  init_record();
  counting = otb_alloc_count_active();
  if (!counting) fprintf(stderr, "warning: allocation counting is not active\n");

  if (bench_config_new(&cfg)) return 1;
  if (bench_set_key(cfg, "OTEL_LOGS_EXPORTER", "file") || bench_set_key(cfg, "OTELBRIDGE_FILE_PATH", "/dev/null") ||
      bench_set_key(cfg, "OTELBRIDGE_FILE_FORMAT", "proto") ||
      bench_set_key(cfg, "OTEL_BLRP_MAX_QUEUE_SIZE", "65536") ||
      bench_set_key(cfg, "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "512") ||
      bench_set_key(cfg, "OTEL_BLRP_SCHEDULE_DELAY", "100") ||
      bench_set_key(cfg, "OTELBRIDGE_BLRP_MAX_QUEUE_BYTES", "67108864"))
    return 1;
  if (bench_engine_open(cfg, &eng, &scope)) return 1;

  if (bench_run_threads(&o, eng, scope, emit_thread, results, &p0, &warmup_failed)) return 1;

  if (bench_final_flush_stats(eng, OTEL_SIGNAL_LOGS, st, &p1)) return 1;
  dropped = bench_dropped(st);
  bench_print_stats("stats: ", st, "warmup_failed_emits", warmup_failed);
  bench_print_result("otelbridge", &o, results, counting, (long long)st[OTEL_STAT_EXPORTED],
                     dropped, p1 - p0);

  bench_engine_close(eng);
  return 0;
}
