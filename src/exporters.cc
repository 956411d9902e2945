#include "exporters.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "diag.h"
#include "json.h"
#include "otlp.h"

namespace otb {
namespace {

// Writes all of iov to fd, retrying short writes and EINTR. False (errno set) on failure.
bool write_all(int fd, struct iovec *iov, int n) {
  while (n > 0) {
    ssize_t w = writev(fd, iov, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    size_t left = static_cast<size_t>(w);
    while (n > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      iov++;
      n--;
    }
    if (n > 0) {
      iov->iov_base = static_cast<char *>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return true;
}

// Writes to a file descriptor: one write per request, so lines from several processes appending
// to the same file (a forked server) never interleave within a request.
class FdSink {
 public:
  explicit FdSink(int fd, bool owned) : fd_(fd), owned_(owned) {}
  ~FdSink() {
    if (owned_ && fd_ >= 0) close(fd_);
  }
  bool write(const void *a, size_t an, const void *b, size_t bn) {
    if (cancelled_.load(std::memory_order_relaxed)) return false;
    struct iovec iov[2] = {{const_cast<void *>(a), an}, {const_cast<void *>(b), bn}};
    if (write_all(fd_, iov, bn ? 2 : 1)) return true;
    diag(OTEL_DIAG_WARN, "export write failed: %s", strerror(errno));
    return false;
  }
  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  void abandon() {
    if (owned_ && fd_ >= 0) close(fd_);
    fd_ = -1;
    owned_ = false;
  }

 private:
  int fd_;
  bool owned_;
  std::atomic<bool> cancelled_{false};
};

class ConsoleExporter final : public Exporter {
 public:
  ConsoleExporter() : sink_(1, false) {}
  ExportResult export_request(Signal signal, const uint8_t *req, size_t len, size_t,
                              uint64_t) override {
    text_.clear();
    if (!request_to_console(signal, req, len, &text_)) {
      diag(OTEL_DIAG_ERROR, "console exporter: could not read a %s request", signal_name(signal));
      return {};
    }
    return ExportResult{sink_.write(text_.data(), text_.size(), nullptr, 0), 0};
  }
  void cancel() override { sink_.cancel(); }

 private:
  FdSink sink_;
  std::string text_;
};

// The Collector file exporter's formats: OTLP/JSON, one request per line; or protobuf, each
// request preceded by its length as a 4-byte big-endian integer.
class FileExporter final : public Exporter {
 public:
  FileExporter(int fd, bool owned, FileFormat fmt) : sink_(fd, owned), fmt_(fmt) {}
  ExportResult export_request(Signal signal, const uint8_t *req, size_t len, size_t,
                              uint64_t) override {
    if (fmt_ == FileFormat::kProto) {
      uint8_t hdr[4] = {static_cast<uint8_t>(len >> 24), static_cast<uint8_t>(len >> 16),
                        static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)};
      return ExportResult{sink_.write(hdr, 4, req, len), 0};
    }
    text_.clear();
    if (!request_to_json(signal, req, len, &text_)) {
      diag(OTEL_DIAG_ERROR, "file exporter: could not read a %s request", signal_name(signal));
      return {};
    }
    text_.push_back('\n');
    return ExportResult{sink_.write(text_.data(), text_.size(), nullptr, 0), 0};
  }
  void cancel() override { sink_.cancel(); }
  void abandon_after_fork() override { sink_.abandon(); }

 private:
  FdSink sink_;
  FileFormat fmt_;
  std::string text_;
};

}  // namespace

std::unique_ptr<Exporter> make_exporter(Signal signal, const std::string &name, const Settings &s,
                                        std::string *err) {
  if (name == "none") return nullptr;
  if (name == "console") return std::make_unique<ConsoleExporter>();
  if (name == "otlp") {
    OtlpSignalConfig c;
    if (!resolve_otlp(s, signal, &c, err)) return nullptr;
    return make_otlp_exporter(c, err);
  }
  if (name == "file") {
    if (s.file_path == "-") return std::make_unique<FileExporter>(1, false, s.file_format);
    int fd = open(s.file_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      *err = "cannot open OTELBRIDGE_FILE_PATH '" + s.file_path + "': " + strerror(errno);
      return nullptr;
    }
    return std::make_unique<FileExporter>(fd, true, s.file_format);
  }
  *err = "unknown exporter '" + name + "'";
  return nullptr;
}

}  // namespace otb
