#include "test_helpers.h"

#include <thread>

namespace otbtest {

Sink *g_sink = nullptr;

namespace {
class SinkExporter final : public Exporter {
 public:
  explicit SinkExporter(Sink *s) : s_(s) {}
  ExportResult export_request(Signal signal, const uint8_t *req, size_t len, size_t items,
                              uint64_t) override {
    std::unique_lock<std::mutex> lk(s_->mu);
    s_->cv.wait(lk, [&] { return !s_->blocked || cancelled_; });
    int d = s_->delay_ms.load();
    if (d) {
      lk.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(d));
      lk.lock();
    }
    s_->requests.emplace_back(reinterpret_cast<const char *>(req), len);
    s_->batch_items.push_back(items);
    s_->signals.push_back(signal);
    return ExportResult{!s_->fail && !cancelled_, s_->rejected};
  }
  void cancel() override {
    std::lock_guard<std::mutex> lk(s_->mu);
    cancelled_ = true;
    s_->cv.notify_all();
  }

 private:
  Sink *s_;
  bool cancelled_ = false;
};
}  // namespace

std::unique_ptr<Exporter> sink_exporter(Signal) {
  return std::make_unique<SinkExporter>(g_sink);
}

otb::Engine *make_engine(Sink *sink, const std::vector<std::pair<std::string, std::string>> &kv) {
  g_sink = sink;
  otb::CodeConfig c;
  std::string err;
  c.values["OTEL_LOGS_EXPORTER"] = "console";  // replaced by the sink below
  for (auto &p : kv)
    if (otb::config_set(c, p.first, p.second, &err) != OTEL_OK) return nullptr;
  otb::Engine *e = nullptr;
  if (otb::Engine::create(&c, false, &e, &err, sink ? &sink_exporter : nullptr) != OTEL_OK)
    return nullptr;
  return e;
}

std::vector<PbField> pb_fields(const std::string &msg) {
  std::vector<PbField> out;
  const uint8_t *p = reinterpret_cast<const uint8_t *>(msg.data()), *end = p + msg.size();
  auto varint = [&](uint64_t *v) {
    uint64_t r = 0;
    for (int s = 0; s < 64 && p < end; s += 7) {
      uint8_t b = *p++;
      r |= uint64_t(b & 0x7f) << s;
      if (!(b & 0x80)) {
        *v = r;
        return true;
      }
    }
    return false;
  };
  while (p < end) {
    uint64_t key;
    if (!varint(&key)) break;
    PbField f{static_cast<uint32_t>(key >> 3), static_cast<uint8_t>(key & 7), 0, {}};
    if (f.wt == 0) {
      varint(&f.u);
    } else if (f.wt == 1) {
      memcpy(&f.u, p, 8);
      p += 8;
    } else if (f.wt == 5) {
      uint32_t v;
      memcpy(&v, p, 4);
      f.u = v;
      p += 4;
    } else if (f.wt == 2) {
      uint64_t len = 0;
      varint(&len);
      f.bytes.assign(reinterpret_cast<const char *>(p), len);
      p += len;
    } else {
      break;
    }
    out.push_back(f);
  }
  return out;
}

std::vector<std::string> pb_all(const std::string &msg, uint32_t field) {
  std::vector<std::string> out;
  for (auto &f : pb_fields(msg))
    if (f.num == field && f.wt == 2) out.push_back(f.bytes);
  return out;
}

std::string pb_one(const std::string &msg, uint32_t field) {
  auto all = pb_all(msg, field);
  return all.empty() ? std::string() : all.back();
}

std::vector<std::string> log_records(const std::string &request) {
  std::vector<std::string> out;
  for (auto &rl : pb_all(request, 1))
    for (auto &sl : pb_all(rl, 2))
      for (auto &r : pb_all(sl, 2)) out.push_back(r);
  return out;
}

std::vector<std::string> spans_in(const std::string &request) {
  return log_records(request);
}

std::string body_string(const std::string &record) {
  return pb_one(pb_one(record, 5), 1);
}

otel_str S(const std::string &s) {
  return otel_str{s.data(), s.size()};
}
otel_str S(const char *s) {
  return otel_cstr(s);
}

}  // namespace otbtest
