#include "json.h"

#include "pbread.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace otb {
namespace {

// ---- schema of the OTLP messages, for JSON ----
enum class K {
  kStr,
  kB64,
  kHex,
  kMsg,
  kEnum,
  kU32,
  kI64,
  kFixed64,
  kFixed32,
  kDouble,
  kBool,
  kSfixed64,       // signed, as a JSON string
  kPackedFixed64,  // packed repeated fixed64: an array of strings
  kPackedDouble,   // packed repeated double: an array of numbers
  kSint32,         // zigzag varint: a number
  kPackedUvarint   // packed repeated uint64 varints: an array of strings
};

struct Msg;
struct Fd {
  uint32_t num;
  const char *name;
  K kind;
  const Msg *msg;
  bool repeated;
};
struct Msg {
  const Fd *fields;
  size_t n;
};
#define OTB_MSG(name, ...)             \
  extern const Fd name##_f[];          \
  const Fd name##_f[] = {__VA_ARGS__}; \
  const Msg name = {name##_f, sizeof(name##_f) / sizeof(Fd)}

extern const Msg kAnyValue, kKeyValue;
OTB_MSG(kArrayValue, {1, "values", K::kMsg, &kAnyValue, true});
OTB_MSG(kKvList, {1, "values", K::kMsg, &kKeyValue, true});
OTB_MSG(kAnyValue, {1, "stringValue", K::kStr, nullptr, false},
        {2, "boolValue", K::kBool, nullptr, false}, {3, "intValue", K::kI64, nullptr, false},
        {4, "doubleValue", K::kDouble, nullptr, false},
        {5, "arrayValue", K::kMsg, &kArrayValue, false},
        {6, "kvlistValue", K::kMsg, &kKvList, false}, {7, "bytesValue", K::kB64, nullptr, false});
OTB_MSG(kKeyValue, {1, "key", K::kStr, nullptr, false}, {2, "value", K::kMsg, &kAnyValue, false});
OTB_MSG(kScope, {1, "name", K::kStr, nullptr, false}, {2, "version", K::kStr, nullptr, false},
        {3, "attributes", K::kMsg, &kKeyValue, true},
        {4, "droppedAttributesCount", K::kU32, nullptr, false});
OTB_MSG(kResource, {1, "attributes", K::kMsg, &kKeyValue, true},
        {2, "droppedAttributesCount", K::kU32, nullptr, false});
OTB_MSG(kLogRecord, {1, "timeUnixNano", K::kFixed64, nullptr, false},
        {11, "observedTimeUnixNano", K::kFixed64, nullptr, false},
        {2, "severityNumber", K::kEnum, nullptr, false},
        {3, "severityText", K::kStr, nullptr, false}, {5, "body", K::kMsg, &kAnyValue, false},
        {6, "attributes", K::kMsg, &kKeyValue, true},
        {7, "droppedAttributesCount", K::kU32, nullptr, false},
        {8, "flags", K::kFixed32, nullptr, false}, {9, "traceId", K::kHex, nullptr, false},
        {10, "spanId", K::kHex, nullptr, false}, {12, "eventName", K::kStr, nullptr, false});
OTB_MSG(kScopeLogs, {1, "scope", K::kMsg, &kScope, false},
        {2, "logRecords", K::kMsg, &kLogRecord, true}, {3, "schemaUrl", K::kStr, nullptr, false});
OTB_MSG(kResourceLogs, {1, "resource", K::kMsg, &kResource, false},
        {2, "scopeLogs", K::kMsg, &kScopeLogs, true}, {3, "schemaUrl", K::kStr, nullptr, false});
OTB_MSG(kLogsRequest, {1, "resourceLogs", K::kMsg, &kResourceLogs, true});

OTB_MSG(kStatus, {2, "message", K::kStr, nullptr, false}, {3, "code", K::kEnum, nullptr, false});
OTB_MSG(kEvent, {1, "timeUnixNano", K::kFixed64, nullptr, false},
        {2, "name", K::kStr, nullptr, false}, {3, "attributes", K::kMsg, &kKeyValue, true},
        {4, "droppedAttributesCount", K::kU32, nullptr, false});
OTB_MSG(kLink, {1, "traceId", K::kHex, nullptr, false}, {2, "spanId", K::kHex, nullptr, false},
        {3, "traceState", K::kStr, nullptr, false}, {4, "attributes", K::kMsg, &kKeyValue, true},
        {5, "droppedAttributesCount", K::kU32, nullptr, false},
        {6, "flags", K::kFixed32, nullptr, false});
OTB_MSG(kSpan, {1, "traceId", K::kHex, nullptr, false}, {2, "spanId", K::kHex, nullptr, false},
        {3, "traceState", K::kStr, nullptr, false}, {4, "parentSpanId", K::kHex, nullptr, false},
        {16, "flags", K::kFixed32, nullptr, false}, {5, "name", K::kStr, nullptr, false},
        {6, "kind", K::kEnum, nullptr, false},
        {7, "startTimeUnixNano", K::kFixed64, nullptr, false},
        {8, "endTimeUnixNano", K::kFixed64, nullptr, false},
        {9, "attributes", K::kMsg, &kKeyValue, true},
        {10, "droppedAttributesCount", K::kU32, nullptr, false},
        {11, "events", K::kMsg, &kEvent, true}, {12, "droppedEventsCount", K::kU32, nullptr, false},
        {13, "links", K::kMsg, &kLink, true}, {14, "droppedLinksCount", K::kU32, nullptr, false},
        {15, "status", K::kMsg, &kStatus, false});
OTB_MSG(kScopeSpans, {1, "scope", K::kMsg, &kScope, false}, {2, "spans", K::kMsg, &kSpan, true},
        {3, "schemaUrl", K::kStr, nullptr, false});
OTB_MSG(kResourceSpans, {1, "resource", K::kMsg, &kResource, false},
        {2, "scopeSpans", K::kMsg, &kScopeSpans, true}, {3, "schemaUrl", K::kStr, nullptr, false});
OTB_MSG(kTracesRequest, {1, "resourceSpans", K::kMsg, &kResourceSpans, true});

OTB_MSG(kNumberPoint, {7, "attributes", K::kMsg, &kKeyValue, true},
        {2, "startTimeUnixNano", K::kFixed64, nullptr, false},
        {3, "timeUnixNano", K::kFixed64, nullptr, false},
        {4, "asDouble", K::kDouble, nullptr, false}, {6, "asInt", K::kSfixed64, nullptr, false},
        {8, "flags", K::kU32, nullptr, false});
OTB_MSG(kHistogramPoint, {9, "attributes", K::kMsg, &kKeyValue, true},
        {2, "startTimeUnixNano", K::kFixed64, nullptr, false},
        {3, "timeUnixNano", K::kFixed64, nullptr, false}, {4, "count", K::kFixed64, nullptr, false},
        {5, "sum", K::kDouble, nullptr, false},
        {6, "bucketCounts", K::kPackedFixed64, nullptr, false},
        {7, "explicitBounds", K::kPackedDouble, nullptr, false},
        {10, "flags", K::kU32, nullptr, false}, {11, "min", K::kDouble, nullptr, false},
        {12, "max", K::kDouble, nullptr, false});
OTB_MSG(kExpBuckets, {1, "offset", K::kSint32, nullptr, false},
        {2, "bucketCounts", K::kPackedUvarint, nullptr, false});
OTB_MSG(kExpPoint, {1, "attributes", K::kMsg, &kKeyValue, true},
        {2, "startTimeUnixNano", K::kFixed64, nullptr, false},
        {3, "timeUnixNano", K::kFixed64, nullptr, false}, {4, "count", K::kFixed64, nullptr, false},
        {5, "sum", K::kDouble, nullptr, false}, {6, "scale", K::kSint32, nullptr, false},
        {7, "zeroCount", K::kFixed64, nullptr, false},
        {8, "positive", K::kMsg, &kExpBuckets, false},
        {9, "negative", K::kMsg, &kExpBuckets, false}, {10, "flags", K::kU32, nullptr, false},
        {12, "min", K::kDouble, nullptr, false}, {13, "max", K::kDouble, nullptr, false},
        {14, "zeroThreshold", K::kDouble, nullptr, false});
OTB_MSG(kExpHistogram, {1, "dataPoints", K::kMsg, &kExpPoint, true},
        {2, "aggregationTemporality", K::kEnum, nullptr, false});
OTB_MSG(kGauge, {1, "dataPoints", K::kMsg, &kNumberPoint, true});
OTB_MSG(kSum, {1, "dataPoints", K::kMsg, &kNumberPoint, true},
        {2, "aggregationTemporality", K::kEnum, nullptr, false},
        {3, "isMonotonic", K::kBool, nullptr, false});
OTB_MSG(kHistogram, {1, "dataPoints", K::kMsg, &kHistogramPoint, true},
        {2, "aggregationTemporality", K::kEnum, nullptr, false});
OTB_MSG(kMetric, {1, "name", K::kStr, nullptr, false}, {2, "description", K::kStr, nullptr, false},
        {3, "unit", K::kStr, nullptr, false}, {5, "gauge", K::kMsg, &kGauge, false},
        {7, "sum", K::kMsg, &kSum, false}, {9, "histogram", K::kMsg, &kHistogram, false},
        {10, "exponentialHistogram", K::kMsg, &kExpHistogram, false});
OTB_MSG(kScopeMetrics, {1, "scope", K::kMsg, &kScope, false},
        {2, "metrics", K::kMsg, &kMetric, true}, {3, "schemaUrl", K::kStr, nullptr, false});
OTB_MSG(kResourceMetrics, {1, "resource", K::kMsg, &kResource, false},
        {2, "scopeMetrics", K::kMsg, &kScopeMetrics, true},
        {3, "schemaUrl", K::kStr, nullptr, false});
OTB_MSG(kMetricsRequest, {1, "resourceMetrics", K::kMsg, &kResourceMetrics, true});

const Msg *request_schema(Signal s) {
  switch (s) {
    case Signal::kLogs:
      return &kLogsRequest;
    case Signal::kTraces:
      return &kTracesRequest;
    case Signal::kMetrics:
      return &kMetricsRequest;
    default:
      return nullptr;
  }
}

// ---- JSON writing ----
}  // namespace

void json_string(std::string *o, const uint8_t *s, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  o->push_back('"');
  for (size_t i = 0; i < n; i++) {
    uint8_t c = s[i];
    switch (c) {
      case '"':
        *o += "\\\"";
        break;
      case '\\':
        *o += "\\\\";
        break;
      case '\n':
        *o += "\\n";
        break;
      case '\r':
        *o += "\\r";
        break;
      case '\t':
        *o += "\\t";
        break;
      default:
        if (c < 0x20) {
          *o += "\\u00";
          o->push_back(kHex[c >> 4]);
          o->push_back(kHex[c & 15]);
        } else {
          o->push_back(static_cast<char>(c));
        }
    }
  }
  o->push_back('"');
}

void base64(std::string *o, const uint8_t *s, size_t n) {
  static const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = uint32_t{s[i]} << 16 | uint32_t{s[i + 1]} << 8 | s[i + 2];
    o->push_back(kB64[v >> 18]);
    o->push_back(kB64[(v >> 12) & 63]);
    o->push_back(kB64[(v >> 6) & 63]);
    o->push_back(kB64[v & 63]);
  }
  if (n - i == 1) {
    uint32_t v = uint32_t{s[i]} << 16;
    o->push_back(kB64[v >> 18]);
    o->push_back(kB64[(v >> 12) & 63]);
    *o += "==";
  } else if (n - i == 2) {
    uint32_t v = uint32_t{s[i]} << 16 | uint32_t{s[i + 1]} << 8;
    o->push_back(kB64[v >> 18]);
    o->push_back(kB64[(v >> 12) & 63]);
    o->push_back(kB64[(v >> 6) & 63]);
    o->push_back('=');
  }
}

namespace {

void hex(std::string *o, const uint8_t *s, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    o->push_back(kHex[s[i] >> 4]);
    o->push_back(kHex[s[i] & 15]);
  }
}

void json_double(std::string *o, double d) {
  if (std::isnan(d)) {
    *o += "\"NaN\"";
  } else if (std::isinf(d)) {
    *o += d > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else {
    char buf[32];
    snprintf(buf, sizeof buf, "%.17g", d);
    *o += buf;
  }
}

bool json_message(std::string *o, const Msg &m, const uint8_t *p, size_t n);

bool json_scalar(std::string *o, const Fd &fd, const PbField &f) {
  char buf[32];
  switch (fd.kind) {
    case K::kStr:
      if (f.wt != 2) return false;
      json_string(o, f.data, f.len);
      return true;
    case K::kB64:
      if (f.wt != 2) return false;
      o->push_back('"');
      base64(o, f.data, f.len);
      o->push_back('"');
      return true;
    case K::kHex:
      if (f.wt != 2) return false;
      o->push_back('"');
      hex(o, f.data, f.len);
      o->push_back('"');
      return true;
    case K::kMsg:
      return f.wt == 2 && json_message(o, *fd.msg, f.data, f.len);
    case K::kEnum:
      snprintf(buf, sizeof buf, "%d", static_cast<int32_t>(f.u));
      *o += buf;
      return true;
    case K::kU32:
    case K::kFixed32:
      snprintf(buf, sizeof buf, "%u", static_cast<uint32_t>(f.u));
      *o += buf;
      return true;
    case K::kI64:
      snprintf(buf, sizeof buf, "\"%lld\"", static_cast<long long>(f.u));
      *o += buf;
      return true;
    case K::kFixed64:
      snprintf(buf, sizeof buf, "\"%llu\"", static_cast<unsigned long long>(f.u));
      *o += buf;
      return true;
    case K::kDouble: {
      double d;
      std::memcpy(&d, &f.u, 8);
      json_double(o, d);
      return true;
    }
    case K::kBool:
      *o += f.u ? "true" : "false";
      return true;
    case K::kSfixed64:
      snprintf(buf, sizeof buf, "\"%lld\"", static_cast<long long>(f.u));
      *o += buf;
      return true;
    case K::kSint32: {
      uint32_t z = static_cast<uint32_t>(f.u);
      snprintf(buf, sizeof buf, "%d", static_cast<int32_t>((z >> 1) ^ (~(z & 1) + 1)));
      *o += buf;
      return true;
    }
    case K::kPackedUvarint: {
      if (f.wt != 2) return false;
      PbReader r(f.data, f.len);
      o->push_back('[');
      bool first = true;
      while (r.p < r.end) {
        uint64_t v;
        if (!r.varint(&v)) return false;
        if (!first) o->push_back(',');
        first = false;
        snprintf(buf, sizeof buf, "\"%llu\"", static_cast<unsigned long long>(v));
        *o += buf;
      }
      o->push_back(']');
      return true;
    }
    case K::kPackedFixed64:
    case K::kPackedDouble: {
      if (f.wt != 2 || f.len % 8) return false;
      o->push_back('[');
      for (size_t k = 0; k < f.len; k += 8) {
        uint64_t v;
        std::memcpy(&v, f.data + k, 8);
        if (k) o->push_back(',');
        if (fd.kind == K::kPackedFixed64) {
          snprintf(buf, sizeof buf, "\"%llu\"", static_cast<unsigned long long>(v));
          *o += buf;
        } else {
          double d;
          std::memcpy(&d, &v, 8);
          json_double(o, d);
        }
      }
      o->push_back(']');
      return true;
    }
  }
  return false;
}

bool json_message(std::string *o, const Msg &m, const uint8_t *p, size_t n) {
  o->push_back('{');
  bool first = true;
  for (size_t i = 0; i < m.n; i++) {
    const Fd &fd = m.fields[i];
    PbReader r(p, n);
    PbField f, last;
    bool found = false;
    size_t count = 0;
    while (r.next(&f)) {
      if (f.num != fd.num) continue;
      if (fd.repeated) {
        if (count == 0) {
          if (!first) o->push_back(',');
          first = false;
          o->push_back('"');
          *o += fd.name;
          *o += "\":[";
        } else {
          o->push_back(',');
        }
        if (!json_scalar(o, fd, f)) return false;
        count++;
      } else {
        last = f;  // proto semantics: the last occurrence wins
        found = true;
      }
    }
    if (r.bad) return false;
    if (count) o->push_back(']');
    if (found) {
      if (!first) o->push_back(',');
      first = false;
      o->push_back('"');
      *o += fd.name;
      *o += "\":";
      if (!json_scalar(o, fd, last)) return false;
    }
  }
  o->push_back('}');
  return true;
}

// ---- console ----
// An AnyValue as compact text: strings quoted (bare when raw_string, for a body), maps as
// {k=v, ...}, arrays as [a, b], bytes as base64.
void console_value(std::string *o, const uint8_t *p, size_t n, bool raw_string) {
  PbReader r(p, n);
  PbField f;
  bool any = false;
  while (r.next(&f)) {
    any = true;
    switch (f.num) {
      case 1:
        if (raw_string)
          o->append(reinterpret_cast<const char *>(f.data), f.len);
        else
          json_string(o, f.data, f.len);
        break;
      case 2:
        *o += f.u ? "true" : "false";
        break;
      case 3:
        *o += std::to_string(static_cast<int64_t>(f.u));
        break;
      case 4: {
        double d;
        std::memcpy(&d, &f.u, 8);
        json_double(o, d);
        break;
      }
      case 5:
      case 6: {
        bool map = f.num == 6;
        *o += map ? "{" : "[";
        PbReader items(f.data, f.len);
        PbField it;
        bool first = true;
        while (items.next(&it)) {
          if (it.num != 1) continue;
          if (!first) *o += ", ";
          first = false;
          if (!map) {
            console_value(o, it.data, it.len, false);
            continue;
          }
          PbReader kv(it.data, it.len);
          PbField k;
          while (kv.next(&k)) {
            if (k.num == 1) o->append(reinterpret_cast<const char *>(k.data), k.len).push_back('=');
            if (k.num == 2) console_value(o, k.data, k.len, false);
          }
        }
        *o += map ? "}" : "]";
        break;
      }
      case 7:
        o->push_back('"');
        base64(o, f.data, f.len);
        o->push_back('"');
        break;
    }
  }
  if (!any) *o += "null";
}

// Appends one attribute (a KeyValue message) to a " {k=v, k2=v2" list being built.
void console_kv(std::string *attrs, const uint8_t *p, size_t n) {
  PbReader kv(p, n);
  PbField k;
  std::string key, val;
  while (kv.next(&k)) {
    if (k.num == 1) key.assign(reinterpret_cast<const char *>(k.data), k.len);
    if (k.num == 2) {
      val.clear();
      console_value(&val, k.data, k.len, false);
    }
  }
  *attrs += attrs->empty() ? " {" : ", ";
  *attrs += key + "=" + val;
}

void console_time(std::string *o, uint64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1000000000u);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09uZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<unsigned>(ns % 1000000000u));
  *o += buf;
}

const char *severity_word(uint64_t n) {
  static const char *kWords[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
  if (n == 0 || n > 24) return "UNSPECIFIED";
  return kWords[(n - 1) / 4];
}

void console_log_record(std::string *o, const uint8_t *p, size_t n, const std::string &scope) {
  PbReader r(p, n);
  PbField f;
  uint64_t t = 0, obs = 0, sev = 0;
  const uint8_t *sev_text = nullptr, *tid = nullptr, *sid = nullptr, *body = nullptr;
  size_t sev_len = 0, body_len = 0;
  std::string attrs, event;
  bool has_body = false;
  while (r.next(&f)) {
    switch (f.num) {
      case 1:
        t = f.u;
        break;
      case 11:
        obs = f.u;
        break;
      case 2:
        sev = f.u;
        break;
      case 3:
        sev_text = f.data;
        sev_len = f.len;
        break;
      case 5:
        body = f.data;
        body_len = f.len;
        has_body = true;
        break;
      case 6:
        console_kv(&attrs, f.data, f.len);
        break;
      case 9:
        if (f.len == 16) tid = f.data;
        break;
      case 10:
        if (f.len == 8) sid = f.data;
        break;
      case 12:
        event.assign(reinterpret_cast<const char *>(f.data), f.len);
        break;
    }
  }
  console_time(o, t ? t : obs);
  o->push_back(' ');
  if (sev_len)
    o->append(reinterpret_cast<const char *>(sev_text), sev_len);
  else
    *o += severity_word(sev);
  *o += " [" + scope + "]";
  if (!event.empty()) *o += " event=" + event;
  o->push_back(' ');
  if (has_body) console_value(o, body, body_len, true);
  if (!attrs.empty()) *o += attrs + "}";
  if (tid) {
    *o += " trace_id=";
    hex(o, tid, 16);
  }
  if (sid) {
    *o += " span_id=";
    hex(o, sid, 8);
  }
  o->push_back('\n');
}

const char *kind_word(uint64_t k) {
  static const char *kKinds[] = {"UNSPECIFIED", "INTERNAL", "SERVER",
                                 "CLIENT",      "PRODUCER", "CONSUMER"};
  return k < 6 ? kKinds[k] : "?";
}

// One line per span: start time, name, scope, ids, parent, kind, duration, status, attributes,
// events and links.
void console_span(std::string *o, const uint8_t *p, size_t n, const std::string &scope) {
  PbReader r(p, n);
  PbField f;
  uint64_t start = 0, end = 0, kind = 0, status_code = 0;
  const uint8_t *tid = nullptr, *sid = nullptr, *pid = nullptr;
  std::string name, attrs, events, status_msg;
  size_t links = 0;
  while (r.next(&f)) {
    switch (f.num) {
      case 1:
        if (f.len == 16) tid = f.data;
        break;
      case 2:
        if (f.len == 8) sid = f.data;
        break;
      case 4:
        if (f.len == 8) pid = f.data;
        break;
      case 5:
        name.assign(reinterpret_cast<const char *>(f.data), f.len);
        break;
      case 6:
        kind = f.u;
        break;
      case 7:
        start = f.u;
        break;
      case 8:
        end = f.u;
        break;
      case 9:
        console_kv(&attrs, f.data, f.len);
        break;
      case 11: {
        PbReader ev(f.data, f.len);
        PbField e;
        while (ev.next(&e))
          if (e.num == 2) {
            events += events.empty() ? " events=[" : ", ";
            events.append(reinterpret_cast<const char *>(e.data), e.len);
          }
        break;
      }
      case 13:
        links++;
        break;
      case 15: {
        PbReader st(f.data, f.len);
        PbField x;
        while (st.next(&x)) {
          if (x.num == 3) status_code = x.u;
          if (x.num == 2) status_msg.assign(reinterpret_cast<const char *>(x.data), x.len);
        }
        break;
      }
    }
  }
  console_time(o, start);
  *o += " SPAN " + name + " [" + scope + "]";
  if (tid) {
    *o += " trace_id=";
    hex(o, tid, 16);
  }
  if (sid) {
    *o += " span_id=";
    hex(o, sid, 8);
  }
  if (pid) {
    *o += " parent=";
    hex(o, pid, 8);
  } else {
    *o += " parent=none";
  }
  *o += " kind=";
  *o += kind_word(kind);
  char dur[48];
  snprintf(dur, sizeof dur, " duration=%.3fms",
           end >= start ? static_cast<double>(end - start) / 1e6 : 0.0);
  *o += dur;
  *o += status_code == 2 ? " status=ERROR" : status_code == 1 ? " status=OK" : " status=UNSET";
  if (!status_msg.empty()) {
    o->push_back(' ');
    json_string(o, reinterpret_cast<const uint8_t *>(status_msg.data()), status_msg.size());
  }
  if (!attrs.empty()) *o += attrs + "}";
  if (!events.empty()) *o += events + "]";
  if (links) *o += " links=" + std::to_string(links);
  o->push_back('\n');
}

// The attributes of a data point as {k="v", ...} ("" when none).
std::string console_attrs(const uint8_t *p, size_t n, uint32_t field) {
  std::string out;
  PbReader r(p, n);
  PbField f;
  while (r.next(&f)) {
    if (f.num != field || f.wt != 2) continue;
    PbReader kv(f.data, f.len);
    PbField k;
    out += out.empty() ? "{" : ", ";
    while (kv.next(&k)) {
      if (k.num == 1) out.append(reinterpret_cast<const char *>(k.data), k.len).push_back('=');
      if (k.num == 2) console_value(&out, k.data, k.len, false);
    }
  }
  if (!out.empty()) out += "}";
  return out;
}

// One line per data point: time, name, attributes, value (or count/sum/min/max/buckets).
void console_metric(std::string *o, const uint8_t *p, size_t n, const std::string &scope) {
  std::string name, unit;
  PbReader r(p, n);
  PbField f;
  while (r.next(&f)) {
    if (f.num == 1) name.assign(reinterpret_cast<const char *>(f.data), f.len);
    if (f.num == 3) unit.assign(reinterpret_cast<const char *>(f.data), f.len);
  }
  PbReader d(p, n);
  while (d.next(&f)) {
    if (f.num == 10) {  // exponential histogram: count, sum, scale, min, max
      PbReader pts(f.data, f.len);
      PbField pt;
      while (pts.next(&pt)) {
        if (pt.num != 1) continue;
        uint64_t t = 0, count = 0;
        double sum = 0, mn = 0, mx = 0;
        int32_t scale = 0;
        PbReader x(pt.data, pt.len);
        PbField v;
        while (x.next(&v)) {
          double dv;
          std::memcpy(&dv, &v.u, 8);
          if (v.num == 3) t = v.u;
          if (v.num == 4) count = v.u;
          if (v.num == 5) sum = dv;
          if (v.num == 6)
            scale = static_cast<int32_t>((static_cast<uint32_t>(v.u) >> 1) ^
                                         (~(static_cast<uint32_t>(v.u) & 1) + 1));
          if (v.num == 12) mn = dv;
          if (v.num == 13) mx = dv;
        }
        char buf[160];
        snprintf(buf, sizeof buf, "count=%llu sum=%g scale=%d min=%g max=%g",
                 static_cast<unsigned long long>(count), sum, scale, mn, mx);
        std::string attrs = console_attrs(pt.data, pt.len, 1);
        console_time(o, t);
        *o +=
            " METRIC " + name + " [" + scope + "]" + (attrs.empty() ? "" : " ") + attrs + " " + buf;
        if (!unit.empty()) *o += " " + unit;
        o->push_back('\n');
      }
      continue;
    }
    if (f.num != 5 && f.num != 7 && f.num != 9) continue;
    const bool hist = f.num == 9;
    PbReader pts(f.data, f.len);
    PbField pt;
    while (pts.next(&pt)) {
      if (pt.num != 1) continue;
      uint64_t t = 0;
      std::string value;
      PbReader x(pt.data, pt.len);
      PbField v;
      char buf[64];
      while (x.next(&v)) {
        if (v.num == 3) t = v.u;
        if (!hist && v.num == 6) value = std::to_string(static_cast<int64_t>(v.u));
        if (!hist && v.num == 4) {
          double dv;
          std::memcpy(&dv, &v.u, 8);
          json_double(&value, dv);
        }
        if (hist && (v.num == 4 || v.num == 5 || v.num == 11 || v.num == 12)) {
          double dv;
          std::memcpy(&dv, &v.u, 8);
          if (v.num == 4)
            snprintf(buf, sizeof buf, "count=%llu", static_cast<unsigned long long>(v.u));
          else
            snprintf(buf, sizeof buf, " %s=%g",
                     v.num == 5    ? "sum"
                     : v.num == 11 ? "min"
                                   : "max",
                     dv);
          value += buf;
        }
        if (hist && v.num == 6 && v.wt == 2) {
          value += " buckets=[";
          for (size_t k = 0; k + 8 <= v.len; k += 8) {
            uint64_t c;
            std::memcpy(&c, v.data + k, 8);
            value += (k ? "," : "") + std::to_string(c);
          }
          value += "]";
        }
      }
      console_time(o, t);
      std::string attrs = console_attrs(pt.data, pt.len, hist ? 9 : 7);
      *o += " METRIC " + name + " [" + scope + "]" + (attrs.empty() ? "" : " ") + attrs;
      *o += " " + value;
      if (!unit.empty()) *o += " " + unit;
      o->push_back('\n');
    }
  }
}

}  // namespace

bool request_to_json(Signal signal, const uint8_t *p, size_t n, std::string *out) {
  const Msg *m = request_schema(signal);
  return m && json_message(out, *m, p, n);
}

bool request_to_console(Signal signal, const uint8_t *p, size_t n, std::string *out) {
  // The same envelope for every signal: Resource* (1) > Scope* (2) > scope (1), records (2).
  auto record = signal == Signal::kLogs     ? &console_log_record
                : signal == Signal::kTraces ? &console_span
                                            : &console_metric;
  PbReader req(p, n);
  PbField rl;
  while (req.next(&rl)) {
    if (rl.num != 1) continue;
    PbReader res(rl.data, rl.len);
    PbField sl;
    while (res.next(&sl)) {
      if (sl.num != 2) continue;
      PbReader scope_logs(sl.data, sl.len);
      PbField x;
      std::string scope;
      // The scope comes first in our framing, but do not rely on it.
      while (scope_logs.next(&x)) {
        if (x.num != 1) continue;
        PbReader sc(x.data, x.len);
        PbField nm;
        while (sc.next(&nm))
          if (nm.num == 1) scope.assign(reinterpret_cast<const char *>(nm.data), nm.len);
      }
      PbReader recs(sl.data, sl.len);
      while (recs.next(&x))
        if (x.num == 2) record(out, x.data, x.len, scope);
      if (recs.bad) return false;
    }
    if (res.bad) return false;
  }
  return !req.bad;
}

}  // namespace otb
