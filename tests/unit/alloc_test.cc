// Hot-path rule 2 (DESIGN.md §2): no heap allocation per record in steady state.
#include <gtest/gtest.h>

#include <thread>

#include "../support/alloc_count.h"
#include "metrics.h"
#include "spans.h"
#include "test_helpers.h"

using namespace otbtest;

TEST(Alloc, EmitAllocatesNothingInSteadyState) {
  ASSERT_EQ(otb_alloc_count_active(), 1) << "the counting allocator is not active";
  Sink sink;
  otb::Engine *e = make_engine(&sink, {{"OTEL_BLRP_MAX_QUEUE_SIZE", "4096"},
                                       {"OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "256"},
                                       {"OTEL_BLRP_SCHEDULE_DELAY", "5"}});
  ASSERT_NE(e, nullptr);
  otb::Scope *scope;
  ASSERT_EQ(e->scope_get(S("alloc"), S(""), S(""), nullptr, 0, &scope), OTEL_OK);
  otel_value arr_items[2] = {otel_value_int(1), otel_value_str(S("two"))};
  otel_value arr;
  arr.type = OTEL_VALUE_ARRAY;
  arr.u.array = {arr_items, 2};
  otel_attr attrs[5] = {{S("http.method"), otel_value_str(S("GET"))},
                        {S("http.status_code"), otel_value_int(200)},
                        {S("user.id"), otel_value_str(S("u-12345"))},
                        {S("latency_ms"), otel_value_double(12.5)},
                        {S("list"), arr}};
  otel_value body =
      otel_value_str(S("a log message that is long enough to be realistic, with some words"));
  otel_span_context ctx = {{1, 2, 3}, {4, 5}, 1, 0, {}};
  otb::LogRecordArgs a{0, 0, 9, S("INFO"), &body, attrs, 5, S(""), &ctx};
  auto burst = [&](int n) {
    for (int i = 0; i < n; i++) ASSERT_EQ(e->emit_log(scope, a), OTEL_OK);
    ASSERT_EQ(e->flush(10000), OTEL_OK);
  };
  // Warm-up with the measured pattern itself: the thread-local buffer, the worker's buffers and
  // the ring reach their steady size. (The ring may grow a few times in its life — at most
  // log2(cap / 256 KiB) — depending on how the worker's copies overlap the bursts; that is
  // growth, not a per-record allocation, and the warm-up takes it.)
  for (int round = 0; round < 10; round++) burst(2000);
  uint64_t allocs = 0;
  for (int round = 0; round < 5; round++) {
    uint64_t before = otb_thread_allocs();
    for (int i = 0; i < 2000; i++) ASSERT_EQ(e->emit_log(scope, a), OTEL_OK);
    allocs += otb_thread_allocs() - before;
    ASSERT_EQ(e->flush(10000), OTEL_OK);
  }
  EXPECT_EQ(allocs, 0u) << "allocations on the emitting thread for 10000 records";
  EXPECT_EQ(sink.total_items(), 30000u);
  otb::Engine::destroy(e);
}

TEST(Alloc, SpanStartAndEndAllocateNothingInSteadyState) {
  ASSERT_EQ(otb_alloc_count_active(), 1);
  Sink sink;
  otb::Engine *e = make_engine(&sink, {{"OTEL_LOGS_EXPORTER", "none"},
                                       {"OTEL_BSP_MAX_QUEUE_SIZE", "8192"},
                                       {"OTEL_BSP_SCHEDULE_DELAY", "5"}});
  ASSERT_NE(e, nullptr);
  otb::Scope *scope;
  ASSERT_EQ(e->scope_get(S("alloc.spans"), S(""), S(""), nullptr, 0, &scope), OTEL_OK);
  otel_attr attrs[4] = {{S("http.request.method"), otel_value_str(S("GET"))},
                        {S("http.response.status_code"), otel_value_int(200)},
                        {S("url.path"), otel_value_str(S("/api/todos"))},
                        {S("server.port"), otel_value_int(8080)}};
  otel_span_parent root = {OTEL_PARENT_ROOT, 0, 0, {}, {}};
  auto round = [&](int n, uint64_t *allocs) {
    uint64_t before = otb_thread_allocs();
    for (int i = 0; i < n; i++) {
      otel_span h;
      otb::SpanStart a{
          scope, S("GET /api/todos"), OTEL_SPAN_KIND_SERVER, 0, &root, attrs, 4, nullptr, 0};
      ASSERT_EQ(e->spans()->start(a, &h), OTEL_OK);
      otel_attr extra = {S("user.id"), otel_value_str(S("u-1"))};
      ASSERT_EQ(e->spans()->set_attrs(h, &extra, 1), OTEL_OK);
      ASSERT_EQ(e->spans()->add_event(h, S("cache.miss"), 0, nullptr, 0), OTEL_OK);
      ASSERT_EQ(e->spans()->end(h, 0), OTEL_OK);
    }
    if (allocs) *allocs += otb_thread_allocs() - before;
    ASSERT_EQ(e->flush(10000), OTEL_OK);
  };
  for (int i = 0; i < 10; i++) round(1000, nullptr);  // warm-up: slots, buffers, ring
  uint64_t allocs = 0;
  for (int i = 0; i < 5; i++) round(1000, &allocs);
  EXPECT_EQ(allocs, 0u) << "allocations on the calling thread for 5000 spans";
  otb::Engine::destroy(e);
}

TEST(Alloc, MetricRecordsAllocateNothingInSteadyState) {
  ASSERT_EQ(otb_alloc_count_active(), 1);
  Sink sink;
  otb::Engine *e = make_engine(&sink, {{"OTEL_LOGS_EXPORTER", "none"},
                                       {"OTEL_TRACES_EXPORTER", "none"},
                                       {"OTEL_METRICS_EXPORTER", "console"}});
  ASSERT_NE(e, nullptr);
  otb::Scope *scope;
  ASSERT_EQ(e->scope_get(S("alloc.metrics"), S(""), S(""), nullptr, 0, &scope), OTEL_OK);
  otb::Instrument *counter = nullptr, *hist = nullptr;
  ASSERT_EQ(e->meters()->create(scope, OTEL_INSTRUMENT_COUNTER, OTEL_NUMBER_INT, S("requests"),
                                S(""), S(""), nullptr, 0, nullptr, nullptr, &counter),
            OTEL_OK);
  ASSERT_EQ(e->meters()->create(scope, OTEL_INSTRUMENT_HISTOGRAM, OTEL_NUMBER_DOUBLE, S("latency"),
                                S(""), S(""), nullptr, 0, nullptr, nullptr, &hist),
            OTEL_OK);
  otel_attr attrs[3] = {{S("http.route"), otel_value_str(S("/api/todos"))},
                        {S("http.request.method"), otel_value_str(S("GET"))},
                        {S("http.response.status_code"), otel_value_int(200)}};
  otb::Series *bound = nullptr;
  ASSERT_EQ(otb::instrument_bind(counter, attrs, 3, &bound), OTEL_OK);
  auto round = [&](uint64_t *allocs) {
    uint64_t before = otb_thread_allocs();
    for (int i = 0; i < 1000; i++) {
      ASSERT_EQ(otb::instrument_record(counter, false, 1, 0, attrs, 3), OTEL_OK);
      ASSERT_EQ(otb::instrument_record(hist, true, 0, i % 97, attrs, 3), OTEL_OK);
      ASSERT_EQ(otb::series_record(bound, false, 1, 0), OTEL_OK);
    }
    if (allocs) *allocs += otb_thread_allocs() - before;
  };
  for (int i = 0; i < 3; i++) round(nullptr);
  uint64_t allocs = 0;
  for (int i = 0; i < 5; i++) round(&allocs);
  EXPECT_EQ(allocs, 0u) << "allocations on the calling thread for 15000 measurements";
  otb::Engine::destroy(e);
}
