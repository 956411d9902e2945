// Configuration: one vocabulary (the spec's environment variable names plus OTELBRIDGE_* keys)
// for the environment and for code. A key table names every key, its type and default; values set
// in code are validated at set time (errors go back to the caller), values from the environment
// are parsed at engine creation (errors warn and fall back to the default, per the spec).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common.h"

namespace otb {

enum class Source { kDefault, kEnvironment, kCode };
const char *source_name(Source s);

enum class FullPolicy { kDropNewest, kDropOldest };
enum class FileFormat { kJson, kProto };

// One resolved key: its value and where it came from.
struct Resolved {
  std::string key, value;
  Source source;
};

// A metric view (see otel_config_add_view).
struct ViewSpec {
  std::string pattern;  // instrument name, '*' and '?' wildcards, case-insensitive
  std::string name, description;
  int32_t aggregation = OTEL_AGGREGATION_DEFAULT;
  std::vector<double> bounds;
  bool filter_keys = false;
  std::vector<std::string> keys;
};
// Checks a view; false with a reason.
bool view_valid(const ViewSpec &v, std::string *why);
// Parses OTELBRIDGE_METRICS_VIEWS. False with a reason on a syntax error.
bool parse_views(const std::string &text, std::vector<ViewSpec> *out, std::string *why);
// True when `name` matches the view's pattern.
bool view_matches(const ViewSpec &v, const std::string &name);

// Batching settings of one signal's pipeline (OTEL_BLRP_* for logs, OTEL_BSP_* for traces).
struct PipelineSettings {
  std::string exporter;  // "otlp", "console", "file", "none"
  uint32_t schedule_delay_ms = 1000;
  uint32_t export_timeout_ms = 30000;
  uint32_t max_queue_size = 2048;
  uint32_t max_export_batch_size = 512;
  uint64_t max_queue_bytes = 16u << 20;
  FullPolicy full_policy = FullPolicy::kDropNewest;
};

struct Settings {
  bool disabled = false;
  int32_t log_level = OTEL_DIAG_INFO;
  std::string service_name;
  std::vector<std::pair<std::string, std::string>> resource_attributes;  // decoded
  PipelineSettings logs;                                                 // OTEL_BLRP_*
  PipelineSettings traces;                                               // OTEL_BSP_*
  PipelineSettings metrics;  // OTEL_METRIC_EXPORT_*: the interval is the schedule delay
  std::string metrics_temporality = "cumulative";
  uint32_t metrics_cardinality_limit = 2000;
  uint32_t attr_count_limit = 128;
  size_t attr_value_chars = SIZE_MAX;
  uint32_t log_attr_count_limit = 128;
  size_t log_attr_value_chars = SIZE_MAX;
  uint32_t span_attr_count_limit = 128;
  size_t span_attr_value_chars = SIZE_MAX;
  uint32_t span_event_count_limit = 128, span_link_count_limit = 128;
  uint32_t event_attr_count_limit = 128, link_attr_count_limit = 128;
  uint32_t max_live_spans = 1u << 20;
  std::string sampler = "parentbased_always_on";
  double sampler_arg = 1.0;
  std::string propagators = "tracecontext,baggage";
  std::vector<ViewSpec> views;                  // code views first, then OTELBRIDGE_METRICS_VIEWS
  bool self_metrics = false;                    // OTELBRIDGE_SELF_METRICS
  bool metrics_exponential_histograms = false;  // ..._DEFAULT_HISTOGRAM_AGGREGATION
  std::string file_path = "-";                  // "-" = stdout
  FileFormat file_format = FileFormat::kJson;
  uint32_t exit_timeout_ms = 5000;
  // Every key's resolved value (canonical text; "" = unset) and where it came from. The OTLP
  // resolver (otlp.cc) and the diagnose report read these.
  std::map<std::string, std::string> values;
  std::vector<Resolved> resolved;
};

// The caller-owned otel_config: values set in code, already validated.
struct CodeConfig {
  std::map<std::string, std::string> values;
  // Resource attributes from code: key and the encoded AnyValue message body of its value.
  std::vector<std::pair<std::string, std::string>> resource_attrs;
  std::string sdk_language = "cpp";
  std::vector<ViewSpec> views;  // from otel_config_add_view, before those of the text key
};

// Validates and stores one key/value from code. OTEL_OK, OTEL_E_UNKNOWN_KEY or
// OTEL_E_INVALID_CONFIG with a message in *err.
int32_t config_set(CodeConfig &c, const std::string &key, const std::string &value,
                   std::string *err);

// Resolves every known key (code > environment > default) and parses them into Settings. Bad
// environment values produce a warning through diag and the default.
Settings resolve_settings(const CodeConfig *code, std::vector<Resolved> *all);

// Parses a W3C-baggage-like "k=v,k2=v2" list with percent-decoded values (OTEL_RESOURCE_ATTRIBUTES,
// later OTEL_EXPORTER_OTLP_HEADERS). False on a decode error.
bool parse_kv_list(const std::string &s, std::vector<std::pair<std::string, std::string>> *out);

}  // namespace otb
