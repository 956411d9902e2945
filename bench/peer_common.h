// peer_common.h — the thread harness of the opentelemetry-cpp peer programs whose measured loop is
// one call per "record" (peer_otelcpp_logs.cc, peer_otelcpp_spans.cc): the same warm-up / flush /
// measure sequence as bench_run_threads() in bench_common.h, for a C++ callable instead of an
// otel_scope. (peer_otelcpp_metrics.cc has its own: it reads the SDK between the phases.)
#ifndef OTELBRIDGE_BENCH_PEER_COMMON_H
#define OTELBRIDGE_BENCH_PEER_COMMON_H

#include <pthread.h>

#include <cstdint>
#include <cstdio>
#include <vector>

#include "alloc_count.h"
#include "bench_common.h"

namespace peer {

template <class One>
struct Shared {
  const bench_opts *opts;
  const One *one;
  pthread_barrier_t warm_done;  // threads finished warm-up (main then flushes)
  pthread_barrier_t go;         // main flushed: start the measured loop
};

template <class One>
struct ThreadArg {
  Shared<One> *shared;
  bench_thread_result *result;
};

// One thread: o.warmup calls of one(), then (after main's flush) o.records timed calls.
template <class One>
void *thread_main(void *p) {
  auto *a = static_cast<ThreadArg<One> *>(p);
  const bench_opts &o = *a->shared->opts;
  const One &one = *a->shared->one;
  for (uint64_t i = 0; i < o.warmup; ++i) one();
  pthread_barrier_wait(&a->shared->warm_done);
  pthread_barrier_wait(&a->shared->go);
  const uint64_t a0 = otb_thread_allocs();
  const uint64_t c0 = bench_thread_cpu_ns();
  const uint64_t t0 = bench_now_ns();
  for (uint64_t i = 0; i < o.records; ++i) one();
  const uint64_t t1 = bench_now_ns();
  const uint64_t c1 = bench_thread_cpu_ns();
  const uint64_t a1 = otb_thread_allocs();
  a->result->ns = t1 - t0;
  a->result->cpu_ns = c1 - c0;
  a->result->allocs = a1 - a0;
  a->result->failed = 0;  // the API returns nothing: failures are only visible as drops
  return nullptr;
}

// Runs o.threads threads calling one() (warm-up, then the measured loop), calls flush() once all
// have warmed up (the measured phase starts from an empty queue), samples the process CPU into
// *p0, releases the threads and joins them. results must hold o.threads entries. After the join:
// flush() again and the process CPU into *p1. Returns 0, or 1 when a thread could not start.
template <class One, class Flush>
int run_threads(const bench_opts &o, const One &one, Flush flush,
                std::vector<bench_thread_result> &results, uint64_t *p0, uint64_t *p1) {
  Shared<One> shared;
  shared.opts = &o;
  shared.one = &one;
  pthread_barrier_init(&shared.warm_done, nullptr, static_cast<unsigned>(o.threads) + 1);
  pthread_barrier_init(&shared.go, nullptr, static_cast<unsigned>(o.threads) + 1);
  results.assign(static_cast<size_t>(o.threads), bench_thread_result{});
  std::vector<ThreadArg<One>> args(static_cast<size_t>(o.threads));
  std::vector<pthread_t> tids(static_cast<size_t>(o.threads));
  for (int t = 0; t < o.threads; ++t) {
    args[t] = ThreadArg<One>{&shared, &results[t]};
    if (pthread_create(&tids[t], nullptr, thread_main<One>, &args[t]) != 0) {
      std::fprintf(stderr, "pthread_create failed\n");
      return 1;
    }
  }
  pthread_barrier_wait(&shared.warm_done);
  flush();  // measured phase starts from an empty queue
  *p0 = bench_process_cpu_ns();
  pthread_barrier_wait(&shared.go);
  for (int t = 0; t < o.threads; ++t) pthread_join(tids[t], nullptr);

  flush();
  *p1 = bench_process_cpu_ns();
  pthread_barrier_destroy(&shared.warm_done);
  pthread_barrier_destroy(&shared.go);
  return 0;
}

}  // namespace peer

#endif  // OTELBRIDGE_BENCH_PEER_COMMON_H
