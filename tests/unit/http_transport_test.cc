// The OTLP/HTTP transport (src/transport_http.cc) against a tiny in-test HTTP/1.1 server.
//
// The fake server exists for what the real Collector receiver cannot be made to do on demand:
// canned error statuses and bodies, Retry-After, hanging, oversized responses, and counting
// accepted connections. The end-to-end tests run the transport against the real receiver.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "encode.h"
#include "otlp.h"

using otb::Buf;
using otb::OtlpProtocol;
using otb::OtlpSignalConfig;
using otb::Transport;
using otb::TransportResult;

namespace {

const char kSecret[] = "secret-token-XYZ";

struct Request {
  std::string method, target, version, body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string header(const std::string &name) const {
    for (const auto &h : headers)
      if (h.first == name) return h.second;
    return std::string();
  }
  bool has_header(const std::string &name) const {
    for (const auto &h : headers)
      if (h.first == name) return true;
    return false;
  }
};

struct Reply {
  enum Mode { kNormal, kHang, kHuge } mode = kNormal;
  int status = 200;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  size_t huge_size = 0;  // kHuge: a body of this many bytes, streamed
};

// A fixed reply, and a handler that gives it to every request.
Reply reply(int status, std::vector<std::string> headers = {}, std::string body = "") {
  Reply r;
  r.status = status;
  r.headers = std::move(headers);
  r.body = std::move(body);
  return r;
}

std::function<Reply(const Request &)> always(Reply r) {
  return [r](const Request &) { return r; };
}

std::string reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
  }
  return "Status";
}

// A poll-driven HTTP/1.1 server on 127.0.0.1:0 (one thread, any number of connections,
// keep-alive, Content-Length bodies). `handler` decides each reply; every request is recorded.
class FakeServer {
 public:
  using Handler = std::function<Reply(const Request &)>;
  explicit FakeServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listen_fd_, 16), 0);
    socklen_t len = sizeof a;
    getsockname(listen_fd_, reinterpret_cast<sockaddr *>(&a), &len);
    port_ = ntohs(a.sin_port);
    EXPECT_EQ(::pipe2(wake_, O_CLOEXEC), 0);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeServer() {
    char c = 'x';
    EXPECT_EQ(::write(wake_[1], &c, 1), 1);
    thread_.join();
    ::close(listen_fd_);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }

  // Anything a connection sends is answered with `raw` at once, then the connection is closed
  // (what a plaintext server does to a TLS ClientHello, more or less).
  void set_raw_answer(std::string raw) {
    std::lock_guard<std::mutex> lk(mu_);
    raw_ = std::move(raw);
  }

  std::string url(const std::string &path = "/v1/logs") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  std::vector<Request> requests() {
    std::lock_guard<std::mutex> lk(mu_);
    return requests_;
  }
  size_t huge_sent() const { return huge_sent_.load(); }
  bool huge_done() const { return huge_done_.load(); }

 private:
  struct Conn {
    int fd;
    std::string in;
    bool hung = false;
  };

  void run() {
    std::vector<Conn> conns;
    for (;;) {
      std::vector<pollfd> fds;
      fds.push_back({wake_[0], POLLIN, 0});
      fds.push_back({listen_fd_, POLLIN, 0});
      for (const Conn &c : conns) fds.push_back({c.fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents) break;
      const size_t polled = conns.size();  // a connection accepted below was not polled yet
      if (fds[1].revents & POLLIN) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
          accepted_++;
          timeval tv{5, 0};  // a client that stops reading must not wedge the server
          setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
          conns.push_back(Conn{fd, std::string()});
        }
      }
      std::vector<Conn> keep;
      for (size_t i = 0; i < conns.size(); i++) {
        Conn &c = conns[i];
        bool open = true;
        if (i < polled && fds[i + 2].revents) {
          char buf[65536];
          ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
          if (n <= 0) {
            open = false;
          } else {
            c.in.append(buf, static_cast<size_t>(n));
            open = serve(c);
          }
        }
        if (open)
          keep.push_back(std::move(c));
        else
          ::close(c.fd);
      }
      conns.swap(keep);
    }
    for (Conn &c : conns) ::close(c.fd);
  }

  bool send_all(int fd, const char *p, size_t n) {
    while (n) {
      ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
      if (k <= 0) return false;
      p += k;
      n -= static_cast<size_t>(k);
    }
    return true;
  }

  // Serves every complete request in c.in. False when the connection should close.
  bool serve(Conn &c) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (!raw_.empty()) {
        send_all(c.fd, raw_.data(), raw_.size());
        return false;
      }
    }
    for (;;) {
      if (c.hung) {
        c.in.clear();
        return true;
      }
      size_t end = c.in.find("\r\n\r\n");
      if (end == std::string::npos) return true;
      Request r;
      std::string head = c.in.substr(0, end);
      size_t line_end = head.find("\r\n");
      std::string first = head.substr(0, line_end);
      size_t s1 = first.find(' '), s2 = first.rfind(' ');
      r.method = first.substr(0, s1);
      r.target = first.substr(s1 + 1, s2 - s1 - 1);
      r.version = first.substr(s2 + 1);
      size_t content_length = 0;
      size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        size_t e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        std::string line = head.substr(pos, e - pos);
        size_t colon = line.find(':');
        std::string name = line.substr(0, colon), value;
        if (colon != std::string::npos) value = line.substr(colon + 1);
        while (!value.empty() && value[0] == ' ') value.erase(0, 1);
        for (char &ch : name) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
        if (name == "content-length") content_length = std::stoul(value);
        r.headers.emplace_back(name, value);
        pos = e + 2;
      }
      if (c.in.size() < end + 4 + content_length) return true;  // body not complete yet
      r.body = c.in.substr(end + 4, content_length);
      c.in.erase(0, end + 4 + content_length);
      {
        std::lock_guard<std::mutex> lk(mu_);
        requests_.push_back(r);
      }
      Reply rep = handler_(r);
      if (rep.mode == Reply::kHang) {
        c.hung = true;
        continue;
      }
      size_t body_len = rep.mode == Reply::kHuge ? rep.huge_size : rep.body.size();
      std::string out = "HTTP/1.1 " + std::to_string(rep.status) + " " + reason(rep.status) +
                        "\r\nContent-Length: " + std::to_string(body_len) + "\r\n";
      for (const std::string &h : rep.headers) out += h + "\r\n";
      out += "\r\n";
      if (rep.mode == Reply::kNormal) {
        out += rep.body;
        if (!send_all(c.fd, out.data(), out.size())) return false;
        continue;
      }
      // kHuge: stream the body until the client stops taking it.
      bool ok = send_all(c.fd, out.data(), out.size());
      std::string chunk(65536, 'z');
      size_t left = rep.huge_size;
      while (ok && left) {
        size_t k = std::min(left, chunk.size());
        ok = send_all(c.fd, chunk.data(), k);
        if (ok) {
          huge_sent_ += k;
          left -= k;
        }
      }
      huge_done_ = true;
      if (!ok) return false;
    }
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};
  std::thread thread_;
  std::atomic<int> accepted_{0};
  std::atomic<size_t> huge_sent_{0};
  std::atomic<bool> huge_done_{false};
  std::mutex mu_;
  std::vector<Request> requests_;
  std::string raw_;
};

Reply ok_reply() {
  return Reply();
}

OtlpSignalConfig config(const std::string &url,
                        OtlpProtocol protocol = OtlpProtocol::kHttpProtobuf) {
  OtlpSignalConfig c;
  c.protocol = protocol;
  c.url = url;
  c.headers = {{"x-api-key", kSecret}, {"X-Tenant", "tenant-a"}};
  return c;
}

std::unique_ptr<Transport> make(const OtlpSignalConfig &c) {
  std::string err;
  auto t = otb::make_http_transport(c, &err);
  EXPECT_TRUE(t) << err;
  EXPECT_EQ(err.find(kSecret), std::string::npos);
  return t;
}

uint64_t in_ms(uint64_t ms) {
  return otb::mono_nano() + ms * 1000000u;
}

int64_t elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               since)
      .count();
}

// Every result in these tests goes through here: the header value must never leak.
TransportResult checked(const TransportResult &r) {
  EXPECT_EQ(r.error.find(kSecret), std::string::npos) << r.error;
  EXPECT_EQ(r.partial_message.find(kSecret), std::string::npos) << r.partial_message;
  return r;
}

TransportResult send(Transport &t, const std::string &body, uint64_t deadline) {
  return checked(t.send(reinterpret_cast<const uint8_t *>(body.data()), body.size(), deadline));
}

std::string str(const Buf &b) {
  return std::string(reinterpret_cast<const char *>(b.data()), b.size());
}

// google.rpc.Status {int32 code = 1; string message = 2}
std::string rpc_status(int32_t code, const std::string &message) {
  Buf b;
  otb::put_tag(b, 1, otb::kVarint);
  otb::put_varint(b, static_cast<uint64_t>(code));
  otb::put_bytes(b, 2, message.data(), message.size());
  return str(b);
}

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char &c : s) c = static_cast<char>(rng());
  return s;
}

std::string gunzip(const std::string &in) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[65536];
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef *>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof buf - zs.avail_out);
  } while (rc == Z_OK);
  EXPECT_EQ(rc, Z_STREAM_END);
  EXPECT_EQ(zs.avail_in, 0u);
  inflateEnd(&zs);
  return out;
}

// A port nobody listens on: bound, then closed.
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

int open_fds() {
  int n = 0;
  if (DIR *d = opendir("/proc/self/fd")) {
    while (readdir(d)) n++;
    closedir(d);
  }
  return n;
}

}  // namespace

TEST(HttpGzip, RoundTripsAndReusesItsBuffer) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{1000}, size_t{3} << 20}) {
    std::string in = random_bytes(n / 2, 7) + std::string(n - n / 2, 'a');
    Buf out;
    ASSERT_TRUE(otb::gzip_compress(reinterpret_cast<const uint8_t *>(in.data()), in.size(), out));
    ASSERT_GE(out.size(), 18u);  // gzip header + trailer
    EXPECT_EQ(out.data()[0], 0x1f);
    EXPECT_EQ(out.data()[1], 0x8b);
    EXPECT_EQ(gunzip(str(out)), in);
    // A second call replaces the contents.
    ASSERT_TRUE(otb::gzip_compress(reinterpret_cast<const uint8_t *>(in.data()), in.size(), out));
    EXPECT_EQ(gunzip(str(out)), in);
  }
}

TEST(HttpTransport, PostsTheBodyByteExactWithPathAndHeaders) {
  FakeServer server([](const Request &) { return ok_reply(); });
  auto t = make(config(server.url()));
  ASSERT_TRUE(t);
  std::string body = random_bytes(300000, 1);  // binary, with NULs, over curl's buffer size
  body[0] = '\0';
  TransportResult r = send(*t, body, in_ms(5000));
  EXPECT_EQ(r.kind, TransportResult::kOk) << r.error;
  EXPECT_EQ(r.rejected, 0);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  const Request &q = reqs[0];
  EXPECT_EQ(q.method, "POST");
  EXPECT_EQ(q.target, "/v1/logs");
  EXPECT_EQ(q.version, "HTTP/1.1");
  EXPECT_EQ(q.header("content-type"), "application/x-protobuf");
  EXPECT_FALSE(q.has_header("content-encoding"));
  EXPECT_FALSE(q.has_header("expect"));
  EXPECT_EQ(q.header("content-length"), std::to_string(body.size()));
  EXPECT_EQ(q.header("x-api-key"), kSecret);
  EXPECT_EQ(q.header("x-tenant"), "tenant-a");
  EXPECT_EQ(q.header("user-agent").rfind("otelbridge/", 0), 0u) << q.header("user-agent");
  EXPECT_EQ(q.header("host"), "127.0.0.1:" + std::to_string(server.port()));
  ASSERT_EQ(q.body.size(), body.size());
  EXPECT_TRUE(q.body == body);
}

TEST(HttpTransport, JsonBodyGoesOutAsApplicationJson) {
  FakeServer server([](const Request &) {
    Reply r;
    r.body = "{}";
    r.headers = {"Content-Type: application/json"};
    return r;
  });
  auto t = make(config(server.url("/v1/traces"), OtlpProtocol::kHttpJson));
  ASSERT_TRUE(t);
  std::string body = R"({"resourceSpans":[]})";
  TransportResult r = send(*t, body, in_ms(5000));
  EXPECT_EQ(r.kind, TransportResult::kOk) << r.error;
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/v1/traces");
  EXPECT_EQ(reqs[0].header("content-type"), "application/json");
  EXPECT_EQ(reqs[0].body, body);
}

TEST(HttpTransport, EmptyHeaderValueIsSentEmptyAndFramingHeadersCannotBeOverridden) {
  FakeServer server([](const Request &) { return ok_reply(); });
  OtlpSignalConfig c = config(server.url());
  c.headers.push_back({"X-Empty", ""});
  c.headers.push_back({"Content-Type", "text/plain"});
  auto t = make(c);
  ASSERT_TRUE(t);
  EXPECT_EQ(send(*t, "abc", in_ms(5000)).kind, TransportResult::kOk);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_TRUE(reqs[0].has_header("x-empty"));
  EXPECT_EQ(reqs[0].header("x-empty"), "");
  EXPECT_EQ(reqs[0].header("content-type"), "application/x-protobuf");
}

TEST(HttpTransport, GzipBodyInflatesToTheOriginal) {
  FakeServer server([](const Request &) { return ok_reply(); });
  OtlpSignalConfig c = config(server.url());
  c.gzip = true;
  auto t = make(c);
  ASSERT_TRUE(t);
  for (int i = 0; i < 3; i++) {  // the compression buffer is reused across sends
    std::string body = random_bytes(1000, 2) + std::string(200000 + i, 'x');
    TransportResult r = send(*t, body, in_ms(5000));
    ASSERT_EQ(r.kind, TransportResult::kOk) << r.error;
    auto reqs = server.requests();
    ASSERT_EQ(reqs.size(), size_t(i + 1));
    const Request &q = reqs.back();
    EXPECT_EQ(q.header("content-encoding"), "gzip");
    EXPECT_EQ(q.header("content-type"), "application/x-protobuf");
    EXPECT_LT(q.body.size(), body.size() / 10);
    EXPECT_TRUE(gunzip(q.body) == body);
  }
}

TEST(HttpTransport, KeepAliveReusesOneConnection) {
  FakeServer server([](const Request &) { return ok_reply(); });
  auto t = make(config(server.url()));
  ASSERT_TRUE(t);
  for (int i = 0; i < 5; i++)
    EXPECT_EQ(send(*t, "record " + std::to_string(i), in_ms(5000)).kind, TransportResult::kOk);
  EXPECT_EQ(server.requests().size(), 5u);
  EXPECT_EQ(server.accepted(), 1);
}

TEST(HttpTransport, PartialSuccessIsOkWithRejectedAndMessage) {
  Buf b;  // ExportLogsServiceResponse{partial_success{rejected_log_records: 3, error_message}}
  size_t ps = otb::msg_begin(b, 1);
  otb::put_tag(b, 1, otb::kVarint);
  otb::put_varint(b, 3);
  std::string msg = "3 records were too old";
  otb::put_bytes(b, 2, msg.data(), msg.size());
  otb::msg_end(b, ps);
  std::string resp = str(b);
  FakeServer server([resp](const Request &) {
    Reply r;
    r.body = resp;
    r.headers = {"Content-Type: application/x-protobuf"};
    return r;
  });
  auto t = make(config(server.url()));
  ASSERT_TRUE(t);
  TransportResult r = send(*t, "x", in_ms(5000));
  EXPECT_EQ(r.kind, TransportResult::kOk) << r.error;
  EXPECT_EQ(r.rejected, 3);
  EXPECT_EQ(r.partial_message, msg);
}

TEST(HttpTransport, JsonPartialSuccess) {
  FakeServer server([](const Request &) {
    Reply r;
    r.body = R"({"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"dropped two"}})";
    r.headers = {"Content-Type: application/json"};
    return r;
  });
  auto t = make(config(server.url(), OtlpProtocol::kHttpJson));
  ASSERT_TRUE(t);
  TransportResult r = send(*t, "{}", in_ms(5000));
  EXPECT_EQ(r.kind, TransportResult::kOk) << r.error;
  EXPECT_EQ(r.rejected, 2);
  EXPECT_EQ(r.partial_message, "dropped two");
}

TEST(HttpTransport, BadRequestIsPermanentWithTheStatusMessage) {
  std::string status = rpc_status(3, "field severity_number out of range");
  FakeServer server(always(reply(400, {"Content-Type: application/x-protobuf"}, status)));
  auto t = make(config(server.url()));
  ASSERT_TRUE(t);
  TransportResult r = send(*t, "x", in_ms(5000));
  EXPECT_EQ(r.kind, TransportResult::kPermanent);
  EXPECT_NE(r.error.find("HTTP 400"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("field severity_number out of range"), std::string::npos) << r.error;
}

TEST(HttpTransport, JsonErrorBodyMessage) {
  FakeServer server(always(reply(400, {"Content-Type: application/json"},
                                 R"({"code":3,"message":"unknown field \"bogus\""})")));
  auto t = make(config(server.url(), OtlpProtocol::kHttpJson));
  ASSERT_TRUE(t);
  TransportResult r = send(*t, "{}", in_ms(5000));
  EXPECT_EQ(r.kind, TransportResult::kPermanent);
  EXPECT_NE(r.error.find("HTTP 400"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("unknown field"), std::string::npos) << r.error;
}

TEST(HttpTransport, ServerEchoingTheTokenDoesNotLeakIt) {
  std::string status = rpc_status(16, std::string("invalid api key ") + kSecret + "\nretry later");
  FakeServer server(always(reply(401, {}, status)));
  auto t = make(config(server.url()));
  ASSERT_TRUE(t);
  TransportResult r = send(*t, "x", in_ms(5000));  // send() checks the error for the secret
  EXPECT_EQ(r.kind, TransportResult::kPermanent);
  EXPECT_NE(r.error.find("HTTP 401"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("invalid api key"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find('\n'), std::string::npos) << r.error;  // one line
}

TEST(HttpTransport, ServiceUnavailableWithRetryAfterSeconds) {
  FakeServer server(always(reply(503, {"Retry-After: 3"})));
  auto t = make(config(server.url()));
  ASSERT_TRUE(t);
  TransportResult r = send(*t, "x", in_ms(5000));
  EXPECT_EQ(r.kind, TransportResult::kRetryable) << r.error;
  EXPECT_EQ(r.retry_after_ms, 3000);
  EXPECT_NE(r.error.find("HTTP 503"), std::string::npos) << r.error;
}

TEST(HttpTransport, TooManyRequestsWithRetryAfterDate) {
  FakeServer server([](const Request &) {
    time_t when = time(nullptr) + 5;
    struct tm tm;
    gmtime_r(&when, &tm);
    char date[64];
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    Reply r;
    r.status = 429;
    r.headers = {std::string("retry-after: ") + date};
    return r;
  });
  auto t = make(config(server.url()));
  ASSERT_TRUE(t);
  TransportResult r = send(*t, "x", in_ms(5000));
  EXPECT_EQ(r.kind, TransportResult::kRetryable) << r.error;
  EXPECT_GE(r.retry_after_ms, 3000);
  EXPECT_LE(r.retry_after_ms, 6000);
}

TEST(HttpTransport, RetryableStatusesWithoutRetryAfter) {
  for (int status : {429, 502, 503, 504}) {
    FakeServer server(always(reply(status)));
    auto t = make(config(server.url()));
    ASSERT_TRUE(t);
    TransportResult r = send(*t, "x", in_ms(5000));
    EXPECT_EQ(r.kind, TransportResult::kRetryable) << status;
    EXPECT_EQ(r.retry_after_ms, -1) << status;
  }
}

TEST(HttpTransport, OtherErrorStatusesArePermanent) {
  for (int status : {500, 501, 400, 401, 403, 404, 413}) {
    FakeServer server(always(reply(status)));
    auto t = make(config(server.url()));
    ASSERT_TRUE(t);
    TransportResult r = send(*t, "x", in_ms(5000));
    EXPECT_EQ(r.kind, TransportResult::kPermanent) << status;
    EXPECT_EQ(r.error, "HTTP " + std::to_string(status));
  }
}

TEST(HttpTransport, ConnectionRefusedIsRetryable) {
  auto t = make(config("http://127.0.0.1:" + std::to_string(closed_port()) + "/v1/logs"));
  ASSERT_TRUE(t);
  auto start = std::chrono::steady_clock::now();
  TransportResult r = send(*t, "x", in_ms(5000));
  EXPECT_EQ(r.kind, TransportResult::kRetryable) << r.error;
  EXPECT_FALSE(r.error.empty());
  EXPECT_LT(elapsed_ms(start), 2000);
}

TEST(HttpTransport, ServerThatNeverAnswersEndsAtTheDeadline) {
  FakeServer server([](const Request &) {
    Reply r;
    r.mode = Reply::kHang;
    return r;
  });
  auto t = make(config(server.url()));
  ASSERT_TRUE(t);
  auto start = std::chrono::steady_clock::now();
  TransportResult r = send(*t, "x", in_ms(800));
  int64_t ms = elapsed_ms(start);
  EXPECT_EQ(r.kind, TransportResult::kRetryable) << r.error;
  EXPECT_GE(ms, 700);
  EXPECT_LE(ms, 800 + 500);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(HttpTransport, PastDeadlineSendsNothing) {
  FakeServer server([](const Request &) { return ok_reply(); });
  auto t = make(config(server.url()));
  ASSERT_TRUE(t);
  TransportResult r = send(*t, "x", otb::mono_nano() - 1);
  EXPECT_EQ(r.kind, TransportResult::kRetryable);
  EXPECT_EQ(r.error, "deadline exceeded");
  EXPECT_EQ(server.accepted(), 0);
}

TEST(HttpTransport, CancelFromAnotherThreadEndsAHungSendPromptly) {
  FakeServer server([](const Request &) {
    Reply r;
    r.mode = Reply::kHang;
    return r;
  });
  auto t = make(config(server.url()));
  ASSERT_TRUE(t);
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    t->cancel();
  });
  auto start = std::chrono::steady_clock::now();
  TransportResult r = send(*t, "x", in_ms(30000));
  int64_t ms = elapsed_ms(start);
  canceller.join();
  EXPECT_EQ(r.kind, TransportResult::kPermanent);
  EXPECT_EQ(r.error, "cancelled");
  EXPECT_GE(ms, 250);
  EXPECT_LT(ms, 300 + 200);
  // Later sends fail fast without touching the network.
  start = std::chrono::steady_clock::now();
  r = send(*t, "x", in_ms(30000));
  EXPECT_EQ(r.kind, TransportResult::kPermanent);
  EXPECT_EQ(r.error, "cancelled");
  EXPECT_LT(elapsed_ms(start), 50);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(HttpTransport, ResponseOverFourMiBIsNotReadPastTheCap) {
  const size_t kHuge = size_t{256} << 20;
  FakeServer server([kHuge](const Request &) {
    Reply r;
    r.mode = Reply::kHuge;
    r.huge_size = kHuge;
    return r;
  });
  auto t = make(config(server.url()));
  ASSERT_TRUE(t);
  TransportResult r = send(*t, "x", in_ms(10000));
  EXPECT_EQ(r.kind, TransportResult::kPermanent);
  EXPECT_NE(r.error.find("response too large"), std::string::npos) << r.error;
  // The client hung up: the server's writes failed long before the end of the body (what it got
  // out is the 4 MiB plus whatever the socket buffers took).
  for (int i = 0; i < 500 && !server.huge_done(); i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(server.huge_done());
  EXPECT_LT(server.huge_sent(), size_t{64} << 20);
}

TEST(HttpTransport, OversizedRetryableResponseStaysRetryable) {
  FakeServer server([](const Request &) {
    Reply r;
    r.status = 503;
    r.mode = Reply::kHuge;
    r.huge_size = size_t{8} << 20;
    r.headers = {"Retry-After: 2"};
    return r;
  });
  auto t = make(config(server.url()));
  ASSERT_TRUE(t);
  TransportResult r = send(*t, "x", in_ms(10000));
  EXPECT_EQ(r.kind, TransportResult::kRetryable) << r.error;
  EXPECT_EQ(r.retry_after_ms, 2000);
}

TEST(HttpTransport, AfterAnAbortedTransferTheNextSendReconnects) {
  std::atomic<int> n{0};
  FakeServer server([&n](const Request &) {
    Reply r;
    if (n++ == 0) {
      r.mode = Reply::kHuge;
      r.huge_size = size_t{8} << 20;
    }
    return r;
  });
  auto t = make(config(server.url()));
  ASSERT_TRUE(t);
  EXPECT_EQ(send(*t, "x", in_ms(10000)).kind, TransportResult::kPermanent);
  EXPECT_EQ(send(*t, "y", in_ms(10000)).kind, TransportResult::kOk);
  EXPECT_EQ(server.accepted(), 2);
}

TEST(HttpTransport, TlsHandshakeFailureIsPermanentAndNamesTls) {
  // An https URL pointing at something that is not TLS: no plaintext fallback, a TLS error.
  FakeServer server([](const Request &) { return ok_reply(); });
  server.set_raw_answer("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  auto t = make(config("https://127.0.0.1:" + std::to_string(server.port()) + "/v1/logs"));
  ASSERT_TRUE(t);
  TransportResult r = send(*t, "x", in_ms(5000));
  EXPECT_EQ(r.kind, TransportResult::kPermanent);
  EXPECT_EQ(r.error.rfind("TLS: ", 0), 0u) << r.error;
  EXPECT_TRUE(server.requests().empty());
}

TEST(HttpTransport, ConfigurationErrors) {
  std::string err;
  OtlpSignalConfig c = config("http://127.0.0.1:4318/v1/logs");
  c.ca_file = "/nonexistent/ca.pem";
  EXPECT_FALSE(otb::make_http_transport(c, &err));
  EXPECT_NE(err.find("/nonexistent/ca.pem"), std::string::npos) << err;

  c = config("https://127.0.0.1:4318/v1/logs");
  c.client_cert_file = "/nonexistent/client.pem";
  err.clear();
  EXPECT_FALSE(otb::make_http_transport(c, &err));
  EXPECT_NE(err.find("client certificate"), std::string::npos) << err;

  c = config("ftp://127.0.0.1/v1/logs");
  err.clear();
  EXPECT_FALSE(otb::make_http_transport(c, &err));
  EXPECT_NE(err.find("scheme"), std::string::npos) << err;

  c = config("http://127.0.0.1:4318/v1/logs");
  c.headers.push_back({"x-bad", std::string(kSecret) + "\r\nInjected: 1"});
  err.clear();
  EXPECT_FALSE(otb::make_http_transport(c, &err));
  EXPECT_NE(err.find("x-bad"), std::string::npos) << err;
  EXPECT_EQ(err.find(kSecret), std::string::npos) << err;

  c = config("http://127.0.0.1:4318/v1/logs");
  c.headers.push_back({"bad name", "v"});
  err.clear();
  EXPECT_FALSE(otb::make_http_transport(c, &err));
  EXPECT_FALSE(err.empty());
}

TEST(HttpTransport, DestroyingTheTransportClosesItsConnectionAndHandles) {
  FakeServer server([](const Request &) { return ok_reply(); });
  int before = open_fds();
  {
    auto t = make(config(server.url()));
    ASSERT_TRUE(t);
    for (int i = 0; i < 3; i++) EXPECT_EQ(send(*t, "x", in_ms(5000)).kind, TransportResult::kOk);
    EXPECT_GT(open_fds(), before);
  }
  // The server closes its end once it sees ours close: give it a moment.
  for (int i = 0; i < 100 && open_fds() != before; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(open_fds(), before);
}

TEST(HttpTransport, AbandonAfterForkClosesSocketsWithoutIo) {
  FakeServer server([](const Request &) { return ok_reply(); });
  auto t = make(config(server.url()));
  ASSERT_TRUE(t);
  ASSERT_EQ(send(*t, "x", in_ms(5000)).kind, TransportResult::kOk);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int before = open_fds();
    t->abandon_after_fork();
    int after = open_fds();  // the child's copy of the kept-alive connection is closed
    TransportResult r = t->send(reinterpret_cast<const uint8_t *>("x"), 1, in_ms(1000));
    t.reset();  // destroying an abandoned transport touches nothing of the parent's
    _exit(r.kind != TransportResult::kPermanent ? 1 : after != before - 1 ? 2 : 0);
  }
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0);
  // The parent's connection is untouched and still reused.
  EXPECT_EQ(send(*t, "y", in_ms(5000)).kind, TransportResult::kOk);
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(server.requests().size(), 2u);
}

// ---- TLS, against `openssl s_server` with certificates made for the test ----

namespace {

struct TlsFiles {
  std::string dir, ca, server_cert, server_key, client_cert, client_key;
  ~TlsFiles() {
    if (!dir.empty()) std::system(("rm -rf '" + dir + "'").c_str());
  }
};

// A CA, a server certificate for 127.0.0.1 and a client certificate, made once per process with
// the openssl tool; nullptr when it is not installed.
const TlsFiles *tls_files() {
  static TlsFiles f;
  static bool ok = [] {
    if (std::system("command -v openssl >/dev/null 2>&1") != 0) return false;
    char tmpl[] = "/tmp/otb-http-tls-XXXXXX";
    if (!mkdtemp(tmpl)) return false;
    f.dir = tmpl;
    f.ca = f.dir + "/ca.pem";
    f.server_cert = f.dir + "/server.pem";
    f.server_key = f.dir + "/server.key";
    f.client_cert = f.dir + "/client.pem";
    f.client_key = f.dir + "/client.key";
    std::string d = "'" + f.dir + "'";
    std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
    std::string cmd =
        "cd " + d + " && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.cnf" +
        " && openssl req -x509" + ec + "-keyout ca.key -out ca.pem -days 2 -subj /CN=otb-test-ca" +
        " && openssl req" + ec + "-keyout server.key -out server.csr -subj /CN=localhost" +
        " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial" +
        " -out server.pem -days 2 -extfile san.cnf" + " && openssl req" + ec +
        "-keyout client.key -out client.csr -subj /CN=otb-client" +
        " && openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial" +
        " -out client.pem -days 2";
    return std::system(("(" + cmd + ") >/dev/null 2>&1").c_str()) == 0;
  }();
  return ok ? &f : nullptr;
}

// `openssl s_server` on 127.0.0.1 (port chosen by the kernel). What the client sends shows up on
// its stdout; what we write to its stdin goes to the client.
class OpenSslServer {
 public:
  explicit OpenSslServer(const TlsFiles &f, bool require_client_cert) {
    std::vector<std::string> args = {
        "openssl",     "s_server", "-accept",    "127.0.0.1:0", "-cert",
        f.server_cert, "-key",     f.server_key, "-naccept",    "1"};
    if (require_client_cert) {
      for (const char *a : {"-Verify", "1", "-CAfile"}) args.push_back(a);
      args.push_back(f.ca);
    }
    std::vector<char *> argv;
    for (std::string &a : args) argv.push_back(&a[0]);
    argv.push_back(nullptr);
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      dup2(out[1], 2);
      execvp("openssl", argv.data());
      _exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    in_ = in[1];
    out_ = out[0];
    // "ACCEPT 127.0.0.1:<port>"
    if (wait_for("ACCEPT 127.0.0.1:", 5000)) {
      size_t at = seen_.find("ACCEPT 127.0.0.1:") + 17;
      while (seen_.find('\n', at) == std::string::npos && wait_for("\n", 5000)) {
      }
      port_ = std::atoi(seen_.c_str() + at);
    }
  }
  ~OpenSslServer() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (in_ >= 0) ::close(in_);
    if (out_ >= 0) ::close(out_);
  }
  int port() const { return port_; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_) + "/v1/logs"; }

  // Waits until `text` has appeared on the server's output.
  bool wait_for(const std::string &text, int timeout_ms) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (seen_.find(text) == std::string::npos) {
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      end - std::chrono::steady_clock::now())
                                      .count());
      if (left <= 0) return false;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, left) <= 0) continue;
      char buf[4096];
      ssize_t n = ::read(out_, buf, sizeof buf);
      if (n <= 0) return false;
      seen_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  void answer(const std::string &raw) {
    EXPECT_EQ(::write(in_, raw.data(), raw.size()), ssize_t(raw.size()));
  }
  const std::string &output() const { return seen_; }

 private:
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, port_ = 0;
  std::string seen_;
};

// One send to the s_server; when the request arrives, the server answers 200.
TransportResult tls_exchange(OpenSslServer &server, const OtlpSignalConfig &c, bool *arrived) {
  auto t = make(c);
  if (!t) return TransportResult();
  const std::string marker = "tls-request-body-marker";
  TransportResult r;
  std::thread sender([&] { r = send(*t, marker, in_ms(5000)); });
  *arrived = server.wait_for(marker, 5000);
  if (*arrived) server.answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  sender.join();
  return r;
}

}  // namespace

TEST(HttpTransportTls, VerifiesTheServerWithTheConfiguredCa) {
  const TlsFiles *f = tls_files();
  if (!f) GTEST_SKIP() << "openssl tool not available";
  OpenSslServer server(*f, false);
  ASSERT_GT(server.port(), 0) << server.output();
  OtlpSignalConfig c = config(server.url());
  c.ca_file = f->ca;
  bool arrived = false;
  TransportResult r = tls_exchange(server, c, &arrived);
  EXPECT_TRUE(arrived) << server.output();
  EXPECT_EQ(r.kind, TransportResult::kOk) << r.error;
  // The request went over TLS, and the server got our headers.
  EXPECT_NE(server.output().find("POST /v1/logs HTTP/1.1"), std::string::npos);
  EXPECT_NE(server.output().find(kSecret), std::string::npos);
}

TEST(HttpTransportTls, UnknownServerCertificateIsAPermanentTlsError) {
  const TlsFiles *f = tls_files();
  if (!f) GTEST_SKIP() << "openssl tool not available";
  OpenSslServer server(*f, false);
  ASSERT_GT(server.port(), 0) << server.output();
  bool arrived = false;
  TransportResult r = tls_exchange(server, config(server.url()), &arrived);  // system CAs only
  EXPECT_FALSE(arrived);
  EXPECT_EQ(r.kind, TransportResult::kPermanent);
  EXPECT_EQ(r.error.rfind("TLS: certificate verify failed", 0), 0u) << r.error;
}

TEST(HttpTransportTls, MutualTls) {
  const TlsFiles *f = tls_files();
  if (!f) GTEST_SKIP() << "openssl tool not available";
  {
    OpenSslServer server(*f, true);
    ASSERT_GT(server.port(), 0) << server.output();
    OtlpSignalConfig c = config(server.url());
    c.ca_file = f->ca;
    c.client_cert_file = f->client_cert;
    c.client_key_file = f->client_key;
    bool arrived = false;
    TransportResult r = tls_exchange(server, c, &arrived);
    EXPECT_TRUE(arrived) << server.output();
    EXPECT_EQ(r.kind, TransportResult::kOk) << r.error;
  }
  {
    OpenSslServer server(*f, true);  // the same server, but we have no client certificate
    ASSERT_GT(server.port(), 0) << server.output();
    OtlpSignalConfig c = config(server.url());
    c.ca_file = f->ca;
    bool arrived = false;
    TransportResult r = tls_exchange(server, c, &arrived);
    EXPECT_FALSE(arrived);
    EXPECT_EQ(r.kind, TransportResult::kPermanent) << r.error;
    EXPECT_EQ(r.error.rfind("TLS: ", 0), 0u) << r.error;
  }
}
