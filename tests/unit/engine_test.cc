#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "test_helpers.h"

using namespace otbtest;
using Clock = std::chrono::steady_clock;

namespace {

struct EngineFixture : ::testing::Test {
  Sink sink;
  otb::Engine *e = nullptr;
  otb::Scope *scope = nullptr;
  void start(std::vector<std::pair<std::string, std::string>> kv) {
    e = make_engine(&sink, kv);
    ASSERT_NE(e, nullptr);
    ASSERT_EQ(e->scope_get(S("test.scope"), S("1.0"), S(""), nullptr, 0, &scope), OTEL_OK);
  }
  void TearDown() override {
    sink.release();
    if (e) otb::Engine::destroy(e);
  }
  int32_t emit(const std::string &body) {
    otel_value v = otel_value_str(S(body));
    otb::LogRecordArgs a{0, 0, 9, S("INFO"), &v, nullptr, 0, S(""), nullptr};
    return e->emit_log(scope, a);
  }
  std::vector<uint64_t> stats() {
    std::vector<uint64_t> s(OTEL_STAT_COUNT);
    e->stats(OTEL_SIGNAL_LOGS, s.data(), s.size());
    return s;
  }
};

}  // namespace

TEST_F(EngineFixture, FullBatchesGoOutWithoutWaitingForTheTimer) {
  start({{"OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "10"}, {"OTEL_BLRP_SCHEDULE_DELAY", "60000"}});
  for (int i = 0; i < 30; i++) ASSERT_EQ(emit("r" + std::to_string(i)), OTEL_OK);
  auto until = Clock::now() + std::chrono::seconds(5);
  while (sink.total_items() < 30 && Clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::lock_guard<std::mutex> lk(sink.mu);
  EXPECT_EQ(sink.batch_items, (std::vector<size_t>{10, 10, 10}));
  std::vector<std::string> bodies;
  for (auto &r : sink.requests)
    for (auto &rec : log_records(r)) bodies.push_back(body_string(rec));
  ASSERT_EQ(bodies.size(), 30u);
  for (int i = 0; i < 30; i++) EXPECT_EQ(bodies[i], "r" + std::to_string(i));
}

TEST_F(EngineFixture, TimerExportsAPartialBatch) {
  start({{"OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "100"}, {"OTEL_BLRP_SCHEDULE_DELAY", "50"}});
  emit("lonely");
  auto until = Clock::now() + std::chrono::seconds(5);
  while (sink.total_items() < 1 && Clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(sink.total_items(), 1u);
}

TEST_F(EngineFixture, SlowExporterGetsFullBatchesNotAStreamOfTinyOnes) {
  // opentelemetry-cpp issue 4449: with a slow exporter the worker must not send one tiny batch
  // per record. Producers emit steadily while each export takes 50 ms.
  start({{"OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "50"},
         {"OTEL_BLRP_SCHEDULE_DELAY", "5000"},
         {"OTEL_BLRP_MAX_QUEUE_SIZE", "10000"}});
  sink.delay_ms = 50;
  for (int i = 0; i < 500; i++) {
    ASSERT_EQ(emit("r"), OTEL_OK);
    if (i % 25 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(e->flush(10000), OTEL_OK);
  std::lock_guard<std::mutex> lk(sink.mu);
  size_t total = 0, small = 0;
  for (size_t n : sink.batch_items) {
    total += n;
    small += n < 50;
  }
  EXPECT_EQ(total, 500u);
  EXPECT_EQ(small, 0u) << "500 records in batches of 50: every batch full";
  EXPECT_EQ(sink.batch_items.size(), 10u);
}

TEST_F(EngineFixture, FlushAndShutdownHonourTimeoutsWithASinkThatNeverReturns) {
  start({{"OTEL_BLRP_SCHEDULE_DELAY", "10"}});
  sink.blocked = true;
  for (int i = 0; i < 5; i++) emit("stuck");
  auto t0 = Clock::now();
  EXPECT_EQ(e->flush(200), OTEL_E_TIMEOUT);
  auto flush_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  EXPECT_GE(flush_ms, 190);
  EXPECT_LT(flush_ms, 1500);
  emit("queued behind");
  t0 = Clock::now();
  EXPECT_EQ(e->shutdown(300), OTEL_E_TIMEOUT);
  auto shut_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  EXPECT_LT(shut_ms, 1500);
  EXPECT_EQ(emit("after"), OTEL_E_SHUTDOWN);
  // Shutdown cancelled the stuck export: its batch resolves as failed.
  auto until = Clock::now() + std::chrono::seconds(5);
  while (stats()[OTEL_STAT_IN_FLIGHT] != 0 && Clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto s = stats();
  EXPECT_EQ(s[OTEL_STAT_ACCEPTED], 6u);
  EXPECT_EQ(s[OTEL_STAT_IN_FLIGHT], 0u);
  EXPECT_EQ(s[OTEL_STAT_EXPORTED], 0u);
  // The stuck batch (5) fails; the record queued behind it either fails too (the cancelled
  // worker took it before the queue closed) or is dropped at shutdown: either way exactly once.
  // The record emitted after shutdown is always dropped_shutdown.
  EXPECT_GE(s[OTEL_STAT_FAILED], 5u);
  EXPECT_EQ(s[OTEL_STAT_FAILED] + s[OTEL_STAT_DROPPED_SHUTDOWN], 5u + 1u + 1u);
  EXPECT_EQ(s[OTEL_STAT_ACCEPTED], s[OTEL_STAT_FAILED] + s[OTEL_STAT_DROPPED_SHUTDOWN] - 1u)
      << "accepted = failed + dropped at shutdown (all but the late emit)";
}

TEST_F(EngineFixture, ExactAccountingUnderManyThreads) {
  start({{"OTEL_BLRP_MAX_QUEUE_SIZE", "1000"},
         {"OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "100"},
         {"OTEL_BLRP_SCHEDULE_DELAY", "5"}});
  constexpr int kThreads = 8, kPer = 5000;
  std::atomic<uint64_t> ok{0}, full{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++)
    ts.emplace_back([&] {
      for (int i = 0; i < kPer; i++) {
        int32_t st = emit("x");
        (st == OTEL_OK ? ok : full)++;
      }
    });
  for (auto &t : ts) t.join();
  ASSERT_EQ(e->flush(10000), OTEL_OK);
  auto s = stats();
  EXPECT_EQ(ok + full, uint64_t(kThreads) * kPer);
  EXPECT_EQ(s[OTEL_STAT_ACCEPTED], ok.load());
  EXPECT_EQ(s[OTEL_STAT_DROPPED_QUEUE_FULL], full.load());
  EXPECT_EQ(s[OTEL_STAT_EXPORTED], ok.load());
  EXPECT_EQ(sink.total_items(), ok.load());
  EXPECT_EQ(s[OTEL_STAT_QUEUED] + s[OTEL_STAT_IN_FLIGHT], 0u);
}

TEST_F(EngineFixture, FailedAndRejectedExportsAreCounted) {
  start({{"OTEL_BLRP_SCHEDULE_DELAY", "5"}});
  sink.fail = true;
  for (int i = 0; i < 3; i++) emit("f");
  ASSERT_EQ(e->flush(5000), OTEL_OK);
  sink.fail = false;
  sink.rejected = 1;
  for (int i = 0; i < 4; i++) emit("p");
  ASSERT_EQ(e->flush(5000), OTEL_OK);
  auto s = stats();
  EXPECT_EQ(s[OTEL_STAT_FAILED], 3u);
  EXPECT_EQ(s[OTEL_STAT_REJECTED], 1u);
  EXPECT_EQ(s[OTEL_STAT_EXPORTED], 3u);
}

TEST_F(EngineFixture, DoubleShutdownAndFlushAfterShutdown) {
  start({});
  emit("one");
  EXPECT_EQ(e->shutdown(5000), OTEL_OK);
  EXPECT_EQ(sink.total_items(), 1u);
  EXPECT_EQ(e->shutdown(5000), OTEL_E_SHUTDOWN);
  EXPECT_EQ(e->flush(100), OTEL_E_SHUTDOWN);
}

TEST(Engine, DisabledEngineIsANoOp) {
  Sink sink;
  otb::Engine *e = make_engine(&sink, {{"OTEL_SDK_DISABLED", "true"}});
  ASSERT_NE(e, nullptr);
  otb::Scope *scope = nullptr;
  ASSERT_EQ(e->scope_get(S("s"), S(""), S(""), nullptr, 0, &scope), OTEL_OK);
  otb::LogRecordArgs a{0, 0, 9, S("INFO"), nullptr, nullptr, 0, S(""), nullptr};
  EXPECT_EQ(e->emit_log(scope, a), OTEL_OK);
  EXPECT_EQ(e->flush(100), OTEL_OK);
  EXPECT_EQ(e->shutdown(100), OTEL_OK);
  EXPECT_EQ(sink.total_items(), 0u);
  otb::Engine::destroy(e);
}

TEST(Engine, FileExporterToAFifoNobodyReadsTimesOutOnShutdown) {
  // The real file exporter, blocked by a real pipe whose reader never reads.
  char dir[] = "/tmp/otbfifoXXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/fifo";
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  int rd = open(path.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(rd, 0);
  otb::CodeConfig c;
  std::string err;
  for (auto kv :
       std::vector<std::pair<std::string, std::string>>{{"OTEL_LOGS_EXPORTER", "file"},
                                                        {"OTELBRIDGE_FILE_PATH", path},
                                                        {"OTELBRIDGE_FILE_FORMAT", "proto"},
                                                        {"OTEL_BLRP_SCHEDULE_DELAY", "5"}})
    ASSERT_EQ(otb::config_set(c, kv.first, kv.second, &err), OTEL_OK) << err;
  otb::Engine *e = nullptr;
  ASSERT_EQ(otb::Engine::create(&c, false, &e, &err), OTEL_OK) << err;
  otb::Scope *scope;
  ASSERT_EQ(e->scope_get(S("fifo"), S(""), S(""), nullptr, 0, &scope), OTEL_OK);
  std::string big(32 << 10, 'z');  // 4 x 32 KiB overflows the 64 KiB pipe buffer
  otel_value v = otel_value_str(S(big));
  otb::LogRecordArgs a{0, 0, 9, S("INFO"), &v, nullptr, 0, S(""), nullptr};
  for (int i = 0; i < 4; i++) ASSERT_EQ(e->emit_log(scope, a), OTEL_OK);
  auto t0 = Clock::now();
  EXPECT_EQ(e->shutdown(300), OTEL_E_TIMEOUT);
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count(), 2000);
  // Closing the read end fails the blocked write with EPIPE (never SIGPIPE: the worker blocks
  // signals); the worker then exits and the engine can be freed.
  close(rd);
  EXPECT_TRUE(otb::Engine::destroy(e));
  unlink(path.c_str());
  rmdir(dir);
}
