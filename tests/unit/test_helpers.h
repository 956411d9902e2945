// Helpers shared by the C++ tests: exporters that capture, slow down or block, and a small
// protobuf reader to look inside what was exported.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine.h"
#include "exporters.h"

namespace otbtest {

using otb::Exporter;
using otb::ExportResult;
using otb::Signal;

// Records every request it is given. Optionally sleeps, or blocks until released.
struct Sink {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> requests;
  std::vector<size_t> batch_items;
  std::vector<Signal> signals;  // of each request
  std::atomic<int> delay_ms{0};
  bool blocked = false;
  bool fail = false;
  uint64_t rejected = 0;
  void release() {
    std::lock_guard<std::mutex> lk(mu);
    blocked = false;
    cv.notify_all();
  }
  size_t total_items() {
    std::lock_guard<std::mutex> lk(mu);
    size_t n = 0;
    for (size_t b : batch_items) n += b;
    return n;
  }
};

// The engine's exporter factory takes a plain function; tests set the sink it binds to.
extern Sink *g_sink;
std::unique_ptr<Exporter> sink_exporter(Signal);

// An engine whose logs go to g_sink. Keys are spec/otelbridge configuration keys.
otb::Engine *make_engine(Sink *sink, const std::vector<std::pair<std::string, std::string>> &kv);

// ---- reading our bytes back ----
struct PbField {
  uint32_t num;
  uint8_t wt;
  uint64_t u;
  std::string bytes;
};
std::vector<PbField> pb_fields(const std::string &msg);
std::vector<std::string> pb_all(const std::string &msg, uint32_t field);  // length-delimited
std::string pb_one(const std::string &msg, uint32_t field);               // last, or ""
// The LogRecord messages inside an ExportLogsServiceRequest, in order.
std::vector<std::string> log_records(const std::string &request);
// The Span messages inside an ExportTraceServiceRequest, in order.
std::vector<std::string> spans_in(const std::string &request);
// The string body of a LogRecord ("" if none or not a string).
std::string body_string(const std::string &record);

otel_str S(const std::string &s);
otel_str S(const char *s);

}  // namespace otbtest
