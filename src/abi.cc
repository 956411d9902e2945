// The C ABI: argument checks and the exception boundary, nothing else (DESIGN.md §3).
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "config.h"
#include "diag.h"
#include "diagnose.h"
#include "encode.h"
#include "engine.h"
#include "metrics.h"
#include "propagation.h"
#include "self_metrics.h"
#include "spans.h"
#include "utf8.h"

using otb::Engine;

struct otel_config {
  otb::CodeConfig c;
};

namespace {

void set_err(char *err, size_t err_len, const std::string &msg) {
  if (!err || err_len == 0) return;
  size_t n = std::min(msg.size(), err_len - 1);
  std::memcpy(err, msg.data(), n);
  err[n] = '\0';
}

// Runs f, turning any exception into a status: no C++ exception crosses the C boundary.
template <class F>
int32_t guard(F &&f) noexcept {
  try {
    return f();
  } catch (const std::bad_alloc &) {
    return OTEL_E_NO_MEMORY;
  } catch (const std::exception &ex) {
    otb::diag(OTEL_DIAG_ERROR, "internal error: %s", ex.what());
    return OTEL_E_INTERNAL;
  } catch (...) {
    return OTEL_E_INTERNAL;
  }
}

Engine *resolve(otel_engine *e) {
  return e ? reinterpret_cast<Engine *>(e) : Engine::global();
}

std::string to_string(otel_str s) {
  return std::string(s.ptr ? s.ptr : "", s.len);
}

}  // namespace

extern "C" {

OTEL_API const char *otel_version(void) {
  return OTEL_VERSION_STRING;
}

OTEL_API const char *otel_status_str(int32_t status) {
  switch (status) {
    case OTEL_OK:
      return "ok";
    case OTEL_E_INVALID_ARG:
      return "invalid argument";
    case OTEL_E_UNKNOWN_KEY:
      return "unknown configuration key";
    case OTEL_E_INVALID_CONFIG:
      return "invalid configuration value";
    case OTEL_E_NO_MEMORY:
      return "out of memory";
    case OTEL_E_QUEUE_FULL:
      return "queue full: record dropped";
    case OTEL_E_TOO_LARGE:
      return "record larger than the queue: dropped";
    case OTEL_E_SHUTDOWN:
      return "engine is shut down";
    case OTEL_E_TIMEOUT:
      return "timed out";
    case OTEL_E_NOT_INITIALIZED:
      return "not initialized: call otel_init() first";
    case OTEL_E_ALREADY_INITIALIZED:
      return "already initialized";
    case OTEL_E_INTERNAL:
      return "internal error";
    case OTEL_E_UNSUPPORTED:
      return "not supported by this build";
    case OTEL_E_INVALID_HANDLE:
      return "invalid handle";
    case OTEL_E_CHECK_FAILED:
      return "a check failed";
    default:
      return "unknown status";
  }
}

OTEL_API int32_t otel_set_diagnostics(otel_diag_fn fn, void *user_data, int32_t max_level) {
  if (max_level < 0 || max_level > OTEL_DIAG_DEBUG) return OTEL_E_INVALID_ARG;
  otb::diag_set_sink(fn, user_data);
  if (max_level > 0) otb::diag_set_level(max_level);
  return OTEL_OK;
}

OTEL_API int32_t otel_config_new(otel_config **out) {
  if (!out) return OTEL_E_INVALID_ARG;
  return guard([&] {
    *out = new otel_config;
    return OTEL_OK;
  });
}

OTEL_API void otel_config_free(otel_config *config) {
  delete config;
}

OTEL_API int32_t otel_config_set(otel_config *config, otel_str key, otel_str value, char *err,
                                 size_t err_len) {
  if (!config || !otb::str_ok(key) || !otb::str_ok(value)) {
    set_err(err, err_len, "otel_config_set: NULL config or invalid string view");
    return OTEL_E_INVALID_ARG;
  }
  return guard([&] {
    std::string why;
    int32_t st = otb::config_set(config->c, to_string(key), to_string(value), &why);
    if (st != OTEL_OK) set_err(err, err_len, why);
    return st;
  });
}

OTEL_API int32_t otel_config_add_resource_attrs(otel_config *config, const otel_attr *attrs,
                                                size_t n_attrs, char *err, size_t err_len) {
  if (!config || (!attrs && n_attrs)) {
    set_err(err, err_len, "otel_config_add_resource_attrs: NULL config or attributes");
    return OTEL_E_INVALID_ARG;
  }
  return guard([&] {
    for (size_t i = 0; i < n_attrs; i++) {
      if (!otb::str_ok(attrs[i].key) || attrs[i].key.len == 0) {
        set_err(err, err_len, "resource attribute " + std::to_string(i) + ": empty or invalid key");
        return OTEL_E_INVALID_ARG;
      }
      otb::Buf b;
      // put_any_value writes a whole field; keep only the AnyValue body after tag + length.
      int32_t st = otb::put_any_value(b, 1, attrs[i].value, SIZE_MAX);
      if (st != OTEL_OK || b.overflow()) {
        set_err(err, err_len, "resource attribute " + std::to_string(i) + ": invalid value");
        return OTEL_E_INVALID_ARG;
      }
      size_t hdr = 1;
      while (b.data()[hdr] & 0x80) hdr++;
      hdr++;
      std::string key = otb::utf8_repaired(attrs[i].key);
      std::string val(reinterpret_cast<const char *>(b.data()) + hdr, b.size() - hdr);
      bool replaced = false;
      for (auto &kv : config->c.resource_attrs)
        if (kv.first == key) {
          kv.second = val;
          replaced = true;
        }
      if (!replaced) config->c.resource_attrs.emplace_back(key, val);
    }
    return OTEL_OK;
  });
}

OTEL_API int32_t otel_config_add_view(otel_config *config, otel_str instrument, otel_str name,
                                      otel_str description, int32_t aggregation,
                                      const double *boundaries, size_t n_boundaries,
                                      int32_t filter_keys, const otel_str *keys, size_t n_keys,
                                      char *err, size_t err_len) {
  if (!config || !otb::str_ok(instrument) || !otb::str_ok(name) || !otb::str_ok(description) ||
      (!boundaries && n_boundaries) || (!keys && n_keys) || n_boundaries > 4096 || n_keys > 4096) {
    set_err(err, err_len, "otel_config_add_view: NULL config or invalid argument");
    return OTEL_E_INVALID_ARG;
  }
  return guard([&] {
    otb::ViewSpec v;
    v.pattern = to_string(instrument);
    v.name = to_string(name);
    v.description = to_string(description);
    v.aggregation = aggregation;
    v.bounds.assign(boundaries, boundaries + n_boundaries);
    v.filter_keys = filter_keys != 0;
    for (size_t i = 0; i < n_keys; i++) {
      if (!otb::str_ok(keys[i])) return OTEL_E_INVALID_ARG;
      v.keys.push_back(to_string(keys[i]));
    }
    std::string why;
    if (!otb::view_valid(v, &why)) {
      set_err(err, err_len, "invalid view: " + why);
      return OTEL_E_INVALID_CONFIG;
    }
    config->c.views.push_back(std::move(v));
    return OTEL_OK;
  });
}

OTEL_API int32_t otel_config_set_sdk_language(otel_config *config, otel_str language) {
  if (!config || !otb::str_ok(language) || language.len == 0) return OTEL_E_INVALID_ARG;
  return guard([&] {
    config->c.sdk_language = otb::utf8_repaired(language);
    return OTEL_OK;
  });
}

OTEL_API int32_t otel_init(const otel_config *config, char *err, size_t err_len) {
  return guard([&] {
    Engine *e = nullptr;
    std::string why;
    int32_t st = Engine::create(config ? &config->c : nullptr, true, &e, &why);
    if (st != OTEL_OK) set_err(err, err_len, why);
    if (st == OTEL_OK) otb::register_self_metrics(e);
    return st;
  });
}

OTEL_API otel_engine *otel_global(void) {
  return reinterpret_cast<otel_engine *>(Engine::global());
}

OTEL_API int32_t otel_engine_new(const otel_config *config, otel_engine **out, char *err,
                                 size_t err_len) {
  if (!out) {
    set_err(err, err_len, "otel_engine_new: out is NULL");
    return OTEL_E_INVALID_ARG;
  }
  return guard([&] {
    Engine *e = nullptr;
    std::string why;
    int32_t st = Engine::create(config ? &config->c : nullptr, false, &e, &why);
    if (st != OTEL_OK) {
      set_err(err, err_len, why);
      return st;
    }
    otb::register_self_metrics(e);
    *out = reinterpret_cast<otel_engine *>(e);
    return OTEL_OK;
  });
}

OTEL_API int32_t otel_engine_flush(otel_engine *engine, uint32_t timeout_ms) {
  Engine *e = resolve(engine);
  if (!e) return OTEL_E_NOT_INITIALIZED;
  return guard([&] { return e->flush(timeout_ms); });
}

OTEL_API int32_t otel_engine_shutdown(otel_engine *engine, uint32_t timeout_ms) {
  Engine *e = resolve(engine);
  if (!e) return OTEL_E_NOT_INITIALIZED;
  return guard([&] { return e->shutdown(timeout_ms); });
}

OTEL_API int32_t otel_engine_free(otel_engine *engine) {
  Engine *e = reinterpret_cast<Engine *>(engine);
  if (!e || e->is_global()) return OTEL_E_INVALID_ARG;
  return guard([&] { return Engine::destroy(e) ? OTEL_OK : OTEL_E_TIMEOUT; });
}

OTEL_API int32_t otel_engine_stats(otel_engine *engine, int32_t signal, uint64_t *out, size_t n) {
  Engine *e = resolve(engine);
  if (!e) return OTEL_E_NOT_INITIALIZED;
  if (!out && n) return OTEL_E_INVALID_ARG;
  return guard([&] { return e->stats(signal, out, n); });
}

OTEL_API int32_t otel_engine_is_disabled(otel_engine *engine) {
  Engine *e = resolve(engine);
  if (!e) return OTEL_E_NOT_INITIALIZED;
  return e->disabled() ? 1 : 0;
}

OTEL_API int32_t otel_scope_get(otel_engine *engine, otel_str name, otel_str version,
                                otel_str schema_url, const otel_attr *attrs, size_t n_attrs,
                                otel_scope **out) {
  Engine *e = resolve(engine);
  if (!e) return OTEL_E_NOT_INITIALIZED;
  if (!out || !otb::str_ok(name) || !otb::str_ok(version) || !otb::str_ok(schema_url) ||
      (!attrs && n_attrs))
    return OTEL_E_INVALID_ARG;
  if (e->is_shut_down()) return OTEL_E_SHUTDOWN;
  return guard([&] {
    otb::Scope *s = nullptr;
    int32_t st = e->scope_get(name, version, schema_url, attrs, n_attrs, &s);
    if (st == OTEL_OK) *out = reinterpret_cast<otel_scope *>(s);
    return st;
  });
}

OTEL_API int32_t otel_log_emit(otel_scope *scope, uint64_t time_unix_nano,
                               uint64_t observed_unix_nano, int32_t severity_number,
                               otel_str severity_text, const otel_value *body,
                               const otel_attr *attrs, size_t n_attrs, otel_str event_name,
                               const otel_span_context *ctx) {
  const otb::Scope *s = reinterpret_cast<const otb::Scope *>(scope);
  if (OTB_UNLIKELY(!s || s->magic != otb::Scope::kMagic)) return OTEL_E_INVALID_ARG;
  Engine *e = s->engine;
  if (e->disabled()) return OTEL_OK;
  if (OTB_UNLIKELY(severity_number < 0 || severity_number > OTEL_SEVERITY_MAX ||
                   !otb::str_ok(severity_text) || !otb::str_ok(event_name) || (!attrs && n_attrs) ||
                   n_attrs > (SIZE_MAX >> 6))) {
    e->count_invalid(otb::Signal::kLogs);
    return OTEL_E_INVALID_ARG;
  }
  return guard([&] {
    // No explicit context: the calling thread's current span, if any (log-trace correlation).
    if (!ctx) ctx = otb::context_current();
    otb::LogRecordArgs a{time_unix_nano,
                         observed_unix_nano,
                         severity_number,
                         severity_text,
                         body,
                         attrs,
                         n_attrs,
                         event_name,
                         ctx};
    return e->emit_log(s, a);
  });
}

// ---- traces ----

namespace {
// Finds the engine of a span handle: OTEL_OK with *e set; OTEL_OK with *e null for a disabled
// engine (every call is then a no-op); else the error status.
int32_t span_engine(otel_span span, Engine **e) {
  *e = Engine::by_id(otb::engine_id_of_handle(span));
  if (!*e) return OTEL_E_INVALID_HANDLE;
  if ((*e)->disabled()) {
    *e = nullptr;
    return OTEL_OK;
  }
  if ((*e)->is_shut_down()) return OTEL_E_SHUTDOWN;
  return OTEL_OK;
}
}  // namespace

OTEL_API int32_t otel_span_start(otel_scope *scope, otel_str name, int32_t kind,
                                 uint64_t start_unix_nano, const otel_span_parent *parent,
                                 const otel_attr *attrs, size_t n_attrs, const otel_link *links,
                                 size_t n_links, otel_span *out) {
  const otb::Scope *s = reinterpret_cast<const otb::Scope *>(scope);
  if (OTB_UNLIKELY(!s || s->magic != otb::Scope::kMagic || !out)) return OTEL_E_INVALID_ARG;
  Engine *e = s->engine;
  if (e->disabled() || !e->spans()) {
    *out = static_cast<otel_span>(e->id()) << 48;  // carries the engine: later calls are no-ops
    return OTEL_OK;
  }
  if (e->is_shut_down()) return OTEL_E_SHUTDOWN;
  if (kind < OTEL_SPAN_KIND_UNSPECIFIED || kind > OTEL_SPAN_KIND_CONSUMER)
    return OTEL_E_INVALID_ARG;
  return guard([&] {
    otb::SpanStart a{s, name, kind, start_unix_nano, parent, attrs, n_attrs, links, n_links};
    return e->spans()->start(a, out);
  });
}

#define OTB_SPAN_CALL(span, call)       \
  Engine *e;                            \
  int32_t st_ = span_engine(span, &e);  \
  if (st_ != OTEL_OK || !e) return st_; \
  return guard([&] { return e->spans()->call; })

OTEL_API int32_t otel_span_set_attrs(otel_span span, const otel_attr *attrs, size_t n_attrs) {
  OTB_SPAN_CALL(span, set_attrs(span, attrs, n_attrs));
}

OTEL_API int32_t otel_span_add_event(otel_span span, otel_str name, uint64_t time_unix_nano,
                                     const otel_attr *attrs, size_t n_attrs) {
  OTB_SPAN_CALL(span, add_event(span, name, time_unix_nano, attrs, n_attrs));
}

OTEL_API int32_t otel_span_add_link(otel_span span, const otel_link *link) {
  if (!link) return OTEL_E_INVALID_ARG;
  OTB_SPAN_CALL(span, add_link(span, *link));
}

OTEL_API int32_t otel_span_set_status(otel_span span, int32_t code, otel_str description) {
  OTB_SPAN_CALL(span, set_status(span, code, description));
}

OTEL_API int32_t otel_span_update_name(otel_span span, otel_str name) {
  OTB_SPAN_CALL(span, update_name(span, name));
}

OTEL_API int32_t otel_span_record_exception(otel_span span, otel_str type, otel_str message,
                                            otel_str stacktrace, const otel_attr *attrs,
                                            size_t n_attrs, uint64_t time_unix_nano) {
  if (!otb::str_ok(type) || !otb::str_ok(message) || !otb::str_ok(stacktrace) ||
      (n_attrs && !attrs) || n_attrs > 1024)
    return OTEL_E_INVALID_ARG;
  // The semantic-convention exception event: exception.* first, then the caller's attributes.
  // A small array on the stack (callers' threads may have small stacks), the heap past it.
  otel_attr small[16];
  std::vector<otel_attr> large;
  otel_attr *all = small;
  if (n_attrs + 3 > sizeof small / sizeof small[0]) {
    try {
      large.resize(n_attrs + 3);
    } catch (...) {
      return OTEL_E_NO_MEMORY;  // no exception crosses the C boundary
    }
    all = large.data();
  }
  size_t n = 0;
  if (type.len) all[n++] = otel_attr{otel_cstr("exception.type"), otel_value_str(type)};
  if (message.len) all[n++] = otel_attr{otel_cstr("exception.message"), otel_value_str(message)};
  if (stacktrace.len)
    all[n++] = otel_attr{otel_cstr("exception.stacktrace"), otel_value_str(stacktrace)};
  for (size_t i = 0; i < n_attrs; i++) all[n++] = attrs[i];
  OTB_SPAN_CALL(span, add_event(span, otel_cstr("exception"), time_unix_nano, all, n));
}

OTEL_API int32_t otel_span_end(otel_span span, uint64_t end_unix_nano) {
  OTB_SPAN_CALL(span, end(span, end_unix_nano));
}

OTEL_API int32_t otel_span_context_get(otel_span span, otel_span_context *out) {
  if (!out) return OTEL_E_INVALID_ARG;
  Engine *e;
  int32_t st = span_engine(span, &e);
  if (st != OTEL_OK) return st;
  if (!e) {  // disabled: an invalid (all-zero) context
    *out = otel_span_context{};
    return OTEL_OK;
  }
  return guard([&] { return e->spans()->context(span, out); });
}

OTEL_API int32_t otel_span_is_recording(otel_span span) {
  Engine *e;
  int32_t st = span_engine(span, &e);
  if (st != OTEL_OK) return st;
  if (!e) return 0;
  return guard([&] { return e->spans()->is_recording(span); });
}

#undef OTB_SPAN_CALL

// ---- context ----

OTEL_API int32_t otel_context_attach(otel_span span, uint64_t *token) {
  if (!token) return OTEL_E_INVALID_ARG;
  Engine *e;
  int32_t st = span_engine(span, &e);
  if (st != OTEL_OK) return st;
  return guard([&] {
    otel_span_context ctx = {};
    std::string state;  // children started from the current context inherit it
    if (e) {
      int32_t got = e->spans()->context(span, &ctx, &state);
      if (got != OTEL_OK) return got;
    }
    return otb::context_attach(span, ctx, otel_str{state.data(), state.size()}, token);
  });
}

OTEL_API int32_t otel_context_attach_remote(const otel_span_context *ctx, otel_str trace_state,
                                            uint64_t *token) {
  if (!ctx || !token || !otb::str_ok(trace_state)) return OTEL_E_INVALID_ARG;
  return guard([&] {
    otel_span_context c = *ctx;
    c.is_remote = 1;
    return otb::context_attach(0, c, trace_state, token);
  });
}

OTEL_API int32_t otel_context_restore(uint64_t token) {
  return otb::context_restore(token);
}

OTEL_API int32_t otel_context_current(otel_span_context *ctx, otel_span *span) {
  const otel_span_context *c = otb::context_current(span, nullptr);
  if (ctx) *ctx = c ? *c : otel_span_context{};
  return OTEL_OK;
}

// ---- metrics ----

OTEL_API int32_t otel_instrument_create(otel_scope *scope, int32_t kind, int32_t number_type,
                                        otel_str name, otel_str unit, otel_str description,
                                        const double *advisory_boundaries, size_t n_boundaries,
                                        otel_observe_fn callback, void *user_data,
                                        otel_instrument **out) {
  const otb::Scope *s = reinterpret_cast<const otb::Scope *>(scope);
  if (!s || s->magic != otb::Scope::kMagic || !out) return OTEL_E_INVALID_ARG;
  Engine *e = s->engine;
  if (e->is_shut_down()) return OTEL_E_SHUTDOWN;
  if (!e->meters()) {  // disabled, or OTEL_METRICS_EXPORTER=none
    *out = reinterpret_cast<otel_instrument *>(otb::Meters::noop());
    return OTEL_OK;
  }
  return guard([&] {
    otb::Instrument *inst = nullptr;
    int32_t st = e->meters()->create(s, kind, number_type, name, unit, description,
                                     advisory_boundaries, n_boundaries, callback, user_data, &inst);
    if (st == OTEL_OK) {
      *out = reinterpret_cast<otel_instrument *>(inst);
      e->ensure_worker();  // periodic collection from now on (observables need no record call)
    }
    return st;
  });
}

OTEL_API int32_t otel_metric_record_i64(otel_instrument *instrument, int64_t value,
                                        const otel_attr *attrs, size_t n_attrs) {
  if (OTB_UNLIKELY(!instrument || (!attrs && n_attrs))) return OTEL_E_INVALID_ARG;
  return guard([&] {
    return otb::instrument_record(reinterpret_cast<otb::Instrument *>(instrument), false, value, 0,
                                  attrs, n_attrs);
  });
}

OTEL_API int32_t otel_metric_record_f64(otel_instrument *instrument, double value,
                                        const otel_attr *attrs, size_t n_attrs) {
  if (OTB_UNLIKELY(!instrument || (!attrs && n_attrs))) return OTEL_E_INVALID_ARG;
  return guard([&] {
    return otb::instrument_record(reinterpret_cast<otb::Instrument *>(instrument), true, 0, value,
                                  attrs, n_attrs);
  });
}

OTEL_API int32_t otel_instrument_bind(otel_instrument *instrument, const otel_attr *attrs,
                                      size_t n_attrs, otel_bound **out) {
  if (!instrument || !out || (!attrs && n_attrs)) return OTEL_E_INVALID_ARG;
  return guard([&] {
    otb::Series *s = nullptr;
    int32_t st =
        otb::instrument_bind(reinterpret_cast<otb::Instrument *>(instrument), attrs, n_attrs, &s);
    if (st == OTEL_OK) *out = reinterpret_cast<otel_bound *>(s);
    return st;
  });
}

OTEL_API int32_t otel_bound_record_i64(otel_bound *bound, int64_t value) {
  if (OTB_UNLIKELY(!bound)) return OTEL_E_INVALID_ARG;
  return otb::series_record(reinterpret_cast<otb::Series *>(bound), false, value, 0);
}

OTEL_API int32_t otel_bound_record_f64(otel_bound *bound, double value) {
  if (OTB_UNLIKELY(!bound)) return OTEL_E_INVALID_ARG;
  return otb::series_record(reinterpret_cast<otb::Series *>(bound), true, 0, value);
}

OTEL_API int32_t otel_observe_i64(otel_observer *observer, int64_t value, const otel_attr *attrs,
                                  size_t n_attrs) {
  if (!observer || (!attrs && n_attrs)) return OTEL_E_INVALID_ARG;
  return guard([&] { return otb::observer_record(observer, false, value, 0, attrs, n_attrs); });
}

OTEL_API int32_t otel_observe_f64(otel_observer *observer, double value, const otel_attr *attrs,
                                  size_t n_attrs) {
  if (!observer || (!attrs && n_attrs)) return OTEL_E_INVALID_ARG;
  return guard([&] { return otb::observer_record(observer, true, 0, value, attrs, n_attrs); });
}

// ---- propagation ----

OTEL_API int32_t otel_propagation_inject(otel_engine *engine, const otel_span_context *ctx,
                                         otel_str trace_state, const otel_attr *baggage,
                                         size_t n_baggage, char *buf, size_t buf_len,
                                         otel_header *headers, size_t max_headers,
                                         size_t *n_headers) {
  Engine *e = resolve(engine);
  if (!e) return OTEL_E_NOT_INITIALIZED;
  if (!n_headers || (!buf && buf_len) || (!headers && max_headers) || (!baggage && n_baggage) ||
      !otb::str_ok(trace_state))
    return OTEL_E_INVALID_ARG;
  return guard([&] {
    std::string current_state;
    otel_span_context c = {};
    if (ctx) {
      c = *ctx;
    } else if (const otel_span_context *cur = otb::context_current(nullptr, &current_state)) {
      c = *cur;
      if (!trace_state.len) trace_state = otel_str{current_state.data(), current_state.size()};
    }
    return otb::propagation_inject(e->propagators(), c, trace_state, baggage, n_baggage, buf,
                                   buf_len, headers, max_headers, n_headers);
  });
}

OTEL_API int32_t otel_propagation_extract(otel_engine *engine, const otel_header *headers,
                                          size_t n_headers, otel_span_context *ctx,
                                          otel_str *trace_state, otel_attr *baggage,
                                          size_t max_baggage, size_t *n_baggage, char *buf,
                                          size_t buf_len) {
  Engine *e = resolve(engine);
  if (!e) return OTEL_E_NOT_INITIALIZED;
  if (!ctx || (!headers && n_headers) || (!baggage && max_baggage) || (!buf && buf_len))
    return OTEL_E_INVALID_ARG;
  return guard([&] {
    return otb::propagation_extract(e->propagators(), headers, n_headers, ctx, trace_state, baggage,
                                    max_baggage, n_baggage, buf, buf_len);
  });
}

OTEL_API int32_t otel_diagnose(const otel_config *config, char *report, size_t report_len,
                               size_t *needed) {
  if (!report && report_len) return OTEL_E_INVALID_ARG;
  return guard([&] {
    std::string text;
    int32_t st = otb::diagnose(config ? &config->c : nullptr, Engine::global(), &text);
    if (needed) *needed = text.size() + 1;
    set_err(report, report_len, text);
    return st;
  });
}

}  // extern "C"
