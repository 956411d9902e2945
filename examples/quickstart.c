/* quickstart: a trace with a span per worker thread, log records emitted inside those spans (so
 * they carry the span's trace and span ids), and a counter and a histogram, from several threads
 * through otelbridge. The metrics are collected at shutdown (and every OTEL_METRIC_EXPORT_INTERVAL).
 *
 * With nothing configured it prints them on the console. Point it elsewhere with the usual
 * variables, e.g. OTEL_LOGS_EXPORTER=file OTELBRIDGE_FILE_PATH=logs.jsonl ./quickstart
 * Build against an installed copy:  cc quickstart.c $(pkg-config --cflags --libs otelbridge)
 */
#include <otelbridge/otelbridge.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define THREADS 4
#define RECORDS_PER_THREAD 5

static otel_scope *g_scope;
static otel_span g_root;
static otel_instrument *g_orders;   /* counter */
static otel_instrument *g_duration; /* histogram, ms */

static void *worker(void *arg) {
  long id = (long)arg;
  /* A child span of the request, made current on this thread: the log records below are
   * correlated with it without passing a context. */
  otel_span_parent parent = {OTEL_PARENT_SPAN, 0, g_root, {{0}, {0}, 0, 0, {0}}, {NULL, 0}};
  otel_attr span_attrs[1] = {{otel_cstr("thread.index"), otel_value_int(id)}};
  otel_span span = 0;
  uint64_t token = 0;
  otel_span_start(g_scope, otel_cstr("process order"), OTEL_SPAN_KIND_INTERNAL, 0, &parent,
                  span_attrs, 1, NULL, 0, &span);
  otel_context_attach(span, &token);
  for (int i = 0; i < RECORDS_PER_THREAD; i++) {
    otel_attr attrs[3] = {
        {otel_cstr("thread.index"), otel_value_int(id)},
        {otel_cstr("iteration"), otel_value_int(i)},
        {otel_cstr("payment.method"), otel_value_str(otel_cstr(i % 2 ? "card" : "wallet"))},
    };
    otel_value body = otel_value_str(otel_cstr("order processed"));
    int32_t st = otel_log_emit(g_scope, 0, 0, OTEL_SEVERITY_INFO, otel_cstr("INFO"), &body, attrs,
                               3, otel_cstr(""), NULL);
    if (st != OTEL_OK) fprintf(stderr, "emit: %s\n", otel_status_str(st));
    otel_attr m[1] = {{otel_cstr("payment.method"), otel_value_str(otel_cstr(i % 2 ? "card" : "wallet"))}};
    otel_metric_record_i64(g_orders, 1, m, 1);
    otel_metric_record_f64(g_duration, 3.5 * (i + 1), m, 1);
  }
  otel_context_restore(token);
  otel_span_end(span, 0);
  return NULL;
}

int main(void) {
  char err[256];
  otel_config *cfg = NULL;
  otel_config_new(&cfg);
  /* The library's default exporter is the spec's "otlp"; this example prints to the console
   * unless the environment names an exporter. */
  const char *env = getenv("OTEL_LOGS_EXPORTER");
  if (!env || !*env) otel_config_set(cfg, otel_cstr("OTEL_LOGS_EXPORTER"), otel_cstr("console"), NULL, 0);
  env = getenv("OTEL_TRACES_EXPORTER");
  if (!env || !*env) otel_config_set(cfg, otel_cstr("OTEL_TRACES_EXPORTER"), otel_cstr("console"), NULL, 0);
  env = getenv("OTEL_METRICS_EXPORTER");
  if (!env || !*env) otel_config_set(cfg, otel_cstr("OTEL_METRICS_EXPORTER"), otel_cstr("console"), NULL, 0);
  const char *svc = getenv("OTEL_SERVICE_NAME");
  if (!svc || !*svc)
    otel_config_set(cfg, otel_cstr("OTEL_SERVICE_NAME"), otel_cstr("quickstart"), NULL, 0);
  int32_t st = otel_init(cfg, err, sizeof err);
  otel_config_free(cfg);
  if (st != OTEL_OK) {
    fprintf(stderr, "otel_init: %s: %s\n", otel_status_str(st), err);
    return 1;
  }
  st = otel_scope_get(NULL, otel_cstr("quickstart"), otel_cstr(OTEL_VERSION_STRING), otel_cstr(""),
                      NULL, 0, &g_scope);
  if (st != OTEL_OK) {
    fprintf(stderr, "otel_scope_get: %s\n", otel_status_str(st));
    return 1;
  }

  otel_instrument_create(g_scope, OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, otel_cstr("orders.processed"),
                         otel_cstr("{order}"), otel_cstr("Orders processed"), NULL, 0, NULL, NULL, &g_orders);
  otel_instrument_create(g_scope, OTEL_INSTRUMENT_HISTOGRAM, OTEL_NUMBER_DOUBLE, otel_cstr("order.duration"),
                         otel_cstr("ms"), otel_cstr("Time to process an order"), NULL, 0, NULL, NULL, &g_duration);

  otel_attr root_attrs[2] = {{otel_cstr("http.request.method"), otel_value_str(otel_cstr("POST"))},
                             {otel_cstr("http.route"), otel_value_str(otel_cstr("/checkout"))}};
  otel_span_start(g_scope, otel_cstr("POST /checkout"), OTEL_SPAN_KIND_SERVER, 0, NULL, root_attrs, 2,
                  NULL, 0, &g_root);

  pthread_t t[THREADS];
  for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)i);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);

  /* A record with structured body, a trace context and an event name. */
  otel_attr kv[2] = {{otel_cstr("sku"), otel_value_str(otel_cstr("A-42"))},
                     {otel_cstr("qty"), otel_value_int(3)}};
  otel_value body;
  body.type = OTEL_VALUE_MAP;
  body.reserved_ = 0;
  body.u.map.items = kv;
  body.u.map.len = 2;
  otel_span_context ctx = {{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d,
                            0x0e, 0x0e, 0x47, 0x36},
                           {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
                           1,
                           0,
                           {0}};
  otel_log_emit(g_scope, 0, 0, OTEL_SEVERITY_WARN, otel_cstr("WARN"), &body, NULL, 0,
                otel_cstr("cart.checkout"), &ctx);
  otel_span_add_event(g_root, otel_cstr("payment.authorized"), 0, NULL, 0);
  otel_span_set_status(g_root, OTEL_STATUS_OK, otel_cstr(""));
  otel_span_end(g_root, 0);

  uint64_t stats[OTEL_STAT_COUNT], spans[OTEL_STAT_COUNT];
  st = otel_engine_shutdown(NULL, 5000);
  otel_engine_stats(NULL, OTEL_SIGNAL_TRACES, spans, OTEL_STAT_COUNT);
  fprintf(stderr, "quickstart: spans accepted=%llu exported=%llu\n",
          (unsigned long long)spans[OTEL_STAT_ACCEPTED], (unsigned long long)spans[OTEL_STAT_EXPORTED]);
  otel_engine_stats(NULL, OTEL_SIGNAL_LOGS, stats, OTEL_STAT_COUNT);
  fprintf(stderr, "quickstart: shutdown=%s accepted=%llu exported=%llu dropped=%llu\n",
          otel_status_str(st), (unsigned long long)stats[OTEL_STAT_ACCEPTED],
          (unsigned long long)stats[OTEL_STAT_EXPORTED],
          (unsigned long long)(stats[OTEL_STAT_DROPPED_QUEUE_FULL] + stats[OTEL_STAT_DROPPED_OLDEST] +
                               stats[OTEL_STAT_DROPPED_TOO_LARGE] + stats[OTEL_STAT_DROPPED_SHUTDOWN]));
  return st == OTEL_OK ? 0 : 1;
}
