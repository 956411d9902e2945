// OTLP configuration rules, response decoding and the retry policy (driven by a scripted
// transport; the real Collector receiver is exercised by tests/python/test_otlp_*.py).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <deque>

#include "encode.h"
#include "otlp.h"
#include "test_helpers.h"

using namespace otb;
using Clock = std::chrono::steady_clock;

namespace {

OtlpSignalConfig resolve(Signal sig, std::vector<std::pair<std::string, std::string>> kv,
                         std::string *err = nullptr) {
  CodeConfig c;
  std::string e;
  for (auto &p : kv) EXPECT_EQ(config_set(c, p.first, p.second, &e), OTEL_OK) << e;
  Settings s = resolve_settings(&c, nullptr);
  OtlpSignalConfig oc;
  std::string why;
  bool ok = resolve_otlp(s, sig, &oc, &why);
  if (err) *err = ok ? "" : why;
  return oc;
}

}  // namespace

TEST(OtlpConfig, HttpEndpointRules) {
  auto c = resolve(Signal::kLogs, {});
  EXPECT_EQ(c.protocol, OtlpProtocol::kHttpProtobuf) << "default protocol is http/protobuf";
  EXPECT_EQ(c.url, "http://localhost:4318/v1/logs");
  EXPECT_EQ(c.timeout_ms, 10000u);
  c = resolve(Signal::kTraces, {{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318/base"}});
  EXPECT_EQ(c.url, "https://collector:4318/base/v1/traces") << "base URL + '/' + v1/<signal>";
  EXPECT_TRUE(c.tls);
  c = resolve(Signal::kLogs, {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/"}});
  EXPECT_EQ(c.url, "http://c:4318/v1/logs") << "no doubled slash";
  c = resolve(Signal::kLogs,
              {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"},
               {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://special:9999/custom/path"}});
  EXPECT_EQ(c.url, "http://special:9999/custom/path") << "a per-signal endpoint is used as given";
  std::string err;
  resolve(Signal::kLogs, {{"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"}}, &err);
  EXPECT_NE(err.find("http://"), std::string::npos);
}

TEST(OtlpConfig, GrpcSchemeDecidesTls) {
  auto c = resolve(Signal::kLogs, {{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}});
  EXPECT_EQ(c.grpc_target, "localhost:4317");
  EXPECT_FALSE(c.tls);
  c = resolve(Signal::kLogs, {{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
                              {"OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4317"},
                              {"OTEL_EXPORTER_OTLP_INSECURE", "true"}});
  EXPECT_TRUE(c.tls) << "https means TLS whatever INSECURE says";
  c = resolve(Signal::kLogs, {{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
                              {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"}});
  EXPECT_FALSE(c.tls);
  c = resolve(Signal::kLogs,
              {{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}, {"OTEL_EXPORTER_OTLP_ENDPOINT", "c:4317"}});
  EXPECT_TRUE(c.tls) << "no scheme and not insecure: TLS";
  EXPECT_EQ(c.grpc_target, "c:4317");
  c = resolve(Signal::kLogs, {{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
                              {"OTEL_EXPORTER_OTLP_ENDPOINT", "c:4317"},
                              {"OTEL_EXPORTER_OTLP_INSECURE", "true"}});
  EXPECT_FALSE(c.tls);
}

TEST(OtlpConfig, PerSignalKeysWinAndHeadersAreDecoded) {
  auto c = resolve(Signal::kLogs,
                   {{"OTEL_EXPORTER_OTLP_TIMEOUT", "5000"},
                    {"OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "1500"},
                    {"OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"},
                    {"OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20abc,x-tenant=t1"}});
  EXPECT_EQ(c.timeout_ms, 1500u) << "milliseconds, per-signal wins";
  EXPECT_TRUE(c.gzip);
  ASSERT_EQ(c.headers.size(), 2u);
  EXPECT_EQ(c.headers[0].second, "Bearer abc");
  auto t = resolve(Signal::kTraces, {{"OTEL_EXPORTER_OTLP_TIMEOUT", "5000"},
                                     {"OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "1500"}});
  EXPECT_EQ(t.timeout_ms, 5000u);
}

TEST(OtlpDecode, PartialSuccessAndRpcStatusWithRetryInfo) {
  Buf resp;
  size_t m = msg_begin(resp, 1);
  put_tag(resp, 1, kVarint);
  put_varint(resp, 7);
  put_string(resp, 2, otel_cstr("7 records too old"));
  msg_end(resp, m);
  int64_t rejected;
  std::string msg;
  ASSERT_TRUE(decode_export_response(resp.data(), resp.size(), &rejected, &msg));
  EXPECT_EQ(rejected, 7);
  EXPECT_EQ(msg, "7 records too old");
  ASSERT_TRUE(decode_export_response(nullptr, 0, &rejected, &msg));
  EXPECT_EQ(rejected, 0) << "an empty response is full success";

  // google.rpc.Status{code 8, message, details [Any{RetryInfo{retry_delay {2s, 500ms}}}]}
  Buf dur, ri, any, st;
  put_tag(dur, 1, kVarint);
  put_varint(dur, 2);
  put_tag(dur, 2, kVarint);
  put_varint(dur, 500000000);
  put_bytes(ri, 1, dur.data(), dur.size());
  put_string(any, 1, otel_cstr("type.googleapis.com/google.rpc.RetryInfo"));
  put_bytes(any, 2, ri.data(), ri.size());
  put_tag(st, 1, kVarint);
  put_varint(st, 8);
  put_string(st, 2, otel_cstr("slow down"));
  put_bytes(st, 3, any.data(), any.size());
  int32_t code;
  int64_t delay;
  ASSERT_TRUE(decode_rpc_status(st.data(), st.size(), &code, &msg, &delay));
  EXPECT_EQ(code, 8);
  EXPECT_EQ(msg, "slow down");
  EXPECT_EQ(delay, 2500);
}

TEST(OtlpDecode, JsonResponsesAndRetryAfter) {
  int64_t rejected;
  std::string msg;
  decode_export_response_json(
      "{\"partialSuccess\":{\"rejectedLogRecords\":\"3\",\"errorMessage\":\"bad \\\"x\\\"\"}}",
      &rejected, &msg);
  EXPECT_EQ(rejected, 3);
  EXPECT_EQ(msg, "bad \"x\"");
  EXPECT_EQ(rpc_status_message_json("{\"code\":3,\"message\":\"invalid body\"}"), "invalid body");
  EXPECT_EQ(parse_retry_after_ms("5", 0), 5000);
  EXPECT_EQ(parse_retry_after_ms(" 0 ", 0), 0);
  EXPECT_EQ(parse_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470), 10000);
  EXPECT_EQ(parse_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", 1445412490), 0)
      << "a date in the past: no wait";
  EXPECT_EQ(parse_retry_after_ms("soon", 0), -1);
  EXPECT_EQ(parse_retry_after_ms("-3", 0), -1);
}

namespace {
// Plays back a script of results and records when each attempt happened.
struct ScriptedTransport : Transport {
  std::deque<TransportResult> script;
  std::vector<Clock::time_point> attempts;
  TransportResult send(const uint8_t *, size_t, uint64_t) override {
    attempts.push_back(Clock::now());
    if (script.empty()) return TransportResult{TransportResult::kOk};
    TransportResult r = script.front();
    script.pop_front();
    return r;
  }
  void cancel() override {}
};
TransportResult res(TransportResult::Kind k, int64_t retry_after = -1, int64_t rejected = 0) {
  TransportResult r;
  r.kind = k;
  r.retry_after_ms = retry_after;
  r.rejected = rejected;
  r.error = "scripted";
  return r;
}
}  // namespace

TEST(OtlpRetry, RetryableThenOkHonoursServerDelay) {
  auto *t = new ScriptedTransport;
  t->script = {res(TransportResult::kRetryable, 300), res(TransportResult::kRetryable, 200)};
  OtlpSignalConfig c;
  c.timeout_ms = 10000;
  auto e = make_otlp_exporter(c, std::unique_ptr<Transport>(t));
  uint8_t req[1] = {0};
  auto r = e->export_request(Signal::kLogs, req, 1, 5, mono_nano() + 10000000000ull);
  EXPECT_TRUE(r.ok);
  ASSERT_EQ(t->attempts.size(), 3u);
  auto gap1 = std::chrono::duration_cast<std::chrono::milliseconds>(t->attempts[1] - t->attempts[0])
                  .count();
  auto gap2 = std::chrono::duration_cast<std::chrono::milliseconds>(t->attempts[2] - t->attempts[1])
                  .count();
  EXPECT_GE(gap1, 300);
  EXPECT_LT(gap1, 600);
  EXPECT_GE(gap2, 200);
}

TEST(OtlpRetry, PermanentIsNotRetriedAndPartialSuccessIsCounted) {
  auto *t = new ScriptedTransport;
  t->script = {res(TransportResult::kPermanent)};
  OtlpSignalConfig c;
  auto e = make_otlp_exporter(c, std::unique_ptr<Transport>(t));
  uint8_t req[1] = {0};
  EXPECT_FALSE(e->export_request(Signal::kLogs, req, 1, 5, mono_nano() + 5000000000ull).ok);
  EXPECT_EQ(t->attempts.size(), 1u);
  t->script = {res(TransportResult::kOk, -1, 2)};
  auto r = e->export_request(Signal::kLogs, req, 1, 5, mono_nano() + 5000000000ull);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.rejected, 2u);
  EXPECT_EQ(t->attempts.size(), 2u) << "partial success is not retried";
}

TEST(OtlpRetry, TheTimeoutBoundsTheWholeExport) {
  auto *t = new ScriptedTransport;
  for (int i = 0; i < 100; i++) t->script.push_back(res(TransportResult::kRetryable));
  OtlpSignalConfig c;
  c.timeout_ms = 1200;  // backoff 1 s (±50%) then 2 s: at most two or three attempts
  auto e = make_otlp_exporter(c, std::unique_ptr<Transport>(t));
  uint8_t req[1] = {0};
  auto t0 = Clock::now();
  EXPECT_FALSE(e->export_request(Signal::kLogs, req, 1, 5, mono_nano() + 60000000000ull).ok);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  EXPECT_LE(ms, 1300) << "gives up instead of sleeping past the deadline";
  EXPECT_GE(t->attempts.size(), 1u);
  EXPECT_LE(t->attempts.size(), 3u);
}

TEST(OtlpRetry, BackoffIsShortenedForALastAttemptBeforeTheDeadline) {
  auto *t = new ScriptedTransport;
  for (int i = 0; i < 100; i++) t->script.push_back(res(TransportResult::kRetryable));
  OtlpSignalConfig c;
  c.timeout_ms = 2500;  // backoffs 1 s (±50%), then 2 s (±50%): the third attempt must still happen
  auto e = make_otlp_exporter(c, std::unique_ptr<Transport>(t));
  uint8_t req[1] = {0};
  auto t0 = Clock::now();
  EXPECT_FALSE(e->export_request(Signal::kLogs, req, 1, 5, mono_nano() + 60000000000ull).ok);
  EXPECT_GE(t->attempts.size(), 3u) << "one last attempt fits before the deadline";
  auto last =
      std::chrono::duration_cast<std::chrono::milliseconds>(t->attempts.back() - t0).count();
  EXPECT_GE(last, 1500) << "the last attempt comes late, close to the deadline";
  EXPECT_LE(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count(), 2600);
}

TEST(OtlpRetry, CancelInterruptsTheBackoff) {
  auto *t = new ScriptedTransport;
  t->script = {res(TransportResult::kRetryable, 20000)};
  OtlpSignalConfig c;
  c.timeout_ms = 60000;
  auto e = make_otlp_exporter(c, std::unique_ptr<Transport>(t));
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    e->cancel();
  });
  uint8_t req[1] = {0};
  auto t0 = Clock::now();
  EXPECT_FALSE(e->export_request(Signal::kLogs, req, 1, 5, mono_nano() + 60000000000ull).ok);
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count(), 2000);
  canceller.join();
}
