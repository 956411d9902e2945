#include <gtest/gtest.h>

#include <climits>
#include <cmath>

#include "encode.h"
#include "test_helpers.h"

using namespace otbtest;
using otb::Buf;

static std::string str(const Buf &b) { return std::string(reinterpret_cast<const char *>(b.data()), b.size()); }

TEST(Encode, VarintsAndLongMessages) {
  Buf b;
  otb::put_varint(b, 300);
  EXPECT_EQ(str(b), std::string("\xac\x02"));
  // A nested message longer than 127 bytes needs a two-byte length: msg_end moves the body.
  b.clear();
  size_t m = otb::msg_begin(b, 2);
  std::string payload(1000, 'x');
  otb::put_bytes(b, 1, payload.data(), payload.size());
  otb::msg_end(b, m);
  auto f = pb_fields(str(b));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].num, 2u);
  EXPECT_EQ(pb_one(f[0].bytes, 1), payload);
}

TEST(Encode, AnyValueKeepsPresenceOfZeroValues) {
  Buf b;
  otel_value zero = otel_value_int(0), f = otel_value_bool(0);
  ASSERT_EQ(otb::put_any_value(b, 5, zero, SIZE_MAX), OTEL_OK);
  auto v = pb_fields(pb_one(str(b), 5));
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].num, 3u);
  EXPECT_EQ(v[0].u, 0u);
  b.clear();
  ASSERT_EQ(otb::put_any_value(b, 5, f, SIZE_MAX), OTEL_OK);
  v = pb_fields(pb_one(str(b), 5));
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].num, 2u);
}

TEST(Encode, ExtremeNumbers) {
  Buf b;
  ASSERT_EQ(otb::put_any_value(b, 5, otel_value_int(INT64_MIN), SIZE_MAX), OTEL_OK);
  auto v = pb_fields(pb_one(str(b), 5));
  EXPECT_EQ(static_cast<int64_t>(v[0].u), INT64_MIN);
  b.clear();
  ASSERT_EQ(otb::put_any_value(b, 5, otel_value_double(NAN), SIZE_MAX), OTEL_OK);
  v = pb_fields(pb_one(str(b), 5));
  double d;
  memcpy(&d, &v[0].u, 8);
  EXPECT_TRUE(std::isnan(d));
}

TEST(Encode, AttributeLimitsDuplicatesAndEmptyKeys) {
  otel_attr a[6] = {{S("a"), otel_value_int(1)}, {S(""), otel_value_int(2)},
                    {S("b"), otel_value_str(S("long value here"))}, {S("a"), otel_value_int(3)},
                    {S("c"), otel_value_int(4)}, {S("d"), otel_value_int(5)}};
  otb::AttrLimits lim;
  lim.count = 2;
  lim.value_chars = 4;
  Buf b;
  uint32_t dropped = 0;
  ASSERT_EQ(otb::put_attributes(b, 6, a, 6, lim, &dropped), OTEL_OK);
  auto kvs = pb_all(str(b), 6);
  ASSERT_EQ(kvs.size(), 2u);
  EXPECT_EQ(pb_one(kvs[0], 1), "a");
  EXPECT_EQ(pb_fields(pb_one(kvs[0], 2))[0].u, 3u) << "a repeated key keeps the last value";
  EXPECT_EQ(pb_one(kvs[1], 1), "b");
  EXPECT_EQ(pb_one(pb_one(kvs[1], 2), 1), "long") << "string values are cut to the limit";
  EXPECT_EQ(dropped, 3u) << "the empty key, c and d";
}

TEST(Encode, NestingDepthIsBounded) {
  std::vector<otel_value> chain(OTEL_MAX_VALUE_DEPTH + 2);
  chain.back() = otel_value_int(1);
  for (size_t i = chain.size() - 1; i-- > 0;) {
    chain[i].type = OTEL_VALUE_ARRAY;
    chain[i].u.array.items = &chain[i + 1];
    chain[i].u.array.len = 1;
  }
  Buf b;
  // OTEL_MAX_VALUE_DEPTH containers are fine, one more is not.
  EXPECT_EQ(otb::put_any_value(b, 5, chain[2], SIZE_MAX), OTEL_OK);
  EXPECT_EQ(otb::put_any_value(b, 5, chain[1], SIZE_MAX), OTEL_OK);
  EXPECT_EQ(otb::put_any_value(b, 5, chain[0], SIZE_MAX), OTEL_E_INVALID_ARG);
}

TEST(Encode, BadPointersAreRejected) {
  Buf b;
  otel_value v = otel_value_str(otel_str{nullptr, 5});
  EXPECT_EQ(otb::put_any_value(b, 5, v, SIZE_MAX), OTEL_E_INVALID_ARG);
  v.type = OTEL_VALUE_ARRAY;
  v.u.array = {nullptr, 3};
  EXPECT_EQ(otb::put_any_value(b, 5, v, SIZE_MAX), OTEL_E_INVALID_ARG);
  v.type = 99;
  EXPECT_EQ(otb::put_any_value(b, 5, v, SIZE_MAX), OTEL_E_INVALID_ARG);
}

TEST(Encode, RecordOverTheLimitIsTooLarge) {
  Buf b;
  b.set_limit(1000);
  std::string big(5000, 'x');
  otel_value body = otel_value_str(S(big));
  otb::LogRecordArgs a{1, 1, 9, S("INFO"), &body, nullptr, 0, S(""), nullptr};
  EXPECT_EQ(otb::encode_log_record(b, a, otb::AttrLimits{}), OTEL_E_TOO_LARGE);
  EXPECT_LE(b.capacity(), 1000u) << "the buffer never grows past its limit";
}
