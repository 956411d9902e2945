// The OTLP/HTTP transport (http/protobuf and http/json) on libcurl, and gzip for request bodies.
//
// One CURL easy handle per transport, reused for every send so the connection stays alive. The
// handle is driven through a private multi handle instead of curl_easy_perform: the transfer is
// the same, but cancel() can then wake the wait at once (curl_multi_wakeup) instead of waiting up
// to a second for the next progress callback.
//
// Header values are secrets (API keys, bearer tokens): they go into the curl_slist built once at
// construction and nowhere else, and every error string is scrubbed of them before it leaves,
// because a server's error message may echo a rejected token.
#include <curl/curl.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "diag.h"
#include "otlp.h"

#ifndef OTELBRIDGE_VERSION
#define OTELBRIDGE_VERSION "0"
#endif

namespace otb {
namespace {

constexpr size_t kMaxResponseBytes = size_t{4} << 20;  // OTLP: accept at most 4 MiB back
constexpr size_t kKeepResponseBuf = size_t{64} << 10;  // don't pin a huge response's buffer
constexpr size_t kMaxErrorMessage = 512;               // of a server's google.rpc.Status message

// ---- gzip ----

// A deflate stream kept across calls: deflateReset reuses its ~256 KiB of state, so a transport
// that compresses every request does not allocate for it each time.
class Gzipper {
 public:
  Gzipper() = default;
  Gzipper(const Gzipper &) = delete;
  Gzipper &operator=(const Gzipper &) = delete;
  ~Gzipper() {
    if (ready_) deflateEnd(&zs_);
  }

  // Replaces out's contents with the gzip (RFC 1952) of p[0..n).
  bool compress(const uint8_t *p, size_t n, Buf &out) {
    out.clear();
    if (!ready_) {
      std::memset(&zs_, 0, sizeof zs_);
      // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
      if (deflateInit2(&zs_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
          Z_OK)
        return false;
      ready_ = true;
    } else if (deflateReset(&zs_) != Z_OK) {
      return false;
    }
    // deflateBound covers the whole output in one go (wrapper included) for inputs it can
    // describe; the loop below still copes if it is ever short.
    uLong bound = deflateBound(&zs_, static_cast<uLong>(n));
    if (!out.reserve(bound > 0 ? bound : 64)) return false;
    static const uint8_t kEmpty = 0;
    zs_.next_in = const_cast<Bytef *>(n ? p : &kEmpty);
    size_t in_left = n;
    for (;;) {
      uInt in_chunk = in_left > UINT_MAX ? UINT_MAX : static_cast<uInt>(in_left);
      zs_.avail_in = in_chunk;
      in_left -= in_chunk;
      int flush = in_left == 0 ? Z_FINISH : Z_NO_FLUSH;
      int rc;
      do {
        if (out.capacity() == out.size() && !out.reserve(out.size() / 2 + 64)) return false;
        size_t room = out.capacity() - out.size();
        uInt out_chunk = room > UINT_MAX ? UINT_MAX : static_cast<uInt>(room);
        zs_.next_out = out.tail();
        zs_.avail_out = out_chunk;
        rc = deflate(&zs_, flush);
        if (rc == Z_STREAM_ERROR) return false;
        out.advance(out_chunk - zs_.avail_out);
      } while (zs_.avail_out == 0 || (flush == Z_NO_FLUSH && zs_.avail_in != 0) ||
               (flush == Z_FINISH && rc != Z_STREAM_END));
      if (flush == Z_FINISH) return rc == Z_STREAM_END;
    }
  }

 private:
  z_stream zs_;
  bool ready_ = false;
};

// ---- helpers ----

bool ascii_iequal_prefix(const char *s, size_t n, const char *prefix) {
  size_t k = std::strlen(prefix);
  if (n < k) return false;
  for (size_t i = 0; i < k; i++) {
    char a = s[i], b = prefix[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
}

bool ascii_iequal(const std::string &a, const char *b) {
  return a.size() == std::strlen(b) && ascii_iequal_prefix(a.data(), a.size(), b);
}

// An HTTP token (RFC 9110 §5.6.2): the characters a header name may have.
bool is_token(const std::string &s) {
  if (s.empty()) return false;
  for (unsigned char ch : s) {
    if (ch >= '0' && ch <= '9') continue;
    if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') continue;
    if (!std::strchr("!#$%&'*+-.^_`|~", ch) || ch == 0) return false;
  }
  return true;
}

bool is_retryable_status(long code) {
  return code == 429 || code == 502 || code == 503 || code == 504;
}

// Makes a server-provided string safe for a one-line diagnostic: control characters become
// spaces and it is cut (on a UTF-8 boundary) to kMaxErrorMessage bytes.
std::string one_line(std::string s) {
  if (s.size() > kMaxErrorMessage) {
    size_t cut = kMaxErrorMessage;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) cut--;
    s.resize(cut);
    s += "...";
  }
  for (char &ch : s) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = ' ';
  }
  return s;
}

bool file_readable(const std::string &path, std::string *why) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *why = std::strerror(errno);
    return false;
  }
  ::close(fd);
  return true;
}

std::once_flag g_curl_once;
CURLcode g_curl_init_rc = CURLE_FAILED_INIT;

bool curl_ready(std::string *err) {
  std::call_once(g_curl_once, [] { g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (g_curl_init_rc != CURLE_OK) {
    *err = std::string("libcurl initialisation failed: ") + curl_easy_strerror(g_curl_init_rc);
    return false;
  }
  return true;
}

// ---- the transport ----

class HttpTransport final : public Transport {
 public:
  HttpTransport() = default;
  HttpTransport(const HttpTransport &) = delete;
  HttpTransport &operator=(const HttpTransport &) = delete;

  ~HttpTransport() override {
    if (easy_) curl_easy_cleanup(easy_);
    if (multi_) curl_multi_cleanup(multi_);  // closes the cached connection
    if (headers_) curl_slist_free_all(headers_);
  }

  bool init(const OtlpSignalConfig &c, std::string *err);
  TransportResult send(const uint8_t *body, size_t len, uint64_t deadline_mono_ns) override;

  void cancel() override {
    cancelled_.store(true, std::memory_order_release);
    // Wakes a send waiting in curl_multi_poll. Safe from any thread.
    if (CURLM *m = multi_.load(std::memory_order_acquire)) curl_multi_wakeup(m);
  }

  void abandon_after_fork() override {
    // The child owns copies of the parent's sockets: close them (close() on a copy sends nothing
    // to the server), and forget every curl object without cleanup: its state belongs to the
    // parent, and cleanup could do I/O (TLS close_notify) or take locks.
    for (int fd : sockets_) ::close(fd);
    sockets_.clear();
    easy_ = nullptr;
    multi_.store(nullptr, std::memory_order_release);
    headers_ = nullptr;
    abandoned_ = true;
  }

 private:
  static size_t on_write(char *p, size_t size, size_t nmemb, void *ud);
  static size_t on_header(char *p, size_t size, size_t nmemb, void *ud);
  static int on_progress(void *ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t);
  static curl_socket_t on_open_socket(void *ud, curlsocktype, struct curl_sockaddr *addr);
  static int on_close_socket(void *ud, curl_socket_t fd);

  TransportResult classify(CURLcode rc);
  std::string error_from_body();
  void scrub(std::string *s) const;
  TransportResult fail(TransportResult::Kind kind, std::string error) const {
    TransportResult r;
    r.kind = kind;
    r.error = std::move(error);
    scrub(&r.error);
    return r;
  }

  CURL *easy_ = nullptr;
  std::atomic<CURLM *> multi_{nullptr};
  curl_slist *headers_ = nullptr;
  bool json_ = false;
  bool gzip_ = false;
  bool abandoned_ = false;
  std::atomic<bool> cancelled_{false};
  std::vector<std::string> secrets_;  // header values, to scrub from error strings
  std::vector<int> sockets_;          // sockets curl opened and has not closed yet

  Gzipper gzipper_;
  Buf gz_;  // the compressed body, reused
  // Per send:
  Buf resp_;
  bool too_large_ = false;
  std::string retry_after_;
  char errbuf_[CURL_ERROR_SIZE];
};

size_t HttpTransport::on_write(char *p, size_t size, size_t nmemb, void *ud) {
  auto *t = static_cast<HttpTransport *>(ud);
  size_t n = size * nmemb;
  if (n > kMaxResponseBytes - t->resp_.size()) {
    t->too_large_ = true;
    return 0;  // not n: curl aborts the transfer with CURLE_WRITE_ERROR and stops reading
  }
  t->resp_.append(p, n);
  return t->resp_.overflow() ? 0 : n;
}

size_t HttpTransport::on_header(char *p, size_t size, size_t nmemb, void *ud) {
  auto *t = static_cast<HttpTransport *>(ud);
  size_t n = size * nmemb;
  if (n >= 5 && std::memcmp(p, "HTTP/", 5) == 0) {
    t->retry_after_.clear();  // a new response (after a 100 Continue, say) starts over
  } else if (ascii_iequal_prefix(p, n, "retry-after:")) {
    size_t b = 12, e = n;
    while (b < e && (p[b] == ' ' || p[b] == '\t')) b++;
    while (e > b && (p[e - 1] == '\r' || p[e - 1] == '\n' || p[e - 1] == ' ' || p[e - 1] == '\t'))
      e--;
    if (e - b <= 64) t->retry_after_.assign(p + b, e - b);
  }
  return n;
}

int HttpTransport::on_progress(void *ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto *t = static_cast<HttpTransport *>(ud);
  return t->cancelled_.load(std::memory_order_acquire) ? 1 : 0;  // non-zero aborts the transfer
}

curl_socket_t HttpTransport::on_open_socket(void *ud, curlsocktype, struct curl_sockaddr *addr) {
  auto *t = static_cast<HttpTransport *>(ud);
  int fd = ::socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
  if (fd < 0) return CURL_SOCKET_BAD;
  try {
    t->sockets_.push_back(fd);
  } catch (...) {
    ::close(fd);
    return CURL_SOCKET_BAD;
  }
  return fd;
}

int HttpTransport::on_close_socket(void *ud, curl_socket_t fd) {
  auto *t = static_cast<HttpTransport *>(ud);
  for (size_t i = 0; i < t->sockets_.size(); i++) {
    if (t->sockets_[i] == fd) {
      t->sockets_[i] = t->sockets_.back();
      t->sockets_.pop_back();
      break;
    }
  }
  return ::close(fd);
}

void HttpTransport::scrub(std::string *s) const {
  for (const std::string &v : secrets_) {
    if (v.size() < 4) continue;  // too short to be a secret, and would garble the message
    for (size_t at = s->find(v); at != std::string::npos; at = s->find(v, at + 3))
      s->replace(at, v.size(), "***");
  }
}

bool HttpTransport::init(const OtlpSignalConfig &c, std::string *err) {
  if (!curl_ready(err)) return false;
  json_ = c.protocol == OtlpProtocol::kHttpJson;
  gzip_ = c.gzip;

  // The URL: http or https only. Never echo it whole: it may carry user:password.
  bool plaintext = false;
  {
    CURLU *u = curl_url();
    if (!u) throw std::bad_alloc();
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, c.url.c_str(), 0);
    char *scheme = nullptr;
    if (uc == CURLUE_OK) uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    std::string s = scheme ? scheme : "";
    curl_free(scheme);
    curl_url_cleanup(u);
    if (uc != CURLUE_OK) {
      *err = std::string("invalid OTLP/HTTP endpoint URL: ") + curl_url_strerror(uc);
      return false;
    }
    if (s != "http" && s != "https") {
      *err = "unsupported OTLP/HTTP endpoint scheme '" + one_line(s) + "' (use http or https)";
      return false;
    }
    plaintext = s == "http";
  }

  // TLS material: check now, so a typo is a configuration error and not a failing export.
  std::string why;
  if (!c.ca_file.empty() && !file_readable(c.ca_file, &why)) {
    *err = "cannot read the CA certificate file '" + c.ca_file + "': " + why;
    return false;
  }
  if (!c.client_cert_file.empty() && !file_readable(c.client_cert_file, &why)) {
    *err = "cannot read the client certificate file '" + c.client_cert_file + "': " + why;
    return false;
  }
  if (!c.client_key_file.empty() && !file_readable(c.client_key_file, &why)) {
    *err = "cannot read the client key file '" + c.client_key_file + "': " + why;
    return false;
  }
  if (!c.client_key_file.empty() && c.client_cert_file.empty()) {
    *err = "a client key is set without a client certificate (mTLS needs both)";
    return false;
  }

  if (plaintext && (!c.ca_file.empty() || !c.client_cert_file.empty()))
    diag(OTEL_DIAG_WARN,
         "otlp %s: certificate files are set but the endpoint is http://, so the connection is "
         "not encrypted (use https:// for TLS)",
         signal_name(c.signal));

  // Headers: ours, then the configured ones. The configured ones cannot replace the framing
  // headers (the body's format and encoding are ours to say).
  auto add = [this](const std::string &line) {
    curl_slist *n = curl_slist_append(headers_, line.c_str());
    if (!n) throw std::bad_alloc();
    headers_ = n;
  };
  add(json_ ? "Content-Type: application/json" : "Content-Type: application/x-protobuf");
  if (gzip_) add("Content-Encoding: gzip");
  add("Expect:");  // no 100-continue round trip for large bodies
  for (const auto &h : c.headers) {
    const std::string &name = h.first, &value = h.second;
    if (!is_token(name)) {
      *err = "invalid HTTP header name '" + one_line(name) + "' in the OTLP headers";
      return false;
    }
    if (value.find_first_of(std::string("\r\n\0", 3)) != std::string::npos) {
      // Never quote the value: it is a secret.
      *err = "the value of OTLP header '" + name + "' contains a line break or NUL";
      return false;
    }
    if (ascii_iequal(name, "content-type") || ascii_iequal(name, "content-encoding") ||
        ascii_iequal(name, "content-length") || ascii_iequal(name, "transfer-encoding") ||
        ascii_iequal(name, "expect") || ascii_iequal(name, "host") ||
        ascii_iequal(name, "connection")) {
      diag(OTEL_DIAG_WARN, "otlp %s: ignoring the configured header '%s' (set by the exporter)",
           signal_name(c.signal), name.c_str());
      continue;
    }
    size_t b = 0, e = value.size();
    while (b < e && (value[b] == ' ' || value[b] == '\t')) b++;
    while (e > b && (value[e - 1] == ' ' || value[e - 1] == '\t')) e--;
    // "Name:" would tell curl to remove a header; "Name;" sends it with an empty value.
    add(b == e ? name + ";" : name + ": " + value.substr(b, e - b));
    secrets_.push_back(value);
    if (b != 0 || e != value.size()) secrets_.push_back(value.substr(b, e - b));
  }

  easy_ = curl_easy_init();
  CURLM *m = curl_multi_init();
  multi_.store(m, std::memory_order_release);
  if (!easy_ || !m) {
    *err = "libcurl: cannot create a handle";
    return false;
  }

  bool ok = true;
  auto set = [&ok](CURLcode rc) { ok = ok && rc == CURLE_OK; };
  set(curl_easy_setopt(easy_, CURLOPT_URL, c.url.c_str()));
  set(curl_easy_setopt(easy_, CURLOPT_POST, 1L));
  set(curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers_));
  set(curl_easy_setopt(easy_, CURLOPT_USERAGENT, "otelbridge/" OTELBRIDGE_VERSION));
  set(curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L));
  set(curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, errbuf_));
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85.0
  set(curl_easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, "http,https"));
#else
  set(curl_easy_setopt(easy_, CURLOPT_PROTOCOLS, long{CURLPROTO_HTTP | CURLPROTO_HTTPS}));
#endif
  set(curl_easy_setopt(easy_, CURLOPT_FOLLOWLOCATION, 0L));
  set(curl_easy_setopt(easy_, CURLOPT_TCP_KEEPALIVE, 1L));
  set(curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &HttpTransport::on_write));
  set(curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this));
  set(curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, &HttpTransport::on_header));
  set(curl_easy_setopt(easy_, CURLOPT_HEADERDATA, this));
  set(curl_easy_setopt(easy_, CURLOPT_NOPROGRESS, 0L));
  set(curl_easy_setopt(easy_, CURLOPT_XFERINFOFUNCTION, &HttpTransport::on_progress));
  set(curl_easy_setopt(easy_, CURLOPT_XFERINFODATA, this));
  set(curl_easy_setopt(easy_, CURLOPT_OPENSOCKETFUNCTION, &HttpTransport::on_open_socket));
  set(curl_easy_setopt(easy_, CURLOPT_OPENSOCKETDATA, this));
  set(curl_easy_setopt(easy_, CURLOPT_CLOSESOCKETFUNCTION, &HttpTransport::on_close_socket));
  set(curl_easy_setopt(easy_, CURLOPT_CLOSESOCKETDATA, this));
  // TLS: always verify the server. The CA file replaces the system store, as the spec says.
  set(curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYPEER, 1L));
  set(curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYHOST, 2L));
  set(curl_easy_setopt(easy_, CURLOPT_SSLVERSION, long{CURL_SSLVERSION_TLSv1_2}));
  if (!c.ca_file.empty()) set(curl_easy_setopt(easy_, CURLOPT_CAINFO, c.ca_file.c_str()));
  if (!c.client_cert_file.empty()) {
    set(curl_easy_setopt(easy_, CURLOPT_SSLCERT, c.client_cert_file.c_str()));
    set(curl_easy_setopt(easy_, CURLOPT_SSLCERTTYPE, "PEM"));
  }
  if (!c.client_key_file.empty()) {
    set(curl_easy_setopt(easy_, CURLOPT_SSLKEY, c.client_key_file.c_str()));
    set(curl_easy_setopt(easy_, CURLOPT_SSLKEYTYPE, "PEM"));
  }
  if (!ok) {
    *err = "libcurl refused an option for the OTLP/HTTP transport (libcurl too old?)";
    return false;
  }
  return true;
}

TransportResult HttpTransport::send(const uint8_t *body, size_t len, uint64_t deadline_mono_ns) {
  if (cancelled_.load(std::memory_order_acquire))
    return fail(TransportResult::kPermanent, "cancelled");
  if (abandoned_ || !easy_) return fail(TransportResult::kPermanent, "transport abandoned");
  uint64_t now = mono_nano();
  if (now >= deadline_mono_ns) return fail(TransportResult::kRetryable, "deadline exceeded");

  // Timeouts: what is left of the deadline (UINT64_MAX = no limit), rounded up to a millisecond.
  long left_ms = 0;
  if (deadline_mono_ns != UINT64_MAX) {
    uint64_t ms = (deadline_mono_ns - now + 999999) / 1000000;
    left_ms = ms > uint64_t{LONG_MAX} ? LONG_MAX : static_cast<long>(ms);
  }
  curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, left_ms);
  curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS, left_ms);

  const uint8_t *out = body;
  size_t out_len = len;
  if (gzip_) {
    if (!gzipper_.compress(body, len, gz_))
      return fail(TransportResult::kPermanent, "gzip compression failed");
    out = gz_.data();
    out_len = gz_.size();
  }
  static const char kEmpty[1] = {0};
  curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(out_len));
  curl_easy_setopt(easy_, CURLOPT_POSTFIELDS,
                   out_len ? reinterpret_cast<const char *>(out) : kEmpty);

  resp_.shrink_if_above(kKeepResponseBuf);
  resp_.clear();
  too_large_ = false;
  retry_after_.clear();
  errbuf_[0] = 0;

  CURLM *m = multi_.load(std::memory_order_relaxed);
  if (curl_multi_add_handle(m, easy_) != CURLM_OK)
    return fail(TransportResult::kPermanent, "libcurl: cannot start the transfer");
  // curl enforces the timeout itself; `hard` is the backstop that keeps the contract ("returns
  // by the deadline") even if something inside curl does not.
  const uint64_t kSlack = 200000000u;
  uint64_t hard = deadline_mono_ns > UINT64_MAX - kSlack ? UINT64_MAX : deadline_mono_ns + kSlack;
  CURLcode rc = CURLE_OK;
  bool done = false, cancelled = false, late = false;
  for (;;) {
    int running = 0;
    CURLMcode mc = curl_multi_perform(m, &running);
    int queued;
    while (CURLMsg *msg = curl_multi_info_read(m, &queued)) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy_) {
        rc = msg->data.result;
        done = true;
      }
    }
    if (done) break;
    if (mc != CURLM_OK) {
      rc = CURLE_FAILED_INIT;
      std::snprintf(errbuf_, sizeof errbuf_, "%s", curl_multi_strerror(mc));
      break;
    }
    if (cancelled_.load(std::memory_order_acquire)) {
      cancelled = true;
      break;
    }
    int wait_ms = 1000;
    if (hard != UINT64_MAX) {
      uint64_t t = mono_nano();
      if (t >= hard) {
        late = true;
        break;
      }
      uint64_t until = (hard - t) / 1000000 + 1;
      if (until < uint64_t(wait_ms)) wait_ms = static_cast<int>(until);
    }
    curl_multi_poll(m, nullptr, 0, wait_ms, nullptr);
  }
  // Removing an unfinished transfer closes its connection; a finished one stays cached.
  curl_multi_remove_handle(m, easy_);

  TransportResult r;
  if (cancelled || (rc == CURLE_ABORTED_BY_CALLBACK && cancelled_.load()))
    r = fail(TransportResult::kPermanent, "cancelled");
  else if (late)
    r = fail(TransportResult::kRetryable, "deadline exceeded");
  else
    r = classify(rc);
  return r;
}

TransportResult HttpTransport::classify(CURLcode rc) {
  long code = 0;
  curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &code);

  if (rc == CURLE_WRITE_ERROR && too_large_) {
    if (is_retryable_status(code)) {
      TransportResult r = fail(TransportResult::kRetryable,
                               "HTTP " + std::to_string(code) + " (response body over 4 MiB)");
      if (!retry_after_.empty())
        r.retry_after_ms = parse_retry_after_ms(retry_after_, time(nullptr));
      return r;
    }
    return fail(TransportResult::kPermanent,
                "response too large (over 4 MiB, HTTP " + std::to_string(code) + ")");
  }

  if (rc != CURLE_OK) {
    std::string detail = errbuf_[0] ? errbuf_ : curl_easy_strerror(rc);
    switch (rc) {
      // The network, not the request: try again.
      case CURLE_SEND_ERROR:
      case CURLE_RECV_ERROR:
        // Under TLS 1.3 the server checks the client certificate after the client's handshake
        // is done, so a rejected (or missing) client certificate arrives as a TLS alert on the
        // first read: permanent, like any other TLS failure. A plain drop stays retryable.
        if (detail.find(" alert ") != std::string::npos && detail.find("SSL") != std::string::npos)
          return fail(TransportResult::kPermanent,
                      "TLS: the server refused the connection (" + detail + ")");
        return fail(TransportResult::kRetryable, "connection failed: " + detail);
      case CURLE_COULDNT_RESOLVE_PROXY:
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_CONNECT:
      case CURLE_GOT_NOTHING:
      case CURLE_PARTIAL_FILE:
      case CURLE_HTTP2:
      case CURLE_HTTP2_STREAM:
        return fail(TransportResult::kRetryable, "connection failed: " + detail);
      case CURLE_OPERATION_TIMEDOUT:
        return fail(TransportResult::kRetryable, "deadline exceeded: " + detail);
      // TLS: a configuration problem on one side or the other; retrying will not fix it, and
      // there is no falling back to plaintext.
      case CURLE_PEER_FAILED_VERIFICATION:
        return fail(TransportResult::kPermanent, "TLS: certificate verify failed (" + detail + ")");
      case CURLE_SSL_CONNECT_ERROR:
        return fail(TransportResult::kPermanent, "TLS: handshake failed (" + detail + ")");
      case CURLE_SSL_CERTPROBLEM:
        return fail(TransportResult::kPermanent,
                    "TLS: problem with the client certificate (" + detail + ")");
      case CURLE_SSL_CACERT_BADFILE:
        return fail(TransportResult::kPermanent,
                    "TLS: cannot use the CA certificate file (" + detail + ")");
      case CURLE_SSL_CIPHER:
      case CURLE_SSL_ENGINE_NOTFOUND:
      case CURLE_SSL_ENGINE_SETFAILED:
      case CURLE_SSL_ENGINE_INITFAILED:
      case CURLE_SSL_SHUTDOWN_FAILED:
      case CURLE_SSL_CRL_BADFILE:
      case CURLE_SSL_ISSUER_ERROR:
      case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      case CURLE_SSL_INVALIDCERTSTATUS:
#if LIBCURL_VERSION_NUM >= 0x074d00  // 7.77.0
      case CURLE_SSL_CLIENTCERT:
#endif
      case CURLE_USE_SSL_FAILED:
        return fail(TransportResult::kPermanent, std::string("TLS: ") + detail);
      default:
        return fail(TransportResult::kPermanent, "HTTP request failed: " + detail);
    }
  }

  if (code >= 200 && code < 300) {
    TransportResult r;
    r.kind = TransportResult::kOk;
    if (resp_.size() == 0) return r;  // no body: full success
    int64_t rejected = 0;
    std::string message;
    bool parsed = json_
                      ? decode_export_response_json(
                            std::string(reinterpret_cast<const char *>(resp_.data()), resp_.size()),
                            &rejected, &message)
                      : decode_export_response(resp_.data(), resp_.size(), &rejected, &message);
    if (parsed) {
      r.rejected = rejected;
      r.partial_message = one_line(std::move(message));
      scrub(&r.partial_message);
    } else {
      // Accepted all the same: the data went in, so it must not be sent again.
      r.error = "the success response did not parse (ignored)";
    }
    return r;
  }

  std::string err = "HTTP " + std::to_string(code);
  std::string msg = error_from_body();
  if (!msg.empty()) err += ": " + msg;
  if (is_retryable_status(code)) {
    TransportResult r = fail(TransportResult::kRetryable, std::move(err));
    if (!retry_after_.empty()) r.retry_after_ms = parse_retry_after_ms(retry_after_, time(nullptr));
    if (r.retry_after_ms < 0 && !json_ && resp_.size()) {
      // No Retry-After: a google.rpc.RetryInfo in the Status body is the next best hint.
      int32_t st = 0;
      std::string ignored;
      int64_t delay = -1;
      if (decode_rpc_status(resp_.data(), resp_.size(), &st, &ignored, &delay) && delay >= 0)
        r.retry_after_ms = delay;
    }
    return r;
  }
  if (code >= 300 && code < 400) err += " (redirects are not followed: check the endpoint URL)";
  return fail(TransportResult::kPermanent, std::move(err));  // other 4xx/5xx, and 1xx/3xx
}

// The google.rpc.Status message of an error response, or "".
std::string HttpTransport::error_from_body() {
  if (resp_.size() == 0) return std::string();
  std::string msg;
  if (json_) {
    msg = rpc_status_message_json(
        std::string(reinterpret_cast<const char *>(resp_.data()), resp_.size()));
  } else {
    int32_t st = 0;
    int64_t delay = -1;
    if (!decode_rpc_status(resp_.data(), resp_.size(), &st, &msg, &delay)) msg.clear();
  }
  return one_line(std::move(msg));
}

}  // namespace

bool gzip_compress(const uint8_t *p, size_t n, Buf &out) {
  Gzipper g;
  return g.compress(p, n, out);
}

std::unique_ptr<Transport> make_http_transport(const OtlpSignalConfig &c, std::string *err) {
  std::string local;
  if (!err) err = &local;
  if (c.protocol == OtlpProtocol::kGrpc) {
    *err = "the HTTP transport cannot send the grpc protocol";
    return nullptr;
  }
  std::unique_ptr<HttpTransport> t(new HttpTransport);
  if (!t->init(c, err)) return nullptr;
  return t;
}

}  // namespace otb
