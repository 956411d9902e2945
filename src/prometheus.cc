#include "prometheus.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <mutex>
#include <unordered_set>

#include "diag.h"
#include "engine.h"
#include "json.h"
#include "metrics.h"
#include "pbread.h"

namespace otb {

namespace {

constexpr size_t kMaxRequestHead = 8192;           // request line + headers
constexpr uint64_t kReadTimeoutNs = 5000000000;    // to receive a request head
constexpr uint64_t kWriteTimeoutNs = 30000000000;  // to send a response
constexpr uint64_t kDrainTimeoutNs = 500000000;    // for the client to close after the response
constexpr size_t kMaxMetricBytes = 64u << 20;      // one instrument's Metric message

std::string str(const uint8_t *p, size_t n) {
  return std::string(reinterpret_cast<const char *>(p), n);
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Characters outside [a-zA-Z0-9_] (and ':' for metric names) become '_'; runs of '_' become one.
std::string sanitize(const std::string &s, bool colon) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    char x = is_alnum(c) || c == '_' || (colon && c == ':') ? c : '_';
    if (x == '_' && !out.empty() && out.back() == '_') continue;
    out.push_back(x);
  }
  return out;
}

std::string collapse_underscores(const std::string &s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s)
    if (c != '_' || out.empty() || out.back() != '_') out.push_back(c);
  return out;
}

bool ends_with(const std::string &s, const char *suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

std::string trim_underscores(std::string s) {
  size_t a = s.find_first_not_of('_');
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of('_');
  return s.substr(a, b - a + 1);
}

// UCUM units to the words Prometheus uses (the same table as the Collector's translator).
const char *main_unit_word(const std::string &u) {
  static const struct {
    const char *unit, *word;
  } kUnits[] = {
      {"d", "days"},
      {"h", "hours"},
      {"min", "minutes"},
      {"s", "seconds"},
      {"ms", "milliseconds"},
      {"us", "microseconds"},
      {"ns", "nanoseconds"},
      {"By", "bytes"},
      {"KiBy", "kibibytes"},
      {"MiBy", "mebibytes"},
      {"GiBy", "gibibytes"},
      {"TiBy", "tibibytes"},
      {"KBy", "kilobytes"},
      {"MBy", "megabytes"},
      {"GBy", "gigabytes"},
      {"TBy", "terabytes"},
      {"m", "meters"},
      {"V", "volts"},
      {"A", "amperes"},
      {"J", "joules"},
      {"W", "watts"},
      {"g", "grams"},
      {"Cel", "celsius"},
      {"Hz", "hertz"},
      {"1", ""},
      {"%", "percent"},
  };
  for (const auto &x : kUnits)
    if (u == x.unit) return x.word;
  return nullptr;
}

const char *per_unit_word(const std::string &u) {
  static const struct {
    const char *unit, *word;
  } kUnits[] = {{"s", "second"}, {"min", "minute"}, {"m", "minute"}, {"h", "hour"},
                {"d", "day"},    {"w", "week"},     {"mo", "month"}, {"y", "year"}};
  for (const auto &x : kUnits)
    if (u == x.unit) return x.word;
  return nullptr;
}

std::string unit_part(std::string u, const char *(*word)(const std::string &)) {
  size_t a = u.find_first_not_of(' '), b = u.find_last_not_of(' ');
  if (a == std::string::npos) return "";
  u = u.substr(a, b - a + 1);
  if (u.find_first_of("{}") != std::string::npos) return "";  // an annotation: a count of things
  const char *w = word(u);
  return trim_underscores(sanitize(w ? w : u, false));
}

// ---- reading our own bytes back -----------------------------------------------------------------

double as_double(uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, 8);
  return d;
}

// An AnyValue message as label text: strings as they are, other scalars in their usual text
// form, bytes in base64, arrays and maps as JSON (nested == true: inside JSON).
void any_text(std::string *o, const uint8_t *p, size_t n, bool nested, int depth = 0) {
  PbReader r(p, n);
  PbField f;
  bool any = false;
  while (r.next(&f)) {
    any = true;
    switch (f.num) {
      case 1:  // string
        if (nested)
          json_string(o, f.data, f.len);
        else
          o->append(reinterpret_cast<const char *>(f.data), f.len);
        break;
      case 2:  // bool
        *o += f.u ? "true" : "false";
        break;
      case 3:  // int
        *o += std::to_string(static_cast<int64_t>(f.u));
        break;
      case 4: {  // double
        std::string d = prom_double(as_double(f.u));
        if (nested && !std::isfinite(as_double(f.u)))
          json_string(o, reinterpret_cast<const uint8_t *>(d.data()),
                      d.size());  // JSON has no NaN or Infinity: a string
        else
          *o += d;
        break;
      }
      case 5: {  // array
        o->push_back('[');
        PbReader a(f.data, f.len);
        PbField v;
        bool first = true;
        while (a.next(&v)) {
          if (v.num != 1 || v.wt != 2) continue;
          if (!first) o->push_back(',');
          first = false;
          if (depth < 64) any_text(o, v.data, v.len, true, depth + 1);
        }
        o->push_back(']');
        break;
      }
      case 6: {  // map
        o->push_back('{');
        PbReader m(f.data, f.len);
        PbField kv;
        bool first = true;
        while (m.next(&kv)) {
          if (kv.num != 1 || kv.wt != 2) continue;
          PbReader e(kv.data, kv.len);
          PbField x;
          std::string key, val = "null";
          while (e.next(&x)) {
            if (x.num == 1) key = str(x.data, x.len);
            if (x.num == 2 && depth < 64) {
              val.clear();
              any_text(&val, x.data, x.len, true, depth + 1);
            }
          }
          if (!first) o->push_back(',');
          first = false;
          json_string(o, reinterpret_cast<const uint8_t *>(key.data()), key.size());
          o->push_back(':');
          *o += val;
        }
        o->push_back('}');
        break;
      }
      case 7:  // bytes
        if (nested) o->push_back('"');
        base64(o, f.data, f.len);
        if (nested) o->push_back('"');
        break;
      default:
        any = false;
    }
  }
  if (!any && nested) *o += "null";
}

struct Label {
  std::string original, name, value;
};

// The KeyValue messages (field `field`) of `msg` as Prometheus labels: names sanitized, values as
// text, attributes whose names collide joined with ';' in the order of their original names, and
// names in `reserved` dropped. Returns `name="escaped value"` pairs joined with ','.
std::string labels_of(const uint8_t *p, size_t n, uint32_t field,
                      std::initializer_list<const char *> reserved) {
  std::vector<Label> ls;
  PbReader r(p, n);
  PbField f;
  while (r.next(&f)) {
    if (f.num != field || f.wt != 2) continue;
    PbReader kv(f.data, f.len);
    PbField x;
    Label l;
    while (kv.next(&x)) {
      if (x.num == 1) l.original = str(x.data, x.len);
      if (x.num == 2) {
        l.value.clear();
        any_text(&l.value, x.data, x.len, false);
      }
    }
    l.name = prom_label_name(l.original);
    if (l.name.empty()) continue;
    bool skip = false;
    for (const char *res : reserved) skip |= l.name == res;
    if (!skip) ls.push_back(std::move(l));
  }
  std::stable_sort(ls.begin(), ls.end(),
                   [](const Label &a, const Label &b) { return a.original < b.original; });
  std::vector<Label *> merged;
  for (Label &l : ls) {
    Label *same = nullptr;
    for (Label *m : merged)
      if (m->name == l.name) same = m;
    if (same) {
      same->value += ';';
      same->value += l.value;
    } else {
      merged.push_back(&l);
    }
  }
  std::string out;
  for (Label *l : merged) {
    if (!out.empty()) out.push_back(',');
    out += l->name;
    out += "=\"";
    prom_escape_label_value(&out, l->value.data(), l->value.size());
    out.push_back('"');
  }
  return out;
}

// A rendering problem repeats at every scrape: each is reported once per server thread.
bool first_time(const std::string &what) {
  static thread_local std::unordered_set<std::string> seen;
  return seen.insert(what).second;
}

const char *type_word(PromType t) {
  switch (t) {
    case PromType::kCounter:
      return "counter";
    case PromType::kGauge:
      return "gauge";
    case PromType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

void sample(std::string *o, const std::string &name, const char *suffix, const std::string &labels,
            const std::string &extra, const std::string &value) {
  *o += name;
  *o += suffix;
  o->push_back('{');
  *o += labels;
  if (!extra.empty()) {
    if (!labels.empty()) o->push_back(',');
    *o += extra;
  }
  *o += "} ";
  *o += value;
  o->push_back('\n');
}

}  // namespace

// ---- naming and escaping ------------------------------------------------------------------------

std::string prom_double(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

std::string prom_unit_suffix(const std::string &unit, PromType t) {
  if (unit.empty()) return "";
  if (unit == "1") return t == PromType::kGauge ? "ratio" : "";
  size_t slash = unit.find('/');
  std::string main = unit_part(unit.substr(0, slash), &main_unit_word);
  std::string per =
      slash == std::string::npos ? "" : unit_part(unit.substr(slash + 1), &per_unit_word);
  if (per.empty()) return main;
  return main.empty() ? "per_" + per : main + "_per_" + per;
}

std::string prom_metric_name(const std::string &otel_name, const std::string &unit, PromType t) {
  std::string n = sanitize(otel_name, true);
  if (n.empty()) return "";
  if (is_digit(n[0])) n.insert(0, "_");
  const bool counter = t == PromType::kCounter;
  if (counter && n.size() > 6 && ends_with(n, "_total")) n.resize(n.size() - 6);
  std::string suffix = prom_unit_suffix(unit, t);
  if (!suffix.empty() && ("_" + n + "_").find("_" + suffix + "_") == std::string::npos)
    n += "_" + suffix;
  if (counter) n += "_total";
  return collapse_underscores(n);
}

std::string prom_label_name(const std::string &key) {
  std::string n = sanitize(key, false);
  if (!n.empty() && is_digit(n[0])) n.insert(0, "key_");
  return n;
}

void prom_escape_label_value(std::string *out, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    switch (p[i]) {
      case '\\':
        *out += "\\\\";
        break;
      case '"':
        *out += "\\\"";
        break;
      case '\n':
        *out += "\\n";
        break;
      default:
        out->push_back(p[i]);
    }
  }
}

void prom_escape_help(std::string *out, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\\')
      *out += "\\\\";
    else if (p[i] == '\n')
      *out += "\\n";
    else
      out->push_back(p[i]);
  }
}

// ---- PromText -----------------------------------------------------------------------------------

void PromText::set_resource(const uint8_t *p, size_t n) {
  target_info_ = labels_of(p, n, 1, {});
}

PromText::ScopeLabels &PromText::scope_labels(const std::string &scope) {
  auto it = scopes_.find(scope);
  if (it != scopes_.end()) return it->second;
  const uint8_t *p = reinterpret_cast<const uint8_t *>(scope.data());
  std::string name, version;
  PbReader r(p, scope.size());
  PbField f;
  while (r.next(&f)) {
    if (f.num == 1 && f.wt == 2) name = str(f.data, f.len);
    if (f.num == 2 && f.wt == 2) version = str(f.data, f.len);
  }
  ScopeLabels sl;
  sl.labels = "otel_scope_name=\"";
  prom_escape_label_value(&sl.labels, name.data(), name.size());
  sl.labels += "\",otel_scope_version=\"";
  prom_escape_label_value(&sl.labels, version.data(), version.size());
  sl.labels += "\"";
  std::string attrs = labels_of(p, scope.size(), 3, {"otel_scope_name", "otel_scope_version"});
  if (!attrs.empty()) sl.info_labels = sl.labels + "," + attrs;
  ScopeLabels &out = scopes_.emplace(scope, std::move(sl)).first->second;
  scope_order_.push_back(&out);
  return out;
}

void PromText::add(const std::string &scope, const uint8_t *metric, size_t n) {
  std::string name, description, unit;
  const uint8_t *data = nullptr;
  size_t data_len = 0;
  uint32_t data_kind = 0;
  PbReader r(metric, n);
  PbField f;
  while (r.next(&f)) {
    if (f.wt != 2) continue;
    if (f.num == 1) name = str(f.data, f.len);
    if (f.num == 2) description = str(f.data, f.len);
    if (f.num == 3) unit = str(f.data, f.len);
    if (f.num == 5 || f.num == 7 || f.num == 9) {
      data = f.data;
      data_len = f.len;
      data_kind = f.num;
    }
  }
  if (!data) return;
  uint64_t temporality = 0;
  bool monotonic = false;
  {
    PbReader d(data, data_len);
    while (d.next(&f)) {
      if (f.num == 2 && f.wt == 0) temporality = f.u;
      if (f.num == 3 && f.wt == 0) monotonic = f.u != 0;
    }
  }
  PromType type = data_kind == 5   ? PromType::kGauge
                  : data_kind == 9 ? PromType::kHistogram
                  : monotonic      ? PromType::kCounter
                                   : PromType::kGauge;
  if (data_kind != 5 && temporality != static_cast<uint64_t>(Temporality::kCumulative)) {
    if (first_time("delta " + name))
      diag(OTEL_DIAG_WARN, "prometheus: metric '%s' dropped: not cumulative", name.c_str());
    return;
  }
  const std::string fam_name = prom_metric_name(name, unit, type);
  if (fam_name.empty()) return;
  if (fam_name == "target_info" || fam_name == "otel_scope_info") {
    if (first_time("reserved " + name))
      diag(OTEL_DIAG_WARN, "prometheus: metric '%s' dropped: %s is reserved", name.c_str(),
           fam_name.c_str());
    return;
  }
  auto it = family_index_.find(fam_name);
  Family *fam;
  if (it == family_index_.end()) {
    family_index_.emplace(fam_name, families_.size());
    families_.push_back(Family{fam_name, description, type, {}});
    fam = &families_.back();
  } else {
    fam = &families_[it->second];
    if (fam->type != type) {
      if (first_time("type " + name + " " + type_word(type)))
        diag(OTEL_DIAG_WARN,
             "prometheus: metric '%s' dropped: %s is already a %s, this one would be a %s",
             name.c_str(), fam_name.c_str(), type_word(fam->type), type_word(type));
      return;
    }
    if (fam->help.empty()) fam->help = description;  // one HELP per family: the first one
  }
  ScopeLabels &sl = scope_labels(scope);
  sl.used = true;
  const bool hist = type == PromType::kHistogram;
  PbReader pts(data, data_len);
  PbField pt;
  while (pts.next(&pt)) {
    if (pt.num != 1 || pt.wt != 2) continue;
    std::string labels =
        hist ? labels_of(pt.data, pt.len, 9, {"otel_scope_name", "otel_scope_version", "le"})
             : labels_of(pt.data, pt.len, 7, {"otel_scope_name", "otel_scope_version"});
    if (!labels.empty()) labels.push_back(',');
    labels += sl.labels;
    PbReader x(pt.data, pt.len);
    PbField v;
    if (!hist) {
      std::string value;
      while (x.next(&v)) {
        if (v.num == 6 && v.wt == 1) value = std::to_string(static_cast<int64_t>(v.u));
        if (v.num == 4 && v.wt == 1) value = prom_double(as_double(v.u));
      }
      if (!value.empty()) sample(&fam->samples, fam_name, "", labels, "", value);
      continue;
    }
    uint64_t count = 0;
    double sum = 0, min = 0;
    bool has_min = false;
    std::vector<uint64_t> buckets;
    std::vector<double> bounds;
    while (x.next(&v)) {
      switch (v.num) {
        case 4:
          count = v.u;
          break;
        case 5:
          sum = as_double(v.u);
          break;
        case 6:  // bucket counts: packed, or one fixed64 per field
        case 7:  // explicit bounds: the same
          if (v.wt == 2) {
            for (size_t k = 0; k + 8 <= v.len; k += 8) {
              uint64_t u;
              std::memcpy(&u, v.data + k, 8);
              if (v.num == 6)
                buckets.push_back(u);
              else
                bounds.push_back(as_double(u));
            }
          } else if (v.wt == 1) {
            if (v.num == 6)
              buckets.push_back(v.u);
            else
              bounds.push_back(as_double(v.u));
          }
          break;
        case 11:
          min = as_double(v.u);
          has_min = true;
          break;
      }
    }
    uint64_t cumulative = 0;
    for (size_t k = 0; k < bounds.size(); k++) {
      if (k < buckets.size()) cumulative += buckets[k];
      sample(&fam->samples, fam_name, "_bucket", labels, "le=\"" + prom_double(bounds[k]) + "\"",
             std::to_string(cumulative));
    }
    sample(&fam->samples, fam_name, "_bucket", labels, "le=\"+Inf\"", std::to_string(count));
    // The spec: _sum only when it is monotonic, i.e. no negative value was recorded.
    if (!(has_min && min < 0))
      sample(&fam->samples, fam_name, "_sum", labels, "", prom_double(sum));
    sample(&fam->samples, fam_name, "_count", labels, "", std::to_string(count));
  }
}

std::string PromText::finish() {
  std::string out;
  if (!target_info_.empty()) {
    out += "# HELP target_info Target metadata\n# TYPE target_info gauge\ntarget_info{";
    out += target_info_;
    out += "} 1\n";
  }
  bool header = false;
  for (const ScopeLabels *sl : scope_order_) {
    if (!sl->used || sl->info_labels.empty()) continue;
    if (!header) {
      out +=
          "# HELP otel_scope_info Instrumentation Scope metadata\n# TYPE otel_scope_info gauge\n";
      header = true;
    }
    out += "otel_scope_info{" + sl->info_labels + "} 1\n";
  }
  for (const Family &f : families_) {
    if (f.samples.empty()) continue;
    if (!f.help.empty()) {
      out += "# HELP " + f.name + " ";
      prom_escape_help(&out, f.help.data(), f.help.size());
      out.push_back('\n');
    }
    out += "# TYPE " + f.name + " " + type_word(f.type) + "\n";
    out += f.samples;
  }
  return out;
}

// ---- PromServer ---------------------------------------------------------------------------------

namespace {

// Every live server, for fork handling. Leaked on purpose (like the engine's list).
std::mutex &servers_mu() {
  static std::mutex *m = new std::mutex;
  return *m;
}
std::vector<PromServer *> &servers() {
  static std::vector<PromServer *> *v = new std::vector<PromServer *>;
  return *v;
}

void close_fd(int &fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

const char *reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
  }
  return "Error";
}

}  // namespace

std::unique_ptr<PromServer> PromServer::start(const Settings &s, Meters *meters,
                                              std::string resource, std::string *err) {
  auto value = [&](const char *key, const char *dflt) {
    auto it = s.values.find(key);
    return it == s.values.end() || it->second.empty() ? std::string(dflt) : it->second;
  };
  const std::string host = value("OTEL_EXPORTER_PROMETHEUS_HOST", "localhost");
  const std::string port_text = value("OTEL_EXPORTER_PROMETHEUS_PORT", "9464");
  const std::string where =
      (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port_text;
  char *end = nullptr;
  unsigned long port = std::strtoul(port_text.c_str(), &end, 10);
  if (port_text.empty() || !end || *end || port > 65535) {
    *err = "OTEL_EXPORTER_PROMETHEUS_PORT=" + port_text + ": expected a port number (0 to 65535)";
    return nullptr;
  }
  const std::string prefix = "OTEL_METRICS_EXPORTER=prometheus: cannot listen on " + where + ": ";
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo *res = nullptr;
  int gai = getaddrinfo(host.empty() ? nullptr : host.c_str(), port_text.c_str(), &hints, &res);
  if (gai != 0) {
    *err = prefix + gai_strerror(gai);
    return nullptr;
  }
  std::unique_ptr<PromServer> srv(new PromServer);
  srv->meters_ = meters;
  srv->resource_ = std::move(resource);
  int first_errno = 0;
  bool in_use = false;
  uint16_t bound_port = static_cast<uint16_t>(port);
  for (addrinfo *ai = res; ai; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      if (!first_errno) first_errno = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    // Port 0: every address gets the port the system chose for the first one.
    if (ai->ai_family == AF_INET)
      reinterpret_cast<sockaddr_in *>(ai->ai_addr)->sin_port = htons(bound_port);
    else if (ai->ai_family == AF_INET6)
      reinterpret_cast<sockaddr_in6 *>(ai->ai_addr)->sin6_port = htons(bound_port);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
      if (!first_errno) first_errno = errno;
      in_use |= errno == EADDRINUSE;
      ::close(fd);
      continue;
    }
    if (bound_port == 0) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      if (getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &len) == 0)
        bound_port =
            ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6 *>(&ss)->sin6_port
                                           : reinterpret_cast<sockaddr_in *>(&ss)->sin_port);
    }
    srv->listen_fds_.push_back(fd);
  }
  freeaddrinfo(res);
  if (srv->listen_fds_.empty() || in_use) {
    *err = prefix + std::strerror(in_use ? EADDRINUSE : first_errno ? first_errno : EINVAL);
    return nullptr;  // the destructor closes what was bound
  }
  srv->port_ = bound_port;
  if (pipe2(srv->wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
    *err = prefix + std::strerror(errno);
    return nullptr;
  }
  {
    std::lock_guard<std::mutex> lk(servers_mu());
    static bool hooks = false;
    if (!hooks) {
      hooks = true;
      pthread_atfork(&PromServer::atfork_prepare, &PromServer::atfork_parent,
                     &PromServer::atfork_child);
    }
    servers().push_back(srv.get());
  }
  // Like the worker, the server thread blocks every signal (the host's handlers run on its own
  // threads; a write to a closed connection fails with EPIPE).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    srv->thread_ = new std::thread(&PromServer::run, srv.get());
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    *err = "OTEL_METRICS_EXPORTER=prometheus: could not start the server thread";
    return nullptr;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  diag(OTEL_DIAG_DEBUG, "prometheus: serving http://%s/metrics (port %u)", where.c_str(),
       static_cast<unsigned>(bound_port));
  return srv;
}

PromServer::~PromServer() {
  stop();
}

void PromServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (thread_) {
    char b = 1;
    ssize_t w = write(wake_[1], &b, 1);
    (void)w;  // the pipe is empty until now: one byte always fits
    thread_->join();
    delete thread_;
    thread_ = nullptr;
  }
  // Under the servers' lock: a fork() now cannot copy a half-closed set of descriptors.
  std::lock_guard<std::mutex> lk(servers_mu());
  auto &v = servers();
  v.erase(std::remove(v.begin(), v.end(), this), v.end());
  if (!abandoned_) {
    for (int &fd : listen_fds_) close_fd(fd);
    close_fd(wake_[0]);
    close_fd(wake_[1]);
  }
  listen_fds_.clear();
}

void PromServer::atfork_prepare() {
  servers_mu().lock();
}
void PromServer::atfork_parent() {
  servers_mu().unlock();
}

// The child has no server thread: it closes its copies of the sockets (so the port is the
// parent's alone) and forgets the thread. It does not serve: the parent still owns the port.
void PromServer::atfork_child() {
  for (PromServer *s : servers()) {
    for (int &fd : s->listen_fds_) close_fd(fd);
    close_fd(s->wake_[0]);
    close_fd(s->wake_[1]);
    int c = s->conn_fd_.exchange(-1);
    if (c >= 0) ::close(c);
    s->thread_ = nullptr;  // leaked, never joined: the thread does not exist in the child
    s->abandoned_ = true;
  }
  servers_mu().unlock();
}

bool PromServer::wait_fd(int fd, short events, uint64_t deadline) {
  for (;;) {
    uint64_t now = mono_nano();
    if (now >= deadline) return false;
    pollfd p[2] = {{fd, events, 0}, {wake_[0], POLLIN, 0}};
    uint64_t ms = (deadline - now + 999999) / 1000000;
    int r = poll(p, 2, static_cast<int>(std::min<uint64_t>(ms, 60000)));
    if (r < 0 && errno != EINTR) return false;
    if (r <= 0) continue;
    if (p[1].revents) return false;  // stop
    if (p[0].revents) return true;   // ready, or an error the next call reports
  }
}

bool PromServer::send_all(int fd, const char *p, size_t n, uint64_t deadline) {
  while (n > 0) {
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
    if (k > 0) {
      p += k;
      n -= static_cast<size_t>(k);
      continue;
    }
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait_fd(fd, POLLOUT, deadline))
      continue;
    return false;
  }
  return true;
}

std::string PromServer::scrape() {
  PromText text;
  text.set_resource(reinterpret_cast<const uint8_t *>(resource_.data()), resource_.size());
  meters_->collect([&text](const Scope *scope, const uint8_t *metric,
                           size_t len) { text.add(scope->encoded, metric, len); },
                   kMaxMetricBytes);
  return text.finish();
}

void PromServer::serve(int fd) {
  // The request head: the request line and the headers, up to an empty line.
  char buf[kMaxRequestHead];
  size_t len = 0, head_end = 0;
  const uint64_t read_deadline = mono_nano() + kReadTimeoutNs;
  int status = 0;
  while (!head_end) {
    for (size_t i = 0; i + 1 < len && !head_end; i++) {
      if (buf[i] == '\n' && buf[i + 1] == '\n') head_end = i + 2;
      if (i + 3 < len && std::memcmp(buf + i, "\r\n\r\n", 4) == 0) head_end = i + 4;
    }
    if (head_end) break;
    if (len == sizeof buf) {
      status = 431;
      break;
    }
    if (!wait_fd(fd, POLLIN, read_deadline)) return;  // too slow, or stopping
    ssize_t k = recv(fd, buf + len, sizeof buf - len, 0);
    if (k == 0) return;  // the client went away
    if (k < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return;
    }
    len += static_cast<size_t>(k);
  }
  std::string method, path;
  if (!status) {
    size_t eol = std::find(buf, buf + len, '\n') - buf;
    std::string line(buf, eol);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t sp1 = line.find(' ');
    size_t sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp1 == 0 || sp2 == std::string::npos || sp2 == sp1 + 1 ||
        line.compare(sp2 + 1, 5, "HTTP/") != 0) {
      status = 400;
    } else {
      method = line.substr(0, sp1);
      std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      path = target.substr(0, target.find('?'));
      if (path != "/metrics")
        status = 404;
      else if (method != "GET" && method != "HEAD")
        status = 405;
      else
        status = 200;
    }
  }
  std::string body;
  const char *type = "text/plain; charset=utf-8";
  if (status == 200) {
    body = scrape();
    type = "text/plain; version=0.0.4; charset=utf-8";
  } else {
    body = std::string(reason(status)) + "\n";
  }
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) +
                     "\r\nContent-Type: " + type +
                     "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  if (status == 405) head += "Allow: GET, HEAD\r\n";
  head += "Connection: close\r\n\r\n";
  const uint64_t write_deadline = mono_nano() + kWriteTimeoutNs;
  if (!send_all(fd, head.data(), head.size(), write_deadline)) return;
  if (method != "HEAD" && !send_all(fd, body.data(), body.size(), write_deadline)) return;
  // Let the client read the response before the close: closing with unread request bytes would
  // reset the connection. Half-close, then read until it closes too (briefly, and boundedly).
  shutdown(fd, SHUT_WR);
  const uint64_t drain_deadline = mono_nano() + kDrainTimeoutNs;
  size_t drained = 0;
  while (drained < (1u << 20) && wait_fd(fd, POLLIN, drain_deadline)) {
    ssize_t k = recv(fd, buf, sizeof buf, 0);
    if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) break;
    if (k > 0) drained += static_cast<size_t>(k);
  }
}

void PromServer::run() {
  std::vector<pollfd> p;
  for (int fd : listen_fds_) p.push_back(pollfd{fd, POLLIN, 0});
  p.push_back(pollfd{wake_[0], POLLIN, 0});
  for (;;) {
    for (auto &x : p) x.revents = 0;
    int r = poll(p.data(), p.size(), -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      diag(OTEL_DIAG_ERROR, "prometheus: poll failed: %s; the server stops", std::strerror(errno));
      return;
    }
    if (p.back().revents) return;  // stop
    for (size_t i = 0; i + 1 < p.size(); i++) {
      if (!p[i].revents) continue;
      int c;
      {
        // Under the servers' lock, so a fork() sees either no connection or its descriptor.
        std::lock_guard<std::mutex> lk(servers_mu());
        c = accept4(p[i].fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c >= 0) conn_fd_.store(c);
      }
      if (c < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors or memory: the connection stays queued; try again shortly
          // rather than spin.
          pollfd w{wake_[0], POLLIN, 0};
          if (poll(&w, 1, 100) > 0) return;
        }
        continue;
      }
      serve(c);
      std::lock_guard<std::mutex> lk(servers_mu());
      conn_fd_.store(-1);
      ::close(c);
    }
  }
}

}  // namespace otb
