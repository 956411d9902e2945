// W3C Trace Context and W3C Baggage propagation (src/propagation.cc), through the C++ functions
// the ABI wrappers call.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "diag.h"
#include "propagation.h"
#include "utf8.h"

using otb::Propagators;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;
using Entries = std::vector<std::pair<std::string, std::string>>;

const std::string kTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
const std::string kSpanId = "00f067aa0ba902b7";
const std::string kTp = "00-" + kTraceId + "-" + kSpanId + "-01";
const std::string kFFFD = "\xEF\xBF\xBD";

otel_str S(const std::string &s) {
  return otel_str{s.data(), s.size()};
}
// For literals: a view of the literal itself, not of a temporary std::string.
otel_str S(const char *s) {
  return otel_str{s, strlen(s)};
}
std::string str(otel_str s) {
  return s.len ? std::string(s.ptr, s.len) : std::string();
}

std::string hex(const uint8_t *p, size_t n) {
  static const char k[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; i++) {
    s += k[p[i] >> 4];
    s += k[p[i] & 15];
  }
  return s;
}

otel_span_context make_ctx(const std::string &trace_id, const std::string &span_id, uint8_t flags) {
  otel_span_context c;
  memset(&c, 0, sizeof c);
  for (size_t i = 0; i < 16; i++)
    c.trace_id[i] = uint8_t(std::stoul(trace_id.substr(2 * i, 2), nullptr, 16));
  for (size_t i = 0; i < 8; i++)
    c.span_id[i] = uint8_t(std::stoul(span_id.substr(2 * i, 2), nullptr, 16));
  c.trace_flags = flags;
  return c;
}

bool is_zero(const otel_span_context &c) {
  static const otel_span_context z = {};
  return memcmp(&c, &z, sizeof c) == 0;
}

bool ts_valid(const std::string &ts) {
  return otb::tracestate_valid(S(ts));
}

struct Extracted {
  int32_t status = 0;
  otel_span_context ctx{};
  std::string trace_state;
  Entries baggage;
};

// Runs propagation_extract with a buffer of buf_len bytes (placed at the end of a larger
// allocation so ASan sees any overrun) and checks that every returned view lies inside it.
Extracted extract(const Headers &hs, Propagators p = Propagators(), size_t buf_len = 65536,
                  size_t max_baggage = 256) {
  std::vector<otel_header> h;
  for (auto &kv : hs) h.push_back(otel_header{S(kv.first), S(kv.second)});
  std::vector<char> storage(buf_len);
  std::vector<otel_attr> bag(max_baggage);
  Extracted r;
  otel_str ts{nullptr, 0};
  size_t nb = 99;
  r.status = otb::propagation_extract(p, h.data(), h.size(), &r.ctx, &ts,
                                      max_baggage ? bag.data() : nullptr, max_baggage, &nb,
                                      buf_len ? storage.data() : nullptr, buf_len);
  auto inside = [&](otel_str s) {
    if (s.len == 0) return true;
    return s.ptr >= storage.data() && s.ptr + s.len <= storage.data() + storage.size();
  };
  EXPECT_TRUE(inside(ts));
  r.trace_state = str(ts);
  if (r.status != OTEL_OK) {
    EXPECT_TRUE(is_zero(r.ctx));
    EXPECT_EQ(ts.len, 0u);
    EXPECT_EQ(nb, 0u);
    return r;
  }
  EXPECT_LE(nb, max_baggage);
  for (size_t i = 0; i < nb && i < max_baggage; i++) {
    EXPECT_EQ(bag[i].value.type, OTEL_VALUE_STRING);
    EXPECT_TRUE(inside(bag[i].key));
    EXPECT_TRUE(inside(bag[i].value.u.str));
    r.baggage.emplace_back(str(bag[i].key), str(bag[i].value.u.str));
  }
  return r;
}

struct Injected {
  int32_t status = 0;
  Headers headers;
  size_t used = 0;  // bytes of buf the headers span
};

Injected inject(const otel_span_context &ctx, const std::string &trace_state,
                const Entries &baggage, Propagators p = Propagators(), size_t buf_len = 65536,
                size_t max_headers = 3) {
  std::vector<otel_attr> attrs;
  for (auto &kv : baggage) {
    otel_attr a;
    memset(&a, 0, sizeof a);
    a.key = S(kv.first);
    a.value.type = OTEL_VALUE_STRING;
    a.value.u.str = S(kv.second);
    attrs.push_back(a);
  }
  std::vector<char> buf(buf_len);
  std::vector<otel_header> hs(max_headers);
  size_t n = 99;
  Injected r;
  r.status = otb::propagation_inject(p, ctx, S(trace_state), attrs.data(), attrs.size(),
                                     buf_len ? buf.data() : nullptr, buf_len,
                                     max_headers ? hs.data() : nullptr, max_headers, &n);
  if (r.status != OTEL_OK) {
    EXPECT_EQ(n, 0u) << "nothing partial";
    return r;
  }
  for (size_t i = 0; i < n; i++) {
    EXPECT_GE(hs[i].name.ptr, buf.data());
    EXPECT_LE(hs[i].value.ptr + hs[i].value.len, buf.data() + buf.size());
    r.headers.emplace_back(str(hs[i].name), str(hs[i].value));
    r.used = size_t(hs[i].value.ptr + hs[i].value.len - buf.data());
  }
  return r;
}

std::string header(const Headers &hs, const std::string &name) {
  for (auto &kv : hs)
    if (kv.first == name) return kv.second;
  return "<none>";
}

std::vector<std::string> g_diags;
void capture(int32_t, otel_str m, void *) {
  g_diags.emplace_back(m.ptr, m.len);
}
struct CaptureDiags {
  int32_t saved = otb::diag_level();
  CaptureDiags() {
    g_diags.clear();
    otb::diag_set_sink(&capture, nullptr);
    otb::diag_set_level(OTEL_DIAG_DEBUG);
  }
  ~CaptureDiags() {
    otb::diag_set_sink(nullptr, nullptr);
    otb::diag_set_level(saved);
  }
};

}  // namespace

// ---- traceparent ------------------------------------------------------------------------------

TEST(PropagationTraceparent, SpecExamplesParse) {
  otel_span_context c;
  ASSERT_TRUE(otb::traceparent_parse(S(kTp), &c));
  EXPECT_EQ(hex(c.trace_id, 16), kTraceId);
  EXPECT_EQ(hex(c.span_id, 8), kSpanId);
  EXPECT_EQ(c.trace_flags, 1);
  ASSERT_TRUE(otb::traceparent_parse(S("00-" + kTraceId + "-" + kSpanId + "-00"), &c));
  EXPECT_EQ(c.trace_flags, 0);
  ASSERT_TRUE(
      otb::traceparent_parse(S("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"), &c));
  EXPECT_EQ(hex(c.trace_id, 16), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(hex(c.span_id, 8), "b7ad6b7169203331");
  // All eight flag bits are kept (bit 0 is sampled; others are passed through).
  ASSERT_TRUE(otb::traceparent_parse(S("00-" + kTraceId + "-" + kSpanId + "-ff"), &c));
  EXPECT_EQ(c.trace_flags, 0xff);
  ASSERT_TRUE(otb::traceparent_parse(S("00-" + kTraceId + "-" + kSpanId + "-09"), &c));
  EXPECT_EQ(c.trace_flags, 0x09);
  ASSERT_TRUE(otb::traceparent_parse(S("00-" + kTraceId + "-" + kSpanId + "-02"), &c));
  EXPECT_EQ(c.trace_flags, 0x02);
  EXPECT_TRUE(otb::traceparent_parse(S(kTp), nullptr)) << "out may be NULL";
}

TEST(PropagationTraceparent, InvalidValuesAreRejected) {
  const std::string t = kTraceId, s = kSpanId;
  const std::vector<std::string> bad = {
      "",
      "00",
      "00-" + t + "-" + s,                                 // no flags
      "00-" + t + "-" + s + "-0",                          // 54 characters
      "00-" + t + "-" + s + "-01-",                        // version 00 must be exactly 55
      "00-" + t + "-" + s + "-01-what-the-future",         // ditto
      "00-" + t + "-" + s + "-010",                        // ditto
      "ff-" + t + "-" + s + "-01",                         // version ff is forbidden
      "ff-" + t + "-" + s + "-01-future",                  // ditto
      "00-00000000000000000000000000000000-" + s + "-01",  // all-zero trace id
      "00-" + t + "-0000000000000000-01",                  // all-zero span id
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-" + s + "-01",  // uppercase hex
      "00-" + t + "-00F067AA0BA902B7-01",
      "00-" + t + "-" + s + "-0A",
      "0A-" + t + "-" + s + "-01",
      "00-" + t.substr(0, 31) + "g-" + s + "-01",  // non-hex
      "00-" + t + "-" + s.substr(0, 15) + "z-01",
      "00-" + t + "-" + s + "-0x",
      "0g-" + t + "-" + s + "-01",
      "00-" + t.substr(0, 31) + "-" + s + "-01",  // short trace id
      "00-" + t + "0-" + s + "-01",               // long trace id (57 chars)
      "00-" + t + "-" + s.substr(0, 15) + "-01",  // short span id
      "00_" + t + "-" + s + "-01",                // wrong delimiters
      "00-" + t + "_" + s + "-01",
      "00-" + t + "-" + s + "_01",
      "00-" + t + s + "-01-",        // missing delimiter, padded to 55
      " 00-" + t + "-" + s + "-01",  // whitespace is the header layer's job
      "00-" + t + "-" + s + "-01 ",
      "0-" + t + "-" + s + "-01",  // one-digit version
      "000-" + t + "-" + s + "-01",
      "-00-" + t + "-" + s + "-01",
      "00-" + t + "-" + s + "-01\n",
      std::string("00-") + t + "-" + s + "-0\0",
  };
  for (const auto &v : bad) {
    otel_span_context c;
    memset(&c, 0xAB, sizeof c);
    EXPECT_FALSE(otb::traceparent_parse(S(v), &c)) << v;
    EXPECT_TRUE(is_zero(c)) << "a rejected value leaves a zero context: " << v;
  }
  EXPECT_FALSE(otb::traceparent_parse(otel_str{nullptr, 0}, nullptr));
}

TEST(PropagationTraceparent, FutureVersionsParseForwardCompatibly) {
  const std::string body = kTraceId + "-" + kSpanId + "-01";
  otel_span_context c;
  for (std::string v : {"01-" + body, "cc-" + body, "fe-" + body, "cc-" + body + "-",
                        "cc-" + body + "-what-the-future-will-be-like", "01-" + body + "-0000"}) {
    EXPECT_TRUE(otb::traceparent_parse(S(v), &c)) << v;
    EXPECT_EQ(hex(c.trace_id, 16), kTraceId);
    EXPECT_EQ(hex(c.span_id, 8), kSpanId);
    EXPECT_EQ(c.trace_flags, 1);
  }
  for (std::string v : {"cc-" + body + "x", "cc-" + body + ".what", "cc-" + body.substr(0, 51),
                        "cc-" + kTraceId + "-" + kSpanId + "-1", "ff-" + body + "-x",
                        "cc-" + kTraceId + "-" + kSpanId + "-0g-x", "cC-" + body})
    EXPECT_FALSE(otb::traceparent_parse(S(v), &c)) << v;
}

TEST(PropagationTraceparent, FormatWritesVersion00) {
  char out[55];
  otel_span_context c = make_ctx(kTraceId, kSpanId, 1);
  ASSERT_TRUE(otb::traceparent_format(c, out));
  EXPECT_EQ(std::string(out, 55), kTp);
  c.trace_flags = 0x83;
  ASSERT_TRUE(otb::traceparent_format(c, out));
  EXPECT_EQ(std::string(out, 55), "00-" + kTraceId + "-" + kSpanId + "-83");
  // Round trip through parse, flags included.
  otel_span_context back;
  ASSERT_TRUE(otb::traceparent_parse(otel_str{out, 55}, &back));
  EXPECT_EQ(memcmp(back.trace_id, c.trace_id, 16), 0);
  EXPECT_EQ(memcmp(back.span_id, c.span_id, 8), 0);
  EXPECT_EQ(back.trace_flags, 0x83);
  EXPECT_FALSE(otb::traceparent_format(make_ctx(std::string(32, '0'), kSpanId, 1), out));
  EXPECT_FALSE(otb::traceparent_format(make_ctx(kTraceId, std::string(16, '0'), 1), out));
}

// ---- tracestate -------------------------------------------------------------------------------

TEST(PropagationTracestate, ValidityTable) {
  const std::string k256 = "k" + std::string(255, 'z');
  const std::string v256 = std::string(256, 'v');
  std::string m32, m33;
  for (int i = 0; i < 32; i++) m32 += (i ? "," : "") + ("k" + std::to_string(i)) + "=v";
  m33 = m32 + ",k32=v";
  const std::vector<std::string> good = {
      "",
      "foo=1",
      "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
      "foo=1, bar=2",
      "foo=1 ,\tbar=2 ",
      ",foo=1,,",
      " , ",
      ",",
      "foo= 1",  // leading spaces belong to the value
      "foo=1 2",
      "a_-*/0=1",
      "a@b=1",
      "0@b=1",  // a tenant id may start with a digit
      "t-_*/0@s-_*/0=1",
      std::string(241, 't') + "@" + "s" + std::string(13, 'x') + "=1",
      k256 + "=1",
      "foo=" + v256,
      "foo=!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~",
      m32,
      m32 + ",,  ,",  // empty members do not count
  };
  const std::vector<std::string> bad = {
      "foo",
      "=1",
      "foo=",
      "foo= ",
      "Foo=1",
      "fOO=1",
      "1foo=1",  // a simple key starts with lcalpha
      "_foo=1",
      "foo =1",
      "foo=1=2",
      "foo=a\tb",
      "foo=\x7f",
      "foo=\x01",
      "foo=caf\xc3\xa9",
      "f\xc3\xa9=1",
      "foo=1;bar=2,baz",
      m33,
      "foo=1,foo=2",
      "foo=1,bar=2,foo=1",
      k256 + "z=1",
      "foo=" + v256 + "v",
      std::string(242, 't') + "@s=1",
      "t@" + std::string(15, 's') + "=1",
      "a@b@c=1",
      "@b=1",
      "a@=1",
      "a@1b=1",  // a system id starts with lcalpha
      "A@b=1",
      "a@B=1",
      "_a@b=1",
      "foo.bar=1",
      "foo=1,\x80",
  };
  for (const auto &v : good) EXPECT_TRUE(ts_valid(v)) << v;
  for (const auto &v : bad) EXPECT_FALSE(ts_valid(v)) << v;
  EXPECT_TRUE(otb::tracestate_valid(otel_str{nullptr, 0}));
  EXPECT_FALSE(otb::tracestate_valid(otel_str{nullptr, 3}));
}

// ---- OTEL_PROPAGATORS -------------------------------------------------------------------------

TEST(PropagationConfig, ParsePropagators) {
  CaptureDiags d;
  auto p = otb::parse_propagators("");
  EXPECT_TRUE(p.tracecontext && p.baggage);
  p = otb::parse_propagators("  ");
  EXPECT_TRUE(p.tracecontext && p.baggage);
  p = otb::parse_propagators("tracecontext,baggage");
  EXPECT_TRUE(p.tracecontext && p.baggage);
  p = otb::parse_propagators("tracecontext");
  EXPECT_TRUE(p.tracecontext && !p.baggage);
  p = otb::parse_propagators("baggage");
  EXPECT_TRUE(!p.tracecontext && p.baggage);
  p = otb::parse_propagators(" TraceContext , BAGGAGE ,");
  EXPECT_TRUE(p.tracecontext && p.baggage);
  p = otb::parse_propagators("none");
  EXPECT_TRUE(!p.tracecontext && !p.baggage);
  EXPECT_TRUE(g_diags.empty());

  p = otb::parse_propagators("tracecontext,baggage,b3");
  EXPECT_TRUE(p.tracecontext && p.baggage);
  ASSERT_EQ(g_diags.size(), 1u);
  EXPECT_NE(g_diags[0].find("b3"), std::string::npos);
  g_diags.clear();
  p = otb::parse_propagators("b3multi,jaeger,xray,ottrace,fancy");
  EXPECT_TRUE(!p.tracecontext && !p.baggage);
  EXPECT_EQ(g_diags.size(), 5u);
  EXPECT_NE(g_diags.back().find("fancy"), std::string::npos);
  g_diags.clear();
  p = otb::parse_propagators("none,baggage");
  EXPECT_TRUE(!p.tracecontext && p.baggage);
  EXPECT_EQ(g_diags.size(), 1u);
}

// ---- inject -----------------------------------------------------------------------------------

TEST(PropagationInject, TraceparentTracestateAndBaggage) {
  auto r = inject(make_ctx(kTraceId, kSpanId, 1), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
                  {{"userId", "alice"}, {"serverNode", "DF 28"}, {"isProduction", "false"}});
  ASSERT_EQ(r.status, OTEL_OK);
  ASSERT_EQ(r.headers.size(), 3u);
  EXPECT_EQ(r.headers[0], std::make_pair(std::string("traceparent"), kTp));
  EXPECT_EQ(r.headers[1].first, "tracestate");
  EXPECT_EQ(r.headers[1].second, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  EXPECT_EQ(r.headers[2].first, "baggage");
  EXPECT_EQ(r.headers[2].second, "userId=alice,serverNode=DF%2028,isProduction=false");

  // Flags are written as given (all bits).
  r = inject(make_ctx(kTraceId, kSpanId, 0x03), "", {});
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].second, "00-" + kTraceId + "-" + kSpanId + "-03");
  r = inject(make_ctx(kTraceId, kSpanId, 0), "", {});
  EXPECT_EQ(r.headers[0].second, "00-" + kTraceId + "-" + kSpanId + "-00");

  // tracestate is normalized; invalid or empty-only lists are not sent.
  r = inject(make_ctx(kTraceId, kSpanId, 1), " a=1 ,, b=2 ", {});
  EXPECT_EQ(header(r.headers, "tracestate"), "a=1,b=2");
  r = inject(make_ctx(kTraceId, kSpanId, 1), "A=1", {});
  EXPECT_EQ(r.status, OTEL_OK);
  EXPECT_EQ(r.headers.size(), 1u);
  r = inject(make_ctx(kTraceId, kSpanId, 1), " , ", {});
  EXPECT_EQ(r.headers.size(), 1u);
}

TEST(PropagationInject, NoTraceparentWithoutAValidContextButBaggageStill) {
  otel_span_context zero{};
  auto r = inject(zero, "a=1", {{"k", "v"}});
  ASSERT_EQ(r.status, OTEL_OK);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0], std::make_pair(std::string("baggage"), std::string("k=v")));
  r = inject(make_ctx(kTraceId, std::string(16, '0'), 1), "a=1", {});
  EXPECT_EQ(r.status, OTEL_OK);
  EXPECT_TRUE(r.headers.empty());
  r = inject(make_ctx(std::string(32, '0'), kSpanId, 1), "", {});
  EXPECT_TRUE(r.headers.empty());
}

TEST(PropagationInject, ConfiguredPropagatorsOnly) {
  otel_span_context c = make_ctx(kTraceId, kSpanId, 1);
  Propagators tc_only{true, false}, bag_only{false, true}, none{false, false};
  auto r = inject(c, "a=1", {{"k", "v"}}, tc_only);
  ASSERT_EQ(r.headers.size(), 2u);
  EXPECT_EQ(header(r.headers, "baggage"), "<none>");
  r = inject(c, "a=1", {{"k", "v"}}, bag_only);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "baggage");
  r = inject(c, "a=1", {{"k", "v"}}, none);
  EXPECT_EQ(r.status, OTEL_OK);
  EXPECT_TRUE(r.headers.empty());
}

TEST(PropagationInject, BufferAndHeaderArrayTooSmallReturnNothing) {
  otel_span_context c = make_ctx(kTraceId, kSpanId, 1);
  Entries bag = {{"k", "a b"}};
  auto full = inject(c, "a=1", bag);
  ASSERT_EQ(full.status, OTEL_OK);
  ASSERT_EQ(full.headers.size(), 3u);
  // traceparent 11+55, tracestate 10+3, baggage 7+7
  EXPECT_EQ(full.used, 11u + 55 + 10 + 3 + 7 + 7);
  auto exact = inject(c, "a=1", bag, Propagators(), full.used);
  EXPECT_EQ(exact.status, OTEL_OK);
  EXPECT_EQ(exact.headers, full.headers);
  for (size_t len = 0; len < full.used; len++)
    EXPECT_EQ(inject(c, "a=1", bag, Propagators(), len).status, OTEL_E_INVALID_ARG) << len;
  EXPECT_EQ(inject(c, "a=1", bag, Propagators(), 65536, 2).status, OTEL_E_INVALID_ARG);
  EXPECT_EQ(inject(c, "a=1", bag, Propagators(), 65536, 0).status, OTEL_E_INVALID_ARG);
  EXPECT_EQ(inject(c, "a=1", {}, Propagators(), 65536, 2).status, OTEL_OK);
  // Headers that are not written need no room: an invalid tracestate, unusable baggage.
  EXPECT_EQ(inject(c, "A=1", {{"bad key", "v"}}, Propagators(), 66, 1).status, OTEL_OK);
  EXPECT_EQ(inject(otel_span_context{}, "", {}, Propagators(), 0, 0).status, OTEL_OK);
}

TEST(PropagationInject, BadArguments) {
  otel_span_context c = make_ctx(kTraceId, kSpanId, 1);
  char buf[256];
  otel_header hs[3];
  size_t n = 7;
  Propagators p;
  EXPECT_EQ(otb::propagation_inject(p, c, S(""), nullptr, 0, buf, sizeof buf, hs, 3, nullptr),
            OTEL_E_INVALID_ARG);
  EXPECT_EQ(otb::propagation_inject(p, c, S(""), nullptr, 0, nullptr, 10, hs, 3, &n),
            OTEL_E_INVALID_ARG);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(otb::propagation_inject(p, c, S(""), nullptr, 0, buf, sizeof buf, nullptr, 3, &n),
            OTEL_E_INVALID_ARG);
  EXPECT_EQ(otb::propagation_inject(p, c, S(""), nullptr, 2, buf, sizeof buf, hs, 3, &n),
            OTEL_E_INVALID_ARG);
  EXPECT_EQ(
      otb::propagation_inject(p, c, otel_str{nullptr, 4}, nullptr, 0, buf, sizeof buf, hs, 3, &n),
      OTEL_E_INVALID_ARG);
  otel_attr a;
  memset(&a, 0, sizeof a);
  a.key = otel_str{nullptr, 2};
  a.value.type = OTEL_VALUE_STRING;
  EXPECT_EQ(otb::propagation_inject(p, c, S(""), &a, 1, buf, sizeof buf, hs, 3, &n),
            OTEL_E_INVALID_ARG);
  a.key = S("k");
  a.value.u.str = otel_str{nullptr, 2};
  EXPECT_EQ(otb::propagation_inject(p, c, S(""), &a, 1, buf, sizeof buf, hs, 3, &n),
            OTEL_E_INVALID_ARG);
  a.value.u.str = otel_str{nullptr, 0};  // NULL, 0 is the empty string
  ASSERT_EQ(otb::propagation_inject(p, c, S(""), &a, 1, buf, sizeof buf, hs, 3, &n), OTEL_OK);
  ASSERT_EQ(n, 2u);
  EXPECT_EQ(str(hs[1].value), "k=");
}

// ---- baggage encoding -------------------------------------------------------------------------

TEST(PropagationBaggage, PercentEncodesReservedUtf8AndControlBytes) {
  otel_span_context zero{};
  auto enc = [&](const std::string &v) {
    auto r = inject(zero, "", {{"k", v}});
    EXPECT_EQ(r.status, OTEL_OK);
    std::string h = header(r.headers, "baggage");
    return h.substr(0, 2) == "k=" ? h.substr(2) : "<" + h + ">";
  };
  EXPECT_EQ(enc("plain-Value_1.2~"), "plain-Value_1.2~");
  EXPECT_EQ(enc("a b"), "a%20b");
  EXPECT_EQ(enc(",;=%"), "%2C%3B%3D%25");
  EXPECT_EQ(enc("+"), "%2B") << "a form decoder would read a raw + as a space";
  EXPECT_EQ(enc("\"\\"), "%22%5C");
  EXPECT_EQ(enc("\t\n\r"), "%09%0A%0D");
  EXPECT_EQ(enc(std::string("\0", 1)), "%00");
  EXPECT_EQ(enc("\x7f"), "%7F");
  EXPECT_EQ(enc("日本"), "%E6%97%A5%E6%9C%AC");
  EXPECT_EQ(enc("é🎉"), "%C3%A9%F0%9F%8E%89");
  EXPECT_EQ(enc("a\xff"
                "b"),
            "a%EF%BF%BDb")
      << "invalid UTF-8 becomes U+FFFD";
  EXPECT_EQ(enc("\xe6\x97"), "%EF%BF%BD");
  EXPECT_EQ(enc(""), "");
}

TEST(PropagationBaggage, InjectSkipsUnusableEntriesAndMergesDuplicates) {
  otel_span_context zero{};
  auto r = inject(zero, "",
                  {{"", "v"},
                   {"bad key", "v"},
                   {"k\xc3\xa9", "v"},
                   {"k,", "v"},
                   {"a", "1"},
                   {"b", "2"},
                   {"a", "3"},
                   {"!#$%&'*+-.^_`|~", "x"}});
  EXPECT_EQ(header(r.headers, "baggage"), "a=3,b=2,!#$%&'*+-.^_`|~=x");
  // Non-string values are skipped.
  otel_attr attrs[2];
  memset(attrs, 0, sizeof attrs);
  attrs[0].key = S("n");
  attrs[0].value.type = OTEL_VALUE_INT;
  attrs[0].value.u.i64 = 5;
  attrs[1].key = S("s");
  attrs[1].value.type = OTEL_VALUE_STRING;
  attrs[1].value.u.str = S("v");
  char buf[128];
  otel_header hs[3];
  size_t n = 0;
  ASSERT_EQ(
      otb::propagation_inject(Propagators(), zero, S(""), attrs, 2, buf, sizeof buf, hs, 3, &n),
      OTEL_OK);
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(str(hs[0].value), "s=v");
  // Nothing usable: no baggage header at all.
  r = inject(zero, "", {{"bad key", "v"}});
  EXPECT_EQ(r.status, OTEL_OK);
  EXPECT_TRUE(r.headers.empty());
}

TEST(PropagationBaggage, InjectAppliesTheW3CLimits) {
  otel_span_context zero{};
  Entries many;
  for (int i = 0; i < 200; i++) many.emplace_back("k" + std::to_string(i), "v");
  auto r = inject(zero, "", many);
  std::string h = header(r.headers, "baggage");
  EXPECT_EQ(std::count(h.begin(), h.end(), ','), 179) << "at most 180 members";
  EXPECT_NE(h.find("k179=v"), std::string::npos);
  EXPECT_EQ(h.find("k180=v"), std::string::npos);

  // A member over 4096 bytes is skipped; the ones after it still go.
  r = inject(zero, "", {{"a", "1"}, {"big", std::string(4094, 'x')}, {"b", "2"}});
  EXPECT_EQ(header(r.headers, "baggage"), "a=1,b=2");
  r = inject(zero, "", {{"big", std::string(4092, 'x')}});  // exactly 4096 bytes
  EXPECT_EQ(header(r.headers, "baggage").size(), 4096u);
  // 8192 bytes in all: members past that are not written.
  Entries large;
  for (int i = 0; i < 5; i++) large.emplace_back("k" + std::to_string(i), std::string(2000, 'x'));
  r = inject(zero, "", large);
  h = header(r.headers, "baggage");
  EXPECT_EQ(std::count(h.begin(), h.end(), ','), 3);
  EXPECT_LE(h.size(), 8192u);
}

// ---- baggage decoding -------------------------------------------------------------------------

TEST(PropagationBaggage, DecodeTable) {
  struct Case {
    std::string header;
    Entries want;
  };
  const std::vector<Case> cases = {
      {"k=v", {{"k", "v"}}},
      {"userId=alice,serverNode=DF%2028,isProduction=false",
       {{"userId", "alice"}, {"serverNode", "DF 28"}, {"isProduction", "false"}}},
      {"  k1 =  v1 ,\tk2=v2\t, k3 = v3 ", {{"k1", "v1"}, {"k2", "v2"}, {"k3", "v3"}}},
      {"key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
       {{"key1", "value1"}, {"key2", "value2"}, {"key3", "value3"}}},
      {"k=v ; p = x ;q", {{"k", "v"}}},
      {"k=a%20b%2C%3B%3D%25", {{"k", "a b,;=%"}}},
      {"k=%E6%97%A5%E6%9C%AC", {{"k", "日本"}}},
      {"k=%e6%97%a5", {{"k", "日"}}},
      {"k=%C3%A9%F0%9F%8E%89", {{"k", "é🎉"}}},
      {"k=%FF", {{"k", kFFFD}}},
      {"k=a%C3", {{"k", "a" + kFFFD}}},
      {"k=%ED%A0%80", {{"k", kFFFD + kFFFD + kFFFD}}},
      {"k=%00", {{"k", std::string("\0", 1)}}},
      {"k=a+b", {{"k", "a+b"}}},  // "+" is not a space
      {"k=a=b==", {{"k", "a=b=="}}},
      {"k=", {{"k", ""}}},
      {"k=  ", {{"k", ""}}},
      {"!#$%&'*+-.^_`|~=x", {{"!#$%&'*+-.^_`|~", "x"}}},
      {"k=!#$&'()*+-./:<>?@[]^_`{|}~", {{"k", "!#$&'()*+-./:<>?@[]^_`{|}~"}}},
      {"a=1,k=%2,b=2", {{"a", "1"}, {"b", "2"}}},  // bad percent-encoding: member dropped
      {"a=1,k=%zz,k2=%,b=2", {{"a", "1"}, {"b", "2"}}},
      {"a=1,,b=2,", {{"a", "1"}, {"b", "2"}}},
      {"=v,k,k v=1,k=a b,k=\"q\",k=a\\b,k=\x80,k(=1,k=v;,k=v;=x,k=v;p q,ok=1", {{"ok", "1"}}},
      {"k=1,j=2,k=3", {{"k", "3"}, {"j", "2"}}},  // first position, last value
      {"K=1,k=2", {{"K", "1"}, {"k", "2"}}},      // keys are case-sensitive
      {"", {}},
      {" , ,", {}},
      {"garbage", {}},
  };
  for (const auto &c : cases) {
    auto r = extract({{"baggage", c.header}});
    EXPECT_EQ(r.status, OTEL_OK) << c.header;
    EXPECT_EQ(r.baggage, c.want) << c.header;
    EXPECT_TRUE(is_zero(r.ctx));
  }
}

TEST(PropagationBaggage, MultipleHeadersCombineAndNamesAreCaseInsensitive) {
  auto r = extract({{"Baggage", "userId=alice"},
                    {"x-other", "k=no"},
                    {"BAGGAGE", "serverNode=DF%2028,isProduction=false"},
                    {"baggage", ""},
                    {"baggage", "userId=bob"}});
  EXPECT_EQ(r.baggage,
            (Entries{{"userId", "bob"}, {"serverNode", "DF 28"}, {"isProduction", "false"}}));
  r = extract({{"baggage ", "a=1"}, {"bagage", "b=2"}, {"baggage-x", "c=3"}});
  EXPECT_TRUE(r.baggage.empty());
}

TEST(PropagationBaggage, ExtractAppliesTheW3CLimits) {
  std::string h;
  for (int i = 0; i < 200; i++) h += (i ? "," : "") + ("k" + std::to_string(i)) + "=v";
  auto r = extract({{"baggage", h}});
  ASSERT_EQ(r.baggage.size(), 180u);
  EXPECT_EQ(r.baggage.back().first, "k179");
  // Across headers too.
  r = extract({{"baggage", h}, {"baggage", "late=1"}});
  EXPECT_EQ(r.baggage.size(), 180u);
  // Invalid members do not count.
  std::string with_bad = "bad,=x," + h;
  r = extract({{"baggage", with_bad}});
  EXPECT_EQ(r.baggage.size(), 180u);
  EXPECT_EQ(r.baggage.front().first, "k0");

  // Per member: over 4096 bytes is skipped; the rest still counts.
  r = extract({{"baggage", "a=1,big=" + std::string(4093, 'x') + ",b=2"}});
  EXPECT_EQ(r.baggage, (Entries{{"a", "1"}, {"b", "2"}}));
  r = extract({{"baggage", "big=" + std::string(4092, 'x')}});
  ASSERT_EQ(r.baggage.size(), 1u);
  EXPECT_EQ(r.baggage[0].second.size(), 4092u);
  // In all: 8192 bytes of list-members (with their commas); members past that are ignored.
  std::string big;
  for (int i = 0; i < 5; i++)
    big += (i ? "," : "") + ("k" + std::to_string(i)) + "=" + std::string(2000, 'x');
  r = extract({{"baggage", big}});
  EXPECT_EQ(r.baggage.size(), 4u);
  // Exactly 8192: 2 members of 4095 bytes + "," + 1 member of 1 byte... (4095+1+4095+1+1 > 8192)
  std::string exact = "a=" + std::string(4093, 'x') + ",b=" + std::string(4093, 'y');  // 8191
  r = extract({{"baggage", exact + ",c"}});  // "c" is invalid: does not count
  EXPECT_EQ(r.baggage.size(), 2u);
  r = extract({{"baggage", "a=" + std::string(4093, 'x') + ",b=" + std::string(4094, 'y')}});
  EXPECT_EQ(r.baggage.size(), 2u) << "8192 bytes exactly";
  r = extract({{"baggage", "a=" + std::string(4094, 'x') + ",b=" + std::string(4094, 'y')}});
  EXPECT_EQ(r.baggage.size(), 1u) << "8193 bytes";
}

TEST(PropagationBaggage, RoundTripsThroughInjectAndExtract) {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 300; iter++) {
    Entries in;
    int n = 1 + int(rng() % 6);
    for (int i = 0; i < n; i++) {
      std::string v;
      int len = int(rng() % 40);
      for (int j = 0; j < len; j++) v += char(rng() % 256);
      in.emplace_back("key" + std::to_string(i), v);
    }
    auto inj = inject(otel_span_context{}, "", in);
    ASSERT_EQ(inj.status, OTEL_OK);
    auto ext = extract(inj.headers);
    ASSERT_EQ(ext.status, OTEL_OK);
    ASSERT_EQ(ext.baggage.size(), in.size());
    for (size_t i = 0; i < in.size(); i++) {
      EXPECT_EQ(ext.baggage[i].first, in[i].first);
      EXPECT_EQ(ext.baggage[i].second, otb::utf8_repaired(S(in[i].second)));
    }
  }
}

// ---- extract ----------------------------------------------------------------------------------

TEST(PropagationExtract, TraceContext) {
  auto r =
      extract({{"traceparent", kTp}, {"tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"}});
  ASSERT_EQ(r.status, OTEL_OK);
  EXPECT_EQ(hex(r.ctx.trace_id, 16), kTraceId);
  EXPECT_EQ(hex(r.ctx.span_id, 8), kSpanId);
  EXPECT_EQ(r.ctx.trace_flags, 1);
  EXPECT_EQ(r.ctx.is_remote, 1);
  EXPECT_EQ(r.trace_state, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");

  // Names in any case; surrounding whitespace of the values is optional whitespace.
  r = extract({{"TraceParent", " \t" + kTp + " "}, {"TRACESTATE", " a=1 "}});
  EXPECT_EQ(hex(r.ctx.trace_id, 16), kTraceId);
  EXPECT_EQ(r.trace_state, "a=1");

  // Several tracestate headers are one list; it is returned normalized.
  r = extract({{"tracestate", "a=1,, "}, {"traceparent", kTp}, {"Tracestate", " b=2 ,c= 3"}});
  EXPECT_EQ(r.trace_state, "a=1,b=2,c= 3");
  // One bad member (in any header), a duplicate or a 33rd member drops the whole list, not the
  // context.
  r = extract({{"traceparent", kTp}, {"tracestate", "a=1"}, {"tracestate", "B=2"}});
  EXPECT_EQ(r.ctx.is_remote, 1);
  EXPECT_EQ(r.trace_state, "");
  r = extract({{"traceparent", kTp}, {"tracestate", "a=1"}, {"tracestate", "a=2"}});
  EXPECT_EQ(r.trace_state, "");
  std::string m33;
  for (int i = 0; i < 33; i++) m33 += (i ? "," : "") + ("k" + std::to_string(i)) + "=v";
  r = extract({{"traceparent", kTp}, {"tracestate", m33}});
  EXPECT_EQ(r.trace_state, "");
  EXPECT_EQ(r.ctx.is_remote, 1);

  // No valid traceparent: no context and no tracestate.
  for (std::string tp : {std::string(""), "00-" + kTraceId + "-" + kSpanId + "-01-x",
                         "ff-" + kTraceId + "-" + kSpanId + "-01", std::string("garbage")}) {
    r = extract({{"traceparent", tp}, {"tracestate", "a=1"}, {"baggage", "k=v"}});
    EXPECT_EQ(r.status, OTEL_OK);
    EXPECT_TRUE(is_zero(r.ctx)) << tp;
    EXPECT_EQ(r.trace_state, "");
    EXPECT_EQ(r.baggage, (Entries{{"k", "v"}})) << "baggage does not depend on the traceparent";
  }
  r = extract({{"tracestate", "a=1"}});
  EXPECT_TRUE(is_zero(r.ctx));
  EXPECT_EQ(r.trace_state, "");

  // Only the first traceparent counts.
  std::string other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
  r = extract({{"traceparent", other}, {"traceparent", kTp}});
  EXPECT_EQ(hex(r.ctx.trace_id, 16), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(r.ctx.trace_flags, 0);
  r = extract({{"traceparent", "bad"}, {"traceparent", kTp}});
  EXPECT_TRUE(is_zero(r.ctx));

  // A future version.
  r = extract({{"traceparent", "cc-" + kTraceId + "-" + kSpanId + "-09-extra"}});
  EXPECT_EQ(r.ctx.trace_flags, 9);
  EXPECT_EQ(r.ctx.is_remote, 1);
}

TEST(PropagationExtract, ConfiguredPropagatorsOnly) {
  Headers hs = {{"traceparent", kTp}, {"tracestate", "a=1"}, {"baggage", "k=v"}};
  auto r = extract(hs, Propagators{true, false});
  EXPECT_EQ(r.ctx.is_remote, 1);
  EXPECT_TRUE(r.baggage.empty());
  r = extract(hs, Propagators{false, true});
  EXPECT_TRUE(is_zero(r.ctx));
  EXPECT_EQ(r.trace_state, "");
  EXPECT_EQ(r.baggage.size(), 1u);
  r = extract(hs, Propagators{false, false});
  EXPECT_EQ(r.status, OTEL_OK);
  EXPECT_TRUE(is_zero(r.ctx));
  EXPECT_TRUE(r.baggage.empty());
}

TEST(PropagationExtract, BufferOrBaggageArrayTooSmall) {
  Headers hs = {{"traceparent", kTp}, {"tracestate", "a=1,b=2"}, {"baggage", "k=v,j=%E6%97%A5"}};
  // Needs: "a=1,b=2" (7) + "k" "v" "j" "日" (1+1+1+3) = 13 bytes.
  auto r = extract(hs, Propagators(), 13);
  ASSERT_EQ(r.status, OTEL_OK);
  EXPECT_EQ(r.trace_state, "a=1,b=2");
  EXPECT_EQ(r.baggage, (Entries{{"k", "v"}, {"j", "日"}}));
  for (size_t len = 0; len < 13; len++)
    EXPECT_EQ(extract(hs, Propagators(), len).status, OTEL_E_INVALID_ARG) << len;
  // Only what was found needs room: no buffer at all is fine without tracestate and baggage.
  r = extract({{"traceparent", kTp}}, Propagators(), 0);
  EXPECT_EQ(r.status, OTEL_OK);
  EXPECT_EQ(r.ctx.is_remote, 1);
  r = extract({{"traceparent", kTp}, {"tracestate", "A=1"}}, Propagators(), 0);
  EXPECT_EQ(r.status, OTEL_OK) << "an invalid tracestate is dropped, it needs no room";
  // More distinct keys than the caller's array holds.
  EXPECT_EQ(extract(hs, Propagators(), 100, 1).status, OTEL_E_INVALID_ARG);
  EXPECT_EQ(extract({{"baggage", "k=1,k=2"}}, Propagators(), 100, 1).status, OTEL_OK);
  // max_baggage 0: baggage is not wanted, so never too small.
  r = extract(hs, Propagators(), 7, 0);
  EXPECT_EQ(r.status, OTEL_OK);
  EXPECT_EQ(r.trace_state, "a=1,b=2");
}

TEST(PropagationExtract, BadArgumentsAndOptionalOutputs) {
  otel_span_context ctx;
  otel_str ts;
  otel_attr bag[2];
  size_t nb = 0;
  char buf[64];
  Propagators p;
  otel_header h[2] = {{S("traceparent"), S(kTp)}, {S("tracestate"), S("a=1")}};
  EXPECT_EQ(otb::propagation_extract(p, h, 2, nullptr, &ts, bag, 2, &nb, buf, sizeof buf),
            OTEL_E_INVALID_ARG);
  EXPECT_EQ(otb::propagation_extract(p, nullptr, 2, &ctx, &ts, bag, 2, &nb, buf, sizeof buf),
            OTEL_E_INVALID_ARG);
  EXPECT_EQ(otb::propagation_extract(p, h, 2, &ctx, &ts, nullptr, 2, &nb, buf, sizeof buf),
            OTEL_E_INVALID_ARG);
  EXPECT_EQ(otb::propagation_extract(p, h, 2, &ctx, &ts, bag, 2, nullptr, buf, sizeof buf),
            OTEL_E_INVALID_ARG);
  EXPECT_EQ(otb::propagation_extract(p, h, 2, &ctx, &ts, bag, 2, &nb, nullptr, 5),
            OTEL_E_INVALID_ARG);
  otel_header bad = {S("baggage"), otel_str{nullptr, 3}};
  EXPECT_EQ(otb::propagation_extract(p, &bad, 1, &ctx, &ts, bag, 2, &nb, buf, sizeof buf),
            OTEL_E_INVALID_ARG);
  // trace_state may be NULL (then it is neither parsed nor written); baggage NULL with 0.
  ASSERT_EQ(otb::propagation_extract(p, h, 2, &ctx, nullptr, nullptr, 0, nullptr, nullptr, 0),
            OTEL_OK);
  EXPECT_EQ(ctx.is_remote, 1);
  EXPECT_EQ(otb::propagation_extract(p, nullptr, 0, &ctx, &ts, bag, 2, &nb, buf, sizeof buf),
            OTEL_OK);
  EXPECT_TRUE(is_zero(ctx));
  EXPECT_EQ(ts.len, 0u);
  EXPECT_EQ(nb, 0u);
}

TEST(PropagationExtract, InjectedHeadersExtractToTheSameContext) {
  std::mt19937_64 rng(11);
  for (int i = 0; i < 200; i++) {
    otel_span_context c;
    memset(&c, 0, sizeof c);
    for (auto &b : c.trace_id) b = uint8_t(rng());
    for (auto &b : c.span_id) b = uint8_t(rng());
    c.trace_flags = uint8_t(rng());
    if (i == 0) memset(c.trace_id, 0, 15);  // only the last byte set: still valid
    auto inj = inject(c, "vendor=" + std::to_string(rng() % 1000) + ",a@b=x y", {{"k", "v"}});
    ASSERT_EQ(inj.headers.size(), 3u);
    auto ext = extract(inj.headers);
    EXPECT_EQ(memcmp(ext.ctx.trace_id, c.trace_id, 16), 0);
    EXPECT_EQ(memcmp(ext.ctx.span_id, c.span_id, 8), 0);
    EXPECT_EQ(ext.ctx.trace_flags, c.trace_flags);
    EXPECT_EQ(ext.ctx.is_remote, 1);
    EXPECT_EQ(ext.trace_state, header(inj.headers, "tracestate"));
  }
}

// Random bytes and mutated valid headers: never a crash, never a view outside the buffer
// (extract() checks), never an invalid result.
TEST(PropagationFuzz, RandomBytesNeverCrash) {
  std::mt19937 rng(20240611);
  const std::vector<std::string> names = {"traceparent", "TRACEPARENT", "tracestate", "TraceState",
                                          "baggage",     "Baggage",     "other",      ""};
  const std::vector<std::string> seeds = {kTp,
                                          "cc-" + kTraceId + "-" + kSpanId + "-01-future",
                                          "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
                                          "a@b=1, c=2 ,,",
                                          "k1=v1;p1;p2=x, k2 = DF%2028 , k3=%E6%97%A5",
                                          "k=%FF%C3,j=%zz"};
  const char alphabet[] = "0123456789abcdefABCDEF-=,;% \t@*/_\"\\\x7f\x80\xff";
  auto random_value = [&]() {
    std::string v;
    switch (rng() % 3) {
      case 0: {  // random bytes
        int len = int(rng() % 120);
        for (int i = 0; i < len; i++) v += char(rng() % 256);
        break;
      }
      case 1: {  // characters that matter to the grammars
        int len = int(rng() % 120);
        for (int i = 0; i < len; i++) v += alphabet[rng() % (sizeof alphabet - 1)];
        break;
      }
      default: {  // a valid header with a few mutations
        v = seeds[rng() % seeds.size()];
        int edits = 1 + int(rng() % 4);
        for (int e = 0; e < edits && !v.empty(); e++) {
          size_t at = rng() % v.size();
          switch (rng() % 3) {
            case 0:
              v[at] = alphabet[rng() % (sizeof alphabet - 1)];
              break;
            case 1:
              v.erase(at, 1);
              break;
            default:
              v.insert(at, 1, alphabet[rng() % (sizeof alphabet - 1)]);
              break;
          }
        }
      }
    }
    return v;
  };
  for (int iter = 0; iter < 20000; iter++) {
    Headers hs;
    int n = int(rng() % 6);
    for (int i = 0; i < n; i++) hs.emplace_back(names[rng() % names.size()], random_value());
    size_t buf_len = rng() % 4 == 0 ? rng() % 64 : 4096;
    size_t max_bag = rng() % 4 == 0 ? rng() % 3 : 64;
    auto r = extract(hs, Propagators(), buf_len, max_bag);
    ASSERT_TRUE(r.status == OTEL_OK || r.status == OTEL_E_INVALID_ARG);
    if (r.status != OTEL_OK) continue;
    if (!is_zero(r.ctx)) {
      EXPECT_EQ(r.ctx.is_remote, 1);
      char tp[55];
      EXPECT_TRUE(otb::traceparent_format(r.ctx, tp));
    }
    EXPECT_TRUE(ts_valid(r.trace_state)) << r.trace_state;
    for (auto &kv : r.baggage) {
      EXPECT_FALSE(kv.first.empty());
      EXPECT_TRUE(otb::utf8_scan(kv.second.data(), kv.second.size(), SIZE_MAX).valid);
    }
    // Whatever was extracted injects and extracts back to itself.
    auto inj = inject(r.ctx, r.trace_state, r.baggage);
    ASSERT_EQ(inj.status, OTEL_OK);
    auto again = extract(inj.headers, Propagators(), 65536, 256);
    EXPECT_EQ(memcmp(&again.ctx, &r.ctx, sizeof r.ctx), 0);
    EXPECT_EQ(again.trace_state, r.trace_state);
    EXPECT_EQ(again.baggage, r.baggage);
  }
  // Random inject inputs as well.
  for (int iter = 0; iter < 5000; iter++) {
    otel_span_context c;
    for (size_t i = 0; i < sizeof c; i++) reinterpret_cast<uint8_t *>(&c)[i] = uint8_t(rng());
    Entries bag;
    int n = int(rng() % 4);
    for (int i = 0; i < n; i++) bag.emplace_back(random_value(), random_value());
    auto inj =
        inject(c, random_value(), bag, Propagators(), rng() % 2 ? 4096 : rng() % 200, rng() % 4);
    ASSERT_TRUE(inj.status == OTEL_OK || inj.status == OTEL_E_INVALID_ARG);
  }
}
