#include "diagnose.h"

#include <cstdarg>
#include <cstdio>

#include "engine.h"
#include "otlp.h"

namespace otb {
namespace {

void line(std::string *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void line(std::string *o, const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  *o += buf;
  *o += '\n';
}

bool is_secret(const std::string &key) {
  return key.find("HEADERS") != std::string::npos;
}

// "k1=***,k2=***": header names stay visible, values never.
std::string mask_headers(const std::string &v) {
  std::vector<std::pair<std::string, std::string>> kv;
  if (!parse_kv_list(v, &kv)) return "(unparseable)";
  std::string out;
  for (auto &p : kv) out += (out.empty() ? "" : ",") + p.first + "=***";
  return out;
}

// A plain-words reading of a transport error.
std::string explain(const TransportResult &r) {
  const std::string &e = r.error;
  auto has = [&](const char *s) { return e.find(s) != std::string::npos; };
  if (has("HTTP 404"))
    return "the endpoint answered 404: wrong URL path (a per-signal endpoint is used as given; the "
           "generic one gets /v1/<signal> appended)";
  if (has("HTTP 401") || has("HTTP 403") || has("UNAUTHENTICATED") || has("PERMISSION_DENIED"))
    return "authentication rejected: check OTEL_EXPORTER_OTLP_HEADERS";
  if (has("TLS") || has("SSL") || has("certificate") || has("handshake"))
    return "TLS failed: check the endpoint scheme and OTEL_EXPORTER_OTLP_CERTIFICATE / CLIENT_* "
           "files";
  if (has("refused") || has("Couldn't connect") || has("Could not connect") || has("connect"))
    return "connection refused: nothing listens there — is the Collector running, is the port "
           "right?";
  if (has("resolve")) return "host name does not resolve";
  if (has("deadline") || has("timed out") || has("Timeout") || has("DEADLINE"))
    return "no answer within the timeout: a firewall, a wrong port, or an overloaded receiver";
  return "the export failed";
}

const char *protocol_name(OtlpProtocol p) {
  return p == OtlpProtocol::kGrpc       ? "grpc"
         : p == OtlpProtocol::kHttpJson ? "http/json"
                                        : "http/protobuf";
}

}  // namespace

int32_t diagnose(const CodeConfig *code, Engine *global, std::string *out) {
  Settings s = resolve_settings(code, nullptr);
  bool failed = false;
  line(out, "otelbridge %s diagnose", OTEL_VERSION_STRING);
  out->push_back('\n');
  line(out, "Configuration (value [source]):");
  for (const Resolved &r : s.resolved) {
    if (r.source == Source::kDefault && r.value.empty()) continue;
    std::string v = is_secret(r.key) ? mask_headers(r.value) : r.value;
    line(out, "  %-48s %s [%s]", r.key.c_str(), v.c_str(), source_name(r.source));
  }
  if (s.disabled) {
    out->push_back('\n');
    line(out, "OTEL_SDK_DISABLED=true: the engine is a no-op, nothing is exported.");
    return OTEL_E_CHECK_FAILED;
  }
  struct {
    Signal sig;
    const std::string *exporter;
  } signals[] = {{Signal::kLogs, &s.logs.exporter},
                 {Signal::kTraces, &s.traces.exporter},
                 {Signal::kMetrics, &s.metrics.exporter}};
  for (auto &sg : signals) {
    out->push_back('\n');
    line(out, "%s: exporter %s", signal_name(sg.sig), sg.exporter->c_str());
    if (*sg.exporter == "none") {
      line(out, "  nothing is exported (OTEL_%s_EXPORTER=none)",
           sg.sig == Signal::kLogs ? "LOGS" : "TRACES");
      continue;
    }
    if (*sg.exporter == "prometheus") {
      line(out, "  served for scraping on http://%s:%s/metrics (no push)",
           s.values.count("OTEL_EXPORTER_PROMETHEUS_HOST") ? s.values.at("OTEL_EXPORTER_PROMETHEUS_HOST").c_str() : "localhost",
           s.values.count("OTEL_EXPORTER_PROMETHEUS_PORT") ? s.values.at("OTEL_EXPORTER_PROMETHEUS_PORT").c_str() : "9464");
      continue;
    }
    if (*sg.exporter != "otlp") {
      line(out, "  local exporter; no network check");
      continue;
    }
    OtlpSignalConfig c;
    std::string err;
    if (!resolve_otlp(s, sg.sig, &c, &err)) {
      line(out, "  FAIL configuration: %s", err.c_str());
      failed = true;
      continue;
    }
    line(out, "  protocol %s, endpoint %s%s, timeout %u ms, compression %s, %zu header(s)",
         protocol_name(c.protocol),
         c.protocol == OtlpProtocol::kGrpc ? c.grpc_target.c_str() : c.url.c_str(),
         c.protocol == OtlpProtocol::kGrpc ? (c.tls ? " (TLS)" : " (plaintext)") : "", c.timeout_ms,
         c.gzip ? "gzip" : "none", c.headers.size());
    std::unique_ptr<Transport> t = c.protocol == OtlpProtocol::kGrpc ? make_grpc_transport(c, &err)
                                                                     : make_http_transport(c, &err);
    if (!t) {
      line(out, "  FAIL %s", err.c_str());
      failed = true;
      continue;
    }
    // An empty Export*ServiceRequest: valid, and receivers accept it without storing anything.
    std::string body = c.protocol == OtlpProtocol::kHttpJson ? "{}" : "";
    uint64_t deadline = mono_nano() + uint64_t{c.timeout_ms ? c.timeout_ms : 10000} * 1000000u;
    TransportResult r =
        t->send(reinterpret_cast<const uint8_t *>(body.data()), body.size(), deadline);
    if (r.kind == TransportResult::kOk) {
      line(out, "  OK   the receiver accepted an empty export");
    } else {
      line(out, "  FAIL %s", explain(r).c_str());
      line(out, "       (%s)", r.error.c_str());
      failed = true;
    }
  }
  if (global) {
    out->push_back('\n');
    line(out, "Running engine%s:", global->is_shut_down() ? " (shut down)" : "");
    uint64_t st[OTEL_STAT_COUNT];
    for (int i = 0; i < kSignalCount; i++) {
      global->stats(i, st, OTEL_STAT_COUNT);
      if (!st[OTEL_STAT_QUEUE_CAPACITY]) continue;
      uint64_t dropped = st[OTEL_STAT_DROPPED_QUEUE_FULL] + st[OTEL_STAT_DROPPED_OLDEST] +
                         st[OTEL_STAT_DROPPED_TOO_LARGE] + st[OTEL_STAT_DROPPED_SHUTDOWN];
      line(out,
           "  %-7s accepted %llu, exported %llu, queued %llu, dropped %llu, failed %llu, rejected "
           "%llu",
           signal_name(static_cast<Signal>(i)), (unsigned long long)st[OTEL_STAT_ACCEPTED],
           (unsigned long long)st[OTEL_STAT_EXPORTED], (unsigned long long)st[OTEL_STAT_QUEUED],
           (unsigned long long)dropped, (unsigned long long)st[OTEL_STAT_FAILED],
           (unsigned long long)st[OTEL_STAT_REJECTED]);
      if (st[OTEL_STAT_ACCEPTED] == 0)
        line(out, "          nothing emitted yet: is the handler attached?");
      if (dropped) {
        line(out,
             "          records are being dropped: raise OTEL_BLRP_MAX_QUEUE_SIZE or check the "
             "exporter");
        failed = true;
      }
    }
  }
  return failed ? OTEL_E_CHECK_FAILED : OTEL_OK;
}

}  // namespace otb
