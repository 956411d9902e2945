#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "pipeline.h"
#include "test_helpers.h"

using otb::Batch;
using otb::FullPolicy;
using otb::Pipeline;
using otb::PipelineSettings;
using otb::Signal;
using namespace otbtest;

namespace {
PipelineSettings settings(uint32_t records, uint64_t bytes,
                          FullPolicy p = FullPolicy::kDropNewest) {
  PipelineSettings s;
  s.max_queue_size = records;
  s.max_export_batch_size = std::min<uint32_t>(records, 4);
  s.max_queue_bytes = bytes;
  s.full_policy = p;
  return s;
}
int32_t push(Pipeline &p, const std::string &rec, uint32_t scope = 0) {
  bool wake;
  return p.push(scope, reinterpret_cast<const uint8_t *>(rec.data()), rec.size(), &wake);
}
std::vector<std::string> take_all(Pipeline &p) {
  Batch b;
  p.take(b, SIZE_MAX);
  std::vector<std::string> out;
  for (auto &e : b.entries)
    out.emplace_back(reinterpret_cast<const char *>(b.bytes.data()) + e.off, e.len);
  return out;
}
uint64_t stat(Pipeline &p, int i) {
  uint64_t s[OTEL_STAT_COUNT];
  p.read_stats(s, OTEL_STAT_COUNT);
  return s[i];
}
}  // namespace

TEST(Pipeline, RecordCapDropsNewestByDefault) {
  Pipeline p(Signal::kLogs, settings(3, 1 << 20));
  for (int i = 0; i < 5; i++)
    EXPECT_EQ(push(p, "r" + std::to_string(i)), i < 3 ? OTEL_OK : OTEL_E_QUEUE_FULL);
  EXPECT_EQ(stat(p, OTEL_STAT_DROPPED_QUEUE_FULL), 2u);
  EXPECT_EQ(stat(p, OTEL_STAT_QUEUED), 3u);
  EXPECT_EQ(take_all(p), (std::vector<std::string>{"r0", "r1", "r2"}));
}

TEST(Pipeline, DropOldestPolicyEvictsTheOldest) {
  Pipeline p(Signal::kLogs, settings(3, 1 << 20, FullPolicy::kDropOldest));
  for (int i = 0; i < 5; i++) EXPECT_EQ(push(p, "r" + std::to_string(i)), OTEL_OK);
  EXPECT_EQ(stat(p, OTEL_STAT_DROPPED_OLDEST), 2u);
  EXPECT_EQ(stat(p, OTEL_STAT_ACCEPTED), 5u);
  EXPECT_EQ(take_all(p), (std::vector<std::string>{"r2", "r3", "r4"}));
}

TEST(Pipeline, ByteCapBoundsMemoryWhateverTheRecordCount) {
  // A 1 MB body must not let the queue grow without limit: 4 MiB of bytes, 10000 records.
  Pipeline p(Signal::kLogs, settings(10000, 4u << 20));
  std::string mb(1u << 20, 'x');
  int ok = 0;
  for (int i = 0; i < 10; i++) ok += push(p, mb) == OTEL_OK;
  EXPECT_EQ(ok, 3) << "three 1 MiB records (plus headers) fit in 4 MiB";
  EXPECT_EQ(stat(p, OTEL_STAT_DROPPED_QUEUE_FULL), 7u);
  EXPECT_LE(stat(p, OTEL_STAT_QUEUED_BYTES), 4u << 20);
  std::string huge((4u << 20) + 1, 'y');
  EXPECT_EQ(push(p, huge), OTEL_E_TOO_LARGE);
  EXPECT_EQ(stat(p, OTEL_STAT_DROPPED_TOO_LARGE), 1u);
}

TEST(Pipeline, RingWrapsAndGrowsWithoutCorruptingRecords) {
  // Random sizes, interleaved push/take, so records straddle the end of the ring and the ring
  // grows while wrapped. Every record must come back intact and in order.
  Pipeline p(Signal::kLogs, settings(100000, 8u << 20));
  std::mt19937 rng(42);
  uint64_t next_push = 0, next_take = 0;
  for (int round = 0; round < 200; round++) {
    int n = static_cast<int>(rng() % 300);
    for (int i = 0; i < n; i++) {
      std::string rec =
          std::to_string(next_push) + ":" + std::string(rng() % 3000, char('a' + next_push % 26));
      ASSERT_EQ(push(p, rec, static_cast<uint32_t>(next_push % 7)), OTEL_OK);
      next_push++;
    }
    Batch b;
    p.take(b, rng() % 400);
    for (auto &e : b.entries) {
      std::string rec(reinterpret_cast<const char *>(b.bytes.data()) + e.off, e.len);
      size_t colon = rec.find(':');
      ASSERT_EQ(std::stoull(rec.substr(0, colon)), next_take);
      ASSERT_EQ(e.scope, next_take % 7);
      for (size_t k = colon + 1; k < rec.size(); k++) ASSERT_EQ(rec[k], char('a' + next_take % 26));
      next_take++;
    }
  }
  EXPECT_EQ(stat(p, OTEL_STAT_QUEUED), next_push - next_take);
}

TEST(Pipeline, CloseCountsWhatWasQueuedAndRefusesMore) {
  Pipeline p(Signal::kLogs, settings(10, 1 << 20));
  push(p, "a");
  push(p, "b");
  p.close();
  EXPECT_EQ(stat(p, OTEL_STAT_DROPPED_SHUTDOWN), 2u);
  EXPECT_EQ(push(p, "c"), OTEL_E_SHUTDOWN);
  EXPECT_EQ(stat(p, OTEL_STAT_DROPPED_SHUTDOWN), 3u);
  EXPECT_EQ(stat(p, OTEL_STAT_QUEUED), 0u);
}

TEST(Pipeline, FramingGroupsByScopeAndSplitsNothingSmall) {
  Pipeline p(Signal::kLogs, settings(100, 1 << 20));
  push(p, "A1", 1);
  push(p, "B1", 0);
  push(p, "A2", 1);
  Batch b;
  p.take(b, 10);
  otb::sort_by_scope(b);
  std::string s0 = "\x0a\x02s0", s1 = "\x0a\x02s1", url = "", url1 = "https://schema/1";
  std::vector<otb::ScopeBytes> scopes = {{&s0, &url}, {&s1, &url1}};
  otb::Buf res, out;
  EXPECT_EQ(otb::request_prefix(b, 0, res.size(), scopes), 3u);
  otb::frame_request(out, res, b, 0, 3, scopes);
  std::string req(reinterpret_cast<const char *>(out.data()), out.size());
  auto rls = pb_all(req, 1);
  ASSERT_EQ(rls.size(), 1u);
  auto sls = pb_all(rls[0], 2);
  ASSERT_EQ(sls.size(), 2u);
  EXPECT_EQ(pb_one(sls[0], 1), s0);
  EXPECT_EQ(pb_all(sls[0], 2), (std::vector<std::string>{"B1"}));
  EXPECT_EQ(pb_one(sls[1], 1), s1);
  EXPECT_EQ(pb_all(sls[1], 2), (std::vector<std::string>{"A1", "A2"}))
      << "emit order kept within a scope";
  EXPECT_EQ(pb_one(sls[1], 3), url1);
}

TEST(Pipeline, ConcurrentProducersWhileTheRingGrowsUnderAnUnlockedCopy) {
  // take() copies without the lock; a producer may grow (replace) the ring meanwhile. Records
  // of up to 40 KB from 3 producers, a consumer taking concurrently: every record must come back
  // intact, and the counts must add up.
  Pipeline p(Signal::kLogs, settings(1000000, 4u << 20));  // small: wraps and fills often
  std::atomic<bool> done{false};
  std::atomic<uint64_t> pushed{0};
  std::vector<std::thread> producers;
  for (int t = 0; t < 3; t++)
    producers.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 3000; i++) {
        size_t len = 8 + rng() % 40000;
        std::string rec(len, char('a' + (t * 7 + i) % 26));
        memcpy(&rec[0], &t, sizeof t);
        memcpy(&rec[4], &i, sizeof i);
        bool wake;
        int32_t st;
        while ((st = p.push(static_cast<uint32_t>(t), reinterpret_cast<const uint8_t *>(rec.data()),
                            rec.size(), &wake)) == OTEL_E_QUEUE_FULL)
          std::this_thread::yield();  // full (or full while a batch is mid-copy): try again
        ASSERT_EQ(st, OTEL_OK);
        pushed++;
      }
    });
  uint64_t taken = 0;
  std::thread consumer([&] {
    Batch b;
    while (!done.load() || p.queued() > 0) {
      b.clear();
      p.take(b, 64);
      for (auto &e : b.entries) {
        const char *r = reinterpret_cast<const char *>(b.bytes.data()) + e.off;
        int t, i;
        memcpy(&t, r, sizeof t);
        memcpy(&i, r + 4, sizeof i);
        ASSERT_EQ(e.scope, static_cast<uint32_t>(t));
        char want = char('a' + (t * 7 + i) % 26);
        for (size_t k = 8; k < e.len; k++) ASSERT_EQ(r[k], want) << "record " << t << "/" << i;
        taken++;
      }
    }
  });
  for (auto &th : producers) th.join();
  done = true;
  consumer.join();
  EXPECT_EQ(pushed.load(), 9000u);
  EXPECT_EQ(taken, pushed.load());
}
