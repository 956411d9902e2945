/*
 * bench_otlp_throughput.c — sustained OTLP export throughput of one producer thread to a real
 * receiver (tests/collector otbreceiver) on loopback, through the public C ABI only. The peer is
 * peer_otelcpp_otlp.cc (same modes, same record, same output line); bench/run_otlp.sh runs both.
 *
 * Engine: otel_engine_new() with
 *   OTEL_LOGS_EXPORTER=otlp, OTEL_EXPORTER_OTLP_PROTOCOL=grpc|http/protobuf,
 *   OTEL_EXPORTER_OTLP_ENDPOINT=<--endpoint>, OTEL_EXPORTER_OTLP_COMPRESSION=none,
 *   OTEL_BLRP_MAX_QUEUE_SIZE=<--queue, 8192>, OTEL_BLRP_MAX_EXPORT_BATCH_SIZE=<--batch, 512>,
 *   OTEL_BLRP_SCHEDULE_DELAY=<--delay, 200> (the peer gets the same three numbers).
 * Per record: otel_log_emit(scope "bench" 1.0.0, time 0 (= now), observed 0 (= now), severity 9,
 * "INFO", body "benchmark message", 4 attributes http.method="GET", http.status_code=200,
 * user.id="u-12345", latency_ms=12.5, no event name, no trace context) — bench_logs.c's record.
 *
 * Phases: --warmup records (default 1000) are emitted first and the program waits (no flush) until
 * the schedule delay has exported them, so the connection exists before measuring. Then, measured (wall clock and getrusage(RUSAGE_SELF) user+sys, i.e. every
 * thread of the process: producer, export worker, libcurl/gRPC threads):
 *   --mode max     emit --records N (default 200000) as fast as the one thread can, then flush;
 *   --mode rate    emit at --rate R records/s for --duration S seconds, then flush. Paced in steps
 *                  of --step-ms (default 5): at each step the records due so far are emitted, then
 *                  the thread sleeps to the next step (clock_nanosleep; 200 wake-ups/s).
 * The measured phase ends when otel_engine_flush() returns (everything exported and answered).
 * Delivered = the engine's OTEL_STAT_EXPORTED over the measured phase; dropped = all
 * OTEL_STAT_DROPPED_* over the measured phase. run_otlp.sh cross-checks delivered against the
 * receiver's own /stats item count.
 *
 * Output: one line
 *   RESULT impl=otelbridge protocol=P mode=M target_rate=R duration_s=S emitted=N emit_rate=...
 *          delivered=D dropped=X failed=F rejected=J emit_errors=E warmup=W warmup_delivered=WD
 *          wall_s=... emit_s=... delivered_per_s=... cpu_s=... user_s=... sys_s=...
 *          cpu_s_per_million=... flush_ok=0|1 queue=Q batch=B delay_ms=MS batches=K avg_batch=...
 *          step_ms=... start_unix_ms=... end_unix_ms=... (the measured phase, wall clock)
 * and the full statistics on stderr.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "otelbridge/otelbridge.h"

typedef struct opts {
  const char *protocol; /* grpc | http/protobuf */
  const char *endpoint; /* http://127.0.0.1:PORT */
  const char *mode;     /* max | rate */
  uint64_t records;     /* max mode */
  uint64_t rate;        /* rate mode: records/s */
  double duration;      /* rate mode: seconds */
  uint64_t warmup;
  unsigned queue, batch, delay_ms;
  unsigned flush_timeout_ms;
  unsigned step_ms; /* rate mode: pacing step */
} opts;

static otel_attr g_attrs[4];
static otel_value g_body;
static otel_str g_sev_text;

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
}

static inline int32_t emit_one(otel_scope *scope) {
  static const otel_str empty = {NULL, 0};
  return otel_log_emit(scope, 0, 0, OTEL_SEVERITY_INFO, g_sev_text, &g_body, g_attrs, 4,
                       empty, NULL);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until_ns(uint64_t t) {
  struct timespec ts;
  ts.tv_sec = (time_t)(t / 1000000000ull);
  ts.tv_nsec = (long)(t % 1000000000ull);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

static uint64_t unix_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

static void cpu_now(double *user, double *sys) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
  *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void usage(const char *p) {
  fprintf(stderr,
          "usage: %s --protocol grpc|http/protobuf --endpoint http://127.0.0.1:PORT\n"
          "          [--mode max|rate] [--records N] [--rate R] [--duration S] [--warmup W]\n"
          "          [--queue Q] [--batch B] [--delay MS] [--flush-timeout MS] [--step-ms MS]\n"
          "  max:  emit N records (default 200000) as fast as possible, then flush\n"
          "  rate: emit R records/s for S seconds (default 3), then flush; the records due are\n"
          "        emitted every --step-ms (default 5) ms\n"
          "  defaults: --warmup 1000 --queue 8192 --batch 512 --delay 200 --flush-timeout 120000\n",
          p);
}

static int parse(int argc, char **argv, opts *o) {
  int i;
  memset(o, 0, sizeof *o);
  o->mode = "max";
  o->records = 200000;
  o->duration = 3.0;
  o->warmup = 1000;
  o->queue = 8192;
  o->batch = 512;
  o->delay_ms = 200;
  o->flush_timeout_ms = 120000;
  o->step_ms = 5;
  for (i = 1; i < argc; i += 2) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) return 1;
    if (!strcmp(a, "--protocol")) o->protocol = v;
    else if (!strcmp(a, "--endpoint")) o->endpoint = v;
    else if (!strcmp(a, "--mode")) o->mode = v;
    else if (!strcmp(a, "--records")) o->records = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--rate")) o->rate = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--duration")) o->duration = strtod(v, NULL);
    else if (!strcmp(a, "--warmup")) o->warmup = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--queue")) o->queue = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--batch")) o->batch = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--delay")) o->delay_ms = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--flush-timeout")) o->flush_timeout_ms = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--step-ms")) o->step_ms = (unsigned)strtoul(v, NULL, 10);
    else return 1;
  }
  if (!o->protocol || !o->endpoint) return 1;
  if (strcmp(o->protocol, "grpc") && strcmp(o->protocol, "http/protobuf")) return 1;
  if (!strcmp(o->mode, "max")) return o->records == 0;
  if (!strcmp(o->mode, "rate")) return o->rate == 0 || o->duration <= 0 || o->step_ms == 0;
  return 1;
}

static int set_key(otel_config *c, const char *k, const char *v) {
  char err[256];
  int32_t rc = otel_config_set(c, otel_cstr(k), otel_cstr(v), err, sizeof err);
  if (rc != OTEL_OK) {
    fprintf(stderr, "otel_config_set(%s=%s): %s: %s\n", k, v, otel_status_str(rc), err);
    return 1;
  }
  return 0;
}

static uint64_t dropped_of(const uint64_t *st) {
  return st[OTEL_STAT_DROPPED_QUEUE_FULL] + st[OTEL_STAT_DROPPED_OLDEST] +
         st[OTEL_STAT_DROPPED_TOO_LARGE] + st[OTEL_STAT_DROPPED_SHUTDOWN];
}

static void print_stats(const char *when, const uint64_t *st) {
  fprintf(stderr,
          "stats[%s]: accepted=%llu exported=%llu dropped_queue_full=%llu dropped_oldest=%llu "
          "dropped_too_large=%llu dropped_shutdown=%llu failed=%llu rejected=%llu invalid=%llu "
          "queued=%llu in_flight=%llu batches=%llu\n",
          when, (unsigned long long)st[OTEL_STAT_ACCEPTED],
          (unsigned long long)st[OTEL_STAT_EXPORTED],
          (unsigned long long)st[OTEL_STAT_DROPPED_QUEUE_FULL],
          (unsigned long long)st[OTEL_STAT_DROPPED_OLDEST],
          (unsigned long long)st[OTEL_STAT_DROPPED_TOO_LARGE],
          (unsigned long long)st[OTEL_STAT_DROPPED_SHUTDOWN],
          (unsigned long long)st[OTEL_STAT_FAILED], (unsigned long long)st[OTEL_STAT_REJECTED],
          (unsigned long long)st[OTEL_STAT_INVALID], (unsigned long long)st[OTEL_STAT_QUEUED],
          (unsigned long long)st[OTEL_STAT_IN_FLIGHT],
          (unsigned long long)st[OTEL_STAT_EXPORT_BATCHES]);
}

int main(int argc, char **argv) {
  opts o;
  otel_config *cfg = NULL;
  otel_engine *eng = NULL;
  otel_scope *scope = NULL;
  char err[512], num[32];
  int32_t rc;
  uint64_t i, st0[OTEL_STAT_COUNT], st1[OTEL_STAT_COUNT], st2[OTEL_STAT_COUNT];
  uint64_t emitted = 0, emit_errors = 0, warm_errors = 0, t0, t_emit_end, t1, start_ms, end_ms;
  double u0, s0, u1, s1, wall_s, emit_s, cpu_s, delivered;
  int flush_ok;

  if (parse(argc, argv, &o)) {
    usage(argv[0]);
    return 2;
  }
  init_record();

  if (otel_config_new(&cfg) != OTEL_OK) return 1;
  if (set_key(cfg, "OTEL_LOGS_EXPORTER", "otlp") ||
      set_key(cfg, "OTEL_EXPORTER_OTLP_PROTOCOL", o.protocol) ||
      set_key(cfg, "OTEL_EXPORTER_OTLP_ENDPOINT", o.endpoint) ||
      set_key(cfg, "OTEL_EXPORTER_OTLP_COMPRESSION", "none"))
    return 1;
  snprintf(num, sizeof num, "%u", o.queue);
  if (set_key(cfg, "OTEL_BLRP_MAX_QUEUE_SIZE", num)) return 1;
  snprintf(num, sizeof num, "%u", o.batch);
  if (set_key(cfg, "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", num)) return 1;
  snprintf(num, sizeof num, "%u", o.delay_ms);
  if (set_key(cfg, "OTEL_BLRP_SCHEDULE_DELAY", num)) return 1;
  err[0] = 0;
  rc = otel_engine_new(cfg, &eng, err, sizeof err);
  otel_config_free(cfg);
  if (rc != OTEL_OK) {
    fprintf(stderr, "otel_engine_new: %s: %s\n", otel_status_str(rc), err);
    return 1;
  }
  rc = otel_scope_get(eng, otel_cstr("bench"), otel_cstr("1.0.0"), otel_cstr(""), NULL, 0, &scope);
  if (rc != OTEL_OK) {
    fprintf(stderr, "otel_scope_get: %s\n", otel_status_str(rc));
    return 1;
  }

  /* Warm-up: connect, fill caches; not measured. It waits for the warm-up records to be exported
   * by the schedule delay instead of flushing, because a ForceFlush changes the peer's batching
   * for the rest of its life (see peer_otelcpp_otlp.cc); both programs do the same. */
  for (i = 0; i < o.warmup; ++i) warm_errors += emit_one(scope) != OTEL_OK;
  {
    const uint64_t limit = now_ns() + 10000000000ull;
    for (;;) {
      memset(st0, 0, sizeof st0);
      otel_engine_stats(eng, OTEL_SIGNAL_LOGS, st0, OTEL_STAT_COUNT);
      if (st0[OTEL_STAT_EXPORTED] + st0[OTEL_STAT_FAILED] + st0[OTEL_STAT_REJECTED] +
                  dropped_of(st0) >= o.warmup ||
          now_ns() > limit)
        break;
      sleep_until_ns(now_ns() + 2000000ull);
    }
    if (st0[OTEL_STAT_EXPORTED] != o.warmup)
      fprintf(stderr, "warning: only %llu of %llu warm-up records were exported\n",
              (unsigned long long)st0[OTEL_STAT_EXPORTED], (unsigned long long)o.warmup);
  }
  print_stats("after warm-up", st0);
  if (warm_errors) fprintf(stderr, "warning: %llu warm-up emits failed\n", (unsigned long long)warm_errors);

  /* measured phase */
  start_ms = unix_ms();
  cpu_now(&u0, &s0);
  t0 = now_ns();
  if (!strcmp(o.mode, "max")) {
    for (i = 0; i < o.records; ++i) emit_errors += emit_one(scope) != OTEL_OK;
    emitted = o.records;
  } else {
    const uint64_t total = (uint64_t)((double)o.rate * o.duration + 0.5);
    const uint64_t step = (uint64_t)o.step_ms * 1000000ull; /* pacing step */
    while (emitted < total) {
      uint64_t now = now_ns();
      uint64_t due = (uint64_t)((double)(now - t0) * (double)o.rate / 1e9);
      if (due > total) due = total;
      if (emitted < due) {
        for (; emitted < due; ++emitted) emit_errors += emit_one(scope) != OTEL_OK;
      } else {
        uint64_t next = t0 + ((now - t0) / step + 1) * step;
        sleep_until_ns(next);
      }
    }
  }
  t_emit_end = now_ns();
  rc = otel_engine_flush(eng, o.flush_timeout_ms);
  flush_ok = rc == OTEL_OK;
  if (!flush_ok) fprintf(stderr, "warning: final flush: %s\n", otel_status_str(rc));
  t1 = now_ns();
  cpu_now(&u1, &s1);
  end_ms = unix_ms();

  memset(st1, 0, sizeof st1);
  otel_engine_stats(eng, OTEL_SIGNAL_LOGS, st1, OTEL_STAT_COUNT);
  print_stats("after measured flush", st1);

  rc = otel_engine_shutdown(eng, o.flush_timeout_ms);
  if (rc != OTEL_OK) fprintf(stderr, "warning: otel_engine_shutdown: %s\n", otel_status_str(rc));
  memset(st2, 0, sizeof st2);
  otel_engine_stats(eng, OTEL_SIGNAL_LOGS, st2, OTEL_STAT_COUNT);
  print_stats("after shutdown", st2);
  if (st2[OTEL_STAT_EXPORTED] != st1[OTEL_STAT_EXPORTED] || dropped_of(st2) != dropped_of(st1))
    fprintf(stderr, "warning: counts changed between the measured flush and shutdown\n");

  wall_s = (double)(t1 - t0) / 1e9;
  emit_s = (double)(t_emit_end - t0) / 1e9;
  cpu_s = (u1 - u0) + (s1 - s0);
  delivered = (double)(st1[OTEL_STAT_EXPORTED] - st0[OTEL_STAT_EXPORTED]);
  printf("RESULT impl=otelbridge protocol=%s mode=%s target_rate=%llu duration_s=%g emitted=%llu "
         "emit_rate=%.0f delivered=%.0f dropped=%llu failed=%llu rejected=%llu emit_errors=%llu "
         "warmup=%llu warmup_delivered=%llu wall_s=%.4f emit_s=%.4f delivered_per_s=%.0f "
         "cpu_s=%.4f user_s=%.4f sys_s=%.4f cpu_s_per_million=%.4f flush_ok=%d queue=%u batch=%u "
         "delay_ms=%u batches=%llu avg_batch=%.1f step_ms=%u start_unix_ms=%llu end_unix_ms=%llu\n",
         o.protocol, o.mode, (unsigned long long)(strcmp(o.mode, "rate") ? 0 : o.rate),
         strcmp(o.mode, "rate") ? 0.0 : o.duration, (unsigned long long)emitted,
         emit_s > 0 ? (double)emitted / emit_s : 0.0, delivered,
         (unsigned long long)(dropped_of(st1) - dropped_of(st0)),
         (unsigned long long)(st1[OTEL_STAT_FAILED] - st0[OTEL_STAT_FAILED]),
         (unsigned long long)(st1[OTEL_STAT_REJECTED] - st0[OTEL_STAT_REJECTED]),
         (unsigned long long)emit_errors, (unsigned long long)o.warmup,
         (unsigned long long)st0[OTEL_STAT_EXPORTED], wall_s, emit_s,
         wall_s > 0 ? delivered / wall_s : 0.0, cpu_s, u1 - u0, s1 - s0,
         delivered > 0 ? cpu_s / delivered * 1e6 : -1.0, flush_ok, o.queue, o.batch, o.delay_ms,
         (unsigned long long)(st1[OTEL_STAT_EXPORT_BATCHES] - st0[OTEL_STAT_EXPORT_BATCHES]),
         st1[OTEL_STAT_EXPORT_BATCHES] > st0[OTEL_STAT_EXPORT_BATCHES]
             ? delivered / (double)(st1[OTEL_STAT_EXPORT_BATCHES] - st0[OTEL_STAT_EXPORT_BATCHES])
             : 0.0,
         strcmp(o.mode, "rate") ? 0u : o.step_ms, (unsigned long long)start_ms,
         (unsigned long long)end_ms);
  fflush(stdout);

  rc = otel_engine_free(eng);
  if (rc != OTEL_OK) fprintf(stderr, "warning: otel_engine_free: %s\n", otel_status_str(rc));
  return 0;
}
