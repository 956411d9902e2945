// OTLP/gRPC transport (libgrpc++): one unary Export call per send(), through grpc::GenericStub.
//
// - The request is the Export*ServiceRequest the pipeline framed, sent byte for byte: no generated
//   message classes, no protobuf re-encoding. The response bytes go to decode_export_response.
// - One channel per transport, made once by the first send() (see connect()), so the HTTP/2
//   connection is reused across exports.
// - Calls go through a completion queue that only the worker polls, inside send(). Between
//   exports no thread of ours is inside gRPC, and gRPC's callback-API threads (which would be,
//   and which make grpc_prefork() give up) are never started.
// - Every wait is bounded by our own AsyncNext deadline, so send() returns by its deadline even
//   when gRPC's timers do not run (as in a forked child).
#include <grpc/support/log.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <unistd.h>
#include <algorithm>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "diag.h"
#include "otlp.h"

namespace otb {
namespace {

// After a TryCancel at the deadline, how long to wait for the call to complete before giving up on
// it (the completion queue then owns it).
constexpr auto kCancelGrace = std::chrono::milliseconds(50);
// Waiting for a connection: the slice between checks of cancel(), and how much of the time left
// is kept for the call itself (at most).
constexpr auto kConnectSlice = std::chrono::milliseconds(100);
constexpr auto kCallReserve = std::chrono::milliseconds(250);
constexpr int kMaxResponseBytes = 4 * 1024 * 1024;  // OTLP: limit accepted responses to 4 MiB
constexpr int kMaxRequestBytes = 64 * 1024 * 1024;  // the pipeline never frames more

const char *code_name(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN_CODE";
  }
}

// OTLP spec: the retryable gRPC codes (RESOURCE_EXHAUSTED is decided by its RetryInfo).
bool retryable_code(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DATA_LOSS:
      return true;
    default:
      return false;
  }
}

// gRPC logs to stderr by itself; the library's diagnostics must stay ours. Errors only, unless
// the user asked gRPC for more with GRPC_VERBOSITY (then gRPC's own setting stands).
void quiet_grpc_logging() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char *v = std::getenv("GRPC_VERBOSITY");
    if (v == nullptr || *v == '\0') gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR);
  });
}

// Reads a whole PEM file. False with *err naming the setting and the path (never the content).
bool read_pem(const std::string &path, const char *what, std::string *out, std::string *err) {
  std::FILE *f = std::fopen(path.c_str(), "rbe");
  if (f == nullptr) {
    *err = std::string("gRPC ") + what + " '" + path + "' cannot be read: " + std::strerror(errno);
    return false;
  }
  out->clear();
  char chunk[16384];
  size_t n;
  bool too_big = false;
  while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) {
    out->append(chunk, n);
    if (out->size() > (64u << 20)) {
      too_big = true;
      break;
    }
  }
  const bool failed = std::ferror(f) != 0;
  const int saved_errno = errno;
  std::fclose(f);
  if (failed) {
    *err = std::string("gRPC ") + what + " '" + path +
           "' cannot be read: " + std::strerror(saved_errno);
    return false;
  }
  if (too_big || out->find("-----BEGIN ") == std::string::npos) {
    *err = std::string("gRPC ") + what + " '" + path + "' is not a PEM file";
    return false;
  }
  return true;
}

bool mentions_tls(const std::string &msg) {
  std::string m;
  for (char ch : msg) m += static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
  for (const char *w : {"ssl", "tls", "handshake", "certificate"}) {
    if (m.find(w) != std::string::npos) return true;
  }
  return false;
}

bool legal_key_char(unsigned char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
         ch == '.';
}

bool ends_with(const std::string &s, const char *suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// gRPC aborts the process on metadata it considers illegal, so headers are checked once, here.
// Keys are lowercased. Messages name the key, never the value (values are secrets).
bool prepare_metadata(const std::vector<std::pair<std::string, std::string>> &in,
                      std::vector<std::pair<std::string, std::string>> *out, std::string *err) {
  for (const auto &kv : in) {
    std::string key = kv.first;
    for (char &ch : key) {
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    }
    bool ok = !key.empty();
    for (unsigned char ch : key) ok = ok && legal_key_char(ch);
    if (!ok) {
      *err =
          "OTLP header key '" + key + "' is not a legal gRPC metadata key (allowed: a-z 0-9 - _ .)";
      return false;
    }
    if (key.compare(0, 5, "grpc-") == 0 || key == "te" || key == "content-type" ||
        key == "user-agent" || key == "host") {
      // Set by gRPC itself; skipped rather than refused, so that the same headers work over HTTP.
      diag(OTEL_DIAG_WARN, "OTLP/gRPC: header '%s' is set by gRPC itself; not sent", key.c_str());
      continue;
    }
    if (!ends_with(key, "-bin")) {
      for (unsigned char ch : kv.second) {
        if (ch < 0x20 || ch > 0x7e) {
          *err = "the value of OTLP header '" + key +
                 "' has bytes gRPC cannot send (only printable ASCII; binary values need a "
                 "key ending in -bin)";
          return false;
        }
      }
    }
    out->emplace_back(std::move(key), kv.second);
  }
  return true;
}

// The completion-queue tag of connectivity watches; every other tag is a Call.
char kWatchTag;

// One RPC. Owned by send() while it waits; when send() gives up on it (gRPC missed its deadline
// even after a TryCancel), the completion queue owns it until its tag comes out.
struct Call {
  grpc::ClientContext ctx;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<grpc::ByteBuffer>> rpc;
  bool cancelled_at_deadline = false;  // by wait_for(), because gRPC had not ended it
};

// What the channel is made from, checked and read (PEM files) by the factory.
struct ChannelSpec {
  std::string target;
  bool tls = false;
  grpc::SslCredentialsOptions ssl;  // PEM contents; empty roots = gRPC's default roots
};

class GrpcTransport final : public Transport {
 public:
  GrpcTransport(const OtlpSignalConfig &c, ChannelSpec spec,
                std::vector<std::pair<std::string, std::string>> metadata)
      : method_(grpc_method(c.signal)),
        gzip_(c.gzip),
        client_cert_(!c.client_cert_file.empty()),
        spec_(std::move(spec)),
        metadata_(std::move(metadata)) {}

  ~GrpcTransport() override {
    if (!conn_) return;  // never connected, or abandoned after fork (leaked on purpose)
    // Every call this transport started has finished or was cancelled; collect what is left in
    // the queue, then destroy it. If gRPC does not deliver in time, leak rather than hang.
    conn_->cq->Shutdown();
    const auto until = std::chrono::system_clock::now() + std::chrono::seconds(1);
    for (;;) {
      void *tag = nullptr;
      bool ok = false;
      auto r = conn_->cq->AsyncNext(&tag, &ok, until);
      if (r == grpc::CompletionQueue::SHUTDOWN) break;
      if (r == grpc::CompletionQueue::TIMEOUT) {
        (void)conn_.release();
        return;
      }
      if (tag != &kWatchTag) delete static_cast<Call *>(tag);
    }
  }

  TransportResult send(const uint8_t *body, size_t len, uint64_t deadline_mono_ns) override;
  void cancel() override;
  void abandon_after_fork() override;

 private:
  struct Conn {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<grpc::GenericStub> stub;
    std::unique_ptr<grpc::CompletionQueue> cq;  // polled by the worker, inside send() only
  };

  static TransportResult permanent(std::string error) {
    TransportResult r;
    r.kind = TransportResult::kPermanent;
    r.error = std::move(error);
    return r;
  }
  static TransportResult retryable(std::string error) {
    TransportResult r;
    r.kind = TransportResult::kRetryable;
    r.error = std::move(error);
    return r;
  }
  std::string connect();  // "" on success, else why not
  void await_connection(std::chrono::system_clock::time_point deadline, bool has_deadline);
  bool wait_for(Call *call, std::chrono::system_clock::time_point deadline, bool has_deadline);
  TransportResult classify(const Call &call) const;

  const std::string method_;
  const bool gzip_;
  const bool client_cert_;
  const ChannelSpec spec_;
  const std::vector<std::pair<std::string, std::string>> metadata_;  // values are secrets
  std::unique_ptr<Conn> conn_;                                       // created by the first send()
  bool abandoned_ = false;
  int watches_ = 0;  // connectivity watches pending in conn_->cq (worker thread only)

  std::atomic<bool> cancelled_{false};
  std::mutex mu_;            // guards current_
  Call *current_ = nullptr;  // the call in flight, for cancel()
};

TransportResult GrpcTransport::send(const uint8_t *body, size_t len, uint64_t deadline_mono_ns) {
  if (abandoned_) return permanent("gRPC transport abandoned after fork");
  if (cancelled_.load(std::memory_order_acquire)) return permanent("cancelled");
  if (!conn_) {
    std::string why = connect();
    if (!why.empty()) return permanent(why);
  }
  if (len > static_cast<size_t>(kMaxRequestBytes)) {
    return permanent("gRPC request of " + std::to_string(len) + " bytes is over the 64 MiB limit");
  }

  const bool has_deadline = deadline_mono_ns != UINT64_MAX;
  const uint64_t now_mono = mono_nano();
  if (has_deadline && now_mono >= deadline_mono_ns) {
    return retryable("gRPC DEADLINE_EXCEEDED: no time left for the call");
  }

  std::unique_ptr<Call> call(new Call);
  // Copied: if gRPC misses its deadline, the call outlives send() (see wait_for), while the
  // caller reuses its buffer.
  grpc::Slice slice(body, len);
  call->request = grpc::ByteBuffer(&slice, 1);
  for (const auto &kv : metadata_) call->ctx.AddMetadata(kv.first, kv.second);
  if (gzip_) call->ctx.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  // The same instant on the system clock, which is what gRPC deadlines are expressed in.
  std::chrono::system_clock::time_point deadline;
  if (has_deadline) {
    deadline = std::chrono::system_clock::now() +
               std::chrono::duration_cast<std::chrono::system_clock::duration>(
                   std::chrono::nanoseconds(deadline_mono_ns - now_mono));
    call->ctx.set_deadline(deadline);
  }

  await_connection(deadline, has_deadline);
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (cancelled_.load(std::memory_order_acquire)) return permanent("cancelled");
    current_ = call.get();
  }
  call->rpc = conn_->stub->PrepareUnaryCall(&call->ctx, method_, call->request, conn_->cq.get());
  call->rpc->StartCall();
  call->rpc->Finish(&call->response, &call->status, call.get());
  const bool finished = wait_for(call.get(), deadline, has_deadline);
  {
    std::lock_guard<std::mutex> lk(mu_);
    current_ = nullptr;
  }
  if (!finished) {
    (void)call.release();  // the completion queue delivers it later; deleted then
    if (cancelled_.load(std::memory_order_acquire)) return permanent("cancelled");
    return retryable("gRPC DEADLINE_EXCEEDED: the call did not finish by its deadline");
  }
  return classify(*call);
}

// gRPC makes progress on a connection attempt only while some thread polls, and a call on a
// channel in TRANSIENT_FAILURE fails at once without polling: with nobody else polling, a channel
// that lost its receiver would reconnect only on gRPC's 5 s backup poller, or never. So while the
// channel is not READY, watch its state through our completion queue (polling it), in slices so
// that cancel() is seen, until it is READY or only the call's reserve is left. Our own AsyncNext
// deadlines bound the wait even if gRPC's timers do not run. The call that follows is fail-fast:
// it goes through, or fails with the channel's last error (e.g. "Connection refused", "Ssl
// handshake failed: ..."), which says more than a DEADLINE_EXCEEDED.
void GrpcTransport::await_connection(std::chrono::system_clock::time_point deadline,
                                     bool has_deadline) {
  grpc::Channel &ch = *conn_->channel;
  grpc_connectivity_state state = ch.GetState(/*try_to_connect=*/true);
  if (state == GRPC_CHANNEL_READY) return;
  auto until = std::chrono::system_clock::time_point::max();
  if (has_deadline) {
    const auto left = deadline - std::chrono::system_clock::now();
    until = deadline - std::min<std::chrono::system_clock::duration>(kCallReserve, left / 4);
  }
  while (state != GRPC_CHANNEL_READY && state != GRPC_CHANNEL_SHUTDOWN &&
         !cancelled_.load(std::memory_order_acquire)) {
    const auto now = std::chrono::system_clock::now();
    if (now >= until) return;
    const auto slice_end = until - now > kConnectSlice ? now + kConnectSlice : until;
    if (watches_ == 0) {
      // Completes when the state leaves `state`, or at its deadline (a short one, so that no
      // watch outlives this send() for long).
      ch.NotifyOnStateChange(state, slice_end, conn_->cq.get(), &kWatchTag);
      watches_++;
    }
    void *tag = nullptr;
    bool ok = false;
    if (conn_->cq->AsyncNext(&tag, &ok, slice_end) != grpc::CompletionQueue::GOT_EVENT) continue;
    if (tag == &kWatchTag) {
      watches_--;
      state = ch.GetState(/*try_to_connect=*/true);
    } else {
      delete static_cast<Call *>(tag);  // a call given up earlier
    }
  }
}

// Polls the completion queue until `call` completes. gRPC enforces the deadline itself and
// completes the call right at it; if it has not by then, TryCancel and a short grace. False when
// the call is still pending after that. Tags of calls given up earlier are deleted as they come.
bool GrpcTransport::wait_for(Call *call, std::chrono::system_clock::time_point deadline,
                             bool has_deadline) {
  bool cancel_sent = false;
  for (;;) {
    void *tag = nullptr;
    bool ok = false;
    grpc::CompletionQueue::NextStatus r;
    if (has_deadline || cancel_sent) {
      r = conn_->cq->AsyncNext(&tag, &ok, deadline);
    } else {
      r = conn_->cq->Next(&tag, &ok) ? grpc::CompletionQueue::GOT_EVENT
                                     : grpc::CompletionQueue::SHUTDOWN;
    }
    if (r == grpc::CompletionQueue::GOT_EVENT) {
      if (tag == call) return true;
      if (tag == &kWatchTag) {
        watches_--;
      } else {
        delete static_cast<Call *>(tag);  // a call given up earlier
      }
      continue;
    }
    if (r == grpc::CompletionQueue::SHUTDOWN || cancel_sent) return false;
    call->cancelled_at_deadline = true;
    call->ctx.TryCancel();
    cancel_sent = true;
    deadline = std::chrono::system_clock::now() + kCancelGrace;
  }
}

TransportResult GrpcTransport::classify(const Call &call) const {
  TransportResult r;
  const grpc::Status &s = call.status;
  const grpc::StatusCode code = s.error_code();
  if (code == grpc::StatusCode::OK) {
    r.kind = TransportResult::kOk;
    grpc::Slice all;
    const uint8_t *p = nullptr;
    size_t n = 0;
    if (call.response.Valid() && call.response.Length() > 0 &&
        call.response.DumpToSingleSlice(&all).ok()) {
      p = all.begin();
      n = all.size();
    }
    int64_t rejected = 0;
    std::string message;
    if (decode_export_response(p, n, &rejected, &message)) {
      r.rejected = rejected;
      r.partial_message = std::move(message);
    } else {  // delivered all the same; a note for diagnostics
      r.error = "gRPC OK, but the Export response (" + std::to_string(n) + " bytes) does not parse";
    }
    return r;
  }

  if (code == grpc::StatusCode::CANCELLED && cancelled_.load(std::memory_order_acquire)) {
    return permanent("cancelled");
  }
  if (code == grpc::StatusCode::CANCELLED && call.cancelled_at_deadline) {
    return retryable("gRPC DEADLINE_EXCEEDED: the call had not ended at its deadline (cancelled)");
  }

  // grpc-status-details-bin carries a google.rpc.Status: RetryInfo, and a message when gRPC's own
  // is empty.
  int64_t retry_ms = -1;
  std::string detail_message;
  const std::string &details = s.error_details();
  if (!details.empty()) {
    int32_t detail_code = 0;
    if (!decode_rpc_status(reinterpret_cast<const uint8_t *>(details.data()), details.size(),
                           &detail_code, &detail_message, &retry_ms)) {
      retry_ms = -1;
      detail_message.clear();
    }
  }

  if (retryable_code(code) || (code == grpc::StatusCode::RESOURCE_EXHAUSTED && retry_ms >= 0)) {
    r.kind = TransportResult::kRetryable;
    r.retry_after_ms = retry_ms;
  } else {
    r.kind = TransportResult::kPermanent;
  }
  // The message is the server's (or gRPC's connection error, which names TLS handshake
  // failures, e.g. "Ssl handshake failed: SSL_ERROR_SSL: ... CERTIFICATE_VERIFY_FAILED").
  const std::string &msg = s.error_message().empty() ? detail_message : s.error_message();
  r.error = std::string("gRPC ") + code_name(code) + ": " + (msg.empty() ? "(no message)" : msg);
  // With TLS 1.3 a receiver that wants a client certificate refuses it after the handshake, and
  // gRPC reports only "Endpoint read failed": say that TLS was involved.
  if (spec_.tls && code == grpc::StatusCode::UNAVAILABLE &&
      msg.compare(0, 34, "failed to connect to all addresses") == 0 && !mentions_tls(msg)) {
    r.error += client_cert_ ? " (TLS connection)"
                            : " (TLS connection without a client certificate: if the receiver "
                              "requires one, set OTEL_EXPORTER_OTLP_CLIENT_KEY and "
                              "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE)";
  }
  return r;
}

void GrpcTransport::cancel() {
  cancelled_.store(true, std::memory_order_release);
  std::lock_guard<std::mutex> lk(mu_);
  if (current_) current_->ctx.TryCancel();
}

void GrpcTransport::abandon_after_fork() {
  // The channel, stub, completion queue and any call in flight belong to the parent's gRPC: no
  // shutdown, no unref, no locking. Leak them all, and never connect from this copy.
  abandoned_ = true;
  (void)conn_.release();
  current_ = nullptr;
}

// The channel is made on the first send(), not by the factory: creating credentials or a channel
// initialises gRPC (its threads, its epoll set), and a process that forks after that cannot use
// gRPC in the child (libgrpc 1.51). An engine that has not exported yet leaves gRPC untouched.
//
// So a forked child of a process that did use gRPC must not touch it: Debian's libgrpc 1.51 has no
// working fork support (its pthread_atfork handlers are not registered, and calling grpc_prefork()
// by hand can deadlock fork()). Such a child gets a clear, permanent error instead of exports
// that hang until their deadline.
std::string GrpcTransport::connect() {
  static std::atomic<pid_t> grpc_owner{0};  // the process that first started gRPC through us
  const pid_t me = getpid();
  pid_t owner = 0;
  if (!grpc_owner.compare_exchange_strong(owner, me) && owner != me) {
    return "gRPC cannot be used in this process: it was forked after its parent had exported over "
           "gRPC, and libgrpc 1.51 does not survive that; use OTEL_EXPORTER_OTLP_PROTOCOL="
           "http/protobuf, or fork before the first export";
  }
  std::shared_ptr<grpc::ChannelCredentials> creds =
      spec_.tls ? grpc::SslCredentials(spec_.ssl) : grpc::InsecureChannelCredentials();
  if (!creds) return "gRPC: the TLS credentials could not be created";
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxResponseBytes);
  args.SetMaxSendMessageSize(kMaxRequestBytes);
  // One attempt per send(): the OTLP exporter does the retrying.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  // Our own connections: never share a subchannel with another channel of the process (another
  // engine's, or the host's).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Reconnect soon after the receiver comes back (gRPC's default backoff grows to 120 s).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  args.SetString(GRPC_ARG_PRIMARY_USER_AGENT_STRING, "otelbridge/" OTELBRIDGE_VERSION);
  std::unique_ptr<Conn> c(new Conn);
  c->channel = grpc::CreateCustomChannel(spec_.target, creds, args);
  c->stub.reset(new grpc::GenericStub(c->channel));
  c->cq.reset(new grpc::CompletionQueue);
  conn_ = std::move(c);
  return std::string();
}

}  // namespace

std::unique_ptr<Transport> make_grpc_transport(const OtlpSignalConfig &c, std::string *err) {
  quiet_grpc_logging();
  if (c.grpc_target.empty()) {
    *err = "OTLP/gRPC: no target (host:port) to connect to";
    return nullptr;
  }
  std::vector<std::pair<std::string, std::string>> metadata;
  if (!prepare_metadata(c.headers, &metadata, err)) return nullptr;

  ChannelSpec spec;
  spec.target = c.grpc_target;
  spec.tls = c.tls;
  if (c.tls) {  // never a plaintext fallback: a TLS problem is an error
    if (!c.ca_file.empty() &&
        !read_pem(c.ca_file, "CA certificate file", &spec.ssl.pem_root_certs, err)) {
      return nullptr;
    }
    if (c.client_key_file.empty() != c.client_cert_file.empty()) {
      *err = "OTLP/gRPC mTLS needs both a client key and a client certificate (" +
             std::string(c.client_key_file.empty() ? "the key" : "the certificate") +
             " is missing)";
      return nullptr;
    }
    if (!c.client_key_file.empty()) {
      if (!read_pem(c.client_key_file, "client key file", &spec.ssl.pem_private_key, err) ||
          !read_pem(c.client_cert_file, "client certificate file", &spec.ssl.pem_cert_chain, err)) {
        return nullptr;
      }
    }
  }
  return std::unique_ptr<Transport>(new GrpcTransport(c, std::move(spec), std::move(metadata)));
}

}  // namespace otb
