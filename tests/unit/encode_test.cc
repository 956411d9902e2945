#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "encode.h"
#include "encode_reference.h"
#include "test_helpers.h"

using namespace otbtest;
using otb::Buf;

static std::string str(const Buf &b) {
  return std::string(reinterpret_cast<const char *>(b.data()), b.size());
}

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
  otel_attr a[6] = {{S("a"), otel_value_int(1)},
                    {S(""), otel_value_int(2)},
                    {S("b"), otel_value_str(S("long value here"))},
                    {S("a"), otel_value_int(3)},
                    {S("c"), otel_value_int(4)},
                    {S("d"), otel_value_int(5)}};
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

// ---- the optimised encoder against the reference (tests/unit/encode_reference.h) ----

namespace {

// Random inputs for the encoders: keys from a small pool (so keys repeat), strings that are
// ASCII, multi-byte, invalid, or long enough to need multi-byte lengths, every value type, nested
// arrays and maps (sometimes past the depth limit), and now and then a bad pointer. Everything a
// generated value points to lives as long as the generator.
class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}

  size_t below(size_t n) { return static_cast<size_t>(rng_() % n); }
  bool one_in(size_t n) { return below(n) == 0; }

  otel_str str() {
    static const char *const kPieces[] = {
        "a",         "GET",  "http.method",     "u-12345",      "héllo",    "日本語",
        "🎉",         "\xff", "\xc0\xaf",        "\xed\xa0\x80", "\xe6\x97", "\xf4\x90\x80\x80",
        "x\xe2\x9c", " ",    "0123456789abcdef"};
    switch (below(10)) {
      case 0:
        return otel_str{nullptr, 0};
      case 1: {  // long: lengths of two or three varint bytes
        std::string s(100 + below(20000), 'x');
        for (int i = 0; i < 3; i++) s[below(s.size())] = static_cast<char>(0x80 + below(0x80));
        if (one_in(2)) s = std::string(s.size(), 'y');
        return keep(s);
      }
      default: {
        std::string s;
        for (size_t i = below(6); i > 0; i--) s += kPieces[below(sizeof kPieces / sizeof *kPieces)];
        if (one_in(4)) s += std::string(below(140), 'z');  // around the one-byte length boundary
        return keep(s);
      }
    }
  }
  otel_str key() {
    static const char *const kKeys[] = {"a",       "b", "http.method", "http.target", "user.id",
                                        "span.id", "",  "k\xff",       "ключ",        "latency_ms"};
    if (one_in(200)) return otel_str{nullptr, 1 + below(11)};  // invalid
    if (one_in(30)) return str();
    return S(kKeys[below(sizeof kKeys / sizeof *kKeys)]);
  }
  otel_value value(int depth) {
    otel_value v{};
    switch (below(depth < 18 ? 9 : 7)) {
      case 0:
        v.type = OTEL_VALUE_EMPTY;
        break;
      case 1:
      case 2:
        v = otel_value_str(str());
        break;
      case 3:
        v = otel_value_bool(static_cast<int32_t>(below(3)));
        break;
      case 4: {
        static const int64_t kInts[] = {0, 1, 127, 128, 200, -1, INT64_MIN, INT64_MAX, 1 << 20};
        v = otel_value_int(one_in(2) ? kInts[below(9)] : static_cast<int64_t>(rng_()));
        break;
      }
      case 5:
        v = otel_value_double(one_in(3) ? 12.5 : static_cast<double>(rng_()) / 3.0);
        break;
      case 6:
        v.type = OTEL_VALUE_BYTES;
        v.u.bytes = str();
        break;
      case 7: {
        v.type = OTEL_VALUE_ARRAY;
        size_t n = below(depth < 3 ? 5 : 2);
        std::vector<otel_value> items;
        for (size_t i = 0; i < n; i++) items.push_back(value(depth + 1));
        arrays_.push_back(std::move(items));
        v.u.array = {n ? arrays_.back().data() : nullptr, n};
        break;
      }
      default: {
        v.type = OTEL_VALUE_MAP;
        size_t n = below(depth < 3 ? 5 : 2);
        std::vector<otel_attr> items;
        for (size_t i = 0; i < n; i++) items.push_back(otel_attr{key(), value(depth + 1)});
        maps_.push_back(std::move(items));
        v.u.map = {n ? maps_.back().data() : nullptr, n};
        break;
      }
    }
    if (one_in(300)) {  // a bad pointer or an unknown type
      if (v.type == OTEL_VALUE_STRING) {
        v.u.str = otel_str{nullptr, 3};
      } else if (v.type == OTEL_VALUE_ARRAY) {
        v.u.array = {nullptr, 2};
      } else if (v.type == OTEL_VALUE_EMPTY) {
        v.type = 42;
      }
    }
    return v;
  }
  // A chain of arrays `depth` deep, ending in an int.
  otel_value deep(int depth) {
    otel_value v = otel_value_int(7);
    for (int i = 0; i < depth; i++) {
      arrays_.emplace_back(1, v);
      v.type = OTEL_VALUE_ARRAY;
      v.u.array = {arrays_.back().data(), 1};
    }
    return v;
  }
  // Half the time with distinct keys (the encoders' common case), long ones now and then.
  const otel_attr *attrs(size_t n) {
    std::vector<otel_attr> items;
    bool distinct = one_in(2);
    for (size_t i = 0; i < n; i++) {
      otel_str k = key();
      if (distinct) {
        std::string name = "key." + std::to_string(i);
        if (one_in(10)) name += std::string(below(300), 'k');
        if (one_in(20)) name += "ü";
        k = keep(name);
      }
      items.push_back(otel_attr{k, leafy_value()});
    }
    maps_.push_back(std::move(items));
    return n ? maps_.back().data() : nullptr;
  }
  // Mostly scalars and strings, as attributes usually are.
  otel_value leafy_value() {
    if (one_in(8)) return value(0);
    if (one_in(50)) return deep(OTEL_MAX_VALUE_DEPTH + static_cast<int>(below(2)));
    otel_value v = value(18);
    return v;
  }

 private:
  otel_str keep(const std::string &s) {
    strings_.push_back(s);
    return S(strings_.back());
  }
  std::mt19937_64 rng_;
  std::deque<std::string> strings_;
  std::deque<std::vector<otel_value>> arrays_;
  std::deque<std::vector<otel_attr>> maps_;
};

otel_value bytes_value(const void *p, size_t n) {
  otel_value v{};
  v.type = OTEL_VALUE_BYTES;
  v.u.bytes = otel_str{static_cast<const char *>(p), n};
  return v;
}

std::string tail_of(const Buf &b, size_t from) {
  return std::string(reinterpret_cast<const char *>(b.data()) + from, b.size() - from);
}

// A Buf that already holds `prefix` bytes, limited to `limit`.
void prepare(Buf &b, size_t prefix, size_t limit) {
  b.set_limit(limit);
  std::string p(prefix, 'P');
  b.append(p.data(), p.size());
}

}  // namespace

TEST(EncodeDiff, LogRecordsMatchTheReference) {
  Gen g(12345);
  int checked_ok = 0, checked_limit = 0;
  for (int iter = 0; iter < 20000; iter++) {
    otel_span_context ctx{};
    for (auto &x : ctx.trace_id) x = g.one_in(2) ? 0 : static_cast<uint8_t>(g.below(256));
    for (auto &x : ctx.span_id) x = g.one_in(2) ? 0 : static_cast<uint8_t>(g.below(256));
    ctx.trace_flags = static_cast<uint8_t>(g.one_in(2) ? 0 : g.below(256));
    otel_value body = g.one_in(4) ? g.value(0) : otel_value_str(g.str());
    size_t n = g.one_in(3) ? 0 : g.below(g.one_in(10) ? 40 : 8);
    otb::LogRecordArgs a{g.one_in(4) ? 0 : 1700000000000000000ull + g.below(1000),
                         g.one_in(4) ? 0 : 1700000000000000001ull,
                         static_cast<int32_t>(g.below(25)),
                         g.one_in(3) ? otel_str{nullptr, 0} : g.str(),
                         g.one_in(5) ? nullptr : &body,
                         g.attrs(n),
                         n,
                         g.one_in(3) ? otel_str{nullptr, 0} : g.str(),
                         g.one_in(3) ? nullptr : &ctx};
    otb::AttrLimits lim;
    if (g.one_in(3)) lim.count = static_cast<uint32_t>(g.below(6));
    static const size_t kChars[] = {0, 1, 3, 10, 100, SIZE_MAX};
    if (g.one_in(3)) lim.value_chars = kChars[g.below(6)];
    uint64_t now = g.one_in(2) ? 0 : 1600000000000000000ull;

    otbref::Record r{a.time_unix_nano ? a.time_unix_nano : now,
                     a.observed_unix_nano ? a.observed_unix_nano : now,
                     a.severity_number,
                     a.severity_text,
                     a.body,
                     a.attrs,
                     a.n_attrs,
                     a.event_name,
                     a.ctx};
    std::string ref;
    int32_t ref_st = otbref::log_record(ref, r, lim.count, lim.value_chars);

    // Unlimited, then with a limit around the record's size (the fast path's reservation fails,
    // the general path overflows part-way, or both fit exactly).
    size_t prefix = g.one_in(4) ? g.below(300) : 0;
    for (int round = 0; round < 2; round++) {
      size_t limit = SIZE_MAX;
      if (round == 1) {
        if (ref_st != OTEL_OK) break;
        size_t total = prefix + ref.size();
        limit = g.one_in(3) ? total : total - std::min(total, g.below(40)) + g.below(3);
      }
      Buf b;
      prepare(b, prefix, limit);
      int32_t st = otb::encode_log_record(b, a, lim, now);
      ASSERT_EQ(st, otbref::expected_status(ref_st, prefix + ref.size(), limit))
          << "iteration " << iter << " round " << round;
      if (st == OTEL_OK) {
        ASSERT_EQ(tail_of(b, prefix), ref) << "iteration " << iter << " round " << round;
        (round == 0 ? checked_ok : checked_limit)++;
      }
      if (limit != SIZE_MAX) {
        ASSERT_LE(b.capacity(), limit) << "iteration " << iter;
      }
      if (st == OTEL_E_TOO_LARGE) {
        ASSERT_TRUE(b.overflow());
      }
    }
  }
  EXPECT_GT(checked_ok, 10000);
  EXPECT_GT(checked_limit, 1000);
}

TEST(EncodeDiff, AttributesAnyValuesAndStringsMatchTheReference) {
  Gen g(777);
  for (int iter = 0; iter < 20000; iter++) {
    uint32_t field = g.one_in(4) ? 20 + static_cast<uint32_t>(g.below(3000)) : 6;  // 2-3 byte tags
    size_t n = g.below(g.one_in(10) ? 60 : 10);
    const otel_attr *attrs = g.attrs(n);
    uint32_t count = g.one_in(3) ? static_cast<uint32_t>(g.below(8)) : 128;
    size_t chars = g.one_in(3) ? g.below(20) : SIZE_MAX;
    std::string ref;
    uint32_t ref_dropped = 0;
    int32_t ref_st = otbref::attributes(ref, field, attrs, n, count, chars, &ref_dropped);
    Buf b;
    size_t prefix = g.below(3) * 100;
    prepare(b, prefix, SIZE_MAX);
    otb::AttrLimits lim;
    lim.count = count;
    lim.value_chars = chars;
    uint32_t dropped = 99;
    ASSERT_EQ(otb::put_attributes(b, field, attrs, n, lim, &dropped), ref_st) << iter;
    if (ref_st == OTEL_OK) {
      ASSERT_EQ(tail_of(b, prefix), ref) << iter;
      ASSERT_EQ(dropped, ref_dropped) << iter;
    }

    otel_value v = g.value(0);
    ref.clear();
    std::string body;
    bool ref_ok = otbref::any_value(body, v, chars, 0);
    if (ref_ok) otbref::len_field(ref, field, body);
    b.clear();
    ASSERT_EQ(otb::put_any_value(b, field, v, chars), ref_ok ? OTEL_OK : OTEL_E_INVALID_ARG)
        << iter;
    if (ref_ok) {
      ASSERT_EQ(tail_of(b, 0), ref) << iter;
    }

    otel_str s = g.str();
    b.clear();
    otb::put_string(b, field, s, chars);
    ref.clear();
    otbref::len_field(ref, field, otbref::repaired(s, chars));
    ASSERT_EQ(tail_of(b, 0), ref) << iter;
  }
}

TEST(EncodeDiff, Utf8ScanMatchesTheReference) {
  Gen g(99);
  for (int iter = 0; iter < 50000; iter++) {
    otel_str s = g.str();
    size_t chars = g.one_in(2) ? SIZE_MAX : g.below(40);
    std::string want = otbref::repaired(s, chars);
    otb::Utf8Scan sc = otb::utf8_scan(s.ptr, s.len, chars);
    ASSERT_EQ(sc.out_len, want.size()) << iter;
    ASSERT_EQ(sc.valid, want == std::string(s.ptr ? s.ptr : "", sc.in_len)) << iter;
    std::string out(sc.out_len, '\0');
    ASSERT_EQ(otb::utf8_repair(s.ptr, sc.in_len, &out[0]), sc.out_len) << iter;
    ASSERT_EQ(out, want) << iter;
  }
}

// ---- the plain path's edges ----

namespace {

// Encodes with a fresh Buf limited to `limit` and checks status and bytes against the reference.
void expect_like_reference(const otb::LogRecordArgs &a, const otb::AttrLimits &lim, size_t limit,
                           const char *what) {
  otbref::Record r{a.time_unix_nano,
                   a.observed_unix_nano,
                   a.severity_number,
                   a.severity_text,
                   a.body,
                   a.attrs,
                   a.n_attrs,
                   a.event_name,
                   a.ctx};
  std::string ref;
  int32_t ref_st = otbref::log_record(ref, r, lim.count, lim.value_chars);
  Buf b;
  b.set_limit(limit);
  int32_t st = otb::encode_log_record(b, a, lim);
  ASSERT_EQ(st, otbref::expected_status(ref_st, ref.size(), limit)) << what;
  if (st == OTEL_OK) {
    EXPECT_EQ(str(b), ref) << what;
  }
  if (limit != SIZE_MAX) {
    EXPECT_LE(b.capacity(), limit) << what;
  }
}

}  // namespace

TEST(EncodePlain, RecordsAtTheLimitFitExactly) {
  // The plain path reserves an upper bound; when that passes the limit, the general path must
  // still accept a record that fits, and refuse one byte less.
  otel_attr attrs[2] = {{S("k"), otel_value_str(S("v"))}, {S("n"), otel_value_int(7)}};
  otel_value body = otel_value_str(S("message"));
  otb::LogRecordArgs a{1, 2, 9, S("INFO"), &body, attrs, 2, S("ev"), nullptr};
  std::string ref;
  otbref::Record r{1, 2, 9, S("INFO"), &body, attrs, 2, S("ev"), nullptr};
  ASSERT_EQ(otbref::log_record(ref, r, 128, SIZE_MAX), OTEL_OK);
  for (size_t limit = ref.size() - 3; limit <= ref.size() + 100; limit++)
    expect_like_reference(a, otb::AttrLimits{}, limit, "limit around the size");
}

TEST(EncodePlain, ALaterDuplicateCanMakeARecordFit) {
  // a=<4000 bytes>, a=1: the first value is not written (the last one wins), so the record is
  // small. The plain path gives up at the duplicate; it must not have marked the buffer full.
  std::string big(4000, 'x');
  otel_attr attrs[3] = {
      {S("a"), otel_value_str(S(big))}, {S("b"), otel_value_int(2)}, {S("a"), otel_value_int(1)}};
  otb::LogRecordArgs a{1, 0, 0, S(""), nullptr, attrs, 3, S(""), nullptr};
  for (size_t limit : {size_t{64}, size_t{1000}, size_t{5000}})
    expect_like_reference(a, otb::AttrLimits{}, limit, "duplicate key under a limit");
}

TEST(EncodePlain, LongStringsGetMultiByteLengths) {
  std::string key(200, 'k'), value(20000, 'v'), body_text(70000, 'b'), sev(300, 's'), q(130, 'q');
  otel_attr attrs[3] = {{S(key), otel_value_str(S(value))},
                        {S("short"), otel_value_str(S(q))},
                        {S("bytes"), bytes_value(value.data(), 200)}};
  otel_value body = otel_value_str(S(body_text));
  otb::LogRecordArgs a{1, 2, 9, S(sev), &body, attrs, 3, S(key), nullptr};
  expect_like_reference(a, otb::AttrLimits{}, SIZE_MAX, "long strings");
  Buf b;
  ASSERT_EQ(otb::encode_log_record(b, a, otb::AttrLimits{}), OTEL_OK);
  auto kvs = pb_all(str(b), 6);
  ASSERT_EQ(kvs.size(), 3u);
  EXPECT_EQ(pb_one(kvs[0], 1), key);
  EXPECT_EQ(pb_one(pb_one(kvs[0], 2), 1), value);
  EXPECT_EQ(pb_one(pb_one(str(b), 5), 1), body_text);
}

TEST(EncodePlain, InvalidUtf8IsRepairedWherever) {
  // Short (copied and checked in one go) and long strings, valid multi-byte text, and invalid
  // sequences in every string field.
  const std::string cases[] = {"ok",
                               "h\xc3\xa9llo w\xc3\xb6rld",
                               "ab\xff",
                               "\xe6\x97",
                               std::string(40, 'x') + "\xed\xa0\x80",
                               std::string(31, 'y') + "\xc3",
                               "\xf0\x9f\x8e\x89" + std::string(50, 'z')};
  for (const std::string &bad : cases) {
    otel_attr attrs[2] = {{S(bad), otel_value_str(S(bad))}, {S("k2"), otel_value_str(S(bad))}};
    otel_value body = otel_value_str(S(bad));
    otb::LogRecordArgs a{1, 2, 9, S(bad), &body, attrs, 2, S(bad), nullptr};
    expect_like_reference(a, otb::AttrLimits{}, SIZE_MAX, bad.c_str());
    otb::AttrLimits lim;
    lim.value_chars = 3;
    expect_like_reference(a, lim, SIZE_MAX, bad.c_str());
  }
}

TEST(EncodePlain, NullOrEmptyStringsEverywhere) {
  // {NULL, 0} is the empty string: present where presence matters, and never read.
  otel_attr attrs[2] = {{S("k"), otel_value_str(otel_str{nullptr, 0})},
                        {S("b"), bytes_value(nullptr, 0)}};
  otel_value body = otel_value_str(otel_str{nullptr, 0});
  otb::LogRecordArgs a{1,      2, 9, otel_str{nullptr, 0}, &body, attrs, 2, otel_str{nullptr, 0},
                       nullptr};
  expect_like_reference(a, otb::AttrLimits{}, SIZE_MAX, "empty strings");
  Buf b;
  ASSERT_EQ(otb::encode_log_record(b, a, otb::AttrLimits{}), OTEL_OK);
  auto kvs = pb_all(str(b), 6);
  ASSERT_EQ(kvs.size(), 2u);
  auto v = pb_fields(pb_one(kvs[0], 2));
  ASSERT_EQ(v.size(), 1u) << "the empty string keeps its AnyValue field";
  EXPECT_EQ(v[0].num, 1u);
}

TEST(EncodePlain, ANullKeyIsInvalidEvenWhenAnEarlierKeyHasItsLength) {
  otel_attr attrs[2] = {{S("abc"), otel_value_int(1)}, {otel_str{nullptr, 3}, otel_value_int(2)}};
  otb::LogRecordArgs a{1, 2, 9, S(""), nullptr, attrs, 2, S(""), nullptr};
  Buf b;
  EXPECT_EQ(otb::encode_log_record(b, a, otb::AttrLimits{}), OTEL_E_INVALID_ARG);
  uint32_t dropped;
  b.clear();
  EXPECT_EQ(otb::put_attributes(b, 6, attrs, 2, otb::AttrLimits{}, &dropped), OTEL_E_INVALID_ARG);
}

TEST(EncodePlain, TryReserveLeavesOverflowUnset) {
  Buf b;
  b.set_limit(100);
  EXPECT_FALSE(b.try_reserve(101));
  EXPECT_FALSE(b.overflow());
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_TRUE(b.try_reserve(100));
  EXPECT_LE(b.capacity(), 100u);
  EXPECT_FALSE(b.reserve(101));
  EXPECT_TRUE(b.overflow());
  EXPECT_FALSE(b.try_reserve(1)) << "an overflowed buffer stays full";
}

TEST(EncodePlain, AnOverflowedBufferTakesNoMoreBytes) {
  Buf b;
  b.set_limit(64);
  ASSERT_TRUE(b.reserve(32));
  ASSERT_FALSE(b.reserve(100));  // overflow, with 64 bytes of capacity left
  otel_attr attrs[1] = {{S("k"), otel_value_int(1)}};
  uint32_t dropped = 9;
  EXPECT_EQ(otb::put_attributes(b, 6, attrs, 1, otb::AttrLimits{}, &dropped), OTEL_OK);
  EXPECT_EQ(dropped, 0u);
  EXPECT_EQ(b.size(), 0u);
  otb::LogRecordArgs a{1, 2, 9, S("INFO"), nullptr, attrs, 1, S(""), nullptr};
  EXPECT_EQ(otb::encode_log_record(b, a, otb::AttrLimits{}), OTEL_E_TOO_LARGE);
  EXPECT_EQ(b.size(), 0u);
}
