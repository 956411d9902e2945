// OTLP export over the network: resolved per-signal settings, the transport interface that the
// HTTP (libcurl) and gRPC (libgrpc++) transports implement, the retrying exporter on top of them,
// and decoders for the responses (Export*ServiceResponse, google.rpc.Status, RetryInfo).
//
// Layering: OtlpExporter (retry, backoff, throttling, partial success, diagnostics, counts)
//           └─ Transport::send (one attempt: bytes out, classified result back)
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common.h"
#include "config.h"
#include "exporters.h"

namespace otb {

enum class OtlpProtocol { kGrpc, kHttpProtobuf, kHttpJson };

// Everything one signal's OTLP exporter needs, resolved from the OTEL_EXPORTER_OTLP_* keys.
struct OtlpSignalConfig {
  Signal signal = Signal::kLogs;
  OtlpProtocol protocol = OtlpProtocol::kHttpProtobuf;
  // HTTP: the full URL to POST to (e.g. "http://localhost:4318/v1/logs").
  // gRPC: the target "host:port" (scheme removed) and `tls` says whether to use TLS.
  std::string url;
  std::string grpc_target;
  bool tls = false;
  std::vector<std::pair<std::string, std::string>> headers;  // decoded; values are secrets
  uint32_t timeout_ms = 10000;                               // per export, retries included
  bool gzip = false;
  std::string ca_file, client_cert_file, client_key_file;  // PEM file paths, "" = none
};

// The outcome of one attempt.
struct TransportResult {
  enum Kind { kOk, kRetryable, kPermanent } kind = kPermanent;
  // Server-requested delay before the next attempt (gRPC RetryInfo, HTTP Retry-After); -1 = none.
  int64_t retry_after_ms = -1;
  // partial_success from the response (only with kOk).
  int64_t rejected = 0;
  std::string partial_message;
  // What went wrong, for humans: status code/name, the google.rpc.Status message, curl/gRPC
  // error text. Must never contain header values (tokens). May carry a note with kOk (e.g. an
  // unparseable 2xx body, which still counts as delivered).
  std::string error;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // One attempt: sends the request body (protobuf, or OTLP/JSON for http/json) and classifies the
  // answer per the OTLP spec. Returns by deadline_mono_ns (CLOCK_MONOTONIC ns) at the latest;
  // UINT64_MAX means no limit. Called on the worker thread only.
  virtual TransportResult send(const uint8_t *body, size_t len, uint64_t deadline_mono_ns) = 0;
  // Any thread: abort a send in progress (it returns kPermanent with error "cancelled") and make
  // later sends fail fast. The owner keeps the transport alive until cancel() has returned.
  virtual void cancel() = 0;
  // In a forked child: drop the parent's connections without I/O or locking.
  virtual void abandon_after_fork() {}
};

// Resolves the OTEL_EXPORTER_OTLP_[SIGNAL_]* keys for one signal (endpoint rules per the spec).
// False with *err on an unusable endpoint.
bool resolve_otlp(const Settings &st, Signal signal, OtlpSignalConfig *c, std::string *err);

// Factories (transport_http.cc, transport_grpc.cc). nullptr with *err on a configuration error
// (unreadable certificate file, bad URL).
std::unique_ptr<Transport> make_http_transport(const OtlpSignalConfig &c, std::string *err);
std::unique_ptr<Transport> make_grpc_transport(const OtlpSignalConfig &c, std::string *err);

// The OTLP exporter: transport + retry with exponential backoff and jitter, server throttling,
// the whole export bounded by the timeout, partial success counted and reported once.
std::unique_ptr<Exporter> make_otlp_exporter(const OtlpSignalConfig &c, std::string *err);
// The same over a given transport (tests script transports to drive the retry logic).
std::unique_ptr<Exporter> make_otlp_exporter(const OtlpSignalConfig &c,
                                             std::unique_ptr<Transport> t);

// ---- response decoding (protobuf) ----
// Export{Logs,Trace,Metrics}ServiceResponse: partial_success = 1 {int64 rejected_* = 1;
// string error_message = 2}. True when the bytes parse (empty is a valid, full success).
bool decode_export_response(const uint8_t *p, size_t n, int64_t *rejected, std::string *message);
// The same, from an OTLP/JSON response body ({"partialSuccess":{"rejectedLogRecords":"3",...}}).
bool decode_export_response_json(const std::string &body, int64_t *rejected, std::string *message);
// google.rpc.Status {int32 code = 1; string message = 2; repeated Any details = 3}; when a detail
// is a google.rpc.RetryInfo, *retry_delay_ms receives its delay (else stays -1).
bool decode_rpc_status(const uint8_t *p, size_t n, int32_t *code, std::string *message,
                       int64_t *retry_delay_ms);
// The message of a google.rpc.Status in OTLP/JSON ({"code":..,"message":".."}), best effort.
std::string rpc_status_message_json(const std::string &body);
// Parses an HTTP Retry-After value (delay-seconds or an HTTP-date); -1 when it does not parse.
int64_t parse_retry_after_ms(const std::string &value, int64_t now_unix_s);

// gzip (RFC 1952) of a buffer into `out` (its contents are replaced), for HTTP
// Content-Encoding: gzip. False on failure.
bool gzip_compress(const uint8_t *p, size_t n, Buf &out);

// The Export method path / HTTP path of a signal.
const char *grpc_method(Signal s);  // "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
const char *http_path(Signal s);    // "v1/logs"

}  // namespace otb
