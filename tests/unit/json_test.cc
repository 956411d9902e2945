#include <gtest/gtest.h>

#include <cmath>

#include "encode.h"
#include "json.h"
#include "pipeline.h"
#include "test_helpers.h"

using namespace otbtest;

namespace {
// Frames one log record (with the given scope) into a request.
std::string request_with(const otb::LogRecordArgs &a) {
  otb::Buf rec;
  EXPECT_EQ(otb::encode_log_record(rec, a, otb::AttrLimits{}), OTEL_OK);
  otb::Batch b;
  b.bytes.append(rec.data(), rec.size());
  b.entries.push_back({0, static_cast<uint32_t>(rec.size()), 0});
  std::string scope =
                  "\x0a\x03"
                  "svc",
              url;
  std::vector<otb::ScopeBytes> scopes = {{&scope, &url}};
  otb::Buf res, out;
  otb::frame_request(out, res, b, 0, 1, scopes);
  return std::string(reinterpret_cast<const char *>(out.data()), out.size());
}
}  // namespace

TEST(Json, LogRecordFollowsOtlpJsonRules) {
  otel_attr attrs[4] = {{S("i"), otel_value_int(-5)},
                        {S("d"), otel_value_double(INFINITY)},
                        {S("b"), {OTEL_VALUE_BYTES, 0, {}}},
                        {S("q"), otel_value_str(S("a\"\n\x01"))}};
  attrs[2].value.u.bytes = otel_str{"\x00\xff\x10", 3};
  otel_value body = otel_value_str(S("hi"));
  otel_span_context ctx = {};
  for (int i = 0; i < 16; i++) ctx.trace_id[i] = static_cast<uint8_t>(0xA0 + i);
  for (int i = 0; i < 8; i++) ctx.span_id[i] = static_cast<uint8_t>(i + 1);
  ctx.trace_flags = 1;
  otb::LogRecordArgs a{1700000000123456789ull,
                       1700000000123456790ull,
                       17,
                       S("ERROR"),
                       &body,
                       attrs,
                       4,
                       S("evt"),
                       &ctx};
  std::string req = request_with(a), json;
  ASSERT_TRUE(otb::request_to_json(
      otb::Signal::kLogs, reinterpret_cast<const uint8_t *>(req.data()), req.size(), &json));
  EXPECT_EQ(
      json,
      "{\"resourceLogs\":[{\"resource\":{},\"scopeLogs\":[{\"scope\":{\"name\":\"svc\"},"
      "\"logRecords\":[{"
      "\"timeUnixNano\":\"1700000000123456789\",\"observedTimeUnixNano\":\"1700000000123456790\","
      "\"severityNumber\":17,\"severityText\":\"ERROR\",\"body\":{\"stringValue\":\"hi\"},"
      "\"attributes\":[{\"key\":\"i\",\"value\":{\"intValue\":\"-5\"}},"
      "{\"key\":\"d\",\"value\":{\"doubleValue\":\"Infinity\"}},"
      "{\"key\":\"b\",\"value\":{\"bytesValue\":\"AP8Q\"}},"
      "{\"key\":\"q\",\"value\":{\"stringValue\":\"a\\\"\\n\\u0001\"}}],"
      "\"flags\":1,\"traceId\":\"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\",\"spanId\":"
      "\"0102030405060708\","
      "\"eventName\":\"evt\"}]}]}]}");
}

TEST(Json, ConsoleLineIsReadable) {
  otel_attr kv[2] = {{S("sku"), otel_value_str(S("A-42"))}, {S("qty"), otel_value_int(3)}};
  otel_value body;
  body.type = OTEL_VALUE_MAP;
  body.u.map = {kv, 2};
  otb::LogRecordArgs a{1700000000000000000ull, 0, 13, S(""), &body, kv, 1, S(""), nullptr};
  std::string req = request_with(a), text;
  ASSERT_TRUE(otb::request_to_console(
      otb::Signal::kLogs, reinterpret_cast<const uint8_t *>(req.data()), req.size(), &text));
  EXPECT_EQ(text,
            "2023-11-14T22:13:20.000000000Z WARN [svc] {sku=\"A-42\", qty=3} {sku=\"A-42\"}\n");
}

TEST(Json, MalformedBytesAreRefusedNotRead) {
  std::string junk = "\x0a\xff\xff\xff\x0f";
  std::string out;
  EXPECT_FALSE(otb::request_to_json(
      otb::Signal::kLogs, reinterpret_cast<const uint8_t *>(junk.data()), junk.size(), &out));
  EXPECT_FALSE(otb::request_to_console(
      otb::Signal::kLogs, reinterpret_cast<const uint8_t *>(junk.data()), junk.size(), &out));
}
