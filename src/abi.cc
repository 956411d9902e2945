// The C ABI: argument checks and the exception boundary, nothing else (DESIGN.md §3).
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "config.h"
#include "diag.h"
#include "encode.h"
#include "engine.h"
#include "utf8.h"
#include "diagnose.h"

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

std::string to_string(otel_str s) { return std::string(s.ptr ? s.ptr : "", s.len); }

}  // namespace

extern "C" {

OTEL_API const char *otel_version(void) { return OTEL_VERSION_STRING; }

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

OTEL_API void otel_config_free(otel_config *config) { delete config; }

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
    return st;
  });
}

OTEL_API otel_engine *otel_global(void) { return reinterpret_cast<otel_engine *>(Engine::global()); }

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
                   !otb::str_ok(severity_text) || !otb::str_ok(event_name) ||
                   (!attrs && n_attrs) || n_attrs > (SIZE_MAX >> 6))) {
    e->count_invalid(otb::Signal::kLogs);
    return OTEL_E_INVALID_ARG;
  }
  return guard([&] {
    otb::LogRecordArgs a{time_unix_nano, observed_unix_nano, severity_number, severity_text, body,
                         attrs, n_attrs, event_name, ctx};
    return e->emit_log(s, a);
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
