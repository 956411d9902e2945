#include "otlp.h"

#include <strings.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <random>

#include "diag.h"
#include "json.h"
#include "pbread.h"

namespace otb {

const char *grpc_method(Signal s) {
  switch (s) {
    case Signal::kLogs:
      return "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
    case Signal::kTraces:
      return "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    case Signal::kMetrics:
      return "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
  }
  return "";
}

const char *http_path(Signal s) {
  switch (s) {
    case Signal::kLogs:
      return "v1/logs";
    case Signal::kTraces:
      return "v1/traces";
    case Signal::kMetrics:
      return "v1/metrics";
  }
  return "";
}

// ---- responses ----

bool decode_export_response(const uint8_t *p, size_t n, int64_t *rejected, std::string *message) {
  *rejected = 0;
  message->clear();
  PbReader r(p, n);
  PbField f;
  while (r.next(&f)) {
    if (f.num != 1 || f.wt != 2) continue;  // partial_success
    PbReader ps(f.data, f.len);
    PbField g;
    while (ps.next(&g)) {
      if (g.num == 1 && g.wt == 0) *rejected = static_cast<int64_t>(g.u);
      if (g.num == 2 && g.wt == 2) message->assign(reinterpret_cast<const char *>(g.data), g.len);
    }
    if (ps.bad) return false;
  }
  return !r.bad;
}

bool decode_rpc_status(const uint8_t *p, size_t n, int32_t *code, std::string *message,
                       int64_t *retry_delay_ms) {
  static const char kRetryInfo[] = "type.googleapis.com/google.rpc.RetryInfo";
  *code = 0;
  message->clear();
  *retry_delay_ms = -1;
  PbReader r(p, n);
  PbField f;
  while (r.next(&f)) {
    if (f.num == 1 && f.wt == 0) *code = static_cast<int32_t>(f.u);
    if (f.num == 2 && f.wt == 2) message->assign(reinterpret_cast<const char *>(f.data), f.len);
    if (f.num == 3 && f.wt == 2) {  // Any {type_url = 1; value = 2}
      PbReader any(f.data, f.len);
      PbField a;
      bool is_retry = false;
      const uint8_t *val = nullptr;
      size_t val_len = 0;
      while (any.next(&a)) {
        if (a.num == 1 && a.wt == 2)
          is_retry = a.len == sizeof kRetryInfo - 1 && memcmp(a.data, kRetryInfo, a.len) == 0;
        if (a.num == 2 && a.wt == 2) {
          val = a.data;
          val_len = a.len;
        }
      }
      if (!is_retry || !val) continue;
      PbReader ri(val, val_len);  // RetryInfo {Duration retry_delay = 1}
      PbField d;
      while (ri.next(&d)) {
        if (d.num != 1 || d.wt != 2) continue;
        PbReader dur(d.data, d.len);  // Duration {int64 seconds = 1; int32 nanos = 2}
        PbField x;
        int64_t secs = 0, nanos = 0;
        while (dur.next(&x)) {
          if (x.num == 1 && x.wt == 0) secs = static_cast<int64_t>(x.u);
          if (x.num == 2 && x.wt == 0) nanos = static_cast<int32_t>(x.u);
        }
        if (secs >= 0 && nanos >= 0) *retry_delay_ms = secs * 1000 + nanos / 1000000;
      }
    }
  }
  return !r.bad;
}

namespace {

// Finds "key": in a JSON text and returns the raw value that follows (a string's contents, or a
// number/literal), best effort. Enough for the two small objects OTLP responses carry.
bool json_field(const std::string &body, const char *key, std::string *out) {
  std::string needle = std::string("\"") + key + "\"";
  size_t k = body.find(needle);
  if (k == std::string::npos) return false;
  size_t i = body.find(':', k + needle.size());
  if (i == std::string::npos) return false;
  i++;
  while (i < body.size() &&
         (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r'))
    i++;
  if (i >= body.size()) return false;
  out->clear();
  if (body[i] == '"') {
    for (i++; i < body.size() && body[i] != '"'; i++) {
      if (body[i] == '\\' && i + 1 < body.size()) {
        char c = body[++i];
        out->push_back(c == 'n' ? '\n' : c == 't' ? '\t' : c);
      } else {
        out->push_back(body[i]);
      }
    }
    return true;
  }
  while (i < body.size() && body[i] != ',' && body[i] != '}' && body[i] != ' ')
    out->push_back(body[i++]);
  return true;
}

}  // namespace

bool decode_export_response_json(const std::string &body, int64_t *rejected, std::string *message) {
  *rejected = 0;
  message->clear();
  if (body.find("\"partialSuccess\"") == std::string::npos) return true;
  std::string v;
  for (const char *k : {"rejectedLogRecords", "rejectedSpans", "rejectedDataPoints"})
    if (json_field(body, k, &v)) *rejected = strtoll(v.c_str(), nullptr, 10);
  json_field(body, "errorMessage", message);
  return true;
}

std::string rpc_status_message_json(const std::string &body) {
  std::string m;
  return json_field(body, "message", &m) ? m : std::string();
}

int64_t parse_retry_after_ms(const std::string &value, int64_t now_unix_s) {
  std::string v = value;
  while (!v.empty() && (v.back() == ' ' || v.back() == '\r' || v.back() == '\n')) v.pop_back();
  while (!v.empty() && v.front() == ' ') v.erase(v.begin());
  if (v.empty()) return -1;
  if (v.find_first_not_of("0123456789") == std::string::npos) {
    if (v.size() > 9) return -1;
    return std::stoll(v) * 1000;
  }
  struct tm tm = {};  // IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT"
  const char *end = strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end) return -1;
  int64_t when = static_cast<int64_t>(timegm(&tm));
  return when <= now_unix_s ? 0 : (when - now_unix_s) * 1000;
}

// ---- configuration ----
namespace {

std::string lower(std::string s) {
  for (char &c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

const char *signal_key(Signal s) {
  switch (s) {
    case Signal::kLogs:
      return "LOGS_";
    case Signal::kTraces:
      return "TRACES_";
    case Signal::kMetrics:
      return "METRICS_";
  }
  return "";
}

}  // namespace

bool resolve_otlp(const Settings &st, Signal signal, OtlpSignalConfig *c, std::string *err) {
  auto value = [&](const std::string &k) {
    auto it = st.values.find(k);
    return it == st.values.end() ? std::string() : it->second;
  };
  auto get = [&](const char *what, bool *per_signal = nullptr) {
    std::string per = value(std::string("OTEL_EXPORTER_OTLP_") + signal_key(signal) + what);
    if (per_signal) *per_signal = !per.empty();
    return per.empty() ? value(std::string("OTEL_EXPORTER_OTLP_") + what) : per;
  };
  c->signal = signal;
  std::string proto = get("PROTOCOL");
  c->protocol = proto == "grpc"        ? OtlpProtocol::kGrpc
                : proto == "http/json" ? OtlpProtocol::kHttpJson
                                       : OtlpProtocol::kHttpProtobuf;
  c->timeout_ms = static_cast<uint32_t>(strtoul(get("TIMEOUT").c_str(), nullptr, 10));
  c->gzip = get("COMPRESSION") == "gzip";
  c->ca_file = get("CERTIFICATE");
  c->client_key_file = get("CLIENT_KEY");
  c->client_cert_file = get("CLIENT_CERTIFICATE");
  if (!parse_kv_list(get("HEADERS"), &c->headers)) c->headers.clear();
  const bool insecure = get("INSECURE") == "true";

  bool per_signal = false;
  std::string ep = get("ENDPOINT", &per_signal);
  const bool grpc = c->protocol == OtlpProtocol::kGrpc;
  if (ep.empty()) ep = grpc ? "http://localhost:4317" : "http://localhost:4318";
  std::string scheme;
  size_t sep = ep.find("://");
  if (sep != std::string::npos) scheme = lower(ep.substr(0, sep));
  if (grpc) {
    // The scheme decides TLS (https) or plaintext (http); without one, *_INSECURE decides.
    std::string rest = sep == std::string::npos ? ep : ep.substr(sep + 3);
    if (!scheme.empty() && scheme != "http" && scheme != "https") {
      *err = "OTLP gRPC endpoint '" + ep + "': scheme must be http or https";
      return false;
    }
    c->tls = scheme.empty() ? !insecure : scheme == "https";
    c->grpc_target = rest.substr(0, rest.find('/'));
    if (c->grpc_target.empty()) {
      *err = "OTLP gRPC endpoint '" + ep + "' has no host";
      return false;
    }
    c->url = ep;
    return true;
  }
  if (scheme != "http" && scheme != "https") {
    *err = "OTLP HTTP endpoint '" + ep + "' must start with http:// or https://";
    return false;
  }
  c->tls = scheme == "https";
  if (per_signal) {
    c->url = ep;  // a per-signal endpoint is used as given
  } else {
    c->url = ep + (ep.back() == '/' ? "" : "/") + http_path(signal);
  }
  return true;
}

// ---- the exporter ----
namespace {

class OtlpExporter final : public Exporter {
 public:
  OtlpExporter(const OtlpSignalConfig &c, std::unique_ptr<Transport> t)
      : c_(c), t_(std::move(t)), rng_(std::random_device{}()) {}

  ExportResult export_request(Signal signal, const uint8_t *req, size_t len, size_t items,
                              uint64_t deadline) override {
    const uint8_t *body = req;
    size_t body_len = len;
    if (c_.protocol == OtlpProtocol::kHttpJson) {
      json_.clear();
      if (!request_to_json(signal, req, len, &json_)) {
        report(OTEL_DIAG_ERROR, "could not convert a request to JSON");
        return {};
      }
      body = reinterpret_cast<const uint8_t *>(json_.data());
      body_len = json_.size();
    }
    // OTEL_EXPORTER_OTLP_TIMEOUT bounds the whole export, retries included (0 = no limit).
    if (c_.timeout_ms)
      deadline = std::min(deadline, mono_nano() + uint64_t{c_.timeout_ms} * 1000000u);
    uint64_t backoff_ms = kInitialBackoffMs;
    for (int attempt = 1;; attempt++) {
      TransportResult r = t_->send(body, body_len, deadline);
      if (cancelled_.load()) return {};
      if (r.kind == TransportResult::kOk) {
        if (had_error_) {
          had_error_ = false;
          diag(OTEL_DIAG_INFO, "%s export to %s recovered", signal_name(signal), where());
        }
        if (r.rejected > 0 || !r.partial_message.empty()) {
          // Partial success: not retried; counted as rejected; the message reported once.
          if (r.partial_message != last_partial_) {
            last_partial_ = r.partial_message;
            diag(OTEL_DIAG_WARN, "%s: the receiver rejected %lld of %zu items: %s",
                 signal_name(signal), static_cast<long long>(r.rejected), items,
                 r.partial_message.c_str());
          }
        }
        return ExportResult{true, r.rejected > 0 ? static_cast<uint64_t>(r.rejected) : 0};
      }
      if (r.kind == TransportResult::kPermanent) {
        report(OTEL_DIAG_ERROR, "%s export to %s failed, %zu items dropped: %s",
               signal_name(signal), where(), items, r.error.c_str());
        return {};
      }
      // Retryable: the server's delay when it gave one, else exponential backoff with jitter.
      uint64_t wait_ms =
          r.retry_after_ms >= 0 ? static_cast<uint64_t>(r.retry_after_ms) : jitter(backoff_ms);
      backoff_ms = std::min(backoff_ms * 2, kMaxBackoffMs);
      // Our own backoff is shortened to fit one last attempt before the deadline (a receiver
      // that comes back meanwhile still gets the data); a delay the server asked for is not.
      const uint64_t now = mono_nano();
      const uint64_t left_ms = deadline > now ? (deadline - now) / 1000000u : 0;
      if (r.retry_after_ms < 0 && wait_ms + kLastAttemptMs > left_ms &&
          left_ms >= 2 * kLastAttemptMs)
        wait_ms = left_ms - kLastAttemptMs;
      if (wait_ms + kLastAttemptMs > left_ms) {
        report(
            OTEL_DIAG_WARN,
            "%s export to %s gave up after %d attempt%s within the timeout, %zu items dropped: %s",
            signal_name(signal), where(), attempt, attempt == 1 ? "" : "s", items, r.error.c_str());
        return {};
      }
      diag(OTEL_DIAG_DEBUG, "%s export attempt %d: %s; retrying in %llu ms", signal_name(signal),
           attempt, r.error.c_str(), static_cast<unsigned long long>(wait_ms));
      std::unique_lock<std::mutex> lk(mu_);
      if (cv_.wait_for(lk, std::chrono::milliseconds(wait_ms), [&] { return cancelled_.load(); }))
        return {};
    }
  }

  void cancel() override {
    cancelled_.store(true);
    t_->cancel();
    std::lock_guard<std::mutex> lk(mu_);
    cv_.notify_all();
  }
  void abandon_after_fork() override {
    t_->abandon_after_fork();
    (void)t_.release();
  }

 private:
  static constexpr uint64_t kInitialBackoffMs = 1000, kMaxBackoffMs = 30000;
  static constexpr uint64_t kLastAttemptMs = 250;  // the least time an attempt is worth making

  uint64_t jitter(uint64_t ms) {
    std::uniform_real_distribution<double> d(0.5, 1.5);
    return static_cast<uint64_t>(static_cast<double>(ms) * d(rng_));
  }
  const char *where() const {
    return c_.protocol == OtlpProtocol::kGrpc ? c_.grpc_target.c_str() : c_.url.c_str();
  }
  // Failures are reported when they start or change, not once per batch.
  template <class... A>
  void report(int32_t level, const char *fmt, A... a) {
    char msg[1024];
    snprintf(msg, sizeof msg, fmt, a...);
    had_error_ = true;
    if (last_error_ == msg) return;
    last_error_ = msg;
    diag(level, "%s", msg);
  }

  OtlpSignalConfig c_;
  std::unique_ptr<Transport> t_;
  std::mt19937_64 rng_;
  std::string json_, last_error_, last_partial_;
  bool had_error_ = false;
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace

std::unique_ptr<Exporter> make_otlp_exporter(const OtlpSignalConfig &c, std::string *err) {
  std::unique_ptr<Transport> t =
      c.protocol == OtlpProtocol::kGrpc ? make_grpc_transport(c, err) : make_http_transport(c, err);
  if (!t) return nullptr;
  return make_otlp_exporter(c, std::move(t));
}

std::unique_ptr<Exporter> make_otlp_exporter(const OtlpSignalConfig &c,
                                             std::unique_ptr<Transport> t) {
  return std::make_unique<OtlpExporter>(c, std::move(t));
}

}  // namespace otb
