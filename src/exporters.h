// Exporters: where framed Export*ServiceRequests go. The worker thread is the only caller of
// export_request(); cancel() may come from any thread (shutdown) and must unblock an export.
#pragma once

#include <memory>
#include <string>

#include "common.h"
#include "config.h"

namespace otb {

struct ExportResult {
  bool ok = false;
  uint64_t rejected = 0;  // items the receiver refused in a partial success
};

class Exporter {
 public:
  virtual ~Exporter() = default;
  // Delivers one request of `items` records. Called on the worker thread only.
  virtual ExportResult export_request(Signal signal, const uint8_t *req, size_t len, size_t items,
                                      uint64_t deadline_mono_ns) = 0;
  // Unblocks an export in progress and makes later ones fail fast. Any thread.
  virtual void cancel() {}
  // In a forked child: release what belongs to the parent (fds, connections) without locking.
  virtual void abandon_after_fork() {}
};

// Creates the exporter named in settings for `signal`, or nullptr for "none". On a
// configuration error returns nullptr and sets *err.
std::unique_ptr<Exporter> make_exporter(Signal signal, const std::string &name, const Settings &s,
                                        std::string *err);

}  // namespace otb
