/*
 * otelbridge.h — the C ABI of libotelbridge, a native OpenTelemetry engine.
 *
 * One engine per process: logs (and, as they land, traces and metrics) are encoded into OTLP wire
 * bytes on the calling thread, queued in a bounded multi-producer queue, batched by one worker
 * thread and exported (console, file; OTLP gRPC/HTTP as the transports land).
 *
 * Conventions, for every function below:
 *  - Every function returns an int32_t status: OTEL_OK (0) or a negative OTEL_E_* code.
 *    otel_status_str() names it. No function throws, aborts or keeps a thread-local "last error".
 *  - Strings are otel_str views {ptr, len}: not NUL-terminated, not required to be valid UTF-8
 *    (invalid sequences are replaced by U+FFFD before they reach the wire). A view with ptr == NULL
 *    and len == 0 is the empty string; ptr == NULL with len > 0 is OTEL_E_INVALID_ARG.
 *  - Ownership: the library copies everything it is given before the call returns. The caller
 *    keeps ownership of every pointer it passes in.
 *  - Thread safety: every function may be called from any thread at any time, unless its comment
 *    says otherwise.
 *  - Calls that can fail for reasons a human must read (configuration, initialisation) take an
 *    optional caller-owned error buffer (err, err_len); on failure a NUL-terminated message is
 *    written there, truncated to err_len. Pass NULL, 0 to ignore it.
 *  - Configuration keys are the OpenTelemetry specification's environment variable names
 *    (OTEL_BLRP_MAX_QUEUE_SIZE, OTEL_LOGS_EXPORTER, ...) plus a few OTELBRIDGE_* keys of our own,
 *    listed in docs/configuration.md. Values set in code win over the environment.
 *
 * The section between OTEL_CDEF_BEGIN and OTEL_CDEF_END uses only plain C declarations, so that
 * Python's cffi cdef() can read it as is (see bindings/).
 */
#ifndef OTELBRIDGE_H
#define OTELBRIDGE_H

#include <stddef.h>
#include <stdint.h>

#define OTEL_VERSION_MAJOR 0
#define OTEL_VERSION_MINOR 1
#define OTEL_VERSION_PATCH 0
#define OTEL_VERSION_STRING "0.1.0"
#define OTEL_VERSION_NUMBER \
  (OTEL_VERSION_MAJOR * 10000 + OTEL_VERSION_MINOR * 100 + OTEL_VERSION_PATCH)

#ifndef OTEL_API
#if defined(_WIN32)
#define OTEL_API
#else
#define OTEL_API __attribute__((visibility("default")))
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* OTEL_CDEF_BEGIN */

/* ---- Status codes ---------------------------------------------------------------------------- */
#define OTEL_OK 0
#define OTEL_E_INVALID_ARG -1      /* a NULL pointer, an overflowing length, an out-of-range value */
#define OTEL_E_UNKNOWN_KEY -2      /* a configuration key this library does not know */
#define OTEL_E_INVALID_CONFIG -3   /* a configuration value that does not parse (in code) */
#define OTEL_E_NO_MEMORY -4        /* an allocation failed */
#define OTEL_E_QUEUE_FULL -5       /* the record was dropped: the queue is full (counted) */
#define OTEL_E_TOO_LARGE -6        /* the record was dropped: larger than the queue (counted) */
#define OTEL_E_SHUTDOWN -7         /* the engine was shut down; nothing was done */
#define OTEL_E_TIMEOUT -8          /* flush or shutdown did not finish within its timeout */
#define OTEL_E_NOT_INITIALIZED -9  /* no global engine: call otel_init() first */
#define OTEL_E_ALREADY_INITIALIZED -10 /* otel_init() was already called */
#define OTEL_E_INTERNAL -11        /* a bug in the library (an exception reached the boundary) */
#define OTEL_E_UNSUPPORTED -12     /* a feature this build does not have */
#define OTEL_E_INVALID_HANDLE -13  /* a handle that is stale, ended, or from another engine */
#define OTEL_E_CHECK_FAILED -14    /* otel_diagnose: at least one check failed (see the report) */

/* ---- Small value types (frozen: their size and layout never change) --------------------------- */

/* A string or byte view. Not NUL-terminated. Size 16 on LP64. */
typedef struct otel_str {
  const char *ptr;
  size_t len;
} otel_str;

/* Value types for otel_value.type. */
#define OTEL_VALUE_EMPTY 0  /* no value (an AnyValue with nothing set) */
#define OTEL_VALUE_STRING 1 /* u.str */
#define OTEL_VALUE_BOOL 2   /* u.boolean: 0 or 1 (any non-zero is true) */
#define OTEL_VALUE_INT 3    /* u.i64 */
#define OTEL_VALUE_DOUBLE 4 /* u.f64 (NaN and infinities pass through) */
#define OTEL_VALUE_BYTES 5  /* u.bytes: arbitrary bytes, never UTF-8-checked */
#define OTEL_VALUE_ARRAY 6  /* u.array: an array of values (may mix types) */
#define OTEL_VALUE_MAP 7    /* u.map: a list of key/value pairs (a nested map) */

struct otel_value;
struct otel_attr;

typedef struct otel_value_array {
  const struct otel_value *items;
  size_t len;
} otel_value_array;

typedef struct otel_attr_array {
  const struct otel_attr *items;
  size_t len;
} otel_attr_array;

/* A tagged value (OTLP AnyValue). Size 24 on LP64. Nesting deeper than OTEL_MAX_VALUE_DEPTH
 * levels of arrays/maps is rejected with OTEL_E_INVALID_ARG. */
typedef struct otel_value {
  int32_t type; /* OTEL_VALUE_* */
  int32_t reserved_;
  union {
    otel_str str;
    otel_str bytes;
    int32_t boolean;
    int64_t i64;
    double f64;
    otel_value_array array;
    otel_attr_array map;
  } u;
} otel_value;

#define OTEL_MAX_VALUE_DEPTH 16

/* A key/value attribute (OTLP KeyValue). Size 40 on LP64. Keys must be non-empty; an attribute
 * with an empty key is dropped and counted in dropped_attributes_count. When a key repeats, the
 * last value wins. */
typedef struct otel_attr {
  otel_str key;
  otel_value value;
} otel_attr;

/* A span context, as carried by log records (and later spans and propagators). Size 32.
 * An all-zero trace_id means "no trace context". */
typedef struct otel_span_context {
  uint8_t trace_id[16];
  uint8_t span_id[8];
  uint8_t trace_flags; /* W3C trace flags: bit 0 = sampled */
  uint8_t is_remote;
  uint8_t reserved_[6];
} otel_span_context;

/* ---- Signals and statistics ------------------------------------------------------------------ */
#define OTEL_SIGNAL_LOGS 0
#define OTEL_SIGNAL_TRACES 1
#define OTEL_SIGNAL_METRICS 2

/* Indexes into the array filled by otel_engine_stats(). New statistics are only ever appended.
 * Every record handed to an emit call ends in exactly one of: exported, dropped_* or failed,
 * rejected (once it left the queue), or is still queued/in flight:
 *   accepted = queued + in_flight + exported + rejected + failed + dropped_oldest
 *   emitted  = accepted + dropped_queue_full + dropped_too_large + dropped_shutdown + invalid */
#define OTEL_STAT_QUEUED 0             /* records in the queue now */
#define OTEL_STAT_QUEUED_BYTES 1       /* encoded bytes in the queue now */
#define OTEL_STAT_QUEUE_CAPACITY 2     /* the queue's capacity in records */
#define OTEL_STAT_QUEUE_CAPACITY_BYTES 3 /* the queue's capacity in bytes */
#define OTEL_STAT_ACCEPTED 4           /* records that entered the queue */
#define OTEL_STAT_EXPORTED 5           /* records the exporter accepted */
#define OTEL_STAT_DROPPED_QUEUE_FULL 6 /* new records refused: the queue was full (drop newest) */
#define OTEL_STAT_DROPPED_OLDEST 7     /* queued records evicted to make room (drop oldest) */
#define OTEL_STAT_DROPPED_TOO_LARGE 8  /* records larger than the queue's byte capacity */
#define OTEL_STAT_DROPPED_SHUTDOWN 9   /* records emitted after shutdown, or left at its timeout */
#define OTEL_STAT_FAILED 10            /* records in batches the exporter failed to deliver */
#define OTEL_STAT_REJECTED 11          /* records the receiver rejected (partial success) */
#define OTEL_STAT_INVALID 12           /* emit calls refused for invalid arguments */
#define OTEL_STAT_EXPORT_BATCHES 13    /* export calls made (successful or not) */
#define OTEL_STAT_IN_FLIGHT 14         /* records taken from the queue, not yet resolved */
#define OTEL_STAT_COUNT 15

/* ---- Severity numbers (OTLP SeverityNumber) -------------------------------------------------- */
#define OTEL_SEVERITY_UNSPECIFIED 0
#define OTEL_SEVERITY_TRACE 1
#define OTEL_SEVERITY_DEBUG 5
#define OTEL_SEVERITY_INFO 9
#define OTEL_SEVERITY_WARN 13
#define OTEL_SEVERITY_ERROR 17
#define OTEL_SEVERITY_FATAL 21
#define OTEL_SEVERITY_MAX 24

/* ---- Diagnostics levels (the library's own messages; OTEL_LOG_LEVEL) -------------------------- */
#define OTEL_DIAG_ERROR 1
#define OTEL_DIAG_WARN 2
#define OTEL_DIAG_INFO 3
#define OTEL_DIAG_DEBUG 4

/* ---- Opaque handles -------------------------------------------------------------------------- */
typedef struct otel_config otel_config; /* a set of configuration values, owned by the caller */
typedef struct otel_engine otel_engine; /* an engine: pipelines, worker, exporters */
typedef struct otel_scope otel_scope;   /* an instrumentation scope (name, version, attributes) */

/* ---- Version and status ---------------------------------------------------------------------- */

/* The library's version as "MAJOR.MINOR.PATCH". Static storage; never NULL. */
OTEL_API const char *otel_version(void);

/* A short English description of a status code. Static storage; never NULL. */
OTEL_API const char *otel_status_str(int32_t status);

/* ---- Diagnostics ----------------------------------------------------------------------------- */

/* A function that receives the library's own diagnostics instead of stderr. `message` is valid
 * only during the call. It may be called from any thread, including the engine's worker, so it
 * must not block for long and must not call otel_* emit functions (the engine never logs through
 * itself). */
typedef void (*otel_diag_fn)(int32_t level, otel_str message, void *user_data);

/* Routes diagnostics to fn (NULL restores stderr). Messages above max_level are not produced
 * (max_level 0 = read OTEL_LOG_LEVEL; default info). Process-wide. */
OTEL_API int32_t otel_set_diagnostics(otel_diag_fn fn, void *user_data, int32_t max_level);

/* ---- Configuration --------------------------------------------------------------------------- */

/* Creates an empty configuration. *out is set on OTEL_OK. */
OTEL_API int32_t otel_config_new(otel_config **out);

/* Frees a configuration. NULL is a no-op. Engines copy what they need at creation. */
OTEL_API void otel_config_free(otel_config *config);

/* Sets one value. The key is a spec environment variable name or an OTELBRIDGE_* key.
 * Returns OTEL_E_UNKNOWN_KEY for a key this library does not know and OTEL_E_INVALID_CONFIG for
 * a value that does not parse (code is held to a stricter standard than the environment, where a
 * bad value warns and falls back to the default). An empty value unsets the key. */
OTEL_API int32_t otel_config_set(otel_config *config, otel_str key, otel_str value, char *err,
                                 size_t err_len);

/* Adds resource attributes, copied. They win over OTEL_RESOURCE_ATTRIBUTES, and lose to
 * OTEL_SERVICE_NAME for service.name. */
OTEL_API int32_t otel_config_add_resource_attrs(otel_config *config, const otel_attr *attrs,
                                                size_t n_attrs, char *err, size_t err_len);

/* Sets telemetry.sdk.language (default "cpp"); bindings set their own language. */
OTEL_API int32_t otel_config_set_sdk_language(otel_config *config, otel_str language);

/* Metric views (applied when an instrument is created; the first matching view wins):
 *   instrument   the instrument name to match, case-insensitive; '*' matches any run of
 *                characters and '?' one character ("http.*", "*")
 *   name         a new name (empty = keep); only with a pattern without wildcards
 *   description  a new description (empty = keep)
 *   aggregation  OTEL_AGGREGATION_*; EXPLICIT_BUCKETS takes boundaries (strictly increasing)
 *   keys         with filter_keys = 1, only these attribute keys are kept (n_keys may be 0: no
 *                attributes at all); filter_keys = 0 keeps every attribute
 * The same views can be given in the environment or through otel_config_set as
 * OTELBRIDGE_METRICS_VIEWS (syntax in docs/configuration.md). Views set in code come first. */
#define OTEL_AGGREGATION_DEFAULT 0
#define OTEL_AGGREGATION_DROP 1
#define OTEL_AGGREGATION_EXPLICIT_BUCKETS 2
OTEL_API int32_t otel_config_add_view(otel_config *config, otel_str instrument, otel_str name,
                                      otel_str description, int32_t aggregation,
                                      const double *boundaries, size_t n_boundaries,
                                      int32_t filter_keys, const otel_str *keys, size_t n_keys,
                                      char *err, size_t err_len);

/* ---- Engines --------------------------------------------------------------------------------- */

/* Creates the process-wide engine from config (NULL = environment only). The environment is read
 * now; values in config win. Returns OTEL_E_ALREADY_INITIALIZED if it exists. The global engine
 * is flushed and stopped at exit() (bounded by its export timeout) and after fork() the child
 * gets a fresh worker. */
OTEL_API int32_t otel_init(const otel_config *config, char *err, size_t err_len);

/* The global engine, or NULL before otel_init(). Every function that takes an engine also
 * accepts NULL to mean this one. */
OTEL_API otel_engine *otel_global(void);

/* Creates an independent engine (for tests and embedders). Free it with otel_engine_free(). */
OTEL_API int32_t otel_engine_new(const otel_config *config, otel_engine **out, char *err,
                                 size_t err_len);

/* Exports everything queued now; returns OTEL_OK when it all left the queue and the exporter
 * answered, or OTEL_E_TIMEOUT after timeout_ms (0 = no limit). */
OTEL_API int32_t otel_engine_flush(otel_engine *engine, uint32_t timeout_ms);

/* Flushes, then stops the worker and the exporters, within timeout_ms (0 = no limit). Later calls
 * on the engine and its scopes return OTEL_E_SHUTDOWN. A second shutdown returns OTEL_E_SHUTDOWN.
 * Returns OTEL_E_TIMEOUT if the queue could not be exported in time (the rest is counted as
 * dropped_shutdown). */
OTEL_API int32_t otel_engine_shutdown(otel_engine *engine, uint32_t timeout_ms);

/* Shuts down (if not yet, with the export timeout) and frees an engine made by
 * otel_engine_new(). Every scope of the engine becomes invalid. The global engine cannot be
 * freed: OTEL_E_INVALID_ARG. */
OTEL_API int32_t otel_engine_free(otel_engine *engine);

/* Fills out[0..n) with the statistics OTEL_STAT_* of one signal. Entries past OTEL_STAT_COUNT
 * are set to 0. Works after shutdown. */
OTEL_API int32_t otel_engine_stats(otel_engine *engine, int32_t signal, uint64_t *out, size_t n);

/* 1 if the engine is a no-op (OTEL_SDK_DISABLED=true), else 0. Negative status on error. */
OTEL_API int32_t otel_engine_is_disabled(otel_engine *engine);

/* ---- Instrumentation scopes ------------------------------------------------------------------ */

/* Returns the scope for (name, version, schema_url, attrs), creating it on first use. The same
 * arguments return the same scope. Scopes live as long as their engine; no free call. Callers
 * should cache the handle (the Python handler caches one per logger name). */
OTEL_API int32_t otel_scope_get(otel_engine *engine, otel_str name, otel_str version,
                                otel_str schema_url, const otel_attr *attrs, size_t n_attrs,
                                otel_scope **out);

/* ---- Logs ------------------------------------------------------------------------------------ */
/* (ctx NULL below means: this thread's current context, see otel_context_attach.) */

/* Emits one log record in `scope`. Encoded on the calling thread and queued; never blocks on
 * the exporter and allocates nothing in steady state.
 *   time_unix_nano      when the event happened; 0 = now
 *   observed_unix_nano  when it was observed; 0 = now
 *   severity_number     0..24 (OTEL_SEVERITY_*); others give OTEL_E_INVALID_ARG
 *   severity_text       e.g. "INFO"; empty = none
 *   body                NULL = no body; else any value
 *   attrs, n_attrs      attributes (NULL with 0); limits per OTEL_LOGRECORD_ATTRIBUTE_*_LIMIT
 *   event_name          empty = none
 *   ctx                 trace context; NULL = the thread's current context (if any); an
 *                       all-zero trace_id = none
 * Returns OTEL_OK when queued; OTEL_E_QUEUE_FULL / OTEL_E_TOO_LARGE when dropped (counted);
 * OTEL_E_SHUTDOWN after shutdown; OTEL_E_INVALID_ARG for bad arguments (counted as invalid). */
OTEL_API int32_t otel_log_emit(otel_scope *scope, uint64_t time_unix_nano,
                               uint64_t observed_unix_nano, int32_t severity_number,
                               otel_str severity_text, const otel_value *body,
                               const otel_attr *attrs, size_t n_attrs, otel_str event_name,
                               const otel_span_context *ctx);

/* ---- Traces ---------------------------------------------------------------------------------- */

/* A span handle: a 64-bit slot + generation value. 0 is never a valid span. Using a handle after
 * its span ended, or after its engine shut down, returns OTEL_E_INVALID_HANDLE / OTEL_E_SHUTDOWN
 * and never touches freed memory. Any thread may use a handle; calls on one span are serialized. */
typedef uint64_t otel_span;

#define OTEL_SPAN_KIND_UNSPECIFIED 0
#define OTEL_SPAN_KIND_INTERNAL 1
#define OTEL_SPAN_KIND_SERVER 2
#define OTEL_SPAN_KIND_CLIENT 3
#define OTEL_SPAN_KIND_PRODUCER 4
#define OTEL_SPAN_KIND_CONSUMER 5

#define OTEL_STATUS_UNSET 0
#define OTEL_STATUS_OK 1
#define OTEL_STATUS_ERROR 2

/* Where a new span's parent comes from (otel_span_parent.kind). */
#define OTEL_PARENT_CURRENT 0 /* the calling thread's current context (a root when none) */
#define OTEL_PARENT_ROOT 1    /* no parent: a new trace */
#define OTEL_PARENT_SPAN 2    /* .span, a live span handle */
#define OTEL_PARENT_REMOTE 3  /* .ctx and .trace_state, e.g. from otel_propagation_extract() */

/* A span's parent. Frozen value type, size 64. */
typedef struct otel_span_parent {
  int32_t kind; /* OTEL_PARENT_* */
  int32_t reserved_;
  otel_span span;
  otel_span_context ctx;
  otel_str trace_state;
} otel_span_parent;

/* A link from a span to another span context. Frozen value type, size 64. */
typedef struct otel_link {
  otel_span_context ctx;
  otel_str trace_state;
  const otel_attr *attrs;
  size_t n_attrs;
} otel_link;

/* Starts a span in `scope`. The sampler (OTEL_TRACES_SAMPLER) decides whether it is recorded; a
 * span that is not recorded still has a valid context and handle (so it propagates), costs no
 * encoding and is never exported.
 *   name           the span name (may be changed later)
 *   kind           OTEL_SPAN_KIND_*
 *   start_unix_nano 0 = now
 *   parent         NULL = OTEL_PARENT_CURRENT
 *   attrs, links   copied; limits per OTEL_SPAN_*_LIMIT
 * *out receives the handle. Returns OTEL_OK, OTEL_E_INVALID_ARG, OTEL_E_INVALID_HANDLE (a stale
 * parent span), OTEL_E_SHUTDOWN, or OTEL_E_NO_MEMORY (too many live spans). */
OTEL_API int32_t otel_span_start(otel_scope *scope, otel_str name, int32_t kind,
                                 uint64_t start_unix_nano, const otel_span_parent *parent,
                                 const otel_attr *attrs, size_t n_attrs, const otel_link *links,
                                 size_t n_links, otel_span *out);

/* Sets attributes (an existing key is overwritten). */
OTEL_API int32_t otel_span_set_attrs(otel_span span, const otel_attr *attrs, size_t n_attrs);

/* Adds an event; time_unix_nano 0 = now. */
OTEL_API int32_t otel_span_add_event(otel_span span, otel_str name, uint64_t time_unix_nano,
                                     const otel_attr *attrs, size_t n_attrs);

/* Adds a link. */
OTEL_API int32_t otel_span_add_link(otel_span span, const otel_link *link);

/* Sets the status (OTEL_STATUS_*). The description is kept only with OTEL_STATUS_ERROR. Once
 * OK is set, later calls do not change it (spec). */
OTEL_API int32_t otel_span_set_status(otel_span span, int32_t code, otel_str description);

/* Replaces the span's name. */
OTEL_API int32_t otel_span_update_name(otel_span span, otel_str name);

/* Records an exception as the semantic-convention event "exception" with exception.type,
 * exception.message and exception.stacktrace (empty ones are omitted) plus extra attributes.
 * Does not change the status. time_unix_nano 0 = now. */
OTEL_API int32_t otel_span_record_exception(otel_span span, otel_str type, otel_str message,
                                            otel_str stacktrace, const otel_attr *attrs,
                                            size_t n_attrs, uint64_t time_unix_nano);

/* Ends the span (end_unix_nano 0 = now) and, when recorded, queues it for export. The handle is
 * invalid afterwards: a second end returns OTEL_E_INVALID_HANDLE. */
OTEL_API int32_t otel_span_end(otel_span span, uint64_t end_unix_nano);

/* The span's context (trace id, span id, flags). */
OTEL_API int32_t otel_span_context_get(otel_span span, otel_span_context *out);

/* 1 when the span is recorded (sampled and not ended), 0 when not, negative on error. */
OTEL_API int32_t otel_span_is_recording(otel_span span);

/* ---- Context: the calling thread's current span (for C callers) -------------------------------
 * Bindings with their own context (Python contextvars, Go context.Context) pass parents and log
 * contexts explicitly instead. Log records emitted with ctx == NULL take this thread's current
 * context. */

/* Makes `span` current on this thread. *token receives a value for otel_context_restore(). */
OTEL_API int32_t otel_context_attach(otel_span span, uint64_t *token);

/* Makes a remote context current (e.g. the one extracted from incoming headers), so spans started
 * with OTEL_PARENT_CURRENT become its children. */
OTEL_API int32_t otel_context_attach_remote(const otel_span_context *ctx, otel_str trace_state,
                                            uint64_t *token);

/* Restores what was current before the attach that returned `token`. Restoring out of order
 * returns OTEL_E_INVALID_ARG (and restores nothing). */
OTEL_API int32_t otel_context_restore(uint64_t token);

/* The calling thread's current context; *span receives its handle (0 for a remote context or
 * none). An all-zero trace_id means no current context. Either pointer may be NULL. */
OTEL_API int32_t otel_context_current(otel_span_context *ctx, otel_span *span);

/* ---- Propagation (W3C traceparent / tracestate, W3C baggage; OTEL_PROPAGATORS) ------------------ */

/* A header name/value pair. Frozen value type, size 32. */
typedef struct otel_header {
  otel_str name;
  otel_str value;
} otel_header;

/* Writes the headers the configured propagators produce for `ctx` (NULL = this thread's current
 * context), `trace_state` and `baggage` entries (string values). Names and values are written
 * into buf and returned as views in headers[0..*n_headers). OTEL_E_INVALID_ARG when buf or
 * headers are too small (nothing partial is returned). A context without a valid trace id
 * produces no traceparent. */
OTEL_API int32_t otel_propagation_inject(otel_engine *engine, const otel_span_context *ctx,
                                         otel_str trace_state, const otel_attr *baggage,
                                         size_t n_baggage, char *buf, size_t buf_len,
                                         otel_header *headers, size_t max_headers,
                                         size_t *n_headers);

/* Reads incoming headers (names case-insensitive) with the configured propagators. Malformed
 * headers are ignored, never an error: *ctx is all-zero when no valid traceparent was found.
 * The trace state and baggage entries (percent-decoded string values) are written into buf and
 * returned as views; baggage may be NULL with max_baggage 0 (baggage is then not parsed).
 * OTEL_E_INVALID_ARG when buf or baggage is too small for what was found; on any error every
 * output is empty (zero context, empty trace state, no baggage). */
OTEL_API int32_t otel_propagation_extract(otel_engine *engine, const otel_header *headers,
                                          size_t n_headers, otel_span_context *ctx,
                                          otel_str *trace_state, otel_attr *baggage,
                                          size_t max_baggage, size_t *n_baggage, char *buf,
                                          size_t buf_len);

/* ---- Metrics --------------------------------------------------------------------------------- */

typedef struct otel_instrument otel_instrument; /* lives as long as its engine; no free call */
typedef struct otel_bound otel_bound;           /* an instrument bound to one attribute set */
typedef struct otel_observer otel_observer;     /* passed to observable callbacks */

#define OTEL_INSTRUMENT_COUNTER 1
#define OTEL_INSTRUMENT_UP_DOWN_COUNTER 2
#define OTEL_INSTRUMENT_HISTOGRAM 3
#define OTEL_INSTRUMENT_GAUGE 4
#define OTEL_INSTRUMENT_OBSERVABLE_COUNTER 5
#define OTEL_INSTRUMENT_OBSERVABLE_UP_DOWN_COUNTER 6
#define OTEL_INSTRUMENT_OBSERVABLE_GAUGE 7

#define OTEL_NUMBER_INT 1    /* int64 values */
#define OTEL_NUMBER_DOUBLE 2 /* double values */

/* A callback of an observable instrument. It runs during a collection (periodic,
 * otel_engine_flush, or a Prometheus scrape) on the collection thread: the engine's worker, or
 * the Prometheus server thread (OTEL_METRICS_EXPORTER=prometheus). Collections never overlap, so
 * callbacks run one at a time. It reports values with otel_observe_i64/_f64 on `observer`, which
 * is valid only during the call. It must not block for long (a collection, and a scrape, waits
 * for it), must not call otel_* functions other than otel_observe_*, and a crash in it is the
 * host's. */
typedef void (*otel_observe_fn)(otel_observer *observer, void *user_data);

/* Creates (or returns the existing) instrument in `scope`. The name must follow the spec's
 * syntax (a letter, then letters, digits, '_', '.', '-' or '/', at most 255 characters):
 * OTEL_E_INVALID_ARG otherwise. Creating an instrument with the same scope, name (case-
 * insensitive), kind, number type and unit returns the same instrument; a different kind, number
 * type or unit under the same name returns a new instrument and a warning (both are exported, as
 * the spec's duplicate-registration rule says). advisory_boundaries (histograms only, strictly
 * increasing; NULL = the default or a view's) are copied.
 *   callback, user_data: observable kinds only (NULL for synchronous kinds).
 * With OTEL_METRICS_EXPORTER=none or a disabled engine, *out is a no-op instrument. */
OTEL_API int32_t otel_instrument_create(otel_scope *scope, int32_t kind, int32_t number_type,
                                        otel_str name, otel_str unit, otel_str description,
                                        const double *advisory_boundaries, size_t n_boundaries,
                                        otel_observe_fn callback, void *user_data,
                                        otel_instrument **out);

/* Synchronous measurements. Counters take non-negative values (a negative one is dropped:
 * OTEL_E_INVALID_ARG); up-down counters any; histograms record; gauges set the last value. The
 * attribute set identifies the series, whatever the attributes' order. Past the cardinality
 * limit (OTELBRIDGE_METRICS_CARDINALITY_LIMIT, default 2000 series per instrument) measurements
 * go to the overflow series {otel.metric.overflow=true}. Lock-free on an existing series. */
OTEL_API int32_t otel_metric_record_i64(otel_instrument *instrument, int64_t value,
                                        const otel_attr *attrs, size_t n_attrs);
OTEL_API int32_t otel_metric_record_f64(otel_instrument *instrument, double value,
                                        const otel_attr *attrs, size_t n_attrs);

/* Binds an attribute set once; then otel_bound_record_* updates that series with no hashing or
 * lookup. A bound series is never dropped. Bound handles live as long as the engine. */
OTEL_API int32_t otel_instrument_bind(otel_instrument *instrument, const otel_attr *attrs,
                                      size_t n_attrs, otel_bound **out);
OTEL_API int32_t otel_bound_record_i64(otel_bound *bound, int64_t value);
OTEL_API int32_t otel_bound_record_f64(otel_bound *bound, double value);

/* Reports one observation from inside an observable callback. */
OTEL_API int32_t otel_observe_i64(otel_observer *observer, int64_t value, const otel_attr *attrs,
                                  size_t n_attrs);
OTEL_API int32_t otel_observe_f64(otel_observer *observer, double value, const otel_attr *attrs,
                                  size_t n_attrs);

/* ---- Diagnose ------------------------------------------------------------------------------- */

/* Answers "why is nothing arriving?" in one call. Writes a plain-text report to report (at most
 * report_len bytes, NUL-terminated; *needed, if not NULL, receives the full length + 1):
 *  - per signal, the resolved configuration and where each value came from (default,
 *    environment or code), with header values masked;
 *  - the result of one empty export to each OTLP endpoint: reachable, connection refused,
 *    TLS failure, 404 (wrong path), 401/403 (auth rejected), timeout...;
 *  - the statistics of the global engine, if there is one (queued, exported, dropped, failed).
 * config may be NULL (environment only). Takes up to the export timeout per endpoint.
 * Returns OTEL_OK when every check passed, OTEL_E_CHECK_FAILED when one did. */
OTEL_API int32_t otel_diagnose(const otel_config *config, char *report, size_t report_len,
                               size_t *needed);

/* OTEL_CDEF_END */

#ifdef __cplusplus
} /* extern "C" */
#endif

/* ---- Layout guards for the frozen value types ------------------------------------------------ */
#if defined(__cplusplus)
#define OTEL_STATIC_ASSERT_ static_assert
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define OTEL_STATIC_ASSERT_ _Static_assert
#endif
#if defined(OTEL_STATIC_ASSERT_) && (defined(__LP64__) || defined(_WIN64))
OTEL_STATIC_ASSERT_(sizeof(otel_str) == 16, "otel_str layout is frozen");
OTEL_STATIC_ASSERT_(sizeof(otel_value) == 24, "otel_value layout is frozen");
OTEL_STATIC_ASSERT_(sizeof(otel_attr) == 40, "otel_attr layout is frozen");
OTEL_STATIC_ASSERT_(sizeof(otel_span_context) == 32, "otel_span_context layout is frozen");
OTEL_STATIC_ASSERT_(sizeof(otel_span_parent) == 64, "otel_span_parent layout is frozen");
OTEL_STATIC_ASSERT_(sizeof(otel_link) == 64, "otel_link layout is frozen");
OTEL_STATIC_ASSERT_(sizeof(otel_header) == 32, "otel_header layout is frozen");
#endif

/* ---- C convenience (not part of the core ABI; header-only) ----------------------------------- */
#ifndef OTEL_CDEF_ONLY
/* A view of a NUL-terminated string. */
static inline otel_str otel_cstr(const char *s) {
  otel_str r;
  size_t n = 0;
  if (s)
    while (s[n]) n++;
  r.ptr = s;
  r.len = n;
  return r;
}
static inline otel_value otel_value_str(otel_str s) {
  otel_value v;
  v.type = OTEL_VALUE_STRING;
  v.reserved_ = 0;
  v.u.str = s;
  return v;
}
static inline otel_value otel_value_int(int64_t i) {
  otel_value v;
  v.type = OTEL_VALUE_INT;
  v.reserved_ = 0;
  v.u.i64 = i;
  return v;
}
static inline otel_value otel_value_double(double d) {
  otel_value v;
  v.type = OTEL_VALUE_DOUBLE;
  v.reserved_ = 0;
  v.u.f64 = d;
  return v;
}
static inline otel_value otel_value_bool(int b) {
  otel_value v;
  v.type = OTEL_VALUE_BOOL;
  v.reserved_ = 0;
  v.u.boolean = b ? 1 : 0;
  return v;
}
#endif

#endif /* OTELBRIDGE_H */
