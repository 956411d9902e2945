#include "config.h"

#include <strings.h>

#include <cerrno>
#include <cstdlib>

#include "diag.h"

namespace otb {
namespace {

enum class Kind { kBool, kUint, kBytes, kMillis, kString, kEnum, kKvList, kLogLevel, kViews };

struct KeyDef {
  const char *key;
  Kind kind;
  const char *def;    // default as text ("" = unset)
  const char *enums;  // for kEnum: '|'-separated accepted values
};

// Every key the library knows. docs/configuration.md lists the same keys for users.
const KeyDef kKeys[] = {
    {"OTEL_SDK_DISABLED", Kind::kBool, "false", nullptr},
    {"OTEL_SERVICE_NAME", Kind::kString, "", nullptr},
    {"OTEL_RESOURCE_ATTRIBUTES", Kind::kKvList, "", nullptr},
    {"OTEL_LOG_LEVEL", Kind::kLogLevel, "info", nullptr},
    {"OTEL_LOGS_EXPORTER", Kind::kEnum, "otlp", "otlp|console|file|none"},
    {"OTEL_BLRP_SCHEDULE_DELAY", Kind::kMillis, "1000", nullptr},
    {"OTEL_BLRP_EXPORT_TIMEOUT", Kind::kMillis, "30000", nullptr},
    {"OTEL_BLRP_MAX_QUEUE_SIZE", Kind::kUint, "2048", nullptr},
    {"OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", Kind::kUint, "512", nullptr},
    {"OTEL_TRACES_EXPORTER", Kind::kEnum, "otlp", "otlp|console|file|none"},
    {"OTEL_BSP_SCHEDULE_DELAY", Kind::kMillis, "5000", nullptr},
    {"OTEL_BSP_EXPORT_TIMEOUT", Kind::kMillis, "30000", nullptr},
    {"OTEL_BSP_MAX_QUEUE_SIZE", Kind::kUint, "2048", nullptr},
    {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", Kind::kUint, "512", nullptr},
    {"OTELBRIDGE_BSP_MAX_QUEUE_BYTES", Kind::kBytes, "16777216", nullptr},
    {"OTELBRIDGE_BSP_FULL_POLICY", Kind::kEnum, "drop_newest", "drop_newest|drop_oldest"},
    {"OTEL_TRACES_SAMPLER", Kind::kEnum, "parentbased_always_on",
     "always_on|always_off|traceidratio|parentbased_always_on|parentbased_always_off|parentbased_"
     "traceidratio"},
    {"OTEL_TRACES_SAMPLER_ARG", Kind::kString, "", nullptr},
    {"OTEL_PROPAGATORS", Kind::kString, "tracecontext,baggage", nullptr},
    {"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", Kind::kUint, "", nullptr},
    {"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", Kind::kUint, "", nullptr},
    {"OTEL_SPAN_EVENT_COUNT_LIMIT", Kind::kUint, "128", nullptr},
    {"OTEL_SPAN_LINK_COUNT_LIMIT", Kind::kUint, "128", nullptr},
    {"OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", Kind::kUint, "", nullptr},
    {"OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", Kind::kUint, "", nullptr},
    {"OTELBRIDGE_MAX_LIVE_SPANS", Kind::kUint, "1048576", nullptr},
    {"OTEL_METRICS_EXPORTER", Kind::kEnum, "otlp", "otlp|console|file|prometheus|none"},
    {"OTEL_METRIC_EXPORT_INTERVAL", Kind::kMillis, "60000", nullptr},
    {"OTEL_METRIC_EXPORT_TIMEOUT", Kind::kMillis, "30000", nullptr},
    {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", Kind::kEnum, "cumulative",
     "cumulative|delta|lowmemory"},
    {"OTELBRIDGE_METRICS_CARDINALITY_LIMIT", Kind::kUint, "2000", nullptr},
    {"OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", Kind::kEnum,
     "explicit_bucket_histogram", "explicit_bucket_histogram|base2_exponential_bucket_histogram"},
    {"OTELBRIDGE_METRICS_VIEWS", Kind::kViews, "", nullptr},
    {"OTELBRIDGE_SELF_METRICS", Kind::kBool, "false", nullptr},
    // The Prometheus exporter's HTTP server (OTEL_METRICS_EXPORTER=prometheus); see prometheus.h.
    {"OTEL_EXPORTER_PROMETHEUS_HOST", Kind::kString, "localhost", nullptr},
    {"OTEL_EXPORTER_PROMETHEUS_PORT", Kind::kUint, "9464", nullptr},
    {"OTEL_ATTRIBUTE_COUNT_LIMIT", Kind::kUint, "128", nullptr},
    {"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", Kind::kUint, "", nullptr},
    {"OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", Kind::kUint, "", nullptr},
    {"OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT", Kind::kUint, "", nullptr},
    {"OTELBRIDGE_BLRP_MAX_QUEUE_BYTES", Kind::kBytes, "16777216", nullptr},
    {"OTELBRIDGE_BLRP_FULL_POLICY", Kind::kEnum, "drop_newest", "drop_newest|drop_oldest"},
    {"OTELBRIDGE_FILE_PATH", Kind::kString, "-", nullptr},
    {"OTELBRIDGE_FILE_FORMAT", Kind::kEnum, "json", "json|proto"},
    {"OTELBRIDGE_EXIT_TIMEOUT", Kind::kMillis, "5000", nullptr},
// OTLP exporter: the generic keys carry the defaults; a per-signal key, when set, wins.
#define OTB_OTLP_KEYS(SIG, DEF_PROTO, DEF_TIMEOUT, DEF_COMP, DEF_INSECURE)            \
  {"OTEL_EXPORTER_OTLP_" SIG "ENDPOINT", Kind::kString, "", nullptr},                 \
      {"OTEL_EXPORTER_OTLP_" SIG "PROTOCOL", Kind::kEnum, DEF_PROTO,                  \
       "grpc|http/protobuf|http/json"},                                               \
      {"OTEL_EXPORTER_OTLP_" SIG "HEADERS", Kind::kKvList, "", nullptr},              \
      {"OTEL_EXPORTER_OTLP_" SIG "TIMEOUT", Kind::kMillis, DEF_TIMEOUT, nullptr},     \
      {"OTEL_EXPORTER_OTLP_" SIG "COMPRESSION", Kind::kEnum, DEF_COMP, "none|gzip"},  \
      {"OTEL_EXPORTER_OTLP_" SIG "CERTIFICATE", Kind::kString, "", nullptr},          \
      {"OTEL_EXPORTER_OTLP_" SIG "CLIENT_KEY", Kind::kString, "", nullptr},           \
      {"OTEL_EXPORTER_OTLP_" SIG "CLIENT_CERTIFICATE", Kind::kString, "", nullptr}, { \
    "OTEL_EXPORTER_OTLP_" SIG "INSECURE", Kind::kBool, DEF_INSECURE, nullptr          \
  }
    OTB_OTLP_KEYS("", "http/protobuf", "10000", "none", "false"),
    OTB_OTLP_KEYS("LOGS_", "", "", "", ""),
    OTB_OTLP_KEYS("TRACES_", "", "", "", ""),
    OTB_OTLP_KEYS("METRICS_", "", "", "", ""),
#undef OTB_OTLP_KEYS
};

const KeyDef *find_key(const std::string &k) {
  for (const auto &d : kKeys)
    if (k == d.key) return &d;
  return nullptr;
}

bool parse_uint(const std::string &s, uint64_t max, uint64_t *out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (max - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

std::string trim(const std::string &s) {
  size_t a = 0, b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t')) a++;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t')) b--;
  return s.substr(a, b - a);
}

std::string lower(std::string s) {
  for (char &c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// Checks a value against its key's type. Returns the canonical form in *canon, or false with a
// reason in *why.
bool validate(const KeyDef &d, const std::string &raw, std::string *canon, std::string *why) {
  std::string v = trim(raw);
  switch (d.kind) {
    case Kind::kBool:
      if (strcasecmp(v.c_str(), "true") == 0) {
        *canon = "true";
        return true;
      }
      if (strcasecmp(v.c_str(), "false") == 0) {
        *canon = "false";
        return true;
      }
      *why = "expected true or false";
      return false;
    case Kind::kUint:
    case Kind::kBytes:
    case Kind::kMillis: {
      uint64_t n;
      if (!parse_uint(v, d.kind == Kind::kBytes ? (UINT64_C(1) << 40) : UINT32_MAX, &n)) {
        *why = d.kind == Kind::kMillis ? "expected a whole number of milliseconds"
                                       : "expected a non-negative integer in range";
        return false;
      }
      *canon = std::to_string(n);
      return true;
    }
    case Kind::kString:
      *canon = raw;
      return true;
    case Kind::kEnum: {
      std::string lv = lower(v);
      size_t comma = lv.find(',');
      if (comma != std::string::npos) {
        *why = "only one exporter per signal is supported";
        return false;
      }
      std::string opts = d.enums;
      size_t pos = 0;
      while (pos <= opts.size()) {
        size_t bar = opts.find('|', pos);
        if (bar == std::string::npos) bar = opts.size();
        if (opts.compare(pos, bar - pos, lv) == 0) {
          *canon = lv;
          return true;
        }
        pos = bar + 1;
      }
      *why = std::string("expected one of ") + d.enums;
      return false;
    }
    case Kind::kKvList: {
      std::vector<std::pair<std::string, std::string>> kv;
      if (!parse_kv_list(raw, &kv)) {
        *why = "expected key=value pairs separated by ',' with percent-encoded values";
        return false;
      }
      *canon = raw;
      return true;
    }
    case Kind::kViews: {
      std::vector<ViewSpec> views;
      if (!parse_views(raw, &views, why)) return false;
      *canon = raw;
      return true;
    }
    case Kind::kLogLevel:
      if (diag_parse_level(v.data(), v.size()) < 0) {
        *why = "expected one of error, warn, info, debug, none";
        return false;
      }
      *canon = lower(v);
      return true;
  }
  return false;
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool percent_decode(const std::string &s, std::string *out) {
  out->clear();
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] != '%') {
      out->push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return false;
    int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
    if (h < 0 || l < 0) return false;
    out->push_back(static_cast<char>(h * 16 + l));
    i += 2;
  }
  return true;
}

}  // namespace

const char *source_name(Source s) {
  switch (s) {
    case Source::kDefault:
      return "default";
    case Source::kEnvironment:
      return "environment";
    case Source::kCode:
      return "code";
  }
  return "?";
}

bool parse_kv_list(const std::string &s, std::vector<std::pair<std::string, std::string>> *out) {
  out->clear();
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    std::string item = trim(s.substr(pos, comma - pos));
    pos = comma + 1;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string::npos) return false;
    std::string key = trim(item.substr(0, eq)), value;
    if (key.empty() || !percent_decode(trim(item.substr(eq + 1)), &value)) return false;
    out->emplace_back(key, value);
  }
  return true;
}

int32_t config_set(CodeConfig &c, const std::string &key, const std::string &value,
                   std::string *err) {
  const KeyDef *d = find_key(key);
  if (!d) {
    *err = "unknown configuration key '" + key + "' (see docs/configuration.md)";
    return OTEL_E_UNKNOWN_KEY;
  }
  if (trim(value).empty()) {  // empty = unset
    c.values.erase(key);
    return OTEL_OK;
  }
  std::string canon, why;
  if (!validate(*d, value, &canon, &why)) {
    *err = "invalid value for " + key + ": " + why;
    return OTEL_E_INVALID_CONFIG;
  }
  c.values[key] = canon;
  return OTEL_OK;
}

bool view_valid(const ViewSpec &v, std::string *why) {
  if (v.pattern.empty()) {
    *why = "a view needs an instrument name or pattern";
    return false;
  }
  bool wild = v.pattern.find_first_of("*?") != std::string::npos;
  if (wild && !v.name.empty()) {
    *why = "a view that renames must select one instrument: no wildcards with a new name";
    return false;
  }
  if (v.aggregation < OTEL_AGGREGATION_DEFAULT ||
      v.aggregation > OTEL_AGGREGATION_EXPLICIT_BUCKETS) {
    *why = "unknown aggregation";
    return false;
  }
  for (size_t i = 0; i < v.bounds.size(); i++) {
    if (!(v.bounds[i] == v.bounds[i]) || v.bounds[i] == 1.0 / 0.0 || v.bounds[i] == -1.0 / 0.0 ||
        (i && !(v.bounds[i] > v.bounds[i - 1]))) {
      *why = "histogram boundaries must be finite and strictly increasing";
      return false;
    }
  }
  if (!v.bounds.empty() && v.aggregation != OTEL_AGGREGATION_EXPLICIT_BUCKETS) {
    *why = "boundaries need the explicit bucket aggregation";
    return false;
  }
  return true;
}

// "instrument=NAME [name=NEW] [description=TEXT] [aggregation=drop|default|explicit]
//  [boundaries=A|B|C] [keys=K1|K2]" views separated by ';'. Values cannot hold spaces or ';'.
bool parse_views(const std::string &text, std::vector<ViewSpec> *out, std::string *why) {
  out->clear();
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t semi = text.find(';', pos);
    if (semi == std::string::npos) semi = text.size();
    std::string item = trim(text.substr(pos, semi - pos));
    pos = semi + 1;
    if (item.empty()) continue;
    ViewSpec v;
    size_t i = 0;
    while (i < item.size()) {
      while (i < item.size() && (item[i] == ' ' || item[i] == '\t')) i++;
      size_t end = item.find_first_of(" \t", i);
      if (end == std::string::npos) end = item.size();
      std::string field = item.substr(i, end - i);
      i = end;
      if (field.empty()) continue;
      size_t eq = field.find('=');
      if (eq == std::string::npos) {
        *why = "view field '" + field + "' is not key=value";
        return false;
      }
      std::string k = lower(field.substr(0, eq)), val = field.substr(eq + 1);
      auto list = [&](std::vector<std::string> *items) {
        items->clear();
        size_t p = 0;
        while (p <= val.size()) {
          size_t bar = val.find('|', p);
          if (bar == std::string::npos) bar = val.size();
          if (bar > p) items->push_back(val.substr(p, bar - p));
          p = bar + 1;
        }
      };
      if (k == "instrument") {
        v.pattern = val;
      } else if (k == "name") {
        v.name = val;
      } else if (k == "description") {
        v.description = val;
      } else if (k == "aggregation") {
        std::string a = lower(val);
        v.aggregation = a == "drop"       ? OTEL_AGGREGATION_DROP
                        : a == "explicit" ? OTEL_AGGREGATION_EXPLICIT_BUCKETS
                        : a == "default"  ? OTEL_AGGREGATION_DEFAULT
                                          : -1;
      } else if (k == "boundaries") {
        std::vector<std::string> items;
        list(&items);
        for (auto &b : items) {
          char *e = nullptr;
          double d = strtod(b.c_str(), &e);
          if (!e || *e) {
            *why = "view boundary '" + b + "' is not a number";
            return false;
          }
          v.bounds.push_back(d);
        }
        if (v.aggregation == OTEL_AGGREGATION_DEFAULT)
          v.aggregation = OTEL_AGGREGATION_EXPLICIT_BUCKETS;
      } else if (k == "keys") {
        list(&v.keys);
        v.filter_keys = true;
      } else {
        *why = "unknown view field '" + k + "'";
        return false;
      }
    }
    if (!view_valid(v, why)) return false;
    out->push_back(std::move(v));
  }
  return true;
}

bool view_matches(const ViewSpec &v, const std::string &name) {
  // Glob match, case-insensitive, iterative with backtracking on the last '*'.
  const std::string &p = v.pattern;
  size_t pi = 0, ni = 0, star = std::string::npos, mark = 0;
  auto eq = [](char a, char b) {
    return tolower(static_cast<unsigned char>(a)) == tolower(static_cast<unsigned char>(b));
  };
  while (ni < name.size()) {
    if (pi < p.size() && (p[pi] == '?' || (p[pi] != '*' && eq(p[pi], name[ni])))) {
      pi++;
      ni++;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ni;
    } else if (star != std::string::npos) {
      pi = star + 1;
      ni = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') pi++;
  return pi == p.size();
}

Settings resolve_settings(const CodeConfig *code, std::vector<Resolved> *all) {
  std::map<std::string, std::string> v;
  std::vector<Resolved> resolved;
  for (const auto &d : kKeys) {
    Resolved r{d.key, d.def, Source::kDefault};
    auto it = code ? code->values.find(d.key) : decltype(code->values.end()){};
    if (code && it != code->values.end()) {
      r.value = it->second;
      r.source = Source::kCode;
    } else if (const char *e = getenv(d.key); e && !trim(e).empty()) {
      std::string canon, why;
      if (validate(d, e, &canon, &why)) {
        r.value = canon;
        r.source = Source::kEnvironment;
      } else {
        diag(OTEL_DIAG_WARN, "ignoring %s=\"%s\": %s; using the default", d.key, e, why.c_str());
      }
    }
    v[d.key] = r.value;
    resolved.push_back(r);
  }
  auto num = [&](const char *k, uint64_t dflt) -> uint64_t {
    uint64_t n;
    return parse_uint(v[k], UINT64_MAX, &n) ? n : dflt;
  };
  auto clamp32 = [](uint64_t n) { return static_cast<uint32_t>(n > UINT32_MAX ? UINT32_MAX : n); };

  Settings s;
  s.disabled = v["OTEL_SDK_DISABLED"] == "true";
  s.log_level = diag_parse_level(v["OTEL_LOG_LEVEL"].data(), v["OTEL_LOG_LEVEL"].size());
  if (s.log_level < 0) s.log_level = OTEL_DIAG_INFO;
  s.service_name = v["OTEL_SERVICE_NAME"];
  if (!parse_kv_list(v["OTEL_RESOURCE_ATTRIBUTES"], &s.resource_attributes))
    s.resource_attributes.clear();

  // One resolver for every signal's pipeline: BLRP for logs, BSP for traces.
  auto pipeline = [&](PipelineSettings &l, const char *exporter_key, const std::string &p,
                      uint32_t delay_default) {
    const std::string q = p == "BLRP" ? "OTELBRIDGE_BLRP_" : "OTELBRIDGE_BSP_";
    const std::string o = "OTEL_" + p + "_";
    l.exporter = v[exporter_key];
    l.schedule_delay_ms = clamp32(num((o + "SCHEDULE_DELAY").c_str(), delay_default));
    l.export_timeout_ms = clamp32(num((o + "EXPORT_TIMEOUT").c_str(), 30000));
    l.max_queue_size = clamp32(num((o + "MAX_QUEUE_SIZE").c_str(), 2048));
    l.max_export_batch_size = clamp32(num((o + "MAX_EXPORT_BATCH_SIZE").c_str(), 512));
    l.max_queue_bytes = num((q + "MAX_QUEUE_BYTES").c_str(), 16u << 20);
    l.full_policy =
        v[q + "FULL_POLICY"] == "drop_oldest" ? FullPolicy::kDropOldest : FullPolicy::kDropNewest;
    if (l.max_queue_size == 0) {
      diag(OTEL_DIAG_WARN, "%sMAX_QUEUE_SIZE must be positive; using 2048", o.c_str());
      l.max_queue_size = 2048;
    }
    if (l.max_export_batch_size == 0) {
      diag(OTEL_DIAG_WARN, "%sMAX_EXPORT_BATCH_SIZE must be positive; using 512", o.c_str());
      l.max_export_batch_size = 512;
    }
    if (l.max_export_batch_size > l.max_queue_size) {
      // The spec: the batch size must be less than or equal to the queue size.
      diag(OTEL_DIAG_WARN, "%sMAX_EXPORT_BATCH_SIZE %u exceeds %sMAX_QUEUE_SIZE %u; using %u",
           o.c_str(), l.max_export_batch_size, o.c_str(), l.max_queue_size, l.max_queue_size);
      l.max_export_batch_size = l.max_queue_size;
    }
    if (l.max_queue_bytes < 1024) {
      diag(OTEL_DIAG_WARN, "%sMAX_QUEUE_BYTES below 1024; using 1024", q.c_str());
      l.max_queue_bytes = 1024;
    }
  };
  pipeline(s.logs, "OTEL_LOGS_EXPORTER", "BLRP", 1000);
  pipeline(s.traces, "OTEL_TRACES_EXPORTER", "BSP", 5000);

  s.attr_count_limit = clamp32(num("OTEL_ATTRIBUTE_COUNT_LIMIT", 128));
  if (!v["OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"].empty())
    s.attr_value_chars = num("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", SIZE_MAX);
  s.log_attr_count_limit = v["OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT"].empty()
                               ? s.attr_count_limit
                               : clamp32(num("OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", 128));
  s.log_attr_value_chars = v["OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT"].empty()
                               ? s.attr_value_chars
                               : num("OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT", SIZE_MAX);
  // Span limits fall back to the generic attribute limits.
  s.span_attr_count_limit = v["OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT"].empty()
                                ? s.attr_count_limit
                                : clamp32(num("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", 128));
  s.span_attr_value_chars = v["OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT"].empty()
                                ? s.attr_value_chars
                                : num("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", SIZE_MAX);
  s.span_event_count_limit = clamp32(num("OTEL_SPAN_EVENT_COUNT_LIMIT", 128));
  s.span_link_count_limit = clamp32(num("OTEL_SPAN_LINK_COUNT_LIMIT", 128));
  s.event_attr_count_limit = v["OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT"].empty()
                                 ? s.attr_count_limit
                                 : clamp32(num("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", 128));
  s.link_attr_count_limit = v["OTEL_LINK_ATTRIBUTE_COUNT_LIMIT"].empty()
                                ? s.attr_count_limit
                                : clamp32(num("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", 128));
  s.max_live_spans = clamp32(num("OTELBRIDGE_MAX_LIVE_SPANS", 1u << 20));
  if (s.max_live_spans == 0) s.max_live_spans = 1;
  s.sampler = v["OTEL_TRACES_SAMPLER"];
  s.sampler_arg = 1.0;
  if (!v["OTEL_TRACES_SAMPLER_ARG"].empty()) {
    char *end = nullptr;
    const std::string &a = v["OTEL_TRACES_SAMPLER_ARG"];
    double d = strtod(a.c_str(), &end);
    if (end && *end == 0 && d >= 0.0 && d <= 1.0) {
      s.sampler_arg = d;
    } else if (s.sampler.find("traceidratio") != std::string::npos) {
      diag(OTEL_DIAG_WARN,
           "ignoring OTEL_TRACES_SAMPLER_ARG=\"%s\": expected a number in [0, 1]; using 1.0",
           a.c_str());
    }
  }
  s.propagators = v["OTEL_PROPAGATORS"];
  s.self_metrics = v["OTELBRIDGE_SELF_METRICS"] == "true";
  s.metrics_exponential_histograms =
      v["OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION"] ==
      "base2_exponential_bucket_histogram";
  if (code) s.views = code->views;
  {
    std::vector<ViewSpec> text_views;
    std::string why;
    if (parse_views(v["OTELBRIDGE_METRICS_VIEWS"], &text_views, &why))
      s.views.insert(s.views.end(), text_views.begin(), text_views.end());
  }
  // Metrics: one Metric record per instrument per collection goes through the generic pipeline;
  // the schedule delay is the export interval.
  s.metrics.exporter = v["OTEL_METRICS_EXPORTER"];
  s.metrics.schedule_delay_ms = clamp32(num("OTEL_METRIC_EXPORT_INTERVAL", 60000));
  if (s.metrics.schedule_delay_ms == 0) s.metrics.schedule_delay_ms = 60000;
  s.metrics.export_timeout_ms = clamp32(num("OTEL_METRIC_EXPORT_TIMEOUT", 30000));
  s.metrics.max_queue_size = 65536;
  s.metrics.max_export_batch_size = 4096;
  s.metrics.max_queue_bytes = 64u << 20;
  s.metrics_temporality = v["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"];
  s.metrics_cardinality_limit = clamp32(num("OTELBRIDGE_METRICS_CARDINALITY_LIMIT", 2000));
  if (s.metrics_cardinality_limit == 0) s.metrics_cardinality_limit = 1;
  s.file_path = v["OTELBRIDGE_FILE_PATH"].empty() ? "-" : v["OTELBRIDGE_FILE_PATH"];
  s.file_format = v["OTELBRIDGE_FILE_FORMAT"] == "proto" ? FileFormat::kProto : FileFormat::kJson;
  s.exit_timeout_ms = clamp32(num("OTELBRIDGE_EXIT_TIMEOUT", 5000));
  s.values = std::move(v);
  s.resolved = resolved;
  if (all) *all = std::move(resolved);
  return s;
}

}  // namespace otb
