// Spans: handles, parents and context, limits, status rules, sampling, encoding, concurrency.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "spans.h"
#include "test_helpers.h"

using namespace otbtest;

namespace {

struct SpanFixture : ::testing::Test {
  Sink sink;
  otb::Engine *e = nullptr;
  otb::Scope *scope = nullptr;
  void start(std::vector<std::pair<std::string, std::string>> kv) {
    kv.emplace_back("OTEL_LOGS_EXPORTER", "none");
    kv.emplace_back("OTEL_BSP_SCHEDULE_DELAY", "10");
    e = make_engine(&sink, kv);
    ASSERT_NE(e, nullptr);
    ASSERT_EQ(e->scope_get(S("spans.test"), S("2.0"), S(""), nullptr, 0, &scope), OTEL_OK);
  }
  void SetUp() override {}
  void TearDown() override {
    if (e) otb::Engine::destroy(e);
  }
  otel_span begin(const char *name, const otel_span_parent *parent = nullptr,
                  const otel_attr *attrs = nullptr, size_t n = 0) {
    otel_span h = 0;
    otb::SpanStart a{scope, S(name), OTEL_SPAN_KIND_SERVER, 0, parent, attrs, n, nullptr, 0};
    EXPECT_EQ(e->spans()->start(a, &h), OTEL_OK);
    return h;
  }
  // Every exported span, in export order.
  std::vector<std::string> exported() {
    EXPECT_EQ(e->flush(5000), OTEL_OK);
    std::lock_guard<std::mutex> lk(sink.mu);
    std::vector<std::string> out;
    for (size_t i = 0; i < sink.requests.size(); i++)
      if (sink.signals[i] == otb::Signal::kTraces)
        for (auto &sp : spans_in(sink.requests[i])) out.push_back(sp);
    return out;
  }
  static std::string attr_value(const std::string &span, const std::string &key,
                                uint32_t field = 9) {
    for (auto &kv : pb_all(span, field))
      if (pb_one(kv, 1) == key) return pb_one(kv, 2);
    return "<absent>";
  }
};

uint32_t fixed32(const std::string &msg, uint32_t field) {
  for (auto &f : pb_fields(msg))
    if (f.num == field) return static_cast<uint32_t>(f.u);
  return 0xFFFFFFFF;
}

}  // namespace

TEST_F(SpanFixture, ParentChildAndEncodedFields) {
  start({});
  otel_attr a[2] = {{S("http.route"), otel_value_str(S("/todos"))}, {S("n"), otel_value_int(1)}};
  otel_span root = begin("GET /todos", nullptr, a, 2);
  otel_span_parent p = {OTEL_PARENT_SPAN, 0, root, {}, {}};
  otel_span child = begin("db.query", &p);
  otel_attr upd[2] = {{S("n"), otel_value_int(2)}, {S("extra"), otel_value_bool(1)}};
  ASSERT_EQ(e->spans()->set_attrs(root, upd, 2), OTEL_OK);
  ASSERT_EQ(e->spans()->update_name(child, S("SELECT todos")), OTEL_OK);
  ASSERT_EQ(e->spans()->end(child, 0), OTEL_OK);
  ASSERT_EQ(e->spans()->set_status(root, OTEL_STATUS_ERROR, S("boom")), OTEL_OK);
  ASSERT_EQ(e->spans()->end(root, 0), OTEL_OK);
  auto spans = exported();
  ASSERT_EQ(spans.size(), 2u);
  const std::string &c = spans[0], &r = spans[1];
  EXPECT_EQ(pb_one(c, 5), "SELECT todos");
  EXPECT_EQ(pb_one(r, 5), "GET /todos");
  EXPECT_EQ(pb_one(c, 1), pb_one(r, 1)) << "same trace";
  EXPECT_EQ(pb_one(c, 4), pb_one(r, 2)) << "child's parent_span_id is the root's span_id";
  EXPECT_EQ(pb_one(r, 4), "") << "a root has no parent";
  EXPECT_EQ(pb_one(r, 1).size(), 16u);
  EXPECT_EQ(pb_one(r, 2).size(), 8u);
  EXPECT_EQ(pb_all(r, 9).size(), 3u) << "n overwritten in place, extra appended";
  auto n_value = pb_fields(attr_value(r, "n"));  // AnyValue{int_value}
  ASSERT_EQ(n_value.size(), 1u);
  EXPECT_EQ(n_value[0].u, 2u);
  EXPECT_EQ(fixed32(r, 16), 0x101u) << "sampled, parent known not remote";
  auto status = pb_one(r, 15);
  EXPECT_EQ(pb_one(status, 2), "boom");
}

TEST_F(SpanFixture, StaleAndDoubleEndedHandlesAreErrors) {
  start({});
  otel_span h = begin("once");
  ASSERT_EQ(e->spans()->end(h, 0), OTEL_OK);
  EXPECT_EQ(e->spans()->end(h, 0), OTEL_E_INVALID_HANDLE);
  EXPECT_EQ(e->spans()->set_attrs(h, nullptr, 0), OTEL_E_INVALID_HANDLE);
  otel_span reused = begin("reuses the slot");
  EXPECT_NE(reused, h) << "a reused slot gets a new generation";
  EXPECT_EQ(e->spans()->end(h, 0), OTEL_E_INVALID_HANDLE)
      << "the old handle does not end the new span";
  EXPECT_EQ(e->spans()->end(reused, 0), OTEL_OK);
  EXPECT_EQ(e->spans()->end(0, 0), OTEL_E_INVALID_HANDLE);
  EXPECT_EQ(e->spans()->end(0xFFFFFFFFFFFFFFFFull, 0), OTEL_E_INVALID_HANDLE);
  EXPECT_EQ(exported().size(), 2u);
}

TEST_F(SpanFixture, StatusRules) {
  start({});
  otel_span h = begin("s");
  EXPECT_EQ(e->spans()->set_status(h, 7, S("")), OTEL_E_INVALID_ARG);
  ASSERT_EQ(e->spans()->set_status(h, OTEL_STATUS_OK, S("ignored description")), OTEL_OK);
  ASSERT_EQ(e->spans()->set_status(h, OTEL_STATUS_ERROR, S("too late")), OTEL_OK);
  ASSERT_EQ(e->spans()->end(h, 0), OTEL_OK);
  auto st = pb_one(exported()[0], 15);
  EXPECT_EQ(pb_one(st, 2), "") << "no description with OK";
  EXPECT_EQ(pb_fields(st).back().u, 1u) << "OK is final";
}

TEST_F(SpanFixture, EventsLinksAndLimits) {
  start({{"OTEL_SPAN_EVENT_COUNT_LIMIT", "2"},
         {"OTEL_SPAN_LINK_COUNT_LIMIT", "1"},
         {"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "1"},
         {"OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", "1"}});
  otel_attr two[2] = {{S("a"), otel_value_int(1)}, {S("b"), otel_value_int(2)}};
  otel_span h = begin("limited", nullptr, two, 2);
  for (int i = 0; i < 3; i++)
    ASSERT_EQ(e->spans()->add_event(h, S("ev"), 1000 + i, two, 2), OTEL_OK);
  otel_link l = {};
  for (int i = 0; i < 16; i++) l.ctx.trace_id[i] = static_cast<uint8_t>(i + 1);
  l.ctx.span_id[0] = 9;
  l.ctx.trace_flags = 1;
  l.ctx.is_remote = 1;
  ASSERT_EQ(e->spans()->add_link(h, l), OTEL_OK);
  ASSERT_EQ(e->spans()->add_link(h, l), OTEL_OK);
  ASSERT_EQ(e->spans()->end(h, 0), OTEL_OK);
  std::string sp = exported()[0];
  EXPECT_EQ(pb_all(sp, 9).size(), 1u);
  EXPECT_EQ(pb_fields(sp).size() > 0, true);
  auto field = [&](uint32_t n) {
    for (auto &f : pb_fields(sp))
      if (f.num == n) return f.u;
    return uint64_t(0);
  };
  EXPECT_EQ(field(10), 1u) << "dropped attributes";
  EXPECT_EQ(pb_all(sp, 11).size(), 2u);
  EXPECT_EQ(field(12), 1u) << "dropped events";
  EXPECT_EQ(pb_all(sp, 13).size(), 1u);
  EXPECT_EQ(field(14), 1u) << "dropped links";
  auto ev = pb_all(sp, 11)[0];
  EXPECT_EQ(pb_all(ev, 3).size(), 1u);
  auto link = pb_all(sp, 13)[0];
  EXPECT_EQ(fixed32(link, 6), 0x301u) << "sampled, known remote";
}

TEST_F(SpanFixture, AlwaysOffStillPropagatesButExportsNothing) {
  start({{"OTEL_TRACES_SAMPLER", "always_off"}});
  otel_span h = begin("unsampled");
  EXPECT_EQ(e->spans()->is_recording(h), 0);
  otel_span_context c;
  ASSERT_EQ(e->spans()->context(h, &c), OTEL_OK);
  EXPECT_EQ(c.trace_flags & 1, 0);
  otel_span_parent p = {OTEL_PARENT_SPAN, 0, h, {}, {}};
  otel_span child = begin("child", &p);
  otel_span_context cc;
  ASSERT_EQ(e->spans()->context(child, &cc), OTEL_OK);
  EXPECT_EQ(memcmp(cc.trace_id, c.trace_id, 16), 0) << "the child continues the trace";
  e->spans()->end(child, 0);
  e->spans()->end(h, 0);
  EXPECT_TRUE(exported().empty());
}

TEST_F(SpanFixture, ParentBasedFollowsARemoteParent) {
  start({{"OTEL_TRACES_SAMPLER", "parentbased_always_off"}});
  otel_span_parent p = {OTEL_PARENT_REMOTE, 0, 0, {}, S("vendor=x")};
  for (int i = 0; i < 16; i++) p.ctx.trace_id[i] = 0xAB;
  p.ctx.span_id[7] = 1;
  p.ctx.trace_flags = 1;
  otel_span h = begin("continues", &p);
  EXPECT_EQ(e->spans()->is_recording(h), 1) << "a sampled remote parent wins over the root sampler";
  e->spans()->end(h, 0);
  std::string sp = exported()[0];
  EXPECT_EQ(fixed32(sp, 16), 0x301u) << "remote parent";
  EXPECT_EQ(pb_one(sp, 3), "vendor=x") << "trace state inherited";
  otel_span root = begin("root");
  EXPECT_EQ(e->spans()->is_recording(root), 0) << "no parent: the root sampler (always_off)";
  e->spans()->end(root, 0);
}

TEST(Sampler, TraceIdRatioMatchesTheOfficialRule) {
  // Python SDK: sampled iff (trace_id & (2^64-1)) < round(rate * 2^64).
  auto s = otb::Sampler::from("traceidratio", 0.25);
  uint8_t id[16] = {};
  uint64_t bound = 0x4000000000000000ull;
  auto set_low = [&](uint64_t v) {
    for (int i = 15; i >= 8; i--, v >>= 8) id[i] = static_cast<uint8_t>(v);
  };
  set_low(bound - 1);
  EXPECT_TRUE(s.sample(id, nullptr));
  set_low(bound);
  EXPECT_FALSE(s.sample(id, nullptr));
  id[0] = 0xFF;  // the high half does not matter
  set_low(0);
  EXPECT_TRUE(s.sample(id, nullptr));
  EXPECT_TRUE(otb::Sampler::from("traceidratio", 1.0).sample(id, nullptr));
  set_low(0);
  EXPECT_FALSE(otb::Sampler::from("traceidratio", 0.0).sample(id, nullptr));
}

TEST_F(SpanFixture, ContextStackAndLogCorrelation) {
  start({});
  otel_span h = begin("current");
  otel_span_context c;
  ASSERT_EQ(e->spans()->context(h, &c), OTEL_OK);
  uint64_t tok;
  ASSERT_EQ(otb::context_attach(h, c, otel_str{nullptr, 0}, &tok), OTEL_OK);
  otel_span child = begin("implicit child");  // OTEL_PARENT_CURRENT
  otel_span cur = 0;
  const otel_span_context *now = otb::context_current(&cur, nullptr);
  ASSERT_NE(now, nullptr);
  EXPECT_EQ(cur, h);
  uint64_t tok2;
  ASSERT_EQ(otb::context_attach(child, c, otel_str{nullptr, 0}, &tok2), OTEL_OK);
  EXPECT_EQ(otb::context_restore(tok), OTEL_E_INVALID_ARG) << "out of order";
  EXPECT_EQ(otb::context_restore(tok2), OTEL_OK);
  EXPECT_EQ(otb::context_restore(tok), OTEL_OK);
  EXPECT_EQ(otb::context_current(nullptr, nullptr), nullptr);
  uint64_t tok3;
  ASSERT_EQ(otb::context_attach(h, c, otel_str{nullptr, 0}, &tok3), OTEL_OK);
  EXPECT_EQ(otb::context_restore(tok), OTEL_E_INVALID_ARG)
      << "a used token at the same depth pops nothing";
  EXPECT_EQ(otb::context_restore(tok3), OTEL_OK);
  e->spans()->end(child, 0);
  e->spans()->end(h, 0);
  auto spans = exported();
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(pb_one(spans[0], 4), pb_one(spans[1], 2))
      << "OTEL_PARENT_CURRENT used the attached span";
}

TEST_F(SpanFixture, ManyThreadsNestedSpans) {
  start({{"OTEL_BSP_MAX_QUEUE_SIZE", "100000"}, {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512"}});
  constexpr int kThreads = 6, kTraces = 300;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++)
    ts.emplace_back([&] {
      for (int i = 0; i < kTraces; i++) {
        otel_span r = begin("root");
        otel_span_parent p = {OTEL_PARENT_SPAN, 0, r, {}, {}};
        otel_span c1 = begin("c1", &p);
        otel_span_parent p2 = {OTEL_PARENT_SPAN, 0, c1, {}, {}};
        otel_span c2 = begin("c2", &p2);
        otel_attr a = {S("i"), otel_value_int(i)};
        e->spans()->set_attrs(c2, &a, 1);
        e->spans()->add_event(c1, S("e"), 0, nullptr, 0);
        EXPECT_EQ(e->spans()->end(c2, 0), OTEL_OK);
        EXPECT_EQ(e->spans()->end(c1, 0), OTEL_OK);
        EXPECT_EQ(e->spans()->end(r, 0), OTEL_OK);
      }
    });
  for (auto &t : ts) t.join();
  auto spans = exported();
  ASSERT_EQ(spans.size(), size_t(kThreads) * kTraces * 3);
  std::set<std::string> ids;
  for (auto &s : spans) ids.insert(pb_one(s, 2));
  EXPECT_EQ(ids.size(), spans.size()) << "span ids are unique";
}
